// IPFIX (RFC 7011) encoder: turns flow records into IPFIX messages (template set, an options
// template and record announcing the sampling rate, data sets), for tests, the simulator and the
// benchmarks. The inverse of collector/decoders/ipfix.ts for the fields a flow record has.
//
// Records are grouped by observation domain (one per message header). Counters are divided by the
// record's sampling rate and the rate is announced with samplingPacketInterval = 1 and
// samplingPacketSpace = rate - 1 (IEs 305/306, RFC 7012 / RFC 5477), scoped to the observation
// domain (IE 149); every record of one domain must share one rate. Times are
// flowStart/EndMilliseconds (IEs 152/153).
import type { FlowRecord } from '../../core/flow.js';
import { latestTime, recordsByDomain, writeDataSets, writeRecordPrefix, writeTemplateSet } from './templated.js';

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
// Options template record: id, field count 3, scope count 1, then 149/4, 305/4, 306/4.
const OPTIONS_TEMPLATE_SET_LENGTH = 4 + 6 + 3 * 4;
const OPTIONS_DATA_SET_LENGTH = 4 + 12;

export function encodeIpfix(records: readonly FlowRecord[], options: IpfixEncodeOptions = {}): Uint8Array[] {
  const maxBytes = options.maxMessageBytes ?? 1400;
  const exportTime = options.exportTime ?? latestTime(records);
  let sequence = options.sequence ?? 0;
  const messages: Uint8Array[] = [];
  for (const [domain, { records: list, rate }] of recordsByDomain(records)) {
    let next = 0;
    let first = true;
    while (next < list.length) {
      const withTemplates = options.templates === 'every' || options.templates === undefined || (options.templates === 'first' && first);
      const buffer = new Uint8Array(maxBytes);
      const view = new DataView(buffer.buffer);
      let offset = HEADER_LENGTH;
      if (withTemplates) {
        offset = writeTemplateSet(view, offset, 2, [[IPFIX_TEMPLATE_IPV4, V4_FIELDS], [IPFIX_TEMPLATE_IPV6, V6_FIELDS]]);
        if (rate > 1) offset = writeSamplingOptions(view, offset, domain, rate);
      }
      const data = writeDataSets(view, offset, maxBytes, list, next, {
        recordLength: (family6) => (family6 ? RECORD_V6 : RECORD_V4),
        templateId: (family6) => (family6 ? IPFIX_TEMPLATE_IPV6 : IPFIX_TEMPLATE_IPV4),
        write: (at, r, family6) => writeRecord(view, buffer, at, r, family6, rate),
        pad4: false,
      });
      view.setUint16(0, 10);
      view.setUint16(2, data.offset);
      view.setUint32(4, exportTime);
      // RFC 7011 §3.1: the sequence number counts data records sent before this message.
      view.setUint32(8, sequence >>> 0);
      view.setUint32(12, domain);
      messages.push(buffer.slice(0, data.offset));
      sequence += data.written;
      next = data.next;
      first = false;
    }
  }
  return messages;
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
  offset = writeRecordPrefix(view, buffer, offset, r, family6, rate);
  view.setBigUint64(offset, BigInt((r.time_start ?? r.time_received) * 1000));
  view.setBigUint64(offset + 8, BigInt((r.time_end ?? r.time_received) * 1000));
  return offset + 16;
}
