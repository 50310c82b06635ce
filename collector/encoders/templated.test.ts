// NetFlow v9 and IPFIX encoders, one table-driven suite: their datagrams are valid for tshark (no
// malformed packet or expert error, the fields tshark decodes equal the input) and decode back
// through our decoders to the same records.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIpfix } from './ipfix.js';
import { encodeNetflow9 } from './netflow9.js';
import { decodeIpfix } from '../decoders/ipfix.js';
import { decodeNetflow9 } from '../decoders/netflow9.js';
import { createDecoderState } from '../decoders/state.js';
import type { Decoder } from '../decoders/types.js';
import { FlowWriter } from '../decoders/writer.js';
import { writePcap } from '../pcap.js';
import { flowAt, type FlowRecord, type FlowSource } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { inCI, onPath } from '../../test/services.js';

interface Protocol {
  name: string;
  source: FlowSource;
  encode(records: readonly FlowRecord[], options: { maxBytes?: number; templates?: 'every' | 'first' }): Uint8Array[];
  decode: Decoder;
  port: number;
  /** What the protocol calls one datagram, and its domain. */
  unit: string;
  domain: string;
  /** A string tshark prints for the sampling options record, and what it shows. */
  samplingEvidence: readonly [string, string];
}

const PROTOCOLS: readonly Protocol[] = [
  {
    name: 'IPFIX',
    source: 'ipfix',
    encode: (records, o) => encodeIpfix(records, { maxMessageBytes: o.maxBytes, templates: o.templates }),
    decode: decodeIpfix,
    port: 4739,
    unit: 'message',
    domain: 'observation domain',
    samplingEvidence: ['"cflow.sampling_packet_space": "99"', 'tshark shows the sampling options record (interval 1, space 99)'],
  },
  {
    name: 'NetFlow v9',
    source: 'netflow9',
    encode: (records, o) => encodeNetflow9(records, { maxDatagramBytes: o.maxBytes, templates: o.templates }),
    decode: decodeNetflow9,
    port: 2055,
    unit: 'datagram',
    domain: 'source id',
    samplingEvidence: ['"cflow.sampling_interval": "100"', 'tshark shows the sampling options record'],
  },
];

const EXPORTER = parseAddress('192.0.2.10');
const NOW = 1_700_000_000;

function record(source: FlowSource, i: number, overrides: Partial<FlowRecord> = {}): FlowRecord {
  const v6 = i % 3 === 2;
  return {
    time_received: NOW,
    time_start: NOW - 60 - i,
    time_end: NOW - i,
    source,
    exporter: EXPORTER,
    observation_domain: 7,
    src_addr: parseAddress(v6 ? `2001:db8::${i + 1}` : `10.0.${i % 256}.1`),
    dst_addr: parseAddress(v6 ? `2001:db8:1::${i + 1}` : `192.168.${i % 256}.2`),
    src_port: 1024 + i,
    dst_port: [443, 53, 22][i % 3] ?? 443,
    proto: i % 2 === 0 ? 6 : 17,
    tcp_flags: i % 2 === 0 ? 0x1b : 0,
    bytes: 1500 * (i + 1),
    packets: 3 * (i + 1),
    sampling_rate: 1,
    in_if: 10 + i,
    out_if: 20 + i,
    vlan: 100 + (i % 5),
    ...overrides,
  };
}

function estate(source: FlowSource): FlowRecord[] {
  const unsampled = Array.from({ length: 60 }, (_, i) => record(source, i));
  const sampled = Array.from({ length: 20 }, (_, i) => record(source, i, { observation_domain: 9, sampling_rate: 100, bytes: 100 * 1500 * (i + 1), packets: 100 * (i + 1) }));
  return [...unsampled, ...sampled];
}

function decodeAll(decode: Decoder, datagrams: Uint8Array[]): { rows: FlowRecord[]; skipped: number } {
  const state = createDecoderState();
  const out = new FlowWriter(16);
  for (const bytes of datagrams) decode({ bytes, exporter: EXPORTER, receivedAt: NOW }, state, out);
  const rows = Array.from({ length: out.length }, (_, i) => flowAt(out.batch, i));
  return { rows, skipped: Object.values(state.counters.skipped).reduce((a, b) => a + b, 0) };
}

function comparable(r: FlowRecord): Record<string, unknown> {
  return {
    time_start: r.time_start, time_end: r.time_end, observation_domain: r.observation_domain,
    src: formatAddress(r.src_addr), dst: formatAddress(r.dst_addr), src_port: r.src_port, dst_port: r.dst_port,
    proto: r.proto, tcp_flags: r.tcp_flags, bytes: r.bytes, packets: r.packets, sampling_rate: r.sampling_rate,
    in_if: r.in_if, out_if: r.out_if, vlan: r.vlan,
  };
}

for (const p of PROTOCOLS) {
  describe(`${p.name} encoder`, () => {
    const RECORDS = estate(p.source);

    it(`splits records into datagrams no larger than the limit, one ${p.domain} each`, () => {
      const datagrams = p.encode(RECORDS, { maxBytes: 600 });
      assert.ok(datagrams.length > 4);
      for (const d of datagrams) assert.ok(d.length <= 600);
    });

    for (const templates of ['every', 'first'] as const) {
      it(`decodes back to the same records (templates in ${templates} ${p.unit})`, () => {
        const { rows, skipped } = decodeAll(p.decode, p.encode(RECORDS, { templates }));
        assert.equal(skipped, 0);
        assert.deepEqual(rows.map(comparable), RECORDS.map(comparable));
        for (const row of rows) assert.equal(row.source, p.source);
      });
    }

    it('refuses records of one domain with different sampling rates', () => {
      assert.throws(() => p.encode([record(p.source, 0), record(p.source, 1, { sampling_rate: 10 })], {}), RangeError);
    });

    const tshark = onPath('tshark');
    if (!tshark && inCI) throw new Error('CI=true and tshark is not on PATH: the encoder check needs it');
    it('is decoded by tshark without malformed packets, with the same fields', { skip: tshark ? false : 'tshark is not on PATH' }, () => {
      const datagrams = p.encode(RECORDS, { maxBytes: 900 });
      const dir = mkdtempSync(join(tmpdir(), `flowmap-${p.source}-`));
      try {
        const file = join(dir, `${p.source}.pcap`);
        writeFileSync(file, writePcap(datagrams.map((payload, i) => ({ time: NOW + i, src: EXPORTER, dst: parseAddress('192.0.2.2'), srcPort: 50000, dstPort: p.port, payload }))));
        const run = spawnSync('tshark', ['-r', file, '-d', `udp.port==${p.port},cflow`, '-T', 'json', '--no-duplicate-keys'], { encoding: 'utf8', maxBuffer: 64 << 20 });
        assert.equal(run.status, 0, run.stderr);
        assert.ok(!run.stdout.includes('_ws.malformed') && !run.stdout.includes('Malformed Packet'), 'tshark reports a malformed packet');
        assert.ok(!run.stdout.includes('"_ws.expert.severity": "8388608"'), 'tshark reports an expert error');
        const flows = tsharkFlows(run.stdout);
        assert.equal(flows.length, RECORDS.length);
        flows.forEach((f, i) => {
          const r = RECORDS[i] as FlowRecord;
          const rate = r.sampling_rate ?? 1;
          const v6 = !formatAddress(r.src_addr).includes('.');
          assert.deepEqual(
            [f[v6 ? 'cflow.srcaddrv6' : 'cflow.srcaddr'], f[v6 ? 'cflow.dstaddrv6' : 'cflow.dstaddr'], f['cflow.srcport'], f['cflow.dstport'], f['cflow.protocol'], f['cflow.octets'], f['cflow.packets'], f['cflow.inputint'], f['cflow.outputint'], f['cflow.vlanid']],
            [formatAddress(r.src_addr), formatAddress(r.dst_addr), String(r.src_port), String(r.dst_port), String(r.proto), String((r.bytes ?? 0) / rate), String((r.packets ?? 0) / rate), String(r.in_if), String(r.out_if), String(r.vlan)],
            `record ${i}`,
          );
        });
        assert.ok(run.stdout.includes(p.samplingEvidence[0]), p.samplingEvidence[1]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

type Tree = { [key: string]: unknown };

/** The data records tshark decoded ("Flow N" under a data flowset), skipping options records. */
function tsharkFlows(json: string): Record<string, string>[] {
  const flows: Record<string, string>[] = [];
  for (const packet of JSON.parse(json) as { _source: { layers: { cflow: Tree } } }[]) {
    for (const [title, set] of Object.entries(packet._source.layers.cflow)) {
      if (!/^(Flow)?Set \d+ \[id=(256|257)\]/.test(title)) continue;
      for (const [k, flow] of Object.entries(set as Tree)) if (k.startsWith('Flow ')) flows.push(flow as Record<string, string>);
    }
  }
  return flows;
}
