// Reading and writing packet captures: the UDP payloads inside pcap and pcapng files, for
// `flowmap decode`, the corpus tests and the benchmarks. Handles both pcap byte orders and
// timestamp resolutions, pcapng (SHB/IDB/EPB/SPB/OPB), link types Ethernet (with 802.1Q/QinQ),
// Linux cooked (SLL, SLL2), raw IP and BSD loopback, IPv4 (with fragment reassembly) and IPv6
// (skipping extension headers). Everything else is counted as skipped, never thrown.
import { writeV4 } from '../core/ip.js';

export interface CapturedDatagram {
  /** Capture time, Unix seconds (fractional). */
  time: number;
  /** 16-byte addresses (IPv4-mapped for IPv4). */
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  /** A view into the capture's bytes (not a copy). */
  payload: Uint8Array;
}

export interface CaptureContents {
  datagrams: CapturedDatagram[];
  /** Frames that were not UDP over IP, or were cut short, or fragments never completed. */
  skippedFrames: number;
  format: 'pcap' | 'pcapng';
}

const LINKTYPE_NULL = 0;
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_RAW_ALT = [12, 14];
const LINKTYPE_LOOP = 108;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;
const LINKTYPE_IPV4 = 228;
const LINKTYPE_IPV6 = 229;

export class CaptureFormatError extends Error {}

export function readCapture(bytes: Uint8Array): CaptureContents {
  if (bytes.length < 4) throw new CaptureFormatError('file is too short to be a pcap or pcapng capture');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const reader = new FrameReader();
  if (magic === 0x0a0d0d0a) return readPcapng(bytes, view, reader);
  const le = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  const be = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && !be) throw new CaptureFormatError(`not a pcap or pcapng file (magic 0x${magic.toString(16)})`);
  const nano = magic === 0x4d3cb2a1 || magic === 0xa1b23c4d;
  if (bytes.length < 24) throw new CaptureFormatError('pcap header is truncated');
  const linkType = view.getUint32(20, le) & 0x0fffffff;
  let offset = 24;
  while (offset + 16 <= bytes.length) {
    const seconds = view.getUint32(offset, le);
    const fraction = view.getUint32(offset + 4, le);
    const captured = view.getUint32(offset + 8, le);
    offset += 16;
    if (offset + captured > bytes.length) {
      reader.skipped++;
      break;
    }
    reader.frame(bytes.subarray(offset, offset + captured), linkType, seconds + fraction / (nano ? 1e9 : 1e6));
    offset += captured;
  }
  return { datagrams: reader.datagrams, skippedFrames: reader.skipped + reader.pendingFragments(), format: 'pcap' };
}

function readPcapng(bytes: Uint8Array, view: DataView, reader: FrameReader): CaptureContents {
  let offset = 0;
  let le = true;
  const interfaces: { linkType: number; tsDivisor: number }[] = [];
  while (offset + 12 <= bytes.length) {
    const typeBE = view.getUint32(offset, false);
    if (typeBE === 0x0a0d0d0a) {
      // Section header: the byte-order magic decides the endianness of this section.
      le = view.getUint32(offset + 8, true) === 0x1a2b3c4d;
      interfaces.length = 0;
    }
    const type = view.getUint32(offset, le);
    const length = view.getUint32(offset + 4, le);
    if (length < 12 || offset + length > bytes.length) {
      reader.skipped++;
      break;
    }
    const body = offset + 8;
    if (type === 1) {
      interfaces.push({ linkType: view.getUint16(body, le), tsDivisor: interfaceResolution(bytes, view, body + 8, offset + length - 4, le) });
    } else if (type === 6 || type === 3) {
      const enhanced = type === 6;
      const iface = interfaces[enhanced ? view.getUint32(body, le) : 0];
      if (iface === undefined) {
        reader.skipped++;
      } else {
        const captured = enhanced ? view.getUint32(body + 12, le) : Math.min(view.getUint32(body, le), length - 16);
        const dataStart = enhanced ? body + 20 : body + 4;
        let time = 0;
        if (enhanced) {
          const ticks = view.getUint32(body + 4, le) * 4294967296 + view.getUint32(body + 8, le);
          time = ticks / iface.tsDivisor;
        }
        if (dataStart + captured > offset + length) reader.skipped++;
        else reader.frame(bytes.subarray(dataStart, dataStart + captured), iface.linkType, time);
      }
    }
    offset += length;
  }
  return { datagrams: reader.datagrams, skippedFrames: reader.skipped + reader.pendingFragments(), format: 'pcapng' };
}

/** if_tsresol option (9): ticks per second; default microseconds. */
function interfaceResolution(bytes: Uint8Array, view: DataView, start: number, end: number, le: boolean): number {
  let offset = start;
  while (offset + 4 <= end) {
    const code = view.getUint16(offset, le);
    const length = view.getUint16(offset + 2, le);
    if (code === 0) break;
    if (code === 9 && length >= 1) {
      const value = bytes[offset + 4] ?? 6;
      return value & 0x80 ? 2 ** (value & 0x7f) : 10 ** value;
    }
    offset += 4 + ((length + 3) & ~3);
  }
  return 1e6;
}

class FrameReader {
  readonly datagrams: CapturedDatagram[] = [];
  skipped = 0;
  private readonly fragments = new Map<string, { parts: { offset: number; data: Uint8Array }[]; total: number; header: Uint8Array; time: number }>();

  pendingFragments(): number {
    return this.fragments.size;
  }

  frame(frame: Uint8Array, linkType: number, time: number): void {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    let offset = 0;
    let etherType = -1;
    switch (linkType) {
      case LINKTYPE_ETHERNET: {
        if (frame.length < 14) return this.skip();
        etherType = view.getUint16(12, false);
        offset = 14;
        // 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag, possibly stacked.
        while ((etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) && offset + 4 <= frame.length) {
          etherType = view.getUint16(offset + 2, false);
          offset += 4;
        }
        break;
      }
      case LINKTYPE_LINUX_SLL:
        if (frame.length < 16) return this.skip();
        etherType = view.getUint16(14, false);
        offset = 16;
        break;
      case LINKTYPE_LINUX_SLL2:
        if (frame.length < 20) return this.skip();
        etherType = view.getUint16(0, false);
        offset = 20;
        break;
      case LINKTYPE_NULL:
      case LINKTYPE_LOOP: {
        if (frame.length < 4) return this.skip();
        const family = linkType === LINKTYPE_LOOP ? view.getUint32(0, false) : view.getUint32(0, true) > 0xffff ? view.getUint32(0, false) : view.getUint32(0, true);
        etherType = family === 2 ? 0x0800 : family === 24 || family === 28 || family === 30 ? 0x86dd : -1;
        offset = 4;
        break;
      }
      default:
        if (linkType === LINKTYPE_RAW || LINKTYPE_RAW_ALT.includes(linkType) || linkType === LINKTYPE_IPV4 || linkType === LINKTYPE_IPV6) {
          const version = (frame[0] ?? 0) >> 4;
          etherType = version === 4 ? 0x0800 : version === 6 ? 0x86dd : -1;
        }
    }
    if (etherType === 0x0800) this.ipv4(frame.subarray(offset), time);
    else if (etherType === 0x86dd) this.ipv6(frame.subarray(offset), time);
    else this.skip();
  }

  private skip(): void {
    this.skipped++;
  }

  private ipv4(packet: Uint8Array, time: number): void {
    if (packet.length < 20) return this.skip();
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const headerLength = ((packet[0] ?? 0) & 0x0f) * 4;
    const totalLength = Math.min(view.getUint16(2, false), packet.length);
    if (headerLength < 20 || totalLength < headerLength) return this.skip();
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    writeV4(src, 0, view.getUint32(12, false));
    writeV4(dst, 0, view.getUint32(16, false));
    if (packet[9] !== 17) return this.skip();
    const flagsFragment = view.getUint16(6, false);
    const moreFragments = (flagsFragment & 0x2000) !== 0;
    const fragmentOffset = (flagsFragment & 0x1fff) * 8;
    const body = packet.subarray(headerLength, totalLength);
    if (!moreFragments && fragmentOffset === 0) return this.udp(body, src, dst, time);
    // Large IPFIX/NetFlow v9 exports over a 1500-byte MTU arrive as IPv4 fragments.
    const key = `${Buffer.from(packet.subarray(12, 20)).toString('hex')}/${view.getUint16(4, false)}`;
    let entry = this.fragments.get(key);
    if (entry === undefined) {
      entry = { parts: [], total: -1, header: packet.subarray(0, headerLength), time };
      this.fragments.set(key, entry);
    }
    entry.parts.push({ offset: fragmentOffset, data: body });
    if (!moreFragments) entry.total = fragmentOffset + body.length;
    if (entry.total < 0) return;
    const have = entry.parts.reduce((n, p) => n + p.data.length, 0);
    if (have < entry.total) return;
    const whole = new Uint8Array(entry.total);
    for (const part of entry.parts) whole.set(part.data.subarray(0, Math.max(0, entry.total - part.offset)), part.offset);
    this.fragments.delete(key);
    this.udp(whole, src, dst, entry.time);
  }

  private ipv6(packet: Uint8Array, time: number): void {
    if (packet.length < 40) return this.skip();
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const payloadLength = view.getUint16(4, false);
    let next = packet[6] ?? 0;
    let offset = 40;
    const end = Math.min(packet.length, 40 + payloadLength);
    // Hop-by-hop, routing, destination options: skip by their length field. Fragments: not reassembled.
    while ((next === 0 || next === 43 || next === 60) && offset + 8 <= end) {
      next = packet[offset] ?? 0;
      offset += ((packet[offset + 1] ?? 0) + 1) * 8;
    }
    if (next !== 17 || offset > end) return this.skip();
    this.udp(packet.subarray(offset, end), Uint8Array.prototype.slice.call(packet, 8, 24), Uint8Array.prototype.slice.call(packet, 24, 40), time);
  }

  private udp(segment: Uint8Array, src: Uint8Array, dst: Uint8Array, time: number): void {
    if (segment.length < 8) return this.skip();
    const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
    const length = view.getUint16(4, false);
    const end = length >= 8 && length <= segment.length ? length : segment.length;
    this.datagrams.push({ time, src, dst, srcPort: view.getUint16(0, false), dstPort: view.getUint16(2, false), payload: segment.subarray(8, end) });
  }
}

/**
 * Writes UDP datagrams as a classic pcap (Ethernet, IPv4 or IPv6 by address, UDP checksum 0),
 * for encoder tests that hand our packets to tshark.
 */
export function writePcap(datagrams: readonly CapturedDatagram[]): Uint8Array {
  const frames = datagrams.map((d) => ethernetFrame(d));
  const out = new Uint8Array(24 + frames.reduce((n, f) => n + 16 + f.length, 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xa1b2c3d4, false);
  view.setUint16(4, 2, false);
  view.setUint16(6, 4, false);
  view.setUint32(16, 65535, false);
  view.setUint32(20, LINKTYPE_ETHERNET, false);
  let offset = 24;
  frames.forEach((frame, i) => {
    const time = datagrams[i]?.time ?? 0;
    view.setUint32(offset, Math.floor(time), false);
    view.setUint32(offset + 4, Math.round((time % 1) * 1e6), false);
    view.setUint32(offset + 8, frame.length, false);
    view.setUint32(offset + 12, frame.length, false);
    out.set(frame, offset + 16);
    offset += 16 + frame.length;
  });
  return out;
}

function isV4(address: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (address[i] !== 0) return false;
  return address[10] === 0xff && address[11] === 0xff;
}

function ethernetFrame(d: CapturedDatagram): Uint8Array {
  const v4 = isV4(d.src) && isV4(d.dst);
  const ipHeader = v4 ? 20 : 40;
  const udpLength = 8 + d.payload.length;
  const frame = new Uint8Array(14 + ipHeader + udpLength);
  const view = new DataView(frame.buffer);
  frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  view.setUint16(12, v4 ? 0x0800 : 0x86dd, false);
  const ip = 14;
  if (v4) {
    frame[ip] = 0x45;
    view.setUint16(ip + 2, 20 + udpLength, false);
    frame[ip + 8] = 64;
    frame[ip + 9] = 17;
    frame.set(d.src.subarray(12, 16), ip + 12);
    frame.set(d.dst.subarray(12, 16), ip + 16);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += view.getUint16(ip + i, false);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    view.setUint16(ip + 10, ~sum & 0xffff, false);
  } else {
    frame[ip] = 0x60;
    view.setUint16(ip + 4, udpLength, false);
    frame[ip + 6] = 17;
    frame[ip + 7] = 64;
    frame.set(d.src, ip + 8);
    frame.set(d.dst, ip + 24);
  }
  const udp = ip + ipHeader;
  view.setUint16(udp, d.srcPort, false);
  view.setUint16(udp + 2, d.dstPort, false);
  view.setUint16(udp + 4, udpLength, false);
  frame.set(d.payload, udp + 8);
  return frame;
}
