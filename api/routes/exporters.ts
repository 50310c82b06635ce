// GET /api/v1/exporters: every router, switch or agent that sent flows, as the collectors last
// reported it (collectors save their counters to the store every 15 s and on shutdown). One row
// per exporter: counters summed over the collectors that heard it, the newest last-seen.
import type { FastifyPluginAsync } from 'fastify';
import type { ExporterStatus, Store } from '../../store/port.js';

export interface ExporterSummary {
  exporter: string;
  collectors: string[];
  firstSeen: string;
  lastSeen: string;
  datagrams: number;
  flows: number;
  templates: number;
  samplingRates: number[];
  errors: Record<string, number>;
}

const exporterSchema = {
  type: 'object',
  required: ['exporter', 'collectors', 'firstSeen', 'lastSeen', 'datagrams', 'flows', 'templates', 'samplingRates', 'errors'],
  properties: {
    exporter: { type: 'string', description: 'the exporter address (the UDP source of its datagrams)' },
    collectors: { type: 'array', items: { type: 'string' }, description: 'collectors that received from it' },
    firstSeen: { type: 'string', format: 'date-time' },
    lastSeen: { type: 'string', format: 'date-time' },
    datagrams: { type: 'integer' },
    flows: { type: 'integer', description: 'flow records decoded' },
    templates: { type: 'integer', description: 'NetFlow v9 / IPFIX templates cached now' },
    samplingRates: { type: 'array', items: { type: 'integer' }, description: 'sampling rates announced (1-in-N); empty when none was' },
    errors: { type: 'object', additionalProperties: { type: 'integer' }, description: 'parts of datagrams skipped, by reason' },
  },
} as const;

/** Folds per-collector rows into one summary per exporter, newest last-seen first. */
export function summarizeExporters(rows: readonly ExporterStatus[]): ExporterSummary[] {
  const byExporter = new Map<string, { first: number; last: number; row: ExporterSummary }>();
  for (const row of rows) {
    let entry = byExporter.get(row.exporter);
    if (entry === undefined) {
      entry = {
        first: row.firstSeen,
        last: row.lastSeen,
        row: { exporter: row.exporter, collectors: [], firstSeen: '', lastSeen: '', datagrams: 0, flows: 0, templates: 0, samplingRates: [], errors: {} },
      };
      byExporter.set(row.exporter, entry);
    }
    const summary = entry.row;
    entry.first = Math.min(entry.first, row.firstSeen);
    entry.last = Math.max(entry.last, row.lastSeen);
    summary.collectors.push(row.collector);
    summary.datagrams += row.datagrams;
    summary.flows += row.flows;
    summary.templates = Math.max(summary.templates, row.templates);
    summary.samplingRates = [...new Set([...summary.samplingRates, ...row.samplingRates])].sort((a, b) => a - b);
    for (const [reason, count] of Object.entries(row.errors)) summary.errors[reason] = (summary.errors[reason] ?? 0) + count;
  }
  return [...byExporter.values()]
    .sort((a, b) => b.last - a.last || a.row.exporter.localeCompare(b.row.exporter))
    .map(({ first, last, row }) => ({ ...row, collectors: row.collectors.sort(), firstSeen: new Date(first * 1000).toISOString(), lastSeen: new Date(last * 1000).toISOString() }));
}

/**
 * `live`: counters of a collector running in this process, fresher than what it last saved; they
 * replace that collector's stored rows.
 */
export function exporterRoutes(store: Store, live?: () => ExporterStatus[]): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/exporters',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['collector'],
          summary: 'Exporters seen by the collectors, with their counters',
          response: { 200: { type: 'object', required: ['exporters'], properties: { exporters: { type: 'array', items: exporterSchema } } } },
        },
      },
      async () => {
        const stored = await store.listExporters();
        const fresh = live?.() ?? [];
        const replaced = new Set(fresh.map((row) => `${row.collector}\n${row.exporter}`));
        return { exporters: summarizeExporters([...stored.filter((row) => !replaced.has(`${row.collector}\n${row.exporter}`)), ...fresh]) };
      },
    );
  };
}
