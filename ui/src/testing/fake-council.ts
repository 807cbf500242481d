/** A fake Rust side for the jsdom tests: answers the app's commands from plain data. */

import type { AddressChange } from "../bindings/AddressChange";
import type { AddressChangeRequest } from "../bindings/AddressChangeRequest";
import type { AppSnapshot } from "../bindings/AppSnapshot";
import type { CouncilInfo } from "../bindings/CouncilInfo";
import type { PermitCard } from "../bindings/PermitCard";
import type { PermitFilter } from "../bindings/PermitFilter";
import type { PermitsView } from "../bindings/PermitsView";
import type { Profile } from "../bindings/Profile";

const n = (x: number) => x as unknown as bigint; // JSON numbers, typed bigint by ts-rs

export function card(over: Partial<PermitCard> & { id: string; registration?: string; type?: "annual_visitor" | "care" }): PermitCard {
  const type = over.type ?? "annual_visitor";
  const status = over.status ?? "active";
  return {
    permit: {
      id: over.id,
      reference: `KP-${over.id.toUpperCase()}`,
      permit_type: type,
      permit_type_label: type === "care" ? "Care Annual Visitor Permit" : "Annual Visitor Permit",
      registration: over.registration ?? "AB12 CDE",
      address: { line1: "12", street: "Hazel Street", town: "Leicester", postcode: "LE2 7JN" },
      zone: { code: "B", name: "Hazel Street" },
      starts_on: "2026-04-04",
      expires_on: "2027-04-03",
      status,
      status_label: over.status_label ?? "Live",
      renewal_opens_on: "2027-03-04",
      renewal_open: over.renewal_open ?? false,
      renewed_by: null,
      renewal_of: null,
      price_pence: n(type === "care" ? 0 : 4000),
      refund_pence: null,
      history: [
        { at: "2026-04-04T09:00:00Z", kind: "created", detail: "Permit bought." },
        { at: "2026-04-04T09:01:00Z", kind: "paid", detail: "Payment of £40.00 received." },
      ],
      as_of: "2026-11-26T14:05:00Z",
      open_payment: over.permit?.open_payment ?? null,
    },
    status,
    status_label: over.status_label ?? "Live",
    days_left: over.days_left ?? n(129),
    renewal_open: over.renewal_open ?? false,
    renewal_note: over.renewal_note === undefined ? "Renewal opens on 4 March 2027" : over.renewal_note,
    can_edit_registration: over.can_edit_registration ?? status === "active",
    can_renew: over.can_renew ?? false,
    can_cancel: over.can_cancel ?? status === "active",
    can_pay: over.can_pay ?? false,
  };
}

/** A permit whose purchase answer was lost: awaiting payment, its page still open until 15:35. */
export function unpaidCard(id: string, canPay = true): PermitCard {
  const open_payment = { payment_id: `pay-${id}`, next_url: `http://127.0.0.1:40123/pay/pay-${id}/tok`, expires_at: "2026-11-26T15:35:00Z" };
  const c = card({ id, registration: "UN12 PAY", status: "awaiting_payment", status_label: "Awaiting payment", renewal_note: null, can_pay: canPay });
  c.permit.open_payment = canPay ? open_payment : null;
  return c;
}

const DOCUMENT_LABELS: Record<string, string> = {
  council_tax_bill: "Council tax bill",
  tenancy_agreement: "Tenancy agreement",
  completion_statement: "Completion statement",
};

const STATUS_LABELS: Record<string, string> = {
  awaiting_files: "Waiting for your evidence",
  submitted: "Submitted",
  approved: "Approved",
  rejected: "Rejected",
};

export function addressChange(over: Partial<AddressChange> & { id: string }): AddressChange {
  const status = over.status ?? "awaiting_files";
  const document = over.document ?? "council_tax_bill";
  return {
    address: { line1: "3", street: "Oak Road", town: "Leicester", postcode: "LE3 9AB" },
    document,
    document_label: DOCUMENT_LABELS[document],
    document_must_show: "a council tax bill for the new address",
    status_label: STATUS_LABELS[status],
    officer_reason: null,
    files: [],
    created_at: "2026-11-26T14:00:00Z",
    submitted_at: null,
    decided_at: null,
    permits_to_surrender: [],
    ...over,
    status,
  };
}

export type CallLog = { cmd: string; args: Record<string, unknown> | undefined }[];

export class FakeCouncil {
  signedIn = true;
  offline = false;
  /** Commands that reject with `unauthorised` once (the session ended). */
  expireSessionOn = new Set<string>();
  /** New passwords sent with change_password. */
  passwordChanges: string[] = [];
  /** When set, sign-in is refused as the council refuses too many attempts (429, rate_limited). */
  signInRefusal: string | null = null;
  filter: PermitFilter = "all";
  lastSynced: string | null = "2026-11-26T14:05:00Z";
  cached: PermitCard[] = [card({ id: "p1" })];
  fresh: PermitCard[] = [
    card({ id: "p1" }),
    card({
      id: "p2",
      type: "care",
      registration: "LM68 XYZ",
      renewal_open: true,
      can_renew: true,
      renewal_note: "Renewal open until 3 December 2026",
    }),
  ];
  calls: CallLog = [];
  /** Changes of address, newest first. */
  changes: AddressChange[] = [];
  /** What `payment_status` answers, in turn (then "created"). */
  paymentAnswers: string[] = [];
  /** The permit the payment being watched is for (`buy_permit` makes "new1"). */
  payingFor = "new1";
  profile: Profile = {
    id: "a1",
    email: "demo@kerbside.example",
    name: "Sam Patel",
    address: { line1: "12", street: "Hazel Street", town: "Leicester", postcode: "LE2 7JN" },
    zone: { code: "B", name: "Hazel Street" },
    date_of_birth: "1958-03-14",
    reminder_email: "demo@kerbside.example",
    role: "resident",
  };
  info: CouncilInfo = {
    name: "Leicester City Council",
    permit_types: [
      {
        permit_type: "annual_visitor",
        label: "Annual Visitor Permit",
        price_pence: n(4000),
        term_months: 12,
        household_limit: 1,
        evidence: [],
        needs_date_of_birth: false,
        needs_carer_evidence: false,
        refund_terms: "Refunded for each whole day left, rounded down to the pound.",
      },
      {
        permit_type: "care",
        label: "Care Annual Visitor Permit",
        price_pence: n(0),
        term_months: 12,
        household_limit: 1,
        evidence: ["Details of the regular carer visits."],
        needs_date_of_birth: false,
        needs_carer_evidence: true,
        refund_terms: "Free, so nothing to refund.",
      },
      {
        permit_type: "over_state_pension_age",
        label: "Over State Pension Age Annual Visitor Permit",
        price_pence: n(0),
        term_months: 12,
        household_limit: 1,
        evidence: ["Your date of birth, to show you are over State Pension age."],
        needs_date_of_birth: true,
        needs_carer_evidence: false,
        refund_terms: "This permit is not refundable.",
      },
    ],
    zones: [{ code: "B", name: "Hazel Street" }],
    renewal_window_days: n(30),
    now: "2026-11-26T14:05:00Z",
    today: "2026-11-26",
  };

  snapshot(): AppSnapshot {
    return {
      council_url: "http://127.0.0.1:40123",
      embedded_council: true,
      signed_in_email: this.signedIn ? this.profile.email : null,
      online: null,
      last_synced_at: this.lastSynced,
      today: "2026-11-26",
      clock_is_set: false,
      now: "2026-11-26T14:05:00Z",
      permit_filter: this.filter,
      demo_email: "demo@kerbside.example",
      demo_password: "kerbside-demo-2026",
    };
  }

  view(cards: PermitCard[]): PermitsView {
    const admits = (c: PermitCard) =>
      this.filter === "all" || (this.filter === "care" ? c.permit.permit_type === "care" : c.permit.permit_type !== "care");
    return {
      permits: cards.filter(admits),
      hidden_by_filter: cards.filter((c) => !admits(c)).length,
      filter: this.filter,
      last_synced_at: this.lastSynced,
      today: "2026-11-26",
    };
  }

  private needCouncil(cmd: string): void {
    if (this.offline) throw { kind: "offline", message: "Kerbside cannot reach the council." };
    if (this.expireSessionOn.has(cmd)) {
      this.expireSessionOn.delete(cmd);
      this.signedIn = false;
      throw { kind: "unauthorised", message: "Sign in to continue." };
    }
    if (!this.signedIn) throw { kind: "unauthorised", message: "Sign in to continue." };
  }

  /** Whether "start at login" is on (the OS login item, in the real app). */
  autostart = false;

  handle(cmd: string, args?: Record<string, unknown>): unknown {
    this.calls.push({ cmd, args });
    switch (cmd) {
      case "app_version":
        return "0.1.0";
      case "autostart_enabled":
        return this.autostart;
      case "set_autostart":
        this.autostart = Boolean(args?.enabled);
        return this.autostart;
      case "app_start": {
        const snapshot = this.snapshot();
        return { snapshot, permits: snapshot.signed_in_email ? this.view(this.cached) : null };
      }
      case "app_snapshot":
        return this.snapshot();
      case "council_info":
        if (this.offline) throw { kind: "offline", message: "Kerbside cannot reach the council." };
        return this.info;
      case "cached_permits":
        return this.view(this.cached);
      case "sync_permits":
        this.needCouncil(cmd);
        this.lastSynced = "2026-11-26T15:30:00Z";
        this.cached = this.fresh;
        return this.view(this.fresh);
      case "set_permit_filter":
        this.filter = (args?.filter as PermitFilter) ?? "all";
        return this.view(this.cached);
      case "permit_detail": {
        const found = this.cached.find((c) => c.permit.id === args?.id);
        if (!found) throw { kind: "not_found", message: "No such permit." };
        return found;
      }
      case "check_registration": {
        const compact = String(args?.typed ?? "").replace(/\s+/g, "").toUpperCase();
        if (/^[A-Z]{2}\d{2}[A-Z]{3}$/.test(compact)) return `${compact.slice(0, 4)} ${compact.slice(4)}`;
        throw { kind: "validation", message: "That is not a UK registration number." };
      }
      case "get_profile":
        this.needCouncil(cmd);
        return this.profile;
      case "update_profile":
        this.needCouncil(cmd);
        this.profile = { ...this.profile, ...(args?.update as object) };
        return this.profile;
      case "sign_in": {
        if (this.offline) throw { kind: "offline", message: "Kerbside cannot reach the council." };
        const req = args?.request as { email: string; password: string };
        if (this.signInRefusal) throw { kind: "rate_limited", message: this.signInRefusal };
        if (req.password !== "kerbside-demo-2026") throw { kind: "unauthorised", message: "Wrong email or password." };
        this.signedIn = true;
        return this.profile;
      }
      case "change_password": {
        this.needCouncil(cmd);
        const change = args?.change as { current_password: string; new_password: string };
        if (change.current_password !== "kerbside-demo-2026") {
          throw { kind: "validation", message: "Your current password is not right. Enter the password you sign in with now." };
        }
        this.passwordChanges.push(change.new_password);
        return this.profile;
      }
      case "sign_out":
        this.signedIn = false;
        return null;
      case "data_summary":
        return {
          data_folder: "/home/sam/.local/share/uk.kerbside.app",
          cache_file: "/home/sam/.local/share/uk.kerbside.app/kerbside.sqlite",
          cached_permits: this.cached.length,
          last_synced_at: this.lastSynced,
          keyring_service: "uk.kerbside.app",
          signed_in: this.signedIn,
          council_url: "http://127.0.0.1:40123",
          embedded_council: true,
        };
      case "quote_permit": {
        this.needCouncil(cmd);
        const req = args?.request as { permit_type: string; registration: string };
        if (req.permit_type === "over_state_pension_age") {
          throw { kind: "validation", message: "You reach State Pension age on 6 April 2028; you can buy this permit from then." };
        }
        const t = this.info.permit_types.find((x) => x.permit_type === req.permit_type)!;
        return {
          permit_type: req.permit_type,
          registration: req.registration,
          zone: this.profile.zone,
          address: this.profile.address,
          price_pence: t.price_pence,
          starts_on: "2026-11-26",
          expires_on: "2027-11-25",
        };
      }
      case "buy_permit": {
        this.needCouncil(cmd);
        const req = args?.request as { permit_type: "annual_visitor" | "care"; registration: string };
        const bought = card({ id: "new1", type: req.permit_type, registration: req.registration, status: "awaiting_payment", status_label: "Awaiting payment" });
        this.cached = [...this.cached, bought];
        this.fresh = [...this.fresh, bought];
        const free = req.permit_type === "care";
        if (free) {
          bought.status = "active";
          bought.status_label = "Live";
        }
        return {
          permit: bought.permit,
          payment: free
            ? null
            : {
                id: "pay1",
                permit_id: "new1",
                amount_pence: 4000,
                status: "created",
                next_url: "http://127.0.0.1:40123/pay/tok",
                failure_reason: null,
                created_at: "2026-11-26T14:05:00Z",
                expires_at: "2026-11-26T15:35:00Z",
              },
        };
      }
      case "continue_payment": {
        this.needCouncil(cmd);
        const c = this.cached.find((x) => x.permit.id === args?.permitId);
        const link = c?.permit.open_payment;
        if (!c || !link) throw { kind: "validation", message: "The time to pay for this permit has run out, so nothing was taken and it was not issued. Buy it again to get a new payment page." };
        this.payingFor = c.permit.id;
        return {
          permit: c.permit,
          payment: {
            id: link.payment_id,
            permit_id: c.permit.id,
            amount_pence: 4000,
            status: "created",
            next_url: link.next_url,
            failure_reason: null,
            created_at: "2026-11-26T14:05:00Z",
            expires_at: link.expires_at,
          },
        };
      }
      case "open_payment":
      case "close_payment":
        return null;
      case "payment_status": {
        this.needCouncil(cmd);
        const status = this.paymentAnswers.shift() ?? "created";
        if (status === "succeeded") {
          const c = this.cached.find((x) => x.permit.id === this.payingFor);
          if (c) {
            c.status = "active";
            c.status_label = "Live";
            c.can_pay = false;
            c.permit = { ...c.permit, status: "active", open_payment: null };
          }
        }
        return {
          id: "pay1",
          permit_id: this.payingFor,
          amount_pence: 4000,
          status,
          next_url: null,
          failure_reason: status === "failed" ? "Your card was declined." : null,
          created_at: "2026-11-26T14:05:00Z",
          expires_at: "2026-11-26T15:35:00Z",
        };
      }
      case "refund_quote":
        this.needCouncil(cmd);
        return { permit_id: args?.permitId, refund_pence: 1200, paid_pence: 4000, cancel_on: "2026-11-26", refund_terms: "Refunded for each whole day left, rounded down to the pound." };
      case "cancel_permit":
        this.needCouncil(cmd);
        return { permit: { ...this.cached[0].permit, status: "cancelled" }, refund_pence: args?.expectedRefundPence };
      case "edit_registration": {
        this.needCouncil(cmd);
        const c = this.cached.find((x) => x.permit.id === args?.permitId)!;
        c.permit = { ...c.permit, registration: String(args?.registration) };
        return c;
      }
      case "address_changes":
        // From the cache when offline; an ended session still sends the resident to sign in.
        if (!this.signedIn) throw { kind: "unauthorised", message: "Sign in to continue." };
        return { changes: this.changes, as_of: "2026-11-26T14:05:00Z" };
      case "start_address_change": {
        this.needCouncil(cmd);
        const request = args?.request as AddressChangeRequest;
        const change = addressChange({ id: `ac${this.changes.length + 1}`, address: request.address, document: request.document });
        this.changes = [change, ...this.changes];
        return change;
      }
      case "upload_evidence": {
        // mockIPC passes the raw body as the payload (the headers are not visible here).
        this.needCouncil(cmd);
        const bytes = args as unknown as Uint8Array;
        const head = String.fromCharCode(...bytes.slice(0, 4));
        if (head !== "%PDF") throw { kind: "validation", message: "This file is not a PDF, JPEG or PNG. Send a scan or photo of your document." };
        const draft = this.changes.find((c) => c.status === "awaiting_files")!;
        draft.files = [
          ...draft.files,
          { id: `f${draft.files.length + 1}`, page_number: draft.files.length + 1, content_type: "application/pdf", size_bytes: n(bytes.length), uploaded_at: "2026-11-26T14:06:00Z" },
        ];
        return { ...draft };
      }
      case "submit_address_change": {
        this.needCouncil(cmd);
        const c = this.changes.find((x) => x.id === args?.changeId)!;
        Object.assign(c, { status: "submitted", status_label: "Submitted", submitted_at: "2026-11-26T14:07:00Z" });
        return { ...c };
      }
      default:
        throw { kind: "internal", message: `The fake has no ${cmd}.` };
    }
  }
}
