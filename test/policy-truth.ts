// Test helpers for recommendations against the simulator (issue 9): judge a recommended policy's
// rules against the scenario's declared truth, independently of the analyzer's matching code.
//
// A rule is justified when a truth dependency (intended or undocumented) has the same two
// selectors (the truth writes them at app,env like the rules; a named external group is compared
// by its CIDR), the same protocol, and covers each of its ports (a range only by the same range).
// Rules that only SaaS egress noise explains are counted apart (`egress`): the simulator calls
// egress noise because it is not a dependency inside the estate, but it is regular traffic a
// default-deny policy must allow. Everything else is a false positive.
import type { Finding, PolicyRule, PortSpec, Selector } from '../analyzer/policy/index.js';
import type { SimulatedEstate, TruthEdge, TruthNoise, TruthSelector } from '../simulator/index.js';

const canonical = (s: TruthSelector | Selector, estate: SimulatedEstate): string => {
  const record = s as Record<string, string>;
  const named = record.group === undefined ? undefined : (estate.externals ?? []).find((e) => e.name === record.group);
  const value: Record<string, string> = named === undefined ? record : { cidr: named.cidr };
  return JSON.stringify(Object.keys(value).sort().map((k) => [k, value[k]]));
};

const covers = (truth: TruthEdge['ports'], port: PortSpec): boolean => {
  if (typeof port === 'number') return Array.isArray(truth) ? truth.includes(port) : port >= truth.first && port <= truth.last;
  return !Array.isArray(truth) && truth.first === port.first && truth.last === port.last;
};

const samePair = (t: TruthEdge | TruthNoise, rule: PolicyRule, estate: SimulatedEstate): boolean =>
  t.protocol === rule.protocol && canonical(t.from, estate) === canonical(rule.from, estate) && canonical(t.to, estate) === canonical(rule.to, estate);

/** Every port of the rule is covered by one of the entries (rules merge the ports of one pair; the truth lists them one by one). */
function explains(entries: readonly (TruthEdge | TruthNoise)[], rule: PolicyRule, estate: SimulatedEstate): boolean {
  const pair = entries.filter((t) => samePair(t, rule, estate));
  return rule.ports.length > 0 && rule.ports.every((p) => pair.some((t) => covers(t.ports, p)));
}

export interface RuleScore {
  rules: number;
  justified: number;
  egress: number;
  falsePositives: PolicyRule[];
  /** Intended dependencies no rule allows. */
  missed: TruthEdge[];
  /** Undocumented truth dependencies no rule allows (the recommendation should allow real regular traffic). */
  missedUndocumented: TruthEdge[];
  precision: number;
  recall: number;
}

export function scoreRules(rules: readonly PolicyRule[], estate: SimulatedEstate): RuleScore {
  const truth = [...estate.truth.intended, ...estate.truth.undocumented];
  const egressNoise = estate.truth.noise.filter((n) => n.kind === 'internet-egress');
  let justified = 0;
  let egress = 0;
  const falsePositives: PolicyRule[] = [];
  for (const rule of rules) {
    if (explains(truth, rule, estate)) justified++;
    else if (explains(egressNoise, rule, estate)) egress++;
    else falsePositives.push(rule);
  }
  const allowedBy = (t: TruthEdge): boolean => {
    const ports: PortSpec[] = Array.isArray(t.ports) ? t.ports : [t.ports];
    return ports.every((p) => rules.some((r) => samePair(t, r, estate) && r.ports.some((q) => (typeof p === 'number' ? (typeof q === 'number' ? q === p : p >= q.first && p <= q.last) : typeof q !== 'number' && q.first <= p.first && q.last >= p.last))));
  };
  const missed = estate.truth.intended.filter((t) => !allowedBy(t));
  const missedUndocumented = estate.truth.undocumented.filter((t) => !allowedBy(t));
  const judged = justified + falsePositives.length;
  return {
    rules: rules.length,
    justified,
    egress,
    falsePositives,
    missed,
    missedUndocumented,
    precision: judged === 0 ? 0 : justified / judged,
    recall: estate.truth.intended.length === 0 ? 1 : (estate.truth.intended.length - missed.length) / estate.truth.intended.length,
  };
}

/** Undocumented truth dependencies whose finding is missing or has another category. */
export function categoryMismatches(findings: readonly Finding[], estate: SimulatedEstate): string[] {
  const out: string[] = [];
  for (const t of estate.truth.undocumented) {
    const ports: PortSpec[] = Array.isArray(t.ports) ? t.ports : [t.ports];
    const f = findings.find(
      (x) =>
        x.kind === 'undocumented' &&
        x.protocol === t.protocol &&
        canonical(x.from, estate) === canonical(t.from, estate) &&
        canonical(x.to, estate) === canonical(t.to, estate) &&
        JSON.stringify(x.ports) === JSON.stringify(ports),
    );
    if (f?.category !== t.category) out.push(`${JSON.stringify(t.from)} -> ${JSON.stringify(t.to)} ${t.protocol}/${JSON.stringify(t.ports)}: truth ${t.category}, finding ${f === undefined ? 'none' : f.category}`);
  }
  return out;
}

/** Rules on a port at or above 32768 that are not the flagged dynamic range, nor a service port the truth names for that pair. */
export function ephemeralRules(rules: readonly PolicyRule[], estate: SimulatedEstate): PolicyRule[] {
  const truth = [...estate.truth.intended, ...estate.truth.undocumented];
  return rules.filter((r) =>
    r.ports.some((p) => {
      if (typeof p !== 'number') return !r.flags.includes('dynamic-range');
      if (p < 32768) return false;
      return !truth.some((t) => samePair(t, r, estate) && Array.isArray(t.ports) && t.ports.includes(p));
    }),
  );
}

/** Rules that allow a truth dependency backwards (server group to client group on its service port). */
export function reversedRules(rules: readonly PolicyRule[], estate: SimulatedEstate): PolicyRule[] {
  const truth = [...estate.truth.intended, ...estate.truth.undocumented];
  return rules.filter(
    (r) =>
      !explains(truth, r, estate) &&
      truth.some((t) => t.protocol === r.protocol && canonical(t.to, estate) === canonical(r.from, estate) && canonical(t.from, estate) === canonical(r.to, estate) && r.ports.some((p) => covers(t.ports, p))),
  );
}
