// Findings (issue 9, DESIGN.md §9): what an architect must look at, each with the evidence that
// put it there and a sentence that says why.
//
// - undocumented: an observed dependency no intent documents, with its category (classify.ts);
//   a scan is one finding per scanning group, not one per port. Whether the recommendation allows
//   it is said (`allowed`): real, regular undocumented traffic is allowed so that enforcing the
//   policy breaks nothing, and flagged here to be documented or removed.
// - drift: dependencies of this baseline the previous one (same granularity, earlier window) did
//   not have, and ones it had that are gone.
// - unused-rule: a rule of a policy in audit or enforced somewhere that no traffic of the
//   baseline used in the last `unusedDays` days (default 30; the baseline's window when shorter).
// - broad-rule: rules of a policy that open more than traffic justifies: a selector that matches
//   every group, a whole address family, a port range that is not a flagged dynamic range or that
//   covers clients' ephemeral ports, or ports the traffic never used.
// - expired-exception: an exception past its expiry (it no longer appears in exports).
//
// Severity: scanner high; undocumented crossing environments (staging → prod) high; undocumented
// application or management traffic into prod medium, elsewhere low; backup, monitoring,
// infrastructure and rpc-dynamic low (expected, but to be documented); drift and unused rules low;
// broad rules medium (high for any-to-any shapes); expired exceptions medium.
import { createHash } from 'node:crypto';
import type { BaselineDiff, DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';
import { classify, fanOuts } from './classify.js';
import { EPHEMERAL_FIRST, merge, type Scan } from './observe.js';
import type { Analysis, Judged } from './recommend.js';
import { EdgeIndex, GroupIndex } from './group-index.js';
import { describePorts, describeSelector, maxOf, portCount, portsKey, selectorKey, selectorOfNode, type Externals } from './selectors.js';
import type { Category, Finding, FindingKind, Policy, PolicyRule, PortSpec, Selector, Severity } from './types.js';

export const DEFAULT_UNUSED_DAYS = 30;
const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

export function findingId(kind: FindingKind, category: string | undefined, from: Selector, to: Selector, protocol: string, ports: readonly PortSpec[], extra = ''): string {
  const hash = createHash('sha1')
    .update(JSON.stringify([kind, category ?? '', selectorKey(from), selectorKey(to), protocol, portsKey(ports), extra]))
    .digest('hex')
    .slice(0, 12);
  return `f-${hash}`;
}

/** Environments of shared services: traffic from or to them crosses no application boundary. */
const SHARED_ENVS = new Set(['shared', 'common', 'global', 'infra', 'infrastructure', 'mgmt', 'management', 'core']);
const envOf = (node: GroupNodeAttributes): string | undefined => {
  const env = node.kind === 'labels' ? node.labels.env : undefined;
  return env === undefined || SHARED_ENVS.has(env) ? undefined : env;
};

function undocumentedSeverity(category: Category, from: GroupNodeAttributes, to: GroupNodeAttributes): Severity {
  if (category === 'scanner') return 'high';
  const a = envOf(from);
  const b = envOf(to);
  if (a !== undefined && b !== undefined && a !== b && (category === 'application' || category === 'management')) return 'high';
  if (category === 'application' || category === 'management') return b === 'prod' || b === 'production' ? 'medium' : 'low';
  return 'low';
}

function evidenceOf(j: Judged): Finding['evidence'] {
  const o = j.observed;
  return {
    flows: o.flows,
    bytes: o.bytes,
    daysSeen: o.daysSeen,
    firstSeen: iso(o.firstSeen),
    lastSeen: iso(o.lastSeen),
    clientHosts: o.clientHosts,
    serverHosts: o.serverHosts,
    edges: o.edges.length,
    rejectedFlows: o.rejectedFlows,
    hourOfDay: o.hourOfDay,
    dayOfWeek: o.dayOfWeek,
    ...j.classification.evidence,
  };
}

function undocumented(analysis: Analysis, baseline: string): Finding[] {
  const out: Finding[] = [];
  const { minDays } = analysis.parameters;
  for (const j of analysis.judged) {
    const o = j.observed;
    // Scans are reported whole below; rejected probes never reached anything.
    if (j.intents.length > 0 || o.kind === 'scan' || o.kind === 'rejected') continue;
    const from = selectorOfNode(o.from);
    const to = selectorOfNode(o.to);
    const category = j.classification.category;
    const ports = o.ports;
    const a = envOf(o.from);
    const b = envOf(o.to);
    const crossing = a !== undefined && b !== undefined && a !== b ? ` It crosses environments (${a} → ${b}).` : '';
    const allowed = j.rule
      ? ' The recommendation allows it (it is regular traffic): document it as an intent, or remove the dependency and the rule.'
      : ` The recommendation does not allow it (${j.excluded === 'ephemeral-port' ? 'spread over high ports a client would use' : `seen on ${o.daysSeen} day${o.daysSeen === 1 ? '' : 's'}, below the ${minDays}-day threshold`}): enforcing the policy would block it.`;
    out.push({
      id: findingId('undocumented', category, from, to, o.protocol, ports),
      kind: 'undocumented',
      category,
      from,
      to,
      protocol: o.protocol,
      ports,
      severity: undocumentedSeverity(category, o.from, o.to),
      evidence: evidenceOf(j),
      explanation: `${describeSelector(from)} → ${describeSelector(to)} ${describePorts(o.protocol, ports)} is not in the intents. ${capitalise(j.classification.why)}.${crossing}${allowed}`,
      allowed: j.rule,
      baseline,
    });
  }
  for (const s of analysis.observation.scans) out.push(scanFinding(s, baseline));
  return out;
}

function scanFinding(s: Scan, baseline: string): Finding {
  const from = selectorOfNode(s.from);
  const to: Selector = { group: 'any' };
  const rejectedShare = s.flows === 0 ? 0 : s.rejectedFlows / s.flows;
  return {
    id: findingId('undocumented', 'scanner', from, to, 'tcp', s.ports),
    kind: 'undocumented',
    category: 'scanner',
    from,
    to,
    protocol: [...new Set(s.edges.map((e) => e.protocol))].join(','),
    ports: s.ports,
    severity: 'high',
    evidence: {
      flows: s.flows,
      bytes: s.bytes,
      daysSeen: maxOf(s.edges, (e) => e.daysSeen),
      firstSeen: iso(s.firstSeen),
      lastSeen: iso(s.lastSeen),
      clientHosts: maxOf(s.edges, (e) => e.clientHosts),
      serverHosts: s.serverHosts,
      edges: s.edges.length,
      serverGroups: s.serverGroups,
      distinctPorts: s.ports.length,
      bytesPerFlow: s.flows === 0 ? 0 : Math.round(s.bytes / s.flows),
      rejectedShare: Number(rejectedShare.toFixed(3)),
    },
    explanation:
      `${describeSelector(from)} scanned ${s.serverHosts.toLocaleString('en-US')} host-ports in ${s.serverGroups} groups on ${s.ports.length} ports ` +
      `(${s.ports.slice(0, 12).join(', ')}${s.ports.length > 12 ? ', …' : ''}) between ${iso(s.firstSeen)} and ${iso(s.lastSeen)}, ` +
      `${s.flows === 0 ? 0 : Math.round(s.bytes / s.flows)} bytes per flow${rejectedShare > 0 ? `, ${Math.round(rejectedShare * 100)} % rejected` : ''}. No rule allows it; find out who runs it.`,
    allowed: false,
    baseline,
  };
}

function capitalise(text: string): string {
  return text.length === 0 ? text : text[0]?.toUpperCase() + text.slice(1);
}

/** Drift against the previous baseline: new dependencies (classified) and vanished ones. */
function drift(diff: BaselineDiff, current: SerializedBaselineGraph, previous: SerializedBaselineGraph, analysis: Analysis, baseline: string, previousId: string): Finding[] {
  const nodes = new Map<string, GroupNodeAttributes>();
  for (const n of previous.nodes) nodes.set(n.key, n.attributes);
  for (const n of current.nodes) nodes.set(n.key, n.attributes);
  const edges = new Map<string, DependencyEdgeAttributes>();
  for (const e of current.edges) edges.set(e.attributes.id, e.attributes);
  const fan = fanOuts(analysis.observation.dependencies);
  const scanned = new Set(analysis.observation.scans.flatMap((s) => s.edges.map((e) => e.id)));
  const out: Finding[] = [];
  for (const added of diff.added) {
    const edge = edges.get(added.id);
    const fromNode = nodes.get(added.from);
    const toNode = nodes.get(added.to);
    if (edge === undefined || fromNode === undefined || toNode === undefined || scanned.has(added.id)) continue;
    const observed = merge('service', [edge], nodes, [edge.port], analysis.observation.from);
    const c = classify(observed, fan);
    const from = selectorOfNode(fromNode);
    const to = selectorOfNode(toNode);
    out.push({
      id: findingId('drift', c.category, from, to, added.protocol, [added.port], 'added'),
      kind: 'drift',
      category: c.category,
      from,
      to,
      protocol: added.protocol,
      ports: [added.port],
      severity: c.category === 'application' || c.category === 'management' ? 'medium' : 'low',
      evidence: { flows: edge.flows, bytes: edge.bytes, daysSeen: edge.daysSeen, firstSeen: edge.firstSeen, lastSeen: edge.lastSeen, change: 'added', previousBaseline: previousId },
      explanation: `new since baseline ${previousId}: ${describeSelector(from)} → ${describeSelector(to)} ${added.protocol}/${added.port} (${edge.flows.toLocaleString('en-US')} flows from ${edge.firstSeen}). ${capitalise(c.why)}.`,
      baseline,
    });
  }
  for (const removed of diff.removed) {
    const fromNode = nodes.get(removed.from);
    const toNode = nodes.get(removed.to);
    if (fromNode === undefined || toNode === undefined) continue;
    const from = selectorOfNode(fromNode);
    const to = selectorOfNode(toNode);
    out.push({
      id: findingId('drift', undefined, from, to, removed.protocol, [removed.port], 'removed'),
      kind: 'drift',
      from,
      to,
      protocol: removed.protocol,
      ports: [removed.port],
      severity: 'info',
      evidence: { flows: removed.flows, bytes: removed.bytes, daysSeen: 0, change: 'removed', previousBaseline: previousId },
      explanation: `gone since baseline ${previousId}: ${describeSelector(from)} → ${describeSelector(to)} ${removed.protocol}/${removed.port} had ${removed.flows.toLocaleString('en-US')} flows there and none now; a rule for it may be removed.`,
      baseline,
    });
  }
  return out;
}

function unusedRules(policies: readonly Policy[], edges: EdgeIndex, window: { from: number; to: number }, unusedDays: number, baseline: string): Finding[] {
  const since = Math.max(window.from, window.to - unusedDays * 86_400);
  const days = Math.round((window.to - since) / 86_400);
  const out: Finding[] = [];
  for (const policy of policies) {
    const active = policy.rollout.filter((s) => s.state !== 'draft').map((s) => s.env);
    if (active.length === 0) continue;
    for (const rule of policy.rules) {
      const hits = edges.allowedBy(rule).filter((e) => Date.parse(e.lastSeen) / 1000 >= since);
      if (hits.length > 0) continue;
      out.push({
        id: findingId('unused-rule', undefined, rule.from, rule.to, rule.protocol, rule.ports, `${policy.id}:${rule.id}`),
        kind: 'unused-rule',
        from: rule.from,
        to: rule.to,
        protocol: rule.protocol,
        ports: rule.ports,
        severity: 'low',
        evidence: { flows: 0, bytes: 0, daysSeen: 0, unusedDays: days, activeIn: active, documented: rule.documented },
        explanation: `rule ${rule.id} of policy ${policy.id} (${active.join(', ')}: ${policy.rollout.filter((s) => s.state !== 'draft').map((s) => s.state).join(', ')}) allows ${describeSelector(rule.from)} → ${describeSelector(rule.to)} ${describePorts(rule.protocol, rule.ports)}, and nothing used it in the last ${days} days${rule.documented ? '; it is documented, so check the intent is still true' : '; remove it or document why it stays'}.`,
        baseline,
        policy: policy.id,
        rule: rule.id,
      });
    }
  }
  return out;
}

/** Why a rule opens more than it should, or undefined. */
export function broadness(rule: Pick<PolicyRule, 'from' | 'to' | 'protocol' | 'ports' | 'flags'>, edges: EdgeIndex | undefined): { severity: Severity; reasons: string[] } | undefined {
  const reasons: string[] = [];
  let severity: Severity = 'medium';
  const wide = (s: Selector): boolean => s.cidr !== undefined && /\/(\d+)$/.test(s.cidr) && Number(/\/(\d+)$/.exec(s.cidr)?.[1]) <= (s.cidr.includes(':') ? 16 : 8);
  if (wide(rule.from) && wide(rule.to)) {
    reasons.push('both sides are whole address blocks: an any-to-any rule');
    severity = 'high';
  } else if (wide(rule.to)) {
    reasons.push(`the server side ${rule.to.cidr} is a whole address block`);
  }
  const count = portCount(rule.ports);
  if (rule.ports.length === 0 && (rule.protocol === 'tcp' || rule.protocol === 'udp')) {
    reasons.push(`every ${rule.protocol} port is open`);
    severity = 'high';
  }
  const ranges = rule.ports.filter((p): p is { first: number; last: number } => typeof p !== 'number');
  if (ranges.length > 0 && !rule.flags.includes('dynamic-range')) reasons.push(`port range${ranges.length > 1 ? 's' : ''} ${ranges.map((r) => `${r.first}-${r.last}`).join(', ')} (${count.toLocaleString('en-US')} ports) without a dynamic-range reason`);
  if (ranges.some((r) => r.last >= EPHEMERAL_FIRST && r.first < EPHEMERAL_FIRST)) reasons.push('the range reaches into the ports clients use as ephemeral source ports');
  if (edges !== undefined) {
    const matchedFrom = edges.groups.matching(rule.from).length;
    const matchedTo = edges.groups.matching(rule.to).length;
    const hits = edges.allowedBy(rule);
    if (matchedTo >= 5 && matchedFrom >= 5) reasons.push(`it matches ${matchedFrom} client groups and ${matchedTo} server groups of the baseline`);
    const usedPorts = new Set(hits.map((e) => e.port));
    if (count > 1 && count <= 1024 && usedPorts.size < count && !rule.flags.includes('dynamic-range')) {
      const unused = rule.ports.filter((p): p is number => typeof p === 'number' && !usedPorts.has(p));
      if (unused.length > 0) reasons.push(`ports ${unused.slice(0, 10).join(', ')}${unused.length > 10 ? ', …' : ''} carried no traffic in the baseline`);
    }
  }
  return reasons.length === 0 ? undefined : { severity, reasons };
}

function broadRules(policies: readonly Policy[], edges: EdgeIndex | undefined, baseline: string | undefined): Finding[] {
  const out: Finding[] = [];
  for (const policy of policies) {
    for (const rule of policy.rules) {
      const broad = broadness(rule, edges);
      if (broad === undefined) continue;
      out.push({
        id: findingId('broad-rule', undefined, rule.from, rule.to, rule.protocol, rule.ports, `${policy.id}:${rule.id}`),
        kind: 'broad-rule',
        from: rule.from,
        to: rule.to,
        protocol: rule.protocol,
        ports: rule.ports,
        severity: broad.severity,
        evidence: { flows: rule.evidence.flows, bytes: rule.evidence.bytes, daysSeen: rule.evidence.daysSeen, reasons: broad.reasons, origin: policy.origin },
        explanation: `rule ${rule.id} of ${policy.origin === 'import' ? 'imported ' : ''}policy ${policy.id} is broader than the traffic: ${broad.reasons.join('; ')}.`,
        ...(baseline === undefined ? {} : { baseline }),
        policy: policy.id,
        rule: rule.id,
      });
    }
  }
  return out;
}

function expiredExceptions(policies: readonly Policy[], now: Date): Finding[] {
  const out: Finding[] = [];
  for (const policy of policies) {
    for (const x of policy.exceptions) {
      if (Date.parse(x.expires) > now.getTime()) continue;
      out.push({
        id: findingId('expired-exception', undefined, x.from, x.to, x.protocol, x.ports, `${policy.id}:${x.id}`),
        kind: 'expired-exception',
        from: x.from,
        to: x.to,
        protocol: x.protocol,
        ports: x.ports,
        severity: 'medium',
        evidence: { flows: 0, bytes: 0, daysSeen: 0, owner: x.owner, expires: x.expires, reason: x.reason, exception: x.id },
        explanation: `exception ${x.id} of policy ${policy.id} (owner ${x.owner}: ${x.reason}) expired at ${x.expires}; exports no longer include it. Renew it with a new expiry, make it a rule, or let the traffic be blocked.`,
        policy: policy.id,
      });
    }
  }
  return out;
}

export interface FindingsInput {
  baseline?: { id: string; window: { from: number; to: number }; graph: SerializedBaselineGraph; analysis: Analysis };
  previous?: { id: string; graph: SerializedBaselineGraph; diff: BaselineDiff };
  policies: readonly Policy[];
  unusedDays?: number;
  externals?: Externals;
  now?: Date;
}

/** Every finding, most severe first, then by kind, category and id. */
export function computeFindings(input: FindingsInput): Finding[] {
  const now = input.now ?? new Date();
  const out: Finding[] = [];
  const b = input.baseline;
  const edges = b === undefined ? undefined : new EdgeIndex(b.graph, new GroupIndex(b.graph.nodes.map((n) => n.attributes), input.externals));
  if (b !== undefined && edges !== undefined) {
    out.push(...undocumented(b.analysis, b.id));
    if (input.previous !== undefined) out.push(...drift(input.previous.diff, b.graph, input.previous.graph, b.analysis, b.id, input.previous.id));
    out.push(...unusedRules(input.policies, edges, b.window, input.unusedDays ?? DEFAULT_UNUSED_DAYS, b.id));
  }
  out.push(...broadRules(input.policies, edges, b?.id));
  out.push(...expiredExceptions(input.policies, now));
  return out.sort((x, y) => SEVERITY_ORDER[x.severity] - SEVERITY_ORDER[y.severity] || (x.kind < y.kind ? -1 : x.kind > y.kind ? 1 : 0) || ((x.category ?? '') < (y.category ?? '') ? -1 : (x.category ?? '') > (y.category ?? '') ? 1 : 0) || (x.id < y.id ? -1 : 1));
}
