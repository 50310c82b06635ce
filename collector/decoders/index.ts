// The decoders' entry module: `decodeDatagram` sniffs which flow protocol a UDP payload carries
// from its first bytes and hands it to that protocol's decoder, so a listener (or `flowmap
// decode`) needs no per-port protocol configuration. Also the default UDP ports.
//
// Sniffing (every format starts with its version number):
//   uint16 at 0 = 5  → NetFlow v5 (Cisco export format)      uint16 at 0 = 9  → NetFlow v9 (RFC 3954 §5.1)
//   uint16 at 0 = 10 → IPFIX (RFC 7011 §3.1)                 uint32 at 0 = 5  → sFlow v5 (sFlow v5 spec, datagram version)
// The sFlow test cannot collide with NetFlow: its first uint16 is 0, no NetFlow/IPFIX version.
//
// Counting: each protocol decoder counts the datagrams it is given; this module counts only the
// ones it keeps for itself (unknown version, too short to tell), so `datagrams` is never doubled.
import { decodeIpfix } from './ipfix.js';
import { decodeNetflow5 } from './netflow5.js';
import { decodeNetflow9 } from './netflow9.js';
import { decodeSflow } from './sflow.js';
import type { Decoder } from './types.js';

export type { Decoder, Datagram, DecoderState, SkipReason } from './types.js';
export { SKIP_REASONS, DecodeCounters } from './types.js';
export { createDecoderState, exporterKey } from './state.js';
export { FlowWriter } from './writer.js';
export { decodeNetflow5, decodeNetflow9, decodeIpfix, decodeSflow };

/** UDP ports flow exporters send to by convention; `flowmap decode` reads these unless told otherwise. */
export const DEFAULT_PORTS: Readonly<Record<'netflow' | 'ipfix' | 'sflow', readonly number[]>> = {
  netflow: [2055, 9995, 9996],
  ipfix: [4739],
  sflow: [6343],
};

export const decodeDatagram: Decoder = (datagram, state, out) => {
  const bytes = datagram.bytes;
  if (bytes.length < 2) {
    state.counters.datagrams++;
    state.counters.skip('truncated');
    return;
  }
  const version = (bytes[0]! << 8) | bytes[1]!;
  switch (version) {
    case 5:
      decodeNetflow5(datagram, state, out);
      return;
    case 9:
      decodeNetflow9(datagram, state, out);
      return;
    case 10:
      decodeIpfix(datagram, state, out);
      return;
    case 0:
      // sFlow: a 32-bit version 5. Shorter than 4 bytes cannot be told apart; the sFlow decoder
      // counts those as truncated.
      if (bytes.length < 4 || ((bytes[2]! << 8) | bytes[3]!) === 5) {
        decodeSflow(datagram, state, out);
        return;
      }
      break;
  }
  state.counters.datagrams++;
  state.counters.skip('bad_version');
};
