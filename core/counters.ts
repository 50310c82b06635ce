// Interface counters: what sFlow counter samples report per interface (generic interface counters,
// sFlow v5 spec, counters_sample format 1). Kept apart from flows, in a small table of their own;
// defined here, in core/, because the decoders produce them and the stores keep them.

export interface InterfaceCounters {
  /** The exporter's address, 16 bytes (IPv4-mapped). */
  exporter: Uint8Array;
  /** sFlow sub-agent id. */
  observationDomain: number;
  /** Unix seconds the sample was received. */
  time: number;
  ifIndex: number;
  ifSpeed: number;
  inOctets: number;
  inPackets: number;
  inErrors: number;
  inDiscards: number;
  outOctets: number;
  outPackets: number;
  outErrors: number;
  outDiscards: number;
}

/** The numeric fields in table column order, with their column names. */
export const COUNTER_COLUMNS = [
  ['ifIndex', 'if_index'],
  ['ifSpeed', 'if_speed'],
  ['inOctets', 'in_octets'],
  ['inPackets', 'in_packets'],
  ['inErrors', 'in_errors'],
  ['inDiscards', 'in_discards'],
  ['outOctets', 'out_octets'],
  ['outPackets', 'out_packets'],
  ['outErrors', 'out_errors'],
  ['outDiscards', 'out_discards'],
] as const satisfies readonly (readonly [keyof InterfaceCounters, string])[];
