// Inventory routes (DESIGN.md §7): workloads (list, search, read, edit, remove), CIDR label rules,
// an address's bindings over time, imports of CSV / JSON / kubectl / EC2 files, and resolution of
// an address at a time to its group. Addresses and times are text at this edge (RFC 5952
// addresses, ISO-8601 UTC times); inside they are 16-byte values and Unix seconds.
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../../core/config.js';
import { FlowmapError } from '../../core/errors.js';
import { formatAddress, formatPrefix, parsePrefix, tryParseAddress } from '../../core/ip.js';
import {
  applyImport,
  bindingsOf,
  bindingsOfWorkload,
  CRITICALITIES,
  getWorkload,
  IMPORT_FORMATS,
  listRules,
  listWorkloads,
  loadInventory,
  parseInventory,
  parseIsoTime,
  removeRule,
  removeWorkload,
  resolverOptionsFrom,
  saveRule,
  saveWorkload,
  type Binding,
  type Criticality,
  type ImportFormat,
  type Workload,
} from '../../inventory/index.js';
import type { Store } from '../../store/port.js';

export const DEFAULT_IMPORT_MAX_BYTES = 256 * 1024 * 1024;
const MAX_PAGE = 1000;
/** Import problems answered in full; past this they are counted only. */
const MAX_PROBLEMS = 1000;

const iso = (seconds: number): string | null => (Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : null);

/** The last second a flow time can have (DateTime, an unsigned 32-bit count of seconds). */
const MAX_TIME = 2 ** 32 - 1;

/** A time parameter: ISO-8601 (UTC when no zone is given, as the importers read it) or Unix seconds, 1970-2106. */
export function parseTimeParam(text: string | undefined, name: string): number {
  if (text === undefined || text === '') return Date.now() / 1000;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseIsoTime(text);
  if (seconds === undefined || !(seconds >= 0 && seconds <= MAX_TIME)) {
    throw new FlowmapError('FLOWMAP_BAD_TIME', `${name} '${text}' is not an ISO-8601 time (2024-05-01T12:00:00Z; UTC without a zone) or Unix seconds between 1970 and 2106`, { status: 400 });
  }
  return seconds;
}

function addressParam(text: string): Uint8Array {
  const address = tryParseAddress(text);
  if (address === undefined) throw new FlowmapError('FLOWMAP_BAD_ADDRESS', `'${text}' is not an IPv4 or IPv6 address`, { status: 400 });
  return address;
}

const workloadJson = (w: Workload): Record<string, unknown> => ({
  id: w.id,
  name: w.name,
  labels: w.labels,
  source: w.source,
  ...(w.criticality === undefined ? {} : { criticality: w.criticality }),
  ...(w.removedAt === undefined ? {} : { removedAt: iso(w.removedAt) }),
});
const bindingJson = (b: Binding): Record<string, unknown> => ({ address: formatAddress(b.address), workloadId: b.workloadId, from: iso(b.from), to: iso(b.to), source: b.source, importedAt: iso(b.importedAt) });

const labelsSchema = { type: 'object', propertyNames: { minLength: 1, maxLength: 128 }, additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 } as const;
const workloadSchema = {
  type: 'object',
  required: ['id', 'name', 'labels', 'source'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    labels: labelsSchema,
    source: { type: 'string' },
    criticality: { type: 'string', enum: [...CRITICALITIES] },
    removedAt: { type: 'string', format: 'date-time', description: 'when it was removed; it still answers for the time before' },
  },
} as const;
const bindingSchema = {
  type: 'object',
  required: ['address', 'workloadId', 'from', 'to', 'source', 'importedAt'],
  properties: {
    address: { type: 'string' },
    workloadId: { type: 'string' },
    from: { type: 'string', format: 'date-time', nullable: true },
    to: { type: 'string', format: 'date-time', nullable: true, description: 'null: still bound' },
    source: { type: 'string' },
    importedAt: { type: 'string', format: 'date-time' },
  },
} as const;
const groupSchema = {
  type: 'object',
  required: ['key', 'kind', 'labels'],
  properties: {
    key: { type: 'string', description: 'the group at the granularity, e.g. app=web,env=prod or group=unlabeled,subnet=10.1.2.0/24' },
    kind: { type: 'string', enum: ['labels', 'workload', 'internet', 'external', 'unlabeled'] },
    labels: labelsSchema,
    group: { type: 'string' },
    subnet: { type: 'string' },
    workload: { type: 'string' },
  },
} as const;

export function inventoryRoutes(store: Store, config: Config['inventory']): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { search?: string; label?: string[]; limit?: number; cursor?: string } }>(
      '/api/v1/inventory/workloads',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['inventory'],
          summary: 'Workloads, by id; search in id and name, filter by labels',
          querystring: {
            type: 'object',
            properties: {
              search: { type: 'string', maxLength: 256, description: 'case-insensitive substring of the id or name' },
              label: { type: 'array', items: { type: 'string', pattern: '^[^=]+=.*$', maxLength: 512 }, maxItems: 16, description: 'KEY=VALUE, all must hold (repeat the parameter)' },
              limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
              cursor: { type: 'string', maxLength: 1024, description: 'nextCursor of the previous page' },
            },
          },
          response: { 200: { type: 'object', required: ['workloads'], properties: { workloads: { type: 'array', items: workloadSchema }, nextCursor: { type: 'string' } } } },
        },
      },
      async (request) => {
        const { search, label = [], limit = 100, cursor } = request.query;
        const wanted = label.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const);
        const needle = search?.toLowerCase();
        const matching = (await listWorkloads(store)).filter(
          (w) => (cursor === undefined || w.id > cursor) && (needle === undefined || w.id.toLowerCase().includes(needle) || w.name.toLowerCase().includes(needle)) && wanted.every(([k, v]) => w.labels[k] === v),
        );
        const page = matching.slice(0, limit);
        return { workloads: page.map(workloadJson), ...(matching.length > limit ? { nextCursor: page[page.length - 1]?.id } : {}) };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/api/v1/inventory/workloads/:id',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['inventory'],
          summary: 'One workload and its address bindings over time',
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 512 } } },
          response: { 200: { type: 'object', required: ['workload', 'bindings'], properties: { workload: workloadSchema, bindings: { type: 'array', items: bindingSchema } } } },
        },
      },
      async (request) => {
        const workload = await getWorkload(store, request.params.id);
        if (workload === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no workload '${request.params.id}'`, { status: 404 });
        return { workload: workloadJson(workload), bindings: (await bindingsOfWorkload(store, workload.id)).map(bindingJson) };
      },
    );

    app.put<{ Params: { id: string }; Body: { name: string; labels: Record<string, string>; criticality?: Criticality } }>(
      '/api/v1/inventory/workloads/:id',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['inventory'],
          summary: 'Create or replace a workload (its name, labels, criticality); its bindings stay',
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 512 } } },
          body: {
            type: 'object',
            required: ['name', 'labels'],
            additionalProperties: false,
            properties: { name: { type: 'string', minLength: 1, maxLength: 512 }, labels: labelsSchema, criticality: { type: 'string', enum: [...CRITICALITIES] } },
          },
          response: { 200: workloadSchema },
        },
      },
      async (request) => {
        const { name, labels, criticality } = request.body;
        return workloadJson(await saveWorkload(store, { id: request.params.id, name, labels, source: 'api', ...(criticality === undefined ? {} : { criticality }) }));
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/api/v1/inventory/workloads/:id',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['inventory'],
          summary: 'Remove a workload: its open bindings end now; before now its addresses still resolve to it',
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 512 } } },
          response: { 200: { type: 'object', required: ['removed', 'closedBindings'], properties: { removed: { type: 'boolean' }, closedBindings: { type: 'integer' } } } },
        },
      },
      async (request) => {
        const result = await removeWorkload(store, request.params.id, Math.floor(Date.now() / 1000));
        if (!result.removed) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no workload '${request.params.id}' (or it was removed already)`, { status: 404 });
        return result;
      },
    );

    app.get(
      '/api/v1/inventory/rules',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['inventory'],
          summary: 'CIDR label rules, most specific first',
          response: {
            200: {
              type: 'object',
              required: ['rules'],
              properties: {
                rules: {
                  type: 'array',
                  items: { type: 'object', required: ['cidr', 'labels', 'source', 'importedAt'], properties: { cidr: { type: 'string' }, labels: labelsSchema, name: { type: 'string' }, source: { type: 'string' }, importedAt: { type: 'string', format: 'date-time' } } },
                },
              },
            },
          },
        },
      },
      async () => ({
        rules: (await listRules(store)).map((r) => ({ cidr: formatPrefix(r.prefix), labels: r.labels, ...(r.name === undefined ? {} : { name: r.name }), source: r.source, importedAt: iso(r.importedAt) })),
      }),
    );

    const cidrParams = { type: 'object', required: ['cidr'], properties: { cidr: { type: 'string', minLength: 1, maxLength: 64, description: 'the prefix, URL-encoded (10.20.0.0%2F16)' } } } as const;
    const prefixParam = (text: string): ReturnType<typeof parsePrefix> => {
      try {
        return parsePrefix(text);
      } catch (err) {
        throw new FlowmapError('FLOWMAP_BAD_CIDR', err instanceof Error ? err.message : String(err), { status: 400 });
      }
    };
    app.put<{ Params: { cidr: string }; Body: { labels: Record<string, string>; name?: string } }>(
      '/api/v1/inventory/rules/:cidr',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['inventory'],
          summary: 'Create or replace the CIDR label rule of a prefix',
          params: cidrParams,
          body: { type: 'object', required: ['labels'], additionalProperties: false, properties: { labels: labelsSchema, name: { type: 'string', minLength: 1, maxLength: 256 } } },
          response: { 200: { type: 'object', required: ['cidr', 'labels'], properties: { cidr: { type: 'string' }, labels: labelsSchema, name: { type: 'string' } } } },
        },
      },
      async (request) => {
        const prefix = prefixParam(request.params.cidr);
        const { labels, name } = request.body;
        await saveRule(store, name === undefined ? { prefix, labels } : { prefix, labels, name }, 'api', Math.floor(Date.now() / 1000));
        return { cidr: formatPrefix(prefix), labels, ...(name === undefined ? {} : { name }) };
      },
    );
    app.delete<{ Params: { cidr: string } }>(
      '/api/v1/inventory/rules/:cidr',
      {
        config: { access: 'admin' },
        schema: { tags: ['inventory'], summary: 'Remove the CIDR label rule of a prefix', params: cidrParams, response: { 200: { type: 'object', required: ['removed'], properties: { removed: { type: 'boolean' } } } } },
      },
      async (request) => {
        if (!(await removeRule(store, prefixParam(request.params.cidr)))) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no rule for ${request.params.cidr}`, { status: 404 });
        return { removed: true };
      },
    );

    app.get<{ Querystring: { address: string } }>(
      '/api/v1/inventory/bindings',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['inventory'],
          summary: "An address's bindings over time: which workload had it when",
          querystring: { type: 'object', required: ['address'], properties: { address: { type: 'string', maxLength: 64 } } },
          response: { 200: { type: 'object', required: ['address', 'bindings'], properties: { address: { type: 'string' }, bindings: { type: 'array', items: bindingSchema } } } },
        },
      },
      async (request) => {
        const address = addressParam(request.query.address);
        return { address: formatAddress(address), bindings: (await bindingsOf(store, address)).map(bindingJson) };
      },
    );

    app.get<{ Querystring: { address: string; at?: string; groupBy?: string } }>(
      '/api/v1/inventory/resolve',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['inventory'],
          summary: 'The group an address belongs to at a time, and why',
          querystring: {
            type: 'object',
            required: ['address'],
            properties: {
              address: { type: 'string', maxLength: 64 },
              at: { type: 'string', maxLength: 64, description: 'ISO-8601 time or Unix seconds; default now' },
              groupBy: { type: 'string', pattern: '^[^,]+(,[^,]+)*$', maxLength: 512, description: 'label keys, comma-separated; default inventory.groupBy' },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['address', 'at', 'group', 'labels'],
              properties: {
                address: { type: 'string' },
                at: { type: 'string', format: 'date-time' },
                group: groupSchema,
                labels: { ...labelsSchema, description: 'all labels: the workload over the most specific CIDR rule' },
                workload: workloadSchema,
                binding: bindingSchema,
                rule: { type: 'object', properties: { cidr: { type: 'string' }, labels: labelsSchema, name: { type: 'string' } } },
              },
            },
          },
        },
      },
      async (request) => {
        const address = addressParam(request.query.address);
        const at = parseTimeParam(request.query.at, 'at');
        const { resolver } = await loadInventory(store, resolverOptionsFrom(config, request.query.groupBy?.split(',').map((k) => k.trim())));
        const r = resolver.explain(address, at);
        return {
          address: formatAddress(address),
          at: iso(at),
          group: r.group,
          labels: r.labels,
          ...(r.workload === undefined ? {} : { workload: workloadJson(r.workload) }),
          ...(r.binding === undefined ? {} : { binding: bindingJson(r.binding) }),
          ...(r.rule === undefined ? {} : { rule: { cidr: formatPrefix(r.rule.prefix), labels: r.rule.labels, ...(r.rule.name === undefined ? {} : { name: r.rule.name }) } }),
        };
      },
    );
  };
}

/**
 * POST /api/v1/inventory/import: an inventory file as the raw body (its own plugin: every content
 * type arrives as the stream, bounded by `maxBytes`).
 */
export function inventoryImportRoutes(store: Store, options: { maxBytes?: number } = {}): FastifyPluginAsync {
  const maxBytes = options.maxBytes ?? DEFAULT_IMPORT_MAX_BYTES;
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    app.post<{ Querystring: { format?: ImportFormat; source?: string; closeMissing?: boolean } }>(
      '/api/v1/inventory/import',
      {
        config: { access: 'admin', class: 'upload' },
        schema: {
          tags: ['inventory'],
          summary: 'Import an inventory file: CSV, flowmap JSON, kubectl get pods -o json, aws ec2 describe-instances',
          querystring: {
            type: 'object',
            properties: {
              format: { type: 'string', enum: [...IMPORT_FORMATS], description: 'default: recognised from the content' },
              source: { type: 'string', minLength: 1, maxLength: 256, description: 'who asserts these records (default: the format), e.g. kubectl:prod-cluster; newer sources win overlapping bindings' },
              closeMissing: { type: 'boolean', default: false, description: "end this source's open bindings that the file no longer lists (a full snapshot)" },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['format', 'added', 'changed', 'unchanged', 'skipped', 'problems', 'conflicts'],
              properties: {
                format: { type: 'string', enum: [...IMPORT_FORMATS] },
                added: { type: 'integer' },
                changed: { type: 'integer' },
                unchanged: { type: 'integer' },
                skipped: { type: 'integer', description: 'rows or objects refused; the first are in problems' },
                problems: { type: 'array', items: { type: 'object', properties: { line: { type: 'integer' }, path: { type: 'string' }, reason: { type: 'string' }, detail: { type: 'string' } } } },
                conflicts: {
                  type: 'array',
                  description: 'overlapping bindings of one address to different workloads: the newest source wins (winner), the other is kept in history',
                  items: { type: 'object', properties: { address: { type: 'string' }, winner: { type: 'string', description: 'workload (source)' }, loser: { type: 'string' }, from: { type: 'string', nullable: true }, to: { type: 'string', nullable: true } } },
                },
              },
            },
          },
        },
      },
      async (request) => {
        if (request.body === undefined || request.body === null) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'the request has no body: send the inventory file as the raw body', { status: 400 });
        const chunks: Buffer[] = [];
        let received = 0;
        for await (const chunk of request.body as AsyncIterable<Buffer>) {
          received += chunk.length;
          if (received > maxBytes) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `the inventory file is larger than the ${maxBytes}-byte limit`, { status: 413 });
          chunks.push(chunk);
        }
        const parsed = parseInventory(Buffer.concat(chunks).toString('utf8'), { format: request.query.format });
        const summary = await applyImport(store, parsed, { source: request.query.source ?? parsed.format, closeMissing: request.query.closeMissing === true });
        return {
          format: parsed.format,
          added: summary.added,
          changed: summary.changed,
          unchanged: summary.unchanged,
          skipped: summary.skipped,
          problems: parsed.problems.slice(0, MAX_PROBLEMS),
          conflicts: summary.conflicts.map((c) => ({ address: c.address, winner: `${c.winner.workloadId} (${c.winner.source})`, loser: `${c.loser.workloadId} (${c.loser.source})`, from: iso(c.from), to: iso(c.to) })),
        };
      },
    );
  };
}
