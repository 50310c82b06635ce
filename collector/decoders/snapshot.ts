// What a decoder state has learnt, as plain JSON, so a restarted collector decodes at once instead
// of dropping data sets (`no_template`) until every exporter's next template refresh — up to 30
// minutes on some routers (RFC 7011 §8.4 leaves the interval to the exporter).
//
// Templates are saved as their announcements (the template record bytes the cache keeps in
// `raw`) and restored by decoding a one-template datagram built around each: the decoder's own
// parsing and checks apply, and nothing depends on how a compiled template looks inside.
import { restoreSystemInit, systemInitEntries, CompiledTemplate } from './fields.js';
import { decodeDatagram } from './index.js';
import { DecodeCounters, type DecoderState } from './types.js';
import { FlowWriter } from './writer.js';

export interface DecoderSnapshot {
  version: 1;
  templates: SavedTemplate[];
  sampling: [key: string, domain: number, rate: number][];
  systemInit: [key: string, domain: number, ms: number][];
}

export interface SavedTemplate {
  /** Cache key: exporter address hex (32 digits), plus ':v9' for NetFlow v9. */
  key: string;
  domain: number;
  id: number;
  options: boolean;
  /** The template record as announced, base64. */
  raw: string;
}

/** The 16-byte exporter address a cache or sampling key starts with, or undefined when malformed. */
export function exporterOfKey(key: string): Uint8Array | undefined {
  const hex = key.slice(0, 32);
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Everything `state` has learnt whose exporter `keep` accepts (default: all). */
export function snapshotDecoderState(state: DecoderState, keep: (exporter: Uint8Array) => boolean = () => true): DecoderSnapshot {
  const kept = (key: string): boolean => {
    const exporter = exporterOfKey(key);
    return exporter !== undefined && keep(exporter);
  };
  const templates: SavedTemplate[] = [];
  for (const [key, domain, id, template] of state.templates.entries()) {
    if (!(template instanceof CompiledTemplate) || template.raw === undefined || !kept(key)) continue;
    templates.push({ key, domain, id, options: template.options, raw: Buffer.from(template.raw).toString('base64') });
  }
  return {
    version: 1,
    templates,
    sampling: [...state.sampling.entries()].filter(([key]) => kept(key)),
    systemInit: [...systemInitEntries(state)].filter(([key]) => kept(key)),
  };
}

export interface RestoreResult {
  templates: number;
  sampling: number;
  systemInit: number;
  /** Entries refused: malformed, or not accepted by the decoder (bad template, cache full). */
  refused: number;
}

/**
 * Loads a snapshot into `state` (entries whose exporter `keep` refuses are left out). Never throws
 * on a damaged snapshot: what cannot be used is counted in `refused`. The state's counters are not
 * touched — restoring is not traffic.
 */
export function restoreDecoderState(state: DecoderState, snapshot: unknown, keep: (exporter: Uint8Array) => boolean = () => true): RestoreResult {
  const result: RestoreResult = { templates: 0, sampling: 0, systemInit: 0, refused: 0 };
  if (typeof snapshot !== 'object' || snapshot === null || (snapshot as { version?: unknown }).version !== 1) return result;
  const { templates, sampling, systemInit } = snapshot as Partial<DecoderSnapshot>;
  const counters = state.counters;
  const scratch = new DecodeCounters();
  state.counters = scratch;
  const sink = new FlowWriter(1);
  try {
    for (const saved of Array.isArray(templates) ? templates : []) {
      const datagram = templateDatagram(saved);
      const exporter = datagram === undefined ? undefined : exporterOfKey(saved.key);
      if (datagram === undefined || exporter === undefined) {
        result.refused++;
        continue;
      }
      if (!keep(exporter)) continue;
      const before = scratch.templates;
      decodeDatagram({ bytes: datagram, exporter, receivedAt: 0 }, state, sink);
      if (scratch.templates > before) result.templates++;
      else result.refused++;
    }
  } finally {
    state.counters = counters;
  }
  for (const entry of Array.isArray(sampling) ? sampling : []) {
    const [key, domain, rate] = Array.isArray(entry) ? entry : [];
    const exporter = typeof key === 'string' ? exporterOfKey(key) : undefined;
    if (exporter === undefined || typeof domain !== 'number' || typeof rate !== 'number') result.refused++;
    else if (keep(exporter)) {
      state.sampling.learn(key as string, domain, rate);
      result.sampling++;
    }
  }
  for (const entry of Array.isArray(systemInit) ? systemInit : []) {
    const [key, domain, ms] = Array.isArray(entry) ? entry : [];
    const exporter = typeof key === 'string' ? exporterOfKey(key) : undefined;
    if (exporter === undefined || typeof domain !== 'number' || typeof ms !== 'number' || !Number.isFinite(ms)) result.refused++;
    else if (keep(exporter)) {
      restoreSystemInit(state, key as string, domain, ms);
      result.systemInit++;
    }
  }
  return result;
}

/**
 * A datagram announcing one saved template: NetFlow v9 (RFC 3954 §5.1 header, flowset 0 or 1) or
 * IPFIX (RFC 7011 §3.1 header, set 2 or 3), padded to 4 bytes as both allow.
 */
function templateDatagram(saved: SavedTemplate): Uint8Array | undefined {
  if (typeof saved !== 'object' || saved === null || typeof saved.key !== 'string' || typeof saved.raw !== 'string') return undefined;
  if (!Number.isInteger(saved.domain) || saved.domain < 0 || saved.domain > 0xffffffff || !Number.isInteger(saved.id) || saved.id < 256 || saved.id > 0xffff) return undefined;
  const raw = Buffer.from(saved.raw, 'base64');
  const v9 = saved.key.endsWith(':v9');
  if (raw.length < 4 || raw.readUInt16BE(0) !== saved.id || (!v9 && saved.key.length !== 32)) return undefined;
  const headerLength = v9 ? 20 : 16;
  const setLength = 4 + raw.length + ((4 - (raw.length % 4)) % 4);
  if (headerLength + setLength > 0xffff) return undefined;
  const bytes = Buffer.alloc(headerLength + setLength);
  if (v9) {
    bytes.writeUInt16BE(9, 0);
    bytes.writeUInt16BE(1, 2);
    bytes.writeUInt32BE(saved.domain, 16);
    bytes.writeUInt16BE(saved.options ? 1 : 0, 20);
  } else {
    bytes.writeUInt16BE(10, 0);
    bytes.writeUInt16BE(bytes.length, 2);
    bytes.writeUInt32BE(saved.domain, 12);
    bytes.writeUInt16BE(saved.options ? 3 : 2, 16);
  }
  bytes.writeUInt16BE(setLength, headerLength + 2);
  raw.copy(bytes, headerLength + 4);
  return bytes;
}
