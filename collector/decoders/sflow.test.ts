// sFlow v5 decoder, specified three ways: small literal datagrams for each rule, every sFlow capture
// in the corpus compared field by field with tshark 4.0's decoding, and fast-check properties over
// every corpus datagram (truncation, bit flips, lying lengths and counts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { CORPUS, corpusFiles } from '../../test/corpus.js';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { flowAt } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { readCapture, type CapturedDatagram } from '../pcap.js';
import { decodeSflow } from './sflow.js';
import { createDecoderState } from './state.js';
import { SKIP_REASONS, type DecoderState, type InterfaceCounters } from './types.js';
import { FlowWriter } from './writer.js';

const SFLOW = join(CORPUS, 'sflow-v5');
const EXPORTER = parseAddress('192.0.2.1');
const RECEIVED_AT = 1_700_000_005;

// ---------------------------------------------------------------------------------------------
// Literal datagrams: an XDR writer small enough to read next to the spec.

class Xdr {
  private readonly parts: number[] = [];
  u32(value: number): this {
    this.parts.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    return this;
  }
  u64(value: number): this {
    return this.u32(Math.floor(value / 0x1_0000_0000)).u32(value >>> 0);
  }
  bytes(values: ArrayLike<number>): this {
    for (let i = 0; i < values.length; i++) this.parts.push(values[i] ?? 0);
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  /** data_format, length, body: the framing of samples and records (spec §5). */
  framed(format: number, body: Xdr): this {
    return this.u32(format).u32(body.length).bytes(body.build());
  }
  get length(): number {
    return this.parts.length;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function sflowDatagram(samples: { format: number; body: Xdr }[], options: { subAgent?: number; count?: number } = {}): Uint8Array {
  const x = new Xdr().u32(5).u32(1).u32(0x0a000001).u32(options.subAgent ?? 7).u32(1).u32(1000).u32(options.count ?? samples.length);
  for (const s of samples) x.framed(s.format, s.body);
  return x.build();
}

function flowSample(records: { format: number; body: Xdr }[], o: { rate?: number; input?: number; output?: number } = {}): { format: number; body: Xdr } {
  const body = new Xdr().u32(1).u32(3).u32(o.rate ?? 512).u32(1000).u32(0).u32(o.input ?? 3).u32(o.output ?? 4).u32(records.length);
  for (const r of records) body.framed(r.format, r.body);
  return { format: 1, body };
}

function expandedFlowSample(
  records: { format: number; body: Xdr }[],
  o: { rate?: number; inFormat?: number; input?: number; outFormat?: number; output?: number } = {},
): { format: number; body: Xdr } {
  const body = new Xdr()
    .u32(1)
    .u32(0)
    .u32(3)
    .u32(o.rate ?? 512)
    .u32(1000)
    .u32(0)
    .u32(o.inFormat ?? 0)
    .u32(o.input ?? 3)
    .u32(o.outFormat ?? 0)
    .u32(o.output ?? 4)
    .u32(records.length);
  for (const r of records) body.framed(r.format, r.body);
  return { format: 3, body };
}

function rawHeader(header: number[], frameLength: number, protocol = 1): { format: number; body: Xdr } {
  return { format: 1, body: new Xdr().u32(protocol).u32(frameLength).u32(4).u32(header.length).bytes(header) };
}

const ETH_IPV4 = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
function ipv4Tcp(src: number[], dst: number[], srcPort: number, dstPort: number, flags: number): number[] {
  return [
    0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, ...src, ...dst,
    srcPort >> 8, srcPort & 0xff, dstPort >> 8, dstPort & 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0,
  ];
}

function decode(bytes: Uint8Array, state: DecoderState = createDecoderState()): { out: FlowWriter; state: DecoderState } {
  const out = new FlowWriter(4);
  decodeSflow({ bytes, exporter: EXPORTER, receivedAt: RECEIVED_AT }, state, out);
  return { out, state };
}

function skipped(state: DecoderState): Record<string, number> {
  return Object.fromEntries(Object.entries(state.counters.skipped).filter(([, n]) => n > 0));
}

describe('sFlow v5 decoder: samples and records', () => {
  it('turns a flow sample with a raw Ethernet/IPv4/TCP header into one row scaled by its sampling rate', () => {
    const header = [...ETH_IPV4, ...ipv4Tcp([10, 0, 0, 1], [10, 0, 0, 2], 51000, 443, 0x12)];
    const { out, state } = decode(sflowDatagram([flowSample([rawHeader(header, 1518)], { rate: 1000, input: 5, output: 6 })], { subAgent: 9 }));
    assert.equal(out.length, 1);
    const f = flowAt(out.batch, 0);
    assert.equal(f.source, 'sflow');
    assert.equal(formatAddress(f.exporter), '192.0.2.1', 'exporter is the UDP source, not the agent address 10.0.0.1');
    assert.equal(f.observation_domain, 9, 'sub-agent id');
    assert.deepEqual([f.time_received, f.time_start, f.time_end], [RECEIVED_AT, RECEIVED_AT, RECEIVED_AT]);
    assert.deepEqual([formatAddress(f.src_addr), formatAddress(f.dst_addr)], ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual([f.src_port, f.dst_port, f.proto, f.tcp_flags], [51000, 443, 6, 0x12]);
    assert.deepEqual([f.bytes, f.packets, f.sampling_rate], [1518 * 1000, 1000, 1000], 'frame length × rate, one packet stands for rate packets');
    assert.deepEqual([f.in_if, f.out_if, f.vlan, f.server_side], [5, 6, 0, 'unknown']);
    assert.equal(state.counters.flows, 1);
    assert.deepEqual(skipped(state), {});
  });

  it('takes the VLAN from extended switch data (src, else dst), else from the outer 802.1Q tag', () => {
    const tagged = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00, ...ipv4Tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0)];
    const switchData = (src: number, dst: number): { format: number; body: Xdr } => ({ format: 1001, body: new Xdr().u32(src).u32(0).u32(dst).u32(0) });
    const { out } = decode(
      sflowDatagram([
        flowSample([rawHeader(tagged, 100)]),
        flowSample([switchData(300, 400), rawHeader(tagged, 100)]),
        flowSample([rawHeader(tagged, 100), switchData(0xffffffff, 400)]),
      ]),
    );
    assert.deepEqual([0, 1, 2].map((i) => flowAt(out.batch, i).vlan), [100, 300, 400]);
  });

  it('reads expanded flow samples and stores only real ifIndexes (discarded, multiple and internal become 0)', () => {
    const header = [...ETH_IPV4, ...ipv4Tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0)];
    const { out } = decode(
      sflowDatagram([
        expandedFlowSample([rawHeader(header, 64)], { input: 0x12345678, output: 0x9abcdef0 }),
        expandedFlowSample([rawHeader(header, 64)], { outFormat: 1, output: 1 }),
        flowSample([rawHeader(header, 64)], { output: 0x80000007 }),
        flowSample([rawHeader(header, 64)], { input: 0x3fffffff, output: 0x40000001 }),
      ]),
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => [flowAt(out.batch, i).in_if, flowAt(out.batch, i).out_if]),
      [
        [0x12345678, 0x9abcdef0],
        [3, 0],
        [3, 0],
        [0, 0],
      ],
    );
  });

  it('uses sampled IPv4/IPv6 records when there is no raw header, with the IP length as bytes', () => {
    const v4 = new Xdr().u32(1344).u32(17).bytes([50, 50, 50, 50]).bytes([51, 51, 51, 51]).u32(46622).u32(53).u32(0).u32(0);
    const v6 = new Xdr()
      .u32(80)
      .u32(6)
      .bytes([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
      .bytes([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
      .u32(443)
      .u32(50000)
      .u32(0x18)
      .u32(0);
    const { out } = decode(sflowDatagram([flowSample([{ format: 3, body: v4 }], { rate: 10 }), flowSample([{ format: 4, body: v6 }], { rate: 2 })]));
    const a = flowAt(out.batch, 0);
    const b = flowAt(out.batch, 1);
    assert.deepEqual([formatAddress(a.src_addr), formatAddress(a.dst_addr), a.proto, a.src_port, a.dst_port, a.bytes, a.packets], ['50.50.50.50', '51.51.51.51', 17, 46622, 53, 13440, 10]);
    assert.deepEqual([formatAddress(b.src_addr), formatAddress(b.dst_addr), b.proto, b.src_port, b.dst_port, b.tcp_flags, b.bytes], ['2001:db8::1', '2001:db8::2', 6, 443, 50000, 0x18, 160]);
  });

  it('keeps generic interface counters apart from flows and skips other counter records by length', () => {
    const generic = new Xdr().u32(12).u32(6).u64(10_000_000_000).u32(1).u32(3).u64(2 ** 40 + 5).u32(10).u32(2).u32(1).u32(4).u32(5).u32(0);
    generic.u64(77).u32(20).u32(3).u32(2).u32(6).u32(7).u32(0);
    const ethernet = new Xdr().bytes(new Array<number>(52).fill(1));
    const counters = new Xdr().u32(1).u32(12).u32(2).framed(2, ethernet).framed(1, generic);
    const { out, state } = decode(sflowDatagram([{ format: 2, body: counters }]));
    assert.equal(out.length, 0);
    assert.equal(state.counters.counterSamples, 1);
    assert.deepEqual(state.interfaceCounters.map((c) => ({ ...c, exporter: formatAddress(c.exporter) })), [
      {
        exporter: '192.0.2.1',
        observationDomain: 7,
        time: RECEIVED_AT,
        ifIndex: 12,
        ifSpeed: 10_000_000_000,
        inOctets: 2 ** 40 + 5,
        inPackets: 13,
        inDiscards: 4,
        inErrors: 5,
        outOctets: 77,
        outPackets: 25,
        outDiscards: 6,
        outErrors: 7,
      } satisfies Omit<InterfaceCounters, 'exporter'> & { exporter: string },
    ]);
    assert.deepEqual(skipped(state), {});
  });

  it('counts discarded-packet samples, enterprise samples and unknown records as unsupported and decodes the rest', () => {
    const header = [...ETH_IPV4, ...ipv4Tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0)];
    const { out, state } = decode(
      sflowDatagram([
        { format: 5, body: new Xdr().u32(1).u32(2).u32(3) },
        { format: (9 << 12) | 1, body: new Xdr().u32(0) },
        flowSample([{ format: 2000, body: new Xdr().u32(1) }, rawHeader(header, 64)]),
      ]),
    );
    assert.equal(out.length, 1);
    assert.deepEqual(skipped(state), { unsupported: 3 });
  });

  it('counts a sampled frame that is not IP as unsupported instead of writing an addressless row', () => {
    const arp = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1];
    const { out, state } = decode(sflowDatagram([flowSample([rawHeader(arp, 64)])]));
    assert.equal(out.length, 0);
    assert.deepEqual(skipped(state), { unsupported: 1 });
  });

  it('falls back to the configured rate, else rate 1 counted as unknown, when a sample says rate 0', () => {
    const header = [...ETH_IPV4, ...ipv4Tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0)];
    const bytes = sflowDatagram([flowSample([rawHeader(header, 100)], { rate: 0 })]);
    const unknown = decode(bytes);
    assert.deepEqual([flowAt(unknown.out.batch, 0).sampling_rate, flowAt(unknown.out.batch, 0).bytes], [1, 100]);
    assert.equal(unknown.state.counters.samplingUnknown, 1);
    const configured = decode(bytes, createDecoderState({ sampling: { defaultRate: 64 } }));
    assert.deepEqual([flowAt(configured.out.batch, 0).sampling_rate, flowAt(configured.out.batch, 0).bytes], [64, 6400]);
    assert.equal(configured.state.counters.samplingUnknown, 0);
  });

  it('refuses other versions, NetFlow v5 sent to the sFlow port among them, as bad_version', () => {
    const netflow5 = new Uint8Array(24 + 48);
    new DataView(netflow5.buffer).setUint32(0, 0x00050001);
    const { out, state } = decode(netflow5);
    assert.equal(out.length, 0);
    assert.deepEqual(skipped(state), { bad_version: 1 });
  });

  it('refuses a frame length × rate beyond 2^53 (both fields lying) as bad_length rather than store an inexact count', () => {
    const header = [...ETH_IPV4, ...ipv4Tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0)];
    const { out, state } = decode(sflowDatagram([flowSample([rawHeader(header, 0xffffffff)], { rate: 0xffffffff }), flowSample([rawHeader(header, 64)])]));
    assert.equal(out.length, 1);
    assert.equal(flowAt(out.batch, 0).bytes, 64 * 512);
    assert.deepEqual(skipped(state), { bad_length: 1 });
  });

  it('stops at a sample count or record length that runs past the end, keeping what came before', () => {
    const header = [...ETH_IPV4, ...ipv4Tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0)];
    const lying = decode(sflowDatagram([flowSample([rawHeader(header, 64)])], { count: 0xffffffff }));
    assert.equal(lying.out.length, 1);
    assert.deepEqual(skipped(lying.state), { truncated: 1 });
    const bytes = sflowDatagram([flowSample([rawHeader(header, 64)]), flowSample([rawHeader(header, 64)])]);
    const view = new DataView(bytes.buffer);
    view.setUint32(bytes.length - 8 - header.length - 16 - 4 - 32 - 4, 0xfffffff0); // second sample's length
    const cut = decode(bytes);
    assert.equal(cut.out.length, 1);
    assert.deepEqual(skipped(cut.state), { bad_length: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// Corpus: every sFlow capture with a tshark decoding, compared flow sample by flow sample.

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** tshark's --no-duplicate-keys turns repeated keys into arrays: one list either way. */
function all(value: Json | undefined): JsonObject[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.filter(isObject);
  return isObject(value) ? [value] : [];
}

function str(object: JsonObject | undefined, key: string): string | undefined {
  const value = object?.[key];
  return typeof value === 'string' ? value : undefined;
}

function num(object: JsonObject | undefined, key: string): number | undefined {
  const text = str(object, key);
  return text === undefined ? undefined : Number(text);
}

function listCaptures(dir: string): string[] {
  return corpusFiles(dir).filter((path) => existsSync(`${path}.tshark.json`) || existsSync(`${path}.tshark.json.gz`));
}

function readTshark(capture: string): JsonObject[] {
  const text = existsSync(`${capture}.tshark.json`) ? readFileSync(`${capture}.tshark.json`, 'utf8') : gunzipSync(readFileSync(`${capture}.tshark.json.gz`)).toString('utf8');
  return (JSON.parse(text) as Json[]).filter(isObject);
}

/** What one row must hold, in the units of the flow record. */
interface ExpectedFlow {
  src_addr: string;
  dst_addr: string;
  src_port: number;
  dst_port: number;
  proto: number;
  tcp_flags: number;
  bytes: number;
  packets: number;
  sampling_rate: number;
  in_if: number;
  out_if: number;
  vlan: number;
}

/** The decoder's interface rule (sflow.ts header): only format-0 ifIndexes, internal 0x3FFFFFFF as 0. */
function ifIndexOf(format: number, value: number): number {
  return format === 0 && value !== 0x3fffffff ? value : 0;
}

/**
 * The row tshark's decoding of one flow sample implies, or undefined where the sample carries no IP
 * (we skip it as unsupported). tshark does not scale by sampling: we deliberately do, so bytes are
 * tshark's frame length (or sampled IPv4 length) × tshark's sampling rate and packets are the rate.
 * ICMP type/code are compared in dst_port as type × 256 + code (our NetFlow-style convention).
 */
function expectedFlow(sample: JsonObject): ExpectedFlow | undefined {
  const rate = num(sample, 'sflow.flow_sample.sampling_rate') ?? NaN;
  let inIf: number;
  let outIf: number;
  const compactIn = num(sample, 'sflow.flow_sample.input_interface');
  if (compactIn !== undefined) {
    const output = Number(str(sample, 'sflow.flow_sample.output_interface'));
    inIf = ifIndexOf(compactIn >>> 30, compactIn & 0x3fffffff);
    outIf = ifIndexOf(output >>> 30, output & 0x3fffffff);
  } else {
    inIf = ifIndexOf(num(sample, 'sflow.flow_sample.input_interface_format') ?? NaN, num(sample, 'sflow.flow_sample.input_interface_value') ?? NaN);
    outIf = ifIndexOf(num(sample, 'sflow.flow_sample.output_interface.format') ?? NaN, num(sample, 'sflow.flow_sample.output_interface_value') ?? NaN);
  }
  let vlan = 0;
  const switchData = all(sample['Extended switch data'])[0];
  if (switchData !== undefined) {
    const vlanIn = num(switchData, 'sflow_245.vlan.in') ?? 0;
    const vlanOut = num(switchData, 'sflow_245.vlan.out') ?? 0;
    vlan = vlanIn > 0 && vlanIn <= 4095 ? vlanIn : vlanOut > 0 && vlanOut <= 4095 ? vlanOut : 0;
  }
  const base = { sampling_rate: rate, packets: rate, in_if: inIf, out_if: outIf };

  const raw = all(sample['Raw packet header'])[0];
  const tree = raw === undefined ? undefined : all(raw['sflow_245.header_tree'])[0];
  if (tree !== undefined) {
    // Encapsulated packets (VXLAN) show several ip layers: the outer one is the sampled packet.
    const ip = all(tree.ip)[0];
    const ipv6 = all(tree.ipv6)[0];
    if (ip !== undefined || ipv6 !== undefined) {
      if (vlan === 0) vlan = num(all(tree.vlan)[0], 'vlan.id') ?? 0;
      const tcp = all(tree.tcp)[0];
      const udp = all(tree.udp)[0];
      const icmp = all(tree.icmp)[0] ?? all(tree.icmpv6)[0];
      const proto = tcp ? 6 : udp ? 17 : tree.icmp !== undefined ? 1 : tree.icmpv6 !== undefined ? 58 : (num(ip, 'ip.proto') ?? num(ipv6, 'ipv6.nxt') ?? NaN);
      return {
        ...base,
        src_addr: str(ip, 'ip.src') ?? str(ipv6, 'ipv6.src') ?? '?',
        dst_addr: str(ip, 'ip.dst') ?? str(ipv6, 'ipv6.dst') ?? '?',
        src_port: num(tcp, 'tcp.srcport') ?? num(udp, 'udp.srcport') ?? 0,
        dst_port: num(tcp, 'tcp.dstport') ?? num(udp, 'udp.dstport') ?? (icmp ? ((num(icmp, 'icmp.type') ?? num(icmp, 'icmpv6.type') ?? 0) << 8) | (num(icmp, 'icmp.code') ?? num(icmp, 'icmpv6.code') ?? 0) : 0),
        proto,
        tcp_flags: tcp ? Number(str(tcp, 'tcp.flags')) & 0xff : 0,
        bytes: (num(raw, 'sflow_245.header.frame_length') ?? NaN) * rate,
        vlan,
      };
    }
  }
  const v4 = all(sample['IPv4 data'])[0];
  if (v4 !== undefined) {
    const flag = (name: string, bit: number): number => ((num(v4, `sflow_245.ip.tcp_flag.${name}`) ?? 0) !== 0 ? bit : 0);
    return {
      ...base,
      src_addr: str(v4, 'sflow_245.ipv4_src') ?? '?',
      dst_addr: str(v4, 'sflow_245.ipv4_dst') ?? '?',
      src_port: num(v4, 'sflow_245.ip.source_port') ?? NaN,
      dst_port: num(v4, 'sflow.ip.destination_port') ?? NaN,
      proto: num(v4, 'sflow.ip_protocol') ?? NaN,
      tcp_flags: flag('cwr', 0x80) | flag('ece', 0x40) | flag('urg', 0x20) | flag('ack', 0x10) | flag('psh', 0x08) | flag('rst', 0x04) | flag('syn', 0x02) | flag('fin', 0x01),
      bytes: (num(v4, 'sflow_245.ip.length') ?? NaN) * rate,
      vlan,
    };
  }
  return undefined;
}

function samplesOf(sflow: JsonObject, kind: RegExp): JsonObject[] {
  return Object.entries(sflow)
    .filter(([key]) => kind.test(key))
    .flatMap(([, value]) => all(value));
}

type CounterValues = Omit<InterfaceCounters, 'exporter' | 'observationDomain' | 'time'>;

/** Packet totals sum unicast, multicast and broadcast; an all-ones (unknown) part counts 0 (sflow.ts). */
function packetTotal(...parts: number[]): number {
  return parts.reduce((sum, n) => sum + (n === 0xffffffff ? 0 : n), 0);
}

/** tshark's generic interface counters, in the units of InterfaceCounters. */
function expectedCounters(record: JsonObject): CounterValues {
  const n = (key: string): number => num(record, `sflow_245.${key}`) ?? NaN;
  return {
    ifIndex: n('ifindex'),
    ifSpeed: n('ifspeed'),
    inOctets: n('ifinoct'),
    inPackets: packetTotal(n('ifinpkt'), n('ifinmcast'), n('ifinbcast')),
    inDiscards: n('ifindisc'),
    inErrors: n('ifinerr'),
    outOctets: n('ifoutoct'),
    outPackets: packetTotal(n('ifoutpkt'), n('ifoutmcast'), n('ifoutbcast')),
    outDiscards: n('ifoutdisc'),
    outErrors: n('ifouterr'),
  };
}

/** telegraf's golden (InfluxDB line protocol) for a counters datagram, in the units of InterfaceCounters. */
function telegrafCounters(path: string): CounterValues[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.includes('in_bytes='))
    .map((line) => {
      const n = (key: string): number => Number(new RegExp(`[ ,]${key}=(\\d+)u`).exec(line)?.[1] ?? NaN);
      return {
        ifIndex: n('interface'),
        ifSpeed: n('speed'),
        inOctets: n('in_bytes'),
        inPackets: packetTotal(n('in_unicast_packets_total'), n('in_mcast_packets_total'), n('in_broadcast_packets_total')),
        inDiscards: n('in_dropped_packets'),
        inErrors: n('in_errors'),
        outOctets: n('out_bytes'),
        outPackets: packetTotal(n('out_unicast_packets_total'), n('out_mcast_packets_total'), n('out_broadcast_packets_total')),
        outDiscards: n('out_dropped_packets'),
        outErrors: n('out_errors'),
      };
    });
}

/**
 * Where tshark 4.0 misdecodes and another golden decides. sflow_v5_example: tshark does not know
 * counter record 1005 (port name "eno1") and reads the generic interface counters after it from
 * the wrong offset ("100 Base VG counters" of length 0x656e6f31 = "eno1"); telegraf decodes it.
 */
const COUNTER_GOLDENS: Record<string, string> = {
  'telegraf/sflow_v5_example/wrapped/sflow_v5_example.pcap': join(SFLOW, 'telegraf/sflow_v5_example/expected.out'),
};

const CAPTURES = listCaptures(SFLOW);

/**
 * Frames tshark marks malformed (_ws.malformed): tcpdump's goldens decide instead. In
 * sflow_multiple_counter_30_pdus frames 12 and 18 hold one counters sample of host-sFlow records
 * (formats 2000–2006, tcpdump prints them as "Unknown") that tshark 4.0 misreads: no flows, no
 * generic interface counters, nothing skipped. sflow_print-segv is "sFlowv5 [length 8 < 28]
 * (invalid)" for tcpdump: we count it truncated.
 */
const MALFORMED_FRAMES: Record<string, { flows: number; interfaceCounters: number; counterSamples: number; skipped: Record<string, number> }> = {
  'tcpdump/sflow_multiple_counter_30_pdus.pcap#12': { flows: 0, interfaceCounters: 0, counterSamples: 1, skipped: {} },
  'tcpdump/sflow_multiple_counter_30_pdus.pcap#18': { flows: 0, interfaceCounters: 0, counterSamples: 1, skipped: {} },
  'tcpdump/sflow_print-segv.pcap#1': { flows: 0, interfaceCounters: 0, counterSamples: 0, skipped: { truncated: 1 } },
};

const totals = { captures: 0, flows: 0, counters: 0 };

describe('sFlow v5 decoder: corpus against tshark 4.0', () => {
  it('finds the sFlow captures MANIFEST.md lists', () => {
    assert.ok(CAPTURES.length >= 20, `found ${CAPTURES.length} captures under ${SFLOW}`);
  });

  for (const capture of CAPTURES) {
    const name = relative(SFLOW, capture);
    it(`${name}: every flow sample and generic interface counters record matches tshark`, () => {
      const { datagrams, skippedFrames } = readCapture(readFileSync(capture));
      assert.equal(skippedFrames, 0, `${name}: frames must map 1:1 to tshark frame numbers`);
      const frames = new Map<number, { sflow: JsonObject; malformed: boolean }>();
      for (const packet of readTshark(capture)) {
        const layers = all(all(packet._source)[0]?.layers)[0];
        const frame = num(all(layers?.frame)[0], 'frame.number');
        const sflow = all(layers?.sflow)[0];
        if (frame !== undefined && sflow !== undefined) frames.set(frame, { sflow, malformed: layers?.['_ws.malformed'] !== undefined });
      }
      const state = createDecoderState();
      const out = new FlowWriter(16);
      totals.captures++;
      datagrams.forEach((d: CapturedDatagram, index) => {
        const receivedAt = Math.floor(d.time);
        const firstRow = out.length;
        const firstCounters = state.interfaceCounters.length;
        const before = { ...state.counters.skipped, counterSamples: state.counters.counterSamples };
        decodeSflow({ bytes: d.payload, exporter: d.src, receivedAt }, state, out);
        const tshark = frames.get(index + 1);
        const where = `${name} frame ${index + 1}`;
        if (tshark === undefined) {
          // Not sFlow for tshark: the NetFlow v5 datagrams sent to 6343 in sflow_multiple_counter_30_pdus.
          assert.equal(out.length, firstRow, `${where}: no flows from a datagram tshark does not decode as sFlow`);
          assert.equal(state.counters.skipped.bad_version, before.bad_version + 1, `${where}: counted bad_version`);
          return;
        }
        const malformed = MALFORMED_FRAMES[`${name}#${index + 1}`];
        if (tshark.malformed || malformed !== undefined) {
          assert.ok(tshark.malformed && malformed !== undefined, `${where}: tshark's malformed frames and MALFORMED_FRAMES agree`);
          const skippedNow = Object.fromEntries(
            SKIP_REASONS.map((r) => [r, state.counters.skipped[r] - before[r]] as const).filter(([, n]) => n > 0),
          );
          assert.deepEqual(
            { flows: out.length - firstRow, interfaceCounters: state.interfaceCounters.length - firstCounters, counterSamples: state.counters.counterSamples - before.counterSamples, skipped: skippedNow },
            malformed,
            where,
          );
          return;
        }
        const sflow = tshark.sflow;
        const expected = samplesOf(sflow, /^(Expanded )?[Ff]low sample/).map(expectedFlow).filter((e) => e !== undefined);
        assert.equal(out.length - firstRow, expected.length, `${where}: flow rows`);
        expected.slice(0, out.length - firstRow).forEach((e, k) => {
          const f = flowAt(out.batch, firstRow + k);
          const actual: ExpectedFlow = {
            src_addr: formatAddress(f.src_addr),
            dst_addr: formatAddress(f.dst_addr),
            src_port: f.src_port,
            dst_port: f.dst_port,
            proto: f.proto,
            tcp_flags: f.tcp_flags,
            bytes: f.bytes,
            packets: f.packets,
            sampling_rate: f.sampling_rate,
            in_if: f.in_if,
            out_if: f.out_if,
            vlan: f.vlan,
          };
          assert.deepEqual(actual, e, `${where} flow ${k}`);
          assert.equal(f.source, 'sflow');
          assert.equal(formatAddress(f.exporter), formatAddress(d.src), `${where} flow ${k}: exporter is the UDP source`);
          assert.equal(f.observation_domain, num(sflow, 'sflow_245.sub_agent_id'), `${where} flow ${k}: sub-agent id`);
          assert.deepEqual([f.time_received, f.time_start, f.time_end], [receivedAt, receivedAt, receivedAt], `${where} flow ${k}: times`);
          totals.flows++;
        });
        const golden = COUNTER_GOLDENS[name];
        const counterRecords =
          golden !== undefined
            ? telegrafCounters(golden)
            : samplesOf(sflow, /^(Expanded )?[Cc]ounters sample/)
                .flatMap((s) => all(s['Generic interface counters']))
                .map(expectedCounters);
        const ours = state.interfaceCounters.slice(firstCounters);
        assert.equal(ours.length, counterRecords.length, `${where}: generic interface counters records`);
        // Order-free: tshark's --no-duplicate-keys groups samples with the same title into one array.
        const sortKey = (c: { ifIndex: number; inOctets: number }): string => `${c.ifIndex}/${c.inOctets}`;
        const expectedSorted = counterRecords.sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
        const oursSorted = ours
          .map(({ exporter: _e, observationDomain: _o, time: _t, ...rest }) => rest)
          .sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
        assert.deepEqual(oursSorted, expectedSorted, `${where}: generic interface counters`);
        totals.counters += ours.length;
      });
    });
  }

  it('compared a meaningful number of flows and counters', () => {
    assert.ok(totals.captures === CAPTURES.length, 'every capture ran');
    assert.ok(totals.flows >= 51, `flows compared: ${totals.flows}`);
    assert.ok(totals.counters >= 40, `counters compared: ${totals.counters}`);
    console.log(`sFlow corpus: ${totals.captures} captures, ${totals.flows} flows and ${totals.counters} interface counters compared`);
  });
});

// ---------------------------------------------------------------------------------------------
// tcpdump's text goldens: a second, independent decoding of the flow samples' numbers.

interface TcpdumpSample {
  rate: number;
  inIf: number;
  outIf: number;
  bytes: number;
}

/**
 * Flow samples in a tcpdump -v golden: "flow sample (1) … rate R … input I output O" (compact: the
 * raw 32-bit value) or "expanded flow sample (3) … input V (F), output V (F)", then the raw packet
 * record's "protocol Ethernet (1), length L". Mapped through our interface rule; bytes = L × R.
 */
function tcpdumpFlowSamples(path: string): TcpdumpSample[] {
  const samples: TcpdumpSample[] = [];
  let pending: Omit<TcpdumpSample, 'bytes'> | undefined;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const expanded = /expanded flow sample \(3\).* rate (\d+),.* input (\d+) \((\d+)\), output (\d+) \((\d+)\)/.exec(line);
    const compact = /\bflow sample \(1\).* rate (\d+),.* input (\d+) output (\d+)/.exec(line);
    const raw = /protocol \w+ \(\d+\), length (\d+), stripped bytes/.exec(line);
    if (expanded !== null) {
      const [, rate, inValue, inFormat, outValue, outFormat] = expanded.map(Number) as [number, number, number, number, number, number];
      pending = { rate, inIf: ifIndexOf(inFormat, inValue), outIf: ifIndexOf(outFormat, outValue) };
    } else if (compact !== null) {
      const [, rate, input, output] = compact.map(Number) as [number, number, number, number];
      pending = { rate, inIf: ifIndexOf(input >>> 30, input & 0x3fffffff), outIf: ifIndexOf(output >>> 30, output & 0x3fffffff) };
    } else if (raw !== null && pending !== undefined) {
      samples.push({ ...pending, bytes: Number(raw[1]) * pending.rate });
      pending = undefined;
    }
  }
  return samples;
}

const TCPDUMP_GOLDENS = [
  ['tcpdump/sflow_expanded.pcap', 'tcpdump/sflow_expanded.out'],
  ['akvorado/data-sflow-expanded-sample.pcap', 'tcpdump/sflow_expanded.out'], // byte-identical (MANIFEST.md)
  ['tcpdump/sflow-print-v6.pcap', 'tcpdump/sflow-print-v6.out'],
] as const;

describe('sFlow v5 decoder: corpus against tcpdump goldens', () => {
  for (const [capture, golden] of TCPDUMP_GOLDENS) {
    it(`${capture}: sampling rate, interfaces and scaled bytes match ${golden}`, () => {
      const expected = tcpdumpFlowSamples(join(SFLOW, golden));
      assert.ok(expected.length > 0, `${golden} has flow samples`);
      const state = createDecoderState();
      const out = new FlowWriter(16);
      for (const d of readCapture(readFileSync(join(SFLOW, capture))).datagrams) {
        decodeSflow({ bytes: d.payload, exporter: d.src, receivedAt: Math.floor(d.time) }, state, out);
      }
      const actual = Array.from({ length: out.length }, (_, i): TcpdumpSample => {
        const f = flowAt(out.batch, i);
        return { rate: f.sampling_rate, inIf: f.in_if, outIf: f.out_if, bytes: f.bytes };
      });
      assert.deepEqual(actual, expected);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Properties over every corpus datagram: no exception escapes, work and output stay bounded.

const CORPUS_DATAGRAMS: Uint8Array[] = CAPTURES.flatMap((capture) => readCapture(readFileSync(capture)).datagrams.map((d) => d.payload.slice()));

/** Fewest bytes one flow row can come from: sample header 8 + flow sample 32 + record header 8 + sampled IPv4 32. */
const MIN_BYTES_PER_FLOW = 80;
/** Sample header 8 + counters sample 12 + record header 8 + generic interface counters 88. */
const MIN_BYTES_PER_COUNTERS = 116;

function decodeBounded(bytes: Uint8Array, state: DecoderState = createDecoderState()): void {
  const out = new FlowWriter(4);
  const counters = state.interfaceCounters.length;
  const started = performance.now();
  decodeSflow({ bytes, exporter: EXPORTER, receivedAt: RECEIVED_AT }, state, out);
  const elapsed = performance.now() - started;
  assert.ok(out.length <= Math.floor(bytes.length / MIN_BYTES_PER_FLOW), `${out.length} rows from ${bytes.length} bytes`);
  assert.ok(state.interfaceCounters.length - counters <= Math.floor(bytes.length / MIN_BYTES_PER_COUNTERS), 'interface counters bounded by length');
  assert.ok(elapsed < 250, `one datagram took ${elapsed.toFixed(1)} ms`);
  for (let i = 0; i < out.length; i++) {
    const f = flowAt(out.batch, i);
    assert.ok(Number.isSafeInteger(f.bytes) && f.bytes >= 0 && Number.isSafeInteger(f.packets) && f.packets >= 1, 'bytes and packets are non-negative integers');
  }
}

describe('sFlow v5 decoder: malformed input never throws and stays bounded', () => {
  it('has corpus datagrams to mutate', () => {
    assert.ok(CORPUS_DATAGRAMS.length >= 60, `${CORPUS_DATAGRAMS.length} datagrams`);
  });

  it('decodes every corpus datagram truncated at every offset', () => {
    const state = createDecoderState();
    let calls = 0;
    for (const bytes of CORPUS_DATAGRAMS) {
      for (let cut = 0; cut <= bytes.length; cut++) {
        decodeBounded(bytes.subarray(0, cut), state);
        calls++;
      }
    }
    assert.equal(state.counters.datagrams, calls);
  });

  it('survives every 32-bit field replaced by a lying length or count (0, 1, 2^31-1, 2^32-8, 2^32-1)', () => {
    for (const original of CORPUS_DATAGRAMS) {
      const bytes = original.slice();
      const view = new DataView(bytes.buffer);
      for (let at = 0; at + 4 <= bytes.length; at += 4) {
        const saved = view.getUint32(at);
        for (const lie of [0, 1, 0x7fffffff, 0xfffffff8, 0xffffffff]) {
          view.setUint32(at, lie);
          decodeBounded(bytes);
        }
        view.setUint32(at, saved);
      }
    }
  });

  it('survives random bit flips in corpus datagrams', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: CORPUS_DATAGRAMS.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 16 }),
        (index, flips) => {
          const bytes = (CORPUS_DATAGRAMS[index] ?? new Uint8Array(0)).slice();
          if (bytes.length === 0) return;
          for (const [position, bit] of flips) {
            const at = position % bytes.length;
            bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
          }
          decodeBounded(bytes);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('survives random bytes after a valid v5 header, and random sample framing', () => {
    const header = new Xdr().u32(5).u32(1).u32(0x0a000001).u32(0).u32(1).u32(1).build();
    fc.assert(
      fc.property(fc.nat(), fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 8 }), (count, samples) => {
        const x = new Xdr().bytes(header).u32(count);
        for (const [format, body] of samples) x.framed(format, new Xdr().bytes(body));
        decodeBounded(x.build());
      }),
      { numRuns: 2000 },
    );
  });
});
