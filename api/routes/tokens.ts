// Token routes: admins create (the token is in that answer only), list and revoke API tokens;
// any token can ask who it is.
import type { FastifyPluginAsync } from 'fastify';
import { FlowmapError } from '../../core/errors.js';
import type { MetaStore } from '../../store/port.js';
import { cursorParam, limitParam, newestFirst, nextCursorSchema, paginate } from '../pagination.js';
import { createToken, listTokens, revokeToken, ROLES, type Role } from '../tokens.js';

export const tokenSchema = {
  type: 'object',
  required: ['id', 'name', 'role', 'createdAt', 'createdBy'],
  properties: {
    id: { type: 'string', description: 'the id part of the token (flowmap_<id>_…)' },
    name: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string', description: 'the id of the token that created it, bootstrap or cli' },
    expiresAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: 'string', format: 'date-time', description: 'recorded at most once an hour' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: '^[a-z2-7]{12}$', description: 'a token id' } } } as const;

export function tokenRoutes(meta: MetaStore, auth: { forget(): void }): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit?: number; cursor?: string } }>(
      '/api/v1/tokens',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['tokens'],
          summary: 'API tokens, newest first (never the token itself)',
          querystring: { type: 'object', properties: { limit: limitParam, cursor: cursorParam } },
          response: { 200: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: tokenSchema }, nextCursor: nextCursorSchema } } },
        },
      },
      async (request) => {
        const { page, nextCursor } = paginate(await listTokens(meta), request.query, newestFirst((t) => t.createdAt, (t) => t.id));
        return { tokens: page, ...(nextCursor === undefined ? {} : { nextCursor }) };
      },
    );

    app.post<{ Body: { name: string; role: Role; expiresAt?: string } }>(
      '/api/v1/tokens',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['tokens'],
          summary: 'Create a token; the answer is the only time the token is shown',
          body: {
            type: 'object',
            required: ['name', 'role'],
            additionalProperties: false,
            properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, role: { type: 'string', enum: [...ROLES] }, expiresAt: { type: 'string', maxLength: 64, description: 'ISO-8601; default never' } },
          },
          response: { 201: { type: 'object', required: ['token', 'record'], properties: { token: { type: 'string', description: 'shown once: store it now' }, record: tokenSchema } } },
        },
      },
      async (request, reply) => {
        const { name, role, expiresAt } = request.body;
        const created = await createToken(meta, { name, role, createdBy: request.principal?.id ?? 'cli', ...(expiresAt === undefined ? {} : { expiresAt }) });
        request.log.info({ token: created.record.id, role, by: request.principal?.id }, 'api token created');
        return reply.status(201).send(created);
      },
    );

    app.get(
      '/api/v1/tokens/self',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['tokens'],
          summary: 'The token this request carries: its id, name and role',
          response: { 200: { type: 'object', required: ['id', 'name', 'role'], properties: { id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string', enum: [...ROLES] } } } },
        },
      },
      async (request) => request.principal ?? { id: 'anonymous', name: 'anonymous', role: 'viewer' },
    );

    app.delete<{ Params: { id: string } }>(
      '/api/v1/tokens/:id',
      {
        config: { access: 'admin' },
        schema: { tags: ['tokens'], summary: 'Revoke a token (at once in this process, within 30 s in other API processes)', params: idParams, response: { 204: { type: 'null' } } },
      },
      async (request, reply) => {
        if (request.principal?.id === request.params.id) throw new FlowmapError('FLOWMAP_CONFLICT', 'a token cannot revoke itself; use another admin token', { status: 409 });
        if (!(await revokeToken(meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no token ${request.params.id}`, { status: 404 });
        auth.forget();
        request.log.info({ token: request.params.id, by: request.principal?.id }, 'api token revoked');
        return reply.status(204).send();
      },
    );
  };
}
