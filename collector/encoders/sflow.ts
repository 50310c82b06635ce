// sFlow v5 encoder (sflow.org/sflow_version_5.txt): turns flow records into sFlow datagrams of flow
// samples — each carrying a raw packet header (Ethernet, an 802.1Q tag when the record has a
// VLAN, IPv4 or IPv6, TCP/UDP/ICMP) and extended switch data — plus, on request, counter samples
// with generic interface counters. For tests, the simulator and the benchmarks; the inverse of
// collector/decoders/sflow.ts for the fields a flow record has.
//
// sFlow describes packets, not flows: one flow sample is one sampled packet that stands for
// `sampling_rate` packets. A record becomes round(packets / rate) samples (at least 1, at most
// MAX_SAMPLES_PER_RECORD), each with frame_length = bytes / (samples × rate), so decoding the
// datagrams gives back the record's bytes and packets whenever they divide evenly (always when
// packets = rate, the case the round-trip tests use).
import { isV4Mapped } from '../../core/ip.js';
import type { FlowRecord } from '../../core/flow.js';
import type { InterfaceCounters } from '../decoders/types.js';

export type SflowCountersInput = Omit<InterfaceCounters, 'exporter' | 'observationDomain' | 'time'>;

export interface SflowEncodeOptions {
  /** Agent address written in the datagram header (16 bytes); default the first record's exporter. */
  agent?: Uint8Array;
  /** First datagram sequence number; default 1. */
  sequence?: number;
  /** Sequence number of the first flow sample (an agent counts samples across datagrams); default 1. */
  sampleSequence?: number;
  /** Agent uptime in ms for the header; default 1 000 000. */
  uptime?: number;
  /** Largest datagram in bytes; default 1400 (sFlow agents keep under the path MTU, spec §5). */
  maxDatagramBytes?: number;
  /** Always use expanded flow samples (format 3); default only when an ifIndex needs more than 30 bits. */
  expanded?: boolean;
  /** Generic interface counters to send as counter samples (format 2), after the flow samples. */
  counters?: readonly SflowCountersInput[];
  /** Sub-agent id for the counter samples (flow samples use each record's observation_domain); default 0. */
  countersSubAgent?: number;
}

/** The UDP port sFlow collectors listen on by default (IANA "sflow"). */
export const SFLOW_PORT = 6343;
export const MAX_SAMPLES_PER_RECORD = 1000;

const SAMPLED_HEADER_BYTES = 128; // the spec's default header_bytes
const FCS_BYTES = 4;
const INTERFACE_COMPACT_MAX = 0x3fffffff;

/** Encodes records (and counters) into datagrams, one sub-agent (observation domain) per datagram. */
export function encodeSflow(records: readonly FlowRecord[], options: SflowEncodeOptions = {}): Uint8Array[] {
  const maxBytes = options.maxDatagramBytes ?? 1400;
  const agent = options.agent ?? records[0]?.exporter ?? new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
  let sequence = options.sequence ?? 1;
  let sampleSequence = options.sampleSequence ?? 1;
  const datagrams: Uint8Array[] = [];

  const bySubAgent = new Map<number, Uint8Array[]>();
  for (const record of records) {
    const subAgent = record.observation_domain ?? 0;
    let samples = bySubAgent.get(subAgent);
    if (samples === undefined) bySubAgent.set(subAgent, (samples = []));
    const rate = Math.max(1, record.sampling_rate ?? 1);
    const count = Math.min(MAX_SAMPLES_PER_RECORD, Math.max(1, Math.round((record.packets ?? rate) / rate)));
    const frameLength = Math.round((record.bytes ?? 0) / (count * rate));
    for (let k = 0; k < count; k++) samples.push(flowSample(record, rate, frameLength, sampleSequence++, options.expanded ?? false));
  }
  if (options.counters !== undefined && options.counters.length > 0) {
    const subAgent = options.countersSubAgent ?? 0;
    let samples = bySubAgent.get(subAgent);
    if (samples === undefined) bySubAgent.set(subAgent, (samples = []));
    for (const counters of options.counters) samples.push(counterSample(counters, sampleSequence++));
  }

  for (const [subAgent, samples] of bySubAgent) {
    let batch: Uint8Array[] = [];
    let size = headerLength(agent);
    for (const sample of samples) {
      if (batch.length > 0 && size + sample.length > maxBytes) {
        datagrams.push(datagram(agent, subAgent, sequence++, options.uptime ?? 1_000_000, batch));
        batch = [];
        size = headerLength(agent);
      }
      batch.push(sample);
      size += sample.length;
    }
    if (batch.length > 0) datagrams.push(datagram(agent, subAgent, sequence++, options.uptime ?? 1_000_000, batch));
  }
  return datagrams;
}

function headerLength(agent: Uint8Array): number {
  return 4 + 4 + (isV4Mapped(agent) ? 4 : 16) + 16;
}

/** Spec §5 "sample_datagram_v5". */
function datagram(agent: Uint8Array, subAgent: number, sequence: number, uptime: number, samples: readonly Uint8Array[]): Uint8Array {
  const w = new XdrWriter(headerLength(agent) + samples.reduce((n, s) => n + s.length, 0));
  w.u32(5);
  if (isV4Mapped(agent)) w.u32(1).bytes(agent.subarray(12, 16));
  else w.u32(2).bytes(agent);
  w.u32(subAgent).u32(sequence).u32(uptime).u32(samples.length);
  for (const sample of samples) w.bytes(sample);
  return w.out;
}

/** Spec §5 "flow_sample" (compact) or "flow_sample_expanded", framed as sample_record. */
function flowSample(record: FlowRecord, rate: number, frameLength: number, sequence: number, forceExpanded: boolean): Uint8Array {
  const header = packetHeader(record);
  const headerPadded = (header.length + 3) & ~3;
  const inIf = record.in_if ?? 0;
  const outIf = record.out_if ?? 0;
  const expanded = forceExpanded || inIf > INTERFACE_COMPACT_MAX || outIf > INTERFACE_COMPACT_MAX;
  const vlan = record.vlan ?? 0;
  const records = (vlan > 0 ? 1 : 0) + 1;
  const bodyLength = (expanded ? 44 : 32) + 8 + 16 + headerPadded + (vlan > 0 ? 8 + 16 : 0);
  const w = new XdrWriter(8 + bodyLength);
  w.u32(expanded ? 3 : 1).u32(bodyLength);
  w.u32(sequence);
  // Source id: ifIndex data source (class 0) of the input interface.
  if (expanded) w.u32(0).u32(inIf);
  else w.u32(inIf & 0xffffff);
  w.u32(rate).u32(sequence * rate).u32(0);
  if (expanded) w.u32(0).u32(inIf).u32(0).u32(outIf);
  else w.u32(inIf).u32(outIf);
  w.u32(records);
  // Spec §5 "extended_switch": the VLAN in and out.
  if (vlan > 0) w.u32(1001).u32(16).u32(vlan).u32(0).u32(vlan).u32(0);
  // Spec §5 "sampled_header": Ethernet, frame length with FCS, the 4 FCS bytes stripped.
  w.u32(1).u32(16 + headerPadded).u32(1).u32(frameLength).u32(FCS_BYTES).u32(header.length).bytes(header);
  return w.out;
}

/** Spec §5 "counters_sample" with one "if_counters" record (packets as unicast, multicast/broadcast 0). */
function counterSample(c: SflowCountersInput, sequence: number): Uint8Array {
  const w = new XdrWriter(8 + 12 + 8 + 88);
  w.u32(2).u32(12 + 8 + 88);
  w.u32(sequence).u32(c.ifIndex & 0xffffff).u32(1);
  w.u32(1).u32(88);
  w.u32(c.ifIndex).u32(6).u64(c.ifSpeed).u32(1).u32(3);
  w.u64(c.inOctets).u32(c.inPackets).u32(0).u32(0).u32(c.inDiscards).u32(c.inErrors).u32(0);
  w.u64(c.outOctets).u32(c.outPackets).u32(0).u32(0).u32(c.outDiscards).u32(c.outErrors).u32(0);
  return w.out;
}

/**
 * The sampled packet's first bytes: Ethernet (with an 802.1Q tag for a VLAN), IPv4 or IPv6, then a
 * TCP, UDP or ICMP header (ICMP type/code from
 * dst_port = type × 256 + code) — the headers alone: header_length below frame_length says the
 * rest of the frame was not captured (spec §5, sampled_header).
 */
function packetHeader(record: FlowRecord): Uint8Array {
  const v4 = isV4Mapped(record.src_addr) && isV4Mapped(record.dst_addr);
  const vlan = record.vlan ?? 0;
  const proto = record.proto ?? 0;
  const l2 = vlan > 0 ? 18 : 14;
  const l3 = v4 ? 20 : 40;
  const l4 = proto === 6 ? 20 : proto === 17 ? 8 : proto === 1 || proto === 58 ? 8 : 0;
  // Headers only, and an IP length that says so: a record has no payload to show, and made-up
  // payload bytes after a TCP header to port 88, 445 or 548 read as a broken Kerberos, SMB or AFP
  // message to any dissector. The packet's real size is the sample's frame_length, which is what
  // collectors count (spec §5: header_length and frame_length are separate).
  const ipLength = l3 + l4;
  const captured = Math.min(l2 + l3 + l4, SAMPLED_HEADER_BYTES);
  const out = new Uint8Array(captured);
  const view = new DataView(out.buffer);
  out.set([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01], 0);
  let at = 12;
  if (vlan > 0) {
    view.setUint16(at, 0x8100);
    view.setUint16(at + 2, vlan & 0x0fff);
    at += 4;
  }
  view.setUint16(at, v4 ? 0x0800 : 0x86dd);
  at += 2;
  const ip = at;
  if (v4) {
    out[ip] = 0x45;
    view.setUint16(ip + 2, ipLength);
    out[ip + 8] = 64;
    out[ip + 9] = proto;
    out.set(record.src_addr.subarray(12, 16), ip + 12);
    out.set(record.dst_addr.subarray(12, 16), ip + 16);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += view.getUint16(ip + i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    view.setUint16(ip + 10, ~sum & 0xffff);
  } else {
    out[ip] = 0x60;
    view.setUint16(ip + 4, ipLength - 40);
    out[ip + 6] = proto;
    out[ip + 7] = 64;
    out.set(record.src_addr, ip + 8);
    out.set(record.dst_addr, ip + 24);
  }
  const t = ip + l3;
  if (proto === 6) {
    view.setUint16(t, record.src_port ?? 0);
    view.setUint16(t + 2, record.dst_port ?? 0);
    out[t + 12] = 0x50;
    out[t + 13] = record.tcp_flags ?? 0;
    view.setUint16(t + 14, 65535);
  } else if (proto === 17) {
    view.setUint16(t, record.src_port ?? 0);
    view.setUint16(t + 2, record.dst_port ?? 0);
    view.setUint16(t + 4, ipLength - l3);
  } else if (proto === 1 || proto === 58) {
    view.setUint16(t, record.dst_port ?? 0);
  }
  return out;
}

/** Big-endian XDR fields into a buffer of known size (spec §3: XDR, RFC 4506). */
class XdrWriter {
  readonly out: Uint8Array;
  private readonly view: DataView;
  private at = 0;

  constructor(length: number) {
    this.out = new Uint8Array(length);
    this.view = new DataView(this.out.buffer);
  }

  u32(value: number): this {
    this.view.setUint32(this.at, value >>> 0);
    this.at += 4;
    return this;
  }

  u64(value: number): this {
    this.view.setUint32(this.at, Math.floor(value / 0x1_0000_0000) >>> 0);
    this.view.setUint32(this.at + 4, value >>> 0);
    this.at += 8;
    return this;
  }

  /** Opaque bytes, zero-padded to a multiple of 4 (RFC 4506 §4.9). */
  bytes(values: Uint8Array): this {
    this.out.set(values, this.at);
    this.at += (values.length + 3) & ~3;
    return this;
  }
}
