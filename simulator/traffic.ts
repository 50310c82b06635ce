// Traffic generation: streams of conversations between pools of endpoints, hour by hour, as flow
// records in time order. The estate builder (estate.ts) decides who talks to whom; this module only
// knows how a conversation looks on the wire and when it happens.
//
// A conversation is two records, client → server first (TCP: SYN|ACK|PSH|FIN — the client's view
// of the whole connection includes its SYN), then server → client (ACK|PSH|FIN, no SYN), both
// starting at the same second and ending within the hour and within both ends' address bindings
// (a pod's address is only used while the pod holds it). Rejected cloud probes and scan probes are
// one record (SYN only): nothing answers them.
//
// Cost: per hour, one rate draw per (stream, client) — or per pair for polled streams — plus ~10
// draws and two record objects per conversation; an hour's conversations are ordered with a
// counting sort on the start second (O(n), stable), so records come out in time order without a
// global sort. Address arrays are shared between records: consumers must not mutate them.
import type { FlowRecord } from '../core/flow.js';
import { mix32, Random } from './random.js';
import { BLOCKS, DAY, HOUR, hourOfDay, patternFactor, type Pattern } from './patterns.js';
import type { TruthSelector } from './types.js';

export const CHUNK_RECORDS = 8192;
export const EPHEMERAL_PORTS = { first: 32768, last: 60999 } as const;
export const RPC_DYNAMIC_PORTS = { first: 49152, last: 65535 } as const;
/** Low source ports some clients bind (the backup server, rsh-style). */
export const LOW_SOURCE_PORTS = { first: 512, last: 1023 } as const;

const TCP = 6;
const FIN = 0x01;
const SYN = 0x02;
const PSH = 0x08;
const ACK = 0x10;
const MSS = 1448;
const UDP_PAYLOAD = 1472;
/** NetFlow v5 byte counters are 32-bit; no record exceeds them. */
const MAX_RECORD_BYTES = 4_000_000_000;

export interface CloudFields {
  readonly account: string;
  readonly region: string;
  readonly vpc: string;
  readonly subnet: string;
  readonly instance: string;
  readonly interface: string;
}

/** One address of one owner for one interval [from, to). */
export interface Endpoint {
  /** 16 bytes, IPv4-mapped; shared by every record that carries it. */
  readonly address: Uint8Array;
  readonly v4: number;
  readonly from: number;
  readonly to: number;
  /** Index of the workload in the estate, or -1 outside the inventory. */
  readonly workload: number;
  /** Interface index records get for this side (1 data centre, 2 cloud, 3 internet, 4 corporate). */
  readonly zone: number;
  readonly cloud: CloudFields | undefined;
}

/** Endpoints that play one role: a tier in one environment, the internet clients, a SaaS range. */
export interface Pool {
  readonly index: number;
  readonly key: string;
  readonly selector: TruthSelector;
  readonly endpoints: readonly Endpoint[];
  /** Endpoints come and go (pods): the live ones are looked up each hour. */
  readonly churns: boolean;
}

/**
 * How a stream's rate is counted: `client` — per live client, each conversation to a random server;
 * `pair` — per (client, server) pair (pollers); `server` — per server from random clients (the
 * internet); `block-once` — exactly one conversation per pair per nightly/weekly block.
 */
export type StreamMode = 'client' | 'pair' | 'server' | 'block-once';

export interface Stream {
  readonly client: Pool;
  readonly server: Pool;
  readonly proto: number;
  readonly port: number;
  readonly pattern: Pattern;
  readonly mode: StreamMode;
  /** Mean conversations per counting unit per hour at pattern factor 1 (exact when `fixed`). */
  readonly rate: number;
  readonly fixed: boolean;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly durationSeconds: number;
  readonly sourcePort: 'ephemeral' | 'low' | number;
  /** A conversation on `port` is followed by one to the server's dynamic RPC port. */
  readonly rpcDynamic: boolean;
  /** Probes a cloud security group rejects: one record, action reject. */
  readonly reject: boolean;
  /** For pattern `once`: the hour (start, Unix seconds) of its single conversation. */
  readonly onceHour: number;
  /** An active hour in which at least one conversation is guaranteed, so every truth edge has flows; -1 for none. */
  readonly forcedHour: number;
  /** No conversations before this time (Unix seconds; -Infinity: from the window's start): a dependency that appears mid-window. */
  readonly startsAt: number;
}

export interface Scan {
  readonly hourStart: number;
  readonly source: Endpoint;
  readonly sourcePort: number;
  readonly targets: readonly Endpoint[];
  readonly ports: readonly number[];
}

export interface TrafficModel {
  readonly seed: number;
  readonly window: { readonly from: number; readonly to: number };
  readonly exporter: Uint8Array;
  readonly pools: readonly Pool[];
  readonly streams: readonly Stream[];
  readonly scan: Scan | undefined;
}

/** The two dynamic ports a server's RPC services registered: fixed per server address. */
export function rpcPortsOf(v4: number): [number, number] {
  const span = RPC_DYNAMIC_PORTS.last - RPC_DYNAMIC_PORTS.first + 1;
  return [RPC_DYNAMIC_PORTS.first + (mix32(v4, 135) % span), RPC_DYNAMIC_PORTS.first + (mix32(v4, 136) % span)];
}

/** Conversations of one hour before ordering: records appended, each conversation a run of them. */
class HourBuffer {
  records: FlowRecord[] = [];
  starts: number[] = [];
  firsts: number[] = [];
  private readonly counts = new Int32Array(HOUR + 1);

  clear(): void {
    this.records.length = 0;
    this.starts.length = 0;
    this.firsts.length = 0;
  }

  /** Conversation indexes ordered by start second, generation order within a second. */
  order(hourStart: number): Int32Array {
    const n = this.starts.length;
    const counts = this.counts;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(this.starts[i] as number) - hourStart + 1]!++;
    for (let s = 1; s <= HOUR; s++) counts[s]! += counts[s - 1] as number;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[counts[(this.starts[i] as number) - hourStart]!++] = i;
    return out;
  }
}

const EMPTY = '';

class TrafficGenerator {
  private readonly rng: Random;
  readonly buffer = new HourBuffer();
  private readonly alive: (readonly Endpoint[])[];
  private produced = 0;

  constructor(private readonly model: TrafficModel) {
    this.rng = Random.derive(model.seed, 'flows');
    this.alive = model.pools.map((p) => p.endpoints);
  }

  refresh(hourStart: number): void {
    const hourEnd = hourStart + HOUR;
    for (const pool of this.model.pools) {
      if (pool.churns) this.alive[pool.index] = pool.endpoints.filter((e) => e.from < hourEnd && e.to > hourStart);
    }
  }

  hour(hourStart: number): void {
    this.buffer.clear();
    this.refresh(hourStart);
    const streams = this.model.streams;
    for (let i = 0; i < streams.length; i++) this.stream(streams[i] as Stream, i, hourStart);
    const scan = this.model.scan;
    if (scan !== undefined && scan.hourStart === hourStart) this.scan(scan);
  }

  private stream(s: Stream, index: number, hourStart: number): void {
    if (hourStart < s.startsAt) return;
    const forced = s.forcedHour === hourStart;
    let factor: number;
    if (s.pattern === 'once') factor = s.onceHour === hourStart ? 1 : 0;
    else factor = patternFactor(s.pattern, hourStart);
    if (factor === 0 && !forced) return;
    const clients = this.alive[s.client.index] as readonly Endpoint[];
    const servers = this.alive[s.server.index] as readonly Endpoint[];
    if (clients.length === 0 || servers.length === 0) return;
    const rng = this.rng;
    this.produced = 0;
    if (s.pattern === 'once') {
      this.conversation(s, rng.pick(clients), rng.pick(servers), hourStart);
      return;
    }
    const mean = s.rate * factor;
    switch (s.mode) {
      case 'client':
        for (const c of clients) {
          const n = s.fixed ? s.rate : rng.count(mean);
          for (let k = 0; k < n; k++) this.conversation(s, c, this.otherThan(servers, c), hourStart);
        }
        break;
      case 'pair':
        for (const c of clients) {
          for (const v of servers) {
            if (v.workload === c.workload && c.workload >= 0) continue;
            const n = s.fixed ? (factor > 0 ? s.rate : 0) : rng.count(mean);
            for (let k = 0; k < n; k++) this.conversation(s, c, v, hourStart);
          }
        }
        break;
      case 'server':
        for (const v of servers) {
          const n = s.fixed ? s.rate : rng.count(mean);
          for (let k = 0; k < n; k++) this.conversation(s, this.otherThan(clients, v), v, hourStart);
        }
        break;
      case 'block-once': {
        if (factor === 0) break;
        const block = s.pattern === 'weekly' ? BLOCKS.weekly : BLOCKS.nightly;
        const slot = hourOfDay(hourStart) - block.firstHour;
        const day = Math.floor(hourStart / DAY);
        for (const c of clients) {
          for (const v of servers) {
            if (v.workload === c.workload && c.workload >= 0) continue;
            if (mix32(mix32(c.v4, v.v4), day ^ index) % block.hours === slot) this.conversation(s, c, v, hourStart);
          }
        }
        break;
      }
    }
    if (forced && this.produced === 0) {
      const c = rng.pick(clients);
      this.conversation(s, c, this.otherThan(servers, c), hourStart);
    }
  }

  /** A random endpoint of `list` that is not `self`'s workload (when there is a choice). */
  private otherThan(list: readonly Endpoint[], self: Endpoint): Endpoint {
    const pick = list[this.rng.below(list.length)] as Endpoint;
    if (pick.workload !== self.workload || self.workload < 0 || list.length === 1) return pick;
    return list[(list.indexOf(pick) + 1) % list.length] as Endpoint;
  }

  private sourcePort(s: Stream): number {
    if (s.sourcePort === 'ephemeral') return this.rng.int(EPHEMERAL_PORTS.first, EPHEMERAL_PORTS.last);
    if (s.sourcePort === 'low') return this.rng.int(LOW_SOURCE_PORTS.first, LOW_SOURCE_PORTS.last);
    return s.sourcePort;
  }

  private conversation(s: Stream, c: Endpoint, v: Endpoint, hourStart: number): void {
    if (c.workload === v.workload && c.workload >= 0) return;
    const rng = this.rng;
    const lo = Math.max(hourStart, c.from, v.from);
    const hi = Math.min(hourStart + HOUR, c.to, v.to);
    const span = hi - lo;
    if (span < 4) return;
    const duration = Math.min(span - 1, rng.around(s.durationSeconds, 0.5));
    let start = lo + rng.below(span - duration);
    let end = start + duration;
    const request = rng.around(s.requestBytes);
    const response = rng.around(s.responseBytes);
    if (s.rpcDynamic) {
      // The endpoint mapper (tcp/135) answers with the service's port; the client connects there next.
      const mapperEnd = Math.min(start + 1, hi - 3);
      start = Math.min(start, mapperEnd);
      this.push(start, mapperEnd, c, v, this.sourcePort(s), s.port, TCP, 200, 150, false);
      start = mapperEnd + 1;
      end = Math.max(start, Math.min(end, hi - 1));
      const [p1, p2] = rpcPortsOf(v.v4);
      this.push(start, end, c, v, this.sourcePort(s), rng.chance(0.5) ? p1 : p2, s.proto, request, response, false);
    } else {
      this.push(start, end, c, v, this.sourcePort(s), s.port, s.proto, request, response, s.reject);
    }
    this.produced++;
  }

  private push(start: number, end: number, c: Endpoint, v: Endpoint, srcPort: number, dstPort: number, proto: number, request: number, response: number, reject: boolean): void {
    const b = this.buffer;
    b.starts.push(start);
    b.firsts.push(b.records.length);
    const cloudOut = v.cloud ?? c.cloud;
    const exporter = this.model.exporter;
    if (reject) {
      const packets = this.rng.int(1, 3);
      b.records.push(record(start, end, exporter, c, v, srcPort, dstPort, proto, SYN, 44 * packets, packets, 'reject', cloudOut, 'dst'));
      return;
    }
    const action = c.cloud !== undefined || v.cloud !== undefined ? 'accept' : 'unknown';
    const cloudBack = c.cloud ?? v.cloud;
    if (proto === TCP) {
      const out = Math.ceil(request / MSS);
      const back = Math.ceil(response / MSS);
      const clientPackets = 3 + out + (back >> 1);
      const serverPackets = 2 + back + (out >> 1);
      b.records.push(record(start, end, exporter, c, v, srcPort, dstPort, proto, SYN | ACK | FIN | (request > 0 ? PSH : 0), Math.min(MAX_RECORD_BYTES, 40 * clientPackets + request), clientPackets, action, cloudOut, 'dst'));
      b.records.push(record(start, end, exporter, v, c, dstPort, srcPort, proto, ACK | FIN | (response > 0 ? PSH : 0), Math.min(MAX_RECORD_BYTES, 40 * serverPackets + response), serverPackets, action, cloudBack, 'src'));
    } else {
      const out = Math.max(1, Math.ceil(request / UDP_PAYLOAD));
      const back = Math.max(1, Math.ceil(response / UDP_PAYLOAD));
      b.records.push(record(start, end, exporter, c, v, srcPort, dstPort, proto, 0, Math.min(MAX_RECORD_BYTES, Math.max(40 * out, 28 * out + request)), out, action, cloudOut, 'dst'));
      b.records.push(record(start, end, exporter, v, c, dstPort, srcPort, proto, 0, Math.min(MAX_RECORD_BYTES, Math.max(40 * back, 28 * back + response)), back, action, cloudBack, 'src'));
    }
  }

  private scan(scan: Scan): void {
    const b = this.buffer;
    const exporter = this.model.exporter;
    // A SYN scan walks hosts × ports in about a quarter of an hour from one source port.
    for (const target of scan.targets) {
      if (target.from > scan.hourStart || target.to < scan.hourStart + HOUR) continue;
      for (const port of scan.ports) {
        const start = scan.hourStart + this.rng.below(900);
        b.starts.push(start);
        b.firsts.push(b.records.length);
        b.records.push(record(start, start, exporter, scan.source, target, scan.sourcePort, port, TCP, SYN, 44, 1, target.cloud === undefined ? 'unknown' : 'reject', target.cloud, 'dst'));
      }
    }
  }
}

/**
 * One record. `serverSide` is the truth of who serves (the generator knows it): collectors guess it
 * again from what they see, and tests compare the two.
 */
function record(start: number, end: number, exporter: Uint8Array, src: Endpoint, dst: Endpoint, srcPort: number, dstPort: number, proto: number, flags: number, bytes: number, packets: number, action: 'unknown' | 'accept' | 'reject', cloud: CloudFields | undefined, serverSide: 'src' | 'dst'): FlowRecord {
  return {
    time_received: end,
    time_start: start,
    time_end: end,
    source: 'ipfix',
    exporter,
    observation_domain: 0,
    src_addr: src.address,
    dst_addr: dst.address,
    src_port: srcPort,
    dst_port: dstPort,
    proto,
    tcp_flags: flags,
    bytes,
    packets,
    sampling_rate: 1,
    in_if: src.zone,
    out_if: dst.zone,
    vlan: 0,
    action,
    cloud_account: cloud === undefined ? EMPTY : cloud.account,
    cloud_region: cloud === undefined ? EMPTY : cloud.region,
    cloud_vpc: cloud === undefined ? EMPTY : cloud.vpc,
    cloud_subnet: cloud === undefined ? EMPTY : cloud.subnet,
    cloud_instance: cloud === undefined ? EMPTY : cloud.instance,
    cloud_interface: cloud === undefined ? EMPTY : cloud.interface,
    server_side: serverSide,
  };
}

/** Every record of the model's window, in time order, in chunks of at most CHUNK_RECORDS. */
export function* generateFlows(model: TrafficModel): Generator<FlowRecord[], void, undefined> {
  const generator = new TrafficGenerator(model);
  let chunk: FlowRecord[] = [];
  for (let hourStart = model.window.from; hourStart < model.window.to; hourStart += HOUR) {
    generator.hour(hourStart);
    const { records, firsts } = generator.buffer;
    const order = generator.buffer.order(hourStart);
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const last = i + 1 < firsts.length ? (firsts[i + 1] as number) : records.length;
      for (let r = firsts[i] as number; r < last; r++) {
        chunk.push(records[r] as FlowRecord);
        if (chunk.length === CHUNK_RECORDS) {
          yield chunk;
          chunk = [];
        }
      }
    }
  }
  if (chunk.length > 0) yield chunk;
}
