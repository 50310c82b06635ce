import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isFlowmapError } from '../core/errors.js';
import { BUILTIN_SERVICE_PORTS, createServicePorts, parseServicePort, PORTS_WITHOUT_LIST, SERVICE_RANK } from './service-ports.js';

const TCP = 6;
const UDP = 17;
const SCTP = 132;

describe('service ports: parsing configured ports', () => {
  const accepted: [string, { proto: string; first: number; last: number }][] = [
    ['tcp/9999', { proto: 'tcp', first: 9999, last: 9999 }],
    ['udp/5000-5010', { proto: 'udp', first: 5000, last: 5010 }],
    ['sctp/3868', { proto: 'sctp', first: 3868, last: 3868 }],
    ['TCP/1', { proto: 'tcp', first: 1, last: 1 }],
    [' tcp / 65535 ', { proto: 'tcp', first: 65535, last: 65535 }],
    ['udp/7-7', { proto: 'udp', first: 7, last: 7 }],
  ];
  for (const [text, expected] of accepted) {
    it(`reads '${text}'`, () => {
      assert.deepEqual(parseServicePort(text), expected);
    });
  }

  const refused: [string, RegExp][] = [
    ['tcp/0', /'tcp\/0': port 0 is outside 1-65535/],
    ['tcp/65536', /port 65536 is outside 1-65535/],
    ['udp/5010-5000', /range 5010-5000 ends before it starts/],
    ['icmp/8', /'icmp' is not tcp, udp or sctp/],
    ['9999', /not in the form PROTO\/PORT/],
    ['tcp/99a', /not in the form PROTO\/PORT/],
    ['tcp/', /not in the form PROTO\/PORT/],
    ['', /not in the form PROTO\/PORT/],
  ];
  for (const [text, message] of refused) {
    it(`refuses '${text}' with FLOWMAP_CONFIG_INVALID naming the value and the allowed form`, () => {
      assert.throws(
        () => parseServicePort(text),
        (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID') && message.test(err.message) && /e\.g\. tcp\/9999 or udp\/5000-5010/.test(err.message),
      );
    });
  }

  it('accepts objects with a protocol number or name, and refuses protocols without a list', () => {
    assert.deepEqual(parseServicePort({ proto: 6, port: 9999 }), { proto: 'tcp', first: 9999, last: 9999 });
    assert.deepEqual(parseServicePort({ proto: 'udp', port: 5000, last: 5002 }), { proto: 'udp', first: 5000, last: 5002 });
    assert.throws(() => parseServicePort({ proto: 1, port: 8 }), /protocol number 1 has no service-port list/);
    assert.throws(() => parseServicePort({ proto: 6, port: 1.5 }), /port 1.5 is outside 1-65535/);
  });

  it('fails createServicePorts at start on a bad configured port', () => {
    assert.throws(() => createServicePorts({ extra: ['tcp/9999', 'tcp/70000'] }), /'tcp\/70000'/);
  });
});

describe('service ports: ranks', () => {
  const ports = createServicePorts({ extra: ['tcp/9999', 'udp/5000-5002', { proto: 6, port: 443 }, 'tcp/61000'] });

  it('ranks built-in ports below 1024 above built-in ports from 1024, and configured ports above both', () => {
    assert.equal(ports.rank(TCP, 22), SERVICE_RANK.WELL_KNOWN);
    assert.equal(ports.rank(UDP, 53), SERVICE_RANK.WELL_KNOWN);
    assert.equal(ports.rank(TCP, 5432), SERVICE_RANK.REGISTERED);
    assert.equal(ports.rank(TCP, 9999), SERVICE_RANK.CONFIGURED);
    assert.equal(ports.rank(TCP, 443), SERVICE_RANK.CONFIGURED, 'configuring a built-in port raises it');
    assert.equal(ports.rank(TCP, 61000), SERVICE_RANK.CONFIGURED);
    assert.equal(ports.rank(TCP, 51234), SERVICE_RANK.NONE);
  });

  it('keeps protocols apart: a TCP service is not a UDP one', () => {
    assert.equal(ports.rank(TCP, 5432), SERVICE_RANK.REGISTERED);
    assert.equal(ports.rank(UDP, 5432), SERVICE_RANK.NONE);
    assert.equal(ports.rank(UDP, 123), SERVICE_RANK.WELL_KNOWN);
    assert.equal(ports.rank(TCP, 123), SERVICE_RANK.NONE);
    assert.equal(ports.rank(SCTP, 3868), SERVICE_RANK.REGISTERED);
    assert.equal(ports.rank(SCTP, 5432), SERVICE_RANK.NONE);
    assert.deepEqual([4999, 5000, 5001, 5002, 5003].map((p) => ports.rank(UDP, p)), [0, 3, 3, 3, 0], 'a configured range is inclusive');
    assert.equal(ports.rank(TCP, 5001), SERVICE_RANK.NONE);
  });

  it('has no ranks for protocols without a list', () => {
    assert.equal(ports.rank(1, 2048), SERVICE_RANK.NONE);
    assert.equal(ports.rank(33, 5000), SERVICE_RANK.NONE);
    assert.equal(ports.protocols[1], 0, 'ICMP has no ports');
    assert.equal(ports.protocols[58], 0, 'ICMPv6 has no ports');
    assert.equal(ports.protocols[33], PORTS_WITHOUT_LIST, 'DCCP has ports but no list');
    assert.equal(ports.protocols[136], PORTS_WITHOUT_LIST, 'UDP-Lite has ports but no list');
  });

  it('names listed ports for documentation', () => {
    assert.equal(ports.name(TCP, 5432), 'postgresql');
    assert.equal(ports.name(TCP, 9999), 'configured');
    assert.equal(ports.name(TCP, 443), 'https', 'a configured built-in port keeps its name');
    assert.equal(ports.name(TCP, 51234), undefined);
    assert.equal(ports.name(1, 0), undefined);
  });

  it('can leave the built-in list out', () => {
    const only = createServicePorts({ builtin: false, extra: ['tcp/9999'] });
    assert.equal(only.rank(TCP, 443), SERVICE_RANK.NONE);
    assert.equal(only.rank(TCP, 9999), SERVICE_RANK.CONFIGURED);
  });
});

describe('service ports: the built-in list', () => {
  const builtin = createServicePorts();

  it('lists the high-port services orientation must get right', () => {
    for (const port of [8080, 9090, 27017, 50051, 5432, 6379, 9092, 9200, 3306, 11211, 2049, 3389, 1433, 1521]) {
      assert.equal(builtin.rank(TCP, port), SERVICE_RANK.REGISTERED, `tcp/${port}`);
    }
  });

  it('does not list the low source ports clients bind (rsh, NFS reserved ports) used in the orientation tests', () => {
    for (const port of [700, 1000, 1022, 1023]) assert.equal(builtin.rank(TCP, port), SERVICE_RANK.NONE, `tcp/${port}`);
  });

  it('holds a few hundred entries, each once, on valid ports, with a name', () => {
    assert.ok(BUILTIN_SERVICE_PORTS.length >= 200, `${BUILTIN_SERVICE_PORTS.length} entries`);
    const seen = new Set<string>();
    for (const entry of BUILTIN_SERVICE_PORTS) {
      const key = `${entry.proto}/${entry.port}`;
      assert.ok(!seen.has(key), `${key} listed twice`);
      seen.add(key);
      assert.ok(Number.isInteger(entry.port) && entry.port >= 1 && entry.port <= 65535, key);
      assert.ok(entry.name.length > 0, key);
    }
  });

  it('keeps out of the dynamic range 49152-65535 where clients pick ports, but for gRPC and WireGuard', () => {
    const dynamic = BUILTIN_SERVICE_PORTS.filter((e) => e.port >= 49152).map((e) => `${e.proto}/${e.port}`);
    assert.deepEqual(dynamic.sort(), ['tcp/50051', 'udp/51820']);
  });
});
