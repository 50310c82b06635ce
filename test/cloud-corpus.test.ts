// Every cloud flow-log sample of ../shared/corpus/ ingested into a real store — DuckDB and
// ClickHouse 18.16 — through the paths users take (issue 5, acceptance 1): files through
// `ingestFile` (what `flowmap ingest`, uploads and watched directories run), the CloudWatch Logs
// subscription sample through the Firehose endpoint; each file also gzipped, as AWS and Azure
// deliver them. The flows read back from the store equal the
// golden outputs beside the samples field by field (collector/cloud/goldens.ts), each sample in a
// store of its own so nothing else can satisfy its golden; the samples without a golden ingest
// with every record a flow or a counted skip, none malformed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { registerErrorHandling } from '../api/errors.js';
import { firehoseRoutes } from '../api/routes/firehose.js';
import { assertSameFlowsAnyOrder, CLOUD_CORPUS, loadCloudGoldens, type GoldenFile } from '../collector/cloud/goldens.js';
import { ingestFile, listLedger } from '../collector/cloud/ingest.js';
import type { CloudFormat } from '../collector/cloud/types.js';
import { createServicePorts } from '../collector/service-ports.js';
import { flowAt, type FlowRecord } from '../core/flow.js';
import { silentLogger } from '../core/logger.js';
import { createClickHouseStore } from '../store/clickhouse/adapter.js';
import { createDuckDBStore, type Store } from '../store/index.js';
import { serviceUrl } from './services.js';

const clickhouse = serviceUrl('clickhouse');
const servicePorts = createServicePorts();
const ALL_TIME = { from: 0, to: 2 ** 32 - 1 };
const FORMAT_OF_FOLDER: Record<string, CloudFormat> = { 'aws-vpc-flow': 'aws-vpc', 'gcp-vpc-flow': 'gcp-vpc', 'azure-nsg-flow': 'azure-nsg', 'azure-vnet-flow': 'azure-vnet' };

interface Backend {
  name: string;
  skip: string | false;
  /** A fresh, migrated store; `tag` names it (a ClickHouse database). */
  open(tag: string): Promise<Store>;
  cleanup(): Promise<void>;
}

const scratch = mkdtempSync(join(tmpdir(), 'flowmap-cloud-corpus-'));
const databases: string[] = [];
after(() => rmSync(scratch, { recursive: true, force: true }));

const BACKENDS: Backend[] = [
  {
    name: 'DuckDB',
    skip: false,
    async open(tag) {
      const store = await createDuckDBStore({ dataDir: mkdtempSync(join(scratch, `${tag}-`)) }, { logger: silentLogger() });
      await store.migrate();
      return store;
    },
    async cleanup() {},
  },
  {
    name: 'ClickHouse',
    skip: clickhouse.skip,
    async open(tag) {
      const database = `flowmap_corpus_${process.pid}_${tag}`;
      databases.push(database);
      const store = await createClickHouseStore({ url: clickhouse.url ?? '', database, user: 'default', password: '', requestTimeoutMs: 30_000 }, { logger: silentLogger() });
      await store.migrate();
      return store;
    },
    async cleanup() {
      const { createClient } = await import('@clickhouse/client');
      const client = createClient({ url: clickhouse.url });
      for (const database of databases.splice(0)) await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    },
  },
];

async function storedFlows(store: Store): Promise<FlowRecord[]> {
  const batch = await store.readFlows(ALL_TIME, { limit: 100_000 });
  return Array.from({ length: batch.length }, (_, i) => flowAt(batch, i));
}

/** Delivers the CloudWatch Logs sample as Firehose would: gzipped, base64, in AWS's envelope. */
async function deliverByFirehose(store: Store, golden: GoldenFile): Promise<void> {
  const app = Fastify({ logger: false });
  registerErrorHandling(app);
  await app.register(firehoseRoutes(store, { accessKey: 'corpus-key', servicePorts, awsFormat: golden.awsFormat }));
  try {
    const payload = readFileSync(join(CLOUD_CORPUS, golden.file));
    const body = JSON.stringify({ requestId: 'corpus-1', timestamp: 1733430002000, records: [{ data: gzipSync(payload).toString('base64') }] });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/firehose/aws-vpc',
      headers: { 'x-amz-firehose-request-id': 'corpus-1', 'x-amz-firehose-access-key': 'corpus-key', 'content-type': 'application/json' },
      payload: body,
    });
    assert.equal(response.statusCode, 200, response.body);
  } finally {
    await app.close();
  }
}

/** The corpus's cloud samples that come without a golden: flow-log files, not prose or goldens. */
function samplesWithoutGolden(goldens: readonly GoldenFile[]): { format: CloudFormat; file: string }[] {
  const known = new Set(goldens.map((g) => g.file));
  const out: { format: CloudFormat; file: string }[] = [];
  const walk = (dir: string, format: CloudFormat): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, format);
      // Goldens, documentation pages, and the Microsoft bandwidth example (prose around tuples, read by azure.test.ts).
      else if (!/(-expected\.json|_expected(_multi)?\.yaml|\.md|\.txt)$/.test(name) && !known.has(relative(CLOUD_CORPUS, path))) out.push({ format, file: relative(CLOUD_CORPUS, path) });
    }
  };
  for (const [folder, format] of Object.entries(FORMAT_OF_FOLDER)) walk(join(CLOUD_CORPUS, folder), format);
  return out;
}

const goldens = loadCloudGoldens();

for (const backend of BACKENDS) {
  describe(`cloud corpus samples stored in ${backend.name}`, { skip: backend.skip, timeout: 300_000 }, () => {
    after(() => backend.cleanup());

    const cases = goldens.flatMap((golden, index) => (golden.delivery === 'cloudwatch' ? [{ golden, index, gzip: false }] : [false, true].map((gzip) => ({ golden, index, gzip }))));
    for (const { golden, index, gzip } of cases) {
      it(`${golden.file}${gzip ? ' gzipped' : ''}: the stored flows are the golden's, field by field`, async () => {
        const store = await backend.open(`g${index}${gzip ? 'z' : ''}`);
        try {
          if (golden.delivery === 'cloudwatch') {
            await deliverByFirehose(store, golden);
          } else {
            let path = join(CLOUD_CORPUS, golden.file);
            if (gzip) {
              path = join(mkdtempSync(join(scratch, 'gz-')), `${golden.file.replaceAll('/', '_')}.gz`);
              writeFileSync(path, gzipSync(readFileSync(join(CLOUD_CORPUS, golden.file))));
            }
            const outcome = await ingestFile(path, store, { format: golden.format, file: golden.file, servicePorts, awsFormat: golden.awsFormat });
            assert.ok(outcome.report !== undefined);
            assert.equal(outcome.report.flows, golden.flows.length);
            const skipped = Object.entries(outcome.report.skipped).filter(([, n]) => n > 0);
            const want = new Map<string, number>();
            for (const s of golden.skips) want.set(s.reason, (want.get(s.reason) ?? 0) + 1);
            assert.deepEqual(Object.fromEntries(skipped), Object.fromEntries(want), 'skipped records are the golden\'s NODATA/SKIPDATA');
            assert.deepEqual((await listLedger(store)).map((e) => [e.file, e.flows, e.complete]), [[golden.file, golden.flows.length, true]]);
          }
          const stored = await storedFlows(store);
          assertSameFlowsAnyOrder(stored, golden.flows, `${backend.name} ${golden.file}`);
        } finally {
          await store.close();
        }
      });
    }

    it('every other cloud sample ingests: each record a flow or a counted skip, none malformed', async () => {
      const samples = samplesWithoutGolden(goldens);
      assert.ok(samples.length >= 10, `samples without golden: ${samples.map((s) => s.file).join(', ')}`);
      const store = await backend.open('rest');
      try {
        let flows = 0;
        for (const sample of samples) {
          const outcome = await ingestFile(join(CLOUD_CORPUS, sample.file), store, { format: sample.format, file: sample.file, servicePorts });
          assert.ok(outcome.report !== undefined, `${sample.file} is new to this store`);
          assert.equal(outcome.report.skipped.malformed, 0, `${sample.file}: ${JSON.stringify(outcome.report.problems)}`);
          assert.equal(outcome.report.skipped.bad_value, 0, `${sample.file}: ${JSON.stringify(outcome.report.problems)}`);
          flows += outcome.report.flows;
        }
        assert.equal((await store.flowTotals(ALL_TIME)).flows, flows);
        assert.equal((await listLedger(store)).length, samples.length);
      } finally {
        await store.close();
      }
    });
  });
}
