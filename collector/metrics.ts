// The collector's Prometheus metrics, registered on the process's registry (api/metrics.ts).
// Exporter labels are bounded by the decoders' exporter limit; reasons are the fixed SKIP_REASONS.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface CollectorMetrics {
  datagramsReceived: Counter<'exporter'>;
  datagramsDropped: Counter<'reason'>;
  flowsDecoded: Counter<'exporter'>;
  decodeSkipped: Counter<'exporter' | 'reason'>;
  flowsStored: Counter;
  flowsDropped: Counter<'reason'>;
  batchRows: Histogram;
  insertSeconds: Histogram<'kind'>;
  insertFailures: Counter<'kind'>;
  spoolBytes: Gauge;
  spoolBatches: Gauge;
  templates: Gauge<'exporter'>;
}

export function createCollectorMetrics(registry: Registry, readUdp: () => UdpErrors | undefined = readUdpErrors): CollectorMetrics {
  const registers = [registry];
  new Gauge({
    name: 'flowmap_collector_udp_receive_errors',
    help: 'kernel UDP counters for the whole host (/proc/net/snmp, /proc/net/snmp6): datagrams dropped because a socket buffer was full (RcvbufErrors) and all receive errors (InErrors)',
    labelNames: ['counter'],
    registers,
    collect() {
      const udp = readUdp();
      if (udp === undefined) return;
      this.set({ counter: 'RcvbufErrors' }, udp.rcvbufErrors);
      this.set({ counter: 'InErrors' }, udp.inErrors);
    },
  });
  return {
    datagramsReceived: new Counter({ name: 'flowmap_collector_datagrams_received_total', help: 'UDP datagrams received, by exporter', labelNames: ['exporter'], registers }),
    datagramsDropped: new Counter({
      name: 'flowmap_collector_datagrams_dropped_total',
      help: 'datagrams dropped before decoding: refused (exporter not in collector.allow) or decoder_backlog (decoder threads too far behind)',
      labelNames: ['reason'],
      registers,
    }),
    flowsDecoded: new Counter({ name: 'flowmap_collector_flows_decoded_total', help: 'flow records decoded, by exporter', labelNames: ['exporter'], registers }),
    decodeSkipped: new Counter({
      name: 'flowmap_collector_decode_skipped_total',
      help: 'parts of datagrams not turned into flows, by exporter and reason (truncated, bad_version, bad_length, no_template, bad_template, template_limit, exporter_limit, unsupported)',
      labelNames: ['exporter', 'reason'],
      registers,
    }),
    flowsStored: new Counter({ name: 'flowmap_collector_flows_stored_total', help: 'flow records inserted into the store (directly or from the spool)', registers }),
    flowsDropped: new Counter({ name: 'flowmap_collector_flows_dropped_total', help: 'flow records lost after decoding: spool_full, or rejected (the store refused the batch as malformed; kept in <spool>/rejected/)', labelNames: ['reason'], registers }),
    batchRows: new Histogram({
      name: 'flowmap_collector_batch_rows',
      help: 'rows per inserted flow batch',
      buckets: [1, 10, 100, 1000, 5000, 10_000, 25_000, 50_000, 100_000, 250_000],
      registers,
    }),
    insertSeconds: new Histogram({
      name: 'flowmap_collector_insert_seconds',
      help: 'store insert latency, by kind (flows, counters)',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    insertFailures: new Counter({ name: 'flowmap_collector_insert_failures_total', help: 'failed store inserts, by kind', labelNames: ['kind'], registers }),
    spoolBytes: new Gauge({ name: 'flowmap_collector_spool_bytes', help: 'bytes waiting in the on-disk spool', registers }),
    spoolBatches: new Gauge({ name: 'flowmap_collector_spool_batches', help: 'batches waiting in the on-disk spool', registers }),
    templates: new Gauge({ name: 'flowmap_collector_templates', help: 'NetFlow v9 / IPFIX templates cached, by exporter', labelNames: ['exporter'], registers }),
  };
}

export interface UdpErrors {
  rcvbufErrors: number;
  inErrors: number;
}

/** Host-wide UDP error counters (IPv4 and IPv6 together); undefined where /proc is not there. */
export function readUdpErrors(): UdpErrors | undefined {
  let snmp: string;
  try {
    snmp = readFileSync('/proc/net/snmp', 'utf8');
  } catch {
    return undefined;
  }
  const result: UdpErrors = { rcvbufErrors: 0, inErrors: 0 };
  const lines = snmp.split('\n').filter((line) => line.startsWith('Udp: '));
  if (lines.length >= 2) {
    const names = (lines[0] as string).split(/\s+/);
    const values = (lines[1] as string).split(/\s+/);
    result.rcvbufErrors += Number(values[names.indexOf('RcvbufErrors')] ?? 0) || 0;
    result.inErrors += Number(values[names.indexOf('InErrors')] ?? 0) || 0;
  }
  try {
    for (const line of readFileSync('/proc/net/snmp6', 'utf8').split('\n')) {
      const [name, value] = line.trim().split(/\s+/);
      if (name === 'Udp6RcvbufErrors') result.rcvbufErrors += Number(value) || 0;
      if (name === 'Udp6InErrors') result.inErrors += Number(value) || 0;
    }
  } catch {
    // No IPv6 on this host.
  }
  return result;
}
