// Cilium (cilium.io/v2) export: one CiliumNetworkPolicy per (target group, namespace) selecting the
// group's pods by label, with one ingress rule per flowmap rule, and per namespace a default deny
// (`endpointSelector: {}` with `ingress: [{}]`: every endpoint enters default-deny, nothing allowed).
//
// Sources: pods by label plus `k8s:io.kubernetes.pod.namespace`, addresses as `fromCIDR` (resolved
// at export time), the internet as the `world` entity, which is everything outside the cluster —
// private addresses of VMs outside it included. Limits (reported in `skipped`): only targets with
// pods; TCP, UDP and SCTP only (Cilium matches ICMP by type, and flowmap's ICMP rules name none);
// a source with neither pods nor addresses is skipped rather than written as a rule without one.
import { flowmapMetadata, namespacedTargets, yamlStream, type Manifest } from './manifests.js';
import { isKubernetesLabel, kubernetesName } from './names.js';
import { headerLines, isPodGroup, oneLine, portProblem, type Rendered } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

const NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';
const PROTOCOLS: Readonly<Record<string, string>> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };
/** The CRD's limit on ports per toPorts entry. */
const MAX_PORTS = 40;

type IngressRule = Record<string, unknown>;

function labelProblem(group: ExportGroup): string | undefined {
  for (const [key, value] of Object.entries(group.labels)) {
    if (!isKubernetesLabel(key, value)) return `label ${oneLine(key, 80)}=${oneLine(value, 80)} of ${group.name} is not a valid Kubernetes label`;
  }
  return undefined;
}

function peers(source: ExportGroup): IngressRule | string {
  if (source.kind === 'internet') return { fromEntities: ['world'] };
  if (source.namespaces.length > 0) {
    if (!isPodGroup(source)) return `source ${source.name} has pods but no labels to select them by`;
    const problem = labelProblem(source);
    if (problem !== undefined) return problem;
    return { fromEndpoints: [...source.namespaces].sort().map((ns) => ({ matchLabels: { ...source.labels, [NAMESPACE_LABEL]: ns } })) };
  }
  const cidrs = [...source.v4, ...source.v6];
  if (cidrs.length === 0) return `source ${source.name} has no addresses at export time; a rule without a source would admit everyone`;
  return { fromCIDR: cidrs };
}

function ingress(rule: ExportRule): IngressRule | string {
  const target = rule.to;
  if (target.namespaces.length === 0) return `target ${target.name} has no Kubernetes pods (no namespaces)`;
  if (!isPodGroup(target)) return `target ${target.name} has no labels to select its pods by`;
  const problem = labelProblem(target) ?? portProblem(rule);
  if (problem !== undefined) return problem;
  const protocol = PROTOCOLS[rule.protocol];
  if (protocol === undefined) return `Cilium port rules match TCP, UDP and SCTP only (ICMP by type), not ${rule.protocol}`;
  const from = peers(rule.from);
  if (typeof from === 'string') return from;
  // Port "0" is Cilium's "every port of the protocol".
  const ports =
    rule.ports.length === 0
      ? [{ port: '0', protocol }]
      : rule.ports.map((p) => (typeof p === 'number' ? { port: String(p), protocol } : { port: String(p.first), endPort: p.last, protocol }));
  const toPorts: { ports: typeof ports }[] = [];
  for (let i = 0; i < ports.length; i += MAX_PORTS) toPorts.push({ ports: ports.slice(i, i + MAX_PORTS) });
  return { ...from, toPorts };
}

export function renderCilium(input: ExportInput): Rendered {
  const { namespaces, targets, skipped } = namespacedTargets(input, ingress);
  const manifests: Manifest[] = [];
  for (const namespace of namespaces) {
    manifests.push({
      object: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: flowmapMetadata('flowmap-default-deny', namespace, input.policy),
        spec: { endpointSelector: {}, ingress: [{}] },
      },
      comments: [{ path: ['spec'], text: 'Default deny: an empty ingress rule puts every endpoint of the namespace in default-deny.' }],
    });
    for (const policy of targets(namespace)) {
      manifests.push({
        object: {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNetworkPolicy',
          metadata: flowmapMetadata(kubernetesName(`flowmap-${policy.group.name}`), namespace, input.policy),
          spec: {
            description: oneLine(`flowmap: ingress allowed to ${policy.group.key}`, 200),
            endpointSelector: { matchLabels: { ...policy.group.labels } },
            ingress: policy.rules.map((r) => r.ingress),
          },
        },
        comments: policy.rules.map((r, i) => ({ path: ['spec', 'ingress', i], text: `${r.rule.id}: ${oneLine(r.rule.comment, 200)}` })),
      });
    }
  }

  const header = headerLines(
    input,
    'Cilium policy (cilium.io/v2 CiliumNetworkPolicy): apply with `kubectl apply -f`.',
    ['Ingress only; fromCIDR addresses are those the inventory held at export time.', 'The internet is the world entity: everything outside the cluster.'],
    skipped,
  );
  return { text: yamlStream(header, manifests), skipped };
}
