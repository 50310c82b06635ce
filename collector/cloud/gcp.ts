// GCP VPC Flow Logs as exported from Cloud Logging: one LogEntry per record, its flow in
// `jsonPayload` (connection 5-tuple, bytes_sent/packets_sent as int64 strings, RFC 3339
// start_time/end_time, reporter, src_/dest_instance, src_/dest_vpc).
//
// Exports come in three shapes and all three are read the same way: JSON lines (a Cloud Storage
// sink), one pretty-printed entry per file (what the console's "download" and the OTel corpus
// samples are), and a JSON array of entries (`gcloud logging read --format=json`). A small byte
// scanner cuts the input into top-level values (or the elements of a top-level array) by tracking
// strings and bracket depth, and only then calls JSON.parse on one entry: memory stays bounded by
// one entry (and `maxRecordBytes`), never the file.
//
// Resynchronising after damage: a raw line break inside a string is never valid JSON, and an
// exporter never writes a nested `{` at the start of a line (nested objects are indented, JSON
// lines are one entry per line), so a `{` in column 0 while an entry is still open means the open
// entry was cut off. It is skipped as malformed with its line and the new entry parsed, so one
// truncated line does not swallow the rest of a JSON-lines file.
//
// Mapping: the cloud_* fields describe the side that reported the flow (`reporter`): SRC reports
// from src_instance/src_vpc, DEST from dest_instance/dest_vpc, SRC_GATEWAY/DEST_GATEWAY from the
// gateway (a VPN tunnel or Interconnect attachment, which has no VM). The other side's instance, if
// present, is metadata GCP resolved and is not stored (the flow record has one set of cloud fields).
// VPC Flow Logs only log connections the firewall let through: a denied packet never reaches the
// VM's interface, so every record is `accept`. Firewall Rules Logging entries (which carry
// `disposition` ALLOWED/DENIED and no counters) are counted as unsupported, not guessed at.
// VPC Flow Logs sample packets at the rate the flow log config sets, and the entry carries no rate
// to scale by: bytes_sent/packets_sent are stored as the entry states them, sampling_rate 1.
import { tryParseAddress } from '../../core/ip.js';
import type { FlowRecord } from '../../core/flow.js';
import { cloudExporter, type CloudParser, type CloudSink, type CloudSkipReason } from './types.js';

export interface GcpVpcParserOptions {
  /** Name of the input. Unused by the parser: the ingest report already names file and line. */
  file?: string;
  /** An entry longer than this is skipped as malformed, so a line-less stream cannot grow memory. */
  maxRecordBytes?: number;
}

const DEFAULT_MAX_RECORD_BYTES = 1 << 20;

const BOM = [0xef, 0xbb, 0xbf];
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(b: number): boolean {
  return b === SPACE || b === LF || b === CR || b === TAB;
}

/**
 * What the scanner is inside: nothing; a bracketed value (an entry); a top-level line that does
 * not start a JSON object or array (skipped to its end); a non-object element of the top-level
 * array (skipped to the next `,` or `]`).
 */
type Kind = 'none' | 'value' | 'junk_line' | 'junk_element';

type Skip = { reason: CloudSkipReason; detail: string };

export function createGcpVpcParser(sink: CloudSink, options: GcpVpcParserOptions = {}): CloudParser {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const decoder = new TextDecoder('utf-8');

  let line = 1;
  let atLineStart = true;
  /** Bytes of a leading byte order mark seen so far; -1 once past the start. */
  let bomSeen = 0;
  let inArray = false;
  let arrayLine = 0;

  let kind: Kind = 'none';
  let startLine = 0;
  let depth = 0;
  let inString = false;
  let escape = false;
  let broken = '';
  let oversize = false;
  let parts: Uint8Array[] = [];
  let size = 0;

  const begin = (k: Kind): void => {
    kind = k;
    startLine = line;
    depth = 0;
    inString = false;
    escape = false;
    broken = '';
    oversize = false;
    parts = [];
    size = 0;
  };

  /** Keeps bytes [from, to) of the chunk as part of the open entry, within the size limit. */
  const keep = (chunk: Uint8Array, from: number, to: number): void => {
    if (kind !== 'value' || oversize || to <= from) return;
    size += to - from;
    if (size > maxRecordBytes) {
      oversize = true;
      parts = [];
      return;
    }
    // Copied: the caller may reuse its buffer once write() returns.
    parts.push(chunk.slice(from, to));
  };

  const skip = (reason: CloudSkipReason, at: number, detail: string): void => {
    sink.skip(reason, { line: at }, detail);
  };

  const finishValue = (): void => {
    const at = startLine;
    const text = oversize ? '' : decoder.decode(concat(parts, size));
    const wasOversize = oversize;
    const wasBroken = broken;
    kind = 'none';
    parts = [];
    if (wasOversize) return skip('malformed', at, `entry longer than ${maxRecordBytes} bytes`);
    if (wasBroken !== '') return skip('malformed', at, wasBroken);
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (error) {
      return skip('malformed', at, `not JSON (${(error as Error).message})`);
    }
    const result = gcpFlowOf(entry);
    if ('reason' in result) skip(result.reason, at, result.detail);
    else sink.flow(result);
  };

  const cutOff = (why: string): void => {
    const at = startLine;
    kind = 'none';
    parts = [];
    skip('malformed', at, why);
  };

  return {
    write(chunk: Uint8Array): void {
      let from = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i] as number;
        const lineStart = atLineStart;
        atLineStart = b === LF;
        if (bomSeen >= 0) {
          // A UTF-8 byte order mark, as some Windows tools write, is not content (it may come
          // split across writes like anything else).
          if (b === BOM[bomSeen]) {
            bomSeen = bomSeen === 2 ? -1 : bomSeen + 1;
            atLineStart = true;
            continue;
          }
          bomSeen = -1;
        }

        if (kind === 'value') {
          if (inString) {
            if (escape) escape = false;
            else if (b === BACKSLASH) escape = true;
            else if (b === QUOTE) inString = false;
            else if (b === LF) {
              // JSON strings never hold a raw line break: the line was cut inside a string.
              inString = false;
              if (broken === '') broken = 'entry cut off inside a string';
            }
          } else if (b === QUOTE) {
            inString = true;
          } else if (b === OPEN_BRACE && lineStart) {
            keep(chunk, from, i);
            cutOff(oversize ? `entry longer than ${maxRecordBytes} bytes` : 'entry cut off (a new entry starts on the next line)');
            begin('value');
            depth = 1;
            from = i;
          } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            depth++;
          } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
            depth--;
            if (depth === 0) {
              keep(chunk, from, i + 1);
              finishValue();
            }
          }
        } else if (kind === 'junk_line') {
          if (b === LF) {
            kind = 'none';
            skip('malformed', startLine, 'not JSON: a line that does not start a JSON object');
          }
        } else if (kind === 'junk_element') {
          if (inString) {
            if (escape) escape = false;
            else if (b === BACKSLASH) escape = true;
            else if (b === QUOTE) inString = false;
          } else if (b === QUOTE) {
            inString = true;
          } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            depth++;
          } else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && depth > 0) {
            depth--;
          } else if (depth === 0 && (b === COMMA || b === CLOSE_BRACKET)) {
            kind = 'none';
            skip('malformed', startLine, 'array element is not a LogEntry object');
            if (b === CLOSE_BRACKET) inArray = false;
          }
        } else if (isSpace(b)) {
          // Between entries.
        } else if (b === OPEN_BRACE) {
          begin('value');
          depth = 1;
          from = i;
        } else if (inArray) {
          if (b === COMMA) continue;
          if (b === CLOSE_BRACKET) inArray = false;
          else if (b === OPEN_BRACKET) {
            begin('junk_element');
            depth = 1;
          } else {
            begin('junk_element');
            inString = b === QUOTE;
          }
        } else if (b === OPEN_BRACKET) {
          inArray = true;
          arrayLine = line;
        } else {
          begin('junk_line');
        }
        if (b === LF) line++;
      }
      if (kind === 'value') keep(chunk, from, chunk.length);
    },

    end(): void {
      if (kind === 'value') cutOff(oversize ? `entry longer than ${maxRecordBytes} bytes` : 'input ended inside an entry (truncated file?)');
      else if (kind === 'junk_line') {
        kind = 'none';
        skip('malformed', startLine, 'not JSON: a line that does not start a JSON object');
      } else if (kind === 'junk_element') {
        kind = 'none';
        skip('malformed', startLine, 'input ended inside an array element (truncated file?)');
      }
      if (inArray) {
        inArray = false;
        skip('malformed', arrayLine, 'input ended inside the JSON array opened here (truncated file?)');
      }
    },
  };
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

type Obj = Record<string, unknown>;

function objectAt(value: unknown): Obj | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : undefined;
}

function stringAt(obj: Obj | undefined, key: string): string {
  const value = obj?.[key];
  return typeof value === 'string' ? value : '';
}

/**
 * An unsigned integer field, as a number or (proto3 JSON's int64) a decimal string; undefined when
 * absent, NaN when present but not a non-negative integer within `max`.
 */
function integerAt(obj: Obj, key: string, max: number): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  let n = NaN;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\d+$/.test(value)) n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= max ? n : NaN;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Unix seconds of an RFC 3339 timestamp (fraction dropped), undefined when it is not one. */
export function rfc3339Seconds(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  if (date.getUTCDate() !== day) return undefined; // 31 April and the like
  let seconds = ms / 1000;
  if (m[7] !== undefined) {
    const offset = (Number(m[8]) * 60 + Number(m[9])) * 60;
    seconds += m[7] === '+' ? -offset : offset;
  }
  return seconds;
}

const MAX_DATETIME = 0xffffffff;

/** One LogEntry → one flow, or why it is not one. */
export function gcpFlowOf(entry: unknown): FlowRecord | Skip {
  const root = objectAt(entry);
  if (root === undefined) return { reason: 'malformed', detail: 'a JSON value that is not a LogEntry object' };
  const payload = objectAt(root.jsonPayload);
  if (payload === undefined) return { reason: 'unsupported', detail: 'LogEntry without jsonPayload (not a VPC flow log entry)' };
  if (payload.disposition !== undefined) {
    return { reason: 'unsupported', detail: 'firewall rules log entry (disposition), not a VPC flow log entry' };
  }
  const connection = objectAt(payload.connection);
  if (connection === undefined) return { reason: 'missing_field', detail: 'jsonPayload.connection is absent' };

  for (const key of ['src_ip', 'dest_ip', 'protocol']) {
    if (connection[key] === undefined || connection[key] === null || connection[key] === '') {
      return { reason: 'missing_field', detail: `jsonPayload.connection.${key} is absent` };
    }
  }
  const srcText = connection.src_ip;
  const dstText = connection.dest_ip;
  const src = typeof srcText === 'string' ? tryParseAddress(srcText) : undefined;
  if (src === undefined) return { reason: 'bad_value', detail: `connection.src_ip ${JSON.stringify(srcText)} is not an IP address` };
  const dst = typeof dstText === 'string' ? tryParseAddress(dstText) : undefined;
  if (dst === undefined) return { reason: 'bad_value', detail: `connection.dest_ip ${JSON.stringify(dstText)} is not an IP address` };
  const proto = integerAt(connection, 'protocol', 255) as number;
  if (Number.isNaN(proto)) return { reason: 'bad_value', detail: `connection.protocol ${JSON.stringify(connection.protocol)} is not 0-255` };
  // Ports are absent for protocols without them (ICMP).
  const srcPort = integerAt(connection, 'src_port', 65535) ?? 0;
  const dstPort = integerAt(connection, 'dest_port', 65535) ?? 0;
  if (Number.isNaN(srcPort) || Number.isNaN(dstPort)) {
    return { reason: 'bad_value', detail: `connection ports ${JSON.stringify(connection.src_port)} / ${JSON.stringify(connection.dest_port)} are not 0-65535` };
  }

  const times: number[] = [];
  for (const key of ['start_time', 'end_time']) {
    const value = payload[key];
    if (value === undefined || value === null || value === '') return { reason: 'missing_field', detail: `jsonPayload.${key} is absent` };
    const seconds = typeof value === 'string' ? rfc3339Seconds(value) : undefined;
    if (seconds === undefined || seconds < 0 || seconds > MAX_DATETIME) {
      return { reason: 'bad_value', detail: `jsonPayload.${key} ${JSON.stringify(value)} is not an RFC 3339 time between 1970 and 2106` };
    }
    times.push(Math.floor(seconds));
  }
  const [timeStart = 0, timeEnd = 0] = times;

  // Counters are base fields GCP always writes; a record without them still says who talked.
  const bytes = integerAt(payload, 'bytes_sent', Number.MAX_SAFE_INTEGER) ?? 0;
  const packets = integerAt(payload, 'packets_sent', Number.MAX_SAFE_INTEGER) ?? 0;
  if (Number.isNaN(bytes)) return { reason: 'bad_value', detail: `jsonPayload.bytes_sent ${JSON.stringify(payload.bytes_sent)} is not a non-negative integer` };
  if (Number.isNaN(packets)) {
    return { reason: 'bad_value', detail: `jsonPayload.packets_sent ${JSON.stringify(payload.packets_sent)} is not a non-negative integer` };
  }

  const side = reportingSide(payload);
  const instance = objectAt(payload[`${side}_instance`]);
  const vpc = objectAt(payload[`${side}_vpc`]);
  const gateway = objectAt(payload[`${side}_gateway`]);
  const account = stringAt(instance, 'project_id') || stringAt(vpc, 'project_id') || stringAt(gateway, 'project_id');
  const region = stringAt(instance, 'region') || stringAt(vpc, 'subnetwork_region') || stringAt(gateway, 'region');

  return {
    time_received: timeEnd,
    time_start: timeStart,
    time_end: timeEnd,
    source: 'gcp_vpc',
    exporter: cloudExporter('gcp', account, region),
    src_addr: src,
    dst_addr: dst,
    src_port: srcPort,
    dst_port: dstPort,
    proto,
    bytes,
    packets,
    sampling_rate: 1,
    action: 'accept',
    cloud_account: account,
    cloud_region: region,
    cloud_vpc: stringAt(vpc, 'vpc_name') || stringAt(instance, 'vpc'),
    cloud_subnet: stringAt(vpc, 'subnetwork_name'),
    cloud_instance: stringAt(instance, 'vm_name'),
    cloud_interface: '',
    server_side: 'unknown',
  };
}

/**
 * 'src' or 'dest': the side whose metadata describes where the record was captured. Without a
 * reporter (not seen in real exports) the side that has instance metadata is taken, source first.
 */
function reportingSide(payload: Obj): 'src' | 'dest' {
  const reporter = payload.reporter;
  if (reporter === 'SRC' || reporter === 'SRC_GATEWAY') return 'src';
  if (reporter === 'DEST' || reporter === 'DEST_GATEWAY') return 'dest';
  if (objectAt(payload.src_instance) !== undefined || objectAt(payload.src_vpc) !== undefined) return 'src';
  return 'dest';
}
