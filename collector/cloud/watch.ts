// Watched directories of cloud flow-log files (config `ingest.watch`: FORMAT=DIR): the collector
// reads each directory tree every `intervalMs`, takes a file once its size and modification time
// stayed the same for one interval (a writer still copying it in is left alone), and ingests it like
// `flowmap ingest` — same parsers, same orientation, same ledger — but into the collector's sink,
// so a store outage while a file is read spools its flows instead of failing it. (A file is only
// started while the store answers: its ledger entry is read first.)
//
// What happens to a file afterwards (`after`): `move` puts it into `DIR/done/` (or `DIR/failed/`,
// next to a `NAME.error.txt` saying why), keeping its path below DIR; `delete` removes it; `keep`
// leaves it and remembers it (for sync tools that would fetch a moved file again).
//
// Nothing twice, nothing lost. The watcher keeps two files beside each other:
// - `<data>/ingest-watch.json`: the files it finished (path, size, mtime: no re-hashing of a kept
//   file at every pass) and ledger entries not yet written because the store was away (written
//   once it answers; a file whose hash is pending counts as ingested). Written before a file is
//   moved, so a crash in between leaves the file to be recognised, not read again.
// - `<data>/ingest-watch.json.progress`: the flows of each unfinished file (by SHA-256) the sink has
//   safely taken, written after every batch, so a file interrupted by a full spool, a shutdown or a
//   crash resumes after them.
// Names that start with a dot or end in .tmp/.part/.partial/.crdownload/.gstmp are still being
// written by someone and are passed over, as are DIR/done/ and DIR/failed/.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { describeError, isFlowmapError } from '../../core/errors.js';
import type { FlowBatch } from '../../core/flow.js';
import type { Logger } from '../../core/logger.js';
import { RateLimitedLog } from '../../core/logger.js';
import type { Store } from '../../store/port.js';
import type { ServicePorts } from '../service-ports.js';
import { emptyIngestReport, fileInput, IngestFailure, ingestStream, ledgerEntry, recordInLedger, sha256OfFile, type FlowTarget, type IngestReport } from './ingest.js';
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
  /** Interrupts a file in progress between batches (it resumes at the next start) and ends the timer. */
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
  /** Ledger entries the store could not take when their file finished. */
  pendingLedger: { report: IngestReport; error?: string }[];
}

const BUSY_NAME = /^\.|\.(tmp|part|partial|crdownload|gstmp)$/i;
/** Subdirectories of a watched directory the watcher itself writes. */
const OWN_DIRS = new Set(['done', 'failed']);
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

function readJson<T>(path: string, logger: Logger, fallback: T, valid: (value: T) => boolean): T {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as T;
    if (valid(parsed)) return parsed;
    logger.warn({ path }, 'watched-directory state has an unknown shape; starting afresh (the ledger still prevents double ingest)');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: describeError(err), path }, 'watched-directory state unreadable; starting afresh (the ledger still prevents double ingest)');
  }
  return fallback;
}

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, path);
}

/** Regular files under `dir`, depth first in name order, leaving out busy names and the watcher's own folders. */
function filesUnder(dir: string, top = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (BUSY_NAME.test(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (dir === top && OWN_DIRS.has(entry.name)) continue;
      out.push(...filesUnder(path, top));
    } else if (entry.isFile()) out.push(path);
  }
  return out;
}

export function createWatcher(options: WatchOptions, deps: WatchDeps): Watcher {
  const logger = deps.logger.child({ component: 'ingest-watch' });
  const warn = new RateLimitedLog(logger);
  const dirs = parseWatchDirs(options.dirs);
  mkdirSync(dirname(options.stateFile), { recursive: true });
  const progressFile = `${options.stateFile}.progress`;
  const state = readJson<State>(options.stateFile, logger, { version: 1, finished: {}, pendingLedger: [] }, (s) => s.version === 1 && typeof s.finished === 'object' && Array.isArray(s.pendingLedger));
  const progress = readJson<Record<string, number>>(progressFile, logger, {}, (p) => typeof p === 'object' && p !== null);
  /** Size and mtime at the previous pass, for files not taken yet: a file is taken when they stay the same. */
  const lastSeen = new Map<string, FileState>();
  const registers = deps.registry === undefined ? [] : [deps.registry];
  const files = new Counter({ name: 'flowmap_ingest_watch_files_total', help: 'files taken from watched directories, by format and outcome', labelNames: ['format', 'outcome'], registers });
  const flowsTaken = new Counter({ name: 'flowmap_ingest_watch_flows_total', help: 'flows from watched-directory files handed to the collector sink', labelNames: ['format'], registers });
  const skippedRecords = new Counter({ name: 'flowmap_ingest_watch_skipped_total', help: 'records of watched-directory files skipped, by reason', labelNames: ['format', 'reason'], registers });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PollResult> | undefined;

  const saveState = (): void => {
    const names = Object.keys(state.finished);
    for (const name of names.slice(0, Math.max(0, names.length - MAX_FINISHED))) delete state.finished[name];
    writeJson(options.stateFile, state);
  };

  const writePendingLedger = async (): Promise<void> => {
    while (state.pendingLedger.length > 0) {
      const entry = state.pendingLedger[0] as State['pendingLedger'][number];
      await recordInLedger(deps.store, entry.report, entry.error);
      state.pendingLedger.shift();
      saveState();
    }
  };

  /** Moves or deletes a file that is done with (remembered instead with `keep`); `error` marks a failed one. */
  const settle = (dir: string, path: string, error?: string): void => {
    lastSeen.delete(path);
    if (options.after === 'keep') return;
    if (options.after === 'delete') {
      unlinkSync(path);
      return;
    }
    const to = join(dir, error === undefined ? 'done' : 'failed', relative(dir, path));
    mkdirSync(dirname(to), { recursive: true });
    renameSync(path, to);
    if (error !== undefined) writeFileSync(`${to}.error.txt`, `${error}\n`);
  };

  /** Records the outcome (state first, so a crash before the move leaves a recognisable file), then moves the file. */
  const finish = (dir: string, path: string, seen: FileState, report: IngestReport, error?: string): void => {
    state.pendingLedger.push(error === undefined ? { report } : { report, error });
    if (options.after === 'keep') state.finished[path] = { ...seen, sha256: report.sha256 };
    saveState();
    delete progress[report.sha256];
    writeJson(progressFile, progress);
    settle(dir, path, error);
  };

  const ingestOne = async (format: CloudFormat, dir: string, path: string, seen: FileState, result: PollResult): Promise<void> => {
    const sha256 = await sha256OfFile(path, abort.signal);
    const pending = state.pendingLedger.find((e) => e.report.sha256 === sha256 && e.error === undefined);
    const known = pending === undefined ? await ledgerEntry(deps.store, sha256) : { file: pending.report.file, flows: pending.report.flows, complete: true };
    if (known?.complete === true) {
      logger.info({ file: path, as: known.file, flows: known.flows }, 'already ingested; not stored again');
      files.inc({ format, outcome: 'already_ingested' });
      result.alreadyIngested.push(path);
      if (options.after === 'keep') {
        state.finished[path] = { ...seen, sha256 };
        saveState();
      }
      settle(dir, path);
      return;
    }
    const skipFlows = Math.max(known?.flows ?? 0, progress[sha256] ?? 0);
    let targetFailed = false;
    const target: FlowTarget = {
      async insertFlows(batch: FlowBatch) {
        try {
          await deps.target.insertFlows(batch);
        } catch (err) {
          targetFailed = true;
          throw err;
        }
        progress[sha256] = (progress[sha256] ?? skipFlows) + batch.length;
        writeJson(progressFile, progress);
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
        signal: abort.signal,
      });
    } catch (err) {
      if (abort.signal.aborted || targetFailed || (err instanceof IngestFailure && err.storeFailed)) {
        // Shutdown, or the sink could not take it now (spool past half): the flows it took are in
        // `progress`, and the next pass resumes after them.
        warn.warn(`wait:${path}`, { file: path, err: describeError(err) }, 'flow-log file left for a later pass');
        result.waiting.push(path);
        return;
      }
      if (err instanceof IngestFailure) {
        report = err.report;
        error = err.message;
      } else if (isFlowmapError(err, 'FLOWMAP_BAD_REQUEST')) {
        // The file is not of the directory's format (a Parquet file in a GCP directory): it cannot get better.
        report = { ...emptyIngestReport(path, format), bytes: seen.size };
        error = err.message;
      } else {
        throw err;
      }
    }
    report.sha256 = sha256;
    report.flows += skipFlows;
    const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
    for (const [reason, n] of skipped) skippedRecords.inc({ format, reason }, n);
    flowsTaken.inc({ format }, report.flows - skipFlows);
    for (const p of report.problems.slice(0, 5)) warn.warn(`problem:${path}`, { file: path, line: p.line, reason: p.reason, detail: p.detail }, 'record skipped');
    finish(dir, path, seen, report, error);
    if (error === undefined) {
      files.inc({ format, outcome: 'ingested' });
      logger.info({ file: path, flows: report.flows, resumedAfter: report.resumedAfter, skipped: Object.fromEntries(skipped) }, 'flow-log file ingested');
      result.ingested.push({ file: path, flows: report.flows, resumedAfter: report.resumedAfter, skipped: skipped.reduce((n, [, k]) => n + k, 0) });
    } else {
      files.inc({ format, outcome: 'failed' });
      logger.error({ file: path, flows: report.flows, err: error }, 'flow-log file failed; the flows before the failure are kept');
      result.failed.push({ file: path, error, flows: report.flows });
    }
    await writePendingLedger().catch((err: unknown) => warn.warn('ledger', { err: describeError(err) }, 'ledger entry not written yet; retried at the next pass'));
  };

  const pass = async (): Promise<PollResult> => {
    const result: PollResult = { ingested: [], failed: [], waiting: [], alreadyIngested: [] };
    await writePendingLedger().catch((err: unknown) => warn.warn('ledger', { err: describeError(err) }, 'ledger entries not written yet; retried at the next pass'));
    const present = new Set<string>();
    for (const { format, dir } of dirs) {
      let paths: string[];
      try {
        paths = filesUnder(dir);
      } catch (err) {
        warn.warn(`dir:${dir}`, { dir, err: describeError(err) }, 'watched directory cannot be read');
        continue;
      }
      for (const path of paths) {
        if (abort.signal.aborted) return result;
        present.add(path);
        let seen: FileState;
        try {
          const stat = statSync(path);
          seen = { size: stat.size, mtimeMs: stat.mtimeMs };
        } catch {
          continue; // gone since it was listed
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
          warn.warn(`file:${path}`, { file: path, err: describeError(err) }, 'flow-log file left for a later pass');
          result.waiting.push(path);
        }
      }
    }
    // Forget files that went away without us.
    for (const path of lastSeen.keys()) if (!present.has(path)) lastSeen.delete(path);
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
            if (!abort.signal.aborted) timer = setTimeout(tick, options.intervalMs);
          });
      };
      timer = setTimeout(tick, 0);
    },
    poll,
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
