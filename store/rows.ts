// What both adapters share about result rows: metadata version numbers, the order raw reads
// return, and turning result rows (hex addresses, enum text) back into flow batches, rollup and
// listener-evidence rows, conversations, baseline host pairs and exporter status.
import { COUNTER_COLUMNS, type InterfaceCounters } from '../core/counters.js';
import { FLOW_COLUMNS, createFlowBatch, enumIndex, type FlowBatch } from '../core/flow.js';
import { formatAddress } from '../core/ip.js';
import type { AggregateKey, BaselineHostRow, ConversationRow, Endpoint, EndpointEvidence, ExporterStatus, ListenerEvidence, RollupKey } from './port.js';

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

export const ROLLUP_ADDRESS_KEYS: ReadonlySet<RollupKey> = new Set(['client', 'server']);

/** Listener evidence from result rows: `c_day` Unix seconds, `c_address` hex, numbers (or numeric strings / bigints). */
export function evidenceFromRows(rows: readonly Record<string, unknown>[]): ListenerEvidence[] {
  return rows.map((r) => ({
    day: Number(r.c_day),
    address: addressFromHex(String(r.c_address)),
    proto: Number(r.c_proto),
    port: Number(r.c_port),
    peers: Number(r.c_peers),
    peerPorts: Number(r.c_peer_ports),
  }));
}

/** An exporter row ready to write: the address as bytes, errors as reason-sorted parallel lists. */
export interface ExporterRow {
  status: ExporterStatus;
  exporter: Uint8Array;
  errorReasons: string[];
  errorCounts: number[];
}

/**
 * The rows of one upsert to write, one per (collector, exporter): of duplicates within the call,
 * the one with the greatest updatedAt, the later one on a tie — what ReplacingMergeTree keeps, so
 * both stores end with the same row however the call was split.
 */
export function exporterRows(rows: readonly ExporterStatus[], addresses: readonly Uint8Array[]): ExporterRow[] {
  const byKey = new Map<string, ExporterRow>();
  rows.forEach((status, i) => {
    const exporter = addresses[i] ?? new Uint8Array(16);
    const key = `${status.collector}\0${Buffer.from(exporter).toString('hex')}`;
    const held = byKey.get(key);
    if (held !== undefined && held.status.updatedAt > status.updatedAt) return;
    const errorReasons = Object.keys(status.errors).sort();
    byKey.set(key, { status, exporter, errorReasons, errorCounts: errorReasons.map((reason) => status.errors[reason] ?? 0) });
  });
  return [...byKey.values()];
}

/**
 * Exporter status from result rows: `c_exporter` hex, `c_first_seen`, `c_last_seen`,
 * `c_updated_at` Unix seconds, counts as numbers (or numeric strings / bigints), and the lists
 * `c_sampling_rates`, `c_error_reasons`, `c_error_counts`.
 */
export function exportersFromRows(rows: readonly Record<string, unknown>[]): ExporterStatus[] {
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
  return rows.map((r) => {
    const reasons = list(r.c_error_reasons);
    const counts = list(r.c_error_counts);
    const errors: Record<string, number> = {};
    reasons.forEach((reason, i) => {
      errors[String(reason)] = Number(counts[i]);
    });
    return {
      collector: String(r.c_collector),
      exporter: addressFromHex(String(r.c_exporter)),
      firstSeen: Number(r.c_first_seen),
      lastSeen: Number(r.c_last_seen),
      datagrams: Number(r.c_datagrams),
      flows: Number(r.c_flows),
      templates: Number(r.c_templates),
      samplingRates: list(r.c_sampling_rates).map(Number),
      errors,
      updatedAt: Number(r.c_updated_at),
    };
  });
}

/** Rows of `Store.conversations` are handed out in chunks of this many. */
export const CONVERSATION_CHUNK = 50_000;

const numbers = (value: unknown): number[] => (Array.isArray(value) ? (value as unknown[]).map(Number) : []);

/**
 * A conversation from a result row: `o_client`/`o_server` hex, `o_hourly` truthy on rows split by
 * hour (then `o_hour` is its Unix second), `o_days`/`o_hod`/`o_dow` lists, the server end's
 * evidence in `o_s_*` and the client end's in `o_c_*`; numbers may be numeric strings (ClickHouse
 * JSON quotes UInt64) or bigints (DuckDB).
 */
export function conversationFromRow(r: Record<string, unknown>): ConversationRow {
  const row: ConversationRow = {
    client: addressFromHex(String(r.o_client)),
    server: addressFromHex(String(r.o_server)),
    proto: Number(r.o_proto),
    servicePort: Number(r.o_port),
    flows: Number(r.o_flows),
    bytes: Number(r.o_bytes),
    packets: Number(r.o_packets),
    rejectedFlows: Number(r.o_rejected),
    synFlows: Number(r.o_syn),
    clientPortMin: Number(r.o_port_min),
    clientPortMax: Number(r.o_port_max),
    firstHour: Number(r.o_first),
    lastHour: Number(r.o_last),
    days: numbers(r.o_days),
    hourOfDay: numbers(r.o_hod),
    dayOfWeek: numbers(r.o_dow),
    serverEvidence: { peers: Number(r.o_s_peers ?? 0), peerPorts: Number(r.o_s_peer_ports ?? 0), days: Number(r.o_s_days ?? 0) },
    clientEvidence: { peers: Number(r.o_c_peers ?? 0), peerPorts: Number(r.o_c_peer_ports ?? 0), days: Number(r.o_c_days ?? 0) },
  };
  if (r.o_hourly === true || Number(r.o_hourly) === 1) row.hour = Number(r.o_hour);
  if (r.o_time !== undefined && r.o_time !== null) row.time = Number(r.o_time);
  return row;
}


/** Baseline host pairs from result rows: `c_<column>`, addresses hex, times Unix seconds. */
export function baselineHostsFromRows(rows: readonly Record<string, unknown>[]): BaselineHostRow[] {
  return rows.map((r) => ({
    edge: String(r.c_edge),
    client: addressFromHex(String(r.c_client)),
    server: addressFromHex(String(r.c_server)),
    proto: Number(r.c_proto),
    port: Number(r.c_port),
    flows: Number(r.c_flows),
    bytes: Number(r.c_bytes),
    packets: Number(r.c_packets),
    firstSeen: Number(r.c_first_seen),
    lastSeen: Number(r.c_last_seen),
    daysSeen: Number(r.c_days_seen),
    rule: String(r.c_rule),
  }));
}

/** Evidence rows (`c_address` hex, c_proto, c_port, c_peers, c_peer_ports, c_days) in the order the endpoints were asked, zeros where none. */
export function endpointEvidenceFromRows(asked: readonly { address: Uint8Array; proto: number; port: number }[], rows: readonly Record<string, unknown>[]): (Endpoint & EndpointEvidence)[] {
  const found = new Map<string, Record<string, unknown>>();
  for (const r of rows) found.set(`${String(r.c_address).toLowerCase()}/${Number(r.c_proto)}/${Number(r.c_port)}`, r);
  return asked.map((e) => {
    const r = found.get(`${Buffer.from(e.address).toString('hex')}/${e.proto}/${e.port}`);
    return {
      address: formatAddress(e.address),
      proto: e.proto,
      port: e.port,
      peers: Number(r?.c_peers ?? 0),
      peerPorts: Number(r?.c_peer_ports ?? 0),
      days: Number(r?.c_days ?? 0),
    };
  });
}
