// The recommendation (issue 9): from a baseline, a default-deny policy whose allow rules are in
// label terms, one per (client group, server group, protocol, port set), each with its evidence
// and a confidence that says what it is made of.
//
// A dependency becomes a rule when it is documented by an intent, or when it was seen on at least
// `minDays` distinct days (default 3) in at least `minFlows` accepted flows (default 2). Never:
//   - a scan's edges, edges whose every flow a cloud firewall rejected, spread high ports
//     (observe.ts) — whatever the days;
//   - `any → any`: every rule names two groups (a label map, a cidr, a named group);
//   - a client's ephemeral port: ports are the server's service ports the baseline oriented, and a
//     pair spreading over many rarely-seen high ports gets no rule;
//   - a port range, except the RPC dynamic range after tcp/135, which is flagged `dynamic-range`.
// Traffic inside a group gets its own explicit rules, flagged `intra-group`; a policy never
// allows a group to itself implicitly. Intents (or ports of intents) nobody used in the window stay
// as rules flagged `unobserved` (a documented dependency that runs quarterly must not be blocked by
// a 28-day view).
//
// Confidence = 0.4 × regularity (days seen out of the days its weekdays occur in the window)
//            + 0.2 × days seen out of the window
//            + 0.2 × share of the two groups' hosts involved
//            + 0.2 × volume (log10 flows / 4, capped at 1);
// at least 0.9 when documented. Cost: O(E log E) over the baseline's E edges.
import type { BaselineRecord, GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';
import { classify, fanOuts, type Classification } from './classify.js';
import { documenting } from './intents.js';
import { observe, type Observation, type Observed } from './observe.js';
import { dependencyHash, isExternalSelector, maxOf, minOf, PORTED_PROTOCOLS, portsKey, selectorKey, selectorOfNode, sortPorts, type Externals } from './selectors.js';
import type { Category, Intent, PolicyRule, PortSpec, Protocol, Recommendation, RecommendParameters, RuleFlag, Selector } from './types.js';

export const DEFAULT_PARAMETERS: RecommendParameters = { minDays: 3, minFlows: 2, minDynamicPorts: 1 };


export function ruleId(from: Selector, to: Selector, protocol: Protocol, ports: readonly PortSpec[]): string {
  return `r-${dependencyHash(from, to, protocol, ports)}`;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** A dependency judged: its classification, the intents that document it, whether it is a rule. */
export interface Judged {
  observed: Observed;
  classification: Classification;
  intents: Intent[];
  rule: boolean;
  /** Why not, when it is no rule. */
  excluded?: keyof Recommendation['excluded'];
}

export interface Analysis {
  observation: Observation;
  judged: Judged[];
  parameters: RecommendParameters;
}

/** Observes, classifies and judges every dependency of a baseline. */
export function analyze(graph: SerializedBaselineGraph, window: { from: number; to: number }, intents: readonly Intent[], parameters: RecommendParameters = DEFAULT_PARAMETERS, externals?: Externals): Analysis {
  const nodes = new Map(graph.nodes.map((n) => [n.key, n.attributes]));
  const observation = observe(graph, window, parameters.minDays, (e) => {
    const from = nodes.get(e.from);
    const to = nodes.get(e.to);
    return from !== undefined && to !== undefined && documenting(intents, from, to, e.protocol, [e.port], externals).length > 0;
  });
  const fan = fanOuts(observation.dependencies);
  const judged: Judged[] = observation.dependencies.map((o) => {
    const classification = classify(o, fan);
    const ports = portsOf(o);
    const docs = documenting(intents, o.from, o.to, o.protocol, ports, externals);
    let excluded: Judged['excluded'];
    if (o.kind === 'scan') excluded = 'scanner';
    else if (o.kind === 'rejected') excluded = 'rejected';
    else if (o.kind === 'ephemeral' && docs.length === 0) excluded = 'ephemeral-port';
    else if (o.kind === 'dynamic-range' && o.edges.length < parameters.minDynamicPorts && docs.length === 0) excluded = 'below-threshold';
    else if (docs.length === 0 && (o.daysSeen < parameters.minDays || o.flows < parameters.minFlows)) excluded = 'below-threshold';
    return { observed: o, classification, intents: docs, rule: excluded === undefined, ...(excluded === undefined ? {} : { excluded }) };
  });
  return { observation, judged, parameters };
}

function portsOf(o: Observed): PortSpec[] {
  return PORTED_PROTOCOLS.has(o.protocol) ? o.ports : [];
}

/** The weekdays' occurrences in the window: how many days a dependency with this weekday profile could have been seen. */
function expectedDays(dayOfWeek: readonly number[], window: { from: number; to: number }): number {
  let n = 0;
  for (let t = window.from; t < window.to; t += 86_400) {
    const weekday = (new Date(t * 1000).getUTCDay() + 6) % 7;
    if ((dayOfWeek[weekday] ?? 0) > 0) n++;
  }
  return Math.max(1, n);
}

interface RuleParts {
  from: GroupNodeAttributes;
  to: GroupNodeAttributes;
  protocol: string;
  judged: Judged[];
  ports: PortSpec[];
  documented: boolean;
  dynamic: boolean;
}

function confidence(parts: RuleParts, window: { from: number; to: number }, windowDays: number): { confidence: number; reasons: string[] } {
  const flows = parts.judged.reduce((n, j) => n + j.observed.flows, 0);
  const daysSeen = maxOf(parts.judged, (j) => j.observed.daysSeen);
  const dayOfWeek = new Array<number>(7).fill(0);
  for (const j of parts.judged) for (let d = 0; d < 7; d++) dayOfWeek[d] = (dayOfWeek[d] ?? 0) + (j.observed.dayOfWeek[d] ?? 0);
  const expected = expectedDays(dayOfWeek, window);
  const regularity = Math.min(1, daysSeen / expected);
  const daysShare = Math.min(1, daysSeen / Math.max(1, windowDays));
  const clientShare = maxOf(parts.judged, (j) => j.observed.clientShare);
  const serverShare = maxOf(parts.judged, (j) => j.observed.serverShare);
  const hostShare = (clientShare + serverShare) / 2;
  const volume = flows <= 1 ? 0 : Math.min(1, Math.log10(flows) / 4);
  let score = 0.4 * regularity + 0.2 * daysShare + 0.2 * hostShare + 0.2 * volume;
  const reasons = [
    `seen on ${daysSeen} of ${windowDays} days`,
    `regular: ${daysSeen} of the ${expected} days its weekdays occur in the window`,
    `${Math.round(clientShare * 100)} % of the client group's hosts and ${Math.round(serverShare * 100)} % of the server group's`,
    `${flows.toLocaleString('en-US')} flows`,
  ];
  if (parts.documented) {
    const ids = [...new Set(parts.judged.flatMap((j) => j.intents.map((i) => i.id)))];
    reasons.unshift(`documented by intent ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ` and ${ids.length - 3} more` : ''}`);
    score = Math.max(score, 0.9);
  }
  if (parts.dynamic) reasons.push('a dynamic port range (RPC after the tcp/135 endpoint mapper): the ports are handed out per call');
  return { confidence: Number(score.toFixed(3)), reasons };
}

function ruleOf(parts: RuleParts, categoryOf: (j: Judged) => Category | 'intended', window: { from: number; to: number }, windowDays: number): PolicyRule {
  const from = selectorOfNode(parts.from);
  const to = selectorOfNode(parts.to);
  const ports = sortPorts(parts.ports);
  const o = parts.judged.map((j) => j.observed);
  const flags: RuleFlag[] = [];
  if (parts.dynamic) flags.push('dynamic-range');
  if (parts.from.key === parts.to.key) flags.push('intra-group');
  if (isExternalSelector(from) || isExternalSelector(to)) flags.push('external');
  const { confidence: c, reasons } = confidence(parts, window, windowDays);
  // The category of the rule: its ports' categories, the first by the order the ports sort in.
  const category = parts.documented ? 'intended' : categoryOf(parts.judged[0] as Judged);
  return {
    id: ruleId(from, to, parts.protocol, ports),
    from,
    to,
    protocol: parts.protocol,
    ports,
    confidence: c,
    reasons,
    evidence: {
      flows: o.reduce((n, x) => n + x.flows, 0),
      bytes: o.reduce((n, x) => n + x.bytes, 0),
      daysSeen: maxOf(o, (x) => x.daysSeen),
      firstSeen: iso(minOf(o, (x) => x.firstSeen)),
      lastSeen: iso(maxOf(o, (x) => x.lastSeen)),
      clientHosts: maxOf(o, (x) => x.clientHosts),
      serverHosts: maxOf(o, (x) => x.serverHosts),
      edges: o.reduce((n, x) => n + x.edges.length, 0),
    },
    documented: parts.documented,
    category,
    flags,
  };
}

/** The entries of an intent's ports some observed dependency it documents used (by index). */
function coveredEntries(intent: Intent, ports: readonly PortSpec[]): number[] {
  if (intent.ports.length === 0) return [];
  return intent.ports.flatMap((q, index) => {
    const hit = ports.some((p) => (typeof q === 'number' ? p === q : typeof p === 'number' ? p >= q.first && p <= q.last : p.first >= q.first && p.last <= q.last));
    return hit ? [index] : [];
  });
}

/**
 * Rules for what intents document and no rule of the window allows: an intent nobody used, or the
 * ports of one nobody used (an intent for 5432 and 6432 of which only 5432 was seen). Kept in the
 * intent's own selectors, flagged `unobserved`.
 */
function unobservedRules(intents: readonly Intent[], used: ReadonlyMap<string, ReadonlySet<number>>): PolicyRule[] {
  return intents
    .flatMap((intent) => {
      const covered = used.get(intent.id);
      if (covered === undefined) return [intent];
      if (intent.ports.length === 0) return [];
      const rest = intent.ports.filter((_, index) => !covered.has(index));
      return rest.length === 0 ? [] : [{ ...intent, ports: rest }];
    })
    .map((i) => {
      const flags: RuleFlag[] = ['unobserved'];
      if (selectorKey(i.from) === selectorKey(i.to)) flags.push('intra-group');
      if (isExternalSelector(i.from) || isExternalSelector(i.to)) flags.push('external');
      return {
        id: ruleId(i.from, i.to, i.protocol, i.ports),
        from: i.from,
        to: i.to,
        protocol: i.protocol,
        ports: i.ports,
        confidence: 0.9,
        reasons: [`documented by intent ${i.id}`, 'not observed in the window: kept so that the policy does not block a documented dependency'],
        evidence: { flows: 0, bytes: 0, daysSeen: 0 },
        documented: true,
        category: 'intended' as const,
        flags,
      };
    });
}

/**
 * The recommended policy for a baseline. Rules merge the ports of one (client, server, protocol)
 * that are alike — all documented or all not, service ports or the dynamic range — and are sorted
 * by client, server, protocol, ports.
 */
export function recommend(record: BaselineRecord, graph: SerializedBaselineGraph, intents: readonly Intent[], options: { parameters?: Partial<RecommendParameters>; externals?: Externals; now?: Date } = {}): { recommendation: Recommendation; analysis: Analysis } {
  const parameters = { ...DEFAULT_PARAMETERS, ...options.parameters };
  const window = { from: record.params.from, to: record.params.to };
  const analysis = analyze(graph, window, intents, parameters, options.externals);
  const windowDays = analysis.observation.windowDays;
  const excluded: Recommendation['excluded'] = { 'below-threshold': 0, scanner: 0, rejected: 0, 'ephemeral-port': 0 };
  const groups = new Map<string, RuleParts>();
  const used = new Map<string, Set<number>>();
  for (const j of analysis.judged) {
    if (!j.rule) {
      excluded[j.excluded ?? 'below-threshold']++;
      continue;
    }
    for (const i of j.intents) {
      const entries = used.get(i.id) ?? new Set<number>();
      for (const index of coveredEntries(i, j.observed.ports)) entries.add(index);
      used.set(i.id, entries);
    }
    const o = j.observed;
    const documented = j.intents.length > 0;
    const dynamic = o.kind === 'dynamic-range';
    const key = `${o.from.key}\u0000${o.to.key}\u0000${o.protocol}\u0000${documented}\u0000${dynamic}`;
    const parts = groups.get(key) ?? { from: o.from, to: o.to, protocol: o.protocol, judged: [], ports: [], documented, dynamic };
    parts.judged.push(j);
    parts.ports.push(...portsOf(o));
    groups.set(key, parts);
  }
  const rules = [...groups.values()].map((p) => ruleOf(p, (j) => j.classification.category, window, windowDays));
  rules.push(...unobservedRules(intents, used).filter((r) => !rules.some((x) => x.id === r.id)));
  rules.sort((a, b) => compare(selectorKey(a.from), selectorKey(b.from)) || compare(selectorKey(a.to), selectorKey(b.to)) || compare(a.protocol, b.protocol) || compare(portsKey(a.ports), portsKey(b.ports)));
  const recommendation: Recommendation = {
    id: `rec-${record.id}`,
    baseline: record.id,
    groupBy: [...record.params.groupBy],
    defaultAction: 'deny',
    window: { from: iso(window.from), to: iso(window.to), days: windowDays },
    parameters,
    rules,
    excluded,
    generatedAt: (options.now ?? new Date()).toISOString(),
  };
  return { recommendation, analysis };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
