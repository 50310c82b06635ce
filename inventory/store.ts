// Inventory persistence through the store's versioned metadata (store/port.ts MetaStore): applying
// an import, loading the inventory back into a resolver, and reading an address's history.
//
// Layout, one namespace per kind; every put appends a version, so history is the store's:
// - `inventory-workloads`: one entry per workload, value = the workload.
// - `inventory-bindings`: one entry per subnet bucket (/24 for IPv4, /64 for IPv6), value =
//   {bindings: [...]} for every address in it. Buckets keep an import of thousands of pods to a few
//   hundred puts, while an address's history is still one key's history.
// - `inventory-rules`: one entry per prefix, value = the rule plus its source.
// Keys are `<shard>/<natural key>` with a two-hex-digit hash shard, because `list` pages only by
// prefix: an inventory larger than one page is read shard by shard.
//
// Import semantics. A record is identified by workload id, rule prefix, or binding (address,
// workload, from). A record equal to the stored one is unchanged and keeps its stored source and
// import time — re-importing a file changes no answer. A binding whose `to` differs (a pod was
// deleted, an address reappeared) is changed and takes this import's time, so it wins overlaps as
// the newest source (inventory/model.ts rule 1). With `closeMissing`, open bindings this source
// imported before but no longer lists are closed at the import time.
import { FlowmapError } from '../core/errors.js';
import { formatAddress, formatPrefix, maskAddress, parsePrefix, tryParseAddress, type Address, type Prefix } from '../core/ip.js';
import type { JsonValue, MetaEntry, MetaStore } from '../store/port.js';
import type { ParsedInventory } from './import/types.js';
import { CRITICALITIES, findConflicts, type Binding, type BindingConflict, type CidrRule, type Criticality, type Inventory, type Workload } from './model.js';
import { createResolver, type Resolver, type ResolverOptions } from './resolver.js';

export const WORKLOADS_NAMESPACE = 'inventory-workloads';
export const BINDINGS_NAMESPACE = 'inventory-bindings';
export const RULES_NAMESPACE = 'inventory-rules';

/** MetaStore.list returns at most this many entries a call (store/checks.ts MAX_META_LIMIT). */
const PAGE = 100_000;

export interface KindCounts {
  added: number;
  changed: number;
  unchanged: number;
}

export interface ImportSummary {
  /** Records new to the store (workloads + bindings + rules). */
  readonly added: number;
  readonly changed: number;
  readonly unchanged: number;
  /** Rows or objects the parser refused (its problems). */
  readonly skipped: number;
  /** Overlapping bindings of different workloads at the addresses this import named. */
  readonly conflicts: BindingConflict[];
  readonly byKind: { readonly workloads: KindCounts; readonly bindings: KindCounts; readonly rules: KindCounts };
}

export interface ApplyImportOptions {
  /** Who asserted these records, e.g. `kubectl:prod-cluster` or the file name. */
  readonly source: string;
  /** Unix seconds; default now. */
  readonly importedAt?: number;
  /** Close open bindings from the same source that this import no longer lists. Default false. */
  readonly closeMissing?: boolean;
}

/** Something that holds a MetaStore: a Store, or a test double. */
export interface InventoryStore {
  readonly meta: MetaStore;
}

function shardOf(natural: string): string {
  // FNV-1a: spreads keys over 256 shards; stable across versions, part of the stored layout.
  let h = 0x811c9dc5;
  for (let i = 0; i < natural.length; i++) h = Math.imul(h ^ natural.charCodeAt(i), 0x01000193);
  return ((h >>> 0) & 0xff).toString(16).padStart(2, '0');
}

const keyOf = (natural: string): string => `${shardOf(natural)}/${natural}`;

function bucketOf(address: Address): string {
  const v4 = formatAddress(address).includes('.');
  const length = v4 ? 96 + 24 : 64;
  return formatPrefix({ address: maskAddress(address, length), length, family: v4 ? 4 : 6 });
}

async function listAll(meta: MetaStore, namespace: string): Promise<MetaEntry[]> {
  const first = await meta.list(namespace, { limit: PAGE });
  if (first.length < PAGE) return first;
  const all: MetaEntry[] = [];
  for (let shard = 0; shard < 256; shard++) {
    const prefix = `${shard.toString(16).padStart(2, '0')}/`;
    const page = await meta.list(namespace, { prefix, limit: PAGE });
    if (page.length >= PAGE) {
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `inventory namespace ${namespace} holds more than ${PAGE} entries in shard ${prefix}; it cannot be read in full`, {
        status: 400,
        details: { namespace, shard: prefix },
      });
    }
    all.push(...page);
  }
  return all;
}

function malformed(namespace: string, key: string, what: string): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_REQUEST', `stored inventory entry ${namespace}/${key} is malformed: ${what}`, { status: 500, details: { namespace, key } });
}

const isObject = (v: JsonValue | undefined): v is { [key: string]: JsonValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

function labelsFrom(value: JsonValue | undefined): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

function encodeWorkload(w: Workload): JsonValue {
  return { id: w.id, name: w.name, labels: { ...w.labels }, source: w.source, ...(w.criticality === undefined ? {} : { criticality: w.criticality }), ...(w.removedAt === undefined ? {} : { removedAt: w.removedAt }) };
}

function decodeWorkload(entry: MetaEntry): Workload {
  const v = entry.value;
  const labels = isObject(v) ? labelsFrom(v.labels) : undefined;
  if (!isObject(v) || typeof v.id !== 'string' || typeof v.name !== 'string' || typeof v.source !== 'string' || labels === undefined) throw malformed(WORKLOADS_NAMESPACE, entry.key, 'not a workload');
  const criticality = typeof v.criticality === 'string' && (CRITICALITIES as readonly string[]).includes(v.criticality) ? (v.criticality as Criticality) : undefined;
  return { id: v.id, name: v.name, labels, source: v.source, ...(criticality === undefined ? {} : { criticality }), ...(typeof v.removedAt === 'number' ? { removedAt: v.removedAt } : {}) };
}

function encodeBinding(b: Binding): JsonValue {
  return {
    address: formatAddress(b.address),
    workloadId: b.workloadId,
    from: b.from,
    to: b.to === Infinity ? null : b.to,
    source: b.source,
    ...(b.sources === undefined || (b.sources.length === 1 && b.sources[0] === b.source) ? {} : { sources: [...b.sources] }),
    importedAt: b.importedAt,
  };
}

/** Every source asserting a binding (entries written before `sources` existed had one). */
const sourcesOf = (b: Binding): readonly string[] => b.sources ?? [b.source];

function decodeBindings(entry: MetaEntry): Binding[] {
  const list = isObject(entry.value) ? entry.value.bindings : undefined;
  if (!Array.isArray(list)) throw malformed(BINDINGS_NAMESPACE, entry.key, 'no bindings array');
  return list.map((v) => {
    const address = isObject(v) && typeof v.address === 'string' ? tryParseAddress(v.address) : undefined;
    if (!isObject(v) || address === undefined || typeof v.workloadId !== 'string' || typeof v.from !== 'number' || (v.to !== null && typeof v.to !== 'number') || typeof v.source !== 'string' || typeof v.importedAt !== 'number') {
      throw malformed(BINDINGS_NAMESPACE, entry.key, 'not a binding');
    }
    const sources = Array.isArray(v.sources) && v.sources.every((x) => typeof x === 'string') ? (v.sources) : undefined;
    return { address, workloadId: v.workloadId, from: v.from, to: v.to ?? Infinity, source: v.source, ...(sources === undefined ? {} : { sources }), importedAt: v.importedAt };
  });
}

interface StoredRule {
  rule: CidrRule;
  source: string;
  importedAt: number;
}

function encodeRule(r: StoredRule): JsonValue {
  return { cidr: formatPrefix(r.rule.prefix), labels: { ...r.rule.labels }, source: r.source, importedAt: r.importedAt, ...(r.rule.name === undefined ? {} : { name: r.rule.name }) };
}

function decodeRule(entry: MetaEntry): StoredRule {
  const v = entry.value;
  const labels = isObject(v) ? labelsFrom(v.labels) : undefined;
  if (!isObject(v) || typeof v.cidr !== 'string' || labels === undefined || typeof v.source !== 'string' || typeof v.importedAt !== 'number') throw malformed(RULES_NAMESPACE, entry.key, 'not a rule');
  const prefix = parsePrefix(v.cidr);
  return { rule: typeof v.name === 'string' ? { prefix, labels, name: v.name } : { prefix, labels }, source: v.source, importedAt: v.importedAt };
}

const sameLabels = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  const ak = Object.keys(a);
  return ak.length === Object.keys(b).length && ak.every((k) => a[k] === b[k]);
};

const bindingIdentity = (b: Pick<Binding, 'address' | 'workloadId' | 'from'>): string => `${formatAddress(b.address)}\u0000${b.workloadId}\u0000${b.from}`;

/**
 * Writes a parsed import into the store. Cost: one read of each inventory namespace plus one put
 * per new or changed workload, rule and touched binding bucket.
 */
export async function applyImport(store: InventoryStore, parsed: ParsedInventory, options: ApplyImportOptions): Promise<ImportSummary> {
  if (options.source === '') throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'an import needs a source name (e.g. the file name or kubectl:CLUSTER)', { status: 400 });
  const importedAt = options.importedAt ?? Math.floor(Date.now() / 1000);
  const { meta } = store;
  const counts = (): KindCounts => ({ added: 0, changed: 0, unchanged: 0 });
  const byKind = { workloads: counts(), bindings: counts(), rules: counts() };

  const storedWorkloads = new Map((await listAll(meta, WORKLOADS_NAMESPACE)).map((e) => [e.key, decodeWorkload(e)]));
  for (const parsedWorkload of parsed.workloads) {
    const next: Workload = { ...parsedWorkload, source: options.source };
    const key = keyOf(next.id);
    const stored = storedWorkloads.get(key);
    // A removed workload listed again by an import exists again: not unchanged.
    if (stored !== undefined && stored.removedAt === undefined && stored.name === next.name && stored.source === next.source && stored.criticality === next.criticality && sameLabels(stored.labels, next.labels)) {
      byKind.workloads.unchanged++;
      continue;
    }
    byKind.workloads[stored === undefined ? 'added' : 'changed']++;
    storedWorkloads.set(key, next);
    await meta.put(WORKLOADS_NAMESPACE, key, encodeWorkload(next));
  }

  const storedRules = new Map((await listAll(meta, RULES_NAMESPACE)).map((e) => [e.key, decodeRule(e)]));
  for (const rule of parsed.rules) {
    const key = keyOf(formatPrefix(rule.prefix));
    const stored = storedRules.get(key);
    if (stored !== undefined && stored.rule.name === rule.name && sameLabels(stored.rule.labels, rule.labels)) {
      byKind.rules.unchanged++;
      continue;
    }
    byKind.rules[stored === undefined ? 'added' : 'changed']++;
    const next = { rule, source: options.source, importedAt };
    storedRules.set(key, next);
    await meta.put(RULES_NAMESPACE, key, encodeRule(next));
  }

  const buckets = new Map((await listAll(meta, BINDINGS_NAMESPACE)).map((e) => [e.key, decodeBindings(e)]));
  const touched = new Set<string>();
  const listed = new Set<string>();
  const named = new Set<string>();
  const namedBuckets = new Set<string>();
  for (const b of parsed.bindings) {
    const key = keyOf(bucketOf(b.address));
    const list = buckets.get(key) ?? [];
    buckets.set(key, list);
    const identity = bindingIdentity(b);
    listed.add(identity);
    named.add(formatAddress(b.address));
    namedBuckets.add(key);
    const at = list.findIndex((s) => bindingIdentity(s) === identity);
    if (at < 0) {
      list.push({ ...b, source: options.source, importedAt });
      byKind.bindings.added++;
      touched.add(key);
      continue;
    }
    const stored = list[at] as Binding;
    const sources = sourcesOf(stored).includes(options.source) ? sourcesOf(stored) : [...sourcesOf(stored), options.source];
    // A snapshot (kubectl, EC2) lists who holds an address now; an older one imported late must
    // not reopen a binding a newer one closed (its end may still move: a later deletion time).
    // Declarative files (CSV, JSON) may change an end freely.
    const snapshot = parsed.format === 'kubectl' || parsed.format === 'ec2';
    const reopens = snapshot && Number.isFinite(stored.to) && b.to === Infinity;
    if (stored.to !== b.to && !reopens) {
      list[at] = { ...b, source: options.source, sources, importedAt };
      byKind.bindings.changed++;
      touched.add(key);
    } else {
      if (sources.length !== sourcesOf(stored).length) {
        list[at] = { ...stored, sources };
        touched.add(key);
      }
      byKind.bindings.unchanged++;
    }
  }
  if (options.closeMissing === true) {
    for (const [key, list] of buckets) {
      list.forEach((s, i) => {
        if (!sourcesOf(s).includes(options.source) || s.to !== Infinity || listed.has(bindingIdentity(s)) || s.from >= importedAt) return;
        const others = sourcesOf(s).filter((x) => x !== options.source);
        // Another source still asserts it: this one withdraws, the binding stays open.
        list[i] = others.length > 0 ? { ...s, sources: others, source: others[others.length - 1] as string } : { ...s, to: importedAt, importedAt };
        byKind.bindings.changed++;
        touched.add(key);
      });
    }
  }
  for (const key of touched) await meta.put(BINDINGS_NAMESPACE, key, { bindings: (buckets.get(key) ?? []).map(encodeBinding) });

  const conflicts = findConflicts([...namedBuckets].flatMap((key) => buckets.get(key) ?? [])).filter((c) => named.has(c.address));
  const sum = (field: keyof KindCounts): number => byKind.workloads[field] + byKind.bindings[field] + byKind.rules[field];
  return { added: sum('added'), changed: sum('changed'), unchanged: sum('unchanged'), skipped: parsed.problems.length, conflicts, byKind };
}

export interface LoadedInventory {
  readonly inventory: Inventory;
  readonly resolver: Resolver;
  readonly conflicts: BindingConflict[];
}

/** Reads the whole inventory and builds a resolver over it. */
export async function loadInventory(store: InventoryStore, options: ResolverOptions = {}): Promise<LoadedInventory> {
  const [workloads, rules, buckets] = await Promise.all([
    listAll(store.meta, WORKLOADS_NAMESPACE),
    listAll(store.meta, RULES_NAMESPACE),
    listAll(store.meta, BINDINGS_NAMESPACE),
  ]);
  const inventory: Inventory = {
    workloads: workloads.map(decodeWorkload),
    // One entry per prefix, so rule 2's "given last" tie-break never arises between stored rules.
    rules: rules.map((e) => decodeRule(e).rule),
    bindings: buckets.flatMap(decodeBindings),
  };
  return { inventory, resolver: createResolver(inventory, options), conflicts: findConflicts(inventory.bindings) };
}

export interface AddressVersion {
  readonly version: number;
  readonly updatedAt: Date;
  /** The address's bindings as that version of its bucket held them. */
  readonly bindings: Binding[];
}

/** Every stored version of an address's bindings, oldest first (versions that changed it only). */
export async function addressHistory(store: InventoryStore, address: Address): Promise<AddressVersion[]> {
  const text = formatAddress(address);
  const versions = await store.meta.history(BINDINGS_NAMESPACE, keyOf(bucketOf(address)));
  const out: AddressVersion[] = [];
  let last = '';
  for (const entry of versions) {
    const bindings = decodeBindings(entry).filter((b) => formatAddress(b.address) === text);
    const fingerprint = JSON.stringify(bindings.map(encodeBinding));
    if (fingerprint === last) continue;
    last = fingerprint;
    out.push({ version: entry.version, updatedAt: entry.updatedAt, bindings });
  }
  return out;
}

/** Workloads sorted by id; removed ones only with `includeRemoved`. */
export async function listWorkloads(store: InventoryStore, options: { includeRemoved?: boolean } = {}): Promise<Workload[]> {
  return (await listAll(store.meta, WORKLOADS_NAMESPACE))
    .map(decodeWorkload)
    .filter((w) => options.includeRemoved === true || w.removedAt === undefined)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export async function getWorkload(store: InventoryStore, id: string): Promise<Workload | undefined> {
  const entry = await store.meta.get(WORKLOADS_NAMESPACE, keyOf(id));
  return entry === undefined ? undefined : decodeWorkload(entry);
}

/** Writes one workload (an edit through the API): a new version of its entry; its bindings stay. */
export async function saveWorkload(store: InventoryStore, workload: Workload): Promise<Workload> {
  await store.meta.put(WORKLOADS_NAMESPACE, keyOf(workload.id), encodeWorkload(workload));
  return workload;
}

/**
 * Removes a workload at `at` (Unix seconds): its open bindings end then, so its addresses resolve
 * to what they would without it from then on, while before `at` they still resolve to it — the
 * record stays, marked removed, and past baselines keep their answers.
 */
export async function removeWorkload(store: InventoryStore, id: string, at: number): Promise<{ removed: boolean; closedBindings: number }> {
  const workload = await getWorkload(store, id);
  if (workload === undefined || workload.removedAt !== undefined) return { removed: false, closedBindings: 0 };
  await saveWorkload(store, { ...workload, removedAt: at });
  let closedBindings = 0;
  for (const entry of await listAll(store.meta, BINDINGS_NAMESPACE)) {
    const bindings = decodeBindings(entry);
    let touched = false;
    const next = bindings.map((b) => {
      if (b.workloadId !== id || b.to <= at) return b;
      touched = true;
      closedBindings++;
      return { ...b, to: Math.max(b.from, at), importedAt: at };
    });
    if (touched) await store.meta.put(BINDINGS_NAMESPACE, entry.key, { bindings: next.map(encodeBinding) });
  }
  return { removed: true, closedBindings };
}

/** Writes one CIDR rule (an edit through the API), replacing the rule of the same prefix. */
export async function saveRule(store: InventoryStore, rule: CidrRule, source: string, at: number): Promise<void> {
  await store.meta.put(RULES_NAMESPACE, keyOf(formatPrefix(rule.prefix)), encodeRule({ rule, source, importedAt: at }));
}

/** Removes the rule of a prefix; false when there was none. */
export async function removeRule(store: InventoryStore, prefix: Prefix): Promise<boolean> {
  return store.meta.delete(RULES_NAMESPACE, keyOf(formatPrefix(prefix)));
}

/** The CIDR label rules, most specific first. */
export async function listRules(store: InventoryStore): Promise<(CidrRule & { source: string; importedAt: number })[]> {
  return (await listAll(store.meta, RULES_NAMESPACE))
    .map(decodeRule)
    .map((r) => ({ ...r.rule, source: r.source, importedAt: r.importedAt }))
    .sort((a, b) => b.prefix.length - a.prefix.length || (formatPrefix(a.prefix) < formatPrefix(b.prefix) ? -1 : 1));
}

/** The bindings of one address, oldest first. */
export async function bindingsOf(store: InventoryStore, address: Address): Promise<Binding[]> {
  const entry = await store.meta.get(BINDINGS_NAMESPACE, keyOf(bucketOf(address)));
  if (entry === undefined) return [];
  const text = formatAddress(address);
  return decodeBindings(entry)
    .filter((b) => formatAddress(b.address) === text)
    .sort((a, b) => a.from - b.from);
}

/** The bindings of one workload, oldest first. Cost: a read of every binding bucket. */
export async function bindingsOfWorkload(store: InventoryStore, id: string): Promise<Binding[]> {
  return (await listAll(store.meta, BINDINGS_NAMESPACE))
    .flatMap(decodeBindings)
    .filter((b) => b.workloadId === id)
    .sort((a, b) => a.from - b.from);
}
