/** Pure helpers for wording shown to residents. No DOM, no clock: callers pass dates. */

import type { PostalAddress } from "./bindings/PostalAddress";
import type { ZoneView } from "./bindings/ZoneView";

const MS_PER_DAY = 24 * 60 * 60 * 1000;

const MONTHS = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];

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

/**
 * Days of cover left as the council counts them (including today), e.g. `PermitCard.days_left`:
 * "1 day left (today is the last day)", "32 days left". Zero or less says nothing useful, so
 * returns null.
 */
export function formatCoverLeft(daysLeft: number | bigint): string | null {
  const n = Number(daysLeft);
  if (!Number.isFinite(n) || n <= 0) return null;
  if (n === 1) return "Last day today";
  return `${n} days left`;
}

/** Amounts arrive as JSON numbers even where the generated types say `bigint`. */
export function toNumber(value: number | bigint | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return Number(value);
}

/** Integer pence as money: 4000 → "£40.00", 123456 → "£1,234.56". */
export function formatMoney(pence: number | bigint): string {
  const p = Number(pence);
  if (!Number.isInteger(p)) throw new RangeError(`not a whole number of pence: ${String(pence)}`);
  const sign = p < 0 ? "-" : "";
  const abs = Math.abs(p);
  const pounds = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const rest = (abs % 100).toString().padStart(2, "0");
  return `${sign}£${pounds}.${rest}`;
}

/** A price: "Free" for nothing, otherwise money. */
export function formatPrice(pence: number | bigint): string {
  return Number(pence) === 0 ? "Free" : formatMoney(pence);
}

/** "2027-03-04" (or an ISO timestamp's date part) → "4 March 2027". */
export function formatDate(isoDate: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(isoDate);
  if (!m) throw new RangeError(`not an ISO date: ${isoDate}`);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > 31) throw new RangeError(`not an ISO date: ${isoDate}`);
  return `${day} ${MONTHS[month - 1]} ${m[1]}`;
}

const MS_PER_HOUR = 60 * 60 * 1000;

/** The instant (ms) of 01:00 UTC on the last Sunday of `month` (0-based) in `year`. */
function lastSundayAtOneUtc(year: number, month: number): number {
  const lastDay = Date.UTC(year, month + 1, 0);
  return lastDay - new Date(lastDay).getUTCDay() * MS_PER_DAY + MS_PER_HOUR;
}

/**
 * UK local time's offset from UTC at instant `t` (ms): one hour from 01:00 UTC on the last
 * Sunday of March to 01:00 UTC on the last Sunday of October, otherwise none (the rule since
 * 1996, as the app's Rust core has it). Computed rather than asked of `Intl`, so it is the
 * same in every webview whether or not it carries time zone data (the `Intl` version fell back
 * to UTC without it). Tested against `Intl`. Not a start-up saving: the web process's CPU to
 * the first card was 295 ms with `Intl` and 310 ms without (16 starts each, 2026-11-27).
 */
export function ukOffsetMs(t: number): number {
  const year = new Date(t).getUTCFullYear();
  return t >= lastSundayAtOneUtc(year, 2) && t < lastSundayAtOneUtc(year, 9) ? MS_PER_HOUR : 0;
}

/** An instant as UK local time: "26 November 2026 at 14:05". */
export function formatDateTime(instant: string): string {
  const t = Date.parse(instant);
  if (Number.isNaN(t)) throw new RangeError(`not a timestamp: ${instant}`);
  const local = new Date(t + ukOffsetMs(t));
  const pad = (n: number) => n.toString().padStart(2, "0");
  return `${local.getUTCDate()} ${MONTHS[local.getUTCMonth()]} ${local.getUTCFullYear()} at ${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}`;
}

/** "12 Hazel Street, Leicester LE2 7JN"; a house name gets a comma: "Rose Cottage, Hazel Street, …". */
export function formatAddress(a: PostalAddress): string {
  const line1 = a.line1.trim();
  const street = a.street.trim();
  const first = /^\d+[A-Za-z]?$/.test(line1) ? `${line1} ${street}` : [line1, street].filter(Boolean).join(", ");
  const last = [a.town.trim(), a.postcode.trim()].filter(Boolean).join(" ");
  return [first, last].filter(Boolean).join(", ");
}

/** "Zone B (Hazel Street)". */
export function formatZone(z: ZoneView): string {
  return z.name && z.name !== z.code ? `Zone ${z.code} (${z.name})` : `Zone ${z.code}`;
}

/** "Pay £40.00" or "Get free permit". */
export function payButtonLabel(pence: number | bigint): string {
  return Number(pence) === 0 ? "Get free permit" : `Pay ${formatMoney(pence)}`;
}

export type DateParse = { ok: true; iso: string | null } | { ok: false; error: string };

/**
 * Day, month and year as typed into three boxes → "YYYY-MM-DD". All empty is `iso: null`
 * (the date is optional); `today` (ISO) rules out dates in the future.
 */
export function parseDateParts(day: string, month: string, year: string, today: string, what = "Date of birth"): DateParse {
  const [d, m, y] = [day.trim(), month.trim(), year.trim()];
  if (!d && !m && !y) return { ok: true, iso: null };
  if (!d || !m || !y) return { ok: false, error: `${what} must include a day, month and year, for example 14 3 1958.` };
  if (!/^\d{1,2}$/.test(d) || !/^\d{1,2}$/.test(m) || !/^\d{4}$/.test(y)) {
    return { ok: false, error: `${what} must be a real date in numbers, for example 14 3 1958.` };
  }
  const [dn, mn, yn] = [Number(d), Number(m), Number(y)];
  const probe = new Date(Date.UTC(yn, mn - 1, dn));
  if (mn < 1 || mn > 12 || probe.getUTCMonth() !== mn - 1 || probe.getUTCDate() !== dn || yn < 1900) {
    return { ok: false, error: `${what} must be a real date, for example 14 3 1958.` };
  }
  const iso = `${y}-${String(mn).padStart(2, "0")}-${String(dn).padStart(2, "0")}`;
  if (iso > today) return { ok: false, error: `${what} must be in the past.` };
  return { ok: true, iso };
}

/** An ISO date moved by whole days: addDays("2026-12-15", 1) → "2026-12-16". */
export function addDays(isoDate: string, days: number): string {
  const t = Date.parse(`${isoDate.slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(t)) throw new RangeError(`not an ISO date: ${isoDate}`);
  return new Date(t + days * MS_PER_DAY).toISOString().slice(0, 10);
}
