// `flowmap simulate`: a synthetic estate (simulator/) sent as router flows to HOST:PORT, or written
// as cloud flow-log files to DIR — with the scenario's ground truth, inventory and intents files
// next to the output. Output is a function of (scenario, seed, days, end): the same arguments give
// the same datagrams and files byte for byte (`--end` defaults to the start of this hour).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowmapError } from '../core/errors.js';
import { parseIsoTime } from '../inventory/index.js';
import { CLOUD_EMIT_FORMATS, writeCloudFiles, type CloudEmitFormat } from '../simulator/emit-cloud.js';
import { exportsOf, FLOW_PROTOCOLS, sendExports, type FlowProtocol } from '../simulator/emit-flows.js';
import { buildEstate, estateFiles } from '../simulator/index.js';

export interface SimulateOptions {
  scenario: string;
  protocol: string;
  to: string;
  days?: string;
  seed?: string;
  rate?: string;
  end?: string;
  samplingRate?: string;
  out?: string;
  json?: boolean;
}

const PROTOCOLS = [...FLOW_PROTOCOLS, ...CLOUD_EMIT_FORMATS] as const;

function integer(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--${name} must be a whole number ${min}-${max}, not '${text}'`);
  return value;
}

/** HOST:PORT, IPv6 hosts in brackets. */
export function parseTarget(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65535)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--to '${text}' is not HOST:PORT (127.0.0.1:2055, [::1]:4739)`);
  return { host: match[1] ?? match[2] ?? '', port };
}

/** The end of the simulated window: --end, else the start of the current hour (UTC). */
export function windowEnd(text: string | undefined): number {
  if (text === undefined) return Math.floor(Date.now() / 3_600_000) * 3600;
  const seconds = /^\d+$/.test(text) ? Number(text) : parseIsoTime(text);
  if (seconds === undefined || seconds < 86_400 * 60 || seconds > 2 ** 32 - 1) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--end '${text}' is not an ISO-8601 time or Unix seconds after March 1970`);
  // The traffic is history: a window ending in the future would carry timestamps no router sends.
  if (seconds > Date.now() / 1000 + 3600) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--end '${text}' is in the future; the simulated window ends now or earlier`);
  return Math.floor(seconds);
}

export async function simulateCommand(options: SimulateOptions, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (!(PROTOCOLS as readonly string[]).includes(options.protocol)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--protocol must be one of ${PROTOCOLS.join(', ')}, not '${options.protocol}'`);
  const days = integer(options.days, 'days', 28, 1, 366);
  const seed = integer(options.seed, 'seed', 1, 0, 2 ** 31 - 1);
  const end = windowEnd(options.end);
  const cloud = (CLOUD_EMIT_FORMATS as readonly string[]).includes(options.protocol);
  // Arguments are checked before anything is generated or written.
  const target = cloud ? undefined : parseTarget(options.to);
  const rate = integer(options.rate, 'rate', 20_000, 1, 10_000_000);
  const samplingRate = integer(options.samplingRate, 'sampling-rate', 1024, 1, 2 ** 30);
  const estate = buildEstate(options.scenario, { seed, days, end });
  const filesDir = cloud ? options.to : (options.out ?? 'flowmap-simulation');
  mkdirSync(filesDir, { recursive: true });
  // The truth and the inventory first: a run stopped half-way still says what it was sending.
  const written: string[] = [];
  for (const [name, text] of Object.entries(estateFiles(estate))) {
    writeFileSync(join(filesDir, name), text);
    written.push(join(filesDir, name));
  }
  err(
    `${estate.scenario}: ${estate.workloads.length} workloads, ${new Date(estate.window.from * 1000).toISOString()} – ${new Date(estate.window.to * 1000).toISOString()} (seed ${seed}); truth, inventory and intents in ${filesDir}; ` +
      `the same output again: --seed ${seed} --days ${days} --end ${new Date(end * 1000).toISOString()}`,
  );

  if (cloud) {
    const summary = writeCloudFiles(estate.flows(), options.protocol as CloudEmitFormat, options.to);
    const report = { scenario: estate.scenario, protocol: options.protocol, to: options.to, records: summary.records, passedOver: summary.passedOver, files: summary.files.length, truth: join(filesDir, 'truth.json') };
    out(options.json === true ? JSON.stringify(report) : `${options.protocol}: ${summary.records} records in ${summary.files.length} files under ${options.to}${summary.passedOver > 0 ? ` (${summary.passedOver} the format cannot carry passed over)` : ''}`);
    return 0;
  }

  if (target === undefined) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--to '${options.to}' is not HOST:PORT`);
  const started = Date.now();
  const sent = await sendExports(exportsOf(estate.flows(), { protocol: options.protocol as FlowProtocol, samplingRate }), target, {
    flowsPerSecond: rate,
    onProgress: (p) => err(`${options.protocol} → ${options.to}: ${p.flows} flows in ${p.datagrams} datagrams`),
  });
  const report = { scenario: estate.scenario, protocol: options.protocol, to: options.to, flows: sent.flows, datagrams: sent.datagrams, passedOver: sent.passedOver, seconds: (Date.now() - started) / 1000, truth: join(filesDir, 'truth.json') };
  out(
    options.json === true
      ? JSON.stringify(report)
      : `${options.protocol} → ${options.to}: ${sent.flows} flows in ${sent.datagrams} datagrams in ${report.seconds.toFixed(1)} s${sent.passedOver > 0 ? ` (${sent.passedOver} records ${options.protocol === 'sflow' ? 'not sampled' : 'the protocol cannot carry'})` : ''}`,
  );
  return 0;
}
