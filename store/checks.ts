// Validation of what callers pass to the store, shared so both adapters refuse the same inputs
// with the same FLOWMAP_BAD_REQUEST messages before any SQL is built.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../core/counters.js';
import { FlowmapError } from '../core/errors.js';
import { tryParseAddress, type Address } from '../core/ip.js';
import {
  AGGREGATE_KEYS,
  DEFAULT_AGGREGATE_LIMIT,
  DEFAULT_EVIDENCE_LIMIT,
  DEFAULT_HOSTS_LIMIT,
  DEFAULT_READ_LIMIT,
  MAX_AGGREGATE_LIMIT,
  MAX_CONVERSATION_DAYS,
  MAX_EVIDENCE_LIMIT,
  MAX_HOSTS_LIMIT,
  MAX_HOURLY_ADDRESSES,
  MAX_SPLIT_HOURS,
  MAX_SPLIT_POINTS,
  MAX_READ_LIMIT,
  ROLLUP_KEYS,
  type AddressHour,
  type AggregateKey,
  type BaselineHostRow,
  type ConversationQuery,
  type ExporterStatus,
  type FlowAggregateQuery,
  type ListenerEvidenceQuery,
  type RollupAggregateQuery,
  type RollupKey,
  type TimeRange,
  type ConversationKey,
  type Endpoint,
  MAX_ADDRESS_HOURS,
  MAX_DRILL_CONVERSATIONS,
  MAX_EVIDENCE_ENDPOINTS,
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

/** A conversation query as the adapters use it: hourly addresses parsed and deduplicated. */
export interface CheckedConversationQuery {
  from: number;
  to: number;
  /** 16-byte addresses, distinct, in the order first given. */
  hourly: Address[];
  /** Segments of the split addresses (ConversationQuery.splits), [from, to) each, covering the window; none for an address also hourly. */
  segments: { address: Address; from: number; to: number }[];
  /** 24-hour steps from `from` that the window touches: ceil((to - from) / 86400). */
  windowDays: number;
  /** 32-bit words of the `days` bitmask: ceil(windowDays / 32). */
  dayWords: number;
}

export function checkConversationQuery(query: ConversationQuery): CheckedConversationQuery {
  const { range } = query;
  checkRange(range);
  if (range.from % 3600 !== 0 || range.to % 3600 !== 0) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `conversation range [${range.from}, ${range.to}) must start and end on whole hours (multiples of 3600)`, {
      status: 400,
      details: { from: range.from, to: range.to },
    });
  }
  if (range.to - range.from > MAX_CONVERSATION_DAYS * 86_400) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `conversation range [${range.from}, ${range.to}) is longer than ${MAX_CONVERSATION_DAYS} days`, {
      status: 400,
      details: { from: range.from, to: range.to, maxDays: MAX_CONVERSATION_DAYS },
    });
  }
  const given: unknown = query.hourlyAddresses ?? [];
  if (!Array.isArray(given) || given.length > MAX_HOURLY_ADDRESSES) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `hourlyAddresses must be a list of at most ${MAX_HOURLY_ADDRESSES} addresses`, {
      status: 400,
      details: { count: Array.isArray(given) ? given.length : undefined },
    });
  }
  const seen = new Set<string>();
  const hourly: Address[] = [];
  for (const text of given as unknown[]) {
    const address = typeof text === 'string' ? tryParseAddress(text) : undefined;
    if (address === undefined) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `hourly address ${JSON.stringify(text)} is not an IPv4 or IPv6 address`, { status: 400, details: { value: text } });
    }
    const key = Buffer.from(address).toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    hourly.push(address);
  }
  const splits: unknown = query.splits ?? [];
  if (!Array.isArray(splits) || splits.length > MAX_HOURLY_ADDRESSES) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `splits must be a list of at most ${MAX_HOURLY_ADDRESSES} addresses`, { status: 400, details: { count: Array.isArray(splits) ? splits.length : undefined } });
  }
  const segments: CheckedConversationQuery['segments'] = [];
  const split = new Set<string>();
  let points = 0;
  for (const entry of splits as unknown[]) {
    const { address: text, starts } = (typeof entry === 'object' && entry !== null ? entry : {}) as { address?: unknown; starts?: unknown };
    const address = typeof text === 'string' ? tryParseAddress(text) : undefined;
    if (address === undefined) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `split address ${JSON.stringify(text)} is not an IPv4 or IPv6 address`, { status: 400, details: { value: text } });
    if (!Array.isArray(starts)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `the splits of ${String(text)} must be a list of hour starts`, { status: 400, details: { address: text } });
    points += starts.length;
    if (points > MAX_SPLIT_POINTS) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `at most ${MAX_SPLIT_POINTS} split points in all`, { status: 400, details: { points } });
    let previous = range.from;
    for (const start of starts as unknown[]) {
      if (typeof start !== 'number' || !Number.isInteger(start) || start % 3600 !== 0 || start <= previous || start >= range.to) {
        throw new FlowmapError('FLOWMAP_BAD_REQUEST', `the splits of ${String(text)} must be increasing hour starts strictly inside [${range.from}, ${range.to}) (got ${JSON.stringify(start)})`, {
          status: 400,
          details: { address: text, start },
        });
      }
      previous = start;
    }
    const key = Buffer.from(address).toString('hex');
    if (split.has(key)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `split address ${String(text)} is given twice`, { status: 400, details: { address: text } });
    split.add(key);
    if (seen.has(key)) continue;
    const bounds = [range.from, ...(starts as number[]), range.to];
    for (let i = 0; i + 1 < bounds.length; i++) segments.push({ address, from: bounds[i] as number, to: bounds[i + 1] as number });
  }
  // The ClickHouse store expands each split address into the hours of the window (its
  // hours → segment table): bounded, so a window of many changing addresses cannot build a
  // table of billions of rows.
  const splitHours = split.size * Math.ceil((range.to - range.from) / 3600);
  if (splitHours > MAX_SPLIT_HOURS) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${split.size} split addresses over ${(range.to - range.from) / 3600} hours are ${splitHours} address-hours; at most ${MAX_SPLIT_HOURS} (give the rest as hourlyAddresses)`, {
      status: 400,
      details: { addresses: split.size, splitHours },
    });
  }
  const windowDays = Math.ceil((range.to - range.from) / 86_400);
  return { from: range.from, to: range.to, hourly, segments, windowDays, dayWords: Math.ceil(windowDays / 32) };
}

/** Longest baseline id, edge key and rule name kept. */
export const MAX_BASELINE_NAME = 200;
export const MAX_EDGE_KEY = 1000;

function checkName(value: unknown, what: string, max: number): void {
  if (typeof value !== 'string' || value === '' || value.length > max || LONE_SURROGATE.test(value)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} ${JSON.stringify(value)} must be 1-${max} characters of valid Unicode`, { status: 400, details: { [what]: value } });
  }
}

export function checkBaselineName(baseline: string): void {
  checkName(baseline, 'baseline', MAX_BASELINE_NAME);
}

export function checkBaselineHostsQuery(baseline: string, edge: string, limit: number | undefined): number {
  checkBaselineName(baseline);
  checkName(edge, 'edge', MAX_EDGE_KEY);
  const value = limit ?? DEFAULT_HOSTS_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_HOSTS_LIMIT) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${value} must be 1-${MAX_HOSTS_LIMIT}`, { status: 400, details: { limit: value } });
  }
  return value;
}

/** A host-pair row ready to write: its client and server as 16 bytes. */
export interface CheckedBaselineHost {
  row: BaselineHostRow;
  client: Address;
  server: Address;
}

/**
 * A baseline's host pairs, refused whole (FLOWMAP_BATCH_INVALID) when any row is malformed; the
 * baseline id itself is a FLOWMAP_BAD_REQUEST like every other argument.
 */
export function checkBaselineHosts(baseline: string, rows: readonly BaselineHostRow[]): CheckedBaselineHost[] {
  checkBaselineName(baseline);
  return rows.map((row, i) => {
    const bad = (what: string): FlowmapError => new FlowmapError('FLOWMAP_BATCH_INVALID', `baseline host pairs refused: row ${i} ${what}`, { status: 400, details: { row: i } });
    for (const [field, max] of [['edge', MAX_EDGE_KEY], ['rule', MAX_BASELINE_NAME]] as const) {
      const value: unknown = row[field];
      if (typeof value !== 'string' || value === '' || value.length > max || LONE_SURROGATE.test(value)) {
        throw bad(`${field} ${JSON.stringify(value)} must be 1-${max} characters of valid Unicode`);
      }
    }
    const address = (field: 'client' | 'server'): Address => {
      const value: unknown = row[field];
      const parsed = typeof value === 'string' ? tryParseAddress(value) : undefined;
      if (parsed === undefined) throw bad(`${field} ${JSON.stringify(value)} is not an IPv4 or IPv6 address`);
      return parsed;
    };
    const client = address('client');
    const server = address('server');
    const ranges = [['proto', 0xff], ['port', 0xffff], ['daysSeen', 0xffff], ['firstSeen', 0xffffffff], ['lastSeen', 0xffffffff]] as const;
    for (const [field, max] of ranges) {
      const value: unknown = row[field];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) throw bad(`${field} = ${String(value)} is not an integer 0-${max}`);
    }
    for (const field of ['flows', 'bytes', 'packets'] as const) {
      if (!isCount(row[field])) throw bad(`${field} = ${String(row[field])} is not a non-negative integer`);
    }
    return { row, client, server };
  });
}

export interface CheckedConversationKey {
  client: Address;
  server: Address;
  proto: number;
  servicePort: number;
  /** An hour's start, or undefined for the whole window. */
  hour: number | undefined;
}

function uintField(value: unknown, max: number, what: string): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} ${JSON.stringify(value)} must be a whole number from 0 to ${max}`, { status: 400, details: { value } });
  }
  return value as number;
}

export function checkAddressHours(range: TimeRange, pairs: readonly AddressHour[]): { address: Address; hour: number }[] {
  checkWholeHours(range, 'address-hour read');
  if (!Array.isArray(pairs) || pairs.length > MAX_ADDRESS_HOURS) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `an address-hour read takes at most ${MAX_ADDRESS_HOURS} pairs`, { status: 400, details: { count: Array.isArray(pairs) ? pairs.length : undefined } });
  }
  const list: readonly unknown[] = pairs;
  return list.map((p) => {
    const { address, hour } = (typeof p === 'object' && p !== null ? p : {}) as { address?: unknown; hour?: unknown };
    return { address: addressField(address, 'address'), hour: hourField(hour, range, 'address-hour') };
  });
}

function hourField(value: unknown, range: TimeRange, what = 'drill-down'): number {
  if (!Number.isInteger(value) || (value as number) % 3600 !== 0 || (value as number) < range.from || (value as number) >= range.to) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} hour ${JSON.stringify(value)} must be the start of an hour of the range`, { status: 400, details: { value } });
  }
  return value as number;
}

function addressField(value: unknown, what: string): Address {
  const address = typeof value === 'string' ? tryParseAddress(value) : undefined;
  if (address === undefined) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} ${JSON.stringify(value)} is not an IPv4 or IPv6 address`, { status: 400, details: { value } });
  return address;
}

function checkWholeHours(range: TimeRange, what: string): void {
  checkRange(range);
  if (range.from % 3600 !== 0 || range.to % 3600 !== 0) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} range [${range.from}, ${range.to}) must start and end on whole hours (multiples of 3600)`, { status: 400, details: { from: range.from, to: range.to } });
  }
  if (range.to - range.from > MAX_CONVERSATION_DAYS * 86_400) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} range [${range.from}, ${range.to}) is longer than ${MAX_CONVERSATION_DAYS} days`, { status: 400, details: { from: range.from, to: range.to } });
  }
}

export function checkDrillQuery(range: TimeRange, keys: readonly ConversationKey[]): CheckedConversationKey[] {
  checkWholeHours(range, 'drill-down');
  if (!Array.isArray(keys) || keys.length > MAX_DRILL_CONVERSATIONS) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `a drill-down takes at most ${MAX_DRILL_CONVERSATIONS} conversations`, { status: 400, details: { count: Array.isArray(keys) ? keys.length : undefined } });
  }
  const list: readonly ConversationKey[] = keys;
  return list.map((k) => ({
    client: addressField(k.client, 'client'),
    server: addressField(k.server, 'server'),
    proto: uintField(k.proto, 255, 'proto'),
    servicePort: uintField(k.servicePort, 65535, 'service port'),
    hour: k.hour === undefined ? undefined : hourField(k.hour, range),
  }));
}

export function checkEndpoints(range: TimeRange, endpoints: readonly Endpoint[]): { address: Address; proto: number; port: number }[] {
  checkRange(range);
  if (!Array.isArray(endpoints) || endpoints.length > MAX_EVIDENCE_ENDPOINTS) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `evidence is asked for at most ${MAX_EVIDENCE_ENDPOINTS} endpoints at a time`, { status: 400, details: { count: Array.isArray(endpoints) ? endpoints.length : undefined } });
  }
  const list: readonly Endpoint[] = endpoints;
  return list.map((e) => ({ address: addressField(e.address, 'endpoint address'), proto: uintField(e.proto, 255, 'proto'), port: uintField(e.port, 65535, 'port') }));
}
