// The inventory routes against a real embedded store: imports of each format (with their bad rows
// reported), listing with search, labels and pages, edits and removal, an address's bindings,
// resolution at a time — a Kubernetes pod address handed to another pod resolves to each in turn —
// and clear 4xx answers for bad input.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { configSchema } from '../../core/config.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { registerErrorHandling } from '../errors.js';
import { inventoryImportRoutes, inventoryRoutes, parseTimeParam } from './inventory.js';

const testdata = join(import.meta.dirname, '..', '..', 'inventory', 'testdata');
const fixture = (name: string): Buffer => readFileSync(join(testdata, name));

describe('inventory routes', () => {
  let dir = '';
  let store: Store;
  let app: FastifyInstance;
  const get = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await app.inject({ method: 'GET', url });
    return { status: r.statusCode, body: r.json<Record<string, unknown>>() };
  };
  const post = async (url: string, payload: Buffer | string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'text/csv' } });
    return { status: r.statusCode, body: r.json<Record<string, unknown>>() };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-inventory-api-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    app = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: 'array' } } });
    registerErrorHandling(app);
    const config = configSchema.parse({ inventory: { external: ['saas-crm=198.51.100.0/24'] } }).inventory;
    await app.register(inventoryRoutes(store, config));
    await app.register(inventoryImportRoutes(store, { maxBytes: 1024 * 1024 }));
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports CSV, kubectl and EC2 files, recognised by content, and reports bad rows with their line or path', async () => {
    const csv = await post('/api/v1/inventory/import?source=cmdb.csv', fixture('inventory.csv'));
    assert.equal(csv.status, 200, JSON.stringify(csv.body));
    assert.equal(csv.body.format, 'csv');
    const problems = csv.body.problems as { line?: number; reason: string }[];
    assert.ok(problems.length > 0 && problems.every((p) => typeof p.line === 'number' && p.line > 1), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.reason === 'bad-address'));
    assert.equal(csv.body.skipped, problems.length);

    const pods = await post('/api/v1/inventory/import?source=kubectl:prod', fixture('kubectl-pods.json'));
    assert.equal(pods.body.format, 'kubectl');
    assert.ok((pods.body.problems as { path?: string }[]).every((p) => p.path?.startsWith('$.items[') === true));
    const ec2 = await post('/api/v1/inventory/import?source=aws:prod', fixture('ec2-describe-instances.json'));
    assert.equal(ec2.body.format, 'ec2');
    assert.ok((ec2.body.added as number) > 0);

    // The same file again changes nothing.
    const again = await post('/api/v1/inventory/import?source=kubectl:prod', fixture('kubectl-pods.json'));
    assert.deepEqual([again.body.added, again.body.changed], [0, 0]);
    assert.equal(again.body.unchanged, (pods.body.added as number) + (pods.body.changed as number));
  });

  it('lists workloads by id with search, label filters and a cursor', async () => {
    const all = await get('/api/v1/inventory/workloads?limit=1000');
    const ids = (all.body.workloads as { id: string }[]).map((w) => w.id);
    assert.deepEqual(ids, [...ids].sort(), 'sorted by id');
    assert.ok(ids.includes('shop/cart-5c9f7b6d4-h8r2t') && ids.includes('i-0a1b2c3d4e5f60001') && ids.includes('billing-api'));

    const shop = await get('/api/v1/inventory/workloads?label=namespace=shop&label=env=prod');
    assert.ok((shop.body.workloads as { labels: Record<string, string> }[]).every((w) => w.labels.namespace === 'shop' && w.labels.env === 'prod'));
    assert.ok((shop.body.workloads as unknown[]).length >= 2);

    const found = await get('/api/v1/inventory/workloads?search=CART');
    assert.deepEqual((found.body.workloads as { id: string }[]).map((w) => w.id), ['shop/cart-5c9f7b6d4-h8r2t']);

    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await get(`/api/v1/inventory/workloads?limit=3${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      paged.push(...(page.body.workloads as { id: string }[]).map((w) => w.id));
      cursor = page.body.nextCursor as string | undefined;
    } while (cursor !== undefined);
    assert.deepEqual(paged, ids);
  });

  it('resolves a pod address that moved to another pod to each pod in its time, and explains why', async () => {
    // 10.244.1.13: the report job's pod from 09:00, the cart pod from 11:00.
    const before = await get('/api/v1/inventory/resolve?address=10.244.1.13&at=2024-05-01T10:00:00Z');
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.equal((before.body.group as { key: string }).key, 'app=report');
    assert.equal((before.body.workload as { id: string }).id, 'shop/report-28573920-qv7lm');
    const after = await get('/api/v1/inventory/resolve?address=10.244.1.13&at=2024-05-01T12:00:00');
    assert.equal((after.body.group as { key: string }).key, 'app=cart,env=prod');
    assert.equal((after.body.binding as { from: string }).from, '2024-05-01T11:00:00.000Z');
    // Before any pod had it: a private address, unlabeled with its /24.
    const earlier = await get(`/api/v1/inventory/resolve?address=10.244.1.13&at=${Date.parse('2024-05-01T08:00:00Z') / 1000}`);
    assert.deepEqual(earlier.body.group, { key: 'group=unlabeled,subnet=10.244.1.0/24', kind: 'unlabeled', labels: {}, group: 'unlabeled', subnet: '10.244.1.0/24' });
    const saas = await get('/api/v1/inventory/resolve?address=198.51.100.20');
    assert.equal((saas.body.group as { key: string }).key, 'group=saas-crm');
    const internet = await get('/api/v1/inventory/resolve?address=2606:4700::1111');
    assert.equal((internet.body.group as { key: string }).key, 'group=internet');
    const byOwner = await get('/api/v1/inventory/resolve?address=10.0.1.6&groupBy=owner');
    assert.equal((byOwner.body.group as { key: string }).key, 'owner=team-pay');
  });

  it("lists an address's bindings over time, oldest first", async () => {
    const r = await get('/api/v1/inventory/bindings?address=10.244.1.13');
    assert.deepEqual(
      (r.body.bindings as { workloadId: string; from: string; to: string | null }[]).map((b) => [b.workloadId, b.from, b.to]),
      [
        ['shop/report-28573920-qv7lm', '2024-05-01T09:00:00.000Z', '2024-05-01T10:30:00.000Z'],
        ['shop/cart-5c9f7b6d4-h8r2t', '2024-05-01T11:00:00.000Z', null],
      ],
    );
  });

  it('edits a workload (labels, criticality) and removes one, ending its bindings', async () => {
    const put = await app.inject({ method: 'PUT', url: '/api/v1/inventory/workloads/shop%2Fcart-5c9f7b6d4-h8r2t', payload: { name: 'cart', labels: { app: 'cart', env: 'staging' }, criticality: 'medium' } });
    assert.equal(put.statusCode, 200, put.body);
    const resolved = await get('/api/v1/inventory/resolve?address=10.244.1.13&at=2024-05-01T12:00:00Z');
    assert.equal((resolved.body.group as { key: string }).key, 'app=cart,env=staging');
    const one = await get('/api/v1/inventory/workloads/shop%2Fcart-5c9f7b6d4-h8r2t');
    assert.deepEqual((one.body.workload as { criticality: string; source: string }).criticality, 'medium');
    assert.equal((one.body.bindings as unknown[]).length, 1);

    const removed = await app.inject({ method: 'DELETE', url: '/api/v1/inventory/workloads/shop%2Fcart-5c9f7b6d4-h8r2t' });
    assert.equal(removed.statusCode, 200);
    assert.deepEqual(removed.json(), { removed: true, closedBindings: 1 });
    const now = await get('/api/v1/inventory/resolve?address=10.244.1.13');
    assert.equal((now.body.group as { kind: string }).kind, 'unlabeled');
    // The past keeps its answer: before the removal the address was the cart pod's.
    const past = await get('/api/v1/inventory/resolve?address=10.244.1.13&at=2024-05-01T12:00:00Z');
    assert.equal((past.body.group as { key: string }).key, 'app=cart,env=staging');
    const gone = await get('/api/v1/inventory/workloads/shop%2Fcart-5c9f7b6d4-h8r2t');
    assert.equal(gone.status, 200);
    assert.match(String((gone.body.workload as { removedAt?: string }).removedAt), /^\d{4}-\d{2}-\d{2}T/);
    const listed = await get('/api/v1/inventory/workloads?search=cart');
    assert.deepEqual(listed.body.workloads, [], 'removed workloads are not listed');
    const again = await app.inject({ method: 'DELETE', url: '/api/v1/inventory/workloads/shop%2Fcart-5c9f7b6d4-h8r2t' });
    assert.equal(again.statusCode, 404);
  });

  it('creates, replaces and removes CIDR label rules', async () => {
    const put = await app.inject({ method: 'PUT', url: '/api/v1/inventory/rules/10.244.0.0%2F16', payload: { labels: { env: 'prod', location: 'k8s-1' }, name: 'pod network' } });
    assert.equal(put.statusCode, 200, put.body);
    const resolved = await get('/api/v1/inventory/resolve?address=10.244.9.9&groupBy=env,location');
    assert.equal((resolved.body.group as { key: string }).key, 'env=prod,location=k8s-1');
    assert.equal((resolved.body.rule as { cidr: string }).cidr, '10.244.0.0/16');
    const bad = await app.inject({ method: 'PUT', url: '/api/v1/inventory/rules/10.244.0.1%2F16', payload: { labels: { env: 'prod' } } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json<{ error: { message: string } }>().error.message, /host bits|10\.244\.0\.0\/16/);
    const removed = await app.inject({ method: 'DELETE', url: '/api/v1/inventory/rules/10.244.0.0%2F16' });
    assert.equal(removed.statusCode, 200);
    const after = await get('/api/v1/inventory/resolve?address=10.244.9.9');
    assert.equal((after.body.group as { kind: string }).kind, 'unlabeled');
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/v1/inventory/rules/10.244.0.0%2F16' })).statusCode, 404);
  });

  it('answers bad input with 4xx and a message saying what is allowed', async () => {
    const badAddress = await get('/api/v1/inventory/resolve?address=10.0.0.300');
    assert.equal(badAddress.status, 400);
    assert.match(String((badAddress.body.error as { message: string }).message), /'10\.0\.0\.300' is not an IPv4 or IPv6 address/);
    const badTime = await get('/api/v1/inventory/resolve?address=10.0.0.1&at=yesterday');
    assert.equal(badTime.status, 400);
    assert.match(String((badTime.body.error as { message: string }).message), /at 'yesterday' is not an ISO-8601 time/);
    const badFormat = await post('/api/v1/inventory/import?format=xml', 'x');
    assert.equal(badFormat.status, 400);
    const tooBig = await post('/api/v1/inventory/import', Buffer.alloc(1024 * 1024 + 1, 0x41));
    assert.equal(tooBig.status, 413);
    const badEdit = await app.inject({ method: 'PUT', url: '/api/v1/inventory/workloads/x', payload: { name: 'x', labels: ['app=web'] } });
    assert.equal(badEdit.statusCode, 400);
    const noBody = await app.inject({ method: 'POST', url: '/api/v1/inventory/import' });
    assert.equal(noBody.statusCode, 400);
    const farFuture = await get('/api/v1/inventory/resolve?address=10.0.0.1&at=99999999999999999');
    assert.equal(farFuture.status, 400);
    const emptyKey = await app.inject({ method: 'PUT', url: '/api/v1/inventory/workloads/x', payload: { name: 'x', labels: { '': 'v' } } });
    assert.equal(emptyKey.statusCode, 400);
    const notJson = await post('/api/v1/inventory/import?format=kubectl', '{"items": [');
    assert.equal(notJson.status, 200);
    assert.equal((notJson.body.problems as { reason: string }[])[0]?.reason, 'bad-json');
  });

  it('reads times as ISO-8601 (UTC without a zone) or Unix seconds', () => {
    assert.equal(parseTimeParam('2024-05-01T10:00:00Z', 'at'), 1714557600);
    assert.equal(parseTimeParam('2024-05-01T10:00:00', 'at'), 1714557600);
    assert.equal(parseTimeParam('2024-05-01T12:00:00+02:00', 'at'), 1714557600);
    assert.equal(parseTimeParam('1714557600', 'at'), 1714557600);
    // A space instead of T is still UTC, whatever the machine's zone (tests run in New York).
    assert.equal(parseTimeParam('2024-05-01 10:00:00', 'at'), 1714557600);
    assert.throws(() => parseTimeParam('May 1st', 'at'), /not an ISO-8601 time/);
    assert.throws(() => parseTimeParam('-5', 'at'), /not an ISO-8601 time/);
  });
});
