// The baseline stage's entry (DESIGN.md §8): build a window's label-aggregated dependency graph
// as a job, store it as a versioned snapshot, download it, drill down, compare two.
export { buildBaseline, changingAddresses, checkParams, edgeId, protocolName, type BuildProgress, type BuiltBaseline } from './build.js';
export { diffBaselines, type BaselineDiff } from './diff.js';
export { GRAPH_FORMATS, renderGraph, type GraphFormat } from './formats.js';
export {
  BASELINE_ATTEMPTS,
  BASELINE_JOB,
  BASELINE_SCHEDULE,
  baselineSettingsFrom,
  baselineStatus,
  paramsFor,
  registerBaseline,
  requestBaseline,
  runBaseline,
  type BaselineRequest,
  type BaselineSettings,
} from './job.js';
export { orient, type Oriented } from './orientation.js';
export { baselineId, deleteBaseline, getGraph, getRecord, latestCompleted, listRecords, pruneBaselines, requireGraph, requireRecord } from './repository.js';
export type * from './types.js';
export { ORIENTATION_RULES } from './types.js';
