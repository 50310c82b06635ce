// The spool (DESIGN.md §10): an ordered, bounded queue of encoded batches on disk, where batches
// wait while the store is unreachable and from which they are replayed oldest first, also after a
// restart. The spool stores opaque bytes (a batch from batch-codec.ts, or anything else the sink
// hands it) with a row count; it knows nothing of their format.
//
// On disk, one file per batch in the spool directory:
//   <sequence, 16 digits>-<rows>.batch   e.g. 0000000000000042-65536.batch
// The zero-padded, monotonically increasing sequence orders the queue across restarts; the row
// count in the name lets `size.rows` be known at open without reading the files. Each file is a
// 24-byte header and the payload:
//   0 "FLWS" · 4 u16 version (1) · 6 u16 header length (24) · 8 u32 rows · 12 u32 payload length
//   16 u32 CRC-32 of the payload · 20 u32 CRC-32 of header bytes [0, 20)      (little-endian)
//
// Crash safety: a batch is written to `<name>.tmp`, fsynced, renamed to its real name and the
// directory fsynced, so a crash leaves either a complete file under a real name or a temp file,
// which the next open removes. At open every file's header is checked against its name and size
// (cheap: 24 bytes a file), and the payload CRC when the batch is read for replay; a file that
// fails either is moved to `corrupt/` and counted, never crashing the collector and never blocking
// the batches behind it.
//
// Bound: `maxBytes` counts the files' bytes on disk. A batch that would pass it is dropped, counted
// (`droppedBatches`, `droppedRows`) and logged at a bounded rate; a full disk (ENOSPC) is treated
// the same way. Neither throws.
//
// One collector per directory: `spool.lock` holds the owner's pid (and, on Linux, its start time,
// so a reused pid is not mistaken for the owner). A lock whose process is gone is taken over; a
// live one is refused with FLOWMAP_STORE_LOCKED.
import { link, mkdir, open, readdir, readFile, realpath, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { FlowmapError } from '../core/errors.js';
import { RateLimitedLog, type Logger } from '../core/logger.js';

const MAGIC = [0x46, 0x4c, 0x57, 0x53]; // "FLWS"
const VERSION = 1;
const HEADER_BYTES = 24;
const NAME = /^(\d{16})-(\d{1,10})\.batch$/;
const TEMP_SUFFIX = '.tmp';
const LOCK_NAME = 'spool.lock';
const LOCK_TEMP = /^spool\.lock\.(\d+)\.new$/;
const CORRUPT_DIR = 'corrupt';
const MAX_U32 = 0xffff_ffff;

export interface SpoolOptions {
  /** Bound on the bytes of spool files on disk; batches past it are dropped and counted. */
  readonly maxBytes: number;
  readonly logger: Logger;
}

export interface SpoolEntry {
  /** Sequence number: pass to `remove` once the batch is stored. */
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly rows: number;
}

export interface SpoolSize {
  readonly batches: number;
  /** Bytes on disk, headers included. */
  readonly bytes: number;
  readonly rows: number;
}

interface QueuedFile {
  readonly seq: number;
  readonly name: string;
  readonly rows: number;
  readonly fileBytes: number;
}

interface LockOwner {
  readonly pid: number;
  /** Start time of the process in clock ticks since boot (Linux /proc/PID/stat field 22). */
  readonly startTime?: string;
  readonly host?: string;
}

/** Spool directories this process holds, by real path: a second open in one process is refused too. */
const held = new Set<string>();

export class Spool {
  /** Batches dropped because the spool (or the disk) was full. */
  droppedBatches = 0;
  droppedRows = 0;
  /** Files moved to `corrupt/` (or found missing) because they could not be read back. */
  corruptFiles = 0;

  private readonly queue: QueuedFile[];
  private nextSeq: number;
  private totalBytes = 0;
  private totalRows = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly warn: RateLimitedLog;

  private constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly logger: Logger,
    private readonly lock: { path: string; owner: LockOwner },
    files: QueuedFile[],
    corrupt: number,
  ) {
    this.warn = new RateLimitedLog(logger);
    this.queue = files;
    this.corruptFiles = corrupt;
    this.nextSeq = (files.at(-1)?.seq ?? 0) + 1;
    for (const file of files) {
      this.totalBytes += file.fileBytes;
      this.totalRows += file.rows;
    }
  }

  /**
   * Opens (creating it if needed) and locks a spool directory; removes leftover temp files and
   * moves files with a bad header aside. Throws FLOWMAP_STORE_LOCKED when another live process
   * holds the directory.
   */
  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    if (!Number.isFinite(options.maxBytes) || options.maxBytes <= 0) {
      throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `spool size bound ${options.maxBytes} must be a positive number of bytes`, { details: { maxBytes: options.maxBytes } });
    }
    const logger = options.logger;
    await mkdir(dir, { recursive: true });
    const real = await realpath(dir);
    const lock = await acquireLock(real, logger);
    try {
      const { files, corrupt } = await scan(real, logger);
      const spool = new Spool(real, options.maxBytes, logger, lock, files, corrupt);
      if (files.length > 0 || corrupt > 0) logger.info({ dir: real, ...spool.size, corrupt }, 'spool opened with batches from before');
      return spool;
    } catch (err) {
      await releaseLock(real, lock);
      throw err;
    }
  }

  get size(): SpoolSize {
    return { batches: this.queue.length, bytes: this.totalBytes, rows: this.totalRows };
  }

  /**
   * Adds a batch at the end of the queue, durably (fsynced) before resolving. Resolves false, and
   * counts the drop, when the batch would take the spool past `maxBytes` or the disk is full.
   * Rejects only on other I/O errors.
   */
  append(bytes: Uint8Array, rows: number): Promise<boolean> {
    if (!Number.isInteger(rows) || rows < 0 || rows > MAX_U32) return Promise.reject(new RangeError(`spool: row count ${rows} is not an integer in 0..${MAX_U32}`));
    if (bytes.length > MAX_U32) return Promise.reject(new RangeError(`spool: a batch of ${bytes.length} bytes is over the 4 GiB a spool file holds`));
    return this.serialized(async () => {
      const fileBytes = HEADER_BYTES + bytes.length;
      if (this.totalBytes + fileBytes > this.maxBytes) {
        this.drop(rows, { reason: 'full', spoolBytes: this.totalBytes, batchBytes: fileBytes, maxBytes: this.maxBytes });
        return false;
      }
      const seq = this.nextSeq++;
      const name = `${String(seq).padStart(16, '0')}-${rows}.batch`;
      const path = join(this.dir, name);
      const temp = path + TEMP_SUFFIX;
      try {
        const handle = await open(temp, 'wx');
        try {
          await writeAll(handle, header(rows, bytes), 0);
          await writeAll(handle, bytes, HEADER_BYTES);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, path);
        await syncDirectory(this.dir);
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        const code = errorCode(err);
        if (code === 'ENOSPC' || code === 'EDQUOT') {
          this.drop(rows, { reason: 'disk full', code, batchBytes: fileBytes });
          return false;
        }
        throw err;
      }
      this.queue.push({ seq, name, rows, fileBytes });
      this.totalBytes += fileBytes;
      this.totalRows += rows;
      return true;
    });
  }

  /**
   * The oldest batch, read back and checked, or undefined when the spool is empty. A file that
   * fails its checks is moved to `corrupt/`, counted, and the next one is returned.
   */
  peek(): Promise<SpoolEntry | undefined> {
    return this.serialized(async () => {
      for (;;) {
        const file = this.queue[0];
        if (file === undefined) return undefined;
        const read = await readBatch(join(this.dir, file.name), file.rows);
        if (read.bytes !== undefined) return { id: file.seq, bytes: read.bytes, rows: file.rows };
        this.queue.shift();
        this.forget(file);
        this.corruptFiles += 1;
        if (read.problem !== 'missing') await moveAside(this.dir, file.name);
        this.warn.warn('corrupt', { file: file.name, problem: read.problem, rows: file.rows }, 'spooled batch cannot be read back; moved to corrupt/ and skipped');
      }
    });
  }

  /** Deletes a batch (after it was stored). Resolves false for an id not in the queue. */
  remove(id: number): Promise<boolean> {
    return this.serialized(async () => {
      const index = this.queue.findIndex((file) => file.seq === id);
      if (index < 0) return false;
      const [file] = this.queue.splice(index, 1);
      this.forget(file!);
      try {
        await unlink(join(this.dir, file!.name));
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
      // Without this a crash could bring a stored batch back and insert it twice.
      await syncDirectory(this.dir);
      return true;
    });
  }

  /** Waits for pending operations and releases the lock; the files stay for the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Refuse new work at once; what is already queued still runs.
    this.closed = true;
    await this.chain;
    await releaseLock(this.dir, this.lock);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`spool ${this.dir} is closed`));
    const result = this.chain.then(work);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private forget(file: QueuedFile): void {
    this.totalBytes -= file.fileBytes;
    this.totalRows -= file.rows;
  }

  private drop(rows: number, fields: Record<string, unknown>): void {
    this.droppedBatches += 1;
    this.droppedRows += rows;
    this.warn.warn('full', { rows, droppedBatches: this.droppedBatches, droppedRows: this.droppedRows, ...fields }, 'spool is full; batch dropped');
  }
}

function header(rows: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, HEADER_BYTES, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, payload.length, true);
  view.setUint32(16, crc32(payload), true);
  view.setUint32(20, crc32(bytes.subarray(0, 20)), true);
  return bytes;
}

/** Why a header is unusable, or undefined when it matches the file's name and size. */
function headerProblem(bytes: Uint8Array, fileBytes: number, rows: number): string | undefined {
  if (bytes.length < HEADER_BYTES) return `shorter than the ${HEADER_BYTES}-byte header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (MAGIC.some((b, i) => bytes[i] !== b)) return 'not a spool file (magic)';
  if (view.getUint32(20, true) !== crc32(bytes.subarray(0, 20))) return 'header checksum mismatch';
  if (view.getUint16(4, true) !== VERSION) return `spool file version ${view.getUint16(4, true)} is not ${VERSION}`;
  if (view.getUint16(6, true) !== HEADER_BYTES) return 'unexpected header length';
  if (view.getUint32(8, true) !== rows) return `header says ${view.getUint32(8, true)} rows, the name ${rows}`;
  const payload = view.getUint32(12, true);
  if (HEADER_BYTES + payload !== fileBytes) return `header says ${HEADER_BYTES + payload} bytes, the file has ${fileBytes}`;
  return undefined;
}

async function readBatch(path: string, rows: number): Promise<{ bytes: Uint8Array; problem?: undefined } | { bytes?: undefined; problem: string }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { problem: 'missing' };
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const head = new Uint8Array(HEADER_BYTES);
    const headRead = await readAll(handle, head, 0);
    const bad = headerProblem(head.subarray(0, headRead), size, rows);
    if (bad !== undefined) return { problem: bad };
    // A buffer of its own, so the payload is 8-byte aligned and transferable.
    const payload = new Uint8Array(size - HEADER_BYTES);
    if ((await readAll(handle, payload, HEADER_BYTES)) !== payload.length) return { problem: 'file shrank while read' };
    if (crc32(payload) !== new DataView(head.buffer).getUint32(16, true)) return { problem: 'payload checksum mismatch' };
    return { bytes: payload };
  } finally {
    await handle.close();
  }
}

/** Lists the queue in order; removes temp files; moves aside files whose header does not fit. */
async function scan(dir: string, logger: Logger): Promise<{ files: QueuedFile[]; corrupt: number }> {
  const files: QueuedFile[] = [];
  let corrupt = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const name = entry.name;
    if (name.endsWith(`.batch${TEMP_SUFFIX}`)) {
      await unlink(join(dir, name)).catch(() => undefined);
      logger.info({ file: name }, 'removed a batch a crash left half-written');
      continue;
    }
    const lockTemp = LOCK_TEMP.exec(name);
    if (lockTemp !== null) {
      if (!processAlive({ pid: Number(lockTemp[1]) })) await unlink(join(dir, name)).catch(() => undefined);
      continue;
    }
    const match = NAME.exec(name);
    if (match === null) continue;
    const seq = Number(match[1]);
    const rows = Number(match[2]);
    const path = join(dir, name);
    let problem: string | undefined;
    let fileBytes = 0;
    if (!entry.isFile() || !Number.isSafeInteger(seq) || rows > MAX_U32) {
      problem = 'not a regular spool file';
    } else {
      try {
        fileBytes = (await stat(path)).size;
        const handle = await open(path, 'r');
        try {
          const head = new Uint8Array(HEADER_BYTES);
          problem = headerProblem(head.subarray(0, await readAll(handle, head, 0)), fileBytes, rows);
        } finally {
          await handle.close();
        }
      } catch (err) {
        problem = `unreadable: ${errorCode(err) ?? String(err)}`;
      }
    }
    if (problem === undefined) {
      files.push({ seq, name, rows, fileBytes });
    } else {
      corrupt += 1;
      await moveAside(dir, name);
      logger.warn({ file: name, problem }, 'spool file cannot be used; moved to corrupt/');
    }
  }
  files.sort((a, b) => a.seq - b.seq);
  return { files, corrupt };
}

/** Moves a file into `corrupt/` without overwriting an earlier one of the same name. */
async function moveAside(dir: string, name: string): Promise<void> {
  const target = join(dir, CORRUPT_DIR);
  await mkdir(target, { recursive: true });
  let destination = join(target, name);
  for (let n = 1; await exists(destination); n++) destination = join(target, `${name}.${n}`);
  try {
    await rename(join(dir, name), destination);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** Reads until `into` is full or the file ends; returns the bytes read. */
async function readAll(handle: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** fsync of the directory makes a rename or unlink durable (POSIX); platforms that refuse it are left as they are. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = errorCode(err);
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

// The lock.

/** Start time of a process (clock ticks since boot) from /proc, or undefined where there is no /proc. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after it follow the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function processAlive(owner: LockOwner): boolean {
  // A pid of 0 or below would signal a process group; such a lock is garbage.
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    if (errorCode(err) !== 'EPERM') return false;
  }
  if (owner.startTime !== undefined) {
    const now = processStartTime(owner.pid);
    if (now !== undefined && now !== owner.startTime) return false;
  }
  return true;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || !('pid' in parsed) || typeof parsed.pid !== 'number') return undefined;
    const startTime = 'startTime' in parsed && typeof parsed.startTime === 'string' ? parsed.startTime : undefined;
    const host = 'host' in parsed && typeof parsed.host === 'string' ? parsed.host : undefined;
    return { pid: parsed.pid, startTime, host };
  } catch {
    return undefined;
  }
}

async function acquireLock(dir: string, logger: Logger): Promise<{ path: string; owner: LockOwner }> {
  const path = join(dir, LOCK_NAME);
  const owner: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), host: hostname() };
  const refuse = (holder: LockOwner): FlowmapError =>
    new FlowmapError(
      'FLOWMAP_STORE_LOCKED',
      `spool directory ${dir} is in use by ${holder.pid === process.pid ? 'this process' : `process ${holder.pid}`}${holder.host === undefined ? '' : ` on ${holder.host}`} (lock file ${path}); ` +
        'give each collector its own collector.spoolDir (FLOWMAP_SPOOL_DIR), or delete the lock file if that process is not a flowmap collector',
      { status: 503, details: { dir, lock: path, pid: holder.pid, host: holder.host } },
    );
  if (held.has(dir)) throw refuse(owner);
  // The lock is written to a private file and hard-linked into place: link fails if the lock
  // exists, and a lock file is never seen half-written.
  const temp = join(dir, `${LOCK_NAME}.${process.pid}.new`);
  await writeFile(temp, `${JSON.stringify(owner)}\n`);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(temp, path);
        held.add(dir);
        return { path, owner };
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue;
        throw err;
      }
      const holder = parseOwner(text);
      // Our own pid without holding the directory is a previous life of this pid: a container
      // restarted with the same pid (often 1) after a crash.
      if (holder !== undefined && holder.pid !== process.pid && processAlive(holder)) throw refuse(holder);
      logger.warn({ lock: path, previous: holder ?? text.slice(0, 200) }, 'taking over a stale spool lock (its process is gone)');
      // Removed only if unchanged since read, so a lock another collector just took is not deleted.
      if ((await readFile(path, 'utf8').catch(() => undefined)) === text) await unlink(path).catch(() => undefined);
    }
    throw refuse(parseOwner(await readFile(path, 'utf8').catch(() => '')) ?? { pid: 0 });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function releaseLock(dir: string, lock: { path: string; owner: LockOwner }): Promise<void> {
  held.delete(dir);
  const text = await readFile(lock.path, 'utf8').catch(() => undefined);
  if (text !== undefined && text === `${JSON.stringify(lock.owner)}\n`) await unlink(lock.path).catch(() => undefined);
}
