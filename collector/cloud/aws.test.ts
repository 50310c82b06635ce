import assert from 'node:assert/strict';
import { collect, type Skipped } from './testing.js';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { createAwsVpcParser, type AwsVpcParserOptions } from './aws.js';
import { cloudExporter } from './types.js';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus/aws-vpc-flow');


function parse(chunks: readonly Uint8Array[], options: AwsVpcParserOptions = {}): { flows: FlowRecord[]; skips: Skipped[] } {
  return collect((sink) => createAwsVpcParser(sink, { file: 'test', ...options }), chunks);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const parseText = (s: string, options?: AwsVpcParserOptions) => parse([text(s)], options);

/** The fields a golden states, in the flow record's terms. */
interface Expected {
  src: string;
  dst: string;
  src_port: number;
  dst_port: number;
  proto: number;
  packets: number;
  bytes: number;
  start: number;
  end: number;
  action: 'accept' | 'reject';
  account: string;
  interface: string;
  vpc?: string;
  subnet?: string;
  instance?: string;
  region?: string;
  tcp_flags?: number;
}

function assertFlow(flow: FlowRecord | undefined, want: Expected, where: string): void {
  assert.ok(flow, `${where}: no flow`);
  assert.equal(flow.source, 'aws_vpc', where);
  assert.equal(formatAddress(flow.src_addr), formatAddress(parseAddress(want.src)), `${where} src`);
  assert.equal(formatAddress(flow.dst_addr), formatAddress(parseAddress(want.dst)), `${where} dst`);
  assert.equal(flow.src_port, want.src_port, `${where} src_port`);
  assert.equal(flow.dst_port, want.dst_port, `${where} dst_port`);
  assert.equal(flow.proto, want.proto, `${where} proto`);
  assert.equal(flow.packets, want.packets, `${where} packets`);
  assert.equal(flow.bytes, want.bytes, `${where} bytes`);
  assert.equal(flow.time_start, want.start, `${where} start`);
  assert.equal(flow.time_end, want.end, `${where} end`);
  assert.equal(flow.time_received, want.end, `${where} time_received`);
  assert.equal(flow.action, want.action, `${where} action`);
  assert.equal(flow.cloud_account, want.account, `${where} account`);
  assert.equal(flow.cloud_interface, want.interface, `${where} interface`);
  if (want.vpc !== undefined) assert.equal(flow.cloud_vpc, want.vpc, `${where} vpc`);
  if (want.subnet !== undefined) assert.equal(flow.cloud_subnet, want.subnet, `${where} subnet`);
  if (want.instance !== undefined) assert.equal(flow.cloud_instance, want.instance, `${where} instance`);
  if (want.region !== undefined) assert.equal(flow.cloud_region, want.region, `${where} region`);
  if (want.tcp_flags !== undefined) assert.equal(flow.tcp_flags, want.tcp_flags, `${where} tcp_flags`);
  assert.equal(flow.sampling_rate, 1, where);
  assert.equal(flow.server_side, 'unknown', where);
  assert.deepEqual(flow.exporter, cloudExporter('aws', want.account, want.region ?? ''), `${where} exporter`);
}

const seconds = (iso: string): number => Date.parse(iso) / 1000;

describe('AWS VPC flow logs: every text sample in the corpus', () => {
  const files = ['aws-docs/extracted', 'elastic-integrations', 'otel-contrib'].flatMap((dir) =>
    readdirSync(join(CORPUS, dir))
      .filter((name) => name.endsWith('.log'))
      .map((name) => `${dir}/${name}`),
  );

  it('finds the samples the manifest lists', () => {
    assert.equal(files.length, 14);
  });

  for (const file of files) {
    it(`${file}: no line is malformed, every line is a flow or counted`, () => {
      const input = readFileSync(join(CORPUS, file), 'utf8');
      const { flows, skips } = parseText(input);
      const malformed = skips.filter((s) => s.reason === 'malformed');
      assert.deepEqual(malformed, []);
      // Every non-blank, non-header line is accounted for exactly once.
      const dataLines = input.split('\n').filter((l) => l.trim() !== '' && !/^version /.test(l) && !/^instance-id /.test(l));
      assert.equal(flows.length + skips.length, dataLines.length);
    });
  }

  // The AWS doc examples explain each record in prose; these literals are from that prose and the
  // lines it explains (flow-logs-records-examples.md).
  it('aws-docs default-v2.log: accepted and rejected SSH/RDP, NODATA, SKIPDATA, ICMP, IPv6', () => {
    const { flows, skips } = parseText(readFileSync(join(CORPUS, 'aws-docs/extracted/default-v2.log'), 'utf8'));
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [
        ['nodata', 4],
        ['skipdata', 5],
      ],
    );
    assert.equal(flows.length, 5);
    assertFlow(flows[0], { src: '172.31.16.139', dst: '172.31.16.21', src_port: 20641, dst_port: 22, proto: 6, packets: 20, bytes: 4249, start: 1418530010, end: 1418530070, action: 'accept', account: '123456789010', interface: 'eni-1235b8ca123456789', vpc: '', region: '' }, 'ssh');
    assertFlow(flows[1], { src: '172.31.9.69', dst: '172.31.9.12', src_port: 49761, dst_port: 3389, proto: 6, packets: 20, bytes: 4249, start: 1418530010, end: 1418530070, action: 'reject', account: '123456789010', interface: 'eni-1235b8ca123456789' }, 'rdp');
    assert.equal(flows[2]?.proto, 1);
    assert.equal(flows[3]?.action, 'reject');
    assert.equal(formatAddress(flows[4]?.src_addr ?? new Uint8Array(16)), '2001:db8:1234:a100:8d6e:3477:df66:f105');
  });

  it('aws-docs tcp-flags-v3.log: flags per record, including the line with a double space', () => {
    const { flows, skips } = parseText(readFileSync(join(CORPUS, 'aws-docs/extracted/tcp-flags-v3.log'), 'utf8'));
    assert.deepEqual(skips, []);
    assert.deepEqual(
      flows.map((f) => f.tcp_flags),
      [2, 18, 2, 18, 1, 1, 3, 19],
    );
    assertFlow(flows[7], { src: '10.0.0.62', dst: '52.213.180.42', src_port: 5001, dst_port: 43638, proto: 6, packets: 14, bytes: 967, start: 1566933133, end: 1566933193, action: 'accept', account: '123456789010', interface: 'eni-1235b8ca123456789', vpc: 'vpc-abcdefab012345678', subnet: 'subnet-aaaaaaaa012345678', instance: 'i-01234567890123456', tcp_flags: 19 }, 'line 9');
  });

  it('aws-docs traffic-path-v5.log: region and ids from a custom v5 order', () => {
    const { flows } = parseText(readFileSync(join(CORPUS, 'aws-docs/extracted/traffic-path-v5.log'), 'utf8'));
    assertFlow(flows[0], { src: '52.95.128.179', dst: '10.0.0.71', src_port: 80, dst_port: 34210, proto: 6, packets: 14, bytes: 15044, start: 1616729292, end: 1616729349, action: 'accept', account: '123456789012', interface: 'eni-1235b8ca123456789', vpc: 'vpc-abcdefab012345678', subnet: 'subnet-aaaaaaaa012345678', instance: 'i-0c50d5961bcb2d47b', region: 'ap-southeast-2', tcp_flags: 19 }, 'ingress');
  });

  it('aws-docs NAT gateway and transit gateway examples have no times: counted as missing_field', () => {
    for (const [file, lines] of [
      ['nat-gateway-custom.log', 6],
      ['transit-gateway-custom-v3.log', 4],
    ] as const) {
      const { flows, skips } = parseText(readFileSync(join(CORPUS, 'aws-docs/extracted', file), 'utf8'));
      assert.equal(flows.length, 0, file);
      assert.deepEqual(
        skips.map((s) => [s.reason, s.line]),
        Array.from({ length: lines }, (_, i) => ['missing_field', i + 2]),
        file,
      );
    }
  });
});

describe('AWS VPC flow logs against the Elastic goldens', () => {
  interface ElasticDoc {
    source?: { ip: string; port: number; packets?: number };
    destination?: { ip: string; port: number };
    network?: { iana_number: string; bytes: number; packets: number };
    event: { original: string; start: string; end: string };
    cloud: { account: { id: string }; region?: string };
    aws: { vpcflow: Record<string, string> };
  }

  for (const name of ['test-extra-samples.log', 'test-tcp-flag-sequence.log', 'test-v5-all-fields.log', 'test-v8-samples.log']) {
    it(`${name}: record by record`, () => {
      const input = readFileSync(join(CORPUS, 'elastic-integrations', name), 'utf8');
      const docs = (JSON.parse(readFileSync(join(CORPUS, 'elastic-integrations', `${name}-expected.json`), 'utf8')) as { expected: ElasticDoc[] }).expected;
      const lines = input.split('\n');
      const { flows, skips } = parseText(input);
      let flowIndex = 0;
      for (const doc of docs) {
        const line = lines.indexOf(doc.event.original) + 1;
        assert.ok(line > 0, `golden line not in input: ${doc.event.original}`);
        const v = doc.aws.vpcflow;
        const status = v.log_status;
        if (status === 'NODATA' || status === 'SKIPDATA') {
          assert.ok(
            skips.some((s) => s.line === line && s.reason === status.toLowerCase()),
            `line ${line} should be skipped as ${status}`,
          );
          continue;
        }
        assert.ok(doc.source && doc.destination && doc.network);
        assertFlow(
          flows[flowIndex++],
          {
            src: doc.source.ip,
            dst: doc.destination.ip,
            src_port: doc.source.port,
            dst_port: doc.destination.port,
            proto: Number(doc.network.iana_number),
            packets: doc.network.packets,
            bytes: doc.network.bytes,
            start: seconds(doc.event.start),
            end: seconds(doc.event.end),
            action: v.action === 'ACCEPT' ? 'accept' : 'reject',
            account: doc.cloud.account.id,
            interface: v.interface_id ?? '',
            vpc: v.vpc_id ?? '',
            subnet: v.subnet_id ?? '',
            instance: v.instance_id ?? '',
            region: doc.cloud.region ?? '',
            tcp_flags: v.tcp_flags === undefined ? 0 : Number(v.tcp_flags),
          },
          `${name} line ${line}`,
        );
      }
      assert.equal(flowIndex, flows.length, 'no flow beyond the golden');
      assert.equal(flows.length + skips.length, docs.length);
    });
  }
});

describe('AWS VPC flow logs against the OpenTelemetry goldens', () => {
  interface Attribute {
    key: string;
    value: { stringValue?: string; intValue?: string };
  }
  const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

  for (const [input, golden] of [
    ['valid_vpc_flow_log.log', 'valid_vpc_flow_log_expected.yaml'],
    ['valid_vpc_flow_log_multi.log', 'valid_vpc_flow_log_expected_multi.yaml'],
  ] as const) {
    it(`${input}: record by record`, () => {
      const doc = parseYaml(readFileSync(join(CORPUS, 'otel-contrib', golden), 'utf8')) as {
        resourceLogs: { resource: { attributes: Attribute[] }; scopeLogs: { logRecords: { attributes: Attribute[]; timeUnixNano: string }[] }[] }[];
      };
      const { flows, skips } = parseText(readFileSync(join(CORPUS, 'otel-contrib', input), 'utf8'));
      let flowIndex = 0;
      let nodata = 0;
      for (const resource of doc.resourceLogs) {
        const account = resource.resource.attributes.find((a) => a.key === 'cloud.account.id')?.value.stringValue ?? '';
        for (const record of resource.scopeLogs.flatMap((s) => s.logRecords)) {
          const get = (key: string): string | undefined => {
            const value = record.attributes.find((a) => a.key === key)?.value;
            return value?.stringValue ?? value?.intValue;
          };
          if (get('aws.vpc.flow.status') === 'NODATA') {
            nodata++;
            continue;
          }
          assertFlow(
            flows[flowIndex++],
            {
              src: get('source.address') ?? '',
              dst: get('destination.address') ?? '',
              src_port: Number(get('source.port')),
              dst_port: Number(get('destination.port')),
              proto: PROTOCOLS[get('network.protocol.name') ?? ''] ?? -1,
              packets: Number(get('aws.vpc.flow.packets')),
              bytes: Number(get('aws.vpc.flow.bytes')),
              start: Number(get('aws.vpc.flow.start')),
              end: Number(BigInt(record.timeUnixNano) / 1_000_000_000n),
              action: get('aws.vpc.flow.action') === 'ACCEPT' ? 'accept' : 'reject',
              account,
              interface: get('network.interface.name') ?? get('aws.eni.id') ?? '',
            },
            `${input} record ${flowIndex}`,
          );
        }
      }
      assert.equal(flowIndex, flows.length);
      assert.equal(skips.filter((s) => s.reason === 'nodata').length, nodata);
      assert.equal(skips.length, nodata);
    });
  }
});

describe('AWS VPC flow logs: formats, chunks and bad input', () => {
  const V2 = '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK';

  it('reads a custom field order from a configured ${...} format', () => {
    const format = '${region} ${action} ${end} ${start} ${bytes} ${packets} ${protocol} ${dstport} ${srcport} ${dstaddr} ${srcaddr} ${pkt-srcaddr} ${tcp-flags} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${flow-direction} ${some-future-field} ${log-status}';
    const line = 'eu-west-1 REJECT 1700000060 1700000000 1500 3 17 53 40000 2001:db8::53 10.1.2.3 192.0.2.9 0 vpc-1 subnet-2 i-3 eni-4 111122223333 egress whatever OK\n';
    const { flows, skips } = parseText(line, { format });
    assert.deepEqual(skips, []);
    assertFlow(flows[0], { src: '10.1.2.3', dst: '2001:db8::53', src_port: 40000, dst_port: 53, proto: 17, packets: 3, bytes: 1500, start: 1700000000, end: 1700000060, action: 'reject', account: '111122223333', interface: 'eni-4', vpc: 'vpc-1', subnet: 'subnet-2', instance: 'i-3', region: 'eu-west-1', tcp_flags: 0 }, 'custom');
  });

  it('accepts the format as bare names, and a header line overrides it', () => {
    const bare = parseText('10.0.0.1 10.0.0.2 1 2 100 200 ACCEPT\n', { format: 'srcaddr dstaddr start end packets bytes action' });
    assert.equal(bare.flows[0]?.packets, 100);
    assert.equal(bare.flows[0]?.time_end, 2);
    const overridden = parseText('dstaddr srcaddr end start\n10.0.0.2 10.0.0.1 20 10\n', { format: 'srcaddr dstaddr start end packets bytes action' });
    assert.deepEqual(overridden.skips, []);
    assert.equal(formatAddress(overridden.flows[0]?.src_addr ?? new Uint8Array(16)), '10.0.0.1');
    assert.equal(overridden.flows[0]?.time_start, 10);
    assert.equal(overridden.flows[0]?.action, 'unknown');
  });

  it('keeps srcaddr/dstaddr, not pkt-srcaddr/pkt-dstaddr, as the flow addresses', () => {
    const { flows } = parseText('pkt-srcaddr pkt-dstaddr srcaddr dstaddr start end\n203.0.113.5 10.0.1.5 10.0.0.220 10.0.1.5 1 2\n');
    assert.equal(formatAddress(flows[0]?.src_addr ?? new Uint8Array(16)), '10.0.0.220');
  });

  it('parses a file fed one byte at a time, with CRLF and blank lines, like one written whole', () => {
    const input = `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\r\n\r\n${V2}\r\n   \n2 123456789010 eni-1 2001:db8::1 2001:db8::2 1 2 6 1 40 1 2 REJECT OK`;
    const bytes = text(input);
    const whole = parse([bytes]);
    const split = parse(Array.from(bytes, (b) => Uint8Array.of(b)));
    assert.equal(whole.flows.length, 2);
    assert.deepEqual(whole.skips, []);
    assert.deepEqual(split, whole);
    assert.equal(split.flows[1]?.action, 'reject');
    assert.equal(formatAddress(split.flows[1]?.dst_addr ?? new Uint8Array(16)), '2001:db8::2');
  });

  it('does not confuse a reused write buffer with the line it held', () => {
    const flows: FlowRecord[] = [];
    const parser = createAwsVpcParser({ flow: (r) => flows.push(r), skip: () => assert.fail('no skip expected') });
    const buffer = new Uint8Array(40);
    const bytes = text(`${V2}\n`);
    for (let i = 0; i < bytes.length; i += 40) {
      const part = bytes.subarray(i, i + 40);
      buffer.set(part);
      parser.write(buffer.subarray(0, part.length));
      buffer.fill(0x39);
    }
    parser.end();
    assert.equal(flows[0]?.bytes, 4249);
  });

  it('counts NODATA and SKIPDATA records with their lines, not as flows', () => {
    const input = [
      V2,
      '2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA',
      '2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - SKIPDATA',
      '2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA',
    ].join('\n');
    const { flows, skips } = parseText(input);
    assert.equal(flows.length, 1);
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [
        ['nodata', 2],
        ['skipdata', 3],
        ['nodata', 4],
      ],
    );
  });

  it('reports malformed and bad lines with their line numbers and keeps going', () => {
    const input = [
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
      V2,
      '2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010', // 11 fields
      '',
      '2 123456789010 eni-1 not-an-ip 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 172.31.16.139 172.31.16.21 70000 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 172.31.16.139 172.31.16.21 1 22 6 -5 4249 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 172.31.16.139 172.31.16.21 1 22 6 5 4249 1418530010 1418530070 MAYBE OK',
      '2 123456789010 eni-1 - 172.31.16.21 1 22 6 5 4249 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 172.31.16.139 172.31.16.21 1 22 6 5 4249 1418530010 1418530070 ACCEPT WEIRD',
      V2,
    ].join('\n');
    const { flows, skips } = parseText(input);
    assert.equal(flows.length, 2);
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [
        ['malformed', 3],
        ['bad_value', 5],
        ['bad_value', 6],
        ['bad_value', 7],
        ['bad_value', 8],
        ['missing_field', 9],
        ['unsupported', 10],
      ],
    );
    assert.match(skips[0]?.detail ?? '', /11 fields, expected 14/);
    assert.match(skips[2]?.detail ?? '', /srcport 70000/);
  });

  it('headerless lines of an unknown field count are malformed; known all-fields layouts are read', () => {
    const { flows, skips } = parseText('1 2 3\n' + `${V2} vpc-1 subnet-1 i-1 2 IPv4 172.31.16.139 172.31.16.21\n`);
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [['malformed', 1]],
    );
    assert.equal(flows[0]?.cloud_vpc, 'vpc-1');
    assert.equal(flows[0]?.tcp_flags, 2);
  });

  it('skips an overlong line as malformed and reads the next one', () => {
    const long = 'x'.repeat(5000);
    const { flows, skips } = parse([text(long), text(long), text(`\n${V2}\n`)], { maxLineBytes: 1000 });
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [['malformed', 1]],
    );
    assert.equal(flows.length, 1);
  });
});
