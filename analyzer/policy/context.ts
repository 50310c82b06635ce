// What an export needs from the inventory (issue 9: "addresses resolved from the inventory at
// export time"): each selector of a policy's rules and exceptions in force becomes an ExportGroup
// with its addresses now, its Kubernetes namespaces and a name safe in every target format.
//
// A label selector's addresses are those whose binding holds now and whose resolved labels
// (workload labels over CIDR-rule labels) carry every label of the selector, plus the prefixes of
// CIDR rules whose own labels do (addresses nobody bound yet but the rule labels) — less the more
// specific rules and the bound hosts inside them that resolve to other labels, so an export never
// admits a host the inventory puts in another group. Namespaces come
// from Kubernetes pods (the kubectl import's `<namespace>/<name>` workloads). Cost: O(B × S) for B open
// bindings and S selectors.
import { formatAddress, formatPrefix, isV4Mapped, prefixContains, type Prefix } from '../../core/ip.js';
import type { Inventory, Resolver, Workload } from '../../inventory/index.js';
import { activeExceptions } from './repository.js';
import { describePorts, describeSelector, selectorKey, type Externals } from './selectors.js';
import type { ExportGroup, ExportInput, ExportRule, Policy, Selector } from './types.js';

const CRITICALITY_RANK = { low: 0, medium: 1, high: 2, critical: 3 } as const;

function safeName(selector: Selector): string {
  const text = selector.cidr !== undefined ? `net-${selector.cidr}` : selector.workload !== undefined ? `wl-${selector.workload}` : selector.group !== undefined ? selector.group : Object.keys(selector).sort().map((k) => selector[k]).join('-');
  let name = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(name)) name = `g-${name}`;
  return name.slice(0, 40).replace(/-+$/, '') || 'group';
}

function kindOf(selector: Selector): ExportGroup['kind'] {
  if (selector.group === 'internet') return 'internet';
  if (selector.group !== undefined) return selector.group === 'unlabeled' ? 'cidr' : 'external';
  if (selector.cidr !== undefined) return 'cidr';
  if (selector.workload !== undefined) return 'workload';
  return 'labels';
}

function hostCidr(address: Uint8Array): { v4: boolean; text: string } {
  const v4 = isV4Mapped(address);
  return { v4, text: `${formatAddress(address)}/${v4 ? 32 : 128}` };
}

/** An inclusive range of addresses as numbers in the 128-bit space. */
type Range = [bigint, bigint];

function rangeOf(prefix: Prefix): Range {
  let start = 0n;
  for (const b of prefix.address) start = (start << 8n) | BigInt(b);
  const size = 1n << BigInt(128 - prefix.length);
  return [start, start + size - 1n];
}

/** A range less some ranges, as sorted disjoint ranges. */
function subtract(range: Range, excluded: Range[]): Range[] {
  const out: Range[] = [];
  let next = range[0];
  for (const [a, b] of excluded.filter(([a, b]) => b >= range[0] && a <= range[1]).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) {
    if (a > next) out.push([next, a - 1n]);
    if (b + 1n > next) next = b + 1n;
  }
  if (next <= range[1]) out.push([next, range[1]]);
  return out;
}

/** The fewest CIDR prefixes covering some ranges exactly (IPv4 ranges in the mapped space). */
function cidrsOf(ranges: readonly Range[], family: 4 | 6): string[] {
  const out: string[] = [];
  for (const [first, end] of ranges) {
    let start = first;
    while (start <= end) {
      // The largest aligned block starting at `start` that fits.
      let bits = 0;
      while (bits < 128 && (start & ((1n << BigInt(bits + 1)) - 1n)) === 0n && start + (1n << BigInt(bits + 1)) - 1n <= end) bits++;
      const address = new Uint8Array(16);
      for (let i = 0, v = start; i < 16; i++, v >>= 8n) address[15 - i] = Number(v & 0xffn);
      out.push(formatPrefix({ address, length: 128 - bits, family }));
      start += 1n << BigInt(bits);
    }
  }
  return out;
}

/** A Kubernetes pod as the kubectl import makes it: id `<namespace>/<name>`, the namespace as a label. */
const isPod = (w: Workload): boolean => w.labels.namespace !== undefined && (w.id === `${w.labels.namespace}/${w.name}` || w.source.startsWith('kubectl'));

const matchesLabels = (selector: Selector, labels: Readonly<Record<string, string>>): boolean => Object.entries(selector).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);

/** The export's view of a policy at `now`: rules plus exceptions in force, each side an ExportGroup. */
export function exportInput(policy: Policy, inventory: Inventory, resolver: Resolver, options: { externals?: Externals; now?: Date } = {}): ExportInput {
  const now = options.now ?? new Date();
  const t = now.getTime() / 1000;
  const selectors = new Map<string, Selector>();
  const exceptions = activeExceptions(policy, now);
  for (const r of [...policy.rules, ...exceptions]) for (const s of [r.from, r.to]) selectors.set(selectorKey(s), s);
  const workloads = new Map(inventory.workloads.map((w) => [w.id, w]));
  // Each open binding resolved once: its labels decide which label selectors it belongs to.
  const resolved: { address: Uint8Array; labels: Readonly<Record<string, string>>; workload?: string }[] = [];
  for (const b of inventory.bindings) {
    if (b.from > t || b.to <= t) continue;
    const r = resolver.explain(b.address, t);
    if (r.binding !== undefined && r.binding.workloadId !== b.workloadId) continue;
    resolved.push({ address: b.address, labels: r.labels, workload: b.workloadId });
  }
  const used = new Set<string>();
  const groups = new Map<string, ExportGroup>();
  for (const [key, selector] of [...selectors.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const kind = kindOf(selector);
    const v4 = new Set<string>();
    const v6 = new Set<string>();
    const namespaces = new Set<string>();
    let criticality: ExportGroup['criticality'];
    const add = (text: string, isV4: boolean): void => void (isV4 ? v4 : v6).add(text);
    if (kind === 'internet') {
      add('0.0.0.0/0', true);
      add('::/0', false);
    } else if (kind === 'cidr' && selector.cidr !== undefined) {
      add(selector.cidr, !selector.cidr.includes(':'));
    } else if (kind === 'external') {
      const prefix = options.externals?.get(selector.group ?? '');
      if (prefix !== undefined) add(formatPrefix(prefix), prefix.family === 4);
    } else {
      for (const r of resolved) {
        const hit = kind === 'workload' ? r.workload === selector.workload : matchesLabels(selector, r.labels);
        if (!hit) continue;
        const h = hostCidr(r.address);
        add(h.text, h.v4);
        const w = r.workload === undefined ? undefined : workloads.get(r.workload);
        if (w !== undefined && isPod(w)) namespaces.add(w.labels.namespace as string);
        if (w?.criticality !== undefined && (criticality === undefined || CRITICALITY_RANK[w.criticality] > CRITICALITY_RANK[criticality])) criticality = w.criticality;
      }
      if (kind === 'labels') {
        for (const rule of inventory.rules) {
          if (!matchesLabels(selector, rule.labels)) continue;
          // The prefix, less what inside it resolves to other labels: more specific rules that do
          // not match, and bound hosts whose workload labels override the rule's.
          const inside = (a: Uint8Array): boolean => prefixContains(rule.prefix, a);
          const excluded: Range[] = [];
          for (const other of inventory.rules) if (other !== rule && other.prefix.length > rule.prefix.length && inside(other.prefix.address) && !matchesLabels(selector, other.labels)) excluded.push(rangeOf(other.prefix));
          for (const r of resolved) if (inside(r.address) && !matchesLabels(selector, r.labels)) excluded.push(rangeOf({ address: r.address, length: 128, family: rule.prefix.family }));
          for (const cidr of cidrsOf(subtract(rangeOf(rule.prefix), excluded), rule.prefix.family)) add(cidr, rule.prefix.family === 4);
        }
      }
    }
    let name = safeName(selector);
    for (let n = 2; used.has(name); n++) name = `${safeName(selector).slice(0, 36)}-${n}`;
    used.add(name);
    const labels: Record<string, string> = {};
    if (kind === 'labels') for (const [k, v] of Object.entries(selector)) if (k !== 'namespace') labels[k] = v;
    const sort = (s: Set<string>): string[] => [...s].sort();
    groups.set(key, { key, selector, kind, name, labels, v4: sort(v4), v6: sort(v6), namespaces: sort(namespaces), ...(criticality === undefined ? {} : { criticality }) });
  }
  const group = (s: Selector): ExportGroup => groups.get(selectorKey(s)) as ExportGroup;
  const rules: ExportRule[] = [
    ...policy.rules.map((r) => ({
      id: r.id,
      from: group(r.from),
      to: group(r.to),
      protocol: r.protocol,
      ports: r.ports,
      review: { documented: r.documented, category: r.category, confidence: r.confidence, flows: r.evidence.flows, daysSeen: r.evidence.daysSeen, ...(r.evidence.lastSeen === undefined ? {} : { lastSeen: r.evidence.lastSeen }) },
      comment: `${describeSelector(r.from)} -> ${describeSelector(r.to)} ${describePorts(r.protocol, r.ports)}${r.documented ? ', documented' : `, ${r.category}`}${r.flags.includes('dynamic-range') ? ', dynamic range' : ''}, ${r.evidence.flows} flows on ${r.evidence.daysSeen} days`,
    })),
    ...exceptions.map((x) => ({
      id: x.id,
      from: group(x.from),
      to: group(x.to),
      protocol: x.protocol,
      ports: x.ports,
      comment: `exception for ${x.owner} until ${x.expires}: ${x.reason}`,
      exception: { owner: x.owner, expires: x.expires },
    })),
  ];
  return {
    policy: { id: policy.id, name: policy.name, version: policy.version, ...(policy.baseline === undefined ? {} : { baseline: policy.baseline }) },
    rules,
    groups: [...groups.values()],
    generatedAt: now.toISOString(),
  };
}
