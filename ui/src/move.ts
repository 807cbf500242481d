/** Change of address ("I have moved"): what to show, and checking the typed address (pure). */

import type { AddressChange } from "./bindings/AddressChange";
import type { AddressChangeList } from "./bindings/AddressChangeList";
import type { EvidenceDocument } from "./bindings/EvidenceDocument";
import type { PostalAddress } from "./bindings/PostalAddress";

export const EVIDENCE_EXPLANATION =
  "Send a council tax bill for your new address. If you do not have one yet, send a tenancy agreement or completion statement that shows the names of the residents, the full address and the signatures of all parties.";

export const EVIDENCE_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png";
export const EVIDENCE_LABEL = "Add a page of your document (PDF, JPEG or PNG, up to 10 MB)";

/** The documents, in the order offered. */
export const DOCUMENTS: readonly { value: EvidenceDocument; label: string }[] = [
  { value: "council_tax_bill", label: "Council tax bill" },
  { value: "tenancy_agreement", label: "Tenancy agreement" },
  { value: "completion_statement", label: "Completion statement" },
];

export type MovePanels = {
  /** The newest change still waiting for its pages: continue it (upload, then send). */
  draft: AddressChange | null;
  /** A change sent to the council and not yet decided. */
  pending: AddressChange | null;
  /** The approved change whose old-address permits must still be cancelled. */
  surrender: AddressChange | null;
  /** Whether the "start" form is offered. */
  canStart: boolean;
  /** Why not, when it is not. */
  startBlockedReason: string | null;
};

/** Which panels the "Moving house" screen shows, from the resident's changes (newest first). */
export function movePanels(list: AddressChangeList | null): MovePanels {
  const changes = list?.changes ?? [];
  const draft = changes.find((c) => c.status === "awaiting_files") ?? null;
  const pending = changes.find((c) => c.status === "submitted") ?? null;
  const surrender = changes.find((c) => c.status === "approved" && c.permits_to_surrender.length > 0) ?? null;
  let startBlockedReason: string | null = null;
  if (draft) startBlockedReason = "Finish the change of address you have started below.";
  else if (pending) startBlockedReason = "You have a change of address waiting for the council to check. Wait for its answer before sending another.";
  return { draft, pending, surrender, canStart: startBlockedReason === null, startBlockedReason };
}

/** Puts a change the council returned into the list (replacing the old copy, or first if new). */
export function withChange(list: AddressChangeList, change: AddressChange): AddressChangeList {
  const at = list.changes.findIndex((c) => c.id === change.id);
  const changes = at >= 0 ? list.changes.map((c, i) => (i === at ? change : c)) : [change, ...list.changes];
  return { ...list, changes };
}

export type AddressErrors = Partial<Record<keyof PostalAddress, string>>;

/** The typed address, trimmed, with the postcode in capitals; plus an error per empty field. */
export function checkAddress(typed: PostalAddress): { address: PostalAddress; errors: AddressErrors } {
  const address: PostalAddress = {
    line1: typed.line1.trim(),
    street: typed.street.trim(),
    town: typed.town.trim(),
    postcode: typed.postcode.trim().replace(/\s+/g, " ").toUpperCase(),
  };
  const errors: AddressErrors = {};
  if (!address.line1) errors.line1 = "Enter the house number or name.";
  if (!address.street) errors.street = "Enter the street.";
  if (!address.town) errors.town = "Enter the town or city.";
  if (!address.postcode) errors.postcode = "Enter the postcode.";
  return { address, errors };
}

/** "PDF, 120 KB" for an uploaded page. */
export function describePage(contentType: string, sizeBytes: number): string {
  const kind =
    contentType === "application/pdf" ? "PDF" : contentType === "image/jpeg" ? "JPEG" : contentType === "image/png" ? "PNG" : contentType;
  const size =
    sizeBytes >= 1024 * 1024
      ? `${(sizeBytes / (1024 * 1024)).toFixed(1)} MB`
      : `${Math.max(1, Math.round(sizeBytes / 1024))} KB`;
  return `${kind}, ${size}`;
}
