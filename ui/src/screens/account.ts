/** Profile, Your data and Settings. */

import type { DataSummary } from "../bindings/DataSummary";
import type { Profile } from "../bindings/Profile";
import type { ProfileUpdate } from "../bindings/ProfileUpdate";
import { action, alertBox, dateField, field, flashNotice, isBlocked, screenHeading, setBusy, statusBox, summary } from "../components";
import { add, fill, h } from "../dom";
import { formatAddress, formatDate, formatDateTime, formatZone, parseDateParts } from "../format";
import type { Ctx } from "../screen";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// ----- profile ----------------------------------------------------------------------------------

/** What to send: only what changed; an emptied reminder email is `null` (stops reminders). */
export function profileChanges(before: Profile, name: string, dateOfBirth: string | null, reminder: string): ProfileUpdate {
  const update: ProfileUpdate = {};
  if (name.trim() !== before.name) update.name = name.trim();
  if (dateOfBirth !== before.date_of_birth && dateOfBirth !== null) update.date_of_birth = dateOfBirth;
  const r = reminder.trim();
  if ((r || null) !== before.reminder_email) update.reminder_email = r || null;
  return update;
}

export function profileScreen(ctx: Ctx, main: HTMLElement): void {
  const today = ctx.snapshot()?.today ?? new Date().toISOString().slice(0, 10);
  const error = alertBox("profile-error");
  const done = statusBox("profile-saved");
  done.el.setAttribute("tabindex", "-1");
  const body = h("div", { class: "profile" }, h("p", { class: "loading" }, "Loading your profile…"));
  add(main, screenHeading("Profile"), error.el, done.el, body);

  const draw = (profile: Profile) => {
    const name = field({ id: "profile-name", label: "Full name", value: profile.name, autocomplete: "name" });
    const dob = dateField({
      id: "profile-dob",
      legend: "Date of birth",
      value: profile.date_of_birth,
      hint: "Needed only for the Over State Pension Age permit. For example 14 3 1958.",
    });
    const reminder = field({
      id: "profile-reminder-email",
      label: "Email for expiry reminders",
      type: "email",
      value: profile.reminder_email ?? "",
      autocomplete: "email",
      spellcheck: false,
      hint: "Leave empty to stop reminders by email. Kerbside also reminds you on this computer.",
    });
    const movedLink = action({
      id: "moved-button",
      label: "I have moved",
      variant: "link",
      onClick: () => ctx.navigate({ name: "move" }),
    });
    const save = action({ id: "save-profile-button", label: "Save changes", type: "submit", needsCouncil: true });
    const form = h(
      "form",
      { class: "form", novalidate: true, id: "profile-form", "aria-labelledby": "change-details" },
      h("h2", { class: "section-title", id: "change-details" }, "Change your details"),
      name.wrap,
      dob.wrap,
      reminder.wrap,
      h("div", { class: "actions" }, save.wrap),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (isBlocked(save.button)) return;
      error.set(null);
      done.set(null);
      const parts = dob.parts();
      const birth = parseDateParts(parts.day, parts.month, parts.year, today);
      const nameErr = name.value().trim() ? null : "Enter your full name.";
      const r = reminder.value().trim();
      const reminderErr = !r || EMAIL.test(r) ? null : "Enter the reminder email address, like name@example.com, or leave it empty.";
      const dobErr = !birth.ok
        ? birth.error
        : birth.iso === null && profile.date_of_birth
          ? "Your date of birth cannot be removed here; enter it in full."
          : null;
      name.setError(nameErr);
      reminder.setError(reminderErr);
      dob.setError(dobErr);
      if (nameErr) return name.input.focus();
      if (dobErr) return dob.focus();
      if (reminderErr) return reminder.input.focus();
      const update = profileChanges(profile, name.value(), birth.ok ? birth.iso : null, r);
      if (Object.keys(update).length === 0) {
        done.set("Nothing to save: your details are unchanged.");
        return;
      }
      setBusy(save.button, true, "Saving…");
      try {
        const saved = await ctx.api.updateProfile(update);
        if (!ctx.alive()) return;
        draw(saved);
        done.set("Your details are saved.");
        done.el.focus();
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(save.button, false);
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
      }
    });
    fill(
      body,
      h("h2", { class: "section-title", id: "your-account" }, "Your account"),
      summary([
        ["Email (to sign in)", profile.email, "profile-email"],
        ["Address", formatAddress(profile.address), "profile-address"],
        ["Parking zone", profile.zone ? formatZone(profile.zone) : "Not in a permit zone", "profile-zone"],
      ]),
      h("p", { class: "hint", id: "moved-hint" }, "Moving house? Tell the council your new address and send a document that proves it."),
      movedLink.wrap,
      form,
      passwordForm(ctx),
    );
  };

  void (async () => {
    try {
      const profile = await ctx.api.getProfile();
      if (!ctx.alive()) return;
      draw(profile);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
      fill(body);
    }
  })();
}

/** The rules the council applies to a new password, checked here first to say so sooner. */
export function newPasswordProblem(current: string, next: string): string | null {
  const length = [...next].length;
  if (length < 10) return "Your new password must be at least 10 characters long.";
  if (length > 128) return "Your new password must be 128 characters or fewer.";
  if (next === current) return "Your new password must be different from your current one.";
  return null;
}

/** Change password: the council signs out every other device; this one keeps a new session. */
function passwordForm(ctx: Ctx): HTMLElement {
  const error = alertBox("password-error");
  const done = statusBox("password-changed");
  done.el.setAttribute("tabindex", "-1");
  const current = field({ id: "current-password", label: "Current password", type: "password", autocomplete: "current-password" });
  const next = field({
    id: "new-password",
    label: "New password",
    type: "password",
    autocomplete: "new-password",
    hint: "At least 10 characters. Changing it signs you out on every other computer and phone.",
  });
  const submit = action({ id: "change-password-button", label: "Change password", type: "submit", needsCouncil: true });
  const form = h(
    "form",
    { class: "form", novalidate: true, id: "password-form", "aria-labelledby": "change-password" },
    h("h2", { class: "section-title", id: "change-password" }, "Change your password"),
    error.el,
    done.el,
    current.wrap,
    next.wrap,
    h("div", { class: "actions" }, submit.wrap),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (isBlocked(submit.button)) return;
    error.set(null);
    done.set(null);
    const currentErr = current.value() ? null : "Enter your current password.";
    const nextErr = newPasswordProblem(current.value(), next.value());
    current.setError(currentErr);
    next.setError(nextErr);
    if (currentErr) return current.input.focus();
    if (nextErr) return next.input.focus();
    setBusy(submit.button, true, "Changing…");
    try {
      await ctx.api.changePassword({ current_password: current.value(), new_password: next.value() });
      if (!ctx.alive()) return;
      setBusy(submit.button, false);
      current.input.value = "";
      next.input.value = "";
      done.set("Your password is changed. You are still signed in here; every other computer and phone has been signed out.");
      done.el.focus();
    } catch (err) {
      if (!ctx.alive()) return;
      setBusy(submit.button, false);
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
    }
  });
  return form;
}

// ----- your data --------------------------------------------------------------------------------

export function dataScreen(ctx: Ctx, main: HTMLElement): void {
  const error = alertBox("data-error");
  const done = statusBox("data-status");
  const body = h("div", { class: "data" }, h("p", { class: "loading" }, "Loading…"));
  add(main,
    screenHeading("Your data"),
    h("p", { class: "lead" }, "What Kerbside keeps, and where."),
    error.el,
    done.el,
    body,
  );

  const draw = (d: DataSummary) => {
    const council = d.embedded_council ? "the built-in demo council, which runs inside this app" : d.council_url;
    const confirmArea = h("div", { class: "confirm-area" });
    const wipe = action({
      id: "wipe-button",
      label: "Wipe this computer's copy",
      variant: "warning",
      onClick: () => askToWipe(),
    });
    function askToWipe(): void {
      wipe.wrap.hidden = true;
      const yes = action({
        id: "confirm-wipe-button",
        label: "Yes, wipe this computer's copy",
        variant: "warning",
        onClick: (b) => void doWipe(b),
      });
      const no = action({
        id: "cancel-wipe-button",
        label: "No, keep it",
        variant: "secondary",
        onClick: () => {
          fill(confirmArea);
          wipe.wrap.hidden = false;
          wipe.button.focus();
        },
      });
      fill(
        confirmArea,
        h(
          "div",
          { class: "notice notice-important", role: "group", "aria-labelledby": "wipe-question", "data-testid": "wipe-confirm" },
          h("p", { id: "wipe-question" }, h("strong", null, "Wipe this computer's copy?")),
          h("p", null, "This deletes the permits saved on this computer and your sign-in session, so you will be signed out here. Your account and permits stay safe with the council."),
          h("div", { class: "actions" }, yes.wrap, no.wrap),
        ),
      );
      yes.button.focus();
    }
    async function doWipe(button: HTMLButtonElement): Promise<void> {
      setBusy(button, true, "Wiping…");
      try {
        const after = await ctx.api.wipeLocalData();
        if (!ctx.alive()) return;
        delete document.body.dataset.permitsVisible;
        await ctx.signedOut("This computer's copy has been wiped and you are signed out here. Your permits are safe with the council.");
        void after;
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(button, false);
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
      }
    }
    fill(
      body,
      h(
        "section",
        { class: "data-section", "aria-labelledby": "data-council" },
        h("h2", { class: "section-title", id: "data-council" }, "With the council"),
        h("p", { "data-testid": "data-council" }, "Your account, permits and payments. They are kept by ", council, "."),
      ),
      h(
        "section",
        { class: "data-section", "aria-labelledby": "data-computer" },
        h("h2", { class: "section-title", id: "data-computer" }, "On this computer"),
        h(
          "p",
          { "data-testid": "data-cache" },
          `A copy of your permits so you can see them offline (${d.cached_permits === 1 ? "1 permit" : `${d.cached_permits} permits`}), `,
          d.last_synced_at ? `last updated ${formatDateTime(d.last_synced_at)}.` : "not yet updated from the council.",
        ),
        summary([
          ["File", h("code", { class: "path", "data-testid": "cache-file" }, d.cache_file)],
          ["Folder", h("code", { class: "path" }, d.data_folder)],
        ]),
      ),
      h(
        "section",
        { class: "data-section", "aria-labelledby": "data-keyring" },
        h("h2", { class: "section-title", id: "data-keyring" }, "In this computer's keyring"),
        h(
          "p",
          { "data-testid": "data-keyring" },
          "Your sign-in session, never your password. ",
          d.signed_in ? "You are signed in on this computer." : "There is no session stored now.",
        ),
        summary([["Keyring entry", h("code", { class: "path", "data-testid": "keyring-service" }, d.keyring_service)]]),
      ),
      h(
        "section",
        { class: "data-section", "aria-labelledby": "data-wipe" },
        h("h2", { class: "section-title", id: "data-wipe" }, "Remove Kerbside's data from this computer"),
        h("p", null, "For example before you give the computer away. Nothing is deleted at the council."),
        wipe.wrap,
        confirmArea,
      ),
    );
  };

  void (async () => {
    try {
      const d = await ctx.api.dataSummary();
      if (!ctx.alive()) return;
      draw(d);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg) error.set(msg);
      fill(body);
    }
  })();
}

// ----- settings ---------------------------------------------------------------------------------

export function settingsScreen(ctx: Ctx, main: HTMLElement): void {
  const snap = ctx.snapshot();
  const error = alertBox("settings-error");
  const done = statusBox("settings-status");
  const demo = h("input", { type: "radio", name: "council", id: "council-demo", value: "demo", class: "choice-input", "data-testid": "council-demo", checked: snap?.embedded_council !== false });
  const custom = h("input", {
    type: "radio",
    name: "council",
    id: "council-custom",
    value: "custom",
    class: "choice-input",
    "data-testid": "council-custom",
    checked: snap?.embedded_council === false,
    "aria-controls": "council-url-field",
  });
  const url = field({
    id: "council-url-input",
    label: "Permit service address",
    type: "url",
    value: snap && !snap.embedded_council ? snap.council_url : "",
    hint: "The web address your council gives for its permit service, for example https://permits.example.gov.uk",
    spellcheck: false,
  });
  url.wrap.id = "council-url-field";
  url.wrap.classList.add("conditional");
  const syncUrl = () => {
    url.wrap.hidden = !custom.checked;
  };
  demo.addEventListener("change", syncUrl);
  custom.addEventListener("change", syncUrl);
  syncUrl();

  const save = action({ id: "save-council-button", label: "Save council", type: "submit" });
  const form = h(
    "form",
    { class: "form", novalidate: true, id: "council-form", "aria-labelledby": "council-title" },
    h("h2", { class: "section-title", id: "council-title" }, "Your council"),
    h(
      "p",
      { "data-testid": "current-council" },
      "Kerbside is using ",
      snap?.embedded_council ? "the built-in demo council." : snap ? `${snap.council_url}.` : "an unknown council.",
    ),
    h(
      "fieldset",
      { class: "fieldset choices" },
      h("legend", { class: "fieldset-legend" }, "Which council's permit service should Kerbside use?"),
      h("div", { class: "choice" }, demo, h("label", { for: "council-demo", class: "choice-label" }, h("span", { class: "choice-title" }, "Built-in demo council")),
        h("div", { class: "choice-hint" }, h("p", null, "Leicester City Council demo, running inside this app. Nothing is real and no money is taken."))),
      h("div", { class: "choice" }, custom, h("label", { for: "council-custom", class: "choice-label" }, h("span", { class: "choice-title" }, "My council's permit service address"))),
      url.wrap,
    ),
    h("p", { class: "hint" }, "Changing council signs you out, because your account belongs to the council."),
    h("div", { class: "actions" }, save.wrap),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (isBlocked(save.button)) return;
    error.set(null);
    done.set(null);
    let target: string | null = null;
    if (custom.checked) {
      const u = url.value().trim();
      const bad = !/^https?:\/\/\S+$/i.test(u) ? "Enter the address in full, starting with https://" : null;
      url.setError(bad);
      if (bad) {
        url.input.focus();
        return;
      }
      target = u;
    } else {
      url.setError(null);
    }
    setBusy(save.button, true, custom.checked ? "Checking the address…" : "Saving…");
    try {
      const wasSignedIn = Boolean(ctx.snapshot()?.signed_in_email);
      const next = await ctx.api.setCouncilUrl(target);
      if (!ctx.alive()) return;
      ctx.applySnapshot(next);
      const changed = snap?.council_url !== next.council_url;
      if (changed && wasSignedIn && !next.signed_in_email) {
        await ctx.signedOut(
          next.embedded_council
            ? "Kerbside now uses the built-in demo council. Sign in to continue."
            : `Kerbside now uses ${next.council_url}. Sign in with your account there.`,
        );
        return;
      }
      ctx.navigate({ name: "settings" }, changed ? "Council changed." : "Saved. The council is unchanged.");
    } catch (err) {
      if (!ctx.alive()) return;
      setBusy(save.button, false);
      const msg = ctx.fail(err);
      if (msg) {
        if (custom.checked) url.setError(msg);
        error.set(msg);
      }
    }
  });

  // Start at login: off unless the resident turns it on.
  const autostart = h("input", { type: "checkbox", id: "autostart-checkbox", "data-testid": "autostart-checkbox", class: "checkbox-input", disabled: true });
  const autostartNote = h("p", { class: "hint", id: "autostart-hint" }, "When this is on, Kerbside opens quietly in the system tray when you sign in to this computer, so renewal reminders reach you even after a restart.");
  autostart.setAttribute("aria-describedby", "autostart-hint");
  void ctx.api
    .autostartEnabled()
    .then((on) => {
      autostart.checked = on;
      autostart.disabled = false;
    })
    .catch((err) => error.set(ctx.fail(err)));
  autostart.addEventListener("change", async () => {
    autostart.disabled = true;
    try {
      const on = await ctx.api.setAutostart(autostart.checked);
      autostart.checked = on;
      done.set(on ? "Kerbside will start when you sign in to this computer." : "Kerbside will not start by itself.");
    } catch (err) {
      autostart.checked = !autostart.checked;
      error.set(ctx.fail(err));
    } finally {
      autostart.disabled = false;
    }
  });
  const startup = h(
    "section",
    { class: "data-section", "aria-labelledby": "startup-title" },
    h("h2", { class: "section-title", id: "startup-title" }, "Reminders after a restart"),
    h("div", { class: "checkbox" }, autostart, h("label", { for: "autostart-checkbox", class: "checkbox-label" }, "Start Kerbside when I sign in to this computer")),
    autostartNote,
  );

  add(main,
    screenHeading("Settings"),
    ctx.flash ? flashNotice(ctx.flash) : null,
    error.el,
    done.el,
    form,
    startup,
    snap?.clock_is_set
      ? h(
          "section",
          { class: "data-section", "aria-labelledby": "clock-title" },
          h("h2", { class: "section-title", id: "clock-title" }, "Clock"),
          h("p", { "data-testid": "demo-clock" }, `Demo clock: today is ${formatDate(snap.today)}. Kerbside and the demo council were started with a set date, for demonstrations and tests.`),
        )
      : null,
  );
}
