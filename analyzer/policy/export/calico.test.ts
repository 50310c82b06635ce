import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderExport } from './index.js';
import { assertCanonicalCidr, calicoSchemaErrors, exportFixture, GROUPS, parseManifests, unknownKeys, type KeyTree } from './testing.js';

const schemaErrors = (doc: Doc): string[] => calicoSchemaErrors(doc);
import type { ExportGroup, ExportInput } from '../types.js';

// ---- Calico selector expressions: the subset flowmap writes, parsed and evaluated ----

type Labels = Record<string, string>;

/** Parses `k == 'v'`, `k in {'a', 'b'}`, `&&`, `||` and parentheses into a predicate; throws on anything else. */
function parseSelector(text: string): (labels: Labels) => boolean {
  const tokens: string[] = [];
  const lexer = /\s*(\|\||&&|==|[(){},]|'[^']*'|"[^"]*"|[A-Za-z0-9_./-]+)/y;
  while (lexer.lastIndex < text.length) {
    const m = lexer.exec(text);
    if (m === null) throw new Error(`cannot read selector at ${lexer.lastIndex}: ${text}`);
    tokens.push(m[1] as string);
  }
  let i = 0;
  const take = (): string => tokens[i++] ?? '';
  const expect = (t: string): void => assert.equal(take(), t, `selector ${text}`);
  const literal = (t: string): string => (/^'[^']*'$|^"[^"]*"$/.test(t) ? t.slice(1, -1) : assert.fail(`not a quoted value: ${t} in ${text}`));
  const factor = (): ((l: Labels) => boolean) => {
    if (tokens[i] === '(') {
      take();
      const inner = or();
      expect(')');
      return inner;
    }
    const key = take();
    assert.match(key, /^[A-Za-z0-9_./-]+$/, `label key in ${text}`);
    const op = take();
    if (op === '==') {
      const value = literal(take());
      return (l) => l[key] === value;
    }
    expect('{');
    assert.equal(op, 'in', `operator in ${text}`);
    const values = [literal(take())];
    while (tokens[i] === ',') values.push(literal((take(), take())));
    expect('}');
    return (l) => values.includes(l[key] ?? '\u0000');
  };
  const and = (): ((l: Labels) => boolean) => {
    const parts = [factor()];
    while (tokens[i] === '&&') parts.push((take(), factor()));
    return (l) => parts.every((p) => p(l));
  };
  const or = (): ((l: Labels) => boolean) => {
    const parts = [and()];
    while (tokens[i] === '||') parts.push((take(), and()));
    return (l) => parts.some((p) => p(l));
  };
  const predicate = or();
  assert.equal(i, tokens.length, `trailing tokens in selector ${text}`);
  return predicate;
}

/** The labels Calico gives a group's endpoints (pods carry their namespace as projectcalico.org/namespace). */
function endpointLabels(group: ExportGroup, namespace?: string): Labels {
  return namespace === undefined ? { ...group.labels } : { ...group.labels, 'projectcalico.org/namespace': namespace };
}

// ---- The export ----

type EntityRule = { selector?: string; namespaceSelector?: string; nets?: string[]; notNets?: string[]; ports?: (number | string)[] };
type Rule = { action: string; protocol?: string | number; ipVersion?: number; source?: EntityRule; destination?: EntityRule; metadata?: { annotations: Record<string, string> } };
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: { order: number; selector: string; types: string[]; ingress: Rule[] } };

const METADATA: KeyTree = { apiVersion: true, kind: true, spec: true, metadata: { name: true, namespace: true, labels: true, annotations: true } };

function render(input: ExportInput = exportFixture()): { docs: Doc[]; skipped: { rule: string; reason: string }[] } {
  const out = renderExport('calico', input);
  return { docs: parseManifests(out.text) as unknown as Doc[], skipped: out.skipped };
}

function find(docs: Doc[], name: string, namespace?: string): Doc {
  const doc = docs.find((d) => d.metadata.name === name && d.metadata.namespace === namespace);
  assert.ok(doc, `${namespace ?? '(global)'}/${name} exists`);
  return doc;
}

describe('Calico export', () => {
  const { docs } = render();

  it('writes projectcalico.org/v3 policies that the Calico CRD schemas accept', () => {
    assert.equal(docs.length, 7);
    for (const doc of docs) {
      assert.equal(doc.apiVersion, 'projectcalico.org/v3');
      assert.deepEqual(schemaErrors(doc), [], doc.metadata.name);
      assert.deepEqual(unknownKeys(doc, METADATA), [], doc.metadata.name);
      assert.equal(doc.kind === 'NetworkPolicy', doc.metadata.namespace !== undefined, `${doc.metadata.name}: only NetworkPolicy is namespaced`);
    }
  });

  it('the schema check can fail: a wrong action, an unknown key and a string order are caught', () => {
    const doc = structuredClone(find(docs, 'flowmap-shop-api', 'shop'));
    const action = structuredClone(doc);
    (action.spec.ingress[0] as Rule).action = 'Accept';
    assert.ok(schemaErrors(action).some((e) => e.includes('/spec/ingress/0/action')));
    const unknown = structuredClone(doc) as unknown as { spec: { ingress: Record<string, unknown>[] } };
    (unknown.spec.ingress[0] as Record<string, unknown>).sourceNets = ['10.0.0.0/8'];
    assert.ok(schemaErrors(unknown as unknown as Doc).some((e) => e.includes('additionalProperty')));
    const order = structuredClone(doc) as unknown as { spec: Record<string, unknown> };
    order.spec.order = '100';
    assert.ok(schemaErrors(order as unknown as Doc).some((e) => e.includes('/spec/order')));
  });

  it('holds every rule to what Calico validates beyond the schema (CEL rules and its validator)', () => {
    for (const doc of docs) {
      for (const [i, rule] of doc.spec.ingress.entries()) {
        const where = `${doc.metadata.name} ingress ${i}`;
        if (rule.protocol === 'ICMP') assert.notEqual(rule.ipVersion, 6, `${where}: ICMP requires ipVersion 4`);
        if (rule.protocol === 'ICMPv6') assert.notEqual(rule.ipVersion, 4, `${where}: ICMPv6 requires ipVersion 6`);
        if (rule.destination?.ports !== undefined) assert.ok(['TCP', 'UDP', 'SCTP'].includes(String(rule.protocol)), `${where}: ports need TCP, UDP or SCTP`);
        for (const port of rule.destination?.ports ?? []) assert.ok(typeof port === 'number' ? port >= 1 && port <= 65535 : /^\d+:\d+$/.test(port), `${where}: port ${port}`);
        if (rule.action !== 'Allow') continue;
        assert.ok(rule.source?.selector !== undefined || (rule.source?.nets ?? []).length > 0, `${where}: an allow without a source admits everyone`);
        for (const net of [...(rule.source?.nets ?? []), ...(rule.source?.notNets ?? [])]) {
          assertCanonicalCidr(net, where);
          assert.equal(net.includes(':') ? 6 : 4, rule.ipVersion, `${where}: ${net} matches ipVersion`);
        }
        if (rule.source?.selector !== undefined) parseSelector(rule.source.selector);
        if (rule.source?.namespaceSelector !== undefined) parseSelector(rule.source.namespaceSelector);
      }
    }
  });

  it('allows at order 100 and denies every governed target, and nothing else, at order 1000', () => {
    const deny = find(docs, 'flowmap-default-deny');
    assert.equal(deny.kind, 'GlobalNetworkPolicy');
    assert.deepEqual({ order: deny.spec.order, types: deny.spec.types, ingress: deny.spec.ingress }, { order: 1000, types: ['Ingress'], ingress: [{ action: 'Deny' }] });
    const denies = parseSelector(deny.spec.selector);
    const G = GROUPS;
    for (const [group, ns] of [[G.db], [G.dns], [G.erp], [G.api, 'shop'], [G.web, 'shop'], [G.billing, 'payments']] as [ExportGroup, string?][]) {
      assert.ok(denies(endpointLabels(group, ns)), `default deny covers ${group.name}`);
    }
    assert.equal(denies(endpointLabels(G.reports)), false, 'reports-prod is no target');
    assert.equal(denies(endpointLabels(G.api, 'staging')), false, 'shop-api pods of another namespace are not governed');
    for (const doc of docs.filter((d) => d !== deny)) {
      assert.equal(doc.spec.order, 100, doc.metadata.name);
      assert.ok(doc.spec.ingress.every((r) => r.action === 'Allow'));
    }
  });

  it('selects targets by label, pods by namespace, and writes sources and ports as Calico reads them', () => {
    const db = find(docs, 'flowmap-db-prod');
    assert.equal(db.kind, 'GlobalNetworkPolicy');
    assert.equal(db.spec.selector, "app == 'db' && env == 'prod'");
    assert.ok(parseSelector(db.spec.selector)(GROUPS.db.labels));
    const api = find(docs, 'flowmap-shop-api', 'shop');
    assert.equal(api.spec.selector, "app == 'shop' && tier == 'api'");
    const fromApi = db.spec.ingress.find((r) => r.metadata?.annotations['flowmap.io/rule'] === 'r-api-db');
    assert.deepEqual(fromApi?.source, { selector: "app == 'shop' && tier == 'api'", namespaceSelector: "projectcalico.org/name == 'shop'" });
    const rpc = db.spec.ingress.filter((r) => r.metadata?.annotations['flowmap.io/rule'] === 'r-erp-db');
    assert.deepEqual(rpc.map((r) => [r.ipVersion, r.source?.nets, r.destination?.ports]), [
      [4, ['10.10.1.5/32'], ['49152:65535']],
      [6, ['2001:db8:10::5/128'], ['49152:65535']],
    ]);
    const billing = find(docs, 'flowmap-billing', 'payments');
    assert.deepEqual(billing.spec.ingress[0]?.destination, { ports: [8443, 9443] });
    const web = find(docs, 'flowmap-shop-web', 'shop');
    assert.deepEqual(web.spec.ingress.map((r) => r.source), [
      { nets: ['0.0.0.0/0'], notNets: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] },
      { nets: ['::/0'], notNets: ['fc00::/7'] },
    ]);
    const icmp = api.spec.ingress.find((r) => r.protocol === 'ICMP');
    assert.deepEqual(icmp && { ipVersion: icmp.ipVersion, destination: icmp.destination }, { ipVersion: 4, destination: undefined });
  });

  it('skips address targets and sources without addresses, with reasons', () => {
    const reasons = new Map(render().skipped.map((s) => [s.rule, s.reason]));
    assert.deepEqual([...reasons.keys()].sort(), ['r-api-saas', 'r-reports-db']);
    assert.match(reasons.get('r-api-saas') ?? '', /not Calico endpoints/);
    assert.match(reasons.get('r-reports-db') ?? '', /no addresses/);
  });

  it('the selector check can fail: unquoted values and dangling operators are refused', () => {
    assert.throws(() => parseSelector('app == shop'));
    assert.throws(() => parseSelector("app == 'shop' &&"));
    assert.throws(() => parseSelector("(app == 'shop'"));
  });
});
