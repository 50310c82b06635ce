// The simulator's contract between the estate model (scenario → workloads, truth, flows) and the
// emitters (flows → NetFlow/IPFIX/sFlow datagrams, cloud flow-log files). An estate is a pure
// function of (scenario, seed, days, end): the same inputs give the same workloads, truth and
// flows, record for record, so emitted output is the same byte for byte.
import type { FlowRecord } from '../core/flow.js';

/** A simulated workload: what the inventory files describe. Times are Unix seconds. */
export interface SimWorkload {
  id: string;
  name: string;
  /** At least app and env for application tiers; any keys. */
  labels: Record<string, string>;
  criticality?: 'low' | 'medium' | 'high' | 'critical';
  /** Which addresses it had when; `to` null while it still has it. Kubernetes pods reuse addresses. */
  addresses: { address: string; from: number; to: number | null }[];
  /** Workloads in the cloud part: the cloud fields their flow-log records carry. */
  cloud?: { provider: 'aws' | 'gcp' | 'azure'; account: string; region: string; vpc: string; subnet: string; instance: string; interface: string };
  /** Kubernetes pods: namespace and node, for the kubectl-shaped inventory file. */
  kubernetes?: { namespace: string; pod: string; node: string };
}

/** Why a dependency exists: the intents cover `intended`; the rest are undocumented. */
export type DependencyCategory = 'intended' | 'backup' | 'monitoring' | 'management' | 'infrastructure' | 'rpc-dynamic' | 'application';

/** A selector as policies write them (DESIGN.md §9): labels, a CIDR, or a named group. */
export type TruthSelector = Record<string, string> | { cidr: string } | { group: string };

/** One true dependency at the groupBy granularity (client group → server group, protocol, port). */
export interface TruthEdge {
  from: TruthSelector;
  to: TruthSelector;
  protocol: 'tcp' | 'udp' | 'icmp';
  /** The service port, or for rpc-dynamic the dynamic range. */
  ports: number[] | { first: number; last: number };
  category: DependencyCategory;
  /** When it happens: business hours, nightly, weekly, around the clock, once. */
  pattern: 'business-hours' | 'nightly' | 'weekly' | 'continuous' | 'once';
}

/** Traffic that is not a dependency: a scan, a one-off admin session, rejected cloud flows. */
export interface TruthNoise {
  kind: 'scan' | 'one-off' | 'rejected' | 'internet-egress';
  description: string;
  from: TruthSelector;
  to: TruthSelector;
  protocol: 'tcp' | 'udp' | 'icmp';
  ports: number[] | { first: number; last: number };
}

export interface Truth {
  scenario: string;
  seed: number;
  /** The window the flows cover, [from, to), Unix seconds. */
  window: { from: number; to: number };
  groupBy: string[];
  intended: TruthEdge[];
  undocumented: TruthEdge[];
  noise: TruthNoise[];
}

export interface SimulatedEstate {
  scenario: string;
  seed: number;
  window: { from: number; to: number };
  workloads: SimWorkload[];
  truth: Truth;
  /** Named external ranges (SaaS) the flows reach, for the resolver's `externals`. */
  externals?: { name: string; cidr: string }[];
  /** The router address every record carries in `exporter`, as text. */
  exporter?: string;
  /**
   * Flows in time order (by time_start), in chunks of at most 8,192 records, generated afresh on
   * each call (memory stays at one chunk). Each record is one direction of a conversation: the
   * client → server record first (TCP: SYN set), then the reply; `server_side` says which end
   * serves, as the generator knows it (the truth a collector's orientation is checked against).
   * `source` is 'ipfix' and
   * `exporter` the estate's router address; emitters rewrite both for their format. Cloud
   * workloads' records carry their cloud fields and `action` ('reject' for rejected flows).
   */
  flows(): Iterable<FlowRecord[]>;
}
