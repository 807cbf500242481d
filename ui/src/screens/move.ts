/** "Moving house": tell the council the new address, send the evidence, then swap the permits. */

import type { AddressChange } from "../bindings/AddressChange";
import type { AddressChangeList } from "../bindings/AddressChangeList";
import type { EvidenceDocument } from "../bindings/EvidenceDocument";
import type { PermitCard } from "../bindings/PermitCard";
import type { PostalAddress } from "../bindings/PostalAddress";
import type { RefundQuote } from "../bindings/RefundQuote";
import { action, alertBox, field, isBlocked, notice, plate, screenHeading, setBusy, statusBox, summary } from "../components";
import { add, fill, h } from "../dom";
import { toApiError } from "../errors";
import { formatAddress, formatDate, formatDateTime, toNumber } from "../format";
import {
  checkAddress,
  describePage,
  DOCUMENTS,
  EVIDENCE_ACCEPT,
  EVIDENCE_EXPLANATION,
  EVIDENCE_LABEL,
  movePanels,
  withChange,
} from "../move";
import type { Ctx } from "../screen";
import { refundSentence } from "./manage";

export function moveScreen(ctx: Ctx, main: HTMLElement): void {
  const error = alertBox("move-error");
  const done = statusBox("move-status");
  done.el.setAttribute("tabindex", "-1");
  const body = h("div", { class: "move" }, h("p", { class: "loading" }, "Loading your changes of address…"));
  add(
    main,
    screenHeading("Moving house"),
    h("p", { class: "lead" }, "Tell the council your new address and send a document that proves it. Once the council agrees, your permits move with you."),
    error.el,
    done.el,
    body,
  );

  let list: AddressChangeList = { changes: [], as_of: "" };

  const draw = () => {
    const panels = movePanels(list);
    fill(
      body,
      panels.surrender ? surrenderPanel(ctx, panels.surrender) : null,
      statusSection(list),
      panels.draft ? evidenceSection(panels.draft) : null,
      panels.canStart ? startSection() : notice(panels.startBlockedReason ?? "", "start-blocked"),
    );
  };

  /** The council returned a change: keep it in the list and draw again. */
  const update = (change: AddressChange, message: string | null, focusDone = false) => {
    list = withChange(list, change);
    draw();
    done.set(message);
    if (focusDone && message) done.el.focus();
  };

  // ----- start ----------------------------------------------------------------------------------

  function startSection(): HTMLElement {
    const line1 = field({ id: "move-line1", label: "House number or name", autocomplete: "address-line1", required: true, width: "medium" });
    const street = field({ id: "move-street", label: "Street", autocomplete: "address-line2", required: true });
    const town = field({ id: "move-town", label: "Town or city", autocomplete: "address-level2", required: true, width: "medium" });
    const postcode = field({ id: "move-postcode", label: "Postcode", autocomplete: "postal-code", required: true, width: "short" });
    const docError = h("p", { class: "field-error", id: "move-document-error", hidden: true, "data-testid": "move-document-error" });
    const radios = DOCUMENTS.map((d, i) => {
      const id = `doc-${d.value}`;
      const input = h("input", {
        type: "radio",
        name: "move-document",
        id,
        value: d.value,
        class: "choice-input",
        "data-testid": id,
        checked: i === 0,
      });
      return { input, wrap: h("div", { class: "choice" }, input, h("label", { for: id, class: "choice-label" }, h("span", { class: "choice-title" }, d.label))) };
    });
    const start = action({ id: "start-move-button", label: "Continue", type: "submit", needsCouncil: true });
    const form = h(
      "form",
      { class: "form", novalidate: true, id: "move-form", "aria-labelledby": "move-start-title" },
      h("h2", { class: "section-title", id: "move-start-title" }, "Tell the council your new address"),
      h(
        "fieldset",
        { class: "fieldset" },
        h("legend", { class: "fieldset-legend" }, "Your new address"),
        line1.wrap,
        street.wrap,
        town.wrap,
        postcode.wrap,
      ),
      h(
        "fieldset",
        { class: "fieldset choices", "aria-describedby": "move-document-hint", "data-testid": "document-choices" },
        h("legend", { class: "fieldset-legend" }, "Which document will you send?"),
        h("p", { class: "hint", id: "move-document-hint", "data-testid": "evidence-explanation" }, EVIDENCE_EXPLANATION),
        docError,
        radios.map((r) => r.wrap),
      ),
      h("div", { class: "actions" }, start.wrap),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (isBlocked(start.button)) return;
      error.set(null);
      done.set(null);
      const typed: PostalAddress = { line1: line1.value(), street: street.value(), town: town.value(), postcode: postcode.value() };
      const { address, errors } = checkAddress(typed);
      const fields = [
        [line1, errors.line1],
        [street, errors.street],
        [town, errors.town],
        [postcode, errors.postcode],
      ] as const;
      for (const [f, e] of fields) f.setError(e ?? null);
      const chosen = radios.find((r) => r.input.checked)?.input.value as EvidenceDocument | undefined;
      docError.hidden = Boolean(chosen);
      docError.textContent = chosen ? "" : "Choose the document you will send.";
      const firstBad = fields.find(([, e]) => e);
      if (firstBad) return firstBad[0].input.focus();
      if (!chosen) return radios[0].input.focus();
      setBusy(start.button, true, "Please wait…");
      try {
        const change = await ctx.api.startAddressChange({ address, document: chosen });
        if (!ctx.alive()) return;
        update(change, `Change of address to ${formatAddress(change.address)} started. Now add the pages of your ${change.document_label.toLowerCase()}.`);
        document.getElementById("evidence-file")?.focus();
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(start.button, false);
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
      }
    });
    return h("section", { class: "move-section", "data-testid": "move-start" }, form);
  }

  // ----- evidence -------------------------------------------------------------------------------

  function evidenceSection(change: AddressChange): HTMLElement {
    const uploadError = alertBox("upload-error");
    const input = h("input", {
      type: "file",
      id: "evidence-file",
      name: "evidence-file",
      class: "input input-file",
      accept: EVIDENCE_ACCEPT,
      "data-testid": "evidence-file",
      "aria-describedby": "evidence-must-show",
    });
    const upload = action({
      id: "upload-page-button",
      label: "Upload page",
      variant: "secondary",
      needsCouncil: true,
      onClick: (b) => void uploadPage(b),
    });
    const submit = action({
      id: "submit-move-button",
      label: "Send to the council",
      needsCouncil: true,
      blockedReason: change.files.length ? null : "Upload at least one page first.",
      onClick: (b) => void send(b),
    });

    async function uploadPage(button: HTMLButtonElement): Promise<void> {
      uploadError.set(null);
      done.set(null);
      const file = input.files?.[0];
      if (!file) {
        uploadError.set("Choose the file of a page to upload.");
        input.focus();
        return;
      }
      setBusy(button, true, "Uploading…");
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const updated = await ctx.api.uploadEvidence(change.id, bytes, file.type || "application/octet-stream");
        if (!ctx.alive()) return;
        const page = updated.files.length;
        update(updated, `Page ${page} uploaded.`);
        document.getElementById("evidence-file")?.focus();
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(button, false);
        const msg = ctx.fail(err);
        if (msg) uploadError.set(msg);
      }
    }

    async function send(button: HTMLButtonElement): Promise<void> {
      uploadError.set(null);
      done.set(null);
      setBusy(button, true, "Sending…");
      try {
        const updated = await ctx.api.submitAddressChange(change.id);
        if (!ctx.alive()) return;
        update(updated, "Sent to the council. They will check your document and tell you their answer here.", true);
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(button, false);
        const msg = ctx.fail(err);
        if (msg) uploadError.set(msg);
      }
    }

    return h(
      "section",
      { class: "move-section", "aria-labelledby": "move-evidence-title", "data-testid": "move-evidence" },
      h("h2", { class: "section-title", id: "move-evidence-title" }, "Send your evidence"),
      summary([
        ["New address", formatAddress(change.address), "evidence-address"],
        ["Document", change.document_label, "evidence-document"],
      ]),
      h("p", { id: "evidence-must-show" }, `It must be ${change.document_must_show}. Upload each page as a separate file.`),
      change.files.length
        ? h(
            "ol",
            { class: "evidence-pages", "data-testid": "evidence-pages" },
            change.files.map((f) =>
              h(
                "li",
                { "data-testid": "evidence-page" },
                `Page ${f.page_number}: ${describePage(f.content_type, toNumber(f.size_bytes))}, uploaded ${formatDateTime(f.uploaded_at)}`,
              ),
            ),
          )
        : h("p", { class: "hint", "data-testid": "no-pages" }, "No pages uploaded yet."),
      uploadError.el,
      h("div", { class: "field" }, h("label", { for: "evidence-file", class: "field-label" }, EVIDENCE_LABEL), input),
      h("div", { class: "actions" }, upload.wrap),
      h("div", { class: "actions" }, submit.wrap),
    );
  }

  // ----- load -----------------------------------------------------------------------------------

  void (async () => {
    try {
      const loaded = await ctx.api.addressChanges();
      if (!ctx.alive()) return;
      list = loaded;
      draw();
    } catch (err) {
      if (!ctx.alive()) return;
      if (toApiError(err).kind === "offline") {
        ctx.fail(err);
        fill(body, notice("You are offline, and there is no copy of your changes of address on this computer yet. Try again when you are back online.", "move-offline"));
        return;
      }
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
      fill(body);
    }
  })();
}

/** Each change with its status; the officer's reason when it was rejected. */
function statusSection(list: AddressChangeList): HTMLElement | null {
  if (!list.changes.length) return null;
  return h(
    "section",
    { class: "move-section", "aria-labelledby": "move-status-title" },
    h("h2", { class: "section-title", id: "move-status-title" }, "Your changes of address"),
    h(
      "ul",
      { class: "change-list", "data-testid": "change-list" },
      list.changes.map((c) =>
        h(
          "li",
          { class: "change", "data-testid": "address-change", "data-status": c.status },
          summary([
            ["New address", formatAddress(c.address), "change-address"],
            ["Document", c.document_label, "change-document"],
            ["Status", h("strong", { class: `status status-change-${c.status.replace(/_/g, "-")}` }, c.status_label), "change-status"],
            ["Sent", c.submitted_at ? formatDateTime(c.submitted_at) : null],
            ["Decided", c.decided_at ? formatDateTime(c.decided_at) : null],
            ["Reason", c.status === "rejected" && c.officer_reason ? c.officer_reason : null, "officer-reason"],
          ]),
        ),
      ),
    ),
  );
}

// ----- after approval ---------------------------------------------------------------------------

function surrenderPanel(ctx: Ctx, change: AddressChange): HTMLElement {
  const permits = h(
    "ul",
    { class: "surrender-list" },
    change.permits_to_surrender.map((id) => surrenderItem(ctx, id)),
  );
  const buy = action({ id: "buy-new-button", label: "Buy a permit for your new address", onClick: () => ctx.navigate({ name: "buy" }) });
  return h(
    "section",
    { class: "notice notice-important", "aria-labelledby": "surrender-title", "data-testid": "surrender-panel" },
    h("h2", { class: "section-title", id: "surrender-title" }, "Your permits after moving"),
    h(
      "p",
      { "data-testid": "surrender-text" },
      `Your address is now ${formatAddress(change.address)}. Permits for your old address must be cancelled, and new ones bought for your new address.`,
    ),
    permits,
    h("div", { class: "actions" }, buy.wrap),
  );
}

function surrenderItem(ctx: Ctx, id: string): HTMLElement {
  const li = h("li", { class: "surrender-permit", "data-testid": "surrender-permit", "data-permit-id": id }, h("p", { class: "loading" }, "Loading the permit…"));

  const draw = (card: PermitCard | null, quote: RefundQuote | null, quoteNote: string | null) => {
    const cancel = action({
      id: `surrender-${id}`,
      label: "Cancel this permit",
      variant: "warning",
      needsCouncil: true,
      blockedReason: card && !card.can_cancel ? "This permit can no longer be cancelled." : null,
      onClick: () => ctx.navigate({ name: "cancel", id }),
    });
    fill(
      li,
      card
        ? [
            h("div", { class: "detail-head" }, plate(card.permit.registration)),
            summary([
              ["Permit", card.permit.permit_type_label, "surrender-type"],
              ["Registration", card.permit.registration, "surrender-registration"],
              ["Old address", formatAddress(card.permit.address), "surrender-address"],
              ["Ends", formatDate(card.permit.expires_on)],
              ["Refund", quote ? refundSentence(quote) : quoteNote, "surrender-refund"],
            ]),
          ]
        : h("p", null, "Permit ", id),
      h("div", { class: "actions" }, cancel.wrap),
    );
  };

  void (async () => {
    let card: PermitCard | null = ctx.permits()?.permits.find((c) => c.permit.id === id) ?? null;
    if (!card) {
      try {
        card = await ctx.api.permitDetail(id);
      } catch {
        card = null;
      }
    }
    if (!ctx.alive()) return;
    draw(card, null, "Asking the council…");
    try {
      const quote = await ctx.api.refundQuote(id);
      if (!ctx.alive()) return;
      draw(card, quote, null);
    } catch (err) {
      if (!ctx.alive()) return;
      const e = toApiError(err);
      if (e.kind === "unauthorised") {
        ctx.fail(err);
        return;
      }
      if (e.kind === "offline") ctx.fail(err);
      draw(card, null, e.kind === "offline" ? "Needs a connection to the council" : e.message);
    }
  })();
  return li;
}
