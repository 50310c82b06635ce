// Orientation at ingest (DESIGN.md §6), specified as a table of records whose server a network
// engineer can tell at a glance, plus properties: swapping a record's ends swaps the answer, a bare
// SYN always points at the destination, and rows already oriented are never touched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFlowBatch, flowAt, flowBatchOf, type FlowRecord, type ServerSide } from '../core/flow.js';
import { parseAddress } from '../core/ip.js';
import { orientBatch } from './orientation.js';
import { createServicePorts } from './service-ports.js';

const TCP = 6;
const UDP = 17;
const SCTP = 132;
const DCCP = 33;
const ICMP = 1;
const ICMPV6 = 58;
const GRE = 47;
const ESP = 50;
const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;
const RST = 0x04;
const FIN = 0x01;
const ESTABLISHED = ACK | PSH;

const exporter = parseAddress('192.0.2.1');
const client = parseAddress('10.0.0.1');
const server = parseAddress('10.0.0.2');

function record(proto: number, src_port: number, dst_port: number, tcp_flags = 0, server_side: ServerSide = 'unknown'): FlowRecord {
  return { time_received: 1_700_000_000, source: 'netflow9', exporter, src_addr: client, dst_addr: server, proto, src_port, dst_port, tcp_flags, server_side };
}

function orientOne(r: FlowRecord, ports = createServicePorts()): ServerSide {
  const batch = flowBatchOf([r]);
  orientBatch(batch, ports);
  return flowAt(batch, 0).server_side;
}

interface Case {
  name: string;
  proto: number;
  src: number;
  dst: number;
  flags?: number;
  expected: ServerSide;
}

const HIGH_PORT_SERVICES: [string, number][] = [
  ['HTTP alternate', 8080],
  ['Prometheus', 9090],
  ['MongoDB', 27017],
  ['gRPC', 50051],
  ['PostgreSQL', 5432],
  ['Redis', 6379],
  ['Kafka', 9092],
  ['Elasticsearch', 9200],
  ['MySQL', 3306],
  ['memcached', 11211],
];

const CASES: Case[] = [
  // A service on a high port against an ephemeral client port (Linux 32768–60999, Windows 49152–65535),
  // and the reply record of the same connection.
  ...HIGH_PORT_SERVICES.flatMap(([name, port]): Case[] => [
    { name: `${name}: Linux client 41000 → ${port}`, proto: TCP, src: 41000, dst: port, flags: ESTABLISHED, expected: 'dst' },
    { name: `${name}: reply ${port} → Linux client 41000`, proto: TCP, src: port, dst: 41000, flags: ESTABLISHED, expected: 'src' },
    { name: `${name}: Windows client 64999 → ${port}`, proto: TCP, src: 64999, dst: port, flags: ESTABLISHED, expected: 'dst' },
    { name: `${name}: reply ${port} → Windows client 64999`, proto: TCP, src: port, dst: 64999, flags: ESTABLISHED, expected: 'src' },
  ]),
  { name: 'memcached over UDP: client 51000 → 11211', proto: UDP, src: 51000, dst: 11211, expected: 'dst' },
  { name: 'memcached over UDP: reply 11211 → 51000', proto: UDP, src: 11211, dst: 51000, expected: 'src' },
  // Clients on low source ports (rsh, NFS and old RPC clients bind reserved ports).
  { name: 'client on reserved port 700 → 8080', proto: TCP, src: 700, dst: 8080, flags: ESTABLISHED, expected: 'dst' },
  { name: 'reply 8080 → client on reserved port 700', proto: TCP, src: 8080, dst: 700, flags: ESTABLISHED, expected: 'src' },
  { name: 'client on reserved port 1023 → 9090', proto: TCP, src: 1023, dst: 9090, flags: ESTABLISHED, expected: 'dst' },
  { name: 'reply 9090 → client on reserved port 1023', proto: TCP, src: 9090, dst: 1023, flags: ESTABLISHED, expected: 'src' },
  { name: 'NFS client on reserved port 871 → 2049', proto: TCP, src: 871, dst: 2049, flags: ESTABLISHED, expected: 'dst' },
  { name: 'reply 2049 → NFS client on reserved port 1001', proto: TCP, src: 2049, dst: 1001, flags: ESTABLISHED, expected: 'src' },
  // Well-known services.
  { name: 'HTTPS: 51000 → 443', proto: TCP, src: 51000, dst: 443, flags: ESTABLISHED, expected: 'dst' },
  { name: 'HTTPS reply: 443 → 51000', proto: TCP, src: 443, dst: 51000, flags: ESTABLISHED, expected: 'src' },
  { name: 'QUIC: 51000 → 443', proto: UDP, src: 51000, dst: 443, expected: 'dst' },
  { name: 'DNS: 51000 → 53', proto: UDP, src: 51000, dst: 53, expected: 'dst' },
  { name: 'DNS reply: 53 → 51000', proto: UDP, src: 53, dst: 51000, expected: 'src' },
  { name: 'DHCP: client 68 → server 67', proto: UDP, src: 68, dst: 67, expected: 'dst' },
  { name: 'DHCP reply: server 67 → client 68', proto: UDP, src: 67, dst: 68, expected: 'src' },
  // Both ports listed: well-known beats registered, then the lower port.
  { name: 'NAT client landing on 8080 → 443: the well-known port wins', proto: TCP, src: 8080, dst: 443, flags: ESTABLISHED, expected: 'dst' },
  { name: 'reply 443 → NAT client on 3306: the well-known port wins', proto: TCP, src: 443, dst: 3306, flags: ESTABLISHED, expected: 'src' },
  { name: 'client port 50051 → PostgreSQL: both registered, the lower port wins', proto: TCP, src: 50051, dst: 5432, flags: ESTABLISHED, expected: 'dst' },
  // Neither listed: the lower port.
  { name: 'unlisted 40000 → 12345: the lower port', proto: TCP, src: 40000, dst: 12345, flags: ESTABLISHED, expected: 'dst' },
  { name: 'unlisted 12345 → 40000: the lower port', proto: TCP, src: 12345, dst: 40000, flags: ESTABLISHED, expected: 'src' },
  // TCP SYN without ACK: the sender is the client, whatever the ports say.
  { name: 'SYN only: 41000 → 8080', proto: TCP, src: 41000, dst: 8080, flags: SYN, expected: 'dst' },
  { name: 'SYN only from a scanner using source port 443 → 41000', proto: TCP, src: 443, dst: 41000, flags: SYN, expected: 'dst' },
  { name: 'SYN then RST (refused connection) 41000 → 12345', proto: TCP, src: 41000, dst: 12345, flags: SYN | RST, expected: 'dst' },
  { name: 'SYN only with both ports 0 still names the destination', proto: TCP, src: 0, dst: 0, flags: SYN, expected: 'dst' },
  { name: 'SYN-ACK 8080 → 41000 is the server answering', proto: TCP, src: 8080, dst: 41000, flags: SYN | ACK, expected: 'src' },
  { name: 'a whole connection in one record (SYN, ACK, FIN) falls to ports', proto: TCP, src: 41000, dst: 5432, flags: SYN | ACK | PSH | FIN, expected: 'dst' },
  { name: 'SYN bit on a UDP record is not a TCP flag', proto: UDP, src: 53, dst: 41000, flags: SYN, expected: 'src' },
  // SCTP and protocols with ports but no list.
  { name: 'SCTP Diameter: 40000 → 3868', proto: SCTP, src: 40000, dst: 3868, expected: 'dst' },
  { name: 'DCCP: the lower port', proto: DCCP, src: 5000, dst: 40000, expected: 'src' },
  // No evidence.
  { name: 'ICMP echo request', proto: ICMP, src: 0, dst: 8 << 8, expected: 'unknown' },
  { name: 'ICMPv6 echo reply', proto: ICMPV6, src: 0, dst: 129 << 8, expected: 'unknown' },
  { name: 'GRE', proto: GRE, src: 0, dst: 0, expected: 'unknown' },
  { name: 'ESP with garbage in the port columns', proto: ESP, src: 1234, dst: 80, expected: 'unknown' },
  { name: 'TCP with both ports 0 (non-first fragment)', proto: TCP, src: 0, dst: 0, flags: ESTABLISHED, expected: 'unknown' },
  { name: 'TCP with only the destination port known', proto: TCP, src: 0, dst: 80, flags: ESTABLISHED, expected: 'unknown' },
  { name: 'UDP with only the source port known', proto: UDP, src: 53, dst: 0, expected: 'unknown' },
  { name: 'NTP between peers 123 ↔ 123', proto: UDP, src: 123, dst: 123, expected: 'unknown' },
  { name: 'IKE 500 ↔ 500', proto: UDP, src: 500, dst: 500, expected: 'unknown' },
  { name: 'equal unlisted ports', proto: TCP, src: 40000, dst: 40000, flags: ESTABLISHED, expected: 'unknown' },
];

describe('orientation at ingest', () => {
  const ports = createServicePorts();

  for (const c of CASES) {
    it(`${c.name} → server is ${c.expected}`, () => {
      assert.equal(orientOne(record(c.proto, c.src, c.dst, c.flags ?? 0), ports), c.expected);
    });
  }

  it('orients a whole batch in one pass, each row on its own evidence', () => {
    const batch = flowBatchOf(CASES.map((c) => record(c.proto, c.src, c.dst, c.flags ?? 0)));
    orientBatch(batch, ports);
    CASES.forEach((c, i) => assert.equal(flowAt(batch, i).server_side, c.expected, c.name));
  });

  it('puts a configured port above every built-in one', () => {
    const configured = createServicePorts({ extra: ['tcp/61000', 'tcp/40000'] });
    assert.equal(orientOne(record(TCP, 33000, 61000, ESTABLISHED), ports), 'src', 'unconfigured: the lower port');
    assert.equal(orientOne(record(TCP, 33000, 61000, ESTABLISHED), configured), 'dst');
    assert.equal(orientOne(record(TCP, 61000, 33000, ESTABLISHED), configured), 'src');
    assert.equal(orientOne(record(TCP, 40000, 443, ESTABLISHED), configured), 'src', 'configured beats well-known');
    assert.equal(orientOne(record(TCP, 40000, 61000, ESTABLISHED), configured), 'src', 'two configured ports: the lower port');
  });

  it('leaves rows already oriented (by a cloud parser) alone, even against a bare SYN', () => {
    const batch = flowBatchOf([record(TCP, 41000, 443, SYN, 'src'), record(UDP, 53, 41000, 0, 'dst'), record(UDP, 53, 41000, 0)]);
    orientBatch(batch, ports);
    assert.deepEqual([0, 1, 2].map((i) => flowAt(batch, i).server_side), ['src', 'dst', 'src']);
  });

  it('orients only rows [start, end)', () => {
    const batch = flowBatchOf([record(TCP, 41000, 443, ESTABLISHED), record(TCP, 41000, 443, ESTABLISHED), record(TCP, 41000, 443, ESTABLISHED), record(TCP, 41000, 443, ESTABLISHED)]);
    orientBatch(batch, ports, 1, 3);
    assert.deepEqual([0, 1, 2, 3].map((i) => flowAt(batch, i).server_side), ['unknown', 'dst', 'dst', 'unknown']);
  });

  it('never reads past the batch length into its spare capacity', () => {
    const batch = createFlowBatch(8);
    batch.columns.proto.fill(TCP);
    batch.columns.src_port.fill(41000);
    batch.columns.dst_port.fill(443);
    batch.length = 2;
    orientBatch(batch, ports);
    assert.deepEqual([...batch.columns.server_side], [2, 2, 0, 0, 0, 0, 0, 0]);
  });

  it('refuses a row range outside the batch', () => {
    const batch = flowBatchOf([record(TCP, 41000, 443)]);
    assert.throws(() => orientBatch(batch, ports, 0, 2), RangeError);
    assert.throws(() => orientBatch(batch, ports, -1), RangeError);
    assert.throws(() => orientBatch(batch, ports, 1, 0), RangeError);
  });
});

describe('orientation properties', () => {
  const ports = createServicePorts({ extra: ['tcp/9999', 'udp/5000-5010'] });
  const FLIP: Record<ServerSide, ServerSide> = { src: 'dst', dst: 'src', unknown: 'unknown' };
  // Ports drawn so that listed, configured, reserved, zero and equal ports all come up often.
  const port = fc.oneof(
    fc.constantFrom(0, 22, 53, 67, 68, 123, 443, 700, 1023, 2049, 3306, 5005, 5432, 8080, 9999, 27017, 50051, 51820),
    fc.integer({ min: 0, max: 65535 }),
  );
  const proto = fc.oneof(fc.constantFrom(TCP, UDP, SCTP, DCCP, ICMP, ICMPV6, GRE), fc.integer({ min: 0, max: 255 }));
  const bareSyn = (p: number, flags: number): boolean => p === TCP && (flags & (SYN | ACK)) === SYN;

  it('swapping the ends of a record swaps the server (records without a bare SYN)', () => {
    fc.assert(
      fc.property(proto, port, port, fc.integer({ min: 0, max: 255 }), (p, src, dst, flags) => {
        fc.pre(!bareSyn(p, flags));
        const forward = orientOne(record(p, src, dst, flags), ports);
        const reverse = orientOne(record(p, dst, src, flags), ports);
        assert.equal(reverse, FLIP[forward]);
      }),
      { numRuns: 2000 },
    );
  });

  it('a bare SYN always makes the destination the server', () => {
    fc.assert(
      fc.property(port, port, fc.integer({ min: 0, max: 255 }), (src, dst, flags) => {
        assert.equal(orientOne(record(TCP, src, dst, (flags & ~ACK) | SYN), ports), 'dst');
      }),
    );
  });

  it('decides every record of a protocol with ports and two different non-zero ports', () => {
    fc.assert(
      fc.property(fc.constantFrom(TCP, UDP, SCTP, DCCP, 136), port, port, fc.integer({ min: 0, max: 255 }), (p, src, dst, flags) => {
        fc.pre(src !== 0 && dst !== 0 && src !== dst);
        assert.notEqual(orientOne(record(p, src, dst, flags), ports), 'unknown');
      }),
    );
  });

  it('gives the same answer row by row as for the whole batch', () => {
    const row = fc.tuple(proto, port, port, fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), (rows) => {
        const batch = flowBatchOf(rows.map(([p, s, d, f]) => record(p, s, d, f)));
        orientBatch(batch, ports);
        rows.forEach(([p, s, d, f], i) => assert.equal(flowAt(batch, i).server_side, orientOne(record(p, s, d, f), ports)));
      }),
      { numRuns: 200 },
    );
  });
});
