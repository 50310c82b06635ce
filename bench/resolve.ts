// bench/resolve: label-resolution lookups per second on one core (this process, one thread), for
// an inventory of 100,000 bindings and 1,000 CIDR rules, in batch mode (an address column and a
// time column in, group ids out), with and without the baseline cache. Beside it in the same run,
// a naive Map-based resolver (address text -> bindings, a Map per prefix length for rules) answers
// the same lookups, and its answers are checked against ours. Not part of `npm test`.
//
//   node --import tsx bench/resolve.ts                  print the table
//   node --import tsx bench/resolve.ts --write          also rewrite the <!-- resolve:start/end --> section of BENCHMARKS.md
//   BENCH_SECONDS=5 node --import tsx bench/resolve.ts  longer runs
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { formatAddress, formatPrefix, maskAddress, parsePrefix, prefixContains, writeV4, type Address, type Prefix } from '../core/ip.js';
import { compareBindings, mergeLabels, type Binding, type CidrRule, type Inventory, type Workload } from '../inventory/model.js';
import { createResolver, PRIVATE_RANGES, type Resolver } from '../inventory/resolver.js';

const root = join(import.meta.dirname, '..');
const SECONDS_PER_CASE = Number(process.env.BENCH_SECONDS ?? 2);
const BINDINGS = 100_000;
const RULES = 1_000;
const ROWS = 1 << 20;
const T0 = 1_700_000_000;
const WINDOW = 28 * 86_400;

let seed = 42;
const random = (): number => {
  // Math.imul: a float multiply loses the low bits and collapses the sequence to a short cycle.
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = (n: number): number => Math.floor(random() * n);

function v6(prefixHextets: number[], host: number): Address {
  const a = new Uint8Array(16);
  prefixHextets.forEach((h, i) => {
    a[i * 2] = h >> 8;
    a[i * 2 + 1] = h & 0xff;
  });
  new DataView(a.buffer).setUint32(12, host >>> 0);
  return a;
}

function v4(value: number): Address {
  const a = new Uint8Array(16);
  writeV4(a, 0, value >>> 0);
  return a;
}

/** 100,000 bindings over ~75,000 addresses (a quarter reused over time), 20% IPv6; 1,000 rules. */
function estate(): Inventory {
  const apps = Array.from({ length: 400 }, (_, i) => `app${i}`);
  const envs = ['prod', 'staging', 'dev', 'test'];
  const labelsOf = (i: number): Record<string, string> =>
    i % 10 === 0 ? { app: apps[i % apps.length] ?? 'x' } : { app: apps[i % apps.length] ?? 'x', env: envs[i % envs.length] ?? 'prod', owner: `team${i % 50}` };
  const workloads: Workload[] = Array.from({ length: 5_000 }, (_, i) => ({
    id: `w${i}`,
    name: `w${i}`,
    // One workload in ten lacks env: rules supply it.
    labels: labelsOf(i),
    source: 'bench',
  }));
  const bindings: Binding[] = [];
  const used = new Set<string>();
  while (bindings.length < BINDINGS) {
    const address = random() < 0.8 ? v4(0x0a000000 | pick(0x1000000)) : v6([0xfd00, 0, pick(256), 0, 0, 0], pick(1 << 20));
    const key = formatAddress(address);
    if (used.has(key)) continue;
    used.add(key);
    // A quarter of the addresses change owner once or twice in the window.
    const owners = random() < 0.25 ? 2 + pick(2) : 1;
    let from = T0 - pick(86_400 * 30);
    for (let o = 0; o < owners && bindings.length < BINDINGS; o++) {
      const last = o === owners - 1;
      const to = last ? Infinity : from + 3_600 + pick(WINDOW / 2);
      bindings.push({ address, workloadId: `w${pick(workloads.length)}`, from, to, source: 'bench', importedAt: 1 });
      from = to;
    }
  }
  const rules: CidrRule[] = [];
  for (let i = 0; i < RULES; i++) {
    const labels = { env: envs[i % envs.length] ?? 'prod', location: `dc${i % 7}` };
    if (i % 5 === 4) {
      const length = 40 + pick(25);
      rules.push({ prefix: { address: maskAddress(v6([0xfd00, 0, pick(256), pick(4), 0, 0], 0), length), length, family: 6 }, labels });
    } else {
      const length = 8 + pick(21);
      rules.push({ prefix: { address: maskAddress(v4(0x0a000000 | pick(0x1000000)), 96 + length), length: 96 + length, family: 4 }, labels });
    }
  }
  return { workloads, bindings, rules };
}

/** 70% bound addresses, 20% private addresses nobody holds, 10% internet; times across the window. */
function lookups(inventory: Inventory): { addresses: Uint8Array; times: Uint32Array } {
  const addresses = new Uint8Array(ROWS * 16);
  const times = new Uint32Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    const r = random();
    const address = r < 0.7 ? (inventory.bindings[pick(inventory.bindings.length)] as Binding).address : r < 0.9 ? v4(0xc0a80000 | pick(0x10000)) : v4(0x08000000 + pick(0x1000000));
    addresses.set(address, i * 16);
    times[i] = T0 - 86_400 + pick(WINDOW);
  }
  return { addresses, times };
}

/**
 * Flow-like: read in time order (as a baseline reads an hour at a time) with a skewed address
 * popularity (a few servers in most flows), so (address, hour) pairs repeat as they do in flows.
 */
function flowLikeLookups(uniform: { addresses: Uint8Array; times: Uint32Array }): { addresses: Uint8Array; times: Uint32Array } {
  const addresses = new Uint8Array(ROWS * 16);
  const times = Uint32Array.from(uniform.times).sort();
  for (let i = 0; i < ROWS; i++) {
    const from = Math.floor(ROWS * random() ** 3);
    addresses.set(uniform.addresses.subarray(from * 16, from * 16 + 16), i * 16);
  }
  return { addresses, times };
}

/** The peer: what a first implementation would write — Maps keyed by address text, a Map per prefix length. */
function naiveResolver(inventory: Inventory, groupBy: readonly string[]): (address: Address, time: number) => string {
  const bindings = new Map<string, { b: Binding; i: number }[]>();
  inventory.bindings.forEach((b, i) => {
    const key = formatAddress(b.address);
    const list = bindings.get(key) ?? [];
    list.push({ b, i });
    bindings.set(key, list);
  });
  const workloads = new Map(inventory.workloads.map((w) => [w.id, w]));
  const byLength = new Map<number, Map<string, CidrRule>>();
  for (const rule of inventory.rules) {
    const m = byLength.get(rule.prefix.length) ?? new Map<string, CidrRule>();
    m.set(formatAddress(rule.prefix.address), rule);
    byLength.set(rule.prefix.length, m);
  }
  const lengths = [...byLength.keys()].sort((a, b) => b - a);
  const privateRanges: Prefix[] = PRIVATE_RANGES.map((p) => parsePrefix(p));
  const key = (labels: Readonly<Record<string, string>>): string | undefined => {
    const parts = groupBy.filter((k) => labels[k] !== undefined).map((k) => `${k}=${labels[k]}`);
    return parts.length === 0 ? undefined : parts.join(',');
  };
  return (address, time) => {
    let rule: CidrRule | undefined;
    for (const length of lengths) {
      rule = byLength.get(length)?.get(formatAddress(maskAddress(address, length)));
      if (rule !== undefined) break;
    }
    let winner: { b: Binding; i: number } | undefined;
    for (const c of bindings.get(formatAddress(address)) ?? []) {
      if (c.b.from <= time && time < c.b.to && (winner === undefined || compareBindings(c.b, c.i, winner.b, winner.i) > 0)) winner = c;
    }
    if (winner !== undefined) return key(mergeLabels(rule?.labels, workloads.get(winner.b.workloadId)?.labels)) ?? `workload=${winner.b.workloadId}`;
    const byRule = rule === undefined ? undefined : key(rule.labels);
    if (byRule !== undefined) return byRule;
    if (privateRanges.some((p) => prefixContains(p, address))) {
      const length = formatAddress(address).includes('.') ? 120 : 64;
      return `group=unlabeled,subnet=${formatPrefix({ address: maskAddress(address, length), length, family: length === 120 ? 4 : 6 })}`;
    }
    return 'group=internet';
  };
}

/** Repeats `run` (which resolves `rowsPerRun` rows) until SECONDS_PER_CASE passed; lookups/s. */
function measure(rowsPerRun: number, run: () => void): number {
  run(); // warm-up: code optimised, caches filled as a long baseline run would have them
  let rows = 0;
  const started = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < SECONDS_PER_CASE) {
    run();
    rows += rowsPerRun;
    elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  }
  return rows / elapsed;
}

const rate = (n: number): string => Math.round(n).toLocaleString('en-US');

const inventory = estate();
const buildStarted = process.hrtime.bigint();
const resolver: Resolver = createResolver(inventory);
const buildMs = Number(process.hrtime.bigint() - buildStarted) / 1e6;
const { addresses, times } = lookups(inventory);
const out = new Int32Array(ROWS);

// Same answers first: ours against the peer on a sample.
const naive = naiveResolver(inventory, resolver.groupBy);
resolver.resolveBatch(addresses, times, { out });
const SAMPLE = 50_000;
let mismatches = 0;
for (let i = 0; i < SAMPLE; i++) {
  if (resolver.group(out[i] ?? -1).key !== naive(addresses.subarray(i * 16, i * 16 + 16), times[i] ?? 0)) mismatches++;
}
if (mismatches > 0) throw new Error(`flowmap and the naive resolver disagree on ${mismatches} of ${SAMPLE} lookups`);

const flowLike = flowLikeLookups({ addresses, times });
const streams = [
  ['uniform (random address and time)', { addresses, times }],
  ['flow-like (time order, skewed addresses)', flowLike],
] as const;
const rows: string[] = [];
let peer = 0;
for (const [name, stream] of streams) {
  const batch = measure(ROWS, () => resolver.resolveBatch(stream.addresses, stream.times, { out }));
  const cache = resolver.createCache();
  const cached = measure(ROWS, () => resolver.resolveBatch(stream.addresses, stream.times, { out, cache }));
  const hitRate = cache.hits / (cache.hits + cache.misses);
  const single = measure(ROWS, () => {
    for (let i = 0; i < ROWS; i++) out[i] = resolver.resolveId(stream.addresses, i * 16, stream.times[i] ?? 0);
  });
  const peerRows = 100_000;
  peer = measure(peerRows, () => {
    for (let i = 0; i < peerRows; i++) naive(stream.addresses.subarray(i * 16, i * 16 + 16), stream.times[i] ?? 0);
  });
  rows.push(
    `| ${name} | flowmap resolveBatch | ${rate(batch)} | ${(batch / peer).toFixed(0)}× |`,
    `| ${name} | flowmap resolveBatch + cache (65,536 slots, hour buckets; ${(hitRate * 100).toFixed(0)}% hits) | ${rate(cached)} | ${(cached / peer).toFixed(0)}× |`,
    `| ${name} | flowmap resolveId, one call a row | ${rate(single)} | ${(single / peer).toFixed(0)}× |`,
    `| ${name} | naive Map-based resolver (peer) | ${rate(peer)} | 1× |`,
  );
  process.stderr.write(`${rows.slice(-4).join('\n')}\n`);
}

const table = ['| stream | resolver | lookups/s | vs peer |', '|---|---|---|---|', ...rows].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const report =
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; ${SECONDS_PER_CASE} s per case, one thread.\n` +
  `${BINDINGS.toLocaleString('en-US')} bindings over ${resolver.stats.addresses.toLocaleString('en-US')} addresses (${resolver.stats.segments.toLocaleString('en-US')} time segments), ` +
  `${RULES.toLocaleString('en-US')} CIDR rules (${resolver.stats.v4Ranges.toLocaleString('en-US')} IPv4 / ${resolver.stats.v6Ranges.toLocaleString('en-US')} IPv6 ranges), index built in ${buildMs.toFixed(0)} ms; ` +
  `${ROWS.toLocaleString('en-US')} lookups a batch: 70% bound addresses, 20% unbound private, 10% internet, times over 28 days; the flow-like stream reorders them. ` +
  `Answers checked equal to the peer's on ${SAMPLE.toLocaleString('en-US')} lookups.\n\n${table}\n`;
process.stdout.write(report);

if (process.argv.includes('--write')) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('<!-- resolve:start -->');
  const end = text.indexOf('<!-- resolve:end -->');
  if (start < 0 || end < 0) throw new Error('BENCHMARKS.md lacks the <!-- resolve:start --> / <!-- resolve:end --> markers');
  writeFileSync(path, `${text.slice(0, start + '<!-- resolve:start -->'.length)}\n${report}${text.slice(end)}`);
}
