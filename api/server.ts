// The API stage's entry: `createApi(config, deps)` builds the fastify server (errors, OpenAPI at
// /docs, health and metrics) and returns `{ app, start(), stop() }`. Routes are plugins, one file
// per area, each route's JSON schema being its validation, serializer and OpenAPI entry.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from '../core/logger.js';
import { configSchema, type Config } from '../core/config.js';
import { registerErrorHandling } from './errors.js';
import { createMetrics, type ApiMetrics } from './metrics.js';
import { baselineSettingsFrom, type BaselineSettings } from '../analyzer/baseline/index.js';
import type { JobRunner } from '../analyzer/jobs/index.js';
import { baselineRoutes } from './routes/baselines.js';
import { policyRoutes } from './routes/policies.js';
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

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'flowmap API',
        version: deps.version,
        description: 'Flow telemetry, application dependency maps and least-privilege policy recommendations.',
      },
      tags: [
        { name: 'health', description: 'liveness, readiness and metrics' },
        { name: 'collector', description: 'exporters and what the collectors received from them' },
        { name: 'inventory', description: 'workloads, labels, address bindings over time, CIDR rules, imports and resolution' },
        { name: 'baselines', description: 'dependency baselines over a window: build, progress, graph downloads, host drill-down, drift' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(healthRoutes({ checks: deps.checks, metrics, version: deps.version, mode: deps.mode }));
  if (deps.store !== undefined) {
    await app.register(exporterRoutes(deps.store, deps.liveExporters));
    await app.register(flowlogRoutes(deps.store, { servicePorts: deps.servicePorts ?? createServicePorts(), awsFormat: deps.awsFormat, maxBytes: deps.uploadMaxBytes }));
    await app.register(inventoryRoutes(deps.store, deps.inventory ?? configSchema.parse({}).inventory));
    await app.register(inventoryImportRoutes(deps.store));
    if (deps.jobs !== undefined) await app.register(baselineRoutes(deps.store, deps.jobs, deps.baseline ?? baselineSettingsFrom(configSchema.parse({}))));
    await app.register(policyRoutes(deps.store, deps.baseline ?? baselineSettingsFrom(configSchema.parse({}))));
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
