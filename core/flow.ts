// The flow record (DESIGN.md §4): one normalized record for every source. This file is the single
// definition of its columns; decoders fill `FlowBatch` columns and both store adapters derive their
// table columns and insert encoders from `FLOW_COLUMNS`, so adding a column is one edit here plus a
// migration.
//
// Records travel in columnar batches: one typed array per column, allocated once per batch, so the
// decoder hot path writes numbers at an index instead of allocating an object per flow.

export const FLOW_SOURCES = ['netflow5', 'netflow9', 'ipfix', 'sflow', 'aws_vpc', 'gcp_vpc', 'azure_nsg', 'azure_vnet'] as const;
export type FlowSource = (typeof FLOW_SOURCES)[number];

export const FLOW_ACTIONS = ['unknown', 'accept', 'reject'] as const;
export type FlowAction = (typeof FLOW_ACTIONS)[number];

export const SERVER_SIDES = ['unknown', 'src', 'dst'] as const;
export type ServerSide = (typeof SERVER_SIDES)[number];

/**
 * Column kinds and their in-memory representation:
 * - `datetime`: Unix seconds, Uint32Array (ClickHouse DateTime range, 1970–2106).
 * - `u8`/`u16`/`u32`: the matching unsigned typed array.
 * - `u64`: Float64Array. Exact for integers up to 2^53 (9 PB in one record), which no flow
 *   reaches even after sampling scaling, and it avoids BigInt on the hot path.
 * - `address`: 16 bytes per row in one Uint8Array (IPv4 as IPv4-mapped IPv6, ::ffff:a.b.c.d).
 * - `enum`: Uint8Array of indexes into `values`.
 * - `string`: string[] (cloud identifiers; empty where absent).
 */
export type ColumnKind = 'datetime' | 'u8' | 'u16' | 'u32' | 'u64' | 'address' | 'enum' | 'string';

export interface ColumnSpec {
  readonly name: string;
  readonly kind: ColumnKind;
  readonly values?: readonly string[];
  readonly note: string;
}

export const FLOW_COLUMNS = [
  { name: 'time_received', kind: 'datetime', note: 'when the collector received the record' },
  { name: 'time_start', kind: 'datetime', note: 'flow start from the record, else time_received' },
  { name: 'time_end', kind: 'datetime', note: 'flow end from the record, else time_received' },
  { name: 'source', kind: 'enum', values: FLOW_SOURCES, note: 'protocol or cloud log format' },
  { name: 'exporter', kind: 'address', note: 'router address, or a key derived from cloud account/region' },
  { name: 'observation_domain', kind: 'u32', note: 'NetFlow v9 source id / IPFIX domain / sFlow sub-agent' },
  { name: 'src_addr', kind: 'address', note: '' },
  { name: 'dst_addr', kind: 'address', note: '' },
  { name: 'src_port', kind: 'u16', note: '' },
  { name: 'dst_port', kind: 'u16', note: '' },
  { name: 'proto', kind: 'u8', note: 'IANA protocol number' },
  { name: 'tcp_flags', kind: 'u8', note: 'OR of TCP flags seen' },
  { name: 'bytes', kind: 'u64', note: 'already scaled by sampling_rate' },
  { name: 'packets', kind: 'u64', note: 'already scaled by sampling_rate' },
  { name: 'sampling_rate', kind: 'u32', note: '1 where unsampled' },
  { name: 'in_if', kind: 'u32', note: '' },
  { name: 'out_if', kind: 'u32', note: '' },
  { name: 'vlan', kind: 'u16', note: '' },
  { name: 'action', kind: 'enum', values: FLOW_ACTIONS, note: 'cloud logs: accept/reject' },
  { name: 'cloud_account', kind: 'string', note: '' },
  { name: 'cloud_region', kind: 'string', note: '' },
  { name: 'cloud_vpc', kind: 'string', note: '' },
  { name: 'cloud_subnet', kind: 'string', note: '' },
  { name: 'cloud_instance', kind: 'string', note: '' },
  { name: 'cloud_interface', kind: 'string', note: '' },
  { name: 'server_side', kind: 'enum', values: SERVER_SIDES, note: 'which end is the server (DESIGN.md §6)' },
] as const satisfies readonly ColumnSpec[];

type Columns = (typeof FLOW_COLUMNS)[number];
export type FlowColumnName = Columns['name'];

type ArrayFor<K extends ColumnKind> = K extends 'datetime' | 'u32'
  ? Uint32Array
  : K extends 'u16'
    ? Uint16Array
    : K extends 'u8' | 'enum' | 'address'
      ? Uint8Array
      : K extends 'u64'
        ? Float64Array
        : string[];

export type FlowColumns = { [C in Columns as C['name']]: ArrayFor<C['kind']> };

export interface FlowBatch {
  /** Rows in use; columns may be allocated larger (capacity). */
  length: number;
  readonly capacity: number;
  readonly columns: FlowColumns;
}

export function allocateColumn(spec: ColumnSpec, capacity: number): FlowColumns[FlowColumnName] {
  switch (spec.kind) {
    case 'datetime':
    case 'u32':
      return new Uint32Array(capacity);
    case 'u16':
      return new Uint16Array(capacity);
    case 'u8':
    case 'enum':
      return new Uint8Array(capacity);
    case 'address':
      return new Uint8Array(capacity * 16);
    case 'u64':
      return new Float64Array(capacity);
    case 'string':
      return new Array<string>(capacity).fill('');
  }
}

/** A batch with room for `capacity` rows; every column zero / empty; `sampling_rate` is 1. */
export function createFlowBatch(capacity: number): FlowBatch {
  const columns: Record<string, unknown> = {};
  for (const spec of FLOW_COLUMNS) columns[spec.name] = allocateColumn(spec, capacity);
  const batch = { length: 0, capacity, columns: columns as FlowColumns };
  batch.columns.sampling_rate.fill(1);
  return batch;
}

/**
 * One flow as plain values: for cloud log parsers, tests and the API, not the UDP hot path.
 * Addresses are 16-byte arrays; unset fields take the batch defaults.
 */
export interface FlowRecord {
  time_received: number;
  time_start?: number;
  time_end?: number;
  source: FlowSource;
  exporter: Uint8Array;
  observation_domain?: number;
  src_addr: Uint8Array;
  dst_addr: Uint8Array;
  src_port?: number;
  dst_port?: number;
  proto?: number;
  tcp_flags?: number;
  bytes?: number;
  packets?: number;
  sampling_rate?: number;
  in_if?: number;
  out_if?: number;
  vlan?: number;
  action?: FlowAction;
  cloud_account?: string;
  cloud_region?: string;
  cloud_vpc?: string;
  cloud_subnet?: string;
  cloud_instance?: string;
  cloud_interface?: string;
  server_side?: ServerSide;
}

const ENUM_INDEX: Record<string, Map<string, number>> = {};
for (const spec of FLOW_COLUMNS) {
  if (spec.kind === 'enum') ENUM_INDEX[spec.name] = new Map(spec.values.map((v, i) => [v, i]));
}

/** Index of an enum value, for writing `enum` columns. Throws on a value outside the enum. */
export function enumIndex(column: 'source' | 'action' | 'server_side', value: string): number {
  const index = ENUM_INDEX[column]?.get(value);
  if (index === undefined) throw new RangeError(`${column}: '${value}' is not one of ${[...(ENUM_INDEX[column]?.keys() ?? [])].join(', ')}`);
  return index;
}

/** Appends one record; returns false (and writes nothing) when the batch is full. */
export function appendFlow(batch: FlowBatch, record: FlowRecord): boolean {
  if (batch.length >= batch.capacity) return false;
  const i = batch.length;
  const c = batch.columns;
  if (record.exporter.length !== 16 || record.src_addr.length !== 16 || record.dst_addr.length !== 16) {
    throw new RangeError('flow addresses must be 16-byte values');
  }
  c.time_received[i] = record.time_received;
  c.time_start[i] = record.time_start ?? record.time_received;
  c.time_end[i] = record.time_end ?? record.time_received;
  c.source[i] = enumIndex('source', record.source);
  c.exporter.set(record.exporter, i * 16);
  c.observation_domain[i] = record.observation_domain ?? 0;
  c.src_addr.set(record.src_addr, i * 16);
  c.dst_addr.set(record.dst_addr, i * 16);
  c.src_port[i] = record.src_port ?? 0;
  c.dst_port[i] = record.dst_port ?? 0;
  c.proto[i] = record.proto ?? 0;
  c.tcp_flags[i] = record.tcp_flags ?? 0;
  c.bytes[i] = record.bytes ?? 0;
  c.packets[i] = record.packets ?? 0;
  c.sampling_rate[i] = record.sampling_rate ?? 1;
  c.in_if[i] = record.in_if ?? 0;
  c.out_if[i] = record.out_if ?? 0;
  c.vlan[i] = record.vlan ?? 0;
  c.action[i] = enumIndex('action', record.action ?? 'unknown');
  c.cloud_account[i] = record.cloud_account ?? '';
  c.cloud_region[i] = record.cloud_region ?? '';
  c.cloud_vpc[i] = record.cloud_vpc ?? '';
  c.cloud_subnet[i] = record.cloud_subnet ?? '';
  c.cloud_instance[i] = record.cloud_instance ?? '';
  c.cloud_interface[i] = record.cloud_interface ?? '';
  c.server_side[i] = enumIndex('server_side', record.server_side ?? 'unknown');
  batch.length = i + 1;
  return true;
}

export function flowBatchOf(records: readonly FlowRecord[]): FlowBatch {
  const batch = createFlowBatch(records.length);
  for (const record of records) appendFlow(batch, record);
  return batch;
}

/** Row `i` of a batch as a plain record (addresses copied). For tests and slow paths. */
export function flowAt(batch: FlowBatch, i: number): Required<FlowRecord> {
  if (i < 0 || i >= batch.length) throw new RangeError(`row ${i} outside batch of ${batch.length}`);
  const c = batch.columns;
  const at = <T>(values: ArrayLike<T>): T => values[i] as T;
  return {
    time_received: at(c.time_received),
    time_start: at(c.time_start),
    time_end: at(c.time_end),
    source: FLOW_SOURCES[at(c.source)] ?? 'netflow5',
    exporter: c.exporter.slice(i * 16, i * 16 + 16),
    observation_domain: at(c.observation_domain),
    src_addr: c.src_addr.slice(i * 16, i * 16 + 16),
    dst_addr: c.dst_addr.slice(i * 16, i * 16 + 16),
    src_port: at(c.src_port),
    dst_port: at(c.dst_port),
    proto: at(c.proto),
    tcp_flags: at(c.tcp_flags),
    bytes: at(c.bytes),
    packets: at(c.packets),
    sampling_rate: at(c.sampling_rate),
    in_if: at(c.in_if),
    out_if: at(c.out_if),
    vlan: at(c.vlan),
    action: FLOW_ACTIONS[at(c.action)] ?? 'unknown',
    cloud_account: at(c.cloud_account),
    cloud_region: at(c.cloud_region),
    cloud_vpc: at(c.cloud_vpc),
    cloud_subnet: at(c.cloud_subnet),
    cloud_instance: at(c.cloud_instance),
    cloud_interface: at(c.cloud_interface),
    server_side: SERVER_SIDES[at(c.server_side)] ?? 'unknown',
  };
}

/**
 * Checks what typed arrays cannot: enum indexes in range, string columns long enough, u64 values
 * non-negative integers. Returns the first problem, or undefined. Stores call it before writing so
 * a malformed batch is refused whole rather than half-written.
 */
export function validateFlowBatch(batch: FlowBatch): string | undefined {
  if (!Number.isInteger(batch.length) || batch.length < 0 || batch.length > batch.capacity) {
    return `length ${batch.length} is outside 0..${batch.capacity}`;
  }
  for (const spec of FLOW_COLUMNS as readonly ColumnSpec[]) {
    const column = (batch.columns as unknown as Record<string, ArrayLike<unknown>>)[spec.name];
    if (column === undefined) return `column ${spec.name} is missing`;
    const needed = spec.kind === 'address' ? batch.length * 16 : batch.length;
    if (column.length < needed) return `column ${spec.name} has ${column.length} values, needs ${needed}`;
    if (spec.kind === 'enum' && spec.values !== undefined) {
      const codes = column as Uint8Array;
      for (let i = 0; i < batch.length; i++) {
        if ((codes[i] ?? 0) >= spec.values.length) return `${spec.name}[${i}] = ${codes[i]} is not an index of ${spec.values.join('|')}`;
      }
    } else if (spec.kind === 'u64') {
      const values = column as Float64Array;
      for (let i = 0; i < batch.length; i++) {
        const v = values[i] ?? 0;
        if (!Number.isSafeInteger(v) || v < 0) return `${spec.name}[${i}] = ${v} is not a non-negative integer`;
      }
    } else if (spec.kind === 'string') {
      const values = column as string[];
      for (let i = 0; i < batch.length; i++) {
        if (typeof values[i] !== 'string') return `${spec.name}[${i}] is not a string`;
      }
    }
  }
  return undefined;
}
