// The in-process JobRunner for embedded mode (DESIGN §3): no Redis, jobs live in this process's
// memory and run on its event loop. It owns per-name concurrency, retries with backoff, delayed
// jobs, cron schedules and a bounded history, all driven by timers that `stop()` clears so the
// process can exit. Nothing survives a restart: queued jobs are lost and schedules are declared
// again at start-up, which is what an embedded single process needs.
import type { Logger } from '../../core/logger.js';
import { checkCron, nextRun } from './cron.js';
import { JOBS_DEFAULTS } from './config.js';
import { settledWithin } from './deadline.js';
import {
  alreadyRegistered,
  checkConcurrency,
  checkEnqueueOptions,
  checkLimit,
  checkRetryOptions,
  checkScheduleTarget,
  jobNotFound,
  runnerStopped,
  unknownJob,
  type BackoffOptions,
  type EnqueueOptions,
  type JobContext,
  type JobHandler,
  type JobInfo,
  type JobProgress,
  type JobRunner,
  type JobRunnerDeps,
  type JobState,
  type RegisterOptions,
  type RetryOptions,
  type ScheduleInfo,
  type ScheduleOptions,
} from './runner.js';
import { FinishWaiters, isFinished } from './waiters.js';

export interface InProcessRunnerConfig {
  historyLimit?: number;
  stopTimeoutMs?: number;
}

export function createInProcessRunner(config: InProcessRunnerConfig, deps: JobRunnerDeps): JobRunner {
  return new InProcessRunner(config, deps.logger.child({ component: 'jobs', backend: 'inprocess' }));
}

// setTimeout takes a signed 32-bit delay (about 24.8 days); longer waits are taken in steps.
const MAX_TIMER_MS = 2_147_483_647;

interface Registration {
  handler: JobHandler<unknown, unknown>;
  concurrency: number;
  active: number;
}

interface Job {
  readonly id: string;
  readonly name: string;
  readonly data: unknown;
  readonly attempts: number;
  readonly backoff: BackoffOptions | undefined;
  readonly enqueuedAt: number;
  state: JobState;
  progress: JobProgress;
  attemptsMade: number;
  result?: unknown;
  failedReason?: string;
  stack?: string;
  startedAt?: number;
  finishedAt?: number;
  /** Pending move from 'delayed' to 'waiting'. */
  timer?: NodeJS.Timeout;
}

interface Schedule {
  readonly id: string;
  readonly cron: string;
  readonly tz: string | undefined;
  readonly name: string;
  readonly data: unknown;
  readonly retry: RetryOptions;
  next: number;
  timer?: NodeJS.Timeout;
  /** The job made at the last run time, to skip a run while that one has not started. */
  pendingJobId?: string;
}

class InProcessRunner implements JobRunner {
  readonly kind = 'inprocess' as const;
  private readonly historyLimit: number;
  private readonly stopTimeoutMs: number;
  private readonly registrations = new Map<string, Registration>();
  /** Every job still known: queued, delayed, running, or in the bounded history. */
  private readonly jobs = new Map<string, Job>();
  /** Waiting job ids per name, oldest first. */
  private readonly queues = new Map<string, string[]>();
  /** Finished job ids in finishing order, so the oldest is evicted first. */
  private readonly history: Record<'completed' | 'failed', Set<string>> = { completed: new Set(), failed: new Set() };
  private readonly scheduled = new Map<string, Schedule>();
  private readonly shutdown = new AbortController();
  private readonly waiters = new FinishWaiters((id) => Promise.resolve(this.jobInfo(id)));
  private readonly active = new Set<string>();
  private nextId = 1;
  private started = false;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  private stopped = false;
  private onIdle: (() => void) | undefined;

  constructor(config: InProcessRunnerConfig, private readonly log: Logger) {
    this.historyLimit = config.historyLimit ?? JOBS_DEFAULTS.historyLimit;
    this.stopTimeoutMs = config.stopTimeoutMs ?? JOBS_DEFAULTS.stopTimeoutMs;
    checkLimit(this.historyLimit);
  }

  register<T, R>(name: string, handler: JobHandler<T, R>, options: RegisterOptions = {}): void {
    if (this.registrations.has(name)) throw alreadyRegistered(name);
    const concurrency = checkConcurrency(name, options);
    // The handler sees the data it was enqueued with; T is the caller's claim about it.
    this.registrations.set(name, { handler: handler as JobHandler<unknown, unknown>, concurrency, active: 0 });
    this.dispatch();
  }

  enqueue<T>(name: string, data: T, options: EnqueueOptions = {}): Promise<string> {
    return settle(() => {
      if (this.stopRequested) throw runnerStopped('enqueue a job');
      checkEnqueueOptions(name, options);
      if (!this.registrations.has(name)) throw unknownJob(name, this.registrations.keys());
      return this.add(name, data, options, options.jobId).id;
    });
  }

  schedule<T>(id: string, cron: string, name: string, data: T, options: ScheduleOptions = {}): Promise<void> {
    return settle(() => {
      if (this.stopRequested) throw runnerStopped('schedule a job');
      checkScheduleTarget(id, name);
      checkCron(cron, options.tz);
      checkRetryOptions(options);
      if (!this.registrations.has(name)) throw unknownJob(name, this.registrations.keys());
      const previous = this.scheduled.get(id);
      if (previous !== undefined) clearTimeout(previous.timer);
      const retry: RetryOptions = { attempts: options.attempts, backoff: options.backoff };
      const schedule: Schedule = { id, cron, tz: options.tz, name, data, retry, next: nextRun(cron, options.tz, Date.now()) };
      this.scheduled.set(id, schedule);
      this.armSchedule(schedule);
    });
  }

  unschedule(id: string): Promise<boolean> {
    const schedule = this.scheduled.get(id);
    if (schedule === undefined) return Promise.resolve(false);
    clearTimeout(schedule.timer);
    this.scheduled.delete(id);
    return Promise.resolve(true);
  }

  schedules(): Promise<ScheduleInfo[]> {
    const list = [...this.scheduled.values()]
      .sort((a, b) => a.next - b.next)
      .map((s): ScheduleInfo => ({ id: s.id, cron: s.cron, ...(s.tz === undefined ? {} : { tz: s.tz }), name: s.name, data: s.data, next: s.next }));
    return Promise.resolve(list);
  }

  get(id: string): Promise<JobInfo | undefined> {
    return Promise.resolve(this.jobInfo(id));
  }

  list(state: JobState, limit = 100): Promise<JobInfo[]> {
    return settle(() => {
      checkLimit(limit);
      // Newest first: finishing order for history, enqueue order (the map's) for the rest.
      const ids = state === 'completed' || state === 'failed'
        ? [...this.history[state]]
        : [...this.jobs.values()].filter((job) => job.state === state).map((job) => job.id);
      const infos: JobInfo[] = [];
      for (let i = ids.length - 1; i >= 0 && infos.length < limit; i -= 1) {
        const info = this.jobInfo(ids[i] ?? '');
        if (info !== undefined) infos.push(info);
      }
      return infos;
    });
  }

  waitFor(id: string, timeoutMs?: number): Promise<JobInfo> {
    // After shutdown nothing finishes any more: answer from what is known instead of waiting.
    if (this.stopped) {
      const info = this.jobInfo(id);
      if (info === undefined) return Promise.reject(jobNotFound(id));
      return isFinished(info) ? Promise.resolve(info) : Promise.reject(runnerStopped('wait for a job'));
    }
    return this.waiters.wait(id, timeoutMs);
  }

  start(): Promise<void> {
    if (this.stopRequested) return Promise.reject(runnerStopped('start'));
    this.started = true;
    this.dispatch();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.stopping === undefined) {
      // Set before anything else runs: abort listeners fire synchronously and may call enqueue.
      this.stopRequested = true;
      this.stopping = this.shutDown();
    }
    return this.stopping;
  }

  ping(): Promise<void> {
    return this.stopRequested ? Promise.reject(runnerStopped('answer a health check')) : Promise.resolve();
  }

  private async shutDown(): Promise<void> {
    for (const schedule of this.scheduled.values()) clearTimeout(schedule.timer);
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    this.shutdown.abort();
    if (this.active.size > 0) {
      const idle = new Promise<void>((resolve) => { this.onIdle = resolve; });
      if (!(await settledWithin(idle, this.stopTimeoutMs))) {
        this.log.warn({ active: [...this.active], stopTimeoutMs: this.stopTimeoutMs }, 'jobs still running at the stop deadline; abandoning them');
      }
    }
    this.stopped = true;
    this.waiters.rejectAll(runnerStopped('wait for a job'));
  }

  private add(name: string, data: unknown, options: EnqueueOptions, jobId: string | undefined): Job {
    const id = jobId ?? String(this.nextId++);
    const existing = this.jobs.get(id);
    if (existing !== undefined) return existing;
    const job: Job = {
      id,
      name,
      data,
      attempts: options.attempts ?? 1,
      backoff: options.backoff,
      enqueuedAt: Date.now(),
      state: 'waiting',
      progress: 0,
      attemptsMade: 0,
    };
    this.jobs.set(id, job);
    const delayMs = options.delayMs ?? 0;
    if (delayMs > 0) this.delay(job, job.enqueuedAt + delayMs);
    else this.makeWaiting(job);
    return job;
  }

  private delay(job: Job, dueAt: number): void {
    job.state = 'delayed';
    const wait = Math.min(Math.max(dueAt - Date.now(), 0), MAX_TIMER_MS);
    job.timer = setTimeout(() => {
      job.timer = undefined;
      // Timers run on a monotonic clock and may fire a millisecond before Date.now() reaches
      // dueAt; a delayed job must never start early, so the remainder is waited out.
      if (Date.now() < dueAt) this.delay(job, dueAt);
      else this.makeWaiting(job);
    }, wait);
  }

  private makeWaiting(job: Job): void {
    job.state = 'waiting';
    let queue = this.queues.get(job.name);
    if (queue === undefined) this.queues.set(job.name, (queue = []));
    queue.push(job.id);
    this.dispatch();
  }

  /** Starts every waiting job that has a free slot under its name's concurrency. */
  private dispatch(): void {
    if (!this.started || this.stopRequested) return;
    for (const [name, queue] of this.queues) {
      const registration = this.registrations.get(name);
      if (registration === undefined) continue;
      while (registration.active < registration.concurrency) {
        const id = queue.shift();
        if (id === undefined) break;
        const job = this.jobs.get(id);
        if (job?.state === 'waiting') this.run(job, registration);
      }
    }
  }

  private run(job: Job, registration: Registration): void {
    registration.active += 1;
    this.active.add(job.id);
    job.state = 'active';
    job.startedAt = Date.now();
    const attempt = job.attemptsMade + 1;
    const context: JobContext<unknown> = {
      id: job.id,
      name: job.name,
      data: job.data,
      attempt,
      signal: this.shutdown.signal,
      log: this.log.child({ job: job.name, jobId: job.id, attempt }),
      progress: (value) => {
        job.progress = value;
        return Promise.resolve();
      },
    };
    // Through a microtask so a handler never runs inside the caller of enqueue().
    void Promise.resolve()
      .then(() => registration.handler(context))
      .then(
        (result) => this.complete(job, result),
        (err: unknown) => this.fail(job, err),
      )
      .finally(() => {
        registration.active -= 1;
        this.active.delete(job.id);
        if (this.active.size === 0) this.onIdle?.();
        this.dispatch();
      });
  }

  private complete(job: Job, result: unknown): void {
    job.attemptsMade += 1;
    job.result = result;
    this.finish(job, 'completed');
  }

  private fail(job: Job, err: unknown): void {
    job.attemptsMade += 1;
    job.failedReason = err instanceof Error ? err.message : String(err);
    job.stack = err instanceof Error ? err.stack : undefined;
    const fields = { job: job.name, jobId: job.id, attempt: job.attemptsMade, attempts: job.attempts, reason: job.failedReason };
    if (job.attemptsMade >= job.attempts) {
      this.log.warn(fields, 'job failed');
      this.finish(job, 'failed');
      return;
    }
    if (this.stopRequested) {
      // Its retry timer would outlive stop(); the job stays delayed and is dropped with the runner.
      this.log.info(fields, 'job attempt failed during shutdown; not retried');
      job.state = 'delayed';
      return;
    }
    this.log.info(fields, 'job attempt failed; will retry');
    const wait = backoffDelay(job.backoff, job.attemptsMade);
    if (wait > 0) this.delay(job, Date.now() + wait);
    else this.makeWaiting(job);
  }

  private finish(job: Job, state: 'completed' | 'failed'): void {
    job.state = state;
    job.finishedAt = Date.now();
    const history = this.history[state];
    history.add(job.id);
    for (const oldest of history) {
      if (history.size <= this.historyLimit) break;
      history.delete(oldest);
      this.jobs.delete(oldest);
    }
    this.waiters.notify(job.id);
  }

  private armSchedule(schedule: Schedule): void {
    const wait = Math.min(Math.max(schedule.next - Date.now(), 0), MAX_TIMER_MS);
    schedule.timer = setTimeout(() => this.fire(schedule), wait);
  }

  private fire(schedule: Schedule): void {
    if (this.scheduled.get(schedule.id) !== schedule || this.stopRequested) return;
    const now = Date.now();
    if (now >= schedule.next) {
      const pending = schedule.pendingJobId === undefined ? undefined : this.jobs.get(schedule.pendingJobId);
      if (pending?.state === 'waiting' || pending?.state === 'delayed') {
        this.log.debug({ schedule: schedule.id, pending: pending.id }, 'previous scheduled job has not started; skipping this run');
      } else {
        schedule.pendingJobId = this.add(schedule.name, schedule.data, schedule.retry, `repeat:${schedule.id}:${schedule.next}`).id;
      }
      schedule.next = nextRun(schedule.cron, schedule.tz, Math.max(now, schedule.next));
    }
    this.armSchedule(schedule);
  }

  private jobInfo(id: string): JobInfo | undefined {
    const job = this.jobs.get(id);
    if (job === undefined) return undefined;
    return {
      id: job.id,
      name: job.name,
      data: job.data,
      state: job.state,
      progress: job.progress,
      attemptsMade: job.attemptsMade,
      attempts: job.attempts,
      ...(job.state === 'completed' ? { result: job.result } : {}),
      ...(job.failedReason === undefined ? {} : { failedReason: job.failedReason }),
      ...(job.stack === undefined ? {} : { stack: job.stack }),
      enqueuedAt: job.enqueuedAt,
      ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
      ...(job.finishedAt === undefined ? {} : { finishedAt: job.finishedAt }),
    };
  }
}

/** Runs `body` as an async function would: a throw becomes a rejected promise. */
function settle<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** Same formula as BullMQ's built-in strategies, so both runners retry on the same timetable. */
export function backoffDelay(backoff: BackoffOptions | undefined, attemptsMade: number): number {
  if (backoff === undefined) return 0;
  return backoff.type === 'fixed' ? backoff.delayMs : Math.round(backoff.delayMs * 2 ** (attemptsMade - 1));
}
