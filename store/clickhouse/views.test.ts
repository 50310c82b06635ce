// What only ClickHouse has to get right about the rollup and listener evidence: the materialized
// views pre-aggregate each inserted block, and answers do not depend on whether the
// SummingMergeTree / AggregatingMergeTree / ReplacingMergeTree parts have merged yet. The shared
// answers themselves are held to DuckDB's in ../conformance.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { flowBatchOf, type FlowRecord } from '../../core/flow.js';
import { parseAddress } from '../../core/ip.js';
import { silentLogger } from '../../core/logger.js';
import { serviceUrl } from '../../test/services.js';
import type { ConversationRow, ExporterStatus, Store } from '../port.js';
import { createClickHouseStore } from './adapter.js';
import { identifier, sql, toText } from './literal.js';

const ch = serviceUrl('clickhouse');
const T0 = 1_763_078_400; // 2025-11-14 00:00:00 UTC
const A = parseAddress;

/**
 * 600 flows in one hour: 3 clients × 2 servers on 443 (TCP), each client from 100 ports, plus
 * the replies (server_side 'src') and 100 ICMP flows that are rolled up but are no evidence.
 */
function records(): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < 300; i++) {
    const client = A(`10.7.1.${1 + (i % 3)}`);
    const server = A(`10.7.0.${1 + (i % 2)}`);
    const port = 40000 + Math.floor(i / 3);
    out.push({ time_received: T0 + i, source: 'ipfix', exporter: A('192.0.2.7'), src_addr: client, dst_addr: server, src_port: port, dst_port: 443, proto: 6, bytes: 100, packets: 1, server_side: 'dst' });
    if (i < 200) out.push({ time_received: T0 + i, source: 'ipfix', exporter: A('192.0.2.7'), src_addr: server, dst_addr: client, src_port: 443, dst_port: port, proto: 6, bytes: 1000, packets: 2, server_side: 'src' });
  }
  for (let i = 0; i < 100; i++) out.push({ time_received: T0 + i, source: 'ipfix', exporter: A('192.0.2.7'), src_addr: A('10.7.1.1'), dst_addr: A('10.7.0.1'), proto: 1, bytes: 64, packets: 1 });
  return out;
}

describe('clickhouse views', { skip: ch.skip }, () => {
  const url = ch.url ?? '';
  const database = `flowmap_views_${randomBytes(4).toString('hex')}`;
  const admin = createClient({ url, database });
  let store: Store;

  const physicalRows = async (table: string): Promise<number> => {
    const result = await admin.query({ query: toText(sql`SELECT count() AS n FROM ${identifier(table)}`), format: 'JSONEachRow' });
    return Number((await result.json<{ n: string }>())[0]?.n);
  };
  const optimize = async (table: string): Promise<void> => {
    await admin.command({ query: toText(sql`SYSTEM START MERGES ${identifier(table)}`) });
    await admin.command({ query: toText(sql`OPTIMIZE TABLE ${identifier(table)} FINAL`) });
  };

  const allConversations = async (range: { from: number; to: number }): Promise<ConversationRow[]> => {
    const rows: ConversationRow[] = [];
    for await (const chunk of store.conversations({ range })) rows.push(...chunk);
    return rows.sort((a, b) => Buffer.compare(A(a.client), A(b.client)) || Buffer.compare(A(a.server), A(b.server)) || a.proto - b.proto);
  };

  before(async () => {
    store = await createClickHouseStore({ url, database, user: 'default', password: '', requestTimeoutMs: 30_000 }, { logger: silentLogger() });
    await store.migrate();
    // Background merges would otherwise fold parts together at a moment of their choosing; the
    // tests merge them when they mean to (OPTIMIZE … FINAL).
    for (const table of ['flows_1h', 'listener_evidence', 'exporters']) await admin.command({ query: toText(sql`SYSTEM STOP MERGES ${identifier(table)}`) });
  });
  after(async () => {
    await store?.close();
    await admin.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) });
    await admin.close();
  });

  it('pre-aggregates each inserted block into one rollup row per conversation; evidence records one row per endpoint', async () => {
    await store.insertFlows(flowBatchOf(records()));
    await store.recordListenerEvidence({ from: T0, to: T0 + 3600 });
    // Conversations: 3 clients × 2 servers on 443/TCP (requests and replies orient alike), and
    // ICMP 10.7.1.1 → 10.7.0.1 on port 0.
    assert.equal(await physicalRows('flows_1h'), 3 * 2 + 1);
    // Endpoints: 2 servers on 443 and 300 distinct client ports (100 per client).
    assert.equal(await physicalRows('listener_evidence'), 2 + 300);
  });

  it('answers the same before and after the parts merge', async () => {
    // Three more copies: four parts per table, each key in every one of them.
    for (let i = 0; i < 3; i++) {
      await store.insertFlows(flowBatchOf(records()));
      // Recording the hour again each time: the evidence of earlier copies is recorded again too.
      await store.recordListenerEvidence({ from: T0, to: T0 + 3600 });
    }
    const range = { from: T0, to: T0 + 3600 };
    const rollup = await store.aggregateRollup({ range, groupBy: ['client', 'server', 'service_port', 'proto'], orderBy: 'flows' });
    const evidence = await store.listenerEvidence({ from: T0, to: T0 + 86_400 }, { minPeerPorts: 2 });
    const conversations = await allConversations(range);
    // Port bounds are min/max states, one per part until the parts merge. Pair i mod 6 gets the
    // requests i = r, r + 6, …: ports 40000 + ⌊i/3⌋, even ⌊i/3⌋ for r < 3, odd for r ≥ 3; 50
    // requests and 34 (r = 0, 1) or 33 replies of the first 200, four copies of each.
    assert.deepEqual(
      conversations.filter((c) => c.proto === 6).map((c) => [c.client, c.server, c.clientPortMin, c.clientPortMax, c.flows]),
      [
        ['10.7.1.1', '10.7.0.1', 40000, 40098, 4 * 84],
        ['10.7.1.1', '10.7.0.2', 40001, 40099, 4 * 83],
        ['10.7.1.2', '10.7.0.1', 40001, 40099, 4 * 83],
        ['10.7.1.2', '10.7.0.2', 40000, 40098, 4 * 84],
        ['10.7.1.3', '10.7.0.1', 40000, 40098, 4 * 83],
        ['10.7.1.3', '10.7.0.2', 40001, 40099, 4 * 83],
      ],
    );
    assert.deepEqual(await store.rollupTotals(range), { flows: 4 * 600, bytes: 4 * (300 * 100 + 200 * 1000 + 100 * 64), packets: 4 * (300 + 400 + 100) });
    // Each server on 443 hears from all three clients (i % 3) and all 100 port numbers
    // 40000 + ⌊i/3⌋ (every run of three i holds an even and an odd one).
    assert.deepEqual(evidence, [
      { day: T0, address: '10.7.0.1', proto: 6, port: 443, peers: 3, peerPorts: 100 },
      { day: T0, address: '10.7.0.2', proto: 6, port: 443, peers: 3, peerPorts: 100 },
    ]);
    assert.equal(await physicalRows('flows_1h'), 4 * 7, 'four unmerged parts, a row per key in each');

    await optimize('flows_1h');
    await optimize('listener_evidence');
    assert.equal(await physicalRows('flows_1h'), 7);
    assert.equal(await physicalRows('listener_evidence'), 302);
    // Recorded four times over, the counts are still distinct counts.
    assert.deepEqual(await store.aggregateRollup({ range, groupBy: ['client', 'server', 'service_port', 'proto'], orderBy: 'flows' }), rollup);
    assert.deepEqual(await store.listenerEvidence({ from: T0, to: T0 + 86_400 }, { minPeerPorts: 2 }), evidence);
    assert.deepEqual(await allConversations(range), conversations, 'merged min/max states and summed syn_flows answer alike');
  });

  it('lists one exporter status per key whether or not the replaced rows have merged away', async () => {
    const status = (updatedAt: number, datagrams: number): ExporterStatus => ({
      collector: 'c1',
      exporter: '192.0.2.7',
      firstSeen: T0,
      lastSeen: updatedAt,
      datagrams,
      flows: 4 * 600,
      templates: 1,
      samplingRates: [1],
      errors: { 'unknown template': 2 },
      updatedAt,
    });
    await store.upsertExporters([status(T0 + 10, 1)]);
    await store.upsertExporters([status(T0 + 30, 3)]);
    await store.upsertExporters([status(T0 + 20, 2)]);
    assert.equal(await physicalRows('exporters'), 3);
    assert.deepEqual(await store.listExporters(), [status(T0 + 30, 3)]);
    await optimize('exporters');
    assert.equal(await physicalRows('exporters'), 1);
    assert.deepEqual(await store.listExporters(), [status(T0 + 30, 3)]);
  });
});
