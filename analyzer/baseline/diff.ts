// Drift between two baselines (DESIGN.md §8 findings): which dependencies appeared or vanished,
// which ports are new between groups that already talked, and whose volume moved by more than a
// threshold. A is the older baseline, B the newer.
//
// Edges are matched by their id, which build.ts derives from (from, to, proto, port): the same
// dependency has the same id in every baseline, whatever its window or its numbers.
//
// Volume compares bytes per day of window, so a 7-day baseline and a 28-day one compare fairly:
// change = (B bytes / B days − A bytes / A days) / (A bytes / A days). It is null when A carried
// no bytes and B did (the ratio has no value; JSON could not carry Infinity either). An edge is
// compared only when it had at least `minFlows` flows in A or in B: a few flows more or less on a
// quiet edge is noise, not drift. It is reported when |change| ≥ the threshold.
//
// Cost: O(N + E) to index the groups and edges of both graphs, O(E log E) to sort the result,
// for N groups and E edges in the two together.
import { FlowmapError } from '../../core/errors.js';
import type { DependencyEdgeAttributes, SerializedBaselineGraph } from './types.js';

/** An edge as the diff names it: its identity and its totals in the baseline it comes from. */
export interface EdgeRef {
  id: string;
  from: string;
  to: string;
  proto: number;
  protocol: string;
  port: number;
  flows: number;
  bytes: number;
}

/** Ports of B between a pair of groups (and protocol) that had edges in A, but not on these ports. */
export interface NewPorts {
  from: string;
  to: string;
  proto: number;
  protocol: string;
  /** Ascending. */
  ports: number[];
}

export interface VolumeChange {
  /** The edge as B has it. */
  edge: EdgeRef;
  /** Each baseline's own totals (not per day; `change` is). */
  flowsBefore: number;
  flowsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Relative change of bytes per day of window, (after − before) / before; null when before is 0. */
  change: number | null;
}

export interface BaselineDiff {
  /** Edges of B that A does not have (as B has them), including those listed in `newPorts`. */
  added: EdgeRef[];
  /** Edges of A that B does not have (as A had them). */
  removed: EdgeRef[];
  newPorts: NewPorts[];
  /** Edges of both whose volume changed by at least the threshold; largest |change| first. */
  volume: VolumeChange[];
  /** Group keys in B only, and in A only; sorted. */
  addedGroups: string[];
  removedGroups: string[];
  /** The lengths of the lists above; `unchanged` counts the edges of both not in `volume`. */
  summary: { added: number; removed: number; newPorts: number; volume: number; unchanged: number };
}

export interface DiffOptions {
  /** Relative change in bytes per day that counts: 0.5 reports ±50 % and more. Default 0.5. */
  volumeThreshold?: number;
  /** Edges with fewer flows than this in both baselines are not compared by volume. Default 10. */
  minFlows?: number;
  /** Window lengths of A and B in seconds. Each defaults to the other, so by default they are equal. */
  aSeconds?: number;
  bSeconds?: number;
}

const DAY = 86_400;

function edgeRef(e: DependencyEdgeAttributes): EdgeRef {
  return { id: e.id, from: e.from, to: e.to, proto: e.proto, protocol: e.protocol, port: e.port, flows: e.flows, bytes: e.bytes };
}

/** Code-unit order, the same in every locale. */
function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareEdges(x: { from: string; to: string; proto: number; port: number }, y: { from: string; to: string; proto: number; port: number }): number {
  return compareText(x.from, y.from) || compareText(x.to, y.to) || x.proto - y.proto || x.port - y.port;
}

function pairKey(e: DependencyEdgeAttributes): string {
  // JSON of the parts: group keys may hold any character, so no separator would be safe.
  return JSON.stringify([e.from, e.to, e.proto]);
}

function checkOption(name: string, value: number, min: number, exclusive: boolean): number {
  if (!Number.isFinite(value) || value < min || (exclusive && value === min)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `diff option ${name} = ${value}: must be a finite number ${exclusive ? '>' : '≥'} ${min}`, {
      status: 400,
      details: { option: name, value },
    });
  }
  return value;
}

function groupsOnlyIn(x: SerializedBaselineGraph, y: SerializedBaselineGraph): string[] {
  const inY = new Set(y.nodes.map((n) => n.key));
  return x.nodes
    .map((n) => n.key)
    .filter((key) => !inY.has(key))
    .sort(compareText);
}

export function diffBaselines(a: SerializedBaselineGraph, b: SerializedBaselineGraph, options: DiffOptions = {}): BaselineDiff {
  const threshold = checkOption('volumeThreshold', options.volumeThreshold ?? 0.5, 0, false);
  const minFlows = checkOption('minFlows', options.minFlows ?? 10, 0, false);
  const aDays = checkOption('aSeconds', options.aSeconds ?? options.bSeconds ?? DAY, 0, true) / DAY;
  const bDays = checkOption('bSeconds', options.bSeconds ?? options.aSeconds ?? DAY, 0, true) / DAY;

  const before = new Map<string, DependencyEdgeAttributes>();
  const pairsBefore = new Set<string>();
  for (const { attributes: e } of a.edges) {
    before.set(e.id, e);
    pairsBefore.add(pairKey(e));
  }

  const added: EdgeRef[] = [];
  const volume: VolumeChange[] = [];
  const newPorts = new Map<string, NewPorts>();
  const matched = new Set<string>();
  let unchanged = 0;
  for (const { attributes: after } of b.edges) {
    const old = before.get(after.id);
    if (old === undefined) {
      added.push(edgeRef(after));
      const pair = pairKey(after);
      if (pairsBefore.has(pair)) {
        const entry = newPorts.get(pair) ?? { from: after.from, to: after.to, proto: after.proto, protocol: after.protocol, ports: [] };
        entry.ports.push(after.port);
        newPorts.set(pair, entry);
      }
      continue;
    }
    matched.add(after.id);
    if (old.flows < minFlows && after.flows < minFlows) {
      unchanged++;
      continue;
    }
    const perDayBefore = old.bytes / aDays;
    const perDayAfter = after.bytes / bDays;
    const change = perDayBefore === 0 ? (perDayAfter === 0 ? 0 : null) : (perDayAfter - perDayBefore) / perDayBefore;
    if (change !== null && Math.abs(change) < threshold) {
      unchanged++;
      continue;
    }
    volume.push({ edge: edgeRef(after), flowsBefore: old.flows, flowsAfter: after.flows, bytesBefore: old.bytes, bytesAfter: after.bytes, change });
  }
  const removed = a.edges.filter((e) => !matched.has(e.attributes.id)).map((e) => edgeRef(e.attributes));

  added.sort(compareEdges);
  removed.sort(compareEdges);
  const ports = [...newPorts.values()];
  for (const entry of ports) entry.ports.sort((x, y) => x - y);
  ports.sort((x, y) => compareText(x.from, y.from) || compareText(x.to, y.to) || x.proto - y.proto);
  // A change from nothing (null) is larger than any ratio.
  const size = (v: VolumeChange): number => (v.change === null ? Infinity : Math.abs(v.change));
  volume.sort((x, y) => size(y) - size(x) || compareEdges(x.edge, y.edge));

  const addedGroups = groupsOnlyIn(b, a);
  const removedGroups = groupsOnlyIn(a, b);
  return {
    added,
    removed,
    newPorts: ports,
    volume,
    addedGroups,
    removedGroups,
    summary: { added: added.length, removed: removed.length, newPorts: ports.length, volume: volume.length, unchanged },
  };
}
