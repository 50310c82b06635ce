// The webhook signature scheme as a receiver sees it: a known vector computed outside flowmap
// (openssl), then what must verify and what must not — tampering, staleness, malformed headers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signPayload, verifySignature } from './index.js';

const SECRET = 'whsec_test-secret';
const BODY = '{"id":"evt_1","type":"webhook.test","time":"2023-11-14T22:13:20.000Z","data":{}}';
const T = 1_700_000_000;
/** printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac whsec_test-secret */
const OPENSSL_HMAC = '9a45c0d611cbae7810f0f433358496f498e0c8143e0acb3a7f8cdd325e408507';
const AT_T = { now: new Date(T * 1000) };

describe('webhook signatures', () => {
  it('signs HMAC-SHA256 over "<t>.<body>" as t=<t>,v1=<hex>, matching openssl', () => {
    assert.equal(signPayload(SECRET, BODY, T), `t=${T},v1=${OPENSSL_HMAC}`);
    assert.equal(signPayload(SECRET, Buffer.from(BODY), T), `t=${T},v1=${OPENSSL_HMAC}`);
  });

  it('verifies its own signature of a string or the same bytes', () => {
    const header = signPayload(SECRET, BODY, T);
    assert.equal(verifySignature(SECRET, header, BODY, AT_T), true);
    assert.equal(verifySignature(SECRET, header, Buffer.from(BODY), AT_T), true);
  });

  it('rejects a body, timestamp or signature changed by one character, and the wrong secret', () => {
    const header = signPayload(SECRET, BODY, T);
    assert.equal(verifySignature(SECRET, header, BODY.replace('evt_1', 'evt_2'), AT_T), false, 'body');
    assert.equal(verifySignature(SECRET, header, `${BODY} `, AT_T), false, 'trailing space (re-serialised JSON)');
    assert.equal(verifySignature(SECRET, header.replace(`t=${T}`, `t=${T + 1}`), BODY, AT_T), false, 'timestamp');
    const flipped = header.slice(0, -1) + (header.endsWith('0') ? '1' : '0');
    assert.equal(verifySignature(SECRET, flipped, BODY, AT_T), false, 'signature');
    assert.equal(verifySignature('whsec_other', header, BODY, AT_T), false, 'secret');
  });

  it('accepts a timestamp within the tolerance either way and rejects one outside it', () => {
    const header = signPayload(SECRET, BODY, T);
    assert.equal(verifySignature(SECRET, header, BODY, { now: (T + 300) * 1000 }), true, '300 s late, default tolerance');
    assert.equal(verifySignature(SECRET, header, BODY, { now: (T + 301) * 1000 }), false, '301 s late');
    assert.equal(verifySignature(SECRET, header, BODY, { now: (T - 301) * 1000 }), false, 'from 301 s in the future');
    assert.equal(verifySignature(SECRET, header, BODY, { now: (T + 3600) * 1000, toleranceSeconds: 3600 }), true, 'wider tolerance');
    assert.equal(verifySignature(SECRET, header, BODY, { now: (T + 2) * 1000, toleranceSeconds: 1 }), false, 'narrower tolerance');
    assert.equal(verifySignature(SECRET, header, BODY), false, 'a 2023 signature checked against the current clock');
  });

  it('accepts a header with several v1 values when one matches, and ignores unknown keys', () => {
    const good = signPayload(SECRET, BODY, T).split(',v1=')[1];
    assert.equal(verifySignature(SECRET, `t=${T},v1=${'0'.repeat(64)},v1=${good}`, BODY, AT_T), true);
    assert.equal(verifySignature(SECRET, `t=${T},v0=abc,v1=${good},v9=future`, BODY, AT_T), true);
    assert.equal(verifySignature(SECRET, `t=${T}, v1=${good?.toUpperCase()}`, BODY, AT_T), true, 'spaces and upper-case hex');
  });

  it('returns false, never throws, for malformed headers and arguments', () => {
    const good = signPayload(SECRET, BODY, T).split(',v1=')[1] ?? '';
    const malformed: unknown[] = [
      undefined,
      null,
      '',
      'garbage',
      ',',
      '=',
      't=',
      `t=${T}`,
      `v1=${good}`,
      `t=,v1=${good}`,
      `t=abc,v1=${good}`,
      `t=-1,v1=${good}`,
      `t=1e9,v1=${good}`,
      `t=${T},t=${T},v1=${good}`,
      `t=${T},v1=${good.slice(1)}`,
      `t=${T},v1=${good}0`,
      `t=${T},v1=${'z'.repeat(64)}`,
      `t=${T},v1`,
      `t=${'9'.repeat(400)},v1=${good}`,
      `t=${T},v1=${good},${'x=y,'.repeat(2000)}`,
      `t=${T}\u0000,v1=${good}`,
      42,
      { t: T },
      ['t', T],
    ];
    for (const header of malformed) {
      assert.equal(verifySignature(SECRET, header as string, BODY, AT_T), false, JSON.stringify(header)?.slice(0, 60));
    }
    const header = signPayload(SECRET, BODY, T);
    for (const secret of ['', undefined, null, 7]) assert.equal(verifySignature(secret as string, header, BODY, AT_T), false, `secret ${String(secret)}`);
    for (const body of [undefined, null, 7, { a: 1 }] as unknown[]) assert.equal(verifySignature(SECRET, header, body as string, AT_T), false, `body ${JSON.stringify(body)}`);
  });

  it('refuses to sign with an empty secret or a timestamp that is not whole seconds', () => {
    assert.throws(() => signPayload('', BODY, T), /secret/);
    assert.throws(() => signPayload(SECRET, BODY, 1.5), /timestamp/);
    assert.throws(() => signPayload(SECRET, BODY, -1), /timestamp/);
  });
});
