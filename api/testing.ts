// Helpers other tests use: the whole API (every route, auth on) over a real embedded store and an
// in-process job runner, with one token of each role, and a walk over its OpenAPI document.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { baselineSettingsFrom, registerBaseline, type BaselineSettings } from '../analyzer/baseline/index.js';
import { createInProcessRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { createNotifier } from '../analyzer/notify/index.js';
import { registerReports } from '../analyzer/reports/index.js';
import { configSchema } from '../core/config.js';
import { silentLogger } from '../core/logger.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import type { RouteClass } from './auth.js';
import { createApi, type ApiConfig } from './server.js';
import { createToken, ROLES, type Role } from './tokens.js';

export interface TestApi {
  app: FastifyInstance;
  store: Store;
  jobs: JobRunner;
  settings: BaselineSettings;
  tokens: Record<Role, string>;
  close(): Promise<void>;
}

/** Every class limited as given (default: high enough that a test walking every route meets none). */
export async function startTestApi(options: { store?: Store; config?: Partial<ApiConfig>; rateLimit?: Partial<Record<RouteClass, number>>; settings?: BaselineSettings } = {}): Promise<TestApi> {
  const dir = options.store === undefined ? mkdtempSync(join(tmpdir(), 'flowmap-api-')) : undefined;
  const store = options.store ?? (await createDuckDBStore({ dataDir: dir as string }, { logger: silentLogger() }));
  await store.migrate();
  const settings = options.settings ?? baselineSettingsFrom(configSchema.parse({ baseline: { cron: 'off' } }));
  const jobs = createInProcessRunner({}, { logger: silentLogger() });
  await registerBaseline(jobs, store, { ...settings, cron: 'off' }, silentLogger());
  await registerReports(jobs, store, settings, { cron: 'off', logger: silentLogger() });
  const notifier = createNotifier({ store, jobs, logger: silentLogger() }, { attempts: 1 });
  notifier.register();
  await jobs.start();
  const high = 1_000_000;
  const api = await createApi(
    { host: '127.0.0.1', port: 0, rateLimit: { read: high, write: high, heavy: high, upload: high, ...options.rateLimit }, authFailuresPerMinute: high, ...options.config },
    { logger: silentLogger(), version: '0.0.0-test', mode: 'embedded', checks: [], store, jobs, baseline: settings, notifier },
  );
  await api.app.ready();
  const tokens = {} as Record<Role, string>;
  for (const role of ROLES) tokens[role] = (await createToken(store.meta, { name: `test ${role}`, role, createdBy: 'test' })).token;
  return {
    app: api.app,
    store,
    jobs,
    settings,
    tokens,
    async close() {
      await api.stop();
      await jobs.stop();
      notifier.close();
      if (options.store === undefined) {
        await store.close();
        rmSync(dir as string, { recursive: true, force: true });
      }
    },
  };
}

export interface Operation {
  method: string;
  /** OpenAPI path, `{name}` for parameters. */
  path: string;
  role: 'public' | Role;
  routeClass: RouteClass;
  parameters: { name: string; in: 'path' | 'query'; schema: Record<string, unknown>; required: boolean }[];
  /** JSON request body schema, when the operation takes one as JSON. */
  body?: Record<string, unknown>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, { 'x-flowmap-role'?: string; 'x-flowmap-class'?: string; parameters?: { name: string; in: string; schema?: Record<string, unknown>; required?: boolean }[]; requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> } }>>;
}

/** The operations under /api/v1 of an OpenAPI document, with what they declare. */
export function operations(document: unknown): Operation[] {
  const doc = document as OpenApiDocument;
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/api/v1')) continue;
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const body = op.requestBody?.content?.['application/json']?.schema;
      out.push({
        method: method.toUpperCase(),
        path,
        role: (op['x-flowmap-role'] ?? 'undeclared') as Operation['role'],
        routeClass: (op['x-flowmap-class'] ?? 'read') as RouteClass,
        parameters: (op.parameters ?? []).filter((p) => p.in === 'path' || p.in === 'query').map((p) => ({ name: p.name, in: p.in as 'path' | 'query', schema: p.schema ?? {}, required: p.required === true })),
        ...(body === undefined ? {} : { body }),
      });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

/** Plausible values of path parameters by name (valid shapes; the objects need not exist). */
export const PATH_SAMPLES: Record<string, string> = {
  id: 'abcdefghijkl',
  a: 'latest',
  b: 'latest',
  edge: '0123456789abcdef',
  cidr: encodeURIComponent('10.0.0.0/8'),
  format: 'aws-vpc',
  exception: 'ex-000000000000',
};

/** Plausible values of required query parameters by name. */
export const QUERY_SAMPLES: Record<string, string> = {
  address: '10.0.0.1',
  from: '2026-11-01T00:00:00Z',
  to: '2026-11-02T00:00:00Z',
};

/** `?name=value&…` with every required query parameter of the operation given a plausible value, plus `extra`. */
export function requiredQuery(op: Operation, extra: Record<string, string> = {}): string {
  const pairs = [...op.parameters.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, QUERY_SAMPLES[p.name] ?? 'x']), ...Object.entries(extra)];
  return pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${encodeURIComponent(k as string)}=${encodeURIComponent(v as string)}`).join('&')}`;
}

/** Ids of the right shape by the collection they name. */
const ID_SAMPLES: [RegExp, string][] = [
  [/^\/api\/v1\/reports\//, 'rp-0123456789abcdef'],
  [/^\/api\/v1\/webhooks\//, 'wh_0123456789abcdef'],
  [/^\/api\/v1\/policies\//, 'pol-0123456789ab'],
  [/^\/api\/v1\/baselines\//, 'latest'],
  [/^\/api\/v1\/findings\//, 'undocumented-0123456789ab'],
];

export function fillPath(path: string, values: Record<string, string> = PATH_SAMPLES): string {
  const id = ID_SAMPLES.find(([pattern]) => pattern.test(path))?.[1];
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'id' && id !== undefined && values === PATH_SAMPLES ? id : (values[name] ?? 'x')));
}
