// Test helpers for the exporters: one ExportInput small enough to draw, covering every shape an
// exporter must handle, and the checks several format tests share (CIDR text, unknown keys).
//
//   namespace shop:      shop-web ──tcp/8080──▶ shop-api ──tcp/8443,9443──▶ billing (namespace payments)
//   internet ─tcp/443─▶ shop-web          saas ─tcp/443─▶ shop-api ─tcp/443─▶ saas
//   shop-api ─tcp/5432─▶ db-prod ◀─tcp/49152-65535─ erp-prod ─udp/53─▶ dns-prod
//   db-prod ─tcp/5433─▶ db-prod (intra-group)      db-prod ─icmp─▶ shop-api
//   workload backup-01 ─tcp/9102─▶ db-prod         reports-prod (no addresses) ─tcp/5432─▶ db-prod
//   10.20.0.0/16 ─tcp/3389─▶ erp-prod (exception)  internet ─tcp/443─▶ erp-prod (IPv6 too)
import { Ajv, type AnySchemaObject, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { formatPrefix, parsePrefix } from '../../../core/ip.js';
import { selectorKey } from '../selectors.js';
import type { ExportGroup, ExportInput, ExportRule, PortSpec, Selector } from '../types.js';

function group(name: string, kind: ExportGroup['kind'], selector: Selector, fields: Partial<ExportGroup> = {}): ExportGroup {
  const labels = kind === 'labels' ? Object.fromEntries(Object.entries(selector).filter(([k]) => k !== 'namespace')) : {};
  return { key: selectorKey(selector), selector, kind, name, labels, v4: [], v6: [], namespaces: [], ...fields };
}

export const GROUPS = {
  web: group('shop-web', 'labels', { app: 'shop', tier: 'web', namespace: 'shop' }, { v4: ['10.244.1.10/32', '10.244.1.11/32'], namespaces: ['shop'] }),
  api: group('shop-api', 'labels', { app: 'shop', tier: 'api', namespace: 'shop' }, { v4: ['10.244.1.20/32'], v6: ['fd00:10:244:1::20/128'], namespaces: ['shop'] }),
  billing: group('billing', 'labels', { app: 'billing', namespace: 'payments' }, { v4: ['10.244.2.5/32'], namespaces: ['payments'], criticality: 'critical' }),
  db: group('db-prod', 'labels', { app: 'db', env: 'prod' }, { v4: ['10.10.0.5/32', '10.10.0.6/32'], criticality: 'high' }),
  erp: group('erp-prod', 'labels', { app: 'erp', env: 'prod' }, { v4: ['10.10.1.5/32'], v6: ['2001:db8:10::5/128'] }),
  dns: group('dns-prod', 'labels', { app: 'dns', env: 'prod' }, { v4: ['10.10.0.53/32'], v6: ['2001:db8:10::53/128'] }),
  reports: group('reports-prod', 'labels', { app: 'reports', env: 'prod' }),
  internet: group('internet', 'internet', { group: 'internet' }),
  saas: group('saas', 'external', { group: 'saas' }, { v4: ['198.51.100.0/24'] }),
  subnet: group('cidr-10-20-0-0-16', 'cidr', { cidr: '10.20.0.0/16' }, { v4: ['10.20.0.0/16'] }),
  backup: group('workload-backup-01', 'workload', { workload: 'backup-01' }, { v4: ['10.10.5.9/32'] }),
} satisfies Record<string, ExportGroup>;

function rule(id: string, from: ExportGroup, to: ExportGroup, protocol: string, ports: PortSpec[], comment: string, exception?: ExportRule['exception']): ExportRule {
  return { id, from, to, protocol, ports, comment, ...(exception === undefined ? {} : { exception }) };
}

const G = GROUPS;
const LONG = `observed on 14 of 14 days, 48213 flows; ${'the checkout calls billing for every order '.repeat(4)}`;

/** The fixture's rules, deliberately not in the order exporters write them. */
export const RULES: readonly ExportRule[] = [
  rule('r-web-api', G.web, G.api, 'tcp', [8080], 'observed on 14 of 14 days, 12000 flows'),
  rule('r-api-billing', G.api, G.billing, 'tcp', [9443, 8443], LONG),
  rule('r-inet-web', G.internet, G.web, 'tcp', [443], 'storefront from the internet'),
  rule('r-saas-api', G.saas, G.api, 'tcp', [443], 'payment webhooks from the SaaS provider'),
  rule('r-api-db', G.api, G.db, 'tcp', [5432], 'orders database'),
  rule('r-api-saas', G.api, G.saas, 'tcp', [443], 'calls to the SaaS provider'),
  rule('r-erp-db', G.erp, G.db, 'tcp', [{ first: 49152, last: 65535 }], 'RPC dynamic range after the endpoint mapper'),
  rule('r-db-db', G.db, G.db, 'tcp', [5433], 'replication between the database nodes'),
  rule('r-erp-dns', G.erp, G.dns, 'udp', [53], 'name resolution'),
  rule('r-db-icmp', G.db, G.api, 'icmp', [], 'health pings'),
  rule('r-backup-db', G.backup, G.db, 'tcp', [9102], '=HYPERLINK("http://evil.example/","click") backup agent'),
  rule('r-reports-db', G.reports, G.db, 'tcp', [5432], 'reporting replica reads'),
  rule('x-rdp-erp', G.subnet, G.erp, 'tcp', [3389], 'exception "RDP" for it-ops@example.com until 2099-01-01: vendor support', {
    owner: 'it-ops@example.com',
    expires: '2099-01-01T00:00:00.000Z',
  }),
  rule('r-inet-erp', G.internet, G.erp, 'tcp', [443], 'ERP portal from the internet'),
];

export function exportFixture(): ExportInput {
  return {
    policy: { id: 'pol-7f3a', name: 'shop and ERP, prod', version: 3, baseline: 'bl-2025-05' },
    rules: RULES.map((r) => structuredClone(r)),
    groups: Object.values(GROUPS).map((g) => structuredClone(g)).reverse(),
    generatedAt: '2025-06-01T12:00:00.000Z',
  };
}

/** Asserts `text` is a CIDR prefix in canonical form (host bits zero, shortest address text). */
export function assertCanonicalCidr(text: unknown, where: string): void {
  assert.equal(typeof text, 'string', `${where}: CIDR must be a string`);
  const prefix = parsePrefix(text as string);
  assert.equal(formatPrefix(prefix), text, `${where}: ${String(text)} is not canonical CIDR text`);
}

/**
 * A tree of the keys an object may have: `true` accepts any value below, a nested tree checks the
 * value (for arrays, every element).
 */
export type KeyTree = { [key: string]: KeyTree | true };

/** Paths of keys not in the tree: schema validators in the model packages accept unknown keys. */
export function unknownKeys(value: unknown, allowed: KeyTree, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownKeys(v, allowed, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const rule = allowed[key];
    if (rule === undefined) out.push(`${path}.${key}`);
    else if (rule !== true) out.push(...unknownKeys(child, rule, `${path}.${key}`));
  }
  return out;
}

/**
 * The objects of a multi-document YAML stream, asserting it parses without errors or warnings and
 * reads the same as YAML 1.1 (kubectl's go-yaml, where `yes` is a boolean) and as YAML 1.2.
 */
export function parseManifests(text: string): Record<string, unknown>[] {
  const read = (version: '1.1' | '1.2'): unknown[] =>
    YAML.parseAllDocuments(text, { version }).map((doc) => {
      assert.deepEqual([...doc.errors, ...doc.warnings].map((e) => e.message), [], `YAML ${version} problems`);
      return doc.toJS() as unknown;
    });
  const docs = read('1.2');
  assert.deepEqual(read('1.1'), docs, 'the stream must read the same under YAML 1.1 and 1.2');
  for (const doc of docs) assert.ok(doc !== null && typeof doc === 'object' && !Array.isArray(doc), 'every document is an object');
  return docs as Record<string, unknown>[];
}

/**
 * hcl2json's `parse(fileName, text)`. Loaded through a specifier TypeScript does not follow: its
 * declarations reference the DOM library, which would retype `fetch` for the whole program.
 */
export async function parseHcl(fileName: string, text: string): Promise<TerraformJson> {
  const specifier = '@cdktn/hcl2json';
  const hcl = (await import(specifier)) as { parse(fileName: string, text: string): Promise<unknown> };
  return (await hcl.parse(fileName, text)) as TerraformJson;
}

/** hcl2json's shape: blocks by type and labels, each a list of attribute maps. */
export type TerraformJson = {
  resource?: Record<string, Record<string, Record<string, unknown>[]>>;
  variable?: Record<string, Record<string, unknown>[]>;
};

/** The resources of one type, by name (one block each). */
export function resources(json: TerraformJson, type: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [name, blocks] of Object.entries(json.resource?.[type] ?? {})) {
    assert.equal(blocks.length, 1, `${type}.${name} is defined once`);
    out.set(name, blocks[0] as Record<string, unknown>);
  }
  return out;
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** References (`var.x`, `type.name.attr` inside `${…}`) that name nothing the file defines. */
export function undefinedReferences(json: TerraformJson): string[] {
  const missing = new Set<string>();
  for (const text of strings(json.resource)) {
    for (const [, inner] of text.matchAll(/\$\{([^}]*)\}/g)) {
      for (const [ref, type, name] of (inner ?? '').matchAll(/\b([a-z_][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)/g)) {
        const defined = type === 'var' ? json.variable?.[name as string] !== undefined : json.resource?.[type as string]?.[name as string] !== undefined;
        if (!defined) missing.add(ref);
      }
    }
  }
  return [...missing].sort();
}

/** The manifest of a namespace and name, asserting it exists. */
export function findManifest<D extends { metadata: { namespace?: string; name?: string } }>(docs: readonly D[], namespace: string, name: string): D {
  const found = docs.find((d) => d.metadata.namespace === namespace && d.metadata.name === name);
  assert.ok(found, `${namespace}/${name} exists`);
  return found;
}

// ---- The vendored Calico CRD schemas (testdata/calico/README.md), closed to unknown keys ----

/**
 * The API server prunes fields a structural schema does not name and `kubectl apply` (strict field
 * validation) rejects them; ajv sees no `additionalProperties` and would accept them, so every
 * object schema that lists its properties is closed here.
 */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'x-kubernetes-validations' ? v : closed(v)])) as AnySchemaObject;
  if (out.properties !== undefined && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  return out;
}

let calicoValidators: Record<string, ValidateFunction> | undefined;

/** What the Calico CRD schema of the document's kind refuses (empty: valid). The CEL rules are not evaluated here. */
export function calicoSchemaErrors(doc: { kind?: unknown }): string[] {
  if (calicoValidators === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
    (formatsPlugin as unknown as (a: Ajv) => Ajv)(ajv);
    // Kubernetes' extensions have no meaning to JSON Schema.
    for (const keyword of ['x-kubernetes-int-or-string', 'x-kubernetes-list-type', 'x-kubernetes-validations', 'x-kubernetes-preserve-unknown-fields']) ajv.addKeyword(keyword);
    const schema = (file: string): ValidateFunction => ajv.compile(closed(JSON.parse(readFileSync(join(import.meta.dirname, 'testdata', 'calico', file), 'utf8'))) as AnySchemaObject);
    calicoValidators = { NetworkPolicy: schema('networkpolicy.schema.json'), GlobalNetworkPolicy: schema('globalnetworkpolicy.schema.json') };
  }
  const validate = calicoValidators[String(doc.kind)];
  assert.ok(validate, `kind ${String(doc.kind)} is a Calico policy kind`);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
