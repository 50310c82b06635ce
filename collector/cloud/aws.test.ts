import assert from 'node:assert/strict';
import { collect, type Skipped } from './testing.js';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '../../core/flow.js';
import { formatAddress, parseAddress } from '../../core/ip.js';
import { createAwsVpcParser, type AwsVpcParserOptions } from './aws.js';
import { assertGoldenFlow, CLOUD_CORPUS, loadCloudGoldens } from './goldens.js';
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

describe('AWS VPC flow logs against the Elastic and OpenTelemetry goldens', () => {
  const goldens = loadCloudGoldens().filter((g) => g.format === 'aws-vpc' && g.delivery === 'file');

  it('covers the four Elastic and two OpenTelemetry goldens', () => {
    assert.equal(goldens.length, 6);
  });

  for (const golden of goldens) {
    it(`${golden.file}: record by record`, () => {
      const { flows, skips } = parseText(readFileSync(join(CLOUD_CORPUS, golden.file), 'utf8'));
      assert.deepEqual(
        skips.map((s) => ({ line: s.line, reason: s.reason })),
        golden.skips,
        'NODATA and SKIPDATA lines are counted, not flows',
      );
      assert.equal(flows.length, golden.flows.length, 'no flow beyond the golden');
      golden.flows.forEach((want, i) => {
        assertGoldenFlow(flows[i], want);
        assert.equal(flows[i]?.server_side, 'unknown', `${want.where}: orientation is the ingest's, not the parser's`);
      });
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
