// `flowmap decode FILE`: decodes the NetFlow/IPFIX/sFlow datagrams of a capture the way the
// collector would, and prints one normalized record per line (DESIGN.md §4 column names) with a
// summary of counts and skip reasons on stderr. Network engineers use it to check what an
// exporter really sends.
import { readFileSync } from 'node:fs';
import { flowAt, type FlowBatch } from '../core/flow.js';
import { FlowmapError } from '../core/errors.js';
import { formatAddress } from '../core/ip.js';
import { createDecoderState } from '../collector/decoders/state.js';
import { FlowWriter } from '../collector/decoders/writer.js';
import { SKIP_REASONS, type DecodeCounters } from '../collector/decoders/types.js';
import { decodeDatagram, DEFAULT_PORTS } from '../collector/decoders/index.js';
import { CaptureFormatError, readCapture } from '../collector/pcap.js';

export const PROTOCOL_NAMES = ['netflow', 'ipfix', 'sflow'] as const;

export interface DecodeOptions {
  json: boolean;
  /** Extra `PROTO=PORT` pairs; the protocol name only documents intent, the payload decides. */
  ports: string[];
}

export interface DecodeSummary {
  datagrams: number;
  /** Datagrams on ports not selected. */
  otherPorts: number;
  /** Those datagrams by destination port, so the user knows what to pass to --port. */
  otherPortCounts: Map<number, number>;
  skippedFrames: number;
  counters: DecodeCounters;
}

export function parsePorts(pairs: string[]): Set<number> {
  const ports = new Set<number>(Object.values(DEFAULT_PORTS).flat());
  for (const pair of pairs) {
    const match = /^([a-z0-9]+)=(\d{1,5})$/.exec(pair);
    const port = Number(match?.[2]);
    if (match === null || !(PROTOCOL_NAMES as readonly string[]).includes(match[1] ?? '') || port < 1 || port > 65535) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--port ${pair}: expected PROTO=PORT with PROTO one of ${PROTOCOL_NAMES.join(', ')} and PORT 1-65535 (e.g. netflow=9990)`, {
        status: 400,
        details: { value: pair },
      });
    }
    ports.add(port);
  }
  return ports;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 58: 'icmpv6', 132: 'sctp' };

/** One record as the JSON object `--json` prints: column names, addresses as text, ISO times. */
export function recordJson(batch: FlowBatch, i: number): Record<string, string | number> {
  const r = flowAt(batch, i);
  return {
    ...r,
    time_received: iso(r.time_received),
    time_start: iso(r.time_start),
    time_end: iso(r.time_end),
    exporter: formatAddress(r.exporter),
    src_addr: formatAddress(r.src_addr),
    dst_addr: formatAddress(r.dst_addr),
  };
}

function recordText(batch: FlowBatch, i: number): string {
  const r = flowAt(batch, i);
  const endpoint = (address: Uint8Array, port: number): string => {
    const text = formatAddress(address);
    return text.includes(':') ? `[${text}]:${port}` : `${text}:${port}`;
  };
  return [
    iso(r.time_start),
    r.source,
    `exporter=${formatAddress(r.exporter)}`,
    `domain=${r.observation_domain}`,
    `${endpoint(r.src_addr, r.src_port)} -> ${endpoint(r.dst_addr, r.dst_port)}`,
    PROTO_NAMES[r.proto] ?? `proto=${r.proto}`,
    `flags=0x${r.tcp_flags.toString(16).padStart(2, '0')}`,
    `bytes=${r.bytes}`,
    `packets=${r.packets}`,
    `rate=${r.sampling_rate}`,
    `in=${r.in_if}`,
    `out=${r.out_if}`,
    ...(r.vlan !== 0 ? [`vlan=${r.vlan}`] : []),
    `duration=${r.time_end - r.time_start}s`,
  ].join(' ');
}

export function decodeCaptureFile(path: string, options: DecodeOptions, write: (line: string) => void): DecodeSummary {
  const ports = parsePorts(options.ports);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { status: 400, cause: err });
  }
  let capture;
  try {
    capture = readCapture(bytes);
  } catch (err) {
    if (err instanceof CaptureFormatError) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${path}: ${err.message}`, { status: 400 });
    throw err;
  }
  const state = createDecoderState();
  const out = new FlowWriter(1024);
  let otherPorts = 0;
  const otherPortCounts = new Map<number, number>();
  let decoded = 0;
  for (const datagram of capture.datagrams) {
    if (!ports.has(datagram.dstPort)) {
      otherPorts++;
      otherPortCounts.set(datagram.dstPort, (otherPortCounts.get(datagram.dstPort) ?? 0) + 1);
      continue;
    }
    decoded++;
    decodeDatagram({ bytes: datagram.payload, exporter: datagram.src, receivedAt: Math.floor(datagram.time) }, state, out);
    const batch = out.take();
    for (let i = 0; i < batch.length; i++) write(options.json ? JSON.stringify(recordJson(batch, i)) : recordText(batch, i));
  }
  return { datagrams: decoded, otherPorts, otherPortCounts, skippedFrames: capture.skippedFrames, counters: state.counters };
}

export function summaryText(path: string, summary: DecodeSummary): string {
  const c = summary.counters;
  const skipped = SKIP_REASONS.filter((r) => c.skipped[r] > 0).map((r) => `${r} ${c.skipped[r]}`);
  return [
    `${path}: ${summary.datagrams} datagram(s) decoded, ${c.flows} flow(s), ${c.templates} template(s), ${c.optionsRecords} options record(s), ${c.counterSamples} counter sample(s)`,
    `  not decoded: ${summary.otherPorts} datagram(s) on other ports${otherPorts(summary)}, ${summary.skippedFrames} frame(s) not UDP over IP`,
    `  skipped: ${skipped.length === 0 ? 'nothing' : skipped.join(', ')}${c.samplingUnknown > 0 ? `; ${c.samplingUnknown} flow(s) with no announced sampling rate stored with rate 1` : ''}`,
  ].join('\n');
}

function otherPorts(summary: DecodeSummary): string {
  if (summary.otherPortCounts.size === 0) return '';
  const top = [...summary.otherPortCounts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return ` (UDP ${top.map(([port, n]) => `${port}: ${n}`).join(', ')}${summary.otherPortCounts.size > 5 ? ', …' : ''}; add --port PROTO=PORT)`;
}
