// The listener-evidence job: once an hour has ended, record the evidence of its flows (DESIGN.md §6:
// an address:port that many distinct peer ports reach is listening), off the insert path — as a
// ClickHouse view on every insert it cost a third of the CPU ingest needs on a small box.
//
// A watermark in the metadata store says up to where evidence is recorded, so hours missed while
// no worker ran are caught up (at most MAX_CATCH_UP_HOURS back). Each run also records the
// RECORD_AGAIN_HOURS before the watermark again: flows replayed from a collector's spool after an
// outage keep their receive time and may land in an hour already recorded. Recording an hour
// twice changes no answer (merged uniq states count each value once).
import type { JobRunner } from './jobs/runner.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/port.js';

export const EVIDENCE_JOB = 'listener-evidence';
/** Every hour, a few minutes past: flows of the hour that just ended have arrived by then. */
export const EVIDENCE_CRON = '7 * * * *';
const HOUR = 3600;
/** How far back a first run (or one after a long pause) goes. */
export const MAX_CATCH_UP_HOURS = 48;
const WATERMARK = ['analyzer', 'listener-evidence-until'] as const;
/** Hours before the watermark recorded again on every run, for flows that arrived late. */
export const RECORD_AGAIN_HOURS = 3;

/** Whole days back from today that each run keeps the daily rollup current for (a default baseline spans 28). */
export const COMPACT_DAYS = 35;
const DAY = 86_400;

export interface EvidenceResult {
  /** Hours recorded, as ISO times of their start. */
  hours: string[];
  until: string;
  /** Days rolled into the daily rollup (Store.compactDays), as ISO times of their start. */
  days: string[];
}

/** Records every whole hour after the watermark and before the current hour; advances the watermark hour by hour. */
export async function recordEvidence(store: Store, now = Date.now(), signal?: AbortSignal): Promise<EvidenceResult> {
  const current = Math.floor(now / 1000 / HOUR) * HOUR;
  const saved = await store.meta.get(...WATERMARK);
  const since = typeof saved?.value === 'number' ? saved.value : 0;
  let hour = Math.max(since - RECORD_AGAIN_HOURS * HOUR, current - MAX_CATCH_UP_HOURS * HOUR);
  const hours: string[] = [];
  for (; hour < current && signal?.aborted !== true; hour += HOUR) {
    await store.recordListenerEvidence({ from: hour, to: hour + HOUR });
    await store.meta.put(...WATERMARK, hour + HOUR);
    hours.push(new Date(hour * 1000).toISOString());
  }
  // The same job keeps the daily rollup current for the days that have ended (one read of the
  // days' totals when nothing changed), so a baseline finds them rolled.
  const today = Math.floor(current / DAY) * DAY;
  const days = signal?.aborted === true ? [] : await store.compactDays({ from: today - COMPACT_DAYS * DAY, to: today });
  return { hours, until: new Date(hour * 1000).toISOString(), days: days.map((d) => new Date(d * 1000).toISOString()) };
}

export async function registerEvidence(jobs: JobRunner, store: Store, logger: Logger): Promise<void> {
  jobs.register<Record<string, never>, EvidenceResult>(EVIDENCE_JOB, async (job) => {
    const result = await recordEvidence(store, Date.now(), job.signal);
    job.log.info({ recorded: result.hours.length, until: result.until, daysRolled: result.days.length }, 'listener evidence recorded');
    return result;
  });
  await jobs.schedule(EVIDENCE_JOB, EVIDENCE_CRON, EVIDENCE_JOB, {}, { attempts: 3, backoff: { type: 'exponential', delayMs: 60_000 } });
  logger.debug({ cron: EVIDENCE_CRON }, 'listener evidence scheduled');
}
