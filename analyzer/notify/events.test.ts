// The event model: which findings are new, and ids that are stable for the same thing and differ
// for different things — the property once-only delivery rests on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFlowmapError } from '../../core/errors.js';
import type { Finding } from '../policy/index.js';
import { eventBody, findingEvents, parseEvent, reportEvent, webhookTestEvent } from './index.js';

const f = (id: string): Finding => ({
  id,
  kind: 'undocumented',
  category: 'application',
  from: { app: 'a' },
  to: { app: 'b' },
  protocol: 'tcp',
  ports: [443],
  severity: 'medium',
  evidence: { flows: 1, bytes: 1, daysSeen: 1 },
  explanation: id,
});
const TIME = '2026-03-02T02:15:00.000Z';

describe('events', () => {
  it('makes one finding.new event per finding absent from the previous baseline, in order, duplicates once', () => {
    const events = findingEvents('bl-2', [f('f-1'), f('f-2'), f('f-3'), f('f-2')], [f('f-2'), f('f-9')], { time: TIME });
    assert.deepEqual(events.map((e) => (e.data.finding as Finding).id), ['f-1', 'f-3']);
    for (const event of events) {
      assert.equal(event.type, 'finding.new');
      assert.equal(event.time, TIME);
      assert.equal(event.data.baseline, 'bl-2');
      assert.match(event.id, /^evt_[0-9a-f]{32}$/);
    }
  });

  it('treats every finding as new when there is no previous baseline, and none when nothing changed', () => {
    assert.equal(findingEvents('bl-1', [f('f-1'), f('f-2')], undefined).length, 2);
    assert.equal(findingEvents('bl-1', [f('f-1')], [f('f-1')]).length, 0);
  });

  it('derives the event id from baseline and finding: the same for a rebuild, different for another baseline or finding', () => {
    const [a] = findingEvents('bl-2', [f('f-1')], [], { time: TIME });
    const [again] = findingEvents('bl-2', [f('f-1')], [], { time: '2027-01-01T00:00:00Z' });
    const [otherBaseline] = findingEvents('bl-3', [f('f-1')], []);
    const [otherFinding] = findingEvents('bl-2', [f('f-2')], []);
    assert.equal(a?.id, again?.id);
    assert.notEqual(a?.id, otherBaseline?.id);
    assert.notEqual(a?.id, otherFinding?.id);
    // No separator ambiguity: ("bl-2", "f-1") is not ("bl-", "2f-1").
    assert.notEqual(findingEvents('bl-', [f('2f-1')], [])[0]?.id, a?.id);
  });

  it('makes one report.completed event per report id, carrying its summary', () => {
    const event = reportEvent({ id: 'rep-1', baseline: 'bl-2', findings: 3 }, { time: TIME });
    assert.deepEqual(event.data, { report: { id: 'rep-1', baseline: 'bl-2', findings: 3 } });
    assert.equal(reportEvent({ id: 'rep-1', baseline: 'bl-2' }).id, event.id);
    assert.notEqual(reportEvent({ id: 'rep-2', baseline: 'bl-2' }).id, event.id);
  });

  it('gives every test ping its own id', () => {
    assert.notEqual(webhookTestEvent('wh_0123456789abcdef').id, webhookTestEvent('wh_0123456789abcdef').id);
  });

  it('writes the body as exactly id, type, time, data', () => {
    const event = reportEvent({ id: 'rep-1', baseline: 'bl-2' }, { time: TIME });
    assert.deepEqual(Object.keys(JSON.parse(eventBody({ ...event, extra: 1 } as typeof event)) as object), ['id', 'type', 'time', 'data']);
  });

  it('refuses malformed events with FLOWMAP_BAD_REQUEST naming the field', () => {
    const good = reportEvent({ id: 'rep-1', baseline: 'bl-2' }, { time: TIME });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [unknown, RegExp][] = [
      [null, /event/],
      ['text', /event/],
      [{ ...good, id: '' }, /id/],
      [{ ...good, type: 'finding.old' }, /type/],
      [{ ...good, time: 'yesterday' }, /time/],
      [{ ...good, time: '2026-02-30T25:00:00Z' }, /time/],
      [{ ...good, data: [] }, /data/],
      [{ ...good, extra: true }, /extra|unrecognized/i],
      [{ ...good, data: { blob: 'x'.repeat(1024 * 1024) } }, /bytes/],
      [{ ...good, data: cyclic }, /JSON/],
      [{ ...good, data: { n: 1n } }, /JSON/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => parseEvent(value), (err) => isFlowmapError(err, 'FLOWMAP_BAD_REQUEST') && message.test(err.message), String(message));
    }
    assert.deepEqual(parseEvent(JSON.parse(JSON.stringify(good))), good);
  });
});
