// SQL literals for ClickHouse: the only way an untrusted value reaches a query.
//
// ClickHouse 18.16 (flowmap's compatibility floor, DESIGN.md §5) has no query parameters
// (`{name:Type}` came in later releases), so every value a request, a config file or a flow carries into a
// query is written into the SQL text. This module owns that writing. It produces `Sql` fragments
// that only it can mint: a literal constructor (`lit.string`, `lit.uint`, `lit.address`, …), an
// identifier (`identifier`, `qualified`), or the `sql` tag, whose interpolations must themselves
// be fragments. There is deliberately no `sql.raw`: text that is not a fragment cannot be spliced
// in, so a query built from fragments is injection-free by construction, and the store's other
// modules never concatenate strings into SQL.
//
// Every constructor validates its value and throws FLOWMAP_BAD_LITERAL (HTTP 400) naming the
// value and what is allowed, rather than writing something ClickHouse would read differently.
// What each one emits, and why, is documented beside it; the behaviour is checked against a real
// ClickHouse 18.16 in literal.test.ts. The `sql` tag's guard on template text is written for every
// release from 18.16 on (newer ones lex more than 18.16 does: `#` comments, nested comments,
// `$$` heredoc strings), since the server flowmap talks to may be any of them.

import { FlowmapError } from '../../core/errors.js';

declare const brand: unique symbol;

/** A piece of SQL text that this module produced, and so is safe to send. */
export interface Sql {
  readonly text: string;
  readonly [brand]: true;
}

// Fragments are recognised by identity, not by shape: an object that merely looks like a fragment
// (say, `{ text }` parsed from JSON) is refused.
const minted = new WeakSet<object>();

function mint(text: string): Sql {
  const fragment = Object.freeze({ text }) as Sql;
  minted.add(fragment);
  return fragment;
}

export function isSql(value: unknown): value is Sql {
  return typeof value === 'object' && value !== null && minted.has(value);
}

/** The text to send to ClickHouse. Refuses anything this module did not produce. */
export function toText(fragment: Sql): string {
  requireSql(fragment, 'toText');
  return fragment.text;
}

function bad(message: string, details: Record<string, unknown>): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_LITERAL', message, { status: 400, details });
}

function shown(value: unknown): string {
  if (typeof value === 'string') return value.length > 80 ? `string(${value.length}) ${JSON.stringify(value.slice(0, 80))}…` : JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}

function requireSql(value: unknown, where: string): asserts value is Sql {
  if (!isSql(value)) {
    throw bad(`${where} accepts only SQL fragments built by store/clickhouse/literal (lit.*, identifier, sql\`\`), got ${shown(value)}`, {
      where,
      value: shown(value),
      allowed: 'an Sql fragment',
    });
  }
}

function requireList(values: readonly Sql[], where: string): void {
  const list: unknown = values;
  if (!Array.isArray(list)) throw bad(`${where} expects an array of fragments`, { where, value: shown(values) });
  values.forEach((value, i) => requireSql(value, `${where} element #${i + 1}`));
}

// ---------------------------------------------------------------------------------------------
// The `sql` tag
// ---------------------------------------------------------------------------------------------

type LexState = 'code' | 'quote' | 'dquote' | 'backquote' | 'lineComment' | 'blockComment';

/**
 * Characters refused anywhere in a template's text. Releases after 18.16 read `#` followed by a
 * space or `!` as a line comment, and `$` as the start of a heredoc string (`$$…$$`, `$tag$…$tag$`)
 * or as part of a bare word (`a$b`), none of which 18.16 knows. Tracking which release the server
 * is would make the guard depend on it; flowmap's queries never need either character outside a
 * literal (a fragment may still carry them inside its own quotes), so the tag refuses them outright.
 */
const FORBIDDEN_IN_TEMPLATE: ReadonlyMap<string, string> = new Map([
  ['#', 'ClickHouse releases after 18.16 read `# ` and `#!` as the start of a line comment'],
  ['$', 'ClickHouse releases after 18.16 read `$$…$$` and `$tag$…$tag$` as heredoc strings'],
]);

/**
 * Advances a small ClickHouse lexer over trusted template text. Only quotes and comments matter:
 * a fragment interpolated inside `'…'` (the classic `'${x}'` mistake) would turn the fragment's
 * own quotes into the end of the author's string and put its content in code position; inside a
 * comment it would silently vanish. Comments are `--` and `//` to the end of the line (`\n` only:
 * a `\r` does not end one), and `/* *\/`, which 18.16 does not nest and later releases do. Where
 * the releases disagree the template is refused rather than lexed one way: `/*` inside a block
 * comment is refused, as are `#` and `$` anywhere (FORBIDDEN_IN_TEMPLATE).
 */
function lex(state: LexState, text: string, index: number): LexState {
  let s = state;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const why = FORBIDDEN_IN_TEMPLATE.get(c);
    if (why !== undefined) {
      throw bad(`sql template text contains ${JSON.stringify(c)}, which is refused anywhere in a template: ${why}, so an interpolation next to it could be read as text or vanish; put such a character in a literal (lit.string) instead`, {
        where: 'sql',
        index,
        character: c,
      });
    }
    switch (s) {
      case 'code':
        if (c === "'") s = 'quote';
        else if (c === '"') s = 'dquote';
        else if (c === '`') s = 'backquote';
        else if (c === '-' && text[i + 1] === '-') { s = 'lineComment'; i++; }
        else if (c === '/' && text[i + 1] === '/') { s = 'lineComment'; i++; }
        else if (c === '/' && text[i + 1] === '*') { s = 'blockComment'; i++; }
        break;
      case 'quote':
      case 'dquote':
      case 'backquote': {
        const close = s === 'quote' ? "'" : s === 'dquote' ? '"' : '`';
        if (c === '\\') i++;
        else if (c === close) {
          // A doubled quote is an escaped quote, still inside.
          if (text[i + 1] === close) i++;
          else s = 'code';
        }
        break;
      }
      case 'lineComment':
        if (c === '\n') s = 'code';
        break;
      case 'blockComment':
        if (c === '/' && text[i + 1] === '*') {
          throw bad('sql template has /* inside a block comment: ClickHouse 18.16 ends the comment at the first */, later releases nest it, so they disagree about where the comment ends', {
            where: 'sql',
            index,
          });
        }
        if (c === '*' && text[i + 1] === '/') { s = 'code'; i++; }
        break;
    }
  }
  return s;
}

/**
 * Builds a fragment from a template whose literal parts are trusted source text and whose
 * interpolations are fragments: sql`SELECT count() FROM ${table} WHERE port = ${lit.uint(p, 16)}`.
 * A plain string or number does not type-check and is refused at run time; so is an interpolation
 * inside a quoted string, quoted identifier or comment of the template, and a template that ends
 * inside one (its fragment would swallow whatever it is later joined to). Template text containing
 * `#` or `$`, or `/*` inside a block comment, is refused too: ClickHouse releases lex those
 * differently (see `lex`).
 */
export function sql(strings: TemplateStringsArray, ...values: readonly Sql[]): Sql {
  // A real template object is frozen and carries `raw`; an array built at run time (perhaps from
  // request text) is not. Not a security boundary against deliberate misuse, a guard against accidents.
  const template: unknown = strings;
  if (!Array.isArray(template) || !Object.isFrozen(template) || !Array.isArray((template as { raw?: unknown }).raw) || template.length !== values.length + 1) {
    throw bad('sql must be used as a template tag: sql`…`', { where: 'sql', allowed: 'a template literal' });
  }
  let text = '';
  let state: LexState = 'code';
  for (let i = 0; i < strings.length; i++) {
    const part = strings[i];
    if (part === undefined) throw bad('sql template contains an invalid escape sequence', { where: 'sql', index: i });
    text += part;
    state = lex(state, part, i);
    if (i === values.length) break;
    const value = values[i];
    requireSql(value, `sql interpolation #${i + 1}`);
    if (state !== 'code') {
      throw bad(`sql interpolation #${i + 1} sits inside a ${state} of the template; fragments bring their own quotes, so write = \${x}, not = '\${x}'`, {
        where: 'sql',
        index: i,
        state,
      });
    }
    text += value.text;
  }
  if (state !== 'code') {
    throw bad(`sql template ends inside a ${state}`, { where: 'sql', state });
  }
  return mint(text);
}

// Separators may be keywords, commas and whitespace only: nothing that opens a quote or a
// comment, or that could form one with its neighbours.
const SEPARATOR = /^[A-Za-z,\s]*$/;

/**
 * Joins fragments with a separator such as ', ', ' AND ', ' OR ' or '\n'. The separator must be a
 * string literal in the source (a `string`-typed variable does not compile) and may contain only
 * letters, commas and whitespace.
 */
export function joinSql<S extends string>(parts: readonly Sql[], separator: string extends S ? never : S): Sql {
  if (typeof separator !== 'string' || !SEPARATOR.test(separator)) {
    throw bad(`joinSql separator ${shown(separator)} may contain only letters, commas and whitespace`, {
      where: 'joinSql',
      value: shown(separator),
      allowed: '[A-Za-z,\\s]*',
    });
  }
  requireList(parts, 'joinSql');
  return mint(parts.map((part) => part.text).join(separator));
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A table, column or database name, e.g. from configuration, written backquoted so that names
 * that happen to be keywords still work. Only `[A-Za-z_][A-Za-z0-9_]*` is accepted: rather than
 * escape arbitrary names we refuse them, since no flowmap object needs one.
 */
export function identifier(name: string): Sql {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw bad(`${shown(name)} is not a valid identifier`, { type: 'identifier', value: shown(name), allowed: IDENTIFIER.source });
  }
  return mint(`\`${name}\``);
}

/** `database`.`table`; both parts follow `identifier`'s rule. */
export function qualified(database: string, table: string): Sql {
  return mint(`${identifier(database).text}.${identifier(table).text}`);
}

// ---------------------------------------------------------------------------------------------
// Literals
// ---------------------------------------------------------------------------------------------

// ClickHouse docs, "Syntax › Literals › String": a string literal is single-quoted; `\'` and
// `\\` must be escaped, and `\b \f \r \n \t \0 \a \v \xHH` are recognised. We escape the quote, the
// backslash and every C0 control character plus DEL, so the query text stays printable on one line
// and a NUL or newline cannot meet a log or proxy that treats it specially. NUL is written
// `\x00`, not `\0`, so that a following digit can never be read as part of the escape. Everything
// else, including all non-ASCII text, is sent as-is: the HTTP body is UTF-8 and ClickHouse stores
// the bytes untouched. `\xHH` takes exactly two hex digits (18.16 reads two bytes blindly), so it
// is always written with two.
const NAMED_ESCAPES: Readonly<Record<string, string>> = {
  "'": "\\'",
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\r': '\\r',
  '\n': '\\n',
  '\t': '\\t',
};

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NEEDS_ESCAPE = /[\x00-\x1f\x7f'\\]/g;
// With the `u` flag a well-formed surrogate pair is one code point, so this finds lone halves only.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function hex2(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0').toUpperCase()}`;
}

function escapeChar(c: string): string {
  return NAMED_ESCAPES[c] ?? hex2(c.charCodeAt(0));
}

function string(value: string): Sql {
  if (typeof value !== 'string') throw bad(`${shown(value)} is not a string`, { type: 'String', value: shown(value), allowed: 'a string' });
  const surrogate = LONE_SURROGATE.exec(value);
  if (surrogate !== null) {
    throw bad(`string contains a lone UTF-16 surrogate at index ${surrogate.index}, which has no UTF-8 form`, {
      type: 'String',
      value: shown(value),
      index: surrogate.index,
      allowed: 'well-formed Unicode text',
    });
  }
  return mint(`'${value.replace(NEEDS_ESCAPE, escapeChar)}'`);
}

function requireBytes(value: Uint8Array, type: string): void {
  if (!(value instanceof Uint8Array)) throw bad(`${shown(value)} is not a Uint8Array`, { type, value: shown(value), allowed: 'a Uint8Array' });
}

function byteText(value: Uint8Array): string {
  let text = "'";
  for (const byte of value) text += hex2(byte);
  return `${text}'`;
}

/** Arbitrary bytes (binary String or FixedString content): every byte written as `\xHH`. */
function bytes(value: Uint8Array): Sql {
  requireBytes(value, 'bytes');
  return mint(byteText(value));
}

/** A 16-byte address (IPv4 as ::ffff:a.b.c.d) for a FixedString(16) column. */
function address(value: Uint8Array): Sql {
  requireBytes(value, 'FixedString(16)');
  if (value.length !== 16) {
    throw bad(`an address must be 16 bytes, got ${value.length}`, { type: 'FixedString(16)', length: value.length, allowed: '16 bytes' });
  }
  return mint(`toFixedString(${byteText(value)}, 16)`);
}

export type IntBits = 8 | 16 | 32 | 64;

const BITS: readonly IntBits[] = [8, 16, 32, 64];

// A negative number is parenthesised: `x -${lit.int(-1, 8)}` would otherwise read `x --1`, and
// `--` starts a comment that swallows the rest of the line.
function signed(text: string): string {
  return text.startsWith('-') ? `(${text})` : text;
}

function integer(value: number | bigint, bits: IntBits, isSigned: boolean): Sql {
  const type = `${isSigned ? 'Int' : 'UInt'}${bits}`;
  if (!BITS.includes(bits)) throw bad(`${shown(bits)} is not an integer width`, { type, allowed: '8, 16, 32 or 64' });
  const min = isSigned ? -(1n << BigInt(bits - 1)) : 0n;
  const max = isSigned ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const allowed = `an integer in ${min}..${max}`;
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'number' && Number.isInteger(value)) {
    // 2**53 and beyond are not exact as numbers; whatever produced this one may have rounded.
    throw bad(`${shown(value)} is beyond Number.MAX_SAFE_INTEGER; pass a bigint`, { type, value: shown(value), allowed: `${allowed} (bigint beyond 2^53-1)` });
  } else throw bad(`${shown(value)} is not an integer`, { type, value: shown(value), allowed });
  if (n < min || n > max) throw bad(`${shown(value)} is out of range for ${type}`, { type, value: shown(value), allowed });
  // Written in decimal: ClickHouse gives the literal the narrowest type that holds it and widens
  // it on comparison or insert, so a plain number also stays on the fast path of VALUES parsing.
  return mint(signed(n.toString()));
}

/** Unsigned integer, range-checked for `bits`. Numbers must be safe integers; use bigint beyond 2^53-1. */
function uint(value: number | bigint, bits: IntBits): Sql {
  return integer(value, bits, false);
}

/** Signed integer, range-checked for `bits`. Numbers must be safe integers; use bigint beyond ±(2^53-1). */
function int(value: number | bigint, bits: IntBits): Sql {
  return integer(value, bits, true);
}

const MIN_NORMAL = 2.2250738585072014e-308;

/**
 * A Float64. Finite only: NaN and ±Infinity are refused rather than mapped to `nan`/`inf`, since
 * no flowmap value legitimately holds them and a NaN in a filter silently matches nothing.
 * Subnormals are refused too: 18.16's parser rejects `5e-324` as a syntax error (strtod reports
 * ERANGE). JavaScript's shortest round-trip form is written, with `.0` added to integral values
 * so ClickHouse types the literal Float64 rather than an integer.
 */
function float(value: number): Sql {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw bad(`${shown(value)} is not a finite number`, { type: 'Float64', value: shown(value), allowed: 'a finite number' });
  }
  if (value !== 0 && Math.abs(value) < MIN_NORMAL) {
    throw bad(`${shown(value)} is subnormal, which ClickHouse 18.16 cannot parse`, { type: 'Float64', value: shown(value), allowed: `0 or |x| >= ${MIN_NORMAL}` });
  }
  let text = Object.is(value, -0) ? '-0' : String(value);
  if (!/[.e]/.test(text)) text += '.0';
  return mint(signed(text));
}

/** A boolean as ClickHouse spells it on 18.16 (no Bool type): UInt8 1 or 0. */
function bool(value: boolean): Sql {
  if (typeof value !== 'boolean') throw bad(`${shown(value)} is not a boolean`, { type: 'UInt8', value: shown(value), allowed: 'true or false' });
  return mint(value ? '1' : '0');
}

const MAX_DATETIME = 4294967295;

/**
 * A DateTime as `toDateTime(<unix seconds>)`, which is independent of the server and session time
 * zone. Accepts a Date (milliseconds are floored) or a number of seconds, which must be an integer
 * (a fractional or millisecond value is refused, not guessed at). The range is DateTime's UInt32:
 * 0..4294967295. On 18.16 the stored number round-trips over the whole range, but the text form
 * and date functions (toStartOfHour, …) wrap to 1970 after 2106-02-06 23:59:59 (4294943999), and
 * 0 prints as `0000-00-00 00:00:00`.
 */
function dateTime(value: Date | number): Sql {
  let seconds: number;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw bad('invalid Date', { type: 'DateTime', value: shown(value), allowed: 'a valid Date' });
    seconds = Math.floor(ms / 1000);
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    seconds = value;
  } else {
    throw bad(`${shown(value)} is not a Date or a whole number of seconds`, { type: 'DateTime', value: shown(value), allowed: 'a Date or integer unix seconds' });
  }
  if (seconds < 0 || seconds > MAX_DATETIME) {
    throw bad(`${shown(value)} is outside DateTime's range (unix seconds 0..${MAX_DATETIME}; milliseconds by mistake?)`, {
      type: 'DateTime',
      value: shown(value),
      allowed: `unix seconds 0..${MAX_DATETIME}`,
    });
  }
  return mint(`toDateTime(${seconds})`);
}

// 18.16 parses date strings only up to 2105-12-31 and turns later ones into 0000-00-00 without an
// error (newer releases go to 2149-06-06); 1970-01-01 is day 0, the start of the type.
const MIN_DATE_MS = Date.UTC(1970, 0, 1);
const MAX_DATE_MS = Date.UTC(2105, 11, 31, 23, 59, 59, 999);

/** A Date as `toDate('YYYY-MM-DD')`, taking the UTC calendar day; 1970-01-01..2105-12-31. */
function date(value: Date): Sql {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw bad(`${shown(value)} is not a valid Date`, { type: 'Date', value: shown(value), allowed: 'a valid Date' });
  }
  const ms = value.getTime();
  if (ms < MIN_DATE_MS || ms > MAX_DATE_MS) {
    throw bad(`${shown(value)} is outside the Date range ClickHouse 18.16 can parse`, { type: 'Date', value: shown(value), allowed: '1970-01-01..2105-12-31 (UTC)' });
  }
  return mint(`toDate('${value.toISOString().slice(0, 10)}')`);
}


/** An array literal `[a, b]`; `[]` when empty (Array(Nothing), which converts to any array type). */
function array(values: readonly Sql[]): Sql {
  requireList(values, 'lit.array');
  return mint(`[${values.map((v) => v.text).join(', ')}]`);
}

/**
 * The right-hand side of IN: `(a, b)`. An empty list is refused: `x IN ()` is a syntax error, and
 * a stand-in that matches nothing would match everything under NOT IN. The caller knows which it
 * means and should not run the query (or drop the condition) itself.
 */
function inList(values: readonly Sql[]): Sql {
  requireList(values, 'lit.inList');
  if (values.length === 0) {
    throw bad('an IN list needs at least one value; handle the empty selection before building the query', { where: 'lit.inList', allowed: 'one or more fragments' });
  }
  return mint(`(${values.map((v) => v.text).join(', ')})`);
}

/** Literal constructors, one per ClickHouse type flowmap writes. */
export const lit = Object.freeze({
  string,
  bytes,
  address,
  uint,
  int,
  float,
  bool,
  dateTime,
  date,
  array,
  inList,
});
