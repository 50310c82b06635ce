// The estate model: a scenario plus a seed becomes workloads (workloads.ts), the ground truth, and
// the streams of traffic that flows() turns into records (traffic.ts). This module decides who
// talks to whom, on which port, when, and why — the truth is written from the same decisions that
// drive the traffic, so every truth edge has flows.
//
// Dependencies and their directions (client → server, service port):
// - application tiers as the scenario lists them (e.g. web → app tcp/8080, app → db tcp/5432);
//   documented ones are `intended`, the rest undocumented `application`;
// - every on-premises server → DNS udp/53 and NTP udp/123 (from source port 123, as ntpd does),
//   → directory LDAP tcp/389 and Kerberos tcp/88; Windows servers and workstations → directory
//   tcp/135 then a dynamic port 49152–65535 (the RPC endpoint mapper hands one out): all
//   `infrastructure`, documented — except the dynamic ports, undocumented `rpc-dynamic`;
// - jump hosts → every server tcp/22 (Linux) or tcp/3389 (Windows), `management`, documented;
// - the backup server → every on-premises server's agent on tcp/9090, once a night, from a low
//   source port (512–1023): the server connects and the agent streams the data back, so the
//   server → client reply is the large record. Undocumented `backup`;
// - the monitoring server → every server (on-premises and cloud) tcp/9100, polling every 5
//   minutes over a connection it reopens every hour: one conversation per target per hour around
//   the clock carrying 12 polls. Undocumented `monitoring`.
// Noise: a SYN scan from one unlisted address on one day, one-off admin sessions from a
// workstation, egress to SaaS ranges, and internet probes the cloud rejects.
import { FlowmapError } from '../core/errors.js';
import { parseAddress } from '../core/ip.js';
import { formatV4, parseSubnet, subnetSize } from './addresses.js';
import { DAY, HOUR, patternFactor, weekday, type Pattern } from './patterns.js';
import { Random } from './random.js';
import { parseScenario, type ScenarioInput, type ScenarioSpec } from './scenario.js';
import { EPHEMERAL_PORTS, generateFlows, RPC_DYNAMIC_PORTS, type Endpoint, type Pool, type Scan, type Stream, type StreamMode, type TrafficModel } from './traffic.js';
import type { DependencyCategory, SimulatedEstate, Truth, TruthEdge, TruthNoise, TruthSelector } from './types.js';
import { placeWorkloads, ZONES, type Placement, type PlacedEstate, type PlacedTier } from './workloads.js';

export interface EstateOptions {
  seed: number;
  /** Length of the window in days; default 28. */
  days?: number;
  /** End of the window (Unix seconds, Date or ISO text), rounded down to the hour; default the start of today (UTC). */
  end?: number | Date | string;
}

const TCP = 6;
const UDP = 17;
const GROUP_BY = ['app', 'env'];

type StreamInput = Omit<Stream, 'forcedHour' | 'onceHour' | 'fixed' | 'sourcePort' | 'rpcDynamic' | 'reject' | 'mode' | 'startsAt'> &
  Partial<Pick<Stream, 'onceHour' | 'fixed' | 'sourcePort' | 'rpcDynamic' | 'reject' | 'mode' | 'startsAt'>>;

function endOf(end: EstateOptions['end']): number {
  if (end === undefined) return Math.floor(Date.now() / 1000 / DAY) * DAY;
  const seconds = typeof end === 'number' ? end : end instanceof Date ? end.getTime() / 1000 : Date.parse(end) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new FlowmapError('FLOWMAP_BAD_TIME', `estate end ${JSON.stringify(end)} is not a time (Unix seconds, a Date or ISO-8601 text)`, { status: 400, details: { value: String(end) } });
  }
  return Math.floor(seconds / HOUR) * HOUR;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function edgeKey(e: { from: TruthSelector; to: TruthSelector; protocol: string; ports: TruthEdge['ports'] }): string {
  return JSON.stringify([e.from, e.to, e.protocol, e.ports]);
}

class EstateBuilder {
  readonly pools: Pool[] = [];
  readonly streams: StreamInput[] = [];
  private readonly poolByKey = new Map<string, Pool>();
  private readonly intended = new Map<string, TruthEdge>();
  private readonly undocumented = new Map<string, TruthEdge>();
  private readonly noise = new Map<string, TruthNoise>();
  private readonly rng: Random;
  scan: Scan | undefined;
  /** Environments in order of first appearance. */
  readonly envs: string[];

  constructor(
    private readonly spec: ScenarioSpec,
    private readonly placed: PlacedEstate,
    private readonly window: { from: number; to: number },
    seed: number,
  ) {
    this.rng = Random.derive(seed, 'estate');
    this.envs = [...new Set(placed.tiers.map((t) => t.env))];
  }

  private pool(key: string, selector: TruthSelector, endpoints: readonly Endpoint[]): Pool {
    let pool = this.poolByKey.get(key);
    if (pool === undefined) {
      pool = { index: this.pools.length, key, selector, endpoints, churns: endpoints.some((e) => e.to !== Infinity || e.from > this.window.from) };
      this.pools.push(pool);
      this.poolByKey.set(key, pool);
    }
    return pool;
  }

  /** The endpoints of a tier, all placements merged unless some are named; undefined when none. */
  tierPool(app: string, env: string, tier: string, placements?: readonly Placement[]): Pool | undefined {
    const key = `${app}/${env}/${tier}${placements === undefined ? '' : `@${placements.join('+')}`}`;
    const known = this.poolByKey.get(key);
    if (known !== undefined) return known;
    const endpoints = this.placed.tiers.filter((t) => t.app === app && t.env === env && t.tier === tier && (placements === undefined || placements.includes(t.placement))).flatMap((t) => t.endpoints);
    return endpoints.length === 0 ? undefined : this.pool(key, { app, env }, endpoints);
  }

  private placedPool(t: PlacedTier): Pool {
    return this.tierPool(t.app, t.env, t.tier, [t.placement]) as Pool;
  }

  private externalPool(key: string, cidr: string, firstHost: number, hosts: number, selector: TruthSelector): Pool {
    const subnet = parseSubnet(cidr);
    const endpoints: Endpoint[] = [];
    const last = Math.min(firstHost + hosts, subnetSize(subnet) - 1);
    for (let h = firstHost; h < last; h++) {
      const v4 = subnet.network + h;
      endpoints.push({ address: this.placed.address16(v4), v4, from: -Infinity, to: Infinity, workload: -1, zone: ZONES.internet, cloud: undefined });
    }
    return this.pool(key, selector, endpoints);
  }

  internetPool(): Pool {
    return this.externalPool('internet', this.spec.internet.clients, 1, 254, { group: 'internet' });
  }

  saasPool(name: string): Pool | undefined {
    const saas = this.spec.internet.saas.find((s) => s.name === name);
    return saas === undefined ? undefined : this.externalPool(`saas:${name}`, saas.cidr, 10, 16, { cidr: saas.cidr });
  }

  add(stream: StreamInput): void {
    this.streams.push(stream);
  }

  edge(documented: boolean, category: DependencyCategory, from: TruthSelector, to: TruthSelector, protocol: 'tcp' | 'udp', ports: TruthEdge['ports'], pattern: Pattern): void {
    const edge: TruthEdge = { from, to, protocol, ports, category, pattern };
    const map = documented ? this.intended : this.undocumented;
    const key = edgeKey(edge);
    if (!map.has(key)) map.set(key, edge);
  }

  addNoise(noise: TruthNoise): void {
    const key = `${noise.kind}:${edgeKey(noise)}`;
    if (!this.noise.has(key)) this.noise.set(key, noise);
  }

  envScale(env: string): number {
    return this.spec.envScale[env] ?? 1;
  }

  infrastructure(): void {
    const infra = this.spec.infrastructure;
    const service = (name: string): Pool | undefined => this.tierPool(name, infra.env, 'server', ['infra']);
    const dns = service('dns');
    const ntp = service('ntp');
    const directory = service('directory');
    const jump = service('jump');
    const backup = service('backup');
    const monitoring = service('monitoring');
    const rates = infra.rates;
    for (const t of this.placed.tiers) {
      if (t.placement === 'pod') continue;
      const pool = this.placedPool(t);
      const onPrem = t.placement !== 'cloud';
      const server = t.placement !== 'workstation';
      const scale = t.placement === 'vm' ? this.envScale(t.env) : 1;
      const common = { pattern: 'continuous' as const, durationSeconds: 0 };
      if (onPrem && dns !== undefined && t.app !== 'dns') {
        this.add({ ...common, client: pool, server: dns, proto: UDP, port: 53, rate: rates.dns * scale, requestBytes: 60, responseBytes: 160 });
        this.edge(true, 'infrastructure', pool.selector, dns.selector, 'udp', [53], 'continuous');
      }
      if (onPrem && ntp !== undefined && t.app !== 'ntp') {
        this.add({ ...common, client: pool, server: ntp, proto: UDP, port: 123, sourcePort: 123, rate: rates.ntp * scale, requestBytes: 48, responseBytes: 48 });
        this.edge(true, 'infrastructure', pool.selector, ntp.selector, 'udp', [123], 'continuous');
      }
      if (onPrem && directory !== undefined && !['directory', 'dns', 'ntp'].includes(t.app)) {
        this.add({ ...common, client: pool, server: directory, proto: TCP, port: 389, rate: rates.ldap * scale, requestBytes: 600, responseBytes: 2500, durationSeconds: 1 });
        this.add({ ...common, client: pool, server: directory, proto: TCP, port: 88, rate: rates.kerberos * scale, requestBytes: 1500, responseBytes: 1700, durationSeconds: 1 });
        this.edge(true, 'infrastructure', pool.selector, directory.selector, 'tcp', [389], 'continuous');
        this.edge(true, 'infrastructure', pool.selector, directory.selector, 'tcp', [88], 'continuous');
        if (t.os === 'windows') {
          this.add({ ...common, client: pool, server: directory, proto: TCP, port: 135, rpcDynamic: true, rate: rates.rpc * scale, requestBytes: 3000, responseBytes: 8000, durationSeconds: 2 });
          this.edge(true, 'infrastructure', pool.selector, directory.selector, 'tcp', [135], 'continuous');
          this.edge(false, 'rpc-dynamic', pool.selector, directory.selector, 'tcp', { ...RPC_DYNAMIC_PORTS }, 'continuous');
        }
      }
      if (onPrem && server && jump !== undefined && t.app !== 'jump') {
        const port = t.os === 'windows' ? 3389 : 22;
        this.add({ client: jump, server: pool, proto: TCP, port, pattern: 'business-hours', mode: 'pair', rate: rates.jump, requestBytes: 40_000, responseBytes: port === 22 ? 150_000 : 2_000_000, durationSeconds: 900 });
        this.edge(true, 'management', jump.selector, pool.selector, 'tcp', [port], 'business-hours');
      }
      if (onPrem && server && backup !== undefined && t.app !== 'backup') {
        this.add({ client: backup, server: pool, proto: TCP, port: infra.backupPort, pattern: 'nightly', mode: 'block-once', rate: 1, sourcePort: 'low', requestBytes: 30_000, responseBytes: infra.backupBytes, durationSeconds: Math.min(3000, 30 + Math.round(infra.backupBytes / 4_000_000)) });
        this.edge(false, 'backup', backup.selector, pool.selector, 'tcp', [infra.backupPort], 'nightly');
      }
      if (server && monitoring !== undefined && t.app !== 'monitoring') {
        const polls = Math.max(1, Math.floor(infra.monitoringConnectionMinutes / infra.monitoringIntervalMinutes));
        this.add({
          client: monitoring,
          server: pool,
          proto: TCP,
          port: infra.monitoringPort,
          pattern: 'continuous',
          mode: 'pair',
          fixed: true,
          rate: Math.max(1, Math.floor(60 / infra.monitoringConnectionMinutes)),
          requestBytes: 250 * polls,
          responseBytes: 14_000 * polls,
          durationSeconds: infra.monitoringConnectionMinutes * 60 - 30,
        });
        this.edge(false, 'monitoring', monitoring.selector, pool.selector, 'tcp', [infra.monitoringPort], 'continuous');
      }
    }
  }

  dependencies(): void {
    this.spec.dependencies.forEach((d) => {
      // One that starts after the window has no flows in it, so it is no dependency of this window.
      if (d.startDay !== undefined && this.window.from + d.startDay * DAY >= this.window.to) return;
      const done = new Set<string>();
      for (const e of this.envs) {
        if (d.envs !== undefined && !d.envs.includes(e)) continue;
        const fromInternet = d.from.group !== undefined;
        const toInternet = d.to.group !== undefined;
        const fromEnv = d.from.env ?? e;
        const toEnv = d.to.env ?? (fromInternet ? e : fromEnv);
        const key = `${fromInternet ? '*' : fromEnv}>${toInternet ? '*' : toEnv}`;
        if (done.has(key)) continue;
        done.add(key);
        const client = fromInternet ? this.internetPool() : this.tierPool(d.from.app ?? '', fromEnv, d.from.tier ?? '');
        const server = toInternet ? this.internetPool() : this.tierPool(d.to.app ?? '', toEnv, d.to.tier ?? '');
        if (client === undefined || server === undefined) continue;
        const mode: StreamMode = fromInternet ? 'server' : 'client';
        this.add({
          client,
          server,
          proto: d.protocol === 'tcp' ? TCP : UDP,
          port: d.port,
          pattern: d.pattern,
          mode,
          rate: d.perHour * this.envScale(fromInternet ? toEnv : fromEnv),
          requestBytes: d.requestBytes,
          responseBytes: d.bytes,
          durationSeconds: Math.min(1800, 1 + Math.round((d.bytes + d.requestBytes) / 2_000_000)),
          sourcePort: d.sourcePort ?? 'ephemeral',
          rpcDynamic: d.rpcDynamic,
          ...(d.startDay === undefined ? {} : { startsAt: this.window.from + d.startDay * DAY }),
        });
        this.edge(d.documented, d.documented ? 'intended' : 'application', client.selector, server.selector, d.protocol, [d.port], d.pattern);
        if (d.rpcDynamic) this.edge(false, 'rpc-dynamic', client.selector, server.selector, d.protocol, { ...RPC_DYNAMIC_PORTS }, d.pattern);
      }
    });
  }

  /** The first environment, in scenario order, where a tier is placed. */
  private envOf(ref: { app: string; tier: string; env?: string | undefined }): string | undefined {
    return ref.env ?? this.envs.find((e) => this.tierPool(ref.app, e, ref.tier) !== undefined);
  }

  /** A random business hour on a weekday away from the window's edges. */
  private businessHour(): number {
    const days = Math.round((this.window.to - this.window.from) / DAY);
    const candidates: number[] = [];
    for (let d = 1; d < days - 1; d++) {
      const dayStart = Math.floor((this.window.from + d * DAY) / DAY) * DAY;
      const wd = weekday(dayStart);
      if (wd >= 1 && wd <= 5 && dayStart >= this.window.from && dayStart + DAY <= this.window.to) candidates.push(dayStart);
    }
    const day = candidates.length > 0 ? this.rng.pick(candidates) : Math.floor(this.window.from / HOUR) * HOUR;
    const hour = day + this.rng.int(9, 16) * HOUR;
    return Math.min(Math.max(hour, this.window.from), this.window.to - HOUR);
  }

  noiseStreams(): void {
    const noise = this.spec.noise;
    for (const o of noise.oneOff) {
      const fromEnv = this.envOf(o.from);
      const toEnv = this.envOf(o.to);
      const client = fromEnv === undefined ? undefined : this.tierPool(o.from.app, fromEnv, o.from.tier);
      const server = toEnv === undefined ? undefined : this.tierPool(o.to.app, toEnv, o.to.tier);
      if (client === undefined || server === undefined) continue;
      const hour = this.businessHour();
      this.add({ client, server, proto: o.protocol === 'tcp' ? TCP : UDP, port: o.port, pattern: 'once', onceHour: hour, rate: 1, requestBytes: 40_000, responseBytes: 400_000, durationSeconds: 1200 });
      this.addNoise({
        kind: 'one-off',
        description: `${o.description ?? `one-off session ${o.from.app} ${fromEnv} ${o.from.tier} → ${o.to.app} ${toEnv} ${o.to.tier} ${o.protocol}/${o.port}`} (${iso(hour)})`,
        from: client.selector,
        to: server.selector,
        protocol: o.protocol,
        ports: [o.port],
      });
    }
    for (const e of noise.egress) {
      const server = this.saasPool(e.saas);
      if (server === undefined) continue;
      for (const env of e.from.env === undefined ? this.envs : [e.from.env]) {
        const client = this.tierPool(e.from.app, env, e.from.tier);
        if (client === undefined) continue;
        this.add({ client, server, proto: TCP, port: e.port, pattern: e.pattern, rate: e.perHour * this.envScale(env), requestBytes: 3000, responseBytes: e.bytes, durationSeconds: 3 });
        this.addNoise({ kind: 'internet-egress', description: `${e.from.app} ${env} ${e.from.tier} → SaaS ${e.saas} tcp/${e.port}`, from: client.selector, to: server.selector, protocol: 'tcp', ports: [e.port] });
      }
    }
    const rejected = noise.rejected;
    const cloudTiers = this.placed.tiers.filter((t) => t.placement === 'cloud');
    if (rejected !== undefined && cloudTiers.length > 0) {
      const internet = this.internetPool();
      const targets = cloudTiers.reduce((n, t) => n + t.endpoints.length, 0);
      for (const t of cloudTiers) {
        const pool = this.placedPool(t);
        for (const port of rejected.ports) {
          this.add({ client: internet, server: pool, proto: TCP, port, pattern: 'continuous', mode: 'server', reject: true, rate: rejected.perHour / (targets * rejected.ports.length), requestBytes: 0, responseBytes: 0, durationSeconds: 0 });
        }
        this.addNoise({ kind: 'rejected', description: `internet probes of ${t.app} ${t.env} that its security groups reject`, from: internet.selector, to: pool.selector, protocol: 'tcp', ports: rejected.ports.slice() });
      }
    }
    const scanner = noise.scanner;
    if (scanner !== undefined) {
      const targets = this.placed.tiers.filter((t) => t.placement === 'vm' || t.placement === 'infra' || t.placement === 'workstation').flatMap((t) => t.endpoints).sort((a, b) => a.v4 - b.v4);
      let hourStart = this.businessHour();
      if (scanner.day !== undefined) hourStart = Math.max(this.window.from, Math.min(this.window.to - HOUR, Math.floor(this.window.from / DAY) * DAY + scanner.day * DAY + 10 * HOUR));
      const address = parseAddress(scanner.address);
      const v4 = ((address[12] ?? 0) * 2 ** 24 + ((address[13] ?? 0) << 16) + ((address[14] ?? 0) << 8) + (address[15] ?? 0)) >>> 0;
      this.scan = {
        hourStart,
        source: { address: this.placed.address16(v4), v4, from: -Infinity, to: Infinity, workload: -1, zone: ZONES.datacentre, cloud: undefined },
        sourcePort: this.rng.int(EPHEMERAL_PORTS.first, EPHEMERAL_PORTS.last),
        targets,
        ports: scanner.ports.slice(),
      };
      this.addNoise({
        kind: 'scan',
        description: `SYN scan of ${targets.length} hosts × ${scanner.ports.length} ports from ${formatV4(v4)} at ${iso(hourStart)}`,
        from: { cidr: `${formatV4(v4)}/32` },
        to: { cidr: '10.0.0.0/8' },
        protocol: 'tcp',
        ports: scanner.ports.slice(),
      });
    }
  }

  /** Streams with a guaranteed hour each (an active hour of their pattern, drawn from the seed). */
  finishStreams(): Stream[] {
    const active = new Map<Pattern, number[]>();
    for (const pattern of ['business-hours', 'nightly', 'weekly', 'continuous'] as const) {
      const hours: number[] = [];
      for (let h = this.window.from; h < this.window.to; h += HOUR) if (patternFactor(pattern, h) > 0) hours.push(h);
      active.set(pattern, hours);
    }
    return this.streams.map((s): Stream => {
      const startsAt = s.startsAt ?? -Infinity;
      const hours = startsAt === -Infinity ? (active.get(s.pattern) ?? []) : (active.get(s.pattern) ?? []).filter((h) => h >= startsAt);
      const needsForcing = s.pattern !== 'once' && s.mode !== 'block-once' && s.fixed !== true && hours.length > 0;
      return {
        mode: 'client',
        fixed: false,
        sourcePort: 'ephemeral',
        rpcDynamic: false,
        reject: false,
        onceHour: -1,
        startsAt: -Infinity,
        ...s,
        forcedHour: needsForcing ? this.rng.pick(hours) : -1,
      };
    });
  }

  private activeIn(pattern: TruthEdge['pattern']): boolean {
    if (pattern === 'once') return true;
    for (let h = this.window.from; h < this.window.to; h += HOUR) if (patternFactor(pattern, h) > 0) return true;
    return false;
  }

  truth(seed: number): Truth {
    const sorted = <T extends { from: TruthSelector; to: TruthSelector; protocol: string; ports: TruthEdge['ports'] }>(map: Map<string, T>): T[] =>
      [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, v]) => v);
    return {
      scenario: this.spec.name,
      seed,
      window: { ...this.window },
      groupBy: GROUP_BY.slice(),
      // An edge whose pattern has no active hour in the window (business hours over a weekend)
      // has no flows there, so it is no dependency of this window.
      intended: sorted(this.intended).filter((e) => this.activeIn(e.pattern)),
      undocumented: sorted(this.undocumented).filter((e) => this.activeIn(e.pattern)),
      noise: sorted(this.noise),
    };
  }
}

/**
 * The estate of a scenario for a seed and a window. The scenario is validated (a validated one
 * passes unchanged); throws FLOWMAP_CONFIG_INVALID for a bad one. Costs O(workloads + streams);
 * flows are generated lazily by `flows()`.
 */
export function createEstate(scenario: ScenarioSpec | ScenarioInput, options: EstateOptions): SimulatedEstate {
  const spec = parseScenario(scenario, `'${(scenario as { name?: unknown }).name as string}'`);
  const seed = options.seed >>> 0;
  const days = options.days ?? 28;
  if (!Number.isInteger(days) || days < 1 || days > 3660) {
    throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `days = ${days}: must be a whole number of days from 1 to 3660`, { status: 400, details: { value: days } });
  }
  const to = endOf(options.end);
  const window = { from: to - days * DAY, to };
  const placed = placeWorkloads(spec, window, seed);
  const builder = new EstateBuilder(spec, placed, window, seed);
  builder.infrastructure();
  builder.dependencies();
  builder.noiseStreams();
  const model: TrafficModel = { seed, window, exporter: parseAddress(spec.exporter), pools: builder.pools, streams: builder.finishStreams(), scan: builder.scan };
  return {
    scenario: spec.name,
    seed,
    window: { ...window },
    workloads: placed.workloads,
    truth: builder.truth(seed),
    externals: spec.internet.saas.map((s) => ({ name: s.name, cidr: s.cidr })),
    exporter: spec.exporter,
    flows: () => generateFlows(model),
  };
}
