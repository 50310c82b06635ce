// TabSeparated encoders: interface counter rows (a few per exporter a minute), baseline host pairs,
// and flow batches for
// bench/insert.ts, which measures them against the Native format flows are inserted in
// (native.ts; BENCHMARKS.md has the figures). JSON cannot carry the raw bytes of FixedString(16)
// addresses (a \u00ff escape becomes two UTF-8 bytes); TSV's \xHH escapes can, and 18.16 parses them.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../../core/counters.js';
import { FLOW_COLUMNS, type FlowBatch } from '../../core/flow.js';
import type { CheckedBaselineHost } from '../checks.js';

const HEX = Array.from({ length: 256 }, (_, b) => `\\x${b.toString(16).padStart(2, '0')}`);

/** ClickHouse TSV escaping (docs: formats/TabSeparated): backslash, tab, newline, CR, NUL. */
export function escapeTsv(value: string): string {
  if (!/[\\\t\n\r\0]/.test(value)) return value;
  return value.replace(/[\\\t\n\r\0]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : ch === '\r' ? '\\r' : '\\0'));
}

export const FLOW_COLUMN_NAMES: readonly string[] = FLOW_COLUMNS.map((c) => c.name);

/** One TSV chunk for rows [start, end) of the batch. */
export function encodeTsv(batch: FlowBatch, start = 0, end = batch.length): string {
  const columns = batch.columns as unknown as Record<string, ArrayLike<number> | string[]>;
  const lines: string[] = [];
  const fields: string[] = new Array<string>(FLOW_COLUMNS.length);
  for (let i = start; i < end; i++) {
    for (let c = 0; c < FLOW_COLUMNS.length; c++) {
      const spec = FLOW_COLUMNS[c];
      if (spec === undefined) continue;
      const column = columns[spec.name] as ArrayLike<number> & string[];
      switch (spec.kind) {
        case 'address': {
          const bytes = column as unknown as Uint8Array;
          let text = '';
          for (let b = i * 16; b < i * 16 + 16; b++) text += HEX[bytes[b] ?? 0];
          fields[c] = text;
          break;
        }
        case 'enum':
          fields[c] = spec.values[column[i] ?? 0] ?? '';
          break;
        case 'string':
          fields[c] = escapeTsv(column[i] ?? '');
          break;
        default:
          fields[c] = String(column[i] ?? 0);
      }
    }
    lines.push(fields.join('\t'));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export const COUNTER_COLUMN_NAMES: readonly string[] = ['time', 'exporter', 'observation_domain', ...COUNTER_COLUMNS.map(([, column]) => column)];

/** Interface counter rows as TabSeparated, in COUNTER_COLUMN_NAMES order. */
export function encodeCountersTsv(rows: readonly InterfaceCounters[]): string {
  let text = '';
  for (const row of rows) {
    let exporter = '';
    for (let b = 0; b < 16; b++) exporter += HEX[row.exporter[b] ?? 0];
    text += [row.time, exporter, row.observationDomain, ...COUNTER_COLUMNS.map(([field]) => row[field])].join('\t') + '\n';
  }
  return text;
}

export const BASELINE_HOST_COLUMN_NAMES: readonly string[] = [
  'baseline', 'edge', 'client', 'server', 'proto', 'port', 'flows', 'bytes', 'packets', 'first_seen', 'last_seen', 'days_seen', 'rule',
];

function addressTsv(address: Uint8Array): string {
  let text = '';
  for (let b = 0; b < 16; b++) text += HEX[address[b] ?? 0];
  return text;
}

/** Checked baseline host pairs as TabSeparated, in BASELINE_HOST_COLUMN_NAMES order (times as Unix seconds). */
export function encodeBaselineHostsTsv(baseline: string, rows: readonly CheckedBaselineHost[]): string {
  const name = escapeTsv(baseline);
  let text = '';
  for (const { row, client, server } of rows) {
    text += [name, escapeTsv(row.edge), addressTsv(client), addressTsv(server), row.proto, row.port, row.flows, row.bytes, row.packets, row.firstSeen, row.lastSeen, row.daysSeen, escapeTsv(row.rule)].join('\t') + '\n';
  }
  return text;
}
