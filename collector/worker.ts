// A decoder thread: datagrams in (chunks from the receive loop), encoded flow batches out. It owns
// the decoder state of the exporters that hash to it, so each exporter's templates live in one
// place, and it batches by size and age so the receive loop never waits on decoding or inserting.
import { parentPort, workerData } from 'node:worker_threads';
import { COUNTER_COLUMNS } from '../core/counters.js';
import { encodeBatch } from './batch-codec.js';
import { exporterNames } from './decoders/exporter.js';
import { createDecoderState, decodeDatagram, DecodeCounters, FlowWriter } from './decoders/index.js';
import { restoreDecoderState, snapshotDecoderState } from './decoders/snapshot.js';
import { orientBatch } from './orientation.js';
import { createServicePorts } from './service-ports.js';
import { exporterThread, OVERFLOW_KEY, RECORD_HEADER, type ExporterCounters, type FromWorker, type ToWorker, type WorkerSettings } from './protocol.js';

/** Exporters with counters of their own; beyond this (a spoofing flood) they share one entry. */
const MAX_EXPORTERS = 10_000;
const STATS_INTERVAL_MS = 1000;

interface Exporter {
  key: string;
  address: string;
  counters: DecodeCounters;
  firstSeen: number;
  lastSeen: number;
}

const port = parentPort;
if (port === null) throw new Error('collector/worker.ts runs as a worker thread');
const settings = workerData as WorkerSettings & { done: Int32Array };
const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const state = createDecoderState({ sampling: { defaultRate: settings.samplingRate } });
const mine = (exporter: Uint8Array): boolean => exporterThread(exporter, 0, settings.count) === settings.index;
const restored = restoreDecoderState(state, settings.snapshot, mine);
const servicePorts = createServicePorts({ extra: settings.servicePorts });

const exporters = new Map<string, Exporter>();
const overflow: Exporter = { key: OVERFLOW_KEY, address: OVERFLOW_KEY, counters: new DecodeCounters(), firstSeen: 0, lastSeen: 0 };
let writer = new FlowWriter(settings.batchRows);
let batchStartedAt = 0;
let chunks = 0;
let datagrams = 0;

function exporterFor(bytes: Uint8Array, now: number): Exporter {
  const names = exporterNames(bytes);
  let exporter = exporters.get(names.key);
  if (exporter === undefined) {
    if (exporters.size >= MAX_EXPORTERS) return overflow;
    exporter = { key: names.key, address: names.text, counters: new DecodeCounters(), firstSeen: now, lastSeen: now };
    exporters.set(names.key, exporter);
  }
  return exporter;
}

function decodeChunk(buffer: ArrayBuffer, length: number): void {
  const view = new DataView(buffer, 0, length);
  const bytes = new Uint8Array(buffer, 0, length);
  let offset = 0;
  while (offset + RECORD_HEADER <= length) {
    const size = view.getUint32(offset);
    const receivedAt = view.getUint32(offset + 4);
    const exporterBytes = bytes.subarray(offset + 8, offset + 24);
    const payload = bytes.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + size);
    offset += RECORD_HEADER + size;
    const exporter = exporterFor(exporterBytes, receivedAt);
    exporter.lastSeen = receivedAt;
    state.counters = exporter.counters;
    const before = writer.length;
    decodeDatagram({ bytes: payload, exporter: exporterBytes, receivedAt }, state, writer);
    if (writer.length > before) {
      const impossible = writer.dropImpossibleCounts(before);
      if (impossible > 0) {
        state.counters.flows -= impossible;
        state.counters.skip('bad_value', impossible);
      }
      orientBatch(writer.batch, servicePorts, before, writer.length);
      if (settings.timestamps === 'flow-end') useFlowEnd(before, writer.length, receivedAt);
    }
    datagrams++;
  }
  chunks++;
  if (writer.length > 0 && batchStartedAt === 0) batchStartedAt = Date.now();
  if (writer.length >= settings.batchRows) flush();
  if (state.interfaceCounters.length > 0) {
    const rows = state.interfaceCounters.map((c) => ({
      exporter: Buffer.from(c.exporter).toString('hex'),
      observationDomain: c.observationDomain,
      time: c.time,
      values: COUNTER_COLUMNS.map(([field]) => c[field]),
    }));
    state.interfaceCounters.length = 0;
    post({ type: 'counters', rows });
  }
}

/** A flow's end time may run ahead of the collector's clock by this much; later ones keep their arrival time. */
const FLOW_END_SKEW_S = 60;

/**
 * `collector.timestamps: flow-end`: rows [from, to) are stored under their end time as the
 * exporter reported it — what a replayed capture or the demo's 28 days need (Akvorado's
 * timestamp-source). Sources without flow times (sFlow) already end at arrival.
 */
function useFlowEnd(from: number, to: number, receivedAt: number): void {
  const received = writer.batch.columns.time_received;
  const end = writer.batch.columns.time_end;
  for (let i = from; i < to; i++) {
    const t = end[i] ?? 0;
    if (t > 0 && t <= receivedAt + FLOW_END_SKEW_S) received[i] = t;
  }
}

function flush(): void {
  batchStartedAt = 0;
  if (writer.length === 0) return;
  const rows = writer.length;
  const bytes = encodeBatch(writer.batch, 0, rows);
  // The next batch starts empty at the configured size (a flood may have grown this one).
  writer = new FlowWriter(settings.batchRows);
  post({ type: 'batch', bytes, rows }, [bytes.buffer as ArrayBuffer]);
}

/** Sampling rates learnt, by exporter key (the 32 hex digits every sampling key starts with). */
function ratesByExporter(): Map<string, Set<number>> {
  const byExporter = new Map<string, Set<number>>();
  for (const [key, , rate] of state.sampling.entries()) {
    const exporter = key.slice(0, 32);
    let rates = byExporter.get(exporter);
    if (rates === undefined) byExporter.set(exporter, (rates = new Set()));
    rates.add(rate);
  }
  return byExporter;
}

function exporterCounters(exporter: Exporter, rateSets: Map<string, Set<number>>): ExporterCounters {
  const c = exporter.counters;
  const rates = rateSets.get(exporter.key) ?? new Set<number>();
  return {
    key: exporter.key,
    address: exporter.address,
    firstSeen: exporter.firstSeen,
    lastSeen: exporter.lastSeen,
    datagrams: c.datagrams,
    flows: c.flows,
    templates: c.templates,
    templatesCached: state.templates.templateCount(exporter.key) + state.templates.templateCount(`${exporter.key}:v9`),
    optionsRecords: c.optionsRecords,
    counterSamples: c.counterSamples,
    samplingUnknown: c.samplingUnknown,
    samplingRates: [...rates].sort((a, b) => a - b),
    skipped: { ...c.skipped },
  };
}

let statsDirty = true;
function postStats(): void {
  if (!statsDirty) return;
  statsDirty = false;
  const rates = ratesByExporter();
  const list = [...exporters.values()].map((e) => exporterCounters(e, rates));
  if (overflow.counters.datagrams > 0) list.push(exporterCounters(overflow, rates));
  post({ type: 'stats', exporters: list, chunks, datagrams });
}

const timer = setInterval(
  () => {
    if (batchStartedAt !== 0 && Date.now() - batchStartedAt >= settings.flushIntervalMs) flush();
  },
  Math.max(5, Math.floor(settings.flushIntervalMs / 4)),
);
const statsTimer = setInterval(postStats, STATS_INTERVAL_MS);

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'datagrams':
      try {
        decodeChunk(message.buffer, message.length);
      } catch (err) {
        // Decoders never throw on input; this is a bug. Count it and keep the thread alive.
        overflow.counters.skip('unsupported');
        process.emitWarning(`decoder thread ${settings.index}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      // The receive loop reads this to bound how far behind a thread may fall.
      Atomics.add(settings.done, 0, 1);
      statsDirty = true;
      break;
    case 'flush':
      flush();
      statsDirty = true;
      postStats();
      post({ type: 'flushed', id: message.id });
      break;
    case 'snapshot':
      post({ type: 'snapshot', id: message.id, snapshot: snapshotDecoderState(state) });
      break;
    case 'stop':
      clearInterval(timer);
      clearInterval(statsTimer);
      flush();
      statsDirty = true;
      postStats();
      post({ type: 'stopped', snapshot: snapshotDecoderState(state) });
      port.close();
      break;
  }
});

post({ type: 'ready', restored });
