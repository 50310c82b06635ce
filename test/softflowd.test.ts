// Issue 4, acceptance 2: a real, independent exporter. softflowd (Debian) reads a capture of
// ordinary traffic and exports NetFlow v9, then IPFIX, to flowmap's collector (into ClickHouse)
// and to nfcapd (nfdump) in one run — softflowd sends every datagram to both destinations, so both
// collectors receive the very same export. flowmap must store exactly the flow count, bytes and
// packets nfcapd stores. nfcapd's side is first held to what is known without either collector:
// one flow per record softflowd says it exported, and every packet and IP byte of the capture, so
// a datagram lost on the way shows up here rather than as a mismatch nobody can place.
//
// The capture is generated (test/peers.ts writeTrafficCapture): the shared corpus only holds
// flow-export captures, each one UDP conversation to a collector, which softflowd turns into a
// couple of flows at most.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBinaries, runSoftflowd, startFlowmap, startNfcapd, writeTrafficCapture, type FlowTotals, type Receiver, type SoftflowdReport, type TrafficCapture } from './peers.js';
import { inCI, serviceUrl } from './services.js';

const missing = missingBinaries('softflowd', 'nfcapd', 'nfdump');
const toolsSkip = missing.length > 0 ? `${missing.join(', ')} not on PATH (apt-get install -y softflowd nfdump)` : false;
if (toolsSkip !== false && inCI) throw new Error(`CI=true and ${toolsSkip}: acceptance 2 cannot run`);
const clickhouse = serviceUrl('clickhouse');

/** softflowd sends its whole export in one burst at the end of the capture: room for all of it. */
const RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

describe('softflowd exports a capture to flowmap and nfcapd (issue 4, acceptance 2)', { skip: toolsSkip }, () => {
  let dir: string;
  let pcap: string;
  let capture: TrafficCapture;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-softflowd-test-'));
    pcap = join(dir, 'traffic.pcap');
    // Ten minutes ago, so the flows are recent for any retention or partition rule.
    capture = writeTrafficCapture(pcap, { conversations: 2000, startSeconds: Math.floor(Date.now() / 1000) - 600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [version, label] of [[9, 'NetFlow v9'], [10, 'IPFIX']] as const) {
    describe(label, () => {
      let report: SoftflowdReport;
      let nfcapd: FlowTotals;
      let flowmap: FlowTotals | Error | undefined;

      before(async () => {
        const receivers: Receiver[] = [];
        try {
          const nfcapdReceiver = await startNfcapd({ receiveBufferBytes: RECEIVE_BUFFER_BYTES });
          receivers.push(nfcapdReceiver);
          let flowmapReceiver: Receiver | undefined;
          if (clickhouse.url !== undefined) {
            // flowmap failing to start must not hide what nfcapd shows: the error is kept for its own test.
            try {
              flowmapReceiver = await startFlowmap({ store: 'clickhouse', clickhouseUrl: clickhouse.url, database: `flowmap_softflowd_v${version}_${process.pid}`, dropDatabase: true });
              receivers.push(flowmapReceiver);
            } catch (err) {
              flowmap = err instanceof Error ? err : new Error(String(err));
            }
          }
          report = await runSoftflowd(pcap, receivers.map((r) => ({ host: '127.0.0.1', port: r.port })), version);
          nfcapd = await nfcapdReceiver.totals();
          if (flowmapReceiver !== undefined) flowmap = await flowmapReceiver.totals().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
        } finally {
          await Promise.all(receivers.map((r) => r.dispose()));
        }
      });

      it('nfcapd stores one flow per exported record, and every packet and IP byte of the capture', () => {
        assert.equal(report.failures, 0, report.output);
        assert.ok(report.records >= capture.conversations, `softflowd exported ${report.records} records for ${capture.conversations} conversations`);
        assert.deepEqual(nfcapd, { flows: report.records, bytes: capture.ipBytes, packets: capture.packets });
      });

      it('flowmap stores the same flow count, bytes and packets as nfcapd', { skip: clickhouse.skip }, () => {
        if (flowmap instanceof Error) throw flowmap;
        assert.ok(flowmap !== undefined, 'flowmap was not run');
        assert.deepEqual(flowmap, nfcapd);
      });
    });
  }
});
