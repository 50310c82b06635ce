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
import { formatAddress } from '../../core/ip.js';
import { enumIndex } from '../../core/flow.js';
import { addField, beginDatagram, beginTemplate, CompiledTemplate, context, decodeRecords, endTemplate } from './fields.js';
import { exporterKey } from './state.js';
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
  ctx.exporter = datagram.exporter;
  ctx.receivedAt = datagram.receivedAt;
  ctx.source = SOURCE;
  ctx.uptimeMs = view.getUint32(4);
  ctx.exportMs = view.getUint32(8) * 1000;
  ctx.domain = view.getUint32(16);
  ctx.exporterKey = exporterKey(datagram.exporter) + ':v9';
  ctx.exporterText = formatAddress(datagram.exporter);
  ctx.systemInitMs = NaN;
  ctx.rate = state.sampling.rate(ctx.exporterKey, ctx.domain, ctx.exporterText) ?? 0;

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
    if (id === TEMPLATE_FLOWSET) readTemplates(view, body, end, state);
    else if (id === OPTIONS_TEMPLATE_FLOWSET) readOptionsTemplates(view, body, end, state);
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
function readTemplates(view: DataView, offset: number, end: number, state: DecoderState): void {
  while (end - offset >= 4) {
    const templateId = view.getUint16(offset);
    const fieldCount = view.getUint16(offset + 2);
    if (templateId === 0 && fieldCount === 0) return; // padding
    offset += 4;
    if (offset + fieldCount * 4 > end) {
      state.counters.skip('bad_length');
      return;
    }
    beginTemplate();
    for (let f = 0; f < fieldCount; f++, offset += 4) addField(view.getUint16(offset), view.getUint16(offset + 2), false);
    store(templateId, endTemplate(false), state);
  }
}

/**
 * RFC 3954 §6.1: options template records: id, scope length and option length (in bytes), the
 * scope fields, the option fields, then padding to 4 bytes. Scope field types (1 System,
 * 2 Interface, 3 Line card, 4 Cache, 5 Template) are scope kinds, not field types, so they are
 * skipped by length.
 */
function readOptionsTemplates(view: DataView, offset: number, end: number, state: DecoderState): void {
  while (end - offset >= 6) {
    const templateId = view.getUint16(offset);
    const scopeLength = view.getUint16(offset + 2);
    const optionLength = view.getUint16(offset + 4);
    if (templateId === 0) return; // padding
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
    store(templateId, endTemplate(true), state);
    // Padding to a 4-byte boundary is only possible after the last record of the flowset.
  }
}

function store(templateId: number, template: CompiledTemplate | undefined, state: DecoderState): void {
  const counters = state.counters;
  if (templateId < FIRST_DATA_FLOWSET || template === undefined) {
    counters.skip('bad_template');
    return;
  }
  const result = state.templates.set(context.exporterKey, context.domain, templateId, template);
  if (result === 'added' || result === 'replaced') counters.templates++;
  else counters.skip(result);
}
