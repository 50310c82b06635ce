// The baseline job on BullMQ (issue 8, acceptance 3): two `flowmap worker` processes against one
// Redis and one ClickHouse. Two requests for the same window queue one job and one build; a worker
// killed in the middle of a build (ClickHouse frozen under it, so it is caught holding the job)
// loses its lock, and the other worker retries the job to completion.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BASELINE_JOB, baselineId, getGraph, getRecord, paramsFor, requestBaseline, type BaselineSettings } from '../analyzer/baseline/index.js';
import { createBullmqRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { deferred, eventually } from '../analyzer/jobs/testing.js';
import { silentLogger } from '../core/logger.js';
import { buildEstate } from '../simulator/index.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import type { Store } from '../store/index.js';
import { loadEstate } from './baseline-truth.js';
import { onPath, serviceUrl, startClickHouse, type ServiceHandle } from './services.js';

const redis = serviceUrl('redis');
const root = join(import.meta.dirname, '..');
const END = Date.parse('2026-11-30T00:00:00Z') / 1000;
const LOCK_MS = 2000;
const skip = redis.skip !== false ? redis.skip : onPath('clickhouse-server') ? false : 'clickhouse-server is not on PATH';
if (skip !== false && process.env.CI === 'true') throw new Error(`CI=true and the BullMQ baseline test cannot run: ${skip}`);

interface Worker {
  name: string;
  child: ChildProcess;
  lines: Record<string, unknown>[];
  ready: Promise<void>;
  exited: Promise<void>;
}

describe('baseline jobs on BullMQ with two workers', { skip }, () => {
  let clickhouse: ServiceHandle;
  let store: Store;
  let runner: JobRunner;
  const database = `jobs_${process.pid}`;
  const prefix = `flowmap_test_${process.pid}`;
  const workers: Worker[] = [];
  const settings: BaselineSettings = { days: 7, cron: 'off', keep: 100, resolver: { groupBy: ['app', 'env'] } };

  const startWorker = (name: string): Worker => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'worker'], {
      cwd: root,
      env: {
        ...process.env,
        CLICKHOUSE_URL: clickhouse.url,
        CLICKHOUSE_DATABASE: database,
        REDIS_URL: redis.url,
        FLOWMAP_REDIS_PREFIX: prefix,
        FLOWMAP_JOB_LOCK_MS: String(LOCK_MS),
        FLOWMAP_BASELINE_CRON: 'off',
        FLOWMAP_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = deferred();
    const exited = deferred();
    const worker: Worker = { name, child, lines: [], ready: ready.promise, exited: exited.promise };
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let at: number;
      while ((at = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          worker.lines.push(parsed);
          if (parsed.msg === 'flowmap ready') ready.resolve();
        } catch {
          // not a log line
        }
      }
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.once('exit', (code, signal) => {
      const last = worker.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n');
      ready.reject(new Error(`worker ${name} exited (${code ?? signal}) before it was ready:\n${stderr.slice(-2000)}\n${last}`));
      exited.resolve();
    });
    workers.push(worker);
    return worker;
  };
  const started = (w: Worker, id: string): Record<string, unknown>[] => w.lines.filter((l) => l.msg === 'baseline started' && l.id === id);

  before(async () => {
    clickhouse = await startClickHouse();
    store = await createClickHouseStore({ url: clickhouse.url, database, user: 'default', password: '', requestTimeoutMs: 60_000 }, { logger: silentLogger() });
    await store.migrate();
    await loadEstate(store, buildEstate('small', { seed: 3, days: 14, end: END }));
    runner = createBullmqRunner({ redisUrl: redis.url as string, prefix }, { logger: silentLogger() });
    const a = startWorker('a');
    const b = startWorker('b');
    await Promise.all([a.ready, b.ready]);
  });

  after(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await runner?.stop();
    await store?.close();
    await clickhouse?.dispose();
  });

  it('builds one baseline once when the same window is requested twice at the same time', async () => {
    const request = { end: END, days: 7 };
    const [first, second] = await Promise.all([requestBaseline(runner, store, settings, request), requestBaseline(runner, store, settings, request)]);
    assert.equal(first.record.id, second.record.id);
    const info = await runner.waitFor(first.record.id, 60_000);
    assert.equal(info.state, 'completed');
    const record = await getRecord(store.meta, first.record.id);
    assert.equal(record?.status, 'completed');
    assert.ok((record?.summary?.edges ?? 0) > 10, `edges: ${record?.summary?.edges}`);
    const builds = workers.flatMap((w) => started(w, first.record.id));
    assert.equal(builds.length, 1, 'exactly one worker built it, once');
    const runs = (await store.meta.history('baselines', first.record.id)).filter((e) => (e.value as { status?: string }).status === 'running');
    assert.equal(runs.length, 1);
    // A third request for the built window is answered from the record; nothing is queued.
    const third = await requestBaseline(runner, store, settings, request);
    assert.equal(third.created, false);
    assert.equal(third.record.status, 'completed');
  });

  it("retries a killed worker's job on the other worker, which completes it", async () => {
    const params = paramsFor({ end: END - 86_400, days: 7 }, settings);
    const id = baselineId(params);
    // Delayed, so that ClickHouse is frozen by the time a worker takes it: the build then hangs
    // on its first query, and the worker is caught holding the job.
    await runner.enqueue(BASELINE_JOB, { id, params, trigger: 'api' }, { jobId: id, delayMs: 2000, attempts: 3, backoff: { type: 'fixed', delayMs: 500 } });
    clickhouse.pause();
    let holder: Worker | undefined;
    try {
      holder = await eventually(async () => {
        const found = workers.find((w) => started(w, id).length > 0);
        if (found === undefined) throw new Error('no worker has started the job yet');
        return found;
      }, 30_000);
      assert.equal((await runner.get(id))?.state, 'active');
      holder.child.kill('SIGKILL');
      await holder.exited;
    } finally {
      clickhouse.resume();
    }
    const info = await runner.waitFor(id, 90_000);
    assert.equal(info.state, 'completed', `state ${info.state}: ${info.failedReason ?? ''}`);
    const survivor = workers.find((w) => w !== holder);
    assert.ok(survivor !== undefined && started(survivor, id).length === 1, 'the other worker ran it');
    assert.ok(survivor.lines.some((l) => l.msg === 'baseline completed' && l.id === id));
    const record = await getRecord(store.meta, id);
    assert.equal(record?.status, 'completed');
    const graph = await getGraph(store.meta, id);
    assert.equal(graph?.edges.length, record?.summary?.edges);
  });
});
