// Prometheus metrics of the API process: prom-client's default process metrics plus flowmap's
// own. The registry is created per server and handed to stages that add metrics, never global.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface ApiMetrics {
  registry: Registry;
  ready: Gauge<'component'>;
}

export function createMetrics(version: string, registry = new Registry()): ApiMetrics {
  collectDefaultMetrics({ register: registry });
  const build = new Gauge({ name: 'flowmap_build_info', help: 'flowmap version running in this process', labelNames: ['version'], registers: [registry] });
  build.set({ version }, 1);
  const ready = new Gauge({
    name: 'flowmap_component_ready',
    help: 'whether a dependency answered the last readiness check (1) or not (0)',
    labelNames: ['component'],
    registers: [registry],
  });
  return { registry, ready };
}
