// The protocol-sniffing dispatcher: which decoder each datagram reaches, what it keeps for itself,
// and that no sequence of bytes makes it throw.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CORPUS, corpusFiles } from '../../test/corpus.js';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { FLOW_SOURCES } from '../../core/flow.js';
import { parseAddress } from '../../core/ip.js';
import { encodeNetflow5 } from '../encoders/netflow5.js';
import { readCapture } from '../pcap.js';
import { decodeDatagram, DEFAULT_PORTS } from './index.js';
import { decodeIpfix } from './ipfix.js';
import { decodeNetflow5 } from './netflow5.js';
import { decodeNetflow9 } from './netflow9.js';
import { decodeSflow } from './sflow.js';
import { createDecoderState } from './state.js';
import type { Decoder, DecoderState } from './types.js';
import { FlowWriter } from './writer.js';

const EXPORTER = parseAddress('192.0.2.1');

function run(decoder: Decoder, payloads: readonly Uint8Array[], state: DecoderState = createDecoderState()): { out: FlowWriter; state: DecoderState } {
  const out = new FlowWriter(64);
  for (const bytes of payloads) decoder({ bytes, exporter: EXPORTER, receivedAt: 1_700_000_000 }, state, out);
  return { out, state };
}

function skipped(state: DecoderState): [string, number][] {
  return Object.entries(state.counters.skipped).filter(([, n]) => n > 0);
}

function payloads(path: string): Uint8Array[] {
  return readCapture(readFileSync(join(CORPUS, path))).datagrams.map((d) => d.payload);
}

function captures(dir: string): string[] {
  return corpusFiles(join(CORPUS, dir)).map((path) => relative(CORPUS, path));
}

/** Rows and counters must equal what the protocol's own decoder produces on the same datagrams. */
function assertSameAsDirect(direct: Decoder, list: readonly Uint8Array[]): void {
  const viaDispatcher = run(decodeDatagram, list);
  const viaDecoder = run(direct, list);
  assert.equal(viaDispatcher.out.length, viaDecoder.out.length);
  assert.deepEqual(viaDispatcher.state.counters, viaDecoder.state.counters, 'datagrams are counted once, by the protocol decoder');
  const a = viaDispatcher.out.batch.columns;
  const b = viaDecoder.out.batch.columns;
  const n = viaDecoder.out.length;
  assert.deepEqual(a.src_addr.subarray(0, n * 16), b.src_addr.subarray(0, n * 16));
  assert.deepEqual(a.bytes.subarray(0, n), b.bytes.subarray(0, n));
  assert.deepEqual(a.source.subarray(0, n), b.source.subarray(0, n));
}

describe('decodeDatagram: sniffing the version from the first bytes', () => {
  it('sends uint16 5 to the NetFlow v5 decoder', () => {
    assertSameAsDirect(decodeNetflow5, payloads('netflow-v5/graylog-plugin-netflow/pmacctd-netflow5.pcap'));
  });

  it('sends uint16 9 to the NetFlow v9 decoder', () => {
    assertSameAsDirect(decodeNetflow9, payloads('netflow-v9/logstash-codec-netflow/wrapped/Netflow-9-valid-01.pcap'));
  });

  it('sends uint32 5 to the sFlow v5 decoder', () => {
    assertSameAsDirect(decodeSflow, payloads('sflow-v5/telegraf/sflow_v5_example/wrapped/sflow_v5_example.pcap'));
  });

  it('sends uint16 10 to the IPFIX decoder', () => {
    assertSameAsDirect(decodeIpfix, payloads('ipfix/logstash-codec-netflow/wrapped/IPFIX-Mikrotik-RouterOS-6.39.2.pcap'));
  });

  it('tells NetFlow v5 and sFlow apart on one port (tcpdump sent both to 6343)', () => {
    const { out, state } = run(decodeDatagram, payloads('sflow-v5/tcpdump/sflow_multiple_counter_30_pdus.pcap'));
    const sources = new Map<string, number>();
    for (let i = 0; i < out.length; i++) {
      const s = FLOW_SOURCES[out.batch.columns.source[i]!] ?? '?';
      sources.set(s, (sources.get(s) ?? 0) + 1);
    }
    assert.equal(sources.get('netflow5'), 7, 'the 5 v5 datagrams carry 7 records');
    assert.equal(state.counters.skipped.bad_version, 0);
  });

  const refused: [string, number[], string][] = [
    ['NetFlow v1', [0, 1, 0, 0], 'bad_version'],
    ['NetFlow v7', [0, 7, 0, 0], 'bad_version'],
    ['NetFlow v8', [0, 8, 0, 0], 'bad_version'],
    ['sFlow v4', [0, 0, 0, 4, 0, 0, 0, 1], 'bad_version'],
    ['text ("GET /")', [0x47, 0x45, 0x54, 0x20, 0x2f], 'bad_version'],
    ['an empty datagram', [], 'truncated'],
    ['a single byte', [5], 'truncated'],
  ];
  for (const [name, bytes, reason] of refused) {
    it(`counts ${name} as '${reason}' and writes nothing`, () => {
      const { out, state } = run(decodeDatagram, [new Uint8Array(bytes)]);
      assert.equal(out.length, 0);
      assert.equal(state.counters.datagrams, 1);
      assert.deepEqual(skipped(state), [[reason, 1]]);
    });
  }
});

describe('decodeDatagram: every corpus datagram of every flow protocol', () => {
  it('decodes them all without throwing, and sniffs none as a bad version', () => {
    let datagrams = 0;
    for (const dir of ['netflow-v5', 'netflow-v9', 'ipfix', 'sflow-v5']) {
      for (const path of captures(dir)) {
        const list = payloads(path);
        datagrams += list.length;
        const { state } = run(decodeDatagram, list, createDecoderState({ templates: { templatesPerExporter: 64, exporters: 8 } }));
        assert.equal(state.counters.datagrams, list.length, path);
        assert.equal(state.counters.skipped.bad_version, 0, path);
      }
    }
    assert.ok(datagrams > 1000, `${datagrams} datagrams`);
  });
});

describe('decodeDatagram: random bytes never throw', () => {
  const limits = { templatesPerExporter: 16, exporters: 4 };

  it('on arbitrary bytes', () => {
    const state = createDecoderState({ templates: limits });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const out = new FlowWriter(4);
        decodeDatagram({ bytes, exporter: EXPORTER, receivedAt: 0 }, state, out);
        assert.ok(out.length <= bytes.length);
      }),
      { numRuns: 1000 },
    );
    assert.ok(state.templates.size <= limits.templatesPerExporter * limits.exporters);
  });

  it('on arbitrary bytes behind each version a decoder accepts, from up to four exporters', () => {
    const state = createDecoderState({ templates: limits });
    const prefixes = [[0, 5], [0, 9], [0, 10], [0, 0, 0, 5]];
    fc.assert(
      fc.property(fc.nat(prefixes.length - 1), fc.nat(7), fc.uint8Array({ maxLength: 2000 }), (p, exporter, tail) => {
        const prefix = prefixes[p]!;
        const bytes = new Uint8Array(prefix.length + tail.length);
        bytes.set(prefix);
        bytes.set(tail, prefix.length);
        const out = new FlowWriter(4);
        decodeDatagram({ bytes, exporter: parseAddress(`192.0.2.${exporter}`), receivedAt: 0 }, state, out);
        assert.ok(out.length <= bytes.length);
        assert.ok(state.templates.exporterCount <= limits.exporters);
      }),
      { numRuns: 2000 },
    );
  });

  it('on our own v5 encoder output with random bytes appended', () => {
    const record = { src_addr: parseAddress('10.0.0.1'), dst_addr: parseAddress('10.0.0.2'), time_received: 1_700_000_000, bytes: 10, packets: 1 };
    const [v5] = encodeNetflow5([record]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        const bytes = new Uint8Array(v5!.length + tail.length);
        bytes.set(v5!);
        bytes.set(tail, v5!.length);
        const { out, state } = run(decodeDatagram, [bytes]);
        assert.equal(out.length, 1, 'bytes after the counted records are ignored');
        assert.deepEqual(skipped(state), []);
      }),
      { numRuns: 200 },
    );
  });
});

describe('DEFAULT_PORTS', () => {
  it('lists the conventional exporter ports: 2055/9995/9996 NetFlow, 4739 IPFIX, 6343 sFlow', () => {
    assert.deepEqual(DEFAULT_PORTS, { netflow: [2055, 9995, 9996], ipfix: [4739], sflow: [6343] });
  });
});
