// Policy routes (issue 9): recommendations from a baseline, findings, intents, versioned policies
// with their rollout states, rules and exceptions, audit simulation, blast radius and exports.
// Bodies are checked twice: the route schema (shape, sizes) and the policy stage's own schemas
// (selectors, ports, times), whose errors name the field.
import type { FastifyPluginAsync } from 'fastify';
import type { BaselineSettings } from '../../analyzer/baseline/index.js';
import {
  addException,
  blastFor,
  createFromRecommendation,
  deleteIntent,
  deletePolicy,
  editRules,
  CATEGORIES,
  EXPORT_FORMATS,
  FINDING_KINDS,
  exportPolicy,
  findingsFor,
  importIntents,
  importPolicy,
  listIntents,
  listPolicies,
  parseIntents,
  policyVersion,
  recommendationFor,
  removeException,
  requirePolicy,
  setState,
  SEVERITIES,
  simulatePolicy,
  type ExceptionInput,
  type ExportFormat,
  type PolicyState,
  type RuleInput,
} from '../../analyzer/policy/index.js';
import { FlowmapError } from '../../core/errors.js';
import type { Store } from '../../store/port.js';
import { parseTimeParam } from './inventory.js';

const loose = { type: 'object', additionalProperties: true } as const;
const baselineParam = { type: 'string', minLength: 1, maxLength: 64, description: 'a baseline id (bl-…) or `latest` (default)' } as const;
const policyId = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
const selector = { type: 'object', minProperties: 1, maxProperties: 16, additionalProperties: { type: 'string', maxLength: 253 } } as const;
const ports = { type: 'array', maxItems: 1024, items: { anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'object', required: ['first', 'last'], properties: { first: { type: 'integer' }, last: { type: 'integer' } } }] } } as const;
const protocol = { anyOf: [{ type: 'string', maxLength: 16 }, { type: 'integer', minimum: 0, maximum: 255 }] } as const;
const DAY = 86_400;

export function policyRoutes(store: Store, settings: BaselineSettings): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { baseline?: string; minDays?: number; minFlows?: number } }>(
      '/api/v1/recommendations',
      {
        schema: {
          tags: ['policies'],
          summary: 'The recommended default-deny policy for a baseline: allow rules in label terms with evidence and confidence',
          querystring: { type: 'object', additionalProperties: false, properties: { baseline: baselineParam, minDays: { type: 'integer', minimum: 1, maximum: 366 }, minFlows: { type: 'integer', minimum: 1, maximum: 1_000_000 } } },
          response: { 200: loose },
        },
      },
      async (request) => {
        const q = request.query;
        const parameters = { ...(q.minDays === undefined ? {} : { minDays: q.minDays }), ...(q.minFlows === undefined ? {} : { minFlows: q.minFlows }) };
        return (await recommendationFor(store, settings, q.baseline ?? 'latest', parameters)).recommendation;
      },
    );

    app.get<{ Querystring: { baseline?: string; kind?: string; category?: string; severity?: string; unusedDays?: number; limit?: number } }>(
      '/api/v1/findings',
      {
        schema: {
          tags: ['policies'],
          summary: 'Undocumented dependencies by category, drift, unused and broad rules, expired exceptions',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              baseline: baselineParam,
              kind: { type: 'string', enum: [...FINDING_KINDS] },
              category: { type: 'string', enum: [...CATEGORIES] },
              severity: { type: 'string', enum: [...SEVERITIES] },
              unusedDays: { type: 'integer', minimum: 1, maximum: 366 },
              limit: { type: 'integer', minimum: 1, maximum: 100_000 },
            },
          },
          response: { 200: loose },
        },
      },
      async (request) => {
        const q = request.query;
        const { baseline, findings } = await findingsFor(store, settings, q.baseline ?? 'latest', q.unusedDays === undefined ? {} : { unusedDays: q.unusedDays });
        const selected = findings.filter((f) => (q.kind === undefined || f.kind === q.kind) && (q.category === undefined || f.category === q.category) && (q.severity === undefined || f.severity === q.severity));
        const counts: Record<string, number> = {};
        for (const f of selected) counts[f.category === undefined ? f.kind : `${f.kind}/${f.category}`] = (counts[f.category === undefined ? f.kind : `${f.kind}/${f.category}`] ?? 0) + 1;
        return { baseline, total: selected.length, counts, findings: selected.slice(0, q.limit ?? 10_000) };
      },
    );

    app.get('/api/v1/intents', { schema: { tags: ['intents'], summary: 'The documented dependencies', response: { 200: loose } } }, async () => {
      const intents = await listIntents(store.meta);
      return { total: intents.length, intents };
    });

    app.put<{ Body: { intents: unknown[] }; Querystring: { merge?: boolean } }>(
      '/api/v1/intents',
      {
        schema: {
          tags: ['intents'],
          summary: 'Import an intents file (DESIGN.md §9): replaces the intents, or adds to them with ?merge=true',
          querystring: { type: 'object', additionalProperties: false, properties: { merge: { type: 'boolean' } } },
          body: { type: 'object', required: ['intents'], properties: { intents: { type: 'array', maxItems: 100_000 } } },
          response: { 200: loose },
        },
      },
      async (request) => {
        const intents = parseIntents(request.body, 'in the request body');
        return importIntents(store.meta, intents, { merge: request.query.merge === true });
      },
    );

    app.post<{ Body: Record<string, unknown> }>(
      '/api/v1/intents',
      { schema: { tags: ['intents'], summary: 'Add one intent', body: { type: 'object', required: ['from', 'to'], properties: { from: selector, to: selector, protocol, ports, description: { type: 'string', maxLength: 1000 } } }, response: { 201: loose } } },
      async (request, reply) => {
        const [intent] = parseIntents({ intents: [request.body] }, 'in the request body');
        await importIntents(store.meta, intent === undefined ? [] : [intent], { merge: true });
        return reply.status(201).send(intent);
      },
    );

    app.delete<{ Params: { id: string } }>('/api/v1/intents/:id', { schema: { tags: ['intents'], summary: 'Remove an intent', params: policyId, response: { 204: { type: 'null' } } } }, async (request, reply) => {
      if (!(await deleteIntent(store.meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no intent "${request.params.id.slice(0, 64)}"`, { status: 404 });
      return reply.status(204).send();
    });

    app.get('/api/v1/policies', { schema: { tags: ['policies'], summary: 'Policies, newest change first (rules left out; GET one for them)', response: { 200: loose } } }, async () => {
      const policies = await listPolicies(store.meta);
      return { total: policies.length, policies: policies.map(({ rules, exceptions, ...p }) => ({ ...p, rules: rules.length, exceptions: exceptions.length })) };
    });

    app.post<{ Body: { baseline?: string; name?: string; envs?: string[]; policy?: unknown; minDays?: number; minFlows?: number } }>(
      '/api/v1/policies',
      {
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
          response: { 201: loose },
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
      { schema: { tags: ['policies'], summary: 'A policy (its current version, or ?version=N)', params: policyId, querystring: { type: 'object', additionalProperties: false, properties: { version: { type: 'integer', minimum: 1 } } }, response: { 200: loose } } },
      async (request) => (request.query.version === undefined ? requirePolicy(store.meta, request.params.id) : policyVersion(store.meta, request.params.id, request.query.version)),
    );

    app.delete<{ Params: { id: string } }>('/api/v1/policies/:id', { schema: { tags: ['policies'], summary: 'Delete a policy', params: policyId, response: { 204: { type: 'null' } } } }, async (request, reply) => {
      if (!(await deletePolicy(store.meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no policy "${request.params.id}"`, { status: 404 });
      return reply.status(204).send();
    });

    app.patch<{ Params: { id: string }; Body: { add?: RuleInput[]; remove?: string[]; version?: number } }>(
      '/api/v1/policies/:id/rules',
      {
        schema: {
          tags: ['policies'],
          summary: 'Edit rules: add some, remove some by id; a new version',
          params: policyId,
          body: { type: 'object', additionalProperties: false, properties: { add: { type: 'array', maxItems: 10_000, items: { type: 'object' } }, remove: { type: 'array', maxItems: 100_000, items: { type: 'string', maxLength: 64 } }, version: { type: 'integer', minimum: 1 } } },
          response: { 200: loose },
        },
      },
      async (request) => editRules(store.meta, request.params.id, request.body ?? {}),
    );

    app.put<{ Params: { id: string }; Body: { env: string; state: PolicyState; force?: boolean; version?: number } }>(
      '/api/v1/policies/:id/state',
      {
        schema: {
          tags: ['policies'],
          summary: 'Move one environment: draft → audit → enforced, least critical environment first',
          params: policyId,
          body: { type: 'object', required: ['env', 'state'], additionalProperties: false, properties: { env: { type: 'string', minLength: 1, maxLength: 63 }, state: { type: 'string', enum: ['draft', 'audit', 'enforced'] }, force: { type: 'boolean' }, version: { type: 'integer', minimum: 1 } } },
          response: { 200: loose },
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
        schema: {
          tags: ['policies'],
          summary: 'Add an exception: an allow with an owner, a reason and an expiry (at most a year)',
          params: policyId,
          body: { type: 'object', required: ['from', 'to', 'protocol', 'owner', 'reason', 'expires'], properties: { from: selector, to: selector, protocol, ports, owner: { type: 'string', maxLength: 200 }, reason: { type: 'string', maxLength: 1000 }, expires: { type: 'string', maxLength: 64 }, version: { type: 'integer', minimum: 1 } } },
          response: { 201: loose },
        },
      },
      async (request, reply) => {
        const { version, ...input } = request.body;
        return reply.status(201).send(await addException(store.meta, request.params.id, input, version === undefined ? {} : { version }));
      },
    );

    app.delete<{ Params: { id: string; exception: string } }>(
      '/api/v1/policies/:id/exceptions/:exception',
      { schema: { tags: ['policies'], summary: 'Remove an exception', params: { type: 'object', required: ['id', 'exception'], properties: { id: { type: 'string', maxLength: 64 }, exception: { type: 'string', maxLength: 64 } } }, response: { 200: loose } } },
      async (request) => removeException(store.meta, request.params.id, request.params.exception),
    );

    app.post<{ Params: { id: string }; Body: { from?: string; to?: string; days?: number; rebuild?: boolean } }>(
      '/api/v1/policies/:id/simulate',
      {
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
          response: { 200: loose },
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
        schema: {
          tags: ['policies'],
          summary: 'Workloads each workload can reach: flat network, observed graph, and with a policy; the estate-wide reduction',
          querystring: { type: 'object', additionalProperties: false, properties: { baseline: baselineParam, policy: { type: 'string', maxLength: 64 } } },
          response: { 200: loose },
        },
      },
      async (request) => blastFor(store, settings, request.query.baseline ?? 'latest', request.query.policy),
    );
  };
}
