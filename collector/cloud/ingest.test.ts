// ingestFile against a real embedded store whose connection fails part-way: the ledger records
// progress after every batch, so ingesting the same file again stores the rest, not everything
// twice; the file is closed on every early exit; two ingests of the same bytes at once store once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FlowBatch } from '../../core/flow.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { createServicePorts } from '../service-ports.js';
import { IngestFailure, ingestFile, listLedger } from './ingest.js';

const T0 = 1_700_000_000;
const RANGE = { from: T0 - 60, to: T0 + 3600 };
const servicePorts = createServicePorts();

function awsLog(n: number): string {
  let text = '';
  for (let i = 0; i < n; i++) text += `2 123456789010 eni-0a1b2c3d 10.0.0.1 10.0.0.2 ${1024 + i} 443 6 1 100 ${T0} ${T0 + 60} ACCEPT OK\n`;
  return text;
}

/** Descriptors of this process open on `path`. */
function openOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
}

describe('ingestFile when the store goes away part-way', () => {
  let dir = '';
  let store: Store;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-ingest-unit-'));
    store = await createDuckDBStore({ dataDir: join(dir, 'data') }, { logger: silentLogger() });
    await store.migrate();
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes after the batches it stored, so every flow is stored once', async () => {
    const file = join(dir, 'flows.log');
    writeFileSync(file, awsLog(1000));
    // The store answers three inserts, then neither inserts nor metadata writes (it is gone).
    let inserts = 0;
    const flaky: Store = Object.create(store) as Store;
    let down = false;
    flaky.insertFlows = async (batch: FlowBatch) => {
      if (inserts++ >= 3) {
        down = true;
        throw new Error('connection refused');
      }
      await store.insertFlows(batch);
    };
    const meta = Object.create(store.meta) as Store['meta'];
    meta.put = async (...args) => {
      if (down) throw new Error('connection refused');
      return store.meta.put(...args);
    };
    Object.defineProperty(flaky, 'meta', { value: meta });
    const failure = await ingestFile(file, flaky, { format: 'aws-vpc', file, servicePorts, batchRows: 100 }).then(
      () => assert.fail('the ingest should fail'),
      (err: unknown) => err,
    );
    assert.ok(failure instanceof IngestFailure);
    assert.equal(failure.status, 503);
    assert.equal(failure.storeFailed, true);
    assert.equal((await store.flowTotals(RANGE)).flows, 300);
    assert.deepEqual((await listLedger(store)).map((e) => [e.flows, e.complete]), [[300, false]]);
    assert.equal(openOn(file), 0, 'the file is closed after the failure');

    const again = await ingestFile(file, store, { format: 'aws-vpc', file, servicePorts, batchRows: 100 });
    assert.equal(again.report?.resumedAfter, 300);
    assert.equal(again.report?.flows, 1000);
    assert.deepEqual(await store.flowTotals(RANGE), { flows: 1000, bytes: 100_000, packets: 1000 });
    assert.deepEqual((await listLedger(store)).map((e) => [e.flows, e.complete]), [[1000, true]]);
  });

  it('stores two ingests of the same bytes at once only once', async () => {
    const before = (await store.flowTotals(RANGE)).flows;
    const a = join(dir, 'a.log.gz');
    const b = join(dir, 'b.log.gz');
    const bytes = gzipSync(awsLog(500).replaceAll(' 443 ', ' 8443 '));
    writeFileSync(a, bytes);
    writeFileSync(b, bytes);
    const [first, second] = await Promise.all([
      ingestFile(a, store, { format: 'aws-vpc', file: a, servicePorts, batchRows: 50 }),
      ingestFile(b, store, { format: 'aws-vpc', file: b, servicePorts, batchRows: 50 }),
    ]);
    // Whichever file is hashed first stores the flows; the other finds them in the ledger.
    const outcomes = [first, second].map((r) => (r.report !== undefined ? `stored ${r.report.flows}` : `known ${r.known?.flows}`)).sort();
    assert.deepEqual(outcomes, ['known 500', 'stored 500']);
    assert.equal((await store.flowTotals(RANGE)).flows - before, 500);
  });

  it('closes a damaged gzip file and does not store its cut last line', async () => {
    const file = join(dir, 'cut.log.gz');
    // A custom format ending in a number: a line cut inside `bytes` would still parse.
    const text = Array.from({ length: 3000 }, (_, i) => `2 10.9.0.1 10.9.0.2 ${2000 + i} 443 6 1 ${T0} ${T0 + 60} 123456`).join('\n');
    const gz = gzipSync(text);
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const failure = await ingestFile(file, store, { format: 'aws-vpc', file, servicePorts, awsFormat: 'version srcaddr dstaddr srcport dstport protocol packets start end bytes' }).then(
      () => assert.fail('a cut gzip fails'),
      (err: unknown) => err,
    );
    assert.ok(failure instanceof IngestFailure);
    assert.equal(failure.status, 400);
    assert.equal(openOn(file), 0);
    const batch = await store.readFlows(RANGE, { limit: 100_000 });
    const cutFlows = Array.from(batch.columns.bytes.subarray(0, batch.length)).filter((b) => b !== 123456 && b !== 100);
    assert.deepEqual(cutFlows, [], 'no flow with a byte count cut short');
  });
});
