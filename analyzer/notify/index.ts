// Entry module of notifications (issue 10): new findings and completed reports delivered as
// signed JSON webhooks (signature.ts documents the scheme for receivers) and as syslog — RFC 5424
// or CEF, over UDP or TCP — with retries through the job runner. Webhook subscriptions and
// delivery records live in the metadata store. Other stages import from here only.
export {
  checkNotifierOptions,
  checkSyslogTarget,
  NOTIFY_DEFAULTS,
  parseSyslogTarget,
  type NotifierOptions,
  type ResolvedSyslogTarget,
  type SyslogTarget,
} from './config.js';
export { ATTEMPT_LOG_LENGTH, deliveryId, WEBHOOK_DELIVERIES, type DeliveryAttempt, type DeliveryRecord, type DeliveryStatus } from './deliveries.js';
export {
  EVENT_TYPES,
  eventBody,
  EventSchema,
  findingEvents,
  MAX_EVENT_BYTES,
  parseEvent,
  reportEvent,
  webhookTestEvent,
  type EventTimeOptions,
  type EventType,
  type FlowmapEvent,
  type ReportSummary,
} from './events.js';
export {
  createNotifier,
  SYSLOG_JOB,
  WEBHOOK_JOB,
  type Notifier,
  type NotifierDeps,
  type PublishResult,
  type SyslogJobResult,
  type WebhookJobResult,
} from './notifier.js';
export { DEFAULT_TOLERANCE_SECONDS, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signPayload, verifySignature, type VerifyOptions } from './signature.js';
export { CEF_SEVERITY, formatCef, formatRfc5424, SD_ID, SYSLOG_SEVERITY, syslogMessage, type Rfc5424Options } from './syslog-format.js';
export { octetCounted } from './syslog-transport.js';
export {
  checkWebhookId,
  checkWebhookUrl,
  createWebhook,
  DEFAULT_PAGE_SIZE,
  DEFAULT_WEBHOOK_EVENTS,
  deleteWebhook,
  getWebhook,
  listWebhooks,
  MAX_PAGE_SIZE,
  MAX_URL_LENGTH,
  MAX_WEBHOOKS,
  requireWebhook,
  rotateWebhookSecret,
  updateWebhook,
  WEBHOOKS,
  type Webhook,
  type WebhookInput,
  type WebhookPage,
  type WebhookPatch,
  type WebhookWithSecret,
} from './webhooks.js';
export { announceFindings, FINDINGS_JOB, registerFindingEvents } from './findings-job.js';
