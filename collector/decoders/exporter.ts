// Per-datagram exporter facts for the decoders, memoised per exporter: the cache key
// (state.ts exporterKey, hex), the address text (the key of configured sampling overrides) and
// the 16 bytes as four native-endian words, computed once per exporter rather than per datagram.
// And the bulk write of the exporter column for a run of rows, four word stores per row instead
// of sixteen byte stores.
import { formatAddress } from '../../core/ip.js';
import { exporterKey } from './state.js';

export interface ExporterNames {
  /** exporterKey(exporter): hex of the 16 bytes. */
  key: string;
  /** formatAddress(exporter). */
  text: string;
  /** key + ':v5', the NetFlow v5 sampling key (netflow5.ts). */
  keyV5: string;
  /** key + ':v9', the NetFlow v9 cache key (netflow9.ts). */
  keyV9: string;
  /** The 16 bytes as native-endian 32-bit words (for Uint32Array views of address columns). */
  words: Uint32Array;
  /** The 16 bytes (a copy). */
  bytes: Uint8Array;
}

/**
 * Names of recently seen exporters by a hash of their 16 bytes (confirmed byte for byte), so
 * datagrams interleaved from many exporters do not recompute them. Bounded: cleared when full.
 */
const MAX_EXPORTERS = 4096;
const known = new Map<number, ExporterNames>();
let last: ExporterNames | undefined;

function sameBytes(names: ExporterNames, exporter: Uint8Array): boolean {
  const bytes = names.bytes;
  for (let b = 0; b < 16; b++) if (exporter[b] !== bytes[b]) return false;
  return true;
}

/** The exporter's names (an object shared by every datagram of that exporter; do not modify). */
export function exporterNames(exporter: Uint8Array): ExporterNames {
  if (last !== undefined && sameBytes(last, exporter)) return last;
  let h = 0;
  for (let b = 0; b < 16; b++) h = Math.imul(h ^ (exporter[b] ?? 0), 0x01000193);
  let names = known.get(h);
  if (names === undefined || !sameBytes(names, exporter)) {
    // Computed first: exporterKey refuses an exporter shorter than 16 bytes.
    const key = exporterKey(exporter);
    const text = formatAddress(exporter);
    const bytes = new Uint8Array(16);
    for (let b = 0; b < 16; b++) bytes[b] = exporter[b] ?? 0;
    names = { key, text, keyV5: key + ':v5', keyV9: key + ':v9', words: new Uint32Array(bytes.buffer), bytes };
    if (known.size >= MAX_EXPORTERS) known.clear();
    known.set(h, names);
  }
  last = names;
  return names;
}

/**
 * A Uint32Array over a 16-byte-per-row address column, re-made only when the column changes
 * (the writer grew or a batch was taken). Undefined when the column is not 4-byte aligned (never
 * for FlowWriter columns; callers then write bytes).
 */
export class WordView {
  private of: Uint8Array | undefined;
  private view: Uint32Array | undefined;

  get(column: Uint8Array): Uint32Array | undefined {
    if (column !== this.of) {
      this.of = column;
      this.view = (column.byteOffset & 3) === 0 ? new Uint32Array(column.buffer, column.byteOffset, column.length >>> 2) : undefined;
    }
    return this.view;
  }
}

const exporterView = new WordView();

/** Writes the exporter (its `words`) into rows [first, first + count) of a 16-byte-per-row column. */
export function fillExporter(column: Uint8Array, first: number, count: number, words: Uint32Array): void {
  const view = exporterView.get(column);
  if (view === undefined) {
    const bytes = new Uint8Array(words.buffer, words.byteOffset, 16);
    for (let r = first; r < first + count; r++) column.set(bytes, r * 16);
    return;
  }
  const e0 = words[0] as number;
  const e1 = words[1] as number;
  const e2 = words[2] as number;
  const e3 = words[3] as number;
  for (let at = first * 4, end = (first + count) * 4; at < end; at += 4) {
    view[at] = e0;
    view[at + 1] = e1;
    view[at + 2] = e2;
    view[at + 3] = e3;
  }
}
