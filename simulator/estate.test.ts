import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FlowRecord } from '../core/flow.js';
import { formatAddress, parseAddress, parsePrefix, prefixContains } from '../core/ip.js';
import { parseInventory, toInventory } from '../inventory/import/index.js';
import { createResolver, type Resolver } from '../inventory/resolver.js';
import { createEstate } from './estate.js';
import { intentsJson, inventoryJson, kubectlPodsJson, truthJson } from './outputs.js';
import { hourOfDay, weekday } from './patterns.js';
import { scenarioByName } from './scenarios.js';
import { CHUNK_RECORDS, EPHEMERAL_PORTS, LOW_SOURCE_PORTS, RPC_DYNAMIC_PORTS } from './traffic.js';
import type { SimulatedEstate, TruthEdge, TruthSelector } from './types.js';

const END = Date.parse('2026-11-30T00:00:00Z') / 1000;
const SYN = 0x02;
const ACK = 0x10;
const small = (seed = 7): SimulatedEstate => createEstate(scenarioByName('small'), { seed, days: 28, end: END });

const estate = small();
const chunks = [...estate.flows()];
const flows = chunks.flat();

function hashFlows(e: SimulatedEstate): string {
  const hash = createHash('sha256');
  for (const chunk of e.flows()) {
    for (const r of chunk) {
      hash.update(r.src_addr);
      hash.update(r.dst_addr);
      hash.update(r.exporter);
      hash.update(
        [r.time_received, r.time_start, r.time_end, r.source, r.src_port, r.dst_port, r.proto, r.tcp_flags, r.bytes, r.packets, r.sampling_rate, r.in_if, r.out_if, r.action, r.cloud_account, r.cloud_region, r.cloud_vpc, r.cloud_subnet, r.cloud_instance, r.cloud_interface].join(','),
      );
    }
  }
  return hash.digest('hex');
}

/** One record answered by nothing: a scan probe or a rejected cloud probe. */
const isProbe = (r: FlowRecord): boolean => r.action === 'reject' || (r.proto === 6 && r.tcp_flags === SYN);

/** Conversations as (client record, reply) — records of one conversation are adjacent. */
function conversations(records: readonly FlowRecord[]): { client: FlowRecord; reply: FlowRecord | undefined }[] {
  const out: { client: FlowRecord; reply: FlowRecord | undefined }[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as FlowRecord;
    if (isProbe(r)) out.push({ client: r, reply: undefined });
    else out.push({ client: r, reply: records[++i] });
  }
  return out;
}

const convs = conversations(flows);

function resolverOf(e: SimulatedEstate, text: string): Resolver {
  const parsed = parseInventory(text);
  assert.deepEqual(parsed.problems, []);
  return createResolver(toInventory(parsed, { source: 'sim', importedAt: 0 }), { externals: (e.externals ?? []).map((x) => ({ name: x.name, prefix: x.cidr })) });
}

function selectorKey(e: SimulatedEstate, s: TruthSelector): string {
  if ('group' in s) return `group=${s.group}`;
  if ('cidr' in s) return `group=${e.externals?.find((x) => x.cidr === s.cidr)?.name ?? s.cidr}`;
  return `app=${s.app},env=${s.env}`;
}

const portMatches = (edge: TruthEdge, port: number): boolean => (Array.isArray(edge.ports) ? edge.ports.includes(port) : port >= edge.ports.first && port <= edge.ports.last);

describe('estate model: determinism', () => {
  it('gives the same flows and files for the same seed, and different ones for another seed', () => {
    const again = small();
    assert.equal(hashFlows(again), hashFlows(estate));
    for (const render of [inventoryJson, kubectlPodsJson, intentsJson, truthJson]) assert.equal(render(again), render(estate));
    const other = small(8);
    assert.notEqual(hashFlows(other), hashFlows(estate));
    assert.notEqual(kubectlPodsJson(other), kubectlPodsJson(estate));
  });

  it('generates afresh on each call to flows()', () => {
    const first = [...estate.flows()].flat();
    assert.equal(first.length, flows.length);
    assert.deepEqual(first[1000], flows[1000]);
  });
});

describe('estate model: flow records', () => {
  it('has a moderate volume over 28 days (50k–200k records) in chunks of at most 8192', () => {
    assert.ok(flows.length >= 50_000 && flows.length <= 200_000, String(flows.length));
    assert.ok(chunks.every((c) => c.length > 0 && c.length <= CHUNK_RECORDS));
  });

  it('comes in time order, within the window, each record inside one hour', () => {
    let last = -Infinity;
    for (const r of flows) {
      const start = r.time_start as number;
      const end = r.time_end as number;
      assert.ok(start >= last, 'time order');
      last = start;
      assert.ok(start >= estate.window.from && end < estate.window.to);
      assert.ok(end >= start && Math.floor(start / 3600) === Math.floor(end / 3600), 'within the hour');
      assert.equal(r.time_received, end);
    }
  });

  it('fills the fields emitters rely on: ipfix from 192.0.2.1, unsampled, realistic counts', () => {
    const exporter = formatAddress(parseAddress('192.0.2.1'));
    for (const r of flows) {
      assert.equal(r.source, 'ipfix');
      assert.equal(formatAddress(r.exporter), exporter);
      assert.equal(r.sampling_rate, 1);
      assert.ok((r.packets as number) >= 1 && Number.isInteger(r.packets));
      assert.ok((r.bytes as number) >= 40 * (r.packets as number) && (r.bytes as number) < 2 ** 32);
      assert.equal(r.src_addr.length, 16);
    }
  });

  it('writes each conversation client → server first with SYN, then the reply without SYN', () => {
    let tcp = 0;
    for (const { client, reply } of convs) {
      if (reply === undefined) continue;
      assert.equal(formatAddress(reply.src_addr), formatAddress(client.dst_addr));
      assert.equal(reply.src_port, client.dst_port);
      assert.equal(reply.dst_port, client.src_port);
      assert.equal(reply.time_start, client.time_start);
      if (client.proto === 6) {
        tcp++;
        assert.ok(((client.tcp_flags as number) & SYN) !== 0);
        assert.ok(((reply.tcp_flags as number) & SYN) === 0 && ((reply.tcp_flags as number) & ACK) !== 0);
      }
    }
    assert.ok(tcp > 10_000);
  });

  it('uses ephemeral client ports, except NTP (123 → 123) and the backup server (low ports)', () => {
    for (const { client } of convs) {
      const port = client.src_port as number;
      if (client.dst_port === 123) assert.equal(port, 123);
      else if (client.dst_port === 9090) assert.ok(port >= LOW_SOURCE_PORTS.first && port <= LOW_SOURCE_PORTS.last);
      else assert.ok(port >= EPHEMERAL_PORTS.first && port <= EPHEMERAL_PORTS.last, `port ${port} to ${client.dst_port}`);
    }
  });

  it('makes the backup agent send the data: the server → client reply is the large record', () => {
    const backups = convs.filter((c) => c.client.dst_port === 9090);
    assert.ok(backups.length > 100);
    for (const { client, reply } of backups) assert.ok((reply?.bytes as number) > 50 * (client.bytes as number));
  });

  it('carries cloud fields and accept/reject on cloud flows, action unknown elsewhere', () => {
    let cloud = 0;
    let rejected = 0;
    for (const r of flows) {
      if (r.cloud_instance === '') {
        assert.equal(r.action, 'unknown');
        assert.equal(r.cloud_account, '');
      } else {
        cloud++;
        if (r.action === 'reject') rejected++;
        else assert.equal(r.action, 'accept');
        assert.equal(r.cloud_account, '123456789012');
        assert.equal(r.cloud_region, 'eu-west-1');
        assert.match(r.cloud_vpc as string, /^vpc-/);
        assert.match(r.cloud_subnet as string, /^subnet-[0-9a-f]{17}$/);
        assert.match(r.cloud_instance as string, /^i-[0-9a-f]{17}$/);
        assert.match(r.cloud_interface as string, /^eni-[0-9a-f]{17}$/);
      }
    }
    assert.ok(cloud > 1000 && rejected > 100, `${cloud} cloud, ${rejected} rejected`);
  });
});

describe('estate model: addresses over time', () => {
  const internet = parsePrefix('203.0.113.0/24');
  const saas = parsePrefix('198.51.100.0/24');
  const scanner = '10.0.5.66';
  /** Address → [from, to, workload id] of every binding, the brute-force oracle. */
  const owners = new Map<string, [number, number, string][]>();
  for (const w of estate.workloads) {
    for (const a of w.addresses) {
      const list = owners.get(a.address) ?? [];
      list.push([a.from, a.to ?? Infinity, w.id]);
      owners.set(a.address, list);
    }
  }
  const ownerAt = (address: string, t: number): string | undefined => owners.get(address)?.find(([from, to]) => from <= t && t < to)?.[2];

  it('sends every flow between workloads bound at that time, or the internet, SaaS ranges and the scanner', () => {
    for (const r of flows) {
      for (const address of [r.src_addr, r.dst_addr]) {
        const text = formatAddress(address);
        if (prefixContains(internet, address) || prefixContains(saas, address) || text === scanner) continue;
        assert.ok(ownerAt(text, r.time_start as number) !== undefined && ownerAt(text, r.time_end as number) === ownerAt(text, r.time_start as number), `${text} at ${r.time_start}`);
      }
    }
  });

  it('replaces pods over time and hands their addresses to new pods', () => {
    const pods = estate.workloads.filter((w) => w.kubernetes !== undefined);
    assert.ok(pods.length > 4 && pods.some((p) => p.addresses[0]?.to !== null));
    const reused = [...owners.values()].filter((list) => list.length > 1);
    assert.ok(reused.length >= 2, 'some addresses belonged to several pods');
    for (const list of reused) {
      const sorted = list.slice().sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < sorted.length; i++) assert.ok((sorted[i]?.[0] as number) >= (sorted[i - 1]?.[1] as number), 'one owner at a time');
    }
  });

  it('imports cleanly with flowmap parsers, and the inventory binds each reused address to the right pod at each time', () => {
    for (const text of [inventoryJson(estate), kubectlPodsJson(estate)]) {
      const resolver = resolverOf(estate, text);
      let checked = 0;
      for (const [address, list] of owners) {
        if (list.length < 2) continue;
        for (const [from, to, id] of list) {
          for (const t of [from, Math.min(to - 1, estate.window.to - 1), Math.floor((from + Math.min(to, estate.window.to)) / 2)]) {
            assert.equal(resolver.explain(parseAddress(address), t).workload?.id, id, `${address} at ${t}`);
            checked++;
          }
        }
      }
      assert.ok(checked > 10);
    }
    const parsed = parseInventory(inventoryJson(estate));
    assert.equal(parsed.workloads.length, estate.workloads.length);
    assert.equal(parseInventory(kubectlPodsJson(estate)).format, 'kubectl');
  });
});

describe('estate model: ground truth', () => {
  const resolver = resolverOf(estate, inventoryJson(estate));
  /** Observed (client group, server group, proto, port) → count, by the inventory's own resolution. */
  const observed: { from: string; to: string; proto: number; port: number; time: number }[] = convs
    .filter((c) => c.reply !== undefined)
    .map(({ client }) => ({ from: resolver.resolve(client.src_addr, client.time_start as number).key, to: resolver.resolve(client.dst_addr, client.time_start as number).key, proto: client.proto as number, port: client.dst_port as number, time: client.time_start as number }));
  const protoOf = (edge: TruthEdge): number => (edge.protocol === 'tcp' ? 6 : edge.protocol === 'udp' ? 17 : 1);
  const flowsOf = (edge: TruthEdge): typeof observed => {
    const from = selectorKey(estate, edge.from);
    const to = selectorKey(estate, edge.to);
    return observed.filter((o) => o.from === from && o.to === to && o.proto === protoOf(edge) && portMatches(edge, o.port));
  };

  it('has the dependencies the design names, documented or not', () => {
    const t = estate.truth;
    const has = (list: TruthEdge[], category: string, port: number): boolean => list.some((e) => e.category === category && portMatches(e, port));
    assert.ok(has(t.intended, 'infrastructure', 53) && has(t.intended, 'infrastructure', 123) && has(t.intended, 'infrastructure', 389) && has(t.intended, 'infrastructure', 88));
    assert.ok(has(t.intended, 'management', 22) && has(t.intended, 'management', 3389));
    assert.ok(has(t.intended, 'intended', 27017) && has(t.intended, 'intended', 50051) && has(t.intended, 'intended', 5432));
    assert.ok(has(t.undocumented, 'backup', 9090) && has(t.undocumented, 'monitoring', 9100) && has(t.undocumented, 'rpc-dynamic', 50000));
    assert.ok(t.undocumented.filter((e) => e.category === 'application').length >= 2);
    assert.deepEqual([...new Set(t.noise.map((n) => n.kind))].sort(), ['internet-egress', 'one-off', 'rejected', 'scan']);
    assert.equal((JSON.parse(intentsJson(estate)) as { intents: unknown[] }).intents.length, t.intended.length);
  });

  it('has flows for every truth edge', () => {
    for (const edge of [...estate.truth.intended, ...estate.truth.undocumented]) assert.ok(flowsOf(edge).length > 0, JSON.stringify(edge));
  });

  it('sends RPC to a dynamic port after each endpoint-mapper connection', () => {
    const toDirectory = observed.filter((o) => o.to.startsWith('app=directory,'));
    const mapper = toDirectory.filter((o) => o.port === 135).length;
    const dynamic = toDirectory.filter((o) => o.port >= RPC_DYNAMIC_PORTS.first && o.port <= RPC_DYNAMIC_PORTS.last).length;
    assert.ok(mapper > 50 && dynamic === mapper, `${mapper} mapper, ${dynamic} dynamic`);
  });

  it('keeps business-hours dependencies out of weekend nights, and nightly ones in the night', () => {
    const edges = [...estate.truth.intended, ...estate.truth.undocumented];
    const shared = (edge: TruthEdge): boolean => edges.some((e) => e !== edge && e.pattern !== edge.pattern && JSON.stringify([e.from, e.to, e.protocol]) === JSON.stringify([edge.from, edge.to, edge.protocol]) && (Array.isArray(e.ports) ? e.ports.some((p) => portMatches(edge, p)) : true));
    let checked = 0;
    for (const edge of edges) {
      if (shared(edge)) continue;
      for (const o of flowsOf(edge)) {
        const h = hourOfDay(o.time);
        const d = weekday(o.time);
        // Stricter than "not on weekend nights": not on weekends at all, and only 07:00–20:00.
        if (edge.pattern === 'business-hours') assert.ok(d >= 1 && d <= 5 && h >= 7 && h < 20, `${JSON.stringify(edge)} at ${new Date(o.time * 1000).toISOString()}`);
        if (edge.pattern === 'nightly') assert.ok(h >= 1 && h < 3);
        if (edge.pattern === 'weekly') assert.ok(d === 0 && h >= 3 && h < 5);
        checked++;
      }
    }
    assert.ok(checked > 1000);
  });

  it('scans from one address on one day only: SYN probes of many hosts and ports', () => {
    const probes = flows.filter((r) => formatAddress(r.src_addr) === '10.0.5.66');
    const days = new Set(probes.map((r) => Math.floor((r.time_start as number) / 86400)));
    assert.equal(days.size, 1);
    assert.ok(probes.every((r) => r.tcp_flags === SYN && (r.bytes as number) <= 60 && r.packets === 1));
    assert.ok(new Set(probes.map((r) => formatAddress(r.dst_addr))).size >= 15 && new Set(probes.map((r) => r.dst_port)).size >= 15);
  });

  it('sends SaaS egress to the named range and one-off sessions exactly once', () => {
    assert.ok(observed.filter((o) => o.to === 'group=saas').length > 50);
    for (const noise of estate.truth.noise.filter((n) => n.kind === 'one-off')) {
      const from = selectorKey(estate, noise.from);
      const to = selectorKey(estate, noise.to);
      const port = (noise.ports as number[])[0];
      assert.equal(observed.filter((o) => o.from === from && o.to === to && o.port === port).length, 1, noise.description);
    }
  });
});

describe('estate model: scale', () => {
  it('builds the enterprise estate (about 2,000 workloads) and its first flows quickly', () => {
    const big = createEstate(scenarioByName('enterprise'), { seed: 1, days: 2, end: END });
    const first = big.flows()[Symbol.iterator]().next();
    assert.ok(first.done !== true && first.value.length === CHUNK_RECORDS);
    assert.ok(big.truth.intended.length > 1000);
  });
});
