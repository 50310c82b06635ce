// A small HCL writer for the Terraform exports: blocks with attributes whose values are strings,
// numbers, lists, maps or expressions (references such as `var.vpc_id`), laid out as
// `terraform fmt` would (one attribute a line, `=` aligned within a block).

/** An expression written as is (a reference), not as a quoted string. */
export class Expression {
  constructor(readonly text: string) {}
}

export function expression(text: string): Expression {
  return new Expression(text);
}

export type HclValue = string | number | boolean | Expression | HclValue[] | { [key: string]: HclValue };

/**
 * A quoted HCL string. Besides `\` and `"`, template sequences are escaped (`${` → `$${`,
 * `%{` → `%%{`) so that no exported text is ever evaluated as an interpolation.
 */
export function hclString(text: string): string {
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
    .replace(/\$\{/g, '$${')
    .replace(/%\{/g, '%%{');
  return `"${escaped}"`;
}

function value(v: HclValue, indent: string): string {
  if (v instanceof Expression) return v.text;
  if (typeof v === 'string') return hclString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => value(x, indent)).join(', ')}]`;
  const keys = Object.keys(v).sort();
  if (keys.length === 0) return '{}';
  const width = Math.max(...keys.map((k) => hclString(k).length));
  const inner = `${indent}  `;
  return `{\n${keys.map((k) => `${inner}${hclString(k).padEnd(width)} = ${value(v[k] as HclValue, inner)}`).join('\n')}\n${indent}}`;
}

/** One block: `type "label" "label" { attributes }`; attributes whose value is undefined are left out. */
export function block(type: string, labels: readonly string[], attributes: readonly [string, HclValue | undefined][]): string {
  const present = attributes.filter((a): a is [string, HclValue] => a[1] !== undefined);
  const head = [type, ...labels.map(hclString)].join(' ');
  if (present.length === 0) return `${head} {}\n`;
  const width = Math.max(...present.map(([k]) => k.length));
  const lines = present.map(([k, v]) => `  ${k.padEnd(width)} = ${value(v, '  ')}`);
  return `${head} {\n${lines.join('\n')}\n}\n`;
}
