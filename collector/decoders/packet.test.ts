// Sampled packet header parsing, specified with literal frames: what each header yields in the
// flow row, and that a header cut at any byte never throws nor writes past what it has.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { flowAt } from '../../core/flow.js';
import { formatAddress } from '../../core/ip.js';
import { PACKET_IP, PACKET_NOT_IP, PACKET_TRUNCATED, parseEthernet, parseIPv4, parseIPv6, type PacketResult } from './packet.js';
import { FlowWriter } from './writer.js';

type Parser = typeof parseEthernet;

function parse(parser: Parser, frame: number[] | Uint8Array): { result: PacketResult; flow: ReturnType<typeof flowAt> } {
  const bytes = Uint8Array.from(frame);
  const out = new FlowWriter(1);
  const row = out.row();
  const result = parser(new DataView(bytes.buffer), 0, bytes.length, out.columns, row);
  return { result, flow: flowAt(out.batch, row) };
}

const MACS = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
const ipv4 = (proto: number, payload: number[], fragment = 0): number[] => [
  0x45, 0, 0, 20 + payload.length, 0, 0, fragment >> 8, fragment & 0xff, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7, ...payload,
];
const tcp = (src: number, dst: number, flags: number): number[] => [src >> 8, src & 0xff, dst >> 8, dst & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0];
const udp = (src: number, dst: number): number[] => [src >> 8, src & 0xff, dst >> 8, dst & 0xff, 0, 8, 0, 0];
const V6_SRC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const ipv6 = (next: number, payload: number[]): number[] => [0x60, 0, 0, 0, payload.length >> 8, payload.length & 0xff, next, 64, ...V6_SRC, ...V6_DST, ...payload];

describe('sampled header parser', () => {
  it('reads Ethernet / IPv4 / TCP: addresses, ports, protocol and the flags byte', () => {
    const { result, flow } = parse(parseEthernet, [...MACS, 0x08, 0x00, ...ipv4(6, tcp(51000, 443, 0x18))]);
    assert.equal(result, PACKET_IP);
    assert.deepEqual([formatAddress(flow.src_addr), formatAddress(flow.dst_addr)], ['192.0.2.1', '198.51.100.7']);
    assert.deepEqual([flow.proto, flow.src_port, flow.dst_port, flow.tcp_flags, flow.vlan], [6, 51000, 443, 0x18, 0]);
  });

  it('peels 802.1Q and QinQ (802.1ad) tags and keeps the outer VLAN id', () => {
    const qinq = [...MACS, 0x88, 0xa8, 0x20, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00, ...ipv4(17, udp(53, 5353))];
    const { result, flow } = parse(parseEthernet, qinq);
    assert.equal(result, PACKET_IP);
    assert.deepEqual([flow.vlan, flow.proto, flow.src_port, flow.dst_port], [10, 17, 53, 5353], 'PCP bits are masked off the outer tag');
  });

  it('walks an MPLS label stack to the IP packet beneath', () => {
    const mpls = [...MACS, 0x88, 0x47, 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40, ...ipv4(6, tcp(1, 2, 0x02))];
    const { result, flow } = parse(parseEthernet, mpls);
    assert.equal(result, PACKET_IP);
    assert.deepEqual([flow.src_port, flow.dst_port, flow.tcp_flags], [1, 2, 0x02]);
  });

  it('reads no ports from a non-first IPv4 fragment', () => {
    const { result, flow } = parse(parseIPv4, ipv4(17, udp(53, 53), 0x00b9));
    assert.equal(result, PACKET_IP);
    assert.deepEqual([flow.proto, flow.src_port, flow.dst_port], [17, 0, 0]);
  });

  it('puts ICMP type and code in dst_port as type × 256 + code', () => {
    assert.equal(parse(parseIPv4, ipv4(1, [3, 3, 0, 0, 0, 0, 0, 0])).flow.dst_port, 0x0303);
    assert.equal(parse(parseIPv6, ipv6(58, [128, 0, 0, 0])).flow.dst_port, 128 << 8);
  });

  it('walks IPv6 extension headers (hop-by-hop, destination options, first fragment) to the transport header', () => {
    const hopByHop = [60, 0, 1, 4, 0, 0, 0, 0];
    const destination = [44, 1, 1, 4, 0, 0, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0];
    const firstFragment = [6, 0, 0x00, 0x01, 0, 0, 0, 1];
    const { result, flow } = parse(parseIPv6, ipv6(0, [...hopByHop, ...destination, ...firstFragment, ...tcp(22, 40000, 0x10)]));
    assert.equal(result, PACKET_IP);
    assert.deepEqual([formatAddress(flow.src_addr), formatAddress(flow.dst_addr)], ['2001:db8::1', '2001:db8::2']);
    assert.deepEqual([flow.proto, flow.src_port, flow.dst_port, flow.tcp_flags], [6, 22, 40000, 0x10]);
  });

  it('stops at a later IPv6 fragment: protocol known, no ports', () => {
    const laterFragment = [17, 0, 0x05, 0xa8, 0, 0, 0, 1];
    const { flow } = parse(parseIPv6, ipv6(44, [...laterFragment, ...udp(1, 2)]));
    assert.deepEqual([flow.proto, flow.src_port, flow.dst_port], [17, 0, 0]);
  });

  it('reports a non-IP frame and a header cut before the addresses', () => {
    assert.equal(parse(parseEthernet, [...MACS, 0x08, 0x06, 0, 1, 8, 0, 6, 4]).result, PACKET_NOT_IP);
    assert.equal(parse(parseEthernet, [...MACS, 0x08, 0x00, 0x45, 0, 0, 40]).result, PACKET_TRUNCATED);
    assert.equal(parse(parseIPv4, ipv6(6, [])).result, PACKET_NOT_IP, 'version nibble checked');
  });

  it('never throws on a frame cut at any byte, and keeps addresses once the IP header is whole', () => {
    const frames = [
      [...MACS, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, ...ipv4(6, tcp(1, 2, 3))],
      [...MACS, 0x86, 0xdd, ...ipv6(0, [6, 0, 1, 4, 0, 0, 0, 0, ...tcp(1, 2, 3)])],
    ];
    for (const frame of frames) {
      for (let cut = 0; cut <= frame.length; cut++) {
        const { result, flow } = parse(parseEthernet, frame.slice(0, cut));
        if (result === PACKET_IP) assert.notEqual(formatAddress(flow.src_addr), '::');
      }
    }
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom(parseEthernet, parseIPv4, parseIPv6), (bytes, parser) => {
        parse(parser, bytes);
      }),
      { numRuns: 3000 },
    );
  });
});
