// Validation of what callers pass to the store, shared so both adapters refuse the same inputs
// with the same FLOWMAP_BAD_REQUEST messages before any SQL is built.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../core/counters.js';
import { FlowmapError } from '../core/errors.js';
import { AGGREGATE_KEYS, DEFAULT_AGGREGATE_LIMIT, DEFAULT_READ_LIMIT, MAX_AGGREGATE_LIMIT, MAX_READ_LIMIT, type AggregateKey, type FlowAggregateQuery, type TimeRange } from './port.js';

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

/** In a /u regex, paired surrogates are one code point; only unpaired ones match. */
const LONE_SURROGATE = /\p{Surrogate}/u;

export function checkNamespaceKey(namespace: string, key?: string): void {
  // Lone UTF-16 surrogates have no UTF-8 form: one store would keep a replacement character and
  // the other refuse the literal, so neither accepts them.
  if (LONE_SURROGATE.test(namespace) || (key !== undefined && LONE_SURROGATE.test(key))) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'metadata namespace and key must be valid Unicode (no lone surrogates)', { status: 400 });
  }
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

export const DEFAULT_META_LIMIT = 10_000;
export const MAX_META_LIMIT = 100_000;

export function checkMetaLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_META_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_META_LIMIT) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${value} must be 1-${MAX_META_LIMIT}`, { status: 400, details: { limit: value } });
  }
  return value;
}

export function checkInterfaceCounters(rows: readonly InterfaceCounters[]): void {
  rows.forEach((row, i) => {
    const bad = (what: string): FlowmapError =>
      new FlowmapError('FLOWMAP_BATCH_INVALID', `interface counters refused: row ${i} ${what}`, { status: 400, details: { row: i } });
    if (!(row.exporter instanceof Uint8Array) || row.exporter.length !== 16) throw bad('exporter is not a 16-byte address');
    for (const name of ['time', 'observationDomain', 'ifIndex'] as const) {
      if (!Number.isInteger(row[name]) || row[name] < 0 || row[name] > 0xffffffff) throw bad(`${name} = ${row[name]} is not a 32-bit unsigned integer`);
    }
    for (const [name] of COUNTER_COLUMNS) {
      const value = row[name];
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw bad(`${name} = ${String(value)} is not a non-negative integer`);
    }
  });
}
