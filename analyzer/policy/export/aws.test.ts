import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderExport } from './index.js';
import { assertCanonicalCidr, exportFixture, GROUPS, parseHcl, resources, undefinedReferences, type TerraformJson } from './testing.js';
import type { ExportInput } from '../types.js';

type Rule = {
  security_group_id: string;
  ip_protocol: string;
  from_port?: number;
  to_port?: number;
  cidr_ipv4?: string;
  cidr_ipv6?: string;
  referenced_security_group_id?: string;
  description: string;
};

async function render(input: ExportInput = exportFixture()): Promise<{ json: TerraformJson; text: string; skipped: { rule: string; reason: string }[] }> {
  const out = renderExport('aws-sg', input);
  return { json: await parseHcl('main.tf', out.text), text: out.text, skipped: out.skipped };
}

function rules(json: TerraformJson, direction: 'ingress' | 'egress'): Map<string, Rule> {
  return resources(json, `aws_vpc_security_group_${direction}_rule`) as Map<string, Rule>;
}

/** What a rule half allows, written so an ingress half and its egress twin compare equal. */
function allows(rule: Rule, peerOf: 'owner' | 'peer'): string {
  const [self, other] = peerOf === 'owner' ? [rule.security_group_id, rule.referenced_security_group_id] : [rule.referenced_security_group_id, rule.security_group_id];
  return `${self} <- ${other} ${rule.ip_protocol} ${rule.from_port}-${rule.to_port}`;
}

describe('AWS security group export (Terraform)', () => {
  it('parses as HCL, and every reference names a variable or resource the file defines', async () => {
    const { json } = await render();
    assert.deepEqual(undefinedReferences(json), []);
    assert.deepEqual(Object.keys(json.variable ?? {}), ['vpc_id']);
  });

  it('the reference check can fail: a rule on an undefined group is reported', async () => {
    const { text } = await render();
    const broken = `${text}\nresource "aws_vpc_security_group_ingress_rule" "stray" {\n  security_group_id = aws_security_group.nowhere.id\n  ip_protocol       = "tcp"\n  cidr_ipv4         = var.office\n}\n`;
    assert.deepEqual(undefinedReferences(await parseHcl('main.tf', broken)), ['aws_security_group.nowhere', 'var.office']);
  });

  it('creates one security group per label or workload group, in var.vpc_id, and none for address groups', async () => {
    const { json } = await render();
    const groups = resources(json, 'aws_security_group');
    assert.deepEqual([...groups.keys()], ['billing', 'db_prod', 'dns_prod', 'erp_prod', 'reports_prod', 'shop_api', 'shop_web', 'workload_backup_01']);
    for (const [name, sg] of groups) {
      assert.equal(sg.vpc_id, '${var.vpc_id}');
      assert.equal(sg.name, `flowmap-${name.replace(/_/g, '-')}`);
      assert.match(String(sg.description), /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{1,255}$/);
    }
  });

  it('writes well-formed rules: one peer each, ports in range, ICMP as -1/-1, canonical CIDRs, AWS description characters', async () => {
    const { json } = await render();
    for (const direction of ['ingress', 'egress'] as const) {
      for (const [name, rule] of rules(json, direction)) {
        const peers = ['cidr_ipv4', 'cidr_ipv6', 'referenced_security_group_id'].filter((k) => rule[k as keyof Rule] !== undefined);
        assert.equal(peers.length, 1, `${name} has exactly one peer`);
        assert.match(rule.security_group_id, /^\$\{aws_security_group\.[a-z0-9_]+\.id\}$/);
        if (rule.cidr_ipv4 !== undefined) assertCanonicalCidr(rule.cidr_ipv4, name);
        if (rule.cidr_ipv6 !== undefined) assertCanonicalCidr(rule.cidr_ipv6, name);
        assert.ok(rule.cidr_ipv4 === undefined || !rule.cidr_ipv4.includes(':'), `${name}: cidr_ipv4 is IPv4`);
        assert.ok(rule.cidr_ipv6 === undefined || rule.cidr_ipv6.includes(':'), `${name}: cidr_ipv6 is IPv6`);
        if (rule.ip_protocol === 'icmp' || rule.ip_protocol === 'icmpv6') assert.deepEqual([rule.from_port, rule.to_port], [-1, -1], name);
        else {
          assert.ok(['tcp', 'udp'].includes(rule.ip_protocol), `${name}: ${rule.ip_protocol}`);
          assert.ok(rule.from_port !== undefined && rule.to_port !== undefined && rule.from_port >= 0 && rule.from_port <= rule.to_port && rule.to_port <= 65535, name);
        }
        assert.match(rule.description, /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{1,255}$/, name);
      }
    }
  });

  it('pairs every ingress rule from another group with the egress rule on that group (both directions default deny)', async () => {
    const { json } = await render();
    const ingress = [...rules(json, 'ingress').values()].filter((r) => r.referenced_security_group_id !== undefined).map((r) => allows(r, 'owner')).sort();
    const egress = [...rules(json, 'egress').values()].filter((r) => r.referenced_security_group_id !== undefined).map((r) => allows(r, 'peer')).sort();
    assert.ok(ingress.length > 0);
    assert.deepEqual(egress, ingress);
    assert.ok(ingress.includes('${aws_security_group.db_prod.id} <- ${aws_security_group.erp_prod.id} tcp 49152-65535'), 'the RPC range is one rule');
    assert.ok(ingress.includes('${aws_security_group.db_prod.id} <- ${aws_security_group.db_prod.id} tcp 5433-5433'), 'the intra-group rule references its own group');
  });

  it('admits addresses by prefix, the internet as 0.0.0.0/0 and ::/0, and egress to an external range by prefix', async () => {
    const { json } = await render();
    const ingress = [...rules(json, 'ingress').entries()];
    const web = ingress.filter(([name]) => name.startsWith('shop_web_in_r_inet_web_')).map(([, r]) => r.cidr_ipv4 ?? r.cidr_ipv6);
    assert.deepEqual(web, ['0.0.0.0/0', '::/0']);
    assert.deepEqual(ingress.filter(([name]) => name.startsWith('erp_prod_in_x_rdp_erp_')).map(([, r]) => r.cidr_ipv4), ['10.20.0.0/16']);
    const toSaas = [...rules(json, 'egress').entries()].filter(([name]) => name.startsWith('shop_api_out_r_api_saas_'));
    assert.deepEqual(toSaas.map(([, r]) => [r.cidr_ipv4, r.ip_protocol, r.from_port, r.to_port]), [['198.51.100.0/24', 'tcp', 443, 443]]);
    const icmp = ingress.filter(([name]) => name.startsWith('shop_api_in_r_db_icmp_')).map(([, r]) => r.ip_protocol);
    assert.deepEqual(icmp, ['icmp']);
  });

  it('writes every fixture rule, and skips SCTP ports and rules between two address groups, with reasons', async () => {
    assert.deepEqual((await render()).skipped, []);
    const input = exportFixture();
    input.rules.push(
      { id: 'r-sctp', from: GROUPS.web, to: GROUPS.api, protocol: 'sctp', ports: [2905], comment: '' },
      { id: 'r-saas-subnet', from: GROUPS.saas, to: GROUPS.subnet, protocol: 'tcp', ports: [22], comment: '' },
    );
    const reasons = new Map((await render(input)).skipped.map((s) => [s.rule, s.reason]));
    assert.match(reasons.get('r-sctp') ?? '', /TCP and UDP only/);
    assert.match(reasons.get('r-saas-subnet') ?? '', /neither saas nor cidr-10-20-0-0-16/);
  });
});
