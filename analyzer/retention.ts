// Retention (DESIGN.md §5): a job that drops whole days of flows (and their rollups, listener
// evidence and interface counters) older than `retention.days`. Dropping day partitions is what
// ClickHouse 18.16 offers instead of TTL, and it is instant and never rewrites data.
import type { JobRunner } from './jobs/runner.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/port.js';

export const RETENTION_JOB = 'retention';
/** Daily, at a quiet minute; schedules keep one run pending, so several workers do not pile up. */
export const RETENTION_CRON = '17 3 * * *';

export interface RetentionResult {
  cutoff: string;
  droppedDays: string[];
}

/** Drops the days wholly before `now - days`; returns the cutoff and the days dropped (ISO dates). */
export async function applyRetention(store: Store, days: number, now = Date.now()): Promise<RetentionResult> {
  const cutoff = Math.floor(now / 1000) - days * 86_400;
  const dropped = await store.dropDaysBefore(cutoff);
  return { cutoff: new Date(cutoff * 1000).toISOString(), droppedDays: dropped.map((day) => new Date(day * 1000).toISOString().slice(0, 10)) };
}

/** Registers the retention job and its daily schedule on a worker's job runner. */
export async function registerRetention(jobs: JobRunner, store: Store, options: { days: number }, logger: Logger): Promise<void> {
  jobs.register<{ days?: number }, RetentionResult>(RETENTION_JOB, async (job) => {
    const days = typeof job.data.days === 'number' && Number.isInteger(job.data.days) && job.data.days > 0 ? job.data.days : options.days;
    const result = await applyRetention(store, days);
    job.log.info({ days, ...result }, result.droppedDays.length > 0 ? 'retention dropped old days' : 'retention: nothing to drop');
    return result;
  });
  await jobs.schedule(RETENTION_JOB, RETENTION_CRON, RETENTION_JOB, { days: options.days }, { attempts: 3, backoff: { type: 'exponential', delayMs: 60_000 } });
  logger.debug({ days: options.days, cron: RETENTION_CRON }, 'retention scheduled');
}
