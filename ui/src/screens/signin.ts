/** Sign in and Create an account. */

import type { RegisterRequest } from "../bindings/RegisterRequest";
import { action, alertBox, dateField, field, flashNotice, isBlocked, screenHeading, setBusy, type Field } from "../components";
import { add, h } from "../dom";
import { parseDateParts } from "../format";
import type { Ctx } from "../screen";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function demoNote(ctx: Ctx, fillIn?: (email: string, password: string) => void): HTMLElement | null {
  const snap = ctx.snapshot();
  if (!snap?.embedded_council || !snap.demo_email || !snap.demo_password) return null;
  const email = snap.demo_email;
  const password = snap.demo_password;
  return h(
    "div",
    { class: "notice notice-demo", "data-testid": "demo-credentials" },
    h("p", null, "Demo council: sign in as ", h("strong", null, email), " / ", h("strong", null, password)),
    fillIn
      ? h(
          "button",
          { type: "button", class: "button button-link", "data-testid": "fill-demo-button", id: "fill-demo-button", onclick: () => fillIn(email, password) },
          "Fill in the demo details",
        )
      : null,
  );
}

/** Shows the first error in a list of fields and focuses it. Returns true when all are fine. */
function check(fields: [Field, string | null][]): boolean {
  let first: Field | null = null;
  for (const [f, msg] of fields) {
    f.setError(msg);
    if (msg && !first) first = f;
  }
  if (first) first.input.focus();
  return first === null;
}

export function signInScreen(ctx: Ctx, main: HTMLElement): void {
  const email = field({ id: "sign-in-email", label: "Email address", type: "email", autocomplete: "username", required: true, spellcheck: false });
  const password = field({ id: "sign-in-password", label: "Password", type: "password", autocomplete: "current-password", required: true });
  const error = alertBox("sign-in-error");
  const submit = action({ id: "sign-in-button", label: "Sign in", type: "submit", needsCouncil: true });

  const form = h(
    "form",
    { class: "form", id: "sign-in-form", novalidate: true, "aria-labelledby": "screen-heading" },
    error.el,
    email.wrap,
    password.wrap,
    submit.wrap,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (isBlocked(submit.button)) return;
    error.set(null);
    const ok = check([
      [email, EMAIL.test(email.value().trim()) ? null : "Enter your email address, like name@example.com."],
      [password, password.value() ? null : "Enter your password."],
    ]);
    if (!ok) return;
    setBusy(submit.button, true, "Signing in…");
    try {
      const profile = await ctx.api.signIn({ email: email.value().trim(), password: password.value() });
      if (!ctx.alive()) return;
      await ctx.signedIn(profile);
    } catch (err) {
      if (!ctx.alive()) return;
      setBusy(submit.button, false);
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
    }
  });

  const fillIn = (e: string, p: string) => {
    email.input.value = e;
    password.input.value = p;
    submit.button.focus();
  };

  add(main,
    screenHeading("Sign in"),
    ctx.signInNotice ? h("div", { class: "notice notice-important", role: "alert", "data-testid": "session-notice" }, h("p", null, ctx.signInNotice)) : null,
    ctx.flash ? flashNotice(ctx.flash) : null,
    h("p", { class: "lead" }, "Sign in to see and manage your parking permits."),
    demoNote(ctx, fillIn) ?? "",
    form,
    h("h2", { class: "section-title" }, "New to Kerbside?"),
    h("p", null, "Create an account with your address to buy a permit."),
    action({ id: "go-register-button", label: "Create an account", variant: "secondary", onClick: () => ctx.navigate({ name: "register" }) }).wrap,
  );
}

export function registerScreen(ctx: Ctx, main: HTMLElement): void {
  const today = ctx.snapshot()?.today ?? new Date().toISOString().slice(0, 10);
  const email = field({ id: "register-email", label: "Email address", type: "email", autocomplete: "email", required: true, spellcheck: false });
  const password = field({
    id: "register-password",
    label: "Create a password",
    type: "password",
    autocomplete: "new-password",
    required: true,
    hint: "At least 10 characters.",
  });
  const name = field({ id: "register-name", label: "Full name", autocomplete: "name", required: true });
  const line1 = field({ id: "register-line1", label: "House number or name", autocomplete: "address-line1", required: true, width: "medium" });
  const street = field({ id: "register-street", label: "Street", autocomplete: "address-line2", required: true });
  const town = field({ id: "register-town", label: "Town or city", autocomplete: "address-level2", required: true, width: "medium" });
  const postcode = field({ id: "register-postcode", label: "Postcode", autocomplete: "postal-code", required: true, width: "short" });
  const dob = dateField({
    id: "register-dob",
    legend: "Date of birth (optional)",
    hint: "Needed only for the Over State Pension Age permit. For example 14 3 1958.",
  });
  const reminder = field({
    id: "register-reminder-email",
    label: "Email for expiry reminders (optional)",
    type: "email",
    autocomplete: "email",
    hint: "Leave empty if you do not want reminders by email.",
    spellcheck: false,
  });
  const error = alertBox("register-error");
  const submit = action({ id: "register-button", label: "Create account", type: "submit", needsCouncil: true });

  const form = h(
    "form",
    { class: "form", id: "register-form", novalidate: true, "aria-labelledby": "screen-heading" },
    error.el,
    email.wrap,
    password.wrap,
    name.wrap,
    h("fieldset", { class: "fieldset" }, h("legend", { class: "fieldset-legend" }, "Your address"),
      h("p", { class: "hint" }, "The address your permits are for. It must be in one of the council's permit zones."),
      line1.wrap, street.wrap, town.wrap, postcode.wrap),
    dob.wrap,
    reminder.wrap,
    submit.wrap,
  );

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (isBlocked(submit.button)) return;
    error.set(null);
    const birth = parseDateParts(dob.parts().day, dob.parts().month, dob.parts().year, today);
    const reminderValue = reminder.value().trim();
    const ok = check([
      [email, EMAIL.test(email.value().trim()) ? null : "Enter your email address, like name@example.com."],
      [password, password.value().length >= 10 ? null : "Your password must be at least 10 characters."],
      [name, name.value().trim() ? null : "Enter your full name."],
      [line1, line1.value().trim() ? null : "Enter your house number or name."],
      [street, street.value().trim() ? null : "Enter your street."],
      [town, town.value().trim() ? null : "Enter your town or city."],
      [postcode, postcode.value().trim() ? null : "Enter your postcode."],
      [reminder, !reminderValue || EMAIL.test(reminderValue) ? null : "Enter the reminder email address, like name@example.com, or leave it empty."],
    ]);
    dob.setError(birth.ok ? null : birth.error);
    if (!ok) return;
    if (!birth.ok) {
      dob.focus();
      return;
    }
    const request: RegisterRequest = {
      email: email.value().trim(),
      password: password.value(),
      name: name.value().trim(),
      address: {
        line1: line1.value().trim(),
        street: street.value().trim(),
        town: town.value().trim(),
        postcode: postcode.value().trim().toUpperCase(),
      },
      date_of_birth: birth.iso,
      reminder_email: reminderValue || null,
    };
    setBusy(submit.button, true, "Creating your account…");
    try {
      const profile = await ctx.api.register(request);
      if (!ctx.alive()) return;
      await ctx.signedIn(profile);
    } catch (err) {
      if (!ctx.alive()) return;
      setBusy(submit.button, false);
      const msg = ctx.fail(err);
      if (msg) {
        error.set(msg);
        error.el.focus();
      }
    }
  });
  error.el.setAttribute("tabindex", "-1");

  add(main,
    screenHeading("Create an account"),
    h("p", { class: "lead" }, "Your account is held by the council. Kerbside keeps your sign-in session in this computer's keyring, never your password."),
    form,
    h("h2", { class: "section-title" }, "Already have an account?"),
    action({ id: "go-sign-in-button", label: "Sign in instead", variant: "secondary", onClick: () => ctx.navigate({ name: "sign-in" }) }).wrap,
  );
}
