/** The registration field, checked as typed (shared by Buy and Edit registration). */

import { field } from "../components";
import { describeBy, h } from "../dom";
import { RegistrationChecker, regHint, type RegCheckState } from "../regcheck";
import type { Ctx } from "../screen";

export type RegField = {
  wrap: HTMLElement;
  input: HTMLInputElement;
  /** Checks now; resolves with the canonical registration or null (the reason is shown). */
  settle(): Promise<string | null>;
  current(): RegCheckState;
};

export function registrationField(ctx: Ctx, o: { label: string; value?: string; onState?: (s: RegCheckState) => void }): RegField {
  const f = field({
    id: "registration-input",
    label: o.label,
    value: o.value ?? "",
    autocomplete: "off",
    spellcheck: false,
    width: "medium",
  });
  const input = f.input as HTMLInputElement;
  input.classList.add("input-registration");
  input.setAttribute("autocapitalize", "characters");
  // The live hint replaces the static hint: "Will be shown as AB12 CDE" or the reason.
  const hint = h("p", { class: "hint reg-hint", id: "registration-hint", "data-testid": "registration-hint", "aria-live": "polite" });
  f.wrap.insertBefore(hint, input);
  describeBy(input, hint.id);

  const show = (s: RegCheckState) => {
    hint.textContent = regHint(s);
    hint.dataset.state = s.kind;
    if (s.kind === "invalid") {
      input.setAttribute("aria-invalid", "true");
      f.wrap.classList.add("field-has-error");
    } else {
      input.removeAttribute("aria-invalid");
      f.wrap.classList.remove("field-has-error");
    }
    o.onState?.(s);
  };
  const checker = new RegistrationChecker((typed) => ctx.api.checkRegistration(typed), show);
  ctx.onLeave(() => checker.dispose());
  input.addEventListener("input", () => checker.input(input.value));
  show(checker.current);
  if (input.value) checker.input(input.value);

  return {
    wrap: f.wrap,
    input,
    current: () => checker.current,
    async settle() {
      const s = await checker.flush(input.value);
      if (s.kind === "valid") return s.canonical;
      if (s.kind === "unknown") return s.typed.trim(); // the council checks it again anyway
      if (s.kind === "empty") {
        hint.textContent = "Enter the vehicle's registration, for example AB12 CDE.";
        hint.dataset.state = "invalid";
        input.setAttribute("aria-invalid", "true");
      }
      input.focus();
      return null;
    },
  };
}
