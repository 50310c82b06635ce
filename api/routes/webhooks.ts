// Webhook routes (admin): subscriptions to new findings and completed reports, delivered as
// signed JSON (analyzer/notify/signature.ts documents the X-Flowmap-Signature scheme); the secret
// is in the answers to create and rotate only. A test ping and each webhook's delivery records
// show whether the receiver gets them.
import type { FastifyPluginAsync } from 'fastify';
import { createWebhook, deleteWebhook, EVENT_TYPES, listWebhooks, MAX_PAGE_SIZE, requireWebhook, rotateWebhookSecret, updateWebhook, webhookTestEvent, type EventType, type Notifier } from '../../analyzer/notify/index.js';
import { FlowmapError } from '../../core/errors.js';
import type { Store } from '../../store/port.js';
import { cursorParam, nextCursorSchema } from '../pagination.js';

const iso = { type: 'string', format: 'date-time' } as const;
const events = { type: 'array', minItems: 1, maxItems: EVENT_TYPES.length, uniqueItems: true, items: { type: 'string', enum: [...EVENT_TYPES] } } as const;
const webhookProperties = {
  id: { type: 'string' },
  url: { type: 'string' },
  events: { type: 'array', items: { type: 'string', enum: [...EVENT_TYPES] } },
  enabled: { type: 'boolean' },
  description: { type: 'string' },
  createdAt: iso,
  updatedAt: iso,
  secretCreatedAt: iso,
} as const;
const webhookSchema = { type: 'object', required: ['id', 'url', 'events', 'enabled', 'createdAt', 'updatedAt', 'secretCreatedAt'], properties: webhookProperties } as const;
const withSecretSchema = {
  type: 'object',
  required: [...webhookSchema.required, 'secret'],
  properties: { ...webhookProperties, secret: { type: 'string', description: 'whsec_…: shown this once; the receiver verifies X-Flowmap-Signature with it' } },
} as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64, description: 'a webhook id' } } } as const;
const inputProperties = { url: { type: 'string', minLength: 1, maxLength: 2048 }, events, description: { type: 'string', maxLength: 500 }, enabled: { type: 'boolean' } } as const;
const deliverySchema = {
  type: 'object',
  required: ['id', 'webhook', 'event', 'type', 'status', 'attempts', 'maxAttempts', 'createdAt', 'updatedAt', 'log'],
  properties: {
    id: { type: 'string', description: 'the X-Flowmap-Delivery header, the same on every attempt' },
    webhook: { type: 'string' },
    event: { type: 'string' },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    status: { type: 'string', enum: ['pending', 'retrying', 'delivered', 'failed', 'skipped'] },
    attempts: { type: 'integer' },
    maxAttempts: { type: 'integer' },
    lastStatus: { type: 'integer' },
    lastError: { type: 'string' },
    createdAt: iso,
    updatedAt: iso,
    deliveredAt: iso,
    log: { type: 'array', items: { type: 'object', required: ['attempt', 'at', 'durationMs'], properties: { attempt: { type: 'integer' }, at: iso, durationMs: { type: 'number' }, status: { type: 'integer' }, error: { type: 'string' } } } },
  },
} as const;

export function webhookRoutes(store: Store, notifier: Notifier): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit?: number; cursor?: string } }>(
      '/api/v1/webhooks',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['webhooks'],
          summary: 'Webhook subscriptions, newest first (never their secrets)',
          querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 }, cursor: cursorParam } },
          response: { 200: { type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: webhookSchema }, nextCursor: nextCursorSchema } } },
        },
      },
      async (request) => {
        const page = await listWebhooks(store.meta, request.query);
        return { webhooks: page.webhooks, ...(page.next === undefined ? {} : { nextCursor: page.next }) };
      },
    );

    app.post<{ Body: { url: string; events?: EventType[]; description?: string; enabled?: boolean } }>(
      '/api/v1/webhooks',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['webhooks'],
          summary: 'Subscribe a URL to events (default new findings and completed reports); the answer carries the signing secret, once',
          body: { type: 'object', required: ['url'], additionalProperties: false, properties: inputProperties },
          response: { 201: withSecretSchema },
        },
      },
      async (request, reply) => reply.status(201).send(await createWebhook(store.meta, request.body)),
    );

    app.get<{ Params: { id: string } }>(
      '/api/v1/webhooks/:id',
      { config: { access: 'admin' }, schema: { tags: ['webhooks'], summary: 'A webhook subscription', params: idParams, response: { 200: webhookSchema } } },
      async (request) => requireWebhook(store.meta, request.params.id),
    );

    app.patch<{ Params: { id: string }; Body: { url?: string; events?: EventType[]; description?: string; enabled?: boolean } }>(
      '/api/v1/webhooks/:id',
      {
        config: { access: 'admin' },
        schema: { tags: ['webhooks'], summary: 'Change its URL, events, description, or turn it off and on', params: idParams, body: { type: 'object', minProperties: 1, additionalProperties: false, properties: inputProperties }, response: { 200: webhookSchema } },
      },
      async (request) => updateWebhook(store.meta, request.params.id, request.body),
    );

    app.delete<{ Params: { id: string } }>(
      '/api/v1/webhooks/:id',
      { config: { access: 'admin' }, schema: { tags: ['webhooks'], summary: 'Remove a webhook; deliveries still queued for it are skipped', params: idParams, response: { 204: { type: 'null' } } } },
      async (request, reply) => {
        if (!(await deleteWebhook(store.meta, request.params.id))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no webhook ${request.params.id}`, { status: 404 });
        return reply.status(204).send();
      },
    );

    app.post<{ Params: { id: string } }>(
      '/api/v1/webhooks/:id/rotate-secret',
      { config: { access: 'admin' }, schema: { tags: ['webhooks'], summary: 'A new signing secret, shown this once; the old one stops signing at once', params: idParams, response: { 200: withSecretSchema } } },
      async (request) => rotateWebhookSecret(store.meta, request.params.id),
    );

    app.post<{ Params: { id: string } }>(
      '/api/v1/webhooks/:id/test',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['webhooks'],
          summary: 'Queue a signed webhook.test event to this webhook (enabled or not); its delivery record says how it went',
          params: idParams,
          response: { 202: { type: 'object', required: ['jobs'], properties: { jobs: { type: 'array', items: { type: 'string' } } } } },
        },
      },
      async (request, reply) => {
        const result = await notifier.publish(webhookTestEvent(request.params.id), { webhook: request.params.id });
        return reply.status(202).send({ jobs: result.jobs });
      },
    );

    app.get<{ Params: { id: string }; Querystring: { limit?: number } }>(
      '/api/v1/webhooks/:id/deliveries',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['webhooks'],
          summary: "A webhook's deliveries, newest first, with every attempt's outcome",
          params: idParams,
          querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 } } },
          response: { 200: { type: 'object', required: ['deliveries'], properties: { deliveries: { type: 'array', items: deliverySchema } } } },
        },
      },
      async (request) => {
        await requireWebhook(store.meta, request.params.id);
        return { deliveries: await notifier.deliveries(request.params.id, request.query.limit ?? 50) };
      },
    );
  };
}
