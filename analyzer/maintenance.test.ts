// The store-maintenance jobs against a real store: retention drops whole days past the configured
// age; listener evidence is recorded hour by hour after each hour ends and catches up after a pause.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowBatchOf, type FlowRecord } from '../core/flow.js';
import { parseAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createClickHouseStore, createDuckDBStore, type Store } from '../store/index.js';
import { serviceUrl } from '../test/services.js';
import { MAX_CATCH_UP_HOURS, recordEvidence } from './evidence.js';
import { applyRetention } from './retention.js';

const DAY = 86_400;
const HOUR = 3600;
const clickhouse = serviceUrl('clickhouse');

function flow(time: number, client: string, clientPort: number): FlowRecord {
  return {
    time_received: time,
    source: 'ipfix',
    exporter: parseAddress('192.0.2.1'),
    src_addr: parseAddress(client),
    dst_addr: parseAddress('10.1.0.1'),
    src_port: clientPort,
    dst_port: 9090,
    proto: 6,
    bytes: 100,
    packets: 1,
  };
}

const BACKENDS: { name: string; skip: string | false; open(dir: string): Promise<Store>; drop?(): Promise<void> }[] = [
  { name: 'DuckDB', skip: false, open: (dir) => createDuckDBStore({ dataDir: dir }, { logger: silentLogger() }) },
  {
    name: 'ClickHouse',
    skip: clickhouse.skip,
    open: () => createClickHouseStore({ url: clickhouse.url ?? '', database: `flowmap_jobs_${process.pid}`, user: 'default', password: '', requestTimeoutMs: 30_000 }, { logger: silentLogger() }),
    async drop() {
      const { createClient } = await import('@clickhouse/client');
      const client = createClient({ url: clickhouse.url });
      await client.command({ query: `DROP DATABASE IF EXISTS flowmap_jobs_${process.pid}` });
      await client.close();
    },
  },
];

for (const backend of BACKENDS) {
  describe(`maintenance jobs on ${backend.name}`, { skip: backend.skip }, () => {
    let dir: string;
    let store: Store;
    // Today's UTC midnight, rounded from a fixed instant so the test does not depend on the clock.
    const today = Math.floor(1_780_000_000 / DAY) * DAY;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flowmap-jobs-'));
      store = await backend.open(dir);
      await store.migrate();
    });
    after(async () => {
      await store?.close();
      await backend.drop?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('records evidence for every ended hour after the watermark, and only those', async () => {
      // Hour h: 4 distinct client ports reach 10.1.0.1:9090; the current hour's flows wait.
      const hours = [today + 2 * HOUR, today + 3 * HOUR, today + 5 * HOUR];
      await store.insertFlows(flowBatchOf(hours.flatMap((h, i) => [0, 1, 2, 3].map((k) => flow(h + 60 * k, `10.2.0.${i + 1}`, 40_000 + 10 * i + k)))));
      const first = await recordEvidence(store, (today + 5 * HOUR + 1800) * 1000);
      assert.equal(first.hours.length, MAX_CATCH_UP_HOURS, 'a first run catches up 48 hours');
      assert.equal(first.until, new Date((today + 5 * HOUR) * 1000).toISOString());
      const server = async (): Promise<number | undefined> =>
        (await store.listenerEvidence({ from: today, to: today + DAY })).find((e) => e.address === '10.1.0.1' && e.port === 9090)?.peerPorts;
      // ClickHouse answers from what was recorded: the two ended hours. The embedded store computes
      // evidence from flows when read, so it already counts the current hour too.
      assert.equal(await server(), backend.name === 'ClickHouse' ? 8 : 12);

      const second = await recordEvidence(store, (today + 6 * HOUR + 60) * 1000);
      // The new hour, and the three before the watermark again (flows replayed late land there).
      assert.deepEqual(second.hours, [2, 3, 4, 5].map((h) => new Date((today + h * HOUR) * 1000).toISOString()));
      assert.equal(await server(), 12);
      const third = await recordEvidence(store, (today + 6 * HOUR + 120) * 1000);
      assert.equal(third.until, new Date((today + 6 * HOUR) * 1000).toISOString(), 'nothing new to record');
      assert.equal(await server(), 12, 'recording hours again counts nothing twice');
    });

    it('drops the days older than the retention age and keeps the rest', async () => {
      await store.insertFlows(flowBatchOf([flow(today - 40 * DAY + 5, '10.3.0.1', 1), flow(today - 34 * DAY, '10.3.0.2', 2)]));
      const result = await applyRetention(store, 35, (today + HOUR) * 1000);
      assert.deepEqual(result.droppedDays, [new Date((today - 40 * DAY) * 1000).toISOString().slice(0, 10)]);
      assert.deepEqual(await store.flowDays(), [today - 34 * DAY, today]);
      assert.deepEqual((await applyRetention(store, 35, (today + HOUR) * 1000)).droppedDays, []);
    });
  });
}
