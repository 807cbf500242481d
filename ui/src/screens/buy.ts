/** "Buy a permit": type → eligibility → registration → review and pay. */

import type { CouncilInfo } from "../bindings/CouncilInfo";
import type { Profile } from "../bindings/Profile";
import type { PermitTypeInfo } from "../bindings/PermitTypeInfo";
import { action, alertBox, dateField, field, isBlocked, notice, screenHeading, setBusy, summary } from "../components";
import { add, fill, h } from "../dom";
import { formatAddress, formatDate, formatPrice, formatZone, parseDateParts, payButtonLabel } from "../format";
import type { Ctx } from "../screen";
import {
  back,
  blocker,
  chooseType,
  currentStep,
  initialWizard,
  next,
  setRegistration,
  STEP_TITLES,
  stepCounter,
  toRequest,
  type WizardState,
} from "../wizard";
import { runPayment } from "./payflow";
import { registrationField } from "./registration";

export function buyScreen(ctx: Ctx, main: HTMLElement): void {
  let state: WizardState = initialWizard;
  let info: CouncilInfo | null = null;
  let profile: Profile | null = null;
  const today = ctx.snapshot()?.today ?? new Date().toISOString().slice(0, 10);

  add(main, screenHeading("Buy a permit"), h("p", { class: "loading" }, "Loading the council's permits…"));

  const facts = () => ({ types: info?.permit_types ?? [], dateOfBirth: profile?.date_of_birth ?? null });
  const typeInfo = (): PermitTypeInfo | undefined => info?.permit_types.find((t) => t.permit_type === state.permitType);

  void (async () => {
    try {
      const [i, p] = await Promise.all([ctx.councilInfo(), ctx.api.getProfile()]);
      if (!ctx.alive()) return;
      info = i;
      profile = p;
      render(false);
    } catch (err) {
      if (!ctx.alive()) return;
      const msg = ctx.fail(err);
      if (msg) {
        const error = alertBox("buy-error");
        error.set(msg);
        main.replaceChildren(
          screenHeading("Buy a permit"),
          error.el,
          action({ id: "buy-retry-button", label: "Try again", onClick: () => ctx.navigate({ name: "buy" }) }).wrap,
        );
      }
    }
  })();

  /** Draws the current step; `focus` moves focus to its heading (not on first draw: navigate did). */
  function render(focus = true): void {
    const step = currentStep(state);
    const error = alertBox("step-error");
    const heading = screenHeading(STEP_TITLES[step]);
    const content = h("div", { class: "step-body", "data-testid": `step-${step}` });
    const continueButton = action({ id: "continue-button", label: "Continue", type: "submit" });
    const form = h("form", { class: "form", novalidate: true, "aria-labelledby": "screen-heading", id: "buy-form" }, error.el, content);
    if (step !== "review") form.append(h("div", { class: "actions" }, continueButton.wrap));

    const backAction =
      state.step > 0
        ? h("button", { type: "button", class: "button button-back", id: "back-button", "data-testid": "back-button", onclick: () => { state = back(state); render(); } }, "Back")
        : h("button", { type: "button", class: "button button-back", id: "back-button", "data-testid": "back-button", onclick: () => ctx.navigate({ name: "permits" }) }, "Back to your permits");

    main.replaceChildren(
      backAction,
      h("p", { class: "caption", "data-testid": "step-counter" }, h("span", null, "Buy a permit: "), stepCounter(state)),
      heading,
      form,
    );
    ctx.setTitle(`Buy a permit: ${STEP_TITLES[step]}`);

    let beforeNext: () => Promise<boolean> = async () => true;

    if (step === "type") drawType(content);
    if (step === "eligibility") beforeNext = drawEligibility(content, error.set);
    if (step === "registration") beforeNext = drawRegistration(content);
    if (step === "review") drawReview(content, error);

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (isBlocked(continueButton.button)) return;
      error.set(null);
      setBusy(continueButton.button, true);
      const ok = await beforeNext();
      if (!ctx.alive()) return;
      setBusy(continueButton.button, false);
      if (!ok) return;
      const why = blocker(state, facts());
      if (why) {
        error.set(why);
        return;
      }
      state = next(state, facts());
      render();
    });
    if (focus) ctx.focusHeading();
  }

  function drawType(content: HTMLElement): void {
    const types = info?.permit_types ?? [];
    add(content,
      h(
        "fieldset",
        { class: "fieldset choices", "data-testid": "permit-type-choices" },
        h("legend", { class: "fieldset-legend" }, "Which permit do you want?"),
        types.map((t) => {
          const id = `type-${t.permit_type}`;
          const hintId = `${id}-hint`;
          const input = h("input", {
            type: "radio",
            name: "permit-type",
            id,
            value: t.permit_type,
            class: "choice-input",
            "data-testid": id,
            "aria-describedby": hintId,
            checked: state.permitType === t.permit_type,
          });
          input.addEventListener("change", () => {
            if (input.checked) state = chooseType(state, t.permit_type);
          });
          return h(
            "div",
            { class: "choice" },
            input,
            h(
              "label",
              { for: id, class: "choice-label" },
              h("span", { class: "choice-title" }, t.label),
              h("span", { class: "choice-price", "data-testid": `${id}-price` }, formatPrice(t.price_pence)),
            ),
            h(
              "div",
              { class: "choice-hint", id: hintId },
              h("p", null, `Lasts ${t.term_months} months. ${t.household_limit === 1 ? "One per household." : `Up to ${t.household_limit} per household.`}`),
              t.evidence.length ? h("p", null, "You will need: ", t.evidence.join(" ")) : null,
              h("p", null, "Refunds: ", t.refund_terms),
            ),
          );
        }),
      ),
    );
  }

  function drawEligibility(content: HTMLElement, setError: (m: string | null) => void): () => Promise<boolean> {
    const t = typeInfo();
    const p = profile;
    if (!t || !p) return async () => true;
    add(content,
      h("p", { class: "lead" }, `You chose the ${t.label} (${formatPrice(t.price_pence)}).`),
      summary([
        ["Your address", formatAddress(p.address), "eligibility-address"],
        ["Parking zone", p.zone ? formatZone(p.zone) : "Not in a permit zone", "eligibility-zone"],
        ["Your date of birth", t.needs_date_of_birth && p.date_of_birth ? formatDate(p.date_of_birth) : null, "eligibility-dob"],
      ]),
      p.zone ? null : notice("Your address is not in one of the council's permit zones, so the council cannot issue a permit for it.", "no-zone", "notice-important"),
    );
    let carer: ReturnType<typeof field> | null = null;
    let dob: ReturnType<typeof dateField> | null = null;
    if (t.needs_date_of_birth) {
      if (p.date_of_birth) {
        add(content, h("p", { class: "hint" }, "Your date of birth is from your profile. The council checks that you have reached State Pension age."));
      } else {
        dob = dateField({
          id: "eligibility-dob",
          legend: "Your date of birth",
          hint: "The council checks that you have reached State Pension age. This is saved to your profile. For example 14 3 1958.",
        });
        add(content, dob.wrap);
      }
    }
    if (t.needs_carer_evidence) {
      carer = field({
        id: "carer-evidence",
        label: "Tell us about the regular carer visits you receive",
        hint: "For example the care agency's name and your client reference, or who visits and how often.",
        multiline: true,
        value: state.carerEvidence,
      });
      carer.input.addEventListener("input", () => {
        state = { ...state, carerEvidence: carer!.value() };
      });
      add(content, carer.wrap);
    }
    if (!t.needs_carer_evidence && !t.needs_date_of_birth) {
      add(content, h("p", null, "This permit needs no extra evidence: it is for your address above."));
    }
    return async () => {
      if (carer) {
        const missing = carer.value().trim() === "";
        carer.setError(missing ? "Tell us about the regular carer visits you receive." : null);
        if (missing) {
          carer.input.focus();
          return false;
        }
      }
      if (dob) {
        const parts = dob.parts();
        const parsed = parseDateParts(parts.day, parts.month, parts.year, today);
        const err = !parsed.ok ? parsed.error : parsed.iso === null ? "Enter your date of birth." : null;
        dob.setError(err);
        if (err || !parsed.ok || !parsed.iso) {
          dob.focus();
          return false;
        }
        if (!ctx.online()) {
          setError("You are offline. Saving your date of birth needs a connection to the council.");
          return false;
        }
        try {
          profile = await ctx.api.updateProfile({ date_of_birth: parsed.iso });
        } catch (e) {
          const msg = ctx.fail(e);
          if (msg) setError(msg);
          return false;
        }
      }
      return askCouncilEarly(setError);
    };
  }

  /**
   * Asks the council now whether this permit could be issued (State Pension age, household
   * limit, zone), so a refusal shows on this step and not after the registration. The quote has
   * no side effects; until a registration is entered an example one stands in.
   */
  async function askCouncilEarly(setError: (m: string | null) => void): Promise<boolean> {
    const t = typeInfo();
    if (!t) return true;
    if (!ctx.online()) {
      setError("You are offline. Checking this permit needs a connection to the council.");
      return false;
    }
    try {
      await ctx.api.quotePermit({
        permit_type: t.permit_type,
        registration: state.canonical ?? "AB12 CDE",
        carer_evidence: t.needs_carer_evidence ? state.carerEvidence.trim() : null,
        return_url: null,
      });
      return true;
    } catch (err) {
      const msg = ctx.fail(err);
      if (msg) setError(msg);
      return false;
    }
  }

  function drawRegistration(content: HTMLElement): () => Promise<boolean> {
    const reg = registrationField(ctx, { label: "Vehicle registration number", value: state.registration });
    add(content, h("p", { class: "lead" }, "The vehicle your visitors will park. You can change it later."), reg.wrap);
    reg.input.addEventListener("input", () => {
      state = setRegistration(state, reg.input.value, null);
    });
    return async () => {
      const canonical = await reg.settle();
      state = setRegistration(state, reg.input.value, canonical);
      return canonical !== null;
    };
  }

  function drawReview(content: HTMLElement, error: ReturnType<typeof alertBox>): void {
    const t = typeInfo();
    if (!t) return;
    const request = toRequest(state, info?.permit_types ?? []);
    add(content, h("p", { class: "loading" }, "Getting the price from the council…"));
    void (async () => {
      try {
        const quote = await ctx.api.quotePermit(request);
        if (!ctx.alive()) return;
        const pay = action({
          id: "pay-button",
          label: payButtonLabel(quote.price_pence),
          needsCouncil: true,
          onClick: (button) => void buy(button),
        });
        fill(
          content,
          summary(
            [
              ["Permit", t.label, "review-type"],
              ["Registration", quote.registration, "review-registration"],
              ["Zone", formatZone(quote.zone), "review-zone"],
              ["Address", formatAddress(quote.address), "review-address"],
              ["Starts", formatDate(quote.starts_on), "review-starts"],
              ["Expires", formatDate(quote.expires_on), "review-expires"],
              ["Price", formatPrice(quote.price_pence), "review-price"],
              ["Carer visits", request.carer_evidence, "review-carer"],
            ],
            "review-summary",
          ),
          h("p", { class: "hint" }, "Refunds: ", t.refund_terms),
          Number(quote.price_pence) > 0
            ? h("p", null, "The council's payment page opens in its own window. Your permit is live once the council confirms the payment.")
            : h("p", null, "This permit is free: it is issued as soon as you confirm."),
          h("div", { class: "actions" }, pay.wrap),
          changeLinks(),
        );
      } catch (err) {
        if (!ctx.alive()) return;
        const msg = ctx.fail(err);
        if (msg) {
          error.set(msg);
          fill(content, h("p", null, "Change your answers and try again."), changeLinks());
        }
      }
    })();

    async function buy(button: HTMLButtonElement): Promise<void> {
      error.set(null);
      setBusy(button, true, "Please wait…");
      try {
        const purchase = await ctx.api.buyPermit(request);
        if (!ctx.alive()) return;
        runPayment(ctx, main, purchase, { onRetry: () => render() });
      } catch (err) {
        if (!ctx.alive()) return;
        setBusy(button, false);
        const msg = ctx.fail(err);
        if (msg) error.set(msg);
      }
    }
  }

  function changeLinks(): HTMLElement {
    const go = (step: number) => () => {
      state = { ...state, step };
      render();
    };
    return h(
      "div",
      { class: "actions change-links" },
      h("button", { type: "button", class: "button button-link", id: "change-type-button", "data-testid": "change-type-button", onclick: go(0) }, "Change the permit type"),
      h("button", { type: "button", class: "button button-link", id: "change-eligibility-button", "data-testid": "change-eligibility-button", onclick: go(1) }, "Change your details"),
      h("button", { type: "button", class: "button button-link", id: "change-registration-button", "data-testid": "change-registration-button", onclick: go(2) }, "Change the registration"),
    );
  }
}
