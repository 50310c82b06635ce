// Validation of what callers pass to the store, shared so both adapters refuse the same inputs
// with the same FLOWMAP_BAD_REQUEST messages before any SQL is built.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../core/counters.js';
import { FlowmapError } from '../core/errors.js';
import { tryParseAddress, type Address } from '../core/ip.js';
import {
  AGGREGATE_KEYS,
  DEFAULT_AGGREGATE_LIMIT,
  DEFAULT_EVIDENCE_LIMIT,
  DEFAULT_READ_LIMIT,
  MAX_AGGREGATE_LIMIT,
  MAX_EVIDENCE_LIMIT,
  MAX_READ_LIMIT,
  ROLLUP_KEYS,
  type AggregateKey,
  type ExporterStatus,
  type FlowAggregateQuery,
  type ListenerEvidenceQuery,
  type RollupAggregateQuery,
  type RollupKey,
  type TimeRange,
} from './port.js';

export function checkRange(range: TimeRange): void {
  if (!isUint32(range.from) || !isUint32(range.to) || range.from > range.to) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `time range [${range.from}, ${range.to}) must be whole Unix seconds with from <= to`, {
      status: 400,
      details: { from: range.from, to: range.to },
    });
  }
}

export function checkAggregateQuery(query: FlowAggregateQuery): { keys: AggregateKey[]; limit: number; orderBy: Metric } {
  return checkGroupedQuery(query, AGGREGATE_KEYS, 'flows');
}

export function checkRollupQuery(query: RollupAggregateQuery): { keys: RollupKey[]; limit: number; orderBy: Metric } {
  return checkGroupedQuery(query, ROLLUP_KEYS, 'the hourly rollup');
}

type Metric = 'flows' | 'bytes' | 'packets';

function checkGroupedQuery<K extends string>(
  query: { range: TimeRange; groupBy: readonly K[]; orderBy?: Metric; limit?: number },
  allowed: readonly K[],
  what: string,
): { keys: K[]; limit: number; orderBy: Metric } {
  checkRange(query.range);
  const keys = [...new Set(query.groupBy)];
  for (const key of keys) {
    if (!(allowed as readonly string[]).includes(key)) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `cannot group ${what} by '${String(key)}'; allowed: ${allowed.join(', ')}`, { status: 400, details: { key } });
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

/** A point in time for retention: whole Unix seconds in DateTime's range. */
export function checkCutoff(cutoff: number): void {
  if (!isUint32(cutoff)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `retention cutoff ${String(cutoff)} must be whole Unix seconds (0-4294967295)`, { status: 400, details: { cutoff } });
  }
}

export function checkEvidenceQuery(query: ListenerEvidenceQuery): { minPeers: number; minPeerPorts: number; limit: number } {
  const minimum = (name: 'minPeers' | 'minPeerPorts'): number => {
    const value = query[name] ?? 1;
    if (!isUint32(value)) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${name} ${String(value)} must be an integer 0-4294967295`, { status: 400, details: { [name]: value } });
    }
    return value;
  };
  const limit = query.limit ?? DEFAULT_EVIDENCE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVIDENCE_LIMIT) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${limit} must be 1-${MAX_EVIDENCE_LIMIT}`, { status: 400, details: { limit } });
  }
  return { minPeers: minimum('minPeers'), minPeerPorts: minimum('minPeerPorts'), limit };
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
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

/** Longest collector id and error reason kept; both are short names, not free text. */
export const MAX_EXPORTER_NAME = 200;
/** Sampling rates and error reasons per exporter row. */
export const MAX_EXPORTER_LIST = 1000;

/**
 * Exporter status rows, refused whole (FLOWMAP_BATCH_INVALID) when any is malformed. Returns each
 * row's exporter address as 16 bytes, in row order.
 */
export function checkExporterStatus(rows: readonly ExporterStatus[]): Address[] {
  return rows.map((row, i) => {
    const bad = (what: string): FlowmapError => new FlowmapError('FLOWMAP_BATCH_INVALID', `exporter status refused: row ${i} ${what}`, { status: 400, details: { row: i } });
    const name = (value: unknown, field: string): void => {
      if (typeof value !== 'string' || value === '' || value.length > MAX_EXPORTER_NAME || LONE_SURROGATE.test(value)) {
        throw bad(`${field} ${JSON.stringify(value)} must be 1-${MAX_EXPORTER_NAME} characters of valid Unicode`);
      }
    };
    name(row.collector, 'collector');
    const exporter = typeof row.exporter === 'string' ? tryParseAddress(row.exporter) : undefined;
    if (exporter === undefined) throw bad(`exporter ${JSON.stringify(row.exporter)} is not an IPv4 or IPv6 address`);
    for (const field of ['firstSeen', 'lastSeen', 'updatedAt', 'templates'] as const) {
      if (!isUint32(row[field])) throw bad(`${field} = ${String(row[field])} is not a 32-bit unsigned integer`);
    }
    for (const field of ['datagrams', 'flows'] as const) {
      if (!isCount(row[field])) throw bad(`${field} = ${String(row[field])} is not a non-negative integer`);
    }
    if (!Array.isArray(row.samplingRates) || row.samplingRates.length > MAX_EXPORTER_LIST || !row.samplingRates.every(isUint32)) {
      throw bad(`samplingRates must be at most ${MAX_EXPORTER_LIST} 32-bit unsigned integers`);
    }
    const errors: unknown = row.errors;
    if (typeof errors !== 'object' || errors === null || Array.isArray(errors) || Object.keys(errors).length > MAX_EXPORTER_LIST) {
      throw bad(`errors must be an object of at most ${MAX_EXPORTER_LIST} reasons`);
    }
    for (const [reason, count] of Object.entries(errors)) {
      name(reason, 'error reason');
      if (!isCount(count)) throw bad(`errors[${JSON.stringify(reason)}] = ${String(count)} is not a non-negative integer`);
    }
    return exporter;
  });
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
