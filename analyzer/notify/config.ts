// Configuration of notifications, with its defaults: syslog targets and the retry timetable of
// deliveries. core/config.ts holds the user-facing keys (`notify.syslog` as udp://… / tcp://…
// URLs, `notify.attempts`, `notify.backoffMs`); `parseSyslogTarget` turns one of those URLs into a
// SyslogTarget and `checkNotifierOptions` refuses values no delivery could work with.
import { FlowmapError } from '../../core/errors.js';
import { EVENT_TYPES, type EventType } from './events.js';

export interface SyslogTarget {
  host: string;
  port: number;
  /** RFC 5426 (one message per datagram) or RFC 6587 octet-counted TCP. */
  transport: 'udp' | 'tcp';
  /** rfc5424: JSON of the event as MSG, key fields as structured data. cef: a CEF record as MSG. */
  format: 'rfc5424' | 'cef';
  /**
   * RFC 5424 facility 0–23. Default 16 (local0): a facility for local use, so the events can be
   * routed on their own without mixing into the host's auth (4) or log audit (13) streams.
   */
  facility?: number;
  /** APP-NAME, 1–48 printable US-ASCII characters. Default `flowmap`. */
  appName?: string;
  /**
   * Longest message sent, bytes; longer ones are cut at a character boundary. Default 8192: what
   * rsyslog accepts by default. RFC 5426 asks UDP receivers to accept at least 2048, the minimum.
   */
  maxMessageBytes?: number;
  /** Which events go to this target. Default finding.new and report.completed (test pings are for webhooks). */
  events?: EventType[];
}

export interface NotifierOptions {
  syslog?: SyslogTarget[];
  /** Runs of one delivery in total, the first included. Default 12. */
  attempts?: number;
  /**
   * Wait before the first retry, doubled for each further one (retry n waits backoffMs·2^(n-1)).
   * Default 2000: 12 attempts then span about 68 minutes.
   */
  backoffMs?: number;
  /** Per attempt: connecting, sending and the receiver's answer. Default 10000. */
  timeoutMs?: number;
  /** Default `flowmap-webhooks/<version>`. */
  userAgent?: string;
  /** Webhook deliveries running at once in one worker process. Default 4. */
  concurrency?: number;
}

export const NOTIFY_DEFAULTS = {
  attempts: 12,
  backoffMs: 2000,
  timeoutMs: 10_000,
  concurrency: 4,
  facility: 16,
  appName: 'flowmap',
  maxMessageBytes: 8192,
  minMessageBytes: 2048,
  syslogEvents: ['finding.new', 'report.completed'] as EventType[],
} as const;

/** A target with every default filled in: what a syslog job carries. */
export type ResolvedSyslogTarget = Required<SyslogTarget>;

function invalid(message: string, details: Record<string, unknown>): FlowmapError {
  return new FlowmapError('FLOWMAP_CONFIG_INVALID', message, { details });
}

export function checkSyslogTarget(target: SyslogTarget): ResolvedSyslogTarget {
  const where = `syslog target ${target.transport}://${target.host}:${target.port}`;
  if (typeof target.host !== 'string' || target.host === '' || /[\s/[\]]/.test(target.host)) throw invalid(`${where}: host must be a name or an address without brackets`, { host: target.host });
  if (!(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535)) throw invalid(`${where}: port must be 1-65535`, { port: target.port });
  if (target.transport !== 'udp' && target.transport !== 'tcp') throw invalid(`${where}: transport must be udp or tcp`, { transport: target.transport });
  if (target.format !== 'rfc5424' && target.format !== 'cef') throw invalid(`${where}: format must be rfc5424 or cef`, { format: target.format });
  const facility = target.facility ?? NOTIFY_DEFAULTS.facility;
  if (!(Number.isInteger(facility) && facility >= 0 && facility <= 23)) throw invalid(`${where}: facility ${facility} is not allowed; RFC 5424 facilities are 0-23 (16-23: local0-local7)`, { facility });
  const appName = target.appName ?? NOTIFY_DEFAULTS.appName;
  if (!/^[\x21-\x7e]{1,48}$/.test(appName)) throw invalid(`${where}: appName must be 1-48 printable US-ASCII characters without spaces (RFC 5424 APP-NAME)`, { appName });
  const maxMessageBytes = target.maxMessageBytes ?? NOTIFY_DEFAULTS.maxMessageBytes;
  if (!(Number.isInteger(maxMessageBytes) && maxMessageBytes >= NOTIFY_DEFAULTS.minMessageBytes && maxMessageBytes <= 65_000)) {
    throw invalid(`${where}: maxMessageBytes ${maxMessageBytes} is not allowed; use ${NOTIFY_DEFAULTS.minMessageBytes}-65000`, { maxMessageBytes });
  }
  const events = target.events ?? [...NOTIFY_DEFAULTS.syslogEvents];
  if (!Array.isArray(events) || events.some((e) => !EVENT_TYPES.includes(e))) throw invalid(`${where}: events must be a list of ${EVENT_TYPES.join(', ')}`, { events });
  return { host: target.host, port: target.port, transport: target.transport, format: target.format, facility, appName, maxMessageBytes, events: [...new Set(events)] };
}

/**
 * `udp://HOST:PORT` or `tcp://HOST:PORT` (IPv6 in brackets), optionally `?format=cef` (default
 * rfc5424), `&facility=N`, `&app=NAME`: the form of `notify.syslog` entries.
 */
export function parseSyslogTarget(text: string): ResolvedSyslogTarget {
  const shape = /^(udp|tcp):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]?]+):(\d{1,5})(\?.*)?$/.exec(text);
  if (shape === null) throw invalid(`syslog target "${text.slice(0, 200)}" is not udp://HOST:PORT or tcp://HOST:PORT (optionally ?format=cef)`, { target: text.slice(0, 200) });
  const transport = shape[1] === 'tcp' ? 'tcp' : 'udp';
  const host = (shape[2] ?? '').replace(/^\[|\]$/g, '');
  const params = new URLSearchParams(shape[4]?.slice(1) ?? '');
  const target: SyslogTarget = { host, port: Number(shape[3]), transport, format: 'rfc5424' };
  for (const [key, value] of params) {
    if (key === 'format' && (value === 'rfc5424' || value === 'cef')) target.format = value;
    else if (key === 'facility' && /^\d{1,2}$/.test(value)) target.facility = Number(value);
    else if (key === 'app') target.appName = value;
    else throw invalid(`syslog target "${text.slice(0, 200)}": unknown or invalid option ${key}=${value.slice(0, 40)} (allowed: format=rfc5424|cef, facility=0-23, app=NAME)`, { target: text.slice(0, 200), key });
  }
  return checkSyslogTarget(target);
}

export interface ResolvedNotifierOptions {
  syslog: ResolvedSyslogTarget[];
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  userAgent: string;
  concurrency: number;
}

export function checkNotifierOptions(options: NotifierOptions, defaultUserAgent: string): ResolvedNotifierOptions {
  const attempts = options.attempts ?? NOTIFY_DEFAULTS.attempts;
  if (!(Number.isInteger(attempts) && attempts >= 1 && attempts <= 50)) throw invalid(`notify attempts ${attempts} is not allowed: use 1-50`, { attempts });
  const backoffMs = options.backoffMs ?? NOTIFY_DEFAULTS.backoffMs;
  if (!(Number.isFinite(backoffMs) && backoffMs >= 0 && backoffMs <= 3_600_000)) throw invalid(`notify backoffMs ${backoffMs} is not allowed: use 0-3600000`, { backoffMs });
  const timeoutMs = options.timeoutMs ?? NOTIFY_DEFAULTS.timeoutMs;
  if (!(Number.isFinite(timeoutMs) && timeoutMs >= 1 && timeoutMs <= 300_000)) throw invalid(`notify timeoutMs ${timeoutMs} is not allowed: use 1-300000`, { timeoutMs });
  const concurrency = options.concurrency ?? NOTIFY_DEFAULTS.concurrency;
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) throw invalid(`notify concurrency ${concurrency} is not allowed: use 1-64`, { concurrency });
  const userAgent = options.userAgent ?? defaultUserAgent;
  if (!/^[\x20-\x7e]{1,200}$/.test(userAgent)) throw invalid('notify userAgent must be 1-200 printable US-ASCII characters', { userAgent: userAgent.slice(0, 200) });
  return { syslog: (options.syslog ?? []).map(checkSyslogTarget), attempts, backoffMs, timeoutMs, userAgent, concurrency };
}
