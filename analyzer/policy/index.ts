// The policy stage's entry (DESIGN.md §8–§9, issue 9): recommendations from a baseline, intents,
// findings, versioned policies with rollout and exceptions, audit simulation, blast radius and
// exports. Other stages import from here.
export { classify, fanOuts, type Classification } from './classify.js';
export { broadness, computeFindings, DEFAULT_UNUSED_DAYS, findingId, type FindingsInput } from './findings.js';
export { deleteIntent, documenting, importIntents, intentsVersion, IntentInputSchema, IntentsFileSchema, intentId, INTENTS, listIntents, parseIntents, parseIntentsText } from './intents.js';
export { DYNAMIC_RANGE, observe, type Observation, type Observed, type Scan } from './observe.js';
export { analyze, DEFAULT_PARAMETERS, recommend, ruleId, type Analysis, type Judged } from './recommend.js';
export * from './selectors.js';
export type * from './types.js';
export { CATEGORIES, EXPORT_FORMATS, FINDING_KINDS, POLICY_STATES, SEVERITIES } from './types.js';
export { blastRadius, type BlastRadius, type GroupBlast } from './blast.js';
export { EdgeIndex, GroupIndex } from './group-index.js';
export { exportInput } from './context.js';
export { renderExport } from './export/index.js';
export {
  activeExceptions,
  addException,
  checkPolicyId,
  createFromRecommendation,
  deletePolicy,
  editRules,
  exceptionFromInput,
  getPolicy,
  importPolicy,
  listPolicies,
  PolicyFileSchema,
  policyVersion,
  POLICIES,
  removeException,
  requirePolicy,
  rolloutOrder,
  ruleFromInput,
  setState,
  type ExceptionInput,
  type RuleEdit,
  type RuleInput,
} from './repository.js';
export { blastFor, exportPolicy, externalsOf, findingsFor, previousOf, MAX_SIMULATION_DAYS, recommendationFor, simulatePolicy } from './service.js';
export { simulate, type Blocked, type SimulationResult } from './simulate.js';
export { setTriage, TRIAGE_STATUSES, triageOf, withTriage, type Triage, type TriagedFinding, type TriageStatus } from './triage.js';
