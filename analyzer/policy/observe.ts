// From a baseline graph to observed dependencies: the edges (client group → server group, protocol,
// port) sorted into what may become a rule and what never may, before any rule is written.
//
// - Scans: a client group whose short-lived, small, one- or two-source edges reach many ports or
//   many hosts within two days (SCAN_*). Those edges are the scan and never become rules; the rest
//   of that group's traffic is judged like any other.
// - Rejected: edges a cloud firewall rejected every flow of (rejectedFlows = flows). Partly
//   rejected edges count only their accepted flows.
// - Dynamic ranges: between a client and a server group that also talk on tcp/135 (the RPC
//   endpoint mapper) on at least minDays days, the edges on 49152–65535 are one dependency on the
//   range — the port a client gets is handed out per call, so a rule per port would be wrong every
//   day. The range itself becomes a rule only on the thresholds like any dependency.
// - Ephemeral spread: a pair whose edges spread over many high ports each seen on few days, with no
//   endpoint mapper to explain it, is misoriented or port-hopping traffic: no rule on those ports.
//
// Edges carry their days seen but not which days, so a merged dependency's daysSeen is a lower
// bound: the largest of its edges', or the distinct first and last days of its edges, whichever is
// more. Cost: O(E log E) for E edges.
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';
import { maxOf, minOf } from './selectors.js';
import type { PortSpec } from './types.js';

export const RPC_ENDPOINT_MAPPER = 135;
export const DYNAMIC_RANGE = { first: 49152, last: 65535 } as const;
/** The ports clients bind (Linux 32768–60999, Windows and IANA 49152–65535). */
export const EPHEMERAL_FIRST = 32768;

/** A scan: at most this many source hosts per edge, edges seen on at most SCAN_MAX_DAYS days, … */
const SCAN_MAX_SOURCES = 2;
const SCAN_MAX_DAYS = 2;
/** …carrying under this many bytes per flow, within a span of SCAN_MAX_SPAN_S… */
const SCAN_MAX_BYTES_PER_FLOW = 1_000;
const SCAN_MAX_SPAN_S = 2 * 86_400;
/** …reaching at least this many ports or this many server hosts. */
const SCAN_MIN_PORTS = 10;
const SCAN_MIN_HOSTS = 50;
/** A pair with at least this many high ports, each seen on fewer than the rule threshold's days, is spread. */
const SPREAD_MIN_PORTS = 5;

export type ObservedKind = 'service' | 'dynamic-range' | 'scan' | 'rejected' | 'ephemeral';

export interface Observed {
  kind: ObservedKind;
  from: GroupNodeAttributes;
  to: GroupNodeAttributes;
  proto: number;
  protocol: string;
  ports: PortSpec[];
  edges: DependencyEdgeAttributes[];
  /** Accepted flows (rejected ones removed) and all bytes. */
  flows: number;
  rejectedFlows: number;
  bytes: number;
  packets: number;
  daysSeen: number;
  /** Unix seconds. */
  firstSeen: number;
  lastSeen: number;
  clientHosts: number;
  serverHosts: number;
  clientShare: number;
  serverShare: number;
  hourOfDay: number[];
  dayOfWeek: number[];
}

export interface Scan {
  from: GroupNodeAttributes;
  edges: DependencyEdgeAttributes[];
  ports: number[];
  serverGroups: number;
  serverHosts: number;
  flows: number;
  bytes: number;
  rejectedFlows: number;
  firstSeen: number;
  lastSeen: number;
}

export interface Observation {
  windowDays: number;
  /** Window bounds, Unix seconds. */
  from: number;
  to: number;
  nodes: Map<string, GroupNodeAttributes>;
  dependencies: Observed[];
  scans: Scan[];
}

const seconds = (iso: string): number => Date.parse(iso) / 1000;

function dayIndex(t: number, from: number): number {
  return Math.floor((t - from) / 86_400);
}

/** One observed dependency over edges of one (from, to, protocol). */
export function merge(kind: ObservedKind, edges: DependencyEdgeAttributes[], nodes: Map<string, GroupNodeAttributes>, ports: PortSpec[], windowFrom: number): Observed {
  const first = edges[0] as DependencyEdgeAttributes;
  const hourOfDay = new Array<number>(24).fill(0);
  const dayOfWeek = new Array<number>(7).fill(0);
  const days = new Set<number>();
  let flows = 0;
  let rejectedFlows = 0;
  let bytes = 0;
  let packets = 0;
  let daysSeen = 0;
  let firstSeen = Infinity;
  let lastSeen = -Infinity;
  let clientHosts = 0;
  let serverHosts = 0;
  let clientShare = 0;
  let serverShare = 0;
  for (const e of edges) {
    flows += e.flows - e.rejectedFlows;
    rejectedFlows += e.rejectedFlows;
    bytes += e.bytes;
    packets += e.packets;
    daysSeen = Math.max(daysSeen, e.daysSeen);
    const f = seconds(e.firstSeen);
    const l = seconds(e.lastSeen);
    firstSeen = Math.min(firstSeen, f);
    lastSeen = Math.max(lastSeen, l);
    days.add(dayIndex(f, windowFrom)).add(dayIndex(l, windowFrom));
    clientHosts = Math.max(clientHosts, e.clientHosts);
    serverHosts = Math.max(serverHosts, e.serverHosts);
    clientShare = Math.max(clientShare, e.clientShare);
    serverShare = Math.max(serverShare, e.serverShare);
    for (let h = 0; h < 24; h++) hourOfDay[h] = (hourOfDay[h] ?? 0) + (e.hourOfDay[h] ?? 0);
    for (let d = 0; d < 7; d++) dayOfWeek[d] = (dayOfWeek[d] ?? 0) + (e.dayOfWeek[d] ?? 0);
  }
  return {
    kind,
    from: nodes.get(first.from) as GroupNodeAttributes,
    to: nodes.get(first.to) as GroupNodeAttributes,
    proto: first.proto,
    protocol: first.protocol,
    ports,
    edges,
    flows,
    rejectedFlows,
    bytes,
    packets,
    daysSeen: Math.max(daysSeen, days.size),
    firstSeen,
    lastSeen,
    clientHosts,
    serverHosts,
    clientShare,
    serverShare,
    hourOfDay,
    dayOfWeek,
  };
}

/** The scans among a graph's edges (see the header), by client group. */
export function findScans(edges: readonly DependencyEdgeAttributes[], nodes: Map<string, GroupNodeAttributes>): Scan[] {
  const byClient = new Map<string, DependencyEdgeAttributes[]>();
  for (const e of edges) {
    if (e.clientHosts > SCAN_MAX_SOURCES || e.daysSeen > SCAN_MAX_DAYS || e.flows === 0 || e.bytes / e.flows >= SCAN_MAX_BYTES_PER_FLOW) continue;
    const list = byClient.get(e.from) ?? [];
    list.push(e);
    byClient.set(e.from, list);
  }
  const scans: Scan[] = [];
  for (const [client, list] of byClient) {
    const ports = [...new Set(list.map((e) => e.port))].sort((a, b) => a - b);
    const serverHosts = list.reduce((n, e) => n + e.serverHosts, 0);
    if (ports.length < SCAN_MIN_PORTS && serverHosts < SCAN_MIN_HOSTS) continue;
    const firstSeen = minOf(list, (e) => seconds(e.firstSeen));
    const lastSeen = maxOf(list, (e) => seconds(e.lastSeen));
    if (lastSeen - firstSeen > SCAN_MAX_SPAN_S) continue;
    scans.push({
      from: nodes.get(client) as GroupNodeAttributes,
      edges: list,
      ports,
      serverGroups: new Set(list.map((e) => e.to)).size,
      serverHosts,
      flows: list.reduce((n, e) => n + e.flows, 0),
      bytes: list.reduce((n, e) => n + e.bytes, 0),
      rejectedFlows: list.reduce((n, e) => n + e.rejectedFlows, 0),
      firstSeen,
      lastSeen,
    });
  }
  return scans.sort((a, b) => (a.from.key < b.from.key ? -1 : 1));
}

/**
 * Sorts a baseline's edges into observed dependencies (one per edge, or per dynamic range) and
 * scans. `minDays` is the recommendation's threshold, used to tell spread high ports from services;
 * edges `documented` by an intent on their own port stay services.
 */
export function observe(graph: SerializedBaselineGraph, window: { from: number; to: number }, minDays: number, documented: (e: DependencyEdgeAttributes) => boolean = () => false): Observation {
  const nodes = new Map<string, GroupNodeAttributes>();
  for (const n of graph.nodes) nodes.set(n.key, n.attributes);
  const edges = graph.edges.map((e) => e.attributes);
  const scans = findScans(edges, nodes);
  const scanned = new Set<DependencyEdgeAttributes>(scans.flatMap((s) => s.edges));
  const byPair = new Map<string, DependencyEdgeAttributes[]>();
  for (const e of edges) {
    if (scanned.has(e)) continue;
    const key = `${e.from}\u0000${e.to}\u0000${e.proto}`;
    const list = byPair.get(key) ?? [];
    list.push(e);
    byPair.set(key, list);
  }
  const dependencies: Observed[] = [];
  for (const list of byPair.values()) {
    list.sort((a, b) => a.port - b.port);
    const tcp = list[0]?.proto === 6;
    // The endpoint mapper must be a dependency of its own (documented, or seen on minDays days): a
    // stray tcp/135 flow must not open 16,384 ports.
    const mapper = tcp && list.some((e) => e.port === RPC_ENDPOINT_MAPPER && e.flows > e.rejectedFlows && (e.daysSeen >= minDays || documented(e)));
    // A port of the range an intent documents on its own is a service, not the range.
    const dynamic = mapper ? list.filter((e) => e.port >= DYNAMIC_RANGE.first && e.port <= DYNAMIC_RANGE.last && !documented(e)) : [];
    const dynamicSet = new Set(dynamic);
    const highFew = list.filter((e) => !dynamicSet.has(e) && e.port >= EPHEMERAL_FIRST && e.daysSeen < minDays && !documented(e));
    const spread = highFew.length >= SPREAD_MIN_PORTS ? new Set(highFew) : new Set<DependencyEdgeAttributes>();
    if (dynamic.length > 0) dependencies.push(merge('dynamic-range', dynamic, nodes, [{ ...DYNAMIC_RANGE }], window.from));
    for (const e of list) {
      if (dynamicSet.has(e)) continue;
      const kind: ObservedKind = e.rejectedFlows >= e.flows ? 'rejected' : spread.has(e) ? 'ephemeral' : 'service';
      dependencies.push(merge(kind, [e], nodes, [e.port], window.from));
    }
  }
  for (const s of scans) for (const e of s.edges) dependencies.push(merge('scan', [e], nodes, [e.port], window.from));
  return { windowDays: Math.round((window.to - window.from) / 86_400), from: window.from, to: window.to, nodes, dependencies, scans };
}
