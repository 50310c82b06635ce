// NetFlow v5 encoder: what it writes is valid for tshark (no malformed packet, every field as
// given), and our decoder turns it back into the records it was given.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { flowAt } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { inCI, onPath } from '../../test/services.js';
import { decodeNetflow5 } from '../decoders/netflow5.js';
import { createDecoderState } from '../decoders/state.js';
import { FlowWriter } from '../decoders/writer.js';
import { writePcap } from '../pcap.js';
import { encodeNetflow5, type Netflow5EncodeOptions, type Netflow5Input } from './netflow5.js';

const EXPORTER = parseAddress('192.0.2.1');
const COLLECTOR = parseAddress('192.0.2.2');
const NOW = 1_700_000_000;

/** `n` distinct records exercising every field v5 carries. */
function sample(n: number, scale = 1): Netflow5Input[] {
  return Array.from({ length: n }, (_, k) => ({
    time_received: NOW,
    time_start: NOW - 60 - k,
    time_end: NOW - (k % 7),
    src_addr: parseAddress(`10.${k >> 8}.${k & 0xff}.1`),
    dst_addr: parseAddress(`198.51.100.${k % 250}`),
    src_port: 1024 + k,
    dst_port: [443, 53, 22, 0][k % 4]!,
    proto: [6, 17, 6, 1][k % 4]!,
    tcp_flags: [0x1b, 0, 0x12, 0][k % 4]!,
    bytes: (1000 + k * 37) * scale,
    packets: (1 + k) * scale,
    in_if: k % 3,
    out_if: 65535 - k,
  }));
}

function decodeAll(datagrams: readonly Uint8Array[]): { out: FlowWriter; state: ReturnType<typeof createDecoderState> } {
  const state = createDecoderState();
  const out = new FlowWriter(16);
  for (const bytes of datagrams) decodeNetflow5({ bytes, exporter: EXPORTER, receivedAt: NOW }, state, out);
  return { out, state };
}

describe('NetFlow v5 encoder: datagrams', () => {
  it('puts at most 30 records in a datagram and advances flow_sequence by the records sent', () => {
    const datagrams = encodeNetflow5(sample(65), { sequence: 1000 });
    assert.deepEqual(datagrams.map((d) => d.length), [24 + 30 * 48, 24 + 30 * 48, 24 + 5 * 48]);
    const sequences = datagrams.map((d) => new DataView(d.buffer, d.byteOffset).getUint32(16));
    assert.deepEqual(sequences, [1000, 1030, 1060]);
    assert.deepEqual(encodeNetflow5([]), []);
  });

  it('writes the header it is given: uptime, time, engine, sampling mode and interval', () => {
    const [d] = encodeNetflow5(sample(1), { sysUptimeMs: 123_456, unixSeconds: NOW, unixNanoseconds: 5, engineType: 1, engineId: 2, samplingInterval: 100 });
    const view = new DataView(d!.buffer);
    assert.deepEqual(
      [view.getUint16(0), view.getUint16(2), view.getUint32(4), view.getUint32(8), view.getUint32(12), view.getUint8(20), view.getUint8(21), view.getUint16(22)],
      [5, 1, 123_456, NOW, 5, 1, 2, (1 << 14) | 100],
    );
  });

  it('refuses what v5 cannot carry instead of truncating it', () => {
    const [record] = sample(1);
    assert.throws(() => encodeNetflow5([{ ...record!, src_addr: parseAddress('2001:db8::1') }]), /record 0: src_addr is not an IPv4 address/);
    assert.throws(() => encodeNetflow5([{ ...record!, in_if: 70_000 }]), /in_if = 70000 does not fit/);
    assert.throws(() => encodeNetflow5([{ ...record!, bytes: 2 ** 32 }]), /bytes = 4294967296 does not fit/);
    assert.throws(() => encodeNetflow5([record!], { samplingInterval: 0x4000 }), /samplingInterval/);
  });
});

describe('NetFlow v5 encoder: round trip through our decoder', () => {
  it('decodes back to the records given, field by field, with sampling scaled back', () => {
    const records = sample(65, 10);
    const { out, state } = decodeAll(encodeNetflow5(records, { samplingInterval: 10, engineType: 2, engineId: 9 }));
    assert.equal(out.length, 65);
    records.forEach((r, n) => {
      const f = flowAt(out.batch, n);
      assert.deepEqual(
        [formatAddress(f.src_addr), formatAddress(f.dst_addr), f.src_port, f.dst_port, f.proto, f.tcp_flags, f.bytes, f.packets, f.in_if, f.out_if, f.time_start, f.time_end],
        [formatAddress(r.src_addr), formatAddress(r.dst_addr), r.src_port, r.dst_port, r.proto, r.tcp_flags, r.bytes, r.packets, r.in_if, r.out_if, r.time_start, r.time_end],
        `record ${n}`,
      );
      assert.equal(f.sampling_rate, 10);
      assert.equal(f.observation_domain, (2 << 8) | 9);
    });
    assert.equal(state.counters.samplingUnknown, 0);
  });

  it('round-trips arbitrary records and header values, across the uptime wrap', () => {
    const v4 = fc.nat(0xffffffff).map((n) => parseAddress(`${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`));
    const record = fc.record({
      src_addr: v4,
      dst_addr: v4,
      src_port: fc.nat(0xffff),
      dst_port: fc.nat(0xffff),
      proto: fc.nat(0xff),
      tcp_flags: fc.nat(0xff),
      in_if: fc.nat(0xffff),
      out_if: fc.nat(0xffff),
      wirePackets: fc.nat(0xffffffff),
      wireBytes: fc.nat(0xffffffff),
      age: fc.nat(20 * 86_400),
      duration: fc.nat(3_600),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 70 }), fc.nat(0xffffffff), fc.integer({ min: 1, max: 0x3fff }), (list, sysUptimeMs, interval) => {
        const options: Netflow5EncodeOptions = { sysUptimeMs, unixSeconds: NOW, samplingInterval: interval };
        const records: Netflow5Input[] = list.map((r) => ({
          ...r,
          time_received: NOW,
          time_start: NOW - r.age - r.duration,
          time_end: NOW - r.age,
          bytes: r.wireBytes * interval,
          packets: r.wirePackets * interval,
        }));
        const { out } = decodeAll(encodeNetflow5(records, options));
        assert.equal(out.length, records.length);
        records.forEach((r, n) => {
          const f = flowAt(out.batch, n);
          assert.deepEqual(
            [f.src_addr, f.dst_addr, f.src_port, f.dst_port, f.proto, f.tcp_flags, f.in_if, f.out_if, f.bytes, f.packets, f.time_start, f.time_end, f.sampling_rate],
            [r.src_addr, r.dst_addr, r.src_port, r.dst_port, r.proto, r.tcp_flags, r.in_if, r.out_if, r.bytes, r.packets, r.time_start, r.time_end, interval],
          );
        });
      }),
      { numRuns: 200 },
    );
  });
});

// tshark 4.0 as the independent reader of what we write.
const haveTshark = onPath('tshark');
if (!haveTshark && inCI) throw new Error('CI=true and tshark is not on PATH: the encoder check against tshark cannot run');

describe('NetFlow v5 encoder: tshark reads our datagrams', { skip: haveTshark ? false : 'tshark is not on PATH (apt-get install -y tshark)' }, () => {
  it('without a malformed-packet or expert error, and with every field as given', () => {
    const records = sample(65, 4);
    const options: Netflow5EncodeOptions = { sysUptimeMs: 86_400_000, unixSeconds: NOW, unixNanoseconds: 250_000_000, samplingInterval: 4, engineType: 1, engineId: 7, sequence: 42 };
    const datagrams = encodeNetflow5(records, options);
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-nf5-'));
    try {
      const file = join(dir, 'v5.pcap');
      writeFileSync(file, writePcap(datagrams.map((payload, n) => ({ time: NOW + n, src: EXPORTER, dst: COLLECTOR, srcPort: 50000, dstPort: 2055, payload }))));
      const result = spawnSync('tshark', ['-r', file, '-d', 'udp.port==2055,cflow', '-T', 'json', '--no-duplicate-keys'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.equal(result.status, 0, result.stderr);
      assert.ok(!result.stdout.includes('_ws.malformed') && !result.stdout.includes('Malformed Packet'), 'tshark reports a malformed packet');
      assert.ok(!result.stdout.includes('_ws.expert'), 'tshark reports an expert warning');
      const frames = JSON.parse(result.stdout) as { _source: { layers: { cflow: Record<string, unknown> } } }[];
      assert.equal(frames.length, 3);
      let k = 0;
      frames.forEach((frame, n) => {
        const cflow = frame._source.layers.cflow;
        const timestamps = cflow['cflow.timestamp_tree'] as Record<string, string>;
        assert.deepEqual(
          [cflow['cflow.version'], cflow['cflow.sysuptime'], timestamps['cflow.unix_secs'], timestamps['cflow.unix_nsecs'], cflow['cflow.sequence'], cflow['cflow.engine_type'], cflow['cflow.engine_id'], cflow['cflow.samplingmode'], cflow['cflow.samplerate']],
          ['5', '86400.000000000', String(NOW), '250000000', String(42 + 30 * n), '1', '7', '1', '4'],
          `datagram ${n} header`,
        );
        for (const key of Object.keys(cflow).filter((x) => x.startsWith('pdu '))) {
          const t = cflow[key] as Record<string, string>;
          const times = t['cflow.timedelta_tree'] as unknown as Record<string, string>;
          const r = records[k]!;
          // tshark shows the wire counters (unscaled) and first/last as uptime seconds.
          assert.deepEqual(
            [t['cflow.srcaddr'], t['cflow.dstaddr'], t['cflow.srcport'], t['cflow.dstport'], t['cflow.protocol'], Number(t['cflow.tcpflags']), t['cflow.inputint'], t['cflow.outputint'], t['cflow.octets'], t['cflow.packets'], times['cflow.timestart'], times['cflow.timeend']],
            [formatAddress(r.src_addr), formatAddress(r.dst_addr), String(r.src_port), String(r.dst_port), String(r.proto), r.tcp_flags, String(r.in_if), String(r.out_if), String(r.bytes! / 4), String(r.packets! / 4), `${86_400 - (NOW - r.time_start!)}.000000000`, `${86_400 - (NOW - r.time_end!)}.000000000`],
            `record ${k} (${key})`,
          );
          k++;
        }
      });
      assert.equal(k, records.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
