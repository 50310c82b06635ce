// Specification of the literal module: what each constructor writes, everything it refuses, and
// — against a real ClickHouse (18.16 in CI) — that every value, including hostile ones, comes back
// byte-exact while the query around it stays intact. Expected values are computed here with
// Buffer / Date arithmetic, never by the module under test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { isFlowmapError } from '../../core/errors.js';
import { serviceUrl } from '../../test/services.js';
import { identifier, isSql, joinSql, lit, qualified, sql, toText, type IntBits, type Sql } from './literal.js';

function refused(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isFlowmapError(err, 'FLOWMAP_BAD_LITERAL'), `expected FLOWMAP_BAD_LITERAL, got ${String(err)}`);
    assert.equal(err.status, 400);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

/** Smuggles a wrongly typed value past the compiler, as untyped callers (JSON, JS) would. */
function untyped<T>(value: unknown): T {
  return value as T;
}

const utf8Hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex').toUpperCase();
const bytesHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
// reinterpretAsString drops trailing zero bytes (0.0 comes back as ''), so ClickHouse's side is
// padded back to the 8 bytes of a Float64 before comparing.
const padFloat64Hex = (h: unknown): string => String(h).padEnd(16, '0');
const float64Hex = (x: number): string => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b.toString('hex').toUpperCase();
};

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const C0_AND_DEL = String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i), 0x7f);
const LATIN1 = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));

/** Values chosen to break naive quoting; each must round-trip byte-exact. */
const HOSTILE_STRINGS: ReadonlyArray<readonly [string, string]> = [
  ['empty', ''],
  ['single quote', "'"],
  ['doubled quote', "''"],
  ['backslash', '\\'],
  ['backslash-quote', "\\'"],
  ['escaped backslash then quote', "\\\\'"],
  ['trailing backslash', 'abc\\'],
  ['NUL', '\0'],
  ['NUL before a digit', '\x001'],
  ['NUL inside text', 'a\0b'],
  ['newline', '\n'],
  ['CRLF', 'line1\r\nline2'],
  ['statement injection', "'; DROP TABLE t; --"],
  ['block comment', '/* comment */'],
  ['line comment', '-- comment'],
  ['backquote and double quote', '`x` "y"'],
  ['escape spelled out', '\\x41\\n\\0'],
  ['18.16 NULL escape spelled out', '\\N'],
  ['format name', 'x FORMAT TabSeparated'],
  ['emoji with ZWJ', '😀👩‍👩‍👧'],
  ['CJK', '中文字符テスト한국어'],
  ['RTL with override', 'مرحبا \u202Eevil\u202C שלום'],
  ['combining mark', 'e\u0301 a\u0308'],
  ['BOM and line separator', '\uFEFF\u2028\u2029'],
  ['highest code point', '\u{10FFFF}'],
  ['all C0 controls and DEL', C0_AND_DEL],
  ['all Latin-1 code points', LATIN1],
];

void describe('lit.string', () => {
  void it('quotes and escapes quote, backslash and control characters, leaving other text as-is', () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ['abc', "'abc'"],
      ['', "''"],
      ["it's", "'it\\'s'"],
      ['a\\b', "'a\\\\b'"],
      ["\\'", "'\\\\\\''"],
      ['\0', "'\\x00'"],
      ['\b\f\r\n\t', "'\\b\\f\\r\\n\\t'"],
      ['\x01\x07\x0b\x1b\x1f\x7f', "'\\x01\\x07\\x0B\\x1B\\x1F\\x7F'"],
      ['é中😀', "'é中😀'"],
      ['\u0080\u009f', "'\u0080\u009f'"],
      ["'; DROP TABLE t; --", "'\\'; DROP TABLE t; --'"],
    ];
    for (const [input, expected] of table) assert.equal(lit.string(input).text, expected, JSON.stringify(input));
  });

  void it('refuses lone UTF-16 surrogates, which have no UTF-8 form', () => {
    for (const bad of ['\uD800', 'a\uDFFFb', '\uDE00\uD83D', 'x\uD83D']) refused(() => lit.string(bad), /surrogate/);
    assert.equal(lit.string('\uD83D\uDE00').text, "'😀'");
  });

  void it('refuses non-strings', () => {
    for (const bad of [1, null, undefined, {}, ['a']]) refused(() => lit.string(untyped<string>(bad)));
  });
});

void describe('lit.bytes and lit.address', () => {
  void it('writes every byte as \\xHH', () => {
    assert.equal(lit.bytes(Uint8Array.of(0x00, 0x27, 0x5c, 0x41, 0xff)).text, "'\\x00\\x27\\x5C\\x41\\xFF'");
    assert.equal(lit.bytes(new Uint8Array(0)).text, "''");
    assert.equal(lit.bytes(Buffer.from('hi')).text, "'\\x68\\x69'");
  });

  void it('writes a 16-byte address as toFixedString(…, 16)', () => {
    const v4mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1);
    assert.equal(lit.address(v4mapped).text, "toFixedString('\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xFF\\xFF\\xC0\\x00\\x02\\x01', 16)");
  });

  void it('refuses addresses that are not exactly 16 bytes', () => {
    for (const length of [0, 4, 15, 17]) refused(() => lit.address(new Uint8Array(length)), /16 bytes/);
  });

  void it('refuses values that are not a Uint8Array', () => {
    for (const bad of ['abc', [1, 2, 3], new Uint16Array(16), null]) {
      refused(() => lit.bytes(untyped<Uint8Array>(bad)));
      refused(() => lit.address(untyped<Uint8Array>(bad)));
    }
  });
});

void describe('lit.uint and lit.int', () => {
  void it('writes integers in decimal, parenthesising negatives', () => {
    const table: ReadonlyArray<readonly [Sql, string]> = [
      [lit.uint(0, 8), '0'],
      [lit.uint(255, 8), '255'],
      [lit.uint(65535, 16), '65535'],
      [lit.uint(4294967295, 32), '4294967295'],
      [lit.uint(Number.MAX_SAFE_INTEGER, 64), '9007199254740991'],
      [lit.uint(2n ** 64n - 1n, 64), '18446744073709551615'],
      [lit.int(-128, 8), '(-128)'],
      [lit.int(127, 8), '127'],
      [lit.int(-32768, 16), '(-32768)'],
      [lit.int(-2147483648, 32), '(-2147483648)'],
      [lit.int(-(2n ** 63n), 64), '(-9223372036854775808)'],
      [lit.int(2n ** 63n - 1n, 64), '9223372036854775807'],
      [lit.int(-0, 32), '0'],
    ];
    for (const [fragment, expected] of table) assert.equal(fragment.text, expected);
  });

  void it('refuses values outside the width, non-integers and unsafe numbers', () => {
    const uints: ReadonlyArray<readonly [number | bigint, IntBits]> = [
      [-1, 8], [256, 8], [65536, 16], [2 ** 32, 32], [-1n, 64], [2n ** 64n, 64],
      [NaN, 32], [Infinity, 32], [-Infinity, 32], [1.5, 32], [2 ** 53, 64],
    ];
    for (const [value, bits] of uints) refused(() => lit.uint(value, bits));
    const ints: ReadonlyArray<readonly [number | bigint, IntBits]> = [
      [128, 8], [-129, 8], [32768, 16], [2 ** 31, 32], [-(2 ** 31) - 1, 32], [2n ** 63n, 64], [-(2n ** 63n) - 1n, 64],
      [NaN, 64], [0.5, 64], [-(2 ** 53), 64],
    ];
    for (const [value, bits] of ints) refused(() => lit.int(value, bits));
    refused(() => lit.uint(2 ** 53, 64), /bigint/);
  });

  void it('refuses unknown widths and non-numbers', () => {
    refused(() => lit.uint(1, untyped<IntBits>(12)));
    refused(() => lit.int(1, untyped<IntBits>(128)));
    refused(() => lit.uint(untyped<number>('5'), 32));
    refused(() => lit.int(untyped<number>(null), 32));
  });
});

void describe('lit.float', () => {
  void it('writes the shortest round-trip form, always typed Float64', () => {
    const table: ReadonlyArray<readonly [number, string]> = [
      [1.5, '1.5'],
      [3, '3.0'],
      [0, '0.0'],
      [-0, '(-0.0)'],
      [-2.5, '(-2.5)'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [Number.MAX_VALUE, '1.7976931348623157e+308'],
    ];
    for (const [value, expected] of table) assert.equal(lit.float(value).text, expected);
  });

  void it('refuses NaN, infinities, subnormals and non-numbers', () => {
    for (const bad of [NaN, Infinity, -Infinity]) refused(() => lit.float(bad), /finite/);
    for (const bad of [Number.MIN_VALUE, -Number.MIN_VALUE, 1e-310]) refused(() => lit.float(bad), /subnormal/);
    refused(() => lit.float(untyped<number>('1.5')));
    refused(() => lit.float(untyped<number>(1n)));
  });
});

void describe('lit.bool, lit.dateTime and lit.date', () => {
  void it('writes booleans as 1 and 0', () => {
    assert.equal(lit.bool(true).text, '1');
    assert.equal(lit.bool(false).text, '0');
    refused(() => lit.bool(untyped<boolean>(1)));
  });

  void it('writes a DateTime as toDateTime(unix seconds), flooring a Date’s milliseconds', () => {
    assert.equal(lit.dateTime(0).text, 'toDateTime(0)');
    assert.equal(lit.dateTime(4294967295).text, 'toDateTime(4294967295)');
    assert.equal(lit.dateTime(new Date(1999)).text, 'toDateTime(1)');
    assert.equal(lit.dateTime(new Date('2024-05-01T12:00:00.999Z')).text, 'toDateTime(1714564800)');
  });

  void it('refuses DateTimes outside 0..4294967295, fractional seconds, milliseconds and invalid Dates', () => {
    for (const bad of [-1, 4294967296, 1.5, NaN, Infinity, 1_714_564_800_000]) refused(() => lit.dateTime(bad));
    refused(() => lit.dateTime(new Date(NaN)), /invalid Date/);
    refused(() => lit.dateTime(new Date(-1)));
    refused(() => lit.dateTime(new Date(4294967296000)));
    refused(() => lit.dateTime(untyped<number>('1714564800')));
  });

  void it('writes a Date as toDate(YYYY-MM-DD) of its UTC day', () => {
    assert.equal(lit.date(new Date(Date.UTC(2024, 1, 29, 23, 59, 59))).text, "toDate('2024-02-29')");
    assert.equal(lit.date(new Date(0)).text, "toDate('1970-01-01')");
    assert.equal(lit.date(new Date(Date.UTC(2105, 11, 31, 23, 59, 59, 999))).text, "toDate('2105-12-31')");
  });

  void it('refuses Dates before 1970-01-01 or after 2105-12-31, invalid Dates and non-Dates', () => {
    refused(() => lit.date(new Date(-1)));
    refused(() => lit.date(new Date(Date.UTC(2106, 0, 1))));
    refused(() => lit.date(new Date(NaN)));
    refused(() => lit.date(untyped<Date>('2024-01-01')));
    refused(() => lit.date(untyped<Date>(0)));
  });
});

void describe('identifier and qualified', () => {
  void it('backquotes names made of letters, digits and underscores', () => {
    assert.equal(identifier('flows').text, '`flows`');
    assert.equal(identifier('_flows_1h').text, '`_flows_1h`');
    assert.equal(identifier('select').text, '`select`');
    assert.equal(qualified('flowmap', 'flows').text, '`flowmap`.`flows`');
  });

  void it('refuses every other name', () => {
    for (const bad of ['a;drop', '`x`', '', '1a', 'a b', ' a', 'a ', 'a-b', 'a.b', "a'", 'a"', 'a\\', 'a\n', 'é', 'a\0', 'a/*']) {
      refused(() => identifier(bad), /identifier/);
      refused(() => qualified(bad, 'flows'));
      refused(() => qualified('flowmap', bad));
    }
    refused(() => identifier(untyped<string>(undefined)));
  });
});

void describe('lit.array and lit.inList', () => {
  void it('writes arrays as [a, b] and IN lists as (a, b)', () => {
    assert.equal(lit.array([]).text, '[]');
    assert.equal(lit.array([lit.uint(1, 8), lit.int(-2, 8)]).text, '[1, (-2)]');
    assert.equal(lit.array([lit.string("a'"), lit.string('b')]).text, "['a\\'', 'b']");
    assert.equal(lit.inList([lit.uint(1, 8)]).text, '(1)');
    assert.equal(lit.inList([lit.string('a'), lit.string('b')]).text, "('a', 'b')");
  });

  void it('refuses an empty IN list, which has no SQL form and no safe stand-in', () => {
    refused(() => lit.inList([]), /at least one/);
  });

  void it('refuses elements that are not fragments', () => {
    refused(() => lit.array(untyped<Sql[]>(['1'])));
    refused(() => lit.inList(untyped<Sql[]>([lit.uint(1, 8), 2])));
    refused(() => lit.array(untyped<Sql[]>('[1]')));
  });
});

void describe('sql template and joinSql', () => {
  void it('splices fragments into trusted template text', () => {
    const query = sql`SELECT count() FROM ${qualified('flowmap', 'flows')} WHERE proto = ${lit.uint(6, 8)} AND tag = ${lit.string("o'k")}`;
    assert.equal(toText(query), "SELECT count() FROM `flowmap`.`flows` WHERE proto = 6 AND tag = 'o\\'k'");
    assert.equal(sql`SELECT 1`.text, 'SELECT 1');
    assert.equal(sql`SELECT ${sql`${lit.uint(1, 8)} + ${lit.uint(2, 8)}`}`.text, 'SELECT 1 + 2');
  });

  void it('keeps a negative number after a minus sign from forming a -- comment', () => {
    assert.equal(sql`SELECT 5 -${lit.int(-1, 8)}`.text, 'SELECT 5 -(-1)');
    assert.equal(sql`SELECT 5 -${lit.float(-1.5)}`.text, 'SELECT 5 -(-1.5)');
  });

  void it('refuses interpolations that are not fragments, at run time as well as compile time', () => {
    // @ts-expect-error a plain string is not a fragment
    refused(() => sql`SELECT ${'1; DROP TABLE t'}`, /SQL fragments/);
    // @ts-expect-error a number is not a fragment
    refused(() => sql`SELECT ${1}`);
    // @ts-expect-error an object shaped like a fragment is not one
    refused(() => sql`SELECT ${{ text: '1' }}`);
    const copy = untyped<Sql>({ ...lit.uint(1, 8) });
    refused(() => sql`SELECT ${copy}`, /SQL fragments/);
    refused(() => sql`SELECT ${untyped<Sql>(undefined)}`);
  });

  void it('refuses being called with an array instead of a template', () => {
    refused(() => sql(untyped<TemplateStringsArray>(['SELECT 1'])), /template tag/);
    refused(() => sql(untyped<TemplateStringsArray>(Object.freeze(['SELECT 1']))), /template tag/);
  });

  void it('refuses an interpolation inside a quoted string, quoted identifier or comment of the template', () => {
    const x = lit.string('x');
    refused(() => sql`SELECT '${x}'`, /quote/);
    refused(() => sql`SELECT "${x}"`, /dquote/);
    refused(() => sql`SELECT \`${x}\``, /backquote/);
    refused(() => sql`SELECT 1 -- ${x}`, /lineComment/);
    refused(() => sql`SELECT 1 /* ${x} */`, /blockComment/);
    refused(() => sql`SELECT 'it''s ${x}'`, /quote/);
    refused(() => sql`SELECT 'a\\' ${x}'`, /quote/);
  });

  void it('accepts interpolations after quotes and comments close', () => {
    const x = lit.uint(1, 8);
    assert.equal(sql`SELECT 'it''s', 'a\\'b', ${x}`.text, "SELECT 'it''s', 'a\\'b', 1");
    assert.equal(sql`SELECT /* note */ ${x} -- trailing\n, ${x}`.text, 'SELECT /* note */ 1 -- trailing\n, 1');
    assert.equal(sql`SELECT ${x} AS \`a-b\`, ${x} AS "c d"`.text, 'SELECT 1 AS `a-b`, 1 AS "c d"');
  });

  void it('refuses a template that ends inside a quote or comment', () => {
    refused(() => sql`SELECT 'unterminated`, /ends inside/);
    refused(() => sql`SELECT 1 /* unterminated`, /ends inside/);
    refused(() => sql`SELECT 1 -- trailing`, /ends inside/);
  });

  void it('treats // as a line comment and ends line comments at \\n only, as ClickHouse does', () => {
    const x = lit.uint(1, 8);
    refused(() => sql`SELECT 1 // ${x}`, /lineComment/);
    refused(() => sql`SELECT 1 -- note\r${x}`, /lineComment/);
    refused(() => sql`SELECT 1 // trailing`, /ends inside/);
    assert.equal(sql`SELECT 1 // note\n, ${x}`.text, 'SELECT 1 // note\n, 1');
    assert.equal(sql`SELECT 4 / 2, ${x}`.text, 'SELECT 4 / 2, 1');
  });

  void it('refuses $ anywhere in the template: later ClickHouse reads $$…$$ and $tag$…$tag$ as heredoc strings', () => {
    const x = lit.string("'); DROP TABLE t; --");
    // On ClickHouse 26.x the fragment would be the text of the heredoc, its quotes no longer quotes.
    refused(() => sql`SELECT $$${x}$$`, /"\$".*heredoc/);
    refused(() => sql`SELECT $tag$${x}$tag$`, /heredoc/);
    refused(() => sql`SELECT $$a$$`, /heredoc/);
    refused(() => sql`SELECT ${x} AS a$b`, /heredoc/);
    // Inside a quoted string of the template it is refused as well: the rule is on characters.
    refused(() => sql`SELECT '$' AS ${identifier('a')}`, /heredoc/);
    // A fragment may still carry $ inside its own quotes.
    assert.equal(sql`SELECT ${lit.string('$$x$$')}`.text, "SELECT '$$x$$'");
  });

  void it('refuses # anywhere in the template: later ClickHouse reads "# " and "#!" as line comments', () => {
    const x = lit.uint(1, 8);
    refused(() => sql`SELECT 1 # ${x}`, /"#".*line comment/);
    refused(() => sql`SELECT 1 #! ${x}`, /line comment/);
    refused(() => sql`SELECT ${x} # trailing`, /line comment/);
    refused(() => sql`SELECT ${x} AS \`a#b\``, /line comment/);
    refused(() => sql`SELECT 1 -- # ${x}`, /"#"/);
    assert.equal(sql`SELECT ${lit.string('# not a comment')}`.text, "SELECT '# not a comment'");
  });

  void it('refuses /* inside a block comment, which 18.16 does not nest and later releases do', () => {
    const x = lit.uint(1, 8);
    // 18.16 ends the comment at the first */ and would run the fragment; 26.x nests and would not.
    refused(() => sql`SELECT 1 /* a /* b */ ${x} */`, /inside a block comment/);
    refused(() => sql`SELECT 1 /* a /* b */ */, ${x}`, /inside a block comment/);
    refused(() => sql`SELECT 1 /* /*/ ${x}`, /inside a block comment/);
    refused(() => sql`SELECT 1 /*/* */, ${x}`, /inside a block comment/);
    // Comments one after another, or a /* inside a quote, are fine.
    assert.equal(sql`SELECT /* a */ /* b */ ${x}, '/*' /**/`.text, "SELECT /* a */ /* b */ 1, '/*' /**/");
  });

  void it('joins fragments with a constant separator of letters, commas and whitespace', () => {
    const parts = [lit.uint(1, 8), lit.string('a')];
    assert.equal(joinSql(parts, ', ').text, "1, 'a'");
    assert.equal(joinSql([sql`a = ${lit.uint(1, 8)}`, sql`b = ${lit.uint(2, 8)}`], ' AND ').text, 'a = 1 AND b = 2');
    assert.equal(joinSql([], ' OR ').text, '');
    const separator: string = ', ';
    // @ts-expect-error a `string` variable could hold request text; only a literal compiles
    assert.equal(joinSql(parts, separator).text, "1, 'a'");
  });

  void it('refuses separators that could open a quote or comment, and parts that are not fragments', () => {
    for (const bad of ["'", '--', '/*', ';', ', 1) OR (1', '`', '\\']) refused(() => joinSql([], untyped<'x'>(bad)), /separator/);
    refused(() => joinSql(untyped<Sql[]>(['1']), ', '));
  });

  void it('recognises fragments by identity, and freezes them', () => {
    const fragment = lit.uint(1, 8);
    assert.ok(isSql(fragment));
    assert.ok(Object.isFrozen(fragment));
    assert.equal(isSql({ text: '1' }), false);
    assert.equal(isSql({ ...fragment }), false);
    assert.equal(isSql('1'), false);
    refused(() => toText(untyped<Sql>({ text: 'DROP TABLE t' })));
  });
});

// ---------------------------------------------------------------------------------------------
// Against a real ClickHouse
// ---------------------------------------------------------------------------------------------

const clickhouse = serviceUrl('clickhouse');

/** Deterministic PRNG (mulberry32) so a failing random case can be reproduced from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random string weighted towards the characters that break quoting; never a lone surrogate. */
function randomString(random: () => number): string {
  const specials = ["'", '\\', '"', '`', '\n', '\r', '\0', '-', '/', '*', ';', '?', '{', '}'];
  const pick = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const length = pick(0, 24);
  let s = '';
  for (let i = 0; i < length; i++) {
    const r = random();
    let cp: number;
    if (r < 0.25) cp = specials[pick(0, specials.length - 1)]!.codePointAt(0)!;
    else if (r < 0.4) cp = pick(0, 0x20) === 0x20 ? 0x7f : pick(0, 0x1f);
    else if (r < 0.6) cp = pick(0x20, 0x7e);
    else if (r < 0.7) cp = pick(0x80, 0xff);
    else if (r < 0.85) cp = random() < 0.5 ? pick(0x100, 0xd7ff) : pick(0xe000, 0xffff);
    else cp = pick(0x10000, 0x10ffff);
    s += String.fromCodePoint(cp);
  }
  return s;
}

void describe('literals against ClickHouse', { skip: clickhouse.skip }, () => {
  let client: ClickHouseClient;
  const tables: Sql[] = [];

  async function rows(query: Sql): Promise<Record<string, unknown>[]> {
    const result = await client.query({ query: toText(query), format: 'JSONEachRow' });
    return result.json<Record<string, unknown>>();
  }

  async function row(query: Sql): Promise<Record<string, unknown>> {
    const all = await rows(query);
    assert.equal(all.length, 1, `expected one row, got ${JSON.stringify(all)}`);
    return all[0]!;
  }

  async function command(query: Sql): Promise<void> {
    await client.command({ query: toText(query) });
  }

  function tableName(purpose: string): Sql {
    const table = identifier(`literal_test_${purpose}_${process.pid}_${Date.now()}`);
    tables.push(table);
    return table;
  }

  before(() => {
    client = createClient({ url: clickhouse.url });
  });

  after(async () => {
    for (const table of tables) await command(sql`DROP TABLE IF EXISTS ${table}`);
    await client.close();
  });

  void describe('hostile strings', () => {
    for (const [name, value] of HOSTILE_STRINGS) {
      void it(`returns ${name} byte-exact and leaves the query around it intact`, async () => {
        const s = lit.string(value);
        const result = await row(sql`SELECT 'before' AS a, hex(${s}) AS h, toUInt32(length(${s})) AS n, 'after' AS z`);
        assert.deepEqual(result, { a: 'before', h: utf8Hex(value), n: Buffer.byteLength(value, 'utf8'), z: 'after' });
      });
    }

    void it('compares equal to the same bytes written with unhex', async () => {
      const checks = HOSTILE_STRINGS.map(([, value]) => sql`${lit.string(value)} = unhex(${lit.string(utf8Hex(value))})`);
      const result = await row(sql`SELECT ${lit.array(checks)} AS eq`);
      assert.deepEqual(result.eq, checks.map(() => 1));
    });

    void it('returns all 256 byte values byte-exact through lit.bytes', async () => {
      const result = await row(sql`SELECT hex(${lit.bytes(ALL_BYTES)}) AS h, toUInt32(length(${lit.bytes(ALL_BYTES)})) AS n`);
      assert.deepEqual(result, { h: bytesHex(ALL_BYTES), n: 256 });
    });

    void it('stores hostile strings and addresses in String and FixedString(16) columns, byte-exact', async () => {
      const table = tableName('strings');
      await command(sql`CREATE TABLE ${table} (id UInt32, s String, a FixedString(16)) ENGINE = Memory`);
      const addressOf = (i: number): Uint8Array => Uint8Array.of(i, 0x27, 0x5c, 0x00, 0xff, 0x0a, 0x0d, 0x22, 0x60, 0x2d, 0x2d, 0x2f, 0x2a, 0x3b, 0x80, 255 - i);
      const values = HOSTILE_STRINGS.map(([, value], i) => sql`(${lit.uint(i, 32)}, ${lit.string(value)}, ${lit.address(addressOf(i))})`);
      await command(sql`INSERT INTO ${table} VALUES ${joinSql(values, ', ')}`);
      // The other insert path: expressions evaluated by SELECT rather than parsed by VALUES.
      const lastId = HOSTILE_STRINGS.length;
      await command(sql`INSERT INTO ${table} SELECT ${lit.uint(lastId, 32)}, ${lit.bytes(ALL_BYTES)}, ${lit.address(addressOf(lastId))}`);

      const stored = await rows(sql`SELECT id, hex(s) AS s, hex(a) AS a FROM ${table} ORDER BY id`);
      const expected = HOSTILE_STRINGS.map(([, value], i) => ({ id: i, s: utf8Hex(value), a: bytesHex(addressOf(i)) }));
      expected.push({ id: lastId, s: bytesHex(ALL_BYTES), a: bytesHex(addressOf(lastId)) });
      assert.deepEqual(stored, expected);

      const byAddress = await rows(sql`SELECT id FROM ${table} WHERE a = ${lit.address(addressOf(7))}`);
      assert.deepEqual(byAddress, [{ id: 7 }]);
      const byString = await rows(sql`SELECT id FROM ${table} WHERE s IN ${lit.inList([lit.string("'; DROP TABLE t; --"), lit.string('\\')])} ORDER BY id`);
      assert.deepEqual(byString, HOSTILE_STRINGS.flatMap(([, value], i) => (value === "'; DROP TABLE t; --" || value === '\\' ? [{ id: i }] : [])));
    });

    void it('round-trips thousands of random strings byte-exact (seeded, batched)', async () => {
      const seed = 0x5eed1e55;
      const random = prng(seed);
      const strings = Array.from({ length: 4000 }, () => randomString(random));
      // 18.16 parses at most max_query_size (256 KiB) of a SELECT; 250 strings stay far below it.
      for (let start = 0; start < strings.length; start += 250) {
        const batch = strings.slice(start, start + 250);
        const result = await row(sql`SELECT arrayMap(x -> hex(x), ${lit.array(batch.map((s) => lit.string(s)))}) AS h`);
        const got = result.h as string[];
        batch.forEach((s, i) => assert.equal(got[i], utf8Hex(s), `seed ${seed}, string #${start + i}: ${JSON.stringify(s)}`));
      }
    });
  });

  void describe('every type', () => {
    void it('round-trips unsigned and signed integers up to the limits of each width', async () => {
      const cases: Array<readonly [Sql, string]> = [];
      for (const bits of [8, 16, 32, 64] as const) {
        const umax = 2n ** BigInt(bits) - 1n;
        const imin = -(2n ** BigInt(bits - 1));
        cases.push([lit.uint(0, bits), '0'], [lit.uint(umax, bits), umax.toString()]);
        cases.push([lit.int(imin, bits), imin.toString()], [lit.int(-imin - 1n, bits), (-imin - 1n).toString()], [lit.int(-1, bits), '-1']);
      }
      cases.push([lit.uint(Number.MAX_SAFE_INTEGER, 64), '9007199254740991'], [lit.int(-Number.MAX_SAFE_INTEGER, 64), '-9007199254740991']);
      const result = await row(sql`SELECT ${lit.array(cases.map(([fragment]) => sql`toString(${fragment})`))} AS v`);
      assert.deepEqual(result.v, cases.map(([, expected]) => expected));
    });

    void it('reads comments where the template guard does: // is a comment, and only \\n ends a line comment', async () => {
      // Each query is template text only: the guard says it ends in code, and the server agrees.
      assert.deepEqual(await rows(sql`SELECT 1 AS a // , 2 AS b\n`), [{ a: 1 }]);
      assert.deepEqual(await rows(sql`SELECT 1 AS a -- x\r, 2 AS b\n, 3 AS c`), [{ a: 1, c: 3 }]);
      assert.deepEqual(await rows(sql`SELECT 1 AS a /* x */, 2 AS b`), [{ a: 1, b: 2 }]);
    });

    void it('evaluates a negative number after a minus sign as subtraction, not a comment', async () => {
      const result = await row(sql`SELECT 5 -${lit.int(-1, 8)} AS v, 'after' AS z`);
      assert.deepEqual(result, { v: 6, z: 'after' });
    });

    void it('stores each integer width at its limits in columns of that type', async () => {
      const table = tableName('ints');
      await command(sql`CREATE TABLE ${table} (u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, i8 Int8, i16 Int16, i32 Int32, i64 Int64) ENGINE = Memory`);
      const maxRow = sql`(${lit.uint(255, 8)}, ${lit.uint(65535, 16)}, ${lit.uint(4294967295, 32)}, ${lit.uint(2n ** 64n - 1n, 64)}, ${lit.int(127, 8)}, ${lit.int(32767, 16)}, ${lit.int(2147483647, 32)}, ${lit.int(2n ** 63n - 1n, 64)})`;
      const minRow = sql`(${lit.uint(0, 8)}, ${lit.uint(0, 16)}, ${lit.uint(0, 32)}, ${lit.uint(0n, 64)}, ${lit.int(-128, 8)}, ${lit.int(-32768, 16)}, ${lit.int(-2147483648, 32)}, ${lit.int(-(2n ** 63n), 64)})`;
      await command(sql`INSERT INTO ${table} VALUES ${joinSql([maxRow, minRow], ', ')}`);
      const stored = await rows(sql`SELECT toString(u8) AS u8, toString(u16) AS u16, toString(u32) AS u32, toString(u64) AS u64, toString(i8) AS i8, toString(i16) AS i16, toString(i32) AS i32, toString(i64) AS i64 FROM ${table} ORDER BY i8`);
      assert.deepEqual(stored, [
        { u8: '0', u16: '0', u32: '0', u64: '0', i8: '-128', i16: '-32768', i32: '-2147483648', i64: '-9223372036854775808' },
        { u8: '255', u16: '65535', u32: '4294967295', u64: '18446744073709551615', i8: '127', i16: '32767', i32: '2147483647', i64: '9223372036854775807' },
      ]);
    });

    void it('round-trips floats bit-exact as Float64', async () => {
      const values = [0, -0, 1.5, -2.5, 3, 0.1, 1 / 3, -Math.PI, 1e21, 1e-7, 123456789.12345679, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53 + 2];
      const result = await row(sql`SELECT ${lit.array(values.map((v) => sql`hex(reinterpretAsString(${lit.float(v)}))`))} AS bits, ${lit.array(values.map((v) => sql`toTypeName(${lit.float(v)})`))} AS types`);
      assert.deepEqual((result.bits as unknown[]).map(padFloat64Hex), values.map(float64Hex));
      assert.deepEqual(result.types, values.map(() => 'Float64'));
    });

    void it('round-trips booleans as UInt8 1 and 0', async () => {
      const result = await row(sql`SELECT ${lit.bool(true)} AS t, ${lit.bool(false)} AS f, toTypeName(${lit.bool(true)}) AS type`);
      assert.deepEqual(result, { t: 1, f: 0, type: 'UInt8' });
    });

    void it('round-trips DateTimes over the whole UInt32 range as unix seconds', async () => {
      const cases: Array<readonly [Date | number, number]> = [
        [0, 0],
        [1, 1],
        [new Date(1999), 1],
        [1_714_564_800, 1_714_564_800],
        [new Date(Date.UTC(2105, 11, 31, 23, 59, 59, 500)), 4291747199],
        [4294943999, 4294943999],
        [4294967295, 4294967295],
      ];
      const result = await row(sql`SELECT ${lit.array(cases.map(([value]) => sql`toUInt32(${lit.dateTime(value)})`))} AS v`);
      assert.deepEqual(result.v, cases.map(([, seconds]) => seconds));
    });

    void it('writes DateTimes that ClickHouse renders as the same UTC wall time', async () => {
      const moments = [new Date(Date.UTC(2024, 4, 1, 12, 34, 56)), new Date(Date.UTC(2000, 1, 29, 0, 0, 0)), new Date(Date.UTC(2106, 1, 6, 23, 59, 59))];
      const result = await row(sql`SELECT ${lit.array(moments.map((m) => sql`toString(${lit.dateTime(m)}, 'UTC')`))} AS v`);
      assert.deepEqual(result.v, moments.map((m) => m.toISOString().slice(0, 19).replace('T', ' ')));
    });

    void it('round-trips Dates as days since 1970-01-01 up to 2105-12-31', async () => {
      const days = [Date.UTC(1970, 0, 1), Date.UTC(1970, 0, 2), Date.UTC(2024, 1, 29, 23, 59), Date.UTC(2105, 11, 31)].map((ms) => new Date(ms));
      const result = await row(sql`SELECT ${lit.array(days.map((d) => sql`toUInt16(${lit.date(d)})`))} AS n, toString(${lit.date(days[2]!)}) AS s`);
      assert.deepEqual(result, { n: days.map((d) => Math.floor(d.getTime() / 86_400_000)), s: '2024-02-29' });
    });

    void it('stores DateTime, Date, Float64 and UInt8 values in typed columns', async () => {
      const table = tableName('times');
      await command(sql`CREATE TABLE ${table} (t DateTime, d Date, f Float64, b UInt8) ENGINE = Memory`);
      const moment = new Date(Date.UTC(2024, 4, 1, 12, 34, 56, 789));
      await command(sql`INSERT INTO ${table} VALUES (${lit.dateTime(moment)}, ${lit.date(moment)}, ${lit.float(-0.1)}, ${lit.bool(true)})`);
      const result = await row(sql`SELECT toUInt32(t) AS t, toUInt16(d) AS d, hex(reinterpretAsString(f)) AS f, b FROM ${table}`);
      assert.deepEqual({ ...result, f: padFloat64Hex(result.f) }, { t: Math.floor(moment.getTime() / 1000), d: Math.floor(moment.getTime() / 86_400_000), f: float64Hex(-0.1), b: 1 });
    });

    void it('round-trips addresses as 16-byte FixedStrings', async () => {
      const addresses = [new Uint8Array(16), new Uint8Array(16).fill(0xff), Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x27, 0x5c)];
      const result = await row(sql`SELECT ${lit.array(addresses.map((a) => sql`hex(${lit.address(a)})`))} AS h, toTypeName(${lit.address(addresses[0]!)}) AS type`);
      assert.deepEqual(result, { h: addresses.map(bytesHex), type: 'FixedString(16)' });
    });

    void it('uses backquoted identifiers, keywords included, as names', async () => {
      const result = await row(sql`SELECT ${lit.uint(1, 8)} AS ${identifier('from')}, ${lit.uint(2, 8)} AS ${identifier('_x1')}`);
      assert.deepEqual(result, { from: 1, _x1: 2 });
    });

    void it('matches IN lists, including negative numbers', async () => {
      const result = await row(sql`SELECT ${lit.int(-1, 8)} IN ${lit.inList([lit.int(-1, 8), lit.uint(2, 8)])} AS neg, ${lit.string('b')} IN ${lit.inList([lit.string('a')])} AS miss, ${lit.array([])} AS empty`);
      assert.deepEqual(result, { neg: 1, miss: 0, empty: [] });
    });
  });
});
