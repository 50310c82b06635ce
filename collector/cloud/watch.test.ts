// The watched directory against a real embedded store: files are taken once they stop changing,
// stored once whatever happens (a copy under another name, a restart, a sink that refuses part-way),
// and failed files keep the flows before the damage and say why next to themselves.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FlowBatch } from '../../core/flow.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore } from '../../store/index.js';
import type { Store } from '../../store/port.js';
import { createServicePorts } from '../service-ports.js';
import { listLedger, type FlowTarget } from './ingest.js';
import { createWatcher, type WatchAfter } from './watch.js';

const T0 = 1_700_000_000;
const RANGE = { from: T0 - 3600, to: T0 + 86_400 };

/** `n` AWS default-format records, each a distinct flow of `bytes` bytes (distinct by source port). */
function awsLog(n: number, firstPort = 1024, bytes = 100): string {
  let text = '';
  for (let i = 0; i < n; i++) text += `2 123456789010 eni-0a1b2c3d 10.0.0.1 10.0.0.2 ${firstPort + i} 443 6 1 ${bytes} ${T0} ${T0 + 60} ACCEPT OK\n`;
  return text;
}

/** Sets a file's mtime back so the first pass records it and the second takes it. */
function age(path: string): void {
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
}

describe('watched directory', () => {
  let root = '';
  let dir = '';
  let store: Store;
  const servicePorts = createServicePorts();

  const watcher = (options: { after?: WatchAfter; target?: FlowTarget; batchRows?: number } = {}) =>
    createWatcher(
      { dirs: [`aws-vpc=${dir}`], intervalMs: 100, after: options.after ?? 'move', stateFile: join(root, 'state', 'ingest-watch.json'), servicePorts, batchRows: options.batchRows },
      { store, target: options.target ?? store, logger: silentLogger() },
    );

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'flowmap-watch-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(async () => {
    await store?.close();
    const data = mkdtempSync(join(root, 'data-'));
    dir = join(data, 'incoming');
    mkdirSync(dir);
    rmSync(join(root, 'state'), { recursive: true, force: true });
    store = await createDuckDBStore({ dataDir: data }, { logger: silentLogger() });
    await store.migrate();
  });
  after(async () => store.close());

  it('takes a file once it stopped changing, stores it, moves it into done/ and enters it in the ledger', async () => {
    const w = watcher();
    const file = join(dir, 'flows.log');
    writeFileSync(file, awsLog(5));
    const first = await w.poll();
    assert.deepEqual(first.waiting, [file], 'a file seen for the first time may still be written');
    assert.equal((await store.flowTotals(RANGE)).flows, 0);
    writeFileSync(file, awsLog(7)); // still growing
    assert.deepEqual((await w.poll()).waiting, [file]);
    const third = await w.poll();
    assert.deepEqual(third.ingested, [{ file, flows: 7, resumedAfter: 0, skipped: 0 }]);
    assert.deepEqual(await store.flowTotals(RANGE), { flows: 7, bytes: 700, packets: 7 });
    assert.deepEqual(readdirSync(join(dir, 'done')), ['flows.log']);
    assert.equal(existsSync(file), false);
    const ledger = await listLedger(store);
    assert.deepEqual(ledger.map((e) => [e.file, e.flows, e.complete]), [[file, 7, true]]);
    await w.stop();
  });

  it('passes over files being written (.tmp, .part, .gstmp, dot files); reads subdirectories and keeps their paths in done/', async () => {
    const w = watcher();
    for (const name of ['a.log.tmp', 'b.log.part', '.c.log', 'd.log_.gstmp']) writeFileSync(join(dir, name), awsLog(1));
    const nested = join(dir, 'AWSLogs', '123456789010', 'vpcflowlogs', 'eu-west-1', '2024', '01', '02');
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(nested, 'flows.log.gz'), gzipSync(awsLog(3)));
    await w.poll();
    const second = await w.poll();
    assert.deepEqual(second.ingested.map((i) => [i.file, i.flows]), [[join(nested, 'flows.log.gz'), 3]]);
    assert.deepEqual(second.waiting, []);
    assert.equal((await store.flowTotals(RANGE)).flows, 3);
    assert.ok(existsSync(join(dir, 'done', 'AWSLogs', '123456789010', 'vpcflowlogs', 'eu-west-1', '2024', '01', '02', 'flows.log.gz')));
    // done/ itself is not read again.
    assert.deepEqual(await w.poll(), { ingested: [], failed: [], waiting: [], alreadyIngested: [] });
    await w.stop();
  });

  it('sets aside a file that is not of the directory\'s format instead of retrying it forever', async () => {
    const w = watcher();
    // A Parquet file ("PAR1") in an AWS directory is read; in this test the directory is AWS, so use a
    // GCP watcher on the same directory.
    const gcp = createWatcher(
      { dirs: [`gcp-vpc=${dir}`], intervalMs: 100, after: 'move', stateFile: join(root, 'state', 'gcp.json'), servicePorts },
      { store, target: store, logger: silentLogger() },
    );
    writeFileSync(join(dir, 'flows.parquet'), Buffer.from('PAR1 not really parquet PAR1'));
    await gcp.poll();
    const result = await gcp.poll();
    assert.equal(result.failed.length, 1);
    assert.match(result.failed[0]?.error ?? '', /Parquet file; only AWS VPC flow logs come as Parquet/);
    assert.ok(existsSync(join(dir, 'failed', 'flows.parquet.error.txt')));
    await gcp.stop();
    await w.stop();
  });

  it('does not store the same bytes twice, under another name or after a restart with keep', async () => {
    let w = watcher({ after: 'keep' });
    writeFileSync(join(dir, 'one.log.gz'), gzipSync(awsLog(4)));
    age(join(dir, 'one.log.gz'));
    await w.poll();
    assert.equal((await w.poll()).ingested.length, 1);
    assert.deepEqual(await w.poll(), { ingested: [], failed: [], waiting: [], alreadyIngested: [] }, 'a kept file is not read again');
    await w.stop();
    // A restarted watcher keeps what it finished; a copy under another name is known by its hash.
    w = watcher({ after: 'keep' });
    writeFileSync(join(dir, 'copy.log.gz'), readFileSync(join(dir, 'one.log.gz')));
    await w.poll();
    const again = await w.poll();
    assert.deepEqual(again.alreadyIngested, [join(dir, 'copy.log.gz')]);
    assert.deepEqual(again.ingested, []);
    assert.equal((await store.flowTotals(RANGE)).flows, 4);
    await w.stop();
  });

  it('moves a truncated gzip into failed/ with the reason, keeping the flows before the damage once', async () => {
    const w = watcher({ batchRows: 50 });
    const gz = gzipSync(awsLog(2000));
    const file = join(dir, 'cut.log.gz');
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length / 2)));
    await w.poll();
    const result = await w.poll();
    assert.equal(result.failed.length, 1);
    const failure = result.failed[0] as { file: string; error: string; flows: number };
    assert.match(failure.error, /cut\.log\.gz:\d+: unexpected end/i);
    assert.ok(failure.flows > 0 && failure.flows < 2000, `flows before the cut: ${failure.flows}`);
    assert.equal((await store.flowTotals(RANGE)).flows, failure.flows);
    assert.deepEqual(readdirSync(join(dir, 'failed')).sort(), ['cut.log.gz', 'cut.log.gz.error.txt']);
    assert.match(readFileSync(join(dir, 'failed', 'cut.log.gz.error.txt'), 'utf8'), /unexpected end/i);
    const [entry] = await listLedger(store);
    assert.equal(entry?.complete, false);
    assert.equal(entry?.flows, failure.flows);

    // The same damaged bytes dropped in again store nothing more.
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length / 2)));
    await w.poll();
    const again = await w.poll();
    assert.equal(again.failed.length, 1);
    assert.equal((await store.flowTotals(RANGE)).flows, failure.flows);
    await w.stop();
  });

  it('resumes a file the sink stopped taking part-way, after the flows it took, so each is stored once', async () => {
    let refuseAfter = 3;
    const target: FlowTarget = {
      async insertFlows(batch: FlowBatch) {
        if (refuseAfter-- <= 0) throw new Error('spool past half');
        await store.insertFlows(batch);
      },
    };
    let w = watcher({ target, batchRows: 100 });
    const file = join(dir, 'big.log');
    writeFileSync(file, awsLog(1000));
    await w.poll();
    const interrupted = await w.poll();
    assert.deepEqual(interrupted.waiting, [file]);
    assert.equal((await store.flowTotals(RANGE)).flows, 300);
    await w.stop();
    // A restart in between: the progress is on disk.
    refuseAfter = Infinity;
    w = watcher({ target, batchRows: 100 });
    await w.poll();
    const resumed = await w.poll();
    assert.deepEqual(resumed.ingested, [{ file, flows: 1000, resumedAfter: 300, skipped: 0 }]);
    assert.deepEqual(await store.flowTotals(RANGE), { flows: 1000, bytes: 100_000, packets: 1000 });
    await w.stop();
  });

  it('writes the ledger entry later when the store cannot take it, without reading the file again', async () => {
    const put = store.meta.put.bind(store.meta);
    let metaDown = true;
    store.meta.put = async (...args) => {
      if (metaDown) throw new Error('store away');
      return put(...args);
    };
    const w = watcher({ after: 'delete' });
    writeFileSync(join(dir, 'x.log'), awsLog(3));
    await w.poll();
    assert.equal((await w.poll()).ingested.length, 1);
    assert.equal(existsSync(join(dir, 'x.log')), false);
    assert.deepEqual(await listLedger(store), []);
    metaDown = false;
    await w.poll();
    assert.deepEqual((await listLedger(store)).map((e) => [e.flows, e.complete]), [[3, true]]);
    assert.equal((await store.flowTotals(RANGE)).flows, 3);
    await w.stop();
  });
});
