// JSON error bodies for every failure the API answers with: `{ statusCode, code, error, message }`.
// FlowmapErrors keep their code and status; fastify's schema validation errors become 400
// FLOWMAP_BAD_REQUEST with the offending field; anything unexpected is a 500 whose detail stays in
// the log, not in the response.
import type { FastifyError, FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { FlowmapError } from '../core/errors.js';

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', description: 'stable error code, FLOWMAP_…' },
    error: { type: 'string', description: 'HTTP reason phrase' },
    message: { type: 'string', description: 'what went wrong and what is allowed' },
  },
} as const;

function body(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.addSchema(errorBodySchema);
  app.setErrorHandler((err: FastifyError | FlowmapError, request, reply) => {
    if (err instanceof FlowmapError) {
      if (err.status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(err.status).send(body(err.status, err.code, err.message));
    }
    if (err.validation !== undefined) {
      return reply.status(400).send(body(400, 'FLOWMAP_BAD_REQUEST', `${err.validationContext ?? 'request'} ${err.message}`));
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.status(500).send(body(500, 'FLOWMAP_INTERNAL', 'internal error; the server log has the details'));
    }
    return reply.status(status).send(body(status, err.code ?? 'FLOWMAP_BAD_REQUEST', err.message));
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.status(404).send(body(404, 'FLOWMAP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}; the API is described at /docs`));
  });
}
