// When traffic happens: the time patterns of the truth (simulator/types.ts TruthEdge.pattern) as a
// rate factor per hour. Local time is UTC, so a simulated estate looks the same wherever it runs.
//
//   business-hours  Mon–Fri 08:00–18:00 full rate, 07:00 and 18:00–20:00 a quarter, else nothing
//   continuous      every hour; 1.5× in business hours (people add to the machines' load)
//   nightly         01:00–03:00 every day
//   weekly          Sunday 03:00–05:00
//   once            scheduled explicitly (one-off sessions), never by the factor
import type { TruthEdge } from './types.js';

export type Pattern = TruthEdge['pattern'];

export const HOUR = 3600;
export const DAY = 86400;

/** 0 = Sunday … 6 = Saturday; 1970-01-01 was a Thursday. */
export function weekday(time: number): number {
  return (Math.floor(time / DAY) + 4) % 7;
}

export function hourOfDay(time: number): number {
  return Math.floor((time % DAY) / HOUR);
}

export function isBusinessHour(time: number): boolean {
  const d = weekday(time);
  const h = hourOfDay(time);
  return d >= 1 && d <= 5 && h >= 8 && h < 18;
}

/** The nightly and weekly patterns' active hours: a block of consecutive hours. */
export const BLOCKS = { nightly: { firstHour: 1, hours: 2 }, weekly: { firstHour: 3, hours: 2 } } as const;

/** The rate factor of `pattern` in the hour starting at `hourStart` (Unix seconds). */
export function patternFactor(pattern: Pattern, hourStart: number): number {
  const d = weekday(hourStart);
  const h = hourOfDay(hourStart);
  const workday = d >= 1 && d <= 5;
  switch (pattern) {
    case 'business-hours':
      if (!workday) return 0;
      if (h >= 8 && h < 18) return 1;
      return h === 7 || (h >= 18 && h < 20) ? 0.25 : 0;
    case 'continuous':
      return workday && h >= 8 && h < 18 ? 1.5 : 1;
    case 'nightly':
      return h >= BLOCKS.nightly.firstHour && h < BLOCKS.nightly.firstHour + BLOCKS.nightly.hours ? 1 : 0;
    case 'weekly':
      return d === 0 && h >= BLOCKS.weekly.firstHour && h < BLOCKS.weekly.firstHour + BLOCKS.weekly.hours ? 1 : 0;
    case 'once':
      return 0;
  }
}
