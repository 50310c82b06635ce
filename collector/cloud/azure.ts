// Azure Network Watcher flow logs: NSG flow logs (properties.Version 1 and 2) and VNet flow logs
// (flowLogVersion 4). Both arrive as one large JSON document per blob (`{"records":[…]}`), or as
// one record per line from Event Hub exports; json-stream.ts cuts the records out so memory stays
// bounded by one record, and each record is parsed on its own.
//
// NSG record:  {time, resourceId: /SUBSCRIPTIONS/<sub>/RESOURCEGROUPS/<rg>/PROVIDERS/
//               MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/<nsg>, properties: {Version, flows: [
//               {rule, flows: [{mac, flowTuples: [tuple…]}]}]}}
//   v1 tuple:  ts,src,dst,sport,dport,T|U,I|O,A|D
//   v2 tuple:  v1 + ,B|C|E,pktsS2D,bytesS2D,pktsD2S,bytesD2S   (counts empty on B)
//   ts is Unix seconds; A/D is the NSG's decision.
// VNet record: {time, flowLogVersion: 4, macAddress, flowLogResourceID, targetResourceID,
//               flowRecords: {flows: [{aclID, flowGroups: [{rule, flowTuples: [tuple…]}]}]}}
//   tuple:     ts_ms,src,dst,sport,dport,proto(IANA number),I|O,B|C|E|D,encryption,
//              pktsS2D,bytesS2D,pktsD2S,bytesD2S
//   There is no separate decision: state D (denied) is the only reject.
//
// One flow record per tuple. Counts: a tuple counts both directions of the connection (source to
// destination and back); flowmap stores their sums as the tuple's bytes and packets, keeping the
// tuple's own orientation (src = the side that opened it, as Azure writes it). Splitting them into
// two records would double the connection count and fight the orientation step. The counts of C
// and E tuples are deltas since the previous tuple of the same connection (Microsoft's bandwidth
// example), so summing stored records gives the connection's totals; B tuples carry none (0).
//
// Identifiers: ARM resource ids are case-insensitive and the logs mix case (the NSG resourceId
// and the VNet flowLogResourceID are upper-cased, targetResourceID is not), so ids are lowercased
// to let the same subscription or VNet compare equal across both formats. MACs are upper-case hex
// without separators, as the NSG log writes them.
import { tryParseAddress } from '../../core/ip.js';
import type { FlowAction, FlowRecord, FlowSource } from '../../core/flow.js';
import { createJsonRecordExtractor, type JsonRecordExtractor } from './json-stream.js';
import { cloudExporter, type CloudParser, type CloudSink, type CloudSkipReason } from './types.js';

export interface AzureParserOptions {
  /** The file name, for callers that pass one; reports name the file themselves. */
  file?: string;
  /**
   * The Azure region of the flows. NSG logs do not name one; VNet logs name it only through the
   * default Network Watcher name (NetworkWatcher_<region>), which is used when this is absent.
   */
  region?: string;
  /** A record larger than this is skipped and reported. Default 64 MiB. */
  maxRecordBytes?: number;
}

/** The parser plus a debug view of what it holds, for tests of the memory bound. */
export interface AzureParser extends CloudParser {
  /** Bytes of the record in progress held by the extractor (0 between records). */
  readonly bufferedBytes: number;
  readonly peakBufferedBytes: number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The segment after `type` in an ARM resource id (case-insensitive), or ''. */
export function armSegment(resourceId: string, type: string): string {
  const parts = resourceId.split('/');
  const wanted = type.toLowerCase();
  for (let i = 0; i < parts.length - 1; i++) {
    if ((parts[i] ?? '').toLowerCase() === wanted) return (parts[i + 1] ?? '').toLowerCase();
  }
  return '';
}

/** The resource id up to and including `type/<name>`, lowercased, or ''. */
function armPrefix(resourceId: string, type: string): string {
  const parts = resourceId.split('/');
  const wanted = type.toLowerCase();
  for (let i = 0; i < parts.length - 1; i++) {
    if ((parts[i] ?? '').toLowerCase() === wanted) return parts.slice(0, i + 2).join('/').toLowerCase();
  }
  return '';
}

function normalizeMac(mac: unknown): string {
  return typeof mac === 'string' ? mac.replace(/[-:.]/g, '').toUpperCase() : '';
}

const DIGITS = /^\d+$/;
const NSG_PROTOCOLS: Record<string, number> = { T: 6, U: 17 };

class TupleError extends Error {
  constructor(
    readonly reason: CloudSkipReason,
    message: string,
  ) {
    super(message);
  }
}

function count(field: string | undefined, name: string): number {
  // B tuples leave the counts empty: nothing counted yet.
  if (field === undefined || field === '') return 0;
  if (!DIGITS.test(field)) throw new TupleError('bad_value', `${name} '${field}' is not a count`);
  return Number(field);
}

function port(field: string | undefined, name: string): number {
  // ICMP and other port-less protocols may leave the ports empty.
  if (field === undefined || field === '') return 0;
  const value = Number(field);
  if (!DIGITS.test(field) || value > 65535) throw new TupleError('bad_value', `${name} '${field}' is not a port`);
  return value;
}

function address(field: string | undefined, name: string): Uint8Array {
  if (field === undefined || field === '') throw new TupleError('missing_field', `${name} is empty`);
  const parsed = tryParseAddress(field);
  if (parsed === undefined) throw new TupleError('bad_value', `${name} '${field}' is not an IP address`);
  return parsed;
}

function seconds(field: string | undefined, divisor: number): number {
  if (field === undefined || field === '') throw new TupleError('missing_field', 'timestamp is empty');
  if (!DIGITS.test(field)) throw new TupleError('bad_value', `timestamp '${field}' is not a number`);
  const value = Math.floor(Number(field) / divisor);
  if (value > 0xffffffff) throw new TupleError('bad_value', `timestamp '${field}' is out of range`);
  return value;
}

interface RecordContext {
  source: FlowSource;
  exporter: Uint8Array;
  account: string;
  region: string;
  vpc: string;
  subnet: string;
  iface: string;
}

function flowOf(
  context: RecordContext,
  time: number,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  proto: number,
  counts: { packets: number; bytes: number },
  action: FlowAction,
): FlowRecord {
  return {
    time_received: time,
    time_start: time,
    time_end: time,
    source: context.source,
    exporter: context.exporter,
    src_addr: src,
    dst_addr: dst,
    src_port: srcPort,
    dst_port: dstPort,
    proto,
    bytes: counts.bytes,
    packets: counts.packets,
    sampling_rate: 1,
    action,
    cloud_account: context.account,
    cloud_region: context.region,
    cloud_vpc: context.vpc,
    cloud_subnet: context.subnet,
    cloud_instance: '',
    cloud_interface: context.iface,
    server_side: 'unknown',
  };
}

/** A v1/v2 NSG tuple → a flow. */
function nsgTuple(tuple: string, version: number, context: RecordContext): FlowRecord {
  const f = tuple.split(',');
  const expected = version === 1 ? 8 : 13;
  if (f.length !== expected) throw new TupleError('malformed', `has ${f.length} fields, NSG flow log version ${version} has ${expected}`);
  const time = seconds(f[0], 1);
  const src = address(f[1], 'source address');
  const dst = address(f[2], 'destination address');
  const srcPort = port(f[3], 'source port');
  const dstPort = port(f[4], 'destination port');
  const proto = NSG_PROTOCOLS[f[5] ?? ''];
  if (proto === undefined) throw new TupleError('bad_value', `protocol '${f[5]}' is not T or U`);
  const decision = f[7];
  if (decision !== 'A' && decision !== 'D') throw new TupleError('bad_value', `decision '${decision}' is not A or D`);
  let packets = 0;
  let bytes = 0;
  if (version === 2) {
    packets = count(f[9], 'packets sent') + count(f[11], 'packets received');
    bytes = count(f[10], 'bytes sent') + count(f[12], 'bytes received');
  }
  return flowOf(context, time, src, dst, srcPort, dstPort, proto, { packets, bytes }, decision === 'A' ? 'accept' : 'reject');
}

/** A flowLogVersion 4 tuple → a flow. */
function vnetTuple(tuple: string, context: RecordContext): FlowRecord {
  const f = tuple.split(',');
  if (f.length !== 13) throw new TupleError('malformed', `has ${f.length} fields, VNet flow log version 4 has 13`);
  const time = seconds(f[0], 1000);
  const src = address(f[1], 'source address');
  const dst = address(f[2], 'destination address');
  const srcPort = port(f[3], 'source port');
  const dstPort = port(f[4], 'destination port');
  const protoText = f[5] ?? '';
  const proto = Number(protoText);
  if (!DIGITS.test(protoText) || proto > 255) throw new TupleError('bad_value', `protocol '${protoText}' is not an IANA protocol number`);
  const state = f[7];
  let action: FlowAction;
  if (state === 'D') action = 'reject';
  else if (state === 'B' || state === 'C' || state === 'E') action = 'accept';
  else throw new TupleError('bad_value', `flow state '${state}' is not B, C, E or D`);
  const packets = count(f[9], 'packets sent') + count(f[11], 'packets received');
  const bytes = count(f[10], 'bytes sent') + count(f[12], 'bytes received');
  return flowOf(context, time, src, dst, srcPort, dstPort, proto, { packets, bytes }, action);
}

type RecordHandler = (record: Json, line: number, sink: CloudSink) => void;

function eachTuple(tuples: unknown, where: string, line: number, sink: CloudSink, toFlow: (tuple: string) => FlowRecord): void {
  if (!Array.isArray(tuples)) {
    sink.skip('missing_field', { line }, `${where}: flowTuples is not an array`);
    return;
  }
  for (const tuple of tuples) {
    if (typeof tuple !== 'string') {
      sink.skip('malformed', { line }, `${where}: flow tuple ${JSON.stringify(tuple)} is not a string`);
      continue;
    }
    let flow: FlowRecord;
    try {
      flow = toFlow(tuple);
    } catch (err) {
      if (!(err instanceof TupleError)) throw err;
      sink.skip(err.reason, { line }, `${where}: flow tuple '${tuple}' ${err.message}`);
      continue;
    }
    sink.flow(flow);
  }
}

function nsgRecord(options: AzureParserOptions): RecordHandler {
  return (record, line, sink) => {
    const properties = record['properties'];
    if (!isObject(properties)) {
      if (record['flowLogVersion'] !== undefined) {
        sink.skip('unsupported', { line }, `a VNet flow log record (flowLogVersion ${JSON.stringify(record['flowLogVersion'])}); ingest it with --format azure-vnet`);
      } else if (Array.isArray(record['records'])) {
        // The Microsoft docs' version 1 sample nests a copy of a whole document in its records.
        sink.skip('unsupported', { line }, 'a records array nested inside a record; only top-level records are read');
      } else {
        sink.skip('missing_field', { line }, 'record has no properties object: not an NSG flow log record');
      }
      return;
    }
    const version = Number(properties['Version']);
    if (version !== 1 && version !== 2) {
      sink.skip('unsupported', { line }, `NSG flow log version ${JSON.stringify(properties['Version'])} (versions 1 and 2 are known)`);
      return;
    }
    const resourceId = typeof record['resourceId'] === 'string' ? record['resourceId'] : '';
    const account = armSegment(resourceId, 'subscriptions');
    const region = options.region ?? '';
    const rules = properties['flows'];
    if (!Array.isArray(rules)) {
      sink.skip('missing_field', { line }, 'properties.flows is not an array');
      return;
    }
    const exporter = cloudExporter('azure', account, region);
    for (const rule of rules) {
      if (!isObject(rule) || !Array.isArray(rule['flows'])) {
        sink.skip('malformed', { line }, `rule entry ${JSON.stringify(rule).slice(0, 200)} has no flows array`);
        continue;
      }
      const where = `rule ${String(rule['rule'])}`;
      for (const group of rule['flows'] as unknown[]) {
        if (!isObject(group)) {
          sink.skip('malformed', { line }, `${where}: flow entry is not an object`);
          continue;
        }
        const context: RecordContext = { source: 'azure_nsg', exporter, account, region, vpc: '', subnet: '', iface: normalizeMac(group['mac']) };
        eachTuple(group['flowTuples'], where, line, sink, (tuple) => nsgTuple(tuple, version, context));
      }
    }
  };
}

/** The region in the default Network Watcher name (NetworkWatcher_<region>), or ''. */
function regionOfWatcher(flowLogResourceId: string): string {
  const watcher = armSegment(flowLogResourceId, 'networkwatchers');
  const match = /^networkwatcher_([a-z0-9]+)$/.exec(watcher);
  return match?.[1] ?? '';
}

function vnetRecord(options: AzureParserOptions): RecordHandler {
  return (record, line, sink) => {
    const version = record['flowLogVersion'];
    if (version === undefined) {
      if (isObject(record['properties'])) {
        sink.skip('unsupported', { line }, 'an NSG flow log record (properties.Version); ingest it with --format azure-nsg');
      } else {
        sink.skip('missing_field', { line }, 'record has no flowLogVersion: not a VNet flow log record');
      }
      return;
    }
    if (Number(version) !== 4) {
      sink.skip('unsupported', { line }, `VNet flow log version ${JSON.stringify(version)} (version 4 is known)`);
      return;
    }
    const flowLogId = typeof record['flowLogResourceID'] === 'string' ? record['flowLogResourceID'] : '';
    const targetId = typeof record['targetResourceID'] === 'string' ? record['targetResourceID'] : '';
    const account = armSegment(targetId, 'subscriptions') || armSegment(flowLogId, 'subscriptions');
    const region = options.region ?? regionOfWatcher(flowLogId);
    // The target is the VNet, one of its subnets, or a NIC; only the first two name network scopes.
    const vpc = armPrefix(targetId, 'virtualnetworks');
    const subnet = armPrefix(targetId, 'subnets');
    const flowRecords = record['flowRecords'];
    const acls = isObject(flowRecords) ? flowRecords['flows'] : undefined;
    if (!Array.isArray(acls)) {
      sink.skip('missing_field', { line }, 'flowRecords.flows is not an array');
      return;
    }
    const context: RecordContext = {
      source: 'azure_vnet',
      exporter: cloudExporter('azure', account, region),
      account,
      region,
      vpc,
      subnet,
      iface: normalizeMac(record['macAddress']),
    };
    for (const acl of acls) {
      if (!isObject(acl) || !Array.isArray(acl['flowGroups'])) {
        sink.skip('malformed', { line }, `flowRecords entry ${JSON.stringify(acl).slice(0, 200)} has no flowGroups array`);
        continue;
      }
      for (const group of acl['flowGroups'] as unknown[]) {
        if (!isObject(group)) {
          sink.skip('malformed', { line }, 'flowGroups entry is not an object');
          continue;
        }
        eachTuple(group['flowTuples'], `rule ${String(group['rule'])}`, line, sink, (tuple) => vnetTuple(tuple, context));
      }
    }
  };
}

function createParser(sink: CloudSink, options: AzureParserOptions, handle: RecordHandler): AzureParser {
  const extractor: JsonRecordExtractor = createJsonRecordExtractor(
    {
      record(text, line) {
        let record: unknown;
        try {
          record = JSON.parse(text);
        } catch (err) {
          sink.skip('malformed', { line }, `record is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        if (!isObject(record)) {
          sink.skip('malformed', { line }, `record is ${Array.isArray(record) ? 'an array' : typeof record}, not an object`);
          return;
        }
        handle(record, line, sink);
      },
      error(detail, line) {
        sink.skip('malformed', { line }, detail);
      },
    },
    { maxRecordBytes: options.maxRecordBytes },
  );
  return {
    write: (chunk) => extractor.write(chunk),
    end: () => extractor.end(),
    get bufferedBytes() {
      return extractor.bufferedBytes;
    },
    get peakBufferedBytes() {
      return extractor.peakBufferedBytes;
    },
  };
}

/** Azure NSG flow logs, versions 1 and 2 (`--format azure-nsg`). */
export function createAzureNsgParser(sink: CloudSink, options: AzureParserOptions = {}): AzureParser {
  return createParser(sink, options, nsgRecord(options));
}

/** Azure VNet flow logs, flowLogVersion 4 (`--format azure-vnet`). */
export function createAzureVnetParser(sink: CloudSink, options: AzureParserOptions = {}): AzureParser {
  return createParser(sink, options, vnetRecord(options));
}
