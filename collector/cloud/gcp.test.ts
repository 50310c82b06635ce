import assert from 'node:assert/strict';
import { collect, type Skipped } from './testing.js';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '../../core/flow.js';
import { parseAddress } from '../../core/ip.js';
import { createGcpVpcParser, rfc3339Seconds } from './gcp.js';
import { assertGoldenFlow, loadCloudGoldens, type GoldenFile, type GoldenFlow } from './goldens.js';
import { cloudExporter } from './types.js';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus/gcp-vpc-flow');


function parse(chunks: readonly Uint8Array[], options: { maxRecordBytes?: number } = {}): { flows: FlowRecord[]; skips: Skipped[] } {
  return collect((sink) => createGcpVpcParser(sink, { file: 'test', ...options }), chunks);
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const whole = (text: string) => parse([utf8(text)]);
const byteByByte = (text: string) => {
  const bytes = utf8(text);
  return parse(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
};

/** Writes through one 7-byte buffer the caller overwrites after each write(), as a stream may. */
function reusedBuffer(text: string): { flows: FlowRecord[]; skips: Skipped[] } {
  const flows: FlowRecord[] = [];
  const skips: Skipped[] = [];
  const parser = createGcpVpcParser({
    flow: (record) => flows.push(record),
    skip: (reason, at, detail) => skips.push({ reason, line: at.line, detail }),
  });
  const bytes = utf8(text);
  const buffer = new Uint8Array(7);
  for (let i = 0; i < bytes.length; i += buffer.length) {
    const n = Math.min(buffer.length, bytes.length - i);
    buffer.set(bytes.subarray(i, i + n));
    parser.write(buffer.subarray(0, n));
    buffer.fill(0x20);
  }
  parser.end();
  return { flows, skips };
}

function samples(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.json')) out.push(join(dir, entry.name));
    }
  };
  walk(CORPUS);
  return out.sort();
}

/** The hand-checked expected flows of the corpus samples (goldens.ts: the samples have no golden upstream). */
const GOLDENS = loadCloudGoldens().filter((g) => g.format === 'gcp-vpc');
const goldenOf = (name: string): GoldenFile | undefined => GOLDENS.find((g) => g.file.endsWith(`/${name}`));

function assertGolden(actual: FlowRecord | undefined, name: string, label: string): void {
  const golden = goldenOf(name);
  assert.ok(golden !== undefined, `no expected flow written for ${name}`);
  assert.equal(golden.flows.length, 1);
  const want = golden.flows[0] as GoldenFlow;
  assertGoldenFlow(actual, { ...want, where: `${label}: ${want.where}` });
  assert.equal(actual?.server_side, 'unknown', label);
}

function assertFlow(actual: FlowRecord | undefined, expected: FlowRecord, label: string): void {
  assert.ok(actual, `${label}: no flow`);
  for (const key of Object.keys(expected) as (keyof FlowRecord)[]) {
    assert.deepEqual(actual[key], expected[key], `${label}: field ${key}`);
  }
}

/** A flow log entry with both ends inside GCP (VM to VM, different projects and regions). */
function bothInstances(reporter: string): Record<string, unknown> {
  return {
    insertId: 'hand-written-1',
    jsonPayload: {
      connection: { src_ip: '10.10.0.2', dest_ip: '10.50.0.2', src_port: 51234, dest_port: 5432, protocol: 6 },
      reporter,
      bytes_sent: '1224',
      packets_sent: '7',
      start_time: '2024-02-29T23:59:58.5Z',
      end_time: '2024-03-01T00:00:03.999999999Z',
      src_instance: { project_id: 'web-prj', region: 'europe-west1', zone: 'europe-west1-b', vm_name: 'web-1' },
      dest_instance: { project_id: 'db-prj', region: 'us-east4', zone: 'us-east4-a', vm_name: 'db-1' },
      src_vpc: { project_id: 'web-prj', vpc_name: 'web-net', subnetwork_name: 'web-sub', subnetwork_region: 'europe-west1' },
      dest_vpc: { project_id: 'db-prj', vpc_name: 'db-net', subnetwork_name: 'db-sub', subnetwork_region: 'us-east4' },
    },
    logName: 'projects/web-prj/logs/compute.googleapis.com%2Fvpc_flows',
    timestamp: '2024-03-01T00:00:10Z',
  };
}

// 2024-02-29T23:59:58Z and 2024-03-01T00:00:03Z (leap day), by calendar.timegm.
const BOTH_COMMON = {
  time_received: 1709251203,
  time_start: 1709251198,
  time_end: 1709251203,
  source: 'gcp_vpc',
  src_addr: parseAddress('10.10.0.2'),
  dst_addr: parseAddress('10.50.0.2'),
  src_port: 51234,
  dst_port: 5432,
  proto: 6,
  bytes: 1224,
  packets: 7,
  sampling_rate: 1,
  action: 'accept',
  cloud_interface: '',
  server_side: 'unknown',
} as const;

describe('GCP VPC flow log parser', () => {
  it('parses every corpus sample and matches the hand-checked expected flow field by field', () => {
    const files = samples();
    assert.ok(files.length >= 3, `corpus samples found: ${files.length}`);
    for (const file of files) {
      const name = file.slice(file.lastIndexOf('/') + 1);
      const text = readFileSync(file, 'utf8');
      const { flows, skips } = whole(text);
      assert.deepEqual(skips, [], name);
      assert.equal(flows.length, 1, name);
      assertGolden(flows[0], name, name);
    }
  });

  it('reads the samples as JSON lines, byte by byte, as a JSON array, and concatenated pretty-printed', () => {
    const names = GOLDENS.map((g) => g.file.slice(g.file.lastIndexOf('/') + 1));
    const entries = names.map((name) => JSON.parse(readFileSync(join(CORPUS, 'otel-contrib', name), 'utf8')) as unknown);
    const jsonLines = `${entries.map((e) => JSON.stringify(e)).join('\r\n')}\r\n`;
    const array = JSON.stringify(entries, null, 2);
    const pretty = names.map((name) => readFileSync(join(CORPUS, 'otel-contrib', name), 'utf8')).join('\n');
    for (const [label, result] of [
      ['json lines', whole(jsonLines)],
      ['json lines, one byte per write', byteByByte(jsonLines)],
      ['json lines through a reused buffer', reusedBuffer(jsonLines)],
      ['json lines without a final newline', whole(jsonLines.trimEnd())],
      ['array', whole(array)],
      ['array, one byte per write', byteByByte(array)],
      ['one-line array', whole(JSON.stringify(entries))],
      ['concatenated pretty-printed', byteByByte(pretty)],
    ] as const) {
      assert.deepEqual(result.skips, [], label);
      assert.equal(result.flows.length, 3, label);
      names.forEach((name, i) => assertGolden(result.flows[i], name, `${label} ${name}`));
    }
  });

  it('ignores a leading byte order mark, even split across writes', () => {
    const text = `\uFEFF${JSON.stringify(bothInstances('SRC'))}\n`;
    for (const result of [whole(text), byteByByte(text)]) {
      assert.deepEqual(result.skips, []);
      assert.equal(result.flows.length, 1);
    }
  });

  it('keeps multi-byte UTF-8 split across writes intact', () => {
    const entry = bothInstances('SRC');
    (entry.jsonPayload as Record<string, unknown>).src_instance = { project_id: 'p', region: 'r', vm_name: 'vm-ünïcødé-名前' };
    const { flows, skips } = byteByByte(`${JSON.stringify(entry)}\n`);
    assert.deepEqual(skips, []);
    assert.equal(flows[0]?.cloud_instance, 'vm-ünïcødé-名前');
  });

  it('takes the cloud fields from the reporting side when both instances are present', () => {
    const src = whole(`${JSON.stringify(bothInstances('SRC'))}\n`);
    assert.deepEqual(src.skips, []);
    assertFlow(src.flows[0], {
      ...BOTH_COMMON,
      exporter: cloudExporter('gcp', 'web-prj', 'europe-west1'),
      cloud_account: 'web-prj',
      cloud_region: 'europe-west1',
      cloud_vpc: 'web-net',
      cloud_subnet: 'web-sub',
      cloud_instance: 'web-1',
    }, 'SRC');
    const dest = whole(`${JSON.stringify(bothInstances('DEST'))}\n`);
    assert.deepEqual(dest.skips, []);
    assertFlow(dest.flows[0], {
      ...BOTH_COMMON,
      exporter: cloudExporter('gcp', 'db-prj', 'us-east4'),
      cloud_account: 'db-prj',
      cloud_region: 'us-east4',
      cloud_vpc: 'db-net',
      cloud_subnet: 'db-sub',
      cloud_instance: 'db-1',
    }, 'DEST');
    assert.notDeepEqual(src.flows[0]?.exporter, dest.flows[0]?.exporter);
  });

  it('skips malformed lines with their line numbers and keeps the rest', () => {
    const good = (port: number): string => {
      const entry = bothInstances('SRC');
      ((entry.jsonPayload as Record<string, unknown>).connection as Record<string, unknown>).src_port = port;
      return JSON.stringify(entry);
    };
    const payloadWith = (change: (p: Record<string, unknown>) => void): string => {
      const entry = bothInstances('SRC');
      change(entry.jsonPayload as Record<string, unknown>);
      return JSON.stringify(entry);
    };
    const lines = [
      good(1), // 1
      'this is not json', // 2
      '', // 3
      payloadWith((p) => delete p.connection), // 4
      '{"insertId": "cut", "jsonPayload": {"connection": {"src_ip": "10.0.0.1', // 5: cut inside a string
      good(2), // 6
      '{"insertId": "cut", "jsonPayload": {"connection": {}', // 7: cut between fields
      good(3), // 8
      payloadWith((p) => ((p.connection as Record<string, unknown>).src_ip = '10.0.0.300')), // 9
      payloadWith((p) => delete p.start_time), // 10
      payloadWith((p) => (p.end_time = 'yesterday')), // 11
      payloadWith((p) => (p.bytes_sent = '-5')), // 12
      payloadWith((p) => ((p.connection as Record<string, unknown>).dest_port = 70000)), // 13
      '{"insertId": "x", "textPayload": "not a flow"}', // 14
      payloadWith((p) => (p.disposition = 'DENIED')), // 15
      '{"jsonPayload": {"connection": {"src_ip": "10.0.0.1",,}}}', // 16: balanced but not JSON
      payloadWith((p) => delete (p.connection as Record<string, unknown>).dest_ip), // 17
      good(4), // 18
    ];
    for (const [label, result] of [
      ['whole', whole(lines.join('\n'))],
      ['byte by byte', byteByByte(lines.join('\n'))],
    ] as const) {
      assert.deepEqual(
        result.flows.map((f) => f.src_port),
        [1, 2, 3, 4],
        label,
      );
      assert.deepEqual(
        result.skips.map((s) => [s.line, s.reason]),
        [
          [2, 'malformed'],
          [4, 'missing_field'],
          [5, 'malformed'],
          [7, 'malformed'],
          [9, 'bad_value'],
          [10, 'missing_field'],
          [11, 'bad_value'],
          [12, 'bad_value'],
          [13, 'bad_value'],
          [14, 'unsupported'],
          [15, 'unsupported'],
          [16, 'malformed'],
          [17, 'missing_field'],
        ],
        label,
      );
      for (const s of result.skips) assert.ok(s.detail.length > 0, `detail for line ${s.line}`);
    }
  });

  it('reports a document cut in half at the lines where the cut entry and array began', () => {
    const entries = [bothInstances('SRC'), bothInstances('DEST')];
    const array = JSON.stringify(entries, null, 2);
    const cut = array.slice(0, Math.floor(array.length * 0.75));
    const { flows, skips } = whole(cut);
    assert.equal(flows.length, 1);
    assert.equal(flows[0]?.cloud_instance, 'web-1');
    const secondEntryLine = array.split('\n').findIndex((l, i) => i > 1 && l === '  {') + 1;
    assert.deepEqual(
      skips.map((s) => [s.line, s.reason]),
      [
        [secondEntryLine, 'malformed'],
        [1, 'malformed'],
      ],
    );
  });

  it('bounds an entry that never ends, and an endless line-less stream of junk', () => {
    const huge = `{"jsonPayload": {"x": "${'a'.repeat(5000)}"}}\n${JSON.stringify(bothInstances('SRC'))}\n`;
    const { flows, skips } = parse([utf8(huge)], { maxRecordBytes: 1000 });
    assert.equal(flows.length, 1);
    assert.deepEqual(skips.map((s) => [s.line, s.reason]), [[1, 'malformed']]);
    assert.match(skips[0]?.detail ?? '', /longer than 1000 bytes/);

    const junk = parse(Array.from({ length: 200 }, () => utf8('x'.repeat(10000))), { maxRecordBytes: 1000 });
    assert.deepEqual(junk.flows, []);
    assert.deepEqual(junk.skips.map((s) => [s.line, s.reason]), [[1, 'malformed']]);
  });

  it('skips array elements that are not entries', () => {
    const { flows, skips } = whole(`[\n  1,\n  "text, with comma",\n  [1, 2],\n  ${JSON.stringify(bothInstances('DEST'))}\n]\n`);
    assert.equal(flows.length, 1);
    assert.deepEqual(skips.map((s) => [s.line, s.reason]), [
      [2, 'malformed'],
      [3, 'malformed'],
      [4, 'malformed'],
    ]);
  });

  it('reads RFC 3339 times with offsets and fractions, and refuses others', () => {
    assert.equal(rfc3339Seconds('2025-09-27T21:12:02.937646004Z'), 1759007522);
    assert.equal(rfc3339Seconds('2025-09-27T23:12:02+02:00'), 1759007522);
    assert.equal(rfc3339Seconds('2025-09-27T16:42:02.5-04:30'), 1759007522);
    assert.equal(rfc3339Seconds('1970-01-01T00:00:00Z'), 0);
    assert.equal(rfc3339Seconds('2025-02-29T00:00:00Z'), undefined);
    assert.equal(rfc3339Seconds('2025-09-27 21:12'), undefined);
    assert.equal(rfc3339Seconds('2025-09-27T21:12:02'), undefined);
  });
});
