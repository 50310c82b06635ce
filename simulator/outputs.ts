// The files an estate comes with, as text: flowmap's JSON inventory (every workload with its
// addresses over time), `kubectl get pods -A -o json` for the Kubernetes part, the intents
// (DESIGN.md §9) for the intended dependencies, and the ground truth. Each is a pure function of
// the estate, with objects built in a fixed key order, so the same estate gives the same bytes.
//
// The kubectl document is a history, not a snapshot: it lists every pod of the window, the ones
// gone with their deletionTimestamp, so an import binds each reused address to the pod that held
// it at each time (inventory/import/kubectl.ts binds until deletion or the next pod on the address).
import { hashString, mix32 } from './random.js';
import type { SimulatedEstate, SimWorkload } from './types.js';

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A UUID-shaped id derived from a name (stable, not random). */
function uidOf(name: string): string {
  const h = hashString(name);
  const words = [mix32(h, 1), mix32(h, 2), mix32(h, 3), mix32(h, 4)].map((w) => w.toString(16).padStart(8, '0')).join('');
  return `${words.slice(0, 8)}-${words.slice(8, 12)}-4${words.slice(13, 16)}-a${words.slice(17, 20)}-${words.slice(20, 32)}`;
}

/** flowmap's inventory JSON (inventory/import/json.ts): workloads with [valid_from, valid_to) addresses. */
export function inventoryJson(estate: SimulatedEstate): string {
  return json({
    workloads: estate.workloads.map((w) => ({
      id: w.id,
      name: w.name,
      labels: w.labels,
      ...(w.criticality === undefined ? {} : { criticality: w.criticality }),
      addresses: w.addresses.map((a) => ({ ip: a.address, valid_from: iso(a.from), valid_to: a.to === null ? null : iso(a.to) })),
    })),
    rules: [],
  });
}

function podItem(w: SimWorkload & { kubernetes: NonNullable<SimWorkload['kubernetes']> }): unknown {
  const { namespace, pod, node } = w.kubernetes;
  const address = w.addresses[0];
  // The importer adds the namespace label itself; the pod's own labels are the rest.
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.labels)) if (k !== 'namespace') labels[k] = v;
  const replicaSet = pod.slice(0, pod.lastIndexOf('-'));
  const tier = w.labels.role ?? 'app';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod,
      namespace,
      uid: uidOf(w.id),
      labels,
      creationTimestamp: address === undefined ? undefined : iso(address.from),
      ...(address?.to == null ? {} : { deletionTimestamp: iso(address.to), deletionGracePeriodSeconds: 30 }),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: replicaSet, uid: uidOf(`${namespace}/${replicaSet}`), controller: true, blockOwnerDeletion: true }],
    },
    spec: { nodeName: node, containers: [{ name: tier, image: `registry.example.com/${w.labels.app ?? 'app'}-${tier}:1.0` }] },
    status: {
      phase: 'Running',
      ...(address === undefined ? {} : { podIP: address.address, podIPs: [{ ip: address.address }], startTime: iso(address.from) }),
    },
  };
}

/** `kubectl get pods -A -o json` for every pod of the window (a v1 List). */
export function kubectlPodsJson(estate: SimulatedEstate): string {
  const items = estate.workloads.filter((w): w is SimWorkload & { kubernetes: NonNullable<SimWorkload['kubernetes']> } => w.kubernetes !== undefined).map(podItem);
  return json({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } });
}

/** The intended dependencies as an intents file (DESIGN.md §9). Port ranges are never intended (only rpc-dynamic has one). */
export function intentsJson(estate: SimulatedEstate): string {
  const intents: { from: unknown; to: unknown; protocol: string; ports: number[] }[] = [];
  for (const e of estate.truth.intended) if (Array.isArray(e.ports)) intents.push({ from: e.from, to: e.to, protocol: e.protocol, ports: e.ports });
  return json({ intents });
}

export function truthJson(estate: SimulatedEstate): string {
  return json(estate.truth);
}

/** Every file by its conventional name: truth.json, inventory.json, kubectl-pods.json, intents.json. */
export function estateFiles(estate: SimulatedEstate): Record<string, string> {
  const files: Record<string, string> = { 'truth.json': truthJson(estate), 'inventory.json': inventoryJson(estate), 'intents.json': intentsJson(estate) };
  if (estate.workloads.some((w) => w.kubernetes !== undefined)) files['kubectl-pods.json'] = kubectlPodsJson(estate);
  return files;
}
