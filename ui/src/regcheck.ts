/**
 * Checking a registration as it is typed: debounced calls to `check_registration`, answers that
 * arrive out of order are dropped, and the state says what to show under the field. No DOM.
 */

import { toApiError } from "./errors";

export type RegCheckState =
  | { kind: "empty" }
  | { kind: "checking"; typed: string }
  | { kind: "valid"; typed: string; canonical: string }
  | { kind: "invalid"; typed: string; reason: string }
  /** The check itself could not run (e.g. an internal error); the council will check on submit. */
  | { kind: "unknown"; typed: string; reason: string };

export const REG_DEBOUNCE_MS = 300;
export const REG_EXAMPLE = "For example AB12 CDE";

export type Timers = {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
};

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The text under the field for a state. */
export function regHint(state: RegCheckState): string {
  switch (state.kind) {
    case "empty":
      return REG_EXAMPLE;
    case "checking":
      return "Checking…";
    case "valid":
      return `Will be shown as ${state.canonical}`;
    case "invalid":
    case "unknown":
      return state.reason;
  }
}

export class RegistrationChecker {
  private state: RegCheckState = { kind: "empty" };
  private timer: unknown = null;
  private seq = 0;
  private disposed = false;

  constructor(
    private readonly check: (typed: string) => Promise<string>,
    private readonly onChange: (state: RegCheckState) => void,
    private readonly timers: Timers = realTimers,
    private readonly delayMs: number = REG_DEBOUNCE_MS,
  ) {}

  get current(): RegCheckState {
    return this.state;
  }

  /** Call on every input event. */
  input(typed: string): void {
    if (this.disposed) return;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    const seq = ++this.seq;
    if (typed.trim() === "") {
      this.set({ kind: "empty" });
      return;
    }
    this.set({ kind: "checking", typed });
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.run(typed, seq);
    }, this.delayMs);
  }

  /** Checks now (e.g. on submit) and resolves with the final state. */
  async flush(typed: string): Promise<RegCheckState> {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    const seq = ++this.seq;
    if (typed.trim() === "") {
      this.set({ kind: "empty" });
      return this.state;
    }
    if ((this.state.kind === "valid" || this.state.kind === "invalid") && this.state.typed === typed) {
      return this.state;
    }
    this.set({ kind: "checking", typed });
    await this.run(typed, seq);
    return this.state;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  private async run(typed: string, seq: number): Promise<void> {
    let next: RegCheckState;
    try {
      const canonical = await this.check(typed);
      next = { kind: "valid", typed, canonical };
    } catch (err) {
      const e = toApiError(err);
      next = e.kind === "validation" ? { kind: "invalid", typed, reason: e.message } : { kind: "unknown", typed, reason: e.message };
    }
    if (this.disposed || seq !== this.seq) return; // a newer keystroke won
    this.set(next);
  }

  private set(state: RegCheckState): void {
    this.state = state;
    this.onChange(state);
  }
}
