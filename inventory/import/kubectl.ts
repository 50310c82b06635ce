// `kubectl get pods -A -o json`: a v1 List of Pods (a single Pod object, from `kubectl get pod X
// -o json`, is read too).
//
// - A pod is a workload with id `<namespace>/<name>`, labelled with its pod labels plus
//   `namespace`. A pod label called `namespace` is overridden by the real namespace.
// - Its addresses are status.podIPs[].ip (dual-stack), else status.podIP. Each is bound from
//   status.startTime (when the kubelet took the pod and its sandbox got the address; a pod can sit
//   Pending long after metadata.creationTimestamp, which is the fallback) until the first of: the
//   pod's end — metadata.deletionTimestamp when terminating, and for a Succeeded or Failed pod the
//   latest containerStatuses[].state.terminated.finishedAt, when its sandbox gave the address
//   back — or the same address appearing on a pod that started later (completed pods keep their
//   podIP in the listing after the address went to someone else).
// - Host-network pods (spec.hostNetwork) carry their node's address, which is not theirs to
//   label: the address is bound to the node instead, a workload with id `node/<nodeName>`, no
//   labels of its own (CIDR rules or an EC2 import supply them), from the earliest such pod on.
// - A pod without an address yet (Pending) has no binding and is no problem. A pod that is not an
//   object, lacks a name, namespace or a valid creationTimestamp, or has an unparsable address is
//   reported with its JSON path and skipped (only that address, for an address).
import { tryParseAddress } from '../../core/ip.js';
import { claimsToBindings, isRecord, parseIsoTime, readLabels, type AddressClaim, type ImportProblem, type ParsedInventory, type ParsedWorkload } from './types.js';

/** True when the document looks like kubectl's output (for format detection). */
export function isKubectlDocument(document: unknown): boolean {
  if (!isRecord(document)) return false;
  if (document.kind === 'Pod') return true;
  return (document.kind === 'List' || document.kind === 'PodList') && Array.isArray(document.items);
}

export function parseKubectlPods(document: unknown): ParsedInventory {
  const problems: ImportProblem[] = [];
  const workloads = new Map<string, ParsedWorkload>();
  const claims: AddressClaim[] = [];
  const result = (): ParsedInventory => ({ format: 'kubectl', workloads: [...workloads.values()], bindings: claimsToBindings(claims), rules: [], problems });
  if (!isKubectlDocument(document)) {
    problems.push({ path: '$', reason: 'unknown-shape', detail: 'expected `kubectl get pods -A -o json` output: {"kind": "List", "items": [Pod, …]}' });
    return result();
  }
  const single = isRecord(document) && document.kind === 'Pod';
  const items: unknown[] = single ? [document] : isRecord(document) && Array.isArray(document.items) ? (document.items as unknown[]) : [];
  items.forEach((pod, index) => {
    const path = single ? '$' : `$.items[${index}]`;
    const problem = (where: string, reason: ImportProblem['reason'], detail: string): void => {
      problems.push({ path: where, reason, detail });
    };
    if (!isRecord(pod) || !isRecord(pod.metadata)) return problem(path, 'unknown-shape', 'a pod is an object with "metadata"');
    const { metadata } = pod;
    const spec = isRecord(pod.spec) ? pod.spec : {};
    const status = isRecord(pod.status) ? pod.status : {};
    if (pod.kind !== undefined && pod.kind !== 'Pod') return problem(`${path}.kind`, 'unknown-shape', `kind ${JSON.stringify(pod.kind)} is not Pod`);
    if (typeof metadata.name !== 'string' || metadata.name === '') return problem(`${path}.metadata.name`, 'missing-field', 'the pod has no name');
    if (typeof metadata.namespace !== 'string' || metadata.namespace === '') return problem(`${path}.metadata.namespace`, 'missing-field', `pod ${metadata.name} has no namespace`);
    const id = `${metadata.namespace}/${metadata.name}`;
    const created = typeof metadata.creationTimestamp === 'string' ? parseIsoTime(metadata.creationTimestamp) : undefined;
    if (created === undefined) return problem(`${path}.metadata.creationTimestamp`, 'bad-time', `pod ${id}: creationTimestamp ${JSON.stringify(metadata.creationTimestamp)} is not an ISO-8601 time`);
    let deleted = Infinity;
    if (metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null) {
      const at = typeof metadata.deletionTimestamp === 'string' ? parseIsoTime(metadata.deletionTimestamp) : undefined;
      if (at === undefined) return problem(`${path}.metadata.deletionTimestamp`, 'bad-time', `pod ${id}: deletionTimestamp ${JSON.stringify(metadata.deletionTimestamp)} is not an ISO-8601 time`);
      deleted = at;
    }
    // The address is the sandbox's: from when the pod started, not when it was created.
    const started = typeof status.startTime === 'string' ? parseIsoTime(status.startTime) : undefined;
    if (status.startTime !== undefined && status.startTime !== null && started === undefined) {
      return problem(`${path}.status.startTime`, 'bad-time', `pod ${id}: startTime ${JSON.stringify(status.startTime)} is not an ISO-8601 time`);
    }
    const from = started ?? created;
    // A finished pod gave its address back when its last container ended.
    if (status.phase === 'Succeeded' || status.phase === 'Failed') {
      const finished = (Array.isArray(status.containerStatuses) ? (status.containerStatuses as unknown[]) : [])
        .map((c) => (isRecord(c) && isRecord(c.state) && isRecord(c.state.terminated) && typeof c.state.terminated.finishedAt === 'string' ? parseIsoTime(c.state.terminated.finishedAt) : undefined))
        .filter((t): t is number => t !== undefined);
      if (finished.length > 0) deleted = Math.min(deleted, Math.max(...finished));
    }
    const labels = readLabels(metadata.labels);
    if ('error' in labels) return problem(`${path}.metadata.labels`, 'bad-labels', `pod ${id}: ${labels.error}`);

    // podIPs lists every family; podIP is its first entry, and all older clusters report.
    const ips: { text: unknown; where: string }[] = Array.isArray(status.podIPs)
      ? (status.podIPs as unknown[]).map((entry, i) => ({ text: isRecord(entry) ? entry.ip : entry, where: `${path}.status.podIPs[${i}].ip` }))
      : status.podIP === undefined || status.podIP === ''
        ? []
        : [{ text: status.podIP, where: `${path}.status.podIP` }];
    const hostNetwork = spec.hostNetwork === true;
    let owner = id;
    if (hostNetwork) {
      if (typeof spec.nodeName !== 'string' || spec.nodeName === '') return problem(`${path}.spec.nodeName`, 'missing-field', `host-network pod ${id} has no nodeName to bind its address to`);
      owner = `node/${spec.nodeName}`;
      if (!workloads.has(owner)) workloads.set(owner, { id: owner, name: spec.nodeName, labels: {} });
    } else {
      workloads.set(id, { id, name: metadata.name, labels: { ...labels.labels, namespace: metadata.namespace } });
    }
    for (const { text, where } of ips) {
      const address = typeof text === 'string' ? tryParseAddress(text) : undefined;
      if (address === undefined) {
        problem(where, 'bad-address', `pod ${id}: ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
        continue;
      }
      if (!(deleted > from)) {
        problem(`${path}.metadata.deletionTimestamp`, 'bad-interval', `pod ${id}: ended before it started`);
        break;
      }
      // A node keeps its address when a host-network pod goes away.
      claims.push({ address, workloadId: owner, from, until: hostNetwork ? Infinity : deleted });
    }
  });
  return result();
}
