// NetFlow v9 encoder: its datagrams are valid for tshark (no malformed packet or expert error, the
// fields tshark decodes equal the input) and decode back through our decoder to the same records.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNetflow9 } from './netflow9.js';
import { decodeNetflow9 } from '../decoders/netflow9.js';
import { createDecoderState } from '../decoders/state.js';
import { FlowWriter } from '../decoders/writer.js';
import { writePcap } from '../pcap.js';
import { flowAt, type FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { inCI, onPath } from '../../test/services.js';

const EXPORTER = parseAddress('192.0.2.10');
const NOW = 1_700_000_000;

function record(i: number, overrides: Partial<FlowRecord> = {}): FlowRecord {
  const v6 = i % 3 === 2;
  return {
    time_received: NOW,
    time_start: NOW - 60 - i,
    time_end: NOW - i,
    source: 'netflow9',
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

const UNSAMPLED = Array.from({ length: 60 }, (_, i) => record(i));
const SAMPLED = Array.from({ length: 20 }, (_, i) => record(i, { observation_domain: 9, sampling_rate: 100, bytes: 100 * 1500 * (i + 1), packets: 100 * (i + 1) }));
const RECORDS = [...UNSAMPLED, ...SAMPLED];

function decodeAll(datagrams: Uint8Array[]): { rows: FlowRecord[]; skipped: number } {
  const state = createDecoderState();
  const out = new FlowWriter(16);
  for (const bytes of datagrams) decodeNetflow9({ bytes, exporter: EXPORTER, receivedAt: NOW }, state, out);
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

describe('NetFlow v9 encoder', () => {
  it('splits records into datagrams no larger than the limit, one source id each', () => {
    const datagrams = encodeNetflow9(RECORDS, { maxDatagramBytes: 600 });
    assert.ok(datagrams.length > 4);
    for (const d of datagrams) assert.ok(d.length <= 600);
  });

  for (const templates of ['every', 'first'] as const) {
    it(`decodes back to the same records (templates in ${templates} datagram)`, () => {
      const { rows, skipped } = decodeAll(encodeNetflow9(RECORDS, { templates }));
      assert.equal(skipped, 0);
      assert.deepEqual(rows.map(comparable), RECORDS.map(comparable));
      for (const row of rows) assert.equal(row.source, 'netflow9');
    });
  }

  it('refuses records of one domain with different sampling rates', () => {
    assert.throws(() => encodeNetflow9([record(0), record(1, { sampling_rate: 10 })]), RangeError);
  });

  const tshark = onPath('tshark');
  if (!tshark && inCI) throw new Error('CI=true and tshark is not on PATH: the encoder check needs it');
  it('is decoded by tshark without malformed packets, with the same fields', { skip: tshark ? false : 'tshark is not on PATH' }, () => {
    const datagrams = encodeNetflow9(RECORDS, { maxDatagramBytes: 900 });
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-nf9-'));
    try {
      const file = join(dir, 'nf9.pcap');
      writeFileSync(file, writePcap(datagrams.map((payload, i) => ({ time: NOW + i, src: EXPORTER, dst: parseAddress('192.0.2.2'), srcPort: 50000, dstPort: 2055, payload }))));
      const run = spawnSync('tshark', ['-r', file, '-d', 'udp.port==2055,cflow', '-T', 'json', '--no-duplicate-keys'], { encoding: 'utf8', maxBuffer: 64 << 20 });
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
      assert.ok(run.stdout.includes('"cflow.sampling_interval": "100"'), 'tshark shows the sampling options record');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

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
