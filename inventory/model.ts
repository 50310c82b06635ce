// The inventory's data model (DESIGN.md §7): workloads with labels, address bindings over time, and
// CIDR label rules — and the precedence rules every other inventory module obeys. The importers
// produce these values, store.ts persists them, resolver.ts answers from them; this module defines
// what the answer is, so the resolver's fast index and the tests' brute-force oracle agree.
//
// Precedence, in the order resolution applies it:
//
// 1. Bindings. An address belongs to a workload while a binding [from, to) covers the time
//    (`from <= t < to`, so at t == to the next owner already holds it). When several bindings of one
//    address cover the same instant, the newest source wins: the binding with the greatest
//    `importedAt`; on equal `importedAt` the one with the later `from` (the address most recently
//    handed out); on a full tie the one given last. Overlaps between different workloads are
//    conflicts: `findConflicts` reports them, and the import that created them says so.
// 2. CIDR rules. Of the rules whose prefix contains the address, the most specific (longest prefix)
//    wins alone — its labels are not merged with those of shorter prefixes; of two rules with the
//    same prefix the one given last wins. Addresses are 16 bytes with IPv4 mapped into
//    ::ffff:0:0/96, so an IPv6 prefix of /80 or shorter that covers that range (::/0 above all)
//    covers every IPv4 address too: write IPv4 rules in IPv4 notation.
// 3. Labels. A bound address carries its workload's labels over the winning rule's labels, key by
//    key: rules supply what the workload lacks (typically `env`, `location`), never override it.
//    An address with no binding at that time carries the rule's labels alone.
// 4. Groups. The labels are cut down to the chosen granularity (`groupBy`, default app, env) to
//    give the group. What has none of those keys is not dropped: a bound address becomes the group
//    of its workload; anything else falls through to the unresolved groups — a named external CIDR
//    (most specific wins), `unlabeled` with its subnet for private and reserved space, else
//    `internet` (see resolver.ts for the ranges).
//
// Times are Unix seconds (fractions allowed); a binding without a start begins at 0, without an end
// it is open (`to` = Infinity).
import { formatAddress, type Address, type Prefix } from '../core/ip.js';

/** How critical a workload is to the business; drives finding severity and report ordering. */
export const CRITICALITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Criticality = (typeof CRITICALITIES)[number];

/** Label keys the docs and UI treat as first-class; any other key is allowed as well. */
export const WELL_KNOWN_LABELS = ['app', 'env', 'role', 'owner', 'location'] as const;

export type Labels = Readonly<Record<string, string>>;

export interface Workload {
  /** Stable identity: the name for CSV/JSON, `namespace/pod` for Kubernetes, the instance id for EC2. */
  readonly id: string;
  readonly name: string;
  readonly labels: Labels;
  readonly criticality?: Criticality;
  /** Where the record came from (the import's source, e.g. `kubectl:prod-cluster`). */
  readonly source: string;
  /**
   * When it was removed (Unix seconds). A removed workload stays in the inventory for the time it
   * existed — its bindings end at its removal — so past baselines keep resolving to it.
   */
  readonly removedAt?: number;
}

export interface Binding {
  /** 16 bytes, IPv4 as IPv4-mapped IPv6 (core/ip.ts). */
  readonly address: Address;
  readonly workloadId: string;
  /** Unix seconds, inclusive. */
  readonly from: number;
  /** Unix seconds, exclusive; Infinity while the binding is open. */
  readonly to: number;
  /** The source that asserted it last. */
  readonly source: string;
  /** Every source that asserts it (a snapshot import closes it only when no other source still does). */
  readonly sources?: readonly string[];
  /** Unix seconds when the import that asserted this binding ran: the "newest source" of rule 1. */
  readonly importedAt: number;
}

export interface CidrRule {
  readonly prefix: Prefix;
  readonly labels: Labels;
  /** Display name ("dc1 prod servers"); not part of resolution. */
  readonly name?: string;
}

/** The inventory as the resolver consumes it. */
export interface Inventory {
  readonly workloads: readonly Workload[];
  readonly bindings: readonly Binding[];
  readonly rules: readonly CidrRule[];
}

/**
 * Rule 1's order: negative when `a` loses to `b`. `aIndex`/`bIndex` are the bindings' positions in
 * their list, the last tie-break.
 */
export function compareBindings(a: Binding, aIndex: number, b: Binding, bIndex: number): number {
  if (a.importedAt !== b.importedAt) return a.importedAt - b.importedAt;
  if (a.from !== b.from) return a.from - b.from;
  return aIndex - bIndex;
}

/** Rule 3: workload labels over rule labels, key by key. */
export function mergeLabels(ruleLabels: Labels | undefined, workloadLabels: Labels | undefined): Record<string, string> {
  return { ...ruleLabels, ...workloadLabels };
}

/** Two bindings of one address to different workloads whose intervals overlap. */
export interface BindingConflict {
  /** The address as text. */
  readonly address: string;
  /** The binding that answers during the overlap (rule 1). */
  readonly winner: Binding;
  readonly loser: Binding;
  /** The overlap, half-open. */
  readonly from: number;
  readonly to: number;
}

/**
 * Every pair of overlapping bindings of one address to different workloads. O(n log n + k) for n
 * bindings and k conflicts: bindings are grouped by address and swept in order of `from`.
 */
export function findConflicts(bindings: readonly Binding[]): BindingConflict[] {
  const byAddress = new Map<string, number[]>();
  bindings.forEach((b, i) => {
    const key = Buffer.from(b.address.buffer, b.address.byteOffset, 16).toString('hex');
    const list = byAddress.get(key);
    if (list === undefined) byAddress.set(key, [i]);
    else list.push(i);
  });
  const conflicts: BindingConflict[] = [];
  for (const indexes of byAddress.values()) {
    if (indexes.length < 2) continue;
    indexes.sort((x, y) => (bindings[x]?.from ?? 0) - (bindings[y]?.from ?? 0) || x - y);
    // Bindings still open at the current `from`; those that ended are dropped as the sweep passes.
    let active: number[] = [];
    for (const i of indexes) {
      const b = bindings[i] as Binding;
      active = active.filter((j) => (bindings[j] as Binding).to > b.from);
      for (const j of active) {
        const other = bindings[j] as Binding;
        if (other.workloadId === b.workloadId) continue;
        const aWins = compareBindings(b, i, other, j) > 0;
        conflicts.push({
          address: formatAddress(b.address),
          winner: aWins ? b : other,
          loser: aWins ? other : b,
          from: b.from,
          to: Math.min(b.to, other.to),
        });
      }
      active.push(i);
    }
  }
  return conflicts;
}
