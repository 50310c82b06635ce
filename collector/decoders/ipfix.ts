// IPFIX (RFC 7011, information elements RFC 7012): the message header, template, options-template
// and withdrawal sets, data sets, and the template cache entries of IPFIX exporters. Field
// mapping, template compilation and the record loop are shared with NetFlow v9 in fields.ts.
//
// Cache key: (exporterKey(address), observation domain id, template id) — RFC 7011 §8 scopes
// templates to the transport session and observation domain; over UDP the session is the
// exporter address (the source port changes when an exporter restarts, and the templates are
// resent then anyway). NetFlow v9 templates of the same address use the key + ':v9'.
//
// Data sets whose template is unknown are counted per set (`no_template`): without the template
// the number of records inside cannot be known.
//
// Withdrawals (RFC 7011 §8.1): a template record with field count 0 withdraws that template; the
// ids 2 (in a template set) and 3 (in an options template set) withdraw all templates of the
// domain. The cache does not tell data from options templates apart, so either "all" withdrawal
// drops both kinds; the exporter re-announces what it still uses.
import { enumIndex } from '../../core/flow.js';
import { addField, beginDatagram, beginTemplate, CompiledTemplate, context, decodeRecords, endTemplate, learntSystemInit, repeatedTemplate } from './fields.js';
import { exporterNames } from './exporter.js';
import type { Decoder, DecoderState } from './types.js';

const VERSION = 10;
const HEADER_LENGTH = 16;
const TEMPLATE_SET = 2;
const OPTIONS_TEMPLATE_SET = 3;
const FIRST_DATA_SET = 256;
const ENTERPRISE_BIT = 0x8000;
const SOURCE = enumIndex('source', 'ipfix');

export const decodeIpfix: Decoder = (datagram, state, out) => {
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
  // RFC 7011 §3.1 header: version, length, export time, sequence, observation domain id. The
  // sets are walked to the end of the datagram; a length field that disagrees is counted
  // (`bad_length`, or `truncated` when the datagram is shorter) but what arrived is decoded, as
  // some exporters get the message length wrong (telegraf issue 14370: 2 bytes short).
  const messageLength = view.getUint16(2);
  if (messageLength > bytes.length) counters.skip('truncated');
  else if (messageLength !== bytes.length) counters.skip('bad_length');
  const messageEnd = bytes.length;
  const ctx = context;
  beginDatagram();
  const names = exporterNames(datagram.exporter);
  ctx.exporter = datagram.exporter;
  ctx.exporterWords = names.words;
  ctx.receivedAt = datagram.receivedAt;
  ctx.source = SOURCE;
  ctx.uptimeMs = NaN;
  ctx.exportMs = view.getUint32(4) * 1000;
  ctx.domain = view.getUint32(12);
  ctx.exporterKey = names.key;
  ctx.exporterText = names.text;
  ctx.systemInitMs = learntSystemInit(state, ctx.exporterKey, ctx.domain);
  ctx.rate = -1; // looked up when a data record needs it (fields.ts exporterRate)

  let offset = HEADER_LENGTH;
  while (messageEnd - offset >= 4) {
    const id = view.getUint16(offset);
    const length = view.getUint16(offset + 2);
    if (length < 4) {
      counters.skip('bad_length');
      return;
    }
    const end = offset + length;
    if (end > messageEnd) {
      counters.skip('truncated');
      return;
    }
    const body = offset + 4;
    if (id === TEMPLATE_SET) readTemplates(bytes, view, body, end, false, state);
    else if (id === OPTIONS_TEMPLATE_SET) readTemplates(bytes, view, body, end, true, state);
    else if (id >= FIRST_DATA_SET) {
      const template = state.templates.get(ctx.exporterKey, ctx.domain, id);
      if (template instanceof CompiledTemplate) decodeRecords(bytes, view, body, end, template, state, out);
      else counters.skip('no_template');
    } else counters.skip('unsupported'); // RFC 7011 §3.3.2: set ids 0, 1, 4-255 are not for us.
    offset = end;
  }
};

/**
 * RFC 7011 §3.4.1-2: template records (id, field count) and options template records (id, field
 * count, scope field count), each followed by field specifiers: IE id (high bit = enterprise,
 * then a 4-byte PEN), field length (65535 = variable). Scope fields are ordinary IEs in IPFIX.
 */
function readTemplates(bytes: Uint8Array, view: DataView, offset: number, end: number, options: boolean, state: DecoderState): void {
  const counters = state.counters;
  const headerLength = options ? 6 : 4;
  while (end - offset >= 4) {
    const templateId = view.getUint16(offset);
    const fieldCount = view.getUint16(offset + 2);
    if (templateId === 0 && fieldCount === 0) return; // set padding (RFC 7011 §3.3.1)
    if (fieldCount === 0) {
      withdraw(templateId, options, state);
      offset += 4;
      continue;
    }
    const ctx = context;
    const repeated = repeatedTemplate(state.templates.get(ctx.exporterKey, ctx.domain, templateId), options, bytes, offset, end);
    if (repeated !== undefined) {
      offset += (repeated.raw as Uint8Array).length;
      store(templateId, repeated, state);
      continue;
    }
    const recordStart = offset;
    if (end - offset < headerLength) {
      counters.skip('bad_length');
      return;
    }
    const scopeCount = options ? view.getUint16(offset + 4) : 0;
    offset += headerLength;
    beginTemplate();
    let f = 0;
    for (; f < fieldCount; f++) {
      if (end - offset < 4) break;
      let type = view.getUint16(offset);
      const length = view.getUint16(offset + 2);
      offset += 4;
      let enterprise = false;
      if ((type & ENTERPRISE_BIT) !== 0) {
        if (end - offset < 4) break;
        enterprise = true;
        type &= ~ENTERPRISE_BIT;
        offset += 4;
      }
      addField(type, length, enterprise);
    }
    if (f < fieldCount) {
      counters.skip('bad_length');
      return;
    }
    // RFC 7011 §3.4.2.2: an options template has at least one scope field.
    const template = options && (scopeCount === 0 || scopeCount > fieldCount) ? undefined : endTemplate(options);
    if (templateId < FIRST_DATA_SET || template === undefined) {
      counters.skip('bad_template');
      continue;
    }
    if (store(templateId, template, state)) template.raw = bytes.slice(recordStart, offset);
  }
}

/** Caches a template; false when the cache refused it (counted). */
function store(templateId: number, template: CompiledTemplate, state: DecoderState): boolean {
  const result = state.templates.set(context.exporterKey, context.domain, templateId, template);
  if (result === 'added' || result === 'replaced') {
    state.counters.templates++;
    return true;
  }
  state.counters.skip(result);
  return false;
}

function withdraw(templateId: number, options: boolean, state: DecoderState): void {
  const ctx = context;
  if (templateId === (options ? OPTIONS_TEMPLATE_SET : TEMPLATE_SET)) state.templates.deleteDomain(ctx.exporterKey, ctx.domain);
  else if (templateId >= FIRST_DATA_SET) state.templates.delete(ctx.exporterKey, ctx.domain, templateId);
  else state.counters.skip('bad_template');
}
