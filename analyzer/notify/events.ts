// The events flowmap tells the outside world about (issue 10): a finding that is new in a baseline,
// a report that has been made, and a test ping of one webhook. An event's id is derived from what
// it is about, never drawn at random (except the test ping), so building and publishing the same
// event twice names the same deliveries and the job runner adds nothing the second time.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FlowmapError } from '../../core/errors.js';
import type { Finding } from '../policy/index.js';

export const EVENT_TYPES = ['finding.new', 'report.completed', 'webhook.test'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What a webhook body and a syslog message carry: `{ id, type, time, data }`, in that order. */
export interface FlowmapEvent {
  /** Stable: the same event published twice is delivered once. */
  id: string;
  type: EventType;
  /** ISO-8601 with a zone: when what the event reports happened (a baseline or report completed). */
  time: string;
  data: Record<string, unknown>;
}

/** A webhook body larger than this is refused at publish: receivers commonly cap bodies at 1 MiB. */
export const MAX_EVENT_BYTES = 1024 * 1024;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export const EventSchema = z.strictObject({
  id: z.string().min(1).max(200),
  type: z.enum(EVENT_TYPES),
  time: z.string().regex(ISO_TIME, 'must be an ISO-8601 time with its zone, e.g. 2026-03-02T03:45:00.000Z').refine((v) => !Number.isNaN(Date.parse(v)), 'must be a valid time'),
  data: z.record(z.string(), z.unknown()),
});

/**
 * An event as publish receives it, checked once at the boundary: it may have come from a caller's
 * JSON. Refused with FLOWMAP_BAD_REQUEST, saying which field is wrong.
 */
export function parseEvent(value: unknown): FlowmapEvent {
  const parsed = EventSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(event)'}: ${i.message}`);
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `not a flowmap event: ${problems.join('; ')}`, { status: 400, details: { problems } });
  }
  const event = parsed.data;
  let bytes: number;
  try {
    bytes = Buffer.byteLength(eventBody(event));
  } catch (err) {
    // Cycles or BigInts in data: not JSON, so no receiver could read it.
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `event ${event.id} cannot be written as JSON: ${err instanceof Error ? err.message : String(err)}`, { status: 400, details: { id: event.id } });
  }
  if (bytes > MAX_EVENT_BYTES) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `event ${event.id} is ${bytes} bytes as JSON; at most ${MAX_EVENT_BYTES} are delivered`, { status: 400, details: { id: event.id, bytes, max: MAX_EVENT_BYTES } });
  }
  return event;
}

/** The JSON a webhook receives: exactly these four fields, in this order. */
export function eventBody(event: FlowmapEvent): string {
  return JSON.stringify({ id: event.id, type: event.type, time: event.time, data: event.data });
}

/** `evt_` and 32 hex digits of a hash of what the event is about. */
function eventId(...parts: string[]): string {
  return `evt_${createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 32)}`;
}

function isoOf(time: string | Date | undefined): string {
  if (time === undefined) return new Date().toISOString();
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new FlowmapError('FLOWMAP_BAD_TIME', `event time ${String(time)} is not a valid time`, { status: 400, details: { time: String(time) } });
  return date.toISOString();
}

export interface EventTimeOptions {
  /**
   * When the baseline or report completed. Pass it: an event rebuilt later (a retried job) then
   * is the same event, with the same delivery records. Default: now.
   */
  time?: string | Date;
}

/**
 * One `finding.new` event per finding of `current` whose id is not among `previous`'s — the
 * findings a baseline brought that the one before it did not have. Without a previous baseline
 * (the first one) every finding is new. The event id hashes the baseline id and the finding id, so
 * the same finding is a new event again only in a later baseline that follows one without it.
 * O(current + previous).
 */
export function findingEvents(baselineId: string, current: readonly Finding[], previous: readonly Finding[] | undefined, options: EventTimeOptions = {}): FlowmapEvent[] {
  const time = isoOf(options.time);
  const before = new Set((previous ?? []).map((f) => f.id));
  const events: FlowmapEvent[] = [];
  const seen = new Set<string>();
  for (const finding of current) {
    if (before.has(finding.id) || seen.has(finding.id)) continue;
    seen.add(finding.id);
    events.push({ id: eventId('finding.new', baselineId, finding.id), type: 'finding.new', time, data: { baseline: baselineId, finding } });
  }
  return events;
}

/** A report's summary as the event carries it: its id, its baseline and whatever summary fields the caller adds. */
export interface ReportSummary {
  id: string;
  baseline: string;
  [field: string]: unknown;
}

/** The `report.completed` event of a report; its id hashes the report id, one event per report. */
export function reportEvent(report: ReportSummary, options: EventTimeOptions = {}): FlowmapEvent {
  return { id: eventId('report.completed', report.id), type: 'report.completed', time: isoOf(options.time), data: { report: { ...report } } };
}

/** A test ping for one webhook (an API "send test" button): a fresh id every time, so every ping is delivered. */
export function webhookTestEvent(webhookId: string, options: { now?: Date } = {}): FlowmapEvent {
  return {
    id: eventId('webhook.test', webhookId, randomBytes(8).toString('hex')),
    type: 'webhook.test',
    time: isoOf(options.now),
    data: { webhook: webhookId, message: 'a test delivery from flowmap' },
  };
}
