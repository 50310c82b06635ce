// Selectors, intents files, policies as versioned objects (rollout, exceptions, edits), audit
// simulation, blast radius and the policy findings (unused, broad, expired) on drawn graphs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress, parsePrefix, prefixContains } from '../../core/ip.js';
import { createResolver } from '../../inventory/index.js';
import { isFlowmapError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type BaselineHostRow, type Store } from '../../store/index.js';
import { edge, graphOf, labelsNode, specialNode, WINDOW } from './graph-testing.js';
import {
  addException,
  blastRadius,
  computeFindings,
  createFromRecommendation,
  EdgeIndex,
  editRules,
  exportInput,
  getPolicy,
  GroupIndex,
  importIntents,
  importPolicy,
  listIntents,
  parseIntentsText,
  policyVersion,
  ruleFromInput,
  rolloutOrder,
  selectorMatchesNode,
  SelectorSchema,
  setState,
  simulate,
  type Policy,
  type Recommendation,
} from './index.js';

const web = labelsNode({ app: 'shop', env: 'prod', tier: 'web' }, 3);
const api = labelsNode({ app: 'shop', env: 'prod', tier: 'api' }, 4);
const db = labelsNode({ app: 'shop', env: 'prod', tier: 'db' }, 2);
const internet = specialNode('internet', 'internet');
const saas = specialNode('external', 'saas');
const unlabeled = specialNode('unlabeled', 'unlabeled', '10.9.9.0/24');

describe('selectors', () => {
  it('match label groups by every listed label, coarser selectors included', () => {
    assert.equal(selectorMatchesNode({ app: 'shop', env: 'prod', tier: 'web' }, web), true);
    assert.equal(selectorMatchesNode({ app: 'shop' }, web), true);
    assert.equal(selectorMatchesNode({ app: 'shop', env: 'staging' }, web), false);
    assert.equal(selectorMatchesNode({ app: 'shop', owner: 'x' }, web), false);
    assert.equal(selectorMatchesNode({ app: 'shop' }, internet), false);
  });

  it('match the internet, named ranges and unlabeled subnets by group or by CIDR', () => {
    const externals = new Map([['saas', parsePrefix('198.51.100.0/24')]]);
    assert.equal(selectorMatchesNode({ group: 'internet' }, internet), true);
    assert.equal(selectorMatchesNode({ cidr: '0.0.0.0/0' }, internet), true);
    assert.equal(selectorMatchesNode({ cidr: '203.0.113.0/24' }, internet), false);
    assert.equal(selectorMatchesNode({ group: 'saas' }, saas), true);
    assert.equal(selectorMatchesNode({ cidr: '198.51.0.0/16' }, saas, externals), true);
    assert.equal(selectorMatchesNode({ cidr: '198.51.100.128/25' }, saas, externals), false);
    assert.equal(selectorMatchesNode({ cidr: '10.0.0.0/8' }, unlabeled), true);
    assert.equal(selectorMatchesNode({ cidr: '10.9.9.0/25' }, unlabeled), false);
    assert.equal(selectorMatchesNode({ group: 'unlabeled' }, unlabeled), true);
  });

  it('refuse an empty selector, a cidr with other keys and a bad prefix', () => {
    assert.equal(SelectorSchema.safeParse({}).success, false);
    assert.equal(SelectorSchema.safeParse({ cidr: '10.0.0.0/8', app: 'x' }).success, false);
    assert.equal(SelectorSchema.safeParse({ cidr: '10.0.0.1/8' }).success, false);
    assert.equal(SelectorSchema.safeParse({ cidr: 'nonsense' }).success, false);
    assert.equal(SelectorSchema.safeParse({ app: 'shop', env: 'prod' }).success, true);
  });
});

describe('intents files', () => {
  it('read YAML and JSON alike, sort ports, and name every problem by its path', () => {
    const yaml = parseIntentsText('intents:\n  - from: {app: web}\n    to: {app: api}\n    ports: [8443, 8080, 8080]\n');
    const json = parseIntentsText('{"intents":[{"from":{"app":"web"},"to":{"app":"api"},"protocol":"tcp","ports":[8080,8443]}]}');
    assert.deepEqual(yaml, json);
    assert.deepEqual(yaml[0]?.ports, [8080, 8443]);
    assert.throws(
      () => parseIntentsText('intents:\n  - from: {}\n    to: {app: api}\n    ports: [70000]\n', 'bad.yaml'),
      (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /intents\[0\]\.from/.test(err.message) && /intents\[0\]\.ports\[0\]/.test(err.message) && err.message.includes('bad.yaml'),
    );
    assert.throws(() => parseIntentsText('intents: [', 'x.yaml'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /not valid YAML or JSON/.test(err.message));
  });
});

describe('policies as versioned objects', () => {
  let dir: string;
  let store: Store;
  const now = new Date('2026-12-01T00:00:00Z');
  const recommendation: Recommendation = {
    id: 'rec-x',
    baseline: 'bl-20261130T0000-28d-0123456789',
    groupBy: ['app', 'env'],
    defaultAction: 'deny',
    window: { from: '2026-11-02T00:00:00Z', to: '2026-11-30T00:00:00Z', days: 28 },
    parameters: { minDays: 3, minFlows: 2, minDynamicPorts: 1 },
    rules: [
      ruleFromInput({ from: { app: 'shop', env: 'prod' }, to: { app: 'billing', env: 'prod' }, protocol: 'tcp', ports: [8080] }),
      ruleFromInput({ from: { app: 'shop', env: 'dev' }, to: { app: 'shop', env: 'dev' }, protocol: 'tcp', ports: [5432] }),
      ruleFromInput({ from: { app: 'shop', env: 'staging' }, to: { app: 'shop', env: 'staging' }, protocol: 'tcp', ports: [5432] }),
    ],
    excluded: { 'below-threshold': 0, scanner: 0, rejected: 0, 'ephemeral-port': 0 },
    generatedAt: now.toISOString(),
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-policy-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rolls out least critical environment first, one step at a time', async () => {
    const p = await createFromRecommendation(store.meta, recommendation, { now });
    assert.deepEqual(p.rollout.map((s) => s.env), ['dev', 'staging', 'prod']);
    assert.ok(p.rollout.every((s) => s.state === 'draft'));
    await assert.rejects(setState(store.meta, p.id, 'dev', 'enforced'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFLICT') && /audit first/.test(err.message));
    await setState(store.meta, p.id, 'dev', 'audit');
    await setState(store.meta, p.id, 'prod', 'audit');
    await assert.rejects(setState(store.meta, p.id, 'prod', 'enforced'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFLICT') && /dev is audit, staging is draft/.test(err.message));
    await setState(store.meta, p.id, 'dev', 'enforced');
    const forced = await setState(store.meta, p.id, 'prod', 'enforced', { force: true });
    assert.deepEqual(forced.rollout.map((s) => s.state), ['enforced', 'draft', 'enforced']);
    assert.equal(forced.version, 5);
    assert.equal(rolloutOrder(['prod', 'qa', 'dev', 'perf']).join(','), 'dev,qa,perf,prod');
  });

  it('orders given environments least critical first, and never steps one back behind a more critical one', async () => {
    const p = await createFromRecommendation(store.meta, recommendation, { now, envs: ['prod', 'dev', 'prod'] });
    assert.deepEqual(p.rollout.map((s) => s.env), ['dev', 'prod']);
    await setState(store.meta, p.id, 'dev', 'audit');
    await setState(store.meta, p.id, 'dev', 'enforced');
    await setState(store.meta, p.id, 'prod', 'audit');
    await assert.rejects(setState(store.meta, p.id, 'dev', 'draft'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFLICT') && /prod is audit/.test(err.message));
    await setState(store.meta, p.id, 'dev', 'audit');
  });

  it('sends enforced environments back to audit when rules change', async () => {
    const p = await createFromRecommendation(store.meta, recommendation, { now, envs: ['dev'] });
    await setState(store.meta, p.id, 'dev', 'audit');
    await setState(store.meta, p.id, 'dev', 'enforced');
    const edited = await editRules(store.meta, p.id, { add: [{ from: { app: 'shop', env: 'dev' }, to: { app: 'billing', env: 'dev' }, protocol: 'tcp', ports: [8080] }] });
    assert.deepEqual(edited.rollout.map((s) => s.state), ['audit']);
  });

  it('refuses selectors on labels the policy does not group by, and infers an imported policy\'s granularity', async () => {
    const p = await createFromRecommendation(store.meta, recommendation, { now });
    await assert.rejects(editRules(store.meta, p.id, { add: [{ from: { app: 'shop', tier: 'web' }, to: { app: 'shop', env: 'prod' }, protocol: 'tcp', ports: [80] }] }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /label tier, which the policy does not group by \(app,env\)/.test(err.message));
    const imported = await importPolicy(store.meta, { rules: [{ from: { tier: 'web', app: 'shop' }, to: { app: 'shop', tier: 'api' }, protocol: 'tcp', ports: [8080] }] });
    assert.deepEqual(imported.groupBy, ['app', 'tier']);
    await assert.rejects(importPolicy(store.meta, { groupBy: ['app'], rules: [{ from: { tier: 'web' }, to: { app: 'x' }, protocol: 'tcp', ports: [1] }] }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST'));
  });

  it('versions every edit, keeps old versions, and refuses a stale edit', async () => {
    const p = await createFromRecommendation(store.meta, recommendation, { now });
    const removed = p.rules[0]?.id as string;
    const v2 = await editRules(store.meta, p.id, { remove: [removed], add: [{ from: { app: 'shop', env: 'prod' }, to: { cidr: '198.51.100.0/24' }, protocol: 'tcp', ports: [443] }], version: 1 });
    assert.equal(v2.version, 2);
    assert.equal(v2.rules.some((r) => r.id === removed), false);
    assert.ok(v2.rules.some((r) => r.to.cidr === '198.51.100.0/24' && r.flags.length === 0));
    assert.equal((await policyVersion(store.meta, p.id, 1)).rules.length, 3);
    await assert.rejects(editRules(store.meta, p.id, { remove: [], version: 1 }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFLICT'));
    await assert.rejects(editRules(store.meta, p.id, { remove: ['r-000000000000'] }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_NOT_FOUND'));
  });

  it('takes exceptions with an owner and an expiry of at most a year', async () => {
    const p = await createFromRecommendation(store.meta, recommendation, { now });
    const base = { from: { app: 'ops' }, to: { app: 'shop', env: 'prod' }, protocol: 'tcp', ports: [22], owner: 'ops-team', reason: 'migration' };
    await assert.rejects(addException(store.meta, p.id, { ...base, expires: '2028-06-01T00:00:00Z' }, { now }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /at most 366 days/.test(err.message));
    await assert.rejects(addException(store.meta, p.id, { ...base, expires: 'next week' }, { now }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST'));
    await assert.rejects(addException(store.meta, p.id, { ...base, expires: '2027-01-01T00:00:00' }, { now }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /with its zone/.test(err.message));
    await assert.rejects(addException(store.meta, p.id, { ...base, expires: '2026-11-30T00:00:00Z' }, { now }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /not in the future/.test(err.message));
    await assert.rejects(addException(store.meta, p.id, { ...base, ports: [], expires: '2027-01-01T00:00:00Z' }, { now }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /every port/.test(err.message));
    await assert.rejects(addException(store.meta, p.id, { ...base, owner: '', expires: '2027-01-01T00:00:00Z' }, { now }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && /owner/.test(err.message));
    const { policy, exception } = await addException(store.meta, p.id, { ...base, expires: '2027-01-01T00:00:00Z' }, { now });
    assert.equal(policy.exceptions[0]?.id, exception.id);
    assert.equal((await getPolicy(store.meta, p.id))?.version, 2);
  });

  it('imports intents replacing the stored ones unless merging', async () => {
    const a = parseIntentsText('intents: [{from: {app: a}, to: {app: b}, ports: [1]}, {from: {app: a}, to: {app: c}, ports: [2]}]');
    const b = parseIntentsText('intents: [{from: {app: a}, to: {app: b}, ports: [1]}, {from: {app: x}, to: {app: y}, ports: [3]}]');
    assert.deepEqual(await importIntents(store.meta, a), { added: 2, kept: 0, removed: 0, total: 2 });
    assert.deepEqual(await importIntents(store.meta, b), { added: 1, kept: 1, removed: 1, total: 2 });
    assert.deepEqual(await importIntents(store.meta, a.slice(1), { merge: true }), { added: 1, kept: 0, removed: 0, total: 3 });
    assert.equal((await listIntents(store.meta)).length, 3);
  });

  it('imports a policy file and reports its broad rules, and expired exceptions', async () => {
    const imported = await importPolicy(store.meta, {
      name: 'legacy firewall',
      rules: [
        { from: { cidr: '0.0.0.0/0' }, to: { cidr: '10.0.0.0/8' }, protocol: 'tcp', ports: [] },
        { from: { app: 'shop', env: 'prod', tier: 'web' }, to: { app: 'shop', env: 'prod', tier: 'api' }, protocol: 'tcp', ports: [{ first: 1024, last: 65535 }] },
        { from: { app: 'shop', env: 'prod', tier: 'api' }, to: { app: 'shop', env: 'prod', tier: 'db' }, protocol: 'tcp', ports: [5432, 5433, 5434] },
        { from: { app: 'shop', env: 'prod', tier: 'web' }, to: { app: 'shop', env: 'prod', tier: 'db' }, protocol: 'udp', ports: [53] },
      ],
    });
    assert.equal(imported.origin, 'import');
    const withExpired: Policy = { ...imported, exceptions: [{ id: 'x-1', from: { app: 'a' }, to: { app: 'b' }, protocol: 'tcp', ports: [22], owner: 'ops', reason: 'r', expires: '2026-11-15T00:00:00.000Z', createdAt: '2026-11-01T00:00:00.000Z' }] };
    const graph = graphOf([web, api, db], [edge(web, api, 8080), edge(api, db, 5432)]);
    const findings = computeFindings({ policies: [withExpired], baseline: undefined, now });
    const broad = findings.filter((f) => f.kind === 'broad-rule');
    assert.equal(broad.length, 2);
    assert.equal(broad.find((f) => f.from.cidr === '0.0.0.0/0')?.severity, 'high');
    assert.ok(broad.some((f) => /port range 1024-65535 \(64,512 ports\) without a dynamic-range reason/.test(f.explanation) && /ephemeral/.test(f.explanation)));
    const withGraph = computeFindings({ policies: [withExpired], baseline: { id: 'b', window: WINDOW, graph, analysis: { observation: { windowDays: 28, from: WINDOW.from, to: WINDOW.to, nodes: new Map(), dependencies: [], scans: [] }, judged: [], parameters: recommendation.parameters } }, now });
    assert.ok(withGraph.some((f) => f.kind === 'broad-rule' && /ports 5433, 5434 carried no traffic/.test(f.explanation)));
    const expired = findings.filter((f) => f.kind === 'expired-exception');
    assert.equal(expired.length, 1);
    assert.match(expired[0]?.explanation ?? '', /owner ops: r\) expired at 2026-11-15/);
  });

  it('reports rules of an active policy nothing used in the last 30 days', async () => {
    const p: Policy = {
      ...(await createFromRecommendation(store.meta, recommendation, { now })),
      rules: [ruleFromInput({ from: web.labels, to: api.labels, protocol: 'tcp', ports: [8080] }), ruleFromInput({ from: api.labels, to: db.labels, protocol: 'tcp', ports: [5432] })],
    };
    const graph = graphOf([web, api, db], [edge(web, api, 8080, { days: 20 })]);
    const analysis = { observation: { windowDays: 28, from: WINDOW.from, to: WINDOW.to, nodes: new Map(), dependencies: [], scans: [] }, judged: [], parameters: recommendation.parameters };
    const draft = computeFindings({ policies: [p], baseline: { id: 'b', window: WINDOW, graph, analysis }, now });
    assert.equal(draft.filter((f) => f.kind === 'unused-rule').length, 0, 'a draft policy has no unused rules yet');
    const audited: Policy = { ...p, rollout: p.rollout.map((s) => (s.env === 'prod' ? { ...s, state: 'audit' } : s)) };
    const unused = computeFindings({ policies: [audited], baseline: { id: 'b', window: WINDOW, graph, analysis }, now }).filter((f) => f.kind === 'unused-rule');
    assert.deepEqual(unused.map((f) => f.rule), [p.rules[1]?.id]);
    assert.match(unused[0]?.explanation ?? '', /nothing used it in the last 28 days/);
  });
});

describe('audit simulation', () => {
  // web → api tcp/8080 (allowed), api → db tcp/5432 (no rule), internet → web tcp/443 from two
  // clients, one inside the allowed 203.0.113.0/24 and one outside; plus probes all rejected.
  const graph = graphOf(
    [web, api, db, internet],
    [edge(web, api, 8080, { flows: 100 }), edge(api, db, 5432, { flows: 40 }), edge(internet, web, 443, { flows: 30 }), edge(internet, api, 22, { flows: 9, rejectedFlows: 9 })],
  );
  const row = (e: string, client: string, server: string, flows: number, bytes = flows * 1000): BaselineHostRow => ({ edge: e, client, server, proto: 6, port: 0, flows, bytes, packets: flows, firstSeen: WINDOW.from, lastSeen: WINDOW.from, daysSeen: 1 }) as BaselineHostRow;
  const hosts: Record<string, BaselineHostRow[]> = {
    [graph.edges[1]?.key as string]: [row('', '10.1.0.5', '10.1.0.9', 30), row('', '10.1.0.6', '10.1.0.9', 10)],
    [graph.edges[2]?.key as string]: [row('', '203.0.113.7', '10.1.0.2', 20), row('', '192.0.2.55', '10.1.0.2', 10)],
  };
  const policy: Policy = {
    id: 'pol-000000000001',
    name: 't',
    version: 3,
    groupBy: ['app', 'env', 'tier'],
    defaultAction: 'deny',
    rules: [
      ruleFromInput({ from: web.labels, to: api.labels, protocol: 'tcp', ports: [8080] }),
      ruleFromInput({ from: { cidr: '203.0.113.0/24' }, to: web.labels, protocol: 'tcp', ports: [443] }),
      ruleFromInput({ from: web.labels, to: db.labels, protocol: 'tcp', ports: [5432] }),
    ],
    exceptions: [],
    rollout: [],
    origin: 'import',
    createdAt: '',
    updatedAt: '',
  };

  it('blocks what no rule allows, judges CIDR rules by address, and lists rules nothing used', async () => {
    const result = await simulate(policy, graph, WINDOW, async (e) => hosts[e.id] ?? []);
    assert.deepEqual(result.totals, { flows: 179, allowedFlows: 120, blockedFlows: 50, alreadyRejectedFlows: 9, edges: 4, blockedEdges: 2 });
    assert.deepEqual(result.blocked.map((b) => [b.from, b.to, b.port, b.flows]), [
      [api.key, db.key, 5432, 40],
      [internet.key, web.key, 443, 10],
    ]);
    assert.deepEqual(result.blocked[0]?.examples.map((x) => x.client), ['10.1.0.5', '10.1.0.6']);
    assert.deepEqual(result.blocked[1]?.examples.map((x) => x.client), ['192.0.2.55']);
    assert.deepEqual(result.unusedRules.map((r) => r.id), [policy.rules[2]?.id]);
  });

  it('lets an exception in force allow, and an expired one not', async () => {
    const exception = { id: 'x-1', from: api.labels, to: db.labels, protocol: 'tcp', ports: [5432], owner: 'o', reason: 'r', createdAt: '' };
    const live = await simulate({ ...policy, exceptions: [{ ...exception, expires: '2027-01-01T00:00:00Z' }] }, graph, WINDOW, async (e) => hosts[e.id] ?? [], { now: new Date('2026-12-01T00:00:00Z') });
    assert.equal(live.blocked.some((b) => b.to === db.key), false);
    const expired = await simulate({ ...policy, exceptions: [{ ...exception, expires: '2026-11-01T00:00:00Z' }] }, graph, WINDOW, async (e) => hosts[e.id] ?? [], { now: new Date('2026-12-01T00:00:00Z') });
    assert.equal(expired.blocked.some((b) => b.to === db.key), true);
  });
});

describe('blast radius', () => {
  // a(2) → b(3) → c(4), d(1) isolated; a ⟲ (intra-group). 10 workloads.
  // flat: each reaches 9 → 90. observed: a reaches b, c and its other host: 3+4+1 = 8 (×2);
  // b reaches c: 4 (×3); c, d nothing → 16 + 12 = 28. policy allowing only a → b: a reaches 3 (×2) = 6.
  const a = labelsNode({ app: 'a' }, 2);
  const b = labelsNode({ app: 'b' }, 3);
  const c = labelsNode({ app: 'c' }, 4);
  const d = labelsNode({ app: 'd' }, 1);
  const graph = graphOf([a, b, c, d, internet], [edge(a, b, 1), edge(b, c, 2), edge(a, a, 3), edge(internet, a, 443)]);
  const policy = { rules: [ruleFromInput({ from: { app: 'a' }, to: { app: 'b' }, protocol: 'tcp', ports: [1] })], exceptions: [] } as unknown as Policy;

  it('counts reachable workloads transitively, flat, observed and with the policy', () => {
    const r = blastRadius(graph, policy);
    assert.equal(r.workloads, 10);
    assert.deepEqual(r.totals, { flat: 90, observed: 28, policy: 6 });
    assert.equal(r.reduction, Number((1 - 6 / 90).toFixed(4)));
    assert.deepEqual(r.groups.find((g) => g.group === 'app=a'), { group: 'app=a', hosts: 2, flat: 9, observed: 8, policy: 3 });
  });
});

describe('group and edge indexes', () => {
  // Random estates: label groups over app × env × tier (some without tier), unlabeled subnets, a
  // named range and the internet; random selectors of every shape. The index must answer exactly
  // what testing every group and every edge with selectorMatchesNode answers.
  it('give the same groups and edges as testing every one, for random graphs and selectors', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const apps = ['a', 'b', 'c', 'd'];
    const envs = ['prod', 'dev'];
    const tiers = ['web', 'db'];
    const externals = new Map([['saas', parsePrefix('198.51.100.0/24')]]);
    for (let round = 0; round < 20; round++) {
      const nodes = [internet, saas, specialNode('unlabeled', 'unlabeled', '10.9.9.0/24'), specialNode('unlabeled', 'unlabeled', '10.8.0.0/24')];
      for (const app of apps) for (const env of envs) nodes.push(rnd(3) === 0 ? labelsNode({ app, env }) : labelsNode({ app, env, tier: tiers[rnd(2)] as string }));
      const unique = [...new Map(nodes.map((n) => [n.key, n])).values()];
      const edges = Array.from({ length: 60 }, () => edge(unique[rnd(unique.length)] as typeof web, unique[rnd(unique.length)] as typeof web, [22, 443, 5432, 8080][rnd(4)] as number, { proto: rnd(5) === 0 ? 17 : 6 }));
      const graph = graphOf(unique, [...new Map(edges.map((e) => [e.id, e])).values()]);
      const groups = new GroupIndex(unique, externals);
      const index = new EdgeIndex(graph, groups);
      const selectors: Record<string, string>[] = [
        { app: apps[rnd(4)] as string },
        { app: apps[rnd(4)] as string, env: envs[rnd(2)] as string },
        { env: envs[rnd(2)] as string, tier: tiers[rnd(2)] as string },
        { group: 'internet' },
        { group: 'saas' },
        { group: 'unlabeled' },
        { cidr: ['10.0.0.0/8', '10.9.9.0/24', '198.51.0.0/16', '0.0.0.0/0'][rnd(4)] as string },
        { app: 'nowhere' },
      ];
      for (const s of selectors) {
        const brute = unique.flatMap((n, i) => (selectorMatchesNode(s, n, externals) ? [i] : []));
        assert.deepEqual(groups.matching(s), brute, JSON.stringify(s));
      }
      for (const from of selectors) {
        for (const to of selectors) {
          const rule = { from, to, protocol: rnd(4) === 0 ? 'udp' : 'tcp', ports: rnd(3) === 0 ? [] : [[22, 443, 5432, 8080][rnd(4)] as number] };
          const brute = graph.edges
            .map((x) => x.attributes)
            .filter((e) => e.protocol === rule.protocol && (rule.ports.length === 0 || rule.ports.includes(e.port)) && selectorMatchesNode(from, unique.find((n) => n.key === e.from) as typeof web, externals) && selectorMatchesNode(to, unique.find((n) => n.key === e.to) as typeof web, externals));
          assert.deepEqual(index.allowedBy(rule).map((e) => e.id).sort(), brute.map((e) => e.id).sort(), JSON.stringify(rule));
        }
      }
    }
  });
});

describe('export addresses from the inventory', () => {
  // 10.1.0.0/16 is labelled web/prod by a CIDR rule; inside it 10.1.128.0/17 is batch/prod, and the
  // bound host 10.1.0.5 is a db workload. web/prod's addresses are the /16 less both.
  const inventory = {
    workloads: [{ id: 'db-1', name: 'db-1', labels: { app: 'db', env: 'prod' }, source: 'test' }],
    bindings: [{ address: parseAddress('10.1.0.5'), workloadId: 'db-1', from: 0, to: Infinity, source: 'test', importedAt: 0 }],
    rules: [
      { prefix: parsePrefix('10.1.0.0/16'), labels: { app: 'web', env: 'prod' } },
      { prefix: parsePrefix('10.1.128.0/17'), labels: { app: 'batch', env: 'prod' } },
    ],
  };
  const policy = { id: 'pol-000000000002', name: 't', version: 1, groupBy: ['app', 'env'], rules: [ruleFromInput({ from: { app: 'web', env: 'prod' }, to: { app: 'db', env: 'prod' }, protocol: 'tcp', ports: [5432] })], exceptions: [] } as unknown as Policy;
  const input = exportInput(policy, inventory, createResolver(inventory, { groupBy: ['app', 'env'] }), { now: new Date('2026-12-01T00:00:00Z') });
  const covered = (cidrs: readonly string[], address: string): boolean => cidrs.some((c) => prefixContains(parsePrefix(c), parseAddress(address)));

  it("gives a label selector its CIDR rule's prefix less the hosts and sub-prefixes that resolve elsewhere", () => {
    const webPrefixes = input.groups.find((g) => g.selector.app === 'web')?.v4 ?? [];
    for (const inside of ['10.1.0.0', '10.1.0.4', '10.1.0.6', '10.1.127.255']) assert.ok(covered(webPrefixes, inside), inside);
    for (const outside of ['10.1.0.5', '10.1.128.0', '10.1.200.1', '10.2.0.1']) assert.ok(!covered(webPrefixes, outside), outside);
    assert.deepEqual(input.groups.find((g) => g.selector.app === 'db')?.v4, ['10.1.0.5/32']);
  });
});
