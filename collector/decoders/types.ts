// The decoder contract shared by NetFlow v5, NetFlow v9, IPFIX and sFlow v5 (GoFlow2's layering:
// a decoder knows the wire format and nothing about sockets, batching or storage).
//
// A decoder is a plain function: (datagram, exporter, receive time) + per-collector state →
// rows appended to a FlowWriter, with every skipped part counted by reason. It never throws on
// bad input and never allocates an object per flow: it writes numbers into the writer's typed
// columns at the row index the writer hands out.
import type { FlowWriter } from './writer.js';
import type { SamplingRates } from './sampling.js';
import type { TemplateCache } from './templates.js';

/** Why part of a datagram was not turned into flows. Stable names: they label metrics. */
export const SKIP_REASONS = [
  /** Shorter than its header or than a length/count field claims. */
  'truncated',
  /** Version field is not the decoder's (or not a flow protocol at all). */
  'bad_version',
  /** A length or count field contradicts the datagram (set length 0, length beyond the end, …). */
  'bad_length',
  /** Data records whose template was not announced (yet) by this exporter/domain. */
  'no_template',
  /** A template that cannot be used (zero fields, field length 0 where not allowed, record longer than 65535, …). */
  'bad_template',
  /** A template refused because the exporter already has the maximum number of templates. */
  'template_limit',
  /** A template refused because the cache already tracks the maximum number of exporters. */
  'exporter_limit',
  /** A well-formed part flowmap does not decode (unknown sample type, header protocol, …). */
  'unsupported',
  /** Records with a value no flow can have: a byte or packet count (after sampling) beyond 2^53. */
  'bad_value',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Counters one collector keeps per exporter (the caller decides the granularity). */
export class DecodeCounters {
  datagrams = 0;
  /** Flow rows written. */
  flows = 0;
  /** Templates and options templates learnt (including refreshes). */
  templates = 0;
  /** Options data records read (sampling, interface tables, …): not flows. */
  optionsRecords = 0;
  /** sFlow counter samples read (interface counters): not flows. */
  counterSamples = 0;
  /** Flows written with sampling rate 1 because the exporter never announced one (DESIGN: never dropped). */
  samplingUnknown = 0;
  readonly skipped: Record<SkipReason, number> = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;

  skip(reason: SkipReason, count = 1): void {
    this.skipped[reason] += count;
  }
}

/** sFlow counter samples (generic interface counters), kept apart from flows: core/counters.ts. */
export type { InterfaceCounters } from '../../core/counters.js';
import type { InterfaceCounters } from '../../core/counters.js';

/** What a decoder needs besides the datagram; one per collector process (or per test). */
export interface DecoderState {
  templates: TemplateCache;
  sampling: SamplingRates;
  counters: DecodeCounters;
  /** sFlow counter samples are appended here; the caller drains it. */
  interfaceCounters: InterfaceCounters[];
}

export interface Datagram {
  /** The UDP payload. */
  bytes: Uint8Array;
  /** The exporter's address, 16 bytes (IPv4-mapped for IPv4): the UDP source, not a field inside. */
  exporter: Uint8Array;
  /** Unix seconds when the collector received it. */
  receivedAt: number;
}

/** Decodes one datagram, appending rows to `out`. Never throws on malformed input. */
export type Decoder = (datagram: Datagram, state: DecoderState, out: FlowWriter) => void;
