// Configuration of the job runner, with its defaults. There is no jobs section in flowmap's
// configuration: the CLI (cli/roles.ts) passes `redisUrl` and `prefix` from its `redis.url` and
// `redis.prefix` settings (core/config.ts; REDIS_URL, FLOWMAP_REDIS_PREFIX) and a fixed
// `stopTimeoutMs` that fits its shutdown deadline; the other fields keep their defaults there.
// `createJobRunner` picks the backend from `redisUrl` alone (DESIGN §3: set in service mode,
// absent in embedded mode).

export interface JobsConfig {
  /** Service mode: jobs go through BullMQ on this Redis. Absent: jobs run in this process. */
  redisUrl?: string;
  /** Prefix of every Redis key the runner writes (BullMQ only). */
  prefix?: string;
  /** BullMQ queue every job name shares. */
  queueName?: string;
  /** Completed jobs kept for `get`/`list`, and failed jobs kept, each. */
  historyLimit?: number;
  /** How long `stop()` waits for running jobs before giving up on them. */
  stopTimeoutMs?: number;
  /** BullMQ only: a running job's lock; a dead worker's job is retried elsewhere after about this long. */
  lockMs?: number;
}

export const JOBS_DEFAULTS = {
  prefix: 'flowmap',
  queueName: 'jobs',
  historyLimit: 1000,
  stopTimeoutMs: 30_000,
  lockMs: 30_000,
} as const;
