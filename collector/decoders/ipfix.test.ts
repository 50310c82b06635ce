// IPFIX decoder behaviour (RFC 7011 / 7012) on messages built here: variable-length and
// enterprise fields, reduced-size encoding, withdrawals, options records (sampling, system init
// time), absolute timestamps, NSEL initiator/responder counters, observation domains.
// Field-by-field agreement with tshark on the whole corpus is in fields.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeIpfix } from './ipfix.js';
import { createDecoderState } from './state.js';
import { FlowWriter } from './writer.js';
import type { DecoderState } from './types.js';
import { flowAt, type FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';

const EXPORTER = parseAddress('192.0.2.1');
const NOW = 1_700_000_000;

function u16(n: number): number[] {
  return [(n >>> 8) & 0xff, n & 0xff];
}
function u32(n: number): number[] {
  return [...u16(Math.floor(n / 65536)), ...u16(n % 65536)];
}
function u64(n: number): number[] {
  return [...u32(Math.floor(n / 2 ** 32)), ...u32(n % 2 ** 32)];
}
function message(domain: number, ...sets: number[][]): number[] {
  const body = sets.flat();
  return [...u16(10), ...u16(16 + body.length), ...u32(NOW), ...u32(0), ...u32(domain), ...body];
}
function set(id: number, body: number[]): number[] {
  return [...u16(id), ...u16(body.length + 4), ...body];
}
/** Field: [IE id, length] or [IE id, length, PEN]. */
type Spec = [number, number] | [number, number, number];
function specs(fields: Spec[]): number[] {
  return fields.flatMap(([id, length, pen]) => (pen === undefined ? [...u16(id), ...u16(length)] : [...u16(id | 0x8000), ...u16(length), ...u32(pen)]));
}
function template(id: number, fields: Spec[]): number[] {
  return set(2, [...u16(id), ...u16(fields.length), ...specs(fields)]);
}
function optionsTemplate(id: number, scope: Spec[], fields: Spec[]): number[] {
  return set(3, [...u16(id), ...u16(scope.length + fields.length), ...u16(scope.length), ...specs([...scope, ...fields])]);
}

function decode(messages: number[][], state = createDecoderState()): { rows: FlowRecord[]; state: DecoderState } {
  const out = new FlowWriter(4);
  for (const m of messages) decodeIpfix({ bytes: Uint8Array.from(m), exporter: EXPORTER, receivedAt: NOW }, state, out);
  return { rows: Array.from({ length: out.length }, (_, i) => flowAt(out.batch, i)), state };
}

const V4: Spec[] = [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1]];
const v4Record = (last: number): number[] => [10, 0, 0, last, 10, 0, 0, 2, ...u16(1000), ...u16(443), 6];

describe('IPFIX decoder', () => {
  it('reads variable-length fields in the 1-byte and 3-byte length forms (RFC 7011 §7)', () => {
    const fields: Spec[] = [[82, 0xffff], ...V4, [83, 0xffff]];
    const record = [3, 0x65, 0x74, 0x68, ...v4Record(1), 255, ...u16(300), ...new Array<number>(300).fill(0x41)];
    const { rows, state } = decode([message(1, template(300, fields), set(300, record))]);
    assert.equal(rows.length, 1);
    assert.deepEqual([formatAddress(rows[0]!.src_addr), rows[0]?.dst_port], ['10.0.0.1', 443]);
    assert.equal(state.counters.skipped.truncated, 0);
  });

  it('skips enterprise-specific elements by length, fixed or variable', () => {
    const fields: Spec[] = [[1, 4, 29305], ...V4, [2, 0xffff, 35632], [1, 4]];
    const record = [...u32(999), ...v4Record(7), 2, 0xaa, 0xbb, ...u32(1234)];
    const { rows } = decode([message(1, template(300, fields), set(300, record))]);
    assert.deepEqual([formatAddress(rows[0]!.src_addr), rows[0]?.bytes], ['10.0.0.7', 1234]);
  });

  it('reads counters in reduced-size encoding (RFC 7011 §6.2)', () => {
    const { rows } = decode([message(1, template(300, [...V4, [1, 2], [2, 1]]), set(300, [...v4Record(1), ...u16(65000), 9]))]);
    assert.deepEqual([rows[0]?.bytes, rows[0]?.packets], [65000, 9]);
  });

  it('sums initiator and responder octets and packets (Cisco ASA NSEL) into bytes and packets', () => {
    const { rows } = decode([message(1, template(300, [...V4, [231, 8], [232, 8], [298, 8], [299, 8]]), set(300, [...v4Record(1), ...u64(100), ...u64(900), ...u64(2), ...u64(3)]))]);
    assert.deepEqual([rows[0]?.bytes, rows[0]?.packets], [1000, 5]);
  });

  it('prefers delta counters over totals', () => {
    const { rows } = decode([message(1, template(300, [...V4, [85, 8], [1, 4]]), set(300, [...v4Record(1), ...u64(5000), ...u32(50)]))]);
    assert.equal(rows[0]?.bytes, 50);
  });

  it('withdraws one template (field count 0) and all templates of the domain (id 2)', () => {
    const state = createDecoderState();
    decode([message(1, template(300, V4), template(301, V4))], state);
    decode([message(1, set(2, [...u16(300), ...u16(0)]))], state);
    assert.equal(decode([message(1, set(300, v4Record(1)), set(301, v4Record(2)))], state).rows.length, 1);
    decode([message(1, set(2, [...u16(2), ...u16(0)]))], state);
    assert.equal(decode([message(1, set(301, v4Record(2)))], state).rows.length, 0);
    assert.equal(state.counters.skipped.no_template, 2);
  });

  it('keys templates by observation domain and reports it', () => {
    const state = createDecoderState();
    decode([message(7, template(300, V4))], state);
    const { rows } = decode([message(7, set(300, v4Record(1))), message(8, set(300, v4Record(1)))], state);
    assert.deepEqual(rows.map((r) => r.observation_domain), [7]);
  });

  it('learns the sampling rate from samplingPacketInterval/Space options records', () => {
    const options = optionsTemplate(400, [[149, 4]], [[305, 4], [306, 4]]);
    const { rows, state } = decode([message(3, options, set(400, [...u32(3), ...u32(1), ...u32(999)]), template(300, [...V4, [1, 4]]), set(300, [...v4Record(1), ...u32(10)]))]);
    assert.deepEqual([rows[0]?.sampling_rate, rows[0]?.bytes, state.counters.optionsRecords, state.counters.samplingUnknown], [1000, 10_000, 1, 0]);
  });

  it('reads absolute times in seconds, milliseconds and NTP microseconds', () => {
    const ntp = (unix: number): number[] => [...u32(unix + 2_208_988_800), ...u32(2 ** 31)];
    const { rows } = decode([message(1,
      template(300, [...V4, [150, 4], [151, 4]]), set(300, [...v4Record(1), ...u32(NOW - 60), ...u32(NOW - 1)]),
      template(301, [...V4, [152, 8], [153, 8]]), set(301, [...v4Record(1), ...u64((NOW - 30) * 1000 + 999), ...u64(NOW * 1000)]),
      template(302, [...V4, [154, 8], [155, 8]]), set(302, [...v4Record(1), ...ntp(NOW - 5), ...ntp(NOW - 2)]),
    )]);
    assert.deepEqual(rows.map((r) => [r.time_start, r.time_end]), [[NOW - 60, NOW - 1], [NOW - 30, NOW], [NOW - 5, NOW - 2]]);
  });

  it('makes uptime times absolute with systemInitTimeMilliseconds from an options record', () => {
    const options = optionsTemplate(400, [[149, 4]], [[160, 8]]);
    const { rows } = decode([message(1, options, set(400, [...u32(1), ...u64((NOW - 3600) * 1000)]), template(300, [...V4, [22, 4], [21, 4]]), set(300, [...v4Record(1), ...u32(1_000_000), ...u32(3_590_000)]))]);
    assert.deepEqual([rows[0]?.time_start, rows[0]?.time_end], [NOW - 3600 + 1000, NOW - 10]);
  });

  it('stops at set padding and counts a record cut short', () => {
    const fields: Spec[] = [...V4, [82, 0xffff]];
    const { rows, state } = decode([message(1, template(300, fields), set(300, [...v4Record(1), 0, ...v4Record(2), 9, 1, 2]))]);
    assert.equal(rows.length, 1);
    assert.equal(state.counters.skipped.truncated, 1);
    const padded = decode([message(1, template(301, V4), set(301, [...v4Record(1), 0, 0, 0]))]);
    assert.equal(padded.rows.length, 1);
    assert.equal(Object.values(padded.state.counters.skipped).reduce((a, b) => a + b, 0), 0);
  });

  it('refuses options templates without a scope field and template ids below 256', () => {
    const { state } = decode([message(1, set(3, [...u16(400), ...u16(1), ...u16(0), ...u16(34), ...u16(4)]), template(255, V4))]);
    assert.equal(state.counters.skipped.bad_template, 2);
  });

  it('reads IPv6 addresses and keeps a set length 0 from looping', () => {
    const { rows, state } = decode([
      message(1, template(300, [[27, 16], [28, 16]]), set(300, [...parseAddress('2001:db8::1'), ...parseAddress('2001:db8::2')])),
      message(1, [...u16(300), ...u16(0), 1, 2, 3, 4]),
    ]);
    assert.equal(formatAddress(rows[0]!.dst_addr), '2001:db8::2');
    assert.ok(state.counters.skipped.bad_length >= 1);
  });
});
