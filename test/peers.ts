// The peers flowmap is measured against, run for real from PATH: nfcapd (nfdump) and nfacctd
// (pmacct) as collectors, softflowd as an exporter reading a capture, and flowmap itself (the
// `collector` command into ClickHouse, or `start` into its embedded DuckDB) the same way — each on
// a free loopback UDP port with a throw-away directory, stopped gracefully so it flushes, then
// asked what it stored. Used by test/softflowd.test.ts (acceptance 2) and bench/ingest.ts.
//
// Every process started here is tracked until it exits: a failing start or a failed stop kills it
// (and pmacct's plugin processes), and a process exit kills whatever is still running, so a failed
// test or benchmark leaves no collector behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { freePort } from './services.js';

const root = join(import.meta.dirname, '..');

export interface FlowTotals {
  flows: number;
  bytes: number;
  packets: number;
}

/** A collector under test: where it listens, how to stop it (it flushes), what it stored. */
export interface Receiver {
  readonly name: string;
  readonly port: number;
  /** Socket receive buffer: what flowmap reports it got, or what a peer was told to ask for. */
  readonly receiveBufferBytes?: number;
  /** Graceful stop (the collector flushes everything it holds), then its stored totals are read. Idempotent. */
  stop(): Promise<void>;
  /** What it stored; stops it first when it is still running. */
  totals(): Promise<FlowTotals>;
  /**
   * Datagrams the kernel dropped on its socket for want of buffer room (Linux /proc/net/udp
   * `drops`), read just before the stop; undefined before, or when the socket was not found.
   */
  kernelDrops(): number | undefined;
  /**
   * Losses the collector counted itself, by counter and reason (flowmap: its
   * `*_dropped_total` metrics, scraped just before the stop); undefined for collectors that have none.
   */
  ownDrops(): Record<string, number> | undefined;
  /**
   * Seconds from the call to stop() until the collector had read everything queued for it and,
   * where it tells (flowmap's metrics), stored everything it decoded: the backlog it carried.
   */
  drainSeconds(): number | undefined;
  /** Kills it if still running and removes its files, without reading anything. For failure paths. */
  dispose(): Promise<void>;
}

/** What differs between collectors; `receiver()` adds the shared stop sequence. */
interface ReceiverSpec {
  name: string;
  port: number;
  receiveBufferBytes?: number;
  /** True when the collector holds nothing it has not stored yet; absent when it cannot tell. */
  settled?: () => Promise<boolean>;
  /** How long `settled` (and an empty socket) must hold before the backlog counts as gone; default 100 ms. */
  quietMs?: number;
  /** Reads the collector's own drop counters while it still runs. */
  ownDrops?: () => Promise<Record<string, number> | undefined>;
  /** Graceful stop; resolves once the collector has written everything and exited. */
  shutdown(): Promise<void>;
  read(): Promise<FlowTotals>;
  /** Kills whatever still runs (idempotent). */
  kill(): Promise<void>;
  /** Removes its files (idempotent). */
  cleanup(): Promise<void> | void;
}

/** Longest wait for a collector to read what the kernel holds for it before it is stopped. */
const DRAIN_TIMEOUT_MS = 60_000;

/**
 * The stop every collector gets: wait until its socket's receive queue is empty and it says it
 * has stored what it read (a collector stops reading on its stop signal, and flowmap spools what
 * the store has not taken yet, so without this wait a backlog would count as lost although it
 * would have been stored moments later), note the kernel's drop counter, stop it gracefully, read
 * what it stored, clean up. Any failure kills it.
 */
function receiver(spec: ReceiverSpec): Receiver {
  let stored: Promise<FlowTotals> | undefined;
  let drops: number | undefined;
  let own: Record<string, number> | undefined;
  let drainMs: number | undefined;
  const finish = (): Promise<FlowTotals> => {
    stored ??= (async () => {
      try {
        const drainStart = Date.now();
        drainMs = (await drained(spec.port, spec.settled, spec.quietMs ?? 100, DRAIN_TIMEOUT_MS)) - drainStart;
        drops = udpSocket(spec.port)?.drops;
        own = await spec.ownDrops?.();
        await spec.shutdown();
        return await spec.read();
      } catch (err) {
        await spec.kill();
        throw err;
      } finally {
        await spec.cleanup();
      }
    })();
    return stored;
  };
  return {
    name: spec.name,
    port: spec.port,
    ...(spec.receiveBufferBytes !== undefined ? { receiveBufferBytes: spec.receiveBufferBytes } : {}),
    stop: async () => { await finish(); },
    totals: finish,
    kernelDrops: () => drops,
    ownDrops: () => own,
    drainSeconds: () => (drainMs === undefined ? undefined : drainMs / 1000),
    dispose: async () => {
      await spec.kill();
      await spec.cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Managed {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last 64 KiB of stdout and stderr, interleaved. */
  output(): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // The last line of defence: a test process that ends (or throws) with peers still running takes
  // them down with it. 'exit' handlers must be synchronous; kill() is.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Managed {
  installExitHook();
  const child = spawn(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let text = '';
  const append = (chunk: Buffer): void => {
    text += chunk.toString();
    if (text.length > 65_536) text = text.slice(-65_536);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      append(Buffer.from(`\n${command}: ${err.message}\n`));
      live.delete(child);
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, exited, output: () => text };
}

function running(p: Managed): boolean {
  return p.child.exitCode === null && p.child.signalCode === null && live.has(p.child);
}

/** Sends `signal` and waits up to `timeoutMs` for the exit; past that, SIGKILL and an error. */
async function terminate(p: Managed, signal: NodeJS.Signals, timeoutMs: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (!running(p)) return p.exited;
  p.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
  const result = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    p.child.kill('SIGKILL');
    await p.exited;
    throw new Error(`${what} did not exit within ${timeoutMs} ms of ${signal}; killed\n${tail(p.output())}`);
  }
  return result;
}

function kill(p: Managed | undefined): Promise<unknown> {
  if (p === undefined || !running(p)) return Promise.resolve();
  p.child.kill('SIGKILL');
  return p.exited;
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Polls `check` every 50 ms until true; fails when the process exits first or after `timeoutMs`. */
async function waitUntil(p: Managed, check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (!running(p)) throw new Error(`${what} exited during start-up\n${tail(p.output())}`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs} ms\n${tail(p.output())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A UDP port nothing on 127.0.0.1 is bound to right now (the kernel's pick). */
export async function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/**
 * The sockets bound to UDP `port` on this host, from /proc/net/udp and udp6 (Linux): bytes queued
 * unread (rx_queue) and datagrams dropped for want of room (drops, the last column), summed.
 */
export function udpSocket(port: number): { rxQueueBytes: number; drops: number } | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let found: { rxQueueBytes: number; drops: number } | undefined;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cells = line.trim().split(/\s+/);
      if (cells[1]?.split(':')[1] !== hex) continue;
      found ??= { rxQueueBytes: 0, drops: 0 };
      found.rxQueueBytes += parseInt(cells[4]?.split(':')[1] ?? '0', 16);
      found.drops += Number(cells[cells.length - 1] ?? 0);
    }
  }
  return found;
}

function udpBound(port: number): boolean {
  return udpSocket(port) !== undefined;
}

/**
 * Waits until nothing is queued on `port` and the collector is `settled`, continuously for
 * `quietMs`, or until `timeoutMs` passed (then the backlog is stopped with it and counts against
 * it). Returns when the quiet stretch began: the moment the backlog was gone.
 */
async function drained(port: number, settled: (() => Promise<boolean>) | undefined, quietMs: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let quietSince: number | undefined;
  for (;;) {
    const now = Date.now();
    const idle = (udpSocket(port)?.rxQueueBytes ?? 0) === 0 && (settled === undefined || (await settled()));
    if (!idle) quietSince = undefined;
    else quietSince ??= now;
    if ((quietSince !== undefined && now - quietSince >= quietMs) || now > deadline) return quietSince ?? now;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The binaries of `binaries` that are not on PATH. */
export function missingBinaries(...binaries: string[]): string[] {
  return binaries.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }).status !== 0);
}

// ---------------------------------------------------------------------------------------------
// nfcapd (nfdump)

export interface PeerOptions {
  /** Socket receive buffer to ask for (the kernel caps it at net.core.rmem_max). */
  receiveBufferBytes?: number;
}

/**
 * nfcapd on 127.0.0.1:<free port> writing under a temp directory. It writes its current file on
 * SIGTERM; the totals are then read back with `nfdump -R dir`, aggregated by protocol so the
 * output stays small, from the machine-readable CSV summary block (flows, bytes, packets).
 */
export async function startNfcapd(options: PeerOptions = {}): Promise<Receiver> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-nfcapd-'));
  const port = await freeUdpPort();
  const args = ['-w', dir, '-b', '127.0.0.1', '-p', String(port), '-t', '3600', '-I', 'flowmap'];
  if (options.receiveBufferBytes !== undefined) args.push('-B', String(options.receiveBufferBytes));
  const p = run('nfcapd', args);
  try {
    await waitUntil(p, () => udpBound(port), 15_000, 'nfcapd');
  } catch (err) {
    await kill(p);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return receiver({
    name: 'nfcapd',
    port,
    ...(options.receiveBufferBytes !== undefined ? { receiveBufferBytes: options.receiveBufferBytes } : {}),
    shutdown: async () => {
      const { code } = await terminate(p, 'SIGTERM', 60_000, 'nfcapd');
      if (code !== 0) throw new Error(`nfcapd exited with ${code}\n${tail(p.output())}`);
    },
    read: async () => readNfdumpTotals(dir),
    kill: async () => { await kill(p); },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

/** Totals of every file nfcapd wrote under `dir`, from nfdump's CSV summary block. */
export function readNfdumpTotals(dir: string): FlowTotals {
  if (readdirSync(dir).filter((f) => f.startsWith('nfcapd.')).length === 0) return { flows: 0, bytes: 0, packets: 0 };
  const result = spawnSync('nfdump', ['-R', dir, '-N', '-a', '-A', 'proto', '-o', 'csv'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`nfdump -R ${dir} failed (${result.status}): ${result.stderr}`);
  const lines = result.stdout.split('\n').map((l) => l.trim());
  const at = lines.indexOf('Summary');
  const header = lines[at + 1]?.split(',') ?? [];
  const values = lines[at + 2]?.split(',') ?? [];
  const field = (name: string): number => {
    const i = header.indexOf(name);
    const value = Number(values[i]);
    if (at < 0 || i < 0 || !Number.isSafeInteger(value)) throw new Error(`nfdump printed no summary ${name}:\n${result.stdout.slice(-2000)}`);
    return value;
  };
  return { flows: field('flows'), bytes: field('bytes'), packets: field('packets') };
}

// ---------------------------------------------------------------------------------------------
// nfacctd (pmacct)

/**
 * nfacctd on 127.0.0.1:<free port> with the print plugin aggregating by protocol plus the `flows`
 * primitive, so each output row carries packets, flows and bytes; for NetFlow v9 and IPFIX pmacct
 * counts one flow per data record (options records feed its sampling tables, not the counters).
 * The plugin writes its CSV once, when it purges its cache on SIGINT (pmacct's graceful stop; the
 * refresh time is a day, so nothing is written before). The core/plugin queue is sized per
 * pmacct's CONFIG-KEYS advice for heavy load (pipe 64 MiB in 64 KiB buffers, 1:1000) — left at
 * the 4 MB default it reports "missing data detected" long before the socket overflows.
 */
export async function startNfacctd(options: PeerOptions = {}): Promise<Receiver> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-nfacctd-'));
  const port = await freeUdpPort();
  const output = join(dir, 'flows.csv');
  const config = [
    'daemonize: false',
    'nfacctd_ip: 127.0.0.1',
    `nfacctd_port: ${port}`,
    ...(options.receiveBufferBytes !== undefined ? [`nfacctd_pipe_size: ${options.receiveBufferBytes}`] : []),
    'plugins: print',
    'plugin_pipe_size: 67108864',
    'plugin_buffer_size: 65536',
    'aggregate: proto, flows',
    'print_output: csv',
    `print_output_file: ${output}`,
    'print_refresh_time: 86400',
    `logfile: ${join(dir, 'nfacctd.log')}`,
    `pidfile: ${join(dir, 'nfacctd.pid')}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'nfacctd.conf'), config);
  const p = run('nfacctd', ['-f', join(dir, 'nfacctd.conf')]);
  const log = (): string => (existsSync(join(dir, 'nfacctd.log')) ? readFileSync(join(dir, 'nfacctd.log'), 'utf8') : '');
  let plugins: number[] = [];
  const killAll = async (): Promise<void> => {
    for (const pid of plugins) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await kill(p);
  };
  try {
    await waitUntil(p, () => udpBound(port) && log().includes('cache entries='), 15_000, 'nfacctd');
    plugins = childPids(p.child.pid);
  } catch (err) {
    plugins = childPids(p.child.pid);
    await killAll();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return receiver({
    name: 'nfacctd',
    port,
    ...(options.receiveBufferBytes !== undefined ? { receiveBufferBytes: options.receiveBufferBytes } : {}),
    shutdown: async () => {
      const { code } = await terminate(p, 'SIGINT', 60_000, 'nfacctd');
      // The core exits before its plugin has written the purge; wait for the plugin too.
      const deadline = Date.now() + 120_000;
      while (plugins.some(alive)) {
        if (Date.now() > deadline) throw new Error(`nfacctd's print plugin did not finish within 120 s\n${tail(log())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (code !== 0) throw new Error(`nfacctd exited with ${code}\n${tail(p.output())}\n${tail(log())}`);
    },
    read: async () => readPmacctTotals(output),
    kill: killAll,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

/** Sums pmacct's print CSV (header PROTOCOL,PACKETS,FLOWS,BYTES); no file means nothing stored. */
export function readPmacctTotals(path: string): FlowTotals {
  if (!existsSync(path)) return { flows: 0, bytes: 0, packets: 0 };
  const [headerLine, ...rows] = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const header = (headerLine ?? '').split(',');
  const column = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path} has no ${name} column: ${headerLine}`);
    return i;
  };
  const [packets, flows, bytes] = [column('PACKETS'), column('FLOWS'), column('BYTES')];
  const totals = { flows: 0, bytes: 0, packets: 0 };
  for (const row of rows) {
    const cells = row.split(',');
    totals.packets += Number(cells[packets]);
    totals.flows += Number(cells[flows]);
    totals.bytes += Number(cells[bytes]);
  }
  return totals;
}

function childPids(parent: number | undefined): number[] {
  if (parent === undefined) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces, so split after ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// softflowd

export interface Destination {
  host: string;
  port: number;
}

export interface SoftflowdReport {
  /** Flow records softflowd says it exported, and in how many datagrams. */
  records: number;
  datagrams: number;
  /** Send failures softflowd counted. */
  failures: number;
  output: string;
}

/**
 * softflowd reads `pcap` (-r) and exports NetFlow v9 or IPFIX to every destination at once (-n
 * takes a comma-separated list; without -l it sends each datagram to all of them, so two
 * collectors receive the very same export). In -r mode it stops at the end of the capture and
 * expires every flow still tracked before it exits ("Shutting down after pcap EOF"), so the export
 * is complete when the process is gone. -m raises the tracked-flow limit so no flow is forced out
 * early; forced expiry would not lose traffic, only split flows, but keeping the capture's flows
 * whole makes the counts easy to reason about.
 */
export async function runSoftflowd(pcap: string, destinations: readonly Destination[], version: 9 | 10): Promise<SoftflowdReport> {
  if (destinations.length === 0) throw new Error('runSoftflowd needs at least one destination');
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-softflowd-'));
  const targets = destinations.map((d) => (d.host.includes(':') ? `[${d.host}]:${d.port}` : `${d.host}:${d.port}`)).join(',');
  // No -c: -r already turns the control socket off, and a -c after it turns it back on, after
  // which softflowd 1.1.0 reads poll results it never asked for and can block in accept().
  // -p only matters for a daemon, but softflowd unlinks that path on exit, so it gets a private one.
  const p = run('softflowd', ['-r', pcap, '-d', '-a', '-v', String(version), '-m', '1000000', '-n', targets, '-p', join(dir, 'softflowd.pid')]);
  try {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([p.exited, new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 120_000); })]);
    clearTimeout(timer);
    if (result === 'timeout') throw new Error(`softflowd did not finish ${pcap} within 120 s\n${tail(p.output())}`);
    const output = p.output();
    if (result.code !== 0) throw new Error(`softflowd exited with ${result.code ?? result.signal}\n${tail(output)}`);
    // "Flows exported: 5964 (5964 records) in 214 packets (0 failures)"
    const m = /Flows exported: \d+ \((\d+) records\) in (\d+) packets \((\d+) failures\)/.exec(output);
    if (m === null) throw new Error(`softflowd printed no export summary\n${tail(output)}`);
    return { records: Number(m[1]), datagrams: Number(m[2]), failures: Number(m[3]), output };
  } finally {
    await kill(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// flowmap

export type FlowmapTarget =
  | { store: 'clickhouse'; clickhouseUrl: string; database: string; dropDatabase?: boolean }
  | { store: 'duckdb' };

/**
 * flowmap's collector on 127.0.0.1:<free port>: `flowmap collector` into ClickHouse (after
 * `flowmap migrate` into the given database), or `flowmap start` with its embedded DuckDB under a
 * temp data directory. Ready when it logs "collector listening"; stopped with SIGTERM, after which
 * it must exit 0 having flushed every batch. Totals are read straight from the flows table, not
 * through flowmap's store code: count(), sum(bytes), sum(packets).
 */
export async function startFlowmap(target: FlowmapTarget, options: { env?: NodeJS.ProcessEnv } = {}): Promise<Receiver> {
  const data = mkdtempSync(join(tmpdir(), 'flowmap-collector-'));
  const port = await freeUdpPort();
  const apiPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: '',
    CLICKHOUSE_URL: target.store === 'clickhouse' ? target.clickhouseUrl : '',
    ...(target.store === 'clickhouse' ? { CLICKHOUSE_DATABASE: target.database } : {}),
    FLOWMAP_DATA: data,
    FLOWMAP_API_HOST: '127.0.0.1',
    FLOWMAP_API_PORT: String(apiPort),
    FLOWMAP_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
    FLOWMAP_LOG_LEVEL: 'info',
    ...options.env,
  };
  const cli = join(root, 'cli/main.ts');
  let p: Managed | undefined;
  try {
    if (target.store === 'clickhouse') {
      const migrate = run(process.execPath, ['--import', 'tsx', cli, 'migrate'], { env });
      const { code } = await migrate.exited;
      if (code !== 0) throw new Error(`flowmap migrate exited with ${code}\n${tail(migrate.output())}`);
    }
    p = run(process.execPath, ['--import', 'tsx', cli, target.store === 'clickhouse' ? 'collector' : 'start'], { env });
    const started = p;
    let endpoint: { port?: number; receiveBufferBytes?: number } | undefined;
    await waitUntil(started, () => (endpoint = listening(started.output(), port)) !== undefined, 60_000, 'flowmap collector');
    const name = target.store === 'clickhouse' ? 'flowmap → ClickHouse' : 'flowmap → DuckDB';
    return receiver({
      name,
      port,
      ...(endpoint?.receiveBufferBytes !== undefined ? { receiveBufferBytes: endpoint.receiveBufferBytes } : {}),
      settled: () => flowmapSettled(apiPort),
      // Decoder threads post a batch at least every flush interval (1 s by default): settled must
      // hold longer than that, or a batch still in a thread would be missed.
      quietMs: 2500,
      ownDrops: () => flowmapDrops(apiPort),
      shutdown: async () => {
        const { code, signal } = await terminate(started, 'SIGTERM', 300_000, name);
        if (code !== 0) throw new Error(`${name} exited with ${code ?? signal} after SIGTERM (it must flush and exit 0)\n${tail(started.output())}`);
      },
      read: () => (target.store === 'clickhouse' ? clickhouseTotals(target) : duckdbTotals(data)),
      kill: async () => { await kill(started); },
      cleanup: async () => {
        rmSync(data, { recursive: true, force: true });
        if (target.store === 'clickhouse' && target.dropDatabase === true) await dropDatabase(target);
      },
    });
  } catch (err) {
    await kill(p);
    rmSync(data, { recursive: true, force: true });
    if (target.store === 'clickhouse' && target.dropDatabase === true) await dropDatabase(target).catch(() => undefined);
    throw err;
  }
}

/** The endpoint on `port` from the "collector listening" log line, once it is there. */
function listening(output: string, port: number): { port: number; receiveBufferBytes?: number } | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('"collector listening"')) continue;
    let parsed: { msg?: unknown; endpoints?: unknown };
    try {
      parsed = JSON.parse(line) as { msg?: unknown; endpoints?: unknown };
    } catch {
      continue;
    }
    if (parsed.msg !== 'collector listening' || !Array.isArray(parsed.endpoints)) continue;
    for (const e of parsed.endpoints as { port?: unknown; receiveBufferBytes?: unknown }[]) {
      if (e.port === port) return { port, ...(typeof e.receiveBufferBytes === 'number' ? { receiveBufferBytes: e.receiveBufferBytes } : {}) };
    }
  }
  return undefined;
}

async function flowmapMetrics(apiPort: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether flowmap has stored every flow it decoded and its spool is empty, from /metrics (sum of
 * flowmap_collector_flows_decoded_total over exporters = flowmap_collector_flows_stored_total).
 * Without metrics it cannot tell, and counts as settled.
 */
async function flowmapSettled(apiPort: number): Promise<boolean> {
  const text = await flowmapMetrics(apiPort);
  if (text === undefined) return true;
  const sum = (pattern: RegExp): number => [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);
  const decoded = sum(/^flowmap_collector_flows_decoded_total(?:\{[^}]*\})? (\S+)$/gm);
  const stored = sum(/^flowmap_collector_flows_stored_total(?:\{[^}]*\})? (\S+)$/gm);
  const spool = sum(/^flowmap_collector_spool_bytes(?:\{[^}]*\})? (\S+)$/gm);
  return stored >= decoded && spool === 0;
}

/** flowmap's `flowmap_collector_*_dropped_total{reason}` counters from /metrics, as `datagrams:reason` / `flows:reason`. */
async function flowmapDrops(apiPort: number): Promise<Record<string, number> | undefined> {
  const text = await flowmapMetrics(apiPort);
  if (text === undefined) return undefined;
  const drops: Record<string, number> = {};
  for (const m of text.matchAll(/^flowmap_collector_(datagrams|flows)_dropped_total\{reason="([^"]+)"\} (\S+)$/gm)) {
    drops[`${m[1]}:${m[2]}`] = Number(m[3]);
  }
  return drops;
}

async function clickhouseTotals(target: { clickhouseUrl: string; database: string }): Promise<FlowTotals> {
  const client = createClient({ url: target.clickhouseUrl, database: target.database });
  try {
    const result = await client.query({ query: 'SELECT count() AS flows, sum(bytes) AS bytes, sum(packets) AS packets FROM flows', format: 'JSONEachRow' });
    const [row] = await result.json<{ flows: string | number; bytes: string | number; packets: string | number }>();
    return { flows: Number(row?.flows ?? 0), bytes: Number(row?.bytes ?? 0), packets: Number(row?.packets ?? 0) };
  } finally {
    await client.close();
  }
}

async function dropDatabase(target: { clickhouseUrl: string; database: string }): Promise<void> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(target.database)) throw new Error(`unexpected database name ${target.database}`);
  const client = createClient({ url: target.clickhouseUrl });
  try {
    await client.command({ query: `DROP DATABASE IF EXISTS ${target.database}` });
  } finally {
    await client.close();
  }
}

async function duckdbTotals(data: string): Promise<FlowTotals> {
  const file = join(data, 'flowmap.duckdb');
  if (!existsSync(file)) throw new Error(`flowmap left no ${file}`);
  const instance = await DuckDBInstance.create(file);
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll('SELECT count(*)::BIGINT AS flows, coalesce(sum(bytes), 0)::BIGINT AS bytes, coalesce(sum(packets), 0)::BIGINT AS packets FROM flows');
    const [row] = reader.getRowObjects();
    return { flows: Number(row?.flows ?? 0), bytes: Number(row?.bytes ?? 0), packets: Number(row?.packets ?? 0) };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

// ---------------------------------------------------------------------------------------------
// A capture of ordinary traffic for softflowd to read

export interface TrafficCaptureOptions {
  /** Conversations to generate (TCP sessions, DNS exchanges, one-way syslog, pings). */
  conversations: number;
  /** Unix seconds of the first packet. */
  startSeconds: number;
  /** Spread of conversation starts, seconds; default 120. */
  spanSeconds?: number;
  /** Share of conversations over IPv6; default 0.2. */
  ipv6Share?: number;
  seed?: number;
}

export interface TrafficCapture {
  conversations: number;
  packets: number;
  /** Sum of the IP total lengths (the octets a flow exporter counts), and of the frame lengths. */
  ipBytes: number;
  frameBytes: number;
}

/**
 * Writes a pcap (Ethernet, microsecond timestamps) of ordinary-looking traffic: TCP sessions with
 * handshake, request/response data and FIN or RST teardown, DNS query/response over UDP, one-way
 * syslog, ICMP echo — IPv4 and IPv6, many clients against a few dozen servers. Frames are stored
 * truncated after the transport header, as a capture with a short snap length has them; the IP
 * length fields and the frames' original lengths carry the full sizes. Deterministic for a seed.
 *
 * The shared corpus holds flow-export captures only (each a single UDP conversation to the
 * collector), so a flow exporter needs a capture like this to produce more than a couple of flows.
 */
export function writeTrafficCapture(path: string, options: TrafficCaptureOptions): TrafficCapture {
  let seed = options.seed ?? 20_240_601;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const span = options.spanSeconds ?? 120;
  const ipv6Share = options.ipv6Share ?? 0.2;

  interface Frame { at: number; order: number; bytes: Uint8Array; length: number; ipLength: number }
  const frames: Frame[] = [];
  const servers4 = Array.from({ length: 40 }, (_, i) => [10, 20, i >> 8, (i & 0xff) + 1]);
  const servers6 = Array.from({ length: 16 }, (_, i) => [0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, i + 1]);

  for (let c = 0; c < options.conversations; c++) {
    const v6 = random() < ipv6Share;
    const client = v6 ? [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, int(0, 255), int(0, 255), int(0, 255), int(1, 254)] : [10, 10, int(0, 255), int(1, 254)];
    const server = v6 ? (servers6[int(0, servers6.length - 1)] as number[]) : (servers4[int(0, servers4.length - 1)] as number[]);
    const clientPort = int(1024, 65535);
    let t = Math.floor(random() * span * 1e6);
    const step = (): number => (t += int(100, 200_000));
    const packet = (fromClient: boolean, proto: number, l4: Uint8Array, payload: number): void => {
      const [src, dst] = fromClient ? [client, server] : [server, client];
      const frame = ipPacket(v6, src, dst, proto, l4, payload);
      frames.push({ at: step(), order: frames.length, ...frame });
    };
    const kind = random();
    if (kind < 0.6) {
      const serverPort = [443, 443, 80, 22, 5432, 8080][int(0, 5)] as number;
      const tcp = (fromClient: boolean, flags: number, payload: number): void =>
        packet(fromClient, 6, tcpHeader(fromClient ? clientPort : serverPort, fromClient ? serverPort : clientPort, flags), payload);
      tcp(true, SYN, 0);
      tcp(false, SYN | ACK, 0);
      tcp(true, ACK, 0);
      for (let exchange = int(1, 12); exchange > 0; exchange--) {
        tcp(true, PSH | ACK, int(60, 1400));
        for (let segments = int(1, 6); segments > 0; segments--) tcp(false, ACK | (segments === 1 ? PSH : 0), segments === 1 ? int(1, 1460) : 1460);
        tcp(true, ACK, 0);
      }
      if (random() < 0.1) {
        tcp(false, RST | ACK, 0);
      } else {
        tcp(true, FIN | ACK, 0);
        tcp(false, FIN | ACK, 0);
        tcp(true, ACK, 0);
      }
    } else if (kind < 0.88) {
      for (let queries = int(1, 3); queries > 0; queries--) {
        packet(true, 17, udpHeader(clientPort, 53), int(28, 80));
        packet(false, 17, udpHeader(53, clientPort), int(60, 500));
      }
    } else if (kind < 0.95) {
      for (let lines = int(1, 20); lines > 0; lines--) packet(true, 17, udpHeader(clientPort, 514), int(40, 900));
    } else {
      const id = int(1, 65535);
      for (let seq = int(1, 4); seq > 0; seq--) {
        packet(true, v6 ? 58 : 1, icmpHeader(v6 ? 128 : 8, id, seq), 56);
        packet(false, v6 ? 58 : 1, icmpHeader(v6 ? 129 : 0, id, seq), 56);
      }
    }
  }
  frames.sort((a, b) => a.at - b.at || a.order - b.order);

  const fd = openSync(path, 'w');
  try {
    const header = new DataView(new ArrayBuffer(24));
    header.setUint32(0, 0xa1b2c3d4, true);
    header.setUint16(4, 2, true);
    header.setUint16(6, 4, true);
    header.setUint32(16, 65535, true);
    header.setUint32(20, 1, true); // LINKTYPE_ETHERNET
    writeSync(fd, new Uint8Array(header.buffer));
    const record = new DataView(new ArrayBuffer(16));
    for (const f of frames) {
      const micros = options.startSeconds * 1e6 + f.at;
      record.setUint32(0, Math.floor(micros / 1e6), true);
      record.setUint32(4, micros % 1e6, true);
      record.setUint32(8, f.bytes.length, true);
      record.setUint32(12, f.length, true);
      writeSync(fd, new Uint8Array(record.buffer));
      writeSync(fd, f.bytes);
    }
  } finally {
    closeSync(fd);
  }
  return {
    conversations: options.conversations,
    packets: frames.length,
    ipBytes: frames.reduce((n, f) => n + f.ipLength, 0),
    frameBytes: frames.reduce((n, f) => n + f.length, 0),
  };
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

function tcpHeader(src: number, dst: number, flags: number): Uint8Array {
  const h = new DataView(new ArrayBuffer(20));
  h.setUint16(0, src);
  h.setUint16(2, dst);
  h.setUint8(12, 5 << 4); // data offset: 5 words, no options
  h.setUint8(13, flags);
  h.setUint16(14, 65535);
  return new Uint8Array(h.buffer);
}

function udpHeader(src: number, dst: number): Uint8Array {
  const h = new DataView(new ArrayBuffer(8));
  h.setUint16(0, src);
  h.setUint16(2, dst);
  return new Uint8Array(h.buffer); // length filled in by ipPacket
}

function icmpHeader(type: number, id: number, seq: number): Uint8Array {
  return Uint8Array.of(type, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff);
}

/** An Ethernet frame cut after the transport header; `length` and the IP length count the payload too. */
function ipPacket(v6: boolean, src: readonly number[], dst: readonly number[], proto: number, l4: Uint8Array, payload: number): { bytes: Uint8Array; length: number; ipLength: number } {
  const ipHeader = v6 ? 40 : 20;
  const ipLength = ipHeader + l4.length + payload;
  const bytes = new Uint8Array(14 + ipHeader + l4.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01], 0);
  view.setUint16(12, v6 ? 0x86dd : 0x0800);
  if (v6) {
    view.setUint32(14, 0x60000000);
    view.setUint16(18, ipLength - 40);
    view.setUint8(20, proto);
    view.setUint8(21, 64);
    bytes.set(src, 22);
    bytes.set(dst, 38);
  } else {
    view.setUint8(14, 0x45);
    view.setUint16(16, ipLength);
    view.setUint16(20, 0x4000); // DF
    view.setUint8(22, 64);
    view.setUint8(23, proto);
    bytes.set(src, 26);
    bytes.set(dst, 30);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += view.getUint16(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    view.setUint16(24, ~sum & 0xffff);
  }
  bytes.set(l4, 14 + ipHeader);
  if (proto === 17) view.setUint16(14 + ipHeader + 4, l4.length + payload);
  return { bytes, length: 14 + ipLength, ipLength };
}
