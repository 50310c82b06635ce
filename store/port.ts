// The storage port: what every stage may ask of the store. Two adapters implement it —
// `clickhouse/` (service mode) and `duckdb/` (embedded mode) — and `conformance.test.ts` holds
// them to the same answers for the same inputs. Nothing outside store/ knows SQL.
import type { InterfaceCounters } from '../core/counters.js';
import type { FlowAction, FlowBatch, FlowSource, ServerSide } from '../core/flow.js';
import type { Address, Prefix } from '../core/ip.js';

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

/**
 * Columns the hourly rollup (`flows_1h`) may be grouped by. `client` and `server` are the flow's
 * ends oriented by its server_side ('src': the source is the server and `service_port` its source
 * port; 'dst' or 'unknown': the destination and its port). `hour` is the Unix second the hour
 * starts at; addresses come back as text.
 */
export const ROLLUP_KEYS = ['hour', 'client', 'server', 'proto', 'service_port', 'action'] as const;
export type RollupKey = (typeof ROLLUP_KEYS)[number];

export interface RollupAggregateQuery {
  /** On the hour a rollup row starts: hours starting in [from, to). */
  readonly range: TimeRange;
  readonly groupBy: readonly RollupKey[];
  /** Sort metric, descending; ties broken by the group key ascending. Default bytes. */
  readonly orderBy?: 'flows' | 'bytes' | 'packets';
  /** At most this many groups (default 1000, max 100000). */
  readonly limit?: number;
}

export interface RollupAggregateRow extends FlowTotals {
  key: Partial<Record<RollupKey, string | number>>;
}

/**
 * One day's evidence that `address:port` listens (DESIGN.md §6): the distinct peer addresses and
 * peer ports it exchanged TCP, UDP or SCTP flows with that day, counting flows in either direction.
 */
export interface ListenerEvidence {
  /** The Unix second the day starts at (see `Store.flowDays` on what a day is). */
  day: number;
  address: string;
  proto: number;
  port: number;
  peers: number;
  peerPorts: number;
}

export interface ListenerEvidenceQuery {
  /** Only endpoints with at least this many distinct peer addresses (default 1). */
  readonly minPeers?: number;
  /** Only endpoints with at least this many distinct peer ports (default 1). */
  readonly minPeerPorts?: number;
  /** At most this many rows (default 1000, max 100000). */
  readonly limit?: number;
}

/**
 * What the analyzer asks for a baseline (DESIGN.md §6, §8): the window's host-level conversations
 * from the hourly rollup, aggregated in the store, each with the listener evidence of both of its
 * possible server ends. Node then receives conversations, never raw flows.
 */
export interface ConversationQuery {
  /** Whole hours: `from` and `to` are multiples of 3600. At most MAX_CONVERSATION_DAYS long. */
  readonly range: TimeRange;
  /**
   * Rows with an end among these addresses (text) come back once per hour (`hour` set), because
   * their owner changes within the window; every other row covers the whole window. At most
   * MAX_HOURLY_ADDRESSES.
   */
  readonly hourlyAddresses?: readonly string[];
  /**
   * Rows with an end among these addresses are split at the given instants (hour starts strictly
   * inside the range): an address's segments are [range.from, starts[0]), [starts[0], starts[1]),
   * … [last, range.to). A row then covers one segment of each of its ends, and its `hour` is where
   * that part begins — the later of its two ends' segment starts (an hourly address's segment is
   * its hour; an address in neither list has one segment, the window). For addresses whose owner
   * changes a few times in the window: rows split where the owner changes, not every hour. An
   * address in both lists is split every hour. At most MAX_HOURLY_ADDRESSES addresses,
   * MAX_SPLIT_POINTS starts in all, and MAX_SPLIT_HOURS split addresses × hours of the range.
   */
  readonly splits?: readonly ConversationSplit[];
}

/** Where one address's rows are split (ConversationQuery.splits). */
export interface ConversationSplit {
  readonly address: string;
  /** Unix seconds, multiples of 3600, strictly between range.from and range.to. */
  readonly starts: readonly number[];
}

/**
 * One host-level conversation as the rollup oriented it: `client` → `server:servicePort`. The
 * evidence fields let the analyzer correct the orientation: `clientPortMin`/`clientPortMax` are the
 * lowest and highest port the client end used (equal when it always used one), `serverEvidence` is
 * the listener evidence of `server:servicePort` and `clientEvidence` that of `client:clientPortMin`
 * (distinct peers and peer ports over the window's days — not sums of daily counts, so a client
 * port that meets the same peer every day stays at one; zero where none is recorded). Client ends are looked up
 * only where they can matter, so that every client's ephemeral port is not: evidence is looked up
 * for the server end of every row and the client end of every row whose client kept one port
 * (min = max), and a row's `clientEvidence` is its client end's evidence when that endpoint was
 * looked up (for its own row or another's), zero otherwise.
 */
export interface ConversationRow {
  client: string;
  server: string;
  proto: number;
  servicePort: number;
  /** Set only on rows split by hour or by segment (see `hourlyAddresses`, `splits`): the Unix second the hour or segment starts at. */
  hour?: number;
  /** Set only on drill-down rows by the second (`conversationsByClientPort` with exactTime): that second. */
  time?: number;
  flows: number;
  bytes: number;
  packets: number;
  /** Flows whose action was `reject` (cloud firewalls). */
  rejectedFlows: number;
  /** Flows that were a bare TCP SYN (SYN without ACK): the sender opened the connection. */
  synFlows: number;
  clientPortMin: number;
  clientPortMax: number;
  /** Unix seconds of the first and last hour with flows. */
  firstHour: number;
  lastHour: number;
  /** Bit d (word d >>> 5, bit d & 31) is set when the row has flows in day d of the window, counted from range.from in 24-hour steps. */
  days: number[];
  /** Flows per UTC hour of day (24 bins, 0 = 00:00–00:59). */
  hourOfDay: number[];
  /** Flows per UTC day of week (7 bins, 0 = Monday). */
  dayOfWeek: number[];
  serverEvidence: EndpointEvidence;
  clientEvidence: EndpointEvidence;
}

/** One host-level conversation as the rollup keys it. */
export interface ConversationKey {
  client: string;
  server: string;
  proto: number;
  servicePort: number;
  /** Only the flows of the hour starting at this Unix second (drill-down of one hourly row). */
  hour?: number;
}

/** One hour of one address (Store.conversationsOfAddressHours). */
export interface AddressHour {
  address: string;
  /** The Unix second the hour starts at. */
  hour: number;
}

/** An address:port (`proto` its transport) whose listener evidence is asked for. */
export interface Endpoint {
  address: string;
  proto: number;
  port: number;
}

/** Listener evidence of one endpoint over a window: distinct peers, peer ports and days with evidence. */
export interface EndpointEvidence {
  peers: number;
  peerPorts: number;
  /** Days with evidence. */
  days: number;
}

/** One host pair of a baseline edge, kept for drill-down (`Store.baselineHosts`). */
export interface BaselineHostRow {
  /** The baseline edge's key. */
  edge: string;
  client: string;
  server: string;
  proto: number;
  port: number;
  flows: number;
  bytes: number;
  packets: number;
  /** Unix seconds. */
  firstSeen: number;
  lastSeen: number;
  daysSeen: number;
  /** Which rule decided the server side (analyzer/baseline/orientation.ts). */
  rule: string;
}

/** What a collector last reported about one exporter; one live row per (collector, exporter). */
export interface ExporterStatus {
  /** The collector's id (collector.id, the host name by default). */
  collector: string;
  /** The exporter's address as text; stored as 16 bytes, so it comes back in canonical form. */
  exporter: string;
  /** Unix seconds. */
  firstSeen: number;
  /** Unix seconds. */
  lastSeen: number;
  datagrams: number;
  flows: number;
  /** Templates the collector holds for this exporter. */
  templates: number;
  /** Sampling rates in use, in the order the collector reports them. */
  samplingRates: number[];
  /** Datagrams or records refused, by reason. */
  errors: Record<string, number>;
  /** Unix seconds; of two rows for one key the one with the greater updatedAt is kept. */
  updatedAt: number;
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

/** Orders of `Store.searchFlows`: newest first (the default), oldest first, largest first. */
export const FLOW_SEARCH_SORTS = ['time-desc', 'time-asc', 'bytes-desc'] as const;
export type FlowSearchSort = (typeof FLOW_SEARCH_SORTS)[number];

/**
 * An address range that counts over a time interval: a label group's member (an address bound to
 * a workload from one time to another, a CIDR rule's prefix). Times are Unix seconds on
 * time_received, half-open [from, to); an absent bound is open.
 */
export interface TimedPrefix {
  readonly prefix: Prefix;
  readonly from?: number;
  readonly to?: number;
}

/**
 * A bounded search of the raw flows. Every filter given must hold (AND); a filter that is a list
 * holds when one of its entries does, so an empty list matches nothing. Prefixes are byte ranges
 * of the 16-byte address (an IPv4 prefix covers IPv4-mapped addresses only; ::/0 covers all).
 */
export interface FlowSearchQuery {
  /** Half-open [from, to) on time_received, Unix seconds. The caller bounds the span (the API: 31 days). */
  readonly from: number;
  readonly to: number;
  /** Either end (source or destination address) in one of these. */
  readonly addresses?: readonly Prefix[];
  /**
   * The client end in one of these. Ends are oriented as the hourly rollup orients them (see
   * ROLLUP_KEYS): when server_side is 'src' the source is the server, otherwise ('dst' and
   * 'unknown') the destination is.
   */
  readonly clients?: readonly Prefix[];
  /** The server end (oriented as `clients` says) in one of these. */
  readonly servers?: readonly Prefix[];
  /** Either port (source or destination) is one of these: the replies of a service match too. */
  readonly ports?: readonly number[];
  /** IANA protocol number. */
  readonly protocol?: number;
  /** The exporter's address (16 bytes). */
  readonly exporter?: Address;
  readonly action?: FlowAction;
  /** Either end in one of these prefixes while the flow's time_received is inside that entry's interval. */
  readonly endpoints?: readonly TimedPrefix[];
  /**
   * Default time-desc. The order is total: time sorts go by time_received, then bytes, dst_addr,
   * dst_port, src_addr, src_port, proto, exporter, observation_domain, time_start, time_end,
   * packets, tcp_flags, sampling_rate, in_if, out_if, vlan, source, action, server_side and the
   * cloud strings; bytes-desc by bytes, then time_received and the rest — every column in the
   * sort's direction, addresses and strings bytewise, enums in FLOW_COLUMNS order.
   */
  readonly sort?: FlowSearchSort;
  /** Rows per page, 1..MAX_SEARCH_LIMIT (default DEFAULT_SEARCH_LIMIT). */
  readonly limit?: number;
  /** `nextCursor` of the previous page of the same sort; opaque. A malformed one is FLOWMAP_BAD_REQUEST. */
  readonly cursor?: string;
}

/** One flow as the search answers it: JSON-ready, addresses as text, times ISO-8601 UTC. */
export interface FlowSearchRow {
  /** time_received. */
  time: string;
  timeStart: string;
  timeEnd: string;
  source: FlowSource;
  exporter: string;
  observationDomain: number;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  proto: number;
  tcpFlags: number;
  bytes: number;
  packets: number;
  samplingRate: number;
  inIf: number;
  outIf: number;
  vlan: number;
  action: FlowAction;
  serverSide: ServerSide;
  /** The ends as oriented by serverSide (FlowSearchQuery.clients). */
  client: string;
  server: string;
  /** The server end's port. */
  servicePort: number;
  /** Cloud flow log identifiers; empty where absent. */
  cloud: { account: string; region: string; vpc: string; subnet: string; instance: string; interface: string };
}

export interface FlowSearchPage {
  flows: FlowSearchRow[];
  /** Present when more rows follow: pass it as `cursor` (with the same sort) for the next page. */
  nextCursor?: string;
  /**
   * The part of the time range this page accounts for (ISO-8601): every matching flow received
   * in [scannedFrom, scannedTo) is on this page or an earlier one. For time-desc it runs from the
   * page's oldest second (exclusive, when a next page follows) up to where the page started; for
   * time-asc from where the page started up to its newest second (exclusive); without a next
   * page it reaches the end of the range. bytes-desc reads the whole range for every page.
   */
  scannedFrom: string;
  scannedTo: string;
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
  /**
   * Totals from the hourly rollup over the hours starting in [from, to). Equal to `flowTotals`
   * over the same range when both ends are whole hours.
   */
  rollupTotals(range: TimeRange): Promise<FlowTotals>;
  /**
   * Brings the daily rollup up to date for the whole UTC days in [from, to): each day whose daily
   * totals differ from the hourly rollup's (not rolled yet, or flows arrived after it was) is
   * rolled again from the hourly rollup. Returns the day starts rolled. A store without a daily
   * rollup (DuckDB reads the hourly one) rolls nothing. Readers never depend on it: a day that
   * is not up to date is read from the hourly rollup.
   */
  compactDays(range: TimeRange): Promise<number[]>;
  /** `aggregateFlows` over the hourly rollup: cheaper, but only by its keys and whole hours. */
  aggregateRollup(query: RollupAggregateQuery): Promise<RollupAggregateRow[]>;
  /**
   * Records listener evidence for the flows received in [from, to) (the `listener-evidence` job
   * calls it for each hour once it has ended). Recording a range again changes no answer.
   * ClickHouse keeps evidence in a table of its own; the embedded store computes it on read.
   */
  recordListenerEvidence(range: TimeRange): Promise<void>;
  /**
   * Listener evidence recorded for the days starting in [from, to), ordered by peerPorts descending, then
   * address (bytewise), port, proto and day ascending.
   */
  listenerEvidence(range: TimeRange, options?: ListenerEvidenceQuery): Promise<ListenerEvidence[]>;
  /**
   * The days that hold flows, ascending, each as the Unix second it starts at. A day is a
   * calendar day of the store's partitions: UTC in the embedded store; in ClickHouse the server's
   * time zone (`flows` is partitioned by toYYYYMMDD), UTC when the server runs in UTC, as the
   * bundled configurations do. `migrate` warns when it does not.
   */
  flowDays(): Promise<number[]>;
  /**
   * Retention: removes whole days before the day that contains `cutoff` (Unix seconds) from
   * flows, the hourly rollup, listener evidence and interface counters; returns the days removed
   * (ascending, as in `flowDays`), from whichever of those tables held them.
   */
  dropDaysBefore(cutoff: number): Promise<number[]>;
  /**
   * The window's host-level conversations for a baseline, in chunks (the order is unspecified).
   * Listener evidence comes from what `recordListenerEvidence` recorded for the window's days.
   */
  conversations(query: ConversationQuery): AsyncIterable<ConversationRow[]>;
  /**
   * Drill-down from the raw flows for the few conversations the rollup cannot orient (a client end
   * that used several ports, each of which may be a listener): the given conversations of the
   * window — keyed as the rollup keys them — split by the client's port and by hour. Rows have
   * `hour` set, clientPortMin = clientPortMax = the client's port, and zero evidence (ask
   * `endpointEvidence`). With `exactTime`, rows are split by the second flows were received in
   * (`time` set): for the hours in which an address changed owner, where only the time of a flow
   * says whose it was. At most MAX_DRILL_CONVERSATIONS keys; the range must be whole hours.
   */
  conversationsByClientPort(range: TimeRange, keys: readonly ConversationKey[], options?: { exactTime?: boolean }): Promise<ConversationRow[]>;
  /**
   * Every flow of the range received in one of these hours with its address on either end, as
   * rows by client port and by the second (as `conversationsByClientPort` with exactTime gives
   * them; zero evidence): the hours in which an address changed owner, read whole rather than
   * conversation by conversation, so that the read need not wait for the conversations. A flow
   * with both ends listed for its hour comes once. At most MAX_ADDRESS_HOURS pairs.
   */
  conversationsOfAddressHours(range: TimeRange, pairs: readonly AddressHour[]): Promise<ConversationRow[]>;
  /** Listener evidence of these endpoints over the window's days (as `conversations` attaches it); endpoints without any come back with zeros. At most MAX_EVIDENCE_ENDPOINTS. */
  endpointEvidence(range: TimeRange, endpoints: readonly Endpoint[]): Promise<(Endpoint & EndpointEvidence)[]>;
  /** Stores a baseline's host pairs (append; call once per chunk). */
  insertBaselineHosts(baseline: string, rows: readonly BaselineHostRow[]): Promise<void>;
  /** The host pairs of one edge of a baseline, by bytes descending then addresses; at most `limit` (default 1000, max 100000). */
  baselineHosts(baseline: string, edge: string, options?: { limit?: number }): Promise<BaselineHostRow[]>;
  /** Removes a baseline's host pairs (when the baseline is deleted or pruned). */
  dropBaselineHosts(baseline: string): Promise<void>;
  /** Replaces each row's (collector, exporter) entry unless the stored one has a later updatedAt. */
  upsertExporters(rows: readonly ExporterStatus[]): Promise<void>;
  /** Every exporter entry, ordered by collector, then exporter address (bytewise). */
  listExporters(): Promise<ExporterStatus[]>;
  /** sFlow counter samples; refused whole (FLOWMAP_BATCH_INVALID) when any row is malformed. */
  insertInterfaceCounters(rows: readonly InterfaceCounters[]): Promise<void>;
  /** Counter samples in a range of `time`, ordered by time, exporter, domain, ifIndex. */
  readInterfaceCounters(range: TimeRange, options?: { limit?: number }): Promise<InterfaceCounters[]>;
  /**
   * A page of the flows matching a bounded search (FlowSearchQuery), in a total order, with a
   * cursor for the next page: keyset pagination, so paging through skips and repeats no row even
   * among flows received in the same second. Time orders read the range in growing windows from
   * where the page starts (the newest hour first for time-desc), so a page of recent flows reads
   * little; bytes-desc reads the whole range.
   */
  searchFlows(query: FlowSearchQuery): Promise<FlowSearchPage>;
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
export const DEFAULT_EVIDENCE_LIMIT = 1000;
export const MAX_EVIDENCE_LIMIT = 100_000;
export const MAX_CONVERSATION_DAYS = 366;
export const MAX_HOURLY_ADDRESSES = 100_000;
export const MAX_SPLIT_POINTS = 1_000_000;
/** Split addresses × the window's hours, at most (ConversationQuery.splits). */
export const MAX_SPLIT_HOURS = 20_000_000;
export const MAX_DRILL_CONVERSATIONS = 100_000;
export const MAX_EVIDENCE_ENDPOINTS = 200_000;
export const MAX_ADDRESS_HOURS = 200_000;
export const DEFAULT_SEARCH_LIMIT = 100;
export const MAX_SEARCH_LIMIT = 1000;
/** Entries of each prefix list (addresses, clients, servers) and of ports. */
export const MAX_SEARCH_PREFIXES = 256;
export const MAX_SEARCH_PORTS = 256;
export const MAX_SEARCH_ENDPOINTS = 10_000;
export const DEFAULT_HOSTS_LIMIT = 1000;
export const MAX_HOSTS_LIMIT = 100_000;
