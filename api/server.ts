// The API stage's entry: `createApi(config, deps)` builds the fastify server (errors, OpenAPI at
// /docs, health and metrics) and returns `{ app, start(), stop() }`. Routes are plugins, one file
// per area, each route's JSON schema being its validation, serializer and OpenAPI entry.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { installAuth, rateLimitKey, ROUTE_CLASS_LIMITS, type RouteClass } from './auth.js';
import { tokenRoutes } from './routes/tokens.js';
import { ResponseCache } from './cache.js';
import { reportRoutes } from './routes/reports.js';
import { webhookRoutes } from './routes/webhooks.js';
import { createNotifier, type Notifier } from '../analyzer/notify/index.js';
import type { Logger } from '../core/logger.js';
import { configSchema, isLoopback, type Config } from '../core/config.js';
import { FlowmapError } from '../core/errors.js';
import { registerErrorHandling } from './errors.js';
import { createMetrics, type ApiMetrics } from './metrics.js';
import { baselineSettingsFrom, type BaselineSettings } from '../analyzer/baseline/index.js';
import type { JobRunner } from '../analyzer/jobs/index.js';
import { baselineRoutes } from './routes/baselines.js';
import { policyRoutes } from './routes/policies.js';
import { intentRoutes } from './routes/intents.js';
import { flowRoutes } from './routes/flows.js';
import { findingRoutes } from './routes/findings.js';
import { exporterRoutes } from './routes/exporters.js';
import { flowlogRoutes } from './routes/flowlogs.js';
import { inventoryImportRoutes, inventoryRoutes } from './routes/inventory.js';
import { firehoseRoutes } from './routes/firehose.js';
import { createServicePorts, type ServicePorts } from '../collector/service-ports.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
import type { ExporterStatus, Store } from '../store/port.js';

const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export interface ApiConfig {
  host: string;
  port: number;
  /** Default on; off only for loopback (config.ts refuses anything else). */
  auth?: 'on' | 'off';
  /** Origins allowed cross-origin requests; empty or absent: CORS off. */
  cors?: string[];
  rateLimit?: Record<RouteClass, number>;
  /** Largest JSON body of a write route; heavy routes (imports) take 32 times this. */
  bodyLimitBytes?: number;
  /** Failed authentications per client address per minute before 429s (default 30). */
  authFailuresPerMinute?: number;
}

export interface ApiDeps {
  logger: Logger;
  version: string;
  mode: 'embedded' | 'service';
  /** Dependencies /readyz checks, e.g. the store and the job backend. */
  checks: ReadinessCheck[];
  metrics?: ApiMetrics;
  /** Serves the /api/v1 routes from this store; without it only health, metrics and docs. */
  store?: Store;
  /** Exporter counters of a collector in this process, fresher than the store's. */
  liveExporters?: () => ExporterStatus[];
  /** Orientation for uploaded cloud flow logs (the collector's service ports). */
  servicePorts?: ServicePorts;
  /** Amazon Data Firehose access key; without it POST /api/v1/firehose/aws-vpc answers 401 (off). */
  firehoseAccessKey?: string;
  /** AWS VPC custom format for lines without a header (Firehose deliveries, uploads). */
  awsFormat?: string;
  /** Largest flow-log upload, bytes (POST /api/v1/flowlogs/{format}). */
  uploadMaxBytes?: number;
  /** Resolver settings for /api/v1/inventory/resolve (the `inventory` config section). */
  inventory?: Config['inventory'];
  /** Job runner the baseline routes enqueue on (the API role enqueues; workers run). */
  jobs?: JobRunner;
  /** Baseline defaults (window, schedule, resolver); from the `baseline` and `inventory` config sections. */
  baseline?: BaselineSettings;
  /** Accepted as admin without being stored: the embedded server's own token for the local CLI. */
  localToken?: string;
  /** Publishes webhook test pings (default: one on `jobs`; workers deliver). */
  notifier?: Notifier;
}

export interface Api {
  readonly app: FastifyInstance;
  /** Listens; resolves with the bound address (port 0 picks a free one). */
  start(): Promise<{ host: string; port: number }>;
  stop(): Promise<void>;
}

export async function createApi(config: ApiConfig, deps: ApiDeps): Promise<Api> {
  // Typed as fastify's logger interface so the instance keeps fastify's default generics.
  const logger: FastifyBaseLogger = deps.logger.child({ component: 'api' });
  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    // Probes arrive every few seconds from load balancers and Prometheus; logging each buries the
    // requests people care about.
    logController: new LogController({ disableRequestLogging: (request) => PROBE_PATHS.has(request.url.split('?')[0] ?? '') }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  registerErrorHandling(app);
  const metrics = deps.metrics ?? createMetrics(deps.version);
  if (config.auth === 'off' && !isLoopback(config.host)) {
    throw new FlowmapError('FLOWMAP_CONFIG_INVALID', `api.auth may be off only when the API listens on loopback, not ${config.host}`);
  }
  const bodyLimit = config.bodyLimitBytes ?? ROUTE_CLASS_LIMITS.body.write;
  // Before swagger and rate-limit: its onRoute hook fills in what theirs read.
  const auth = installAuth(app, {
    enabled: config.auth !== 'off',
    ...(deps.store === undefined ? {} : { meta: deps.store.meta }),
    ...(deps.localToken === undefined ? {} : { localToken: deps.localToken }),
    rateLimits: config.rateLimit ?? ROUTE_CLASS_LIMITS.rate,
    bodyLimits: { read: ROUTE_CLASS_LIMITS.body.read, write: bodyLimit, heavy: bodyLimit * 32 },
    ...(config.authFailuresPerMinute === undefined ? {} : { failuresPerMinute: config.authFailuresPerMinute }),
  });
  await app.register(rateLimit, {
    global: false,
    keyGenerator: rateLimitKey,
    errorResponseBuilder: (_request, context) => new FlowmapError('FLOWMAP_RATE_LIMITED', `rate limit of ${context.max} requests a minute reached; retry in ${context.after}`, { status: 429, details: { max: context.max } }),
  });
  if (config.cors !== undefined && config.cors.length > 0) {
    const origins = config.cors;
    await app.register(cors, { origin: origins.includes('*') ? '*' : origins, methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'flowmap API',
        version: deps.version,
        description: 'Flow telemetry, application dependency maps and least-privilege policy recommendations.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API token, flowmap_…; roles viewer (read), analyst (baselines, policies, intents, findings), admin (tokens, inventory, uploads, webhooks)' } },
      },
      tags: [
        { name: 'health', description: 'liveness, readiness and metrics' },
        { name: 'tokens', description: 'API tokens and their roles' },
        { name: 'flows', description: 'bounded search of the stored flows' },
        { name: 'intents', description: 'documented dependencies' },
        { name: 'policies', description: 'recommendations, policies, rollout states, rules, exceptions, audit simulation, exports, blast radius' },
        { name: 'findings', description: 'undocumented dependencies, drift, unused and broad rules; acknowledge and resolve' },
        { name: 'reports', description: 'scheduled baseline reports: HTML, JSON, PDF' },
        { name: 'webhooks', description: 'signed webhook deliveries of new findings and reports' },
        { name: 'collector', description: 'exporters and what the collectors received from them' },
        { name: 'inventory', description: 'workloads, labels, address bindings over time, CIDR rules, imports and resolution' },
        { name: 'baselines', description: 'dependency baselines over a window: build, progress, graph downloads, host drill-down, drift' },
      ],
    },
    // OpenAPI 3.0 schema objects are a subset of JSON Schema: keywords our validation uses beyond
    // it are turned into words in the document (validation still applies them).
    transformObject: (document) => toOpenApi30('openapiObject' in document ? document.openapiObject : document.swaggerObject) as ReturnType<NonNullable<FastifyDynamicSwaggerOptions['transformObject']>>,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(healthRoutes({ checks: deps.checks, metrics, version: deps.version, mode: deps.mode }));
  if (deps.store !== undefined) {
    // Rendered graph downloads and recommendations, shared by the routes that serve them.
    const cache = new ResponseCache();
    await app.register(tokenRoutes(deps.store.meta, auth));
    await app.register(exporterRoutes(deps.store, deps.liveExporters));
    await app.register(flowlogRoutes(deps.store, { servicePorts: deps.servicePorts ?? createServicePorts(), awsFormat: deps.awsFormat, maxBytes: deps.uploadMaxBytes }));
    await app.register(inventoryRoutes(deps.store, deps.inventory ?? configSchema.parse({}).inventory));
    await app.register(inventoryImportRoutes(deps.store));
    if (deps.jobs !== undefined) {
      await app.register(baselineRoutes(deps.store, deps.jobs, deps.baseline ?? baselineSettingsFrom(configSchema.parse({})), cache));
      await app.register(reportRoutes(deps.store, deps.jobs));
      await app.register(webhookRoutes(deps.store, deps.notifier ?? createNotifier({ store: deps.store, jobs: deps.jobs, logger: deps.logger })));
    }
    const baseline = deps.baseline ?? baselineSettingsFrom(configSchema.parse({}));
    await app.register(policyRoutes(deps.store, baseline, cache));
    await app.register(intentRoutes(deps.store));
    await app.register(flowRoutes(deps.store, deps.inventory ?? configSchema.parse({}).inventory));
    await app.register(findingRoutes(deps.store, baseline));
    await app.register(firehoseRoutes(deps.store, { accessKey: deps.firehoseAccessKey, servicePorts: deps.servicePorts ?? createServicePorts(), awsFormat: deps.awsFormat }));
  }

  return {
    app,
    async start() {
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      const port = address !== null && typeof address === 'object' ? address.port : config.port;
      return { host: config.host, port };
    },
    async stop() {
      await app.close();
    },
  };
}

/** Rewrites JSON Schema keywords OpenAPI 3.0 lacks (propertyNames, const) into ones it has. */
function toOpenApi30(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toOpenApi30);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key === 'propertyNames') {
      const pattern = (value as { pattern?: unknown } | null)?.pattern;
      if (typeof pattern === 'string') out['x-property-names-pattern'] = pattern;
      continue;
    }
    if (key === 'const') {
      out.enum = [value];
      continue;
    }
    out[key] = toOpenApi30(value);
  }
  return out;
}
