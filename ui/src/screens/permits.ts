/** "Your permits" (Manage Digital Permits): the carer's switch and the permit cards. */

import type { PermitCard } from "../bindings/PermitCard";
import type { PermitFilter } from "../bindings/PermitFilter";
import type { PermitsView } from "../bindings/PermitsView";
import { action, alertBox, flashNotice, plate, renewalBadge, screenHeading, statusLabel, summary, visuallyHidden } from "../components";
import { add, afterPaint, fill, h } from "../dom";
import { formatAddress, formatCoverLeft, formatDate, formatDateTime, formatZone } from "../format";
import { splitCards } from "../permit-order";
import type { Ctx } from "../screen";

const FILTERS: { value: PermitFilter; label: string }[] = [
  { value: "all", label: "All permits" },
  { value: "visitor", label: "Visitor permits" },
  { value: "care", label: "Care permits" },
];

let firstCardMarked = false;

/** For the start-up benchmark: the first time a permit card is on screen. */
function markPermitsVisible(): void {
  if (document.body.dataset.permitsVisible === "true") return;
  document.body.dataset.permitsVisible = "true";
  if (!firstCardMarked) {
    firstCardMarked = true;
    try {
      performance.mark("cached-permits-visible");
    } catch {
      /* marks are best effort */
    }
  }
}

/** Days of cover left, for a live permit only. */
export function daysLeftText(card: PermitCard): string | null {
  return card.status === "active" ? formatCoverLeft(card.days_left) : null;
}

/** Why a permit that looks current cannot be used, if so. */
export function validityNote(card: PermitCard): string | null {
  switch (card.status) {
    case "awaiting_payment":
      return "Not valid until the council confirms the payment.";
    case "payment_failed":
      return "Not valid: the payment failed, so this permit was never issued.";
    default:
      return null;
  }
}

/** Why "Continue to payment" cannot be used, for an awaiting-payment permit (offline is separate). */
export function payBlockedReason(card: PermitCard): string | null {
  if (card.can_pay) return null;
  return "The time to pay for this permit has run out, so it was not issued. Buy it again to pay.";
}

/** "Continue to payment", shown only while a permit awaits payment. */
export function continuePaymentAction(card: PermitCard, onClick: () => void, idPrefix = "continue-payment"): HTMLElement | null {
  if (card.status !== "awaiting_payment") return null;
  return action({
    id: `${idPrefix}-${card.permit.id}`,
    testid: "continue-payment-button",
    label: ["Continue to payment", visuallyHidden(` for ${card.permit.registration}`)],
    needsCouncil: true,
    blockedReason: payBlockedReason(card),
    onClick,
  }).wrap;
}

/** "You can finish paying until 26 November 2026 at 15:35." */
export function payUntilText(card: PermitCard): string | null {
  const link = card.permit.open_payment;
  return card.can_pay && link ? `You can finish paying until ${formatDateTime(link.expires_at)}.` : null;
}

export function permitCardElement(
  card: PermitCard,
  onView: () => void,
  headingLevel: "h2" | "h3" = "h2",
  onPay: (() => void) | null = null,
): HTMLElement {
  const p = card.permit;
  const titleId = `permit-title-${p.id}`;
  const note = validityNote(card);
  return h(
    "article",
    {
      class: `permit-card permit-card-${card.status.replace(/_/g, "-")}`,
      "data-testid": "permit-card",
      "data-permit-id": p.id,
      "data-status": card.status,
      "aria-labelledby": titleId,
    },
    h(
      "div",
      { class: "permit-card-head" },
      h(headingLevel, { class: "permit-card-title", id: titleId, "data-testid": "permit-type" }, p.permit_type_label),
      h("div", { class: "permit-card-badges" }, statusLabel(card), card.renewal_open ? renewalBadge() : null),
    ),
    plate(p.registration),
    note ? h("p", { class: "validity-note", "data-testid": "validity-note" }, note) : null,
    summary([
      ["Address", formatAddress(p.address), "permit-address"],
      ["Zone", formatZone(p.zone), "permit-zone"],
      ["Starts", formatDate(p.starts_on), "permit-starts"],
      ["Expires", formatDate(p.expires_on), "permit-expires"],
      ["Days left", daysLeftText(card), "days-left"],
    ]),
    card.renewal_note ? h("p", { class: "renewal-note", "data-testid": "renewal-note" }, card.renewal_note) : null,
    h(
      "div",
      { class: "actions" },
      onPay ? continuePaymentAction(card, onPay) : null,
      action({
        id: `view-${p.id}`,
        testid: "view-permit",
        label: ["View permit", visuallyHidden(` for ${p.registration}`)],
        variant: "secondary",
        onClick: onView,
      }).wrap,
    ),
  );
}

export function permitsScreen(ctx: Ctx, main: HTMLElement): void {
  const updated = h("p", { class: "last-updated", "data-testid": "last-updated" });
  const listArea = h("div", { class: "permit-area", id: "permit-area" });
  const error = alertBox("permits-error");
  const radios = new Map<PermitFilter, HTMLInputElement>();
  const filterSet = h(
    "fieldset",
    { class: "segmented", "data-testid": "permit-filter" },
    h("legend", { class: "segmented-legend" }, "Show"),
    h(
      "div",
      { class: "segmented-options" },
      FILTERS.map((f) => {
        const input = h("input", {
          type: "radio",
          name: "permit-filter",
          id: `filter-${f.value}`,
          value: f.value,
          class: "segmented-input",
          "data-testid": `filter-${f.value}`,
        });
        input.addEventListener("change", () => {
          if (input.checked) void changeFilter(f.value);
        });
        radios.set(f.value, input);
        return h("div", { class: "segmented-option" }, input, h("label", { for: input.id, class: "segmented-label" }, f.label));
      }),
    ),
  );
  const topActions = h("div", { class: "actions actions-top" });

  async function changeFilter(filter: PermitFilter): Promise<void> {
    try {
      const view = await ctx.api.setPermitFilter(filter);
      if (!ctx.alive()) return;
      error.set(null);
      ctx.setPermits(view);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
    }
  }

  function buyButton(): HTMLElement {
    return action({ id: "buy-button", label: "Buy a permit", needsCouncil: true, onClick: () => ctx.navigate({ name: "buy" }) }).wrap;
  }

  function draw(view: PermitsView): void {
    const focusedId = document.activeElement instanceof HTMLElement && listArea.contains(document.activeElement) ? document.activeElement.id : null;
    for (const [value, input] of radios) input.checked = value === view.filter;
    updated.textContent = view.last_synced_at
      ? `Last updated ${formatDateTime(view.last_synced_at)}`
      : "Not yet updated from the council.";
    const hidden = view.hidden_by_filter;
    const hiddenNote =
      hidden > 0
        ? h(
            "p",
            { class: "hidden-note", "data-testid": "hidden-by-filter" },
            hidden === 1 ? "1 permit is hidden by this choice. " : `${hidden} permits are hidden by this choice. `,
            h("button", { type: "button", class: "button button-link", "data-testid": "show-all-button", onclick: () => void changeFilter("all") }, "Show all permits"),
          )
        : null;
    if (view.permits.length === 0) {
      fill(topActions);
      const what = view.filter === "care" ? "care permits" : view.filter === "visitor" ? "visitor permits" : "permits";
      fill(
        listArea,
        h(
          "div",
          { class: "empty", "data-testid": "empty-state" },
          h("h2", { class: "empty-title" }, hidden > 0 ? `No ${what} to show` : "You have no permits yet"),
          hidden > 0 ? null : h("p", null, "Buy a visitor parking permit for your address. It takes a few minutes."),
          hiddenNote,
          buyButton(),
        ),
      );
    } else {
      fill(topActions, buyButton());
      const { current, earlier } = splitCards(view.permits);
      const list = (cards: PermitCard[], labelId: string, testid: string) =>
        h(
          "ul",
          { class: "permit-list", "aria-labelledby": labelId, "data-testid": testid },
          cards.map((card) =>
            h(
              "li",
              { class: "permit-item" },
              permitCardElement(
                card,
                () => ctx.navigate({ name: "detail", id: card.permit.id }),
                "h3",
                () => ctx.navigate({ name: "pay", id: card.permit.id }),
              ),
            ),
          ),
        );
      fill(
        listArea,
        hiddenNote,
        current.length
          ? h("section", { "aria-labelledby": "current-title" }, h("h2", { class: "list-title", id: "current-title" }, "Current permits"), list(current, "current-title", "permit-list"))
          : h("p", { "data-testid": "no-current" }, "You have no current permits."),
        earlier.length
          ? h(
              "section",
              { "aria-labelledby": "earlier-title" },
              h("h2", { class: "list-title", id: "earlier-title" }, "Earlier and unpaid permits"),
              list(earlier, "earlier-title", "earlier-permit-list"),
            )
          : null,
      );
      markPermitsVisible();
    }
    if (focusedId) document.getElementById(focusedId)?.focus();
  }

  add(main,
    screenHeading("Your permits"),
    ctx.flash ? flashNotice(ctx.flash) : null,
    h("div", { class: "permits-toolbar" }, filterSet, topActions),
    updated,
    error.el,
    listArea,
  );

  ctx.onPermits(draw);
  const known = ctx.permits();
  if (known) draw(known);
  else listArea.append(h("p", { class: "loading" }, "Loading your permits…"));

  // At start-up the app has read the cache already (app_start); any other time, read it now.
  const fromStart = ctx.takePermitsFromStart();
  void (async () => {
    if (!fromStart) {
      try {
        const cached = await ctx.api.cachedPermits();
        if (!ctx.alive()) return;
        // A fresher list may have arrived while the cache was read.
        if (!ctx.permits() || ctx.permits() === known) ctx.setPermits(cached);
      } catch (err) {
        if (!ctx.alive()) return;
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
        return;
      }
    }
    // The first screen's cards are painted before the sync competes with the painting for
    // the processor (docs/BENCHMARKS.md, start-up).
    if (fromStart) await afterPaint();
    if (!ctx.alive()) return;
    const fresh = await ctx.syncInBackground();
    if (!ctx.alive()) return;
    if (!fresh && !ctx.permits()) fill(listArea, h("p", null, "Your permits could not be loaded."));
  })();
}
