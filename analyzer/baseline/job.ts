// The `baseline` job: built on demand (`flowmap baseline`, POST /api/v1/baselines) and on the
// configured schedule (default weekly), by whichever worker takes it — BullMQ in service mode,
// the in-process runner in embedded mode.
//
// Requests and runs meet in the baseline's record. `requestBaseline` writes the record as queued
// and enqueues the job with the baseline's id as its job id, so two requests for one window (two
// API processes, a user clicking twice) queue one job; a window already built is answered from
// its record unless a rebuild is forced. The handler is idempotent: a retried run (a worker killed
// mid-build, a store outage) first drops whatever host pairs an earlier attempt stored.
import { FlowmapError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { loadInventory, resolverOptionsFrom, type ResolverOptions } from '../../inventory/index.js';
import type { Store } from '../../store/index.js';
import type { JobContext, JobInfo, JobRunner } from '../jobs/index.js';
import { buildBaseline, checkParams } from './build.js';
import { baselineId, getRecord, pruneBaselines, putGraph, putRecord, requireRecord } from './repository.js';
import type { BaselineParams, BaselineRecord } from './types.js';

export const BASELINE_JOB = 'baseline';
export const BASELINE_SCHEDULE = 'baseline-weekly';
const HOUR = 3600;
const DAY = 86_400;
/** Runs per job: the first and two retries. */
export const BASELINE_ATTEMPTS = 3;
const HOST_CHUNK = 50_000;

export interface BaselineSettings {
  /** Default window length in days. */
  days: number;
  /** Cron of the scheduled run, or 'off'. */
  cron: string;
  /** Completed baselines kept. */
  keep: number;
  /** Resolver options (groupBy default, unlabeled prefixes, externals) from the inventory config. */
  resolver: ResolverOptions;
}

export function baselineSettingsFrom(config: { baseline: { days: number; cron: string; keep: number }; inventory: Parameters<typeof resolverOptionsFrom>[0] }): BaselineSettings {
  return { ...config.baseline, resolver: resolverOptionsFrom(config.inventory) };
}

/** What a user asks for; everything optional. */
export interface BaselineRequest {
  days?: number;
  /** End of the window (Unix seconds); rounded down to the hour. Default: the current hour's start. */
  end?: number;
  groupBy?: string[];
  /** Build again even when this window was built already. */
  force?: boolean;
  trigger?: BaselineRecord['trigger'];
}

interface JobData {
  id?: string;
  params?: BaselineParams;
  trigger?: BaselineRecord['trigger'];
  /** Scheduled runs: the window is computed when the run starts. */
  days?: number;
  groupBy?: string[];
}

export function paramsFor(request: BaselineRequest, settings: BaselineSettings, now = Date.now()): BaselineParams {
  const days = request.days ?? settings.days;
  if (!Number.isInteger(days) || days < 1 || days > 366) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `days must be a whole number from 1 to 366 (got ${days})`, { status: 400, details: { days } });
  const endSeconds = request.end ?? Math.floor(now / 1000);
  if (!Number.isFinite(endSeconds) || endSeconds < days * DAY) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `end ${endSeconds} is not a usable time`, { status: 400, details: { end: endSeconds } });
  if (endSeconds > now / 1000 + HOUR) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `end ${new Date(endSeconds * 1000).toISOString()} is in the future; a baseline covers traffic that happened`, { status: 400, details: { end: endSeconds } });
  }
  const to = Math.floor(endSeconds / HOUR) * HOUR;
  const params: BaselineParams = { from: to - days * DAY, to, groupBy: [...(request.groupBy ?? settings.resolver.groupBy ?? ['app', 'env'])] };
  checkParams(params);
  return params;
}

/**
 * Queues a baseline (or finds the one already queued, running or built for the same window) and
 * returns its record. `created` is false when nothing new was queued.
 */
export async function requestBaseline(jobs: JobRunner, store: Store, settings: BaselineSettings, request: BaselineRequest, now = Date.now()): Promise<{ record: BaselineRecord; created: boolean }> {
  const params = paramsFor(request, settings, now);
  const id = baselineId(params, request.force === true ? String(now) : undefined);
  const existing = await getRecord(store.meta, id);
  if (existing !== undefined && existing.status !== 'failed' && (existing.status === 'completed' || (await jobKnown(jobs, existing.job)))) return { record: existing, created: false };
  // A failed baseline, or one whose job the runner lost (an in-process runner that was stopped
  // mid-build), may be requested again: its old job id may still be in the runner's history.
  const jobId = existing === undefined ? id : `${id}-r${now}`;
  const record: BaselineRecord = { id, params, createdAt: new Date(now).toISOString(), status: 'queued', trigger: request.trigger ?? 'api', job: jobId };
  await putRecord(store.meta, record);
  try {
    await jobs.enqueue<JobData>(BASELINE_JOB, { id, params, trigger: record.trigger }, { jobId, attempts: BASELINE_ATTEMPTS, backoff: { type: 'exponential', delayMs: 5_000 } });
  } catch (err) {
    await putRecord(store.meta, { ...record, status: 'failed', error: `could not be queued: ${err instanceof Error ? err.message : String(err)}` });
    throw err;
  }
  return { record, created: true };
}

/** Whether the runner still knows a job (queued, running or in its history). */
async function jobKnown(jobs: JobRunner, job: string | undefined): Promise<boolean> {
  if (job === undefined) return false;
  try {
    return (await jobs.get(job)) !== undefined;
  } catch {
    // The runner cannot answer (Redis away): assume it still has the job rather than queue another.
    return true;
  }
}

/** The record with what the job runner knows of its run (state, progress, attempts, last error). */
export async function baselineStatus(jobs: JobRunner, store: Store, id: string): Promise<BaselineRecord & { progress?: unknown; attempts?: { made: number; allowed: number }; lastError?: string }> {
  const record = await requireRecord(store.meta, id);
  if (record.job === undefined || record.status === 'completed') return record;
  let info: JobInfo | undefined;
  try {
    info = await jobs.get(record.job);
  } catch {
    info = undefined;
  }
  if (info === undefined) {
    // A queued or running record whose job the runner does not know was lost (the process that
    // ran it stopped): say so, so that waiting stops; requesting the window again queues it anew.
    return record.status === 'queued' || record.status === 'running' ? { ...record, status: 'failed', error: record.error ?? 'its job was lost (the worker stopped); request the baseline again' } : record;
  }
  const status: BaselineRecord['status'] = info.state === 'failed' ? 'failed' : info.state === 'active' ? 'running' : info.state === 'completed' ? 'completed' : record.status;
  return {
    ...record,
    status,
    progress: info.progress,
    attempts: { made: info.attemptsMade, allowed: info.attempts },
    ...(info.failedReason === undefined ? {} : { lastError: info.failedReason }),
    ...(status === 'failed' && record.error === undefined && info.failedReason !== undefined ? { error: info.failedReason } : {}),
  };
}

/** Builds one baseline and stores it; the job handler and tests call it. */
export async function runBaseline(store: Store, settings: BaselineSettings, id: string, params: BaselineParams, options: { trigger?: BaselineRecord['trigger']; job?: JobContext<unknown>; logger?: Logger } = {}): Promise<BaselineRecord> {
  checkParams(params);
  const previous = await getRecord(store.meta, id);
  const record: BaselineRecord = {
    id,
    params,
    createdAt: previous?.createdAt ?? new Date().toISOString(),
    status: 'running',
    trigger: previous?.trigger ?? options.trigger ?? 'api',
    ...(previous?.job === undefined ? {} : { job: previous.job }),
  };
  await putRecord(store.meta, record);
  try {
    const { inventory, resolver } = await loadInventory(store, { ...settings.resolver, groupBy: params.groupBy });
    const built = await buildBaseline(params, {
      store,
      inventory,
      resolver,
      ...(options.job === undefined ? {} : { signal: options.job.signal, progress: (p) => options.job?.progress({ ...p }) }),
    });
    const started = performance.now();
    await store.dropBaselineHosts(id);
    for (let i = 0; i < built.hosts.length; i += HOST_CHUNK) await store.insertBaselineHosts(id, built.hosts.slice(i, i + HOST_CHUNK));
    await putGraph(store.meta, id, built.graph);
    built.timings.store = Math.round(performance.now() - started);
    const done: BaselineRecord = { ...record, status: 'completed', completedAt: new Date().toISOString(), summary: built.summary, timings: built.timings };
    await putRecord(store.meta, done);
    await options.job?.progress({ stage: 'done', percent: 100, conversations: built.summary.conversations, flows: built.summary.flows });
    const pruned = await pruneBaselines(store, settings.keep);
    if (pruned.length > 0) options.logger?.info({ pruned }, 'old baselines deleted');
    return done;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await putRecord(store.meta, { ...record, status: options.job !== undefined && options.job.attempt < BASELINE_ATTEMPTS ? 'queued' : 'failed', error: message }).catch(() => undefined);
    throw err;
  }
}

/** Registers the job on a worker and (unless `cron` is off) its schedule. */
export async function registerBaseline(jobs: JobRunner, store: Store, settings: BaselineSettings, logger: Logger, hooks: { onCompleted?: (record: BaselineRecord) => Promise<void> } = {}): Promise<void> {
  jobs.register<JobData, BaselineRecord>(BASELINE_JOB, async (job) => {
    const data = job.data ?? {};
    const id = data.id;
    const params = data.params;
    if (params === undefined || id === undefined) {
      // A scheduled run: fix the window now and queue it like any request (job id = baseline id),
      // so a request for the same window and the schedule build it once.
      const { record } = await requestBaseline(jobs, store, settings, { ...(data.days === undefined ? {} : { days: data.days }), ...(data.groupBy === undefined ? {} : { groupBy: data.groupBy }), trigger: data.trigger ?? 'schedule' });
      job.log.info({ id: record.id, status: record.status }, 'scheduled baseline queued');
      return record;
    }
    job.log.info({ id, from: new Date(params.from * 1000).toISOString(), to: new Date(params.to * 1000).toISOString(), groupBy: params.groupBy, attempt: job.attempt }, 'baseline started');
    const record = await runBaseline(store, settings, id, params, { trigger: data.trigger ?? 'schedule', job: job, logger: job.log });
    job.log.info({ id, ...record.summary, timings: record.timings }, 'baseline completed');
    // What follows a baseline (new-finding notifications) must not make the build run again: it
    // queues work of its own and only logs when that fails.
    if (hooks.onCompleted !== undefined) await hooks.onCompleted(record).catch((err: unknown) => job.log.error({ err, id }, 'after-baseline step failed'));
    return record;
  });
  if (settings.cron !== 'off') {
    await jobs.schedule<JobData>(BASELINE_SCHEDULE, settings.cron, BASELINE_JOB, { trigger: 'schedule', days: settings.days }, { attempts: BASELINE_ATTEMPTS, backoff: { type: 'exponential', delayMs: 60_000 } });
    logger.debug({ cron: settings.cron, days: settings.days }, 'baseline scheduled');
  } else {
    await jobs.unschedule(BASELINE_SCHEDULE);
  }
}
