// The notifier: publishing an event queues one job per subscribed webhook (`notify.webhook`) and
// per syslog target (`notify.syslog`) on the job runner, whose attempts and exponential backoff are
// the retries; the handlers registered here do one attempt each. In service mode the API or the
// worker that finished a baseline publishes and any worker delivers; both read webhooks from the
// store, and a syslog job carries its target, so they need not share configuration.
//
// Once per event and webhook: the job id is derived from the delivery id, so a second publish
// while the runner remembers the job adds nothing, and a delivery whose record says it is finished
// is not queued again. A receiver still dedupes on X-Flowmap-Delivery, for what no sender can
// rule out (a worker dying after the receiver answered and before the record was written).
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { FlowmapError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { flowmapVersion } from '../../core/version.js';
import type { Store } from '../../store/index.js';
import type { JobContext, JobRunner, RetryOptions } from '../jobs/index.js';
import { checkNotifierOptions, checkSyslogTarget, type NotifierOptions, type ResolvedNotifierOptions, type ResolvedSyslogTarget } from './config.js';
import { deliveryId, deliveryKey, FINISHED, listDeliveries, pendingRecord, readDelivery, withAttempt, writeDelivery, type DeliveryRecord } from './deliveries.js';
import { eventBody, EventSchema, parseEvent, type FlowmapEvent } from './events.js';
import { DELIVERY_HEADER, EVENT_HEADER, signPayload, SIGNATURE_HEADER } from './signature.js';
import { syslogMessage } from './syslog-format.js';
import { SyslogSenders } from './syslog-transport.js';
import { postWebhook } from './webhook-post.js';
import { checkWebhookId, subscribers, webhookForDelivery, type StoredWebhook } from './webhooks.js';

export const WEBHOOK_JOB = 'notify.webhook';
export const SYSLOG_JOB = 'notify.syslog';

export interface NotifierDeps {
  store: Store;
  jobs: JobRunner;
  logger: Logger;
}

export interface PublishResult {
  /** Webhook deliveries queued (a delivery already finished is not counted, nor queued). */
  webhooks: number;
  /** Syslog messages queued. */
  syslog: number;
  /** The job ids, webhooks first. */
  jobs: string[];
}

export interface Notifier {
  /** Registers the `notify.webhook` and `notify.syslog` handlers on the job runner (worker roles, and embedded mode before publishing). */
  register(): void;
  /**
   * Queues the event's deliveries: to every enabled webhook subscribed to its type and every
   * syslog target taking it — or, with `target`, to that one webhook only (a test ping), whether
   * or not it is enabled or subscribed, and to no syslog target. Refuses a malformed event
   * (FLOWMAP_BAD_REQUEST) and an unknown target webhook (FLOWMAP_NOT_FOUND).
   */
  publish(event: FlowmapEvent, target?: { webhook: string }): Promise<PublishResult>;
  /** A webhook's delivery records, newest first; at most `limit` (default 50, capped at 200). */
  deliveries(webhookId: string, limit?: number): Promise<DeliveryRecord[]>;
  /** Closes syslog connections. Jobs still queued stay with the runner. */
  close(): void;
}

const WebhookJobSchema = z.object({
  delivery: z.string().regex(/^dlv_[0-9a-f]{32}$/),
  key: z.string().min(1).max(500),
  webhook: z.string(),
  event: EventSchema,
  attempts: z.number().int().min(1),
  /** Sent to this webhook by name (a test ping): delivered even when disabled or not subscribed. */
  direct: z.boolean().optional(),
});
type WebhookJob = z.infer<typeof WebhookJobSchema>;

const SyslogJobSchema = z.object({
  event: EventSchema,
  target: z.object({
    host: z.string(),
    port: z.number(),
    transport: z.enum(['udp', 'tcp']),
    format: z.enum(['rfc5424', 'cef']),
    facility: z.number().optional(),
    appName: z.string().optional(),
    maxMessageBytes: z.number().optional(),
  }),
});

export type WebhookJobResult =
  | { outcome: 'delivered'; status?: number; duplicate?: true }
  | { outcome: 'rejected'; status: number; reason: string }
  | { outcome: 'skipped' | 'invalid'; reason: string };

export type SyslogJobResult = { outcome: 'sent'; bytes: number } | { outcome: 'invalid'; reason: string };

export function createNotifier(deps: NotifierDeps, options: NotifierOptions = {}): Notifier {
  return new WebhookAndSyslogNotifier(deps, checkNotifierOptions(options, `flowmap-webhooks/${flowmapVersion()}`));
}

class WebhookAndSyslogNotifier implements Notifier {
  private readonly senders = new SyslogSenders();
  private readonly log: Logger;
  private readonly retry: RetryOptions;
  private readonly hostname = hostname();

  constructor(private readonly deps: NotifierDeps, private readonly options: ResolvedNotifierOptions) {
    this.log = deps.logger.child({ component: 'notify' });
    this.retry = { attempts: options.attempts, backoff: { type: 'exponential', delayMs: options.backoffMs } };
  }

  register(): void {
    this.deps.jobs.register<unknown, WebhookJobResult>(WEBHOOK_JOB, (job) => this.deliver(job), { concurrency: this.options.concurrency });
    // One at a time: messages to a syslog target go out in the order they were published.
    this.deps.jobs.register<unknown, SyslogJobResult>(SYSLOG_JOB, (job) => this.sendSyslog(job), { concurrency: 1 });
  }

  async publish(input: FlowmapEvent, target?: { webhook: string }): Promise<PublishResult> {
    const event = parseEvent(input);
    const meta = this.deps.store.meta;
    const hooks = target === undefined ? await subscribers(meta, event.type) : [await this.requireWebhook(target.webhook)];
    const jobs: string[] = [];
    let webhooks = 0;
    for (const hook of hooks) {
      const delivery = deliveryId(event.id, hook.id);
      const key = deliveryKey(hook.id, event, delivery);
      const existing = await readDelivery(meta, key);
      if (existing !== undefined && FINISHED.has(existing.status)) continue;
      // Written before the job exists, so a publish that fails at enqueue leaves a pending record
      // that the next publish of the event picks up.
      if (existing === undefined) await writeDelivery(meta, key, pendingRecord(delivery, hook.id, event, this.options.attempts, new Date()));
      const data: WebhookJob = { delivery, key, webhook: hook.id, event, attempts: this.options.attempts, ...(target === undefined ? {} : { direct: true }) };
      jobs.push(await this.deps.jobs.enqueue(WEBHOOK_JOB, data, { ...this.retry, jobId: `webhook-${delivery}` }));
      webhooks += 1;
    }
    let syslog = 0;
    if (target === undefined) {
      for (const syslogTarget of this.options.syslog) {
        if (!syslogTarget.events.includes(event.type)) continue;
        jobs.push(await this.deps.jobs.enqueue(SYSLOG_JOB, { event, target: syslogTarget }, { ...this.retry, jobId: syslogJobId(event, syslogTarget) }));
        syslog += 1;
      }
    }
    return { webhooks, syslog, jobs };
  }

  deliveries(webhookId: string, limit?: number): Promise<DeliveryRecord[]> {
    return listDeliveries(this.deps.store.meta, webhookId, limit);
  }

  close(): void {
    this.senders.close();
  }

  private async requireWebhook(id: string): Promise<StoredWebhook> {
    checkWebhookId(id);
    const hook = await webhookForDelivery(this.deps.store.meta, id);
    if (hook === undefined) throw new FlowmapError('FLOWMAP_NOT_FOUND', `no webhook "${id}"`, { status: 404, details: { id } });
    return hook;
  }

  /** One attempt. Returns for what ends the job (delivered, refused, skipped); throws for what the runner should retry. */
  private async deliver(job: JobContext<unknown>): Promise<WebhookJobResult> {
    const parsed = WebhookJobSchema.safeParse(job.data);
    if (!parsed.success) {
      // Retrying cannot repair the data; the job ends here.
      const reason = `not a webhook delivery job: ${parsed.error.issues[0]?.message ?? 'invalid'}`;
      job.log.warn({ reason }, 'webhook job dropped');
      return { outcome: 'invalid', reason };
    }
    const { delivery, key, event, attempts, direct } = parsed.data;
    const meta = this.deps.store.meta;
    const record = (await readDelivery(meta, key)) ?? pendingRecord(delivery, parsed.data.webhook, event, attempts, new Date());
    if (record.status === 'delivered') return { outcome: 'delivered', duplicate: true };

    // Read now, not at publish: a webhook deleted, disabled or re-pointed since is honoured.
    const hook = await webhookForDelivery(meta, parsed.data.webhook);
    const skip = hook === undefined ? 'the webhook was deleted'
      : direct !== true && !hook.enabled ? 'the webhook is disabled'
      : direct !== true && !hook.events.includes(event.type) ? `the webhook no longer subscribes to ${event.type}`
      : undefined;
    if (hook === undefined || skip !== undefined) {
      const reason = skip ?? 'the webhook was deleted';
      await writeDelivery(meta, key, { ...record, status: 'skipped', lastError: reason, updatedAt: new Date().toISOString() });
      job.log.info({ webhook: parsed.data.webhook, delivery, reason }, 'webhook delivery skipped');
      return { outcome: 'skipped', reason };
    }

    const body = eventBody(event);
    const headers = {
      'content-type': 'application/json',
      'user-agent': this.options.userAgent,
      [EVENT_HEADER]: event.type,
      [DELIVERY_HEADER]: delivery,
      // Signed at each attempt, so that a retry much later is still within the receiver's tolerance.
      [SIGNATURE_HEADER]: signPayload(hook.secret, body, Math.floor(Date.now() / 1000)),
    };
    const startedAt = Date.now();
    const outcome = await postWebhook(hook.url, body, headers, { timeoutMs: this.options.timeoutMs, signal: job.signal });
    const attempt = {
      attempt: job.attempt,
      at: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
      ...(outcome.status === undefined ? {} : { status: outcome.status }),
      ...(outcome.kind === 'delivered' ? {} : { error: outcome.error }),
    };
    // Never the URL in logs: it may carry a token. The host says enough.
    const fields = { webhook: hook.id, host: hostOf(hook.url), delivery, attempt: job.attempt, status: outcome.status };

    if (outcome.kind === 'delivered') {
      try {
        await writeDelivery(meta, key, withAttempt(record, attempt, 'delivered'));
      } catch (err) {
        // Delivered is delivered: throwing here would send it again.
        job.log.error({ ...fields, err: err instanceof Error ? err.message : String(err) }, 'webhook delivered, but its delivery record could not be written');
      }
      job.log.info(fields, 'webhook delivered');
      return { outcome: 'delivered', status: outcome.status };
    }
    if (outcome.kind === 'rejected') {
      await writeDelivery(meta, key, withAttempt(record, attempt, 'failed'));
      job.log.warn({ ...fields, reason: outcome.error }, 'webhook delivery refused by the receiver; not retried');
      return { outcome: 'rejected', status: outcome.status, reason: outcome.error };
    }
    const last = job.attempt >= attempts;
    try {
      await writeDelivery(meta, key, withAttempt(record, attempt, last ? 'failed' : 'retrying'));
    } catch (err) {
      job.log.warn({ ...fields, err: err instanceof Error ? err.message : String(err) }, 'webhook delivery record could not be written');
    }
    throw new Error(`webhook ${hook.id} delivery ${delivery} attempt ${job.attempt} of ${attempts} failed: ${outcome.error}`);
  }

  private async sendSyslog(job: JobContext<unknown>): Promise<SyslogJobResult> {
    const parsed = SyslogJobSchema.safeParse(job.data);
    const dropped = (problem: string): SyslogJobResult => {
      // Retrying cannot repair the data; the job ends here.
      const reason = `not a syslog job: ${problem}`;
      job.log.warn({ reason }, 'syslog job dropped');
      return { outcome: 'invalid', reason };
    };
    if (!parsed.success) return dropped(parsed.error.issues[0]?.message ?? 'invalid');
    let target: ResolvedSyslogTarget;
    try {
      target = checkSyslogTarget(parsed.data.target);
    } catch (err) {
      return dropped(err instanceof Error ? err.message : String(err));
    }
    const message = syslogMessage(parsed.data.event, target, { hostname: this.hostname });
    await this.senders.get(target.transport, target.host, target.port).send(message, { timeoutMs: this.options.timeoutMs, signal: job.signal });
    return { outcome: 'sent', bytes: message.length };
  }
}

function syslogJobId(event: FlowmapEvent, target: ResolvedSyslogTarget): string {
  const hash = createHash('sha256').update([event.id, target.transport, target.host, String(target.port), target.format].join('\0')).digest('hex');
  return `syslog-${hash.slice(0, 32)}`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}
