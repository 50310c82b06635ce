// The batch codec: a flow batch as one self-describing byte string, for moving batches from decode
// workers to the main thread (a transferable ArrayBuffer, zero-copy views on arrival) and for spool
// files on disk that a later build may have to read back.
//
// Layout (all integers little-endian):
//
//   offset  size  field
//   0       4     magic "FLWB"
//   4       2     format version (1)
//   6       2     column count C
//   8       4     row count N
//   12      4     total length L in bytes (header, table, sections, padding)
//   16      4     CRC-32 (zlib) of bytes [0, 16) then [20, L)
//   20      4     column table length T
//   24      T     column table: C entries, then zero padding to a multiple of 8
//   …             one section per column, each starting at a multiple of 8, zero-padded
//
// Column table entry (self-delimiting, so a reader can step over an entry of a kind it does not
// know):
//   u16 entry length · u8 kind (KIND_CODES) · u8 name length · u32 section offset · u32 section
//   length · name (UTF-8) · for `enum` only: u8 value count, then per value u8 length + UTF-8 bytes
//
// Sections: N values of the column's typed array as they sit in memory (u8, u16, u32/datetime,
// float64 for u64, 16 bytes per row for addresses, u8 indexes for enums). A string column whose
// rows are all empty has no section (length 0), which is every NetFlow batch's six cloud columns;
// otherwise it is a dictionary:
//   u32 entry count D · u8 index width W (1, 2 or 4) · 3 zero bytes · D × u32 end offset of each
//   entry in the text · N × W entry index per row · the entries' UTF-8 text, back to back
// (entry 0 is always ''). Cloud identifiers repeat across rows, so the dictionary stays small.
//
// Columns are matched by name, so a file from a build with other columns still decodes: a column
// this build does not know is ignored, a column the file lacks takes the batch default (zero,
// empty, sampling rate 1), a column whose kind changed is an error. Enum values are matched by
// name too, so an enum that gained values in a later build still maps old files correctly.
//
// Corruption (a flipped bit, a truncated file) fails the CRC or a bounds check with a
// FLOWMAP_BATCH_INVALID error whose `details.reason` says which check; nothing is read out of
// bounds. Typed-array columns of a decoded batch are views into the input bytes when the input is
// 8-byte aligned (always true for an ArrayBuffer of its own, as postMessage delivers), so the
// caller must not reuse those bytes while the batch is in use.
import { crc32 } from 'node:zlib';
import { FlowmapError } from '../core/errors.js';
import { allocateColumn, FLOW_COLUMNS, type ColumnKind, type ColumnSpec, type FlowBatch, type FlowColumns } from '../core/flow.js';

export const BATCH_FORMAT_VERSION = 1;
const MAGIC = [0x46, 0x4c, 0x57, 0x42]; // "FLWB"
const HEADER_BYTES = 24;
const ENTRY_FIXED_BYTES = 12;
const STRING_HEADER_BYTES = 8;
const MAX_U32 = 0xffff_ffff;

/** Stable kind codes of the column table; never renumber. */
export const KIND_CODES: Readonly<Record<ColumnKind, number>> = { datetime: 1, u8: 2, u16: 3, u32: 4, u64: 5, address: 6, enum: 7, string: 8 };
const KIND_BY_CODE = new Map<number, ColumnKind>(Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as ColumnKind]));

/** Bytes per row of a fixed-width kind. */
const ROW_BYTES: Readonly<Record<Exclude<ColumnKind, 'string'>, number>> = { datetime: 4, u8: 1, u16: 2, u32: 4, u64: 8, address: 16, enum: 1 };
/** Alignment a typed-array view of the kind needs. */
const ELEMENT_BYTES: Readonly<Record<Exclude<ColumnKind, 'string'>, number>> = { datetime: 4, u8: 1, u16: 2, u32: 4, u64: 8, address: 1, enum: 1 };

/** What went wrong, in `details.reason` of a FLOWMAP_BATCH_INVALID error from this module. */
export type BatchCodecProblem = 'magic' | 'version' | 'truncated' | 'length' | 'checksum' | 'table' | 'section' | 'kind' | 'enum' | 'string' | 'endianness';

function problem(reason: BatchCodecProblem, message: string, details: Record<string, unknown> = {}): FlowmapError {
  return new FlowmapError('FLOWMAP_BATCH_INVALID', message, { details: { reason, ...details } });
}

// Typed arrays are written as the host lays them out; every platform Node ships for is
// little-endian but s390x, where the format would silently differ, so refuse there.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function checkHost(): void {
  if (!HOST_LITTLE_ENDIAN) throw problem('endianness', 'the batch format is little-endian and this host is big-endian');
}

const align8 = (n: number): number => (n + 7) & ~7;
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

type FixedColumn = Uint8Array | Uint16Array | Uint32Array | Float64Array;
const COLUMNS = FLOW_COLUMNS as readonly ColumnSpec[];

/**
 * Encodes rows [start, end) of a batch. The result owns a fresh ArrayBuffer of exactly its length,
 * ready to transfer with postMessage. Cost: one pass per column (a copy for typed columns, a
 * dictionary build for non-empty string columns) and one CRC over the output.
 */
export function encodeBatch(batch: FlowBatch, start = 0, end = batch.length): Uint8Array {
  checkHost();
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > batch.length || start > end) {
    throw new RangeError(`encodeBatch: rows ${start}..${end} are outside the batch of ${batch.length}`);
  }
  const rows = end - start;
  const columns = batch.columns as unknown as Record<string, unknown>;

  const names = COLUMNS.map((spec) => utf8(spec.name));
  const enumValues = COLUMNS.map((spec) => (spec.kind === 'enum' ? (spec.values ?? []).map(utf8) : []));
  const strings = COLUMNS.map((spec) => (spec.kind === 'string' ? stringSection(spec.name, columns[spec.name] as string[], start, end) : undefined));

  const entryLengths = COLUMNS.map((spec, c) => {
    let length = ENTRY_FIXED_BYTES + names[c]!.length;
    if (spec.kind === 'enum') length += 1 + enumValues[c]!.reduce((sum, value) => sum + 1 + value.length, 0);
    return length;
  });
  const tableBytes = entryLengths.reduce((sum, n) => sum + n, 0);
  const sectionLengths = COLUMNS.map((spec, c) => (spec.kind === 'string' ? (strings[c]?.length ?? 0) : rows * ROW_BYTES[spec.kind]));
  const offsets: number[] = [];
  let total = align8(HEADER_BYTES + tableBytes);
  for (const length of sectionLengths) {
    offsets.push(length === 0 ? 0 : total);
    total += align8(length);
  }
  if (total > MAX_U32) throw problem('length', `an encoded batch of ${rows} rows would take ${total} bytes, over the format's 4 GiB; encode fewer rows at a time`);

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, BATCH_FORMAT_VERSION, true);
  view.setUint16(6, COLUMNS.length, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, total, true);
  view.setUint32(20, tableBytes, true);

  let at = HEADER_BYTES;
  COLUMNS.forEach((spec, c) => {
    view.setUint16(at, entryLengths[c]!, true);
    view.setUint8(at + 2, KIND_CODES[spec.kind]);
    view.setUint8(at + 3, names[c]!.length);
    view.setUint32(at + 4, offsets[c]!, true);
    view.setUint32(at + 8, sectionLengths[c]!, true);
    out.set(names[c]!, at + ENTRY_FIXED_BYTES);
    let next = at + ENTRY_FIXED_BYTES + names[c]!.length;
    if (spec.kind === 'enum') {
      view.setUint8(next++, enumValues[c]!.length);
      for (const value of enumValues[c]!) {
        view.setUint8(next++, value.length);
        out.set(value, next);
        next += value.length;
      }
    }
    at = next;

    if (sectionLengths[c] === 0) return;
    if (spec.kind === 'string') {
      out.set(strings[c]!, offsets[c]);
      return;
    }
    const source = columns[spec.name] as FixedColumn;
    const rowBytes = ROW_BYTES[spec.kind];
    const perElement = spec.kind === 'address' ? 16 : 1;
    if (source.length < end * perElement) {
      throw problem('section', `column ${spec.name} has ${source.length} values, rows up to ${end} need ${end * perElement}`, { column: spec.name });
    }
    out.set(new Uint8Array(source.buffer, source.byteOffset + start * rowBytes, rows * rowBytes), offsets[c]);
  });

  view.setUint32(16, checksum(out, total), true);
  return out;
}

function checksum(bytes: Uint8Array, total: number): number {
  return crc32(bytes.subarray(20, total), crc32(bytes.subarray(0, 16)));
}

/** The dictionary section of a string column, or undefined when every row is empty. */
function stringSection(name: string, values: string[], start: number, end: number): Uint8Array | undefined {
  let i = start;
  while (i < end && values[i] === '') i++;
  if (i === end) return undefined;
  const rows = end - start;
  const dictionary = new Map<string, number>([['', 0]]);
  const indexes = new Uint32Array(rows);
  for (let row = start; row < end; row++) {
    const value = values[row];
    if (typeof value !== 'string') throw problem('string', `${name}[${row}] is not a string`, { column: name, row });
    let index = dictionary.get(value);
    if (index === undefined) {
      index = dictionary.size;
      dictionary.set(value, index);
    }
    indexes[row - start] = index;
  }
  const texts = [...dictionary.keys()].map(utf8);
  const textBytes = texts.reduce((sum, t) => sum + t.length, 0);
  const width = dictionary.size <= 0x100 ? 1 : dictionary.size <= 0x10000 ? 2 : 4;
  const section = new Uint8Array(STRING_HEADER_BYTES + 4 * texts.length + width * rows + textBytes);
  const view = new DataView(section.buffer);
  view.setUint32(0, texts.length, true);
  view.setUint8(4, width);
  let at = STRING_HEADER_BYTES;
  let textEnd = 0;
  for (const text of texts) {
    textEnd += text.length;
    view.setUint32(at, textEnd, true);
    at += 4;
  }
  for (let row = 0; row < rows; row++) {
    const index = indexes[row]!;
    if (width === 1) view.setUint8(at, index);
    else if (width === 2) view.setUint16(at, index, true);
    else view.setUint32(at, index, true);
    at += width;
  }
  for (const text of texts) {
    section.set(text, at);
    at += text.length;
  }
  return section;
}

interface TableEntry {
  readonly kind: ColumnKind | undefined;
  readonly kindCode: number;
  readonly offset: number;
  readonly length: number;
  readonly values: readonly string[] | undefined;
}

/**
 * Decodes bytes from `encodeBatch` (this build's or another's). Throws FLOWMAP_BATCH_INVALID with
 * `details.reason` on anything but a well-formed batch. Typed columns are views into `bytes` when
 * it is suitably aligned, else copies; string columns are new arrays.
 */
export function decodeBatch(bytes: Uint8Array): FlowBatch {
  checkHost();
  if (bytes.length < HEADER_BYTES) throw problem('truncated', `a flow batch needs at least ${HEADER_BYTES} bytes, got ${bytes.length}`, { bytes: bytes.length });
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw problem('magic', 'not a flowmap flow batch (the first bytes are not "FLWB")');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== BATCH_FORMAT_VERSION) {
    throw problem('version', `flow batch format version ${version} is not supported by this build (it reads version ${BATCH_FORMAT_VERSION})`, { version });
  }
  const columnCount = view.getUint16(6, true);
  const rows = view.getUint32(8, true);
  const total = view.getUint32(12, true);
  if (bytes.length < total) throw problem('truncated', `flow batch is truncated: ${bytes.length} of ${total} bytes`, { bytes: bytes.length, expected: total });
  if (bytes.length > total) throw problem('length', `flow batch has ${bytes.length - total} bytes after its end (${total} bytes)`, { bytes: bytes.length, expected: total });
  const stored = view.getUint32(16, true);
  const actual = checksum(bytes, total);
  if (stored !== actual) throw problem('checksum', `flow batch is corrupt: CRC-32 ${hex(actual)} does not match the stored ${hex(stored)}`, { stored, actual });

  const table = readTable(bytes, view, columnCount, rows, total);
  const columns: Record<string, unknown> = {};
  for (const spec of COLUMNS) {
    const entry = table.get(spec.name);
    if (entry === undefined) {
      columns[spec.name] = defaultColumn(spec, rows);
    } else if (entry.kind !== spec.kind) {
      throw problem('kind', `column ${spec.name} is ${entry.kind ?? `kind #${entry.kindCode}`} in the batch but ${spec.kind} in this build`, {
        column: spec.name,
        batchKind: entry.kind ?? entry.kindCode,
        expectedKind: spec.kind,
      });
    } else if (spec.kind === 'string') {
      columns[spec.name] = entry.length === 0 ? new Array<string>(rows).fill('') : readStrings(spec.name, bytes, view, entry, rows);
    } else {
      columns[spec.name] = readFixed(spec, bytes, entry, rows);
    }
  }
  return { length: rows, capacity: rows, columns: columns as FlowColumns };
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

function readTable(bytes: Uint8Array, view: DataView, columnCount: number, rows: number, total: number): Map<string, TableEntry> {
  const tableBytes = view.getUint32(20, true);
  const tableEnd = HEADER_BYTES + tableBytes;
  if (tableEnd > total) throw problem('table', `column table of ${tableBytes} bytes runs past the batch end`);
  const sectionsStart = align8(tableEnd);
  const table = new Map<string, TableEntry>();
  const decoder = new TextDecoder();
  let at = HEADER_BYTES;
  for (let c = 0; c < columnCount; c++) {
    if (at + ENTRY_FIXED_BYTES > tableEnd) throw problem('table', `column table ends inside entry ${c} of ${columnCount}`);
    const entryLength = view.getUint16(at, true);
    const kindCode = view.getUint8(at + 2);
    const nameLength = view.getUint8(at + 3);
    const offset = view.getUint32(at + 4, true);
    const length = view.getUint32(at + 8, true);
    const entryEnd = at + entryLength;
    if (entryLength < ENTRY_FIXED_BYTES + nameLength || entryEnd > tableEnd) throw problem('table', `column table entry ${c} has a bad length ${entryLength}`);
    const name = decoder.decode(bytes.subarray(at + ENTRY_FIXED_BYTES, at + ENTRY_FIXED_BYTES + nameLength));
    if (table.has(name)) throw problem('table', `column ${name} appears twice in the column table`, { column: name });
    if (length > 0 && (offset < sectionsStart || offset % 8 !== 0 || offset + length > total)) {
      throw problem('section', `column ${name}: section at ${offset} (+${length}) is outside the batch of ${total} bytes or unaligned`, { column: name });
    }
    const kind = KIND_BY_CODE.get(kindCode);
    let values: string[] | undefined;
    if (kind === 'enum') {
      let v = at + ENTRY_FIXED_BYTES + nameLength;
      if (v >= entryEnd) throw problem('table', `enum column ${name} has no value list`, { column: name });
      const count = view.getUint8(v++);
      values = [];
      for (let k = 0; k < count; k++) {
        if (v >= entryEnd) throw problem('table', `enum column ${name}: value list ends early`, { column: name });
        const valueLength = view.getUint8(v++);
        if (v + valueLength > entryEnd) throw problem('table', `enum column ${name}: value list ends early`, { column: name });
        values.push(decoder.decode(bytes.subarray(v, v + valueLength)));
        v += valueLength;
      }
    }
    if (kind !== undefined && kind !== 'string') {
      const expected = rows * ROW_BYTES[kind];
      if (length !== expected) throw problem('section', `column ${name} holds ${length} bytes, ${rows} rows of ${kind} need ${expected}`, { column: name });
    }
    table.set(name, { kind, kindCode, offset, length, values });
    at = entryEnd;
  }
  return table;
}

/** Default values for a column the batch lacks: what a fresh FlowBatch holds. */
function defaultColumn(spec: ColumnSpec, rows: number): unknown {
  const column = allocateColumn(spec, rows);
  if (spec.name === 'sampling_rate') (column as Uint32Array).fill(1);
  return column;
}

function readFixed(spec: ColumnSpec, bytes: Uint8Array, entry: TableEntry, rows: number): FixedColumn {
  const kind = spec.kind as Exclude<ColumnKind, 'string'>;
  const section = bytes.subarray(entry.offset, entry.offset + entry.length);
  let column: FixedColumn;
  if ((bytes.byteOffset + entry.offset) % ELEMENT_BYTES[kind] === 0) {
    column = typedView(kind, bytes.buffer, bytes.byteOffset + entry.offset, rows);
  } else {
    column = allocateColumn(spec, rows) as FixedColumn;
    new Uint8Array(column.buffer, column.byteOffset, column.byteLength).set(section);
  }
  if (kind === 'enum') return remapEnum(spec, entry, column as Uint8Array);
  return column;
}

function typedView(kind: Exclude<ColumnKind, 'string'>, buffer: ArrayBufferLike, byteOffset: number, rows: number): FixedColumn {
  switch (kind) {
    case 'datetime':
    case 'u32':
      return new Uint32Array(buffer, byteOffset, rows);
    case 'u16':
      return new Uint16Array(buffer, byteOffset, rows);
    case 'u64':
      return new Float64Array(buffer, byteOffset, rows);
    case 'address':
      return new Uint8Array(buffer, byteOffset, rows * 16);
    case 'u8':
    case 'enum':
      return new Uint8Array(buffer, byteOffset, rows);
  }
}

/** Maps enum indexes of the batch's value list onto this build's, by value name. */
function remapEnum(spec: ColumnSpec, entry: TableEntry, codes: Uint8Array): Uint8Array {
  const ours = spec.values ?? [];
  const theirs = entry.values ?? [];
  if (theirs.length <= ours.length && theirs.every((value, i) => ours[i] === value)) return codes;
  const map = theirs.map((value) => ours.indexOf(value));
  const remapped = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const to = map[codes[i]!];
    if (to === undefined || to < 0) {
      const value = theirs[codes[i]!];
      throw problem('enum', `${spec.name}[${i}] is ${value === undefined ? `index ${codes[i]}` : `'${value}'`}, not one of this build's ${ours.join(', ')}`, {
        column: spec.name,
        row: i,
      });
    }
    remapped[i] = to;
  }
  return remapped;
}

function readStrings(name: string, bytes: Uint8Array, view: DataView, entry: TableEntry, rows: number): string[] {
  const at = entry.offset;
  const end = entry.offset + entry.length;
  const bad = (why: string): FlowmapError => problem('string', `string column ${name}: ${why}`, { column: name });
  if (entry.length < STRING_HEADER_BYTES) throw bad('section shorter than its header');
  const count = view.getUint32(at, true);
  const width = view.getUint8(at + 4);
  if (count < 1 || (width !== 1 && width !== 2 && width !== 4)) throw bad(`bad dictionary header (${count} entries, index width ${width})`);
  const offsetsAt = at + STRING_HEADER_BYTES;
  const indexesAt = offsetsAt + 4 * count;
  const textAt = indexesAt + width * rows;
  if (textAt > end) throw bad('dictionary and indexes run past the section');
  const textLength = end - textAt;
  const decoder = new TextDecoder();
  const dictionary = new Array<string>(count);
  let from = 0;
  for (let k = 0; k < count; k++) {
    const to = view.getUint32(offsetsAt + 4 * k, true);
    if (to < from || to > textLength) throw bad(`entry ${k} ends at ${to}, outside ${from}..${textLength}`);
    dictionary[k] = decoder.decode(bytes.subarray(textAt + from, textAt + to));
    from = to;
  }
  if (from !== textLength) throw bad(`${textLength - from} bytes of text belong to no entry`);
  const values = new Array<string>(rows);
  for (let row = 0; row < rows; row++) {
    const p = indexesAt + width * row;
    const index = width === 1 ? view.getUint8(p) : width === 2 ? view.getUint16(p, true) : view.getUint32(p, true);
    const value = dictionary[index];
    if (value === undefined) throw bad(`row ${row} refers to entry ${index} of ${count}`);
    values[row] = value;
  }
  return values;
}
