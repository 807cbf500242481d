/** The screens and the navigation around them. */

export type Route =
  | { name: "sign-in" }
  | { name: "register" }
  | { name: "permits" }
  | { name: "detail"; id: string }
  | { name: "print"; id: string }
  | { name: "edit"; id: string }
  | { name: "renew"; id: string }
  | { name: "pay"; id: string }
  | { name: "cancel"; id: string }
  | { name: "buy" }
  | { name: "profile" }
  | { name: "move" }
  | { name: "data" }
  | { name: "settings" };

export type NavItem = { route: Route["name"]; label: string; id: string };

/** The navigation a signed-in resident sees ("Sign out" is a separate button after these). */
export const SIGNED_IN_NAV: readonly NavItem[] = [
  { route: "permits", label: "Your permits", id: "nav-permits" },
  { route: "buy", label: "Buy a permit", id: "nav-buy" },
  { route: "profile", label: "Profile", id: "nav-profile" },
  { route: "move", label: "Moving house", id: "nav-move" },
  { route: "data", label: "Your data", id: "nav-data" },
  { route: "settings", label: "Settings", id: "nav-settings" },
];

export const SIGNED_OUT_NAV: readonly NavItem[] = [
  { route: "sign-in", label: "Sign in", id: "nav-sign-in" },
  { route: "register", label: "Create an account", id: "nav-register" },
  { route: "data", label: "Your data", id: "nav-data" },
  { route: "settings", label: "Settings", id: "nav-settings" },
];

/** Which navigation item is current for a screen (the permit screens belong to "Your permits"). */
export function navSection(route: Route): Route["name"] {
  switch (route.name) {
    case "detail":
    case "print":
    case "edit":
    case "renew":
    case "pay":
    case "cancel":
      return "permits";
    default:
      return route.name;
  }
}

/** Screens a signed-out resident may see. */
export function allowedSignedOut(route: Route): boolean {
  return ["sign-in", "register", "data", "settings"].includes(route.name);
}

export function sameRoute(a: Route, b: Route): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
