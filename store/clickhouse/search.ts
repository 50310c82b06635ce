// The ClickHouse query of one flow-search window (Store.searchFlows; the order, cursor and windows
// are store/search.ts's). Written for 18.16: no query parameters, so every value is a literal from
// ./literal.ts; no IPv6 functions, so a prefix is a set of hex-digit prefixes of the
// FixedString(16) address (store/search.ts PrefixSet), or a hash set of whole addresses.
//
// The filters go to PREWHERE with the window's time range: the range prunes partitions (flows is
// partitioned by day of time_received) and granules (its primary key starts with
// toStartOfHour(time_received)), and the other columns are read only for granules where some row
// passes. What is costly per row is left to WHERE, which runs only on the rows PREWHERE kept: the
// cursor's condition (every key column) and the time tests of part-time group members (PREWHERE
// has a cheaper superset of those: their addresses alone).
import { FLOW_COLUMNS, type FlowColumnName } from '../../core/flow.js';
import { columnKind, isDescending, SEARCH_KEYS, SEARCH_STRINGS, type CheckedEndpoints, type CheckedSearch, type PrefixSet } from '../search.js';
import { identifier, joinSql, lit, sql, type IntBits, type Sql } from './literal.js';

/** Every flow column, addresses as hex and times as Unix seconds: what `rows` turns back into records (readFlows too). */
export const FLOW_SELECT = joinSql(
  FLOW_COLUMNS.map((c) => {
    const column = identifier(c.name);
    const alias = identifier(`c_${c.name}`);
    if (c.kind === 'address') return sql`hex(${column}) AS ${alias}`;
    if (c.kind === 'datetime') return sql`toUnixTimestamp(${column}) AS ${alias}`;
    if (c.kind === 'enum') return sql`toString(${column}) AS ${alias}`;
    return sql`${column} AS ${alias}`;
  }),
  ', ',
);

/** The client and server ends, oriented as flows_1h orients them (migrations/clickhouse/0004). */
const CLIENT = sql`if(server_side = 'src', dst_addr, src_addr)`;
const SERVER = sql`if(server_side = 'src', src_addr, dst_addr)`;

/** Prefixes of 32 hex digits are addresses: tested with a hash set on the column itself, no hex() per row. */
const ADDRESS_DIGITS = 32;

/**
 * Sets of at most this many ranges are tested by comparing the address with each range's bounds,
 * which is cheaper per row than hex(); larger ones by their hex prefixes, since 18.16 takes about
 * 4 ms per range comparison just to analyse the query (over a second at 256 ranges).
 */
const MAX_RANGE_TESTS = 16;
const byDigits = (set: PrefixSet): boolean => set.ranges.length > MAX_RANGE_TESTS;

/** The prefix sets a query tests, each with the name its lists are bound under. */
type SetName = 'addresses' | 'clients' | 'servers' | 'members';

function prefixSets(q: CheckedSearch): [SetName, PrefixSet][] {
  const sets: [SetName, PrefixSet | undefined][] = [['addresses', q.addresses], ['clients', q.clients], ['servers', q.servers], ['members', q.endpoints?.whole]];
  return sets.filter((entry): entry is [SetName, PrefixSet] => entry[1] !== undefined);
}

const strings = (values: readonly string[]): Sql => lit.array(values.map((v) => lit.string(v)));
const digitsList = (name: SetName, digits: number): Sql => identifier(`m_${name}_${digits}`);

/**
 * The lists a query's tests read, bound once in its WITH clause (both ends, PREWHERE and WHERE
 * read them): each prefix set's hex prefixes by length; the part-time hosts and their intervals,
 * packed ten digits a bound; the part-time ranges. transform() looks a key up in a hash table built
 * once per query, which is what makes a list of thousands cheap per row (has() would scan it, and
 * an OR of range comparisons costs 18.16 a second to analyse at a few hundred terms).
 */
function boundLists(q: CheckedSearch): Sql[] {
  const lists: Sql[] = [];
  for (const [name, set] of prefixSets(q)) {
    if (!byDigits(set)) continue;
    for (const [digits, prefixes] of set.digits) if (digits > 0 && digits < ADDRESS_DIGITS) lists.push(sql`${strings(prefixes)} AS ${digitsList(name, digits)}`);
  }
  const e = q.endpoints;
  if (e !== undefined && e.hosts.length > 0) {
    lists.push(sql`${strings(e.hosts.map((h) => h.hex))} AS m_host_keys`);
    lists.push(sql`${strings(e.hosts.map((h) => h.intervals.map(([f, t]) => `${String(f).padStart(10, '0')}${String(t).padStart(10, '0')}`).join('')))} AS m_host_intervals`);
  }
  if (e !== undefined && e.ranges.length > 0) {
    const numbers = (values: readonly number[]): Sql => lit.array(values.map((v) => lit.uint(v, 32)));
    lists.push(sql`${strings(e.ranges.map((r) => r.first))} AS m_range_first`, sql`${strings(e.ranges.map((r) => r.last))} AS m_range_last`);
    lists.push(sql`${numbers(e.ranges.map((r) => r.from))} AS m_range_from`, sql`${numbers(e.ranges.map((r) => r.to))} AS m_range_to`);
  }
  return lists;
}

/** An IN set of addresses from one array literal of hex (one AST node, where a literal per address would be one each, against max_ast_elements). */
const addressSet = (hexes: readonly string[]): Sql => sql`(SELECT toFixedString(unhex(arrayJoin(${strings(hexes)})), 16))`;

/** `end` (an address expression) is in the set: by its ranges' bounds, or one test per length of its hex prefixes (::/0 holds every end). */
function inSet(end: Sql, name: SetName, set: PrefixSet): Sql {
  if (!byDigits(set)) return sql`(${joinSql(set.ranges.map((r) => sql`(${end} >= ${lit.address(r.first)} AND ${end} <= ${lit.address(r.last)})`), ' OR ')})`;
  const parts = [...set.digits].map(([digits, prefixes]) => {
    if (digits === 0) return sql`1`;
    if (digits === ADDRESS_DIGITS) return sql`${end} IN ${addressSet(prefixes)}`;
    const list = digitsList(name, digits);
    return sql`transform(substring(hex(${end}), 1, ${lit.uint(digits, 8)}), ${list}, ${list}, '') != ''`;
  });
  return sql`(${joinSql(parts, ' OR ')})`;
}

/**
 * Whether an end is a group member (store/search.ts on the three kinds), in two forms. `exact`:
 * the end is in the whole-range set, or a part-time host one of whose intervals holds the flow's
 * second, or inside a part-time range while the second is in the range's interval. `candidate`:
 * the same without the time tests, part-time hosts by a hash set on the column — a superset,
 * cheap enough for every row in PREWHERE; the exact test then runs in WHERE on the rows left.
 */
function memberSql(end: 'src_addr' | 'dst_addr', e: CheckedEndpoints, form: 'exact' | 'candidate'): Sql {
  const column = identifier(end);
  const hex = sql`hex(${column})`;
  const seconds = sql`toUInt32(time_received)`;
  const parts: Sql[] = [];
  if (e.whole.ranges.length > 0) parts.push(inSet(column, 'members', e.whole));
  if (e.hosts.length > 0 && form === 'candidate') parts.push(sql`${column} IN ${addressSet(e.hosts.map((h) => h.hex))}`);
  if (e.hosts.length > 0 && form === 'exact') {
    const intervals = identifier(`m_intervals_${end}`);
    const bound = (offset: number): Sql => sql`toUInt32(substring(${intervals}, i * 20 + ${lit.uint(offset, 8)}, 10))`;
    parts.push(sql`arrayExists(i -> ${seconds} >= ${bound(1)} AND ${seconds} < ${bound(11)}, range(intDiv(length(transform(${hex}, m_host_keys, m_host_intervals, '') AS ${intervals}), 20)))`);
  }
  if (e.ranges.length > 0) {
    // The end's hex is named outside the lambda: 18.16 does not read a column that a WHERE
    // mentions only inside a lambda ("Unknown identifier") when nothing else selects it.
    const named = identifier(`m_hex_${end}`);
    const inside = sql`${named} >= r_first AND ${named} <= r_last`;
    const test =
      form === 'candidate'
        ? sql`arrayExists((r_first, r_last) -> ${inside}, m_range_first, m_range_last)`
        : sql`arrayExists((r_first, r_last, r_from, r_to) -> ${inside} AND ${seconds} >= r_from AND ${seconds} < r_to, m_range_first, m_range_last, m_range_from, m_range_to)`;
    parts.push(sql`(notEmpty(${hex} AS ${named}) AND ${test})`);
  }
  return sql`(${joinSql(parts, ' OR ')})`;
}

/** The part-time members' exact test, for WHERE; undefined when every member counts the whole range (the candidate test is exact then). */
function exactMembersSql(q: CheckedSearch): Sql | undefined {
  const e = q.endpoints;
  if (e === undefined || (e.hosts.length === 0 && e.ranges.length === 0)) return undefined;
  return sql`(${memberSql('src_addr', e, 'exact')} OR ${memberSql('dst_addr', e, 'exact')})`;
}

const BITS: Partial<Record<string, IntBits>> = { u8: 8, u16: 16, u32: 32, u64: 64, datetime: 32 };

/** A key column as the cursor compares it: enums by their Enum8 value, which migrations/clickhouse/0001 makes their index in FLOW_COLUMNS. */
function keyColumn(name: FlowColumnName): Sql {
  const kind = columnKind(name);
  if (kind === 'enum') return sql`toUInt8(${identifier(name)})`;
  if (kind === 'datetime') return sql`toUInt32(${identifier(name)})`;
  return identifier(name);
}

function keyLiteral(name: FlowColumnName, value: number | string): Sql {
  if (columnKind(name) === 'address') return lit.address(Uint8Array.from(Buffer.from(String(value), 'hex')));
  return lit.uint(Number(value), BITS[columnKind(name)] ?? 8);
}

/** The conditions of the search's filters, for PREWHERE (the window's range comes first). */
function filterSql(q: CheckedSearch, window: { from: number; to: number }): Sql {
  const conditions: Sql[] = [sql`time_received >= ${lit.dateTime(window.from)}`, sql`time_received < ${lit.dateTime(window.to)}`];
  if (q.addresses !== undefined) conditions.push(sql`(${inSet(sql`src_addr`, 'addresses', q.addresses)} OR ${inSet(sql`dst_addr`, 'addresses', q.addresses)})`);
  if (q.clients !== undefined) conditions.push(inSet(CLIENT, 'clients', q.clients));
  if (q.servers !== undefined) conditions.push(inSet(SERVER, 'servers', q.servers));
  if (q.ports !== undefined) {
    const ports = lit.inList(q.ports.map((p) => lit.uint(p, 16)));
    conditions.push(sql`(src_port IN ${ports} OR dst_port IN ${ports})`);
  }
  if (q.protocol !== undefined) conditions.push(sql`proto = ${lit.uint(q.protocol, 8)}`);
  if (q.exporter !== undefined) conditions.push(sql`exporter = ${lit.address(q.exporter)}`);
  if (q.action !== undefined) conditions.push(sql`action = ${lit.string(q.action)}`);
  if (q.endpoints !== undefined) conditions.push(sql`(${memberSql('src_addr', q.endpoints, 'candidate')} OR ${memberSql('dst_addr', q.endpoints, 'candidate')})`);
  return joinSql(conditions, ' AND ');
}

function withClause(q: CheckedSearch): Sql {
  const lists = boundLists(q);
  return lists.length === 0 ? sql`` : sql`WITH ${joinSql(lists, ', ')} `;
}

/**
 * One window's query: the rows in [from, to) that pass the filters and come after the cursor, in
 * the sort's order, at most `count`; with `minBytes` (bytes-desc, from bytesThresholdSql) only
 * rows of at least that many bytes. Callers never run it for a search whose `none` is set (an
 * empty IN list has no SQL form).
 */
export function searchWindowSql(q: CheckedSearch, window: { from: number; to: number }, count: number, minBytes?: number): Sql {
  const key = SEARCH_KEYS[q.sort];
  const direction = isDescending(q.sort) ? sql`DESC` : sql`ASC`;
  const order = joinSql([...key, ...SEARCH_STRINGS].map((name) => sql`${identifier(name)} ${direction}`), ', ');
  let filters = filterSql(q, window);
  if (minBytes !== undefined) filters = sql`${filters} AND bytes >= ${lit.uint(minBytes, 64)}`;
  const exact: Sql[] = [];
  const members = exactMembersSql(q);
  if (members !== undefined) exact.push(members);
  if (q.cursor !== undefined) {
    const cursor = q.cursor;
    const mine = sql`tuple(${joinSql(key.map(keyColumn), ', ')})`;
    const theirs = sql`tuple(${joinSql(key.map((name, i) => keyLiteral(name, cursor.key[i] ?? 0)), ', ')})`;
    // At or past the cursor's key: rows equal to it are dropped by count (store/search.ts).
    exact.push(isDescending(q.sort) ? sql`${mine} <= ${theirs}` : sql`${mine} >= ${theirs}`);
    // The leading key column alone, where PREWHERE can use it.
    const lead = key[0] as FlowColumnName;
    filters = sql`${filters} AND ${keyColumn(lead)} ${isDescending(q.sort) ? sql`<=` : sql`>=`} ${keyLiteral(lead, cursor.key[0] ?? 0)}`;
  }
  const where = exact.length === 0 ? sql`` : sql` WHERE ${joinSql(exact, ' AND ')}`;
  return sql`${withClause(q)}SELECT ${FLOW_SELECT} FROM flows PREWHERE ${filters}${where} ORDER BY ${order} LIMIT ${lit.uint(count, 32)}`;
}

/**
 * bytes-desc, the first of two steps: the `count`-th largest bytes among the matching rows of the
 * window below the cursor's bytes, reading only the bytes column and the filters' — not all 26
 * columns of every row, as one ORDER BY over whole rows must on 18.16 (3-6 s against under 1 s at
 * 16M rows). No row when fewer match. The second step, searchWindowSql with that as `minBytes`,
 * reads whole rows from there up: all rows after the cursor are either of the cursor's bytes or
 * below it, and of those below, the `count` largest are at or above the threshold.
 */
export function bytesThresholdSql(q: CheckedSearch, window: { from: number; to: number }, count: number): Sql {
  const bytesAt = SEARCH_KEYS[q.sort].indexOf('bytes');
  const below = q.cursor === undefined ? sql`` : sql` AND bytes < ${lit.uint(Number(q.cursor.key[bytesAt] ?? 0), 64)}`;
  const members = exactMembersSql(q);
  const where = members === undefined ? sql`` : sql` WHERE ${members}`;
  return sql`${withClause(q)}SELECT bytes AS c_bytes FROM flows PREWHERE ${filterSql(q, window)}${below}${where} ORDER BY bytes DESC LIMIT ${lit.uint(count - 1, 32)}, 1`;
}
