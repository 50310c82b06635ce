import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { RecordCache, ResponseCache, sendCached } from './cache.js';

const until = async (done: () => boolean): Promise<void> => {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
};

describe('response cache', () => {
  it('answers 304 to the ETag it gave, gzip or Brotli as the client takes them, the body otherwise', async () => {
    const cache = new ResponseCache();
    const body = JSON.stringify({ rules: Array.from({ length: 5000 }, (_, i) => ({ id: i, port: i % 1000 })) });
    const entry = cache.set('k', body, 'application/json');
    await until(() => entry.br !== undefined);
    const app = Fastify();
    app.get('/x', async (request, reply) => sendCached(request, reply, cache.get('k') ?? entry));
    const plain = await app.inject({ method: 'GET', url: '/x' });
    assert.equal(plain.body, body);
    const gz = await app.inject({ method: 'GET', url: '/x', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(gz.rawPayload).toString(), body);
    const br = await app.inject({ method: 'GET', url: '/x', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(brotliDecompressSync(br.rawPayload).toString(), body);
    assert.ok(br.rawPayload.length < gz.rawPayload.length);
    const again = await app.inject({ method: 'GET', url: '/x', headers: { 'if-none-match': String(plain.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    await app.close();
  });

  it('keeps to its byte bound, least recently used out first, and drops expired entries', () => {
    const cache = new ResponseCache(4000);
    cache.set('a', 'x'.repeat(900), 'text/plain');
    cache.set('b', 'y'.repeat(900), 'text/plain');
    assert.ok(cache.get('a') !== undefined);
    cache.set('c', 'z'.repeat(900), 'text/plain');
    cache.set('d', 'w'.repeat(900), 'text/plain');
    cache.set('e', 'v'.repeat(900), 'text/plain');
    assert.equal(cache.get('b'), undefined, 'b was the least recently used');
    assert.ok(cache.get('a') !== undefined && cache.get('e') !== undefined);
    cache.set('t', 'short-lived', 'text/plain', { ttlMs: 10 });
    assert.equal(cache.get('t', Date.now() + 11), undefined);
  });
});

describe('record cache', () => {
  it('answers a burst from one read, refreshes past its age in the background, once, and never keeps unfinished records', async () => {
    let reads = 0;
    let status = 'completed';
    let release: (() => void) | undefined;
    const cache = new RecordCache(async (id: string) => {
      reads++;
      if (reads > 1) await new Promise<void>((resolve) => (release = resolve));
      return { id, status, read: reads };
    }, 1000);
    const first = await cache.get('bl-1', 0);
    assert.equal(first.read, 1);
    // Past its age: every request of a burst gets the known record; one read starts.
    const burst = await Promise.all(Array.from({ length: 16 }, () => cache.get('bl-1', 5000)));
    assert.ok(burst.every((r) => r.read === 1));
    assert.equal(reads, 2);
    release?.();
    await until(() => release !== undefined);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await cache.get('bl-1', 5001)).read, 2);
    status = 'running';
    const running = new RecordCache(async (id: string) => ({ id, status, read: ++reads }), 1000);
    const a = await running.get('bl-2', 0);
    const b = await running.get('bl-2', 1);
    assert.notEqual(a.read, b.read, 'a running baseline is read every time');
  });
});
