// Liveness and readiness. /healthz answers 200 while the process serves HTTP. /readyz checks the
// store and the job backend on every request (each check bounded by a timeout), so a load balancer
// or orchestrator sees an outage on its next probe and recovery as soon as the service returns.
import type { FastifyPluginAsync } from 'fastify';
import { describeError } from '../../core/errors.js';
import type { ApiMetrics } from '../metrics.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 3000;

const checkSchema = {
  type: 'object',
  required: ['name', 'ok'],
  properties: { name: { type: 'string' }, ok: { type: 'boolean' }, error: { type: 'string' }, ms: { type: 'number' } },
} as const;

const readySchema = {
  type: 'object',
  required: ['status', 'checks'],
  properties: { status: { type: 'string', enum: ['ready', 'unavailable'] }, reason: { type: 'string' }, checks: { type: 'array', items: checkSchema } },
} as const;

async function bounded(check: ReadinessCheck): Promise<{ name: string; ok: boolean; error?: string; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { name: check.name, ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { name: check.name, ok: false, error: describeError(err), ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: { checks: ReadinessCheck[]; metrics: ApiMetrics; version: string; mode: string }): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          summary: 'Liveness: the process is up and serving HTTP',
          tags: ['health'],
          response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string' }, version: { type: 'string' }, mode: { type: 'string' } } } },
        },
      },
      async () => ({ status: 'ok', version: deps.version, mode: deps.mode }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          summary: 'Readiness: the store and the job backend answer',
          description: '200 when every dependency answered within 3 s; 503 with the reason otherwise.',
          tags: ['health'],
          response: { 200: readySchema, 503: readySchema },
        },
      },
      async (_request, reply) => {
        const checks = await Promise.all(deps.checks.map(bounded));
        for (const c of checks) deps.metrics.ready.set({ component: c.name }, c.ok ? 1 : 0);
        const failed = checks.filter((c) => !c.ok);
        if (failed.length === 0) return { status: 'ready', checks };
        return reply.status(503).send({ status: 'unavailable', reason: failed.map((c) => `${c.name}: ${c.error ?? 'failed'}`).join('; '), checks });
      },
    );

    app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['health'], produces: ['text/plain'] } }, async (_request, reply) => {
      const text = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(text);
    });
  };
}
