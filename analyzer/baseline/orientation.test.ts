// Orientation refinement (DESIGN.md §6) on single rollup rows: each case is a row as the collector
// would have stored it and the listener evidence the store would attach to it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConversationRow, EndpointEvidence } from '../../store/index.js';
import { orient } from './orientation.js';

const evidence = (peerPorts: number, peers = 1, days = 1): EndpointEvidence => ({ peers, peerPorts, days });
const NONE = evidence(0, 0, 0);

function row(fields: Partial<ConversationRow>): ConversationRow {
  return {
    client: '10.0.0.1',
    server: '10.0.0.2',
    proto: 6,
    servicePort: 443,
    flows: 10,
    bytes: 1000,
    packets: 20,
    rejectedFlows: 0,
    synFlows: 0,
    clientPortMin: 40000,
    clientPortMax: 41000,
    firstHour: 0,
    lastHour: 3600,
    days: [1],
    hourOfDay: new Array<number>(24).fill(0),
    dayOfWeek: new Array<number>(7).fill(0),
    serverEvidence: NONE,
    clientEvidence: NONE,
    ...fields,
  };
}

describe('orientation refinement', () => {
  it('keeps a row whose server port reaches many peer ports (confirmed by listener evidence)', () => {
    const o = orient(row({ serverEvidence: evidence(250, 12, 28) }));
    assert.deepEqual(o, { client: '10.0.0.1', server: '10.0.0.2', port: 443, rule: 'listener-evidence', flipped: false });
  });

  it('turns round an RPC dynamic service the collector mistook for the client (server port 52000 above the client ephemeral 40100)', () => {
    // As stored: client = the RPC server, "service port" = the real client's ephemeral port 40100,
    // and the row's client always used 52000 — which many distinct peer ports reach.
    const o = orient(row({ client: '10.0.9.5', server: '10.0.1.7', servicePort: 40100, clientPortMin: 52000, clientPortMax: 52000, serverEvidence: evidence(1), clientEvidence: evidence(180, 40, 28) }));
    assert.deepEqual(o, { client: '10.0.1.7', server: '10.0.9.5', port: 52000, rule: 'listener-evidence', flipped: true });
  });

  it('turns round a backup agent reached from a low source port (client port 700 below the service 9090)', () => {
    const o = orient(row({ client: '10.0.0.20', server: '10.0.0.30', servicePort: 700, clientPortMin: 9090, clientPortMax: 9090, serverEvidence: evidence(3, 9, 3), clientEvidence: evidence(28, 1, 28) }));
    assert.equal(o.flipped, true);
    assert.equal(o.client, '10.0.0.30');
    assert.equal(o.server, '10.0.0.20');
    assert.equal(o.port, 9090);
  });

  it('never turns round a row with bare SYNs: a scanner stays the client however many peer ports its source port reaches', () => {
    const o = orient(row({ synFlows: 5, servicePort: 22, clientPortMin: 61000, clientPortMax: 61000, serverEvidence: evidence(1), clientEvidence: evidence(5000, 3000, 1) }));
    assert.deepEqual(o, { client: '10.0.0.1', server: '10.0.0.2', port: 22, rule: 'tcp-syn', flipped: false });
  });

  it('keeps the collector guess when the evidence is tied or missing', () => {
    assert.equal(orient(row({ clientPortMin: 50000, clientPortMax: 50000, serverEvidence: evidence(1), clientEvidence: evidence(1) })).rule, 'ingest');
    assert.equal(orient(row({})).rule, 'ingest');
    assert.equal(orient(row({ clientPortMin: 50000, clientPortMax: 50000 })).flipped, false);
  });

  it('turns round the reply half of an equal-port exchange (NTP 123 ↔ 123) towards the busier listener', () => {
    // The collector cannot tell 123 from 123 and stored the server's reply with its destination —
    // the client — as the server.
    const o = orient(row({ proto: 17, client: '10.0.0.12', server: '10.0.3.4', servicePort: 123, clientPortMin: 123, clientPortMax: 123, serverEvidence: evidence(1, 1, 28), clientEvidence: evidence(1, 300, 28) }));
    assert.deepEqual(o, { client: '10.0.3.4', server: '10.0.0.12', port: 123, rule: 'listener-evidence', flipped: true });
    // The request half, stored the right way round, stays.
    const request = orient(row({ proto: 17, client: '10.0.3.4', server: '10.0.0.12', servicePort: 123, clientPortMin: 123, clientPortMax: 123, serverEvidence: evidence(1, 300, 28), clientEvidence: evidence(1, 1, 28) }));
    assert.equal(request.flipped, false);
    assert.equal(request.rule, 'listener-evidence');
  });

  it('does not touch protocols without ports', () => {
    assert.deepEqual(orient(row({ proto: 1, servicePort: 0, clientPortMin: 0, clientPortMax: 0, clientEvidence: evidence(9) })), { client: '10.0.0.1', server: '10.0.0.2', port: 0, rule: 'ingest', flipped: false });
  });
});
