// IPFIX (RFC 7011) encoder: turns flow records into IPFIX messages (template set, an options
// template and record announcing the sampling rate, data sets), for tests, the simulator and the
// benchmarks. The inverse of collector/decoders/ipfix.ts for the fields a flow record has.
//
// Records are grouped by observation domain (one per message header). Counters are divided by the
// record's sampling rate and the rate is announced with samplingPacketInterval = 1 and
// samplingPacketSpace = rate - 1 (IEs 305/306, RFC 7012 / RFC 5477), scoped to the observation
// domain (IE 149); every record of one domain must share one rate. Times are
// flowStart/EndMilliseconds (IEs 152/153).
import { isV4Mapped } from '../../core/ip.js';
import type { FlowRecord } from '../../core/flow.js';

export interface IpfixEncodeOptions {
  /** Header export time (unix seconds); default the latest time_received of the records. */
  exportTime?: number;
  /** First header sequence number (counts data records, RFC 7011 §3.1); default 0. */
  sequence?: number;
  /** Where templates go: every message (default), the first of each domain, or none. */
  templates?: 'every' | 'first' | 'none';
  /** Largest message in bytes; default 1400. */
  maxMessageBytes?: number;
}

export const IPFIX_TEMPLATE_IPV4 = 256;
export const IPFIX_TEMPLATE_IPV6 = 257;
export const IPFIX_TEMPLATE_SAMPLING = 258;

const HEADER_LENGTH = 16;
const COMMON_FIELDS: readonly (readonly [number, number])[] = [
  [7, 2], // sourceTransportPort
  [11, 2], // destinationTransportPort
  [4, 1], // protocolIdentifier
  [6, 1], // tcpControlBits, reduced to 1 byte (RFC 7011 §6.2)
  [1, 8], // octetDeltaCount
  [2, 8], // packetDeltaCount
  [10, 4], // ingressInterface
  [14, 4], // egressInterface
  [58, 2], // vlanId
  [152, 8], // flowStartMilliseconds
  [153, 8], // flowEndMilliseconds
];
const V4_FIELDS = [[8, 4], [12, 4], ...COMMON_FIELDS] as const;
const V6_FIELDS = [[27, 16], [28, 16], ...COMMON_FIELDS] as const;
const RECORD_V4 = V4_FIELDS.reduce((n, [, l]) => n + l, 0);
const RECORD_V6 = V6_FIELDS.reduce((n, [, l]) => n + l, 0);
const TEMPLATE_SET_LENGTH = 4 + (4 + V4_FIELDS.length * 4) + (4 + V6_FIELDS.length * 4);
// Options template record: id, field count 3, scope count 1, then 149/4, 305/4, 306/4.
const OPTIONS_TEMPLATE_SET_LENGTH = 4 + 6 + 3 * 4;
const OPTIONS_DATA_SET_LENGTH = 4 + 12;

export function encodeIpfix(records: readonly FlowRecord[], options: IpfixEncodeOptions = {}): Uint8Array[] {
  const maxBytes = options.maxMessageBytes ?? 1400;
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
  const messages: Uint8Array[] = [];
  for (const [domain, list] of byDomain) {
    const rate = list[0]?.sampling_rate ?? 1;
    if (list.some((r) => (r.sampling_rate ?? 1) !== rate)) throw new RangeError(`records of domain ${domain} have different sampling rates; encode them separately`);
    let next = 0;
    let first = true;
    while (next < list.length) {
      const withTemplates = options.templates === 'every' || options.templates === undefined || (options.templates === 'first' && first);
      const buffer = new Uint8Array(maxBytes);
      const view = new DataView(buffer.buffer);
      let offset = HEADER_LENGTH;
      const sequenceAtStart = sequence;
      if (withTemplates) {
        offset = writeTemplates(view, offset);
        if (rate > 1) offset = writeSamplingOptions(view, offset, domain, rate);
      }
      while (next < list.length) {
        const family6 = !isV4Mapped((list[next] as FlowRecord).src_addr);
        const recordLength = family6 ? RECORD_V6 : RECORD_V4;
        if (offset + 4 + recordLength > maxBytes) break;
        const start = offset;
        offset += 4;
        while (next < list.length && offset + recordLength <= maxBytes) {
          const r = list[next] as FlowRecord;
          if (!isV4Mapped(r.src_addr) !== family6) break;
          offset = writeRecord(view, buffer, offset, r, family6, rate);
          next++;
          sequence++;
        }
        view.setUint16(start, family6 ? IPFIX_TEMPLATE_IPV6 : IPFIX_TEMPLATE_IPV4);
        view.setUint16(start + 2, offset - start);
      }
      view.setUint16(0, 10);
      view.setUint16(2, offset);
      view.setUint32(4, exportTime);
      view.setUint32(8, sequenceAtStart >>> 0);
      view.setUint32(12, domain);
      messages.push(buffer.slice(0, offset));
      first = false;
    }
  }
  return messages;
}

function writeTemplates(view: DataView, offset: number): number {
  view.setUint16(offset, 2);
  view.setUint16(offset + 2, TEMPLATE_SET_LENGTH);
  offset += 4;
  for (const [id, fields] of [[IPFIX_TEMPLATE_IPV4, V4_FIELDS], [IPFIX_TEMPLATE_IPV6, V6_FIELDS]] as const) {
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

/** RFC 7011 §3.4.2.2 options template (scope observationDomainId) and its record. */
function writeSamplingOptions(view: DataView, offset: number, domain: number, rate: number): number {
  view.setUint16(offset, 3);
  view.setUint16(offset + 2, OPTIONS_TEMPLATE_SET_LENGTH);
  view.setUint16(offset + 4, IPFIX_TEMPLATE_SAMPLING);
  view.setUint16(offset + 6, 3); // field count
  view.setUint16(offset + 8, 1); // scope field count
  view.setUint16(offset + 10, 149); // observationDomainId
  view.setUint16(offset + 12, 4);
  view.setUint16(offset + 14, 305); // samplingPacketInterval
  view.setUint16(offset + 16, 4);
  view.setUint16(offset + 18, 306); // samplingPacketSpace
  view.setUint16(offset + 20, 4);
  offset += OPTIONS_TEMPLATE_SET_LENGTH;
  view.setUint16(offset, IPFIX_TEMPLATE_SAMPLING);
  view.setUint16(offset + 2, OPTIONS_DATA_SET_LENGTH);
  view.setUint32(offset + 4, domain);
  view.setUint32(offset + 8, 1);
  view.setUint32(offset + 12, rate - 1);
  return offset + OPTIONS_DATA_SET_LENGTH;
}

function writeRecord(view: DataView, buffer: Uint8Array, offset: number, r: FlowRecord, family6: boolean, rate: number): number {
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
  view.setBigUint64(offset + 32, BigInt((r.time_start ?? r.time_received) * 1000));
  view.setBigUint64(offset + 40, BigInt((r.time_end ?? r.time_received) * 1000));
  return offset + 48;
}
