/** What a screen is given by the app. */

import type { Api } from "./api";
import type { AppSnapshot } from "./bindings/AppSnapshot";
import type { CouncilInfo } from "./bindings/CouncilInfo";
import type { PermitsView } from "./bindings/PermitsView";
import type { Profile } from "./bindings/Profile";
import type { Route } from "./routes";

export interface Ctx {
  readonly api: Api;
  readonly route: Route;
  /** A message carried over from the previous screen (e.g. "Registration changed"). */
  readonly flash: string | null;
  /** The notice for the sign-in screen (e.g. the session ended). */
  readonly signInNotice: string | null;
  navigate(route: Route, flash?: string): void;
  /**
   * Deals with a rejected command: an ended session goes to sign-in, offline shows the banner.
   * Returns the sentence to show where the action was, or null when the screen was left.
   */
  fail(err: unknown): string | null;
  /** True while this screen is still the one showing (check after every await). */
  alive(): boolean;
  /** Runs when the screen is left. */
  onLeave(fn: () => void): void;
  online(): boolean;
  snapshot(): AppSnapshot | null;
  /** The latest permits (cached or fresh). */
  permits(): PermitsView | null;
  /** Whether `permits()` is the cache read by `app_start` (true once, then false): the first screen need not read it again. */
  takePermitsFromStart(): boolean;
  setPermits(view: PermitsView): void;
  /** Called with every new PermitsView while the screen shows. */
  onPermits(fn: (view: PermitsView) => void): void;
  onPaymentWindowClosed(fn: () => void): void;
  /** Fetches fresh permits from the council in the background (errors handled by the app). */
  syncInBackground(): Promise<PermitsView | null>;
  councilInfo(): Promise<CouncilInfo>;
  /** After signing in or registering. */
  signedIn(profile: Profile): Promise<void>;
  /** After signing out or wiping the local copy. */
  signedOut(note?: string | null): Promise<void>;
  /** The snapshot changed (e.g. a different council). */
  applySnapshot(snapshot: AppSnapshot): void;
  /** Moves focus to the screen's h1 (after the screen swaps its own content). */
  focusHeading(): void;
  setTitle(text: string): void;
}

export type ScreenFn = (ctx: Ctx, main: HTMLElement) => void;
