// Issue 10, acceptance 1: the OpenAPI document validates as OpenAPI 3, and a walk over it calls
// every /api/v1 route as no one, as each role and with a bad token: a route documented for a role
// answers 403 to lower roles and, to that role and higher ones, judges the request itself — a
// malformed query (an unknown parameter) and, where the route takes JSON, a body of the wrong type
// are 400s in the common error shape. Also: tokens are stored hashed, shown once, revocable;
// expired tokens fail; rate limits, body limits and CORS are per configuration; authentication
// can be off only on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { silentLogger } from '../core/logger.js';
import { createApi } from './server.js';
import { fillPath, operations, requiredQuery, startTestApi, type Operation, type TestApi } from './testing.js';
import { createToken, ROLES, roleAllows, verifyToken, type Role } from './tokens.js';

interface Answer {
  status: number;
  body: unknown;
}

function assertErrorShape(answer: Answer, status: number, context: string): void {
  assert.equal(answer.status, status, `${context}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
  const error = (answer.body as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error;
  assert.ok(error !== undefined, `${context}: no error object in ${JSON.stringify(answer.body).slice(0, 300)}`);
  assert.match(String(error.code), /^FLOWMAP_[A-Z_]+$/, context);
  assert.ok(typeof error.message === 'string' && error.message.length > 0, context);
  assert.ok(typeof error.details === 'object' && error.details !== null && !Array.isArray(error.details), context);
}

describe('the API as documented', () => {
  let api: TestApi;
  let document: Record<string, unknown>;
  let ops: Operation[];

  const call = async (op: Operation, options: { token?: string; query?: string; body?: unknown } = {}): Promise<Answer> => {
    const url = `${fillPath(op.path)}${options.query ?? ''}`;
    const headers: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
    const response = await api.app.inject({
      method: op.method as 'GET',
      url,
      headers: options.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(options.body === undefined ? {} : { payload: JSON.stringify(options.body) }),
    });
    let body: unknown;
    try {
      body = response.json();
    } catch {
      body = response.body;
    }
    return { status: response.statusCode, body };
  };

  before(async () => {
    api = await startTestApi();
    document = (await api.app.inject({ method: 'GET', url: '/docs/json' })).json<Record<string, unknown>>();
    ops = operations(document);
  });
  after(async () => api.close());

  it('serves an OpenAPI 3 document that validates, covering every area of the API', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    assert.ok(result.valid, JSON.stringify(result.errors, null, 1)?.slice(0, 3000));
    assert.equal(String(document.openapi).slice(0, 2), '3.');
    const paths = new Set(ops.map((o) => o.path));
    for (const needed of ['/api/v1/exporters', '/api/v1/inventory/workloads', '/api/v1/inventory/rules', '/api/v1/inventory/bindings', '/api/v1/intents', '/api/v1/baselines', '/api/v1/baselines/{id}/graph', '/api/v1/baselines/{a}/diff/{b}', '/api/v1/recommendations', '/api/v1/policies', '/api/v1/policies/{id}/state', '/api/v1/policies/{id}/rules', '/api/v1/policies/{id}/exceptions', '/api/v1/policies/{id}/simulate', '/api/v1/policies/{id}/export', '/api/v1/findings', '/api/v1/findings/{id}/acknowledge', '/api/v1/findings/{id}/resolve', '/api/v1/tokens']) {
      assert.ok(paths.has(needed), `the document has no ${needed}`);
    }
  });

  it('documents a role, a route class, request and response schemas on every /api/v1 operation', () => {
    assert.ok(ops.length >= 40, `only ${ops.length} operations`);
    const paths = (document.paths ?? {}) as Record<string, Record<string, { responses?: Record<string, unknown>; security?: unknown[] }>>;
    for (const op of ops) {
      const name = `${op.method} ${op.path}`;
      assert.ok(['public', ...ROLES].includes(op.role), `${name} declares no role`);
      const responses = paths[op.path]?.[op.method.toLowerCase()]?.responses ?? {};
      const success = Object.keys(responses).filter((s) => s.startsWith('2'));
      assert.ok(success.length > 0 || op.path.endsWith('/export') || op.path.endsWith('/graph'), `${name} documents no success response`);
      for (const status of ['400', '404', '429']) assert.ok(status in responses || '4XX' in responses || '4xx' in responses, `${name} documents no ${status}`);
      if (op.role !== 'public') {
        assert.ok('401' in responses && '403' in responses, `${name} documents no 401/403`);
        assert.ok((paths[op.path]?.[op.method.toLowerCase()]?.security ?? []).length > 0, `${name} has no security requirement`);
      }
    }
  });

  it('answers 401 without a token, with a malformed one and with an unknown one, on every non-public route', async () => {
    const unknown = `flowmap_${'a'.repeat(12)}_${'A'.repeat(43)}`;
    for (const op of ops.filter((o) => o.role !== 'public')) {
      for (const token of [undefined, 'nonsense', unknown]) {
        const answer = await call(op, token === undefined ? {} : { token });
        assertErrorShape(answer, 401, `${op.method} ${op.path} with ${token ?? 'no token'}`);
      }
    }
  });

  it('lets each role through exactly where the document says, and judges malformed input there with a 400', async () => {
    let forbidden = 0;
    let judged = 0;
    for (const op of ops) {
      for (const role of ROLES) {
        const name = `${op.method} ${op.path} as ${role}`;
        const allowed = op.role === 'public' || roleAllows(role, op.role);
        const bogus = await call(op, { token: api.tokens[role], query: requiredQuery(op, { flowmapUnknownParameter: '1' }) });
        if (!allowed) {
          assertErrorShape(bogus, 403, name);
          forbidden++;
          continue;
        }
        if (op.role === 'public') continue;
        assertErrorShape(bogus, 400, `${name}, unknown query parameter`);
        // Fastify judges the body before the query: a route whose (empty) body is already wrong says so first.
        const details = (bogus.body as { error: { details: { property?: string; location?: string } } }).error.details;
        if (op.body === undefined || details.location === 'querystring') assert.equal(details.property, 'flowmapUnknownParameter', name);
        else assert.equal(details.location, 'body', name);
        judged++;
        if (op.body !== undefined && op.routeClass !== 'upload') {
          assertErrorShape(await call(op, { token: api.tokens[role], body: ['not', 'an', 'object'] }), 400, `${name}, body of the wrong type`);
        }
      }
    }
    assert.ok(forbidden > 20 && judged > 40, `${forbidden} forbidden, ${judged} judged`);
  });

  it('stores tokens hashed, shows one only at creation, and stops honouring it when revoked', async () => {
    const created = await api.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: { authorization: `Bearer ${api.tokens.admin}` }, payload: { name: 'ci reader', role: 'viewer' } });
    assert.equal(created.statusCode, 201, created.body);
    const { token, record } = created.json<{ token: string; record: { id: string; role: Role } }>();
    assert.match(token, /^flowmap_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
    const stored = await api.store.meta.get('tokens', record.id);
    const text = JSON.stringify(stored?.value);
    assert.ok(!text.includes(token.slice(22)), 'the stored record holds the secret');
    assert.ok(text.includes(createHash('sha256').update(token).digest('hex')), 'the stored record holds no SHA-256 of the token');
    const list = await api.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: { authorization: `Bearer ${api.tokens.admin}` } });
    assert.ok(!list.body.includes(token.slice(22)), 'the token list shows a secret');
    assert.ok(list.json<{ tokens: { id: string }[] }>().tokens.some((t) => t.id === record.id));
    const self = await api.app.inject({ method: 'GET', url: '/api/v1/tokens/self', headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(self.json(), { id: record.id, name: 'ci reader', role: 'viewer' });
    // One changed character of the secret is another token.
    const tampered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    assert.equal((await api.app.inject({ method: 'GET', url: '/api/v1/exporters', headers: { authorization: `Bearer ${tampered}` } })).statusCode, 401);
    const revoked = await api.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${record.id}`, headers: { authorization: `Bearer ${api.tokens.admin}` } });
    assert.equal(revoked.statusCode, 204);
    assert.equal((await api.app.inject({ method: 'GET', url: '/api/v1/exporters', headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
  });

  it('refuses an expired token', async () => {
    const { token } = await createToken(api.store.meta, { name: 'short', role: 'viewer', createdBy: 'test', expiresAt: new Date(Date.now() + 60_000).toISOString() });
    assert.ok((await verifyToken(api.store.meta, token)) !== undefined);
    assert.equal(await verifyToken(api.store.meta, token, Date.now() + 120_000), undefined);
  });

  it('pages list routes with a cursor that skips and repeats nothing, and refuses a forged cursor with 400', async () => {
    for (let i = 0; i < 7; i++) await createToken(api.store.meta, { name: `page ${i}`, role: 'viewer', createdBy: 'test' });
    const all = (await api.app.inject({ method: 'GET', url: '/api/v1/tokens?limit=1000', headers: { authorization: `Bearer ${api.tokens.admin}` } })).json<{ tokens: { id: string }[] }>().tokens.map((t) => t.id);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (await api.app.inject({ method: 'GET', url: `/api/v1/tokens?limit=3${cursor === undefined ? '' : `&cursor=${cursor}`}`, headers: { authorization: `Bearer ${api.tokens.admin}` } })).json<{ tokens: { id: string }[]; nextCursor?: string }>();
      assert.ok(page.tokens.length <= 3);
      paged.push(...page.tokens.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    assert.deepEqual(paged, all);
    assert.ok(all.length >= 10);
    const forged = await api.app.inject({ method: 'GET', url: `/api/v1/tokens?cursor=${Buffer.from('{"x":1}').toString('base64url')}`, headers: { authorization: `Bearer ${api.tokens.admin}` } });
    assertErrorShape({ status: forged.statusCode, body: forged.json() }, 400, 'forged cursor');
    const tooBig = await api.app.inject({ method: 'GET', url: '/api/v1/tokens?limit=1001', headers: { authorization: `Bearer ${api.tokens.admin}` } });
    assertErrorShape({ status: tooBig.statusCode, body: tooBig.json() }, 400, 'page size over the cap');
  });
});

describe('API limits and settings', () => {
  it('limits requests per token and route class with 429 in the common shape', async () => {
    const api = await startTestApi({ rateLimit: { read: 3 } });
    try {
      const get = (token: string) => api.app.inject({ method: 'GET', url: '/api/v1/exporters', headers: { authorization: `Bearer ${token}` } });
      for (let i = 0; i < 3; i++) assert.equal((await get(api.tokens.viewer)).statusCode, 200);
      const limited = await get(api.tokens.viewer);
      assertErrorShape({ status: limited.statusCode, body: limited.json() }, 429, 'fourth read');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      // Another token has its own allowance.
      assert.equal((await get(api.tokens.analyst)).statusCode, 200);
    } finally {
      await api.close();
    }
  });

  it('refuses a JSON body over the route class limit with 413', async () => {
    const api = await startTestApi({ config: { bodyLimitBytes: 2048 } });
    try {
      const big = await api.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: { authorization: `Bearer ${api.tokens.admin}`, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(4096), role: 'viewer' }) });
      assertErrorShape({ status: big.statusCode, body: big.json() }, 413, 'oversized body');
    } finally {
      await api.close();
    }
  });

  it('answers no CORS headers unless origins are configured, and only to those', async () => {
    const closed = await startTestApi();
    const open = await startTestApi({ config: { cors: ['https://ui.example.net'] } });
    try {
      const preflight = { method: 'OPTIONS' as const, url: '/api/v1/exporters', headers: { origin: 'https://ui.example.net', 'access-control-request-method': 'GET' } };
      assert.equal((await closed.app.inject(preflight)).headers['access-control-allow-origin'], undefined);
      assert.equal((await open.app.inject(preflight)).headers['access-control-allow-origin'], 'https://ui.example.net');
      const other = await open.app.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example' } });
      assert.notEqual(other.headers['access-control-allow-origin'], 'https://evil.example');
    } finally {
      await closed.close();
      await open.close();
    }
  });

  it('runs without tokens only on loopback and when configured so', async () => {
    const local = await startTestApi({ config: { auth: 'off' } });
    try {
      assert.equal((await local.app.inject({ method: 'GET', url: '/api/v1/tokens' })).statusCode, 200);
    } finally {
      await local.close();
    }
    await assert.rejects(createApi({ host: '0.0.0.0', port: 0, auth: 'off' }, { logger: silentLogger(), version: 't', mode: 'embedded', checks: [] }), /loopback/);
  });
});
