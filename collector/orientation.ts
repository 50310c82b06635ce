// Orientation at ingest, the first pass of DESIGN.md §6: which end of a flow record is the server.
// NetFlow, IPFIX and cloud logs are unidirectional, so one TCP connection is two records, and a
// policy needs client → server on the service port. This pass sees one record at a time; the
// analyzer refines what it leaves unknown (or gets wrong) with listener evidence from many records.
//
// Evidence, first match wins, for rows whose `server_side` is still 'unknown' (cloud parsers may
// have set it from the log itself):
//   (a) TCP with SYN set and ACK not set: the sender opened the connection, so it is the client and
//       the destination is the server. Only records of a bare SYN carry this (a NetFlow record ORs
//       the flags of all its packets, so a normal connection's records both show ACK); it also
//       orients scans correctly, whatever source port the scanner picks.
//   (b) Service ports (collector/service-ports.ts): the port with the higher rank is the server's
//       (operator-configured > built-in below 1024 > built-in from 1024 > unlisted).
//   (c) Otherwise the lower port is the server's: clients pick ephemeral ports from high ranges.
// No evidence, so 'unknown':
//   - protocols without ports (ICMP, GRE, ESP, OSPF, …) unless (a);
//   - either port 0: the exporter did not see the ports (non-first fragments, templates without
//     port fields), and a zero is not a lower port;
//   - equal ports (NTP 123↔123, IKE 500↔500, DNS 53↔53 between servers, BACnet 47808↔47808):
//     both ends run the service, and the ports cannot tell who asked.
// RPC dynamic servers (MS RPC and Sun RPC services on 49152–65535) are not decided here: against a
// client's ephemeral port they fall to (c) and may come out wrong; the analyzer's listener evidence
// (one address:port reached from many distinct peer ports) is what finds them.
//
// Hot path: one column-wise loop over the batch's typed arrays, no allocation per row.
import { SERVER_SIDES, type FlowBatch } from '../core/flow.js';
import { PORTS_WITHOUT_LIST, type ServicePorts } from './service-ports.js';

const UNKNOWN = SERVER_SIDES.indexOf('unknown');
const SRC = SERVER_SIDES.indexOf('src');
const DST = SERVER_SIDES.indexOf('dst');

const PROTO_TCP = 6;
/** RFC 9293 §3.1 control bits. */
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

/**
 * Sets `server_side` for rows [start, end) whose value is still 'unknown', from TCP flags, the
 * service-port list and the lower port (see the module comment for the exact rule). Rows already
 * oriented are left alone. O(end − start), no allocation.
 */
export function orientBatch(batch: FlowBatch, servicePorts: ServicePorts, start = 0, end = batch.length): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > batch.length || start > end) {
    throw new RangeError(`orientBatch: rows ${start}..${end} are outside the batch of ${batch.length}`);
  }
  const c = batch.columns;
  const side = c.server_side;
  const proto = c.proto;
  const flags = c.tcp_flags;
  const srcPort = c.src_port;
  const dstPort = c.dst_port;
  const ranks = servicePorts.ranks;
  const protocols = servicePorts.protocols;
  for (let i = start; i < end; i++) {
    if (side[i] !== UNKNOWN) continue;
    const p = proto[i]!;
    if (p === PROTO_TCP && (flags[i]! & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      side[i] = DST;
      continue;
    }
    const list = protocols[p]!;
    if (list === 0) continue;
    const s = srcPort[i]!;
    const d = dstPort[i]!;
    if (s === 0 || d === 0 || s === d) continue;
    let srcRank = 0;
    let dstRank = 0;
    if (list !== PORTS_WITHOUT_LIST) {
      const base = (list - 1) << 16;
      srcRank = ranks[base + s]!;
      dstRank = ranks[base + d]!;
    }
    if (srcRank !== dstRank) side[i] = srcRank > dstRank ? SRC : DST;
    else side[i] = s < d ? SRC : DST;
  }
}
