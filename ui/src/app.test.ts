import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./app";
import { setActionsOnline } from "./components";
import { addressChange, card, FakeCouncil, unpaidCard } from "./testing/fake-council";

function shell(): App {
  document.body.innerHTML = `
    <a class="skip-link" href="#main" id="skip-link">Skip to main content</a>
    <header class="masthead"><nav id="nav" aria-label="Main"></nav></header>
    <main id="main" tabindex="-1">
      <div id="connection" role="status"></div>
      <div id="screen"></div>
      <div id="announcer" aria-live="polite"></div>
    </main>
    <footer><span id="version"></span><span id="council-note"></span><span id="clock-note"></span></footer>`;
  delete document.body.dataset.permitsVisible;
  const el = (id: string) => document.getElementById(id)!;
  return new App({
    nav: el("nav"),
    connection: el("connection"),
    screen: el("screen"),
    announcer: el("announcer"),
    version: el("version"),
    councilNote: el("council-note"),
    clockNote: el("clock-note"),
  });
}

const q = <T extends Element = HTMLElement>(sel: string) => document.querySelector<T>(sel);
const qa = (sel: string) => [...document.querySelectorAll<HTMLElement>(sel)];
const byTestId = <T extends Element = HTMLElement>(id: string) => q<T>(`[data-testid="${id}"]`);
const heading = () => q("h1")?.textContent;

let fake: FakeCouncil;

beforeEach(() => {
  fake = new FakeCouncil();
  window.scrollTo = () => {};
  setActionsOnline(true);
  mockIPC((cmd, args) => fake.handle(cmd, args as Record<string, unknown>), { shouldMockEvents: true });
});

afterEach(() => {
  clearMocks();
});

describe("start-up", () => {
  it("shows the cached permits at once, marks them visible, then shows the synced list", async () => {
    let releaseSync: () => void = () => {};
    const gate = new Promise<void>((r) => (releaseSync = r));
    let syncsAsked = 0;
    mockIPC(
      async (cmd, args) => {
        if (cmd === "sync_permits") {
          syncsAsked += 1;
          await gate;
        }
        return fake.handle(cmd, args as Record<string, unknown>);
      },
      { shouldMockEvents: true },
    );
    const app = shell();
    await app.start();
    // Drawn straight from app_start's answer: no "loading" frame, no second call for them.
    expect(qa('[data-testid="permit-card"]')).toHaveLength(1);
    expect(fake.calls.filter((c) => c.cmd === "app_start")).toHaveLength(1);
    expect(fake.calls.filter((c) => c.cmd === "cached_permits" || c.cmd === "app_snapshot")).toHaveLength(0);
    // The sync waits until the cards are painted, then runs.
    expect(syncsAsked).toBe(0);
    await vi.waitFor(() => expect(syncsAsked).toBe(1));
    expect(document.body.dataset.permitsVisible).toBe("true");
    expect(heading()).toBe("Your permits");
    expect(byTestId("last-updated")?.textContent).toBe("Last updated 26 November 2026 at 14:05");
    releaseSync();
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(2));
    expect(byTestId("last-updated")?.textContent).toBe("Last updated 26 November 2026 at 15:30");
  });

  it("takes the first screen the window asked for while the UI loaded, and asks afresh after that", async () => {
    const early = fake.handle("app_start", {});
    fake.calls.length = 0;
    (window as { __KERBSIDE_START__?: unknown }).__KERBSIDE_START__ = Promise.resolve(early);
    const app = shell();
    await app.start();
    expect(qa('[data-testid="permit-card"]')).toHaveLength(1);
    expect(fake.calls.filter((c) => c.cmd === "app_start")).toHaveLength(0);
    expect((window as { __KERBSIDE_START__?: unknown }).__KERBSIDE_START__).toBeUndefined();
    await app.api.appStart();
    expect(fake.calls.filter((c) => c.cmd === "app_start")).toHaveLength(1);
  });

  it("draws the first screen before its first await when the early answer has already arrived", async () => {
    const early = fake.handle("app_start", {});
    fake.calls.length = 0;
    const w = window as { __KERBSIDE_START__?: unknown; __KERBSIDE_START_ANSWER__?: unknown };
    w.__KERBSIDE_START__ = Promise.resolve(early);
    w.__KERBSIDE_START_ANSWER__ = early;
    const app = shell();
    const started = app.start();
    // Synchronously, before start() has awaited anything: the cards are in the document.
    expect(qa('[data-testid="permit-card"]')).toHaveLength(1);
    expect(heading()).toBe("Your permits");
    await started;
    expect(fake.calls.filter((c) => c.cmd === "app_start")).toHaveLength(0);
    // Taken once, with the early promise: a later call asks afresh.
    expect(w.__KERBSIDE_START_ANSWER__).toBeUndefined();
    expect(w.__KERBSIDE_START__).toBeUndefined();
    await app.api.appStart();
    expect(fake.calls.filter((c) => c.cmd === "app_start")).toHaveLength(1);
  });

  it("says Kerbside could not start when the early answer failed, in the resident's words", async () => {
    const failed = Promise.reject({ kind: "internal", message: "Kerbside could not read its saved data." });
    (window as { __KERBSIDE_START__?: unknown }).__KERBSIDE_START__ = failed;
    failed.catch(() => {});
    const app = shell();
    await app.start();
    expect(heading()).toBe("Kerbside could not start");
    expect(document.querySelector('[role="alert"]')?.textContent).toBe("Kerbside could not read its saved data.");
    expect(fake.calls.filter((c) => c.cmd === "app_start")).toHaveLength(0);
  });

  it("draws each card with its type, plate, zone, dates, status and renewal badge", async () => {
    fake.cached = [
      card({ id: "p1" }),
      card({ id: "p3", registration: "XY99 ZZZ", status: "awaiting_payment", status_label: "Awaiting payment", renewal_note: null }),
    ];
    fake.fresh = [...fake.cached, card({ id: "p2", type: "care", registration: "LM68 XYZ", renewal_open: true, can_renew: true })];
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(3));
    const [live, care, awaiting] = qa('[data-testid="permit-card"]'); // live first, awaiting payment after
    expect(live.querySelector('[data-testid="permit-type"]')?.textContent).toBe("Annual Visitor Permit");
    expect(live.querySelector('[data-testid="permit-registration"]')?.textContent).toBe("AB12 CDE");
    expect(live.querySelector('[data-testid="permit-zone"]')?.textContent).toBe("Zone B (Hazel Street)");
    expect(live.querySelector('[data-testid="permit-address"]')?.textContent).toBe("12 Hazel Street, Leicester LE2 7JN");
    expect(live.querySelector('[data-testid="permit-starts"]')?.textContent).toBe("4 April 2026");
    expect(live.querySelector('[data-testid="permit-expires"]')?.textContent).toBe("3 April 2027");
    expect(live.querySelector('[data-testid="days-left"]')?.textContent).toBe("129 days left");
    expect(live.querySelector('[data-testid="status-label"]')?.textContent).toBe("Live");
    expect(live.querySelector('[data-testid="renewal-badge"]')).toBeNull();
    const awaitingLabel = awaiting.querySelector<HTMLElement>('[data-testid="status-label"]')!;
    expect(awaitingLabel.textContent).toBe("Awaiting payment");
    expect(awaitingLabel.className).toContain("status-awaiting-payment");
    expect(awaitingLabel.className).not.toContain("status-active");
    expect(awaiting.textContent).toContain("Not valid until the council confirms the payment.");
    expect(care.querySelector('[data-testid="renewal-badge"]')?.textContent).toBe("Renewal open");
    expect(care.querySelector("button")?.textContent).toBe("View permit for LM68 XYZ");
  });

  it("goes to sign-in when nobody is signed in, with the demo details", async () => {
    fake.signedIn = false;
    const app = shell();
    await app.start();
    expect(heading()).toBe("Sign in");
    expect(byTestId("demo-credentials")?.textContent).toContain("Demo council: sign in as demo@kerbside.example / kerbside-demo-2026");
    expect(qa("nav button").map((b) => b.textContent)).toEqual(["Sign in", "Create an account", "Your data", "Settings"]);
  });
});

describe("navigation", () => {
  it("offers every action by name and marks the current one", async () => {
    const app = shell();
    await app.start();
    expect(qa("nav button").map((b) => b.textContent)).toEqual([
      "Your permits", "Buy a permit", "Profile", "Moving house", "Your data", "Settings", "Sign out",
    ]);
    expect(q('nav [aria-current="page"]')?.textContent).toBe("Your permits");
    byTestId("nav-data")!.click();
    expect(heading()).toBe("Your data");
    expect(document.activeElement).toBe(q("h1"));
    expect(q('nav [aria-current="page"]')?.textContent).toBe("Your data");
    expect(document.title).toBe("Your data – Kerbside");
    await vi.waitFor(() => expect(byTestId("cache-file")?.textContent).toContain("kerbside.sqlite"));
    expect(byTestId("data-keyring")?.textContent).toContain("never your password");
  });

  it("has exactly one h1 on each screen", async () => {
    const app = shell();
    await app.start();
    for (const id of ["nav-permits", "nav-buy", "nav-profile", "nav-move", "nav-data", "nav-settings"]) {
      byTestId(id)!.click();
      await new Promise((r) => setTimeout(r, 0));
      expect(qa("h1")).toHaveLength(1);
    }
  });

  it("switches the permit type and remembers it through Rust", async () => {
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(2));
    const care = byTestId<HTMLInputElement>("filter-care")!;
    care.checked = true;
    care.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(1));
    expect(fake.calls.find((c) => c.cmd === "set_permit_filter")?.args).toEqual({ filter: "care" });
    expect(byTestId("hidden-by-filter")?.textContent).toContain("1 permit is hidden");
  });

  it("turns start-at-login on and off through Rust, off until the resident chooses it", async () => {
    const app = shell();
    await app.start();
    byTestId("nav-settings")!.click();
    const box = await vi.waitFor(() => {
      const b = byTestId<HTMLInputElement>("autostart-checkbox")!;
      expect(b.disabled).toBe(false);
      return b;
    });
    expect(box.checked).toBe(false);
    box.checked = true;
    box.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(fake.autostart).toBe(true));
    expect(fake.calls.find((c) => c.cmd === "set_autostart")?.args).toEqual({ enabled: true });
    await vi.waitFor(() => expect(byTestId("settings-status")?.textContent).toContain("will start when you sign in"));
  });
});

describe("the permit detail", () => {
  it("shows the renewal note next to a disabled Renew button and lists the history", async () => {
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(qa('[data-testid="view-permit"]').length).toBeGreaterThan(0));
    byTestId("view-permit")!.click();
    await vi.waitFor(() => expect(heading()).toBe("Annual Visitor Permit"));
    const renew = byTestId<HTMLButtonElement>("renew-button")!;
    expect(renew.getAttribute("aria-disabled")).toBe("true");
    expect(byTestId("renew-button-reason")?.textContent).toBe("Renewal opens on 4 March 2027");
    expect(renew.getAttribute("aria-describedby")).toContain("renew-button-reason");
    expect(byTestId<HTMLButtonElement>("edit-registration-button")!.getAttribute("aria-disabled")).toBeNull();
    expect(byTestId("cancel-button")).not.toBeNull();
    expect(qa('[data-testid="history-entry"]').map((e) => e.textContent)).toEqual([
      "4 April 2026 at 10:00Permit bought.",
      "4 April 2026 at 10:01Payment of £40.00 received.",
    ]);
    renew.click();
    expect(heading()).toBe("Annual Visitor Permit"); // a disabled button does nothing
  });
});

describe("offline", () => {
  it("shows the banner, disables council actions with a visible reason and recovers without a restart", async () => {
    fake.offline = true;
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(byTestId("offline-banner")).not.toBeNull());
    expect(byTestId("offline-banner")?.textContent).toContain(
      "You are offline. Showing permits saved on this computer, last updated 26 November 2026 at 14:05.",
    );
    expect(qa('[data-testid="permit-card"]')).toHaveLength(1); // the cached permit stays
    const buy = byTestId<HTMLButtonElement>("buy-button")!;
    expect(buy.getAttribute("aria-disabled")).toBe("true");
    const note = document.getElementById("buy-button-offline")!;
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe("Needs a connection to the council");
    expect(buy.getAttribute("aria-describedby")).toContain("buy-button-offline");
    buy.click();
    expect(heading()).toBe("Your permits");

    fake.offline = false;
    byTestId("offline-retry")!.click();
    await vi.waitFor(() => expect(byTestId("offline-banner")).toBeNull());
    expect(byTestId<HTMLButtonElement>("buy-button")!.getAttribute("aria-disabled")).toBeNull();
    expect(document.getElementById("buy-button-offline")!.hidden).toBe(true);
    expect(qa('[data-testid="permit-card"]')).toHaveLength(2);
  });

  it("retries the sync every 15 seconds while offline", async () => {
    vi.useFakeTimers();
    try {
      fake.offline = true;
      const app = shell();
      await app.start();
      await vi.waitFor(() => expect(byTestId("offline-banner")).not.toBeNull());
      const syncs = () => fake.calls.filter((c) => c.cmd === "sync_permits").length;
      const before = syncs();
      await vi.advanceTimersByTimeAsync(15_000);
      expect(syncs()).toBe(before + 1);
      fake.offline = false;
      await vi.advanceTimersByTimeAsync(15_000);
      expect(byTestId("offline-banner")).toBeNull();
      const after = syncs();
      await vi.advanceTimersByTimeAsync(45_000);
      expect(syncs()).toBe(after); // stops once back online
    } finally {
      vi.useRealTimers();
    }
  });

  it("follows connection-changed events", async () => {
    const app = shell();
    await app.start();
    // The permits screen's own sync (which reaches the council) settles first.
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(2));
    await emit("connection-changed", { online: false });
    await vi.waitFor(() => expect(byTestId("offline-banner")).not.toBeNull());
    await emit("connection-changed", { online: true });
    await vi.waitFor(() => expect(byTestId("offline-banner")).toBeNull());
  });
});

describe("an ended session", () => {
  it("goes to sign-in with the message, then back to the screen the resident was on", async () => {
    const app = shell();
    await app.start();
    fake.expireSessionOn.add("get_profile");
    byTestId("nav-profile")!.click();
    await vi.waitFor(() => expect(heading()).toBe("Sign in"));
    expect(byTestId("session-notice")?.textContent).toBe("Your session has ended. Sign in again to continue.");
    byTestId<HTMLInputElement>("sign-in-email")!.value = "demo@kerbside.example";
    byTestId<HTMLInputElement>("sign-in-password")!.value = "wrong";
    q<HTMLFormElement>("#sign-in-form")!.requestSubmit();
    await vi.waitFor(() => expect(byTestId("sign-in-error")?.textContent).toBe("Wrong email or password."));
    expect(heading()).toBe("Sign in");
    byTestId<HTMLInputElement>("sign-in-password")!.value = "kerbside-demo-2026";
    q<HTMLFormElement>("#sign-in-form")!.requestSubmit();
    await vi.waitFor(() => expect(heading()).toBe("Profile"));
    await vi.waitFor(() => expect(byTestId<HTMLInputElement>("profile-name")?.value).toBe("Sam Patel"));
  });

  it("shows the council's refusal after too many attempts on the form, even with the right password", async () => {
    fake.signedIn = false;
    fake.signInRefusal = "Too many sign-in attempts for this account. Try again after 10:45.";
    const app = shell();
    await app.start();
    byTestId<HTMLInputElement>("sign-in-email")!.value = "demo@kerbside.example";
    byTestId<HTMLInputElement>("sign-in-password")!.value = "kerbside-demo-2026";
    q<HTMLFormElement>("#sign-in-form")!.requestSubmit();
    await vi.waitFor(() =>
      expect(byTestId("sign-in-error")?.textContent).toBe("Too many sign-in attempts for this account. Try again after 10:45."),
    );
    expect(heading()).toBe("Sign in");
    expect(byTestId<HTMLButtonElement>("sign-in-button")?.disabled).toBe(false);
  });

  it("links field errors to their inputs", async () => {
    fake.signedIn = false;
    const app = shell();
    await app.start();
    q<HTMLFormElement>("#sign-in-form")!.requestSubmit();
    const email = byTestId<HTMLInputElement>("sign-in-email")!;
    expect(email.getAttribute("aria-invalid")).toBe("true");
    expect(email.getAttribute("aria-describedby")).toContain("sign-in-email-error");
    expect(document.getElementById("sign-in-email-error")?.textContent).toContain("Enter your email address");
    expect(document.activeElement).toBe(email);
  });
});

describe("events", () => {
  it("redraws the list when permits-updated arrives", async () => {
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(2));
    fake.filter = "all";
    await emit("permits-updated", fake.view([card({ id: "p9", registration: "GH51 JKL" })]));
    await vi.waitFor(() => expect(qa('[data-testid="permit-card"]')).toHaveLength(1));
    expect(byTestId("permit-registration")?.textContent).toBe("GH51 JKL");
  });

  it("opens the permit a clicked renewal notification is about", async () => {
    const app = shell();
    await app.start();
    byTestId("nav-data")!.click();
    await emit("open-permit", "p1");
    await vi.waitFor(() => expect(heading()).toBe("Annual Visitor Permit"));
    expect(byTestId("renew-button")).not.toBeNull();
  });

  it("asks a signed-out resident to sign in, then opens the notified permit", async () => {
    fake.signedIn = false;
    const app = shell();
    await app.start();
    await emit("open-permit", "p1");
    expect(heading()).toBe("Sign in");
    byTestId<HTMLInputElement>("sign-in-email")!.value = "demo@kerbside.example";
    byTestId<HTMLInputElement>("sign-in-password")!.value = "kerbside-demo-2026";
    q<HTMLFormElement>("#sign-in-form")!.requestSubmit();
    await vi.waitFor(() => expect(heading()).toBe("Annual Visitor Permit"));
    expect(byTestId("renew-button")).not.toBeNull();
  });
});

async function typeInto(input: HTMLInputElement | HTMLTextAreaElement, text: string): Promise<void> {
  input.value = text;
  input.dispatchEvent(new Event("input"));
}

const submitForm = () => q<HTMLFormElement>("form")!.requestSubmit();

describe("buying a permit", () => {
  it("walks the four steps, checks the registration as typed and waits for the council to confirm payment", async () => {
    fake.paymentAnswers = ["created", "succeeded"];
    const app = shell();
    await app.start();
    byTestId("nav-buy")!.click();
    await vi.waitFor(() => expect(byTestId("step-counter")?.textContent).toBe("Buy a permit: Step 1 of 4"));
    expect(heading()).toBe("Choose a permit");
    expect(byTestId("type-annual_visitor-price")?.textContent).toBe("£40.00");
    expect(byTestId("type-care-price")?.textContent).toBe("Free");
    submitForm();
    await vi.waitFor(() => expect(byTestId("step-error")?.textContent).toBe("Choose the permit you want."));
    const visitor = byTestId<HTMLInputElement>("type-annual_visitor")!;
    visitor.checked = true;
    visitor.dispatchEvent(new Event("change"));
    submitForm();
    await vi.waitFor(() => expect(byTestId("step-counter")?.textContent).toContain("Step 2 of 4"));
    expect(document.activeElement).toBe(q("h1"));
    expect(byTestId("eligibility-zone")?.textContent).toBe("Zone B (Hazel Street)");
    submitForm();
    await vi.waitFor(() => expect(byTestId("step-counter")?.textContent).toContain("Step 3 of 4"));
    const reg = byTestId<HTMLInputElement>("registration-input")!;
    await typeInto(reg, "hello");
    await vi.waitFor(() => expect(byTestId("registration-hint")?.textContent).toBe("That is not a UK registration number."));
    expect(reg.getAttribute("aria-invalid")).toBe("true");
    await typeInto(reg, "xy99zzz");
    await vi.waitFor(() => expect(byTestId("registration-hint")?.textContent).toBe("Will be shown as XY99 ZZZ"));
    expect(reg.getAttribute("aria-describedby")).toContain("registration-hint");
    submitForm();
    await vi.waitFor(() => expect(byTestId("step-counter")?.textContent).toContain("Step 4 of 4"));
    await vi.waitFor(() => expect(byTestId("review-price")?.textContent).toBe("£40.00"));
    expect(byTestId("review-registration")?.textContent).toBe("XY99 ZZZ");
    expect(byTestId("review-starts")?.textContent).toBe("26 November 2026");
    const pay = byTestId<HTMLButtonElement>("pay-button")!;
    expect(pay.textContent).toBe("Pay £40.00");
    pay.click();
    await vi.waitFor(() => expect(heading()).toBe("Complete the payment in the payment window"));
    expect(fake.calls.find((c) => c.cmd === "open_payment")?.args).toEqual({ url: "http://127.0.0.1:40123/pay/tok" });
    expect(fake.calls.find((c) => c.cmd === "buy_permit")?.args).toEqual({
      request: { permit_type: "annual_visitor", registration: "XY99 ZZZ", carer_evidence: null, return_url: null },
    });
    await vi.waitFor(() => expect(heading()).toBe("Your permit is live"), { timeout: 5000 });
    expect(byTestId("status-label")?.textContent).toBe("Live");
    expect(fake.calls.some((c) => c.cmd === "close_payment")).toBe(true);
  }, 15_000);

  it("shows why a payment failed and offers to try again", async () => {
    fake.paymentAnswers = ["failed"];
    const app = shell();
    await app.start();
    byTestId("nav-buy")!.click();
    await vi.waitFor(() => expect(byTestId("type-annual_visitor")).not.toBeNull());
    const visitor = byTestId<HTMLInputElement>("type-annual_visitor")!;
    visitor.checked = true;
    visitor.dispatchEvent(new Event("change"));
    submitForm();
    await vi.waitFor(() => expect(byTestId("step-counter")?.textContent).toContain("Step 2 of 4"));
    submitForm();
    await vi.waitFor(() => expect(byTestId("registration-input")).not.toBeNull());
    await typeInto(byTestId<HTMLInputElement>("registration-input")!, "AB12CDE");
    submitForm();
    await vi.waitFor(() => expect(byTestId("pay-button")).not.toBeNull());
    byTestId("pay-button")!.click();
    await vi.waitFor(() => expect(heading()).toBe("Your payment failed"), { timeout: 5000 });
    expect(byTestId("failure-reason")?.textContent).toBe("Your card was declined.");
    byTestId("try-again-button")!.click();
    expect(byTestId("step-counter")?.textContent).toContain("Step 4 of 4");
  }, 15_000);

  it("asks a carer about the visits before going on", async () => {
    const app = shell();
    await app.start();
    byTestId("nav-buy")!.click();
    await vi.waitFor(() => expect(byTestId("type-care")).not.toBeNull());
    const care = byTestId<HTMLInputElement>("type-care")!;
    care.checked = true;
    care.dispatchEvent(new Event("change"));
    submitForm();
    await vi.waitFor(() => expect(byTestId("carer-evidence")).not.toBeNull());
    expect(q('label[for="carer-evidence"]')?.textContent).toBe("Tell us about the regular carer visits you receive");
    submitForm();
    await vi.waitFor(() => expect(byTestId("carer-evidence-error")?.hidden).toBe(false));
    expect(byTestId("step-counter")?.textContent).toContain("Step 2 of 4");
  });
});

describe("eligibility", () => {
  it("shows the council's State Pension age refusal on the eligibility step", async () => {
    const app = shell();
    await app.start();
    byTestId("nav-buy")!.click();
    await vi.waitFor(() => expect(byTestId("type-over_state_pension_age")).not.toBeNull());
    const ospa = byTestId<HTMLInputElement>("type-over_state_pension_age")!;
    ospa.checked = true;
    ospa.dispatchEvent(new Event("change"));
    submitForm();
    await vi.waitFor(() => expect(byTestId("eligibility-dob")?.textContent).toBe("14 March 1958"));
    submitForm();
    await vi.waitFor(() =>
      expect(byTestId("step-error")?.textContent).toBe("You reach State Pension age on 6 April 2028; you can buy this permit from then."),
    );
    expect(byTestId("step-counter")?.textContent).toContain("Step 2 of 4");
    expect(byTestId("step-error")?.getAttribute("role")).toBe("alert");
  });
});

describe("cancelling", () => {
  it("shows the refund and cancels with that amount", async () => {
    const app = shell();
    await app.start();
    app.navigate({ name: "cancel", id: "p1" });
    await vi.waitFor(() => expect(byTestId("refund-amount")?.textContent).toBe("You will get back £12.00"));
    expect(byTestId("cancel-on")?.textContent).toBe("26 November 2026");
    const confirm = byTestId<HTMLButtonElement>("confirm-cancel-button")!;
    expect(confirm.textContent).toBe("Cancel permit and refund £12.00");
    confirm.click();
    await vi.waitFor(() => expect(heading()).toBe("Your permit is cancelled"));
    expect(fake.calls.find((c) => c.cmd === "cancel_permit")?.args).toEqual({ permitId: "p1", expectedRefundPence: 1200 });
  });
});

describe("editing the registration", () => {
  /** Starts the app, changes permit p1's registration to `typed`, waits for `flash`. */
  async function changePermitP1To(typed: string, flash: string): Promise<void> {
    const app = shell();
    await app.start();
    app.navigate({ name: "edit", id: "p1" });
    await vi.waitFor(() => expect(byTestId("registration-input")).not.toBeNull());
    await typeInto(byTestId<HTMLInputElement>("registration-input")!, typed);
    submitForm();
    await vi.waitFor(() => expect(byTestId("flash")?.textContent).toBe(flash));
  }

  it("saves the canonical registration and returns to the permit", async () => {
    await changePermitP1To("gh51 jkl", "Registration changed to GH51 JKL.");
    expect(heading()).toBe("Annual Visitor Permit");
    expect(fake.calls.find((c) => c.cmd === "edit_registration")?.args).toEqual({ permitId: "p1", registration: "GH51 JKL" });
  });

  it("shows the new registration on the permit at once, before the council is asked again", async () => {
    // Answers are copies, as over real IPC. After the edit screen has its permit, the
    // permit's refresh and the sync never answer: what the permit screen shows is the app's copy.
    const never = new Promise<never>(() => {});
    let edited = false;
    mockIPC(
      async (cmd, args) => {
        if (cmd === "edit_registration") edited = true;
        if (edited && (cmd === "permit_detail" || cmd === "sync_permits")) {
          fake.calls.push({ cmd, args: args as Record<string, unknown> });
          return never;
        }
        return structuredClone(fake.handle(cmd, args as Record<string, unknown>));
      },
      { shouldMockEvents: true },
    );
    await changePermitP1To("gh51 jkl", "Registration changed to GH51 JKL.");
    expect(byTestId("detail-registration")?.textContent).toBe("GH51 JKL");
  });
});

describe("moving house", () => {
  /** A chosen file (jsdom's File has no arrayBuffer, so give it one). */
  const choose = (text: string, name: string, type: string) => {
    const file = new File([text], name, { type });
    Object.defineProperty(file, "arrayBuffer", { value: async () => new TextEncoder().encode(text).buffer });
    const input = byTestId<HTMLInputElement>("evidence-file")!;
    Object.defineProperty(input, "files", { value: [file], configurable: true });
  };

  it("starts from the profile, uploads pages (a refused file changes nothing) and sends to the council", async () => {
    const app = shell();
    await app.start();
    byTestId("nav-profile")!.click();
    await vi.waitFor(() => expect(byTestId("moved-button")).not.toBeNull());
    byTestId("moved-button")!.click();
    expect(heading()).toBe("Moving house");
    expect(q('nav [aria-current="page"]')?.id).toBe("nav-move");
    await vi.waitFor(() => expect(byTestId("start-move-button")).not.toBeNull());
    expect(byTestId("evidence-explanation")?.textContent).toBe(
      "Send a council tax bill for your new address. If you do not have one yet, send a tenancy agreement or completion statement that shows the names of the residents, the full address and the signatures of all parties.",
    );
    submitForm();
    expect(byTestId("move-line1-error")?.textContent).toBe("Error: Enter the house number or name.");
    expect(fake.calls.some((c) => c.cmd === "start_address_change")).toBe(false);
    await typeInto(byTestId<HTMLInputElement>("move-line1")!, "3");
    await typeInto(byTestId<HTMLInputElement>("move-street")!, "Oak Road");
    await typeInto(byTestId<HTMLInputElement>("move-town")!, "Leicester");
    await typeInto(byTestId<HTMLInputElement>("move-postcode")!, "le3 9ab");
    byTestId<HTMLInputElement>("doc-tenancy_agreement")!.checked = true;
    submitForm();
    await vi.waitFor(() => expect(byTestId("evidence-file")).not.toBeNull());
    expect(fake.calls.find((c) => c.cmd === "start_address_change")?.args).toEqual({
      request: { address: { line1: "3", street: "Oak Road", town: "Leicester", postcode: "LE3 9AB" }, document: "tenancy_agreement" },
    });
    expect(byTestId("evidence-file")?.getAttribute("accept")).toBe(".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png");
    expect(q('label[for="evidence-file"]')?.textContent).toBe("Add a page of your document (PDF, JPEG or PNG, up to 10 MB)");
    expect(byTestId("change-status")?.textContent).toBe("Waiting for your evidence");
    expect(byTestId("start-move-button")).toBeNull();
    const submit = () => byTestId<HTMLButtonElement>("submit-move-button")!;
    expect(submit().getAttribute("aria-disabled")).toBe("true");

    choose("hello", "notes.txt", "text/plain");
    byTestId("upload-page-button")!.click();
    await vi.waitFor(() => expect(byTestId("upload-error")?.textContent).toBe("This file is not a PDF, JPEG or PNG. Send a scan or photo of your document."));
    expect(qa('[data-testid="evidence-page"]')).toHaveLength(0);
    expect(submit().getAttribute("aria-disabled")).toBe("true");

    choose("%PDF-1.7 test", "bill.pdf", "application/pdf");
    byTestId("upload-page-button")!.click();
    await vi.waitFor(() => expect(qa('[data-testid="evidence-page"]')).toHaveLength(1));
    expect(byTestId("upload-error")?.textContent).toBe("");
    expect(submit().getAttribute("aria-disabled")).toBeNull();
    submit().click();
    await vi.waitFor(() => expect(byTestId("change-status")?.textContent).toBe("Submitted"));
    expect(fake.calls.find((c) => c.cmd === "submit_address_change")?.args).toEqual({ changeId: "ac1" });
    expect(byTestId("submit-move-button")).toBeNull();
    expect(byTestId("start-blocked")?.textContent).toContain("waiting for the council");
  });

  it("shows why the council rejected a change", async () => {
    fake.changes = [addressChange({ id: "a1", status: "rejected", status_label: "Rejected", officer_reason: "The bill is for a different address." })];
    const app = shell();
    await app.start();
    app.navigate({ name: "move" });
    await vi.waitFor(() => expect(byTestId("officer-reason")?.textContent).toBe("The bill is for a different address."));
    expect(byTestId("change-status")?.textContent).toBe("Rejected");
    expect(byTestId("start-move-button")).not.toBeNull();
  });

  it("after approval, shows each old-address permit with its refund and leaves cancelling to the resident", async () => {
    fake.changes = [addressChange({ id: "a1", status: "approved", status_label: "Approved", permits_to_surrender: ["p1"] })];
    const app = shell();
    await app.start();
    app.navigate({ name: "move" });
    await vi.waitFor(() => expect(byTestId("surrender-refund")?.textContent).toBe("You will get back £12.00"));
    expect(byTestId("surrender-panel")?.textContent).toContain(
      "Your address is now 3 Oak Road, Leicester LE3 9AB. Permits for your old address must be cancelled, and new ones bought for your new address.",
    );
    expect(byTestId("surrender-registration")?.textContent).toBe("AB12 CDE");
    expect(byTestId("surrender-address")?.textContent).toBe("12 Hazel Street, Leicester LE2 7JN");
    expect(fake.calls.some((c) => c.cmd === "cancel_permit")).toBe(false);
    byTestId("surrender-p1")!.click();
    expect(heading()).toBe("Cancel your permit");
    await vi.waitFor(() => expect(byTestId("confirm-cancel-button")).not.toBeNull());
    expect(fake.calls.some((c) => c.cmd === "cancel_permit")).toBe(false);
    app.navigate({ name: "move" });
    await vi.waitFor(() => expect(byTestId("buy-new-button")).not.toBeNull());
    byTestId("buy-new-button")!.click();
    expect(heading()).toBe("Buy a permit");
  });

  it("shows the saved status offline and disables what needs the council", async () => {
    fake.offline = true;
    fake.changes = [addressChange({ id: "a1", status: "rejected", status_label: "Rejected", officer_reason: "Blurred." })];
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(byTestId("offline-banner")).not.toBeNull());
    app.navigate({ name: "move" });
    await vi.waitFor(() => expect(byTestId("change-status")?.textContent).toBe("Rejected"));
    const start = byTestId<HTMLButtonElement>("start-move-button")!;
    expect(start.getAttribute("aria-disabled")).toBe("true");
    expect(document.getElementById("start-move-button-offline")?.hidden).toBe(false);
  });

  it("goes to sign-in when the session has ended", async () => {
    const app = shell();
    await app.start();
    fake.signedIn = false;
    app.navigate({ name: "move" });
    await vi.waitFor(() => expect(heading()).toBe("Sign in"));
  });
});

describe("changing the password", () => {
  const openProfile = async () => {
    const app = shell();
    await app.start();
    byTestId("nav-profile")!.click();
    await vi.waitFor(() => expect(byTestId("change-password-button")).not.toBeNull());
  };
  const submit = (current: string, next: string) => {
    byTestId<HTMLInputElement>("current-password")!.value = current;
    byTestId<HTMLInputElement>("new-password")!.value = next;
    q<HTMLFormElement>("#password-form")!.requestSubmit();
  };

  it("checks the new password's rules first, then changes it and says other devices are signed out", async () => {
    await openProfile();
    submit("kerbside-demo-2026", "short");
    expect(byTestId("new-password-error")?.textContent).toBe("Error: Your new password must be at least 10 characters long.");
    submit("kerbside-demo-2026", "kerbside-demo-2026");
    expect(byTestId("new-password-error")?.textContent).toBe("Error: Your new password must be different from your current one.");
    expect(fake.calls.some((c) => c.cmd === "change_password")).toBe(false);
    submit("kerbside-demo-2026", "a much longer new password");
    await vi.waitFor(() =>
      expect(byTestId("password-changed")?.textContent).toBe(
        "Your password is changed. You are still signed in here; every other computer and phone has been signed out.",
      ),
    );
    expect(fake.passwordChanges).toEqual(["a much longer new password"]);
    expect(byTestId<HTMLInputElement>("current-password")!.value).toBe("");
    expect(byTestId<HTMLInputElement>("new-password")!.value).toBe("");
    expect(heading()).toBe("Profile");
  });

  it("shows the council's answer to a wrong current password on the form", async () => {
    await openProfile();
    submit("not my password", "a much longer new password");
    await vi.waitFor(() =>
      expect(byTestId("password-error")?.textContent).toBe(
        "Your current password is not right. Enter the password you sign in with now.",
      ),
    );
    expect(fake.passwordChanges).toEqual([]);
    expect(heading()).toBe("Profile");
  });
});

describe("a permit awaiting payment (its purchase answer was lost)", () => {
  const withUnpaid = (canPay = true) => {
    fake.cached = [card({ id: "p1" }), unpaidCard("u1", canPay)];
    fake.fresh = fake.cached;
  };
  const unpaidCardEl = () => q('[data-testid="permit-card"][data-permit-id="u1"]');

  it("offers Continue to payment on its card, and runs the same pay-and-poll flow as Buy", async () => {
    withUnpaid();
    fake.paymentAnswers = ["created", "succeeded"];
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(unpaidCardEl()).not.toBeNull());
    // Only the unpaid permit offers it.
    expect(qa('[data-testid="continue-payment-button"]')).toHaveLength(1);
    const button = unpaidCardEl()!.querySelector<HTMLButtonElement>('[data-testid="continue-payment-button"]')!;
    expect(button.textContent).toBe("Continue to payment for UN12 PAY");
    expect(button.getAttribute("aria-disabled")).toBeNull();
    button.click();
    await vi.waitFor(() => expect(heading()).toBe("Complete the payment in the payment window"));
    expect(fake.calls.find((c) => c.cmd === "continue_payment")?.args).toEqual({ permitId: "u1" });
    expect(fake.calls.find((c) => c.cmd === "open_payment")?.args).toEqual({ url: "http://127.0.0.1:40123/pay/pay-u1/tok" });
    await vi.waitFor(() => expect(heading()).toBe("Your permit is live"), { timeout: 5000 });
    expect(fake.calls.filter((c) => c.cmd === "payment_status").map((c) => c.args)).toContainEqual({ paymentId: "pay-u1" });
    expect(byTestId("status-label")?.textContent).toBe("Live");
    expect(fake.calls.some((c) => c.cmd === "close_payment")).toBe(true);
    expect(fake.calls.some((c) => c.cmd === "buy_permit")).toBe(false);
  }, 15_000);

  it("offers it on the permit's page too, with the time the payment can be finished by", async () => {
    withUnpaid();
    const app = shell();
    await app.start();
    app.navigate({ name: "detail", id: "u1" });
    await vi.waitFor(() => expect(byTestId("awaiting-note")).not.toBeNull());
    expect(byTestId("awaiting-note")?.textContent).toBe(
      "This permit is not valid yet: it is waiting for the council to confirm the payment. You can finish paying until 26 November 2026 at 15:35.",
    );
    const button = byTestId<HTMLButtonElement>("continue-payment-button")!;
    expect(button.getAttribute("aria-disabled")).toBeNull();
    button.click();
    await vi.waitFor(() => expect(fake.calls.some((c) => c.cmd === "open_payment")).toBe(true));
    expect(heading()).toBe("Complete the payment in the payment window");
  });

  it("is disabled offline with the reason, and does nothing when pressed", async () => {
    withUnpaid();
    fake.offline = true;
    const app = shell();
    await app.start();
    await vi.waitFor(() => expect(byTestId("offline-banner")).not.toBeNull());
    await vi.waitFor(() => expect(unpaidCardEl()).not.toBeNull());
    const button = unpaidCardEl()!.querySelector<HTMLButtonElement>('[data-testid="continue-payment-button"]')!;
    expect(button.getAttribute("aria-disabled")).toBe("true");
    const note = document.getElementById(`${button.id}-offline`)!;
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe("Needs a connection to the council");
    button.click();
    expect(heading()).toBe("Your permits");
    expect(fake.calls.some((c) => c.cmd === "continue_payment")).toBe(false);
  });

  it("says why once the time to pay has run out", async () => {
    withUnpaid(false);
    const app = shell();
    await app.start();
    app.navigate({ name: "detail", id: "u1" });
    await vi.waitFor(() => expect(byTestId("continue-payment-button")).not.toBeNull());
    const button = byTestId<HTMLButtonElement>("continue-payment-button")!;
    expect(button.getAttribute("aria-disabled")).toBe("true");
    expect(byTestId("continue-payment-button-reason")?.textContent).toBe(
      "The time to pay for this permit has run out, so it was not issued. Buy it again to pay.",
    );
    button.click();
    expect(fake.calls.some((c) => c.cmd === "continue_payment")).toBe(false);
  });

  it("shows the council's reason when the payment can no longer be continued", async () => {
    withUnpaid();
    const app = shell();
    await app.start();
    fake.cached[1].permit.open_payment = null; // paid or failed since the last sync
    app.navigate({ name: "pay", id: "u1" });
    await vi.waitFor(() =>
      expect(byTestId("continue-payment-error")?.textContent).toBe(
        "The time to pay for this permit has run out, so nothing was taken and it was not issued. Buy it again to get a new payment page.",
      ),
    );
    expect(fake.calls.some((c) => c.cmd === "open_payment")).toBe(false);
  });
});
