import { describe, expect, it } from "vitest";
import { routeError, SESSION_ENDED, toApiError } from "./errors";

describe("toApiError", () => {
  it("keeps a well-formed {kind, message}", () => {
    expect(toApiError({ kind: "conflict", message: "Renewal opens on 4 March 2027." })).toEqual({
      kind: "conflict",
      message: "Renewal opens on 4 March 2027.",
    });
  });

  it("treats strings and unknown shapes as internal errors with a readable message", () => {
    expect(toApiError("invalid args `id` for command `permit_detail`")).toEqual({
      kind: "internal",
      message: "invalid args `id` for command `permit_detail`",
    });
    expect(toApiError({ kind: "weird", message: "x" })).toEqual({ kind: "internal", message: "x" });
    expect(toApiError(undefined).kind).toBe("internal");
    expect(toApiError(undefined).message).toMatch(/Try again/);
  });
});

describe("routeError", () => {
  it("sends an ended session to sign-in and remembers the screen", () => {
    const action = routeError({ kind: "unauthorised", message: "Sign in to continue." }, { name: "detail", id: "p1" });
    expect(action).toEqual({ type: "sign-in", returnTo: { name: "detail", id: "p1" }, notice: SESSION_ENDED });
  });

  it("does not return to the sign-in screen itself", () => {
    const action = routeError({ kind: "unauthorised", message: "Wrong password." }, { name: "sign-in" });
    expect(action.type).toBe("sign-in");
    if (action.type === "sign-in") expect(action.returnTo).toEqual({ name: "permits" });
  });

  it("turns offline into the banner and everything else into a message in place", () => {
    expect(routeError({ kind: "offline", message: "No connection." }, { name: "permits" })).toEqual({
      type: "offline",
      message: "No connection.",
    });
    expect(routeError({ kind: "validation", message: "Enter a registration." }, { name: "buy" })).toEqual({
      type: "show",
      kind: "validation",
      message: "Enter a registration.",
    });
  });
});
