// NetFlow v9 (RFC 3954): the packet header, template / options-template / data flowsets, and the
// template cache entries of v9 exporters. Field mapping, template compilation and the record loop
// are shared with IPFIX in fields.ts.
//
// Cache key: (exporterKey(address) + ':v9', source id, template id) — RFC 3954 §5.1 scopes
// templates to the exporter and its source id; the ':v9' suffix keeps a v9 exporter's templates
// apart from IPFIX templates sent from the same address.
//
// RFC 3954 has no variable-length fields, but H3C NetStream exports strings with field length
// 65535 and a length prefix as in IPFIX (RFC 7011 §7), as tshark also reads them; so do we.
//
// Data flowsets whose template is unknown are counted per flowset (`no_template`): without the
// template the number of records inside cannot be known.
import { enumIndex } from '../../core/flow.js';
import { addField, beginDatagram, beginTemplate, CompiledTemplate, context, decodeRecords, endTemplate, repeatedTemplate } from './fields.js';
import { exporterNames } from './exporter.js';
import type { Decoder, DecoderState } from './types.js';

const VERSION = 9;
const HEADER_LENGTH = 20;
const TEMPLATE_FLOWSET = 0;
const OPTIONS_TEMPLATE_FLOWSET = 1;
const FIRST_DATA_FLOWSET = 256;
const SOURCE = enumIndex('source', 'netflow9');

export const decodeNetflow9: Decoder = (datagram, state, out) => {
  const counters = state.counters;
  counters.datagrams++;
  const bytes = datagram.bytes;
  if (bytes.length < HEADER_LENGTH) {
    counters.skip('truncated');
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== VERSION) {
    counters.skip('bad_version');
    return;
  }
  // RFC 3954 §5.1 header: version, count, sysUptime, unix secs, sequence, source id. `count`
  // is not trusted: flowsets are walked by their lengths.
  const ctx = context;
  beginDatagram();
  const names = exporterNames(datagram.exporter);
  ctx.exporter = datagram.exporter;
  ctx.exporterWords = names.words;
  ctx.receivedAt = datagram.receivedAt;
  ctx.source = SOURCE;
  ctx.uptimeMs = view.getUint32(4);
  ctx.exportMs = view.getUint32(8) * 1000;
  ctx.domain = view.getUint32(16);
  ctx.exporterKey = names.keyV9;
  ctx.exporterText = names.text;
  ctx.systemInitMs = NaN;
  ctx.rate = -1; // looked up when a data record needs it (fields.ts exporterRate)

  let offset = HEADER_LENGTH;
  while (bytes.length - offset >= 4) {
    const id = view.getUint16(offset);
    const length = view.getUint16(offset + 2);
    if (length < 4) {
      // A zero-filled tail (Palo Alto pads datagrams with zeros) is padding, not an error.
      if (!allZero(bytes, offset)) counters.skip('bad_length');
      return;
    }
    const end = offset + length;
    if (end > bytes.length) {
      counters.skip('truncated');
      return;
    }
    const body = offset + 4;
    if (id === TEMPLATE_FLOWSET) readTemplates(bytes, view, body, end, state);
    else if (id === OPTIONS_TEMPLATE_FLOWSET) readOptionsTemplates(bytes, view, body, end, state);
    else if (id >= FIRST_DATA_FLOWSET) {
      const template = state.templates.get(ctx.exporterKey, ctx.domain, id);
      if (template instanceof CompiledTemplate) decodeRecords(bytes, view, body, end, template, state, out);
      else counters.skip('no_template');
    } else counters.skip('unsupported'); // RFC 3954 §5.2: ids 2-255 are reserved.
    offset = end;
  }
};

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** RFC 3954 §5.2: template records (id, field count, then type/length pairs) until the flowset ends. */
function readTemplates(bytes: Uint8Array, view: DataView, offset: number, end: number, state: DecoderState): void {
  while (end - offset >= 4) {
    const templateId = view.getUint16(offset);
    const fieldCount = view.getUint16(offset + 2);
    if (templateId === 0 && fieldCount === 0) return; // padding
    const repeated = repeatedTemplate(state.templates.get(context.exporterKey, context.domain, templateId), false, bytes, offset, end);
    if (repeated !== undefined) {
      offset += (repeated.raw as Uint8Array).length;
      store(templateId, repeated, state);
      continue;
    }
    const recordStart = offset;
    offset += 4;
    if (offset + fieldCount * 4 > end) {
      state.counters.skip('bad_length');
      return;
    }
    beginTemplate();
    for (let f = 0; f < fieldCount; f++, offset += 4) addField(view.getUint16(offset), view.getUint16(offset + 2), false);
    store(templateId, endTemplate(false), state, bytes, recordStart, offset);
  }
}

/**
 * RFC 3954 §6.1: options template records: id, scope length and option length (in bytes), the
 * scope fields, the option fields, then padding to 4 bytes. Scope field types (1 System,
 * 2 Interface, 3 Line card, 4 Cache, 5 Template) are scope kinds, not field types, so they are
 * skipped by length.
 */
function readOptionsTemplates(bytes: Uint8Array, view: DataView, offset: number, end: number, state: DecoderState): void {
  while (end - offset >= 6) {
    const templateId = view.getUint16(offset);
    const scopeLength = view.getUint16(offset + 2);
    const optionLength = view.getUint16(offset + 4);
    if (templateId === 0) return; // padding
    const repeated = repeatedTemplate(state.templates.get(context.exporterKey, context.domain, templateId), true, bytes, offset, end);
    if (repeated !== undefined) {
      offset += (repeated.raw as Uint8Array).length;
      store(templateId, repeated, state);
      continue;
    }
    const recordStart = offset;
    offset += 6;
    if (scopeLength % 4 !== 0 || optionLength % 4 !== 0 || offset + scopeLength + optionLength > end) {
      state.counters.skip('bad_length');
      return;
    }
    beginTemplate();
    const scopeEnd = offset + scopeLength;
    const fieldsEnd = scopeEnd + optionLength;
    for (; offset < scopeEnd; offset += 4) addField(view.getUint16(offset), view.getUint16(offset + 2), true);
    for (; offset < fieldsEnd; offset += 4) addField(view.getUint16(offset), view.getUint16(offset + 2), false);
    store(templateId, endTemplate(true), state, bytes, recordStart, offset);
    // Padding to a 4-byte boundary is only possible after the last record of the flowset.
  }
}

/**
 * Caches a template. A new one remembers its announcement (`bytes` recordStart..recordEnd), so a
 * repeat of it is recognised without compiling (fields.ts repeatedTemplate).
 */
function store(templateId: number, template: CompiledTemplate | undefined, state: DecoderState, bytes?: Uint8Array, recordStart = 0, recordEnd = 0): void {
  const counters = state.counters;
  if (templateId < FIRST_DATA_FLOWSET || template === undefined) {
    counters.skip('bad_template');
    return;
  }
  const result = state.templates.set(context.exporterKey, context.domain, templateId, template);
  if (result === 'added' || result === 'replaced') {
    counters.templates++;
    if (bytes !== undefined) template.raw = bytes.slice(recordStart, recordEnd);
  } else counters.skip(result);
}
