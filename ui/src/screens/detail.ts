/** One permit: every field, its history and what can be done with it; and the print view. */

import type { PermitCard } from "../bindings/PermitCard";
import { action, alertBox, flashNotice, notice, plate, renewalBadge, screenHeading, statusLabel, summary } from "../components";
import { add, fill, h } from "../dom";
import { formatAddress, formatDate, formatDateTime, formatMoney, formatPrice, formatZone, toNumber } from "../format";
import type { Ctx } from "../screen";
import { continuePaymentAction, daysLeftText, payUntilText, validityNote } from "./permits";

/** Loads a permit for a screen: from what the app already has, then from the council. */
export async function loadCard(ctx: Ctx, id: string): Promise<PermitCard | null> {
  return ctx.api.permitDetail(id);
}

export function backButton(ctx: Ctx, label = "Back to your permits", route = { name: "permits" } as Parameters<Ctx["navigate"]>[0]): HTMLElement {
  return h(
    "button",
    { type: "button", class: "button button-back", id: "back-button", "data-testid": "back-button", onclick: () => ctx.navigate(route) },
    label,
  );
}

function editBlockedReason(card: PermitCard): string | null {
  if (card.can_edit_registration) return null;
  return `This permit is ${card.status_label.toLowerCase()}, so its registration cannot be changed.`;
}

function renewBlockedReason(card: PermitCard): string | null {
  if (card.can_renew) return null;
  return card.renewal_note ?? `This permit is ${card.status_label.toLowerCase()}, so it cannot be renewed.`;
}

export function detailScreen(ctx: Ctx, main: HTMLElement): void {
  if (ctx.route.name !== "detail") return;
  const id = ctx.route.id;
  const heading = screenHeading("Your permit");
  const body = h("div", { class: "detail", "data-testid": "permit-detail" }, h("p", { class: "loading" }, "Loading the permit…"));
  const error = alertBox("detail-error");
  add(main, backButton(ctx), heading, ctx.flash ? flashNotice(ctx.flash) : null, error.el, body);

  // Show what is cached at once, if the list has it.
  const cached = ctx.permits()?.permits.find((c) => c.permit.id === id);
  if (cached) draw(cached);

  function draw(card: PermitCard): void {
    const p = card.permit;
    heading.textContent = p.permit_type_label;
    ctx.setTitle(p.permit_type_label);
    const cover = daysLeftText(card);
    const note = validityNote(card);
    const history = [...p.history].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    fill(
      body,
      h(
        "div",
        { class: "detail-head" },
        plate(p.registration, "detail-registration"),
        h("div", { class: "permit-card-badges" }, statusLabel(card), card.renewal_open ? renewalBadge() : null),
      ),
      card.status === "awaiting_payment"
        ? notice(
            [
              "This permit is not valid yet: it is waiting for the council to confirm the payment.",
              payUntilText(card) ?? "",
            ]
              .filter(Boolean)
              .join(" "),
            "awaiting-note",
            "notice-important",
          )
        : note
          ? notice(note, "validity-note", "notice-important")
          : null,
      h(
        "div",
        { class: "detail-grid" },
        summary(
          [
            ["Reference", p.reference, "detail-reference"],
            ["Registration", p.registration],
            ["Permit type", p.permit_type_label],
            ["Address", formatAddress(p.address), "detail-address"],
            ["Zone", formatZone(p.zone), "detail-zone"],
            ["Starts", formatDate(p.starts_on), "detail-starts"],
            ["Expires", formatDate(p.expires_on), "detail-expires"],
            ["Days left", cover, "detail-days-left"],
            ["Price", formatPrice(p.price_pence), "detail-price"],
            ["Refunded", p.refund_pence === null ? null : formatMoney(toNumber(p.refund_pence)), "detail-refund"],
            ["Renewal", card.renewal_note, "detail-renewal-note"],
          ],
          "detail-summary",
        ),
        h(
          "section",
          { class: "detail-actions", "aria-labelledby": "actions-title" },
          h("h2", { class: "section-title", id: "actions-title" }, "What you can do"),
          h(
            "div",
            { class: "actions actions-stack" },
            continuePaymentAction(card, () => ctx.navigate({ name: "pay", id }), "detail-continue-payment"),
            action({
              id: "edit-registration-button",
              label: "Edit registration",
              needsCouncil: true,
              blockedReason: editBlockedReason(card),
              onClick: () => ctx.navigate({ name: "edit", id }),
            }).wrap,
            action({
              id: "renew-button",
              label: "Renew",
              needsCouncil: true,
              blockedReason: renewBlockedReason(card),
              onClick: () => ctx.navigate({ name: "renew", id }),
            }).wrap,
            card.can_cancel
              ? action({
                  id: "cancel-button",
                  label: "Cancel permit",
                  variant: "warning",
                  needsCouncil: true,
                  onClick: () => ctx.navigate({ name: "cancel", id }),
                }).wrap
              : null,
            action({ id: "print-button", label: "Print or save", variant: "secondary", onClick: () => ctx.navigate({ name: "print", id }) }).wrap,
          ),
        ),
      ),
      h("h2", { class: "section-title" }, "History"),
      history.length
        ? h(
            "ol",
            { class: "history", "data-testid": "history" },
            history.map((e) =>
              h(
                "li",
                { class: "history-item", "data-testid": "history-entry", "data-kind": e.kind },
                h("span", { class: "history-when" }, formatDateTime(e.at)),
                h("span", { class: "history-what" }, e.detail),
              ),
            ),
          )
        : h("p", null, "Nothing has happened to this permit yet."),
    );
  }

  void (async () => {
    try {
      const card = await loadCard(ctx, id);
      if (!ctx.alive() || !card) return;
      draw(card);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg) {
        error.set(msg);
        if (!cached) fill(body);
      }
    }
  })();
}

/** "Printed 26 November 2026 at 14:05." (the date only under a demo clock, whose time runs apart). */
function printedOn(ctx: Ctx): string {
  const snap = ctx.snapshot();
  if (snap?.clock_is_set) return `Printed on ${formatDate(snap.today)} (demo clock).`;
  return `Printed ${formatDateTime(new Date().toISOString())}.`;
}

/** A print-friendly confirmation: only what a warden or the resident needs. */
export function printScreen(ctx: Ctx, main: HTMLElement): void {
  if (ctx.route.name !== "print") return;
  const id = ctx.route.id;
  const body = h("div", { class: "print-view", "data-testid": "print-view" });
  const error = alertBox("print-error");
  const heading = screenHeading("Parking permit confirmation");
  add(main,
    h(
      "div",
      { class: "no-print actions" },
      backButton(ctx, "Back to the permit", { name: "detail", id }),
      action({ id: "print-again-button", label: "Print or save as PDF", variant: "secondary", onClick: () => window.print() }).wrap,
    ),
    heading,
    error.el,
    body,
  );

  let councilName = ctx.snapshot()?.embedded_council ? "Demo council" : "Your council";
  let shown: PermitCard | null = null;
  void ctx.councilInfo().then(
    (info) => {
      councilName = ctx.snapshot()?.embedded_council ? `${info.name} (demo)` : info.name;
      if (shown && ctx.alive()) draw(shown);
    },
    () => {},
  );

  function draw(card: PermitCard): void {
    shown = card;
    const p = card.permit;
    fill(
      body,
      h("p", { class: "print-council", "data-testid": "print-council" }, councilName),
      plate(p.registration, "print-registration"),
      summary(
        [
          ["Permit", p.permit_type_label],
          ["Registration", p.registration],
          ["Zone", formatZone(p.zone)],
          ["Address", formatAddress(p.address)],
          ["Valid from", formatDate(p.starts_on)],
          ["Valid until", formatDate(p.expires_on)],
          ["Status", card.status_label],
          ["Reference", p.reference, "print-reference"],
        ],
        "print-summary",
      ),
      h("p", { class: "print-foot" }, `${printedOn(ctx)} The council's records are the final word on whether a permit is valid.`),
    );
  }

  const cached = ctx.permits()?.permits.find((c) => c.permit.id === id);
  if (cached) draw(cached);
  void (async () => {
    try {
      const card = await ctx.api.permitDetail(id);
      if (!ctx.alive()) return;
      draw(card);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg && !cached) error.set(msg);
      if (!cached) return;
    }
    // Give the webview a moment to lay the page out before the print dialog.
    const t = setTimeout(() => {
      if (ctx.alive()) {
        try {
          window.print();
        } catch {
          /* no printing here: the page itself can still be saved */
        }
      }
    }, 300);
    ctx.onLeave(() => clearTimeout(t));
  })();
}
