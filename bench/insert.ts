// bench/insert: flow inserts into ClickHouse by body format (DESIGN.md §5: "the insert format is
// chosen by measurement"). For TabSeparated (store/clickhouse/insert.ts, through client.insert as
// the adapter sent it), Native (store/clickhouse/native.ts) and RowBinary (a row-by-row encoder
// written here, only to compare): JS encode CPU per 1M rows on one thread, body bytes per row, and
// inserts of 64k-row batches, one INSERT at a time, into three targets (`Target` below), with the
// CPU each side spent. Formats take turns within each round, so a busy moment on this shared
// machine hits them alike. Not part of `npm test`.
//
//   node --import tsx bench/insert.ts            print the tables
//   node --import tsx bench/insert.ts --write    also rewrite the results in BENCHMARKS.md
//
// Uses CLICKHOUSE_URL when set, otherwise starts clickhouse-server from PATH (18.16 here) on free
// ports, as `npm test` does. Works in scratch databases that it drops at the end.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { createClient, drainStream, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import { createFlowBatch, FLOW_COLUMNS, type FlowBatch } from '../core/flow.js';
import { writeV4 } from '../core/ip.js';
import { encodeTsv, FLOW_COLUMN_NAMES } from '../store/clickhouse/insert.js';
import { identifier, joinSql, lit, qualified, sql, toText } from '../store/clickhouse/literal.js';
import { encodeNative, insertFlowsNative } from '../store/clickhouse/native.js';
import { MIGRATIONS_ROOT, readMigrations } from '../store/migrate.js';
import { startClickHouse, type ServiceHandle } from '../test/services.js';

const root = join(import.meta.dirname, '..');
const BATCH_ROWS = 65_536;
/** Distinct batches cycled through, so caches do not see the same rows every time. */
const DISTINCT_BATCHES = 4;
const ENCODE_ROWS = 16 * BATCH_ROWS;
const ENCODE_REPEATS = Number(process.env.BENCH_ENCODE_REPEATS ?? 3);
const INSERT_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCHES_PER_ROUND = Number(process.env.BENCH_BATCHES ?? 6);
/** The adapter's chunk size for TabSeparated bodies (store/clickhouse/adapter.ts). */
const TSV_CHUNK_ROWS = 50_000;

// ---------------------------------------------------------------------------------------------
// Rows: what a NetFlow v9 / IPFIX exporter at an edge router sends
// ---------------------------------------------------------------------------------------------

function netflowBatch(seed: number): FlowBatch {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const batch = createFlowBatch(BATCH_ROWS);
  const c = batch.columns;
  const now = 1_763_000_000;
  const SERVICE_PORTS = [443, 80, 53, 22, 3306, 5432, 8080, 123];
  const randomAddress = (out: Uint8Array, offset: number): void => {
    if (next() % 5 === 0) {
      for (let b = 0; b < 16; b += 4) {
        const v = next();
        out[offset + b] = v >>> 24;
        out[offset + b + 1] = (v >>> 16) & 0xff;
        out[offset + b + 2] = (v >>> 8) & 0xff;
        out[offset + b + 3] = v & 0xff;
      }
      out[offset] = 0x20; // 2000::/3, global unicast
    } else {
      writeV4(out, offset, next());
    }
  };
  for (let i = 0; i < BATCH_ROWS; i++) {
    const t = now + (next() % 60);
    c.time_received[i] = t;
    c.time_start[i] = t - (next() % 120);
    c.time_end[i] = t - (next() % 5);
    c.source[i] = 1 + (next() % 2); // netflow9 or ipfix
    writeV4(c.exporter, i * 16, 0xc0000201 + (next() % 8));
    c.observation_domain[i] = next() % 4;
    randomAddress(c.src_addr, i * 16);
    randomAddress(c.dst_addr, i * 16);
    const toServer = next() % 2 === 0;
    const service = SERVICE_PORTS[next() % SERVICE_PORTS.length] ?? 443;
    const ephemeral = 32_768 + (next() % 28_232);
    c.src_port[i] = toServer ? ephemeral : service;
    c.dst_port[i] = toServer ? service : ephemeral;
    c.proto[i] = service === 53 || service === 123 ? 17 : 6;
    c.tcp_flags[i] = c.proto[i] === 6 ? 0x1b : 0;
    c.packets[i] = 1 + (next() % 2000);
    c.bytes[i] = (c.packets[i] ?? 1) * (40 + (next() % 1460));
    c.in_if[i] = 1 + (next() % 48);
    c.out_if[i] = 1 + (next() % 48);
    c.server_side[i] = toServer ? 2 : 1;
  }
  batch.length = BATCH_ROWS;
  return batch;
}

// ---------------------------------------------------------------------------------------------
// RowBinary: the same columns row by row (docs: formats/RowBinary), only to compare
// ---------------------------------------------------------------------------------------------

const STRING_BYTES_BOUND = (values: readonly string[], start: number, end: number): number => {
  let n = 0;
  for (let i = start; i < end; i++) n += 5 + 3 * (values[i] as string).length;
  return n;
};

function encodeRowBinary(batch: FlowBatch, start: number, end: number): Buffer {
  const byName = batch.columns as unknown as Record<string, unknown>;
  const kinds = FLOW_COLUMNS.map((spec) => spec.kind);
  const numbers = FLOW_COLUMNS.map((spec) => byName[spec.name] as ArrayLike<number>);
  const strings = FLOW_COLUMNS.map((spec) => byName[spec.name] as readonly string[]);
  let size = 0;
  FLOW_COLUMNS.forEach((spec, k) => {
    const width = { datetime: 4, u32: 4, u16: 2, u8: 1, enum: 1, address: 16, u64: 8, string: 0 }[spec.kind];
    size += width * (end - start);
    if (spec.kind === 'string') size += STRING_BYTES_BOUND(strings[k] as readonly string[], start, end);
  });
  const out = Buffer.alloc(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p = 0;
  for (let i = start; i < end; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const values = numbers[k] as ArrayLike<number>;
      switch (kinds[k]) {
        case 'datetime':
        case 'u32':
          view.setUint32(p, values[i] ?? 0, true);
          p += 4;
          break;
        case 'u16':
          view.setUint16(p, values[i] ?? 0, true);
          p += 2;
          break;
        case 'u8':
        case 'enum':
          out[p++] = values[i] ?? 0;
          break;
        case 'u64': {
          const v = values[i] ?? 0;
          view.setUint32(p, v >>> 0, true);
          view.setUint32(p + 4, (v / 4294967296) >>> 0, true);
          p += 8;
          break;
        }
        case 'address':
          out.set((values as Uint8Array).subarray(i * 16, i * 16 + 16), p);
          p += 16;
          break;
        case 'string': {
          const text = (strings[k] as readonly string[])[i] ?? '';
          if (text.length === 0) {
            p++;
            break;
          }
          let n = Buffer.byteLength(text, 'utf8');
          while (n >= 0x80) {
            out[p++] = (n & 0x7f) | 0x80;
            n = Math.floor(n / 0x80);
          }
          out[p++] = n;
          p += out.write(text, p, 'utf8');
          break;
        }
      }
    }
  }
  return out.subarray(0, p);
}

// ---------------------------------------------------------------------------------------------
// The formats: how each encodes a batch, and how the store would send it
// ---------------------------------------------------------------------------------------------

interface Format {
  name: string;
  encode(batch: FlowBatch): Buffer[];
  insert(client: ClickHouseClient, batch: FlowBatch): Promise<void>;
}

function* chunked(batch: FlowBatch, rows: number, encode: (batch: FlowBatch, start: number, end: number) => Buffer): Generator<Buffer> {
  for (let start = 0; start < batch.length; start += rows) yield encode(batch, start, Math.min(batch.length, start + rows));
}

const tsvChunk = (batch: FlowBatch, start: number, end: number): Buffer => Buffer.from(encodeTsv(batch, start, end), 'utf8');
const ROW_BINARY_INSERT = toText(sql`INSERT INTO flows (${joinSql(FLOW_COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`);

const FORMATS: Format[] = [
  {
    name: 'TabSeparated',
    encode: (batch) => [...chunked(batch, TSV_CHUNK_ROWS, tsvChunk)],
    insert: async (client, batch) => {
      await client.insert({ table: 'flows', values: Readable.from(chunked(batch, TSV_CHUNK_ROWS, tsvChunk), { objectMode: false }), format: 'TabSeparated', columns: FLOW_COLUMN_NAMES as [string, ...string[]] });
    },
  },
  {
    name: 'Native',
    encode: (batch) => [encodeNative(batch)],
    insert: (client, batch) => insertFlowsNative(client, batch),
  },
  {
    name: 'RowBinary',
    encode: (batch) => [encodeRowBinary(batch, 0, batch.length)],
    insert: async (client, batch) => {
      const result = await client.exec({ query: ROW_BINARY_INSERT, values: Readable.from(chunked(batch, BATCH_ROWS, encodeRowBinary), { objectMode: false }) });
      await drainStream(result.stream);
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Median CPU time (this process, user + system) to encode ENCODE_ROWS rows, and the body size per
 * row. CPU rather than wall time: the machine is shared, and a stalled thread costs no CPU.
 */
function measureEncode(format: Format, batches: FlowBatch[]): { msPerMillion: number; bytesPerRow: number } {
  let bytes = 0;
  for (const part of format.encode(batches[0] as FlowBatch)) bytes += part.length;
  const times: number[] = [];
  for (let r = 0; r < ENCODE_REPEATS; r++) {
    const cpu0 = process.cpuUsage();
    let sink = 0;
    for (let rows = 0, k = 0; rows < ENCODE_ROWS; rows += BATCH_ROWS, k++) {
      for (const part of format.encode(batches[k % batches.length] as FlowBatch)) sink += part.length;
    }
    const cpu = process.cpuUsage(cpu0);
    times.push((cpu.user + cpu.system) / 1000);
    if (sink === 0) throw new Error(`${format.name} encoded nothing`);
  }
  return { msPerMillion: (median(times) * 1e6) / ENCODE_ROWS, bytesPerRow: bytes / BATCH_ROWS };
}

interface InsertTotals {
  rows: number;
  seconds: number;
  clientCpuMs: number;
}

async function insertRound(format: Format, client: ClickHouseClient, batches: FlowBatch[], totals: InsertTotals): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < BATCHES_PER_ROUND; k++) {
    const batch = batches[k % batches.length] as FlowBatch;
    await format.insert(client, batch);
    totals.rows += batch.length;
  }
  totals.seconds += (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  totals.clientCpuMs += (cpu.user + cpu.system) / 1000;
}

const rate = (n: number): string => Math.round(n).toLocaleString('en-US');

let service: ServiceHandle | undefined;
let url = process.env.CLICKHOUSE_URL ?? '';
if (url === '') {
  service = await startClickHouse();
  url = service.url;
}
const run = randomBytes(4).toString('hex');
const admin = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });

/**
 * Where the rows go, one database each: `flows` as deployed (every migration, so the materialized
 * views run on each insert), `flows` alone (0001 only: what storing rows costs), and a Null-engine
 * `flows` that parses the body and drops it (what the format alone costs the server). Each
 * target's client tags its queries (User-Agent) so query_log can tell them apart; log_queries
 * makes every INSERT leave its own CPU counters there, untouched by background merges.
 */
interface Target {
  tag: string;
  label: string;
  database: string;
  client: ClickHouseClient;
}
const TARGETS: Target[] = [
  ['deployed', 'flows and its views (all migrations)'],
  ['table', 'flows alone (0001 only)'],
  ['null', 'Null engine (parsing only)'],
].map(([tag = '', label = '']) => {
  const database = `flowmap_bench_insert_${run}_${tag}`;
  const application = `flowmap-bench-${run}-${tag}`;
  const client = createClient({ url, database, application, request_timeout: 120_000, clickhouse_settings: { log_queries: 1 }, log: { level: ClickHouseLogLevel.OFF } });
  return { tag, label, database, client };
});

async function createTargets(): Promise<void> {
  const [deployed, table, nullEngine] = TARGETS as [Target, Target, Target];
  for (const t of TARGETS) await admin.command({ query: toText(sql`CREATE DATABASE ${identifier(t.database)}`) });
  for (const migration of readMigrations(join(MIGRATIONS_ROOT, 'clickhouse'))) {
    for (const statement of migration.statements) {
      await deployed.client.command({ query: statement });
      if (migration.version === 1) await table.client.command({ query: statement });
    }
  }
  await admin.command({ query: toText(sql`CREATE TABLE ${qualified(nullEngine.database, 'flows')} AS ${qualified(table.database, 'flows')} ENGINE = Null`) });
}

/** Server CPU (user + system, ms) of this run's INSERTs, by target tag and format name. */
async function serverCpuMs(): Promise<Map<string, number>> {
  await admin.command({ query: 'SYSTEM FLUSH LOGS' });
  const rows = await (
    await admin.query({
      query: toText(sql`SELECT http_user_agent AS agent, extract(query, 'FORMAT ([A-Za-z]+)') AS format,
        sum(arraySum(arrayMap((name, value) -> if(name IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds'), value, 0), ProfileEvents.Names, ProfileEvents.Values))) AS us
        FROM system.query_log WHERE type = 2 AND query LIKE 'INSERT%' AND http_user_agent LIKE ${lit.string(`flowmap-bench-${run}-%`)} GROUP BY agent, format`),
      format: 'JSONEachRow',
    })
  ).json<{ agent: string; format: string; us: string }>();
  const out = new Map<string, number>();
  for (const r of rows) out.set(`${r.agent.split(' ')[0]?.split('-').at(-1) ?? ''}/${r.format}`, Number(r.us) / 1000);
  return out;
}

try {
  const [version] = await (await admin.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>();
  await createTargets();

  const batches = Array.from({ length: DISTINCT_BATCHES }, (_, i) => netflowBatch(0x5eed + i));
  const encodes = FORMATS.map((format) => {
    const result = measureEncode(format, batches);
    process.stderr.write(`encode ${format.name}: ${result.msPerMillion.toFixed(0)} ms per 1M rows, ${result.bytesPerRow.toFixed(1)} B/row\n`);
    return result;
  });

  const totals = FORMATS.map(() => TARGETS.map((): InsertTotals => ({ rows: 0, seconds: 0, clientCpuMs: 0 })));
  for (let round = 0; round < INSERT_ROUNDS; round++) {
    for (let f = 0; f < FORMATS.length; f++) {
      // Rotate the order each round: whichever runs first meets the previous round's merges.
      const k = (f + round) % FORMATS.length;
      const format = FORMATS[k] as Format;
      for (let t = 0; t < TARGETS.length; t++) await insertRound(format, (TARGETS[t] as Target).client, batches, totals[k]?.[t] as InsertTotals);
      process.stderr.write(`round ${round + 1}: ${format.name} done\n`);
    }
  }
  for (let t = 0; t < 2; t++) {
    const [stored] = await (await (TARGETS[t] as Target).client.query({ query: 'SELECT count() AS n FROM flows', format: 'JSONEachRow' })).json<{ n: string }>();
    const inserted = totals.reduce((n, perTarget) => n + (perTarget[t]?.rows ?? 0), 0);
    if (Number(stored?.n) !== inserted) throw new Error(`${(TARGETS[t] as Target).tag}: stored ${stored?.n} rows, inserted ${inserted}`);
  }
  const server = await serverCpuMs();

  const encodeTable = [
    '| format | JS encode, CPU ms per 1M rows | body bytes/row | client CPU while inserting, ms per 1M rows |',
    '|---|---|---|---|',
    ...FORMATS.map((format, k) => {
      const e = encodes[k] as { msPerMillion: number; bytesPerRow: number };
      const t = totals[k]?.[0] as InsertTotals;
      return `| ${format.name} | ${rate(e.msPerMillion)} | ${e.bytesPerRow.toFixed(1)} | ${rate((t.clientCpuMs * 1e6) / t.rows)} |`;
    }),
  ].join('\n');
  const insertTable = [
    `| format | ${TARGETS.map((t) => `into ${t.label}: rows/s | server CPU, ms per 1M rows`).join(' | ')} |`,
    `|---|${TARGETS.map(() => '---|---|').join('')}`,
    ...FORMATS.map((format, k) => {
      const sqlFormat = format.name.split(' ')[0] ?? '';
      const cells = TARGETS.map((target, t) => {
        const totalsHere = totals[k]?.[t] as InsertTotals;
        const cpu = server.get(`${target.tag}/${sqlFormat}`);
        return `${rate(totalsHere.rows / totalsHere.seconds)} | ${cpu === undefined ? '—' : rate((cpu * 1e6) / totalsHere.rows)}`;
      });
      return `| ${format.name} | ${cells.join(' | ')} |`;
    }),
  ].join('\n');
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const report =
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, ClickHouse ${version?.v ?? '?'} on the same machine over HTTP. ` +
    `Encode: median CPU time of ${ENCODE_REPEATS} runs of ${ENCODE_ROWS.toLocaleString('en-US')} rows. Inserts: ${INSERT_ROUNDS} rounds × ${BATCHES_PER_ROUND} batches of ` +
    `${BATCH_ROWS.toLocaleString('en-US')} rows per format and target, one INSERT at a time.\n\n${encodeTable}\n\n${insertTable}\n`;
  process.stdout.write(report);

  if (process.argv.includes('--write')) {
    const path = join(root, 'BENCHMARKS.md');
    const text = readFileSync(path, 'utf8');
    const start = text.indexOf('<!-- insert:start -->');
    const end = text.indexOf('<!-- insert:end -->');
    if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- insert:start --> / <!-- insert:end --> markers');
    writeFileSync(path, `${text.slice(0, start + '<!-- insert:start -->'.length)}\n${report}${text.slice(end)}`);
  }
} finally {
  for (const t of TARGETS) await admin.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(t.database)}`) }).catch(() => undefined);
  await Promise.all([...TARGETS.map((t) => t.client.close()), admin.close()]);
  await service?.dispose();
}
