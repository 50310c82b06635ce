// Intents: the dependencies someone documented (DESIGN.md §9 intents file), which decide what a
// finding calls undocumented and which rules a recommendation keeps without traffic. Stored in the
// metadata namespace `intents`, one entry per intent, so the history of each is kept.
//
// A file is `{"intents": [{"from": selector, "to": selector, "protocol": "tcp", "ports": [5432],
// "description": "…"}]}`, YAML or JSON. Importing a file replaces the intents (the file is the
// documentation), unless `merge` keeps the ones it does not mention.
import YAML from 'yaml';
import { z } from 'zod';
import { FlowmapError } from '../../core/errors.js';
import type { JsonValue, MetaStore } from '../../store/index.js';
import type { GroupNodeAttributes } from '../baseline/index.js';
import { dependencyHash, portMatches, portsProblem, PortSchema, ProtocolSchema, selectorMatchesNode, SelectorSchema, sortPorts, type Externals } from './selectors.js';
import type { Intent, PortSpec, Protocol, Selector } from './types.js';

export const INTENTS = 'intents';
export const MAX_INTENTS = 100_000;

export const IntentInputSchema = z
  .strictObject({
    from: SelectorSchema,
    to: SelectorSchema,
    protocol: ProtocolSchema.default('tcp'),
    ports: z.array(PortSchema).max(1024).default([]),
    description: z.string().max(1000).optional(),
  })
  .superRefine((intent, ctx) => {
    const problem = portsProblem(intent.protocol, intent.ports);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['ports'], message: problem });
  });
export const IntentsFileSchema = z.strictObject({ intents: z.array(IntentInputSchema).max(MAX_INTENTS) });

export type IntentInput = z.input<typeof IntentInputSchema>;

export function intentId(from: Selector, to: Selector, protocol: Protocol, ports: readonly PortSpec[]): string {
  return `int-${dependencyHash(from, to, protocol, ports)}`;
}

function problemsOf(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((i) => `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(top level)'}: ${i.message}`);
}

/** Validates parsed intents (a file's `intents` list or one API body) and gives them ids. */
export function parseIntents(document: unknown, source = '(inline)'): Intent[] {
  const result = IntentsFileSchema.safeParse(document);
  if (!result.success) {
    const problems = problemsOf(result.error);
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `intents ${source} are invalid:\n  ${problems.join('\n  ')}`, { status: 400, details: { source, problems } });
  }
  const byId = new Map<string, Intent>();
  for (const input of result.data.intents) {
    const ports = sortPorts(input.ports);
    const id = intentId(input.from, input.to, input.protocol, ports);
    byId.set(id, { id, from: input.from, to: input.to, protocol: input.protocol, ports, ...(input.description === undefined ? {} : { description: input.description }) });
  }
  return [...byId.values()];
}

/** Parses an intents file's text (YAML or JSON). */
export function parseIntentsText(text: string, source = '(inline)'): Intent[] {
  let document: unknown;
  try {
    document = YAML.parse(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `intents ${source} are not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`, { status: 400, details: { source } });
  }
  return parseIntents(document, source);
}

export async function listIntents(meta: MetaStore): Promise<Intent[]> {
  const entries = await meta.list(INTENTS, { limit: MAX_INTENTS });
  return entries.map((e) => e.value as unknown as Intent).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Stores intents: replaces every stored intent unless `merge`. Returns what changed. */
/** One entry rewritten after every change of the intents, so that any process can tell they changed with one read. */
const INTENTS_STATE = 'intents-state';
let generation = 0;
let known: { version: number; at: number; generation: number; refreshing?: Promise<void> } | undefined;

async function changed(meta: MetaStore): Promise<void> {
  await meta.put(INTENTS_STATE, 'changed', { at: new Date().toISOString() });
  generation++;
  known = undefined;
}

async function readVersion(meta: MetaStore, now: number): Promise<number> {
  const at = generation;
  const version = (await meta.get(INTENTS_STATE, 'changed'))?.version ?? 0;
  // A change made here while reading makes this read stale: it is not kept.
  if (at === generation) known = { version, at: now, generation };
  return version;
}

/**
 * A number that changes whenever the intents do, in any process: answers derived from the
 * intents (recommendations) key on it. A change made in this process shows at once; one made by
 * another shows within about `maxAgeMs` — past that age the known version is still answered while
 * one read of the store runs in the background, so a burst of requests never waits on it.
 */
export async function intentsVersion(meta: MetaStore, maxAgeMs = 1000, now = Date.now()): Promise<number> {
  const current = known;
  if (current === undefined || current.generation !== generation) return readVersion(meta, now);
  if (now - current.at >= maxAgeMs && current.refreshing === undefined) {
    current.refreshing = readVersion(meta, now).then(
      () => undefined,
      () => {
        known = undefined;
      },
    );
  }
  return current.version;
}

export async function importIntents(meta: MetaStore, intents: readonly Intent[], options: { merge?: boolean } = {}): Promise<{ added: number; kept: number; removed: number; total: number }> {
  const existing = new Set((await listIntents(meta)).map((i) => i.id));
  let added = 0;
  let kept = 0;
  const incoming = new Set<string>();
  for (const intent of intents) {
    incoming.add(intent.id);
    if (existing.has(intent.id)) kept++;
    else added++;
    await meta.put(INTENTS, intent.id, intent as unknown as JsonValue);
  }
  let removed = 0;
  if (options.merge !== true) {
    for (const id of existing) {
      if (!incoming.has(id)) {
        await meta.delete(INTENTS, id);
        removed++;
      }
    }
  }
  await changed(meta);
  return { added, kept, removed, total: options.merge === true ? existing.size + added : intents.length };
}

export async function deleteIntent(meta: MetaStore, id: string): Promise<boolean> {
  const deleted = await meta.delete(INTENTS, id);
  if (deleted) await changed(meta);
  return deleted;
}

/** The intents that document a dependency between two groups on a protocol and port (or range). */
export function documenting(intents: readonly Intent[], from: GroupNodeAttributes, to: GroupNodeAttributes, protocol: string, ports: readonly PortSpec[], externals?: Externals): Intent[] {
  return intents.filter((i) => {
    if (i.protocol !== protocol) return false;
    if (!selectorMatchesNode(i.from, from, externals) || !selectorMatchesNode(i.to, to, externals)) return false;
    if (i.ports.length === 0) return ports.length === 0;
    // Every port of the dependency must be covered (a range by a range that contains it).
    return ports.every((p) => (typeof p === 'number' ? portMatches(i.ports, p) : i.ports.some((q) => typeof q !== 'number' && q.first <= p.first && q.last >= p.last)));
  });
}
