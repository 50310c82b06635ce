// The JobRunner contract: how the analyzer hands work (window analysis, rollups, retention) to a
// job backend without knowing which one runs it. Two implementations honour it — BullMQ on Redis
// (service mode) and an in-process runner (embedded mode) — and both pass
// `runner.conformance.test.ts`. This module owns only the types and the checks both share.
import { FlowmapError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
export const JOB_STATES: readonly JobState[] = ['waiting', 'active', 'delayed', 'completed', 'failed'];

/** A handler reports progress as a percentage or as a small structured status. */
export type JobProgress = number | Record<string, unknown>;

export interface JobContext<T> {
  readonly id: string;
  readonly name: string;
  /** As enqueued. It crossed a process boundary as JSON: handlers validate it before use. */
  readonly data: T;
  /** 1 for the first run, 2 for the first retry, … */
  readonly attempt: number;
  /** Fires when the runner shuts down; long handlers stop early and let the job be retried. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  progress(value: JobProgress): Promise<void>;
}

export type JobHandler<T, R> = (job: JobContext<T>) => Promise<R>;

export interface RegisterOptions {
  /** Jobs of this name run at most this many at a time in this process. Default 1. */
  concurrency?: number;
}

export interface BackoffOptions {
  /** fixed: every retry waits `delayMs`; exponential: retry n waits `delayMs · 2^(n-1)`. */
  type: 'fixed' | 'exponential';
  delayMs: number;
}

export interface RetryOptions {
  /** Total runs including the first. Default 1 (no retry). */
  attempts?: number;
  /** Without it, a retry starts as soon as a slot is free. */
  backoff?: BackoffOptions;
}

export interface EnqueueOptions extends RetryOptions {
  /**
   * Idempotency key: while a job with this id is known (queued, running or in history), enqueuing
   * it again returns that id and adds nothing. Must not be an integer or contain ':' (BullMQ
   * reserves both for its own ids).
   */
  jobId?: string;
  /** The job does not start before this many milliseconds have passed. */
  delayMs?: number;
}

export interface ScheduleOptions extends RetryOptions {
  /** IANA time zone the cron expression is read in. Default: the process's zone. */
  tz?: string;
}

export interface JobInfo {
  id: string;
  name: string;
  data: unknown;
  state: JobState;
  progress: JobProgress;
  /** Runs that have ended, successful or not. */
  attemptsMade: number;
  /** Runs allowed in total. */
  attempts: number;
  /** The handler's return value, once completed. */
  result?: unknown;
  /** The reason of the most recent failed run; kept when a later retry succeeds. */
  failedReason?: string;
  stack?: string;
  /** Epoch milliseconds. */
  enqueuedAt: number;
  /** Start of the most recent run. */
  startedAt?: number;
  finishedAt?: number;
}

export interface ScheduleInfo {
  id: string;
  cron: string;
  tz?: string;
  name: string;
  data: unknown;
  /** Epoch milliseconds of the next run, when known. */
  next?: number;
}

export interface JobRunner {
  readonly kind: 'bullmq' | 'inprocess';
  /** Handlers may be registered before or after `start()`; one handler per name. */
  register<T, R>(name: string, handler: JobHandler<T, R>, options?: RegisterOptions): void;
  /**
   * Queues a job and returns its id. BullMQ accepts any name, because in service mode the API
   * process enqueues jobs that only worker processes register; a worker that receives a name it
   * has no handler for fails the job with FLOWMAP_JOB_UNKNOWN and does not retry it. The
   * in-process runner is both sides at once, so it rejects an unregistered name here with
   * FLOWMAP_JOB_UNKNOWN.
   */
  enqueue<T>(name: string, data: T, options?: EnqueueOptions): Promise<string>;
  /**
   * Runs `name` on a cron schedule (5 fields, or 6 with seconds first). Calling it again with the
   * same id replaces that schedule. A schedule keeps at most one run pending: if its previous job
   * has not started yet when the next time comes, that time is skipped.
   */
  schedule<T>(id: string, cron: string, name: string, data: T, options?: ScheduleOptions): Promise<void>;
  /** Removes a schedule; false when there was none with that id. */
  unschedule(id: string): Promise<boolean>;
  schedules(): Promise<ScheduleInfo[]>;
  get(id: string): Promise<JobInfo | undefined>;
  /** Newest first; at most `limit` (default 100). */
  list(state: JobState, limit?: number): Promise<JobInfo[]>;
  /**
   * Resolves once the job has completed or has failed for the last time (not on a failed attempt
   * that will be retried). Rejects with FLOWMAP_NOT_FOUND for an unknown id and with
   * FLOWMAP_JOB_BACKEND when `timeoutMs` passes first or the runner stops.
   */
  waitFor(id: string, timeoutMs?: number): Promise<JobInfo>;
  /** Starts running registered handlers. A process that only enqueues (the API role) never calls it. */
  start(): Promise<void>;
  /**
   * Stops taking jobs, fires every running job's signal, waits (bounded) for running jobs to end,
   * then releases connections and timers. Idempotent. Afterwards enqueue and schedule reject.
   */
  stop(): Promise<void>;
  /** Readiness check: rejects with FLOWMAP_JOB_BACKEND within about a second when unreachable. */
  ping(): Promise<void>;
}

export interface JobRunnerDeps {
  logger: Logger;
}

/** Rejects the options both backends would reject, so they fail the same way, with a code. */
export function checkEnqueueOptions(name: string, options: EnqueueOptions): void {
  if (name === '') throw badRequest('a job name must not be empty', { name });
  checkRetryOptions(options);
  const { jobId, delayMs } = options;
  if (jobId !== undefined && (jobId === '' || /^\d+$/.test(jobId) || jobId.includes(':'))) {
    throw badRequest(`job id "${jobId}" is not allowed: use a non-empty string that is not an integer and has no ':'`, { jobId });
  }
  if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw badRequest(`delayMs ${delayMs} is not allowed: use a number of milliseconds ≥ 0`, { delayMs });
  }
}

export function checkScheduleTarget(id: string, name: string): void {
  if (id === '') throw badRequest('a schedule id must not be empty', { id });
  if (name === '') throw badRequest('a job name must not be empty', { name });
}

export function checkRetryOptions(options: RetryOptions): void {
  const { attempts, backoff } = options;
  if (attempts !== undefined && !(Number.isInteger(attempts) && attempts >= 1)) {
    throw badRequest(`attempts ${attempts} is not allowed: use an integer ≥ 1`, { attempts });
  }
  if (backoff !== undefined && !(Number.isFinite(backoff.delayMs) && backoff.delayMs >= 0 && (backoff.type === 'fixed' || backoff.type === 'exponential'))) {
    throw badRequest('backoff is not allowed: use { type: "fixed" | "exponential", delayMs ≥ 0 }', { backoff });
  }
}

export function checkConcurrency(name: string, options: RegisterOptions): number {
  const concurrency = options.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `concurrency ${concurrency} for job "${name}" is not allowed: use an integer ≥ 1`, { details: { name, concurrency } });
  }
  return concurrency;
}

export function alreadyRegistered(name: string): FlowmapError {
  return new FlowmapError('FLOWMAP_CONFIG_INVALID', `a handler for job "${name}" is already registered`, { details: { name } });
}

export function checkLimit(limit: number): void {
  if (!(Number.isInteger(limit) && limit >= 1)) throw badRequest(`limit ${limit} is not allowed: use an integer ≥ 1`, { limit });
}

export function runnerStopped(what: string): FlowmapError {
  return new FlowmapError('FLOWMAP_JOB_BACKEND', `the job runner is stopped; cannot ${what}`, { status: 503 });
}

export function jobNotFound(id: string): FlowmapError {
  return new FlowmapError('FLOWMAP_NOT_FOUND', `no job with id "${id}"`, { status: 404, details: { id } });
}

/** Names the jobs a handler could be found for, so the message says what would have worked. */
export function unknownJob(name: string, registered: Iterable<string>): FlowmapError {
  const known = [...registered].sort();
  return new FlowmapError('FLOWMAP_JOB_UNKNOWN', `no handler is registered for job "${name}" (registered: ${known.length === 0 ? 'none' : known.join(', ')})`, {
    status: 400,
    details: { name, registered: known },
  });
}

function badRequest(message: string, details: Record<string, unknown>): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_REQUEST', message, { status: 400, details });
}
