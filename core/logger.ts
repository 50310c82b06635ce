// Logging: one pino logger per process, children per component (`logger.child({ component })`).
// JSON lines on stdout by default; FLOWMAP_LOG_LEVEL / `log.level` choose the level.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: string;
  /** Extra fields on every line, e.g. the role in service mode. */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions, destination?: NodeJS.WritableStream): Logger {
  const logger = pino(
    { level: options.level, base: { ...(options.base ?? {}) }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
  return logger;
}

/** A logger that drops everything; for tests and library use without output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Bounded-rate logging for bad input: at most `perInterval` lines per key per interval, then one
 * summary line with how many were suppressed. A flood of malformed datagrams must not flood logs.
 */
export class RateLimitedLog {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();
  /** Lines logged across all keys in the current interval: many distinct keys must not flood either. */
  private global = { start: 0, count: 0, suppressed: 0 };

  constructor(
    private readonly logger: Logger,
    private readonly perInterval = 10,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
    private readonly globalPerInterval = 200,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string, now = Date.now()): void {
    if (now - this.global.start >= this.intervalMs) {
      if (this.global.suppressed > 0) this.logger.warn({ suppressed: this.global.suppressed }, 'suppressed warnings over the global log budget');
      this.global = { start: now, count: 0, suppressed: 0 };
    }
    if (this.global.count >= this.globalPerInterval) {
      this.global.suppressed += 1;
      return;
    }
    let window = this.windows.get(key);
    if (window === undefined || now - window.start >= this.intervalMs) {
      if (window !== undefined && window.suppressed > 0) {
        this.logger.warn({ key, suppressed: window.suppressed }, 'suppressed repeated warnings');
      }
      if (window === undefined && this.windows.size >= this.maxKeys) this.windows.clear();
      window = { start: now, count: 0, suppressed: 0 };
      this.windows.set(key, window);
    }
    if (window.count < this.perInterval) {
      window.count += 1;
      this.global.count += 1;
      this.logger.warn({ key, ...fields }, message);
    } else {
      window.suppressed += 1;
    }
  }
}
