import { describe, expect, it } from "vitest";
import type { AddressChangeList } from "./bindings/AddressChangeList";
import { checkAddress, describePage, movePanels, withChange } from "./move";
import { addressChange } from "./testing/fake-council";

const list = (...changes: ReturnType<typeof addressChange>[]): AddressChangeList => ({ changes, as_of: "2026-11-26T14:05:00Z" });

describe("movePanels", () => {
  it("offers only the start form when there are no changes (or no list yet)", () => {
    for (const l of [null, list()]) {
      expect(movePanels(l)).toEqual({ draft: null, pending: null, surrender: null, canStart: true, startBlockedReason: null });
    }
  });

  it("continues a change still waiting for its pages instead of starting another", () => {
    const draft = addressChange({ id: "a2" });
    const p = movePanels(list(draft, addressChange({ id: "a1", status: "rejected", officer_reason: "Blurred" })));
    expect(p.draft).toBe(draft);
    expect(p.canStart).toBe(false);
    expect(p.startBlockedReason).toMatch(/Finish/);
  });

  it("waits while a change is with the council", () => {
    const sent = addressChange({ id: "a1", status: "submitted" });
    const p = movePanels(list(sent));
    expect(p.pending).toBe(sent);
    expect(p.draft).toBeNull();
    expect(p.canStart).toBe(false);
    expect(p.startBlockedReason).toMatch(/waiting for the council/);
  });

  it("lets a resident start again after a rejection", () => {
    const p = movePanels(list(addressChange({ id: "a1", status: "rejected", officer_reason: "Wrong address" })));
    expect(p.canStart).toBe(true);
    expect(p.surrender).toBeNull();
  });

  it("shows the surrender panel only for an approved change with permits to cancel", () => {
    const done = addressChange({ id: "a1", status: "approved" });
    expect(movePanels(list(done)).surrender).toBeNull();
    const withPermits = addressChange({ id: "a2", status: "approved", permits_to_surrender: ["p1", "p2"] });
    const p = movePanels(list(withPermits, done));
    expect(p.surrender).toBe(withPermits);
    expect(p.canStart).toBe(true);
  });
});

describe("withChange", () => {
  it("replaces a change by id, keeping the order, or puts a new one first", () => {
    const a = addressChange({ id: "a1", status: "rejected" });
    const b = addressChange({ id: "a2" });
    const l = list(b, a);
    const sent = { ...b, status: "submitted" as const, status_label: "Submitted" };
    expect(withChange(l, sent).changes).toEqual([sent, a]);
    const c = addressChange({ id: "a3" });
    expect(withChange(l, c).changes.map((x) => x.id)).toEqual(["a3", "a2", "a1"]);
    expect(l.changes).toEqual([b, a]); // not changed in place
  });
});

describe("checkAddress", () => {
  it("trims, puts the postcode in capitals and passes a full address", () => {
    expect(checkAddress({ line1: " 3 ", street: "Oak Road ", town: "Leicester", postcode: " le3  9ab " })).toEqual({
      address: { line1: "3", street: "Oak Road", town: "Leicester", postcode: "LE3 9AB" },
      errors: {},
    });
  });

  it("names each missing part", () => {
    const { errors } = checkAddress({ line1: " ", street: "", town: "Leicester", postcode: "" });
    expect(errors).toEqual({ line1: "Enter the house number or name.", street: "Enter the street.", postcode: "Enter the postcode." });
  });
});

describe("describePage", () => {
  it("says the kind and a readable size", () => {
    expect(describePage("application/pdf", 120_000)).toBe("PDF, 117 KB");
    expect(describePage("image/jpeg", 10)).toBe("JPEG, 1 KB");
    expect(describePage("image/png", 3 * 1024 * 1024)).toBe("PNG, 3.0 MB");
  });
});
