// Field definitions shared by the NetFlow v9 and IPFIX decoders: which field type / information
// element fills which flow column, how a template is compiled once into a flat plan, and the data
// record loop that runs that plan. The two protocols differ in headers, set framing and template
// syntax (netflow9.ts, ipfix.ts); a data record is the same thing in both — a run of fields laid
// out by a template — so it is decoded here, once.
//
// Speed: a fixed-length data template is further compiled into a generated reader (see
// "Generated readers" below) that decodes a whole data set in straight-line code; the plan loop
// (readRecord + writeFlow) is the reference semantics and serves variable-length and options
// templates. A re-announced template whose bytes did not change keeps its compiled form
// (repeatedTemplate).
//
// NetFlow v9 field types 1-127 are the IPFIX information elements of the same number (RFC 7012
// §4 took them over), so one table serves both. Mapping decisions:
// - bytes: octetDeltaCount (1), else octetTotalCount (85), else initiatorOctets (231) +
//   responderOctets (232), else postOctetDeltaCount / v9 OUT_BYTES (23). Cisco ASA NSEL reports a
//   bidirectional connection as initiator and responder octets and no IN_BYTES; the flow record
//   has one bytes column, so it carries the conversation total (both directions), the way the
//   ASA's own "bytes" counter in syslog does.
// - packets: packetDeltaCount (2), else packetTotalCount (86), else initiatorPackets (298) +
//   responderPackets (299), else postPacketDeltaCount / OUT_PKTS (24).
// - addresses: sourceIPv4Address (8) / destinationIPv4Address (12) and the IPv6 pair (27/28); a
//   record carrying both families uses IPv6 unless it is all zeros. Post-NAT addresses and ports
//   (225-228, 281/282) are ignored: the flow record keeps the addresses as the exporter saw them.
// - ports: 7/11, else udp (180/181) or tcp (182/183) ports. tcp_flags: low 8 bits of 6.
// - interfaces: ingressInterface (10) / egressInterface (14), else the physical ones (252/253).
// - vlan: vlanId (58) when non-zero, else dot1qVlanId (243). postVlanId (59) is ignored.
// - times: absolute IEs 150-157 (seconds, milliseconds, NTP micro/nanoseconds, RFC 7011 §6.1.7-10),
//   else flowStart/EndDeltaMicroseconds (158/159, before the export time), else the uptime fields
//   22/21 made absolute with the v9 header (sysUptime + unix seconds) or, in IPFIX, with
//   systemInitTimeMilliseconds (160) from the record or an earlier options record.
// - sampling: samplingInterval (34), samplerRandomInterval (50), samplingPacketInterval /
//   samplingPacketSpace (305/306: rate = (interval + space) / interval), samplingSize /
//   samplingPopulation (309/310: rate = population / size), samplingProbability (311: 1 / p).
//   Read from options records (learnt per exporter and domain, and per sampler id 48/302 when the
//   record names one) and from data records (that record's rate).
import type { FlowColumns } from '../../core/flow.js';
import { fillExporter, WordView } from './exporter.js';
import type { DecoderState } from './types.js';
import type { FlowWriter } from './writer.js';

// Slots: where a field's value goes while a record is read. 0 = skip the field.
export const SLOT = {
  SKIP: 0,
  SRC_V4: 1,
  DST_V4: 2,
  SRC_V6: 3,
  DST_V6: 4,
  SRC_PORT: 5,
  DST_PORT: 6,
  SRC_PORT_ALT: 7,
  DST_PORT_ALT: 8,
  PROTO: 9,
  TCP_FLAGS: 10,
  BYTES: 11,
  PACKETS: 12,
  BYTES_TOTAL: 13,
  PACKETS_TOTAL: 14,
  INITIATOR_BYTES: 15,
  RESPONDER_BYTES: 16,
  INITIATOR_PACKETS: 17,
  RESPONDER_PACKETS: 18,
  OUT_BYTES: 19,
  OUT_PACKETS: 20,
  IN_IF: 21,
  OUT_IF: 22,
  IN_PHYSICAL_IF: 23,
  OUT_PHYSICAL_IF: 24,
  VLAN: 25,
  DOT1Q_VLAN: 26,
  UPTIME_START: 27,
  UPTIME_END: 28,
  START_SECONDS: 29,
  END_SECONDS: 30,
  START_MILLISECONDS: 31,
  END_MILLISECONDS: 32,
  START_NTP: 33,
  END_NTP: 34,
  START_DELTA_MICROSECONDS: 35,
  END_DELTA_MICROSECONDS: 36,
  SYSTEM_INIT_MILLISECONDS: 37,
  SAMPLING_INTERVAL: 38,
  SAMPLER_RANDOM_INTERVAL: 39,
  SAMPLING_PACKET_INTERVAL: 40,
  SAMPLING_PACKET_SPACE: 41,
  SAMPLING_SIZE: 42,
  SAMPLING_POPULATION: 43,
  SAMPLING_PROBABILITY: 44,
  SAMPLER_ID: 45,
} as const;
const SLOT_COUNT = 46;

/** How a slot's bytes are read; decides which field lengths compile. */
const KIND_UINT = 0; // big-endian unsigned, 1-8 bytes (RFC 7011 §6.2 reduced-size encoding)
const KIND_V4 = 1; // exactly 4 bytes; the slot keeps the field's offset
const KIND_V6 = 2; // exactly 16 bytes; the slot keeps the field's offset
const KIND_NTP = 3; // dateTimeMicroseconds/Nanoseconds: 8 bytes NTP (RFC 7011 §6.1.9-10)
const KIND_FLOAT = 4; // float32 or float64 (RFC 7011 §6.1.3)

/** Field type / IE number → [slot, kind]. Only IANA (non-enterprise) elements are mapped. */
const FIELD_SLOTS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [8, [SLOT.SRC_V4, KIND_V4]],
  [12, [SLOT.DST_V4, KIND_V4]],
  [27, [SLOT.SRC_V6, KIND_V6]],
  [28, [SLOT.DST_V6, KIND_V6]],
  [7, [SLOT.SRC_PORT, KIND_UINT]],
  [11, [SLOT.DST_PORT, KIND_UINT]],
  [180, [SLOT.SRC_PORT_ALT, KIND_UINT]],
  [181, [SLOT.DST_PORT_ALT, KIND_UINT]],
  [182, [SLOT.SRC_PORT_ALT, KIND_UINT]],
  [183, [SLOT.DST_PORT_ALT, KIND_UINT]],
  [4, [SLOT.PROTO, KIND_UINT]],
  [6, [SLOT.TCP_FLAGS, KIND_UINT]],
  [1, [SLOT.BYTES, KIND_UINT]],
  [2, [SLOT.PACKETS, KIND_UINT]],
  [85, [SLOT.BYTES_TOTAL, KIND_UINT]],
  [86, [SLOT.PACKETS_TOTAL, KIND_UINT]],
  [231, [SLOT.INITIATOR_BYTES, KIND_UINT]],
  [232, [SLOT.RESPONDER_BYTES, KIND_UINT]],
  [298, [SLOT.INITIATOR_PACKETS, KIND_UINT]],
  [299, [SLOT.RESPONDER_PACKETS, KIND_UINT]],
  [23, [SLOT.OUT_BYTES, KIND_UINT]],
  [24, [SLOT.OUT_PACKETS, KIND_UINT]],
  [10, [SLOT.IN_IF, KIND_UINT]],
  [14, [SLOT.OUT_IF, KIND_UINT]],
  [252, [SLOT.IN_PHYSICAL_IF, KIND_UINT]],
  [253, [SLOT.OUT_PHYSICAL_IF, KIND_UINT]],
  [58, [SLOT.VLAN, KIND_UINT]],
  [243, [SLOT.DOT1Q_VLAN, KIND_UINT]],
  [22, [SLOT.UPTIME_START, KIND_UINT]],
  [21, [SLOT.UPTIME_END, KIND_UINT]],
  [150, [SLOT.START_SECONDS, KIND_UINT]],
  [151, [SLOT.END_SECONDS, KIND_UINT]],
  [152, [SLOT.START_MILLISECONDS, KIND_UINT]],
  [153, [SLOT.END_MILLISECONDS, KIND_UINT]],
  [154, [SLOT.START_NTP, KIND_NTP]],
  [155, [SLOT.END_NTP, KIND_NTP]],
  [156, [SLOT.START_NTP, KIND_NTP]],
  [157, [SLOT.END_NTP, KIND_NTP]],
  [158, [SLOT.START_DELTA_MICROSECONDS, KIND_UINT]],
  [159, [SLOT.END_DELTA_MICROSECONDS, KIND_UINT]],
  [160, [SLOT.SYSTEM_INIT_MILLISECONDS, KIND_UINT]],
  [34, [SLOT.SAMPLING_INTERVAL, KIND_UINT]],
  [50, [SLOT.SAMPLER_RANDOM_INTERVAL, KIND_UINT]],
  [305, [SLOT.SAMPLING_PACKET_INTERVAL, KIND_UINT]],
  [306, [SLOT.SAMPLING_PACKET_SPACE, KIND_UINT]],
  [309, [SLOT.SAMPLING_SIZE, KIND_UINT]],
  [310, [SLOT.SAMPLING_POPULATION, KIND_UINT]],
  [311, [SLOT.SAMPLING_PROBABILITY, KIND_FLOAT]],
  [48, [SLOT.SAMPLER_ID, KIND_UINT]],
  [302, [SLOT.SAMPLER_ID, KIND_UINT]],
]);

/** Field length meaning "variable length" in an IPFIX template (RFC 7011 §7). */
export const VARIABLE_LENGTH = 0xffff;
/** A record may not be longer than a set can be. */
const MAX_RECORD_LENGTH = 0xffff;
/** The plan entry length marking a variable-length field. */
const PLAN_VARLEN = -1;
const PLAN_NTP = 0x10000; // added to the slot: read 8 bytes as NTP seconds
const PLAN_FLOAT = 0x20000; // added to the slot: read an IEEE float

/**
 * A template compiled once (per announcement) for the record loop: `plan` holds
 * [slot (+kind flag), length] pairs in field order, length -1 for variable-length fields.
 */
export class CompiledTemplate {
  constructor(
    readonly plan: Int32Array,
    /** Smallest possible record: fixed fields plus one length byte per variable-length field. */
    readonly minLength: number,
    readonly variableLength: boolean,
    /** Options template: its records describe the exporter (sampling, …), they are not flows. */
    readonly options: boolean,
    readonly fieldCount: number,
  ) {}

  /** The announcement this was compiled from (template record header and field specifiers), once cached. */
  raw: Uint8Array | undefined = undefined;
  /** The generated reader (fixed-length data templates), null when it cannot have one, undefined before the first data set. */
  reader: FixedReader | null | undefined = undefined;
}

// Builder scratch: one template at a time; 65535 fields of 2 entries at most.
const building = new Int32Array(2 * 0x10000);
let buildingFields = 0;
let buildingFixed = 0;
let buildingVarlen = 0;

export function beginTemplate(): void {
  buildingFields = 0;
  buildingFixed = 0;
  buildingVarlen = 0;
}

/**
 * Adds a field. `enterprise` elements (RFC 7011 §3.2, PEN present) and v9 scope fields (whose
 * type numbers are scope kinds, RFC 3954 §6.1, not field types) are skipped by length.
 * Known fields with a length their type cannot have are skipped too.
 */
export function addField(type: number, length: number, skip: boolean): void {
  if (buildingFields >= 0x10000) return;
  let slot: number = SLOT.SKIP;
  if (!skip && length !== VARIABLE_LENGTH) {
    const mapped = FIELD_SLOTS.get(type);
    if (mapped !== undefined) {
      const kind = mapped[1];
      const fits =
        kind === KIND_UINT ? length >= 1 && length <= 8
        : kind === KIND_V4 ? length === 4
        : kind === KIND_V6 ? length === 16
        : kind === KIND_NTP ? length === 8
        : length === 4 || length === 8;
      if (fits) slot = mapped[0] + (kind === KIND_NTP ? PLAN_NTP : kind === KIND_FLOAT ? PLAN_FLOAT : 0);
    }
  }
  building[buildingFields * 2] = slot;
  if (length === VARIABLE_LENGTH) {
    building[buildingFields * 2 + 1] = PLAN_VARLEN;
    buildingVarlen++;
  } else {
    building[buildingFields * 2 + 1] = length;
    buildingFixed += length;
  }
  buildingFields++;
}

/** The compiled template, or undefined when no record could ever be read with it (bad_template). */
export function endTemplate(options: boolean): CompiledTemplate | undefined {
  const minLength = buildingFixed + buildingVarlen;
  if (buildingFields === 0 || minLength === 0 || minLength > MAX_RECORD_LENGTH) return undefined;
  return new CompiledTemplate(building.slice(0, buildingFields * 2), minLength, buildingVarlen > 0, options, buildingFields);
}

/**
 * The cached template `previous` when the template record at `offset` repeats its announcement
 * byte for byte (exporters resend templates every few seconds): compiling is a function of those
 * bytes and the set kind, so the result would be the same.
 */
export function repeatedTemplate(previous: unknown, options: boolean, bytes: Uint8Array, offset: number, end: number): CompiledTemplate | undefined {
  if (!(previous instanceof CompiledTemplate) || previous.options !== options) return undefined;
  const raw = previous.raw;
  if (raw === undefined || end - offset < raw.length) return undefined;
  for (let b = 0; b < raw.length; b++) if (bytes[offset + b] !== raw[b]) return undefined;
  return previous;
}

/**
 * Per-datagram facts the record loop needs. One mutable instance: the decoders fill it at the
 * start of each datagram instead of allocating one.
 */
export interface DatagramContext {
  exporter: Uint8Array;
  receivedAt: number;
  source: number;
  domain: number;
  /** Cache / sampling key of the exporter (protocol-qualified). */
  exporterKey: string;
  /** The exporter address as text, the key of configured sampling overrides. */
  exporterText: string;
  /** Export time in milliseconds (v9 unix seconds, IPFIX export time). */
  exportMs: number;
  /** NetFlow v9 header sysUptime (ms); NaN for IPFIX. */
  uptimeMs: number;
  /** IPFIX systemInitTimeMilliseconds learnt from options records; NaN when unknown. */
  systemInitMs: number;
  /** The rate for this exporter/domain; 0 when unknown, -1 until first needed (exporterRate). */
  rate: number;
  /** The exporter's 16 bytes as native-endian words (exporter.ts). */
  exporterWords: Uint32Array;
}

export const context: DatagramContext = {
  exporter: new Uint8Array(16),
  receivedAt: 0,
  source: 0,
  domain: 0,
  exporterKey: '',
  exporterText: '',
  exportMs: 0,
  uptimeMs: NaN,
  systemInitMs: NaN,
  rate: 0,
  exporterWords: new Uint32Array(4),
};

// Record scratch: a value per slot, valid when its stamp equals the record's generation (no reset
// per record).
const values = new Float64Array(SLOT_COUNT);
const stamps = new Uint32Array(SLOT_COUNT);
let generation = 0;

// Per-datagram memo of the last sampler id looked up.
let lastSamplerKey = '';
let lastSamplerId = -1;
let lastSamplerRate = 0;

/** System init times learnt from IPFIX options records, per decoder state. */
const systemInitTimes = new WeakMap<DecoderState, Map<string, number>>();
const MAX_SYSTEM_INIT_ENTRIES = 100_000;

// Memo of the last lookup: consecutive datagrams mostly come from one exporter and domain.
// learnOptions, the only writer of systemInitTimes, clears it.
let initMemoState: DecoderState | undefined;
let initMemoKey = '';
let initMemoDomain = -1;
let initMemoValue = NaN;

export function learntSystemInit(state: DecoderState, exporterKey: string, domain: number): number {
  if (state === initMemoState && domain === initMemoDomain && exporterKey === initMemoKey) return initMemoValue;
  const value = systemInitTimes.get(state)?.get(`${exporterKey}/${domain}`) ?? NaN;
  initMemoState = state;
  initMemoKey = exporterKey;
  initMemoDomain = domain;
  initMemoValue = value;
  return value;
}

function has(slot: number): boolean {
  return stamps[slot] === generation;
}

function value(slot: number): number {
  return stamps[slot] === generation ? (values[slot] as number) : 0;
}

/**
 * Reads one record at `offset` with the plan into the scratch. Returns the offset after it, or
 * -1 when a field runs past `end`.
 */
function readRecord(bytes: Uint8Array, view: DataView, offset: number, end: number, plan: Int32Array): number {
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    stamps.fill(0);
    generation = 1;
  }
  let p = offset;
  for (let k = 0; k < plan.length; k += 2) {
    const entry = plan[k] as number;
    let length = plan[k + 1] as number;
    if (length === PLAN_VARLEN) {
      // RFC 7011 §7: one length byte; 255 announces a 2-byte length that follows.
      if (p >= end) return -1;
      length = bytes[p] as number;
      p++;
      if (length === 255) {
        if (p + 2 > end) return -1;
        length = view.getUint16(p);
        p += 2;
      }
    }
    if (p + length > end) return -1;
    // A field repeated in one template (outer and inner headers, e.g. IP-in-IP) keeps its first
    // occurrence, as tshark and most collectors show it.
    if (entry !== SLOT.SKIP && stamps[entry & 0xffff] !== generation) {
      const slot = entry & 0xffff;
      let v: number;
      if (entry >= PLAN_FLOAT) v = length === 4 ? view.getFloat32(p) : view.getFloat64(p);
      else if (entry >= PLAN_NTP) v = view.getUint32(p) - 2_208_988_800 + view.getUint32(p + 4) / 4_294_967_296;
      else if (slot <= SLOT.DST_V6) v = p;
      else {
        v = 0;
        for (let b = 0; b < length; b++) v = v * 256 + (bytes[p + b] as number);
      }
      values[slot] = v;
      stamps[slot] = generation;
    }
    p += length;
  }
  return p;
}

/** The sampling rate a record states, or 0. */
function recordRate(): number {
  if (has(SLOT.SAMPLING_INTERVAL) && value(SLOT.SAMPLING_INTERVAL) >= 1) return value(SLOT.SAMPLING_INTERVAL);
  if (has(SLOT.SAMPLER_RANDOM_INTERVAL) && value(SLOT.SAMPLER_RANDOM_INTERVAL) >= 1) return value(SLOT.SAMPLER_RANDOM_INTERVAL);
  const interval = value(SLOT.SAMPLING_PACKET_INTERVAL);
  if (interval >= 1) return Math.round((interval + value(SLOT.SAMPLING_PACKET_SPACE)) / interval);
  const size = value(SLOT.SAMPLING_SIZE);
  if (size >= 1 && value(SLOT.SAMPLING_POPULATION) >= size) return Math.round(value(SLOT.SAMPLING_POPULATION) / size);
  const probability = value(SLOT.SAMPLING_PROBABILITY);
  if (probability > 0 && probability <= 1) return Math.round(1 / probability);
  return 0;
}

/** IPFIX system init times learnt so far, as [exporter key, domain, ms] (snapshot.ts saves them). */
export function* systemInitEntries(state: DecoderState): IterableIterator<[exporter: string, domain: number, ms: number]> {
  for (const [k, ms] of systemInitTimes.get(state) ?? []) {
    const slash = k.lastIndexOf('/');
    yield [k.slice(0, slash), Number(k.slice(slash + 1)), ms];
  }
}

/** Puts back a saved system init time (snapshot.ts). */
export function restoreSystemInit(state: DecoderState, exporter: string, domain: number, ms: number): void {
  let times = systemInitTimes.get(state);
  if (times === undefined) {
    times = new Map();
    systemInitTimes.set(state, times);
  }
  const k = `${exporter}/${domain}`;
  if (times.has(k) || times.size < MAX_SYSTEM_INIT_ENTRIES) times.set(k, ms);
  initMemoState = undefined;
}

/** Learns what an options record says about its exporter: sampling rate, system init time. */
function learnOptions(state: DecoderState): void {
  const ctx = context;
  const rate = recordRate();
  if (rate >= 1) {
    if (has(SLOT.SAMPLER_ID)) state.sampling.learn(`${ctx.exporterKey}#${value(SLOT.SAMPLER_ID)}`, ctx.domain, rate);
    state.sampling.learn(ctx.exporterKey, ctx.domain, rate);
    ctx.rate = state.sampling.rate(ctx.exporterKey, ctx.domain, ctx.exporterText) ?? 0;
    lastSamplerId = -1;
  }
  if (has(SLOT.SYSTEM_INIT_MILLISECONDS)) {
    let times = systemInitTimes.get(state);
    if (times === undefined) {
      times = new Map();
      systemInitTimes.set(state, times);
    }
    const k = `${ctx.exporterKey}/${ctx.domain}`;
    if (times.has(k) || times.size < MAX_SYSTEM_INIT_ENTRIES) times.set(k, value(SLOT.SYSTEM_INIT_MILLISECONDS));
    initMemoState = undefined;
    ctx.systemInitMs = value(SLOT.SYSTEM_INIT_MILLISECONDS);
  }
}

/** Rate for a record: its own, else its sampler's, else the exporter's; 0 when unknown. */
function rateFor(state: DecoderState): number {
  const own = recordRate();
  if (own >= 1) return own;
  const ctx = context;
  if (has(SLOT.SAMPLER_ID)) {
    const id = value(SLOT.SAMPLER_ID);
    if (id !== lastSamplerId || lastSamplerKey !== ctx.exporterKey) {
      lastSamplerId = id;
      lastSamplerKey = ctx.exporterKey;
      lastSamplerRate = state.sampling.rate(`${ctx.exporterKey}#${id}`, ctx.domain, ctx.exporterText) ?? 0;
    }
    if (lastSamplerRate >= 1) return lastSamplerRate;
  }
  return exporterRate(state);
}

/**
 * The exporter/domain rate (context.rate), looked up when a datagram first needs it: many
 * datagrams carry only templates or options. Nothing learns rates between the datagram's start
 * and this lookup except learnOptions, which looks the rate up again itself.
 */
function exporterRate(state: DecoderState): number {
  const ctx = context;
  if (ctx.rate < 0) ctx.rate = state.sampling.rate(ctx.exporterKey, ctx.domain, ctx.exporterText) ?? 0;
  return ctx.rate;
}

/** Absolute unix seconds of a flow's start (`start`) or end, or NaN when the record has no time. */
function flowTime(start: boolean): number {
  const ctx = context;
  const seconds = start ? SLOT.START_SECONDS : SLOT.END_SECONDS;
  const millis = start ? SLOT.START_MILLISECONDS : SLOT.END_MILLISECONDS;
  const ntp = start ? SLOT.START_NTP : SLOT.END_NTP;
  const delta = start ? SLOT.START_DELTA_MICROSECONDS : SLOT.END_DELTA_MICROSECONDS;
  const uptime = start ? SLOT.UPTIME_START : SLOT.UPTIME_END;
  if (has(millis)) return Math.floor(value(millis) / 1000);
  if (has(seconds)) return value(seconds);
  if (has(ntp)) return Math.floor(value(ntp));
  if (has(delta)) return Math.floor((ctx.exportMs - value(delta) / 1000) / 1000);
  if (has(uptime)) {
    if (ctx.uptimeMs === ctx.uptimeMs) {
      // RFC 3954 §8: FIRST/LAST_SWITCHED are sysUptime (ms) at the packet; the header pairs
      // sysUptime with unix seconds. A signed 32-bit difference survives uptime wrap-around.
      const ago = (ctx.uptimeMs - value(uptime)) | 0;
      return Math.floor((ctx.exportMs - ago) / 1000);
    }
    const init = has(SLOT.SYSTEM_INIT_MILLISECONDS) ? value(SLOT.SYSTEM_INIT_MILLISECONDS) : ctx.systemInitMs;
    if (init === init) return Math.floor((init + value(uptime)) / 1000);
  }
  return NaN;
}

/**
 * Decodes the records of one data set (`start`..`end`) with a compiled template, appending flows
 * (or learning from options records). Stops at padding (fewer bytes left than the smallest
 * record); a record cut short counts `truncated` and ends the set.
 */
export function decodeRecords(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  template: CompiledTemplate,
  state: DecoderState,
  out: FlowWriter,
): void {
  const counters = state.counters;
  if (!template.variableLength && !template.options) {
    let reader = template.reader;
    if (reader === undefined) reader = template.reader = compileReader(template.plan, template.minLength);
    if (reader !== null && decodeFixed(bytes, view, start, end, template.minLength, reader, state, out)) return;
  }
  const plan = template.plan;
  let offset = start;
  while (end - offset >= template.minLength) {
    const next = readRecord(bytes, view, offset, end, plan);
    if (next < 0) {
      counters.skip('truncated');
      return;
    }
    offset = next;
    if (template.options) {
      counters.optionsRecords++;
      learnOptions(state);
      continue;
    }
    writeFlow(bytes, state, out);
  }
  // Leftover shorter than a record is padding (RFC 3954 §5.3, RFC 7011 §3.3.1).
}

function writeFlow(bytes: Uint8Array, state: DecoderState, out: FlowWriter): void {
  const ctx = context;
  const i = out.row();
  const c = out.columns;
  c.time_received[i] = ctx.receivedAt;
  const startTime = flowTime(true);
  const endTime = flowTime(false);
  c.time_start[i] = startTime === startTime ? startTime : endTime === endTime ? endTime : ctx.receivedAt;
  c.time_end[i] = endTime === endTime ? endTime : startTime === startTime ? startTime : ctx.receivedAt;
  c.source[i] = ctx.source;
  const at = i * 16;
  const exporter = ctx.exporter;
  for (let b = 0; b < 16; b++) c.exporter[at + b] = exporter[b] as number;
  c.observation_domain[i] = ctx.domain;
  writeAddress(c.src_addr, at, bytes, SLOT.SRC_V4, SLOT.SRC_V6);
  writeAddress(c.dst_addr, at, bytes, SLOT.DST_V4, SLOT.DST_V6);
  c.src_port[i] = has(SLOT.SRC_PORT) ? value(SLOT.SRC_PORT) : value(SLOT.SRC_PORT_ALT);
  c.dst_port[i] = has(SLOT.DST_PORT) ? value(SLOT.DST_PORT) : value(SLOT.DST_PORT_ALT);
  c.proto[i] = value(SLOT.PROTO);
  c.tcp_flags[i] = value(SLOT.TCP_FLAGS) % 256;
  const flowBytes = has(SLOT.BYTES) ? value(SLOT.BYTES)
    : has(SLOT.BYTES_TOTAL) ? value(SLOT.BYTES_TOTAL)
    : has(SLOT.INITIATOR_BYTES) || has(SLOT.RESPONDER_BYTES) ? value(SLOT.INITIATOR_BYTES) + value(SLOT.RESPONDER_BYTES)
    : value(SLOT.OUT_BYTES);
  const flowPackets = has(SLOT.PACKETS) ? value(SLOT.PACKETS)
    : has(SLOT.PACKETS_TOTAL) ? value(SLOT.PACKETS_TOTAL)
    : has(SLOT.INITIATOR_PACKETS) || has(SLOT.RESPONDER_PACKETS) ? value(SLOT.INITIATOR_PACKETS) + value(SLOT.RESPONDER_PACKETS)
    : value(SLOT.OUT_PACKETS);
  let rate = rateFor(state);
  if (rate < 1) {
    rate = 1;
    state.counters.samplingUnknown++;
  }
  c.bytes[i] = flowBytes * rate;
  c.packets[i] = flowPackets * rate;
  c.sampling_rate[i] = rate;
  c.in_if[i] = has(SLOT.IN_IF) ? value(SLOT.IN_IF) : value(SLOT.IN_PHYSICAL_IF);
  c.out_if[i] = has(SLOT.OUT_IF) ? value(SLOT.OUT_IF) : value(SLOT.OUT_PHYSICAL_IF);
  c.vlan[i] = value(SLOT.VLAN) !== 0 ? value(SLOT.VLAN) : value(SLOT.DOT1Q_VLAN);
  state.counters.flows++;
}

/** Forgets per-datagram memos; the decoders call it before filling `context`. */
export function beginDatagram(): void {
  lastSamplerId = -1;
}

function writeAddress(column: Uint8Array, at: number, bytes: Uint8Array, v4Slot: number, v6Slot: number): void {
  if (has(v6Slot)) {
    const p = values[v6Slot] as number;
    let zero = true;
    for (let b = 0; b < 16; b++) if (bytes[p + b] !== 0) zero = false;
    if (!zero || !has(v4Slot)) {
      for (let b = 0; b < 16; b++) column[at + b] = bytes[p + b] as number;
      return;
    }
  }
  if (has(v4Slot)) {
    // ::ffff:a.b.c.d; bytes 0-9 of a fresh row are already zero.
    const p = values[v4Slot] as number;
    column[at + 10] = 0xff;
    column[at + 11] = 0xff;
    column[at + 12] = bytes[p] as number;
    column[at + 13] = bytes[p + 1] as number;
    column[at + 14] = bytes[p + 2] as number;
    column[at + 15] = bytes[p + 3] as number;
  }
  // Neither: the row keeps the writer's default (::).
}

// ---------------------------------------------------------------------------------------------
// Generated readers. A fixed-length data template (every field has a length, not an options
// template) always yields floor(set body / record length) records, with every field at a known
// offset: which slots are present is known when the template is compiled, so `has()` above is a
// constant there. compileReader turns such a template into straight-line JavaScript (one
// `new Function` per distinct layout) that reads the present fields at their offsets and writes the
// columns with the same choices writeFlow makes — decodeRecords uses it instead of readRecord +
// writeFlow, and falls back to them for variable-length and options templates. The generated
// source is built from numbers only (slot numbers, offsets, lengths), never from packet text.

/**
 * Decodes `n` records of `recordLength` from `start` into rows [first, first + n) (the exporter
 * column excepted, filled in bulk); `rate` is the exporter's (context.rate). Returns the number of
 * rows whose sampling rate was unknown.
 */
type FixedReader = (
  bytes: Uint8Array,
  view: DataView,
  start: number,
  n: number,
  first: number,
  c: FlowColumns,
  ctx: DatagramContext,
  src: Uint32Array,
  dst: Uint32Array,
  rate: number,
  state: DecoderState,
  helpers: ReaderHelpers,
) => number;

interface ReaderHelpers {
  uint(bytes: Uint8Array, at: number, length: number): number;
  begin(): void;
  put(slot: number, value: number): void;
  rate(state: DecoderState): number;
}

const helpers: ReaderHelpers = {
  uint(bytes, at, length) {
    let v = 0;
    for (let b = 0; b < length; b++) v = v * 256 + (bytes[at + b] as number);
    return v;
  },
  begin() {
    generation = (generation + 1) >>> 0;
    if (generation === 0) {
      stamps.fill(0);
      generation = 1;
    }
  },
  put(slot, v) {
    values[slot] = v;
    stamps[slot] = generation;
  },
  rate: (state) => rateFor(state),
};

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Bytes 8-11 of an IPv4-mapped address (00 00 ff ff) as a native-endian word. */
const V4_MAPPED_WORD = LITTLE_ENDIAN ? 0xffff0000 : 0x0000ffff;
/** Distinct layouts compiled per process; past this, templates use the generic loop (a template flood cannot compile without bound). */
const MAX_READERS = 1024;
const readers = new Map<string, FixedReader>();
const srcView = new WordView();
const dstView = new WordView();

function decodeFixed(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  recordLength: number,
  reader: FixedReader,
  state: DecoderState,
  out: FlowWriter,
): boolean {
  const n = Math.floor((end - start) / recordLength);
  if (n === 0) return true; // padding only
  const first = out.row();
  for (let r = 1; r < n; r++) out.row();
  const c = out.columns;
  const src = srcView.get(c.src_addr);
  const dst = dstView.get(c.dst_addr);
  if (src === undefined || dst === undefined) {
    out.unwind(n);
    return false;
  }
  const ctx = context;
  const counters = state.counters;
  fillExporter(c.exporter, first, n, ctx.exporterWords);
  counters.samplingUnknown += reader(bytes, view, start, n, first, c, ctx, src, dst, exporterRate(state), state, helpers);
  counters.flows += n;
  return true;
}

/** A present field: where it is in the record and how it is read. */
interface Present {
  offset: number;
  length: number;
  kind: number; // PLAN_NTP, PLAN_FLOAT or 0
}

function compileReader(plan: Int32Array, recordLength: number): FixedReader | null {
  const present = new Array<Present | undefined>(SLOT_COUNT);
  let offset = 0;
  for (let k = 0; k < plan.length; k += 2) {
    const entry = plan[k] as number;
    const length = plan[k + 1] as number;
    const slot = entry & 0xffff;
    if (entry !== SLOT.SKIP && present[slot] === undefined) present[slot] = { offset, length, kind: entry - slot };
    offset += length;
  }
  let key = `${recordLength}`;
  for (let slot = 1; slot < SLOT_COUNT; slot++) {
    const f = present[slot];
    if (f !== undefined) key += `|${slot}:${f.kind}:${f.offset}:${f.length}`;
  }
  const cached = readers.get(key);
  if (cached !== undefined) return cached;
  if (readers.size >= MAX_READERS) return null;
  let reader: FixedReader;
  try {
    reader = generateReader(present, recordLength);
  } catch {
    // Code generation refused (node --disallow-code-generation-from-strings): the plan loop.
    return null;
  }
  readers.set(key, reader);
  return reader;
}

function generateReader(present: readonly (Present | undefined)[], recordLength: number): FixedReader {
  const has = (slot: number): boolean => present[slot] !== undefined;
  const name = (slot: number): string => `v${slot}`;
  // value(slot): the read value, or 0 when the template lacks the field.
  const value = (slot: number): string => (has(slot) ? name(slot) : '0');
  const used = new Set<number>();
  const use = (slot: number): string => {
    if (has(slot)) used.add(slot);
    return value(slot);
  };

  const setup: string[] = [];
  // Outputs, mirroring writeFlow / flowTime / writeAddress with has() resolved now.
  const out: string[] = [];
  const flowTime = (start: boolean): string => {
    const seconds = start ? SLOT.START_SECONDS : SLOT.END_SECONDS;
    const millis = start ? SLOT.START_MILLISECONDS : SLOT.END_MILLISECONDS;
    const ntp = start ? SLOT.START_NTP : SLOT.END_NTP;
    const delta = start ? SLOT.START_DELTA_MICROSECONDS : SLOT.END_DELTA_MICROSECONDS;
    const uptime = start ? SLOT.UPTIME_START : SLOT.UPTIME_END;
    if (has(millis)) return `Math.floor(${use(millis)} / 1000)`;
    if (has(seconds)) return use(seconds);
    if (has(ntp)) return `Math.floor(${use(ntp)})`;
    if (has(delta)) return `Math.floor((exportMs - ${use(delta)} / 1000) / 1000)`;
    if (has(uptime)) {
      const init = has(SLOT.SYSTEM_INIT_MILLISECONDS) ? use(SLOT.SYSTEM_INIT_MILLISECONDS) : 'systemInitMs';
      const u = use(uptime);
      return `(uptimeMs === uptimeMs ? Math.floor((exportMs - ((uptimeMs - ${u}) | 0)) / 1000) : ${init} === ${init} ? Math.floor((${init} + ${u}) / 1000) : NaN)`;
    }
    return 'NaN';
  };
  out.push(`const st = ${flowTime(true)};`, `const et = ${flowTime(false)};`);
  out.push('time_received[i] = receivedAt;');
  out.push('time_start[i] = st === st ? st : et === et ? et : receivedAt;');
  out.push('time_end[i] = et === et ? et : st === st ? st : receivedAt;');
  out.push('source[i] = sourceValue;', 'observation_domain[i] = domain;');
  const address = (words: string, v4: number, v6: number): void => {
    const copyV6 = (p: string): string =>
      `${words}[w] = view.getUint32(${p}, ${LITTLE_ENDIAN}); ${words}[w + 1] = view.getUint32(${p} + 4, ${LITTLE_ENDIAN}); ` +
      `${words}[w + 2] = view.getUint32(${p} + 8, ${LITTLE_ENDIAN}); ${words}[w + 3] = view.getUint32(${p} + 12, ${LITTLE_ENDIAN});`;
    const writeV4Line = (p: string): string => `${words}[w + 2] = ${V4_MAPPED_WORD}; ${words}[w + 3] = view.getUint32(${p}, ${LITTLE_ENDIAN});`;
    if (has(v6) && has(v4)) {
      const p6 = use(v6);
      const p4 = use(v4);
      out.push(
        `if ((view.getUint32(${p6}) | view.getUint32(${p6} + 4) | view.getUint32(${p6} + 8) | view.getUint32(${p6} + 12)) !== 0) { ${copyV6(p6)} } else { ${writeV4Line(p4)} }`,
      );
    } else if (has(v6)) out.push(copyV6(use(v6)));
    else if (has(v4)) out.push(writeV4Line(use(v4)));
  };
  address('src', SLOT.SRC_V4, SLOT.SRC_V6);
  address('dst', SLOT.DST_V4, SLOT.DST_V6);
  out.push(`src_port[i] = ${has(SLOT.SRC_PORT) ? use(SLOT.SRC_PORT) : use(SLOT.SRC_PORT_ALT)};`);
  out.push(`dst_port[i] = ${has(SLOT.DST_PORT) ? use(SLOT.DST_PORT) : use(SLOT.DST_PORT_ALT)};`);
  out.push(`proto[i] = ${use(SLOT.PROTO)};`);
  out.push(`tcp_flags[i] = ${use(SLOT.TCP_FLAGS)} % 256;`);
  const counter = (main: number, total: number, initiator: number, responder: number, post: number): string =>
    has(main) ? use(main)
    : has(total) ? use(total)
    : has(initiator) || has(responder) ? `(${use(initiator)} + ${use(responder)})`
    : use(post);
  out.push(`const flowBytes = ${counter(SLOT.BYTES, SLOT.BYTES_TOTAL, SLOT.INITIATOR_BYTES, SLOT.RESPONDER_BYTES, SLOT.OUT_BYTES)};`);
  out.push(`const flowPackets = ${counter(SLOT.PACKETS, SLOT.PACKETS_TOTAL, SLOT.INITIATOR_PACKETS, SLOT.RESPONDER_PACKETS, SLOT.OUT_PACKETS)};`);
  // Records that carry sampling fields state their own rate (recordRate / rateFor, through the
  // shared scratch); the others use the exporter's rate, resolved once per set by the caller.
  const sampling = [
    SLOT.SAMPLING_INTERVAL,
    SLOT.SAMPLER_RANDOM_INTERVAL,
    SLOT.SAMPLING_PACKET_INTERVAL,
    SLOT.SAMPLING_PACKET_SPACE,
    SLOT.SAMPLING_SIZE,
    SLOT.SAMPLING_POPULATION,
    SLOT.SAMPLING_PROBABILITY,
    SLOT.SAMPLER_ID,
  ].filter(has);
  if (sampling.length > 0) {
    out.push('H.begin();');
    for (const slot of sampling) out.push(`H.put(${slot}, ${use(slot)});`);
    out.push('let r = H.rate(state);', 'if (r < 1) { r = 1; unknown++; }');
  } else {
    out.push('const r = setRate;');
    setup.push(
      // The exporter's rate: the same for every record of the set; unknown counts each flow.
      'let setRate = rate;',
      'if (setRate < 1) { setRate = 1; unknown = n; }',
    );
  }
  out.push('bytes_[i] = flowBytes * r;', 'packets[i] = flowPackets * r;', 'sampling_rate[i] = r;');
  out.push(`in_if[i] = ${has(SLOT.IN_IF) ? use(SLOT.IN_IF) : use(SLOT.IN_PHYSICAL_IF)};`);
  out.push(`out_if[i] = ${has(SLOT.OUT_IF) ? use(SLOT.OUT_IF) : use(SLOT.OUT_PHYSICAL_IF)};`);
  if (has(SLOT.VLAN) && has(SLOT.DOT1Q_VLAN)) out.push(`vlan[i] = ${use(SLOT.VLAN)} !== 0 ? ${use(SLOT.VLAN)} : ${use(SLOT.DOT1Q_VLAN)};`);
  else if (has(SLOT.VLAN)) out.push(`vlan[i] = ${use(SLOT.VLAN)};`);
  else out.push(`vlan[i] = ${use(SLOT.DOT1Q_VLAN)};`);

  // Reads of the fields the outputs use, as readRecord reads them.
  const reads: string[] = [];
  for (const slot of [...used].sort((a, b) => a - b)) {
    const f = present[slot] as Present;
    const at = `p + ${f.offset}`;
    let expr: string;
    if (f.kind === PLAN_FLOAT) expr = f.length === 4 ? `view.getFloat32(${at})` : `view.getFloat64(${at})`;
    else if (f.kind === PLAN_NTP) expr = `view.getUint32(${at}) - 2208988800 + view.getUint32(${at} + 4) / 4294967296`;
    else if (slot <= SLOT.DST_V6) expr = at;
    else expr = uintRead(at, f.length);
    reads.push(`const ${name(slot)} = ${expr};`);
  }

  const source = [
    '"use strict";',
    'const receivedAt = ctx.receivedAt, sourceValue = ctx.source, domain = ctx.domain;',
    'const exportMs = ctx.exportMs, uptimeMs = ctx.uptimeMs, systemInitMs = ctx.systemInitMs;',
    'const time_received = c.time_received, time_start = c.time_start, time_end = c.time_end, source = c.source;',
    'const observation_domain = c.observation_domain, src_port = c.src_port, dst_port = c.dst_port, proto = c.proto;',
    'const tcp_flags = c.tcp_flags, bytes_ = c.bytes, packets = c.packets, sampling_rate = c.sampling_rate;',
    'const in_if = c.in_if, out_if = c.out_if, vlan = c.vlan;',
    'let unknown = 0;',
    ...setup,
    `for (let k = 0, p = start; k < n; k++, p += ${recordLength}) {`,
    'const i = first + k, w = i * 4;',
    ...reads,
    ...out,
    '}',
    'return unknown;',
  ].join('\n');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the generated reader (see above); its source holds only numbers from the template
  return new Function('bytes', 'view', 'start', 'n', 'first', 'c', 'ctx', 'src', 'dst', 'rate', 'state', 'H', source) as FixedReader;
}

/** A big-endian unsigned read of 1-8 bytes, equal to readRecord's byte loop (exact below 2^53, the loop's rounding above). */
function uintRead(at: string, length: number): string {
  switch (length) {
    case 1:
      return `bytes[${at}]`;
    case 2:
      return `view.getUint16(${at})`;
    case 3:
      return `(bytes[${at}] << 16 | view.getUint16(${at} + 1))`;
    case 4:
      return `view.getUint32(${at})`;
    case 5:
      return `(bytes[${at}] * 4294967296 + view.getUint32(${at} + 1))`;
    case 6:
      return `(view.getUint16(${at}) * 4294967296 + view.getUint32(${at} + 2))`;
    case 7:
      return `((bytes[${at}] << 16 | view.getUint16(${at} + 1)) < 0x200000 ? (bytes[${at}] << 16 | view.getUint16(${at} + 1)) * 4294967296 + view.getUint32(${at} + 3) : H.uint(bytes, ${at}, 7))`;
    default:
      return `(view.getUint32(${at}) < 0x200000 ? view.getUint32(${at}) * 4294967296 + view.getUint32(${at} + 4) : H.uint(bytes, ${at}, 8))`;
  }
}
