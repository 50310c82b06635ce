// nftables export for a Linux router or firewall between the groups: a script for `nft -f` holding
// `table inet flowmap` with one named interval set per group and IP family (its addresses at export
// time; a set may be empty and is kept so `nft add element` can fill it), and a `forward` chain with
// policy drop that accepts established traffic and then each rule, IPv4 and IPv6 apart.
//
// The script starts with `table inet flowmap {}` and `delete table inet flowmap`: the first creates
// the table when absent so the delete never fails, and the whole file is one transaction, so loading
// it again replaces the table atomically. The internet is "not in the private ranges"
// (`ip saddr != @private_v4`). Limits (reported in `skipped`): only forwarded traffic is filtered;
// a rule is written for a family only when both sides have addresses in it at export time.
import { nftName } from './names.js';
import { byName, enforcedRules, hashComment, headerLines, icmpFamily, oneLine, portList, portProblem, PORTED_PROTOCOLS, PRIVATE_V4, PRIVATE_V6, protocolNumber, type Rendered } from './rules.js';
import type { ExportGroup, ExportInput, ExportRule } from '../types.js';

/** nftables keeps at most 128 bytes of a comment (NFTNL_UDATA_COMMENT_MAXLEN). */
const COMMENT_MAX = 128;

function setName(group: ExportGroup, family: 4 | 6): string {
  return `g_${nftName(group.name)}_v${family}`;
}

function setBlock(name: string, family: 4 | 6, elements: readonly string[]): string {
  // auto-merge: overlapping prefixes (a host inside a subnet of the same group) would be refused.
  const lines = [`\tset ${name} {`, `\t\ttype ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`, '\t\tflags interval', '\t\tauto-merge'];
  if (elements.length > 0) lines.push(`\t\telements = { ${elements.join(', ')} }`);
  return `${lines.join('\n')}\n\t}\n`;
}

/** The address match of one side for one family, or undefined when that side has no such addresses. */
function side(group: ExportGroup, family: 4 | 6, direction: 'saddr' | 'daddr'): string | undefined {
  const ip = family === 4 ? 'ip' : 'ip6';
  if (group.kind === 'internet') return `${ip} ${direction} != @private_v${family}`;
  const addresses = family === 4 ? group.v4 : group.v6;
  return addresses.length === 0 ? undefined : `${ip} ${direction} @${setName(group, family)}`;
}

/** The protocol and port match, or why nft cannot write it. */
function protocolMatch(rule: ExportRule, family: 4 | 6): string | undefined {
  const icmp = icmpFamily(rule.protocol);
  if (icmp !== undefined) return icmp !== family ? undefined : family === 4 ? 'ip protocol icmp' : 'meta l4proto ipv6-icmp';
  if (PORTED_PROTOCOLS.has(rule.protocol)) {
    if (rule.ports.length === 0) return `meta l4proto ${rule.protocol}`;
    const ports = portList(rule.ports, '-');
    return rule.ports.length === 1 ? `${rule.protocol} dport ${ports}` : `${rule.protocol} dport { ${ports.split(',').join(', ')} }`;
  }
  return `meta l4proto ${protocolNumber(rule.protocol)}`;
}

function comment(rule: ExportRule): string {
  return oneLine(`${rule.id}: ${rule.comment}`, COMMENT_MAX, /["\\]/g);
}

export function renderNftables(input: ExportInput): Rendered {
  const { rules, skipped } = enforcedRules(input);
  const lines: string[] = [];
  for (const rule of rules) {
    const problem = portProblem(rule) ?? (protocolNumber(rule.protocol) === undefined ? `nftables knows no protocol ${rule.protocol}` : undefined);
    if (problem !== undefined) {
      skipped.push({ rule: rule.id, reason: problem });
      continue;
    }
    let written = 0;
    for (const family of [4, 6] as const) {
      const from = side(rule.from, family, 'saddr');
      const to = side(rule.to, family, 'daddr');
      const match = protocolMatch(rule, family);
      if (from === undefined || to === undefined || match === undefined) continue;
      lines.push(`\t\t${from} ${to} ${match} accept comment "${comment(rule)}"`);
      written++;
    }
    if (written === 0) skipped.push({ rule: rule.id, reason: `${rule.from.name} and ${rule.to.name} have no addresses of a common IP family for ${rule.protocol} at export time` });
  }

  const groups = new Map<string, ExportGroup>();
  for (const group of [...input.groups, ...rules.flatMap((r) => [r.from, r.to])]) if (group.kind !== 'internet') groups.set(group.name, group);
  let sets = setBlock('private_v4', 4, PRIVATE_V4) + setBlock('private_v6', 6, PRIVATE_V6);
  for (const group of [...groups.values()].sort(byName)) {
    sets += `\n\t# ${oneLine(group.key, 200)}\n`;
    sets += setBlock(setName(group, 4), 4, group.v4) + setBlock(setName(group, 6), 6, group.v6);
  }

  const header = headerLines(
    input,
    'nftables ruleset: load with `nft -f FILE` (check first with `nft -c -f FILE`).',
    ['Filters forwarded traffic only (hook forward); the host itself is not covered.', 'Sets hold the addresses the inventory held at export time.'],
    skipped,
  );
  const text = [
    `#!/usr/sbin/nft -f\n${hashComment(header)}`,
    'table inet flowmap {}\ndelete table inet flowmap\n',
    'table inet flowmap {\n',
    sets,
    '\n\tchain forward {\n',
    '\t\ttype filter hook forward priority filter; policy drop;\n',
    '\t\tct state established,related accept\n',
    '\t\tct state invalid drop\n',
    lines.map((l) => `${l}\n`).join(''),
    '\t}\n}\n',
  ].join('');
  return { text, skipped };
}
