// Orientation refinement, the second pass of DESIGN.md §6: the collector guessed each record's
// server side alone (TCP flags, the service-port list, then the lower port); here a conversation
// of the whole window is checked against the listener evidence of both of its possible server
// ends, and turned round when the evidence says the collector picked the wrong end.
//
// A rollup row says `client → server:servicePort`, and the client used ports clientPortMin..Max.
// Decisions, first match wins:
//   1. tcp-syn — the row holds bare SYNs (SYN without ACK): the client opened the connection, and
//      no evidence overrides that. This also keeps a scanner the client of what it scans, however
//      many peer ports its one source port reaches.
//   2. listener-evidence, turned round — the client always used one port q (min = max) and
//      client:q has more listener evidence (distinct peer ports, summed over the window's days)
//      than server:servicePort. That is the signature of the collector's wrong guesses: a service
//      on a high port (RPC dynamic 49152–65535, gRPC, a custom 9xxx) answering a client whose
//      ephemeral port was lower, or a client bound to a low source port (backup agents, rsh-style
//      tools) reaching a service above it. The real server's port reaches many distinct peer
//      ports (every connection brings a new ephemeral one); a client's ephemeral port reaches one.
//   3. listener-evidence, confirmed — server:servicePort has more evidence than the other end
//      could have (at least 2 peer ports, and more than client:q when the client port is fixed).
//   4. ingest — no evidence either way (the evidence job has not run, a single conversation in
//      the window): the collector's guess stands.
// Equal ports (both ends on 123) compare distinct peers instead: the busier end is the server.
// Equal evidence never turns a row round: a tie is no evidence.
//
// Cost: O(1) per row, no allocation beyond the result.
import type { ConversationRow } from '../../store/index.js';
import type { OrientationRule } from './types.js';

export interface Oriented {
  client: string;
  server: string;
  port: number;
  rule: OrientationRule;
  flipped: boolean;
}

/** Protocols whose rollup rows carry ports (TCP, UDP, SCTP, DCCP, UDP-Lite). */
const PORTED = new Set([6, 17, 33, 132, 136]);

/**
 * A row the rollup cannot orient alone: its client end used several ports, and the lowest of them
 * has more listener evidence than the row's server port — the mark of a server that answered one
 * client ephemeral port from two of its own listening ports (RPC services on two dynamic ports,
 * reached by one client port that happened to be reused). Such rows are drilled down to the raw
 * flows by client port (Store.conversationsByClientPort) and oriented port by port.
 */
export function needsDrillDown(row: ConversationRow): boolean {
  return (
    row.synFlows === 0 &&
    PORTED.has(row.proto) &&
    row.clientPortMin !== row.clientPortMax &&
    row.clientEvidence.peerPorts >= 2 &&
    row.clientEvidence.peerPorts > row.serverEvidence.peerPorts
  );
}

export function orient(row: ConversationRow): Oriented {
  const keep = (rule: OrientationRule): Oriented => ({ client: row.client, server: row.server, port: row.servicePort, rule, flipped: false });
  if (row.synFlows > 0) return keep('tcp-syn');
  if (!PORTED.has(row.proto)) return keep('ingest');
  const serverPorts = row.serverEvidence.peerPorts;
  const fixedClientPort = row.clientPortMin === row.clientPortMax && row.clientPortMin !== 0;
  if (fixedClientPort && row.clientPortMin === row.servicePort) {
    // Equal ports (NTP 123 ↔ 123, DNS 53 ↔ 53): peer ports are the same number on both ends, so
    // they cannot differ; the end that many distinct peers reach is the server.
    const clientPeers = row.clientEvidence.peers;
    const serverPeers = row.serverEvidence.peers;
    if (clientPeers > serverPeers) return { client: row.server, server: row.client, port: row.servicePort, rule: 'listener-evidence', flipped: true };
    return keep(serverPeers > clientPeers ? 'listener-evidence' : 'ingest');
  }
  if (fixedClientPort) {
    const clientPorts = row.clientEvidence.peerPorts;
    if (clientPorts > serverPorts) {
      return { client: row.server, server: row.client, port: row.clientPortMin, rule: 'listener-evidence', flipped: true };
    }
    if (serverPorts > clientPorts && serverPorts >= 2) return keep('listener-evidence');
    return keep('ingest');
  }
  return keep(serverPorts >= 2 ? 'listener-evidence' : 'ingest');
}
