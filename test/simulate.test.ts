// The simulator end to end (issue 7, acceptance 2 and 4): the `small` estate's 28 days sent through
// each router protocol's real UDP collector into ClickHouse 18.16 (DuckDB when ClickHouse is not
// there outside CI), and separately written as each cloud format and ingested, give stored flows
// whose totals per direction of each conversation — and so per (client, server, service port) as
// the generator oriented them — equal what the emitter sent, exactly, with sFlow sampling accounted
// for by the emitter's own account of what its samples stand for. And `flowmap start --demo` from
// this checkout shows the scenario's exporter, flows and workloads through the API within a minute.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { ingestFile } from '../collector/cloud/ingest.js';
import { startCollector } from '../collector/service.js';
import { createServicePorts } from '../collector/service-ports.js';
import { flowAt, type FlowRecord } from '../core/flow.js';
import { formatAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { CLOUD_EMIT_FORMATS, writeCloudFiles } from '../simulator/emit-cloud.js';
import { exportsOf, FLOW_PROTOCOLS, sendExports } from '../simulator/emit-flows.js';
import { buildEstate } from '../simulator/index.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import { collectorOptions, received } from './collector-harness.js';
import { freePort, serviceUrl } from './services.js';

const clickhouse = serviceUrl('clickhouse');
const root = join(import.meta.dirname, '..');
const END = Date.parse('2026-11-29T00:00:00Z') / 1000;
const ALL = { from: 0, to: 2 ** 32 - 1 };
const CLOUD_FORMAT: Record<string, 'aws-vpc' | 'gcp-vpc' | 'azure-nsg' | 'azure-vnet'> = { 'aws-vpc': 'aws-vpc', 'gcp-vpc': 'gcp-vpc', 'azure-nsg': 'azure-nsg', 'azure-vnet': 'azure-vnet' };

type Totals = Map<string, { flows: number; bytes: number; packets: number }>;

/**
 * Totals per direction of a conversation: (source, source port, destination, destination port,
 * protocol). Equal totals at this grain give equal per-(client, server, service port) totals under
 * the generator's own orientation — the one it put in `server_side` — whatever the collector's
 * ingest-time guess (refined later with listener evidence, DESIGN.md §6). sFlow splits a record
 * into its samples, so for it only bytes and packets are compared, not record counts.
 */
function totalsOf(records: Iterable<FlowRecord>, countFlows: boolean): Totals {
  const out: Totals = new Map();
  for (const r of records) {
    const key = `${formatAddress(r.src_addr)}:${r.src_port} → ${formatAddress(r.dst_addr)}:${r.dst_port} proto ${r.proto}`;
    const t = out.get(key) ?? { flows: 0, bytes: 0, packets: 0 };
    if (countFlows) t.flows++;
    t.bytes += r.bytes ?? 0;
    t.packets += r.packets ?? 0;
    out.set(key, t);
  }
  return out;
}

/** Per (client, server, proto, service port) under the generator's orientation (`server_side` of each record). */
function edgeTotals(records: Iterable<FlowRecord>): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    const serverIsSrc = r.server_side === 'src';
    const key = `${formatAddress(serverIsSrc ? r.dst_addr : r.src_addr)} → ${formatAddress(serverIsSrc ? r.src_addr : r.dst_addr)} ${r.proto}/${serverIsSrc ? r.src_port : r.dst_port}`;
    out.set(key, (out.get(key) ?? 0) + (r.bytes ?? 0));
  }
  return out;
}

function assertSameTotals(stored: Totals, sent: Totals, label: string): void {
  const missing = [...sent.keys()].filter((k) => !stored.has(k));
  const extra = [...stored.keys()].filter((k) => !sent.has(k));
  assert.deepEqual([missing.slice(0, 5), extra.slice(0, 5)], [[], []], `${label}: (client, server, port) keys differ: ${missing.length} missing, ${extra.length} extra`);
  for (const [key, want] of sent) assert.deepEqual(stored.get(key), want, `${label}: ${key}`);
}

async function storedRecords(store: Store): Promise<FlowRecord[]> {
  const batch = await store.readFlows(ALL, { limit: 1_000_000 });
  return Array.from({ length: batch.length }, (_, i) => flowAt(batch, i));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the small scenario through real collectors and ingest', { timeout: 600_000 }, () => {
  const estate = buildEstate('small', { seed: 3, days: 28, end: END });
  let dir = '';
  const databases: string[] = [];
  const open = async (tag: string): Promise<Store> => {
    if (clickhouse.url === undefined) {
      const store = await createDuckDBStore({ dataDir: mkdtempSync(join(dir, `${tag}-`)) }, { logger: silentLogger() });
      await store.migrate();
      return store;
    }
    const database = `flowmap_sim_${process.pid}_${tag.replace(/-/g, '_')}`;
    databases.push(database);
    const store = await createClickHouseStore({ url: clickhouse.url, database, user: 'default', password: '', requestTimeoutMs: 60_000 }, { logger: silentLogger() });
    await store.migrate();
    return store;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-simulate-'));
  });
  after(async () => {
    if (clickhouse.url !== undefined) {
      const { createClient } = await import('@clickhouse/client');
      const client = createClient({ url: clickhouse.url });
      for (const database of databases) await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  for (const protocol of FLOW_PROTOCOLS) {
    it(`${protocol}: stored per-(client, server, port) totals equal what was sent`, async () => {
      const store = await open(protocol);
      const collector = await startCollector(collectorOptions(join(dir, protocol), { batchRows: 5000, flushIntervalMs: 200 }), { store, logger: silentLogger(), registry: new Registry() });
      try {
        const accounted: FlowRecord[] = [];
        let generatedPackets = 0;
        const counted = (function* () {
          for (const chunk of estate.flows()) {
            for (const r of chunk) generatedPackets += r.packets ?? 0;
            yield chunk;
          }
        })();
        const exports = (function* () {
          for (const item of exportsOf(counted, { protocol, samplingRate: 1024 })) {
            accounted.push(...item.accounted);
            yield item;
          }
        })();
        const port = collector.endpoints[0]?.port ?? 0;
        const sent = await sendExports(exports, { host: '127.0.0.1', port }, { flowsPerSecond: 40_000 });
        assert.ok(sent.flows > (protocol === 'sflow' ? 2_000 : 10_000), `${sent.flows} flows sent`);
        await received(collector, sent.datagrams);
        await collector.flush();
        assertSameTotals(totalsOf(await storedRecords(store), protocol !== 'sflow'), totalsOf(accounted, protocol !== 'sflow'), protocol);
        assert.ok(edgeTotals(accounted).size > 50, 'the generator orients every record (server_side) and the estate has many edges');
        assert.equal(collector.stats().backlogDropped, 0);
        if (protocol === 'sflow') {
          // Not circular: the 1-in-1024 sampler's packets, scaled back, are the generator's to
          // within one sampling period (it keeps its phase across records of the one exporter).
          const sampled = accounted.reduce((n, r) => n + (r.packets ?? 0), 0);
          assert.ok(Math.abs(sampled - generatedPackets) < 1024, `sampled ${sampled} packets stand for the generator's ${generatedPackets}`);
        }
      } finally {
        await collector.stop();
        await store.close();
      }
    });
  }

  for (const format of CLOUD_EMIT_FORMATS) {
    it(`${format}: files written and ingested give the totals they carry`, async () => {
      const out = join(dir, `files-${format}`);
      const accounted: FlowRecord[] = [];
      const summary = writeCloudFiles(estate.flows(), format, out, (r) => accounted.push(r));
      assert.ok(summary.records > 10_000);
      const store = await open(format);
      try {
        let skipped = 0;
        // Hundreds of hourly files, each its own insert: four at a time, as a busy collector would.
        const files = filesUnder(out);
        const servicePorts = createServicePorts();
        for (let i = 0; i < files.length; i += 4) {
          const outcomes = await Promise.all(files.slice(i, i + 4).map((file) => ingestFile(file, store, { format: CLOUD_FORMAT[format] ?? 'aws-vpc', file, servicePorts })));
          for (const outcome of outcomes) {
            assert.ok(outcome.report !== undefined);
            skipped += Object.values(outcome.report.skipped).reduce((a, b) => a + b, 0);
          }
        }
        assert.equal(skipped, 0, 'no record of a simulated file is skipped');
        assertSameTotals(totalsOf(await storedRecords(store), true), totalsOf(accounted, true), format);
      } finally {
        await store.close();
      }
    });
  }
});

describe('flowmap start --demo', { timeout: 150_000 }, () => {
  it("shows the small scenario's exporter, flows and workloads through the API within a minute, then its baseline", async () => {
    const data = mkdtempSync(join(tmpdir(), 'flowmap-demo-'));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'start', '--demo', '--data', data, '--port', String(port)], {
      cwd: root,
      env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn', FLOWMAP_COLLECTOR_LISTEN: '127.0.0.1:0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const started = Date.now();
    try {
      // First start: the admin token is printed once on stderr; every API call below uses it.
      let token = '';
      while (Date.now() - started < 60_000 && token === '') {
        token = /^\s+(flowmap_[a-z2-7]{12}_[A-Za-z0-9_-]{43})\s*$/m.exec(stderr)?.[1] ?? '';
        if (token === '') await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(token !== '', `an admin token printed at first start (stderr: ${stderr.slice(-2000)})`);
      const headers = { authorization: `Bearer ${token}` };
      let flows = 0;
      let workloads = 0;
      // Polls the API (the server's state, not a timing): up to a minute from the command's start.
      while (Date.now() - started < 60_000 && (flows === 0 || workloads === 0)) {
        const exporters = await fetch(`http://127.0.0.1:${port}/api/v1/exporters`, { headers }).then((r) => (r.ok ? (r.json() as Promise<{ exporters: { flows: number }[] }>) : { exporters: [] }), () => ({ exporters: [] }));
        flows = exporters.exporters.reduce((n, e) => n + e.flows, 0);
        const list = await fetch(`http://127.0.0.1:${port}/api/v1/inventory/workloads?limit=1000`, { headers }).then((r) => (r.ok ? (r.json() as Promise<{ workloads: unknown[] }>) : { workloads: [] }), () => ({ workloads: [] }));
        workloads = list.workloads.length;
        if (flows === 0 || workloads === 0) await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/v1/exporters`)).status, 401, 'the API asks for a token');
      assert.ok(flows > 0, `exporter flows through the API after ${(Date.now() - started) / 1000} s (stderr: ${stderr.slice(-2000)})`);
      assert.ok(workloads >= 20, `${workloads} workloads of the small scenario imported`);
      // Then the demo's baseline: the dependency map of the 28 days, with the graph downloadable.
      let baseline: { id: string; summary?: { edges: number; groups: number } } | undefined;
      while (Date.now() - started < 110_000 && baseline === undefined) {
        const list = await fetch(`http://127.0.0.1:${port}/api/v1/baselines?status=completed`, { headers }).then((r) => (r.ok ? (r.json() as Promise<{ baselines: { id: string; summary?: { edges: number; groups: number } }[] }>) : { baselines: [] }), () => ({ baselines: [] }));
        baseline = list.baselines[0];
        if (baseline === undefined) await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(baseline !== undefined, `a completed demo baseline (stderr: ${stderr.slice(-2000)})`);
      assert.ok((baseline.summary?.edges ?? 0) >= 50 && (baseline.summary?.groups ?? 0) >= 10, JSON.stringify(baseline.summary));
      const graph = await fetch(`http://127.0.0.1:${port}/api/v1/baselines/${baseline.id}/graph?format=graphml`, { headers });
      assert.equal(graph.status, 200);
      assert.match(await graph.text(), /<graphml[\s>]/);
      // And what the baseline is for (issue 9, acceptance 5): the recommended policy and the findings.
      // The demo's flows keep their own times (collector.timestamps flow-end), so rules carry weeks of evidence.
      const recommendation = (await fetch(`http://127.0.0.1:${port}/api/v1/recommendations?baseline=${baseline.id}`, { headers }).then((r) => r.json())) as { defaultAction: string; rules: { documented: boolean; evidence: { daysSeen: number } }[] };
      assert.equal(recommendation.defaultAction, 'deny');
      assert.ok(recommendation.rules.length >= 30, `${recommendation.rules.length} rules`);
      assert.ok(recommendation.rules.some((r) => r.documented) && recommendation.rules.some((r) => !r.documented), 'documented rules from the imported intents, and undocumented ones');
      assert.ok(recommendation.rules.some((r) => r.evidence.daysSeen >= 20), 'rules seen on 20 days or more');
      const findings = (await fetch(`http://127.0.0.1:${port}/api/v1/findings?baseline=${baseline.id}`, { headers }).then((r) => r.json())) as { findings: { kind: string; category?: string }[] };
      const categories = new Set(findings.findings.filter((f) => f.kind === 'undocumented').map((f) => f.category));
      for (const c of ['backup', 'monitoring', 'rpc-dynamic', 'scanner', 'application']) assert.ok(categories.has(c), `a ${c} finding (got ${[...categories].join(', ')})`);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    }
    assert.equal(child.exitCode, 0, stderr.slice(-2000));
  });
});
