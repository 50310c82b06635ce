// The `report` job: a baseline report built and stored on demand (`flowmap report`, the API) and on
// the configured schedule — by default Mondays at 03:45, after the weekly baseline of 02:15 — by
// whichever worker takes it (BullMQ in service mode, the in-process runner in embedded mode).
//
// A retried run (a worker killed, the delivery hook failing) does not store a second report: the
// report names the job that made it, and a retry that finds one only delivers it again.
import { z } from 'zod';
import { FlowmapError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../store/index.js';
import { latestCompleted, type BaselineSettings } from '../baseline/index.js';
import type { JobContext, JobRunner } from '../jobs/index.js';
import { buildReport } from './build.js';
import { getReport, pruneReports, reportOfJob, saveReport } from './repository.js';
import type { ReportRecord, ReportSummary, ReportTrigger } from './types.js';

export const REPORT_JOB = 'report';
export const REPORT_SCHEDULE = 'report-weekly';
/** Mondays 03:45: after the weekly baseline (02:15) has had time to finish. */
export const REPORT_DEFAULT_CRON = '45 3 * * 1';
/** Runs per job: the first and two retries. */
export const REPORT_ATTEMPTS = 3;

const JobDataSchema = z.object({
  /** A baseline id or `latest`; default `latest`. */
  baseline: z.string().min(1).max(64).optional(),
  trigger: z.enum(['schedule', 'api', 'cli']).optional(),
});
type JobData = z.infer<typeof JobDataSchema>;

export interface ReportJobOptions {
  /** Cron of the scheduled report, or 'off'. */
  cron: string;
  logger: Logger;
  /** Reports kept (config `reports.keep`); older ones are deleted after each new one. Default: all. */
  keep?: number;
  /** Called with each stored report (delivery: notifications, webhooks). A failure fails the run, which is retried. */
  onCompleted?: (record: ReportRecord) => Promise<void>;
}

function parseData(data: unknown): JobData {
  const parsed = JobDataSchema.safeParse(data ?? {});
  if (!parsed.success) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `report job data is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`, { status: 400 });
  return parsed.data;
}

/** The report an earlier attempt of this job stored, if any. */
async function storedBy(store: Store, job: JobContext<unknown>): Promise<ReportRecord | undefined> {
  if (job.attempt === 1) return undefined;
  const id = await reportOfJob(store.meta, job.id);
  return id === undefined ? undefined : getReport(store.meta, id);
}

/** Registers the job on a worker and (unless `cron` is off) its schedule. */
export async function registerReports(jobs: JobRunner, store: Store, settings: BaselineSettings, options: ReportJobOptions): Promise<void> {
  jobs.register<unknown, ReportSummary | null>(REPORT_JOB, async (job) => {
    const data = parseData(job.data);
    const trigger: ReportTrigger = data.trigger ?? 'schedule';
    if (data.baseline === undefined && trigger === 'schedule' && (await latestCompleted(store.meta)) === undefined) {
      // Nothing to report on yet (a fresh install): not a failure to retry.
      job.log.warn('no baseline has completed yet; the scheduled report is skipped');
      return null;
    }
    let record = await storedBy(store, job);
    if (record === undefined) {
      const baseline = data.baseline ?? 'latest';
      job.log.info({ baseline, trigger, attempt: job.attempt }, 'report started');
      await job.progress({ stage: 'build' });
      const report = await buildReport(store, settings, { baseline });
      record = await saveReport(store.meta, report, { trigger, job: job.id });
      job.log.info({ id: record.id, baseline: record.baseline, findings: record.totals.findings, newEdges: record.totals.newEdges, coverage: record.totals.coverage, sizes: record.sizes }, 'report completed');
      if (options.keep !== undefined) {
        const pruned = await pruneReports(store.meta, options.keep);
        if (pruned.length > 0) job.log.info({ pruned }, 'old reports deleted');
      }
    } else {
      job.log.info({ id: record.id, attempt: job.attempt }, 'report already stored by an earlier attempt; delivering it again');
    }
    if (options.onCompleted !== undefined) {
      await job.progress({ stage: 'deliver', report: record.id });
      await options.onCompleted(record);
    }
    const { report: _report, html: _html, ...summary } = record;
    return summary;
  });
  if (options.cron !== 'off') {
    await jobs.schedule<JobData>(REPORT_SCHEDULE, options.cron, REPORT_JOB, { trigger: 'schedule' }, { attempts: REPORT_ATTEMPTS, backoff: { type: 'exponential', delayMs: 60_000 } });
    options.logger.debug({ cron: options.cron }, 'baseline report scheduled');
  } else {
    await jobs.unschedule(REPORT_SCHEDULE);
  }
}

/**
 * Queues a report of a baseline (default the latest completed) and returns the job id. The handler
 * checks that the baseline exists; a route answers 404 sooner by calling requireRecord first.
 */
export async function requestReport(jobs: JobRunner, request: { baseline?: string; trigger: ReportTrigger }): Promise<string> {
  const data: JobData = { trigger: request.trigger, ...(request.baseline === undefined ? {} : { baseline: request.baseline }) };
  parseData(data);
  return jobs.enqueue<JobData>(REPORT_JOB, data, { attempts: REPORT_ATTEMPTS, backoff: { type: 'exponential', delayMs: 5_000 } });
}
