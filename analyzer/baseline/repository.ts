// Where baselines live: versioned snapshots in the store's metadata (DESIGN.md §5). A baseline's
// record (parameters, status, summary) and its graph are separate entries, so listing baselines
// never reads graphs; its host pairs sit in the store's baseline_hosts table.
//
// Ids are derived from the parameters — `bl-<end>-<days>d-<hash>` — so two requests for the same
// window and granularity name the same baseline and cannot build it twice; a forced rebuild adds a
// nonce to the hash.
import { createHash } from 'node:crypto';

import { FlowmapError } from '../../core/errors.js';
import type { JsonValue, MetaStore, Store } from '../../store/index.js';
import type { BaselineParams, BaselineRecord, SerializedBaselineGraph } from './types.js';

export const RECORDS = 'baselines';
export const GRAPHS = 'baseline-graphs';
const ID_PATTERN = /^bl-\d{8}T\d{4}-\d{1,3}d-[0-9a-f]{10}$/;

export function baselineId(params: BaselineParams, nonce?: string): string {
  const end = new Date(params.to * 1000).toISOString();
  const compact = `${end.slice(0, 4)}${end.slice(5, 7)}${end.slice(8, 10)}T${end.slice(11, 13)}${end.slice(14, 16)}`;
  const days = Math.ceil((params.to - params.from) / 86_400);
  const hash = createHash('sha1')
    .update(JSON.stringify([params.from, params.to, params.groupBy, nonce ?? '']))
    .digest('hex')
    .slice(0, 10);
  return `bl-${compact}-${days}d-${hash}`;
}

export function checkBaselineId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `"${id.slice(0, 80)}" is not a baseline id (they look like bl-20261102T0000-28d-0123456789)`, { status: 400, details: { id: id.slice(0, 80) } });
  }
}

export async function putRecord(meta: MetaStore, record: BaselineRecord): Promise<void> {
  await meta.put(RECORDS, record.id, record as unknown as JsonValue);
}

export async function getRecord(meta: MetaStore, id: string): Promise<BaselineRecord | undefined> {
  const entry = await meta.get(RECORDS, id);
  return entry === undefined ? undefined : (entry.value as unknown as BaselineRecord);
}

/** Newest first (by creation time, then id). */
export async function listRecords(meta: MetaStore, options: { limit?: number; status?: BaselineRecord['status'] } = {}): Promise<BaselineRecord[]> {
  const entries = await meta.list(RECORDS, { limit: 100_000 });
  let records = entries.map((e) => e.value as unknown as BaselineRecord);
  if (options.status !== undefined) records = records.filter((r) => r.status === options.status);
  records.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
  return options.limit === undefined ? records : records.slice(0, options.limit);
}

/** The newest completed baseline, or undefined. */
export async function latestCompleted(meta: MetaStore): Promise<BaselineRecord | undefined> {
  const records = await listRecords(meta, { status: 'completed' });
  // The newest window, then the newest build of it: a backfill of an old window is not `latest`.
  records.sort((a, b) => b.params.to - a.params.to || ((a.completedAt ?? '') < (b.completedAt ?? '') ? 1 : -1));
  return records[0];
}

export async function putGraph(meta: MetaStore, id: string, graph: SerializedBaselineGraph): Promise<void> {
  await meta.put(GRAPHS, id, graph as unknown as JsonValue);
}

export async function getGraph(meta: MetaStore, id: string): Promise<SerializedBaselineGraph | undefined> {
  const entry = await meta.get(GRAPHS, id);
  return entry === undefined ? undefined : (entry.value as unknown as SerializedBaselineGraph);
}

/** Deletes a baseline's record, graph and host pairs. */
export async function deleteBaseline(store: Store, id: string): Promise<boolean> {
  await store.dropBaselineHosts(id);
  await store.meta.delete(GRAPHS, id);
  return store.meta.delete(RECORDS, id);
}

/** Keeps the `keep` newest completed baselines; deletes older ones. Returns the ids deleted. */
export async function pruneBaselines(store: Store, keep: number): Promise<string[]> {
  const completed = await listRecords(store.meta, { status: 'completed' });
  const old = completed.slice(keep);
  for (const record of old) await deleteBaseline(store, record.id);
  return old.map((r) => r.id);
}

/** The record of `id`, or FLOWMAP_NOT_FOUND (404). `latest` names the newest completed one. */
export async function requireRecord(meta: MetaStore, id: string): Promise<BaselineRecord> {
  if (id === 'latest') {
    const latest = await latestCompleted(meta);
    if (latest === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', 'no baseline has completed yet; start one with `flowmap baseline` or POST /api/v1/baselines', { status: 404 });
    return latest;
  }
  checkBaselineId(id);
  const record = await getRecord(meta, id);
  if (record === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no baseline "${id}"`, { status: 404, details: { id } });
  return record;
}

/** The graph of a completed baseline, or a 404/409 that says why there is none. */
export async function requireGraph(meta: MetaStore, record: BaselineRecord): Promise<SerializedBaselineGraph> {
  if (record.status !== 'completed') {
    throw new FlowmapError('FLOWMAP_CONFLICT', `baseline ${record.id} is ${record.status}${record.error === undefined ? '' : `: ${record.error}`}; its graph exists once it has completed`, {
      status: 409,
      details: { id: record.id, status: record.status },
    });
  }
  const graph = await getGraph(meta, record.id);
  if (graph === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `the graph of baseline ${record.id} is missing from the store`, { status: 404, details: { id: record.id } });
  return graph;
}
