// Flow search (Store.searchFlows), the part both adapters share: the query checked and normalized
// once, the total order rows come in, the cursor, and the loop over time windows. An adapter only
// renders one window's query from a CheckedSearch and hands back its rows.
//
// Order. A page is sorted by a key made of every non-string column (time sorts: time_received
// first; bytes-desc: bytes, then time_received), then by the six cloud strings; so the order is
// total and two rows that compare equal are equal in every column. The cursor is the key of a
// page's last row (strings left out: they are unbounded) plus how many rows of that key were
// handed out already. The next page asks for rows at or past the key and drops that many of the
// leading rows equal to it: rows that differ only in their strings (the two interfaces of one AWS
// flow) or not at all (a record exported twice) are neither skipped nor repeated across pages.
//
// Windows. For the time sorts the range is read in windows that start where the page starts and
// grow fourfold (1 h, 4 h, 16 h, …), until the page is full: a page of recent flows reads the
// newest hour of one partition, not 31 days. A search that matches little reads the range in six
// windows, about what one query over it would. bytes-desc needs the whole range in one query.
//
// Prefixes. A list of prefixes (addresses, clients, servers, and the members of a group that count
// over the whole range) comes in two forms (PrefixSet): disjoint ranges, which an adapter compares
// with the address when they are few, and which DuckDB's ASOF join searches when they are many
// (only the last range starting at or before the address can hold it); and sets of hex-digit
// prefixes of the address by length (a /26 is four /28s of seven digits), which ClickHouse tests
// with one hash lookup per distinct length however many prefixes there are. The members of a
// group (FlowSearchQuery.endpoints) are clipped to the range and merged per prefix first; those
// covering the whole range need no time test. Hosts that count only part of the time are tested
// by a hash lookup, then against their own few intervals; other part-time prefixes, which no
// group produces in numbers, one by one.
import { FlowmapError } from '../core/errors.js';
import { FLOW_ACTIONS, FLOW_COLUMNS, FLOW_SOURCES, SERVER_SIDES, type ColumnKind, type FlowAction, type FlowColumnName } from '../core/flow.js';
import { formatAddress, maskAddress, type Address, type Prefix } from '../core/ip.js';
import {
  DEFAULT_SEARCH_LIMIT,
  FLOW_SEARCH_SORTS,
  MAX_SEARCH_ENDPOINTS,
  MAX_SEARCH_LIMIT,
  MAX_SEARCH_PORTS,
  MAX_SEARCH_PREFIXES,
  type FlowSearchPage,
  type FlowSearchQuery,
  type FlowSearchRow,
  type FlowSearchSort,
  type TimedPrefix,
} from './port.js';

/** Non-string columns in the order that breaks ties of time_received. */
const TIE_COLUMNS = [
  'dst_addr',
  'dst_port',
  'src_addr',
  'src_port',
  'proto',
  'exporter',
  'observation_domain',
  'time_start',
  'time_end',
  'packets',
  'tcp_flags',
  'sampling_rate',
  'in_if',
  'out_if',
  'vlan',
  'source',
  'action',
  'server_side',
] as const satisfies readonly FlowColumnName[];

/** The key of each sort: every non-string column, once. */
export const SEARCH_KEYS: Readonly<Record<FlowSearchSort, readonly FlowColumnName[]>> = {
  'time-desc': ['time_received', 'bytes', ...TIE_COLUMNS],
  'time-asc': ['time_received', 'bytes', ...TIE_COLUMNS],
  'bytes-desc': ['bytes', 'time_received', ...TIE_COLUMNS],
};

/** After the key, rows are ordered by these (bytewise), in the sort's direction. */
export const SEARCH_STRINGS = ['cloud_account', 'cloud_region', 'cloud_vpc', 'cloud_subnet', 'cloud_instance', 'cloud_interface'] as const satisfies readonly FlowColumnName[];

export const isDescending = (sort: FlowSearchSort): boolean => sort !== 'time-asc';

const KIND: ReadonlyMap<string, ColumnKind> = new Map(FLOW_COLUMNS.map((c) => [c.name, c.kind]));
const ENUM_VALUES: ReadonlyMap<string, readonly string[]> = new Map(FLOW_COLUMNS.flatMap((c) => ('values' in c ? [[c.name, c.values] as const] : [])));

export function columnKind(name: FlowColumnName): ColumnKind {
  return KIND.get(name) ?? 'string';
}

/** A key value: numbers (enums as their index), addresses as 32 lower-case hex digits. */
export type KeyValue = number | string;

export interface SearchCursor {
  readonly key: readonly KeyValue[];
  /** Rows with exactly this key handed out already (at least 1: the last row itself). */
  readonly skip: number;
}

/** An address range [first, last], both 16 bytes. */
export interface AddressRange {
  readonly first: Address;
  readonly last: Address;
}

/**
 * A set of prefixes in the two forms the adapters test: disjoint address ranges, ascending
 * (overlapping and touching ones merged), and upper-case hex-digit prefixes of the address by
 * their length in digits (hexPrefixes; 32 digits are whole addresses).
 */
export interface PrefixSet {
  readonly ranges: readonly AddressRange[];
  readonly digits: ReadonlyMap<number, readonly string[]>;
}

export interface CheckedEndpoints {
  /** Members that count over the whole range. */
  readonly whole: PrefixSet;
  /** Hosts that count part of the range: upper-case hex address, disjoint ascending [from, to) intervals inside the range. */
  readonly hosts: readonly { readonly hex: string; readonly intervals: readonly (readonly [number, number])[] }[];
  /** Other prefixes that count part of the range, one entry per interval; upper-case hex bounds. */
  readonly ranges: readonly { readonly first: string; readonly last: string; readonly from: number; readonly to: number }[];
}

/** A FlowSearchQuery validated and normalized: what an adapter renders. */
export interface CheckedSearch {
  readonly from: number;
  readonly to: number;
  readonly sort: FlowSearchSort;
  readonly limit: number;
  /** A list filter is empty (or no member falls in the range): nothing can match, no query runs. */
  readonly none: boolean;
  readonly addresses?: PrefixSet;
  readonly clients?: PrefixSet;
  readonly servers?: PrefixSet;
  readonly ports?: readonly number[];
  readonly protocol?: number;
  readonly exporter?: Address;
  readonly action?: FlowAction;
  readonly endpoints?: CheckedEndpoints;
  readonly cursor?: SearchCursor;
}

const MAX_UINT32 = 0xffffffff;
/** Rows of one key a cursor may say were handed out; far beyond any real duplicate run. */
const MAX_SKIP = 1_000_000;
const MAX_CURSOR_LENGTH = 2048;
export const FIRST_WINDOW_SECONDS = 3600;
export const WINDOW_GROWTH = 4;

function bad(parameter: string, message: string, value?: unknown): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_REQUEST', message, { status: 400, details: value === undefined ? { parameter } : { parameter, value } });
}

const isUint = (value: unknown, max: number): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;

function checkPrefix(prefix: Prefix, parameter: string): AddressRange {
  const address: unknown = prefix?.address;
  if (!(address instanceof Uint8Array) || address.length !== 16 || !isUint(prefix.length, 128)) {
    throw bad(parameter, `${parameter}: a prefix needs a 16-byte address and a length 0-128 (core/ip parsePrefix makes one)`);
  }
  const network = maskAddress(address, prefix.length);
  if (!network.every((b, i) => b === address[i])) throw bad(parameter, `${parameter}: prefix ${formatAddress(address)}/${prefix.length} has host bits set`);
  const last = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix.length - i * 8));
    last[i] = network[i]! | (0xff >> bits);
  }
  return { first: network, last };
}

function checkList<T>(values: readonly T[] | undefined, parameter: string, max: number): readonly T[] | undefined {
  if (values === undefined) return undefined;
  const list: unknown = values;
  if (!Array.isArray(list)) throw bad(parameter, `${parameter} must be a list`);
  if (values.length > max) throw bad(parameter, `${parameter} has ${values.length} entries; at most ${max}`);
  return values;
}

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex').toUpperCase();

/** The hex-digit prefixes that together are `prefix` (host bits zero): one of ceil(length / 4) digits, or 2, 4 or 8 when the length is not a multiple of 4. */
export function hexPrefixes(prefix: { address: Uint8Array; length: number }): string[] {
  const digits = Math.ceil(prefix.length / 4);
  const spare = digits * 4 - prefix.length;
  const head = hexOf(prefix.address).slice(0, digits);
  if (spare === 0) return [head];
  const base = Number.parseInt(head.slice(-1), 16);
  return Array.from({ length: 1 << spare }, (_, v) => head.slice(0, -1) + (base | v).toString(16).toUpperCase());
}

function checkEndpoints(endpoints: readonly TimedPrefix[], from: number, to: number): CheckedEndpoints {
  // Per prefix, its intervals clipped to the range.
  const byPrefix = new Map<string, { prefix: Prefix; range: AddressRange; intervals: [number, number][] }>();
  endpoints.forEach((endpoint, i) => {
    const where = `endpoints[${i}]`;
    if (typeof endpoint !== 'object' || endpoint === null) throw bad('endpoints', `${where} is not an object`);
    for (const bound of ['from', 'to'] as const) {
      if (endpoint[bound] !== undefined && !isUint(endpoint[bound], MAX_UINT32 + 1)) {
        throw bad('endpoints', `${where}.${bound} ${String(endpoint[bound])} must be whole Unix seconds (0-4294967296)`);
      }
    }
    const range = checkPrefix(endpoint.prefix, where);
    const f = Math.max(from, endpoint.from ?? from);
    const t = Math.min(to, endpoint.to ?? to);
    const key = `${hexOf(range.first)}/${endpoint.prefix.length}`;
    let entry = byPrefix.get(key);
    if (entry === undefined) byPrefix.set(key, (entry = { prefix: endpoint.prefix, range, intervals: [] }));
    if (f < t) entry.intervals.push([f, t]);
  });
  const whole: Prefix[] = [];
  const hosts: { hex: string; intervals: [number, number][] }[] = [];
  const ranges: { first: string; last: string; from: number; to: number }[] = [];
  for (const { prefix, range, intervals } of byPrefix.values()) {
    if (intervals.length === 0) continue;
    intervals.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [f, t] of intervals) {
      const last = merged[merged.length - 1];
      if (last !== undefined && f <= last[1]) last[1] = Math.max(last[1], t);
      else merged.push([f, t]);
    }
    const [only] = merged;
    if (merged.length === 1 && only !== undefined && only[0] === from && only[1] === to) {
      whole.push(prefix);
    } else if (prefix.length === 128) {
      hosts.push({ hex: hexOf(range.first), intervals: merged });
    } else {
      for (const [f, t] of merged) ranges.push({ first: hexOf(range.first), last: hexOf(range.last), from: f, to: t });
    }
  }
  return { whole: prefixSet(whole), hosts, ranges };
}

/** Checked prefixes as a PrefixSet. */
function prefixSet(prefixes: readonly Prefix[]): PrefixSet {
  const digits = new Map<number, Set<string>>();
  for (const prefix of prefixes) {
    for (const hex of hexPrefixes(prefix)) {
      const set = digits.get(hex.length) ?? new Set<string>();
      set.add(hex);
      digits.set(hex.length, set);
    }
  }
  return {
    ranges: disjoint(prefixes.map((p) => checkPrefix(p, 'prefix'))),
    digits: new Map([...digits].sort((a, b) => a[0] - b[0]).map(([n, set]) => [n, [...set].sort()])),
  };
}

const big = (bytes: Uint8Array): bigint => BigInt(`0x${hexOf(bytes) || '0'}`);

/** Ranges merged where they overlap or touch, ascending. */
function disjoint(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => Buffer.compare(a.first, b.first));
  const out: AddressRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && big(r.first) <= big(last.last) + 1n) {
      if (Buffer.compare(r.last, last.last) > 0) out[out.length - 1] = { first: last.first, last: r.last };
    } else out.push(r);
  }
  return out;
}

/** Validates a query (FLOWMAP_BAD_REQUEST naming the field otherwise) and normalizes its filters. */
export function checkSearchQuery(query: FlowSearchQuery): CheckedSearch {
  if (typeof query !== 'object' || query === null) throw bad('query', 'a flow search needs a query object');
  const { from, to } = query;
  if (!isUint(from, MAX_UINT32) || !isUint(to, MAX_UINT32) || from > to) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `time range [${String(from)}, ${String(to)}) must be whole Unix seconds with from <= to`, { status: 400, details: { parameter: 'from', from, to } });
  }
  const sort = query.sort ?? 'time-desc';
  if (!FLOW_SEARCH_SORTS.includes(sort)) throw bad('sort', `sort '${String(sort)}' must be one of ${FLOW_SEARCH_SORTS.join(', ')}`, sort);
  const limit = query.limit ?? DEFAULT_SEARCH_LIMIT;
  if (!isUint(limit, MAX_SEARCH_LIMIT) || limit < 1) throw bad('limit', `limit ${String(limit)} must be 1-${MAX_SEARCH_LIMIT}`, limit);
  const prefixes = (name: 'addresses' | 'clients' | 'servers'): PrefixSet | undefined => {
    const list = checkList(query[name], name, MAX_SEARCH_PREFIXES);
    list?.forEach((p, i) => checkPrefix(p, `${name}[${i}]`));
    return list === undefined ? undefined : prefixSet(list);
  };
  const addresses = prefixes('addresses');
  const clients = prefixes('clients');
  const servers = prefixes('servers');
  const ports = checkList(query.ports, 'ports', MAX_SEARCH_PORTS);
  ports?.forEach((port, i) => {
    if (!isUint(port, 65535)) throw bad('ports', `ports[${i}] ${String(port)} must be an integer 0-65535`, port);
  });
  if (query.protocol !== undefined && !isUint(query.protocol, 255)) throw bad('protocol', `protocol ${String(query.protocol)} must be an IANA protocol number 0-255`, query.protocol);
  if (query.exporter !== undefined && (!(query.exporter instanceof Uint8Array) || query.exporter.length !== 16)) throw bad('exporter', 'exporter must be a 16-byte address');
  if (query.action !== undefined && !FLOW_ACTIONS.includes(query.action)) throw bad('action', `action '${String(query.action)}' must be one of ${FLOW_ACTIONS.join(', ')}`, query.action);
  const members = checkList(query.endpoints, 'endpoints', MAX_SEARCH_ENDPOINTS);
  const endpoints = members === undefined ? undefined : checkEndpoints(members, from, to);
  const cursor = query.cursor === undefined ? undefined : decodeSearchCursor(query.cursor, sort);
  const empty = (set: PrefixSet | undefined): boolean => set !== undefined && set.ranges.length === 0;
  const none =
    [addresses, clients, servers].some(empty) ||
    (ports !== undefined && ports.length === 0) ||
    (endpoints !== undefined && endpoints.whole.ranges.length === 0 && endpoints.hosts.length === 0 && endpoints.ranges.length === 0);
  return {
    from,
    to,
    sort,
    limit,
    none,
    ...(addresses === undefined ? {} : { addresses }),
    ...(clients === undefined ? {} : { clients }),
    ...(servers === undefined ? {} : { servers }),
    ...(ports === undefined ? {} : { ports: [...new Set(ports)].sort((a, b) => a - b) }),
    ...(query.protocol === undefined ? {} : { protocol: query.protocol }),
    ...(query.exporter === undefined ? {} : { exporter: query.exporter }),
    ...(query.action === undefined ? {} : { action: query.action }),
    ...(endpoints === undefined ? {} : { endpoints }),
    ...(cursor === undefined ? {} : { cursor }),
  };
}

// ---------------------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------------------

/** The largest value a key column holds, by kind (u64: Number.MAX_SAFE_INTEGER, as FlowBatch keeps it). */
function keyMaximum(name: FlowColumnName): number {
  switch (columnKind(name)) {
    case 'datetime':
    case 'u32':
      return MAX_UINT32;
    case 'u16':
      return 0xffff;
    case 'u8':
      return 0xff;
    case 'enum':
      return (ENUM_VALUES.get(name)?.length ?? 1) - 1;
    default:
      return Number.MAX_SAFE_INTEGER;
  }
}

function keyValueValid(name: FlowColumnName, value: unknown): boolean {
  if (columnKind(name) === 'address') return typeof value === 'string' && /^[0-9a-f]{32}$/.test(value);
  return isUint(value, keyMaximum(name));
}

export function encodeSearchCursor(sort: FlowSearchSort, cursor: SearchCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, s: sort, k: cursor.key, n: cursor.skip })).toString('base64url');
}

/**
 * A cursor from a request: base64url JSON of this module's shape, for this sort, every key value
 * of its column's type and range. Anything else is FLOWMAP_BAD_REQUEST (400), never a crash.
 */
export function decodeSearchCursor(text: string, sort: FlowSearchSort): SearchCursor {
  const refused = (why: string): FlowmapError => bad('cursor', `cursor ${why}: pass nextCursor of the previous page unchanged, or leave cursor out to start again`);
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) throw refused('is not one this search handed out');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw refused('is not one this search handed out');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refused('is not one this search handed out');
  const { v, s, k, n, ...rest } = value as Record<string, unknown>;
  if (v !== 1 || Object.keys(rest).length > 0 || typeof s !== 'string') throw refused('is not one this search handed out');
  if (s !== sort) throw refused(`belongs to a search sorted ${s.slice(0, 16)}, not ${sort}`);
  const columns = SEARCH_KEYS[sort];
  if (!Array.isArray(k) || k.length !== columns.length || !k.every((part, i) => keyValueValid(columns[i] as FlowColumnName, part))) throw refused('is not one this search handed out');
  if (!isUint(n, MAX_SKIP) || n < 1) throw refused('is not one this search handed out');
  return { key: k as KeyValue[], skip: n };
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/** A result row as the adapters select it: `c_<column>` holding Unix seconds, hex addresses, enum text, numbers (or numeric strings, bigints) and strings. */
export type SearchResultRow = Record<string, unknown>;

interface SearchRecord {
  key: KeyValue[];
  row: FlowSearchRow;
  /** time_received, Unix seconds. */
  time: number;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

function enumText<T extends string>(values: readonly T[], value: unknown, column: string): T {
  const text = String(value);
  const found = values.find((v) => v === text);
  if (found === undefined) throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `store answered ${column} '${text.slice(0, 32)}', not one of ${values.join(', ')}`);
  return found;
}

function toRecord(r: SearchResultRow, sort: FlowSearchSort): SearchRecord {
  const number = (name: FlowColumnName): number => Number(r[`c_${name}`]);
  const hex = (name: FlowColumnName): string => String(r[`c_${name}`]).toLowerCase();
  const address = (name: FlowColumnName): string => formatAddress(Buffer.from(hex(name), 'hex'));
  const text = (name: FlowColumnName): string => {
    const value = r[`c_${name}`];
    return typeof value === 'string' ? value : '';
  };
  const source = enumText(FLOW_SOURCES, r.c_source, 'source');
  const action = enumText(FLOW_ACTIONS, r.c_action, 'action');
  const serverSide = enumText(SERVER_SIDES, r.c_server_side, 'server_side');
  const srcAddr = address('src_addr');
  const dstAddr = address('dst_addr');
  const srcServes = serverSide === 'src';
  const row: FlowSearchRow = {
    time: iso(number('time_received')),
    timeStart: iso(number('time_start')),
    timeEnd: iso(number('time_end')),
    source,
    exporter: address('exporter'),
    observationDomain: number('observation_domain'),
    srcAddr,
    srcPort: number('src_port'),
    dstAddr,
    dstPort: number('dst_port'),
    proto: number('proto'),
    tcpFlags: number('tcp_flags'),
    bytes: number('bytes'),
    packets: number('packets'),
    samplingRate: number('sampling_rate'),
    inIf: number('in_if'),
    outIf: number('out_if'),
    vlan: number('vlan'),
    action,
    serverSide,
    client: srcServes ? dstAddr : srcAddr,
    server: srcServes ? srcAddr : dstAddr,
    servicePort: srcServes ? number('src_port') : number('dst_port'),
    cloud: {
      account: text('cloud_account'),
      region: text('cloud_region'),
      vpc: text('cloud_vpc'),
      subnet: text('cloud_subnet'),
      instance: text('cloud_instance'),
      interface: text('cloud_interface'),
    },
  };
  const enums: Record<string, number> = { source: FLOW_SOURCES.indexOf(source), action: FLOW_ACTIONS.indexOf(action), server_side: SERVER_SIDES.indexOf(serverSide) };
  const key = SEARCH_KEYS[sort].map((name) => {
    const kind = columnKind(name);
    if (kind === 'address') return hex(name);
    if (kind === 'enum') return enums[name] ?? 0;
    return number(name);
  });
  return { key, row, time: number('time_received') };
}

const sameKey = (a: readonly KeyValue[], b: readonly KeyValue[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Drops up to cursor.skip leading rows whose key is the cursor's: the ones the previous pages handed out. */
function afterCursor(records: SearchRecord[], cursor: SearchCursor | undefined): SearchRecord[] {
  if (cursor === undefined) return records;
  let drop = 0;
  while (drop < cursor.skip && drop < records.length && sameKey(records[drop]!.key, cursor.key)) drop++;
  return records.slice(drop);
}

/** Fetches the rows of one time window [from, to) that come next in the order (the adapter applies the filters and the cursor), at most `count`. */
export type SearchWindowFetch = (window: { from: number; to: number }, count: number) => Promise<SearchResultRow[]>;

/**
 * One page: the windows read in the sort's direction until limit + 1 rows are found (the extra one
 * says whether a next page exists) or the range is done. At most six queries over 31 days.
 */
export async function runSearch(q: CheckedSearch, fetch: SearchWindowFetch): Promise<FlowSearchPage> {
  const want = q.limit + 1;
  const skip = q.cursor?.skip ?? 0;
  const records: SearchRecord[] = [];
  const read = async (from: number, to: number, first: boolean): Promise<void> => {
    const rows = await fetch({ from, to }, want - records.length + (first ? skip : 0));
    const parsed = rows.map((r) => toRecord(r, q.sort));
    records.push(...(first ? afterCursor(parsed, q.cursor) : parsed));
  };
  const cursorTime = q.cursor === undefined ? undefined : (q.cursor.key[SEARCH_KEYS[q.sort].indexOf('time_received')] as number);
  let start: number;
  if (q.sort === 'bytes-desc') {
    start = q.from;
    if (!q.none && q.from < q.to) await read(q.from, q.to, true);
  } else if (q.sort === 'time-desc') {
    // Rows of the cursor's second may remain; the cursor's own condition keeps the rest out.
    start = Math.max(q.from, cursorTime === undefined ? q.to : Math.min(q.to, cursorTime + 1));
    let size = FIRST_WINDOW_SECONDS;
    for (let hi = start; !q.none && hi > q.from && records.length < want; size *= WINDOW_GROWTH) {
      const lo = Math.max(q.from, hi - size);
      await read(lo, hi, hi === start);
      hi = lo;
    }
  } else {
    start = Math.min(q.to, cursorTime === undefined ? q.from : Math.max(q.from, cursorTime));
    let size = FIRST_WINDOW_SECONDS;
    for (let lo = start; !q.none && lo < q.to && records.length < want; size *= WINDOW_GROWTH) {
      const hi = Math.min(q.to, lo + size);
      await read(lo, hi, lo === start);
      lo = hi;
    }
  }
  const page = records.slice(0, q.limit);
  const last = page[page.length - 1];
  const more = records.length > q.limit && last !== undefined;
  let nextCursor: string | undefined;
  if (more) {
    let ties = page.filter((r) => sameKey(r.key, last.key)).length;
    if (q.cursor !== undefined && sameKey(last.key, q.cursor.key)) ties += q.cursor.skip;
    nextCursor = encodeSearchCursor(q.sort, { key: last.key, skip: ties });
  }
  let scannedFrom = q.from;
  let scannedTo = q.to;
  if (q.sort === 'time-desc') {
    scannedTo = start;
    if (more) scannedFrom = Math.min(start, last.time + 1);
  } else if (q.sort === 'time-asc') {
    scannedFrom = start;
    if (more) scannedTo = Math.max(start, last.time);
  }
  return { flows: page.map((r) => r.row), ...(nextCursor === undefined ? {} : { nextCursor }), scannedFrom: iso(scannedFrom), scannedTo: iso(scannedTo) };
}
