import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '../../core/flow.js';
import { formatAddress } from '../../core/ip.js';
import { createAzureNsgParser, createAzureVnetParser, type AzureParser, type AzureParserOptions } from './azure.js';
import { assertGoldenFlow, CLOUD_CORPUS, loadCloudGoldens } from './goldens.js';
import { cloudExporter, type CloudSink, type CloudSkipReason } from './types.js';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');
const corpus = (path: string): Buffer => readFileSync(join(CORPUS, path));

interface Result {
  flows: FlowRecord[];
  skips: { reason: CloudSkipReason; line: number; detail: string }[];
  parser: AzureParser;
}

type Create = (sink: CloudSink, options?: AzureParserOptions) => AzureParser;

function parse(create: Create, input: Buffer | string, chunkSize = Infinity, options?: AzureParserOptions): Result {
  const flows: FlowRecord[] = [];
  const skips: Result['skips'] = [];
  const parser = create(
    {
      flow: (record) => flows.push(record),
      skip: (reason, at, detail) => skips.push({ reason, line: at.line, detail }),
    },
    options,
  );
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const step = Number.isFinite(chunkSize) ? chunkSize : bytes.length;
  for (let i = 0; i < bytes.length; i += step) parser.write(bytes.subarray(i, i + step));
  parser.end();
  return { flows, skips, parser };
}

const nsg = (input: Buffer | string, chunkSize?: number, options?: AzureParserOptions): Result => parse(createAzureNsgParser, input, chunkSize, options);
const vnet = (input: Buffer | string, chunkSize?: number, options?: AzureParserOptions): Result => parse(createAzureVnetParser, input, chunkSize, options);
const sum = (flows: FlowRecord[], key: 'bytes' | 'packets'): number => flows.reduce((total, f) => total + (f[key] ?? 0), 0);

/** Flows as comparable plain values (addresses as text). */
function plain(flows: FlowRecord[]): Record<string, unknown>[] {
  return flows.map((f) => ({ ...f, exporter: formatAddress(f.exporter), src_addr: formatAddress(f.src_addr), dst_addr: formatAddress(f.dst_addr) }));
}

/** The corpus golden of a format (goldens.ts), parsed by `read`, flow by flow in input order. */
function assertMatchesGolden(format: 'azure-nsg' | 'azure-vnet', read: (input: Buffer) => Result): void {
  const golden = loadCloudGoldens().find((g) => g.format === format);
  assert.ok(golden !== undefined, `a ${format} golden`);
  const { flows, skips } = read(readFileSync(join(CLOUD_CORPUS, golden.file)));
  assert.deepEqual(skips, []);
  assert.equal(flows.length, golden.flows.length);
  golden.flows.forEach((want, i) => {
    assertGoldenFlow(flows[i], want);
    assert.equal(flows[i]?.server_side, 'unknown', want.where);
  });
}

describe('Azure NSG flow logs', () => {
  it('matches the Elastic golden for test-nsg.log (version 2, one E tuple) field by field', () => {
    assertMatchesGolden('azure-nsg', (input) => nsg(input));
  });

  it('gives the totals Microsoft documents for the version 2 bandwidth example (9125 packets, 5256000 bytes)', () => {
    const tuples = corpus('azure-nsg-flow/microsoft-docs/nsg-flow-log-v2-bandwidth-example.txt')
      .toString()
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    const doc = JSON.stringify({
      records: [{ resourceId: '/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N', properties: { Version: 2, flows: [{ rule: 'r', flows: [{ mac: 'M', flowTuples: tuples }] }] } }],
    });
    const { flows, skips } = nsg(doc);
    assert.deepEqual(skips, []);
    assert.equal(flows.length, 3);
    assert.equal(sum(flows, 'packets'), 9125);
    assert.equal(sum(flows, 'bytes'), 5256000);
    assert.deepEqual(
      flows.map((f) => f.packets),
      [0, 1021 + 8005, 52 + 47],
    );
    assert.equal(flows[0]?.cloud_account, 's1');
  });

  it('reads the Microsoft docs version 2 sample: 11 tuples, decisions and counts as printed', () => {
    const { flows, skips } = nsg(corpus('azure-nsg-flow/microsoft-docs/nsg-flow-log-v2-example.json'));
    assert.deepEqual(skips, []);
    assert.equal(flows.length, 11);
    assert.equal(flows.filter((f) => f.action === 'reject').length, 7);
    assert.equal(flows.filter((f) => f.action === 'accept').length, 4);
    assert.equal(sum(flows, 'packets'), 1 + 1 + 30 + 24 + 15 + 12);
    assert.equal(sum(flows, 'bytes'), 66 + 66 + 16978 + 14008 + 8489 + 7054);
    assert.equal(flows.filter((f) => f.proto === 17).length, 1);
    assert.deepEqual(plain(flows)[0], {
      time_received: 1542110402,
      time_start: 1542110402,
      time_end: 1542110402,
      source: 'azure_nsg',
      exporter: formatAddress(cloudExporter('azure', 'aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e', '')),
      src_addr: '192.0.2.190',
      dst_addr: '10.5.16.4',
      src_port: 28746,
      dst_port: 443,
      proto: 17,
      bytes: 0,
      packets: 0,
      sampling_rate: 1,
      action: 'reject',
      cloud_account: 'aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e',
      cloud_region: '',
      cloud_vpc: '',
      cloud_subnet: '',
      cloud_instance: '',
      cloud_interface: '000D3AF87856',
      server_side: 'unknown',
    });
  });

  it('reads the Microsoft docs version 1 sample and skips its nested records copy', () => {
    const { flows, skips } = nsg(corpus('azure-nsg-flow/microsoft-docs/nsg-flow-log-v1-example.json'));
    // Records 1 and 2: 1 + 4 and 1 + 3 tuples; record 3 is a nested document (docs artefact).
    assert.equal(flows.length, 9);
    assert.equal(flows.filter((f) => f.action === 'reject').length, 2);
    assert.ok(flows.every((f) => f.bytes === 0 && f.packets === 0 && f.proto !== undefined));
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [['unsupported', 76]],
    );
    const udp = flows.find((f) => f.proto === 17);
    assert.equal(udp?.src_port, 53);
    assert.equal(udp?.time_start, 1487282481);
  });

  it('reads the Elastic system-test blob (version 2, 2 records, 11 tuples)', () => {
    const { flows, skips } = nsg(corpus('azure-nsg-flow/elastic-integrations/sample_logs/testdata.log'));
    assert.deepEqual(skips, []);
    assert.equal(flows.length, 11);
    assert.equal(sum(flows, 'bytes'), 66 + 66 + 16978 + 14008 + 8489 + 7054);
  });

  it('gives the same flows fed in 1-byte and 7-byte chunks', () => {
    for (const file of ['azure-nsg-flow/microsoft-docs/nsg-flow-log-v1-example.json', 'azure-nsg-flow/microsoft-docs/nsg-flow-log-v2-example.json']) {
      const whole = nsg(corpus(file));
      assert.deepEqual(plain(nsg(corpus(file), 1).flows), plain(whole.flows), file);
      assert.deepEqual(plain(nsg(corpus(file), 7).flows), plain(whole.flows), file);
      assert.deepEqual(nsg(corpus(file), 7).skips, whole.skips, file);
    }
  });

  it('reports a document cut in half as malformed after storing every record before the cut', () => {
    const doc = corpus('azure-nsg-flow/microsoft-docs/nsg-flow-log-v2-example.json');
    const secondRecord = doc.indexOf('"time": "2018-11-13T12:01:35');
    const cut = secondRecord + 200; // inside the second record
    const { flows, skips } = nsg(doc.subarray(0, cut));
    assert.equal(flows.length, 7); // the first record's tuples
    assert.equal(skips.length, 1);
    assert.equal(skips[0]?.reason, 'malformed');
    assert.match(skips[0]?.detail ?? '', /cut short/);
    assert.equal(skips[0]?.line, 42); // where the second record starts
    // Exactly half: the first record (which ends after the middle) is incomplete, so nothing is
    // stored and the cut is still reported.
    const half = nsg(doc.subarray(0, Math.floor(doc.length / 2)));
    assert.equal(half.flows.length, 0);
    assert.deepEqual(
      half.skips.map((s) => s.reason),
      ['malformed'],
    );
  });

  it('keeps memory to one record on a many-record document', () => {
    const record = (i: number): string =>
      JSON.stringify({
        resourceId: '/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N',
        properties: { Version: 2, flows: [{ rule: 'r', flows: [{ mac: 'M', flowTuples: [`${1_700_000_000 + i},10.0.0.1,10.0.0.2,${1024 + i},443,T,O,A,E,1,100,1,200`] }] }] },
      });
    const records = Array.from({ length: 2000 }, (_, i) => record(i));
    const longest = Math.max(...records.map((r) => Buffer.byteLength(r)));
    const flows: FlowRecord[] = [];
    const held: number[] = [];
    const parser: AzureParser = createAzureNsgParser({
      flow: (f) => {
        flows.push(f);
        held.push(parser.bufferedBytes);
      },
      skip: () => assert.fail('no skip expected'),
    });
    const doc = Buffer.from(`{"records":[${records.join(',')}]}`);
    for (let i = 0; i < doc.length; i += 7) parser.write(doc.subarray(i, i + 7));
    parser.end();
    assert.equal(flows.length, 2000);
    assert.equal(sum(flows, 'bytes'), 2000 * 300);
    assert.ok(parser.peakBufferedBytes <= longest, `peak ${parser.peakBufferedBytes} > one record (${longest})`);
    assert.ok(
      held.every((b) => b === 0),
      'the record buffer is released before its flows are delivered',
    );
    assert.equal(parser.bufferedBytes, 0);
  });

  it('reads JSON lines (one record per line) and names the line of a bad one', () => {
    const line = corpus('azure-nsg-flow/elastic-integrations/test-nsg.log').toString().trim();
    const { flows, skips } = nsg(`${line}\n{"properties": \n${line}\n`);
    // Line 2 is cut short; line 3 starts a new record in the first column and is read.
    assert.equal(flows.length, 2);
    assert.deepEqual(
      skips.map((s) => [s.reason, s.line]),
      [['malformed', 2]],
    );
    const clean = nsg(`${line}\n${line}\n`);
    assert.equal(clean.flows.length, 2);
  });

  it('counts bad tuples by reason and keeps the good ones of the same record', () => {
    const tuples = [
      '1542110379,10.0.0.1,10.0.0.2,1,443,T,O,A,E,1,66,1,66',
      '1542110379,10.0.0.1,10.0.0.2,1,443,T,O,A', // v1 field count in a v2 record
      '1542110379,10.0.0.999,10.0.0.2,1,443,T,O,A,E,1,66,1,66',
      '1542110379,10.0.0.1,10.0.0.2,1,443,X,O,A,E,1,66,1,66',
      '1542110379,10.0.0.1,10.0.0.2,1,443,T,O,Q,E,1,66,1,66',
      '1542110379,10.0.0.1,10.0.0.2,1,443,T,O,A,E,-1,66,1,66',
      ',10.0.0.1,10.0.0.2,1,443,T,O,A,E,1,66,1,66',
      '1542110379,10.0.0.1,10.0.0.2,70000,443,T,O,A,E,1,66,1,66',
      '1542110379,2001:db8::1,2001:db8::2,1,443,U,I,D,E,1,66,1,66',
    ];
    const doc = JSON.stringify({ records: [{ resourceId: '', properties: { Version: 2, flows: [{ rule: 'r', flows: [{ mac: 'm', flowTuples: [...tuples, 7] }] }] } }, { properties: { Version: 3, flows: [] } }, 'text', { flowLogVersion: 4 }] });
    const { flows, skips } = nsg(doc);
    assert.equal(flows.length, 2);
    assert.equal(formatAddress(flows[1]?.src_addr ?? new Uint8Array(16)), '2001:db8::1');
    assert.equal(flows[1]?.action, 'reject');
    assert.deepEqual(
      skips.map((s) => s.reason),
      ['malformed', 'bad_value', 'bad_value', 'bad_value', 'bad_value', 'missing_field', 'bad_value', 'malformed', 'unsupported', 'malformed', 'unsupported'],
    );
    assert.match(skips[0]?.detail ?? '', /8 fields, NSG flow log version 2 has 13/);
    assert.match(skips[10]?.detail ?? '', /--format azure-vnet/);
  });
});

describe('Azure VNet flow logs', () => {
  it('matches the Elastic golden for test-vnet.log (flowLogVersion 4) field by field', () => {
    assertMatchesGolden('azure-vnet', (input) => vnet(input));
  });

  it('reads the Elastic system-test blob: 19 tuples, state D is the only reject', () => {
    const { flows, skips } = vnet(corpus('azure-vnet-flow/elastic-integrations/sample_logs/testdata.log'));
    assert.deepEqual(skips, []);
    assert.equal(flows.length, 19);
    assert.equal(flows.filter((f) => f.action === 'reject').length, 9);
    assert.equal(sum(flows, 'bytes'), 767 + 1580 + 705 + 4569 + 705 + 4569 + 134 + 108 + 2217 + 32466);
    assert.equal(sum(flows, 'packets'), 3 + 2 + 3 + 4 + 3 + 4 + 2 + 1 + 22 + 33);
    assert.deepEqual(plain(flows)[10], {
      time_received: 1663145998,
      time_start: 1663145998,
      time_end: 1663145998,
      source: 'azure_vnet',
      exporter: formatAddress(cloudExporter('azure', '00000000-0000-0000-0000-000000000000', 'eastus2euap')),
      src_addr: '101.33.218.153',
      dst_addr: '10.0.0.6',
      src_port: 55188,
      dst_port: 22,
      proto: 6,
      bytes: 0,
      packets: 0,
      sampling_rate: 1,
      action: 'reject',
      cloud_account: '00000000-0000-0000-0000-000000000000',
      cloud_region: 'eastus2euap',
      cloud_vpc: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/myresourcegroup/providers/microsoft.network/virtualnetworks/myvnet',
      cloud_subnet: '',
      cloud_instance: '',
      cloud_interface: '00224871C205',
      server_side: 'unknown',
    });
  });

  it('gives the same flows in 1-byte and 7-byte chunks, and an explicit region wins', () => {
    const file = corpus('azure-vnet-flow/elastic-integrations/sample_logs/testdata.log');
    const whole = vnet(file);
    assert.deepEqual(plain(vnet(file, 1).flows), plain(whole.flows));
    assert.deepEqual(plain(vnet(file, 7).flows), plain(whole.flows));
    const withRegion = vnet(file, Infinity, { region: 'westeurope' });
    assert.ok(withRegion.flows.every((f) => f.cloud_region === 'westeurope'));
  });

  it('reports a cut document, a subnet target, bad tuples and NSG records', () => {
    const file = corpus('azure-vnet-flow/elastic-integrations/sample_logs/testdata.log');
    const cut = vnet(file.subarray(0, Math.floor(file.length / 2)));
    assert.equal(cut.flows.length, 0); // the only record is cut
    assert.deepEqual(
      cut.skips.map((s) => s.reason),
      ['malformed'],
    );
    const record = {
      flowLogVersion: 4,
      targetResourceID: '/subscriptions/S2/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/V/subnets/Sub',
      flowRecords: {
        flows: [{ flowGroups: [{ rule: 'r', flowTuples: ['1663146003606,10.0.0.6,10.0.0.7,1,53,17,O,E,NX,1,10,2,20', '1663146003606,10.0.0.6,10.0.0.7,1,53,300,O,E,NX,1,10,2,20', '1663146003606,10.0.0.6,10.0.0.7,1,53,17,O,Z,NX,1,10,2,20', '1,2,3'] }] }],
      },
    };
    const { flows, skips } = vnet(JSON.stringify({ records: [record, { properties: { Version: 2 } }, { flowLogVersion: 3 }] }));
    assert.equal(flows.length, 1);
    assert.equal(flows[0]?.cloud_vpc, '/subscriptions/s2/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v');
    assert.equal(flows[0]?.cloud_subnet, '/subscriptions/s2/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/subnets/sub');
    assert.equal(flows[0]?.cloud_account, 's2');
    assert.equal(flows[0]?.cloud_region, '');
    assert.equal(flows[0]?.bytes, 30);
    assert.equal(flows[0]?.packets, 3);
    assert.equal(flows[0]?.time_start, 1663146003);
    assert.deepEqual(
      skips.map((s) => s.reason),
      ['bad_value', 'bad_value', 'malformed', 'unsupported', 'unsupported'],
    );
    assert.match(skips[3]?.detail ?? '', /--format azure-nsg/);
  });
});
