// Property tests for the template-driven decoders (NetFlow v9, IPFIX) over every corpus datagram
// of both protocols: truncation, bit flips, lying length and count fields, degenerate templates.
// Each call must return without throwing, write no more rows than the datagram has bytes (every
// record is at least one byte), and the template cache must stay within its bounds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CORPUS, corpusFiles } from '../../test/corpus.js';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeNetflow9 } from './netflow9.js';
import { decodeIpfix } from './ipfix.js';
import { createDecoderState } from './state.js';
import { FlowWriter } from './writer.js';
import type { Decoder, DecoderState } from './types.js';
import { readCapture } from '../pcap.js';

const NOW = 1_700_000_000;

interface Sample {
  bytes: Uint8Array;
  exporter: Uint8Array;
  decoder: Decoder;
  /** A state that has seen the whole capture, so data sets meet their templates. */
  state: DecoderState;
}

function decoderFor(bytes: Uint8Array): Decoder | undefined {
  if (bytes.length < 2 || bytes[0] !== 0) return undefined;
  return bytes[1] === 9 ? decodeNetflow9 : bytes[1] === 10 ? decodeIpfix : undefined;
}

const samples: Sample[] = [];
for (const path of [...corpusFiles(join(CORPUS, 'netflow-v9')), ...corpusFiles(join(CORPUS, 'ipfix'))].sort()) {
  const state = createDecoderState();
  const out = new FlowWriter(64);
  for (const d of readCapture(readFileSync(path)).datagrams) {
    const decoder = decoderFor(d.payload);
    if (decoder === undefined) continue;
    decoder({ bytes: d.payload, exporter: d.src, receivedAt: NOW }, state, out);
    samples.push({ bytes: d.payload, exporter: d.src, decoder, state });
    out.take();
  }
}

/** Decodes and checks the invariants; returns the rows written. */
function check(sample: Sample, bytes: Uint8Array, state = sample.state): number {
  const out = new FlowWriter(16);
  const before = state.counters.flows;
  sample.decoder({ bytes, exporter: sample.exporter, receivedAt: NOW }, state, out);
  assert.ok(out.length <= bytes.length, `${out.length} rows from ${bytes.length} bytes`);
  assert.equal(state.counters.flows - before, out.length);
  return out.length;
}

/** Offsets of set / flowset headers in a datagram (walking the real lengths). */
function setOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets: number[] = [];
  let offset = bytes[1] === 9 ? 20 : 16;
  while (offset + 4 <= bytes.length && offsets.length < 64) {
    offsets.push(offset);
    const length = view.getUint16(offset + 2);
    if (length < 4) break;
    offset += length;
  }
  return offsets;
}

describe('NetFlow v9 and IPFIX decoders under malformed input', () => {
  it('has corpus datagrams of both protocols to mutate', () => {
    assert.ok(samples.filter((s) => s.decoder === decodeNetflow9).length > 200);
    assert.ok(samples.filter((s) => s.decoder === decodeIpfix).length > 200);
  });

  it('survives truncation at every offset (a deterministic sample of 48 for long datagrams)', () => {
    for (const sample of samples) {
      const n = sample.bytes.length;
      const step = n <= 256 ? 1 : Math.ceil(n / 48);
      for (let cut = 0; cut < n; cut += step) check(sample, sample.bytes.subarray(0, cut));
    }
  });

  it('survives random bit flips', () => {
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 8 }), (index, flips) => {
        const sample = samples[index] as Sample;
        const bytes = sample.bytes.slice();
        for (const [at, bit] of flips) bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ (1 << bit);
        check(sample, bytes);
      }),
      { numRuns: 3000, seed: 7 },
    );
  });

  it('survives lying set lengths, template ids, field counts and field lengths', () => {
    const lie = fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 255, 256, 0x7fff, 0xfffe, 0xffff), fc.nat(0xffff));
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.nat(), fc.nat(7), lie, (index, which, position, value) => {
        const sample = samples[index] as Sample;
        const bytes = sample.bytes.slice();
        const offsets = setOffsets(bytes);
        if (offsets.length === 0) return;
        // Overwrite one 16-bit word at or just after a set header: set id, set length, template
        // id, field count / scope count, first field type or length.
        const at = (offsets[which % offsets.length] as number) + position * 2;
        if (at + 2 > bytes.length) return;
        bytes[at] = value >>> 8;
        bytes[at + 1] = value & 0xff;
        check(sample, bytes);
      }),
      { numRuns: 3000, seed: 11 },
    );
  });

  it('refuses zero-length, oversized and 65535-field templates, and template ids below 256', () => {
    const u16 = (n: number): number[] => [n >>> 8, n & 0xff];
    const v9 = (body: number[]): Uint8Array => Uint8Array.from([...u16(9), 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u16(0), ...u16(body.length + 4), ...body]);
    const ipfix = (setId: number, body: number[]): Uint8Array => Uint8Array.from([...u16(10), ...u16(16 + 4 + body.length), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u16(setId), ...u16(body.length + 4), ...body]);
    const many = (count: number, length: number): number[] => Array.from({ length: count }, () => [...u16(1), ...u16(length)]).flat();
    const cases: [Decoder, Uint8Array][] = [
      [decodeNetflow9, v9([...u16(256), ...u16(0)])],
      [decodeNetflow9, v9([...u16(256), ...u16(3), ...many(3, 0)])],
      [decodeNetflow9, v9([...u16(256), ...u16(2), ...many(2, 0xfffe)])],
      [decodeNetflow9, v9([...u16(256), ...u16(0xffff), ...many(10, 4)])],
      [decodeNetflow9, v9([...u16(17), ...u16(1), ...many(1, 4)])],
      [decodeIpfix, ipfix(2, [...u16(256), ...u16(0xffff), ...many(100, 4)])],
      [decodeIpfix, ipfix(2, [...u16(256), ...u16(3), ...many(3, 0)])],
      [decodeIpfix, ipfix(2, [...u16(256), ...u16(2), ...many(2, 0xfffe)])],
      [decodeIpfix, ipfix(2, [...u16(100), ...u16(1), ...many(1, 4)])],
      [decodeIpfix, ipfix(3, [...u16(256), ...u16(1), ...u16(0), ...many(1, 4)])],
    ];
    for (const [decoder, bytes] of cases) {
      const state = createDecoderState();
      decoder({ bytes, exporter: new Uint8Array(16), receivedAt: NOW }, state, new FlowWriter(4));
      assert.equal(state.templates.size, 0, `template from ${Buffer.from(bytes).toString('hex')} was cached`);
      const skipped = state.counters.skipped;
      assert.ok(skipped.bad_template + skipped.bad_length > 0);
    }
    // 65535 fields of 1 byte fit the 16-bit set length only partly: counted, never cached.
    const state = createDecoderState();
    const big = new Uint8Array(0xffff);
    big.set([...u16(10), ...u16(0xffff), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u16(2), ...u16(0xffff - 16), ...u16(256), ...u16(0xffff)]);
    for (let o = 24; o + 4 <= big.length; o += 4) big.set([0, 1, 0, 1], o);
    decodeIpfix({ bytes: big, exporter: new Uint8Array(16), receivedAt: NOW }, state, new FlowWriter(4));
    assert.equal(state.counters.skipped.bad_length, 1);
  });

  it('keeps the template cache within its bounds under random exporters and templates', () => {
    const state = createDecoderState({ templates: { templatesPerExporter: 4, exporters: 3 } });
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.nat(9), (index, exporterId) => {
        const sample = samples[index] as Sample;
        const exporter = new Uint8Array(16);
        exporter[15] = exporterId;
        check({ ...sample, exporter }, sample.bytes, state);
        assert.ok(state.templates.exporterCount <= 3);
        for (let e = 0; e < 10; e++) {
          const probe = new Uint8Array(16);
          probe[15] = e;
          const key = Buffer.from(probe).toString('hex');
          assert.ok(state.templates.templateCount(key) <= 4 && state.templates.templateCount(`${key}:v9`) <= 4);
        }
      }),
      { numRuns: 2000, seed: 3 },
    );
    assert.ok(state.counters.skipped.template_limit + state.counters.skipped.exporter_limit > 0);
  });
});
