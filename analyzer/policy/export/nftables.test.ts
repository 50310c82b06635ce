// The nftables export checked by nft itself: `nft -c -f` parses the script and has the kernel
// validate it without committing, inside a fresh network namespace (`unshare -n`) so the
// machine's own ruleset is never touched. Without nft the tests skip, except in CI where they fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { renderExport } from './index.js';
import { exportFixture } from './testing.js';

/** nft (Debian installs it in /usr/sbin, off a non-root PATH) and the unshare flags that give a network namespace. */
function tools(): { nft: string; unshare: string[] } | string {
  const nft = ['nft', '/usr/sbin/nft', '/sbin/nft'].find((path) => spawnSync(path, ['--version']).status === 0);
  if (nft === undefined) return 'nft is not installed (apt-get install nftables)';
  // Root can make a network namespace; other users one inside a user namespace of their own.
  const unshare = [['-n'], ['-rn']].find((flags) => spawnSync('unshare', [...flags, 'true']).status === 0);
  if (unshare === undefined) return 'unshare cannot create a network namespace here';
  return { nft, unshare };
}

const found = tools();
if (typeof found === 'string' && process.env.CI === 'true') throw new Error(`nftables tests need nft in CI: ${found}`);
const skip = typeof found === 'string' ? found : false;

const dir = mkdtempSync(join(tmpdir(), 'flowmap-nft-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** Runs `sh -c script` in a new network namespace, FILE holding `text` and NFT naming nft. */
function inNamespace(text: string, script: string): { status: number | null; stdout: string; stderr: string } {
  assert.ok(typeof found !== 'string');
  const file = join(dir, `ruleset-${files++}.nft`);
  writeFileSync(file, text);
  const command = script.replaceAll('FILE', file).replaceAll('NFT', found.nft);
  const result = spawnSync('unshare', [...found.unshare, 'sh', '-c', command], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const text = renderExport('nftables', exportFixture()).text;
const rules = text.split('\n').filter((l) => l.includes(' accept comment '));

describe('nftables export', { skip }, () => {
  it('passes nft -c (parse and kernel check) in a fresh network namespace', () => {
    const result = inNamespace(text, 'NFT -c -f FILE');
    assert.equal(result.status, 0, result.stderr);
  });

  it('the check can fail: a port out of range, an undefined set and a 129-character comment are refused', () => {
    const port = inNamespace(text.replace('tcp dport 8080', 'tcp dport 80800'), 'NFT -c -f FILE');
    assert.notEqual(port.status, 0);
    assert.match(port.stderr, /80800/);
    const set = inNamespace(text.replace('@g_shop_web_v4', '@g_nowhere_v4'), 'NFT -c -f FILE');
    assert.notEqual(set.status, 0);
    assert.match(set.stderr, /g_nowhere_v4/);
    const long = inNamespace(text.replace(/comment "r-web-api: [^"]*"/, `comment "${'x'.repeat(129)}"`), 'NFT -c -f FILE');
    assert.notEqual(long.status, 0);
    assert.match(long.stderr, /comment too long/);
  });

  it('loads twice in a row, the second load replacing the table, with the sets and rules the export wrote', () => {
    const result = inNamespace(text, 'NFT -f FILE && NFT -f FILE && NFT -j list table inet flowmap');
    assert.equal(result.status, 0, result.stderr);
    const listed = (JSON.parse(result.stdout) as { nftables: Record<string, { name?: string; chain?: string; elem?: unknown[]; comment?: string }>[] }).nftables;
    const sets = new Map(listed.filter((o) => o.set !== undefined).map((o) => [o.set?.name, o.set]));
    assert.equal(sets.size, 2 + 2 * 10, 'the private ranges, and a v4 and a v6 set for each of the ten groups other than the internet');
    assert.equal(sets.get('g_reports_prod_v4')?.elem, undefined, 'the group without addresses has an empty set');
    assert.deepEqual(sets.get('g_saas_v4')?.elem, [{ prefix: { addr: '198.51.100.0', len: 24 } }]);
    const loaded = listed.filter((o) => o.rule?.chain === 'forward');
    assert.equal(loaded.length, 2 + rules.length, 'one rule per line, after established and invalid');
    assert.deepEqual(
      loaded.slice(2).map((o) => o.rule?.comment),
      rules.map((l) => /comment "([^"]*)"$/.exec(l)?.[1]),
    );
  });

  it('drops by default and accepts established traffic first', () => {
    assert.match(text, /^table inet flowmap \{\}\ndelete table inet flowmap\ntable inet flowmap \{$/m);
    assert.match(text, /type filter hook forward priority filter; policy drop;\n\t\tct state established,related accept\n\t\tct state invalid drop\n/);
  });

  it('writes each rule per IP family, with sets, port lists, ranges, UDP and ICMP', () => {
    const line = (id: string): string[] => rules.filter((l) => l.includes(`comment "${id}:`)).map((l) => l.trim().replace(/ comment .*$/, ''));
    assert.deepEqual(line('r-web-api'), ['ip saddr @g_shop_web_v4 ip daddr @g_shop_api_v4 tcp dport 8080 accept']);
    assert.deepEqual(line('r-api-billing'), ['ip saddr @g_shop_api_v4 ip daddr @g_billing_v4 tcp dport { 8443, 9443 } accept']);
    assert.deepEqual(line('r-erp-db'), ['ip saddr @g_erp_prod_v4 ip daddr @g_db_prod_v4 tcp dport 49152-65535 accept']);
    assert.deepEqual(line('r-erp-dns'), ['ip saddr @g_erp_prod_v4 ip daddr @g_dns_prod_v4 udp dport 53 accept', 'ip6 saddr @g_erp_prod_v6 ip6 daddr @g_dns_prod_v6 udp dport 53 accept']);
    assert.deepEqual(line('r-db-icmp'), ['ip saddr @g_db_prod_v4 ip daddr @g_shop_api_v4 ip protocol icmp accept']);
    assert.deepEqual(line('r-db-db'), ['ip saddr @g_db_prod_v4 ip daddr @g_db_prod_v4 tcp dport 5433 accept']);
    assert.deepEqual(line('r-inet-erp'), ['ip saddr != @private_v4 ip daddr @g_erp_prod_v4 tcp dport 443 accept', 'ip6 saddr != @private_v6 ip6 daddr @g_erp_prod_v6 tcp dport 443 accept']);
  });

  it('quotes every comment, keeps it within 128 characters and strips double quotes', () => {
    for (const l of rules) {
      const comment = /comment "(.*)"$/.exec(l)?.[1];
      assert.ok(comment !== undefined && comment.length <= 128 && !comment.includes('"'), l);
    }
    assert.ok(rules.some((l) => l.includes('comment "x-rdp-erp: exception RDP for it-ops@example.com')));
    assert.ok(rules.some((l) => /comment "r-api-billing: .{100,}\.\.\."$/.test(l)), 'a long comment is cut');
  });

  it('skips a rule whose sides share no IP family, and says so in the header', () => {
    const out = renderExport('nftables', exportFixture());
    assert.deepEqual(out.skipped, [{ rule: 'r-reports-db', reason: 'reports-prod and db-prod have no addresses of a common IP family for tcp at export time' }]);
    assert.ok(out.text.includes(`#   r-reports-db: ${out.skipped[0]?.reason ?? ''}\n`));
  });
});
