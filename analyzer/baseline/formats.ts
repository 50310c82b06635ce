// The baseline graph's downloads (DESIGN.md §8): JSON (graphology's own serialisation), GEXF 1.3
// (Gephi) and GraphML (yEd, Cytoscape, networkx). Rendering is a pure function of the stored graph
// and the baseline's meta; the API and CLI only pick the format.
//
// Both XML writers are our own. graphology-graphml only parses; graphology-gexf's writer goes
// through xml-writer one call per attribute and took 16–19 s for 5,000 groups and 50,000 edges,
// where this one takes well under one. graphology-gexf and graphology-graphml parse the output
// back in the tests, so they stay the reference for what graphology reads.
//
// GEXF and GraphML hold scalar attributes only, so both formats carry the same flat columns:
// - node: `label` (GEXF: the node's label), kind, group, subnet, workload, hosts, flowsIn, flowsOut,
//   bytesIn, bytesOut, and `label_<key>` per label key (`label_app`, `label_env`, …);
// - edge: `label` (`tcp/443`, or `icmp` for protocols without ports), `weight` (= bytes; GEXF: the
//   edge's weight), proto, protocol, port, flows, bytes, packets, rejectedFlows, daysSeen,
//   firstSeen, lastSeen, `hour_00`…`hour_23` (flows per UTC hour), `dow_mon`…`dow_sun` (flows per
//   UTC day of week), clientHosts, serverHosts, clientShare, serverShare, `orientation_<rule>` per
//   orientation rule and `orientation_flipped`.
// Flat numeric columns rather than JSON strings, because Gephi and yEd can size, filter and colour
// by a number but not by a value inside a string. The element's id is the node key / edge id and
// its endpoints are the edge's from/to, so `key`, `id`, `from` and `to` are not repeated as columns.
//
// XML 1.0 (§2.2) cannot carry most C0 controls, lone surrogates, U+FFFE or U+FFFF, not even as
// character references. Labels are user data and may hold them: in text they become U+FFFD; in ids
// (group keys, which embed label values) they become `%XX` / `%uXXXX`, which cannot collide with
// another key because inventory/groups.ts percent-encodes every literal `%` in a key.
//
// Cost: O(N + E) time and output size, for N groups and E edges (plus O(L log L) to sort the L
// distinct label keys). Each element is built as one short string and copied into a growing UTF-8
// buffer that is decoded once at the end: joining millions of small strings instead kept them all
// alive until the join and was three times slower. Peak memory is about three times the output.
import { FlowmapError } from '../../core/errors.js';
import { ORIENTATION_RULES } from './types.js';
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from './types.js';

export const GRAPH_FORMATS = ['json', 'gexf', 'graphml'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** What identifies the download: the baseline, its window (ISO times) and its granularity. */
export interface GraphMeta {
  baseline: string;
  from: string;
  to: string;
  groupBy: string[];
}

export interface RenderedGraph {
  body: string;
  contentType: string;
  /** File name extension, without the dot. */
  extension: string;
}

export function renderGraph(graph: SerializedBaselineGraph, format: GraphFormat, meta: GraphMeta): RenderedGraph {
  switch (format) {
    case 'json':
      return { body: renderJson(graph, meta), contentType: 'application/json', extension: 'json' };
    case 'gexf':
      return { body: renderGexf(graph, meta), contentType: 'application/gexf+xml', extension: 'gexf' };
    case 'graphml':
      return { body: renderGraphml(graph, meta), contentType: 'application/graphml+xml', extension: 'graphml' };
    default:
      throw new FlowmapError('FLOWMAP_BAD_REQUEST', `unknown graph format "${String(format)}": expected one of ${GRAPH_FORMATS.join(', ')}`, {
        status: 400,
        details: { format, allowed: GRAPH_FORMATS },
      });
  }
}

// --- Flat columns ---

/** GraphML's attr.type names; GEXF infers its own (integer/long/double/string) from the values. */
export type ScalarType = 'string' | 'int' | 'long' | 'double' | 'boolean';
export type Scalar = string | number | boolean;

interface Column<T> {
  name: string;
  type: ScalarType;
  value: (attributes: T) => Scalar | undefined;
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

function nodeColumns(labelKeys: readonly string[]): Column<GroupNodeAttributes>[] {
  return [
    { name: 'label', type: 'string', value: (n) => n.label },
    { name: 'kind', type: 'string', value: (n) => n.kind },
    { name: 'group', type: 'string', value: (n) => n.group },
    { name: 'subnet', type: 'string', value: (n) => n.subnet },
    { name: 'workload', type: 'string', value: (n) => n.workload },
    { name: 'hosts', type: 'long', value: (n) => n.hosts },
    { name: 'flowsIn', type: 'long', value: (n) => n.flowsIn },
    { name: 'flowsOut', type: 'long', value: (n) => n.flowsOut },
    { name: 'bytesIn', type: 'long', value: (n) => n.bytesIn },
    { name: 'bytesOut', type: 'long', value: (n) => n.bytesOut },
    ...labelKeys.map((key): Column<GroupNodeAttributes> => ({
      name: `label_${key}`,
      type: 'string',
      value: (n) => (Object.hasOwn(n.labels, key) ? n.labels[key] : undefined),
    })),
  ];
}

/** The edge's short name: protocol and port, or the protocol alone when it has no ports. */
function edgeLabel(e: DependencyEdgeAttributes): string {
  return e.port === 0 ? e.protocol : `${e.protocol}/${e.port}`;
}

const EDGE_COLUMNS: readonly Column<DependencyEdgeAttributes>[] = [
  { name: 'label', type: 'string', value: edgeLabel },
  { name: 'weight', type: 'long', value: (e) => e.bytes },
  { name: 'proto', type: 'int', value: (e) => e.proto },
  { name: 'protocol', type: 'string', value: (e) => e.protocol },
  { name: 'port', type: 'int', value: (e) => e.port },
  { name: 'flows', type: 'long', value: (e) => e.flows },
  { name: 'bytes', type: 'long', value: (e) => e.bytes },
  { name: 'packets', type: 'long', value: (e) => e.packets },
  { name: 'rejectedFlows', type: 'long', value: (e) => e.rejectedFlows },
  { name: 'daysSeen', type: 'int', value: (e) => e.daysSeen },
  { name: 'firstSeen', type: 'string', value: (e) => e.firstSeen },
  { name: 'lastSeen', type: 'string', value: (e) => e.lastSeen },
  ...Array.from({ length: 24 }, (_, h): Column<DependencyEdgeAttributes> => ({
    name: `hour_${String(h).padStart(2, '0')}`,
    type: 'long',
    value: (e) => e.hourOfDay[h],
  })),
  ...DAYS.map((day, d): Column<DependencyEdgeAttributes> => ({ name: `dow_${day}`, type: 'long', value: (e) => e.dayOfWeek[d] })),
  { name: 'clientHosts', type: 'long', value: (e) => e.clientHosts },
  { name: 'serverHosts', type: 'long', value: (e) => e.serverHosts },
  { name: 'clientShare', type: 'double', value: (e) => e.clientShare },
  { name: 'serverShare', type: 'double', value: (e) => e.serverShare },
  ...ORIENTATION_RULES.map((rule): Column<DependencyEdgeAttributes> => ({
    name: `orientation_${rule}`,
    type: 'long',
    value: (e) => e.orientation.rules[rule],
  })),
  { name: 'orientation_flipped', type: 'long', value: (e) => e.orientation.flipped },
];

/** The distinct label keys of all groups, sorted, so columns come in the same order every time. */
function labelKeysOf(graph: SerializedBaselineGraph): string[] {
  const keys = new Set<string>();
  for (const node of graph.nodes) for (const key of Object.keys(node.attributes.labels)) keys.add(key);
  return [...keys].sort();
}

function flatten<T>(columns: readonly Column<T>[], attributes: T): Record<string, Scalar> {
  const flat: Record<string, Scalar> = {};
  for (const column of columns) {
    const value = column.value(attributes);
    if (value === undefined || (typeof value === 'number' && Number.isNaN(value))) continue;
    flat[xmlText(column.name)] = typeof value === 'string' ? xmlText(value) : value;
  }
  return flat;
}

/** A group's attributes as the GEXF and GraphML downloads carry them (XML-safe text). */
export function flattenNode(attributes: GroupNodeAttributes, labelKeys: readonly string[] = Object.keys(attributes.labels).sort()): Record<string, Scalar> {
  return flatten(nodeColumns(labelKeys), attributes);
}

/** An edge's attributes as the GEXF and GraphML downloads carry them (XML-safe text). */
export function flattenEdge(attributes: DependencyEdgeAttributes): Record<string, Scalar> {
  return flatten(EDGE_COLUMNS, attributes);
}

// --- XML text ---

/** Characters XML 1.0 §2.2 does not allow anywhere (with `u`, a lone surrogate is one match). */
const XML_FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const XML_FORBIDDEN_TEST = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Text XML can carry: forbidden characters become U+FFFD. */
export function xmlText(text: string): string {
  return XML_FORBIDDEN_TEST.test(text) ? text.replace(XML_FORBIDDEN, '\uFFFD') : text;
}

/** An id XML can carry, still distinct from every other id: forbidden characters become `%XX` / `%uXXXX`. */
export function xmlId(id: string): string {
  if (!XML_FORBIDDEN_TEST.test(id)) return id;
  return id.replace(XML_FORBIDDEN, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code < 0x100 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : `%u${code.toString(16).toUpperCase().padStart(4, '0')}`;
  });
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // In attribute values a parser turns a literal tab, newline or CR into a space (XML 1.0 §3.3.3),
  // and in text a CR into a newline (§2.11); character references survive both.
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};
const ATTRIBUTE_SPECIAL = /[&<>"'\t\n\r]/g;
const TEXT_SPECIAL = /[&<>\r]/g;

/** Escaped for an attribute value; the text must already be XML-safe (xmlText / xmlId). */
function escapeAttribute(text: string): string {
  return text.replace(ATTRIBUTE_SPECIAL, (c) => ESCAPES[c] ?? c);
}

function escapeText(text: string): string {
  return text.replace(TEXT_SPECIAL, (c) => ESCAPES[c] ?? c);
}

// --- JSON ---

function renderJson(graph: SerializedBaselineGraph, meta: GraphMeta): string {
  return JSON.stringify({ ...graph, attributes: { ...graph.attributes, ...meta } });
}

// --- XML ---

/** The output: UTF-8 bytes in a buffer that doubles when full. */
class XmlSink {
  private buffer = Buffer.allocUnsafe(1 << 16);
  private length = 0;

  write(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const needed = this.length + text.length * 3;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  toString(): string {
    return this.buffer.toString('utf8', 0, this.length);
  }
}

/**
 * The value elements of one node or edge: `open[i]` + value + `close` per column with a value.
 * A number that is not an integer clears `integral[i]`, and its column's declared `int` or `long`
 * becomes `double`, so the declared type is always true of the values.
 */
function values<T>(
  columns: readonly Column<T>[],
  attributes: T,
  open: readonly string[],
  close: string,
  escape: (text: string) => string,
  integral: boolean[],
): string {
  let out = '';
  for (let i = 0; i < columns.length; i++) {
    const value = (columns[i] as Column<T>).value(attributes);
    if (value === undefined) continue;
    let text: string;
    if (typeof value === 'number') {
      if (Number.isNaN(value)) continue;
      if (!Number.isInteger(value)) integral[i] = false;
      text = String(value);
    } else {
      text = typeof value === 'string' ? escape(xmlText(value)) : String(value);
    }
    out += (open[i] as string) + text + close;
  }
  return out;
}

function declaredType<T>(columns: readonly Column<T>[], integral: readonly boolean[], i: number): ScalarType {
  const type = (columns[i] as Column<T>).type;
  return (type === 'long' || type === 'int') && integral[i] === false ? 'double' : type;
}

function describe(meta: GraphMeta): string {
  return `flowmap baseline ${meta.baseline}: window ${meta.from}/${meta.to}, grouped by ${meta.groupBy.join(',')}`;
}

// --- GEXF 1.3 (https://gexf.net/schema.html) ---

const GEXF_TYPES: Record<ScalarType, string> = { string: 'string', int: 'integer', long: 'long', double: 'double', boolean: 'boolean' };

/** label is the node's and edge's own label attribute and weight the edge's: not attvalues. */
const GEXF_OWN = new Set(['label', 'weight']);

function gexfAttributes<T>(target: 'node' | 'edge', columns: readonly Column<T>[], integral: readonly boolean[]): string {
  // Numeric ids, as Gephi writes them: short, and readers take the column name from the title.
  const declarations = columns.map(
    (column, i) => `      <attribute id="${i}" title="${escapeAttribute(xmlText(column.name))}" type="${GEXF_TYPES[declaredType(columns, integral, i)]}"/>\n`,
  );
  return `    <attributes class="${target}">\n${declarations.join('')}    </attributes>\n`;
}

function renderGexf(graph: SerializedBaselineGraph, meta: GraphMeta): string {
  const nodeCols = nodeColumns(labelKeysOf(graph)).filter((c) => !GEXF_OWN.has(c.name));
  const edgeCols = EDGE_COLUMNS.filter((c) => !GEXF_OWN.has(c.name));
  const nodeOpen = nodeCols.map((_, i) => `<attvalue for="${i}" value="`);
  const edgeOpen = edgeCols.map((_, i) => `<attvalue for="${i}" value="`);
  const nodeIntegral = nodeCols.map(() => true);
  const edgeIntegral = edgeCols.map(() => true);

  // Elements first: whether a numeric column stays integral is known only once all are written.
  const sink = new XmlSink();
  sink.write('    <nodes>\n');
  for (const node of graph.nodes) {
    const attvalues = values(nodeCols, node.attributes, nodeOpen, '"/>', escapeAttribute, nodeIntegral);
    sink.write(
      `      <node id="${escapeAttribute(xmlId(node.key))}" label="${escapeAttribute(xmlText(node.attributes.label))}">` +
        (attvalues === '' ? '' : `<attvalues>${attvalues}</attvalues>`) +
        '</node>\n',
    );
  }
  sink.write('    </nodes>\n    <edges>\n');
  for (const edge of graph.edges) {
    const e = edge.attributes;
    const attvalues = values(edgeCols, e, edgeOpen, '"/>', escapeAttribute, edgeIntegral);
    sink.write(
      `      <edge id="${escapeAttribute(xmlId(edge.key))}" source="${escapeAttribute(xmlId(edge.source))}" target="${escapeAttribute(xmlId(edge.target))}"` +
        ` label="${escapeAttribute(xmlText(edgeLabel(e)))}" weight="${e.bytes}">` +
        (attvalues === '' ? '' : `<attvalues>${attvalues}</attvalues>`) +
        '</edge>\n',
    );
  }
  sink.write('    </edges>\n  </graph>\n</gexf>\n');

  const header =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<gexf xmlns="http://gexf.net/1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
    'xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">\n' +
    // GEXF 1.3's <meta> holds only creator, keywords and description.
    `  <meta>\n    <creator>flowmap</creator>\n    <description>${escapeText(xmlText(describe(meta)))}</description>\n  </meta>\n` +
    '  <graph defaultedgetype="directed" mode="static">\n' +
    gexfAttributes('node', nodeCols, nodeIntegral) +
    gexfAttributes('edge', edgeCols, edgeIntegral);
  return header + sink.toString();
}

// --- GraphML (http://graphml.graphdrawing.org/specification.html) ---

function graphmlKeys<T>(target: 'graph' | 'node' | 'edge', prefix: string, columns: readonly Column<T>[], integral: readonly boolean[]): string {
  return columns
    .map(
      (column, i) =>
        `  <key id="${prefix}${i}" for="${target}" attr.name="${escapeAttribute(xmlText(column.name))}" attr.type="${declaredType(columns, integral, i)}"/>\n`,
    )
    .join('');
}

const GRAPH_COLUMNS: readonly Column<GraphMeta>[] = [
  { name: 'baseline', type: 'string', value: (m) => m.baseline },
  { name: 'from', type: 'string', value: (m) => m.from },
  { name: 'to', type: 'string', value: (m) => m.to },
  { name: 'groupBy', type: 'string', value: (m) => m.groupBy.join(',') },
];

function renderGraphml(graph: SerializedBaselineGraph, meta: GraphMeta): string {
  const nodeCols = nodeColumns(labelKeysOf(graph));
  const graphOpen = GRAPH_COLUMNS.map((_, i) => `<data key="g${i}">`);
  const nodeOpen = nodeCols.map((_, i) => `<data key="n${i}">`);
  const edgeOpen = EDGE_COLUMNS.map((_, i) => `<data key="e${i}">`);
  const nodeIntegral = nodeCols.map(() => true);
  const edgeIntegral = EDGE_COLUMNS.map(() => true);

  const sink = new XmlSink();
  // The graph's own <data> come before its nodes (GraphML §4, and graphology-graphml reads them so).
  sink.write(`  <graph edgedefault="directed">${values(GRAPH_COLUMNS, meta, graphOpen, '</data>', escapeText, [])}\n`);
  for (const node of graph.nodes) {
    const data = values(nodeCols, node.attributes, nodeOpen, '</data>', escapeText, nodeIntegral);
    sink.write(`    <node id="${escapeAttribute(xmlId(node.key))}">${data}</node>\n`);
  }
  for (const edge of graph.edges) {
    // Parallel edges (same groups, other ports) need nothing special: GraphML graphs are multigraphs.
    const data = values(EDGE_COLUMNS, edge.attributes, edgeOpen, '</data>', escapeText, edgeIntegral);
    sink.write(
      `    <edge id="${escapeAttribute(xmlId(edge.key))}" source="${escapeAttribute(xmlId(edge.source))}" target="${escapeAttribute(xmlId(edge.target))}">${data}</edge>\n`,
    );
  }
  sink.write('  </graph>\n</graphml>\n');

  const header =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n' +
    graphmlKeys('graph', 'g', GRAPH_COLUMNS, []) +
    graphmlKeys('node', 'n', nodeCols, nodeIntegral) +
    graphmlKeys('edge', 'e', EDGE_COLUMNS, edgeIntegral);
  return header + sink.toString();
}
