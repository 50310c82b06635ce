// The collector role: UDP listeners → decoder threads → store (or spool).
//
// The receive loop (this thread) does as little as it can per datagram: map the sender to its
// 16-byte address (cached), apply the allow-list, and copy the payload into the chunk bound for
// the decoder thread that owns that exporter (a hash of its address, so an exporter's templates
// live in one thread). Chunks are transferred, not copied, once per event-loop turn. Decoding,
// orientation and batching happen in the threads (collector/worker.ts); encoded batches come back
// and go to the sink (collector/sink.ts): store inserts, or the spool while the store is down.
//
// Node 20's dgram has no SO_REUSEPORT, and `cluster` would spread one exporter's datagrams across
// processes (breaking template locality), so one process receives and threads decode. Beyond one
// machine, run more collectors behind a UDP load balancer that keeps an exporter on one collector.
import { createSocket, type Socket } from 'node:dgram';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Registry } from 'prom-client';
import { describeError, FlowmapError } from '../core/errors.js';
import { parsePrefix, prefixContains, tryParseAddress, type Prefix } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { RateLimitedLog } from '../core/logger.js';
import type { FlowBatch } from '../core/flow.js';
import type { ExporterStatus, Store } from '../store/port.js';
import { encodeBatch } from './batch-codec.js';
import type { DecoderSnapshot } from './decoders/snapshot.js';
import { SKIP_REASONS } from './decoders/types.js';
import { createCollectorMetrics, type CollectorMetrics } from './metrics.js';
import { loadExporters, mergeSnapshots, readState, writeState } from './state-file.js';
import { exporterThread, OVERFLOW_KEY, RECORD_HEADER, type ExporterCounters, type FromWorker, type ToWorker, type WorkerSettings } from './protocol.js';
import { Sink } from './sink.js';
import { Spool } from './spool.js';

export interface CollectorOptions {
  /** HOST:PORT endpoints, IPv6 hosts in brackets. */
  listen: readonly string[];
  receiveBufferBytes: number;
  /** Exporter prefixes accepted; empty accepts all. */
  allow: readonly string[];
  /** Decoder threads; 0 = one per core beyond the first, at least one. */
  workers: number;
  batchRows: number;
  flushIntervalMs: number;
  spoolDir: string;
  spoolMaxBytes: number;
  servicePorts: readonly string[];
  samplingRate?: number;
  /** time_received: arrival (default) or the flow's end time as exported (collector/worker.ts). */
  timestamps?: 'arrival' | 'flow-end';
  /** Name of this collector in the exporters table. */
  id: string;
  /** Where learnt templates and sampling rates are kept across restarts. */
  stateFile: string;
}

export interface CollectorDeps {
  store: Store;
  logger: Logger;
  registry: Registry;
}

export interface Endpoint {
  address: string;
  port: number;
  /** What the kernel granted (Linux reports twice what was asked, capped by net.core.rmem_max). */
  receiveBufferBytes: number;
}

export interface CollectorStats {
  datagrams: number;
  refused: number;
  backlogDropped: number;
  flows: number;
  storedRows: number;
  /** Rows in batches the store refused as malformed (kept in <spool>/rejected/). */
  rejectedRows: number;
  spool: { batches: number; bytes: number; rows: number; droppedBatches: number; droppedRows: number };
}

export interface Collector {
  readonly endpoints: readonly Endpoint[];
  stats(): CollectorStats;
  exporters(): ExporterStatus[];
  /** Posts every batch the threads hold and waits until the sink has taken them (tests, shutdown). */
  flush(): Promise<void>;
  /**
   * Takes a batch made outside the UDP path (cloud flow-log files) into the same sink as decoded
   * batches, so it is stored, or spooled while the store is down. Resolves once the sink has it in
   * the store or on disk. Rejects (FLOWMAP_STORE_UNAVAILABLE) rather than fill the spool past half:
   * the other half stays for the routers, whose datagrams cannot be asked to wait.
   */
  ingest(batch: FlowBatch): Promise<void>;
  /** flush(), then waits until the spool is empty too (rejects after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

const fromSource = import.meta.url.endsWith('.ts');
/** Chunk size for datagrams bound for one thread; a datagram is at most 65,535 bytes. */
const CHUNK_BYTES = 256 * 1024;
/** Chunks a thread may have unread before datagrams for it are dropped (and counted). */
const MAX_BACKLOG_CHUNKS = 512;
/** Sender addresses remembered (text → bytes and allow verdict); cleared when full. */
const MAX_SENDERS = 65_536;
const EXPORTERS_SAVE_MS = 15_000;
/** Shutdown budget, inside the process's 25 s: threads, then draining into the store, then closing. */
const STOP_DEADLINE_MS = 5_000;
const DRAIN_DEADLINE_MS = 10_000;
const CLOSE_DEADLINE_MS = 5_000;

interface Lane {
  worker: Worker;
  settings: WorkerSettings;
  buffer: ArrayBuffer;
  bytes: Uint8Array;
  view: DataView;
  length: number;
  count: number;
  sent: number;
  /** Chunks the thread finished, written by it (Atomics). */
  done: Int32Array;
  exporters: Map<string, ExporterCounters>;
  datagrams: number;
  /** Request ids (flush, snapshot) this thread has not answered yet. */
  pending: Set<number>;
  /** The thread ended without being asked to (a bug or out of memory): its datagrams are dropped and counted. */
  dead: boolean;
}

interface Sender {
  bytes: Uint8Array;
  allowed: boolean;
}

export async function startCollector(options: CollectorOptions, deps: CollectorDeps): Promise<Collector> {
  const logger = deps.logger.child({ component: 'collector' });
  const warn = new RateLimitedLog(logger);
  const metrics = createCollectorMetrics(deps.registry);
  const allow: Prefix[] = options.allow.map((text) => parsePrefix(text));
  const threads = options.workers > 0 ? options.workers : Math.max(1, availableParallelism() - 1);

  const spool = await Spool.open(options.spoolDir, { maxBytes: options.spoolMaxBytes, logger });
  const saved = readState(options.stateFile, logger);
  const snapshot = saved?.decoder;
  const previous = await loadExporters(deps.store, options.id, saved?.exporters ?? [], logger);

  const sink = new Sink(deps.store, spool, logger, {
    inserted(kind, rows, seconds) {
      metrics.insertSeconds.observe({ kind }, seconds);
      if (kind === 'flows') {
        metrics.flowsStored.inc(rows);
        metrics.batchRows.observe(rows);
      }
    },
    failed(kind) {
      metrics.insertFailures.inc({ kind });
    },
    rejected(kind, rows) {
      if (kind === 'flows') {
        metrics.flowsDropped.inc({ reason: 'rejected' }, rows);
        rejectedRows += rows;
      }
    },
  });

  let flows = 0;
  let rejectedRows = 0;
  let nextRequest = 1;
  const waiting = new Map<number, (value: unknown) => void>();
  const lanes: Lane[] = [];
  const stopped: Promise<DecoderSnapshot | undefined>[] = [];
  try {
    for (let index = 0; index < threads; index++) {
      const done = new Int32Array(new SharedArrayBuffer(4));
      const settings: WorkerSettings = {
        index,
        count: threads,
        batchRows: options.batchRows,
        flushIntervalMs: options.flushIntervalMs,
        servicePorts: [...options.servicePorts],
        samplingRate: options.samplingRate,
        timestamps: options.timestamps ?? 'arrival',
        snapshot,
      };
      const entry = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url);
      // From TypeScript sources (npm start, tests) the thread registers the tsx loader itself:
      // Node 20 does not apply the parent's --import hooks to a worker's entry module.
      const worker = fromSource
        ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`, {
            eval: true,
            workerData: { ...settings, done },
            name: `flowmap-decoder-${index}`,
          })
        : new Worker(entry, { workerData: { ...settings, done }, name: `flowmap-decoder-${index}` });
      const lane: Lane = { worker, settings, ...newChunk(), length: 0, count: 0, sent: 0, done, exporters: new Map(), datagrams: 0, dead: false, pending: new Set() };
      lanes.push(lane);
      let ended: (value: DecoderSnapshot | undefined) => void = () => undefined;
      stopped.push(new Promise((resolve) => (ended = resolve)));
      const ready = new Promise<void>((resolve, reject) => {
        worker.on('message', (message: FromWorker) => {
          switch (message.type) {
            case 'ready':
              if (message.restored.templates + message.restored.sampling > 0 || message.restored.refused > 0) logger.info({ thread: index, ...message.restored }, 'decoder state restored');
              resolve();
              break;
            case 'batch':
              flows += message.rows;
              sink.pushFlows(message.bytes, message.rows);
              break;
            case 'counters':
              sink.pushCounters(message.rows);
              break;
            case 'stats':
              mergeStats(lane, message.exporters, metrics);
              lane.datagrams = message.datagrams;
              break;
            case 'flushed':
            case 'snapshot':
              waiting.get(message.id)?.(message.type === 'snapshot' ? message.snapshot : undefined);
              waiting.delete(message.id);
              break;
            case 'stopped':
              ended(message.snapshot);
              break;
          }
        });
        const died = (): void => {
          if (lane.dead) return;
          lane.dead = true;
          ended(undefined);
          // Requests it will never answer are answered empty, so flush() and state saves go on.
          for (const [id, resolveRequest] of waiting) if (lane.pending.has(id)) resolveRequest(undefined);
        };
        worker.once('error', (err) => {
          logger.error({ thread: index, err: describeError(err) }, 'decoder thread failed; its exporters\' datagrams are dropped (decoder_failed) until the collector restarts');
          reject(err);
          died();
        });
        worker.once('exit', () => died());
      });
      await ready;
    }
  } catch (err) {
    await Promise.all(lanes.map((lane) => lane.worker.terminate()));
    await sink.close(1000);
    throw new FlowmapError('FLOWMAP_COLLECTOR_START', `decoder threads did not start: ${describeError(err)}`, { cause: err });
  }

  // Receive loop.
  const senders = new Map<string, Sender>();
  let refused = 0;
  let backlogDropped = 0;
  let datagrams = 0;
  let flushScheduled = false;
  const sendChunks = (): void => {
    flushScheduled = false;
    for (const lane of lanes) sendChunk(lane);
  };
  const onMessage = (message: Buffer, rinfo: { address: string }): void => {
    datagrams++;
    let sender = senders.get(rinfo.address);
    if (sender === undefined) {
      // A link-local sender arrives with its zone (fe80::1%eth0); the address is what identifies it.
      const percent = rinfo.address.indexOf('%');
      const bytes = tryParseAddress(percent < 0 ? rinfo.address : rinfo.address.slice(0, percent)) ?? new Uint8Array(16);
      sender = { bytes, allowed: allow.length === 0 || allow.some((prefix) => prefixContains(prefix, bytes)) };
      if (senders.size >= MAX_SENDERS) senders.clear();
      senders.set(rinfo.address, sender);
    }
    if (!sender.allowed) {
      refused++;
      metrics.datagramsDropped.inc({ reason: 'refused' });
      warn.warn(`refused:${rinfo.address}`, { exporter: rinfo.address }, 'datagram from an exporter outside collector.allow dropped');
      return;
    }
    const lane = lanes[exporterThread(sender.bytes, 0, lanes.length)] as Lane;
    if (lane.dead) {
      backlogDropped++;
      metrics.datagramsDropped.inc({ reason: 'decoder_failed' });
      return;
    }
    if (lane.sent - Atomics.load(lane.done, 0) >= MAX_BACKLOG_CHUNKS) {
      backlogDropped++;
      metrics.datagramsDropped.inc({ reason: 'decoder_backlog' });
      warn.warn('backlog', { thread: lane.settings.index }, 'decoder thread is too far behind; dropping datagrams');
      return;
    }
    if (lane.length + RECORD_HEADER + message.length > lane.bytes.length) sendChunk(lane);
    const at = lane.length;
    lane.view.setUint32(at, message.length);
    lane.view.setUint32(at + 4, Math.floor(Date.now() / 1000));
    lane.bytes.set(sender.bytes, at + 8);
    message.copy(lane.bytes, at + RECORD_HEADER);
    lane.length = at + RECORD_HEADER + message.length;
    lane.count++;
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(sendChunks);
    }
  };

  const sockets: Socket[] = [];
  const endpoints: Endpoint[] = [];
  try {
    for (const text of options.listen) {
      const bound = await bind(text, options.receiveBufferBytes, onMessage, logger);
      sockets.push(bound.socket);
      endpoints.push(bound.endpoint);
      if (bound.endpoint.receiveBufferBytes < options.receiveBufferBytes) {
        logger.warn(
          { endpoint: text, asked: options.receiveBufferBytes, granted: bound.endpoint.receiveBufferBytes },
          'the kernel granted a smaller UDP receive buffer than configured; raise net.core.rmem_max (sysctl -w net.core.rmem_max=N) to absorb bursts',
        );
      }
    }
  } catch (err) {
    for (const socket of sockets) socket.close();
    await Promise.all(lanes.map((lane) => lane.worker.terminate()));
    await sink.close(1000);
    throw err;
  }
  logger.info({ endpoints, threads, batchRows: options.batchRows, flushIntervalMs: options.flushIntervalMs, spool: options.spoolDir }, 'collector listening');

  const exporterRows = (): ExporterStatus[] => {
    const now = Math.floor(Date.now() / 1000);
    const rows: ExporterStatus[] = [];
    for (const lane of lanes) {
      for (const counters of lane.exporters.values()) {
        // Exporters past a thread's limit share one entry with no address: metrics only.
        if (counters.key === OVERFLOW_KEY) continue;
        const before = previous.get(counters.address);
        const errors: Record<string, number> = { ...(before?.errors ?? {}) };
        for (const reason of SKIP_REASONS) if (counters.skipped[reason] > 0) errors[reason] = (errors[reason] ?? 0) + counters.skipped[reason];
        rows.push({
          collector: options.id,
          exporter: counters.address,
          firstSeen: Math.min(counters.firstSeen, before?.firstSeen ?? Infinity),
          lastSeen: counters.lastSeen,
          datagrams: counters.datagrams + (before?.datagrams ?? 0),
          flows: counters.flows + (before?.flows ?? 0),
          templates: counters.templatesCached,
          samplingRates: counters.samplingRates,
          errors,
          updatedAt: now,
        });
      }
    }
    return rows;
  };

  let savingExporters: Promise<void> = Promise.resolve();
  const saveExporters = (): Promise<void> => {
    const rows = exporterRows();
    if (rows.length === 0) return savingExporters;
    savingExporters = savingExporters
      .then(() => deps.store.upsertExporters(rows))
      .catch((err: unknown) => warn.warn('exporters', { err: describeError(err) }, 'could not save exporter status; will retry'));
    return savingExporters;
  };
  const request = <T>(lane: Lane, type: 'flush' | 'snapshot'): Promise<T | undefined> => {
    if (lane.dead) return Promise.resolve(undefined);
    const id = nextRequest++;
    return new Promise<T | undefined>((resolve) => {
      lane.pending.add(id);
      waiting.set(id, (value) => {
        lane.pending.delete(id);
        waiting.delete(id);
        resolve(value as T | undefined);
      });
      lane.worker.postMessage({ type, id } satisfies ToWorker);
    });
  };
  let lastTemplates = -1;
  let decoderState: DecoderSnapshot | undefined;
  /** Saves learnt templates (asking the threads only when they learnt something) and exporter counters locally: they survive a store outage. */
  const saveState = async (): Promise<void> => {
    const templates = lanes.reduce((n, lane) => n + [...lane.exporters.values()].reduce((m, e) => m + e.templates + e.optionsRecords, 0), 0);
    if (templates !== lastTemplates || decoderState === undefined) {
      lastTemplates = templates;
      const snapshots = await Promise.all(lanes.map((lane) => request<DecoderSnapshot>(lane, 'snapshot')));
      decoderState = mergeSnapshots(snapshots.filter((snapshot): snapshot is DecoderSnapshot => snapshot !== undefined));
    }
    writeState(options.stateFile, { version: 1, decoder: decoderState, exporters: exporterRows() }, logger);
  };
  const exportersTimer = setInterval(() => {
    void saveExporters();
    void saveState().catch((err: unknown) => warn.warn('state', { err: describeError(err) }, 'could not save collector state'));
  }, EXPORTERS_SAVE_MS);
  let spoolDropped = 0;
  const spoolGauge = setInterval(() => {
    metrics.spoolBytes.set(spool.size.bytes);
    metrics.spoolBatches.set(spool.size.batches);
    if (spool.droppedRows > spoolDropped) metrics.flowsDropped.inc({ reason: 'spool_full' }, spool.droppedRows - spoolDropped);
    spoolDropped = spool.droppedRows;
  }, 1000);

  const flush = async (): Promise<void> => {
    sendChunks();
    await Promise.all(lanes.map((lane) => request(lane, 'flush')));
    await sink.idle();
  };

  let stopping: Promise<void> | undefined;
  return {
    endpoints,
    stats() {
      return {
        datagrams,
        refused,
        backlogDropped,
        flows,
        storedRows: sink.storedRows,
        rejectedRows,
        spool: { ...spool.size, droppedBatches: spool.droppedBatches, droppedRows: spool.droppedRows },
      };
    },
    exporters: exporterRows,
    flush,
    async ingest(batch: FlowBatch) {
      if (stopping !== undefined) throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', 'the collector is stopping');
      const bytes = encodeBatch(batch);
      if (spool.size.batches > 0 && spool.size.bytes + bytes.length > options.spoolMaxBytes / 2) {
        throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `the spool holds ${spool.size.bytes} bytes (limit ${options.spoolMaxBytes}); file ingest waits for the store`, { status: 503 });
      }
      flows += batch.length;
      await sink.pushFlowsAcknowledged(bytes, batch.length);
    },
    async drain(timeoutMs: number) {
      await flush();
      await sink.drained(timeoutMs);
    },
    stop() {
      stopping ??= (async () => {
        // Stop receiving first; what the kernel still holds for us is gone with the socket.
        await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
        sendChunks();
        clearInterval(exportersTimer);
        clearInterval(spoolGauge);
        for (const lane of lanes) lane.worker.postMessage({ type: 'stop' } satisfies ToWorker);
        const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), STOP_DEADLINE_MS).unref());
        const ended = await Promise.race([Promise.all(stopped), deadline]);
        if (ended === 'timeout') {
          logger.error('decoder threads did not stop in time; terminating them');
          await Promise.all(lanes.map((lane) => lane.worker.terminate()));
        } else {
          decoderState = mergeSnapshots(ended.filter((s): s is DecoderSnapshot => s !== undefined));
        }
        // Into the store if it answers — what waits in memory and what the spool holds — within
        // the drain budget; what is left stays in the spool for the next start.
        await sink.drained(DRAIN_DEADLINE_MS).catch((err: unknown) => logger.warn({ err: describeError(err) }, 'store did not take everything before shutdown; the rest stays in the spool'));
        await sink.close(CLOSE_DEADLINE_MS);
        if (decoderState !== undefined) writeState(options.stateFile, { version: 1, decoder: decoderState, exporters: exporterRows() }, logger);
        await Promise.race([saveExporters(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
        logger.info({ datagrams, flows, stored: sink.storedRows, spooled: spool.size.batches }, 'collector stopped');
      })();
      return stopping;
    },
  };

  function sendChunk(lane: Lane): void {
    if (lane.count === 0) return;
    const message: ToWorker = { type: 'datagrams', buffer: lane.buffer, length: lane.length, count: lane.count };
    lane.worker.postMessage(message, [lane.buffer]);
    lane.sent++;
    Object.assign(lane, newChunk());
    lane.length = 0;
    lane.count = 0;
  }
}

function newChunk(): { buffer: ArrayBuffer; bytes: Uint8Array; view: DataView } {
  const buffer = new ArrayBuffer(CHUNK_BYTES);
  return { buffer, bytes: new Uint8Array(buffer), view: new DataView(buffer) };
}

/** Replaces a thread's exporter snapshots, counting what grew since the last one into the metrics. */
function mergeStats(lane: Lane, exporters: ExporterCounters[], metrics: CollectorMetrics): void {
  for (const next of exporters) {
    const before = lane.exporters.get(next.key);
    const exporter = next.address;
    const grew = (now: number, then: number | undefined): number => Math.max(0, now - (then ?? 0));
    metrics.datagramsReceived.inc({ exporter }, grew(next.datagrams, before?.datagrams));
    metrics.flowsDecoded.inc({ exporter }, grew(next.flows, before?.flows));
    for (const reason of SKIP_REASONS) {
      const delta = grew(next.skipped[reason], before?.skipped[reason]);
      if (delta > 0) metrics.decodeSkipped.inc({ exporter, reason }, delta);
    }
    metrics.templates.set({ exporter }, next.templatesCached);
    lane.exporters.set(next.key, next);
  }
}

async function bind(text: string, receiveBufferBytes: number, onMessage: (message: Buffer, rinfo: { address: string }) => void, logger: Logger): Promise<{ socket: Socket; endpoint: Endpoint }> {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(colon + 1));
  const attempt = (address: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const ipv6 = address.includes(':');
      const socket = createSocket({ type: ipv6 ? 'udp6' : 'udp4', ipv6Only: false, recvBufferSize: receiveBufferBytes });
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
  let socket: Socket;
  try {
    socket = await attempt(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
      logger.warn({ endpoint: text }, 'IPv6 is not available here; listening on IPv4 only (0.0.0.0)');
      socket = await attempt('0.0.0.0').catch((again: unknown) => Promise.reject(bindError(text, again)));
    } else throw bindError(text, err);
  }
  socket.on('message', onMessage);
  socket.on('error', (err) => logger.error({ endpoint: text, err: describeError(err) }, 'UDP socket error'));
  let granted = 0;
  try {
    granted = socket.getRecvBufferSize();
  } catch {
    // Not all platforms report it.
  }
  const address = socket.address();
  return { socket, endpoint: { address: address.address, port: address.port, receiveBufferBytes: granted } };
}

function bindError(endpoint: string, err: unknown): FlowmapError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'EADDRINUSE' ? 'another process (another collector, nfcapd, …) already listens there'
    : code === 'EACCES' ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE'
    : code === 'EADDRNOTAVAIL' ? 'that address is not on any interface of this host'
    : describeError(err);
  return new FlowmapError('FLOWMAP_COLLECTOR_START', `cannot listen on UDP ${endpoint}: ${hint}`, { details: { endpoint, code }, cause: err });
}
