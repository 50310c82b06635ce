// The shared test corpus (../shared/corpus, see its MANIFEST.md), read in place by tests and
// benchmarks, never copied into the repo.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const CORPUS = join(import.meta.dirname, '..', '..', 'shared', 'corpus');

/** Files below `dir` whose name matches `pattern` (captures by default), as sorted absolute paths. */
export function corpusFiles(dir: string, pattern = /\.pcap(ng)?$/): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (pattern.test(entry)) found.push(path);
    }
  };
  walk(dir);
  return found.sort();
}

/**
 * Captures node-netflowv9 never returns from (it loops until out of memory on a zero-length
 * flowset or a malformed template); our decoder handles them, as the corpus and fuzz tests show.
 * Paths relative to CORPUS.
 */
export const NETFLOWV9_HANGS: ReadonlySet<string> = new Set([
  'netflow-v9/logstash-codec-netflow/wrapped/Netflow-9-Cisco-ACI.pcap',
  'netflow-v9/logstash-codec-netflow/wrapped/Netflow-9-Palo-Alto-1-flowset-in-large-zero-filled-packet.pcap',
  'netflow-v9/libnetflow9/malformed-OT.pcap',
  'netflow-v9/libnetflow9/malformed_1.pcap',
  'netflow-v9/libnetflow9/malformed_3.pcap',
  'netflow-v9/libnetflow9/malformed_4.pcap',
  'netflow-v9/libnetflow9/malformed_5.pcap',
]);
