// Runs flowmap's roles in this process: `start` runs all of them (embedded or service mode),
// `api` and `worker` run one each (service mode, any number of processes). Owns the wiring —
// config → store → jobs → API — and the orderly shutdown on SIGINT/SIGTERM.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapAdminToken } from '../api/tokens.js';
import { announceFindings, createNotifier, parseSyslogTarget, registerFindingEvents, reportEvent, type Notifier } from '../analyzer/notify/index.js';
import { registerReports } from '../analyzer/reports/index.js';
import { localTokenFile } from './server.js';
import { createApi } from '../api/server.js';
import { createMetrics } from '../api/metrics.js';
import { registerEvidence } from '../analyzer/evidence.js';
import { registerRetention } from '../analyzer/retention.js';
import { baselineSettingsFrom, registerBaseline } from '../analyzer/baseline/index.js';
import { startCollector } from '../collector/service.js';
import { createServicePorts } from '../collector/service-ports.js';
import { createWatcher } from '../collector/cloud/watch.js';
import { createJobRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { modeOf, type Config } from '../core/config.js';
import { describeError, FlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { flowmapVersion } from '../core/version.js';
import { createStore, type ExporterStatus, type Store } from '../store/index.js';

export type Role = 'api' | 'worker' | 'collector';

/** Longest an orderly shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 25_000;
/** Running jobs get this long to finish on shutdown, inside SHUTDOWN_DEADLINE_MS. */
const JOBS_STOP_TIMEOUT_MS = 15_000;

export interface RunOptions {
  roles: ReadonlySet<Role>;
  /** Apply pending migrations before serving (what `start` does); otherwise refuse to serve a store with pending ones. */
  migrate: boolean;
  /** Aborted by a signal during start-up: stop starting, clean up, and resolve with what stopped. */
  signal?: AbortSignal;
}

export interface Running {
  /** Where the API listens, when the api role runs. */
  api?: { host: string; port: number };
  /** The embedded server's own admin token (the demo and the local CLI use it). */
  localToken?: string;
  /** The collector's UDP endpoints, when the collector role runs. */
  collector?: { address: string; port: number; receiveBufferBytes: number }[];
  stop(): Promise<void>;
}

/**
 * What a worker runs: retention, listener evidence, the baseline (whose completion queues the
 * new-finding events), the report (whose completion is an event), and the deliveries of both.
 */
export async function registerWorkerJobs(jobs: JobRunner, store: Store, config: Config, notifier: Notifier, logger: Logger): Promise<void> {
  await registerRetention(jobs, store, { days: config.retention.days }, logger);
  await registerEvidence(jobs, store, logger);
  const settings = baselineSettingsFrom(config);
  registerFindingEvents(jobs, store, settings, notifier);
  await registerBaseline(jobs, store, settings, logger, { onCompleted: (record) => announceFindings(jobs, record) });
  await registerReports(jobs, store, settings, {
    cron: config.reports.cron,
    keep: config.reports.keep,
    logger,
    onCompleted: async (report) => {
      await notifier.publish(reportEvent({ id: report.id, baseline: report.baseline, window: report.window, generatedAt: report.generatedAt, totals: report.totals }, { time: report.generatedAt }));
    },
  });
}

export async function runRoles(config: Config, logger: Logger, options: RunOptions): Promise<Running> {
  const mode = modeOf(config);
  const version = flowmapVersion();
  logger.info({ version, mode, roles: [...options.roles], store: mode === 'service' ? 'clickhouse' : 'duckdb', jobs: config.redis.url !== undefined ? 'bullmq' : 'inprocess' }, 'flowmap starting');

  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err: describeError(err) }, 'error during shutdown');
      }
    }
    stops.length = 0;
  };

  const aborted = (): boolean => options.signal?.aborted === true;
  try {
    const store: Store = await createStore(config, { logger });
    stops.push(() => store.close());
    if (options.migrate) {
      const report = await store.migrate();
      logger.info({ applied: report.applied.map((m) => m.name), alreadyApplied: report.alreadyApplied }, 'migrations checked');
    } else {
      const pending = await store.pendingMigrations();
      if (pending.length > 0) {
        throw new FlowmapError('FLOWMAP_MIGRATION_PENDING', `the store has ${pending.length} migration(s) not applied (${pending.join(', ')}); run \`flowmap migrate\` first`, {
          details: { pending },
        });
      }
    }
    if (aborted()) return { stop: stopAll };

    const metrics = createMetrics(version);
    // A lone collector needs no job backend (service mode may run collectors without Redis).
    const needsJobs = options.roles.has('api') || options.roles.has('worker');
    const jobs: JobRunner | undefined = needsJobs
      ? createJobRunner({ redisUrl: config.redis.url, prefix: config.redis.prefix, stopTimeoutMs: JOBS_STOP_TIMEOUT_MS, lockMs: config.redis.jobLockMs }, { logger })
      : undefined;
    if (jobs !== undefined) stops.push(() => jobs.stop());
    // Webhooks and syslog: any process with jobs publishes; workers deliver.
    const notifier: Notifier | undefined =
      jobs === undefined
        ? undefined
        : createNotifier({ store, jobs, logger }, { syslog: config.notify.syslog.map((url) => parseSyslogTarget(url)), attempts: config.notify.attempts, backoffMs: config.notify.backoffMs });
    if (notifier !== undefined) {
      stops.push(async () => notifier.close());
      if (options.roles.has('worker')) notifier.register();
    }
    if (jobs !== undefined && notifier !== undefined && options.roles.has('worker')) {
      await registerWorkerJobs(jobs, store, config, notifier, logger);
      await jobs.start();
    }
    if (aborted()) return { stop: stopAll };

    let collector: Running['collector'];
    let liveExporters: (() => ExporterStatus[]) | undefined;
    if (options.roles.has('collector')) {
      const c = config.collector;
      const running = await startCollector(
        {
          listen: c.listen,
          receiveBufferBytes: c.receiveBufferBytes,
          allow: c.allow,
          workers: c.workers,
          batchRows: c.batchRows,
          flushIntervalMs: c.flushIntervalMs,
          spoolDir: c.spoolDir ?? join(config.data, 'spool'),
          spoolMaxBytes: c.spoolMaxBytes,
          servicePorts: c.servicePorts,
          samplingRate: c.samplingRate,
          timestamps: c.timestamps,
          id: c.id,
          stateFile: join(config.data, `decoder-state-${c.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`),
        },
        { store, logger, registry: metrics.registry },
      );
      // Stopped before the store closes (stops run in reverse), so its last batches get inserted.
      stops.push(() => running.stop());
      collector = [...running.endpoints];
      liveExporters = () => running.exporters();
      if (config.ingest.watch.length > 0) {
        const watcher = createWatcher(
          {
            dirs: config.ingest.watch,
            intervalMs: config.ingest.watchIntervalMs,
            after: config.ingest.watchAfter,
            awsFormat: config.ingest.awsFormat,
            stateFile: join(config.data, 'ingest-watch.json'),
            servicePorts: createServicePorts({ extra: c.servicePorts }),
            batchRows: c.batchRows,
          },
          { store, target: { insertFlows: (batch) => running.ingest(batch) }, logger, registry: metrics.registry },
        );
        // Stopped before the collector (stops run in reverse): a file in progress is interrupted
        // between batches and resumed after them at the next start.
        stops.push(() => watcher.stop());
        watcher.start();
      }
    }
    if (aborted()) return { stop: stopAll };

    let api: Running['api'];
    let localToken: string | undefined;
    if (options.roles.has('api') || options.roles.has('collector')) {
      // A collector-only process serves health, readiness and metrics; the /api/v1 routes come with the api role.
      const checks = [{ name: 'store', check: () => store.ping() }];
      if (jobs !== undefined) checks.push({ name: 'jobs', check: () => jobs.ping() });
      const apiRole = options.roles.has('api');
      // First start: the store holds no token yet, so there is an admin token to print once.
      if (apiRole && config.api.auth === 'on') {
        const created = await bootstrapAdminToken(store.meta);
        if (created !== undefined) {
          process.stderr.write(`\nflowmap: first start — an admin API token was created. It is shown this once; store it now:\n\n    ${created.token}\n\nUse it as "Authorization: Bearer <token>" (FLOWMAP_TOKEN for the CLI) and create others with \`flowmap token create\`.\n\n`);
          logger.warn({ token: created.record.id }, 'first start: admin API token created and printed on stderr');
        }
      }
      // Embedded mode: the CLI on this machine talks to this server with a token only readers of
      // the data directory (who could open the database anyway) can read; it lives as long as the process.
      if (apiRole && mode === 'embedded') {
        localToken = `flowmap_local_${randomBytes(32).toString('base64url')}`;
        const file = localTokenFile(config.data);
        mkdirSync(config.data, { recursive: true });
        writeFileSync(file, `${localToken}\n`, { mode: 0o600 });
        stops.push(async () => rmSync(file, { force: true }));
      }
      const server = await createApi(config.api, {
        ...(localToken === undefined ? {} : { localToken }),
        logger,
        version,
        mode,
        metrics,
        checks,
        store: apiRole ? store : undefined,
        liveExporters,
        servicePorts: createServicePorts({ extra: config.collector.servicePorts }),
        firehoseAccessKey: config.ingest.firehoseAccessKey,
        awsFormat: config.ingest.awsFormat,
        uploadMaxBytes: config.ingest.uploadMaxBytes,
        inventory: config.inventory,
        ...(jobs === undefined ? {} : { jobs }),
        ...(notifier === undefined ? {} : { notifier }),
        baseline: baselineSettingsFrom(config),
      });
      stops.push(() => server.stop());
      api = await server.start();
      logger.info({ url: `http://${api.host}:${api.port}`, docs: `http://${api.host}:${api.port}/docs` }, 'api listening');
    }
    logger.info('flowmap ready');
    return { api, collector, ...(localToken === undefined ? {} : { localToken }), stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}


/**
 * Installs SIGINT/SIGTERM handling before anything starts. A signal during start-up aborts it
 * (`signal`); once `serving(running)` was called, a signal stops everything and exits 0.
 * Repeated signals are ignored: Ctrl-C under `npm start` reaches this process twice (from the
 * terminal and forwarded by npm). Shutdown is bounded by SHUTDOWN_DEADLINE_MS instead.
 */
export function handleSignals(logger: Logger): { signal: AbortSignal; serving(running: Running): void; failed(): void } {
  const controller = new AbortController();
  let running: Running | undefined;
  let stopping = false;

  const stop = (): void => {
    if (running === undefined || stopping) return;
    stopping = true;
    setTimeout(() => {
      logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    running.stop().then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exitCode = 0;
        // Handles from libraries (sockets in keep-alive pools) must not keep a stopped process up.
        setTimeout(() => process.exit(0), 500).unref();
      },
      (err: unknown) => {
        logger.error({ err: describeError(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      logger.debug({ signal }, 'already shutting down');
      return;
    }
    logger.info({ signal }, running === undefined ? 'signal during start-up; stopping' : 'shutting down');
    controller.abort();
    // During start-up a hung dependency (a ClickHouse that drops packets) could hold us far
    // longer than an operator expects; the deadline applies from the signal on.
    if (running === undefined) {
      setTimeout(() => {
        logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'start-up did not stop in time; exiting');
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS).unref();
    }
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  return {
    signal: controller.signal,
    serving(r: Running) {
      running = r;
      if (controller.signal.aborted) stop();
    },
    failed() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
