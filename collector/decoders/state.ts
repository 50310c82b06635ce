// Builds the state decoders share, with its bounds.
import { DecodeCounters, type DecoderState } from './types.js';
import { SamplingRates, type SamplingConfig } from './sampling.js';
import { TemplateCache, type TemplateCacheLimits } from './templates.js';

export function createDecoderState(options: { templates?: Partial<TemplateCacheLimits>; sampling?: SamplingConfig } = {}): DecoderState {
  return {
    templates: new TemplateCache(options.templates),
    sampling: new SamplingRates(options.sampling),
    counters: new DecodeCounters(),
    interfaceCounters: [],
  };
}

/** Hex of a 16-byte exporter address: the cache key part that names the exporter. */
export function exporterKey(exporter: Uint8Array): string {
  return Buffer.from(exporter.buffer, exporter.byteOffset, 16).toString('hex');
}
