// Policies as versioned objects (issue 9): created from a recommendation or imported from a file,
// edited rule by rule, rolled out environment by environment (draft → audit → enforced, least
// critical environment first), with exceptions that carry an owner and an expiry. Every change
// writes a new version to the metadata namespace `policies` (whose history keeps them all) and
// bumps `version`, so an export names exactly what it rendered.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FlowmapError } from '../../core/errors.js';
import type { JsonValue, MetaStore } from '../../store/index.js';
import { ruleId } from './recommend.js';
import { DYNAMIC_RANGE } from './observe.js';
import { isExternalSelector, PortSchema, portsProblem, ProtocolSchema, selectorKey, SelectorSchema, sortPorts } from './selectors.js';
import { CATEGORIES, POLICY_STATES, type Policy, type PolicyException, type PolicyRule, type PolicyState, type Recommendation, type RolloutStep, type RuleFlag } from './types.js';

export const POLICIES = 'policies';
const ID = /^pol-[0-9a-f]{12}$/;
/** Environments in rollout order when nothing else says: the least critical first. */
const ENV_RANK: Readonly<Record<string, number>> = { sandbox: 0, dev: 1, development: 1, test: 2, qa: 3, uat: 4, staging: 5, stage: 5, preprod: 6, shared: 8, prod: 9, production: 9 };
/** Exceptions are temporary: at most a year. */
const MAX_EXCEPTION_DAYS = 366;

const nowIso = (now?: Date): string => (now ?? new Date()).toISOString();

export function checkPolicyId(id: string): void {
  if (!ID.test(id)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `"${id.slice(0, 80)}" is not a policy id (they look like pol-0123456789ab)`, { status: 400, details: { id: id.slice(0, 80) } });
}

/** Environments ordered least critical first: known names by rank, others between test and prod, by name. */
export function rolloutOrder(envs: Iterable<string>): string[] {
  const rank = (env: string): number => ENV_RANK[env] ?? 7;
  return [...new Set(envs)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function envsOf(rules: readonly PolicyRule[]): string[] {
  const envs = new Set<string>();
  for (const r of rules) for (const s of [r.from, r.to]) if (s.env !== undefined) envs.add(s.env);
  return rolloutOrder(envs.size === 0 ? ['all'] : envs);
}

const RuleInputSchema = z
  .strictObject({
  id: z.string().max(64).optional(),
  from: SelectorSchema,
  to: SelectorSchema,
  protocol: ProtocolSchema,
  ports: z.array(PortSchema).max(1024).default([]),
  confidence: z.number().min(0).max(1).optional(),
  reasons: z.array(z.string().max(1000)).max(50).optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
  documented: z.boolean().optional(),
  category: z.string().max(32).optional(),
  flags: z.array(z.string().max(32)).max(10).optional(),
  comment: z.string().max(1000).optional(),
})
  .superRefine((r, ctx) => {
    // An empty port list on tcp/udp is allowed here (an imported any-port rule): findings call it broad.
    const problem = portsProblem(r.protocol, r.ports, true);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['ports'], message: problem });
  });
/** A rule as a user writes it (the protocol as any text or number; the schema says which are allowed). */
export type RuleInput = Omit<z.input<typeof RuleInputSchema>, 'protocol'> & { protocol: string | number };

/** ISO-8601 with a zone (Z or ±hh:mm): an expiry read in the server's local time would be a surprise. */
const ZONED_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:\d{2})$|^\d{4}-\d{2}-\d{2}$/;

export const ExceptionInputSchema = z
  .strictObject({
    from: SelectorSchema,
    to: SelectorSchema,
    protocol: ProtocolSchema,
    ports: z.array(PortSchema).max(1024).default([]),
    owner: z.string().min(1).max(200),
    reason: z.string().min(1).max(1000),
    expires: z.string().max(64).regex(ZONED_TIME, 'must be an ISO-8601 time with its zone, e.g. 2027-03-31T18:00:00Z (or a date, read as UTC midnight)'),
  })
  .superRefine((x, ctx) => {
    const problem = portsProblem(x.protocol, x.ports);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['ports'], message: problem });
  });
export type ExceptionInput = Omit<z.input<typeof ExceptionInputSchema>, 'protocol'> & { protocol: string | number };

/** A policy file (DESIGN.md §9 policy JSON) as `flowmap policy import` and the API accept it. */
export const PolicyFileSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    id: z.string().max(64).optional(),
    baseline: z.string().max(64).optional(),
    groupBy: z.array(z.string().min(1).max(63)).max(16).optional(),
    defaultAction: z.literal('deny').default('deny'),
    rules: z.array(RuleInputSchema).max(100_000),
    description: z.string().max(2000).optional(),
  })
  .loose();

function invalid(what: string, error: z.ZodError): FlowmapError {
  const problems = error.issues.slice(0, 20).map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
  return new FlowmapError('FLOWMAP_BAD_REQUEST', `${what} is invalid:\n  ${problems.join('\n  ')}`, { status: 400, details: { problems } });
}

/** A rule from user input: checked, ports sorted, id derived, flags recomputed. */
export function ruleFromInput(input: unknown): PolicyRule {
  const parsed = RuleInputSchema.safeParse(input);
  if (!parsed.success) throw invalid('the rule', parsed.error);
  const r = parsed.data;
  const ports = sortPorts(r.ports);
  // Flags are facts about the rule, recomputed: an imported "dynamic-range" on any other range must not hide it from the broad-rule findings.
  const dynamic = r.protocol === 'tcp' && ports.length === 1 && typeof ports[0] !== 'number' && ports[0]?.first === DYNAMIC_RANGE.first && ports[0].last === DYNAMIC_RANGE.last;
  const flags = new Set<RuleFlag>((r.flags ?? []).filter((f): f is RuleFlag => (f === 'dynamic-range' && dynamic) || f === 'unobserved'));
  if (selectorKey(r.from) === selectorKey(r.to)) flags.add('intra-group');
  if (isExternalSelector(r.from) || isExternalSelector(r.to)) flags.add('external');
  const ev = r.evidence ?? {};
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    id: ruleId(r.from, r.to, r.protocol, ports),
    from: r.from,
    to: r.to,
    protocol: r.protocol,
    ports,
    confidence: r.confidence ?? 1,
    reasons: r.reasons ?? ['added by hand'],
    evidence: { flows: num(ev.flows), bytes: num(ev.bytes), daysSeen: num(ev.daysSeen), ...(typeof ev.firstSeen === 'string' ? { firstSeen: ev.firstSeen } : {}), ...(typeof ev.lastSeen === 'string' ? { lastSeen: ev.lastSeen } : {}) },
    documented: r.documented ?? false,
    category: r.category !== undefined && ((CATEGORIES as readonly string[]).includes(r.category) || r.category === 'intended') ? (r.category as PolicyRule['category']) : 'application',
    flags: [...flags],
    ...(r.comment === undefined ? {} : { comment: r.comment }),
  };
}

export function exceptionFromInput(input: ExceptionInput, now = new Date()): PolicyException {
  const parsed = ExceptionInputSchema.safeParse(input);
  if (!parsed.success) throw invalid('the exception', parsed.error);
  const x = parsed.data;
  const expires = Date.parse(x.expires);
  if (!Number.isFinite(expires)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `expires "${x.expires}" is not an ISO-8601 time`, { status: 400 });
  if (expires <= now.getTime()) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `expires ${new Date(expires).toISOString()} is not in the future; an exception needs time to run`, { status: 400 });
  if (expires - now.getTime() > MAX_EXCEPTION_DAYS * 86_400_000) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `an exception lasts at most ${MAX_EXCEPTION_DAYS} days; make it a rule if it is permanent`, { status: 400 });
  const ports = sortPorts(x.ports);
  const id = `x-${createHash('sha1').update(JSON.stringify([selectorKey(x.from), selectorKey(x.to), x.protocol, ports, x.owner, x.expires, now.getTime()])).digest('hex').slice(0, 10)}`;
  return { id, from: x.from, to: x.to, protocol: x.protocol, ports, owner: x.owner, reason: x.reason, expires: new Date(expires).toISOString(), createdAt: now.toISOString() };
}

function newId(): string {
  return `pol-${randomBytes(6).toString('hex')}`;
}

async function save(meta: MetaStore, policy: Policy): Promise<Policy> {
  await meta.put(POLICIES, policy.id, policy as unknown as JsonValue);
  return policy;
}

export async function getPolicy(meta: MetaStore, id: string): Promise<Policy | undefined> {
  checkPolicyId(id);
  const entry = await meta.get(POLICIES, id);
  return entry === undefined ? undefined : (entry.value as unknown as Policy);
}

export async function requirePolicy(meta: MetaStore, id: string): Promise<Policy> {
  const policy = await getPolicy(meta, id);
  if (policy === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no policy "${id}"`, { status: 404, details: { id } });
  return policy;
}

/** A policy as it was at a version (its history in the store). */
export async function policyVersion(meta: MetaStore, id: string, version: number): Promise<Policy> {
  checkPolicyId(id);
  const history = await meta.history(POLICIES, id);
  const found = history.map((e) => e.value as unknown as Policy | null).find((p) => p !== null && p.version === version);
  if (found === undefined || found === null) throw new FlowmapError('FLOWMAP_NOT_FOUND', `policy ${id} has no version ${version}`, { status: 404, details: { id, version } });
  return found;
}

/** Newest first. */
export async function listPolicies(meta: MetaStore): Promise<Policy[]> {
  const entries = await meta.list(POLICIES, { limit: 10_000 });
  return entries.map((e) => e.value as unknown as Policy).sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.id < b.id ? -1 : 1));
}

/** A draft policy from a recommendation, in every environment its rules name. */
export async function createFromRecommendation(meta: MetaStore, recommendation: Recommendation, options: { name?: string; envs?: string[]; now?: Date } = {}): Promise<Policy> {
  const at = nowIso(options.now);
  const envs = options.envs === undefined ? envsOf(recommendation.rules) : rolloutOrder(options.envs);
  return save(meta, {
    id: newId(),
    name: options.name ?? `recommended from ${recommendation.baseline}`,
    version: 1,
    baseline: recommendation.baseline,
    groupBy: recommendation.groupBy,
    defaultAction: 'deny',
    rules: recommendation.rules,
    exceptions: [],
    rollout: envs.map((env) => ({ env, state: 'draft' as const, changedAt: at })),
    origin: 'recommendation',
    createdAt: at,
    updatedAt: at,
  });
}

/** A draft policy from a policy file someone wrote (checked; findings say what is too broad). */
export async function importPolicy(meta: MetaStore, document: unknown, options: { now?: Date; envs?: string[] } = {}): Promise<Policy> {
  const parsed = PolicyFileSchema.safeParse(document);
  if (!parsed.success) throw invalid('the policy file', parsed.error);
  const file = parsed.data;
  const rules = dedupe(file.rules.map((r) => ruleFromInput({ ...r, reasons: r.reasons ?? ['imported'] })));
  // Rules are matched against groups at the policy's granularity: a label it does not group by
  // would never match in an audit, yet be enforced by an export.
  const groupBy = file.groupBy ?? labelKeysOf(rules);
  checkGranularity(rules, groupBy);
  const at = nowIso(options.now);
  return save(meta, {
    id: newId(),
    name: file.name ?? 'imported policy',
    version: 1,
    ...(file.baseline === undefined ? {} : { baseline: file.baseline }),
    groupBy,
    defaultAction: 'deny',
    rules,
    exceptions: [],
    rollout: (options.envs === undefined ? envsOf(rules) : rolloutOrder(options.envs)).map((env) => ({ env, state: 'draft' as const, changedAt: at })),
    origin: 'import',
    createdAt: at,
    updatedAt: at,
    ...(file.description === undefined ? {} : { description: file.description }),
  });
}

const KEY_ORDER = ['app', 'env', 'role', 'tier', 'namespace', 'owner', 'location'];

/** The label keys rules name, the well-known ones first: an imported policy's granularity when its file gives none. */
function labelKeysOf(rules: readonly Pick<PolicyRule, 'from' | 'to'>[]): string[] {
  const keys = new Set<string>();
  for (const r of rules) for (const s of [r.from, r.to]) if (s.cidr === undefined && s.group === undefined && s.workload === undefined) for (const k of Object.keys(s)) keys.add(k);
  const rank = (k: string): number => (KEY_ORDER.includes(k) ? KEY_ORDER.indexOf(k) : KEY_ORDER.length);
  const out = [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  return out.length === 0 ? ['app', 'env'] : out;
}

/** Refuses selectors naming a label outside the policy's groupBy (they could never match a group). */
function checkGranularity(items: readonly Pick<PolicyRule, 'from' | 'to'>[], groupBy: readonly string[]): void {
  const outside = new Set<string>();
  for (const r of items) for (const s of [r.from, r.to]) if (s.cidr === undefined && s.group === undefined && s.workload === undefined) for (const k of Object.keys(s)) if (!groupBy.includes(k)) outside.add(k);
  if (outside.size > 0) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `selectors name label${outside.size > 1 ? 's' : ''} ${[...outside].join(', ')}, which the policy does not group by (${groupBy.join(',')}); groups at that granularity carry no such label`, {
      status: 400,
      details: { labels: [...outside], groupBy },
    });
  }
}

function dedupe(rules: PolicyRule[]): PolicyRule[] {
  const byId = new Map<string, PolicyRule>();
  for (const r of rules) byId.set(r.id, r);
  return [...byId.values()];
}

async function change(meta: MetaStore, id: string, expectedVersion: number | undefined, edit: (p: Policy) => Policy, now?: Date): Promise<Policy> {
  const current = await requirePolicy(meta, id);
  if (expectedVersion !== undefined && expectedVersion !== current.version) {
    throw new FlowmapError('FLOWMAP_CONFLICT', `policy ${id} is at version ${current.version}, not ${expectedVersion}: someone changed it; reload and apply the change again`, { status: 409, details: { id, version: current.version } });
  }
  const next = edit(structuredClone(current));
  return save(meta, { ...next, version: current.version + 1, updatedAt: nowIso(now) });
}

export interface RuleEdit {
  add?: RuleInput[];
  /** Rule ids to remove. */
  remove?: string[];
  /** Version the edit was made against (optimistic locking; 409 when stale). */
  version?: number;
}

export async function editRules(meta: MetaStore, id: string, edit: RuleEdit, now?: Date): Promise<Policy> {
  const added = (edit.add ?? []).map(ruleFromInput);
  return change(
    meta,
    id,
    edit.version,
    (p) => {
      const remove = new Set(edit.remove ?? []);
      const missing = [...remove].filter((r) => !p.rules.some((x) => x.id === r));
      if (missing.length > 0) throw new FlowmapError('FLOWMAP_NOT_FOUND', `policy ${id} has no rule ${missing.slice(0, 5).join(', ')}`, { status: 404, details: { missing } });
      checkGranularity(added, p.groupBy);
      // What is enforced was audited: changed rules go back to audit wherever they were enforced.
      const at = nowIso(now);
      const rollout = p.rollout.map((s) => (s.state === 'enforced' && (added.length > 0 || remove.size > 0) ? { ...s, state: 'audit' as const, changedAt: at } : s));
      return { ...p, rules: dedupe([...p.rules.filter((r) => !remove.has(r.id)), ...added]), rollout };
    },
    now,
  );
}

const NEXT: Readonly<Record<PolicyState, readonly PolicyState[]>> = { draft: ['audit'], audit: ['enforced', 'draft'], enforced: ['audit', 'draft'] };
const RANK: Readonly<Record<PolicyState, number>> = { draft: 0, audit: 1, enforced: 2 };

/**
 * Moves one environment to a state. One step at a time (draft → audit → enforced; back any time),
 * an environment is enforced only after every less critical one is, and steps back only when no
 * more critical one is further on (unless `force`). Editing rules sends enforced environments back
 * to audit (editRules).
 */
export async function setState(meta: MetaStore, id: string, env: string, state: PolicyState, options: { force?: boolean; version?: number; now?: Date } = {}): Promise<Policy> {
  if (!(POLICY_STATES as readonly string[]).includes(state)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `state must be one of ${POLICY_STATES.join(', ')}`, { status: 400 });
  return change(
    meta,
    id,
    options.version,
    (p) => {
      const index = p.rollout.findIndex((s) => s.env === env);
      if (index < 0) throw new FlowmapError('FLOWMAP_NOT_FOUND', `policy ${id} is not rolled out to environment "${env}" (it has ${p.rollout.map((s) => s.env).join(', ')})`, { status: 404, details: { env } });
      const step = p.rollout[index] as RolloutStep;
      if (step.state === state) return p;
      if (!NEXT[step.state].includes(state) && options.force !== true) {
        throw new FlowmapError('FLOWMAP_CONFLICT', `${env} is ${step.state}; it can go to ${NEXT[step.state].join(' or ')}, not straight to ${state} (audit first: it shows what enforcing would block)`, { status: 409, details: { env, from: step.state, to: state } });
      }
      if (state === 'enforced' && options.force !== true) {
        const before = p.rollout.slice(0, index).filter((s) => s.state !== 'enforced');
        if (before.length > 0) {
          throw new FlowmapError('FLOWMAP_CONFLICT', `enforce the less critical environments first: ${before.map((s) => `${s.env} is ${s.state}`).join(', ')}`, { status: 409, details: { env, pending: before.map((s) => s.env) } });
        }
      }
      // Stepping back keeps the order too: a less critical environment is never behind a more critical one.
      if (RANK[state] < RANK[step.state] && options.force !== true) {
        const ahead = p.rollout.slice(index + 1).filter((s) => RANK[s.state] > RANK[state]);
        if (ahead.length > 0) {
          throw new FlowmapError('FLOWMAP_CONFLICT', `${env} cannot go back to ${state} while more critical environments are further on (${ahead.map((s) => `${s.env} is ${s.state}`).join(', ')}); step those back first, or force it`, { status: 409, details: { env, ahead: ahead.map((s) => s.env) } });
        }
      }
      const rollout = p.rollout.slice();
      rollout[index] = { env, state, changedAt: nowIso(options.now) };
      return { ...p, rollout };
    },
    options.now,
  );
}

export async function addException(meta: MetaStore, id: string, input: ExceptionInput, options: { version?: number; now?: Date } = {}): Promise<{ policy: Policy; exception: PolicyException }> {
  const exception = exceptionFromInput(input, options.now);
  const policy = await change(
    meta,
    id,
    options.version,
    (p) => {
      checkGranularity([exception], p.groupBy);
      return { ...p, exceptions: [...p.exceptions, exception] };
    },
    options.now,
  );
  return { policy, exception };
}

export async function removeException(meta: MetaStore, id: string, exceptionId: string, options: { version?: number; now?: Date } = {}): Promise<Policy> {
  return change(
    meta,
    id,
    options.version,
    (p) => {
      if (!p.exceptions.some((x) => x.id === exceptionId)) throw new FlowmapError('FLOWMAP_NOT_FOUND', `policy ${id} has no exception ${exceptionId}`, { status: 404 });
      return { ...p, exceptions: p.exceptions.filter((x) => x.id !== exceptionId) };
    },
    options.now,
  );
}

export async function deletePolicy(meta: MetaStore, id: string): Promise<boolean> {
  checkPolicyId(id);
  return meta.delete(POLICIES, id);
}

/** The exceptions in force at `now` (expired ones drop out of exports and simulations). */
export function activeExceptions(policy: Policy, now = new Date()): PolicyException[] {
  return policy.exceptions.filter((x) => Date.parse(x.expires) > now.getTime());
}
