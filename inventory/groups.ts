// Groups: what an address resolves to at the chosen granularity (DESIGN.md §8 graph nodes), and
// their stable string keys. A group table interns groups so that a batch of lookups returns small
// integer ids and every id means the same group for the table's lifetime.
//
// Keys (stable across runs, so a baseline can be compared with the previous one):
// - labels:    `app=billing,env=prod` — the groupBy keys present, in groupBy order;
// - workload:  `workload=<id>` — a bound address whose labels have none of the groupBy keys;
// - internet:  `group=internet`;
// - external:  `group=<name>` — a named external CIDR (a SaaS provider);
// - unlabeled: `group=unlabeled,subnet=10.1.2.0/24` — private or reserved space nobody labeled.
// In keys, `%`, `,` and `=` inside label keys and values are percent-encoded, so a key splits
// unambiguously on `,` and `=`.
import type { Labels } from './model.js';

export type GroupKind = 'labels' | 'workload' | 'internet' | 'external' | 'unlabeled';

export interface Group {
  /** Index into the group table. */
  readonly id: number;
  readonly key: string;
  readonly kind: GroupKind;
  /** The labels at the granularity (groupBy keys only); empty for the other kinds. */
  readonly labels: Labels;
  /** `internet`, `unlabeled` or the external CIDR's name; absent for labels and workload groups. */
  readonly group?: string;
  /** For `unlabeled`: the subnet, e.g. `10.1.2.0/24`. */
  readonly subnet?: string;
  /** For `workload`: the workload's id. */
  readonly workload?: string;
}

export const INTERNET = 'internet';
export const UNLABELED = 'unlabeled';

function escapeKeyPart(text: string): string {
  return text.replace(/[%,=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The labels cut down to `groupBy`, with their key; undefined when none of the keys is present. */
export function labelsAtGranularity(groupBy: readonly string[], labels: Labels): { key: string; labels: Labels } | undefined {
  const kept: Record<string, string> = {};
  const parts: string[] = [];
  for (const name of groupBy) {
    // Own keys only: `toString` as a label key must not find Object.prototype's.
    const value = Object.hasOwn(labels, name) ? labels[name] : undefined;
    if (value === undefined) continue;
    kept[name] = value;
    parts.push(`${escapeKeyPart(name)}=${escapeKeyPart(value)}`);
  }
  if (parts.length === 0) return undefined;
  // A label group whose key reads like an unresolved or workload group (groupBy `group`, a label
  // group=internet) gets a prefix, so the two can never share a key.
  const key = parts.join(',');
  return { key: /^(group|workload)=/.test(key) ? `labels:${key}` : key, labels: kept };
}

/** Append-only: ids are positions and never change. */
export class GroupTable {
  readonly groups: Group[] = [];
  private readonly byKey = new Map<string, number>();

  private intern(key: string, make: (id: number) => Group): number {
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    const id = this.groups.length;
    this.groups.push(make(id));
    this.byKey.set(key, id);
    return id;
  }

  labels(key: string, labels: Labels): number {
    return this.intern(key, (id) => ({ id, key, kind: 'labels', labels }));
  }

  workload(workloadId: string): number {
    const key = `workload=${escapeKeyPart(workloadId)}`;
    return this.intern(key, (id) => ({ id, key, kind: 'workload', labels: {}, workload: workloadId }));
  }

  internet(): number {
    const key = `group=${INTERNET}`;
    return this.intern(key, (id) => ({ id, key, kind: 'internet', labels: {}, group: INTERNET }));
  }

  external(name: string): number {
    const key = `group=${escapeKeyPart(name)}`;
    return this.intern(key, (id) => ({ id, key, kind: 'external', labels: {}, group: name }));
  }

  unlabeled(subnet: string): number {
    const key = `group=${UNLABELED},subnet=${subnet}`;
    return this.intern(key, (id) => ({ id, key, kind: 'unlabeled', labels: {}, group: UNLABELED, subnet }));
  }

  /** The id of a key already interned, or undefined. */
  idOf(key: string): number | undefined {
    return this.byKey.get(key);
  }
}
