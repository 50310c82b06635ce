import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFlowmapError } from '../core/errors.js';
import { MIGRATIONS_ROOT, readMigrations, splitStatements } from './migrate.js';

describe('migration files', () => {
  it('splits statements on top-level semicolons only', () => {
    const text = [
      "-- a comment; with a semicolon",
      "CREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory;",
      "/* block; comment */ INSERT INTO a VALUES ('it''s; fine', \"q;\", `b;`);",
      "SELECT 1",
    ].join('\n');
    const statements = splitStatements(text);
    assert.equal(statements.length, 3);
    assert.match(statements[0] ?? '', /DEFAULT 'x;y'\) ENGINE = Memory$/);
    assert.match(statements[1] ?? '', /^INSERT INTO a VALUES \('it''s; fine', "q;", `b;`\)$/);
    assert.equal(statements[2], 'SELECT 1');
  });

  it('reads the shipped migrations in order', () => {
    for (const dialect of ['clickhouse', 'duckdb']) {
      const files = readMigrations(join(MIGRATIONS_ROOT, dialect));
      assert.deepEqual(files.map((f) => f.version), [1, 2, 3, 4, 5, 6, 7, 8, 9], dialect);
      for (const f of files) assert.match(f.checksum, /^[0-9a-f]{64}$/);
    }
  });

  it('refuses badly named and duplicate-version files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-mig-'));
    writeFileSync(join(dir, '0001_a.sql'), 'SELECT 1;');
    writeFileSync(join(dir, '1_b.sql'), 'SELECT 1;');
    assert.throws(() => readMigrations(dir), (e) => isFlowmapError(e, 'FLOWMAP_MIGRATION_NAME') && /1_b\.sql/.test(e.message));
    const dup = mkdtempSync(join(tmpdir(), 'flowmap-mig-'));
    writeFileSync(join(dup, '0001_a.sql'), 'SELECT 1;');
    writeFileSync(join(dup, '0001_b.sql'), 'SELECT 1;');
    assert.throws(() => readMigrations(dup), (e) => isFlowmapError(e, 'FLOWMAP_MIGRATION_NAME') && /share version 1/.test(e.message));
  });
});
