// Emitters for cloud flow logs: an estate's flows (simulator/types.ts) → files in a directory, laid
// out and shaped as each cloud delivers them, for `flowmap ingest` or a watched directory:
// - aws-vpc: S3 delivery — `AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/…_YYYYMMDDTHH00Z_sim.log.gz`,
//   one gzip file an hour, a header line naming the fields (a version-5 custom format with the
//   ids, tcp-flags and flow-direction).
// - gcp-vpc: a Cloud Logging export to Cloud Storage — `compute.googleapis.com/vpc_flows/YYYY/MM/DD/HH:00:00_HH:59:59_S0.json`,
//   one JSON entry a line, reported from the source side.
// - azure-nsg / azure-vnet: the storage account's hourly `PT1H.json` blobs under
//   `…/y=YYYY/m=MM/d=DD/h=HH/m=00/`, one JSON document (`{"records": […]}`) of one record a minute.
// Output is a pure function of the flows: files are written in time order, gzip without a time
// stamp, JSON with a fixed key order — the same estate gives the same bytes.
//
// What a format cannot carry is passed over and counted, and `accounted` gets each record as the
// files represent it (what a collector stores): GCP logs only what reached a VM, so rejected
// records are passed over; NSG tuples know only TCP and UDP, and an NSG denial carries no counts
// (a `B` tuple); VNet denials are `D` tuples with zero counts.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { formatAddress } from '../core/ip.js';
import type { FlowRecord } from '../core/flow.js';

export const CLOUD_EMIT_FORMATS = ['aws-vpc', 'gcp-vpc', 'azure-nsg', 'azure-vnet'] as const;
export type CloudEmitFormat = (typeof CLOUD_EMIT_FORMATS)[number];

export interface CloudEmitSummary {
  files: string[];
  records: number;
  passedOver: number;
}

/** Defaults for the cloud fields of records from workloads outside the cloud part. */
const DEFAULT_ACCOUNT = '123456789012';
const DEFAULT_REGION = 'eu-west-1';
const AZURE_SUBSCRIPTION = '00000000-0000-0000-0000-00000000f10a';

const AWS_FIELDS = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags region flow-direction';

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const hourOf = (seconds: number): number => Math.floor(seconds / 3600) * 3600;
function parts(seconds: number): { y: string; m: string; d: string; h: string } {
  const t = new Date(seconds * 1000);
  return { y: String(t.getUTCFullYear()), m: pad(t.getUTCMonth() + 1), d: pad(t.getUTCDate()), h: pad(t.getUTCHours()) };
}
const rfc3339 = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const endOf = (r: FlowRecord): number => r.time_end ?? r.time_received;
const startOf = (r: FlowRecord): number => r.time_start ?? r.time_received;

/** One output file being written: text pieces in order; plain files are appended as they come. */
class OutputFile {
  private readonly fd: number | undefined;
  private readonly pieces: string[] = [];
  constructor(
    readonly path: string,
    private readonly gzip: boolean,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = gzip ? undefined : openSync(path, 'w');
  }
  write(text: string): void {
    if (this.fd === undefined) this.pieces.push(text);
    else writeSync(this.fd, text);
  }
  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      return;
    }
    // gzip of the whole hour at once: the same bytes whatever the chunking (and no mtime: Node writes 0).
    const fd = openSync(this.path, 'w');
    try {
      writeSync(fd, gzipSync(this.pieces.join(''), { level: 6 }));
    } finally {
      closeSync(fd);
    }
  }
}

interface Writer {
  /** The record as the file shows it, or undefined when the format cannot carry it. */
  accept(record: FlowRecord): FlowRecord | undefined;
  /** The file of an hour, with what goes at its start. */
  open(hour: number): OutputFile;
  line(file: OutputFile, record: FlowRecord, index: number): void;
  finish(file: OutputFile): void;
}

function awsFlags(flags: number): number {
  const kept = flags & 0x07;
  return (flags & 0x12) === 0x12 ? kept | 0x12 : kept;
}

function awsWriter(dir: string): Writer {
  return {
    // AWS logs only FIN (1), SYN (2), RST (4) and SYN-ACK (18) of the TCP flags, OR-ed over the window.
    accept: (r) => ({ ...r, source: 'aws_vpc', action: r.action === 'reject' ? 'reject' : 'accept', tcp_flags: awsFlags(r.tcp_flags ?? 0) }),
    open(hour) {
      const { y, m, d, h } = parts(hour);
      const file = new OutputFile(join(dir, 'AWSLogs', DEFAULT_ACCOUNT, 'vpcflowlogs', DEFAULT_REGION, y, m, d, `${DEFAULT_ACCOUNT}_vpcflowlogs_${DEFAULT_REGION}_fl-0sim_${y}${m}${d}T${h}00Z_sim.log.gz`), true);
      file.write(`${AWS_FIELDS}\n`);
      return file;
    },
    line(file, r) {
      const v = (text: string | undefined, fallback = '-'): string => (text === undefined || text === '' ? fallback : text);
      file.write(
        [
          5,
          v(r.cloud_account, DEFAULT_ACCOUNT),
          v(r.cloud_interface, 'eni-0000000000000sim'),
          formatAddress(r.src_addr),
          formatAddress(r.dst_addr),
          r.src_port ?? 0,
          r.dst_port ?? 0,
          r.proto ?? 0,
          r.packets ?? 0,
          r.bytes ?? 0,
          startOf(r),
          endOf(r),
          r.action === 'reject' ? 'REJECT' : 'ACCEPT',
          'OK',
          v(r.cloud_vpc),
          v(r.cloud_subnet),
          v(r.cloud_instance),
          r.tcp_flags ?? 0,
          v(r.cloud_region, DEFAULT_REGION),
          // The interface's point of view: traffic to the instance is ingress.
          r.cloud_instance !== undefined && r.cloud_instance !== '' && r.server_side === 'dst' ? 'ingress' : 'egress',
        ].join(' ') + '\n',
      );
    },
    finish() {},
  };
}

function gcpWriter(dir: string): Writer {
  return {
    accept: (r) => (r.action === 'reject' ? undefined : { ...r, source: 'gcp_vpc', action: 'accept' }),
    open(hour) {
      const { y, m, d, h } = parts(hour);
      return new OutputFile(join(dir, 'compute.googleapis.com', 'vpc_flows', y, m, d, `${h}:00:00_${h}:59:59_S0.json`), false);
    },
    line(file, r, index) {
      const project = r.cloud_account === undefined || r.cloud_account === '' ? 'sim-project' : r.cloud_account;
      const region = r.cloud_region === undefined || r.cloud_region === '' ? 'europe-west1' : r.cloud_region;
      const entry = {
        insertId: `sim${pad(index, 12)}`,
        jsonPayload: {
          bytes_sent: String(r.bytes ?? 0),
          connection: { dest_ip: formatAddress(r.dst_addr), dest_port: r.dst_port ?? 0, protocol: r.proto ?? 0, src_ip: formatAddress(r.src_addr), src_port: r.src_port ?? 0 },
          end_time: rfc3339(endOf(r)),
          packets_sent: String(r.packets ?? 0),
          reporter: 'SRC',
          src_instance: { project_id: project, region, vm_name: r.cloud_instance === undefined || r.cloud_instance === '' ? 'on-prem' : r.cloud_instance, zone: `${region}-b` },
          src_vpc: { project_id: project, subnetwork_name: r.cloud_subnet === undefined || r.cloud_subnet === '' ? 'default' : r.cloud_subnet, vpc_name: r.cloud_vpc === undefined || r.cloud_vpc === '' ? 'default' : r.cloud_vpc },
          start_time: rfc3339(startOf(r)),
        },
        logName: `projects/${project}/logs/compute.googleapis.com%2Fvpc_flows`,
        resource: { labels: { location: `${region}-b`, project_id: project, subnetwork_name: 'default' }, type: 'gce_subnetwork' },
        timestamp: rfc3339(endOf(r) + 5),
      };
      file.write(`${JSON.stringify(entry)}\n`);
    },
    finish() {},
  };
}

/** Azure's documents: records of one minute each; the writer holds the current minute's tuples. */
function azureWriter(dir: string, kind: 'nsg' | 'vnet'): Writer {
  let minute = -1;
  let tuples: string[] = [];
  let records = 0;
  const resource = kind === 'nsg' ? `/SUBSCRIPTIONS/${AZURE_SUBSCRIPTION.toUpperCase()}/RESOURCEGROUPS/SIM-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SIM-NSG` : `/SUBSCRIPTIONS/${AZURE_SUBSCRIPTION.toUpperCase()}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/SIM`;
  const flushMinute = (file: OutputFile): void => {
    if (tuples.length === 0) return;
    const time = new Date(minute * 60_000).toISOString();
    const record =
      kind === 'nsg'
        ? { time, systemId: '5e1b0c1a-0000-4000-8000-00000000f10a', macAddress: '00224800F10A', category: 'NetworkSecurityGroupFlowEvent', resourceId: resource, operationName: 'NetworkSecurityGroupFlowEvents', properties: { Version: 2, flows: [{ rule: 'UserRule_Simulated', flows: [{ mac: '00224800F10A', flowTuples: tuples }] }] } }
        : {
            time,
            flowLogVersion: 4,
            flowLogGUID: '5e1b0c1a-0000-4000-8000-00000000f10a',
            macAddress: '00224800F10A',
            category: 'FlowLogFlowEvent',
            flowLogResourceID: resource,
            targetResourceID: `/subscriptions/${AZURE_SUBSCRIPTION}/resourceGroups/sim-rg/providers/Microsoft.Network/virtualNetworks/sim-vnet`,
            operationName: 'FlowLogFlowEvent',
            flowRecords: { flows: [{ aclID: '00000000-1234-abcd-ef00-c1c2c3c4c5c6', flowGroups: [{ rule: 'UserRule_Simulated', flowTuples: tuples }] }] },
          };
    file.write(`${records === 0 ? '' : ','}${JSON.stringify(record)}`);
    records++;
    tuples = [];
  };
  return {
    accept(r) {
      const reject = r.action === 'reject';
      if (kind === 'nsg' && r.proto !== 6 && r.proto !== 17) return undefined;
      // Denials: NSG logs a B tuple without counts, VNet a D tuple with zeros.
      return { ...r, source: kind === 'nsg' ? 'azure_nsg' : 'azure_vnet', action: reject ? 'reject' : 'accept', ...(reject ? { packets: 0, bytes: 0 } : {}) };
    },
    open(hour) {
      const { y, m, d, h } = parts(hour);
      const file = new OutputFile(join(dir, `resourceId=${resource}`, `y=${y}`, `m=${m}`, `d=${d}`, `h=${h}`, 'm=00', 'macAddress=00224800F10A', 'PT1H.json'), false);
      file.write('{"records":[');
      minute = -1;
      records = 0;
      return file;
    },
    line(file, r) {
      // Records come in start order: minutes (and tuple times) by start never go backwards.
      const end = startOf(r);
      const m = Math.floor(end / 60);
      if (m !== minute) {
        flushMinute(file);
        minute = m;
      }
      const reject = r.action === 'reject';
      if (kind === 'nsg') {
        const counts = reject ? ',,,' : `${r.packets ?? 0},${r.bytes ?? 0},0,0`;
        tuples.push(`${end},${formatAddress(r.src_addr)},${formatAddress(r.dst_addr)},${r.src_port ?? 0},${r.dst_port ?? 0},${r.proto === 17 ? 'U' : 'T'},O,${reject ? 'D' : 'A'},${reject ? 'B' : 'E'},${counts}`);
      } else {
        const counts = reject ? '0,0,0,0' : `${r.packets ?? 0},${r.bytes ?? 0},0,0`;
        tuples.push(`${end * 1000},${formatAddress(r.src_addr)},${formatAddress(r.dst_addr)},${r.src_port ?? 0},${r.dst_port ?? 0},${r.proto ?? 0},O,${reject ? 'D' : 'E'},NX,${counts}`);
      }
    },
    finish(file) {
      flushMinute(file);
      file.write(']}\n');
    },
  };
}

/**
 * Writes the flows as `format` files under `dir`, an hour a file (by each record's end time; the
 * stream is in start order, so a record ending in the next hour goes with its start's hour).
 * `onAccounted` sees every record as the files represent it.
 */
export function writeCloudFiles(chunks: Iterable<FlowRecord[]>, format: CloudEmitFormat, dir: string, onAccounted?: (record: FlowRecord) => void): CloudEmitSummary {
  const writer = format === 'aws-vpc' ? awsWriter(dir) : format === 'gcp-vpc' ? gcpWriter(dir) : azureWriter(dir, format === 'azure-nsg' ? 'nsg' : 'vnet');
  const summary: CloudEmitSummary = { files: [], records: 0, passedOver: 0 };
  let current: { hour: number; file: OutputFile } | undefined;
  const close = (): void => {
    if (current === undefined) return;
    writer.finish(current.file);
    current.file.close();
    summary.files.push(current.file.path);
    current = undefined;
  };
  try {
    for (const chunk of chunks) {
      for (const record of chunk) {
        const shown = writer.accept(record);
        if (shown === undefined) {
          summary.passedOver++;
          continue;
        }
        const hour = hourOf(startOf(record));
        if (current === undefined || hour > current.hour) {
          close();
          current = { hour, file: writer.open(hour) };
        }
        writer.line(current.file, shown, summary.records);
        summary.records++;
        onAccounted?.(shown);
      }
    }
  } finally {
    close();
  }
  return summary;
}
