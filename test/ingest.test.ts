// `flowmap ingest` end to end on the embedded store: plain and gzip files store the same flows,
// oriented; NODATA and malformed lines are counted with their line; a file is not stored twice
// (the ledger, `--list`); a truncated gzip fails with the file named and keeps the flows before it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { flowAt } from '../core/flow.js';
import { formatAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createDuckDBStore } from '../store/index.js';
import { freePort } from './services.js';

const root = join(import.meta.dirname, '..');

// AWS's default (version 2) format: the first two records of AWS's documentation examples,
// a reply, a NODATA record and a line cut short.
const LOG = [
  '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
  '2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK',
  '2 123456789010 eni-1235b8ca123456789 172.31.16.21 172.31.16.139 22 20641 6 18 3912 1418530010 1418530070 ACCEPT OK',
  '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA',
  '2 123456789010 eni-1235b8ca123456789 172.31.16.139',
  '',
].join('\n');

async function flowmap(args: string[], data: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args, '--data', data], {
    cwd: root,
    env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

describe('flowmap ingest', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-ingest-'));
    writeFileSync(join(dir, 'flows.log'), LOG);
    // The same records, compressed: different bytes, so a different ledger entry.
    writeFileSync(join(dir, 'flows.log.gz'), gzipSync(LOG.replace('20641 22 6 20 4249', '20642 22 6 20 4249')));
    const gz = gzipSync(LOG.repeat(50));
    writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, gz.length - 40));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stores the flows of a plain file, oriented, and reports what it skipped with the line', async () => {
    const data = join(dir, 'a');
    const result = await flowmap(['ingest', '--format', 'aws-vpc', join(dir, 'flows.log')], data);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /flows\.log: 3 flows stored; skipped nodata 1, malformed 1/);
    assert.match(result.stderr, /flows\.log:5: malformed: /);
    const store = await createDuckDBStore({ dataDir: data }, { logger: silentLogger() });
    try {
      const batch = await store.readFlows({ from: 1418530000, to: 1418530100 });
      const rows = Array.from({ length: batch.length }, (_, i) => flowAt(batch, i)).map((r) => [
        formatAddress(r.src_addr), r.src_port, formatAddress(r.dst_addr), r.dst_port, r.proto, r.packets, r.bytes, r.time_start, r.time_end, r.action, r.server_side, r.source, r.cloud_account, r.cloud_interface,
      ]);
      assert.deepEqual(rows.sort(), [
        ['172.31.16.139', 20641, '172.31.16.21', 22, 6, 20, 4249, 1418530010, 1418530070, 'accept', 'dst', 'aws_vpc', '123456789010', 'eni-1235b8ca123456789'],
        ['172.31.16.21', 22, '172.31.16.139', 20641, 6, 18, 3912, 1418530010, 1418530070, 'accept', 'src', 'aws_vpc', '123456789010', 'eni-1235b8ca123456789'],
        ['172.31.9.69', 49761, '172.31.9.12', 3389, 6, 20, 4249, 1418530010, 1418530070, 'reject', 'dst', 'aws_vpc', '123456789010', 'eni-1235b8ca123456789'],
      ].sort());
    } finally {
      await store.close();
    }
  });

  it('reads gzip by content, skips a file it already stored, and lists the ledger', async () => {
    const data = join(dir, 'b');
    const first = await flowmap(['ingest', '--format', 'aws-vpc', join(dir, 'flows.log.gz'), join(dir, 'flows.log')], data);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /flows\.log\.gz: 3 flows stored/);
    const again = await flowmap(['ingest', '--format', 'aws-vpc', join(dir, 'flows.log.gz')], data);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /flows\.log\.gz: already ingested/);
    const list = await flowmap(['ingest', '--list', '--json'], data);
    const ingested = (JSON.parse(list.stdout) as { ingested: { file: string; flows: number }[] }).ingested;
    assert.deepEqual(ingested.map((e) => [e.file.endsWith('flows.log.gz') ? 'gz' : 'plain', e.flows]).sort(), [['gz', 3], ['plain', 3]]);
    const store = await createDuckDBStore({ dataDir: data }, { logger: silentLogger() });
    try {
      assert.deepEqual(await store.flowTotals({ from: 1418530000, to: 1418530100 }), { flows: 6, bytes: 2 * (4249 * 2 + 3912), packets: 2 * 58 });
    } finally {
      await store.close();
    }
  });

  it('fails a truncated gzip with the file named and exit 1, keeps the flows before the cut, and stores them once', async () => {
    const data = join(dir, 'c');
    const result = await flowmap(['ingest', '--format', 'aws-vpc', join(dir, 'cut.log.gz')], data);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cut\.log\.gz:\d+: .*(unexpected end|damaged|cut short).*input stopped at line \d+/i);
    const list = await flowmap(['ingest', '--list', '--json'], data);
    const [entry] = (JSON.parse(list.stdout) as { ingested: { flows: number; complete: boolean; error: string }[] }).ingested;
    assert.ok(entry !== undefined);
    assert.equal(entry.complete, false);
    assert.match(entry.error, /unexpected end/i);
    // 50 copies of 3 flows: the cut is in the last 40 compressed bytes, so most are before it.
    assert.ok(entry.flows > 0 && entry.flows < 150, `flows before the cut: ${entry.flows}`);
    const totals = async (): Promise<number> => {
      const store = await createDuckDBStore({ dataDir: data }, { logger: silentLogger() });
      try {
        return (await store.flowTotals({ from: 1418530000, to: 1418530100 })).flows;
      } finally {
        await store.close();
      }
    };
    assert.equal(await totals(), entry.flows);
    // The same bytes again: passed over up to the cut, then the same failure; nothing stored twice.
    const again = await flowmap(['ingest', '--format', 'aws-vpc', join(dir, 'cut.log.gz')], data);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /unexpected end/i);
    assert.equal(await totals(), entry.flows);
    const human = await flowmap(['ingest', '--list'], data);
    assert.match(human.stdout, /cut\.log\.gz {2}INCOMPLETE: .*unexpected end/i);
  });

  it('reads AWS flow logs delivered as Parquet, columns named as AWS writes them', async () => {
    const file = join(dir, 'flows.parquet');
    // AWS's Parquet schema: the field names with underscores, integers typed, absent values null.
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await connection.run(`CREATE TABLE f (version INTEGER, account_id VARCHAR, interface_id VARCHAR, srcaddr VARCHAR, dstaddr VARCHAR, srcport INTEGER,
      dstport INTEGER, protocol INTEGER, packets BIGINT, bytes BIGINT, start BIGINT, "end" BIGINT, action VARCHAR, log_status VARCHAR, vpc_id VARCHAR, tcp_flags INTEGER)`);
    await connection.run(`INSERT INTO f VALUES
      (5, '123456789010', 'eni-0a1b', '10.0.1.5', '10.0.2.9', 51000, 5432, 6, 10, 8000, 1700000000, 1700000060, 'ACCEPT', 'OK', 'vpc-0abc', 2),
      (5, '123456789010', 'eni-0a1b', '10.0.2.9', '10.0.1.5', 5432, 51000, 6, 9, 60000, 1700000000, 1700000060, 'ACCEPT', 'OK', 'vpc-0abc', 18),
      (5, '123456789010', 'eni-0a1b', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1700000000, 1700000060, NULL, 'NODATA', 'vpc-0abc', NULL)`);
    await connection.run(`COPY f TO '${file.replace(/'/g, "''")}' (FORMAT PARQUET)`);
    connection.closeSync();
    instance.closeSync();

    const data = join(dir, 'e');
    const result = await flowmap(['ingest', '--format', 'aws-vpc', file], data);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /flows\.parquet: 2 flows stored; skipped nodata 1/);
    const store = await createDuckDBStore({ dataDir: data }, { logger: silentLogger() });
    try {
      const batch = await store.readFlows({ from: 1700000000, to: 1700000100 });
      const rows = Array.from({ length: batch.length }, (_, i) => flowAt(batch, i)).map((r) => [
        formatAddress(r.src_addr), r.src_port, r.dst_port, r.packets, r.bytes, r.tcp_flags, r.cloud_vpc, r.server_side,
      ]);
      assert.deepEqual(rows.sort(), [
        ['10.0.1.5', 51000, 5432, 10, 8000, 2, 'vpc-0abc', 'dst'],
        ['10.0.2.9', 5432, 51000, 9, 60000, 18, 'vpc-0abc', 'src'],
      ].sort());
    } finally {
      await store.close();
    }
    const again = await flowmap(['ingest', '--format', 'aws-vpc', file], data);
    assert.match(again.stderr, /flows\.parquet: already ingested/);
  });

  it('goes through the API of a running flowmap start that owns the data directory (DESIGN.md §9)', async () => {
    const data = join(dir, 'served');
    const port = await freePort();
    const env = { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn', FLOWMAP_API_PORT: String(port), FLOWMAP_COLLECTOR_LISTEN: '127.0.0.1:0' };
    const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'start', '--data', data], { cwd: root, env, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 60_000;
      while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) {
        assert.ok(Date.now() < deadline, 'flowmap start ready within 60 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      const run = (args: string[]) => flowmap(args, data, { FLOWMAP_API_PORT: String(port) });
      const first = await run(['ingest', '--format', 'aws-vpc', join(dir, 'flows.log')]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /in use by a running flowmap; sending to it at http:\/\/127\.0\.0\.1:\d+/);
      assert.match(first.stdout, /flows\.log: 3 flows stored; skipped nodata 1, malformed 1/);
      assert.match(first.stderr, /flows\.log:5: malformed: /);
      const again = await run(['ingest', '--format', 'aws-vpc', join(dir, 'flows.log')]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /flows\.log: already ingested/);
      const cut = await run(['ingest', '--format', 'aws-vpc', join(dir, 'cut.log.gz')]);
      assert.equal(cut.code, 1);
      assert.match(cut.stderr, /cut\.log\.gz:\d+: unexpected end of file/);
      const list = await run(['ingest', '--list', '--json']);
      const ingested = (JSON.parse(list.stdout) as { ingested: { file: string; flows: number; complete: boolean }[] }).ingested;
      assert.deepEqual(ingested.map((e) => [e.file.endsWith('flows.log'), e.complete]).sort(), [[false, false], [true, true]]);
      // Other clients need a token; the server's own one for this machine is in the data directory.
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/v1/flowlogs`)).status, 401);
      const token = readFileSync(join(data, 'api-token'), 'utf8').trim();
      assert.equal(statSync(join(data, 'api-token')).mode & 0o077, 0, 'the local token file is readable by its owner only');
      const totals = (await (await fetch(`http://127.0.0.1:${port}/api/v1/flowlogs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { ingested: unknown[] };
      assert.equal(totals.ingested.length, 2);
    } finally {
      server.kill('SIGTERM');
      if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
    }
    assert.equal(existsSync(join(data, 'api-token')), false, 'the local token is gone with the server');
  });

  it('refuses an unknown format and names the allowed ones', async () => {
    const result = await flowmap(['ingest', '--format', 'netflow', join(dir, 'flows.log')], join(dir, 'd'));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--format must be one of aws-vpc, gcp-vpc, azure-nsg, azure-vnet, not 'netflow'/);
  });
});
