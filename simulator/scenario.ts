// The scenario file: how a user describes an estate for the simulator (YAML or JSON, same shape).
// One zod schema is the validation, the defaults and the documentation of every field; the
// cross-references a schema cannot see (a dependency naming an application that does not exist,
// subnets that overlap or are too small) are checked after it, and every problem names its path
// (`dependencies[2].to.tier`). An example is `scenarioToYaml(scenarioByName('small'))`.
//
// Units: rates are conversations per client instance per active hour of the pattern, in
// production (other environments are scaled by `envScale`); bytes are per conversation.
// Business hours are Monday–Friday 08:00–18:00 UTC; nightly is 01:00–03:00, weekly Sunday
// 03:00–05:00 (see patterns.ts).
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import YAML from 'yaml';
import { z } from 'zod';
import { FlowmapError } from '../core/errors.js';
import { isIpv4Cidr, planAddresses } from './addresses.js';

const Name = z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes, starting with a letter');
const Ipv4 = z.string().refine((v) => isIPv4(v), 'must be an IPv4 address such as 10.0.5.66');
const Cidr = z.string().refine(isIpv4Cidr, 'must be an IPv4 CIDR prefix without host bits, such as 10.1.2.0/24');
const Port = z.number().int().min(1).max(65535);
const Count = z.number().int().min(0).max(10000);
const Rate = z.number().min(0).max(100000);

export const PATTERNS = ['business-hours', 'nightly', 'weekly', 'continuous'] as const;
export const TIER_CONVENTIONS = ['web', 'app', 'db', 'cache', 'queue'] as const;

/** A group of identical instances; a bare number is the count. */
const Tier = z.preprocess(
  (v) => (typeof v === 'number' ? { count: v } : v),
  z.strictObject({
    count: Count,
    /** Windows servers are reached by RDP from the jump hosts and talk RPC to the directory. */
    os: z.enum(['linux', 'windows']).default('linux'),
  }),
);

const Environment = z.strictObject({
  env: Name,
  /** Where the tiers' addresses come from; default 10.<env number>.<application number>.0/24. */
  subnet: Cidr.optional(),
  location: Name.default('dc1'),
  tiers: z.record(Name, Tier),
});

const Application = z.strictObject({
  name: Name,
  owner: z.string().min(1).optional(),
  criticality: z.enum(['low', 'medium', 'high', 'critical']).optional(),
  environments: z.array(Environment).min(1),
});

const InfrastructureRates = z.strictObject({
  dns: Rate.default(1),
  ntp: Rate.default(0.5),
  ldap: Rate.default(0.3),
  kerberos: Rate.default(0.3),
  rpc: Rate.default(0.2),
  /** Jump-host sessions per target server per business hour. */
  jump: Rate.default(0.03),
});

const Infrastructure = z.strictObject({
  env: Name.default('shared'),
  subnet: Cidr.default('10.0.0.0/24'),
  location: Name.default('dc1'),
  owner: z.string().min(1).default('infrastructure'),
  dns: Count.default(2),
  ntp: Count.default(1),
  /** AD / LDAP / Kerberos domain controllers. */
  directory: Count.default(2),
  monitoring: Count.default(1),
  backup: Count.default(1),
  jump: Count.default(1),
  workstations: Count.default(1),
  monitoringPort: Port.default(9100),
  monitoringIntervalMinutes: z.number().int().min(1).max(60).default(5),
  /** A poller keeps one connection per target open this long (one conversation per period). */
  monitoringConnectionMinutes: z.number().int().min(1).max(60).default(60),
  backupPort: Port.default(9090),
  /** Mean bytes a backup agent sends per night. */
  backupBytes: z.number().int().min(0).max(4_000_000_000).default(400_000_000),
  rates: InfrastructureRates.prefault({}),
});

const Deployment = z.strictObject({
  app: Name,
  tier: Name,
  replicas: z.number().int().min(1).max(1000),
  /** How often each pod is replaced, on average. */
  replacementsPerDay: z.number().min(0).max(48).default(0.3),
});

const Kubernetes = z.strictObject({
  cluster: Name,
  namespace: Name,
  env: Name,
  location: Name.default('dc1'),
  podCidr: Cidr,
  nodes: z.number().int().min(1).max(1000).default(3),
  /** Free pod addresses beyond the replicas: fewer spares, more reuse. */
  spareAddresses: z.number().int().min(1).max(1000).default(2),
  owner: z.string().min(1).optional(),
  deployments: z.array(Deployment).min(1),
});

const CloudInstances = z.strictObject({
  app: Name,
  tier: Name,
  count: z.number().int().min(1).max(10000),
  subnet: Cidr,
  os: z.enum(['linux', 'windows']).default('linux'),
});

const Cloud = z.strictObject({
  provider: z.enum(['aws', 'gcp', 'azure']),
  account: z.string().min(1),
  region: z.string().min(1),
  vpc: z.string().min(1),
  env: Name,
  owner: z.string().min(1).optional(),
  instances: z.array(CloudInstances).min(1),
});

const Saas = z.strictObject({ name: Name, cidr: Cidr });

const Internet = z.strictObject({
  /** Where internet clients (and rejected cloud probes) come from. */
  clients: Cidr.default('203.0.113.0/24'),
  saas: z.array(Saas).default([{ name: 'saas', cidr: '198.51.100.0/24' }]),
});

/** A tier (`app` + `tier`, in the client's environment unless `env` pins one), or the internet. */
const Endpoint = z
  .strictObject({ app: Name.optional(), tier: Name.optional(), env: Name.optional(), group: z.literal('internet').optional() })
  .superRefine((e, ctx) => {
    if (e.group !== undefined && (e.app !== undefined || e.tier !== undefined || e.env !== undefined)) ctx.addIssue({ code: 'custom', message: 'either {group: internet} or {app, tier, env?}, not both' });
    if (e.group === undefined && (e.app === undefined || e.tier === undefined)) ctx.addIssue({ code: 'custom', message: 'needs app and tier (or group: internet)' });
  });

const Dependency = z.strictObject({
  from: Endpoint,
  to: Endpoint,
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  port: Port,
  pattern: z.enum(PATTERNS).default('business-hours'),
  perHour: Rate.default(1),
  /** Mean bytes the server sends back per conversation. */
  bytes: z.number().int().min(0).max(4_000_000_000).default(20_000),
  /** Mean bytes the client sends per conversation. */
  requestBytes: z.number().int().min(0).max(4_000_000_000).default(800),
  /** In the intents (intended) or not (an undocumented application dependency). */
  documented: z.boolean().default(true),
  /** After each conversation on `port` (an RPC endpoint mapper), one to a dynamic port 49152–65535. */
  rpcDynamic: z.boolean().default(false),
  /** A fixed client source port (e.g. 123, or a low port) instead of an ephemeral one. */
  sourcePort: Port.optional(),
  /** Environments it applies in (default: every environment where both ends exist). */
  envs: z.array(Name).optional(),
  /** Day of the window (0 = first) it starts on: a dependency that appears mid-window (drift, audit tests). */
  startDay: z.number().int().min(0).max(3660).optional(),
});

const TierRef = z.strictObject({ app: Name, tier: Name, env: Name.optional() });

const Noise = z.strictObject({
  scanner: z
    .strictObject({
      address: Ipv4.default('10.0.5.66'),
      ports: z.array(Port).min(1).default([21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443]),
      /** Day of the window (0 = first); default a weekday drawn from the seed. */
      day: z.number().int().min(0).optional(),
    })
    .optional(),
  oneOff: z.array(z.strictObject({ from: TierRef, to: TierRef, protocol: z.enum(['tcp', 'udp']).default('tcp'), port: Port, description: z.string().min(1).optional() })).default([]),
  egress: z.array(z.strictObject({ from: TierRef, saas: Name, port: Port.default(443), pattern: z.enum(PATTERNS).default('business-hours'), perHour: Rate.default(1), bytes: z.number().int().min(0).default(60_000) })).default([]),
  /** Internet probes that cloud security groups reject, per hour over the whole cloud part. */
  rejected: z.strictObject({ perHour: Rate.default(2), ports: z.array(Port).min(1).default([22, 23, 445, 3389]) }).optional(),
});

export const ScenarioSchema = z.strictObject({
  name: Name,
  description: z.string().optional(),
  /** The router that "exports" every flow (emitters may rewrite it). */
  exporter: Ipv4.default('192.0.2.1'),
  /** Rate multiplier per environment; environments not listed use 1. */
  envScale: z.record(Name, z.number().min(0).max(100)).default({ prod: 1, staging: 0.3, dev: 0.15 }),
  infrastructure: Infrastructure.prefault({}),
  applications: z.array(Application).default([]),
  kubernetes: z.array(Kubernetes).default([]),
  cloud: z.array(Cloud).default([]),
  internet: Internet.prefault({}),
  dependencies: z.array(Dependency).default([]),
  noise: Noise.prefault({}),
});

/** A validated scenario with every default filled in. */
export type ScenarioSpec = z.output<typeof ScenarioSchema>;
/** What a scenario file may say (defaults optional). */
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type DependencySpec = ScenarioSpec['dependencies'][number];
export type EndpointSpec = DependencySpec['from'];

export interface ScenarioProblem {
  /** Where, as `applications[0].environments[1].tiers.web.count`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out;
}

/** Every (app, env, tier) the scenario places somewhere, as `app/env/tier`. */
export function placedTiers(spec: ScenarioSpec): Set<string> {
  const placed = new Set<string>();
  const infra = spec.infrastructure;
  for (const service of ['dns', 'ntp', 'directory', 'monitoring', 'backup', 'jump'] as const) if (infra[service] > 0) placed.add(`${service}/${infra.env}/server`);
  if (infra.workstations > 0) placed.add(`workstation/${infra.env}/workstation`);
  for (const app of spec.applications) for (const env of app.environments) for (const [tier, t] of Object.entries(env.tiers)) if (t.count > 0) placed.add(`${app.name}/${env.env}/${tier}`);
  for (const k of spec.kubernetes) for (const d of k.deployments) placed.add(`${d.app}/${k.env}/${d.tier}`);
  for (const c of spec.cloud) for (const i of c.instances) placed.add(`${i.app}/${c.env}/${i.tier}`);
  return placed;
}

/** The checks after the schema: references resolve, names are unique, addresses fit. */
export function checkScenario(spec: ScenarioSpec): ScenarioProblem[] {
  const problems: ScenarioProblem[] = [];
  const placed = placedTiers(spec);
  const envs = new Set([...placed].map((p) => p.split('/')[1] ?? ''));
  const names = new Set<string>();
  spec.applications.forEach((app, i) => {
    if (names.has(app.name)) problems.push({ path: `applications[${i}].name`, message: `application '${app.name}' is defined twice` });
    names.add(app.name);
    const seen = new Set<string>();
    app.environments.forEach((env, j) => {
      if (seen.has(env.env)) problems.push({ path: `applications[${i}].environments[${j}].env`, message: `environment '${env.env}' is listed twice for '${app.name}'` });
      seen.add(env.env);
    });
  });
  const namespaces = new Set<string>();
  spec.kubernetes.forEach((k, i) => {
    const key = `${k.cluster}/${k.namespace}`;
    if (namespaces.has(key)) problems.push({ path: `kubernetes[${i}].namespace`, message: `namespace ${key} is defined twice` });
    namespaces.add(key);
  });
  const tierExists = (app: string, env: string | undefined, tier: string): boolean => {
    if (env !== undefined) return placed.has(`${app}/${env}/${tier}`);
    for (const p of placed) if (p.startsWith(`${app}/`) && p.endsWith(`/${tier}`)) return true;
    return false;
  };
  const checkRef = (path: string, ref: { app?: string | undefined; tier?: string | undefined; env?: string | undefined; group?: string | undefined }): void => {
    if (ref.group !== undefined || ref.app === undefined || ref.tier === undefined) return;
    if (ref.env !== undefined && !envs.has(ref.env)) {
      problems.push({ path: `${path}.env`, message: `no workloads are placed in environment '${ref.env}' (known: ${[...envs].sort().join(', ')})` });
    } else if (!tierExists(ref.app, ref.env, ref.tier)) {
      const tiers = [...placed].filter((p) => p.startsWith(`${ref.app}/`)).map((p) => p.split('/').slice(1).join('/'));
      problems.push({
        path: tiers.length === 0 ? `${path}.app` : `${path}.tier`,
        message: tiers.length === 0 ? `no application '${ref.app}' is placed anywhere` : `application '${ref.app}' has no tier '${ref.tier}'${ref.env === undefined ? '' : ` in ${ref.env}`} (it has ${[...new Set(tiers)].sort().join(', ')})`,
      });
    }
  };
  spec.dependencies.forEach((d, i) => {
    checkRef(`dependencies[${i}].from`, d.from);
    checkRef(`dependencies[${i}].to`, d.to);
    if (d.from.group !== undefined && d.to.group !== undefined) problems.push({ path: `dependencies[${i}]`, message: 'a dependency needs at least one end inside the estate' });
    (d.envs ?? []).forEach((env, j) => {
      if (!envs.has(env)) problems.push({ path: `dependencies[${i}].envs[${j}]`, message: `no workloads are placed in environment '${env}'` });
    });
  });
  spec.noise.oneOff.forEach((o, i) => {
    checkRef(`noise.oneOff[${i}].from`, o.from);
    checkRef(`noise.oneOff[${i}].to`, o.to);
  });
  const saas = new Set(spec.internet.saas.map((s) => s.name));
  spec.noise.egress.forEach((e, i) => {
    checkRef(`noise.egress[${i}].from`, e.from);
    if (!saas.has(e.saas)) problems.push({ path: `noise.egress[${i}].saas`, message: `no SaaS range named '${e.saas}' (internet.saas has ${[...saas].join(', ') || 'none'})` });
  });
  const plan = planAddresses(spec);
  problems.push(...plan.problems);
  return problems;
}

function invalid(source: string, problems: readonly ScenarioProblem[]): FlowmapError {
  const lines = problems.map((p) => `${p.path === '' ? '(top level)' : p.path}: ${p.message}`);
  return new FlowmapError('FLOWMAP_CONFIG_INVALID', `scenario ${source} is invalid:\n  ${lines.join('\n  ')}`, { status: 400, details: { source, problems } });
}

/** Validates a parsed scenario document; throws FLOWMAP_CONFIG_INVALID listing every problem by path. */
export function parseScenario(document: unknown, source = '(inline)'): ScenarioSpec {
  const result = ScenarioSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues.map((issue): ScenarioProblem => {
      const path = formatPath(issue.path);
      if (issue.code === 'unrecognized_keys') return { path, message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` };
      return { path, message: issue.message };
    });
    throw invalid(source, problems);
  }
  const problems = checkScenario(result.data);
  if (problems.length > 0) throw invalid(source, problems);
  return result.data;
}

/** Parses YAML or JSON text (JSON is YAML) into a validated scenario. */
export function parseScenarioText(text: string, source = '(inline)'): ScenarioSpec {
  let document: unknown;
  try {
    document = YAML.parse(text, { prettyErrors: true, uniqueKeys: true }) as unknown;
  } catch (err) {
    throw new FlowmapError('FLOWMAP_CONFIG_FILE', `scenario ${source} is not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`, { status: 400, details: { source }, cause: err });
  }
  return parseScenario(document, source);
}

export function loadScenarioFile(path: string): ScenarioSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FlowmapError('FLOWMAP_CONFIG_FILE', `cannot read scenario file ${path}: ${err instanceof Error ? err.message : String(err)}`, { status: 400, details: { file: path }, cause: err });
  }
  return parseScenarioText(text, path);
}

/** The scenario as YAML, every default spelled out; parsing it gives the same scenario back. */
export function scenarioToYaml(spec: ScenarioSpec): string {
  return YAML.stringify(spec, { lineWidth: 0 });
}
