// Delivery records: what became of each event sent to each webhook, in the metadata namespace
// `webhook-deliveries`, so the API can list a webhook's deliveries and a user can see why one
// failed. One key per delivery, written when it is published (pending) and after every attempt;
// the namespace's version history therefore holds each attempt's outcome as well.
//
// Keys are `<webhook id>/<inverted event time>/<delivery id>`: a prefix read of one webhook comes
// back newest first straight from the store's key order, however many records it has.
import { createHash } from 'node:crypto';
import type { JsonValue, MetaStore } from '../../store/index.js';
import { FlowmapError } from '../../core/errors.js';
import type { EventType, FlowmapEvent } from './events.js';
import { checkWebhookId, MAX_PAGE_SIZE } from './webhooks.js';

export const WEBHOOK_DELIVERIES = 'webhook-deliveries';
/** The last attempts kept on a record (the version history has them all). */
export const ATTEMPT_LOG_LENGTH = 20;
const ERROR_LENGTH = 300;
/** Past every time a Date can hold (8.64e15 ms) and still a safe integer: inverted times are exact, positive, ≤ 16 digits. */
const TIME_CEILING = 9_000_000_000_000_000;

/**
 * pending: queued, not tried yet. retrying: an attempt failed and another is due. delivered: the
 * receiver answered 2xx. failed: a 4xx that retrying cannot change, or the last attempt failed.
 * skipped: the webhook was deleted, disabled or unsubscribed before its turn came.
 */
export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed' | 'skipped';
export const FINISHED: ReadonlySet<DeliveryStatus> = new Set(['delivered', 'failed', 'skipped']);

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  durationMs: number;
  /** The HTTP status, when the receiver answered. */
  status?: number;
  error?: string;
}

export interface DeliveryRecord {
  /** The X-Flowmap-Delivery header: the same on every attempt. */
  id: string;
  webhook: string;
  event: string;
  type: EventType;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  maxAttempts: number;
  lastStatus?: number;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
  deliveredAt?: string;
  /** The most recent attempts, oldest first. */
  log: DeliveryAttempt[];
}

/** `dlv_` and 32 hex digits of a hash of the event id and webhook id. */
export function deliveryId(eventId: string, webhookId: string): string {
  return `dlv_${createHash('sha256').update(`${eventId}\0${webhookId}`).digest('hex').slice(0, 32)}`;
}

export function deliveryKey(webhookId: string, event: Pick<FlowmapEvent, 'time'>, id: string): string {
  const inverted = String(TIME_CEILING - Date.parse(event.time)).padStart(16, '0');
  return `${webhookId}/${inverted}/${id}`;
}

export function pendingRecord(id: string, webhookId: string, event: FlowmapEvent, maxAttempts: number, now: Date): DeliveryRecord {
  const at = now.toISOString();
  return { id, webhook: webhookId, event: event.id, type: event.type, status: 'pending', attempts: 0, maxAttempts, createdAt: at, updatedAt: at, log: [] };
}

export async function readDelivery(meta: MetaStore, key: string): Promise<DeliveryRecord | undefined> {
  const entry = await meta.get(WEBHOOK_DELIVERIES, key);
  return entry === undefined ? undefined : (entry.value as unknown as DeliveryRecord);
}

export async function writeDelivery(meta: MetaStore, key: string, record: DeliveryRecord): Promise<void> {
  await meta.put(WEBHOOK_DELIVERIES, key, record as unknown as JsonValue);
}

/** The record after one more attempt. */
export function withAttempt(record: DeliveryRecord, attempt: DeliveryAttempt, status: DeliveryStatus): DeliveryRecord {
  const error = attempt.error === undefined ? undefined : attempt.error.slice(0, ERROR_LENGTH);
  const entry: DeliveryAttempt = { ...attempt, ...(error === undefined ? {} : { error }) };
  const next: DeliveryRecord = {
    ...record,
    status,
    attempts: Math.max(record.attempts, attempt.attempt),
    updatedAt: attempt.at,
    log: [...record.log, entry].slice(-ATTEMPT_LOG_LENGTH),
  };
  if (attempt.status === undefined) delete next.lastStatus;
  else next.lastStatus = attempt.status;
  if (error === undefined) delete next.lastError;
  else next.lastError = error;
  if (status === 'delivered') next.deliveredAt = attempt.at;
  return next;
}

/** A webhook's deliveries, newest first; at most `limit` (1–MAX_PAGE_SIZE, default 50). */
export async function listDeliveries(meta: MetaStore, webhookId: string, limit = 50): Promise<DeliveryRecord[]> {
  checkWebhookId(webhookId);
  if (!(Number.isInteger(limit) && limit >= 1)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${String(limit)} is not allowed: use a whole number ≥ 1 (at most ${MAX_PAGE_SIZE} are returned)`, { status: 400, details: { limit } });
  }
  const entries = await meta.list(WEBHOOK_DELIVERIES, { prefix: `${webhookId}/`, limit: Math.min(limit, MAX_PAGE_SIZE) });
  return entries.map((e) => e.value as unknown as DeliveryRecord);
}
