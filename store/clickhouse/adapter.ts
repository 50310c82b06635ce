// The service-mode store: ClickHouse over HTTP with @clickhouse/client. Runs on 18.16 (the floor
// in DESIGN.md §5) and current releases. Every value in a query comes through ./literal.ts; table
// and column names are constants or whitelisted keys.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { redactUrl } from '../../core/config.js';
import { FlowmapError } from '../../core/errors.js';
import { COUNTER_COLUMNS, type InterfaceCounters } from '../../core/counters.js';
import { validateFlowBatch, type FlowBatch } from '../../core/flow.js';
import type { Logger } from '../../core/logger.js';
import { MIGRATIONS_ROOT, pendingMigrations, readMigrations, runMigrations, type MigrationTarget } from '../migrate.js';
import type {
  AggregateKey,
  AppliedMigration,
  BaselineHostRow,
  AddressHour,
  ConversationKey,
  ConversationQuery,
  ConversationRow,
  Endpoint,
  EndpointEvidence,
  ExporterStatus,
  FlowAggregateQuery,
  FlowAggregateRow,
  FlowSearchPage,
  FlowSearchQuery,
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
  checkBaselineHosts,
  checkBaselineHostsQuery,
  checkBaselineName,
  checkConversationQuery,
  checkAddressHours,
  checkDrillQuery,
  checkEndpoints,
  type CheckedConversationKey,
  checkCutoff,
  checkEvidenceQuery,
  checkExporterStatus,
  checkInterfaceCounters,
  checkMetaLimit,
  checkNamespaceKey,
  checkRange,
  checkReadLimit,
  checkRollupQuery,
  type CheckedConversationQuery,
} from '../checks.js';
import {
  ADDRESS_KEYS,
  addressFromHex,
  baselineHostsFromRows,
  batchFromRows,
  CONVERSATION_CHUNK,
  conversationFromRow,
  endpointEvidenceFromRows,
  countersFromRows,
  evidenceFromRows,
  exporterRows,
  exportersFromRows,
  nextVersion,
  READ_ORDER,
  ROLLUP_ADDRESS_KEYS,
} from '../rows.js';
import { BASELINE_HOST_COLUMN_NAMES, COUNTER_COLUMN_NAMES, encodeBaselineHostsTsv, encodeCountersTsv } from './insert.js';
import { insertFlowsNative } from './native.js';
import { checkSearchQuery, runSearch } from '../search.js';
import { bytesThresholdSql, FLOW_SELECT, searchWindowSql } from './search.js';
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
const DAY_TABLES = ['flows', 'flows_1h', 'flows_1d', 'listener_evidence', 'interface_counters'] as const;

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

  async rows(query: Sql, settings?: Record<string, string>): Promise<Record<string, unknown>[]> {
    const result = await this.client.query({ query: toText(query), format: 'JSONEachRow', ...(settings === undefined ? {} : { clickhouse_settings: settings }) });
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
    const order = joinSql(READ_ORDER.map((c) => identifier(c)), ', ');
    const rows = await this.rows(
      sql`SELECT ${FLOW_SELECT} FROM flows WHERE time_received >= ${lit.dateTime(range.from)} AND time_received < ${lit.dateTime(range.to)} ORDER BY ${order} LIMIT ${lit.uint(limit, 32)}`,
    );
    return batchFromRows(rows);
  }

  async compactDays(range: TimeRange): Promise<number[]> {
    checkRange(range);
    const days = wholeDays(range);
    const state = await this.dailyState(days);
    const stale = state.stale;
    const hourly = new Set(state.hourly);
    for (const day of stale) {
      // The day is rolled whole into a table of its own whose partition then replaces the day's
      // (one atomic step: a baseline reading flows_1d meanwhile sees the old day or the new one,
      // never neither). Rolling on top of the old day would count it twice: SummingMergeTree adds.
      const [row] = await this.rows(sql`SELECT toYYYYMMDD(${lit.dateTime(day)}) AS c_partition`);
      const partition = lit.uint(Number(row?.c_partition ?? 0), 32);
      if (!hourly.has(day)) {
        await this.command(sql`ALTER TABLE flows_1d DROP PARTITION ${partition}`);
        continue;
      }
      const staging = identifier(`${SCRATCH_PREFIX}${Date.now()}_${randomBytes(4).toString('hex')}_roll`);
      try {
        await this.command(sql`CREATE TABLE ${staging} AS flows_1d`);
        // Single-level aggregation: its result comes as a few large blocks. A two-level one (past
        // 100,000 keys) comes as 256 buckets, and 18.16 writes every block of an INSERT SELECT as
        // a part of its own — 15 s instead of 1.4 s for a day at 100 M flows, and merges after.
        await this.client.command({ query: toText(dailyRollSql(staging, day)), clickhouse_settings: { group_by_two_level_threshold: '0', group_by_two_level_threshold_bytes: '0' } });
        await this.command(sql`ALTER TABLE flows_1d REPLACE PARTITION ${partition} FROM ${staging}`);
      } finally {
        await this.command(sql`DROP TABLE IF EXISTS ${staging}`).catch(() => undefined);
      }
    }
    if (stale.length > 0) this.logger.debug({ days: stale.length, first: stale[0], last: stale[stale.length - 1] }, 'daily rollup brought up to date');
    return stale;
  }

  /** Which of these whole days the daily rollup has exactly as the hourly one (equal flow totals; both are empty counts too), and which not. */
  private async dailyState(days: readonly number[]): Promise<{ current: number[]; stale: number[]; hourly: number[] }> {
    if (days.length === 0) return { current: [], stale: [], hourly: [] };
    const from = lit.dateTime(days[0] as number);
    const to = lit.dateTime((days[days.length - 1] as number) + DAY);
    const [hourly, daily] = await Promise.all([
      this.rows(sql`SELECT intDiv(toUInt32(hour), 86400) * 86400 AS c_day, sum(flows) AS c_flows FROM flows_1h WHERE hour >= ${from} AND hour < ${to} GROUP BY c_day`),
      this.rows(sql`SELECT toUInt32(day) AS c_day, sum(flows) AS c_flows FROM flows_1d WHERE day >= ${from} AND day < ${to} GROUP BY c_day`),
    ]);
    const totals = (rows: Record<string, unknown>[]): Map<number, string> => new Map(rows.map((r) => [Number(r.c_day), String(r.c_flows)]));
    const h = totals(hourly);
    const d = totals(daily);
    const current: number[] = [];
    const stale: number[] = [];
    for (const day of days) {
      const want = h.get(day);
      if (want === undefined) {
        // Nothing hourly: current when nothing daily either; rows left from flows since dropped are stale.
        (d.has(day) ? stale : current).push(day);
      } else (d.get(day) === want ? current : stale).push(day);
    }
    return { current, stale, hourly: [...h.keys()] };
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

  conversations(query: ConversationQuery): AsyncIterable<ConversationRow[]> {
    // Checked here, before the first chunk is asked for, so a bad query throws at the call.
    const checked = checkConversationQuery(query);
    return this.streamConversations(checked);
  }

  private async *streamConversations(q: CheckedConversationQuery): AsyncGenerator<ConversationRow[]> {
    if (q.from === q.to) return;
    // Three steps through two scratch tables (Memory engine, dropped at the end): the window's
    // conversations aggregated once from flows_1h; the listener evidence of their two ends; the
    // join. 18.16 has no materialized common table expressions, and as one statement the
    // conversations were aggregated twice (once more for the evidence's IN set) and their arrays
    // dragged through an ARRAY JOIN: 70 s instead of about 25 s on 36M rollup rows (bench/baseline.ts).
    await this.dropStaleScratch();
    const name = `${SCRATCH_PREFIX}${Date.now()}_${randomBytes(4).toString('hex')}`;
    const conv = identifier(name);
    const evidence = identifier(`${name}_ev`);
    const sizeSettings = (text: string): Record<string, string> => ({ max_query_size: String(Math.max(262_144, text.length + 1024)) });
    const raw = identifier(`${name}_raw`);
    const hours = identifier(`${name}_sh`);
    const split = q.segments.length > 0;
    // Whole days the daily rollup has up to date are read from it; the rest from flows_1h.
    const { current: daily } = await this.dailyState(wholeDays({ from: q.from, to: q.to }));
    try {
      if (split) {
        // Split addresses are aggregated by hour first (with the hourly ones), then their hours
        // folded into segments: the hours → segment table is small (segments × their hours).
        const segments = segmentHoursSql(q, hours);
        await this.client.command({ query: toText(segments), clickhouse_settings: sizeSettings(toText(segments)) });
        const create = conversationsScratchSql(q, raw, daily);
        await this.client.command({ query: toText(create), clickhouse_settings: sizeSettings(toText(create)) });
        await this.command(sql`CREATE TABLE ${conv} ENGINE = Memory AS SELECT * FROM ${raw} WHERE k_hourly = 0`);
        const fold = segmentFoldSql(q, raw, hours, conv);
        await this.client.command({ query: toText(fold), clickhouse_settings: sizeSettings(toText(fold)) });
      } else {
        const create = conversationsScratchSql(q, conv, daily);
        await this.client.command({ query: toText(create), clickhouse_settings: sizeSettings(toText(create)) });
      }
      await this.command(evidenceScratchSql(q, conv, evidence));
      const result = await this.client.query({
        query: toText(conversationsJoinSql(conv, evidence)),
        format: 'JSONEachRow',
        // Numbers as JSON numbers, not strings: a third less to parse. Sums stay far below 2^53.
        clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      });
      let chunk: ConversationRow[] = [];
      try {
        for await (const rows of result.stream<Record<string, unknown>>()) {
          for (const row of rows) {
            chunk.push(conversationFromRow(row.json()));
            if (chunk.length >= CONVERSATION_CHUNK) {
              yield chunk;
              chunk = [];
            }
          }
        }
        if (chunk.length > 0) yield chunk;
      } finally {
        // A consumer that stops early leaves the response unread: release the connection.
        result.close();
      }
    } finally {
      for (const table of [conv, evidence, ...(split ? [raw, hours] : [])]) await this.command(sql`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  /** Scratch tables left by a process that died mid-baseline (older than a day) are dropped. */
  private async dropStaleScratch(): Promise<void> {
    const rows = await this.rows(sql`SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, ${lit.string(SCRATCH_PREFIX)})`);
    const cutoff = Date.now() - 86_400_000;
    for (const { name } of rows) {
      const stamp = Number(/^baseline_scratch_(\d+)_/.exec(String(name))?.[1] ?? Number.NaN);
      if (Number.isFinite(stamp) && stamp < cutoff) await this.command(sql`DROP TABLE IF EXISTS ${identifier(String(name))}`);
    }
  }

  async conversationsByClientPort(range: TimeRange, keys: readonly ConversationKey[], options: { exactTime?: boolean } = {}): Promise<ConversationRow[]> {
    const checked = checkDrillQuery(range, keys);
    if (checked.length === 0 || range.from === range.to) return [];
    const query = drillSql(range, checked, options.exactTime === true);
    const rows = await this.rows(query, { max_query_size: String(Math.max(262_144, toText(query).length + 1024)) });
    return rows.map((r) => conversationFromRow(r));
  }

  async conversationsOfAddressHours(range: TimeRange, pairs: readonly AddressHour[]): Promise<ConversationRow[]> {
    const checked = checkAddressHours(range, pairs);
    if (checked.length === 0) return [];
    const query = addressHoursSql(range, checked);
    const rows = await this.rows(query, { max_query_size: String(Math.max(262_144, toText(query).length + 1024)) });
    return rows.map((r) => conversationFromRow(r));
  }

  async endpointEvidence(range: TimeRange, endpoints: readonly Endpoint[]): Promise<(Endpoint & EndpointEvidence)[]> {
    const checked = checkEndpoints(range, endpoints);
    if (checked.length === 0) return [];
    const from = lit.dateTime(range.from);
    const lastDay = lit.dateTime(Math.min(range.to, LAST_DATED_SECOND));
    const wanted = packedEndpointsSql(checked);
    const query = sql`
      SELECT hex(address) AS c_address, proto AS c_proto, port AS c_port, uniqMerge(peers) AS c_peers, uniqMerge(peer_ports) AS c_peer_ports, uniqExact(day) AS c_days
      FROM listener_evidence
      PREWHERE (address, proto, port) IN ${wanted}
      WHERE day >= toDate(${from}) AND day <= toDate(${lastDay}) AND toDateTime(day) >= ${from} AND toDateTime(day) < ${lit.dateTime(range.to)}
      GROUP BY address, proto, port`;
    const rows = await this.rows(query, { max_query_size: String(Math.max(262_144, toText(query).length + 1024)) });
    return endpointEvidenceFromRows(checked, rows);
  }

  async insertBaselineHosts(baseline: string, rows: readonly BaselineHostRow[]): Promise<void> {
    const checked = checkBaselineHosts(baseline, rows);
    if (checked.length === 0) return;
    // TabSeparated, as interface counters are: JSON cannot carry an address's raw bytes, TSV's
    // \xHH escapes can. One INSERT, one block: the chunk lands whole or not at all.
    await this.client.insert({
      table: 'baseline_hosts',
      values: Readable.from([Buffer.from(encodeBaselineHostsTsv(baseline, checked), 'utf8')], { objectMode: false }),
      format: 'TabSeparated',
      columns: BASELINE_HOST_COLUMN_NAMES as [string, ...string[]],
    });
  }

  async baselineHosts(baseline: string, edge: string, options: { limit?: number } = {}): Promise<BaselineHostRow[]> {
    const limit = checkBaselineHostsQuery(baseline, edge, options.limit);
    const rows = await this.rows(
      sql`SELECT edge AS c_edge, hex(client) AS c_client, hex(server) AS c_server, proto AS c_proto, port AS c_port, flows AS c_flows, bytes AS c_bytes,
                 packets AS c_packets, toUnixTimestamp(first_seen) AS c_first_seen, toUnixTimestamp(last_seen) AS c_last_seen, days_seen AS c_days_seen, rule AS c_rule
          FROM baseline_hosts WHERE baseline = ${lit.string(baseline)} AND edge = ${lit.string(edge)}
          ORDER BY bytes DESC, client, server, port, proto LIMIT ${lit.uint(limit, 32)}`,
    );
    return baselineHostsFromRows(rows);
  }

  async dropBaselineHosts(baseline: string): Promise<void> {
    checkBaselineName(baseline);
    // baseline_hosts is partitioned by baseline (migrations/clickhouse/0008): dropping the
    // partition is synchronous, where a DELETE mutation would finish in the background. Dropping
    // a partition that does not exist is not an error.
    await this.command(sql`ALTER TABLE baseline_hosts DROP PARTITION ${lit.string(baseline)}`);
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

  async searchFlows(query: FlowSearchQuery): Promise<FlowSearchPage> {
    const checked = checkSearchQuery(query);
    // A group's members can make a query a few hundred kilobytes (store/search.ts).
    const sized = (statement: Sql): Record<string, string> => ({ max_query_size: String(Math.max(262_144, toText(statement).length + 1024)) });
    return runSearch(checked, async (window, count) => {
      let minBytes: number | undefined;
      if (checked.sort === 'bytes-desc') {
        const threshold = bytesThresholdSql(checked, window, count);
        const [row] = await this.rows(threshold, sized(threshold));
        if (row !== undefined) minBytes = Number(row.c_bytes);
      }
      const statement = searchWindowSql(checked, window, count, minBytes);
      return this.rows(statement, sized(statement));
    });
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

const DAY = 86_400;
const HOURS_OF_DAY = Array.from({ length: 24 }, (_, h) => h);
const DAYS_OF_WEEK = Array.from({ length: 7 }, (_, d) => d);

/**
 * The query behind `conversations`, in four steps:
 *
 * 1. the window's flows_1h rows aggregated by conversation (and by hour for rows with an hourly
 *    address): sums, port bounds, first and last hour, day bits, hour-of-day and weekday bins;
 * 2. each conversation turned into its two ends (ARRAY JOIN): the server end (server, proto,
 *    service port) as end 0, the client end (client, proto, lowest client port) as end 1;
 * 3. one ANY LEFT JOIN of the ends with their listener evidence, summed over the window's days;
 *    a missing right row fills with zeros (join_use_nulls is off by default): no evidence;
 * 4. the two ends grouped back into one row per conversation.
 *
 * The evidence read is restricted to the window's endpoints (`IN` a subquery that repeats step
 * 1's grouping with only the lowest client port) as a PREWHERE, so uniq states are read only
 * from granules holding a wanted endpoint. Measured on 18.16, two cores, 20M flows (5.5M rollup
 * rows, 20M evidence rows, 200k conversations): 15 s, against 41 s for two joins (one per end),
 * each scanning listener_evidence for endpoints taken from every rollup row's own lowest port
 * (no grouping, but 27 times the matching evidence rows). Most of what remains is reading the
 * evidence of the window's days: about a row per connection, for the client ends.
 *
 * 18.16 takes one JOIN per SELECT level, so the steps nest; `USING` needs the same name on both
 * sides (e_address, e_proto, e_port). Every alias differs from every column name (prefixes k_,
 * m_, s_, c_, d_, e_, o_): 18.16 substitutes a same-named alias inside aggregate arguments,
 * turning sum(flows) AS flows into a nested sum.
 */
/**
 * The drill-down of Store.conversationsByClientPort: raw flows of the window oriented as the
 * rollup orients them (server_side), only the asked conversations, by client port and hour. The
 * PREWHERE on the addresses lets the primary key (hour, dst_addr, …) skip most granules.
 */
function drillSql(range: TimeRange, keys: readonly CheckedConversationKey[], exactTime: boolean): Sql {
  const addresses = new Map<string, Uint8Array>();
  for (const k of keys) {
    addresses.set(Buffer.from(k.client).toString('hex'), k.client);
    addresses.set(Buffer.from(k.server).toString('hex'), k.server);
  }
  const whole = keys.filter((k) => k.hour === undefined);
  const hourly = keys.filter((k) => k.hour !== undefined);
  const matches: Sql[] = [];
  if (whole.length > 0) matches.push(sql`(c_address, s_address, s_proto, s_port) IN ${packedKeysSql(whole, false)}`);
  if (hourly.length > 0) matches.push(sql`(c_address, s_address, s_proto, s_port, toUInt32(hour)) IN ${packedKeysSql(hourly, true)}`);
  // Keys that all name their hour read only those hours.
  const hours = whole.length === 0 ? hourly.map((k) => k.hour ?? 0) : undefined;
  return rawPartsSql(range, [...addresses.values()], hours, joinSql(matches, ' OR '), exactTime);
}

/** Store.conversationsOfAddressHours: flows with a listed (address, hour) on either end, by the second. */
function addressHoursSql(range: TimeRange, pairs: readonly { address: Uint8Array; hour: number }[]): Sql {
  const addresses = new Map<string, Uint8Array>();
  for (const p of pairs) addresses.set(Buffer.from(p.address).toString('hex'), p.address);
  const packed = lit.string(pairs.map((p) => `${Buffer.from(p.address).toString('hex')}${String(p.hour).padStart(10, '0')}`).join(''));
  const set = sql`(SELECT toFixedString(unhex(substring(${packed}, number * 42 + 1, 32)), 16), toUInt32(substring(${packed}, number * 42 + 33, 10)) FROM system.numbers LIMIT ${lit.uint(pairs.length, 32)})`;
  return rawPartsSql(range, [...addresses.values()], pairs.map((p) => p.hour), sql`(c_address, toUInt32(hour)) IN ${set} OR (s_address, toUInt32(hour)) IN ${set}`, true);
}

/**
 * Raw flows of the range oriented as the rollup orients them (server_side), those `match` keeps,
 * by client port and hour, or with exactTime by the second. The PREWHERE on the addresses lets
 * the primary key (hour, dst_addr, …) skip most granules; with `hours`, only those hours are read
 * (the key starts with the hour, so the other hours' granules are skipped and the partitions
 * outside [first, last] pruned).
 */
function rawPartsSql(range: TimeRange, addresses: readonly Uint8Array[], hours: readonly number[] | undefined, match: Sql, exactTime: boolean): Sql {
  const set = addressSetSql(addresses);
  let time = sql`time_received >= ${lit.dateTime(range.from)} AND time_received < ${lit.dateTime(range.to)}`;
  if (hours !== undefined && hours.length > 0) {
    const list = [...new Set(hours)].sort((a, b) => a - b);
    const first = list[0] as number;
    const last = list[list.length - 1] as number;
    time = sql`time_received >= ${lit.dateTime(first)} AND time_received < ${lit.dateTime(last + 3600)} AND toStartOfHour(time_received) IN ${lit.inList(list.map((h) => lit.dateTime(h)))}`;
  }
  // The unit rows are split by: the hour, or with exactTime the second the flow was received.
  const unit = exactTime ? sql`toUInt32(time_received)` : sql`toUInt32(hour)`;
  const seconds = sql`toUInt32(hour)`;
  const day = sql`toUInt32(intDiv(${seconds} - ${lit.uint(range.from, 32)}, 86400))`;
  const dayWords = Math.ceil(Math.ceil((range.to - range.from) / 86_400) / 32);
  const words = Array.from({ length: dayWords }, (_, w) => sql`groupBitOr(if(intDiv(${day}, 32) = ${lit.uint(w, 32)}, bitShiftLeft(toUInt64(1), ${day} % 32), toUInt64(0)))`);
  const hourOfDay = HOURS_OF_DAY.map((h) => sql`countIf(intDiv(${seconds} % 86400, 3600) = ${lit.uint(h, 8)})`);
  const dayOfWeek = DAYS_OF_WEEK.map((d) => sql`countIf((intDiv(${seconds}, 86400) + 3) % 7 = ${lit.uint(d, 8)})`);
  return sql`
    SELECT hex(c_address) AS o_client, hex(s_address) AS o_server, s_proto AS o_proto, s_port AS o_port, 1 AS o_hourly, any(${seconds}) AS o_hour,
           ${exactTime ? sql`k_unit AS o_time,` : sql``}
           count() AS o_flows, sum(bytes) AS o_bytes, sum(packets) AS o_packets, countIf(action = 'reject') AS o_rejected,
           countIf(s_proto = 6 AND bitAnd(tcp_flags, 18) = 2) AS o_syn, c_port AS o_port_min, c_port AS o_port_max, any(${seconds}) AS o_first, any(${seconds}) AS o_last,
           ${lit.array(words)} AS o_days, ${lit.array(hourOfDay)} AS o_hod, ${lit.array(dayOfWeek)} AS o_dow
    FROM (
      SELECT if(server_side = 'src', dst_addr, src_addr) AS c_address, if(server_side = 'src', src_addr, dst_addr) AS s_address, proto AS s_proto,
             if(server_side = 'src', src_port, dst_port) AS s_port, if(server_side = 'src', dst_port, src_port) AS c_port,
             toStartOfHour(time_received) AS hour, time_received, bytes, packets, action, tcp_flags
      FROM flows
      PREWHERE src_addr IN ${set} OR dst_addr IN ${set}
      WHERE ${time}
    )
    WHERE ${match}
    GROUP BY c_address, s_address, s_proto, s_port, c_port, ${unit} AS k_unit`;
}

/**
 * Conversation keys as one literal unpacked in the server — client and server (32 hex digits
 * each), proto (3 digits), port (5) and, with `hour`, the hour (10) — so that tens of thousands of
 * keys stay under 18.16's max_ast_elements (50,000), which a tuple literal per key would pass.
 */
function packedKeysSql(keys: readonly CheckedConversationKey[], withHour: boolean): Sql {
  const width = withHour ? 82 : 72;
  const text = keys
    .map((k) => `${Buffer.from(k.client).toString('hex')}${Buffer.from(k.server).toString('hex')}${String(k.proto).padStart(3, '0')}${String(k.servicePort).padStart(5, '0')}${withHour ? String(k.hour ?? 0).padStart(10, '0') : ''}`)
    .join('');
  const packed = lit.string(text);
  const at = (offset: number, length: number): Sql => sql`substring(${packed}, number * ${lit.uint(width, 32)} + ${lit.uint(offset + 1, 32)}, ${lit.uint(length, 32)})`;
  const hour = withHour ? sql`, toUInt32(${at(72, 10)})` : sql``;
  return sql`(SELECT toFixedString(unhex(${at(0, 32)}), 16), toFixedString(unhex(${at(32, 32)}), 16), toUInt8(${at(64, 3)}), toUInt16(${at(67, 5)})${hour} FROM system.numbers LIMIT ${lit.uint(keys.length, 32)})`;
}

/** Endpoints (address, proto, port) as one literal unpacked in the server, as packedKeysSql. */
function packedEndpointsSql(endpoints: readonly { address: Uint8Array; proto: number; port: number }[]): Sql {
  const text = endpoints.map((e) => `${Buffer.from(e.address).toString('hex')}${String(e.proto).padStart(3, '0')}${String(e.port).padStart(5, '0')}`).join('');
  const packed = lit.string(text);
  const at = (offset: number, length: number): Sql => sql`substring(${packed}, number * 40 + ${lit.uint(offset + 1, 32)}, ${lit.uint(length, 32)})`;
  return sql`(SELECT toFixedString(unhex(${at(0, 32)}), 16), toUInt8(${at(32, 3)}), toUInt16(${at(35, 5)}) FROM system.numbers LIMIT ${lit.uint(endpoints.length, 32)})`;
}

const SCRATCH_PREFIX = 'baseline_scratch_';

/**
 * A set of addresses as one hex literal split in the query: a literal per address would be
 * 100,000 AST nodes, over 18.16's max_ast_elements (50,000).
 */
function addressSetSql(addresses: readonly Uint8Array[]): Sql {
  const hex = lit.string(addresses.map((a) => Buffer.from(a).toString('hex')).join(''));
  return sql`(SELECT toFixedString(unhex(substring(${hex}, number * 32 + 1, 32)), 16) FROM system.numbers LIMIT ${lit.uint(addresses.length, 32)})`;
}

/**
 * Step 0 with splits: every hour of every split address's segments, with the segment's start
 * (j_address, j_hour, j_start), from one literal — 32 hex digits of address and two 10-digit
 * seconds per segment — expanded in the server.
 */
function segmentHoursSql(q: CheckedConversationQuery, table: Sql): Sql {
  const text = q.segments.map((g) => `${Buffer.from(g.address).toString('hex')}${String(g.from).padStart(10, '0')}${String(g.to).padStart(10, '0')}`).join('');
  const packed = lit.string(text);
  return sql`
    CREATE TABLE ${table} ENGINE = Memory AS
    SELECT g_address AS j_address, toUInt32(g_from + g_n * 3600) AS j_hour, g_from AS j_start
    FROM (
      SELECT toFixedString(unhex(substring(${packed}, number * 52 + 1, 32)), 16) AS g_address,
             toUInt32(substring(${packed}, number * 52 + 33, 10)) AS g_from, toUInt32(substring(${packed}, number * 52 + 43, 10)) AS g_to
      FROM system.numbers LIMIT ${lit.uint(q.segments.length, 32)}
    )
    ARRAY JOIN range(toUInt32(intDiv(g_to - g_from, 3600))) AS g_n`;
}

const SCRATCH_COLUMNS = sql`c_address, s_address, s_proto, s_port, k_hourly, k_hour, m_flows, m_bytes, m_packets, m_rejected, m_syn, c_port, m_port_max, m_first, m_last, m_days, m_hod, m_dow`;

/**
 * Step 1b with splits: the hourly rows of the raw scratch table folded into segments and added to
 * `conv` (which holds the raw table's whole-window rows). Each end's part starts at its hour
 * (hourly addresses), at its segment's start (split addresses; two ANY LEFT JOINs with the hour
 * table, 18.16 taking one per SELECT) or at 0 (neither); the row's part starts at the later one.
 * Sums add, bounds take their min or max, day bits OR, profile bins add.
 */
function segmentFoldSql(q: CheckedConversationQuery, raw: Sql, hours: Sql, conv: Sql): Sql {
  const hourly = q.hourly.length > 0 ? addressSetSql(q.hourly) : undefined;
  const start = (address: Sql, joined: Sql): Sql => (hourly === undefined ? joined : sql`if(${address} IN ${hourly}, k_hour, ${joined})`);
  const days = Array.from({ length: q.dayWords }, (_, w) => sql`groupBitOr(m_days[${lit.uint(w + 1, 32)}])`);
  const hod = HOURS_OF_DAY.map((h) => sql`sum(m_hod[${lit.uint(h + 1, 32)}])`);
  const dow = DAYS_OF_WEEK.map((d) => sql`sum(m_dow[${lit.uint(d + 1, 32)}])`);
  return sql`
    INSERT INTO ${conv}
    SELECT c_address, s_address, s_proto, s_port, k_hourly, greatest(${start(sql`c_address`, sql`a_start`)}, ${start(sql`s_address`, sql`b_start`)}) AS n_hour,
           sum(m_flows), sum(m_bytes), sum(m_packets), sum(m_rejected), sum(m_syn), min(c_port), max(m_port_max), min(m_first), max(m_last),
           ${lit.array(days)}, ${lit.array(hod)}, ${lit.array(dow)}
    FROM (
      SELECT ${SCRATCH_COLUMNS}, a_start, j_start AS b_start
      FROM (
        SELECT ${SCRATCH_COLUMNS}, a_start, s_address AS j_address, k_hour AS j_hour
        FROM (
          SELECT ${SCRATCH_COLUMNS}, j_start AS a_start
          FROM (SELECT ${SCRATCH_COLUMNS}, c_address AS j_address, k_hour AS j_hour FROM ${raw} WHERE k_hourly = 1)
          ANY LEFT JOIN ${hours} USING (j_address, j_hour)
        )
      )
      ANY LEFT JOIN ${hours} USING (j_address, j_hour)
    )
    GROUP BY c_address, s_address, s_proto, s_port, k_hourly, n_hour`;
}

/** The whole UTC days in [from, to), by their first second. */
function wholeDays(range: TimeRange): number[] {
  const days: number[] = [];
  for (let day = Math.ceil(range.from / DAY) * DAY; day + DAY <= range.to; day += DAY) days.push(day);
  return days;
}

/** One UTC day of flows_1h summed into flows_1d (aliases differ from column names: 18.16 would substitute sum(flows) inside the sumIf). */
function dailyRollSql(table: Sql, day: number): Sql {
  const hours = HOURS_OF_DAY.map((h) => sql`sumIf(flows, toUInt32(hour) = ${lit.uint(day + h * 3600, 32)}) AS ${identifier(`x_h${String(h).padStart(2, '0')}`)}`);
  return sql`
    INSERT INTO ${table} (day, client, server, proto, service_port, action, flows, bytes, packets, syn_flows, client_port_min, client_port_max,
                          ${joinSql(HOURS_OF_DAY.map((h) => identifier(`h${String(h).padStart(2, '0')}`)), ', ')})
    SELECT ${lit.dateTime(day)} AS x_day, client, server, proto, service_port, action, sum(flows) AS x_flows, sum(bytes) AS x_bytes, sum(packets) AS x_packets,
           sum(syn_flows) AS x_syn, minMergeState(client_port_min) AS x_port_min, maxMergeState(client_port_max) AS x_port_max, ${joinSql(hours, ', ')}
    FROM flows_1h WHERE hour >= ${lit.dateTime(day)} AND hour < ${lit.dateTime(day + DAY)}
    GROUP BY client, server, proto, service_port, action`;
}

/**
 * Step 1: the window's conversations into a Memory table — one aggregation over the rows of
 * flows_1h for the hours outside `daily` (partial days at the window's ends, days the daily
 * rollup does not have up to date) and for addresses split by hour or segment (hourly ones, split
 * ones: every hour of theirs), and the rows of flows_1d for the days in `daily` without those
 * addresses. Both sources give the same row shape: sums, port states, first and last hour, the
 * row's day bits, hour-of-day and weekday bins.
 */
function conversationsScratchSql(q: CheckedConversationQuery, table: Sql, daily: readonly number[]): Sql {
  const window = sql`hour >= ${lit.dateTime(q.from)} AND hour < ${lit.dateTime(q.to)}`;
  const byHour = [...q.hourly, ...new Map(q.segments.map((g) => [Buffer.from(g.address).toString('hex'), g.address])).values()];
  const set = byHour.length > 0 ? addressSetSql(byHour) : undefined;
  const inSet = set === undefined ? sql`0` : sql`client IN ${set} OR server IN ${set}`;
  const u64 = (value: Sql): Sql => sql`toUInt64(${value})`;
  const bit = (index: Sql): Sql[] =>
    Array.from({ length: q.dayWords }, (_, w) =>
      q.dayWords === 1 ? sql`bitShiftLeft(toUInt64(1), ${index})` : sql`if(intDiv(${index}, 32) = ${lit.uint(w, 32)}, bitShiftLeft(toUInt64(1), ${index} % 32), toUInt64(0))`,
    );
  const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const as = (values: readonly Sql[], prefix: string): Sql => joinSql(values.map((v, i) => sql`${v} AS ${identifier(`${prefix}${i}`)}`), ', ');
  const dayWords = names('n_w', q.dayWords);
  const hodNames = names('n_h', 24);
  const dowNames = names('n_d', 7);

  // Rows of flows_1h. Day d of the window, counted in 24-hour steps from range.from. UInt32,
  // because a signed shift count makes 18.16's bitShiftLeft signed too, which groupBitOr refuses.
  // UTC hour of day and weekday from the Unix second, not from date functions, which follow the
  // server's time zone. 1970-01-01 was a Thursday: day 0 + 3 is 3 (Monday = 0).
  const seconds = sql`toUInt32(hour)`;
  const hourDay = sql`toUInt32(intDiv(${seconds} - ${lit.uint(q.from, 32)}, 86400))`;
  const hourOfDay = sql`intDiv(${seconds} % 86400, 3600)`;
  const weekday = (unix: Sql): Sql => sql`(intDiv(${unix}, 86400) + 3) % 7`;
  const dailySet = daily.length > 0 ? lit.inList(daily.map((d) => lit.uint(d, 32))) : undefined;
  const hourRows = sql`
      SELECT client AS c_address, server AS s_address, proto AS s_proto, service_port AS s_port,
             materialize(toUInt8(${inSet})) AS k_hourly, materialize(if(k_hourly = 1, ${seconds}, toUInt32(0))) AS k_hour,
             flows AS n_flows, bytes AS n_bytes, packets AS n_packets, if(action = 'reject', flows, toUInt64(0)) AS n_rejected, syn_flows AS n_syn,
             client_port_min AS n_port_min, client_port_max AS n_port_max, ${seconds} AS n_first, ${seconds} AS n_last,
             ${as(bit(hourDay), 'n_w')},
             ${as(HOURS_OF_DAY.map((h) => sql`if(${hourOfDay} = ${lit.uint(h, 8)}, flows, toUInt64(0))`), 'n_h')},
             ${as(DAYS_OF_WEEK.map((d) => sql`if(${weekday(seconds)} = ${lit.uint(d, 8)}, flows, toUInt64(0))`), 'n_d')}
      FROM flows_1h WHERE ${window}${dailySet === undefined ? sql`` : sql` AND (NOT (intDiv(${seconds}, 86400) * 86400 IN ${dailySet}) OR ${inSet})`}`;

  let dayRows: Sql | undefined;
  if (dailySet !== undefined) {
    // Rows of flows_1d. A UTC day falls in window day q for its hours before the window's time of
    // day, and in day q + 1 after it (r hours, 0 when the window starts at midnight).
    const start = sql`toUInt32(day)`;
    const h = HOURS_OF_DAY.map((i) => identifier(`h${String(i).padStart(2, '0')}`));
    const r = ((DAY - (q.from % DAY)) % DAY) / 3600;
    const q0 = sql`toUInt32(intDiv(${start} - ${lit.uint(q.from, 32)}, 86400))`;
    const any = (hours: readonly Sql[]): Sql => sql`(${joinSql(hours.map((c) => sql`${c} > 0`), ' OR ')})`;
    const low = bit(q0);
    const words =
      r === 0
        ? low
        : (() => {
            const high = bit(sql`(${q0} + 1)`);
            return low.map((l, w) => sql`bitOr(if(${any(h.slice(0, 24 - r))}, ${l}, toUInt64(0)), if(${any(h.slice(24 - r))}, ${high[w] as Sql}, toUInt64(0)))`);
          })();
    const firstHour = sql`multiIf(${joinSql(h.slice(0, 23).map((c, i) => sql`${c} > 0, ${lit.uint(i, 8)}`), ', ')}, 23)`;
    const lastHour = sql`multiIf(${joinSql(h.slice(1).reverse().map((c, i) => sql`${c} > 0, ${lit.uint(23 - i, 8)}`), ', ')}, 0)`;
    dayRows = sql`
      SELECT client AS c_address, server AS s_address, proto AS s_proto, service_port AS s_port, materialize(toUInt8(0)) AS k_hourly, materialize(toUInt32(0)) AS k_hour,
             flows AS n_flows, bytes AS n_bytes, packets AS n_packets, if(action = 'reject', flows, toUInt64(0)) AS n_rejected, syn_flows AS n_syn,
             client_port_min AS n_port_min, client_port_max AS n_port_max,
             toUInt32(${start} + 3600 * ${firstHour}) AS n_first, toUInt32(${start} + 3600 * ${lastHour}) AS n_last,
             ${as(words, 'n_w')},
             ${as(h.map((c) => u64(c)), 'n_h')},
             ${as(DAYS_OF_WEEK.map((d) => sql`if(${weekday(start)} = ${lit.uint(d, 8)}, flows, toUInt64(0))`), 'n_d')}
      FROM flows_1d WHERE day IN ${lit.inList(daily.map((d) => lit.dateTime(d)))}${set === undefined ? sql`` : sql` AND NOT (${inSet})`}`;
  }
  const sums = (columns: readonly string[], fn: 'sum' | 'groupBitOr'): Sql => lit.array(columns.map((c) => (fn === 'sum' ? sql`sum(${identifier(c)})` : sql`groupBitOr(${identifier(c)})`)));
  return sql`
    CREATE TABLE ${table} ENGINE = Memory AS
    SELECT c_address, s_address, s_proto, s_port, k_hourly, k_hour,
           sum(n_flows) AS m_flows, sum(n_bytes) AS m_bytes, sum(n_packets) AS m_packets, sum(n_rejected) AS m_rejected, sum(n_syn) AS m_syn,
           minMerge(n_port_min) AS c_port, maxMerge(n_port_max) AS m_port_max, min(n_first) AS m_first, max(n_last) AS m_last,
           ${sums(dayWords, 'groupBitOr')} AS m_days, ${sums(hodNames, 'sum')} AS m_hod, ${sums(dowNames, 'sum')} AS m_dow
    FROM (${hourRows}${dayRows === undefined ? sql`` : sql`
      UNION ALL ${dayRows}`})
    GROUP BY c_address, s_address, s_proto, s_port, k_hourly, k_hour`;
}

/**
 * Step 2: the listener evidence of the endpoints conversations need (Store.conversations says
 * which: every server end, and the client end of conversations whose client kept one port) —
 * reading the evidence of every client's ephemeral port too took three times as long — over the
 * days of listenerEvidence(range): those starting in
 * [from, to), the first pair of conditions a coarser superset the partition and primary key prune
 * by. Per day first (merging each day's uniq states, which may sit in several unmerged rows),
 * then summed over the days.
 */
function evidenceScratchSql(q: CheckedConversationQuery, conv: Sql, table: Sql): Sql {
  const from = lit.dateTime(q.from);
  const lastDay = lit.dateTime(Math.min(q.to, LAST_DATED_SECOND));
  return sql`
    CREATE TABLE ${table} ENGINE = Memory AS
    SELECT address AS e_address, proto AS e_proto, port AS e_port, uniqMerge(peers) AS e_peers, uniqMerge(peer_ports) AS e_peer_ports, uniqExact(day) AS e_days
    FROM listener_evidence
    PREWHERE (address, proto, port) IN (SELECT s_address, s_proto, s_port FROM ${conv} UNION ALL SELECT c_address, s_proto, c_port FROM ${conv} WHERE c_port = m_port_max)
    WHERE day >= toDate(${from}) AND day <= toDate(${lastDay}) AND toDateTime(day) >= ${from} AND toDateTime(day) < ${lit.dateTime(q.to)}
    GROUP BY address, proto, port`;
}

/** Step 3: each conversation with the evidence of its server end, then of its client end (18.16: one JOIN per SELECT). */
function conversationsJoinSql(conv: Sql, evidence: Sql): Sql {
  const serverEnd = sql`
    SELECT *, e_peers AS s_peers, e_peer_ports AS s_peer_ports, e_days AS s_days
    FROM (SELECT *, s_address AS e_address, s_proto AS e_proto, s_port AS e_port FROM ${conv})
    ANY LEFT JOIN ${evidence} USING (e_address, e_proto, e_port)`;
  return sql`
    SELECT hex(c_address) AS o_client, hex(s_address) AS o_server, s_proto AS o_proto, s_port AS o_port, k_hourly AS o_hourly, k_hour AS o_hour,
           m_flows AS o_flows, m_bytes AS o_bytes, m_packets AS o_packets, m_rejected AS o_rejected, m_syn AS o_syn,
           c_port AS o_port_min, m_port_max AS o_port_max, m_first AS o_first, m_last AS o_last, m_days AS o_days, m_hod AS o_hod, m_dow AS o_dow,
           s_peers AS o_s_peers, s_peer_ports AS o_s_peer_ports, s_days AS o_s_days, e_peers AS o_c_peers, e_peer_ports AS o_c_peer_ports, e_days AS o_c_days
    FROM (
      SELECT c_address, s_address, s_proto, s_port, k_hourly, k_hour, m_flows, m_bytes, m_packets, m_rejected, m_syn, c_port, m_port_max, m_first, m_last,
             m_days, m_hod, m_dow, s_peers, s_peer_ports, s_days, c_address AS e_address, s_proto AS e_proto, c_port AS e_port
      FROM (${serverEnd})
    )
    ANY LEFT JOIN ${evidence} USING (e_address, e_proto, e_port)`;
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
