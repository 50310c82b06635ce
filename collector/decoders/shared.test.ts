// The pieces every decoder shares: the growable writer, the bounded template cache, sampling rates.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flowAt } from '../../core/flow.js';
import { parseAddress } from '../../core/ip.js';
import { FlowWriter } from './writer.js';
import { TemplateCache } from './templates.js';
import { SamplingRates } from './sampling.js';
import { createDecoderState, exporterKey } from './state.js';
import { decodeSflow } from './sflow.js';
import { encodeSflow } from '../encoders/sflow.js';

describe('flow writer', () => {
  it('grows past its capacity keeping every row written so far', () => {
    const out = new FlowWriter(2);
    for (let n = 0; n < 1000; n++) {
      const i = out.row();
      out.columns.src_port[i] = n;
      out.columns.bytes[i] = n * 10;
      out.columns.src_addr[i * 16 + 15] = n & 0xff;
      out.columns.cloud_vpc[i] = `vpc-${n}`;
    }
    assert.equal(out.length, 1000);
    assert.ok(out.batch.capacity >= 1000);
    for (const n of [0, 1, 2, 511, 999]) {
      const row = flowAt(out.batch, n);
      assert.equal(row.src_port, n);
      assert.equal(row.bytes, n * 10);
      assert.equal(row.src_addr[15], n & 0xff);
      assert.equal(row.cloud_vpc, `vpc-${n}`);
    }
  });

  it('hands out rows reset to defaults, so a reused slot never leaks an earlier flow', () => {
    const out = new FlowWriter(4);
    const i = out.row();
    out.columns.dst_port[i] = 443;
    out.columns.sampling_rate[i] = 512;
    out.columns.dst_addr.set(parseAddress('10.0.0.1'), i * 16);
    out.unwind();
    assert.equal(out.length, 0);
    const j = out.row();
    assert.equal(j, i);
    const row = flowAt(out.batch, j);
    assert.equal(row.dst_port, 0);
    assert.equal(row.sampling_rate, 1);
    assert.ok(row.dst_addr.every((b) => b === 0));
  });

  it('take() returns the filled batch and starts an empty one', () => {
    const out = new FlowWriter(8);
    out.row();
    out.row();
    const full = out.take();
    assert.equal(full.length, 2);
    assert.equal(out.length, 0);
    assert.notEqual(out.batch, full);
  });
});

describe('template cache', () => {
  it('keys templates by exporter, domain and id', () => {
    const cache = new TemplateCache<string>();
    cache.set('a', 0, 256, 'a0');
    cache.set('a', 1, 256, 'a1');
    cache.set('b', 0, 256, 'b0');
    assert.equal(cache.get('a', 0, 256), 'a0');
    assert.equal(cache.get('a', 1, 256), 'a1');
    assert.equal(cache.get('b', 0, 256), 'b0');
    assert.equal(cache.get('b', 1, 256), undefined);
    assert.equal(cache.set('a', 0, 256, 'a0-v2'), 'replaced');
    assert.equal(cache.get('a', 0, 256), 'a0-v2');
  });

  it('refuses new templates and exporters beyond its bounds instead of evicting', () => {
    const cache = new TemplateCache<number>({ templatesPerExporter: 3, exporters: 2 });
    for (let id = 256; id < 259; id++) assert.equal(cache.set('a', 0, id, id), 'added');
    assert.equal(cache.set('a', 0, 300, 300), 'template_limit');
    assert.equal(cache.set('a', 0, 256, 1), 'replaced', 'a refresh of a known template is always accepted');
    assert.equal(cache.set('b', 0, 256, 1), 'added');
    assert.equal(cache.set('c', 0, 256, 1), 'exporter_limit');
    assert.equal(cache.get('a', 0, 257), 257, 'the flood did not push out existing templates');
    assert.equal(cache.size, 4);
    assert.equal(cache.exporterCount, 2);
  });

  it('withdraws one template or every template of a domain (RFC 7011 §8.1)', () => {
    const cache = new TemplateCache<number>();
    cache.set('a', 5, 256, 1);
    cache.set('a', 5, 257, 2);
    cache.set('a', 6, 256, 3);
    assert.equal(cache.delete('a', 5, 256), true);
    assert.equal(cache.delete('a', 5, 256), false);
    assert.equal(cache.deleteDomain('a', 5), 1);
    assert.equal(cache.get('a', 6, 256), 3, 'other domains keep theirs');
    assert.equal(cache.templateCount('a'), 1);
  });
});

describe('sampling rates', () => {
  it('prefers a configured override, then the rate learnt for the domain, then domain 0, then the default', () => {
    const rates = new SamplingRates({ defaultRate: 100, overrides: new Map([['192.0.2.9', 4096]]) });
    rates.learn('ex1', 3, 512);
    rates.learn('ex1', 0, 64);
    assert.equal(rates.rate('ex1', 3), 512);
    assert.equal(rates.rate('ex1', 7), 64);
    assert.equal(rates.rate('ex2', 0), 100);
    assert.equal(rates.rate('ex1', 3, '192.0.2.9'), 4096);
  });

  it('knows nothing without a default, and ignores absurd announcements', () => {
    const rates = new SamplingRates();
    rates.learn('ex', 0, 0);
    rates.learn('ex', 0, 1.5);
    rates.learn('ex', 0, -1);
    assert.equal(rates.rate('ex', 0), undefined);
  });

  it('stays bounded in the exporters it learns', () => {
    const rates = new SamplingRates({ maxEntries: 10 });
    for (let i = 0; i < 100; i++) rates.learn(`ex${i}`, 0, 10);
    assert.equal(rates.size, 10);
  });

  it('lets a configured override win over the rate an sFlow sample carries', () => {
    const exporter = parseAddress('192.0.2.9');
    const [datagram] = encodeSflow([
      { time_received: 1, source: 'sflow', exporter, src_addr: parseAddress('10.0.0.1'), dst_addr: parseAddress('10.0.0.2'), src_port: 1, dst_port: 2, proto: 17, bytes: 512 * 100, packets: 512, sampling_rate: 512 },
    ]);
    const decode = (state: ReturnType<typeof createDecoderState>): { rate: number; bytes: number } => {
      const out = new FlowWriter(4);
      decodeSflow({ bytes: datagram ?? new Uint8Array(0), exporter, receivedAt: 1 }, state, out);
      const row = flowAt(out.batch, 0);
      return { rate: row.sampling_rate, bytes: row.bytes / row.sampling_rate };
    };
    const announced = decode(createDecoderState());
    assert.equal(announced.rate, 512);
    const overridden = decode(createDecoderState({ sampling: { overrides: new Map([['192.0.2.9', 100]]) } }));
    assert.equal(overridden.rate, 100);
    assert.equal(overridden.bytes, announced.bytes, 'frame length scaled by the configured rate instead');
  });

  it('names exporters by the hex of their 16-byte address', () => {
    assert.equal(exporterKey(parseAddress('192.0.2.1')), '00000000000000000000ffffc0000201');
  });
});
