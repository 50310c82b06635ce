// A saved decoder state lets a fresh one decode data sets whose templates it never saw on the wire.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flowAt, type FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { encodeIpfix } from '../encoders/ipfix.js';
import { encodeNetflow9 } from '../encoders/netflow9.js';
import { decodeDatagram } from './index.js';
import { restoreDecoderState, snapshotDecoderState } from './snapshot.js';
import { createDecoderState } from './state.js';
import { FlowWriter } from './writer.js';

const EXPORTER = parseAddress('192.0.2.10');
const OTHER = parseAddress('2001:db8::7');
const NOW = 1_700_000_000;

function records(count: number, domain: number, rate: number): FlowRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    time_received: NOW,
    time_start: NOW - 5,
    time_end: NOW - 1,
    source: 'netflow9',
    exporter: EXPORTER,
    observation_domain: domain,
    src_addr: parseAddress(i % 2 === 0 ? `10.0.0.${i + 1}` : `2001:db8:1::${i + 1}`),
    dst_addr: parseAddress(i % 2 === 0 ? '10.9.9.9' : '2001:db8:2::9'),
    src_port: 40_000 + i,
    dst_port: 443,
    proto: 6,
    // Records carry scaled counts; multiples of the rate survive the encoder's division exactly.
    bytes: rate * 100 * (i + 1),
    packets: rate * (i + 1),
    sampling_rate: rate,
  }));
}

const PROTOCOLS = [
  { name: 'NetFlow v9', encode: (r: FlowRecord[], templates: 'first' | 'none') => encodeNetflow9(r, { templates }) },
  { name: 'IPFIX', encode: (r: FlowRecord[], templates: 'first' | 'none') => encodeIpfix(r, { templates }) },
];

function decodeAll(datagrams: Uint8Array[], exporter: Uint8Array, state = createDecoderState()): { rows: ReturnType<typeof flowAt>[]; state: typeof state } {
  const out = new FlowWriter(16);
  for (const bytes of datagrams) decodeDatagram({ bytes, exporter, receivedAt: NOW }, state, out);
  return { rows: Array.from({ length: out.length }, (_, i) => flowAt(out.batch, i)), state };
}

describe('decoder state snapshot', () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name}: a restored state decodes data without a template on the wire`, () => {
      const input = records(6, 7, 64);
      const learnt = decodeAll(protocol.encode(input, 'first'), EXPORTER).state;
      // Through JSON, as it is saved on disk.
      const snapshot: unknown = JSON.parse(JSON.stringify(snapshotDecoderState(learnt)));
      const fresh = createDecoderState();
      const restored = restoreDecoderState(fresh, snapshot);
      assert.ok(restored.templates >= 2, `templates restored: ${JSON.stringify(restored)}`);
      assert.equal(restored.refused, 0);
      assert.equal(fresh.counters.datagrams, 0, 'restoring is not traffic');

      const dataOnly = protocol.encode(input, 'none');
      const before = decodeAll(dataOnly, EXPORTER, createDecoderState());
      assert.equal(before.rows.length, 0, 'without the snapshot nothing decodes');
      const after = decodeAll(dataOnly, EXPORTER, fresh);
      assert.equal(after.rows.length, input.length);
      after.rows.forEach((row, i) => {
        const want = input[i]!;
        assert.equal(formatAddress(row.src_addr), formatAddress(want.src_addr));
        assert.equal(row.src_port, want.src_port);
        assert.equal(row.observation_domain, 7);
        // The sampling rate came from the options record before the restart.
        assert.equal(row.sampling_rate, 64);
        assert.equal(row.bytes, want.bytes);
        assert.equal(row.packets, want.packets);
      });
    });
  }

  it('keeps only the exporters it is asked for, both when saving and when restoring', () => {
    const state = createDecoderState();
    decodeAll(encodeNetflow9(records(2, 1, 1), { templates: 'first' }), EXPORTER, state);
    decodeAll(encodeIpfix(records(2, 1, 1), { templates: 'first' }), OTHER, state);
    const isOther = (exporter: Uint8Array): boolean => formatAddress(exporter) === '2001:db8::7';
    const onlyOther = snapshotDecoderState(state, isOther);
    assert.ok(onlyOther.templates.length > 0);
    assert.ok(onlyOther.templates.every((t) => t.key.startsWith(Buffer.from(OTHER).toString('hex'))));

    const all = snapshotDecoderState(state);
    const fresh = createDecoderState();
    const result = restoreDecoderState(fresh, all, (exporter) => !isOther(exporter));
    assert.equal(result.templates, all.templates.length - onlyOther.templates.length);
    assert.equal(decodeAll(encodeIpfix(records(2, 1, 1), { templates: 'none' }), OTHER, fresh).rows.length, 0);
    assert.equal(decodeAll(encodeNetflow9(records(2, 1, 1), { templates: 'none' }), EXPORTER, fresh).rows.length, 2);
  });

  it('counts damaged entries instead of throwing', () => {
    const good = snapshotDecoderState(decodeAll(encodeIpfix(records(1, 1, 1), { templates: 'first' }), EXPORTER).state);
    const template = good.templates[0]!;
    const damaged = {
      version: 1,
      templates: [
        { ...template, raw: 'AAAA' }, // too short to be a template record
        { ...template, id: template.id + 1 }, // id disagrees with the record
        { ...template, key: 'not-hex' },
        { ...template, domain: -1 },
        null,
        template,
      ],
      sampling: [['zz', 1, 2], 'x', [template.key, 0, 8]],
      systemInit: [[template.key, 0, 'soon']],
    };
    const result = restoreDecoderState(createDecoderState(), damaged);
    assert.deepEqual(result, { templates: 1, sampling: 1, systemInit: 0, refused: 8 });
    assert.deepEqual(restoreDecoderState(createDecoderState(), { version: 2 }), { templates: 0, sampling: 0, systemInit: 0, refused: 0 });
    assert.deepEqual(restoreDecoderState(createDecoderState(), 'garbage'), { templates: 0, sampling: 0, systemInit: 0, refused: 0 });
  });
});
