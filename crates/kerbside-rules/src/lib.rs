//! The council's permit rules, as pure functions and parsing newtypes.
//!
//! Nothing here does IO or reads the clock: every rule takes the date it is judged on. The
//! council server enforces these rules and the desktop app uses the same functions to explain
//! them (when renewal opens, what a refund will be), so there is one implementation, never two.

mod address_change;
mod dates;
mod error;
mod lifecycle;
mod money;
mod pension;
mod refund;
mod registration;
mod tariff;
mod zones;

pub use address_change::{permits_to_surrender, EvidenceDocument};
pub use dates::{
    anniversary, check_renewal, format_uk_date, renewal_opens_on, uk_local_date, RenewalError,
    Term, RENEWAL_WINDOW_DAYS, UK_TIME_ZONE,
};
pub use error::Error;
pub use lifecycle::{
    check_action, permit_status, IllegalTransition, PermitAction, PermitEvent, PermitState,
    PermitStatus,
};
pub use money::Money;
pub use pension::{PensionAgeBand, PensionAgeSchedule};
pub use refund::{quote_refund, RefundPolicy};
pub use registration::{Registration, RegistrationError, RegistrationFormat};
pub use tariff::{
    check_eligibility, check_household_limit, EligibilityError, EvidenceRequirement,
    HouseholdLimitError, PermitType, PermitTypeTerms, Tariff,
};
pub use zones::{Address, AddressError, Postcode, StreetEntry, StreetList, Zone};
