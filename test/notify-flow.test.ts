// Issue 10, the wiring of notifications as a worker runs it (cli/roles.ts registerWorkerJobs): a
// baseline built by the job queues its findings job, which publishes one signed `finding.new`
// webhook per finding of that baseline (the first one: all are new); a report made by the report
// job is one `report.completed` delivery. A receiver checks every signature.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineSettingsFrom, requestBaseline } from '../analyzer/baseline/index.js';
import { createInProcessRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { createNotifier, createWebhook, FINDINGS_JOB, verifySignature, type Notifier } from '../analyzer/notify/index.js';
import { findingsFor, importIntents, parseIntentsText } from '../analyzer/policy/index.js';
import { requestReport } from '../analyzer/reports/index.js';
import { registerWorkerJobs } from '../cli/roles.js';
import { configSchema } from '../core/config.js';
import { silentLogger } from '../core/logger.js';
import { createEstate, intentsJson, SMALL } from '../simulator/index.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import { loadEstate } from './baseline-truth.js';

const END = Date.parse('2026-11-30T00:00:00Z') / 1000;

interface Delivery {
  type: string;
  delivery: string;
  verified: boolean;
  body: { id: string; type: string; data: Record<string, unknown> };
}

describe('a worker publishes new findings and reports as signed webhooks', { timeout: 300_000 }, () => {
  let dir = '';
  let store: Store;
  let jobs: JobRunner;
  let notifier: Notifier;
  let receiver: Server;
  let secret = '';
  const received: Delivery[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  const receivedAtLeast = (count: number): Promise<void> =>
    received.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }));
  const config = configSchema.parse({ baseline: { cron: 'off', days: 7 }, reports: { cron: 'off' } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-notify-flow-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    const estate = createEstate(SMALL, { seed: 4, days: 7, end: END });
    await loadEstate(store, estate);
    await importIntents(store.meta, parseIntentsText(intentsJson(estate), 'intents.json'));
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        received.push({
          type: String(request.headers['x-flowmap-event']),
          delivery: String(request.headers['x-flowmap-delivery']),
          verified: verifySignature(secret, String(request.headers['x-flowmap-signature']), raw),
          body: JSON.parse(raw) as Delivery['body'],
        });
        response.writeHead(204).end();
        waiters = waiters.filter((w) => (received.length >= w.count ? (w.resolve(), false) : true));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    secret = (await createWebhook(store.meta, { url: `http://127.0.0.1:${port}/hooks/flowmap` })).secret;
    jobs = createInProcessRunner({}, { logger: silentLogger() });
    notifier = createNotifier({ store, jobs, logger: silentLogger() }, { attempts: 3, backoffMs: 100 });
    notifier.register();
    await registerWorkerJobs(jobs, store, config, notifier, silentLogger());
    await jobs.start();
  });

  after(async () => {
    await jobs?.stop();
    notifier?.close();
    receiver?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers one finding.new per finding of the first baseline, each signed, once', async () => {
    const settings = baselineSettingsFrom(config);
    const { record } = await requestBaseline(jobs, store, settings, { days: 7, end: END, trigger: 'api' });
    const built = await jobs.waitFor(record.id, 240_000);
    assert.equal(built.state, 'completed', built.failedReason);
    const announced = await jobs.waitFor(`findings-${record.id}`, 120_000);
    assert.equal(announced.name, FINDINGS_JOB);
    assert.equal(announced.state, 'completed', announced.failedReason);
    const { findings } = await findingsFor(store, settings, record.id);
    assert.ok(findings.length > 5, `${findings.length} findings`);
    await receivedAtLeast(findings.length);
    const events = received.filter((d) => d.type === 'finding.new');
    assert.deepEqual(events.map((d) => (d.body.data.finding as { id: string }).id).sort(), findings.map((f) => f.id).sort());
    assert.ok(events.every((d) => d.verified), 'every signature verifies');
    assert.equal(new Set(events.map((d) => d.delivery)).size, events.length, 'one delivery per event');
    assert.ok(events.every((d) => d.body.data.baseline === record.id));
  });

  it('delivers report.completed for a report the report job made', async () => {
    const before = received.length;
    const info = await jobs.waitFor(await requestReport(jobs, { trigger: 'api' }), 240_000);
    assert.equal(info.state, 'completed', info.failedReason);
    await receivedAtLeast(before + 1);
    const report = received.slice(before).find((d) => d.type === 'report.completed');
    assert.ok(report !== undefined && report.verified);
    assert.equal((report.body.data.report as { id: string }).id, (info.result as { id: string }).id);
  });
});
