// Inventory CSV (DESIGN.md §9): a header row, then one binding or rule a row.
//
//   ip,name,app,env,owner,valid_from,valid_to
//   10.0.1.5,billing-api,billing,prod,team-pay,2024-01-01T00:00:00Z,
//   cidr,name,env,location
//   10.20.0.0/16,dc1 prod,prod,dc1
//
// Columns (names case-insensitive): `ip` or `cidr` (a file may have both; each row fills one),
// `name`, optional `valid_from`/`valid_to` (ISO-8601; a time without zone is UTC), optional
// `criticality` (low, medium, high, critical); every other column is a label key, and an empty cell
// means the label is absent. An `ip` row binds the address to the workload `name` (the workload's
// id is its name) for [valid_from, valid_to), open-ended where empty. A `cidr` row is a label rule;
// rules have no validity, so a cidr row with valid_from/valid_to is refused. Rows naming one
// workload with different labels keep the first row's labels and report the disagreement.
//
// Records follow RFC 4180: fields in double quotes may hold commas, line breaks and doubled
// quotes (""); CRLF or LF line ends; a leading UTF-8 BOM is ignored. A problem names the line the
// record starts on.
import { parsePrefix, tryParseAddress } from '../../core/ip.js';
import { isFlowmapError } from '../../core/errors.js';
import type { CidrRule } from '../model.js';
import { isCriticality, parseIsoTime, type ImportProblem, type ParsedBinding, type ParsedInventory, type ParsedWorkload } from './types.js';

interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
  /** Set when the record is malformed; its fields are then unreliable. */
  readonly error?: string;
}

/** Splits text into RFC 4180 records. Blank lines are skipped. */
export function readCsvRecords(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < text.length) {
    const startLine = line;
    const fields: string[] = [];
    let error: string | undefined;
    let field = '';
    for (;;) {
      if (text[i] === '"' && field === '') {
        // Quoted field: runs to the closing quote; "" is a literal quote.
        i++;
        let closed = false;
        while (i < text.length) {
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (!closed) {
          error = 'a quoted field is not closed before the end of the file';
          break;
        }
        const after = text[i];
        if (after !== undefined && after !== ',' && after !== '\n' && after !== '\r') {
          error ??= `unexpected ${JSON.stringify(after)} after a closing quote (RFC 4180: a quote inside a field is doubled and the field quoted)`;
          while (i < text.length && text[i] !== ',' && text[i] !== '\n') i++;
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') error ??= 'a quote inside an unquoted field (RFC 4180: quote the field and double the quote)';
          field += text[i];
          i++;
        }
      }
      fields.push(field);
      field = '';
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    const blank = fields.length === 1 && fields[0] === '' && error === undefined;
    if (!blank) records.push(error === undefined ? { line: startLine, fields } : { line: startLine, fields, error });
  }
  return records;
}

const KNOWN = new Set(['ip', 'cidr', 'name', 'valid_from', 'valid_to', 'criticality']);

export function parseCsvInventory(text: string): ParsedInventory {
  const problems: ImportProblem[] = [];
  const workloads = new Map<string, ParsedWorkload>();
  const bindings: ParsedBinding[] = [];
  const rules: CidrRule[] = [];
  const out = (): ParsedInventory => ({ format: 'csv', workloads: [...workloads.values()], bindings, rules, problems });
  const records = readCsvRecords(text);
  const header = records[0];
  if (header === undefined) return out();
  if (header.error !== undefined) {
    problems.push({ line: header.line, reason: 'bad-csv', detail: `header: ${header.error}` });
    return out();
  }
  const columns = header.fields.map((f) => f.trim());
  const lower = columns.map((c) => c.toLowerCase());
  const at = (name: string): number => lower.indexOf(name);
  const ipColumn = at('ip');
  const cidrColumn = at('cidr');
  const nameColumn = at('name');
  if (ipColumn < 0 && cidrColumn < 0) {
    problems.push({ line: header.line, reason: 'missing-column', detail: `the header needs an 'ip' or 'cidr' column (found: ${columns.join(', ')})` });
    return out();
  }
  const labelColumns = columns.map((c, i) => ({ key: c, i })).filter(({ key, i }) => key !== '' && !KNOWN.has(lower[i] ?? ''));

  for (const record of records.slice(1)) {
    const problem = (reason: ImportProblem['reason'], detail: string): void => {
      problems.push({ line: record.line, reason, detail });
    };
    if (record.error !== undefined) {
      problem('bad-csv', record.error);
      continue;
    }
    if (record.fields.length !== columns.length) {
      problem('bad-csv', `${record.fields.length} fields where the header has ${columns.length}`);
      continue;
    }
    const cell = (i: number): string => (i < 0 ? '' : (record.fields[i] ?? '').trim());
    const labels: Record<string, string> = {};
    for (const { key, i } of labelColumns) if (cell(i) !== '') labels[key] = cell(i);
    const ip = cell(ipColumn);
    const cidr = cell(cidrColumn);
    const name = cell(nameColumn);
    const validFrom = cell(at('valid_from'));
    const validTo = cell(at('valid_to'));
    const criticality = cell(at('criticality'));
    if (ip !== '' && cidr !== '') {
      problem('bad-csv', `both ip '${ip}' and cidr '${cidr}' are set; a row is either a binding or a rule`);
      continue;
    }
    if (ip === '' && cidr === '') {
      problem('missing-field', "neither 'ip' nor 'cidr' is set");
      continue;
    }
    if (criticality !== '' && !isCriticality(criticality)) {
      problem('bad-criticality', `criticality '${criticality}' is not one of low, medium, high, critical`);
      continue;
    }
    if (cidr !== '') {
      if (validFrom !== '' || validTo !== '') {
        problem('bad-interval', `CIDR rules have no validity; remove valid_from/valid_to from the '${cidr}' row`);
        continue;
      }
      try {
        const prefix = parsePrefix(cidr);
        rules.push(name === '' ? { prefix, labels } : { prefix, labels, name });
      } catch (err) {
        if (!isFlowmapError(err)) throw err;
        problem('bad-cidr', err.message);
      }
      continue;
    }
    // `ip` may be written as a host prefix (10.0.0.1/32), as some exports do.
    const host = /^(.*)\/(32|128)$/.exec(ip);
    let address = tryParseAddress(host?.[1] ?? ip);
    // /32 is a host only in IPv4 and /128 only in IPv6 (2001:db8::/32 is a prefix, not a host).
    if (address !== undefined && host !== undefined && host !== null && (host[1]?.includes(':') === true) !== (host[2] === '128')) address = undefined;
    if (address === undefined) {
      problem('bad-address', `'${ip}' is not an IPv4 or IPv6 address${ip.includes('/') ? " (a prefix belongs in the 'cidr' column)" : ''}`);
      continue;
    }
    if (name === '') {
      problem('missing-field', `the binding of ${ip} has no workload name`);
      continue;
    }
    const from = validFrom === '' ? 0 : parseIsoTime(validFrom);
    const to = validTo === '' ? Infinity : parseIsoTime(validTo);
    if (from === undefined || to === undefined) {
      problem('bad-time', `'${from === undefined ? validFrom : validTo}' is not an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)`);
      continue;
    }
    if (!(to > from)) {
      problem('bad-interval', `valid_to ${validTo} is not after valid_from ${validFrom}`);
      continue;
    }
    const known = workloads.get(name);
    if (known === undefined) {
      workloads.set(name, { id: name, name, labels, ...(criticality === '' ? {} : { criticality }) });
    } else if (JSON.stringify(sorted(known.labels)) !== JSON.stringify(sorted(labels))) {
      problem('conflicting-labels', `workload '${name}' has other labels on an earlier row; kept those (${JSON.stringify(known.labels)}), bound ${ip} anyway`);
    }
    bindings.push({ address, workloadId: name, from, to });
  }
  return out();
}

function sorted(labels: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
