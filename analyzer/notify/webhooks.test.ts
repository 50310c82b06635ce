// Webhook subscriptions: which URLs are accepted (and that refusals never echo a URL back), the
// secret shown only on create and rotate, and newest-first cursor paging — on a real embedded
// store, since paging and tombstones are the store's semantics as much as this module's.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFlowmapError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import {
  checkWebhookUrl,
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhooks,
  MAX_PAGE_SIZE,
  MAX_URL_LENGTH,
  requireWebhook,
  rotateWebhookSecret,
  updateWebhook,
  WEBHOOKS,
  type Webhook,
} from './index.js';

const badRequest = (pattern: RegExp) => (err: unknown): boolean => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && err.status === 400 && pattern.test(err.message);

describe('webhook URL validation', () => {
  it('accepts absolute http and https URLs and returns them normalised', () => {
    assert.equal(checkWebhookUrl('https://hooks.example.net/flowmap?token=abc'), 'https://hooks.example.net/flowmap?token=abc');
    assert.equal(checkWebhookUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080/');
    assert.equal(checkWebhookUrl('HTTPS://Hooks.Example.NET/x'), 'https://hooks.example.net/x');
    assert.equal(checkWebhookUrl('http://[2001:db8::1]:9000/h'), 'http://[2001:db8::1]:9000/h');
    assert.equal(checkWebhookUrl(`https://h.example/${'a'.repeat(MAX_URL_LENGTH - 20)}`).length, MAX_URL_LENGTH - 20 + 18);
  });

  it('refuses other schemes, credentials, relative URLs, whitespace and over-long URLs with a message that says why', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /required/],
      ['', /required/],
      [42, /required/],
      ['ftp://files.example.net/x', /http or https, not ftp:/],
      ['file:///etc/passwd', /http or https/],
      ['javascript:alert(1)', /http or https/],
      ['gopher://x', /http or https/],
      ['https://user:hunter2@hooks.example.net/', /credentials/],
      ['https://user@hooks.example.net/', /credentials/],
      ['/relative/path', /not a valid absolute URL/],
      ['hooks.example.net/flowmap', /not a valid absolute URL/],
      ['https://', /not a valid absolute URL/],
      ['https://hooks.example.net/a b', /spaces or control/],
      [' https://hooks.example.net/', /spaces or control/],
      ['https://hooks.example.net/\n', /spaces or control/],
      ['https://hooks.example.net/\u0000', /spaces or control/],
      [`https://h.example/${'a'.repeat(MAX_URL_LENGTH)}`, /at most 2048/],
    ];
    for (const [url, message] of cases) assert.throws(() => checkWebhookUrl(url), badRequest(message), String(url).slice(0, 60));
  });

  it('never repeats the URL (it may carry a token or a password) in the error', () => {
    for (const url of ['https://user:hunter2@hooks.example.net/', 'ftp://secret-token@x/', 'https://hooks.example.net/hunter2 x']) {
      assert.throws(() => checkWebhookUrl(url), (err) => isFlowmapError(err) && !err.message.includes('hunter2') && !err.message.includes('secret-token') && !JSON.stringify(err.details).includes('hunter2'));
    }
  });
});

describe('webhook subscriptions in the metadata store', () => {
  let dir: string;
  let store: Store;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-webhooks-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
  });

  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a webhook with defaults and a whsec_ secret of 32 random bytes, shown only in that answer', async () => {
    const created = await createWebhook(store.meta, { url: 'https://hooks.example.net/a', description: 'SOC' }, { now: new Date('2026-03-01T00:00:00Z') });
    assert.match(created.id, /^wh_[0-9a-f]{16}$/);
    assert.match(created.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(created.secret.slice(6), 'base64url').length, 32);
    assert.deepEqual(created.events, ['finding.new', 'report.completed']);
    assert.equal(created.enabled, true);
    assert.equal(created.description, 'SOC');
    assert.equal(created.createdAt, '2026-03-01T00:00:00.000Z');

    const read = await getWebhook(store.meta, created.id);
    assert.ok(read !== undefined);
    assert.equal('secret' in read, false, 'get has no secret');
    const { secret: _secret, ...withoutSecret } = created;
    assert.deepEqual(read, withoutSecret);
    const page = await listWebhooks(store.meta);
    assert.ok(page.webhooks.every((w) => !('secret' in w) && !JSON.stringify(w).includes('whsec_')), 'list has no secret');
    const second = await createWebhook(store.meta, { url: 'https://hooks.example.net/b' });
    assert.notEqual(second.secret, created.secret);
  });

  it('updates fields, rotates the secret, and deletes; unknown ids are 404 and malformed ones 400', async () => {
    const hook = await createWebhook(store.meta, { url: 'https://hooks.example.net/u', description: 'x' });
    const updated = await updateWebhook(store.meta, hook.id, { url: 'http://10.0.0.5:9000/in', events: ['report.completed', 'report.completed'], enabled: false, description: '' });
    assert.equal(updated.url, 'http://10.0.0.5:9000/in');
    assert.deepEqual(updated.events, ['report.completed']);
    assert.equal(updated.enabled, false);
    assert.equal(updated.description, undefined);
    assert.equal(updated.createdAt, hook.createdAt);

    const rotated = await rotateWebhookSecret(store.meta, hook.id);
    assert.notEqual(rotated.secret, hook.secret);
    assert.match(rotated.secret, /^whsec_/);
    assert.equal(rotated.url, updated.url, 'rotation changes nothing else');

    await assert.rejects(updateWebhook(store.meta, hook.id, { url: 'ftp://x/' }), badRequest(/http or https/));
    await assert.rejects(updateWebhook(store.meta, hook.id, { events: [] }), badRequest(/at least one event/));
    await assert.rejects(updateWebhook(store.meta, hook.id, { events: ['finding.old' as 'finding.new'] }), badRequest(/finding\.new, report\.completed, webhook\.test/));
    await assert.rejects(updateWebhook(store.meta, hook.id, { enabled: 'yes' as unknown as boolean }), badRequest(/enabled/));
    await assert.rejects(updateWebhook(store.meta, hook.id, { secret: 'mine' } as never), badRequest(/secret|unrecognized/i), 'a secret cannot be set from outside');
    await assert.rejects(createWebhook(store.meta, { url: 'https://h.example/', description: 'd'.repeat(501) }), badRequest(/description/));

    assert.equal(await deleteWebhook(store.meta, hook.id), true);
    assert.equal(await getWebhook(store.meta, hook.id), undefined);
    assert.equal(await deleteWebhook(store.meta, hook.id), false);
    await assert.rejects(requireWebhook(store.meta, hook.id), (err) => isFlowmapError(err, 'FLOWMAP_NOT_FOUND') && err.status === 404);
    await assert.rejects(updateWebhook(store.meta, hook.id, { enabled: true }), (err) => isFlowmapError(err, 'FLOWMAP_NOT_FOUND'));
    await assert.rejects(rotateWebhookSecret(store.meta, hook.id), (err) => isFlowmapError(err, 'FLOWMAP_NOT_FOUND'));
    for (const id of ['', 'wh_', 'wh_XYZ', '../webhooks', 'wh_0123456789abcdef0']) await assert.rejects(getWebhook(store.meta, id), badRequest(/not a webhook id/), id);
  });

  it('pages newest first with an opaque cursor, caps pages at 200, and refuses cursors it did not issue', async () => {
    for (const entry of await store.meta.list(WEBHOOKS, { limit: 10_000 })) await store.meta.delete(WEBHOOKS, entry.key);
    const made: Webhook[] = [];
    for (let i = 0; i < 7; i += 1) made.push(await createWebhook(store.meta, { url: `https://hooks.example.net/${i}` }, { now: new Date(Date.UTC(2026, 0, 1 + (i % 5))) }));
    const expected = [...made].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1)).map((w) => w.id);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listWebhooks(store.meta, { limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      assert.ok(page.webhooks.length <= 3);
      seen.push(...page.webhooks.map((w) => w.id));
      cursor = page.next;
      pages += 1;
    } while (cursor !== undefined && pages < 10);
    assert.deepEqual(seen, expected, 'every webhook once, newest first');
    assert.equal(pages, 3);

    // A webhook created between pages does not shift the older pages.
    const first = await listWebhooks(store.meta, { limit: 2 });
    await createWebhook(store.meta, { url: 'https://hooks.example.net/late' }, { now: new Date('2027-01-01T00:00:00Z') });
    const rest = await listWebhooks(store.meta, { limit: 100, cursor: first.next ?? '' });
    assert.deepEqual([...first.webhooks, ...rest.webhooks].map((w) => w.id), expected);

    for (let i = 0; i < 200; i += 1) await store.meta.put(WEBHOOKS, `wh_${i.toString(16).padStart(16, '0')}`, { ...made[0], id: `wh_${i.toString(16).padStart(16, '0')}` });
    assert.equal((await listWebhooks(store.meta, { limit: 1000 })).webhooks.length, MAX_PAGE_SIZE);
    for (const limit of [0, -1, 1.5, Number.NaN]) await assert.rejects(listWebhooks(store.meta, { limit }), badRequest(/limit/), String(limit));
    for (const bad of ['not-base64!', Buffer.from('["x"]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url'), 'x'.repeat(300)]) {
      await assert.rejects(listWebhooks(store.meta, { cursor: bad }), badRequest(/cursor/), bad.slice(0, 20));
    }
  });
});
