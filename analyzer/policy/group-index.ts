// Which groups of a graph a selector covers, and which edges a rule allows, without testing every
// rule against every group or edge: on an estate of 2,000 groups, 20,000 edges and as many rules,
// rule × edge is 400 million selector tests (a minute), this is a few hundred thousand.
//
// Label selectors are answered from an inverted index (label → groups), checking only the groups
// of the selector's rarest label; `group`, `cidr` and `workload` selectors scan the few groups of
// the kinds they can match. Answers are cached per selector. Edges are indexed by (client group,
// server group), so a rule's edges are those of its groups' pairs with its protocol and ports.
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';
import { portMatches, selectorKey, selectorMatchesNode, type Externals } from './selectors.js';
import type { PortSpec, Selector } from './types.js';

export class GroupIndex {
  readonly nodes: GroupNodeAttributes[];
  private readonly index = new Map<string, number>();
  private readonly byLabel = new Map<string, number[]>();
  /** Groups of the kinds non-label selectors can match. */
  private readonly others: number[] = [];
  private readonly cache = new Map<string, number[]>();

  constructor(
    nodes: readonly GroupNodeAttributes[],
    private readonly externals?: Externals,
  ) {
    this.nodes = [...nodes];
    this.nodes.forEach((n, i) => {
      this.index.set(n.key, i);
      if (n.kind !== 'labels') {
        this.others.push(i);
        return;
      }
      for (const [k, v] of Object.entries(n.labels)) {
        const key = `${k}\u0000${v}`;
        const list = this.byLabel.get(key);
        if (list === undefined) this.byLabel.set(key, [i]);
        else list.push(i);
      }
    });
  }

  indexOf(key: string): number | undefined {
    return this.index.get(key);
  }

  /** Indexes of the groups the selector covers (selectors.ts semantics), ascending. */
  matching(selector: Selector): readonly number[] {
    const key = selectorKey(selector);
    const known = this.cache.get(key);
    if (known !== undefined) return known;
    let out: number[];
    if (selector.group !== undefined || selector.cidr !== undefined || selector.workload !== undefined) {
      out = this.others.filter((i) => selectorMatchesNode(selector, this.nodes[i] as GroupNodeAttributes, this.externals));
    } else {
      let rarest: readonly number[] | undefined;
      for (const [k, v] of Object.entries(selector)) {
        const list = this.byLabel.get(`${k}\u0000${v}`) ?? [];
        if (rarest === undefined || list.length < rarest.length) rarest = list;
      }
      out = (rarest ?? []).filter((i) => selectorMatchesNode(selector, this.nodes[i] as GroupNodeAttributes, this.externals));
    }
    if (this.cache.size > 200_000) this.cache.clear();
    this.cache.set(key, out);
    return out;
  }
}

export class EdgeIndex {
  private readonly byPair = new Map<number, DependencyEdgeAttributes[]>();

  constructor(
    graph: SerializedBaselineGraph,
    readonly groups: GroupIndex,
  ) {
    for (const { attributes: e } of graph.edges) {
      const key = this.pairKey(e.from, e.to);
      if (key === undefined) continue;
      const list = this.byPair.get(key);
      if (list === undefined) this.byPair.set(key, [e]);
      else list.push(e);
    }
  }

  private pairKey(from: string, to: string): number | undefined {
    const f = this.groups.indexOf(from);
    const t = this.groups.indexOf(to);
    return f === undefined || t === undefined ? undefined : f * this.groups.nodes.length + t;
  }

  /** The edges a rule allows: its groups' pairs, its protocol, its ports (none listed: any port). */
  allowedBy(rule: { from: Selector; to: Selector; protocol: string; ports: readonly PortSpec[] }): DependencyEdgeAttributes[] {
    const out: DependencyEdgeAttributes[] = [];
    const n = this.groups.nodes.length;
    const tos = this.groups.matching(rule.to);
    if (tos.length === 0) return out;
    for (const f of this.groups.matching(rule.from)) {
      for (const t of tos) {
        for (const e of this.byPair.get(f * n + t) ?? []) {
          if (e.protocol === rule.protocol && (rule.ports.length === 0 || portMatches(rule.ports, e.port))) out.push(e);
        }
      }
    }
    return out;
  }
}
