// bench/sender: a NetFlow v9 / IPFIX exporter for load tests, run as its own process so it never
// shares an event loop (or a core's time slices) with the collector it measures. Used by
// bench/ingest.ts; usable alone:
//
//   node --import tsx bench/sender.ts --port 2055 [--host 127.0.0.1] [--protocol netflow9|ipfix]
//        [--rate 100000] [--seconds 10] [--exporters 4] [--template-interval-ms 1000]
//
// Prints one JSON line: {protocol, exporters, targetFlowsPerSecond, sentDatagrams, sentFlows,
// bytes, packets, sendErrors, seconds, achievedFlowsPerSecond}. Only datagrams the kernel accepted
// count as sent; a send that fails (ENOBUFS, ECONNREFUSED, …) counts in sendErrors, with its flows
// left out of the totals, so `sentFlows` is what a lossless collector must store.
//
// How: our encoders build a pool of full datagrams once (IPv4 records, 28 per NetFlow v9 datagram
// and 24 per IPFIX message at the encoders' 1400-byte limit, as routers pack them), plus one
// datagram per exporter carrying the templates. Each send copies a pool datagram and patches the
// header (export time, sequence number) and every record's addresses, source port and input
// interface from a running flow number, so every flow sent is distinct while its bytes and
// packets — and so the totals — stay known. The addresses model an estate (4,096 clients, each
// using 3 of 512 servers), so the hourly rollup sees what it would in production; all-distinct
// client addresses, its worst case, would cost ClickHouse about twice the CPU per flow. Exporters are sockets bound to 127.0.0.1, 127.0.0.2, … (all loopback),
// each announcing its templates first and again every --template-interval-ms. Sending is paced in
// bursts on a 1 ms timer: each tick sends what the target rate owes by then, so the rate holds
// without spinning a core.
import { createSocket, type Socket } from 'node:dgram';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FlowRecord } from '../core/flow.js';
import { writeV4 } from '../core/ip.js';
import { encodeIpfix } from '../collector/encoders/ipfix.js';
import { encodeNetflow9 } from '../collector/encoders/netflow9.js';

export type SenderProtocol = 'netflow9' | 'ipfix';

export interface SenderResult {
  protocol: SenderProtocol;
  exporters: number;
  targetFlowsPerSecond: number;
  sentDatagrams: number;
  sentFlows: number;
  bytes: number;
  packets: number;
  sendErrors: number;
  seconds: number;
  achievedFlowsPerSecond: number;
}

interface Layout {
  /** Header length; where the sequence number and export time sit. */
  header: number;
  sequenceAt: number;
  exportTimeAt: number;
  /** Offsets inside an IPv4 data record: source address and input interface (patched), octets and packets (8 bytes each, summed). */
  srcAt: number;
  dstAt: number;
  srcPortAt: number;
  inIfAt: number;
  bytesAt: number;
  packetsAt: number;
  recordLength: number;
  ipv4Template: number;
}

/** A pool datagram: its bytes, where its IPv4 records start, and what they add up to. */
interface PoolDatagram {
  bytes: Uint8Array;
  records: Int32Array;
  bytesSum: number;
  packetsSum: number;
}

const POOL_RECORDS = 28 * 2048;

function syntheticRecords(count: number, now: number, seed: number): FlowRecord[] {
  let state = seed;
  const random = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
  const exporter = new Uint8Array(16);
  writeV4(exporter, 0, 0x7f000001);
  const records: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    writeV4(src, 0, 0x0a000000);
    writeV4(dst, 0, (0xac100000 | Math.floor(random() * 0xffff)) >>> 0);
    const start = now - 1 - Math.floor(random() * 60);
    records.push({
      time_received: now,
      time_start: start,
      time_end: Math.min(now, start + Math.floor(random() * 30)),
      source: 'netflow9',
      exporter,
      src_addr: src,
      dst_addr: dst,
      src_port: 1024 + Math.floor(random() * 64000),
      dst_port: [443, 80, 53, 22, 5432, 8080, 3306, 6379][Math.floor(random() * 8)] ?? 443,
      proto: random() < 0.8 ? 6 : 17,
      tcp_flags: 0x1b,
      bytes: 40 + Math.floor(random() * 1_500_000),
      packets: 1 + Math.floor(random() * 1000),
      in_if: 1,
      out_if: 1 + Math.floor(random() * 48),
      vlan: 0,
    });
  }
  return records;
}

/** Field offsets of the IPv4 template, read from the template set the encoder wrote. */
function layoutOf(protocol: SenderProtocol, withTemplates: Uint8Array): Layout {
  const v9 = protocol === 'netflow9';
  const header = v9 ? 20 : 16;
  const ipv4Template = 256;
  const view = new DataView(withTemplates.buffer, withTemplates.byteOffset, withTemplates.byteLength);
  let offset = header;
  while (offset + 4 <= view.byteLength) {
    const setId = view.getUint16(offset);
    const setLength = view.getUint16(offset + 2);
    if (setLength < 4) break;
    if (setId === (v9 ? 0 : 2)) {
      let at = offset + 4;
      while (at + 4 <= offset + setLength) {
        const id = view.getUint16(at);
        const count = view.getUint16(at + 2);
        at += 4;
        let recordOffset = 0;
        // Field type → offset; 8 source address, 10 input interface, 1 octets, 2 packets (same
        // numbers in v9 and IPFIX).
        const fields: Record<number, [offset: number, length: number]> = {};
        for (let f = 0; f < count; f++, at += 4) {
          const length = view.getUint16(at + 2);
          fields[view.getUint16(at)] = [recordOffset, length];
          recordOffset += length;
        }
        if (id === ipv4Template) {
          const [src, dst, srcPort, inIf, octets, packets] = [fields[8], fields[12], fields[7], fields[10], fields[1], fields[2]];
          if (src?.[1] !== 4 || dst?.[1] !== 4 || srcPort?.[1] !== 2 || inIf?.[1] !== 4 || octets?.[1] !== 8 || packets?.[1] !== 8) {
            throw new Error('the encoder\'s IPv4 template changed: expected 4-byte addresses and input interface, 2-byte source port, 8-byte octets and packets');
          }
          return {
            header,
            sequenceAt: v9 ? 12 : 8,
            exportTimeAt: v9 ? 8 : 4,
            srcAt: src[0],
            dstAt: dst[0],
            srcPortAt: srcPort[0],
            inIfAt: inIf[0],
            bytesAt: octets[0],
            packetsAt: packets[0],
            recordLength: recordOffset,
            ipv4Template,
          };
        }
      }
    }
    offset += setLength;
  }
  throw new Error('no IPv4 template in the template datagram');
}

function poolDatagram(bytes: Uint8Array, layout: Layout): PoolDatagram {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: number[] = [];
  let bytesSum = 0;
  let packetsSum = 0;
  let offset = layout.header;
  while (offset + 4 <= bytes.length) {
    const setId = view.getUint16(offset);
    const setLength = view.getUint16(offset + 2);
    if (setLength < 4) break;
    if (setId === layout.ipv4Template) {
      for (let at = offset + 4; at + layout.recordLength <= offset + setLength; at += layout.recordLength) {
        records.push(at);
        // Read from the wire, so the totals are what a collector sees, not what we meant to send.
        bytesSum += Number(view.getBigUint64(at + layout.bytesAt));
        packetsSum += Number(view.getBigUint64(at + layout.packetsAt));
      }
    }
    offset += setLength;
  }
  return { bytes, records: Int32Array.from(records), bytesSum, packetsSum };
}

export interface SenderOptions {
  host: string;
  port: number;
  protocol: SenderProtocol;
  rate: number;
  seconds: number;
  exporters: number;
  templateIntervalMs: number;
}

export async function sendAtRate(options: SenderOptions): Promise<SenderResult> {
  const now = Math.floor(Date.now() / 1000);
  const encode = options.protocol === 'netflow9'
    ? (records: FlowRecord[], templates: 'every' | 'none') => encodeNetflow9(records, { templates, exportTime: now })
    : (records: FlowRecord[], templates: 'every' | 'none') => encodeIpfix(records, { templates, exportTime: now });
  const records = syntheticRecords(POOL_RECORDS, now, 7);
  const templateDatagram = encode(records.slice(0, 1), 'every')[0];
  if (templateDatagram === undefined) throw new Error('the encoder returned no template datagram');
  const layout = layoutOf(options.protocol, templateDatagram);
  const pool = encode(records, 'none').map((d) => poolDatagram(d, layout));
  const templated = poolDatagram(templateDatagram, layout);
  const flowsPerDatagram = POOL_RECORDS / pool.length;

  const sockets: Socket[] = [];
  for (let e = 0; e < options.exporters; e++) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, `127.0.0.${e + 1}`, () => {
        socket.connect(options.port, options.host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    });
    // A connected UDP socket reports ICMP port-unreachable as an error on a later send; those
    // come through the send callbacks, this only keeps an 'error' event from throwing.
    socket.on('error', () => undefined);
    sockets.push(socket);
  }

  const sequence = new Float64Array(options.exporters);
  const nextTemplateAt = new Float64Array(options.exporters);
  let flowNumber = 0;
  let issued = 0;
  let inFlight = 0;
  const result = { sentDatagrams: 0, sentFlows: 0, bytes: 0, packets: 0, sendErrors: 0 };
  let lastDone = 0n;

  const sendOne = (exporter: number, source: PoolDatagram, unixSeconds: number): void => {
    const bytes = Buffer.from(source.bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint32(layout.exportTimeAt, unixSeconds);
    // RFC 3954 §5.1: v9 counts datagrams; RFC 7011 §3.1: IPFIX counts data records sent before.
    view.setUint32(layout.sequenceAt, (sequence[exporter] ?? 0) >>> 0);
    sequence[exporter] = (sequence[exporter] ?? 0) + (options.protocol === 'netflow9' ? 1 : source.records.length);
    for (const at of source.records) {
      // An estate, not noise: 4,096 clients (10.0.0.0/20), each talking to 3 of 512 servers
      // (172.16.0.0/23) on the pool record's service port. The flow number's remaining bits make
      // the flow distinct: the client's source port, then the input interface.
      const client = flowNumber & 0xfff;
      const rest = Math.floor(flowNumber / 0x1000);
      view.setUint32(at + layout.srcAt, (0x0a000000 | client) >>> 0);
      view.setUint32(at + layout.dstAt, (0xac100000 | ((client * 7 + (rest % 3)) & 0x1ff)) >>> 0);
      view.setUint16(at + layout.srcPortAt, 1024 + (rest % 64_000));
      view.setUint32(at + layout.inIfAt, Math.floor(rest / 64_000) + 1);
      flowNumber++;
    }
    inFlight++;
    (sockets[exporter] as Socket).send(bytes, (err) => {
      inFlight--;
      lastDone = process.hrtime.bigint();
      if (err) {
        result.sendErrors++;
        return;
      }
      result.sentDatagrams++;
      result.sentFlows += source.records.length;
      result.bytes += source.bytesSum;
      result.packets += source.packetsSum;
    });
  };

  const datagramsPerSecond = options.rate / flowsPerDatagram;
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsedNs = process.hrtime.bigint() - started;
      const elapsed = Number(elapsedNs) / 1e9;
      if (elapsed >= options.seconds) {
        resolve();
        return;
      }
      const unixSeconds = Math.floor(Date.now() / 1000);
      const elapsedMs = elapsed * 1000;
      for (let e = 0; e < options.exporters; e++) {
        if (elapsedMs >= (nextTemplateAt[e] ?? 0)) {
          sendOne(e, templated, unixSeconds);
          nextTemplateAt[e] = elapsedMs + options.templateIntervalMs;
        }
      }
      // What the rate owes by now; a late tick catches up in one larger burst. The in-flight cap
      // keeps a stalled socket from queueing unbounded memory in libuv.
      const due = Math.floor(elapsed * datagramsPerSecond) + 1;
      while (issued < due && inFlight < 65_536) {
        sendOne(issued % options.exporters, pool[issued % pool.length] as PoolDatagram, unixSeconds);
        issued++;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  while (inFlight > 0) await new Promise((r) => setImmediate(r));
  for (const socket of sockets) socket.close();
  const seconds = Number((lastDone > started ? lastDone : process.hrtime.bigint()) - started) / 1e9;
  return {
    protocol: options.protocol,
    exporters: options.exporters,
    targetFlowsPerSecond: options.rate,
    ...result,
    seconds: Math.round(seconds * 1000) / 1000,
    achievedFlowsPerSecond: Math.round(result.sentFlows / seconds),
  };
}

function positive(name: string, text: string | undefined, fallback: number): number {
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, not ${text}`);
  return value;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      protocol: { type: 'string', default: 'netflow9' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      exporters: { type: 'string' },
      'template-interval-ms': { type: 'string' },
    },
  });
  const protocol = values.protocol;
  if (protocol !== 'netflow9' && protocol !== 'ipfix') throw new Error(`--protocol must be netflow9 or ipfix, not ${protocol}`);
  if (values.port === undefined) throw new Error('--port is required');
  const exporters = positive('exporters', values.exporters, 4);
  if (!Number.isInteger(exporters) || exporters > 254) throw new Error('--exporters must be an integer from 1 to 254');
  const outcome = await sendAtRate({
    host: values.host,
    port: positive('port', values.port, 0),
    protocol,
    rate: positive('rate', values.rate, 100_000),
    seconds: positive('seconds', values.seconds, 10),
    exporters,
    templateIntervalMs: positive('template-interval-ms', values['template-interval-ms'], 1000),
  });
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}
