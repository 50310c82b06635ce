// `flowmap report [--baseline ID] --out FILE`: a baseline report made now and written as HTML, JSON
// or PDF (by --format, else by the file's extension), through the report routes (cli/baseline.ts
// sessions: this process builds it in embedded mode; a server's workers otherwise).
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { ok, open, type Session } from './baseline.js';

type Print = (line: string) => void;
const FORMATS = ['html', 'json', 'pdf'] as const;
type Format = (typeof FORMATS)[number];
/** How long to wait for a report a server's workers build. */
const WAIT_MS = 30 * 60_000;

export interface ReportCommandOptions {
  baseline?: string;
  out?: string;
  format?: string;
  json?: boolean;
  server?: string;
}

function formatOf(options: ReportCommandOptions): Format {
  const given = options.format ?? extname(options.out ?? '').slice(1).toLowerCase().replace(/^htm$/, 'html');
  if (given === '') return 'html';
  if (!(FORMATS as readonly string[]).includes(given)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--format must be one of ${FORMATS.join(', ')} (or an --out file ending .html, .json or .pdf), not ${given}`);
  return given as Format;
}

/** The id of the report a job made, once it is listed. */
async function reportOfJob(session: Session, job: string, warn: Print): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  warn(`the report is being built by the server's workers (job ${job}); waiting`);
  for (;;) {
    const page = ok(await session.call('GET', '/api/v1/reports?limit=50'));
    const found = (page.reports as { id: string; job?: string }[]).find((r) => r.job === job);
    if (found !== undefined) return found.id;
    if (Date.now() > deadline) throw new FlowmapError('FLOWMAP_JOB_BACKEND', `report job ${job} did not finish within ${WAIT_MS / 60_000} minutes; it is listed by GET /api/v1/reports once it does`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export async function reportCommand(options: ReportCommandOptions, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  const format = formatOf(options);
  if (format === 'pdf' && options.out === undefined) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'a PDF needs --out FILE');
  const session = await open(config, logger, options.server, warn);
  try {
    const made = await session.call('POST', '/api/v1/reports', { ...(options.baseline === undefined ? {} : { baseline: options.baseline }), wait: true });
    const id = made.status === 202 ? await reportOfJob(session, String(ok(made, 202).job), warn) : String(ok(made, 201).id);
    const document = await session.call('GET', `/api/v1/reports/${id}?format=${format}`);
    if (document.status !== 200) ok(document);
    if (options.out !== undefined) {
      writeFileSync(options.out, document.bytes);
      warn(`report ${id} written to ${options.out} (${format}, ${document.bytes.length.toLocaleString('en-US')} bytes)`);
      if (options.json === true) print(JSON.stringify({ id, file: options.out, format, bytes: document.bytes.length }));
    } else {
      print(document.text.replace(/\n$/, ''));
    }
    return 0;
  } finally {
    await session.close();
  }
}
