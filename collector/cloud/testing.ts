// For the cloud parsers' tests: run a parser over chunks and keep what it passed to its sink.
import type { FlowRecord } from '../../core/flow.js';
import type { CloudParser, CloudSink, CloudSkipReason } from './types.js';

export interface Skipped {
  reason: CloudSkipReason;
  line: number;
  detail: string;
}

/** Feeds `chunks` to the parser `create` builds around a collecting sink, then ends it. */
export function collect(create: (sink: CloudSink) => CloudParser, chunks: readonly Uint8Array[]): { flows: FlowRecord[]; skips: Skipped[] } {
  const flows: FlowRecord[] = [];
  const skips: Skipped[] = [];
  const parser = create({
    flow: (record) => flows.push(record),
    skip: (reason, at, detail) => skips.push({ reason, line: at.line, detail }),
  });
  for (const chunk of chunks) parser.write(chunk);
  parser.end();
  return { flows, skips };
}
