import { describe, expect, it } from "vitest";
import type { PermitTypeInfo } from "./bindings/PermitTypeInfo";
import {
  back,
  blocker,
  chooseType,
  currentStep,
  goTo,
  initialWizard,
  next,
  setRegistration,
  stepCounter,
  toRequest,
  type Facts,
} from "./wizard";

function info(permit_type: PermitTypeInfo["permit_type"], over: Partial<PermitTypeInfo> = {}): PermitTypeInfo {
  return {
    permit_type,
    label: permit_type,
    price_pence: BigInt(0),
    term_months: 12,
    household_limit: 1,
    evidence: [],
    needs_date_of_birth: false,
    needs_carer_evidence: false,
    refund_terms: "",
    ...over,
  };
}

const types = [
  info("annual_visitor", { price_pence: BigInt(4000) }),
  info("care", { needs_carer_evidence: true }),
  info("over_state_pension_age", { needs_date_of_birth: true }),
];
const facts: Facts = { types, dateOfBirth: null };

describe("the buy wizard", () => {
  it("counts four steps and will not leave step 1 without a choice", () => {
    expect(stepCounter(initialWizard)).toBe("Step 1 of 4");
    expect(currentStep(initialWizard)).toBe("type");
    expect(blocker(initialWizard, facts)).toMatch(/Choose/);
    expect(next(initialWizard, facts)).toBe(initialWizard);
  });

  it("walks a visitor permit through to review and builds the request", () => {
    let s = chooseType(initialWizard, "annual_visitor");
    s = next(s, facts);
    expect(stepCounter(s)).toBe("Step 2 of 4");
    s = next(s, facts); // no evidence needed
    expect(currentStep(s)).toBe("registration");
    expect(next(s, facts)).toBe(s); // no valid registration yet
    s = setRegistration(s, "ab12cde", "AB12 CDE");
    s = next(s, facts);
    expect(currentStep(s)).toBe("review");
    expect(stepCounter(s)).toBe("Step 4 of 4");
    expect(next(s, facts)).toBe(s);
    expect(toRequest(s, types)).toEqual({
      permit_type: "annual_visitor",
      registration: "AB12 CDE",
      carer_evidence: null,
      return_url: null,
    });
  });

  it("asks a carer about the visits and sends what they wrote", () => {
    let s = next(chooseType(initialWizard, "care"), facts);
    expect(blocker(s, facts)).toBe("Tell us about the regular carer visits you receive.");
    s = { ...s, carerEvidence: "  Leicester Home Care, ref 4471 " };
    s = next(s, facts);
    s = next(setRegistration(s, "LM68XYZ", "LM68 XYZ"), facts);
    expect(toRequest(s, types).carer_evidence).toBe("Leicester Home Care, ref 4471");
  });

  it("needs a date of birth for the pension-age permit", () => {
    const s = next(chooseType(initialWizard, "over_state_pension_age"), facts);
    expect(blocker(s, facts)).toMatch(/date of birth/);
    expect(blocker(s, { ...facts, dateOfBirth: "1958-03-14" })).toBeNull();
  });

  it("goes back, and only jumps to steps already seen", () => {
    let s = next(chooseType(initialWizard, "annual_visitor"), facts);
    expect(goTo(s, "review")).toBe(s);
    s = back(s);
    expect(currentStep(s)).toBe("type");
    expect(back(s)).toBe(s);
  });

  it("forgets carer details when the permit type changes", () => {
    const s = { ...chooseType(initialWizard, "care"), carerEvidence: "x" };
    expect(chooseType(s, "annual_visitor").carerEvidence).toBe("");
    expect(chooseType(s, "care")).toBe(s);
  });

  it("refuses to build a request before the answers are complete", () => {
    expect(() => toRequest(initialWizard, types)).toThrow();
  });
});
