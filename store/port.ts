// The storage port: what every stage may ask of the store. Two adapters implement it —
// `clickhouse/` (service mode) and `duckdb/` (embedded mode) — and `conformance.test.ts` holds
// them to the same answers for the same inputs. Nothing outside store/ knows SQL.
import type { InterfaceCounters } from '../core/counters.js';
import type { FlowBatch } from '../core/flow.js';

/** Half-open time range [from, to) in Unix seconds, on time_received. */
export interface TimeRange {
  readonly from: number;
  readonly to: number;
}

export interface FlowTotals {
  flows: number;
  bytes: number;
  packets: number;
}

/** Columns a flow aggregate may be grouped by. Addresses come back as text. */
export const AGGREGATE_KEYS = ['source', 'exporter', 'observation_domain', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'action', 'server_side'] as const;
export type AggregateKey = (typeof AGGREGATE_KEYS)[number];

export interface FlowAggregateQuery {
  readonly range: TimeRange;
  readonly groupBy: readonly AggregateKey[];
  /** Sort metric, descending; ties broken by the group key ascending. Default bytes. */
  readonly orderBy?: 'flows' | 'bytes' | 'packets';
  /** At most this many groups (default 1000, max 100000). */
  readonly limit?: number;
}

export interface FlowAggregateRow extends FlowTotals {
  key: Partial<Record<AggregateKey, string | number>>;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface MetaEntry {
  key: string;
  value: JsonValue;
  /** Monotonic per store; larger is newer. */
  version: number;
  updatedAt: Date;
}

/**
 * Versioned key/value metadata (exporters, baselines, policies, … until they get tables of their
 * own). Every put appends a version; `history` returns them; delete appends a tombstone.
 */
export interface MetaStore {
  put(namespace: string, key: string, value: JsonValue): Promise<MetaEntry>;
  get(namespace: string, key: string): Promise<MetaEntry | undefined>;
  list(namespace: string, options?: { prefix?: string; limit?: number }): Promise<MetaEntry[]>;
  history(namespace: string, key: string): Promise<MetaEntry[]>;
  /** True when a live value was deleted. */
  delete(namespace: string, key: string): Promise<boolean>;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date;
}

export interface MigrationReport {
  applied: AppliedMigration[];
  alreadyApplied: number;
}

export interface Store {
  readonly kind: 'clickhouse' | 'duckdb';
  /** Applies pending migrations; refuses when an applied file changed or disappeared. */
  migrate(): Promise<MigrationReport>;
  /** Names of migrations not applied yet; refuses (like migrate) when an applied one changed. */
  pendingMigrations(): Promise<string[]>;
  insertFlows(batch: FlowBatch): Promise<void>;
  flowTotals(range: TimeRange): Promise<FlowTotals>;
  aggregateFlows(query: FlowAggregateQuery): Promise<FlowAggregateRow[]>;
  /**
   * Raw records in a range, for drill-down and exports, ordered by time, addresses, ports, bytes.
   * At most `limit` rows (default 10000, max 1000000).
   */
  readFlows(range: TimeRange, options?: { limit?: number }): Promise<FlowBatch>;
  /** sFlow counter samples; refused whole (FLOWMAP_BATCH_INVALID) when any row is malformed. */
  insertInterfaceCounters(rows: readonly InterfaceCounters[]): Promise<void>;
  /** Counter samples in a range of `time`, ordered by time, exporter, domain, ifIndex. */
  readInterfaceCounters(range: TimeRange, options?: { limit?: number }): Promise<InterfaceCounters[]>;
  readonly meta: MetaStore;
  /** Resolves when the store answers; rejects (within a few seconds) when it does not. */
  ping(): Promise<void>;
  /** Server or library version, e.g. "18.16.1" or "v1.5.6". */
  version(): Promise<string>;
  close(): Promise<void>;
}

export const DEFAULT_READ_LIMIT = 10_000;
export const MAX_READ_LIMIT = 1_000_000;
export const DEFAULT_AGGREGATE_LIMIT = 1000;
export const MAX_AGGREGATE_LIMIT = 100_000;
