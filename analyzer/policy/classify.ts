// What an observed dependency is (issue 9's categories), decided from its port and its behaviour,
// with the evidence that decided it. In order:
//
// - scanner: a scan (observe.ts findScans) — one source, many hosts or ports, few bytes, short;
// - rpc-dynamic: the 49152–65535 range after tcp/135 between the same groups;
// - infrastructure: DNS, NTP, Kerberos, LDAP/GC, DHCP and the RPC endpoint mapper (by port);
// - management: SSH, Telnet, RDP, WinRM, SMB/NetBIOS, VNC (by port);
// - backup: one client group to many server groups on one port (FAN_OUT), large conversations
//   (≥ BACKUP_BYTES per flow), concentrated in a few hours of the day (nightly or weekly);
// - monitoring: one client group to many server groups on one port, small conversations, around
//   the clock (flows in ≥ MONITORING_HOURS hours of the day) and regular;
// - application: everything else.
//
// Behaviour wins over port conventions for backup and monitoring (9090 is Prometheus's port and a
// backup agent's in the simulator); the port only appears in the evidence as a hint.
import type { Observed } from './observe.js';
import type { Category } from './types.js';

const INFRASTRUCTURE_PORTS: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  udp: { 53: 'DNS', 123: 'NTP', 88: 'Kerberos', 464: 'Kerberos password', 389: 'CLDAP', 67: 'DHCP', 68: 'DHCP', 547: 'DHCPv6' },
  tcp: { 53: 'DNS', 88: 'Kerberos', 464: 'Kerberos password', 389: 'LDAP', 636: 'LDAPS', 3268: 'global catalog', 3269: 'global catalog (TLS)', 135: 'RPC endpoint mapper' },
};
const MANAGEMENT_PORTS: Readonly<Record<number, string>> = { 22: 'SSH', 23: 'Telnet', 3389: 'RDP', 5985: 'WinRM', 5986: 'WinRM (TLS)', 445: 'SMB', 139: 'NetBIOS session', 5900: 'VNC' };
const MONITORING_HINTS: Readonly<Record<number, string>> = { 161: 'SNMP', 9100: 'Prometheus node exporter', 9182: 'Windows exporter', 5666: 'NRPE', 10050: 'Zabbix agent', 4949: 'Munin' };
const BACKUP_HINTS: Readonly<Record<number, string>> = { 10000: 'NDMP', 1556: 'NetBackup', 13724: 'NetBackup', 9102: 'Bacula', 9103: 'Bacula', 6106: 'Backup Exec' };

/** One client group reaching at least this many server groups on one port is a fan-out. */
export const FAN_OUT = 3;
export const BACKUP_BYTES = 1_000_000;
/** A backup's flows sit in at most this many hours of the day (share BACKUP_CONCENTRATION). */
const BACKUP_HOURS = 6;
const BACKUP_CONCENTRATION = 0.8;
export const MONITORING_HOURS = 20;

export interface FanOut {
  /** Server groups the client group reaches on this protocol and port. */
  serverGroups: number;
  serverHosts: number;
}

export interface Classification {
  category: Category;
  /** What decided it, for the finding's explanation. */
  why: string;
  evidence: Record<string, unknown>;
}

export const fanOutKey = (o: Pick<Observed, 'from' | 'proto' | 'ports'>): string => `${o.from.key}\u0000${o.proto}\u0000${typeof o.ports[0] === 'number' ? o.ports[0] : 'range'}`;

/** Fan-out per (client group, protocol, port) over the service dependencies. O(D). */
export function fanOuts(dependencies: readonly Observed[]): Map<string, FanOut> {
  const out = new Map<string, FanOut>();
  for (const o of dependencies) {
    if (o.kind !== 'service') continue;
    const key = fanOutKey(o);
    const f = out.get(key) ?? { serverGroups: 0, serverHosts: 0 };
    f.serverGroups++;
    f.serverHosts += o.serverHosts;
    out.set(key, f);
  }
  return out;
}

/** The share of flows in the busiest `n` hours of the day. */
function concentration(hourOfDay: readonly number[], n: number): number {
  const total = hourOfDay.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const top = [...hourOfDay].sort((a, b) => b - a).slice(0, n).reduce((a, b) => a + b, 0);
  return top / total;
}

const activeHours = (hourOfDay: readonly number[]): number => hourOfDay.filter((n) => n > 0).length;

export function classify(o: Observed, fan: ReadonlyMap<string, FanOut>): Classification {
  const port = typeof o.ports[0] === 'number' ? o.ports[0] : undefined;
  const bytesPerFlow = o.flows + o.rejectedFlows === 0 ? 0 : Math.round(o.bytes / (o.flows + o.rejectedFlows));
  const base = { bytesPerFlow, activeHoursOfDay: activeHours(o.hourOfDay) };
  if (o.kind === 'scan') return { category: 'scanner', why: 'part of a scan: one source reaching many hosts or ports with small, short-lived flows', evidence: base };
  if (o.kind === 'dynamic-range') {
    return {
      category: 'rpc-dynamic',
      why: `RPC dynamic ports: ${o.edges.length} ports of ${o.ports.map((p) => (typeof p === 'number' ? p : `${p.first}-${p.last}`)).join(',')} used after tcp/135 (the endpoint mapper) between the same groups`,
      evidence: { ...base, dynamicPorts: o.edges.length },
    };
  }
  const infra = port === undefined ? undefined : INFRASTRUCTURE_PORTS[o.protocol]?.[port];
  if (infra !== undefined) return { category: 'infrastructure', why: `${infra} (${o.protocol}/${port})`, evidence: { ...base, service: infra } };
  const management = port === undefined || o.protocol !== 'tcp' ? undefined : MANAGEMENT_PORTS[port];
  if (management !== undefined) return { category: 'management', why: `${management} (tcp/${port}): remote administration`, evidence: { ...base, service: management } };
  const f = fan.get(fanOutKey(o)) ?? { serverGroups: 1, serverHosts: o.serverHosts };
  const evidence = { ...base, fanOutGroups: f.serverGroups, fanOutHosts: f.serverHosts };
  if (f.serverGroups >= FAN_OUT) {
    const concentrated = concentration(o.hourOfDay, BACKUP_HOURS);
    const hint = port === undefined ? undefined : (BACKUP_HINTS[port] ?? MONITORING_HINTS[port]);
    const hinted = hint === undefined ? {} : { portConvention: hint };
    if (bytesPerFlow >= BACKUP_BYTES && concentrated >= BACKUP_CONCENTRATION) {
      return {
        category: 'backup',
        why: `one client group to ${f.serverGroups} server groups on ${o.protocol}/${port}, ${(bytesPerFlow / 1e6).toFixed(1)} MB per conversation, ${Math.round(concentrated * 100)} % of flows in ${BACKUP_HOURS} hours of the day`,
        evidence: { ...evidence, ...hinted, hoursShare: Number(concentrated.toFixed(3)) },
      };
    }
    if (bytesPerFlow < BACKUP_BYTES && base.activeHoursOfDay >= MONITORING_HOURS) {
      return {
        category: 'monitoring',
        why: `one client group to ${f.serverGroups} server groups on ${o.protocol}/${port}, ${Math.round(bytesPerFlow / 1000)} kB per conversation, around the clock (${base.activeHoursOfDay} of 24 hours)`,
        evidence: { ...evidence, ...hinted },
      };
    }
  }
  return { category: 'application', why: `application traffic on ${o.protocol}/${port ?? 'any'}`, evidence };
}
