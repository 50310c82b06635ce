// NetFlow v5 encoder: flow records → v5 datagrams (24-byte header + at most 30 records of 48 bytes),
// the inverse of collector/decoders/netflow5.ts. Used by tests, the simulator and benchmarks; not
// on the collector's receive path, so it favours clear failures over speed.
//
// Semantics that make encode → decode return the same records:
// - Records carry totals as the decoder reports them (already scaled by sampling). With a
//   `samplingInterval` N the encoder writes round(bytes / N) and round(packets / N), the counts a
//   1-in-N sampling exporter would send; the decoder multiplies them back.
// - Times are Unix seconds; the wire carries them as sysUptime milliseconds relative to the header
//   (first/last = sysUptimeMs - (unixSeconds - time) × 1000, modulo 2^32 as the counter wraps).
// - One engine type/id per datagram (the observation domain the decoder reports as
//   (engineType << 8) | engineId); the records' own observation_domain is not carried.
// - Fields v5 has no room for (IPv6 addresses, interfaces above 65535, counters above 2^32 - 1
//   after division) are refused with a RangeError naming the record, never silently truncated.
// - Next hop, ToS, AS numbers and masks are written as 0: flowmap's record does not carry them.
import type { FlowRecord } from '../../core/flow.js';
import { isV4Mapped } from '../../core/ip.js';

export interface Netflow5EncodeOptions {
  /** Exporter uptime at export, ms (header sysUptime). Default 3,600,000 (one hour). */
  sysUptimeMs?: number;
  /** Export time, Unix seconds (header unix_secs). Default: the latest time_end of the records. */
  unixSeconds?: number;
  /** Header nanoseconds. Default 0. */
  unixNanoseconds?: number;
  /** 1-in-N packet sampling interval (14 bits); 0 = not announced. Default 0. */
  samplingInterval?: number;
  /** Sampling mode (the header's top 2 bits). Default 1 (deterministic) when an interval is set. */
  samplingMode?: number;
  engineType?: number;
  engineId?: number;
  /** flow_sequence of the first datagram; each further one adds the records sent before it. */
  sequence?: number;
}

export type Netflow5Input = Pick<FlowRecord, 'src_addr' | 'dst_addr' | 'time_received'> &
  Partial<Pick<FlowRecord, 'time_start' | 'time_end' | 'src_port' | 'dst_port' | 'proto' | 'tcp_flags' | 'bytes' | 'packets' | 'in_if' | 'out_if'>>;

const HEADER = 24;
const RECORD = 48;
const MAX_RECORDS = 30;

/** Datagrams of at most 30 records each, in input order; no records → no datagram. */
export function encodeNetflow5(records: readonly Netflow5Input[], options: Netflow5EncodeOptions = {}): Uint8Array[] {
  const sysUptimeMs = options.sysUptimeMs ?? 3_600_000;
  const unixSeconds = options.unixSeconds ?? records.reduce((t, r) => Math.max(t, r.time_end ?? r.time_received), 0);
  const interval = options.samplingInterval ?? 0;
  const mode = options.samplingMode ?? (interval > 0 ? 1 : 0);
  const engineType = options.engineType ?? 0;
  const engineId = options.engineId ?? 0;
  checkRange('samplingInterval', interval, 0x3fff);
  checkRange('samplingMode', mode, 3);
  checkRange('engineType', engineType, 0xff);
  checkRange('engineId', engineId, 0xff);
  checkRange('sysUptimeMs', sysUptimeMs, 0xffffffff);
  checkRange('unixSeconds', unixSeconds, 0xffffffff);
  const divisor = interval > 0 ? interval : 1;
  let sequence = options.sequence ?? 0;

  const datagrams: Uint8Array[] = [];
  for (let first = 0; first < records.length; first += MAX_RECORDS) {
    const count = Math.min(MAX_RECORDS, records.length - first);
    const bytes = new Uint8Array(HEADER + count * RECORD);
    const view = new DataView(bytes.buffer);
    view.setUint16(0, 5);
    view.setUint16(2, count);
    view.setUint32(4, sysUptimeMs);
    view.setUint32(8, unixSeconds);
    view.setUint32(12, options.unixNanoseconds ?? 0);
    view.setUint32(16, sequence >>> 0);
    view.setUint8(20, engineType);
    view.setUint8(21, engineId);
    view.setUint16(22, (mode << 14) | interval);
    for (let r = 0; r < count; r++) {
      const index = first + r;
      const record = records[index] as Netflow5Input;
      const at = HEADER + r * RECORD;
      view.setUint32(at, v4(record.src_addr, index, 'src_addr'));
      view.setUint32(at + 4, v4(record.dst_addr, index, 'dst_addr'));
      view.setUint16(at + 12, field(record.in_if, 0xffff, index, 'in_if'));
      view.setUint16(at + 14, field(record.out_if, 0xffff, index, 'out_if'));
      view.setUint32(at + 16, field(Math.round((record.packets ?? 0) / divisor), 0xffffffff, index, 'packets'));
      view.setUint32(at + 20, field(Math.round((record.bytes ?? 0) / divisor), 0xffffffff, index, 'bytes'));
      view.setUint32(at + 24, uptimeOf(record.time_start ?? record.time_received, sysUptimeMs, unixSeconds));
      view.setUint32(at + 28, uptimeOf(record.time_end ?? record.time_received, sysUptimeMs, unixSeconds));
      view.setUint16(at + 32, field(record.src_port, 0xffff, index, 'src_port'));
      view.setUint16(at + 34, field(record.dst_port, 0xffff, index, 'dst_port'));
      view.setUint8(at + 37, field(record.tcp_flags, 0xff, index, 'tcp_flags'));
      view.setUint8(at + 38, field(record.proto, 0xff, index, 'proto'));
    }
    sequence += count;
    datagrams.push(bytes);
  }
  return datagrams;
}

/** sysUptime (ms, wrapping at 2^32) of a Unix time, relative to the header's (sysUptimeMs, unixSeconds). */
function uptimeOf(time: number, sysUptimeMs: number, unixSeconds: number): number {
  return (sysUptimeMs - (unixSeconds - time) * 1000) >>> 0;
}

function v4(address: Uint8Array, index: number, name: string): number {
  if (address.length !== 16 || !isV4Mapped(address)) {
    throw new RangeError(`record ${index}: ${name} is not an IPv4 address; NetFlow v5 carries IPv4 only (use NetFlow v9 or IPFIX for IPv6)`);
  }
  return (((address[12] ?? 0) << 24) | ((address[13] ?? 0) << 16) | ((address[14] ?? 0) << 8) | (address[15] ?? 0)) >>> 0;
}

function field(value: number | undefined, max: number, index: number, name: string): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`record ${index}: ${name} = ${v} does not fit NetFlow v5 (0..${max})`);
  return v;
}

function checkRange(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${name} = ${value} is outside 0..${max}`);
}
