// `flowmap token create|list|revoke`: API tokens through the same routes the HTTP API serves
// (cli/baseline.ts sessions). On this machine against the store it needs no token — whoever can
// open the store is its administrator; against a server (`--server`, or the running `flowmap
// start`) it needs an admin token (FLOWMAP_TOKEN) or the local server's own.
import type { Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { ROLES, type TokenRecord } from '../api/tokens.js';
import { allPages, ok, open } from './baseline.js';

type Print = (line: string) => void;

export interface TokenCommandOptions {
  role?: string;
  name?: string;
  expires?: string;
  json?: boolean;
  server?: string;
}

const line = (t: TokenRecord): string => `${t.id}  ${t.role.padEnd(7)}  ${t.name}  created ${t.createdAt} by ${t.createdBy}${t.expiresAt === undefined ? '' : `, expires ${t.expiresAt}`}${t.lastUsedAt === undefined ? '' : `, last used ${t.lastUsedAt}`}`;

export async function tokenCommand(action: string, args: string[], options: TokenCommandOptions, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  const session = await open(config, logger, options.server, warn);
  try {
    switch (action) {
      case 'create': {
        const role = options.role ?? 'viewer';
        if (!(ROLES as readonly string[]).includes(role)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--role must be one of ${ROLES.join(', ')}, not ${role}`);
        const name = options.name ?? args[0];
        if (name === undefined) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'name the token: flowmap token create NAME --role viewer|analyst|admin');
        const created = ok(await session.call('POST', '/api/v1/tokens', { name, role, ...(options.expires === undefined ? {} : { expiresAt: options.expires }) }), 201) as { token: string; record: TokenRecord };
        if (options.json === true) print(JSON.stringify(created));
        else {
          print(created.token);
          warn(`token ${created.record.id} (${created.record.role}, "${created.record.name}") created; it is shown this once`);
        }
        return 0;
      }
      case 'list': {
        const list = await allPages(session, '/api/v1/tokens', 'tokens');
        const tokens = list.tokens as TokenRecord[];
        if (options.json === true) print(JSON.stringify(tokens));
        else if (tokens.length === 0) print('no tokens');
        else for (const t of tokens) print(line(t));
        return 0;
      }
      case 'revoke': {
        if (args.length === 0) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'name the token ids to revoke: flowmap token revoke ID…');
        for (const id of args) {
          ok(await session.call('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`), 204);
          print(`revoked ${id}`);
        }
        return 0;
      }
      default:
        throw new FlowmapError('FLOWMAP_BAD_REQUEST', `token takes create, list or revoke, not ${action}`);
    }
  } finally {
    await session.close();
  }
}
