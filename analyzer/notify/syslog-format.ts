// Syslog messages of events: RFC 5424 with a structured-data element and the event's JSON as MSG,
// or RFC 5424 carrying a CEF record as MSG (the way SIEMs take CEF over syslog). Pure functions
// from an event to text or bytes; sockets are syslog-transport.ts's business.
//
// The event's data crossed a job queue as JSON, so it is read defensively: a finding that does not
// look like one is described as a plain event rather than trusted.
import { z } from 'zod';
import { flowmapVersion } from '../../core/version.js';
import { describePorts, describeSelector, portsKey, selectorKey, SEVERITIES, type Severity } from '../policy/index.js';
import { NOTIFY_DEFAULTS, type SyslogTarget } from './config.js';
import { eventBody, type FlowmapEvent } from './events.js';

/**
 * The SD-ID of flowmap's structured-data element. flowmap has no IANA private enterprise number
 * of its own; 32473 is the one RFC 5612 reserves for documentation and examples.
 */
export const SD_ID = 'flowmap@32473';

/** RFC 5424 §6.2.1 severities: 2 critical, 3 error, 4 warning, 5 notice, 6 informational. */
export const SYSLOG_SEVERITY: Readonly<Record<Severity, number>> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** CEF severity 0–10: low 0–3, medium 4–6, high 7–8, very high 9–10 (the CEF specification's bands). */
export const CEF_SEVERITY: Readonly<Record<Severity, number>> = { critical: 10, high: 8, medium: 5, low: 3, info: 1 };

/** SD-PARAM values are capped so header + SD stay well under the smallest message size allowed (2048). */
const SD_VALUE_LENGTH = 64;
/** ArcSight's lengths for msg (1023 characters) and cs1–cs6 (4000). */
const CEF_MSG_LENGTH = 1023;
const CEF_CS_LENGTH = 4000;
/** Header fields are shorter than CEF allows, so syslog header + CEF header fit the smallest message size (2048 bytes) whole. */
const CEF_NAME_LENGTH = 256;
const CEF_CLASS_LENGTH = 64;
const CEF_VERSION_LENGTH = 32;

const SelectorShape = z.record(z.string(), z.string());
const PortShape = z.union([z.number().int(), z.object({ first: z.number().int(), last: z.number().int() })]);
const FindingShape = z.looseObject({
  id: z.string(),
  kind: z.string(),
  category: z.string().optional(),
  from: SelectorShape,
  to: SelectorShape,
  protocol: z.string(),
  ports: z.array(PortShape),
  severity: z.enum(SEVERITIES),
  explanation: z.string(),
  allowed: z.boolean().optional(),
  evidence: z.looseObject({ flows: z.number().optional(), firstSeen: z.string().optional(), lastSeen: z.string().optional() }).optional(),
});
const ReportShape = z.looseObject({ id: z.string(), baseline: z.string() });

/** What both formats say about an event. */
interface Description {
  severity: Severity;
  /** CEF Device Event Class ID. */
  signature: string;
  name: string;
  /** SD-PARAMs after event and type. */
  params: [string, string][];
  /** CEF extensions after rt and externalId, the free-text msg last (a cut message loses it first). */
  extensions: [string, string | number][];
  msg: string;
}

function describeEvent(event: FlowmapEvent): Description {
  if (event.type === 'finding.new') {
    const finding = FindingShape.safeParse(event.data.finding);
    if (finding.success) {
      const f = finding.data;
      const baseline = typeof event.data.baseline === 'string' ? event.data.baseline : undefined;
      const extensions: [string, string | number][] = [];
      if (f.category !== undefined) extensions.push(['cat', f.category]);
      extensions.push(['proto', /^[a-z0-9]+$/i.test(f.protocol) ? f.protocol.toUpperCase() : f.protocol]);
      const [only] = f.ports;
      if (f.ports.length === 1 && typeof only === 'number') extensions.push(['dpt', only]);
      extensions.push(['cs1Label', 'fromGroup'], ['cs1', selectorKey(f.from)], ['cs2Label', 'toGroup'], ['cs2', selectorKey(f.to)]);
      if (f.ports.length > 0) extensions.push(['cs3Label', 'ports'], ['cs3', portsKey(f.ports)]);
      extensions.push(['cs4Label', 'findingId'], ['cs4', f.id]);
      if (baseline !== undefined) extensions.push(['cs5Label', 'baseline'], ['cs5', baseline]);
      extensions.push(['cs6Label', 'kind'], ['cs6', f.kind]);
      const flows = f.evidence?.flows;
      if (flows !== undefined && Number.isSafeInteger(flows) && flows >= 0) extensions.push(['cnt', flows]);
      const first = f.evidence?.firstSeen === undefined ? NaN : Date.parse(f.evidence.firstSeen);
      const last = f.evidence?.lastSeen === undefined ? NaN : Date.parse(f.evidence.lastSeen);
      if (!Number.isNaN(first)) extensions.push(['start', first]);
      if (!Number.isNaN(last)) extensions.push(['end', last]);
      const what = f.category === undefined ? f.kind : `${f.kind} ${f.category}`;
      return {
        severity: f.severity,
        signature: `finding.new/${f.kind}`,
        name: `${what}: ${describeSelector(f.from)} -> ${describeSelector(f.to)} ${describePorts(f.protocol, f.ports)}`,
        params: [
          ['severity', f.severity],
          ['finding', f.id],
          ['kind', f.kind],
          ...(f.category === undefined ? [] : [['category', f.category] as [string, string]]),
          ...(baseline === undefined ? [] : [['baseline', baseline] as [string, string]]),
        ],
        extensions,
        msg: f.explanation,
      };
    }
  }
  if (event.type === 'report.completed') {
    const report = ReportShape.safeParse(event.data.report);
    if (report.success) {
      const { id, baseline } = report.data;
      return {
        severity: 'info',
        signature: 'report.completed',
        name: `report ${id} completed`,
        params: [['severity', 'info'], ['report', id], ['baseline', baseline]],
        extensions: [['cs1Label', 'report'], ['cs1', id], ['cs5Label', 'baseline'], ['cs5', baseline]],
        msg: `report ${id} of baseline ${baseline} is ready`,
      };
    }
  }
  const message = typeof event.data.message === 'string' ? event.data.message : `flowmap event ${event.type}`;
  return { severity: 'info', signature: event.type, name: event.type, params: [['severity', 'info']], extensions: [], msg: message };
}

export function syslogSeverity(event: FlowmapEvent): number {
  return SYSLOG_SEVERITY[describeEvent(event).severity];
}

export function cefSeverity(event: FlowmapEvent): number {
  return CEF_SEVERITY[describeEvent(event).severity];
}

// eslint-disable-next-line no-control-regex -- C0 controls and DEL are what is replaced
const CONTROL = /[\x00-\x1f\x7f]/g;

/** A header field (HOSTNAME, APP-NAME, PROCID, MSGID): 1*N PRINTUSASCII, else the NILVALUE. */
function headerField(value: string, max: number): string {
  const text = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return text === '' ? '-' : text;
}

/** At most `max` UTF-16 units without splitting a surrogate pair. */
function clip(value: string, max: number): string {
  if (value.length <= max) return value;
  const cut = value.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** RFC 5424 §6.3.3: '"', '\' and ']' in a PARAM-VALUE are escaped with a backslash. */
function sdValue(value: string): string {
  return clip(value, SD_VALUE_LENGTH).replace(CONTROL, ' ').replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** CEF header fields: '\' and '|' escaped; line breaks are not allowed there at all. */
function cefHeader(value: string, max: number): string {
  return clip(value, max).replace(CONTROL, ' ').replace(/[\\|]/g, (c) => `\\${c}`);
}

/** CEF extension values: '\' and '=' escaped, line breaks written as \n and \r, other controls as spaces. */
function cefValue(value: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- C0 controls and DEL are what is replaced
  return clip(value, max).replace(/[\\=\r\n]|[\x00-\x1f\x7f]/g, (c) => {
    if (c === '\\' || c === '=') return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return ' ';
  });
}

/**
 * `CEF:0|flowmap|flowmap|<version>|<class id>|<name>|<severity>|<extensions>`. The class id is the
 * event type, with the finding kind for findings (`finding.new/undocumented`). Extensions use the
 * standard keys where one fits — rt (event time), externalId (event id), cat (category), proto,
 * dpt (a single port), cnt (flows), start/end (first and last seen), msg — and cs1–cs6 with their
 * labels for what CEF has no key for: the from and to groups are label selectors, not addresses,
 * so they are cs1 (fromGroup) and cs2 (toGroup), never src/dst.
 */
export function formatCef(event: FlowmapEvent, options: { version?: string } = {}): string {
  const d = describeEvent(event);
  const header = ['CEF:0', 'flowmap', 'flowmap', cefHeader(options.version ?? flowmapVersion(), CEF_VERSION_LENGTH), cefHeader(d.signature, CEF_CLASS_LENGTH), cefHeader(d.name, CEF_NAME_LENGTH), String(CEF_SEVERITY[d.severity])];
  const extensions: [string, string | number][] = [['rt', Date.parse(event.time)], ['externalId', event.id], ...d.extensions, ['msg', d.msg]];
  const text = extensions.map(([key, value]) => `${key}=${cefValue(String(value), key === 'msg' ? CEF_MSG_LENGTH : CEF_CS_LENGTH)}`).join(' ');
  return `${header.join('|')}|${text}`;
}

export interface Rfc5424Options {
  /** HOSTNAME: this machine's name (os.hostname()); characters outside printable ASCII become '_'. */
  hostname: string;
  /** TIMESTAMP. Default the event's time: every retry then sends the same message. */
  now?: Date;
  /** PROCID. Default this process's id. */
  procId?: string | number;
}

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG` (RFC 5424 §6), PRI = facility·8 +
 * severity, MSGID the event type. For the rfc5424 format SD is one `[flowmap@32473 event="…"
 * type="…" severity="…" …]` element and MSG the event's JSON as MSG-UTF8 (with the BOM, §6.4).
 * For the cef format SD is the NILVALUE and MSG the CEF record as MSG-ANY: no BOM, since CEF
 * parsers expect the record to start with `CEF:`.
 */
export function formatRfc5424(event: FlowmapEvent, target: Pick<SyslogTarget, 'format' | 'facility' | 'appName'>, options: Rfc5424Options): string {
  const d = describeEvent(event);
  const facility = target.facility ?? NOTIFY_DEFAULTS.facility;
  const pri = facility * 8 + SYSLOG_SEVERITY[d.severity];
  const timestamp = (options.now ?? new Date(event.time)).toISOString();
  const header = [
    `<${pri}>1`,
    timestamp,
    headerField(options.hostname, 255),
    headerField(target.appName ?? NOTIFY_DEFAULTS.appName, 48),
    headerField(String(options.procId ?? process.pid), 128),
    headerField(event.type, 32),
  ].join(' ');
  if (target.format === 'cef') return `${header} - ${formatCef(event)}`;
  const params: [string, string][] = [['event', event.id], ['type', event.type], ...d.params];
  const sd = `[${SD_ID}${params.map(([name, value]) => ` ${name}="${sdValue(value)}"`).join('')}]`;
  return `${header} ${sd} \uFEFF${eventBody(event)}`;
}

/**
 * The message as sent: UTF-8, at most `maxMessageBytes`. A longer one is cut at a character
 * boundary (and, for CEF, never right after an escaping backslash); the header and SD stay whole,
 * since they are bounded well below the smallest size allowed.
 */
export function syslogMessage(event: FlowmapEvent, target: Pick<SyslogTarget, 'format' | 'facility' | 'appName' | 'maxMessageBytes'>, options: Rfc5424Options): Buffer {
  return truncateUtf8(formatRfc5424(event, target, options), target.maxMessageBytes ?? NOTIFY_DEFAULTS.maxMessageBytes, target.format === 'cef');
}

export function truncateUtf8(text: string, maxBytes: number, cef = false): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // A continuation byte (10xxxxxx) at the cut means a character straddles it: cut before its lead byte.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  if (cef) {
    let backslashes = 0;
    while (backslashes < end && bytes[end - 1 - backslashes] === 0x5c) backslashes += 1;
    if (backslashes % 2 === 1) end -= 1;
  }
  return bytes.subarray(0, end);
}
