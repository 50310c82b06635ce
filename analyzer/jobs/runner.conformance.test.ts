// The JobRunner contract, run against both implementations: BullMQ on the test Redis and the
// in-process runner. A case that passes for one and not the other is a bug in the contract or in
// a runner. Timing is asserted only as lower bounds the contract promises (a delayed job never
// starts early); everything else waits on latches set by the handlers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { isFlowmapError, type ErrorCode } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { serviceUrl } from '../../test/services.js';
import { createBullmqRunner, createInProcessRunner, type JobRunner } from './index.js';
import { Counter, deferred, type Deferred } from './testing.js';

interface RunnerOptions {
  historyLimit?: number;
  stopTimeoutMs?: number;
}

/** One test's backing store: every runner it opens sees the same jobs (for BullMQ). */
interface Harness {
  open(options?: RunnerOptions): JobRunner;
  /** A runner that can still read what `stopped` left behind. */
  reader(stopped: JobRunner): JobRunner;
  /** Stops every runner opened and deletes what they stored. */
  cleanup(): Promise<void>;
}

const logger = silentLogger();
const WAIT_MS = 10_000;

function rejectsWith(code: ErrorCode, pattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isFlowmapError(err, code), `expected ${code}, got ${String(err)}`);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  };
}

function inProcessHarness(): Harness {
  const opened: JobRunner[] = [];
  return {
    open(options = {}) {
      const runner = createInProcessRunner(options, { logger });
      opened.push(runner);
      return runner;
    },
    reader: (stopped) => stopped,
    async cleanup() {
      await Promise.all(opened.map((runner) => runner.stop()));
    },
  };
}

function bullmqHarness(url: string): Harness {
  // A prefix per test keeps runs, and tests within a run, from seeing each other's jobs.
  const prefix = `flowmap-test-${randomUUID().slice(0, 8)}`;
  const opened: JobRunner[] = [];
  const open = (options: RunnerOptions = {}): JobRunner => {
    const runner = createBullmqRunner({ redisUrl: url, prefix, ...options }, { logger });
    opened.push(runner);
    return runner;
  };
  return {
    open,
    reader: () => open(),
    async cleanup() {
      await Promise.all(opened.map((runner) => runner.stop()));
      await deleteKeys(url, `${prefix}:*`);
    },
  };
}

async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function describeRunner(title: string, skip: string | false, makeHarness: () => Harness): void {
  describe(title, { skip }, () => {
    let harness: Harness;
    beforeEach(() => { harness = makeHarness(); });
    afterEach(() => harness.cleanup());

    it('runs a job and returns its result', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      runner.register<{ a: number; b: number }, number>('add', ({ data }) => Promise.resolve(data.a + data.b));
      await runner.start();
      const id = await runner.enqueue('add', { a: 2, b: 3 });
      const info = await runner.waitFor(id, WAIT_MS);
      assert.equal(info.id, id);
      assert.equal(info.name, 'add');
      assert.deepEqual(info.data, { a: 2, b: 3 });
      assert.equal(info.state, 'completed');
      assert.equal(info.result, 5);
      assert.equal(info.attemptsMade, 1);
      assert.ok(info.startedAt !== undefined && info.finishedAt !== undefined);
      assert.ok(info.enqueuedAt <= info.startedAt && info.startedAt <= info.finishedAt);
    });

    it('reports progress visible via get() while the job runs', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      const reported = deferred();
      const release = deferred();
      runner.register('scan', async (job) => {
        await job.progress(40);
        await job.progress({ stage: 'scan', done: 3 });
        reported.resolve();
        await release.promise;
        return 'ok';
      });
      await runner.start();
      const id = await runner.enqueue('scan', {});
      await reported.promise;
      const running = await runner.get(id);
      assert.equal(running?.state, 'active');
      assert.deepEqual(running.progress, { stage: 'scan', done: 3 });
      release.resolve();
      const done = await runner.waitFor(id, WAIT_MS);
      assert.equal(done.state, 'completed');
      assert.deepEqual(done.progress, { stage: 'scan', done: 3 });
    });

    it('retries a failing job with backoff and succeeds on attempt 3', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      const attempts: { attempt: number; at: number }[] = [];
      runner.register('flaky', (job) => {
        attempts.push({ attempt: job.attempt, at: Date.now() });
        if (job.attempt < 3) return Promise.reject(new Error(`flaky on attempt ${job.attempt}`));
        return Promise.resolve('third time lucky');
      });
      await runner.start();
      const id = await runner.enqueue('flaky', {}, { attempts: 3, backoff: { type: 'exponential', delayMs: 40 } });
      const info = await runner.waitFor(id, WAIT_MS);
      assert.equal(info.state, 'completed');
      assert.equal(info.result, 'third time lucky');
      assert.equal(info.attemptsMade, 3);
      assert.equal(info.attempts, 3);
      assert.equal(info.failedReason, 'flaky on attempt 2', 'the last failure stays visible after a successful retry');
      assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
      // Exponential backoff: the first retry waits ≥ 40 ms, the second ≥ 80 ms.
      const [first, second, third] = attempts.map((a) => a.at);
      assert.ok(first !== undefined && second !== undefined && third !== undefined);
      assert.ok(second - first >= 40, `first retry after ${second - first} ms`);
      assert.ok(third - second >= 80, `second retry after ${third - second} ms`);
    });

    it('a job that always fails ends failed with its reason and attemptsMade, and is listed as failed', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      runner.register('doomed', () => Promise.reject(new Error('disk full')));
      await runner.start();
      const id = await runner.enqueue('doomed', { path: '/data' }, { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } });
      const info = await runner.waitFor(id, WAIT_MS);
      assert.equal(info.state, 'failed');
      assert.equal(info.failedReason, 'disk full');
      assert.equal(info.attemptsMade, 2);
      assert.equal(info.attempts, 2);
      assert.match(info.stack ?? '', /disk full/);
      assert.ok(info.finishedAt !== undefined);
      const failed = await runner.list('failed');
      const listed = failed.find((job) => job.id === id);
      assert.equal(listed?.failedReason, 'disk full');
      assert.equal(listed.attemptsMade, 2);
      assert.deepEqual(listed.data, { path: '/data' });
      assert.equal((await runner.get(id))?.state, 'failed');
    });

    it('runs at most `concurrency` jobs of one name at a time', { timeout: 30_000 }, async () => {
      const runner = harness.open();
      const started = new Counter();
      const gates: Deferred<void>[] = [];
      let running = 0;
      let maxRunning = 0;
      runner.register('crunch', async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        const gate = deferred();
        gates.push(gate);
        started.increment();
        await gate.promise;
        running -= 1;
      }, { concurrency: 2 });
      await runner.start();
      const ids = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => runner.enqueue('crunch', { n })));
      // Release jobs one at a time, in start order; each release frees one slot for the next.
      await started.reached(2);
      for (let released = 0; released < ids.length; released += 1) {
        gates[released]?.resolve();
        if (released + 2 < ids.length) await started.reached(released + 3);
      }
      for (const id of ids) assert.equal((await runner.waitFor(id, WAIT_MS)).state, 'completed');
      assert.equal(maxRunning, 2);
    });

    it('concurrency is per name: a name at its limit does not hold back another name', { timeout: 30_000 }, async () => {
      const runner = harness.open();
      const aStarted = new Counter();
      const releaseA = deferred();
      let aRunning = 0;
      let aMax = 0;
      runner.register('analyze', async () => {
        aRunning += 1;
        aMax = Math.max(aMax, aRunning);
        aStarted.increment();
        await releaseA.promise;
        aRunning -= 1;
      }, { concurrency: 1 });
      runner.register('rollup', () => Promise.resolve('rolled up'), { concurrency: 1 });
      await runner.start();
      const analyses = [await runner.enqueue('analyze', { n: 1 }), await runner.enqueue('analyze', { n: 2 }), await runner.enqueue('analyze', { n: 3 })];
      await aStarted.reached(1);
      const rollup = await runner.enqueue('rollup', {});
      assert.equal((await runner.waitFor(rollup, WAIT_MS)).result, 'rolled up');
      assert.equal(aRunning, 1, 'the first analysis is still running');
      releaseA.resolve();
      for (const id of analyses) {
        const info = await runner.waitFor(id, WAIT_MS);
        assert.equal(info.state, 'completed');
        assert.equal(info.attemptsMade, 1, 'waiting for a free slot is not an attempt');
      }
      assert.equal(aMax, 1);
    });

    it('a delayed job does not start before its delay', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      let startedAt = 0;
      runner.register('later', () => {
        startedAt = Date.now();
        return Promise.resolve();
      });
      await runner.start();
      const enqueuedBefore = Date.now();
      const id = await runner.enqueue('later', {}, { delayMs: 300 });
      assert.equal((await runner.get(id))?.state, 'delayed');
      assert.ok((await runner.list('delayed')).some((job) => job.id === id));
      assert.equal((await runner.waitFor(id, WAIT_MS)).state, 'completed');
      assert.ok(startedAt - enqueuedBefore >= 300, `started ${startedAt - enqueuedBefore} ms after enqueue`);
    });

    it('a cron schedule fires every second, and stops after unschedule', { timeout: 30_000 }, async () => {
      const runner = harness.open();
      const ticks = new Counter();
      const seen: unknown[] = [];
      runner.register('tick', (job) => {
        seen.push(job.data);
        ticks.increment();
        return Promise.resolve();
      });
      runner.register('probe', () => Promise.resolve());
      await runner.start();
      await runner.schedule('heartbeat', '*/1 * * * * *', 'tick', { source: 'cron' });
      const [listed] = await runner.schedules();
      assert.equal(listed?.id, 'heartbeat');
      assert.equal(listed.name, 'tick');
      assert.ok(listed.next !== undefined && listed.next > Date.now() - 1000);
      await ticks.reached(2, 15_000);
      assert.deepEqual(seen[0], { source: 'cron' });
      assert.equal(await runner.unschedule('heartbeat'), true);
      const ticksAtUnschedule = ticks.value;
      // Let the runner's own clock pass two more would-be runs: a probe delayed by 2.5 s.
      const probe = await runner.enqueue('probe', {}, { delayMs: 2500 });
      await runner.waitFor(probe, WAIT_MS);
      assert.ok(ticks.value <= ticksAtUnschedule + 1, `${ticks.value - ticksAtUnschedule} runs after unschedule (at most one already queued is allowed)`);
      assert.deepEqual(await runner.schedules(), []);
      assert.equal(await runner.unschedule('heartbeat'), false);
    });

    it('rejects an invalid cron expression or time zone with FLOWMAP_BAD_CRON', async () => {
      const runner = harness.open();
      runner.register('rollup', () => Promise.resolve());
      for (const cron of ['61 * * * *', 'every night', '* * *', '', '* * * * * * *', '0 0 31 2 *']) {
        await assert.rejects(runner.schedule('bad', cron, 'rollup', {}), rejectsWith('FLOWMAP_BAD_CRON', /allowed:/), cron);
      }
      await assert.rejects(runner.schedule('bad', '0 3 * * *', 'rollup', {}, { tz: 'Mars/Olympus_Mons' }), rejectsWith('FLOWMAP_BAD_CRON', /Mars\/Olympus_Mons/));
      assert.deepEqual(await runner.schedules(), []);
    });

    it('scheduling the same id again replaces the schedule', async () => {
      const runner = harness.open();
      runner.register('rollup', () => Promise.resolve());
      await runner.schedule('nightly', '0 3 * * *', 'rollup', { version: 1 });
      await runner.schedule('nightly', '30 4 * * *', 'rollup', { version: 2 }, { tz: 'UTC' });
      const schedules = await runner.schedules();
      assert.equal(schedules.length, 1);
      const [nightly] = schedules;
      assert.equal(nightly?.id, 'nightly');
      assert.equal(nightly.cron, '30 4 * * *');
      assert.equal(nightly.tz, 'UTC');
      assert.deepEqual(nightly.data, { version: 2 });
      assert.ok(nightly.next !== undefined);
      const next = new Date(nightly.next);
      assert.deepEqual([next.getUTCHours(), next.getUTCMinutes()], [4, 30]);
    });

    it('stop() lets a running job finish, then starts nothing new', { timeout: 30_000 }, async () => {
      const runner = harness.open();
      const order: string[] = [];
      const started = deferred();
      let calls = 0;
      runner.register('export', async (job) => {
        calls += 1;
        started.resolve();
        if (!job.signal.aborted) await once(job.signal, 'abort');
        // Still needs the backend after shutdown began: stop() must not have closed it yet.
        await job.progress(100);
        order.push('job finished');
        return 'exported';
      });
      await runner.start();
      const first = await runner.enqueue('export', { n: 1 });
      const second = await runner.enqueue('export', { n: 2 });
      await started.promise;
      await runner.stop().then(() => order.push('stop resolved'));
      assert.deepEqual(order, ['job finished', 'stop resolved']);
      assert.equal(calls, 1, 'the queued job was not started');
      await runner.stop();
      await assert.rejects(runner.enqueue('export', { n: 3 }), rejectsWith('FLOWMAP_JOB_BACKEND', /stopped/));
      const reader = harness.reader(runner);
      const finished = await reader.get(first);
      assert.equal(finished?.state, 'completed');
      assert.equal(finished.result, 'exported');
      assert.equal((await reader.get(second))?.state, 'waiting');
    });

    it('stop() gives up waiting for a job that ignores its signal after stopTimeoutMs', { timeout: 30_000 }, async () => {
      const runner = harness.open({ stopTimeoutMs: 200 });
      const started = deferred<AbortSignal>();
      const release = deferred();
      const returned = deferred();
      let finished = false;
      runner.register('stubborn', async (job) => {
        started.resolve(job.signal);
        try {
          await release.promise;
        } finally {
          finished = true;
          returned.resolve();
        }
      });
      await runner.start();
      await runner.enqueue('stubborn', {});
      const signal = await started.promise;
      // Resolving at all is the point: the handler is held until after stop() returns, so a stop()
      // that waited for it would never resolve and the test would time out.
      await runner.stop();
      assert.equal(finished, false, 'stop() resolved while the handler was still running');
      assert.equal(signal.aborted, true, "the handler's signal was aborted");
      await assert.rejects(runner.enqueue('stubborn', {}), rejectsWith('FLOWMAP_JOB_BACKEND', /runner is stopped; cannot enqueue/));
      release.resolve();
      await returned.promise;
    });

    it('a job name without a handler: in-process refuses it at enqueue; BullMQ fails it once, without retry', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      runner.register('known', () => Promise.resolve());
      await runner.start();
      if (runner.kind === 'inprocess') {
        await assert.rejects(runner.enqueue('unknown-job', {}), rejectsWith('FLOWMAP_JOB_UNKNOWN', /"unknown-job".*registered: known/));
        await assert.rejects(runner.schedule('s', '0 3 * * *', 'unknown-job', {}), rejectsWith('FLOWMAP_JOB_UNKNOWN'));
        return;
      }
      const id = await runner.enqueue('unknown-job', {}, { attempts: 3 });
      const info = await runner.waitFor(id, WAIT_MS);
      assert.equal(info.state, 'failed');
      assert.match(info.failedReason ?? '', /FLOWMAP_JOB_UNKNOWN.*"unknown-job".*registered: known/);
      assert.equal(info.attemptsMade, 1);
    });

    it('enqueuing a jobId that is already known adds nothing', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      let calls = 0;
      runner.register('report', () => {
        calls += 1;
        return Promise.resolve();
      });
      await runner.start();
      const first = await runner.enqueue('report', { day: 1 }, { jobId: 'report-2024-06-01' });
      assert.equal(first, 'report-2024-06-01');
      await runner.waitFor(first, WAIT_MS);
      const again = await runner.enqueue('report', { day: 2 }, { jobId: 'report-2024-06-01' });
      assert.equal(again, first);
      const info = await runner.waitFor(again, WAIT_MS);
      assert.deepEqual(info.data, { day: 1 });
      assert.equal(calls, 1);
    });

    it('rejects invalid enqueue options and an empty schedule id with FLOWMAP_BAD_REQUEST', async () => {
      const runner = harness.open();
      runner.register('report', () => Promise.resolve());
      for (const options of [{ jobId: '42' }, { jobId: 'a:b' }, { attempts: 0 }, { delayMs: -1 }, { backoff: { type: 'fixed' as const, delayMs: -5 } }]) {
        await assert.rejects(runner.enqueue('report', {}, options), rejectsWith('FLOWMAP_BAD_REQUEST'), JSON.stringify(options));
      }
      await assert.rejects(runner.schedule('', '0 3 * * *', 'report', {}), rejectsWith('FLOWMAP_BAD_REQUEST'));
    });

    it('waitFor rejects an unknown id with FLOWMAP_NOT_FOUND, and gives up after its timeout', { timeout: 20_000 }, async () => {
      const runner = harness.open();
      const release = deferred();
      runner.register('hold', () => release.promise);
      await runner.start();
      await assert.rejects(runner.waitFor('no-such-job', WAIT_MS), rejectsWith('FLOWMAP_NOT_FOUND'));
      const id = await runner.enqueue('hold', {});
      await assert.rejects(runner.waitFor(id, 100), rejectsWith('FLOWMAP_JOB_BACKEND', /did not finish within 100 ms/));
      release.resolve();
      assert.equal((await runner.waitFor(id, WAIT_MS)).state, 'completed');
    });

    it('keeps only the newest historyLimit finished jobs', { timeout: 20_000 }, async () => {
      const runner = harness.open({ historyLimit: 3 });
      runner.register('step', () => Promise.resolve());
      await runner.start();
      const ids: string[] = [];
      for (let n = 0; n < 5; n += 1) {
        const id = await runner.enqueue('step', { n });
        await runner.waitFor(id, WAIT_MS);
        ids.push(id);
      }
      const kept = (await runner.list('completed')).map((job) => job.id);
      assert.deepEqual([...kept].sort(), ids.slice(2).sort());
      assert.equal(await runner.get(ids[0] ?? ''), undefined);
    });

    it('ping() resolves while the backend is reachable, and rejects once stopped', async () => {
      const runner = harness.open();
      // A connection still opening counts as reachable once it opens within the ping deadline.
      await runner.ping();
      await runner.stop();
      await assert.rejects(runner.ping(), rejectsWith('FLOWMAP_JOB_BACKEND'));
    });
  });
}

const redis = serviceUrl('redis');
describeRunner('in-process JobRunner', false, inProcessHarness);
describeRunner('BullMQ JobRunner', redis.skip, () => bullmqHarness(redis.url ?? ''));
