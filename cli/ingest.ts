// `flowmap ingest FILE... --format aws-vpc|gcp-vpc|azure-nsg|azure-vnet`: cloud flow-log files
// (gzip recognised by content, `-` for stdin) into the configured store, with progress on stderr
// for big files and a ledger that keeps a file from being stored twice (`--list` shows it).
import { statSync } from 'node:fs';
import type { Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createServicePorts } from '../collector/service-ports.js';
import { IngestFailure, ingestFile, ingestStream, listLedger, recordInLedger, type IngestReport } from '../collector/cloud/ingest.js';
import { CLOUD_FORMATS, type CloudFormat } from '../collector/cloud/types.js';
import { createStore } from '../store/index.js';

export interface IngestCommandOptions {
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
  const store = await createStore(config, { logger });
  try {
    if (options.list === true) {
      const entries = await listLedger(store);
      if (options.json === true) out(JSON.stringify({ ingested: entries }));
      else if (entries.length === 0) out('no files ingested yet');
      else {
        for (const e of entries) {
          out(`${e.ingestedAt}  ${e.format.padEnd(10)}  ${String(e.flows).padStart(10)} flows  ${e.sha256.slice(0, 16)}  ${e.file}${e.complete ? '' : `  INCOMPLETE: ${e.error ?? ''}`}`);
        }
      }
      return 0;
    }
    const format = options.format;
    if (format === undefined || !(CLOUD_FORMATS as readonly string[]).includes(format)) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--format must be one of ${CLOUD_FORMATS.join(', ')}${format === undefined ? '' : `, not '${format}'`}`);
    }
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
          format: format as CloudFormat,
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
      const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
      if (options.json === true) out(JSON.stringify(report));
      else {
        out(`${file}: ${report.flows} flows stored${skipped.length > 0 ? `; skipped ${skipped.map(([r, n]) => `${r} ${n}`).join(', ')}` : ''}`);
        for (const p of report.problems.slice(0, 10)) err(`${file}:${p.line}: ${p.reason}: ${p.detail}`);
        if (report.problems.length > 10) err(`${file}: … ${report.problems.length - 10} more problems reported with --json`);
      }
    }
    return failed > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
