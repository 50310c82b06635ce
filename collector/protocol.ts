// What the collector's receive loop (main thread) and its decoder threads say to each other.
//
// Datagrams cross in chunks: one ArrayBuffer holding many datagrams, transferred (not copied) with
// postMessage, because a message per datagram would cost more than decoding it. A chunk is a run
// of records, each: uint32 payload length, uint32 receive time (Unix seconds), the exporter's 16
// address bytes, then the payload (no padding; read with a DataView).
import type { DecoderSnapshot } from './decoders/snapshot.js';
import type { SkipReason } from './decoders/types.js';

export const RECORD_HEADER = 24;
/** The key of the entry a thread counts exporters past its limit under (they have no address). */
export const OVERFLOW_KEY = 'other';

/** Settings a decoder thread starts with (workerData). */
export interface WorkerSettings {
  index: number;
  count: number;
  batchRows: number;
  flushIntervalMs: number;
  servicePorts: string[];
  samplingRate?: number;
  /** time_received: arrival, or the flow's end time as exported (never later than arrival + FLOW_END_SKEW_S). */
  timestamps: 'arrival' | 'flow-end';
  /** Saved decoder state; the thread keeps the exporters that hash to it. */
  snapshot?: unknown;
}

/** Cumulative counters of one exporter in one thread (snapshots, not deltas). */
export interface ExporterCounters {
  /** 16 address bytes, hex. */
  key: string;
  address: string;
  firstSeen: number;
  lastSeen: number;
  datagrams: number;
  flows: number;
  templates: number;
  /** Templates cached now (not learnt in total). */
  templatesCached: number;
  optionsRecords: number;
  counterSamples: number;
  samplingUnknown: number;
  samplingRates: number[];
  skipped: Record<SkipReason, number>;
}

export type ToWorker =
  | { type: 'datagrams'; buffer: ArrayBuffer; length: number; count: number }
  /** Post what is batched now, then answer `flushed` with the same id. */
  | { type: 'flush'; id: number }
  | { type: 'snapshot'; id: number }
  /** Flush, answer `stopped`, and end. */
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; restored: { templates: number; sampling: number; systemInit: number; refused: number } }
  /** An encoded flow batch (batch-codec.ts), its buffer transferred. */
  | { type: 'batch'; bytes: Uint8Array; rows: number }
  /** sFlow counter samples, exporter as hex. */
  | { type: 'counters'; rows: SerializedCounters[] }
  | { type: 'stats'; exporters: ExporterCounters[]; chunks: number; datagrams: number }
  | { type: 'flushed'; id: number }
  | { type: 'snapshot'; id: number; snapshot: DecoderSnapshot }
  | { type: 'stopped'; snapshot: DecoderSnapshot };

export interface SerializedCounters {
  exporter: string;
  observationDomain: number;
  time: number;
  values: number[];
}

/** FNV-1a over the 16 exporter bytes: which decoder thread an exporter's datagrams go to. */
export function exporterThread(bytes: Uint8Array, offset: number, threads: number): number {
  let h = 0x811c9dc5;
  for (let b = offset; b < offset + 16; b++) h = Math.imul(h ^ (bytes[b] ?? 0), 0x01000193);
  return (h >>> 0) % threads;
}
