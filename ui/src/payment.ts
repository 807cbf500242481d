/**
 * Waiting for a payment: poll `payment_status` every 1.5 s until the council says it succeeded
 * or failed. Never trusts the payment page; only the council's answer ends the wait. No DOM.
 */

import type { ApiError } from "./bindings/ApiError";
import type { Payment } from "./bindings/Payment";
import { toApiError } from "./errors";
import { realTimers, type Timers } from "./regcheck";

export const PAYMENT_POLL_MS = 1500;

export type PaymentWatch = {
  phase: "waiting" | "succeeded" | "failed" | "stopped";
  /** The resident closed the payment window while the payment was still open. */
  windowClosed: boolean;
  payment: Payment | null;
  /** The last check's error (offline keeps waiting; unauthorised stops). */
  error: ApiError | null;
};

const STOPPING: ReadonlySet<ApiError["kind"]> = new Set(["unauthorised", "forbidden", "not_found"]);

export class PaymentWatcher {
  private state: PaymentWatch = { phase: "waiting", windowClosed: false, payment: null, error: null };
  private timer: unknown = null;
  private inFlight = false;
  private again = false;

  constructor(
    private readonly paymentId: string,
    private readonly getStatus: (paymentId: string) => Promise<Payment>,
    private readonly onUpdate: (state: PaymentWatch) => void,
    private readonly timers: Timers = realTimers,
    private readonly intervalMs: number = PAYMENT_POLL_MS,
  ) {}

  get current(): PaymentWatch {
    return this.state;
  }

  start(): void {
    this.schedule();
  }

  /** "Check again": ask now instead of waiting for the next poll. */
  checkNow(): Promise<void> {
    if (this.state.phase !== "waiting") return Promise.resolve();
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    return this.poll();
  }

  /** The payment window was closed; check at once so a payment just made is seen. */
  windowClosed(): Promise<void> {
    if (this.state.phase !== "waiting") return Promise.resolve();
    this.update({ windowClosed: true });
    return this.checkNow();
  }

  /** The window was opened again. */
  windowReopened(): void {
    if (this.state.phase === "waiting") this.update({ windowClosed: false });
  }

  stop(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    if (this.state.phase === "waiting") this.state = { ...this.state, phase: "stopped" };
  }

  private schedule(): void {
    if (this.state.phase !== "waiting") return;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.poll();
    }, this.intervalMs);
  }

  private async poll(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    try {
      const payment = await this.getStatus(this.paymentId);
      if (this.state.phase !== "waiting") return;
      if (payment.status === "succeeded") {
        this.update({ phase: "succeeded", payment, error: null });
      } else if (payment.status === "failed") {
        this.update({ phase: "failed", payment, error: null });
      } else {
        this.update({ payment, error: null });
      }
    } catch (err) {
      if (this.state.phase !== "waiting") return;
      const error = toApiError(err);
      this.update(STOPPING.has(error.kind) ? { phase: "stopped", error } : { error });
    } finally {
      this.inFlight = false;
    }
    if (this.again) {
      this.again = false;
      await this.poll();
      return;
    }
    this.schedule();
  }

  private update(patch: Partial<PaymentWatch>): void {
    this.state = { ...this.state, ...patch };
    this.onUpdate(this.state);
  }
}
