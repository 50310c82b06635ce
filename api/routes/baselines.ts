// Baseline routes (DESIGN.md §8): start a baseline, follow its progress, list them, download the
// graph (graphology JSON, GEXF, GraphML), drill down from a group edge to its host pairs, and
// compare two baselines (drift).
import type { FastifyPluginAsync } from 'fastify';
import { FlowmapError } from '../../core/errors.js';
import type { JobRunner } from '../../analyzer/jobs/index.js';
import {
  baselineStatus,
  diffBaselines,
  GRAPH_FORMATS,
  listRecords,
  renderGraph,
  requestBaseline,
  requireGraph,
  requireRecord,
  type BaselineSettings,
  type GraphFormat,
} from '../../analyzer/baseline/index.js';
import type { Store } from '../../store/port.js';
import { parseTimeParam } from './inventory.js';
import { RecordCache, ResponseCache, sendCached } from '../cache.js';

const MAX_PAGE = 1000;
const HOSTS_MAX = 100_000;

const idParam = { type: 'string', minLength: 1, maxLength: 64, description: 'a baseline id (bl-…) or `latest`' } as const;
const summarySchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    groups: { type: 'integer' },
    edges: { type: 'integer' },
    hostPairs: { type: 'integer' },
    flows: { type: 'number' },
    bytes: { type: 'number' },
    packets: { type: 'number' },
    conversations: { type: 'integer' },
    flipped: { type: 'integer' },
    orientation: { type: 'object', additionalProperties: { type: 'number' } },
  },
} as const;
export const baselineSchema = {
  type: 'object',
  required: ['id', 'params', 'createdAt', 'status', 'trigger'],
  properties: {
    id: { type: 'string' },
    params: {
      type: 'object',
      properties: {
        from: { type: 'integer', description: 'window start, Unix seconds' },
        to: { type: 'integer', description: 'window end (exclusive), Unix seconds' },
        groupBy: { type: 'array', items: { type: 'string' } },
      },
    },
    window: { type: 'object', properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' }, days: { type: 'number' } } },
    createdAt: { type: 'string', format: 'date-time' },
    completedAt: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ['queued', 'running', 'completed', 'failed'] },
    trigger: { type: 'string', enum: ['api', 'cli', 'schedule', 'demo'] },
    job: { type: 'string' },
    summary: summarySchema,
    error: { type: 'string' },
    lastError: { type: 'string', description: 'the last failed attempt, also when a retry is pending' },
    progress: { description: 'stage and percent of a running build', anyOf: [{ type: 'number' }, { type: 'object', additionalProperties: true }] },
    attempts: { type: 'object', properties: { made: { type: 'integer' }, allowed: { type: 'integer' } } },
    timings: { type: 'object', additionalProperties: { type: 'number' }, description: 'milliseconds by stage' },
  },
} as const;

const withWindow = <T extends { params: { from: number; to: number } }>(record: T): T & { window: { from: string; to: string; days: number } } => ({
  ...record,
  window: { from: new Date(record.params.from * 1000).toISOString(), to: new Date(record.params.to * 1000).toISOString(), days: (record.params.to - record.params.from) / 86_400 },
});

function groupByParam(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const keys = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((k) => k.trim()).filter((k) => k !== '');
  if (keys.length === 0) return undefined;
  if (keys.length > 16) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `groupBy takes at most 16 label keys (got ${keys.length})`, { status: 400 });
  for (const key of keys) {
    if (!/^[A-Za-z0-9_./-]{1,63}$/.test(key)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `groupBy key '${key.slice(0, 64)}' is not a label key (letters, digits, _ . / -)`, { status: 400 });
  }
  return keys;
}

/** Who asked: the CLI and the demo say so in a header; anyone else is an API client. */
function clientTrigger(header: string | string[] | undefined): 'cli' | 'demo' | 'api' {
  return header === 'cli' || header === 'demo' ? header : 'api';
}

export function baselineRoutes(store: Store, jobs: JobRunner, settings: BaselineSettings, cache = new ResponseCache()): FastifyPluginAsync {
  const records = new RecordCache((id) => requireRecord(store.meta, id));
  return async (app) => {
    app.post<{ Body: { days?: number; end?: string; groupBy?: string | string[]; force?: boolean } }>(
      '/api/v1/baselines',
      {
        config: { access: 'analyst', class: 'heavy' },
        schema: {
          tags: ['baselines'],
          summary: 'Start a baseline over a window (default the last 28 days at app,env); answers at once with its id',
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              days: { type: 'integer', minimum: 1, maximum: 366 },
              end: { type: 'string', maxLength: 64, description: 'window end, ISO-8601 or Unix seconds (default now), rounded down to the hour' },
              groupBy: { anyOf: [{ type: 'string', maxLength: 1024 }, { type: 'array', maxItems: 16, items: { type: 'string', maxLength: 63 } }], description: 'label keys, e.g. app,env' },
              force: { type: 'boolean', description: 'build again even if this window was built' },
            },
          },
          response: { 202: { type: 'object', required: ['baseline', 'created'], properties: { baseline: baselineSchema, created: { type: 'boolean' } } } },
        },
      },
      async (request, reply) => {
        const body = request.body ?? {};
        const groupBy = groupByParam(body.groupBy);
        const { record, created } = await requestBaseline(jobs, store, settings, {
          ...(body.days === undefined ? {} : { days: body.days }),
          ...(body.end === undefined ? {} : { end: Math.floor(parseTimeParam(body.end, 'end')) }),
          ...(groupBy === undefined ? {} : { groupBy }),
          ...(body.force === undefined ? {} : { force: body.force }),
          trigger: clientTrigger(request.headers['x-flowmap-client']),
        });
        reply.code(202).header('location', `/api/v1/baselines/${record.id}`);
        return { baseline: withWindow(record), created };
      },
    );

    app.get<{ Querystring: { limit?: number; status?: 'queued' | 'running' | 'completed' | 'failed' } }>(
      '/api/v1/baselines',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['baselines'],
          summary: 'Baselines, newest first',
          querystring: {
            type: 'object',
            properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 }, status: { type: 'string', enum: ['queued', 'running', 'completed', 'failed'] } },
          },
          response: { 200: { type: 'object', required: ['baselines'], properties: { baselines: { type: 'array', items: baselineSchema } } } },
        },
      },
      async (request) => {
        const { limit = 100, status } = request.query;
        const records = await listRecords(store.meta, { limit, ...(status === undefined ? {} : { status }) });
        return { baselines: records.map(withWindow) };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/api/v1/baselines/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['baselines'],
          summary: 'A baseline: parameters, status and progress while it runs, summary once done',
          params: { type: 'object', required: ['id'], properties: { id: idParam } },
          response: { 200: baselineSchema },
        },
      },
      async (request) => withWindow(await baselineStatus(jobs, store, request.params.id)),
    );

    app.get<{ Params: { id: string }; Querystring: { format?: GraphFormat } }>(
      '/api/v1/baselines/:id/graph',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['baselines'],
          summary: 'Download the dependency graph: graphology JSON (default), GEXF or GraphML',
          params: { type: 'object', required: ['id'], properties: { id: idParam } },
          querystring: { type: 'object', properties: { format: { type: 'string', enum: [...GRAPH_FORMATS], default: 'json' } } },
        },
      },
      async (request, reply) => {
        const record = await records.get(request.params.id);
        const format = request.query.format ?? 'json';
        // A completed baseline's graph never changes (a forced rebuild completes anew): render once.
        const key = `graph|${record.id}|${record.completedAt ?? ''}|${format}`;
        const cached = record.status === 'completed' ? cache.get(key) : undefined;
        if (cached !== undefined) return sendCached(request, reply, cached);
        const graph = await requireGraph(store.meta, record);
        const rendered = renderGraph(graph, format, {
          baseline: record.id,
          from: new Date(record.params.from * 1000).toISOString(),
          to: new Date(record.params.to * 1000).toISOString(),
          groupBy: record.params.groupBy,
        });
        const entry = cache.set(key, rendered.body, rendered.contentType, { headers: { 'content-disposition': `attachment; filename="${record.id}.${rendered.extension}"` } });
        return sendCached(request, reply, entry);
      },
    );

    app.get<{ Params: { id: string }; Querystring: { group?: string; port?: number; limit?: number } }>(
      '/api/v1/baselines/:id/edges',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['baselines'],
          summary: "A baseline's group edges by bytes, optionally those of one group (as client or server) or one port",
          params: { type: 'object', required: ['id'], properties: { id: idParam } },
          querystring: {
            type: 'object',
            properties: {
              group: { type: 'string', maxLength: 1024, description: 'a group key, e.g. app=billing,env=prod' },
              port: { type: 'integer', minimum: 0, maximum: 65535 },
              limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000 },
            },
          },
          response: { 200: { type: 'object', required: ['baseline', 'edges', 'total'], properties: { baseline: { type: 'string' }, total: { type: 'integer' }, edges: { type: 'array', items: { type: 'object', additionalProperties: true } } } } },
        },
      },
      async (request) => {
        const record = await requireRecord(store.meta, request.params.id);
        const graph = await requireGraph(store.meta, record);
        const { group, port, limit = 1000 } = request.query;
        const edges = graph.edges.map((e) => e.attributes).filter((e) => (group === undefined || e.from === group || e.to === group) && (port === undefined || e.port === port));
        return { baseline: record.id, total: edges.length, edges: edges.slice(0, limit) };
      },
    );

    app.get<{ Params: { id: string; edge: string }; Querystring: { limit?: number } }>(
      '/api/v1/baselines/:id/edges/:edge/hosts',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['baselines'],
          summary: 'Drill-down: the host pairs behind one group edge, by bytes',
          params: { type: 'object', required: ['id', 'edge'], properties: { id: idParam, edge: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'the edge id' } } },
          querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: HOSTS_MAX, default: 1000 } } },
          response: {
            200: {
              type: 'object',
              required: ['baseline', 'edge', 'hosts'],
              properties: { baseline: { type: 'string' }, edge: { type: 'object', additionalProperties: true }, hosts: { type: 'array', items: { type: 'object', additionalProperties: true } } },
            },
          },
        },
      },
      async (request) => {
        const record = await requireRecord(store.meta, request.params.id);
        const graph = await requireGraph(store.meta, record);
        const edge = graph.edges.find((e) => e.key === request.params.edge);
        if (edge === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `baseline ${record.id} has no edge ${request.params.edge}`, { status: 404 });
        const hosts = await store.baselineHosts(record.id, edge.key, { limit: request.query.limit ?? 1000 });
        return {
          baseline: record.id,
          edge: edge.attributes,
          hosts: hosts.map((h) => ({ ...h, firstSeen: new Date(h.firstSeen * 1000).toISOString(), lastSeen: new Date(h.lastSeen * 1000).toISOString() })),
        };
      },
    );

    app.get<{ Params: { a: string; b: string }; Querystring: { threshold?: number; minFlows?: number } }>(
      '/api/v1/baselines/:a/diff/:b',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['baselines'],
          summary: 'Drift from baseline A (older) to B: new and vanished edges, new ports, volume changes beyond a threshold',
          params: { type: 'object', required: ['a', 'b'], properties: { a: idParam, b: idParam } },
          querystring: {
            type: 'object',
            properties: {
              threshold: { type: 'number', minimum: 0, maximum: 1000, default: 0.5, description: 'relative change in bytes per day that counts (0.5 = ±50 %)' },
              minFlows: { type: 'integer', minimum: 0, default: 10, description: 'edges with fewer flows in both are not compared by volume' },
            },
          },
          response: { 200: { type: 'object', additionalProperties: true } },
        },
      },
      async (request) => {
        const a = await requireRecord(store.meta, request.params.a);
        const b = await requireRecord(store.meta, request.params.b);
        const [ga, gb] = [await requireGraph(store.meta, a), await requireGraph(store.meta, b)];
        const diff = diffBaselines(ga, gb, {
          volumeThreshold: request.query.threshold ?? 0.5,
          minFlows: request.query.minFlows ?? 10,
          aSeconds: a.params.to - a.params.from,
          bSeconds: b.params.to - b.params.from,
        });
        return { a: a.id, b: b.id, ...diff };
      },
    );
  };
}
