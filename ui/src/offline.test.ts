import { describe, expect, it } from "vitest";
import { connectionReducer, initialConnection, offlineBannerText, type ConnectionState } from "./offline";

describe("connectionReducer", () => {
  it("treats an untried council as online and a failed one as offline", () => {
    const s = connectionReducer(initialConnection, { type: "snapshot", online: null, lastSyncedAt: null });
    expect(s.online).toBe(true);
    const off = connectionReducer(s, { type: "snapshot", online: false, lastSyncedAt: "2026-11-26T14:05:00Z" });
    expect(off).toEqual({ online: false, lastSyncedAt: "2026-11-26T14:05:00Z" });
  });

  it("goes offline on an offline error and back online when a sync succeeds", () => {
    let s: ConnectionState = { online: true, lastSyncedAt: "2026-11-26T14:05:00Z" };
    s = connectionReducer(s, { type: "offline-error" });
    expect(s.online).toBe(false);
    expect(s.lastSyncedAt).toBe("2026-11-26T14:05:00Z");
    s = connectionReducer(s, { type: "synced", lastSyncedAt: "2026-11-26T15:00:00Z" });
    expect(s).toEqual({ online: true, lastSyncedAt: "2026-11-26T15:00:00Z" });
  });

  it("follows connection-changed events and successful calls", () => {
    let s = connectionReducer(initialConnection, { type: "connection-changed", online: false });
    expect(s.online).toBe(false);
    s = connectionReducer(s, { type: "reached" });
    expect(s.online).toBe(true);
  });

  it("returns the same object when nothing changes", () => {
    const s: ConnectionState = { online: true, lastSyncedAt: null };
    expect(connectionReducer(s, { type: "reached" })).toBe(s);
    expect(connectionReducer(s, { type: "connection-changed", online: true })).toBe(s);
  });
});

describe("offlineBannerText", () => {
  it("says nothing online and names the last update offline", () => {
    expect(offlineBannerText({ online: true, lastSyncedAt: null })).toBeNull();
    expect(offlineBannerText({ online: false, lastSyncedAt: "2026-11-26T14:05:00Z" })).toBe(
      "You are offline. Showing permits saved on this computer, last updated 26 November 2026 at 14:05.",
    );
    expect(offlineBannerText({ online: false, lastSyncedAt: null })).toMatch(/^You are offline\./);
  });
});
