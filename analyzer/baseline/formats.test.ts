import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MultiDirectedGraph } from 'graphology';
import { parse as parseGexf } from 'graphology-gexf';
import { parse as parseGraphml } from 'graphology-graphml';
import { isFlowmapError } from '../../core/errors.js';
import { GRAPH_FORMATS, flattenEdge, flattenNode, renderGraph, xmlId, xmlText } from './formats.js';
import type { GraphFormat } from './formats.js';
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from './types.js';

// The literal graph:
//
//            tcp/5432, tcp/6432 (parallel)
//   web,prod ─────────────────────────────▶ db…,prod        (db's label value: `db <&"'` BEL `x`)
//      ▲  │
//      │  └── icmp ──▶ internet
//      └──── tcp/443 ── internet
const DB_VALUE = `db <&"'\u0007x`;
const WEB = 'app=web,env=prod';
const DB = `app=${DB_VALUE},env=prod`;
const INTERNET = 'group=internet';

function node(key: string, attributes: Partial<GroupNodeAttributes>): { key: string; attributes: GroupNodeAttributes } {
  return {
    key,
    attributes: { key, kind: 'labels', labels: {}, label: key, hosts: 1, flowsIn: 0, flowsOut: 0, bytesIn: 0, bytesOut: 0, ...attributes },
  };
}

function edge(
  id: string,
  from: string,
  to: string,
  proto: number,
  port: number,
  flows: number,
  bytes: number,
  extra: Partial<DependencyEdgeAttributes> = {},
): SerializedBaselineGraph['edges'][number] {
  const hourOfDay = new Array<number>(24).fill(0);
  hourOfDay[9] = flows;
  const dayOfWeek = new Array<number>(7).fill(0);
  dayOfWeek[0] = flows;
  return {
    key: id,
    source: from,
    target: to,
    attributes: {
      id,
      from,
      to,
      proto,
      protocol: proto === 6 ? 'tcp' : proto === 1 ? 'icmp' : String(proto),
      port,
      flows,
      bytes,
      packets: flows * 10,
      rejectedFlows: 0,
      daysSeen: 1,
      firstSeen: '2024-05-06T09:00:00.000Z',
      lastSeen: '2024-05-06T09:00:00.000Z',
      hourOfDay,
      dayOfWeek,
      clientHosts: 1,
      serverHosts: 1,
      clientShare: 1,
      serverShare: 1,
      orientation: { rules: { 'tcp-syn': flows, 'listener-evidence': 0, ingest: 0 }, flipped: 0 },
      ...extra,
    },
  };
}

const GRAPH: SerializedBaselineGraph = {
  attributes: { groups: 3 },
  options: { type: 'directed', multi: true, allowSelfLoops: true },
  nodes: [
    node(WEB, { labels: { app: 'web', env: 'prod' }, label: 'web prod', hosts: 4, flowsIn: 20, flowsOut: 160, bytesIn: 9000, bytesOut: 5_000_000_000 }),
    node(DB, { labels: { app: DB_VALUE, env: 'prod' }, label: `${DB_VALUE} prod`, hosts: 2, flowsIn: 150 }),
    node(INTERNET, { kind: 'internet', group: 'internet', label: 'internet', hosts: 12, flowsIn: 10, flowsOut: 20 }),
  ],
  edges: [
    edge('e5432', WEB, DB, 6, 5432, 100, 4_000_000_000, { clientShare: 0.75 }),
    edge('e6432', WEB, DB, 6, 6432, 50, 1_000_000_000, {
      orientation: { rules: { 'tcp-syn': 40, 'listener-evidence': 7, ingest: 3 }, flipped: 7 },
    }),
    edge('e0443', INTERNET, WEB, 6, 443, 20, 9000, { clientHosts: 9, clientShare: 0.75, rejectedFlows: 2 }),
    edge('eicmp', WEB, INTERNET, 1, 0, 10, 840),
  ],
};

const META = { baseline: 'b-1', from: '2024-05-06T00:00:00.000Z', to: '2024-05-13T00:00:00.000Z', groupBy: ['app', 'env'] };
const LABEL_KEYS = ['app', 'env'];
/** DB's key as XML carries it: the BEL percent-encoded, the rest escaped by the writer. */
const DB_XML_ID = `app=db <&"'%07x,env=prod`;

function rendered(format: GraphFormat): string {
  return renderGraph(GRAPH, format, META).body;
}

/** Nodes and edges of a parsed graph, in a form deepEqual compares (keys, endpoints, attributes). */
function contents(graph: MultiDirectedGraph): { nodes: [string, unknown][]; edges: [string, string, string, unknown][] } {
  return {
    nodes: graph.mapNodes((key, attributes) => [key, attributes]),
    edges: graph.mapEdges((key, attributes, source, target) => [key, source, target, attributes]),
  };
}

/** What GEXF and GraphML both carry: the flat columns, keyed by the XML ids. */
function expectedContents(): ReturnType<typeof contents> {
  return {
    nodes: GRAPH.nodes.map((n) => [xmlId(n.key), flattenNode(n.attributes, LABEL_KEYS)]),
    edges: GRAPH.edges.map((e) => [e.key, xmlId(e.source), xmlId(e.target), flattenEdge(e.attributes)]),
  };
}

function xmllintAccepts(body: string, extension: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-formats-'));
  try {
    const file = join(dir, `graph.${extension}`);
    writeFileSync(file, body);
    execFileSync('/usr/bin/xmllint', ['--noout', file], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('flat columns', () => {
  it('flattens a group: labels as label_<key>, absent optional attributes left out, text made XML-safe', () => {
    const db = GRAPH.nodes[1];
    assert.ok(db);
    assert.deepEqual(flattenNode(db.attributes, LABEL_KEYS), {
      label: `db <&"'\uFFFDx prod`,
      kind: 'labels',
      hosts: 2,
      flowsIn: 150,
      flowsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      label_app: `db <&"'\uFFFDx`,
      label_env: 'prod',
    });
  });

  it('flattens an edge: hour and day-of-week bins, orientation rules, weight = bytes, label proto/port', () => {
    const e6432 = GRAPH.edges[1];
    assert.ok(e6432);
    const flat = flattenEdge(e6432.attributes);
    assert.equal(flat.label, 'tcp/6432');
    assert.equal(flat.weight, 1_000_000_000);
    assert.equal(flat.hour_09, 50);
    assert.equal(flat.hour_23, 0);
    assert.equal(flat.dow_mon, 50);
    assert.equal(flat.dow_sun, 0);
    assert.equal(flat['orientation_tcp-syn'], 40);
    assert.equal(flat['orientation_listener-evidence'], 7);
    assert.equal(flat.orientation_ingest, 3);
    assert.equal(flat.orientation_flipped, 7);
    assert.equal(Object.keys(flat).length, 12 + 24 + 7 + 4 + 4);
    assert.equal(Object.values(flat).every((v) => typeof v !== 'object'), true);
    const icmp = GRAPH.edges[3];
    assert.ok(icmp);
    assert.equal(flattenEdge(icmp.attributes).label, 'icmp');
  });

  it('replaces characters XML 1.0 forbids: U+FFFD in text, %XX / %uXXXX in ids', () => {
    assert.equal(xmlText('a\u0000b\u001fc\ud800d\uffffe\tf\ng\rh'), 'a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\tf\ng\rh');
    assert.equal(xmlText('😀 ok'), '😀 ok');
    assert.equal(xmlId('app=a\u0001b,env=\ud800'), 'app=a%01b,env=%uD800');
    assert.equal(xmlId(WEB), WEB);
  });
});

describe('renderGraph', () => {
  it('names each format’s content type and extension', () => {
    assert.deepEqual(
      GRAPH_FORMATS.map((f) => {
        const { contentType, extension } = renderGraph(GRAPH, f, META);
        return [f, contentType, extension];
      }),
      [
        ['json', 'application/json', 'json'],
        ['gexf', 'application/gexf+xml', 'gexf'],
        ['graphml', 'application/graphml+xml', 'graphml'],
      ],
    );
  });

  it('rejects an unknown format with FLOWMAP_BAD_REQUEST', () => {
    assert.throws(
      () => renderGraph(GRAPH, 'dot' as GraphFormat, META),
      (err) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && err.status === 400 && /json, gexf, graphml/.test(err.message),
    );
  });

  it('json: graphology imports it back to the same graph, with the meta among the graph attributes', () => {
    const parsed = JSON.parse(rendered('json')) as SerializedBaselineGraph;
    const graph = MultiDirectedGraph.from(parsed);
    assert.equal(graph.order, 3);
    assert.equal(graph.size, 4);
    assert.deepEqual(graph.export(), { ...GRAPH, attributes: { groups: 3, ...META } });
    const imported = new MultiDirectedGraph<GroupNodeAttributes, DependencyEdgeAttributes>();
    imported.import(parsed);
    assert.deepEqual(imported.getAttributes(), { groups: 3, ...META });
    // The control character survives JSON as \u0007.
    assert.equal(imported.getNodeAttribute(DB, 'labels').app, DB_VALUE);
  });

  it('gexf: graphology-gexf parses it back to the same nodes, edges, endpoints and values', () => {
    const body = rendered('gexf');
    assert.match(body, /^<\?xml version="1\.0" encoding="UTF-8"\?>/);
    assert.match(body, /<gexf xmlns="http:\/\/gexf\.net\/1\.3" [^>]*version="1\.3">/);
    assert.match(body, /<attribute id="\d+" title="bytesOut" type="long"\/>/);
    assert.match(body, /<attribute id="\d+" title="port" type="integer"\/>/);
    assert.match(body, /<node id="app=db &lt;&amp;&quot;&apos;%07x,env=prod" label="db &lt;&amp;&quot;&apos;\uFFFDx prod">/);
    assert.equal(body.includes('\u0007'), false);
    assert.match(body, /defaultedgetype="directed"/);
    const graph = parseGexf(MultiDirectedGraph, body);
    assert.equal(graph.multi, true);
    assert.equal(graph.type, 'directed');
    assert.deepEqual(contents(graph), expectedContents());
    assert.deepEqual(graph.getAttributes(), {
      creator: 'flowmap',
      description: 'flowmap baseline b-1: window 2024-05-06T00:00:00.000Z/2024-05-13T00:00:00.000Z, grouped by app,env',
    });
    assert.equal(graph.getNodeAttribute(DB_XML_ID, 'label_app'), `db <&"'\uFFFDx`);
    assert.equal(graph.getNodeAttribute(WEB, 'bytesOut'), 5_000_000_000);
    assert.equal(graph.getEdgeAttribute('e5432', 'weight'), 4_000_000_000);
    assert.equal(graph.getEdgeAttribute('e5432', 'clientShare'), 0.75);
    assert.deepEqual(graph.edges(WEB, DB_XML_ID).sort(), ['e5432', 'e6432']);
  });

  it('graphml: graphology-graphml parses it back to the same nodes, edges, endpoints and values', () => {
    const body = rendered('graphml');
    assert.match(body, /<graph edgedefault="directed">/);
    assert.match(body, /<key id="n\d+" for="node" attr.name="bytesOut" attr.type="long"\/>/);
    assert.match(body, /<key id="e\d+" for="edge" attr.name="port" attr.type="int"\/>/);
    assert.match(body, /<key id="e\d+" for="edge" attr.name="clientShare" attr.type="double"\/>/);
    assert.match(body, /<key id="n\d+" for="node" attr.name="label_app" attr.type="string"\/>/);
    assert.match(body, /<node id="app=db &lt;&amp;&quot;&apos;%07x,env=prod">/);
    assert.equal(body.includes('\u0007'), false);
    const graph = parseGraphml(MultiDirectedGraph, body);
    assert.equal(graph.multi, true);
    assert.equal(graph.type, 'directed');
    assert.deepEqual(contents(graph), expectedContents());
    assert.deepEqual(graph.getAttributes(), { baseline: 'b-1', from: META.from, to: META.to, groupBy: 'app,env' });
    assert.equal(graph.getNodeAttribute(DB_XML_ID, 'label'), `db <&"'\uFFFDx prod`);
    assert.equal(graph.getEdgeAttribute('e6432', 'bytes'), 1_000_000_000);
    assert.deepEqual(graph.edges(WEB, DB_XML_ID).sort(), ['e5432', 'e6432']);
  });

  it('graphml: keeps tabs, newlines and carriage returns in text and ids through a parse', () => {
    const key = 'app=a\tb\r\nc';
    const value = 'a\tb\r\nc';
    const graph: SerializedBaselineGraph = {
      ...GRAPH,
      nodes: [node(key, { labels: { app: value }, label: value })],
      edges: [],
    };
    const parsed = parseGraphml(MultiDirectedGraph, renderGraph(graph, 'graphml', META).body);
    assert.deepEqual(parsed.nodes(), [key]);
    assert.equal(parsed.getNodeAttribute(key, 'label'), value);
    assert.equal(parsed.getNodeAttribute(key, 'label_app'), value);
  });

  it('graphml: declares a count column double when a value is not an integer', () => {
    const e = GRAPH.edges[0];
    assert.ok(e);
    const graph: SerializedBaselineGraph = { ...GRAPH, edges: [{ ...e, attributes: { ...e.attributes, flows: 2.5 } }] };
    const body = renderGraph(graph, 'graphml', META).body;
    assert.match(body, /attr.name="flows" attr.type="double"/);
    assert.match(body, /attr.name="packets" attr.type="long"/);
  });

  it('gexf and graphml are well-formed XML (xmllint, when installed)', { skip: !existsSync('/usr/bin/xmllint') && 'xmllint not installed' }, () => {
    xmllintAccepts(rendered('gexf'), 'gexf');
    xmllintAccepts(rendered('graphml'), 'graphml');
  });

  it('renders 5,000 groups and 50,000 edges in each format, every one of them (speed: bench, not here)', () => {
    const nodes = Array.from({ length: 5000 }, (_, i) => node(`app=a${i},env=prod`, { labels: { app: `a${i}`, env: 'prod' }, label: `a${i} prod` }));
    const edges = Array.from({ length: 50_000 }, (_, i) => {
      const from = nodes[i % 5000]?.key ?? '';
      const to = nodes[(i * 7 + 1) % 5000]?.key ?? '';
      return edge(`e${i}`, from, to, 6, 1000 + (i % 50), 10 + i, 1000 * i, { clientShare: 0.5 });
    });
    const big: SerializedBaselineGraph = { ...GRAPH, nodes, edges };
    for (const format of GRAPH_FORMATS) {
      const { body } = renderGraph(big, format, META);
      const count = format === 'json' ? (JSON.parse(body) as SerializedBaselineGraph).edges.length : body.split('<edge ').length - 1;
      assert.equal(count, 50_000, format);
    }
  });
});
