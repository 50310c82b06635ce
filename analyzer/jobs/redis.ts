// The BullMQ runner's Redis connections: how each is configured for its role, and the listeners
// that keep a Redis outage from crashing the process (an EventEmitter 'error' with no listener
// throws). ioredis reconnects on its own; this module only makes sure the errors it reports in
// the meantime are logged at a bounded rate and the recovery is logged once.
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '../../core/config.js';
import type { Logger, RateLimitedLog } from '../../core/logger.js';

export { redactUrl };

/**
 * producer: enqueue, reads and schedules for API and worker. Fails fast while Redis is away
 *   (no offline queue) so an HTTP request answers 503 instead of hanging.
 * consumer: the worker and QueueEvents (BullMQ duplicates it for their blocking reads). BullMQ
 *   requires `maxRetriesPerRequest: null` there; commands wait for the reconnect.
 * probe: `ping()` only, so a health check never queues behind job traffic.
 */
export type RedisRole = 'producer' | 'consumer' | 'probe';

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: (times) => Math.min(times * 200, 2000) },
  consumer: { enableOfflineQueue: true, maxRetriesPerRequest: null, connectTimeout: 5000, retryStrategy: (times) => Math.min(times * 200, 2000) },
  // A short reconnect interval: readiness should turn green soon after Redis is back.
  probe: { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: (times) => Math.min(times * 100, 500) },
};

export function openRedis(url: string, role: RedisRole, prefix: string, log: Logger, errors: RateLimitedLog): Redis {
  const client = new Redis(url, { ...ROLE_OPTIONS[role], connectionName: `${prefix}:${role}` });
  const where = redactUrl(url);
  // Losing and regaining the connection is logged once each; the errors in between (one per
  // reconnect attempt) go through the rate limit.
  let down = false;
  const lost = (): void => {
    if (down) return;
    down = true;
    log.warn({ redis: where, role }, 'job backend connection lost');
  };
  client.on('error', (err: Error) => {
    lost();
    errors.warn(`redis:${role}`, { redis: where, role, err: err.message }, 'job backend connection error');
  });
  client.on('close', () => {
    // 'end' follows our own disconnect() at shutdown; that is not an outage.
    if (client.status !== 'end') lost();
  });
  client.on('ready', () => {
    if (down) log.info({ redis: where, role }, 'job backend connection restored');
    down = false;
  });
  return client;
}

/**
 * Resolves once `client` is ready, within `ms`. A client already known to be disconnected fails
 * at once: a health check should answer "not ready" quickly rather than wait out the reconnect.
 */
export function readyWithin(client: Redis, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'reconnecting' || client.status === 'close' || client.status === 'end') {
    return Promise.reject(new Error(`connection is ${client.status}`));
  }
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`connection not ready within ${ms} ms (${client.status})`));
    }, ms);
    client.once('ready', onReady);
  });
}
