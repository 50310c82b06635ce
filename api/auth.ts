// Who may call which route (DESIGN.md §10): every /api/v1 route declares an access level in its
// route config (`config: { access: 'viewer' | 'analyst' | 'admin' | 'public' }`), and this module
// turns that into
//   - the check on each request: a bearer token (api/tokens.ts) whose role is at least the
//     route's, else 401 (no or bad token) or 403 (role too low), in the common error shape;
//   - the route's class for rate and body limits (read, write, heavy, upload);
//   - the route's OpenAPI entry: its security requirement, `x-flowmap-role`, the role in its
//     description, and the 400/401/403/429 answers.
// A route under /api/ without an access level is refused when it is registered, so no route can be
// added unguarded by forgetting. Authentication is off only when the configuration says so and
// the server listens on loopback alone (config.ts refuses the combination otherwise); then every
// request acts as admin.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { FlowmapError } from '../core/errors.js';
import type { MetaStore } from '../store/port.js';
import { roleAllows, touchToken, verifyToken, type Role, type TokenRecord } from './tokens.js';

export type Access = 'public' | Role;
/** Rate and body limits go by class: cheap reads, writes, expensive computations, file uploads. */
export type RouteClass = 'read' | 'write' | 'heavy' | 'upload';

export interface Principal {
  /** A token's id, `local` (the embedded server's own token) or `anonymous` (authentication off). */
  id: string;
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** Default: read for GET, write otherwise. */
    class?: RouteClass;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface AuthOptions {
  /** False only for loopback-only servers configured so (config.ts checks). */
  enabled: boolean;
  meta?: MetaStore;
  /** A token accepted as admin without being stored: the embedded server's own, for the local CLI. */
  localToken?: string;
  /** Requests per minute per token (or per address without one), by route class. */
  rateLimits: Record<RouteClass, number>;
  /** Largest request body in bytes by route class; uploads stream and bound themselves. */
  bodyLimits: Record<Exclude<RouteClass, 'upload'>, number>;
  /** Failed authentications allowed per client address per minute before it gets 429s (default 30). */
  failuresPerMinute?: number;
}

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 1000;
const TOUCH_EVERY_MS = 3_600_000;
const FAILURES_PER_MINUTE = 30;

export const ROUTE_CLASS_LIMITS: { rate: Record<RouteClass, number>; body: Record<Exclude<RouteClass, 'upload'>, number> } = {
  rate: { read: 1200, write: 240, heavy: 60, upload: 60 },
  body: { read: 64 * 1024, write: 1024 * 1024, heavy: 32 * 1024 * 1024 },
};

export const routeClass = (route: Pick<RouteOptions, 'method' | 'config'>): RouteClass =>
  route.config?.class ?? (route.method === 'GET' || (Array.isArray(route.method) && route.method.every((m) => m === 'GET' || m === 'HEAD')) ? 'read' : 'write');

const ROLE_TEXT: Record<Access, string> = {
  public: 'No token needed.',
  viewer: 'Requires a token of role viewer, analyst or admin.',
  analyst: 'Requires a token of role analyst or admin.',
  admin: 'Requires a token of role admin.',
};

const errorRef = { $ref: 'ErrorBody#' } as const;

/**
 * Guards and documents the routes registered after it (call before the route plugins; the onRoute
 * hook must also run before @fastify/swagger's and @fastify/rate-limit's read the route).
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): { forget(): void } {
  const cache = new Map<string, { record: TokenRecord; until: number }>();
  const touched = new Map<string, number>();
  const failures = new Map<string, { count: number; since: number }>();
  const localHash = options.localToken === undefined ? undefined : createHash('sha256').update(options.localToken).digest('hex');

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    const access = route.config?.access;
    if (access === undefined) throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `route ${String(route.method)} ${route.url} declares no access level (config.access)`);
    const cls = routeClass(route);
    route.config = { ...route.config, rateLimit: access === 'public' ? false : { max: options.rateLimits[cls], timeWindow: 60_000, groupId: cls } };
    if (cls !== 'upload' && route.bodyLimit === undefined) route.bodyLimit = options.bodyLimits[cls];
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    const querystring = schema.querystring as Record<string, unknown> | undefined;
    // Unknown query parameters are a 400, so a typo never silently means "no filter".
    schema.querystring = querystring === undefined ? { type: 'object', additionalProperties: false, properties: {} } : { ...querystring, additionalProperties: false };
    const response = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
    // A route with its own error shape (Firehose: AWS's) declares 4xx/5xx and keeps it.
    for (const status of access === 'public' ? [400, 404, 429, 500] : [400, 401, 403, 404, 429, 500]) {
      if (response[status] === undefined && response[`${String(status)[0]}xx`] === undefined) response[status] = errorRef;
    }
    if (access !== 'public') schema.security = [{ bearerAuth: [] }];
    schema.response = response;
    schema['x-flowmap-role'] = access;
    schema['x-flowmap-class'] = cls;
    schema.description = `${typeof schema.description === 'string' ? `${schema.description}\n\n` : ''}${ROLE_TEXT[access]}`;
    route.schema = schema;
  });

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    const principal = await authenticate(request);
    if (principal === undefined) {
      if (tooManyFailures(request.ip)) throw new FlowmapError('FLOWMAP_RATE_LIMITED', 'too many failed authentications from this address; wait a minute', { status: 429 });
      reply.header('www-authenticate', 'Bearer realm="flowmap"');
      throw new FlowmapError('FLOWMAP_UNAUTHORIZED', 'this route needs an API token: send "Authorization: Bearer flowmap_…" (an admin creates tokens with POST /api/v1/tokens or `flowmap token create`)', { status: 401 });
    }
    if (!roleAllows(principal.role, access)) {
      throw new FlowmapError('FLOWMAP_FORBIDDEN', `${request.method} ${request.routeOptions.url ?? request.url} needs role ${access}; this token (${principal.id}) has role ${principal.role}`, {
        status: 403,
        details: { needed: access, role: principal.role },
      });
    }
    request.principal = principal;
  });

  async function authenticate(request: FastifyRequest): Promise<Principal | undefined> {
    if (!options.enabled) return { id: 'anonymous', name: 'authentication off (loopback only)', role: 'admin' };
    const header = request.headers.authorization;
    if (typeof header !== 'string' || header.length > 512) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) return undefined;
    const token = match[1] as string;
    const digest = createHash('sha256').update(token).digest('hex');
    if (localHash !== undefined && digest === localHash) return { id: 'local', name: 'local CLI', role: 'admin' };
    if (options.meta === undefined) return undefined;
    const now = Date.now();
    const cached = cache.get(digest);
    let record = cached !== undefined && cached.until > now ? cached.record : undefined;
    if (record === undefined) {
      record = await verifyToken(options.meta, token, now);
      if (record === undefined) return undefined;
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
      cache.set(digest, { record, until: now + CACHE_TTL_MS });
    }
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return undefined;
    if ((touched.get(record.id) ?? 0) + TOUCH_EVERY_MS < now) {
      touched.set(record.id, now);
      if (touched.size > CACHE_MAX) touched.delete(touched.keys().next().value as string);
      const meta = options.meta;
      const id = record.id;
      void touchToken(meta, id, now).catch((err: unknown) => request.log.warn({ err, token: id }, 'could not record token use'));
    }
    return { id: record.id, name: record.name, role: record.role };
  }

  function tooManyFailures(address: string): boolean {
    const now = Date.now();
    const entry = failures.get(address);
    if (entry === undefined || entry.since + 60_000 < now) {
      if (failures.size >= 10_000) failures.clear();
      failures.set(address, { count: 1, since: now });
      return false;
    }
    entry.count += 1;
    return entry.count > (options.failuresPerMinute ?? FAILURES_PER_MINUTE);
  }

  // Revoked tokens stop working in this process at once (the token routes call forget), in other
  // API processes within CACHE_TTL_MS.
  return { forget: () => cache.clear() };
}

/** The rate-limit key: the authenticated principal, or the client address. */
export const rateLimitKey = (request: FastifyRequest): string => (request.principal === undefined ? `ip:${request.ip}` : `token:${request.principal.id}`);
