// Configuration: defaults, then an optional YAML file (--config / FLOWMAP_CONFIG), then environment
// variables, then command-line flags. One zod schema validates the merged result; every wrong value
// is reported on its own line with where it came from (file key or variable), the value, and what
// is allowed — the whole list at once, so a user fixes a config in one pass.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { hostname } from 'node:os';
import { FlowmapError } from './errors.js';
import { parsePrefix } from './ip.js';

const port = z.coerce.number().int('must be a whole number').min(1, 'must be 1-65535').max(65535, 'must be 1-65535');
const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
/** A list from YAML, or from one comma-separated string (environment variables, flags). */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((part) => part.trim()).filter((part) => part !== '') : v),
    z.array(item),
  );
/** HOST:PORT with IPv6 hosts in brackets ([::]:2055); the host may be a name. */
const endpoint = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, { message: 'must be HOST:PORT, with an IPv6 host in brackets ([::]:2055)', abort: true }).refine((v) => {
  const port = Number(v.slice(v.lastIndexOf(':') + 1));
  return port >= 0 && port <= 65535;
}, 'port must be 0-65535 (0: any free port)');
const cidr = z.string().refine((v) => {
  try {
    parsePrefix(v);
    return true;
  } catch {
    return false;
  }
}, 'must be an address or prefix (192.0.2.0/24, 2001:db8::/32, 192.0.2.7)');
const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be letters, digits and _ (not starting with a digit)');

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z
  .object({
    data: z.string().min(1, 'must be a directory path').default('./data'),
    log: z.object({ level: z.enum(LOG_LEVELS).default('info') }).strict().default({ level: 'info' }),
    api: z
      .object({
        host: z.string().min(1, 'must be a host name or address').default('127.0.0.1'),
        port: port.default(8080),
        /** off: no tokens asked, every request acts as admin — refused unless the API listens on loopback only. */
        auth: z.enum(['on', 'off']).default('on'),
        /** Origins allowed cross-origin requests (CORS); empty: CORS off. */
        cors: list(z.string().regex(/^(\*|https?:\/\/[^\s/]+)$/, 'must be * or an origin like https://ui.example.net (scheme, host, optional port; no path)')).default([]),
        /** Requests per minute per token (per address without one), by route class. */
        rateLimit: z
          .object({
            read: z.coerce.number().int().min(1, 'must be at least 1').default(1200),
            write: z.coerce.number().int().min(1, 'must be at least 1').default(240),
            heavy: z.coerce.number().int().min(1, 'must be at least 1').default(60),
            upload: z.coerce.number().int().min(1, 'must be at least 1').default(60),
          })
          .strict()
          .prefault({}),
        /** Largest JSON body of a write route, bytes; policy and intents imports take 32 times this. */
        bodyLimitBytes: z.coerce.number().int().min(1024, 'must be at least 1024').max(1024 ** 3, 'must be at most 1 GiB').default(1024 * 1024),
      })
      .strict()
      .prefault({}),
    clickhouse: z
      .object({
        url: url(['http:', 'https:']).optional(),
        database: identifier.default('flowmap'),
        user: z.string().default('default'),
        password: z.string().default(''),
        requestTimeoutMs: z.coerce.number().int().min(1000, 'must be at least 1000').default(30_000),
      })
      .strict()
      .default({ database: 'flowmap', user: 'default', password: '', requestTimeoutMs: 30_000 }),
    redis: z
      .object({
        url: url(['redis:', 'rediss:']).optional(),
        prefix: identifier.default('flowmap'),
        jobLockMs: z.coerce.number().int().min(1000, 'must be at least 1000').max(3_600_000, 'must be at most 3600000').default(30_000),
      })
      .strict()
      .default({ prefix: 'flowmap', jobLockMs: 30_000 }),
    collector: z
      .object({
        listen: list(endpoint).default(['[::]:2055', '[::]:4739', '[::]:6343']),
        receiveBufferBytes: z.coerce.number().int().min(65_536, 'must be at least 65536').max(2 ** 31 - 1, 'must be below 2 GiB').default(32 * 1024 * 1024),
        allow: list(cidr).default([]),
        workers: z.coerce.number().int().min(0, 'must be 0 (one per spare core) or more').max(64, 'must be at most 64').default(0),
        batchRows: z.coerce.number().int().min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000').default(65_536),
        flushIntervalMs: z.coerce.number().int().min(10, 'must be at least 10').max(60_000, 'must be at most 60000').default(1000),
        spoolDir: z.string().min(1, 'must be a directory path').optional(),
        spoolMaxBytes: z.coerce.number().int().min(1024 * 1024, 'must be at least 1 MiB').default(1024 ** 3),
        servicePorts: list(z.string().regex(/^(tcp|udp|sctp)\/\d{1,5}(-\d{1,5})?$/, 'must be PROTO/PORT or PROTO/FIRST-LAST, e.g. tcp/9999 or udp/5000-5010')).default([]),
        samplingRate: z.coerce.number().int().min(1, 'must be at least 1').optional(),
        /** What a flow's time_received is: when its datagram arrived (default), or the flow's end time as the exporter reports it (replays, the demo). */
        timestamps: z.enum(['arrival', 'flow-end']).default('arrival'),
        id: z.string().min(1).max(128).default(hostname()),
      })
      .strict()
      .prefault({}),
    inventory: z
      .object({
        groupBy: list(z.string().regex(/^[A-Za-z0-9_./-]{1,63}$/, 'must be label keys, comma-separated (app,env)')).default(['app', 'env']),
        unlabeledPrefixV4: z.coerce.number().int().min(8, 'must be 8-32').max(32, 'must be 8-32').default(24),
        unlabeledPrefixV6: z.coerce.number().int().min(16, 'must be 16-128').max(128, 'must be 16-128').default(64),
        external: list(
          z.string().refine((v) => {
            const at = v.indexOf('=');
            if (at < 1 || ['internet', 'unlabeled'].includes(v.slice(0, at))) return false;
            try {
              parsePrefix(v.slice(at + 1));
              return true;
            } catch {
              return false;
            }
          }, 'must be NAME=CIDR, NAME not internet or unlabeled (saas-crm=198.51.100.0/24)'),
        ).default([]),
      })
      .strict()
      .prefault({}),
    baseline: z
      .object({
        days: z.coerce.number().int().min(1, 'must be at least 1 day').max(366, 'must be at most 366').default(28),
        cron: z
          .string()
          .regex(/^(off|@\w+|\S+(\s+\S+){4,5})$/, 'must be a cron expression (5 or 6 fields, or @weekly) or off')
          .default('15 2 * * 1'),
        keep: z.coerce.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000').default(52),
      })
      .strict()
      .prefault({}),
    reports: z
      .object({
        /** When the scheduled baseline report is made, or off (default Mondays 03:45, after the weekly baseline). */
        cron: z
          .string()
          .regex(/^(off|@\w+|\S+(\s+\S+){4,5})$/, 'must be a cron expression (5 or 6 fields, or @weekly) or off')
          .default('45 3 * * 1'),
        keep: z.coerce.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000').default(104),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({
        /** Syslog receivers of findings and reports: udp://HOST:PORT or tcp://HOST:PORT, ?format=cef for CEF (default RFC 5424 text). */
        syslog: list(z.string().regex(/^(udp|tcp):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]?]+):\d{1,5}(\?format=(rfc5424|cef))?$/, 'must be udp://HOST:PORT or tcp://HOST:PORT, optionally ?format=cef (tcp://siem.example.net:6514?format=cef)')).default([]),
        attempts: z.coerce.number().int().min(1, 'must be at least 1').max(50, 'must be at most 50').default(12),
        backoffMs: z.coerce.number().int().min(100, 'must be at least 100').max(3_600_000, 'must be at most 3600000').default(2000),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({ days: z.coerce.number().int().min(1, 'must be at least 1 day').max(36_500, 'must be at most 36500').default(35) })
      .strict()
      .prefault({}),
    ingest: z
      .object({
        firehoseAccessKey: z.string().min(1, 'must not be empty').max(4096, "must be at most 4096 bytes (Firehose's limit)").optional(),
        watch: list(
          z.string().regex(/^(aws-vpc|gcp-vpc|azure-nsg|azure-vnet)=.+$/, 'must be FORMAT=DIRECTORY with FORMAT one of aws-vpc, gcp-vpc, azure-nsg, azure-vnet (aws-vpc=/var/flowlogs/aws)'),
        ).default([]),
        watchIntervalMs: z.coerce.number().int().min(100, 'must be at least 100').max(3_600_000, 'must be at most 3600000').default(10_000),
        watchAfter: z.enum(['move', 'delete', 'keep']).default('move'),
        awsFormat: z.string().min(1).max(4096).optional(),
        uploadMaxBytes: z.coerce.number().int().min(1024, 'must be at least 1024').max(2 ** 40, 'must be at most 1 TiB').default(2 * 1024 ** 3),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.api.auth === 'off' && !isLoopback(config.api.host)) {
      ctx.addIssue({ code: 'custom', path: ['api', 'auth'], message: `may be off only when api.host is loopback (127.0.0.1, ::1 or localhost), not ${config.api.host}` });
    }
  });

/** Whether a listen address reaches this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export type Config = z.infer<typeof configSchema>;

/** Environment variables and the config keys they set. */
export const ENVIRONMENT: ReadonlyArray<readonly [variable: string, path: string, description: string]> = [
  ['FLOWMAP_CONFIG', '', 'YAML configuration file (keys as in the table)'],
  ['FLOWMAP_DATA', 'data', 'embedded-mode data directory (default ./data)'],
  ['FLOWMAP_LOG_LEVEL', 'log.level', `log level: ${LOG_LEVELS.join(', ')} (default info)`],
  ['FLOWMAP_API_HOST', 'api.host', 'address the HTTP API binds (default 127.0.0.1)'],
  ['FLOWMAP_API_PORT', 'api.port', 'HTTP API port (default 8080)'],
  ['FLOWMAP_API_AUTH', 'api.auth', 'on (default): every /api/v1 route needs a token; off: none asked, allowed only when api.host is loopback (127.0.0.1, ::1, localhost)'],
  ['FLOWMAP_API_CORS', 'api.cors', 'origins allowed cross-origin requests, comma-separated (default none: CORS off)'],
  ['FLOWMAP_API_RATE_READ', 'api.rateLimit.read', 'requests per minute per token on read routes (default 1200)'],
  ['FLOWMAP_API_RATE_WRITE', 'api.rateLimit.write', 'requests per minute per token on write routes (default 240)'],
  ['FLOWMAP_API_RATE_HEAVY', 'api.rateLimit.heavy', 'requests per minute per token on expensive routes: baselines, simulation, exports, reports, flow search (default 60)'],
  ['FLOWMAP_API_RATE_UPLOAD', 'api.rateLimit.upload', 'requests per minute per token on file uploads (default 60)'],
  ['FLOWMAP_API_BODY_LIMIT', 'api.bodyLimitBytes', 'largest JSON request body, bytes; imports take 32 times this (default 1048576)'],
  ['CLICKHOUSE_URL', 'clickhouse.url', 'ClickHouse HTTP URL; when set, the store is ClickHouse (service mode)'],
  ['CLICKHOUSE_DATABASE', 'clickhouse.database', 'ClickHouse database (default flowmap; created by migrate)'],
  ['CLICKHOUSE_USER', 'clickhouse.user', 'ClickHouse user (default default)'],
  ['CLICKHOUSE_PASSWORD', 'clickhouse.password', 'ClickHouse password (default empty)'],
  ['REDIS_URL', 'redis.url', 'Redis URL; when set, jobs run on BullMQ (service mode)'],
  ['FLOWMAP_REDIS_PREFIX', 'redis.prefix', 'BullMQ key prefix (default flowmap)'],
  ['FLOWMAP_JOB_LOCK_MS', 'redis.jobLockMs', 'lock of a running job, ms; a job whose worker died is retried by another worker after about this long (default 30000)'],
  ['FLOWMAP_COLLECTOR_LISTEN', 'collector.listen', 'UDP endpoints, comma-separated HOST:PORT (default [::]:2055,[::]:4739,[::]:6343; the protocol is recognised per datagram)'],
  ['FLOWMAP_COLLECTOR_RCVBUF', 'collector.receiveBufferBytes', 'socket receive buffer asked for, bytes (default 33554432; the kernel caps it at net.core.rmem_max, logged at start)'],
  ['FLOWMAP_COLLECTOR_ALLOW', 'collector.allow', 'exporters accepted, comma-separated prefixes (default: all); others are counted and dropped'],
  ['FLOWMAP_COLLECTOR_WORKERS', 'collector.workers', 'decoder threads (default 0: one per core beyond the first, at least 1)'],
  ['FLOWMAP_COLLECTOR_BATCH_ROWS', 'collector.batchRows', 'flows per insert batch (default 65536)'],
  ['FLOWMAP_COLLECTOR_FLUSH_MS', 'collector.flushIntervalMs', 'longest a flow waits before its batch is inserted, ms (default 1000)'],
  ['FLOWMAP_SPOOL_DIR', 'collector.spoolDir', 'where batches wait while the store is down (default <data>/spool)'],
  ['FLOWMAP_SPOOL_MAX_BYTES', 'collector.spoolMaxBytes', 'spool size bound; past it batches are dropped and counted (default 1073741824)'],
  ['FLOWMAP_SERVICE_PORTS', 'collector.servicePorts', 'extra server ports for orientation, e.g. tcp/9999,udp/5000-5010'],
  ['FLOWMAP_SAMPLING_RATE', 'collector.samplingRate', 'sampling rate for exporters that announce none (default: 1, counted as unknown)'],
  ['FLOWMAP_COLLECTOR_TIMESTAMPS', 'collector.timestamps', 'the time a flow is stored under: arrival (default; exporter clocks drift) or flow-end (the exporter\'s end time, for replayed captures and the demo; never later than arrival + 60 s)'],
  ['FLOWMAP_COLLECTOR_ID', 'collector.id', 'name of this collector in the exporters table (default the host name)'],
  ['FLOWMAP_FIREHOSE_ACCESS_KEY', 'ingest.firehoseAccessKey', 'access key Amazon Data Firehose must send (X-Amz-Firehose-Access-Key) to POST /api/v1/firehose/aws-vpc; unset: the endpoint is off'],
  ['FLOWMAP_INGEST_WATCH', 'ingest.watch', 'directories the collector ingests flow-log files from, comma-separated FORMAT=DIR (aws-vpc=/var/flowlogs/aws)'],
  ['FLOWMAP_INGEST_WATCH_INTERVAL_MS', 'ingest.watchIntervalMs', 'how often watched directories are read, ms; a file is taken once its size and time stayed the same for one interval (default 10000)'],
  ['FLOWMAP_INGEST_WATCH_AFTER', 'ingest.watchAfter', 'what happens to an ingested file: move (into done/, failed ones into failed/), delete, or keep (default move)'],
  ['FLOWMAP_INGEST_AWS_FORMAT', 'ingest.awsFormat', 'AWS VPC custom format of lines without a header line, for watched files, uploads and Firehose (${version} ${srcaddr} … or bare names)'],
  ['FLOWMAP_INGEST_UPLOAD_MAX_BYTES', 'ingest.uploadMaxBytes', 'largest flow-log file POST /api/v1/flowlogs/{format} takes; larger uploads get 413 (default 2147483648)'],
  ['FLOWMAP_INVENTORY_GROUP_BY', 'inventory.groupBy', 'label keys that make a group (default app,env)'],
  ['FLOWMAP_INVENTORY_UNLABELED_V4', 'inventory.unlabeledPrefixV4', 'prefix length of the unlabeled group of a private IPv4 address (default 24)'],
  ['FLOWMAP_INVENTORY_UNLABELED_V6', 'inventory.unlabeledPrefixV6', 'prefix length of the unlabeled group of a private IPv6 address (default 64)'],
  ['FLOWMAP_INVENTORY_EXTERNAL', 'inventory.external', 'known external ranges as named groups, comma-separated NAME=CIDR (saas-crm=198.51.100.0/24)'],
  ['FLOWMAP_BASELINE_DAYS', 'baseline.days', 'window of a baseline, days before its end (default 28)'],
  ['FLOWMAP_BASELINE_CRON', 'baseline.cron', 'when the scheduled baseline runs, cron in the worker\'s time zone, or off (default 15 2 * * 1: Mondays 02:15)'],
  ['FLOWMAP_BASELINE_KEEP', 'baseline.keep', 'baselines kept; older ones (and their host pairs) are deleted after each new one (default 52)'],
  ['FLOWMAP_REPORTS_CRON', 'reports.cron', 'when the scheduled baseline report is made, cron in the worker\'s time zone, or off (default 45 3 * * 1: Mondays 03:45, after the weekly baseline)'],
  ['FLOWMAP_REPORTS_KEEP', 'reports.keep', 'reports kept; older ones are deleted (default 104)'],
  ['FLOWMAP_NOTIFY_SYSLOG', 'notify.syslog', 'syslog receivers of new findings and reports, comma-separated udp://HOST:PORT or tcp://HOST:PORT, ?format=cef for CEF'],
  ['FLOWMAP_NOTIFY_ATTEMPTS', 'notify.attempts', 'delivery attempts of a webhook or syslog message before it is given up (default 12)'],
  ['FLOWMAP_NOTIFY_BACKOFF_MS', 'notify.backoffMs', 'wait before the first retry, doubled on each further one (default 2000)'],
  ['FLOWMAP_RETENTION_DAYS', 'retention.days', 'days of flows kept; older day partitions are dropped (default 35)'],
];

/** Command-line flags and the config paths they set, for naming a flag in an error. */
const FLAG_NAMES: Record<string, string> = { data: '--data', 'log.level': '--log-level', 'api.host': '--host', 'api.port': '--port' };

/** A URL without its password (and user name kept), for logs and error messages. */
export function redactUrl(text: string): string {
  try {
    const parsed = new URL(text);
    if (parsed.password === '' && parsed.username === '') return text;
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL, but it may still carry "user:secret@" credentials.
    return text.replace(/\/\/([^/@\s]*):[^/@\s]*@/, '//$1:***@');
  }
}

export type Mode = 'embedded' | 'service';

/** Service mode when ClickHouse is configured; Redis alone does not make a service-mode store. */
export function modeOf(config: Config): Mode {
  return config.clickhouse.url !== undefined ? 'service' : 'embedded';
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1] ?? ''] = value;
}

function getPath(tree: unknown, path: (string | number | symbol)[]): unknown {
  let node = tree;
  for (const key of path) {
    // A list given as one comma-separated string (environment, flags): index into its parts.
    if (typeof node === 'string' && typeof key === 'number') node = node.split(',').map((part) => part.trim()).filter((part) => part !== '');
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key as string];
  }
  return node;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a YAML file; overrides FLOWMAP_CONFIG. */
  file?: string;
  /** Values from command-line flags, by config path (e.g. { data: './x', 'api.port': '9000' }). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const merged: Tree = {};
  const origin = new Map<string, string>();

  const file = options.file ?? (env.FLOWMAP_CONFIG !== undefined && env.FLOWMAP_CONFIG !== '' ? env.FLOWMAP_CONFIG : undefined);
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new FlowmapError('FLOWMAP_CONFIG_FILE', `cannot read configuration file ${file}: ${err instanceof Error ? err.message : String(err)}`, {
        details: { file },
        cause: err,
      });
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new FlowmapError('FLOWMAP_CONFIG_FILE', `configuration file ${file} must hold a YAML mapping (key: value), not ${Array.isArray(parsed) ? 'a list' : typeof parsed}`, {
          details: { file },
        });
      }
      Object.assign(merged, parsed);
      const mark = (node: unknown, prefix: string): void => {
        if (typeof node !== 'object' || node === null || Array.isArray(node)) {
          origin.set(prefix, `${file}: ${prefix}`);
          return;
        }
        for (const [key, value] of Object.entries(node)) mark(value, prefix === '' ? key : `${prefix}.${key}`);
      };
      mark(parsed, '');
    }
  }

  for (const [variable, path] of ENVIRONMENT) {
    const value = env[variable];
    if (path === '' || value === undefined || value === '') continue;
    setPath(merged, path, value);
    origin.set(path, variable);
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(merged, path, value);
    origin.set(path, FLAG_NAMES[path] ?? `--${path}`);
  }

  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;

  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    let where = path;
    for (let n = issue.path.length; n > 0; n--) {
      const found = origin.get(issue.path.slice(0, n).map(String).join('.'));
      if (found !== undefined) {
        where = found;
        break;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path === '' ? k : `${path}.${k}`));
      return `unknown setting ${keys.join(', ')}${file !== undefined ? ` in ${file}` : ''}; allowed: ${allowedKeys(issue.path).join(', ')}`;
    }
    const value = getPath(merged, issue.path);
    const shown = path.endsWith('password') || path.endsWith('AccessKey') ? '(hidden)' : typeof value === 'string' ? JSON.stringify(redactUrl(value)) : JSON.stringify(value);
    return `${path}${where !== path ? ` (from ${where})` : ''} = ${shown}: ${issue.message}`;
  });
  throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { details: { problems } });
}

function allowedKeys(path: PropertyKey[]): string[] {
  let schema: z.ZodType = configSchema;
  for (const key of path) {
    const unwrapped = unwrap(schema);
    if (!(unwrapped instanceof z.ZodObject)) return [];
    const shape = unwrapped.shape as Record<string, z.ZodType>;
    const next = shape[String(key)];
    if (next === undefined) return [];
    schema = next;
  }
  const unwrapped = unwrap(schema);
  return unwrapped instanceof z.ZodObject ? Object.keys(unwrapped.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}
