// Webhook signatures: how a receiver knows a delivery came from this flowmap and was not replayed.
//
// The scheme, for someone writing a receiver in any language:
//
//   Every delivery is an HTTP POST with `Content-Type: application/json` and these headers:
//     X-Flowmap-Event:     the event type (finding.new, report.completed, webhook.test)
//     X-Flowmap-Delivery:  the delivery id — the same on every retry of one event to one webhook;
//                          a receiver that has processed it once answers 2xx and ignores it again
//     X-Flowmap-Signature: t=<unix seconds>,v1=<hex>
//   where <hex> is the lowercase hex HMAC-SHA256, keyed with the webhook's secret (the whole
//   string as shown when the webhook was created, `whsec_…` prefix included, as UTF-8 bytes), of
//   the bytes `<t>.<raw body>`: the decimal timestamp, one full stop, then the request body exactly
//   as received — before any JSON parsing, which would change whitespace and key order.
//
//   To verify: split the header on `,` into key=value pairs; take `t` and every `v1` (more than one
//   may appear; unknown keys are for later versions and are ignored); compute the HMAC over
//   `<t>.<body>`; accept when it equals one of the `v1` values under a constant-time comparison
//   and `t` is within 5 minutes of the receiver's clock. The timestamp is taken at each attempt,
//   so a retry an hour later still verifies; a captured request replayed later does not.
//
// `verifySignature` below is that check; it never throws, whatever the header holds.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FlowmapError } from '../../core/errors.js';

export const SIGNATURE_HEADER = 'X-Flowmap-Signature';
export const EVENT_HEADER = 'X-Flowmap-Event';
export const DELIVERY_HEADER = 'X-Flowmap-Delivery';
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Longer headers are refused unread: a signature header is about 80 characters. */
const MAX_HEADER_LENGTH = 4096;
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

function hmac(secret: string, body: string | Uint8Array, timestamp: number): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The X-Flowmap-Signature value of `body` at `timestamp` (Unix seconds). */
export function signPayload(secret: string, body: string | Uint8Array, timestamp: number): string {
  if (typeof secret !== 'string' || secret === '') throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'a webhook secret must be a non-empty string', { status: 400 });
  if (!(Number.isSafeInteger(timestamp) && timestamp >= 0)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `signature timestamp ${timestamp} is not allowed: use whole Unix seconds ≥ 0`, { status: 400, details: { timestamp } });
  return `t=${timestamp},v1=${hmac(secret, body, timestamp)}`;
}

export interface VerifyOptions {
  /** How far the signature's timestamp may be from `now`, either way. Default 300 s. */
  toleranceSeconds?: number;
  /** The receiver's clock; default the current time. */
  now?: Date | number;
}

/**
 * Whether `header` is a valid X-Flowmap-Signature of `body` under `secret`, made within
 * `toleranceSeconds` of `now`. False — never an exception — for a missing, malformed, stale,
 * future or wrong signature.
 */
export function verifySignature(secret: string, header: string | null | undefined, body: string | Uint8Array, options: VerifyOptions = {}): boolean {
  try {
    if (typeof secret !== 'string' || secret === '' || typeof header !== 'string' || header.length > MAX_HEADER_LENGTH) return false;
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) return false;
    let timestamp: number | undefined;
    const candidates: string[] = [];
    for (const part of header.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) return false;
      const key = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (key === 't') {
        if (timestamp !== undefined || !/^\d{1,15}$/.test(value)) return false;
        timestamp = Number(value);
      } else if (key === 'v1') {
        if (HEX_SHA256.test(value)) candidates.push(value);
      }
    }
    if (timestamp === undefined || candidates.length === 0) return false;
    const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
    if (!(Math.abs(now / 1000 - timestamp) <= tolerance)) return false;
    const expected = Buffer.from(hmac(secret, body, timestamp), 'hex');
    let valid = false;
    // Every candidate is compared, so the time taken does not say which one matched.
    for (const candidate of candidates) valid = timingSafeEqual(expected, Buffer.from(candidate, 'hex')) || valid;
    return valid;
  } catch {
    return false;
  }
}
