// For tests: the cloud flow-log samples of ../shared/corpus/ that come with an independent
// expected output, turned into the flow record's terms — so the parsers' unit tests and the
// end-to-end test of stored flows (test/cloud-corpus.test.ts) check against the same goldens.
//
// Sources (MANIFEST.md): Elastic ingest-pipeline outputs (`*-expected.json`) for AWS and Azure,
// OpenTelemetry `*_expected.yaml` for AWS, and for GCP, whose samples have no valid golden, the
// values written by hand from reading the inputs (times by calendar.timegm).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { cloudExporter, type CloudFormat, type CloudSkipReason } from './types.js';

export const CLOUD_CORPUS = join(import.meta.dirname, '..', '..', '..', 'shared', 'corpus');

/** One expected flow: the fields its golden states (orientation is not the golden's business). */
export interface GoldenFlow {
  where: string;
  fields: Partial<Omit<FlowRecord, 'server_side'>>;
}

export interface GoldenFile {
  format: CloudFormat;
  /** How the sample arrives: a flow-log file, or a CloudWatch Logs subscription payload (Firehose). */
  delivery: 'file' | 'cloudwatch';
  /** The AWS custom format the sample was written with, when its lines carry no header. */
  awsFormat?: string;
  /** Relative to the corpus root. */
  file: string;
  /** In the order of the input. */
  flows: GoldenFlow[];
  /** Records the golden says are not flows (NODATA, SKIPDATA), by line. */
  skips: { line: number; reason: CloudSkipReason }[];
}

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
const read = (file: string): string => readFileSync(join(CLOUD_CORPUS, file), 'utf8');

interface ElasticAwsDoc {
  source?: { ip: string; port: number };
  destination?: { ip: string; port: number };
  network?: { iana_number: string; bytes: number; packets: number };
  event: { original: string; start: string; end: string };
  cloud: { account: { id: string }; region?: string };
  aws: { vpcflow: Record<string, string> };
}

function awsElastic(name: string): GoldenFile {
  const file = `aws-vpc-flow/elastic-integrations/${name}`;
  const lines = read(file).split('\n');
  const docs = (JSON.parse(read(`${file}-expected.json`)) as { expected: ElasticAwsDoc[] }).expected;
  const golden: GoldenFile = { format: 'aws-vpc', delivery: 'file', file, flows: [], skips: [] };
  for (const doc of docs) {
    const line = lines.indexOf(doc.event.original) + 1;
    assert.ok(line > 0, `${file}: golden line not in input: ${doc.event.original}`);
    const v = doc.aws.vpcflow;
    if (v.log_status === 'NODATA' || v.log_status === 'SKIPDATA') {
      golden.skips.push({ line, reason: v.log_status === 'NODATA' ? 'nodata' : 'skipdata' });
      continue;
    }
    assert.ok(doc.source && doc.destination && doc.network, `${file}:${line}: golden without addresses`);
    const end = seconds(doc.event.end);
    const account = doc.cloud.account.id;
    const region = doc.cloud.region ?? '';
    golden.flows.push({
      where: `${file}:${line}`,
      fields: {
        source: 'aws_vpc',
        exporter: cloudExporter('aws', account, region),
        src_addr: parseAddress(doc.source.ip),
        dst_addr: parseAddress(doc.destination.ip),
        src_port: doc.source.port,
        dst_port: doc.destination.port,
        proto: Number(doc.network.iana_number),
        packets: doc.network.packets,
        bytes: doc.network.bytes,
        time_start: seconds(doc.event.start),
        time_end: end,
        time_received: end,
        sampling_rate: 1,
        action: v.action === 'ACCEPT' ? 'accept' : 'reject',
        tcp_flags: v.tcp_flags === undefined ? 0 : Number(v.tcp_flags),
        cloud_account: account,
        cloud_region: region,
        cloud_interface: v.interface_id ?? '',
        cloud_vpc: v.vpc_id ?? '',
        cloud_subnet: v.subnet_id ?? '',
        cloud_instance: v.instance_id ?? '',
      },
    });
  }
  return golden;
}

interface OtelAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string };
}

const OTEL_PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

function awsOtel(input: string, expected: string): GoldenFile {
  const file = `aws-vpc-flow/otel-contrib/${input}`;
  const doc = parseYaml(read(`aws-vpc-flow/otel-contrib/${expected}`)) as {
    resourceLogs: { resource: { attributes: OtelAttribute[] }; scopeLogs: { logRecords: { attributes: OtelAttribute[]; timeUnixNano: string }[] }[] }[];
  };
  const golden: GoldenFile = { format: 'aws-vpc', delivery: 'file', file, flows: [], skips: [] };
  // The YAML holds records in input order but not their lines: data lines are counted past the header.
  const dataLines = read(file)
    .split('\n')
    .map((text, i) => ({ text, line: i + 1 }))
    .filter((l) => l.text.trim() !== '' && !/^version /.test(l.text));
  let next = 0;
  for (const resource of doc.resourceLogs) {
    const account = resource.resource.attributes.find((a) => a.key === 'cloud.account.id')?.value.stringValue ?? '';
    for (const record of resource.scopeLogs.flatMap((s) => s.logRecords)) {
      const line = dataLines[next++]?.line ?? 0;
      const get = (key: string): string | undefined => {
        const value = record.attributes.find((a) => a.key === key)?.value;
        return value?.stringValue ?? value?.intValue;
      };
      if (get('aws.vpc.flow.status') === 'NODATA') {
        golden.skips.push({ line, reason: 'nodata' });
        continue;
      }
      const end = Number(BigInt(record.timeUnixNano) / 1_000_000_000n);
      golden.flows.push({
        where: `${file}:${line}`,
        fields: {
          source: 'aws_vpc',
          exporter: cloudExporter('aws', account, ''),
          src_addr: parseAddress(get('source.address') ?? ''),
          dst_addr: parseAddress(get('destination.address') ?? ''),
          src_port: Number(get('source.port')),
          dst_port: Number(get('destination.port')),
          proto: OTEL_PROTOCOLS[get('network.protocol.name') ?? ''] ?? -1,
          packets: Number(get('aws.vpc.flow.packets')),
          bytes: Number(get('aws.vpc.flow.bytes')),
          time_start: Number(get('aws.vpc.flow.start')),
          time_end: end,
          time_received: end,
          sampling_rate: 1,
          action: get('aws.vpc.flow.action') === 'ACCEPT' ? 'accept' : 'reject',
          cloud_account: account,
          cloud_interface: get('network.interface.name') ?? get('aws.eni.id') ?? '',
        },
      });
    }
  }
  return golden;
}

/**
 * OpenTelemetry's CloudWatch Logs subscription sample: events in a custom format of four fields
 * (`version interface-id srcaddr dstaddr`, as OTel's test configures it). The golden states those
 * fields; the format has no start/end, so the flow's time is its event's timestamp (the input's).
 */
function awsOtelCloudWatch(): GoldenFile {
  const file = 'aws-vpc-flow/otel-contrib/valid_vpc_flow_cw_custom.json';
  const input = JSON.parse(read(file)) as { logEvents: { timestamp: number }[] };
  const doc = parseYaml(read('aws-vpc-flow/otel-contrib/valid_vpc_flow_cw_custom_expected.yaml')) as {
    resourceLogs: { scopeLogs: { logRecords: { attributes: OtelAttribute[] }[] }[] }[];
  };
  const records = doc.resourceLogs.flatMap((r) => r.scopeLogs).flatMap((s) => s.logRecords);
  assert.equal(records.length, input.logEvents.length, `${file}: one golden record per event`);
  return {
    format: 'aws-vpc',
    delivery: 'cloudwatch',
    awsFormat: 'version interface-id srcaddr dstaddr',
    file,
    skips: [],
    flows: records.map((record, i) => {
      const get = (key: string): string => record.attributes.find((a) => a.key === key)?.value.stringValue ?? '';
      const at = Math.floor((input.logEvents[i]?.timestamp ?? 0) / 1000);
      return {
        where: `${file} event ${i + 1}`,
        fields: {
          source: 'aws_vpc',
          src_addr: parseAddress(get('source.address')),
          dst_addr: parseAddress(get('destination.address')),
          cloud_interface: get('network.interface.name'),
          time_start: at,
          time_end: at,
          time_received: at,
        },
      };
    }),
  };
}

/** Elastic's ingest-pipeline tuples, the shape both Azure goldens share. */
interface AzureTuple {
  timestamp: string;
  source: { ip: string; port: number };
  destination: { ip: string; port: number };
  bytes: { sent: number; received: number };
  packets: { sent: number; received: number };
  protocol: string;
}

const AZURE_SUBSCRIPTION = '00000000-0000-0000-0000-000000000000';

/** What NSG and VNet tuples state alike; both directions' counts summed (azure.ts). */
function azureTupleFields(tuple: AzureTuple): GoldenFlow['fields'] {
  const at = seconds(tuple.timestamp);
  return {
    src_addr: parseAddress(tuple.source.ip),
    dst_addr: parseAddress(tuple.destination.ip),
    src_port: tuple.source.port,
    dst_port: tuple.destination.port,
    time_start: at,
    time_received: at,
    bytes: tuple.bytes.sent + tuple.bytes.received,
    packets: tuple.packets.sent + tuple.packets.received,
    sampling_rate: 1,
  };
}

function azureNsgElastic(): GoldenFile {
  const file = 'azure-nsg-flow/elastic-integrations/test-nsg.log';
  const doc = JSON.parse(read(`${file}-expected.json`)) as {
    expected: { azure_network_watcher_nsg: { log: { resource_id: string; properties: { flows: { flows: { mac: string; tuples: (AzureTuple & { traffic: { decision: string } })[] }[] }[] } } } }[];
  };
  const golden: GoldenFile = { format: 'azure-nsg', delivery: 'file', file, flows: [], skips: [] };
  for (const entry of doc.expected) {
    const log = entry.azure_network_watcher_nsg.log;
    assert.ok(log.resource_id.includes(AZURE_SUBSCRIPTION.toUpperCase()), `${file}: subscription in the resource id`);
    for (const group of log.properties.flows.flatMap((rule) => rule.flows)) {
      for (const tuple of group.tuples) {
        const at = seconds(tuple.timestamp);
        golden.flows.push({
          where: `${file} tuple ${golden.flows.length + 1}`,
          fields: {
            source: 'azure_nsg',
            exporter: cloudExporter('azure', AZURE_SUBSCRIPTION, ''),
            ...azureTupleFields(tuple),
            proto: { TCP: 6, UDP: 17 }[tuple.protocol] ?? -1,
            time_end: at,
            action: tuple.traffic.decision === 'Allowed' ? 'accept' : 'reject',
            cloud_account: AZURE_SUBSCRIPTION,
            cloud_region: '',
            cloud_interface: group.mac.replaceAll('-', ''),
          },
        });
      }
    }
  }
  return golden;
}

function azureVnetElastic(): GoldenFile {
  const file = 'azure-vnet-flow/elastic-integrations/test-vnet.log';
  const doc = JSON.parse(read(`${file}-expected.json`)) as {
    expected: { azure_network_watcher_vnet: { log: { mac_address: string; target_resource_id: string; records: { flows: { groups: { tuples: (AzureTuple & { flow: { state: string } })[] }[] }[] } } } }[];
  };
  const golden: GoldenFile = { format: 'azure-vnet', delivery: 'file', file, flows: [], skips: [] };
  for (const entry of doc.expected) {
    const log = entry.azure_network_watcher_vnet.log;
    for (const tuple of log.records.flows.flatMap((f) => f.groups).flatMap((g) => g.tuples)) {
      golden.flows.push({
        where: `${file} tuple ${golden.flows.length + 1}`,
        fields: {
          source: 'azure_vnet',
          // The region is the Network Watcher's: NETWORKWATCHER_EASTUS2EUAP in the flow log's resource id.
          exporter: cloudExporter('azure', AZURE_SUBSCRIPTION, 'eastus2euap'),
          ...azureTupleFields(tuple),
          proto: Number(tuple.protocol),
          action: tuple.flow.state === 'Deny' ? 'reject' : 'accept',
          cloud_account: AZURE_SUBSCRIPTION,
          cloud_region: 'eastus2euap',
          cloud_vpc: log.target_resource_id.toLowerCase(),
          cloud_subnet: '',
          cloud_interface: log.mac_address.replaceAll('-', ''),
        },
      });
    }
  }
  return golden;
}

/** One GCP sample's flow, as read by hand from the input (cloud fields from the reporting side). */
function gcpByHand(name: string, at: number, fields: Omit<GoldenFlow['fields'], 'time_received' | 'time_start' | 'time_end' | 'exporter'> & { cloud_account: string; cloud_region: string }): GoldenFile {
  const file = `gcp-vpc-flow/otel-contrib/${name}`;
  return {
    format: 'gcp-vpc',
    delivery: 'file',
    file,
    flows: [{ where: file, fields: { time_received: at, time_start: at, time_end: at, exporter: cloudExporter('gcp', fields.cloud_account, fields.cloud_region), source: 'gcp_vpc', sampling_rate: 1, action: 'accept', cloud_interface: '', ...fields } }],
    skips: [],
  };
}

/** Every corpus cloud sample with an expected output, read afresh (the corpus is read-only). */
export function loadCloudGoldens(): GoldenFile[] {
  const gcpCommon = { cloud_account: 'test-project-id', cloud_vpc: 'default', cloud_subnet: 'default' };
  return [
    ...['test-extra-samples.log', 'test-tcp-flag-sequence.log', 'test-v5-all-fields.log', 'test-v8-samples.log'].map(awsElastic),
    awsOtel('valid_vpc_flow_log.log', 'valid_vpc_flow_log_expected.yaml'),
    awsOtel('valid_vpc_flow_log_multi.log', 'valid_vpc_flow_log_expected_multi.yaml'),
    awsOtelCloudWatch(),
    azureNsgElastic(),
    azureVnetElastic(),
    gcpByHand('vpc-flow-log-0-bytes-sent.json', 1759007522, {
      ...gcpCommon,
      cloud_region: 'us-central1',
      cloud_instance: 'proxy-crest-new-group-b51k',
      src_addr: parseAddress('192.0.2.1'),
      dst_addr: parseAddress('203.0.113.1'),
      src_port: 443,
      dst_port: 40708,
      proto: 6,
      bytes: 0,
      packets: 640,
    }),
    // reporter DEST: the destination VM in asia-south1 reported it.
    gcpByHand('vpc-flow-log-w-dest-vpc.json', 1759007595, {
      ...gcpCommon,
      cloud_region: 'asia-south1',
      cloud_instance: 'service-integration-dev-idc-ubuntu25-4',
      src_addr: parseAddress('203.0.113.5'),
      dst_addr: parseAddress('192.0.2.5'),
      src_port: 45004,
      dst_port: 22,
      proto: 6,
      bytes: 11590,
      packets: 90,
    }),
    // ICMP: no ports in the connection.
    gcpByHand('vpc-flow-log-w-internet-routing-details.json', 1759007585, {
      ...gcpCommon,
      cloud_region: 'asia-south1',
      cloud_instance: 'service-integration-dev-idc-ubuntu25-4',
      src_addr: parseAddress('192.0.2.6'),
      dst_addr: parseAddress('203.0.113.6'),
      src_port: 0,
      dst_port: 0,
      proto: 1,
      bytes: 800,
      packets: 20,
    }),
  ];
}

/** Field values as comparable text (addresses formatted). */
function shown(value: unknown): unknown {
  return value instanceof Uint8Array && value.length === 16 ? formatAddress(value) : value;
}

function matches(flow: FlowRecord, golden: GoldenFlow): boolean {
  return Object.entries(golden.fields).every(([key, want]) => {
    const got = flow[key as keyof FlowRecord];
    return want instanceof Uint8Array ? got instanceof Uint8Array && Buffer.compare(got, want) === 0 : got === want;
  });
}

/** The flow has every field its golden states, with the golden's value. */
export function assertGoldenFlow(flow: FlowRecord | undefined, golden: GoldenFlow): void {
  assert.ok(flow, `${golden.where}: no flow`);
  for (const [key, want] of Object.entries(golden.fields)) {
    assert.deepEqual(shown(flow[key as keyof FlowRecord]), shown(want), `${golden.where}: field ${key}`);
  }
}

/**
 * Flows read back from a store (in no particular order) are exactly the golden's: each golden
 * flow matches one stored flow field by field, and none is left over.
 */
export function assertSameFlowsAnyOrder(stored: readonly FlowRecord[], goldens: readonly GoldenFlow[], label: string): void {
  const left = [...stored];
  for (const golden of goldens) {
    const at = left.findIndex((flow) => matches(flow, golden));
    if (at < 0) {
      // Name the field that differs from the stored flow closest to it.
      const closest = [...left].sort((a, b) => differing(a, golden).length - differing(b, golden).length)[0];
      assert.fail(`${label}: ${golden.where} not stored; closest stored flow differs in ${closest === undefined ? '(none stored)' : differing(closest, golden).map((k) => `${k}: ${String(shown(closest[k as keyof FlowRecord]))} ≠ ${String(shown(golden.fields[k as keyof GoldenFlow['fields']]))}`).join(', ')}`);
    }
    left.splice(at, 1);
  }
  assert.equal(left.length, 0, `${label}: ${left.length} stored flows beyond the golden`);
}

function differing(flow: FlowRecord, golden: GoldenFlow): string[] {
  return Object.keys(golden.fields).filter((key) => !matches(flow, { where: '', fields: { [key]: golden.fields[key as keyof GoldenFlow['fields']] } }));
}
