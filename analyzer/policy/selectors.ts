// Selectors (DESIGN.md §9): how a rule, an intent or an exception names its two sides, and how one
// is matched against a baseline's groups. The one schema here is what every file, API body and
// imported policy is checked with, so a selector that reaches the analyzer is well formed.
//
// Matching is by group, not by address: a label map matches a label group that has every listed
// label (a selector coarser than the groupBy, `{"app": "shop"}`, matches every environment of it);
// `{"group": "internet"}` the internet group, `{"group": NAME}` the named external range (or
// `unlabeled` for every unlabeled subnet); `{"cidr": P}` an unlabeled subnet or named external range
// inside P, and the internet group only when P is a default route (an address-level question about
// the internet needs the host pairs, which group matching does not read); `{"workload": ID}` the
// group of a workload without groupBy labels.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parsePrefix, prefixContains, type Prefix } from '../../core/ip.js';
import { protocolName, type GroupNodeAttributes } from '../baseline/index.js';
import type { PortSpec, Selector } from './types.js';

const SPECIAL = ['cidr', 'group', 'workload'] as const;
const LABEL_KEY = /^[A-Za-z0-9_./-]{1,63}$/;

function validPrefix(text: string): boolean {
  try {
    parsePrefix(text);
    return text.includes('/');
  } catch {
    return false;
  }
}

/** A selector as files and API bodies give it; the refinements say which shapes are allowed. */
export const SelectorSchema = z.record(z.string(), z.string().min(1).max(253)).superRefine((selector, ctx) => {
  const keys = Object.keys(selector);
  if (keys.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'an empty selector would match everything; name labels, a cidr or a group' });
    return;
  }
  if (keys.length > 16) ctx.addIssue({ code: 'custom', message: `at most 16 labels (got ${keys.length})` });
  for (const special of SPECIAL) {
    if (selector[special] !== undefined && keys.length > 1) ctx.addIssue({ code: 'custom', message: `a {"${special}": …} selector has no other keys (got ${keys.join(', ')})` });
  }
  if (selector.cidr !== undefined && !validPrefix(selector.cidr)) ctx.addIssue({ code: 'custom', message: `cidr "${selector.cidr.slice(0, 64)}" is not a prefix such as 10.1.2.0/24 or 2001:db8::/32` });
  for (const key of keys) if (!LABEL_KEY.test(key)) ctx.addIssue({ code: 'custom', message: `"${key.slice(0, 64)}" is not a label key (letters, digits, _ . / -, up to 63)` });
});

export const PortSchema = z.union([
  z.number().int().min(0).max(65535),
  z
    .strictObject({ first: z.number().int().min(1).max(65535), last: z.number().int().min(1).max(65535) })
    .refine((r) => r.first <= r.last, 'a port range needs first <= last'),
]);

/** Other spellings of the baseline's protocol names (analyzer/baseline protocolName). */
const PROTOCOL_ALIASES: Readonly<Record<string, string>> = { icmpv6: 'ipv6-icmp', 'icmp6': 'ipv6-icmp', ipv6icmp: 'ipv6-icmp' };
/** Protocols whose rules name ports; every other protocol's rules have none. */
export const PORTED_PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'udp', 'sctp']);

/**
 * A protocol as rules, intents and the baseline's edges name it: the baseline's names (tcp, udp,
 * icmp, ipv6-icmp, gre, esp, …; `icmpv6` is accepted for ipv6-icmp) or the IANA number, which
 * becomes the same name — so a rule and an edge compare by name and mean the same protocol.
 */
export const ProtocolSchema = z.union([z.string().min(1).max(16), z.number().int().min(0).max(255)]).transform((p, ctx) => {
  const text = typeof p === 'number' ? String(p) : (PROTOCOL_ALIASES[p.toLowerCase()] ?? p.toLowerCase());
  if (/^\d{1,3}$/.test(text) && Number(text) <= 255) return protocolName(Number(text));
  if (PROTOCOL_BY_NAME[text] !== undefined) return text;
  ctx.addIssue({ code: 'custom', message: `"${String(p).slice(0, 16)}" is not a protocol: a name (${Object.keys(PROTOCOL_BY_NAME).join(', ')}) or an IANA number 0-255` });
  return z.NEVER;
});

const PROTOCOL_BY_NAME: Readonly<Record<string, number>> = Object.fromEntries(
  Array.from({ length: 256 }, (_, n): [string, number] => [protocolName(n), n]).filter(([name]) => !/^\d+$/.test(name)),
);

export function protocolNumber(protocol: string): number | undefined {
  const name = PROTOCOL_ALIASES[protocol] ?? protocol;
  if (PROTOCOL_BY_NAME[name] !== undefined) return PROTOCOL_BY_NAME[name];
  return /^\d{1,3}$/.test(protocol) && Number(protocol) <= 255 ? Number(protocol) : undefined;
}

/** Ports must be listed for tcp, udp and sctp (an empty list would mean every port) and absent for the others. */
export function portsProblem(protocol: string, ports: readonly PortSpec[], allowEmpty = false): string | undefined {
  if (PORTED_PROTOCOLS.has(protocol)) return ports.length === 0 && !allowEmpty ? `${protocol} needs its ports listed (an empty list would open every port)` : ports.some((p) => p === 0) ? 'port 0 is no service port' : undefined;
  return ports.length > 0 ? `${protocol} has no ports; leave ports out` : undefined;
}

/** The canonical text of a selector: keys sorted, `k=v` joined by commas, values percent-escaped. */
export function selectorKey(selector: Selector): string {
  const escape = (text: string): string => text.replace(/[%,=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return Object.keys(selector)
    .sort()
    .map((k) => `${escape(k)}=${escape(selector[k] ?? '')}`)
    .join(',');
}

/** 12 hex digits naming a dependency (two selectors, protocol, ports): rule and intent ids are derived from it, so they are stable. */
export function dependencyHash(from: Selector, to: Selector, protocol: string, ports: readonly PortSpec[]): string {
  return createHash('sha1').update(JSON.stringify([selectorKey(from), selectorKey(to), protocol, portsKey(ports)])).digest('hex').slice(0, 12);
}

export function portsKey(ports: readonly PortSpec[]): string {
  return ports.map((p) => (typeof p === 'number' ? String(p) : `${p.first}-${p.last}`)).join(',');
}

/** Ports sorted (numbers ascending, then ranges by start), duplicates removed. */
export function sortPorts(ports: readonly PortSpec[]): PortSpec[] {
  const numbers = [...new Set(ports.filter((p): p is number => typeof p === 'number'))].sort((a, b) => a - b);
  const ranges = ports.filter((p): p is { first: number; last: number } => typeof p !== 'number').sort((a, b) => a.first - b.first || a.last - b.last);
  const unique = ranges.filter((r, i) => i === 0 || r.first !== ranges[i - 1]?.first || r.last !== ranges[i - 1]?.last);
  return [...numbers, ...unique];
}

export function portMatches(ports: readonly PortSpec[], port: number): boolean {
  for (const p of ports) if (typeof p === 'number' ? p === port : port >= p.first && port <= p.last) return true;
  return false;
}

/** How many ports a port list opens. */
export function portCount(ports: readonly PortSpec[]): number {
  let n = 0;
  for (const p of ports) n += typeof p === 'number' ? 1 : p.last - p.first + 1;
  return n;
}

/** The selector that names a group of a baseline graph. */
export function selectorOfNode(node: GroupNodeAttributes): Selector {
  switch (node.kind) {
    case 'labels':
      return { ...node.labels };
    case 'internet':
      return { group: 'internet' };
    case 'external':
      return { group: node.group ?? node.label };
    case 'unlabeled':
      return node.subnet === undefined ? { group: 'unlabeled' } : { cidr: node.subnet };
    case 'workload':
      return { workload: node.workload ?? node.key };
  }
}

/** Named external ranges, for cidr selectors against external groups. */
export type Externals = ReadonlyMap<string, Prefix>;

function prefixWithin(inner: Prefix, outer: Prefix): boolean {
  return inner.length >= outer.length && prefixContains(outer, inner.address);
}

const prefixCache = new Map<string, Prefix | null>();
function cachedPrefix(text: string): Prefix | undefined {
  let prefix = prefixCache.get(text);
  if (prefix === undefined) {
    try {
      prefix = parsePrefix(text);
    } catch {
      prefix = null;
    }
    if (prefixCache.size > 10_000) prefixCache.clear();
    prefixCache.set(text, prefix);
  }
  return prefix ?? undefined;
}

/** Whether a selector covers a group (see the header for the rules). O(labels). */
export function selectorMatchesNode(selector: Selector, node: GroupNodeAttributes, externals: Externals = new Map()): boolean {
  if (selector.group !== undefined) {
    if (node.kind === 'internet') return selector.group === 'internet';
    if (node.kind === 'external') return selector.group === node.group;
    if (node.kind === 'unlabeled') return selector.group === 'unlabeled';
    return false;
  }
  if (selector.workload !== undefined) return node.kind === 'workload' && node.workload === selector.workload;
  if (selector.cidr !== undefined) {
    const outer = cachedPrefix(selector.cidr);
    if (outer === undefined) return false;
    if (node.kind === 'internet') return outer.length === 0 || (outer.family === 4 && outer.length === 96);
    if (node.kind === 'unlabeled' && node.subnet !== undefined) {
      const inner = cachedPrefix(node.subnet);
      return inner !== undefined && prefixWithin(inner, outer);
    }
    if (node.kind === 'external') {
      const inner = externals.get(node.group ?? '');
      return inner !== undefined && prefixWithin(inner, outer);
    }
    return false;
  }
  if (node.kind !== 'labels') return false;
  const labels = node.labels;
  let any = false;
  for (const [k, v] of Object.entries(selector)) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
    any = true;
  }
  return any;
}

/** Whether a selector names the internet or a named external range (DESIGN.md §9 `group`/`cidr` peers). */
export function isExternalSelector(selector: Selector): boolean {
  return selector.group === 'internet' || (selector.group !== undefined && selector.group !== 'unlabeled');
}

/** A short readable form: `app=shop,env=prod`, `internet`, `cidr 10.0.5.0/24`. */
export function describeSelector(selector: Selector): string {
  if (selector.group !== undefined) return selector.group;
  if (selector.cidr !== undefined) return `cidr ${selector.cidr}`;
  if (selector.workload !== undefined) return `workload ${selector.workload}`;
  return selectorKey(selector);
}

export function describePorts(protocol: string, ports: readonly PortSpec[]): string {
  if (ports.length === 0) return protocol;
  return `${protocol}/${ports.map((p) => (typeof p === 'number' ? String(p) : `${p.first}-${p.last}`)).join(',')}`;
}

/** The largest of some numbers (-Infinity for none), without spreading them onto the stack (a scan has 100,000s of edges). */
export function maxOf<T>(items: readonly T[], value: (item: T) => number): number {
  let m = -Infinity;
  for (const item of items) {
    const v = value(item);
    if (v > m) m = v;
  }
  return m;
}

export function minOf<T>(items: readonly T[], value: (item: T) => number): number {
  let m = Infinity;
  for (const item of items) {
    const v = value(item);
    if (v < m) m = v;
  }
  return m;
}
