// The sink against a real (embedded) store: a batch the store refuses as malformed is set aside
// and does not hold up the batches behind it; batches pushed while the spool holds others are
// stored after them, and all of them land.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowBatchOf, type FlowRecord } from '../core/flow.js';
import { parseAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import { encodeBatch } from './batch-codec.js';
import { Sink } from './sink.js';
import { Spool } from './spool.js';

const NOW = 1_750_000_000;

function records(first: number, count: number, bytes = 100): FlowRecord[] {
  return Array.from({ length: count }, (_, k) => ({
    time_received: NOW,
    source: 'ipfix' as const,
    exporter: parseAddress('192.0.2.1'),
    src_addr: parseAddress(`10.0.${(first + k) >> 8}.${(first + k) & 0xff}`),
    dst_addr: parseAddress('192.0.2.9'),
    src_port: 40_000,
    dst_port: 443,
    proto: 6,
    bytes,
    packets: 1,
  }));
}

describe('sink', () => {
  let dir: string;
  let store: Store;
  const events = { inserted: 0, failed: 0, rejected: 0 };
  let sink: Sink;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-sink-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    const spool = await Spool.open(join(dir, 'spool'), { maxBytes: 64 * 1024 * 1024, logger: silentLogger() });
    sink = new Sink(store, spool, silentLogger(), {
      inserted: () => void events.inserted++,
      failed: () => void events.failed++,
      rejected: (_kind, rows) => void (events.rejected += rows),
    });
  });

  after(async () => {
    await sink?.close(5000);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets a batch the store refuses aside and stores the ones around it', async () => {
    const poison = flowBatchOf(records(100, 3));
    // A byte count no flow can have: the store's batch check refuses the whole batch.
    poison.columns.bytes[1] = 2 ** 60;
    sink.pushFlows(encodeBatch(flowBatchOf(records(0, 5))), 5);
    sink.pushFlows(encodeBatch(poison), 3);
    sink.pushFlows(encodeBatch(flowBatchOf(records(200, 7))), 7);
    await sink.drained(10_000);
    assert.deepEqual(await store.flowTotals({ from: NOW, to: NOW + 1 }), { flows: 12, bytes: 1200, packets: 12 });
    assert.equal(events.rejected, 3);
    const rejected = join(dir, 'spool', 'rejected');
    assert.ok(existsSync(rejected) && readdirSync(rejected).length === 1, 'the refused batch is kept for inspection');
  });

  it('acknowledges a batch once stored, and rejects one the store refuses, so a file ingest knows what is safe', async () => {
    const before = (await store.flowTotals({ from: NOW, to: NOW + 1 })).flows;
    await sink.pushFlowsAcknowledged(encodeBatch(flowBatchOf(records(5000, 4))), 4);
    assert.equal((await store.flowTotals({ from: NOW, to: NOW + 1 })).flows - before, 4, 'stored when the promise resolves');
    const poison = flowBatchOf(records(5100, 2));
    poison.columns.bytes[0] = 2 ** 60;
    await assert.rejects(sink.pushFlowsAcknowledged(encodeBatch(poison), 2), /not stored or spooled/);
  });

  it('stores everything when more batches arrive than one insert at a time can take', async () => {
    const before = (await store.flowTotals({ from: NOW, to: NOW + 1 })).flows;
    // Far more than the in-memory queue holds: the rest goes through the spool, in order.
    for (let b = 0; b < 40; b++) sink.pushFlows(encodeBatch(flowBatchOf(records(1000 + b * 10, 10))), 10);
    await sink.drained(30_000);
    assert.equal((await store.flowTotals({ from: NOW, to: NOW + 1 })).flows - before, 400);
    assert.equal(sink.spool.size.batches, 0);
  });
});

describe('sink: acknowledged batches and a full spool', () => {
  it('rejects an acknowledged batch the spool had no room for, while the store is down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-sink-full-'));
    const store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    const spool = await Spool.open(join(dir, 'spool'), { maxBytes: 1024 * 1024, logger: silentLogger() });
    // The store is away: every insert fails, so batches go to the 1 MiB spool.
    const away = { ...store, insertFlows: () => Promise.reject(new Error('store away')), ping: () => Promise.reject(new Error('store away')) } as Store;
    const sink = new Sink(away, spool, silentLogger(), { inserted() {}, failed() {}, rejected() {} });
    try {
      const small = encodeBatch(flowBatchOf(records(0, 10)));
      await sink.pushFlowsAcknowledged(small, 10);
      assert.equal(spool.size.batches, 1, 'safe in the spool');
      const big = encodeBatch(flowBatchOf(records(0, 20_000)));
      assert.ok(big.length > 1024 * 1024);
      await assert.rejects(sink.pushFlowsAcknowledged(big, 20_000), /not stored or spooled/);
      assert.equal(spool.droppedRows, 20_000);
    } finally {
      await sink.close(1000);
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
