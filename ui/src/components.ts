/** Building blocks shared by the screens: fields, buttons that need the council, plates, labels. */

import type { PermitCard } from "./bindings/PermitCard";
import { describeBy, h, nextId, undescribe, type Child } from "./dom";
import { NEEDS_CONNECTION } from "./offline";

// ----- buttons that need the council ----------------------------------------------------------

let online = true;

/** Called by the app when the connection changes: every council action follows at once. */
export function setActionsOnline(value: boolean, root: ParentNode = document): void {
  online = value;
  root.querySelectorAll<HTMLButtonElement>("button[data-needs-council]").forEach(applyButtonState);
}

export function isOnline(): boolean {
  return online;
}

function applyButtonState(button: HTMLButtonElement): void {
  const offline = button.dataset.needsCouncil === "true" && !online;
  const blocked = button.dataset.blocked === "true";
  const busy = button.dataset.busy === "true";
  const disabled = offline || blocked || busy;
  if (disabled) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
  const note = button.parentElement?.querySelector<HTMLElement>(":scope > .offline-note") ?? null;
  if (note) {
    note.hidden = !offline;
    if (offline) describeBy(button, note.id);
    else undescribe(button, note.id);
  }
}

/** True when a click on this button must do nothing (offline, not allowed, or busy). */
export function isBlocked(button: HTMLButtonElement): boolean {
  return button.getAttribute("aria-disabled") === "true";
}

export function setBusy(button: HTMLButtonElement, busy: boolean, busyLabel?: string): void {
  button.dataset.busy = busy ? "true" : "false";
  const label = button.querySelector(".label") ?? button;
  if (busy && busyLabel) {
    button.dataset.idleLabel = label.textContent ?? "";
    label.textContent = busyLabel;
  } else if (!busy && button.dataset.idleLabel !== undefined) {
    label.textContent = button.dataset.idleLabel;
    delete button.dataset.idleLabel;
  }
  applyButtonState(button);
}

export type ActionOptions = {
  id: string;
  label: Child;
  testid?: string;
  /** Needs the council: disabled with a visible note while offline. */
  needsCouncil?: boolean;
  /** Not allowed now: disabled, with this reason shown next to it. */
  blockedReason?: string | null;
  variant?: "primary" | "secondary" | "warning" | "link";
  type?: "button" | "submit";
  onClick?: (button: HTMLButtonElement) => void;
};

/**
 * A button plus the visible text that says why it cannot be used (aria-disabled keeps it
 * focusable, so the reason is found with the keyboard too).
 */
export function action(o: ActionOptions): { wrap: HTMLElement; button: HTMLButtonElement } {
  const reasonId = `${o.id}-reason`;
  const button = h(
    "button",
    {
      type: o.type ?? "button",
      id: o.id,
      class: `button button-${o.variant ?? "primary"}`,
      "data-testid": o.testid ?? o.id,
    },
    h("span", { class: "label" }, o.label),
  );
  if (o.needsCouncil) button.dataset.needsCouncil = "true";
  const parts: Child[] = [button];
  if (o.blockedReason) {
    button.dataset.blocked = "true";
    parts.push(h("span", { class: "action-note", id: reasonId, "data-testid": `${o.testid ?? o.id}-reason` }, o.blockedReason));
    describeBy(button, reasonId);
  }
  if (o.needsCouncil) {
    parts.push(h("span", { class: "action-note offline-note", id: `${o.id}-offline`, hidden: true }, NEEDS_CONNECTION));
  }
  button.addEventListener("click", (ev) => {
    if (isBlocked(button)) {
      ev.preventDefault();
      return;
    }
    if (o.onClick && (o.type ?? "button") === "button") o.onClick(button);
  });
  const wrap = h("div", { class: "action" }, parts);
  applyButtonState(button);
  return { wrap, button };
}

// ----- headings and messages ------------------------------------------------------------------

/** The screen's one h1; focus moves here on navigation. */
export function screenHeading(text: string): HTMLHeadingElement {
  return h("h1", { id: "screen-heading", tabindex: "-1", "data-testid": "screen-heading" }, text);
}

/** A box for a form's error: announced as an alert when filled. */
export function alertBox(testid = "form-error"): { el: HTMLElement; set(msg: string | null): void } {
  const id = nextId("alert");
  const el = h("div", { class: "alert", role: "alert", id, "data-testid": testid });
  return {
    el,
    set(msg) {
      el.replaceChildren();
      if (msg) el.appendChild(h("p", null, msg));
    },
  };
}

/** A box for a success or information message, announced politely. */
export function statusBox(testid = "form-status"): { el: HTMLElement; set(msg: Child | null): void } {
  const el = h("div", { class: "status-box", role: "status", "data-testid": testid });
  return {
    el,
    set(msg) {
      el.replaceChildren();
      if (msg) el.appendChild(h("p", null, msg));
    },
  };
}

/** A message carried over from the previous screen ("Registration changed to …"), announced politely. */
export function flashNotice(text: string): HTMLElement {
  return h("div", { class: "notice notice-success", role: "status", "data-testid": "flash" }, h("p", null, text));
}

export function notice(text: Child, testid?: string, extraClass = ""): HTMLElement {
  return h("div", { class: `notice ${extraClass}`.trim(), "data-testid": testid }, h("p", null, text));
}

// ----- fields -------------------------------------------------------------------------------

export type FieldOptions = {
  id: string;
  label: string;
  type?: string;
  value?: string;
  hint?: string;
  autocomplete?: string;
  required?: boolean;
  testid?: string;
  inputmode?: string;
  width?: "short" | "medium" | "long";
  multiline?: boolean;
  spellcheck?: boolean;
};

export type Field = {
  wrap: HTMLElement;
  input: HTMLInputElement | HTMLTextAreaElement;
  hint: HTMLElement | null;
  setError(message: string | null): void;
  value(): string;
};

export function field(o: FieldOptions): Field {
  const hintId = `${o.id}-hint`;
  const errorId = `${o.id}-error`;
  const attrs = {
    id: o.id,
    name: o.id,
    class: `input input-${o.width ?? "long"}`,
    autocomplete: o.autocomplete,
    required: o.required ? true : undefined,
    "aria-required": o.required ? "true" : undefined,
    "data-testid": o.testid ?? o.id,
    inputmode: o.inputmode,
    spellcheck: o.spellcheck === false ? "false" : undefined,
  };
  const input = o.multiline
    ? h("textarea", { ...attrs, rows: 4 })
    : h("input", { ...attrs, type: o.type ?? "text" });
  input.value = o.value ?? "";
  const hint = o.hint ? h("p", { class: "hint", id: hintId }, o.hint) : null;
  if (hint) describeBy(input, hintId);
  const error = h("p", { class: "field-error", id: errorId, hidden: true, "data-testid": `${o.testid ?? o.id}-error` });
  const wrap = h("div", { class: "field" }, h("label", { for: o.id, class: "field-label" }, o.label), hint, error, input);
  return {
    wrap,
    input,
    hint,
    value: () => input.value,
    setError(message) {
      if (message) {
        error.replaceChildren(h("span", { class: "visually-hidden" }, "Error: "), message);
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        describeBy(input, errorId);
        wrap.classList.add("field-has-error");
      } else {
        error.replaceChildren();
        error.hidden = true;
        input.removeAttribute("aria-invalid");
        undescribe(input, errorId);
        wrap.classList.remove("field-has-error");
      }
    },
  };
}

/** Day / month / year inputs in a fieldset (robust where the webview has no date picker). */
export function dateField(o: { id: string; legend: string; hint?: string; value?: string | null }): {
  wrap: HTMLElement;
  parts(): { day: string; month: string; year: string };
  setError(message: string | null): void;
  focus(): void;
} {
  const [y, m, d] = (o.value ?? "").split("-");
  const hintId = `${o.id}-hint`;
  const errorId = `${o.id}-error`;
  const part = (key: string, label: string, value: string, width: string) => {
    const input = h("input", {
      id: `${o.id}-${key}`,
      name: `${o.id}-${key}`,
      class: `input input-${width}`,
      inputmode: "numeric",
      autocomplete: key === "day" ? "bday-day" : key === "month" ? "bday-month" : "bday-year",
      "data-testid": `${o.id}-${key}`,
    });
    input.value = value ? String(Number(value)) : "";
    return { input, wrap: h("div", { class: "date-part" }, h("label", { for: input.id, class: "field-label" }, label), input) };
  };
  const day = part("day", "Day", d ?? "", "day");
  const month = part("month", "Month", m ?? "", "day");
  const year = part("year", "Year", y ?? "", "year");
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const fieldset = h(
    "fieldset",
    { class: "field date-field", "aria-describedby": o.hint ? hintId : undefined, id: o.id },
    h("legend", { class: "field-label" }, o.legend),
    o.hint ? h("p", { class: "hint", id: hintId }, o.hint) : null,
    error,
    h("div", { class: "date-parts" }, day.wrap, month.wrap, year.wrap),
  );
  return {
    wrap: fieldset,
    parts: () => ({ day: day.input.value, month: month.input.value, year: year.input.value }),
    focus: () => day.input.focus(),
    setError(message) {
      for (const p of [day, month, year]) {
        if (message) {
          p.input.setAttribute("aria-invalid", "true");
          describeBy(p.input, errorId);
        } else {
          p.input.removeAttribute("aria-invalid");
          undescribe(p.input, errorId);
        }
      }
      error.hidden = !message;
      error.replaceChildren();
      if (message) error.append(h("span", { class: "visually-hidden" }, "Error: "), message);
      fieldset.classList.toggle("field-has-error", Boolean(message));
    },
  };
}

// ----- permits ------------------------------------------------------------------------------

/** The registration as on a number plate. */
export function plate(registration: string, testid = "permit-registration"): HTMLElement {
  return h("span", { class: "plate", "data-testid": testid }, registration);
}

export function statusLabel(card: Pick<PermitCard, "status" | "status_label">): HTMLElement {
  return h(
    "strong",
    { class: `status status-${card.status.replace(/_/g, "-")}`, "data-testid": "status-label", "data-status": card.status },
    card.status_label,
  );
}

export function renewalBadge(): HTMLElement {
  return h("span", { class: "badge badge-renewal", "data-testid": "renewal-badge" }, "Renewal open");
}

/** A description list of label/value rows (rows with a null value are left out). */
export function summary(rows: [string, Child, string?][], testid?: string): HTMLElement {
  return h(
    "dl",
    { class: "summary", "data-testid": testid },
    rows
      .filter(([, v]) => v !== null && v !== undefined && v !== false)
      .map(([k, v, tid]) => h("div", { class: "summary-row" }, h("dt", null, k), h("dd", { "data-testid": tid }, v))),
  );
}

export function visuallyHidden(text: string): HTMLElement {
  return h("span", { class: "visually-hidden" }, text);
}
