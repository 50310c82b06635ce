// GET /api/v1/flows: a bounded search of the raw flows (Store.searchFlows) — at most 31 days, at
// most 1000 rows a page, keyset pages that skip and repeat nothing. Filters are ANDed:
//   address  either end in one of these addresses or CIDRs;
//   src/dst  the client / the server end in one of these — ends oriented as the rollup orients
//            them (server_side src: the source is the server; dst or unknown: the destination);
//   port     either port is one of these (a service's replies match too);
//   protocol, exporter, action;
//   group    either end belongs to the label group at the flow's time, as the resolver says
//            (inventory/members.ts enumerates the group's addresses over time; at groupBy, the
//            configured granularity unless given).
// Parameters are text at this edge and typed values inside: addresses and prefixes parsed once
// here, times to Unix seconds, protocol names to numbers.
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../../core/config.js';
import { FlowmapError } from '../../core/errors.js';
import { FLOW_ACTIONS, FLOW_SOURCES, SERVER_SIDES, type FlowAction } from '../../core/flow.js';
import { parsePrefix, tryParseAddress, type Prefix } from '../../core/ip.js';
import { protocolNumber } from '../../analyzer/policy/selectors.js';
import { groupEndpoints, resolverOptionsFrom } from '../../inventory/index.js';
import { FLOW_SEARCH_SORTS, MAX_SEARCH_LIMIT, type FlowSearchQuery, type FlowSearchSort, type Store, type TimedPrefix } from '../../store/port.js';
import { parseTimeParam } from './inventory.js';

/** The longest range one search may cover. */
export const MAX_SEARCH_DAYS = 31;
const DEFAULT_LIMIT = 100;
const MAX_VALUES = 64;

interface FlowsQuerystring {
  from: string;
  to: string;
  address?: string[];
  src?: string[];
  dst?: string[];
  port?: number[];
  protocol?: string;
  exporter?: string;
  action?: FlowAction;
  group?: string;
  groupBy?: string;
  sort?: FlowSearchSort;
  limit?: number;
  cursor?: string;
}

const prefixList = (what: string) =>
  ({ type: 'array', maxItems: MAX_VALUES, items: { type: 'string', minLength: 1, maxLength: 64 }, description: `${what}; an address or a CIDR prefix (10.0.0.0/8, 2001:db8::/32); repeat for several (any may match)` }) as const;

const querystring = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'string', minLength: 1, maxLength: 64, description: 'start of the range, inclusive: ISO-8601 (UTC without a zone) or Unix seconds' },
    to: { type: 'string', minLength: 1, maxLength: 64, description: `end of the range, exclusive; after from, at most ${MAX_SEARCH_DAYS} days later` },
    address: prefixList('either end (source or destination)'),
    src: prefixList('the client end: the source, or the destination of a record whose source is the server (server_side src)'),
    dst: prefixList('the server end: the destination, or the source of a record whose source is the server (server_side src)'),
    port: { type: 'array', maxItems: MAX_VALUES, items: { type: 'integer', minimum: 0, maximum: 65535 }, description: 'either port (source or destination); repeat for several' },
    protocol: { type: 'string', minLength: 1, maxLength: 16, description: 'tcp, udp, icmp, sctp, ipv6-icmp, … or an IANA number 0-255' },
    exporter: { type: 'string', minLength: 1, maxLength: 64, description: 'the exporter address' },
    action: { type: 'string', enum: [...FLOW_ACTIONS], description: 'what a cloud firewall did; unknown for flows that do not say' },
    group: { type: 'string', minLength: 1, maxLength: 1024, description: 'a group key (app=billing,env=prod, workload=ID, group=internet, group=unlabeled,subnet=10.1.2.0/24, group=NAME): either end in the group at the time of the flow' },
    groupBy: { type: 'string', minLength: 1, maxLength: 512, pattern: '^[^,]+(,[^,]+)*$', description: 'label keys of the group, comma-separated; default inventory.groupBy' },
    sort: { type: 'string', enum: [...FLOW_SEARCH_SORTS], default: 'time-desc', description: 'time-desc (newest first), time-asc, bytes-desc' },
    limit: { type: 'integer', minimum: 1, maximum: MAX_SEARCH_LIMIT, default: DEFAULT_LIMIT, description: `rows per page (at most ${MAX_SEARCH_LIMIT})` },
    cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page, with the same sort' },
  },
} as const;

const iso = { type: 'string', format: 'date-time' } as const;
const text = { type: 'string' } as const;
const integer = { type: 'integer' } as const;

const cloudSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['account', 'region', 'vpc', 'subnet', 'instance', 'interface'],
  description: 'cloud flow log identifiers; empty where absent',
  properties: { account: text, region: text, vpc: text, subnet: text, instance: text, interface: text },
} as const;

export const flowRowSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'time', 'timeStart', 'timeEnd', 'source', 'exporter', 'observationDomain', 'srcAddr', 'srcPort', 'dstAddr', 'dstPort', 'proto', 'tcpFlags', 'bytes', 'packets',
    'samplingRate', 'inIf', 'outIf', 'vlan', 'action', 'serverSide', 'client', 'server', 'servicePort', 'cloud',
  ],
  properties: {
    time: { ...iso, description: 'when the collector received the record' },
    timeStart: { ...iso, description: 'flow start from the record, else the receive time' },
    timeEnd: { ...iso, description: 'flow end from the record, else the receive time' },
    source: { type: 'string', enum: [...FLOW_SOURCES] },
    exporter: text,
    observationDomain: integer,
    srcAddr: text,
    srcPort: integer,
    dstAddr: text,
    dstPort: integer,
    proto: { type: 'integer', description: 'IANA protocol number' },
    tcpFlags: integer,
    bytes: { type: 'integer', description: 'scaled by the sampling rate' },
    packets: { type: 'integer', description: 'scaled by the sampling rate' },
    samplingRate: integer,
    inIf: integer,
    outIf: integer,
    vlan: integer,
    action: { type: 'string', enum: [...FLOW_ACTIONS] },
    serverSide: { type: 'string', enum: [...SERVER_SIDES], description: 'which end the collector judged the server' },
    client: { ...text, description: 'the client end, oriented by serverSide' },
    server: { ...text, description: 'the server end, oriented by serverSide' },
    servicePort: { ...integer, description: "the server end's port" },
    cloud: cloudSchema,
  },
} as const;

const responseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['flows', 'scannedFrom', 'scannedTo'],
  properties: {
    flows: { type: 'array', items: flowRowSchema },
    nextCursor: { type: 'string', description: 'present when more rows follow: pass it as cursor, with the same sort' },
    scannedFrom: { ...iso, description: 'every matching flow received in [scannedFrom, scannedTo) is on this page or an earlier one' },
    scannedTo: iso,
    group: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'members'],
      description: 'the group asked for, as the resolver spells it, and how many address ranges over time it had in the range',
      properties: { key: text, members: integer },
    },
  },
} as const;

function bad(parameter: string, message: string, value?: string): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_REQUEST', message, { status: 400, details: { parameter, ...(value === undefined ? {} : { value: value.slice(0, 256) }) } });
}

function prefixParam(parameter: string, value: string): Prefix {
  try {
    return parsePrefix(value);
  } catch (err) {
    const why = err instanceof FlowmapError ? err.message : 'not an address or CIDR prefix';
    throw new FlowmapError('FLOWMAP_BAD_CIDR', `${parameter}: ${why}`, { status: 400, details: { parameter, value: value.slice(0, 256) } });
  }
}

/** A time parameter as whole seconds on time_received: a fraction rounds up, the first whole second at or after it. */
const secondsParam = (value: string, parameter: 'from' | 'to'): number => Math.ceil(parseTimeParam(value, parameter));

export function flowRoutes(store: Store, inventory: Config['inventory']): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: FlowsQuerystring }>(
      '/api/v1/flows',
      {
        config: { access: 'viewer' },
        schema: {
          tags: ['flows'],
          summary: `Search the flows of up to ${MAX_SEARCH_DAYS} days: by address, client, server, port, protocol, exporter, action or label group; newest, oldest or largest first, in pages`,
          description:
            'Filters are ANDed; a repeated parameter matches when any of its values does. Pages follow nextCursor and never skip or repeat a flow, even among flows received in the same second.',
          querystring,
          response: { 200: responseSchema },
        },
      },
      async (request) => {
        const q = request.query;
        const from = secondsParam(q.from, 'from');
        const to = secondsParam(q.to, 'to');
        if (to <= from) throw bad('to', `to (${q.to}) must be after from (${q.from})`);
        if (to - from > MAX_SEARCH_DAYS * 86_400) throw bad('to', `the range from ${q.from} to ${q.to} is longer than ${MAX_SEARCH_DAYS} days; search a shorter one`);
        let protocol: number | undefined;
        if (q.protocol !== undefined) {
          protocol = protocolNumber(q.protocol.toLowerCase());
          if (protocol === undefined) throw bad('protocol', `protocol '${q.protocol}' is not a protocol name (tcp, udp, icmp, sctp, ipv6-icmp, gre, esp, …) or a number 0-255`, q.protocol);
        }
        let exporter: Uint8Array | undefined;
        if (q.exporter !== undefined) {
          exporter = tryParseAddress(q.exporter);
          if (exporter === undefined) throw new FlowmapError('FLOWMAP_BAD_ADDRESS', `exporter '${q.exporter}' is not an IPv4 or IPv6 address`, { status: 400, details: { parameter: 'exporter', value: q.exporter } });
        }
        if (q.groupBy !== undefined && q.group === undefined) throw bad('groupBy', 'groupBy sets the granularity of group; give group too');
        let endpoints: TimedPrefix[] | undefined;
        let group: { key: string; members: number } | undefined;
        if (q.group !== undefined) {
          const groupBy = q.groupBy?.split(',').map((k) => k.trim());
          if (groupBy !== undefined && (groupBy.some((k) => k === '') || new Set(groupBy).size !== groupBy.length)) {
            throw bad('groupBy', `groupBy '${q.groupBy}' must be distinct label keys, comma-separated (app,env)`, q.groupBy);
          }
          const members = await groupEndpoints(store, resolverOptionsFrom(inventory, groupBy), q.group, { from, to });
          if (members.unresolvable !== undefined) throw bad('group', `group '${q.group}' cannot be searched: ${members.unresolvable}`, q.group);
          endpoints = members.endpoints;
          group = { key: members.key, members: members.endpoints.length };
        }
        const query: FlowSearchQuery = {
          from,
          to,
          ...(q.address === undefined ? {} : { addresses: q.address.map((v) => prefixParam('address', v)) }),
          ...(q.src === undefined ? {} : { clients: q.src.map((v) => prefixParam('src', v)) }),
          ...(q.dst === undefined ? {} : { servers: q.dst.map((v) => prefixParam('dst', v)) }),
          ...(q.port === undefined ? {} : { ports: q.port }),
          ...(protocol === undefined ? {} : { protocol }),
          ...(exporter === undefined ? {} : { exporter }),
          ...(q.action === undefined ? {} : { action: q.action }),
          ...(endpoints === undefined ? {} : { endpoints }),
          sort: q.sort ?? 'time-desc',
          limit: q.limit ?? DEFAULT_LIMIT,
          ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        };
        const page = await store.searchFlows(query);
        return { ...page, ...(group === undefined ? {} : { group }) };
      },
    );
  };
}
