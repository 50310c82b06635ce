// `flowmap report` and `flowmap token` end to end through the real command, against an embedded
// data directory holding a baseline: the report as HTML, JSON and PDF (by extension), and a token
// created (printed once), listed without its secret, and revoked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineId, runBaseline } from '../analyzer/baseline/index.js';
import { findChromium, REPORT_SECTIONS } from '../analyzer/reports/index.js';
import { silentLogger } from '../core/logger.js';
import { createEstate, SMALL } from '../simulator/index.js';
import { createDuckDBStore } from '../store/index.js';
import { loadEstate } from './baseline-truth.js';
import { inCI } from './services.js';

const root = join(import.meta.dirname, '..');
const END = Date.parse('2026-11-30T00:00:00Z') / 1000;

async function flowmap(args: string[], data: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args, '--data', data], {
    cwd: root,
    env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn', FLOWMAP_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

describe('flowmap report and flowmap token', { timeout: 300_000 }, () => {
  let dir = '';
  let data = '';
  let baseline = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-report-cli-'));
    data = join(dir, 'data');
    const store = await createDuckDBStore({ dataDir: data }, { logger: silentLogger() });
    await store.migrate();
    const estate = createEstate(SMALL, { seed: 5, days: 3, end: END });
    await loadEstate(store, estate);
    const params = { from: END - 3 * 86_400, to: END, groupBy: ['app', 'env'] };
    baseline = baselineId(params);
    const record = await runBaseline(store, { days: 3, cron: 'off', keep: 10, resolver: { groupBy: ['app', 'env'], externals: [] } }, baseline, params);
    assert.equal(record.status, 'completed');
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the report as HTML and as JSON, the format by the extension', async () => {
    const html = await flowmap(['report', '--out', join(dir, 'week.html')], data);
    assert.equal(html.code, 0, html.stderr);
    assert.match(html.stderr, /report rp-[0-9a-f]{16} written to .*week\.html \(html, [\d,]+ bytes\)/);
    const page = readFileSync(join(dir, 'week.html'), 'utf8');
    for (const section of REPORT_SECTIONS) assert.match(page, new RegExp(`data-section="${section}"`));
    const json = await flowmap(['report', '--baseline', baseline, '--out', join(dir, 'week.json')], data);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(readFileSync(join(dir, 'week.json'), 'utf8')) as { schemaVersion: number; baseline: { id: string } };
    assert.equal(report.schemaVersion, 1);
    assert.equal(report.baseline.id, baseline);
    const bad = await flowmap(['report', '--out', join(dir, 'week.docx')], data);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--format must be one of html, json, pdf/);
  });

  it('writes the report as PDF through headless Chromium', { skip: findChromium() === undefined && !inCI ? 'no Chromium' : false }, async () => {
    const pdf = await flowmap(['report', '--out', join(dir, 'week.pdf')], data);
    assert.equal(pdf.code, 0, pdf.stderr);
    assert.equal(readFileSync(join(dir, 'week.pdf')).subarray(0, 5).toString(), '%PDF-');
  });

  it('creates a token (printed once), lists it without its secret, and revokes it', async () => {
    const created = await flowmap(['token', 'create', 'grafana', '--role', 'viewer'], data);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^flowmap_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
    const id = token.split('_')[1] as string;
    const list = await flowmap(['token', 'list', '--json'], data);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(!list.stdout.includes(token.slice(22)), 'the list shows the secret');
    const tokens = JSON.parse(list.stdout) as { id: string; role: string; createdBy: string }[];
    assert.deepEqual(tokens.map((t) => [t.id, t.role, t.createdBy]), [[id, 'viewer', 'cli']]);
    const revoked = await flowmap(['token', 'revoke', id], data);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.deepEqual(JSON.parse((await flowmap(['token', 'list', '--json'], data)).stdout), []);
    const wrongRole = await flowmap(['token', 'create', 'x', '--role', 'root'], data);
    assert.equal(wrongRole.code, 1);
    assert.match(wrongRole.stderr, /--role must be one of viewer, analyst, admin/);
  });
});
