// Recommendations and findings on a drawn estate (28 days, Mon 2 Nov – Sun 29 Nov 2026):
//
//   internet ──tcp/443──▶ web ──tcp/8080──▶ api ──tcp/5432──▶ db ⟲ tcp/5432 (replication)
//   ws (workstation) ──tcp/5432, 1 day──▶ db                       (a one-off: no rule)
//   win ──tcp/135──▶ dc, then 4 ports of 49152–65535               (one rule on the range)
//   odd ──6 high ports, 1 day each──▶ api                          (spread: no rule)
//   mon ──tcp/9100, around the clock, small──▶ web, api, db        (monitoring)
//   bk ──tcp/9090, 01–03 h, 400 MB a night──▶ web, api, db         (backup)
//   10.9.9.0/24 (one host) ──12 ports, one hour, 44 B/flow──▶ web, api, db   (a scan)
//   internet ──tcp/22, every flow rejected──▶ api                  (rejected)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BaselineRecord } from '../baseline/index.js';
import { edge, graphOf, labelsNode, specialNode, WINDOW } from './graph-testing.js';
import { computeFindings, parseIntentsText, recommend, type PolicyRule } from './index.js';

const web = labelsNode({ app: 'shop', env: 'prod', tier: 'web' }, 3);
const api = labelsNode({ app: 'shop', env: 'prod', tier: 'api' }, 4);
const db = labelsNode({ app: 'shop', env: 'prod', tier: 'db' }, 2);
const ws = labelsNode({ app: 'workstation', env: 'shared' }, 5);
const win = labelsNode({ app: 'erp', env: 'prod', tier: 'app' }, 2);
const dc = labelsNode({ app: 'directory', env: 'shared' }, 2);
const odd = labelsNode({ app: 'odd', env: 'dev' }, 1);
const mon = labelsNode({ app: 'monitoring', env: 'shared' }, 1);
const bk = labelsNode({ app: 'backup', env: 'shared' }, 1);
const internet = specialNode('internet', 'internet');
const scanner = specialNode('unlabeled', 'unlabeled', '10.9.9.0/24');
const ALL_DAY = Array.from({ length: 24 }, (_, h) => h);
const record: BaselineRecord = { id: 'bl-20261130T0000-28d-0123456789', params: { ...WINDOW, groupBy: ['app', 'env', 'tier'] }, createdAt: '2026-11-30T00:00:00Z', status: 'completed', trigger: 'cli' };

const scanPorts = [21, 22, 23, 25, 80, 110, 139, 143, 445, 3306, 3389, 5900];
const graph = graphOf(
  [web, api, db, ws, win, dc, odd, mon, bk, internet, scanner],
  [
    edge(internet, web, 443, { days: 28, hours: ALL_DAY, clientHosts: 200 }),
    edge(web, api, 8080, { days: 20 }),
    edge(api, db, 5432, { days: 20 }),
    edge(db, db, 5432, { days: 28, hours: ALL_DAY }),
    edge(ws, db, 5432, { days: 1, firstDay: 9, flows: 2, clientHosts: 1, serverHosts: 1 }),
    edge(win, dc, 135, { days: 28, hours: ALL_DAY }),
    ...[49700, 51200, 58000, 60123].map((p) => edge(win, dc, p, { days: 7, hours: ALL_DAY })),
    ...[33001, 35002, 40003, 41004, 45005, 47006].map((p, i) => edge(odd, api, p, { days: 1, firstDay: i * 3, flows: 2 })),
    ...[web, api, db].map((g) => edge(mon, g, 9100, { days: 28, hours: ALL_DAY, flows: 2000, bytes: 2000 * 85_000, clientHosts: 1 })),
    ...[web, api, db].map((g) => edge(bk, g, 9090, { days: 28, hours: [1, 2], flows: 56, bytes: 28 * 400_000_000, clientHosts: 1 })),
    ...[web, api, db].flatMap((g) => scanPorts.map((p) => edge(scanner, g, p, { days: 1, firstDay: 16, hours: [10], flows: 3, bytes: 132, clientHosts: 1, serverHosts: 3 }))),
    edge(internet, api, 22, { days: 28, rejectedFlows: 100, flows: 100, bytes: 0 }),
  ],
);
const intents = parseIntentsText(`
intents:
  - { from: { group: internet }, to: { app: shop, env: prod, tier: web }, protocol: tcp, ports: [443] }
  - { from: { app: shop, tier: web }, to: { app: shop, tier: api }, protocol: tcp, ports: [8080] }
  - { from: { app: shop, env: prod, tier: api }, to: { app: shop, env: prod, tier: db }, protocol: tcp, ports: [5432] }
  - { from: { app: erp, env: prod, tier: app }, to: { app: directory, env: shared }, protocol: tcp, ports: [135] }
  - { from: { app: billing, env: prod }, to: { app: shop, env: prod, tier: api }, protocol: tcp, ports: [8443], description: quarterly settlement }
`);

const { recommendation, analysis } = recommend(record, graph, intents);
const ruleFor = (from: object, to: object, protocol = 'tcp'): PolicyRule | undefined =>
  recommendation.rules.find((r) => JSON.stringify(r.from) === JSON.stringify(from) && JSON.stringify(r.to) === JSON.stringify(to) && r.protocol === protocol);

describe('recommendation from a baseline', () => {
  it('allows every documented dependency it saw, in label terms, with evidence', () => {
    const r = ruleFor({ app: 'shop', env: 'prod', tier: 'web' }, { app: 'shop', env: 'prod', tier: 'api' });
    assert.ok(r !== undefined);
    assert.deepEqual(r.ports, [8080]);
    assert.equal(r.documented, true);
    assert.ok(r.confidence >= 0.9, `documented rules are at least 0.9, got ${r.confidence}`);
    assert.equal(r.evidence.flows, 100);
    assert.equal(r.evidence.daysSeen, 20);
    assert.ok(r.reasons.some((x) => x.startsWith('documented by intent int-')));
    assert.deepEqual(ruleFor({ group: 'internet' }, { app: 'shop', env: 'prod', tier: 'web' })?.flags, ['external']);
  });

  it('gives traffic inside a group an explicit rule, flagged intra-group', () => {
    const r = ruleFor(db.labels, db.labels);
    assert.ok(r !== undefined);
    assert.deepEqual(r.ports, [5432]);
    assert.ok(r.flags.includes('intra-group'));
    assert.equal(r.documented, false);
  });

  it('makes the RPC dynamic ports after tcp/135 one flagged rule on 49152-65535, and no rule per port', () => {
    const r = recommendation.rules.filter((x) => JSON.stringify(x.from) === JSON.stringify(win.labels));
    assert.equal(r.length, 2);
    assert.deepEqual(r.find((x) => x.ports[0] === 135)?.ports, [135]);
    const range = r.find((x) => typeof x.ports[0] !== 'number');
    assert.deepEqual(range?.ports, [{ first: 49152, last: 65535 }]);
    assert.deepEqual(range?.flags, ['dynamic-range']);
    assert.equal(range?.category, 'rpc-dynamic');
    assert.equal(range?.evidence.edges, 4);
  });

  it('never makes a rule of a one-off, a scan, rejected probes or spread client ports', () => {
    assert.equal(ruleFor(ws.labels, db.labels), undefined);
    assert.equal(ruleFor({ cidr: '10.9.9.0/24' }, web.labels), undefined);
    assert.equal(ruleFor({ group: 'internet' }, api.labels), undefined);
    assert.equal(ruleFor(odd.labels, api.labels), undefined);
    assert.deepEqual(recommendation.excluded, { 'below-threshold': 1, scanner: 36, rejected: 1, 'ephemeral-port': 6 });
  });

  it('keeps a documented dependency nobody used in the window, flagged unobserved', () => {
    const r = ruleFor({ app: 'billing', env: 'prod' }, api.labels);
    assert.ok(r !== undefined);
    assert.deepEqual(r.flags, ['unobserved']);
    assert.equal(r.evidence.flows, 0);
  });

  it('has no any-to-any rule, no empty selector, and no high port outside the flagged range', () => {
    for (const r of recommendation.rules) {
      assert.ok(Object.keys(r.from).length > 0 && Object.keys(r.to).length > 0, r.id);
      assert.ok(!(r.from.cidr?.endsWith('/0') === true && r.to.cidr?.endsWith('/0') === true), r.id);
      for (const p of r.ports) if (typeof p !== 'number' || p >= 32768) assert.ok(r.flags.includes('dynamic-range'), `${r.id} ${JSON.stringify(p)}`);
    }
  });

  it('scores a regular dependency above an irregular one, and says why', () => {
    const regular = ruleFor(mon.labels, web.labels);
    const sparse = recommend(record, graphOf([web, api], [edge(web, api, 8080, { days: 4 })]), []).recommendation.rules[0];
    assert.ok(regular !== undefined && sparse !== undefined);
    assert.ok(regular.confidence > sparse.confidence, `${regular.confidence} > ${sparse.confidence}`);
    assert.ok(sparse.reasons.includes('seen on 4 of 28 days'));
    // Seen Monday to Thursday of the first week: 4 of the 16 Mondays-to-Thursdays of the window.
    assert.ok(sparse.reasons.includes('regular: 4 of the 16 days its weekdays occur in the window'), sparse.reasons.join('; '));
  });

  it('makes one rule per (client, server, protocol, port set): two ports between the same groups are one rule', () => {
    const rules = recommend(record, graphOf([web, api], [edge(web, api, 9000, { days: 20 }), edge(web, api, 8080, { days: 10 }), edge(web, api, 53, { proto: 17, days: 10 })]), []).recommendation.rules;
    assert.deepEqual(rules.map((r) => [r.protocol, r.ports]), [['tcp', [8080, 9000]], ['udp', [53]]]);
  });

  it('raises a threshold as a parameter: at minDays 25 the 20-day dependencies need their intents', () => {
    const strict = recommend(record, graph, [], { parameters: { minDays: 25 } }).recommendation;
    assert.equal(strict.parameters.minDays, 25);
    assert.equal(strict.rules.find((r) => JSON.stringify(r.to) === JSON.stringify(api.labels) && r.ports.includes(8080)), undefined);
    assert.ok(strict.rules.some((r) => JSON.stringify(r.from) === JSON.stringify(db.labels)), 'the 28-day replication stays');
  });
});

describe('findings from a baseline', () => {
  const findings = computeFindings({ baseline: { id: record.id, window: WINDOW, graph, analysis }, policies: [], now: new Date('2026-12-01T00:00:00Z') });
  const categoryOf = (from: object, port: number): string | undefined =>
    findings.find((f) => f.kind === 'undocumented' && JSON.stringify(f.from) === JSON.stringify(from) && f.ports.some((p) => (typeof p === 'number' ? p === port : port >= p.first && port <= p.last)))?.category;

  it('classifies the undocumented dependencies by behaviour and port', () => {
    assert.equal(categoryOf(mon.labels, 9100), 'monitoring');
    assert.equal(categoryOf(bk.labels, 9090), 'backup');
    assert.equal(categoryOf(win.labels, 50000), 'rpc-dynamic');
    assert.equal(categoryOf(ws.labels, 5432), 'application');
    assert.equal(categoryOf(db.labels, 5432), 'application');
  });

  it('reports a scan once, as scanner, with its evidence, and not as a dependency per port', () => {
    const scans = findings.filter((f) => f.category === 'scanner');
    assert.equal(scans.length, 1);
    const s = scans[0];
    assert.ok(s !== undefined);
    assert.deepEqual(s.from, { cidr: '10.9.9.0/24' });
    assert.deepEqual(s.ports, scanPorts.slice().sort((a, b) => a - b));
    assert.equal(s.severity, 'high');
    assert.equal(s.allowed, false);
    assert.equal(s.evidence.serverGroups, 3);
    assert.equal(s.evidence.distinctPorts, 12);
    assert.equal(s.evidence.bytesPerFlow, 44);
    assert.equal(findings.filter((f) => JSON.stringify(f.from) === JSON.stringify({ cidr: '10.9.9.0/24' })).length, 1);
  });

  it('says whether the recommendation allows an undocumented dependency, and why not', () => {
    const oneOff = findings.find((f) => JSON.stringify(f.from) === JSON.stringify(ws.labels));
    assert.equal(oneOff?.allowed, false);
    assert.match(oneOff?.explanation ?? '', /seen on 1 day, below the 3-day threshold/);
    assert.equal(findings.find((f) => f.category === 'backup')?.allowed, true);
  });

  it('leaves documented dependencies and rejected probes out', () => {
    assert.equal(categoryOf(web.labels, 8080), undefined);
    assert.equal(categoryOf({ group: 'internet' }, 22), undefined);
  });
});

describe('recommendation edge cases', () => {
  it('keeps the ports of a multi-port intent nobody used, beside the rule for the ports seen', () => {
    const docs = parseIntentsText('intents: [{from: {app: shop, env: prod, tier: api}, to: {app: shop, env: prod, tier: db}, ports: [5432, 6432]}]');
    const rules = recommend(record, graphOf([api, db], [edge(api, db, 5432, { days: 20 })]), docs).recommendation.rules;
    assert.deepEqual(rules.map((r) => [r.ports, r.flags]), [[[5432], []], [[6432], ['unobserved']]]);
  });

  it('names protocols as the baseline does: an intent on protocol 58 documents ICMPv6, whose rule has no ports', () => {
    const docs = parseIntentsText('intents: [{from: {app: shop, env: prod, tier: web}, to: {app: shop, env: prod, tier: api}, protocol: 58}]');
    assert.equal(docs[0]?.protocol, 'ipv6-icmp');
    const rules = recommend(record, graphOf([web, api], [edge(web, api, 0, { proto: 58, days: 1 })]), docs).recommendation.rules;
    assert.deepEqual(rules.map((r) => [r.protocol, r.ports, r.documented]), [['ipv6-icmp', [], true]]);
    assert.throws(() => parseIntentsText('intents: [{from: {app: a}, to: {app: b}}]'), /tcp needs its ports listed/);
    assert.throws(() => parseIntentsText('intents: [{from: {app: a}, to: {app: b}, protocol: icmp, ports: [1]}]'), /icmp has no ports/);
    assert.throws(() => parseIntentsText('intents: [{from: {app: a}, to: {app: b}, protocol: tcpp, ports: [1]}]'), /not a protocol/);
  });

  it('opens the RPC range only after an endpoint mapper that is a dependency of its own', () => {
    const stray = graphOf([win, dc], [edge(win, dc, 135, { days: 1, flows: 1 }), edge(win, dc, 50000, { days: 5 })]);
    const rules = recommend(record, stray, []).recommendation.rules;
    assert.ok(rules.every((r) => r.ports.every((p) => typeof p === 'number')), JSON.stringify(rules.map((r) => r.ports)));
  });

  it('survives a scan of every port of four groups, 262,140 edges (no argument spreading)', () => {
    const many = [web, api, db, dc].flatMap((g) => Array.from({ length: 65_535 }, (_, i) => edge(scanner, g, i + 1, { days: 1, firstDay: 3, hours: [10], flows: 1, bytes: 44, clientHosts: 1, serverHosts: 1 })));
    const big = graphOf([scanner, web, api, db, dc], many);
    const { recommendation: rec, analysis: a } = recommend(record, big, []);
    assert.equal(rec.rules.length, 0);
    assert.equal(computeFindings({ baseline: { id: record.id, window: WINDOW, graph: big, analysis: a }, policies: [] }).filter((f) => f.category === 'scanner').length, 1);
  });
});
