// Commands that talk to a running flowmap over HTTP (`--server`, or the `flowmap start` that owns
// the embedded data directory, DESIGN.md §9): where it is, and one request with its JSON answer.
import type { Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';

/** The API of the `flowmap start` that owns the embedded data directory, from the config's host and port. */
export function localServer(config: Config): string {
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
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
    response = await fetch(`${base}${path}`, init);
  } catch (err) {
    throw new FlowmapError('FLOWMAP_STORE_UNAVAILABLE', `cannot reach ${base}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const body = (await response.json().catch(() => ({ message: `answered ${response.status} without a JSON body` }))) as Record<string, unknown>;
  return { status: response.status, body };
}

/** The answer's message, or what its status says. */
export const answerMessage = (answer: ServerAnswer): string => (typeof answer.body.message === 'string' ? answer.body.message : `the server answered ${answer.status}`);
