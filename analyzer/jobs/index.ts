// Entry module of the job runner: the JobRunner contract and `createJobRunner`, which picks the
// backend the way DESIGN §3 describes — BullMQ on Redis when a Redis URL is configured (service
// mode), otherwise the in-process runner (embedded mode). Other stages import from here only.
import { createBullmqRunner } from './bullmq.js';
import type { JobsConfig } from './config.js';
import { createInProcessRunner } from './inprocess.js';
import type { JobRunner, JobRunnerDeps } from './runner.js';

export type {
  BackoffOptions,
  EnqueueOptions,
  JobContext,
  JobHandler,
  JobInfo,
  JobProgress,
  JobRunner,
  JobRunnerDeps,
  JobState,
  RegisterOptions,
  RetryOptions,
  ScheduleInfo,
  ScheduleOptions,
} from './runner.js';
export { JOB_STATES } from './runner.js';
export { JOBS_DEFAULTS, type JobsConfig } from './config.js';
export { createBullmqRunner, type BullmqRunnerConfig } from './bullmq.js';
export { createInProcessRunner, type InProcessRunnerConfig } from './inprocess.js';

export function createJobRunner(config: JobsConfig, deps: JobRunnerDeps): JobRunner {
  const { redisUrl, ...rest } = config;
  if (redisUrl !== undefined && redisUrl !== '') return createBullmqRunner({ ...rest, redisUrl }, deps);
  return createInProcessRunner({ historyLimit: rest.historyLimit, stopTimeoutMs: rest.stopTimeoutMs }, deps);
}
