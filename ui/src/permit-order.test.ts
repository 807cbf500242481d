import { describe, expect, it } from "vitest";
import type { PermitCard } from "./bindings/PermitCard";
import { isCurrent, sortCards, splitCards } from "./permit-order";
import { card } from "./testing/fake-council";

function withDates(c: PermitCard, expires: string): PermitCard {
  return { ...c, permit: { ...c.permit, expires_on: expires } };
}

describe("permit order", () => {
  const live = withDates(card({ id: "live", registration: "AA11 AAA" }), "2027-04-03");
  const liveSooner = withDates(card({ id: "sooner", registration: "BB11 BBB" }), "2026-12-15");
  const upcoming = card({ id: "up", status: "upcoming", status_label: "Starts later" });
  const awaiting = card({ id: "aw", status: "awaiting_payment", status_label: "Awaiting payment" });
  const failed = card({ id: "f", status: "payment_failed", status_label: "Payment failed" });
  const oldExpired = withDates(card({ id: "old", status: "expired", status_label: "Expired" }), "2024-01-01");
  const newExpired = withDates(card({ id: "new", status: "expired", status_label: "Expired" }), "2025-06-01");
  const cancelled = card({ id: "c", status: "cancelled", status_label: "Cancelled" });

  it("puts live permits first, soonest to expire first, and the past last, latest first", () => {
    const sorted = sortCards([cancelled, oldExpired, failed, awaiting, live, newExpired, upcoming, liveSooner]);
    expect(sorted.map((c) => c.permit.id)).toEqual(["sooner", "live", "up", "aw", "f", "new", "old", "c"]);
  });

  it("counts awaiting payment as current but never as live, and failed payments as earlier", () => {
    expect(isCurrent(awaiting)).toBe(true);
    expect(isCurrent(failed)).toBe(false);
    const { current, earlier } = splitCards([failed, live, awaiting]);
    expect(current.map((c) => c.permit.id)).toEqual(["live", "aw"]);
    expect(earlier.map((c) => c.permit.id)).toEqual(["f"]);
  });

  it("does not change the list it is given", () => {
    const input = [failed, live];
    sortCards(input);
    expect(input.map((c) => c.permit.id)).toEqual(["f", "live"]);
  });
});
