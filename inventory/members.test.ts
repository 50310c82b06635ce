// A group's members (members.ts) against the resolver, the definition of membership: an address is
// a member at a second exactly when the resolver gives it the group then. A drawn estate checks
// the answer literally (holes punched by bound addresses and more specific rules, an address that
// changes owner); random estates check the equivalence at the addresses and seconds where answers
// change; keys nothing can resolve to say why; the cap is a 400.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFlowmapError } from '../core/errors.js';
import { formatPrefix, maskAddress, parseAddress, parsePrefix, prefixContains, type Address } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createDuckDBStore, MAX_SEARCH_ENDPOINTS, type TimedPrefix } from '../store/index.js';
import { applyImport, parseInventory } from './index.js';
import { groupEndpoints, groupMembers } from './members.js';
import type { Binding, CidrRule, Inventory, Workload } from './model.js';
import { createResolver, type ResolverOptions } from './resolver.js';

const R0 = 1_767_225_600; // 2026-01-01T00:00:00Z
const RANGE = { from: R0, to: R0 + 10 * 86_400 };
const A = (text: string): Address => parseAddress(text);

const binding = (address: string, workloadId: string, from: number, to = Infinity, importedAt = 1): Binding => ({ address: A(address), workloadId, from, to, source: 'test', importedAt });
const workload = (id: string, labels: Record<string, string>): Workload => ({ id, name: id, labels, source: 'test' });
const rule = (prefix: string, labels: Record<string, string>): CidrRule => ({ prefix: parsePrefix(prefix), labels });

const T1 = R0 + 1000;
const T2 = T1 + 3600.5;

/**
 * 10.1.0.0/16 is env=prod, except 10.1.2.0/24 (app=legacy, env=prod) and 10.1.3.0/24 (owner=ops
 * only: no groupBy label, so its addresses fall through to `unlabeled`). 10.1.0.5 is billing's
 * (app=billing) from T1 to T2, nobody's until T2 + 100, then batch's (app=billing, env=prod);
 * 10.1.0.6 is web's (app=web, env=prod) throughout; 2001:db8::7 is tool's, which has no groupBy
 * label. 198.51.100.0/24 is the external saas.
 */
const ESTATE: Inventory = {
  workloads: [workload('billing', { app: 'billing' }), workload('batch', { app: 'billing', env: 'prod' }), workload('web', { app: 'web', env: 'prod' }), workload('tool', { owner: 'x' })],
  bindings: [binding('10.1.0.5', 'billing', T1, T2), binding('10.1.0.5', 'batch', T2 + 100), binding('10.1.0.6', 'web', 0), binding('2001:db8::7', 'tool', 0)],
  rules: [rule('10.1.0.0/16', { env: 'prod' }), rule('10.1.2.0/24', { app: 'legacy', env: 'prod' }), rule('10.1.3.0/24', { owner: 'ops' })],
};
const OPTIONS: ResolverOptions = { groupBy: ['app', 'env'], externals: [{ name: 'saas', prefix: '198.51.100.0/24' }] };

function members(key: string, inventory = ESTATE, options = OPTIONS, range = RANGE): ReturnType<typeof groupMembers> {
  return groupMembers(inventory, createResolver(inventory, options), options, key, range);
}

const shown = (e: TimedPrefix): string => `${formatPrefix(e.prefix)}${e.from === undefined ? '' : ` [${e.from - R0}, ${(e.to ?? 0) - R0})`}`;

describe('group members', () => {
  it('lists a label group of bound addresses with the seconds they belong to it, whole seconds', () => {
    const m = members('app=billing,env=prod');
    assert.equal(m.unresolvable, undefined);
    // T2 is fractional: the last second of billing's binding is ceil(T2) - 1.
    assert.deepEqual(m.endpoints.map(shown), [`10.1.0.5/32 [1000, ${Math.ceil(T2) - R0})`, `10.1.0.5/32 [${Math.ceil(T2 + 100) - R0}, ${RANGE.to - R0})`]);
    assert.deepEqual(members('env=prod,app=billing'), m, 'label parts in any order');
  });

  it("lists a rule's group as its prefix minus more specific rules and bound addresses, plus a bound address's unbound seconds", () => {
    const m = members('env=prod');
    assert.deepEqual(m.endpoints.map(shown), [
      '10.1.0.5/32 [0, 1000)',
      `10.1.0.5/32 [${Math.ceil(T2) - R0}, ${Math.ceil(T2 + 100) - R0})`,
      '10.1.0.0/30',
      '10.1.0.4/32',
      '10.1.0.7/32',
      '10.1.0.8/29',
      '10.1.0.16/28',
      '10.1.0.32/27',
      '10.1.0.64/26',
      '10.1.0.128/25',
      '10.1.1.0/24',
      '10.1.4.0/22',
      '10.1.8.0/21',
      '10.1.16.0/20',
      '10.1.32.0/19',
      '10.1.64.0/18',
      '10.1.128.0/17',
    ]);
    assert.deepEqual(members('app=legacy,env=prod').endpoints.map(shown), ['10.1.2.0/24']);
    assert.deepEqual(members('app=web,env=prod').endpoints.map(shown), [`10.1.0.6/32 [0, ${RANGE.to - R0})`]);
  });

  it('lists workload, unlabeled, external and internet groups', () => {
    assert.deepEqual(members('workload=tool').endpoints.map(shown), [`2001:db8::7/128 [0, ${RANGE.to - R0})`]);
    assert.deepEqual(members('group=unlabeled,subnet=10.1.3.0/24').endpoints.map(shown), ['10.1.3.0/24'], 'a rule without groupBy labels falls through');
    assert.deepEqual(members('group=unlabeled,subnet=10.9.9.0/24').endpoints.map(shown), ['10.9.9.0/24']);
    assert.deepEqual(members('group=unlabeled,subnet=fd00:0:0:1::/64').endpoints.map(shown), ['fd00:0:0:1::/64'], 'the subnet in any spelling');
    assert.equal(members('group=unlabeled,subnet=fd00:0:0:1::/64').key, 'group=unlabeled,subnet=fd00:0:0:1::/64');
    assert.deepEqual(members('group=saas').endpoints.map(shown), ['198.51.100.0/24']);
    const internet = members('group=internet').endpoints;
    const inside = (text: string): boolean => internet.some((e) => prefixContains(e.prefix, A(text)));
    assert.deepEqual(['8.8.8.8', '2606:4700::1111', '203.0.113.9', '2001:db8::8'].map(inside), [true, true, true, true]);
    assert.deepEqual(['10.1.0.1', '192.168.1.1', '198.51.100.7', 'fd00::1', '::1', '2001:db8::7'].map(inside), [false, false, false, false, false, false]);
  });

  it('says why a key cannot be a group under the options, and lists nothing for one no address has', () => {
    for (const [key, why] of [
      ['team=x', /label key 'team' is not in groupBy \(app, env\)/],
      ['app=x,app=y', /appears twice/],
      ['app', /not KEY=VALUE/],
      ['group=nope', /no external CIDR is named 'nope'/],
      ['group=unlabeled,subnet=10.1.3.0/25', /unlabeled groups are \/24 subnets for IPv4/],
      ['group=unlabeled,subnet=10.1.3.1/24', /not a subnet/],
      ['workload=', /needs a workload id/],
    ] as const) {
      const m = members(key);
      assert.match(m.unresolvable ?? '', why, key);
      assert.deepEqual(m.endpoints, []);
    }
    assert.deepEqual(members('app=nobody,env=prod'), { key: 'app=nobody,env=prod', endpoints: [] });
    assert.deepEqual(members('group=unlabeled,subnet=8.8.8.0/24').endpoints, [], 'public space is never unlabeled');
  });

  it(`refuses more than ${MAX_SEARCH_ENDPOINTS} members with a 400 that says to narrow the search`, () => {
    // Bound addresses scattered through env=prod's /16 punch a hole each.
    const bindings = Array.from({ length: 3000 }, (_, i) => binding(`10.1.${4 + (i % 200)}.${(i * 7) % 256}`, 'web', 0));
    const crowded = { ...ESTATE, bindings };
    assert.throws(
      () => members('env=prod', crowded),
      (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && err.status === 400 && /narrow the search/.test(err.message) && err.details.parameter === 'group',
    );
    assert.equal(members('app=web,env=prod', crowded).endpoints.length, new Set(bindings.map((b) => b.address.join('.'))).size);
  });

  it('agrees with the resolver at every address and second where an answer changes, on random estates', () => {
    const ADDRESSES = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '10.0.1.255', '192.168.5.5', '8.8.8.8', '198.51.100.9', 'fd00::1', 'fd00::2', '2001:db8::1', '2600::1'];
    const PREFIXES = ['10.0.0.0/8', '10.0.0.0/24', '10.0.0.0/31', '10.0.1.0/24', '192.168.0.0/16', '8.8.8.0/24', 'fd00::/64', 'fd00::/127', '2001:db8::/32', '::/0', '0.0.0.0/0'];
    const labels = fc.record({ app: fc.constantFrom('a', 'b'), env: fc.constantFrom('prod', 'dev') }, { requiredKeys: [] });
    const time = fc.oneof(fc.integer({ min: R0 - 86_400, max: RANGE.to + 86_400 }), fc.constantFrom(R0 + 0.5, RANGE.to - 0.5, 0));
    const estate = fc.record({
      labels: fc.array(labels, { minLength: 3, maxLength: 3 }),
      bindings: fc.array(fc.record({ address: fc.constantFrom(...ADDRESSES), workload: fc.integer({ min: 0, max: 2 }), from: time, length: fc.oneof(fc.integer({ min: 1, max: 5 * 86_400 }), fc.constant(Infinity)), importedAt: fc.integer({ min: 1, max: 3 }) }), { maxLength: 12 }),
      rules: fc.array(fc.record({ prefix: fc.constantFrom(...PREFIXES), labels }), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(estate, (drawn) => {
        const inventory: Inventory = {
          workloads: drawn.labels.map((l, i) => workload(`w${i}`, l)),
          bindings: drawn.bindings.map((b) => binding(b.address, `w${b.workload}`, b.from, b.from + b.length, b.importedAt)),
          rules: drawn.rules.map((r) => rule(r.prefix, r.labels)),
        };
        const options: ResolverOptions = { groupBy: ['app', 'env'], externals: [{ name: 'dns', prefix: '8.8.8.0/24' }] };
        const resolver = createResolver(inventory, options);
        // Addresses: the pool, and the first, last and outside neighbours of every prefix.
        const probes = new Map<string, Address>();
        const add = (a: Address): void => void probes.set(a.join('.'), a);
        for (const text of [...ADDRESSES, '10.255.255.255', '1.1.1.1', '::']) add(A(text));
        for (const text of [...PREFIXES, '8.8.8.0/24']) {
          const p = parsePrefix(text);
          const first = maskAddress(p.address, p.length);
          add(first);
          const last = Uint8Array.from(first, (b, i) => b | (0xff >> Math.max(0, Math.min(8, p.length - i * 8))));
          add(last);
          const after = Uint8Array.from(last);
          for (let i = 15; i >= 0; i--) {
            if (after[i] !== 0xff) {
              after[i] = (after[i] ?? 0) + 1;
              break;
            }
            after[i] = 0;
          }
          add(after);
        }
        // Seconds: the range's ends and every binding's ends, and their neighbours.
        const seconds = new Set<number>([RANGE.from, RANGE.to - 1]);
        for (const b of inventory.bindings) for (const t of [b.from, b.to]) for (const s of [Math.floor(t) - 1, Math.floor(t), Math.ceil(t), Math.ceil(t) + 1]) if (s >= RANGE.from && s < RANGE.to) seconds.add(s);
        const keys = new Set<string>(['group=internet', 'group=dns']);
        for (const a of probes.values()) for (const t of seconds) keys.add(resolver.resolve(a, t).key);
        for (const key of keys) {
          const { endpoints, unresolvable } = groupMembers(inventory, resolver, options, key, RANGE);
          assert.equal(unresolvable, undefined, key);
          for (const a of probes.values()) {
            const holding = endpoints.filter((e) => prefixContains(e.prefix, a));
            for (const t of seconds) {
              const member = holding.some((e) => t >= (e.from ?? RANGE.from) && t < (e.to ?? RANGE.to));
              assert.equal(member, resolver.resolve(a, t).key === key, `${key}: ${a.join('.')} at ${t - R0}`);
            }
          }
        }
      }),
      { numRuns: 150, seed: 20260110 },
    );
  });

  it('reads the inventory from the store', async () => {
    const store = await createDuckDBStore({ dataDir: ':memory:' }, { logger: silentLogger() });
    try {
      await store.migrate();
      const csv = ['ip,cidr,name,app,env,valid_from,valid_to', '10.4.0.5,,pay,pay,prod,2026-01-02T00:00:00Z,2026-01-03T00:00:00Z', ',10.4.0.0/16,dc,,prod,,'].join('\n');
      await applyImport(store, parseInventory(csv, { format: 'csv' }), { source: 'test.csv' });
      const pay = await groupEndpoints(store, OPTIONS, 'app=pay,env=prod', RANGE);
      assert.deepEqual(pay.endpoints.map(shown), [`10.4.0.5/32 [86400, 172800)`]);
      const unknown = await groupEndpoints(store, OPTIONS, 'team=a', RANGE);
      assert.match(unknown.unresolvable ?? '', /not in groupBy/);
    } finally {
      await store.close();
    }
  });
});
