/** The app frame: navigation, the offline banner, screen switching and background sync. */

import { answeredStart, api as rawApi, on, type Api } from "./api";
import type { AppSnapshot } from "./bindings/AppSnapshot";
import type { CouncilInfo } from "./bindings/CouncilInfo";
import type { PermitsView } from "./bindings/PermitsView";
import type { Profile } from "./bindings/Profile";
import { action, setActionsOnline } from "./components";
import { h, fill } from "./dom";
import { routeError, SESSION_ENDED, toApiError } from "./errors";
import { formatDate } from "./format";
import {
  connectionReducer,
  initialConnection,
  OFFLINE_RETRY_MS,
  offlineBannerText,
  type ConnectionEvent,
  type ConnectionState,
} from "./offline";
import { allowedSignedOut, navSection, SIGNED_IN_NAV, SIGNED_OUT_NAV, type Route } from "./routes";
import type { Ctx, ScreenFn } from "./screen";
import { SCREENS } from "./screens";

/** Commands whose success proves the council answered. */
const REACHES_COUNCIL = new Set<keyof Api>([
  "signIn", "register", "syncPermits", "getProfile", "updateProfile", "quotePermit", "buyPermit",
  "paymentStatus", "editRegistration", "renewPermit", "continuePayment", "refundQuote", "cancelPermit",
  "startAddressChange", "uploadEvidence", "submitAddressChange",
]);

export const OFFLINE_ACTION_MESSAGE =
  "You are offline, so this could not be done. It needs a connection to the council; try again when you are back online.";

export class App {
  private snap: AppSnapshot | null = null;
  private conn: ConnectionState = initialConnection;
  private signedInEmail: string | null = null;
  private route: Route = { name: "permits" };
  private view: PermitsView | null = null;
  /** True from `app_start` bringing the cached permits until the permits screen has drawn them. */
  private permitsFromStart = false;
  private info: CouncilInfo | null = null;
  private leaveFns: (() => void)[] = [];
  private permitListeners = new Set<(v: PermitsView) => void>();
  private windowClosedListeners = new Set<() => void>();
  private screenToken = 0;
  private retryTimer: ReturnType<typeof setInterval> | null = null;
  private returnTo: Route | null = null;
  private signInNotice: string | null = null;
  private syncing: Promise<PermitsView | null> | null = null;
  readonly api: Api;

  constructor(
    private readonly els: {
      nav: HTMLElement;
      connection: HTMLElement;
      screen: HTMLElement;
      announcer: HTMLElement;
      version: HTMLElement;
      councilNote: HTMLElement;
      clockNote: HTMLElement;
      who?: HTMLElement;
    },
    base: Api = rawApi,
  ) {
    this.api = this.watch(base);
  }

  /** Wraps every command so the connection state follows what the council answered. */
  private watch(base: Api): Api {
    const wrapped = {} as Record<string, unknown>;
    for (const [name, fn] of Object.entries(base)) {
      wrapped[name] = async (...args: unknown[]) => {
        try {
          const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
          if (REACHES_COUNCIL.has(name as keyof Api)) this.dispatch({ type: "reached" });
          return result;
        } catch (err) {
          const e = toApiError(err);
          if (e.kind === "offline") this.dispatch({ type: "offline-error" });
          throw e;
        }
      };
    }
    return wrapped as Api;
  }

  async start(): Promise<void> {
    this.els.announcer.textContent = "";
    void on("permits-updated", (view) => {
      this.setPermits(view);
      this.dispatch({ type: "synced", lastSyncedAt: view.last_synced_at });
    });
    void on("connection-changed", (p) => this.dispatch({ type: "connection-changed", online: Boolean(p?.online) }));
    void on("payment-window-closed", () => this.windowClosedListeners.forEach((fn) => fn()));
    void on("open-permit", (id) => this.openPermit(id));
    // One round trip for the first screen: the frame and, when signed in, the cached
    // permits, so "Your permits" is drawn once, with its cards (docs/BENCHMARKS.md). Usually
    // it has arrived while this bundle loaded: then it is drawn now, without an await.
    let first = answeredStart();
    if (!first) {
      try {
        first = await this.api.appStart();
      } catch (err) {
        fill(
          this.els.screen,
          h("h1", { id: "screen-heading", tabindex: "-1" }, "Kerbside could not start"),
          h("p", { role: "alert" }, toApiError(err).message),
        );
        return;
      }
    }
    this.applySnapshot(first.snapshot);
    if (first.permits) {
      this.view = first.permits;
      this.permitsFromStart = true;
    }
    this.navigate(this.signedInEmail ? { name: "permits" } : { name: "sign-in" }, undefined, false);
    void this.api.appVersion().then(
      (v) => (this.els.version.textContent = `Kerbside version ${v}`),
      () => (this.els.version.textContent = "Kerbside"),
    );
  }

  // ----- state ------------------------------------------------------------------------------

  applySnapshot(snap: AppSnapshot): void {
    this.snap = snap;
    const wasSignedIn = this.signedInEmail;
    this.signedInEmail = snap.signed_in_email;
    this.dispatch({ type: "snapshot", online: snap.online, lastSyncedAt: snap.last_synced_at });
    this.els.councilNote.textContent = snap.embedded_council ? "Built-in demo council" : `Council: ${snap.council_url}`;
    this.els.clockNote.textContent = snap.clock_is_set ? `Demo clock: today is ${formatDate(snap.today)}` : "";
    if (wasSignedIn !== this.signedInEmail) this.renderNav();
  }

  private dispatch(event: ConnectionEvent): void {
    const before = this.conn;
    this.conn = connectionReducer(this.conn, event);
    if (before === this.conn) return;
    if (before.online !== this.conn.online) {
      setActionsOnline(this.conn.online);
      if (this.conn.online) {
        this.stopRetrying();
        this.announce("You are back online. Your permits are up to date.");
      } else {
        this.startRetrying();
      }
    }
    this.renderBanner();
  }

  private renderBanner(): void {
    const text = offlineBannerText(this.conn);
    if (!text) {
      this.els.connection.replaceChildren();
      return;
    }
    const retry = action({
      id: "offline-retry",
      label: "Try again now",
      variant: "secondary",
      onClick: () => void this.retryNow(),
    });
    fill(
      this.els.connection,
      h(
        "div",
        { class: "banner banner-offline", "data-testid": "offline-banner", id: "offline-banner" },
        h("p", { class: "banner-text" }, text),
        h("p", { class: "banner-sub" }, "Buying, renewing, cancelling and changing details need a connection to the council. Kerbside tries again every 15 seconds."),
        retry.wrap,
      ),
    );
  }

  private startRetrying(): void {
    if (this.retryTimer !== null) return;
    this.retryTimer = setInterval(() => void this.retryNow(), OFFLINE_RETRY_MS);
  }

  private stopRetrying(): void {
    if (this.retryTimer !== null) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  private async retryNow(): Promise<void> {
    if (this.signedInEmail) {
      await this.syncInBackground();
    } else {
      try {
        this.info = await rawApi.councilInfo();
        this.dispatch({ type: "reached" });
      } catch (err) {
        if (toApiError(err).kind === "offline") this.dispatch({ type: "offline-error" });
      }
    }
  }

  setPermits(view: PermitsView): void {
    this.view = view;
    this.permitListeners.forEach((fn) => fn(view));
  }

  /** Background sync: one at a time; errors go to the banner or to sign-in, never a dialog. */
  syncInBackground(): Promise<PermitsView | null> {
    if (this.syncing) return this.syncing;
    this.syncing = (async () => {
      try {
        const view = await this.api.syncPermits();
        this.dispatch({ type: "synced", lastSyncedAt: view.last_synced_at });
        this.setPermits(view);
        return view;
      } catch (err) {
        const e = toApiError(err);
        if (e.kind === "unauthorised") this.sessionEnded();
        else if (e.kind !== "offline") this.announce(`Could not update your permits: ${e.message}`);
        return null;
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  async councilInfo(): Promise<CouncilInfo> {
    if (this.info) return this.info;
    this.info = await this.api.councilInfo();
    return this.info;
  }

  announce(text: string): void {
    this.els.announcer.textContent = "";
    // A fresh text node after clearing makes screen readers announce repeated messages.
    setTimeout(() => (this.els.announcer.textContent = text), 50);
  }

  // ----- sign-in state ------------------------------------------------------------------------

  /** Shows a permit the resident asked for from outside the window (a notification click). */
  openPermit(id: string): void {
    const route: Route = { name: "detail", id };
    if (this.signedInEmail) {
      this.navigate(route);
    } else {
      this.returnTo = route;
      this.navigate({ name: "sign-in" });
    }
  }

  /** The session ended: sign in again, then come back to this screen. */
  sessionEnded(returnTo: Route = this.route): void {
    this.signedInEmail = null;
    this.renderNav();
    this.returnTo = returnTo.name === "sign-in" || returnTo.name === "register" ? null : returnTo;
    this.signInNotice = SESSION_ENDED;
    this.navigate({ name: "sign-in" });
  }

  async signedIn(profile: Profile): Promise<void> {
    this.signedInEmail = profile.email;
    this.signInNotice = null;
    try {
      this.applySnapshot(await this.api.appSnapshot());
    } catch {
      /* the frame keeps the old snapshot */
    }
    this.signedInEmail = profile.email;
    this.renderNav();
    const target = this.returnTo ?? { name: "permits" };
    this.returnTo = null;
    this.view = null;
    this.navigate(target);
  }

  async signedOut(note?: string | null): Promise<void> {
    this.signedInEmail = null;
    this.view = null;
    this.returnTo = null;
    this.signInNotice = null;
    try {
      this.applySnapshot(await this.api.appSnapshot());
    } catch {
      /* keep going */
    }
    this.signedInEmail = null;
    delete document.body.dataset.permitsVisible;
    this.renderNav();
    this.navigate({ name: "sign-in" }, note ?? "You are signed out.");
  }

  private async signOut(button: HTMLButtonElement): Promise<void> {
    button.setAttribute("aria-disabled", "true");
    let note: string | null = null;
    try {
      note = await this.api.signOut();
    } catch (err) {
      const e = toApiError(err);
      if (e.kind !== "unauthorised") {
        button.removeAttribute("aria-disabled");
        this.announce(e.message);
        return;
      }
    }
    await this.signedOut(note);
  }

  // ----- navigation ---------------------------------------------------------------------------

  private renderNav(): void {
    const items = this.signedInEmail ? SIGNED_IN_NAV : SIGNED_OUT_NAV;
    const current = navSection(this.route);
    const list = h(
      "ul",
      { class: "nav-list" },
      items.map((item) =>
        h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              class: "nav-item",
              id: item.id,
              "data-testid": item.id,
              "aria-current": item.route === current ? "page" : undefined,
              onclick: () => {
                this.returnTo = null;
                this.signInNotice = null;
                this.navigate({ name: item.route } as Route);
              },
            },
            item.label,
          ),
        ),
      ),
      this.signedInEmail
        ? h(
            "li",
            { class: "nav-signout" },
            h(
              "button",
              {
                type: "button",
                class: "nav-item",
                id: "nav-sign-out",
                "data-testid": "sign-out-button",
                onclick: (ev: Event) => void this.signOut(ev.currentTarget as HTMLButtonElement),
              },
              "Sign out",
            ),
          )
        : null,
    );
    fill(this.els.nav, list);
    if (this.els.who) {
      if (this.signedInEmail) fill(this.els.who, "Signed in as ", h("span", { class: "who-email" }, this.signedInEmail));
      else fill(this.els.who);
    }
  }

  navigate(route: Route, flash?: string, focus = true): void {
    if (!this.signedInEmail && !allowedSignedOut(route)) {
      this.returnTo = route;
      route = { name: "sign-in" };
    }
    this.leaveFns.forEach((fn) => {
      try {
        fn();
      } catch {
        /* leaving must not fail */
      }
    });
    this.leaveFns = [];
    this.permitListeners.clear();
    this.windowClosedListeners.clear();
    this.screenToken += 1;
    this.route = route;
    this.renderNav();
    const token = this.screenToken;
    const screen: ScreenFn = SCREENS[route.name];
    const ctx = this.makeCtx(route, flash ?? null, token);
    this.els.screen.replaceChildren();
    screen(ctx, this.els.screen);
    if (route.name !== "sign-in") this.signInNotice = null;
    const heading = this.els.screen.querySelector("h1");
    this.setTitle(heading?.textContent ?? "Kerbside");
    if (focus) this.focusHeading();
    else window.scrollTo(0, 0);
  }

  focusHeading(): void {
    const heading = this.els.screen.querySelector<HTMLElement>("h1");
    if (heading) {
      heading.focus();
      window.scrollTo(0, 0);
    }
  }

  setTitle(text: string): void {
    document.title = text && text !== "Kerbside" ? `${text} – Kerbside` : "Kerbside";
  }

  private makeCtx(route: Route, flash: string | null, token: number): Ctx {
    const alive = () => this.screenToken === token;
    return {
      api: this.api,
      route,
      flash,
      signInNotice: this.signInNotice,
      navigate: (r, f) => this.navigate(r, f),
      alive,
      onLeave: (fn) => this.leaveFns.push(fn),
      online: () => this.conn.online,
      snapshot: () => this.snap,
      permits: () => this.view,
      takePermitsFromStart: () => {
        const fromStart = this.permitsFromStart;
        this.permitsFromStart = false;
        return fromStart;
      },
      setPermits: (v) => this.setPermits(v),
      onPermits: (fn) => {
        if (alive()) this.permitListeners.add(fn);
      },
      onPaymentWindowClosed: (fn) => {
        if (alive()) this.windowClosedListeners.add(fn);
      },
      syncInBackground: () => this.syncInBackground(),
      councilInfo: () => this.councilInfo(),
      signedIn: (p) => this.signedIn(p),
      signedOut: (n) => this.signedOut(n),
      applySnapshot: (s) => this.applySnapshot(s),
      focusHeading: () => this.focusHeading(),
      setTitle: (t) => this.setTitle(t),
      fail: (err) => {
        const act = routeError(err, route);
        if (act.type === "sign-in" && (route.name === "sign-in" || route.name === "register")) {
          return toApiError(err).message; // e.g. a wrong password: say so on the form
        }
        if (act.type === "sign-in") {
          if (alive()) this.sessionEnded(act.returnTo);
          return null;
        }
        if (act.type === "offline") return OFFLINE_ACTION_MESSAGE;
        return act.message;
      },
    };
  }
}
