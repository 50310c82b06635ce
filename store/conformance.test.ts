// One suite, two adapters: the same inputs must give the same answers from the embedded DuckDB
// store and from a real ClickHouse. Expected values are computed here from the input records, not
// by the store code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { createFlowBatch, FLOW_COLUMNS, flowAt, flowBatchOf, type FlowRecord } from '../core/flow.js';
import { formatAddress, parseAddress } from '../core/ip.js';
import { isFlowmapError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { serviceUrl } from '../test/services.js';
import { MIGRATIONS_ROOT } from './migrate.js';
import { MAX_HOURLY_ADDRESSES, MAX_SPLIT_HOURS, type AddressHour, type AggregateKey, type BaselineHostRow, type ConversationQuery, type ConversationRow, type ExporterStatus, type ListenerEvidence, type RollupKey, type Store } from './port.js';
import { createClickHouseStore } from './clickhouse/adapter.js';
import { identifier, sql, toText } from './clickhouse/literal.js';
import { createDuckDBStore, DUCKDB_FILE } from './duckdb/adapter.js';

const T0 = 1_763_000_000; // 2025-11-13, an hour boundary is irrelevant here
const A = (text: string): Uint8Array => parseAddress(text);
const EXPORTER = A('192.0.2.1');

function record(overrides: Partial<FlowRecord>): FlowRecord {
  return { time_received: T0, source: 'netflow9', exporter: EXPORTER, src_addr: A('10.0.0.1'), dst_addr: A('10.0.0.2'), ...overrides };
}

/** A small estate: web → api on 8080, api → db on 5432, v6 clients, edge values. */
function sampleRecords(): FlowRecord[] {
  const records: FlowRecord[] = [];
  for (let i = 0; i < 30; i++) {
    records.push(record({ time_received: T0 + i * 60, src_addr: A(`10.0.1.${1 + (i % 3)}`), dst_addr: A('10.0.2.10'), src_port: 40000 + i, dst_port: 8080, proto: 6, tcp_flags: 0x1b, bytes: 1000 + i, packets: 10, server_side: 'dst' }));
  }
  for (let i = 0; i < 20; i++) {
    records.push(record({ time_received: T0 + 100 + i * 90, source: 'ipfix', src_addr: A('10.0.2.10'), dst_addr: A('10.0.3.5'), src_port: 50000 + i, dst_port: 5432, proto: 6, bytes: 5000, packets: 40, sampling_rate: 1 }));
  }
  for (let i = 0; i < 10; i++) {
    records.push(record({ time_received: T0 + 200 + i, source: 'sflow', src_addr: A('2001:db8::10'), dst_addr: A('2001:db8:1::53'), src_port: 33000 + i, dst_port: 53, proto: 17, bytes: 80, packets: 1, sampling_rate: 1000, observation_domain: 7 }));
  }
  records.push(
    record({
      time_received: T0 + 3599,
      source: 'aws_vpc',
      exporter: A('::1'),
      src_addr: A('203.0.113.9'),
      dst_addr: A('10.0.2.10'),
      src_port: 443,
      dst_port: 61000,
      proto: 6,
      bytes: Number.MAX_SAFE_INTEGER,
      packets: 2 ** 40,
      action: 'reject',
      in_if: 0xffffffff,
      out_if: 1,
      vlan: 4095,
      cloud_account: "123456789012'; DROP TABLE flows; --",
      cloud_region: 'eu-west-1\tline\nbreak\\back\rcr\0nul',
      cloud_vpc: 'vpc-ünïcødé-日本-🚀',
      cloud_subnet: 'subnet-"quoted"',
      cloud_instance: 'i-0abc',
      cloud_interface: 'eni-1',
      server_side: 'src',
    }),
  );
  return records;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const MIGRATIONS = [
  '0001_flows.sql',
  '0002_meta.sql',
  '0003_interface_counters.sql',
  '0004_flows_1h.sql',
  '0005_listener_evidence.sql',
  '0006_exporters.sql',
  '0007_flows_1h_ports.sql',
  '0008_baseline_hosts.sql',
  '0009_flows_1d.sql',
];
const HOUR = 3600;
const DAY = 86_400;
const utcDay = (t: number): number => Math.floor(t / DAY) * DAY;

interface Totals {
  flows: number;
  bytes: number;
  packets: number;
}

function totalsOf(records: readonly FlowRecord[]): Totals {
  return { flows: records.length, bytes: records.reduce((s, r) => s + (r.bytes ?? 0), 0), packets: records.reduce((s, r) => s + (r.packets ?? 0), 0) };
}

/** The rollup's orientation, restated from the issue: 'src' makes the source the server, anything else the destination. */
function oriented(r: FlowRecord): { client: string; server: string; service_port: number } {
  return r.server_side === 'src'
    ? { client: formatAddress(r.dst_addr), server: formatAddress(r.src_addr), service_port: r.src_port ?? 0 }
    : { client: formatAddress(r.src_addr), server: formatAddress(r.dst_addr), service_port: r.dst_port ?? 0 };
}

/**
 * Listener evidence by brute force: both ends of every TCP/UDP/SCTP record, the set of the other
 * end's addresses and ports, per UTC day. Sorted as the port promises.
 */
function evidenceOracle(records: readonly FlowRecord[]): ListenerEvidence[] {
  const sets = new Map<string, { day: number; address: Uint8Array; proto: number; port: number; peers: Set<string>; peerPorts: Set<number> }>();
  for (const r of records) {
    if (![6, 17, 132].includes(r.proto ?? 0)) continue;
    const ends: [Uint8Array, number, Uint8Array, number][] = [
      [r.src_addr, r.src_port ?? 0, r.dst_addr, r.dst_port ?? 0],
      [r.dst_addr, r.dst_port ?? 0, r.src_addr, r.src_port ?? 0],
    ];
    for (const [address, port, peer, peerPort] of ends) {
      const day = utcDay(r.time_received);
      const key = `${day}|${hex(address)}|${r.proto}|${port}`;
      const entry = sets.get(key) ?? { day, address, proto: r.proto ?? 0, port, peers: new Set(), peerPorts: new Set() };
      entry.peers.add(hex(peer));
      entry.peerPorts.add(peerPort);
      sets.set(key, entry);
    }
  }
  return [...sets.values()]
    .sort((a, b) => b.peerPorts.size - a.peerPorts.size || Buffer.compare(a.address, b.address) || a.port - b.port || a.proto - b.proto || a.day - b.day)
    .map((e) => ({ day: e.day, address: formatAddress(e.address), proto: e.proto, port: e.port, peers: e.peers.size, peerPorts: e.peerPorts.size }));
}

/** Two days of TCP, UDP, SCTP and ICMP between a few IPv4 and IPv6 hosts, for listener evidence. */
function evidenceRecords(day: number): FlowRecord[] {
  const records: FlowRecord[] = [];
  // Three clients reach 10.5.0.1:443, each from several ephemeral ports.
  for (let i = 0; i < 12; i++) {
    records.push(record({ time_received: day + 100 + i, src_addr: A(`10.5.1.${1 + (i % 3)}`), dst_addr: A('10.5.0.1'), src_port: 50000 + i, dst_port: 443, proto: 6, bytes: 100, packets: 1 }));
  }
  // The replies, the server as the source.
  for (let i = 0; i < 6; i++) {
    records.push(record({ time_received: day + 200 + i, src_addr: A('10.5.0.1'), dst_addr: A(`10.5.1.${1 + (i % 3)}`), src_port: 443, dst_port: 50000 + i, proto: 6, bytes: 300, packets: 2 }));
  }
  // A DNS server on IPv6, two clients, the same client port twice.
  for (let i = 0; i < 4; i++) {
    records.push(record({ time_received: day + 300 + i, src_addr: A(`2001:db8:5::${1 + (i % 2)}`), dst_addr: A('2001:db8:5::53'), src_port: 33000 + (i % 3), dst_port: 53, proto: 17, bytes: 60, packets: 1 }));
  }
  // SCTP counts; ICMP does not.
  records.push(record({ time_received: day + 400, src_addr: A('10.5.2.1'), dst_addr: A('10.5.2.2'), src_port: 2905, dst_port: 2905, proto: 132, bytes: 1, packets: 1 }));
  records.push(record({ time_received: day + 401, src_addr: A('10.5.2.1'), dst_addr: A('10.5.2.2'), src_port: 0, dst_port: 0, proto: 1, bytes: 1, packets: 1 }));
  // The next day, at its first and last second: the same server with one new client.
  records.push(record({ time_received: day + DAY, src_addr: A('10.5.1.9'), dst_addr: A('10.5.0.1'), src_port: 51000, dst_port: 443, proto: 6, bytes: 100, packets: 1 }));
  records.push(record({ time_received: day + 2 * DAY - 1, src_addr: A('10.5.1.9'), dst_addr: A('10.5.0.1'), src_port: 51001, dst_port: 443, proto: 6, bytes: 100, packets: 1 }));
  return records;
}

/** Monday 2026-01-05 00:00:00 UTC: the conversation tests' window starts here, after every other test's data. */
const W0 = 1_767_571_200;

/**
 * Conversations over three days from W0 (Mon, Tue, Wed), drawn so every expected value below can
 * be counted by hand. Batch 1 and batch 2 are inserted apart, so the UDP hour at 23:00 sits in two
 * rollup parts in ClickHouse.
 */
function conversationRecords(): { first: FlowRecord[]; second: FlowRecord[] } {
  const tcp = (overrides: Partial<FlowRecord>): FlowRecord => record({ proto: 6, bytes: 100, packets: 1, tcp_flags: 0x1b, server_side: 'dst', ...overrides });
  const web = { src_addr: A('10.8.1.1'), dst_addr: A('10.8.0.1'), dst_port: 443 };
  const dns = { src_addr: A('10.8.2.1'), dst_addr: A('10.8.2.2'), dst_port: 53, proto: 17, packets: 1, server_side: 'unknown' as const };
  const first = [
    // web: 10.8.1.1 → 10.8.0.1:443, three flows Monday 09:00 (one a bare SYN), one rejected
    // Wednesday 17:00 (SYN|ACK: not bare), one before and one after the window.
    tcp({ ...web, time_received: W0 + 9 * HOUR + 10, src_port: 50001, tcp_flags: 0x02 }),
    tcp({ ...web, time_received: W0 + 9 * HOUR + 20, src_port: 50002 }),
    tcp({ ...web, time_received: W0 + 9 * HOUR + 30, src_port: 50003 }),
    tcp({ ...web, time_received: W0 + 2 * DAY + 17 * HOUR, src_port: 50010, tcp_flags: 0x12, action: 'reject' }),
    tcp({ ...web, time_received: W0 + 3 * DAY + HOUR, src_port: 50020 }),
    tcp({ ...web, time_received: W0 - HOUR, src_port: 50030 }),
    // A reply stored with server_side 'src': the source 10.8.0.2:8443 is the server.
    tcp({ time_received: W0 + DAY + 30, src_addr: A('10.8.0.2'), dst_addr: A('10.8.1.1'), src_port: 8443, dst_port: 40000, tcp_flags: 0x12, bytes: 500, packets: 3, server_side: 'src' }),
    // DNS, orientation unknown (the destination is the server): Monday 23:00 and Tuesday 01:00.
    record({ ...dns, time_received: W0 + 23 * HOUR + 5, src_port: 5353, bytes: 60 }),
    record({ ...dns, time_received: W0 + DAY + HOUR + 7, src_port: 1024, bytes: 80 }),
    // ICMP: rolled up on port 0, no listener evidence.
    record({ time_received: W0 + 2 * DAY + 5, src_addr: A('10.8.3.1'), dst_addr: A('10.8.3.2'), proto: 1, bytes: 64, packets: 1 }),
    // ssh on day 0 and day 33 (a Saturday, 05:00), for windows longer than 32 days.
    tcp({ time_received: W0 + 5, src_addr: A('10.8.4.1'), dst_addr: A('10.8.4.2'), src_port: 60000, dst_port: 22, bytes: 1000, packets: 10 }),
    tcp({ time_received: W0 + 33 * DAY + 5 * HOUR, src_addr: A('10.8.4.1'), dst_addr: A('10.8.4.2'), src_port: 60000, dst_port: 22, bytes: 1000, packets: 10 }),
  ];
  const second = [record({ ...dns, time_received: W0 + 23 * HOUR + 6, src_port: 5354, bytes: 70 })];
  return { first, second };
}

/** A conversation row from the few values that differ; `at` lists [hour of day, weekday, flows] bins. */
function conversation(fields: Omit<ConversationRow, 'hourOfDay' | 'dayOfWeek' | 'serverEvidence' | 'clientEvidence' | 'rejectedFlows' | 'synFlows'> & {
  at: [number, number, number][];
  rejectedFlows?: number;
  synFlows?: number;
  server?: string;
  serverEvidence?: [number, number, number];
  clientEvidence?: [number, number, number];
}): ConversationRow {
  const { at, serverEvidence = [0, 0, 0], clientEvidence = [0, 0, 0], ...rest } = fields;
  const hourOfDay = new Array<number>(24).fill(0);
  const dayOfWeek = new Array<number>(7).fill(0);
  for (const [hour, weekday, flows] of at) {
    hourOfDay[hour] = (hourOfDay[hour] ?? 0) + flows;
    dayOfWeek[weekday] = (dayOfWeek[weekday] ?? 0) + flows;
  }
  const evidence = ([peers, peerPorts, days]: [number, number, number]) => ({ peers, peerPorts, days });
  return { rejectedFlows: 0, synFlows: 0, ...rest, hourOfDay, dayOfWeek, serverEvidence: evidence(serverEvidence), clientEvidence: evidence(clientEvidence) };
}

async function collect(chunks: AsyncIterable<ConversationRow[]>): Promise<ConversationRow[]> {
  const rows: ConversationRow[] = [];
  for await (const chunk of chunks) rows.push(...chunk);
  return rows.sort(
    (a, b) => Buffer.compare(A(a.client), A(b.client)) || Buffer.compare(A(a.server), A(b.server)) || a.servicePort - b.servicePort || a.proto - b.proto || (a.hour ?? 0) - (b.hour ?? 0),
  );
}

function host(overrides: Partial<BaselineHostRow>): BaselineHostRow {
  return { edge: 'web->api', client: '10.9.1.1', server: '10.9.0.1', proto: 6, port: 8080, flows: 10, bytes: 1000, packets: 20, firstSeen: W0, lastSeen: W0 + DAY, daysSeen: 2, rule: 'syn', ...overrides };
}

function status(overrides: Partial<ExporterStatus>): ExporterStatus {
  return {
    collector: 'collector-a',
    exporter: '192.0.2.1',
    firstSeen: T0,
    lastSeen: T0 + 60,
    datagrams: 10,
    flows: 300,
    templates: 2,
    samplingRates: [1],
    errors: {},
    updatedAt: T0 + 60,
    ...overrides,
  };
}

interface Harness {
  store: Store;
  reopen(migrationsDir?: string): Promise<Store>;
  /**
   * Writes flows straight into the flows table, bypassing insertFlows. Only where insertFlows
   * cannot serve a test of an older schema: DuckDB's rollup step writes the current flows_1h,
   * while ClickHouse's view belongs to the schema itself.
   */
  insertRawFlows?(records: readonly FlowRecord[]): Promise<void>;
  cleanup(): Promise<void>;
}

function describeStore(name: string, skip: string | false, open: () => Promise<Harness>): void {
  describe(`store conformance: ${name}`, { skip }, () => {
    let h: Harness;
    let store: Store;
    const records = sampleRecords();
    const range = { from: T0, to: T0 + 86_400 };
    /** The same day on whole hours, for the rollup, whose rows are selected by the hour they start. */
    const hours = { from: Math.floor(T0 / 3600) * 3600, to: Math.floor(T0 / 3600) * 3600 + 86_400 };
    /** Every time_received stored so far, and every counter sample's time, for the retention oracle. */
    const stored: number[] = [];
    const storedCounters: number[] = [];

    before(async () => {
      h = await open();
      store = h.store;
    });
    after(async () => {
      await h?.cleanup();
    });

    it('applies every migration once and reports nothing to do on the second run', async () => {
      assert.deepEqual(await store.pendingMigrations(), MIGRATIONS);
      const first = await store.migrate();
      assert.deepEqual(first.applied.map((m) => m.name), MIGRATIONS);
      assert.equal(first.alreadyApplied, 0);
      const second = await store.migrate();
      assert.equal(second.applied.length, 0);
      assert.equal(second.alreadyApplied, MIGRATIONS.length);
      assert.deepEqual(await store.pendingMigrations(), []);
    });

    it('answers zero totals and no groups on an empty range', async () => {
      assert.deepEqual(await store.flowTotals(range), { flows: 0, bytes: 0, packets: 0 });
      assert.deepEqual(await store.aggregateFlows({ range, groupBy: ['proto'] }), []);
      assert.equal((await store.readFlows(range)).length, 0);
    });

    it('stores every column of every record exactly, edge values and hostile strings included', async () => {
      await store.insertFlows(flowBatchOf(records));
      stored.push(...records.map((r) => r.time_received));
      const back = await store.readFlows(range, { limit: 1000 });
      assert.equal(back.length, records.length);
      const expected = flowBatchOf(
        [...records].sort((a, b) => a.time_received - b.time_received || hex(a.src_addr).localeCompare(hex(b.src_addr)) || hex(a.dst_addr).localeCompare(hex(b.dst_addr)) || (a.src_port ?? 0) - (b.src_port ?? 0)),
      );
      for (let i = 0; i < back.length; i++) assert.deepEqual(flowAt(back, i), flowAt(expected, i), `row ${i}`);
    });

    it('totals flows, bytes and packets over half-open ranges', async () => {
      const sum = (from: number, to: number) => {
        const inRange = records.filter((r) => r.time_received >= from && r.time_received < to);
        return { flows: inRange.length, bytes: inRange.reduce((s, r) => s + (r.bytes ?? 0), 0), packets: inRange.reduce((s, r) => s + (r.packets ?? 0), 0) };
      };
      assert.deepEqual(await store.flowTotals(range), sum(range.from, range.to));
      assert.deepEqual(await store.flowTotals({ from: T0 + 60, to: T0 + 120 }), sum(T0 + 60, T0 + 120), 'from inclusive, to exclusive');
      assert.deepEqual(await store.flowTotals({ from: T0 + 3599, to: T0 + 3600 }), sum(T0 + 3599, T0 + 3600));
      assert.deepEqual(await store.flowTotals({ from: T0 - 10, to: T0 }), { flows: 0, bytes: 0, packets: 0 });
    });

    it('groups by any allowed key, ordered by the metric then the key, with addresses as text', async () => {
      const groupBy: AggregateKey[] = ['src_addr', 'dst_addr', 'dst_port', 'proto'];
      const rows = await store.aggregateFlows({ range, groupBy, orderBy: 'flows' });
      const expected = new Map<string, { flows: number; bytes: number; packets: number }>();
      for (const r of records) {
        const k = `${formatAddress(r.src_addr)}|${formatAddress(r.dst_addr)}|${r.dst_port ?? 0}|${r.proto ?? 0}`;
        const e = expected.get(k) ?? { flows: 0, bytes: 0, packets: 0 };
        e.flows++;
        e.bytes += r.bytes ?? 0;
        e.packets += r.packets ?? 0;
        expected.set(k, e);
      }
      assert.equal(rows.length, expected.size);
      for (const row of rows) {
        const k = `${String(row.key.src_addr)}|${String(row.key.dst_addr)}|${String(row.key.dst_port)}|${String(row.key.proto)}`;
        assert.deepEqual({ flows: row.flows, bytes: row.bytes, packets: row.packets }, expected.get(k), k);
      }
      for (let i = 1; i < rows.length; i++) assert.ok((rows[i - 1]?.flows ?? 0) >= (rows[i]?.flows ?? 0), 'descending flows');
      const v6 = rows.find((r) => r.key.src_addr === '2001:db8::10');
      assert.equal(v6?.key.dst_addr, '2001:db8:1::53');
    });

    it('breaks metric ties by the key so both stores list groups in the same order', async () => {
      const rows = await store.aggregateFlows({ range, groupBy: ['src_port'], orderBy: 'packets', limit: 5 });
      // 40000..40029 and 50000..50019 and 33000..33009 have one flow each; packets: 40 for 500xx.
      assert.deepEqual(rows.map((r) => r.key.src_port), [443, 50000, 50001, 50002, 50003]);
      const enums = await store.aggregateFlows({ range, groupBy: ['source', 'action', 'server_side'], orderBy: 'flows' });
      assert.deepEqual(
        enums.map((r) => [r.key.source, r.key.action, r.key.server_side, r.flows]),
        [['netflow9', 'unknown', 'dst', 30], ['ipfix', 'unknown', 'unknown', 20], ['sflow', 'unknown', 'unknown', 10], ['aws_vpc', 'reject', 'src', 1]],
      );
    });

    it('totals without grouping as a single row', async () => {
      const rows = await store.aggregateFlows({ range, groupBy: [] });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.flows, records.length);
    });

    it('rolls flows up by hour with totals equal to the raw flows over whole hours', async () => {
      const hourStart = Math.floor(T0 / HOUR) * HOUR;
      const whole = { from: hourStart, to: hourStart + 2 * HOUR };
      const inWhole = records.filter((r) => r.time_received >= whole.from && r.time_received < whole.to);
      assert.deepEqual(await store.rollupTotals(whole), totalsOf(inWhole));
      assert.deepEqual(await store.rollupTotals(whole), await store.flowTotals(whole));
      const second = { from: hourStart + HOUR, to: hourStart + 2 * HOUR };
      assert.deepEqual(await store.rollupTotals(second), totalsOf(records.filter((r) => r.time_received >= second.from && r.time_received < second.to)));
      // Rows are counted by the hour they start in: a range that starts inside an hour leaves it out.
      assert.deepEqual(await store.rollupTotals({ from: hourStart + 1, to: hourStart + HOUR }), { flows: 0, bytes: 0, packets: 0 });
    });

    it('groups the rollup by client, server and service port as server_side orients them', async () => {
      const groupBy: RollupKey[] = ['client', 'server', 'service_port', 'proto', 'action'];
      const rows = await store.aggregateRollup({ range: hours, groupBy, orderBy: 'flows', limit: 1000 });
      const expected = new Map<string, Totals>();
      for (const r of records) {
        const o = oriented(r);
        const k = `${o.client}|${o.server}|${o.service_port}|${r.proto ?? 0}|${r.action ?? 'unknown'}`;
        const e = expected.get(k) ?? { flows: 0, bytes: 0, packets: 0 };
        e.flows++;
        e.bytes += r.bytes ?? 0;
        e.packets += r.packets ?? 0;
        expected.set(k, e);
      }
      assert.equal(rows.length, expected.size);
      for (const row of rows) {
        const k = `${String(row.key.client)}|${String(row.key.server)}|${String(row.key.service_port)}|${String(row.key.proto)}|${String(row.key.action)}`;
        assert.deepEqual({ flows: row.flows, bytes: row.bytes, packets: row.packets }, expected.get(k), k);
      }
      // server_side 'src': the source 203.0.113.9:443 is the server.
      assert.deepEqual(
        rows.find((r) => r.key.action === 'reject')?.key,
        { client: '10.0.2.10', server: '203.0.113.9', service_port: 443, proto: 6, action: 'reject' },
      );
      // 'dst' and 'unknown' both make the destination the server: web → api on 8080, api → db on 5432.
      assert.deepEqual(
        (await store.aggregateRollup({ range: hours, groupBy: ['server', 'service_port'], orderBy: 'flows', limit: 3 })).map((r) => [r.key.server, r.key.service_port, r.flows]),
        [['10.0.2.10', 8080, 30], ['10.0.3.5', 5432, 20], ['2001:db8:1::53', 53, 10]],
      );
      for (let i = 1; i < rows.length; i++) assert.ok((rows[i - 1]?.flows ?? 0) >= (rows[i]?.flows ?? 0), 'descending flows');
    });

    it('groups the rollup by hour, as the Unix second each hour starts at', async () => {
      const rows = await store.aggregateRollup({ range: hours, groupBy: ['hour'], orderBy: 'flows' });
      const byHour = new Map<number, FlowRecord[]>();
      for (const r of records) {
        const hour = Math.floor(r.time_received / HOUR) * HOUR;
        byHour.set(hour, [...(byHour.get(hour) ?? []), r]);
      }
      const expected = [...byHour.entries()].map(([hour, rs]) => ({ key: { hour }, ...totalsOf(rs) })).sort((a, b) => b.flows - a.flows || a.key.hour - b.key.hour);
      assert.deepEqual(rows, expected);
      assert.deepEqual(await store.aggregateRollup({ range: hours, groupBy: [] }), [{ key: {}, ...totalsOf(records) }]);
      assert.deepEqual(await store.aggregateRollup({ range: { from: T0 - HOUR, to: T0 - HOUR }, groupBy: ['server'] }), []);
    });

    it('counts distinct peers and peer ports per day for both ends of TCP, UDP and SCTP flows', async () => {
      const day = utcDay(T0 + 1_000_000);
      const evidence = evidenceRecords(day);
      await store.insertFlows(flowBatchOf(evidence));
      stored.push(...evidence.map((r) => r.time_received));
      const expected = evidenceOracle(evidence);
      // Recorded hour by hour, as the job does; recording the whole range again changes nothing.
      for (let hour = day; hour < day + 2 * DAY; hour += HOUR) await store.recordListenerEvidence({ from: hour, to: hour + HOUR });
      assert.deepEqual(await store.listenerEvidence({ from: day, to: day + 2 * DAY }), expected);
      await store.recordListenerEvidence({ from: day, to: day + 2 * DAY });
      // What the oracle says, spelled out for the busiest endpoint: 3 clients, 12 client ports.
      assert.deepEqual(expected[0], { day, address: '10.5.0.1', proto: 6, port: 443, peers: 3, peerPorts: 12 });
      assert.ok(!expected.some((e) => e.address === '10.5.2.1' && e.port === 0), 'ICMP is not evidence');
      // Days are selected by the second they start at: [day + 1, …) leaves the first day out.
      assert.deepEqual(await store.listenerEvidence({ from: day + 1, to: day + 2 * DAY }), expected.filter((e) => e.day === day + DAY));
      assert.deepEqual(await store.listenerEvidence({ from: day, to: day + DAY }), expected.filter((e) => e.day === day));
      assert.deepEqual(await store.listenerEvidence({ from: day, to: day + 2 * DAY }, { minPeers: 2 }), expected.filter((e) => e.peers >= 2));
      assert.deepEqual(await store.listenerEvidence({ from: day, to: day + 2 * DAY }, { minPeerPorts: 3 }), expected.filter((e) => e.peerPorts >= 3));
      assert.deepEqual(await store.listenerEvidence({ from: day, to: day + 2 * DAY }, { limit: 2 }), expected.slice(0, 2));
      assert.deepEqual(await store.listenerEvidence({ from: day + 2 * DAY, to: day + 3 * DAY }), []);
      assert.deepEqual(await store.listenerEvidence({ from: day, to: 0xffffffff }), expected, 'the end of DateTime is a valid bound');
    });

    it('refuses bad rollup and evidence queries and retention cutoffs', async () => {
      const bad = (e: unknown): boolean => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST');
      await assert.rejects(store.aggregateRollup({ range, groupBy: ['src_addr' as RollupKey] }), bad);
      await assert.rejects(store.aggregateRollup({ range, groupBy: ['server'], limit: 100_001 }), bad);
      await assert.rejects(store.aggregateRollup({ range, groupBy: ['server'], orderBy: 'hour' as 'flows' }), bad);
      await assert.rejects(store.rollupTotals({ from: 5, to: 4 }), bad);
      await assert.rejects(store.listenerEvidence({ from: 0, to: 2 ** 32 }), bad);
      for (const options of [{ limit: 0 }, { limit: 1.5 }, { minPeers: -1 }, { minPeerPorts: Number.NaN }, { minPeers: 2 ** 32 }]) {
        await assert.rejects(store.listenerEvidence(range, options), bad, JSON.stringify(options));
      }
      for (const cutoff of [-1, 1.5, Number.NaN, 2 ** 32]) await assert.rejects(store.dropDaysBefore(cutoff), bad, String(cutoff));
      assert.equal((await store.flowTotals(range)).flows, records.length);
    });

    it('keeps one status per collector and exporter, the latest updatedAt winning', async () => {
      assert.deepEqual(await store.listExporters(), []);
      const a1 = status({ exporter: '192.0.2.1', samplingRates: [1, 512], errors: { 'template missing': 3, "it's\tnasty\n": 1 } });
      const a2 = status({ exporter: '2001:db8::1', datagrams: 2 ** 40, flows: Number.MAX_SAFE_INTEGER, samplingRates: [], errors: {} });
      const b1 = status({ collector: 'collector-b', exporter: '::ffff:192.0.2.1', templates: 0xffffffff, firstSeen: 0, lastSeen: 0xffffffff });
      await store.upsertExporters([a2, b1, a1]);
      // Addresses come back canonical (an IPv4-mapped IPv6 text as the dotted quad), sorted by
      // collector then address bytes (IPv4-mapped ::ffff:… before 2001:db8::).
      assert.deepEqual(await store.listExporters(), [a1, a2, { ...b1, exporter: '192.0.2.1' }]);

      const newer = { ...a1, lastSeen: T0 + 120, datagrams: 20, errors: { 'template missing': 4 }, updatedAt: T0 + 120 };
      await store.upsertExporters([newer]);
      const older = { ...a1, datagrams: 5, updatedAt: T0 + 30 };
      await store.upsertExporters([older]);
      const sameSecond = { ...a2, datagrams: 7 };
      await store.upsertExporters([sameSecond]);
      assert.deepEqual(await store.listExporters(), [newer, sameSecond, { ...b1, exporter: '192.0.2.1' }], 'newer replaces, older is ignored, a tie goes to the later write');

      // Within one call too: the greatest updatedAt, else the later row.
      const first = { ...b1, datagrams: 1, updatedAt: T0 + 500 };
      const second = { ...b1, datagrams: 2, updatedAt: T0 + 500 };
      const stale = { ...b1, datagrams: 3, updatedAt: T0 + 400 };
      await store.upsertExporters([first, second, stale]);
      assert.deepEqual((await store.listExporters())[2], { ...second, exporter: '192.0.2.1' });
    });

    it('refuses a malformed exporter status whole', async () => {
      const before = await store.listExporters();
      const invalid = (e: unknown): boolean => isFlowmapError(e, 'FLOWMAP_BATCH_INVALID');
      const cases: Partial<ExporterStatus>[] = [
        { exporter: 'router-1' },
        { exporter: '10.0.0.0/8' },
        { collector: '' },
        { collector: 'c\ud800' },
        { datagrams: -1 },
        { flows: 1.5 },
        { flows: 2 ** 53 },
        { templates: 2 ** 32 },
        { lastSeen: -1 },
        { updatedAt: Number.NaN },
        { samplingRates: [0, -5] },
        { errors: { '': 1 } },
        { errors: { timeout: -1 } },
      ];
      for (const bad of cases) {
        await assert.rejects(store.upsertExporters([status({ exporter: '198.51.100.1' }), status(bad)]), invalid, JSON.stringify(bad));
      }
      assert.deepEqual(await store.listExporters(), before);
      await store.upsertExporters([]);
    });

    it('refuses unknown group keys, bad ranges and limits without touching the data', async () => {
      await assert.rejects(store.aggregateFlows({ range, groupBy: ['proto; DROP TABLE flows' as AggregateKey] }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      await assert.rejects(store.flowTotals({ from: 10, to: 5 }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      await assert.rejects(store.flowTotals({ from: 1.5, to: 5 }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      await assert.rejects(store.aggregateFlows({ range, groupBy: ['proto'], limit: 0 }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      await assert.rejects(store.readFlows(range, { limit: -1 }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      assert.equal((await store.flowTotals(range)).flows, records.length);
    });

    it('refuses a malformed batch whole, writing none of it', async () => {
      const batch = createFlowBatch(3);
      batch.length = 3;
      batch.columns.source[1] = 200;
      await assert.rejects(store.insertFlows(batch), (e) => isFlowmapError(e, 'FLOWMAP_BATCH_INVALID') && /source\[1\]/.test(e.message));
      const fractional = flowBatchOf([record({ time_received: T0 + 5, bytes: 1.5 })]);
      await assert.rejects(store.insertFlows(fractional), (e) => isFlowmapError(e, 'FLOWMAP_BATCH_INVALID'));
      await store.insertFlows(createFlowBatch(0));
      assert.equal((await store.flowTotals(range)).flows, records.length);
    });

    it('keeps versioned metadata: latest wins, history kept, deletes are tombstones', async () => {
      const before = Math.floor(Date.now() / 1000) * 1000;
      const first = await store.meta.put('baselines', 'b1', { days: 28, groupBy: ['app', 'env'] });
      const stored = await store.meta.get('baselines', 'b1');
      assert.equal(stored?.updatedAt.getTime(), first.updatedAt.getTime(), 'get returns the time put reported, whatever the local time zone');
      assert.ok(first.updatedAt.getTime() >= before && first.updatedAt.getTime() <= Date.now(), `updatedAt ${first.updatedAt.toISOString()} is now`);
      assert.equal((await store.meta.list('baselines'))[0]?.updatedAt.getTime(), first.updatedAt.getTime());
      const second = await store.meta.put('baselines', 'b1', { days: 14 });
      assert.ok(second.version > first.version);
      assert.deepEqual((await store.meta.get('baselines', 'b1'))?.value, { days: 14 });
      assert.deepEqual((await store.meta.history('baselines', 'b1')).map((e) => e.value), [{ days: 28, groupBy: ['app', 'env'] }, { days: 14 }]);
      assert.equal(await store.meta.get('baselines', 'missing'), undefined);
      assert.equal(await store.meta.delete('baselines', 'b1'), true);
      assert.equal(await store.meta.get('baselines', 'b1'), undefined);
      assert.equal(await store.meta.delete('baselines', 'b1'), false);
      await store.meta.put('baselines', 'b1', 'back');
      assert.equal((await store.meta.get('baselines', 'b1'))?.value, 'back');
    });

    it('lists metadata by literal prefix, treating quotes and wildcards as plain characters', async () => {
      const keys = ["ex:10.0.0.1", "ex:10.0.0.2", "ex%", "ex_1", "e'x", 'ex:ü', 'other'];
      for (const key of keys) await store.meta.put('exporters', key, { key });
      await store.meta.delete('exporters', 'ex:10.0.0.2');
      assert.deepEqual((await store.meta.list('exporters', { prefix: 'ex:' })).map((e) => e.key), ['ex:10.0.0.1', 'ex:ü']);
      assert.deepEqual((await store.meta.list('exporters', { prefix: 'ex%' })).map((e) => e.key), ['ex%']);
      assert.deepEqual((await store.meta.list('exporters', { prefix: "e'" })).map((e) => e.key), ["e'x"]);
      assert.equal((await store.meta.list('exporters')).length, keys.length - 1);
      assert.deepEqual((await store.meta.list('exporters', { prefix: 'o' }))[0]?.value, { key: 'other' });
    });

    it('refuses metadata keys that are not valid Unicode and limits outside 1-100000', async () => {
      await assert.rejects(store.meta.put('ns', 'a\ud800b', 1), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      await assert.rejects(store.meta.get('n\udc00s', 'k'), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
      for (const limit of [0, 1.5, Number.NaN, 100_001]) {
        await assert.rejects(store.meta.list('ns', { limit }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'), String(limit));
      }
    });

    it('writes a batch larger than 65,536 rows (one ClickHouse Native block per batch) whole', async () => {
      const n = 70_001;
      const batch = createFlowBatch(n);
      batch.length = n;
      const c = batch.columns;
      for (let i = 0; i < n; i++) {
        c.time_received[i] = T0 + 200_000 + (i % 3600);
        c.time_start[i] = c.time_received[i] ?? 0;
        c.time_end[i] = c.time_received[i] ?? 0;
        c.exporter.set(EXPORTER, i * 16);
        c.src_addr.set(A('10.9.0.1'), i * 16);
        c.dst_addr.set(A('10.9.0.2'), i * 16);
        c.bytes[i] = i;
        c.packets[i] = 1;
      }
      await store.insertFlows(batch);
      stored.push(...batch.columns.time_received.subarray(0, n));
      assert.deepEqual(await store.flowTotals({ from: T0 + 200_000, to: T0 + 300_000 }), { flows: n, bytes: (n * (n - 1)) / 2, packets: n });
      const hours = { from: Math.floor((T0 + 200_000) / HOUR) * HOUR, to: Math.ceil((T0 + 300_000) / HOUR) * HOUR };
      assert.deepEqual(await store.rollupTotals(hours), await store.flowTotals(hours), 'the rollup step kept up with a large batch');
    });

    it('keeps sFlow interface counters apart from flows, every value exact', async () => {
      const row = (i: number) => ({
        exporter: A(i % 2 === 0 ? '192.0.2.1' : '2001:db8::1'),
        observationDomain: i,
        time: T0 + 500_000 + i,
        ifIndex: 0xffffffff - i,
        ifSpeed: 100_000_000_000,
        inOctets: Number.MAX_SAFE_INTEGER - i,
        inPackets: 2 ** 40 + i,
        inErrors: i,
        inDiscards: 0,
        outOctets: 123_456_789_012 + i,
        outPackets: 7 * i,
        outErrors: 1,
        outDiscards: 2,
      });
      const rows = [row(1), row(0), row(2)];
      await store.insertInterfaceCounters(rows);
      storedCounters.push(...rows.map((r) => r.time));
      const back = await store.readInterfaceCounters({ from: T0 + 500_000, to: T0 + 500_010 });
      assert.deepEqual(back, [row(0), row(1), row(2)]);
      assert.equal((await store.flowTotals({ from: T0 + 500_000, to: T0 + 500_010 })).flows, 0);
      await assert.rejects(store.insertInterfaceCounters([row(3), { ...row(4), inOctets: -1 }]), (e) => isFlowmapError(e, 'FLOWMAP_BATCH_INVALID') && /row 1 inOctets/.test(e.message));
      await assert.rejects(store.insertInterfaceCounters([{ ...row(5), exporter: new Uint8Array(4) }]), (e) => isFlowmapError(e, 'FLOWMAP_BATCH_INVALID'));
      assert.equal((await store.readInterfaceCounters({ from: T0 + 500_000, to: T0 + 500_010 })).length, 3, 'a refused batch writes nothing');
    });

    it('refuses a migration that changed after it was applied, and one that went missing', async () => {
      const dialect = store.kind;
      const dir = mkdtempSync(join(tmpdir(), 'flowmap-migrations-'));
      cpSync(join(MIGRATIONS_ROOT, dialect), dir, { recursive: true });
      appendFileSync(join(dir, '0002_meta.sql'), '\n-- edited\n');
      const changed = await h.reopen(dir);
      await assert.rejects(changed.migrate(), (e) => isFlowmapError(e, 'FLOWMAP_MIGRATION_CHANGED') && e.message.includes('0002_meta.sql'));
      await changed.close();
      rmSync(join(dir, '0002_meta.sql'));
      const missing = await h.reopen(dir);
      await assert.rejects(missing.migrate(), (e) => isFlowmapError(e, 'FLOWMAP_MIGRATION_MISSING') && e.message.includes('0002_meta.sql'));
      await missing.close();
      cpSync(join(MIGRATIONS_ROOT, dialect), dir, { recursive: true });
      writeFileSync(join(dir, '0099_probe.sql'), 'CREATE TABLE probe_added (a UInt8) ENGINE = Memory;'.replace('UInt8) ENGINE = Memory', dialect === 'duckdb' ? 'INTEGER)' : 'UInt8) ENGINE = Memory'));
      const extended = await h.reopen(dir);
      const report = await extended.migrate();
      assert.deepEqual(report.applied.map((m) => m.name), ['0099_probe.sql']);
      await extended.close();
      rmSync(dir, { recursive: true, force: true });
      store = await h.reopen();
    });

    it("drops whole UTC days before the cutoff's day from flows, rollups, evidence and counters", async () => {
      // Midnight UTC is 19:00 the day before in New York, where the tests run (test/run.ts):
      // the two records fall on different days only if days are UTC. The ClickHouse the harness
      // starts runs in UTC; against a server in another zone, days would follow its calendar.
      const midnight = utcDay(T0 + 2_000_000);
      const boundary = [record({ time_received: midnight - 1, bytes: 1, packets: 1, proto: 6 }), record({ time_received: midnight, bytes: 2, packets: 1, proto: 6 })];
      await store.insertFlows(flowBatchOf(boundary));
      stored.push(...boundary.map((r) => r.time_received));
      await store.recordListenerEvidence({ from: midnight - DAY, to: midnight + DAY });

      const days = (times: readonly number[]): number[] => [...new Set(times.map(utcDay))].sort((a, b) => a - b);
      const flowDays = await store.flowDays();
      assert.deepEqual(flowDays, days(stored));
      assert.deepEqual(flowDays.slice(-2), [midnight - DAY, midnight]);

      const dropped = await store.dropDaysBefore(midnight + 12 * HOUR);
      assert.deepEqual(dropped, days([...stored, ...storedCounters].filter((t) => t < midnight)));
      assert.deepEqual(await store.flowDays(), [midnight]);
      assert.deepEqual(await store.flowTotals({ from: 0, to: midnight }), { flows: 0, bytes: 0, packets: 0 });
      assert.deepEqual(await store.flowTotals({ from: midnight, to: midnight + DAY }), { flows: 1, bytes: 2, packets: 1 });
      assert.deepEqual(await store.rollupTotals({ from: 0, to: midnight + DAY }), { flows: 1, bytes: 2, packets: 1 });
      assert.deepEqual(await store.readInterfaceCounters({ from: 0, to: midnight }), []);
      assert.deepEqual((await store.listenerEvidence({ from: 0, to: midnight + DAY })).map((e) => e.day), [midnight, midnight]);
      assert.deepEqual(await store.dropDaysBefore(midnight + 12 * HOUR), [], 'nothing left to drop');
      assert.deepEqual(await store.dropDaysBefore(midnight), [], "the cutoff's own day is kept");
      assert.ok((await store.listExporters()).length > 0, 'exporter status is not day data');
    });

    describe('conversations', () => {
      const window = { from: W0, to: W0 + 3 * DAY };
      // Hand-counted from conversationRecords(); evidence triples are [peers, peerPorts, days].
      const web = conversation({
        client: '10.8.1.1', server: '10.8.0.1', proto: 6, servicePort: 443, flows: 4, bytes: 400, packets: 4, rejectedFlows: 1, synFlows: 1,
        clientPortMin: 50001, clientPortMax: 50010, firstHour: W0 + 9 * HOUR, lastHour: W0 + 2 * DAY + 17 * HOUR, days: [0b101],
        at: [[9, 0, 3], [17, 2, 1]],
        // Monday: ports 50001-50003; Wednesday: port 50010; one peer on both days.
        serverEvidence: [1, 4, 2],
        // 10.8.1.1:50001 talked to 10.8.0.1:443 on Monday, but the client used several ports and
        // 10.8.1.1:50001 serves no conversation: its evidence is not looked up.
        clientEvidence: [0, 0, 0],
      });
      const reply = conversation({
        client: '10.8.1.1', server: '10.8.0.2', proto: 6, servicePort: 8443, flows: 1, bytes: 500, packets: 3,
        clientPortMin: 40000, clientPortMax: 40000, firstHour: W0 + DAY, lastHour: W0 + DAY, days: [0b010], at: [[0, 1, 1]],
        serverEvidence: [1, 1, 1], clientEvidence: [1, 1, 1],
      });
      const dns = conversation({
        client: '10.8.2.1', server: '10.8.2.2', proto: 17, servicePort: 53, flows: 3, bytes: 210, packets: 3,
        clientPortMin: 1024, clientPortMax: 5354, firstHour: W0 + 23 * HOUR, lastHour: W0 + DAY + HOUR, days: [0b011], at: [[23, 0, 2], [1, 1, 1]],
        // Monday: ports 5353, 5354; Tuesday: port 1024. The client used several ports: its end is not looked up.
        serverEvidence: [1, 3, 2], clientEvidence: [0, 0, 0],
      });
      const icmp = conversation({
        client: '10.8.3.1', server: '10.8.3.2', proto: 1, servicePort: 0, flows: 1, bytes: 64, packets: 1,
        clientPortMin: 0, clientPortMax: 0, firstHour: W0 + 2 * DAY, lastHour: W0 + 2 * DAY, days: [0b100], at: [[0, 2, 1]],
      });
      const ssh = conversation({
        client: '10.8.4.1', server: '10.8.4.2', proto: 6, servicePort: 22, flows: 1, bytes: 1000, packets: 10,
        clientPortMin: 60000, clientPortMax: 60000, firstHour: W0, lastHour: W0, days: [0b001], at: [[0, 0, 1]],
        serverEvidence: [1, 1, 1], clientEvidence: [1, 1, 1],
      });

      before(async () => {
        const { first, second } = conversationRecords();
        await store.insertFlows(flowBatchOf(first));
        await store.insertFlows(flowBatchOf(second));
        for (let day = W0 - DAY; day < W0 + 34 * DAY; day += DAY) await store.recordListenerEvidence({ from: day, to: day + DAY });
      });

      it('aggregates the window by conversation as the rollup oriented it, with both ends\' evidence', async () => {
        const rows = await collect(store.conversations({ range: window }));
        assert.deepEqual(rows, [web, reply, dns, icmp, ssh]);
        const flows = rows.reduce((sum, row) => sum + row.flows, 0);
        assert.equal(flows, (await store.rollupTotals(window)).flows);
      });

      it('splits rows with an hourly address by hour and counts every rollup row once', async () => {
        const rows = await collect(store.conversations({ range: window, hourlyAddresses: ['10.8.2.2', '::ffff:10.8.2.2', '192.0.2.200'] }));
        const monday = conversation({
          client: '10.8.2.1', server: '10.8.2.2', proto: 17, servicePort: 53, hour: W0 + 23 * HOUR, flows: 2, bytes: 130, packets: 2,
          clientPortMin: 5353, clientPortMax: 5354, firstHour: W0 + 23 * HOUR, lastHour: W0 + 23 * HOUR, days: [0b001], at: [[23, 0, 2]],
          serverEvidence: [1, 3, 2], clientEvidence: [0, 0, 0],
        });
        const tuesday = conversation({
          client: '10.8.2.1', server: '10.8.2.2', proto: 17, servicePort: 53, hour: W0 + DAY + HOUR, flows: 1, bytes: 80, packets: 1,
          clientPortMin: 1024, clientPortMax: 1024, firstHour: W0 + DAY + HOUR, lastHour: W0 + DAY + HOUR, days: [0b010], at: [[1, 1, 1]],
          serverEvidence: [1, 3, 2], clientEvidence: [1, 1, 1],
        });
        assert.deepEqual(rows, [web, reply, monday, tuesday, icmp, ssh]);
        const totals = rows.reduce((sum, row) => ({ flows: sum.flows + row.flows, bytes: sum.bytes + row.bytes, packets: sum.packets + row.packets }), { flows: 0, bytes: 0, packets: 0 });
        assert.deepEqual(totals, await store.rollupTotals(window));
        // A client listed splits every conversation it has; an empty list splits none.
        const byClient = await collect(store.conversations({ range: window, hourlyAddresses: ['10.8.1.1'] }));
        assert.deepEqual(byClient.filter((r) => r.client === '10.8.1.1').map((r) => [r.servicePort, r.hour, r.flows]), [[443, W0 + 9 * HOUR, 3], [443, W0 + 2 * DAY + 17 * HOUR, 1], [8443, W0 + DAY, 1]]);
        assert.deepEqual(await collect(store.conversations({ range: window, hourlyAddresses: [] })), [web, reply, dns, icmp, ssh]);
      });

      it('splits rows of split addresses at their segment starts, taking the later start of the two ends', async () => {
        const parts = (rows: ConversationRow[], client: string) =>
          rows
            .filter((r) => r.client === client)
            .map((r) => [r.server, r.servicePort, r.hour, r.flows, r.firstHour, r.lastHour, r.days])
            .sort((a, b) => Number(a[1]) - Number(b[1]) || Number(a[2]) - Number(b[2]));
        // 10.8.1.1 → 10.8.0.1:443 has rollup rows on Monday 09:00 (3 flows) and Wednesday 17:00 (1), and :8443 on Tuesday 00:00.
        const split = await collect(store.conversations({ range: window, splits: [{ address: '10.8.1.1', starts: [W0 + DAY] }] }));
        assert.deepEqual(parts(split, '10.8.1.1'), [
          ['10.8.0.1', 443, W0, 3, W0 + 9 * HOUR, W0 + 9 * HOUR, [0b001]],
          ['10.8.0.1', 443, W0 + DAY, 1, W0 + 2 * DAY + 17 * HOUR, W0 + 2 * DAY + 17 * HOUR, [0b100]],
          ['10.8.0.2', 8443, W0 + DAY, 1, W0 + DAY, W0 + DAY, [0b010]],
        ]);
        const totals = split.reduce((sum, row) => ({ flows: sum.flows + row.flows, bytes: sum.bytes + row.bytes, packets: sum.packets + row.packets }), { flows: 0, bytes: 0, packets: 0 });
        assert.deepEqual(totals, await store.rollupTotals(window));
        // Rows of other addresses are untouched; the profile of a part is that of its rollup rows.
        assert.deepEqual(split.filter((r) => r.client !== '10.8.1.1'), (await collect(store.conversations({ range: window }))).filter((r) => r.client !== '10.8.1.1'));
        const monday = split.find((r) => r.client === '10.8.1.1' && r.hour === W0 && r.servicePort === 443);
        assert.equal(monday?.hourOfDay[9], 3);
        assert.equal(monday?.dayOfWeek[0], 3);
        // Both ends split: the part starts at the later of the two segment starts.
        const both = await collect(store.conversations({ range: window, splits: [{ address: '10.8.1.1', starts: [W0 + DAY] }, { address: '10.8.0.1', starts: [W0 + 2 * DAY + 12 * HOUR] }] }));
        assert.deepEqual(parts(both, '10.8.1.1').map((p) => p.slice(1, 4)), [[443, W0, 3], [443, W0 + 2 * DAY + 12 * HOUR, 1], [8443, W0 + DAY, 1]]);
        // An hourly end splits every hour, whatever the other end's segments.
        const hourly = await collect(store.conversations({ range: window, hourlyAddresses: ['10.8.1.1'], splits: [{ address: '10.8.0.1', starts: [W0 + 2 * DAY] }] }));
        assert.deepEqual(parts(hourly, '10.8.1.1').map((p) => p.slice(1, 4)), [[443, W0 + 9 * HOUR, 3], [443, W0 + 2 * DAY + 17 * HOUR, 1], [8443, W0 + DAY, 1]]);
        // No split points: one segment, the window.
        const whole = await collect(store.conversations({ range: window, splits: [{ address: '10.8.1.1', starts: [] }] }));
        assert.deepEqual(parts(whole, '10.8.1.1').map((p) => p.slice(1, 4)), [[443, W0, 4], [8443, W0, 1]]);
      });

      it('drills conversations down to the raw flows by client port and hour, or by the second', async () => {
        const key = { client: '10.8.1.1', server: '10.8.0.1', proto: 6, servicePort: 443 };
        const byPort = (rows: ConversationRow[]) => rows.sort((a, b) => a.clientPortMin - b.clientPortMin || (a.time ?? 0) - (b.time ?? 0));
        const parts = byPort(await store.conversationsByClientPort(window, [key]));
        assert.deepEqual(
          parts.map((p) => [p.clientPortMin, p.clientPortMax, p.hour, p.flows, p.bytes, p.synFlows, p.rejectedFlows, p.days, p.time]),
          [
            [50001, 50001, W0 + 9 * HOUR, 1, 100, 1, 0, [0b001], undefined],
            [50002, 50002, W0 + 9 * HOUR, 1, 100, 0, 0, [0b001], undefined],
            [50003, 50003, W0 + 9 * HOUR, 1, 100, 0, 0, [0b001], undefined],
            [50010, 50010, W0 + 2 * DAY + 17 * HOUR, 1, 100, 0, 1, [0b100], undefined],
          ],
        );
        assert.deepEqual(parts[3]?.hourOfDay[17], 1);
        assert.deepEqual(parts[3]?.dayOfWeek[2], 1, 'Wednesday');
        // One hour of the conversation, then the same by the second.
        const monday = { ...key, hour: W0 + 9 * HOUR };
        assert.deepEqual(byPort(await store.conversationsByClientPort(window, [monday])).map((p) => p.clientPortMin), [50001, 50002, 50003]);
        const exact = byPort(await store.conversationsByClientPort(window, [monday], { exactTime: true }));
        assert.deepEqual(exact.map((p) => [p.clientPortMin, p.time, p.hour]), [[50001, W0 + 9 * HOUR + 10, W0 + 9 * HOUR], [50002, W0 + 9 * HOUR + 20, W0 + 9 * HOUR], [50003, W0 + 9 * HOUR + 30, W0 + 9 * HOUR]]);
        // The rollup's orientation: DNS with server_side unknown has the destination as its server.
        const dns = byPort(await store.conversationsByClientPort(window, [{ client: '10.8.2.1', server: '10.8.2.2', proto: 17, servicePort: 53 }]));
        assert.deepEqual(dns.map((p) => [p.clientPortMin, p.hour, p.flows]), [[1024, W0 + DAY + HOUR, 1], [5353, W0 + 23 * HOUR, 1], [5354, W0 + 23 * HOUR, 1]]);
        assert.deepEqual(await store.conversationsByClientPort(window, [{ ...key, servicePort: 444 }]), []);
        await assert.rejects(store.conversationsByClientPort(window, [{ ...key, hour: W0 + 9 * HOUR + 1 }]), { code: 'FLOWMAP_BAD_REQUEST' });
        await assert.rejects(store.conversationsByClientPort(window, [{ ...key, client: '10.8.1.999' }]), { code: 'FLOWMAP_BAD_REQUEST' });
      });

      it('reads every flow of given address-hours by the second, once when both of its ends are listed', async () => {
        const monday = W0 + 9 * HOUR;
        const sorted = (rows: ConversationRow[]) =>
          [...rows].sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0) || a.servicePort - b.servicePort || a.clientPortMin - b.clientPortMin || (a.time ?? 0) - (b.time ?? 0));
        const web = sorted(await store.conversationsByClientPort(window, [{ client: '10.8.1.1', server: '10.8.0.1', proto: 6, servicePort: 443, hour: monday }], { exactTime: true }));
        assert.equal(web.length, 3);
        assert.deepEqual(sorted(await store.conversationsOfAddressHours(window, [{ address: '10.8.1.1', hour: monday }])), web);
        assert.deepEqual(sorted(await store.conversationsOfAddressHours(window, [{ address: '10.8.0.1', hour: monday }, { address: '::ffff:10.8.1.1', hour: monday }])), web);
        // The server end of Tuesday's reply, and an hour without flows.
        const reply = await store.conversationsOfAddressHours(window, [{ address: '10.8.0.2', hour: W0 + DAY }, { address: '10.8.1.1', hour: W0 + 5 * HOUR }]);
        assert.deepEqual(reply.map((p) => [p.client, p.server, p.servicePort, p.clientPortMin, p.hour, p.flows, p.bytes, p.serverEvidence.peerPorts]), [['10.8.1.1', '10.8.0.2', 8443, 40000, W0 + DAY, 1, 500, 0]]);
        assert.deepEqual(await store.conversationsOfAddressHours(window, []), []);
        await assert.rejects(store.conversationsOfAddressHours(window, [{ address: '10.8.1.1', hour: monday + 1 }]), { code: 'FLOWMAP_BAD_REQUEST' });
        await assert.rejects(store.conversationsOfAddressHours(window, [{ address: '10.8.1.300', hour: monday }]), { code: 'FLOWMAP_BAD_REQUEST' });
        await assert.rejects(store.conversationsOfAddressHours(window, [null as unknown as AddressHour]), { code: 'FLOWMAP_BAD_REQUEST' });
      });

      it('answers the listener evidence of given endpoints over the window, zeros where there is none', async () => {
        const evidence = await store.endpointEvidence(window, [
          { address: '10.8.0.1', proto: 6, port: 443 },
          { address: '10.8.1.1', proto: 6, port: 50001 },
          { address: '10.9.9.9', proto: 6, port: 1 },
        ]);
        assert.deepEqual(evidence, [
          { address: '10.8.0.1', proto: 6, port: 443, peers: 1, peerPorts: 4, days: 2 },
          { address: '10.8.1.1', proto: 6, port: 50001, peers: 1, peerPorts: 1, days: 1 },
          { address: '10.9.9.9', proto: 6, port: 1, peers: 0, peerPorts: 0, days: 0 },
        ]);
        await assert.rejects(store.endpointEvidence(window, [{ address: 'x', proto: 6, port: 1 }]), { code: 'FLOWMAP_BAD_REQUEST' });
      });

      it('takes a full list of hourly addresses', async () => {
        const many = Array.from({ length: MAX_HOURLY_ADDRESSES - 1 }, (_, i) => `2001:db8:ff::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
        const rows = await collect(store.conversations({ range: window, hourlyAddresses: [...many, '10.8.2.2'] }));
        assert.deepEqual(rows.filter((r) => r.server === '10.8.2.2').map((r) => r.hour), [W0 + 23 * HOUR, W0 + DAY + HOUR]);
      });

      it('counts days from the window start and reads evidence for the days starting in the window', async () => {
        // [Mon 09:00, Wed 09:00): the web flows of Monday 09:00 only; evidence of Tuesday and
        // Wednesday, whose days start inside it, and not of Monday, whose day starts before it.
        const rows = await collect(store.conversations({ range: { from: W0 + 9 * HOUR, to: W0 + 2 * DAY + 9 * HOUR } }));
        assert.deepEqual(rows.find((r) => r.server === '10.8.0.1'), conversation({
          client: '10.8.1.1', server: '10.8.0.1', proto: 6, servicePort: 443, flows: 3, bytes: 300, packets: 3, synFlows: 1,
          clientPortMin: 50001, clientPortMax: 50003, firstHour: W0 + 9 * HOUR, lastHour: W0 + 9 * HOUR, days: [0b01], at: [[9, 0, 3]],
          serverEvidence: [1, 1, 1], clientEvidence: [0, 0, 0],
        }));
        // Day 0 of this window is Monday 09:00 to Tuesday 09:00: DNS at Monday 23:00 and Tuesday 01:00 both fall in it.
        assert.deepEqual(rows.find((r) => r.server === '10.8.2.2')?.days, [0b01]);
      });

      it('spreads the days of a window longer than 32 days over 32-bit words', async () => {
        const rows = await collect(store.conversations({ range: { from: W0, to: W0 + 40 * DAY } }));
        assert.ok(rows.every((r) => r.days.length === 2));
        assert.deepEqual(rows.find((r) => r.server === '10.8.4.2'), conversation({
          client: '10.8.4.1', server: '10.8.4.2', proto: 6, servicePort: 22, flows: 2, bytes: 2000, packets: 20,
          clientPortMin: 60000, clientPortMax: 60000, firstHour: W0, lastHour: W0 + 33 * DAY + 5 * HOUR, days: [0b1, 0b10], at: [[0, 0, 1], [5, 5, 1]],
          serverEvidence: [1, 1, 2], clientEvidence: [1, 1, 2],
        }));
        assert.deepEqual(rows.find((r) => r.server === '10.8.0.1')?.days, [0b1101, 0], 'day 3 is in this window');
      });

      it('rebuilds the rollup from the flows stored before 0007, with client ports and SYN counts', async () => {
        const fresh = await open();
        try {
          // Flows stored at schema 0003, rolled up by 0004 as a store of that age would hold them.
          const dir = mkdtempSync(join(tmpdir(), 'flowmap-migrations-'));
          cpSync(join(MIGRATIONS_ROOT, fresh.store.kind), dir, { recursive: true });
          for (const later of ['0004_flows_1h.sql', '0005_listener_evidence.sql', '0006_exporters.sql', '0007_flows_1h_ports.sql', '0008_baseline_hosts.sql']) rmSync(join(dir, later));
          const early = await fresh.reopen(dir);
          await early.migrate();
          const { first, second } = conversationRecords();
          if (fresh.insertRawFlows !== undefined) {
            await fresh.insertRawFlows([...first, ...second]);
          } else {
            await early.insertFlows(flowBatchOf(first));
            await early.insertFlows(flowBatchOf(second));
          }
          for (const file of ['0004_flows_1h.sql', '0005_listener_evidence.sql', '0006_exporters.sql']) cpSync(join(MIGRATIONS_ROOT, fresh.store.kind, file), join(dir, file));
          const old = await fresh.reopen(dir);
          assert.equal((await old.migrate()).applied.length, 3);
          assert.deepEqual(await old.rollupTotals(window), totalsOf([...first, ...second].filter((r) => r.time_received >= window.from && r.time_received < window.to)));
          rmSync(dir, { recursive: true, force: true });

          const after = await fresh.reopen();
          assert.deepEqual((await after.migrate()).applied.map((m) => m.name), ['0007_flows_1h_ports.sql', '0008_baseline_hosts.sql']);
          for (let day = W0 - DAY; day < W0 + 34 * DAY; day += DAY) await after.recordListenerEvidence({ from: day, to: day + DAY });
          assert.deepEqual(await collect(after.conversations({ range: window })), [web, reply, dns, icmp, ssh]);
          // The rollup step (DuckDB) or view (ClickHouse) of the new schema fills the new columns.
          await after.insertFlows(flowBatchOf([record({ time_received: W0 + 2 * DAY + HOUR, src_addr: A('10.8.3.1'), dst_addr: A('10.8.3.2'), src_port: 7, dst_port: 9, proto: 6, tcp_flags: 0x02 })]));
          const discard = (await collect(after.conversations({ range: window }))).find((r) => r.servicePort === 9);
          assert.deepEqual([discard?.clientPortMin, discard?.clientPortMax, discard?.synFlows, discard?.flows], [7, 7, 1, 1]);
        } finally {
          await fresh.cleanup();
        }
      });

      it('answers nothing for an empty window or one without flows', async () => {
        assert.deepEqual(await collect(store.conversations({ range: { from: W0, to: W0 } })), []);
        assert.deepEqual(await collect(store.conversations({ range: { from: W0 + 100 * DAY, to: W0 + 101 * DAY } })), []);
      });

      it('refuses ranges off whole hours or too long, and bad hourly addresses', () => {
        const bad = (e: unknown): boolean => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST');
        const queries: ConversationQuery[] = [
          { range: { from: W0 + 1, to: W0 + HOUR } },
          { range: { from: W0, to: W0 + HOUR + 1 } },
          { range: { from: W0 + HOUR, to: W0 } },
          { range: { from: W0, to: W0 + 367 * DAY } },
          { range: { from: 0, to: 2 ** 32 } },
          { range: window, hourlyAddresses: ['10.0.0.256'] },
          { range: window, hourlyAddresses: ['10.0.0.0/8'] },
          { range: window, hourlyAddresses: [42 as unknown as string] },
          { range: window, hourlyAddresses: Array.from({ length: MAX_HOURLY_ADDRESSES + 1 }, () => '10.0.0.1') },
          { range: window, splits: [{ address: '10.0.0.256', starts: [W0 + DAY] }] },
          { range: window, splits: [{ address: '10.8.1.1', starts: [W0 + DAY + 1] }] },
          { range: window, splits: [{ address: '10.8.1.1', starts: [W0] }] },
          { range: window, splits: [{ address: '10.8.1.1', starts: [W0 + 3 * DAY] }] },
          { range: window, splits: [{ address: '10.8.1.1', starts: [W0 + 2 * DAY, W0 + DAY] }] },
          { range: window, splits: [{ address: '10.8.1.1', starts: [W0 + DAY] }, { address: '::ffff:10.8.1.1', starts: [W0 + 2 * DAY] }] },
          { range: window, splits: [{ address: '10.8.1.1', starts: 'x' as unknown as number[] }] },
          // Split addresses × hours of the range past MAX_SPLIT_HOURS.
          { range: { from: W0, to: W0 + 366 * DAY }, splits: Array.from({ length: Math.ceil(MAX_SPLIT_HOURS / (366 * 24)) + 1 }, (_, i) => ({ address: `10.9.${i >>> 8}.${i & 255}`, starts: [] })) },
        ];
        for (const query of queries) assert.throws(() => store.conversations(query), bad, JSON.stringify(query).slice(0, 100));
        assert.doesNotThrow(() => store.conversations({ range: { from: W0, to: W0 + 366 * DAY } }));
      });

      it('answers alike once whole days are compacted into the daily rollup, and reads a day changed since from the hourly one', async () => {
        const queries: ConversationQuery[] = [
          { range: window },
          { range: { from: W0 + 9 * HOUR, to: W0 + 2 * DAY + 9 * HOUR } },
          { range: { from: W0 + 23 * HOUR, to: W0 + 2 * DAY + 18 * HOUR } },
          { range: window, hourlyAddresses: ['10.8.2.2'] },
          { range: window, splits: [{ address: '10.8.1.1', starts: [W0 + DAY] }] },
          { range: { from: W0 - DAY, to: W0 + 4 * DAY }, hourlyAddresses: ['10.8.4.2'], splits: [{ address: '10.8.0.1', starts: [W0 + 2 * DAY + 12 * HOUR] }] },
        ];
        const answers = async (): Promise<ConversationRow[][]> => Promise.all(queries.map((q) => collect(store.conversations(q))));
        const before = await answers();
        const wide = { from: W0 - DAY, to: W0 + 4 * DAY };
        const rolled = await store.compactDays(wide);
        // ClickHouse keeps a daily rollup (migration 0009); DuckDB reads the hourly one and rolls nothing.
        assert.deepEqual(rolled, store.kind === 'clickhouse' ? [W0 - DAY, W0, W0 + DAY, W0 + 2 * DAY, W0 + 3 * DAY] : []);
        assert.deepEqual(await store.compactDays(wide), [], 'nothing changed: nothing rolled again');
        assert.deepEqual(await answers(), before);

        // A flow that lands in a compacted day: the day is read from the hourly rollup until rolled again.
        const late = record({ time_received: W0 + DAY + 5 * HOUR, src_addr: A('10.8.9.1'), dst_addr: A('10.8.9.2'), src_port: 41000, dst_port: 80, proto: 6, bytes: 7, packets: 1, server_side: 'dst' });
        await store.insertFlows(flowBatchOf([late]));
        const stale = await collect(store.conversations({ range: window }));
        assert.deepEqual(stale.filter((r) => r.server === '10.8.9.2').map((r) => [r.flows, r.bytes, r.firstHour, r.days]), [[1, 7, W0 + DAY + 5 * HOUR, [0b010]]]);
        assert.deepEqual(stale.filter((r) => r.server !== '10.8.9.2'), before[0]);
        assert.deepEqual(await store.compactDays(window), store.kind === 'clickhouse' ? [W0 + DAY] : []);
        assert.deepEqual(await collect(store.conversations({ range: window })), stale);
      });
    });

    describe('baseline host pairs', () => {
      // A baseline id is a partition value in ClickHouse: quotes and backslashes must survive the drop too.
      const b1 = "b1'; DROP TABLE baseline_hosts; --\\";
      const hostile = "edge'; DROP TABLE baseline_hosts; --\t\n\\ ü日本";
      const rows = [
        host({ client: '10.9.1.2', bytes: 500 }),
        host({ client: '2001:db8::1', bytes: 1000 }),
        host({ client: '10.9.1.1', bytes: 1000, port: 8443 }),
        host({ client: '10.9.1.1', bytes: 1000, port: 8080, server: '10.9.0.2' }),
        host({ client: '10.9.1.1', bytes: 1000, port: 9090 }),
        host({ edge: hostile, rule: "listener\t'evidence'", client: '::ffff:10.9.1.3', flows: Number.MAX_SAFE_INTEGER, bytes: 2 ** 40, packets: 0, firstSeen: 1, lastSeen: 0xffffffff, daysSeen: 0xffff, proto: 255, port: 65535 }),
      ];

      it('stores host pairs and lists one edge by bytes, then client, server and port', async () => {
        await store.insertBaselineHosts(b1, rows.slice(0, 3));
        await store.insertBaselineHosts(b1, rows.slice(3));
        await store.insertBaselineHosts('b2', [host({ client: '10.9.9.9' })]);
        await store.insertBaselineHosts(b1, []);
        const web = await store.baselineHosts(b1, 'web->api');
        assert.deepEqual(web, [rows[2], rows[4], rows[3], rows[1], rows[0]].map((r) => r ?? host({})), 'IPv4 (::ffff:…) sorts before 2001:db8::');
        assert.deepEqual(await store.baselineHosts(b1, 'web->api', { limit: 2 }), web.slice(0, 2));
        assert.deepEqual(await store.baselineHosts(b1, hostile), [{ ...rows[5], client: '10.9.1.3' }]);
        assert.deepEqual((await store.baselineHosts('b2', 'web->api')).map((r) => r.client), ['10.9.9.9']);
        assert.deepEqual(await store.baselineHosts('b3', 'web->api'), []);
      });

      it('drops one baseline\'s host pairs and leaves the others', async () => {
        await store.dropBaselineHosts(b1);
        assert.deepEqual(await store.baselineHosts(b1, 'web->api'), []);
        assert.deepEqual(await store.baselineHosts(b1, hostile), []);
        assert.equal((await store.baselineHosts('b2', 'web->api')).length, 1);
        await store.dropBaselineHosts('never-stored');
      });

      it('refuses malformed host pairs whole and bad names and limits', async () => {
        const invalid = (e: unknown): boolean => isFlowmapError(e, 'FLOWMAP_BATCH_INVALID');
        const bad = (e: unknown): boolean => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST');
        const cases: Partial<BaselineHostRow>[] = [
          { client: 'web-1' },
          { server: '10.0.0.0/8' },
          { proto: 256 },
          { port: 65536 },
          { port: -1 },
          { flows: -1 },
          { bytes: 1.5 },
          { packets: 2 ** 53 },
          { daysSeen: 65536 },
          { firstSeen: 2 ** 32 },
          { lastSeen: Number.NaN },
          { edge: '' },
          { rule: 'r\ud800' },
        ];
        for (const c of cases) await assert.rejects(store.insertBaselineHosts('b4', [host({}), host(c)]), invalid, JSON.stringify(c));
        assert.deepEqual(await store.baselineHosts('b4', 'web->api'), [], 'a refused chunk writes nothing');
        for (const name of ['', 'x'.repeat(201), 'b\udc00']) {
          await assert.rejects(store.insertBaselineHosts(name, [host({})]), bad, name.slice(0, 10));
          await assert.rejects(store.baselineHosts(name, 'web->api'), bad);
          await assert.rejects(store.dropBaselineHosts(name), bad);
        }
        for (const limit of [0, 1.5, 100_001]) await assert.rejects(store.baselineHosts('b2', 'web->api', { limit }), bad, String(limit));
        await assert.rejects(store.baselineHosts('b2', ''), bad);
      });
    });

    it('answers ping and names its version', async () => {
      await store.ping();
      assert.match(await store.version(), /\d+\.\d+/);
    });
  });
}

const logger = silentLogger();

describeStore('duckdb', false, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-duckdb-'));
  let store = await createDuckDBStore({ dataDir: dir }, { logger });
  return {
    store,
    // DuckDB allows one open instance per file in a process; reopening closes the shared one.
    reopen: async (migrationsDir?: string) => {
      await store.close();
      store = await createDuckDBStore({ dataDir: dir, migrationsDir }, { logger });
      return store;
    },
    insertRawFlows: async (records: readonly FlowRecord[]) => {
      await store.close();
      const instance = await DuckDBInstance.create(join(dir, DUCKDB_FILE));
      const connection = await instance.connect();
      const batch = flowBatchOf(records);
      for (let i = 0; i < batch.length; i++) {
        const row = flowAt(batch, i) as unknown as Record<string, unknown>;
        const values = FLOW_COLUMNS.map(({ name, kind }) => {
          const value = row[name];
          if (kind === 'address') return `from_hex('${hex(value as Uint8Array)}')`;
          if (kind === 'enum' || kind === 'string') return `'${String(value).replaceAll("'", "''")}'`;
          return String(value);
        });
        await connection.run(`INSERT INTO flows VALUES (${values.join(', ')})`);
      }
      connection.closeSync();
      instance.closeSync();
      store = await createDuckDBStore({ dataDir: dir }, { logger });
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const ch = serviceUrl('clickhouse');
describeStore('clickhouse', ch.skip, async () => {
  const url = ch.url ?? '';
  const database = `flowmap_test_${randomBytes(4).toString('hex')}`;
  const config = { url, database, user: 'default', password: '', requestTimeoutMs: 30_000 };
  const store = await createClickHouseStore(config, { logger });
  const extra: Store[] = [];
  return {
    store,
    reopen: async (migrationsDir?: string) => {
      const other = await createClickHouseStore({ ...config, migrationsDir }, { logger });
      extra.push(other);
      return other;
    },
    cleanup: async () => {
      await store.close();
      for (const other of extra) await other.close().catch(() => undefined);
      const admin = createClient({ url });
      await admin.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) });
      await admin.close();
    },
  };
});
