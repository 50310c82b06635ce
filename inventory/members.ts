// A group's members over time: which address ranges, over which time intervals, resolve to one
// group key (groups.ts) — so that a flow search can ask the store for a group's flows
// (FlowSearchQuery.endpoints) without resolving every flow. The resolver is the definition: an
// address is a member at second t exactly when resolver.resolve(address, t) gives the key.
//
// Two parts, which together are exact:
// - Bound addresses (any address some binding names, at any time). Each one's time line is walked
//   with resolveSpan over the range; the stretches in which it resolves to the group — while bound
//   to a workload of the group, and in the gaps between bindings when its unbound group (rule,
//   external, subnet) is the group — become /128 members with their interval.
// - Everything else is unbound at every time, so its group does not change with time. The address
//   space is cut at the bounds of every CIDR rule, external CIDR and private range (and of the
//   group's subnet): inside each piece every unbound address has one group, the resolver's answer
//   for the piece's first address at a time before any binding. Pieces of the group, minus the
//   bound addresses (the first part has them), become CIDR prefixes over the whole range.
//
// Limits. Every group is enumerable, `group=internet` too (the space outside everything else), but
// a group with many bound addresses inside its ranges punches as many holes in them, and the
// members are capped at MAX_SEARCH_ENDPOINTS: past it the answer is a 400 asking to narrow the
// search. Keys that no address can resolve to under the options — a label key outside groupBy, an
// external name not configured, a subnet of another length — come back `unresolvable`, with why.
// Cost: O(b·s + r log r) for b bound addresses of s segments each and r prefixes.
import { FlowmapError } from '../core/errors.js';
import { formatPrefix, parsePrefix, type Address, type Prefix } from '../core/ip.js';
import { MAX_SEARCH_ENDPOINTS, type TimedPrefix } from '../store/port.js';
import { INTERNET, UNLABELED, labelsAtGranularity } from './groups.js';
import type { Inventory } from './model.js';
import { DEFAULT_GROUP_BY, PRIVATE_RANGES, type Resolver, type ResolverOptions } from './resolver.js';
import { loadInventory, type InventoryStore } from './store.js';

export interface GroupMembers {
  /** The key as the resolver spells it (label parts in groupBy order). */
  readonly key: string;
  /** Bound addresses over their intervals, then unbound prefixes over the whole range. */
  readonly endpoints: TimedPrefix[];
  /** Why no address can resolve to the key under these options; endpoints is empty then. */
  readonly unresolvable?: string;
}

const SPACE = 1n << 128n;
const V4_BASE = 0xffffn << 32n;

function toBig(address: Uint8Array): bigint {
  let value = 0n;
  for (const byte of address) value = (value << 8n) | BigInt(byte);
  return value;
}

function fromBig(value: bigint): Address {
  const out = new Uint8Array(16);
  let v = value;
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const bounds = (prefix: Prefix): [bigint, bigint] => {
  const first = toBig(prefix.address);
  return [first, first + (1n << BigInt(128 - prefix.length))];
};

/** [lo, hi) as the fewest CIDR prefixes, ascending; IPv4-mapped ones as IPv4. Stops after `max` (+1). */
function cidrs(lo: bigint, hi: bigint, max: number): Prefix[] {
  const out: Prefix[] = [];
  let at = lo;
  while (at < hi && out.length <= max) {
    let size = 128;
    // The largest aligned block starting at `at` that fits.
    while (size > 0 && (at & ((1n << BigInt(size)) - 1n)) !== 0n) size--;
    while (at + (1n << BigInt(size)) > hi) size--;
    const length = 128 - size;
    const v4 = length >= 96 && at >= V4_BASE && at < V4_BASE + (1n << 32n);
    out.push({ address: fromBig(at), length, family: v4 ? 4 : 6 });
    at += 1n << BigInt(size);
  }
  return out;
}

type Parsed = { key: string; subnet?: Prefix } | { unresolvable: string };

/** The key in the resolver's spelling, or why nothing can resolve to it. */
function parseKey(text: string, options: ResolverOptions): Parsed {
  const groupBy = options.groupBy ?? DEFAULT_GROUP_BY;
  if (text === `group=${INTERNET}`) return { key: text };
  const unlabeled = /^group=unlabeled,subnet=(.+)$/.exec(text);
  if (unlabeled !== null) {
    let subnet: Prefix;
    try {
      subnet = parsePrefix(unlabeled[1] ?? '');
    } catch {
      return { unresolvable: `'${unlabeled[1]}' is not a subnet (group=${UNLABELED},subnet=10.1.2.0/24)` };
    }
    const v4 = subnet.family === 4;
    const length = v4 ? 96 + (options.unlabeledPrefix?.v4 ?? 24) : (options.unlabeledPrefix?.v6 ?? 64);
    if (subnet.length !== length) {
      const shown = (bits: number): number => (v4 ? bits - 96 : bits);
      return { unresolvable: `unlabeled groups are /${shown(length)} subnets for IPv${subnet.family} (inventory.unlabeledPrefixV${subnet.family}), not /${shown(subnet.length)}` };
    }
    return { key: `group=${UNLABELED},subnet=${formatPrefix(subnet)}`, subnet };
  }
  if (text.startsWith('group=')) {
    const name = decode(text.slice('group='.length));
    if (!(options.externals ?? []).some((e) => e.name === name)) {
      return { unresolvable: `no external CIDR is named '${name}' (inventory.external); the unresolved groups are group=${INTERNET}, group=${UNLABELED},subnet=… and the external names` };
    }
    return { key: `group=${escaped(name)}` };
  }
  if (text.startsWith('workload=')) {
    const id = decode(text.slice('workload='.length));
    return id === '' ? { unresolvable: 'workload= needs a workload id' } : { key: `workload=${escaped(id)}` };
  }
  // Label parts, in any order: spelled again as the resolver spells them.
  const body = text.startsWith('labels:') ? text.slice('labels:'.length) : text;
  const labels: Record<string, string> = {};
  for (const part of body.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) return { unresolvable: `'${part}' is not KEY=VALUE; a group key is like app=billing,env=prod` };
    const name = decode(part.slice(0, at));
    if (!groupBy.includes(name)) return { unresolvable: `label key '${name}' is not in groupBy (${groupBy.join(', ')}); groups are keyed by those labels only` };
    if (Object.hasOwn(labels, name)) return { unresolvable: `label key '${name}' appears twice` };
    labels[name] = decode(part.slice(at + 1));
  }
  const spelled = labelsAtGranularity(groupBy, labels);
  return spelled === undefined ? { unresolvable: 'the group key names no label' } : { key: spelled.key };
}

/** Text escaped as groups.ts escapes key parts (its own function, through a one-label key). */
const escaped = (text: string): string => (labelsAtGranularity(['k'], { k: text })?.key ?? 'k=').slice(2);

/** groups.ts percent-encodes `%`, `,` and `=` inside keys and values. */
const decode = (text: string): string => text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

function tooMany(key: string, count: string): FlowmapError {
  return new FlowmapError(
    'FLOWMAP_BAD_REQUEST',
    `group ${key} has ${count} members over the range (address ranges by time), more than ${MAX_SEARCH_ENDPOINTS} a search takes: narrow the search (a shorter range, a finer group, or address filters instead)`,
    { status: 400, details: { parameter: 'group', group: key, limit: MAX_SEARCH_ENDPOINTS } },
  );
}

/**
 * The members of group `groupKey` over [range.from, range.to) (Unix seconds), at the options'
 * granularity, from the stored inventory. Intervals are whole seconds on time_received: a binding
 * from 100.5 counts from 101. FLOWMAP_BAD_REQUEST (400) past MAX_SEARCH_ENDPOINTS members.
 */
export async function groupEndpoints(store: InventoryStore, options: ResolverOptions, groupKey: string, range: { from: number; to: number }): Promise<GroupMembers> {
  const parsed = parseKey(groupKey, options);
  if ('unresolvable' in parsed) return { key: groupKey, endpoints: [], unresolvable: parsed.unresolvable };
  const { inventory, resolver } = await loadInventory(store, options);
  return groupMembers(inventory, resolver, options, groupKey, range);
}

/** groupEndpoints over an inventory in hand; `resolver` must be built from it with `options`. */
export function groupMembers(inventory: Inventory, resolver: Resolver, options: ResolverOptions, groupKey: string, range: { from: number; to: number }): GroupMembers {
  const parsed = parseKey(groupKey, options);
  if ('unresolvable' in parsed) return { key: groupKey, endpoints: [], unresolvable: parsed.unresolvable };
  const { key } = parsed;
  const from = Math.ceil(range.from);
  const to = Math.ceil(range.to);
  const endpoints: TimedPrefix[] = [];
  const push = (endpoint: TimedPrefix): void => {
    if (endpoints.length >= MAX_SEARCH_ENDPOINTS) throw tooMany(key, `over ${MAX_SEARCH_ENDPOINTS}`);
    endpoints.push(endpoint);
  };

  // Bound addresses: their time lines.
  const bound = new Map<string, Address>();
  for (const b of inventory.bindings) bound.set(Buffer.from(b.address).toString('hex'), b.address);
  const boundSorted = [...bound.values()].map(toBig).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const address of [...bound.values()].sort((a, b) => Buffer.compare(a, b))) {
    const value = toBig(address);
    const prefix: Prefix = { address, length: 128, family: value >= V4_BASE && value < V4_BASE + (1n << 32n) ? 4 : 6 };
    let open: [number, number] | undefined;
    for (let t = from; t < to; ) {
      const span = resolver.resolveSpan(address, t);
      // Whole seconds: a span [from, to) holds the integer seconds [ceil(from), ceil(to)).
      const end = Math.min(to, Math.ceil(span.to));
      if (resolver.group(span.id).key === key) {
        if (open !== undefined && open[1] === t) open[1] = end;
        else {
          if (open !== undefined) push({ prefix, from: open[0], to: open[1] });
          open = [t, end];
        }
      }
      t = Math.max(end, t + 1);
    }
    if (open !== undefined) push({ prefix, from: open[0], to: open[1] });
  }

  // Unbound space: cut at every prefix the resolver's answer can change at.
  const prefixes = [
    ...inventory.rules.map((r) => r.prefix),
    ...(options.externals ?? []).map((e) => (typeof e.prefix === 'string' ? parsePrefix(e.prefix) : e.prefix)),
    ...(options.privateRanges ?? PRIVATE_RANGES).map((p) => (typeof p === 'string' ? parsePrefix(p) : p)),
    ...(parsed.subnet === undefined ? [] : [parsed.subnet]),
  ];
  const cuts = new Set<bigint>([0n, SPACE]);
  for (const p of prefixes) for (const b of bounds(p)) cuts.add(b);
  const points = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const pieces: [bigint, bigint][] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const lo = points[i] as bigint;
    const hi = points[i + 1] as bigint;
    // Before every binding (all start at 0 or later) an address answers with its unbound group.
    if (resolver.resolve(fromBig(lo), -Infinity).key !== key) continue;
    const last = pieces[pieces.length - 1];
    if (last !== undefined && last[1] === lo) last[1] = hi;
    else pieces.push([lo, hi]);
  }
  let next = 0;
  for (const [lo, hi] of pieces) {
    let at = lo;
    while (next < boundSorted.length && (boundSorted[next] as bigint) < lo) next++;
    for (; next < boundSorted.length && (boundSorted[next] as bigint) < hi; next++) {
      const hole = boundSorted[next] as bigint;
      for (const p of cidrs(at, hole, MAX_SEARCH_ENDPOINTS)) push({ prefix: p });
      at = hole + 1n;
    }
    for (const p of cidrs(at, hi, MAX_SEARCH_ENDPOINTS)) push({ prefix: p });
  }
  return { key, endpoints };
}
