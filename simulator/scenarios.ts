// The named scenarios: `small` (~30 workloads, the demo and the tests' estate), `enterprise`
// (~2,000 workloads) and `sized-N` (about N workloads, for benchmarks). `small` is written out as
// a scenario file would be; the larger ones are generated in code from the same building blocks,
// deterministically (no seed: the estate's seed only varies its traffic and pod churn).
import { FlowmapError } from '../core/errors.js';
import { parseScenario, type ScenarioInput, type ScenarioSpec } from './scenario.js';

type DependencyInput = NonNullable<ScenarioInput['dependencies']>[number];
type ApplicationInput = NonNullable<ScenarioInput['applications']>[number];

/**
 * Two on-premises applications (shop: web/app/mongo db/cache/queue in prod, a smaller staging;
 * billing: web/app on Windows/postgres db), a Kubernetes namespace `catalog` whose four pods churn,
 * an AWS part (analytics), the shared infrastructure, and noise.
 */
export const SMALL: ScenarioInput = {
  name: 'small',
  description: 'two applications in prod and staging, shared infrastructure, a churning Kubernetes namespace and a small AWS VPC',
  infrastructure: { dns: 2, ntp: 1, directory: 1, monitoring: 1, backup: 1, jump: 1, workstations: 1 },
  applications: [
    {
      name: 'shop',
      owner: 'team-shop',
      criticality: 'high',
      environments: [
        { env: 'prod', tiers: { web: 2, app: 2, db: 1, cache: 1, queue: 1 } },
        { env: 'staging', tiers: { web: 1, app: 1, db: 1 } },
      ],
    },
    {
      name: 'billing',
      owner: 'team-billing',
      criticality: 'critical',
      environments: [{ env: 'prod', tiers: { web: 1, app: { count: 2, os: 'windows' }, db: 1 } }],
    },
  ],
  kubernetes: [
    {
      cluster: 'dc1-k8s',
      namespace: 'catalog',
      env: 'prod',
      podCidr: '10.244.1.0/24',
      nodes: 2,
      spareAddresses: 2,
      deployments: [
        { app: 'catalog', tier: 'web', replicas: 2, replacementsPerDay: 0.15 },
        { app: 'catalog', tier: 'app', replicas: 2, replacementsPerDay: 0.15 },
      ],
    },
  ],
  cloud: [
    {
      provider: 'aws',
      account: '123456789012',
      region: 'eu-west-1',
      vpc: 'vpc-0a1b2c3d4e5f60718',
      env: 'prod',
      owner: 'team-data',
      instances: [
        { app: 'analytics', tier: 'app', count: 2, subnet: '10.100.1.0/24' },
        { app: 'analytics', tier: 'db', count: 1, subnet: '10.100.2.0/24' },
      ],
    },
  ],
  dependencies: [
    { from: { group: 'internet' }, to: { app: 'shop', tier: 'web', env: 'prod' }, port: 443, pattern: 'continuous', perHour: 3, bytes: 80_000 },
    { from: { app: 'shop', tier: 'web' }, to: { app: 'shop', tier: 'app' }, port: 8080, perHour: 4, bytes: 30_000 },
    { from: { app: 'shop', tier: 'app' }, to: { app: 'shop', tier: 'db' }, port: 27017, perHour: 4, bytes: 12_000 },
    { from: { app: 'shop', tier: 'app' }, to: { app: 'shop', tier: 'cache' }, port: 6379, perHour: 3, bytes: 2_000 },
    { from: { app: 'shop', tier: 'app' }, to: { app: 'shop', tier: 'queue' }, port: 5672, perHour: 1, bytes: 4_000 },
    { from: { app: 'shop', tier: 'app' }, to: { app: 'catalog', tier: 'app' }, port: 50051, perHour: 2, bytes: 6_000 },
    { from: { app: 'billing', tier: 'web' }, to: { app: 'billing', tier: 'app' }, port: 8080, perHour: 2, bytes: 25_000 },
    { from: { app: 'billing', tier: 'app' }, to: { app: 'billing', tier: 'db' }, port: 5432, perHour: 2, bytes: 40_000 },
    { from: { app: 'catalog', tier: 'web' }, to: { app: 'catalog', tier: 'app' }, port: 8080, pattern: 'continuous', perHour: 1, bytes: 15_000 },
    { from: { app: 'catalog', tier: 'app' }, to: { app: 'shop', tier: 'db', env: 'prod' }, port: 27017, pattern: 'continuous', perHour: 0.5, bytes: 10_000 },
    { from: { app: 'analytics', tier: 'app' }, to: { app: 'analytics', tier: 'db' }, port: 5432, pattern: 'continuous', perHour: 1, bytes: 50_000 },
    { from: { app: 'analytics', tier: 'app' }, to: { app: 'billing', tier: 'db', env: 'prod' }, port: 5432, pattern: 'nightly', perHour: 2, bytes: 20_000_000 },
    { from: { app: 'billing', tier: 'app' }, to: { app: 'analytics', tier: 'app', env: 'prod' }, port: 8443, pattern: 'weekly', perHour: 2, bytes: 5_000, requestBytes: 5_000_000 },
    // Undocumented application dependencies: a call nobody wrote down, and staging reading prod data.
    { from: { app: 'shop', tier: 'app', env: 'prod' }, to: { app: 'billing', tier: 'app', env: 'prod' }, port: 8080, perHour: 0.5, bytes: 3_000, documented: false },
    { from: { app: 'shop', tier: 'app', env: 'staging' }, to: { app: 'shop', tier: 'db', env: 'prod' }, port: 27017, pattern: 'nightly', perHour: 1, bytes: 2_000_000, documented: false },
  ],
  noise: {
    scanner: { address: '10.0.5.66' },
    oneOff: [
      { from: { app: 'workstation', tier: 'workstation' }, to: { app: 'billing', tier: 'db', env: 'prod' }, port: 5432, description: 'an administrator queries the billing database directly, once' },
      { from: { app: 'workstation', tier: 'workstation' }, to: { app: 'shop', tier: 'db', env: 'prod' }, port: 22, description: 'an administrator logs in to the shop database server without the jump host, once' },
    ],
    egress: [{ from: { app: 'shop', tier: 'app', env: 'prod' }, saas: 'saas', port: 443, perHour: 1 }],
    rejected: { perHour: 2 },
  },
};

const TIER_PORTS: Readonly<Record<string, number>> = { app: 8080, db: 5432, cache: 6379, queue: 5672 };

/**
 * About `n` workloads (n ≥ 30): applications × prod/staging/dev, a Kubernetes part of about 8 %
 * and a cloud part of about 6 % of the workloads, shared infrastructure scaled with the estate.
 * Applications are shaped in a fixed rotation (some without cache or queue, some on Windows, some
 * using a gRPC or MongoDB high port), and a handful of cross-application calls are added, a few of
 * them undocumented.
 */
export function sizedScenario(n: number, name = `sized-${n}`): ScenarioSpec {
  if (!Number.isInteger(n) || n < 30 || n > 60_000) {
    throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `a sized scenario needs a whole number of workloads from 30 to 60000, not ${n}`, { status: 400, details: { value: n } });
  }
  const perApp = 19; // prod 12, staging 5, dev 2 (see the tiers below)
  const infraCount = Math.max(8, Math.round(n * 0.015));
  const k8sPods = Math.max(4, Math.round(n * 0.08));
  const cloudCount = Math.max(3, Math.round(n * 0.06));
  const apps = Math.max(1, Math.round((n - infraCount - k8sPods - cloudCount) / perApp));
  const applications: ApplicationInput[] = [];
  const dependencies: DependencyInput[] = [];
  const appName = (i: number): string => `app${String(i + 1).padStart(3, '0')}`;
  for (let i = 0; i < apps; i++) {
    const name = appName(i);
    const windows = i % 5 === 3;
    const hasCache = i % 3 !== 2;
    const hasQueue = i % 4 === 0;
    const prod: Record<string, number | { count: number; os: 'windows' }> = { web: 3, app: windows ? { count: 4, os: 'windows' } : 4, db: 2 };
    if (hasCache) prod.cache = 2;
    if (hasQueue) prod.queue = 1;
    // Make up the rotation's average of 12 in prod where a tier is missing.
    if (!hasCache) prod.web = 4;
    if (!hasQueue) prod.db = 3;
    const staging: Record<string, number> = { web: 1, app: 2, db: 1 };
    if (hasCache) staging.cache = 1;
    const dev: Record<string, number> = { app: 1, db: 1 };
    const subnetOf = (env: number): string => `10.${env * 16 + (i >> 8)}.${i & 255}.0/24`;
    applications.push({
      name,
      owner: `team-${name}`,
      criticality: (['low', 'medium', 'high', 'critical'] as const)[i % 4],
      environments: [
        { env: 'prod', subnet: subnetOf(1), tiers: prod },
        { env: 'staging', subnet: subnetOf(2), tiers: staging },
        { env: 'dev', subnet: subnetOf(3), tiers: dev },
      ],
    });
    const dbPort = i % 7 === 1 ? 27017 : (TIER_PORTS.db as number);
    dependencies.push({ from: { app: name, tier: 'web' }, to: { app: name, tier: 'app' }, port: i % 6 === 5 ? 50051 : 8080, perHour: 3, bytes: 25_000 });
    dependencies.push({ from: { app: name, tier: 'app' }, to: { app: name, tier: 'db' }, port: dbPort, perHour: 3, bytes: 15_000 });
    if (hasCache) dependencies.push({ from: { app: name, tier: 'app' }, to: { app: name, tier: 'cache' }, port: TIER_PORTS.cache as number, perHour: 2, bytes: 2_000 });
    if (hasQueue) dependencies.push({ from: { app: name, tier: 'app' }, to: { app: name, tier: 'queue' }, port: TIER_PORTS.queue as number, perHour: 1, bytes: 3_000 });
    if (i % 10 === 0) dependencies.push({ from: { group: 'internet' }, to: { app: name, tier: 'web', env: 'prod' }, port: 443, pattern: 'continuous', perHour: 3, bytes: 80_000 });
    if (i % 8 === 4) dependencies.push({ from: { app: name, tier: 'db', env: 'prod' }, to: { app: name, tier: 'db', env: 'prod' }, port: dbPort, pattern: 'continuous', perHour: 0.5, bytes: 200_000 });
  }
  // Cross-application calls: every third application calls the next one's app tier in prod; one
  // in eight of those calls is undocumented.
  for (let i = 0; i + 1 < apps; i += 3) {
    dependencies.push({ from: { app: appName(i), tier: 'app' }, to: { app: appName(i + 1), tier: 'app' }, port: 8443, perHour: 0.5, bytes: 5_000, envs: ['prod'], documented: i % 24 !== 0 });
  }
  // Kubernetes: namespaces of about 40 pods, each two deployments of a platform service.
  const kubernetes: NonNullable<ScenarioInput['kubernetes']> = [];
  const namespaces = Math.max(1, Math.round(k8sPods / 40));
  for (let k = 0; k < namespaces; k++) {
    const pods = Math.max(4, Math.round(k8sPods / namespaces));
    const svc = `svc${String(k + 1).padStart(2, '0')}`;
    kubernetes.push({
      cluster: 'dc1-k8s',
      namespace: svc,
      env: 'prod',
      podCidr: `10.244.${k}.0/24`,
      nodes: Math.max(2, Math.ceil(pods / 10)),
      deployments: [
        { app: svc, tier: 'web', replicas: Math.ceil(pods / 2), replacementsPerDay: 0.15 },
        { app: svc, tier: 'app', replicas: Math.floor(pods / 2), replacementsPerDay: 0.15 },
      ],
    });
    dependencies.push({ from: { app: svc, tier: 'web' }, to: { app: svc, tier: 'app' }, port: 8080, pattern: 'continuous', perHour: 1, bytes: 10_000 });
    dependencies.push({ from: { app: appName(k % apps), tier: 'app', env: 'prod' }, to: { app: svc, tier: 'app' }, port: 50051, perHour: 1, bytes: 4_000 });
    dependencies.push({ from: { app: svc, tier: 'app' }, to: { app: appName((k + 1) % apps), tier: 'db', env: 'prod' }, port: 5432, pattern: 'continuous', perHour: 0.5, bytes: 8_000 });
  }
  // Cloud: one AWS VPC, one Azure VNet, one GCP VPC when big enough; each an analytics-like app.
  const providers = cloudCount >= 30 ? (['aws', 'azure', 'gcp'] as const) : (['aws'] as const);
  const cloud: NonNullable<ScenarioInput['cloud']> = providers.map((provider, p) => {
    const count = Math.max(3, Math.round(cloudCount / providers.length));
    const app = `${provider}-data`;
    dependencies.push({ from: { app, tier: 'app' }, to: { app, tier: 'db' }, port: 5432, pattern: 'continuous', perHour: 1, bytes: 40_000 });
    dependencies.push({ from: { app, tier: 'app' }, to: { app: appName(p % apps), tier: 'db', env: 'prod' }, port: 5432, pattern: 'nightly', perHour: 1, bytes: 10_000_000 });
    dependencies.push({ from: { app: appName((p + 1) % apps), tier: 'app', env: 'prod' }, to: { app, tier: 'app' }, port: 8443, pattern: 'weekly', perHour: 2, bytes: 5_000, requestBytes: 2_000_000 });
    return {
      provider,
      account: provider === 'aws' ? '210987654321' : provider === 'azure' ? '6f1c1b3e-2d4a-4c8e-9a55-0d1e2f3a4b5c' : 'flowmap-sim-project',
      region: provider === 'aws' ? 'us-east-1' : provider === 'azure' ? 'westeurope' : 'europe-west1',
      vpc: provider === 'aws' ? 'vpc-0f1e2d3c4b5a69788' : provider === 'azure' ? 'vnet-data' : 'data-vpc',
      env: 'prod',
      owner: 'team-data',
      instances: [
        { app, tier: 'app', count: Math.max(2, count - Math.ceil(count / 4)), subnet: `10.${100 + p}.1.0/24` },
        { app, tier: 'db', count: Math.ceil(count / 4), subnet: `10.${100 + p}.2.0/24` },
      ],
    };
  });
  const infra = Math.max(1, Math.round(infraCount / 8));
  return parseScenario(
    {
      name,
      description: `about ${n} workloads: ${apps} applications × prod/staging/dev, Kubernetes and cloud parts`,
      infrastructure: { subnet: '10.0.0.0/22', dns: 2 * infra, ntp: infra, directory: 2 * infra, monitoring: infra, backup: infra, jump: infra, workstations: infra },
      applications,
      kubernetes,
      cloud,
      dependencies,
      noise: {
        scanner: { address: '10.250.0.66' },
        oneOff: [
          { from: { app: 'workstation', tier: 'workstation' }, to: { app: appName(0), tier: 'db', env: 'prod' }, port: 5432 },
          { from: { app: 'workstation', tier: 'workstation' }, to: { app: appName(Math.min(1, apps - 1)), tier: 'app', env: 'prod' }, port: 22 },
        ],
        egress: [{ from: { app: appName(0), tier: 'app', env: 'prod' }, saas: 'saas', port: 443, perHour: 1 }],
        rejected: { perHour: 6 },
      },
    },
    name,
  );
}

export const SCENARIO_NAMES = ['small', 'enterprise', 'sized-N'] as const;

/** A named scenario: `small`, `enterprise`, or `sized-N` (N workloads, e.g. sized-10000). */
export function scenarioByName(name: string): ScenarioSpec {
  if (name === 'small') return parseScenario(SMALL, 'small');
  if (name === 'enterprise') return sizedScenario(2000, 'enterprise');
  const sized = /^sized-(\d+)$/.exec(name);
  if (sized !== null) return sizedScenario(Number(sized[1]), name);
  throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `no scenario named '${name}'; known: small, enterprise, sized-N (N workloads, e.g. sized-10000), or a scenario file path`, { status: 400, details: { value: name } });
}
