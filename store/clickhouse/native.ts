// Encodes a columnar flow batch in ClickHouse's Native format and sends it as one INSERT. Native
// is columnar like FlowBatch, so each fixed-width column is copied from its typed array instead of
// being printed row by row as TabSeparated is (store/clickhouse/insert.ts); bench/insert.ts
// measures the difference (BENCHMARKS.md, "Flow inserts into ClickHouse").
//
// A Native block (docs: interfaces/formats/Native) is VarUInt column count, VarUInt row count,
// then per column: name (String), type (String), the values. Values are little-endian:
// DateTime/UInt32 four bytes, UInt16 two, UInt8 and Enum8 one (our enums are 0-based, as in the
// migration), UInt64 eight, FixedString(16) the 16 address bytes, String a VarUInt length and the
// UTF-8 bytes. Names and types are derived from FLOW_COLUMNS, so the block header cannot drift from
// core/flow.ts; native.test.ts checks it against `system.columns` of the migrated table.
//
// Server compatibility. Over HTTP the server reads the body with protocol revision 0
// (src/Processors/Formats/Impl/NativeFormat.cpp: `NativeReader(buf, header, 0, …)`), and the
// reader expects a per-column "has custom serialization" byte only when the revision is at least
// DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION (src/Formats/NativeReader.cpp). A revision other
// than 0 comes only from the `client_protocol_version` HTTP parameter (ClickHouse PR #46360 for
// Native output; PR #110320, 2026, lets it reach INSERT bodies too). @clickhouse/client sends no
// such parameter and neither does this module, so the same bytes serve 18.16
// (NativeBlockInputStream, which has no such byte) and current releases.
import { endianness } from 'node:os';
import { Readable } from 'node:stream';
import { drainStream, type ClickHouseClient } from '@clickhouse/client';
import { FLOW_COLUMNS, type ColumnSpec, type FlowBatch } from '../../core/flow.js';
import { identifier, joinSql, sql, toText } from './literal.js';

/** The ClickHouse type of a flow column, spelled as `system.columns` spells it. */
export function clickhouseType(spec: ColumnSpec): string {
  switch (spec.kind) {
    case 'datetime':
      return 'DateTime';
    case 'u8':
      return 'UInt8';
    case 'u16':
      return 'UInt16';
    case 'u32':
      return 'UInt32';
    case 'u64':
      return 'UInt64';
    case 'address':
      return 'FixedString(16)';
    case 'string':
      return 'String';
    case 'enum': {
      const values = spec.values ?? [];
      // Enum8 codes are Int8: 0..127 is all a 0-based index can use.
      if (values.length === 0 || values.length > 128) throw new RangeError(`${spec.name}: Enum8 needs 1..128 values, has ${values.length}`);
      return `Enum8(${values.map((v, i) => `'${v.replace(/[\\']/g, (ch) => `\\${ch}`)}' = ${i}`).join(', ')})`;
    }
  }
}

/** Column names and ClickHouse types of the `flows` table, in FLOW_COLUMNS order. */
export const NATIVE_COLUMNS: readonly { readonly name: string; readonly type: string }[] = FLOW_COLUMNS.map((spec) => ({ name: spec.name, type: clickhouseType(spec) }));

/** The INSERT that a Native body of `encodeNative` blocks completes. Constant: no value in it. */
export const NATIVE_INSERT: string = toText(sql`INSERT INTO flows (${joinSql(FLOW_COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT Native`);

/** Rows per Native block when a batch is sent: the collector's default batch is one block. */
export const NATIVE_BLOCK_ROWS = 65_536;

// Typed arrays hold numbers in the host's byte order; Native wants little-endian. On a
// big-endian host the copied range is byte-swapped in place afterwards.
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

function varUIntLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** LEB128, as ClickHouse's writeVarUInt. Returns the position after the last byte. */
function writeVarUInt(out: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

function nativeString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(varUIntLength(bytes.length) + bytes.length);
  bytes.copy(out, writeVarUInt(out, 0, bytes.length));
  return out;
}

interface BlockColumn {
  readonly name: string;
  readonly kind: ColumnSpec['kind'];
  /** Name and type, already encoded: the same bytes in every block. */
  readonly header: Buffer;
  /** Bytes per row for fixed-width kinds; 0 for strings. */
  readonly width: number;
}

const WIDTH: Record<ColumnSpec['kind'], number> = { datetime: 4, u32: 4, u16: 2, u8: 1, enum: 1, address: 16, u64: 8, string: 0 };

const BLOCK_COLUMNS: readonly BlockColumn[] = FLOW_COLUMNS.map((spec) => ({
  name: spec.name,
  kind: spec.kind,
  header: Buffer.concat([nativeString(spec.name), nativeString(clickhouseType(spec))]),
  width: WIDTH[spec.kind],
}));
const HEADER_BYTES = BLOCK_COLUMNS.reduce((n, c) => n + c.header.length, 0);
const FIXED_BYTES_PER_ROW = BLOCK_COLUMNS.reduce((n, c) => n + c.width, 0);

/** UInt64 halves staged here (aligned) before being copied to the unaligned output. Grown, never shrunk. */
let u64Scratch = new Uint32Array(0);

/**
 * One Native block holding rows [start, end) of the batch, in FLOW_COLUMNS order. The batch is
 * trusted to pass `validateFlowBatch` (enum indexes in range, u64 values non-negative safe
 * integers); the store checks that before encoding. Cost: one copy per fixed-width column, one
 * pass over each string column; no per-row allocation.
 */
export function encodeNative(batch: FlowBatch, start = 0, end: number = batch.length): Buffer {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > batch.length) {
    throw new RangeError(`rows [${start}, ${end}) are outside the batch of ${batch.length}`);
  }
  const rows = end - start;
  const columns = batch.columns as unknown as Record<string, ArrayLike<number> | readonly string[]>;

  // Upper bound of the block size: a string takes at most 3 UTF-8 bytes per UTF-16 unit, and its
  // length prefix at most 5 bytes; an empty one takes one byte, counted in the fixed part.
  let size = 20 + HEADER_BYTES + rows * FIXED_BYTES_PER_ROW;
  for (const column of BLOCK_COLUMNS) {
    if (column.kind !== 'string') continue;
    const values = columns[column.name] as readonly string[];
    size += rows;
    for (let i = start; i < end; i++) {
      const length = (values[i] as string).length;
      if (length !== 0) size += 3 * length + 4;
    }
  }

  // Zero-filled, so an empty string (length 0, no bytes) needs no write at all.
  const out = Buffer.alloc(size);
  let pos = writeVarUInt(out, 0, BLOCK_COLUMNS.length);
  pos = writeVarUInt(out, pos, rows);
  for (const column of BLOCK_COLUMNS) {
    out.set(column.header, pos);
    pos += column.header.length;
    const values = columns[column.name];
    if (column.kind === 'string') pos = writeStrings(out, pos, values as readonly string[], start, end);
    else if (column.kind === 'u64') pos = writeU64(out, pos, values as Float64Array, start, end);
    else pos = copyFixed(out, pos, values as Uint8Array | Uint16Array | Uint32Array, column.width, start, rows);
  }
  return out.subarray(0, pos);
}

function copyFixed(out: Buffer, pos: number, values: Uint8Array | Uint16Array | Uint32Array, width: number, start: number, rows: number): number {
  const bytes = rows * width;
  out.set(new Uint8Array(values.buffer, values.byteOffset + start * width, bytes), pos);
  if (!HOST_IS_LITTLE_ENDIAN && values.BYTES_PER_ELEMENT === 2) out.subarray(pos, pos + bytes).swap16();
  if (!HOST_IS_LITTLE_ENDIAN && values.BYTES_PER_ELEMENT === 4) out.subarray(pos, pos + bytes).swap32();
  return pos + bytes;
}

function writeU64(out: Buffer, pos: number, values: Float64Array, start: number, end: number): number {
  const rows = end - start;
  if (u64Scratch.length < rows * 2) u64Scratch = new Uint32Array(rows * 2);
  const halves = u64Scratch;
  for (let i = 0; i < rows; i++) {
    const v = values[start + i] as number;
    // ToUint32 is exact modulo 2^32 for integers below 2^53; v / 2^32 is exact (a power of two),
    // and >>> 0 truncates it to the high word.
    halves[2 * i] = v >>> 0;
    halves[2 * i + 1] = (v / 4294967296) >>> 0;
  }
  const bytes = rows * 8;
  out.set(new Uint8Array(halves.buffer, 0, bytes), pos);
  if (!HOST_IS_LITTLE_ENDIAN) out.subarray(pos, pos + bytes).swap32();
  return pos + bytes;
}

function writeStrings(out: Buffer, pos: number, values: readonly string[], start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const text = values[i] as string;
    if (text.length === 0) {
      pos++;
    } else if (text.length <= 42) {
      // At most 126 UTF-8 bytes: the length fits the one-byte VarUInt written after the text.
      const written = out.write(text, pos + 1, 'utf8');
      out[pos] = written;
      pos += 1 + written;
    } else {
      pos = writeVarUInt(out, pos, Buffer.byteLength(text, 'utf8'));
      pos += out.write(text, pos, 'utf8');
    }
  }
  return pos;
}

/**
 * Inserts the batch into `flows` as one INSERT … FORMAT Native whose body is a stream of blocks of
 * `blockRows` rows, each encoded only when the socket wants it. `client.insert` accepts only the
 * text and JSON formats (its values encoder JSON-encodes anything else), so the statement goes
 * through `exec` with the body as `values`, and the empty response is drained to free the socket.
 */
export async function insertFlowsNative(client: ClickHouseClient, batch: FlowBatch, blockRows: number = NATIVE_BLOCK_ROWS): Promise<void> {
  if (!Number.isInteger(blockRows) || blockRows < 1) throw new RangeError(`blockRows must be a positive integer, got ${blockRows}`);
  function* blocks(): Generator<Buffer> {
    for (let start = 0; start < batch.length; start += blockRows) yield encodeNative(batch, start, Math.min(batch.length, start + blockRows));
  }
  const result = await client.exec({ query: NATIVE_INSERT, values: Readable.from(blocks(), { objectMode: false }) });
  await drainStream(result.stream);
}
