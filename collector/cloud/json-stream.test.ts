import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJsonRecordExtractor } from './json-stream.js';

interface Seen {
  records: { text: string; line: number; buffered: number }[];
  errors: { detail: string; line: number }[];
}

function run(input: string, chunkSize = Infinity, options = {}): Seen & { peak: number; buffered: number } {
  const seen: Seen = { records: [], errors: [] };
  const extractor = createJsonRecordExtractor(
    {
      record: (text, line) => seen.records.push({ text, line, buffered: extractor.bufferedBytes }),
      error: (detail, line) => seen.errors.push({ detail, line }),
    },
    options,
  );
  const bytes = Buffer.from(input, 'utf8');
  const step = Number.isFinite(chunkSize) ? chunkSize : bytes.length;
  for (let i = 0; i < bytes.length; i += step) extractor.write(bytes.subarray(i, i + step));
  const buffered = extractor.bufferedBytes;
  extractor.end();
  return { ...seen, peak: extractor.peakBufferedBytes, buffered };
}

const texts = (seen: Seen): string[] => seen.records.map((r) => r.text);

describe('json-stream record extractor', () => {
  it('cuts out each element of the top-level records array, with the line it starts on', () => {
    const doc = '{"other": {"records": [1]},\n "records": [\n  {"a": "x,]}\\"{"},\n  {"b": [1, {"c": 2}]}\n ], "tail": [3]}';
    const seen = run(doc);
    assert.deepEqual(texts(seen), ['{"a": "x,]}\\"{"}', '{"b": [1, {"c": 2}]}']);
    assert.deepEqual(
      seen.records.map((r) => r.line),
      [3, 4],
    );
    assert.deepEqual(seen.errors, []);
  });

  it('reads JSON lines, wrapper documents one per line, and a top-level array', () => {
    const input = '{"r": 1}\n{"records": [{"r": 2}, {"r": 3}]}\n[{"r": 4}, 5, "six"]\n';
    const seen = run(input);
    assert.deepEqual(texts(seen), ['{"r": 1}', '{"r": 2}', '{"r": 3}', '{"r": 4}', '5', '"six"']);
    assert.deepEqual(
      seen.records.map((r) => r.line),
      [1, 2, 2, 3, 3, 3],
    );
  });

  it('gives the same records fed 1 byte and 7 bytes at a time, multi-byte characters included', () => {
    const doc = '{"records":[{"name":"Zürich ☃ 😀","n":1},{"name":"\\u00e9\\\\","n":[2,{"x":"]"}]}]}';
    const whole = run(doc);
    assert.equal(whole.records.length, 2);
    assert.deepEqual(JSON.parse(whole.records[0]?.text ?? ''), { name: 'Zürich ☃ 😀', n: 1 });
    assert.deepEqual(texts(run(doc, 1)), texts(whole));
    assert.deepEqual(texts(run(doc, 7)), texts(whole));
  });

  it('keeps at most the record in progress, and releases it before handing the record out', () => {
    const record = (i: number): string => `{"i":${i},"pad":"${'x'.repeat(i % 50)}"}`;
    const all = Array.from({ length: 500 }, (_, i) => record(i));
    const longest = Math.max(...all.map((r) => Buffer.byteLength(r)));
    const seen = run(`{"records":[${all.join(',')}]}`, 7);
    assert.equal(seen.records.length, 500);
    assert.ok(seen.peak <= longest, `peak ${seen.peak} > longest record ${longest}`);
    assert.ok(seen.peak > 0);
    assert.ok(
      seen.records.every((r) => r.buffered === 0),
      'buffer released before each record is handed out',
    );
  });

  it('holds exactly the bytes of a partial record, and nothing once a chunk ends between records', () => {
    const records: string[] = [];
    const extractor = createJsonRecordExtractor({ record: (text) => records.push(text), error: () => assert.fail('no error expected') });
    extractor.write(Buffer.from('{"records":[{"a":1},'));
    assert.equal(extractor.bufferedBytes, 0);
    extractor.write(Buffer.from('{"b":"12345'));
    assert.equal(extractor.bufferedBytes, 11);
    extractor.write(Buffer.from('6"}]}'));
    assert.equal(extractor.bufferedBytes, 0);
    extractor.end();
    assert.deepEqual(records, ['{"a":1}', '{"b":"123456"}']);
  });

  it('reports a document cut short, after delivering every record complete before the cut', () => {
    const all = Array.from({ length: 10 }, (_, i) => `{"i":${i}}`);
    const doc = `{"records":[\n${all.join(',\n')}\n]}`;
    const cut = Math.floor(doc.length / 2);
    const complete = all.filter((r) => doc.indexOf(r) + r.length <= cut);
    const seen = run(doc.slice(0, cut));
    assert.deepEqual(texts(seen), complete);
    assert.equal(seen.errors.length, 1);
    assert.match(seen.errors[0]?.detail ?? '', /cut short/);
    assert.match(seen.errors[0]?.detail ?? '', new RegExp(`${complete.length} complete records`));
  });

  it('reports a document cut between records', () => {
    const seen = run('{"records":[{"a":1},');
    assert.deepEqual(texts(seen), ['{"a":1}']);
    assert.equal(seen.errors.length, 1);
    assert.match(seen.errors[0]?.detail ?? '', /truncated/);
  });

  it('skips lines that are not JSON once per run, and carries on with the next record', () => {
    const seen = run('{"a":1}\nnot json\nstill not\n{"b":2}\n');
    assert.deepEqual(texts(seen), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(
      seen.errors.map((e) => e.line),
      [2],
    );
  });

  it('resynchronizes after a JSON line cut short (a line break inside a string)', () => {
    const seen = run('{"a":"cut\n{"b":2}\n');
    assert.deepEqual(texts(seen), ['{"b":2}']);
    assert.equal(seen.errors.length, 1);
    assert.equal(seen.errors[0]?.line, 1);
  });

  it('reports a bracket mismatch with its line', () => {
    const seen = run('{"records":[\n{"a":[1}\n]}');
    assert.deepEqual(texts(seen), []);
    assert.ok(seen.errors.length >= 1);
    assert.match(seen.errors[0]?.detail ?? '', /unexpected '\}' at line 2/);
  });

  it('skips a record over maxRecordBytes without buffering it, and reads the next', () => {
    const big = `{"big":"${'y'.repeat(1000)}"}`;
    const seen = run(`{"records":[{"a":1},${big},{"b":2}]}`, 64, { maxRecordBytes: 100 });
    assert.deepEqual(texts(seen), ['{"a":1}', '{"b":2}']);
    assert.equal(seen.errors.length, 1);
    assert.match(seen.errors[0]?.detail ?? '', /larger than 100 bytes/);
    assert.ok(seen.peak <= 100 + 64, `peak ${seen.peak}`);
  });
});

describe('json-stream JSON lines recovery', () => {
  it('reads on after a line cut short outside a string', () => {
    const seen = run('{"a":[1,2\n{"b":2}\n{"c":\n  {"d":3}\n}\n', 3);
    assert.deepEqual(texts(seen), ['{"b":2}', '{"c":\n  {"d":3}\n}']);
    assert.deepEqual(
      seen.errors.map((e) => e.line),
      [1],
    );
    assert.match(seen.errors[0]?.detail ?? '', /cut short \(line 2 starts a new one\)/);
  });
});
