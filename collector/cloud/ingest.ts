// Cloud flow-log files into the store: bytes (gzip undone when the file starts with its magic
// bytes) → the format's parser → flow batches, oriented like the collector's (DESIGN.md §6) →
// store inserts, one batch at a time with the input paused meanwhile, so memory stays bounded
// whatever the file's size.
//
// A ledger of ingested files, by SHA-256 of their bytes as given (compressed or not), keeps a file
// from being stored twice: `flowmap ingest` skips a file whose hash is in it, and `--list` shows it.
// A file that fails part-way (a truncated gzip, a store that went away) keeps the flows stored
// before the failure — they were accepted — and is entered as `complete: false` with its error, so
// the same bytes given again are not stored a second time; `--force` stores them anyway.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
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

/** Where ingested batches go: the store itself, or the collector's sink (spooled while the store is down). */
export type FlowTarget = Pick<Store, 'insertFlows'>;

export interface IngestOptions {
  format: CloudFormat;
  /** Name for reports (a path, or '-' for stdin). */
  file: string;
  servicePorts: ServicePorts;
  batchRows?: number;
  /** AWS: the custom format, when the files carry no header line. */
  awsFormat?: string;
  /**
   * Flows of this input stored before (a resume after a part-way failure): the parser's first
   * `skipFlows` records are passed over, so they are not stored twice.
   */
  skipFlows?: number;
  /** Awaited after each stored batch (the ledger's progress entry), before the next is parsed. */
  afterBatch?(report: IngestReport): Promise<void>;
  /** Aborts the ingest between chunks (shutdown); it fails as interrupted, resumable. */
  signal?: AbortSignal;
  /** Called after each stored batch with bytes read so far (of the input as given). */
  progress?(bytesRead: number, flows: number): void;
}

export interface IngestReport {
  file: string;
  format: CloudFormat;
  sha256: string;
  bytes: number;
  flows: number;
  /** Flows passed over because an earlier, part-way ingest of the same bytes stored them. */
  resumedAfter: number;
  skipped: Record<CloudSkipReason, number>;
  problems: { line: number; reason: CloudSkipReason; detail: string }[];
}

export interface LedgerEntry {
  file: string;
  format: CloudFormat;
  bytes: number;
  flows: number;
  ingestedAt: string;
  /** False when the file failed part-way: `flows` were stored, the rest was not (see `error`). */
  complete: boolean;
  error?: string;
}

/**
 * An input that failed part-way: its message names the file and how far it got; `report` holds
 * what was stored before the failure (those flows stay stored).
 */
export class IngestFailure extends FlowmapError {
  constructor(
    message: string,
    readonly report: IngestReport,
    cause: unknown,
    /** The store (or sink) failed, not the input: worth trying again as it is. */
    readonly storeFailed = false,
  ) {
    super(storeFailed ? 'FLOWMAP_STORE_UNAVAILABLE' : 'FLOWMAP_BAD_REQUEST', message, {
      status: storeFailed ? 503 : 400,
      details: { file: report.file, bytes: report.bytes, flows: report.flows },
      cause,
    });
  }
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

/** A report of nothing stored or skipped yet. */
export function emptyIngestReport(file: string, format: CloudFormat): IngestReport {
  return {
    file,
    format,
    sha256: '',
    bytes: 0,
    flows: 0,
    resumedAfter: 0,
    skipped: Object.fromEntries(CLOUD_SKIP_REASONS.map((r) => [r, 0])) as Record<CloudSkipReason, number>,
    problems: [],
  };
}

/** Stores every flow of one input; resolves with what was stored and skipped. */
export async function ingestStream(input: AsyncIterable<Buffer>, store: FlowTarget, options: IngestOptions): Promise<IngestReport> {
  const batchRows = options.batchRows ?? 65_536;
  const hash = createHash('sha256');
  const report = emptyIngestReport(options.file, options.format);
  let batch: FlowBatch = createFlowBatch(batchRows);
  const full: FlowBatch[] = [];
  let toSkip = options.skipFlows ?? 0;
  const sink: CloudSink = {
    flow(record) {
      if (toSkip > 0) {
        toSkip--;
        report.resumedAfter++;
        return;
      }
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
  let storeFailed = false;
  const store_ = async (b: FlowBatch): Promise<void> => {
    if (b.length === 0) return;
    orientBatch(b, options.servicePorts);
    try {
      await store.insertFlows(b);
    } catch (err) {
      storeFailed = true;
      throw err;
    }
    report.flows += b.length;
    options.progress?.(report.bytes, report.flows);
    await options.afterBatch?.(report);
  };

  /** Newlines of the (decompressed) text so far, so a failure can say at which line it stopped. */
  let newlines = 0;
  const feed = async (chunk: Uint8Array): Promise<void> => {
    options.signal?.throwIfAborted();
    for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) newlines++;
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
    // What the parser completed before the damage was accepted: store it, then fail the input.
    // The unterminated tail is not parsed: a line cut inside a number would read as a valid flow.
    let stored = !storeFailed;
    if (stored) {
      try {
        full.push(batch);
        while (full.length > 0) await store_(full.shift() as FlowBatch);
      } catch {
        stored = false;
      }
    }
    report.sha256 = hash.digest('hex');
    const message = err instanceof Error ? err.message : String(err);
    throw new IngestFailure(
      `${options.file}:${newlines + 1}: ${message} (input stopped at line ${newlines + 1}, after ${report.bytes} bytes as given; ${report.flows} flows stored before it${stored ? '' : ', the rest could not be stored'})`,
      report,
      err,
      storeFailed,
    );
  }
  parser.end();
  full.push(batch);
  try {
    while (full.length > 0) await store_(full.shift() as FlowBatch);
  } catch (err) {
    report.sha256 = hash.digest('hex');
    throw new IngestFailure(`${options.file}: ${err instanceof Error ? err.message : String(err)} (${report.flows} flows stored before it)`, report, err, true);
  }
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
  if (first.done === true) {
    await iterator.return?.();
    return;
  }
  const head: Buffer = first.value;
  async function* raw(): AsyncGenerator<Buffer> {
    try {
      onRaw(head);
      yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) return;
        onRaw(next.value);
        yield next.value;
      }
    } finally {
      // An ingest that stops early (damage, a store failure) closes its file (or DuckDB reader).
      await iterator.return?.();
    }
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) yield* gunzipped(raw());
  else yield* raw();
}

/**
 * gunzip, one compressed chunk at a time: each chunk's output is yielded before the next chunk is
 * written, and a damaged or cut stream yields everything decoded before the damage, then throws.
 * (Iterating the gunzip stream itself would drop the output still buffered when its error
 * arrives — how much depends on how fast the consumer was — and a resumed ingest must see the
 * same flows as the first one.)
 */
async function* gunzipped(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const out: Buffer[] = [];
  let failure: Error | undefined;
  let finished = false;
  let wake = (): void => undefined;
  gunzip.on('data', (chunk: Buffer) => out.push(chunk));
  gunzip.on('error', (err: Error) => {
    failure = err;
    wake();
  });
  gunzip.on('end', () => {
    finished = true;
    wake();
  });
  const settled = (): boolean => failure !== undefined || finished;
  try {
    for await (const chunk of input) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        gunzip.write(chunk, () => resolve());
      });
      while (out.length > 0) yield out.shift() as Buffer;
      if (failure !== undefined) break;
    }
    if (failure === undefined) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        gunzip.end();
        if (settled()) resolve();
      });
    }
    while (out.length > 0) yield out.shift() as Buffer;
  } finally {
    gunzip.destroy();
  }
  if (failure !== undefined) throw failure;
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

/** A file's bytes for `ingestStream`: as they are, or (AWS Parquet) as the text the AWS parser reads. */
export function fileInput(path: string, options: Pick<IngestOptions, 'format' | 'file'>): AsyncIterable<Buffer> {
  const parquet = isParquet(headOf(path));
  if (parquet && options.format !== 'aws-vpc') {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${options.file} is a Parquet file; only AWS VPC flow logs come as Parquet (format aws-vpc)`);
  }
  return parquet ? parquetAsAwsText(path) : createReadStream(path);
}

export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Ledger reads and writes need the store: when it fails, the answer is 503 (try again), not a bug. */
async function ledgerCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof FlowmapError) throw err;
    throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `the ingest ledger cannot be ${what}: ${err instanceof Error ? err.message : String(err)}`, { status: 503, cause: err });
  }
}

/** Ingests of a file's hash running in this process: a second one waits, then finds the first's ledger entry. */
const running = new Map<string, Promise<unknown>>();

/**
 * Ingests one file unless the ledger has all of its bytes already (`force` ingests it anyway):
 * text, gzip, or (AWS) Parquet. A file an earlier run stored part of is resumed after the flows
 * that run stored. Entered in the ledger, by the hash of the file's own bytes, once stored — or,
 * when it fails part-way, as incomplete with the flows stored so far, and the failure is thrown.
 */
export async function ingestFile(
  path: string,
  store: Store,
  options: IngestOptions & { force?: boolean; target?: FlowTarget },
): Promise<{ report: IngestReport; known?: undefined } | { known: LedgerEntry; report?: undefined }> {
  const sha256 = await sha256OfFile(path, options.signal);
  // Two uploads of the same bytes at once (a client retrying after a proxy timeout): one at a time.
  for (let other = running.get(sha256); other !== undefined; other = running.get(sha256)) await other.catch(() => undefined);
  const run = ingestKnownHash(path, sha256, store, options);
  running.set(sha256, run);
  try {
    return await run;
  } finally {
    running.delete(sha256);
  }
}

async function ingestKnownHash(
  path: string,
  sha256: string,
  store: Store,
  options: IngestOptions & { force?: boolean; target?: FlowTarget },
): Promise<{ report: IngestReport; known?: undefined } | { known: LedgerEntry; report?: undefined }> {
  let skipFlows = 0;
  if (options.force !== true) {
    const known = await ledgerCall('read', () => ledgerEntry(store, sha256));
    if (known !== undefined && known.complete) return { known };
    // An incomplete entry whose failure was in the bytes (a cut gzip) fails the same way again, after
    // passing over what it stored; one whose store went away, or that was interrupted, completes now.
    if (known !== undefined) skipFlows = known.flows;
  }
  const withSkipped = (report: IngestReport): IngestReport => ({ ...report, sha256, flows: report.flows + skipFlows });
  let report: IngestReport;
  try {
    report = await ingestStream(fileInput(path, options), options.target ?? store, {
      ...options,
      skipFlows,
      // Progress in the ledger after every batch: if the store or the process goes away mid-file,
      // the next ingest of these bytes resumes after the last batch recorded (at most that one
      // batch again, should the store fail between its insert and this write).
      afterBatch: async (partial) => {
        await recordInLedger(store, withSkipped(partial), 'interrupted before the end of the file; ingesting it again resumes');
        await options.afterBatch?.(partial);
      },
    });
  } catch (err) {
    if (err instanceof IngestFailure) {
      const partial = withSkipped(err.report);
      Object.assign(err.report, { sha256, flows: partial.flows });
      // Best effort: when the store itself is what failed, this fails too, and the progress entry
      // of the last stored batch stands.
      await recordInLedger(store, partial, err.message).catch(() => undefined);
    }
    throw err;
  }
  report = withSkipped(report);
  await ledgerCall('written', () => recordInLedger(store, report));
  return { report };
}

/** The ledger entry of a file's hash, if it was ingested before. */
export async function ledgerEntry(store: Store, sha256: string): Promise<LedgerEntry | undefined> {
  const entry = await store.meta.get(LEDGER_NAMESPACE, sha256);
  if (entry === undefined) return undefined;
  const value = entry.value as unknown as LedgerEntry;
  // Entries written before `complete` existed were only ever written for whole files.
  return { ...value, complete: value.complete !== false };
}

/** Enters a stored input in the ledger; with `error`, as stored part-way (`report.flows` of it). */
export async function recordInLedger(store: Store, report: IngestReport, error?: string): Promise<void> {
  const entry: LedgerEntry = {
    file: report.file,
    format: report.format,
    bytes: report.bytes,
    flows: report.flows,
    ingestedAt: new Date().toISOString(),
    complete: error === undefined,
    ...(error === undefined ? {} : { error }),
  };
  await store.meta.put(LEDGER_NAMESPACE, report.sha256, { ...entry });
}

export async function listLedger(store: Store): Promise<(LedgerEntry & { sha256: string })[]> {
  const entries = await store.meta.list(LEDGER_NAMESPACE, { limit: 100_000 });
  return entries.map((e) => {
    const value = e.value as unknown as LedgerEntry;
    return { sha256: e.key, ...value, complete: value.complete !== false };
  });
}
