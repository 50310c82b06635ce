// The baseline builder (DESIGN.md §8): one window of the hourly rollup → the label-aggregated
// dependency graph, plus its host pairs for drill-down.
//
// The store aggregates the window in the database (Store.conversations): Node receives one row per
// host-level conversation (client, server, protocol, service port) with its totals, profiles and
// the listener evidence of both ends — never raw flows. Here each row is
//   1. oriented (orientation.ts: listener evidence corrects the collector's guess),
//   2. resolved to groups with the inventory at the time of its traffic — rows of addresses whose
//      owner changes within the window (pods reusing addresses) come from the store split where
//      their owner changes (ownerSplits; an hour with a change inside is re-read by the second),
//      every other row resolves once, since its answer holds for the whole window,
//   3. folded into its group edge (client group → server group, protocol, port) and host pair.
//
// Cost: O(R) for R conversation rows, memory O(host pairs + group edges).
import { createHash } from 'node:crypto';
import { MultiDirectedGraph } from 'graphology';

import { FlowmapError } from '../../core/errors.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import type { Inventory, Resolver } from '../../inventory/index.js';
import type { AddressHour, BaselineHostRow, ConversationKey, ConversationRow, Endpoint, EndpointEvidence, Store } from '../../store/index.js';
import { MAX_ADDRESS_HOURS, MAX_CONVERSATION_DAYS, MAX_DRILL_CONVERSATIONS, MAX_EVIDENCE_ENDPOINTS, MAX_HOURLY_ADDRESSES, MAX_SPLIT_HOURS, MAX_SPLIT_POINTS } from '../../store/index.js';
import { needsDrillDown, orient } from './orientation.js';
import { ORIENTATION_RULES, type BaselineParams, type BaselineSummary, type DependencyEdgeAttributes, type GroupNodeAttributes, type OrientationRule, type SerializedBaselineGraph } from './types.js';

const HOUR = 3600;
const DAY = 86_400;

export interface BuildProgress {
  stage: 'inventory' | 'conversations' | 'graph' | 'hosts';
  /** 0–100 over the whole build. */
  percent: number;
  conversations?: number;
  flows?: number;
}

export interface BuildDeps {
  store: Store;
  inventory: Inventory;
  resolver: Resolver;
  progress?: (progress: BuildProgress) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface BuiltBaseline {
  graph: SerializedBaselineGraph;
  summary: BaselineSummary;
  hosts: BaselineHostRow[];
  timings: Record<string, number>;
}

/** Checks a window: whole hours, from < to, at most MAX_CONVERSATION_DAYS long, a non-empty groupBy. */
export function checkParams(params: BaselineParams): void {
  const { from, to, groupBy } = params;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from % HOUR !== 0 || to % HOUR !== 0 || from < 0 || to <= from) {
    throw badParams(`a baseline window must be whole hours with from < to (got ${from}..${to})`, { from, to });
  }
  if (to - from > MAX_CONVERSATION_DAYS * DAY) throw badParams(`a baseline window is at most ${MAX_CONVERSATION_DAYS} days (got ${(to - from) / DAY})`, { from, to });
  if (!Array.isArray(groupBy) || groupBy.length === 0 || groupBy.some((k) => typeof k !== 'string' || k === '' || k.includes(',')) || new Set(groupBy).size !== groupBy.length) {
    throw badParams(`groupBy must be distinct, non-empty label keys, e.g. app,env (got ${JSON.stringify(groupBy)})`, { groupBy });
  }
}

/** The stable id of a dependency: the same (from, to, protocol, port) has the same id in every baseline. */
export function edgeId(from: string, to: string, proto: number, port: number): string {
  return createHash('sha1').update(`${from}\n${to}\n${proto}\n${port}`).digest('hex').slice(0, 16);
}

const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 89: 'ospf', 112: 'vrrp', 132: 'sctp' };
export function protocolName(proto: number): string {
  return PROTOCOL_NAMES[proto] ?? String(proto);
}

/** Addresses bound in the inventory whose group changes within [from, to): the store splits their rows (ownerSplits). */
export function changingAddresses(inventory: Inventory, resolver: Resolver, from: number, to: number): string[] {
  const seen = new Set<string>();
  const changing: string[] = [];
  for (const binding of inventory.bindings) {
    if (binding.to <= from || binding.from >= to) continue;
    const text = formatAddress(binding.address);
    if (seen.has(text)) continue;
    seen.add(text);
    // Segments start wherever the winning binding changes; only a change of group matters.
    let span = resolver.resolveSpan(binding.address, from);
    while (span.to < to) {
      const next = resolver.resolveSpan(binding.address, span.to);
      if (next.id !== span.id) break;
      span = { id: span.id, from: span.from, to: next.to };
    }
    if (span.to < to) changing.push(text);
  }
  if (changing.length > MAX_HOURLY_ADDRESSES) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${changing.length} addresses change owner within the window; at most ${MAX_HOURLY_ADDRESSES} can be resolved by the time of their traffic — use a shorter window`, {
      status: 400,
      details: { changing: changing.length },
    });
  }
  return changing.sort();
}

/**
 * Where the rows of a changing address are split (ConversationQuery.splits): a new segment starts
 * wherever its group changes at an hour boundary, and every hour within which the group changes
 * (a pod deleted at 10:15, its address given to another at 10:20) is a segment of its own, which
 * the builder re-reads by the second. Within any other segment one group holds throughout, so a
 * row of it resolves once. Walks the resolver's spans, not the window's hours.
 */
export function ownerSplits(resolver: Resolver, address: Uint8Array, from: number, to: number): { starts: number[]; changes: number[] } {
  const starts: number[] = [];
  /** The hours with a change inside. */
  const changes: number[] = [];
  /** The group of the segment being extended; -1 after an hour with a change inside. */
  let current = -1;
  for (let h = from; h < to; ) {
    const span = resolver.resolveSpan(address, h);
    if (span.to >= h + HOUR) {
      if (span.id !== current && h > from) starts.push(h);
      current = span.id;
      h = Math.min(to, Math.floor(span.to / HOUR) * HOUR);
    } else {
      if (h > from) starts.push(h);
      changes.push(h);
      current = -1;
      h += HOUR;
    }
  }
  return { starts, changes };
}

/**
 * The group of an address for one hour (or segment starting there) of rollup rows. The rollup
 * cannot tell which part of an hour a row's flows came from: when the owner changes within the
 * hour (a pod deleted at 10:15, its address given to another pod at 10:20) the builder re-reads
 * that hour from the raw flows by the second (ownerSplits' change hours). The id returned then is
 * a fallback for hours past the cap: the bound owner that held the address longest in the hour
 * (flows happen while an address is bound, so an unbound stretch loses).
 */
export function ownerDuringHour(resolver: Resolver, address: Uint8Array, hour: number): number {
  const end = hour + HOUR;
  const first = resolver.resolveSpan(address, hour);
  // Almost always one answer holds for the whole hour.
  if (first.to >= end) return first.id;
  let best = -1;
  let bestSeconds = -1;
  let bestBound = false;
  for (let t = hour; t < end; ) {
    const span = resolver.resolveSpan(address, t);
    const seconds = Math.min(span.to, end) - t;
    const bound = resolver.explain(address, t).binding !== undefined;
    if ((bound && !bestBound) || (bound === bestBound && seconds > bestSeconds)) {
      best = span.id;
      bestSeconds = seconds;
      bestBound = bound;
    }
    t = Math.max(span.to, t + 1);
  }
  return best;
}

/**
 * The drill-down keys of a row: the conversation over the window, or — for a row of a segment
 * (its `hour` is where the segment starts, and it may last many hours) — one key per hour from
 * its first to its last hour with flows, which holds exactly its flows and none of the
 * conversation's other segments.
 */
export function drillKeys(row: ConversationRow): ConversationKey[] {
  const key = { client: row.client, server: row.server, proto: row.proto, servicePort: row.servicePort };
  if (row.hour === undefined) return [key];
  const keys: ConversationKey[] = [];
  for (let hour = row.firstHour; hour <= row.lastHour; hour += HOUR) keys.push({ ...key, hour });
  return keys;
}

function drillKeyCount(row: ConversationRow): number {
  return row.hour === undefined ? 1 : (row.lastHour - row.firstHour) / HOUR + 1;
}

/** Drill-down keys of ambiguous conversations at most, per baseline; the rest keep the collector's orientation. */
export const MAX_DRILLED = 50_000;
/** Address-hours with an owner change read from the raw flows at most, per baseline. */
export const MAX_CHANGE_HOURS = 400_000;

/**
 * Re-reads conversations the rollup cannot settle from the raw flows — by client port, and with
 * `exactTime` by the second (rows of an hour in which an address changed owner) — attaches
 * listener evidence to both ends of each part and folds the parts. Returns the parts folded.
 */
async function drillDown(store: Store, range: { from: number; to: number }, rows: readonly ConversationRow[], fold: (row: ConversationRow) => void, exactTime: boolean): Promise<number> {
  const parts: ConversationRow[] = [];
  const keys = rows.flatMap(drillKeys);
  for (let i = 0; i < keys.length; i += MAX_DRILL_CONVERSATIONS) {
    for (const part of await store.conversationsByClientPort(range, keys.slice(i, i + MAX_DRILL_CONVERSATIONS), { exactTime })) parts.push(part);
  }
  // Evidence the rows brought (their server ends) is not asked for again.
  const known = new Map<string, EndpointEvidence>();
  for (const r of rows) known.set(`${r.server}|${r.proto}|${r.servicePort}`, r.serverEvidence);
  return foldParts(store, range, parts, known, fold);
}

/** Attaches listener evidence to both ends of drill-down parts — `known` first, the rest asked once per endpoint — and folds them. Returns the parts folded. */
async function foldParts(store: Store, range: { from: number; to: number }, parts: readonly ConversationRow[], known: ReadonlyMap<string, EndpointEvidence>, fold: (row: ConversationRow) => void): Promise<number> {
  const evidence = new Map(known);
  const wanted = new Map<string, Endpoint>();
  const want = (address: string, proto: number, port: number): void => {
    const key = `${address}|${proto}|${port}`;
    if (!evidence.has(key)) wanted.set(key, { address, proto, port });
  };
  for (const p of parts) {
    want(p.server, p.proto, p.servicePort);
    want(p.client, p.proto, p.clientPortMin);
  }
  const endpoints = [...wanted.values()];
  for (let j = 0; j < endpoints.length; j += MAX_EVIDENCE_ENDPOINTS) {
    for (const e of await store.endpointEvidence(range, endpoints.slice(j, j + MAX_EVIDENCE_ENDPOINTS))) evidence.set(`${e.address}|${e.proto}|${e.port}`, e);
  }
  const none: EndpointEvidence = { peers: 0, peerPorts: 0, days: 0 };
  for (const p of parts) {
    p.serverEvidence = evidence.get(`${p.server}|${p.proto}|${p.servicePort}`) ?? none;
    p.clientEvidence = evidence.get(`${p.client}|${p.proto}|${p.clientPortMin}`) ?? none;
    fold(p);
  }
  return parts.length;
}

interface EdgeAgg {
  id: string;
  from: number;
  to: number;
  proto: number;
  port: number;
  flows: number;
  bytes: number;
  packets: number;
  rejected: number;
  first: number;
  last: number;
  days: Uint32Array;
  hourOfDay: Float64Array;
  dayOfWeek: Float64Array;
  clients: Set<number>;
  servers: Set<number>;
  rules: Float64Array;
  flipped: number;
  /** Host pairs, keyed client id · ADDRESS_SPAN + server id. */
  hosts: Map<number, HostAgg>;
}

/** Group and address ids are below these (ids are dense, so 2^20 groups and 2^22 addresses), keeping composite keys exact in a double. */
const GROUP_SPAN = 2 ** 20;
const ADDRESS_SPAN = 2 ** 22;

interface HostAgg {
  client: number;
  server: number;
  flows: number;
  bytes: number;
  packets: number;
  first: number;
  last: number;
  days: Uint32Array;
  /** Flows per rule, to name the rule that decided most of them. */
  rules: Float64Array;
}

const RULE_INDEX: Readonly<Record<OrientationRule, number>> = { 'tcp-syn': 0, 'listener-evidence': 1, ingest: 2 };

function popcount(words: Uint32Array): number {
  let n = 0;
  for (let w of words) {
    w -= (w >>> 1) & 0x55555555;
    w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
    n += (((w + (w >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return n;
}

function ruleOf(rules: Float64Array): OrientationRule {
  let best = 0;
  for (let i = 1; i < rules.length; i++) if ((rules[i] ?? 0) > (rules[best] ?? 0)) best = i;
  return ORIENTATION_RULES[best] as OrientationRule;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/** Builds the graph of one window. Reads the store; writes nothing (the caller stores the result). */
export async function buildBaseline(params: BaselineParams, deps: BuildDeps): Promise<BuiltBaseline> {
  checkParams(params);
  const { store, inventory, resolver, signal } = deps;
  const timings: Record<string, number> = {};
  let started = performance.now();
  const lap = (stage: string): void => {
    const now = performance.now();
    timings[stage] = Math.round(now - started);
    started = now;
  };
  const report = async (progress: BuildProgress): Promise<void> => {
    if (deps.progress !== undefined) await deps.progress(progress);
  };
  const aborted = (): void => {
    if (signal?.aborted === true) throw new FlowmapError('FLOWMAP_JOB_BACKEND', 'the baseline build was stopped (the worker is shutting down); the job will be retried', { status: 503 });
  };

  await report({ stage: 'inventory', percent: 1 });
  const { from, to } = params;
  const splits: { address: string; starts: number[] }[] = [];
  /** Changing addresses past the store's split budgets: their rows come hour by hour instead (more rows, same answer). */
  const hourlyAddresses: string[] = [];
  /** Hours within which an address changed owner: their flows are read whole, by the second (Store.conversationsOfAddressHours). */
  const changeHours: AddressHour[] = [];
  const windowHours = (to - from) / HOUR;
  let splitPoints = 0;
  for (const address of changingAddresses(inventory, resolver, from, to)) {
    const { starts, changes } = ownerSplits(resolver, parseAddress(address), from, to);
    if (splitPoints + starts.length <= MAX_SPLIT_POINTS && (splits.length + 1) * windowHours <= MAX_SPLIT_HOURS) {
      splits.push({ address, starts });
      splitPoints += starts.length;
    } else hourlyAddresses.push(address);
    for (const hour of changes) changeHours.push({ address, hour });
  }
  // By hour: a flow between two addresses that both change owner in its hour is listed twice, and
  // the store returns it once only within one call — so calls are cut between hours, never inside one.
  changeHours.sort((a, b) => a.hour - b.hour);
  const totals = await store.rollupTotals({ from, to });
  lap('inventory');
  await report({ stage: 'conversations', percent: 5, conversations: 0, flows: 0 });

  const words = Math.ceil(Math.ceil((to - from) / DAY) / 32);
  const edges: EdgeAgg[] = [];
  const groupHosts = new Map<number, Set<number>>();
  const summaryRules = new Float64Array(ORIENTATION_RULES.length);
  let conversations = 0;
  let flipped = 0;
  let flowsSeen = 0;
  let lastReport = performance.now();
  const groupIdsCache = new Map<string, number>();
  /** Owner by address, then by hour: no key string built per row. */
  const hourCache = new Map<string, Map<number, number>>();
  const groupOf = (address: string, row: ConversationRow): number => {
    if (row.time !== undefined) return resolver.resolveSpan(parseAddress(address), row.time).id;
    const hour = row.hour;
    if (hour === undefined) {
      let id = groupIdsCache.get(address);
      if (id === undefined) {
        id = resolver.resolveSpan(parseAddress(address), from).id;
        groupIdsCache.set(address, id);
      }
      return id;
    }
    return ownerAt(address, hour);
  };
  const ownerAt = (address: string, hour: number): number => {
    let byHour = hourCache.get(address);
    if (byHour === undefined) hourCache.set(address, (byHour = new Map<number, number>()));
    let owner = byHour.get(hour);
    if (owner === undefined) byHour.set(hour, (owner = ownerDuringHour(resolver, parseAddress(address), hour)));
    return owner;
  };

  const noteHost = (group: number, address: number): void => {
    let set = groupHosts.get(group);
    if (set === undefined) groupHosts.set(group, (set = new Set()));
    set.add(address);
  };

  // The hot loop: integer ids for addresses and groups, nested maps keyed by numbers — no string
  // built per row (a row costs a few map lookups and the profile additions).
  const addressIds = new Map<string, number>();
  const addressTexts: string[] = [];
  const addressId = (text: string): number => {
    let id = addressIds.get(text);
    if (id === undefined) {
      id = addressTexts.length;
      if (id >= ADDRESS_SPAN) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `more than ${ADDRESS_SPAN} distinct addresses in one baseline: use a shorter window`, { status: 400 });
      addressIds.set(text, id);
      addressTexts.push(text);
    }
    return id;
  };
  const byPair = new Map<number, Map<number, EdgeAgg>>();
  const fold = (row: ConversationRow): void => {
    const o = orient(row);
    const clientGroup = groupOf(o.client, row);
    const serverGroup = groupOf(o.server, row);
    const pair = clientGroup * GROUP_SPAN + serverGroup;
    let services = byPair.get(pair);
    if (services === undefined) byPair.set(pair, (services = new Map<number, EdgeAgg>()));
    const service = row.proto * 65_536 + o.port;
    let edge = services.get(service);
    if (edge === undefined) {
      if (clientGroup >= GROUP_SPAN || serverGroup >= GROUP_SPAN) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `more than ${GROUP_SPAN} groups: choose fewer groupBy keys`, { status: 400 });
      const fromKey = resolver.group(clientGroup).key;
      const toKey = resolver.group(serverGroup).key;
      edge = {
        id: edgeId(fromKey, toKey, row.proto, o.port),
        from: clientGroup,
        to: serverGroup,
        proto: row.proto,
        port: o.port,
        flows: 0,
        bytes: 0,
        packets: 0,
        rejected: 0,
        first: Infinity,
        last: -Infinity,
        days: new Uint32Array(words),
        hourOfDay: new Float64Array(24),
        dayOfWeek: new Float64Array(7),
        clients: new Set(),
        servers: new Set(),
        rules: new Float64Array(ORIENTATION_RULES.length),
        flipped: 0,
        hosts: new Map(),
      };
      services.set(service, edge);
      edges.push(edge);
    }
    const client = addressId(o.client);
    const server = addressId(o.server);
    edge.flows += row.flows;
    edge.bytes += row.bytes;
    edge.packets += row.packets;
    edge.rejected += row.rejectedFlows;
    if (row.firstHour < edge.first) edge.first = row.firstHour;
    if (row.lastHour > edge.last) edge.last = row.lastHour;
    const days = row.days;
    const hod = row.hourOfDay;
    const dow = row.dayOfWeek;
    for (let w = 0; w < words; w++) edge.days[w]! |= days[w] ?? 0;
    for (let h = 0; h < 24; h++) edge.hourOfDay[h]! += hod[h] ?? 0;
    for (let d = 0; d < 7; d++) edge.dayOfWeek[d]! += dow[d] ?? 0;
    edge.clients.add(client);
    edge.servers.add(server);
    const rule = RULE_INDEX[o.rule];
    edge.rules[rule]! += row.flows;
    summaryRules[rule]! += row.flows;
    if (o.flipped) {
      edge.flipped += row.flows;
      flipped++;
    }
    noteHost(clientGroup, client);
    noteHost(serverGroup, server);

    const hostKey = client * ADDRESS_SPAN + server;
    let host = edge.hosts.get(hostKey);
    if (host === undefined) {
      host = { client, server, flows: 0, bytes: 0, packets: 0, first: Infinity, last: -Infinity, days: new Uint32Array(words), rules: new Float64Array(ORIENTATION_RULES.length) };
      edge.hosts.set(hostKey, host);
    }
    host.flows += row.flows;
    host.bytes += row.bytes;
    host.packets += row.packets;
    if (row.firstHour < host.first) host.first = row.firstHour;
    if (row.lastHour > host.last) host.last = row.lastHour;
    for (let w = 0; w < words; w++) host.days[w]! |= days[w] ?? 0;
    host.rules[rule]! += row.flows;
  };

  const ambiguous: ConversationRow[] = [];
  /** Rows past the drill-down caps that needed one and were folded as the rollup has them. */
  let undrilled = 0;
  /** Drill-down keys the ambiguous rows take: one, or one per hour of a segment row (drillKeys). */
  let ambiguousKeys = 0;
  // Hours within which an address changed owner are read whole from the raw flows, by the second
  // (the rollup cannot tell whose an hour's flows were). The read starts with the first
  // conversations, so that it overlaps folding the rest, while the store is mostly idle; the rows
  // of those hours are left out of the fold, their parts folded instead. Past MAX_CHANGE_HOURS the
  // rows keep the owner that held the address longest in the hour (counted as undrilled).
  /** Hours by address (changeHours of the addresses that have some), and whether each is read. */
  const changes = new Map<string, Map<number, boolean>>();
  changeHours.forEach((p, i) => {
    let hours = changes.get(p.address);
    if (hours === undefined) changes.set(p.address, (hours = new Map<number, boolean>()));
    hours.set(p.hour, i < MAX_CHANGE_HOURS);
  });
  const read = changeHours.slice(0, MAX_CHANGE_HOURS);
  let changeParts: Promise<ConversationRow[]> | undefined;
  const readChanges = async (): Promise<ConversationRow[]> => {
    const parts: ConversationRow[] = [];
    for (let i = 0; i < read.length; ) {
      // Whole hours per call (an hour holds at most MAX_HOURLY_ADDRESSES pairs, below MAX_ADDRESS_HOURS).
      let end = Math.min(read.length, i + MAX_ADDRESS_HOURS);
      while (end < read.length && end > i && read[end]?.hour === read[end - 1]?.hour) end--;
      if (end === i) end = Math.min(read.length, i + MAX_ADDRESS_HOURS);
      for (const part of await store.conversationsOfAddressHours({ from, to }, read.slice(i, end))) parts.push(part);
      i = end;
    }
    return parts;
  };
  /** Server-end evidence of the rows the change-hour read replaces, attached to its parts without asking again. */
  const replacedEvidence = new Map<string, EndpointEvidence>();
  let replaced = 0;
  for await (const chunk of store.conversations({ range: { from, to }, splits, hourlyAddresses })) {
    aborted();
    if (changeParts === undefined && read.length > 0) {
      changeParts = readChanges();
      // Awaited after the stream; a failure meanwhile must not surface as an unhandled rejection.
      changeParts.catch(() => undefined);
    }
    for (const row of chunk) {
      flowsSeen += row.flows;
      const hour = row.hour;
      const clientChange = hour === undefined ? undefined : changes.get(row.client)?.get(hour);
      const serverChange = hour === undefined ? undefined : changes.get(row.server)?.get(hour);
      if (clientChange !== undefined || serverChange !== undefined) {
        if (clientChange === true || serverChange === true) {
          replacedEvidence.set(`${row.server}|${row.proto}|${row.servicePort}`, row.serverEvidence);
          replaced++;
          continue;
        }
        undrilled++;
        fold(row);
      } else if (needsDrillDown(row) && ambiguousKeys + drillKeyCount(row) <= MAX_DRILLED) {
        ambiguous.push(row);
        ambiguousKeys += drillKeyCount(row);
      } else {
        if (needsDrillDown(row)) undrilled++;
        fold(row);
      }
    }
    conversations += chunk.length;
    if (performance.now() - lastReport > 500) {
      lastReport = performance.now();
      const share = totals.flows > 0 ? Math.min(1, flowsSeen / totals.flows) : 1;
      await report({ stage: 'conversations', percent: Math.round(5 + 75 * share), conversations, flows: flowsSeen });
    }
  }
  lap('conversations');
  let drilled = 0;
  if (ambiguous.length > 0 || changeParts !== undefined) {
    await report({ stage: 'conversations', percent: 80, conversations, flows: flowsSeen });
    drilled = await drillDown(store, { from, to }, ambiguous, fold, false);
    if (changeParts !== undefined) drilled += await foldParts(store, { from, to }, await changeParts, replacedEvidence, fold);
    lap('drill-down');
  }
  await report({ stage: 'graph', percent: 82, conversations, flows: flowsSeen });

  const nodeOf = (id: number): GroupNodeAttributes => {
    const group = resolver.group(id);
    const values = Object.values(group.labels);
    const label = values.length > 0 ? values.join(' ') : group.subnet !== undefined ? `${group.group ?? 'unlabeled'} ${group.subnet}` : (group.group ?? group.workload ?? group.key);
    return {
      key: group.key,
      kind: group.kind,
      labels: { ...group.labels },
      ...(group.group === undefined ? {} : { group: group.group }),
      ...(group.subnet === undefined ? {} : { subnet: group.subnet }),
      ...(group.workload === undefined ? {} : { workload: group.workload }),
      label,
      hosts: groupHosts.get(id)?.size ?? 0,
      flowsIn: 0,
      flowsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
    };
  };
  const nodes = new Map<number, GroupNodeAttributes>();
  const node = (id: number): GroupNodeAttributes => {
    let attributes = nodes.get(id);
    if (attributes === undefined) nodes.set(id, (attributes = nodeOf(id)));
    return attributes;
  };
  const edgeList: { key: string; source: string; target: string; attributes: DependencyEdgeAttributes }[] = [];
  let totalFlows = 0;
  let totalBytes = 0;
  let totalPackets = 0;
  const sorted = [...edges].sort((a, b) => b.bytes - a.bytes || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const e of sorted) {
    const source = node(e.from);
    const target = node(e.to);
    source.flowsOut += e.flows;
    source.bytesOut += e.bytes;
    target.flowsIn += e.flows;
    target.bytesIn += e.bytes;
    totalFlows += e.flows;
    totalBytes += e.bytes;
    totalPackets += e.packets;
    const rules = Object.fromEntries(ORIENTATION_RULES.map((r, i) => [r, e.rules[i] ?? 0])) as Record<OrientationRule, number>;
    const attributes: DependencyEdgeAttributes = {
      id: e.id,
      from: source.key,
      to: target.key,
      proto: e.proto,
      protocol: protocolName(e.proto),
      port: e.port,
      flows: e.flows,
      bytes: e.bytes,
      packets: e.packets,
      rejectedFlows: e.rejected,
      daysSeen: popcount(e.days),
      firstSeen: iso(e.first),
      lastSeen: iso(e.last + HOUR - 1),
      hourOfDay: [...e.hourOfDay],
      dayOfWeek: [...e.dayOfWeek],
      clientHosts: e.clients.size,
      serverHosts: e.servers.size,
      clientShare: round(e.clients.size / Math.max(1, groupHosts.get(e.from)?.size ?? 0)),
      serverShare: round(e.servers.size / Math.max(1, groupHosts.get(e.to)?.size ?? 0)),
      orientation: { rules, flipped: e.flipped },
    };
    edgeList.push({ key: e.id, source: source.key, target: target.key, attributes });
  }
  // graphology holds the graph (the analyzer's later steps walk it); what is stored and downloaded is its serialisation.
  const graph = new MultiDirectedGraph<GroupNodeAttributes, DependencyEdgeAttributes, Record<string, unknown>>({ allowSelfLoops: true });
  graph.replaceAttributes({ from: iso(from), to: iso(to), groupBy: [...params.groupBy] });
  for (const attributes of [...nodes.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) graph.addNode(attributes.key, attributes);
  for (const e of edgeList) graph.addDirectedEdgeWithKey(e.key, e.source, e.target, e.attributes);
  const serialized = graph.export() as unknown as SerializedBaselineGraph;
  lap('graph');
  await report({ stage: 'hosts', percent: 85, conversations, flows: flowsSeen });

  const hostRows: BaselineHostRow[] = [];
  for (const e of edges) {
    for (const h of e.hosts.values()) {
      hostRows.push({
        edge: e.id,
        client: addressTexts[h.client] as string,
        server: addressTexts[h.server] as string,
        proto: e.proto,
        port: e.port,
        flows: h.flows,
        bytes: h.bytes,
        packets: h.packets,
        firstSeen: h.first,
        lastSeen: h.last + HOUR - 1,
        daysSeen: popcount(h.days),
        rule: ruleOf(h.rules),
      });
    }
  }
  lap('hosts');
  const orientation = Object.fromEntries(ORIENTATION_RULES.map((r, i) => [r, summaryRules[i] ?? 0])) as Record<OrientationRule, number>;
  const summary: BaselineSummary = {
    groups: graph.order,
    edges: graph.size,
    hostPairs: hostRows.length,
    flows: totalFlows,
    bytes: totalBytes,
    packets: totalPackets,
    conversations,
    flipped,
    orientation,
    drilledConversations: ambiguous.length + replaced,
    drilledRows: drilled,
    undrilledConversations: undrilled,
  };
  return { graph: serialized, summary, hosts: hostRows, timings };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function badParams(message: string, details: Record<string, unknown>): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_REQUEST', message, { status: 400, details });
}
