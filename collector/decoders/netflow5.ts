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
import { formatAddress, writeV4 } from '../../core/ip.js';
import { exporterKey } from './state.js';
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
  const key = exporterKey(exporter) + ':v5';
  if (interval > 0) state.sampling.learn(key, domain, interval);
  const known = state.sampling.rate(key, domain, formatAddress(exporter));
  const rate = known ?? 1;
  if (known === undefined) counters.samplingUnknown += count;

  const receivedAt = datagram.receivedAt;
  for (let r = 0, at = NETFLOW5_HEADER_LENGTH; r < count; r++, at += NETFLOW5_RECORD_LENGTH) {
    const i = out.row();
    const c = out.columns;
    c.time_received[i] = receivedAt;
    c.time_start[i] = uptimeToUnix(exportMs, sysUptime, view.getUint32(at + 24));
    c.time_end[i] = uptimeToUnix(exportMs, sysUptime, view.getUint32(at + 28));
    c.source[i] = SOURCE_NETFLOW5;
    c.exporter.set(exporter, i * 16);
    c.observation_domain[i] = domain;
    writeV4(c.src_addr, i * 16, view.getUint32(at));
    writeV4(c.dst_addr, i * 16, view.getUint32(at + 4));
    c.in_if[i] = view.getUint16(at + 12);
    c.out_if[i] = view.getUint16(at + 14);
    c.packets[i] = view.getUint32(at + 16) * rate;
    c.bytes[i] = view.getUint32(at + 20) * rate;
    c.src_port[i] = view.getUint16(at + 32);
    c.dst_port[i] = view.getUint16(at + 34);
    c.tcp_flags[i] = view.getUint8(at + 37);
    c.proto[i] = view.getUint8(at + 38);
    c.sampling_rate[i] = rate;
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
