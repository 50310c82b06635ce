// NetFlow v9 (RFC 3954) encoder: turns flow records into export datagrams (templates, an
// options record announcing the sampling rate, data flowsets), for tests, the simulator and the
// benchmarks. The inverse of collector/decoders/netflow9.ts for the fields a flow record has.
//
// Records are grouped by observation domain (the v9 source id, one per datagram). Counters are
// divided by the record's sampling rate (records carry scaled counts) and the rate is announced in
// an options record (fields 34 SAMPLING_INTERVAL / 35 SAMPLING_ALGORITHM, RFC 3954 §8), so the
// decoder scales them back; every record of one domain must share one rate.
// Times become FIRST/LAST_SWITCHED, uptime milliseconds relative to the header's sysUptime.
import { isV4Mapped } from '../../core/ip.js';
import type { FlowRecord } from '../../core/flow.js';

export interface Netflow9EncodeOptions {
  /** Header unix seconds; default the latest time_received of the records. */
  exportTime?: number;
  /** Header sysUptime in ms; default 1,000,000,000 (about 11.6 days), so start times up to then fit. */
  sysUptimeMs?: number;
  /** First header sequence number (counts datagrams, RFC 3954 §5.1); default 0. */
  sequence?: number;
  /** Where templates go: every datagram (default), the first of each domain, or none. */
  templates?: 'every' | 'first' | 'none';
  /** Largest datagram in bytes; default 1400. */
  maxDatagramBytes?: number;
}

export const NETFLOW9_TEMPLATE_IPV4 = 256;
export const NETFLOW9_TEMPLATE_IPV6 = 257;
export const NETFLOW9_TEMPLATE_SAMPLING = 258;

const HEADER_LENGTH = 20;
/** [field type, length] in record order; addresses are filled per family. */
const COMMON_FIELDS: readonly (readonly [number, number])[] = [
  [7, 2], // L4_SRC_PORT
  [11, 2], // L4_DST_PORT
  [4, 1], // PROTOCOL
  [6, 1], // TCP_FLAGS
  [1, 8], // IN_BYTES
  [2, 8], // IN_PKTS
  [10, 4], // INPUT_SNMP
  [14, 4], // OUTPUT_SNMP
  [58, 2], // SRC_VLAN
  [22, 4], // FIRST_SWITCHED
  [21, 4], // LAST_SWITCHED
];
const V4_FIELDS = [[8, 4], [12, 4], ...COMMON_FIELDS] as const;
const V6_FIELDS = [[27, 16], [28, 16], ...COMMON_FIELDS] as const;
const RECORD_V4 = V4_FIELDS.reduce((n, [, l]) => n + l, 0);
const RECORD_V6 = V6_FIELDS.reduce((n, [, l]) => n + l, 0);
const TEMPLATE_FLOWSET_LENGTH = 4 + (4 + V4_FIELDS.length * 4) + (4 + V6_FIELDS.length * 4);
// Options template: id, scope length 4 (one System scope field), option length 8 (two fields), padded.
const OPTIONS_TEMPLATE_FLOWSET_LENGTH = pad4(4 + 6 + 4 + 8);
const OPTIONS_DATA_FLOWSET_LENGTH = pad4(4 + 4 + 4 + 1);

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function encodeNetflow9(records: readonly FlowRecord[], options: Netflow9EncodeOptions = {}): Uint8Array[] {
  const maxBytes = options.maxDatagramBytes ?? 1400;
  const uptime = options.sysUptimeMs ?? 1_000_000_000;
  let exportTime = options.exportTime ?? 0;
  if (options.exportTime === undefined) for (const r of records) exportTime = Math.max(exportTime, r.time_received);
  let sequence = options.sequence ?? 0;
  const byDomain = new Map<number, FlowRecord[]>();
  for (const r of records) {
    const domain = r.observation_domain ?? 0;
    let list = byDomain.get(domain);
    if (list === undefined) byDomain.set(domain, (list = []));
    list.push(r);
  }
  const datagrams: Uint8Array[] = [];
  for (const [domain, list] of byDomain) {
    const rate = list[0]?.sampling_rate ?? 1;
    if (list.some((r) => (r.sampling_rate ?? 1) !== rate)) throw new RangeError(`records of domain ${domain} have different sampling rates; encode them separately`);
    let next = 0;
    let first = true;
    while (next < list.length || (first && list.length === 0)) {
      const withTemplates = options.templates === 'every' || options.templates === undefined || (options.templates === 'first' && first);
      const buffer = new Uint8Array(maxBytes);
      const view = new DataView(buffer.buffer);
      let offset = HEADER_LENGTH;
      let count = 0;
      if (withTemplates) {
        offset = writeTemplates(view, offset);
        count += 2;
        if (rate > 1) {
          offset = writeSamplingOptions(view, offset, rate);
          count += 2;
        }
      }
      // Data: one flowset per run of same-family records.
      while (next < list.length) {
        const family6 = !isV4Mapped(list[next]?.src_addr ?? new Uint8Array(16));
        const recordLength = family6 ? RECORD_V6 : RECORD_V4;
        if (offset + 4 + recordLength > maxBytes) break;
        const start = offset;
        offset += 4;
        while (next < list.length && offset + recordLength <= maxBytes) {
          const r = list[next] as FlowRecord;
          if (!isV4Mapped(r.src_addr) !== family6) break;
          offset = writeRecord(view, buffer, offset, r, family6, rate, exportTime, uptime);
          next++;
          count++;
        }
        const end = Math.min(pad4(offset), maxBytes);
        view.setUint16(start, family6 ? NETFLOW9_TEMPLATE_IPV6 : NETFLOW9_TEMPLATE_IPV4);
        view.setUint16(start + 2, end - start);
        offset = end;
      }
      view.setUint16(0, 9);
      view.setUint16(2, count);
      view.setUint32(4, uptime);
      view.setUint32(8, exportTime);
      view.setUint32(12, sequence++);
      view.setUint32(16, domain);
      datagrams.push(buffer.slice(0, offset));
      first = false;
      if (list.length === 0) break;
    }
  }
  return datagrams;
}

function writeTemplates(view: DataView, offset: number): number {
  view.setUint16(offset, 0);
  view.setUint16(offset + 2, TEMPLATE_FLOWSET_LENGTH);
  offset += 4;
  for (const [id, fields] of [[NETFLOW9_TEMPLATE_IPV4, V4_FIELDS], [NETFLOW9_TEMPLATE_IPV6, V6_FIELDS]] as const) {
    view.setUint16(offset, id);
    view.setUint16(offset + 2, fields.length);
    offset += 4;
    for (const [type, length] of fields) {
      view.setUint16(offset, type);
      view.setUint16(offset + 2, length);
      offset += 4;
    }
  }
  return offset;
}

/** RFC 3954 §6.1-6.2: options template (scope System) and its record stating the rate. */
function writeSamplingOptions(view: DataView, offset: number, rate: number): number {
  const start = offset;
  view.setUint16(offset, 1);
  view.setUint16(offset + 2, OPTIONS_TEMPLATE_FLOWSET_LENGTH);
  view.setUint16(offset + 4, NETFLOW9_TEMPLATE_SAMPLING);
  view.setUint16(offset + 6, 4); // scope length in bytes
  view.setUint16(offset + 8, 8); // option length in bytes
  view.setUint16(offset + 10, 1); // scope: System
  view.setUint16(offset + 12, 4);
  view.setUint16(offset + 14, 34); // SAMPLING_INTERVAL
  view.setUint16(offset + 16, 4);
  view.setUint16(offset + 18, 35); // SAMPLING_ALGORITHM
  view.setUint16(offset + 20, 1);
  offset = start + OPTIONS_TEMPLATE_FLOWSET_LENGTH;
  view.setUint16(offset, NETFLOW9_TEMPLATE_SAMPLING);
  view.setUint16(offset + 2, OPTIONS_DATA_FLOWSET_LENGTH);
  view.setUint32(offset + 4, 0); // scope value: the system
  view.setUint32(offset + 8, rate);
  view.setUint8(offset + 12, 2); // random 1-out-of-N
  return offset + OPTIONS_DATA_FLOWSET_LENGTH;
}

function writeRecord(view: DataView, buffer: Uint8Array, offset: number, r: FlowRecord, family6: boolean, rate: number, exportTime: number, uptime: number): number {
  if (family6) {
    buffer.set(r.src_addr, offset);
    buffer.set(r.dst_addr, offset + 16);
    offset += 32;
  } else {
    buffer.set(r.src_addr.subarray(12, 16), offset);
    buffer.set(r.dst_addr.subarray(12, 16), offset + 4);
    offset += 8;
  }
  view.setUint16(offset, r.src_port ?? 0);
  view.setUint16(offset + 2, r.dst_port ?? 0);
  view.setUint8(offset + 4, r.proto ?? 0);
  view.setUint8(offset + 5, r.tcp_flags ?? 0);
  view.setBigUint64(offset + 6, BigInt(Math.round((r.bytes ?? 0) / rate)));
  view.setBigUint64(offset + 14, BigInt(Math.round((r.packets ?? 0) / rate)));
  view.setUint32(offset + 22, r.in_if ?? 0);
  view.setUint32(offset + 26, r.out_if ?? 0);
  view.setUint16(offset + 30, r.vlan ?? 0);
  const uptimeAt = (t: number): number => Math.max(0, uptime - (exportTime - t) * 1000) >>> 0;
  view.setUint32(offset + 32, uptimeAt(r.time_start ?? r.time_received));
  view.setUint32(offset + 36, uptimeAt(r.time_end ?? r.time_received));
  return offset + 40;
}
