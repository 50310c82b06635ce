// The batch codec, specified by: random batches that come back field by field, every single-byte
// corruption and every truncation refused with a coded error, and files built by hand from the
// format description in batch-codec.ts (not by the encoder) for the column-set evolution rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { isFlowmapError } from '../core/errors.js';
import { createFlowBatch, flowAt, flowBatchOf, FLOW_ACTIONS, FLOW_SOURCES, SERVER_SIDES, type FlowBatch, type FlowRecord } from '../core/flow.js';
import { parseAddress } from '../core/ip.js';
import { decodeBatch, encodeBatch, type BatchCodecProblem } from './batch-codec.js';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const address = fc.uint8Array({ minLength: 16, maxLength: 16 });
const cloudString = fc.oneof(
  fc.constant(''),
  fc.constantFrom('123456789012', 'eu-west-1', 'vpc-0a1b2c3d', 'subnet-1', 'i-0123456789abcdef0', 'eni-1'),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);
const flowRecord: fc.Arbitrary<FlowRecord> = fc.record({
  time_received: u32,
  time_start: u32,
  time_end: u32,
  source: fc.constantFrom(...FLOW_SOURCES),
  exporter: address,
  observation_domain: u32,
  src_addr: address,
  dst_addr: address,
  src_port: fc.integer({ min: 0, max: 65535 }),
  dst_port: fc.integer({ min: 0, max: 65535 }),
  proto: fc.integer({ min: 0, max: 255 }),
  tcp_flags: fc.integer({ min: 0, max: 255 }),
  bytes: fc.maxSafeNat(),
  packets: fc.maxSafeNat(),
  sampling_rate: u32,
  in_if: u32,
  out_if: u32,
  vlan: fc.integer({ min: 0, max: 65535 }),
  action: fc.constantFrom(...FLOW_ACTIONS),
  cloud_account: cloudString,
  cloud_region: cloudString,
  cloud_vpc: cloudString,
  cloud_subnet: cloudString,
  cloud_instance: cloudString,
  cloud_interface: cloudString,
  server_side: fc.constantFrom(...SERVER_SIDES),
});

/** A batch with a row range to encode. */
const batchAndRange = fc.array(flowRecord, { maxLength: 60 }).chain((records) =>
  fc.tuple(fc.constant(flowBatchOf(records)), fc.nat(records.length)).chain(([batch, a]) => fc.tuple(fc.constant(batch), fc.constant(a), fc.integer({ min: a, max: records.length }))),
);

function assertSameRows(decoded: FlowBatch, original: FlowBatch, start: number, end: number): void {
  assert.equal(decoded.length, end - start);
  assert.equal(decoded.capacity, end - start);
  for (let i = start; i < end; i++) assert.deepEqual(flowAt(decoded, i - start), flowAt(original, i), `row ${i}`);
}

function codecError(reason: BatchCodecProblem, message?: RegExp): (err: unknown) => boolean {
  return (err) => isFlowmapError(err, 'FLOWMAP_BATCH_INVALID') && err.details.reason === reason && (message === undefined || message.test(err.message));
}

const exporter = parseAddress('192.0.2.1');
const sample: FlowRecord[] = [
  { time_received: 1_700_000_000, time_start: 1_699_999_990, source: 'netflow9', exporter, src_addr: parseAddress('10.0.0.1'), dst_addr: parseAddress('2001:db8::1'), src_port: 41000, dst_port: 443, proto: 6, bytes: 2 ** 52, packets: 7, sampling_rate: 100, server_side: 'dst' },
  { time_received: 1_700_000_001, source: 'aws_vpc', exporter, src_addr: parseAddress('10.0.0.2'), dst_addr: parseAddress('10.0.0.3'), action: 'reject', cloud_account: '123456789012', cloud_region: 'eu-west-1', cloud_vpc: 'vpc-1', cloud_interface: 'eni-ü', server_side: 'src' },
  { time_received: 1_700_000_002, source: 'sflow', exporter, src_addr: parseAddress('10.0.0.4'), dst_addr: parseAddress('10.0.0.5'), vlan: 4094, in_if: 0xffff_ffff },
];

describe('batch codec: round trip', () => {
  it('brings random batches and row ranges back field by field', () => {
    fc.assert(
      fc.property(batchAndRange, ([batch, start, end]) => {
        assertSameRows(decodeBatch(encodeBatch(batch, start, end)), batch, start, end);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes from unaligned and pooled buffers by copying', () => {
    fc.assert(
      fc.property(batchAndRange, fc.integer({ min: 1, max: 7 }), ([batch, start, end], shift) => {
        const encoded = encodeBatch(batch, start, end);
        const shifted = new Uint8Array(encoded.length + shift).subarray(shift);
        shifted.set(encoded);
        assertSameRows(decodeBatch(shifted), batch, start, end);
        assertSameRows(decodeBatch(Buffer.from(encoded)), batch, start, end);
      }),
      { numRuns: 100 },
    );
  });

  it('encodes the whole batch by default, and zero rows too', () => {
    const batch = flowBatchOf(sample);
    assertSameRows(decodeBatch(encodeBatch(batch)), batch, 0, 3);
    const empty = decodeBatch(encodeBatch(createFlowBatch(16)));
    assert.equal(empty.length, 0);
    assert.equal(empty.columns.cloud_vpc.length, 0);
  });

  it('returns bytes that own exactly their ArrayBuffer, ready to transfer', () => {
    const encoded = encodeBatch(flowBatchOf(sample));
    assert.equal(encoded.byteOffset, 0);
    assert.equal(encoded.buffer.byteLength, encoded.length);
  });

  it('decodes typed columns as views into aligned input, without copying', () => {
    const encoded = encodeBatch(flowBatchOf(sample));
    const decoded = decodeBatch(encoded);
    for (const column of [decoded.columns.time_received, decoded.columns.bytes, decoded.columns.src_addr, decoded.columns.dst_port, decoded.columns.source]) {
      assert.equal(column.buffer, encoded.buffer);
    }
    const copied = decodeBatch(encoded.slice());
    assert.notEqual(copied.columns.bytes.buffer, encoded.buffer);
  });

  it('keeps every section 8-byte aligned', () => {
    const batch = flowBatchOf(sample);
    const encoded = encodeBatch(batch, 0, 3);
    const view = new DataView(encoded.buffer);
    let at = 24;
    for (let c = 0; c < view.getUint16(6, true); c++) {
      const offset = view.getUint32(at + 4, true);
      const length = view.getUint32(at + 8, true);
      if (length > 0) assert.equal(offset % 8, 0, `column ${c} at ${offset}`);
      at += view.getUint16(at, true);
    }
  });
});

describe('batch codec: size', () => {
  // Fixed bytes per row: 3 datetimes (12), source (1), 3 addresses (48), observation domain (4),
  // ports (4), proto and flags (2), bytes and packets (16), sampling rate (4), interfaces (8),
  // vlan (2), action (1), server side (1).
  const FIXED_ROW_BYTES = 103;
  const netflow = (rows: number, account = ''): FlowBatch =>
    flowBatchOf(Array.from({ length: rows }, (_, i) => ({ ...sample[0]!, src_port: 40000 + i, cloud_account: account })));

  it('spends nothing on string columns whose rows are all empty', () => {
    const encoded = encodeBatch(netflow(1000));
    const overhead = encoded.length - FIXED_ROW_BYTES * 1000;
    assert.ok(overhead >= 0 && overhead < 1024, `header, column table and padding took ${overhead} bytes`);
  });

  it('stores a repeated cloud identifier once, plus a one-byte index per row', () => {
    const without = encodeBatch(netflow(1000)).length;
    const withAccount = encodeBatch(netflow(1000, '123456789012')).length;
    const growth = withAccount - without;
    assert.ok(growth >= 1000 && growth < 1000 + 64, `one repeated 12-byte string in 1000 rows took ${growth} bytes`);
  });

  it('widens dictionary indexes past 256 distinct values and still round-trips', () => {
    const records = Array.from({ length: 70_000 }, (_, i) => ({ ...sample[1]!, cloud_instance: `i-${i % 66_000}` }));
    const batch = flowBatchOf(records);
    const decoded = decodeBatch(encodeBatch(batch));
    for (const i of [0, 255, 256, 65_535, 65_536, 65_999, 66_000, 69_999]) assert.equal(decoded.columns.cloud_instance[i], `i-${i % 66_000}`);
    const small = flowBatchOf(records.slice(0, 300));
    assertSameRows(decodeBatch(encodeBatch(small)), small, 0, 300);
  });
});

describe('batch codec: corruption', () => {
  const encoded = encodeBatch(flowBatchOf(sample));

  it('refuses every single-byte change with FLOWMAP_BATCH_INVALID', () => {
    fc.assert(
      fc.property(fc.nat(encoded.length - 1), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = encoded.slice();
        bad[at]! ^= mask;
        assert.throws(() => decodeBatch(bad), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BATCH_INVALID'));
      }),
      { numRuns: 2000 },
    );
  });

  it('names a changed byte in a section a CRC mismatch', () => {
    const bad = encoded.slice();
    bad[bad.length - 30]! ^= 0x01;
    assert.throws(() => decodeBatch(bad), codecError('checksum', /corrupt: CRC-32 0x[0-9a-f]{8} does not match the stored 0x[0-9a-f]{8}/));
  });

  it('refuses every truncation', () => {
    for (let length = 0; length < encoded.length; length++) {
      assert.throws(() => decodeBatch(encoded.subarray(0, length)), codecError('truncated'), `${length} bytes`);
    }
  });

  it('refuses bytes after the end', () => {
    const longer = new Uint8Array(encoded.length + 8);
    longer.set(encoded);
    assert.throws(() => decodeBatch(longer), codecError('length', /8 bytes after its end/));
  });

  it('refuses what is not a batch, and a format version it does not read', () => {
    assert.throws(() => decodeBatch(new TextEncoder().encode('{"not":"a batch at all, but long enough"}')), codecError('magic'));
    const future = encoded.slice();
    future[4] = 2;
    assert.throws(() => decodeBatch(future), codecError('version', /version 2 is not supported by this build \(it reads version 1\)/));
  });

  it('refuses to encode a row range outside the batch or a string column holding a non-string', () => {
    const batch = flowBatchOf(sample);
    assert.throws(() => encodeBatch(batch, 0, 4), RangeError);
    assert.throws(() => encodeBatch(batch, 2, 1), RangeError);
    (batch.columns.cloud_vpc as unknown[])[1] = 7;
    assert.throws(() => encodeBatch(batch), codecError('string', /cloud_vpc\[1\] is not a string/));
  });
});

// An independent writer of the format described in batch-codec.ts, for files another build could
// have written: any column set, kinds and enum value lists.
interface HandColumn {
  name: string;
  kind: number;
  values?: string[];
  section: Uint8Array;
}
const KIND = { datetime: 1, u8: 2, u16: 3, u32: 4, u64: 5, address: 6, enum: 7, string: 8 };

function handBuilt(rows: number, columns: HandColumn[]): Uint8Array {
  const text = (s: string): number[] => [...new TextEncoder().encode(s)];
  const entries = columns.map((c) => {
    const extra = c.kind === KIND.enum ? [c.values!.length, ...c.values!.flatMap((v) => [text(v).length, ...text(v)])] : [];
    return { column: c, name: text(c.name), extra };
  });
  const tableLength = entries.reduce((sum, e) => sum + 12 + e.name.length + e.extra.length, 0);
  let at = Math.ceil((24 + tableLength) / 8) * 8;
  const offsets = columns.map((c) => {
    const offset = c.section.length === 0 ? 0 : at;
    at += Math.ceil(c.section.length / 8) * 8;
    return offset;
  });
  const bytes = new Uint8Array(at);
  const view = new DataView(bytes.buffer);
  bytes.set(text('FLWB'), 0);
  view.setUint16(4, 1, true);
  view.setUint16(6, columns.length, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, at, true);
  view.setUint32(20, tableLength, true);
  let e = 24;
  entries.forEach(({ column, name, extra }, c) => {
    view.setUint16(e, 12 + name.length + extra.length, true);
    view.setUint8(e + 2, column.kind);
    view.setUint8(e + 3, name.length);
    view.setUint32(e + 4, offsets[c]!, true);
    view.setUint32(e + 8, column.section.length, true);
    bytes.set([...name, ...extra], e + 12);
    e += 12 + name.length + extra.length;
    bytes.set(column.section, offsets[c]);
  });
  view.setUint32(16, crc32(bytes.subarray(20), crc32(bytes.subarray(0, 16))), true);
  return bytes;
}

const le16 = (...values: number[]): Uint8Array => new Uint8Array(new Uint16Array(values).buffer);
const le32 = (...values: number[]): Uint8Array => new Uint8Array(new Uint32Array(values).buffer);

describe('batch codec: column-set evolution', () => {
  it('reads a file with fewer columns (defaults), an unknown column (ignored) and a reordered enum (mapped by name)', () => {
    // Strings: dictionary ['', 'eu-west-1'], one-byte indexes [1, 0], text 'eu-west-1'.
    const region = new Uint8Array([...le32(2), 1, 0, 0, 0, ...le32(0, 9), 1, 0, ...new TextEncoder().encode('eu-west-1')]);
    const bytes = handBuilt(2, [
      { name: 'src_port', kind: KIND.u16, section: le16(41000, 443) },
      { name: 'dst_port', kind: KIND.u16, section: le16(443, 41000) },
      { name: 'flow_label', kind: KIND.u32, section: le32(7, 8) },
      { name: 'gadget', kind: 99, section: new Uint8Array(5) },
      { name: 'source', kind: KIND.enum, values: ['ipfix', 'netflow5', 'some_future_source'], section: new Uint8Array([1, 0]) },
      { name: 'cloud_region', kind: KIND.string, section: region },
      { name: 'cloud_vpc', kind: KIND.string, section: new Uint8Array(0) },
    ]);
    const batch = decodeBatch(bytes);
    assert.equal(batch.length, 2);
    const [first, second] = [flowAt(batch, 0), flowAt(batch, 1)];
    assert.equal(first.src_port, 41000);
    assert.equal(second.dst_port, 41000);
    assert.equal(first.source, 'netflow5');
    assert.equal(second.source, 'ipfix');
    assert.equal(first.cloud_region, 'eu-west-1');
    assert.equal(second.cloud_region, '');
    assert.equal(first.cloud_vpc, '');
    assert.equal(first.sampling_rate, 1, 'a missing sampling rate is 1, as in a fresh batch');
    assert.equal(first.time_received, 0);
    assert.equal(first.server_side, 'unknown');
    assert.deepEqual(first.src_addr, new Uint8Array(16));
    assert.equal(first.cloud_account, '');
    assert.equal(batch.columns.bytes.length, 2, 'a defaulted column has one value per row');
  });

  it('refuses a column whose kind changed, naming both kinds', () => {
    const bytes = handBuilt(1, [{ name: 'src_port', kind: KIND.u32, section: le32(41000) }]);
    assert.throws(() => decodeBatch(bytes), codecError('kind', /column src_port is u32 in the batch but u16 in this build/));
    const unknownKind = handBuilt(1, [{ name: 'bytes', kind: 99, section: new Uint8Array(8) }]);
    assert.throws(() => decodeBatch(unknownKind), codecError('kind', /column bytes is kind #99 in the batch but u64/));
  });

  it('refuses an enum value this build does not know, when a row uses it', () => {
    const bytes = handBuilt(2, [{ name: 'source', kind: KIND.enum, values: ['ipfix', 'netflow7'], section: new Uint8Array([0, 1]) }]);
    assert.throws(() => decodeBatch(bytes), codecError('enum', /source\[1\] is 'netflow7', not one of this build's netflow5/));
  });

  it('refuses a section whose length does not fit the row count, and a column listed twice', () => {
    const short = handBuilt(2, [{ name: 'src_port', kind: KIND.u16, section: le16(41000) }]);
    assert.throws(() => decodeBatch(short), codecError('section', /src_port holds 2 bytes, 2 rows of u16 need 4/));
    const twice = handBuilt(1, [
      { name: 'proto', kind: KIND.u8, section: new Uint8Array([6]) },
      { name: 'proto', kind: KIND.u8, section: new Uint8Array([17]) },
    ]);
    assert.throws(() => decodeBatch(twice), codecError('table', /proto appears twice/));
  });

  it('refuses a string dictionary index past the dictionary', () => {
    const section = new Uint8Array([...le32(1), 1, 0, 0, 0, ...le32(0), 3]);
    const bytes = handBuilt(1, [{ name: 'cloud_vpc', kind: KIND.string, section }]);
    assert.throws(() => decodeBatch(bytes), codecError('string', /row 0 refers to entry 3 of 1/));
  });
});
