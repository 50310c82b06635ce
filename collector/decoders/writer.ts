// A growable flow batch for decoders: `row()` hands out the next row index with every column
// at its default (so a reused batch never leaks a previous flow's values), growing the columns by
// doubling when full. Invariant: every row at or past `length` holds defaults — new batches start
// that way and `unwind` restores it in bulk (typed-array fills) — so `row()` itself writes nothing
// but the length: clearing 26 columns per flow cost as much as decoding NetFlow v5. Decoders read `writer.columns` after each `row()` call, because
// growing replaces the arrays.
import { allocateColumn, FLOW_COLUMNS, type ColumnSpec, type FlowBatch, type FlowColumns } from '../../core/flow.js';

export class FlowWriter {
  private current: FlowBatch;

  constructor(initialCapacity = 1024) {
    this.current = emptyBatch(Math.max(1, initialCapacity));
  }

  get batch(): FlowBatch {
    return this.current;
  }

  get columns(): FlowColumns {
    return this.current.columns;
  }

  get length(): number {
    return this.current.length;
  }

  /** Index of a fresh row with default values (zeros, empty strings, sampling rate 1). */
  row(): number {
    if (this.current.length === this.current.capacity) this.grow();
    return this.current.length++;
  }

  /** Drops the last `count` rows (a record that turned out malformed after its row was taken). */
  unwind(count = 1): void {
    const end = this.current.length;
    const start = Math.max(0, end - count);
    resetRows(this.current.columns, start, end);
    this.current.length = start;
  }

  /**
   * Removes rows from `from` on whose byte or packet count is not an integer the flow record can
   * hold exactly (beyond 2^53: a corrupt or forged 64-bit counter, or one scaled by an absurd
   * sampling rate) and returns how many. Stores refuse a batch holding one, so it must not get
   * that far. The last row takes a removed row's place: order within a batch carries no meaning.
   */
  dropImpossibleCounts(from: number): number {
    let removed = 0;
    for (let i = from; i < this.current.length; ) {
      const c = this.current.columns;
      const bytes = c.bytes[i] as number;
      const packets = c.packets[i] as number;
      if (bytes <= Number.MAX_SAFE_INTEGER && packets <= Number.MAX_SAFE_INTEGER) {
        i++;
        continue;
      }
      const last = this.current.length - 1;
      if (i !== last) copyRow(c, last, i);
      this.unwind(1);
      removed++;
    }
    return removed;
  }

  /** Returns the filled batch and starts a new one of the same capacity. */
  take(): FlowBatch {
    const full = this.current;
    this.current = emptyBatch(full.capacity);
    return full;
  }

  private grow(): void {
    const old = this.current;
    const next = emptyBatch(old.capacity * 2);
    const from = old.columns as unknown as Record<string, { length: number } & ArrayLike<unknown>>;
    const to = next.columns as unknown as Record<string, unknown>;
    for (const spec of FLOW_COLUMNS as readonly ColumnSpec[]) {
      const source = from[spec.name];
      const target = to[spec.name];
      if (spec.kind === 'string') {
        const strings = target as string[];
        const previous = source as unknown as string[];
        for (let i = 0; i < old.length; i++) strings[i] = previous[i] ?? '';
      } else {
        (target as Uint8Array).set((source as Uint8Array).subarray(0, spec.kind === 'address' ? old.length * 16 : old.length));
      }
    }
    next.length = old.length;
    this.current = next;
  }
}

function emptyBatch(capacity: number): FlowBatch {
  const columns: Record<string, unknown> = {};
  for (const spec of FLOW_COLUMNS as readonly ColumnSpec[]) columns[spec.name] = allocateColumn(spec, capacity);
  const batch = { length: 0, capacity, columns: columns as FlowColumns };
  batch.columns.sampling_rate.fill(1);
  return batch;
}

/** Copies every column of row `from` over row `to`. */
function copyRow(c: FlowColumns, from: number, to: number): void {
  for (const spec of FLOW_COLUMNS as readonly ColumnSpec[]) {
    const column = (c as unknown as Record<string, Uint8Array | string[]>)[spec.name] as Uint8Array & string[];
    if (spec.kind === 'address') column.copyWithin(to * 16, from * 16, from * 16 + 16);
    else column[to] = column[from] as never;
  }
}

/** Puts rows [start, end) back to defaults: zeros, sampling rate 1, empty strings. */
function resetRows(c: FlowColumns, start: number, end: number): void {
  if (end <= start) return;
  for (const spec of FLOW_COLUMNS as readonly ColumnSpec[]) {
    const column = (c as unknown as Record<string, unknown>)[spec.name];
    if (spec.kind === 'string') {
      const strings = column as string[];
      for (let i = start; i < end; i++) if (strings[i] !== '') strings[i] = '';
    } else if (spec.kind === 'address') {
      (column as Uint8Array).fill(0, start * 16, end * 16);
    } else {
      (column as Uint32Array).fill(spec.name === 'sampling_rate' ? 1 : 0, start, end);
    }
  }
}
