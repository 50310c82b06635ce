// NetFlow v9 (RFC 3954) encoder: turns flow records into export datagrams (templates, an
// options record announcing the sampling rate, data flowsets), for tests, the simulator and the
// benchmarks. The inverse of collector/decoders/netflow9.ts for the fields a flow record has.
//
// Records are grouped by observation domain (the v9 source id, one per datagram). Counters are
// divided by the record's sampling rate (records carry scaled counts) and the rate is announced in
// an options record (fields 34 SAMPLING_INTERVAL / 35 SAMPLING_ALGORITHM, RFC 3954 §8), so the
// decoder scales them back; every record of one domain must share one rate.
// Times become FIRST/LAST_SWITCHED, uptime milliseconds relative to the header's sysUptime.
import type { FlowRecord } from '../../core/flow.js';
import { latestTime, recordsByDomain, writeDataSets, writeRecordPrefix, writeTemplateSet } from './templated.js';

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
// Options template: id, scope length 4 (one System scope field), option length 8 (two fields), padded.
const OPTIONS_TEMPLATE_FLOWSET_LENGTH = pad4(4 + 6 + 4 + 8);
const OPTIONS_DATA_FLOWSET_LENGTH = pad4(4 + 4 + 4 + 1);

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function encodeNetflow9(records: readonly FlowRecord[], options: Netflow9EncodeOptions = {}): Uint8Array[] {
  const maxBytes = options.maxDatagramBytes ?? 1400;
  const uptime = options.sysUptimeMs ?? 1_000_000_000;
  const exportTime = options.exportTime ?? latestTime(records);
  let sequence = options.sequence ?? 0;
  const datagrams: Uint8Array[] = [];
  for (const [domain, { records: list, rate }] of recordsByDomain(records)) {
    let next = 0;
    let first = true;
    while (next < list.length) {
      const withTemplates = options.templates === 'every' || options.templates === undefined || (options.templates === 'first' && first);
      const buffer = new Uint8Array(maxBytes);
      const view = new DataView(buffer.buffer);
      let offset = HEADER_LENGTH;
      let count = 0;
      if (withTemplates) {
        offset = writeTemplateSet(view, offset, 0, [[NETFLOW9_TEMPLATE_IPV4, V4_FIELDS], [NETFLOW9_TEMPLATE_IPV6, V6_FIELDS]]);
        count += 2;
        if (rate > 1) {
          offset = writeSamplingOptions(view, offset, rate);
          count += 2;
        }
      }
      const data = writeDataSets(view, offset, maxBytes, list, next, {
        recordLength: (family6) => (family6 ? RECORD_V6 : RECORD_V4),
        templateId: (family6) => (family6 ? NETFLOW9_TEMPLATE_IPV6 : NETFLOW9_TEMPLATE_IPV4),
        write: (at, r, family6) => writeRecord(view, buffer, at, r, family6, rate, exportTime, uptime),
        pad4: true,
      });
      // RFC 3954 §5.1: count is the number of records (templates, options and data) in the datagram.
      view.setUint16(0, 9);
      view.setUint16(2, count + data.written);
      view.setUint32(4, uptime);
      view.setUint32(8, exportTime);
      view.setUint32(12, sequence++);
      view.setUint32(16, domain);
      datagrams.push(buffer.slice(0, data.offset));
      next = data.next;
      first = false;
    }
  }
  return datagrams;
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
  offset = writeRecordPrefix(view, buffer, offset, r, family6, rate);
  const uptimeAt = (t: number): number => Math.max(0, uptime - (exportTime - t) * 1000) >>> 0;
  view.setUint32(offset, uptimeAt(r.time_start ?? r.time_received));
  view.setUint32(offset + 4, uptimeAt(r.time_end ?? r.time_received));
  return offset + 8;
}
