// `flowmap inventory import|list|resolve`: the inventory through the same routes the HTTP API
// serves — in this process against the configured store, or over HTTP against a running flowmap
// (`--server`, or automatically while `flowmap start` owns the embedded data directory, DESIGN.md
// §9) — so the command and the API answer alike.
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerErrorHandling } from '../api/errors.js';
import { inventoryImportRoutes, inventoryRoutes } from '../api/routes/inventory.js';
import type { Config } from '../core/config.js';
import { FlowmapError, isFlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createStore, type Store } from '../store/index.js';
import { answerMessage, callServer, localServer, type ServerAnswer } from './server.js';

type Call = (method: 'GET' | 'POST', url: string, body?: Buffer) => Promise<ServerAnswer>;

interface Session {
  call: Call;
  close(): Promise<void>;
}

export interface InventoryCommandOptions {
  server?: string;
  json?: boolean;
}

/** Routes in this process over the configured store, or the API of a running flowmap. */
async function open(config: Config, logger: Logger, server: string | undefined, err: (line: string) => void): Promise<Session> {
  if (server !== undefined) return remote(server);
  let store: Store;
  try {
    store = await createStore(config, { logger });
  } catch (e) {
    if (!isFlowmapError(e, 'FLOWMAP_STORE_LOCKED')) throw e;
    const url = localServer(config);
    err(`the data directory is in use by a running flowmap; asking it at ${url}`);
    return remote(url);
  }
  await store.migrate();
  const app: FastifyInstance = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: 'array' } } });
  registerErrorHandling(app);
  await app.register(inventoryRoutes(store, config.inventory));
  await app.register(inventoryImportRoutes(store));
  return {
    async call(method, url, body) {
      const response = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body, headers: { 'content-type': 'application/octet-stream' } }) });
      return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}

function remote(server: string): Session {
  return {
    call: (method, url, body) => callServer(server, url, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/octet-stream' } }), signal: AbortSignal.timeout(300_000) }),
    async close() {},
  };
}

/** The answer's body, or a FlowmapError carrying the route's message. */
function ok(answer: ServerAnswer): Record<string, unknown> {
  if (answer.status === 200) return answer.body;
  throw new FlowmapError('FLOWMAP_BAD_REQUEST', answerMessage(answer), { status: answer.status });
}

const query = (params: Record<string, string | string[] | undefined>): string => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
};

interface Problem {
  line?: number;
  path?: string;
  reason: string;
  detail: string;
}

export async function inventoryImport(
  files: string[],
  options: InventoryCommandOptions & { format?: string; source?: string; closeMissing?: boolean },
  config: Config,
  logger: Logger,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  if (files.length === 0) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'name at least one inventory file (or - for standard input)');
  const session = await open(config, logger, options.server, err);
  let failed = 0;
  try {
    for (const file of files) {
      const bytes = file === '-' ? readFileSync(0) : readFileSync(file);
      const answer = await session.call('POST', `/api/v1/inventory/import${query({ format: options.format, source: options.source ?? (file === '-' ? undefined : file), closeMissing: options.closeMissing === true ? 'true' : undefined })}`, bytes);
      if (answer.status !== 200) {
        failed++;
        err(`flowmap: ${file}: ${answerMessage(answer)}`);
        continue;
      }
      const r = answer.body as { format: string; added: number; changed: number; unchanged: number; skipped: number; problems: Problem[]; conflicts: { address: string; winner: string; loser: string; from: string | null; to: string | null }[] };
      if (options.json === true) {
        out(JSON.stringify({ file, ...r }));
        continue;
      }
      out(`${file} (${r.format}): ${r.added} added, ${r.changed} changed, ${r.unchanged} unchanged, ${r.skipped} skipped`);
      for (const p of r.problems.slice(0, 20)) err(`${file}:${p.line ?? p.path ?? '?'}: ${p.reason}: ${p.detail}`);
      if (r.problems.length > 20) err(`${file}: … ${r.skipped - 20} more skipped, listed with --json`);
      for (const c of r.conflicts.slice(0, 10)) err(`${file}: ${c.address} is bound to ${c.winner} and ${c.loser} from ${c.from ?? 'the start'} to ${c.to ?? 'now'}; ${c.winner} wins (newest source)`);
      if (r.conflicts.length > 10) err(`${file}: … ${r.conflicts.length - 10} more overlapping bindings, listed with --json`);
    }
  } finally {
    await session.close();
  }
  return failed > 0 ? 1 : 0;
}

interface WorkloadJson {
  id: string;
  name: string;
  labels: Record<string, string>;
  source: string;
  criticality?: string;
}

export async function inventoryList(options: InventoryCommandOptions & { search?: string; label?: string[] }, config: Config, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const session = await open(config, logger, options.server, err);
  try {
    const workloads: WorkloadJson[] = [];
    let cursor: string | undefined;
    do {
      const body = ok(await session.call('GET', `/api/v1/inventory/workloads${query({ search: options.search, label: options.label, limit: '1000', cursor })}`));
      workloads.push(...(body.workloads as WorkloadJson[]));
      cursor = body.nextCursor as string | undefined;
    } while (cursor !== undefined);
    const rules = (ok(await session.call('GET', '/api/v1/inventory/rules')).rules as { cidr: string; labels: Record<string, string>; name?: string }[]) ?? [];
    if (options.json === true) {
      out(JSON.stringify({ workloads, rules }));
      return 0;
    }
    const labels = (l: Record<string, string>): string => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',');
    if (workloads.length === 0) out('no workloads yet: flowmap inventory import FILE (CSV, JSON, kubectl get pods -A -o json, aws ec2 describe-instances)');
    const oneLine = (text: string): string => text.replace(/[\r\n\t]+/g, ' ');
    for (const w of workloads) out(`${oneLine(w.id).padEnd(40)}  ${labels(w.labels).padEnd(40)}  ${w.criticality ?? '-'}  ${w.source}`);
    if (rules.length > 0 && options.search === undefined && options.label === undefined) {
      out('');
      for (const r of rules) out(`${r.cidr.padEnd(40)}  ${labels(r.labels)}${r.name === undefined ? '' : `  (${r.name})`}`);
    }
    return 0;
  } finally {
    await session.close();
  }
}

export async function inventoryResolve(addresses: string[], options: InventoryCommandOptions & { at?: string; groupBy?: string }, config: Config, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (addresses.length === 0) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'name at least one address');
  const session = await open(config, logger, options.server, err);
  try {
    for (const address of addresses) {
      const r = ok(await session.call('GET', `/api/v1/inventory/resolve${query({ address, at: options.at, groupBy: options.groupBy })}`)) as {
        address: string;
        at: string;
        group: { key: string };
        labels: Record<string, string>;
        workload?: WorkloadJson;
        rule?: { cidr: string };
        binding?: { from: string | null; to: string | null; source: string };
      };
      if (options.json === true) {
        out(JSON.stringify(r));
        continue;
      }
      const why = [
        r.workload === undefined ? undefined : `workload ${r.workload.id}${r.binding === undefined ? '' : ` (bound ${r.binding.from ?? 'from the start'} – ${r.binding.to ?? 'now'}, ${r.binding.source})`}`,
        r.rule === undefined ? undefined : `rule ${r.rule.cidr}`,
      ].filter((s) => s !== undefined);
      out(`${r.address} at ${r.at}: ${r.group.key}${why.length === 0 ? '' : `  ← ${why.join('; ')}`}`);
    }
    return 0;
  } finally {
    await session.close();
  }
}
