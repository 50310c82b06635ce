// Cron expressions for job schedules: one validation both runners apply before accepting a
// schedule (so a typo fails at `schedule()` with FLOWMAP_BAD_CRON, not later in a worker), and the
// next-run computation the in-process runner arms its timers with. BullMQ parses patterns with the
// same library (cron-parser), so what passes here means the same thing there.
import { CronExpressionParser } from 'cron-parser';
import { FlowmapError } from '../../core/errors.js';

const ALIASES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly', '@minutely', '@secondly', '@weekdays', '@weekends'];
const ALLOWED = `5 fields "minute hour day-of-month month day-of-week", 6 with seconds first, or one of ${ALIASES.join(' ')}`;

/**
 * Throws FLOWMAP_BAD_CRON unless `cron` is a 5- or 6-field expression (or an alias) that has a
 * next run, and `tz` (when given) is a time zone the runtime knows. cron-parser alone fills in
 * missing fields (it accepts "" and "* * *"), which would hide a truncated expression.
 */
export function checkCron(cron: string, tz?: string): void {
  const trimmed = cron.trim();
  const fields = trimmed.split(/\s+/).length;
  const isAlias = ALIASES.includes(trimmed.toLowerCase());
  if (!isAlias && (trimmed === '' || fields < 5 || fields > 6)) {
    throw badCron(cron, tz, `it has ${trimmed === '' ? 0 : fields} fields`);
  }
  if (tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
    } catch {
      throw badCron(cron, tz, `time zone "${tz}" is unknown (use an IANA name such as "UTC" or "Europe/Paris")`);
    }
  }
  try {
    nextRun(cron, tz, Date.now());
  } catch (err) {
    throw badCron(cron, tz, err instanceof Error ? err.message : String(err));
  }
}

/** Epoch milliseconds of the first run strictly after `after`. Cost: one parse of the expression. */
export function nextRun(cron: string, tz: string | undefined, after: number): number {
  const expression = CronExpressionParser.parse(cron.trim(), { currentDate: new Date(after), ...(tz === undefined ? {} : { tz }) });
  return expression.next().getTime();
}

function badCron(cron: string, tz: string | undefined, problem: string): FlowmapError {
  return new FlowmapError('FLOWMAP_BAD_CRON', `cron expression "${cron}" is not valid: ${problem}; allowed: ${ALLOWED}`, {
    status: 400,
    details: { cron, ...(tz === undefined ? {} : { tz }), allowed: ALLOWED },
  });
}
