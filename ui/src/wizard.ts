/** The "Buy a permit" wizard's steps and answers (pure: no DOM, no IPC). */

import type { PermitRequest } from "./bindings/PermitRequest";
import type { PermitType } from "./bindings/PermitType";
import type { PermitTypeInfo } from "./bindings/PermitTypeInfo";

export const STEPS = ["type", "eligibility", "registration", "review"] as const;
export type Step = (typeof STEPS)[number];

export const STEP_TITLES: Record<Step, string> = {
  type: "Choose a permit",
  eligibility: "Check you can have this permit",
  registration: "Vehicle registration",
  review: "Check and pay",
};

export type WizardState = {
  step: number;
  permitType: PermitType | null;
  carerEvidence: string;
  registration: string;
  /** The canonical registration once `check_registration` accepted it. */
  canonical: string | null;
};

export const initialWizard: WizardState = {
  step: 0,
  permitType: null,
  carerEvidence: "",
  registration: "",
  canonical: null,
};

export function currentStep(s: WizardState): Step {
  return STEPS[s.step];
}

/** "Step 1 of 4". */
export function stepCounter(s: WizardState): string {
  return `Step ${s.step + 1} of ${STEPS.length}`;
}

export type Facts = {
  types: readonly PermitTypeInfo[];
  /** The profile's date of birth, if any. */
  dateOfBirth: string | null;
};

/** Why the resident cannot leave the current step yet, or null. */
export function blocker(s: WizardState, facts: Facts): string | null {
  const info = facts.types.find((t) => t.permit_type === s.permitType);
  switch (currentStep(s)) {
    case "type":
      return info ? null : "Choose the permit you want.";
    case "eligibility":
      if (!info) return "Choose the permit you want.";
      if (info.needs_date_of_birth && !facts.dateOfBirth) {
        return "Add your date of birth so the council can check you are over State Pension age.";
      }
      if (info.needs_carer_evidence && s.carerEvidence.trim() === "") {
        return "Tell us about the regular carer visits you receive.";
      }
      return null;
    case "registration":
      return s.canonical ? null : "Enter a valid vehicle registration, for example AB12 CDE.";
    case "review":
      return null;
  }
}

export function next(s: WizardState, facts: Facts): WizardState {
  if (blocker(s, facts) !== null || s.step >= STEPS.length - 1) return s;
  return { ...s, step: s.step + 1 };
}

export function back(s: WizardState): WizardState {
  return s.step === 0 ? s : { ...s, step: s.step - 1 };
}

export function goTo(s: WizardState, step: Step): WizardState {
  const i = STEPS.indexOf(step);
  return i >= 0 && i <= s.step ? { ...s, step: i } : s;
}

export function chooseType(s: WizardState, permitType: PermitType): WizardState {
  return s.permitType === permitType ? s : { ...s, permitType, carerEvidence: "" };
}

export function setRegistration(s: WizardState, typed: string, canonical: string | null): WizardState {
  return { ...s, registration: typed, canonical };
}

/** The request for `quote_permit` / `buy_permit`. */
export function toRequest(s: WizardState, types: readonly PermitTypeInfo[]): PermitRequest {
  if (!s.permitType || !s.canonical) throw new Error("the wizard is not complete");
  const info = types.find((t) => t.permit_type === s.permitType);
  return {
    permit_type: s.permitType,
    registration: s.canonical,
    carer_evidence: info?.needs_carer_evidence ? s.carerEvidence.trim() : null,
    return_url: null,
  };
}
