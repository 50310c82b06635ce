// Addresses and prefixes. Internally every address is 16 bytes: IPv6 as is, IPv4 as the
// IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), so one column type and one compare
// serve both families. Text appears only at the edges (config, API, CLI output).
import { isIPv4, isIPv6 } from 'node:net';
import { FlowmapError } from './errors.js';

export type Address = Uint8Array;

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export function isV4Mapped(address: Address, offset = 0): boolean {
  for (let i = 0; i < 12; i++) if (address[offset + i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/** Writes an IPv4 address given as a 32-bit number into `out` at `offset` as ::ffff:a.b.c.d. */
export function writeV4(out: Uint8Array, offset: number, v4: number): void {
  out.fill(0, offset, offset + 10);
  out[offset + 10] = 0xff;
  out[offset + 11] = 0xff;
  out[offset + 12] = (v4 >>> 24) & 0xff;
  out[offset + 13] = (v4 >>> 16) & 0xff;
  out[offset + 14] = (v4 >>> 8) & 0xff;
  out[offset + 15] = v4 & 0xff;
}

function parseV4Octets(text: string): number[] | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').map(Number);
}

/** Parses IPv4 or IPv6 text (zone ids refused) into 16 bytes; undefined when it is neither. */
export function tryParseAddress(text: string): Address | undefined {
  const out = new Uint8Array(16);
  const v4 = parseV4Octets(text);
  if (v4 !== undefined) {
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  if (!isIPv6(text) || text.includes('%')) return undefined;
  // Split an embedded dotted quad (::ffff:1.2.3.4) into two hextets first.
  let body = text;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = parseV4Octets(tail);
    if (octets === undefined) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    body = `${body.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = body.split('::');
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  const rest = halves.length > 1 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : [];
  const groups = halves.length > 1 ? [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return undefined;
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  });
  return out;
}

export function parseAddress(text: string): Address {
  const address = tryParseAddress(text);
  if (address === undefined) {
    throw new FlowmapError('FLOWMAP_BAD_ADDRESS', `'${text}' is not an IPv4 or IPv6 address (examples: 192.0.2.1, 2001:db8::1)`, {
      status: 400,
      details: { value: text },
    });
  }
  return address;
}

/** Text form: dotted quad for IPv4-mapped addresses, RFC 5952 compressed form for IPv6. */
export function formatAddress(address: Uint8Array, offset = 0): string {
  if (isV4Mapped(address, offset)) {
    return `${address[offset + 12]}.${address[offset + 13]}.${address[offset + 14]}.${address[offset + 15]}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((address[offset + i * 2] ?? 0) << 8) | (address[offset + i * 2 + 1] ?? 0));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export interface Prefix {
  /** Network address, host bits zeroed, 16 bytes. */
  readonly address: Address;
  /** Prefix length in the 128-bit space (an IPv4 /24 is 120). */
  readonly length: number;
  readonly family: 4 | 6;
}

/** Parses `a.b.c.d/n` or `x::/n` (a bare address is a host prefix). Host bits must be zero. */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const lengthText = slash < 0 ? undefined : text.slice(slash + 1);
  const address = tryParseAddress(addressText);
  const family = isIPv4(addressText) ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const given = lengthText === undefined ? max : /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (address === undefined || !(given >= 0 && given <= max)) {
    throw new FlowmapError('FLOWMAP_BAD_CIDR', `'${text}' is not a CIDR prefix (examples: 10.0.0.0/8, 2001:db8::/32; length 0-32 for IPv4, 0-128 for IPv6)`, {
      status: 400,
      details: { value: text },
    });
  }
  const length = family === 4 ? given + 96 : given;
  const network = maskAddress(address, length);
  if (!network.every((b, i) => b === address[i])) {
    throw new FlowmapError('FLOWMAP_BAD_CIDR', `'${text}' has host bits set; did you mean ${formatAddress(network)}/${given}?`, {
      status: 400,
      details: { value: text },
    });
  }
  return { address: network, length, family };
}

export function maskAddress(address: Address, length: number): Address {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, length - i * 8));
    out[i] = (address[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

export function prefixContains(prefix: Prefix, address: Uint8Array, offset = 0): boolean {
  const full = prefix.length >> 3;
  for (let i = 0; i < full; i++) if (address[offset + i] !== prefix.address[i]) return false;
  const rest = prefix.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((address[offset + full] ?? 0) & mask) === prefix.address[full];
}

export function formatPrefix(prefix: Prefix): string {
  return `${formatAddress(prefix.address)}/${prefix.family === 4 ? prefix.length - 96 : prefix.length}`;
}

export function addressesEqual(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOffset + i] !== b[bOffset + i]) return false;
  return true;
}
