// The contract of the cloud flow-log parsers (AWS VPC, GCP VPC, Azure NSG and VNet flow logs):
// bytes in, in chunks of any size (a file, gzip already undone, an HTTP body, stdin), normalized
// flow records out (DESIGN.md §4, cloud fields filled), every record that is not a flow counted by
// reason with where it was. A parser never throws on input and never holds a whole file: memory
// stays bounded by the longest line (AWS, GCP) or one record (Azure's single JSON document).
import { createHash } from 'node:crypto';
import type { FlowRecord } from '../../core/flow.js';

export const CLOUD_FORMATS = ['aws-vpc', 'gcp-vpc', 'azure-nsg', 'azure-vnet'] as const;
export type CloudFormat = (typeof CLOUD_FORMATS)[number];

/** Why a record was not stored as a flow. Stable names: they label metrics and reports. */
export const CLOUD_SKIP_REASONS = [
  /** AWS NODATA: no traffic in the capture window (not an error). */
  'nodata',
  /** AWS SKIPDATA: the cloud itself lost records in the window (counted: a gap in the data). */
  'skipdata',
  /** Not parseable at all: not JSON, wrong number of fields, a header that names no known fields. */
  'malformed',
  /** A field a flow needs (addresses, times) is absent or '-'. */
  'missing_field',
  /** A field present but not valid: an address that is not one, a negative or non-numeric count. */
  'bad_value',
  /** Well-formed but not something flowmap stores (e.g. a record type or version it does not know). */
  'unsupported',
] as const;
export type CloudSkipReason = (typeof CLOUD_SKIP_REASONS)[number];

/** Where a record came from, for error reports: 1-based line (text formats) or record index. */
export interface CloudPosition {
  line: number;
}

export interface CloudSink {
  /** One flow. `time_received` is the end of the record's capture window (see cloudTimes). */
  flow(record: FlowRecord): void;
  /** One record skipped; `detail` says what was wrong in words a user can act on. */
  skip(reason: CloudSkipReason, at: CloudPosition, detail: string): void;
}

export interface CloudParser {
  /** Feeds the next chunk; records complete in it are passed to the sink before this returns. */
  write(chunk: Uint8Array): void;
  /** End of input: a trailing record without a newline is parsed; a truncated document is reported. */
  end(): void;
}

/**
 * The 16-byte exporter of cloud records: a key derived from provider, account and region, in the
 * IPv6 unique-local range fd00::/8 so it can never be mistaken for a router's address. The same
 * account and region always give the same key.
 */
export function cloudExporter(provider: 'aws' | 'gcp' | 'azure', account: string, region: string): Uint8Array {
  const digest = createHash('sha256').update(`${provider}\n${account}\n${region}`).digest();
  const out = new Uint8Array(16);
  out.set(digest.subarray(0, 16));
  out[0] = 0xfd;
  return out;
}
