import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFlowmapError } from '../../../core/errors.js';
import { EXPORT_CONTENT, exportFilename, renderExport } from './index.js';
import { exportFixture } from './testing.js';
import { EXPORT_FORMATS, type ExportFormat, type ExportInput } from '../types.js';

const ENFORCING = EXPORT_FORMATS.filter((f) => f !== 'csv' && f !== 'json');

describe('renderExport', () => {
  it('names files flowmap-<policy>-v<version>-<format>.<ext> with the content type of the format', () => {
    const names = Object.fromEntries(EXPORT_FORMATS.map((f) => [f, renderExport(f, exportFixture()).filename]));
    assert.deepEqual(names, {
      k8s: 'flowmap-pol-7f3a-v3-k8s.yaml',
      calico: 'flowmap-pol-7f3a-v3-calico.yaml',
      cilium: 'flowmap-pol-7f3a-v3-cilium.yaml',
      'aws-sg': 'flowmap-pol-7f3a-v3-aws-sg.tf',
      'azure-nsg': 'flowmap-pol-7f3a-v3-azure-nsg.tf',
      nftables: 'flowmap-pol-7f3a-v3-nftables.nft',
      csv: 'flowmap-pol-7f3a-v3-csv.csv',
      json: 'flowmap-pol-7f3a-v3-json.json',
    });
    assert.equal(exportFilename('k8s', { id: '../etc/pass wd', version: 1 }), 'flowmap-..-etc-pass-wd-v1-k8s.yaml');
    for (const f of EXPORT_FORMATS) assert.equal(renderExport(f, exportFixture()).contentType, EXPORT_CONTENT[f].contentType);
  });

  it('refuses an unknown format with FLOWMAP_BAD_REQUEST naming the formats', () => {
    assert.throws(
      () => renderExport('pf' as ExportFormat, exportFixture()),
      (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST') && /unknown export format 'pf'; formats: k8s, calico/.test(e.message),
    );
  });

  it('gives the same bytes for the same input, whatever order it lists rules, groups and ports in', () => {
    const shuffled: ExportInput = exportFixture();
    shuffled.rules.reverse();
    for (const rule of shuffled.rules) rule.ports.reverse();
    shuffled.groups.sort((a, b) => b.key.localeCompare(a.key));
    for (const f of EXPORT_FORMATS) {
      if (f === 'json') continue;
      assert.equal(renderExport(f, shuffled).text, renderExport(f, exportFixture()).text, f);
    }
    assert.equal(renderExport('json', exportFixture()).text, renderExport('json', exportFixture()).text);
  });

  it('drops an exception at its expiry from every enforcing format, and says so', () => {
    const input = exportFixture();
    input.generatedAt = '2099-01-01T00:00:00.000Z';
    for (const f of ENFORCING) {
      const out = renderExport(f, input);
      assert.deepEqual(out.skipped.find((s) => s.rule === 'x-rdp-erp'), { rule: 'x-rdp-erp', reason: 'exception expired at 2099-01-01T00:00:00.000Z' }, f);
      assert.ok(!out.text.includes('3389'), `${f} opens no port of the expired exception`);
    }
    assert.ok(renderExport('nftables', exportFixture()).text.includes('tcp dport 3389'), 'before its expiry it is written');
  });

  it('returns skipped rules sorted, and lists each in the header of formats with comments', () => {
    for (const f of ENFORCING) {
      const out = renderExport(f, exportFixture());
      const ids = out.skipped.map((s) => s.rule);
      assert.deepEqual(ids, [...ids].sort(), f);
      const header = out.text.split('\n').filter((l) => l.startsWith('#'));
      for (const s of out.skipped) assert.ok(header.includes(`#   ${s.rule}: ${s.reason}`), `${f}: ${s.rule}`);
      assert.ok(header.some((l) => l.includes('flowmap policy "shop and ERP, prod" (pol-7f3a) version 3')), f);
    }
  });

  it('exports JSON that reads back to the input, groups and rules sorted by name', () => {
    const input = exportFixture();
    const json = JSON.parse(renderExport('json', input).text) as ExportInput;
    assert.deepEqual(json.policy, input.policy);
    assert.equal(json.generatedAt, input.generatedAt);
    assert.deepEqual(json.groups.map((g) => g.name), input.groups.map((g) => g.name).sort());
    assert.deepEqual([...json.rules].sort((a, b) => a.id.localeCompare(b.id)), [...input.rules].sort((a, b) => a.id.localeCompare(b.id)));
    assert.equal(json.rules[0]?.id, 'r-api-billing');
  });
});
