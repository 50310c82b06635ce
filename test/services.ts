// The service harness: real ClickHouse and Redis for integration tests.
//
// `npm test` (test/run.ts) calls `startServicesForRun()` once: it uses CLICKHOUSE_URL / REDIS_URL
// when set, otherwise starts `clickhouse-server` and `redis-server` from PATH on free ports with
// throw-away data directories, and exports their URLs to the test processes. Test files call
// `serviceUrl('clickhouse')` and skip (or, with CI=true, fail) when it is missing. Tests that need
// to stop and restart a service (readiness, spool replay) start their own instance with
// `startClickHouse()` / `startRedis()`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ServiceName = 'clickhouse' | 'redis';

const ENV_URL: Record<ServiceName, string> = { clickhouse: 'CLICKHOUSE_URL', redis: 'REDIS_URL' };
const ENV_SKIP: Record<ServiceName, string> = { clickhouse: 'FLOWMAP_TEST_NO_CLICKHOUSE', redis: 'FLOWMAP_TEST_NO_REDIS' };
const BINARY: Record<ServiceName, string> = { clickhouse: 'clickhouse-server', redis: 'redis-server' };

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * The URL of a service for this test process, or a skip reason. With CI=true a missing service is
 * an error thrown at load time, so the run fails instead of silently skipping.
 */
export function serviceUrl(name: ServiceName): { url: string; skip: false } | { url: undefined; skip: string } {
  const url = process.env[ENV_URL[name]];
  if (url !== undefined && url !== '') return { url, skip: false };
  const reason = process.env[ENV_SKIP[name]] ?? `${ENV_URL[name]} is not set (run through \`npm test\`, which starts ${BINARY[name]})`;
  if (inCI) throw new Error(`CI=true and ${name} is unavailable: ${reason}`);
  return { url: undefined, skip: reason };
}

export function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

/** Polls until `check` is true; fails with the service's log tail after `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = logFile !== undefined && existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
  throw new Error(`${what} did not become ready within ${timeoutMs} ms\n${tail}`);
}

export interface ServiceHandle {
  readonly name: ServiceName;
  readonly url: string;
  readonly port: number;
  /** Stops the server process (data directory kept, so `start()` brings the same data back). */
  stop(): Promise<void>;
  /** Starts it again on the same port after `stop()`. */
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): it keeps its port but answers nothing, like a hung host. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  /** Stops it and removes its data directory. */
  dispose(): Promise<void>;
}

class ProcessService implements ServiceHandle {
  private child: ChildProcess | undefined;

  constructor(
    readonly name: ServiceName,
    readonly url: string,
    readonly port: number,
    private readonly dir: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly ready: () => Promise<boolean>,
  ) {}

  async start(): Promise<void> {
    if (this.child !== undefined) return;
    const log = join(this.dir, 'server.out');
    const { openSync } = await import('node:fs');
    const fd = openSync(log, 'a');
    this.child = spawn(this.command, this.args, { cwd: this.dir, stdio: ['ignore', fd, fd], detached: false });
    const child = this.child;
    let exited = false;
    child.once('exit', () => { exited = true; });
    try {
      await waitFor(async () => {
        if (exited) throw new Error(`${this.command} exited during start-up; see ${log}\n${readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')}`);
        return this.ready();
      }, 30_000, this.name, log);
    } catch (err) {
      // A server that never became ready must not outlive the test run.
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    });
    // The port must be free before a restart binds it again.
    await waitFor(async () => !(await portOpen(this.port)), 10_000, `${this.name} port release`);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function clickhouseConfig(dir: string, httpPort: number, tcpPort: number): string {
  // Minimal server config valid on 18.16 and current releases: one passwordless `default` user
  // reachable from loopback only, UTC, data under the throw-away directory.
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/data/tmp/</tmp_path>
  <user_files_path>${dir}/data/user_files/</user_files_path>
  <format_schema_path>${dir}/data/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <max_server_memory_usage_to_ram_ratio>0.25</max_server_memory_usage_to_ram_ratio>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
</yandex>
`;
}

export async function startClickHouse(): Promise<ServiceHandle> {
  if (!onPath('clickhouse-server')) throw new Error('clickhouse-server is not on PATH (apt-get install -y clickhouse-server)');
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-ch-'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  const httpPort = await freePort();
  let tcpPort = await freePort();
  while (tcpPort === httpPort) tcpPort = await freePort();
  const configPath = join(dir, 'config.xml');
  writeFileSync(configPath, clickhouseConfig(dir, httpPort, tcpPort));
  const url = `http://127.0.0.1:${httpPort}`;
  const service = new ProcessService('clickhouse', url, httpPort, dir, 'clickhouse-server', [`--config-file=${configPath}`], async () => {
    try {
      const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      return response.ok;
    } catch {
      return false;
    }
  });
  await service.start();
  return service;
}

export async function startRedis(): Promise<ServiceHandle> {
  if (!onPath('redis-server')) throw new Error('redis-server is not on PATH (apt-get install -y redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
  const service = new ProcessService('redis', `redis://127.0.0.1:${port}`, port, dir, 'redis-server', args, async () => {
    if (!(await portOpen(port))) return false;
    return redisPing(port);
  });
  await service.start();
  return service;
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let answer = '';
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) { socket.destroy(); resolve(answer.startsWith('+PONG')); }
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * For the test runner: makes both services available to the test processes through the
 * environment. Returns a function that stops what it started.
 */
export async function startServicesForRun(log: (line: string) => void): Promise<() => Promise<void>> {
  const started: ServiceHandle[] = [];
  const starters: Record<ServiceName, () => Promise<ServiceHandle>> = { clickhouse: startClickHouse, redis: startRedis };
  const results = await Promise.allSettled((['clickhouse', 'redis'] as const).map(async (name) => {
    const envName = ENV_URL[name];
    if (process.env[envName] !== undefined && process.env[envName] !== '') {
      log(`${name}: using ${envName}=${process.env[envName]}`);
      return;
    }
    if (!onPath(BINARY[name])) {
      const reason = `${BINARY[name]} is not on PATH and ${envName} is not set`;
      if (inCI) throw new Error(`CI=true: ${reason}; integration tests cannot run`);
      log(`\n!!! ${name.toUpperCase()} TESTS WILL BE SKIPPED: ${reason} !!!\n`);
      process.env[ENV_SKIP[name]] = reason;
      return;
    }
    const service = await starters[name]();
    started.push(service);
    process.env[envName] = service.url;
    log(`${name}: started ${BINARY[name]} at ${service.url}`);
  }));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure !== undefined) {
    // One service failing must not leave the other running behind a failed run.
    await Promise.all(started.map((s) => s.dispose()));
    throw failure.reason;
  }
  return async () => {
    await Promise.all(started.map((s) => s.dispose()));
  };
}
