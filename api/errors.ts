// One JSON shape for every failure the API answers with: `{ error: { code, message, details } }`.
// FlowmapErrors keep their code, status and details; fastify's schema validation errors become
// 400 FLOWMAP_BAD_REQUEST naming the offending field; fastify's own client errors (body too large,
// unsupported media type, bad JSON) keep their status under a FLOWMAP_ code; anything unexpected
// is a 500 whose detail stays in the log, not in the response. The Firehose endpoint alone answers
// in the shape AWS's delivery protocol prescribes.
import type { FastifyError, FastifyInstance } from 'fastify';
import { FlowmapError } from '../core/errors.js';

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', description: 'stable error code, FLOWMAP_…' },
        message: { type: 'string', description: 'what went wrong and what is allowed' },
        details: { type: 'object', additionalProperties: true, description: 'the offending field or value, when there is one' },
      },
    },
  },
} as const;

export const errorBody = (code: string, message: string, details: Record<string, unknown> = {}): ErrorBody => ({ error: { code, message, details } });

/** Codes for fastify's own 4xx errors, by status. */
const CLIENT_CODES: Record<number, string> = { 401: 'FLOWMAP_UNAUTHORIZED', 403: 'FLOWMAP_FORBIDDEN', 404: 'FLOWMAP_NOT_FOUND', 409: 'FLOWMAP_CONFLICT', 413: 'FLOWMAP_PAYLOAD_TOO_LARGE', 429: 'FLOWMAP_RATE_LIMITED' };

export function registerErrorHandling(app: FastifyInstance): void {
  app.addSchema(errorBodySchema);
  // A request without a body is an empty object to a JSON body schema: optional bodies may be left
  // out, and a missing required field is named rather than "body must be object".
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body !== undefined && request.routeOptions.config.class !== 'upload') request.body = {};
  });
  app.setErrorHandler((err: FastifyError | FlowmapError, request, reply) => {
    if (err instanceof FlowmapError) {
      if (err.status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(err.status).send(errorBody(err.code, err.message, err.details));
    }
    if (err.validation !== undefined) {
      const first = err.validation[0];
      const details: Record<string, unknown> = { location: err.validationContext ?? 'request' };
      if (first !== undefined) {
        details.path = first.instancePath === '' ? '/' : first.instancePath;
        details.keyword = first.keyword;
        if (first.keyword === 'additionalProperties') details.property = (first.params as { additionalProperty?: unknown }).additionalProperty;
      }
      return reply.status(400).send(errorBody('FLOWMAP_BAD_REQUEST', `${err.validationContext ?? 'request'} ${err.message}`, details));
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.status(500).send(errorBody('FLOWMAP_INTERNAL', 'internal error; the server log has the details'));
    }
    return reply.status(status).send(errorBody(CLIENT_CODES[status] ?? 'FLOWMAP_BAD_REQUEST', err.message, typeof err.code === 'string' ? { reason: err.code } : {}));
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.status(404).send(errorBody('FLOWMAP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 512) ?? ''}; the API is described at /docs`));
  });
}

/** The error of a JSON answer in the common shape (for clients: the CLI), or undefined. */
export function errorOf(body: unknown): { code: string; message: string; details: Record<string, unknown> } | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const error = (body as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return undefined;
  const { code, message, details } = error as Record<string, unknown>;
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  return { code, message, details: details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : {} };
}
