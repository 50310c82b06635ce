// Webhook and syslog delivery end to end, on both job runners: a real HTTP receiver on loopback
// that verifies every delivery's signature the way a user's receiver would, and real UDP and TCP
// syslog listeners that parse what arrives. The acceptance case is an outage: the receiver is down
// for a minute (BullMQ on Redis; a few seconds on the in-process runner), the runner's own retries
// keep failing meanwhile, and when it comes back it receives the event exactly once.
//
// Waiting is on conditions — a receiver's arrival count, a job finishing, a delivery record's
// state — never on sleeps; the one deliberate timer is the outage itself.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { isFlowmapError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createBullmqRunner, createInProcessRunner, type JobRunner } from '../analyzer/jobs/index.js';
import { Counter, eventually } from '../analyzer/jobs/testing.js';
import {
  createNotifier,
  createWebhook,
  DELIVERY_HEADER,
  deleteWebhook,
  EVENT_HEADER,
  findingEvents,
  reportEvent,
  SD_ID,
  SIGNATURE_HEADER,
  updateWebhook,
  verifySignature,
  webhookTestEvent,
  type DeliveryRecord,
  type FlowmapEvent,
  type Notifier,
  type NotifierOptions,
  type SyslogTarget,
  type WebhookJobResult,
} from '../analyzer/notify/index.js';
import type { Finding } from '../analyzer/policy/index.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import { freePort, serviceUrl } from './services.js';

const logger = silentLogger();
const WAIT_MS = 20_000;

// ---- Runners ----

interface RunnerKind {
  name: 'inprocess' | 'bullmq';
  skip: string | false;
  open: () => { runner: JobRunner; cleanup: () => Promise<void> };
  /** The outage the acceptance test stages, and the first retry's wait. */
  outageMs: number;
  backoffMs: number;
}

const redis = serviceUrl('redis');

async function deleteKeys(url: string, pattern: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

const RUNNERS: RunnerKind[] = [
  {
    name: 'inprocess',
    skip: false,
    open: () => ({ runner: createInProcessRunner({}, { logger }), cleanup: () => Promise.resolve() }),
    outageMs: 3000,
    backoffMs: 250,
  },
  {
    name: 'bullmq',
    skip: redis.skip,
    open: () => {
      // A prefix per test keeps tests, and runs, from seeing each other's jobs.
      const prefix = `flowmap-test-notify-${randomUUID().slice(0, 8)}`;
      const url = redis.url ?? '';
      return { runner: createBullmqRunner({ redisUrl: url, prefix }, { logger }), cleanup: () => deleteKeys(url, `${prefix}:*`) };
    },
    outageMs: 60_000,
    backoffMs: 1000,
  },
];

interface Setup {
  store: Store;
  runner: JobRunner;
  notifier: Notifier;
}

/** A fresh store, runner and notifier for one test, torn down after it. */
async function setup(t: TestContext, kind: RunnerKind, options: NotifierOptions = {}, start = true): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-notify-'));
  const store = await createDuckDBStore({ dataDir: dir }, { logger });
  await store.migrate();
  const { runner, cleanup } = kind.open();
  const notifier = createNotifier({ store, jobs: runner, logger }, { backoffMs: 20, ...options });
  notifier.register();
  if (start) await runner.start();
  t.after(async () => {
    notifier.close();
    await runner.stop();
    await cleanup();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, runner, notifier };
}

// ---- A webhook receiver, as a user would write one ----

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** verifySignature with the webhook's secret, at arrival. */
  signed: boolean;
}

type Answer = { status: number; headers?: Record<string, string> } | 'hold';

class Receiver {
  secret = '';
  port = 0;
  readonly received: Received[] = [];
  readonly arrived = new Counter();
  /** What to answer the n-th request (0-based). */
  answer: (n: number) => Answer = () => ({ status: 200 });
  private readonly server: HttpServer = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = req.headers[SIGNATURE_HEADER.toLowerCase()];
      const answer = this.answer(this.received.length);
      this.received.push({ path: req.url ?? '', headers: req.headers, body, signed: verifySignature(this.secret, typeof signature === 'string' ? signature : undefined, body) });
      this.arrived.increment();
      if (answer === 'hold') return;
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(answer.status >= 400 ? `refused with ${answer.status}` : 'ok');
    });
  });

  static async start(t: TestContext, port = 0): Promise<Receiver> {
    const receiver = new Receiver();
    await new Promise<void>((resolve, reject) => {
      receiver.server.once('error', reject);
      receiver.server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = receiver.server.address();
    assert.ok(address !== null && typeof address === 'object');
    receiver.port = address.port;
    t.after(() => receiver.close());
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Down: no listener on the port, and every open connection cut. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  events(): FlowmapEvent[] {
    return this.received.map((r) => JSON.parse(r.body) as FlowmapEvent);
  }
}

// ---- Syslog listeners ----

interface Listener {
  port: number;
  messages: string[];
  arrived: Counter;
  connections: Set<Socket>;
  accepted: number;
  close(): Promise<void>;
}

async function udpListener(t: TestContext): Promise<Listener> {
  const socket = createSocket('udp4');
  const listener: Listener = { port: 0, messages: [], arrived: new Counter(), connections: new Set(), accepted: 0, close: () => new Promise((resolve) => socket.close(() => resolve())) };
  socket.on('message', (datagram) => {
    listener.messages.push(datagram.toString('utf8'));
    listener.arrived.increment();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  listener.port = socket.address().port;
  t.after(() => listener.close().catch(() => undefined));
  return listener;
}

/** A TCP syslog server reading octet-counted frames (RFC 6587 §3.4.1). */
async function tcpListener(t: TestContext, port = 0): Promise<Listener> {
  const listener: Listener = { port, messages: [], arrived: new Counter(), connections: new Set(), accepted: 0, close: () => Promise.resolve() };
  const server = createTcpServer((socket) => {
    listener.accepted += 1;
    listener.connections.add(socket);
    socket.on('close', () => listener.connections.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const length = Number(buffer.subarray(0, space).toString('ascii'));
        assert.ok(Number.isInteger(length) && length > 0, `an octet count, not ${buffer.subarray(0, space).toString()}`);
        if (buffer.length < space + 1 + length) break;
        listener.messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
        buffer = buffer.subarray(space + 1 + length);
        listener.arrived.increment();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  listener.port = address.port;
  listener.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      for (const socket of listener.connections) socket.destroy();
    });
  t.after(() => listener.close());
  return listener;
}

const RFC5424 = /^<(?<pri>\d{1,3})>1 (?<timestamp>\S+) (?<hostname>\S+) (?<app>\S+) (?<procid>\S+) (?<msgid>\S+) (?<sd>-|\[(?:[^"\]]|"(?:[^"\\]|\\.)*")*\]) (?<msg>[\s\S]*)$/;

function parseSyslog(text: string): { pri: number; msgid: string; sd: string; msg: string } {
  const m = RFC5424.exec(text);
  assert.ok(m?.groups !== undefined, `an RFC 5424 message: ${text.slice(0, 200)}`);
  return { pri: Number(m.groups.pri), msgid: m.groups.msgid ?? '', sd: m.groups.sd ?? '', msg: m.groups.msg ?? '' };
}

function cefExtension(cef: string, key: string): string | undefined {
  return new RegExp(`(?:\\||\\s)${key}=((?:[^\\\\\\s]|\\\\.)+)`).exec(cef)?.[1];
}

// ---- Events ----

function finding(id: string, severity: Finding['severity'] = 'high'): Finding {
  return {
    id,
    kind: 'undocumented',
    category: 'backup',
    from: { app: 'backup', env: 'prod' },
    to: { app: 'web', env: 'prod' },
    protocol: 'tcp',
    ports: [9090],
    severity,
    evidence: { flows: 120, bytes: 4096, daysSeen: 7, firstSeen: '2026-02-01T00:00:00.000Z', lastSeen: '2026-02-28T00:00:00.000Z' },
    explanation: 'the backup agent talks to every server on 9090',
  };
}

function newFinding(id = 'f-000000000001', baseline = 'bl-2'): FlowmapEvent {
  const [event] = findingEvents(baseline, [finding(id)], [], { time: new Date() });
  assert.ok(event !== undefined);
  return event;
}

async function onlyRecord(notifier: Notifier, webhook: string): Promise<DeliveryRecord> {
  const records = await notifier.deliveries(webhook);
  assert.equal(records.length, 1, `one delivery record for ${webhook}: ${JSON.stringify(records)}`);
  return records[0] as DeliveryRecord;
}

for (const kind of RUNNERS) {
  describe(`webhook delivery on the ${kind.name} runner`, { skip: kind.skip }, () => {
    it('delivers a signed event once to each enabled, subscribed webhook, and records it delivered', async (t) => {
      const { store, runner, notifier } = await setup(t, kind);
      const receiver = await Receiver.start(t);
      const hook = await createWebhook(store.meta, { url: receiver.url });
      receiver.secret = hook.secret;
      const disabled = await createWebhook(store.meta, { url: receiver.url, enabled: false });
      const reportsOnly = await createWebhook(store.meta, { url: receiver.url, events: ['report.completed'] });
      const event = newFinding();

      const published = await notifier.publish(event);
      assert.equal(published.webhooks, 1, 'the disabled and the reports-only webhook get nothing');
      assert.equal(published.jobs.length, 1);
      const info = await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      assert.equal(info.state, 'completed');
      assert.deepEqual(info.result, { outcome: 'delivered', status: 200 } satisfies WebhookJobResult);

      assert.equal(receiver.received.length, 1);
      const [got] = receiver.received;
      assert.ok(got !== undefined);
      assert.equal(got.signed, true, 'the signature verifies with the secret create returned');
      assert.equal(got.path, '/hook');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.equal(got.headers[EVENT_HEADER.toLowerCase()], 'finding.new');
      assert.match(String(got.headers['user-agent']), /^flowmap-webhooks\//);
      assert.deepEqual(JSON.parse(got.body), event);
      assert.deepEqual(Object.keys(JSON.parse(got.body) as object), ['id', 'type', 'time', 'data']);

      const record = await onlyRecord(notifier, hook.id);
      assert.equal(got.headers[DELIVERY_HEADER.toLowerCase()], record.id);
      assert.equal(record.status, 'delivered');
      assert.equal(record.attempts, 1);
      assert.equal(record.lastStatus, 200);
      assert.equal(record.event, event.id);
      assert.equal(record.type, 'finding.new');
      assert.ok(record.deliveredAt !== undefined);
      assert.deepEqual(await notifier.deliveries(disabled.id), []);
      assert.deepEqual(await notifier.deliveries(reportsOnly.id), []);

      const report = await notifier.publish(reportEvent({ id: 'rep-1', baseline: 'bl-2' }));
      assert.equal(report.webhooks, 2, 'both subscribers of report.completed');
      await Promise.all(report.jobs.map((id) => runner.waitFor(id, WAIT_MS)));
      assert.equal(receiver.received.length, 3);
    });

    for (const status of [410, 400]) {
      it(`does not retry a ${status}: one attempt, recorded as failed`, async (t) => {
        const { store, runner, notifier } = await setup(t, kind);
        const receiver = await Receiver.start(t);
        receiver.answer = () => ({ status });
        const hook = await createWebhook(store.meta, { url: receiver.url });
        receiver.secret = hook.secret;

        const published = await notifier.publish(newFinding());
        const info = await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
        assert.equal(info.state, 'completed', 'the job ends without retrying');
        assert.equal(info.attemptsMade, 1);
        assert.equal((info.result as WebhookJobResult).outcome, 'rejected');
        assert.equal(receiver.received.length, 1);
        const record = await onlyRecord(notifier, hook.id);
        assert.equal(record.status, 'failed');
        assert.equal(record.attempts, 1);
        assert.equal(record.lastStatus, status);
        assert.match(record.lastError ?? '', new RegExp(`HTTP ${status}: refused with ${status}`));
      });
    }

    it('retries 503, 429 and 408 with the same delivery id, and delivers when the receiver accepts', async (t) => {
      const { store, runner, notifier } = await setup(t, kind);
      const receiver = await Receiver.start(t);
      const statuses = [503, 429, 408, 200];
      receiver.answer = (n) => ({ status: statuses[n] ?? 500 });
      const hook = await createWebhook(store.meta, { url: receiver.url });
      receiver.secret = hook.secret;

      const published = await notifier.publish(newFinding());
      const info = await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      assert.equal(info.state, 'completed');
      assert.equal(info.attemptsMade, 4);
      assert.equal(receiver.received.length, 4);
      assert.ok(receiver.received.every((r) => r.signed), 'every attempt is signed');
      const record = await onlyRecord(notifier, hook.id);
      assert.deepEqual(new Set(receiver.received.map((r) => r.headers[DELIVERY_HEADER.toLowerCase()])), new Set([record.id]), 'one delivery id on every attempt');
      assert.equal(record.status, 'delivered');
      assert.equal(record.attempts, 4);
      assert.deepEqual(record.log.map((a) => a.status), statuses);
    });

    it('delivers an event published twice once, and a publish after delivery queues nothing', async (t) => {
      const { store, runner, notifier } = await setup(t, kind, {}, false);
      const receiver = await Receiver.start(t);
      const hook = await createWebhook(store.meta, { url: receiver.url });
      receiver.secret = hook.secret;
      const event = newFinding();

      // Both before the worker starts: the second finds the first job still queued.
      const first = await notifier.publish(event);
      const second = await notifier.publish(structuredClone(event));
      assert.deepEqual(second.jobs, first.jobs, 'the same job id: the runner adds nothing');
      await runner.start();
      await runner.waitFor(first.jobs[0] ?? '', WAIT_MS);
      const third = await notifier.publish(event);
      assert.deepEqual(third, { webhooks: 0, syslog: 0, jobs: [] }, 'a finished delivery is not queued again');
      assert.equal(receiver.received.length, 1);
      assert.equal((await onlyRecord(notifier, hook.id)).status, 'delivered');
    });

    it('skips a webhook deleted or disabled after publish, reading it at delivery time', async (t) => {
      const { store, runner, notifier } = await setup(t, kind, {}, false);
      const receiver = await Receiver.start(t);
      const deleted = await createWebhook(store.meta, { url: receiver.url });
      const disabled = await createWebhook(store.meta, { url: receiver.url });
      const published = await notifier.publish(newFinding());
      assert.equal(published.webhooks, 2);
      assert.equal(await deleteWebhook(store.meta, deleted.id), true);
      await updateWebhook(store.meta, disabled.id, { enabled: false });
      await runner.start();
      const results = await Promise.all(published.jobs.map((id) => runner.waitFor(id, WAIT_MS)));
      assert.deepEqual(results.map((r) => (r.result as WebhookJobResult).outcome), ['skipped', 'skipped']);
      assert.equal(receiver.received.length, 0);
      assert.deepEqual([(await onlyRecord(notifier, deleted.id)).lastError, (await onlyRecord(notifier, disabled.id)).lastError], ['the webhook was deleted', 'the webhook is disabled']);
    });

    it('sends a test ping to the one webhook named, even when disabled, and refuses an unknown one', async (t) => {
      const { store, runner, notifier } = await setup(t, kind, { syslog: [{ host: '127.0.0.1', port: 9, transport: 'udp', format: 'rfc5424' }] });
      const receiver = await Receiver.start(t);
      const hook = await createWebhook(store.meta, { url: receiver.url, enabled: false });
      await createWebhook(store.meta, { url: receiver.url, events: ['webhook.test'] });
      receiver.secret = hook.secret;
      const ping = webhookTestEvent(hook.id);
      const published = await notifier.publish(ping, { webhook: hook.id });
      assert.deepEqual([published.webhooks, published.syslog], [1, 0], 'that webhook only, and no syslog');
      await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      assert.deepEqual(receiver.events(), [ping]);
      assert.equal(receiver.received[0]?.signed, true);
      await assert.rejects(notifier.publish(ping, { webhook: 'wh_ffffffffffffffff' }), (err) => isFlowmapError(err, 'FLOWMAP_NOT_FOUND'));
      await assert.rejects(notifier.publish({ ...ping, type: 'nope' } as unknown as FlowmapEvent), (err) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST'));
    });

    it('does not follow a redirect, and gives up after its attempts', async (t) => {
      const { store, runner, notifier } = await setup(t, kind, { attempts: 2 });
      const receiver = await Receiver.start(t);
      receiver.answer = () => ({ status: 302, headers: { location: `http://127.0.0.1:${receiver.port}/elsewhere` } });
      const hook = await createWebhook(store.meta, { url: receiver.url });
      receiver.secret = hook.secret;
      const published = await notifier.publish(newFinding());
      const info = await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      assert.equal(info.state, 'failed');
      assert.equal(info.attemptsMade, 2);
      assert.deepEqual(receiver.received.map((r) => r.path), ['/hook', '/hook'], 'the Location was never requested');
      const record = await onlyRecord(notifier, hook.id);
      assert.deepEqual([record.status, record.attempts, record.lastStatus], ['failed', 2, 302]);
    });

    it('ends an attempt the receiver never answers at the timeout', async (t) => {
      const { store, runner, notifier } = await setup(t, kind, { attempts: 1, timeoutMs: 300 });
      const receiver = await Receiver.start(t);
      receiver.answer = () => 'hold';
      const hook = await createWebhook(store.meta, { url: receiver.url });
      const published = await notifier.publish(newFinding());
      const info = await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      assert.equal(info.state, 'failed');
      const record = await onlyRecord(notifier, hook.id);
      assert.equal(record.status, 'failed');
      assert.match(record.lastError ?? '', /no answer within 300 ms/);
    });

    it(`survives the receiver being down for ${kind.outageMs / 1000} s and delivers the event exactly once when it returns`, { timeout: kind.outageMs + 120_000 }, async (t) => {
      const { store, runner, notifier } = await setup(t, kind, { attempts: 12, backoffMs: kind.backoffMs });
      const first = await Receiver.start(t);
      const port = first.port;
      const hook = await createWebhook(store.meta, { url: first.url });
      await first.close();
      const event = newFinding();

      const published = await notifier.publish(event);
      const outageStarted = Date.now();
      const outage = new Promise<void>((resolve) => setTimeout(resolve, kind.outageMs));

      // Attempts are made, and fail, while the receiver is down: the record says so.
      const failing = await eventually(async () => {
        const record = await onlyRecord(notifier, hook.id);
        assert.ok(record.status === 'retrying' && record.attempts >= 3, `${record.status} after ${record.attempts} attempts`);
        return record;
      }, kind.outageMs);
      assert.ok(Date.now() - outageStarted < kind.outageMs, 'three attempts failed before the outage ended');
      assert.match(failing.lastError ?? '', /ECONNREFUSED/);

      await outage;
      const atReturn = await onlyRecord(notifier, hook.id);
      assert.equal(atReturn.status, 'retrying');
      assert.ok(atReturn.log.every((a) => a.status === undefined && /ECONNREFUSED/.test(a.error ?? '')), 'every attempt so far was refused');
      const attemptsDuringOutage = atReturn.attempts;

      const back = await Receiver.start(t, port);
      back.secret = hook.secret;
      await back.arrived.reached(1, kind.outageMs + 30_000);
      const info = await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      assert.equal(info.state, 'completed');

      assert.equal(back.received.length, 1, 'exactly once');
      assert.equal(back.received[0]?.signed, true, 'with a valid signature');
      assert.deepEqual(back.events(), [event]);
      const record = await onlyRecord(notifier, hook.id);
      assert.equal(record.status, 'delivered');
      assert.ok(record.attempts > attemptsDuringOutage && record.attempts > 1, `delivered at attempt ${record.attempts}, after ${attemptsDuringOutage} failed`);
      assert.equal(record.attempts, info.attemptsMade);
      assert.equal(back.received[0]?.headers[DELIVERY_HEADER.toLowerCase()], record.id);
      assert.ok(Date.parse(record.deliveredAt ?? '') >= outageStarted + kind.outageMs);
    });
  });

  describe(`syslog delivery on the ${kind.name} runner`, { skip: kind.skip }, () => {
    it('sends RFC 5424 and CEF over UDP and TCP, and each parses back to the event', async (t) => {
      const udp = await udpListener(t);
      const tcp = await tcpListener(t);
      const targets: SyslogTarget[] = [
        { host: '127.0.0.1', port: udp.port, transport: 'udp', format: 'rfc5424' },
        { host: '127.0.0.1', port: udp.port, transport: 'udp', format: 'cef', facility: 13 },
        { host: '127.0.0.1', port: tcp.port, transport: 'tcp', format: 'rfc5424' },
        { host: '127.0.0.1', port: tcp.port, transport: 'tcp', format: 'cef' },
      ];
      const { runner, notifier } = await setup(t, kind, { syslog: targets });
      const event = newFinding('f-00000000cafe');
      const published = await notifier.publish(event);
      assert.deepEqual([published.webhooks, published.syslog], [0, 4]);
      await Promise.all(published.jobs.map((id) => runner.waitFor(id, WAIT_MS)));
      await udp.arrived.reached(2, WAIT_MS);
      await tcp.arrived.reached(2, WAIT_MS);

      for (const [transport, listener] of [['udp', udp], ['tcp', tcp]] as const) {
        const parsed = listener.messages.map(parseSyslog);
        const structured = parsed.find((m) => m.sd !== '-');
        const cef = parsed.find((m) => m.sd === '-');
        assert.ok(structured !== undefined && cef !== undefined, `${transport}: one of each format`);
        assert.equal(structured.pri, 16 * 8 + 3, `${transport}: local0, high finding → error`);
        assert.equal(structured.msgid, 'finding.new');
        assert.ok(structured.sd.startsWith(`[${SD_ID} event="${event.id}"`), structured.sd);
        assert.ok(structured.msg.startsWith('\uFEFF'));
        assert.deepEqual(JSON.parse(structured.msg.slice(1)), event, `${transport}: the JSON MSG is the event`);
        assert.ok(cef.msg.startsWith('CEF:0|flowmap|flowmap|'), cef.msg);
        assert.equal(cefExtension(cef.msg, 'externalId'), event.id);
        assert.equal(cefExtension(cef.msg, 'cs4'), 'f-00000000cafe');
        assert.equal(cefExtension(cef.msg, 'dpt'), '9090');
      }
      assert.equal(parseSyslog(udp.messages.find((m) => m.includes('CEF:')) ?? '').pri, 13 * 8 + 3, 'the facility a target sets');
      assert.equal(tcp.accepted, 1, 'both TCP messages on one connection');

      const ping = await notifier.publish(webhookTestEvent('wh_0123456789abcdef'));
      assert.equal(ping.syslog, 0, 'test pings are not sent to syslog');
    });

    it('reuses one TCP connection and opens a new one after the receiver drops it', async (t) => {
      const tcp = await tcpListener(t);
      const { runner, notifier } = await setup(t, kind, { syslog: [{ host: '127.0.0.1', port: tcp.port, transport: 'tcp', format: 'rfc5424' }] });
      for (const id of ['f-000000000001', 'f-000000000002']) {
        const published = await notifier.publish(newFinding(id));
        await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      }
      await tcp.arrived.reached(2, WAIT_MS);
      assert.equal(tcp.accepted, 1);
      const dropped = new Promise<void>((resolve) => [...tcp.connections][0]?.once('close', () => resolve()));
      for (const socket of tcp.connections) socket.destroy();
      await dropped;
      const published = await notifier.publish(newFinding('f-000000000003'));
      await runner.waitFor(published.jobs[0] ?? '', WAIT_MS);
      await tcp.arrived.reached(3, WAIT_MS);
      assert.equal(tcp.accepted, 2, 'a second connection after the first was dropped');
      assert.deepEqual(tcp.messages.map((m) => (JSON.parse(parseSyslog(m).msg.slice(1)) as FlowmapEvent).data.finding).map((f) => (f as Finding).id), ['f-000000000001', 'f-000000000002', 'f-000000000003']);
    });

    it('gets a message to a TCP syslog server that is down, through retries, once it comes back', async (t) => {
      const port = await freePort();
      const { runner, notifier } = await setup(t, kind, { syslog: [{ host: '127.0.0.1', port, transport: 'tcp', format: 'cef' }], backoffMs: 100 });
      const event = newFinding();
      const published = await notifier.publish(event);
      const job = published.jobs[0] ?? '';
      // Failed attempts while nothing listens.
      await eventually(async () => {
        const info = await runner.get(job);
        assert.ok(info !== undefined && info.attemptsMade >= 2 && info.state !== 'completed', `${info?.state} after ${info?.attemptsMade}`);
        assert.match(info.failedReason ?? '', /ECONNREFUSED/);
      }, WAIT_MS, 20);
      const tcp = await tcpListener(t, port);
      const info = await runner.waitFor(job, WAIT_MS);
      assert.equal(info.state, 'completed');
      assert.ok(info.attemptsMade > 2);
      await tcp.arrived.reached(1, WAIT_MS);
      assert.equal(tcp.messages.length, 1, 'once');
      assert.equal(cefExtension(parseSyslog(tcp.messages[0] ?? '').msg, 'externalId'), event.id);
    });
  });
}
