// What every inventory importer returns, and the helpers they share: ISO-8601 times, label
// checks, JSON walking with paths, and the "address reappears" rule for sources that list current
// owners (kubectl, EC2). Importers never throw on bad input: a bad row or object is a problem
// with its line (text formats) or JSON path, and is skipped.
import type { Address } from '../../core/ip.js';
import type { CidrRule, Criticality, Labels } from '../model.js';
import { CRITICALITIES } from '../model.js';

export const IMPORT_FORMATS = ['csv', 'json', 'kubectl', 'ec2'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** A workload as a file states it; the import stamps its source. */
export interface ParsedWorkload {
  readonly id: string;
  readonly name: string;
  readonly labels: Labels;
  readonly criticality?: Criticality;
}

/** A binding as a file states it; the import stamps its source and import time. */
export interface ParsedBinding {
  readonly address: Address;
  readonly workloadId: string;
  readonly from: number;
  readonly to: number;
}

export type ProblemReason =
  | 'bad-json'
  | 'unknown-shape'
  | 'bad-csv'
  | 'missing-column'
  | 'bad-address'
  | 'bad-cidr'
  | 'bad-time'
  | 'bad-interval'
  | 'bad-labels'
  | 'bad-criticality'
  | 'missing-field'
  | 'conflicting-labels';

export interface ImportProblem {
  /** 1-based line in the file (CSV, and JSON syntax errors). */
  readonly line?: number;
  /** JSONPath-like location (`$.items[3].status.podIP`) for JSON formats. */
  readonly path?: string;
  readonly reason: ProblemReason;
  readonly detail: string;
}

export interface ParsedInventory {
  readonly format: ImportFormat;
  readonly workloads: ParsedWorkload[];
  readonly bindings: ParsedBinding[];
  readonly rules: CidrRule[];
  readonly problems: ImportProblem[];
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/**
 * ISO-8601 date or date-time to Unix seconds (fractions kept); undefined when it is not one. A
 * date-time without a zone is taken as UTC, not local time, so an import means the same on every
 * machine.
 */
export function parseIsoTime(text: string): number | undefined {
  const m = ISO_TIME.exec(text.trim());
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  // Date.parse accepts 2024-02-30 as March 1st; a calendar check refuses it.
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)) return undefined;
  let offset = 0;
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offset = sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2) || '0') * 60);
  }
  const base = Date.UTC(year, month - 1, day, Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)) / 1000;
  return base + (fraction === undefined ? 0 : Number(fraction)) - offset;
}

export function isCriticality(text: string): text is Criticality {
  return (CRITICALITIES as readonly string[]).includes(text);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A label map from JSON: an object of non-empty keys and string values; else a reason. */
export function readLabels(value: unknown): { labels: Record<string, string> } | { error: string } {
  if (value === undefined || value === null) return { labels: {} };
  if (!isRecord(value)) return { error: 'labels must be an object of strings' };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '') return { error: 'a label key is empty' };
    if (typeof v !== 'string') return { error: `label '${k}' is ${JSON.stringify(v)}, not a string` };
    labels[k] = v;
  }
  return { labels };
}

/** One source's claim that an address belonged to a workload from a time on. */
export interface AddressClaim {
  readonly address: Address;
  readonly workloadId: string;
  readonly from: number;
  /** When the source knows the claim ended (a pod's deletionTimestamp); else Infinity. */
  readonly until: number;
}

/**
 * For sources that list who holds an address now and since when (pods, instances): a claim lasts
 * until its own end or until the same address is claimed by a different workload later, whichever
 * is first. Overlapping claims of one workload on one address (several host-network pods on a
 * node) merge into one binding from the earliest.
 */
export function claimsToBindings(claims: readonly AddressClaim[]): ParsedBinding[] {
  const byAddress = new Map<string, AddressClaim[]>();
  for (const c of claims) {
    const key = Buffer.from(c.address).toString('hex');
    const list = byAddress.get(key);
    if (list === undefined) byAddress.set(key, [c]);
    else list.push(c);
  }
  const out: ParsedBinding[] = [];
  for (const list of byAddress.values()) {
    // By start; of two claims from the same instant, the one still open goes last, so it is the
    // one that holds the address (the other ended, or never really had it).
    list.sort((a, b) => a.from - b.from || (a.until === b.until ? 0 : a.until === Infinity ? 1 : b.until === Infinity ? -1 : a.until - b.until));
    for (let i = 0; i < list.length; i++) {
      const claim = list[i] as AddressClaim;
      let until = claim.until;
      let j = i + 1;
      for (; j < list.length; j++) {
        const next = list[j] as AddressClaim;
        if (next.workloadId !== claim.workloadId || next.from > until) break;
        until = Math.max(until, next.until);
      }
      const next = list[j];
      if (next !== undefined) until = Math.min(until, next.from);
      // An empty interval (a claim cut off at its own start) binds nothing.
      if (until > claim.from) out.push({ address: claim.address, workloadId: claim.workloadId, from: claim.from, to: until });
      i = j - 1;
    }
  }
  return out;
}

/** Line (1-based) of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** JSON.parse, with a syntax error turned into a problem on its line. */
export function parseJsonText(text: string): { value: unknown } | { problem: ImportProblem } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const position = /position (\d+)/.exec(message);
    return { problem: { ...(position === null ? {} : { line: lineAt(text, Number(position[1])) }), reason: 'bad-json', detail: message } };
  }
}
