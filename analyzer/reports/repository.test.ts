// Reports in the metadata store (DuckDB): stored with their HTML, read back whole, listed newest
// first in pages that chain by cursor, deleted; the listing entries stay small.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFlowmapError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { createDuckDBStore, type Store } from '../../store/index.js';
import { deleteReport, getReport, listReports, MAX_PAGE, renderReportHtml, REPORTS, saveReport, type ReportSummary } from './index.js';
import { sampleReport } from './testing.js';

const idOf = (n: number): string => `rp-${n.toString(16).padStart(16, '0')}`;
/** Report n was generated n minutes after midnight; ids run the other way so neither order alone gives the listing's. */
const generatedAt = (n: number): string => new Date(Date.UTC(2026, 10, 30) + n * 60_000).toISOString();

describe('report storage', () => {
  let dir: string;
  let store: Store;
  const COUNT = MAX_PAGE + 5;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-reports-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    for (let n = 0; n < COUNT; n++) await saveReport(store.meta, sampleReport({ id: idOf(1000 - n), generatedAt: generatedAt(n) }), { trigger: n % 2 === 0 ? 'schedule' : 'api' });
    // Two reports generated in the same millisecond: the id breaks the tie.
    await saveReport(store.meta, sampleReport({ id: idOf(5000), generatedAt: generatedAt(COUNT) }), { trigger: 'cli' });
    await saveReport(store.meta, sampleReport({ id: idOf(5001), generatedAt: generatedAt(COUNT) }), { trigger: 'cli' });
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a report back with its JSON, the HTML rendered from it and its trigger', async () => {
    const report = sampleReport({ id: idOf(1000), generatedAt: generatedAt(0) });
    const record = await getReport(store.meta, report.id);
    assert.ok(record !== undefined);
    assert.deepEqual(record.report, report);
    assert.equal(record.html, renderReportHtml(report));
    assert.equal(record.trigger, 'schedule');
    assert.deepEqual(record.totals, { groups: 2, edges: 2, flows: 500, bytes: 7_500_000, findings: 1, newEdges: 1, coverage: 0.8, reduction: 0.6 });
    assert.equal(record.sizes.html, Buffer.byteLength(record.html));
    assert.equal(await getReport(store.meta, idOf(999_999)), undefined);
  });

  it('lists newest first in pages chained by cursor, every report once, page size capped at 200', async () => {
    const seen: ReportSummary[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listReports(store.meta, { limit: 7, ...(cursor === undefined ? {} : { cursor }) });
      assert.ok(page.reports.length <= 7);
      seen.push(...page.reports);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    const total = COUNT + 2;
    assert.equal(seen.length, total);
    assert.equal(pages, Math.ceil(total / 7));
    assert.equal(new Set(seen.map((s) => s.id)).size, total);
    assert.deepEqual(seen.slice(0, 3).map((s) => s.id), [idOf(5001), idOf(5000), idOf(1000 - (COUNT - 1))]);
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i - 1] as ReportSummary).generatedAt >= (seen[i] as ReportSummary).generatedAt, `newest first at ${i}`);
    const big = await listReports(store.meta, { limit: 10_000 });
    assert.equal(big.reports.length, MAX_PAGE);
    assert.ok(big.nextCursor !== undefined);
    const rest = await listReports(store.meta, { limit: 10_000, cursor: big.nextCursor });
    assert.equal(rest.reports.length, total - MAX_PAGE);
    assert.equal(rest.nextCursor, undefined);
  });

  it('keeps the listing compact: a summary carries no HTML and no report body', async () => {
    const entry = await store.meta.get(REPORTS, idOf(1000));
    assert.ok(entry !== undefined);
    const text = JSON.stringify(entry.value);
    assert.ok(!text.includes('<html') && !('report' in (entry.value as object)) && !('html' in (entry.value as object)));
    assert.ok(text.length < 1500, `summary is ${text.length} characters`);
  });

  it('refuses a cursor it did not hand out, a bad limit and a malformed id, with 400s', async () => {
    const bad = (err: unknown): boolean => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && err.status === 400;
    await assert.rejects(listReports(store.meta, { cursor: 'not-a-cursor' }), bad);
    await assert.rejects(listReports(store.meta, { cursor: Buffer.from(JSON.stringify(['x', 'bl-1'])).toString('base64url') }), bad);
    await assert.rejects(listReports(store.meta, { limit: 0 }), bad);
    await assert.rejects(listReports(store.meta, { limit: 2.5 }), bad);
    await assert.rejects(getReport(store.meta, '../etc'), bad);
  });

  it('deletes a report: gone from reads and listings, and a second delete says there was none', async () => {
    const id = idOf(1000 - 3);
    assert.equal(await deleteReport(store.meta, id), true);
    assert.equal(await getReport(store.meta, id), undefined);
    const all = await listReports(store.meta, { limit: MAX_PAGE });
    const next = await listReports(store.meta, { limit: MAX_PAGE, ...(all.nextCursor === undefined ? {} : { cursor: all.nextCursor }) });
    assert.equal([...all.reports, ...next.reports].some((s) => s.id === id), false);
    assert.equal(await deleteReport(store.meta, id), false);
  });
});
