// Finding triage: someone acknowledges a finding (seen, owned, not fixed) or resolves it (fixed or
// accepted). Findings are recomputed from each baseline and keep their id across baselines, so a
// triage is stored by finding id in the metadata namespace `finding-triage` (versioned: the
// history says who changed what when). A resolved finding that shows traffic after it was
// resolved is open again — the fix did not hold — and says so.
import { FlowmapError } from '../../core/errors.js';
import type { JsonValue, MetaStore } from '../../store/port.js';
import type { Finding } from './types.js';

export const TRIAGE = 'finding-triage';
export const TRIAGE_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type TriageStatus = (typeof TRIAGE_STATUSES)[number];

export interface Triage {
  status: TriageStatus;
  /** The token (or local user) that changed it. */
  by: string;
  at: string;
  comment?: string;
}

export type TriagedFinding = Finding & { status: TriageStatus; triage?: Triage; recurred?: boolean };

export async function triageOf(meta: MetaStore): Promise<Map<string, Triage>> {
  const entries = await meta.list(TRIAGE, { limit: 100_000 });
  return new Map(entries.map((e) => [e.key, e.value as unknown as Triage]));
}

/** Each finding with its status: open unless triaged; a resolved one with traffic after the resolution is open again. */
export function withTriage(findings: readonly Finding[], triage: ReadonlyMap<string, Triage>): TriagedFinding[] {
  return findings.map((f) => {
    const t = triage.get(f.id);
    if (t === undefined || t.status === 'open') return { ...f, status: 'open', ...(t === undefined ? {} : { triage: t }) };
    if (t.status === 'resolved' && f.evidence.lastSeen !== undefined && f.evidence.lastSeen > t.at) return { ...f, status: 'open', triage: t, recurred: true };
    return { ...f, status: t.status, triage: t };
  });
}

export async function setTriage(meta: MetaStore, findingId: string, status: TriageStatus, by: string, comment?: string, now = new Date()): Promise<Triage> {
  if (!(TRIAGE_STATUSES as readonly string[]).includes(status)) throw new FlowmapError('FLOWMAP_BAD_REQUEST', `status must be one of ${TRIAGE_STATUSES.join(', ')}`, { status: 400 });
  if (comment !== undefined && comment.length > 2000) throw new FlowmapError('FLOWMAP_BAD_REQUEST', 'a comment is at most 2000 characters', { status: 400 });
  const triage: Triage = { status, by, at: now.toISOString(), ...(comment === undefined || comment === '' ? {} : { comment }) };
  await meta.put(TRIAGE, findingId, triage as unknown as JsonValue);
  return triage;
}
