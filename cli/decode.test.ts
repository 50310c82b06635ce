import { CORPUS } from '../test/corpus.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isFlowmapError } from '../core/errors.js';
import { FLOW_COLUMNS } from '../core/flow.js';
import { decodeCaptureFile, parsePorts, summaryText } from './decode.js';


describe('flowmap decode', () => {
  it('prints one JSON object per flow with the flow record column names, text addresses and ISO times', () => {
    const lines: string[] = [];
    const summary = decodeCaptureFile(join(CORPUS, 'netflow-v5/akvorado/nfv5.pcap'), { json: true, ports: ['netflow=9990'] }, (l) => lines.push(l));
    assert.equal(lines.length, 29);
    assert.equal(summary.counters.flows, 29);
    const first = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), FLOW_COLUMNS.map((c) => c.name));
    assert.equal(first.source, 'netflow5');
    assert.equal(first.exporter, '10.19.144.41');
    assert.match(String(first.src_addr), /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(String(first.time_start), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(summaryText('x', summary), /29 flow\(s\)[\s\S]*29 flow\(s\) with no announced sampling rate stored with rate 1/);
  });

  it('looks only at the selected ports and says how many datagrams it passed over', () => {
    const lines: string[] = [];
    const summary = decodeCaptureFile(join(CORPUS, 'netflow-v5/akvorado/nfv5.pcap'), { json: false, ports: [] }, (l) => lines.push(l));
    assert.equal(lines.length, 0);
    assert.equal(summary.otherPorts, 1);
    assert.match(summaryText('x', summary), /1 datagram\(s\) on other ports \(UDP 9990: 1; add --port PROTO=PORT\)/);
  });

  it('prints a readable line per flow without --json', () => {
    const lines: string[] = [];
    const summary = decodeCaptureFile(join(CORPUS, 'netflow-v5/akvorado/nfv5.pcap'), { json: false, ports: ['netflow=9990'] }, (l) => lines.push(l));
    assert.match(lines[0] ?? '', /^\S+Z netflow5 exporter=10\.19\.144\.41 domain=\d+ \S+ -> \S+ (tcp|udp|icmp|proto=\d+) flags=0x[0-9a-f]{2} bytes=\d+ packets=\d+ rate=1 in=\d+ out=\d+/);
    assert.equal(summary.datagrams, 1);
  });

  it('refuses malformed --port values and files that are not captures, with what is allowed', () => {
    assert.throws(() => parsePorts(['netflow:9990']), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST') && /PROTO=PORT/.test(e.message));
    assert.throws(() => parsePorts(['bgp=179']), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
    assert.throws(() => parsePorts(['sflow=70000']), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
    assert.ok(parsePorts(['sflow=6344']).has(6344));
    const file = join(mkdtempSync(join(tmpdir(), 'flowmap-decode-')), 'notes.txt');
    writeFileSync(file, 'not a capture at all');
    assert.throws(() => decodeCaptureFile(file, { json: false, ports: [] }, () => undefined), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST') && /not a pcap or pcapng/.test(e.message));
    assert.throws(() => decodeCaptureFile('/nonexistent.pcap', { json: false, ports: [] }, () => undefined), (e) => isFlowmapError(e, 'FLOWMAP_BAD_REQUEST'));
  });
});
