// Kubernetes-style manifests (NetworkPolicy, Calico, Cilium) as one multi-document YAML stream:
// a `#` header, then `---` before every object, with a comment above each rule naming the flowmap
// rule it came from. Written as YAML 1.1 so that strings such as `yes`, `off` or `0755` come out
// quoted: kubectl's parser (go-yaml) would read them as booleans and octal numbers.
import YAML from 'yaml';
import { byName, enforcedRules, hashComment, type Skip } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

export interface Manifest {
  object: Record<string, unknown>;
  /** Comments placed above the nodes at these paths (e.g. `['spec', 'ingress', 0]`). */
  comments: { path: (string | number)[]; text: string }[];
}

export function yamlStream(header: readonly string[], manifests: readonly Manifest[]): string {
  let text = hashComment(header);
  for (const manifest of manifests) {
    const doc = new YAML.Document(manifest.object, { version: '1.1', aliasDuplicateObjects: false });
    for (const comment of manifest.comments) {
      const node = doc.getIn(comment.path, true);
      if (YAML.isNode(node)) node.commentBefore = ` ${comment.text}`;
    }
    text += `---\n${doc.toString({ lineWidth: 0 })}`;
  }
  return text;
}

/** Labels and annotations every flowmap object carries, so `kubectl get -l` finds and deletes them. */
export function flowmapMetadata(name: string, namespace: string | undefined, policy: { id: string; version: number }, annotations: Record<string, string> = {}): Record<string, unknown> {
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: { 'app.kubernetes.io/managed-by': 'flowmap' },
    annotations: { 'flowmap.io/policy': policy.id, 'flowmap.io/policy-version': String(policy.version), ...annotations },
  };
}

/** One namespaced policy: a target group in one namespace and the ingress rules that admit its clients. */
export interface NamespacedTarget<I> {
  group: ExportGroup;
  namespace: string;
  rules: { rule: ExportRule; ingress: I }[];
}

/**
 * The rules in force grouped as Kubernetes-style policies take them: per (namespace, target
 * group), each rule turned into the format's ingress rule by `ingress` (or a reason it cannot be,
 * added to `skipped`). `namespaces` are every namespace a group of the export lives in, sorted:
 * each gets its default deny. Targets come sorted by name within a namespace.
 */
export function namespacedTargets<I>(input: ExportInput, ingress: (rule: ExportRule) => I | string): { namespaces: string[]; targets: (namespace: string) => NamespacedTarget<I>[]; skipped: Skip[] } {
  const { rules, skipped } = enforcedRules(input);
  const policies = new Map<string, NamespacedTarget<I>>();
  for (const rule of rules) {
    const result = ingress(rule);
    if (typeof result === 'string') {
      skipped.push({ rule: rule.id, reason: result });
      continue;
    }
    for (const namespace of rule.to.namespaces) {
      const key = `${namespace}\u0000${rule.to.name}`;
      let policy = policies.get(key);
      if (policy === undefined) policies.set(key, (policy = { group: rule.to, namespace, rules: [] }));
      policy.rules.push({ rule, ingress: result });
    }
  }
  const namespaces = new Set<string>();
  for (const group of [...input.groups, ...rules.flatMap((r) => [r.from, r.to])]) for (const ns of group.namespaces) namespaces.add(ns);
  return {
    namespaces: [...namespaces].sort(),
    targets: (namespace) => [...policies.values()].filter((p) => p.namespace === namespace).sort((a, b) => byName(a.group, b.group)),
    skipped,
  };
}
