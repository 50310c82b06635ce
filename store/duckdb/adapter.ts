// The embedded store: one DuckDB database file under the data directory, owned by one process
// (DuckDB locks the file; a second process gets FLOWMAP_STORE_LOCKED and should go through the
// running server's API instead). Values reach SQL as bound parameters; column names only ever come
// from FLOW_COLUMNS or the AGGREGATE_KEYS whitelist.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  BIGINT,
  BLOB,
  blobValue,
  DuckDBInstance,
  LIST,
  listValue,
  UBIGINT,
  UINTEGER,
  USMALLINT,
  UTINYINT,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBMaterializedResult,
  type DuckDBType,
  type DuckDBValue,
  version as duckdbVersion,
} from '@duckdb/node-api';
import { COUNTER_COLUMNS, type InterfaceCounters } from '../../core/counters.js';
import { FLOW_COLUMNS, validateFlowBatch, type FlowBatch } from '../../core/flow.js';
import { FlowmapError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { MIGRATIONS_ROOT, pendingMigrations, readMigrations, runMigrations, type MigrationTarget } from '../migrate.js';
import type {
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
import { checkSearchQuery, runSearch } from '../search.js';
import { searchWindowQuery } from './search.js';

export interface DuckDBStoreConfig {
  /** Data directory; the database is `<dir>/flowmap.duckdb`. ':memory:' for a private in-memory store. */
  dataDir: string;
  /** Override of migrations/duckdb, for tests of the migrations runner. */
  migrationsDir?: string;
}

export const DUCKDB_FILE = 'flowmap.duckdb';

const DAY = 86_400;

/**
 * A batch is appended here first, then copied to flows and rolled up into flows_1h from here, all
 * in one transaction: the appender cannot tell the rollup which rows of flows are new. A temporary
 * table is private to the connection and never reaches the database file.
 */
const STAGING = 'flows_incoming';

/**
 * The rollup step: a staged batch's conversation-hours appended to flows_1h
 * (migrations/duckdb/0004_flows_1h.sql, 0007_flows_1h_ports.sql for the client port bounds and
 * bare-SYN count; tcp_flags & 18 = 2 is SYN without ACK).
 */
const ROLLUP_STAGED = `
  INSERT INTO flows_1h
  SELECT
    time_received // 3600 * 3600 AS hour,
    CASE WHEN server_side = 'src' THEN dst_addr ELSE src_addr END AS client,
    CASE WHEN server_side = 'src' THEN src_addr ELSE dst_addr END AS server,
    proto,
    CASE WHEN server_side = 'src' THEN src_port ELSE dst_port END AS service_port,
    action,
    count(*) AS flows,
    sum(bytes) AS bytes,
    sum(packets) AS packets,
    min(CASE WHEN server_side = 'src' THEN dst_port ELSE src_port END) AS client_port_min,
    max(CASE WHEN server_side = 'src' THEN dst_port ELSE src_port END) AS client_port_max,
    count(*) FILTER (WHERE proto = 6 AND tcp_flags & 18 = 2) AS syn_flows
  FROM ${STAGING}
  GROUP BY ALL`;

const HOURLY = '(client IN (SELECT address FROM hourly) OR server IN (SELECT address FROM hourly))';
const SPLIT = '(client IN (SELECT address FROM splits) OR server IN (SELECT address FROM splits))';
/** Where one end's part of a row starts: its hour (hourly address), its segment's start (split address), else 0. */
const endStart = (end: 'client' | 'server'): string =>
  `CASE WHEN ${end} IN (SELECT address FROM hourly) THEN hour ELSE coalesce((SELECT s.s_from FROM splits s WHERE s.address = ${end} AND s.s_from <= hour AND hour < s.s_to), 0) END`;

/**
 * The query behind `conversations` ($1 = from, $2 = to, $3/$4 = the listener_evidence bounds,
 * $5 = the hourly addresses): the window's rollup rows aggregated by conversation (and hour, for
 * rows with an hourly address), the endpoints they need evidence for, that evidence summed over
 * the window's days, and the two joined on. `conv` is MATERIALIZED because three parts read it.
 * Evidence is computed from the flows of the window's days on read (migrations/duckdb/0005), so
 * this reads them once; the SEMI JOIN keeps only the endpoints the conversations have. The
 * generated parts come from constants (24 hours, 7 weekdays, the window's day words), never from
 * request values.
 */

/**
 * Listener evidence of the endpoints in `wanted` (address, proto, port) over the days starting in
 * [first, end): distinct peers, peer ports and days over the whole window, as ClickHouse's merged
 * uniq states give them (migrations/duckdb/0005 on why it is computed from flows on read).
 */
function windowEvidence(first: string, end: string, wanted: string): string {
  const side = (address: string, port: string, peer: string, peerPort: string): string =>
    `SELECT time_received, ${address} AS address, proto, ${port} AS port, ${peer} AS peer, ${peerPort} AS peer_port FROM flows
     WHERE time_received >= ${first}::UBIGINT AND time_received < ${end}::UBIGINT AND proto IN (6, 17, 132)`;
  return `
    SELECT x.address, x.proto, x.port, count(DISTINCT x.peer)::UBIGINT AS peers, count(DISTINCT x.peer_port)::UBIGINT AS peer_ports, count(DISTINCT x.time_received // ${DAY}) AS days
    FROM (${side('src_addr', 'src_port', 'dst_addr', 'dst_port')} UNION ALL ${side('dst_addr', 'dst_port', 'src_addr', 'src_port')}) x
    SEMI JOIN ${wanted} n ON x.address = n.address AND x.proto = n.proto AND x.port = n.port
    GROUP BY x.address, x.proto, x.port`;
}

function conversationsSql(q: CheckedConversationQuery): string {
  const day = `(hour - $1) // ${DAY}`;
  const words = Array.from({ length: q.dayWords }, (_, w) => `bit_or(CASE WHEN ${day} // 32 = ${w} THEN (1::UBIGINT << (${day} % 32)::INTEGER) ELSE 0::UBIGINT END)`);
  const sum = (condition: string): string => `coalesce(sum(flows) FILTER (WHERE ${condition}), 0)::UBIGINT`;
  const hourOfDay = Array.from({ length: 24 }, (_, h) => sum(`hour % ${DAY} // 3600 = ${h}`));
  // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
  const dayOfWeek = Array.from({ length: 7 }, (_, d) => sum(`(hour // ${DAY} + 3) % 7 = ${d}`));
  return `
    WITH hourly AS (SELECT unnest($5::BLOB[]) AS address),
    splits AS (SELECT unnest($6::BLOB[]) AS address, unnest($7::UINTEGER[]) AS s_from, unnest($8::UINTEGER[]) AS s_to),
    conv AS MATERIALIZED (
      SELECT client, server, proto, service_port,
             (${HOURLY} OR ${SPLIT}) AS k_hourly, CASE WHEN ${HOURLY} OR ${SPLIT} THEN greatest(${endStart('client')}, ${endStart('server')}) ELSE 0 END AS k_hour,
             sum(flows)::UBIGINT AS m_flows, sum(bytes)::UBIGINT AS m_bytes, sum(packets)::UBIGINT AS m_packets,
             ${sum("action = 'reject'")} AS m_rejected, sum(syn_flows)::UBIGINT AS m_syn,
             min(client_port_min) AS m_port_min, max(client_port_max) AS m_port_max, min(hour) AS m_first, max(hour) AS m_last,
             [${words.join(', ')}] AS m_days, [${hourOfDay.join(', ')}] AS m_hod, [${dayOfWeek.join(', ')}] AS m_dow
      FROM flows_1h WHERE hour >= $1 AND hour < $2
      GROUP BY client, server, proto, service_port, k_hourly, k_hour
    ),
    endpoints AS (
      SELECT server AS address, proto, service_port AS port FROM conv
      UNION SELECT client, proto, m_port_min FROM conv WHERE m_port_min = m_port_max
    ),
    evidence AS (${windowEvidence('$3', '$4', 'endpoints')})
    SELECT hex(c.client) AS o_client, hex(c.server) AS o_server, c.proto AS o_proto, c.service_port AS o_port, c.k_hourly AS o_hourly, c.k_hour AS o_hour,
           m_flows AS o_flows, m_bytes AS o_bytes, m_packets AS o_packets, m_rejected AS o_rejected, m_syn AS o_syn,
           m_port_min AS o_port_min, m_port_max AS o_port_max, m_first AS o_first, m_last AS o_last, m_days AS o_days, m_hod AS o_hod, m_dow AS o_dow,
           coalesce(s.peers, 0) AS o_s_peers, coalesce(s.peer_ports, 0) AS o_s_peer_ports, coalesce(s.days, 0) AS o_s_days,
           coalesce(e.peers, 0) AS o_c_peers, coalesce(e.peer_ports, 0) AS o_c_peer_ports, coalesce(e.days, 0) AS o_c_days
    FROM conv c
    LEFT JOIN evidence s ON s.address = c.server AND s.proto = c.proto AND s.port = c.service_port
    LEFT JOIN evidence e ON e.address = c.client AND e.proto = c.proto AND e.port = c.m_port_min`;
}

/**
 * Raw flows of [$1, $2) with the rollup's orientation (migrations/duckdb/0004), those the `join`
 * keeps (a SEMI JOIN with the CTE `keys` declares), by client port and hour, or with exactTime by
 * the second: the drill-downs' rows.
 */
function rawPartsSql(range: TimeRange, exactTime: boolean, keys: string, join: string): string {
  const dayWords = Math.ceil(Math.ceil((range.to - range.from) / DAY) / 32);
  const day = `(f.hour - $1) // ${DAY}`;
  const words = Array.from({ length: dayWords }, (_, w) => `CASE WHEN ${day} // 32 = ${w} THEN (1::UBIGINT << (${day} % 32)::INTEGER) ELSE 0::UBIGINT END`);
  const hourOfDay = Array.from({ length: 24 }, (_, h) => `CASE WHEN f.hour % ${DAY} // 3600 = ${h} THEN count(*) ELSE 0 END::UBIGINT`);
  const dayOfWeek = Array.from({ length: 7 }, (_, d) => `CASE WHEN (f.hour // ${DAY} + 3) % 7 = ${d} THEN count(*) ELSE 0 END::UBIGINT`);
  return `${keys}
       f AS (
         SELECT CASE WHEN server_side = 'src' THEN dst_addr ELSE src_addr END AS client,
                CASE WHEN server_side = 'src' THEN src_addr ELSE dst_addr END AS server, proto,
                CASE WHEN server_side = 'src' THEN src_port ELSE dst_port END AS service_port,
                CASE WHEN server_side = 'src' THEN dst_port ELSE src_port END AS client_port,
                time_received // 3600 * 3600 AS hour, ${exactTime ? 'time_received' : 'time_received // 3600 * 3600'} AS unit, bytes, packets, action, tcp_flags
         FROM flows WHERE time_received >= $1 AND time_received < $2
       )
       SELECT hex(f.client) AS o_client, hex(f.server) AS o_server, f.proto AS o_proto, f.service_port AS o_port, true AS o_hourly, f.hour AS o_hour,
              ${exactTime ? 'f.unit AS o_time,' : ''}
              count(*)::UBIGINT AS o_flows, sum(f.bytes)::UBIGINT AS o_bytes, sum(f.packets)::UBIGINT AS o_packets,
              (count(*) FILTER (WHERE f.action = 'reject'))::UBIGINT AS o_rejected, (count(*) FILTER (WHERE f.proto = 6 AND (f.tcp_flags & 18) = 2))::UBIGINT AS o_syn,
              f.client_port AS o_port_min, f.client_port AS o_port_max, f.hour AS o_first, f.hour AS o_last,
              [${words.join(', ')}] AS o_days, [${hourOfDay.join(', ')}] AS o_hod, [${dayOfWeek.join(', ')}] AS o_dow
       FROM f ${join}
       GROUP BY f.client, f.server, f.proto, f.service_port, f.client_port, f.hour, f.unit`;
}

/** Parameter types of one exporter upsert: lists cannot be inferred from an empty array. */
const EXPORTER_TYPES: DuckDBType[] = [VARCHAR, BLOB, UINTEGER, UINTEGER, UBIGINT, UBIGINT, UINTEGER, LIST(UINTEGER), LIST(VARCHAR), LIST(UBIGINT), UINTEGER];

export async function createDuckDBStore(config: DuckDBStoreConfig, deps: { logger: Logger }): Promise<Store> {
  let path = ':memory:';
  if (config.dataDir !== ':memory:') {
    const dir = resolve(config.dataDir);
    mkdirSync(dir, { recursive: true });
    path = join(dir, DUCKDB_FILE);
  }
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/lock/i.test(message)) {
      throw new FlowmapError(
        'FLOWMAP_STORE_LOCKED',
        `${path} is open in another flowmap process (embedded mode has one owner); stop it first, or use the running server's HTTP API`,
        { details: { path }, cause: err },
      );
    }
    throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `cannot open ${path}: ${message}`, { details: { path }, cause: err });
  }
  const connection = await instance.connect();
  deps.logger.debug({ path }, 'embedded store opened');
  return new DuckDBStore(instance, connection, path, config);
}

/** Serializes work on the single connection: DuckDB statements on one connection must not interleave. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

class DuckDBStore implements Store {
  readonly kind = 'duckdb' as const;
  readonly meta: MetaStore;
  private readonly serial = new Serial();
  private closed = false;
  private probe: DuckDBConnection | undefined;
  /** Whether this connection has created the staging table (it must follow the flows schema). */
  private staging = false;

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly path: string,
    private readonly config: DuckDBStoreConfig,
  ) {
    this.meta = new DuckDBMeta(this);
  }

  async rows(sql: string, params: DuckDBValue[] = [], types?: DuckDBType[]): Promise<Record<string, unknown>[]> {
    return this.serial.run(async () => {
      this.assertOpen();
      const reader = types === undefined ? await this.connection.runAndReadAll(sql, params) : await this.connection.runAndReadAll(sql, params, types);
      return reader.getRowObjectsJS();
    });
  }

  async run(sql: string, params: DuckDBValue[] = []): Promise<void> {
    await this.serial.run(async () => {
      this.assertOpen();
      await this.connection.run(sql, params);
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `embedded store ${this.path} is closed`);
  }

  private migrationTarget(): MigrationTarget {
    return {
      ensureLedger: () =>
        this.run('CREATE TABLE IF NOT EXISTS schema_migrations (version UINTEGER PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL, applied_at UINTEGER NOT NULL)'),
      applied: async (): Promise<AppliedMigration[]> =>
        (await this.rows('SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version')).map((r) => ({
          version: Number(r.version),
          name: String(r.name),
          checksum: String(r.checksum),
          appliedAt: new Date(Number(r.applied_at) * 1000),
        })),
      execute: (statement) => this.run(statement),
      record: (m) => this.run('INSERT INTO schema_migrations VALUES ($1, $2, $3, $4)', [m.version, m.name, m.checksum, Math.floor(Date.now() / 1000)]),
    };
  }

  private migrationsDir(): string {
    return this.config.migrationsDir ?? join(MIGRATIONS_ROOT, 'duckdb');
  }

  async migrate(): Promise<MigrationReport> {
    const dir = this.migrationsDir();
    const report = await runMigrations(this.migrationTarget(), readMigrations(dir), dir);
    // A migration may have changed the flows columns the staging table copies.
    if (report.applied.length > 0) {
      await this.run(`DROP TABLE IF EXISTS temp.${STAGING}`);
      this.staging = false;
    }
    return report;
  }

  /** Runs `work` in a transaction on the connection, rolled back when it throws. Call inside serial. */
  private async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.connection.run('BEGIN TRANSACTION');
    try {
      const result = await work();
      await this.connection.run('COMMIT');
      return result;
    } catch (err) {
      await this.connection.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async pendingMigrations(): Promise<string[]> {
    const dir = this.migrationsDir();
    return (await pendingMigrations(this.migrationTarget(), readMigrations(dir), dir)).map((m) => m.name);
  }

  async insertFlows(batch: FlowBatch): Promise<void> {
    const problem = validateFlowBatch(batch);
    if (problem !== undefined) throw new FlowmapError('FLOWMAP_BATCH_INVALID', `flow batch refused: ${problem}`, { status: 400 });
    if (batch.length === 0) return;
    await this.serial.run(async () => {
      this.assertOpen();
      if (!this.staging) {
        await this.connection.run(`CREATE TEMP TABLE IF NOT EXISTS ${STAGING} AS SELECT * FROM flows LIMIT 0`);
        this.staging = true;
      }
      await this.transaction(async () => {
        await this.appendStaged(batch);
        await this.connection.run(`INSERT INTO flows SELECT * FROM ${STAGING}`);
        await this.connection.run(ROLLUP_STAGED);
        await this.connection.run(`DELETE FROM ${STAGING}`);
      });
    });
  }

  private async appendStaged(batch: FlowBatch): Promise<void> {
    const appender = await this.connection.createAppender(STAGING, null, 'temp');
    try {
      const columns = batch.columns as unknown as Record<string, ArrayLike<number> | string[]>;
      for (let i = 0; i < batch.length; i++) {
        for (const spec of FLOW_COLUMNS) {
          const column = columns[spec.name] as ArrayLike<number> & string[];
          switch (spec.kind) {
            case 'datetime':
            case 'u32':
              appender.appendUInteger(column[i] ?? 0);
              break;
            case 'u16':
              appender.appendUSmallInt(column[i] ?? 0);
              break;
            case 'u8':
              appender.appendUTinyInt(column[i] ?? 0);
              break;
            case 'u64':
              appender.appendUBigInt(BigInt(column[i] ?? 0));
              break;
            case 'address':
              appender.appendBlob((column as unknown as Uint8Array).subarray(i * 16, i * 16 + 16));
              break;
            case 'enum':
              appender.appendVarchar(spec.values[column[i] ?? 0] ?? '');
              break;
            case 'string':
              appender.appendVarchar(column[i] ?? '');
              break;
          }
        }
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  async flowTotals(range: TimeRange): Promise<FlowTotals> {
    checkRange(range);
    const [row] = await this.rows(
      'SELECT count(*) AS flows, coalesce(sum(bytes), 0)::UBIGINT AS bytes, coalesce(sum(packets), 0)::UBIGINT AS packets FROM flows WHERE time_received >= $1 AND time_received < $2',
      [range.from, range.to],
    );
    return { flows: Number(row?.flows ?? 0), bytes: Number(row?.bytes ?? 0), packets: Number(row?.packets ?? 0) };
  }

  async aggregateFlows(query: FlowAggregateQuery): Promise<FlowAggregateRow[]> {
    const { keys, limit, orderBy } = checkAggregateQuery(query);
    // Keys are whitelisted column names (checkAggregateQuery); addresses come out as hex.
    const select = keys.map((k) =>
      ADDRESS_KEYS.has(k) ? `hex(${k}) AS k_${k}` : k === 'source' || k === 'action' || k === 'server_side' ? `${k}::VARCHAR AS k_${k}` : `${k} AS k_${k}`,
    );
    const groupBy = keys.length > 0 ? `GROUP BY ${keys.map((k) => `k_${k}`).join(', ')}` : '';
    const order = [`${orderBy} DESC`, ...keys.map((k) => `k_${k} ASC`)].join(', ');
    const rows = await this.rows(
      `SELECT ${[...select, 'count(*) AS flows', 'sum(bytes)::UBIGINT AS bytes', 'sum(packets)::UBIGINT AS packets'].join(', ')}
       FROM flows WHERE time_received >= $1 AND time_received < $2 ${groupBy}
       HAVING count(*) > 0 ORDER BY ${order} LIMIT ${limit}`,
      [query.range.from, query.range.to],
    );
    return rows.map((r) => toAggregateRow(r, keys));
  }

  async readFlows(range: TimeRange, options: { limit?: number } = {}): Promise<FlowBatch> {
    checkRange(range);
    const limit = checkReadLimit(options.limit);
    const select = FLOW_COLUMNS.map((c) =>
      c.kind === 'address' ? `hex(${c.name}) AS c_${c.name}` : c.kind === 'enum' ? `${c.name}::VARCHAR AS c_${c.name}` : `${c.name} AS c_${c.name}`,
    );
    const rows = await this.rows(
      `SELECT ${select.join(', ')} FROM flows WHERE time_received >= $1 AND time_received < $2 ORDER BY ${READ_ORDER.join(', ')} LIMIT ${limit}`,
      [range.from, range.to],
    );
    return batchFromRows(rows);
  }

  async compactDays(range: TimeRange): Promise<number[]> {
    checkRange(range);
    // No daily rollup here: conversations reads flows_1h (migrations/duckdb/0009_flows_1d.sql).
    return [];
  }

  async rollupTotals(range: TimeRange): Promise<FlowTotals> {
    checkRange(range);
    const [row] = await this.rows(
      'SELECT coalesce(sum(flows), 0)::UBIGINT AS flows, coalesce(sum(bytes), 0)::UBIGINT AS bytes, coalesce(sum(packets), 0)::UBIGINT AS packets FROM flows_1h WHERE hour >= $1 AND hour < $2',
      [range.from, range.to],
    );
    return { flows: Number(row?.flows ?? 0), bytes: Number(row?.bytes ?? 0), packets: Number(row?.packets ?? 0) };
  }

  async aggregateRollup(query: RollupAggregateQuery): Promise<RollupAggregateRow[]> {
    const { keys, limit, orderBy } = checkRollupQuery(query);
    // Keys are whitelisted column names (checkRollupQuery); addresses come out as hex.
    const select = keys.map((k) => (ROLLUP_ADDRESS_KEYS.has(k) ? `hex(${k}) AS k_${k}` : k === 'action' ? `${k}::VARCHAR AS k_${k}` : `${k} AS k_${k}`));
    const groupBy = keys.length > 0 ? `GROUP BY ${keys.map((k) => `k_${k}`).join(', ')}` : '';
    const order = [`m_${orderBy} DESC`, ...keys.map((k) => `k_${k} ASC`)].join(', ');
    const rows = await this.rows(
      `SELECT ${[...select, 'sum(flows)::UBIGINT AS m_flows', 'sum(bytes)::UBIGINT AS m_bytes', 'sum(packets)::UBIGINT AS m_packets'].join(', ')}
       FROM flows_1h WHERE hour >= $1 AND hour < $2 ${groupBy}
       HAVING count(*) > 0 ORDER BY ${order} LIMIT ${limit}`,
      [query.range.from, query.range.to],
    );
    return rows.map((r) => toRollupRow(r, keys));
  }

  async recordListenerEvidence(range: TimeRange): Promise<void> {
    // Nothing to record: the embedded store computes evidence from flows when it is read.
    checkRange(range);
  }

  async listenerEvidence(range: TimeRange, options: ListenerEvidenceQuery = {}): Promise<ListenerEvidence[]> {
    checkRange(range);
    const { minPeers, minPeerPorts, limit } = checkEvidenceQuery(options);
    // listener_evidence is a table macro over flows (migrations/duckdb/0005) taking time bounds:
    // the days starting in [from, to) hold exactly the flows from the first day start at or
    // after `from` to the first day start at or after `to`.
    const first = Math.ceil(range.from / DAY) * DAY;
    const end = Math.ceil(range.to / DAY) * DAY;
    const rows = await this.rows(
      `SELECT day AS c_day, hex(address) AS c_address, proto AS c_proto, port AS c_port, peers AS c_peers, peer_ports AS c_peer_ports
       FROM listener_evidence($1::UBIGINT, $2::UBIGINT) WHERE peers >= $3 AND peer_ports >= $4
       ORDER BY peer_ports DESC, address, port, proto, day LIMIT ${limit}`,
      [first, end, minPeers, minPeerPorts],
    );
    return evidenceFromRows(rows);
  }

  async flowDays(): Promise<number[]> {
    // From the rollup, which insertFlows and retention keep in step with flows: it has a row per
    // conversation-hour rather than per flow.
    const rows = await this.rows(`SELECT DISTINCT hour // ${DAY} * ${DAY} AS day FROM flows_1h ORDER BY day`);
    return rows.map((r) => Number(r.day));
  }

  async dropDaysBefore(cutoff: number): Promise<number[]> {
    checkCutoff(cutoff);
    const before = Math.floor(cutoff / DAY) * DAY;
    return this.serial.run(async () => {
      this.assertOpen();
      return this.transaction(async () => {
        const found = await this.connection.runAndReadAll(
          `SELECT day FROM (
             SELECT time_received // ${DAY} * ${DAY} AS day FROM flows WHERE time_received < $1
             UNION SELECT hour // ${DAY} * ${DAY} FROM flows_1h WHERE hour < $1
             UNION SELECT time // ${DAY} * ${DAY} FROM interface_counters WHERE time < $1
           ) ORDER BY day`,
          [before],
        );
        await this.connection.run('DELETE FROM flows WHERE time_received < $1', [before]);
        await this.connection.run('DELETE FROM flows_1h WHERE hour < $1', [before]);
        await this.connection.run('DELETE FROM interface_counters WHERE time < $1', [before]);
        return found.getRowObjectsJS().map((r) => Number(r.day));
      });
    });
  }

  conversations(query: ConversationQuery): AsyncIterable<ConversationRow[]> {
    // Checked here, before the first chunk is asked for, so a bad query throws at the call.
    const checked = checkConversationQuery(query);
    return this.streamConversations(checked);
  }

  private async *streamConversations(q: CheckedConversationQuery): AsyncGenerator<ConversationRow[]> {
    if (q.from === q.to) return;
    // Evidence of the days starting in [from, to), as listenerEvidence(range) selects them.
    const first = Math.ceil(q.from / DAY) * DAY;
    const end = Math.ceil(q.to / DAY) * DAY;
    // The whole answer is materialized (by DuckDB, outside the JS heap) before the connection is
    // given back: a consumer that calls the store while iterating must not wait behind its own
    // unfinished query. Rows become JS objects one chunk at a time.
    const result: DuckDBMaterializedResult = await this.serial.run(async () => {
      this.assertOpen();
      const segments = q.segments;
      return this.connection.run(
        conversationsSql(q),
        [
          q.from,
          q.to,
          first,
          end,
          listValue(q.hourly.map((a) => blobValue(a))),
          listValue(segments.map((g) => blobValue(g.address))),
          listValue(segments.map((g) => g.from)),
          listValue(segments.map((g) => g.to)),
        ],
        [UINTEGER, UINTEGER, UBIGINT, UBIGINT, LIST(BLOB), LIST(BLOB), LIST(UINTEGER), LIST(UINTEGER)],
      );
    });
    let chunk: ConversationRow[] = [];
    for await (const rows of result.yieldRowObjectJs()) {
      for (const row of rows) {
        chunk.push(conversationFromRow(row));
        if (chunk.length >= CONVERSATION_CHUNK) {
          yield chunk;
          chunk = [];
        }
      }
    }
    if (chunk.length > 0) yield chunk;
  }

  async conversationsByClientPort(range: TimeRange, keys: readonly ConversationKey[], options: { exactTime?: boolean } = {}): Promise<ConversationRow[]> {
    const checked = checkDrillQuery(range, keys);
    if (checked.length === 0 || range.from === range.to) return [];
    // The asked conversations (of one hour where the key names one: hour -1 is the whole window).
    const rows = await this.rows(
      rawPartsSql(
        range,
        options.exactTime === true,
        'WITH k AS (SELECT unnest($3::BLOB[]) AS client, unnest($4::BLOB[]) AS server, unnest($5::UTINYINT[]) AS proto, unnest($6::USMALLINT[]) AS port, unnest($7::BIGINT[]) AS hour),',
        'SEMI JOIN k ON f.client = k.client AND f.server = k.server AND f.proto = k.proto AND f.service_port = k.port AND (k.hour = -1 OR k.hour = f.hour)',
      ),
      [
        range.from,
        range.to,
        listValue(checked.map((k) => blobValue(k.client))),
        listValue(checked.map((k) => blobValue(k.server))),
        listValue(checked.map((k) => k.proto)),
        listValue(checked.map((k) => k.servicePort)),
        listValue(checked.map((k) => BigInt(k.hour ?? -1))),
      ],
      [UINTEGER, UINTEGER, LIST(BLOB), LIST(BLOB), LIST(UTINYINT), LIST(USMALLINT), LIST(BIGINT)],
    );
    return rows.map((r) => conversationFromRow(r));
  }

  async conversationsOfAddressHours(range: TimeRange, pairs: readonly AddressHour[]): Promise<ConversationRow[]> {
    const checked = checkAddressHours(range, pairs);
    if (checked.length === 0) return [];
    const rows = await this.rows(
      rawPartsSql(
        range,
        true,
        'WITH p AS (SELECT unnest($3::BLOB[]) AS address, unnest($4::BIGINT[]) AS hour),',
        'SEMI JOIN p ON p.hour = f.hour AND (p.address = f.client OR p.address = f.server)',
      ),
      [range.from, range.to, listValue(checked.map((p) => blobValue(p.address))), listValue(checked.map((p) => BigInt(p.hour)))],
      [UINTEGER, UINTEGER, LIST(BLOB), LIST(BIGINT)],
    );
    return rows.map((r) => conversationFromRow(r));
  }

  async endpointEvidence(range: TimeRange, endpoints: readonly Endpoint[]): Promise<(Endpoint & EndpointEvidence)[]> {
    const checked = checkEndpoints(range, endpoints);
    if (checked.length === 0) return [];
    // Days starting in [from, to), as listenerEvidence(range) and conversations select them.
    const first = Math.ceil(range.from / DAY) * DAY;
    const end = Math.ceil(range.to / DAY) * DAY;
    const rows = await this.rows(
      `WITH w AS (SELECT unnest($3::BLOB[]) AS address, unnest($4::UTINYINT[]) AS proto, unnest($5::USMALLINT[]) AS port),
       e AS (${windowEvidence('$1', '$2', 'w')})
       SELECT hex(address) AS c_address, proto AS c_proto, port AS c_port, peers AS c_peers, peer_ports AS c_peer_ports, days AS c_days FROM e`,
      [first, end, listValue(checked.map((e) => blobValue(e.address))), listValue(checked.map((e) => e.proto)), listValue(checked.map((e) => e.port))],
      [UBIGINT, UBIGINT, LIST(BLOB), LIST(UTINYINT), LIST(USMALLINT)],
    );
    return endpointEvidenceFromRows(checked, rows);
  }

  async insertBaselineHosts(baseline: string, rows: readonly BaselineHostRow[]): Promise<void> {
    const checked = checkBaselineHosts(baseline, rows);
    if (checked.length === 0) return;
    await this.serial.run(async () => {
      this.assertOpen();
      // The appender writes in the connection's transaction: the chunk lands whole or not at all.
      await this.transaction(async () => {
        const appender = await this.connection.createAppender('baseline_hosts');
        try {
          for (const { row, client, server } of checked) {
            appender.appendVarchar(baseline);
            appender.appendVarchar(row.edge);
            appender.appendBlob(client);
            appender.appendBlob(server);
            appender.appendUTinyInt(row.proto);
            appender.appendUSmallInt(row.port);
            appender.appendUBigInt(BigInt(row.flows));
            appender.appendUBigInt(BigInt(row.bytes));
            appender.appendUBigInt(BigInt(row.packets));
            appender.appendUInteger(row.firstSeen);
            appender.appendUInteger(row.lastSeen);
            appender.appendUSmallInt(row.daysSeen);
            appender.appendVarchar(row.rule);
            appender.endRow();
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
      });
    });
  }

  async baselineHosts(baseline: string, edge: string, options: { limit?: number } = {}): Promise<BaselineHostRow[]> {
    const limit = checkBaselineHostsQuery(baseline, edge, options.limit);
    const rows = await this.rows(
      `SELECT edge AS c_edge, hex(client) AS c_client, hex(server) AS c_server, proto AS c_proto, port AS c_port, flows AS c_flows, bytes AS c_bytes,
              packets AS c_packets, first_seen AS c_first_seen, last_seen AS c_last_seen, days_seen AS c_days_seen, rule AS c_rule
       FROM baseline_hosts WHERE baseline = $1 AND edge = $2
       ORDER BY bytes DESC, client, server, port, proto LIMIT ${limit}`,
      [baseline, edge],
    );
    return baselineHostsFromRows(rows);
  }

  async dropBaselineHosts(baseline: string): Promise<void> {
    checkBaselineName(baseline);
    await this.run('DELETE FROM baseline_hosts WHERE baseline = $1', [baseline]);
  }

  async upsertExporters(rows: readonly ExporterStatus[]): Promise<void> {
    const addresses = checkExporterStatus(rows);
    if (rows.length === 0) return;
    const writes = exporterRows(rows, addresses);
    await this.serial.run(async () => {
      this.assertOpen();
      await this.transaction(async () => {
        for (const { status, exporter, errorReasons, errorCounts } of writes) {
          // An older report (smaller updated_at) leaves the stored row alone, as ClickHouse's
          // ReplacingMergeTree(updated_at) would keep the newer one.
          await this.connection.run(
            `INSERT INTO exporters VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (collector, exporter) DO UPDATE SET
               first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, datagrams = EXCLUDED.datagrams, flows = EXCLUDED.flows,
               templates = EXCLUDED.templates, sampling_rates = EXCLUDED.sampling_rates, error_reasons = EXCLUDED.error_reasons,
               error_counts = EXCLUDED.error_counts, updated_at = EXCLUDED.updated_at
             WHERE EXCLUDED.updated_at >= exporters.updated_at`,
            [
              status.collector,
              blobValue(exporter),
              status.firstSeen,
              status.lastSeen,
              BigInt(status.datagrams),
              BigInt(status.flows),
              status.templates,
              listValue(status.samplingRates),
              listValue(errorReasons),
              listValue(errorCounts.map(BigInt)),
              status.updatedAt,
            ],
            EXPORTER_TYPES,
          );
        }
      });
    });
  }

  async listExporters(): Promise<ExporterStatus[]> {
    const rows = await this.rows(
      `SELECT collector AS c_collector, hex(exporter) AS c_exporter, first_seen AS c_first_seen, last_seen AS c_last_seen, datagrams AS c_datagrams,
              flows AS c_flows, templates AS c_templates, sampling_rates AS c_sampling_rates, error_reasons AS c_error_reasons,
              error_counts AS c_error_counts, updated_at AS c_updated_at
       FROM exporters ORDER BY collector, exporter`,
    );
    return exportersFromRows(rows);
  }

  async insertInterfaceCounters(rows: readonly InterfaceCounters[]): Promise<void> {
    checkInterfaceCounters(rows);
    if (rows.length === 0) return;
    await this.serial.run(async () => {
      this.assertOpen();
      const appender = await this.connection.createAppender('interface_counters');
      try {
        for (const row of rows) {
          appender.appendUInteger(row.time);
          appender.appendBlob(row.exporter);
          appender.appendUInteger(row.observationDomain);
          appender.appendUInteger(row.ifIndex);
          for (const [field] of COUNTER_COLUMNS.slice(1)) appender.appendUBigInt(BigInt(row[field]));
          appender.endRow();
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
    });
  }

  async readInterfaceCounters(range: TimeRange, options: { limit?: number } = {}): Promise<InterfaceCounters[]> {
    checkRange(range);
    const limit = checkReadLimit(options.limit);
    const columns = COUNTER_COLUMNS.map(([, column]) => column).join(', ');
    const rows = await this.rows(
      `SELECT time AS c_time, hex(exporter) AS c_exporter, observation_domain, ${columns} FROM interface_counters
       WHERE time >= $1 AND time < $2 ORDER BY time, exporter, observation_domain, if_index LIMIT ${limit}`,
      [range.from, range.to],
    );
    return countersFromRows(rows);
  }

  async searchFlows(query: FlowSearchQuery): Promise<FlowSearchPage> {
    const checked = checkSearchQuery(query);
    return runSearch(checked, (window, count) => {
      const { sql, params, types } = searchWindowQuery(checked, window, count);
      return this.rows(sql, params, types);
    });
  }

  /**
   * Answers on a connection of its own, so a long query on the main connection does not make the
   * embedded store look unavailable to /readyz.
   */
  async ping(): Promise<void> {
    this.assertOpen();
    this.probe ??= await this.instance.connect();
    await this.probe.run('SELECT 1');
  }

  version(): Promise<string> {
    return Promise.resolve(duckdbVersion());
  }

  async close(): Promise<void> {
    await this.serial.run(() => {
      if (this.closed) return Promise.resolve();
      this.closed = true;
      this.probe?.closeSync();
      this.connection.closeSync();
      this.instance.closeSync();
      return Promise.resolve();
    });
  }
}

function toAggregateRow(r: Record<string, unknown>, keys: readonly string[]): FlowAggregateRow {
  const key: FlowAggregateRow['key'] = {};
  for (const k of keys) {
    const value = r[`k_${k}`];
    if (ADDRESS_KEYS.has(k as never)) key[k as 'src_addr'] = addressFromHex(String(value));
    else if (k === 'source' || k === 'action' || k === 'server_side') key[k] = String(value);
    else key[k as 'proto'] = Number(value);
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

class DuckDBMeta implements MetaStore {
  constructor(private readonly store: DuckDBStore) {}

  async put(namespace: string, key: string, value: JsonValue): Promise<MetaEntry> {
    checkNamespaceKey(namespace, key);
    const version = nextVersion();
    await this.store.run('INSERT INTO meta VALUES ($1, $2, $3, $4, false, $5)', [
      namespace,
      key,
      BigInt(version),
      JSON.stringify(value),
      Math.floor(version / 1_000_000),
    ]);
    return { key, value, version, updatedAt: versionTime(version) };
  }

  async get(namespace: string, key: string): Promise<MetaEntry | undefined> {
    checkNamespaceKey(namespace, key);
    const [row] = await this.store.rows(
      'SELECT key, value, version, updated_at, deleted FROM meta WHERE namespace = $1 AND key = $2 ORDER BY version DESC LIMIT 1',
      [namespace, key],
    );
    return row === undefined || row.deleted === true ? undefined : toEntry(row);
  }

  async list(namespace: string, options: { prefix?: string; limit?: number } = {}): Promise<MetaEntry[]> {
    checkNamespaceKey(namespace);
    const prefix = options.prefix ?? '';
    const limit = checkMetaLimit(options.limit);
    const rows = await this.store.rows(
      `SELECT key, arg_max(value, version) AS value, max(version) AS version, arg_max(updated_at, version) AS updated_at, arg_max(deleted, version) AS deleted
       FROM meta WHERE namespace = $1 AND starts_with(key, $2) GROUP BY key HAVING NOT arg_max(deleted, version) ORDER BY key LIMIT ${limit}`,
      [namespace, prefix],
    );
    return rows.map(toEntry);
  }

  async history(namespace: string, key: string): Promise<MetaEntry[]> {
    checkNamespaceKey(namespace, key);
    const rows = await this.store.rows('SELECT key, value, version, updated_at, deleted FROM meta WHERE namespace = $1 AND key = $2 AND NOT deleted ORDER BY version', [namespace, key]);
    return rows.map(toEntry);
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    const live = await this.get(namespace, key);
    if (live === undefined) return false;
    const version = nextVersion();
    await this.store.run("INSERT INTO meta VALUES ($1, $2, $3, 'null', true, $4)", [namespace, key, BigInt(version), Math.floor(version / 1_000_000)]);
    return true;
  }
}

/** Metadata times are kept to the second, as ClickHouse DateTime does. */
function versionTime(version: number): Date {
  return new Date(Math.floor(version / 1_000_000) * 1000);
}

function toEntry(row: Record<string, unknown>): MetaEntry {
  return {
    key: String(row.key),
    value: JSON.parse(String(row.value)) as JsonValue,
    version: Number(row.version),
    updatedAt: new Date(Number(row.updated_at) * 1000),
  };
}
