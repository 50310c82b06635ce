import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderExport } from './index.js';
import { assertCanonicalCidr, exportFixture, GROUPS, parseHcl, resources, undefinedReferences, type TerraformJson } from './testing.js';
import type { ExportInput, ExportRule } from '../types.js';

type NsgRule = Record<string, unknown> & { name: string; priority: number; access: string; direction: string; protocol: string; network_security_group_name: string; description?: string };

async function render(input: ExportInput = exportFixture()): Promise<{ json: TerraformJson; text: string; skipped: { rule: string; reason: string }[] }> {
  const out = renderExport('azure-nsg', input);
  return { json: await parseHcl('main.tf', out.text), text: out.text, skipped: out.skipped };
}

/** The rules of each NSG, by the NSG's Terraform name. */
function byNsg(json: TerraformJson): Map<string, NsgRule[]> {
  const out = new Map<string, NsgRule[]>();
  for (const rule of resources(json, 'azurerm_network_security_rule').values() as Iterable<NsgRule>) {
    const nsg = /^\$\{azurerm_network_security_group\.([a-z0-9_]+)\.name\}$/.exec(rule.network_security_group_name)?.[1];
    assert.ok(nsg, `${rule.name} names its NSG by reference`);
    out.set(nsg, [...(out.get(nsg) ?? []), rule]);
  }
  return out;
}

const only = (rule: NsgRule, keys: string[]): string[] => keys.filter((k) => rule[k] !== undefined);

describe('Azure NSG export (Terraform)', () => {
  it('parses as HCL, and every reference names a variable or resource the file defines', async () => {
    const { json } = await render();
    assert.deepEqual(undefinedReferences(json), []);
    assert.deepEqual(Object.keys(json.variable ?? {}).sort(), ['location', 'resource_group_name']);
  });

  it('the reference check can fail: a rule naming an undefined ASG and NSG is reported', async () => {
    const { text } = await render();
    const broken = `${text}\nresource "azurerm_network_security_rule" "stray" {\n  network_security_group_name = azurerm_network_security_group.nowhere.name\n  source_application_security_group_ids = [azurerm_application_security_group.ghost.id]\n}\n`;
    assert.deepEqual(undefinedReferences(await parseHcl('main.tf', broken)), ['azurerm_application_security_group.ghost', 'azurerm_network_security_group.nowhere']);
  });

  it('creates an ASG per label or workload group and an NSG per target group', async () => {
    const { json } = await render();
    assert.deepEqual([...resources(json, 'azurerm_application_security_group').keys()], ['billing', 'db_prod', 'dns_prod', 'erp_prod', 'reports_prod', 'shop_api', 'shop_web', 'workload_backup_01']);
    assert.deepEqual([...resources(json, 'azurerm_network_security_group').keys()], ['billing', 'db_prod', 'dns_prod', 'erp_prod', 'shop_api', 'shop_web']);
    for (const asg of resources(json, 'azurerm_application_security_group').values()) assert.deepEqual([asg.location, asg.resource_group_name], ['${var.location}', '${var.resource_group_name}']);
  });

  it('gives each NSG unique priorities from 100 up, in 100-4096, and ends it with a DenyAll at 4096', async () => {
    for (const [nsg, rules] of byNsg((await render()).json)) {
      const priorities = rules.map((r) => r.priority);
      assert.equal(new Set(priorities).size, priorities.length, `${nsg}: priorities are unique`);
      assert.ok(priorities.every((p) => Number.isInteger(p) && p >= 100 && p <= 4096), nsg);
      const allows = rules.filter((r) => r.access === 'Allow').map((r) => r.priority).sort((a, b) => a - b);
      assert.deepEqual(allows, allows.map((_, i) => 100 + i), `${nsg}: allows count up from 100`);
      const deny = rules.find((r) => r.access === 'Deny');
      assert.deepEqual(deny && only(deny, ['source_address_prefix', 'destination_address_prefix', 'destination_port_range']).map((k) => deny[k]), ['*', '*', '*']);
      assert.deepEqual([deny?.priority, deny?.protocol, deny?.direction], [4096, '*', 'Inbound']);
      assert.equal(new Set(rules.map((r) => r.name)).size, rules.length, `${nsg}: rule names are unique`);
    }
  });

  it('writes rules Azure accepts: one source and one port form each, the target ASG as destination, one IP family per rule', async () => {
    for (const [nsg, rules] of byNsg((await render()).json)) {
      for (const rule of rules.filter((r) => r.access === 'Allow')) {
        assert.match(rule.name, /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/);
        assert.ok((rule.description ?? '').length <= 140, rule.name);
        assert.equal(only(rule, ['source_address_prefix', 'source_address_prefixes', 'source_application_security_group_ids']).length, 1, rule.name);
        assert.equal(only(rule, ['destination_port_range', 'destination_port_ranges']).length, 1, rule.name);
        assert.deepEqual(rule.destination_application_security_group_ids, [`\${azurerm_application_security_group.${nsg}.id}`]);
        assert.deepEqual([rule.direction, rule.source_port_range], ['Inbound', '*']);
        assert.ok(['Tcp', 'Udp', 'Icmp'].includes(rule.protocol), rule.name);
        for (const range of (rule.destination_port_ranges as string[] | undefined) ?? []) assert.match(range, /^\d{1,5}(-\d{1,5})?$/);
        const prefixes = (rule.source_address_prefixes as string[] | undefined) ?? [];
        for (const p of prefixes) assertCanonicalCidr(p, rule.name);
        assert.ok(prefixes.every((p) => p.includes(':')) || prefixes.every((p) => !p.includes(':')), `${rule.name} mixes IPv4 and IPv6`);
      }
    }
  });

  it('writes sources as ASGs, prefixes or the Internet tag, and ports as Azure ranges', async () => {
    const nsgs = byNsg((await render()).json);
    const rule = (nsg: string, id: string): NsgRule[] => (nsgs.get(nsg) ?? []).filter((r) => r.name.endsWith(`-${id}`));
    assert.deepEqual(rule('billing', 'r-api-billing').map((r) => [r.source_application_security_group_ids, r.destination_port_ranges]), [
      [['${azurerm_application_security_group.shop_api.id}'], ['8443', '9443']],
    ]);
    assert.deepEqual(rule('db_prod', 'r-erp-db').map((r) => r.destination_port_ranges), [['49152-65535']]);
    assert.deepEqual(rule('shop_web', 'r-inet-web').map((r) => r.source_address_prefix), ['Internet']);
    assert.deepEqual(rule('erp_prod', 'x-rdp-erp').map((r) => r.source_address_prefixes), [['10.20.0.0/16']]);
    assert.deepEqual(rule('shop_api', 'r-db-icmp').map((r) => [r.protocol, r.destination_port_range]), [['Icmp', '*']]);
    assert.deepEqual(rule('dns_prod', 'r-erp-dns').map((r) => r.protocol), ['Udp']);
  });

  it('skips address targets, and allows beyond priority 4095, with reasons', async () => {
    assert.deepEqual((await render()).skipped.map((s) => s.rule), ['r-api-saas']);
    const input = exportFixture();
    const many: ExportRule[] = Array.from({ length: 4000 }, (_, i) => ({ id: `r-bulk-${String(i).padStart(4, '0')}`, from: GROUPS.erp, to: GROUPS.reports, protocol: 'tcp', ports: [1024 + i], comment: '' }));
    input.rules.push(...many);
    const { json, skipped } = await render(input);
    const full = skipped.filter((s) => /is full/.test(s.reason));
    assert.equal(full.length, 4000 - (4095 - 100 + 1));
    const reports = byNsg(json).get('reports_prod') ?? [];
    assert.equal(Math.max(...reports.filter((r) => r.access === 'Allow').map((r) => r.priority)), 4095);
  });
});
