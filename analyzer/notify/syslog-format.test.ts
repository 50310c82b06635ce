// Syslog output held to its specifications: every RFC 5424 message matches a regular expression
// written from the RFC's ABNF (§6), structured data and CEF survive hostile values (quotes,
// brackets, pipes, equals signs, backslashes, line breaks) and parse back to what went in, and
// truncation never cuts a character or a CEF escape in half.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectorKey, type Finding } from '../policy/index.js';
import { findingEvents, formatCef, formatRfc5424, octetCounted, reportEvent, SD_ID, syslogMessage, webhookTestEvent, type FlowmapEvent } from './index.js';
import { truncateUtf8 } from './syslog-format.js';

// ---- RFC 5424 §6 ABNF, piece by piece ----
const PRINTUSASCII = '[\\x21-\\x7e]';
const NILVALUE = '-';
const PRI = '<(?<prival>\\d{1,3})>';
const VERSION = '(?<version>[1-9]\\d{0,2})';
const FULL_DATE = '\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])';
const PARTIAL_TIME = '([01]\\d|2[0-3]):[0-5]\\d:([0-5]\\d|60)(\\.\\d{1,6})?';
const TIME_OFFSET = '(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)';
const TIMESTAMP = `(?<timestamp>${NILVALUE}|${FULL_DATE}T${PARTIAL_TIME}${TIME_OFFSET})`;
const field = (name: string, max: number): string => `(?<${name}>${NILVALUE}|${PRINTUSASCII}{1,${max}})`;
const HEADER = `${PRI}${VERSION} ${TIMESTAMP} ${field('hostname', 255)} ${field('appname', 48)} ${field('procid', 128)} ${field('msgid', 32)}`;
/** SD-NAME = 1*32PRINTUSASCII except '=', SP, ']' and '"'. */
const SD_NAME = '[\\x21\\x23-\\x3c\\x3e-\\x5c\\x5e-\\x7e]{1,32}';
const PARAM_VALUE = '(?:[^"\\\\\\]]|\\\\["\\\\\\]])*';
const SD_PARAM = `${SD_NAME}="${PARAM_VALUE}"`;
const SD_ELEMENT = `\\[${SD_NAME}(?: ${SD_PARAM})*\\]`;
const STRUCTURED_DATA = `(?<sd>${NILVALUE}|(?:${SD_ELEMENT})+)`;
const SYSLOG_MSG = new RegExp(`^${HEADER} ${STRUCTURED_DATA}(?: (?<msg>[\\s\\S]*))?$`, 'u');

function parse5424(text: string): Record<string, string> {
  const match = SYSLOG_MSG.exec(text);
  assert.ok(match?.groups !== undefined, `not an RFC 5424 message: ${text.slice(0, 300)}`);
  const prival = Number(match.groups.prival);
  assert.ok(prival >= 0 && prival <= 191, `PRIVAL ${prival} is 0-191`);
  return Object.fromEntries(Object.entries(match.groups).filter((e): e is [string, string] => e[1] !== undefined));
}

/** SD-PARAMs of one element, unescaped (RFC 5424 §6.3.3). */
function sdParams(sd: string): { id: string; params: Record<string, string> } {
  const element = /^\[([^ \]]+)((?: [^=]+="(?:[^"\\\]]|\\["\\\]])*")*)\]$/.exec(sd);
  assert.ok(element !== null, `one SD element: ${sd}`);
  const params: Record<string, string> = {};
  for (const m of (element[2] ?? '').matchAll(/ ([^=]+)="((?:[^"\\\]]|\\["\\\]])*)"/g)) params[m[1] ?? ''] = (m[2] ?? '').replace(/\\(["\\\]])/g, '$1');
  return { id: element[1] ?? '', params };
}

// ---- CEF, parsed as its specification describes ----
function parseCef(text: string): { header: string[]; extensions: Record<string, string> } {
  assert.ok(text.startsWith('CEF:'), text.slice(0, 40));
  const header: string[] = [];
  let current = '';
  let i = 0;
  for (; i < text.length && header.length < 7; i += 1) {
    const c = text[i];
    if (c === '\\' && (text[i + 1] === '|' || text[i + 1] === '\\')) {
      current += text[i + 1];
      i += 1;
    } else if (c === '|') {
      header.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  assert.equal(header.length, 7, `seven header fields in ${text.slice(0, 200)}`);
  const extension = text.slice(i);
  const extensions: Record<string, string> = {};
  // A key is letters and digits followed by an unescaped '='; its value runs to the next such key.
  const keys = [...extension.matchAll(/(?:^| )([A-Za-z0-9]+)=/g)].filter((m) => {
    let backslashes = 0;
    for (let j = m.index + m[0].length - 2; j >= 0 && extension[j] === '\\'; j -= 1) backslashes += 1;
    return backslashes % 2 === 0;
  });
  keys.forEach((m, n) => {
    const start = m.index + m[0].length;
    const end = n + 1 < keys.length ? (keys[n + 1]?.index ?? extension.length) : extension.length;
    const raw = extension.slice(start, end);
    extensions[m[1] ?? ''] = raw.replace(/\\([\\=nr])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  });
  return { header, extensions };
}

const HOSTILE = 'a"b\\c]d|e=f\ng\rh';
function finding(overrides: Partial<Finding> = {}): Finding {
  return {
    id: 'f-0123456789ab',
    kind: 'undocumented',
    category: 'backup',
    from: { app: 'backup', env: 'prod' },
    to: { app: 'web', env: 'prod' },
    protocol: 'tcp',
    ports: [9090],
    severity: 'high',
    evidence: { flows: 1234, bytes: 99, daysSeen: 9, firstSeen: '2026-02-01T00:00:00.000Z', lastSeen: '2026-02-28T23:00:00.000Z' },
    explanation: 'backup agent talks to every server on 9090',
    ...overrides,
  };
}
const TIME = '2026-03-02T03:45:00.123Z';
const findingEvent = (f: Finding, baseline = 'bl-1'): FlowmapEvent => {
  const [event] = findingEvents(baseline, [f], [], { time: TIME });
  assert.ok(event !== undefined);
  return event;
};
const OPTIONS = { hostname: 'collector-1', procId: 4242 };

describe('RFC 5424 messages', () => {
  it('match the RFC ABNF with PRI = facility·8 + severity, the event type as MSGID, and the event as JSON after a BOM', () => {
    const event = findingEvent(finding());
    const text = formatRfc5424(event, { format: 'rfc5424' }, OPTIONS);
    const m = parse5424(text);
    assert.equal(m.prival, String(16 * 8 + 3), 'local0, high → error (3)');
    assert.equal(m.version, '1');
    assert.equal(m.timestamp, TIME, 'the event time, so a retry sends the same message');
    assert.equal(m.hostname, 'collector-1');
    assert.equal(m.appname, 'flowmap');
    assert.equal(m.procid, '4242');
    assert.equal(m.msgid, 'finding.new');
    const msg = m.msg ?? '';
    assert.ok(msg.startsWith('\uFEFF'), 'MSG-UTF8 starts with the BOM');
    assert.deepEqual(JSON.parse(msg.slice(1)), event);
    const sd = sdParams(m.sd ?? '');
    assert.equal(sd.id, SD_ID);
    assert.deepEqual(sd.params, { event: event.id, type: 'finding.new', severity: 'high', finding: 'f-0123456789ab', kind: 'undocumented', category: 'backup', baseline: 'bl-1' });
  });

  it('maps finding severities to syslog severities and honours the facility and app name', () => {
    const expected = { critical: 2, high: 3, medium: 4, low: 5, info: 6 } as const;
    for (const [severity, code] of Object.entries(expected)) {
      const text = formatRfc5424(findingEvent(finding({ severity: severity as Finding['severity'] })), { format: 'rfc5424', facility: 13, appName: 'fm' }, OPTIONS);
      const m = parse5424(text);
      assert.equal(m.prival, String(13 * 8 + code), severity);
      assert.equal(m.appname, 'fm');
    }
    assert.equal(parse5424(formatRfc5424(reportEvent({ id: 'rep-1', baseline: 'bl-1' }, { time: TIME }), { format: 'rfc5424' }, OPTIONS)).prival, String(16 * 8 + 6), 'a report is informational');
  });

  it('escapes ", \\ and ] in SD values, keeps them parseable, and writes header fields as printable ASCII', () => {
    const hostile = finding({ id: `f-${HOSTILE}`, kind: 'drift' });
    delete hostile.category;
    const event = findingEvent(hostile, `bl ]"\\ ${HOSTILE}`);
    const text = formatRfc5424(event, { format: 'rfc5424' }, { hostname: 'bad host\u00e9\n', procId: '' });
    const m = parse5424(text);
    assert.equal(m.hostname, 'bad_host__', 'spaces and non-ASCII replaced');
    assert.equal(m.procid, '-', 'empty PROCID is the NILVALUE');
    const { params } = sdParams(m.sd ?? '');
    // Line breaks become spaces in SD (receivers split on them); the rest comes back as it was.
    assert.equal(params.finding, `f-${HOSTILE}`.replace(/[\n\r]/g, ' '));
    assert.equal(params.baseline, `bl ]"\\ ${HOSTILE}`.replace(/[\n\r]/g, ' '));
    assert.deepEqual(JSON.parse((m.msg ?? '').slice(1)), event, 'the JSON MSG keeps every character');
  });

  it('formats report, test and unrecognised events without failing', () => {
    const report = reportEvent({ id: 'rep-9', baseline: 'bl-3', findings: 4 }, { time: TIME });
    assert.deepEqual(sdParams(parse5424(formatRfc5424(report, { format: 'rfc5424' }, OPTIONS)).sd ?? '').params, { event: report.id, type: 'report.completed', severity: 'info', report: 'rep-9', baseline: 'bl-3' });
    const ping = webhookTestEvent('wh_0123456789abcdef', { now: new Date(TIME) });
    parse5424(formatRfc5424(ping, { format: 'rfc5424' }, OPTIONS));
    const junk: FlowmapEvent = { id: 'x', type: 'finding.new', time: TIME, data: { finding: { id: 7, severity: 'apocalyptic' }, baseline: ['x'] } };
    const m = parse5424(formatRfc5424(junk, { format: 'rfc5424' }, OPTIONS));
    assert.equal(m.prival, String(16 * 8 + 6), 'a finding that does not look like one is informational');
    parseCef(formatCef(junk));
  });

  it('carries a CEF record as MSG without BOM and with the NILVALUE as structured data', () => {
    const event = findingEvent(finding());
    const m = parse5424(formatRfc5424(event, { format: 'cef' }, OPTIONS));
    assert.equal(m.sd, '-');
    assert.ok(m.msg?.startsWith('CEF:0|'), m.msg);
    assert.equal(m.msg, formatCef(event));
  });
});

describe('CEF records', () => {
  it('have the seven header fields and standard extension keys for a finding', () => {
    const event = findingEvent(finding());
    const { header, extensions } = parseCef(formatCef(event, { version: '1.2.3' }));
    assert.deepEqual(header, ['CEF:0', 'flowmap', 'flowmap', '1.2.3', 'finding.new/undocumented', 'undocumented backup: app=backup,env=prod -> app=web,env=prod tcp/9090', '8']);
    assert.deepEqual(extensions, {
      rt: String(Date.parse(TIME)),
      externalId: event.id,
      cat: 'backup',
      proto: 'TCP',
      dpt: '9090',
      cs1Label: 'fromGroup',
      cs1: 'app=backup,env=prod',
      cs2Label: 'toGroup',
      cs2: 'app=web,env=prod',
      cs3Label: 'ports',
      cs3: '9090',
      cs4Label: 'findingId',
      cs4: 'f-0123456789ab',
      cs5Label: 'baseline',
      cs5: 'bl-1',
      cs6Label: 'kind',
      cs6: 'undocumented',
      cnt: '1234',
      start: String(Date.parse('2026-02-01T00:00:00.000Z')),
      end: String(Date.parse('2026-02-28T23:00:00.000Z')),
      msg: 'backup agent talks to every server on 9090',
    });
  });

  it('maps severities onto 0-10 and leaves dpt out for several ports', () => {
    const expected = { info: '1', low: '3', medium: '5', high: '8', critical: '10' } as const;
    for (const [severity, code] of Object.entries(expected)) {
      assert.equal(parseCef(formatCef(findingEvent(finding({ severity: severity as Finding['severity'] })))).header[6], code, severity);
    }
    const { extensions } = parseCef(formatCef(findingEvent(finding({ ports: [80, { first: 49152, last: 65535 }] }))));
    assert.equal(extensions.dpt, undefined);
    assert.equal(extensions.cs3, '80,49152-65535');
  });

  it('escapes | and \\ in header fields and =, \\ and line breaks in extensions, so hostile values parse back', () => {
    const hostile = finding({ kind: `undocumented|${HOSTILE}` as Finding['kind'], from: { [`k${HOSTILE}`]: HOSTILE }, explanation: `msg=${HOSTILE} cs9=fake \\` });
    const event = findingEvent(hostile, `bl=${HOSTILE}`);
    const text = formatCef(event, { version: 'v|1\\' });
    assert.ok(!/[\n\r]/.test(text), 'no raw line break anywhere');
    const { header, extensions } = parseCef(text);
    assert.equal(header[3], 'v|1\\');
    assert.equal(header[4], `finding.new/undocumented|${HOSTILE}`.replace(/[\n\r]/g, ' '), 'line breaks are not allowed in headers: spaces');
    assert.equal(extensions.cs6, `undocumented|${HOSTILE}`);
    assert.equal(extensions.cs5, `bl=${HOSTILE}`);
    assert.equal(extensions.msg, `msg=${HOSTILE} cs9=fake \\`);
    assert.equal(extensions.cs9, undefined, 'an injected key stays inside its value');
    assert.equal(extensions.cs1, selectorKey(hostile.from), 'the from group as its canonical selector text');
  });
});

describe('sizes and framing', () => {
  it('cuts an over-long message at a character boundary and never after a lone CEF backslash', () => {
    const text = `${'a'.repeat(10)}€€€`; // € is 3 bytes
    for (let max = 10; max <= 19; max += 1) {
      const cut = truncateUtf8(text, max);
      assert.ok(cut.length <= max);
      assert.equal(Buffer.from(cut.toString('utf8'), 'utf8').length, cut.length, `${max}: whole characters only`);
      assert.ok(!cut.toString('utf8').includes('\uFFFD'));
    }
    assert.equal(truncateUtf8('ab\\\\c', 3, true).toString(), 'ab', 'one backslash of an escaped pair is dropped, not left dangling');
    assert.equal(truncateUtf8('ab\\\\c', 4, true).toString(), 'ab\\\\');
  });

  it('keeps an RFC 5424 message within maxMessageBytes and still well-formed', () => {
    const long = finding({ explanation: 'ü'.repeat(20_000), from: { app: '€'.repeat(500) } });
    for (const format of ['rfc5424', 'cef'] as const) {
      const bytes = syslogMessage(findingEvent(long), { format, maxMessageBytes: 2048 }, OPTIONS);
      assert.ok(bytes.length <= 2048 && bytes.length > 1900, `${format}: ${bytes.length} bytes`);
      const text = bytes.toString('utf8');
      assert.equal(Buffer.byteLength(text), bytes.length, 'valid UTF-8');
      const m = parse5424(text);
      if (format === 'cef') assert.equal(parseCef(m.msg ?? '').header.length, 7);
      else assert.equal(sdParams(m.sd ?? '').params.finding, 'f-0123456789ab');
    }
  });

  it('frames TCP messages by octet count (RFC 6587 §3.4.1), counting bytes, not characters', () => {
    assert.equal(octetCounted(Buffer.from('<134>1 - - - - - - é')).toString(), '21 <134>1 - - - - - - é');
  });
});
