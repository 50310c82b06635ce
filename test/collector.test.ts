// End to end through the collector (issue 4, acceptance 1): our encoders send a known set of flows
// over UDP on loopback, per protocol; exactly those flows are in the store — ClickHouse, then
// DuckDB — field by field, oriented, and the hourly rollup sums to the same totals.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startCollector, type Collector } from '../collector/service.js';
import { encodeIpfix } from '../collector/encoders/ipfix.js';
import { encodeNetflow5 } from '../collector/encoders/netflow5.js';
import { encodeNetflow9 } from '../collector/encoders/netflow9.js';
import { encodeSflow } from '../collector/encoders/sflow.js';
import { flowAt, type FlowRecord, type FlowSource } from '../core/flow.js';
import { formatAddress, parseAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createClickHouseStore, createDuckDBStore, type Store } from '../store/index.js';
import { collectorOptions, exporterSocket, received, send } from './collector-harness.js';
import { serviceUrl } from './services.js';

const clickhouse = serviceUrl('clickhouse');
const NOW = Math.floor(Date.now() / 1000);

interface Protocol {
  source: FlowSource;
  /** Second octet of the protocol's addresses, so rows can be told apart. */
  net: number;
  v6: boolean;
  rate: number;
  times: boolean;
  vlan: boolean;
  encode(records: FlowRecord[]): Uint8Array[];
}

const PROTOCOLS: Protocol[] = [
  { source: 'netflow5', net: 5, v6: false, rate: 1, times: true, vlan: false, encode: (r) => encodeNetflow5(r) },
  { source: 'netflow9', net: 9, v6: true, rate: 10, times: true, vlan: true, encode: (r) => encodeNetflow9(r) },
  { source: 'ipfix', net: 10, v6: true, rate: 1, times: true, vlan: true, encode: (r) => encodeIpfix(r) },
  { source: 'sflow', net: 6, v6: true, rate: 256, times: false, vlan: true, encode: (r) => encodeSflow(r) },
];

/** Services on low and high ports against ephemeral clients, replies, a SYN-only probe, ICMP. */
const SHAPES: { src_port: number; dst_port: number; proto: number; tcp_flags: number; server: 'src' | 'dst' | 'unknown' }[] = [
  { src_port: 50_123, dst_port: 443, proto: 6, tcp_flags: 0x1b, server: 'dst' },
  { src_port: 443, dst_port: 50_123, proto: 6, tcp_flags: 0x1b, server: 'src' },
  { src_port: 41_000, dst_port: 5432, proto: 6, tcp_flags: 0x18, server: 'dst' },
  { src_port: 9090, dst_port: 60_001, proto: 6, tcp_flags: 0x18, server: 'src' },
  { src_port: 700, dst_port: 8080, proto: 6, tcp_flags: 0x18, server: 'dst' },
  { src_port: 33_333, dst_port: 44_444, proto: 6, tcp_flags: 0x02, server: 'dst' },
  { src_port: 53_000, dst_port: 53, proto: 17, tcp_flags: 0, server: 'dst' },
  { src_port: 0, dst_port: 0x0800, proto: 1, tcp_flags: 0, server: 'unknown' },
];

function records(p: Protocol, count: number): (FlowRecord & { server: string })[] {
  return Array.from({ length: count }, (_, k) => {
    const shape = SHAPES[k % SHAPES.length]!;
    const v6 = p.v6 && k % 3 === 2;
    return {
      time_received: NOW,
      time_start: NOW - 30 - (k % 7),
      time_end: NOW - 2 - (k % 3),
      source: p.source,
      exporter: parseAddress('127.0.0.1'),
      observation_domain: p.source === 'netflow5' || p.source === 'sflow' ? 0 : 3,
      src_addr: parseAddress(v6 ? `2001:db8:${p.net}::${k + 1}` : `10.${p.net}.${k >> 8}.${(k & 0xff) + 1}`),
      dst_addr: parseAddress(v6 ? `2001:db8:ffff::${(k % 5) + 1}` : `192.0.2.${(k % 5) + 1}`),
      src_port: shape.src_port,
      dst_port: shape.dst_port,
      proto: shape.proto,
      tcp_flags: shape.tcp_flags,
      // Multiples of the rate survive the encoders' division by it exactly.
      bytes: p.rate * (100 + k) * (p.source === 'sflow' ? 1 : 3),
      packets: p.source === 'sflow' ? p.rate : p.rate * (1 + (k % 4)),
      sampling_rate: p.rate,
      in_if: 1 + (k % 9),
      out_if: 20 + (k % 4),
      vlan: p.vlan ? 100 + (k % 3) : 0,
      server: shape.server,
    };
  });
}

function fields(r: FlowRecord, p: Protocol): unknown[] {
  return [
    r.source,
    formatAddress(r.src_addr),
    formatAddress(r.dst_addr),
    r.src_port,
    r.dst_port,
    r.proto,
    r.tcp_flags,
    r.bytes,
    r.packets,
    r.sampling_rate,
    r.observation_domain,
    r.in_if,
    r.out_if,
    r.vlan,
    p.times ? r.time_start : undefined,
    p.times ? r.time_end : undefined,
  ];
}

const STORES: { name: string; skip: string | false; open(dir: string): Promise<Store> }[] = [
  {
    name: 'ClickHouse',
    skip: clickhouse.skip,
    open: () => createClickHouseStore({ url: clickhouse.url ?? '', database: `flowmap_collector_${process.pid}`, user: 'default', password: '', requestTimeoutMs: 30_000 }, { logger: silentLogger() }),
  },
  { name: 'DuckDB', skip: false, open: (dir) => createDuckDBStore({ dataDir: dir }, { logger: silentLogger() }) },
];

for (const backend of STORES) {
  describe(`collector end to end into ${backend.name}`, { skip: backend.skip }, () => {
    let dir: string;
    let store: Store;
    let collector: Collector;
    const sent = new Map<FlowSource, (FlowRecord & { server: string })[]>();

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flowmap-collector-'));
      store = await backend.open(dir);
      await store.migrate();
      collector = await startCollector(collectorOptions(dir, { batchRows: 50, flushIntervalMs: 50 }), { store, logger: silentLogger(), registry: new Registry() });
      let datagrams = 0;
      const socket = await exporterSocket();
      for (const [i, p] of PROTOCOLS.entries()) {
        const list = records(p, 120 + i * 17);
        sent.set(p.source, list);
        const encoded = p.encode(list);
        datagrams += encoded.length;
        await send(socket, collector.endpoints[0]!.port, encoded);
      }
      socket.close();
      await received(collector, datagrams);
      await collector.flush();
    });

    after(async () => {
      await collector?.stop();
      if (backend.name === 'ClickHouse') {
        // The scratch database goes with the test.
        const { createClient } = await import('@clickhouse/client');
        const client = createClient({ url: clickhouse.url });
        await client.command({ query: `DROP DATABASE IF EXISTS flowmap_collector_${process.pid}` });
        await client.close();
      }
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const p of PROTOCOLS) {
      it(`${p.source}: exactly the flows sent are stored, field by field, oriented`, async () => {
        const batch = await store.readFlows({ from: NOW - 3600, to: NOW + 3600 }, { limit: 100_000 });
        const rows = Array.from({ length: batch.length }, (_, i) => flowAt(batch, i)).filter((r) => r.source === p.source);
        const want = sent.get(p.source) ?? [];
        const key = (values: unknown[]): string => JSON.stringify(values);
        assert.deepEqual(rows.map((r) => key(fields(r, p))).sort(), want.map((r) => key(fields(r, p))).sort());
        for (const row of rows) {
          assert.equal(formatAddress(row.exporter), '127.0.0.1');
          assert.ok(row.time_received >= NOW - 5 && row.time_received <= Math.floor(Date.now() / 1000), `time_received ${row.time_received}`);
        }
        const sides = new Map(want.map((r) => [`${formatAddress(r.src_addr)} ${r.src_port}`, r.server]));
        for (const row of rows) assert.equal(row.server_side, sides.get(`${formatAddress(row.src_addr)} ${row.src_port}`), `${formatAddress(row.src_addr)}:${row.src_port} → ${row.dst_port}`);
      });
    }

    it('the hourly rollup sums to the raw totals, and both to what was sent', async () => {
      const hour = Math.floor(NOW / 3600) * 3600;
      // Whole hours around now: receive times may cross an hour boundary during the test.
      const range = { from: hour - 3600, to: hour + 7200 };
      const raw = await store.flowTotals(range);
      const rollup = await store.rollupTotals(range);
      const all = [...sent.values()].flat();
      const expected = { flows: all.length, bytes: all.reduce((n, r) => n + (r.bytes ?? 0), 0), packets: all.reduce((n, r) => n + (r.packets ?? 0), 0) };
      assert.deepEqual(raw, expected);
      assert.deepEqual(rollup, expected);
    });

    it('counts every exporter datagram and flow, and nothing was spooled or dropped', () => {
      const stats = collector.stats();
      const exporters = collector.exporters();
      assert.equal(exporters.length, 1);
      assert.equal(exporters[0]?.exporter, '127.0.0.1');
      assert.equal(exporters[0]?.datagrams, stats.datagrams);
      assert.equal(exporters[0]?.flows, [...sent.values()].flat().length);
      assert.equal(stats.storedRows, exporters[0]?.flows);
      assert.deepEqual([stats.refused, stats.backlogDropped, stats.spool.batches, stats.spool.droppedRows], [0, 0, 0, 0]);
    });
  });
}
