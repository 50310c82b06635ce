// The estate's address plan: which IPv4 addresses each tier, pod network and cloud subnet hands
// out. Scenario validation runs it to report subnets that overlap or are too small (by path); the
// estate builder takes its allocations.
//
// Defaults, all RFC 1918:
// - shared infrastructure: 10.0.0.0/24 (`infrastructure.subnet`), services in the order dns, ntp,
//   directory, monitoring, backup, jump, workstations;
// - an application environment without `subnet`: 10.<env>.<app>.0/24, env 1 = prod, 2 = staging,
//   3 = dev, then other environments in order of appearance; app = position in `applications` + 1;
// - tiers take consecutive addresses from host .10 on, in the order the file lists them;
// - pods take addresses of `podCidr` from host .2 on (.1 is the node bridge), cloud instances of
//   their subnet from host .10 on (clouds reserve the first few).
import { isIPv4 } from 'node:net';
import type { ScenarioProblem, ScenarioSpec } from './scenario.js';

export const HOST_OFFSET = 10;
const POD_OFFSET = 2;
const ENV_NUMBERS: Readonly<Record<string, number>> = { prod: 1, staging: 2, dev: 3 };
export const INFRA_SERVICES = ['dns', 'ntp', 'directory', 'monitoring', 'backup', 'jump'] as const;
export type InfraService = (typeof INFRA_SERVICES)[number];

export interface Subnet {
  /** Network address as a 32-bit number. */
  readonly network: number;
  readonly length: number;
  readonly text: string;
}

export interface AddressPlan {
  readonly problems: ScenarioProblem[];
  /** Application environment subnet by `app/env`. */
  readonly appSubnets: Map<string, Subnet>;
  /** Addresses of on-premises tiers (applications and infrastructure) by `app/env/tier`. */
  readonly tiers: Map<string, number[]>;
  /** Addresses of `cloud[i].instances[j]` by `i/j`. */
  readonly cloud: Map<string, number[]>;
  /** The address pool of each `kubernetes[i]`. */
  readonly pods: number[][];
}

export function ipv4ToNumber(text: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = text.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** True for `a.b.c.d/n` with no host bits set. */
export function isIpv4Cidr(text: string): boolean {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (m === null || !isIPv4(m[1] ?? '') || Number(m[2]) > 32) return false;
  return ipv4ToNumber(m[1] ?? '') % 2 ** (32 - Number(m[2])) === 0;
}

export function parseSubnet(text: string): Subnet {
  const [address = '', length = '32'] = text.split('/');
  return { network: ipv4ToNumber(address), length: Number(length), text };
}

export function subnetSize(subnet: Subnet): number {
  return 2 ** (32 - subnet.length);
}

export function formatV4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export function subnetContains(subnet: Subnet, address: number): boolean {
  return address >= subnet.network && address < subnet.network + subnetSize(subnet);
}

/** Usable addresses of a subnet from `offset`, leaving out the broadcast address. */
function hosts(subnet: Subnet, offset: number): number {
  return Math.max(0, subnetSize(subnet) - offset - 1);
}

export function planAddresses(spec: ScenarioSpec): AddressPlan {
  const problems: ScenarioProblem[] = [];
  const appSubnets = new Map<string, Subnet>();
  const tiers = new Map<string, number[]>();
  const cloud = new Map<string, number[]>();
  const pods: number[][] = [];
  const ranges: { subnet: Subnet; path: string }[] = [];

  const envNumbers = new Map(Object.entries(ENV_NUMBERS));
  const envNumber = (env: string): number => {
    let n = envNumbers.get(env);
    if (n === undefined) {
      n = Math.max(...envNumbers.values()) + 1;
      envNumbers.set(env, n);
    }
    return n;
  };

  // Tiers fill a subnet in order; `allocate` reports the first tier that no longer fits.
  const allocate = (subnet: Subnet, next: { offset: number }, count: number, path: string, start: number): number[] => {
    if (next.offset < start) next.offset = start;
    if (next.offset + count > start + hosts(subnet, start)) {
      problems.push({ path, message: `${subnet.text} has ${hosts(subnet, start)} addresses from host .${start} on; ${next.offset - start + count} are needed` });
      return [];
    }
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(subnet.network + next.offset + i);
    next.offset += count;
    return out;
  };

  const infra = spec.infrastructure;
  const infraSubnet = parseSubnet(infra.subnet);
  ranges.push({ subnet: infraSubnet, path: 'infrastructure.subnet' });
  const infraNext = { offset: HOST_OFFSET };
  for (const service of INFRA_SERVICES) tiers.set(`${service}/${infra.env}/server`, allocate(infraSubnet, infraNext, infra[service], `infrastructure.${service}`, HOST_OFFSET));
  tiers.set(`workstation/${infra.env}/workstation`, allocate(infraSubnet, infraNext, infra.workstations, 'infrastructure.workstations', HOST_OFFSET));

  spec.applications.forEach((app, ai) => {
    app.environments.forEach((env, ei) => {
      const path = `applications[${ai}].environments[${ei}]`;
      let subnet: Subnet;
      if (env.subnet !== undefined) subnet = parseSubnet(env.subnet);
      else {
        const e = envNumber(env.env);
        if (ai + 1 > 255 || e > 255) {
          problems.push({ path: `${path}.subnet`, message: 'too many applications or environments for the automatic 10.<env>.<app>.0/24 plan; give a subnet' });
          return;
        }
        subnet = parseSubnet(`10.${e}.${ai + 1}.0/24`);
      }
      appSubnets.set(`${app.name}/${env.env}`, subnet);
      ranges.push({ subnet, path: `${path}.subnet` });
      const next = { offset: HOST_OFFSET };
      for (const [tier, t] of Object.entries(env.tiers)) tiers.set(`${app.name}/${env.env}/${tier}`, allocate(subnet, next, t.count, `${path}.tiers.${tier}.count`, HOST_OFFSET));
    });
  });

  spec.kubernetes.forEach((k, i) => {
    const subnet = parseSubnet(k.podCidr);
    ranges.push({ subnet, path: `kubernetes[${i}].podCidr` });
    const needed = k.deployments.reduce((n, d) => n + d.replicas, 0) + k.spareAddresses;
    pods.push(allocate(subnet, { offset: POD_OFFSET }, needed, `kubernetes[${i}].podCidr`, POD_OFFSET));
  });

  spec.cloud.forEach((c, i) => {
    const bySubnet = new Map<string, { subnet: Subnet; next: { offset: number } }>();
    c.instances.forEach((group, j) => {
      let entry = bySubnet.get(group.subnet);
      if (entry === undefined) {
        entry = { subnet: parseSubnet(group.subnet), next: { offset: HOST_OFFSET } };
        bySubnet.set(group.subnet, entry);
        ranges.push({ subnet: entry.subnet, path: `cloud[${i}].instances[${j}].subnet` });
      }
      cloud.set(`${i}/${j}`, allocate(entry.subnet, entry.next, group.count, `cloud[${i}].instances[${j}].count`, HOST_OFFSET));
    });
  });

  // Overlapping ranges would give one address two owners at once.
  const sorted = ranges.slice().sort((a, b) => a.subnet.network - b.subnet.network || b.subnet.length - a.subnet.length);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev === undefined || cur === undefined) continue;
    if (cur.subnet.network < prev.subnet.network + subnetSize(prev.subnet)) {
      problems.push({ path: cur.path, message: `${cur.subnet.text} overlaps ${prev.subnet.text} (${prev.path})` });
    }
  }

  const scanner = spec.noise.scanner;
  if (scanner !== undefined) {
    const address = ipv4ToNumber(scanner.address);
    const taken = [...tiers.values(), ...cloud.values(), ...pods].some((list) => list.includes(address));
    if (taken) problems.push({ path: 'noise.scanner.address', message: `${scanner.address} is already a workload's address` });
  }
  return { problems, appSubnets, tiers, cloud, pods };
}
