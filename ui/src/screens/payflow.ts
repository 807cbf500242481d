/**
 * After `buy_permit` / `renew_permit`: open the council's payment page, wait for the council to
 * confirm, then show the permit (live) or why it failed. Shared by Buy and Renew.
 */

import type { Permit } from "../bindings/Permit";
import type { Purchase } from "../bindings/Purchase";
import { action, alertBox, plate, screenHeading, statusLabel, summary } from "../components";
import { add, fill, h } from "../dom";
import { formatAddress, formatDate, formatMoney, formatZone, toNumber } from "../format";
import { PaymentWatcher, type PaymentWatch } from "../payment";
import type { Ctx } from "../screen";
import { backButton } from "./detail";

export type PayFlowOptions = {
  /** "Try again" after a failed payment. */
  onRetry: () => void;
};

function permitSummary(p: Permit): HTMLElement {
  return summary([
    ["Permit", p.permit_type_label],
    ["Registration", p.registration],
    ["Zone", formatZone(p.zone)],
    ["Address", formatAddress(p.address)],
    ["Starts", formatDate(p.starts_on)],
    ["Expires", formatDate(p.expires_on)],
    ["Reference", p.reference, "result-reference"],
  ]);
}

/** Replaces the screen with the payment wait, and then the result. */
export function runPayment(ctx: Ctx, main: HTMLElement, purchase: Purchase, o: PayFlowOptions): void {
  if (!purchase.payment) {
    void showSuccess(ctx, main, purchase.permit);
    return;
  }
  const payment = purchase.payment;
  const nextUrl = payment.next_url;
  const statusLine = h("p", { class: "pay-status", "data-testid": "payment-status" }, "Waiting for the council to confirm the payment…");
  const live = h("div", { role: "status", class: "pay-live" }, statusLine);
  const closedNote = h("div", { class: "notice notice-important", "data-testid": "payment-window-closed", hidden: true });
  const error = alertBox("payment-error");

  // Opening the window again destroys the old one first, which also reports "closed".
  let openedAt = 0;
  const openWindow = async () => {
    if (!nextUrl) return;
    try {
      openedAt = Date.now();
      await ctx.api.openPayment(nextUrl);
      openedAt = Date.now();
      watcher.windowReopened();
      closedNote.hidden = true;
    } catch (err) {
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
    }
  };

  const checkAgain = action({
    id: "check-payment-button",
    label: "I have closed the payment window – check again",
    variant: "secondary",
    needsCouncil: true,
    onClick: () => void watcher.checkNow(),
  });
  const reopen = action({ id: "reopen-payment-button", label: "Open the payment window again", variant: "secondary", onClick: () => void openWindow() });
  const leave = action({
    id: "abandon-payment-button",
    label: "Stop and go back to your permits",
    variant: "link",
    onClick: () => {
      void ctx.api.closePayment().catch(() => {});
      ctx.navigate(
        { name: "permits" },
        "Not paid yet, so the permit is not valid. You can finish paying with “Continue to payment” on its card while the council keeps the payment open.",
      );
    },
  });

  main.replaceChildren(
    screenHeading("Complete the payment in the payment window"),
    h(
      "p",
      { class: "lead" },
      `The council's payment page has opened in its own window. Pay ${formatMoney(toNumber(payment.amount_pence))} there. Kerbside checks with the council every few seconds and shows your permit here as soon as the payment is confirmed.`,
    ),
    live,
    closedNote,
    error.el,
    h("div", { class: "actions actions-stack" }, checkAgain.wrap, reopen.wrap, leave.wrap),
  );
  ctx.setTitle("Complete the payment");
  ctx.focusHeading();

  const onUpdate = (s: PaymentWatch) => {
    if (!ctx.alive()) return;
    if (s.phase === "succeeded") {
      void ctx.api.closePayment().catch(() => {});
      void showSuccess(ctx, main, purchase.permit);
      return;
    }
    if (s.phase === "failed") {
      void ctx.api.closePayment().catch(() => {});
      showFailure(ctx, main, s.payment?.failure_reason ?? "The payment did not go through.", o);
      return;
    }
    if (s.error) {
      if (s.error.kind === "offline") statusLine.textContent = "You are offline. Kerbside will check the payment again when the council can be reached.";
      else {
        const msg = ctx.fail(s.error);
        if (msg) error.set(msg);
      }
    } else {
      statusLine.textContent = "Waiting for the council to confirm the payment…";
      error.set(null);
    }
    if (s.windowClosed) {
      closedNote.hidden = false;
      fill(
        closedNote,
        h("p", null, h("strong", null, "Payment window closed — not paid yet.")),
        h("p", null, "If you paid, choose “check again”. Otherwise open the payment window again, or stop: no permit is issued until the payment is made."),
      );
    }
  };

  const watcher = new PaymentWatcher(payment.id, (id) => ctx.api.paymentStatus(id), onUpdate);
  ctx.onLeave(() => watcher.stop());
  ctx.onPaymentWindowClosed(() => {
    if (Date.now() - openedAt > 1000) void watcher.windowClosed();
  });
  watcher.start();
  void openWindow();
}

/** The heading once the council has the permit: "live" only when the council says so. */
export function resultTitle(status: string | null): string {
  switch (status) {
    case "active":
      return "Your permit is live";
    case "upcoming":
      return "Your permit is confirmed";
    case null:
      return "Payment confirmed";
    default:
      return "Your permit";
  }
}

async function showSuccess(ctx: Ctx, main: HTMLElement, permit: Permit): Promise<void> {
  const body = h("div", { class: "result", "data-testid": "purchase-success" }, h("p", null, "Fetching your permit from the council…"));
  const heading = screenHeading("Confirming your permit");
  main.replaceChildren(heading, body);
  ctx.setTitle("Confirming your permit");
  ctx.focusHeading();
  void ctx.syncInBackground();
  let shown = permit;
  let statusNode: HTMLElement | null = null;
  let status: string | null = null;
  let startsLater: string | null = null;
  try {
    const card = await ctx.api.permitDetail(permit.id);
    if (!ctx.alive()) return;
    shown = card.permit;
    status = card.status;
    statusNode = statusLabel(card);
    if (card.status === "upcoming") startsLater = `It starts on ${formatDate(card.permit.starts_on)}, the day after your current permit ends.`;
  } catch (err) {
    if (!ctx.alive()) return;
    ctx.fail(err);
  }
  heading.textContent = resultTitle(status);
  ctx.setTitle(heading.textContent);
  fill(
    body,
    h("div", { class: "detail-head" }, plate(shown.registration, "result-registration"), statusNode),
    startsLater ? h("p", null, startsLater) : null,
    permitSummary(shown),
    h(
      "div",
      { class: "actions" },
      action({ id: "view-new-permit-button", label: "View permit", onClick: () => ctx.navigate({ name: "detail", id: shown.id }) }).wrap,
      action({ id: "done-button", label: "Back to your permits", variant: "secondary", onClick: () => ctx.navigate({ name: "permits" }) }).wrap,
    ),
  );
}

function showFailure(ctx: Ctx, main: HTMLElement, reason: string, o: PayFlowOptions): void {
  main.replaceChildren(
    screenHeading("Your payment failed"),
    h(
      "div",
      { class: "notice notice-error", role: "alert", "data-testid": "payment-failed" },
      h("p", { "data-testid": "failure-reason" }, reason),
      h("p", null, "No permit has been issued."),
    ),
    h(
      "div",
      { class: "actions" },
      action({ id: "try-again-button", label: "Try again", needsCouncil: true, onClick: o.onRetry }).wrap,
      action({ id: "done-button", label: "Back to your permits", variant: "secondary", onClick: () => ctx.navigate({ name: "permits" }) }).wrap,
    ),
  );
  ctx.setTitle("Your payment failed");
  ctx.focusHeading();
}

/**
 * "Continue to payment" for a permit awaiting payment (e.g. the answer to its purchase or
 * renewal was lost, so the payment page was never opened): asks the council for the permit's
 * open payment, then the same wait as Buy.
 */
export function continuePaymentScreen(ctx: Ctx, main: HTMLElement): void {
  if (ctx.route.name !== "pay") return;
  const id = ctx.route.id;
  const error = alertBox("continue-payment-error");
  const body = h("p", { class: "loading" }, "Asking the council for the payment page…");
  add(main, backButton(ctx, "Back to the permit", { name: "detail", id }), screenHeading("Continue to payment"), error.el, body);
  ctx.setTitle("Continue to payment");
  void (async () => {
    try {
      const purchase = await ctx.api.continuePayment(id);
      if (!ctx.alive()) return;
      runPayment(ctx, main, purchase, { onRetry: () => ctx.navigate({ name: "buy" }) });
    } catch (err) {
      if (!ctx.alive()) return;
      body.remove();
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
      // The permit may have been paid or failed meanwhile: show what the council now holds.
      void ctx.syncInBackground();
    }
  })();
}
