// Azure network security groups as Terraform (hashicorp/azurerm ≥ 3): one
// `azurerm_application_security_group` per label or workload group (NICs join it to be selected),
// and per target group an `azurerm_network_security_group` whose `azurerm_network_security_rule`s
// allow inbound traffic to the target's ASG at priorities 100, 101, … and deny everything else at
// 4096. Associating the NSGs with subnets or NICs is left to the reader.
//
// Sources: another group's ASG; cidr and external groups by address prefixes, IPv4 and IPv6 in
// separate rules (Azure refuses a rule that mixes them); the internet as the `Internet` service
// tag. Limits (in `skipped`): targets that are addresses (cidr, external, internet) have no ASG;
// Azure matches TCP, UDP, ICMP, ESP and AH only; an NSG holds allows up to priority 4095. The deny
// at 4096 also overrides Azure's default AllowVnetInBound and AllowAzureLoadBalancerInBound:
// load balancer health probes need a rule of their own. Rules naming ASGs need every NIC of those
// ASGs in one virtual network.
import { block, expression, type HclValue } from './hcl.js';
import { azureName, terraformName } from './names.js';
import { byName, enforcedRules, hashComment, headerLines, icmpFamily, oneLine, portProblem, portText, protocolNumber, type Rendered } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

const FIRST_PRIORITY = 100;
const LAST_ALLOW_PRIORITY = 4095;
const DENY_PRIORITY = 4096;
/** Azure keeps at most 140 characters of a rule description. */
const DESCRIPTION_MAX = 140;

const RG = expression('var.resource_group_name');
const LOCATION = expression('var.location');

function hasAsg(group: ExportGroup): boolean {
  return group.kind === 'labels' || group.kind === 'workload';
}

function asgRef(group: ExportGroup): HclValue {
  return expression(`azurerm_application_security_group.${terraformName(group.name)}.id`);
}

function azureProtocol(protocol: string): string | undefined {
  if (icmpFamily(protocol) !== undefined) return 'Icmp';
  return ({ tcp: 'Tcp', udp: 'Udp', esp: 'Esp', ah: 'Ah' } as Record<string, string>)[protocol] ?? ({ 50: 'Esp', 51: 'Ah' } as Record<number, string>)[protocolNumber(protocol) ?? -1];
}

/** The source attributes of each Azure rule one flowmap rule becomes (one per family for prefixes). */
function sources(rule: ExportRule): [string, HclValue][][] {
  const from = rule.from;
  if (hasAsg(from)) return [[['source_application_security_group_ids', [asgRef(from)]]]];
  if (from.kind === 'internet') return [[['source_address_prefix', 'Internet']]];
  const family = icmpFamily(rule.protocol);
  const out: [string, HclValue][][] = [];
  if (from.v4.length > 0 && family !== 6) out.push([['source_address_prefixes', [...from.v4]]]);
  if (from.v6.length > 0 && family !== 4) out.push([['source_address_prefixes', [...from.v6]]]);
  return out;
}

function tags(input: ExportInput, group: ExportGroup): Record<string, string> {
  return { 'flowmap-policy': oneLine(input.policy.id, 256), 'flowmap-group': oneLine(group.key, 256) };
}

export function renderAzure(input: ExportInput): Rendered {
  const { rules, skipped } = enforcedRules(input);
  // Target name -> its NSG's rule blocks, and the next free priority.
  const nsgs = new Map<string, { group: ExportGroup; blocks: string[]; next: number }>();
  for (const rule of rules) {
    const target = rule.to;
    const problem = portProblem(rule) ?? (hasAsg(target) ? undefined : `target ${target.name} is addresses (${target.kind}), with no application security group to protect`);
    const protocol = azureProtocol(rule.protocol);
    if (problem !== undefined || protocol === undefined) {
      skipped.push({ rule: rule.id, reason: problem ?? `Azure NSG rules match TCP, UDP, ICMP, ESP and AH only, not ${rule.protocol}` });
      continue;
    }
    const from = sources(rule);
    if (from.length === 0) {
      skipped.push({ rule: rule.id, reason: `source ${rule.from.name} has no addresses ${rule.protocol} can match at export time` });
      continue;
    }
    let nsg = nsgs.get(target.name);
    if (nsg === undefined) nsgs.set(target.name, (nsg = { group: target, blocks: [], next: FIRST_PRIORITY }));
    if (nsg.next + from.length - 1 > LAST_ALLOW_PRIORITY) {
      skipped.push({ rule: rule.id, reason: `NSG of ${target.name} is full: allows take priorities ${FIRST_PRIORITY}-${LAST_ALLOW_PRIORITY}` });
      continue;
    }
    const ports: [string, HclValue][] =
      protocol === 'Tcp' || protocol === 'Udp' ? (rule.ports.length === 0 ? [['destination_port_range', '*']] : [['destination_port_ranges', rule.ports.map((p) => portText(p, '-'))]]) : [['destination_port_range', '*']];
    for (const source of from) {
      const priority = nsg.next++;
      const tf = terraformName(target.name);
      nsg.blocks.push(
        block('resource', ['azurerm_network_security_rule', `${tf}_${priority}`], [
          ['name', azureName(`flowmap-${priority}-${rule.id}`)],
          ['description', oneLine(`${rule.id}: ${rule.comment}`, DESCRIPTION_MAX)],
          ['resource_group_name', RG],
          ['network_security_group_name', expression(`azurerm_network_security_group.${tf}.name`)],
          ['priority', priority],
          ['direction', 'Inbound'],
          ['access', 'Allow'],
          ['protocol', protocol],
          ['source_port_range', '*'],
          ...source,
          ...ports,
          ['destination_application_security_group_ids', [asgRef(target)]],
        ]),
      );
    }
  }

  const asgs = new Map<string, ExportGroup>();
  for (const group of [...input.groups, ...rules.flatMap((r) => [r.from, r.to])]) if (hasAsg(group)) asgs.set(group.name, group);
  const blocks = [
    block('variable', ['resource_group_name'], [['type', expression('string')], ['description', 'The resource group the flowmap security groups are created in.']]),
    block('variable', ['location'], [['type', expression('string')], ['description', 'The Azure region of the resource group.']]),
    ...[...asgs.values()].sort(byName).map((group) =>
      block('resource', ['azurerm_application_security_group', terraformName(group.name)], [
        ['name', azureName(`flowmap-${group.name}`)],
        ['location', LOCATION],
        ['resource_group_name', RG],
        ['tags', tags(input, group)],
      ]),
    ),
  ];
  for (const nsg of [...nsgs.values()].sort((a, b) => byName(a.group, b.group))) {
    const tf = terraformName(nsg.group.name);
    blocks.push(
      block('resource', ['azurerm_network_security_group', tf], [
        ['name', azureName(`flowmap-${nsg.group.name}-nsg`)],
        ['location', LOCATION],
        ['resource_group_name', RG],
        ['tags', tags(input, nsg.group)],
      ]),
      ...nsg.blocks,
      block('resource', ['azurerm_network_security_rule', `${tf}_deny_all_inbound`], [
        ['name', 'flowmap-deny-all-inbound'],
        ['description', 'flowmap default deny: everything the rules above do not allow'],
        ['resource_group_name', RG],
        ['network_security_group_name', expression(`azurerm_network_security_group.${tf}.name`)],
        ['priority', DENY_PRIORITY],
        ['direction', 'Inbound'],
        ['access', 'Deny'],
        ['protocol', '*'],
        ['source_port_range', '*'],
        ['destination_port_range', '*'],
        ['source_address_prefix', '*'],
        ['destination_address_prefix', '*'],
      ]),
    );
  }

  const header = headerLines(
    input,
    'Azure NSGs and ASGs as Terraform: `terraform plan` with -var resource_group_name=... -var location=...',
    [
      'Inbound only. Associate each NSG with the subnets or NICs of its group, and the NICs with the ASGs.',
      'The deny at priority 4096 overrides AllowVnetInBound and AllowAzureLoadBalancerInBound: allow health probes yourself.',
    ],
    skipped,
  );
  return { text: [hashComment(header), ...blocks].join('\n'), skipped };
}
