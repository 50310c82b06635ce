// The BullMQ JobRunner for service mode (DESIGN §3): every job name shares one queue in Redis,
// a worker process dispatches by name to its registered handlers, cron schedules are BullMQ job
// schedulers, and retries are BullMQ attempts + backoff. It owns the Queue, the Worker (only
// after start()), a lazily created QueueEvents (only once someone calls waitFor) and their Redis
// connections. A Redis outage must never take the process down: every emitter has an 'error'
// listener, errors are logged at a bounded rate, and ioredis reconnects on its own.
//
// Per-name concurrency on one queue: the worker's concurrency is the sum of the registered
// names' limits, and a job fetched while its name is at its limit is put back as delayed for
// THROTTLE_DELAY_MS (it shows as 'delayed' meanwhile; no attempt is counted). Limits are per
// worker process, as BullMQ's own concurrency is.
import { DelayedError, Queue, QueueEvents, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { FlowmapError, describeError } from '../../core/errors.js';
import { RateLimitedLog, type Logger } from '../../core/logger.js';
import { JOBS_DEFAULTS } from './config.js';
import { checkCron } from './cron.js';
import { settledWithin, withDeadline } from './deadline.js';
import { openRedis, readyWithin, redactUrl } from './redis.js';
import {
  alreadyRegistered,
  checkConcurrency,
  checkEnqueueOptions,
  checkLimit,
  checkRetryOptions,
  checkScheduleTarget,
  runnerStopped,
  unknownJob,
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
import { FinishWaiters } from './waiters.js';

export interface BullmqRunnerConfig {
  redisUrl: string;
  prefix?: string;
  queueName?: string;
  historyLimit?: number;
  stopTimeoutMs?: number;
  /**
   * How long a running job's lock lasts without renewal (the worker renews it at half this). A
   * worker that dies holding a job loses the lock after this long, and another worker's stalled
   * check (run as often) puts the job back in the queue to be retried. Default 30 s.
   */
  lockMs?: number;
}

export function createBullmqRunner(config: BullmqRunnerConfig, deps: JobRunnerDeps): JobRunner {
  return new BullmqRunner(config, deps.logger.child({ component: 'jobs', backend: 'bullmq' }));
}

/** A readiness probe must answer quickly, healthy or not. */
const PING_TIMEOUT_MS = 1000;
/** Bounds every other Redis call, e.g. while the first connection is still being attempted. */
const CALL_TIMEOUT_MS = 5000;
/** Bounds closing each BullMQ object during stop(), which can stall while Redis is away. */
const CLOSE_TIMEOUT_MS = 5000;
/** How long a job put back because its name is at its concurrency limit waits before coming back. */
const THROTTLE_DELAY_MS = 500;

type AnyJob = Job<unknown, unknown, string>;

interface Registration {
  handler: JobHandler<unknown, unknown>;
  concurrency: number;
  active: number;
}

class BullmqRunner implements JobRunner {
  readonly kind = 'bullmq' as const;
  private readonly url: string;
  private readonly where: string;
  private readonly prefix: string;
  private readonly queueName: string;
  private readonly historyLimit: number;
  private readonly lockMs: number;
  private readonly stopTimeoutMs: number;
  private readonly errors: RateLimitedLog;
  private readonly producer: Redis;
  private readonly probe: Redis;
  private readonly queue: Queue<unknown, unknown, string>;
  private consumer: Redis | undefined;
  private worker: Worker<unknown, unknown, string> | undefined;
  private events: Promise<QueueEvents> | undefined;
  private readonly registrations = new Map<string, Registration>();
  private readonly active = new Set<string>();
  private readonly shutdown = new AbortController();
  private readonly waiters = new FinishWaiters((id) => this.get(id));
  private stopRequested = false;
  private stopping: Promise<void> | undefined;

  constructor(config: BullmqRunnerConfig, private readonly log: Logger) {
    this.url = config.redisUrl;
    this.where = redactUrl(config.redisUrl);
    this.prefix = config.prefix ?? JOBS_DEFAULTS.prefix;
    this.queueName = config.queueName ?? JOBS_DEFAULTS.queueName;
    this.historyLimit = config.historyLimit ?? JOBS_DEFAULTS.historyLimit;
    this.lockMs = config.lockMs ?? JOBS_DEFAULTS.lockMs;
    if (!(Number.isInteger(this.lockMs) && this.lockMs >= 1000)) throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `a job lock of ${this.lockMs} ms is not allowed: use a whole number of milliseconds ≥ 1000`, { details: { lockMs: this.lockMs } });
    this.stopTimeoutMs = config.stopTimeoutMs ?? JOBS_DEFAULTS.stopTimeoutMs;
    checkLimit(this.historyLimit);
    this.errors = new RateLimitedLog(log, 5, 60_000);
    this.producer = openRedis(this.url, 'producer', this.prefix, log, this.errors);
    this.probe = openRedis(this.url, 'probe', this.prefix, log, this.errors);
    this.queue = new Queue<unknown, unknown, string>(this.queueName, {
      connection: this.producer,
      prefix: this.prefix,
      defaultJobOptions: this.retention(),
    });
    this.queue.on('error', (err) => this.errors.warn('queue', { redis: this.where, err: err.message }, 'job queue error'));
  }

  register<T, R>(name: string, handler: JobHandler<T, R>, options: RegisterOptions = {}): void {
    if (this.registrations.has(name)) throw alreadyRegistered(name);
    const concurrency = checkConcurrency(name, options);
    // The handler sees the data it was enqueued with; T is the caller's claim about it.
    this.registrations.set(name, { handler: handler as JobHandler<unknown, unknown>, concurrency, active: 0 });
    if (this.worker !== undefined) this.worker.concurrency = this.totalConcurrency();
  }

  async enqueue<T>(name: string, data: T, options: EnqueueOptions = {}): Promise<string> {
    if (this.stopRequested) throw runnerStopped('enqueue a job');
    checkEnqueueOptions(name, options);
    const opts: JobsOptions = {
      ...this.retryOptions(options),
      ...(options.jobId === undefined ? {} : { jobId: options.jobId }),
      ...(options.delayMs === undefined ? {} : { delay: options.delayMs }),
    };
    const job = await this.call(`enqueue job "${name}"`, () => this.queue.add(name, data, opts));
    if (job.id === undefined) throw this.backendError(`enqueue job "${name}"`, new Error('BullMQ returned a job without an id'));
    return job.id;
  }

  async schedule<T>(id: string, cron: string, name: string, data: T, options: ScheduleOptions = {}): Promise<void> {
    if (this.stopRequested) throw runnerStopped('schedule a job');
    checkScheduleTarget(id, name);
    checkCron(cron, options.tz);
    checkRetryOptions(options);
    // upsertJobScheduler replaces a scheduler with the same id, including its pending next job.
    await this.call(`schedule "${id}"`, () =>
      this.queue.upsertJobScheduler(
        id,
        { pattern: cron.trim(), ...(options.tz === undefined ? {} : { tz: options.tz }) },
        { name, data, opts: { ...this.retention(), ...this.retryOptions(options) } },
      ),
    );
  }

  unschedule(id: string): Promise<boolean> {
    return this.call(`remove schedule "${id}"`, () => this.queue.removeJobScheduler(id));
  }

  async schedules(): Promise<ScheduleInfo[]> {
    const schedulers = await this.call('list schedules', () => this.queue.getJobSchedulers(0, -1, true));
    return schedulers.map((s): ScheduleInfo => ({
      id: s.id ?? s.key,
      cron: s.pattern ?? '',
      ...(s.tz === undefined ? {} : { tz: s.tz }),
      name: s.name,
      data: s.template?.data,
      ...(s.next === undefined ? {} : { next: s.next }),
    }));
  }

  get(id: string): Promise<JobInfo | undefined> {
    return this.call(`read job "${id}"`, async () => {
      // State first, then the job: a job seen finished no longer changes, so the two agree. The
      // other order can pair a finished state with the fields of the still-running job.
      const state = toState(await this.queue.getJobState(id));
      const job = state === undefined ? undefined : await this.queue.getJob(id);
      return state === undefined || job === undefined ? undefined : toInfo(job, state);
    });
  }

  async list(state: JobState, limit = 100): Promise<JobInfo[]> {
    checkLimit(limit);
    // 'waiting' is BullMQ's wait list plus jobs ordered by priority, which wait just the same.
    const types = state === 'waiting' ? (['wait', 'prioritized'] as const) : ([state] as const);
    const jobs = await this.call(`list ${state} jobs`, () => this.queue.getJobs([...types], 0, limit - 1, false));
    return jobs.slice(0, limit).map((job) => toInfo(job, state));
  }

  async waitFor(id: string, timeoutMs?: number): Promise<JobInfo> {
    if (this.stopRequested) throw runnerStopped('wait for a job');
    await this.queueEvents();
    return this.waiters.wait(id, timeoutMs);
  }

  start(): Promise<void> {
    if (this.stopRequested) return Promise.reject(runnerStopped('start'));
    if (this.worker !== undefined) return Promise.resolve();
    const worker = new Worker<unknown, unknown, string>(this.queueName, (job, token, signal) => this.runJob(job, token, signal), {
      connection: this.consumerClient(),
      prefix: this.prefix,
      concurrency: this.totalConcurrency(),
      // BullMQ waits this long before fetching again after a Redis error; its 15 s default keeps
      // a worker idle long after Redis is back.
      runRetryDelay: 1000,
      lockDuration: this.lockMs,
      stalledInterval: this.lockMs,
      removeOnComplete: { count: this.historyLimit },
      removeOnFail: { count: this.historyLimit },
    });
    worker.on('error', (err) => this.errors.warn('worker', { redis: this.where, err: err.message }, 'job worker error'));
    worker.on('failed', (job, err) => this.logFailure(job, err));
    this.worker = worker;
    // Not awaiting readiness: a worker started while Redis is away starts working when it returns.
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.stopping === undefined) {
      this.stopRequested = true;
      this.stopping = this.shutDown();
    }
    return this.stopping;
  }

  async ping(): Promise<void> {
    if (this.stopRequested) throw runnerStopped('answer a health check');
    const answer = async (): Promise<void> => {
      // The producer carries enqueues: while it is reconnecting the API cannot queue work, so
      // the runner is not ready even if the probe connection already is.
      if (this.producer.status === 'reconnecting' || this.producer.status === 'close' || this.producer.status === 'end') {
        throw new Error(`job connection is ${this.producer.status}`);
      }
      await readyWithin(this.probe, PING_TIMEOUT_MS);
      await this.probe.ping();
    };
    try {
      await withDeadline(answer(), PING_TIMEOUT_MS, () => new Error(`no answer to PING within ${PING_TIMEOUT_MS} ms`));
    } catch (err) {
      throw this.backendError('reach Redis', err);
    }
  }

  private async runJob(job: AnyJob, token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    const id = job.id ?? '';
    const registration = this.registrations.get(job.name);
    if (registration === undefined) {
      // Retrying cannot help: every worker runs the same registrations.
      throw new UnrecoverableError(`FLOWMAP_JOB_UNKNOWN: ${unknownJob(job.name, this.registrations.keys()).message}`);
    }
    if (registration.active >= registration.concurrency) {
      // The worker's slots are shared by every name (its concurrency is the sum of theirs), so a
      // job whose name is at its limit goes back as delayed rather than holding a slot another
      // name could use. This does not count as an attempt.
      await job.moveToDelayed(Date.now() + THROTTLE_DELAY_MS, token);
      throw new DelayedError();
    }
    registration.active += 1;
    this.active.add(id);
    const attempt = job.attemptsMade + 1;
    const context: JobContext<unknown> = {
      id,
      name: job.name,
      data: job.data,
      attempt,
      signal: signal === undefined ? this.shutdown.signal : AbortSignal.any([this.shutdown.signal, signal]),
      log: this.log.child({ job: job.name, jobId: id, attempt }),
      progress: (value) => job.updateProgress(value),
    };
    try {
      return await registration.handler(context);
    } finally {
      registration.active -= 1;
      this.active.delete(id);
    }
  }

  private async shutDown(): Promise<void> {
    this.shutdown.abort();
    const worker = this.worker;
    // With jobs running, give them stopTimeoutMs to finish. With none, a close that stalls is
    // BullMQ waiting on a blocking connection that is still reconnecting; nothing is lost by
    // cutting that short.
    const closeWithin = this.active.size > 0 ? this.stopTimeoutMs : CLOSE_TIMEOUT_MS;
    if (worker !== undefined && !(await settledWithin(worker.close(), closeWithin)) && this.active.size > 0) {
      this.log.warn(
        { active: [...this.active], stopTimeoutMs: this.stopTimeoutMs },
        'jobs still running at the stop deadline; they will be retried elsewhere once their locks expire',
      );
    }
    const events = this.events;
    await Promise.all([
      events === undefined ? Promise.resolve(true) : settledWithin(events.then((e) => e.close()), CLOSE_TIMEOUT_MS),
      settledWithin(this.queue.close(), CLOSE_TIMEOUT_MS),
    ]);
    this.waiters.rejectAll(runnerStopped('wait for a job'));
    // disconnect, not quit: quit would wait in the offline queue while Redis is away.
    for (const client of [this.producer, this.probe, this.consumer]) client?.disconnect();
  }

  /**
   * QueueEvents starts reading the event stream from its current end, read here first, so no
   * "completed"/"failed" event between this call and its first blocking read is missed.
   */
  private queueEvents(): Promise<QueueEvents> {
    if (this.events === undefined) {
      const opening = this.call('open the job event stream', async () => {
        await this.queue.waitUntilReady();
        const [last] = await this.producer.xrevrange(this.queue.toKey('events'), '+', '-', 'COUNT', 1);
        const events = new QueueEvents(this.queueName, { connection: this.consumerClient(), prefix: this.prefix, lastEventId: last?.[0] ?? '0-0' });
        events.on('error', (err) => this.errors.warn('events', { redis: this.where, err: err.message }, 'job event stream error'));
        events.on('completed', ({ jobId }) => this.waiters.notify(jobId));
        events.on('failed', ({ jobId }) => this.waiters.notify(jobId));
        return events;
      });
      // A failed attempt (Redis away) is not remembered: the next waitFor tries again.
      opening.catch(() => { if (this.events === opening) this.events = undefined; });
      this.events = opening;
    }
    return this.events;
  }

  private consumerClient(): Redis {
    this.consumer ??= openRedis(this.url, 'consumer', this.prefix, this.log, this.errors);
    return this.consumer;
  }

  private totalConcurrency(): number {
    let total = 0;
    for (const registration of this.registrations.values()) total += registration.concurrency;
    return Math.max(total, 1);
  }

  /** Bounded history, matching the in-process runner's. */
  private retention(): Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> {
    return { removeOnComplete: { count: this.historyLimit }, removeOnFail: { count: this.historyLimit } };
  }

  private retryOptions(options: RetryOptions): Pick<JobsOptions, 'attempts' | 'backoff'> {
    return {
      ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
      ...(options.backoff === undefined ? {} : { backoff: { type: options.backoff.type, delay: options.backoff.delayMs } }),
    };
  }

  private logFailure(job: AnyJob | undefined, err: Error): void {
    if (job === undefined) return;
    const attempts = job.opts.attempts ?? 1;
    const fields = { job: job.name, jobId: job.id, attempt: job.attemptsMade, attempts, reason: err.message };
    if (job.attemptsMade >= attempts || err instanceof UnrecoverableError) this.log.warn(fields, 'job failed');
    else this.log.info(fields, 'job attempt failed; will retry');
  }

  /** Every Redis call: bounded in time, and failures reported as FLOWMAP_JOB_BACKEND. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await withDeadline(run(), CALL_TIMEOUT_MS, () => new Error(`no answer within ${CALL_TIMEOUT_MS} ms`));
    } catch (err) {
      throw err instanceof FlowmapError ? err : this.backendError(what, err);
    }
  }

  private backendError(what: string, cause: unknown): FlowmapError {
    return new FlowmapError('FLOWMAP_JOB_BACKEND', `cannot ${what}: Redis at ${this.where}: ${describeError(cause)}`, {
      status: 503,
      cause,
      details: { redis: this.where },
    });
  }
}

function toState(state: string): JobState | undefined {
  switch (state) {
    case 'waiting':
    case 'wait':
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return state;
    default:
      return undefined;
  }
}

function toProgress(progress: unknown): JobProgress {
  if (typeof progress === 'number') return progress;
  if (typeof progress === 'object' && progress !== null && !Array.isArray(progress)) return progress as Record<string, unknown>;
  return 0;
}

function toInfo(job: AnyJob, state: JobState): JobInfo {
  const finished = state === 'completed' || state === 'failed';
  const stack = job.stacktrace?.at(-1);
  return {
    id: job.id ?? '',
    name: job.name,
    data: job.data,
    state,
    progress: toProgress(job.progress),
    attemptsMade: job.attemptsMade,
    // BullMQ stores 0 when no attempts were asked for; either way the job runs once.
    attempts: Math.max(job.opts.attempts ?? 1, 1),
    ...(state === 'completed' ? { result: job.returnvalue } : {}),
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    ...(stack === undefined ? {} : { stack }),
    enqueuedAt: job.timestamp,
    ...(job.processedOn === undefined ? {} : { startedAt: job.processedOn }),
    ...(finished && job.finishedOn !== undefined ? { finishedAt: job.finishedOn } : {}),
  };
}
