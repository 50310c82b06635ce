// The Native insert path, checked against the migration text and a real ClickHouse: what is read
// back must equal what was put in, field by field, with expected values written from the input
// records, never from the encoder's output.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createClient, drainStream, type ClickHouseClient } from '@clickhouse/client';
import { createFlowBatch, flowBatchOf, FLOW_ACTIONS, FLOW_SOURCES, SERVER_SIDES, type FlowRecord } from '../../core/flow.js';
import { parseAddress } from '../../core/ip.js';
import { serviceUrl } from '../../test/services.js';
import { MIGRATIONS_ROOT, readMigrations } from '../migrate.js';
import { identifier, lit, sql, toText } from './literal.js';
import { encodeNative, insertFlowsNative, NATIVE_COLUMNS, NATIVE_INSERT } from './native.js';

const MIGRATIONS = join(MIGRATIONS_ROOT, 'clickhouse');
const A = (text: string): Uint8Array => parseAddress(text);
const U32_MAX = 0xffffffff;

/** Column lines of the CREATE TABLE in 0001_flows.sql, as written there: `    name Type,`. */
function migrationColumns(): { name: string; type: string }[] {
  const text = readFileSync(join(MIGRATIONS, '0001_flows.sql'), 'utf8');
  const body = text.slice(text.indexOf('(') + 1, text.indexOf('\n)'));
  return body
    .split('\n')
    .map((line) => /^\s+([a-z_]+) (.+?),?$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1] ?? '', type: m[2] ?? '' }));
}

// Each field's edge values; row i takes value i % n of each list, so every value of every field
// (every enum value included) appears in EDGE_ROWS rows.
const EDGES = {
  time: [0, 1, 1_763_000_000, 2 ** 31 - 1, 2 ** 31, U32_MAX],
  address: ['::', '::1', '0.0.0.0', '255.255.255.255', '10.0.0.1', '::ffff:192.0.2.1', '2001:db8::1', 'fe80::1:2:3:4', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:0:0'],
  u32: [0, 1, 127, 128, 65_535, 65_536, 2 ** 31, U32_MAX],
  u16: [0, 1, 255, 256, 4095, 65_535],
  u8: [0, 1, 6, 17, 127, 128, 255],
  u64: [0, 1, U32_MAX, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 7, 2 ** 52, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER],
  text: [
    '',
    'a',
    'eu-west-1',
    'tab\there',
    'new\nline',
    'back\\slash',
    'cr\rnul\0end',
    "quote'\"`",
    'ünïcødé-日本-🚀',
    '\\N',
    'x'.repeat(127),
    'y'.repeat(128),
    '語'.repeat(42), // 126 UTF-8 bytes: the longest with a one-byte length
    '語'.repeat(43), // 129 bytes: two-byte length
    'z'.repeat(300),
    'w'.repeat(20_000), // three-byte length
  ],
};
const EDGE_ROWS = 48;

function pick<T>(values: readonly T[], i: number, shift = 0): T {
  return values[(i + shift) % values.length] as T;
}

function edgeRecords(): FlowRecord[] {
  const records: FlowRecord[] = [];
  for (let i = 0; i < EDGE_ROWS; i++) {
    records.push({
      time_received: pick(EDGES.time, i),
      time_start: pick(EDGES.time, i, 1),
      time_end: pick(EDGES.time, i, 2),
      source: pick(FLOW_SOURCES, i),
      exporter: A(pick(EDGES.address, i)),
      observation_domain: pick(EDGES.u32, i),
      src_addr: A(pick(EDGES.address, i, 3)),
      dst_addr: A(pick(EDGES.address, i, 7)),
      src_port: pick(EDGES.u16, i),
      dst_port: pick(EDGES.u16, i, 1),
      proto: pick(EDGES.u8, i),
      tcp_flags: pick(EDGES.u8, i, 3),
      bytes: pick(EDGES.u64, i),
      packets: pick(EDGES.u64, i, 4),
      sampling_rate: pick(EDGES.u32, i, 1),
      in_if: pick(EDGES.u32, i, 2),
      out_if: pick(EDGES.u32, i, 5),
      vlan: pick(EDGES.u16, i, 4),
      action: pick(FLOW_ACTIONS, i),
      cloud_account: pick(EDGES.text, i),
      cloud_region: pick(EDGES.text, i, 3),
      cloud_vpc: pick(EDGES.text, i, 6),
      cloud_subnet: pick(EDGES.text, i, 9),
      cloud_instance: pick(EDGES.text, i, 12),
      cloud_interface: pick(EDGES.text, i, 15),
      server_side: pick(SERVER_SIDES, i),
    });
  }
  return records;
}

/** NetFlow-like rows from a fixed-seed generator: random addresses (a fifth IPv6) and ports. */
function manyRecords(count: number): FlowRecord[] {
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const address = (): Uint8Array => {
    const out = new Uint8Array(16);
    if (next() % 5 === 0) {
      for (let b = 0; b < 16; b += 4) new DataView(out.buffer).setUint32(b, next());
    } else {
      out[10] = 0xff;
      out[11] = 0xff;
      new DataView(out.buffer).setUint32(12, next());
    }
    return out;
  };
  const records: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const t = 1_763_000_000 + (next() % 86_400);
    records.push({
      time_received: t,
      time_start: t - (next() % 60),
      source: pick(FLOW_SOURCES, i),
      exporter: address(),
      observation_domain: next(),
      src_addr: address(),
      dst_addr: address(),
      src_port: next() & 0xffff,
      dst_port: next() & 0xffff,
      proto: next() & 0xff,
      tcp_flags: next() & 0xff,
      bytes: next() * 2048 + (next() % 2048),
      packets: next(),
      sampling_rate: 1 + (next() % 4096),
      in_if: next(),
      out_if: next(),
      vlan: next() & 0xfff,
      action: pick(FLOW_ACTIONS, i),
      cloud_account: i % 1000 === 0 ? `acct-${i}` : '',
      server_side: pick(SERVER_SIDES, i),
    });
  }
  return records;
}

type Row = Record<string, string | number>;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

/** A record as the read-back query presents it: times as Unix seconds, addresses hex, UInt64 as text. */
function expectedRow(r: FlowRecord): Row {
  return {
    time_received: r.time_received,
    time_start: r.time_start ?? r.time_received,
    time_end: r.time_end ?? r.time_received,
    source: r.source,
    exporter: hex(r.exporter),
    observation_domain: r.observation_domain ?? 0,
    src_addr: hex(r.src_addr),
    dst_addr: hex(r.dst_addr),
    src_port: r.src_port ?? 0,
    dst_port: r.dst_port ?? 0,
    proto: r.proto ?? 0,
    tcp_flags: r.tcp_flags ?? 0,
    bytes: String(r.bytes ?? 0),
    packets: String(r.packets ?? 0),
    sampling_rate: r.sampling_rate ?? 1,
    in_if: r.in_if ?? 0,
    out_if: r.out_if ?? 0,
    vlan: r.vlan ?? 0,
    action: r.action ?? 'unknown',
    cloud_account: r.cloud_account ?? '',
    cloud_region: r.cloud_region ?? '',
    cloud_vpc: r.cloud_vpc ?? '',
    cloud_subnet: r.cloud_subnet ?? '',
    cloud_instance: r.cloud_instance ?? '',
    cloud_interface: r.cloud_interface ?? '',
    server_side: r.server_side ?? 'unknown',
  };
}

const READ_BACK = `SELECT
  toUnixTimestamp(time_received) AS c_time_received, toUnixTimestamp(time_start) AS c_time_start, toUnixTimestamp(time_end) AS c_time_end,
  toString(source) AS c_source, hex(exporter) AS c_exporter, observation_domain AS c_observation_domain,
  hex(src_addr) AS c_src_addr, hex(dst_addr) AS c_dst_addr, src_port AS c_src_port, dst_port AS c_dst_port,
  proto AS c_proto, tcp_flags AS c_tcp_flags, toString(bytes) AS c_bytes, toString(packets) AS c_packets,
  sampling_rate AS c_sampling_rate, in_if AS c_in_if, out_if AS c_out_if, vlan AS c_vlan, toString(action) AS c_action,
  cloud_account AS c_cloud_account, cloud_region AS c_cloud_region, cloud_vpc AS c_cloud_vpc, cloud_subnet AS c_cloud_subnet,
  cloud_instance AS c_cloud_instance, cloud_interface AS c_cloud_interface, toString(server_side) AS c_server_side
FROM flows`;
const NUMERIC = new Set(['time_received', 'time_start', 'time_end', 'observation_domain', 'src_port', 'dst_port', 'proto', 'tcp_flags', 'sampling_rate', 'in_if', 'out_if', 'vlan']);

async function readBack(client: ClickHouseClient): Promise<Row[]> {
  const rows = await (await client.query({ query: READ_BACK, format: 'JSONEachRow' })).json<Record<string, unknown>>();
  return rows.map((raw) => {
    const row: Row = {};
    for (const [alias, value] of Object.entries(raw)) {
      const name = alias.slice(2);
      row[name] = NUMERIC.has(name) ? Number(value) : String(value);
    }
    return row;
  });
}

/** Both sides as multisets: sorted by their JSON text, then compared row by row. */
function assertSameRows(actual: Row[], expected: Row[]): void {
  assert.equal(actual.length, expected.length, 'row count');
  const sorted = (rows: Row[]): Row[] => rows.map((row) => [JSON.stringify(row), row] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
  const a = sorted(actual);
  const e = sorted(expected);
  for (let i = 0; i < e.length; i++) assert.deepEqual(a[i], e[i], `row ${i} (in sorted order)`);
}

describe('encodeNative', () => {
  it('declares the names and types that 0001_flows.sql creates, in its column order', () => {
    assert.deepEqual(NATIVE_COLUMNS, migrationColumns());
  });

  it('starts a block with the column count and the row count as VarUInts', () => {
    const batch = createFlowBatch(300);
    batch.length = 300;
    // 26 columns; 300 = 0b10_0101100 → 0xac 0x02 (LEB128).
    assert.deepEqual([...encodeNative(batch).subarray(0, 3)], [26, 0xac, 0x02]);
    assert.deepEqual([...encodeNative(batch, 100, 101).subarray(0, 2)], [26, 1]);
  });

  it('encodes a row range as it encodes a batch holding only those rows', () => {
    const records = edgeRecords();
    assert.deepEqual(encodeNative(flowBatchOf(records), 5, 29), encodeNative(flowBatchOf(records.slice(5, 29))));
  });

  it('refuses a row range outside the batch', () => {
    const batch = flowBatchOf(edgeRecords().slice(0, 3));
    for (const [start, end] of [[-1, 2], [2, 1], [0, 4], [0.5, 2]] as const) {
      assert.throws(() => encodeNative(batch, start, end), RangeError, `[${start}, ${end})`);
    }
  });
});

const clickhouse = serviceUrl('clickhouse');

describe('insertFlowsNative into ClickHouse', { skip: clickhouse.skip }, () => {
  const url = clickhouse.url ?? '';
  const server = createClient({ url });
  const databases: string[] = [];
  const clients: ClickHouseClient[] = [];

  /** A fresh database with every ClickHouse migration applied, and a client bound to it. */
  async function scratch(): Promise<{ client: ClickHouseClient; database: string }> {
    const database = `flowmap_native_${randomBytes(6).toString('hex')}`;
    databases.push(database);
    await server.command({ query: toText(sql`CREATE DATABASE ${identifier(database)}`) });
    const client = createClient({ url, database });
    clients.push(client);
    for (const migration of readMigrations(MIGRATIONS)) {
      for (const statement of migration.statements) await client.command({ query: statement });
    }
    return { client, database };
  }

  before(async () => {
    await server.ping();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const database of databases) await server.command({ query: toText(sql`DROP DATABASE IF EXISTS ${identifier(database)}`) });
    await server.close();
  });

  it('sends the names and types that system.columns reports for the migrated flows table', async () => {
    const { database } = await scratch();
    const query = toText(sql`SELECT name, type FROM system.columns WHERE database = ${lit.string(database)} AND table = 'flows'`);
    const rows = await (await server.query({ query, format: 'JSONEachRow' })).json<{ name: string; type: string }>();
    assert.deepEqual(rows, NATIVE_COLUMNS.map((c) => ({ name: c.name, type: c.type })));
  });

  it('stores every field exactly: extreme times, ports and counters, IPv6 and IPv4-mapped addresses, every enum value, hostile and long strings', async () => {
    const { client } = await scratch();
    const records = edgeRecords();
    // A lone surrogate has no UTF-8 form; as with Buffer.from, it is stored as U+FFFD.
    records.push({ time_received: 7, source: 'netflow5', exporter: A('192.0.2.7'), src_addr: A('192.0.2.8'), dst_addr: A('192.0.2.9'), cloud_vpc: 'half-\ud800-pair' });
    await insertFlowsNative(client, flowBatchOf(records));
    const expected = records.map(expectedRow);
    (expected.at(-1) as Row).cloud_vpc = 'half-\ufffd-pair';
    assertSameRows(await readBack(client), expected);
  });

  it('accepts an empty batch and a zero-row block, storing nothing for them', async () => {
    const { client } = await scratch();
    await insertFlowsNative(client, createFlowBatch(0));
    const records = edgeRecords().slice(0, 4);
    const batch = flowBatchOf(records);
    // A zero-row block alone, then one ahead of a block with the 4 rows.
    for (const blocks of [[encodeNative(batch, 2, 2)], [encodeNative(batch, 2, 2), encodeNative(batch)]]) {
      const result = await client.exec({ query: NATIVE_INSERT, values: Readable.from(blocks, { objectMode: false }) });
      await drainStream(result.stream);
    }
    assertSameRows(await readBack(client), records.map(expectedRow));
  });

  it('stores more than 65,535 rows, sent as one block and as several', async () => {
    const records = manyRecords(70_000);
    const expected = records.map(expectedRow);
    const batch = flowBatchOf(records);
    const oneBlock = (await scratch()).client;
    await insertFlowsNative(oneBlock, batch, 70_000);
    assertSameRows(await readBack(oneBlock), expected);
    const threeBlocks = (await scratch()).client;
    await insertFlowsNative(threeBlocks, batch, 30_000);
    assertSameRows(await readBack(threeBlocks), expected);
  });
});
