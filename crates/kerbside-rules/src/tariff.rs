//! What a council sells: permit types with their price, term, evidence, household limit and
//! refund policy. All of it is data from a tariff file; no price lives in logic.

use crate::{format_uk_date, Error, Money, PensionAgeSchedule, RefundPolicy};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum PermitType {
    AnnualVisitor,
    Care,
    OverStatePensionAge,
}

impl PermitType {
    pub const ALL: [PermitType; 3] = [
        PermitType::AnnualVisitor,
        PermitType::Care,
        PermitType::OverStatePensionAge,
    ];

    /// The stable code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            PermitType::AnnualVisitor => "annual_visitor",
            PermitType::Care => "care",
            PermitType::OverStatePensionAge => "over_state_pension_age",
        }
    }

    pub fn from_code(code: &str) -> Option<PermitType> {
        PermitType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The name residents know from the council's portal.
    pub fn label(self) -> &'static str {
        match self {
            PermitType::AnnualVisitor => "Annual Visitor Permit",
            PermitType::Care => "Care Annual Visitor Permit",
            PermitType::OverStatePensionAge => "Over State Pension Age Annual Visitor Permit",
        }
    }
}

/// Evidence a permit type needs before it can be bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceRequirement {
    /// The resident's date of birth shows they are over State Pension age.
    StatePensionAge,
    /// Details of the regular carer visits the permit is for.
    CarerVisits,
}

impl EvidenceRequirement {
    pub fn describe(self) -> &'static str {
        match self {
            EvidenceRequirement::StatePensionAge => {
                "Your date of birth, to show you are over State Pension age."
            }
            EvidenceRequirement::CarerVisits => {
                "Details of the regular carer visits you receive (for example the care provider and how often carers visit)."
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermitTypeTerms {
    pub permit_type: PermitType,
    pub price: Money,
    pub term_months: u32,
    pub household_limit: u32,
    #[serde(default)]
    pub evidence: Vec<EvidenceRequirement>,
    pub refund_policy: RefundPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    pub council_name: String,
    pub permit_types: Vec<PermitTypeTerms>,
}

impl Tariff {
    /// Reads and checks a council's tariff file.
    pub fn from_toml(text: &str) -> Result<Tariff, Error> {
        let tariff: Tariff =
            toml::from_str(text).map_err(|e| Error::InvalidTariff(e.to_string()))?;
        tariff.validate()?;
        Ok(tariff)
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |m: String| Err(Error::InvalidTariff(m));
        if self.council_name.trim().is_empty() {
            return invalid("council_name is empty".into());
        }
        let mut seen = HashSet::new();
        for t in &self.permit_types {
            let label = t.permit_type.label();
            if !seen.insert(t.permit_type) {
                return invalid(format!("{label} is listed more than once"));
            }
            if t.term_months == 0 {
                return invalid(format!("{label} has a term of 0 months"));
            }
            if t.price < Money::ZERO {
                return invalid(format!("{label} has a negative price"));
            }
            if t.refund_policy.fee().is_some_and(|fee| fee < Money::ZERO) {
                return invalid(format!("{label} has a negative refund fee"));
            }
        }
        Ok(())
    }

    /// Leicester City Council's published rules, as the demo council's tariff.
    pub fn leicester_demo() -> Tariff {
        Tariff::from_toml(include_str!("../../../tariffs/leicester-demo.toml"))
            .expect("the bundled demo tariff is valid")
    }

    pub fn terms(&self, permit_type: PermitType) -> Option<&PermitTypeTerms> {
        self.permit_types
            .iter()
            .find(|t| t.permit_type == permit_type)
    }
}

/// Why the resident cannot buy this permit type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EligibilityError {
    #[error(
        "Add your date of birth to your profile so we can check you are over State Pension age."
    )]
    DateOfBirthNeeded,
    #[error("You reach State Pension age on {}; you can buy this permit from then.", format_uk_date(*reaches_on))]
    UnderStatePensionAge { reaches_on: NaiveDate },
    #[error("Tell us about the regular carer visits you receive; this permit is for carers.")]
    CarerEvidenceNeeded,
}

/// Checks the evidence a permit type needs, as of the purchase date `on`.
pub fn check_eligibility(
    terms: &PermitTypeTerms,
    schedule: &PensionAgeSchedule,
    date_of_birth: Option<NaiveDate>,
    carer_evidence: Option<&str>,
    on: NaiveDate,
) -> Result<(), EligibilityError> {
    for requirement in &terms.evidence {
        match requirement {
            EvidenceRequirement::StatePensionAge => {
                let dob = date_of_birth.ok_or(EligibilityError::DateOfBirthNeeded)?;
                if !schedule.is_over_pension_age(dob, on) {
                    return Err(EligibilityError::UnderStatePensionAge {
                        reaches_on: schedule.pension_age_reached_on(dob),
                    });
                }
            }
            EvidenceRequirement::CarerVisits => {
                if carer_evidence.is_none_or(|e| e.trim().is_empty()) {
                    return Err(EligibilityError::CarerEvidenceNeeded);
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HouseholdLimitError {
    #[error("Your household already has {limit} {}{}, the most allowed.", permit_type.label(), if *limit == 1 { "" } else { "s" })]
    LimitReached { permit_type: PermitType, limit: u32 },
}

/// `held` counts the household's live, upcoming and awaiting-payment permits of this type.
pub fn check_household_limit(
    terms: &PermitTypeTerms,
    held: u32,
) -> Result<(), HouseholdLimitError> {
    if held >= terms.household_limit {
        Err(HouseholdLimitError::LimitReached {
            permit_type: terms.permit_type,
            limit: terms.household_limit,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_leicester_demo_tariff_has_the_published_prices_and_limits() {
        let t = Tariff::leicester_demo();
        assert_eq!(t.council_name, "Leicester City Council");
        let visitor = t.terms(PermitType::AnnualVisitor).unwrap();
        assert_eq!(visitor.price, Money::from_pounds(40));
        assert_eq!(visitor.term_months, 12);
        assert_eq!(visitor.household_limit, 1);
        for free in [PermitType::Care, PermitType::OverStatePensionAge] {
            let terms = t.terms(free).unwrap();
            assert_eq!(terms.price, Money::ZERO);
            assert_eq!(terms.household_limit, 1);
            assert_eq!(terms.refund_policy, RefundPolicy::NonRefundable);
        }
        assert_eq!(
            t.terms(PermitType::OverStatePensionAge).unwrap().evidence,
            vec![EvidenceRequirement::StatePensionAge]
        );
        assert_eq!(
            t.terms(PermitType::Care).unwrap().evidence,
            vec![EvidenceRequirement::CarerVisits]
        );
    }

    #[test]
    fn a_council_can_set_its_own_price_in_the_tariff_file() {
        let text = include_str!("../../../tariffs/leicester-demo.toml").replacen(
            "price = 4000",
            "price = 5500",
            1,
        );
        let t = Tariff::from_toml(&text).unwrap();
        assert_eq!(
            t.terms(PermitType::AnnualVisitor).unwrap().price,
            Money(5500)
        );
    }

    #[test]
    fn a_tariff_listing_a_type_twice_or_with_no_term_is_refused() {
        let one = r#"
            permit_type = "care"
            price = 0
            term_months = 12
            household_limit = 1
            refund_policy = { kind = "non_refundable" }
        "#;
        let twice =
            format!("council_name = \"X\"\n[[permit_types]]\n{one}\n[[permit_types]]\n{one}");
        assert!(
            matches!(Tariff::from_toml(&twice), Err(Error::InvalidTariff(m)) if m.contains("more than once"))
        );
        let zero = format!(
            "council_name = \"X\"\n[[permit_types]]\n{}",
            one.replace("term_months = 12", "term_months = 0")
        );
        assert!(Tariff::from_toml(&zero).is_err());
        let negative = format!(
            "council_name = \"X\"\n[[permit_types]]\n{}",
            one.replace("price = 0", "price = -1")
        );
        assert!(Tariff::from_toml(&negative).is_err());
        assert!(Tariff::from_toml("council_name = ").is_err());
    }

    #[test]
    fn permit_type_codes_round_trip() {
        for t in PermitType::ALL {
            assert_eq!(PermitType::from_code(t.code()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.code())
            );
        }
        assert_eq!(PermitType::from_code("resident"), None);
    }

    #[test]
    fn over_pension_age_needs_a_date_of_birth_and_the_age_reached_on_the_purchase_date() {
        let t = Tariff::leicester_demo();
        let terms = t.terms(PermitType::OverStatePensionAge).unwrap();
        let s = PensionAgeSchedule::uk();
        let today = d(2026, 11, 24);
        assert_eq!(
            check_eligibility(terms, &s, None, None, today),
            Err(EligibilityError::DateOfBirthNeeded)
        );
        let err = check_eligibility(terms, &s, Some(d(1961, 4, 6)), None, today).unwrap_err();
        assert_eq!(
            err.to_string(),
            "You reach State Pension age on 6 April 2028; you can buy this permit from then."
        );
        assert!(check_eligibility(terms, &s, Some(d(1958, 3, 14)), None, today).is_ok());
        assert!(check_eligibility(terms, &s, Some(d(1961, 4, 6)), None, d(2028, 4, 6)).is_ok());
    }

    #[test]
    fn care_permits_need_details_of_the_carer_visits() {
        let t = Tariff::leicester_demo();
        let terms = t.terms(PermitType::Care).unwrap();
        let s = PensionAgeSchedule::uk();
        let today = d(2026, 11, 24);
        assert_eq!(
            check_eligibility(terms, &s, None, Some("   "), today),
            Err(EligibilityError::CarerEvidenceNeeded)
        );
        assert!(
            check_eligibility(terms, &s, None, Some("Daily visits from Acme Care"), today).is_ok()
        );
    }

    #[test]
    fn annual_visitor_permits_need_no_evidence() {
        let t = Tariff::leicester_demo();
        let terms = t.terms(PermitType::AnnualVisitor).unwrap();
        let s = PensionAgeSchedule::uk();
        assert!(check_eligibility(terms, &s, None, None, d(2026, 11, 24)).is_ok());
    }

    #[test]
    fn the_household_limit_refuses_the_permit_beyond_it() {
        let t = Tariff::leicester_demo();
        let terms = t.terms(PermitType::AnnualVisitor).unwrap();
        assert!(check_household_limit(terms, 0).is_ok());
        let err = check_household_limit(terms, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Your household already has 1 Annual Visitor Permit, the most allowed."
        );
        let mut two = terms.clone();
        two.household_limit = 2;
        assert!(check_household_limit(&two, 1).is_ok());
        assert!(check_household_limit(&two, 2)
            .unwrap_err()
            .to_string()
            .contains("2 Annual Visitor Permits"));
    }
}
