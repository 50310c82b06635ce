// A report as one self-contained HTML5 document: inline CSS (screen and A4 print), inline SVG
// charts (svg.ts), no script, nothing fetched — a Content-Security-Policy of `default-src 'none'`
// makes that hold even for a browser that finds a URL where none should be. Every value from the
// report is escaped on the way in: group labels, policy names and finding explanations are
// user-controlled text. Each section is `<section id="…" data-section="…">` with an `<h2>`, in
// REPORT_SECTIONS order, so readers, tests and the PDF agree on what a report contains.
import { escapeHtml as e, barChart, groupedBarChart, stackedBarChart, type Series } from './svg.js';
import { SEVERITIES, type Severity } from '../policy/index.js';
import type { BaselineReport, ReportCoverage, ReportDependency, ReportEdgeChange, ReportSection } from './types.js';

type Cell = string | number | { html: string };
interface Column {
  label: string;
  numeric?: boolean;
  /** A share of the table's width, e.g. '30%'; columns without one share the rest. */
  width?: string;
}

const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const count = (n: number): string => COUNT.format(n);

/** Bytes in decimal units, three significant digits. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? String(Math.round(v)) : v.toPrecision(3)} ${units[u] ?? 'B'}`;
}

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`);
const when = (isoText: string): string => `${isoText.slice(0, 10)} ${isoText.slice(11, 16)} UTC`;
const service = (protocol: string, port: number): string => (port === 0 ? protocol : `${protocol}/${port}`);
const dependencyName = (d: { fromLabel: string; toLabel: string; protocol: string; port: number }): string => `${d.fromLabel} → ${d.toLabel} ${service(d.protocol, d.port)}`;

const SEVERITY_COLORS: Record<Severity, string> = { critical: '#7f1d1d', high: '#dc2626', medium: '#d97706', low: '#2563eb', info: '#94a3b8' };
/** Most severe first, as a reader scans them. */
const SEVERITY_ORDER: Severity[] = [...SEVERITIES].reverse();

function cell(c: Cell): string {
  return typeof c === 'object' ? c.html : e(typeof c === 'number' ? count(c) : c);
}

function table(caption: string, columns: readonly Column[], rows: readonly Cell[][], empty = 'none', className?: string): string {
  const head = columns.map((c) => `<th scope="col"${c.numeric === true ? ' class="num"' : ''}${c.width === undefined ? '' : ` style="width:${c.width}"`}>${e(c.label)}</th>`).join('');
  const body =
    rows.length === 0
      ? `<tr><td colspan="${columns.length}" class="none">${e(empty)}</td></tr>`
      : rows.map((r) => `<tr>${r.map((c, i) => `<td${columns[i]?.numeric === true ? ' class="num"' : ''}>${cell(c)}</td>`).join('')}</tr>`).join('');
  return `<table${className === undefined ? '' : ` class="${className}"`}><caption>${e(caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function kpis(items: readonly [string, string][]): string {
  return `<dl class="kpis">${items.map(([k, v]) => `<div><dt>${e(k)}</dt><dd>${e(v)}</dd></div>`).join('')}</dl>`;
}

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${e(caption)}</figcaption></figure>`;
}

function section(id: ReportSection, title: string, body: string): string {
  return `<section id="${id}" data-section="${id}"><h2>${e(title)}</h2>${body}</section>`;
}

const badge = (severity: Severity): Cell => ({ html: `<span class="badge sev-${severity}">${e(severity)}</span>` });

function summarySection(r: BaselineReport): string {
  const s = r.summary;
  const kinds = Object.entries(s.groupsByKind)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${count(n)}`)
    .join(' · ');
  const fan = groupedBarChart({
    chart: 'group-fan',
    title: `Fan-in and fan-out of the ${s.largestByTraffic.length} groups with the most traffic`,
    series: [
      { name: 'fan-in (client groups)', color: '#0891b2' },
      { name: 'fan-out (server groups)', color: '#7c3aed' },
    ],
    rows: s.largestByTraffic.map((g) => ({ label: g.label, values: [g.fanIn, g.fanOut] })),
    format: count,
  });
  return section(
    'summary',
    'Dependency map',
    `<p class="lead">The estate at granularity <strong>${e(r.baseline.groupBy.join(','))}</strong> over ${e(String(r.baseline.window.days))} days: ${count(s.groups)} groups joined by ${count(s.edges)} dependencies (client group → server group on a protocol and port).</p>` +
      kpis([
        ['Groups', count(s.groups)],
        ['Dependencies', count(s.edges)],
        ['Host pairs', count(s.hostPairs)],
        ['Flows', count(s.flows)],
        ['Bytes', formatBytes(s.bytes)],
        ['Conversations', count(s.conversations)],
        ['Rejected flows', count(s.rejectedFlows)],
      ]) +
      `<p>Groups by kind: ${e(kinds === '' ? 'none' : kinds)}.</p>` +
      figure(fan, 'How many other groups call each of the busiest groups (fan-in) and how many it calls (fan-out).') +
      `<div class="two">` +
      table(
        'Largest groups by hosts',
        [{ label: 'Group' }, { label: 'Kind' }, { label: 'Hosts', numeric: true }, { label: 'Fan-in', numeric: true }, { label: 'Fan-out', numeric: true }],
        s.largestByHosts.map((g) => [g.label, g.kind, g.hosts, g.fanIn, g.fanOut]),
      ) +
      table(
        'Largest groups by traffic',
        [{ label: 'Group' }, { label: 'Bytes in', numeric: true }, { label: 'Bytes out', numeric: true }, { label: 'Flows in', numeric: true }, { label: 'Flows out', numeric: true }],
        s.largestByTraffic.map((g) => [g.label, formatBytes(g.bytesIn), formatBytes(g.bytesOut), g.flowsIn, g.flowsOut]),
      ) +
      `</div>`,
  );
}

function dependencyTable(caption: string, rows: readonly ReportDependency[]): string {
  return table(
    caption,
    [{ label: 'Client group' }, { label: 'Server group' }, { label: 'Service' }, { label: 'Flows', numeric: true }, { label: 'Bytes', numeric: true }, { label: 'Days seen', numeric: true }, { label: 'Hosts (c → s)', numeric: true }],
    rows.map((d) => [d.fromLabel, d.toLabel, service(d.protocol, d.port), d.flows, formatBytes(d.bytes), d.daysSeen, `${count(d.clientHosts)} → ${count(d.serverHosts)}`]),
  );
}

function topSection(r: BaselineReport): string {
  const t = r.topDependencies;
  const chart = barChart({
    chart: 'top-dependencies-bytes',
    title: `The ${t.byBytes.length} dependencies that carry the most bytes`,
    bars: t.byBytes.map((d) => ({ label: dependencyName(d), value: d.bytes })),
    format: formatBytes,
    labelWidth: 360,
  });
  return section(
    'top-dependencies',
    'Top dependencies',
    figure(chart, 'Bytes per dependency over the window.') + dependencyTable(`Top ${t.limit} by bytes`, t.byBytes) + dependencyTable(`Top ${t.limit} by flows`, t.byFlows),
  );
}

function changeTable(caption: string, rows: readonly ReportEdgeChange[]): string {
  return table(
    caption,
    [{ label: 'Client group' }, { label: 'Server group' }, { label: 'Service' }, { label: 'Flows', numeric: true }, { label: 'Bytes', numeric: true }],
    rows.map((c) => [c.fromLabel, c.toLabel, service(c.protocol, c.port), c.flows, formatBytes(c.bytes)]),
  );
}

function newSection(r: BaselineReport): string {
  const n = r.newSinceLast;
  if (n.previous === null || n.summary === null) return section('new-since-last', 'New since the last baseline', `<p class="empty">${e(n.note)}</p>`);
  const s = n.summary;
  const chart = barChart({
    chart: 'changes',
    title: 'Changes since the previous baseline',
    bars: [
      { label: 'new dependencies', value: s.added, color: '#16a34a' },
      { label: 'vanished dependencies', value: s.removed, color: '#64748b' },
      { label: 'new port sets on known pairs', value: s.newPorts, color: '#d97706' },
      { label: 'volume changes (±50 % per day)', value: s.volume, color: '#2563eb' },
    ],
    format: count,
    labelWidth: 260,
  });
  const more = (shown: number, total: number): string => (total > shown ? ` (the ${shown} with most flows of ${count(total)})` : '');
  return section(
    'new-since-last',
    'New since the last baseline',
    `<p>${e(n.note)}</p>` +
      figure(chart, `Against baseline ${n.previous.id}.`) +
      changeTable(`New dependencies${more(n.added.length, s.added)}`, n.added) +
      changeTable(`Vanished dependencies${more(n.removed.length, s.removed)}`, n.removed) +
      table(
        'New ports between groups that already talked',
        [{ label: 'Client group' }, { label: 'Server group' }, { label: 'Protocol' }, { label: 'New ports' }],
        n.newPorts.map((p) => [p.fromLabel, p.toLabel, p.protocol, p.ports.join(', ')]),
      ) +
      table(
        'Volume changes',
        [{ label: 'Dependency' }, { label: 'Bytes before', numeric: true }, { label: 'Bytes after', numeric: true }, { label: 'Change per day', numeric: true }],
        n.volume.map((v) => [dependencyName(v), formatBytes(v.bytesBefore), formatBytes(v.bytesAfter), v.change === null ? 'new traffic' : `${v.change > 0 ? '+' : ''}${(v.change * 100).toFixed(0)} %`]),
      ) +
      `<p>Groups new in this baseline: ${e(n.addedGroups.length === 0 ? 'none' : n.addedGroups.join('; '))}. Groups gone: ${e(n.removedGroups.length === 0 ? 'none' : n.removedGroups.join('; '))}.</p>`,
  );
}

function findingsSection(r: BaselineReport): string {
  const f = r.findings;
  const series: Series[] = SEVERITY_ORDER.map((s) => ({ name: s, color: SEVERITY_COLORS[s] }));
  const chart = stackedBarChart({
    chart: 'findings-by-category',
    title: 'Findings by category (or kind) and severity',
    series,
    rows: f.rows.map((row) => ({ label: row.name, values: SEVERITY_ORDER.map((s) => row.bySeverity[s]) })),
    format: count,
    labelWidth: 220,
  });
  return section(
    'findings',
    'Findings',
    kpis([['Findings', count(f.total)], ...SEVERITY_ORDER.map((s): [string, string] => [s, count(f.bySeverity[s])])]) +
      (f.total === 0 ? '<p class="empty">No findings for this baseline.</p>' : figure(chart, 'Undocumented dependencies and drift by category; unused and broad rules and expired exceptions by kind.')) +
      table(
        'Findings by kind',
        [{ label: 'Kind' }, { label: 'Findings', numeric: true }],
        Object.entries(f.byKind).map(([k, n]) => [k, n]),
        'none',
        'narrow',
      ) +
      table(
        `The ${f.top.length} most severe findings`,
        [{ label: 'Severity', width: '9%' }, { label: 'Kind', width: '13%' }, { label: 'From → to', width: '20%' }, { label: 'Service', width: '9%' }, { label: 'Flows', numeric: true, width: '7%' }, { label: 'Why', width: '42%' }],
        f.top.map((x) => [badge(x.severity), x.category === undefined ? x.kind : `${x.kind} (${x.category})`, `${x.from} → ${x.to}`, x.service, x.flows, x.explanation]),
        'no findings',
        'fixed',
      ),
  );
}

function coverageRows(c: ReportCoverage): readonly number[] {
  return [c.allowedFlows, c.blockedFlows, c.alreadyRejectedFlows];
}

function blockedTable(caption: string, c: ReportCoverage): string {
  return table(
    caption,
    [{ label: 'Client group' }, { label: 'Server group' }, { label: 'Service' }, { label: 'Flows', numeric: true }, { label: 'Scan' }],
    c.blocked.map((b) => [b.fromLabel, b.toLabel, service(b.protocol, b.port), b.flows, b.scan ? 'yes' : '']),
    'nothing would be blocked',
  );
}

function coverageSection(r: BaselineReport): string {
  const p = r.policyCoverage;
  const chart = stackedBarChart({
    chart: 'policy-coverage',
    title: "Share of the window's flows each active policy, and the recommendation, would allow",
    series: [
      { name: 'allowed', color: '#16a34a' },
      { name: 'blocked', color: '#dc2626' },
      { name: 'already rejected', color: '#94a3b8' },
    ],
    rows: [
      ...p.policies.map((x) => ({ label: `${x.name} v${x.version}`, values: coverageRows(x), note: `${pct(x.coverage)} allowed` })),
      { label: 'recommendation', values: coverageRows(p.recommendation), note: `${pct(p.recommendation.coverage)} allowed` },
    ],
    relative: true,
    labelWidth: 260,
  });
  const newest = p.policies[0];
  const focus = newest ?? p.recommendation;
  return section(
    'policy-coverage',
    'Policy coverage',
    `<p${newest === undefined ? ' class="empty"' : ''}>${e(p.note)}</p>` +
      kpis([
        ['Active policies', count(p.activePolicies)],
        ['Coverage', pct(p.coverage)],
        ['Recommendation would cover', pct(p.recommendation.coverage)],
      ]) +
      figure(chart, 'Flows of the baseline window replayed against each policy: allowed by a rule or exception, blocked by default deny, or rejected by a cloud firewall already.') +
      table(
        'Active policies',
        [{ label: 'Policy' }, { label: 'Version', numeric: true }, { label: 'Active in' }, { label: 'Rules', numeric: true }, { label: 'Allowed / total flows', numeric: true }, { label: 'Coverage', numeric: true }, { label: 'Blocked flows', numeric: true }, { label: 'Unused rules', numeric: true }],
        p.policies.map((x) => [x.name, x.version, x.active.map((a) => `${a.env}: ${a.state}`).join(', '), x.rules, `${count(x.allowedFlows)} / ${count(x.totalFlows)}`, pct(x.coverage), x.blockedFlows, x.unusedRules]),
        'no policy is in audit or enforced',
      ) +
      blockedTable(newest === undefined ? 'What the recommendation would block' : `What "${newest.name}" would block`, focus) +
      table(
        newest === undefined ? 'Recommended rules nothing in the window used' : `Rules of "${newest.name}" nothing in the window used (${count(newest.unusedRules)})`,
        [{ label: 'Rule' }, { label: 'From' }, { label: 'To' }, { label: 'Service' }],
        focus.unused.map((u) => [u.id, u.from, u.to, u.service]),
        'every rule was used',
      ),
  );
}

function blastSection(r: BaselineReport): string {
  const b = r.blastRadius;
  const basis = b.basis.kind === 'policy' ? `policy "${b.basis.name}" (version ${b.basis.version})` : `the baseline's recommendation (${b.basis.rules} rules; no policy is active)`;
  const chart = barChart({
    chart: 'blast-radius',
    title: 'Workload pairs reachable on a flat network, over the observed dependencies, and under the policy',
    bars: [
      { label: 'flat network', value: b.totals.flat, color: '#dc2626' },
      { label: 'observed dependencies', value: b.totals.observed, color: '#d97706' },
      { label: 'under the policy', value: b.totals.policy, color: '#16a34a' },
    ],
    format: count,
    labelWidth: 220,
  });
  return section(
    'blast-radius',
    'Blast radius',
    `<p>Reachable workload pairs, hopping from host to host over allowed connections, bounded by ${e(basis)}.</p>` +
      kpis([
        ['Workloads', count(b.workloads)],
        ['Reduction under the policy', pct(b.reduction)],
        ['Reduction by observed traffic', pct(b.observedReduction)],
      ]) +
      figure(chart, 'Σ over workloads of the workloads each can reach.') +
      table(
        'Groups of widest reach under the policy',
        [{ label: 'Group' }, { label: 'Hosts', numeric: true }, { label: 'Flat', numeric: true }, { label: 'Observed', numeric: true }, { label: 'Policy', numeric: true }],
        b.groups.map((g) => [g.label, g.hosts, g.flat, g.observed, g.policy]),
      ),
  );
}

const STYLE = `
:root{--ink:#0f172a;--muted:#475569;--line:#e2e8f0;--soft:#f8fafc}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:1080px;margin:0 auto;padding:0 24px}
header{padding-top:24px;padding-bottom:8px;border-bottom:2px solid var(--ink)}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin:28px 0 10px}
.meta{color:var(--muted);margin:0 0 8px;overflow-wrap:anywhere}
dl.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;margin:12px 0}
dl.kpis div{border:1px solid var(--line);border-radius:6px;padding:6px 10px;background:var(--soft)}
dt{color:var(--muted);font-size:12px}
dd{margin:0;font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
table{width:100%;border-collapse:collapse;font-size:12.5px;margin:6px 0 16px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
table.narrow{width:auto;min-width:40%}
table.fixed{table-layout:fixed}
th{background:var(--soft);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.none{color:var(--muted);font-style:italic}
figure{margin:8px 0 16px}
figcaption{color:var(--muted);font-size:12px}
svg.chart{display:block;max-width:100%;height:auto}
svg .label,svg .value,svg .legend{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--ink)}
svg .small{font-size:9px}
.badge{display:inline-block;white-space:nowrap;padding:0 6px;border-radius:8px;font-size:11px;color:#fff}
.sev-critical{background:#7f1d1d}.sev-high{background:#dc2626}.sev-medium{background:#d97706}.sev-low{background:#2563eb}.sev-info{background:#64748b}
.empty{color:var(--muted);font-style:italic;border-left:3px solid var(--line);padding-left:8px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:16px}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--line);margin-top:24px;padding-top:8px;padding-bottom:24px}
@media (max-width:820px){.two{grid-template-columns:1fr}}
@page{size:A4;margin:14mm 12mm 16mm}
@media print{
body{font-size:9.5pt}
header,main,footer{max-width:none;padding:0}
h2{break-after:avoid;margin-top:18px}
figure,tr,dl.kpis div,caption{break-inside:avoid}
thead{display:table-header-group}
table{font-size:8.5pt}
}
`;

/** The report as one HTML5 document; O(size of the report). */
export function renderReportHtml(report: BaselineReport): string {
  const b = report.baseline;
  const headline = kpis([
    ['Flows', count(report.summary.flows)],
    ['Dependencies', count(report.summary.edges)],
    ['New since last', report.newSinceLast.summary === null ? 'n/a' : count(report.newSinceLast.summary.added)],
    ['Findings', count(report.findings.total)],
    ['Policy coverage', pct(report.policyCoverage.coverage)],
    ['Blast radius cut', pct(report.blastRadius.reduction)],
  ]);
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<meta name="generator" content="flowmap"><title>flowmap baseline report ${e(b.id)}</title><style>${STYLE}</style></head><body>` +
    `<header><h1>Baseline report</h1><p class="meta">Baseline ${e(b.id)} · ${e(when(b.window.from))} to ${e(when(b.window.to))} (${e(String(b.window.days))} days) · grouped by ${e(b.groupBy.join(','))} · generated ${e(when(report.generatedAt))}</p>${headline}</header>` +
    `<main>${summarySection(report)}${topSection(report)}${newSection(report)}${findingsSection(report)}${coverageSection(report)}${blastSection(report)}</main>` +
    `<footer>flowmap report ${e(report.id)} · schema version ${e(String(report.schemaVersion))}</footer></body></html>\n`
  );
}
