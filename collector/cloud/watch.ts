// Watched directories of cloud flow-log files (config `ingest.watch`: FORMAT=DIR): the collector
// reads each directory every `intervalMs`, takes a file once its size and modification time stayed
// the same for one interval (a writer still copying it in is left alone), and ingests it like
// `flowmap ingest` — same parsers, same orientation, same ledger — but into the collector's sink,
// so a store outage spools the flows instead of failing the file.
//
// What happens to a file afterwards (`after`): `move` puts it into `DIR/done/` (or `DIR/failed/`,
// next to a `NAME.error.txt` saying why), `delete` removes it, `keep` leaves it and remembers it.
//
// Nothing twice, nothing lost: the watcher keeps a state file (`<data>/ingest-watch.json`) with the
// files it finished (path, size, mtime: no re-hashing of a kept file at every poll), the flows of
// each file already taken by the sink (so a file interrupted by a full spool or a restart resumes
// after them), and ledger entries not yet written because the store was away (written once it
// answers). Files whose name starts with a dot or ends in .tmp/.part/.partial are still being
// written by someone and are passed over, as are subdirectories.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { describeError, isFlowmapError } from '../../core/errors.js';
import type { FlowBatch } from '../../core/flow.js';
import type { Logger } from '../../core/logger.js';
import { RateLimitedLog } from '../../core/logger.js';
import type { Store } from '../../store/port.js';
import type { ServicePorts } from '../service-ports.js';
import { fileInput, IngestFailure, ingestStream, ledgerEntry, recordInLedger, sha256OfFile, type FlowTarget, type IngestReport } from './ingest.js';
import { CLOUD_FORMATS, type CloudFormat } from './types.js';

export type WatchAfter = 'move' | 'delete' | 'keep';

export interface WatchOptions {
  /** FORMAT=DIR entries, as in the config. */
  dirs: readonly string[];
  intervalMs: number;
  after: WatchAfter;
  stateFile: string;
  servicePorts: ServicePorts;
  awsFormat?: string;
  batchRows?: number;
}

export interface WatchDeps {
  /** For the ledger. */
  store: Store;
  /** Where flows go: the collector's sink (`Collector.ingest`). */
  target: FlowTarget;
  logger: Logger;
  registry?: Registry;
}

/** What one pass over the directories did, for logs and tests. */
export interface PollResult {
  ingested: { file: string; flows: number; resumedAfter: number; skipped: number }[];
  failed: { file: string; error: string; flows: number }[];
  /** Files left for a later pass: still growing, or the store/spool could not take them now. */
  waiting: string[];
  alreadyIngested: string[];
}

export interface Watcher {
  start(): void;
  /** One pass now (tests, and the timer). Passes never overlap: a second call waits for the first. */
  poll(): Promise<PollResult>;
  stop(): Promise<void>;
}

interface FileState {
  size: number;
  mtimeMs: number;
}

interface State {
  version: 1;
  /** Files finished (kept in place with `after: keep`), by path. */
  finished: Record<string, FileState & { sha256: string }>;
  /** Flows of a file (by SHA-256) the sink already took, from an ingest that did not finish. */
  progress: Record<string, number>;
  /** Ledger entries the store could not take when their file finished. */
  pendingLedger: { report: IngestReport; error?: string }[];
}

const BUSY_NAME = /^\.|\.(tmp|part|partial|crdownload)$/i;
/** Finished files remembered with `after: keep`; the oldest are forgotten past this (the ledger still knows them). */
const MAX_FINISHED = 100_000;

export function parseWatchDirs(entries: readonly string[]): { format: CloudFormat; dir: string }[] {
  return entries.map((entry) => {
    const at = entry.indexOf('=');
    const format = entry.slice(0, at) as CloudFormat;
    if (at < 0 || !(CLOUD_FORMATS as readonly string[]).includes(format)) throw new Error(`ingest.watch entry '${entry}' is not FORMAT=DIR`);
    return { format, dir: entry.slice(at + 1) };
  });
}

function readWatchState(path: string, logger: Logger): State {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as State;
    if (parsed.version === 1) return { version: 1, finished: parsed.finished ?? {}, progress: parsed.progress ?? {}, pendingLedger: parsed.pendingLedger ?? [] };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: describeError(err), path }, 'watched-directory state unreadable; starting afresh (the ledger still prevents double ingest)');
  }
  return { version: 1, finished: {}, progress: {}, pendingLedger: [] };
}

export function createWatcher(options: WatchOptions, deps: WatchDeps): Watcher {
  const logger = deps.logger.child({ component: 'ingest-watch' });
  const warn = new RateLimitedLog(logger);
  const dirs = parseWatchDirs(options.dirs);
  mkdirSync(dirname(options.stateFile), { recursive: true });
  const state = readWatchState(options.stateFile, logger);
  /** Size and mtime at the previous pass, for files not taken yet: a file is taken when they stay the same. */
  const lastSeen = new Map<string, FileState>();
  const registers = deps.registry === undefined ? [] : [deps.registry];
  const files = new Counter({ name: 'flowmap_ingest_watch_files_total', help: 'files taken from watched directories, by format and outcome', labelNames: ['format', 'outcome'], registers });
  const flowsTaken = new Counter({ name: 'flowmap_ingest_watch_flows_total', help: 'flows from watched-directory files handed to the collector sink', labelNames: ['format'], registers });
  const skippedRecords = new Counter({ name: 'flowmap_ingest_watch_skipped_total', help: 'records of watched-directory files skipped, by reason', labelNames: ['format', 'reason'], registers });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PollResult> | undefined;
  let stopped = false;

  const save = (): void => {
    const names = Object.keys(state.finished);
    for (const name of names.slice(0, Math.max(0, names.length - MAX_FINISHED))) delete state.finished[name];
    const tmp = `${options.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, options.stateFile);
  };

  const writePendingLedger = async (): Promise<void> => {
    while (state.pendingLedger.length > 0) {
      const entry = state.pendingLedger[0] as State['pendingLedger'][number];
      await recordInLedger(deps.store, entry.report, entry.error);
      state.pendingLedger.shift();
      save();
    }
  };

  /** Moves, deletes or remembers a file that is done with; `error` marks a failed one. */
  const settle = (dir: string, path: string, seen: FileState, sha256: string, error?: string): void => {
    lastSeen.delete(path);
    if (options.after === 'keep') {
      state.finished[path] = { ...seen, sha256 };
      return;
    }
    if (options.after === 'delete') {
      unlinkSync(path);
      return;
    }
    const to = join(dir, error === undefined ? 'done' : 'failed');
    mkdirSync(to, { recursive: true });
    renameSync(path, join(to, basename(path)));
    if (error !== undefined) writeFileSync(join(to, `${basename(path)}.error.txt`), `${error}\n`);
  };

  const ingestOne = async (format: CloudFormat, dir: string, path: string, seen: FileState, result: PollResult): Promise<void> => {
    const sha256 = await sha256OfFile(path);
    const known = await ledgerEntry(deps.store, sha256);
    if (known?.complete === true) {
      logger.info({ file: path, as: known.file, flows: known.flows }, 'already ingested; not stored again');
      files.inc({ format, outcome: 'already_ingested' });
      result.alreadyIngested.push(path);
      settle(dir, path, seen, sha256);
      return;
    }
    const skipFlows = Math.max(known?.flows ?? 0, state.progress[sha256] ?? 0);
    let targetFailed = false;
    const target: FlowTarget = {
      async insertFlows(batch: FlowBatch) {
        try {
          // Shutdown interrupts a big file between batches; the next start resumes after them.
          if (stopped) throw new Error('the watcher is stopping');
          await deps.target.insertFlows(batch);
        } catch (err) {
          targetFailed = true;
          throw err;
        }
        state.progress[sha256] = (state.progress[sha256] ?? skipFlows) + batch.length;
        save();
      },
    };
    let report: IngestReport;
    let error: string | undefined;
    try {
      report = await ingestStream(fileInput(path, { format, file: path }), target, {
        format,
        file: path,
        servicePorts: options.servicePorts,
        awsFormat: options.awsFormat,
        batchRows: options.batchRows,
        skipFlows,
      });
    } catch (err) {
      if (!(err instanceof IngestFailure) || targetFailed) {
        // The sink could not take it now (spool past half, collector stopping): the flows it took are
        // in `progress`, and the next pass resumes after them.
        warn.warn(`wait:${path}`, { file: path, err: describeError(err) }, 'flow-log file left for a later pass');
        result.waiting.push(path);
        return;
      }
      report = err.report;
      error = err.message;
    }
    report.sha256 = sha256;
    report.flows += skipFlows;
    const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
    for (const [reason, n] of skipped) skippedRecords.inc({ format, reason }, n);
    flowsTaken.inc({ format }, report.flows - skipFlows);
    for (const p of report.problems.slice(0, 5)) warn.warn(`problem:${path}`, { file: path, line: p.line, reason: p.reason, detail: p.detail }, 'record skipped');
    // Settled before the ledger is written: a store that is away must not make the file be read again.
    state.pendingLedger.push(error === undefined ? { report } : { report, error });
    delete state.progress[sha256];
    settle(dir, path, seen, sha256, error);
    save();
    if (error === undefined) {
      files.inc({ format, outcome: 'ingested' });
      logger.info({ file: path, flows: report.flows, resumedAfter: report.resumedAfter, skipped: Object.fromEntries(skipped) }, 'flow-log file ingested');
      result.ingested.push({ file: path, flows: report.flows, resumedAfter: report.resumedAfter, skipped: skipped.reduce((n, [, k]) => n + k, 0) });
    } else {
      files.inc({ format, outcome: 'failed' });
      logger.error({ file: path, flows: report.flows, err: error }, 'flow-log file failed part-way; the flows before the failure are kept');
      result.failed.push({ file: path, error, flows: report.flows });
    }
    await writePendingLedger().catch((err: unknown) => warn.warn('ledger', { err: describeError(err) }, 'ledger entry not written yet; retried at the next pass'));
  };

  const pass = async (): Promise<PollResult> => {
    const result: PollResult = { ingested: [], failed: [], waiting: [], alreadyIngested: [] };
    await writePendingLedger().catch((err: unknown) => warn.warn('ledger', { err: describeError(err) }, 'ledger entries not written yet; retried at the next pass'));
    for (const { format, dir } of dirs) {
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch (err) {
        warn.warn(`dir:${dir}`, { dir, err: describeError(err) }, 'watched directory cannot be read');
        continue;
      }
      for (const name of names) {
        if (stopped) return result;
        if (BUSY_NAME.test(name)) continue;
        const path = join(dir, name);
        let seen: FileState;
        try {
          const stat = statSync(path);
          if (!stat.isFile()) continue;
          seen = { size: stat.size, mtimeMs: stat.mtimeMs };
        } catch {
          continue; // gone since readdir
        }
        const finished = state.finished[path];
        if (finished !== undefined && finished.size === seen.size && finished.mtimeMs === seen.mtimeMs) continue;
        const before = lastSeen.get(path);
        lastSeen.set(path, seen);
        if (before === undefined || before.size !== seen.size || before.mtimeMs !== seen.mtimeMs) {
          result.waiting.push(path);
          continue;
        }
        try {
          await ingestOne(format, dir, path, seen, result);
        } catch (err) {
          // The ledger could not be read (store away), or the file vanished or could not be moved.
          warn.warn(`file:${path}`, { file: path, err: describeError(err) }, isFlowmapError(err) ? 'flow-log file left for a later pass' : 'flow-log file could not be handled; retried at the next pass');
          result.waiting.push(path);
        }
      }
    }
    // Forget files that went away without us.
    for (const path of lastSeen.keys()) {
      try {
        statSync(path);
      } catch {
        lastSeen.delete(path);
      }
    }
    return result;
  };

  const poll = async (): Promise<PollResult> => {
    while (running !== undefined) await running.catch(() => undefined);
    running = pass();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  return {
    start() {
      if (dirs.length === 0) return;
      for (const { format, dir } of dirs) {
        mkdirSync(dir, { recursive: true });
        logger.info({ dir, format, intervalMs: options.intervalMs, after: options.after }, 'watching directory for flow-log files');
      }
      const tick = (): void => {
        poll()
          .catch((err: unknown) => warn.warn('poll', { err: describeError(err) }, 'watched-directory pass failed'))
          .finally(() => {
            if (!stopped) timer = setTimeout(tick, options.intervalMs);
          });
      };
      timer = setTimeout(tick, 0);
    },
    poll,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
