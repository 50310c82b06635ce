// API tokens (DESIGN.md §5 "api tokens", §10 authentication): creation, verification, listing and
// revocation, in the metadata store's `tokens` namespace.
//
// A token reads `flowmap_<id>_<secret>`: `id` (12 lowercase base32 characters) names the record,
// `secret` is 32 random bytes (base64url). Only the SHA-256 of the whole token is stored. A slow
// password hash (scrypt, argon2) is for low-entropy secrets people choose; a 256-bit random secret
// cannot be guessed, so one SHA-256 keeps verification cheap on every request while a stolen copy
// of the store still yields no usable token. The token itself is shown once, in the answer that
// creates it. Verification compares hashes in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FlowmapError } from '../core/errors.js';
import type { JsonValue, MetaStore } from '../store/port.js';

export const ROLES = ['viewer', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const NAMESPACE = 'tokens';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const TOKEN_PATTERN = /^flowmap_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_TOKENS = 10_000;

/** What may be done with a role: each role includes the ones before it. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  /** Who created it: another token's id, `bootstrap` (first start) or `cli`. */
  createdBy: string;
  expiresAt?: string;
  /** Updated at most once an hour, so verifying stays a read. */
  lastUsedAt?: string;
}

interface StoredToken extends TokenRecord {
  sha256: string;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

function newId(): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const b of bytes) id += ALPHABET[b & 31];
  return id;
}

const publicRecord = ({ sha256: _omit, ...record }: StoredToken): TokenRecord => record;

function parseStored(value: JsonValue | undefined): StoredToken | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || typeof v.sha256 !== 'string' || typeof v.role !== 'string' || !(ROLES as readonly string[]).includes(v.role)) return undefined;
  return v as unknown as StoredToken;
}

export interface CreatedToken {
  token: string;
  record: TokenRecord;
}

export async function createToken(meta: MetaStore, input: { name: string; role: Role; createdBy: string; expiresAt?: string; now?: number }): Promise<CreatedToken> {
  const name = input.name.trim();
  if (name === '' || name.length > 200) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'a token name must be 1-200 characters', { status: 400, details: { field: 'name' } });
  if (!(ROLES as readonly string[]).includes(input.role)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `role must be one of ${ROLES.join(', ')}`, { status: 400, details: { field: 'role' } });
  const now = input.now ?? Date.now();
  if (input.expiresAt !== undefined) {
    const at = Date.parse(input.expiresAt);
    if (!Number.isFinite(at) || at <= now) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `expiresAt '${input.expiresAt.slice(0, 64)}' must be an ISO-8601 time in the future`, { status: 400, details: { field: 'expiresAt' } });
  }
  if ((await meta.list(NAMESPACE, { limit: MAX_TOKENS })).length >= MAX_TOKENS) {
    throw new FlowmapError('FLOWMAP_CONFLICT', `there are ${MAX_TOKENS} tokens already; revoke some first`, { status: 409 });
  }
  const id = newId();
  const token = `flowmap_${id}_${randomBytes(32).toString('base64url')}`;
  const stored: StoredToken = {
    id,
    name,
    role: input.role,
    createdAt: new Date(now).toISOString(),
    createdBy: input.createdBy,
    ...(input.expiresAt === undefined ? {} : { expiresAt: new Date(input.expiresAt).toISOString() }),
    sha256: hash(token),
  };
  await meta.put(NAMESPACE, id, stored as unknown as JsonValue);
  return { token, record: publicRecord(stored) };
}

/** The token's record when the token is valid and not expired; undefined otherwise (never throws on a malformed token). */
export async function verifyToken(meta: MetaStore, token: string, now = Date.now()): Promise<TokenRecord | undefined> {
  const match = TOKEN_PATTERN.exec(token);
  if (match === null) return undefined;
  const stored = parseStored((await meta.get(NAMESPACE, match[1] as string))?.value);
  if (stored === undefined) return undefined;
  const given = Buffer.from(hash(token), 'hex');
  const expected = Buffer.from(stored.sha256, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  if (stored.expiresAt !== undefined && Date.parse(stored.expiresAt) <= now) return undefined;
  return publicRecord(stored);
}

/** The id part of a well-formed token (for rate-limit keys and logs; says nothing about validity). */
export const tokenId = (token: string): string | undefined => TOKEN_PATTERN.exec(token)?.[1];

export async function touchToken(meta: MetaStore, id: string, now = Date.now()): Promise<void> {
  const stored = parseStored((await meta.get(NAMESPACE, id))?.value);
  if (stored === undefined) return;
  await meta.put(NAMESPACE, id, { ...stored, lastUsedAt: new Date(now).toISOString() });
}

export async function listTokens(meta: MetaStore): Promise<TokenRecord[]> {
  const entries = await meta.list(NAMESPACE, { limit: MAX_TOKENS });
  return entries
    .map((e) => parseStored(e.value))
    .filter((t): t is StoredToken => t !== undefined)
    .map(publicRecord)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
}

export async function getToken(meta: MetaStore, id: string): Promise<TokenRecord | undefined> {
  const stored = parseStored((await meta.get(NAMESPACE, id))?.value);
  return stored === undefined ? undefined : publicRecord(stored);
}

export async function revokeToken(meta: MetaStore, id: string): Promise<boolean> {
  return meta.delete(NAMESPACE, id);
}

/**
 * First start: when the store holds no token, creates an admin token and returns it (the caller
 * prints it once); otherwise undefined.
 */
export async function bootstrapAdminToken(meta: MetaStore): Promise<CreatedToken | undefined> {
  if ((await meta.list(NAMESPACE, { limit: 1 })).length > 0) return undefined;
  return createToken(meta, { name: 'bootstrap admin', role: 'admin', createdBy: 'bootstrap' });
}
