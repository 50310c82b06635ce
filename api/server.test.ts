import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FlowmapError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createApi } from './server.js';

async function api(checks: { name: string; check: () => Promise<void> }[]) {
  return createApi({ host: '127.0.0.1', port: 0 }, { logger: silentLogger(), version: '9.9.9', mode: 'embedded', checks });
}

describe('api server', () => {
  it('answers /readyz 200 with every check when all dependencies answer', async () => {
    const { app } = await api([{ name: 'store', check: async () => undefined }, { name: 'jobs', check: async () => undefined }]);
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 200);
    const body = response.json<{ status: string; checks: { name: string; ok: boolean }[] }>();
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.checks.map((c) => [c.name, c.ok]), [['store', true], ['jobs', true]]);
    await app.close();
  });

  it('answers /readyz 503 naming the failed dependency, and reports it in metrics', async () => {
    const { app } = await api([
      { name: 'store', check: async () => { throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', 'ClickHouse is unreachable'); } },
      { name: 'jobs', check: async () => undefined },
    ]);
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 503);
    const body = response.json<{ status: string; reason: string }>();
    assert.equal(body.status, 'unavailable');
    assert.equal(body.reason, 'store: FLOWMAP_STORE_UNAVAILABLE: ClickHouse is unreachable');
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /flowmap_component_ready\{component="store"\} 0/);
    assert.match(metrics.body, /flowmap_component_ready\{component="jobs"\} 1/);
    assert.match(metrics.body, /flowmap_build_info\{version="9.9.9"\} 1/);
    await app.close();
  });

  it('gives up on a check that never answers and reports the timeout', async () => {
    const { app } = await api([{ name: 'jobs', check: () => new Promise<void>(() => undefined) }]);
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 503);
    assert.match(response.json<{ reason: string }>().reason, /^jobs: no answer within \d+ ms$/);
    await app.close();
  });

  it('answers unknown routes with a JSON 404 pointing at the docs', async () => {
    const { app } = await api([]);
    const response = await app.inject({ method: 'GET', url: '/api/v1/nothing?x=1' });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(response.json(), { error: { code: 'FLOWMAP_NOT_FOUND', message: 'no route GET /api/v1/nothing; the API is described at /docs', details: {} } });
    await app.close();
  });

  it('serves the OpenAPI document listing the health routes', async () => {
    const { app } = await api([]);
    await app.ready();
    const response = await app.inject({ method: 'GET', url: '/docs/json' });
    const doc = response.json<{ openapi: string; info: { version: string }; paths: Record<string, unknown> }>();
    assert.equal(doc.openapi, '3.0.3');
    assert.equal(doc.info.version, '9.9.9');
    assert.ok('/healthz' in doc.paths && '/readyz' in doc.paths && '/metrics' in doc.paths);
    const ui = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(ui.statusCode, 200);
    assert.match(String(ui.headers['content-type']), /text\/html/);
    await app.close();
  });
});
