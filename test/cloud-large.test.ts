// An Azure NSG flow log of more than 200 MB (one JSON document, `{"records":[…]}`) is parsed with
// bounded memory (issue 5, acceptance 2). The file is generated streaming (bench/cloud-generate.ts)
// to a temporary file; a child process ingests it through `ingestStream`, the path `flowmap ingest`
// takes, and prints its own peak RSS (process.resourceUsage().maxRSS, read in the process itself
// so there is no race with its exit). The child's store only counts what it is given (flows, bytes,
// packets): this measures the parser and the ingest pipeline, not a database's buffers
// (bench/cloud.ts reports peak RSS with DuckDB and ClickHouse behind it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateCloudFile, type GeneratedTotals } from '../bench/cloud-generate.js';
import { silentLogger } from '../core/logger.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import { inCI, serviceUrl } from './services.js';

const clickhouse = serviceUrl('clickhouse');

const root = join(import.meta.dirname, '..');
/** ~68 bytes a tuple: 3.2M tuples make a document of about 207 MiB. */
const FLOWS = 3_200_000;
const MIN_FILE_BYTES = 200 * 2 ** 20;
/** Far below the file's size: a parser that held the document would need several times the file. */
const MAX_RSS_BYTES = 400 * 2 ** 20;

// The child: ingestStream from the file into a store that counts, then one JSON line with the
// report's counts, what the store was given and the process's peak RSS.
const CHILD = `
const { createReadStream } = await import('node:fs');
const { ingestStream } = await import(${JSON.stringify(pathToFileURL(join(root, 'collector/cloud/ingest.ts')).href)});
const { createServicePorts } = await import(${JSON.stringify(pathToFileURL(join(root, 'collector/service-ports.ts')).href)});
const file = process.argv[1];
const stored = { flows: 0, bytes: 0, packets: 0, batches: 0 };
const store = {
  async insertFlows(batch) {
    stored.batches++;
    stored.flows += batch.length;
    for (let i = 0; i < batch.length; i++) {
      stored.bytes += batch.columns.bytes[i];
      stored.packets += batch.columns.packets[i];
    }
  },
};
const report = await ingestStream(createReadStream(file), store, { format: 'azure-nsg', file, servicePorts: createServicePorts() });
process.stdout.write(JSON.stringify({ flows: report.flows, bytes: report.bytes, skipped: report.skipped, problems: report.problems.slice(0, 3), stored, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\\n');
`;

interface ChildResult {
  flows: number;
  bytes: number;
  skipped: Record<string, number>;
  problems: unknown[];
  stored: { flows: number; bytes: number; packets: number; batches: number };
  maxRssBytes: number;
}

describe('a 200 MB Azure NSG document', { timeout: 420_000 }, () => {
  let dir = '';
  let path = '';
  let totals: GeneratedTotals;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-cloud-large-'));
    path = join(dir, 'nsg-v2.json');
    totals = await generateCloudFile('azure-nsg', path, FLOWS);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is ingested whole with peak RSS far below its size', async (t) => {
    assert.ok(totals.fileBytes >= MIN_FILE_BYTES, `generated ${totals.fileBytes} bytes, want at least ${MIN_FILE_BYTES}`);
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout.trim()) as ChildResult;

    assert.equal(result.bytes, totals.fileBytes);
    assert.deepEqual(result.problems, []);
    assert.ok(Object.values(result.skipped).every((n) => n === 0), JSON.stringify(result.skipped));
    assert.equal(result.flows, totals.flows);
    assert.deepEqual({ flows: result.stored.flows, bytes: result.stored.bytes, packets: result.stored.packets }, { flows: totals.flows, bytes: totals.bytes, packets: totals.packets });
    // Reported for the issue (acceptance 2 asks for the number, not only the bound).
    t.diagnostic(`azure-nsg: ${(totals.fileBytes / 2 ** 20).toFixed(0)} MiB, ${totals.flows} flows, child peak RSS ${(result.maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(result.maxRssBytes < MAX_RSS_BYTES, `peak RSS ${result.maxRssBytes} bytes for a ${totals.fileBytes}-byte file; bound ${MAX_RSS_BYTES}`);
    assert.ok(result.maxRssBytes < totals.fileBytes, 'peak RSS below the file size');
  });

  // The same file the way a user ingests it: `flowmap ingest FILE` into ClickHouse, under GNU time.
  it('flowmap ingest stores it whole in ClickHouse, shows progress, and stays far below its size', { skip: clickhouse.skip || (existsSync('/usr/bin/time') || inCI ? false : '/usr/bin/time (Debian package time) measures the peak RSS'), timeout: 300_000 }, async (t) => {
    const database = `flowmap_large_${process.pid}`;
    const child = spawn('/usr/bin/time', ['-f', 'maxrss_kb=%M', process.execPath, '--import', 'tsx', join(root, 'cli/main.ts'), 'ingest', path, '--format', 'azure-nsg', '--data', join(dir, 'data')], {
      cwd: root,
      env: { ...process.env, CLICKHOUSE_URL: clickhouse.url, CLICKHOUSE_DATABASE: database, REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const store = await createClickHouseStore({ url: clickhouse.url ?? '', database, user: 'default', password: '', requestTimeoutMs: 60_000 }, { logger: silentLogger() });
    try {
      assert.equal(code, 0, stderr);
      assert.match(stdout, new RegExp(`nsg-v2\\.json: ${totals.flows} flows stored$`, 'm'));
      assert.match(stderr, /nsg-v2\.json: \d+% \(\d+ of \d+ bytes\), \d+ flows stored/, 'progress lines for a big file');
      const stored = await store.flowTotals({ from: 0, to: 2 ** 32 - 1 });
      assert.deepEqual(stored, { flows: totals.flows, bytes: totals.bytes, packets: totals.packets });
      const rss = Number(/maxrss_kb=(\d+)/.exec(stderr)?.[1]) * 1024;
      t.diagnostic(`flowmap ingest into ClickHouse: ${(totals.fileBytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
      assert.ok(rss > 0 && rss < MAX_RSS_BYTES, `peak RSS ${rss} bytes; bound ${MAX_RSS_BYTES}`);
    } finally {
      const { createClient } = await import('@clickhouse/client');
      const client = createClient({ url: clickhouse.url });
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
      await store.close();
    }
  });
});
