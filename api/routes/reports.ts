// Report routes: baseline reports (analyzer/reports) listed, made on request, read as JSON, HTML or
// PDF (headless Chromium on the API host; 501 where there is none), deleted; and the job
// runner's schedules (the weekly baseline and report, retention), read-only here — they come
// from the configuration (baseline.cron, reports.cron).
import type { FastifyPluginAsync } from 'fastify';
import { requireRecord } from '../../analyzer/baseline/index.js';
import type { JobRunner } from '../../analyzer/jobs/index.js';
import { deleteReport, listReports, MAX_PAGE, renderReportPdf, requestReport, requireReport } from '../../analyzer/reports/index.js';
import { FlowmapError } from '../../core/errors.js';
import type { Store } from '../../store/port.js';
import { cursorParam, nextCursorSchema } from '../pagination.js';
import { baselineParam } from '../schemas.js';

const iso = { type: 'string', format: 'date-time' } as const;
const nullableNumber = { type: 'number', nullable: true } as const;

export const reportSummarySchema = {
  type: 'object',
  required: ['id', 'baseline', 'window', 'groupBy', 'generatedAt', 'trigger', 'totals', 'sizes'],
  properties: {
    id: { type: 'string' },
    baseline: { type: 'string' },
    window: { type: 'object', required: ['from', 'to'], properties: { from: iso, to: iso } },
    groupBy: { type: 'array', items: { type: 'string' } },
    generatedAt: iso,
    trigger: { type: 'string', enum: ['schedule', 'api', 'cli'] },
    job: { type: 'string' },
    totals: {
      type: 'object',
      required: ['groups', 'edges', 'flows', 'bytes', 'findings', 'newEdges', 'coverage', 'reduction'],
      properties: {
        groups: { type: 'integer' },
        edges: { type: 'integer' },
        flows: { type: 'number' },
        bytes: { type: 'number' },
        findings: { type: 'integer' },
        newEdges: { ...nullableNumber, description: 'edges new since the previous baseline; null when there was none' },
        coverage: { ...nullableNumber, description: 'share of observed flows an active policy allows; null without an active policy' },
        reduction: { type: 'number', description: 'blast-radius reduction, 0–1' },
      },
    },
    sizes: { type: 'object', required: ['json', 'html'], properties: { json: { type: 'integer' }, html: { type: 'integer' } } },
  },
} as const;

const section = { type: 'object', additionalProperties: true } as const;
const reportSchema = {
  type: 'object',
  required: ['schemaVersion', 'id', 'generatedAt', 'baseline', 'summary', 'topDependencies', 'newSinceLast', 'findings', 'policyCoverage', 'blastRadius'],
  properties: {
    schemaVersion: { type: 'integer' },
    id: { type: 'string' },
    generatedAt: iso,
    baseline: section,
    summary: section,
    topDependencies: section,
    newSinceLast: section,
    findings: section,
    policyCoverage: section,
    blastRadius: section,
  },
} as const;

const reportParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^rp-[0-9a-f]{16}$', description: 'a report id' } } } as const;
/** A report on request waits this long for its job before answering 202 with the job instead. */
const WAIT_MS = 120_000;

export function reportRoutes(store: Store, jobs: JobRunner): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit?: number; cursor?: string } }>(
      '/api/v1/reports',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['reports'],
          summary: 'Baseline reports, newest first',
          querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 }, cursor: cursorParam } },
          response: { 200: { type: 'object', required: ['reports'], properties: { reports: { type: 'array', items: reportSummarySchema }, nextCursor: nextCursorSchema } } },
        },
      },
      async (request) => listReports(store.meta, request.query),
    );

    app.post<{ Body: { baseline?: string; wait?: boolean } }>(
      '/api/v1/reports',
      {
        config: { access: 'analyst', class: 'heavy' },
        schema: {
          tags: ['reports'],
          summary: 'Make a report of a baseline now (default the newest completed one); with wait, answer once it is stored',
          body: { type: 'object', additionalProperties: false, properties: { baseline: baselineParam, wait: { type: 'boolean', default: false, description: `wait up to ${WAIT_MS / 1000} s for the report` } } },
          response: {
            201: reportSummarySchema,
            202: { type: 'object', required: ['job'], properties: { job: { type: 'string', description: 'the report job; the report is listed once it completes' } } },
          },
        },
      },
      async (request, reply) => {
        const body = request.body ?? {};
        const baseline = body.baseline ?? 'latest';
        const record = await requireRecord(store.meta, baseline);
        if (record.status !== 'completed') throw new FlowmapError('FLOWMAP_CONFLICT', `baseline ${record.id} is ${record.status}; a report needs a completed one`, { status: 409 });
        const trigger = request.headers['x-flowmap-client'] === 'cli' ? 'cli' : 'api';
        const job = await requestReport(jobs, { baseline: record.id, trigger });
        if (body.wait !== true) return reply.status(202).send({ job });
        const info = await jobs.waitFor(job, WAIT_MS).catch(() => undefined);
        if (info === undefined || info.state !== 'completed') {
          if (info?.state === 'failed') throw new FlowmapError('FLOWMAP_BAD_REQUEST', `the report failed: ${info.failedReason ?? 'no reason given'}`, { status: 500 });
          return reply.status(202).send({ job });
        }
        return reply.status(201).send(info.result);
      },
    );

    app.get<{ Params: { id: string }; Querystring: { format?: 'json' | 'html' | 'pdf' } }>(
      '/api/v1/reports/:id',
      {
        config: { access: 'viewer', class: 'heavy' },
        schema: {
          tags: ['reports'],
          summary: 'A report as JSON (default), self-contained HTML with inline SVG charts, or PDF (rendered by headless Chromium on the server; 501 when it has none)',
          params: reportParams,
          querystring: { type: 'object', properties: { format: { type: 'string', enum: ['json', 'html', 'pdf'], default: 'json' } } },
          response: { 200: reportSchema, 501: { $ref: 'ErrorBody#' } },
        },
      },
      async (request, reply) => {
        const record = await requireReport(store.meta, request.params.id);
        const format = request.query.format ?? 'json';
        if (format === 'json') return record.report;
        const name = `flowmap-report-${record.baseline}-${record.generatedAt.slice(0, 10)}`;
        if (format === 'html') return reply.type('text/html; charset=utf-8').header('content-disposition', `inline; filename="${name}.html"`).send(record.html);
        const pdf = await renderReportPdf(record.html);
        return reply.type('application/pdf').header('content-disposition', `attachment; filename="${name}.pdf"`).send(pdf);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/api/v1/reports/:id',
      { config: { access: 'analyst' }, schema: { tags: ['reports'], summary: 'Delete a report', params: reportParams, response: { 204: { type: 'null' } } } },
      async (request, reply) => {
        if (!(await deleteReport(store.meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no report ${request.params.id}`, { status: 404 });
        return reply.status(204).send();
      },
    );

    app.get(
      '/api/v1/schedules',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['reports'],
          summary: 'Scheduled jobs (weekly baseline, weekly report, retention, …) with their next run; set in the configuration (baseline.cron, reports.cron)',
          response: {
            200: {
              type: 'object',
              required: ['schedules'],
              properties: { schedules: { type: 'array', items: { type: 'object', required: ['id', 'cron', 'job'], properties: { id: { type: 'string' }, cron: { type: 'string' }, tz: { type: 'string' }, job: { type: 'string' }, next: iso } } } },
            },
          },
        },
      },
      async () => ({
        schedules: (await jobs.schedules()).map((s) => ({ id: s.id, cron: s.cron, ...(s.tz === undefined ? {} : { tz: s.tz }), job: s.name, ...(s.next === undefined ? {} : { next: new Date(s.next).toISOString() }) })),
      }),
    );
  };
}
