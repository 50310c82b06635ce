// Test helpers: a small, complete report written out by hand (three groups, two dependencies, one
// finding, one active policy), for tests of rendering and storage that need a report but not a
// store full of flows. `text` replaces every label, name and explanation — the user-controlled
// strings — so a test can hand in a hostile one.
import type { BaselineReport, ReportGroup } from './types.js';

export function sampleReport(options: { id?: string; generatedAt?: string; text?: string; previous?: boolean } = {}): BaselineReport {
  const t = (s: string): string => (options.text === undefined ? s : `${options.text}${s}`);
  const group = (key: string, label: string, hosts: number, fanIn: number, fanOut: number, bytes: number): ReportGroup => ({
    key,
    label: t(label),
    kind: 'labels',
    hosts,
    flowsIn: bytes / 1000,
    flowsOut: bytes / 2000,
    bytesIn: bytes,
    bytesOut: bytes / 2,
    fanIn,
    fanOut,
  });
  const web = group('app=web,env=prod', 'web prod', 4, 1, 1, 8_000_000);
  const db = group('app=db,env=prod', 'db prod', 2, 1, 0, 2_000_000);
  const dependency = (from: ReportGroup, to: ReportGroup, port: number, flows: number, bytes: number): BaselineReport['topDependencies']['byBytes'][number] => ({
    id: `e-${from.key}-${port}`,
    from: from.key,
    fromLabel: from.label,
    to: to.key,
    toLabel: to.label,
    proto: 6,
    protocol: 'tcp',
    port,
    flows,
    bytes,
    daysSeen: 7,
    clientHosts: from.hosts,
    serverHosts: to.hosts,
    firstSeen: '2026-11-23T00:00:00.000Z',
    lastSeen: '2026-11-29T23:59:59.000Z',
  });
  const top = [dependency(web, db, 5432, 400, 6_000_000), dependency(web, web, 8080, 100, 1_500_000)];
  const change = { id: 'e-new', from: web.key, fromLabel: web.label, to: db.key, toLabel: db.label, proto: 6, protocol: 'tcp', port: 9200, flows: 12, bytes: 4_000 };
  const coverage = { totalFlows: 500, allowedFlows: 400, blockedFlows: 90, alreadyRejectedFlows: 10, coverage: 0.8, blockedEdges: 1, unusedRules: 1, unused: [{ id: 'r-1', kind: 'rule' as const, from: t('app=web,env=prod'), to: t('app=db,env=prod'), service: 'tcp/3306' }], blocked: [{ from: web.key, fromLabel: web.label, to: db.key, toLabel: db.label, protocol: 'tcp', port: 9200, flows: 90, scan: false }], source: 'baseline' as const };
  return {
    schemaVersion: 1,
    id: options.id ?? 'rp-0123456789abcdef',
    generatedAt: options.generatedAt ?? '2026-11-30T03:45:00.000Z',
    baseline: { id: 'bl-20261130T0000-7d-0123456789', window: { from: '2026-11-23T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z', days: 7 }, groupBy: ['app', 'env'] },
    summary: { groups: 2, edges: 2, hostPairs: 10, flows: 500, bytes: 7_500_000, packets: 9_000, conversations: 80, rejectedFlows: 10, groupsByKind: { labels: 2, workload: 0, internet: 0, external: 0, unlabeled: 0 }, largestByHosts: [web, db], largestByTraffic: [web, db] },
    topDependencies: { limit: 15, byBytes: top, byFlows: top },
    newSinceLast:
      options.previous === false
        ? { previous: null, note: t('There is no previous completed baseline.'), summary: null, added: [], removed: [], newPorts: [], volume: [], addedGroups: [], removedGroups: [], limit: 20 }
        : {
            previous: { id: 'bl-20261123T0000-7d-0123456789', window: { from: '2026-11-16T00:00:00.000Z', to: '2026-11-23T00:00:00.000Z' } },
            note: t('Compared with the previous baseline.'),
            summary: { added: 1, removed: 0, newPorts: 1, volume: 1, unchanged: 1 },
            added: [change],
            removed: [],
            newPorts: [{ from: web.key, fromLabel: web.label, to: db.key, toLabel: db.label, protocol: 'tcp', ports: [9200] }],
            volume: [{ ...change, id: 'e-vol', port: 5432, flowsBefore: 100, flowsAfter: 400, bytesBefore: 1_000_000, bytesAfter: 6_000_000, change: 5 }],
            addedGroups: [],
            removedGroups: [],
            limit: 20,
          },
    findings: {
      total: 1,
      byKind: { undocumented: 1, drift: 0, 'unused-rule': 0, 'broad-rule': 0, 'expired-exception': 0 },
      byCategory: { backup: 0, monitoring: 0, management: 0, infrastructure: 0, 'rpc-dynamic': 0, scanner: 0, application: 1 },
      bySeverity: { info: 0, low: 0, medium: 1, high: 0, critical: 0 },
      rows: [{ name: 'application', category: 'application', total: 1, bySeverity: { info: 0, low: 0, medium: 1, high: 0, critical: 0 } }],
      top: [{ id: 'f-1', kind: 'undocumented', category: 'application', severity: 'medium', from: t('app=web,env=prod'), to: t('app=db,env=prod'), service: 'tcp/9200', flows: 12, explanation: t('not in the intents.'), allowed: false }],
    },
    policyCoverage: {
      activePolicies: 1,
      coverage: 0.8,
      note: t('1 active policy.'),
      policies: [{ id: 'pol-0123456789ab', name: t('shop'), version: 2, rules: 3, groupBy: ['app', 'env'], active: [{ env: 'prod', state: 'audit' }], ...coverage }],
      recommendation: { rules: 3, ...coverage },
    },
    blastRadius: {
      basis: { kind: 'policy', id: 'pol-0123456789ab', name: t('shop'), version: 2 },
      workloads: 6,
      totals: { flat: 30, observed: 14, policy: 12 },
      reduction: 0.6,
      observedReduction: 0.5333,
      groups: [{ group: web.key, label: web.label, hosts: 4, flat: 5, observed: 3, policy: 3 }],
    },
  };
}
