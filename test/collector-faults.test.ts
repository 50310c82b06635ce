// The collector under faults (issue 4, acceptance 3 and 4):
// - ClickHouse stopped for 30 s while flows stream in: every flow sent is stored exactly once.
// - A collector restarted with a non-empty spool replays it, and decodes data at once with the
//   templates it saved (no template on the wire after the restart).
// - Malformed datagrams (the corpus fuzz cases, mutated real datagrams, random bytes) sent as fast
//   as one socket can: the collector neither crashes nor stalls, and the good flows sent in
//   between, from another exporter, are all stored.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { createClient } from '@clickhouse/client';
import { Registry } from 'prom-client';
import { startCollector, type Collector } from '../collector/service.js';
import { encodeIpfix } from '../collector/encoders/ipfix.js';
import { encodeNetflow9 } from '../collector/encoders/netflow9.js';
import { readCapture } from '../collector/pcap.js';
import type { FlowRecord } from '../core/flow.js';
import { parseAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createClickHouseStore, createDuckDBStore, type Store } from '../store/index.js';
import { collectorOptions, exporterSocket, received, send } from './collector-harness.js';
import { CORPUS, corpusFiles } from './corpus.js';
import { inCI, onPath, startClickHouse, type ServiceHandle } from './services.js';

const NOW = Math.floor(Date.now() / 1000);
const ownClickHouse = onPath('clickhouse-server') ? false : 'clickhouse-server is not on PATH';
if (ownClickHouse !== false && inCI) throw new Error(`CI=true and ${ownClickHouse}`);

/** Flow `n` of a stream: unique by (src_addr, src_port), so duplicates and gaps show. */
function flow(n: number): FlowRecord {
  return {
    time_received: NOW,
    time_start: NOW - 10,
    time_end: NOW - 1,
    source: 'netflow9',
    exporter: parseAddress('127.0.0.1'),
    observation_domain: 1,
    src_addr: parseAddress(`10.${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`),
    dst_addr: parseAddress('192.0.2.80'),
    src_port: 10_000 + (n % 50_000),
    dst_port: 443,
    proto: 6,
    tcp_flags: 0x1b,
    bytes: 1000 + n,
    packets: 1 + (n % 7),
  };
}

function flows(from: number, count: number): FlowRecord[] {
  return Array.from({ length: count }, (_, k) => flow(from + k));
}

/** count(), distinct flows, and the sum of bytes stored. */
async function stored(url: string, database: string): Promise<{ rows: number; distinct: number; bytes: number }> {
  const client = createClient({ url, database });
  try {
    const result = await client.query({ query: 'SELECT count() AS rows, uniqExact(src_addr, src_port) AS distinct, sum(bytes) AS bytes FROM flows', format: 'JSONEachRow' });
    const [row] = await result.json<{ rows: string; distinct: string; bytes: string }>();
    return { rows: Number(row?.rows), distinct: Number(row?.distinct), bytes: Number(row?.bytes) };
  } finally {
    await client.close();
  }
}

function expected(from: number, count: number): { rows: number; distinct: number; bytes: number } {
  let bytes = 0;
  for (let n = from; n < from + count; n++) bytes += 1000 + n;
  return { rows: count, distinct: count, bytes };
}

describe('collector faults with a ClickHouse of its own', { skip: ownClickHouse }, () => {
  let clickhouse: ServiceHandle;
  let dir: string;
  const database = 'flowmap_faults';
  let store: Store;

  before(async () => {
    clickhouse = await startClickHouse();
    dir = mkdtempSync(join(tmpdir(), 'flowmap-faults-'));
    store = await createClickHouseStore({ url: clickhouse.url, database, user: 'default', password: '', requestTimeoutMs: 10_000 }, { logger: silentLogger() });
    await store.migrate();
  });

  after(async () => {
    await store?.close();
    await clickhouse?.dispose();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('ClickHouse stopped for 30 s while flows stream in: every flow is stored exactly once', async () => {
    const state = join(dir, 'outage');
    const collector = await startCollector(collectorOptions(state), { store, logger: silentLogger(), registry: new Registry() });
    const socket = await exporterSocket();
    const port = collector.endpoints[0]!.port;
    let next = 0;
    let datagrams = 0;
    // About 1,000 flows/s in bursts of 100 every 100 ms, with the templates in every datagram.
    const stream = async (until: () => boolean): Promise<void> => {
      while (!until()) {
        const burst = encodeNetflow9(flows(next, 100));
        next += 100;
        datagrams += burst.length;
        await send(socket, port, burst);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    try {
      const t0 = Date.now();
      await stream(() => Date.now() - t0 > 3000);
      await clickhouse.stop();
      const down = Date.now();
      await stream(() => Date.now() - down > 31_000);
      const spooled = collector.stats().spool.batches;
      assert.ok(spooled > 0, 'batches were spooled during the outage');
      await clickhouse.start();
      const up = Date.now();
      await stream(() => Date.now() - up > 3000);
      await received(collector, datagrams);
      await collector.drain(60_000);
      assert.deepEqual(await stored(clickhouse.url, database), expected(0, next));
      const stats = collector.stats();
      assert.equal(stats.spool.batches, 0);
      assert.equal(stats.spool.droppedRows, 0);
      assert.equal(stats.storedRows, next);
    } finally {
      socket.close();
      await collector.stop();
    }
  });

  it('a collector restarted with a non-empty spool replays it, and decodes without waiting for templates', async () => {
    const state = join(dir, 'restart');
    // A database of its own: the outage test's flows stay where they are.
    const database = 'flowmap_faults_restart';
    const store = await createClickHouseStore({ url: clickhouse.url, database, user: 'default', password: '', requestTimeoutMs: 10_000 }, { logger: silentLogger() });
    await store.migrate();

    await clickhouse.stop();
    const first = await startCollector(collectorOptions(state), { store, logger: silentLogger(), registry: new Registry() });
    const socket = await exporterSocket();
    try {
      const before = encodeIpfix(flows(0, 3000).map((f) => ({ ...f, source: 'ipfix' as const })));
      await send(socket, first.endpoints[0]!.port, before);
      await received(first, before.length);
      await first.flush();
      assert.equal(first.stats().flows, 3000);
      assert.ok(first.stats().spool.batches > 0, 'the store is down: batches are in the spool');
    } finally {
      await first.stop();
    }

    await clickhouse.start();
    const second = await startCollector(collectorOptions(state), { store, logger: silentLogger(), registry: new Registry() });
    try {
      // Data sets only: the templates come from what the first collector saved.
      const after = encodeIpfix(
        flows(3000, 2000).map((f) => ({ ...f, source: 'ipfix' as const })),
        { templates: 'none' },
      );
      await send(socket, second.endpoints[0]!.port, after);
      await received(second, after.length);
      await second.drain(60_000);
      assert.equal(second.exporters()[0]?.flows, 2000 + 3000, 'exporter counters continue across the restart');
      assert.deepEqual(await stored(clickhouse.url, database), expected(0, 5000));
    } finally {
      socket.close();
      await second.stop();
      await store.close();
    }
  });
});

describe('collector under bad input', () => {
  let dir: string;
  let store: Store;
  let collector: Collector;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-bad-input-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    collector = await startCollector(collectorOptions(dir), { store, logger: process.env.DBG ? (await import('../core/logger.js')).createLogger({ level: 'info' }, process.stderr) : silentLogger(), registry: new Registry() });
  });

  after(async () => {
    await collector?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives fuzz cases, mutations and random bytes at full speed, and stores every good flow sent in between', async () => {
    const port = collector.endpoints[0]!.port;
    const bad = await exporterSocket('127.0.0.1');
    const good = await exporterSocket('127.0.0.2');
    // Every datagram of every corpus capture (the libnetflow9 and tcpdump fuzz cases among them),
    // then mutated copies: flipped bytes, cut lengths, forged length fields.
    const corpus = corpusFiles(CORPUS).flatMap((file) => {
      try {
        return readCapture(readFileSync(file)).datagrams.map((d) => Uint8Array.from(d.payload));
      } catch {
        return [];
      }
    });
    assert.ok(corpus.length > 100, `corpus datagrams: ${corpus.length}`);
    let seed = 12345;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const mutate = (d: Uint8Array): Uint8Array => {
      const copy = Uint8Array.from(d);
      const kind = random() % 3;
      if (kind === 0) for (let i = 0; i < 1 + (random() % 8); i++) copy[random() % copy.length] = random() & 0xff;
      else if (kind === 1) return copy.subarray(0, random() % copy.length);
      else if (copy.length > 4) copy[2 + (random() % 2)] = random() & 0xff;
      return copy;
    };
    const noise = (): Uint8Array => {
      const bytes = new Uint8Array(random() % 1500);
      for (let i = 0; i < bytes.length; i++) bytes[i] = random() & 0xff;
      // Half of them claim to be a flow protocol, so they get past the version check.
      if (bytes.length >= 4 && random() % 2 === 0) bytes.set([[0, 5], [0, 9], [0, 10], [0, 0]][random() % 4]!, 0);
      return bytes;
    };

    let sentDatagrams = 0;
    let goodFlows = 0;
    for (let round = 0; round < 20; round++) {
      const burst: Uint8Array[] = [];
      for (const d of corpus) burst.push(round === 0 ? d : mutate(d));
      for (let i = 0; i < 500; i++) burst.push(noise());
      await send(bad, port, burst);
      const goodBurst = encodeNetflow9(flows(round * 250, 250).map((f) => ({ ...f, exporter: parseAddress('127.0.0.2') })));
      await send(good, port, goodBurst);
      goodFlows += 250;
      sentDatagrams += burst.length + goodBurst.length;
      // Flow control, not timing: the next burst goes once this one has been read off the socket.
      await received(collector, sentDatagrams);
    }
    bad.close();
    good.close();
    // Small batches arrive faster than one-at-a-time inserts take them: some wait in the spool.
    await collector.drain(60_000);

    const rows = await store.aggregateFlows({ range: { from: NOW - 86_400, to: NOW + 3600 }, groupBy: ['exporter'] });
    const fromGood = rows.find((r) => r.key.exporter === '127.0.0.2');
    assert.equal(fromGood?.flows, goodFlows, 'every good flow stored');
    assert.equal(fromGood?.bytes, expected(0, goodFlows).bytes);
    const stats = collector.stats();
    assert.equal(stats.backlogDropped, 0);
    const noisy = collector.exporters().find((e) => e.exporter === '127.0.0.1');
    assert.ok(noisy !== undefined && Object.values(noisy.errors).reduce((a, b) => a + b, 0) > 1000, `bad input counted by reason: ${JSON.stringify(noisy?.errors)}`);
  });
});

describe('collector listeners and allow-list', () => {
  let dir: string;
  let store: Store;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-allow-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('receives over IPv6 and IPv4, and counts and drops datagrams from exporters outside collector.allow', async () => {
    const collector = await startCollector(collectorOptions(dir, { listen: ['[::1]:0', '127.0.0.1:0'], allow: ['::1', '10.0.0.0/8'] }), {
      store,
      logger: silentLogger(),
      registry: new Registry(),
    });
    const v6 = createSocket('udp6');
    try {
      const [ipv6, ipv4] = collector.endpoints;
      assert.equal(ipv6?.address, '::1');
      assert.equal(ipv4?.address, '127.0.0.1');
      const allowed = encodeNetflow9(flows(0, 30));
      for (const d of allowed) await new Promise<void>((resolve, reject) => v6.send(d, ipv6.port, '::1', (err) => (err ? reject(err) : resolve())));
      const refused = await exporterSocket('127.0.0.1');
      const dropped = encodeNetflow9(flows(100, 30));
      await send(refused, ipv4.port, dropped);
      refused.close();
      await received(collector, allowed.length + dropped.length);
      await collector.drain(10_000);
      const stats = collector.stats();
      assert.equal(stats.refused, dropped.length);
      assert.equal(stats.storedRows, 30);
      assert.deepEqual(collector.exporters().map((e) => [e.exporter, e.flows]), [['::1', 30]]);
      const rows = await store.aggregateFlows({ range: { from: NOW - 3600, to: NOW + 3600 }, groupBy: ['exporter'] });
      assert.deepEqual(rows.map((r) => [r.key.exporter, r.flows]), [['::1', 30]]);
    } finally {
      v6.close();
      await collector.stop();
    }
  });
});
