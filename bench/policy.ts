// bench/policy: the policy stage on an estate the size the web map must handle (issue 11: 2,000
// groups, 20,000 edges): the recommendation (about one rule per edge), the audit simulation of that
// policy, the findings of a policy in audit (unused and broad rules over every rule) and the blast
// radius. Beside the simulation in the same run, the peer: what a first implementation writes —
// every rule tested against every edge with selectorMatchesNode — whose blocked edges are checked
// equal to ours first. Synthetic graphs (graph-testing.ts), no store: this times the analysis only.
// Not part of `npm test`.
//
//   node --import tsx bench/policy.ts            print the table
//   node --import tsx bench/policy.ts --write    also rewrite the <!-- policy:start/end --> section of BENCHMARKS.md
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BaselineRecord, DependencyEdgeAttributes } from '../analyzer/baseline/index.js';
import { edge, graphOf, labelsNode, WINDOW } from '../analyzer/policy/graph-testing.js';
import { blastRadius, computeFindings, portMatches, recommend, selectorMatchesNode, simulate, type Policy } from '../analyzer/policy/index.js';

const root = join(import.meta.dirname, '..');
const SIZES = [
  { groups: 500, edges: 5_000 },
  { groups: 2_000, edges: 20_000 },
];

let seed = 42;
const random = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

function estate(groups: number, edges: number): ReturnType<typeof graphOf> {
  const nodes = Array.from({ length: groups }, (_, i) => labelsNode({ app: `a${i >> 2}`, env: ['prod', 'staging', 'dev', 'test'][i & 3] as string }, 1 + random(8)));
  const seen = new Set<string>();
  const list: DependencyEdgeAttributes[] = [];
  while (list.length < edges) {
    const f = random(groups);
    const t = random(groups);
    const port = [443, 8080, 5432, 6379, 9100, 22, 53][random(7)] as number;
    const key = `${f}>${t}/${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    list.push(edge(nodes[f] as (typeof nodes)[number], nodes[t] as (typeof nodes)[number], port, { days: 2 + random(27), proto: port === 53 ? 17 : 6 }));
  }
  return graphOf(nodes, list);
}

const time = async <T>(run: () => T | Promise<T>): Promise<{ ms: number; value: T }> => {
  const started = performance.now();
  const value = await run();
  return { ms: Math.round(performance.now() - started), value };
};

const rows: string[] = [];
for (const size of SIZES) {
  const graph = estate(size.groups, size.edges);
  const record: BaselineRecord = { id: 'bl-20261130T0000-28d-0000000000', params: { ...WINDOW, groupBy: ['app', 'env'] }, createdAt: '', status: 'completed', trigger: 'cli' };
  const rec = await time(() => recommend(record, graph, []));
  const { recommendation, analysis } = rec.value;
  // A policy of the recommendation less a tenth of its rules, in audit, so something is blocked and unused-rule findings are computed.
  const policy: Policy = {
    id: 'pol-000000000000',
    name: 'bench',
    version: 1,
    groupBy: ['app', 'env'],
    defaultAction: 'deny',
    rules: recommendation.rules.filter((_, i) => i % 10 !== 0),
    exceptions: [],
    rollout: [{ env: 'prod', state: 'audit', changedAt: '' }],
    origin: 'recommendation',
    createdAt: '',
    updatedAt: '',
  };
  const sim = await time(() => simulate(policy, graph, WINDOW, async () => []));
  const peer = await time(() => {
    const nodes = new Map(graph.nodes.map((n) => [n.key, n.attributes]));
    const blocked: string[] = [];
    for (const { attributes: e } of graph.edges) {
      const from = nodes.get(e.from);
      const to = nodes.get(e.to);
      if (from === undefined || to === undefined) continue;
      const allowed = policy.rules.some((r) => r.protocol === e.protocol && (r.ports.length === 0 || portMatches(r.ports, e.port)) && selectorMatchesNode(r.from, from) && selectorMatchesNode(r.to, to));
      if (!allowed) blocked.push(e.id);
    }
    return blocked;
  });
  const ours = sim.value.blocked.map((b) => `${b.from}|${b.to}|${b.protocol}|${b.port}`).sort();
  const peerBlocked = new Set(peer.value);
  const theirs = graph.edges.filter((e) => peerBlocked.has(e.attributes.id)).map((e) => `${e.attributes.from}|${e.attributes.to}|${e.attributes.protocol}|${e.attributes.port}`).sort();
  if (JSON.stringify(ours) !== JSON.stringify(theirs)) throw new Error(`the simulation and the peer disagree: ${ours.length} vs ${theirs.length} blocked`);
  const findings = await time(() => computeFindings({ baseline: { id: record.id, window: WINDOW, graph, analysis }, policies: [policy], now: new Date('2026-12-01T00:00:00Z') }));
  const blast = await time(() => blastRadius(graph, policy));
  const label = `${size.groups.toLocaleString('en-US')} groups, ${size.edges.toLocaleString('en-US')} edges`;
  rows.push(
    `| ${label} | recommend | ${rec.ms.toLocaleString('en-US')} | ${recommendation.rules.length.toLocaleString('en-US')} rules |`,
    `| ${label} | simulate (flowmap), ${policy.rules.length.toLocaleString('en-US')} rules | ${sim.ms.toLocaleString('en-US')} | ${sim.value.blocked.length.toLocaleString('en-US')} blocked edges |`,
    `| ${label} | simulate (peer: every rule × every edge) | ${peer.ms.toLocaleString('en-US')} | same blocked edges; flowmap ${(peer.ms / Math.max(1, sim.ms)).toFixed(0)}× faster |`,
    `| ${label} | findings (policy in audit) | ${findings.ms.toLocaleString('en-US')} | ${findings.value.length.toLocaleString('en-US')} findings |`,
    `| ${label} | blast radius | ${blast.ms.toLocaleString('en-US')} | ${(blast.value.reduction * 100).toFixed(1)} % less reach than flat |`,
  );
  process.stderr.write(`${rows.slice(-5).join('\n')}\n`);
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const report = `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; one run each, one thread.

| estate | step | ms | result |
|---|---|---|---|
${rows.join('\n')}
`;
process.stdout.write(report);

if (process.argv.includes('--write')) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('<!-- policy:start -->');
  const end = text.indexOf('<!-- policy:end -->');
  if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- policy:start --> / <!-- policy:end --> markers');
  writeFileSync(path, `${text.slice(0, start + '<!-- policy:start -->'.length)}\n${report}${text.slice(end)}`);
}
