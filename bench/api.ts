// bench/api: latency of the API under a steady 200 requests/s (issue 10, acceptance 5) on the
// `enterprise` estate (seed 1, 28 days, about 16 million flows) in ClickHouse: the graph download
// and the recommendation of its baseline (target p99 < 100 ms), and a flow search (one host, one
// day, newest 100). autocannon drives each route for --duration seconds at --rate requests/s over
// 16 connections, with a viewer token and `accept-encoding: gzip` as a browser sends it; the first
// (uncached) answer of each route is timed apart.
//
// Peers, in the same run at the same rate: for the flow search, ClickHouse's own HTTP interface
// answering the same search as SQL (what a script talking to the database directly gets); for the
// two cached routes, a bare node:http server sending the same bytes (the floor of serving them).
//
//   node --import tsx bench/api.ts [--duration 30] [--rate 200] [--keep] [--write]
//
// Uses CLICKHOUSE_URL when set (with --keep the loaded database is reused by a later run),
// otherwise starts clickhouse-server from PATH. --write replaces the section between
// <!-- api:start --> and <!-- api:end --> in BENCHMARKS.md.
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import autocannon from 'autocannon';
import { baselineId, getRecord, runBaseline, type BaselineSettings } from '../analyzer/baseline/index.js';
import { createInProcessRunner } from '../analyzer/jobs/index.js';
import { importIntents, parseIntentsText } from '../analyzer/policy/index.js';
import { createApi } from '../api/server.js';
import { createToken } from '../api/tokens.js';
import { parseAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { buildEstate, intentsJson } from '../simulator/index.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import { identifier, lit, sql, toText } from '../store/clickhouse/literal.js';
import { loadEstate } from '../test/baseline-truth.js';
import { startClickHouse, type ServiceHandle } from '../test/services.js';

const root = join(import.meta.dirname, '..');
const DAYS = 28;
const END = Date.parse('2026-11-30T00:00:00Z') / 1000;
const FROM = END - DAYS * 86_400;
const DATABASE = 'bench_api';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const duration = option('duration', 30);
const rate = option('rate', 200);

interface Measured {
  route: string;
  what: string;
  requests: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  bytes: number;
}

async function drive(route: string, what: string, url: string, headers: Record<string, string>): Promise<Measured> {
  console.error(`${new Date().toISOString().slice(11, 19)} ${route}: ${what}`);
  const result = await autocannon({ url, connections: 16, overallRate: rate, duration, headers });
  const bad = result.non2xx + result.errors + result.timeouts;
  return { route, what, requests: result.requests.total, p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, errors: bad, bytes: Math.round(result.throughput.total / Math.max(1, result.requests.total)) };
}

/** A bare server answering every request with the same bytes: the floor of sending them. */
async function staticServer(body: Buffer, contentType: string, encoding: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': contentType, 'content-encoding': encoding, 'content-length': body.length });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`, server };
}

let clickhouse: ServiceHandle | undefined;
const url = process.env.CLICKHOUSE_URL ?? (clickhouse = await startClickHouse()).url;
const store = await createClickHouseStore({ url, database: DATABASE, user: 'default', password: '', requestTimeoutMs: 1_800_000 }, { logger: silentLogger() });
const estate = buildEstate('enterprise', { seed: 1, days: DAYS, end: END });
const settings: BaselineSettings = { days: DAYS, cron: 'off', keep: 100, resolver: { groupBy: ['app', 'env'], externals: (estate.externals ?? []).map((e) => ({ name: e.name, prefix: e.cidr })) } };
const params = { from: FROM, to: END, groupBy: ['app', 'env'] };
const id = baselineId(params);
try {
  await store.migrate();
  const loaded = (await store.flowTotals({ from: FROM, to: END })).flows;
  if (loaded === 0 || !process.argv.includes('--keep')) {
    if (loaded > 0) throw new Error(`database ${DATABASE} holds flows already: run with --keep to reuse them, or drop it`);
    const started = performance.now();
    const { flows } = await loadEstate(store, estate);
    console.error(`loaded ${flows.toLocaleString('en-US')} flows in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    await importIntents(store.meta, parseIntentsText(intentsJson(estate), 'intents.json'));
  }
  if ((await getRecord(store.meta, id))?.status !== 'completed') {
    const started = performance.now();
    await runBaseline(store, settings, id, params);
    console.error(`baseline ${id} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const flows = (await store.flowTotals({ from: FROM, to: END })).flows;

  const jobs = createInProcessRunner({}, { logger: silentLogger() });
  await jobs.start();
  const high = 1_000_000;
  const api = await createApi({ host: '127.0.0.1', port: 0, rateLimit: { read: high, write: high, heavy: high, upload: high } }, { logger: silentLogger(), version: 'bench', mode: 'service', checks: [], store, jobs, baseline: settings });
  let inFlight = 0;
  api.app.addHook('onRequest', async () => void inFlight++);
  api.app.addHook('onResponse', async () => void inFlight--);
  api.app.addHook('onRequestAbort', async (_request) => void inFlight--);
  const { port } = await api.start();
  const token = (await createToken(store.meta, { name: 'bench', role: 'viewer', createdBy: 'bench' })).token;
  const headers = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip, deflate, br' };
  const base = `http://127.0.0.1:${port}`;

  // A server that talks to many hosts, and the busiest day of its flows.
  const day = END - 7 * 86_400;
  const server = estate.workloads.find((w) => w.labels.app === 'app001' && w.labels.env === 'prod')?.addresses[0]?.address ?? estate.workloads[0]?.addresses[0]?.address ?? '10.0.0.1';
  const routes = [
    { route: 'graph', path: `/api/v1/baselines/${id}/graph` },
    { route: 'recommendations', path: `/api/v1/recommendations?baseline=${id}` },
    { route: 'flow search', path: `/api/v1/flows?from=${day}&to=${day + 86_400}&address=${encodeURIComponent(server)}&limit=100` },
  ];
  const results: Measured[] = [];
  const step = (what: string): void => console.error(`${new Date().toISOString().slice(11, 19)} ${what}`);
  const cold: Record<string, { ms: number; bytes: number; type: string }> = {};
  for (const r of routes) {
    const started = performance.now();
    const response = await fetch(`${base}${r.path}`, { headers: { authorization: headers.authorization } });
    const body = Buffer.from(await response.arrayBuffer());
    if (!response.ok) throw new Error(`${r.path} answered ${response.status}: ${body.toString().slice(0, 300)}`);
    cold[r.route] = { ms: performance.now() - started, bytes: body.length, type: response.headers.get('content-type') ?? 'application/json' };
  }
  // The cached routes' Brotli is made in the background after the first answer: wait for it.
  const cachedBodies: Record<string, Buffer> = {};
  for (const r of routes.slice(0, 2)) {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const response = await fetch(`${base}${r.path}`, { headers });
      if (Date.now() > deadline) throw new Error(`${r.path} still answers ${response.headers.get('content-encoding') ?? 'uncompressed'} after two minutes, not br`);
      if (response.headers.get('content-encoding') === 'br') {
        const plain = await fetch(`${base}${r.path}`, { headers: { ...headers, 'accept-encoding': 'identity' } });
        cachedBodies[r.route] = Buffer.from(await plain.arrayBuffer());
        break;
      }
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  // Requests autocannon left running when its time was up finish (or are aborted) before the next row.
  step('cached bodies ready');
  const settle = async (): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  for (const r of routes.slice(0, 2)) {
    results.push(await drive(r.route, 'flowmap API', `${base}${r.path}`, headers));
    await settle();
  }
  // A dashboard that polls sends the ETag it has: 304, no body.
  for (const r of routes.slice(0, 2)) {
    const etag = (await fetch(`${base}${r.path}`, { headers })).headers.get('etag') ?? '';
    results.push(await drive(r.route, 'flowmap API, polled with If-None-Match (304)', `${base}${r.path}`, { ...headers, 'if-none-match': etag }));
    await settle();
  }
  // Peers, same rate, same machine: the same bytes, compressed the same way.
  for (const r of routes.slice(0, 2)) {
    const c = cold[r.route] as (typeof cold)[string];
    const peer = await staticServer(brotliCompressSync(cachedBodies[r.route] as Buffer, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }), c.type, 'br');
    results.push(await drive(r.route, 'peer: node:http sending the same bytes', peer.url, { 'accept-encoding': 'gzip, deflate, br' }));
    peer.server.close();
  }
  // The flow search last: at this rate it saturates both it and its peer, and a backlog must not
  // spill into another row.
  results.push(await drive('flow search', 'flowmap API', `${base}${(routes[2] as (typeof routes)[number]).path}`, headers));
  await settle();
  const address = lit.address(parseAddress(server));
  const query = toText(
    sql`SELECT * FROM ${identifier(DATABASE)}.flows WHERE time_received >= ${lit.dateTime(day)} AND time_received < ${lit.dateTime(day + 86_400)} AND (src_addr = ${address} OR dst_addr = ${address}) ORDER BY time_received DESC LIMIT 100 FORMAT JSON`,
  );
  results.push(await drive('flow search', 'peer: ClickHouse HTTP, the same search as SQL', `${url}/?query=${encodeURIComponent(query)}`, { 'accept-encoding': 'gzip' }));

  await api.stop();
  await jobs.stop();

  const cpu = cpus()[0]?.model.replace(/\s+\d+-Core Processor/, '').trim() ?? 'unknown CPU';
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ClickHouse on the same machine; ` +
      `enterprise estate, ${flows.toLocaleString('en-US')} flows, baseline ${id}. ${rate} requests/s for ${duration} s per row over 16 connections (autocannon), \`accept-encoding: gzip, deflate, br\` as browsers send it.`,
    '',
    '| route | server | requests | p50 ms | p99 ms | max ms | non-2xx or errors | bytes/answer |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map((m) => `| ${m.route} | ${m.what} | ${m.requests.toLocaleString('en-US')} | ${m.p50} | ${m.p99} | ${m.max} | ${m.errors} | ${m.bytes.toLocaleString('en-US')} |`),
    '',
    `First, uncached answers: ${routes.map((r) => `${r.route} ${(cold[r.route]?.ms ?? 0).toFixed(0)} ms (${(cold[r.route]?.bytes ?? 0).toLocaleString('en-US')} bytes)`).join(', ')}.`,
  ];
  const report = `${lines.join('\n')}\n`;
  console.log(report);
  if (process.argv.includes('--write')) {
    const path = join(root, 'BENCHMARKS.md');
    const text = readFileSync(path, 'utf8');
    const start = text.indexOf('<!-- api:start -->');
    const end = text.indexOf('<!-- api:end -->');
    if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- api:start --> / <!-- api:end --> markers');
    writeFileSync(path, `${text.slice(0, start + '<!-- api:start -->'.length)}\n${report}${text.slice(end)}`);
  }
} finally {
  await store.close();
  await clickhouse?.stop();
}
