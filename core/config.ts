// Configuration: defaults, then an optional YAML file (--config / FLOWMAP_CONFIG), then environment
// variables, then command-line flags. One zod schema validates the merged result; every wrong value
// is reported on its own line with where it came from (file key or variable), the value, and what
// is allowed — the whole list at once, so a user fixes a config in one pass.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { FlowmapError } from './errors.js';

const port = z.coerce.number().int('must be a whole number').min(1, 'must be 1-65535').max(65535, 'must be 1-65535');
const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
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
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
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
      })
      .strict()
      .default({ prefix: 'flowmap' }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** Environment variables and the config keys they set. */
export const ENVIRONMENT: ReadonlyArray<readonly [variable: string, path: string, description: string]> = [
  ['FLOWMAP_CONFIG', '', 'YAML configuration file (keys as in the table)'],
  ['FLOWMAP_DATA', 'data', 'embedded-mode data directory (default ./data)'],
  ['FLOWMAP_LOG_LEVEL', 'log.level', `log level: ${LOG_LEVELS.join(', ')} (default info)`],
  ['FLOWMAP_API_HOST', 'api.host', 'address the HTTP API binds (default 127.0.0.1)'],
  ['FLOWMAP_API_PORT', 'api.port', 'HTTP API port (default 8080)'],
  ['CLICKHOUSE_URL', 'clickhouse.url', 'ClickHouse HTTP URL; when set, the store is ClickHouse (service mode)'],
  ['CLICKHOUSE_DATABASE', 'clickhouse.database', 'ClickHouse database (default flowmap; created by migrate)'],
  ['CLICKHOUSE_USER', 'clickhouse.user', 'ClickHouse user (default default)'],
  ['CLICKHOUSE_PASSWORD', 'clickhouse.password', 'ClickHouse password (default empty)'],
  ['REDIS_URL', 'redis.url', 'Redis URL; when set, jobs run on BullMQ (service mode)'],
  ['FLOWMAP_REDIS_PREFIX', 'redis.prefix', 'BullMQ key prefix (default flowmap)'],
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
    const where = origin.get(path) ?? path;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path === '' ? k : `${path}.${k}`));
      return `unknown setting ${keys.join(', ')}${file !== undefined ? ` in ${file}` : ''}; allowed: ${allowedKeys(issue.path).join(', ')}`;
    }
    const value = getPath(merged, issue.path);
    const shown = path.endsWith('password') ? '(hidden)' : typeof value === 'string' ? JSON.stringify(redactUrl(value)) : JSON.stringify(value);
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
  while (current instanceof z.ZodDefault || current instanceof z.ZodOptional) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}
