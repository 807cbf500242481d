/** Changing a permit: edit the registration, renew, cancel with a refund. */

import type { PermitCard } from "../bindings/PermitCard";
import type { RefundQuote } from "../bindings/RefundQuote";
import { action, alertBox, isBlocked, plate, screenHeading, setBusy, statusLabel, summary } from "../components";
import { add, fill, h } from "../dom";
import { addDays, formatAddress, formatDate, formatMoney, formatPrice, formatZone, payButtonLabel, toNumber } from "../format";
import type { Route } from "../routes";
import type { Ctx } from "../screen";
import { backButton } from "./detail";
import { runPayment } from "./payflow";
import { registrationField } from "./registration";

function permitId(route: Route): string | null {
  return "id" in route ? route.id : null;
}

/** Loads the permit, showing an error (and nothing else) if that fails. */
async function load(ctx: Ctx, id: string, error: ReturnType<typeof alertBox>): Promise<PermitCard | null> {
  try {
    const card = await ctx.api.permitDetail(id);
    return ctx.alive() ? card : null;
  } catch (err) {
    if (!ctx.alive()) return null;
    const msg = ctx.fail(err);
    if (msg) error.set(msg);
    return null;
  }
}

// ----- edit registration ------------------------------------------------------------------------

export function editScreen(ctx: Ctx, main: HTMLElement): void {
  const id = permitId(ctx.route);
  if (!id) return;
  const error = alertBox("edit-error");
  const body = h("div", { class: "edit" }, h("p", { class: "loading" }, "Loading the permit…"));
  add(main, backButton(ctx, "Back to the permit", { name: "detail", id }), screenHeading("Change the registration"), error.el, body);

  void (async () => {
    const card = await load(ctx, id, error);
    if (!card) {
      fill(body);
      return;
    }
    const reg = registrationField(ctx, { label: "New vehicle registration number" });
    const save = action({ id: "save-registration-button", label: "Save new registration", type: "submit", needsCouncil: true });
    const form = h(
      "form",
      { class: "form", novalidate: true, id: "edit-form", "aria-labelledby": "screen-heading" },
      reg.wrap,
      h("div", { class: "actions" }, save.wrap),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (isBlocked(save.button)) return;
      error.set(null);
      const canonical = await reg.settle();
      if (!ctx.alive() || !canonical) return;
      if (canonical === card.permit.registration) {
        error.set(`The permit is already for ${canonical}. Enter a different registration.`);
        reg.input.focus();
        return;
      }
      setBusy(save.button, true, "Saving…");
      try {
        const updated = await ctx.api.editRegistration(id, canonical);
        if (!ctx.alive()) return;
        // The permit screen draws the app's copy at once: make it the changed permit, so the
        // old plate is never shown under "Registration changed to …".
        const view = ctx.permits();
        if (view) ctx.setPermits({ ...view, permits: view.permits.map((c) => (c.permit.id === id ? updated : c)) });
        void ctx.syncInBackground();
        ctx.navigate({ name: "detail", id }, `Registration changed to ${updated.permit.registration}.`);
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(save.button, false);
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
      }
    });
    fill(
      body,
      h("p", { class: "lead" }, `${card.permit.permit_type_label}, now for:`),
      plate(card.permit.registration, "current-registration"),
      h("p", null, "The new registration applies straight away. The permit's dates and zone stay the same."),
      form,
    );
  })();
}

// ----- renew ------------------------------------------------------------------------------------

export function renewScreen(ctx: Ctx, main: HTMLElement): void {
  const id = permitId(ctx.route);
  if (!id) return;
  const error = alertBox("renew-error");
  const body = h("div", { class: "renew" }, h("p", { class: "loading" }, "Loading the permit…"));
  add(main, backButton(ctx, "Back to the permit", { name: "detail", id }), screenHeading("Renew your permit"), error.el, body);

  void (async () => {
    const card = await load(ctx, id, error);
    if (!card) {
      fill(body);
      return;
    }
    let price: number | null = null;
    let months = 12;
    try {
      const info = await ctx.councilInfo();
      const t = info.permit_types.find((x) => x.permit_type === card.permit.permit_type);
      if (t) {
        price = toNumber(t.price_pence);
        months = t.term_months;
      }
    } catch {
      /* the price is shown by the payment page anyway */
    }
    if (!ctx.alive()) return;
    const p = card.permit;
    const confirm = action({
      id: "confirm-renew-button",
      label: price === null ? "Renew" : price === 0 ? "Renew for free" : `${payButtonLabel(price)} and renew`,
      needsCouncil: true,
      blockedReason: card.can_renew ? null : card.renewal_note ?? "This permit cannot be renewed now.",
      onClick: (button) => void renew(button),
    });
    fill(
      body,
      h("div", { class: "detail-head" }, plate(p.registration), statusLabel(card)),
      summary([
        ["Permit", p.permit_type_label],
        ["Zone", formatZone(p.zone)],
        ["Address", formatAddress(p.address)],
        ["Current permit ends", formatDate(p.expires_on)],
        ["New permit starts", `${formatDate(addDays(p.expires_on, 1))}, for ${months} months`, "renew-starts"],
        ["Price", price === null ? null : formatPrice(price), "renew-price"],
        ["Renewal", card.renewal_note],
      ]),
      h("div", { class: "actions" }, confirm.wrap),
    );

    async function renew(button: HTMLButtonElement): Promise<void> {
      error.set(null);
      setBusy(button, true, "Please wait…");
      try {
        const purchase = await ctx.api.renewPermit(id!);
        if (!ctx.alive()) return;
        runPayment(ctx, main, purchase, { onRetry: () => ctx.navigate({ name: "renew", id: id! }) });
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(button, false);
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
      }
    }
  })();
}

// ----- cancel -----------------------------------------------------------------------------------

/** "Cancel permit and refund £12.00", or just "Cancel permit" when nothing comes back. */
export function cancelButtonLabel(refundPence: number): string {
  return refundPence > 0 ? `Cancel permit and refund ${formatMoney(refundPence)}` : "Cancel permit";
}

export function refundSentence(q: Pick<RefundQuote, "refund_pence" | "paid_pence">): string {
  const refund = toNumber(q.refund_pence);
  if (refund > 0) return `You will get back ${formatMoney(refund)}`;
  return toNumber(q.paid_pence) > 0 ? "You will get nothing back" : "This permit was free, so there is nothing to refund";
}

export function cancelScreen(ctx: Ctx, main: HTMLElement): void {
  const id = permitId(ctx.route);
  if (!id) return;
  const error = alertBox("cancel-error");
  const body = h("div", { class: "cancel" }, h("p", { class: "loading" }, "Asking the council what you would get back…"));
  add(main, backButton(ctx, "Back to the permit", { name: "detail", id }), screenHeading("Cancel your permit"), error.el, body);

  const draw = (card: PermitCard, quote: RefundQuote) => {
    const refund = toNumber(quote.refund_pence);
    const p = card.permit;
    const confirm = action({
      id: "confirm-cancel-button",
      label: cancelButtonLabel(refund),
      variant: "warning",
      needsCouncil: true,
      onClick: (button) => void cancel(button, refund),
    });
    const keep = action({ id: "keep-permit-button", label: "Keep my permit", variant: "secondary", onClick: () => ctx.navigate({ name: "detail", id }) });
    fill(
      body,
      h("div", { class: "detail-head" }, plate(p.registration), statusLabel(card)),
      h("p", { class: "refund-amount", "data-testid": "refund-amount" }, refundSentence(quote)),
      summary([
        ["Permit", p.permit_type_label],
        ["You paid", formatPrice(quote.paid_pence), "refund-paid"],
        ["Refund", formatMoney(refund), "refund-value"],
        ["Permit stops on", formatDate(quote.cancel_on), "cancel-on"],
      ]),
      h("p", { class: "hint", "data-testid": "refund-terms" }, "Refund terms: ", quote.refund_terms),
      h("p", null, "Once cancelled, the permit cannot be used again. This cannot be undone."),
      h("div", { class: "actions" }, confirm.wrap, keep.wrap),
    );
  };

  async function cancel(button: HTMLButtonElement, refund: number): Promise<void> {
    error.set(null);
    setBusy(button, true, "Cancelling…");
    try {
      const result = await ctx.api.cancelPermit(id!, refund);
      if (!ctx.alive()) return;
      void ctx.syncInBackground();
      const got = toNumber(result.refund_pence);
      main.replaceChildren(
        screenHeading("Your permit is cancelled"),
        h(
          "div",
          { class: "notice notice-success", "data-testid": "cancel-result" },
          h("p", null, `The permit for ${result.permit.registration} (reference ${result.permit.reference}) is cancelled.`),
          h("p", null, got > 0 ? `The council will refund ${formatMoney(got)} to the card you paid with.` : "There is no refund."),
        ),
        h(
          "div",
          { class: "actions" },
          action({ id: "done-button", label: "Back to your permits", onClick: () => ctx.navigate({ name: "permits" }) }).wrap,
        ),
      );
      ctx.setTitle("Your permit is cancelled");
      ctx.focusHeading();
    } catch (err) {
      if (!ctx.alive()) return;
      setBusy(button, false);
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
      // The quote may have changed (e.g. the day turned): show the council's new figure.
      void start();
    }
  }

  async function start(): Promise<void> {
    const card = await load(ctx, id!, error);
    if (!card) {
      fill(body);
      return;
    }
    try {
      const quote = await ctx.api.refundQuote(id!);
      if (!ctx.alive()) return;
      draw(card, quote);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
      fill(body);
    }
  }
  void start();
}
