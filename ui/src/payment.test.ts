import { describe, expect, it } from "vitest";
import type { Payment } from "./bindings/Payment";
import { PaymentWatcher, type PaymentWatch } from "./payment";
import type { Timers } from "./regcheck";

function manualTimers() {
  let next = 1;
  const pending = new Map<number, { fn: () => void; ms: number }>();
  const timers: Timers = {
    set: (fn, ms) => {
      const id = next++;
      pending.set(id, { fn, ms });
      return id;
    },
    clear: (h) => void pending.delete(h as number),
  };
  return {
    timers,
    pending,
    tick: () => {
      const all = [...pending.values()];
      pending.clear();
      all.forEach((p) => p.fn());
    },
  };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

function payment(status: Payment["status"], failure_reason: string | null = null): Payment {
  return {
    id: "pay1",
    permit_id: "p1",
    amount_pence: BigInt(4000),
    status,
    next_url: "http://127.0.0.1/pay/x",
    failure_reason,
    created_at: "2026-11-26T14:05:00Z",
    expires_at: "2026-11-26T15:35:00Z",
  };
}

describe("PaymentWatcher", () => {
  it("polls every 1.5 s until the council says the payment succeeded", async () => {
    const t = manualTimers();
    const answers = [payment("created"), payment("created"), payment("succeeded")];
    const asked: string[] = [];
    const seen: PaymentWatch[] = [];
    const w = new PaymentWatcher(
      "pay1",
      async (id) => {
        asked.push(id);
        return answers.shift()!;
      },
      (s) => seen.push(s),
      t.timers,
    );
    w.start();
    expect([...t.pending.values()][0].ms).toBe(1500);
    t.tick();
    await flush();
    expect(w.current.phase).toBe("waiting");
    t.tick();
    await flush();
    t.tick();
    await flush();
    expect(asked).toEqual(["pay1", "pay1", "pay1"]);
    expect(w.current.phase).toBe("succeeded");
    expect(t.pending.size).toBe(0); // stops polling
    expect(seen[seen.length - 1]?.payment?.status).toBe("succeeded");
  });

  it("reports the failure reason and stops", async () => {
    const t = manualTimers();
    const w = new PaymentWatcher("pay1", async () => payment("failed", "Your card was declined."), () => {}, t.timers);
    w.start();
    t.tick();
    await flush();
    expect(w.current.phase).toBe("failed");
    expect(w.current.payment?.failure_reason).toBe("Your card was declined.");
    expect(t.pending.size).toBe(0);
  });

  it("checks at once when the window is closed and remembers it was closed", async () => {
    const t = manualTimers();
    let calls = 0;
    const w = new PaymentWatcher(
      "pay1",
      async () => {
        calls++;
        return payment("created");
      },
      () => {},
      t.timers,
    );
    w.start();
    await w.windowClosed();
    expect(calls).toBe(1);
    expect(w.current.windowClosed).toBe(true);
    expect(w.current.phase).toBe("waiting");
    expect(t.pending.size).toBe(1); // keeps polling
    w.windowReopened();
    expect(w.current.windowClosed).toBe(false);
  });

  it("keeps waiting through offline errors but stops on an ended session", async () => {
    const t = manualTimers();
    const errors = [{ kind: "offline", message: "No connection." }, { kind: "unauthorised", message: "Sign in." }];
    const w = new PaymentWatcher("pay1", () => Promise.reject(errors.shift()), () => {}, t.timers);
    w.start();
    t.tick();
    await flush();
    expect(w.current.phase).toBe("waiting");
    expect(w.current.error?.kind).toBe("offline");
    t.tick();
    await flush();
    expect(w.current.phase).toBe("stopped");
    expect(w.current.error?.kind).toBe("unauthorised");
    expect(t.pending.size).toBe(0);
  });

  it("stops polling when the resident leaves", () => {
    const t = manualTimers();
    const w = new PaymentWatcher("pay1", async () => payment("created"), () => {}, t.timers);
    w.start();
    w.stop();
    expect(t.pending.size).toBe(0);
    expect(w.current.phase).toBe("stopped");
  });
});
