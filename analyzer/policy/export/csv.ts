// CSV export for review (RFC 4180): one row per rule and exception in force — expired exceptions
// drop out here as from every other export (issue 9) — with the evidence a reviewer weighs (whether
// it is documented, its category, confidence, flows, days seen, last seen), so a spreadsheet shows
// exactly what the policy allows and why.
// Cells a spreadsheet would run as a formula (starting with = + - @, tab or CR) are prefixed with
// a single quote (OWASP "CSV injection"), at the cost of that quote showing in the cell.
import { sortPorts } from '../selectors.js';
import { compareRules, enforcedRules, portList, type Rendered } from './rules.js';
import type { ExportInput } from '../types.js';

export const CSV_COLUMNS = ['rule', 'type', 'from', 'to', 'protocol', 'ports', 'owner', 'expires', 'comment', 'documented', 'category', 'confidence', 'flows', 'days_seen', 'last_seen'] as const;

function cell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function renderCsv(input: ExportInput): Rendered {
  const rows: string[][] = [[...CSV_COLUMNS]];
  const { rules, skipped } = enforcedRules(input);
  for (const rule of [...rules].sort(compareRules)) {
    const review = rule.review;
    rows.push([
      rule.id,
      rule.exception === undefined ? 'rule' : 'exception',
      rule.from.key,
      rule.to.key,
      rule.protocol,
      portList(sortPorts(rule.ports), '-').replace(/,/g, ' '),
      rule.exception?.owner ?? '',
      rule.exception?.expires ?? '',
      rule.comment,
      review === undefined ? '' : review.documented ? 'yes' : 'no',
      review?.category ?? '',
      review === undefined ? '' : String(review.confidence),
      review === undefined ? '' : String(review.flows),
      review === undefined ? '' : String(review.daysSeen),
      review?.lastSeen ?? '',
    ]);
  }
  // RFC 4180 §2: records end with CRLF.
  return { text: rows.map((r) => r.map(cell).join(',') + '\r\n').join(''), skipped };
}
