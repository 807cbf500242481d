import { describe, expect, it } from "vitest";
import {
  addDays,
  daysBetween,
  formatAddress,
  formatCoverLeft,
  formatDate,
  formatDateTime,
  formatDaysLeft,
  formatMoney,
  formatPrice,
  formatZone,
  parseDateParts,
  ukOffsetMs,
  payButtonLabel,
} from "./format";

describe("formatDaysLeft", () => {
  it("counts whole days to the last day", () => {
    expect(formatDaysLeft("2027-02-01", "2027-02-13")).toBe("12 days left");
    expect(formatDaysLeft("2027-02-27", "2027-02-28")).toBe("1 day left");
  });

  it("says when the permit ends today or has ended", () => {
    expect(formatDaysLeft("2027-02-28", "2027-02-28")).toBe("Ends today");
    expect(formatDaysLeft("2027-03-01", "2027-02-28")).toBe("Ended yesterday");
    expect(formatDaysLeft("2027-03-03", "2027-02-28")).toBe("Ended 3 days ago");
  });

  it("is not thrown off by leap days or the clocks changing", () => {
    expect(daysBetween("2028-02-28", "2028-03-01")).toBe(2);
    expect(daysBetween("2027-03-27", "2027-03-29")).toBe(2); // BST starts 28 March 2027
  });

  it("rejects dates it cannot read", () => {
    expect(() => formatDaysLeft("tomorrow", "2027-02-28")).toThrow(RangeError);
  });
});

describe("money", () => {
  it("shows integer pence as pounds and pence", () => {
    expect(formatMoney(4000)).toBe("£40.00");
    expect(formatMoney(5)).toBe("£0.05");
    expect(formatMoney(123456)).toBe("£1,234.56");
    expect(formatMoney(BigInt(2750))).toBe("£27.50");
  });

  it("says Free for a zero price and refuses fractions of a penny", () => {
    expect(formatPrice(0)).toBe("Free");
    expect(formatPrice(4000)).toBe("£40.00");
    expect(() => formatMoney(1.5)).toThrow(RangeError);
  });

  it("labels the pay button by price", () => {
    expect(payButtonLabel(4000)).toBe("Pay £40.00");
    expect(payButtonLabel(0)).toBe("Get free permit");
  });
});

describe("dates", () => {
  it("writes UK dates without a leading zero", () => {
    expect(formatDate("2027-03-04")).toBe("4 March 2027");
    expect(formatDate("2026-12-25")).toBe("25 December 2026");
    expect(() => formatDate("04/03/2027")).toThrow(RangeError);
  });

  it("writes times in UK local time, in summer and winter", () => {
    expect(formatDateTime("2026-11-26T14:05:00Z")).toBe("26 November 2026 at 14:05");
    expect(formatDateTime("2026-07-01T08:30:00Z")).toBe("1 July 2026 at 09:30"); // BST
    expect(formatDateTime("2026-12-31T23:59:59.999Z")).toBe("31 December 2026 at 23:59");
    expect(formatDateTime("2026-06-30T23:30:00Z")).toBe("1 July 2026 at 00:30");
  });

  it("counts the cover left including today", () => {
    expect(formatCoverLeft(32)).toBe("32 days left");
    expect(formatCoverLeft(1)).toBe("Last day today");
    expect(formatCoverLeft(0)).toBeNull();
  });
});

describe("addresses and zones", () => {
  it("joins a house number to the street and a house name with a comma", () => {
    expect(formatAddress({ line1: "12", street: "Hazel Street", town: "Leicester", postcode: "LE2 7JN" })).toBe(
      "12 Hazel Street, Leicester LE2 7JN",
    );
    expect(formatAddress({ line1: "Flat 3, Rose Court", street: "Hazel Street", town: "Leicester", postcode: "LE2 7JN" })).toBe(
      "Flat 3, Rose Court, Hazel Street, Leicester LE2 7JN",
    );
  });

  it("names the zone by code and name", () => {
    expect(formatZone({ code: "B", name: "Hazel Street" })).toBe("Zone B (Hazel Street)");
    expect(formatZone({ code: "C", name: "" })).toBe("Zone C");
  });
});

describe("parseDateParts", () => {
  const today = "2026-11-26";
  it("reads a real date and treats all-empty as not given", () => {
    expect(parseDateParts("14", "3", "1958", today)).toEqual({ ok: true, iso: "1958-03-14" });
    expect(parseDateParts(" ", "", "", today)).toEqual({ ok: true, iso: null });
  });

  it("explains what is wrong", () => {
    const part = parseDateParts("14", "", "1958", today);
    expect(part.ok).toBe(false);
    if (!part.ok) expect(part.error).toMatch(/day, month and year/);
    const feb30 = parseDateParts("30", "2", "1960", today);
    expect(feb30.ok).toBe(false);
    if (!feb30.ok) expect(feb30.error).toMatch(/real date/);
    expect(parseDateParts("1", "1", "58", today).ok).toBe(false);
    const future = parseDateParts("1", "1", "2030", today);
    expect(future.ok).toBe(false);
    if (!future.ok) expect(future.error).toBe("Date of birth must be in the past.");
  });

  it("accepts 29 February only in a leap year", () => {
    expect(parseDateParts("29", "2", "1960", today)).toEqual({ ok: true, iso: "1960-02-29" });
    expect(parseDateParts("29", "2", "1959", today).ok).toBe(false);
  });
});

describe("addDays", () => {
  it("crosses month, year and leap-day boundaries", () => {
    expect(addDays("2026-12-15", 1)).toBe("2026-12-16");
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(addDays("2028-02-28", 1)).toBe("2028-02-29");
    expect(addDays("2027-03-28", -1)).toBe("2027-03-27");
  });
});

describe("UK local time without Intl's time zone tables", () => {
  const london = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/London",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  const viaIntl = (t: number) => {
    const parts: Record<string, string> = {};
    for (const p of london.formatToParts(new Date(t))) parts[p.type] = p.value;
    const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    return `${Number(parts.day)} ${months[Number(parts.month) - 1]} ${parts.year} at ${parts.hour}:${parts.minute}`;
  };

  it("agrees with Intl a minute either side of every change of the clocks, 1996 to 2099", () => {
    for (let year = 1996; year <= 2099; year++) {
      for (const month of [2, 9]) {
        const lastDay = Date.UTC(year, month + 1, 0);
        const change = lastDay - new Date(lastDay).getUTCDay() * 86_400_000 + 3_600_000;
        for (const t of [change - 60_000, change - 1, change, change + 60_000]) {
          expect(formatDateTime(new Date(t).toISOString())).toBe(viaIntl(t));
        }
      }
    }
  });

  it("agrees with Intl at 20,000 random instants from 1996 to 2099", () => {
    let seed = 20261127;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const from = Date.UTC(1996, 0, 1);
    const to = Date.UTC(2100, 0, 1);
    for (let i = 0; i < 20_000; i++) {
      const t = Math.floor(from + next() * (to - from));
      expect(formatDateTime(new Date(t).toISOString())).toBe(viaIntl(t));
    }
  });

  it("is one hour in summer and none in winter", () => {
    expect(ukOffsetMs(Date.parse("2027-03-28T00:59:59Z"))).toBe(0);
    expect(ukOffsetMs(Date.parse("2027-03-28T01:00:00Z"))).toBe(3_600_000);
    expect(ukOffsetMs(Date.parse("2027-10-31T00:59:59Z"))).toBe(3_600_000);
    expect(ukOffsetMs(Date.parse("2027-10-31T01:00:00Z"))).toBe(0);
  });
});
