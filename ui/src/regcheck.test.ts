import { describe, expect, it } from "vitest";
import { RegistrationChecker, regHint, type RegCheckState, type Timers } from "./regcheck";

/** Timers run by hand. */
function manualTimers() {
  let next = 1;
  const pending = new Map<number, () => void>();
  const timers: Timers = {
    set: (fn) => {
      const id = next++;
      pending.set(id, fn);
      return id;
    },
    clear: (h) => {
      pending.delete(h as number);
    },
  };
  return {
    timers,
    pending: () => pending.size,
    runAll: () => {
      const fns = [...pending.values()];
      pending.clear();
      fns.forEach((f) => f());
    },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function fakeCheck(calls: string[]) {
  return async (typed: string) => {
    calls.push(typed);
    const compact = typed.replace(/\s+/g, "").toUpperCase();
    if (/^[A-Z]{2}\d{2}[A-Z]{3}$/.test(compact)) return `${compact.slice(0, 4)} ${compact.slice(4)}`;
    throw { kind: "validation", message: "That is not a UK registration number." };
  };
}

describe("RegistrationChecker", () => {
  it("waits for typing to pause and then shows the canonical form", async () => {
    const t = manualTimers();
    const calls: string[] = [];
    const states: RegCheckState[] = [];
    const c = new RegistrationChecker(fakeCheck(calls), (s) => states.push(s), t.timers);
    c.input("a");
    c.input("ab1");
    c.input("ab12cde");
    expect(calls).toEqual([]);
    expect(t.pending()).toBe(1); // earlier keystrokes' timers were cancelled
    expect(c.current).toEqual({ kind: "checking", typed: "ab12cde" });
    t.runAll();
    await flush();
    expect(calls).toEqual(["ab12cde"]);
    expect(c.current).toEqual({ kind: "valid", typed: "ab12cde", canonical: "AB12 CDE" });
    expect(regHint(c.current)).toBe("Will be shown as AB12 CDE");
    expect(states[states.length - 1]).toEqual(c.current);
  });

  it("shows the council's reason for a registration it refuses", async () => {
    const t = manualTimers();
    const c = new RegistrationChecker(fakeCheck([]), () => {}, t.timers);
    c.input("hello");
    t.runAll();
    await flush();
    expect(c.current.kind).toBe("invalid");
    expect(regHint(c.current)).toBe("That is not a UK registration number.");
  });

  it("drops an answer that arrives after a newer keystroke", async () => {
    const t = manualTimers();
    let release: (v: string) => void = () => {};
    const slow = (typed: string) =>
      typed === "old" ? new Promise<string>((r) => (release = r)) : Promise.resolve("AB12 CDE");
    const c = new RegistrationChecker(slow, () => {}, t.timers);
    c.input("old");
    t.runAll(); // the slow check for "old" starts
    c.input("ab12cde");
    t.runAll();
    await flush();
    expect(c.current).toEqual({ kind: "valid", typed: "ab12cde", canonical: "AB12 CDE" });
    release("OL D");
    await flush();
    expect(c.current).toEqual({ kind: "valid", typed: "ab12cde", canonical: "AB12 CDE" });
  });

  it("goes back to the example when cleared and checks at once on flush", async () => {
    const t = manualTimers();
    const calls: string[] = [];
    const c = new RegistrationChecker(fakeCheck(calls), () => {}, t.timers);
    c.input("ab");
    c.input("  ");
    expect(c.current).toEqual({ kind: "empty" });
    expect(t.pending()).toBe(0);
    expect(regHint(c.current)).toBe("For example AB12 CDE");
    const final = await c.flush("xy99 zzz");
    expect(final).toEqual({ kind: "valid", typed: "xy99 zzz", canonical: "XY99 ZZZ" });
    await c.flush("xy99 zzz");
    expect(calls).toEqual(["xy99 zzz"]); // a settled answer is not asked again
  });

  it("marks a check that could not run as unknown, not invalid", async () => {
    const t = manualTimers();
    const c = new RegistrationChecker(() => Promise.reject({ kind: "internal", message: "Boom." }), () => {}, t.timers);
    c.input("AB12CDE");
    t.runAll();
    await flush();
    expect(c.current).toEqual({ kind: "unknown", typed: "AB12CDE", reason: "Boom." });
  });

  it("does nothing after dispose", async () => {
    const t = manualTimers();
    const calls: string[] = [];
    const c = new RegistrationChecker(fakeCheck(calls), () => {}, t.timers);
    c.input("ab12cde");
    c.dispose();
    expect(t.pending()).toBe(0);
    c.input("ab12cdf");
    expect(t.pending()).toBe(0);
    expect(calls).toEqual([]);
  });
});
