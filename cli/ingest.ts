// `flowmap ingest FILE... --format aws-vpc|gcp-vpc|azure-nsg|azure-vnet`: cloud flow-log files
// (gzip recognised by content, `-` for stdin) into the configured store, with progress on stderr
// for big files and a ledger that keeps a file from being stored twice (`--list` shows it).
import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Config } from '../core/config.js';
import { FlowmapError, isFlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createServicePorts } from '../collector/service-ports.js';
import { IngestFailure, ingestFile, ingestStream, listLedger, recordInLedger, type IngestReport, type LedgerEntry } from '../collector/cloud/ingest.js';
import { CLOUD_FORMATS, type CloudFormat } from '../collector/cloud/types.js';
import { createStore, type Store } from '../store/index.js';
import { errorOf } from '../api/errors.js';
import { answerMessage, callServer, localServer, type ServerAnswer } from './server.js';

export interface IngestCommandOptions {
  server?: string;
  format?: string;
  awsFormat?: string;
  list?: boolean;
  force?: boolean;
  json?: boolean;
}

/** Progress lines for inputs bigger than this; small files just report at the end. */
const PROGRESS_FROM_BYTES = 64 * 1024 * 1024;
const PROGRESS_EVERY_MS = 2000;

export async function ingestCommand(files: string[], options: IngestCommandOptions, config: Config, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (options.server !== undefined) return ingestThroughServer(options.server, files, options, out, err);
  let store: Store;
  try {
    store = await createStore(config, { logger });
  } catch (e) {
    // DESIGN.md §9: while `flowmap start` owns the embedded file, commands go through its API.
    if (!isFlowmapError(e, 'FLOWMAP_STORE_LOCKED')) throw e;
    const server = localServer(config);
    err(`the data directory is in use by a running flowmap; sending to it at ${server}`);
    return ingestThroughServer(server, files, options, out, err);
  }
  try {
    if (options.list === true) {
      printLedger(await listLedger(store), options, out);
      return 0;
    }
    const format = checkedFormat(options.format);
    if (files.length === 0) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'name at least one file (or - for standard input)');
    await store.migrate();
    const servicePorts = createServicePorts({ extra: config.collector.servicePorts });
    let failed = 0;
    for (const file of files) {
      const size = file === '-' ? 0 : statSync(file).size;
      let last = Date.now();
      let report: IngestReport;
      try {
        const options_ = {
          format,
          file,
          servicePorts,
          awsFormat: options.awsFormat ?? config.ingest.awsFormat,
          progress(bytes: number, flows: number) {
            if (size < PROGRESS_FROM_BYTES || Date.now() - last < PROGRESS_EVERY_MS) return;
            last = Date.now();
            err(`${file}: ${Math.floor((100 * bytes) / size)}% (${bytes} of ${size} bytes), ${flows} flows stored`);
          },
        };
        if (file === '-') {
          try {
            report = await ingestStream(process.stdin, store, options_);
          } catch (e) {
            if (e instanceof IngestFailure) await recordInLedger(store, e.report, e.message).catch(() => undefined);
            throw e;
          }
          await recordInLedger(store, report);
        } else {
          const outcome = await ingestFile(file, store, { ...options_, force: options.force === true });
          if (outcome.known !== undefined) {
            const known = outcome.known;
            err(`${file}: already ingested (as ${known.file}, ${known.flows} flows, ${known.ingestedAt}); skipped — --force stores it again`);
            continue;
          }
          report = outcome.report;
          if (report.resumedAfter > 0) err(`${file}: resumed after the ${report.resumedAfter} flows an earlier, part-way ingest stored`);
        }
      } catch (e) {
        failed++;
        err(`flowmap: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      printReport(file, report, options, out, err);
    }
    return failed > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}

function printLedger(entries: (LedgerEntry & { sha256: string })[], options: IngestCommandOptions, out: (line: string) => void): void {
  if (options.json === true) out(JSON.stringify({ ingested: entries }));
  else if (entries.length === 0) out('no files ingested yet');
  else {
    for (const e of entries) {
      out(`${e.ingestedAt}  ${e.format.padEnd(10)}  ${String(e.flows).padStart(10)} flows  ${e.sha256.slice(0, 16)}  ${e.file}${e.complete ? '' : `  INCOMPLETE: ${e.error ?? ''}`}`);
    }
  }
}

function printReport(file: string, report: Pick<IngestReport, 'flows' | 'skipped' | 'problems'>, options: IngestCommandOptions, out: (line: string) => void, err: (line: string) => void): void {
  const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
  if (options.json === true) out(JSON.stringify(report));
  else {
    out(`${file}: ${report.flows} flows stored${skipped.length > 0 ? `; skipped ${skipped.map(([r, n]) => `${r} ${n}`).join(', ')}` : ''}`);
    for (const p of report.problems.slice(0, 10)) err(`${file}:${p.line}: ${p.reason}: ${p.detail}`);
    if (report.problems.length > 10) err(`${file}: … ${report.problems.length - 10} more problems reported with --json`);
  }
}

/**
 * The same command against a running flowmap's API: each file is streamed to
 * POST /api/v1/flowlogs/{format} (the server keeps the ledger), `--list` reads GET /api/v1/flowlogs.
 */
async function ingestThroughServer(server: string, files: string[], options: IngestCommandOptions, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const base = server.replace(/\/+$/, '');
  const call = (path: string, init?: RequestInit): Promise<ServerAnswer> => callServer(base, path, init);
  if (options.list === true) {
    const { status, body } = await call('/api/v1/flowlogs');
    if (status !== 200) throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `${base}/api/v1/flowlogs answered ${status}: ${errorOf(body)?.message ?? String(body.message)}`);
    printLedger(body.ingested as (LedgerEntry & { sha256: string })[], options, out);
    return 0;
  }
  const format = checkedFormat(options.format);
  if (files.length === 0) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'name at least one file (or - for standard input)');
  if (options.force === true || options.awsFormat !== undefined) err('--force and --aws-format apply to a local store; the server uses its own ledger and ingest.awsFormat');
  let failed = 0;
  for (const file of files) {
    const input = file === '-' ? process.stdin : createReadStream(file);
    const init = { method: 'POST', body: Readable.toWeb(input) as ReadableStream, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as RequestInit;
    let answer: ServerAnswer;
    try {
      answer = await call(`/api/v1/flowlogs/${format}?name=${encodeURIComponent(file)}`, init);
    } catch (e) {
      failed++;
      err(`flowmap: ${file}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    if (answer.status !== 200) {
      failed++;
      err(`flowmap: ${answerMessage(answer)}`);
      continue;
    }
    if (answer.body.alreadyIngested === true) {
      err(`${file}: already ingested; skipped`);
      continue;
    }
    printReport(file, answer.body as unknown as IngestReport, options, out, err);
  }
  return failed > 0 ? 1 : 0;
}

function checkedFormat(format: string | undefined): CloudFormat {
  if (format === undefined || !(CLOUD_FORMATS as readonly string[]).includes(format)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--format must be one of ${CLOUD_FORMATS.join(', ')}${format === undefined ? '' : `, not '${format}'`}`);
  }
  return format as CloudFormat;
}
