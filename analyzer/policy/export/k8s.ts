// Kubernetes NetworkPolicy (networking.k8s.io/v1) export: one allow policy per (target group,
// namespace) whose podSelector is the group's labels, with one ingress rule per flowmap rule, and a
// default-deny policy (`podSelector: {}`, Ingress) in every namespace a group of the export is in.
//
// Limits, all reported in `skipped` and in the file's header:
// - only targets with pods (namespaces and labels) can be selected; VM and external targets are not;
// - NetworkPolicy matches TCP, UDP and SCTP only: ICMP and other protocols are skipped;
// - sources are pods (namespaceSelector + podSelector) or addresses (ipBlock, resolved at export
//   time); a source with neither is skipped, since an ingress rule without peers admits everyone;
// - the policies are ingress only: egress stays open.
import { flowmapMetadata, namespacedTargets, yamlStream, type Manifest } from './manifests.js';
import { isKubernetesLabel, kubernetesName } from './names.js';
import { headerLines, isPodGroup, oneLine, portProblem, PRIVATE_V4, PRIVATE_V6, type Rendered } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

const NAMESPACE_LABEL = 'kubernetes.io/metadata.name';
const PROTOCOLS: Readonly<Record<string, string>> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

type Peer = Record<string, unknown>;
interface Ingress {
  from: Peer[];
  ports: Record<string, unknown>[];
}

function labelProblem(group: ExportGroup): string | undefined {
  for (const [key, value] of Object.entries(group.labels)) {
    if (!isKubernetesLabel(key, value)) return `label ${oneLine(key, 80)}=${oneLine(value, 80)} of ${group.name} is not a valid Kubernetes label`;
  }
  return undefined;
}

/** The `from` peers of a source, or why it has none. */
function peers(source: ExportGroup): Peer[] | string {
  if (source.kind === 'internet') {
    return [{ ipBlock: { cidr: '0.0.0.0/0', except: [...PRIVATE_V4] } }, { ipBlock: { cidr: '::/0', except: [...PRIVATE_V6] } }];
  }
  if (source.namespaces.length > 0) {
    if (!isPodGroup(source)) return `source ${source.name} has pods but no labels to select them by`;
    const problem = labelProblem(source);
    if (problem !== undefined) return problem;
    return [...source.namespaces].sort().map((ns) => ({ namespaceSelector: { matchLabels: { [NAMESPACE_LABEL]: ns } }, podSelector: { matchLabels: { ...source.labels } } }));
  }
  const cidrs = [...source.v4, ...source.v6];
  if (cidrs.length === 0) return `source ${source.name} has no addresses at export time; an ingress rule without peers would admit every source`;
  return cidrs.map((cidr) => ({ ipBlock: { cidr } }));
}

function ingress(rule: ExportRule): Ingress | string {
  const target = rule.to;
  if (target.namespaces.length === 0) return `target ${target.name} has no Kubernetes pods (no namespaces)`;
  if (!isPodGroup(target)) return `target ${target.name} has no labels to select its pods by`;
  const problem = labelProblem(target) ?? portProblem(rule);
  if (problem !== undefined) return problem;
  const protocol = PROTOCOLS[rule.protocol];
  if (protocol === undefined) return `NetworkPolicy matches TCP, UDP and SCTP only, not ${rule.protocol}`;
  const from = peers(rule.from);
  if (typeof from === 'string') return from;
  const ports =
    rule.ports.length === 0
      ? [{ protocol }]
      : rule.ports.map((p) => (typeof p === 'number' ? { protocol, port: p } : { protocol, port: p.first, endPort: p.last }));
  return { from, ports };
}

export function renderKubernetes(input: ExportInput): Rendered {
  const { namespaces, targets, skipped } = namespacedTargets(input, ingress);
  const manifests: Manifest[] = [];
  for (const namespace of namespaces) {
    manifests.push({
      object: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: flowmapMetadata('flowmap-default-deny', namespace, input.policy),
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      },
      comments: [{ path: ['spec'], text: 'Default deny: pods of this namespace accept only what the flowmap policies below allow.' }],
    });
    for (const policy of targets(namespace)) {
      manifests.push({
        object: {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: flowmapMetadata(kubernetesName(`flowmap-${policy.group.name}`), namespace, input.policy, { 'flowmap.io/group': policy.group.key }),
          spec: { podSelector: { matchLabels: { ...policy.group.labels } }, policyTypes: ['Ingress'], ingress: policy.rules.map((r) => r.ingress) },
        },
        comments: policy.rules.map((r, i) => ({ path: ['spec', 'ingress', i], text: `${r.rule.id}: ${oneLine(r.rule.comment, 200)}` })),
      });
    }
  }

  const header = headerLines(
    input,
    'Kubernetes NetworkPolicy (networking.k8s.io/v1): apply with `kubectl apply -f`.',
    [
      'Ingress only; addresses (ipBlock) are those the inventory held at export time.',
      'ICMP and protocols other than TCP, UDP and SCTP cannot be expressed; nor can targets without pods.',
    ],
    skipped,
  );
  return { text: yamlStream(header, manifests), skipped };
}
