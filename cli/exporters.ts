// `flowmap exporters`: what the collectors report about each exporter. Reads the store directly,
// or asks a running flowmap over HTTP (`--server`, or automatically when the embedded DuckDB file
// is owned by a running `flowmap start`, DESIGN.md §9).
import { summarizeExporters, type ExporterSummary } from '../api/routes/exporters.js';
import type { Config } from '../core/config.js';
import { FlowmapError, isFlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createStore } from '../store/index.js';

/** The API of the `flowmap start` that owns the embedded data directory, from the config's host and port. */
export function localServer(config: Config): string {
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
}

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
  const url = `${server.replace(/\/+$/, '')}/api/v1/exporters`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `cannot reach ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const body = (await response.json().catch(() => undefined)) as { exporters?: ExporterSummary[]; message?: string } | undefined;
  if (!response.ok || body?.exporters === undefined) {
    throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `${url} answered ${response.status}${body?.message !== undefined ? `: ${body.message}` : ''}`);
  }
  return body.exporters;
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
