import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { renderExport } from './index.js';
import { assertCanonicalCidr, exportFixture, findManifest, GROUPS, type KeyTree, parseManifests, unknownKeys } from './testing.js';
import type { ExportInput } from '../types.js';

const SELECTOR: KeyTree = { matchLabels: true, matchExpressions: { key: true, operator: true, values: true } };
/** The NetworkPolicy API's fields (kubernetes-models accepts unknown keys; the API server drops them). */
const FIELDS: KeyTree = {
  apiVersion: true,
  kind: true,
  metadata: { name: true, namespace: true, labels: true, annotations: true },
  spec: {
    podSelector: SELECTOR,
    policyTypes: true,
    ingress: { from: { podSelector: SELECTOR, namespaceSelector: SELECTOR, ipBlock: { cidr: true, except: true } }, ports: { protocol: true, port: true, endPort: true } },
  },
};
const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

type Doc = { metadata: { name: string; namespace: string }; spec: { podSelector: { matchLabels?: Record<string, string> }; ingress?: { from: { ipBlock?: { cidr: string; except?: string[] } }[]; ports: Record<string, unknown>[] }[] } };

function render(input: ExportInput = exportFixture()): { docs: Doc[]; text: string; skipped: { rule: string; reason: string }[] } {
  const out = renderExport('k8s', input);
  return { docs: parseManifests(out.text) as unknown as Doc[], text: out.text, skipped: out.skipped };
}

const policy = (docs: Doc[], namespace: string, name: string): Doc => findManifest(docs, namespace, name);

describe('Kubernetes NetworkPolicy export', () => {
  it('writes NetworkPolicy objects the kubernetes-models schema accepts, with no field outside the API', () => {
    const { docs } = render();
    assert.equal(docs.length, 5);
    for (const doc of docs) {
      new NetworkPolicy(doc).validate();
      assert.deepEqual(unknownKeys(doc, FIELDS), [], doc.metadata.name);
      assert.match(doc.metadata.name, RFC1123_LABEL);
      assert.match(doc.metadata.namespace, RFC1123_LABEL);
    }
  });

  it('the schema check can fail: an ICMP port and an unknown key are caught', () => {
    const doc = structuredClone(policy(render().docs, 'shop', 'flowmap-shop-api'));
    const broken = structuredClone(doc);
    (broken.spec.ingress?.[0]?.ports[0] as Record<string, unknown>).protocol = 'ICMP';
    assert.throws(() => new NetworkPolicy(broken).validate(), /protocol/);
    const unknown = structuredClone(doc) as unknown as { spec: Record<string, unknown> };
    unknown.spec.ingres = [];
    assert.deepEqual(unknownKeys(unknown, FIELDS), ['.spec.ingres']);
  });

  it('puts a default deny in every namespace a group is in', () => {
    const { docs } = render();
    for (const ns of ['payments', 'shop']) {
      const deny = policy(docs, ns, 'flowmap-default-deny');
      assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress'] });
    }
  });

  it('selects pods by namespace and labels, same namespace or not, with one ingress rule per flowmap rule', () => {
    const { docs } = render();
    const api = policy(docs, 'shop', 'flowmap-shop-api');
    assert.deepEqual(api.spec.podSelector, { matchLabels: { app: 'shop', tier: 'api' } });
    assert.deepEqual(api.spec.ingress?.[1], {
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'shop', tier: 'web' } } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    });
    const billing = policy(docs, 'payments', 'flowmap-billing');
    assert.deepEqual(billing.spec.ingress, [
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'shop', tier: 'api' } } }],
        ports: [{ protocol: 'TCP', port: 8443 }, { protocol: 'TCP', port: 9443 }],
      },
    ]);
  });

  it('admits addresses by ipBlock, the internet without the private ranges, every CIDR canonical', () => {
    const { docs } = render();
    assert.deepEqual(policy(docs, 'shop', 'flowmap-shop-api').spec.ingress?.[0]?.from, [{ ipBlock: { cidr: '198.51.100.0/24' } }]);
    assert.deepEqual(policy(docs, 'shop', 'flowmap-shop-web').spec.ingress?.[0]?.from, [
      { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } },
      { ipBlock: { cidr: '::/0', except: ['fc00::/7'] } },
    ]);
    for (const doc of docs) {
      for (const [i, rule] of (doc.spec.ingress ?? []).entries()) {
        assert.ok(rule.from.length > 0, `${doc.metadata.name} ingress ${i} has peers: an empty from admits everyone`);
        for (const peer of rule.from) {
          if (peer.ipBlock === undefined) continue;
          assertCanonicalCidr(peer.ipBlock.cidr, doc.metadata.name);
          for (const except of peer.ipBlock.except ?? []) assertCanonicalCidr(except, doc.metadata.name);
        }
      }
    }
  });

  it('writes a port range as port and endPort, and SCTP and UDP by name', () => {
    const input = exportFixture();
    input.rules.push(
      { id: 'r-rpc', from: GROUPS.web, to: GROUPS.api, protocol: 'tcp', ports: [{ first: 49152, last: 65535 }], comment: 'rpc' },
      { id: 'r-sctp', from: GROUPS.web, to: GROUPS.api, protocol: 'sctp', ports: [2905], comment: 'sigtran' },
      { id: 'r-udp', from: GROUPS.web, to: GROUPS.api, protocol: 'udp', ports: [53], comment: 'dns' },
    );
    const api = policy(render(input).docs, 'shop', 'flowmap-shop-api');
    const ports = (api.spec.ingress ?? []).map((r) => r.ports);
    assert.ok(ports.some((p) => JSON.stringify(p) === JSON.stringify([{ protocol: 'TCP', port: 49152, endPort: 65535 }])));
    assert.ok(ports.some((p) => JSON.stringify(p) === JSON.stringify([{ protocol: 'SCTP', port: 2905 }])));
    assert.ok(ports.some((p) => JSON.stringify(p) === JSON.stringify([{ protocol: 'UDP', port: 53 }])));
    new NetworkPolicy(api).validate();
  });

  it('skips what NetworkPolicy cannot express, says why, and lists it at the top of the file', () => {
    const { text, skipped } = render();
    const reasons = new Map(skipped.map((s) => [s.rule, s.reason]));
    assert.deepEqual([...reasons.keys()].sort(), ['r-api-db', 'r-api-saas', 'r-backup-db', 'r-db-db', 'r-db-icmp', 'r-erp-db', 'r-erp-dns', 'r-inet-erp', 'r-reports-db', 'x-rdp-erp']);
    assert.match(reasons.get('r-db-icmp') ?? '', /TCP, UDP and SCTP only, not icmp/);
    assert.match(reasons.get('r-api-db') ?? '', /target db-prod has no Kubernetes pods/);
    const header = text.slice(0, text.indexOf('---'));
    for (const s of skipped) assert.ok(header.includes(`#   ${s.rule}: ${s.reason}`), s.rule);
  });

  it('skips a rule whose source has no addresses rather than writing a rule that admits everyone', () => {
    const input = exportFixture();
    input.rules.push({ id: 'r-empty', from: GROUPS.reports, to: GROUPS.web, protocol: 'tcp', ports: [80], comment: '' });
    const { skipped } = render(input);
    assert.match(skipped.find((s) => s.rule === 'r-empty')?.reason ?? '', /no addresses/);
  });

  it('gives the same bytes whatever order the input lists rules and groups in', () => {
    const shuffled = exportFixture();
    shuffled.rules.reverse();
    shuffled.groups.sort((a, b) => a.key.localeCompare(b.key));
    assert.equal(renderExport('k8s', shuffled).text, renderExport('k8s', exportFixture()).text);
  });
});
