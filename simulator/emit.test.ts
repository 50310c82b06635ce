// The simulator's emitters (issue 7, acceptance 1 and 3): every datagram of the `small` estate, in
// each router protocol, is read by tshark without a malformed packet or expert error and decodes
// through our decoders back to exactly the records the emitter says it carries; the same seed
// gives the same datagrams and the same cloud files, byte for byte, and another seed does not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createDecoderState, decodeDatagram, FlowWriter } from '../collector/decoders/index.js';
import { writePcap } from '../collector/pcap.js';
import { flowAt, type FlowRecord } from '../core/flow.js';
import { formatAddress, parseAddress } from '../core/ip.js';
import { inCI, onPath } from '../test/services.js';
import { CLOUD_EMIT_FORMATS, writeCloudFiles } from './emit-cloud.js';
import { exportsOf, FLOW_PROTOCOLS, type FlowProtocol } from './emit-flows.js';
import { buildEstate } from './index.js';

// Tuesday and Wednesday: business hours, nightly jobs and monitoring all have traffic.
const END = Date.parse('2026-11-26T00:00:00Z') / 1000;
const estate = (seed = 7) => buildEstate('small', { seed, days: 2, end: END });
const PORT: Record<FlowProtocol, number> = { netflow5: 2055, netflow9: 2055, ipfix: 4739, sflow: 6343 };
const DISSECTOR: Record<FlowProtocol, string> = { netflow5: 'cflow', netflow9: 'cflow', ipfix: 'cflow', sflow: 'sflow' };
const EXPORTER = parseAddress('192.0.2.1');

/** What our decoders make of the datagrams: the fields every protocol carries, as comparable rows. */
function decodeAll(datagrams: readonly Uint8Array[]): string[] {
  const state = createDecoderState();
  const out = new FlowWriter();
  datagrams.forEach((payload, i) => decodeDatagram({ bytes: payload, exporter: EXPORTER, receivedAt: END + i }, state, out));
  const batch = out.take();
  return Array.from({ length: batch.length }, (_, i) => row(flowAt(batch, i)));
}

/** Rows summed by their 5-tuple: `src sport dst dport proto` → [packets, bytes]. */
function sums(rows: readonly string[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const r of rows) {
    const f = r.split(' ');
    const key = f.slice(0, 5).join(' ');
    const t = out.get(key) ?? [0, 0];
    out.set(key, [t[0] + Number(f[5]), t[1] + Number(f[6])]);
  }
  return out;
}

const row = (r: FlowRecord): string => [formatAddress(r.src_addr), r.src_port, formatAddress(r.dst_addr), r.dst_port, r.proto, r.packets, r.bytes].join(' ');

function hashOf(datagrams: Iterable<Uint8Array>): string {
  const hash = createHash('sha256');
  for (const d of datagrams) hash.update(d);
  return hash.digest('hex');
}

function hashOfTree(dir: string): string {
  const hash = createHash('sha256');
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(dir, path)).update(readFileSync(path));
    }
  };
  walk(dir);
  return hash.digest('hex');
}

const haveTshark = onPath('tshark');
if (!haveTshark && inCI) throw new Error('CI=true and tshark is not on PATH: the simulator check needs it');

describe('simulator emitters', () => {
  for (const protocol of FLOW_PROTOCOLS) {
    it(`${protocol}: every datagram decodes (ours and tshark's) to the records it carries`, { skip: haveTshark ? false : 'tshark is not on PATH' }, () => {
      const datagrams: Uint8Array[] = [];
      const accounted: FlowRecord[] = [];
      let passedOver = 0;
      let generated = 0;
      for (const item of exportsOf(
        (function* () {
          for (const chunk of estate().flows()) {
            generated += chunk.length;
            yield chunk;
          }
        })(),
        { protocol, samplingRate: 16 },
      )) {
        datagrams.push(...item.datagrams);
        accounted.push(...item.accounted);
        passedOver += item.passedOver;
      }
      assert.ok(datagrams.length > 100, `${datagrams.length} datagrams`);
      if (protocol !== 'sflow') assert.equal(accounted.length + passedOver, generated, 'every generated record is carried or counted');
      if (protocol !== 'sflow') assert.ok(accounted.length >= generated * 0.9, 'a router protocol carries (nearly) every record');
      // Our decoders: exactly the accounted records, in order — for sFlow, whose record is one
      // flow sample per sampled packet, the same totals per direction of each conversation.
      if (protocol === 'sflow') assert.deepEqual(sums(decodeAll(datagrams)), sums(accounted.map(row)));
      else assert.deepEqual(decodeAll(datagrams), accounted.map(row));

      const dir = mkdtempSync(join(tmpdir(), `flowmap-sim-${protocol}-`));
      try {
        const file = join(dir, 'sim.pcap');
        writeFileSync(file, writePcap(datagrams.map((payload, i) => ({ time: END + i / 1000, src: EXPORTER, dst: parseAddress('192.0.2.2'), srcPort: 50_000, dstPort: PORT[protocol], payload }))));
        const decode = ['-r', file, '-d', `udp.port==${PORT[protocol]},${DISSECTOR[protocol]}`];
        const bad = spawnSync('tshark', [...decode, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', maxBuffer: 64 << 20 });
        assert.equal(bad.status, 0, bad.stderr);
        assert.equal(bad.stdout.trim(), '', `frames tshark finds malformed or in error: ${bad.stdout.trim().split('\n').slice(0, 10).join(', ')}`);
        const seen = spawnSync('tshark', [...decode, '-Y', DISSECTOR[protocol], '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', maxBuffer: 64 << 20 });
        assert.equal(seen.stdout.trim().split('\n').length, datagrams.length, 'tshark dissects every datagram as the protocol');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('gives the same datagrams for the same seed, byte for byte, and others for another seed', () => {
    for (const protocol of FLOW_PROTOCOLS) {
      const once = hashOf([...exportsOf(estate().flows(), { protocol })].flatMap((e) => e.datagrams));
      const again = hashOf([...exportsOf(estate().flows(), { protocol })].flatMap((e) => e.datagrams));
      const other = hashOf([...exportsOf(estate(8).flows(), { protocol })].flatMap((e) => e.datagrams));
      assert.equal(once, again, protocol);
      assert.notEqual(once, other, protocol);
    }
  });

  it('writes the same cloud files for the same seed, byte for byte', () => {
    const root = mkdtempSync(join(tmpdir(), 'flowmap-sim-cloud-'));
    try {
      for (const format of CLOUD_EMIT_FORMATS) {
        const a = writeCloudFiles(estate().flows(), format, join(root, `${format}-a`));
        const b = writeCloudFiles(estate().flows(), format, join(root, `${format}-b`));
        assert.ok(a.files.length >= 24, `${format}: ${a.files.length} files`);
        assert.equal(a.records, b.records);
        assert.equal(hashOfTree(join(root, `${format}-a`)), hashOfTree(join(root, `${format}-b`)), format);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
