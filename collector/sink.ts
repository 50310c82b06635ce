// Where decoded batches go: into the store, one insert at a time and in arrival order; when an
// insert fails (or inserts fall behind), into the on-disk spool, which is replayed in order once
// the store answers again — also after a restart. Nothing accepted is dropped silently: only a
// full spool drops, and that is counted and logged (DESIGN.md §10).
//
// Order: while the spool holds anything, new batches are appended to it rather than inserted, and
// the spool is replayed oldest first, so the store receives batches in the order they were made.
//
// Exactly once: a batch leaves the spool only after its insert succeeded. If the process dies
// between the two, the batch is inserted again on restart (ClickHouse MergeTree has no insert
// deduplication before 20.x); a killed or stopped store fails the insert before it commits.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../core/counters.js';
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, isFlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { RateLimitedLog } from '../core/logger.js';
import type { Store } from '../store/port.js';
import { decodeBatch } from './batch-codec.js';
import type { Spool } from './spool.js';
import type { SerializedCounters } from './protocol.js';

/** Batches waiting in memory for their insert; past this they go to the spool. */
const MAX_QUEUED = 8;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
const MAX_PENDING_SPOOL_BYTES = 256 * 1024 * 1024;

/** Counter samples share the spool with flow batches; a JSON document tells them apart (flow batches start with the codec's magic). */
const COUNTERS_MARK = '{"counters":';

export interface SinkItem {
  bytes: Uint8Array;
  rows: number;
  /** Told once whether the batch is safe (inserted, or written to the spool) or lost (dropped, refused). */
  settled?: (safe: boolean) => void;
}

export interface SinkEvents {
  inserted(kind: 'flows' | 'counters', rows: number, seconds: number): void;
  failed(kind: 'flows' | 'counters', error: unknown): void;
  /** A batch the store refused as malformed: kept aside in `<spool>/rejected/`, never retried. */
  rejected(kind: 'flows' | 'counters', rows: number): void;
}

/** Rejected batches kept for inspection; older ones are deleted. */
const MAX_REJECTED_FILES = 20;

/**
 * Whether the store refused the batch itself (retrying cannot help) rather than failing to take
 * it (an outage: retry from the spool). Retrying a malformed batch forever would stall every batch
 * behind it.
 */
function refusedAsMalformed(err: unknown): boolean {
  if (isFlowmapError(err, 'FLOWMAP_BATCH_INVALID')) return true;
  // ClickHouse answers a body it cannot parse with 4xx-class codes: 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED,
  // 33 CANNOT_READ_ALL_DATA, 36 BAD_ARGUMENTS, 53 TYPE_MISMATCH, 69 ARGUMENT_OUT_OF_BOUND.
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && ['27', '33', '36', '53', '69'].includes(code);
}

export class Sink {
  private readonly queue: SinkItem[] = [];
  private inserting = false;
  /** True while batches go to the spool (an insert failed, inserts fell behind, or a spool was left from before). */
  private spooling: boolean;
  private replaying = false;
  /** The running replay, awaited by close() so a batch is never inserted after the spool closed. */
  private replayRun: Promise<void> = Promise.resolve();
  /** Bytes handed to the spool and not yet written: bounded, so a slow disk cannot grow memory. */
  private pendingSpoolBytes = 0;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Spool operations run one after another (append and replay must not interleave). */
  private spoolChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly warn: RateLimitedLog;
  storedRows = 0;
  storedBatches = 0;

  constructor(
    private readonly store: Store,
    readonly spool: Spool,
    private readonly logger: Logger,
    private readonly events: SinkEvents,
  ) {
    this.warn = new RateLimitedLog(logger);
    this.spooling = spool.size.batches > 0;
    if (this.spooling) {
      logger.info({ batches: spool.size.batches, rows: spool.size.rows, bytes: spool.size.bytes }, 'spool holds batches from before; replaying them first');
      this.scheduleReplay(0);
    }
  }

  /** Takes an encoded flow batch (batch-codec.ts). */
  pushFlows(bytes: Uint8Array, rows: number): void {
    this.push({ bytes, rows });
  }

  /**
   * Takes an encoded flow batch and resolves once it is inserted or on disk in the spool; rejects
   * when it was dropped (spool full, disk failing) or refused by the store as malformed — for
   * callers that can keep the batch's source and offer it again (flow-log files), unlike routers.
   */
  pushFlowsAcknowledged(bytes: Uint8Array, rows: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.push({ bytes, rows, settled: (safe) => (safe ? resolve() : reject(new Error(`a batch of ${rows} flows was not stored or spooled (spool full, or refused by the store)`))) });
    });
  }

  pushCounters(rows: SerializedCounters[]): void {
    if (rows.length === 0) return;
    this.push({ bytes: Buffer.from(`${COUNTERS_MARK}${JSON.stringify(rows)}}`), rows: rows.length });
  }

  private push(item: SinkItem): void {
    if (this.closed) throw new Error('sink is closed');
    if (this.spooling) {
      this.toSpool([item]);
      return;
    }
    this.queue.push(item);
    if (this.queue.length > MAX_QUEUED) {
      // Inserts fall behind: everything but the batch being inserted goes through the spool, in
      // order; the one in flight is retried from memory if it fails (pump), so it stays first.
      this.spooling = true;
      const waiting = this.queue.splice(1);
      this.toSpool(waiting);
      this.logger.warn({ spooled: waiting.length }, 'inserts are falling behind; spooling batches to disk');
      this.scheduleReplay(0);
    }
    void this.pump();
  }

  /**
   * Resolves when nothing waits in memory, no insert runs and every spool write has landed (the
   * spool may still hold batches).
   */
  async idle(): Promise<void> {
    if (!this.isIdle()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.spoolChain;
  }

  /** Resolves when the spool is empty too, or rejects after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.spooling && this.spool.size.batches > 0 && !(await this.store.ping().then(() => true, () => false))) {
        throw new Error(`the store does not answer; ${this.spool.size.batches} batches stay in the spool`);
      }
      // An insert into a hung store would otherwise hold this past its deadline.
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([this.idle().then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), left)))]);
      clearTimeout(timer);
      if (late) throw new Error(`the store did not take the batches in memory within ${timeoutMs} ms`);
      if (!this.spooling && this.spool.size.batches === 0) return;
      if (Date.now() > deadline) throw new Error(`spool still holds ${this.spool.size.batches} batches`);
      if (!this.replaying) this.scheduleReplay(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Shutdown: the batches still in memory get one insert attempt each within `deadlineMs`; what
   * does not make it goes to the spool. Then the spool is closed.
   */
  async close(deadlineMs: number): Promise<void> {
    clearTimeout(this.retryTimer);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), deadlineMs).unref());
    const result = await Promise.race([this.idle().then(() => 'idle' as const), timeout]);
    clearTimeout(this.retryTimer);
    this.closed = true;
    // A replay insert in flight finishes (and its batch leaves the spool) before the spool closes.
    await Promise.race([this.replayRun, timeout]);
    if (result === 'timeout' || this.queue.length > 0) {
      // An insert hangs (a stopped store): the queue goes to disk; the hanging batch too — if
      // its insert completes after all, replay stores it twice, the lesser harm than losing it.
      const left = this.queue.splice(0);
      this.logger.warn({ batches: left.length }, 'store did not take the last batches in time; spooling them');
      this.toSpool(left);
    }
    await this.spoolChain;
    await this.spool.close();
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && !this.inserting;
  }

  private settle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async pump(): Promise<void> {
    if (this.inserting) return;
    this.inserting = true;
    try {
      while (this.queue.length > 0) {
        const item = this.queue[0] as SinkItem;
        try {
          await this.insert(item);
          this.queue.shift();
          item.settled?.(true);
        } catch (err) {
          if (refusedAsMalformed(err)) {
            this.queue.shift();
            this.reject(item, err);
            item.settled?.(false);
            continue;
          }
          if (this.spooling && !this.closed) {
            // Batches after this one are already in the spool: retry it from memory so the store
            // still receives batches in order.
            this.warn.warn('insert', { err: describeError(err) }, 'insert failed; retrying before the spooled batches');
            await new Promise((resolve) => setTimeout(resolve, this.retryMs));
            this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
            continue;
          }
          this.spooling = true;
          const left = this.queue.splice(0);
          this.warn.warn('insert', { err: describeError(err), batches: left.length }, 'insert failed; spooling batches until the store answers');
          this.toSpool(left);
          this.scheduleReplay(this.retryMs);
        }
      }
    } finally {
      this.inserting = false;
      this.settle();
    }
  }

  private async insert(item: SinkItem): Promise<void> {
    const started = process.hrtime.bigint();
    const counters = isCounters(item.bytes);
    try {
      if (counters) await this.store.insertInterfaceCounters(parseCounters(item.bytes));
      else await this.store.insertFlows(decodeBatch(item.bytes));
    } catch (err) {
      this.events.failed(counters ? 'counters' : 'flows', err);
      throw err;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (!counters) {
      this.storedRows += item.rows;
      this.storedBatches++;
    }
    this.events.inserted(counters ? 'counters' : 'flows', item.rows, seconds);
  }

  private reject(item: SinkItem, err: unknown): void {
    const kind = isCounters(item.bytes) ? 'counters' : 'flows';
    this.events.rejected(kind, item.rows);
    let file: string | undefined;
    try {
      const dir = join(this.spool.dir, 'rejected');
      mkdirSync(dir, { recursive: true });
      const old = readdirSync(dir).sort();
      for (const name of old.slice(0, Math.max(0, old.length - MAX_REJECTED_FILES + 1))) unlinkSync(join(dir, name));
      file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${item.rows}.batch`);
      writeFileSync(file, item.bytes);
    } catch {
      file = undefined;
    }
    this.logger.error({ err: describeError(err), rows: item.rows, kind, kept: file }, 'the store refused a batch as malformed; it is set aside and not retried');
  }

  private toSpool(items: SinkItem[]): void {
    for (const item of items) {
      if (this.pendingSpoolBytes + item.bytes.length > MAX_PENDING_SPOOL_BYTES) {
        // The disk is slower than ingest: drop here, counted as the spool being full.
        this.spool.droppedBatches++;
        this.spool.droppedRows += item.rows;
        this.warn.warn('spool-pending', { rows: item.rows, pendingBytes: this.pendingSpoolBytes }, 'spool writes fall behind; batch dropped');
        item.settled?.(false);
        continue;
      }
      this.pendingSpoolBytes += item.bytes.length;
      this.spoolChain = this.spoolChain.then(async () => {
        try {
          // false: the spool was full; it counted and logged the drop. (Awaited apart from the
          // optional call: `settled?.(await …)` would skip the append for batches without one.)
          const appended = await this.spool.append(item.bytes, item.rows);
          item.settled?.(appended);
        } catch (err) {
          // The spool counts and logs full; anything else (disk gone) is logged here.
          this.warn.warn('spool', { err: describeError(err), rows: item.rows }, 'could not write a batch to the spool; it is lost');
          item.settled?.(false);
        } finally {
          this.pendingSpoolBytes -= item.bytes.length;
        }
      });
    }
  }

  private scheduleReplay(delayMs: number): void {
    if (this.closed || this.replaying || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.replayRun = this.replay();
    }, delayMs);
  }

  /** Inserts spooled batches oldest first until the spool is empty, then goes back to direct inserts. */
  private async replay(): Promise<void> {
    if (this.replaying || this.closed) return;
    this.replaying = true;
    try {
      // Batches queued before spooling began go first.
      await this.idle();
      await this.store.ping();
      for (;;) {
        if (this.closed) return;
        const entry = await this.spoolStep(() => this.spool.peek());
        if (entry === undefined) {
          // Nothing left and, the chain being drained, no append pending: back to direct inserts.
          this.spooling = false;
          this.retryMs = RETRY_MIN_MS;
          this.logger.info('spool replayed; inserting directly again');
          return;
        }
        try {
          await this.insert(entry);
        } catch (err) {
          if (!refusedAsMalformed(err)) throw err;
          this.reject(entry, err);
        }
        await this.spoolStep(() => this.spool.remove(entry.id));
      }
    } catch (err) {
      this.warn.warn('replay', { err: describeError(err), spooled: this.spool.size.batches }, 'store still unavailable; will retry the spool');
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      this.replaying = false;
      this.scheduleReplay(this.retryMs);
      return;
    } finally {
      this.replaying = false;
    }
  }

  private spoolStep<T>(work: () => Promise<T>): Promise<T> {
    const result = this.spoolChain.then(work);
    this.spoolChain = result.catch(() => undefined);
    return result;
  }
}

function isCounters(bytes: Uint8Array): boolean {
  if (bytes.length < COUNTERS_MARK.length) return false;
  for (let i = 0; i < COUNTERS_MARK.length; i++) if (bytes[i] !== COUNTERS_MARK.charCodeAt(i)) return false;
  return true;
}

function parseCounters(bytes: Uint8Array): InterfaceCounters[] {
  const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { counters: SerializedCounters[] };
  return parsed.counters.map((row) => {
    const counters: Record<string, unknown> = {
      exporter: Uint8Array.from(Buffer.from(row.exporter, 'hex')),
      observationDomain: row.observationDomain,
      time: row.time,
    };
    COUNTER_COLUMNS.forEach(([field], i) => {
      counters[field] = row.values[i] ?? 0;
    });
    return counters as unknown as InterfaceCounters;
  });
}
