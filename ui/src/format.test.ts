import { describe, expect, it } from "vitest";
import { daysBetween, formatDaysLeft } from "./format";

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
