/** Pure helpers for wording shown to residents. No DOM, no clock: callers pass dates. */

const MS_PER_DAY = 24 * 60 * 60 * 1000;

/** Whole calendar days from `today` to `lastDay` (both ISO dates, YYYY-MM-DD). */
export function daysBetween(today: string, lastDay: string): number {
  return Math.round((Date.parse(`${lastDay}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / MS_PER_DAY);
}

/** "Ends today", "1 day left", "12 days left", or "Ended 3 days ago". */
export function formatDaysLeft(today: string, lastDay: string): string {
  const days = daysBetween(today, lastDay);
  if (Number.isNaN(days)) throw new RangeError(`not an ISO date: ${today} / ${lastDay}`);
  if (days === 0) return "Ends today";
  if (days > 0) return days === 1 ? "1 day left" : `${days} days left`;
  const ago = -days;
  return ago === 1 ? "Ended yesterday" : `Ended ${ago} days ago`;
}
