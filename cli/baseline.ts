// `flowmap baseline`, `flowmap baseline diff A B` and `flowmap graph`: baselines through the same
// routes the HTTP API serves. In this process (embedded mode: an in-process job runner builds the
// baseline here; service mode: the job goes to BullMQ and a `flowmap worker` builds it), or over
// HTTP against a running flowmap (`--server`, or automatically while `flowmap start` owns the
// embedded data directory, DESIGN.md §9).
import { writeFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { baselineSettingsFrom, GRAPH_FORMATS, registerBaseline } from '../analyzer/baseline/index.js';
import { createJobRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { registerErrorHandling } from '../api/errors.js';
import { baselineRoutes } from '../api/routes/baselines.js';
import { policyRoutes } from '../api/routes/policies.js';
import { intentRoutes } from '../api/routes/intents.js';
import { findingRoutes } from '../api/routes/findings.js';
import { tokenRoutes } from '../api/routes/tokens.js';
import { reportRoutes } from '../api/routes/reports.js';
import { registerReports } from '../analyzer/reports/index.js';
import type { Config } from '../core/config.js';
import { ErrorCodes, FlowmapError, isFlowmapError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createStore, type Store } from '../store/index.js';
import { authHeader, localServer } from './server.js';
import { errorOf } from '../api/errors.js';

const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ErrorCodes, code);

export interface Answer {
  status: number;
  text: string;
  /** The body as sent (PDF downloads). */
  bytes: Buffer;
  json(): Record<string, unknown>;
}

export interface Session {
  call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<Answer>;
  /** In-process sessions build baselines here; a remote one relies on the server's workers. */
  readonly local: boolean;
  close(): Promise<void>;
}

const answer = (status: number, bytes: Buffer): Answer => {
  const text = bytes.toString('utf8');
  return {
    status,
    text,
    bytes,
    json() {
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        return { message: `answered ${status} without a JSON body` };
      }
    },
  };
};

/** A session on the baseline and policy routes: in this process, or over HTTP (`--server`, or a running flowmap owning the data directory). */
export async function open(config: Config, logger: Logger, server: string | undefined, err: (line: string) => void): Promise<Session> {
  if (server !== undefined) return remote(server);
  let store: Store;
  try {
    store = await createStore(config, { logger });
  } catch (e) {
    if (!isFlowmapError(e, 'FLOWMAP_STORE_LOCKED')) throw e;
    const url = localServer(config);
    err(`the data directory is in use by a running flowmap; asking it at ${url}`);
    return remote(url);
  }
  await store.migrate();
  const settings = baselineSettingsFrom(config);
  const jobs: JobRunner = createJobRunner({ redisUrl: config.redis.url, prefix: config.redis.prefix, stopTimeoutMs: 10_000 }, { logger });
  // Embedded mode: this process is the worker. Service mode: workers build it; this one only enqueues.
  const local = jobs.kind === 'inprocess';
  if (local) {
    await registerBaseline(jobs, store, { ...settings, cron: 'off' }, logger);
    await registerReports(jobs, store, settings, { cron: 'off', logger });
    await jobs.start();
  }
  const app: FastifyInstance = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: 'array' } } });
  registerErrorHandling(app);
  await app.register(baselineRoutes(store, jobs, settings));
  await app.register(policyRoutes(store, settings));
  await app.register(intentRoutes(store));
  await app.register(findingRoutes(store, settings));
  await app.register(tokenRoutes(store.meta, { forget: () => undefined }));
  await app.register(reportRoutes(store, jobs));
  return {
    local,
    async call(method, url, body) {
      const response = await app.inject({ method, url, headers: { 'x-flowmap-client': 'cli' }, ...(body === undefined ? {} : { payload: body as Record<string, unknown> }) });
      return answer(response.statusCode, response.rawPayload);
    },
    async close() {
      await app.close();
      await jobs.stop();
      await store.close();
    },
  };
}

function remote(server: string): Session {
  const base = server.replace(/\/+$/, '');
  return {
    local: false,
    async call(method, url, body) {
      let response: Response;
      try {
        response = await fetch(`${base}${url}`, {
          method,
          headers: { 'x-flowmap-client': 'cli', ...authHeader(base), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(300_000),
        });
      } catch (e) {
        throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `cannot reach ${base}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      return answer(response.status, Buffer.from(await response.arrayBuffer()));
    },
    async close() {},
  };
}

/**
 * Every page of a list route: follows nextCursor and concatenates the `key` arrays; the other
 * fields come from the first page.
 */
export async function allPages(session: Session, url: string, key: string): Promise<Record<string, unknown>> {
  const first = ok(await session.call('GET', url));
  const items = [...((first[key] as unknown[] | undefined) ?? [])];
  let cursor = first.nextCursor;
  while (typeof cursor === 'string') {
    const page = ok(await session.call('GET', `${url}${url.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}`));
    items.push(...((page[key] as unknown[] | undefined) ?? []));
    cursor = page.nextCursor;
  }
  const { nextCursor: _last, ...rest } = first;
  return { ...rest, [key]: items };
}

/** The JSON body of an answer with the expected status, or the server's error as a FlowmapError. */
export function ok(a: Answer, expected = 200): Record<string, unknown> {
  if (a.status === expected) return a.json();
  const error = errorOf(a.json());
  const message = error?.message ?? `the server answered ${a.status}`;
  const code = error !== undefined && isErrorCode(error.code) ? error.code : a.status >= 500 ? 'FLOWMAP_STORE_UNAVAILABLE' : 'FLOWMAP_BAD_REQUEST';
  throw new FlowmapError(code, message, { status: a.status });
}

export interface BaselineCommandOptions {
  days?: string;
  end?: string;
  groupBy?: string;
  wait?: boolean;
  force?: boolean;
  json?: boolean;
  server?: string;
}

interface BaselineJson {
  id: string;
  status: string;
  error?: string;
  lastError?: string;
  progress?: unknown;
  window?: { from: string; to: string; days: number };
  params: { groupBy: string[] };
  summary?: Record<string, unknown>;
  timings?: Record<string, number>;
}

function progressLine(b: BaselineJson): string {
  const p = typeof b.progress === 'object' && b.progress !== null ? (b.progress as Record<string, unknown>) : {};
  const percent = b.status === 'completed' ? 100 : typeof p.percent === 'number' ? p.percent : typeof b.progress === 'number' ? b.progress : 0;
  const width = 30;
  const filled = Math.round((width * Math.max(0, Math.min(100, percent))) / 100);
  const flows = typeof p.flows === 'number' ? ` ${p.flows.toLocaleString('en-US')} flows` : '';
  const stage = b.status === 'completed' || b.status === 'failed' ? b.status : typeof p.stage === 'string' ? p.stage : b.status;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(percent)).padStart(3)}% ${stage}${flows}`;
}

function summaryText(b: BaselineJson): string {
  const s = b.summary ?? {};
  const n = (key: string): string => (typeof s[key] === 'number' ? (s[key]).toLocaleString('en-US') : '?');
  const window = b.window === undefined ? '' : ` ${b.window.from} .. ${b.window.to} (${b.window.days} days)`;
  return [
    `baseline ${b.id}: ${b.status}${window}, groups by ${b.params.groupBy.join(',')}`,
    ...(b.status === 'completed'
      ? [`  ${n('groups')} groups, ${n('edges')} edges, ${n('hostPairs')} host pairs; ${n('flows')} flows, ${n('bytes')} bytes`, `  ${n('conversations')} conversations, ${n('flipped')} turned round by listener evidence`]
      : []),
    ...(b.error === undefined ? [] : [`  error: ${b.error}`]),
  ].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function baselineCommand(options: BaselineCommandOptions, config: Config, logger: Logger, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const body: Record<string, unknown> = {};
  if (options.days !== undefined) {
    const days = Number(options.days);
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--days must be a whole number from 1 to 366, not ${options.days}`);
    body.days = days;
  }
  if (options.end !== undefined) body.end = options.end;
  if (options.groupBy !== undefined) body.groupBy = options.groupBy;
  if (options.force === true) body.force = true;
  const session = await open(config, logger, options.server, warn);
  try {
    const started = ok(await session.call('POST', '/api/v1/baselines', body), 202);
    let baseline = started.baseline as BaselineJson;
    if (started.created === false) warn(`baseline ${baseline.id} for this window exists already (${baseline.status}); use --force to build it again`);
    // In embedded mode the build runs in this process: leaving early would stop it.
    const wait = options.wait === true || session.local;
    if (wait) {
      const tty = process.stderr.isTTY === true && options.json !== true;
      let last = '';
      if (!session.local && baseline.status === 'queued') warn(`queued as job ${baseline.id}; waiting for a flowmap worker to take it`);
      while (baseline.status === 'queued' || baseline.status === 'running') {
        await sleep(tty ? 250 : 1000);
        baseline = ok(await session.call('GET', `/api/v1/baselines/${baseline.id}`)) as unknown as BaselineJson;
        const line = progressLine(baseline);
        if (tty) process.stderr.write(`\r${line}`);
        else if (line.replace(/^\[[#.]*\]\s*/, '').split(' ')[1] !== last.replace(/^\[[#.]*\]\s*/, '').split(' ')[1]) warn(line);
        last = line;
      }
      if (tty) process.stderr.write('\n');
    }
    print(options.json === true ? JSON.stringify(baseline) : summaryText(baseline));
    return baseline.status === 'failed' ? 1 : 0;
  } finally {
    await session.close();
  }
}

interface DiffJson {
  a: string;
  b: string;
  summary: Record<string, number>;
  added: { from: string; to: string; protocol: string; port: number; flows: number }[];
  removed: { from: string; to: string; protocol: string; port: number; flows: number }[];
  newPorts: { from: string; to: string; protocol: string; ports: number[] }[];
  volume: { edge: { from: string; to: string; protocol: string; port: number }; change: number | null; bytesBefore: number; bytesAfter: number }[];
}

export async function baselineDiffCommand(a: string, b: string, options: { threshold?: string; json?: boolean; server?: string }, config: Config, logger: Logger, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const session = await open(config, logger, options.server, warn);
  try {
    const threshold = options.threshold === undefined ? '' : `?threshold=${encodeURIComponent(options.threshold)}`;
    const diff = ok(await session.call('GET', `/api/v1/baselines/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}${threshold}`)) as unknown as DiffJson;
    if (options.json === true) {
      print(JSON.stringify(diff));
      return 0;
    }
    const edge = (e: { from: string; to: string; protocol: string; port: number }): string => `${e.from} -> ${e.to} ${e.protocol}/${e.port}`;
    print(`from ${diff.a} to ${diff.b}: ${diff.summary.added ?? 0} new, ${diff.summary.removed ?? 0} vanished, ${diff.summary.newPorts ?? 0} new ports, ${diff.summary.volume ?? 0} volume changes`);
    for (const e of diff.added) print(`+ ${edge(e)}  (${e.flows} flows)`);
    for (const e of diff.removed) print(`- ${edge(e)}  (${e.flows} flows before)`);
    for (const p of diff.newPorts) print(`~ ${p.from} -> ${p.to} ${p.protocol}: new ports ${p.ports.join(',')}`);
    for (const v of diff.volume) print(`~ ${edge(v.edge)}: ${v.change === null ? 'traffic where there were no bytes before' : `bytes/day ${v.change >= 0 ? '+' : ''}${Math.round(v.change * 100)}%`}`);
    return 0;
  } finally {
    await session.close();
  }
}

/** A download to `--out FILE` (saying so on stderr), or to standard output. */
export function writeOrPrint(text: string, out: string | undefined, print: (line: string) => void, warn: (line: string) => void): void {
  if (out !== undefined) {
    writeFileSync(out, text);
    warn(`wrote ${out} (${text.length.toLocaleString('en-US')} bytes)`);
  } else {
    print(text.replace(/\n$/, ''));
  }
}

export async function graphCommand(options: { baseline?: string; format?: string; out?: string; server?: string }, config: Config, logger: Logger, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const format = options.format ?? 'json';
  if (!(GRAPH_FORMATS as readonly string[]).includes(format)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--format must be one of ${GRAPH_FORMATS.join(', ')}, not ${format}`);
  const session = await open(config, logger, options.server, warn);
  try {
    const id = options.baseline ?? 'latest';
    const a = await session.call('GET', `/api/v1/baselines/${encodeURIComponent(id)}/graph?format=${format}`);
    if (a.status !== 200) ok(a);
    writeOrPrint(a.text, options.out, print, warn);
    return 0;
  } finally {
    await session.close();
  }
}
