// Test helpers for baselines against the simulator (issue 8): load an estate into a store the way
// a collector would have stored it, and judge a baseline's graph two independent ways —
//   - against the scenario's declared truth (intended + undocumented dependencies, noise aside):
//     precision and recall of edges at the truth's granularity;
//   - against an oracle computed here from the generated records themselves: each record's true
//     server side (the generator's `server_side`) and the workload that held each address at the
//     record's time (the simulator's own address intervals), folded into group edges with flow
//     counts. It shares no code with the analyzer, the inventory resolver or the store.
import { createServicePorts } from '../collector/service-ports.js';
import { orientBatch } from '../collector/orientation.js';
import { flowBatchOf, type FlowRecord } from '../core/flow.js';
import { formatAddress } from '../core/ip.js';
import { applyImport, parseInventory } from '../inventory/index.js';
import type { DependencyEdgeAttributes, SerializedBaselineGraph } from '../analyzer/baseline/index.js';
import { inventoryJson, kubectlPodsJson, type SimulatedEstate, type TruthEdge, type TruthNoise, type TruthSelector } from '../simulator/index.js';
import type { Store } from '../store/index.js';

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

/**
 * Stores the estate's flows as a collector would: the generator's orientation is thrown away and
 * the collector's ingest-time guess (collector/orientation.ts) is made again; then listener
 * evidence is recorded for the window and the inventory files are imported.
 */
export async function loadEstate(
  store: Store,
  estate: SimulatedEstate,
  options: { batch?: number; onRecords?: (records: readonly FlowRecord[]) => void; filter?: (record: FlowRecord) => boolean; compact?: boolean } = {},
): Promise<{ flows: number }> {
  const servicePorts = createServicePorts();
  const size = options.batch ?? 100_000;
  let pending: FlowRecord[] = [];
  let flows = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = flowBatchOf(pending.map((r) => ({ ...r, server_side: 'unknown' })));
    orientBatch(batch, servicePorts);
    await store.insertFlows(batch);
    flows += pending.length;
    pending = [];
  };
  for (const chunk of estate.flows()) {
    options.onRecords?.(chunk);
    const filter = options.filter;
    for (const record of chunk) if (filter === undefined || filter(record)) pending.push(record);
    if (pending.length >= size) await flush();
  }
  await flush();
  await store.recordListenerEvidence(estate.window);
  // What the listener-evidence job does for finished days (analyzer/evidence.ts); bench/baseline.ts times it apart.
  if (options.compact !== false) await store.compactDays(estate.window);
  const importedAt = estate.window.to;
  await applyImport(store, parseInventory(inventoryJson(estate)), { source: 'simulator:inventory.json', importedAt });
  const pods = kubectlPodsJson(estate);
  if (pods !== undefined) await applyImport(store, parseInventory(pods), { source: 'simulator:kubectl', importedAt });
  return { flows };
}

const v4 = (text: string): number => text.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
const inCidr = (address: number, cidr: string): boolean => {
  const [net, bits] = cidr.split('/') as [string, string];
  const length = Number(bits);
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return ((address & mask) >>> 0) === ((v4(net) & mask) >>> 0);
};
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8'];

/** Group keys of an estate's addresses at a time, from the simulator's own workload intervals. */
export class EstateGroups {
  private readonly intervals = new Map<string, { from: number; to: number; labels: Record<string, string> }[]>();

  constructor(
    private readonly estate: SimulatedEstate,
    private readonly groupBy: readonly string[],
  ) {
    for (const w of estate.workloads) {
      for (const a of w.addresses) {
        const list = this.intervals.get(a.address) ?? [];
        list.push({ from: a.from, to: a.to ?? Infinity, labels: w.labels });
        this.intervals.set(a.address, list);
      }
    }
  }

  labelsKey(labels: Readonly<Record<string, string>>): string {
    return this.groupBy.filter((k) => labels[k] !== undefined).map((k) => `${k}=${labels[k]}`).join(',');
  }

  keyOf(address: string, time: number): string {
    const held = this.intervals.get(address)?.find((i) => i.from <= time && time < i.to);
    if (held !== undefined) return this.labelsKey(held.labels);
    const n = v4(address);
    for (const e of this.estate.externals ?? []) if (inCidr(n, e.cidr)) return `group=${e.name}`;
    if (PRIVATE.some((c) => inCidr(n, c))) return `group=unlabeled,subnet=${address.split('.').slice(0, 3).join('.')}.0/24`;
    return 'group=internet';
  }

  /** The key a truth selector names, or undefined for a CIDR that is not a named external range. */
  selectorKey(selector: TruthSelector): string | undefined {
    if ('group' in selector && typeof selector.group === 'string') return `group=${selector.group}`;
    if ('cidr' in selector && typeof selector.cidr === 'string') {
      const named = (this.estate.externals ?? []).find((e) => e.cidr === selector.cidr);
      return named === undefined ? undefined : `group=${named.name}`;
    }
    return this.labelsKey(selector);
  }
}

export type EdgeFlows = Map<string, number>;
export const edgeKey = (from: string, to: string, proto: number, port: number): string => `${from} -> ${to} ${proto}/${port}`;

/**
 * The oracle: flows per group edge from the records themselves, under the generator's orientation
 * and the owner of each address at the record's time; fed chunk by chunk (`loadEstate`'s onRecords).
 */
export class Oracle {
  readonly edges: EdgeFlows = new Map();
  constructor(private readonly groups: EstateGroups) {}

  add(records: readonly FlowRecord[]): void {
    const { edges: out, groups } = this;
    for (const r of records) {
      const serverIsSrc = r.server_side === 'src';
      const client = formatAddress(serverIsSrc ? r.dst_addr : r.src_addr);
      const server = formatAddress(serverIsSrc ? r.src_addr : r.dst_addr);
      const port = serverIsSrc ? r.src_port : r.dst_port;
      const key = edgeKey(groups.keyOf(client, r.time_received), groups.keyOf(server, r.time_received), r.proto ?? 0, port ?? 0);
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
}

export function graphEdges(graph: SerializedBaselineGraph, where: (e: DependencyEdgeAttributes) => boolean = () => true): EdgeFlows {
  const out: EdgeFlows = new Map();
  for (const { attributes: e } of graph.edges) if (where(e)) out.set(edgeKey(e.from, e.to, e.proto, e.port), e.flows);
  return out;
}

const portMatches = (ports: TruthEdge['ports'], port: number): boolean => (Array.isArray(ports) ? ports.includes(port) : port >= ports.first && port <= ports.last);

export interface TruthScore {
  truthEdges: number;
  found: number;
  observed: number;
  truePositives: number;
  noise: number;
  falsePositives: DependencyEdgeAttributes[];
  missed: TruthEdge[];
  precision: number;
  recall: number;
}

/**
 * Precision and recall of the graph's edges against the declared truth. An observed edge is a true
 * positive when a truth edge has its groups, protocol and a port that matches (rpc-dynamic: the
 * range); noise when only a noise entry explains it (scans, one-off sessions, rejected probes,
 * SaaS egress); otherwise a false positive — a reversed edge, a wrong group or an invented port.
 */
export function scoreAgainstTruth(graph: SerializedBaselineGraph, estate: SimulatedEstate, groups: EstateGroups, scannerKey?: string): TruthScore {
  const truth = [...estate.truth.intended, ...estate.truth.undocumented];
  const matchedTruth = new Set<TruthEdge>();
  const falsePositives: DependencyEdgeAttributes[] = [];
  let truePositives = 0;
  let noise = 0;
  const matches = (t: TruthEdge | TruthNoise, e: DependencyEdgeAttributes): boolean => {
    if (PROTOCOLS[t.protocol] !== e.proto || !portMatches(t.ports, e.port)) return false;
    const from = groups.selectorKey(t.from);
    const to = groups.selectorKey(t.to);
    const fromOk = from === undefined ? scannerKey !== undefined && e.from === scannerKey : e.from === from;
    return fromOk && (to === undefined || e.to === to);
  };
  for (const { attributes: e } of graph.edges) {
    const hits = truth.filter((t) => matches(t, e));
    if (hits.length > 0) {
      truePositives++;
      for (const t of hits) matchedTruth.add(t);
    } else if (estate.truth.noise.some((n) => matches(n, e))) {
      noise++;
    } else {
      falsePositives.push(e);
    }
  }
  const observed = truePositives + falsePositives.length;
  return {
    truthEdges: truth.length,
    found: matchedTruth.size,
    observed,
    truePositives,
    noise,
    falsePositives,
    missed: truth.filter((t) => !matchedTruth.has(t)),
    precision: observed === 0 ? 0 : truePositives / observed,
    recall: truth.length === 0 ? 1 : matchedTruth.size / truth.length,
  };
}
