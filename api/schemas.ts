// JSON schemas of the policy stage's objects as the API answers with them (analyzer/policy/types.ts
// is the source of truth; these follow it field by field). A route's response schema is also its
// serializer, so a field missing here would be dropped from the answer: objects that carry open
// sets of keys (labels, selectors, extra evidence) say so with additionalProperties.
import { CATEGORIES, FINDING_KINDS, POLICY_STATES, SEVERITIES, TRIAGE_STATUSES } from '../analyzer/policy/index.js';

const iso = { type: 'string', format: 'date-time' } as const;

export const selectorSchema = {
  type: 'object',
  description: 'a label map ({"app": "web", "env": "prod"}), {"cidr": "203.0.113.0/24"}, {"group": "internet"} or {"workload": ID}',
  additionalProperties: { type: 'string' },
} as const;

export const portSpecSchema = {
  anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'object', required: ['first', 'last'], properties: { first: { type: 'integer' }, last: { type: 'integer' } } }],
} as const;

export const evidenceSchema = {
  type: 'object',
  required: ['flows', 'bytes', 'daysSeen'],
  additionalProperties: true,
  properties: {
    flows: { type: 'number' },
    bytes: { type: 'number' },
    daysSeen: { type: 'integer' },
    firstSeen: iso,
    lastSeen: iso,
    clientHosts: { type: 'integer' },
    serverHosts: { type: 'integer' },
    edges: { type: 'integer' },
  },
} as const;

const dependency = {
  from: selectorSchema,
  to: selectorSchema,
  protocol: { type: 'string', description: 'tcp, udp, icmp, sctp, icmpv6, or an IANA protocol number' },
  ports: { type: 'array', items: portSpecSchema },
} as const;

export const ruleSchema = {
  type: 'object',
  required: ['id', 'from', 'to', 'protocol', 'ports', 'confidence', 'reasons', 'evidence', 'documented', 'category', 'flags'],
  properties: {
    id: { type: 'string' },
    ...dependency,
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    reasons: { type: 'array', items: { type: 'string' } },
    evidence: evidenceSchema,
    documented: { type: 'boolean' },
    category: { type: 'string', enum: [...CATEGORIES, 'intended'] },
    flags: { type: 'array', items: { type: 'string', enum: ['dynamic-range', 'intra-group', 'external', 'unobserved'] } },
    comment: { type: 'string' },
  },
} as const;

export const intentSchema = {
  type: 'object',
  required: ['id', 'from', 'to', 'protocol', 'ports'],
  properties: { id: { type: 'string' }, ...dependency, description: { type: 'string' } },
} as const;

export const exceptionSchema = {
  type: 'object',
  required: ['id', 'from', 'to', 'protocol', 'ports', 'owner', 'reason', 'expires', 'createdAt'],
  properties: { id: { type: 'string' }, ...dependency, owner: { type: 'string' }, reason: { type: 'string' }, expires: iso, createdAt: iso },
} as const;

const windowSchema = { type: 'object', required: ['from', 'to'], properties: { from: iso, to: iso, days: { type: 'number' } } } as const;

export const recommendationSchema = {
  type: 'object',
  required: ['id', 'baseline', 'groupBy', 'defaultAction', 'window', 'parameters', 'rules', 'excluded', 'generatedAt'],
  properties: {
    id: { type: 'string' },
    baseline: { type: 'string' },
    groupBy: { type: 'array', items: { type: 'string' } },
    defaultAction: { type: 'string', enum: ['deny'] },
    window: windowSchema,
    parameters: { type: 'object', required: ['minDays', 'minFlows', 'minDynamicPorts'], properties: { minDays: { type: 'integer' }, minFlows: { type: 'integer' }, minDynamicPorts: { type: 'integer' } } },
    rules: { type: 'array', items: ruleSchema },
    excluded: { type: 'object', additionalProperties: { type: 'integer' }, description: 'observed dependencies that did not become rules, by why' },
    generatedAt: iso,
  },
} as const;

const rolloutSchema = { type: 'object', required: ['env', 'state', 'changedAt'], properties: { env: { type: 'string' }, state: { type: 'string', enum: [...POLICY_STATES] }, changedAt: iso } } as const;

const policyHead = {
  id: { type: 'string' },
  name: { type: 'string' },
  version: { type: 'integer' },
  baseline: { type: 'string' },
  groupBy: { type: 'array', items: { type: 'string' } },
  defaultAction: { type: 'string', enum: ['deny'] },
  rollout: { type: 'array', items: rolloutSchema },
  origin: { type: 'string', enum: ['recommendation', 'import'] },
  createdAt: iso,
  updatedAt: iso,
  description: { type: 'string' },
} as const;

export const policySchema = {
  type: 'object',
  required: ['id', 'name', 'version', 'groupBy', 'defaultAction', 'rules', 'exceptions', 'rollout', 'origin', 'createdAt', 'updatedAt'],
  properties: { ...policyHead, rules: { type: 'array', items: ruleSchema }, exceptions: { type: 'array', items: exceptionSchema } },
} as const;

/** A policy in a list: its rules and exceptions counted, not listed. */
export const policySummarySchema = {
  type: 'object',
  required: ['id', 'name', 'version', 'groupBy', 'rules', 'exceptions', 'rollout', 'createdAt', 'updatedAt'],
  properties: { ...policyHead, rules: { type: 'integer' }, exceptions: { type: 'integer' } },
} as const;

const FINDING_STATUSES = TRIAGE_STATUSES;

export const findingSchema = {
  type: 'object',
  required: ['id', 'kind', 'from', 'to', 'protocol', 'ports', 'severity', 'evidence', 'explanation', 'status'],
  properties: {
    id: { type: 'string', description: 'stable: the same finding has the same id in every baseline' },
    kind: { type: 'string', enum: [...FINDING_KINDS] },
    category: { type: 'string', enum: [...CATEGORIES] },
    ...dependency,
    severity: { type: 'string', enum: [...SEVERITIES] },
    evidence: evidenceSchema,
    explanation: { type: 'string' },
    allowed: { type: 'boolean' },
    baseline: { type: 'string' },
    policy: { type: 'string' },
    rule: { type: 'string' },
    status: { type: 'string', enum: [...FINDING_STATUSES], description: 'open, or as someone acknowledged or resolved it' },
    recurred: { type: 'boolean', description: 'resolved, then seen again after the resolution: open again' },
    triage: {
      type: 'object',
      required: ['status', 'by', 'at'],
      properties: { status: { type: 'string', enum: [...FINDING_STATUSES] }, by: { type: 'string' }, at: iso, comment: { type: 'string' } },
    },
  },
} as const;

const blockedSchema = {
  type: 'object',
  required: ['from', 'to', 'protocol', 'port', 'flows', 'bytes', 'daysSeen', 'firstSeen', 'lastSeen', 'clientHosts', 'serverHosts', 'examples', 'scan'],
  properties: {
    from: { type: 'string' },
    to: { type: 'string' },
    protocol: { type: 'string' },
    port: { type: 'integer' },
    flows: { type: 'number' },
    bytes: { type: 'number' },
    daysSeen: { type: 'integer' },
    firstSeen: iso,
    lastSeen: iso,
    clientHosts: { type: 'integer' },
    serverHosts: { type: 'integer' },
    examples: { type: 'array', items: { type: 'object', required: ['client', 'server', 'flows', 'bytes'], properties: { client: { type: 'string' }, server: { type: 'string' }, flows: { type: 'number' }, bytes: { type: 'number' } } } },
    scan: { type: 'boolean' },
  },
} as const;

export const simulationSchema = {
  type: 'object',
  required: ['policy', 'window', 'groupBy', 'totals', 'blocked', 'unusedRules', 'generatedAt'],
  properties: {
    policy: { type: 'object', required: ['id', 'version'], properties: { id: { type: 'string' }, version: { type: 'integer' } } },
    window: windowSchema,
    groupBy: { type: 'array', items: { type: 'string' } },
    source: { type: 'object', required: ['kind'], properties: { kind: { type: 'string', enum: ['baseline', 'flows'] }, baseline: { type: 'string' } } },
    totals: {
      type: 'object',
      required: ['flows', 'allowedFlows', 'blockedFlows', 'alreadyRejectedFlows', 'edges', 'blockedEdges'],
      properties: { flows: { type: 'number' }, allowedFlows: { type: 'number' }, blockedFlows: { type: 'number' }, alreadyRejectedFlows: { type: 'number' }, edges: { type: 'integer' }, blockedEdges: { type: 'integer' } },
    },
    blocked: { type: 'array', items: blockedSchema },
    unusedRules: { type: 'array', items: { type: 'object', required: ['id', 'kind', 'from', 'to', 'protocol', 'ports'], properties: { id: { type: 'string' }, kind: { type: 'string', enum: ['rule', 'exception'] }, ...dependency } } },
    generatedAt: iso,
  },
} as const;

export const blastSchema = {
  type: 'object',
  required: ['baseline', 'workloads', 'totals', 'reduction', 'observedReduction', 'groups'],
  properties: {
    baseline: { type: 'string' },
    policy: { type: 'object', required: ['id', 'version'], properties: { id: { type: 'string' }, version: { type: 'integer' } } },
    workloads: { type: 'integer' },
    totals: { type: 'object', required: ['flat', 'observed', 'policy'], properties: { flat: { type: 'number' }, observed: { type: 'number' }, policy: { type: 'number' } } },
    reduction: { type: 'number', description: '1 − policy / flat' },
    observedReduction: { type: 'number', description: '1 − observed / flat' },
    groups: { type: 'array', items: { type: 'object', required: ['group', 'hosts', 'flat', 'observed', 'policy'], properties: { group: { type: 'string' }, hosts: { type: 'integer' }, flat: { type: 'number' }, observed: { type: 'number' }, policy: { type: 'number' } } } },
  },
} as const;

// ---- request parts ----

export const baselineParam = { type: 'string', minLength: 1, maxLength: 64, description: 'a baseline id (bl-…) or `latest` (default)' } as const;
export const selectorInput = { type: 'object', minProperties: 1, maxProperties: 16, additionalProperties: { type: 'string', maxLength: 253 } } as const;
export const portsInput = {
  type: 'array',
  maxItems: 1024,
  items: { anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'object', required: ['first', 'last'], additionalProperties: false, properties: { first: { type: 'integer', minimum: 0, maximum: 65535 }, last: { type: 'integer', minimum: 0, maximum: 65535 } } }] },
} as const;
export const protocolInput = { anyOf: [{ type: 'string', minLength: 1, maxLength: 16 }, { type: 'integer', minimum: 0, maximum: 255 }] } as const;
