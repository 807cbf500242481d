/** The Rust commands and events, typed (see docs/app-commands.md). Errors reject as ApiError. */

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AddressChange } from "./bindings/AddressChange";
import type { AddressChangeList } from "./bindings/AddressChangeList";
import type { AddressChangeRequest } from "./bindings/AddressChangeRequest";
import type { AppSnapshot } from "./bindings/AppSnapshot";
import type { AppStart } from "./bindings/AppStart";
import type { Cancellation } from "./bindings/Cancellation";
import type { CouncilInfo } from "./bindings/CouncilInfo";
import type { DataSummary } from "./bindings/DataSummary";
import type { PasswordChange } from "./bindings/PasswordChange";
import type { Payment } from "./bindings/Payment";
import type { PermitCard } from "./bindings/PermitCard";
import type { PermitFilter } from "./bindings/PermitFilter";
import type { PermitQuote } from "./bindings/PermitQuote";
import type { PermitRequest } from "./bindings/PermitRequest";
import type { PermitsView } from "./bindings/PermitsView";
import type { Profile } from "./bindings/Profile";
import type { ProfileUpdate } from "./bindings/ProfileUpdate";
import type { Purchase } from "./bindings/Purchase";
import type { RefundQuote } from "./bindings/RefundQuote";
import type { RegisterRequest } from "./bindings/RegisterRequest";
import type { SignInRequest } from "./bindings/SignInRequest";
import { toApiError } from "./errors";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (err) {
    throw toApiError(err);
  }
}

/** What the main window's initialisation script leaves on the page (src-tauri/src/lib.rs). */
type EarlyStart = { __KERBSIDE_START__?: Promise<AppStart>; __KERBSIDE_START_ANSWER__?: AppStart };

/**
 * The first screen, asked for by the main window's initialisation script while this bundle
 * was still loading (src-tauri/src/lib.rs, `ASK_FOR_FIRST_SCREEN`); taken once, so a later
 * call asks afresh. Null when there is none (tests, another host).
 */
function takeEarlyStart(): Promise<AppStart> | null {
  const w = window as EarlyStart;
  const asked = w.__KERBSIDE_START__;
  delete w.__KERBSIDE_START__;
  delete w.__KERBSIDE_START_ANSWER__;
  return asked ? asked.catch((err: unknown) => Promise.reject(toApiError(err))) : null;
}

/**
 * The first screen, if the early answer (see `takeEarlyStart`) has already arrived: the
 * window's initialisation script keeps it as `__KERBSIDE_START_ANSWER__` when it comes. Taken
 * once, with the early promise, so a later call asks afresh. Null when it has not arrived.
 *
 * Read without awaiting because, in the app's web view, a continuation awaited at the end of
 * the bundle runs only after WebKit's first style, layout and paint of the page (~12 ms here):
 * drawn at once, the cards are in that first paint (docs/BENCHMARKS.md, fix 35).
 */
export function answeredStart(): AppStart | null {
  const w = window as EarlyStart;
  const answer = w.__KERBSIDE_START_ANSWER__;
  if (!answer) return null;
  delete w.__KERBSIDE_START_ANSWER__;
  delete w.__KERBSIDE_START__;
  return answer;
}

/** One page of evidence: the bytes go as the raw IPC body, the change and type as headers. */
async function uploadEvidence(changeId: string, bytes: Uint8Array, fileType: string): Promise<AddressChange> {
  try {
    return await invoke<AddressChange>("upload_evidence", bytes, {
      headers: { "change-id": changeId, "file-type": fileType || "application/octet-stream" },
    });
  } catch (err) {
    throw toApiError(err);
  }
}

export const api = {
  appVersion: () => call<string>("app_version"),
  appStart: () => takeEarlyStart() ?? call<AppStart>("app_start"),
  appSnapshot: () => call<AppSnapshot>("app_snapshot"),
  councilInfo: () => call<CouncilInfo>("council_info"),
  register: (request: RegisterRequest) => call<Profile>("register", { request }),
  signIn: (request: SignInRequest) => call<Profile>("sign_in", { request }),
  signOut: () => call<string | null>("sign_out"),
  cachedPermits: () => call<PermitsView>("cached_permits"),
  syncPermits: () => call<PermitsView>("sync_permits"),
  permitDetail: (id: string) => call<PermitCard>("permit_detail", { id }),
  checkRegistration: (typed: string) => call<string>("check_registration", { typed }),
  quotePermit: (request: PermitRequest) => call<PermitQuote>("quote_permit", { request }),
  buyPermit: (request: PermitRequest) => call<Purchase>("buy_permit", { request }),
  openPayment: (url: string) => call<void>("open_payment", { url }),
  closePayment: () => call<void>("close_payment"),
  paymentStatus: (paymentId: string) => call<Payment>("payment_status", { paymentId }),
  editRegistration: (permitId: string, registration: string) =>
    call<PermitCard>("edit_registration", { permitId, registration }),
  renewPermit: (permitId: string) => call<Purchase>("renew_permit", { permitId }),
  continuePayment: (permitId: string) => call<Purchase>("continue_payment", { permitId }),
  refundQuote: (permitId: string) => call<RefundQuote>("refund_quote", { permitId }),
  cancelPermit: (permitId: string, expectedRefundPence: number) =>
    call<Cancellation>("cancel_permit", { permitId, expectedRefundPence }),
  getProfile: () => call<Profile>("get_profile"),
  updateProfile: (update: ProfileUpdate) => call<Profile>("update_profile", { update }),
  changePassword: (change: PasswordChange) => call<Profile>("change_password", { change }),
  setPermitFilter: (filter: PermitFilter) => call<PermitsView>("set_permit_filter", { filter }),
  setCouncilUrl: (url: string | null) => call<AppSnapshot>("set_council_url", { url }),
  dataSummary: () => call<DataSummary>("data_summary"),
  autostartEnabled: () => call<boolean>("autostart_enabled"),
  setAutostart: (enabled: boolean) => call<boolean>("set_autostart", { enabled }),
  wipeLocalData: () => call<DataSummary>("wipe_local_data"),
  addressChanges: () => call<AddressChangeList>("address_changes"),
  startAddressChange: (request: AddressChangeRequest) => call<AddressChange>("start_address_change", { request }),
  uploadEvidence,
  submitAddressChange: (changeId: string) => call<AddressChange>("submit_address_change", { changeId }),
};

export type Api = typeof api;

export type AppEvents = {
  "permits-updated": PermitsView;
  "connection-changed": { online: boolean };
  "payment-window-closed": unknown;
  /** The resident clicked a renewal notification (or opened the app from the tray while one was unread). */
  "open-permit": string;
};

/** Listens to an app event; resolves to a function that stops listening. Outside Tauri, a no-op. */
export async function on<K extends keyof AppEvents>(
  event: K,
  handler: (payload: AppEvents[K]) => void,
): Promise<UnlistenFn> {
  try {
    return await listen<AppEvents[K]>(event, (e) => handler(e.payload));
  } catch {
    return () => {};
  }
}
