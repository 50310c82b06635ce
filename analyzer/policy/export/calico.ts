// Calico (projectcalico.org/v3) export, applied with `calicoctl apply -f` or, where the v3 API is
// served, `kubectl apply -f`. Targets with pods get a namespaced NetworkPolicy per namespace; other
// label and workload targets (host endpoints carrying the same labels) a GlobalNetworkPolicy. Both
// allow at order 100; one GlobalNetworkPolicy at order 1000 then denies all other ingress to every
// governed target (lower order is evaluated first, Allow and Deny end evaluation).
//
// Sources are pods (selector plus namespaceSelector) or addresses (`nets`, resolved at export time,
// one rule per IP family since a Calico rule carries one ipVersion); the internet is `0.0.0.0/0` and
// `::/0` with the private ranges as `notNets`. Limits (reported in `skipped`): targets that are
// addresses (cidr, external, internet) select no Calico endpoint; a source with neither pods nor
// addresses is skipped rather than written as a rule without a source, which would admit everyone.
import { flowmapMetadata, yamlStream, type Manifest } from './manifests.js';
import { kubernetesName } from './names.js';
import { byName, enforcedRules, icmpFamily, headerLines, isPodGroup, oneLine, portProblem, portText, PRIVATE_V4, PRIVATE_V6, protocolNumber, type Rendered } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

const ALLOW_ORDER = 100;
const DENY_ORDER = 1000;
/** The CRD's limits (maxItems) on an EntityRule's nets and ports and on a policy's rules. */
const MAX_NETS = 256;
const MAX_PORTS = 50;
const MAX_RULES = 1024;

type CalicoRule = Record<string, unknown>;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out.length === 0 ? [[]] : out;
}

function quote(value: string): string | undefined {
  if (!value.includes("'")) return `'${value}'`;
  return value.includes('"') ? undefined : `"${value}"`;
}

/** `app == 'shop' && tier == 'web'` (Calico selector syntax), or why the labels cannot be written. */
function labelSelector(labels: Record<string, string>, extra: [string, string][] = []): string | { problem: string } {
  const terms: string[] = [];
  for (const [key, value] of [...extra, ...Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))]) {
    const quoted = quote(value);
    if (!/^[A-Za-z0-9_./-]+$/.test(key) || quoted === undefined) return { problem: `label ${oneLine(key, 80)}=${oneLine(value, 80)} cannot be written in a Calico selector` };
    terms.push(`${key} == ${quoted}`);
  }
  return terms.join(' && ');
}

function namespaceSelector(namespaces: readonly string[]): string {
  const sorted = [...namespaces].sort();
  return sorted.length === 1 ? `projectcalico.org/name == '${sorted[0]}'` : `projectcalico.org/name in {${sorted.map((n) => `'${n}'`).join(', ')}}`;
}

/** Calico's protocol field: a name it knows, else the IANA number. */
function calicoProtocol(protocol: string): string | number | undefined {
  const names: Record<string, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP', icmp: 'ICMP', icmpv6: 'ICMPv6', 'ipv6-icmp': 'ICMPv6' };
  return names[protocol] ?? protocolNumber(protocol);
}

/** The source halves of a rule: one per IP family for addresses, one for pods. */
function sources(source: ExportGroup): { source: Record<string, unknown>; ipVersion?: 4 | 6 }[] | string {
  if (source.kind === 'internet') {
    return [
      { source: { nets: ['0.0.0.0/0'], notNets: [...PRIVATE_V4] }, ipVersion: 4 },
      { source: { nets: ['::/0'], notNets: [...PRIVATE_V6] }, ipVersion: 6 },
    ];
  }
  if (source.namespaces.length > 0) {
    if (!isPodGroup(source)) return `source ${source.name} has pods but no labels to select them by`;
    const selector = labelSelector(source.labels);
    if (typeof selector !== 'string') return selector.problem;
    return [{ source: { selector, namespaceSelector: namespaceSelector(source.namespaces) } }];
  }
  const out: { source: Record<string, unknown>; ipVersion: 4 | 6 }[] = [];
  for (const [ipVersion, cidrs] of [[4, source.v4], [6, source.v6]] as const) {
    for (const nets of chunks(cidrs, MAX_NETS)) if (nets.length > 0) out.push({ source: { nets }, ipVersion });
  }
  if (out.length === 0) return `source ${source.name} has no addresses at export time; a rule without a source would admit everyone`;
  return out;
}

function calicoRules(rule: ExportRule): CalicoRule[] | string {
  const problem = portProblem(rule);
  if (problem !== undefined) return problem;
  const protocol = calicoProtocol(rule.protocol);
  if (protocol === undefined) return `Calico has no protocol ${rule.protocol}`;
  const from = sources(rule.from);
  if (typeof from === 'string') return from;
  // ICMP is IPv4 and ICMPv6 IPv6 only: address sources of the other family have nothing to match.
  const family = icmpFamily(rule.protocol);
  const usable = from.filter((f) => family === undefined || f.ipVersion === undefined || f.ipVersion === family);
  if (usable.length === 0) return `${rule.protocol} is IPv${family} only and source ${rule.from.name} has no IPv${family} addresses`;
  const metadata = { annotations: { 'flowmap.io/rule': rule.id, 'flowmap.io/comment': oneLine(rule.comment, 200) } };
  const out: CalicoRule[] = [];
  for (const { source, ipVersion } of usable) {
    for (const ports of chunks(rule.ports.map((p) => (typeof p === 'number' ? p : portText(p, ':'))), MAX_PORTS)) {
      out.push({
        metadata,
        action: 'Allow',
        protocol,
        ...(ipVersion === undefined ? (family === undefined ? {} : { ipVersion: family }) : { ipVersion }),
        source,
        ...(ports.length === 0 ? {} : { destination: { ports } }),
      });
    }
  }
  return out;
}

export function renderCalico(input: ExportInput): Rendered {
  const { rules, skipped } = enforcedRules(input);
  // Policy name + namespace ('' for global) -> its target and rules.
  const policies = new Map<string, { group: ExportGroup; namespace?: string; selector: string; rules: { id: string; rule: CalicoRule }[] }>();
  // Every selectable target is denied by default, also when all its rules are skipped.
  const governed = new Map<string, string>();
  for (const rule of rules) {
    const target = rule.to;
    if (target.kind !== 'labels' && target.kind !== 'workload') {
      skipped.push({ rule: rule.id, reason: `target ${target.name} is addresses (${target.kind}), not Calico endpoints to select` });
      continue;
    }
    const selector = Object.keys(target.labels).length === 0 ? { problem: `target ${target.name} has no labels to select it by` } : labelSelector(target.labels);
    if (typeof selector !== 'string') {
      skipped.push({ rule: rule.id, reason: selector.problem });
      continue;
    }
    const namespaces = target.namespaces.length > 0 ? [...target.namespaces].sort() : [undefined];
    for (const ns of namespaces) {
      const scoped = ns === undefined ? selector : labelSelector(target.labels, [['projectcalico.org/namespace', ns]]);
      if (typeof scoped === 'string') governed.set(`${ns ?? ''}\u0000${target.name}`, scoped);
    }
    const written = calicoRules(rule);
    if (typeof written === 'string') {
      skipped.push({ rule: rule.id, reason: written });
      continue;
    }
    for (const ns of namespaces) {
      const key = `${ns ?? ''}\u0000${target.name}`;
      const policy = policies.get(key) ?? { group: target, ...(ns === undefined ? {} : { namespace: ns }), selector, rules: [] };
      if (policy.rules.length + written.length > MAX_RULES) {
        skipped.push({ rule: rule.id, reason: `the policy of ${target.name} would exceed Calico's ${MAX_RULES} rules` });
        break;
      }
      for (const r of written) policy.rules.push({ id: rule.id, rule: r });
      policies.set(key, policy);
    }
  }

  const manifests: Manifest[] = [];
  const ordered = [...policies.values()].sort((a, b) => (a.namespace ?? '').localeCompare(b.namespace ?? '') || byName(a.group, b.group));
  for (const policy of ordered) {
    const name = kubernetesName(`flowmap-${policy.group.name}`);
    manifests.push({
      object: {
        apiVersion: 'projectcalico.org/v3',
        kind: policy.namespace === undefined ? 'GlobalNetworkPolicy' : 'NetworkPolicy',
        metadata: flowmapMetadata(name, policy.namespace, input.policy),
        spec: { order: ALLOW_ORDER, selector: policy.selector, types: ['Ingress'], ingress: policy.rules.map((r) => r.rule) },
      },
      comments: policy.rules.map((r, i) => ({ path: ['spec', 'ingress', i], text: r.id })),
    });
  }
  if (governed.size > 0) {
    const selectors = [...governed.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => `(${s})`);
    manifests.push({
      object: {
        apiVersion: 'projectcalico.org/v3',
        kind: 'GlobalNetworkPolicy',
        metadata: flowmapMetadata('flowmap-default-deny', undefined, input.policy),
        spec: { order: DENY_ORDER, selector: selectors.join(' || '), types: ['Ingress'], ingress: [{ action: 'Deny' }] },
      },
      comments: [{ path: ['spec'], text: 'Default deny for every target of the policy, after the allows above (order 100).' }],
    });
  }

  const header = headerLines(
    input,
    'Calico policy (projectcalico.org/v3): apply with `calicoctl apply -f`.',
    ['Ingress only; source addresses (nets) are those the inventory held at export time.', 'Targets without pods are selected through host endpoints carrying the same labels.'],
    skipped,
  );
  return { text: yamlStream(header, manifests), skipped };
}
