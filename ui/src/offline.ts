/** Whether the council can be reached, as a reducer (pure) plus the banner's wording. */

import { formatDateTime } from "./format";

export const OFFLINE_RETRY_MS = 15_000;
export const NEEDS_CONNECTION = "Needs a connection to the council";

export type ConnectionState = {
  /** False only once a call has found the council unreachable. */
  online: boolean;
  /** When the permits on this computer were last fetched from the council. */
  lastSyncedAt: string | null;
};

export type ConnectionEvent =
  /** `app_snapshot`: `online` is null until the council has been tried. */
  | { type: "snapshot"; online: boolean | null; lastSyncedAt: string | null }
  /** A command rejected with kind `offline`. */
  | { type: "offline-error" }
  /** A command that needs the council resolved. */
  | { type: "reached" }
  /** The `connection-changed` event from Rust. */
  | { type: "connection-changed"; online: boolean }
  /** `sync_permits` (or a `permits-updated` event) brought fresh permits. */
  | { type: "synced"; lastSyncedAt: string | null };

export const initialConnection: ConnectionState = { online: true, lastSyncedAt: null };

export function connectionReducer(state: ConnectionState, event: ConnectionEvent): ConnectionState {
  switch (event.type) {
    case "snapshot":
      return {
        online: event.online !== false,
        lastSyncedAt: event.lastSyncedAt ?? state.lastSyncedAt,
      };
    case "offline-error":
      return state.online ? { ...state, online: false } : state;
    case "reached":
      return state.online ? state : { ...state, online: true };
    case "connection-changed":
      return state.online === event.online ? state : { ...state, online: event.online };
    case "synced":
      return { online: true, lastSyncedAt: event.lastSyncedAt ?? state.lastSyncedAt };
  }
}

/** The banner shown while offline, or null when online. */
export function offlineBannerText(state: ConnectionState): string | null {
  if (state.online) return null;
  if (state.lastSyncedAt) {
    return `You are offline. Showing permits saved on this computer, last updated ${formatDateTime(state.lastSyncedAt)}.`;
  }
  return "You are offline. Kerbside cannot reach the council right now.";
}
