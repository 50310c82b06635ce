// BullMQ-only behaviour the in-process runner has no counterpart for: losing Redis and getting it
// back. Runs against a private redis-server this test stops and restarts, with process-level
// counters proving no error escaped as an uncaught exception or unhandled rejection.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { isFlowmapError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { serviceUrl, startRedis } from '../../test/services.js';
import { createBullmqRunner } from './index.js';
import { eventually } from './testing.js';

/** How soon a readiness probe must report a lost dependency. */
const READINESS_BOUND_MS = 5000;

/** The messages logged, to check what the runner reported without asserting on its wording much. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; messages: string[] } {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') messages.push((JSON.parse(line) as { msg: string }).msg);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'info' }, sink), messages };
}

describe('BullMQ JobRunner when Redis goes away and comes back', { skip: serviceUrl('redis').skip }, () => {
  it('ping() rejects within 5 s while Redis is down, recovers after restart, and nothing escapes to the process', { timeout: 90_000 }, async () => {
    const faults: string[] = [];
    const onUncaught = (err: Error): void => { faults.push(`uncaughtException: ${err.message}`); };
    const onUnhandled = (reason: unknown): void => { faults.push(`unhandledRejection: ${String(reason)}`); };
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
    const redis = await startRedis();
    const { logger, messages } = capturedLogger();
    const runner = createBullmqRunner({ redisUrl: redis.url, prefix: 'outage' }, { logger });
    try {
      runner.register<{ n: number }, number>('echo', ({ data }) => Promise.resolve(data.n));
      await runner.start();
      await runner.ping();
      const before = await runner.enqueue('echo', { n: 1 });
      assert.equal((await runner.waitFor(before, 10_000)).result, 1);

      await redis.stop();
      const pingedAt = Date.now();
      await assert.rejects(runner.ping(), (err) => isFlowmapError(err, 'FLOWMAP_JOB_BACKEND'));
      const elapsed = Date.now() - pingedAt;
      // ping() gives up after its own 1 s; the bound asserted is the readiness one (a probe must
      // report "not ready" within 5 s), with room for a busy CI machine. It still fails a ping that
      // waits out the reconnect or a queued command instead of answering.
      assert.ok(elapsed < READINESS_BOUND_MS, `ping took ${elapsed} ms to fail, more than the ${READINESS_BOUND_MS} ms readiness bound`);
      // Callers get a coded error promptly instead of hanging on a queued command.
      await assert.rejects(runner.enqueue('echo', { n: 2 }), (err) => isFlowmapError(err, 'FLOWMAP_JOB_BACKEND'));

      await redis.start();
      await eventually(() => runner.ping(), 15_000);
      // The worker resumes on its own: a job enqueued after the restart runs to completion.
      const after = await eventually(() => runner.enqueue('echo', { n: 3 }), 15_000);
      assert.equal((await runner.waitFor(after, 30_000)).result, 3);
      assert.ok(messages.includes('job backend connection lost'), `the outage was logged: ${JSON.stringify(messages)}`);
      assert.ok(messages.includes('job backend connection restored'), 'the recovery was logged');
    } finally {
      await runner.stop();
      await redis.dispose();
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(faults, []);
  });
});
