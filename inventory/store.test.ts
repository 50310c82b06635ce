import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatAddress, parseAddress } from '../core/ip.js';
import { silentLogger } from '../core/logger.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import { parseInventory } from './import/index.js';
import { addressHistory, applyImport, BINDINGS_NAMESPACE, loadInventory, WORKLOADS_NAMESPACE } from './store.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');
const iso = (text: string): number => Date.parse(text) / 1000;
/** Import times: after every pod in the fixture was created. */
const T = iso('2024-06-01T00:00:00Z');

describe('inventory in the store (embedded DuckDB)', () => {
  let store: Store;
  before(async () => {
    store = await createDuckDBStore({ dataDir: ':memory:' }, { logger: silentLogger() });
    await store.migrate();
  });
  after(async () => {
    await store.close();
  });

  const pods = parseInventory(fixture('kubectl-pods.json'));

  it('adds every record of a first import and counts the parser problems as skipped', async () => {
    const summary = await applyImport(store, pods, { source: 'kubectl:prod', importedAt: T + 1000 });
    assert.deepEqual(summary.byKind, {
      workloads: { added: 8, changed: 0, unchanged: 0 },
      bindings: { added: 7, changed: 0, unchanged: 0 },
      rules: { added: 0, changed: 0, unchanged: 0 },
    });
    assert.equal(summary.added, 15);
    assert.equal(summary.skipped, 2);
    assert.deepEqual(summary.conflicts, []);
  });

  it('changes nothing when the same file is imported again', async () => {
    const summary = await applyImport(store, pods, { source: 'kubectl:prod', importedAt: T + 2000 });
    assert.equal(summary.added, 0);
    assert.equal(summary.changed, 0);
    assert.equal(summary.unchanged, 15);
    const stored = await store.meta.list(BINDINGS_NAMESPACE);
    for (const e of stored) assert.ok(JSON.stringify(e.value).includes(`"importedAt":${T + 1000}`), 'unchanged bindings keep their import time');
  });

  it('loads back into a resolver that answers as the parsed file does', async () => {
    const { resolver, inventory } = await loadInventory(store, { groupBy: ['app', 'namespace'] });
    assert.equal(inventory.workloads.length, 8);
    assert.equal(inventory.bindings.length, 7);
    assert.equal(resolver.resolve(parseAddress('10.244.1.13'), iso('2024-05-01T10:00:00Z')).key, 'app=report,namespace=shop');
    assert.equal(resolver.resolve(parseAddress('fd00:10:244:2::7'), iso('2024-05-01T10:00:00Z')).key, 'app=api,namespace=payments');
    assert.equal(resolver.resolve(parseAddress('10.244.1.20'), iso('2024-05-03T00:00:00Z')).key, 'group=unlabeled,subnet=10.244.1.0/24');
  });

  it('reports an overlap a newer import creates, and lets the newer import win it', async () => {
    const csv = parseInventory('ip,name,app,env\n10.244.1.12,legacy-web,web-legacy,prod\n,,,\n');
    const summary = await applyImport(store, csv, { source: 'cmdb.csv', importedAt: T + 3000 });
    assert.equal(summary.byKind.bindings.added, 1);
    assert.equal(summary.skipped, 1);
    assert.equal(summary.conflicts.length, 1);
    const [conflict] = summary.conflicts;
    assert.equal(conflict?.address, '10.244.1.12');
    assert.equal(conflict?.winner.workloadId, 'legacy-web');
    assert.equal(conflict?.loser.workloadId, 'shop/web-7d4b9c8f6-x2k9p');
    assert.equal(conflict?.from, iso('2024-05-01T10:00:00Z'));
    const { resolver, conflicts } = await loadInventory(store);
    assert.equal(conflicts.length, 1);
    assert.equal(resolver.resolve(parseAddress('10.244.1.12'), iso('2024-05-02T00:00:00Z')).key, 'app=web-legacy,env=prod');
  });

  it('counts a binding whose end moved as changed, and closes what the source no longer lists when asked', async () => {
    // The next listing: web-x2k9p is gone, the terminating pod's deletion moved.
    const next = parseInventory(fixture('kubectl-pods.json'));
    const edited = {
      ...next,
      bindings: next.bindings
        .filter((b) => b.workloadId !== 'shop/web-7d4b9c8f6-x2k9p')
        .map((b) => (b.workloadId === 'shop/web-7d4b9c8f6-old01' ? { ...b, to: iso('2024-05-02T08:00:30Z') } : b)),
    };
    const summary = await applyImport(store, edited, { source: 'kubectl:prod', importedAt: T + 4000, closeMissing: true });
    assert.deepEqual(summary.byKind.bindings, { added: 0, changed: 2, unchanged: 5 });
    const { inventory } = await loadInventory(store);
    const closed = inventory.bindings.find((b) => b.workloadId === 'shop/web-7d4b9c8f6-x2k9p');
    assert.equal(closed?.to, T + 4000);
    // Bindings of other sources are left alone.
    assert.equal(inventory.bindings.find((b) => b.workloadId === 'legacy-web')?.to, Infinity);
  });

  it('keeps every version of an address and of a workload', async () => {
    const history = await addressHistory(store, parseAddress('10.244.1.12'));
    assert.deepEqual(
      history.map((v) => v.bindings.map((b) => `${b.workloadId}@${b.importedAt - T}${b.to === Infinity ? '' : `-${b.to - T}`}`).sort()),
      [['shop/web-7d4b9c8f6-x2k9p@1000'], ['legacy-web@3000', 'shop/web-7d4b9c8f6-x2k9p@1000'], ['legacy-web@3000', 'shop/web-7d4b9c8f6-x2k9p@4000-4000']],
    );
    assert.ok(history.every((v) => v.bindings.every((b) => formatAddress(b.address) === '10.244.1.12')));
    const csv = parseInventory('ip,name,app\n10.9.9.9,legacy-web,web-legacy-2\n');
    await applyImport(store, csv, { source: 'cmdb.csv', importedAt: T + 5000 });
    const [entry] = await store.meta.list(WORKLOADS_NAMESPACE, { prefix: '' }).then((all) => all.filter((e) => e.key.endsWith('/legacy-web')));
    assert.ok(entry !== undefined);
    const versions = await store.meta.history(WORKLOADS_NAMESPACE, entry.key);
    assert.deepEqual(versions.map((v) => (v.value as { labels: Record<string, string> }).labels), [{ app: 'web-legacy', env: 'prod' }, { app: 'web-legacy-2' }]);
  });

  it('refuses an import without a source', async () => {
    await assert.rejects(applyImport(store, pods, { source: '' }), /needs a source/);
  });

  it('keeps a binding two sources assert open when one of them withdraws it, and does not let an old snapshot reopen a closed one', async () => {
    const own = await createDuckDBStore({ dataDir: ':memory:' }, { logger: silentLogger() });
    try {
      await own.migrate();
      const csv = parseInventory('ip,name,app,valid_from\n10.50.0.1,shared-db,db,2024-01-01\n');
      await applyImport(own, csv, { source: 'a.csv', importedAt: T });
      await applyImport(own, csv, { source: 'b.csv', importedAt: T + 10 });
      // a.csv is re-imported as a full snapshot without the row: b.csv still asserts it.
      await applyImport(own, parseInventory('ip,name,app\n'), { source: 'a.csv', importedAt: T + 20, closeMissing: true });
      let { inventory } = await loadInventory(own);
      assert.equal(inventory.bindings.find((b) => b.workloadId === 'shared-db')?.to, Infinity);
      await applyImport(own, parseInventory('ip,name,app\n'), { source: 'b.csv', importedAt: T + 30, closeMissing: true });
      ({ inventory } = await loadInventory(own));
      assert.equal(inventory.bindings.find((b) => b.workloadId === 'shared-db')?.to, T + 30, 'closed once no source asserts it');

      // kubectl: a newer listing ended the pod; the older listing imported afterwards leaves it ended.
      const newer = parseInventory(fixture('kubectl-pods.json'));
      await applyImport(own, newer, { source: 'kubectl:prod', importedAt: T + 100 });
      const older = { ...newer, bindings: newer.bindings.map((b) => (b.workloadId === 'shop/web-7d4b9c8f6-old01' ? { ...b, to: Infinity } : b)) };
      await applyImport(own, older, { source: 'kubectl:prod', importedAt: T + 200 });
      ({ inventory } = await loadInventory(own));
      assert.equal(inventory.bindings.find((b) => b.workloadId === 'shop/web-7d4b9c8f6-old01')?.to, iso('2024-05-02T08:00:00Z'));
    } finally {
      await own.close();
    }
  });
});
