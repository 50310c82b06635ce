// The service-mode store: ClickHouse over HTTP with @clickhouse/client. Runs on 18.16 (the floor
// in DESIGN.md §5) and current releases. Every value in a query comes through ./literal.ts; table
// and column names are constants or whitelisted keys.
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { redactUrl } from '../../core/config.js';
import { FlowmapError } from '../../core/errors.js';
import { COUNTER_COLUMNS, type InterfaceCounters } from '../../core/counters.js';
import { FLOW_COLUMNS, validateFlowBatch, type FlowBatch } from '../../core/flow.js';
import type { Logger } from '../../core/logger.js';
import { MIGRATIONS_ROOT, pendingMigrations, readMigrations, runMigrations, type MigrationTarget } from '../migrate.js';
import type {
  AggregateKey,
  AppliedMigration,
  ExporterStatus,
  FlowAggregateQuery,
  FlowAggregateRow,
  FlowTotals,
  JsonValue,
  ListenerEvidence,
  ListenerEvidenceQuery,
  MetaEntry,
  MetaStore,
  MigrationReport,
  RollupAggregateQuery,
  RollupAggregateRow,
  RollupKey,
  Store,
  TimeRange,
} from '../port.js';
import {
  checkAggregateQuery,
  checkCutoff,
  checkEvidenceQuery,
  checkExporterStatus,
  checkInterfaceCounters,
  checkMetaLimit,
  checkNamespaceKey,
  checkRange,
  checkReadLimit,
  checkRollupQuery,
} from '../checks.js';
import {
  ADDRESS_KEYS,
  addressFromHex,
  batchFromRows,
  countersFromRows,
  evidenceFromRows,
  exporterRows,
  exportersFromRows,
  nextVersion,
  READ_ORDER,
  ROLLUP_ADDRESS_KEYS,
} from '../rows.js';
import { COUNTER_COLUMN_NAMES, encodeCountersTsv } from './insert.js';
import { insertFlowsNative } from './native.js';
import { identifier, joinSql, lit, sql, toText, type Sql } from './literal.js';

export interface ClickHouseStoreConfig {
  url: string;
  database: string;
  user: string;
  password: string;
  requestTimeoutMs: number;
  /** Override of migrations/clickhouse, for tests of the migrations runner. */
  migrationsDir?: string;
}

/** Oldest server flowmap supports (DESIGN.md §5). */
export const MIN_SERVER_VERSION: readonly [number, number] = [18, 16];
const PING_TIMEOUT_MS = 2000;

/**
 * The day-partitioned tables retention drops from: flows and what the materialized views derive
 * from them, and sFlow interface counters. All are PARTITION BY toYYYYMMDD(…), so a partition id
 * is the day as YYYYMMDD in the server's time zone.
 */
const DAY_TABLES = ['flows', 'flows_1h', 'listener_evidence', 'interface_counters'] as const;

/**
 * The last second 18.16's date functions handle (2106-02-06 23:59:59): toDate and toYYYYMMDD
 * wrap to 1970 after it (see lit.dateTime). Upper bounds given to them are clamped here.
 */
const LAST_DATED_SECOND = 4_294_943_999;

/** The Unix second a YYYYMMDD partition id's day starts at, in the server's time zone (18.16 has no parseDateTime). */
const PARTITION_DAY_START = sql`toUnixTimestamp(toDateTime(toDate(concat(substring(partition_id, 1, 4), '-', substring(partition_id, 5, 2), '-', substring(partition_id, 7, 2)))))`;

export async function createClickHouseStore(config: ClickHouseStoreConfig, deps: { logger: Logger }): Promise<Store> {
  const client = createClient({
    url: config.url,
    username: config.user,
    password: config.password,
    database: config.database,
    request_timeout: config.requestTimeoutMs,
    application: 'flowmap',
    // Failures reach flowmap as thrown errors, which it reports through its own log; the client's
    // console logger would print each one a second time, unstructured.
    log: { level: ClickHouseLogLevel.OFF },
  });
  // A second client bound to no database: version checks and CREATE DATABASE must work before
  // the configured database exists.
  const server = createClient({ url: config.url, username: config.user, password: config.password, request_timeout: config.requestTimeoutMs, application: 'flowmap', log: { level: ClickHouseLogLevel.OFF } });
  return new ClickHouseStore(client, server, config, deps.logger);
}

export function parseServerVersion(text: string): [number, number] {
  const [major = 0, minor = 0] = text.split('.').map((p) => Number.parseInt(p, 10));
  return [major, minor];
}

class ClickHouseStore implements Store {
  readonly kind = 'clickhouse' as const;
  readonly meta: MetaStore;

  constructor(
    readonly client: ClickHouseClient,
    private readonly server: ClickHouseClient,
    private readonly config: ClickHouseStoreConfig,
    private readonly logger: Logger,
  ) {
    this.meta = new ClickHouseMeta(this);
  }

  async command(query: Sql): Promise<void> {
    await this.client.command({ query: toText(query) });
  }

  async rows(query: Sql): Promise<Record<string, unknown>[]> {
    const result = await this.client.query({ query: toText(query), format: 'JSONEachRow' });
    return result.json<Record<string, unknown>>();
  }

  private migrationTarget(): MigrationTarget {
    return {
      ensureLedger: () =>
        this.command(sql`CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied_at DateTime) ENGINE = MergeTree ORDER BY version`),
      applied: async (): Promise<AppliedMigration[]> =>
        (await this.rows(sql`SELECT version, name, checksum, toUnixTimestamp(applied_at) AS applied_at FROM schema_migrations ORDER BY version`)).map((r) => ({
          version: Number(r.version),
          name: String(r.name),
          checksum: String(r.checksum),
          appliedAt: new Date(Number(r.applied_at) * 1000),
        })),
      // Migration files are trusted code shipped with flowmap, not request values.
      execute: async (statement) => {
        await this.client.command({ query: statement });
      },
      record: (m) =>
        this.command(sql`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (${lit.uint(m.version, 32)}, ${lit.string(m.name)}, ${lit.string(m.checksum)}, now())`),
    };
  }

  private migrationsDir(): string {
    return this.config.migrationsDir ?? join(MIGRATIONS_ROOT, 'clickhouse');
  }

  async migrate(): Promise<MigrationReport> {
    await this.checkServerVersion();
    // The database itself must exist before a client bound to it can run anything.
    await this.server.command({ query: toText(sql`CREATE DATABASE IF NOT EXISTS ${identifier(this.config.database)}`) });
    await this.warnUnlessUtc();
    const dir = this.migrationsDir();
    return runMigrations(this.migrationTarget(), readMigrations(dir), dir);
  }

  /**
   * Days (partitions, retention, listener evidence) and rollup hours follow the server's time
   * zone, since flows is PARTITION BY toYYYYMMDD(time_received); the embedded store's are UTC.
   * Tested by offset on two dates (winter and summer), not by zone name: Etc/UTC, UTC and
   * Universal are all fine.
   */
  private async warnUnlessUtc(): Promise<void> {
    const [row] = await (
      await this.server.query({
        query: toText(
          sql`SELECT timezone() AS zone, toUnixTimestamp(toDateTime('2025-01-01 00:00:00')) = 1735689600 AND toUnixTimestamp(toDateTime('2025-07-01 00:00:00')) = 1751328000 AS utc`,
        ),
        format: 'JSONEachRow',
      })
    ).json<{ zone: string; utc: number }>();
    if (row !== undefined && Number(row.utc) !== 1) {
      this.logger.warn(
        { zone: row.zone },
        `ClickHouse runs in time zone ${row.zone}: flow days, retention and hourly rollups follow its calendar, not UTC; set <timezone>UTC</timezone> in the server config for UTC days`,
      );
    }
  }

  async pendingMigrations(): Promise<string[]> {
    await this.checkServerVersion();
    const [exists] = await (
      await this.server.query({ query: toText(sql`SELECT count() AS n FROM system.databases WHERE name = ${lit.string(this.config.database)}`), format: 'JSONEachRow' })
    ).json<{ n: string }>();
    const dir = this.migrationsDir();
    const files = readMigrations(dir);
    if (Number(exists?.n ?? 0) === 0) return files.map((f) => f.name);
    return (await pendingMigrations(this.migrationTarget(), files, dir)).map((m) => m.name);
  }

  private async checkServerVersion(): Promise<void> {
    const text = await this.version();
    const [major, minor] = parseServerVersion(text);
    const [minMajor, minMinor] = MIN_SERVER_VERSION;
    if (major < minMajor || (major === minMajor && minor < minMinor)) {
      throw new FlowmapError('FLOWMAP_STORE_VERSION', `ClickHouse ${text} is older than ${minMajor}.${minMinor}, the oldest flowmap supports`, { details: { version: text } });
    }
  }

  async insertFlows(batch: FlowBatch): Promise<void> {
    const problem = validateFlowBatch(batch);
    if (problem !== undefined) throw new FlowmapError('FLOWMAP_BATCH_INVALID', `flow batch refused: ${problem}`, { status: 400 });
    if (batch.length === 0) return;
    // One INSERT of one Native block (the format bench/insert.ts chose: typed columns copied
    // almost verbatim, a tenth of TabSeparated's parse cost): a block becomes one part, so a batch
    // lands whole or not at all and a retried batch cannot leave a duplicated prefix behind.
    // Batches are at most 1,000,000 rows (collector.batchRows), under max_insert_block_size.
    await insertFlowsNative(this.client, batch, Math.max(batch.length, 1));
  }

  async flowTotals(range: TimeRange): Promise<FlowTotals> {
    checkRange(range);
    const [row] = await this.rows(
      sql`SELECT count() AS flows, sum(bytes) AS bytes, sum(packets) AS packets FROM flows WHERE time_received >= ${lit.dateTime(range.from)} AND time_received < ${lit.dateTime(range.to)}`,
    );
    return { flows: Number(row?.flows ?? 0), bytes: Number(row?.bytes ?? 0), packets: Number(row?.packets ?? 0) };
  }

  async aggregateFlows(query: FlowAggregateQuery): Promise<FlowAggregateRow[]> {
    const { keys, limit, orderBy } = checkAggregateQuery(query);
    const selects = keys.map((k) => {
      const column = identifier(k);
      const alias = identifier(`k_${k}`);
      if (ADDRESS_KEYS.has(k)) return sql`hex(${column}) AS ${alias}`;
      if (k === 'source' || k === 'action' || k === 'server_side') return sql`toString(${column}) AS ${alias}`;
      return sql`${column} AS ${alias}`;
    });
    const metrics = sql`count() AS flows, sum(bytes) AS bytes, sum(packets) AS packets`;
    const selectList = joinSql([...selects, metrics], ', ');
    const group = keys.length > 0 ? sql` GROUP BY ${joinSql(keys.map((k) => identifier(`k_${k}`)), ', ')}` : sql``;
    const order = joinSql([sql`${identifier(orderBy)} DESC`, ...keys.map((k) => sql`${identifier(`k_${k}`)} ASC`)], ', ');
    const rows = await this.rows(
      sql`SELECT ${selectList} FROM flows WHERE time_received >= ${lit.dateTime(query.range.from)} AND time_received < ${lit.dateTime(query.range.to)}${group} HAVING count() > 0 ORDER BY ${order} LIMIT ${lit.uint(limit, 32)}`,
    );
    return rows.map((r) => toAggregateRow(r, keys));
  }

  async readFlows(range: TimeRange, options: { limit?: number } = {}): Promise<FlowBatch> {
    checkRange(range);
    const limit = checkReadLimit(options.limit);
    const select = joinSql(
      FLOW_COLUMNS.map((c) => {
        const column = identifier(c.name);
        const alias = identifier(`c_${c.name}`);
        if (c.kind === 'address') return sql`hex(${column}) AS ${alias}`;
        if (c.kind === 'datetime') return sql`toUnixTimestamp(${column}) AS ${alias}`;
        if (c.kind === 'enum') return sql`toString(${column}) AS ${alias}`;
        return sql`${column} AS ${alias}`;
      }),
      ', ',
    );
    const order = joinSql(READ_ORDER.map((c) => identifier(c)), ', ');
    const rows = await this.rows(
      sql`SELECT ${select} FROM flows WHERE time_received >= ${lit.dateTime(range.from)} AND time_received < ${lit.dateTime(range.to)} ORDER BY ${order} LIMIT ${lit.uint(limit, 32)}`,
    );
    return batchFromRows(rows);
  }

  async rollupTotals(range: TimeRange): Promise<FlowTotals> {
    checkRange(range);
    // SummingMergeTree rows with one key may still sit in unmerged parts: always sum().
    const [row] = await this.rows(
      sql`SELECT sum(flows) AS m_flows, sum(bytes) AS m_bytes, sum(packets) AS m_packets FROM flows_1h WHERE hour >= ${lit.dateTime(range.from)} AND hour < ${lit.dateTime(range.to)}`,
    );
    return { flows: Number(row?.m_flows ?? 0), bytes: Number(row?.m_bytes ?? 0), packets: Number(row?.m_packets ?? 0) };
  }

  async aggregateRollup(query: RollupAggregateQuery): Promise<RollupAggregateRow[]> {
    const { keys, limit, orderBy } = checkRollupQuery(query);
    const selects = keys.map((k) => {
      const column = identifier(k);
      const alias = identifier(`k_${k}`);
      if (ROLLUP_ADDRESS_KEYS.has(k)) return sql`hex(${column}) AS ${alias}`;
      if (k === 'hour') return sql`toUnixTimestamp(${column}) AS ${alias}`;
      if (k === 'action') return sql`toString(${column}) AS ${alias}`;
      return sql`${column} AS ${alias}`;
    });
    // Metric aliases differ from the column names: 18.16 would substitute `flows` in sum(flows).
    const metrics = sql`sum(flows) AS m_flows, sum(bytes) AS m_bytes, sum(packets) AS m_packets`;
    const group = keys.length > 0 ? sql` GROUP BY ${joinSql(keys.map((k) => identifier(`k_${k}`)), ', ')}` : sql``;
    const order = joinSql([sql`${identifier(`m_${orderBy}`)} DESC`, ...keys.map((k) => sql`${identifier(`k_${k}`)} ASC`)], ', ');
    const rows = await this.rows(
      sql`SELECT ${joinSql([...selects, metrics], ', ')} FROM flows_1h WHERE hour >= ${lit.dateTime(query.range.from)} AND hour < ${lit.dateTime(query.range.to)}${group}
          HAVING count() > 0 ORDER BY ${order} LIMIT ${lit.uint(limit, 32)}`,
    );
    return rows.map((r) => toRollupRow(r, keys));
  }

  async recordListenerEvidence(range: TimeRange): Promise<void> {
    checkRange(range);
    // Both ends of every TCP/UDP/SCTP flow, each with the other end as its peer (ARRAY JOIN over
    // the two ends as parallel arrays: one pass over the range).
    await this.command(
      sql`INSERT INTO listener_evidence
          SELECT toDate(time_received) AS day, address, proto, port, uniqState(peer) AS peers, uniqState(peer_port) AS peer_ports
          FROM flows
          ARRAY JOIN [src_addr, dst_addr] AS address, [src_port, dst_port] AS port, [dst_addr, src_addr] AS peer, [dst_port, src_port] AS peer_port
          WHERE time_received >= ${lit.dateTime(range.from)} AND time_received < ${lit.dateTime(range.to)} AND proto IN (6, 17, 132)
          GROUP BY day, address, proto, port`,
    );
  }

  async listenerEvidence(range: TimeRange, options: ListenerEvidenceQuery = {}): Promise<ListenerEvidence[]> {
    checkRange(range);
    const { minPeers, minPeerPorts, limit } = checkEvidenceQuery(options);
    // The day column is a Date; the range is on the Unix second each day starts at. The first
    // pair of conditions is a coarser superset that the partition and primary key can prune by.
    const from = lit.dateTime(range.from);
    const to = lit.dateTime(range.to);
    const lastDay = lit.dateTime(Math.min(range.to, LAST_DATED_SECOND));
    const rows = await this.rows(
      sql`SELECT toUnixTimestamp(toDateTime(day)) AS c_day, hex(address) AS c_address, proto AS c_proto, port AS c_port,
                 uniqMerge(peers) AS c_peers, uniqMerge(peer_ports) AS c_peer_ports
          FROM listener_evidence
          WHERE day >= toDate(${from}) AND day <= toDate(${lastDay}) AND toDateTime(day) >= ${from} AND toDateTime(day) < ${to}
          GROUP BY day, address, proto, port
          HAVING c_peers >= ${lit.uint(minPeers, 32)} AND c_peer_ports >= ${lit.uint(minPeerPorts, 32)}
          ORDER BY c_peer_ports DESC, address, port, proto, day LIMIT ${lit.uint(limit, 32)}`,
    );
    return evidenceFromRows(rows);
  }

  async flowDays(): Promise<number[]> {
    // Partitions, not a scan of flows: the day list is metadata ClickHouse already keeps.
    const rows = await this.rows(
      sql`SELECT DISTINCT ${PARTITION_DAY_START} AS c_day FROM system.parts WHERE database = currentDatabase() AND table = 'flows' AND active ORDER BY c_day`,
    );
    return rows.map((r) => Number(r.c_day));
  }

  async dropDaysBefore(cutoff: number): Promise<number[]> {
    checkCutoff(cutoff);
    const tables = lit.inList(DAY_TABLES.map((t) => lit.string(t)));
    const parts = await this.rows(
      sql`SELECT DISTINCT table AS c_table, partition_id AS c_partition, ${PARTITION_DAY_START} AS c_day FROM system.parts
          WHERE database = currentDatabase() AND table IN ${tables} AND active AND toUInt32OrZero(partition_id) < toYYYYMMDD(${lit.dateTime(Math.min(cutoff, LAST_DATED_SECOND))})
          ORDER BY c_day, c_table`,
    );
    const days = new Set<number>();
    for (const part of parts) {
      const table = DAY_TABLES.find((t) => t === part.c_table);
      if (table === undefined) continue;
      // Dropping a partition that is already gone (a second retention run racing this one) is
      // not an error on any release, so the drop is safe to repeat.
      await this.command(sql`ALTER TABLE ${identifier(table)} DROP PARTITION ID ${lit.string(String(part.c_partition))}`);
      days.add(Number(part.c_day));
    }
    if (days.size > 0) this.logger.info({ days: [...days], cutoff }, 'retention dropped day partitions');
    return [...days].sort((a, b) => a - b);
  }

  async upsertExporters(rows: readonly ExporterStatus[]): Promise<void> {
    const addresses = checkExporterStatus(rows);
    if (rows.length === 0) return;
    const values = exporterRows(rows, addresses).map(({ status, exporter, errorReasons, errorCounts }) => {
      const fields = [
        lit.string(status.collector),
        lit.address(exporter),
        lit.dateTime(status.firstSeen),
        lit.dateTime(status.lastSeen),
        lit.uint(status.datagrams, 64),
        lit.uint(status.flows, 64),
        lit.uint(status.templates, 32),
        lit.array(status.samplingRates.map((rate) => lit.uint(rate, 32))),
        lit.array(errorReasons.map((reason) => lit.string(reason))),
        lit.array(errorCounts.map((count) => lit.uint(count, 64))),
        lit.dateTime(status.updatedAt),
      ];
      return sql`(${joinSql(fields, ', ')})`;
    });
    await this.command(
      sql`INSERT INTO exporters (collector, exporter, first_seen, last_seen, datagrams, flows, templates, sampling_rates, error_reasons, error_counts, updated_at) VALUES ${joinSql(values, ', ')}`,
    );
  }

  async listExporters(): Promise<ExporterStatus[]> {
    // FINAL merges the replaced rows at read time; the table holds one row per exporter and
    // collector, so that costs little.
    const rows = await this.rows(
      sql`SELECT collector AS c_collector, hex(exporter) AS c_exporter, toUnixTimestamp(first_seen) AS c_first_seen, toUnixTimestamp(last_seen) AS c_last_seen,
                 datagrams AS c_datagrams, flows AS c_flows, templates AS c_templates, sampling_rates AS c_sampling_rates,
                 error_reasons AS c_error_reasons, error_counts AS c_error_counts, toUnixTimestamp(updated_at) AS c_updated_at
          FROM exporters FINAL ORDER BY collector, exporter`,
    );
    return exportersFromRows(rows);
  }

  async insertInterfaceCounters(rows: readonly InterfaceCounters[]): Promise<void> {
    checkInterfaceCounters(rows);
    if (rows.length === 0) return;
    await this.client.insert({
      table: 'interface_counters',
      values: Readable.from([Buffer.from(encodeCountersTsv(rows), 'utf8')], { objectMode: false }),
      format: 'TabSeparated',
      columns: COUNTER_COLUMN_NAMES as [string, ...string[]],
    });
  }

  async readInterfaceCounters(range: TimeRange, options: { limit?: number } = {}): Promise<InterfaceCounters[]> {
    checkRange(range);
    const limit = checkReadLimit(options.limit);
    const counters = joinSql(COUNTER_COLUMNS.map(([, column]) => identifier(column)), ', ');
    const rows = await this.rows(
      sql`SELECT toUnixTimestamp(time) AS c_time, hex(exporter) AS c_exporter, observation_domain, ${counters} FROM interface_counters
          WHERE time >= ${lit.dateTime(range.from)} AND time < ${lit.dateTime(range.to)}
          ORDER BY time, exporter, observation_domain, if_index LIMIT ${lit.uint(limit, 32)}`,
    );
    return countersFromRows(rows);
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
    });
    try {
      // A SELECT, not /ping: it proves the credentials and the database too, and it is aborted
      // rather than left in the connection pool when it times out.
      const result = await Promise.race([this.client.ping({ select: true, abort_signal: AbortSignal.timeout(PING_TIMEOUT_MS) }), timeout]);
      if (!result.success) throw result.error;
    } catch (err) {
      throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `ClickHouse at ${redactUrl(this.config.url)} is unreachable: ${err instanceof Error ? err.message : String(err)}`, {
        status: 503,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async version(): Promise<string> {
    const result = await this.server.query({ query: toText(sql`SELECT version() AS version`), format: 'JSONEachRow' });
    const [row] = await result.json<{ version: string }>();
    return String(row?.version ?? '');
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.server.close()]);
    this.logger.debug('clickhouse client closed');
  }
}

function toAggregateRow(r: Record<string, unknown>, keys: readonly AggregateKey[]): FlowAggregateRow {
  const key: FlowAggregateRow['key'] = {};
  for (const k of keys) {
    const value = r[`k_${k}`];
    if (ADDRESS_KEYS.has(k)) key[k] = addressFromHex(String(value));
    else if (k === 'source' || k === 'action' || k === 'server_side') key[k] = String(value);
    else key[k] = Number(value);
  }
  return { key, flows: Number(r.flows), bytes: Number(r.bytes), packets: Number(r.packets) };
}

function toRollupRow(r: Record<string, unknown>, keys: readonly RollupKey[]): RollupAggregateRow {
  const key: RollupAggregateRow['key'] = {};
  for (const k of keys) {
    const value = r[`k_${k}`];
    if (ROLLUP_ADDRESS_KEYS.has(k)) key[k] = addressFromHex(String(value));
    else if (k === 'action') key[k] = String(value);
    else key[k] = Number(value);
  }
  return { key, flows: Number(r.m_flows), bytes: Number(r.m_bytes), packets: Number(r.m_packets) };
}

class ClickHouseMeta implements MetaStore {
  constructor(private readonly store: ClickHouseStore) {}

  async put(namespace: string, key: string, value: JsonValue): Promise<MetaEntry> {
    checkNamespaceKey(namespace, key);
    const version = nextVersion();
    const seconds = Math.floor(version / 1_000_000);
    // JSONEachRow carries the values as JSON data, outside the SQL text.
    await this.store.client.insert({
      table: 'meta',
      values: [{ namespace, key, version: String(version), value: JSON.stringify(value), deleted: 0, updated_at: seconds }],
      format: 'JSONEachRow',
    });
    return { key, value, version, updatedAt: new Date(seconds * 1000) };
  }

  async get(namespace: string, key: string): Promise<MetaEntry | undefined> {
    checkNamespaceKey(namespace, key);
    const [row] = await this.store.rows(
      sql`SELECT key, value, version, toUnixTimestamp(updated_at) AS updated_at, deleted FROM meta WHERE namespace = ${lit.string(namespace)} AND key = ${lit.string(key)} ORDER BY version DESC LIMIT 1`,
    );
    return row === undefined || Number(row.deleted) === 1 ? undefined : toEntry(row);
  }

  async list(namespace: string, options: { prefix?: string; limit?: number } = {}): Promise<MetaEntry[]> {
    checkNamespaceKey(namespace);
    const prefix = options.prefix ?? '';
    const limit = checkMetaLimit(options.limit);
    // substring() rather than startsWith(): the latter is not on every 18.x release.
    const rows = await this.store.rows(
      // Aliases differ from column names: ClickHouse substitutes an alias for a same-named column
      // inside other expressions, which would nest max() in argMax().
      sql`SELECT key, argMax(value, version) AS latest_value, max(version) AS latest_version, toUnixTimestamp(argMax(updated_at, version)) AS latest_at
          FROM meta WHERE namespace = ${lit.string(namespace)} AND substring(key, 1, ${lit.uint(Buffer.byteLength(prefix), 32)}) = ${lit.string(prefix)}
          GROUP BY key HAVING argMax(deleted, version) = 0 ORDER BY key LIMIT ${lit.uint(limit, 32)}`,
    );
    return rows.map((r) => toEntry({ key: r.key, value: r.latest_value, version: r.latest_version, updated_at: r.latest_at }));
  }

  async history(namespace: string, key: string): Promise<MetaEntry[]> {
    checkNamespaceKey(namespace, key);
    const rows = await this.store.rows(
      sql`SELECT key, value, version, toUnixTimestamp(updated_at) AS updated_at FROM meta WHERE namespace = ${lit.string(namespace)} AND key = ${lit.string(key)} AND deleted = 0 ORDER BY version`,
    );
    return rows.map(toEntry);
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    const live = await this.get(namespace, key);
    if (live === undefined) return false;
    const version = nextVersion();
    await this.store.client.insert({
      table: 'meta',
      values: [{ namespace, key, version: String(version), value: 'null', deleted: 1, updated_at: Math.floor(version / 1_000_000) }],
      format: 'JSONEachRow',
    });
    return true;
  }
}

function toEntry(row: Record<string, unknown>): MetaEntry {
  return {
    key: String(row.key),
    value: JSON.parse(String(row.value)) as JsonValue,
    version: Number(row.version),
    updatedAt: new Date(Number(row.updated_at) * 1000),
  };
}
