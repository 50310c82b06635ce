// bench/cloud: cloud flow-log ingest, records/s per format and store. For each format a file of
// N flows is generated once (bench/cloud-generate.ts, streamed to a temporary file), then ingested
// in this process through `ingestStream` (the path `flowmap ingest` takes) into a fresh store per
// run: an embedded DuckDB in a temporary directory, and a fresh database on a private
// clickhouse-server. Measured per run: wall time from the first byte read to the last batch stored
// (records/s, input MB/s), the CPU this process spent, and this process's peak RSS during the run
// (VmHWM, reset before each run through /proc/self/clear_refs). After each run the store's
// flowTotals must equal the generator's flows, bytes and packets, or the bench fails. Not part of
// `npm test`.
//
//   node --import tsx bench/cloud.ts [--records 5000000] [--formats aws-vpc,aws-vpc-gz,gcp-vpc,azure-nsg,azure-vnet]
//                                    [--stores duckdb,clickhouse] [--write]
//
// --write replaces the section between <!-- cloud:start --> and <!-- cloud:end --> in BENCHMARKS.md.
// Uses CLICKHOUSE_URL when set, otherwise starts clickhouse-server from PATH as `npm test` does.
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient, ClickHouseLogLevel } from '@clickhouse/client';
import { ingestStream } from '../collector/cloud/ingest.js';
import { createServicePorts } from '../collector/service-ports.js';
import { silentLogger } from '../core/logger.js';
import { identifier, sql, toText } from '../store/clickhouse/literal.js';
import { createClickHouseStore, createDuckDBStore, type Store } from '../store/index.js';
import { startClickHouse, type ServiceHandle } from '../test/services.js';
import { generateCloudFile, GENERATED_FORMATS, INGEST_FORMAT, type GeneratedFormat, type GeneratedTotals } from './cloud-generate.js';

const root = join(import.meta.dirname, '..');
/**
 * 'duckdb-reader' is the peer: DuckDB's own CSV/JSON readers over the same file, summing flows and
 * bytes in SQL — no normalisation, no orientation, no store — the reference for what reading the
 * format costs a mature native engine (it holds an Azure document whole: read_json needs the
 * object in memory).
 */
const STORES = ['duckdb', 'clickhouse', 'duckdb-reader'] as const;
type StoreName = (typeof STORES)[number];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

function list<T extends string>(name: string, all: readonly T[]): T[] {
  const value = option(name);
  if (value === undefined) return [...all];
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) if (!(all as readonly string[]).includes(item)) throw new Error(`--${name}: '${item}' is not one of ${all.join(', ')}`);
  return items as T[];
}

const records = Number(option('records') ?? 5_000_000);
if (!Number.isInteger(records) || records <= 0) throw new Error('--records must be a positive integer');
const formats = list<GeneratedFormat>('formats', GENERATED_FORMATS);
const stores = list<StoreName>('stores', STORES);
const write = process.argv.includes('--write');

// ---------------------------------------------------------------------------------------------
// Peak RSS of this process during one run
// ---------------------------------------------------------------------------------------------

function status(field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return match === null ? undefined : Number(match[1]) * 1024;
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0); false where that is not allowed. */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every 50 ms as a fallback and cross-check of VmHWM. */
function rssSampler(): { stop(): number } {
  let peak = status('VmRSS') ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, status('VmRSS') ?? 0);
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, status('VmRSS') ?? 0);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------------------------

let service: ServiceHandle | undefined;
let clickhouseUrl = process.env.CLICKHOUSE_URL ?? '';
const run = randomBytes(4).toString('hex');
const logger = silentLogger();

interface OpenStore {
  store: Store;
  dispose(): Promise<void>;
}

async function openStore(name: StoreName, label: string): Promise<OpenStore> {
  if (name === 'duckdb') {
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-bench-cloud-duckdb-'));
    const store = await createDuckDBStore({ dataDir: dir }, { logger });
    await store.migrate();
    return {
      store,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (clickhouseUrl === '') {
    service = await startClickHouse();
    clickhouseUrl = service.url;
  }
  const database = `flowmap_bench_cloud_${run}_${label.replace(/[^a-z0-9]/g, '_')}`;
  const store = await createClickHouseStore({ url: clickhouseUrl, database, user: 'default', password: '', requestTimeoutMs: 300_000 }, { logger });
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      const admin = createClient({ url: clickhouseUrl, log: { level: ClickHouseLogLevel.OFF } });
      await admin.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) }).catch(() => undefined);
      await admin.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

interface Result {
  format: GeneratedFormat;
  store: StoreName;
  totals: GeneratedTotals;
  seconds: number;
  cpuSeconds: number;
  peakRss: number;
  peakExact: boolean;
}

const servicePorts = createServicePorts();
const mb = (n: number): string => (n / 2 ** 20).toFixed(0);
const rate = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Sums of the bytes of an Azure tuple string ('…,packets,bytes,packets back,bytes back'; empty in B tuples). */
const AZURE_TUPLE_BYTES = "coalesce(TRY_CAST(t[11] AS BIGINT), 0) + coalesce(TRY_CAST(t[13] AS BIGINT), 0)";
/** The peer's query per format: flows and bytes, straight from the file. `$1` is the path. */
const PEER_QUERY: Record<GeneratedFormat, string> = {
  'aws-vpc': "SELECT count(*) AS flows, sum(bytes) AS bytes FROM read_csv($1, delim = ' ', header = true, compression = 'none')",
  'aws-vpc-gz': "SELECT count(*) AS flows, sum(bytes) AS bytes FROM read_csv($1, delim = ' ', header = true, compression = 'gzip')",
  'gcp-vpc': "SELECT count(*) AS flows, sum(CAST(jsonPayload.bytes_sent AS BIGINT)) AS bytes FROM read_json($1, format = 'newline_delimited')",
  'azure-nsg': `SELECT count(*) AS flows, sum(${AZURE_TUPLE_BYTES}) AS bytes FROM (
    SELECT string_split(unnest(g.flowTuples), ',') AS t FROM (
      SELECT unnest(f.flows) AS g FROM (SELECT unnest(r.properties.flows) AS f FROM (SELECT unnest(records) AS r FROM read_json($1, maximum_object_size = 2147483647)))))`,
  'azure-vnet': `SELECT count(*) AS flows, sum(${AZURE_TUPLE_BYTES}) AS bytes FROM (
    SELECT string_split(unnest(g.flowTuples), ',') AS t FROM (
      SELECT unnest(f.flowGroups) AS g FROM (SELECT unnest(r.flowRecords.flows) AS f FROM (SELECT unnest(records) AS r FROM read_json($1, maximum_object_size = 2147483647)))))`,
};

/** Runs `work` with the process's peak RSS reset before it, and what it cost: wall and CPU seconds, peak RSS. */
async function measure<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number; cpuSeconds: number; peakRss: number; peakExact: boolean }> {
  if (typeof global.gc === 'function') global.gc();
  const peakExact = resetPeak();
  const sampler = rssSampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sampled = sampler.stop();
  const hwm = status('VmHWM') ?? 0;
  return { value, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRss: peakExact ? Math.max(hwm, sampled) : sampled, peakExact };
}

async function peerOnce(format: GeneratedFormat, path: string, totals: GeneratedTotals): Promise<Result> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const { value: reader, seconds, cpuSeconds, peakRss, peakExact } = await measure(() => connection.runAndReadAll(PEER_QUERY[format], [path]));
    const [row] = reader.getRows();
    const flows = Number(row?.[0]);
    const bytes = Number(row?.[1]);
    if (flows !== totals.flows || bytes !== totals.bytes) throw new Error(`${format} → DuckDB reader: ${flows} flows, ${bytes} bytes; generated ${totals.flows}, ${totals.bytes}`);
    process.stderr.write(`${format} → DuckDB reader: ${rate(totals.flows / seconds)} records/s, peak RSS ${mb(peakRss)} MB; totals verified\n`);
    return { format, store: 'duckdb-reader', totals, seconds, cpuSeconds, peakRss, peakExact };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function ingestOnce(format: GeneratedFormat, storeName: StoreName, path: string, totals: GeneratedTotals): Promise<Result> {
  if (storeName === 'duckdb-reader') return peerOnce(format, path, totals);
  const open = await openStore(storeName, `${format}_${storeName}`);
  try {
    const { value: ingested, seconds, cpuSeconds, peakRss, peakExact } = await measure(() =>
      ingestStream(createReadStream(path, { highWaterMark: 1 << 20 }), open.store, { format: INGEST_FORMAT[format], file: path, servicePorts }),
    );

    const skipped = Object.entries(ingested.skipped).filter(([, n]) => n > 0);
    if (ingested.flows !== totals.flows || skipped.length > 0) {
      throw new Error(`${format} → ${storeName}: ingest reported ${ingested.flows} flows (generated ${totals.flows}), skipped ${JSON.stringify(skipped)}: ${JSON.stringify(ingested.problems.slice(0, 3))}`);
    }
    const stored = await open.store.flowTotals({ from: totals.from, to: totals.to });
    if (stored.flows !== totals.flows || stored.bytes !== totals.bytes || stored.packets !== totals.packets) {
      throw new Error(`${format} → ${storeName}: stored ${JSON.stringify(stored)}, generated ${JSON.stringify({ flows: totals.flows, bytes: totals.bytes, packets: totals.packets })}`);
    }
    const result: Result = { format, store: storeName, totals, seconds, cpuSeconds, peakRss, peakExact };
    process.stderr.write(`${format} → ${storeName}: ${rate(totals.flows / seconds)} records/s, ${(totals.fileBytes / 2 ** 20 / seconds).toFixed(1)} MB/s, peak RSS ${mb(peakRss)} MB; totals verified\n`);
    return result;
  } finally {
    await open.dispose();
  }
}

const FORMAT_LABEL: Record<GeneratedFormat, string> = {
  'aws-vpc': 'AWS VPC v2 text',
  'aws-vpc-gz': 'AWS VPC v2 gzip',
  'gcp-vpc': 'GCP VPC JSON lines',
  'azure-nsg': 'Azure NSG v2 document',
  'azure-vnet': 'Azure VNet v4 document',
};
const STORE_LABEL: Record<StoreName, string> = { duckdb: 'flowmap → DuckDB', clickhouse: 'flowmap → ClickHouse', 'duckdb-reader': 'peer: DuckDB reader, sums only' };
const table = (): string => [
  '| format | file | store | records/s | input MB/s | CPU s (this process) | peak RSS |',
  '|---|---|---|---|---|---|---|',
  ...results.map((r) =>
    `| ${FORMAT_LABEL[r.format]} | ${mb(r.totals.fileBytes)} MB | ${STORE_LABEL[r.store]} | ${rate(r.totals.flows / r.seconds)} | ${(r.totals.fileBytes / 2 ** 20 / r.seconds).toFixed(1)} | ${r.cpuSeconds.toFixed(1)} of ${r.seconds.toFixed(1)} s | ${mb(r.peakRss)} MB${r.peakExact ? '' : ' (sampled)'} |`,
  ),
].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const command = `node --import tsx bench/cloud.ts --records ${records}${option('formats') === undefined ? '' : ` --formats ${formats.join(',')}`}${option('stores') === undefined ? '' : ` --stores ${stores.join(',')}`}`;
function report(done: boolean): string {
  return (
  `${done ? '' : `**Partial: ${results.length} of ${formats.length * stores.length} runs done.** `}Measured ${new Date().toISOString().slice(0, 10)} on ${machine}${clickhouseVersion === '' ? '' : `, ClickHouse ${clickhouseVersion} on the same machine over HTTP`}, with \`${command}\`. ` +
  `Each file (${records.toLocaleString('en-US')} flows, bench/cloud-generate.ts) is ingested in-process through \`ingestStream\` into a fresh store (DuckDB in a temporary directory; ` +
  `a fresh ClickHouse database), 64k-flow batches; records/s is wall time from the first byte read to the last batch stored; peak RSS is this process's VmHWM during the run ` +
  `(DuckDB's buffers included, ClickHouse's server not). Stored flows, bytes and packets were checked equal to the generator's after every run. ` +
  `The peer, in the same run on the same file, is DuckDB's own CSV/JSON reader summing flows and bytes in SQL (checked equal too): no normalisation, orientation or store — what reading the format costs a native engine; for Azure it needs the document whole in memory.\n\n${table()}\n`
  );
}

function writeSection(text_: string): void {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const startMarker = '<!-- cloud:start -->';
  const endMarker = '<!-- cloud:end -->';
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker);
  if (start < 0 || end < 0) throw new Error(`BENCHMARKS.md lacks the ${startMarker} / ${endMarker} markers`);
  writeFileSync(path, `${text.slice(0, start + startMarker.length)}\n${text_}${text.slice(end)}`);
}

const dir = mkdtempSync(join(tmpdir(), 'flowmap-bench-cloud-'));
const results: Result[] = [];
let clickhouseVersion = '';
try {
  for (const format of formats) {
    const path = join(dir, `${format}.log`);
    const t0 = performance.now();
    const totals = await generateCloudFile(format, path, records);
    process.stderr.write(`generated ${format}: ${totals.flows.toLocaleString('en-US')} flows, ${mb(totals.fileBytes)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    try {
      for (const storeName of stores) {
        results.push(await ingestOnce(format, storeName, path, totals));
        // Written after every run, so a long run that is stopped still leaves what it measured.
        if (write) writeSection(report(false));
      }
    } finally {
      rmSync(path, { force: true });
    }
  }
  if (stores.includes('clickhouse')) {
    const admin = createClient({ url: clickhouseUrl, log: { level: ClickHouseLogLevel.OFF } });
    const [row] = await (await admin.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>();
    clickhouseVersion = row?.v ?? '?';
    await admin.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await service?.dispose();
}


process.stdout.write(report(true));
if (write) writeSection(report(true));
