// The resolver: (address, time) -> group, for the hundreds of millions of lookups of a baseline run.
// It owns the lookup index and the precedence of inventory/model.ts applied ahead of time:
//
// - Bound addresses sit in an open-addressing hash table (address-table.ts) pointing at a run of
//   disjoint time segments that cover the whole time line. Overlapping bindings are settled when
//   the index is built (rule 1), and each segment already holds its final group id (workload
//   labels over the most specific rule's labels, cut to groupBy), so a hit is one hash probe plus
//   a backwards scan over a handful of segment starts.
// - Everything else goes through the prefix table (prefix-table.ts): one binary search gives the
//   address's class — most specific CIDR rule, most specific named external CIDR, private range —
//   and each class has its group precomputed, except private space, whose group depends on the
//   subnet and is found in a second hash table (created the first time a subnet is seen).
//
// The batch API reads a column of addresses (n × 16 bytes, as in core/flow.ts batches) and a column
// of times and writes group ids into an Int32Array: no object per lookup. A `ResolverCache`
// remembers (address, time bucket) -> group for buckets in which the answer cannot change; the
// analyzer keeps one across the batches of a baseline run. Groups are interned in a table that
// only grows, so an id keeps its meaning for the resolver's lifetime.
import { FlowmapError } from '../core/errors.js';
import { formatPrefix, parsePrefix, type Address, type Prefix } from '../core/ip.js';
import { AddressTable, hashWords } from './address-table.js';
import { GroupTable, INTERNET, UNLABELED, labelsAtGranularity, type Group } from './groups.js';
import { compareBindings, mergeLabels, type Binding, type CidrRule, type Inventory, type Workload } from './model.js';
import { buildPrefixTable, v4Class, v6Class, type PrefixTable } from './prefix-table.js';

/**
 * Private and reserved space: unresolved addresses here become `unlabeled` with their subnet, not
 * `internet`. The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
 * 2001:db8::/32) are left out on purpose: examples and simulated estates use them to stand for the
 * internet, and that is how they should come out.
 */
export const PRIVATE_RANGES: readonly string[] = [
  '0.0.0.0/8', // RFC 1122 "this network"
  '10.0.0.0/8', // RFC 1918
  '100.64.0.0/10', // RFC 6598 carrier-grade NAT
  '127.0.0.0/8', // RFC 1122 loopback
  '169.254.0.0/16', // RFC 3927 link-local
  '172.16.0.0/12', // RFC 1918
  '192.0.0.0/24', // RFC 6890 IETF protocol assignments
  '192.168.0.0/16', // RFC 1918
  '198.18.0.0/15', // RFC 2544 benchmarking
  '224.0.0.0/4', // RFC 5771 multicast
  '240.0.0.0/4', // RFC 1112 reserved, and the limited broadcast address
  '::/128', // RFC 4291 unspecified
  '::1/128', // RFC 4291 loopback
  '64:ff9b:1::/48', // RFC 8215 local-use NAT64
  '100::/64', // RFC 6666 discard-only
  'fc00::/7', // RFC 4193 unique local
  'fe80::/10', // RFC 4291 link-local
  'ff00::/8', // RFC 4291 multicast
];

export const DEFAULT_GROUP_BY: readonly string[] = ['app', 'env'];

export interface ExternalCidr {
  /** The group's name, e.g. `saas-crm`; not `internet` or `unlabeled`. */
  readonly name: string;
  readonly prefix: string | Prefix;
}

export interface ResolverOptions {
  /** Label keys of the granularity; default app, env. */
  readonly groupBy?: readonly string[];
  /** Named external CIDRs: unresolved addresses inside one resolve to `{group: name}`. */
  readonly externals?: readonly ExternalCidr[];
  /** Prefix length of the `unlabeled` subnet; default /24 for IPv4, /64 for IPv6. */
  readonly unlabeledPrefix?: { readonly v4?: number; readonly v6?: number };
  /** Ranges treated as private; default PRIVATE_RANGES. */
  readonly privateRanges?: readonly (string | Prefix)[];
}

/** What `explain` says about one lookup: the group plus how it came about. */
export interface Resolution {
  readonly group: Group;
  /** Workload labels over rule labels (all keys, not only groupBy). */
  readonly labels: Readonly<Record<string, string>>;
  readonly workload?: Workload;
  readonly binding?: Binding;
  readonly rule?: CidrRule;
}

export interface ResolverCache {
  readonly resolver: Resolver;
  readonly slots: number;
  readonly bucketSeconds: number;
  hits: number;
  misses: number;
  /** Forgets every entry (counters too). */
  clear(): void;
}

export interface ResolverStats {
  readonly addresses: number;
  readonly segments: number;
  readonly v4Ranges: number;
  readonly v6Ranges: number;
}

export interface Resolver {
  readonly groupBy: readonly string[];
  /** The group table; grows as lookups meet new unlabeled subnets. Index = group id. */
  readonly groups: readonly Group[];
  readonly stats: ResolverStats;
  group(id: number): Group;
  /** The group id of the address at `offset` in `addresses` at `time` (Unix seconds). */
  resolveId(addresses: Uint8Array, offset: number, time: number): number;
  resolve(address: Address, time: number): Group;
  /**
   * The group id at `time` and the time span [from, to) around it in which that answer holds
   * (±Infinity when it holds for ever): a baseline asks once per address whether its owner
   * changes within the window.
   */
  resolveSpan(address: Address, time: number): { id: number; from: number; to: number };
  /**
   * Resolves rows [0, count) of an address column (16 bytes a row) and a time column into `out`
   * (allocated when absent) and returns it. Times must be finite.
   */
  resolveBatch(addresses: Uint8Array, times: Uint32Array | Float64Array, options?: { out?: Int32Array; count?: number; cache?: ResolverCache }): Int32Array;
  explain(address: Address, time: number): Resolution;
  /** A bounded cache: `slots` entries (rounded up to a power of two, default 65,536), direct-mapped. */
  createCache(options?: { slots?: number; bucketSeconds?: number }): ResolverCache;
}

const RULES = 0;
const EXTERNALS = 1;
const PRIVATE = 2;

function invalid(message: string, details: Record<string, unknown>): FlowmapError {
  return new FlowmapError('FLOWMAP_CONFIG_INVALID', message, { status: 400, details });
}

function toPrefix(value: string | Prefix): Prefix {
  return typeof value === 'string' ? parsePrefix(value) : value;
}

function addressKey(address: Address): string {
  return Buffer.from(address.buffer, address.byteOffset, 16).toString('hex');
}

class Cache implements ResolverCache {
  readonly keys: Uint32Array;
  readonly values: Int32Array;
  readonly mask: number;
  hits = 0;
  misses = 0;

  constructor(
    readonly resolver: Resolver,
    readonly slots: number,
    readonly bucketSeconds: number,
  ) {
    this.keys = new Uint32Array(slots * 5);
    this.values = new Int32Array(slots).fill(-1);
    this.mask = slots - 1;
  }

  clear(): void {
    this.values.fill(-1);
    this.hits = 0;
    this.misses = 0;
  }
}

/** A max-heap of binding indexes ordered by rule 1 (compareBindings). */
class PrecedenceHeap {
  private readonly items: number[] = [];
  constructor(private readonly bindings: readonly Binding[]) {}

  private above(a: number, b: number): boolean {
    return compareBindings(this.bindings[a] as Binding, a, this.bindings[b] as Binding, b) > 0;
  }

  push(index: number): void {
    const items = this.items;
    items.push(index);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(items[i] as number, items[parent] as number)) break;
      [items[i], items[parent]] = [items[parent] as number, items[i] as number];
      i = parent;
    }
  }

  top(): number {
    return this.items[0] ?? -1;
  }

  pop(): void {
    const items = this.items;
    const last = items.pop();
    if (last === undefined || items.length === 0) return;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = i * 2 + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.above(items[l] as number, items[best] as number)) best = l;
      if (r < items.length && this.above(items[r] as number, items[best] as number)) best = r;
      if (best === i) return;
      [items[i], items[best]] = [items[best] as number, items[i] as number];
      i = best;
    }
  }
}

class InventoryResolver implements Resolver {
  readonly groupBy: readonly string[];
  readonly stats: ResolverStats;
  private readonly table = new GroupTable();
  private readonly prefixes: PrefixTable;
  private readonly rules: readonly CidrRule[];
  private readonly bindings: readonly Binding[];
  private readonly workloads = new Map<string, Workload>();
  /** Per class: its group id, or -1 for private space (group by subnet). */
  private readonly classGroup: Int32Array;
  /** Per class: the most specific rule's index, -1 for none. */
  private readonly classRule: Int32Array;
  private readonly v4SubnetMask: number;
  private readonly v4SubnetLength: number;
  private readonly v6SubnetLength: number;
  private readonly subnets = new AddressTable(1024);
  private readonly addresses: AddressTable;
  /** Address i's segments are [segmentBegin[i], segmentBegin[i + 1]). */
  private readonly segmentBegin: Int32Array;
  /** Segment j covers [segmentStart[j], segmentStart[j + 1]) of its address; the last one to Infinity. */
  private readonly segmentStart: Float64Array;
  private readonly segmentGroup: Int32Array;
  /** The winning binding's index, -1 for a gap. */
  private readonly segmentBinding: Int32Array;
  /** Set by `lookup`: the time span in which its answer holds. */
  private spanFrom = -Infinity;
  private spanTo = Infinity;

  constructor(inventory: Inventory, options: ResolverOptions) {
    const groupBy = options.groupBy ?? DEFAULT_GROUP_BY;
    if (groupBy.length === 0 || groupBy.some((k) => k === '') || new Set(groupBy).size !== groupBy.length) {
      throw invalid(`groupBy must be distinct, non-empty label keys (got ${JSON.stringify(groupBy)}); e.g. ["app", "env"]`, { groupBy });
    }
    this.groupBy = [...groupBy];
    const v4Length = options.unlabeledPrefix?.v4 ?? 24;
    const v6Length = options.unlabeledPrefix?.v6 ?? 64;
    if (!Number.isInteger(v4Length) || v4Length < 0 || v4Length > 32) throw invalid(`unlabeled IPv4 prefix length ${v4Length} must be 0-32`, { v4: v4Length });
    if (!Number.isInteger(v6Length) || v6Length < 0 || v6Length > 128) throw invalid(`unlabeled IPv6 prefix length ${v6Length} must be 0-128`, { v6: v6Length });
    this.v4SubnetLength = v4Length;
    this.v4SubnetMask = v4Length === 0 ? 0 : (0xffffffff << (32 - v4Length)) >>> 0;
    this.v6SubnetLength = v6Length;

    const externals = (options.externals ?? []).map((e) => {
      if (e.name === '' || e.name === INTERNET || e.name === UNLABELED) {
        throw invalid(`external CIDR name '${e.name}' is reserved or empty; pick a name such as 'saas-crm'`, { name: e.name });
      }
      return { name: e.name, prefix: toPrefix(e.prefix) };
    });
    const privateRanges = (options.privateRanges ?? PRIVATE_RANGES).map(toPrefix);
    this.rules = inventory.rules;
    this.bindings = inventory.bindings;
    for (const w of inventory.workloads) this.workloads.set(w.id, w);

    this.prefixes = buildPrefixTable([inventory.rules.map((r) => r.prefix), externals.map((e) => e.prefix), privateRanges]);
    // Group 0 is always the internet.
    this.table.internet();
    const classes = this.prefixes.classCount;
    this.classGroup = new Int32Array(classes);
    this.classRule = new Int32Array(classes);
    for (let c = 0; c < classes; c++) {
      const rule = this.prefixes.classValues[c * 3 + RULES] ?? -1;
      const external = this.prefixes.classValues[c * 3 + EXTERNALS] ?? -1;
      const isPrivate = (this.prefixes.classValues[c * 3 + PRIVATE] ?? -1) >= 0;
      this.classRule[c] = rule;
      const labeled = rule >= 0 ? labelsAtGranularity(this.groupBy, (this.rules[rule] as CidrRule).labels) : undefined;
      if (labeled !== undefined) this.classGroup[c] = this.table.labels(labeled.key, labeled.labels);
      else if (external >= 0) this.classGroup[c] = this.table.external((externals[external] as ExternalCidr).name);
      else this.classGroup[c] = isPrivate ? -1 : 0;
    }

    // Bindings by address, addresses in byte order.
    const byAddress = new Map<string, number[]>();
    inventory.bindings.forEach((b, i) => {
      const key = addressKey(b.address);
      const list = byAddress.get(key);
      if (list === undefined) byAddress.set(key, [i]);
      else list.push(i);
    });
    const keys = [...byAddress.keys()].sort();
    this.addresses = new AddressTable(keys.length);
    const begin: number[] = [];
    const starts: number[] = [];
    const groups: number[] = [];
    const winners: number[] = [];
    const segmentGroups = new Map<string, number>();
    keys.forEach((key, addressIndex) => {
      const indexes = byAddress.get(key) as number[];
      const address = (inventory.bindings[indexes[0] as number] as Binding).address;
      const view = new DataView(address.buffer, address.byteOffset, 16);
      const w0 = view.getUint32(0);
      const w1 = view.getUint32(4);
      const w2 = view.getUint32(8);
      const w3 = view.getUint32(12);
      this.addresses.set(hashWords(w0, w1, w2, w3), w0, w1, w2, w3, addressIndex);
      const cls = this.classOf(w0, w1, w2, w3);
      const rule = this.classRule[cls] ?? -1;
      const gap = this.unboundGroup(w0, w1, w2, w3);
      const groupOf = (binding: number): number => {
        if (binding < 0) return gap;
        const workloadId = (inventory.bindings[binding] as Binding).workloadId;
        const memo = `${rule}\u0000${workloadId}`;
        let id = segmentGroups.get(memo);
        if (id === undefined) {
          id = this.boundGroup(workloadId, rule);
          segmentGroups.set(memo, id);
        }
        return id;
      };
      begin.push(starts.length);
      const first = starts.length;
      const push = (at: number, binding: number): void => {
        const group = groupOf(binding);
        const last = starts.length - 1;
        if (last >= first && starts[last] === at) {
          // A later event at the same instant decides it.
          starts.pop();
          groups.pop();
          winners.pop();
        }
        const prev = starts.length - 1;
        if (prev >= first && groups[prev] === group && winners[prev] === binding) return;
        starts.push(at);
        groups.push(group);
        winners.push(binding);
      };
      push(-Infinity, -1);
      // Sweep the instants where some binding starts or ends; the heap holds the bindings that
      // started, ended ones are dropped lazily when they reach the top.
      const byFrom = [...indexes].sort((a, b) => (inventory.bindings[a] as Binding).from - (inventory.bindings[b] as Binding).from);
      const instants = [...new Set(indexes.flatMap((i) => [(inventory.bindings[i] as Binding).from, (inventory.bindings[i] as Binding).to]))]
        .filter((x) => x !== Infinity)
        .sort((a, b) => a - b);
      const heap = new PrecedenceHeap(inventory.bindings);
      let next = 0;
      for (const at of instants) {
        while (next < byFrom.length && (inventory.bindings[byFrom[next] as number] as Binding).from <= at) heap.push(byFrom[next++] as number);
        while (heap.top() >= 0 && (inventory.bindings[heap.top()] as Binding).to <= at) heap.pop();
        push(at, heap.top());
      }
    });
    begin.push(starts.length);
    this.segmentBegin = Int32Array.from(begin);
    this.segmentStart = Float64Array.from(starts);
    this.segmentGroup = Int32Array.from(groups);
    this.segmentBinding = Int32Array.from(winners);
    this.stats = {
      addresses: keys.length,
      segments: starts.length,
      v4Ranges: this.prefixes.v4Starts.length,
      v6Ranges: this.prefixes.v6Classes.length,
    };
  }

  get groups(): readonly Group[] {
    return this.table.groups;
  }

  group(id: number): Group {
    const group = this.table.groups[id];
    if (group === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no group with id ${id} (the table holds ${this.table.groups.length})`, { status: 404, details: { id } });
    return group;
  }

  private classOf(w0: number, w1: number, w2: number, w3: number): number {
    return w0 === 0 && w1 === 0 && w2 === 0xffff ? v4Class(this.prefixes, w3) : v6Class(this.prefixes, w0, w1, w2, w3);
  }

  /** The group of a bound address: workload labels over the rule's, else the workload itself. */
  private boundGroup(workloadId: string, rule: number): number {
    const labels = mergeLabels(rule >= 0 ? this.rules[rule]?.labels : undefined, this.workloads.get(workloadId)?.labels);
    const labeled = labelsAtGranularity(this.groupBy, labels);
    return labeled === undefined ? this.table.workload(workloadId) : this.table.labels(labeled.key, labeled.labels);
  }

  /** The group of an address nobody holds at that time. */
  private unboundGroup(w0: number, w1: number, w2: number, w3: number): number {
    const group = this.classGroup[this.classOf(w0, w1, w2, w3)] ?? 0;
    return group >= 0 ? group : this.subnetGroup(w0, w1, w2, w3);
  }

  private subnetGroup(w0: number, w1: number, w2: number, w3: number): number {
    let m0 = w0;
    let m1 = w1;
    let m2 = w2;
    let m3 = w3;
    let length: number;
    const family = w0 === 0 && w1 === 0 && w2 === 0xffff ? 4 : 6;
    if (family === 4) {
      m3 = (w3 & this.v4SubnetMask) >>> 0;
      length = 96 + this.v4SubnetLength;
    } else {
      length = this.v6SubnetLength;
      const wordMask = (bits: number): number => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0);
      m0 = (w0 & wordMask(length)) >>> 0;
      m1 = (w1 & wordMask(length - 32)) >>> 0;
      m2 = (w2 & wordMask(length - 64)) >>> 0;
      m3 = (w3 & wordMask(length - 96)) >>> 0;
    }
    const hash = hashWords(m0, m1, m2, m3);
    const known = this.subnets.get(hash, m0, m1, m2, m3);
    if (known >= 0) return known;
    const network = new Uint8Array(16);
    const view = new DataView(network.buffer);
    view.setUint32(0, m0);
    view.setUint32(4, m1);
    view.setUint32(8, m2);
    view.setUint32(12, m3);
    const subnet = formatPrefix({ address: network, length, family });
    const id = this.table.unlabeled(subnet);
    this.subnets.set(hash, m0, m1, m2, m3, id);
    return id;
  }

  /** The hot path. Sets spanFrom/spanTo to the time span in which the answer holds. */
  private lookup(hash: number, w0: number, w1: number, w2: number, w3: number, time: number): number {
    const index = this.addresses.get(hash, w0, w1, w2, w3);
    if (index < 0) {
      this.spanFrom = -Infinity;
      this.spanTo = Infinity;
      return this.unboundGroup(w0, w1, w2, w3);
    }
    const starts = this.segmentStart;
    const first = this.segmentBegin[index] ?? 0;
    const end = this.segmentBegin[index + 1] ?? 0;
    let j = end - 1;
    while (j > first && (starts[j] ?? 0) > time) j--;
    this.spanFrom = starts[j] ?? -Infinity;
    this.spanTo = j + 1 < end ? (starts[j + 1] ?? Infinity) : Infinity;
    return this.segmentGroup[j] ?? 0;
  }

  resolveId(addresses: Uint8Array, offset: number, time: number): number {
    const view = new DataView(addresses.buffer, addresses.byteOffset + offset, 16);
    const w0 = view.getUint32(0);
    const w1 = view.getUint32(4);
    const w2 = view.getUint32(8);
    const w3 = view.getUint32(12);
    return this.lookup(hashWords(w0, w1, w2, w3), w0, w1, w2, w3, time);
  }

  resolve(address: Address, time: number): Group {
    return this.group(this.resolveId(address, 0, time));
  }

  resolveSpan(address: Address, time: number): { id: number; from: number; to: number } {
    const id = this.resolveId(address, 0, time);
    return { id, from: this.spanFrom, to: this.spanTo };
  }

  resolveBatch(addresses: Uint8Array, times: Uint32Array | Float64Array, options: { out?: Int32Array; count?: number; cache?: ResolverCache } = {}): Int32Array {
    const count = options.count ?? times.length;
    if (addresses.length < count * 16 || times.length < count) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `resolveBatch: ${count} rows need ${count * 16} address bytes and ${count} times (got ${addresses.length} and ${times.length})`, {
        status: 400,
        details: { count },
      });
    }
    const out = options.out ?? new Int32Array(count);
    if (out.length < count) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `resolveBatch: out holds ${out.length} ids, ${count} needed`, { status: 400, details: { count } });
    const view = new DataView(addresses.buffer, addresses.byteOffset, count * 16);
    const cache = options.cache;
    if (cache === undefined) {
      for (let i = 0; i < count; i++) {
        const o = i << 4;
        const w0 = view.getUint32(o);
        const w1 = view.getUint32(o + 4);
        const w2 = view.getUint32(o + 8);
        const w3 = view.getUint32(o + 12);
        out[i] = this.lookup(hashWords(w0, w1, w2, w3), w0, w1, w2, w3, times[i] ?? 0);
      }
      return out;
    }
    if (!(cache instanceof Cache) || cache.resolver !== this) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'resolveBatch: the cache belongs to another resolver (group ids differ); create it with this resolver.createCache()', { status: 400 });
    }
    const keys = cache.keys;
    const values = cache.values;
    const mask = cache.mask;
    const bucketSeconds = cache.bucketSeconds;
    let hits = 0;
    for (let i = 0; i < count; i++) {
      const o = i << 4;
      const w0 = view.getUint32(o);
      const w1 = view.getUint32(o + 4);
      const w2 = view.getUint32(o + 8);
      const w3 = view.getUint32(o + 12);
      const time = times[i] ?? 0;
      const hash = hashWords(w0, w1, w2, w3);
      const bucket = Math.floor(time / bucketSeconds);
      // Buckets outside 0..2^32-1 are never cached (the key holds 32 bits).
      const cacheable = bucket >= 0 && bucket <= 0xffffffff;
      const slot = (hash ^ Math.imul(bucket | 0, 0x9e3779b1)) & mask;
      const k = slot * 5;
      const cached = values[slot] ?? -1;
      if (cacheable && cached >= 0 && keys[k + 4] === bucket && keys[k + 3] === w3 && keys[k + 2] === w2 && keys[k + 1] === w1 && keys[k] === w0) {
        out[i] = cached;
        hits++;
        continue;
      }
      const group = this.lookup(hash, w0, w1, w2, w3, time);
      out[i] = group;
      // Only an answer that holds for the whole bucket may stand for it.
      if (cacheable && this.spanFrom <= bucket * bucketSeconds && this.spanTo >= (bucket + 1) * bucketSeconds) {
        keys[k] = w0;
        keys[k + 1] = w1;
        keys[k + 2] = w2;
        keys[k + 3] = w3;
        keys[k + 4] = bucket;
        values[slot] = group;
      }
    }
    cache.hits += hits;
    cache.misses += count - hits;
    return out;
  }

  explain(address: Address, time: number): Resolution {
    const view = new DataView(address.buffer, address.byteOffset, 16);
    const w0 = view.getUint32(0);
    const w1 = view.getUint32(4);
    const w2 = view.getUint32(8);
    const w3 = view.getUint32(12);
    const hash = hashWords(w0, w1, w2, w3);
    const group = this.group(this.lookup(hash, w0, w1, w2, w3, time));
    const ruleIndex = this.classRule[this.classOf(w0, w1, w2, w3)] ?? -1;
    const rule = ruleIndex >= 0 ? this.rules[ruleIndex] : undefined;
    const index = this.addresses.get(hash, w0, w1, w2, w3);
    let binding: Binding | undefined;
    if (index >= 0) {
      const first = this.segmentBegin[index] ?? 0;
      let j = (this.segmentBegin[index + 1] ?? 0) - 1;
      while (j > first && (this.segmentStart[j] ?? 0) > time) j--;
      const winner = this.segmentBinding[j] ?? -1;
      if (winner >= 0) binding = this.bindings[winner];
    }
    const workload = binding === undefined ? undefined : this.workloads.get(binding.workloadId);
    const labels = mergeLabels(rule?.labels, binding === undefined ? undefined : (workload?.labels ?? {}));
    return {
      group,
      labels,
      ...(workload === undefined ? {} : { workload }),
      ...(binding === undefined ? {} : { binding }),
      ...(rule === undefined ? {} : { rule }),
    };
  }

  createCache(options: { slots?: number; bucketSeconds?: number } = {}): ResolverCache {
    const wanted = options.slots ?? 65_536;
    const bucketSeconds = options.bucketSeconds ?? 3600;
    if (!Number.isInteger(wanted) || wanted < 1 || wanted > 1 << 26) throw invalid(`cache slots ${wanted} must be 1-${1 << 26}`, { slots: wanted });
    if (!(bucketSeconds > 0) || !Number.isFinite(bucketSeconds)) throw invalid(`cache bucket ${bucketSeconds} s must be a positive number of seconds`, { bucketSeconds });
    let slots = 1;
    while (slots < wanted) slots *= 2;
    return new Cache(this, slots, bucketSeconds);
  }
}

/**
 * Builds the index: O(b log b) for b bindings, O(rule prefix bits) for the rules. Bindings whose
 * workload is not in `inventory.workloads` resolve as a workload without labels.
 */
export function createResolver(inventory: Inventory, options: ResolverOptions = {}): Resolver {
  return new InventoryResolver(inventory, options);
}

