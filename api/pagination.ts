// Cursor pagination for list routes. A list is sorted by a key (a tuple, each part ascending or
// descending); the cursor is the key of the last item of a page, base64url JSON, so the next page
// starts after it even when items were added or removed in between: nothing is skipped or
// repeated. A cursor is untrusted input: one that does not decode to a key of the right shape is
// a 400, never a 500.
import { FlowmapError } from '../core/errors.js';

export type KeyPart = string | number;
export type Direction = 'asc' | 'desc';

/** Page sizes: the default and the cap every list route documents. */
export const PAGE_DEFAULT = 100;
export const PAGE_MAX = 1000;

export const limitParam = { type: 'integer', minimum: 1, maximum: PAGE_MAX, default: PAGE_DEFAULT, description: `page size (at most ${PAGE_MAX})` } as const;
export const cursorParam = { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page' } as const;
export const nextCursorSchema = { type: 'string', description: 'present when there is a next page: pass it as cursor' } as const;

export function encodeCursor(key: readonly KeyPart[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string, shape: readonly ('string' | 'number')[]): KeyPart[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== shape.length || !key.every((part, i) => typeof part === shape[i] && (typeof part !== 'number' || Number.isFinite(part)))) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'cursor is not one this list handed out: pass nextCursor of the previous page unchanged', { status: 400, details: { parameter: 'cursor' } });
  }
  return key as KeyPart[];
}

function compare(a: readonly KeyPart[], b: readonly KeyPart[], order: readonly Direction[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as KeyPart;
    const y = b[i] as KeyPart;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
    if (c !== 0) return order[i] === 'desc' ? -c : c;
  }
  return 0;
}

/** How a list is ordered: its key of each item, and each part's type and direction. */
export interface ListOrder<T> {
  key(item: T): KeyPart[];
  parts: readonly (readonly ['string' | 'number', Direction])[];
}

/**
 * One page of `items` (any order): sorted by `order`, those after the cursor, at most `limit`.
 * O(n log n) per page: the lists it serves (policies, tokens, reports, findings) are in the
 * thousands and held in memory already.
 */
export function paginate<T>(items: readonly T[], options: { limit?: number; cursor?: string }, order: ListOrder<T>): { page: T[]; nextCursor?: string } {
  const limit = Math.min(options.limit ?? PAGE_DEFAULT, PAGE_MAX);
  const directions = order.parts.map(([, direction]) => direction);
  const keyed = items.map((item) => ({ item, key: order.key(item) })).sort((a, b) => compare(a.key, b.key, directions));
  let start = 0;
  if (options.cursor !== undefined) {
    const after = decodeCursor(options.cursor, order.parts.map(([type]) => type));
    start = keyed.findIndex((k) => compare(k.key, after, directions) > 0);
    if (start < 0) start = keyed.length;
  }
  const slice = keyed.slice(start, start + limit);
  const last = slice[slice.length - 1];
  return { page: slice.map((k) => k.item), ...(start + limit < keyed.length && last !== undefined ? { nextCursor: encodeCursor(last.key) } : {}) };
}

/** Newest first by an ISO time, then by id: the order of most lists. */
export const newestFirst = <T>(time: (item: T) => string, id: (item: T) => string): ListOrder<T> => ({
  key: (item) => [time(item), id(item)],
  parts: [['string', 'desc'], ['string', 'asc']],
});
