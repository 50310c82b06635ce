// `flowmap intents`, `recommend`, `findings`, `policy …`, `export` and `blast-radius`: the policy
// stage through the same routes the HTTP API serves (cli/baseline.ts sessions: in this process, or
// over HTTP against a running flowmap).
import { readFileSync } from 'node:fs';
import { EXPORT_FORMATS, type Finding, type PolicyRule, type Recommendation } from '../analyzer/policy/index.js';
import type { Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import YAML from 'yaml';
import { allPages, ok, open, writeOrPrint, type Session } from './baseline.js';

type Print = (line: string) => void;

interface Common {
  json?: boolean;
  server?: string;
}

async function withSession<T>(config: Config, logger: Logger, server: string | undefined, warn: Print, run: (s: Session) => Promise<T>): Promise<T> {
  const session = await open(config, logger, server, warn);
  try {
    return await run(session);
  } finally {
    await session.close();
  }
}

function readDocument(file: string): unknown {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlowmapError('FLOWMAP_CONFIG_FILE', `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, { details: { file } });
  }
  try {
    return YAML.parse(text, { uniqueKeys: true, maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${file} is not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`, { details: { file } });
  }
}

const sel = (s: Record<string, string>): string => (s.group !== undefined ? s.group : s.cidr !== undefined ? s.cidr : s.workload !== undefined ? `workload ${s.workload}` : Object.entries(s).map(([k, v]) => `${k}=${v}`).join(','));
const portText = (protocol: string, ports: PolicyRule['ports']): string => (ports.length === 0 ? protocol : `${protocol}/${ports.map((p) => (typeof p === 'number' ? p : `${p.first}-${p.last}`)).join(',')}`);
const q = (params: Record<string, string | undefined>): string => {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
};

export async function intentsImportCommand(file: string, options: Common & { merge?: boolean }, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  const document = readDocument(file);
  return withSession(config, logger, options.server, warn, async (s) => {
    const result = ok(await s.call('PUT', `/api/v1/intents${options.merge === true ? '?merge=true' : ''}`, document));
    print(options.json === true ? JSON.stringify(result) : `intents from ${file}: ${String(result.added)} added, ${String(result.kept)} unchanged, ${String(result.removed)} removed; ${String(result.total)} in all`);
    return 0;
  });
}

export async function intentsListCommand(options: Common, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  return withSession(config, logger, options.server, warn, async (s) => {
    const result = await allPages(s, '/api/v1/intents', 'intents');
    if (options.json === true) print(JSON.stringify(result));
    else for (const i of result.intents as { id: string; from: Record<string, string>; to: Record<string, string>; protocol: string; ports: PolicyRule['ports']; description?: string }[]) print(`${i.id}  ${sel(i.from)} -> ${sel(i.to)} ${portText(i.protocol, i.ports)}${i.description === undefined ? '' : `  # ${i.description}`}`);
    return 0;
  });
}

export async function recommendCommand(options: Common & { baseline?: string; minDays?: string }, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  return withSession(config, logger, options.server, warn, async (s) => {
    const rec = ok(await s.call('GET', `/api/v1/recommendations${q({ baseline: options.baseline, minDays: options.minDays })}`)) as unknown as Recommendation;
    if (options.json === true) {
      print(JSON.stringify(rec));
      return 0;
    }
    const ex = rec.excluded;
    print(`recommendation for baseline ${rec.baseline} (${rec.window.from} .. ${rec.window.to}, ${rec.window.days} days, groups by ${rec.groupBy.join(',')}): default deny, ${rec.rules.length} allow rules`);
    print(`  not rules: ${ex['below-threshold']} seen on fewer than ${rec.parameters.minDays} days, ${ex.scanner} scan edges, ${ex.rejected} rejected by a cloud firewall, ${ex['ephemeral-port']} spread over client ports`);
    for (const r of rec.rules) print(`${r.confidence.toFixed(2)}  ${sel(r.from)} -> ${sel(r.to)} ${portText(r.protocol, r.ports)}  [${r.documented ? 'documented' : r.category}${r.flags.length > 0 ? `; ${r.flags.join(', ')}` : ''}] ${r.evidence.flows} flows, ${r.evidence.daysSeen} days`);
    return 0;
  });
}

export async function findingsCommand(options: Common & { baseline?: string; kind?: string; category?: string; severity?: string }, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  return withSession(config, logger, options.server, warn, async (s) => {
    const result = await allPages(s, `/api/v1/findings${q({ baseline: options.baseline, kind: options.kind, category: options.category, severity: options.severity })}`, 'findings');
    const findings = result.findings as Finding[];
    if (options.json === true) {
      // DESIGN.md §9: the finding objects themselves.
      print(JSON.stringify(findings));
      return 0;
    }
    print(`${findings.length} findings for baseline ${String(result.baseline)}: ${Object.entries(result.counts as Record<string, number>).map(([k, n]) => `${n} ${k}`).join(', ')}`);
    for (const f of findings) print(`${f.severity.padEnd(8)} ${(f.category === undefined ? f.kind : `${f.kind}/${f.category}`).padEnd(26)} ${f.explanation}`);
    return 0;
  });
}

export async function exportCommand(options: Common & { format?: string; policy?: string; out?: string }, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  const format = options.format ?? 'json';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `--format must be one of ${EXPORT_FORMATS.join(', ')}, not ${format}`);
  return withSession(config, logger, options.server, warn, async (s) => {
    let id = options.policy;
    if (id === undefined) {
      const list = ok(await s.call('GET', '/api/v1/policies'));
      const newest = (list.policies as { id: string; name: string; version: number }[])[0];
      if (newest === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', 'no policy yet: create one from the recommendation with `flowmap policy create` (or import one with `flowmap policy import FILE`)');
      id = newest.id;
      warn(`exporting policy ${newest.id} v${newest.version} (${newest.name}), the newest; --policy ID picks another`);
    }
    const a = await s.call('GET', `/api/v1/policies/${encodeURIComponent(id)}/export?format=${format}`);
    if (a.status !== 200) ok(a);
    writeOrPrint(a.text, options.out, print, warn);
    return 0;
  });
}

interface PolicySummary {
  id: string;
  name: string;
  version: number;
  origin: string;
  rules: number | PolicyRule[];
  exceptions: number | unknown[];
  rollout: { env: string; state: string }[];
  updatedAt: string;
}

const policyLine = (p: PolicySummary): string =>
  `${p.id} v${p.version}  ${p.name} (${p.origin}): ${Array.isArray(p.rules) ? p.rules.length : p.rules} rules, ${Array.isArray(p.exceptions) ? p.exceptions.length : p.exceptions} exceptions; ${p.rollout.map((r) => `${r.env} ${r.state}`).join(', ')}`;

export async function policyCommand(action: string, args: string[], options: Common & { baseline?: string; name?: string; envs?: string; force?: boolean; from?: string; to?: string; days?: string; owner?: string; reason?: string; expires?: string; protocol?: string; ports?: string }, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  const need = (n: number, usage: string): void => {
    if (args.length < n) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `usage: flowmap policy ${usage}`);
  };
  return withSession(config, logger, options.server, warn, async (s) => {
    const out = (value: Record<string, unknown>, text: () => string[]): number => {
      if (options.json === true) print(JSON.stringify(value));
      else for (const line of text()) print(line);
      return 0;
    };
    const envs = options.envs?.split(',').map((e) => e.trim()).filter((e) => e !== '');
    switch (action) {
      case 'list': {
        const r = await allPages(s, '/api/v1/policies', 'policies');
        return out(r, () => (r.policies as PolicySummary[]).map(policyLine));
      }
      case 'create': {
        const p = ok(await s.call('POST', '/api/v1/policies', { ...(options.baseline === undefined ? {} : { baseline: options.baseline }), ...(options.name === undefined ? {} : { name: options.name }), ...(envs === undefined ? {} : { envs }) }), 201);
        return out(p, () => [`created ${policyLine(p as unknown as PolicySummary)}`]);
      }
      case 'import': {
        need(1, 'import FILE');
        const p = ok(await s.call('POST', '/api/v1/policies', { policy: readDocument(args[0] as string), ...(envs === undefined ? {} : { envs }) }), 201);
        return out(p, () => [`imported ${policyLine(p as unknown as PolicySummary)}`, '  `flowmap findings` lists its rules that are broader than the traffic']);
      }
      case 'show': {
        need(1, 'show ID');
        const p = ok(await s.call('GET', `/api/v1/policies/${encodeURIComponent(args[0] as string)}`));
        return out(p, () => [policyLine(p as unknown as PolicySummary), ...(p.rules as PolicyRule[]).map((r) => `  ${r.id}  ${sel(r.from)} -> ${sel(r.to)} ${portText(r.protocol, r.ports)}  ${r.confidence.toFixed(2)}`)]);
      }
      case 'state': {
        need(3, 'state ID ENV draft|audit|enforced [--force]');
        const p = ok(await s.call('PUT', `/api/v1/policies/${encodeURIComponent(args[0] as string)}/state`, { env: args[1], state: args[2], ...(options.force === true ? { force: true } : {}) }));
        return out(p, () => [policyLine(p as unknown as PolicySummary)]);
      }
      case 'except': {
        need(3, 'except ID FROM TO --protocol tcp --ports 22 --owner NAME --reason TEXT --expires ISO-TIME   (FROM/TO: k=v,k=v | cidr | group name)');
        const selectorOf = (text: string): Record<string, string> => (text.includes('=') ? Object.fromEntries(text.split(',').map((kv) => kv.split('=') as [string, string])) : text.includes('/') ? { cidr: text } : { group: text });
        const body = {
          from: selectorOf(args[1] as string),
          to: selectorOf(args[2] as string),
          protocol: options.protocol ?? 'tcp',
          ports: (options.ports ?? '').split(',').filter((p) => p !== '').map(Number),
          owner: options.owner,
          reason: options.reason,
          expires: options.expires,
        };
        const r = ok(await s.call('POST', `/api/v1/policies/${encodeURIComponent(args[0] as string)}/exceptions`, body), 201);
        return out(r, () => [`exception ${String((r.exception as { id: string }).id)} added; ${policyLine(r.policy as PolicySummary)}`]);
      }
      case 'simulate': {
        need(1, 'simulate ID [--from ISO] [--to ISO] [--days N]');
        const body = { ...(options.from === undefined ? {} : { from: options.from }), ...(options.to === undefined ? {} : { to: options.to }), ...(options.days === undefined ? {} : { days: Number(options.days) }) };
        const r = ok(await s.call('POST', `/api/v1/policies/${encodeURIComponent(args[0] as string)}/simulate`, body));
        return out(r, () => {
          const t = r.totals as Record<string, number>;
          const blocked = r.blocked as { from: string; to: string; protocol: string; port: number; flows: number; scan: boolean; examples: { client: string; server: string }[] }[];
          return [
            `audit of ${args[0] as string} over ${(r.window as { from: string }).from} .. ${(r.window as { to: string }).to}: ${t.blockedFlows} of ${t.flows} flows would be blocked (${blocked.length} dependencies), ${t.alreadyRejectedFlows} already rejected by a cloud firewall`,
            ...blocked.map((b) => `  blocked ${b.from} -> ${b.to} ${b.protocol}/${b.port}: ${b.flows} flows${b.scan ? ' (scan)' : ''}, e.g. ${b.examples.slice(0, 2).map((e) => `${e.client} -> ${e.server}`).join(', ')}`),
            `  ${(r.unusedRules as unknown[]).length} rules nothing used`,
          ];
        });
      }
      case 'remove-rule': {
        need(2, 'remove-rule ID RULE…');
        const p = ok(await s.call('PATCH', `/api/v1/policies/${encodeURIComponent(args[0] as string)}/rules`, { remove: args.slice(1) }));
        return out(p, () => [`removed ${args.length - 1} rule${args.length === 2 ? '' : 's'}; ${policyLine(p as unknown as PolicySummary)}`]);
      }
      case 'add-rules': {
        need(2, 'add-rules ID FILE   (FILE: {"rules": [{from, to, protocol, ports}]} in YAML or JSON)');
        const rules = (readDocument(args[1] as string) as { rules?: unknown }).rules;
        if (!Array.isArray(rules)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `${args[1] as string} has no "rules" list`);
        const p = ok(await s.call('PATCH', `/api/v1/policies/${encodeURIComponent(args[0] as string)}/rules`, { add: rules }));
        return out(p, () => [`added ${rules.length} rules; ${policyLine(p as unknown as PolicySummary)}`]);
      }
      case 'unexcept': {
        need(2, 'unexcept ID EXCEPTION');
        const p = ok(await s.call('DELETE', `/api/v1/policies/${encodeURIComponent(args[0] as string)}/exceptions/${encodeURIComponent(args[1] as string)}`));
        return out(p, () => [`exception ${args[1] as string} removed; ${policyLine(p as unknown as PolicySummary)}`]);
      }
      case 'delete': {
        need(1, 'delete ID');
        const a = await s.call('DELETE', `/api/v1/policies/${encodeURIComponent(args[0] as string)}`);
        if (a.status !== 204) ok(a);
        return out({ deleted: args[0] }, () => [`deleted ${args[0] as string}`]);
      }
      default:
        throw new FlowmapError('FLOWMAP_BAD_REQUEST', `unknown policy action "${action}": list, create, import, show, state, add-rules, remove-rule, except, unexcept, simulate, delete`);
    }
  });
}

export async function blastCommand(options: Common & { baseline?: string; policy?: string }, config: Config, logger: Logger, print: Print, warn: Print): Promise<number> {
  return withSession(config, logger, options.server, warn, async (s) => {
    const r = ok(await s.call('GET', `/api/v1/blast-radius${q({ baseline: options.baseline, policy: options.policy })}`));
    if (options.json === true) {
      print(JSON.stringify(r));
      return 0;
    }
    const t = r.totals as Record<string, number>;
    const pct = (x: unknown): string => `${(Number(x) * 100).toFixed(1)} %`;
    print(`${String(r.workloads)} workloads: a flat network lets them reach ${t.flat} workload pairs; observed traffic ${t.observed} (${pct(r.observedReduction)} less)${r.policy === undefined ? '' : `; policy ${(r.policy as { id: string }).id}: ${t.policy} (${pct(r.reduction)} less)`}`);
    for (const g of (r.groups as { group: string; hosts: number; flat: number; observed: number; policy: number }[]).slice(0, 20)) print(`  ${g.group}: ${g.hosts} hosts reach ${g.flat} flat, ${g.observed} observed${r.policy === undefined ? '' : `, ${g.policy} with the policy`}`);
    return 0;
  });
}
