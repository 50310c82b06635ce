// Inventory import entry: picks the format from the content unless told, and hands the text to its
// parser. Detection: text whose first non-blank character is `{` or `[` is JSON — with a
// "Reservations" array it is EC2 describe-instances, with kind List/PodList/Pod it is kubectl,
// otherwise flowmap's own JSON — and anything else is CSV.
import { parseCsvInventory } from './csv.js';
import { isEc2Document, parseEc2Instances } from './ec2.js';
import { parseJsonInventory } from './json.js';
import { isKubectlDocument, parseKubectlPods } from './kubectl.js';
import type { Inventory } from '../model.js';
import { parseJsonText, type ImportFormat, type ParsedInventory } from './types.js';

export * from './types.js';
export { parseCsvInventory, readCsvRecords } from './csv.js';
export { parseEc2Instances } from './ec2.js';
export { parseJsonInventory } from './json.js';
export { parseKubectlPods } from './kubectl.js';

function looksLikeJson(text: string): boolean {
  const first = /\S/.exec(text)?.[0];
  return first === '{' || first === '[';
}

function jsonFormat(document: unknown): ImportFormat {
  if (isEc2Document(document)) return 'ec2';
  if (isKubectlDocument(document)) return 'kubectl';
  return 'json';
}

/** The format of an inventory file's content, from its content alone. */
export function detectFormat(text: string): ImportFormat {
  const body = text.replace(/^\uFEFF/, '');
  if (!looksLikeJson(body)) return 'csv';
  const parsed = parseJsonText(body);
  return 'problem' in parsed ? 'json' : jsonFormat(parsed.value);
}

/** Parses an inventory file (JSON is parsed once); never throws on bad content (see `problems`). */
export function parseInventory(text: string, options: { format?: ImportFormat } = {}): ParsedInventory {
  const body = text.replace(/^\uFEFF/, '');
  if (options.format === 'csv' || (options.format === undefined && !looksLikeJson(body))) return parseCsvInventory(text);
  const parsed = parseJsonText(body);
  if ('problem' in parsed) return { format: options.format ?? 'json', workloads: [], bindings: [], rules: [], problems: [parsed.problem] };
  const format = options.format ?? jsonFormat(parsed.value);
  switch (format) {
    case 'json':
      return parseJsonInventory(parsed.value);
    case 'kubectl':
      return parseKubectlPods(parsed.value);
    case 'ec2':
      return parseEc2Instances(parsed.value);
    case 'csv':
      return parseCsvInventory(text);
  }
}

/** The parsed records as the resolver takes them, stamped with their source and import time. */
export function toInventory(parsed: ParsedInventory, stamp: { source: string; importedAt: number }): Inventory {
  return {
    workloads: parsed.workloads.map((w) => ({ ...w, source: stamp.source })),
    bindings: parsed.bindings.map((b) => ({ ...b, source: stamp.source, importedAt: stamp.importedAt })),
    rules: parsed.rules,
  };
}
