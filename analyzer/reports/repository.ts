// Where reports live: the metadata store (DESIGN.md §5), like baselines. A report's summary — what
// a listing shows — is the entry of namespace `reports`; its documents (the report's JSON and the
// HTML rendered from it, tens of kilobytes) sit beside it in `report-documents`, so listing
// reports never reads documents. Reports are written once and never edited.
//
// Listing is newest first with an opaque cursor: the position (generation time, id) of the last
// report of the previous page, so a page boundary does not shift when reports are added.
import { FlowmapError } from '../../core/errors.js';
import type { JsonValue, MetaStore } from '../../store/index.js';
import { renderReportHtml } from './html.js';
import type { BaselineReport, ReportRecord, ReportSummary, ReportTrigger } from './types.js';

export const REPORTS = 'reports';
export const DOCUMENTS = 'report-documents';
/** A page holds at most this many reports. */
export const MAX_PAGE = 200;
const DEFAULT_PAGE = 50;
const ID_PATTERN = /^rp-[0-9a-f]{16}$/;
/** Listing reads every summary; a report a week for a century is 5,200. */
const MAX_REPORTS = 100_000;

interface Documents {
  report: BaselineReport;
  html: string;
}

export function checkReportId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `"${id.slice(0, 80)}" is not a report id (they look like rp-0123456789abcdef)`, { status: 400, details: { id: id.slice(0, 80) } });
  }
}

export function summaryOf(report: BaselineReport, html: string, trigger: ReportTrigger, job?: string): ReportSummary {
  return {
    id: report.id,
    baseline: report.baseline.id,
    window: { from: report.baseline.window.from, to: report.baseline.window.to },
    groupBy: report.baseline.groupBy,
    generatedAt: report.generatedAt,
    trigger,
    ...(job === undefined ? {} : { job }),
    totals: {
      groups: report.summary.groups,
      edges: report.summary.edges,
      flows: report.summary.flows,
      bytes: report.summary.bytes,
      findings: report.findings.total,
      newEdges: report.newSinceLast.summary?.added ?? null,
      coverage: report.policyCoverage.coverage,
      reduction: report.blastRadius.reduction,
    },
    sizes: { json: Buffer.byteLength(JSON.stringify(report)), html: Buffer.byteLength(html) },
  };
}

/** Stores a report with the HTML rendered from it. The documents go first: a listed report can always be read. */
export async function saveReport(meta: MetaStore, report: BaselineReport, options: { trigger: ReportTrigger; job?: string }): Promise<ReportRecord> {
  checkReportId(report.id);
  const html = renderReportHtml(report);
  const summary = summaryOf(report, html, options.trigger, options.job);
  await meta.put(DOCUMENTS, report.id, { report, html } as unknown as JsonValue);
  await meta.put(REPORTS, report.id, summary as unknown as JsonValue);
  return { ...summary, report, html };
}

export async function getReport(meta: MetaStore, id: string): Promise<ReportRecord | undefined> {
  checkReportId(id);
  const [summary, documents] = await Promise.all([meta.get(REPORTS, id), meta.get(DOCUMENTS, id)]);
  if (summary === undefined || documents === undefined) return undefined;
  const { report, html } = documents.value as unknown as Documents;
  return { ...(summary.value as unknown as ReportSummary), report, html };
}

/** The report of `id`, or FLOWMAP_NOT_FOUND (404). */
export async function requireReport(meta: MetaStore, id: string): Promise<ReportRecord> {
  const record = await getReport(meta, id);
  if (record === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no report "${id}"`, { status: 404, details: { id } });
  return record;
}

/** Deletes a report's summary and documents; false when there was none. */
export async function deleteReport(meta: MetaStore, id: string): Promise<boolean> {
  checkReportId(id);
  const existed = await meta.delete(REPORTS, id);
  await meta.delete(DOCUMENTS, id);
  return existed;
}

/** The id of the report a job stored, if it stored one. */
export async function reportOfJob(meta: MetaStore, job: string): Promise<string | undefined> {
  const entries = await meta.list(REPORTS, { limit: MAX_REPORTS });
  return entries.map((e) => e.value as unknown as ReportSummary).find((s) => s.job === job)?.id;
}

/** Newest first: by generation time, then id. */
function newerFirst(a: Pick<ReportSummary, 'generatedAt' | 'id'>, b: Pick<ReportSummary, 'generatedAt' | 'id'>): number {
  return a.generatedAt < b.generatedAt ? 1 : a.generatedAt > b.generatedAt ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function encodeCursor(s: ReportSummary): string {
  return Buffer.from(JSON.stringify([s.generatedAt, s.id])).toString('base64url');
}

function decodeCursor(cursor: string): { generatedAt: string; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string' || !ID_PATTERN.test(parsed[1])) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'cursor is not one this server handed out; pass the nextCursor of the previous page, or none for the first page', { status: 400, details: { cursor: cursor.slice(0, 80) } });
  }
  return { generatedAt: parsed[0], id: parsed[1] };
}

/** Keeps the `keep` newest reports; deletes older ones. Returns the ids deleted. */
export async function pruneReports(meta: MetaStore, keep: number): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `reports kept must be a whole number ≥ 1 (got ${keep})`, { details: { keep } });
  const all = (await meta.list(REPORTS, { limit: MAX_REPORTS })).map((e) => e.value as unknown as ReportSummary).sort(newerFirst);
  const old = all.slice(keep).map((s) => s.id);
  for (const id of old) await deleteReport(meta, id);
  return old;
}

/**
 * A page of report summaries, newest first. `limit` defaults to 50 and is capped at MAX_PAGE;
 * `nextCursor` is present when more follow.
 */
export async function listReports(meta: MetaStore, options: { limit?: number; cursor?: string } = {}): Promise<{ reports: ReportSummary[]; nextCursor?: string }> {
  const limit = options.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `limit ${limit} must be a whole number from 1 to ${MAX_PAGE}`, { status: 400, details: { limit } });
  const size = Math.min(limit, MAX_PAGE);
  const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  const all = (await meta.list(REPORTS, { limit: MAX_REPORTS })).map((e) => e.value as unknown as ReportSummary).sort(newerFirst);
  const start = after === undefined ? 0 : all.findIndex((s) => newerFirst(s, after) > 0);
  const page = start < 0 ? [] : all.slice(start, start + size);
  const last = page[page.length - 1];
  const more = start >= 0 && start + size < all.length;
  return { reports: page, ...(more && last !== undefined ? { nextCursor: encodeCursor(last) } : {}) };
}
