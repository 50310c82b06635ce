// Placing the scenario's workloads: names, labels and addresses over time for the shared
// infrastructure, the application tiers, the Kubernetes pods (which churn and reuse addresses) and
// the cloud instances. The result is the inventory's view (SimWorkload) plus, per placed tier, the
// endpoints traffic is generated between.
//
// Pod churn: each replica slot of a deployment lives for 1/replacementsPerDay days (±50 %), is
// deleted, and its replacement is created 5–90 s later. Pods of a namespace share one address pool
// (replicas + spareAddresses); a new pod takes the address that has been free the longest, so
// addresses come back — often to a pod of another deployment, with other labels — and only the
// time of a flow says whose it was.
import { parseAddress } from '../core/ip.js';
import { formatV4, INFRA_SERVICES, planAddresses, type AddressPlan } from './addresses.js';
import { DAY } from './patterns.js';
import { Random } from './random.js';
import type { ScenarioSpec } from './scenario.js';
import type { CloudFields, Endpoint } from './traffic.js';
import type { SimWorkload } from './types.js';

/** Static workloads are provisioned this long before the window starts. */
export const PROVISIONED_BEFORE = 30 * DAY;

export const ZONES = { datacentre: 1, cloud: 2, internet: 3, corporate: 4 } as const;

export type Placement = 'infra' | 'workstation' | 'vm' | 'pod' | 'cloud';

/** Everything placed for one (app, env, tier) in one placement. */
export interface PlacedTier {
  readonly app: string;
  readonly env: string;
  readonly tier: string;
  readonly placement: Placement;
  readonly os: 'linux' | 'windows';
  readonly endpoints: Endpoint[];
}

export interface PlacedEstate {
  readonly workloads: SimWorkload[];
  readonly tiers: PlacedTier[];
  readonly plan: AddressPlan;
  /** The 16-byte form of an IPv4 address, one shared array per address. */
  readonly address16: (v4: number) => Uint8Array;
}

const POD_SUFFIX = 'bcdfghjklmnpqrstvwxz2456789';

export function placeWorkloads(spec: ScenarioSpec, window: { from: number; to: number }, seed: number): PlacedEstate {
  const plan = planAddresses(spec);
  const workloads: SimWorkload[] = [];
  const tiers: PlacedTier[] = [];
  const cache = new Map<number, Uint8Array>();
  const address16 = (v4: number): Uint8Array => {
    let a = cache.get(v4);
    if (a === undefined) {
      a = parseAddress(formatV4(v4));
      cache.set(v4, a);
    }
    return a;
  };
  const owners = new Map(spec.applications.map((a) => [a.name, a.owner ?? `team-${a.name}`]));
  const criticality = new Map(spec.applications.map((a) => [a.name, a.criticality]));
  const names = new Map<string, number>();
  const uniqueName = (prefix: string): string => {
    const n = (names.get(prefix) ?? 0) + 1;
    names.set(prefix, n);
    return `${prefix}-${n}`;
  };
  const provisioned = window.from - PROVISIONED_BEFORE;

  const placeStatic = (tier: Omit<PlacedTier, 'endpoints'>, addresses: readonly number[], labels: Record<string, string>, extra: (name: string, i: number) => Partial<SimWorkload>, zone: number, prefix: string): void => {
    const placed: PlacedTier = { ...tier, endpoints: [] };
    addresses.forEach((v4, i) => {
      const name = uniqueName(prefix);
      const more = extra(name, i);
      const w: SimWorkload = { id: name, name, labels: { ...labels }, ...more, addresses: [{ address: formatV4(v4), from: provisioned, to: null }] };
      const crit = criticality.get(tier.app);
      if (crit !== undefined && w.criticality === undefined) w.criticality = crit;
      placed.endpoints.push({ address: address16(v4), v4, from: provisioned, to: Infinity, workload: workloads.length, zone, cloud: w.cloud === undefined ? undefined : cloudFields(w.cloud) });
      workloads.push(w);
    });
    if (placed.endpoints.length > 0) tiers.push(placed);
  };

  const infra = spec.infrastructure;
  for (const service of INFRA_SERVICES) {
    const os = service === 'directory' ? 'windows' : 'linux';
    const labels = { app: service, env: infra.env, role: 'server', owner: infra.owner, location: infra.location };
    const crit = service === 'dns' || service === 'directory' ? ({ criticality: 'critical' } as const) : {};
    placeStatic({ app: service, env: infra.env, tier: 'server', placement: 'infra', os }, plan.tiers.get(`${service}/${infra.env}/server`) ?? [], labels, () => crit, ZONES.datacentre, service);
  }
  placeStatic(
    { app: 'workstation', env: infra.env, tier: 'workstation', placement: 'workstation', os: 'windows' },
    plan.tiers.get(`workstation/${infra.env}/workstation`) ?? [],
    { app: 'workstation', env: infra.env, role: 'workstation', owner: infra.owner, location: infra.location },
    () => ({}),
    ZONES.corporate,
    'admin-ws',
  );

  for (const app of spec.applications) {
    for (const env of app.environments) {
      for (const [tier, t] of Object.entries(env.tiers)) {
        const labels = { app: app.name, env: env.env, role: tier, owner: owners.get(app.name) ?? `team-${app.name}`, location: env.location };
        placeStatic({ app: app.name, env: env.env, tier, placement: 'vm', os: t.os }, plan.tiers.get(`${app.name}/${env.env}/${tier}`) ?? [], labels, () => ({}), ZONES.datacentre, `${app.name}-${env.env}-${tier}`);
      }
    }
  }

  spec.kubernetes.forEach((k, ki) => placePods(k, plan.pods[ki] ?? [], window, seed, owners, criticality, workloads, tiers, address16));

  spec.cloud.forEach((c, ci) => {
    const rng = Random.derive(seed, `cloud:${ci}`);
    const subnetIds = new Map<string, string>();
    c.instances.forEach((group, gi) => {
      let subnetId = subnetIds.get(group.subnet);
      if (subnetId === undefined) {
        subnetId = c.provider === 'aws' ? `subnet-${rng.hex(17)}` : c.provider === 'gcp' ? `${c.vpc}-${group.tier}-${subnetIds.size + 1}` : `snet-${group.tier}-${subnetIds.size + 1}`;
        subnetIds.set(group.subnet, subnetId);
      }
      const location = `${c.provider}-${c.region}`;
      const labels = { app: group.app, env: c.env, role: group.tier, owner: c.owner ?? owners.get(group.app) ?? `team-${group.app}`, location };
      const sid = subnetId;
      placeStatic(
        { app: group.app, env: c.env, tier: group.tier, placement: 'cloud', os: group.os },
        plan.cloud.get(`${ci}/${gi}`) ?? [],
        labels,
        (name) => ({
          cloud: {
            provider: c.provider,
            account: c.account,
            region: c.region,
            vpc: c.vpc,
            subnet: sid,
            instance: c.provider === 'aws' ? `i-${rng.hex(17)}` : name,
            interface: c.provider === 'aws' ? `eni-${rng.hex(17)}` : c.provider === 'gcp' ? 'nic0' : `${name}-nic`,
          },
        }),
        ZONES.cloud,
        `${group.app}-${c.env}-${group.tier}`,
      );
    });
  });
  return { workloads, tiers, plan, address16 };
}

function cloudFields(cloud: NonNullable<SimWorkload['cloud']>): CloudFields {
  return { account: cloud.account, region: cloud.region, vpc: cloud.vpc, subnet: cloud.subnet, instance: cloud.instance, interface: cloud.interface };
}

interface PodLife {
  deployment: number;
  created: number;
  deleted: number | null;
  address: number;
}

function placePods(
  k: ScenarioSpec['kubernetes'][number],
  pool: readonly number[],
  window: { from: number; to: number },
  seed: number,
  owners: Map<string, string>,
  criticality: Map<string, string | undefined>,
  workloads: SimWorkload[],
  tiers: PlacedTier[],
  address16: (v4: number) => Uint8Array,
): void {
  const rng = Random.derive(seed, `pods:${k.cluster}/${k.namespace}`);
  // Each replica slot's pods, one after another; addresses are handed out afterwards in time order.
  const lives: PodLife[] = [];
  k.deployments.forEach((d, di) => {
    const lifetime = d.replacementsPerDay > 0 ? DAY / d.replacementsPerDay : Infinity;
    for (let r = 0; r < d.replicas; r++) {
      let created = window.from - (lifetime === Infinity ? 7 * DAY : rng.int(60, Math.min(Math.round(lifetime), 60 * DAY)));
      for (;;) {
        const deleted = lifetime === Infinity ? null : created + rng.around(lifetime, 0.5, 600);
        const life: PodLife = { deployment: di, created, deleted: deleted !== null && deleted < window.to ? deleted : null, address: -1 };
        lives.push(life);
        if (life.deleted === null) break;
        created = life.deleted + rng.int(5, 90);
        if (created >= window.to) break;
      }
    }
  });
  // Deletions free their address before a creation at the same second takes one.
  const events: { time: number; create: boolean; life: PodLife }[] = [];
  for (const life of lives) {
    events.push({ time: life.created, create: true, life });
    if (life.deleted !== null) events.push({ time: life.deleted, create: false, life });
  }
  events.sort((a, b) => a.time - b.time || Number(a.create) - Number(b.create) || a.life.created - b.life.created);
  const free = pool.slice();
  for (const e of events) {
    if (e.create) {
      const address = free.shift();
      if (address === undefined) throw new RangeError(`kubernetes ${k.cluster}/${k.namespace}: pod address pool exhausted`);
      e.life.address = address;
    } else free.push(e.life.address);
  }

  const placed = k.deployments.map((d): PlacedTier => ({ app: d.app, env: k.env, tier: d.tier, placement: 'pod', os: 'linux', endpoints: [] }));
  const templateHash = k.deployments.map(() => rng.chars(10, POD_SUFFIX));
  const byCreation = lives.slice().sort((a, b) => a.created - b.created || a.deployment - b.deployment);
  for (const life of byCreation) {
    const d = k.deployments[life.deployment];
    if (d === undefined) continue;
    const pod = `${d.app}-${d.tier}-${templateHash[life.deployment]}-${rng.chars(5, POD_SUFFIX)}`;
    const node = `${k.cluster}-node-${rng.int(1, k.nodes)}`;
    const w: SimWorkload = {
      id: `${k.namespace}/${pod}`,
      name: pod,
      labels: { app: d.app, env: k.env, role: d.tier, owner: k.owner ?? owners.get(d.app) ?? `team-${d.app}`, location: k.location, namespace: k.namespace },
      addresses: [{ address: formatV4(life.address), from: life.created, to: life.deleted }],
      kubernetes: { namespace: k.namespace, pod, node },
    };
    const crit = criticality.get(d.app);
    if (crit === 'low' || crit === 'medium' || crit === 'high' || crit === 'critical') w.criticality = crit;
    placed[life.deployment]?.endpoints.push({ address: address16(life.address), v4: life.address, from: life.created, to: life.deleted ?? Infinity, workload: workloads.length, zone: ZONES.datacentre, cloud: undefined });
    workloads.push(w);
  }
  for (const p of placed) tiers.push(p);
}
