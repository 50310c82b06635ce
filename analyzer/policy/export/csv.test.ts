import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CSV_COLUMNS } from './csv.js';
import { renderExport } from './index.js';
import { exportFixture, RULES } from './testing.js';

/** An RFC 4180 reader, written apart from the exporter: CRLF records, quoted fields, "" for a quote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"' && field === '') {
      // A quoted field runs to the next quote not doubled.
      for (i++; ; i++) {
        assert.ok(i < text.length, 'unterminated quoted field');
        if (text[i] === '"' && text[i + 1] === '"') field += text[i++];
        else if (text[i] === '"') break;
        else field += text[i];
      }
      i++;
      assert.ok([',', '\r', undefined].includes(text[i]), `text after a closing quote at ${i}`);
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r') {
      assert.equal(text[i + 1], '\n', 'records end with CRLF');
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      assert.ok(c !== '\n' && c !== '"', `bare ${JSON.stringify(c)} in an unquoted field at ${i}`);
      field += c;
      i++;
    }
  }
  assert.equal(row.length + field.length, 0, 'the last record ends with CRLF');
  return rows;
}

describe('CSV export', () => {
  const out = renderExport('csv', exportFixture());
  const [header, ...rows] = parseCsv(out.text);

  it('has a header and one row per rule and exception, in the order the other formats write them', () => {
    assert.deepEqual(header, [...CSV_COLUMNS]);
    assert.equal(rows.length, RULES.length);
    assert.deepEqual(rows.map((r) => r[0]).slice(0, 3), ['r-api-billing', 'r-db-db', 'r-erp-db']);
  });

  it('reads back to the input rules, quoting commas and quotes (RFC 4180)', () => {
    const byId = new Map(rows.map((r) => [r[0], r]));
    for (const rule of RULES) {
      const row = byId.get(rule.id);
      assert.ok(row, rule.id);
      const ports = rule.ports.map((p) => (typeof p === 'number' ? p : `${p.first}-${p.last}`)).map(String);
      const expected = [rule.id, rule.exception ? 'exception' : 'rule', rule.from.key, rule.to.key, rule.protocol, ports.sort((a, b) => parseInt(a) - parseInt(b)).join(' '), rule.exception?.owner ?? '', rule.exception?.expires ?? ''];
      assert.deepEqual(row.slice(0, 8), expected, rule.id);
      assert.equal(row[8]?.replace(/^'/, ''), rule.comment, rule.id);
    }
    assert.ok(out.text.includes('"exception ""RDP"" for it-ops@example.com until 2099-01-01: vendor support"'));
    assert.ok(out.text.includes(',"app=shop,namespace=shop,tier=api",'));
  });

  it('neutralises cells a spreadsheet would run as a formula', () => {
    const backup = rows.find((r) => r[0] === 'r-backup-db');
    assert.equal(backup?.[8], '\'=HYPERLINK("http://evil.example/","click") backup agent');
    const input = exportFixture();
    input.rules = input.rules.slice(0, 1).map((r) => ({ ...r, comment: '-1+1', exception: { owner: '@ops', expires: '2099-01-01T00:00:00.000Z' } }));
    const [, row] = parseCsv(renderExport('csv', input).text);
    assert.deepEqual(row?.slice(6, 9), ["'@ops", '2099-01-01T00:00:00.000Z', "'-1+1"]);
    input.rules = input.rules.map((r) => ({ ...r, comment: '+1' }));
    assert.equal(parseCsv(renderExport('csv', input).text)[1]?.[8], "'+1");
    for (const cell of rows.flat()) assert.doesNotMatch(cell, /^[=+\-@]/);
  });

  it('lists an exception in force with its owner and expiry, and leaves it out once expired, like every export', () => {
    const exception = rows.find((r) => r[0] === 'x-rdp-erp');
    assert.deepEqual(exception?.slice(1, 2).concat(exception.slice(6, 8)), ['exception', 'it-ops@example.com', '2099-01-01T00:00:00.000Z']);
    const input = exportFixture();
    input.generatedAt = '2100-01-01T00:00:00.000Z';
    const out = renderExport('csv', input);
    assert.equal(parseCsv(out.text).find((r) => r[0] === 'x-rdp-erp'), undefined);
    assert.deepEqual(out.skipped.map((s) => s.rule), ['x-rdp-erp']);
  });

  it('carries the review columns of rules: documented, category, confidence, flows, days seen, last seen', () => {
    const input = exportFixture();
    input.rules = input.rules.slice(0, 1).map((r) => ({ ...r, review: { documented: false, category: 'backup', confidence: 0.93, flows: 1200, daysSeen: 28, lastSeen: '2026-11-29T03:59:59.000Z' } }));
    const [head, row] = parseCsv(renderExport('csv', input).text);
    const at = (name: string): string | undefined => row?.[head?.indexOf(name) ?? -1];
    assert.deepEqual(['documented', 'category', 'confidence', 'flows', 'days_seen', 'last_seen'].map(at), ['no', 'backup', '0.93', '1200', '28', '2026-11-29T03:59:59.000Z']);
  });
});
