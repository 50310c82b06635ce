// Webhook subscriptions, kept in the metadata namespace `webhooks` (one key per webhook id; every
// change appends a version). A webhook is a URL, the event types it wants and whether it is
// enabled, plus its signing secret.
//
// The secret is stored as it is — not hashed — because every delivery has to sign with it (HMAC
// needs the key itself), and that happens in whichever worker process runs the job. It is
// therefore as secret as the store: readable by whoever can read the metadata table, and kept in
// that namespace's version history after a rotation. The API shows it once, in the answer to
// create and to rotate; list and get never return it, and nothing here logs it.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FlowmapError } from '../../core/errors.js';
import type { JsonValue, MetaStore } from '../../store/index.js';
import { EVENT_TYPES, type EventType } from './events.js';

export const WEBHOOKS = 'webhooks';
/** Subscriptions per flowmap: every publish reads them all. */
export const MAX_WEBHOOKS = 1000;
export const MAX_URL_LENGTH = 2048;
export const MAX_DESCRIPTION_LENGTH = 500;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
/** What a webhook receives when created without an event list; test pings reach every webhook they are sent to. */
export const DEFAULT_WEBHOOK_EVENTS: readonly EventType[] = ['finding.new', 'report.completed'];

const ID = /^wh_[0-9a-f]{16}$/;
const SECRET_PREFIX = 'whsec_';

export interface Webhook {
  id: string;
  url: string;
  events: EventType[];
  enabled: boolean;
  description?: string;
  createdAt: string;
  updatedAt: string;
  /** When the current secret was made (at creation, then at each rotation). */
  secretCreatedAt: string;
}

/** The answer to create and rotate, the only ones that carry the secret. */
export interface WebhookWithSecret extends Webhook {
  /** `whsec_` + 32 random bytes, base64url. Shown once; the receiver keeps it to verify signatures. */
  secret: string;
}

export interface WebhookInput {
  url: string;
  events?: EventType[];
  description?: string;
  enabled?: boolean;
}

export type WebhookPatch = Partial<WebhookInput>;

export interface WebhookPage {
  webhooks: Webhook[];
  /** Pass as `cursor` for the next (older) page; absent on the last page. */
  next?: string;
}

function badRequest(message: string, details: Record<string, unknown> = {}): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_REQUEST', message, { status: 400, details });
}

/**
 * An http(s) URL without credentials, at most MAX_URL_LENGTH characters; returns it normalised.
 * The messages never repeat the URL: it may carry a token in its path or query.
 */
export function checkWebhookUrl(url: unknown): string {
  if (typeof url !== 'string' || url === '') throw badRequest('webhook url is required: an absolute http:// or https:// URL');
  if (url.length > MAX_URL_LENGTH) throw badRequest(`webhook url is ${url.length} characters long; at most ${MAX_URL_LENGTH} are allowed`, { length: url.length, max: MAX_URL_LENGTH });
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\s\x00-\x1f\x7f]/.test(url)) throw badRequest('webhook url must not contain spaces or control characters');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badRequest('webhook url is not a valid absolute URL; use e.g. https://hooks.example.net/flowmap');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw badRequest(`webhook url must use http or https, not ${parsed.protocol.slice(0, 20)}`, { protocol: parsed.protocol.slice(0, 20) });
  if (parsed.username !== '' || parsed.password !== '') {
    throw badRequest('webhook url must not carry credentials (user:password@host); deliveries are authenticated by their signature, which the receiver verifies with the secret');
  }
  if (parsed.hostname === '') throw badRequest('webhook url has no host');
  if (parsed.href.length > MAX_URL_LENGTH) throw badRequest(`webhook url is ${parsed.href.length} characters long once normalised; at most ${MAX_URL_LENGTH} are allowed`, { length: parsed.href.length, max: MAX_URL_LENGTH });
  return parsed.href;
}

export function checkWebhookId(id: string): void {
  if (typeof id !== 'string' || !ID.test(id)) throw badRequest(`"${String(id).slice(0, 80)}" is not a webhook id (they look like wh_0123456789abcdef)`, { id: String(id).slice(0, 80) });
}

const EventsSchema = z
  .array(z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }))
  .min(1, 'must name at least one event type; disable the webhook to stop deliveries')
  .max(EVENT_TYPES.length * 4);
const PatchSchema = z.strictObject({
  url: z.unknown().optional(),
  events: EventsSchema.optional(),
  description: z.string().max(MAX_DESCRIPTION_LENGTH, `must be at most ${MAX_DESCRIPTION_LENGTH} characters`).optional(),
  enabled: z.boolean('must be true or false').optional(),
});

function parsePatch(input: unknown): z.infer<typeof PatchSchema> {
  const parsed = PatchSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || 'webhook'}: ${i.message}`);
    throw badRequest(`invalid webhook: ${problems.join('; ')}`, { problems });
  }
  return parsed.data;
}

/** As kept in the store: with the secret. Only delivery (this folder) reads it. */
export interface StoredWebhook extends Webhook {
  secret: string;
}

function newSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

function withoutSecret(stored: StoredWebhook): Webhook {
  const { secret: _secret, ...webhook } = stored;
  return webhook;
}

async function save(meta: MetaStore, webhook: StoredWebhook): Promise<void> {
  await meta.put(WEBHOOKS, webhook.id, webhook as unknown as JsonValue);
}

async function readStored(meta: MetaStore, id: string): Promise<StoredWebhook | undefined> {
  checkWebhookId(id);
  const entry = await meta.get(WEBHOOKS, id);
  return entry === undefined ? undefined : (entry.value as unknown as StoredWebhook);
}

async function requireStored(meta: MetaStore, id: string): Promise<StoredWebhook> {
  const stored = await readStored(meta, id);
  if (stored === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no webhook "${id}"`, { status: 404, details: { id } });
  return stored;
}

async function allStored(meta: MetaStore): Promise<StoredWebhook[]> {
  const entries = await meta.list(WEBHOOKS, { limit: MAX_WEBHOOKS + 1 });
  return entries.map((e) => e.value as unknown as StoredWebhook);
}

export async function createWebhook(meta: MetaStore, input: WebhookInput, options: { now?: Date } = {}): Promise<WebhookWithSecret> {
  const patch = parsePatch(input);
  const url = checkWebhookUrl(patch.url);
  const existing = await meta.list(WEBHOOKS, { limit: MAX_WEBHOOKS });
  if (existing.length >= MAX_WEBHOOKS) throw new FlowmapError('FLOWMAP_CONFLICT', `there are already ${MAX_WEBHOOKS} webhooks, the most allowed; delete unused ones first`, { status: 409, details: { max: MAX_WEBHOOKS } });
  const at = (options.now ?? new Date()).toISOString();
  const stored: StoredWebhook = {
    id: `wh_${randomBytes(8).toString('hex')}`,
    url,
    events: [...new Set(patch.events ?? DEFAULT_WEBHOOK_EVENTS)],
    enabled: patch.enabled ?? true,
    ...(patch.description === undefined || patch.description === '' ? {} : { description: patch.description }),
    createdAt: at,
    updatedAt: at,
    secretCreatedAt: at,
    secret: newSecret(),
  };
  await save(meta, stored);
  return { ...withoutSecret(stored), secret: stored.secret };
}

export async function getWebhook(meta: MetaStore, id: string): Promise<Webhook | undefined> {
  const stored = await readStored(meta, id);
  return stored === undefined ? undefined : withoutSecret(stored);
}

/** Like getWebhook, but FLOWMAP_NOT_FOUND (404) when there is none. */
export async function requireWebhook(meta: MetaStore, id: string): Promise<Webhook> {
  return withoutSecret(await requireStored(meta, id));
}

/** Newest first (creation time, then id). The cursor is opaque; a page holds at most MAX_PAGE_SIZE. */
export async function listWebhooks(meta: MetaStore, options: { limit?: number; cursor?: string } = {}): Promise<WebhookPage> {
  const limit = pageSize(options.limit);
  const after = options.cursor === undefined || options.cursor === '' ? undefined : decodeCursor(options.cursor);
  const sorted = (await allStored(meta)).sort(newestFirst);
  const start = after === undefined ? 0 : sorted.findIndex((w) => newestFirst(w, { createdAt: after.createdAt, id: after.id }) > 0);
  const page = start < 0 ? [] : sorted.slice(start, start + limit);
  const last = page.at(-1);
  const more = start >= 0 && start + limit < sorted.length;
  return { webhooks: page.map(withoutSecret), ...(more && last !== undefined ? { next: encodeCursor(last) } : {}) };
}

export async function updateWebhook(meta: MetaStore, id: string, patch: WebhookPatch, options: { now?: Date } = {}): Promise<Webhook> {
  const changes = parsePatch(patch);
  const stored = await requireStored(meta, id);
  const next: StoredWebhook = {
    ...stored,
    ...(changes.url === undefined ? {} : { url: checkWebhookUrl(changes.url) }),
    ...(changes.events === undefined ? {} : { events: [...new Set(changes.events)] }),
    ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
    updatedAt: (options.now ?? new Date()).toISOString(),
  };
  if (changes.description !== undefined) {
    if (changes.description === '') delete next.description;
    else next.description = changes.description;
  }
  await save(meta, next);
  return withoutSecret(next);
}

/** A new secret; the old one stops verifying at once (deliveries already signed keep their signature). */
export async function rotateWebhookSecret(meta: MetaStore, id: string, options: { now?: Date } = {}): Promise<WebhookWithSecret> {
  const stored = await requireStored(meta, id);
  const at = (options.now ?? new Date()).toISOString();
  const next: StoredWebhook = { ...stored, secret: newSecret(), secretCreatedAt: at, updatedAt: at };
  await save(meta, next);
  return { ...withoutSecret(next), secret: next.secret };
}

/** False when there was no such webhook. Its delivery records stay, for the history. */
export async function deleteWebhook(meta: MetaStore, id: string): Promise<boolean> {
  checkWebhookId(id);
  return meta.delete(WEBHOOKS, id);
}

// ---- For delivery (this folder only): the record with its secret ----

/** The webhook as a delivery needs it, secret included; undefined once deleted. */
export function webhookForDelivery(meta: MetaStore, id: string): Promise<StoredWebhook | undefined> {
  return readStored(meta, id);
}

/** Enabled webhooks that subscribe to `type`. */
export async function subscribers(meta: MetaStore, type: EventType): Promise<StoredWebhook[]> {
  return (await allStored(meta)).filter((w) => w.enabled && w.events.includes(type)).sort(newestFirst);
}

// ---- Paging ----

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!(Number.isInteger(limit) && limit >= 1)) throw badRequest(`limit ${String(limit)} is not allowed: use a whole number ≥ 1 (at most ${MAX_PAGE_SIZE} are returned)`, { limit });
  return Math.min(limit, MAX_PAGE_SIZE);
}

function newestFirst(a: Pick<Webhook, 'createdAt' | 'id'>, b: Pick<Webhook, 'createdAt' | 'id'>): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function encodeCursor(webhook: Webhook): string {
  return Buffer.from(JSON.stringify([webhook.createdAt, webhook.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const refuse = (): FlowmapError => badRequest('cursor is not one this API returned; start again without a cursor');
  if (typeof cursor !== 'string' || cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw refuse();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || typeof decoded[0] !== 'string' || typeof decoded[1] !== 'string' || !ID.test(decoded[1])) throw refuse();
  return { createdAt: decoded[0], id: decoded[1] };
}
