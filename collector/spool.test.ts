// The spool, specified against real files in a throw-away directory: order across reopen, the
// size bound and its drop counters, what a crash or a bad disk leaves behind (temp files, corrupt
// and truncated files), and the one-collector-per-directory lock.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isFlowmapError } from '../core/errors.js';
import { createLogger, silentLogger, type Logger } from '../core/logger.js';
import { Spool } from './spool.js';

/** The spool file header is 24 bytes (spool.ts). */
const HEADER = 24;
const dirs: string[] = [];
const open: Spool[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((spool) => spool.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-spool-'));
  dirs.push(dir);
  return dir;
}

async function openSpool(dir: string, maxBytes = 1 << 20, logger: Logger = silentLogger()): Promise<Spool> {
  const spool = await Spool.open(dir, { maxBytes, logger });
  open.push(spool);
  return spool;
}

async function closeSpool(spool: Spool): Promise<void> {
  open.splice(open.indexOf(spool), 1);
  await spool.close();
}

/** Recognisable payloads: `batch(n, size)` is `size` bytes of value n. */
const batch = (n: number, size = 100): Uint8Array => new Uint8Array(size).fill(n);

async function drain(spool: Spool): Promise<{ first: number; rows: number; length: number }[]> {
  const out: { first: number; rows: number; length: number }[] = [];
  for (let entry = await spool.peek(); entry !== undefined; entry = await spool.peek()) {
    out.push({ first: entry.bytes[0]!, rows: entry.rows, length: entry.bytes.length });
    assert.equal(await spool.remove(entry.id), true);
  }
  return out;
}

function capture(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: createLogger({ level: 'info' }, stream),
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const spoolFiles = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.batch')).sort();

describe('spool: order and durability', () => {
  it('returns batches oldest first, and keeps that order across a reopen', async () => {
    const dir = tempDir();
    const first = await openSpool(dir);
    assert.equal(await first.append(batch(1), 10), true);
    assert.equal(await first.append(batch(2, 200), 20), true);
    assert.equal(await first.append(batch(3), 30), true);
    await closeSpool(first);

    const again = await openSpool(dir);
    assert.deepEqual(again.size, { batches: 3, bytes: 3 * HEADER + 400, rows: 60 }, 'size known at open');
    const oldest = await again.peek();
    assert.deepEqual({ first: oldest?.bytes[0], rows: oldest?.rows }, { first: 1, rows: 10 });
    assert.deepEqual(await again.peek(), oldest, 'peek does not consume');
    assert.equal(await again.remove(oldest!.id), true);
    assert.equal(await again.append(batch(4), 40), true, 'appended after a reopen, so it goes last');
    assert.deepEqual(await drain(again), [
      { first: 2, rows: 20, length: 200 },
      { first: 3, rows: 30, length: 100 },
      { first: 4, rows: 40, length: 100 },
    ]);
    assert.deepEqual(again.size, { batches: 0, bytes: 0, rows: 0 });
    assert.equal(await again.peek(), undefined);
  });

  it('names files by a zero-padded sequence and their row count', async () => {
    const dir = tempDir();
    const spool = await openSpool(dir);
    await spool.append(batch(1), 65536);
    await spool.append(batch(2), 0);
    assert.deepEqual(spoolFiles(dir), ['0000000000000001-65536.batch', '0000000000000002-0.batch']);
    const oldest = await spool.peek();
    await spool.remove(oldest!.id);
    assert.deepEqual(spoolFiles(dir), ['0000000000000002-0.batch'], 'remove deletes the file');
    assert.equal(await spool.remove(oldest!.id), false, 'an id no longer queued');
  });

  it('keeps the order of appends made without waiting for each other', async () => {
    const dir = tempDir();
    const spool = await openSpool(dir);
    const results = await Promise.all(Array.from({ length: 20 }, (_, n) => spool.append(batch(n, 10 + n), n)));
    assert.ok(results.every((ok) => ok));
    assert.deepEqual((await drain(spool)).map((e) => e.first), Array.from({ length: 20 }, (_, n) => n));
  });

  it('hands out payloads that own an aligned buffer of their own', async () => {
    const spool = await openSpool(tempDir());
    await spool.append(batch(7, 33), 1);
    const entry = await spool.peek();
    assert.equal(entry?.bytes.byteOffset, 0);
    assert.equal(entry?.bytes.buffer.byteLength, 33);
  });

  it('removes the temp files a crash left half-written, and leaves other files alone', async () => {
    const dir = tempDir();
    const spool = await openSpool(dir);
    await spool.append(batch(1), 1);
    await closeSpool(spool);
    writeFileSync(join(dir, '0000000000000002-5.batch.tmp'), 'half a bat');
    writeFileSync(join(dir, 'README'), 'not ours');
    const again = await openSpool(dir);
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
    assert.ok(existsSync(join(dir, 'README')));
    assert.deepEqual(again.size, { batches: 1, bytes: HEADER + 100, rows: 1 });
    assert.equal(again.corruptFiles, 0);
  });

  it('refuses work after close and releases the lock file', async () => {
    const dir = tempDir();
    const spool = await openSpool(dir);
    assert.ok(existsSync(join(dir, 'spool.lock')));
    await closeSpool(spool);
    assert.ok(!existsSync(join(dir, 'spool.lock')));
    await assert.rejects(spool.append(batch(1), 1), /closed/);
    await assert.rejects(spool.peek(), /closed/);
  });

  it('refuses a bad row count and a bad size bound', async () => {
    const spool = await openSpool(tempDir());
    await assert.rejects(spool.append(batch(1), -1), RangeError);
    await assert.rejects(spool.append(batch(1), 1.5), RangeError);
    await assert.rejects(Spool.open(tempDir(), { maxBytes: 0, logger: silentLogger() }), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID'));
  });
});

describe('spool: the size bound', () => {
  it('drops a batch that would pass maxBytes, counts batches and rows, and takes batches again once there is room', async () => {
    const spool = await openSpool(tempDir(), 2 * (HEADER + 100));
    assert.equal(await spool.append(batch(1), 10), true);
    assert.equal(await spool.append(batch(2), 20), true);
    assert.equal(await spool.append(batch(3), 30), false);
    assert.equal(await spool.append(batch(4, 1), 40), false, 'even one byte over is over');
    assert.deepEqual({ batches: spool.droppedBatches, rows: spool.droppedRows }, { batches: 2, rows: 70 });
    assert.deepEqual(spool.size, { batches: 2, bytes: 2 * (HEADER + 100), rows: 30 });
    const oldest = await spool.peek();
    await spool.remove(oldest!.id);
    assert.equal(await spool.append(batch(5), 50), true);
    assert.deepEqual((await drain(spool)).map((e) => e.first), [2, 5]);
  });

  it('drops a batch larger than the whole bound', async () => {
    const spool = await openSpool(tempDir(), 1000);
    assert.equal(await spool.append(batch(1, 1000), 5), false);
    assert.equal(spool.droppedBatches, 1);
    assert.equal(spool.size.batches, 0);
  });

  it('counts the bytes already on disk at open against the bound', async () => {
    const dir = tempDir();
    const spool = await openSpool(dir);
    await spool.append(batch(1), 1);
    await spool.append(batch(2), 1);
    await closeSpool(spool);
    const smaller = await openSpool(dir, 2 * (HEADER + 100) + HEADER + 10);
    assert.equal(await smaller.append(batch(3, 11), 1), false);
    assert.equal(await smaller.append(batch(3, 10), 1), true);
  });

  it('logs drops at a bounded rate while counting every one', async () => {
    const out = capture();
    const spool = await openSpool(tempDir(), HEADER + 100, out.logger);
    await spool.append(batch(1), 1);
    for (let n = 0; n < 50; n++) assert.equal(await spool.append(batch(2), 3), false);
    assert.equal(spool.droppedBatches, 50);
    assert.equal(spool.droppedRows, 150);
    const warnings = out.lines().filter((line) => line.msg === 'spool is full; batch dropped');
    assert.ok(warnings.length >= 1 && warnings.length <= 10, `${warnings.length} warnings for 50 drops`);
    assert.equal(warnings[0]?.droppedBatches, 1);
  });
});

describe('spool: damaged files', () => {
  async function spoolWith(dir: string, count: number): Promise<void> {
    const spool = await openSpool(dir);
    for (let n = 1; n <= count; n++) await spool.append(batch(n), n);
    await closeSpool(spool);
  }

  it('moves garbage, truncated files and files whose name disagrees with their header to corrupt/ at open', async () => {
    const dir = tempDir();
    await spoolWith(dir, 4);
    const [one, two, three] = spoolFiles(dir);
    writeFileSync(join(dir, one!), 'this is not a spool file at all, not even close');
    truncateSync(join(dir, two!), HEADER + 50);
    renameSync(join(dir, three!), join(dir, '0000000000000003-99.batch'));
    writeFileSync(join(dir, '0000000000000009-1.batch'), '');
    const out = capture();
    const spool = await openSpool(dir, 1 << 20, out.logger);
    assert.equal(spool.corruptFiles, 4);
    assert.deepEqual(spool.size, { batches: 1, bytes: HEADER + 100, rows: 4 });
    assert.deepEqual(readdirSync(join(dir, 'corrupt')).sort(), [one!, two!, '0000000000000003-99.batch', '0000000000000009-1.batch'].sort());
    assert.deepEqual((await drain(spool)).map((e) => e.first), [4]);
    assert.ok(out.lines().some((line) => line.msg === 'spool file cannot be used; moved to corrupt/' && line.file === one));
  });

  it('finds a corrupt payload when reading it back, moves it aside and returns the next batch', async () => {
    const dir = tempDir();
    await spoolWith(dir, 3);
    const [one] = spoolFiles(dir);
    const bytes = readFileSync(join(dir, one!));
    bytes[HEADER + 42]! ^= 0x10;
    writeFileSync(join(dir, one!), bytes);
    const spool = await openSpool(dir);
    assert.equal(spool.corruptFiles, 0, 'the header is intact, so open keeps it');
    const entry = await spool.peek();
    assert.equal(entry?.bytes[0], 2);
    assert.equal(spool.corruptFiles, 1);
    assert.deepEqual(readdirSync(join(dir, 'corrupt')), [one!]);
    assert.deepEqual(spool.size, { batches: 2, bytes: 2 * (HEADER + 100), rows: 5 });
  });

  it('skips a file deleted behind its back', async () => {
    const dir = tempDir();
    await spoolWith(dir, 2);
    const spool = await openSpool(dir);
    unlinkSync(join(dir, spoolFiles(dir)[0]!));
    assert.equal((await spool.peek())?.bytes[0], 2);
    assert.equal(spool.corruptFiles, 1);
  });

  it('never overwrites an earlier file in corrupt/', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'corrupt'));
    writeFileSync(join(dir, 'corrupt', '0000000000000001-1.batch'), 'earlier');
    writeFileSync(join(dir, '0000000000000001-1.batch'), 'later');
    await openSpool(dir);
    assert.deepEqual(readdirSync(join(dir, 'corrupt')).sort(), ['0000000000000001-1.batch', '0000000000000001-1.batch.1']);
    assert.equal(readFileSync(join(dir, 'corrupt', '0000000000000001-1.batch'), 'utf8'), 'earlier');
  });
});

describe('spool: one collector per directory', () => {
  const lockFile = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'spool.lock'), 'utf8')) as Record<string, unknown>;
  /** Process start time from /proc (Linux), read here independently of spool.ts. */
  const startTime = (pid: number): string | undefined => {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
    } catch {
      return undefined;
    }
  };
  const deadPid = (): number => {
    const child = spawnSync(process.execPath, ['-e', '']);
    assert.ok(child.pid !== undefined && child.pid > 0);
    return child.pid;
  };
  const locked = (pattern: RegExp) => (err: unknown) => isFlowmapError(err, 'FLOWMAP_STORE_LOCKED') && pattern.test(err.message);

  it('writes its pid into the lock file', async () => {
    const dir = tempDir();
    await openSpool(dir);
    assert.equal(lockFile(dir).pid, process.pid);
  });

  it('refuses a second open of the same directory in this process until the first is closed', async () => {
    const dir = tempDir();
    const first = await openSpool(dir);
    await assert.rejects(Spool.open(dir, { maxBytes: 1 << 20, logger: silentLogger() }), locked(/in use by this process .*give each collector its own collector\.spoolDir/));
    await closeSpool(first);
    await openSpool(dir);
  });

  it('refuses a directory whose lock names a live process', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'spool.lock'), JSON.stringify({ pid: process.ppid, host: 'collector-a' }));
    await assert.rejects(Spool.open(dir, { maxBytes: 1 << 20, logger: silentLogger() }), locked(new RegExp(`in use by process ${process.ppid} on collector-a \\(lock file .*spool\\.lock\\)`)));
    assert.equal(lockFile(dir).pid, process.ppid, 'the live lock is left in place');
    const start = startTime(process.ppid);
    if (start !== undefined) {
      writeFileSync(join(dir, 'spool.lock'), JSON.stringify({ pid: process.ppid, startTime: start }));
      await assert.rejects(Spool.open(dir, { maxBytes: 1 << 20, logger: silentLogger() }), locked(/in use by process/));
    }
  });

  it('takes over a stale lock of a process that is gone, and logs it', async () => {
    const dir = tempDir();
    const pid = deadPid();
    writeFileSync(join(dir, 'spool.lock'), JSON.stringify({ pid, host: 'old' }));
    const out = capture();
    await openSpool(dir, 1 << 20, out.logger);
    assert.equal(lockFile(dir).pid, process.pid);
    assert.ok(out.lines().some((line) => line.msg === 'taking over a stale spool lock (its process is gone)'));
  });

  it('takes over a lock whose pid now belongs to another process (start time differs)', { skip: startTime(process.pid) === undefined ? 'no /proc' : false }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'spool.lock'), JSON.stringify({ pid: process.ppid, startTime: '1' }));
    await openSpool(dir);
    assert.equal(lockFile(dir).pid, process.pid);
  });

  it('takes over a lock with its own pid from a previous life (a restarted container), and an unreadable lock', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'spool.lock'), JSON.stringify({ pid: process.pid }));
    await closeSpool(await openSpool(dir));
    writeFileSync(join(dir, 'spool.lock'), 'garbage');
    await openSpool(dir);
    assert.equal(lockFile(dir).pid, process.pid);
  });
});
