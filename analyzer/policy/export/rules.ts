// What every exporter does with an ExportInput before it writes a line: which rules still apply
// (exceptions past their expiry drop out), the order they are written in (so the same input gives
// the same bytes), how a port, a protocol and the internet are spelled, and the header that says
// what the file is and which rules it could not express.
import { PORTED_PROTOCOLS, protocolNumber, sortPorts } from '../selectors.js';
import type { ExportGroup, ExportInput, ExportRule, PortSpec } from '../types.js';

/** A rule an exporter could not write, and why (Exported.skipped). */
export interface Skip {
  rule: string;
  reason: string;
}

/** What a format module returns; index.ts adds the file name and content type. */
export interface Rendered {
  text: string;
  skipped: Skip[];
}

/**
 * "The internet" as flowmap groups it: every address outside the private ranges (RFC 1918 for
 * IPv4, RFC 4193 unique local for IPv6). Formats that cannot subtract ranges say so in their header.
 */
export const PRIVATE_V4 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] as const;
export const PRIVATE_V6 = ['fc00::/7'] as const;

// Protocol names and numbers are the policy stage's (selectors.ts), so exports read rules as rules were written.
export { PORTED_PROTOCOLS, protocolNumber };

/** ICMP for IPv4 (1) or IPv6 (58): 4, 6, or undefined for any other protocol. */
export function icmpFamily(protocol: string): 4 | 6 | undefined {
  const n = protocolNumber(protocol);
  return n === 1 ? 4 : n === 58 ? 6 : undefined;
}

/**
 * Why a rule's ports cannot be written in any format, or undefined: port 0 is no service port, and
 * a protocol without ports (ICMP, GRE, …) cannot be limited to some.
 */
export function portProblem(rule: ExportRule): string | undefined {
  if (PORTED_PROTOCOLS.has(rule.protocol)) return rule.ports.some((p) => p === 0) ? 'port 0 is not a service port' : undefined;
  return rule.ports.length > 0 ? `${rule.protocol} has no ports, yet the rule lists ${portList(rule.ports, '-')}` : undefined;
}

export function byName(a: ExportGroup, b: ExportGroup): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rules ordered by target, source, protocol, ports and id: files diff cleanly between exports. */
export function compareRules(a: ExportRule, b: ExportRule): number {
  return (
    compareText(a.to.name, b.to.name) ||
    compareText(a.from.name, b.from.name) ||
    compareText(a.protocol, b.protocol) ||
    compareText(portList(a.ports, '-'), portList(b.ports, '-')) ||
    compareText(a.id, b.id)
  );
}

/**
 * The rules an enforcing format writes, in order, with their ports sorted; exceptions whose expiry
 * is at or before the export time are left out (types.ts: they stop applying at that instant).
 */
export function enforcedRules(input: ExportInput): { rules: ExportRule[]; skipped: Skip[] } {
  const at = Date.parse(input.generatedAt);
  const rules: ExportRule[] = [];
  const skipped: Skip[] = [];
  for (const rule of input.rules) {
    if (rule.exception !== undefined && !(Date.parse(rule.exception.expires) > at)) {
      skipped.push({ rule: rule.id, reason: `exception expired at ${rule.exception.expires}` });
      continue;
    }
    rules.push({ ...rule, ports: sortPorts(rule.ports) });
  }
  rules.sort(compareRules);
  return { rules, skipped };
}

export function portText(port: PortSpec, rangeSeparator: string): string {
  return typeof port === 'number' ? String(port) : `${port.first}${rangeSeparator}${port.last}`;
}

export function portList(ports: readonly PortSpec[], rangeSeparator: string): string {
  return ports.map((p) => portText(p, rangeSeparator)).join(',');
}

/** A group whose pods a Kubernetes-aware format can select: it has namespaces and labels to match. */
export function isPodGroup(group: ExportGroup): boolean {
  return group.namespaces.length > 0 && Object.keys(group.labels).length > 0;
}

export function compareSkips(a: Skip, b: Skip): number {
  return compareText(a.rule, b.rule) || compareText(a.reason, b.reason);
}

/** One line of printable ASCII, at most `max` characters (cut with `...`), without the characters `drop` matches. */
export function oneLine(text: string, max: number, drop?: RegExp): string {
  const printable = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '');
  const cleaned = (drop === undefined ? printable : printable.replace(drop, ''))
    .replace(/ {2,}/g, ' ')
    .trim();
  return cleaned.length <= max ? cleaned : `${cleaned.slice(0, max - 3).trimEnd()}...`;
}

/** The comment lines a file starts with: what it is, from which policy, and what it left out. */
export function headerLines(input: ExportInput, what: string, limits: readonly string[], skipped: readonly Skip[]): string[] {
  const p = input.policy;
  const lines = [
    `flowmap policy "${oneLine(p.name, 120)}" (${oneLine(p.id, 80)}) version ${p.version}, exported ${oneLine(input.generatedAt, 40)}.`,
    what,
    'Generated: change the policy in flowmap and export again rather than editing this file.',
    ...limits,
  ];
  if (skipped.length === 0) lines.push('Every rule of the policy is expressed.');
  else {
    lines.push(`Skipped ${skipped.length} rule${skipped.length === 1 ? '' : 's'} this format cannot express (this file does not allow them):`);
    for (const s of [...skipped].sort(compareSkips)) lines.push(`  ${oneLine(s.rule, 80)}: ${oneLine(s.reason, 200)}`);
  }
  return lines;
}

/** Header lines as `#` comments (YAML, HCL and nft share the syntax). */
export function hashComment(lines: readonly string[]): string {
  return lines.map((l) => (l === '' ? '#' : `# ${l}`)).join('\n') + '\n';
}
