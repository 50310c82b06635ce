// Audit simulation (issue 9), the "intent-only mode" of a rollout: replay a window's traffic
// against a policy and say what enforcing it would block, grouped by (client group, server group,
// protocol, port) with counts and example hosts, and which rules nothing used.
//
// The traffic is the window's dependency graph at the policy's granularity (built like a baseline,
// not stored) and its host pairs. An edge is allowed when a rule or an exception in force matches
// its groups, protocol and port (selectors.ts, through group-index.ts). A rule with a CIDR selector
// that its group does not decide (part of the internet, or addresses inside labelled groups) is
// matched against each host pair's address instead.
// Flows a cloud firewall already rejected are reported apart: enforcing the policy changes nothing
// for them. Cost: O(E + Σ groups a rule's two sides cover, multiplied) for E edges, plus reading the host pairs of edges an
// address decides and of the first MAX_EXAMPLE_EDGES blocked ones (their examples).
import { parseAddress, prefixContains, parsePrefix, type Prefix } from '../../core/ip.js';
import type { BaselineHostRow } from '../../store/index.js';
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';
import { GroupIndex } from './group-index.js';
import { findScans } from './observe.js';
import { activeExceptions } from './repository.js';
import { portMatches, selectorMatchesNode, type Externals } from './selectors.js';
import type { Policy, PortSpec, Protocol, Selector } from './types.js';

const EXAMPLES = 5;
/** Blocked dependencies that get example hosts (most flows first, scans last); the rest carry counts only. */
export const MAX_EXAMPLE_EDGES = 200;
/** Host-pair reads in flight at once (each is a query when they come from a stored baseline). */
const EXAMPLE_READS = 8;

export interface Blocked {
  from: string;
  to: string;
  protocol: string;
  port: number;
  flows: number;
  bytes: number;
  daysSeen: number;
  firstSeen: string;
  lastSeen: string;
  clientHosts: number;
  serverHosts: number;
  /** Up to five host pairs, most bytes first (empty past the first MAX_EXAMPLE_EDGES blocked dependencies). */
  examples: { client: string; server: string; flows: number; bytes: number }[];
  /** Part of a scan (observe.ts): blocking it is the point. */
  scan: boolean;
}

export interface SimulationResult {
  policy: { id: string; version: number };
  window: { from: string; to: string };
  groupBy: string[];
  /** What was replayed: a stored baseline of exactly this window and granularity, or the flows. */
  source?: { kind: 'baseline'; baseline: string } | { kind: 'flows' };
  totals: { flows: number; allowedFlows: number; blockedFlows: number; alreadyRejectedFlows: number; edges: number; blockedEdges: number };
  blocked: Blocked[];
  /** Rules (and exceptions) no traffic of the window matched. */
  unusedRules: { id: string; kind: 'rule' | 'exception'; from: Selector; to: Selector; protocol: Protocol; ports: PortSpec[] }[];
  generatedAt: string;
}

interface Allow {
  id: string;
  kind: 'rule' | 'exception';
  from: Selector;
  to: Selector;
  protocol: Protocol;
  ports: PortSpec[];
  fromPrefix?: Prefix;
  toPrefix?: Prefix;
}

function prefixOf(s: Selector): Prefix | undefined {
  if (s.cidr === undefined) return undefined;
  try {
    return parsePrefix(s.cidr);
  } catch {
    return undefined;
  }
}

/**
 * Simulates a policy over a window's graph. `hostsOf` gives an edge's host pairs (by edge id):
 * the examples, and the address-level answer for CIDR selectors.
 */
export async function simulate(
  policy: Policy,
  graph: SerializedBaselineGraph,
  window: { from: number; to: number },
  hostsOf: (edge: DependencyEdgeAttributes) => Promise<BaselineHostRow[]>,
  options: { externals?: Externals; now?: Date } = {},
): Promise<SimulationResult> {
  const now = options.now ?? new Date();
  const allows: Allow[] = [
    ...policy.rules.map((r) => ({ id: r.id, kind: 'rule' as const, from: r.from, to: r.to, protocol: r.protocol, ports: r.ports })),
    ...activeExceptions(policy, now).map((x) => ({ id: x.id, kind: 'exception' as const, from: x.from, to: x.to, protocol: x.protocol, ports: x.ports })),
  ].map((a) => {
    const fromPrefix = prefixOf(a.from);
    const toPrefix = prefixOf(a.to);
    return { ...a, ...(fromPrefix === undefined ? {} : { fromPrefix }), ...(toPrefix === undefined ? {} : { toPrefix }) };
  });
  const nodes = new Map<string, GroupNodeAttributes>(graph.nodes.map((n) => [n.key, n.attributes]));
  const edges = graph.edges.map((e) => e.attributes);
  // The allows of each (client group, server group) pair, and those with a CIDR side.
  const groups = new GroupIndex(graph.nodes.map((n) => n.attributes), options.externals);
  const n = groups.nodes.length;
  const byPair = new Map<number, Allow[]>();
  for (const a of allows) {
    const tos = groups.matching(a.to);
    for (const f of groups.matching(a.from)) {
      for (const t of tos) {
        const list = byPair.get(f * n + t);
        if (list === undefined) byPair.set(f * n + t, [a]);
        else list.push(a);
      }
    }
  }
  const cidrAllows = allows.filter((a) => a.fromPrefix !== undefined || a.toPrefix !== undefined);
  const scanEdges = new Set(findScans(edges, nodes).flatMap((s) => s.edges.map((e) => e.id)));
  const used = new Set<string>();
  const totals = { flows: 0, allowedFlows: 0, blockedFlows: 0, alreadyRejectedFlows: 0, edges: 0, blockedEdges: 0 };
  const portOk = (a: Allow, e: DependencyEdgeAttributes): boolean => a.protocol === e.protocol && (a.ports.length === 0 || portMatches(a.ports, e.port));
  // Pass 1: decide every edge; host pairs are read only where an address must decide.
  const pending: { e: DependencyEdgeAttributes; flows: number; rows: BaselineHostRow[] | undefined; all: boolean }[] = [];
  for (const e of edges) {
    const from = nodes.get(e.from);
    const to = nodes.get(e.to);
    if (from === undefined || to === undefined) continue;
    const accepted = e.flows - e.rejectedFlows;
    totals.edges++;
    totals.flows += e.flows;
    totals.alreadyRejectedFlows += e.rejectedFlows;
    if (accepted <= 0) continue;
    const matching = (byPair.get((groups.indexOf(e.from) ?? 0) * n + (groups.indexOf(e.to) ?? 0)) ?? []).filter((a) => portOk(a, e));
    for (const a of matching) used.add(a.id);
    if (matching.length > 0) {
      totals.allowedFlows += accepted;
      continue;
    }
    // Address-level: CIDR rules whose other side and port match, on a side the group cannot decide.
    const byAddress = cidrAllows.filter(
      (a) =>
        portOk(a, e) &&
        (a.fromPrefix !== undefined || selectorMatchesNode(a.from, from, options.externals)) &&
        (a.toPrefix !== undefined || selectorMatchesNode(a.to, to, options.externals)),
    );
    if (byAddress.length === 0) {
      pending.push({ e, flows: accepted, rows: undefined, all: true });
      continue;
    }
    const hosts = await hostsOf(e);
    const blockedRows = hosts.filter((h) => {
      const client = parseAddress(h.client);
      const server = parseAddress(h.server);
      const hit = byAddress.find((a) => (a.fromPrefix === undefined || prefixContains(a.fromPrefix, client)) && (a.toPrefix === undefined || prefixContains(a.toPrefix, server)));
      if (hit !== undefined) used.add(hit.id);
      return hit === undefined;
    });
    const allRowsFlows = hosts.reduce((n, h) => n + h.flows, 0);
    // Host pairs carry all flows of the edge; scale to the accepted ones when some were rejected.
    const blockedFlows = allRowsFlows === 0 ? accepted : Math.round((blockedRows.reduce((n, h) => n + h.flows, 0) / allRowsFlows) * accepted);
    totals.allowedFlows += accepted - blockedFlows;
    if (blockedFlows > 0) pending.push({ e, flows: blockedFlows, rows: blockedRows, all: blockedRows.length === hosts.length });
  }
  const order = (a: { e: DependencyEdgeAttributes; flows: number }, b: { e: DependencyEdgeAttributes; flows: number }): number =>
    Number(scanEdges.has(a.e.id)) - Number(scanEdges.has(b.e.id)) || b.flows - a.flows || (a.e.from < b.e.from ? -1 : a.e.from > b.e.from ? 1 : a.e.to < b.e.to ? -1 : a.e.to > b.e.to ? 1 : a.e.port - b.e.port);
  pending.sort(order);
  // Pass 2: examples for the first MAX_EXAMPLE_EDGES blocked dependencies (a scan blocks thousands),
  // read EXAMPLE_READS at a time.
  const exampleRows = new Map<number, BaselineHostRow[]>();
  const wanted = pending.flatMap((p, i) => (p.rows === undefined && i < MAX_EXAMPLE_EDGES ? [i] : []));
  for (let k = 0; k < wanted.length; k += EXAMPLE_READS) {
    const batch = wanted.slice(k, k + EXAMPLE_READS);
    const rows = await Promise.all(batch.map((i) => hostsOf((pending[i] as (typeof pending)[number]).e)));
    batch.forEach((i, j) => exampleRows.set(i, rows[j] ?? []));
  }
  const blocked: Blocked[] = [];
  for (const [i, p] of pending.entries()) {
    const rows = p.rows ?? exampleRows.get(i) ?? [];
    const e = p.e;
    totals.blockedFlows += p.flows;
    totals.blockedEdges++;
    const examples = [...rows].sort((a, b) => b.bytes - a.bytes || (a.client < b.client ? -1 : 1)).slice(0, EXAMPLES);
    blocked.push({
      from: e.from,
      to: e.to,
      protocol: e.protocol,
      port: e.port,
      flows: p.flows,
      bytes: p.all ? e.bytes : rows.reduce((n, h) => n + h.bytes, 0),
      daysSeen: e.daysSeen,
      firstSeen: e.firstSeen,
      lastSeen: e.lastSeen,
      clientHosts: p.all ? e.clientHosts : new Set(rows.map((h) => h.client)).size,
      serverHosts: p.all ? e.serverHosts : new Set(rows.map((h) => h.server)).size,
      examples: examples.map((h) => ({ client: h.client, server: h.server, flows: h.flows, bytes: h.bytes })),
      scan: scanEdges.has(e.id),
    });
  }
  return {
    policy: { id: policy.id, version: policy.version },
    window: { from: new Date(window.from * 1000).toISOString(), to: new Date(window.to * 1000).toISOString() },
    groupBy: policy.groupBy,
    totals,
    blocked,
    unusedRules: allows.filter((a) => !used.has(a.id)).map((a) => ({ id: a.id, kind: a.kind, from: a.from, to: a.to, protocol: a.protocol, ports: a.ports })),
    generatedAt: now.toISOString(),
  };
}
