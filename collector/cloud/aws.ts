// AWS VPC Flow Logs as text: one record a line, fields separated by spaces, `-` for a field that has
// no value in this record. Which field is where is the log's format, and it comes from (in order of
// authority): a header line of field names in the file itself (S3 delivery writes one, e.g.
// `version account-id interface-id srcaddr …`, and a concatenation of files repeats it, so every
// header line resets the format); the format configured for the flow log (`${version} ${srcaddr} …`
// as AWS shows it, or bare names); else AWS's default version-2 format of 14 fields.
//
// Without a header or a configured format, a line whose field count is not 14 is matched against the
// other layouts AWS writes when a user picks "all fields" (every field of versions 2-5, 7 and 8 in
// the order of AWS's field table, and the Transit Gateway default): those are what S3 exports
// without a header line and what Elastic's pipeline recognises by count. Any other count is
// malformed, with its line.
//
// Mapping. srcaddr/dstaddr are stored, not pkt-srcaddr/pkt-dstaddr: behind a NAT gateway or for
// traffic through an intermediate interface the pkt-* fields name the packet's original endpoints,
// but srcaddr/dstaddr are the addresses of the flow as seen on the logged interface, which is what
// the interface's cloud_* fields describe and what a segmentation policy on that interface matches.
// The pkt-* addresses, type, az-id, sublocation-*, *-aws-service, flow-direction, traffic-path, the
// ecs-* and tgw-* fields have no column in the flow record and are read past. NODATA and SKIPDATA
// records are counted, not stored (they carry no traffic, and SKIPDATA's counters are not flows).
import { tryParseAddress } from '../../core/ip.js';
import type { FlowAction, FlowRecord } from '../../core/flow.js';
import { cloudExporter, type CloudParser, type CloudSink, type CloudSkipReason } from './types.js';

export interface AwsVpcParserOptions {
  /** The flow log's format: space-separated field names, `${version} ${account-id} …` or `version account-id …`. */
  format?: string;
  /** Name of the input. Unused by the parser: the ingest report already names file and line. */
  file?: string;
  /** A line longer than this is skipped as malformed, so a line-less stream cannot grow memory. */
  maxLineBytes?: number;
  /**
   * The time, in seconds, of a record whose format has neither `start` nor `end` (a custom format
   * that left them out): a CloudWatch Logs event carries its own timestamp (the Firehose path).
   * Without it such records are skipped as missing_field: a file alone does not say when.
   */
  timeWhenAbsent?: () => number | undefined;
}

const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

/** AWS's default format (version 2). */
export const AWS_DEFAULT_FORMAT = [
  'version', 'account-id', 'interface-id', 'srcaddr', 'dstaddr', 'srcport', 'dstport',
  'protocol', 'packets', 'bytes', 'start', 'end', 'action', 'log-status',
] as const;

// Every VPC field in the order of AWS's field table, by the version that introduced it. A headerless
// line with all fields up to some version has exactly one of these lengths.
const V3_FIELDS = ['vpc-id', 'subnet-id', 'instance-id', 'tcp-flags', 'type', 'pkt-srcaddr', 'pkt-dstaddr'];
const V4_FIELDS = ['region', 'az-id', 'sublocation-type', 'sublocation-id'];
const V5_FIELDS = ['pkt-src-aws-service', 'pkt-dst-aws-service', 'flow-direction', 'traffic-path'];
const V7_FIELDS = [
  'ecs-cluster-arn', 'ecs-cluster-name', 'ecs-container-instance-arn', 'ecs-container-instance-id', 'ecs-container-id',
  'ecs-second-container-id', 'ecs-service-name', 'ecs-task-definition-arn', 'ecs-task-arn', 'ecs-task-id',
];
const V8_FIELDS = ['reject-reason'];
/** Transit Gateway flow logs' default format (their version 6). */
const TGW_DEFAULT_FORMAT = [
  'version', 'resource-type', 'account-id', 'tgw-id', 'tgw-attachment-id', 'tgw-src-vpc-account-id',
  'tgw-dst-vpc-account-id', 'tgw-src-vpc-id', 'tgw-dst-vpc-id', 'tgw-src-subnet-id', 'tgw-dst-subnet-id',
  'tgw-src-eni', 'tgw-dst-eni', 'tgw-src-az-id', 'tgw-dst-az-id', 'tgw-pair-attachment-id', 'srcaddr',
  'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end', 'log-status', 'type',
  'packets-lost-no-route', 'packets-lost-blackhole', 'packets-lost-mtu-exceeded', 'packets-lost-ttl-expired',
  'tcp-flags', 'region', 'flow-direction', 'pkt-src-aws-service', 'pkt-dst-aws-service',
];

const ALL_FIELDS_LAYOUTS: readonly (readonly string[])[] = (() => {
  const v3 = [...AWS_DEFAULT_FORMAT, ...V3_FIELDS];
  const v4 = [...v3, ...V4_FIELDS];
  const v5 = [...v4, ...V5_FIELDS];
  const v7 = [...v5, ...V7_FIELDS];
  const v8 = [...v7, ...V8_FIELDS];
  return [AWS_DEFAULT_FORMAT, v3, v4, v5, v7, v8, TGW_DEFAULT_FORMAT];
})();
const LAYOUT_BY_COUNT = new Map(ALL_FIELDS_LAYOUTS.map((layout) => [layout.length, layout]));

/** Names a header line may contain; a line of name-shaped words naming at least one is a header. */
const KNOWN_FIELDS = new Set<string>(ALL_FIELDS_LAYOUTS.flat());
const NAME_SHAPE = /^[a-z][a-z0-9-]*$/;

/** The fields the parser reads, as column indexes into a line (-1: not in this format). */
interface Format {
  readonly fieldCount: number;
  readonly names: readonly string[];
  readonly at: Readonly<Record<Wanted, number>>;
}

const WANTED = [
  'account-id', 'interface-id', 'srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes',
  'start', 'end', 'action', 'log-status', 'vpc-id', 'subnet-id', 'instance-id', 'tcp-flags', 'region',
] as const;
type Wanted = (typeof WANTED)[number];

function formatOf(names: readonly string[]): Format {
  const at = {} as Record<Wanted, number>;
  for (const field of WANTED) at[field] = names.indexOf(field);
  return { fieldCount: names.length, names, at };
}

/** `${a} ${b}` or `a b` into names; AWS's console shows the first, S3 headers use the second. */
function parseFormatText(text: string): string[] {
  return text
    .trim()
    .split(/\s+/)
    .filter((token) => token !== '')
    .map((token) => token.replace(/^\$\{(.*)\}$/, '$1'));
}

function isHeader(tokens: readonly string[]): boolean {
  let known = false;
  for (const token of tokens) {
    const name = token.replace(/^\$\{(.*)\}$/, '$1');
    if (!NAME_SHAPE.test(name)) return false;
    if (KNOWN_FIELDS.has(name)) known = true;
  }
  return known;
}

const DIGITS = /^\d+$/;

class BadValue extends Error {}

/** An unsigned integer field; '-' or an absent field is `absent`; anything else out of range throws BadValue. */
function unsigned(tokens: readonly string[], index: number, name: string, max: number, absent: number): number {
  const text = index < 0 ? '-' : tokens[index] ?? '-';
  if (text === '-') return absent;
  if (!DIGITS.test(text)) throw new BadValue(`${name} '${text}' is not a non-negative integer`);
  const value = Number(text);
  if (value > max) throw new BadValue(`${name} ${text} is larger than ${max}`);
  return value;
}

function text(tokens: readonly string[], index: number): string {
  const value = index < 0 ? '-' : tokens[index] ?? '-';
  return value === '-' ? '' : value;
}

const ACTIONS: Record<string, FlowAction> = { ACCEPT: 'accept', REJECT: 'reject', '-': 'unknown' };

/**
 * A parser for AWS VPC (and Transit Gateway) flow log text, gzip already undone. Memory is bounded by
 * `maxLineBytes`; nothing throws on input: every line that is not a flow is passed to `sink.skip`.
 */
export function createAwsVpcParser(sink: CloudSink, options: AwsVpcParserOptions = {}): CloudParser {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const configured = options.format !== undefined && options.format.trim() !== '' ? formatOf(parseFormatText(options.format)) : undefined;
  // Set by a header line; until then the configured format, else inferred by field count.
  let fromHeader: Format | undefined;
  const inferred = new Map<number, Format>();
  const exporters = new Map<string, Uint8Array>();
  const decoder = new TextDecoder('utf-8');

  // Bytes of the current line not yet ended by a newline, kept as chunks so a line split across
  // writes (or a multi-byte character split across them) is decoded once, whole.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let overlong = false;
  let lineNumber = 0;

  function exporterFor(account: string, region: string): Uint8Array {
    const key = `${account}\n${region}`;
    let exporter = exporters.get(key);
    if (exporter === undefined) {
      exporter = cloudExporter('aws', account, region);
      exporters.set(key, exporter);
    }
    return exporter;
  }

  function skip(reason: CloudSkipReason, detail: string): void {
    sink.skip(reason, { line: lineNumber }, detail);
  }

  function formatFor(count: number): Format | undefined {
    const fixed = fromHeader ?? configured;
    if (fixed !== undefined) return fixed.fieldCount === count ? fixed : undefined;
    let format = inferred.get(count);
    if (format === undefined) {
      const layout = LAYOUT_BY_COUNT.get(count);
      if (layout === undefined) return undefined;
      format = formatOf(layout);
      inferred.set(count, format);
    }
    return format;
  }

  function handleLine(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (trimmed === '') return;
    // Runs of spaces count as one separator: AWS's own documented examples contain a double space.
    const tokens = trimmed.split(/\s+/);
    if (isHeader(tokens)) {
      fromHeader = formatOf(parseFormatText(trimmed));
      return;
    }
    const format = formatFor(tokens.length);
    if (format === undefined) {
      const fixed = fromHeader ?? configured;
      const expected = fixed !== undefined ? `${fixed.fieldCount} (${fromHeader !== undefined ? 'header line' : 'configured format'})` : `14 (default format) or an all-fields layout (${[...LAYOUT_BY_COUNT.keys()].filter((n) => n !== 14).join(', ')})`;
      skip('malformed', `${tokens.length} fields, expected ${expected}`);
      return;
    }
    const at = format.at;
    const status = at['log-status'] < 0 ? 'OK' : tokens[at['log-status']] ?? '-';
    if (status === 'NODATA') return skip('nodata', 'NODATA: no traffic on the interface in this capture window');
    if (status === 'SKIPDATA') return skip('skipdata', 'SKIPDATA: AWS dropped flow records in this capture window');
    if (status !== 'OK' && status !== '-') return skip('unsupported', `log-status '${status}' is not OK, NODATA or SKIPDATA`);

    for (const field of ['srcaddr', 'dstaddr'] as const) {
      if (at[field] < 0) return skip('missing_field', `the format has no ${field}`);
      if (tokens[at[field]] === '-') return skip('missing_field', `${field} is '-'`);
    }
    const fallback = at.start < 0 && at.end < 0 ? options.timeWhenAbsent?.() : undefined;
    if (fallback === undefined && (at.start < 0 || tokens[at.start] === '-') && (at.end < 0 || tokens[at.end] === '-')) {
      return skip('missing_field', at.start < 0 && at.end < 0 ? 'the format has neither start nor end' : 'neither start nor end is given');
    }
    const srcText = tokens[at.srcaddr] ?? '';
    const dstText = tokens[at.dstaddr] ?? '';
    const src = tryParseAddress(srcText);
    if (src === undefined) return skip('bad_value', `srcaddr '${srcText}' is not an IP address`);
    const dst = tryParseAddress(dstText);
    if (dst === undefined) return skip('bad_value', `dstaddr '${dstText}' is not an IP address`);
    const actionText = at.action < 0 ? '-' : tokens[at.action] ?? '-';
    const action = ACTIONS[actionText];
    if (action === undefined) return skip('bad_value', `action '${actionText}' is not ACCEPT or REJECT`);

    let record: FlowRecord;
    try {
      const start = unsigned(tokens, at.start, 'start', 0xffffffff, -1);
      const end = unsigned(tokens, at.end, 'end', 0xffffffff, -1);
      // One of the two is present (checked above), or neither is in the format and the fallback
      // stands for both; a record with only one has a zero-length window.
      const timeStart = start >= 0 ? start : end >= 0 ? end : (fallback as number);
      const timeEnd = end >= 0 ? end : start >= 0 ? start : (fallback as number);
      const account = text(tokens, at['account-id']);
      const region = text(tokens, at.region);
      record = {
        time_received: timeEnd,
        time_start: timeStart,
        time_end: timeEnd,
        source: 'aws_vpc',
        exporter: exporterFor(account, region),
        src_addr: src,
        dst_addr: dst,
        src_port: unsigned(tokens, at.srcport, 'srcport', 0xffff, 0),
        dst_port: unsigned(tokens, at.dstport, 'dstport', 0xffff, 0),
        proto: unsigned(tokens, at.protocol, 'protocol', 0xff, 0),
        tcp_flags: unsigned(tokens, at['tcp-flags'], 'tcp-flags', 0xff, 0),
        bytes: unsigned(tokens, at.bytes, 'bytes', Number.MAX_SAFE_INTEGER, 0),
        packets: unsigned(tokens, at.packets, 'packets', Number.MAX_SAFE_INTEGER, 0),
        sampling_rate: 1,
        action,
        cloud_account: account,
        cloud_region: region,
        cloud_vpc: text(tokens, at['vpc-id']),
        cloud_subnet: text(tokens, at['subnet-id']),
        cloud_instance: text(tokens, at['instance-id']),
        cloud_interface: text(tokens, at['interface-id']),
        server_side: 'unknown',
      };
    } catch (error) {
      if (error instanceof BadValue) return skip('bad_value', error.message);
      throw error;
    }
    sink.flow(record);
  }

  function finishLine(): void {
    lineNumber++;
    if (overlong) {
      overlong = false;
      skip('malformed', `line longer than ${maxLineBytes} bytes`);
    } else {
      const bytes = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending, pendingBytes);
      handleLine(decoder.decode(bytes));
    }
    pending = [];
    pendingBytes = 0;
  }

  function append(part: Uint8Array): void {
    if (overlong || part.length === 0) return;
    if (pendingBytes + part.length > maxLineBytes) {
      overlong = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    // Copied: the caller may reuse its buffer after write() returns.
    pending.push(part.slice());
    pendingBytes += part.length;
  }

  return {
    write(chunk: Uint8Array): void {
      let from = 0;
      for (;;) {
        const newline = chunk.indexOf(0x0a, from);
        if (newline < 0) break;
        append(chunk.subarray(from, newline));
        finishLine();
        from = newline + 1;
      }
      append(chunk.subarray(from));
    },
    end(): void {
      if (pendingBytes > 0 || overlong) finishLine();
    },
  };
}
