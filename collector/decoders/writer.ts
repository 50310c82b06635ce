// A growable flow batch for decoders: `row()` hands out the next row index with every column
// reset to its default (so a reused batch never leaks a previous flow's values), growing the
// columns by doubling when full. Decoders read `writer.columns` after each `row()` call, because
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
    const batch = this.current;
    if (batch.length === batch.capacity) this.grow();
    const i = this.current.length;
    clearRow(this.current.columns, i);
    this.current.length = i + 1;
    return i;
  }

  /** Drops the last `count` rows (a record that turned out malformed after its row was taken). */
  unwind(count = 1): void {
    this.current.length = Math.max(0, this.current.length - count);
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
  return { length: 0, capacity, columns: columns as FlowColumns };
}

function clearRow(c: FlowColumns, i: number): void {
  c.time_received[i] = 0;
  c.time_start[i] = 0;
  c.time_end[i] = 0;
  c.source[i] = 0;
  c.exporter.fill(0, i * 16, i * 16 + 16);
  c.observation_domain[i] = 0;
  c.src_addr.fill(0, i * 16, i * 16 + 16);
  c.dst_addr.fill(0, i * 16, i * 16 + 16);
  c.src_port[i] = 0;
  c.dst_port[i] = 0;
  c.proto[i] = 0;
  c.tcp_flags[i] = 0;
  c.bytes[i] = 0;
  c.packets[i] = 0;
  c.sampling_rate[i] = 1;
  c.in_if[i] = 0;
  c.out_if[i] = 0;
  c.vlan[i] = 0;
  c.action[i] = 0;
  c.cloud_account[i] = '';
  c.cloud_region[i] = '';
  c.cloud_vpc[i] = '';
  c.cloud_subnet[i] = '';
  c.cloud_instance[i] = '';
  c.cloud_interface[i] = '';
  c.server_side[i] = 0;
}
