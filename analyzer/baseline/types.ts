// The baseline's shapes (DESIGN.md §8): what a baseline run is asked for, what it stores, and the
// attributes of its graph's nodes and edges. The graph is a graphology directed multigraph —
// nodes are label groups, edges (client group → server group, protocol, port) — and these
// attributes are what the JSON, GEXF and GraphML downloads carry.
import type { GroupKind } from '../../inventory/index.js';

/** What a baseline run is asked for. Times are Unix seconds, on whole hours. */
export interface BaselineParams {
  /** Window [from, to). */
  from: number;
  to: number;
  /** Label keys that make a group, e.g. ["app", "env"]. */
  groupBy: string[];
}

/** Which rule decided an edge's server side (analyzer/baseline/orientation.ts). */
export type OrientationRule = 'tcp-syn' | 'listener-evidence' | 'ingest';
export const ORIENTATION_RULES: readonly OrientationRule[] = ['tcp-syn', 'listener-evidence', 'ingest'];

export interface GroupNodeAttributes {
  /** The group key (inventory/groups.ts), also the node's key. */
  key: string;
  kind: GroupKind;
  /** Labels at the granularity; empty for internet, external, unlabeled and workload groups. */
  labels: Record<string, string>;
  /** `internet`, `unlabeled` or an external range's name. */
  group?: string;
  subnet?: string;
  workload?: string;
  /** A short readable name (labels' values joined, or the group name). */
  label: string;
  /** Distinct addresses of this group that took part in any edge of the window. */
  hosts: number;
  /** Totals of the edges this group serves (in) and the edges it is the client of (out). */
  flowsIn: number;
  flowsOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface DependencyEdgeAttributes {
  /** Stable id: the same dependency has the same id in every baseline (a hash of the key parts). */
  id: string;
  /** Client and server group keys. */
  from: string;
  to: string;
  /** IANA protocol number and its name (tcp, udp, icmp, … or the number). */
  proto: number;
  protocol: string;
  /** The server's service port (0 for protocols without ports). */
  port: number;
  flows: number;
  bytes: number;
  packets: number;
  /** Flows a cloud firewall rejected (action reject). */
  rejectedFlows: number;
  /** Distinct days of the window (24-hour steps from its start) with flows. */
  daysSeen: number;
  /** ISO-8601: the start of the first hour with flows and the last second of the last one. */
  firstSeen: string;
  lastSeen: string;
  /** Flows per UTC hour of day (24 bins) and per UTC day of week (7 bins, Monday first). */
  hourOfDay: number[];
  dayOfWeek: number[];
  /** Distinct client and server addresses. */
  clientHosts: number;
  serverHosts: number;
  /** clientHosts / the client group's hosts, serverHosts / the server group's hosts (0–1). */
  clientShare: number;
  serverShare: number;
  /** Flows per rule that decided the server side; `flipped` counts those refinement turned round. */
  orientation: { rules: Record<OrientationRule, number>; flipped: number };
}

export interface BaselineSummary {
  groups: number;
  edges: number;
  hostPairs: number;
  flows: number;
  bytes: number;
  packets: number;
  /** Conversations (host-level rows) the store returned, and how many refinement turned round. */
  conversations: number;
  flipped: number;
  /** Flows by the rule that decided their server side. */
  orientation: Record<OrientationRule, number>;
  /** Conversations the rollup could not orient alone, re-read from the raw flows by client port, and the parts that gave. */
  drilledConversations: number;
  drilledRows: number;
  /** Conversations that needed a drill-down past the cap (build.ts MAX_DRILLED) and kept the rollup's orientation and hour owner. */
  undrilledConversations: number;
}

export type BaselineStatus = 'queued' | 'running' | 'completed' | 'failed';

/** A baseline as listed and shown (`GET /api/v1/baselines/:id`); the graph is stored beside it. */
export interface BaselineRecord {
  id: string;
  params: BaselineParams;
  /** ISO times. */
  createdAt: string;
  completedAt?: string;
  status: BaselineStatus;
  /** The job that builds (built) it. */
  job?: string;
  summary?: BaselineSummary;
  error?: string;
  /** What started it: a user request or the schedule. */
  trigger: 'api' | 'cli' | 'schedule' | 'demo';
  /** Time the build took, in milliseconds, by stage. */
  timings?: Record<string, number>;
}

/** graphology's serialisation of the graph (`graph.export()`), as downloaded in JSON. */
export interface SerializedBaselineGraph {
  attributes: Record<string, unknown>;
  options: { type: 'directed'; multi: true; allowSelfLoops: true };
  nodes: { key: string; attributes: GroupNodeAttributes }[];
  edges: { key: string; source: string; target: string; attributes: DependencyEdgeAttributes }[];
}
