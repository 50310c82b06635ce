// POST /api/v1/firehose/aws-vpc: the Amazon Data Firehose HTTP endpoint delivery protocol (version
// 1.0), so a VPC flow log published to CloudWatch Logs, with a subscription filter to a Firehose
// stream whose destination is this URL, delivers straight to flowmap.
//
// Request, as AWS specifies it: headers X-Amz-Firehose-Request-Id (an opaque id, the same on every
// retry of a request), X-Amz-Firehose-Access-Key (the stream's configured key, copied verbatim),
// Content-Type application/json, Content-Encoding gzip when the stream compresses the body (then
// the whole body is gzipped); body `{ "requestId", "timestamp", "records": [{ "data": base64 }] }`.
// Each record's data is what the CloudWatch Logs subscription sent: a gzipped JSON
// `{ messageType, owner, logGroup, logStream, subscriptionFilters, logEvents: [{ id, timestamp,
// message }] }`, or the same JSON already decompressed when the stream decompresses CloudWatch Logs
// records, or bare message lines when the stream also extracts messages. Each message is one flow
// log line in the log group's format (AWS's default version 2 unless a header line or the
// configured format says otherwise). CONTROL_MESSAGE records (CloudWatch's reachability probe)
// carry no flows and are skipped.
//
// Response, as AWS specifies it: 200 with `{ requestId, timestamp }` (the request's id, the time
// of the answer in ms) when every flow is stored; any other status with `{ requestId, timestamp,
// errorMessage }` otherwise, and Firehose retries the whole request. So a request is all or
// nothing: every record is decoded before anything is stored, the flows go to the store in one
// insert, and a failed insert (503) stores nothing, so the retry neither loses nor doubles flows.
// A damaged envelope or record (bad JSON, bad base64, damaged gzip) is a 400; a malformed flow log
// line inside a good record is counted and skipped (logged with record and event), like a bad line
// in a file. Without a configured access key the endpoint refuses every request (401): it is off.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createFlowBatch, appendFlow } from '../../core/flow.js';
import { createAwsVpcParser } from '../../collector/cloud/aws.js';
import { CLOUD_SKIP_REASONS, type CloudSkipReason } from '../../collector/cloud/types.js';
import { orientBatch } from '../../collector/orientation.js';
import type { ServicePorts } from '../../collector/service-ports.js';
import type { Store } from '../../store/port.js';

const gunzip = promisify(gunzipCallback);

/** Firehose buffers at most 64 MiB per request; a body (or its records, decompressed) beyond this is refused with 413. */
export const DEFAULT_FIREHOSE_MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Skipped lines kept (with record and event) for the log; the rest are only counted. */
const MAX_REPORTED = 20;

export interface FirehoseRoutesOptions {
  /** The Firehose stream's access key. Without one the endpoint answers 401 to every request. */
  accessKey?: string;
  servicePorts: ServicePorts;
  /**
   * Bound on the request body as received, on the body after Content-Encoding, and on the sum of
   * the records' decompressed payloads (default 64 MiB each).
   */
  maxBodyBytes?: number;
  /** The flow log's format when its lines carry no header (`${version} ${account-id} …` or bare names); default AWS's version 2. */
  awsFormat?: string;
}

/** What one delivery stored and skipped; passed to `onDelivery` and logged. */
export interface FirehoseDeliveryReport {
  requestId: string;
  records: number;
  controlMessages: number;
  logEvents: number;
  flows: number;
  skipped: Record<CloudSkipReason, number>;
  problems: { record: number; event: string; reason: CloudSkipReason; detail: string }[];
}

/** A refusal with the status Firehose is to see; its message becomes `errorMessage`. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const successSchema = {
  type: 'object',
  required: ['requestId', 'timestamp'],
  properties: {
    requestId: { type: 'string', description: 'the request id Firehose sent (X-Amz-Firehose-Request-Id)' },
    timestamp: { type: 'integer', description: 'time of the answer, ms since the epoch' },
  },
} as const;
const failureSchema = {
  type: 'object',
  required: ['requestId', 'timestamp', 'errorMessage'],
  properties: { ...successSchema.properties, errorMessage: { type: 'string', description: 'why the delivery failed; Firehose logs it and retries' } },
} as const;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Constant-time: both sides hashed to 32 bytes first, so neither content nor length leaks. */
function keyMatches(given: string | undefined, expected: string | undefined): boolean {
  if (expected === undefined || expected === '' || given === undefined) return false;
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

async function readBody(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > maxBytes) {
      stream.destroy();
      throw new Refusal(413, `request body larger than the ${maxBytes}-byte limit; lower the Firehose stream's buffer size`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/** gunzip bounded to `maxBytes` of output; damage is a 400, excess a 413. */
async function gunzipBounded(data: Buffer, maxBytes: number, what: string): Promise<Buffer> {
  if (maxBytes < 1) throw new Refusal(413, `${what}: decompressed data exceeds the ${maxBytes}-byte limit`);
  try {
    return await gunzip(data, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new Refusal(413, `${what}: decompressed data exceeds the limit`);
    }
    throw new Refusal(400, `${what}: damaged gzip data (${err instanceof Error ? err.message : String(err)})`);
  }
}

const isGzip = (data: Uint8Array): boolean => data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;

/** Standard base64 with padding, as Firehose writes it; Buffer.from alone would skip bad characters silently. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Envelope {
  requestId?: string;
  records: { data: string }[];
}

function parseEnvelope(body: Buffer): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new Refusal(400, `request body is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Refusal(400, 'request body must be a JSON object with a records array');
  const envelope = parsed as Record<string, unknown>;
  if (!Array.isArray(envelope.records)) throw new Refusal(400, 'request body has no records array');
  envelope.records.forEach((record: unknown, index) => {
    if (typeof record !== 'object' || record === null || typeof (record as { data?: unknown }).data !== 'string') {
      throw new Refusal(400, `records[${index}] has no data string`);
    }
  });
  return { requestId: typeof envelope.requestId === 'string' ? envelope.requestId : undefined, records: envelope.records as { data: string }[] };
}

/** A record as flow log lines: the events of a DATA_MESSAGE, nothing for a CONTROL_MESSAGE, or bare lines. */
type Decoded = { kind: 'control' } | { kind: 'events'; events: { id: string; message: string; timestamp?: number }[] } | { kind: 'lines'; text: Buffer };

function decodeSubscriptionPayload(payload: Buffer, index: number): Decoded {
  let start = 0;
  while (start < payload.length && (payload[start] === 0x20 || payload[start] === 0x0a || payload[start] === 0x0d || payload[start] === 0x09)) start++;
  // Firehose's "extract message" processing delivers the log lines themselves, not the JSON.
  if (payload[start] !== 0x7b /* { */) return { kind: 'lines', text: payload };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new Refusal(400, `records[${index}]: CloudWatch Logs payload is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const message = parsed as { messageType?: unknown; logEvents?: unknown };
  if (typeof parsed !== 'object' || parsed === null) throw new Refusal(400, `records[${index}]: CloudWatch Logs payload is not a JSON object`);
  if (message.messageType === 'CONTROL_MESSAGE') return { kind: 'control' };
  if (message.messageType !== 'DATA_MESSAGE') {
    throw new Refusal(400, `records[${index}]: messageType ${JSON.stringify(message.messageType)} is not DATA_MESSAGE or CONTROL_MESSAGE`);
  }
  if (!Array.isArray(message.logEvents)) throw new Refusal(400, `records[${index}]: DATA_MESSAGE has no logEvents array`);
  const events = (message.logEvents as unknown[]).map((event, e) => {
    const { id, message: text, timestamp } = (typeof event === 'object' && event !== null ? event : {}) as { id?: unknown; message?: unknown; timestamp?: unknown };
    return {
      id: typeof id === 'string' ? id : `#${e}`,
      message: typeof text === 'string' ? text : '',
      // CloudWatch Logs event time, ms since the epoch: the flow's time when its format has no start/end.
      ...(typeof timestamp === 'number' && Number.isFinite(timestamp) && timestamp >= 0 ? { timestamp: Math.floor(timestamp / 1000) } : {}),
    };
  });
  return { kind: 'events', events };
}

export function firehoseRoutes(store: Store, options: FirehoseRoutesOptions & { onDelivery?(report: FirehoseDeliveryReport): void }): FastifyPluginAsync {
  const maxBytes = options.maxBodyBytes ?? DEFAULT_FIREHOSE_MAX_BODY_BYTES;
  return async (app) => {
    // The body arrives as the raw stream: it may be gzipped whatever its content type says, and
    // its size is bounded here, not by fastify's bodyLimit.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    const answer = (reply: FastifyReply, requestId: string, status: number, errorMessage?: string): FastifyReply => {
      reply.code(status).type('application/json');
      return errorMessage === undefined ? reply.send({ requestId, timestamp: Date.now() }) : reply.send({ requestId, timestamp: Date.now(), errorMessage });
    };

    app.post(
      '/api/v1/firehose/aws-vpc',
      {
        config: { access: 'public', class: 'upload' },
        schema: {
          tags: ['collector'],
          summary: 'Amazon Data Firehose HTTP endpoint for AWS VPC flow logs delivered through a CloudWatch Logs subscription',
          description:
            'Speaks the Firehose HTTP endpoint delivery protocol 1.0: a JSON body `{requestId, timestamp, records: [{data}]}` (optionally Content-Encoding: gzip), each record a base64 CloudWatch Logs subscription payload of VPC flow log lines. Refused (401) unless X-Amz-Firehose-Access-Key equals the configured key.',
          headers: {
            type: 'object',
            properties: {
              'x-amz-firehose-request-id': { type: 'string' },
              'x-amz-firehose-access-key': { type: 'string' },
              'x-amz-firehose-protocol-version': { type: 'string' },
              'content-encoding': { type: 'string', description: 'gzip when the stream compresses requests; absent otherwise' },
            },
          },
          response: { 200: successSchema, '4xx': failureSchema, '5xx': failureSchema },
        },
        // Whatever fails in this route, Firehose must get its own error shape, not flowmap's.
        errorHandler(error, request, reply) {
          const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
          if (status >= 500) request.log.error({ err: error }, 'firehose delivery failed');
          void answer(reply, header(request, 'x-amz-firehose-request-id') ?? '', status, status >= 500 ? 'internal error; the server log has the details' : error.message);
        },
      },
      async (request, reply) => {
        let requestId = header(request, 'x-amz-firehose-request-id') ?? '';
        if (!keyMatches(header(request, 'x-amz-firehose-access-key'), options.accessKey)) {
          request.log.warn({ firehoseRequestId: requestId }, 'firehose delivery refused: access key missing or wrong, or none configured');
          return answer(reply, requestId, 401, options.accessKey === undefined || options.accessKey === '' ? 'this endpoint is off: no Firehose access key is configured' : 'X-Amz-Firehose-Access-Key is missing or wrong');
        }

        const report: FirehoseDeliveryReport = {
          requestId,
          records: 0,
          controlMessages: 0,
          logEvents: 0,
          flows: 0,
          skipped: Object.fromEntries(CLOUD_SKIP_REASONS.map((r) => [r, 0])) as Record<CloudSkipReason, number>,
          problems: [],
        };
        let decoded: Decoded[];
        try {
          const encoding = (header(request, 'content-encoding') ?? 'identity').trim().toLowerCase();
          if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== '') throw new Refusal(415, `Content-Encoding ${encoding} is not supported (gzip or none)`);
          const raw = await readBody(request.body as Readable, maxBytes);
          const body = encoding === 'gzip' ? await gunzipBounded(raw, maxBytes, 'request body') : raw;
          const envelope = parseEnvelope(body);
          if (requestId === '') requestId = envelope.requestId ?? '';
          report.requestId = requestId;
          report.records = envelope.records.length;
          // Every record decoded before anything is stored: a damaged one refuses the whole request.
          let budget = maxBytes;
          decoded = [];
          for (const [index, record] of envelope.records.entries()) {
            if (!BASE64.test(record.data)) throw new Refusal(400, `records[${index}].data is not base64`);
            let payload: Buffer = Buffer.from(record.data, 'base64');
            if (isGzip(payload)) payload = await gunzipBounded(payload, budget, `records[${index}]`);
            budget -= payload.length;
            if (budget < 0) throw new Refusal(413, `records decoded exceed the ${maxBytes}-byte limit; lower the Firehose stream's buffer size`);
            decoded.push(decodeSubscriptionPayload(payload, index));
          }
        } catch (err) {
          if (!(err instanceof Refusal)) throw err;
          request.log.warn({ firehoseRequestId: requestId, status: err.status, reason: err.message }, 'firehose delivery refused');
          return answer(reply, requestId, err.status, err.message);
        }

        // Flows at most: one per event (or per line of a bare-lines record).
        let capacity = 0;
        for (const record of decoded) {
          if (record.kind === 'events') capacity += record.events.length;
          else if (record.kind === 'lines') for (const byte of record.text) if (byte === 0x0a) capacity++;
          if (record.kind === 'lines') capacity++;
        }
        const batch = createFlowBatch(Math.max(capacity, 1));
        for (const [index, record] of decoded.entries()) {
          if (record.kind === 'control') {
            report.controlMessages++;
            continue;
          }
          let event = '';
          let eventTime: number | undefined;
          const parser = createAwsVpcParser(
            {
              flow: (flow) => {
                appendFlow(batch, flow);
              },
              skip: (reason, at, detail) => {
                report.skipped[reason]++;
                if (report.problems.length < MAX_REPORTED) report.problems.push({ record: index, event: record.kind === 'events' ? event : `line ${at.line}`, reason, detail });
              },
            },
            { format: options.awsFormat, timeWhenAbsent: () => eventTime },
          );
          if (record.kind === 'lines') {
            parser.write(record.text);
          } else {
            report.logEvents += record.events.length;
            for (const item of record.events) {
              event = item.id;
              eventTime = item.timestamp;
              // One message is one line; a newline inside it would split it, so it cannot hide a second record.
              parser.write(Buffer.from(`${item.message.replace(/[\r\n]+/g, ' ')}\n`, 'utf8'));
            }
          }
          parser.end();
        }

        if (batch.length > 0) {
          orientBatch(batch, options.servicePorts);
          try {
            await store.insertFlows(batch);
          } catch (err) {
            request.log.error({ err, firehoseRequestId: requestId, flows: batch.length }, 'firehose delivery not stored; Firehose will retry it');
            return answer(reply, requestId, 503, `the store did not accept the ${batch.length} flows (${err instanceof Error ? err.message : String(err)}); retry`);
          }
        }
        report.flows = batch.length;
        const skipped = Object.values(report.skipped).reduce((a, b) => a + b, 0);
        request.log[skipped > report.skipped.nodata + report.skipped.skipdata ? 'warn' : 'info'](
          { firehoseRequestId: requestId, records: report.records, controlMessages: report.controlMessages, logEvents: report.logEvents, flows: report.flows, skipped: report.skipped, problems: report.problems },
          'firehose delivery stored',
        );
        options.onDelivery?.(report);
        return answer(reply, requestId, 200);
      },
    );
  };
}
