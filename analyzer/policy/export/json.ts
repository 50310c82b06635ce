// JSON export: the ExportInput itself (policy, resolved groups and rules), pretty-printed, with
// groups and rules in the order the other formats write them so that two exports diff cleanly.
import { byName, compareRules, type Rendered } from './rules.js';
import type { ExportInput } from '../types.js';

export function renderJson(input: ExportInput): Rendered {
  const sorted: ExportInput = { ...input, groups: [...input.groups].sort(byName), rules: [...input.rules].sort(compareRules) };
  return { text: `${JSON.stringify(sorted, null, 2)}\n`, skipped: [] };
}
