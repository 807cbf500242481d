use crate::{
    AddressError, EligibilityError, HouseholdLimitError, IllegalTransition, RegistrationError,
    RenewalError,
};

/// Any rule that refused. Every message is a sentence a resident (or a council officer editing
/// a tariff file) understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    Renewal(#[from] RenewalError),
    #[error(transparent)]
    Eligibility(#[from] EligibilityError),
    #[error(transparent)]
    HouseholdLimit(#[from] HouseholdLimitError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("The tariff file is not valid: {0}")]
    InvalidTariff(String),
}
