// Commands that talk to a running flowmap over HTTP (`--server`, or the `flowmap start` that owns
// the embedded data directory, DESIGN.md §9): where it is, and one request with its JSON answer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorOf } from '../api/errors.js';
import { isLoopback, type Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';

/** Where the embedded server leaves its own admin token for the CLI on this machine (mode 0600, gone when it stops). */
export const localTokenFile = (dataDir: string): string => join(dataDir, 'api-token');

/** The data directory of this command's configuration, whose server's token the CLI may use. */
let localDataDir: string | undefined;

/** Called once the command's configuration is known: a server on loopback may be this data directory's. */
export function useLocalToken(config: Config): void {
  localDataDir = config.data;
}

/** The API of the `flowmap start` that owns the embedded data directory, from the config's host and port. */
export function localServer(config: Config): string {
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
}

/**
 * The Authorization header for requests to `server`: FLOWMAP_TOKEN when set; else, for a server on
 * loopback, the token the `flowmap start` of this command's data directory left there (readable
 * only by who may read the data directory, and sent nowhere but this machine).
 */
export function authHeader(server: string): Record<string, string> {
  const fromEnv = process.env.FLOWMAP_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') return { authorization: `Bearer ${fromEnv.trim()}` };
  if (localDataDir === undefined) return {};
  let host: string;
  try {
    host = new URL(server).hostname;
  } catch {
    return {};
  }
  if (!isLoopback(host)) return {};
  try {
    return { authorization: `Bearer ${readFileSync(localTokenFile(localDataDir), 'utf8').trim()}` };
  } catch {
    return {};
  }
}

export interface ServerAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One request to `server` (a base URL) and its JSON body, whatever the status; an answer without
 * JSON gets a body whose message says so. An unreachable server is FLOWMAP_STORE_UNAVAILABLE.
 */
export async function callServer(server: string, path: string, init: RequestInit = {}): Promise<ServerAnswer> {
  const base = server.replace(/\/+$/, '');
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { ...init, headers: { ...authHeader(base), ...(init.headers as Record<string, string> | undefined) } });
  } catch (err) {
    throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `cannot reach ${base}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const body = (await response.json().catch(() => ({ message: `answered ${response.status} without a JSON body` }))) as Record<string, unknown>;
  return { status: response.status, body };
}

/** The answer's error message, or what its status says. */
export const answerMessage = (answer: ServerAnswer): string => errorOf(answer.body)?.message ?? (typeof answer.body.message === 'string' ? answer.body.message : `the server answered ${answer.status}`);
