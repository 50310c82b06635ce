// Finding routes: what a baseline shows that nobody documented (by category), drift, unused and
// broad rules, expired exceptions — each with its triage status — and acknowledge / resolve /
// reopen by finding id (the id is stable across baselines, so a triage carries over).
import type { FastifyPluginAsync } from 'fastify';
import type { BaselineSettings } from '../../analyzer/baseline/index.js';
import { CATEGORIES, FINDING_KINDS, findingsFor, SEVERITIES, setTriage, TRIAGE_STATUSES, triageOf, withTriage, type TriageStatus } from '../../analyzer/policy/index.js';
import { FlowmapError } from '../../core/errors.js';
import type { Store } from '../../store/port.js';
import { cursorParam, nextCursorSchema, paginate, PAGE_MAX } from '../pagination.js';
import { baselineParam, findingSchema } from '../schemas.js';

const SEVERITY_RANK = new Map(SEVERITIES.map((s, i) => [s as string, i]));
const findingParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'a finding id' } } } as const;
const triageSchema = { type: 'object', required: ['status', 'by', 'at'], properties: { status: { type: 'string', enum: [...TRIAGE_STATUSES] }, by: { type: 'string' }, at: { type: 'string', format: 'date-time' }, comment: { type: 'string' } } } as const;

export function findingRoutes(store: Store, settings: BaselineSettings): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { baseline?: string; kind?: string; category?: string; severity?: string; status?: TriageStatus; unusedDays?: number; limit?: number; cursor?: string } }>(
      '/api/v1/findings',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['findings'],
          summary: 'Undocumented dependencies by category, drift, unused and broad rules, expired exceptions; most severe first',
          querystring: {
            type: 'object',
            properties: {
              baseline: baselineParam,
              kind: { type: 'string', enum: [...FINDING_KINDS] },
              category: { type: 'string', enum: [...CATEGORIES] },
              severity: { type: 'string', enum: [...SEVERITIES] },
              status: { type: 'string', enum: [...TRIAGE_STATUSES] },
              unusedDays: { type: 'integer', minimum: 1, maximum: 366 },
              limit: { type: 'integer', minimum: 1, maximum: PAGE_MAX, default: PAGE_MAX },
              cursor: cursorParam,
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['total', 'counts', 'findings'],
              properties: {
                baseline: { type: 'string' },
                total: { type: 'integer', description: 'findings matching the filters, on every page' },
                counts: { type: 'object', additionalProperties: { type: 'integer' }, description: 'matching findings by kind/category' },
                findings: { type: 'array', items: findingSchema },
                nextCursor: nextCursorSchema,
              },
            },
          },
        },
      },
      async (request) => {
        const q = request.query;
        const { baseline, findings } = await findingsFor(store, settings, q.baseline ?? 'latest', q.unusedDays === undefined ? {} : { unusedDays: q.unusedDays });
        const triaged = withTriage(findings, await triageOf(store.meta));
        const selected = triaged.filter(
          (f) => (q.kind === undefined || f.kind === q.kind) && (q.category === undefined || f.category === q.category) && (q.severity === undefined || f.severity === q.severity) && (q.status === undefined || f.status === q.status),
        );
        const counts: Record<string, number> = {};
        for (const f of selected) {
          const key = f.category === undefined ? f.kind : `${f.kind}/${f.category}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
        const { page, nextCursor } = paginate(selected, q, { key: (f) => [SEVERITY_RANK.get(f.severity) ?? 0, f.id], parts: [['number', 'desc'], ['string', 'asc']] });
        return { ...(baseline === undefined ? {} : { baseline }), total: selected.length, counts, findings: page, ...(nextCursor === undefined ? {} : { nextCursor }) };
      },
    );

    const transition = (path: string, status: TriageStatus, summary: string): void => {
      app.post<{ Params: { id: string }; Body: { comment?: string; baseline?: string } | undefined }>(
        `/api/v1/findings/:id/${path}`,
        {
          config: { access: 'analyst' },
          schema: {
            tags: ['findings'],
            summary,
            params: findingParams,
            body: { type: 'object', additionalProperties: false, properties: { comment: { type: 'string', maxLength: 2000 }, baseline: baselineParam } },
            response: { 200: { type: 'object', required: ['id', 'triage'], properties: { id: { type: 'string' }, triage: triageSchema } } },
          },
        },
        async (request) => {
          const { comment, baseline = 'latest' } = request.body ?? {};
          const { findings } = await findingsFor(store, settings, baseline);
          if (!findings.some((f) => f.id === request.params.id)) throw new FlowmapError('FLOWMAP_NOT_FOUND', `baseline ${baseline} has no finding ${request.params.id}`, { status: 404 });
          const triage = await setTriage(store.meta, request.params.id, status, request.principal?.id ?? 'anonymous', comment);
          return { id: request.params.id, triage };
        },
      );
    };
    transition('acknowledge', 'acknowledged', 'Acknowledge a finding: seen and owned, not fixed yet');
    transition('resolve', 'resolved', 'Resolve a finding: fixed or accepted; it opens again if its traffic recurs');
    transition('reopen', 'open', 'Open a finding again');
  };
}
