// Test helpers: baseline graphs small enough to draw in a comment, written node by node and edge
// by edge with only the attributes a test cares about (the rest get plain defaults).
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from '../baseline/index.js';

export const WINDOW = { from: Date.parse('2026-11-02T00:00:00Z') / 1000, to: Date.parse('2026-11-30T00:00:00Z') / 1000 };
const DAY = 86_400;
const PROTOCOLS: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp' };

export function labelsNode(labels: Record<string, string>, hosts = 2): GroupNodeAttributes {
  const key = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  return { key, kind: 'labels', labels, label: Object.values(labels).join(' '), hosts, flowsIn: 0, flowsOut: 0, bytesIn: 0, bytesOut: 0 };
}

export function specialNode(kind: 'internet' | 'external' | 'unlabeled', name: string, subnet?: string, hosts = 1): GroupNodeAttributes {
  const key = kind === 'unlabeled' ? `group=unlabeled,subnet=${subnet ?? ''}` : `group=${name}`;
  return { key, kind, labels: {}, group: name, ...(subnet === undefined ? {} : { subnet }), label: name, hosts, flowsIn: 0, flowsOut: 0, bytesIn: 0, bytesOut: 0 };
}

export interface EdgeOptions {
  proto?: number;
  flows?: number;
  bytes?: number;
  rejectedFlows?: number;
  /** Days seen; the edge is seen from the window's first day for that many days. */
  days?: number;
  /** First day (0-based) of the window it is seen on. */
  firstDay?: number;
  /** Hours of the day its flows fall in (spread evenly); default business hours 8–17. */
  hours?: number[];
  clientHosts?: number;
  serverHosts?: number;
}

export function edge(from: GroupNodeAttributes, to: GroupNodeAttributes, port: number, o: EdgeOptions = {}): DependencyEdgeAttributes {
  const proto = o.proto ?? 6;
  const flows = o.flows ?? 100;
  const days = o.days ?? 20;
  const firstDay = o.firstDay ?? 0;
  const hours = o.hours ?? [8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
  const hourOfDay = new Array<number>(24).fill(0);
  for (const h of hours) hourOfDay[h] = flows / hours.length;
  // Seen on consecutive days from firstDay: their weekdays.
  const dayOfWeek = new Array<number>(7).fill(0);
  for (let d = 0; d < days; d++) {
    const weekday = (new Date((WINDOW.from + (firstDay + d) * DAY) * 1000).getUTCDay() + 6) % 7;
    dayOfWeek[weekday] = (dayOfWeek[weekday] ?? 0) + flows / days;
  }
  const clientHosts = o.clientHosts ?? Math.min(2, from.hosts);
  const serverHosts = o.serverHosts ?? Math.min(2, to.hosts);
  return {
    id: `${from.key}>${to.key}/${proto}/${port}`,
    from: from.key,
    to: to.key,
    proto,
    protocol: PROTOCOLS[proto] ?? String(proto),
    port,
    flows,
    bytes: o.bytes ?? flows * 20_000,
    packets: flows * 20,
    rejectedFlows: o.rejectedFlows ?? 0,
    daysSeen: days,
    firstSeen: new Date((WINDOW.from + firstDay * DAY + (hours[0] ?? 0) * 3600) * 1000).toISOString(),
    lastSeen: new Date((WINDOW.from + (firstDay + days - 1) * DAY + ((hours[hours.length - 1] ?? 0) + 1) * 3600 - 1) * 1000).toISOString(),
    hourOfDay,
    dayOfWeek,
    clientHosts,
    serverHosts,
    clientShare: clientHosts / Math.max(1, from.hosts),
    serverShare: serverHosts / Math.max(1, to.hosts),
    orientation: { rules: { 'tcp-syn': flows, 'listener-evidence': 0, ingest: 0 }, flipped: 0 },
  };
}

export function graphOf(nodes: GroupNodeAttributes[], edges: DependencyEdgeAttributes[]): SerializedBaselineGraph {
  return {
    attributes: {},
    options: { type: 'directed', multi: true, allowSelfLoops: true },
    nodes: nodes.map((n) => ({ key: n.key, attributes: n })),
    edges: edges.map((e) => ({ key: e.id, source: e.from, target: e.to, attributes: e })),
  };
}
