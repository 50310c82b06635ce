import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatAddress, formatPrefix, parseAddress } from '../../core/ip.js';
import { createResolver } from '../resolver.js';
import { claimsToBindings, detectFormat, parseInventory, parseIsoTime, readCsvRecords, toInventory, type ParsedInventory } from './index.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '../testdata', name), 'utf8');
const iso = (text: string): number => Date.parse(text) / 1000;

/** Bindings as comparable text rows: `address workload from to` (times ISO, open ends as `-`). */
function bindingRows(parsed: ParsedInventory): string[] {
  const time = (t: number): string => (t === Infinity ? '-' : t === 0 ? '0' : new Date(t * 1000).toISOString());
  return parsed.bindings.map((b) => `${formatAddress(b.address)} ${b.workloadId} ${time(b.from)} ${time(b.to)}`).sort();
}

const problems = (parsed: ParsedInventory): string[] => parsed.problems.map((p) => `${p.line ?? p.path} ${p.reason}`);

describe('inventory CSV', () => {
  const parsed = parseInventory(fixture('inventory.csv'));

  it('binds ip rows to their named workload for [valid_from, valid_to), open where empty', () => {
    assert.equal(parsed.format, 'csv');
    assert.deepEqual(bindingRows(parsed), [
      '10.0.1.5 billing-api 2024-01-01T00:00:00.000Z -',
      '10.0.1.6 billing-api 0 -',
      '10.0.1.7 billing-api 0 -',
      '10.0.9.17 host-prefix 2024-03-01T10:00:00.000Z -',
      '10.0.9.9 legacy, "old" erp 2023-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z',
      '2001:db8:1::5 billing-api 0 -',
    ]);
  });

  it('reads labels, criticality and RFC 4180 quoting (commas, doubled quotes, line breaks)', () => {
    const byId = new Map(parsed.workloads.map((w) => [w.id, w]));
    assert.deepEqual(byId.get('billing-api'), { id: 'billing-api', name: 'billing-api', labels: { app: 'billing', env: 'prod', owner: 'team-pay' }, criticality: 'high' });
    assert.deepEqual(byId.get('legacy, "old" erp')?.labels, { app: 'erp', env: 'prod', owner: 'ops\nteam' });
    assert.equal(parsed.workloads.length, 3);
  });

  it('turns cidr rows into rules', () => {
    assert.deepEqual(parsed.rules.map((r) => ({ prefix: formatPrefix(r.prefix), labels: r.labels, name: r.name })), [{ prefix: '10.20.0.0/16', labels: { env: 'prod', location: 'dc1' }, name: 'dc1 prod' }]);
  });

  it('reports each bad row with the line it starts on, and skips it', () => {
    assert.deepEqual(problems(parsed), [
      '8 bad-address',
      '9 bad-csv',
      '10 bad-time',
      '11 bad-interval',
      '12 bad-cidr',
      '13 missing-field',
      '14 bad-criticality',
      '16 conflicting-labels',
      '17 bad-csv',
    ]);
    assert.match(parsed.problems[1]?.detail ?? '', /4 fields where the header has 10/);
    assert.match(parsed.problems[4]?.detail ?? '', /host bits set; did you mean 10\.30\.0\.0\/16/);
  });

  it('takes /32 as a host only for IPv4 and /128 only for IPv6', () => {
    const parsed = parseInventory('ip,name\n10.0.0.1/32,a\n2001:db8::7/128,b\n2001:db8::/32,c\n10.0.0.2/128,d\n');
    assert.deepEqual(bindingRows(parsed), ['10.0.0.1 a 0 -', '2001:db8::7 b 0 -']);
    assert.deepEqual(problems(parsed), ['4 bad-address', '5 bad-address']);
  });

  it('accepts CRLF line ends and a BOM, and refuses a file without ip or cidr column', () => {
    const crlf = parseInventory('\uFEFFIP,Name,App\r\n10.1.1.1,a,x\r\n"10.1.1.2",b,"y\r\nz"\r\n');
    assert.deepEqual(bindingRows(crlf), ['10.1.1.1 a 0 -', '10.1.1.2 b 0 -']);
    assert.deepEqual(crlf.workloads.map((w) => w.labels), [{ App: 'x' }, { App: 'y\r\nz' }]);
    assert.deepEqual(problems(parseInventory('host,name\n10.0.0.1,a\n')), ['1 missing-column']);
    assert.deepEqual(problems(parseInventory('ip,name\n"10.0.0.1,a\n10.0.0.2,b\n')), ['2 bad-csv']);
  });

  it('splits records as RFC 4180 says', () => {
    assert.deepEqual(readCsvRecords('a,"b,c",""\n\n"x""y",,\n'), [
      { line: 1, fields: ['a', 'b,c', ''] },
      { line: 3, fields: ['x"y', '', ''] },
    ]);
  });
});

describe('inventory JSON', () => {
  const parsed = parseInventory(fixture('inventory.json'));

  it('reads workloads with their addresses and rules', () => {
    assert.equal(parsed.format, 'json');
    assert.deepEqual(bindingRows(parsed), [
      '10.0.1.5 billing-api 2024-01-01T00:00:00.000Z -',
      '10.0.1.6 billing-api 0 -',
      '10.0.9.9 erp-legacy 2023-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z',
      '2001:db8:1::5 billing-api 0 -',
    ]);
    assert.deepEqual(parsed.workloads.map((w) => w.id), ['billing-api', 'erp-legacy', 'no-labels-ok']);
    assert.equal(parsed.workloads[1]?.name, 'legacy erp');
    assert.deepEqual(parsed.rules.map((r) => formatPrefix(r.prefix)), ['10.20.0.0/16', 'fd00:20::/32']);
  });

  it('reports bad entries with their JSON path, skipping only what is bad', () => {
    assert.deepEqual(problems(parsed), [
      '$.workloads[1].addresses[1].ip bad-address',
      '$.workloads[1].addresses[2].valid_from bad-time',
      '$.workloads[1].addresses[3] bad-interval',
      '$.workloads[3].name missing-field',
      '$.workloads[4].labels bad-labels',
      '$.workloads[5].criticality bad-criticality',
      '$.rules[2].cidr bad-cidr',
      '$.rules[3] missing-field',
    ]);
  });

  it('reports a syntax error with its line', () => {
    const bad = parseInventory('{\n  "workloads": [\n    {"name": "a",}\n  ]\n}\n');
    assert.equal(bad.problems.length, 1);
    assert.equal(bad.problems[0]?.reason, 'bad-json');
    assert.equal(bad.problems[0]?.line, 3);
  });
});

describe('kubectl get pods -A -o json', () => {
  const parsed = parseInventory(fixture('kubectl-pods.json'));

  it('binds pod IPs from the pod\'s start until deletion, its containers\' finish, or the address reappearing on a newer pod', () => {
    assert.equal(parsed.format, 'kubectl');
    assert.deepEqual(bindingRows(parsed), [
      '10.244.1.12 shop/web-7d4b9c8f6-x2k9p 2024-05-01T10:00:00.000Z -',
      '10.244.1.13 shop/cart-5c9f7b6d4-h8r2t 2024-05-01T11:00:00.000Z -',
      '10.244.1.13 shop/report-28573920-qv7lm 2024-05-01T09:00:00.000Z 2024-05-01T10:30:00.000Z',
      '10.244.1.20 shop/web-7d4b9c8f6-old01 2024-04-28T10:00:00.000Z 2024-05-02T08:00:00.000Z',
      '10.244.2.7 payments/api-0 2024-04-30T08:00:00.000Z -',
      '192.168.10.11 node/worker-1 2024-04-01T00:05:00.000Z -',
      'fd00:10:244:2::7 payments/api-0 2024-04-30T08:00:00.000Z -',
    ]);
  });

  it('labels pods with their labels plus namespace, and host-network addresses with the node', () => {
    const byId = new Map(parsed.workloads.map((w) => [w.id, w]));
    assert.deepEqual(byId.get('shop/web-7d4b9c8f6-x2k9p')?.labels, { app: 'web', env: 'prod', 'pod-template-hash': '7d4b9c8f6', namespace: 'shop' });
    assert.deepEqual(byId.get('node/worker-1'), { id: 'node/worker-1', name: 'worker-1', labels: {} });
    assert.equal(byId.has('kube-system/kube-proxy-7xk2m'), false);
    assert.ok(byId.has('shop/web-7d4b9c8f6-pend1'), 'a pending pod is a workload without a binding');
  });

  it('reports malformed pods with their JSON path', () => {
    assert.deepEqual(problems(parsed), ['$.items[8].status.podIPs[0].ip bad-address', '$.items[9].metadata.creationTimestamp bad-time']);
  });

  it('resolves reused pod addresses to the right owner on either side of the hand-over', () => {
    const resolver = createResolver(toInventory(parsed, { source: 'kubectl', importedAt: 1 }));
    const key = (ip: string, at: string): string => resolver.resolve(parseAddress(ip), iso(at)).key;
    assert.equal(key('10.244.1.13', '2024-05-01T10:29:59Z'), 'app=report');
    // The job finished at 10:30 and gave the address back; the cart pod got it at 11:00.
    assert.equal(key('10.244.1.13', '2024-05-01T10:30:00Z'), 'group=unlabeled,subnet=10.244.1.0/24');
    assert.equal(key('10.244.1.13', '2024-05-01T11:00:00Z'), 'app=cart,env=prod');
    assert.equal(key('10.244.1.20', '2024-05-02T08:00:00Z'), 'group=unlabeled,subnet=10.244.1.0/24');
    assert.equal(key('192.168.10.11', '2024-05-01T00:00:00Z'), 'workload=node/worker-1');
  });

  it('binds a pod that sat Pending from when it started, so a finished job before it keeps only its own time', () => {
    // The api pod was created at 08:00 but only started (and got 10.0.0.5) at 12:00; a job pod used
    // that address from 09:00 to 09:05.
    const pod = (name: string, created: string, started: string, phase: string, finished?: string): Record<string, unknown> => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { creationTimestamp: created, labels: { app: name }, name, namespace: 'ns' },
      spec: { nodeName: 'worker-1' },
      status: {
        containerStatuses: [{ name, state: finished === undefined ? { running: { startedAt: started } } : { terminated: { exitCode: 0, finishedAt: finished, reason: 'Completed', startedAt: started } } }],
        phase,
        podIP: '10.0.0.5',
        podIPs: [{ ip: '10.0.0.5' }],
        startTime: started,
      },
    });
    const doc = { apiVersion: 'v1', items: [pod('api', '2024-05-01T08:00:00Z', '2024-05-01T12:00:00Z', 'Running'), pod('job', '2024-05-01T09:00:00Z', '2024-05-01T09:00:00Z', 'Succeeded', '2024-05-01T09:05:00Z')], kind: 'List', metadata: { resourceVersion: '' } };
    const parsed = parseInventory(JSON.stringify(doc, null, 4));
    assert.deepEqual(bindingRows(parsed), ['10.0.0.5 ns/api 2024-05-01T12:00:00.000Z -', '10.0.0.5 ns/job 2024-05-01T09:00:00.000Z 2024-05-01T09:05:00.000Z']);
    const resolver = createResolver(toInventory(parsed, { source: 'kubectl', importedAt: 1 }));
    assert.equal(resolver.resolve(parseAddress('10.0.0.5'), iso('2024-05-02T00:00:00Z')).key, 'app=api');
    assert.equal(resolver.resolve(parseAddress('10.0.0.5'), iso('2024-05-01T09:01:00Z')).key, 'app=job');
  });

  it('reads a single Pod object', () => {
    const doc = JSON.parse(fixture('kubectl-pods.json')) as { items: unknown[] };
    const one = parseInventory(JSON.stringify(doc.items[3]));
    assert.equal(one.format, 'kubectl');
    assert.equal(one.bindings.length, 2);
  });
});

describe('aws ec2 describe-instances', () => {
  const parsed = parseInventory(fixture('ec2-describe-instances.json'));

  it('binds private IPv4 and IPv6 addresses from attachment, closing them at termination or reuse', () => {
    assert.equal(parsed.format, 'ec2');
    assert.deepEqual(bindingRows(parsed), [
      '10.0.1.10 i-0a1b2c3d4e5f60001 2024-03-01T08:00:00.000Z -',
      '10.0.1.11 i-0a1b2c3d4e5f60001 2024-03-01T08:00:00.000Z -',
      '10.0.1.20 i-0a1b2c3d4e5f60003 2024-01-05T00:00:00.000Z 2024-05-01T12:00:00.000Z',
      '10.0.1.20 i-0a1b2c3d4e5f60004 2024-05-02T00:00:00.000Z -',
      '10.0.2.5 i-0a1b2c3d4e5f60002 2024-02-10T12:30:00.000Z -',
      '2600:1f18:abcd:1200::10 i-0a1b2c3d4e5f60001 2024-03-01T08:00:00.000Z -',
    ]);
  });

  it('names instances by their Name tag and labels them with the other tags', () => {
    const byId = new Map(parsed.workloads.map((w) => [w.id, w]));
    assert.deepEqual(byId.get('i-0a1b2c3d4e5f60001'), { id: 'i-0a1b2c3d4e5f60001', name: 'web-1', labels: { app: 'web', env: 'prod', 'aws:autoscaling:groupName': 'web-asg' } });
    assert.equal(byId.get('i-0a1b2c3d4e5f60002')?.name, 'i-0a1b2c3d4e5f60002');
    assert.ok(byId.has('i-0a1b2c3d4e5f60005'), 'a terminated instance is still a workload');
    assert.equal(parsed.workloads.length, 6);
  });

  it('reports malformed instances with their JSON path, once per bad address', () => {
    assert.deepEqual(problems(parsed), [
      '$.Reservations[2].Instances[0].NetworkInterfaces[0].PrivateIpAddresses[0].PrivateIpAddress bad-address',
      '$.Reservations[2].Instances[1].LaunchTime bad-time',
    ]);
  });
});

describe('format detection and shared rules', () => {
  it('detects each format from content, and obeys an explicit format', () => {
    assert.equal(detectFormat(fixture('inventory.csv')), 'csv');
    assert.equal(detectFormat(fixture('inventory.json')), 'json');
    assert.equal(detectFormat(fixture('kubectl-pods.json')), 'kubectl');
    assert.equal(detectFormat(fixture('ec2-describe-instances.json')), 'ec2');
    const forced = parseInventory(fixture('kubectl-pods.json'), { format: 'ec2' });
    assert.deepEqual(problems(forced), ['$ unknown-shape']);
    assert.deepEqual(problems(parseInventory('{"something": 1}')), ['$ unknown-shape']);
  });

  it('reads ISO-8601 dates and date-times, UTC without a zone, and refuses impossible ones', () => {
    assert.equal(parseIsoTime('2024-05-01'), iso('2024-05-01T00:00:00Z'));
    assert.equal(parseIsoTime('2024-05-01T12:00:00'), iso('2024-05-01T12:00:00Z'));
    assert.equal(parseIsoTime('2024-05-01T12:00:00.250Z'), iso('2024-05-01T12:00:00Z') + 0.25);
    assert.equal(parseIsoTime('2024-05-01T12:00:00-0530'), iso('2024-05-01T17:30:00Z'));
    for (const bad of ['2024-02-30', '2024-13-01', '2024-05-01T24:00:00Z', 'yesterday', '1714564800', '']) assert.equal(parseIsoTime(bad), undefined, bad);
  });

  it('ends a claim where a different workload claims the address, and merges overlapping claims of one workload', () => {
    const a = parseAddress('10.0.0.1');
    const rows = claimsToBindings([
      { address: a, workloadId: 'node', from: 5, until: Infinity },
      { address: a, workloadId: 'node', from: 1, until: Infinity },
      { address: a, workloadId: 'pod', from: 10, until: 12 },
      { address: a, workloadId: 'pod', from: 20, until: 30 },
    ]).map((b) => [b.workloadId, b.from, b.to]);
    assert.deepEqual(rows, [
      ['node', 1, 10],
      ['pod', 10, 12],
      ['pod', 20, 30],
    ]);
  });
});
