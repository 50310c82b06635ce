import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseAddress } from '../../core/ip.js';
import { createResolver, type Binding, type Workload } from '../../inventory/index.js';
import type { ConversationRow } from '../../store/index.js';
import { changingAddresses, drillKeys, ownerSplits } from './build.js';

const H = 3600;
const T0 = 1_767_571_200; // a Monday 00:00 UTC
const workload = (id: string, app: string): Workload => ({ id, name: id, labels: { app, env: 'prod' }, source: 'test' });
const bind = (ip: string, workloadId: string, from: number, to: number): Binding => ({ address: parseAddress(ip), workloadId, from, to, source: 'test', importedAt: 0 });

describe('ownerSplits', () => {
  const inventory = {
    workloads: [workload('web-1', 'web'), workload('web-2', 'web'), workload('db-1', 'db')],
    bindings: [
      // 10.0.0.5: web (two pods, one group) for 10 hours, then unbound at 10:00 sharp, then db from 12:20 to 15:00, then web again.
      bind('10.0.0.5', 'web-1', T0, T0 + 4 * H),
      bind('10.0.0.5', 'web-2', T0 + 4 * H, T0 + 10 * H),
      bind('10.0.0.5', 'db-1', T0 + 12 * H + 1200, T0 + 15 * H),
      bind('10.0.0.5', 'web-1', T0 + 15 * H, Infinity),
      // 10.0.0.6: web throughout.
      bind('10.0.0.6', 'web-1', 0, Infinity),
    ],
    rules: [],
  };
  const resolver = createResolver(inventory, { groupBy: ['app', 'env'] });
  const from = T0;
  const to = T0 + 24 * H;

  it('starts a segment where the group changes on an hour boundary, and isolates each hour with a change inside', () => {
    // A pod handing the address to another pod of the same group is no change (04:00); 10:00 is a
    // change on the boundary (web → unbound); 12:00 is an hour with the change at 12:20 inside it,
    // a segment of its own; 13:00 starts db's whole hours; 15:00 web again.
    assert.deepEqual(ownerSplits(resolver, parseAddress('10.0.0.5'), from, to), { starts: [T0 + 10 * H, T0 + 12 * H, T0 + 13 * H, T0 + 15 * H], changes: [T0 + 12 * H] });
    assert.deepEqual(ownerSplits(resolver, parseAddress('10.0.0.6'), from, to), { starts: [], changes: [] });
  });

  it('agrees with an hour-by-hour walk of the resolver', () => {
    const address = parseAddress('10.0.0.5');
    const starts: number[] = [];
    const changed: number[] = [];
    let previous: number | undefined;
    for (let h = from; h < to; h += H) {
      const changes = new Set<number>();
      for (let t = h; t < h + H; t += 60) changes.add(resolver.resolveSpan(address, t).id);
      const key = changes.size > 1 ? -h : [...changes][0];
      if (h > from && (key !== previous || changes.size > 1)) starts.push(h);
      if (changes.size > 1) changed.push(h);
      previous = key;
    }
    assert.deepEqual(ownerSplits(resolver, address, from, to), { starts, changes: changed });
  });

  it('lists only addresses whose group changes in the window', () => {
    assert.deepEqual(changingAddresses(inventory, resolver, from, to), ['10.0.0.5']);
    assert.deepEqual(changingAddresses(inventory, resolver, T0 + 16 * H, to), []);
  });
});

describe('drillKeys', () => {
  const row = (over: Partial<ConversationRow>): ConversationRow => ({
    client: '10.0.0.1', server: '10.0.0.2', proto: 6, servicePort: 49700, flows: 3, bytes: 300, packets: 3, rejectedFlows: 0, synFlows: 0,
    clientPortMin: 135, clientPortMax: 50000, firstHour: T0 + 2 * H, lastHour: T0 + 4 * H, days: [1], hourOfDay: Array.from({ length: 24 }, () => 0), dayOfWeek: Array.from({ length: 7 }, () => 0),
    serverEvidence: { peers: 1, peerPorts: 1, days: 1 }, clientEvidence: { peers: 1, peerPorts: 3, days: 1 }, ...over,
  });
  const key = { client: '10.0.0.1', server: '10.0.0.2', proto: 6, servicePort: 49700 };

  it('asks for a window row over the window, and for a segment row hour by hour over the hours it has flows in', () => {
    assert.deepEqual(drillKeys(row({})), [key]);
    // A segment starting at 00:00 whose flows fall in 02:00-04:00: not the segment's other hours, not other segments.
    assert.deepEqual(drillKeys(row({ hour: T0 })), [{ ...key, hour: T0 + 2 * H }, { ...key, hour: T0 + 3 * H }, { ...key, hour: T0 + 4 * H }]);
    assert.deepEqual(drillKeys(row({ hour: T0 + 5 * H, firstHour: T0 + 5 * H, lastHour: T0 + 5 * H })), [{ ...key, hour: T0 + 5 * H }]);
  });
});
