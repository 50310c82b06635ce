// Flow search on both stores (Store.searchFlows): every sort, filter and page size paged through
// to the end must give exactly what a brute-force filter and sort of the inserted records gives
// (store/search-testing.ts), with page boundaries among 40 flows of one second, exact duplicates,
// IPv4, IPv6 and IPv4-mapped ends, /0 and /128 prefixes and empty answers. Cursors are untrusted:
// a malformed one is FLOWMAP_BAD_REQUEST, never a crash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { flowBatchOf, type FlowRecord } from '../core/flow.js';
import { isFlowmapError } from '../core/errors.js';
import { maskAddress, parseAddress, parsePrefix, type Prefix } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { serviceUrl } from '../test/services.js';
import { FLOW_SEARCH_SORTS, MAX_SEARCH_ENDPOINTS, MAX_SEARCH_LIMIT, MAX_SEARCH_PORTS, MAX_SEARCH_PREFIXES, type FlowSearchQuery, type Store, type TimedPrefix } from './port.js';
import { createClickHouseStore } from './clickhouse/adapter.js';
import { identifier, sql, toText } from './clickhouse/literal.js';
import { searchWindowSql } from './clickhouse/search.js';
import { createDuckDBStore } from './duckdb/adapter.js';
import { checkSearchQuery, hexPrefixes } from './search.js';
import { pageThrough, random, searchOracle, searchRecords } from './search-testing.js';

/** 2026-01-10 00:00:00 UTC. */
const DAY0 = 1_768_003_200;
const DAY = 86_400;
const HOUR = 3600;
const RANGE = { from: DAY0 - 25 * DAY, to: DAY0 + 2 * DAY };
const BUSY_SECOND = DAY0 + 5 * HOUR + 17;
const P = (text: string): Prefix => parsePrefix(text);

async function refused(work: Promise<unknown>, parameter: string): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(isFlowmapError(err, 'FLOWMAP_BAD_REQUEST'), `expected FLOWMAP_BAD_REQUEST, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.details.parameter, parameter, err.message);
    return true;
  });
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Filters, each checked in every sort against the oracle. */
const FILTERS: [string, Omit<FlowSearchQuery, 'from' | 'to'>][] = [
  ['no filter', {}],
  ['an IPv4 /24 on either end', { addresses: [P('10.1.0.0/24')] }],
  ['an IPv6 /32 on either end', { addresses: [P('2001:db8::/32')] }],
  ['::/0, every address', { addresses: [P('::/0')] }],
  ['0.0.0.0/0, every IPv4 (IPv4-mapped) address and no IPv6 one', { addresses: [P('0.0.0.0/0')] }],
  ['an IPv4 prefix written IPv4-mapped', { addresses: [P('::ffff:10.1.0.0/112')] }],
  ['/128 hosts at both ends of the address space', { addresses: [P('::/128'), P('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128')] }],
  ['an IPv4 /32 and an IPv6 /8 together', { addresses: [P('10.2.0.9/32'), P('fd00::/8')] }],
  ['clients (oriented: server_side src makes the destination the client)', { clients: [P('10.1.0.0/16')] }],
  ['servers (oriented)', { servers: [P('10.2.0.9'), P('2001:db8:1::/48')] }],
  ['clients and servers together', { clients: [P('2001:db8::/32')], servers: [P('2001:db8:1::/48')] }],
  ['a port on either end', { ports: [443] }],
  ['ports 0 and 65535', { ports: [0, 65535] }],
  ['a protocol', { protocol: 17 }],
  ['a protocol nothing uses', { protocol: 255 }],
  ['an IPv6 exporter', { exporter: parseAddress('2001:db8:ffff::1') }],
  ['an action', { action: 'reject' }],
  ['every filter at once', { addresses: [P('10.0.0.0/8')], servers: [P('10.2.0.9')], ports: [443], protocol: 6, exporter: parseAddress('192.0.2.1'), action: 'unknown' }],
  ['an empty address list matches nothing', { addresses: [] }],
  ['an empty port list matches nothing', { ports: [] }],
];

/** Group members (endpoints), each checked in every sort against the oracle. */
const MEMBERS: [string, TimedPrefix[]][] = [
  ['a host for one hour', [{ prefix: P('10.1.0.1'), from: DAY0 + HOUR, to: DAY0 + 2 * HOUR }]],
  ['a host over the whole range', [{ prefix: P('2001:db8::1') }]],
  ['a prefix over the whole range', [{ prefix: P('10.2.0.0/16') }]],
  ['a prefix for one day', [{ prefix: P('10.1.0.0/24'), from: DAY0, to: DAY0 + DAY }]],
  ['a host in overlapping, touching and separate intervals', [
    { prefix: P('10.1.0.2'), from: DAY0 + 100, to: DAY0 + 5000 },
    { prefix: P('10.1.0.2'), from: DAY0 + 4000, to: DAY0 + 9000 },
    { prefix: P('10.1.0.2'), from: DAY0 + 9000, to: DAY0 + 10_000 },
    { prefix: P('10.1.0.2'), from: DAY0 + 50_000, to: DAY0 + 60_000 },
  ]],
  ['an interval wider than the range counts as the whole range', [{ prefix: P('10.1.1.0/24'), from: 0, to: 4_294_967_295 }]],
  ['::/0 over the whole range', [{ prefix: P('::/0') }]],
  ['prefix lengths that are no multiple of four', [{ prefix: P('10.1.0.0/23') }, { prefix: P('2001:db8::/33') }, { prefix: P('::/1') }, { prefix: P('fd00::/127') }, { prefix: P('172.16.5.4/30'), from: DAY0 + DAY }]],
  ['the busy second exactly', [{ prefix: P('10.2.0.9'), from: BUSY_SECOND, to: BUSY_SECOND + 1 }, { prefix: P('2001:db8:1::53'), from: BUSY_SECOND, to: BUSY_SECOND + 1 }]],
  ['no members matches nothing', []],
  ['members outside the range match nothing', [{ prefix: P('::/0'), from: 0, to: RANGE.from }]],
  ['an empty interval matches nothing', [{ prefix: P('::/0'), from: DAY0, to: DAY0 }]],
];

interface Harness {
  store: Store;
  cleanup(): Promise<void>;
  /** ClickHouse only: runs one window's SQL with settings. */
  raw?: (text: string, settings: Record<string, number>) => Promise<unknown[]>;
}

function describeSearch(name: string, skip: string | false, open: () => Promise<Harness>): void {
  describe(`flow search: ${name}`, { skip }, () => {
    let h: Harness;
    let store: Store;
    const records: FlowRecord[] = searchRecords(DAY0);

    before(async () => {
      h = await open();
      store = h.store;
      await store.migrate();
      // Three batches: in ClickHouse, three parts (and the duplicates split between them).
      const third = Math.ceil(records.length / 3);
      for (let i = 0; i < records.length; i += third) await store.insertFlows(flowBatchOf(records.slice(i, i + third)));
    });
    after(async () => {
      await h?.cleanup();
    });

    it('pages through every sort at page sizes 7 and 1000 to exactly the oracle, nothing skipped or repeated', async () => {
      for (const sort of FLOW_SEARCH_SORTS) {
        const expected = searchOracle(records, { ...RANGE, sort });
        assert.ok(expected.length > 400, 'the range holds the estate');
        for (const limit of [7, 1000]) {
          const { rows, pages } = await pageThrough(store, { ...RANGE, sort, limit });
          assert.deepEqual(rows, expected, `${sort} by ${limit}`);
          assert.ok(pages.slice(0, -1).every((p) => p.flows === limit && p.nextCursor !== undefined), 'every page but the last is full');
          assert.equal(pages[pages.length - 1]?.nextCursor, undefined);
          assert.equal(pages.length, Math.ceil(expected.length / limit));
        }
      }
    });

    it('pages one, two and three rows at a time through 40 flows of one second, 4 of them identical and 6 differing only in a cloud string', async () => {
      const second = { from: BUSY_SECOND, to: BUSY_SECOND + 1 };
      for (const sort of FLOW_SEARCH_SORTS) {
        const expected = searchOracle(records, { ...second, sort });
        assert.equal(expected.length, 40);
        for (const limit of [1, 2, 3]) {
          const { rows } = await pageThrough(store, { ...second, sort, limit });
          assert.deepEqual(rows, expected, `${sort} by ${limit}`);
        }
      }
    });

    for (const [what, filter] of FILTERS) {
      it(`filters: ${what}`, async () => {
        for (const sort of FLOW_SEARCH_SORTS) {
          const query = { ...RANGE, ...filter, sort, limit: 50 };
          const expected = searchOracle(records, query);
          const { rows } = await pageThrough(store, query);
          assert.deepEqual(rows, expected, sort);
        }
      });
    }

    it('filters that must match something do (the table above is not vacuous)', () => {
      const sizes = FILTERS.map(([what, filter]) => [what, searchOracle(records, { ...RANGE, ...filter }).length] as const);
      const empty = sizes.filter(([, n]) => n === 0).map(([what]) => what);
      assert.deepEqual(empty, ['a protocol nothing uses', 'an empty address list matches nothing', 'an empty port list matches nothing']);
      const all = searchOracle(records, RANGE).length;
      assert.ok(sizes.filter(([, n]) => n > 0 && n < all).length >= 14, JSON.stringify(sizes));
    });

    for (const [what, endpoints] of MEMBERS) {
      it(`group members: ${what}`, async () => {
        for (const sort of FLOW_SEARCH_SORTS) {
          const query = { ...RANGE, endpoints, sort, limit: 40 };
          const { rows } = await pageThrough(store, query);
          assert.deepEqual(rows, searchOracle(records, query), sort);
        }
      });
    }

    it(`group members by the thousand: ${MAX_SEARCH_ENDPOINTS} part-time hosts and prefixes, with other filters`, async () => {
      const next = random(7);
      const endpoints: TimedPrefix[] = [];
      // Mostly hosts nobody talks to, a few that flows use, and prefixes of every length.
      const used = ['10.1.0.1', '10.1.0.255', '2001:db8::2', '::1', '255.255.255.255', '192.168.1.1'];
      while (endpoints.length < MAX_SEARCH_ENDPOINTS - 200) {
        const from = DAY0 + Math.floor(next() * 2 * DAY);
        const host = endpoints.length % 97 === 0 ? (used[endpoints.length % used.length] as string) : `10.${100 + Math.floor(next() * 100)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}`;
        endpoints.push({ prefix: P(host), from, to: from + Math.floor(next() * 8 * HOUR) });
      }
      for (let i = 0; endpoints.length < MAX_SEARCH_ENDPOINTS; i++) {
        const length = 97 + (i % 32);
        const from = DAY0 + Math.floor(next() * DAY);
        const prefix = { address: maskAddress(parseAddress(i % 2 === 0 ? '10.1.0.0' : '172.16.5.4'), length), length, family: 4 as const };
        endpoints.push({ prefix, ...(next() < 0.5 ? {} : { from, to: from + 4 * HOUR }) });
      }
      // One page per search, and one search paged in pieces.
      const extras = [{}, { protocol: 6, ports: [443, 53] }, { clients: [P('10.1.0.0/24')] }];
      for (const [i, sort] of FLOW_SEARCH_SORTS.entries()) {
        const query = { ...RANGE, endpoints, sort, limit: 1000, ...extras[i] };
        const expected = searchOracle(records, query);
        assert.ok(expected.length > 0);
        const page = await store.searchFlows(query);
        assert.deepEqual(page.flows, expected, `${sort} ${JSON.stringify(extras[i])}`);
        assert.equal(page.nextCursor, undefined);
      }
      const query = { ...RANGE, endpoints, limit: 40 };
      assert.deepEqual((await pageThrough(store, query)).rows, searchOracle(records, query));
    });

    it('takes every list at its maximum at once (no query-size or expression limit in the way)', async () => {
      const next = random(11);
      const prefixes = (base: string): Prefix[] => [P(base), ...Array.from({ length: MAX_SEARCH_PREFIXES - 1 }, () => P(`${100 + Math.floor(next() * 100)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}.0/24`))];
      const endpoints: TimedPrefix[] = Array.from({ length: MAX_SEARCH_ENDPOINTS - 1 }, (_, i) => ({ prefix: P(`10.${200 + (i % 50)}.${Math.floor(i / 50) % 256}.${i % 256}`), from: DAY0 + i, to: DAY0 + i + HOUR }));
      endpoints.push({ prefix: P('10.2.0.9') });
      const query: FlowSearchQuery = {
        ...RANGE,
        addresses: prefixes('10.0.0.0/8'),
        clients: prefixes('10.1.0.0/24'),
        servers: prefixes('10.2.0.9'),
        ports: [443, ...Array.from({ length: MAX_SEARCH_PORTS - 1 }, (_, i) => 1000 + i)],
        endpoints,
        sort: 'bytes-desc',
        limit: MAX_SEARCH_LIMIT,
      };
      const expected = searchOracle(records, query);
      assert.ok(expected.length >= 30);
      assert.deepEqual((await store.searchFlows(query)).flows, expected);
    });

    it('reads [from, to) on time_received: the first second in, the end out, an empty range empty', async () => {
      const two = { from: DAY0, to: DAY0 + 2 * DAY };
      const asc = await store.searchFlows({ ...two, sort: 'time-asc', limit: 1 });
      assert.equal(asc.flows[0]?.time, new Date(DAY0 * 1000).toISOString());
      const desc = await store.searchFlows({ ...two, limit: 1 });
      assert.equal(desc.flows[0]?.time, new Date((DAY0 + 2 * DAY - 1) * 1000).toISOString());
      for (const sort of FLOW_SEARCH_SORTS) {
        const empty = await store.searchFlows({ from: DAY0 + 60, to: DAY0 + 60, sort });
        assert.deepEqual(empty.flows, []);
        assert.equal(empty.nextCursor, undefined);
        const before = await store.searchFlows({ from: 0, to: DAY0 - 25 * DAY, sort });
        assert.deepEqual(before.flows, [], 'nothing before the estate');
      }
    });

    it('accounts for the range page by page: the scanned spans tile it, and each holds only rows handed out already', async () => {
      for (const sort of ['time-desc', 'time-asc'] as const) {
        const query = { from: DAY0 - DAY, to: DAY0 + 2 * DAY, sort, limit: 25 };
        const expected = searchOracle(records, query);
        const seen: string[] = [];
        let cursor: string | undefined;
        let previous: { scannedFrom: string; scannedTo: string } | undefined;
        const edges: string[] = [];
        do {
          const page = await store.searchFlows({ ...query, ...(cursor === undefined ? {} : { cursor }) });
          seen.push(...page.flows.map((f) => JSON.stringify(f)));
          const inside = expected.filter((f) => f.time >= page.scannedFrom && f.time < page.scannedTo);
          assert.ok(inside.every((f) => seen.includes(JSON.stringify(f))), `${sort}: a row of [${page.scannedFrom}, ${page.scannedTo}) is still to come`);
          if (previous !== undefined) assert.equal(sort === 'time-desc' ? page.scannedTo : page.scannedFrom, sort === 'time-desc' ? previous.scannedFrom : previous.scannedTo, 'pages adjoin');
          else edges.push(sort === 'time-desc' ? page.scannedTo : page.scannedFrom);
          previous = page;
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        edges.push(sort === 'time-desc' ? (previous?.scannedFrom ?? '') : (previous?.scannedTo ?? ''));
        const iso = (s: number): string => new Date(s * 1000).toISOString();
        assert.deepEqual(edges, sort === 'time-desc' ? [iso(query.to), iso(query.from)] : [iso(query.from), iso(query.to)]);
      }
      const bytes = await store.searchFlows({ from: DAY0, to: DAY0 + DAY, sort: 'bytes-desc' });
      assert.deepEqual([bytes.scannedFrom, bytes.scannedTo], [new Date(DAY0 * 1000).toISOString(), new Date((DAY0 + DAY) * 1000).toISOString()]);
    });

    it('refuses malformed, tampered and foreign cursors with FLOWMAP_BAD_REQUEST', async () => {
      const first = await store.searchFlows({ ...RANGE, limit: 3 });
      const good = first.nextCursor ?? '';
      const decoded = JSON.parse(Buffer.from(good, 'base64url').toString('utf8')) as { v: number; s: string; k: unknown[]; n: number };
      const tampered = (change: (c: { v: unknown; s: unknown; k: unknown[]; n: unknown } & Record<string, unknown>) => void): string => {
        const copy = structuredClone(decoded) as { v: unknown; s: unknown; k: unknown[]; n: unknown } & Record<string, unknown>;
        change(copy);
        return b64(copy);
      };
      const bad = [
        '',
        'not base64!',
        "' OR 1=1 --",
        '%00',
        'A'.repeat(5000),
        Buffer.from('not json').toString('base64url'),
        b64(null),
        b64([]),
        b64({ v: 1 }),
        b64('x'),
        tampered((c) => { c.v = 2; }),
        tampered((c) => { c.extra = 1; }),
        tampered((c) => { c.k = c.k.slice(1); }),
        tampered((c) => { c.k[0] = -1; }),
        tampered((c) => { c.k[0] = 2 ** 32; }),
        tampered((c) => { c.k[0] = 1.5; }),
        tampered((c) => { c.k[0] = '1'; }),
        tampered((c) => { c.k[2] = "'; DROP TABLE flows; --"; }),
        tampered((c) => { c.k[2] = 'ZZ'.repeat(16); }),
        tampered((c) => { c.k[1] = 2 ** 60; }),
        tampered((c) => { c.k[c.k.length - 1] = 3; }),
        tampered((c) => { c.n = 0; }),
        tampered((c) => { c.n = 10_000_000; }),
        tampered((c) => { c.n = '1'; }),
        tampered((c) => { c.s = 'bytes-desc'; }),
      ];
      for (const cursor of bad) await refused(store.searchFlows({ ...RANGE, cursor }), 'cursor');
      await refused(store.searchFlows({ ...RANGE, sort: 'time-asc', cursor: good }), 'cursor');
      // The good one still works, and a well-formed one past every row is simply the end.
      assert.equal((await store.searchFlows({ ...RANGE, limit: 3, cursor: good })).flows.length, 3);
      const end = await store.searchFlows({ ...RANGE, cursor: tampered((c) => { c.k[0] = 0; }) });
      assert.deepEqual([end.flows, end.nextCursor], [[], undefined]);
    });

    it('refuses bad queries naming the field', async () => {
      await refused(store.searchFlows({ from: 10, to: 5 }), 'from');
      await refused(store.searchFlows({ from: 1.5, to: 5 }), 'from');
      await refused(store.searchFlows({ from: -1, to: 5 }), 'from');
      for (const limit of [0, 1001, 2.5]) await refused(store.searchFlows({ ...RANGE, limit }), 'limit');
      await refused(store.searchFlows({ ...RANGE, sort: 'bytes' as never }), 'sort');
      await refused(store.searchFlows({ ...RANGE, ports: [65536] }), 'ports');
      await refused(store.searchFlows({ ...RANGE, ports: Array.from({ length: 257 }, (_, i) => i) }), 'ports');
      await refused(store.searchFlows({ ...RANGE, protocol: 256 }), 'protocol');
      await refused(store.searchFlows({ ...RANGE, exporter: new Uint8Array(4) }), 'exporter');
      await refused(store.searchFlows({ ...RANGE, action: 'drop' as never }), 'action');
      const hostBits = { address: parseAddress('10.1.0.1'), length: 120, family: 4 as const };
      await refused(store.searchFlows({ ...RANGE, addresses: [hostBits] }), 'addresses[0]');
      await refused(store.searchFlows({ ...RANGE, clients: [{ ...hostBits, length: 129 }] }), 'clients[0]');
      await refused(store.searchFlows({ ...RANGE, endpoints: [{ prefix: P('10.0.0.0/8'), from: -5 }] }), 'endpoints');
      await refused(store.searchFlows({ ...RANGE, endpoints: Array.from({ length: MAX_SEARCH_ENDPOINTS + 1 }, () => ({ prefix: P('10.0.0.1') })) }), 'endpoints');
    });

    it('leaves the flows untouched: hostile strings in the data come back as they went in', async () => {
      const hostile = await pageThrough(store, { from: BUSY_SECOND, to: BUSY_SECOND + 1, addresses: [P('2001:db8::1')], limit: 3 });
      assert.deepEqual(hostile.rows.map((r) => r.cloud.interface).filter((s) => s !== '').sort(), ['eni-a', 'eni-b', 'eni-c', "eni-'; DROP TABLE flows; --", 'eni-nul\0x', 'eni-ünï-日本-🚀'].sort());
      assert.equal((await store.flowTotals({ from: 0, to: 2 ** 32 - 1 })).flows, records.length);
    });

    if (name === 'clickhouse') {
      it('reads through the partition key and the primary key (ClickHouse refuses the query otherwise)', async () => {
        const raw = h.raw;
        assert.ok(raw !== undefined);
        const settings = { force_index_by_date: 1, force_primary_key: 1 };
        for (const query of [{ ...RANGE }, { ...RANGE, addresses: [P('10.1.0.0/16')], sort: 'bytes-desc' as const }, { ...RANGE, endpoints: MEMBERS[7]?.[1] ?? [] }]) {
          const checked = checkSearchQuery(query);
          const rows = await raw(toText(searchWindowSql(checked, { from: DAY0 + HOUR, to: DAY0 + 3 * HOUR }, 10)), settings);
          assert.ok(rows.length > 0);
        }
      });
    }
  });
}

describe('flow search helpers', () => {
  it('splits a prefix into hex-digit prefixes: one for lengths that are multiples of four, 2, 4 or 8 otherwise', () => {
    assert.deepEqual(hexPrefixes(P('::/0')), ['']);
    assert.deepEqual(hexPrefixes(P('2001:db8::/32')), ['20010DB8']);
    assert.deepEqual(hexPrefixes(P('8000::/1')), ['8', '9', 'A', 'B', 'C', 'D', 'E', 'F']);
    assert.deepEqual(hexPrefixes(P('10.1.0.0/23')), ['00000000000000000000FFFF0A0100', '00000000000000000000FFFF0A0101']);
    assert.deepEqual(hexPrefixes(P('2001:db8::1/128')), ['20010DB8000000000000000000000001']);
    assert.deepEqual(hexPrefixes(P('fd00::/127')), ['FD000000000000000000000000000000', 'FD000000000000000000000000000001']);
  });
});

const logger = silentLogger();

describeSearch('duckdb', false, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-search-'));
  const store = await createDuckDBStore({ dataDir: dir }, { logger });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const ch = serviceUrl('clickhouse');
describeSearch('clickhouse', ch.skip, async () => {
  const url = ch.url ?? '';
  const database = `flowmap_search_${randomBytes(4).toString('hex')}`;
  const store = await createClickHouseStore({ url, database, user: 'default', password: '', requestTimeoutMs: 30_000 }, { logger });
  const client = createClient({ url, database });
  return {
    store,
    raw: async (text, settings) => (await client.query({ query: text, format: 'JSONEachRow', clickhouse_settings: settings })).json(),
    cleanup: async () => {
      await store.close();
      await client.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) });
      await client.close();
    },
  };
});
