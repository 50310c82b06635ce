// GET /api/v1/flows against a real embedded store: every filter and sort paged through to the end
// gives exactly a brute-force filter of the inserted records (store/search-testing.ts); a group
// gives the flows whose either end the resolver puts in the group at the flow's time; bad input
// is a 400 naming the parameter; and SQL-injection and path-traversal payloads in every string
// parameter are never a 500 and leave the flows as they were.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { configSchema } from '../../core/config.js';
import { flowAt, flowBatchOf, type FlowRecord } from '../../core/flow.js';
import { parseAddress, parsePrefix } from '../../core/ip.js';
import { silentLogger } from '../../core/logger.js';
import { applyImport, loadInventory, parseInventory, resolverOptionsFrom, type Resolver } from '../../inventory/index.js';
import { createDuckDBStore, FLOW_SEARCH_SORTS, type FlowSearchQuery, type FlowSearchRow, type Store } from '../../store/index.js';
import { searchOracle, searchRecords } from '../../store/search-testing.js';
import { registerErrorHandling } from '../errors.js';
import { flowRoutes } from './flows.js';

/** 2026-01-10 00:00:00 UTC. */
const DAY0 = 1_768_003_200;
const DAY = 86_400;
const RANGE = { from: DAY0 - 25 * DAY, to: DAY0 + 2 * DAY };
const P = parsePrefix;
const iso = (s: number): string => new Date(s * 1000).toISOString();

/**
 * Workloads on addresses the estate's flows use: 10.1.0.1 is web's from DAY0 + 6 h, 10.1.0.2
 * web's throughout, 10.2.0.9 api's, 2001:db8:1::53 dns's; 10.1.0.0/16 is env=prod, fd00::/8
 * app=lab.
 */
const INVENTORY_CSV = [
  'ip,cidr,name,app,env,valid_from,valid_to',
  `10.1.0.1,,web-1,web,prod,${iso(DAY0 + 6 * 3600)},`,
  '10.1.0.2,,web-2,web,prod,,',
  '10.2.0.9,,api,api,prod,,',
  '2001:db8:1::53,,dns,dns,prod,,',
  ',10.1.0.0/16,dc prod,,prod,,',
  ',fd00::/8,lab,lab,,,',
].join('\n');

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('flow search route', () => {
  let dir = '';
  let store: Store;
  let app: FastifyInstance;
  let resolver: Resolver;
  const routes: { url: string; method: string; access: unknown; tags: unknown }[] = [];
  const records: FlowRecord[] = searchRecords(DAY0);
  const config = configSchema.parse({}).inventory;

  const get = async (params: readonly (readonly [string, string | number])[] | string): Promise<Answer> => {
    const query = typeof params === 'string' ? params : params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
    const r = await app.inject({ method: 'GET', url: `/api/v1/flows?${query}` });
    return { status: r.statusCode, body: r.json<Record<string, unknown>>() };
  };
  const range = [['from', RANGE.from], ['to', RANGE.to]] as const;

  /** Every row of a search, following nextCursor; every page but the last full. */
  const pageAll = async (params: readonly (readonly [string, string | number])[], limit: number): Promise<FlowSearchRow[]> => {
    const rows: FlowSearchRow[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 1000, 'too many pages');
      const page = await get([...params, ['limit', limit], ...(cursor === undefined ? [] : [['cursor', cursor] as const])]);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      const flows = page.body.flows as FlowSearchRow[];
      rows.push(...flows);
      cursor = page.body.nextCursor as string | undefined;
      if (cursor === undefined) return rows;
      assert.equal(flows.length, limit, 'a page before the last is full');
    }
  };

  const error = (a: Answer): { code: string; message: string; details: Record<string, unknown> } => (a.body as { error: { code: string; message: string; details: Record<string, unknown> } }).error;

  /** A digest of every stored flow: the same before and after the hostile requests. */
  const digest = async (): Promise<string> => {
    const batch = await store.readFlows({ from: 0, to: 2 ** 32 - 1 }, { limit: 100_000 });
    const rows = Array.from({ length: batch.length }, (_, i) => flowAt(batch, i));
    return createHash('sha256').update(JSON.stringify(rows, (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))).digest('hex');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-flows-api-'));
    store = await createDuckDBStore({ dataDir: dir }, { logger: silentLogger() });
    await store.migrate();
    await store.insertFlows(flowBatchOf(records));
    await applyImport(store, parseInventory(INVENTORY_CSV, { format: 'csv' }), { source: 'flows-test.csv' });
    resolver = (await loadInventory(store, resolverOptionsFrom(config))).resolver;
    app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } } });
    registerErrorHandling(app);
    app.addHook('onRoute', (route) => {
      routes.push({ url: route.url, method: String(route.method), access: route.config?.access, tags: (route.schema as { tags?: unknown } | undefined)?.tags });
    });
    await app.register(flowRoutes(store, config));
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a viewer route tagged flows', () => {
    assert.deepEqual(routes.filter((r) => r.url === '/api/v1/flows' && r.method === 'GET').map((r) => [r.access, r.tags]), [['viewer', ['flows']]]);
  });

  it('pages through every sort to exactly the oracle, every field of every flow kept', async () => {
    for (const sort of FLOW_SEARCH_SORTS) {
      const rows = await pageAll([...range, ['sort', sort]], 97);
      assert.deepEqual(rows, searchOracle(records, { ...RANGE, sort }), sort);
    }
    // The default: newest first, 100 a page.
    const first = await get(range);
    assert.deepEqual(first.body.flows, searchOracle(records, RANGE).slice(0, 100));
    assert.equal(typeof first.body.nextCursor, 'string');
  });

  it('takes times as ISO-8601 or Unix seconds, from inclusive and to exclusive', async () => {
    const unix = await get([['from', DAY0], ['to', DAY0 + DAY], ['limit', 1000]]);
    const text = await get([['from', iso(DAY0)], ['to', '2026-01-11T00:00:00'], ['limit', 1000]]);
    assert.equal(unix.status, 200);
    assert.deepEqual(text.body.flows, unix.body.flows);
    assert.deepEqual(unix.body.flows, searchOracle(records, { from: DAY0, to: DAY0 + DAY, limit: 1000 }).slice(0, 1000));
    assert.deepEqual([unix.body.scannedFrom, unix.body.scannedTo], [iso(DAY0), iso(DAY0 + DAY)]);
  });

  const FILTERS: [string, [string, string | number][], Omit<FlowSearchQuery, 'from' | 'to'>][] = [
    ['an IPv4 CIDR', [['address', '10.1.0.0/24']], { addresses: [P('10.1.0.0/24')] }],
    ['an IPv6 address and an IPv4 CIDR', [['address', '2001:db8::1'], ['address', '172.16.0.0/12']], { addresses: [P('2001:db8::1'), P('172.16.0.0/12')] }],
    ['::/0', [['address', '::/0']], { addresses: [P('::/0')] }],
    ['an IPv4-mapped spelling', [['address', '::ffff:10.2.0.9']], { addresses: [P('10.2.0.9')] }],
    ['src, the client end', [['src', '10.1.0.0/16']], { clients: [P('10.1.0.0/16')] }],
    ['dst, the server end', [['dst', '10.2.0.9'], ['dst', '2001:db8:1::/48']], { servers: [P('10.2.0.9'), P('2001:db8:1::/48')] }],
    ['repeated ports', [['port', 443], ['port', 53]], { ports: [443, 53] }],
    ['a protocol by name', [['protocol', 'UDP']], { protocol: 17 }],
    ['a protocol by number', [['protocol', '58']], { protocol: 58 }],
    ['an exporter', [['exporter', '2001:db8:ffff::1']], { exporter: parseAddress('2001:db8:ffff::1') }],
    ['an action', [['action', 'reject']], { action: 'reject' }],
    ['everything at once', [['address', '10.0.0.0/8'], ['dst', '10.2.0.9'], ['port', 443], ['protocol', 'tcp'], ['exporter', '192.0.2.1'], ['action', 'unknown']], { addresses: [P('10.0.0.0/8')], servers: [P('10.2.0.9')], ports: [443], protocol: 6, exporter: parseAddress('192.0.2.1'), action: 'unknown' }],
  ];
  for (const [what, params, filter] of FILTERS) {
    it(`filters: ${what}`, async () => {
      for (const sort of FLOW_SEARCH_SORTS) {
        const expected = searchOracle(records, { ...RANGE, ...filter, sort });
        assert.ok(expected.length > 0, 'the filter matches something');
        assert.deepEqual(await pageAll([...range, ...params, ['sort', sort]], 41), expected, sort);
      }
    });
  }

  /** The flows either of whose ends the resolver puts in the group at the flow's second. */
  const groupOracle = (key: string, sort: (typeof FLOW_SEARCH_SORTS)[number], resolve = resolver): FlowSearchRow[] =>
    searchOracle(
      records.filter((r) => r.time_received >= RANGE.from && r.time_received < RANGE.to && (resolve.resolve(r.src_addr, r.time_received).key === key || resolve.resolve(r.dst_addr, r.time_received).key === key)),
      { ...RANGE, sort },
    );

  for (const key of ['app=web,env=prod', 'env=prod', 'app=lab', 'group=internet', 'group=unlabeled,subnet=172.16.5.0/24']) {
    it(`filters by group ${key}: either end in the group at the flow's time`, async () => {
      for (const sort of FLOW_SEARCH_SORTS) {
        const expected = groupOracle(key, sort);
        assert.ok(expected.length > 0, 'the group has flows');
        assert.deepEqual(await pageAll([...range, ['group', key], ['sort', sort]], 60), expected, sort);
      }
      const page = await get([...range, ['group', key]]);
      assert.equal((page.body.group as { key: string }).key, key);
    });
  }

  it('filters by a group at another granularity (groupBy), with other filters, in its spelling whatever the order given', async () => {
    const byApp = (await loadInventory(store, resolverOptionsFrom(config, ['app']))).resolver;
    const expected = groupOracle('app=web', 'time-desc', byApp).filter((r) => r.proto === 6);
    assert.ok(expected.length > 0);
    assert.deepEqual(await pageAll([...range, ['group', 'app=web'], ['groupBy', 'app'], ['protocol', 'tcp']], 30), expected);
    const reordered = await get([...range, ['group', 'env=prod,app=web']]);
    assert.equal((reordered.body.group as { key: string }).key, 'app=web,env=prod');
    assert.deepEqual(reordered.body.flows, groupOracle('app=web,env=prod', 'time-desc').slice(0, 100));
    const nobody = await get([...range, ['group', 'app=nobody']]);
    assert.deepEqual([nobody.status, nobody.body.flows, nobody.body.group], [200, [], { key: 'app=nobody', members: 0 }]);
  });

  it('answers bad parameters with a 400 that names the parameter and what is allowed', async () => {
    const first = await get([...range, ['limit', 2]]);
    const cursor = first.body.nextCursor as string;
    const cases: [string, readonly (readonly [string, string | number])[] | string, RegExp][] = [
      ['a malformed cursor', [...range, ['cursor', 'bm90LWEtY3Vyc29y']], /cursor/],
      ['a cursor of another sort', [...range, ['sort', 'bytes-desc'], ['cursor', cursor]], /cursor belongs to a search sorted time-desc/],
      ['a cursor that is not base64url', [...range, ['cursor', 'a+b/c=']], /cursor/],
      ['a reversed range', [['from', DAY0 + DAY], ['to', DAY0]], /to .* must be after from/],
      ['an empty range', [['from', DAY0], ['to', DAY0]], /must be after from/],
      ['more than 31 days', [['from', DAY0], ['to', DAY0 + 31 * DAY + 1]], /longer than 31 days/],
      ['a time that is not one', [['from', 'yesterday'], ['to', DAY0]], /from 'yesterday' is not an ISO-8601 time/],
      ['a time before 1970', [['from', '1969-12-31T00:00:00Z'], ['to', DAY0]], /from/],
      ['no to', [['from', DAY0]], /required property 'to'/],
      ['no from', [['to', DAY0]], /required property 'from'/],
      ['a CIDR with host bits', [...range, ['address', '10.1.0.1/24']], /address: '10.1.0.1\/24' has host bits set/],
      ['a CIDR longer than /32', [...range, ['address', '10.1.0.0/33']], /address: .*not a CIDR prefix/],
      ['src not an address', [...range, ['src', 'web-1']], /src: 'web-1' is not a CIDR prefix/],
      ['dst not an address', [...range, ['dst', '2001:db8::g']], /dst: /],
      ['a negative port', [...range, ['port', -1]], /port/],
      ['a port past 65535', [...range, ['port', 65536]], /port/],
      ['a port that is a name', [...range, ['port', 'http']], /port/],
      ['an unknown protocol', [...range, ['protocol', 'tcpp']], /protocol 'tcpp' is not a protocol/],
      ['a protocol past 255', [...range, ['protocol', '256']], /protocol '256'/],
      ['an exporter that is not an address', [...range, ['exporter', '192.0.2.1/32']], /exporter '192.0.2.1\/32' is not an IPv4 or IPv6 address/],
      ['an unknown action', [...range, ['action', 'drop']], /action/],
      ['an unknown sort', [...range, ['sort', 'random']], /sort/],
      ['limit 0', [...range, ['limit', 0]], /limit/],
      ['limit past 1000', [...range, ['limit', 1001]], /limit/],
      ['an unknown parameter', [...range, ['adress', '10.0.0.1']], /must NOT have additional properties/],
      ['a label key outside groupBy', [...range, ['group', 'team=pay']], /group 'team=pay' cannot be searched: label key 'team' is not in groupBy \(app, env\)/],
      ['an external group not configured', [...range, ['group', 'group=saas']], /no external CIDR is named 'saas'/],
      ['an unlabeled subnet of another length', [...range, ['group', 'group=unlabeled,subnet=10.9.0.0/16']], /unlabeled groups are \/24 subnets/],
      ['groupBy without group', [...range, ['groupBy', 'app']], /groupBy sets the granularity of group/],
      ['groupBy with a repeated key', [...range, ['group', 'app=web'], ['groupBy', 'app,app']], /groupBy 'app,app' must be distinct/],
      ['too many addresses', [...range, ...Array.from({ length: 65 }, () => ['address', '10.0.0.1'] as const)], /address/],
    ];
    for (const [what, params, message] of cases) {
      const answer = await get(params);
      assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.body)}`);
      assert.match(error(answer).code, /^FLOWMAP_/, what);
      assert.match(error(answer).message, message, what);
    }
  });

  it('never answers a 500 to SQL-injection, path-traversal and malformed text in any string parameter, and leaves the flows as they were', async () => {
    const before = await digest();
    const totals = await store.flowTotals({ from: 0, to: 2 ** 32 - 1 });
    const payloads: (string | { raw: string })[] = [
      "' OR 1=1 --",
      "' OR '1'='1",
      '" OR ""="',
      "1' OR '1'='1' /*",
      '1; DROP TABLE flows; --',
      "'; DROP TABLE flows; --",
      "\\'; DROP TABLE flows; --",
      "'); DROP TABLE flows; --",
      "') OR ('a'='a",
      "admin'--",
      "' UNION SELECT * FROM system.users --",
      "' UNION ALL SELECT name FROM system.tables --",
      '1 UNION ALL SELECT NULL,NULL,NULL--',
      "'; TRUNCATE TABLE flows; --",
      "'; ALTER TABLE flows DELETE WHERE 1; --",
      "'; ATTACH DATABASE '/tmp/x' AS x; --",
      "' AND sleep(3) --",
      "1' AND (SELECT count() FROM flows) > 0 --",
      '$$; DROP TABLE flows; $$',
      "# '; DROP TABLE flows",
      '/* comment */',
      '*/ DROP TABLE flows /*',
      '-- ',
      '\\',
      '\\\\',
      '\\x27',
      "\\'",
      '%27',
      '%00',
      '\u0000',
      'a\u0000b',
      '../../etc/passwd',
      '..\\..\\windows\\win.ini',
      '/etc/passwd',
      'file:///etc/passwd',
      '....//....//etc/passwd',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '‘ OR 1=1 --',
      '’; DROP TABLE flows; --',
      '“quoted”',
      '＇ OR １=１ --',
      'ʼ OR 1=1',
      "\u202E' OR 1=1",
      "\u200B'",
      '\r\nX-Injected: 1',
      '\n',
      '\t',
      '${7*7}',
      '{{7*7}}',
      '<script>alert(1)</script>',
      '{"$gt": ""}',
      '[]',
      'null',
      'NaN',
      '-1',
      '1e309',
      '0x7fffffff',
      "10.0.0.1' OR 1=1 --",
      '10.0.0.0/8; DROP TABLE flows',
      "::ffff:10.0.0.1'--",
      '2001:db8::1%eth0',
      "tcp' OR '1'='1",
      "app=x' OR 1=1 --",
      "app=x,env=prod'); DROP TABLE flows; --",
      "group=internet' --",
      "group=unlabeled,subnet=10.1.0.0/24' --",
      "workload=' OR 1=1 --",
      'a'.repeat(5000),
      '🚀'.repeat(600),
      { raw: '%ED%A0%80' },
      { raw: '%FF%FE' },
      { raw: '%' },
      { raw: '%%32%37' },
    ];
    assert.ok(payloads.length >= 50);
    const parameters = ['from', 'to', 'address', 'src', 'dst', 'protocol', 'exporter', 'action', 'group', 'groupBy', 'sort', 'cursor'];
    let answered = 0;
    for (const parameter of parameters) {
      for (const payload of payloads) {
        const value = typeof payload === 'string' ? encodeURIComponent(payload) : payload.raw;
        const base = [`from=${parameter === 'from' ? value : RANGE.from}`, `to=${parameter === 'to' ? value : RANGE.to}`];
        if (parameter === 'groupBy') base.push('group=app%3Dweb');
        if (parameter !== 'from' && parameter !== 'to') base.push(`${parameter}=${value}`);
        const answer = await get(base.join('&'));
        const shown = `${parameter}=${typeof payload === 'string' ? JSON.stringify(payload.slice(0, 40)) : payload.raw}`;
        assert.ok(answer.status === 200 || answer.status === 400, `${shown}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
        if (answer.status === 400) assert.match(error(answer).code, /^FLOWMAP_/, shown);
        // Only a group key (and its granularity) is free text; everything else must be refused.
        if (parameter !== 'group' && parameter !== 'groupBy') assert.equal(answer.status, 400, shown);
        else if (answer.status === 200) assert.ok(Array.isArray(answer.body.flows), shown);
        answered++;
      }
    }
    assert.equal(answered, parameters.length * payloads.length);
    assert.deepEqual(await store.flowTotals({ from: 0, to: 2 ** 32 - 1 }), totals);
    assert.equal(await digest(), before, 'the flows table is unchanged');
  });
});
