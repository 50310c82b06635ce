// NetFlow v9 decoder behaviour (RFC 3954), on datagrams built here and on the corpus captures
// nobody fully decodes; plus a differential test against node-netflowv9 on every v9 capture.
// Field-by-field agreement with tshark on the whole corpus is in fields.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { CORPUS, corpusFiles, NETFLOWV9_HANGS } from '../../test/corpus.js';
import { join } from 'node:path';
import { decodeNetflow9 } from './netflow9.js';
import { createDecoderState } from './state.js';
import { FlowWriter } from './writer.js';
import type { DecoderState, SkipReason } from './types.js';
import { encodeNetflow9 } from '../encoders/netflow9.js';
import { readCapture } from '../pcap.js';
import { flowAt, type FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';

const EXPORTER = parseAddress('192.0.2.1');
const NOW = 1_700_000_000;

function u16(n: number): number[] {
  return [(n >>> 8) & 0xff, n & 0xff];
}
function u32(n: number): number[] {
  return [...u16(n >>> 16), ...u16(n & 0xffff)];
}
function header(count: number, uptime: number, secs: number, sourceId: number): number[] {
  return [...u16(9), ...u16(count), ...u32(uptime), ...u32(secs), ...u32(0), ...u32(sourceId)];
}
function flowset(id: number, body: number[]): number[] {
  return [...u16(id), ...u16(body.length + 4), ...body];
}
function template(id: number, fields: [number, number][]): number[] {
  return [...u16(id), ...u16(fields.length), ...fields.flatMap(([t, l]) => [...u16(t), ...u16(l)])];
}

function decode(datagrams: number[][] | Uint8Array[], state = createDecoderState(), exporter = EXPORTER): { rows: FlowRecord[]; state: DecoderState } {
  const out = new FlowWriter(4);
  for (const d of datagrams) decodeNetflow9({ bytes: Uint8Array.from(d), exporter, receivedAt: NOW }, state, out);
  return { rows: Array.from({ length: out.length }, (_, i) => flowAt(out.batch, i)), state };
}

const SIMPLE: [number, number][] = [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [1, 4], [2, 4]];
function simpleRecord(src: number, bytes: number): number[] {
  return [...u32(src), ...u32(0x0a000002), ...u16(1234), ...u16(80), 6, ...u32(bytes), ...u32(2)];
}

describe('NetFlow v9 decoder', () => {
  it('drops data flowsets that arrive before their template and counts them per flowset', () => {
    const data = [...header(1, 1000, NOW, 0), ...flowset(256, simpleRecord(0x0a000001, 100))];
    const { rows, state } = decode([data, [...header(1, 1000, NOW, 0), ...flowset(0, template(256, SIMPLE))], data]);
    assert.equal(state.counters.skipped.no_template, 1);
    assert.equal(rows.length, 1);
    assert.equal(formatAddress(rows[0]!.src_addr), '10.0.0.1');
  });

  it('keys templates by exporter address and source id', () => {
    const state = createDecoderState();
    decode([[...header(1, 0, NOW, 1), ...flowset(0, template(256, SIMPLE))]], state);
    const data = (sourceId: number): number[] => [...header(1, 0, NOW, sourceId), ...flowset(256, simpleRecord(1, 1))];
    assert.equal(decode([data(1)], state).rows.length, 1);
    assert.equal(decode([data(2)], state).rows.length, 0);
    assert.equal(decode([data(1)], state, parseAddress('192.0.2.99')).rows.length, 0);
    assert.equal(state.counters.skipped.no_template, 2);
  });

  it('recompiles a template that is redefined with another layout', () => {
    const state = createDecoderState();
    decode([[...header(1, 0, NOW, 0), ...flowset(0, template(256, SIMPLE))]], state);
    decode([[...header(1, 0, NOW, 0), ...flowset(0, template(256, [[7, 2], [11, 2]]))]], state);
    const { rows } = decode([[...header(1, 0, NOW, 0), ...flowset(256, [...u16(53), ...u16(5353)])]], state);
    assert.deepEqual([rows[0]?.src_port, rows[0]?.dst_port, state.counters.templates], [53, 5353, 2]);
  });

  it('makes FIRST/LAST_SWITCHED absolute with sysUptime and unix seconds, across uptime wrap-around', () => {
    const fields: [number, number][] = [[22, 4], [21, 4]];
    const wrapped = [...header(1, 5_000, NOW, 0), ...flowset(0, template(300, fields)), ...flowset(300, [...u32(0xffffffff - 9_999), ...u32(1_000)])];
    const { rows } = decode([wrapped]);
    assert.deepEqual([rows[0]?.time_start, rows[0]?.time_end], [NOW - 15, NOW - 4]);
  });

  it('applies the rate of an options record per source id, and counts flows without one', () => {
    const options = flowset(1, [...u16(400), ...u16(4), ...u16(8), ...u16(1), ...u16(4), ...u16(34), ...u16(4), ...u16(35), ...u16(1), 0, 0]);
    const optionsData = flowset(400, [...u32(0), ...u32(64), 2, 0, 0, 0]);
    const state = createDecoderState();
    const { rows } = decode([
      [...header(3, 0, NOW, 5), ...options, ...optionsData, ...flowset(0, template(256, SIMPLE)), ...flowset(256, simpleRecord(1, 10))],
      [...header(2, 0, NOW, 6), ...flowset(0, template(256, SIMPLE)), ...flowset(256, simpleRecord(1, 10))],
    ], state);
    assert.deepEqual(rows.map((r) => [r.observation_domain, r.sampling_rate, r.bytes, r.packets]), [[5, 64, 640, 128], [6, 1, 10, 2]]);
    assert.equal(state.counters.optionsRecords, 1);
    assert.equal(state.counters.samplingUnknown, 1);
  });

  it('uses a SAMPLING_INTERVAL carried in the data record itself', () => {
    const { rows } = decode([[...header(1, 0, NOW, 0), ...flowset(0, template(256, [...SIMPLE, [34, 4]])), ...flowset(256, [...simpleRecord(1, 10), ...u32(1000)])]]);
    assert.deepEqual([rows[0]?.sampling_rate, rows[0]?.bytes], [1000, 10_000]);
  });

  it('skips unknown field types by their length and reads IPv6 addresses', () => {
    const fields: [number, number][] = [[27, 16], [40000, 3], [28, 16], [7, 2]];
    const v6 = [...parseAddress('2001:db8::1'), 1, 2, 3, ...parseAddress('2001:db8::2'), ...u16(443)];
    const { rows } = decode([[...header(1, 0, NOW, 0), ...flowset(0, template(256, fields)), ...flowset(256, v6)]]);
    assert.deepEqual([formatAddress(rows[0]!.src_addr), formatAddress(rows[0]!.dst_addr), rows[0]?.src_port], ['2001:db8::1', '2001:db8::2', 443]);
  });

  it('treats the bytes after the last record of a flowset as padding', () => {
    const { rows, state } = decode([[...header(1, 0, NOW, 0), ...flowset(0, template(256, SIMPLE)), ...flowset(256, [...simpleRecord(1, 1), ...simpleRecord(2, 1), 0, 0, 0]), 0, 0, 0, 0, 0, 0]]);
    assert.equal(rows.length, 2);
    assert.deepEqual(Object.values(state.counters.skipped).reduce((a, b) => a + b, 0), 0);
  });

  it('refuses templates beyond the cache bounds and counts why', () => {
    const state = createDecoderState({ templates: { templatesPerExporter: 1, exporters: 1 } });
    decode([[...header(2, 0, NOW, 0), ...flowset(0, [...template(256, SIMPLE), ...template(257, SIMPLE)])]], state);
    decode([[...header(1, 0, NOW, 0), ...flowset(0, template(256, SIMPLE))]], state, parseAddress('192.0.2.2'));
    assert.deepEqual([state.counters.skipped.template_limit, state.counters.skipped.exporter_limit, state.templates.size], [1, 1, 1]);
  });

  it('counts templates that cannot describe a record: id below 256, zero fields', () => {
    const { state } = decode([[...header(2, 0, NOW, 0), ...flowset(0, [...template(255, SIMPLE), ...template(260, [[1, 0]])])]]);
    assert.equal(state.counters.skipped.bad_template, 2);
  });

  it('decodes what our encoder writes', () => {
    const records = [{ time_received: NOW, time_start: NOW - 10, time_end: NOW - 1, source: 'netflow9' as const, exporter: EXPORTER, observation_domain: 3, src_addr: parseAddress('10.1.1.1'), dst_addr: parseAddress('10.2.2.2'), proto: 17, src_port: 53, dst_port: 5353, bytes: 500, packets: 5, sampling_rate: 5 }];
    const { rows } = decode(encodeNetflow9(records));
    assert.deepEqual([rows[0]?.bytes, rows[0]?.sampling_rate, rows[0]?.time_start, rows[0]?.observation_domain], [500, 5, NOW - 10, 3]);
  });
});

/** Captures nobody fully decodes (MANIFEST): what we count, and that nothing throws. */
const UNDECODABLE: { file: string; flows: number; skipped: Partial<Record<SkipReason, number>> }[] = [
  { file: 'ndpi/netflowv9.pcap', flows: 0, skipped: { no_template: 23 } },
  { file: 'graylog-plugin-netflow/wrapped/netflow-v9-3_incomplete.pcap', flows: 0, skipped: { no_template: 1 } },
  { file: 'graylog-plugin-netflow/nprobe-netflow9-4.pcap', flows: 1, skipped: { no_template: 2 } },
  // Concatenated nc capture: after the data comes a reserved flowset id and a length past the end.
  { file: 'graylog-plugin-netflow/wrapped/netflow-v9-1.pcap', flows: 2, skipped: { unsupported: 1, truncated: 1 } },
  { file: 'libnetflow9/malformed-OT.pcap', flows: 0, skipped: { no_template: 1, bad_template: 1 } },
  { file: 'libnetflow9/malformed_1.pcap', flows: 0, skipped: { no_template: 3, bad_template: 3 } },
  { file: 'libnetflow9/malformed_2.pcap', flows: 0, skipped: { bad_template: 16 } },
  { file: 'libnetflow9/malformed_3.pcap', flows: 0, skipped: { no_template: 1, bad_template: 1 } },
  { file: 'libnetflow9/malformed_4.pcap', flows: 0, skipped: {} },
  { file: 'libnetflow9/malformed_5.pcap', flows: 0, skipped: { no_template: 1, bad_template: 1 } },
  { file: 'libnetflow9/malformed_6.pcap', flows: 0, skipped: { bad_length: 1 } },
];

describe('NetFlow v9 captures nobody fully decodes: counted skips, nothing thrown', () => {
  for (const { file, flows, skipped } of UNDECODABLE) {
    it(file, () => {
      const state = createDecoderState();
      const datagrams = readCapture(readFileSync(join(CORPUS, 'netflow-v9', file))).datagrams.map((d) => d.payload);
      const { rows } = decode(datagrams, state);
      assert.equal(rows.length, flows);
      const nonZero = Object.fromEntries(Object.entries(state.counters.skipped).filter(([, n]) => n > 0));
      assert.deepEqual(nonZero, skipped);
    });
  }
});

// node-netflowv9 (GPL; test oracle only). It keys templates by exporter address and port and
// ignores the source id, so captures whose exporters reuse a template id across source ids are
// compared only where both decoders produced a record.
interface NodeFlow {
  ipv4_src_addr?: string; ipv4_dst_addr?: string; ipv6_src_addr?: string; ipv6_dst_addr?: string;
  l4_src_port?: number; l4_dst_port?: number; protocol?: number; in_bytes?: number; in_pkts?: number;
}
const requireCjs = createRequire(import.meta.url);
const NetFlowV9 = requireCjs('node-netflowv9') as new (options: object) => { nfPktDecode(msg: Buffer, rinfo: object): { flows?: NodeFlow[] } | undefined };

/** node-netflowv9 prints IPv6 addresses as 32 hex digits. */
function oracleV6(hex: string): string {
  return formatAddress(parseAddress(hex.replace(/(.{4})(?!$)/g, '$1:')));
}

/** Records carrying both families: IPv6 unless all zeros (our rule, fields.ts; node-netflowv9 keeps both). */
function oracleAddress(v4: string | undefined, v6hex: string | undefined): string | undefined {
  const v6 = v6hex === undefined ? undefined : oracleV6(v6hex);
  return v6 !== undefined && (v6 !== '::' || v4 === undefined) ? v6 : v4;
}

describe('NetFlow v9 differential test against node-netflowv9', () => {
  let compared = 0;
  for (const path of corpusFiles(join(CORPUS, 'netflow-v9')).filter((p) => !NETFLOWV9_HANGS.has(p.slice(CORPUS.length + 1)))) {
    it(path.slice(CORPUS.length + 1), () => {
      const oracle = new NetFlowV9({});
      const state = createDecoderState();
      const out = new FlowWriter(64);
      for (const d of readCapture(readFileSync(path)).datagrams) {
        if (d.payload.length < 2 || d.payload[0] !== 0 || d.payload[1] !== 9) continue;
        const first = out.length;
        decodeNetflow9({ bytes: d.payload, exporter: d.src, receivedAt: Math.floor(d.time) }, state, out);
        let theirs: NodeFlow[];
        try {
          theirs = (oracle.nfPktDecode(Buffer.from(d.payload), { address: formatAddress(d.src), port: d.srcPort })?.flows ?? [])
            .filter((f) => f.ipv4_src_addr !== undefined || f.ipv6_src_addr !== undefined);
        } catch {
          continue; // node-netflowv9 throws on malformed datagrams; ours must not (asserted by decoding above).
        }
        if (theirs.length !== out.length - first) continue; // different template scope (see above)
        theirs.forEach((flow, i) => {
          const row = flowAt(out.batch, first + i);
          const expect = (value: number | string | undefined, ours: number | string): void => {
            if (value !== undefined) assert.equal(ours, value, `${path} record ${i}`);
          };
          expect(oracleAddress(flow.ipv4_src_addr, flow.ipv6_src_addr), formatAddress(row.src_addr));
          expect(oracleAddress(flow.ipv4_dst_addr, flow.ipv6_dst_addr), formatAddress(row.dst_addr));
          expect(flow.l4_src_port, row.src_port);
          expect(flow.l4_dst_port, row.dst_port);
          expect(flow.protocol, row.proto);
          expect(flow.in_bytes, row.bytes / row.sampling_rate);
          expect(flow.in_pkts, row.packets / row.sampling_rate);
          compared++;
        });
      }
    });
  }
  it('compares a meaningful number of records', () => {
    console.log(`# node-netflowv9: compared ${compared} records`);
    assert.ok(compared > 1000, `${compared} records compared`);
  });
});
