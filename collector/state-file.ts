// What a collector keeps on local disk across restarts (`<data>/decoder-state-<id>.json`): learnt
// decoder state (templates, sampling rates) and its exporter counters, written atomically (temp
// file + rename), and the exporter counters it continues from at start.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ExporterStatus, Store } from '../store/port.js';
import type { DecoderSnapshot } from './decoders/snapshot.js';

/** What a collector keeps on local disk across restarts: learnt decoder state and its exporter counters. */
export interface CollectorState {
  version: 1;
  decoder: DecoderSnapshot;
  exporters: ExporterStatus[];
}

export function readState(file: string, logger: Logger): Partial<CollectorState> | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || (parsed as { version?: unknown }).version !== 1) {
      logger.warn({ file }, 'saved collector state has an unknown format; starting without it');
      return undefined;
    }
    const state = parsed as Partial<CollectorState>;
    return { decoder: state.decoder, exporters: Array.isArray(state.exporters) ? state.exporters : [] };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ file, err: describeError(err) }, 'saved decoder state unreadable; starting without it');
    return undefined;
  }
}

export function writeState(file: string, snapshot: CollectorState, logger: Logger): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const temp = join(dirname(file), `.${process.pid}.decoder-state.tmp`);
    writeFileSync(temp, JSON.stringify(snapshot));
    renameSync(temp, file);
  } catch (err) {
    logger.warn({ file, err: describeError(err) }, 'could not save decoder state');
  }
}

export function mergeSnapshots(snapshots: DecoderSnapshot[]): DecoderSnapshot {
  return {
    version: 1,
    templates: snapshots.flatMap((s) => s.templates),
    sampling: snapshots.flatMap((s) => s.sampling),
    systemInit: snapshots.flatMap((s) => s.systemInit),
  };
}

/**
 * Counters this collector reported before its restart: from the store or the local state file,
 * whichever is newer per exporter (the store may have been down when the collector stopped).
 */
export async function loadExporters(store: Store, collector: string, local: readonly ExporterStatus[], logger: Logger): Promise<Map<string, ExporterStatus>> {
  const previous = new Map<string, ExporterStatus>();
  const consider = (row: ExporterStatus): void => {
    if (row.collector !== collector || typeof row.exporter !== 'string') return;
    const known = previous.get(row.exporter);
    if (known === undefined || row.updatedAt > known.updatedAt) previous.set(row.exporter, row);
  };
  local.forEach(consider);
  try {
    // Bounded: a hung store must not hold up receiving (the local copy is enough to go on).
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref());
    (await Promise.race([store.listExporters(), timeout])).forEach(consider);
  } catch (err) {
    logger.warn({ err: describeError(err) }, 'could not read exporter status from the store; continuing from the local copy');
  }
  return previous;
}
