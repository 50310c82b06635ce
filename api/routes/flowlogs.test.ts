// POST /api/v1/flowlogs/{format} against a real (embedded) store: an upload is stored and
// reported, the same bytes again are recognised by the ledger, an oversized body is refused with
// 413 and stores nothing, and an unknown format is a 400 naming the allowed ones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { createServicePorts } from '../../collector/service-ports.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { registerErrorHandling } from '../errors.js';
import { flowlogRoutes } from './flowlogs.js';

const LOG = [
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
  '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
  '2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK',
  '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA',
  '',
].join('\n');

describe('POST /api/v1/flowlogs/{format}', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-upload-test-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    app = Fastify();
    registerErrorHandling(app);
    await app.register(flowlogRoutes(store, { servicePorts: createServicePorts(), maxBytes: 4096 }));
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores an upload, gzip recognised by content, and reports what it skipped', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/flowlogs/aws-vpc?name=eu-west-1.log.gz', payload: gzipSync(LOG), headers: { 'content-type': 'application/gzip' } });
    assert.equal(response.statusCode, 200, response.body);
    const report = response.json<{ file: string; flows: number; skipped: Record<string, number>; alreadyIngested: boolean }>();
    assert.deepEqual([report.file, report.flows, report.skipped.nodata, report.alreadyIngested], ['eu-west-1.log.gz', 2, 1, false]);
    assert.deepEqual(await store.flowTotals({ from: 1418530000, to: 1418530100 }), { flows: 2, bytes: 8498, packets: 40 });
  });

  it('recognises the same bytes uploaded again and stores nothing twice', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/flowlogs/aws-vpc', payload: gzipSync(LOG), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json<{ alreadyIngested: boolean }>().alreadyIngested, true);
    assert.deepEqual(await store.flowTotals({ from: 1418530000, to: 1418530100 }), { flows: 2, bytes: 8498, packets: 40 });
  });

  it('refuses a body over the size limit with 413 and stores nothing', async () => {
    const big = LOG.replace('20641', '20642') + '2 123456789010 eni-x 10.0.0.1 10.0.0.2 1 2 6 1 1 1418530010 1418530070 ACCEPT OK\n'.repeat(100);
    const response = await app.inject({ method: 'POST', url: '/api/v1/flowlogs/aws-vpc', payload: big, headers: { 'content-type': 'text/plain' } });
    assert.equal(response.statusCode, 413, response.body);
    assert.match(response.json<{ error: { message: string } }>().error.message, /larger than the 4096-byte limit/);
    assert.equal((await store.flowTotals({ from: 1418530000, to: 1418530100 })).flows, 2);
  });

  it('answers 400 for an unknown format', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/flowlogs/netflow', payload: LOG, headers: { 'content-type': 'text/plain' } });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json<{ error: { code: string } }>().error.code, 'FLOWMAP_BAD_REQUEST');
  });

  it('answers 400 to an upload with no body, and keeps serving', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/flowlogs/aws-vpc' });
    assert.equal(response.statusCode, 400);
    assert.match(response.json<{ error: { message: string } }>().error.message, /no body/);
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/flowlogs' })).statusCode, 200);
  });
});
