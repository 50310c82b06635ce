// bench/baseline: a 28-day baseline of a generated estate of about 5,000 workloads in ClickHouse,
// at 10, 30 and 100 million raw flows (issue 8, acceptance 4: under 60 s and under 2 GB peak RSS
// of the worker, on 2 cores with ClickHouse on the same machine).
//
// For each size: the `sized-5000` scenario with every dependency's rate scaled so that its 28 days
// hold about that many flows is stored as a collector stores it (test/baseline-truth.ts
// `loadEstate`: the collector's orientation, listener evidence recorded for the window, inventory
// imported) into a database of its own; then the baseline runs in a child process — the worker —
// whose wall time and peak RSS (getrusage maxrss) are measured. The peer, in the same run on the
// same data: the query a do-it-yourself dependency map starts from, a GROUP BY of the raw flows by
// (source, destination, protocol, destination port) in the same ClickHouse — no orientation, no
// labels, no graph.
//
//   node --import tsx bench/baseline.ts [--sizes 10,30,100] [--workloads 5000] [--keep] [--load-only] [--write]
//
// Sizes are millions of flows. Uses CLICKHOUSE_URL when set (with --keep its databases are reused
// by a later run with the same sizes; --load-only only loads them), otherwise starts clickhouse-server from PATH.
// --write replaces the section between <!-- baseline:start --> and <!-- baseline:end --> in BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient } from '@clickhouse/client';
import { baselineId, runBaseline, type BaselineRecord } from '../analyzer/baseline/index.js';
import { silentLogger } from '../core/logger.js';
import type { FlowRecord } from '../core/flow.js';
import { createEstate, sizedScenario, type ScenarioSpec } from '../simulator/index.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import { identifier, lit, sql, toText } from '../store/clickhouse/literal.js';
import type { Store } from '../store/index.js';
import { loadEstate } from '../test/baseline-truth.js';
import { startClickHouse, type ServiceHandle } from '../test/services.js';

const root = join(import.meta.dirname, '..');
const DAYS = 28;
const END = Date.parse('2026-11-30T00:00:00Z') / 1000;
const FROM = END - DAYS * 86_400;
const GROUP_BY = ['app', 'env'];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

const storeFor = (url: string, database: string): Promise<Store> =>
  createClickHouseStore({ url, database, user: 'default', password: '', requestTimeoutMs: 1_800_000 }, { logger: silentLogger() });

// ---------------------------------------------------------------------------------------------
// The worker: `--child URL DATABASE` runs one baseline and prints what it measured as JSON.
// ---------------------------------------------------------------------------------------------

if (process.argv.includes('--child')) {
  const url = option('url') as string;
  const database = option('database') as string;
  const store = await storeFor(url, database);
  const params = { from: FROM, to: END, groupBy: GROUP_BY };
  const started = performance.now();
  const record = await runBaseline(store, { days: DAYS, cron: 'off', keep: 1000, resolver: { groupBy: GROUP_BY } }, baselineId(params, String(Date.now())), params);
  const wallMs = performance.now() - started;
  await store.close();
  process.stdout.write(`${JSON.stringify({ wallMs, maxRssBytes: process.resourceUsage().maxRSS * 1024, record })}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The estate at a size
// ---------------------------------------------------------------------------------------------

/** The same 32-bit hash for both records of a conversation: its two addresses in either order and its start second. */
function conversationHash(r: FlowRecord): number {
  let a = 0;
  let b = 0;
  for (let i = 12; i < 16; i++) {
    a = (a * 256 + (r.src_addr[i] ?? 0)) >>> 0;
    b = (b * 256 + (r.dst_addr[i] ?? 0)) >>> 0;
  }
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi, 0xc2b2ae35) ^ Math.imul(r.time_start ?? 0, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

function scaled(spec: ScenarioSpec, factor: number): ScenarioSpec {
  return { ...spec, dependencies: spec.dependencies.map((d) => ({ ...d, perHour: d.perHour * factor })) };
}

/** Flows of the unscaled scenario per day, over a week (weekends are quieter), to scale rates by. */
function flowsPerDay(spec: ScenarioSpec): number {
  const estate = createEstate(spec, { seed: 1, days: 7, end: END });
  let n = 0;
  for (const chunk of estate.flows()) n += chunk.length;
  return n / 7;
}

interface Measured {
  size: number;
  flows: number;
  rollupRows: number;
  loadSeconds: number;
  evidenceSeconds: number;
  /** Rolling the window's days into flows_1d (the evidence job's work), and how many days that was. */
  compactSeconds: number;
  compactedDays: number;
  baselineSeconds: number;
  maxRssBytes: number;
  timings: Record<string, number>;
  summary: BaselineRecord['summary'];
  peerSeconds: number;
  peerRows: number;
}

const sizes = (option('sizes') ?? '10,30,100').split(',').map((s) => Number(s.trim()));
if (sizes.some((s) => !(s > 0))) throw new Error('--sizes: millions of flows, comma-separated');
const workloads = Number(option('workloads') ?? 5000);
const keep = process.argv.includes('--keep') || process.argv.includes('--load-only');
const loadOnly = process.argv.includes('--load-only');
const write = process.argv.includes('--write');

let service: ServiceHandle | undefined;
let url = process.env.CLICKHOUSE_URL ?? '';
if (url === '') {
  service = await startClickHouse();
  url = service.url;
}
const client = createClient({ url, request_timeout: 1_800_000 });
const query = async (text: string, database: string): Promise<Record<string, unknown>[]> => {
  const result = await client.query({ query: text, format: 'JSONEachRow', clickhouse_settings: { database } });
  return result.json<Record<string, unknown>>();
};

const spec = sizedScenario(workloads);
const natural = flowsPerDay(spec) * DAYS;
const floor = flowsPerDay(scaled(spec, 0)) * DAYS;
process.stderr.write(`sized-${workloads}: ${Math.round(natural).toLocaleString('en-US')} flows in ${DAYS} days as generated, ${Math.round(floor).toLocaleString('en-US')} without the applications\n`);
const results: Measured[] = [];
try {
  for (const size of sizes) {
    const target = size * 1_000_000;
    const database = `bench_baseline_${workloads}_${size}m_flows`;
    let store = await storeFor(url, database);
    await store.migrate();
    let loadSeconds = 0;
    let evidenceSeconds = 0;
    const loaded = await store.meta.get('bench', 'loaded');
    if (loaded === undefined) {
      // No marker: nothing loaded, or a load that was interrupted; start from an empty database.
      await store.close();
      await client.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) });
      store = await storeFor(url, database);
      await store.migrate();
    }
    let flows = typeof loaded?.value === 'object' && loaded.value !== null && !Array.isArray(loaded.value) ? Number((loaded.value as Record<string, unknown>).flows) : 0;
    if (!(flows > 0)) {
      // Most of the estate's flows are its infrastructure's (DNS, NTP, directory, monitoring
      // polls of every host), which do not scale with the dependencies' rates: below the
      // estate's own volume, whole conversations are kept 1 in k (by a hash of both addresses
      // and the start second, so both records of one go together); above it, the applications'
      // rates are scaled up, linearly from two estimates.
      let factor = 1;
      let keepShare = 1;
      if (target <= natural) {
        keepShare = target / natural;
      } else {
        const appFlows = natural - floor;
        factor = 1 + (target - natural) / appFlows;
        const estimate = flowsPerDay(scaled(spec, factor)) * DAYS;
        factor = 1 + ((factor - 1) * (target - natural)) / (estimate - natural);
      }
      process.stderr.write(`${size}M: loading (application rates × ${factor.toFixed(2)}, conversations kept ${(keepShare * 100).toFixed(1)} %) …\n`);
      const estate = createEstate(scaled(spec, factor), { seed: 1, days: DAYS, end: END });
      const t0 = performance.now();
      let shown = 0;
      // loadEstate records listener evidence at its end; its time is taken apart below.
      let evidenceStarted = 0;
      const threshold = Math.floor(keepShare * 2 ** 32);
      const result = await loadEstate(store, estate, {
        batch: 200_000,
        compact: false,
        ...(keepShare < 1 ? { filter: (r: FlowRecord) => conversationHash(r) < threshold } : {}),
        onRecords: (records) => {
          shown += records.length;
          if (shown % 5_000_000 < records.length) process.stderr.write(`  ${(shown / 1e6).toFixed(0)}M generated, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
          evidenceStarted = performance.now();
        },
      });
      const t1 = performance.now();
      flows = result.flows;
      loadSeconds = (evidenceStarted - t0) / 1000;
      evidenceSeconds = (t1 - evidenceStarted) / 1000;
      await store.meta.put('bench', 'loaded', { flows, loadSeconds, evidenceSeconds });
    } else {
      const v = loaded?.value as Record<string, number>;
      loadSeconds = v.loadSeconds ?? 0;
      evidenceSeconds = v.evidenceSeconds ?? 0;
      process.stderr.write(`${size}M: reusing ${flows.toLocaleString('en-US')} flows in ${database}\n`);
    }
    // What the listener-evidence job does for each finished day (analyzer/evidence.ts): roll it
    // into the daily rollup. Timed on its own; nothing to do when a kept database has it already.
    const c0 = performance.now();
    const rolled = await store.compactDays({ from: FROM, to: END });
    let compactSeconds = (performance.now() - c0) / 1000;
    let compactedDays = rolled.length;
    if (rolled.length > 0) {
      await store.meta.put('bench', 'compacted', { days: rolled.length, seconds: compactSeconds });
      process.stderr.write(`${size}M: daily rollup: ${rolled.length} days rolled in ${compactSeconds.toFixed(1)} s\n`);
    } else {
      // Rolled by an earlier run on this database: report what that run measured.
      const earlier = (await store.meta.get('bench', 'compacted'))?.value as Record<string, number> | undefined;
      compactSeconds = earlier?.seconds ?? 0;
      compactedDays = earlier?.days ?? 0;
    }
    await store.close();
    if (loadOnly) continue;
    const window = sql`time_received >= ${lit.dateTime(FROM)} AND time_received < ${lit.dateTime(END)}`;
    const rollup = await query(toText(sql`SELECT count() AS n FROM flows_1h WHERE hour >= ${lit.dateTime(FROM)} AND hour < ${lit.dateTime(END)}`), database);
    // The job rolls a day hours before a baseline reads it; here the baseline would follow at
    // once and share the two cores with the merges of the parts just written. Wait until the
    // server has no merges running (at most five minutes).
    for (let waited = 0; waited < 300; waited++) {
      const [merges] = await query('SELECT count() AS n FROM system.merges', database);
      if (Number(merges?.n ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const rollupRows = Number(rollup[0]?.n ?? 0);

    // The worker, in a process of its own.
    process.stderr.write(`${size}M: baseline …\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/baseline.ts'), '--child', '--url', url, '--database', database], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => void (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the baseline worker exited with ${code}`);
    const measured = JSON.parse(out.trim().split('\n').pop() as string) as { wallMs: number; maxRssBytes: number; record: BaselineRecord };
    if (measured.record.summary?.flows !== flows) throw new Error(`the baseline counted ${measured.record.summary?.flows} flows, the store holds ${flows}`);

    // The peer: the raw GROUP BY, result discarded in the server.
    const p0 = performance.now();
    const peer = await query(
      toText(sql`SELECT count() AS n FROM (SELECT src_addr, dst_addr, proto, dst_port, count() AS f, sum(bytes) AS b FROM flows WHERE ${window} GROUP BY src_addr, dst_addr, proto, dst_port)`),
      database,
    );
    const peerSeconds = (performance.now() - p0) / 1000;
    results.push({
      size,
      flows,
      rollupRows,
      loadSeconds,
      evidenceSeconds,
      baselineSeconds: measured.wallMs / 1000,
      maxRssBytes: measured.maxRssBytes,
      compactSeconds,
      compactedDays,
      timings: measured.record.timings ?? {},
      summary: measured.record.summary,
      peerSeconds,
      peerRows: Number(peer[0]?.n ?? 0),
    });
    process.stderr.write(`${size}M: baseline ${(measured.wallMs / 1000).toFixed(1)} s, peak RSS ${(measured.maxRssBytes / 2 ** 20).toFixed(0)} MiB; raw GROUP BY ${peerSeconds.toFixed(1)} s\n`);
    if (!keep) await client.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) });
  }
} finally {
  await client.close();
  await service?.dispose();
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');
const s1 = (x: number): string => x.toFixed(1);
const version = (await (async () => (service === undefined ? process.env.CLICKHOUSE_URL : 'clickhouse-server from PATH'))()) ?? '';
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model.trim() ?? '?'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ClickHouse ${version} on the same machine; sized-${workloads} estate, ${DAYS} days, groups app,env.`,
  '',
  '| raw flows | rollup rows in window | conversations | groups | edges | host pairs | baseline (worker) | of which store query + fold | drill-down | peak RSS (worker) | raw GROUP BY (peer) | load | listener evidence | daily rollup (evidence job) |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${n(r.flows)} | ${n(r.rollupRows)} | ${n(r.summary?.conversations ?? 0)} | ${n(r.summary?.groups ?? 0)} | ${n(r.summary?.edges ?? 0)} | ${n(r.summary?.hostPairs ?? 0)} | **${s1(r.baselineSeconds)} s** | ${s1((r.timings.conversations ?? 0) / 1000)} s | ${s1((r.timings['drill-down'] ?? 0) / 1000)} s | **${n(r.maxRssBytes / 2 ** 20)} MiB** | ${s1(r.peerSeconds)} s (${n(r.peerRows)} rows) | ${r.loadSeconds > 0 ? `${s1(r.loadSeconds)} s` : 'reused'} | ${r.evidenceSeconds > 0 ? `${s1(r.evidenceSeconds)} s` : 'reused'} | ${r.compactedDays > 0 ? `${s1(r.compactSeconds)} s (${r.compactedDays} days)` : '—'} |`,
  ),
];
const report = lines.join('\n');
process.stdout.write(`${report}\n`);
if (write) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('<!-- baseline:start -->');
  const end = text.indexOf('<!-- baseline:end -->');
  if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- baseline:start --> / <!-- baseline:end --> markers');
  writeFileSync(path, `${text.slice(0, start + '<!-- baseline:start -->'.length)}\n${report}\n${text.slice(end)}`);
}
