// AWS security groups as Terraform (hashicorp/aws ≥ 5): one `aws_security_group` per label or
// workload group, and per rule `aws_vpc_security_group_ingress_rule` resources on the server's
// group plus the matching `aws_vpc_security_group_egress_rule` on the client's. Terraform removes
// the allow-all egress rule AWS puts on a new group, so both directions are default deny and each
// allow needs both halves. Attaching the groups to instances or ENIs is left to the reader.
//
// Peers: another flowmap group by `referenced_security_group_id`; cidr and external groups by
// `cidr_ipv4` / `cidr_ipv6`, one resource per prefix (one rule carries one); the internet as
// 0.0.0.0/0 and ::/0 — security groups cannot subtract the private ranges. Limits (in `skipped`):
// a rule between two address groups has no group to live on; SCTP and other protocols without
// AWS port matching are skipped when the rule names ports, since AWS would open every port.
import { block, expression, type HclValue } from './hcl.js';
import { terraformName } from './names.js';
import { byName, enforcedRules, hashComment, headerLines, icmpFamily, oneLine, portProblem, protocolNumber, type Rendered } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

/** The characters AWS accepts in security group and rule descriptions (EC2 API reference). */
const NOT_DESCRIPTION = /[^a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]/g;
/** The characters AWS accepts in tag values across services. */
const NOT_TAG = /[^a-zA-Z0-9 _.:/=+\-@]/g;

function hasSecurityGroup(group: ExportGroup): boolean {
  return group.kind === 'labels' || group.kind === 'workload';
}

function sgRef(group: ExportGroup): string {
  return `aws_security_group.${terraformName(group.name)}.id`;
}

/** A peer of one rule half: another security group, or one prefix. */
type Peer = ['referenced_security_group_id', string] | ['cidr_ipv4' | 'cidr_ipv6', string];

function peersOf(group: ExportGroup): Peer[] {
  if (hasSecurityGroup(group)) return [['referenced_security_group_id', sgRef(group)]];
  if (group.kind === 'internet') return [['cidr_ipv4', '0.0.0.0/0'], ['cidr_ipv6', '::/0']];
  return [...group.v4.map((c): Peer => ['cidr_ipv4', c]), ...group.v6.map((c): Peer => ['cidr_ipv6', c])];
}

/** `ip_protocol` with the port span of each resource, per peer family; undefined: the protocol cannot be written. */
function protocolFor(rule: ExportRule, peer: Peer): { ip_protocol: string; spans: [number, number][] } | undefined {
  const icmp = icmpFamily(rule.protocol);
  if (icmp !== undefined) {
    if ((peer[0] === 'cidr_ipv4' && icmp === 6) || (peer[0] === 'cidr_ipv6' && icmp === 4)) return undefined;
    // -1/-1: every ICMP type and code.
    return { ip_protocol: icmp === 4 ? 'icmp' : 'icmpv6', spans: [[-1, -1]] };
  }
  if (rule.protocol === 'tcp' || rule.protocol === 'udp') {
    const spans = rule.ports.length === 0 ? [[0, 65535] as [number, number]] : rule.ports.map((p): [number, number] => (typeof p === 'number' ? [p, p] : [p.first, p.last]));
    return { ip_protocol: rule.protocol, spans };
  }
  if (rule.ports.length > 0) return undefined;
  return { ip_protocol: String(protocolNumber(rule.protocol)), spans: [] };
}

function description(text: string): string {
  return oneLine(text, 255, NOT_DESCRIPTION);
}

function tagValue(text: string): string {
  return oneLine(text.replace(NOT_TAG, ' '), 255);
}

function ruleBlocks(rule: ExportRule, kind: 'ingress' | 'egress', owner: ExportGroup, peers: Peer[], policyTag: string): string[] {
  const out: string[] = [];
  for (const peer of peers) {
    const protocol = protocolFor(rule, peer);
    if (protocol === undefined) continue;
    for (const span of protocol.spans.length === 0 ? [undefined] : protocol.spans) {
      const name = `${terraformName(owner.name)}_${kind === 'ingress' ? 'in' : 'out'}_${terraformName(rule.id)}_${out.length + 1}`;
      const attributes: [string, HclValue | undefined][] = [
        ['security_group_id', expression(sgRef(owner))],
        ['description', description(`${rule.id}: ${rule.comment}`)],
        ['ip_protocol', protocol.ip_protocol],
        ['from_port', span?.[0]],
        ['to_port', span?.[1]],
        [peer[0], peer[0] === 'referenced_security_group_id' ? expression(peer[1]) : peer[1]],
        ['tags', { 'flowmap:policy': policyTag, 'flowmap:rule': tagValue(rule.id) }],
      ];
      out.push(block('resource', [`aws_vpc_security_group_${kind}_rule`, name], attributes));
    }
  }
  return out;
}

export function renderAws(input: ExportInput): Rendered {
  const { rules, skipped } = enforcedRules(input);
  const policyTag = tagValue(input.policy.id);
  const blocks: string[] = [];
  for (const rule of rules) {
    const problem = portProblem(rule) ?? (protocolNumber(rule.protocol) === undefined ? `AWS knows no protocol ${rule.protocol}` : undefined);
    if (problem !== undefined) {
      skipped.push({ rule: rule.id, reason: problem });
      continue;
    }
    const server = hasSecurityGroup(rule.to);
    const client = hasSecurityGroup(rule.from);
    if (!server && !client) {
      skipped.push({ rule: rule.id, reason: `neither ${rule.from.name} nor ${rule.to.name} is a label or workload group with a security group` });
      continue;
    }
    const written = [...(server ? ruleBlocks(rule, 'ingress', rule.to, peersOf(rule.from), policyTag) : []), ...(client ? ruleBlocks(rule, 'egress', rule.from, peersOf(rule.to), policyTag) : [])];
    if (written.length === 0) {
      const why = rule.ports.length > 0 && !['tcp', 'udp'].includes(rule.protocol) ? `AWS matches ports of TCP and UDP only; ${rule.protocol} would be open on every port` : 'no peer addresses of a family the protocol matches at export time';
      skipped.push({ rule: rule.id, reason: why });
      continue;
    }
    blocks.push(...written);
  }

  const groups = new Map<string, ExportGroup>();
  for (const group of [...input.groups, ...rules.flatMap((r) => [r.from, r.to])]) if (hasSecurityGroup(group)) groups.set(group.name, group);
  const definitions = [
    block('variable', ['vpc_id'], [
      ['type', expression('string')],
      ['description', 'The VPC the flowmap security groups are created in.'],
    ]),
    ...[...groups.values()].sort(byName).map((group) =>
      block('resource', ['aws_security_group', terraformName(group.name)], [
        ['name', `flowmap-${group.name}`],
        ['description', description(`flowmap policy ${input.policy.id} v${input.policy.version}: group ${group.key}`)],
        ['vpc_id', expression('var.vpc_id')],
        ['tags', { Name: `flowmap-${group.name}`, 'flowmap:policy': policyTag, 'flowmap:group': tagValue(group.key) }],
      ]),
    ),
  ];

  const header = headerLines(
    input,
    'AWS security groups as Terraform: `terraform plan` with -var vpc_id=vpc-...',
    ['Both directions are default deny: each allow is an ingress rule on the server and an egress rule on the client.', 'The internet is 0.0.0.0/0 and ::/0: security groups cannot except the private ranges.'],
    skipped,
  );
  return { text: [hashComment(header), ...definitions, ...blocks].join('\n'), skipped };
}
