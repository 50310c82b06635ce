// flowmap's own inventory JSON:
//
//   {
//     "workloads": [
//       { "name": "billing-api", "id": "billing-api", "labels": {"app": "billing", "env": "prod"},
//         "criticality": "high",
//         "addresses": [ {"ip": "10.0.1.5", "valid_from": "2024-01-01T00:00:00Z", "valid_to": null},
//                        "10.0.1.6" ] }
//     ],
//     "rules": [ { "cidr": "10.20.0.0/16", "labels": {"env": "prod", "location": "dc1"}, "name": "dc1 prod" } ]
//   }
//
// `id` defaults to `name`; an address is an object as shown or a bare string (bound from 0,
// open-ended); `valid_from`/`valid_to` are ISO-8601 (absent or null: unbounded). A malformed workload
// is skipped whole; a malformed address only itself. Problems carry the JSON path.
import { parsePrefix, tryParseAddress } from '../../core/ip.js';
import { isFlowmapError } from '../../core/errors.js';
import type { CidrRule } from '../model.js';
import { isCriticality, isRecord, parseIsoTime, readLabels, type ImportProblem, type ParsedBinding, type ParsedInventory, type ParsedWorkload } from './types.js';

function readTime(value: unknown, fallback: number): number | undefined {
  if (value === undefined || value === null) return fallback;
  return typeof value === 'string' ? parseIsoTime(value) : undefined;
}

export function parseJsonInventory(document: unknown): ParsedInventory {
  const problems: ImportProblem[] = [];
  const workloads: ParsedWorkload[] = [];
  const bindings: ParsedBinding[] = [];
  const rules: CidrRule[] = [];
  const out: ParsedInventory = { format: 'json', workloads, bindings, rules, problems };
  if (!isRecord(document) || (!Array.isArray(document.workloads) && !Array.isArray(document.rules))) {
    problems.push({ path: '$', reason: 'unknown-shape', detail: 'expected an object with a "workloads" and/or "rules" array' });
    return out;
  }
  const seen = new Set<string>();
  (Array.isArray(document.workloads) ? (document.workloads as unknown[]) : []).forEach((w, wi) => {
    const path = `$.workloads[${wi}]`;
    const problem = (where: string, reason: ImportProblem['reason'], detail: string): void => {
      problems.push({ path: where, reason, detail });
    };
    if (!isRecord(w)) return problem(path, 'unknown-shape', 'a workload must be an object');
    if (typeof w.name !== 'string' || w.name === '') return problem(`${path}.name`, 'missing-field', 'a workload needs a non-empty "name"');
    const id = w.id === undefined ? w.name : w.id;
    if (typeof id !== 'string' || id === '') return problem(`${path}.id`, 'missing-field', '"id" must be a non-empty string');
    if (seen.has(id)) return problem(`${path}.id`, 'conflicting-labels', `workload '${id}' is listed twice; the first is kept`);
    const labels = readLabels(w.labels);
    if ('error' in labels) return problem(`${path}.labels`, 'bad-labels', labels.error);
    if (w.criticality !== undefined && (typeof w.criticality !== 'string' || !isCriticality(w.criticality))) {
      return problem(`${path}.criticality`, 'bad-criticality', `criticality ${JSON.stringify(w.criticality)} is not one of low, medium, high, critical`);
    }
    if (w.addresses !== undefined && !Array.isArray(w.addresses)) return problem(`${path}.addresses`, 'unknown-shape', '"addresses" must be an array');
    seen.add(id);
    workloads.push({ id, name: w.name, labels: labels.labels, ...(w.criticality === undefined ? {} : { criticality: w.criticality }) });
    ((w.addresses ?? []) as unknown[]).forEach((a, ai) => {
      const where = `${path}.addresses[${ai}]`;
      const entry = typeof a === 'string' ? { ip: a } : a;
      if (!isRecord(entry) || typeof entry.ip !== 'string') return problem(where, 'missing-field', 'an address is a string or an object with an "ip" string');
      const address = tryParseAddress(entry.ip);
      if (address === undefined) return problem(`${where}.ip`, 'bad-address', `'${entry.ip}' is not an IPv4 or IPv6 address`);
      const from = readTime(entry.valid_from, 0);
      if (from === undefined) return problem(`${where}.valid_from`, 'bad-time', `${JSON.stringify(entry.valid_from)} is not an ISO-8601 time`);
      const to = readTime(entry.valid_to, Infinity);
      if (to === undefined) return problem(`${where}.valid_to`, 'bad-time', `${JSON.stringify(entry.valid_to)} is not an ISO-8601 time`);
      if (!(to > from)) return problem(where, 'bad-interval', 'valid_to is not after valid_from');
      bindings.push({ address, workloadId: id, from, to });
    });
  });
  (Array.isArray(document.rules) ? (document.rules as unknown[]) : []).forEach((r, ri) => {
    const path = `$.rules[${ri}]`;
    if (!isRecord(r) || typeof r.cidr !== 'string') {
      problems.push({ path, reason: 'missing-field', detail: 'a rule is an object with a "cidr" string and "labels"' });
      return;
    }
    const labels = readLabels(r.labels);
    if ('error' in labels) {
      problems.push({ path: `${path}.labels`, reason: 'bad-labels', detail: labels.error });
      return;
    }
    if (r.name !== undefined && typeof r.name !== 'string') {
      problems.push({ path: `${path}.name`, reason: 'missing-field', detail: '"name" must be a string' });
      return;
    }
    try {
      const prefix = parsePrefix(r.cidr);
      rules.push(r.name === undefined ? { prefix, labels: labels.labels } : { prefix, labels: labels.labels, name: r.name });
    } catch (err) {
      if (!isFlowmapError(err)) throw err;
      problems.push({ path: `${path}.cidr`, reason: 'bad-cidr', detail: err.message });
    }
  });
  return out;
}
