// Test helpers for flow search (Store.searchFlows), shared by the store's tests and the API's: an
// estate of records drawn to be awkward (many flows in one second, exact duplicates, flows that
// differ only in their cloud strings, IPv4 and IPv6 at the ends of the address space, every
// orientation), and a brute-force oracle that restates the port's contract over plain records —
// filter, order, row shape — without using the store's code.
import { FLOW_ACTIONS, FLOW_SOURCES, SERVER_SIDES, flowAt, flowBatchOf, type FlowRecord } from '../core/flow.js';
import { formatAddress, parseAddress, parsePrefix, prefixContains } from '../core/ip.js';
import type { FlowSearchQuery, FlowSearchRow, FlowSearchSort, Store } from './port.js';

const A = (text: string): Uint8Array => parseAddress(text);

/** A small deterministic PRNG (mulberry32), so the estate is the same on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EXPORTERS = ['192.0.2.1', '192.0.2.2', '2001:db8:ffff::1'];
const HOSTS = [
  '10.1.0.1',
  '10.1.0.2',
  '10.1.0.255',
  '10.1.1.7',
  '10.2.0.9',
  '172.16.5.4',
  '192.168.1.1',
  '0.0.0.0',
  '255.255.255.255',
  '203.0.113.9',
  '2001:db8::1',
  '2001:db8::2',
  '2001:db8:1::53',
  '2001:db8:ffff::ffff',
  'fd00::1',
  '::',
  '::1',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '::fffe:a01:1',
];

/**
 * Records over two UTC days from `day` (and one 20 days before): 400 drawn at random plus the
 * awkward ones. `day` should be a UTC midnight.
 */
export function searchRecords(day: number): FlowRecord[] {
  const next = random(0x5eed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  const records: FlowRecord[] = [];
  for (let i = 0; i < 400; i++) {
    records.push({
      time_received: day + Math.floor(next() * 2 * 86_400),
      time_start: day + Math.floor(next() * 86_400),
      time_end: day + Math.floor(next() * 2 * 86_400),
      source: pick(FLOW_SOURCES),
      exporter: A(pick(EXPORTERS)),
      observation_domain: pick([0, 7, 0xffffffff]),
      src_addr: A(pick(HOSTS)),
      dst_addr: A(pick(HOSTS)),
      src_port: pick([0, 53, 443, 8080, 40000 + i, 65535]),
      dst_port: pick([0, 53, 443, 5432, 50000 + i, 65535]),
      proto: pick([6, 17, 1, 58, 132]),
      tcp_flags: pick([0, 2, 0x12, 0x1b]),
      bytes: pick([40, 40, 1500, 1_000_000, Number.MAX_SAFE_INTEGER, 0]),
      packets: pick([1, 2, 1000]),
      sampling_rate: pick([1, 1000]),
      in_if: pick([0, 3, 0xffffffff]),
      out_if: pick([0, 4]),
      vlan: pick([0, 4095]),
      action: pick(FLOW_ACTIONS),
      server_side: pick(SERVER_SIDES),
      cloud_account: pick(['', '123456789012', "o'brien\\"]),
      cloud_region: pick(['', 'eu-west-1']),
    });
  }
  // 30 flows in one second, a page boundary falls among them whatever the page size.
  const second = day + 3600 * 5 + 17;
  for (let i = 0; i < 30; i++) {
    records.push({ time_received: second, source: 'netflow9', exporter: A('192.0.2.1'), src_addr: A(`10.1.0.${1 + (i % 3)}`), dst_addr: A('10.2.0.9'), src_port: 40000 + (i % 7), dst_port: 443, proto: 6, bytes: 100, server_side: 'dst' });
  }
  // Exact duplicates (a record exported twice), and flows that differ only in their strings.
  const twin: FlowRecord = { time_received: second, source: 'ipfix', exporter: A('192.0.2.2'), src_addr: A('2001:db8::1'), dst_addr: A('2001:db8:1::53'), src_port: 5353, dst_port: 53, proto: 17, bytes: 100 };
  for (let i = 0; i < 4; i++) records.push({ ...twin });
  for (const eni of ['eni-b', 'eni-a', 'eni-c', "eni-'; DROP TABLE flows; --", 'eni-ünï-日本-🚀', 'eni-nul\0x']) {
    records.push({ ...twin, source: 'aws_vpc', cloud_interface: eni, cloud_account: '123456789012' });
  }
  // The range's edges: its first second, its last second, and one second past it.
  records.push({ time_received: day, source: 'sflow', exporter: A('192.0.2.1'), src_addr: A('::ffff:10.1.0.1'), dst_addr: A('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), src_port: 65535, dst_port: 0, proto: 6, bytes: 1, server_side: 'src' });
  records.push({ time_received: day + 2 * 86_400 - 1, source: 'sflow', exporter: A('192.0.2.1'), src_addr: A('::'), dst_addr: A('0.0.0.0'), src_port: 0, dst_port: 65535, proto: 17, bytes: 2, server_side: 'unknown' });
  records.push({ time_received: day + 2 * 86_400, source: 'sflow', exporter: A('192.0.2.1'), src_addr: A('10.1.0.1'), dst_addr: A('10.2.0.9'), src_port: 1, dst_port: 443, proto: 6, bytes: 3 });
  // Far back in the range: the windows must reach it.
  records.push({ time_received: day - 20 * 86_400 + 1, source: 'netflow5', exporter: A('192.0.2.1'), src_addr: A('10.1.0.1'), dst_addr: A('10.2.0.9'), src_port: 2, dst_port: 443, proto: 6, bytes: 4 });
  return records;
}

const DEFAULTED = (r: FlowRecord): Required<FlowRecord> => flowAt(flowBatchOf([r]), 0);

/**
 * The contract's order: time sorts by time_received, then bytes, dst_addr, dst_port, src_addr,
 * src_port, proto, exporter, observation_domain, time_start, time_end, packets, tcp_flags,
 * sampling_rate, in_if, out_if, vlan, source, action, server_side, then the cloud strings
 * bytewise; bytes-desc by bytes, then time_received and the rest; all in the sort's direction.
 */
const ORDER_TAIL = ['dst_addr', 'dst_port', 'src_addr', 'src_port', 'proto', 'exporter', 'observation_domain', 'time_start', 'time_end', 'packets', 'tcp_flags', 'sampling_rate', 'in_if', 'out_if', 'vlan', 'source', 'action', 'server_side', 'cloud_account', 'cloud_region', 'cloud_vpc', 'cloud_subnet', 'cloud_instance', 'cloud_interface'] as const;

function compareField(a: Required<FlowRecord>, b: Required<FlowRecord>, field: keyof FlowRecord): number {
  const x = a[field];
  const y = b[field];
  if (x instanceof Uint8Array && y instanceof Uint8Array) return Buffer.compare(x, y);
  if (field === 'source') return FLOW_SOURCES.indexOf(a.source) - FLOW_SOURCES.indexOf(b.source);
  if (field === 'action') return FLOW_ACTIONS.indexOf(a.action) - FLOW_ACTIONS.indexOf(b.action);
  if (field === 'server_side') return SERVER_SIDES.indexOf(a.server_side) - SERVER_SIDES.indexOf(b.server_side);
  if (typeof x === 'string' && typeof y === 'string') return Buffer.compare(Buffer.from(x), Buffer.from(y));
  return Number(x) - Number(y);
}

function orderOf(sort: FlowSearchSort): (keyof FlowRecord)[] {
  return sort === 'bytes-desc' ? ['bytes', 'time_received', ...ORDER_TAIL] : ['time_received', 'bytes', ...ORDER_TAIL];
}

function inAny(prefixes: readonly { address: Uint8Array; length: number; family: 4 | 6 }[], address: Uint8Array): boolean {
  return prefixes.some((p) => prefixContains(p, address));
}

/** Every record the query matches, in the query's order, as rows: the answer pages must add up to. */
export function searchOracle(records: readonly FlowRecord[], q: FlowSearchQuery): FlowSearchRow[] {
  const sort = q.sort ?? 'time-desc';
  const matching = records.map(DEFAULTED).filter((r) => {
    const t = r.time_received;
    if (t < q.from || t >= q.to) return false;
    const client = r.server_side === 'src' ? r.dst_addr : r.src_addr;
    const server = r.server_side === 'src' ? r.src_addr : r.dst_addr;
    if (q.addresses !== undefined && !inAny(q.addresses, r.src_addr) && !inAny(q.addresses, r.dst_addr)) return false;
    if (q.clients !== undefined && !inAny(q.clients, client)) return false;
    if (q.servers !== undefined && !inAny(q.servers, server)) return false;
    if (q.ports !== undefined && !q.ports.includes(r.src_port) && !q.ports.includes(r.dst_port)) return false;
    if (q.protocol !== undefined && r.proto !== q.protocol) return false;
    if (q.exporter !== undefined && Buffer.compare(q.exporter, r.exporter) !== 0) return false;
    if (q.action !== undefined && r.action !== q.action) return false;
    if (q.endpoints !== undefined) {
      const member = q.endpoints.some((e) => (prefixContains(e.prefix, r.src_addr) || prefixContains(e.prefix, r.dst_addr)) && t >= (e.from ?? -Infinity) && t < (e.to ?? Infinity));
      if (!member) return false;
    }
    return true;
  });
  const fields = orderOf(sort);
  const direction = sort === 'time-asc' ? 1 : -1;
  matching.sort((a, b) => {
    for (const field of fields) {
      const c = compareField(a, b, field);
      if (c !== 0) return c * direction;
    }
    return 0;
  });
  return matching.map(expectedRow);
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** A record as the search answers it. */
export function expectedRow(record: FlowRecord): FlowSearchRow {
  const r = DEFAULTED(record);
  const srcServes = r.server_side === 'src';
  return {
    time: iso(r.time_received),
    timeStart: iso(r.time_start),
    timeEnd: iso(r.time_end),
    source: r.source,
    exporter: formatAddress(r.exporter),
    observationDomain: r.observation_domain,
    srcAddr: formatAddress(r.src_addr),
    srcPort: r.src_port,
    dstAddr: formatAddress(r.dst_addr),
    dstPort: r.dst_port,
    proto: r.proto,
    tcpFlags: r.tcp_flags,
    bytes: r.bytes,
    packets: r.packets,
    samplingRate: r.sampling_rate,
    inIf: r.in_if,
    outIf: r.out_if,
    vlan: r.vlan,
    action: r.action,
    serverSide: r.server_side,
    client: formatAddress(srcServes ? r.dst_addr : r.src_addr),
    server: formatAddress(srcServes ? r.src_addr : r.dst_addr),
    servicePort: srcServes ? r.src_port : r.dst_port,
    cloud: { account: r.cloud_account, region: r.cloud_region, vpc: r.cloud_vpc, subnet: r.cloud_subnet, instance: r.cloud_instance, interface: r.cloud_interface },
  };
}

export interface PagedSearch {
  rows: FlowSearchRow[];
  pages: { flows: number; nextCursor?: string; scannedFrom: string; scannedTo: string }[];
}

/** Follows nextCursor to the end (at most `maxPages`), collecting every row. */
export async function pageThrough(store: Store, query: FlowSearchQuery, maxPages = 10_000): Promise<PagedSearch> {
  const rows: FlowSearchRow[] = [];
  const pages: PagedSearch['pages'] = [];
  let cursor: string | undefined;
  do {
    const page = await store.searchFlows({ ...query, ...(cursor === undefined ? {} : { cursor }) });
    rows.push(...page.flows);
    pages.push({ flows: page.flows.length, ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }), scannedFrom: page.scannedFrom, scannedTo: page.scannedTo });
    cursor = page.nextCursor;
    if (pages.length > maxPages) throw new Error(`more than ${maxPages} pages`);
  } while (cursor !== undefined);
  return { rows, pages };
}

export const P = parsePrefix;
