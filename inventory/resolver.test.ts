import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFlowmapError } from '../core/errors.js';
import { addressesEqual, formatPrefix, maskAddress, parseAddress, parsePrefix, prefixContains, type Address, type Prefix } from '../core/ip.js';
import type { Binding, CidrRule, Inventory, Labels, Workload } from './model.js';
import { createResolver, PRIVATE_RANGES, type ExternalCidr, type ResolverOptions } from './resolver.js';

// ---- The oracle: model.ts's precedence rules read literally, one linear scan per lookup. ----

interface Answer {
  key: string;
  labels: Labels;
}

function longest<T extends { prefix: Prefix }>(items: readonly T[], address: Address): T | undefined {
  let best: T | undefined;
  for (const item of items) if (prefixContains(item.prefix, address) && (best === undefined || item.prefix.length >= best.prefix.length)) best = item;
  return best;
}

function oracle(inventory: Inventory, options: Required<Pick<ResolverOptions, 'groupBy'>> & { externals: { name: string; prefix: Prefix }[]; v4: number; v6: number }, address: Address, t: number): Answer {
  let winner: Binding | undefined;
  let winnerIndex = -1;
  inventory.bindings.forEach((b, i) => {
    if (!addressesEqual(b.address, 0, address, 0) || !(b.from <= t && t < b.to)) return;
    const later = winner === undefined || b.importedAt > winner.importedAt || (b.importedAt === winner.importedAt && (b.from > winner.from || (b.from === winner.from && i > winnerIndex)));
    if (later) {
      winner = b;
      winnerIndex = i;
    }
  });
  const rule = longest(inventory.rules, address);
  const pick = (labels: Labels): Answer | undefined => {
    const kept: Record<string, string> = {};
    for (const k of options.groupBy) if (labels[k] !== undefined) kept[k] = labels[k];
    const keys = Object.keys(kept);
    return keys.length === 0 ? undefined : { key: options.groupBy.filter((k) => k in kept).map((k) => `${k}=${kept[k]}`).join(','), labels: kept };
  };
  if (winner !== undefined) {
    const id = winner.workloadId;
    const workload = inventory.workloads.find((w) => w.id === id);
    return pick({ ...rule?.labels, ...workload?.labels }) ?? { key: `workload=${id}`, labels: {} };
  }
  const byRule = rule === undefined ? undefined : pick(rule.labels);
  if (byRule !== undefined) return byRule;
  const external = longest(options.externals, address);
  if (external !== undefined) return { key: `group=${external.name}`, labels: {} };
  if (PRIVATE_RANGES.some((p) => prefixContains(parsePrefix(p), address))) {
    const v4 = address.slice(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
    const length = v4 ? 96 + options.v4 : options.v6;
    return { key: `group=unlabeled,subnet=${formatPrefix({ address: maskAddress(address, length), length, family: v4 ? 4 : 6 })}`, labels: {} };
  }
  return { key: 'group=internet', labels: {} };
}

// ---- Generators: small pools, so addresses, prefixes and intervals collide and nest. ----

const V4_BASES = ['10.0.0.', '10.0.1.', '192.168.1.', '100.64.0.', '8.8.8.', '203.0.113.'];
const V6_BASES = ['fd00::', 'fd00:0:0:1::', 'fe80::', '2001:db8::', '2600::'];

const v4Address = fc.tuple(fc.constantFrom(...V4_BASES), fc.integer({ min: 0, max: 7 })).map(([base, n]) => parseAddress(`${base}${n}`));
const v6Address = fc.tuple(fc.constantFrom(...V6_BASES), fc.integer({ min: 0, max: 7 })).map(([base, n]) => parseAddress(`${base}${n}`));
const address = fc.oneof(v4Address, v6Address);
const prefixOf = (family: 4 | 6): fc.Arbitrary<Prefix> =>
  fc.tuple(family === 4 ? v4Address : v6Address, family === 4 ? fc.integer({ min: 96, max: 128 }) : fc.integer({ min: 0, max: 128 })).map(([a, length]) => ({
    address: maskAddress(a, length),
    length,
    family,
  }));
const prefix = fc.oneof(prefixOf(4), prefixOf(6));
const labels = fc.dictionary(fc.constantFrom('app', 'env', 'role', 'location'), fc.constantFrom('a', 'b', 'c'), { maxKeys: 3 });
const WORKLOAD_IDS = ['w0', 'w1', 'w2', 'w3', 'w4'];

const inventory: fc.Arbitrary<Inventory> = fc.record({
  workloads: fc.tuple(...WORKLOAD_IDS.map(() => labels)).map((all) => all.map((l, i): Workload => ({ id: `w${i}`, name: `w${i}`, labels: l, source: 'test' }))),
  bindings: fc.array(
    fc.record({
      address,
      // w5 has no workload record: it resolves as a workload without labels.
      workloadId: fc.constantFrom(...WORKLOAD_IDS, 'w5'),
      from: fc.integer({ min: 0, max: 20 }),
      length: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constant(Infinity)),
      importedAt: fc.integer({ min: 0, max: 2 }),
    }).map(({ length, ...b }): Binding => ({ ...b, to: b.from + length, source: 'test' })),
    { maxLength: 30 },
  ),
  rules: fc.array(fc.record({ prefix, labels }).map((r): CidrRule => r), { maxLength: 10 }),
});

const options = fc.record({
  groupBy: fc.constantFrom(['app', 'env'], ['app'], ['role', 'location']),
  externals: fc.array(fc.record({ name: fc.constantFrom('saas-a', 'saas-b', 'saas-c'), prefix }), { maxLength: 3 }),
  v4: fc.integer({ min: 0, max: 32 }),
  v6: fc.integer({ min: 0, max: 128 }),
});

/** Query times: every binding edge and its neighbours, plus a few anywhere. */
function queryTimes(inv: Inventory, extra: number[]): number[] {
  const edges = inv.bindings.flatMap((b) => [b.from - 1, b.from, b.from + 0.5, b.to - 1, b.to, b.to + 1]).filter(Number.isFinite);
  return [...new Set([...edges, ...extra])].filter((t) => t >= 0);
}

describe('resolver agrees with a brute-force scan', () => {
  it('for single lookups over random bindings, rules, externals and times (IPv4 and IPv6)', () => {
    fc.assert(
      fc.property(inventory, options, fc.array(address, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 }), (inv, opts, probes, extra) => {
        const resolver = createResolver(inv, { groupBy: opts.groupBy, externals: opts.externals, unlabeledPrefix: { v4: opts.v4, v6: opts.v6 } });
        const addresses = [...inv.bindings.map((b) => b.address), ...probes];
        for (const a of addresses) {
          for (const t of queryTimes(inv, extra)) {
            const want = oracle(inv, opts, a, t);
            const got = resolver.resolve(a, t);
            assert.equal(got.key, want.key, `${Buffer.from(a).toString('hex')} at ${t}`);
            assert.deepEqual(got.labels, want.labels);
            assert.equal(resolver.explain(a, t).group.id, got.id);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('for batches, with and without a cache, with Uint32 and Float64 time columns', () => {
    fc.assert(
      fc.property(inventory, options, fc.array(address, { maxLength: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 64 }), (inv, opts, probes, bucketSeconds, slots) => {
        const resolver = createResolver(inv, { groupBy: opts.groupBy, externals: opts.externals, unlabeledPrefix: { v4: opts.v4, v6: opts.v6 } });
        const rows: { a: Address; t: number }[] = [];
        for (const a of [...inv.bindings.map((b) => b.address), ...probes]) for (const t of queryTimes(inv, [0, 33])) rows.push({ a, t: Math.floor(t) });
        const column = new Uint8Array(rows.length * 16);
        rows.forEach((r, i) => column.set(r.a, i * 16));
        const u32 = Uint32Array.from(rows.map((r) => r.t));
        const f64 = Float64Array.from(rows.map((r) => r.t));
        // A tiny cache with buckets of a few seconds makes bucket edges fall inside bindings.
        const cache = resolver.createCache({ slots, bucketSeconds });
        const runs = [resolver.resolveBatch(column, u32), resolver.resolveBatch(column, f64), resolver.resolveBatch(column, u32, { cache }), resolver.resolveBatch(column, f64, { cache })];
        rows.forEach((r, i) => {
          const want = oracle(inv, opts, r.a, r.t).key;
          for (const ids of runs) assert.equal(resolver.group(ids[i] ?? -1).key, want, `row ${i} at ${r.t}`);
        });
      }),
      { numRuns: 300 },
    );
  });
});

// ---- The rules, case by case. ----

const T0 = 1_700_000_000;
const workload = (id: string, l: Labels): Workload => ({ id, name: id, labels: l, source: 'test' });
const bind = (ip: string, workloadId: string, from: number, to: number, importedAt = 0): Binding => ({ address: parseAddress(ip), workloadId, from, to, source: 'test', importedAt });

describe('resolver rules', () => {
  it('holds an address from `from` inclusive to `to` exclusive, and hands it to the next owner at `to`', () => {
    const r = createResolver({
      workloads: [workload('web', { app: 'web', env: 'prod' }), workload('db', { app: 'db', env: 'prod' })],
      bindings: [bind('10.0.0.5', 'web', T0, T0 + 100), bind('10.0.0.5', 'db', T0 + 100, Infinity)],
      rules: [],
    });
    const a = parseAddress('10.0.0.5');
    assert.equal(r.resolve(a, T0 - 1).key, 'group=unlabeled,subnet=10.0.0.0/24');
    assert.equal(r.resolve(a, T0).key, 'app=web,env=prod');
    assert.equal(r.resolve(a, T0 + 99.5).key, 'app=web,env=prod');
    assert.equal(r.resolve(a, T0 + 100).key, 'app=db,env=prod');
    assert.equal(r.resolve(a, 4e9).key, 'app=db,env=prod');
  });

  it('lets the most recently imported binding win an overlap, then the later start', () => {
    const r = createResolver({
      workloads: [workload('old', { app: 'old' }), workload('new', { app: 'new' }), workload('later', { app: 'later' })],
      bindings: [bind('10.0.0.5', 'new', T0, Infinity, 2), bind('10.0.0.5', 'old', T0, Infinity, 1), bind('10.0.0.6', 'old', T0, Infinity, 1), bind('10.0.0.6', 'later', T0 + 10, T0 + 20, 1)],
      rules: [],
    });
    assert.equal(r.resolve(parseAddress('10.0.0.5'), T0 + 1).key, 'app=new');
    assert.equal(r.resolve(parseAddress('10.0.0.6'), T0 + 15).key, 'app=later');
    assert.equal(r.resolve(parseAddress('10.0.0.6'), T0 + 20).key, 'app=old');
  });

  it('fills labels the workload lacks from the most specific rule, never overriding the workload', () => {
    const r = createResolver({
      workloads: [workload('web', { app: 'web', env: 'staging' }), workload('batch', { app: 'batch' })],
      bindings: [bind('10.20.1.5', 'web', 0, Infinity), bind('10.20.1.6', 'batch', 0, Infinity)],
      rules: [
        { prefix: parsePrefix('10.0.0.0/8'), labels: { env: 'corp', location: 'dc0' } },
        { prefix: parsePrefix('10.20.0.0/16'), labels: { env: 'prod', location: 'dc1' } },
      ],
    }, { groupBy: ['app', 'env', 'location'] });
    assert.equal(r.resolve(parseAddress('10.20.1.5'), T0).key, 'app=web,env=staging,location=dc1');
    assert.equal(r.resolve(parseAddress('10.20.1.6'), T0).key, 'app=batch,env=prod,location=dc1');
    // Rule-only addresses carry the rule's labels; the /16 wins alone over the /8.
    assert.deepEqual(r.resolve(parseAddress('10.20.9.9'), T0).labels, { env: 'prod', location: 'dc1' });
    assert.deepEqual(r.resolve(parseAddress('10.99.0.1'), T0).labels, { env: 'corp', location: 'dc0' });
    const why = r.explain(parseAddress('10.20.1.6'), T0);
    assert.equal(why.workload?.id, 'batch');
    assert.equal(why.rule?.labels.location, 'dc1');
    assert.deepEqual(why.labels, { app: 'batch', env: 'prod', location: 'dc1' });
  });

  it('groups a bound workload without groupBy labels as itself, not with strangers', () => {
    const r = createResolver({ workloads: [workload('k8s:kube-system/coredns-x', { role: 'dns' })], bindings: [bind('10.1.0.9', 'k8s:kube-system/coredns-x', 0, Infinity)], rules: [] });
    const g = r.resolve(parseAddress('10.1.0.9'), T0);
    assert.equal(g.kind, 'workload');
    assert.equal(g.key, 'workload=k8s:kube-system/coredns-x');
  });

  it('never drops an unresolved address: internet, named externals, unlabeled subnets per family', () => {
    const r = createResolver(
      { workloads: [], bindings: [], rules: [{ prefix: parsePrefix('10.9.0.0/16'), labels: { location: 'dc9' } }] },
      { externals: [{ name: 'saas-crm', prefix: '198.51.100.0/24' }, { name: 'saas-crm-eu', prefix: '198.51.100.128/25' }], unlabeledPrefix: { v4: 16, v6: 48 } },
    );
    const key = (ip: string): string => r.resolve(parseAddress(ip), T0).key;
    assert.equal(key('8.8.8.8'), 'group=internet');
    assert.equal(key('203.0.113.7'), 'group=internet');
    assert.equal(key('2001:db8::1'), 'group=internet');
    assert.equal(key('198.51.100.7'), 'group=saas-crm');
    assert.equal(key('198.51.100.200'), 'group=saas-crm-eu');
    assert.equal(key('192.168.44.3'), 'group=unlabeled,subnet=192.168.0.0/16');
    assert.equal(key('100.64.3.3'), 'group=unlabeled,subnet=100.64.0.0/16');
    // A rule without groupBy labels does not identify a group; the address falls through.
    assert.equal(key('10.9.1.1'), 'group=unlabeled,subnet=10.9.0.0/16');
    assert.equal(key('fd12:3456:789a:1::5'), 'group=unlabeled,subnet=fd12:3456:789a::/48');
    assert.equal(key('fe80::1'), 'group=unlabeled,subnet=fe80::/48');
    assert.equal(key('::1'), 'group=unlabeled,subnet=::/48');
    assert.equal(r.group(0).key, 'group=internet');
  });

  it('keeps group ids stable and escapes separators inside label values', () => {
    const r = createResolver({ workloads: [workload('x', { app: 'a,b=c', env: '50%' })], bindings: [bind('10.0.0.1', 'x', 0, Infinity)], rules: [] });
    const g = r.resolve(parseAddress('10.0.0.1'), T0);
    assert.equal(g.key, 'app=a%2Cb%3Dc,env=50%25');
    assert.deepEqual(g.labels, { app: 'a,b=c', env: '50%' });
    const ids = r.resolveBatch(Uint8Array.from([...parseAddress('10.0.0.1'), ...parseAddress('10.5.5.5'), ...parseAddress('10.0.0.1')]), Uint32Array.of(T0, T0, T0));
    assert.equal(ids[0], g.id);
    assert.equal(ids[2], g.id);
    assert.equal(r.group(ids[1] ?? -1).key, 'group=unlabeled,subnet=10.5.5.0/24');
  });

  it('counts cache hits only for buckets the answer fills, and refuses a cache of another resolver', () => {
    const inv: Inventory = { workloads: [workload('web', { app: 'web' })], bindings: [bind('10.0.0.1', 'web', 3600 * 10 + 1800, Infinity)], rules: [] };
    const r = createResolver(inv);
    const cache = r.createCache({ slots: 16 });
    const column = Uint8Array.from([...parseAddress('10.0.0.1'), ...parseAddress('10.0.0.1')]);
    // Hour 10 changes owner mid-hour: never cached. Hour 11 is whole: cached after the first row.
    r.resolveBatch(column, Uint32Array.of(3600 * 10 + 1, 3600 * 10 + 1));
    r.resolveBatch(column, Uint32Array.of(3600 * 10 + 1, 3600 * 10 + 1), { cache });
    assert.equal(cache.hits, 0);
    const ids = r.resolveBatch(column, Uint32Array.of(3600 * 11 + 1, 3600 * 11 + 2), { cache });
    assert.equal(cache.hits, 1);
    assert.equal(r.group(ids[1] ?? -1).key, 'app=web');
    assert.throws(() => createResolver(inv).resolveBatch(column, Uint32Array.of(0, 0), { cache }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
  });

  it('takes label keys as own keys only, and keeps label groups apart from unresolved ones', () => {
    const inventory = {
      workloads: [{ id: 'w', name: 'w', labels: { group: 'internet', app: 'x' }, source: 's' }],
      bindings: [{ address: parseAddress('10.1.1.1'), workloadId: 'w', from: 0, to: Infinity, source: 's', importedAt: 1 }],
      rules: [],
    };
    const byPrototypeKey = createResolver(inventory, { groupBy: ['toString'] });
    assert.equal(byPrototypeKey.resolve(parseAddress('10.1.1.1'), 5).key, 'workload=w');
    const byGroup = createResolver(inventory, { groupBy: ['group'] });
    const labelled = byGroup.resolve(parseAddress('10.1.1.1'), 5);
    const internet = byGroup.resolve(parseAddress('8.8.8.8'), 5);
    assert.equal(labelled.kind, 'labels');
    assert.notEqual(labelled.id, internet.id);
    assert.notEqual(labelled.key, internet.key);
  });

  it('refuses bad options with coded errors', () => {
    const empty: Inventory = { workloads: [], bindings: [], rules: [] };
    const bad: ResolverOptions[] = [
      { groupBy: [] },
      { groupBy: ['app', 'app'] },
      { unlabeledPrefix: { v4: 33 } },
      { unlabeledPrefix: { v6: -1 } },
      { externals: [{ name: 'internet', prefix: '192.0.2.0/24' } satisfies ExternalCidr] },
    ];
    for (const o of bad) assert.throws(() => createResolver(empty, o), (e) => isFlowmapError(e, 'FLOWMAP_CONFIG_INVALID'), JSON.stringify(o));
    assert.throws(() => createResolver(empty, { externals: [{ name: 'x', prefix: '10.0.0.1/8' }] }), (e) => isFlowmapError(e, 'FLOWMAP_BAD_CIDR'));
  });
});
