// Bad cloud flow-log input against a running `flowmap start` in service mode — ClickHouse 18.16
// and Redis, started for real (issue 5, acceptance 3). Every kind of damage is sent the way users
// send files: uploads (POST /api/v1/flowlogs/{format}), the watched directory, and `flowmap ingest -`
// on standard input. Each gets a clear error naming the file and line; what came before the
// damage is stored, exactly once, even when the same bytes are sent again; the total in ClickHouse
// is the sum of everything accepted; and the process goes on serving throughout — including
// while a 2 GB stream without a single newline goes through it with bounded memory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { silentLogger } from '../core/logger.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import type { Store } from '../store/port.js';
import { freePort, inCI, serviceUrl } from './services.js';

const clickhouse = serviceUrl('clickhouse');
const redis = serviceUrl('redis');
const root = join(import.meta.dirname, '..');
const DATABASE = `flowmap_badinput_${process.pid}`;
const T0 = 1_700_000_000;
const RANGE = { from: T0 - 86_400, to: T0 + 7 * 86_400 };
/** "2 GB": 2e9 bytes, under the upload limit of 2 GiB. */
const LINELESS_BYTES = 2_000_000_000;
/** Peak RSS a process may reach while 2 GB go through it: a parser that held the stream would need the 2 GB. */
const MAX_RSS_BYTES = 700 * 2 ** 20;

/** AWS default-format lines, each a distinct flow (source port) of 100 bytes, one packet. */
function awsLines(n: number, firstPort: number): string[] {
  return Array.from({ length: n }, (_, i) => `2 123456789010 eni-0a1b2c3d 10.1.0.1 10.1.0.2 ${firstPort + i} 443 6 1 100 ${T0} ${T0 + 60} ACCEPT OK`);
}

/** An Azure NSG version 2 document of `records` records of `tuples` tuples each. */
function nsgDocument(records: number, tuples: number, firstPort: number): string {
  const list = Array.from({ length: records }, (_, r) => ({
    time: '2023-11-14T22:13:20.0000000Z',
    resourceId: '/SUBSCRIPTIONS/11111111-2222-3333-4444-555555555555/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG',
    category: 'NetworkSecurityGroupFlowEvent',
    operationName: 'NetworkSecurityGroupFlowEvents',
    properties: {
      Version: 2,
      flows: [{ rule: 'DefaultRule_AllowInternetOutBound', flows: [{ mac: '000D3AF87856', flowTuples: Array.from({ length: tuples }, (_, t) => `${T0},10.2.0.1,10.2.0.2,${firstPort + r * tuples + t},443,T,O,A,E,1,100,0,0`) }] }],
    },
  }));
  return JSON.stringify({ records: list }, null, 2);
}

interface Response {
  status: number;
  body: Record<string, unknown>;
}

/** A request with a streamed body (chunks from `body`), answered as JSON. */
function send(port: number, path: string, body: AsyncIterable<Buffer> | Buffer): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => void (text += chunk.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          reject(new Error(`not JSON (${res.statusCode}): ${text.slice(0, 500)}`));
        }
      });
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    void (async () => {
      for await (const chunk of body) {
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(reject);
  });
}

/** `total` bytes of 'A' with no newline, in 1 MiB chunks. */
async function* lineless(total: number): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(1 << 20, 0x41);
  for (let sent = 0; sent < total; sent += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, total - sent));
}

async function get(port: number, path: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.arrayBuffer();
  return response.status;
}

/** The peak resident set of a live process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, 'VmHWM in /proc/PID/status');
  return Number(match[1]) * 1024;
}

/** Polls `check` until it holds, failing after `withinMs` (waiting on the server, not timing it). */
async function eventually(check: () => Promise<boolean> | boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('bad flow-log input against a running flowmap (ClickHouse, Redis)', { skip: clickhouse.skip || redis.skip, timeout: 900_000 }, () => {
  let dir = '';
  let watch = '';
  let port = 0;
  let server: ChildProcess;
  let logs = '';
  let store: Store;
  /** Flows the server said it stored, summed over every input. */
  let accepted = 0;
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    CLICKHOUSE_URL: clickhouse.url,
    CLICKHOUSE_DATABASE: DATABASE,
    REDIS_URL: redis.url,
    FLOWMAP_REDIS_PREFIX: `badinput${process.pid}`,
    FLOWMAP_COLLECTOR_LISTEN: '127.0.0.1:0',
    FLOWMAP_LOG_LEVEL: 'warn',
  });
  const totals = async (): Promise<number> => (await store.flowTotals(RANGE)).flows;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-bad-input-'));
    watch = join(dir, 'incoming');
    port = await freePort();
    server = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'start', '--data', join(dir, 'data'), '--port', String(port)], {
      cwd: root,
      // Loopback only, so authentication may be off: this test is about the input, not the tokens.
      env: { ...env(), FLOWMAP_INGEST_WATCH: `aws-vpc=${watch}`, FLOWMAP_INGEST_WATCH_INTERVAL_MS: '200', FLOWMAP_API_AUTH: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.on('data', (chunk: Buffer) => void (logs += chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => void (logs += chunk.toString()));
    await eventually(async () => (await get(port, '/readyz').catch(() => 0)) === 200, 60_000, `flowmap start ready (log: ${logs.slice(-2000)})`);
    store = await createClickHouseStore({ url: clickhouse.url ?? '', database: DATABASE, user: 'default', password: '', requestTimeoutMs: 30_000 }, { logger: silentLogger() });
  });

  after(async () => {
    server?.kill('SIGTERM');
    if (server?.exitCode === null) await new Promise((r) => server.once('exit', r));
    await store?.close();
    const { createClient } = await import('@clickhouse/client');
    const client = createClient({ url: clickhouse.url });
    await client.command({ query: `DROP DATABASE IF EXISTS ${DATABASE}` });
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a truncated gzip: 400 naming the upload and line; the flows before the cut are stored, once, also when sent again', async () => {
    const gz = gzipSync(awsLines(20_000, 1024).join('\n'));
    const cut = gz.subarray(0, Math.floor(gz.length / 2));
    const first = await send(port, '/api/v1/flowlogs/aws-vpc?name=cut.log.gz', cut);
    assert.equal(first.status, 400);
    assert.equal((first.body.error as { code: string }).code, 'FLOWMAP_BAD_REQUEST');
    const message = String((first.body.error as { message: string }).message);
    const parsed = /^cut\.log\.gz:(\d+): unexpected end of file \(input stopped at line \d+, after \d+ bytes as given; (\d+) flows stored before it\)$/.exec(message);
    assert.ok(parsed, message);
    const stored = Number(parsed[2]);
    // An independent reading of the same bytes: every complete line zlib can get out of the cut stream.
    const decodable = gunzipSync(cut, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString().split('\n').length - 1;
    assert.ok(stored > 0 && stored <= decodable, `stored ${stored} of ${decodable} decodable lines`);
    assert.equal(Number(parsed[1]), stored + 1, 'the line named is the one after the last stored');
    assert.equal(await totals(), stored);
    const again = await send(port, '/api/v1/flowlogs/aws-vpc?name=cut.log.gz', cut);
    assert.equal(again.status, 400);
    assert.equal(await totals(), stored, 'the same bytes again store nothing twice');
    accepted += stored;
  });

  it('an Azure document cut in half: the records before the cut stored, the cut reported with its line; not stored twice', async () => {
    const doc = nsgDocument(40, 25, 1024);
    const half = doc.slice(0, Math.floor(doc.length / 2));
    const cutLine = half.split('\n').length;
    const response = await send(port, '/api/v1/flowlogs/azure-nsg?name=half.json', Buffer.from(half));
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const skipped = response.body.skipped as Record<string, number>;
    const problems = response.body.problems as { line: number; reason: string; detail: string }[];
    assert.equal(skipped.malformed, 1);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.reason, 'malformed');
    assert.ok((problems[0]?.line ?? 0) > 1 && (problems[0]?.line ?? 0) <= cutLine, `cut reported at line ${problems[0]?.line} of ${cutLine}`);
    // Whole records before the cut: count the records the half contains completely.
    const completeRecords = (half.match(/"operationName"/g) ?? []).length - 1;
    assert.ok(completeRecords >= 1);
    const flows = Number(response.body.flows);
    assert.ok(flows >= completeRecords * 25 && flows < 40 * 25, `flows ${flows}, complete records ${completeRecords}`);
    assert.equal(await totals(), accepted + flows);
    const again = await send(port, '/api/v1/flowlogs/azure-nsg?name=half-again.json', Buffer.from(half));
    assert.equal(again.status, 200);
    assert.equal(again.body.alreadyIngested, true);
    assert.equal(await totals(), accepted + flows);
    accepted += flows;
  });

  it('AWS lines with missing fields and wrong types: each reported with its line and reason, the rest stored', async () => {
    const lines = awsLines(6, 30_000);
    lines.splice(1, 0, '2 123456789010 eni-0a1b2c3d 10.1.0.1 10.1.0.2 50000'); // line 2: fields missing
    lines.splice(3, 0, `2 123456789010 eni-0a1b2c3d 10.1.0.1 10.1.0.2 http 443 6 1 100 ${T0} ${T0 + 60} ACCEPT OK`); // line 4: a port that is text
    lines.splice(5, 0, `2 123456789010 eni-0a1b2c3d 10.1.0.300 10.1.0.2 5 443 6 1 100 ${T0} ${T0 + 60} ACCEPT OK`); // line 6: not an address
    lines.splice(7, 0, `2 123456789010 eni-0a1b2c3d 10.1.0.1 10.1.0.2 6 443 6 1 -100 ${T0} ${T0 + 60} ACCEPT OK`); // line 8: negative bytes
    const response = await send(port, '/api/v1/flowlogs/aws-vpc?name=mixed.log', Buffer.from(lines.join('\n')));
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.flows, 6);
    const problems = response.body.problems as { line: number; reason: string }[];
    assert.deepEqual(
      problems.map((p) => [p.line, p.reason]),
      [
        [2, 'malformed'],
        [4, 'bad_value'],
        [6, 'bad_value'],
        [8, 'bad_value'],
      ],
    );
    accepted += 6;
    assert.equal(await totals(), accepted);
  });

  it('GCP entries with wrong types: reported with their lines, the good entries stored', async () => {
    const entry = (bytes: unknown, srcPort: unknown): string =>
      JSON.stringify({
        insertId: 'x',
        jsonPayload: {
          connection: { src_ip: '10.3.0.1', dest_ip: '10.3.0.2', src_port: srcPort, dest_port: 443, protocol: 6 },
          reporter: 'SRC',
          bytes_sent: bytes,
          packets_sent: '1',
          start_time: '2023-11-14T22:13:20Z',
          end_time: '2023-11-14T22:14:20Z',
          src_instance: { project_id: 'p', region: 'europe-west1', vm_name: 'vm' },
        },
        timestamp: '2023-11-14T22:14:30Z',
      });
    const text = [entry('100', 40_001), entry({ nested: true }, 40_002), entry('100', 'not-a-port'), entry('100', 40_004), 'not json at all', entry('100', 40_006)].join('\n');
    const response = await send(port, '/api/v1/flowlogs/gcp-vpc?name=gcp.json', Buffer.from(text));
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.flows, 3);
    const problems = response.body.problems as { line: number; reason: string }[];
    assert.deepEqual(
      problems.map((p) => [p.line, p.reason]),
      [
        [2, 'bad_value'],
        [3, 'bad_value'],
        [5, 'malformed'],
      ],
    );
    accepted += 3;
    assert.equal(await totals(), accepted);
  });

  it('a 2 GB upload without a newline: one malformed line 1, nothing stored, bounded memory, and the server answers throughout', async (t) => {
    let answered = 0;
    let failed = 0;
    let uploading = true;
    const prober = (async () => {
      while (uploading) {
        if ((await get(port, '/healthz').catch(() => 0)) === 200) answered++;
        else failed++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const response = await send(port, '/api/v1/flowlogs/aws-vpc?name=lineless.log', lineless(LINELESS_BYTES)).finally(() => {
      uploading = false;
    });
    await prober;
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.bytes, LINELESS_BYTES);
    assert.equal(response.body.flows, 0);
    assert.deepEqual(
      (response.body.problems as { line: number; reason: string }[]).map((p) => [p.line, p.reason]),
      [[1, 'malformed']],
    );
    assert.equal(failed, 0, 'every health probe during the upload was answered');
    assert.ok(answered >= 2, `health probes answered during the upload: ${answered}`);
    const rss = peakRss(server.pid ?? 0);
    t.diagnostic(`flowmap start after a 2 GB line-less upload: peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB; ${answered} health probes answered during it`);
    assert.ok(rss < MAX_RSS_BYTES, `server peak RSS ${rss} bytes`);
    assert.equal(await totals(), accepted);
  });

  it('flowmap ingest - with a 2 GB stream without a newline: named line 1 malformed, bounded memory, nothing stored', { skip: existsSync('/usr/bin/time') || inCI ? false : '/usr/bin/time (Debian package time) measures the peak RSS' }, async (t) => {
    const child = spawn('/usr/bin/time', ['-f', 'maxrss_kb=%M', process.execPath, '--import', 'tsx', join(root, 'cli/main.ts'), 'ingest', '-', '--format', 'gcp-vpc', '--data', join(dir, 'cli-data')], {
      cwd: root,
      env: env(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for await (const chunk of lineless(LINELESS_BYTES)) {
      if (!child.stdin?.write(chunk)) await new Promise((r) => child.stdin?.once('drain', r));
    }
    child.stdin?.end();
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /^-: 0 flows stored; skipped malformed 1$/m);
    assert.match(stderr, /^-:1: malformed: /m);
    const rss = Number(/maxrss_kb=(\d+)/.exec(stderr)?.[1]) * 1024;
    t.diagnostic(`flowmap ingest - of a 2 GB line-less stream: peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(rss > 0 && rss < MAX_RSS_BYTES, `flowmap ingest peak RSS ${rss} bytes`);
    assert.equal(await totals(), accepted);
  });

  it('the watched directory: a cut gzip set aside in failed/ with its reason, the good file stored', async () => {
    mkdirSync(watch, { recursive: true });
    const good = awsLines(50, 40_000).join('\n');
    const gz = gzipSync(awsLines(20_000, 10_000).join('\n'));
    const cut = gz.subarray(0, Math.floor(gz.length / 3));
    // Written under a temporary name and renamed, as a careful writer does.
    writeFileSync(join(watch, 'good.log.tmp'), good);
    spawnSync('mv', [join(watch, 'good.log.tmp'), join(watch, 'good.log')]);
    writeFileSync(join(watch, 'cut.log.gz'), cut);
    const failed = join(watch, 'failed');
    const done = join(watch, 'done');
    await eventually(() => existsSync(join(failed, 'cut.log.gz.error.txt')) && existsSync(join(done, 'good.log')), 30_000, 'watched files handled');
    assert.deepEqual(readdirSync(watch).sort(), ['done', 'failed']);
    const reason = readFileSync(join(failed, 'cut.log.gz.error.txt'), 'utf8');
    const parsed = /cut\.log\.gz:\d+: unexpected end of file .*; (\d+) flows stored before it/.exec(reason);
    assert.ok(parsed, reason);
    accepted += 50 + Number(parsed[1]);
    await eventually(async () => (await totals()) === accepted, 30_000, `stored flows reach ${accepted}`);
  });

  it('after all of it the server still serves: ready, a good upload stored, the total is everything accepted', async () => {
    assert.equal(server.exitCode, null, 'the server is still running');
    assert.equal(await get(port, '/readyz'), 200);
    const response = await send(port, '/api/v1/flowlogs/aws-vpc?name=after.log', Buffer.from(awsLines(10, 50_000).join('\n')));
    assert.equal(response.status, 200);
    assert.equal(response.body.flows, 10);
    accepted += 10;
    assert.equal(await totals(), accepted);
    assert.doesNotMatch(logs, /"level":(50|60)[^}]*"msg":"(request failed|uncaught)/, 'no 500s or crashes in the server log');
  });
});
