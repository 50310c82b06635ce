// New findings as events: when a baseline completes, the `notify.findings` job computes its
// findings and the previous baseline's (same granularity), and publishes a `finding.new` event for
// each finding the previous one did not have. A job of its own, with retries, so a slow or failing
// findings computation neither delays nor re-runs the baseline; its job id is the baseline's, so
// a baseline announces its findings once.
import type { BaselineRecord, BaselineSettings } from '../baseline/index.js';
import { listRecords } from '../baseline/index.js';
import type { JobRunner } from '../jobs/index.js';
import { findingsFor, previousOf } from '../policy/index.js';
import type { Store } from '../../store/port.js';
import { findingEvents } from './events.js';
import type { Notifier } from './notifier.js';

export const FINDINGS_JOB = 'notify.findings';

export function registerFindingEvents(jobs: JobRunner, store: Store, settings: BaselineSettings, notifier: Notifier): void {
  jobs.register<{ baseline?: unknown }, { baseline: string; events: number; queued: number }>(FINDINGS_JOB, async (job) => {
    const id = typeof job.data?.baseline === 'string' ? job.data.baseline : '';
    const { baseline, findings } = await findingsFor(store, settings, id);
    const record = (await listRecords(store.meta, { status: 'completed' })).find((r) => r.id === baseline);
    const previous = record === undefined ? undefined : await previousOf(store, record);
    const before = previous === undefined ? undefined : (await findingsFor(store, settings, previous.id)).findings;
    const events = findingEvents(baseline ?? id, findings, before, record?.completedAt === undefined ? {} : { time: record.completedAt });
    let queued = 0;
    for (const event of events) queued += (await notifier.publish(event)).jobs.length;
    job.log.info({ baseline, previous: previous?.id, events: events.length, queued }, 'new findings published');
    return { baseline: baseline ?? id, events: events.length, queued };
  });
}

/** Queues the job for a completed baseline (idempotent per baseline). */
export async function announceFindings(jobs: JobRunner, record: BaselineRecord): Promise<void> {
  await jobs.enqueue(FINDINGS_JOB, { baseline: record.id }, { jobId: `findings-${record.id}`, attempts: 5, backoff: { type: 'exponential', delayMs: 30_000 } });
}
