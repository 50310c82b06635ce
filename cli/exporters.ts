// `flowmap exporters`: what the collectors report about each exporter. Reads the store directly,
// or asks a running flowmap over HTTP (`--server`, or automatically when the embedded DuckDB file
// is owned by a running `flowmap start`, DESIGN.md §9).
import { summarizeExporters, type ExporterSummary } from '../api/routes/exporters.js';
import type { Config } from '../core/config.js';
import { FlowmapError, isFlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createStore } from '../store/index.js';
import { answerMessage, callServer, localServer } from './server.js';

export async function listExporters(config: Config, server: string | undefined, logger: Logger): Promise<ExporterSummary[]> {
  if (server !== undefined) return fetchExporters(server);
  let store;
  try {
    store = await createStore(config, { logger });
  } catch (err) {
    if (isFlowmapError(err, 'FLOWMAP_STORE_LOCKED')) return fetchExporters(localServer(config));
    throw err;
  }
  try {
    return summarizeExporters(await store.listExporters());
  } finally {
    await store.close();
  }
}

async function fetchExporters(server: string): Promise<ExporterSummary[]> {
  const answer = await callServer(server, '/api/v1/exporters', { signal: AbortSignal.timeout(10_000) });
  const exporters = answer.body.exporters as ExporterSummary[] | undefined;
  if (answer.status !== 200 || exporters === undefined) throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `${server.replace(/\/+$/, '')}/api/v1/exporters answered ${answer.status}: ${answerMessage(answer)}`);
  return exporters;
}

/** A fixed-width table, one exporter a line; errors summed with the top reasons named. */
export function exportersText(exporters: readonly ExporterSummary[]): string {
  if (exporters.length === 0) return 'no exporters yet: point a router at the collector (see README, "Pointing routers at flowmap")\n';
  const header = ['EXPORTER', 'LAST SEEN (UTC)', 'DATAGRAMS', 'FLOWS', 'TEMPLATES', 'SAMPLING', 'ERRORS'];
  const rows = exporters.map((e) => {
    const errors = Object.entries(e.errors).sort((a, b) => b[1] - a[1]);
    const total = errors.reduce((n, [, count]) => n + count, 0);
    return [
      e.exporter,
      e.lastSeen.slice(0, 19).replace('T', ' '),
      String(e.datagrams),
      String(e.flows),
      String(e.templates),
      e.samplingRates.length === 0 ? '-' : e.samplingRates.map((r) => `1:${r}`).join(','),
      total === 0 ? '0' : `${total} (${errors.slice(0, 3).map(([reason, count]) => `${reason} ${count}`).join(', ')})`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
