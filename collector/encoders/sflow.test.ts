// sFlow v5 encoder: what it writes is valid for tshark (no malformed packet, every field as given),
// and our decoder turns it back into the records and interface counters it was given.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { flowAt, type FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { inCI, onPath } from '../../test/services.js';
import { decodeSflow } from '../decoders/sflow.js';
import { createDecoderState } from '../decoders/state.js';
import { FlowWriter } from '../decoders/writer.js';
import { writePcap } from '../pcap.js';
import { encodeSflow, SFLOW_PORT, type SflowCountersInput } from './sflow.js';

const EXPORTER = parseAddress('192.0.2.1');
const COLLECTOR = parseAddress('192.0.2.2');
const NOW = 1_700_000_000;

/**
 * `n` records covering IPv4 and IPv6, TCP/UDP/ICMP, with and without VLAN, compact and expanded
 * interfaces. packets = sampling rate and bytes = frame length × rate: one sample each.
 */
function sample(n: number): FlowRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const rate = [1, 512, 4096][k % 3]!;
    const proto = [6, 17, 1, 6, 17, 58][k % 6]!;
    const v6 = k % 6 >= 3;
    return {
      time_received: NOW,
      source: 'sflow' as const,
      exporter: EXPORTER,
      observation_domain: k % 2,
      src_addr: parseAddress(v6 ? `2001:db8::${k + 1}` : `10.0.${k >> 8}.${(k & 0xff) + 1}`),
      dst_addr: parseAddress(v6 ? `2001:db8:1::${k + 7}` : `198.51.100.${k % 250}`),
      src_port: proto === 6 || proto === 17 ? 1024 + k : 0,
      dst_port: proto === 6 || proto === 17 ? [443, 53, 22][k % 3]! : proto === 1 ? 0x0800 : 0x8000,
      proto,
      tcp_flags: proto === 6 ? [0x02, 0x12, 0x18, 0x11][k % 4]! : 0,
      bytes: (64 + ((k * 37) % 1400)) * rate,
      packets: rate,
      sampling_rate: rate,
      in_if: k % 5 === 4 ? 0x4000_0000 + k : k % 7,
      out_if: 100 + k,
      vlan: k % 4 === 0 ? 0 : 10 + k,
    };
  });
}

const COUNTERS: SflowCountersInput[] = [
  { ifIndex: 3, ifSpeed: 10_000_000_000, inOctets: 2 ** 40 + 17, inPackets: 123_456, inDiscards: 1, inErrors: 2, outOctets: 987_654_321, outPackets: 654_321, outDiscards: 3, outErrors: 4 },
  { ifIndex: 4, ifSpeed: 1_000_000_000, inOctets: 0, inPackets: 0, inDiscards: 0, inErrors: 0, outOctets: 5, outPackets: 1, outDiscards: 0, outErrors: 0 },
];

function decodeAll(datagrams: readonly Uint8Array[]): { out: FlowWriter; state: ReturnType<typeof createDecoderState> } {
  const state = createDecoderState();
  const out = new FlowWriter(16);
  for (const bytes of datagrams) decodeSflow({ bytes, exporter: EXPORTER, receivedAt: NOW }, state, out);
  return { out, state };
}

function fields(f: FlowRecord): unknown[] {
  return [formatAddress(f.src_addr), formatAddress(f.dst_addr), f.src_port, f.dst_port, f.proto, f.tcp_flags, f.bytes, f.packets, f.sampling_rate, f.in_if, f.out_if, f.vlan, f.observation_domain];
}

describe('sFlow v5 encoder: datagrams', () => {
  it('keeps datagrams under the size limit, one sub-agent per datagram, sequence numbers advancing', () => {
    const datagrams = encodeSflow(sample(60), { sequence: 10 });
    assert.ok(datagrams.length >= 4);
    for (const d of datagrams) assert.ok(d.length <= 1400, `${d.length} bytes`);
    const view = (d: Uint8Array): DataView => new DataView(d.buffer, d.byteOffset);
    assert.deepEqual(datagrams.map((d) => view(d).getUint32(16)), datagrams.map((_, n) => 10 + n), 'datagram sequence numbers');
    assert.deepEqual([...new Set(datagrams.map((d) => view(d).getUint32(12)))].sort(), [0, 1], 'sub-agent ids = observation domains');
    assert.deepEqual(encodeSflow([]), []);
  });

  it('turns a record of many packets into packets / rate samples that add back up', () => {
    const [record] = sample(3).slice(1);
    const { out } = decodeAll(encodeSflow([{ ...record!, packets: 512 * 5, bytes: 1000 * 512 * 5 }]));
    assert.equal(out.length, 5);
    let bytes = 0;
    let packets = 0;
    for (let i = 0; i < out.length; i++) {
      bytes += flowAt(out.batch, i).bytes;
      packets += flowAt(out.batch, i).packets;
    }
    assert.deepEqual([bytes, packets], [1000 * 512 * 5, 512 * 5]);
  });
});

describe('sFlow v5 encoder: round trip through our decoder', () => {
  it('decodes back to the records and interface counters given, field by field', () => {
    const records = sample(60);
    const { out, state } = decodeAll(encodeSflow(records, { counters: COUNTERS, countersSubAgent: 1 }));
    assert.equal(out.length, records.length);
    // Datagrams are grouped by sub-agent: compare as sets keyed by the source address.
    const decoded = new Map<string, unknown[]>();
    for (let i = 0; i < out.length; i++) decoded.set(formatAddress(flowAt(out.batch, i).src_addr), fields(flowAt(out.batch, i)));
    for (const r of records) assert.deepEqual(decoded.get(formatAddress(r.src_addr)), fields(r), formatAddress(r.src_addr));
    assert.deepEqual(
      state.interfaceCounters.map(({ exporter: _e, time: _t, observationDomain, ...c }) => ({ ...c, observationDomain })),
      COUNTERS.map((c) => ({ ...c, observationDomain: 1 })),
    );
    assert.equal(state.counters.counterSamples, COUNTERS.length);
    assert.deepEqual(Object.values(state.counters.skipped).filter((n) => n > 0), []);
  });

  it('round-trips arbitrary records', () => {
    const v4 = fc.nat(0xffffffff).map((n) => parseAddress(`${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`));
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => parseAddress(g.map((x) => x.toString(16)).join(':')));
    const record = fc.record({
      v6: fc.boolean(),
      a4: v4,
      b4: v4,
      a6: v6,
      b6: v6,
      proto: fc.constantFrom(6, 17, 47, 50, 132),
      src_port: fc.nat(0xffff),
      dst_port: fc.nat(0xffff),
      tcp_flags: fc.nat(0xff),
      rate: fc.integer({ min: 1, max: 100_000 }),
      frame: fc.integer({ min: 64, max: 9000 }),
      in_if: fc.nat(0xffffffff),
      out_if: fc.nat(0xffffffff),
      vlan: fc.nat(4095),
      domain: fc.nat(3),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 40 }), fc.boolean(), (list, expanded) => {
        const records: FlowRecord[] = list.map((r) => {
          const ports = r.proto === 6 || r.proto === 17 || r.proto === 132;
          return {
            time_received: NOW,
            source: 'sflow',
            exporter: EXPORTER,
            observation_domain: r.domain,
            src_addr: r.v6 ? r.a6 : r.a4,
            dst_addr: r.v6 ? r.b6 : r.b4,
            src_port: ports && r.proto !== 132 ? r.src_port : 0,
            dst_port: ports && r.proto !== 132 ? r.dst_port : 0,
            proto: r.proto,
            tcp_flags: r.proto === 6 ? r.tcp_flags : 0,
            bytes: r.frame * r.rate,
            packets: r.rate,
            sampling_rate: r.rate,
            // The decoder stores "internal" (0x3FFFFFFF) as 0; the encoder writes the value as given.
            in_if: r.in_if === 0x3fffffff ? 0 : r.in_if,
            out_if: r.out_if === 0x3fffffff ? 0 : r.out_if,
            vlan: r.vlan,
          };
        });
        const { out } = decodeAll(encodeSflow(records, { expanded }));
        assert.equal(out.length, records.length);
        const byDomain = (list: unknown[][]): string[] => list.map((x) => JSON.stringify(x)).sort();
        assert.deepEqual(
          byDomain(Array.from({ length: out.length }, (_, i) => fields(flowAt(out.batch, i)))),
          byDomain(records.map(fields)),
        );
      }),
      { numRuns: 200 },
    );
  });
});

// tshark 4.0 as the independent reader of what we write.
const haveTshark = onPath('tshark');
if (!haveTshark && inCI) throw new Error('CI=true and tshark is not on PATH: the encoder check against tshark cannot run');

type Json = string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
const obj = (value: Json | undefined): JsonObject => (typeof value === 'object' && !Array.isArray(value) ? value : {});
const first = (value: Json | undefined): JsonObject => obj(Array.isArray(value) ? value[0] : value);
const text = (o: JsonObject, key: string): string | undefined => (typeof o[key] === 'string' ? o[key] : undefined);

describe('sFlow v5 encoder: tshark reads our datagrams', { skip: haveTshark ? false : 'tshark is not on PATH (apt-get install -y tshark)' }, () => {
  it('without a malformed-packet or expert error, and with every field as given', () => {
    const records = sample(36);
    const datagrams = encodeSflow(records, { counters: COUNTERS, sequence: 7 });
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-sflow-'));
    try {
      const file = join(dir, 'sflow.pcap');
      writeFileSync(file, writePcap(datagrams.map((payload, n) => ({ time: NOW + n, src: EXPORTER, dst: COLLECTOR, srcPort: 50000, dstPort: SFLOW_PORT, payload }))));
      const result = spawnSync('tshark', ['-r', file, '-d', `udp.port==${SFLOW_PORT},sflow`, '-T', 'json', '--no-duplicate-keys'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.equal(result.status, 0, result.stderr);
      assert.ok(!result.stdout.includes('_ws.malformed') && !result.stdout.includes('Malformed Packet'), 'tshark reports a malformed packet');
      // Expert infos of severity chat/note are tshark commenting on the sampled packets (a SYN, a DNS
      // query padded with zeros); warnings (0x600000) and errors (0x800000) would be our fault.
      const severities = [...result.stdout.matchAll(/"_ws\.expert\.severity": "(\d+)"/g)].map((m) => Number(m[1]));
      assert.deepEqual(severities.filter((n) => n >= 0x600000), [], 'tshark reports an expert warning or error');
      const frames = JSON.parse(result.stdout) as Json[];
      assert.equal(frames.length, datagrams.length);
      const seen = new Map<string, unknown[]>();
      let counterRecords = 0;
      for (const frame of frames) {
        const sflow = obj(obj(obj(first(frame)._source).layers).sflow);
        assert.equal(text(sflow, 'sflow_245.version'), '5');
        assert.equal(text(sflow, 'sflow_245.agent'), '192.0.2.1');
        const subAgent = Number(text(sflow, 'sflow_245.sub_agent_id'));
        for (const [key, value] of Object.entries(sflow)) {
          const samples = Array.isArray(value) ? value.map(obj) : [obj(value)];
          if (/^(Expanded )?[Cc]ounters sample/.test(key)) {
            counterRecords += samples.filter((s) => s['Generic interface counters'] !== undefined).length;
            continue;
          }
          if (!/^(Expanded )?[Ff]low sample/.test(key)) continue;
          for (const s of samples) {
            const raw = first(s['Raw packet header']);
            const tree = first(raw['sflow_245.header_tree']);
            const ip = first(tree.ip);
            const ipv6 = first(tree.ipv6);
            const l4 = first(tree.tcp ?? tree.udp);
            const icmp = first(tree.icmp ?? tree.icmpv6);
            const switchData = first(s['Extended switch data']);
            const rate = Number(text(s, 'sflow.flow_sample.sampling_rate'));
            const compactIn = text(s, 'sflow.flow_sample.input_interface');
            const src = text(ip, 'ip.src') ?? text(ipv6, 'ipv6.src') ?? '?';
            const icmpTypeCode = (Number(text(icmp, 'icmp.type') ?? text(icmp, 'icmpv6.type') ?? 0) << 8) | Number(text(icmp, 'icmp.code') ?? text(icmp, 'icmpv6.code') ?? 0);
            // tshark shows the sampled packet unscaled: bytes = frame_length × rate is ours.
            seen.set(src, [
              src,
              text(ip, 'ip.dst') ?? text(ipv6, 'ipv6.dst'),
              Number(text(l4, 'tcp.srcport') ?? text(l4, 'udp.srcport') ?? 0),
              Number(text(l4, 'tcp.dstport') ?? text(l4, 'udp.dstport') ?? icmpTypeCode),
              Number(text(ip, 'ip.proto') ?? text(ipv6, 'ipv6.nxt')),
              Number(text(l4, 'tcp.flags') ?? 0) & 0xff,
              Number(text(raw, 'sflow_245.header.frame_length')) * rate,
              rate,
              rate,
              Number(compactIn ?? text(s, 'sflow.flow_sample.input_interface_value')),
              Number(text(s, 'sflow.flow_sample.output_interface') ?? text(s, 'sflow.flow_sample.output_interface_value')),
              Number(text(switchData, 'sflow_245.vlan.in') ?? first(tree.vlan)['vlan.id'] ?? 0),
              subAgent,
            ]);
          }
        }
      }
      assert.equal(seen.size, records.length);
      for (const r of records) assert.deepEqual(seen.get(formatAddress(r.src_addr)), fields(r), formatAddress(r.src_addr));
      assert.equal(counterRecords, COUNTERS.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
