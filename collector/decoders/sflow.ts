// sFlow v5 decoder (InMon, sflow.org/sflow_version_5.txt, "the spec" below). Owns the datagram,
// sample and record layouts: flow samples (compact and expanded) become flow rows, counter samples
// become interface counters on the decoder state, everything else is skipped by its length and
// counted. The sampled packet header itself is parsed by ./packet.ts.
//
// Choices the flow record forces on sFlow (DESIGN.md §4):
// - exporter is the datagram's UDP source, as for every protocol; the agent address inside the
//   datagram is read past, not used. The two differ when an agent sits behind NAT or a relay, or
//   reports a loopback address while sending from another interface.
// - observation_domain is the sub-agent id (spec §5 "sub_agent_id").
// - sFlow has no flow times: time_start = time_end = time_received.
// - one flow sample is one packet standing for `sampling_rate` packets (spec §5 "sampling_rate"):
//   packets = rate, bytes = frame_length × rate. frame_length is the original packet's length
//   (spec §5 "sampled_header": for a layer-2 header, every octet received on the network including
//   the FCS); `stripped` only says how much of it the copied header<> lacks, so it is not
//   subtracted — bytes match what the interface counters count.
// - in_if/out_if hold an ifIndex only (interface format 0); "discarded" (format 1), "multiple
//   interfaces" (format 2) and the internal-process value 0x3FFFFFFF are stored as 0.
// - vlan: extended switch data's src_vlan, else its dst_vlan, else the outer 802.1Q tag of the
//   sampled header.
// - a flow sample yields a row when its raw header reaches an IP header, else when it carries a
//   sampled IPv4/IPv6 record; a sampled non-IP frame (ARP, LLDP, …) has no address to map and is
//   counted `unsupported`.
import { enumIndex, type FlowColumns } from '../../core/flow.js';
import { parseEthernet, parseIPv4, parseIPv6, PACKET_IP, PACKET_TRUNCATED, type PacketResult } from './packet.js';
import { exporterNames } from './exporter.js';
import type { Datagram, Decoder, DecoderState } from './types.js';
import type { FlowWriter } from './writer.js';

const SOURCE_SFLOW = enumIndex('source', 'sflow');

// Spec §5 "address": the agent address is a union on its type.
const ADDRESS_UNKNOWN = 0;
const ADDRESS_IPV4 = 1;
const ADDRESS_IPV6 = 2;

// Spec §5 "sample_data" formats (enterprise 0). 5 is the 2020 discarded-packet sample, not decoded.
const SAMPLE_FLOW = 1;
const SAMPLE_COUNTERS = 2;
const SAMPLE_FLOW_EXPANDED = 3;
const SAMPLE_COUNTERS_EXPANDED = 4;

// Spec §5 "flow_data" formats (enterprise 0).
const RECORD_RAW_HEADER = 1;
const RECORD_ETHERNET = 2;
const RECORD_IPV4 = 3;
const RECORD_IPV6 = 4;
const RECORD_SWITCH = 1001;
/** Extended router … extended MPLS LDP FEC (1002–1012): defined by the spec, nothing for the row. */
const RECORD_EXTENDED_LAST = 1012;

// Spec §5 "header_protocol".
const HEADER_ETHERNET = 1;
const HEADER_IPV4 = 11;
const HEADER_IPV6 = 12;

// Spec §5 "counter_data" format 1: generic interface counters, 88 bytes.
const COUNTERS_GENERIC_INTERFACE = 1;
const GENERIC_INTERFACE_LENGTH = 88;

/** Spec §5 "interface": the value the spec reserves for "sent to / received from an internal process". */
const INTERFACE_INTERNAL = 0x3fffffff;
/** Spec §5 "extended_switch": 0xffffffff is "unknown". */
const VLAN_MAX = 4095;

const SAMPLE_HEADER_LENGTH = 8; // data_format + length
const RECORD_HEADER_LENGTH = 8;
const FLOW_SAMPLE_FIXED = 32;
const FLOW_SAMPLE_EXPANDED_FIXED = 44;
const RAW_HEADER_FIXED = 16;
const SAMPLED_IPV4_LENGTH = 32;
const SAMPLED_IPV6_LENGTH = 56;

export const decodeSflow: Decoder = (datagram, state, out) => {
  const counters = state.counters;
  counters.datagrams++;
  const bytes = datagram.bytes;
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (end < 8) {
    counters.skip(end >= 4 && view.getUint32(0) !== 5 ? 'bad_version' : 'truncated');
    return;
  }
  // Spec §5 "sample_datagram_v5". NetFlow v5 sent to the sFlow port reads as 0x0005xxxx here.
  if (view.getUint32(0) !== 5) {
    counters.skip('bad_version');
    return;
  }
  const addressType = view.getUint32(4);
  let offset = 8;
  if (addressType === ADDRESS_IPV4) offset += 4;
  else if (addressType === ADDRESS_IPV6) offset += 16;
  else if (addressType !== ADDRESS_UNKNOWN) {
    // Without the address length nothing after it can be located.
    counters.skip('unsupported');
    return;
  }
  if (offset + 16 > end) {
    counters.skip('truncated');
    return;
  }
  const subAgent = view.getUint32(offset);
  const sampleCount = view.getUint32(offset + 12);
  offset += 16;

  // Every sample takes at least 8 bytes, so the loop is bounded by the datagram's length whatever
  // sampleCount claims.
  for (let n = 0; n < sampleCount; n++) {
    if (offset + SAMPLE_HEADER_LENGTH > end) {
      counters.skip('truncated');
      return;
    }
    const dataFormat = view.getUint32(offset);
    const length = view.getUint32(offset + 4);
    const start = offset + SAMPLE_HEADER_LENGTH;
    if (length > end - start) {
      counters.skip('bad_length');
      return;
    }
    const sampleEnd = start + length;
    // Spec §5 "data_format": enterprise in the top 20 bits, format in the low 12.
    const format = dataFormat >>> 12 === 0 ? dataFormat & 0xfff : -1;
    if (format === SAMPLE_FLOW || format === SAMPLE_FLOW_EXPANDED) {
      decodeFlowSample(view, start, sampleEnd, format === SAMPLE_FLOW_EXPANDED, datagram, subAgent, state, out);
    } else if (format === SAMPLE_COUNTERS || format === SAMPLE_COUNTERS_EXPANDED) {
      decodeCounterSample(view, start, sampleEnd, format === SAMPLE_COUNTERS_EXPANDED, datagram, subAgent, state);
    } else {
      counters.skip('unsupported');
    }
    offset = sampleEnd;
  }
};

/** Spec §5 "interface" / "interface_expanded": an ifIndex only for format 0, else 0. */
function ifIndexOf(format: number, value: number): number {
  return format === 0 && value !== INTERFACE_INTERNAL ? value : 0;
}

/** Spec §5 "flow_sample" (format 1) and "flow_sample_expanded" (format 3). */
function decodeFlowSample(
  view: DataView,
  start: number,
  end: number,
  expanded: boolean,
  datagram: Datagram,
  subAgent: number,
  state: DecoderState,
  out: FlowWriter,
): void {
  const counters = state.counters;
  let rate: number;
  let inIf: number;
  let outIf: number;
  let recordCount: number;
  let offset: number;
  if (expanded) {
    if (end - start < FLOW_SAMPLE_EXPANDED_FIXED) {
      counters.skip('bad_length');
      return;
    }
    rate = view.getUint32(start + 12);
    inIf = ifIndexOf(view.getUint32(start + 24), view.getUint32(start + 28));
    outIf = ifIndexOf(view.getUint32(start + 32), view.getUint32(start + 36));
    recordCount = view.getUint32(start + 40);
    offset = start + FLOW_SAMPLE_EXPANDED_FIXED;
  } else {
    if (end - start < FLOW_SAMPLE_FIXED) {
      counters.skip('bad_length');
      return;
    }
    rate = view.getUint32(start + 8);
    // Compact interface: format in the top 2 bits, value in the low 30.
    const input = view.getUint32(start + 20);
    const output = view.getUint32(start + 24);
    inIf = ifIndexOf(input >>> 30, input & 0x3fffffff);
    outIf = ifIndexOf(output >>> 30, output & 0x3fffffff);
    recordCount = view.getUint32(start + 28);
    offset = start + FLOW_SAMPLE_FIXED;
  }

  // First pass: locate the records the row needs (they may come in any order).
  let header = -1;
  let headerEnd = 0;
  let headerProtocol = 0;
  let frameLength = 0;
  let ipv4Record = -1;
  let ipv6Record = -1;
  let srcVlan = -1;
  let dstVlan = -1;
  // Each record takes at least 8 bytes: bounded by the sample's length whatever recordCount says.
  for (let n = 0; n < recordCount; n++) {
    if (offset + RECORD_HEADER_LENGTH > end) {
      counters.skip('truncated');
      break;
    }
    const dataFormat = view.getUint32(offset);
    const length = view.getUint32(offset + 4);
    const body = offset + RECORD_HEADER_LENGTH;
    if (length > end - body) {
      counters.skip('bad_length');
      break;
    }
    const format = dataFormat >>> 12 === 0 ? dataFormat & 0xfff : -1;
    if (format === RECORD_RAW_HEADER) {
      // Spec §5 "sampled_header": protocol, frame_length, stripped, header<> (XDR opaque).
      const headerLength = length >= RAW_HEADER_FIXED ? view.getUint32(body + 12) : Infinity;
      if (headerLength > length - RAW_HEADER_FIXED) counters.skip('bad_length');
      else if (header < 0) {
        headerProtocol = view.getUint32(body);
        frameLength = view.getUint32(body + 4);
        header = body + RAW_HEADER_FIXED;
        headerEnd = header + headerLength;
      }
    } else if (format === RECORD_IPV4) {
      if (length < SAMPLED_IPV4_LENGTH) counters.skip('bad_length');
      else ipv4Record = body;
    } else if (format === RECORD_IPV6) {
      if (length < SAMPLED_IPV6_LENGTH) counters.skip('bad_length');
      else ipv6Record = body;
    } else if (format === RECORD_SWITCH) {
      if (length < 16) counters.skip('bad_length');
      else {
        srcVlan = view.getUint32(body);
        dstVlan = view.getUint32(body + 8);
      }
    } else if (format !== RECORD_ETHERNET && !(format > RECORD_SWITCH && format <= RECORD_EXTENDED_LAST)) {
      counters.skip('unsupported');
    }
    offset = body + length;
  }

  if (header < 0 && ipv4Record < 0 && ipv6Record < 0) {
    counters.skip('unsupported');
    return;
  }

  const i = out.row();
  const c = out.columns;
  let result: PacketResult = PACKET_TRUNCATED;
  let unsupportedHeader = false;
  if (header >= 0) {
    if (headerProtocol === HEADER_ETHERNET) result = parseEthernet(view, header, headerEnd, c, i);
    else if (headerProtocol === HEADER_IPV4) result = parseIPv4(view, header, headerEnd, c, i);
    else if (headerProtocol === HEADER_IPV6) result = parseIPv6(view, header, headerEnd, c, i);
    else unsupportedHeader = true;
  }
  let length: number;
  if (result === PACKET_IP) {
    length = frameLength;
  } else if (ipv4Record >= 0) {
    length = writeSampledIPv4(view, ipv4Record, c, i);
  } else if (ipv6Record >= 0) {
    length = writeSampledIPv6(view, ipv6Record, c, i);
  } else {
    out.unwind();
    counters.skip(result === PACKET_TRUNCATED && !unsupportedHeader ? 'truncated' : 'unsupported');
    return;
  }

  if (state.sampling.hasOverrides) rate = state.sampling.override(exporterNames(datagram.exporter).text) ?? rate;
  if (rate === 0) rate = fallbackRate(datagram.exporter, subAgent, state);
  // Both factors are 32-bit: a lying pair could pass 2^53, which the flow batch refuses whole.
  if (length * rate > Number.MAX_SAFE_INTEGER) {
    out.unwind();
    counters.skip('bad_length');
    return;
  }
  const receivedAt = datagram.receivedAt;
  c.time_received[i] = receivedAt;
  c.time_start[i] = receivedAt;
  c.time_end[i] = receivedAt;
  c.source[i] = SOURCE_SFLOW;
  c.exporter.set(datagram.exporter, i * 16);
  c.observation_domain[i] = subAgent;
  c.bytes[i] = length * rate;
  c.packets[i] = rate;
  c.sampling_rate[i] = rate;
  c.in_if[i] = inIf;
  c.out_if[i] = outIf;
  if (srcVlan > 0 && srcVlan <= VLAN_MAX) c.vlan[i] = srcVlan;
  else if (dstVlan > 0 && dstVlan <= VLAN_MAX) c.vlan[i] = dstVlan;
  counters.flows++;
}

/** A sample claiming rate 0 is unsampled information we cannot scale: configured rate, else 1. */
function fallbackRate(exporter: Uint8Array, subAgent: number, state: DecoderState): number {
  const names = exporterNames(exporter);
  const configured = state.sampling.rate(names.key, subAgent, names.text);
  if (configured !== undefined) return configured;
  state.counters.samplingUnknown++;
  return 1;
}

/** Spec §5 "sampled_ipv4": length, protocol, src, dst, src_port, dst_port, tcp_flags, tos. */
function writeSampledIPv4(view: DataView, body: number, c: FlowColumns, i: number): number {
  const a = i * 16;
  c.src_addr.fill(0, a, a + 10);
  c.src_addr[a + 10] = 0xff;
  c.src_addr[a + 11] = 0xff;
  c.dst_addr.fill(0, a, a + 10);
  c.dst_addr[a + 10] = 0xff;
  c.dst_addr[a + 11] = 0xff;
  for (let k = 0; k < 4; k++) {
    c.src_addr[a + 12 + k] = view.getUint8(body + 8 + k);
    c.dst_addr[a + 12 + k] = view.getUint8(body + 12 + k);
  }
  c.proto[i] = view.getUint32(body + 4) & 0xff;
  c.src_port[i] = view.getUint32(body + 16) & 0xffff;
  c.dst_port[i] = view.getUint32(body + 20) & 0xffff;
  c.tcp_flags[i] = view.getUint32(body + 24) & 0xff;
  return view.getUint32(body);
}

/** Spec §5 "sampled_ipv6": length, protocol, src, dst, src_port, dst_port, tcp_flags, priority. */
function writeSampledIPv6(view: DataView, body: number, c: FlowColumns, i: number): number {
  const a = i * 16;
  for (let k = 0; k < 16; k++) {
    c.src_addr[a + k] = view.getUint8(body + 8 + k);
    c.dst_addr[a + k] = view.getUint8(body + 24 + k);
  }
  c.proto[i] = view.getUint32(body + 4) & 0xff;
  c.src_port[i] = view.getUint32(body + 40) & 0xffff;
  c.dst_port[i] = view.getUint32(body + 44) & 0xffff;
  c.tcp_flags[i] = view.getUint32(body + 48) & 0xff;
  return view.getUint32(body);
}

/**
 * Spec §5 "counters_sample" (format 2) and "counters_sample_expanded" (format 4). Generic
 * interface counters (spec §5, counter format 1) go to state.interfaceCounters; the other
 * counter records (Ethernet, VLAN, processor, LAG, port name, …) are skipped by their length.
 * inPackets/outPackets are unicast + multicast + broadcast packets.
 */
function decodeCounterSample(
  view: DataView,
  start: number,
  end: number,
  expanded: boolean,
  datagram: Datagram,
  subAgent: number,
  state: DecoderState,
): void {
  const counters = state.counters;
  const fixed = expanded ? 16 : 12;
  if (end - start < fixed) {
    counters.skip('bad_length');
    return;
  }
  counters.counterSamples++;
  const recordCount = view.getUint32(start + fixed - 4);
  let offset = start + fixed;
  for (let n = 0; n < recordCount; n++) {
    if (offset + RECORD_HEADER_LENGTH > end) {
      counters.skip('truncated');
      return;
    }
    const dataFormat = view.getUint32(offset);
    const length = view.getUint32(offset + 4);
    const body = offset + RECORD_HEADER_LENGTH;
    if (length > end - body) {
      counters.skip('bad_length');
      return;
    }
    if (dataFormat === COUNTERS_GENERIC_INTERFACE) {
      if (length < GENERIC_INTERFACE_LENGTH) counters.skip('bad_length');
      else {
        state.interfaceCounters.push({
          exporter: datagram.exporter.slice(0, 16),
          observationDomain: subAgent,
          time: datagram.receivedAt,
          ifIndex: view.getUint32(body),
          ifSpeed: u64(view, body + 8),
          inOctets: u64(view, body + 24),
          inPackets: known(view, body + 32) + known(view, body + 36) + known(view, body + 40),
          inDiscards: view.getUint32(body + 44),
          inErrors: view.getUint32(body + 48),
          outOctets: u64(view, body + 56),
          outPackets: known(view, body + 64) + known(view, body + 68) + known(view, body + 72),
          outDiscards: view.getUint32(body + 76),
          outErrors: view.getUint32(body + 80),
        });
      }
    }
    offset = body + length;
  }
}

/**
 * A 32-bit counter the agent may not keep: agents report those as all ones (-1; the corpus's
 * telegraf sflow_v5_example does for multicast/broadcast), which must not be summed into a total.
 */
function known(view: DataView, offset: number): number {
  const value = view.getUint32(offset);
  return value === 0xffffffff ? 0 : value;
}

/** XDR unsigned hyper as a number: exact below 2^53 (9 PB), rounded to a relative 1e-16 above. */
function u64(view: DataView, offset: number): number {
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}
