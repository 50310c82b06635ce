// What both adapters share about result rows: metadata version numbers, the order raw reads
// return, and turning result rows (hex addresses, enum text) back into a flow batch.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../core/counters.js';
import { FLOW_COLUMNS, createFlowBatch, enumIndex, type FlowBatch } from '../core/flow.js';
import { formatAddress } from '../core/ip.js';
import type { AggregateKey } from './port.js';

let lastVersion = 0;

/**
 * A metadata version: microseconds since the epoch, strictly increasing within this process.
 * Across processes the clock orders writes; equal stamps from two writers in the same microsecond
 * are not expected at metadata write rates.
 */
export function nextVersion(now = Date.now()): number {
  const candidate = now * 1000;
  lastVersion = candidate > lastVersion ? candidate : lastVersion + 1;
  return lastVersion;
}

export const ADDRESS_KEYS: ReadonlySet<AggregateKey> = new Set(['exporter', 'src_addr', 'dst_addr']);

export function addressFromHex(hex: string): string {
  return formatAddress(Buffer.from(hex, 'hex'));
}

/** The order readFlows returns rows in, on raw columns (bytewise for addresses) in both stores. */
export const READ_ORDER = ['time_received', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'bytes', 'packets'] as const;

/**
 * Builds a batch from result rows whose column `c_<name>` holds: Unix seconds for datetimes, hex
 * for addresses, enum text, numbers (or numeric strings / bigints) and strings.
 */
export function batchFromRows(rows: readonly Record<string, unknown>[]): FlowBatch {
  const batch = createFlowBatch(rows.length);
  const columns = batch.columns as unknown as Record<string, { [i: number]: number | string } & { set?: (a: ArrayLike<number>, o: number) => void }>;
  rows.forEach((row, i) => {
    for (const spec of FLOW_COLUMNS) {
      const value = row[`c_${spec.name}`];
      const column = columns[spec.name];
      if (column === undefined) continue;
      switch (spec.kind) {
        case 'address':
          (column as unknown as Uint8Array).set(Buffer.from(String(value), 'hex'), i * 16);
          break;
        case 'enum':
          column[i] = enumIndex(spec.name, String(value));
          break;
        case 'string':
          column[i] = String(value);
          break;
        default:
          column[i] = Number(value);
      }
    }
  });
  batch.length = rows.length;
  return batch;
}

/** Interface counters from result rows: `c_time` Unix seconds, `c_exporter` hex, numbers (or numeric strings / bigints). */
export function countersFromRows(rows: readonly Record<string, unknown>[]): InterfaceCounters[] {
  return rows.map((r) => {
    const counters = {
      exporter: Uint8Array.from(Buffer.from(String(r.c_exporter), 'hex')),
      observationDomain: Number(r.observation_domain),
      time: Number(r.c_time),
    } as InterfaceCounters;
    for (const [field, column] of COUNTER_COLUMNS) counters[field] = Number(r[column]);
    return counters;
  });
}
