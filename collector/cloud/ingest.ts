// Cloud flow-log files into the store: bytes (gzip undone when the file starts with its magic
// bytes) → the format's parser → flow batches, oriented like the collector's (DESIGN.md §6) →
// store inserts, one batch at a time with the input paused meanwhile, so memory stays bounded
// whatever the file's size.
//
// A ledger of ingested files, by SHA-256 of their bytes as given (compressed or not), keeps a file
// from being stored twice: `flowmap ingest` skips a file whose hash is in it, and `--list` shows it.
// A file is entered in the ledger only once all of it is stored.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FlowmapError } from '../../core/errors.js';
import { appendFlow, createFlowBatch, type FlowBatch } from '../../core/flow.js';
import type { Store } from '../../store/port.js';
import { orientBatch } from '../orientation.js';
import type { ServicePorts } from '../service-ports.js';
import { createAwsVpcParser } from './aws.js';
import { createAzureNsgParser, createAzureVnetParser } from './azure.js';
import { createGcpVpcParser } from './gcp.js';
import { isParquet, parquetAsAwsText } from './parquet.js';
import { CLOUD_SKIP_REASONS, type CloudFormat, type CloudParser, type CloudSink, type CloudSkipReason } from './types.js';

export const LEDGER_NAMESPACE = 'ingest-ledger';
/** Problems kept for the report, with their line; the rest are only counted. */
const MAX_REPORTED = 100;

export interface IngestOptions {
  format: CloudFormat;
  /** Name for reports (a path, or '-' for stdin). */
  file: string;
  servicePorts: ServicePorts;
  batchRows?: number;
  /** AWS: the custom format, when the files carry no header line. */
  awsFormat?: string;
  /** Called after each stored batch with bytes read so far (of the input as given). */
  progress?(bytesRead: number, flows: number): void;
}

export interface IngestReport {
  file: string;
  format: CloudFormat;
  sha256: string;
  bytes: number;
  flows: number;
  skipped: Record<CloudSkipReason, number>;
  problems: { line: number; reason: CloudSkipReason; detail: string }[];
}

export interface LedgerEntry {
  file: string;
  format: CloudFormat;
  bytes: number;
  flows: number;
  ingestedAt: string;
}

function parserFor(format: CloudFormat, sink: CloudSink, options: IngestOptions): CloudParser {
  switch (format) {
    case 'aws-vpc':
      return createAwsVpcParser(sink, { format: options.awsFormat, file: options.file });
    case 'gcp-vpc':
      return createGcpVpcParser(sink, { file: options.file });
    case 'azure-nsg':
      return createAzureNsgParser(sink, { file: options.file });
    case 'azure-vnet':
      return createAzureVnetParser(sink, { file: options.file });
  }
}

/** Stores every flow of one input; resolves with what was stored and skipped. */
export async function ingestStream(input: AsyncIterable<Buffer>, store: Store, options: IngestOptions): Promise<IngestReport> {
  const batchRows = options.batchRows ?? 65_536;
  const hash = createHash('sha256');
  const report: IngestReport = {
    file: options.file,
    format: options.format,
    sha256: '',
    bytes: 0,
    flows: 0,
    skipped: Object.fromEntries(CLOUD_SKIP_REASONS.map((r) => [r, 0])) as Record<CloudSkipReason, number>,
    problems: [],
  };
  let batch: FlowBatch = createFlowBatch(batchRows);
  const full: FlowBatch[] = [];
  const sink: CloudSink = {
    flow(record) {
      if (!appendFlow(batch, record)) {
        full.push(batch);
        batch = createFlowBatch(batchRows);
        appendFlow(batch, record);
      }
    },
    skip(reason, at, detail) {
      report.skipped[reason]++;
      if (report.problems.length < MAX_REPORTED) report.problems.push({ line: at.line, reason, detail });
    },
  };
  const parser = parserFor(options.format, sink, options);
  const store_ = async (b: FlowBatch): Promise<void> => {
    if (b.length === 0) return;
    orientBatch(b, options.servicePorts);
    await store.insertFlows(b);
    report.flows += b.length;
    options.progress?.(report.bytes, report.flows);
  };

  const feed = async (chunk: Uint8Array): Promise<void> => {
    parser.write(chunk);
    while (full.length > 0) await store_(full.shift() as FlowBatch);
  };
  try {
    for await (const chunk of decompressed(input, (raw) => {
      hash.update(raw);
      report.bytes += raw.length;
    })) {
      await feed(chunk);
    }
  } catch (err) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${options.file}: ${err instanceof Error ? err.message : String(err)} (after ${report.bytes} bytes; ${report.flows} flows stored before it)`, {
      details: { file: options.file, bytes: report.bytes, flows: report.flows },
      cause: err,
    });
  }
  parser.end();
  full.push(batch);
  while (full.length > 0) await store_(full.shift() as FlowBatch);
  report.sha256 = hash.digest('hex');
  return report;
}

/**
 * The bytes of `input` as text: through gunzip when they start with gzip's magic bytes (so `.gz`
 * files, S3 objects without the suffix and plain text all work). `onRaw` sees the bytes as given,
 * for the ledger's hash. A damaged or truncated gzip stream fails the iteration.
 */
async function* decompressed(input: AsyncIterable<Buffer>, onRaw: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  const iterator = input[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done === true) return;
  const head: Buffer = first.value;
  async function* raw(): AsyncGenerator<Buffer> {
    onRaw(head);
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      onRaw(next.value);
      yield next.value;
    }
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = Readable.from(raw()).pipe(createGunzip());
    for await (const chunk of gunzip) yield chunk as Buffer;
  } else {
    yield* raw();
  }
}

/** The first bytes of a file: Parquet needs the whole file (its index is at the end), not a stream. */
function headOf(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    return head;
  } finally {
    closeSync(fd);
  }
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Ingests one file unless the ledger has its bytes already (`force` ingests it anyway): text,
 * gzip, or (AWS) Parquet. Entered in the ledger, by the hash of the file's own bytes, once stored.
 */
export async function ingestFile(path: string, store: Store, options: IngestOptions & { force?: boolean }): Promise<{ report: IngestReport; known?: undefined } | { known: LedgerEntry; report?: undefined }> {
  const sha256 = await sha256OfFile(path);
  if (options.force !== true) {
    const known = await ledgerEntry(store, sha256);
    if (known !== undefined) return { known };
  }
  const parquet = isParquet(headOf(path));
  if (parquet && options.format !== 'aws-vpc') {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${options.file} is a Parquet file; only AWS VPC flow logs come as Parquet (format aws-vpc)`);
  }
  const report = await ingestStream(parquet ? parquetAsAwsText(path) : createReadStream(path), store, options);
  report.sha256 = sha256;
  await recordInLedger(store, report);
  return { report };
}

/** The ledger entry of a file's hash, if it was ingested before. */
export async function ledgerEntry(store: Store, sha256: string): Promise<LedgerEntry | undefined> {
  const entry = await store.meta.get(LEDGER_NAMESPACE, sha256);
  return entry === undefined ? undefined : (entry.value as unknown as LedgerEntry);
}

export async function recordInLedger(store: Store, report: IngestReport): Promise<void> {
  const entry: LedgerEntry = { file: report.file, format: report.format, bytes: report.bytes, flows: report.flows, ingestedAt: new Date().toISOString() };
  await store.meta.put(LEDGER_NAMESPACE, report.sha256, { ...entry });
}

export async function listLedger(store: Store): Promise<(LedgerEntry & { sha256: string })[]> {
  const entries = await store.meta.list(LEDGER_NAMESPACE, { limit: 100_000 });
  return entries.map((e) => ({ sha256: e.key, ...(e.value as unknown as LedgerEntry) }));
}
