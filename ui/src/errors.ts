/** Turning a rejected command into what the resident sees (pure: no DOM, no IPC). */

import type { ApiError } from "./bindings/ApiError";
import type { ErrorKind } from "./bindings/ErrorKind";
import type { Route } from "./routes";

const KINDS: readonly ErrorKind[] = [
  "validation", "unauthorised", "forbidden", "not_found", "conflict", "rate_limited", "offline", "internal",
];

export const SESSION_ENDED = "Your session has ended. Sign in again to continue.";

/** Whatever a command rejected with, as `{kind, message}`. */
export function toApiError(err: unknown): ApiError {
  if (err && typeof err === "object") {
    const o = err as { kind?: unknown; message?: unknown };
    if (typeof o.kind === "string" && (KINDS as readonly string[]).includes(o.kind)) {
      return {
        kind: o.kind as ErrorKind,
        message: typeof o.message === "string" && o.message ? o.message : "Something went wrong. Try again.",
      };
    }
    if (typeof o.message === "string" && o.message) return { kind: "internal", message: o.message };
  }
  if (typeof err === "string" && err) return { kind: "internal", message: err };
  return { kind: "internal", message: "Something went wrong. Try again." };
}

export type ErrorAction =
  /** Go to sign-in with `notice`; after signing in, go back to `returnTo`. */
  | { type: "sign-in"; returnTo: Route; notice: string }
  /** Show the offline banner; the screen keeps what it has and notes `message`. */
  | { type: "offline"; message: string }
  /** Show `message` where the action was (by the field or form). */
  | { type: "show"; kind: ErrorKind; message: string };

/** Screens that make no sense to come back to after signing in. */
const NO_RETURN = new Set<Route["name"]>(["sign-in", "register"]);

/** Where an error sends the resident, given the screen they are on. */
export function routeError(err: unknown, current: Route): ErrorAction {
  const e = toApiError(err);
  switch (e.kind) {
    case "unauthorised":
      return {
        type: "sign-in",
        returnTo: NO_RETURN.has(current.name) ? { name: "permits" } : current,
        notice: SESSION_ENDED,
      };
    case "offline":
      return { type: "offline", message: e.message };
    default:
      return { type: "show", kind: e.kind, message: e.message };
  }
}
