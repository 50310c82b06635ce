// POST /api/v1/firehose/aws-vpc against a real (embedded) store: a delivery in the shape of AWS's
// documented Firehose HTTP endpoint request (headers, envelope, base64 records), each record a
// gzipped CloudWatch Logs DATA_MESSAGE of VPC flow log lines from AWS's flow log documentation,
// is stored field by field and answered with AWS's response shape; a CONTROL_MESSAGE stores
// nothing; a wrong or unconfigured access key is a 401 storing nothing; a gzipped body works;
// damaged records are a 400, an oversized body a 413 and a failed insert a 503, each with the
// `{ requestId, timestamp, errorMessage }` body Firehose expects.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { createServicePorts } from '../../collector/service-ports.js';
import { flowAt } from '../../core/flow.js';
import { formatAddress } from '../../core/ip.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { registerErrorHandling } from '../errors.js';
import { firehoseRoutes, type FirehoseDeliveryReport } from './firehose.js';

const KEY = 'my-api-key';
const URL = '/api/v1/firehose/aws-vpc';

/** A CloudWatch Logs subscription DATA_MESSAGE of a VPC flow log group, as AWS documents its shape. */
function dataMessage(logStream: string, lines: string[], timestamp: number): Record<string, unknown> {
  return {
    owner: '123456789010',
    logGroup: 'vpc-flow-logs',
    logStream,
    subscriptionFilters: ['vpc-flow-logs-to-firehose'],
    messageType: 'DATA_MESSAGE',
    logEvents: lines.map((message, i) => ({ id: `3195310660696698337880902507980421114328961542429822156${i}`, timestamp, message })),
  };
}

const CONTROL_MESSAGE = {
  messageType: 'CONTROL_MESSAGE',
  owner: 'CloudwatchLogs',
  logGroup: '',
  logStream: '',
  subscriptionFilters: [],
  logEvents: [{ id: '', timestamp: 1432826855000, message: 'CWL CONTROL MESSAGE: Checking health of destination Firehose.' }],
};

/** A record's data as CloudWatch Logs hands it to Firehose: gzipped JSON, base64 in the envelope. */
const record = (payload: unknown): { data: string } => ({ data: gzipSync(JSON.stringify(payload)).toString('base64') });

/** The request body as AWS's example lays it out. */
function envelope(requestId: string, records: { data: string }[]): string {
  return JSON.stringify({ requestId, timestamp: 1578090901599, records }, null, 2);
}

function headers(requestId: string, key = KEY): Record<string, string> {
  return {
    'x-amz-firehose-protocol-version': '1.0',
    'x-amz-firehose-request-id': requestId,
    'x-amz-firehose-source-arn': 'arn:aws:firehose:us-east-1:123456789010:deliverystream/testStream',
    'x-amz-firehose-access-key': key,
    'x-amz-firehose-common-attributes': '{"commonAttributes":{}}',
    'content-type': 'application/json',
  };
}

interface Failure {
  requestId: string;
  timestamp: number;
  errorMessage: string;
}

function assertFailureShape(body: Failure, requestId: string): void {
  assert.deepEqual(Object.keys(body).sort(), ['errorMessage', 'requestId', 'timestamp']);
  assert.equal(body.requestId, requestId);
  assert.equal(typeof body.timestamp, 'number');
  assert.ok(body.errorMessage.length > 0);
}

describe('POST /api/v1/firehose/aws-vpc', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  const deliveries: FirehoseDeliveryReport[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-firehose-test-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    app = Fastify();
    registerErrorHandling(app);
    await app.register(firehoseRoutes(store, { accessKey: KEY, servicePorts: createServicePorts(), onDelivery: (report) => deliveries.push(report) }));
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a delivery in AWS documented shape and echoes its requestId', async () => {
    const requestId = 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f';
    const payload = envelope(requestId, [
      record(
        dataMessage('eni-1235b8ca123456789-all', [
          '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
          '2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK',
          '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1418530010 1418530070 - NODATA',
        ], 1418530070000),
      ),
      record(
        dataMessage('eni-1111aaaa2222bbbb3-all', [
          '2 123456789010 eni-1111aaaa2222bbbb3 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1418530020 1418530060 ACCEPT OK',
          '2 123456789010 eni-1111aaaa2222bbbb3 203.0.113.12 172.31.16.139 0 0 1 4 336 1418530030 1418530050 ACCEPT OK',
        ], 1418530060000),
      ),
    ]);
    const before = Date.now();
    const response = await app.inject({ method: 'POST', url: URL, headers: headers(requestId), payload });
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const body = response.json<{ requestId: string; timestamp: number }>();
    assert.deepEqual(Object.keys(body).sort(), ['requestId', 'timestamp']);
    assert.equal(body.requestId, requestId);
    assert.ok(body.timestamp >= before && body.timestamp <= Date.now());

    const report = deliveries.at(-1);
    assert.deepEqual([report?.requestId, report?.records, report?.logEvents, report?.flows, report?.skipped.nodata], [requestId, 2, 5, 4, 1]);

    const stored = await store.readFlows({ from: 1418530000, to: 1418530100 });
    const rows = Array.from({ length: stored.length }, (_, i) => flowAt(stored, i))
      .map((f) => ({
        src: formatAddress(f.src_addr),
        dst: formatAddress(f.dst_addr),
        src_port: f.src_port,
        dst_port: f.dst_port,
        proto: f.proto,
        bytes: f.bytes,
        packets: f.packets,
        start: f.time_start,
        end: f.time_end,
        action: f.action,
        source: f.source,
        account: f.cloud_account,
        iface: f.cloud_interface,
      }))
      .sort((a, b) => a.start - b.start || a.src.localeCompare(b.src));
    assert.deepEqual(rows, [
      { src: '172.31.16.139', dst: '172.31.16.21', src_port: 20641, dst_port: 22, proto: 6, bytes: 4249, packets: 20, start: 1418530010, end: 1418530070, action: 'accept', source: 'aws_vpc', account: '123456789010', iface: 'eni-1235b8ca123456789' },
      { src: '172.31.9.69', dst: '172.31.9.12', src_port: 49761, dst_port: 3389, proto: 6, bytes: 4249, packets: 20, start: 1418530010, end: 1418530070, action: 'reject', source: 'aws_vpc', account: '123456789010', iface: 'eni-1235b8ca123456789' },
      { src: '2001:db8:1234:a100:8d6e:3477:df66:f105', dst: '2001:db8:1234:a102:3304:8879:34cf:4071', src_port: 34892, dst_port: 22, proto: 6, bytes: 8855, packets: 54, start: 1418530020, end: 1418530060, action: 'accept', source: 'aws_vpc', account: '123456789010', iface: 'eni-1111aaaa2222bbbb3' },
      { src: '203.0.113.12', dst: '172.31.16.139', src_port: 0, dst_port: 0, proto: 1, bytes: 336, packets: 4, start: 1418530030, end: 1418530050, action: 'accept', source: 'aws_vpc', account: '123456789010', iface: 'eni-1111aaaa2222bbbb3' },
    ]);
  });

  it('skips a CONTROL_MESSAGE record and stores nothing for it', async () => {
    const response = await app.inject({ method: 'POST', url: URL, headers: headers('control-1'), payload: envelope('control-1', [record(CONTROL_MESSAGE)]) });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json<{ requestId: string }>().requestId, 'control-1');
    assert.deepEqual([deliveries.at(-1)?.controlMessages, deliveries.at(-1)?.flows], [1, 0]);
    assert.deepEqual(await store.flowTotals({ from: 0, to: 2 ** 32 - 1 }), { flows: 4, bytes: 4249 * 2 + 8855 + 336, packets: 20 * 2 + 54 + 4 });
  });

  it('refuses a wrong access key with 401 and stores nothing', async () => {
    const lines = ['2 123456789010 eni-aaaa 10.0.0.1 10.0.0.2 1000 443 6 1 100 1500000000 1500000060 ACCEPT OK'];
    const response = await app.inject({ method: 'POST', url: URL, headers: headers('wrong-key', 'not-my-api-key'), payload: envelope('wrong-key', [record(dataMessage('s', lines, 1500000060000))]) });
    assert.equal(response.statusCode, 401);
    assertFailureShape(response.json<Failure>(), 'wrong-key');
    const missing = headers('no-key');
    delete missing['x-amz-firehose-access-key'];
    const noKey = await app.inject({ method: 'POST', url: URL, headers: missing, payload: envelope('no-key', [record(dataMessage('s', lines, 1500000060000))]) });
    assert.equal(noKey.statusCode, 401);
    assert.equal((await store.flowTotals({ from: 1499999000, to: 1500001000 })).flows, 0);
  });

  it('accepts a body gzipped whole (Content-Encoding: gzip), and records Firehose already decompressed', async () => {
    const lines = [
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
      '2 123456789010 eni-bbbb 10.0.0.3 10.0.0.4 40000 5432 6 7 700 1600000000 1600000060 ACCEPT OK',
    ];
    const plain = { data: Buffer.from(JSON.stringify(dataMessage('eni-bbbb-all', ['2 123456789010 eni-bbbb 10.0.0.5 10.0.0.6 40001 80 6 3 300 1600000000 1600000060 REJECT OK'], 1600000060000))).toString('base64') };
    const response = await app.inject({
      method: 'POST',
      url: URL,
      headers: { ...headers('gzip-1'), 'content-encoding': 'gzip' },
      payload: gzipSync(envelope('gzip-1', [record(dataMessage('eni-bbbb-all', lines, 1600000060000)), plain])),
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json<{ requestId: string }>().requestId, 'gzip-1');
    assert.deepEqual(await store.flowTotals({ from: 1599999000, to: 1600001000 }), { flows: 2, bytes: 1000, packets: 10 });
  });

  it('answers 400 with the Firehose error body for malformed base64, storing nothing of the request', async () => {
    const good = record(dataMessage('s', ['2 123456789010 eni-cccc 10.0.0.7 10.0.0.8 1 2 17 1 50 1700000000 1700000060 ACCEPT OK'], 1700000060000));
    const response = await app.inject({ method: 'POST', url: URL, headers: headers('bad-b64'), payload: envelope('bad-b64', [good, { data: 'H4sI!!not base64$$' }]) });
    assert.equal(response.statusCode, 400);
    const body = response.json<Failure>();
    assertFailureShape(body, 'bad-b64');
    assert.match(body.errorMessage, /records\[1\]\.data is not base64/);
    const badJson = await app.inject({ method: 'POST', url: URL, headers: headers('bad-json'), payload: '{"requestId": "bad-json", "records": [' });
    assert.equal(badJson.statusCode, 400);
    assertFailureShape(badJson.json<Failure>(), 'bad-json');
    const deflate = await app.inject({ method: 'POST', url: URL, headers: { ...headers('deflate'), 'content-encoding': 'deflate' }, payload: envelope('deflate', [good]) });
    assert.equal(deflate.statusCode, 415);
    assertFailureShape(deflate.json<Failure>(), 'deflate');
    assert.equal((await store.flowTotals({ from: 1699999000, to: 1700001000 })).flows, 0);
  });

  it('is off without a configured key, refuses an oversized body with 413 and a failed insert with 503', async () => {
    let inserts = 0;
    const failing = {
      insertFlows: async () => {
        inserts++;
        throw new Error('store unreachable');
      },
    } as unknown as Store;
    const payload = envelope('r-1', [record(dataMessage('s', ['2 123456789010 eni-dddd 10.0.0.9 10.0.0.10 1 2 17 1 50 1700000000 1700000060 ACCEPT OK'], 1700000060000))]);
    const off = Fastify();
    const small = Fastify();
    try {
      await off.register(firehoseRoutes(failing, { servicePorts: createServicePorts() }));
      await small.register(firehoseRoutes(failing, { accessKey: KEY, servicePorts: createServicePorts(), maxBodyBytes: 1000 }));
      const refused = await off.inject({ method: 'POST', url: URL, headers: headers('r-1'), payload });
      assert.equal(refused.statusCode, 401);
      assert.match(refused.json<Failure>().errorMessage, /no Firehose access key is configured/);

      const tooBig = await small.inject({ method: 'POST', url: URL, headers: headers('r-2'), payload: envelope('r-2', [{ data: Buffer.alloc(1200).toString('base64') }]) });
      assert.equal(tooBig.statusCode, 413);
      assertFailureShape(tooBig.json<Failure>(), 'r-2');
      assert.match(tooBig.json<Failure>().errorMessage, /request body larger than the 1000-byte limit/);

      const big = await small.inject({ method: 'POST', url: URL, headers: headers('r-3'), payload: envelope('r-3', [record(dataMessage('s', Array.from({ length: 50 }, () => '2 1 eni-x 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK'), 1))]) });
      // Under the limit as sent (about 640 bytes), over it decompressed (about 7 KB).
      assert.equal(big.statusCode, 413, big.body);
      assertFailureShape(big.json<Failure>(), 'r-3');
      assert.match(big.json<Failure>().errorMessage, /records\[0\]: decompressed data exceeds/);

      const fails = await small.inject({ method: 'POST', url: URL, headers: headers('r-4'), payload: envelope('r-4', [{ data: Buffer.from('2 1 eni-x 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK').toString('base64') }]) });
      assert.equal(fails.statusCode, 503);
      assertFailureShape(fails.json<Failure>(), 'r-4');
      assert.equal(inserts, 1);
    } finally {
      await off.close();
      await small.close();
    }
  });
});
