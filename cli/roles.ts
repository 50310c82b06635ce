// Runs flowmap's roles in this process: `start` runs all of them (embedded or service mode),
// `api` and `worker` run one each (service mode, any number of processes). Owns the wiring —
// config → store → jobs → API — and the orderly shutdown on SIGINT/SIGTERM.
import { createApi } from '../api/server.js';
import { createJobRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { modeOf, type Config } from '../core/config.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { flowmapVersion } from '../core/version.js';
import { createStore, type Store } from '../store/index.js';

export type Role = 'api' | 'worker';

export interface RunOptions {
  roles: ReadonlySet<Role>;
  /** Apply pending migrations before serving (what `start` does). */
  migrate: boolean;
}

export interface Running {
  /** Where the API listens, when the api role runs. */
  api?: { host: string; port: number };
  stop(): Promise<void>;
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

  try {
    const store: Store = await createStore(config, { logger });
    stops.push(() => store.close());
    if (options.migrate) {
      const report = await store.migrate();
      logger.info({ applied: report.applied.map((m) => m.name), alreadyApplied: report.alreadyApplied }, 'migrations checked');
    }

    const jobs: JobRunner = createJobRunner({ redisUrl: config.redis.url, prefix: config.redis.prefix, stopTimeoutMs: JOBS_STOP_TIMEOUT_MS }, { logger });
    stops.push(() => jobs.stop());
    if (options.roles.has('worker')) await jobs.start();

    let api: Running['api'];
    if (options.roles.has('api')) {
      const server = await createApi(config.api, {
        logger,
        version,
        mode,
        checks: [
          { name: 'store', check: () => store.ping() },
          { name: 'jobs', check: () => jobs.ping() },
        ],
      });
      stops.push(() => server.stop());
      api = await server.start();
      logger.info({ url: `http://${api.host}:${api.port}`, docs: `http://${api.host}:${api.port}/docs` }, 'api listening');
    }
    logger.info('flowmap ready');
    return { api, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Longest an orderly shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 25_000;
/** Running jobs get this long to finish on shutdown, inside SHUTDOWN_DEADLINE_MS. */
const JOBS_STOP_TIMEOUT_MS = 15_000;

/**
 * Keeps the process alive until SIGINT or SIGTERM, then stops everything and exits 0. Repeated
 * signals during shutdown are ignored: Ctrl-C under `npm start` reaches this process twice (from
 * the terminal and forwarded by npm). Shutdown is bounded by SHUTDOWN_DEADLINE_MS instead.
 */
export function stopOnSignals(running: Running, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.debug({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
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
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
