// bench/ingest: the highest NetFlow v9 / IPFIX rate each collector stores without losing a flow
// (issue 4, acceptance 5). For every protocol and stepped rate, each target is started fresh on a
// free loopback port, bench/sender.ts (its own process) sends rate × seconds distinct flows, the
// target is left to empty its socket, stopped gracefully so it flushes, and what it stored is
// counted and compared with what the sender got out: flows, bytes and packets must all match.
// Rates run low to high and targets take turns within a rate, so a busy moment on this shared
// machine hits them alike. Not part of `npm test`.
//
//   node --import tsx bench/ingest.ts [--targets clickhouse,duckdb,nfcapd,nfacctd]
//        [--rates 50000,100000,200000,300000,400000,600000,800000,1000000] [--seconds 10]
//        [--protocols netflow9,ipfix] [--exporters 4] [--receive-buffer 33554432]
//        [--drain-grace 3] [--give-up-after 2] [--write]
//
// A step "holds" when every flow, byte and packet sent is stored and the backlog the target had
// when the sender stopped was gone within --drain-grace seconds (a target may take up to 60 s to
// finish; all stored but later than the grace is shown as "0, +N s": buffered, not sustained).
// After --give-up-after steps in a row that did not hold, a target's higher rates are skipped.
//
// Targets: `clickhouse` = `flowmap collector` into ClickHouse (a private clickhouse-server from
// PATH on free ports, as test/services.ts starts it; a fresh database per step, counted with
// count()/sum() on `flows`); `duckdb` = `flowmap start --data <tmp>` (embedded DuckDB, counted
// from the file after the process exited); `nfcapd` (nfdump; counted with `nfdump -R`); `nfacctd`
// (pmacct, print plugin; its CSV). See test/peers.ts for how each runs.
//
// Every target asks for the same socket receive buffer (--receive-buffer, flowmap's default
// collector.receiveBufferBytes); the kernel caps it at net.core.rmem_max, which this raises to
// that size for the run when it may (root) and puts back afterwards. Both values are reported.
// --write replaces the results between the ingest markers in BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startClickHouse, type ServiceHandle } from '../test/services.js';
import { missingBinaries, startFlowmap, startNfacctd, startNfcapd, type FlowTotals, type Receiver } from '../test/peers.js';
import type { SenderProtocol, SenderResult } from './sender.js';

const root = join(import.meta.dirname, '..');
const RMEM_MAX = '/proc/sys/net/core/rmem_max';

const TARGETS = ['clickhouse', 'duckdb', 'nfcapd', 'nfacctd'] as const;
type Target = (typeof TARGETS)[number];
const TARGET_LABEL: Record<Target, string> = {
  clickhouse: 'flowmap → ClickHouse',
  duckdb: 'flowmap → DuckDB',
  nfcapd: 'nfcapd (nfdump)',
  nfacctd: 'nfacctd (pmacct)',
};

interface Step {
  protocol: SenderProtocol;
  target: Target;
  rate: number;
  sent?: SenderResult;
  stored?: FlowTotals;
  kernelDrops?: number;
  ownDrops?: Record<string, number>;
  drainSeconds?: number;
  /** Not run: the target had already failed to hold --give-up-after lower rates in a row. */
  skipped?: boolean;
  error?: string;
}

function list(text: string | undefined, fallback: string): string[] {
  return (text ?? fallback).split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const { values } = parseArgs({
  options: {
    targets: { type: 'string' },
    rates: { type: 'string' },
    seconds: { type: 'string' },
    protocols: { type: 'string' },
    exporters: { type: 'string' },
    'receive-buffer': { type: 'string' },
    'drain-grace': { type: 'string' },
    'give-up-after': { type: 'string' },
    write: { type: 'boolean', default: false },
  },
});
const targets = list(values.targets, TARGETS.join(',')).map((t) => {
  if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`--targets: ${t} is not one of ${TARGETS.join(', ')}`);
  return t as Target;
});
const rates = list(values.rates, '50000,100000,200000,300000,400000,600000,800000,1000000').map((r) => {
  const n = Number(r);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--rates: ${r} is not a positive number`);
  return n;
});
const protocols = list(values.protocols, 'netflow9,ipfix').map((p) => {
  if (p !== 'netflow9' && p !== 'ipfix') throw new Error(`--protocols: ${p} is not netflow9 or ipfix`);
  return p;
});
const seconds = Number(values.seconds ?? 10);
const exporters = Number(values.exporters ?? 4);
const receiveBuffer = Number(values['receive-buffer'] ?? 33_554_432);
const drainGrace = Number(values['drain-grace'] ?? 3);
const giveUpAfter = Number(values['give-up-after'] ?? 2);
for (const [name, n] of [['seconds', seconds], ['exporters', exporters], ['receive-buffer', receiveBuffer], ['drain-grace', drainGrace], ['give-up-after', giveUpAfter]] as const) {
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
}

const needed = targets.flatMap((t) => (t === 'nfcapd' ? ['nfcapd', 'nfdump'] : t === 'nfacctd' ? ['nfacctd'] : t === 'clickhouse' ? ['clickhouse-server'] : []));
const missing = missingBinaries(...needed);
if (missing.length > 0) throw new Error(`not on PATH: ${missing.join(', ')} (apt-get install -y nfdump pmacct clickhouse-server, or leave those --targets out)`);

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Raises net.core.rmem_max to the receive buffer for the run; returns how to put it back. */
function raiseReceiveLimit(): { before: number; during: number; restore: () => void } {
  let before = 0;
  try {
    before = Number(readFileSync(RMEM_MAX, 'utf8').trim());
  } catch {
    return { before: 0, during: 0, restore: () => undefined };
  }
  if (before >= receiveBuffer) return { before, during: before, restore: () => undefined };
  try {
    writeFileSync(RMEM_MAX, String(receiveBuffer));
  } catch (err) {
    log(`could not raise net.core.rmem_max from ${before} (${err instanceof Error ? err.message : String(err)}); every target gets at most ${before} bytes`);
    return { before, during: before, restore: () => undefined };
  }
  let restored = false;
  return {
    before,
    during: Number(readFileSync(RMEM_MAX, 'utf8').trim()),
    restore: () => {
      if (restored) return;
      restored = true;
      writeFileSync(RMEM_MAX, String(before));
    },
  };
}

function runSender(protocol: SenderProtocol, port: number, rate: number): Promise<SenderResult> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', join(root, 'bench/sender.ts'), '--port', String(port), '--protocol', protocol, '--rate', String(rate), '--seconds', String(seconds), '--exporters', String(exporters)];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || line === '') {
        reject(new Error(`sender exited with ${code}: ${err.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line) as SenderResult);
    });
  });
}

let clickhouse: ServiceHandle | undefined;
let databaseNumber = 0;

async function start(target: Target): Promise<Receiver> {
  switch (target) {
    case 'nfcapd':
      return startNfcapd({ receiveBufferBytes: receiveBuffer });
    case 'nfacctd':
      return startNfacctd({ receiveBufferBytes: receiveBuffer });
    case 'duckdb':
      return startFlowmap({ store: 'duckdb' });
    case 'clickhouse':
      clickhouse ??= await startClickHouse();
      return startFlowmap({ store: 'clickhouse', clickhouseUrl: clickhouse.url, database: `bench_ingest_${process.pid}_${++databaseNumber}`, dropDatabase: true });
  }
}

function lossless(step: Step): boolean {
  return step.sent !== undefined && step.stored !== undefined && step.sent.sentFlows === step.stored.flows && step.sent.bytes === step.stored.bytes && step.sent.packets === step.stored.packets;
}

/** Lossless, and the backlog left when the sender stopped was gone within the grace: the rate holds. */
function sustained(step: Step): boolean {
  return lossless(step) && (step.drainSeconds ?? 0) <= drainGrace;
}

function cell(step: Step | undefined): string {
  if (step === undefined) return '—';
  if (step.skipped === true) return 'skipped';
  if (step.error !== undefined) return 'error';
  if (step.sent === undefined || step.stored === undefined) return '—';
  if (lossless(step)) return sustained(step) ? '0' : `0, +${(step.drainSeconds ?? 0).toFixed(1)} s`;
  const lost = step.sent.sentFlows - step.stored.flows;
  if (lost === 0) return 'bytes/packets differ';
  return `${(lost / step.sent.sentFlows * 100).toFixed(lost / step.sent.sentFlows < 0.001 ? 3 : 1)}%`;
}

function rateText(n: number): string {
  if (n >= 1_000_000) return `${Number((n / 1_000_000).toFixed(2))}M`;
  return n >= 1000 ? `${Math.round(n / 1000)}k` : String(n);
}

const limit = raiseReceiveLimit();
const cleanUp = async (): Promise<void> => {
  limit.restore();
  await clickhouse?.dispose();
  clickhouse = undefined;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // test/peers.ts kills the collectors it started when this process exits.
    void cleanUp().finally(() => process.exit(130));
  });
}

const steps: Step[] = [];
const unavailable = new Map<Target, string>();
/** Steps in a row each target did not hold, per protocol; past --give-up-after its higher rates are skipped. */
const misses = new Map<string, number>();
const startedAt = new Date();
const loadBefore = loadavg()[0] ?? 0;
try {
  for (const protocol of protocols) {
    for (const rate of rates) {
      for (const target of targets) {
        const step: Step = { protocol, target, rate };
        steps.push(step);
        const reason = unavailable.get(target);
        if (reason !== undefined) {
          step.error = reason;
          continue;
        }
        if ((misses.get(`${protocol}/${target}`) ?? 0) >= giveUpAfter) {
          step.skipped = true;
          continue;
        }
        let receiver: Receiver | undefined;
        try {
          receiver = await start(target);
        } catch (err) {
          // A target that cannot start (flowmap's collector not built yet, a missing binary) is
          // reported once and skipped for the rest of the run.
          const message = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
          unavailable.set(target, message);
          step.error = message;
          log(`${TARGET_LABEL[target]}: cannot start: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        try {
          step.sent = await runSender(protocol, receiver.port, rate);
          await receiver.stop();
          step.stored = await receiver.totals();
          step.kernelDrops = receiver.kernelDrops();
          step.ownDrops = receiver.ownDrops();
          step.drainSeconds = receiver.drainSeconds();
        } catch (err) {
          step.error = err instanceof Error ? err.message : String(err);
        } finally {
          await receiver.dispose();
        }
        misses.set(`${protocol}/${target}`, sustained(step) ? 0 : (misses.get(`${protocol}/${target}`) ?? 0) + 1);
        log(JSON.stringify({ protocol, target, rate, sent: step.sent, stored: step.stored, kernelDrops: step.kernelDrops, ownDrops: step.ownDrops, drainSeconds: step.drainSeconds, lossless: lossless(step), error: step.error?.slice(0, 2000) }));
      }
    }
  }
} finally {
  await cleanUp();
}

const lines: string[] = [];
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
lines.push(
  `Measured ${startedAt.toISOString().slice(0, 10)} on ${machine}; load average ${loadBefore.toFixed(1)} at the start. ` +
    `${seconds} s per step, ${exporters} exporters (127.0.0.1–${exporters}), templates every 1 s; ` +
    `every target asked for a ${receiveBuffer.toLocaleString('en-US')}-byte receive buffer with net.core.rmem_max ` +
    `${limit.during === limit.before ? `at ${limit.before.toLocaleString('en-US')}` : `raised from ${limit.before.toLocaleString('en-US')} to ${limit.during.toLocaleString('en-US')}`}.`,
  '',
);
for (const protocol of protocols) {
  lines.push(
    `**${protocol === 'netflow9' ? 'NetFlow v9' : 'IPFIX'}** — share of flows lost at each sending rate. 0 = every flow, byte and packet stored, ` +
      `with the backlog gone within ${drainGrace} s of the sender stopping; "0, +N s" = all stored, but only N s later (the rate does not hold for long). ` +
      'Highest rate that held on the right (≥ when the top step held too).',
    '',
  );
  lines.push(`| target | ${rates.map((r) => `${rateText(r)}/s`).join(' | ')} | highest lossless |`);
  lines.push(`|---|${rates.map(() => '---|').join('')}---|`);
  for (const target of targets) {
    const row = rates.map((rate) => steps.find((s) => s.protocol === protocol && s.target === target && s.rate === rate));
    const held = row.filter((s): s is Step => s !== undefined && sustained(s));
    const last = held[held.length - 1];
    let best = unavailable.has(target) && held.length === 0 ? 'not run' : 'none';
    if (last !== undefined) {
      // The rate that was actually delivered: where the sender fell short of the step, its figure.
      const delivered = Math.min(last.rate, last.sent?.achievedFlowsPerSecond ?? last.rate);
      const short = delivered < last.rate * 0.98 ? ' (sender-limited)' : '';
      best = `${last.rate === Math.max(...rates) ? '≥ ' : ''}${(Math.round(delivered / 1000) * 1000).toLocaleString('en-US')} flows/s${short}`;
    }
    lines.push(`| ${TARGET_LABEL[target]} | ${row.map(cell).join(' | ')} | ${best} |`);
  }
  const achieved = rates.map((rate) => {
    const sent = steps.filter((s) => s.protocol === protocol && s.rate === rate && s.sent !== undefined).map((s) => s.sent?.achievedFlowsPerSecond ?? 0);
    return sent.length > 0 ? rateText(Math.min(...sent)) : '—';
  });
  lines.push(`| *sender achieved (lowest)* | ${achieved.join(' | ')} | |`, '');
}
// Where the flows went: the kernel's drop counter on the collector's socket (buffer full, so the
// collector did not read fast enough) against the losses the collector counted itself.
const lossy = steps.filter((s) => s.sent !== undefined && s.stored !== undefined && !lossless(s));
if (lossy.length > 0) {
  lines.push('Where the lost flows went, per lossy step: datagrams the kernel dropped on the socket (buffer full), and drops the collector counted itself.', '');
  lines.push('| target | protocol | rate | flows lost | kernel socket drops (datagrams) | collector-counted drops |', '|---|---|---|---|---|---|');
  // Collectors that were still busy when the drain wait ran out lose the rest on their stop.
  for (const s of lossy) {
    const own = s.ownDrops === undefined ? '—' : Object.entries(s.ownDrops).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ') || '0';
    lines.push(`| ${TARGET_LABEL[s.target]} | ${s.protocol} | ${rateText(s.rate)}/s | ${((s.sent?.sentFlows ?? 0) - (s.stored?.flows ?? 0)).toLocaleString('en-US')} | ${s.kernelDrops?.toLocaleString('en-US') ?? '—'} | ${own} |`);
  }
  lines.push('');
}
const failed = [...unavailable.entries()].map(([t, reason]) => `- ${TARGET_LABEL[t]} did not run: ${reason}`);
const errors = steps.filter((s) => s.error !== undefined && !unavailable.has(s.target)).map((s) => `- ${TARGET_LABEL[s.target]} ${s.protocol} ${rateText(s.rate)}/s: ${s.error?.split('\n')[0] ?? ''}`);
if (failed.length + errors.length > 0) lines.push(...failed, ...errors, '');
const report = `${lines.join('\n')}`;
process.stdout.write(`${report}\n`);

if (values.write) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const startMarker = '<!-- ingest:start -->';
  const endMarker = '<!-- ingest:end -->';
  const from = text.indexOf(startMarker);
  const to = text.indexOf(endMarker);
  if (from < 0 || to < 0) throw new Error(`BENCHMARKS.md lacks the ${startMarker} / ${endMarker} markers`);
  writeFileSync(path, `${text.slice(0, from + startMarker.length)}\n${report}${text.slice(to)}`);
}
