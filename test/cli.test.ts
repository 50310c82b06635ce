// End-to-end through the real `flowmap` command: embedded start/stop with signals, migrations
// against a real ClickHouse, and readiness following ClickHouse and Redis outages in service mode.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { encodeNetflow9 } from '../collector/encoders/netflow9.js';
import { parseAddress } from '../core/ip.js';
import { freePort, inCI, onPath, startClickHouse, startRedis, type ServiceHandle } from './services.js';

const root = join(import.meta.dirname, '..');

interface Flowmap {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function flowmap(args: string[], env: NodeJS.ProcessEnv = {}): Flowmap {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args], {
    cwd: root,
    // Port 0: the collector role must not fight other tests (or a real collector) for 2055.
    env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'info', FLOWMAP_COLLECTOR_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const p = flowmap(args, env);
  const code = await p.exited;
  return { code, output: p.output() };
}

async function status(url: string): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
    return { code: response.status, body: (await response.json()) as Record<string, unknown> };
  } catch {
    return { code: 0, body: {} };
  }
}

/** Polls until /readyz answers `want`, failing after `withinMs`. Returns the last body. */
async function readyzBecomes(base: string, want: number, withinMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + withinMs;
  let last = { code: 0, body: {} as Record<string, unknown> };
  while (Date.now() < deadline) {
    last = await status(`${base}/readyz`);
    if (last.code === want) return last.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/readyz did not answer ${want} within ${withinMs} ms; last ${last.code} ${JSON.stringify(last.body)}`);
}

describe('flowmap start (embedded)', () => {
  let data: string;
  before(() => {
    data = mkdtempSync(join(tmpdir(), 'flowmap-cli-'));
  });
  after(() => rmSync(data, { recursive: true, force: true }));

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`serves /healthz and /readyz within 15 s with no external service, and exits 0 on ${signal}`, async () => {
      const port = await freePort();
      const p = flowmap(['start', '--data', data, '--port', String(port)]);
      try {
        const body = await readyzBecomes(`http://127.0.0.1:${port}`, 200, 15_000);
        assert.equal(body.status, 'ready');
        const health = await status(`http://127.0.0.1:${port}/healthz`);
        assert.equal(health.code, 200);
        assert.equal(health.body.mode, 'embedded');
        const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
        assert.match(await metrics.text(), /process_cpu_seconds_total/);
        const docs = await fetch(`http://127.0.0.1:${port}/docs/json`);
        assert.equal(((await docs.json()) as { openapi: string }).openapi, '3.0.3');
      } finally {
        p.child.kill(signal);
      }
      assert.equal(await p.exited, 0, p.output());
      assert.match(p.output(), /"msg":"stopped"/);
    });
  }

  it('runs under `npm start` and exits 0 when Ctrl-C reaches the whole process group', async () => {
    const port = await freePort();
    // detached: npm leads a new process group, as a shell's foreground job does.
    const npm = spawn('npm', ['start', '--', '--data', data, '--port', String(port)], {
      cwd: root,
      detached: true,
      env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_COLLECTOR_LISTEN: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    npm.stdout.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    npm.stderr.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    try {
      await readyzBecomes(`http://127.0.0.1:${port}`, 200, 15_000);
    } finally {
      process.kill(-(npm.pid ?? 0), 'SIGINT');
    }
    assert.equal(await exited, 0, text);
    assert.match(text, /"msg":"stopped"/);
  });

  it('stops cleanly when the signal arrives during start-up', async () => {
    const port = await freePort();
    const p = flowmap(['start', '--data', data, '--port', String(port)]);
    await new Promise<void>((resolve) => {
      const check = (): void => (p.output().includes('flowmap starting') ? resolve() : void setTimeout(check, 10));
      check();
    });
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.output());
  });

  it('refuses to run the api or worker role alone without ClickHouse and Redis', async () => {
    for (const role of ['api', 'worker']) {
      const result = await run([role, '--data', data]);
      assert.equal(result.code, 1);
      assert.match(result.output, new RegExp(`flowmap ${role}\` runs one role of service mode and needs CLICKHOUSE_URL and REDIS_URL`));
    }
    const collector = await run(['collector', '--data', data]);
    assert.equal(collector.code, 1);
    assert.match(collector.output, /`flowmap collector` runs the collector role of service mode and needs CLICKHOUSE_URL/);
  });

  it('refuses a second process on the same data directory with a clear message', async () => {
    const port = await freePort();
    const first = flowmap(['start', '--data', data, '--port', String(port)]);
    try {
      await readyzBecomes(`http://127.0.0.1:${port}`, 200, 15_000);
      const second = await run(['migrate', '--data', data]);
      assert.equal(second.code, 1);
      assert.match(second.output, /FLOWMAP_STORE_LOCKED: .*is open in another flowmap process/);
    } finally {
      first.child.kill('SIGTERM');
    }
    assert.equal(await first.exited, 0);
  });

  it('collects flows under `flowmap start`, and `flowmap exporters` reports the exporter, through the server and from the file', async () => {
    const port = await freePort();
    const p = flowmap(['start', '--data', data, '--port', String(port)]);
    let sent = 0;
    try {
      await readyzBecomes(`http://127.0.0.1:${port}`, 200, 15_000);
      const listening = p.output().split('\n').find((line) => line.includes('"msg":"collector listening"'));
      const udp = (JSON.parse(listening ?? '{}') as { endpoints?: { port: number }[] }).endpoints?.[0]?.port;
      assert.ok(udp !== undefined && udp > 0, 'the collector logs where it listens');
      const records = Array.from({ length: 40 }, (_, k) => ({
        time_received: Math.floor(Date.now() / 1000),
        source: 'netflow9' as const,
        exporter: parseAddress('127.0.0.1'),
        src_addr: parseAddress(`10.0.0.${k + 1}`),
        dst_addr: parseAddress('192.0.2.1'),
        src_port: 40_000 + k,
        dst_port: 443,
        proto: 6,
        bytes: 1000,
        packets: 2,
      }));
      const datagrams = encodeNetflow9(records);
      sent = datagrams.length;
      const socket = createSocket('udp4');
      for (const d of datagrams) await new Promise<void>((resolve, reject) => socket.send(d, udp, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      socket.close();
      // The running server answers for the locked data directory, with its collector's live counters.
      let listed: { exporters: { exporter: string; flows: number; datagrams: number }[] } = { exporters: [] };
      const deadline = Date.now() + 30_000;
      while (listed.exporters[0]?.flows !== 40 && Date.now() < deadline) {
        const result = await run(['exporters', '--json', '--data', data, '--server', `http://127.0.0.1:${port}`]);
        assert.equal(result.code, 0, result.output);
        listed = JSON.parse(result.output) as typeof listed;
        if (listed.exporters[0]?.flows !== 40) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.deepEqual(listed.exporters.map((e) => [e.exporter, e.datagrams, e.flows]), [['127.0.0.1', datagrams.length, 40]]);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /flowmap_collector_flows_decoded_total\{exporter="127\.0\.0\.1"\} 40\n/);
      assert.match(metrics, new RegExp(`flowmap_collector_datagrams_received_total\\{exporter="127\\.0\\.0\\.1"\\} ${datagrams.length}\\n`));
      assert.match(metrics, /flowmap_collector_udp_receive_errors\{counter="RcvbufErrors"\} \d+/);
    } finally {
      p.child.kill('SIGTERM');
    }
    assert.equal(await p.exited, 0, p.output());
    const table = await run(['exporters', '--data', data]);
    assert.equal(table.code, 0, table.output);
    assert.match(table.output, /^EXPORTER\s+LAST SEEN \(UTC\)\s+DATAGRAMS\s+FLOWS/m);
    assert.match(table.output, new RegExp(`^127\\.0\\.0\\.1\\s+\\S+ \\S+\\s+${sent}\\s+40\\s`, 'm'));
  });

  it('explains bad configuration and exits 1 without starting', async () => {
    const result = await run(['start', '--data', data], { FLOWMAP_API_PORT: 'eighty' });
    assert.equal(result.code, 1);
    assert.match(result.output, /api\.port \(from FLOWMAP_API_PORT\) = "eighty"/);
  });

  it('prints help for every command and exits 2 on an unknown one', async () => {
    for (const command of ['start', 'collector', 'api', 'worker', 'migrate', 'exporters', 'version']) {
      const result = await run([command, '--help']);
      assert.equal(result.code, 0, command);
      assert.match(result.output, new RegExp(`Usage: flowmap ${command}`));
    }
    assert.equal((await run(['no-such-command'])).code, 2);
  });
});

const haveBinaries = onPath('clickhouse-server') && onPath('redis-server');
const serviceSkip = haveBinaries ? false : 'clickhouse-server or redis-server not on PATH';
if (serviceSkip !== false && inCI) throw new Error(`CI=true: ${serviceSkip}`);

describe('flowmap in service mode (ClickHouse + BullMQ)', { skip: serviceSkip }, () => {
  let clickhouse: ServiceHandle;
  let redis: ServiceHandle;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    [clickhouse, redis] = await Promise.all([startClickHouse(), startRedis()]);
    env = { CLICKHOUSE_URL: clickhouse.url, REDIS_URL: redis.url, CLICKHOUSE_DATABASE: 'flowmap_cli' };
  });
  after(async () => {
    await Promise.all([clickhouse?.dispose(), redis?.dispose()]);
  });

  it('migrate applies the migrations, then a second run applies nothing and says so', async () => {
    const early = await run(['api', '--port', String(await freePort())], env);
    assert.equal(early.code, 1, 'the api role does not serve an unmigrated store');
    assert.match(early.output, /FLOWMAP_MIGRATION_PENDING: .*run `flowmap migrate` first/);
    const first = await run(['migrate'], env);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /ClickHouse 18\.\d+.*database flowmap_cli: applied 9 migration\(s\): 0001_flows\.sql, 0002_meta\.sql, 0003_interface_counters\.sql, 0004_flows_1h\.sql, 0005_listener_evidence\.sql, 0006_exporters\.sql, 0007_flows_1h_ports\.sql, 0008_baseline_hosts\.sql, 0009_flows_1d\.sql/);
    const second = await run(['migrate'], env);
    assert.equal(second.code, 0, second.output);
    assert.match(second.output, /nothing to apply; all 9 migrations already applied/);
    const json = await run(['migrate', '--json'], env);
    assert.deepEqual((JSON.parse(json.output) as { applied: unknown[] }).applied, []);
  });

  it('readiness turns 503 within 5 s when ClickHouse or Redis stops, and 200 when it returns', async () => {
    const port = await freePort();
    const p = flowmap(['start', '--port', String(port)], env);
    const base = `http://127.0.0.1:${port}`;
    try {
      const ready = await readyzBecomes(base, 200, 20_000);
      assert.equal(ready.status, 'ready');
      assert.equal((await status(`${base}/healthz`)).body.mode, 'service');

      await clickhouse.stop();
      const down = await readyzBecomes(base, 503, 5_000);
      assert.match(String(down.reason), /^store: /);
      await clickhouse.start();
      await readyzBecomes(base, 200, 20_000);

      // A hung server (up, port open, answering nothing) must not hold /readyz either.
      clickhouse.pause();
      const hung = await readyzBecomes(base, 503, 5_000);
      assert.match(String(hung.reason), /^store: /);
      clickhouse.resume();
      await readyzBecomes(base, 200, 20_000);

      await redis.stop();
      const noRedis = await readyzBecomes(base, 503, 5_000);
      assert.match(String(noRedis.reason), /^jobs: /);
      await redis.start();
      await readyzBecomes(base, 200, 20_000);
    } finally {
      p.child.kill('SIGTERM');
    }
    assert.equal(await p.exited, 0, p.output());
    assert.doesNotMatch(p.output(), /uncaught|unhandled/i);
  });
});
