// The error catalogue. Every error flowmap throws on purpose carries a stable code (FLOWMAP_…),
// the offending value and what would have been allowed, so that a user (or a script reading
// `--json` output) knows what to change. Codes are part of the contract: never renumber or reuse.

export const ErrorCodes = {
  FLOWMAP_CONFIG_INVALID: 'configuration value is invalid',
  FLOWMAP_CONFIG_FILE: 'configuration file cannot be read or parsed',
  FLOWMAP_BAD_ADDRESS: 'not an IPv4 or IPv6 address',
  FLOWMAP_BAD_CIDR: 'not a CIDR prefix',
  FLOWMAP_BAD_LITERAL: 'value cannot be written as a SQL literal of that type',
  FLOWMAP_BAD_TIME: 'not a valid time',
  FLOWMAP_MIGRATION_CHANGED: 'an applied migration file was changed',
  FLOWMAP_MIGRATION_MISSING: 'an applied migration file is missing',
  FLOWMAP_MIGRATION_FAILED: 'a migration failed to apply',
  FLOWMAP_MIGRATION_NAME: 'a migration file name is not NNNN_name.sql',
  FLOWMAP_MIGRATION_PENDING: 'the store has migrations not applied yet',
  FLOWMAP_STORE_UNAVAILABLE: 'the store cannot be reached',
  FLOWMAP_STORE_LOCKED: 'the embedded database is in use by another process',
  FLOWMAP_STORE_VERSION: 'the store server version is not supported',
  FLOWMAP_BATCH_INVALID: 'a flow batch is malformed',
  FLOWMAP_JOB_UNKNOWN: 'no handler is registered for that job name',
  FLOWMAP_JOB_BACKEND: 'the job backend cannot be reached',
  FLOWMAP_BAD_CRON: 'not a valid cron expression',
  FLOWMAP_NOT_FOUND: 'the requested object does not exist',
  FLOWMAP_BAD_REQUEST: 'the request is invalid',
  FLOWMAP_COLLECTOR_START: 'the collector cannot start (a UDP port cannot be bound, decoder threads failed)',
  FLOWMAP_CONFLICT: 'the object is not in a state that allows this (a baseline still running)',
  FLOWMAP_BASELINE_FAILED: 'a baseline build failed',
  FLOWMAP_UNAVAILABLE: 'a program this feature needs is not installed or cannot start (headless Chromium for PDF reports)',
  FLOWMAP_UNAUTHORIZED: 'the request carries no valid API token',
  FLOWMAP_FORBIDDEN: "the API token's role does not allow this",
  FLOWMAP_RATE_LIMITED: 'too many requests; wait and retry',
  FLOWMAP_PAYLOAD_TOO_LARGE: 'the request body is larger than this route takes',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class FlowmapError extends Error {
  readonly code: ErrorCode;
  /** HTTP status the API answers with when this error reaches a client. */
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { status?: number; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlowmapError';
    this.code = code;
    this.status = options.status ?? 500;
    this.details = options.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isFlowmapError(err: unknown, code?: ErrorCode): err is FlowmapError {
  return err instanceof FlowmapError && (code === undefined || err.code === code);
}

/** A short, printable description of any thrown value, for logs and CLI output. */
export function describeError(err: unknown): string {
  if (err instanceof FlowmapError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
