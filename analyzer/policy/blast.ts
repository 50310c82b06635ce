// Blast radius (issue 9): for each workload, how many workloads it could reach — transitively, an
// attacker hopping from host to host over allowed connections — three ways:
//   flat:     a flat network, every workload reaches every other (N − 1);
//   observed: over the baseline's observed edges (what the traffic shows is reachable in practice);
//   policy:   over the edges the policy allows (its rules and exceptions in force).
// Workloads are the hosts of the graph's label and workload groups; a group's hosts share its
// answer, so the work is per group: a breadth-first search from each over the group graph, O(G ×
// (G + E)); a rule's groups come from group-index.ts. A group reaches its own other hosts only
// through an intra-group edge or rule.
// The estate-wide reduction is 1 − (Σ policy reach) / (Σ flat reach).
import type { GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';
import { activeExceptions } from './repository.js';
import { GroupIndex } from './group-index.js';
import type { Externals } from './selectors.js';
import type { Policy } from './types.js';

export interface GroupBlast {
  group: string;
  hosts: number;
  flat: number;
  observed: number;
  policy: number;
}

export interface BlastRadius {
  workloads: number;
  /** Σ over workloads of workloads reached, per way. */
  totals: { flat: number; observed: number; policy: number };
  /** 1 − policy / flat, and 1 − observed / flat (0–1). */
  reduction: number;
  observedReduction: number;
  /** Per group, largest policy reach first. */
  groups: GroupBlast[];
}

const INTERNAL = new Set(['labels', 'workload']);

function reach(start: number, adjacency: readonly number[][], hosts: readonly number[], selfLoop: readonly boolean[]): number {
  const seen = new Uint8Array(hosts.length);
  const queue = [start];
  let reached = 0;
  let reachedSelf = false;
  for (let q = 0; q < queue.length; q++) {
    const g = queue[q] as number;
    for (const next of adjacency[g] ?? []) {
      if (next === start) {
        reachedSelf = true;
        continue;
      }
      if (seen[next] === 1) continue;
      seen[next] = 1;
      reached += hosts[next] ?? 0;
      queue.push(next);
    }
  }
  // Peers in its own group: through an intra-group edge, or round a cycle back into the group.
  if (reachedSelf || selfLoop[start] === true) reached += Math.max(0, (hosts[start] ?? 0) - 1);
  return reached;
}

export function blastRadius(graph: SerializedBaselineGraph, policy: Policy | undefined, options: { externals?: Externals; now?: Date } = {}): BlastRadius {
  const internal: GroupNodeAttributes[] = graph.nodes.map((n) => n.attributes).filter((n) => INTERNAL.has(n.kind));
  const index = new Map(internal.map((n, i) => [n.key, i]));
  const hosts = internal.map((n) => n.hosts);
  const workloads = hosts.reduce((a, b) => a + b, 0);
  const build = (pairs: Iterable<[number, number]>): { adjacency: number[][]; selfLoop: boolean[] } => {
    const sets = internal.map(() => new Set<number>());
    const selfLoop = internal.map(() => false);
    for (const [a, b] of pairs) {
      if (a === b) selfLoop[a] = true;
      else sets[a]?.add(b);
    }
    return { adjacency: sets.map((s) => [...s]), selfLoop };
  };
  const observedPairs = function* (): Generator<[number, number]> {
    for (const { attributes: e } of graph.edges) {
      const a = index.get(e.from);
      const b = index.get(e.to);
      if (a !== undefined && b !== undefined && e.flows > e.rejectedFlows) yield [a, b];
    }
  };
  const selected = new GroupIndex(internal, options.externals);
  const policyPairs = function* (): Generator<[number, number]> {
    if (policy === undefined) return;
    const allows = [...policy.rules, ...activeExceptions(policy, options.now)];
    for (const a of allows) {
      const froms = selected.matching(a.from);
      if (froms.length === 0) continue;
      const tos = selected.matching(a.to);
      for (const f of froms) for (const t of tos) yield [f, t];
    }
  };
  const observed = build(observedPairs());
  const allowed = build(policyPairs());
  const groups: GroupBlast[] = internal.map((n, i) => ({
    group: n.key,
    hosts: n.hosts,
    flat: Math.max(0, workloads - 1),
    observed: reach(i, observed.adjacency, hosts, observed.selfLoop),
    policy: policy === undefined ? 0 : reach(i, allowed.adjacency, hosts, allowed.selfLoop),
  }));
  const totals = { flat: 0, observed: 0, policy: 0 };
  for (const g of groups) {
    totals.flat += g.hosts * g.flat;
    totals.observed += g.hosts * g.observed;
    totals.policy += g.hosts * g.policy;
  }
  groups.sort((a, b) => b.policy - a.policy || b.observed - a.observed || (a.group < b.group ? -1 : 1));
  const share = (n: number): number => (totals.flat === 0 ? 0 : Number((1 - n / totals.flat).toFixed(4)));
  return { workloads, totals, reduction: share(totals.policy), observedReduction: share(totals.observed), groups };
}
