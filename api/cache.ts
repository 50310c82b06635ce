// Answers worth keeping: bodies derived from immutable or slowly changing data (a completed
// baseline's graph download, its recommendation), kept serialized — gzipped at once, and
// compressed with Brotli at its best quality in the background (zlib's thread pool, off the event
// loop; a third of the gzip size for graph JSON) — so a dashboard polling them costs a lookup, not
// a re-render. Bounded by bytes (least recently used out first); each entry has a strong ETag, so a
// client that has it gets 304 with no body.
import { createHash } from 'node:crypto';
import { brotliCompress, constants as zlib, gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface CachedBody {
  body: Buffer;
  /** Present when compressing paid (bodies over 1 KiB). */
  gzip?: Buffer;
  /** Brotli, once the background compression finished (bodies over 64 KiB). */
  br?: Buffer;
  etag: string;
  contentType: string;
  /** Epoch ms; Infinity for immutable bodies. */
  expires: number;
  headers: Record<string, string>;
}

const COMPRESS_FROM = 1024;
const BROTLI_FROM = 64 * 1024;

export class ResponseCache {
  private readonly entries = new Map<string, CachedBody>();
  private bytes = 0;

  constructor(private readonly maxBytes = 256 * 1024 * 1024) {}

  get(key: string, now = Date.now()): CachedBody | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= now) {
      this.drop(key, entry);
      return undefined;
    }
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  set(key: string, body: string | Buffer, contentType: string, options: { ttlMs?: number; headers?: Record<string, string> } = {}): CachedBody {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const entry: CachedBody = {
      body: bytes,
      ...(bytes.length >= COMPRESS_FROM ? { gzip: gzipSync(bytes, { level: 6 }) } : {}),
      etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`,
      contentType,
      expires: options.ttlMs === undefined ? Infinity : Date.now() + options.ttlMs,
      headers: options.headers ?? {},
    };
    const size = entry.body.length + (entry.gzip?.length ?? 0);
    if (size > this.maxBytes / 4) return entry;
    const old = this.entries.get(key);
    if (old !== undefined) this.drop(key, old);
    this.entries.set(key, entry);
    this.bytes += size;
    this.evict();
    if (bytes.length >= BROTLI_FROM) {
      brotliCompress(bytes, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length } }, (err, br) => {
        // Dropped meanwhile, or compression failed: gzip stays the answer.
        if (err !== null || this.entries.get(key) !== entry) return;
        entry.br = br;
        this.bytes += br.length;
        this.evict();
      });
    }
    return entry;
  }

  private evict(): void {
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(k, e);
    }
  }

  private drop(key: string, entry: CachedBody): void {
    this.entries.delete(key);
    this.bytes -= entry.body.length + (entry.gzip?.length ?? 0) + (entry.br?.length ?? 0);
  }
}

/** Sends a cached body: 304 when the client has it, gzip when the client takes it. */
export function sendCached(request: FastifyRequest, reply: FastifyReply, entry: CachedBody): FastifyReply {
  reply.header('etag', entry.etag).header('vary', 'accept-encoding');
  for (const [name, value] of Object.entries(entry.headers)) reply.header(name, value);
  const match = request.headers['if-none-match'];
  if (typeof match === 'string' && match.split(',').some((tag) => tag.trim() === entry.etag)) return reply.status(304).send();
  reply.type(entry.contentType);
  const accepts = request.headers['accept-encoding'];
  if (typeof accepts === 'string') {
    if (entry.br !== undefined && /\bbr\b/.test(accepts)) return reply.header('content-encoding', 'br').send(entry.br);
    if (entry.gzip !== undefined && /\bgzip\b/.test(accepts)) return reply.header('content-encoding', 'gzip').send(entry.gzip);
  }
  return reply.send(entry.body);
}

/**
 * The baseline record an id (or `latest`) names, refreshed every `maxAgeMs`: the graph and
 * recommendation routes are polled, and a completed baseline changes only by a forced rebuild (a
 * new completedAt, which then shows within `maxAgeMs`). Past its age an entry is still answered
 * while one refresh runs in the background, so a burst of requests never waits on the store and
 * never sends it one read per request.
 */
export class RecordCache<T extends { status: string }> {
  private readonly entries = new Map<string, { record: T; at: number; refreshing?: Promise<void> }>();

  constructor(private readonly load: (id: string) => Promise<T>, private readonly maxAgeMs = 2000) {}

  async get(id: string, now = Date.now()): Promise<T> {
    const hit = this.entries.get(id);
    if (hit === undefined) return this.fetch(id, now);
    if (now - hit.at >= this.maxAgeMs && hit.refreshing === undefined) {
      hit.refreshing = this.fetch(id, now).then(
        () => undefined,
        () => void this.entries.delete(id),
      );
    }
    return hit.record;
  }

  private async fetch(id: string, now: number): Promise<T> {
    const record = await this.load(id);
    if (record.status === 'completed') {
      if (this.entries.size >= 1000) this.entries.clear();
      this.entries.set(id, { record, at: now });
    } else {
      this.entries.delete(id);
    }
    return record;
  }
}
