// The migrations runner shared by both adapters. Migration files are `NNNN_name.sql` in
// migrations/<dialect>/; each applied one is recorded with a SHA-256 of its text. Re-running is a
// no-op; an applied file that changed or disappeared is refused, because silently diverging schemas
// are worse than a stopped deploy. Statements are split on `;` outside quotes and comments, since
// ClickHouse's HTTP interface takes one statement per request.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowmapError } from '../core/errors.js';
import type { AppliedMigration, MigrationReport } from './port.js';

export interface MigrationFile {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

/** What a dialect must provide to the runner. */
export interface MigrationTarget {
  ensureLedger(): Promise<void>;
  applied(): Promise<AppliedMigration[]>;
  execute(statement: string): Promise<void>;
  record(migration: MigrationFile): Promise<void>;
}

/** migrations/ beside package.json: one level up from store/ in a checkout, two from dist/store/. */
export const MIGRATIONS_ROOT = [new URL('../migrations/', import.meta.url), new URL('../../migrations/', import.meta.url)]
  .map((url) => fileURLToPath(url))
  .find((dir) => existsSync(join(dir, 'clickhouse'))) ?? fileURLToPath(new URL('../migrations/', import.meta.url));

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function readMigrations(dir: string): MigrationFile[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Map<number, string>();
  return files.map((file) => {
    const match = FILE_NAME.exec(file);
    if (match === null) {
      throw new FlowmapError('FLOWMAP_MIGRATION_NAME', `migration file ${join(dir, file)} must be named NNNN_lower_snake_name.sql`, { details: { file } });
    }
    const version = Number(match[1]);
    const other = seen.get(version);
    if (other !== undefined) {
      throw new FlowmapError('FLOWMAP_MIGRATION_NAME', `migrations ${other} and ${file} share version ${version}`, { details: { file } });
    }
    seen.set(version, file);
    const text = readFileSync(join(dir, file), 'utf8');
    return { version, name: file, checksum: createHash('sha256').update(text).digest('hex'), statements: splitStatements(text) };
  });
}

/** Splits SQL text on top-level `;`, skipping `--` and block comments and quoted text. */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    const next = text[i + 1] ?? '';
    if (ch === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
      current += '\n';
      continue;
    }
    if (ch === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
      current += ' ';
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== ch) j += text[j] === '\\' ? 2 : 1;
      current += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim() !== '') statements.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim() !== '') statements.push(current.trim());
  return statements;
}

/**
 * Checks the applied migrations against the files (refusing changed or missing ones) and returns
 * the files not applied yet, in order.
 */
export async function pendingMigrations(target: MigrationTarget, files: MigrationFile[], dir: string): Promise<MigrationFile[]> {
  await target.ensureLedger();
  const applied = dedupe(await target.applied());
  verifyApplied(applied, files, dir);
  const done = new Set(applied.map((m) => m.version));
  return files.filter((f) => !done.has(f.version));
}

/**
 * Two `migrate` runs racing (ClickHouse has no transactional DDL or locks) may both record a
 * version; statements are IF NOT EXISTS, so the second application is harmless, and the ledger is
 * read one row per version.
 */
function dedupe(applied: AppliedMigration[]): AppliedMigration[] {
  const byVersion = new Map<number, AppliedMigration>();
  for (const m of applied) if (!byVersion.has(m.version)) byVersion.set(m.version, m);
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

export async function runMigrations(target: MigrationTarget, files: MigrationFile[], dir: string): Promise<MigrationReport> {
  await target.ensureLedger();
  const applied = dedupe(await target.applied());
  verifyApplied(applied, files, dir);
  const appliedVersions = new Set(applied.map((m) => m.version));
  const report: MigrationReport = { applied: [], alreadyApplied: applied.length };
  for (const file of files) {
    if (appliedVersions.has(file.version)) continue;
    for (const statement of file.statements) {
      try {
        await target.execute(statement);
      } catch (err) {
        throw new FlowmapError('FLOWMAP_MIGRATION_FAILED', `migration ${file.name} failed: ${err instanceof Error ? err.message : String(err)}\nstatement: ${statement.slice(0, 500)}`, {
          details: { migration: file.name },
          cause: err,
        });
      }
    }
    await target.record(file);
    report.applied.push({ version: file.version, name: file.name, checksum: file.checksum, appliedAt: new Date() });
  }
  return report;
}

function verifyApplied(applied: AppliedMigration[], files: MigrationFile[], dir: string): void {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const done of applied) {
    const file = byVersion.get(done.version);
    if (file === undefined) {
      throw new FlowmapError(
        'FLOWMAP_MIGRATION_MISSING',
        `migration ${done.name} was applied to this store but is missing from ${dir}; this build is older than the store — run a build that has it`,
        { details: { migration: done.name } },
      );
    }
    if (file.checksum !== done.checksum) {
      throw new FlowmapError(
        'FLOWMAP_MIGRATION_CHANGED',
        `migration ${file.name} changed after it was applied (recorded sha256 ${done.checksum.slice(0, 12)}…, file ${file.checksum.slice(0, 12)}…); add a new migration instead of editing an applied one`,
        { details: { migration: file.name } },
      );
    }
  }
}
