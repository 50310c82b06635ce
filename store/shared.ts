// Small pieces both adapters share: version numbers for metadata rows, aggregate query checks,
// and turning the hex of a 16-byte address column back into text.
import { FlowmapError } from '../core/errors.js';
import { FLOW_COLUMNS, createFlowBatch, enumIndex, type FlowBatch } from '../core/flow.js';
import { formatAddress } from '../core/ip.js';
import { AGGREGATE_KEYS, DEFAULT_AGGREGATE_LIMIT, DEFAULT_READ_LIMIT, MAX_AGGREGATE_LIMIT, MAX_READ_LIMIT, type AggregateKey, type FlowAggregateQuery, type TimeRange } from './port.js';

let lastVersion = 0;

/**
 * A metadata version: microseconds since the epoch, strictly increasing within this process.
 * Across processes the clock orders writes; equal stamps from two writers in the same microsecond
 * are not expected at metadata write rates.
 */
export function nextVersion(now = Date.now()): number {
  const candidate = now * 1000;
  lastVersion = candidate > lastVersion ? candidate : lastVersion + 1;
  return lastVersion;
}

export const ADDRESS_KEYS: ReadonlySet<AggregateKey> = new Set(['exporter', 'src_addr', 'dst_addr']);

export function checkRange(range: TimeRange): void {
  const ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!ok(range.from) || !ok(range.to) || range.from > range.to) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `time range [${range.from}, ${range.to}) must be whole Unix seconds with from <= to`, {
      status: 400,
      details: { from: range.from, to: range.to },
    });
  }
}

export function checkAggregateQuery(query: FlowAggregateQuery): { keys: AggregateKey[]; limit: number; orderBy: 'flows' | 'bytes' | 'packets' } {
  checkRange(query.range);
  const keys = [...new Set(query.groupBy)];
  for (const key of keys) {
    if (!(AGGREGATE_KEYS as readonly string[]).includes(key)) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `cannot group flows by '${String(key)}'; allowed: ${AGGREGATE_KEYS.join(', ')}`, { status: 400, details: { key } });
    }
  }
  const limit = query.limit ?? DEFAULT_AGGREGATE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AGGREGATE_LIMIT) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${limit} must be 1-${MAX_AGGREGATE_LIMIT}`, { status: 400, details: { limit } });
  }
  const orderBy = query.orderBy ?? 'bytes';
  if (!['flows', 'bytes', 'packets'].includes(orderBy)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `orderBy '${String(orderBy)}' must be flows, bytes or packets`, { status: 400, details: { orderBy } });
  }
  return { keys, limit, orderBy };
}

export function addressFromHex(hex: string): string {
  return formatAddress(Buffer.from(hex, 'hex'));
}

export function checkNamespaceKey(namespace: string, key?: string): void {
  if (namespace === '' || namespace.length > 200) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'metadata namespace must be 1-200 characters', { status: 400, details: { namespace } });
  }
  if (key !== undefined && (key === '' || key.length > 1000)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'metadata key must be 1-1000 characters', { status: 400, details: { key } });
  }
}

export function checkReadLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_READ_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_READ_LIMIT) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${value} must be 1-${MAX_READ_LIMIT}`, { status: 400, details: { limit: value } });
  }
  return value;
}

/** The order readFlows returns rows in, on raw columns (bytewise for addresses) in both stores. */
export const READ_ORDER = ['time_received', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'bytes', 'packets'] as const;

/**
 * Builds a batch from result rows whose column `c_<name>` holds: Unix seconds for datetimes, hex
 * for addresses, enum text, numbers (or numeric strings / bigints) and strings.
 */
export function batchFromRows(rows: readonly Record<string, unknown>[]): FlowBatch {
  const batch = createFlowBatch(rows.length);
  const columns = batch.columns as unknown as Record<string, { [i: number]: number | string } & { set?: (a: ArrayLike<number>, o: number) => void }>;
  rows.forEach((row, i) => {
    for (const spec of FLOW_COLUMNS) {
      const value = row[`c_${spec.name}`];
      const column = columns[spec.name];
      if (column === undefined) continue;
      switch (spec.kind) {
        case 'address':
          (column as unknown as Uint8Array).set(Buffer.from(String(value), 'hex'), i * 16);
          break;
        case 'enum':
          column[i] = enumIndex(spec.name, String(value));
          break;
        case 'string':
          column[i] = String(value);
          break;
        default:
          column[i] = Number(value);
      }
    }
  });
  batch.length = rows.length;
  return batch;
}
