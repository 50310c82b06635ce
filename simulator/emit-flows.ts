// Emitters for router protocols: an estate's flows (simulator/types.ts) → NetFlow v5, NetFlow v9,
// IPFIX or sFlow v5 datagrams, with the collector's own encoders (collector/encoders/), then sent
// over UDP at a target rate. Encoding is a pure function of the flows and the options, so the same
// estate gives the same datagrams byte for byte; sending only paces them.
//
// As a router would: flows are exported shortly after they end, in groups whose export time is the
// latest end in the group (so 28 days of traffic carry 28-day-old timestamps, sent in minutes);
// sequence numbers run on across datagrams; templates ride in every datagram (a collector started
// mid-stream decodes at once). NetFlow v5 has no room for IPv6: such records are passed over and
// counted. sFlow samples packets: a record of p packets yields the samples a deterministic 1-in-N
// sampler takes from its packet stream (a running counter per exporter), each standing for N
// packets of the record's mean size — `accounted` says what the datagrams represent, which is
// what a collector stores.
import { createSocket } from 'node:dgram';
import { isV4Mapped } from '../core/ip.js';
import type { FlowRecord } from '../core/flow.js';
import { encodeIpfix } from '../collector/encoders/ipfix.js';
import { encodeNetflow5 } from '../collector/encoders/netflow5.js';
import { encodeNetflow9 } from '../collector/encoders/netflow9.js';
import { encodeSflow, MAX_SAMPLES_PER_RECORD } from '../collector/encoders/sflow.js';

export const FLOW_PROTOCOLS = ['netflow5', 'netflow9', 'ipfix', 'sflow'] as const;
export type FlowProtocol = (typeof FLOW_PROTOCOLS)[number];

export interface FlowEmitOptions {
  protocol: FlowProtocol;
  /** sFlow 1-in-N packet sampling rate; default 1024 (a switch's usual order). Ignored by the other protocols (they export every flow). */
  samplingRate?: number;
  /** Records per encode call (one export); default 200. */
  recordsPerExport?: number;
}

/** One export: its datagrams and the flows they carry, as a collector will read them back. */
export interface Export {
  datagrams: Uint8Array[];
  /** The records as the datagrams represent them (sFlow: the sampled totals; v5: IPv4 only). */
  accounted: FlowRecord[];
  /** Records the protocol could not carry (v5: IPv6) or the sampler took no packet of (sFlow). */
  passedOver: number;
}

/**
 * The exports of a flow stream, in order. Deterministic: the same flows and options give the same
 * datagrams. Memory: one export at a time.
 */
export function* exportsOf(chunks: Iterable<FlowRecord[]>, options: FlowEmitOptions): Generator<Export> {
  const perExport = options.recordsPerExport ?? 200;
  const rate = options.samplingRate ?? 1024;
  if (!Number.isInteger(rate) || rate < 1 || rate > 0x3fff_ffff) throw new RangeError(`samplingRate ${rate} is not an integer 1..2^30`);
  let sequence = 0;
  let sampleSequence = 1;
  /** Packets seen since the last sample, per exporter: the systematic sampler's phase. */
  const phase = new Map<string, number>();
  let pending: FlowRecord[] = [];
  // The router's clock: it booted an hour before the first flow it exports, its uptime grows with
  // the export time, and export times never go backwards (a group ends when its last flow ends).
  let boot: number | undefined;
  let lastExport = 0;

  const encode = (records: FlowRecord[]): Export => {
    const ends = records.reduce((t, r) => Math.max(t, r.time_end ?? r.time_received), 0);
    boot ??= records.reduce((t, r) => Math.min(t, r.time_start ?? r.time_received), Infinity) - 3600;
    const exportTime = Math.max(lastExport, ends);
    lastExport = exportTime;
    // v5 and v9 carry uptime in 32-bit milliseconds: it wraps after 49.7 days, as a router's does.
    const uptimeMs = ((exportTime - boot) * 1000) % 2 ** 32;
    let passedOver = 0;
    let accounted: FlowRecord[];
    let datagrams: Uint8Array[];
    switch (options.protocol) {
      case 'netflow5': {
        accounted = records.filter((r) => isV4Mapped(r.src_addr) && isV4Mapped(r.dst_addr)).map((r) => ({ ...r, source: 'netflow5' as const, sampling_rate: 1 }));
        passedOver = records.length - accounted.length;
        datagrams = encodeNetflow5(accounted, { sysUptimeMs: uptimeMs, unixSeconds: exportTime, sequence });
        sequence += accounted.length;
        break;
      }
      case 'netflow9':
        accounted = records.map((r) => ({ ...r, source: 'netflow9' as const, sampling_rate: 1 }));
        datagrams = encodeNetflow9(accounted, { sysUptimeMs: uptimeMs, exportTime, sequence });
        sequence += datagrams.length;
        break;
      case 'ipfix':
        accounted = records.map((r) => ({ ...r, source: 'ipfix' as const, sampling_rate: 1 }));
        datagrams = encodeIpfix(accounted, { exportTime, sequence });
        sequence += accounted.length;
        break;
      case 'sflow': {
        accounted = [];
        for (const r of records) {
          const key = Buffer.from(r.exporter).toString('hex');
          const packets = r.packets ?? 1;
          const seen = (phase.get(key) ?? 0) + packets;
          const samples = Math.floor(seen / rate);
          phase.set(key, seen - samples * rate);
          if (samples === 0) {
            passedOver++;
            continue;
          }
          // Each sample is one packet of the record's mean size, standing for `rate` packets.
          const frame = Math.max(64, Math.min(9000, Math.round((r.bytes ?? 0) / packets)));
          // sFlow carries no flow times: a collector stamps samples with their arrival.
          const { time_start: _start, time_end: _end, ...rest } = r;
          // The encoder writes at most MAX_SAMPLES_PER_RECORD samples of one record: a long flow's
          // samples go as several records, so every sample the sampler took is sent.
          for (let left = samples; left > 0; left -= MAX_SAMPLES_PER_RECORD) {
            const n = Math.min(MAX_SAMPLES_PER_RECORD, left);
            accounted.push({ ...rest, source: 'sflow', sampling_rate: rate, packets: n * rate, bytes: n * rate * frame });
          }
        }
        datagrams = encodeSflow(accounted, { sequence: sequence + 1, sampleSequence, uptime: uptimeMs });
        sequence += datagrams.length;
        sampleSequence += accounted.reduce((n, r) => n + Math.round((r.packets ?? 0) / rate), 0);
        break;
      }
    }
    return { datagrams, accounted, passedOver };
  };

  for (const chunk of chunks) {
    for (const record of chunk) {
      pending.push(record);
      if (pending.length >= perExport) {
        yield encode(pending);
        pending = [];
      }
    }
  }
  if (pending.length > 0) yield encode(pending);
}

export interface SendProgress {
  datagrams: number;
  flows: number;
  passedOver: number;
}

/** Datagrams a second at most, whatever the flow rate (sFlow sends many small datagrams per flow): a
 * Linux socket buffer of the default 208 KiB holds about 150 datagrams, a 60 ms stall at this rate. */
export const DEFAULT_DATAGRAMS_PER_SECOND = 2_500;

/**
 * Sends the exports to HOST:PORT over UDP, paced to `flowsPerSecond` (flows as accounted) and to
 * `datagramsPerSecond`, whichever is slower, so a collector's socket buffer is not overrun.
 * `onProgress` is called about once a second.
 */
export async function sendExports(
  exports: Iterable<Export>,
  target: { host: string; port: number },
  options: { flowsPerSecond: number; datagramsPerSecond?: number; signal?: AbortSignal; onProgress?(progress: SendProgress): void },
): Promise<SendProgress> {
  const datagramsPerSecond = options.datagramsPerSecond ?? DEFAULT_DATAGRAMS_PER_SECOND;
  const socket = createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
  const progress: SendProgress = { datagrams: 0, flows: 0, passedOver: 0 };
  const started = performance.now();
  let reported = started;
  try {
    for (const item of exports) {
      options.signal?.throwIfAborted();
      for (const datagram of item.datagrams) {
        await new Promise<void>((resolve, reject) => socket.send(datagram, target.port, target.host, (err) => (err ? reject(err) : resolve())));
        progress.datagrams++;
      }
      progress.flows += item.accounted.length;
      progress.passedOver += item.passedOver;
      // Ahead of the rate: wait until the flows and datagrams sent so far are due.
      const due = started + Math.max(progress.flows / options.flowsPerSecond, progress.datagrams / datagramsPerSecond) * 1000;
      const now = performance.now();
      if (due > now) await new Promise((resolve) => setTimeout(resolve, due - now));
      if (options.onProgress !== undefined && now - reported >= 1000) {
        reported = now;
        options.onProgress({ ...progress });
      }
    }
  } finally {
    socket.close();
  }
  return progress;
}
