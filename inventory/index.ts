// The inventory stage's entry (DESIGN.md §7): workloads with labels, address bindings over time,
// CIDR label rules, their imports and the resolver. Other stages import from here.
import type { Config } from '../core/config.js';
import { parsePrefix } from '../core/ip.js';
import type { ResolverOptions } from './resolver.js';

export { detectFormat, IMPORT_FORMATS, parseInventory, parseIsoTime, type ImportFormat, type ImportProblem, type ParsedInventory } from './import/index.js';
export { CRITICALITIES, WELL_KNOWN_LABELS, type Binding, type BindingConflict, type CidrRule, type Criticality, type Inventory, type Labels, type Workload } from './model.js';
export { createResolver, DEFAULT_GROUP_BY, PRIVATE_RANGES, type Resolution, type Resolver, type ResolverCache, type ResolverOptions } from './resolver.js';
export type { Group, GroupKind } from './groups.js';
export { groupEndpoints, groupMembers, type GroupMembers } from './members.js';
export {
  addressHistory,
  applyImport,
  bindingsOf,
  bindingsOfWorkload,
  getWorkload,
  listRules,
  listWorkloads,
  loadInventory,
  removeRule,
  removeWorkload,
  saveRule,
  saveWorkload,
  type ImportSummary,
} from './store.js';

/** The resolver's options from the `inventory` section of the configuration. */
export function resolverOptionsFrom(config: Config['inventory'], groupBy?: readonly string[]): ResolverOptions {
  return {
    groupBy: groupBy ?? config.groupBy,
    unlabeledPrefix: { v4: config.unlabeledPrefixV4, v6: config.unlabeledPrefixV6 },
    externals: config.external.map((entry) => {
      const at = entry.indexOf('=');
      return { name: entry.slice(0, at), prefix: parsePrefix(entry.slice(at + 1)) };
    }),
  };
}
