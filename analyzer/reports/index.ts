// The reports stage's entry (DESIGN.md §8 "reports (scheduled)", issue 10): a baseline report's
// content as JSON (build.ts), its self-contained HTML (html.ts, svg.ts) and PDF (pdf.ts), where
// reports are stored (repository.ts) and the job that builds them on request and on a schedule
// (job.ts). Other stages import from here only.
export { buildReport, isActive, reportId, type BuildReportOptions } from './build.js';
export { formatBytes, renderReportHtml } from './html.js';
export { CHROMIUM_PATHS, findChromium, launchChromium, renderReportPdf } from './pdf.js';
export { checkReportId, deleteReport, DOCUMENTS, getReport, listReports, MAX_PAGE, pruneReports, REPORTS, requireReport, saveReport } from './repository.js';
export { registerReports, REPORT_ATTEMPTS, REPORT_DEFAULT_CRON, REPORT_JOB, REPORT_SCHEDULE, requestReport, type ReportJobOptions } from './job.js';
export { escapeHtml } from './svg.js';
export type * from './types.js';
export { REPORT_LIMITS, REPORT_SCHEMA_VERSION, REPORT_SECTIONS } from './types.js';
