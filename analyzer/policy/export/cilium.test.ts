import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CiliumNetworkPolicy } from '@kubernetes-models/cilium/cilium.io/v2/CiliumNetworkPolicy';
import { renderExport } from './index.js';
import { assertCanonicalCidr, exportFixture, findManifest, GROUPS, type KeyTree, parseManifests, unknownKeys } from './testing.js';
import type { ExportInput } from '../types.js';

const SELECTOR: KeyTree = { matchLabels: true, matchExpressions: { key: true, operator: true, values: true } };
/** The CiliumNetworkPolicy fields flowmap may write (the model package accepts unknown keys). */
const FIELDS: KeyTree = {
  apiVersion: true,
  kind: true,
  metadata: { name: true, namespace: true, labels: true, annotations: true },
  spec: {
    description: true,
    endpointSelector: SELECTOR,
    ingress: { fromEndpoints: SELECTOR, fromCIDR: true, fromCIDRSet: { cidr: true, except: true }, fromEntities: true, toPorts: { ports: { port: true, endPort: true, protocol: true } } },
  },
};

type Ingress = { fromEndpoints?: { matchLabels: Record<string, string> }[]; fromCIDR?: string[]; fromEntities?: string[]; toPorts?: { ports: { port: string; endPort?: number; protocol: string }[] }[] };
type Doc = { metadata: { name: string; namespace: string }; spec: { endpointSelector: { matchLabels?: Record<string, string> }; ingress: Ingress[] } };

function render(input: ExportInput = exportFixture()): { docs: Doc[]; skipped: { rule: string; reason: string }[] } {
  const out = renderExport('cilium', input);
  return { docs: parseManifests(out.text) as unknown as Doc[], skipped: out.skipped };
}

/** The model of a parsed document: its validate() throws on what the Cilium CRD schema refuses. */
function model(doc: Doc): CiliumNetworkPolicy {
  return new CiliumNetworkPolicy(doc as unknown as ConstructorParameters<typeof CiliumNetworkPolicy>[0]);
}

const policy = (docs: Doc[], namespace: string, name: string): Doc => findManifest(docs, namespace, name);

describe('Cilium export', () => {
  it('writes CiliumNetworkPolicy objects the @kubernetes-models/cilium schema accepts, with no field outside it', () => {
    const { docs } = render();
    assert.equal(docs.length, 5);
    for (const doc of docs) {
      model(doc).validate();
      assert.deepEqual(unknownKeys(doc, FIELDS), [], doc.metadata.name);
    }
  });

  it('the schema check can fail: an ICMP port protocol and a bad CIDR are caught', () => {
    const doc = policy(render().docs, 'shop', 'flowmap-shop-api');
    const icmp = structuredClone(doc);
    const port = icmp.spec.ingress[0]?.toPorts?.[0]?.ports[0];
    assert.ok(port);
    port.protocol = 'ICMP';
    assert.throws(() => model(icmp).validate(), /protocol/);
    const cidr = structuredClone(doc);
    cidr.spec.ingress[0] = { ...cidr.spec.ingress[0], fromCIDR: ['198.51.100.0/33'] };
    assert.throws(() => model(cidr).validate(), /fromCIDR/);
  });

  it('puts every endpoint of each namespace in default deny with one empty ingress rule', () => {
    const { docs } = render();
    for (const ns of ['payments', 'shop']) assert.deepEqual(policy(docs, ns, 'flowmap-default-deny').spec, { endpointSelector: {}, ingress: [{}] });
  });

  it('selects pod sources by labels and pod namespace, addresses by fromCIDR, the internet as world', () => {
    const { docs } = render();
    const api = policy(docs, 'shop', 'flowmap-shop-api');
    assert.deepEqual(api.spec.endpointSelector, { matchLabels: { app: 'shop', tier: 'api' } });
    assert.deepEqual(api.spec.ingress, [
      { fromCIDR: ['198.51.100.0/24'], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
      { fromEndpoints: [{ matchLabels: { app: 'shop', tier: 'web', 'k8s:io.kubernetes.pod.namespace': 'shop' } }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] },
    ]);
    assert.deepEqual(policy(docs, 'payments', 'flowmap-billing').spec.ingress[0]?.fromEndpoints, [
      { matchLabels: { app: 'shop', tier: 'api', 'k8s:io.kubernetes.pod.namespace': 'shop' } },
    ]);
    assert.deepEqual(policy(docs, 'shop', 'flowmap-shop-web').spec.ingress[0]?.fromEntities, ['world']);
    for (const doc of docs) for (const rule of doc.spec.ingress) for (const cidr of rule.fromCIDR ?? []) assertCanonicalCidr(cidr, doc.metadata.name);
  });

  it('writes ranges with endPort and splits more than 40 ports over several toPorts entries', () => {
    const input = exportFixture();
    const many = Array.from({ length: 45 }, (_, i) => 10000 + i);
    input.rules.push(
      { id: 'r-rpc', from: GROUPS.web, to: GROUPS.api, protocol: 'tcp', ports: [{ first: 49152, last: 65535 }], comment: 'rpc' },
      { id: 'r-many', from: GROUPS.billing, to: GROUPS.api, protocol: 'udp', ports: many, comment: 'many ports' },
    );
    const api = policy(render(input).docs, 'shop', 'flowmap-shop-api');
    model(api).validate();
    assert.ok(api.spec.ingress.some((r) => JSON.stringify(r.toPorts) === JSON.stringify([{ ports: [{ port: '49152', endPort: 65535, protocol: 'TCP' }] }])));
    const split = api.spec.ingress.find((r) => r.toPorts?.[0]?.ports[0]?.port === '10000');
    assert.deepEqual(split?.toPorts?.map((p) => p.ports.length), [40, 5]);
  });

  it('skips ICMP and targets without pods, with reasons', () => {
    const reasons = new Map(render().skipped.map((s) => [s.rule, s.reason]));
    assert.match(reasons.get('r-db-icmp') ?? '', /TCP, UDP and SCTP only/);
    assert.match(reasons.get('r-erp-db') ?? '', /no Kubernetes pods/);
    assert.equal(reasons.size, 10);
  });
});
