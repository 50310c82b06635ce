// Intent routes: the documented dependencies (DESIGN.md §9 intents file) the recommendation marks
// as intended and findings leave out. Read by viewers; imported and edited by analysts.
import type { FastifyPluginAsync } from 'fastify';
import { deleteIntent, importIntents, listIntents, parseIntents } from '../../analyzer/policy/index.js';
import { FlowmapError } from '../../core/errors.js';
import type { Store } from '../../store/port.js';
import { cursorParam, limitParam, nextCursorSchema, paginate } from '../pagination.js';
import { intentSchema, portsInput, protocolInput, selectorInput } from '../schemas.js';

const importSummary = {
  type: 'object',
  required: ['added', 'kept', 'removed', 'total'],
  properties: { added: { type: 'integer' }, kept: { type: 'integer' }, removed: { type: 'integer' }, total: { type: 'integer' } },
} as const;

export function intentRoutes(store: Store): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit?: number; cursor?: string } }>(
      '/api/v1/intents',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['intents'],
          summary: 'The documented dependencies, by id',
          querystring: { type: 'object', properties: { limit: limitParam, cursor: cursorParam } },
          response: { 200: { type: 'object', required: ['total', 'intents'], properties: { total: { type: 'integer' }, intents: { type: 'array', items: intentSchema }, nextCursor: nextCursorSchema } } },
        },
      },
      async (request) => {
        const intents = await listIntents(store.meta);
        const { page, nextCursor } = paginate(intents, request.query, { key: (i) => [i.id], parts: [['string', 'asc']] });
        return { total: intents.length, intents: page, ...(nextCursor === undefined ? {} : { nextCursor }) };
      },
    );

    app.put<{ Body: { intents: unknown[] }; Querystring: { merge?: boolean } }>(
      '/api/v1/intents',
      {
        config: { access: 'analyst', class: 'heavy' },
        schema: {
          tags: ['intents'],
          summary: 'Import an intents file (DESIGN.md §9): replaces the intents, or adds to them with ?merge=true',
          querystring: { type: 'object', properties: { merge: { type: 'boolean' } } },
          body: { type: 'object', required: ['intents'], properties: { intents: { type: 'array', maxItems: 100_000 } } },
          response: { 200: importSummary },
        },
      },
      async (request) => {
        const intents = parseIntents(request.body, 'in the request body');
        return importIntents(store.meta, intents, { merge: request.query.merge === true });
      },
    );

    app.post<{ Body: Record<string, unknown> }>(
      '/api/v1/intents',
      {
        config: { access: 'analyst' },
        schema: {
          tags: ['intents'],
          summary: 'Add one intent',
          body: { type: 'object', required: ['from', 'to'], additionalProperties: false, properties: { from: selectorInput, to: selectorInput, protocol: protocolInput, ports: portsInput, description: { type: 'string', maxLength: 1000 } } },
          response: { 201: intentSchema },
        },
      },
      async (request, reply) => {
        const [intent] = parseIntents({ intents: [request.body] }, 'in the request body');
        await importIntents(store.meta, intent === undefined ? [] : [intent], { merge: true });
        return reply.status(201).send(intent);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/api/v1/intents/:id',
      {
        config: { access: 'analyst' },
        schema: { tags: ['intents'], summary: 'Remove an intent', params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } }, response: { 204: { type: 'null' } } },
      },
      async (request, reply) => {
        if (!(await deleteIntent(store.meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no intent "${request.params.id}"`, { status: 404 });
        return reply.status(204).send();
      },
    );
  };
}
