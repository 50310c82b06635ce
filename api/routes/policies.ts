// Policy routes (issue 9): recommendations from a baseline, versioned policies with their rollout
// states, rules and exceptions, audit simulation, blast radius and exports. Bodies are checked
// twice: the route schema (shape, sizes) and the policy stage's own schemas (selectors, ports,
// times), whose errors name the field. Intents and findings have their own route files.
import type { FastifyPluginAsync } from 'fastify';
import { requireRecord, type BaselineSettings } from '../../analyzer/baseline/index.js';
import { RecordCache, ResponseCache, sendCached } from '../cache.js';
import {
  addException,
  blastFor,
  createFromRecommendation,
  deletePolicy,
  editRules,
  EXPORT_FORMATS,
  exportPolicy,
  importPolicy,
  intentsVersion,
  listPolicies,
  policyVersion,
  recommendationFor,
  removeException,
  requirePolicy,
  setState,
  simulatePolicy,
  type ExceptionInput,
  type ExportFormat,
  type PolicyState,
  type RuleInput,
} from '../../analyzer/policy/index.js';
import { FlowmapError } from '../../core/errors.js';
import { cursorParam, limitParam, newestFirst, nextCursorSchema, paginate } from '../pagination.js';
import { baselineParam, portsInput as ports, protocolInput as protocol, selectorInput as selector, blastSchema, exceptionSchema, policySchema, policySummarySchema, recommendationSchema, simulationSchema } from '../schemas.js';
import type { Store } from '../../store/port.js';
import { parseTimeParam } from './inventory.js';

const policyId = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64, description: 'a policy id (pol-…)' } } } as const;
const DAY = 86_400;

export function policyRoutes(store: Store, settings: BaselineSettings, cache = new ResponseCache()): FastifyPluginAsync {
  const records = new RecordCache((id) => requireRecord(store.meta, id));
  return async (app) => {
    app.get<{ Querystring: { baseline?: string; minDays?: number; minFlows?: number } }>(
      '/api/v1/recommendations',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['policies'],
          summary: 'The recommended default-deny policy for a baseline: allow rules in label terms with evidence and confidence',
          querystring: { type: 'object', additionalProperties: false, properties: { baseline: baselineParam, minDays: { type: 'integer', minimum: 1, maximum: 366 }, minFlows: { type: 'integer', minimum: 1, maximum: 1_000_000 } } },
          response: { 200: recommendationSchema },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const parameters = { ...(q.minDays === undefined ? {} : { minDays: q.minDays }), ...(q.minFlows === undefined ? {} : { minFlows: q.minFlows }) };
        // A recommendation follows from a completed baseline, the intents and the thresholds: kept
        // while those stay (intents changed by another API process show within a second).
        const record = await records.get(q.baseline ?? 'latest');
        const key = `recommendation|${record.id}|${record.completedAt ?? ''}|${q.minDays ?? ''}|${q.minFlows ?? ''}|${await intentsVersion(store.meta)}`;
        const cached = cache.get(key);
        if (cached !== undefined) return sendCached(request, reply, cached);
        const { recommendation } = await recommendationFor(store, settings, record.id, parameters);
        return sendCached(request, reply, cache.set(key, JSON.stringify(recommendation), 'application/json; charset=utf-8'));
      },
    );

    app.get<{ Querystring: { limit?: number; cursor?: string } }>(
      '/api/v1/policies',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['policies'],
          summary: 'Policies, newest change first (rules and exceptions counted; GET one for them)',
          querystring: { type: 'object', properties: { limit: limitParam, cursor: cursorParam } },
          response: { 200: { type: 'object', required: ['total', 'policies'], properties: { total: { type: 'integer' }, policies: { type: 'array', items: policySummarySchema }, nextCursor: nextCursorSchema } } },
        },
      },
      async (request) => {
        const policies = await listPolicies(store.meta);
        const { page, nextCursor } = paginate(policies, request.query, newestFirst((p) => p.updatedAt, (p) => p.id));
        return { total: policies.length, policies: page.map(({ rules, exceptions, ...p }) => ({ ...p, rules: rules.length, exceptions: exceptions.length })), ...(nextCursor === undefined ? {} : { nextCursor }) };
      },
    );

    app.post<{ Body: { baseline?: string; name?: string; envs?: string[]; policy?: unknown; minDays?: number; minFlows?: number } }>(
      '/api/v1/policies',
      {
        config: { access: 'analyst', class: 'heavy' },
        schema: {
          tags: ['policies'],
          summary: 'Create a draft policy from the recommendation of a baseline, or import a policy file ({"policy": {...}})',
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              baseline: baselineParam,
              name: { type: 'string', minLength: 1, maxLength: 200 },
              envs: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 63 } },
              minDays: { type: 'integer', minimum: 1, maximum: 366, description: 'the recommendation thresholds, as GET /api/v1/recommendations takes them' },
              minFlows: { type: 'integer', minimum: 1, maximum: 1_000_000 },
              policy: { type: 'object' },
            },
          },
          response: { 201: policySchema },
        },
      },
      async (request, reply) => {
        const body = request.body ?? {};
        if (body.policy !== undefined) return reply.status(201).send(await importPolicy(store.meta, body.policy, body.envs === undefined ? {} : { envs: body.envs }));
        const parameters = { ...(body.minDays === undefined ? {} : { minDays: body.minDays }), ...(body.minFlows === undefined ? {} : { minFlows: body.minFlows }) };
        const { recommendation } = await recommendationFor(store, settings, body.baseline ?? 'latest', parameters);
        return reply.status(201).send(await createFromRecommendation(store.meta, recommendation, { ...(body.name === undefined ? {} : { name: body.name }), ...(body.envs === undefined ? {} : { envs: body.envs }) }));
      },
    );

    app.get<{ Params: { id: string }; Querystring: { version?: number } }>(
      '/api/v1/policies/:id',
      { config: { access: 'viewer' }, schema: { tags: ['policies'], summary: 'A policy (its current version, or ?version=N)', params: policyId, querystring: { type: 'object', additionalProperties: false, properties: { version: { type: 'integer', minimum: 1 } } }, response: { 200: policySchema } } },
      async (request) => (request.query.version === undefined ? requirePolicy(store.meta, request.params.id) : policyVersion(store.meta, request.params.id, request.query.version)),
    );

    app.delete<{ Params: { id: string } }>('/api/v1/policies/:id', { config: { access: 'analyst' }, schema: { tags: ['policies'], summary: 'Delete a policy', params: policyId, response: { 204: { type: 'null' } } } }, async (request, reply) => {
      if (!(await deletePolicy(store.meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no policy "${request.params.id}"`, { status: 404 });
      return reply.status(204).send();
    });

    app.patch<{ Params: { id: string }; Body: { add?: RuleInput[]; remove?: string[]; version?: number } }>(
      '/api/v1/policies/:id/rules',
      {
        config: { access: 'analyst' },
        schema: {
          tags: ['policies'],
          summary: 'Edit rules: add some, remove some by id; a new version',
          params: policyId,
          body: { type: 'object', additionalProperties: false, properties: { add: { type: 'array', maxItems: 10_000, items: { type: 'object' } }, remove: { type: 'array', maxItems: 100_000, items: { type: 'string', maxLength: 64 } }, version: { type: 'integer', minimum: 1 } } },
          response: { 200: policySchema },
        },
      },
      async (request) => editRules(store.meta, request.params.id, request.body ?? {}),
    );

    app.put<{ Params: { id: string }; Body: { env: string; state: PolicyState; force?: boolean; version?: number } }>(
      '/api/v1/policies/:id/state',
      {
        config: { access: 'analyst' },
        schema: {
          tags: ['policies'],
          summary: 'Move one environment: draft → audit → enforced, least critical environment first',
          params: policyId,
          body: { type: 'object', required: ['env', 'state'], additionalProperties: false, properties: { env: { type: 'string', minLength: 1, maxLength: 63 }, state: { type: 'string', enum: ['draft', 'audit', 'enforced'] }, force: { type: 'boolean' }, version: { type: 'integer', minimum: 1 } } },
          response: { 200: policySchema },
        },
      },
      async (request) => {
        const b = request.body;
        return setState(store.meta, request.params.id, b.env, b.state, { ...(b.force === undefined ? {} : { force: b.force }), ...(b.version === undefined ? {} : { version: b.version }) });
      },
    );

    app.post<{ Params: { id: string }; Body: ExceptionInput & { version?: number } }>(
      '/api/v1/policies/:id/exceptions',
      {
        config: { access: 'analyst' },
        schema: {
          tags: ['policies'],
          summary: 'Add an exception: an allow with an owner, a reason and an expiry (at most a year)',
          params: policyId,
          body: { type: 'object', required: ['from', 'to', 'protocol', 'owner', 'reason', 'expires'], properties: { from: selector, to: selector, protocol, ports, owner: { type: 'string', maxLength: 200 }, reason: { type: 'string', maxLength: 1000 }, expires: { type: 'string', maxLength: 64 }, version: { type: 'integer', minimum: 1 } } },
          response: { 201: { type: 'object', required: ['policy', 'exception'], properties: { policy: policySchema, exception: exceptionSchema } } },
        },
      },
      async (request, reply) => {
        const { version, ...input } = request.body;
        return reply.status(201).send(await addException(store.meta, request.params.id, input, version === undefined ? {} : { version }));
      },
    );

    app.delete<{ Params: { id: string; exception: string } }>(
      '/api/v1/policies/:id/exceptions/:exception',
      {
        config: { access: 'analyst' },
        schema: { tags: ['policies'], summary: 'Remove an exception', params: { type: 'object', required: ['id', 'exception'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 }, exception: { type: 'string', minLength: 1, maxLength: 64 } } }, response: { 200: policySchema } },
      },
      async (request) => removeException(store.meta, request.params.id, request.params.exception),
    );

    app.post<{ Params: { id: string }; Body: { from?: string; to?: string; days?: number; rebuild?: boolean } }>(
      '/api/v1/policies/:id/simulate',
      {
        config: { access: 'analyst', class: 'heavy' },
        schema: {
          tags: ['policies'],
          summary: 'Audit simulation: replay a window (default the last 7 days) against the policy; what would be blocked, which rules nothing used',
          params: policyId,
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              from: { type: 'string', maxLength: 64 },
              to: { type: 'string', maxLength: 64 },
              days: { type: 'integer', minimum: 1, maximum: 92 },
              rebuild: { type: 'boolean', description: 'replay the flows even when a baseline covers exactly this window (the inventory changed since)' },
            },
          },
          response: { 200: simulationSchema },
        },
      },
      async (request) => {
        const policy = await requirePolicy(store.meta, request.params.id);
        const body = request.body ?? {};
        const to = body.to === undefined ? Math.floor(Date.now() / 1000 / 3600) * 3600 : parseTimeParam(body.to, 'to');
        const from = body.from === undefined ? to - (body.days ?? 7) * DAY : parseTimeParam(body.from, 'from');
        return simulatePolicy(store, settings, policy, { from, to }, body.rebuild === true ? { rebuild: true } : {});
      },
    );

    app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
      '/api/v1/policies/:id/export',
      {
        config: { access: 'viewer', class: 'heavy' },
        schema: {
          tags: ['policies'],
          summary: `Download the policy for enforcement: ${EXPORT_FORMATS.join(', ')}; addresses resolved from the inventory now, expired exceptions left out`,
          params: policyId,
          querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: [...EXPORT_FORMATS] } } },
        },
      },
      async (request, reply) => {
        const policy = await requirePolicy(store.meta, request.params.id);
        const format = (request.query.format ?? 'json') as ExportFormat;
        const exported = await exportPolicy(store, settings, policy, format);
        if (exported.skipped.length > 0) reply.header('x-flowmap-skipped-rules', String(exported.skipped.length));
        return reply.header('content-type', exported.contentType).header('content-disposition', `attachment; filename="${exported.filename}"`).send(exported.text);
      },
    );

    app.get<{ Querystring: { baseline?: string; policy?: string } }>(
      '/api/v1/blast-radius',
      {
        config: { access: 'viewer', class: 'heavy' },
        schema: {
          tags: ['policies'],
          summary: 'Workloads each workload can reach: flat network, observed graph, and with a policy; the estate-wide reduction',
          querystring: { type: 'object', additionalProperties: false, properties: { baseline: baselineParam, policy: { type: 'string', maxLength: 64 } } },
          response: { 200: blastSchema },
        },
      },
      async (request) => blastFor(store, settings, request.query.baseline ?? 'latest', request.query.policy),
    );
  };
}
