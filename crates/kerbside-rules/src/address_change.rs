//! Moving house: the evidence a council accepts, and which permits must be given up.

use crate::Address;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceDocument {
    CouncilTaxBill,
    TenancyAgreement,
    CompletionStatement,
}

impl EvidenceDocument {
    pub const ALL: [EvidenceDocument; 3] = [
        EvidenceDocument::CouncilTaxBill,
        EvidenceDocument::TenancyAgreement,
        EvidenceDocument::CompletionStatement,
    ];

    pub fn label(self) -> &'static str {
        match self {
            EvidenceDocument::CouncilTaxBill => "Council tax bill",
            EvidenceDocument::TenancyAgreement => "Tenancy agreement",
            EvidenceDocument::CompletionStatement => "Completion statement",
        }
    }

    /// What the document must show for the council to accept it.
    pub fn must_show(self) -> &'static str {
        match self {
            EvidenceDocument::CouncilTaxBill => "a council tax bill for the new address",
            EvidenceDocument::TenancyAgreement | EvidenceDocument::CompletionStatement => {
                "the names of the residents, the full address and the signatures of all parties"
            }
        }
    }
}

/// The permits (by id) held for a household other than the new address: they must be
/// cancelled, and new ones bought for the new address.
pub fn permits_to_surrender<'a, I>(permits: I, new_address: &Address) -> Vec<&'a str>
where
    I: IntoIterator<Item = (&'a str, &'a Address)>,
{
    let new_household = new_address.household_key();
    permits
        .into_iter()
        .filter(|(_, address)| address.household_key() != new_household)
        .map(|(id, _)| id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zones::tests::address;

    #[test]
    fn permits_at_the_old_address_must_be_surrendered_after_a_move() {
        let old = address("12", "Hazel Street", "LE2 7JN");
        let new = address("3", "Westcotes Drive", "LE3 0QT");
        let permits = [("p1", &old), ("p2", &new), ("p3", &old)];
        assert_eq!(permits_to_surrender(permits, &new), vec!["p1", "p3"]);
        assert!(permits_to_surrender([("p1", &old)], &old).is_empty());
    }

    #[test]
    fn tenancy_agreements_must_show_names_address_and_signatures() {
        assert!(EvidenceDocument::TenancyAgreement
            .must_show()
            .contains("signatures of all parties"));
        assert!(EvidenceDocument::CouncilTaxBill
            .must_show()
            .contains("council tax bill"));
    }
}
