// The policy stage's operations over a store (what the API routes and the CLI call): the
// recommendation of a baseline, its findings, the blast radius, a policy's audit simulation over a
// window and its exports. Each reads what it needs (baseline record and graph, intents, policies,
// inventory) and hands plain values to the pure functions of this folder.
import { FlowmapError } from '../../core/errors.js';
import { parsePrefix, type Prefix } from '../../core/ip.js';
import { loadInventory } from '../../inventory/index.js';
import type { Store } from '../../store/index.js';
import { baselineId, buildBaseline, checkParams, diffBaselines, getGraph, getRecord, listRecords, requireGraph, requireRecord, type BaselineRecord, type BaselineSettings, type SerializedBaselineGraph } from '../baseline/index.js';
import { blastRadius, type BlastRadius } from './blast.js';
import { exportInput } from './context.js';
import { renderExport } from './export/index.js';
import { computeFindings } from './findings.js';
import { listIntents } from './intents.js';
import { recommend, type Analysis } from './recommend.js';
import { listPolicies, requirePolicy } from './repository.js';
import { selectorKey, selectorOfNode, type Externals } from './selectors.js';
import { simulate, type SimulationResult } from './simulate.js';
import type { Exported, ExportFormat, Finding, Policy, Recommendation, RecommendParameters } from './types.js';

const HOUR = 3600;
/** The longest window a simulation replays. */
export const MAX_SIMULATION_DAYS = 92;

export function externalsOf(settings: BaselineSettings): Externals {
  return new Map((settings.resolver.externals ?? []).map((e): [string, Prefix] => [e.name, typeof e.prefix === 'string' ? parsePrefix(e.prefix) : e.prefix]));
}

interface Loaded {
  record: BaselineRecord;
  graph: SerializedBaselineGraph;
}

async function loadBaseline(store: Store, id: string): Promise<Loaded> {
  const record = await requireRecord(store.meta, id);
  return { record, graph: await requireGraph(store.meta, record) };
}

export async function recommendationFor(store: Store, settings: BaselineSettings, baselineId: string, parameters?: Partial<RecommendParameters>): Promise<{ recommendation: Recommendation; analysis: Analysis; graph: SerializedBaselineGraph; record: BaselineRecord }> {
  const { record, graph } = await loadBaseline(store, baselineId);
  const intents = await listIntents(store.meta);
  const { recommendation, analysis } = recommend(record, graph, intents, { ...(parameters === undefined ? {} : { parameters }), externals: externalsOf(settings) });
  return { recommendation, analysis, graph, record };
}

/** The newest completed baseline before this one at the same granularity (for drift). */
export async function previousOf(store: Store, record: BaselineRecord): Promise<BaselineRecord | undefined> {
  const same = (await listRecords(store.meta, { status: 'completed' })).filter((r) => r.id !== record.id && r.params.to < record.params.to && r.params.groupBy.join(',') === record.params.groupBy.join(','));
  same.sort((a, b) => b.params.to - a.params.to);
  return same[0];
}

export async function findingsFor(store: Store, settings: BaselineSettings, baselineId: string | undefined, options: { unusedDays?: number; now?: Date } = {}): Promise<{ baseline?: string; findings: Finding[] }> {
  const policies = await listPolicies(store.meta);
  if (baselineId === undefined) return { findings: computeFindings({ policies, ...options }) };
  const { analysis, graph, record } = await recommendationFor(store, settings, baselineId);
  const previousRecord = await previousOf(store, record);
  let previous: Parameters<typeof computeFindings>[0]['previous'];
  if (previousRecord !== undefined) {
    const previousGraph = await requireGraph(store.meta, previousRecord);
    previous = { id: previousRecord.id, graph: previousGraph, diff: diffBaselines(previousGraph, graph) };
  }
  const findings = computeFindings({
    baseline: { id: record.id, window: { from: record.params.from, to: record.params.to }, graph, analysis },
    ...(previous === undefined ? {} : { previous }),
    policies,
    externals: externalsOf(settings),
    ...options,
  });
  // A scan's group is the scanner's whole subnet; name the address itself from the host pairs.
  for (const f of findings) {
    if (f.category !== 'scanner' || f.kind !== 'undocumented') continue;
    const scan = analysis.observation.scans.find((s) => selectorKey(selectorOfNode(s.from)) === selectorKey(f.from));
    const edge = scan?.edges[0];
    if (edge === undefined) continue;
    const hosts = await store.baselineHosts(record.id, edge.id, { limit: 10 });
    const sources = [...new Set(hosts.map((h) => h.client))];
    if (sources.length === 1) {
      const address = sources[0] as string;
      f.evidence.sources = sources;
      f.explanation = `${address} (in ${f.from.cidr ?? f.from.group ?? 'its group'}) ${f.explanation.slice(f.explanation.indexOf(' scanned ') + 1)}`;
      f.from = { cidr: `${address}/${address.includes(':') ? 128 : 32}` };
    }
  }
  return { baseline: record.id, findings };
}

export async function blastFor(store: Store, settings: BaselineSettings, baselineId: string, policyId?: string): Promise<BlastRadius & { baseline: string; policy?: { id: string; version: number } }> {
  const { record, graph } = await loadBaseline(store, baselineId);
  const policy = policyId === undefined ? undefined : await requirePolicy(store.meta, policyId);
  return { baseline: record.id, ...(policy === undefined ? {} : { policy: { id: policy.id, version: policy.version } }), ...blastRadius(graph, policy, { externals: externalsOf(settings) }) };
}

/**
 * Replays [from, to) against a policy: builds the window's graph at the policy's granularity (as a
 * baseline would, without storing it) and simulates; a window a completed baseline covers exactly
 * at that granularity is read from the baseline instead, unless `rebuild` (the inventory changed
 * since). Progress goes to `progress` (0–100).
 */
export async function simulatePolicy(store: Store, settings: BaselineSettings, policy: Policy, window: { from: number; to: number }, options: { now?: Date; progress?: (percent: number) => void; rebuild?: boolean } = {}): Promise<SimulationResult> {
  const from = Math.floor(window.from / HOUR) * HOUR;
  const to = Math.ceil(window.to / HOUR) * HOUR;
  if (to - from > MAX_SIMULATION_DAYS * 86_400) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `a simulation replays at most ${MAX_SIMULATION_DAYS} days (asked ${Math.round((to - from) / 86_400)})`, { status: 400 });
  const params = { from, to, groupBy: policy.groupBy };
  checkParams(params);
  const simulateOptions = { externals: externalsOf(settings), ...(options.now === undefined ? {} : { now: options.now }) };
  // A window a baseline already covers at this granularity is read from it: same flows, no rebuild.
  const stored = options.rebuild === true ? undefined : await getRecord(store.meta, baselineId(params));
  const storedGraph = stored?.status === 'completed' ? await getGraph(store.meta, stored.id) : undefined;
  if (stored !== undefined && storedGraph !== undefined) {
    options.progress?.(100);
    const result = await simulate(policy, storedGraph, params, (e) => store.baselineHosts(stored.id, e.id, { limit: 100_000 }), simulateOptions);
    return { ...result, source: { kind: 'baseline', baseline: stored.id } };
  }
  const { inventory, resolver } = await loadInventory(store, { ...settings.resolver, groupBy: policy.groupBy });
  const built = await buildBaseline(params, { store, inventory, resolver, ...(options.progress === undefined ? {} : { progress: (p) => options.progress?.(p.percent) }) });
  const hosts = new Map<string, typeof built.hosts>();
  for (const h of built.hosts) {
    const list = hosts.get(h.edge);
    if (list === undefined) hosts.set(h.edge, [h]);
    else list.push(h);
  }
  return { ...(await simulate(policy, built.graph, params, async (e) => hosts.get(e.id) ?? [], simulateOptions)), source: { kind: 'flows' } };
}

export async function exportPolicy(store: Store, settings: BaselineSettings, policy: Policy, format: ExportFormat, options: { now?: Date } = {}): Promise<Exported> {
  const { inventory, resolver } = await loadInventory(store, { ...settings.resolver, groupBy: policy.groupBy });
  const input = exportInput(policy, inventory, resolver, { externals: externalsOf(settings), ...(options.now === undefined ? {} : { now: options.now }) });
  return renderExport(format, input);
}
