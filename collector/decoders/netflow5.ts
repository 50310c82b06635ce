// NetFlow v5 decoder: one datagram (24-byte header + up to 30 fixed 48-byte records) → flow rows.
// Owns the v5 wire layout, the uptime-to-wall-clock time conversion and the header sampling
// interval; knows nothing about sockets, batching or storage (see types.ts for the contract).
//
// Layout (Cisco "NetFlow Export Datagram Format", version 5):
//   header  0 version u16 | 2 count u16 | 4 sysUptime u32 (ms) | 8 unix_secs u32 | 12 unix_nsecs u32
//          16 flow_sequence u32 | 20 engine_type u8 | 21 engine_id u8 | 22 sampling_interval u16
//   record  0 srcaddr | 4 dstaddr | 8 nexthop | 12 input u16 | 14 output u16 | 16 dPkts u32
//          20 dOctets u32 | 24 first u32 (sysUptime ms) | 28 last u32 | 32 srcport u16 | 34 dstport u16
//          36 pad | 37 tcp_flags | 38 prot | 39 tos | 40 src_as u16 | 42 dst_as u16 | 44 src_mask
//          45 dst_mask | 46 pad u16
//
// Malformed datagrams are refused whole. v5 has no length field and no checksum: `count` is the
// only consistency check the format offers, so a count above the protocol maximum of 30
// ('bad_length') or one that claims more records than the datagram holds ('truncated') means the
// header cannot be trusted, and neither can the records (the logstash "invalid" captures carry
// garbage counters as well as a wrong count). UDP delivers datagrams whole, so no real exporter
// produces a short one. Bytes after the last counted record are ignored (some exporters pad).
import { enumIndex } from '../../core/flow.js';
import { exporterNames, fillExporter } from './exporter.js';
import type { Decoder } from './types.js';

export const NETFLOW5_HEADER_LENGTH = 24;
export const NETFLOW5_RECORD_LENGTH = 48;
/** Cisco's v5 format allows at most 30 records per datagram. */
export const NETFLOW5_MAX_RECORDS = 30;

const SOURCE_NETFLOW5 = enumIndex('source', 'netflow5');

export const decodeNetflow5: Decoder = (datagram, state, out) => {
  const counters = state.counters;
  counters.datagrams++;
  const bytes = datagram.bytes;
  if (bytes.length < NETFLOW5_HEADER_LENGTH) {
    counters.skip('truncated');
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 5) {
    counters.skip('bad_version');
    return;
  }
  const count = view.getUint16(2);
  if (count > NETFLOW5_MAX_RECORDS) {
    counters.skip('bad_length');
    return;
  }
  if (NETFLOW5_HEADER_LENGTH + count * NETFLOW5_RECORD_LENGTH > bytes.length) {
    counters.skip('truncated');
    return;
  }
  if (count === 0) return;

  const sysUptime = view.getUint32(4);
  // Export time in ms; flow times are offsets from it in sysUptime ms.
  const exportMs = view.getUint32(8) * 1000 + Math.floor(view.getUint32(12) / 1e6);
  const domain = (view.getUint8(20) << 8) | view.getUint8(21);
  // Top 2 bits: sampling mode; low 14 bits: the interval (1 in N packets). Juniper sets the
  // interval with mode 0, so the interval alone decides; 0 means the exporter does not say.
  const interval = view.getUint16(22) & 0x3fff;

  // Per datagram, not per flow: resolve the rate once. A configured override wins over the header.
  // The ':v5' suffix keeps rates learnt here apart from a v9/IPFIX/sFlow exporter at the same address.
  const exporter = datagram.exporter;
  const names = exporterNames(exporter);
  const key = names.keyV5;
  if (interval > 0) state.sampling.learn(key, domain, interval);
  const known = state.sampling.rate(key, domain, names.text);
  const rate = known ?? 1;
  if (known === undefined) counters.samplingUnknown += count;

  // Rows are taken for the whole datagram first, so the columns are read once (row() may grow
  // the writer, which replaces the arrays). Rows past the writer's length are already defaulted:
  // only non-default bytes are written (IPv4-mapped prefix ::ffff: is zeros then 0xffff).
  const first = out.row();
  for (let r = 1; r < count; r++) out.row();
  const c = out.columns;
  const timeReceived = c.time_received;
  const timeStart = c.time_start;
  const timeEnd = c.time_end;
  const source = c.source;
  const observationDomain = c.observation_domain;
  const srcAddr = c.src_addr;
  const dstAddr = c.dst_addr;
  const inIf = c.in_if;
  const outIf = c.out_if;
  const packets = c.packets;
  const flowBytes = c.bytes;
  const srcPort = c.src_port;
  const dstPort = c.dst_port;
  const tcpFlags = c.tcp_flags;
  const proto = c.proto;
  const samplingRate = c.sampling_rate;
  fillExporter(c.exporter, first, count, names.words);
  const receivedAt = datagram.receivedAt;
  for (let r = 0, at = NETFLOW5_HEADER_LENGTH; r < count; r++, at += NETFLOW5_RECORD_LENGTH) {
    const i = first + r;
    timeReceived[i] = receivedAt;
    timeStart[i] = uptimeToUnix(exportMs, sysUptime, view.getUint32(at + 24));
    timeEnd[i] = uptimeToUnix(exportMs, sysUptime, view.getUint32(at + 28));
    source[i] = SOURCE_NETFLOW5;
    observationDomain[i] = domain;
    const a = i * 16;
    srcAddr[a + 10] = 0xff;
    srcAddr[a + 11] = 0xff;
    srcAddr[a + 12] = bytes[at] as number;
    srcAddr[a + 13] = bytes[at + 1] as number;
    srcAddr[a + 14] = bytes[at + 2] as number;
    srcAddr[a + 15] = bytes[at + 3] as number;
    dstAddr[a + 10] = 0xff;
    dstAddr[a + 11] = 0xff;
    dstAddr[a + 12] = bytes[at + 4] as number;
    dstAddr[a + 13] = bytes[at + 5] as number;
    dstAddr[a + 14] = bytes[at + 6] as number;
    dstAddr[a + 15] = bytes[at + 7] as number;
    inIf[i] = view.getUint16(at + 12);
    outIf[i] = view.getUint16(at + 14);
    packets[i] = view.getUint32(at + 16) * rate;
    flowBytes[i] = view.getUint32(at + 20) * rate;
    srcPort[i] = view.getUint16(at + 32);
    dstPort[i] = view.getUint16(at + 34);
    tcpFlags[i] = bytes[at + 37] as number;
    proto[i] = bytes[at + 38] as number;
    samplingRate[i] = rate;
  }
  counters.flows += count;
};

/**
 * Unix seconds of a sysUptime timestamp, given the export time (ms) taken at `sysUptime`.
 * The difference is taken as a signed 32-bit number so a flow that started before the uptime
 * counter wrapped (every ~49.7 days) is still in the past, and a `first` a few ms after the
 * header's uptime (exporters that stamp the header first) lands just after the export time.
 */
export function uptimeToUnix(exportMs: number, sysUptime: number, at: number): number {
  const seconds = Math.floor((exportMs - ((sysUptime - at) | 0)) / 1000);
  return seconds < 0 ? 0 : seconds > 0xffffffff ? 0xffffffff : seconds;
}
