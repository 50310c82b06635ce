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
import { createFlowBatch, flowAt, flowBatchOf, type FlowRecord } from '../core/flow.js';
import { formatAddress, parseAddress } from '../core/ip.js';
import { isFlowmapError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { serviceUrl } from '../test/services.js';
import { MIGRATIONS_ROOT } from './migrate.js';
import type { AggregateKey, Store } from './port.js';
import { createClickHouseStore } from './clickhouse/adapter.js';
import { identifier, sql, toText } from './clickhouse/literal.js';
import { createDuckDBStore } from './duckdb/adapter.js';

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

interface Harness {
  store: Store;
  reopen(migrationsDir?: string): Promise<Store>;
  cleanup(): Promise<void>;
}

function describeStore(name: string, skip: string | false, open: () => Promise<Harness>): void {
  describe(`store conformance: ${name}`, { skip }, () => {
    let h: Harness;
    let store: Store;
    const records = sampleRecords();
    const range = { from: T0, to: T0 + 86_400 };

    before(async () => {
      h = await open();
      store = h.store;
    });
    after(async () => {
      await h?.cleanup();
    });

    it('applies every migration once and reports nothing to do on the second run', async () => {
      assert.deepEqual(await store.pendingMigrations(), ['0001_flows.sql', '0002_meta.sql', '0003_interface_counters.sql']);
      const first = await store.migrate();
      assert.deepEqual(first.applied.map((m) => m.name), ['0001_flows.sql', '0002_meta.sql', '0003_interface_counters.sql']);
      assert.equal(first.alreadyApplied, 0);
      const second = await store.migrate();
      assert.equal(second.applied.length, 0);
      assert.equal(second.alreadyApplied, 3);
      assert.deepEqual(await store.pendingMigrations(), []);
    });

    it('answers zero totals and no groups on an empty range', async () => {
      assert.deepEqual(await store.flowTotals(range), { flows: 0, bytes: 0, packets: 0 });
      assert.deepEqual(await store.aggregateFlows({ range, groupBy: ['proto'] }), []);
      assert.equal((await store.readFlows(range)).length, 0);
    });

    it('stores every column of every record exactly, edge values and hostile strings included', async () => {
      await store.insertFlows(flowBatchOf(records));
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

    it('writes a batch larger than one insert chunk whole', async () => {
      const n = 60_001;
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
      assert.deepEqual(await store.flowTotals({ from: T0 + 200_000, to: T0 + 300_000 }), { flows: n, bytes: (n * (n - 1)) / 2, packets: n });
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
      writeFileSync(join(dir, '0004_probe.sql'), 'CREATE TABLE probe_added (a UInt8) ENGINE = Memory;'.replace('UInt8) ENGINE = Memory', dialect === 'duckdb' ? 'INTEGER)' : 'UInt8) ENGINE = Memory'));
      const extended = await h.reopen(dir);
      const report = await extended.migrate();
      assert.deepEqual(report.applied.map((m) => m.name), ['0004_probe.sql']);
      await extended.close();
      rmSync(dir, { recursive: true, force: true });
      store = await h.reopen();
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
