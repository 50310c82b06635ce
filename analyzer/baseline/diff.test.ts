import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isFlowmapError } from '../../core/errors.js';
import { diffBaselines } from './diff.js';
import type { EdgeRef } from './diff.js';
import type { DependencyEdgeAttributes, GroupNodeAttributes, SerializedBaselineGraph } from './types.js';

const DAY = 86_400;
const PROTOCOLS: Record<number, string> = { 6: 'tcp', 17: 'udp' };

function graph(groups: string[], edges: [from: string, to: string, proto: number, port: number, flows: number, bytes: number][]): SerializedBaselineGraph {
  return {
    attributes: {},
    options: { type: 'directed', multi: true, allowSelfLoops: true },
    nodes: groups.map((key) => ({
      key,
      attributes: { key, kind: 'labels', labels: {}, label: key, hosts: 1, flowsIn: 0, flowsOut: 0, bytesIn: 0, bytesOut: 0 } satisfies GroupNodeAttributes,
    })),
    edges: edges.map(([from, to, proto, port, flows, bytes]) => {
      const id = `${from}>${to}/${proto}/${port}`;
      const attributes: DependencyEdgeAttributes = {
        id,
        from,
        to,
        proto,
        protocol: PROTOCOLS[proto] ?? String(proto),
        port,
        flows,
        bytes,
        packets: flows,
        rejectedFlows: 0,
        daysSeen: 1,
        firstSeen: '2024-05-06T00:00:00.000Z',
        lastSeen: '2024-05-06T00:00:00.000Z',
        hourOfDay: new Array<number>(24).fill(0),
        dayOfWeek: new Array<number>(7).fill(0),
        clientHosts: 1,
        serverHosts: 1,
        clientShare: 1,
        serverShare: 1,
        orientation: { rules: { 'tcp-syn': flows, 'listener-evidence': 0, ingest: 0 }, flipped: 0 },
      };
      return { key: id, source: from, target: to, attributes };
    }),
  };
}

function ref(from: string, to: string, proto: number, port: number, flows: number, bytes: number): EdgeRef {
  return { id: `${from}>${to}/${proto}/${port}`, from, to, proto, protocol: PROTOCOLS[proto] ?? String(proto), port, flows, bytes };
}

// A (older)                                  B (newer)
//   web → db     tcp/5432  100 fl  1000 B      web → db     tcp/5432  200 fl  2000 B   doubled: +100 %
//   cache → db   tcp/5432   40 fl  4000 B      cache → db   tcp/5432   20 fl  2000 B   halved: −50 %, at the threshold
//   web → cache  tcp/6379   30 fl   300 B      web → cache  tcp/6379   30 fl   300 B   unchanged
//                                              web → cache  tcp/6380, tcp/16379        new ports of an existing pair
//                                              web → db     udp/5432                   added; (web, db, udp) is a new pair
//   inet → web   tcp/443    50 fl  5000 B      inet → web   tcp/443    60 fl  6000 B   +20 %: below the threshold
//   web → inet   udp/53      5 fl   100 B      web → inet   udp/53      8 fl  1000 B   +900 %, but under 10 flows in both
//   db → backup  tcp/22     10 fl  1000 B      db → backup  tcp/22      9 fl  1600 B   +60 %; 10 flows in A is enough
//   web → legacy tcp/8080                                                              removed (and the legacy group)
//                                              metrics → web tcp/9100                  added (and the metrics group)
const A = graph(
  ['web', 'db', 'cache', 'inet', 'backup', 'legacy'],
  [
    ['web', 'db', 6, 5432, 100, 1000],
    ['cache', 'db', 6, 5432, 40, 4000],
    ['web', 'cache', 6, 6379, 30, 300],
    ['inet', 'web', 6, 443, 50, 5000],
    ['web', 'inet', 17, 53, 5, 100],
    ['db', 'backup', 6, 22, 10, 1000],
    ['web', 'legacy', 6, 8080, 70, 7000],
  ],
);
const B = graph(
  ['metrics', 'web', 'db', 'cache', 'inet', 'backup'],
  [
    ['metrics', 'web', 6, 9100, 300, 3000],
    ['web', 'cache', 6, 6380, 1, 10],
    ['web', 'db', 6, 5432, 200, 2000],
    ['cache', 'db', 6, 5432, 20, 2000],
    ['web', 'cache', 6, 16379, 2, 20],
    ['web', 'cache', 6, 6379, 30, 300],
    ['inet', 'web', 6, 443, 60, 6000],
    ['web', 'inet', 17, 53, 8, 1000],
    ['db', 'backup', 6, 22, 9, 1600],
    ['web', 'db', 17, 5432, 4, 40],
  ],
);

describe('diffBaselines', () => {
  it('reports added and removed edges and groups, new ports of existing pairs, and volume changes beyond the threshold', () => {
    assert.deepEqual(diffBaselines(A, B), {
      added: [
        ref('metrics', 'web', 6, 9100, 300, 3000),
        ref('web', 'cache', 6, 6380, 1, 10),
        ref('web', 'cache', 6, 16379, 2, 20),
        ref('web', 'db', 17, 5432, 4, 40),
      ],
      removed: [ref('web', 'legacy', 6, 8080, 70, 7000)],
      // Numerically sorted: 6380 before 16379.
      newPorts: [{ from: 'web', to: 'cache', proto: 6, protocol: 'tcp', ports: [6380, 16379] }],
      volume: [
        { edge: ref('web', 'db', 6, 5432, 200, 2000), flowsBefore: 100, flowsAfter: 200, bytesBefore: 1000, bytesAfter: 2000, change: 1 },
        { edge: ref('db', 'backup', 6, 22, 9, 1600), flowsBefore: 10, flowsAfter: 9, bytesBefore: 1000, bytesAfter: 1600, change: 0.6 },
        { edge: ref('cache', 'db', 6, 5432, 20, 2000), flowsBefore: 40, flowsAfter: 20, bytesBefore: 4000, bytesAfter: 2000, change: -0.5 },
      ],
      addedGroups: ['metrics'],
      removedGroups: ['legacy'],
      // Edges of both: 6; web→cache 6379, inet→web 443 and web→inet 53 are unchanged.
      summary: { added: 4, removed: 1, newPorts: 1, volume: 3, unchanged: 3 },
    });
  });

  it('takes the threshold and minFlows from the options', () => {
    const diff = diffBaselines(A, B, { volumeThreshold: 0.1, minFlows: 0 });
    assert.deepEqual(
      diff.volume.map((v) => [v.edge.id, v.change]),
      [
        ['web>inet/17/53', 9],
        ['web>db/6/5432', 1],
        ['db>backup/6/22', 0.6],
        ['cache>db/6/5432', -0.5],
        ['inet>web/6/443', 0.2],
      ],
    );
    assert.equal(diff.summary.unchanged, 1);
    assert.deepEqual(
      diffBaselines(A, B, { minFlows: 11 }).volume.map((v) => v.edge.id),
      ['web>db/6/5432', 'cache>db/6/5432'],
    );
  });

  it('compares bytes per day of window, so a 7-day and a 28-day baseline compare fairly', () => {
    const week = graph(['x', 'y'], [
      ['x', 'y', 6, 1, 70, 700],
      ['x', 'y', 6, 2, 70, 700],
      ['x', 'y', 6, 3, 70, 700],
    ]);
    const month = graph(['x', 'y'], [
      ['x', 'y', 6, 1, 280, 2800], // 100 B/day in both
      ['x', 'y', 6, 2, 560, 5600], // 100 → 200 B/day
      ['x', 'y', 6, 3, 70, 700], // 100 → 25 B/day
    ]);
    const diff = diffBaselines(week, month, { aSeconds: 7 * DAY, bSeconds: 28 * DAY });
    assert.deepEqual(
      diff.volume.map((v) => [v.edge.port, v.bytesBefore, v.bytesAfter, v.change]),
      [
        [2, 700, 5600, 1],
        [3, 700, 700, -0.75],
      ],
    );
    assert.equal(diff.summary.unchanged, 1);
    // Without the window lengths, the month's totals look four times larger.
    assert.deepEqual(
      diffBaselines(week, month).volume.map((v) => [v.edge.port, v.change]),
      [
        [2, 7],
        [1, 3],
      ],
    );
    // One length given: the other is taken to be the same.
    assert.deepEqual(diffBaselines(week, month, { aSeconds: 7 * DAY }), diffBaselines(week, month));
  });

  it('reports an edge that carried no bytes before and some after with change null, first', () => {
    const before = graph(['x', 'y'], [
      ['x', 'y', 6, 1, 20, 0],
      ['x', 'y', 6, 2, 20, 100],
      ['x', 'y', 6, 3, 20, 0],
    ]);
    const after = graph(['x', 'y'], [
      ['x', 'y', 6, 1, 20, 50],
      ['x', 'y', 6, 2, 20, 1000],
      ['x', 'y', 6, 3, 20, 0],
    ]);
    const diff = diffBaselines(before, after);
    assert.deepEqual(
      diff.volume.map((v) => [v.edge.port, v.change]),
      [
        [1, null],
        [2, 9],
      ],
    );
    assert.equal(diff.summary.unchanged, 1);
  });

  it('finds nothing between a baseline and itself', () => {
    assert.deepEqual(diffBaselines(A, A), {
      added: [],
      removed: [],
      newPorts: [],
      volume: [],
      addedGroups: [],
      removedGroups: [],
      summary: { added: 0, removed: 0, newPorts: 0, volume: 0, unchanged: 7 },
    });
  });

  it('sorts by group keys in code-unit order, not by locale or input order', () => {
    const empty = graph([], []);
    const b = graph(['b', 'B', 'a'], [
      ['b', 'a', 6, 80, 1, 1],
      ['B', 'a', 6, 80, 1, 1],
      ['a', 'b', 17, 80, 1, 1],
      ['a', 'b', 6, 443, 1, 1],
      ['a', 'b', 6, 80, 1, 1],
    ]);
    const diff = diffBaselines(empty, b);
    assert.deepEqual(
      diff.added.map((e) => e.id),
      ['B>a/6/80', 'a>b/6/80', 'a>b/6/443', 'a>b/17/80', 'b>a/6/80'],
    );
    assert.deepEqual(diff.addedGroups, ['B', 'a', 'b']);
    assert.deepEqual(diff.newPorts, []);
  });

  it('rejects a negative threshold or minFlows and a window length that is not positive', () => {
    for (const options of [{ volumeThreshold: -0.1 }, { minFlows: -1 }, { aSeconds: 0 }, { bSeconds: Number.NaN }, { volumeThreshold: Infinity }]) {
      assert.throws(
        () => diffBaselines(A, B, options),
        (err) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && err.status === 400,
        JSON.stringify(options),
      );
    }
  });
});
