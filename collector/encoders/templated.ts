// What the NetFlow v9 and IPFIX encoders share: both group records by domain with one sampling
// rate each, announce the same two data templates (IPv4, IPv6) in the same set layout, write the
// same record prefix (addresses through VLAN), and pack runs of same-family records into data
// sets. The protocol files keep their headers, options records, times and set padding.
import { isV4Mapped } from '../../core/ip.js';
import type { FlowRecord } from '../../core/flow.js';

export type FieldList = readonly (readonly [type: number, length: number])[];

/** The latest time_received, the default export time. */
export function latestTime(records: readonly FlowRecord[]): number {
  let latest = 0;
  for (const r of records) latest = Math.max(latest, r.time_received);
  return latest;
}

/** Records by observation domain, each domain with the one sampling rate all its records share. */
export function recordsByDomain(records: readonly FlowRecord[]): Map<number, { records: FlowRecord[]; rate: number }> {
  const byDomain = new Map<number, { records: FlowRecord[]; rate: number }>();
  for (const r of records) {
    const domain = r.observation_domain ?? 0;
    const rate = r.sampling_rate ?? 1;
    let group = byDomain.get(domain);
    if (group === undefined) byDomain.set(domain, (group = { records: [], rate }));
    if (rate !== group.rate) throw new RangeError(`records of domain ${domain} have different sampling rates; encode them separately`);
    group.records.push(r);
  }
  return byDomain;
}

/** A template set (v9 flowset id 0, IPFIX set id 2): each template's id, field count and fields. */
export function writeTemplateSet(view: DataView, offset: number, setId: number, templates: readonly (readonly [id: number, fields: FieldList])[]): number {
  const start = offset;
  view.setUint16(offset, setId);
  offset += 4;
  for (const [id, fields] of templates) {
    view.setUint16(offset, id);
    view.setUint16(offset + 2, fields.length);
    offset += 4;
    for (const [type, length] of fields) {
      view.setUint16(offset, type);
      view.setUint16(offset + 2, length);
      offset += 4;
    }
  }
  view.setUint16(start + 2, offset - start);
  return offset;
}

/**
 * The record prefix both templates share: addresses (4 or 16 bytes each), ports, protocol, TCP
 * flags, 8-byte octets and packets divided by the rate, input/output interface, VLAN. Returns the
 * offset after it, where the protocol writes its times.
 */
export function writeRecordPrefix(view: DataView, buffer: Uint8Array, offset: number, r: FlowRecord, family6: boolean, rate: number): number {
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
  return offset + 32;
}

export interface DataSetLayout {
  recordLength(family6: boolean): number;
  templateId(family6: boolean): number;
  /** Writes one record, returns the offset after it. */
  write(offset: number, record: FlowRecord, family6: boolean): number;
  /** NetFlow v9 pads each flowset to 4 bytes (RFC 3954 §5.3); IPFIX needs no padding. */
  pad4: boolean;
}

/**
 * Fills the buffer from `offset` with data sets, one per run of same-family records starting at
 * `records[next]`, until the records or the room run out.
 */
export function writeDataSets(
  view: DataView,
  offset: number,
  maxBytes: number,
  records: readonly FlowRecord[],
  next: number,
  layout: DataSetLayout,
): { offset: number; next: number; written: number } {
  let written = 0;
  while (next < records.length) {
    const family6 = !isV4Mapped((records[next] as FlowRecord).src_addr);
    const recordLength = layout.recordLength(family6);
    if (offset + 4 + recordLength > maxBytes) break;
    const start = offset;
    offset += 4;
    while (next < records.length && offset + recordLength <= maxBytes) {
      const r = records[next] as FlowRecord;
      if (!isV4Mapped(r.src_addr) !== family6) break;
      offset = layout.write(offset, r, family6);
      next++;
      written++;
    }
    const end = layout.pad4 ? Math.min((offset + 3) & ~3, maxBytes) : offset;
    view.setUint16(start, layout.templateId(family6));
    view.setUint16(start + 2, end - start);
    offset = end;
  }
  return { offset, next, written };
}
