// The shapes of a baseline report (DESIGN.md §8 "reports (scheduled)", issue 10): what
// `buildReport` computes from a completed baseline, what the HTML and PDF are rendered from, and
// what the metadata store keeps of each report. A report is a summary of the estate at one
// baseline — lists are capped (REPORT_LIMITS) and nothing host- or flow-level is copied in, so a
// record stays a few tens of kilobytes whatever the estate's size.
import type { GroupKind } from '../../inventory/index.js';
import type { BaselineDiff } from '../baseline/index.js';
import type { Category, FindingKind, PolicyState, Severity } from '../policy/index.js';

export const REPORT_SCHEMA_VERSION = 1;

/** The sections, in the order the HTML shows them; each is a `<section data-section="…">`. */
export const REPORT_SECTIONS = ['summary', 'top-dependencies', 'new-since-last', 'findings', 'policy-coverage', 'blast-radius'] as const;
export type ReportSection = (typeof REPORT_SECTIONS)[number];

/** How many rows each capped list holds. */
export const REPORT_LIMITS = { groups: 10, dependencies: 15, changes: 20, findings: 12, policies: 10, blocked: 10, unusedRules: 10, blastGroups: 10 } as const;

/** A group as the report shows it: its key, readable label and its traffic. */
export interface ReportGroup {
  key: string;
  label: string;
  kind: GroupKind;
  hosts: number;
  flowsIn: number;
  flowsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Distinct other groups that are clients of this one (fan-in) and that it is a client of (fan-out). */
  fanIn: number;
  fanOut: number;
}

/** One dependency (an edge of the baseline): client group → server group on a protocol and port. */
export interface ReportDependency {
  id: string;
  from: string;
  fromLabel: string;
  to: string;
  toLabel: string;
  proto: number;
  protocol: string;
  port: number;
  flows: number;
  bytes: number;
  daysSeen: number;
  clientHosts: number;
  serverHosts: number;
  firstSeen: string;
  lastSeen: string;
}

/** An edge as the diff names it, with readable labels. */
export interface ReportEdgeChange {
  id: string;
  from: string;
  fromLabel: string;
  to: string;
  toLabel: string;
  proto: number;
  protocol: string;
  port: number;
  flows: number;
  bytes: number;
}

export interface ReportVolumeChange extends ReportEdgeChange {
  flowsBefore: number;
  flowsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Relative change of bytes per day of window; null when there were none before. */
  change: number | null;
}

export interface ReportSummarySection {
  groups: number;
  edges: number;
  hostPairs: number;
  flows: number;
  bytes: number;
  packets: number;
  /** Host-level conversations the baseline read. */
  conversations: number;
  /** Flows a cloud firewall rejected. */
  rejectedFlows: number;
  groupsByKind: Record<GroupKind, number>;
  /** The largest groups by hosts and by traffic (bytes in + out), REPORT_LIMITS.groups each. */
  largestByHosts: ReportGroup[];
  largestByTraffic: ReportGroup[];
}

export interface ReportTopDependencies {
  limit: number;
  byBytes: ReportDependency[];
  byFlows: ReportDependency[];
}

export interface ReportNewSinceLast {
  /** The previous completed baseline at the same granularity, or null when there is none. */
  previous: { id: string; window: { from: string; to: string } } | null;
  /** One sentence that says what was compared (or that nothing could be). */
  note: string;
  /** The diff's full counts (lists below are capped); null without a previous baseline. */
  summary: BaselineDiff['summary'] | null;
  added: ReportEdgeChange[];
  removed: ReportEdgeChange[];
  newPorts: { from: string; fromLabel: string; to: string; toLabel: string; protocol: string; ports: number[] }[];
  volume: ReportVolumeChange[];
  addedGroups: string[];
  removedGroups: string[];
  limit: number;
}

export interface ReportFinding {
  id: string;
  kind: FindingKind;
  category?: Category;
  severity: Severity;
  from: string;
  to: string;
  /** `tcp/5432`, `udp/53,123`, … */
  service: string;
  flows: number;
  explanation: string;
  allowed?: boolean;
}

export interface ReportFindings {
  total: number;
  byKind: Record<FindingKind, number>;
  /** Over the findings that carry a category (undocumented dependencies and drift). */
  byCategory: Record<Category, number>;
  bySeverity: Record<Severity, number>;
  /** One row per category (findings with one) and per kind without categories, by severity: the chart. */
  rows: { name: string; kind?: FindingKind; category?: Category; total: number; bySeverity: Record<Severity, number> }[];
  /** The most severe findings first, REPORT_LIMITS.findings of them. */
  top: ReportFinding[];
}

/** One policy replayed over the baseline's window (analyzer/policy simulatePolicy). */
export interface ReportCoverage {
  /** Flows of the window; allowed + blocked + already rejected ≈ total (address-level rules round). */
  totalFlows: number;
  allowedFlows: number;
  blockedFlows: number;
  /** Flows a cloud firewall rejected already: enforcing changes nothing for them. */
  alreadyRejectedFlows: number;
  /** allowedFlows / totalFlows (0–1), null for a window without flows. */
  coverage: number | null;
  blockedEdges: number;
  /** Rules (and exceptions) nothing in the window used, and the first few of them. */
  unusedRules: number;
  unused: { id: string; kind: 'rule' | 'exception'; from: string; to: string; service: string }[];
  /** The dependencies it would block, most flows first (scans last). */
  blocked: { from: string; fromLabel: string; to: string; toLabel: string; protocol: string; port: number; flows: number; scan: boolean }[];
  /** What was replayed: the stored baseline, or the window's flows at the policy's granularity. */
  source: 'baseline' | 'flows';
}

export interface ReportPolicyCoverage extends ReportCoverage {
  id: string;
  name: string;
  version: number;
  rules: number;
  groupBy: string[];
  /** The environments where it is in audit or enforced. */
  active: { env: string; state: PolicyState }[];
}

export interface ReportPolicyCoverageSection {
  /** Stored policies with at least one environment in audit or enforced. */
  activePolicies: number;
  /** The share of the window's flows the newest active policy allows; null when no policy is active. */
  coverage: number | null;
  note: string;
  /** Newest first, REPORT_LIMITS.policies of them. */
  policies: ReportPolicyCoverage[];
  /** What the baseline's own recommendation would allow over the same window. */
  recommendation: ReportCoverage & { rules: number };
}

export interface ReportBlastRadius {
  /** The policy whose rules bound the reach: the newest active one, else the baseline's recommendation. */
  basis: { kind: 'policy'; id: string; name: string; version: number } | { kind: 'recommendation'; rules: number };
  workloads: number;
  totals: { flat: number; observed: number; policy: number };
  /** 1 − policy / flat and 1 − observed / flat (0–1). */
  reduction: number;
  observedReduction: number;
  /** The groups of widest reach under the policy. */
  groups: { group: string; label: string; hosts: number; flat: number; observed: number; policy: number }[];
}

export interface BaselineReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  /** `rp-` + a hash of the baseline id and the generation time. */
  id: string;
  generatedAt: string;
  baseline: { id: string; window: { from: string; to: string; days: number }; groupBy: string[]; completedAt?: string };
  summary: ReportSummarySection;
  topDependencies: ReportTopDependencies;
  newSinceLast: ReportNewSinceLast;
  findings: ReportFindings;
  policyCoverage: ReportPolicyCoverageSection;
  blastRadius: ReportBlastRadius;
}

export type ReportTrigger = 'schedule' | 'api' | 'cli';

/** What a listing shows of a report: small, read without the report's documents. */
export interface ReportSummary {
  id: string;
  baseline: string;
  window: { from: string; to: string };
  groupBy: string[];
  generatedAt: string;
  trigger: ReportTrigger;
  /** The job that built it (absent when built outside the job runner). */
  job?: string;
  /** The headline numbers. */
  totals: { groups: number; edges: number; flows: number; bytes: number; findings: number; newEdges: number | null; coverage: number | null; reduction: number };
  /** Sizes in bytes of the stored JSON and HTML. */
  sizes: { json: number; html: number };
}

/** A stored report: its summary, the report's JSON and the HTML rendered from it. */
export interface ReportRecord extends ReportSummary {
  report: BaselineReport;
  html: string;
}
