// Builds a baseline report (issue 10): from one completed baseline and what the store holds beside
// it (the previous baseline, intents, policies), the six sections a security team reads weekly —
// the dependency map's summary, the top dependencies, what is new since the last baseline, the
// findings by category, how much of the window's traffic the active policies allow, and how far
// they cut the blast radius. Every number comes from the baseline and policy stages' own
// functions (diffBaselines, findingsFor, simulatePolicy, blastFor); this module only picks,
// caps and labels.
//
// Cost: O(N + E log E) over the baseline graph's N groups and E edges, plus one findings run,
// one recommendation and one audit simulation per active policy (each reads the stored baseline
// when the policy's granularity is the baseline's, else replays the window's flows).
import { createHash } from 'node:crypto';
import type { GroupKind } from '../../inventory/index.js';
import type { Store } from '../../store/index.js';
import {
  diffBaselines,
  listRecords,
  requireGraph,
  requireRecord,
  type BaselineRecord,
  type BaselineSettings,
  type DependencyEdgeAttributes,
  type SerializedBaselineGraph,
} from '../baseline/index.js';
import {
  blastFor,
  blastRadius,
  CATEGORIES,
  describePorts,
  describeSelector,
  externalsOf,
  FINDING_KINDS,
  findingsFor,
  listPolicies,
  recommendationFor,
  SEVERITIES,
  simulatePolicy,
  type BlastRadius,
  type Category,
  type Finding,
  type FindingKind,
  type Policy,
  type Recommendation,
  type Severity,
  type SimulationResult,
} from '../policy/index.js';
import {
  REPORT_LIMITS,
  REPORT_SCHEMA_VERSION,
  type BaselineReport,
  type ReportBlastRadius,
  type ReportCoverage,
  type ReportDependency,
  type ReportEdgeChange,
  type ReportFindings,
  type ReportGroup,
  type ReportNewSinceLast,
  type ReportPolicyCoverage,
  type ReportPolicyCoverageSection,
  type ReportSummarySection,
  type ReportTopDependencies,
} from './types.js';

const DAY = 86_400;
const GROUP_KINDS: readonly GroupKind[] = ['labels', 'workload', 'internet', 'external', 'unlabeled'];

export interface BuildReportOptions {
  /** A baseline id, or `latest` (the default): the newest completed baseline. */
  baseline?: string;
  /** Generation time (epoch milliseconds); default now. */
  now?: number;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
/** Shares are kept to four decimals, as blast radius keeps its reductions. */
const share = (part: number, whole: number): number | null => (whole === 0 ? null : Number((part / whole).toFixed(4)));
const compareText = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

export function reportId(baseline: string, generatedAt: string): string {
  return `rp-${createHash('sha1').update(JSON.stringify([baseline, generatedAt])).digest('hex').slice(0, 16)}`;
}

/** Labels of every group of the given graphs (the first graph that has a group names it). */
function labelsOf(...graphs: SerializedBaselineGraph[]): (key: string) => string {
  const labels = new Map<string, string>();
  for (const graph of graphs) for (const n of graph.nodes) if (!labels.has(n.key)) labels.set(n.key, n.attributes.label);
  return (key) => labels.get(key) ?? key;
}

function summarise(record: BaselineRecord, graph: SerializedBaselineGraph): ReportSummarySection {
  const fanIn = new Map<string, Set<string>>();
  const fanOut = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, key: string, other: string): void => {
    const set = map.get(key);
    if (set === undefined) map.set(key, new Set([other]));
    else set.add(other);
  };
  let rejectedFlows = 0;
  for (const { attributes: e } of graph.edges) {
    rejectedFlows += e.rejectedFlows;
    if (e.from === e.to) continue;
    add(fanOut, e.from, e.to);
    add(fanIn, e.to, e.from);
  }
  const groups: ReportGroup[] = graph.nodes.map(({ attributes: n }) => ({
    key: n.key,
    label: n.label,
    kind: n.kind,
    hosts: n.hosts,
    flowsIn: n.flowsIn,
    flowsOut: n.flowsOut,
    bytesIn: n.bytesIn,
    bytesOut: n.bytesOut,
    fanIn: fanIn.get(n.key)?.size ?? 0,
    fanOut: fanOut.get(n.key)?.size ?? 0,
  }));
  const groupsByKind = Object.fromEntries(GROUP_KINDS.map((k) => [k, 0])) as Record<GroupKind, number>;
  for (const g of groups) groupsByKind[g.kind]++;
  const s = record.summary;
  return {
    groups: graph.nodes.length,
    edges: graph.edges.length,
    hostPairs: s?.hostPairs ?? 0,
    flows: s?.flows ?? graph.edges.reduce((n, e) => n + e.attributes.flows, 0),
    bytes: s?.bytes ?? graph.edges.reduce((n, e) => n + e.attributes.bytes, 0),
    packets: s?.packets ?? 0,
    conversations: s?.conversations ?? 0,
    rejectedFlows,
    groupsByKind,
    largestByHosts: [...groups].sort((a, b) => b.hosts - a.hosts || compareText(a.key, b.key)).slice(0, REPORT_LIMITS.groups),
    largestByTraffic: [...groups].sort((a, b) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut) || compareText(a.key, b.key)).slice(0, REPORT_LIMITS.groups),
  };
}

function dependencyOf(e: DependencyEdgeAttributes, label: (key: string) => string): ReportDependency {
  return {
    id: e.id,
    from: e.from,
    fromLabel: label(e.from),
    to: e.to,
    toLabel: label(e.to),
    proto: e.proto,
    protocol: e.protocol,
    port: e.port,
    flows: e.flows,
    bytes: e.bytes,
    daysSeen: e.daysSeen,
    clientHosts: e.clientHosts,
    serverHosts: e.serverHosts,
    firstSeen: e.firstSeen,
    lastSeen: e.lastSeen,
  };
}

function topDependencies(graph: SerializedBaselineGraph, label: (key: string) => string): ReportTopDependencies {
  const edges = graph.edges.map((e) => e.attributes);
  const limit = REPORT_LIMITS.dependencies;
  const byBytes = [...edges].sort((a, b) => b.bytes - a.bytes || b.flows - a.flows || compareText(a.id, b.id)).slice(0, limit);
  const byFlows = [...edges].sort((a, b) => b.flows - a.flows || b.bytes - a.bytes || compareText(a.id, b.id)).slice(0, limit);
  return { limit, byBytes: byBytes.map((e) => dependencyOf(e, label)), byFlows: byFlows.map((e) => dependencyOf(e, label)) };
}

/** The newest completed baseline before this one at the same granularity (what findings call drift against). */
async function previousOf(store: Store, record: BaselineRecord): Promise<BaselineRecord | undefined> {
  const groupBy = record.params.groupBy.join(',');
  const earlier = (await listRecords(store.meta, { status: 'completed' })).filter((r) => r.id !== record.id && r.params.to < record.params.to && r.params.groupBy.join(',') === groupBy);
  earlier.sort((a, b) => b.params.to - a.params.to || compareText(b.completedAt ?? '', a.completedAt ?? ''));
  return earlier[0];
}

async function newSinceLast(store: Store, record: BaselineRecord, graph: SerializedBaselineGraph): Promise<ReportNewSinceLast> {
  const limit = REPORT_LIMITS.changes;
  const previous = await previousOf(store, record);
  if (previous === undefined) {
    return {
      previous: null,
      note: `There is no previous completed baseline at granularity ${record.params.groupBy.join(',')} before this one, so nothing is compared; the next baseline will be compared with this one.`,
      summary: null,
      added: [],
      removed: [],
      newPorts: [],
      volume: [],
      addedGroups: [],
      removedGroups: [],
      limit,
    };
  }
  const before = await requireGraph(store.meta, previous);
  // Volume is compared per day of window, so baselines of different lengths compare fairly.
  const diff = diffBaselines(before, graph, { aSeconds: previous.params.to - previous.params.from, bSeconds: record.params.to - record.params.from });
  const after = labelsOf(graph, before);
  const gone = labelsOf(before, graph);
  const change = (e: { id: string; from: string; to: string; proto: number; protocol: string; port: number; flows: number; bytes: number }, label: (key: string) => string): ReportEdgeChange => ({
    id: e.id,
    from: e.from,
    fromLabel: label(e.from),
    to: e.to,
    toLabel: label(e.to),
    proto: e.proto,
    protocol: e.protocol,
    port: e.port,
    flows: e.flows,
    bytes: e.bytes,
  });
  // The largest changes first: a reader looks at the new dependency that carries traffic.
  const byFlows = <T extends { flows: number; id: string }>(x: T, y: T): number => y.flows - x.flows || compareText(x.id, y.id);
  const s = diff.summary;
  return {
    previous: { id: previous.id, window: { from: iso(previous.params.from), to: iso(previous.params.to) } },
    note: `Compared with baseline ${previous.id} (${iso(previous.params.from)} to ${iso(previous.params.to)}): ${s.added} new ${s.added === 1 ? 'dependency' : 'dependencies'}, ${s.removed} vanished, ${s.newPorts} new port set${s.newPorts === 1 ? '' : 's'} between groups that already talked, ${s.volume} volume change${s.volume === 1 ? '' : 's'} of ±50 % or more per day.`,
    summary: s,
    added: [...diff.added].sort(byFlows).slice(0, limit).map((e) => change(e, after)),
    removed: [...diff.removed].sort(byFlows).slice(0, limit).map((e) => change(e, gone)),
    newPorts: diff.newPorts.slice(0, limit).map((p) => ({ from: p.from, fromLabel: after(p.from), to: p.to, toLabel: after(p.to), protocol: p.protocol, ports: p.ports })),
    volume: diff.volume.slice(0, limit).map((v) => ({ ...change(v.edge, after), flowsBefore: v.flowsBefore, flowsAfter: v.flowsAfter, bytesBefore: v.bytesBefore, bytesAfter: v.bytesAfter, change: v.change })),
    addedGroups: diff.addedGroups.slice(0, limit),
    removedGroups: diff.removedGroups.slice(0, limit),
    limit,
  };
}

const zeros = <K extends string>(keys: readonly K[]): Record<K, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

function summariseFindings(findings: readonly Finding[]): ReportFindings {
  const byKind = zeros<FindingKind>(FINDING_KINDS);
  const byCategory = zeros<Category>(CATEGORIES);
  const bySeverity = zeros<Severity>(SEVERITIES);
  const rows = new Map<string, ReportFindings['rows'][number]>();
  for (const f of findings) {
    byKind[f.kind]++;
    bySeverity[f.severity]++;
    if (f.category !== undefined) byCategory[f.category]++;
    const name = f.category ?? f.kind;
    let row = rows.get(name);
    if (row === undefined) {
      row = { name, ...(f.category === undefined ? { kind: f.kind } : { category: f.category }), total: 0, bySeverity: zeros<Severity>(SEVERITIES) };
      rows.set(name, row);
    }
    row.total++;
    row.bySeverity[f.severity]++;
  }
  // Categories in their catalogue order, then the kinds that carry none.
  const order = [...CATEGORIES, ...FINDING_KINDS] as readonly string[];
  return {
    total: findings.length,
    byKind,
    byCategory,
    bySeverity,
    rows: [...rows.values()].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name)),
    // findingsFor returns them most severe first.
    top: findings.slice(0, REPORT_LIMITS.findings).map((f) => ({
      id: f.id,
      kind: f.kind,
      ...(f.category === undefined ? {} : { category: f.category }),
      severity: f.severity,
      from: describeSelector(f.from),
      to: describeSelector(f.to),
      service: describePorts(f.protocol, f.ports),
      flows: f.evidence.flows,
      explanation: f.explanation,
      ...(f.allowed === undefined ? {} : { allowed: f.allowed }),
    })),
  };
}

/** A policy is active when some environment has it in audit or enforced. */
export function isActive(policy: Policy): boolean {
  return policy.rollout.some((s) => s.state === 'audit' || s.state === 'enforced');
}

/** The recommendation as an unstored policy, to replay and to bound the blast radius with. */
function asPolicy(recommendation: Recommendation, at: string): Policy {
  return {
    id: recommendation.id,
    name: `recommendation of ${recommendation.baseline}`,
    version: 1,
    baseline: recommendation.baseline,
    groupBy: recommendation.groupBy,
    defaultAction: 'deny',
    rules: recommendation.rules,
    exceptions: [],
    rollout: [],
    origin: 'recommendation',
    createdAt: at,
    updatedAt: at,
  };
}

function coverageOf(result: SimulationResult, label: (key: string) => string): ReportCoverage {
  const t = result.totals;
  return {
    totalFlows: t.flows,
    allowedFlows: t.allowedFlows,
    blockedFlows: t.blockedFlows,
    alreadyRejectedFlows: t.alreadyRejectedFlows,
    coverage: share(t.allowedFlows, t.flows),
    blockedEdges: t.blockedEdges,
    unusedRules: result.unusedRules.length,
    unused: result.unusedRules.slice(0, REPORT_LIMITS.unusedRules).map((r) => ({ id: r.id, kind: r.kind, from: describeSelector(r.from), to: describeSelector(r.to), service: describePorts(r.protocol, r.ports) })),
    blocked: result.blocked.slice(0, REPORT_LIMITS.blocked).map((b) => ({ from: b.from, fromLabel: label(b.from), to: b.to, toLabel: label(b.to), protocol: b.protocol, port: b.port, flows: b.flows, scan: b.scan })),
    source: result.source?.kind ?? 'flows',
  };
}

const percent = (value: number | null): string => (value === null ? 'n/a' : `${(value * 100).toFixed(1)} %`);

async function policyCoverage(
  store: Store,
  settings: BaselineSettings,
  record: BaselineRecord,
  active: readonly Policy[],
  recommendation: Policy,
  label: (key: string) => string,
  now: Date,
): Promise<ReportPolicyCoverageSection> {
  const window = { from: record.params.from, to: record.params.to };
  const policies: ReportPolicyCoverage[] = [];
  for (const p of active.slice(0, REPORT_LIMITS.policies)) {
    const result = await simulatePolicy(store, settings, p, window, { now });
    policies.push({
      id: p.id,
      name: p.name,
      version: p.version,
      rules: p.rules.length,
      groupBy: p.groupBy,
      active: p.rollout.filter((s) => s.state !== 'draft').map((s) => ({ env: s.env, state: s.state })),
      ...coverageOf(result, label),
    });
  }
  const recommended = { rules: recommendation.rules.length, ...coverageOf(await simulatePolicy(store, settings, recommendation, window, { now }), label) };
  const newest = policies[0];
  const note =
    newest === undefined
      ? `No policy is active (none is in audit or enforced in any environment), so coverage is not measured. The baseline's recommendation (${recommended.rules} rules) would allow ${percent(recommended.coverage)} of the window's flows.`
      : `${active.length} active ${active.length === 1 ? 'policy' : 'policies'}; the newest, "${newest.name}" (version ${newest.version}), allows ${percent(newest.coverage)} of the window's ${newest.totalFlows} flows and would block ${newest.blockedFlows}.`;
  return { activePolicies: active.length, coverage: newest?.coverage ?? null, note, policies, recommendation: recommended };
}

function blastSection(blast: BlastRadius, basis: ReportBlastRadius['basis'], label: (key: string) => string): ReportBlastRadius {
  return {
    basis,
    workloads: blast.workloads,
    totals: blast.totals,
    reduction: blast.reduction,
    observedReduction: blast.observedReduction,
    groups: blast.groups.slice(0, REPORT_LIMITS.blastGroups).map((g) => ({ group: g.group, label: label(g.group), hosts: g.hosts, flat: g.flat, observed: g.observed, policy: g.policy })),
  };
}

export async function buildReport(store: Store, settings: BaselineSettings, options: BuildReportOptions = {}): Promise<BaselineReport> {
  const now = new Date(options.now ?? Date.now());
  const generatedAt = now.toISOString();
  const record = await requireRecord(store.meta, options.baseline ?? 'latest');
  const graph = await requireGraph(store.meta, record);
  const label = labelsOf(graph);
  const { findings } = await findingsFor(store, settings, record.id, { now });
  const { recommendation } = await recommendationFor(store, settings, record.id);
  const recommended = asPolicy(recommendation, generatedAt);
  const active = (await listPolicies(store.meta)).filter(isActive);
  const newest = active[0];
  const blast =
    newest === undefined
      ? blastSection(blastRadius(graph, recommended, { externals: externalsOf(settings), now }), { kind: 'recommendation', rules: recommended.rules.length }, label)
      : blastSection(await blastFor(store, settings, record.id, newest.id), { kind: 'policy', id: newest.id, name: newest.name, version: newest.version }, label);
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    id: reportId(record.id, generatedAt),
    generatedAt,
    baseline: {
      id: record.id,
      window: { from: iso(record.params.from), to: iso(record.params.to), days: Math.round((record.params.to - record.params.from) / DAY) },
      groupBy: record.params.groupBy,
      ...(record.completedAt === undefined ? {} : { completedAt: record.completedAt }),
    },
    summary: summarise(record, graph),
    topDependencies: topDependencies(graph, label),
    newSinceLast: await newSinceLast(store, record, graph),
    findings: summariseFindings(findings),
    policyCoverage: await policyCoverage(store, settings, record, active, recommended, label, now),
    blastRadius: blast,
  };
}
