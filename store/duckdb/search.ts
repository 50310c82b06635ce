// The DuckDB query of one flow-search window (Store.searchFlows; the order, cursor and windows are
// store/search.ts's), the same conditions as store/clickhouse/search.ts writes for ClickHouse.
// Values are bound parameters; the SQL text is built from constants and parameter numbers only.
import { BLOB, blobValue, LIST, listValue, UBIGINT, UINTEGER, USMALLINT, UTINYINT, VARCHAR, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { FLOW_COLUMNS, type FlowColumnName } from '../../core/flow.js';
import { columnKind, isDescending, SEARCH_KEYS, SEARCH_STRINGS, type AddressRange, type CheckedEndpoints, type CheckedSearch } from '../search.js';

export interface BoundQuery {
  sql: string;
  params: DuckDBValue[];
  types: DuckDBType[];
}

/** Collects parameters; `bind` returns the placeholder of the value it adds. */
class Parameters {
  readonly params: DuckDBValue[] = [];
  readonly types: DuckDBType[] = [];
  bind(value: DuckDBValue, type: DuckDBType): string {
    this.params.push(value);
    this.types.push(type);
    return `$${this.params.length}`;
  }
}

const SELECT = FLOW_COLUMNS.map((c) => (c.kind === 'address' ? `hex(f.${c.name}) AS c_${c.name}` : c.kind === 'enum' ? `f.${c.name}::VARCHAR AS c_${c.name}` : `f.${c.name} AS c_${c.name}`)).join(', ');

/** The client and server ends, oriented as flows_1h orients them (duckdb/adapter.ts ROLLUP_STAGED). */
const CLIENT = "(CASE WHEN f.server_side = 'src' THEN f.dst_addr ELSE f.src_addr END)";
const SERVER = "(CASE WHEN f.server_side = 'src' THEN f.src_addr ELSE f.dst_addr END)";

const blob = (bytes: Uint8Array): DuckDBValue => blobValue(bytes);
const hexBlob = (hex: string): DuckDBValue => blobValue(Uint8Array.from(Buffer.from(hex, 'hex')));

function inRanges(p: Parameters, end: string, ranges: readonly AddressRange[]): string {
  return `(${ranges.map((r) => `(${end} >= ${p.bind(blob(r.first), BLOB)} AND ${end} <= ${p.bind(blob(r.last), BLOB)})`).join(' OR ')})`;
}

/**
 * An end is a member: the same three kinds as store/clickhouse/search.ts tests. Whole-range
 * members are disjoint ranges, so the one that can hold an end is the last starting at or before
 * it: an ASOF join finds it by sorting, where a range join would compare every row with every
 * member (70 s at a million rows and 10,000 members, against under a second). Part-time hosts are
 * a hash join on the address; part-time ranges, which no group produces in numbers, a range join.
 */
function memberSql(end: string, whole: string | undefined, lists: { hosts?: string[]; ranges?: string[] }): string {
  const parts: string[] = [];
  if (whole !== undefined) parts.push(`(${whole}.w_last IS NOT NULL AND ${end} <= ${whole}.w_last)`);
  if (lists.hosts !== undefined) {
    const [address, from, to] = lists.hosts;
    parts.push(
      `EXISTS (SELECT 1 FROM (SELECT unnest(${address}) AS m_address, unnest(${from}) AS m_from, unnest(${to}) AS m_to) m WHERE m.m_address = ${end} AND f.time_received >= m.m_from AND f.time_received < m.m_to)`,
    );
  }
  if (lists.ranges !== undefined) {
    const [first, last, from, to] = lists.ranges;
    parts.push(
      `EXISTS (SELECT 1 FROM (SELECT unnest(${first}) AS m_first, unnest(${last}) AS m_last, unnest(${from}) AS m_from, unnest(${to}) AS m_to) m
       WHERE ${end} >= m.m_first AND ${end} <= m.m_last AND f.time_received >= m.m_from AND f.time_received < m.m_to)`,
    );
  }
  return `(${parts.join(' OR ')})`;
}

/** The members' condition and the ASOF joins it reads (both ends against the same whole-range list). */
function endpointsSql(p: Parameters, e: CheckedEndpoints): { joins: string; condition: string } {
  let joins = '';
  if (e.whole.ranges.length > 0) {
    const first = p.bind(listValue(e.whole.ranges.map((r) => blob(r.first))), LIST(BLOB));
    const last = p.bind(listValue(e.whole.ranges.map((r) => blob(r.last))), LIST(BLOB));
    const members = `(SELECT unnest(${first}) AS w_first, unnest(${last}) AS w_last)`;
    joins = ` ASOF LEFT JOIN ${members} ws ON f.src_addr >= ws.w_first ASOF LEFT JOIN ${members} wd ON f.dst_addr >= wd.w_first`;
  }
  // The part-time lists are bound once and read by both ends.
  const lists: { hosts?: string[]; ranges?: string[] } = {};
  if (e.hosts.length > 0) {
    const flat = e.hosts.flatMap((h) => h.intervals.map(([from, to]) => ({ hex: h.hex, from, to })));
    lists.hosts = [
      p.bind(listValue(flat.map((h) => hexBlob(h.hex))), LIST(BLOB)),
      p.bind(listValue(flat.map((h) => h.from)), LIST(UINTEGER)),
      p.bind(listValue(flat.map((h) => h.to)), LIST(UINTEGER)),
    ];
  }
  if (e.ranges.length > 0) {
    lists.ranges = [
      p.bind(listValue(e.ranges.map((r) => hexBlob(r.first))), LIST(BLOB)),
      p.bind(listValue(e.ranges.map((r) => hexBlob(r.last))), LIST(BLOB)),
      p.bind(listValue(e.ranges.map((r) => r.from)), LIST(UINTEGER)),
      p.bind(listValue(e.ranges.map((r) => r.to)), LIST(UINTEGER)),
    ];
  }
  const whole = e.whole.ranges.length > 0;
  return { joins, condition: `(${memberSql('f.src_addr', whole ? 'ws' : undefined, lists)} OR ${memberSql('f.dst_addr', whole ? 'wd' : undefined, lists)})` };
}

const TYPES: Partial<Record<string, DuckDBType>> = { datetime: UINTEGER, u32: UINTEGER, u16: USMALLINT, u8: UTINYINT, u64: UBIGINT, enum: UTINYINT };

function keyColumn(name: FlowColumnName): string {
  return columnKind(name) === 'enum' ? `enum_code(f.${name})` : `f.${name}`;
}

function keyValue(name: FlowColumnName, value: number | string): { value: DuckDBValue; type: DuckDBType } {
  const kind = columnKind(name);
  if (kind === 'address') return { value: hexBlob(String(value)), type: BLOB };
  if (kind === 'u64') return { value: BigInt(value), type: UBIGINT };
  return { value: Number(value), type: TYPES[kind] ?? UINTEGER };
}

/** One window's query: as store/clickhouse/search.ts searchWindowSql. Never run for a search whose `none` is set. */
export function searchWindowQuery(q: CheckedSearch, window: { from: number; to: number }, count: number): BoundQuery {
  const p = new Parameters();
  const conditions = [`f.time_received >= ${p.bind(window.from, UINTEGER)}`, `f.time_received < ${p.bind(window.to, UINTEGER)}`];
  if (q.addresses !== undefined) conditions.push(`(${inRanges(p, 'f.src_addr', q.addresses.ranges)} OR ${inRanges(p, 'f.dst_addr', q.addresses.ranges)})`);
  if (q.clients !== undefined) conditions.push(inRanges(p, CLIENT, q.clients.ranges));
  if (q.servers !== undefined) conditions.push(inRanges(p, SERVER, q.servers.ranges));
  if (q.ports !== undefined) {
    const ports = p.bind(listValue([...q.ports]), LIST(USMALLINT));
    conditions.push(`(f.src_port IN (SELECT unnest(${ports})) OR f.dst_port IN (SELECT unnest(${ports})))`);
  }
  if (q.protocol !== undefined) conditions.push(`f.proto = ${p.bind(q.protocol, UTINYINT)}`);
  if (q.exporter !== undefined) conditions.push(`f.exporter = ${p.bind(blob(q.exporter), BLOB)}`);
  if (q.action !== undefined) conditions.push(`f.action = ${p.bind(q.action, VARCHAR)}`);
  let joins = '';
  if (q.endpoints !== undefined) {
    const members = endpointsSql(p, q.endpoints);
    joins = members.joins;
    conditions.push(members.condition);
  }
  const key = SEARCH_KEYS[q.sort];
  const descending = isDescending(q.sort);
  if (q.cursor !== undefined) {
    const cursor = q.cursor;
    const theirs = key.map((name, i) => {
      const { value, type } = keyValue(name, cursor.key[i] ?? 0);
      return p.bind(value, type);
    });
    // At or past the cursor's key: rows equal to it are dropped by count (store/search.ts).
    conditions.push(`(${key.map(keyColumn).join(', ')}) ${descending ? '<=' : '>='} (${theirs.join(', ')})`);
  }
  const direction = descending ? 'DESC' : 'ASC';
  const order = [...key, ...SEARCH_STRINGS].map((name) => `f.${name} ${direction}`).join(', ');
  const sql = `SELECT ${SELECT} FROM flows f${joins} WHERE ${conditions.join(' AND ')} ORDER BY ${order} LIMIT ${p.bind(count, UINTEGER)}`;
  return { sql, params: p.params, types: p.types };
}
