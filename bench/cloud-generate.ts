// Generated cloud flow-log files for bench/cloud.ts and test/cloud-large.test.ts: AWS VPC v2 text
// (optionally gzip), GCP VPC Flow Logs as Cloud Logging JSON lines, an Azure NSG v2 document
// (`{"records":[…]}`) and an Azure VNet flowLogVersion 4 document, N flows each. Written streaming
// to a file (text built in ~1 MiB pieces, the write stream's backpressure honoured), never held in
// memory. The totals (flows, bytes, packets as flowmap stores them: Azure's two directions summed)
// and the time range are counted by the generator from its own inputs, so a reader can check what
// a store holds afterwards.
//
// The estate: 3,000 clients in 10.0.0.0/16 and 10.1.0.0/16, 400 servers in 10.20.0.0/22, 600
// internet peers; flows go client → server on a service port (443, 80, 53, 22, databases…) or
// client → internet on 443/80, and a tenth are inbound scans from the internet that are rejected.
//
//   node --import tsx bench/cloud-generate.ts FORMAT RECORDS FILE   writes FILE, prints the totals as JSON
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { CloudFormat } from '../collector/cloud/types.js';

export const GENERATED_FORMATS = ['aws-vpc', 'aws-vpc-gz', 'gcp-vpc', 'azure-nsg', 'azure-vnet'] as const;
export type GeneratedFormat = (typeof GENERATED_FORMATS)[number];

/** The `--format` each generated file is ingested with. */
export const INGEST_FORMAT: Record<GeneratedFormat, CloudFormat> = {
  'aws-vpc': 'aws-vpc',
  'aws-vpc-gz': 'aws-vpc',
  'gcp-vpc': 'gcp-vpc',
  'azure-nsg': 'azure-nsg',
  'azure-vnet': 'azure-vnet',
};

export interface GeneratedTotals {
  format: GeneratedFormat;
  /** Flows written (every one a valid flow: no NODATA, no malformed records). */
  flows: number;
  bytes: number;
  packets: number;
  /** Half-open range [from, to) of the flows' time_received, in Unix seconds. */
  from: number;
  to: number;
  /** Size of the file written (compressed, for gzip). */
  fileBytes: number;
}

export interface GenerateOptions {
  seed?: number;
  /** First second of the flows; they spread over one hour from it. */
  start?: number;
}

/** xorshift32: deterministic and fast; Math.random would make files differ between runs. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

const SERVICES: readonly { port: number; proto: number }[] = [
  { port: 443, proto: 6 }, { port: 443, proto: 6 }, { port: 443, proto: 6 }, { port: 80, proto: 6 },
  { port: 53, proto: 17 }, { port: 53, proto: 17 }, { port: 22, proto: 6 }, { port: 3306, proto: 6 },
  { port: 5432, proto: 6 }, { port: 6379, proto: 6 }, { port: 8080, proto: 6 }, { port: 123, proto: 17 },
  { port: 9200, proto: 6 }, { port: 389, proto: 6 },
];

interface Flow {
  /** Unix seconds: start and end of the capture window (end is what flowmap stores as time_received). */
  start: number;
  end: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  /** Source → destination and back; AWS and GCP records carry only the first. */
  packets: number;
  bytes: number;
  packetsBack: number;
  bytesBack: number;
  accept: boolean;
  /** Index of the interface / VM / NIC the flow is logged on (0..INTERFACES-1). */
  iface: number;
}

const INTERFACES = 64;

function flowSource(seed: number, start: number): () => Flow {
  const next = prng(seed);
  const clients = Array.from({ length: 3000 }, (_, i) => `10.${i < 1500 ? 0 : 1}.${Math.floor(i / 250) % 6}.${(i % 250) + 1}`);
  const servers = Array.from({ length: 400 }, (_, i) => `10.20.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const internet = Array.from({ length: 600 }, () => {
    const v = next();
    return `${[52, 104, 151, 185, 203, 34][v % 6]}.${(v >>> 8) & 0xff}.${(v >>> 16) & 0xff}.${((v >>> 24) % 254) + 1}`;
  });
  const pick = <T>(items: readonly T[]): T => items[next() % items.length] as T;
  return () => {
    const t = start + (next() % 3600);
    const kind = next() % 10;
    const ephemeral = 32_768 + (next() % 28_232);
    let flow: Flow;
    if (kind === 0) {
      // An inbound scan from the internet, rejected.
      const packets = 1 + (next() % 3);
      flow = { start: t - 60, end: t, src: pick(internet), dst: pick(servers), srcPort: ephemeral, dstPort: pick([22, 23, 3389, 445, 1433, 8443]), proto: 6, packets, bytes: packets * 44, packetsBack: 0, bytesBack: 0, accept: false, iface: 0 };
    } else {
      const service = kind <= 2 ? { port: next() % 2 === 0 ? 443 : 80, proto: 6 } : pick(SERVICES);
      const packets = 1 + (next() % 2000);
      const packetsBack = 1 + (next() % 2000);
      flow = {
        start: t - (next() % 60),
        end: t,
        src: pick(clients),
        dst: kind <= 2 ? pick(internet) : pick(servers),
        srcPort: ephemeral,
        dstPort: service.port,
        proto: service.proto,
        packets,
        bytes: packets * (40 + (next() % 1460)),
        packetsBack,
        bytesBack: packetsBack * (40 + (next() % 1460)),
        accept: true,
        iface: 0,
      };
    }
    flow.iface = next() % INTERFACES;
    return flow;
  };
}

/** Text out in pieces of about 1 MiB, waiting for the stream to drain when it asks to. */
class Out {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly stream: Writable) {}
  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const piece = this.parts.join('');
    this.parts = [];
    this.size = 0;
    if (!this.stream.write(piece)) await once(this.stream, 'drain');
  }
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const iso = (seconds: number, fraction: number): string => `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(fraction).padStart(9, '0')}Z`;

/** Writes `records` flows of `format` to `path`; resolves with what was written. */
export async function generateCloudFile(format: GeneratedFormat, path: string, records: number, options: GenerateOptions = {}): Promise<GeneratedTotals> {
  const start = options.start ?? 1_763_000_000;
  const next = flowSource(options.seed ?? 0x5eed, start);
  const file = createWriteStream(path);
  const gzip = format === 'aws-vpc-gz' ? createGzip({ level: 6 }) : undefined;
  if (gzip !== undefined) gzip.pipe(file);
  const out = new Out(gzip ?? file);
  const totals: GeneratedTotals = { format, flows: 0, bytes: 0, packets: 0, from: start - 60, to: start + 3600 + 60, fileBytes: 0 };
  const count = (packets: number, bytes: number): void => {
    totals.flows++;
    totals.packets += packets;
    totals.bytes += bytes;
  };

  switch (format) {
    case 'aws-vpc':
    case 'aws-vpc-gz': {
      // The header S3 delivery writes, then AWS's default version-2 format.
      await out.write('version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n');
      for (let i = 0; i < records; i++) {
        const f = next();
        await out.write(`2 123456789010 eni-${hex(0x0abc0000 + f.iface, 17)} ${f.src} ${f.dst} ${f.srcPort} ${f.dstPort} ${f.proto} ${f.packets} ${f.bytes} ${f.start} ${f.end} ${f.accept ? 'ACCEPT' : 'REJECT'} OK\n`);
        count(f.packets, f.bytes);
      }
      break;
    }
    case 'gcp-vpc': {
      // Cloud Logging entries as a Cloud Storage sink writes them: one JSON object a line. GCP has
      // no decision field (it logs what reached the VM), so the scans are plain flows here.
      for (let i = 0; i < records; i++) {
        const f = next();
        const vm = `vm-${f.iface}`;
        const entry = {
          insertId: hex(i, 14),
          jsonPayload: {
            bytes_sent: String(f.bytes),
            packets_sent: String(f.packets),
            reporter: 'SRC',
            connection: { protocol: f.proto, src_ip: f.src, dest_ip: f.dst, src_port: f.srcPort, dest_port: f.dstPort },
            start_time: iso(f.start, (i * 104729) % 1e9),
            end_time: iso(f.end, (i * 104729) % 1e9),
            src_instance: { project_id: 'bench-project', region: 'us-central1', zone: 'us-central1-a', vm_name: vm },
            src_vpc: { project_id: 'bench-project', vpc_name: 'default', subnetwork_name: `subnet-${f.iface % 8}`, subnetwork_region: 'us-central1' },
          },
          resource: { type: 'gce_subnetwork', labels: { project_id: 'bench-project', location: 'us-central1-a', subnetwork_name: `subnet-${f.iface % 8}` } },
          timestamp: iso(f.end + 5, 0),
          logName: 'projects/bench-project/logs/compute.googleapis.com%2Fvpc_flows',
          receiveTimestamp: iso(f.end + 6, 0),
        };
        await out.write(`${JSON.stringify(entry)}\n`);
        count(f.packets, f.bytes);
      }
      break;
    }
    case 'azure-nsg':
    case 'azure-vnet': {
      // One record per NSG (or NIC) per minute in the real thing; here 1,000 tuples per record,
      // split over two rules (NSG) or two ACL groups (VNet) of 500.
      const PER_GROUP = 500;
      const GROUPS = 2;
      await out.write('{"records":[');
      let written = 0;
      let recordIndex = 0;
      while (written < records) {
        const f0 = next();
        const mac = `0022${hex(0x480000 + f0.iface, 8)}`.toUpperCase();
        const time = `${new Date(f0.end * 1000).toISOString()}`;
        const groups: string[][] = [];
        let pending: Flow | undefined = f0;
        for (let g = 0; g < GROUPS && written < records; g++) {
          const tuples: string[] = [];
          for (let k = 0; k < PER_GROUP && written < records; k++, written++) {
            const f = pending ?? next();
            pending = undefined;
            const dir = f.accept ? 'O' : 'I';
            // A tenth of accepted flows are the B (begin) tuple of a connection, and denied flows
            // are logged as Azure does (NSG: B with empty counts; VNet: D with zeros): no counts.
            const begin = !f.accept || f.bytes % 10 === 0;
            if (format === 'azure-nsg') {
              const counts = begin ? ',,,' : `${f.packets},${f.bytes},${f.packetsBack},${f.bytesBack}`;
              tuples.push(`${f.end},${f.src},${f.dst},${f.srcPort},${f.dstPort},${f.proto === 17 ? 'U' : 'T'},${dir},${f.accept ? 'A' : 'D'},${begin ? 'B' : 'E'},${counts}`);
            } else {
              const counts = begin ? '0,0,0,0' : `${f.packets},${f.bytes},${f.packetsBack},${f.bytesBack}`;
              const state = !f.accept ? 'D' : begin ? 'B' : 'E';
              tuples.push(`${f.end * 1000 + (written % 1000)},${f.src},${f.dst},${f.srcPort},${f.dstPort},${f.proto},${dir},${state},NX,${counts}`);
            }
            if (begin) count(0, 0);
            else count(f.packets + f.packetsBack, f.bytes + f.bytesBack);
          }
          groups.push(tuples);
        }
        let record: unknown;
        if (format === 'azure-nsg') {
          record = {
            time,
            systemId: '11111111-2222-3333-4444-555555555555',
            macAddress: mac,
            category: 'NetworkSecurityGroupFlowEvent',
            resourceId: `/SUBSCRIPTIONS/00000000-0000-0000-0000-0000000000AA/RESOURCEGROUPS/BENCH-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-${f0.iface % 8}`,
            operationName: 'NetworkSecurityGroupFlowEvents',
            properties: {
              Version: 2,
              flows: groups.map((tuples, g) => ({ rule: g === 0 ? 'DefaultRule_AllowInternetOutBound' : 'UserRule_AllowServices', flows: [{ mac, flowTuples: tuples }] })),
            },
          };
        } else {
          record = {
            time,
            flowLogVersion: 4,
            flowLogGUID: '66aa66aa-bb77-cc88-dd99-00ee00ee00ee',
            macAddress: mac,
            category: 'FlowLogFlowEvent',
            flowLogResourceID: '/SUBSCRIPTIONS/00000000-0000-0000-0000-0000000000AA/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS/FLOWLOGS/BENCHFLOWLOG',
            targetResourceID: `/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/bench-rg/providers/Microsoft.Network/virtualNetworks/bench-vnet/subnets/subnet-${f0.iface % 8}`,
            operationName: 'FlowLogFlowEvent',
            flowRecords: {
              flows: groups.map((tuples, g) => ({ aclID: `0000000${g}-1234-abcd-ef00-c1c2c3c4c5c6`, flowGroups: [{ rule: g === 0 ? 'DefaultRule_AllowInternetOutBound' : 'UserRule_AllowServices', flowTuples: tuples }] })),
            },
          };
        }
        await out.write(`${recordIndex === 0 ? '' : ','}${JSON.stringify(record)}`);
        recordIndex++;
      }
      await out.write(']}\n');
      break;
    }
  }
  await out.flush();
  const target = gzip ?? file;
  target.end();
  if (!file.writableFinished) await once(file, 'finish');
  totals.fileBytes = file.bytesWritten;
  return totals;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [format, records, path] = process.argv.slice(2);
  if (format === undefined || !(GENERATED_FORMATS as readonly string[]).includes(format) || path === undefined || !(Number(records) > 0)) {
    process.stderr.write(`usage: node --import tsx bench/cloud-generate.ts ${GENERATED_FORMATS.join('|')} RECORDS FILE\n`);
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(await generateCloudFile(format as GeneratedFormat, path, Number(records)))}\n`);
}
