// Baseline reports on the simulator (issue 10): the `small` estate over 14 days on DuckDB, with an
// undocumented dependency (shop prod app → analytics prod db, tcp/9200) that starts on day 7, the
// scan on day 2 and no one-off sessions. Baseline A covers days 0–6, baseline B days 7–13, both
// at app,env; a policy recommended from A is put in audit in staging.
//
// The report's numbers are checked against what the test computes itself: flow totals from the
// store, dependencies and their flows and bytes tallied from the generated records (the
// simulator's own orientation and address history), the new dependencies as the edges B's records
// have and A's do not, coverage by matching the policy's rules against those tallies, finding
// counts from findingsFor. Then the HTML is opened in headless Chromium (every section and chart
// visible, nothing fetched, screenshots in test-artifacts/reports/) and printed to PDF.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineId, getGraph, runBaseline, type BaselineSettings, type SerializedBaselineGraph } from '../baseline/index.js';
import { blastFor, createFromRecommendation, findingsFor, importIntents, parseIntentsText, recommendationFor, setState, type Policy, type PolicyRule } from '../policy/index.js';
import type { FlowRecord } from '../../core/flow.js';
import { formatAddress } from '../../core/ip.js';
import { isFlowmapError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { createEstate, intentsJson, parseScenario, SMALL, type SimulatedEstate } from '../../simulator/index.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { EstateGroups, loadEstate } from '../../test/baseline-truth.js';
import { checkReportInBrowser } from '../../test/report-browser.js';
import { inCI } from '../../test/services.js';
import { buildReport, escapeHtml, findChromium, renderReportHtml, renderReportPdf, REPORT_SECTIONS, type BaselineReport } from './index.js';

const END = Date.parse('2026-11-30T00:00:00Z') / 1000;
const DAY = 86_400;
const NOW = Date.parse('2026-11-30T03:45:00Z');
const A = { from: END - 14 * DAY, to: END - 7 * DAY, groupBy: ['app', 'env'] };
const B = { from: END - 7 * DAY, to: END, groupBy: ['app', 'env'] };
const NEW = { from: 'app=shop,env=prod', to: 'app=analytics,env=prod', port: 9200 };
const HOSTILE = `<script>alert("x")</script><img src=x onerror='alert(1)'> & "q" `;
const artifacts = join(import.meta.dirname, '..', '..', 'test-artifacts', 'reports');

const chromium = findChromium();
if (chromium === undefined && inCI) throw new Error('CI=true and no Chromium for the report tests: apt-get install chromium, or set FLOWMAP_CHROMIUM');
const noBrowser = chromium === undefined ? 'no Chromium (apt-get install chromium, or set FLOWMAP_CHROMIUM)' : false;

const scenario = parseScenario(
  {
    ...SMALL,
    name: 'small-report',
    dependencies: [...(SMALL.dependencies ?? []), { from: { app: 'shop', tier: 'app', env: 'prod' }, to: { app: 'analytics', tier: 'db', env: 'prod' }, port: NEW.port, perHour: 1, bytes: 9_000, documented: false, startDay: 7 }],
    noise: { ...SMALL.noise, scanner: { address: '10.0.5.66', day: 2 }, oneOff: [] },
  },
  'small-report',
);

interface Edge {
  from: string;
  to: string;
  proto: number;
  port: number;
  flows: number;
  bytes: number;
  rejected: number;
}
const keyOf = (e: { from: string; to: string; proto: number; port: number }): string => `${e.from} -> ${e.to} ${e.proto}/${e.port}`;

/** Dependencies of one window tallied from the generated records: the generator's orientation, the simulator's address owners. */
class Tally {
  readonly edges = new Map<string, Edge>();
  constructor(
    private readonly groups: EstateGroups,
    private readonly window: { from: number; to: number },
  ) {}

  add(records: readonly FlowRecord[]): void {
    for (const r of records) {
      if (r.time_received < this.window.from || r.time_received >= this.window.to) continue;
      const serverIsSrc = r.server_side === 'src';
      const at = r.time_received;
      const from = this.groups.keyOf(formatAddress(serverIsSrc ? r.dst_addr : r.src_addr), at);
      const to = this.groups.keyOf(formatAddress(serverIsSrc ? r.src_addr : r.dst_addr), at);
      const e = { from, to, proto: r.proto ?? 0, port: (serverIsSrc ? r.src_port : r.dst_port) ?? 0 };
      const key = keyOf(e);
      const edge = this.edges.get(key) ?? { ...e, flows: 0, bytes: 0, rejected: 0 };
      edge.flows++;
      edge.bytes += r.bytes ?? 0;
      if (r.action === 'reject') edge.rejected++;
      this.edges.set(key, edge);
    }
  }
}

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

/** Whether a rule's selector names a group key of the tally (`app=shop,env=prod`, `group=internet`, `group=unlabeled,subnet=…`). */
function selects(selector: Record<string, string>, key: string): boolean {
  const parts = new Map(key.split(',').map((p) => p.split('=') as [string, string]));
  if (selector.cidr !== undefined) return parts.get('group') === 'unlabeled' && parts.get('subnet') === selector.cidr;
  if (selector.group !== undefined) return parts.get('group') === selector.group;
  return Object.entries(selector).every(([k, v]) => parts.get(k) === v);
}

/** Accepted flows of the tally that some rule allows: the coverage a replay must find. */
function allowedBy(rules: readonly PolicyRule[], tally: Tally): number {
  let allowed = 0;
  for (const e of tally.edges.values()) {
    const hit = rules.some(
      (r) => r.protocol === PROTOCOLS[e.proto] && selects(r.from, e.from) && selects(r.to, e.to) && (r.ports.length === 0 || r.ports.some((p) => (typeof p === 'number' ? p === e.port : e.port >= p.first && e.port <= p.last))),
    );
    if (hit) allowed += e.flows - e.rejected;
  }
  return allowed;
}

const ratio = (part: number, whole: number): number => Number((part / whole).toFixed(4));

/** Every user-visible string of a report with the hostile text in front. */
function hostile(report: BaselineReport): BaselineReport {
  const fields = new Set(['label', 'fromLabel', 'toLabel', 'name', 'explanation', 'note', 'from', 'to']);
  const walk = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') return key !== undefined && fields.has(key) ? `${HOSTILE}${value}` : value;
    if (Array.isArray(value)) return value.map((v) => walk(v));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    return value;
  };
  return walk(report) as BaselineReport;
}

describe('baseline reports of the small estate, a new dependency from day 7', () => {
  let dir: string;
  let store: Store;
  let estate: SimulatedEstate;
  let settings: BaselineSettings;
  let tallyA: Tally;
  let tallyB: Tally;
  let graphB: SerializedBaselineGraph;
  let policy: Policy;
  /** Of baseline A before any policy was active, and of the latest (B) with the policy in audit. */
  let first: BaselineReport;
  let report: BaselineReport;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-report-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    estate = createEstate(scenario, { seed: 1, days: 14, end: END });
    settings = { days: 7, cron: 'off', keep: 100, resolver: { groupBy: ['app', 'env'], externals: (estate.externals ?? []).map((e) => ({ name: e.name, prefix: e.cidr })) } };
    const groups = new EstateGroups(estate, ['app', 'env']);
    tallyA = new Tally(groups, A);
    tallyB = new Tally(groups, B);
    await loadEstate(store, estate, {
      onRecords: (records) => {
        tallyA.add(records);
        tallyB.add(records);
      },
    });
    await importIntents(store.meta, parseIntentsText(intentsJson(estate)));
    await runBaseline(store, settings, baselineId(A), A);
    await runBaseline(store, settings, baselineId(B), B);
    graphB = (await getGraph(store.meta, baselineId(B))) as SerializedBaselineGraph;
    first = await buildReport(store, settings, { baseline: baselineId(A), now: NOW });
    policy = await createFromRecommendation(store.meta, (await recommendationFor(store, settings, baselineId(A))).recommendation, { name: HOSTILE });
    assert.ok(policy.rollout.some((s) => s.env === 'staging'), 'the recommended policy is rolled out to staging');
    policy = await setState(store.meta, policy.id, 'staging', 'audit');
    report = await buildReport(store, settings, { now: NOW });
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports on the latest baseline by default, under an id derived from the baseline and the time', async () => {
    assert.equal(report.schemaVersion, 1);
    assert.equal(report.baseline.id, baselineId(B));
    assert.deepEqual(report.baseline.window, { from: new Date(B.from * 1000).toISOString(), to: new Date(B.to * 1000).toISOString(), days: 7 });
    assert.deepEqual(report.baseline.groupBy, ['app', 'env']);
    assert.equal(report.generatedAt, new Date(NOW).toISOString());
    assert.match(report.id, /^rp-[0-9a-f]{16}$/);
    assert.equal((await buildReport(store, settings, { baseline: baselineId(B), now: NOW })).id, report.id, 'same baseline and time, same id');
    assert.notEqual((await buildReport(store, settings, { now: NOW + 1000 })).id, report.id);
    assert.notEqual(first.id, report.id);
    await assert.rejects(buildReport(store, settings, { baseline: 'bl-nonsense' }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST'));
  });

  it('summarises the map with the totals the store holds for the window', async () => {
    const totals = await store.flowTotals({ from: B.from, to: B.to });
    assert.ok(totals.flows > 10_000);
    assert.equal(report.summary.flows, totals.flows);
    assert.equal(report.summary.bytes, totals.bytes);
    assert.equal(report.summary.packets, totals.packets);
    assert.equal(report.summary.edges, tallyB.edges.size);
    const keys = new Set([...tallyB.edges.values()].flatMap((e) => [e.from, e.to]));
    assert.equal(report.summary.groups, keys.size);
    assert.equal(report.summary.rejectedFlows, [...tallyB.edges.values()].reduce((n, e) => n + e.rejected, 0));
    // Fan-in and fan-out: the distinct other groups on the far side of the tallied edges.
    for (const g of report.summary.largestByTraffic) {
      const edges = [...tallyB.edges.values()];
      assert.equal(g.fanIn, new Set(edges.filter((e) => e.to === g.key && e.from !== g.key).map((e) => e.from)).size, `fan-in of ${g.key}`);
      assert.equal(g.fanOut, new Set(edges.filter((e) => e.from === g.key && e.to !== g.key).map((e) => e.to)).size, `fan-out of ${g.key}`);
    }
    const traffic = report.summary.largestByTraffic.map((g) => g.bytesIn + g.bytesOut);
    assert.deepEqual(traffic, [...traffic].sort((x, y) => y - x));
    assert.equal(report.summary.largestByHosts[0]?.hosts, Math.max(...graphB.nodes.map((n) => n.attributes.hosts)));
  });

  it('lists the dependencies with the most bytes and the most flows, with the flows and bytes the records give', () => {
    const edges = [...tallyB.edges.values()];
    const { byBytes, byFlows, limit } = report.topDependencies;
    assert.equal(byBytes.length, limit);
    assert.deepEqual(
      byFlows.map((d) => d.flows),
      edges.map((e) => e.flows).sort((x, y) => y - x).slice(0, limit),
    );
    assert.deepEqual(
      byBytes.map((d) => d.bytes),
      edges.map((e) => e.bytes).sort((x, y) => y - x).slice(0, limit),
    );
    for (const d of [...byBytes, ...byFlows]) {
      const tallied = tallyB.edges.get(keyOf(d));
      assert.ok(tallied !== undefined, `${keyOf(d)} is a dependency of the window`);
      assert.equal(d.flows, tallied.flows, keyOf(d));
      assert.equal(d.bytes, tallied.bytes, keyOf(d));
      assert.ok(d.daysSeen >= 1 && d.daysSeen <= 7);
    }
  });

  it('shows what is new since the previous baseline: the dependencies only the later records have', () => {
    const n = report.newSinceLast;
    assert.equal(n.previous?.id, baselineId(A));
    const onlyB = [...tallyB.edges.keys()].filter((k) => !tallyA.edges.has(k));
    const onlyA = [...tallyA.edges.keys()].filter((k) => !tallyB.edges.has(k));
    assert.equal(n.summary?.added, onlyB.length);
    assert.equal(n.summary?.removed, onlyA.length);
    assert.ok(onlyB.length <= n.limit, 'every new dependency is listed');
    assert.deepEqual(n.added.map(keyOf).sort(), onlyB.sort());
    const added = n.added.find((e) => e.from === NEW.from && e.to === NEW.to && e.port === NEW.port);
    assert.equal(added?.flows, tallyB.edges.get(keyOf({ ...NEW, proto: 6 }))?.flows);
    assert.ok(n.removed.length === Math.min(n.limit, onlyA.length) && n.removed.every((e) => onlyA.includes(keyOf(e))));
    assert.match(n.note, new RegExp(`Compared with baseline ${baselineId(A)}`));
  });

  it('says so when there is no previous baseline at the granularity', () => {
    assert.equal(first.newSinceLast.previous, null);
    assert.equal(first.newSinceLast.summary, null);
    assert.equal(first.newSinceLast.added.length, 0);
    assert.match(first.newSinceLast.note, /no previous completed baseline at granularity app,env/);
  });

  it('counts findings by kind, category and severity as findingsFor reports them, most severe first', async () => {
    const { findings } = await findingsFor(store, settings, baselineId(B), { now: new Date(NOW) });
    assert.ok(findings.length > 0);
    const count = (key: (f: (typeof findings)[number]) => string | undefined): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const f of findings) {
        const k = key(f);
        if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
      }
      return out;
    };
    const nonZero = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).filter(([, v]) => v > 0));
    const f = report.findings;
    assert.equal(f.total, findings.length);
    assert.deepEqual(nonZero(f.byKind), count((x) => x.kind));
    assert.deepEqual(nonZero(f.byCategory), count((x) => x.category));
    assert.deepEqual(nonZero(f.bySeverity), count((x) => x.severity));
    assert.equal(f.rows.reduce((n, r) => n + r.total, 0), findings.length);
    const rank = ['critical', 'high', 'medium', 'low', 'info'];
    const worst = Math.min(...findings.map((x) => rank.indexOf(x.severity)));
    assert.equal(f.top[0]?.severity, rank[worst]);
    assert.ok(f.top.some((x) => x.kind === 'drift' && x.service === `tcp/${NEW.port}`), 'the new dependency is among the top findings as drift');
    assert.ok(f.top.every((x) => x.explanation.length > 20));
  });

  it('measures coverage of the policy in audit: the accepted flows its rules allow, of the window\'s flows', async () => {
    const c = report.policyCoverage;
    assert.equal(c.activePolicies, 1);
    const p = c.policies[0];
    assert.ok(p !== undefined);
    assert.equal(p.id, policy.id);
    assert.deepEqual(p.active, [{ env: 'staging', state: 'audit' }]);
    const totals = await store.flowTotals({ from: B.from, to: B.to });
    assert.equal(p.totalFlows, totals.flows);
    assert.equal(p.allowedFlows, allowedBy(policy.rules, tallyB));
    assert.equal(p.alreadyRejectedFlows, [...tallyB.edges.values()].reduce((n, e) => n + e.rejected, 0));
    assert.equal(p.allowedFlows + p.blockedFlows + p.alreadyRejectedFlows, p.totalFlows);
    assert.equal(p.coverage, ratio(p.allowedFlows, p.totalFlows));
    assert.equal(c.coverage, p.coverage);
    assert.ok(p.coverage !== null && p.coverage < 1 && p.coverage > 0.5);
    // Recommended from A, it cannot know the dependency that started in B.
    const blocked = p.blocked.find((b) => b.from === NEW.from && b.to === NEW.to && b.port === NEW.port);
    assert.equal(blocked?.flows, tallyB.edges.get(keyOf({ ...NEW, proto: 6 }))?.flows);
    assert.equal(p.source, 'baseline', 'the window is baseline B, read from it');
    const recommendedB = (await recommendationFor(store, settings, baselineId(B))).recommendation;
    assert.equal(c.recommendation.allowedFlows, allowedBy(recommendedB.rules, tallyB));
    assert.match(c.note, /1 active policy/);
  });

  it('without an active policy gives no coverage, says so, and gives what the recommendation would cover', async () => {
    const c = first.policyCoverage;
    assert.equal(c.activePolicies, 0);
    assert.equal(c.coverage, null);
    assert.deepEqual(c.policies, []);
    assert.match(c.note, /No policy is active/);
    const rules = (await recommendationFor(store, settings, baselineId(A))).recommendation.rules;
    const totals = await store.flowTotals({ from: A.from, to: A.to });
    assert.equal(c.recommendation.totalFlows, totals.flows);
    assert.equal(c.recommendation.allowedFlows, allowedBy(rules, tallyA));
    assert.equal(c.recommendation.coverage, ratio(c.recommendation.allowedFlows, totals.flows));
    assert.equal(first.blastRadius.basis.kind, 'recommendation');
  });

  it('compares the blast radius of a flat network, the observed traffic and the active policy', async () => {
    const b = report.blastRadius;
    assert.deepEqual(b.basis, { kind: 'policy', id: policy.id, name: HOSTILE, version: policy.version });
    const workloads = graphB.nodes.filter((n) => n.attributes.kind === 'labels' || n.attributes.kind === 'workload').reduce((n, g) => n + g.attributes.hosts, 0);
    assert.equal(b.workloads, workloads);
    assert.equal(b.totals.flat, workloads * (workloads - 1));
    assert.equal(b.reduction, ratio(b.totals.flat - b.totals.policy, b.totals.flat));
    assert.equal(b.observedReduction, ratio(b.totals.flat - b.totals.observed, b.totals.flat));
    assert.ok(b.reduction > 0 && b.reduction < 1);
    assert.deepEqual(b.totals, (await blastFor(store, settings, baselineId(B), policy.id)).totals, 'bounded by the policy in audit, over baseline B');
  });

  it('keeps the report compact: capped lists and no host-level data', () => {
    const json = JSON.stringify(report);
    assert.ok(json.length < 100_000, `${json.length} characters`);
    assert.doesNotMatch(json, /\b10\.\d+\.\d+\.\d+\b(?!\/)/, 'no host address (subnets of unlabeled groups only)');
  });

  it('escapes the hostile policy name and labels wherever the HTML shows them', () => {
    for (const html of [renderReportHtml(report), renderReportHtml(hostile(report))]) {
      assert.equal(html.includes(HOSTILE), false);
      assert.doesNotMatch(html, /<(script|img)\b/);
      assert.ok(html.includes(escapeHtml(HOSTILE)), 'shown, escaped');
    }
  });

  describe('in headless Chromium', { skip: noBrowser }, () => {
    const charts = ['group-fan', 'top-dependencies-bytes', 'changes', 'findings-by-category', 'policy-coverage', 'blast-radius'];

    it('shows every section and chart, fetches nothing, and leaves a screenshot', async () => {
      const seen = await checkReportInBrowser(renderReportHtml(report), join(artifacts, 'small-with-policy.png'));
      assert.deepEqual(seen.sections, [...REPORT_SECTIONS]);
      assert.deepEqual(seen.charts, charts);
    });

    it('shows the first baseline\'s report without a change chart', async () => {
      const seen = await checkReportInBrowser(renderReportHtml(first), join(artifacts, 'small-first-baseline.png'));
      assert.deepEqual(seen.sections, [...REPORT_SECTIONS]);
      assert.deepEqual(seen.charts, charts.filter((c) => c !== 'changes'));
    });

    it('runs nothing and loads nothing from hostile labels', async () => {
      const seen = await checkReportInBrowser(renderReportHtml(hostile(report)), join(artifacts, 'small-hostile-labels.png'));
      assert.deepEqual(seen.sections, [...REPORT_SECTIONS]);
    });

    it('the check itself catches a page that fetches something', async () => {
      const leaky = '<!DOCTYPE html><html><body><section id="summary" data-section="summary"><h2>x</h2><img src="http://192.0.2.1/x.png" alt=""></section></body></html>';
      await assert.rejects(checkReportInBrowser(leaky, join(artifacts, 'checker-leaky-page.png')), /no network requests/);
    });

    it('prints to a multi-page A4 PDF', async () => {
      const pdf = await renderReportPdf(renderReportHtml(report), { executablePath: chromium as string });
      assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
      const text = pdf.toString('latin1');
      const pages = (text.match(/\/Type\s*\/Page\b/g) ?? []).length;
      assert.ok(pages > 1, `${pages} pages`);
      // Every page is A4: 210 × 297 mm, 595.3 × 841.9 points.
      const boxes = [...text.matchAll(/\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/g)].map((m) => [Number(m[1]), Number(m[2])]);
      assert.equal(boxes.length, pages);
      assert.ok(boxes.every(([w, h]) => Math.abs((w ?? 0) - 595.3) < 1 && Math.abs((h ?? 0) - 841.9) < 1), `page sizes ${JSON.stringify(boxes.slice(0, 2))}`);
    });
  });

  it('refuses to print without Chromium, saying how to install it', async () => {
    await assert.rejects(
      renderReportPdf('<!DOCTYPE html><p>x</p>', { executablePath: join(dir, 'no-chromium-here') }),
      (err: unknown) => isFlowmapError(err, 'FLOWMAP_UNAVAILABLE') && err.status === 501 && err.message.includes('apt-get install chromium') && err.message.includes('FLOWMAP_CHROMIUM'),
    );
    assert.equal(findChromium({ FLOWMAP_CHROMIUM: join(dir, 'no-chromium-here') }), undefined, 'a FLOWMAP_CHROMIUM that does not exist finds none');
  });
});
