import { CORPUS } from '../test/corpus.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatAddress, parseAddress } from '../core/ip.js';
import { CaptureFormatError, readCapture, writePcap, type CapturedDatagram } from './pcap.js';


describe('capture files', () => {
  it('reads the UDP payloads of a corpus pcap with addresses, ports and times', () => {
    const capture = readCapture(readFileSync(join(CORPUS, 'netflow-v5/akvorado/nfv5.pcap')));
    assert.equal(capture.format, 'pcap');
    assert.equal(capture.datagrams.length, 1);
    const d = capture.datagrams[0];
    assert.equal(formatAddress(d?.src ?? new Uint8Array(16)), '10.19.144.41');
    assert.equal(formatAddress(d?.dst ?? new Uint8Array(16)), '10.19.144.26');
    assert.equal(d?.dstPort, 9990);
    assert.equal(d?.payload.length, 1416, 'header + 29 records of 48 bytes');
    const payload = d?.payload ?? new Uint8Array(2);
    assert.equal(new DataView(payload.buffer, payload.byteOffset).getUint16(0), 5);
  });

  it('writes pcaps it and tshark read back: IPv4 and IPv6 exporters, times kept', () => {
    const datagrams: CapturedDatagram[] = [
      { time: 1_700_000_000.25, src: parseAddress('192.0.2.1'), dst: parseAddress('192.0.2.2'), srcPort: 50000, dstPort: 2055, payload: new Uint8Array([0, 5, 0, 0]) },
      { time: 1_700_000_001.5, src: parseAddress('2001:db8::1'), dst: parseAddress('2001:db8::2'), srcPort: 50001, dstPort: 4739, payload: new Uint8Array(300).fill(7) },
    ];
    const back = readCapture(writePcap(datagrams));
    assert.equal(back.skippedFrames, 0);
    assert.deepEqual(
      back.datagrams.map((d) => [formatAddress(d.src), formatAddress(d.dst), d.srcPort, d.dstPort, d.payload.length, d.time]),
      [['192.0.2.1', '192.0.2.2', 50000, 2055, 4, 1_700_000_000.25], ['2001:db8::1', '2001:db8::2', 50001, 4739, 300, 1_700_000_001.5]],
    );
  });

  it('reassembles IPv4 fragments of a large export', () => {
    // Fragment a 3000-byte datagram by hand from a frame writePcap made.
    const payload = new Uint8Array(3000).map((_, i) => i & 0xff);
    const whole = writePcap([{ time: 1, src: parseAddress('192.0.2.1'), dst: parseAddress('192.0.2.2'), srcPort: 1, dstPort: 4739, payload }]);
    const frame = whole.subarray(24 + 16);
    const ipPayload = frame.subarray(14 + 20); // UDP header + data
    const pieces = [ipPayload.subarray(0, 1480), ipPayload.subarray(1480, 2960), ipPayload.subarray(2960)];
    const frames = pieces.map((piece, n) => {
      const f = new Uint8Array(14 + 20 + piece.length);
      f.set(frame.subarray(0, 34), 0);
      const view = new DataView(f.buffer);
      view.setUint16(14 + 2, 20 + piece.length);
      view.setUint16(14 + 4, 0x1234);
      view.setUint16(14 + 6, (n < 2 ? 0x2000 : 0) | ((n * 1480) / 8));
      f.set(piece, 34);
      return f;
    });
    // Rebuild a pcap from the three frames, last fragment first to check ordering does not matter.
    const order = [frames[2], frames[0], frames[1]] as Uint8Array[];
    const file = new Uint8Array(24 + order.reduce((n, f) => n + 16 + f.length, 0));
    file.set(whole.subarray(0, 24));
    let offset = 24;
    const view = new DataView(file.buffer);
    for (const f of order) {
      view.setUint32(offset + 8, f.length);
      view.setUint32(offset + 12, f.length);
      file.set(f, offset + 16);
      offset += 16 + f.length;
    }
    const capture = readCapture(file);
    assert.equal(capture.datagrams.length, 1);
    assert.deepEqual(capture.datagrams[0]?.payload, payload);
  });

  it('refuses what is not a capture, and counts a truncated last frame', () => {
    assert.throws(() => readCapture(new Uint8Array([1, 2, 3, 4, 5])), CaptureFormatError);
    const file = writePcap([{ time: 1, src: parseAddress('192.0.2.1'), dst: parseAddress('192.0.2.2'), srcPort: 1, dstPort: 2, payload: new Uint8Array(100) }]);
    const cut = readCapture(file.subarray(0, file.length - 10));
    assert.equal(cut.datagrams.length, 0);
    assert.equal(cut.skippedFrames, 1);
  });
});
