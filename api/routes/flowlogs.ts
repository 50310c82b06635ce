// POST /api/v1/flowlogs/{format}: upload a cloud flow-log file (text, gzip, or AWS Parquet) as
// the raw request body. The body is streamed to a temporary file, bounded by `maxBytes`, then
// ingested like `flowmap ingest FILE`: the ledger of file hashes keeps an upload that was stored
// before from being stored twice, and the answer is the ingest report.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { FlowmapError } from '../../core/errors.js';
import { emptyIngestReport, ingestFile, listLedger } from '../../collector/cloud/ingest.js';
import type { ServicePorts } from '../../collector/service-ports.js';
import { CLOUD_FORMATS, CLOUD_SKIP_REASONS, type CloudFormat } from '../../collector/cloud/types.js';
import type { Store } from '../../store/port.js';

export const DEFAULT_UPLOAD_MAX_BYTES = 2 * 1024 ** 3;

const reportSchema = {
  type: 'object',
  required: ['file', 'format', 'sha256', 'bytes', 'flows', 'resumedAfter', 'skipped', 'problems', 'alreadyIngested'],
  properties: {
    file: { type: 'string' },
    format: { type: 'string', enum: [...CLOUD_FORMATS] },
    sha256: { type: 'string' },
    bytes: { type: 'integer', description: 'bytes of the upload as sent' },
    flows: { type: 'integer', description: 'flows of this file in the store (0 when the upload was ingested before)' },
    resumedAfter: { type: 'integer', description: 'flows passed over because an earlier, part-way upload of the same bytes stored them' },
    skipped: { type: 'object', properties: Object.fromEntries(CLOUD_SKIP_REASONS.map((r) => [r, { type: 'integer' }])) },
    problems: {
      type: 'array',
      description: 'the first skipped records, with their line',
      items: { type: 'object', properties: { line: { type: 'integer' }, reason: { type: 'string' }, detail: { type: 'string' } } },
    },
    alreadyIngested: { type: 'boolean', description: 'true when the ledger had these bytes: nothing was stored again' },
  },
} as const;

export function flowlogRoutes(store: Store, options: { servicePorts: ServicePorts; maxBytes?: number; awsFormat?: string }): FastifyPluginAsync {
  const maxBytes = options.maxBytes ?? DEFAULT_UPLOAD_MAX_BYTES;
  return async (app) => {
    // Every body reaches this route as the raw stream, whatever its content type.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    app.get(
      '/api/v1/flowlogs',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['collector'],
          summary: 'The ledger: flow-log files ingested so far, by SHA-256 of their bytes',
          response: {
            200: {
              type: 'object',
              required: ['ingested'],
              properties: {
                ingested: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['sha256', 'file', 'format', 'bytes', 'flows', 'ingestedAt', 'complete'],
                    properties: {
                      sha256: { type: 'string' },
                      file: { type: 'string' },
                      format: { type: 'string', enum: [...CLOUD_FORMATS] },
                      bytes: { type: 'integer' },
                      flows: { type: 'integer' },
                      ingestedAt: { type: 'string', format: 'date-time' },
                      complete: { type: 'boolean', description: 'false: the file failed part-way; `flows` of it are stored' },
                      error: { type: 'string' },
                    },
                  },
                },
              },
            },
          },
        },
      },
      async () => ({ ingested: await listLedger(store) }),
    );

    app.post<{ Params: { format: CloudFormat }; Querystring: { name?: string } }>(
      '/api/v1/flowlogs/:format',
      {
        config: { access: 'admin', class: 'upload' },
        schema: {
          tags: ['collector'],
          summary: 'Upload a cloud flow-log file (raw body: text, gzip, or AWS Parquet)',
          params: { type: 'object', required: ['format'], properties: { format: { type: 'string', enum: [...CLOUD_FORMATS] } } },
          querystring: { type: 'object', properties: { name: { type: 'string', maxLength: 512, description: 'a name for reports and the ledger (default upload-<request id>)' } } },
          response: { 200: reportSchema },
        },
      },
      async (request) => {
        // No body at all (no content type, nothing sent): say so, before a file is opened for it.
        if (request.body === undefined || request.body === null) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'the request has no body: send the flow-log file as the raw body', { status: 400 });
        const dir = mkdtempSync(join(tmpdir(), 'flowmap-upload-'));
        const path = join(dir, 'upload');
        const name = request.query.name ?? `upload-${request.id}`;
        try {
          let received = 0;
          const limit = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              received += chunk.length;
              if (received > maxBytes) callback(new FlowmapError('FLOWMAP_BAD_REQUEST', `the upload is larger than the ${maxBytes}-byte limit`, { status: 413 }));
              else callback(null, chunk);
            },
          });
          await pipeline(request.body as NodeJS.ReadableStream, limit, createWriteStream(path));
          const outcome = await ingestFile(path, store, { format: request.params.format, file: name, servicePorts: options.servicePorts, awsFormat: options.awsFormat });
          if (outcome.known !== undefined) {
            return { ...emptyIngestReport(name, request.params.format), bytes: received, alreadyIngested: true };
          }
          return { ...outcome.report, alreadyIngested: false };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  };
}
