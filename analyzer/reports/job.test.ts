// The `report` job on the in-process runner (the BullMQ runner honours the same contract,
// analyzer/jobs/runner.conformance.test.ts): a request builds, stores and delivers one report of
// the latest baseline; a retry after a failed delivery delivers the stored report again instead
// of storing a second; a scheduled run before any baseline has completed is skipped, not failed;
// the schedule is registered at its cron, and removed with 'off'.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineId, runBaseline, type BaselineSettings } from '../baseline/index.js';
import { createInProcessRunner, type JobRunner } from '../jobs/index.js';
import { configSchema } from '../../core/config.js';
import { silentLogger } from '../../core/logger.js';
import { nextRun } from '../jobs/cron.js';
import { createEstate, SMALL } from '../../simulator/index.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { loadEstate } from '../../test/baseline-truth.js';
import { getReport, listReports, registerReports, REPORT_DEFAULT_CRON, REPORT_JOB, REPORT_SCHEDULE, requestReport, type ReportRecord, type ReportSummary } from './index.js';

const END = Date.parse('2026-11-30T00:00:00Z') / 1000;
const DAY = 86_400;
const WAIT_MS = 60_000;
const logger = silentLogger();
const settings: BaselineSettings = { days: 3, cron: 'off', keep: 10, resolver: { groupBy: ['app', 'env'] } };

async function openStore(): Promise<{ store: Store; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-report-job-'));
  const store = await createDuckDBStore({ dataDir: dir }, { logger });
  await store.migrate();
  return { store, dir };
}

describe('the report job', () => {
  let dir: string;
  let store: Store;
  let jobs: JobRunner;
  const delivered: ReportRecord[] = [];
  let failDeliveries = 0;
  const params = { from: END - 3 * DAY, to: END, groupBy: ['app', 'env'] };

  before(async () => {
    ({ store, dir } = await openStore());
    await loadEstate(store, createEstate(SMALL, { seed: 3, days: 3, end: END }));
    await runBaseline(store, settings, baselineId(params), params);
    jobs = createInProcessRunner({}, { logger });
    await registerReports(jobs, store, settings, {
      cron: 'off',
      logger,
      onCompleted: async (record) => {
        delivered.push(record);
        if (failDeliveries > 0) {
          failDeliveries--;
          throw new Error('the mail server is down');
        }
      },
    });
    await jobs.start();
  });
  after(async () => {
    await jobs?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds, stores and delivers a report of the latest baseline on request', async () => {
    const id = await requestReport(jobs, { trigger: 'api' });
    const info = await jobs.waitFor(id, WAIT_MS);
    assert.equal(info.state, 'completed', info.failedReason);
    const summary = info.result as ReportSummary;
    assert.equal(summary.baseline, baselineId(params));
    assert.equal(summary.trigger, 'api');
    assert.equal(summary.job, id);
    assert.equal('html' in summary, false, 'the job result stays small');
    const stored = await getReport(store.meta, summary.id);
    assert.ok(stored !== undefined);
    assert.match(stored.html, /^<!DOCTYPE html>/);
    assert.equal(stored.report.summary.flows, (await store.flowTotals(params)).flows);
    assert.deepEqual(delivered.map((r) => r.id), [summary.id]);
  });

  it('retries a failed delivery with the report already stored, not a second one', async () => {
    const before = (await listReports(store.meta, { limit: 200 })).reports.length;
    delivered.length = 0;
    failDeliveries = 1;
    const id = await jobs.enqueue(REPORT_JOB, { trigger: 'cli', baseline: baselineId(params) }, { attempts: 2 });
    const info = await jobs.waitFor(id, WAIT_MS);
    assert.equal(info.state, 'completed', info.failedReason);
    assert.equal(info.attemptsMade, 2);
    assert.equal(info.failedReason, 'the mail server is down');
    assert.equal(delivered.length, 2);
    assert.equal(delivered[0]?.id, delivered[1]?.id, 'the same report delivered twice');
    assert.equal((await listReports(store.meta, { limit: 200 })).reports.length, before + 1);
  });

  it('keeps only the configured number of reports, the newest', async () => {
    const kept = createInProcessRunner({}, { logger });
    try {
      await registerReports(kept, store, settings, { cron: 'off', logger, keep: 1 });
      await kept.start();
      const id = await requestReport(kept, { trigger: 'cli' });
      const info = await kept.waitFor(id, WAIT_MS);
      assert.equal(info.state, 'completed', info.failedReason);
      const { reports } = await listReports(store.meta);
      assert.deepEqual(reports.map((r) => r.id), [(info.result as ReportSummary).id]);
    } finally {
      await kept.stop();
    }
  });

  it('fails a request for a baseline that does not exist, saying which', async () => {
    // One attempt: requestReport's retries would only repeat the answer after their backoff.
    const id = await jobs.enqueue(REPORT_JOB, { trigger: 'api', baseline: 'bl-20200101T0000-3d-0123456789' }, { attempts: 1 });
    const info = await jobs.waitFor(id, WAIT_MS);
    assert.equal(info.state, 'failed');
    assert.match(info.failedReason ?? '', /no baseline "bl-20200101T0000-3d-0123456789"/);
  });

  it('refuses job data that is not a report request', async () => {
    await assert.rejects(requestReport(jobs, { trigger: 'api', baseline: 'x'.repeat(100) }), /report job data is invalid/);
  });
});

describe('the report schedule', () => {
  let dir: string;
  let store: Store;
  const runners: JobRunner[] = [];
  before(async () => {
    ({ store, dir } = await openStore());
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs by default within a few hours after the default weekly baseline, as the configuration documents', () => {
    const defaults = configSchema.parse({});
    assert.equal(defaults.reports.cron, REPORT_DEFAULT_CRON);
    const monday = Date.parse('2026-11-30T00:00:00Z');
    const baseline = nextRun(defaults.baseline.cron, 'UTC', monday);
    const report = nextRun(REPORT_DEFAULT_CRON, 'UTC', monday);
    assert.ok(report > baseline && report - baseline <= 3 * 3_600_000, `baseline ${new Date(baseline).toISOString()}, report ${new Date(report).toISOString()}`);
  });

  it('is registered at its cron, and removed when the cron is off', async () => {
    const first = createInProcessRunner({}, { logger });
    runners.push(first);
    await registerReports(first, store, settings, { cron: REPORT_DEFAULT_CRON, logger });
    const schedules = await first.schedules();
    assert.deepEqual(schedules.map((s) => [s.id, s.cron, s.name]), [[REPORT_SCHEDULE, REPORT_DEFAULT_CRON, REPORT_JOB]]);
    // A worker restarted with the cron off: the schedule an earlier start left is removed. (The
    // in-process runner schedules only registered jobs, so the earlier start's handler is kept.)
    const second = createInProcessRunner({}, { logger });
    runners.push(second);
    second.register(REPORT_JOB, async () => null);
    await second.schedule(REPORT_SCHEDULE, REPORT_DEFAULT_CRON, REPORT_JOB, {});
    const restarted = new Proxy(second, {
      get(target, property) {
        if (property === 'register') return () => undefined;
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    await registerReports(restarted, store, settings, { cron: 'off', logger });
    assert.deepEqual(await second.schedules(), []);
  });

  it('skips a scheduled run when no baseline has completed yet, storing nothing', async () => {
    const jobs = createInProcessRunner({}, { logger });
    runners.push(jobs);
    await registerReports(jobs, store, settings, { cron: 'off', logger });
    await jobs.start();
    const id = await jobs.enqueue(REPORT_JOB, { trigger: 'schedule' });
    const info = await jobs.waitFor(id, WAIT_MS);
    assert.equal(info.state, 'completed', info.failedReason);
    assert.equal(info.result, null);
    assert.deepEqual((await listReports(store.meta)).reports, []);
  });
});
