import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, parseAddress, parsePrefix, prefixContains, tryParseAddress, formatPrefix } from './ip.js';
import { isFlowmapError } from './errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('addresses', () => {
  it('maps IPv4 into ::ffff:0:0/96', () => {
    assert.equal(hex(parseAddress('192.0.2.1')), '00000000000000000000ffffc0000201');
  });

  it('parses IPv6 forms: compressed, full, leading and trailing ::, embedded IPv4', () => {
    const cases: [string, string][] = [
      ['2001:db8::1', '20010db8000000000000000000000001'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'],
      ['::', '00000000000000000000000000000000'],
      ['::1', '00000000000000000000000000000001'],
      ['fe80::', 'fe800000000000000000000000000000'],
      ['::ffff:10.1.2.3', '00000000000000000000ffff0a010203'],
      ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ];
    for (const [text, expected] of cases) assert.equal(hex(parseAddress(text)), expected, text);
  });

  it('refuses what is not an address, with a coded error naming the value', () => {
    for (const bad of ['', '1.2.3', '256.1.1.1', '1.2.3.4.5', '01.2.3.4', '2001:db8:::1', 'fe80::1%eth0', 'gggg::', ' 1.2.3.4', '1:2:3:4:5:6:7:8:9']) {
      assert.equal(tryParseAddress(bad), undefined, bad);
      assert.throws(() => parseAddress(bad), (e) => isFlowmapError(e, 'FLOWMAP_BAD_ADDRESS') && e.message.includes(`'${bad}'`));
    }
  });

  it('formats RFC 5952 text: dotted IPv4, longest zero run compressed, first on ties, no single-group compression', () => {
    const cases: [string, string][] = [
      ['10.0.0.1', '10.0.0.1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['FE80:0:0:0:0:0:0:1', 'fe80::1'],
    ];
    for (const [input, expected] of cases) assert.equal(formatAddress(parseAddress(input)), expected, input);
  });
});

describe('prefixes', () => {
  it('puts IPv4 prefixes in the 128-bit space and matches only addresses inside', () => {
    const p = parsePrefix('10.1.0.0/16');
    assert.equal(p.length, 112);
    assert.equal(p.family, 4);
    assert.ok(prefixContains(p, parseAddress('10.1.255.7')));
    assert.ok(!prefixContains(p, parseAddress('10.2.0.1')));
    assert.ok(!prefixContains(p, parseAddress('::a01:1')), 'an IPv6 address with the same low bits is not in an IPv4 prefix');
  });

  it('handles prefix lengths that are not byte aligned', () => {
    const p = parsePrefix('192.0.2.128/25');
    assert.ok(prefixContains(p, parseAddress('192.0.2.200')));
    assert.ok(!prefixContains(p, parseAddress('192.0.2.127')));
    const v6 = parsePrefix('2001:db8:8000::/33');
    assert.ok(prefixContains(v6, parseAddress('2001:db8:ffff::1')));
    assert.ok(!prefixContains(v6, parseAddress('2001:db8:7fff::1')));
  });

  it('treats a bare address as a host prefix and /0 as everything of its family', () => {
    assert.equal(formatPrefix(parsePrefix('192.0.2.1')), '192.0.2.1/32');
    assert.ok(prefixContains(parsePrefix('0.0.0.0/0'), parseAddress('203.0.113.9')));
    assert.ok(prefixContains(parsePrefix('::/0'), parseAddress('2001:db8::1')));
  });

  it('refuses host bits, bad lengths and garbage, suggesting the network', () => {
    assert.throws(() => parsePrefix('10.1.2.3/16'), (e) => isFlowmapError(e, 'FLOWMAP_BAD_CIDR') && e.message.includes('10.1.0.0/16'));
    for (const bad of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '::/129', 'x/8', '10.0.0.0/8/8', '10.0.0.0/0x8']) {
      assert.throws(() => parsePrefix(bad), (e) => isFlowmapError(e, 'FLOWMAP_BAD_CIDR'), bad);
    }
  });
});
