// Parsing a sampled packet header (the first bytes of a packet an sFlow agent copied off the
// wire) straight into one row of the flow batch: Ethernet, 802.1Q/802.1ad VLAN tags (QinQ), MPLS
// label stacks, IPv4, IPv6 with its extension headers, and the TCP, UDP, SCTP, ICMP and ICMPv6
// headers that carry ports, flags or type/code. Headers are usually cut short (128 bytes by
// default, sFlow v5 §5 "sampled_header"), so every read checks the bound and a short header
// yields what it has: addresses without ports, or nothing when the IP header is incomplete.
//
// Owns: the byte layout of those link, network and transport headers. Knows nothing of sFlow:
// the sFlow decoder hands it (bytes, start, end) and decides what to do with the result.
import type { FlowColumns } from '../../core/flow.js';
import { writeV4 } from '../../core/ip.js';

/** What a header yielded. Only PACKET_IP means addresses (and proto) were written to the row. */
export const PACKET_IP = 0;
/** A complete link header whose payload is not IP (ARP, LLDP, …): nothing to write. */
export const PACKET_NOT_IP = 1;
/** The header ended before the IP addresses. */
export const PACKET_TRUNCATED = 2;
export type PacketResult = typeof PACKET_IP | typeof PACKET_NOT_IP | typeof PACKET_TRUNCATED;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100; // IEEE 802.1Q
const ETHERTYPE_QINQ = 0x88a8; // IEEE 802.1ad service tag
const ETHERTYPE_QINQ_OLD = 0x9100; // pre-standard QinQ still sent by some switches
const ETHERTYPE_MPLS = 0x8847;
const ETHERTYPE_MPLS_MULTICAST = 0x8848;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const PROTO_SCTP = 132;
const PROTO_UDPLITE = 136;

/**
 * Ethernet II frame (IEEE 802.3 with an EtherType). VLAN tags are peeled in order; the first
 * (outer) tag's VLAN id goes to `vlan`: it is the VLAN of the link the packet was sampled on,
 * which is also what a switch reports as src_vlan in extended switch data (sFlow v5 §5).
 * 802.3 frames with a length instead of an EtherType (LLC/SNAP) are not IP here.
 */
export function parseEthernet(view: DataView, start: number, end: number, c: FlowColumns, row: number): PacketResult {
  let offset = start + 12;
  if (offset + 2 > end) return PACKET_TRUNCATED;
  let etherType = view.getUint16(offset);
  offset += 2;
  let vlanSeen = false;
  // Each tag consumes 4 bytes, so the loop ends at the header's end at the latest.
  while (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD) {
    if (offset + 4 > end) return PACKET_TRUNCATED;
    if (!vlanSeen) {
      c.vlan[row] = view.getUint16(offset) & 0x0fff;
      vlanSeen = true;
    }
    etherType = view.getUint16(offset + 2);
    offset += 4;
  }
  if (etherType === ETHERTYPE_MPLS || etherType === ETHERTYPE_MPLS_MULTICAST) return parseMpls(view, offset, end, c, row);
  if (etherType === ETHERTYPE_IPV4) return parseIPv4(view, offset, end, c, row);
  if (etherType === ETHERTYPE_IPV6) return parseIPv6(view, offset, end, c, row);
  return PACKET_NOT_IP;
}

/**
 * MPLS label stack (RFC 3032 §2.1): 4-byte entries until the bottom-of-stack bit; the payload has
 * no type field, so the IP version nibble decides (RFC 4928 §2 relies on the same guess).
 */
function parseMpls(view: DataView, start: number, end: number, c: FlowColumns, row: number): PacketResult {
  let offset = start;
  for (;;) {
    if (offset + 4 > end) return PACKET_TRUNCATED;
    const bottom = view.getUint8(offset + 2) & 0x01;
    offset += 4;
    if (bottom === 1) break;
  }
  if (offset >= end) return PACKET_TRUNCATED;
  const version = view.getUint8(offset) >> 4;
  if (version === 4) return parseIPv4(view, offset, end, c, row);
  if (version === 6) return parseIPv6(view, offset, end, c, row);
  return PACKET_NOT_IP;
}

/** IPv4 header (RFC 791 §3.1). Non-first fragments carry no transport header: ports stay 0. */
export function parseIPv4(view: DataView, start: number, end: number, c: FlowColumns, row: number): PacketResult {
  if (start + 20 > end) return PACKET_TRUNCATED;
  const versionIhl = view.getUint8(start);
  if (versionIhl >> 4 !== 4) return PACKET_NOT_IP;
  const proto = view.getUint8(start + 9);
  writeV4(c.src_addr, row * 16, view.getUint32(start + 12));
  writeV4(c.dst_addr, row * 16, view.getUint32(start + 16));
  c.proto[row] = proto;
  const headerLength = (versionIhl & 0x0f) * 4;
  const fragmentOffset = view.getUint16(start + 6) & 0x1fff;
  if (headerLength >= 20 && fragmentOffset === 0) parseTransport(view, start + headerLength, end, proto, c, row);
  return PACKET_IP;
}

// IPv6 extension headers that may precede the transport header (RFC 8200 §4, RFC 4302 for AH).
const EXT_HOP_BY_HOP = 0;
const EXT_ROUTING = 43;
const EXT_FRAGMENT = 44;
const EXT_AH = 51;
const EXT_DESTINATION = 60;
const EXT_MOBILITY = 135;
const EXT_HIP = 139;
const EXT_SHIM6 = 140;

/**
 * IPv6 header (RFC 8200 §3) and its extension header chain (§4): `proto` is the upper-layer
 * protocol at the end of the chain. A fragment header with a non-zero offset ends the walk (no
 * transport header follows); so does a chain that runs past the captured bytes (proto is then the
 * last next-header value seen).
 */
export function parseIPv6(view: DataView, start: number, end: number, c: FlowColumns, row: number): PacketResult {
  if (start + 40 > end) return PACKET_TRUNCATED;
  if (view.getUint8(start) >> 4 !== 6) return PACKET_NOT_IP;
  const src = row * 16;
  for (let k = 0; k < 16; k++) {
    c.src_addr[src + k] = view.getUint8(start + 8 + k);
    c.dst_addr[src + k] = view.getUint8(start + 24 + k);
  }
  let next = view.getUint8(start + 6);
  let offset = start + 40;
  // Every extension header is at least 8 bytes, so the walk ends at the header's end at the latest.
  for (;;) {
    if (
      next === EXT_HOP_BY_HOP ||
      next === EXT_ROUTING ||
      next === EXT_DESTINATION ||
      next === EXT_MOBILITY ||
      next === EXT_HIP ||
      next === EXT_SHIM6
    ) {
      if (offset + 8 > end) break;
      const following = view.getUint8(offset);
      offset += (view.getUint8(offset + 1) + 1) * 8;
      next = following;
    } else if (next === EXT_AH) {
      if (offset + 8 > end) break;
      const following = view.getUint8(offset);
      offset += (view.getUint8(offset + 1) + 2) * 4;
      next = following;
    } else if (next === EXT_FRAGMENT) {
      if (offset + 8 > end) break;
      const following = view.getUint8(offset);
      const fragmentOffset = view.getUint16(offset + 2) >> 3;
      offset += 8;
      next = following;
      if (fragmentOffset !== 0) {
        c.proto[row] = next;
        return PACKET_IP;
      }
    } else {
      c.proto[row] = next;
      parseTransport(view, offset, end, next, c, row);
      return PACKET_IP;
    }
  }
  c.proto[row] = next;
  return PACKET_IP;
}

/**
 * Ports and flags. ICMP and ICMPv6 have no ports: type and code go to dst_port as type × 256 +
 * code, the convention NetFlow exporters use (RFC 3954 §8 field 32, ICMP_TYPE), so sFlow and
 * NetFlow rows for ICMP look alike.
 */
function parseTransport(view: DataView, offset: number, end: number, proto: number, c: FlowColumns, row: number): void {
  if (proto === PROTO_TCP) {
    if (offset + 4 > end) return;
    c.src_port[row] = view.getUint16(offset);
    c.dst_port[row] = view.getUint16(offset + 2);
    // RFC 9293 §3.1: the flags byte (CWR … FIN) is byte 13 of the TCP header.
    if (offset + 14 <= end) c.tcp_flags[row] = view.getUint8(offset + 13);
  } else if (proto === PROTO_UDP || proto === PROTO_SCTP || proto === PROTO_UDPLITE) {
    if (offset + 4 > end) return;
    c.src_port[row] = view.getUint16(offset);
    c.dst_port[row] = view.getUint16(offset + 2);
  } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    if (offset + 2 > end) return;
    c.dst_port[row] = view.getUint16(offset);
  }
}
