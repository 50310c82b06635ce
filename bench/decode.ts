// bench/decode: flows per second per protocol on one core (this process, one thread), on
// datagram streams built from the corpus captures and from our encoders, with node-netflowv9
// decoding the same NetFlow v5/v9 datagrams in the same run. Not part of `npm test`.
//
//   npm run bench:decode                  print the table
//   npm run bench:decode -- --write       also rewrite the results section of BENCHMARKS.md
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { FlowRecord } from '../core/flow.js';
import { writeV4 } from '../core/ip.js';
import { decodeIpfix } from '../collector/decoders/ipfix.js';
import { decodeNetflow5 } from '../collector/decoders/netflow5.js';
import { decodeNetflow9 } from '../collector/decoders/netflow9.js';
import { decodeSflow } from '../collector/decoders/sflow.js';
import { createDecoderState } from '../collector/decoders/state.js';
import { SKIP_REASONS, type Decoder } from '../collector/decoders/types.js';
import { FlowWriter } from '../collector/decoders/writer.js';
import { encodeIpfix } from '../collector/encoders/ipfix.js';
import { encodeNetflow5 } from '../collector/encoders/netflow5.js';
import { encodeNetflow9 } from '../collector/encoders/netflow9.js';
import { encodeSflow } from '../collector/encoders/sflow.js';
import { readCapture } from '../collector/pcap.js';
import { CORPUS, corpusFiles, NETFLOWV9_HANGS } from '../test/corpus.js';

const root = join(import.meta.dirname, '..');
const SECONDS_PER_CASE = Number(process.env.BENCH_SECONDS ?? 2);

type Protocol = 'netflow5' | 'netflow9' | 'ipfix' | 'sflow';
const DECODERS: Record<Protocol, Decoder> = { netflow5: decodeNetflow5, netflow9: decodeNetflow9, ipfix: decodeIpfix, sflow: decodeSflow };

interface Stream {
  file?: string;
  exporter: Uint8Array;
  datagrams: Uint8Array[];
}

function sniff(payload: Uint8Array): Protocol | undefined {
  if (payload.length < 4) return undefined;
  const v16 = (payload[0] ?? 0) * 256 + (payload[1] ?? 0);
  if (v16 === 5) return 'netflow5';
  if (v16 === 9) return 'netflow9';
  if (v16 === 10) return 'ipfix';
  if (v16 === 0 && payload[2] === 0 && payload[3] === 5) return 'sflow';
  return undefined;
}

/** Well-formed corpus captures only (our decoder counts no skip): the malformed ones measure error paths, and hang node-netflowv9. */
function corpusStreams(): Record<Protocol, Stream[]> {
  const out: Record<Protocol, Stream[]> = { netflow5: [], netflow9: [], ipfix: [], sflow: [] };
  for (const file of corpusFiles(CORPUS)) {
    const capture = readCapture(readFileSync(file));
    const byKey = new Map<string, Stream & { protocol: Protocol }>();
    for (const d of capture.datagrams) {
      const protocol = sniff(d.payload);
      if (protocol === undefined) continue;
      const key = `${protocol}/${Buffer.from(d.src).toString('hex')}`;
      let stream = byKey.get(key);
      if (stream === undefined) byKey.set(key, (stream = { protocol, file: file.slice(CORPUS.length + 1), exporter: d.src, datagrams: [] }));
      stream.datagrams.push(Uint8Array.from(d.payload));
    }
    for (const stream of byKey.values()) {
      const state = createDecoderState();
      const writer = new FlowWriter(4096);
      for (const bytes of stream.datagrams) {
        DECODERS[stream.protocol]({ bytes, exporter: stream.exporter, receivedAt: 1_700_000_000 }, state, writer);
        writer.unwind(writer.length);
      }
      if (SKIP_REASONS.every((r) => state.counters.skipped[r] === 0) && state.counters.flows > 0) out[stream.protocol].push(stream);
    }
  }
  return out;
}

/** A deterministic synthetic estate: 80% IPv4, 20% IPv6, mixed ports and sizes. */
function syntheticRecords(count: number, ipv6Share: number): FlowRecord[] {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const exporter = new Uint8Array(16);
  writeV4(exporter, 0, 0xc0000201);
  const records: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = random() < ipv6Share;
    const address = (): Uint8Array => {
      const a = new Uint8Array(16);
      if (v6) {
        a.set([0x20, 0x01, 0x0d, 0xb8]);
        for (let b = 8; b < 16; b++) a[b] = Math.floor(random() * 256);
      } else {
        writeV4(a, 0, (0x0a000000 | Math.floor(random() * 0xffffff)) >>> 0);
      }
      return a;
    };
    const t = 1_700_000_000 + Math.floor(random() * 60);
    records.push({
      time_received: 1_700_000_060,
      time_start: t,
      time_end: t + Math.floor(random() * 30),
      source: 'netflow9',
      exporter,
      src_addr: address(),
      dst_addr: address(),
      src_port: 1024 + Math.floor(random() * 60000),
      dst_port: [443, 80, 53, 5432, 9090, 8080][Math.floor(random() * 6)] ?? 443,
      proto: random() < 0.8 ? 6 : 17,
      tcp_flags: 0x1b,
      bytes: 40 + Math.floor(random() * 1_000_000),
      packets: 1 + Math.floor(random() * 1000),
      in_if: 1 + Math.floor(random() * 48),
      out_if: 1 + Math.floor(random() * 48),
    });
  }
  return records;
}

function encodedStreams(): Record<Protocol, Stream> {
  const v4 = syntheticRecords(20_000, 0);
  const mixed = syntheticRecords(20_000, 0.2);
  const exporter = v4[0]?.exporter ?? new Uint8Array(16);
  return {
    netflow5: { exporter, datagrams: encodeNetflow5(v4, { unixSeconds: 1_700_000_060, sysUptimeMs: 1_000_000_000 }) },
    netflow9: { exporter, datagrams: encodeNetflow9(mixed, { templates: 'first' }) },
    ipfix: { exporter, datagrams: encodeIpfix(mixed, { templates: 'first' }) },
    sflow: { exporter, datagrams: encodeSflow(mixed.map((r) => ({ ...r, source: 'sflow' as const, bytes: 1500, packets: 1, sampling_rate: 1 }))) },
  };
}

/** Decodes the streams round-robin until SECONDS_PER_CASE passed; flows/s and datagrams/s. */
function measure(streams: Stream[], decode: (streamIndex: number, datagramIndex: number) => number): { flows: number; datagrams: number; seconds: number } {
  let flows = 0;
  let datagrams = 0;
  // Warm-up pass: templates learnt, code optimised.
  streams.forEach((s, i) => s.datagrams.forEach((_, j) => decode(i, j)));
  const started = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < SECONDS_PER_CASE) {
    for (let i = 0; i < streams.length; i++) {
      const count = streams[i]?.datagrams.length ?? 0;
      for (let j = 0; j < count; j++) {
        flows += decode(i, j);
        datagrams++;
      }
    }
    elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  }
  return { flows, datagrams, seconds: elapsed };
}

function ours(protocol: Protocol, streams: Stream[]): { flows: number; datagrams: number; seconds: number } {
  const states = streams.map(() => createDecoderState());
  const writer = new FlowWriter(8192);
  const decoder = DECODERS[protocol];
  return measure(streams, (i, j) => {
    const stream = streams[i] as Stream;
    const before = writer.length;
    decoder({ bytes: stream.datagrams[j] as Uint8Array, exporter: stream.exporter, receivedAt: 1_700_000_060 }, states[i] ?? createDecoderState(), writer);
    const n = writer.length - before;
    // Reset per batch of a few thousand rows, as the collector hands batches to the store.
    if (writer.length >= 4096) writer.unwind(writer.length);
    return n;
  });
}

interface NfOracle {
  nfPktDecode(msg: Buffer, rinfo: object): { flows?: unknown[] } | undefined;
  server?: { close(): void };
}
const NetFlowV9 = createRequire(import.meta.url)('node-netflowv9') as new (options: object) => NfOracle;

function theirs(streams: Stream[]): { flows: number; datagrams: number; seconds: number } {
  const oracles = streams.map(() => new NetFlowV9({ cb: () => undefined }));
  // node-netflowv9 takes Buffers; converting once keeps the copy out of its measurement.
  const buffers = streams.map((s) => s.datagrams.map((d) => Buffer.from(d)));
  try {
    return measure(streams, (i, j) => {
      const msg = buffers[i]?.[j] as Buffer;
      return oracles[i]?.nfPktDecode(msg, { address: '192.0.2.1', port: 50000, size: msg.length })?.flows?.length ?? 0;
    });
  } finally {
    for (const o of oracles) o.server?.close();
  }
}

function oracleSurvives(stream: Stream): boolean {
  if (stream.file !== undefined && NETFLOWV9_HANGS.has(stream.file)) return false;
  const oracle = new NetFlowV9({ cb: () => undefined });
  try {
    for (const d of stream.datagrams) oracle.nfPktDecode(Buffer.from(d), { address: '192.0.2.1', port: 50000, size: d.length });
    return true;
  } catch {
    return false;
  } finally {
    oracle.server?.close();
  }
}

function rate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

const corpusByProtocol = corpusStreams();
const encoded = encodedStreams();
const rows: string[] = [];
for (const protocol of ['netflow5', 'netflow9', 'ipfix', 'sflow'] as const) {
  const cases: [string, Stream[]][] = [
    ['encoder stream', [encoded[protocol]]],
    ['corpus (well-formed captures)', corpusByProtocol[protocol]],
  ];
  for (const [label, all] of cases) {
    // Peer and flowmap decode the same datagrams: streams the peer cannot survive are left out of both.
    const streams = protocol === 'netflow5' || protocol === 'netflow9' ? all.filter(oracleSurvives) : all;
    if (streams.length === 0) continue;
    const us = ours(protocol, streams);
    let peer = '—';
    let ratio = '—';
    if (protocol === 'netflow5' || protocol === 'netflow9') {
      const them = theirs(streams);
      const theirRate = them.flows / them.seconds;
      peer = rate(theirRate);
      ratio = theirRate > 0 ? `${((us.flows / us.seconds) / theirRate).toFixed(1)}×` : '—';
    }
    const flowsPerDatagram = us.datagrams > 0 ? (us.flows / us.datagrams).toFixed(1) : '0';
    rows.push(`| ${protocol} | ${label} | ${streams.reduce((n, s) => n + s.datagrams.length, 0)} | ${flowsPerDatagram} | ${rate(us.flows / us.seconds)} | ${peer} | ${ratio} |`);
    process.stderr.write(`${rows[rows.length - 1] ?? ''}\n`);
  }
}

const table = [
  '| protocol | stream | distinct datagrams | flows/datagram | flowmap flows/s | node-netflowv9 flows/s | ratio |',
  '|---|---|---|---|---|---|---|',
  ...rows,
].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const report = `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; ${SECONDS_PER_CASE} s per case, one thread.\n\n${table}\n`;
process.stdout.write(report);

if (process.argv.includes('--write')) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('<!-- decode:start -->');
  const end = text.indexOf('<!-- decode:end -->');
  if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- decode:start --> / <!-- decode:end --> markers');
  writeFileSync(path, `${text.slice(0, start + '<!-- decode:start -->'.length)}\n${report}${text.slice(end)}`);
}
