// The shapes of the policy stage (DESIGN.md §8–§9): selectors, rules, intents, recommendations,
// policies with their rollout and exceptions, findings, and what exporters receive. The JSON the
// CLI and the API print is these objects as they are.
import type { Criticality } from '../../inventory/index.js';

/**
 * Who a rule is about (DESIGN.md §9): a label map (`{"app": "web", "env": "prod"}` — every listed
 * label must match), a CIDR (`{"cidr": "203.0.113.0/24"}`), a named group (`{"group": "internet"}`
 * or a named external range such as `{"group": "saas"}`), or one workload that carries none of the
 * groupBy labels (`{"workload": "<id>"}`). A label map may not be empty: it would mean "anything".
 */
export type Selector = Record<string, string>;

/** A port or an inclusive range of ports; ranges appear only for dynamic ranges (RPC) and are flagged. */
export type PortSpec = number | { first: number; last: number };

/** `tcp`, `udp`, `icmp`, `sctp`, `icmpv6`, or an IANA protocol number as text. */
export type Protocol = string;

/** Why a dependency exists, as findings classify it (issue 9). */
export const CATEGORIES = ['backup', 'monitoring', 'management', 'infrastructure', 'rpc-dynamic', 'scanner', 'application'] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Evidence {
  flows: number;
  bytes: number;
  /** Distinct days of the window with flows. */
  daysSeen: number;
  /** ISO-8601; absent when nothing was observed (a documented intent with no traffic). */
  firstSeen?: string;
  lastSeen?: string;
  /** Distinct client and server addresses over the edges the rule covers. */
  clientHosts?: number;
  serverHosts?: number;
  /** Baseline edges (one per port) the rule covers. */
  edges?: number;
}

export type RuleFlag =
  /** The ports are a dynamic range (RPC after the endpoint mapper), not a service port. */
  | 'dynamic-range'
  /** Client and server are the same group: explicit, never implied. */
  | 'intra-group'
  /** One side is the internet or a named external range. */
  | 'external'
  /** Documented by an intent but not observed in the window. */
  | 'unobserved';

export interface PolicyRule {
  /** Stable: a hash of from, to, protocol and ports, so the same rule has the same id in every recommendation. */
  id: string;
  from: Selector;
  to: Selector;
  protocol: Protocol;
  ports: PortSpec[];
  /** 0–1, with `reasons` saying what it is made of. */
  confidence: number;
  reasons: string[];
  evidence: Evidence;
  /** An intent documents it. */
  documented: boolean;
  /** What the traffic looks like (findings' categories); `intended` when documented. */
  category: Category | 'intended';
  flags: RuleFlag[];
  /** Free text a reviewer added. */
  comment?: string;
}

/** A documented dependency (DESIGN.md §9 intents file). */
export interface Intent {
  id: string;
  from: Selector;
  to: Selector;
  protocol: Protocol;
  ports: PortSpec[];
  description?: string;
}

/** An allow outside the rules, for a named owner until an expiry date (issue 9). */
export interface PolicyException {
  id: string;
  from: Selector;
  to: Selector;
  protocol: Protocol;
  ports: PortSpec[];
  owner: string;
  reason: string;
  /** ISO-8601: the exception stops applying (and drops out of exports) at this instant. */
  expires: string;
  createdAt: string;
}

export const POLICY_STATES = ['draft', 'audit', 'enforced'] as const;
export type PolicyState = (typeof POLICY_STATES)[number];

/** The state of a policy in one environment; rollouts go least critical environment first. */
export interface RolloutStep {
  env: string;
  state: PolicyState;
  changedAt: string;
}

/** A recommendation's thresholds (analyzer/policy/recommend.ts documents the defaults). */
export interface RecommendParameters {
  /** A dependency becomes a rule when seen on at least this many distinct days, or documented. */
  minDays: number;
  /** …and seen in at least this many flows. */
  minFlows: number;
  /** A rule on a port range needs this many distinct ports of the range observed. */
  minDynamicPorts: number;
}

export interface Recommendation {
  id: string;
  baseline: string;
  groupBy: string[];
  defaultAction: 'deny';
  window: { from: string; to: string; days: number };
  parameters: RecommendParameters;
  rules: PolicyRule[];
  /** Observed dependencies that did not become rules, counted by why. */
  excluded: Record<'below-threshold' | 'scanner' | 'rejected' | 'ephemeral-port', number>;
  generatedAt: string;
}

/** A versioned policy (analyzer/policy/repository.ts): a recommendation accepted and edited. */
export interface Policy {
  id: string;
  name: string;
  version: number;
  baseline?: string;
  groupBy: string[];
  defaultAction: 'deny';
  rules: PolicyRule[];
  exceptions: PolicyException[];
  rollout: RolloutStep[];
  /** Where it came from: a recommendation, or a policy file a user imported. */
  origin: 'recommendation' | 'import';
  createdAt: string;
  updatedAt: string;
  description?: string;
}

export const FINDING_KINDS = ['undocumented', 'drift', 'unused-rule', 'broad-rule', 'expired-exception'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** DESIGN.md §9: `{ kind, category, from, to, protocol, ports, severity, evidence, explanation }`. */
export interface Finding {
  /** Stable: the same finding has the same id in every run (kind, category, from, to, protocol, ports). */
  id: string;
  kind: FindingKind;
  category?: Category;
  from: Selector;
  to: Selector;
  protocol: Protocol;
  ports: PortSpec[];
  severity: Severity;
  evidence: Evidence & Record<string, unknown>;
  explanation: string;
  /** Whether the recommendation allows it (undocumented dependencies above the thresholds are allowed, and flagged). */
  allowed?: boolean;
  baseline?: string;
  policy?: string;
  rule?: string;
}

// ---- What exporters receive (analyzer/policy/export/) ----

/** A selector resolved for an export: what it is and the addresses the inventory gives it now. */
export interface ExportGroup {
  /** Canonical text of the selector (selectors.ts selectorKey), unique per group. */
  key: string;
  selector: Selector;
  kind: 'labels' | 'cidr' | 'internet' | 'external' | 'workload';
  /** A name safe in every target (lowercase letters, digits, dashes; starts with a letter; ≤ 50 chars), unique per export. */
  name: string;
  /** Labels to select it by (label groups; the `namespace` label removed for Kubernetes). */
  labels: Record<string, string>;
  /** Addresses as CIDR text (hosts as /32 or /128), IPv4 and IPv6 apart, sorted: the inventory's bindings at export time, or the selector's CIDR. */
  v4: string[];
  v6: string[];
  /** Kubernetes namespaces its pods are in (empty when it has none). */
  namespaces: string[];
  criticality?: Criticality;
}

export interface ExportRule {
  id: string;
  from: ExportGroup;
  to: ExportGroup;
  protocol: Protocol;
  ports: PortSpec[];
  /** A one-line description (rule id, evidence or exception owner and expiry). */
  comment: string;
  /** An exception rather than a rule. */
  exception?: { owner: string; expires: string };
  /** What a reviewer weighs (rules only; the CSV shows it). */
  review?: { documented: boolean; category: string; confidence: number; flows: number; daysSeen: number; lastSeen?: string };
}

export interface ExportInput {
  policy: { id: string; name: string; version: number; baseline?: string };
  rules: ExportRule[];
  groups: ExportGroup[];
  /** ISO-8601: when the export was made (addresses are resolved at this time). */
  generatedAt: string;
}

export const EXPORT_FORMATS = ['k8s', 'calico', 'cilium', 'aws-sg', 'azure-nsg', 'nftables', 'csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface Exported {
  format: ExportFormat;
  /** A download file name, e.g. `flowmap-pol-1234-v3-k8s.yaml`. */
  filename: string;
  contentType: string;
  text: string;
  /** Rules the format cannot express (e.g. a Kubernetes export of a rule whose target has no pods), with why. */
  skipped: { rule: string; reason: string }[];
}
