//! Request and response bodies of the council permit service (`/api/v1`).
//!
//! Requests reject unknown fields, so a typo is an error rather than silently ignored.
//! Free-text values (registration, postcode) travel as strings and are parsed by the server
//! with the rules crate, so a bad value gets the rule's own explanation, not a JSON error.
//! Money is always whole pence (`*_pence`); dates are UK local dates (`YYYY-MM-DD`).

use chrono::{DateTime, NaiveDate, Utc};
use kerbside_rules::{EvidenceDocument, PermitStatus, PermitType};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// A postal address as the resident types it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    // No maxLength in the schema: the limit (100 characters) applies after trimming, which a
    // schema cannot say, and a schema stricter than the server would be wrong.
    /// House number or name, e.g. "12" or "Flat 3, Rose Court". At most 100 characters.
    #[schema(min_length = 1)]
    pub line1: String,
    /// At most 100 characters.
    #[schema(min_length = 1)]
    pub street: String,
    /// At most 100 characters.
    #[schema(min_length = 1)]
    pub town: String,
    #[schema(min_length = 5, example = "LE2 7JN")]
    pub postcode: String,
}

/// A lettered parking zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct ZoneView {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Officer,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(min_length = 3, example = "sam@example.org")]
    pub email: String,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    /// At most 100 characters.
    #[schema(min_length = 1)]
    pub name: String,
    pub address: PostalAddress,
    /// Needed only for the Over State Pension Age permit.
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    /// Where expiry reminders go; leave out to get none by email.
    #[serde(default)]
    pub reminder_email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

/// `PUT /me/password`: the password the resident signs in with now, and the new one (the same
/// rules as on registration: 10 to 128 characters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 10 characters, at most 128, and not the current one.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct Session {
    /// Bearer token for `Authorization: Bearer …`. Keep it secret.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub profile: Profile,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct Profile {
    pub id: String,
    pub email: String,
    pub name: String,
    pub address: PostalAddress,
    /// The zone of the address, if it is in one.
    pub zone: Option<ZoneView>,
    pub date_of_birth: Option<NaiveDate>,
    pub reminder_email: Option<String>,
    pub role: Role,
}

/// Fields left out are unchanged. `reminder_email: null` stops email reminders.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<NaiveDate>,
    #[ts(optional, type = "string | null")]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[schema(value_type = Option<String>)]
    pub reminder_email: Option<Option<String>>,
}

/// What a permit type costs and needs, from the council's tariff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct PermitTypeInfo {
    #[schema(value_type = schema::PermitType)]
    pub permit_type: PermitType,
    pub label: String,
    pub price_pence: i64,
    pub term_months: u32,
    pub household_limit: u32,
    /// Plain-English descriptions of the evidence needed.
    pub evidence: Vec<String>,
    pub needs_date_of_birth: bool,
    pub needs_carer_evidence: bool,
    /// The refund terms in plain English.
    pub refund_terms: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct CouncilInfo {
    pub name: String,
    pub permit_types: Vec<PermitTypeInfo>,
    pub zones: Vec<ZoneView>,
    pub renewal_window_days: i64,
    /// The council's current time (its clock may be set for demos and tests).
    pub now: DateTime<Utc>,
    /// The council's current UK local date.
    pub today: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct PermitRequest {
    #[schema(value_type = schema::PermitType)]
    pub permit_type: PermitType,
    /// As typed; spacing and case do not matter.
    #[schema(example = "AB12 CDE")]
    pub registration: String,
    /// For the Care permit: who provides the regular care visits (e.g. the agency and its reference).
    #[serde(default)]
    pub carer_evidence: Option<String>,
    /// Where the hosted payment page sends the resident afterwards (must be http(s) or a
    /// custom scheme; shown as a link). Left out: the page just says the payment is done.
    #[serde(default)]
    pub return_url: Option<String>,
}

/// The price and term a purchase would have, checked against every rule, without buying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct PermitQuote {
    #[schema(value_type = schema::PermitType)]
    pub permit_type: PermitType,
    /// Canonical spacing, e.g. "AB12 CDE".
    pub registration: String,
    pub zone: ZoneView,
    pub address: PostalAddress,
    pub price_pence: i64,
    pub starts_on: NaiveDate,
    pub expires_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct PermitHistoryEntry {
    pub at: DateTime<Utc>,
    /// e.g. "created", "paid", "registration_changed", "renewed", "cancelled".
    pub kind: String,
    /// A sentence for the resident.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct Permit {
    pub id: String,
    /// Short reference to quote to the council, e.g. "KP-7F3K9Q".
    pub reference: String,
    #[schema(value_type = schema::PermitType)]
    pub permit_type: PermitType,
    pub permit_type_label: String,
    /// Canonical spacing, e.g. "AB12 CDE".
    pub registration: String,
    pub address: PostalAddress,
    pub zone: ZoneView,
    pub starts_on: NaiveDate,
    /// The last day the permit is valid.
    pub expires_on: NaiveDate,
    /// As of `as_of`, by the council's clock.
    #[schema(value_type = schema::PermitStatus)]
    pub status: PermitStatus,
    pub status_label: String,
    pub renewal_opens_on: NaiveDate,
    /// True while renewal is possible (from `renewal_opens_on` to `expires_on`) and not done yet.
    pub renewal_open: bool,
    /// The permit that renews this one, once bought.
    pub renewed_by: Option<String>,
    /// The permit this one renews.
    pub renewal_of: Option<String>,
    pub price_pence: i64,
    pub refund_pence: Option<i64>,
    pub history: Vec<PermitHistoryEntry>,
    pub as_of: DateTime<Utc>,
    /// While the permit awaits payment and its payment can still be made: the hosted payment
    /// page, so the resident can finish paying even if the answer to the purchase or renewal
    /// was lost. Absent otherwise (paid, failed, past its deadline, free, cancelled).
    #[serde(default)]
    pub open_payment: Option<PaymentLink>,
}

/// The open payment of a permit awaiting payment: where to pay and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct PaymentLink {
    /// Ask `GET /api/v1/payments/{payment_id}` for the outcome; never trust the page's return.
    pub payment_id: String,
    /// The hosted payment page.
    pub next_url: String,
    /// After this the payment fails and the permit is never issued.
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct PermitList {
    pub permits: Vec<Permit>,
    pub as_of: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for the resident on the payment page.
    Created,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct Payment {
    pub id: String,
    pub permit_id: String,
    pub amount_pence: i64,
    pub status: PaymentStatus,
    /// The hosted payment page; open it in a browser window while status is `created`.
    pub next_url: Option<String>,
    /// Why it failed, in plain English.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A new permit (awaiting payment unless free) and its payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct Purchase {
    pub permit: Permit,
    /// Absent when the permit is free (it is active at once).
    pub payment: Option<Payment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct RegistrationChange {
    #[schema(example = "XY34 ZZZ")]
    pub registration: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct RenewalRequest {
    #[serde(default)]
    pub return_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct RefundQuote {
    pub permit_id: String,
    pub refund_pence: i64,
    pub paid_pence: i64,
    /// The day the cancellation would take effect (today, by the council's clock).
    pub cancel_on: NaiveDate,
    pub refund_terms: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct CancellationRequest {
    /// The refund the resident was shown; if the council's quote has changed since (e.g. the
    /// day turned), the cancellation is refused with the new quote rather than done silently.
    #[serde(default, deserialize_with = "whole_number::option")]
    pub expected_refund_pence: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct Cancellation {
    pub permit: Permit,
    pub refund_pence: i64,
}

/// Largest evidence file accepted, in bytes (10 MB).
pub const MAX_EVIDENCE_BYTES: u64 = 10 * 1024 * 1024;
/// Most pages of evidence one change of address may have.
pub const MAX_EVIDENCE_PAGES: u32 = 10;

/// Starts a change of address: the new address and the kind of document that proves it.
/// Then upload the pages (`POST /address-changes/{id}/files`) and submit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct AddressChangeRequest {
    pub address: PostalAddress,
    #[schema(value_type = schema::EvidenceDocument)]
    pub document: EvidenceDocument,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum AddressChangeStatus {
    /// Created; add the pages of evidence, then submit.
    AwaitingFiles,
    /// Waiting for a council officer to check the evidence.
    Submitted,
    /// The account's address is now the new address.
    Approved,
    /// Not accepted; `officer_reason` says why.
    Rejected,
}

impl AddressChangeStatus {
    pub const ALL: [AddressChangeStatus; 4] = [
        AddressChangeStatus::AwaitingFiles,
        AddressChangeStatus::Submitted,
        AddressChangeStatus::Approved,
        AddressChangeStatus::Rejected,
    ];

    /// As stored and as in URLs (`?status=submitted`).
    pub fn code(self) -> &'static str {
        match self {
            AddressChangeStatus::AwaitingFiles => "awaiting_files",
            AddressChangeStatus::Submitted => "submitted",
            AddressChangeStatus::Approved => "approved",
            AddressChangeStatus::Rejected => "rejected",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            AddressChangeStatus::AwaitingFiles => "Add your evidence",
            AddressChangeStatus::Submitted => "Waiting for the council to check",
            AddressChangeStatus::Approved => "Approved",
            AddressChangeStatus::Rejected => "Not accepted",
        }
    }
}

/// One page of evidence as stored by the council (never under the name it was sent with).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct EvidenceFile {
    pub id: String,
    /// 1 for the first page.
    pub page_number: u32,
    /// From the file's content: `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    pub size_bytes: u64,
    pub uploaded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct AddressChange {
    pub id: String,
    /// The new address.
    pub address: PostalAddress,
    #[schema(value_type = schema::EvidenceDocument)]
    pub document: EvidenceDocument,
    /// e.g. "Council tax bill".
    pub document_label: String,
    /// What the document must show, e.g. "a council tax bill for the new address".
    pub document_must_show: String,
    pub status: AddressChangeStatus,
    pub status_label: String,
    /// Why an officer rejected it.
    pub officer_reason: Option<String>,
    pub files: Vec<EvidenceFile>,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// For the latest approved change: the resident's live or upcoming permits for another
    /// household (by id). They keep the old address until the resident cancels them; new ones
    /// are bought for the new address. Empty otherwise.
    pub permits_to_surrender: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct AddressChangeList {
    /// Newest first.
    pub changes: Vec<AddressChange>,
    pub as_of: DateTime<Utc>,
}

/// The resident a change of address belongs to, as an officer sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct ResidentSummary {
    pub id: String,
    pub name: String,
    pub email: String,
    /// The address on the account now.
    pub address: PostalAddress,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct OfficerAddressChange {
    pub change: AddressChange,
    pub resident: ResidentSummary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
pub struct OfficerAddressChangeList {
    /// Oldest submission first (the order to work through them).
    pub changes: Vec<OfficerAddressChange>,
    pub as_of: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(deny_unknown_fields)]
pub struct RejectionRequest {
    /// Shown to the resident: what was wrong and what to send instead. At most 500 characters.
    #[schema(min_length = 1)]
    pub reason: String,
}

/// Schema stand-ins for the rules crate's enums, which stay free of OpenAPI: the same names and
/// wire values, so the document lists the values the server accepts (a test below keeps them in
/// step with the rules crate).
pub mod schema {
    use serde::Serialize;
    use utoipa::ToSchema;

    #[derive(Clone, Copy, Debug, Serialize, ToSchema)]
    #[schema(as = PermitType)]
    #[serde(rename_all = "snake_case")]
    pub enum PermitType {
        AnnualVisitor,
        Care,
        OverStatePensionAge,
    }

    /// What a resident sees on a given day.
    #[derive(Clone, Copy, Debug, Serialize, ToSchema)]
    #[schema(as = PermitStatus)]
    #[serde(rename_all = "snake_case")]
    pub enum PermitStatus {
        AwaitingPayment,
        PaymentFailed,
        Upcoming,
        Active,
        Expired,
        SupersededByRenewal,
        Cancelled,
    }

    /// The kind of document that proves a new address.
    #[derive(Clone, Copy, Debug, Serialize, ToSchema)]
    #[schema(as = EvidenceDocument)]
    #[serde(rename_all = "snake_case")]
    pub enum EvidenceDocument {
        CouncilTaxBill,
        TenancyAgreement,
        CompletionStatement,
    }
}

mod whole_number {
    //! An `integer` in JSON Schema is any whole number, `1500.0` included; serde's `i64`
    //! refuses that form, so a request that fits the OpenAPI document would be refused.
    use serde::de::{Deserializer, Error, Visitor};
    use std::fmt;

    pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        deserializer.deserialize_option(Whole)
    }

    struct Whole;

    impl<'de> Visitor<'de> for Whole {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number of pence")
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Whole)
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("{v} is too large")))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
            // i64's range is [-2^63, 2^63); both ends are exact in f64.
            if v.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v)
            {
                Ok(Some(v as i64))
            } else {
                Err(E::custom(format!("{v} is not a whole number of pence")))
            }
        }
    }
}

mod double_option {
    //! `Option<Option<T>>` for PATCH: absent = unchanged, `null` = clear, value = set.
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_update_tells_absent_from_null() {
        let absent: ProfileUpdate = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.reminder_email, None);
        let cleared: ProfileUpdate = serde_json::from_str(r#"{"reminder_email":null}"#).unwrap();
        assert_eq!(cleared.reminder_email, Some(None));
        let set: ProfileUpdate =
            serde_json::from_str(r#"{"reminder_email":"a@example.org"}"#).unwrap();
        assert_eq!(set.reminder_email, Some(Some("a@example.org".into())));
    }

    /// The exhaustive matches make a new rules-crate variant a compile error here until the
    /// schema stand-in has it; the assertions check the wire values agree.
    #[test]
    fn schema_stand_ins_have_every_value_of_the_rules_enums() {
        use kerbside_rules::{EvidenceDocument as D, PermitStatus as S, PermitType as T};
        let wire = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for t in T::ALL {
            let stand_in = match t {
                T::AnnualVisitor => schema::PermitType::AnnualVisitor,
                T::Care => schema::PermitType::Care,
                T::OverStatePensionAge => schema::PermitType::OverStatePensionAge,
            };
            assert_eq!(
                wire(serde_json::to_value(t).unwrap()),
                wire(serde_json::to_value(stand_in).unwrap())
            );
        }
        let statuses = [
            S::AwaitingPayment,
            S::PaymentFailed,
            S::Upcoming,
            S::Active,
            S::Expired,
            S::SupersededByRenewal,
            S::Cancelled,
        ];
        for s in statuses {
            let stand_in = match s {
                S::AwaitingPayment => schema::PermitStatus::AwaitingPayment,
                S::PaymentFailed => schema::PermitStatus::PaymentFailed,
                S::Upcoming => schema::PermitStatus::Upcoming,
                S::Active => schema::PermitStatus::Active,
                S::Expired => schema::PermitStatus::Expired,
                S::SupersededByRenewal => schema::PermitStatus::SupersededByRenewal,
                S::Cancelled => schema::PermitStatus::Cancelled,
            };
            assert_eq!(
                wire(serde_json::to_value(s).unwrap()),
                wire(serde_json::to_value(stand_in).unwrap())
            );
        }
        for d in D::ALL {
            let stand_in = match d {
                D::CouncilTaxBill => schema::EvidenceDocument::CouncilTaxBill,
                D::TenancyAgreement => schema::EvidenceDocument::TenancyAgreement,
                D::CompletionStatement => schema::EvidenceDocument::CompletionStatement,
            };
            assert_eq!(
                wire(serde_json::to_value(d).unwrap()),
                wire(serde_json::to_value(stand_in).unwrap())
            );
        }
    }

    #[test]
    fn a_refund_in_whole_pence_may_be_written_as_a_decimal() {
        let read = |json: &str| serde_json::from_str::<CancellationRequest>(json);
        assert_eq!(
            read(r#"{"expected_refund_pence":1500}"#)
                .unwrap()
                .expected_refund_pence,
            Some(1500)
        );
        assert_eq!(
            read(r#"{"expected_refund_pence":1500.0}"#)
                .unwrap()
                .expected_refund_pence,
            Some(1500)
        );
        assert_eq!(
            read(r#"{"expected_refund_pence":-2.0}"#)
                .unwrap()
                .expected_refund_pence,
            Some(-2)
        );
        assert_eq!(
            read(r#"{"expected_refund_pence":null}"#)
                .unwrap()
                .expected_refund_pence,
            None
        );
        assert_eq!(read("{}").unwrap().expected_refund_pence, None);
        for bad in ["15.5", "1e300", "18446744073709551615", "\"1500\"", "true"] {
            let err = read(&format!(r#"{{"expected_refund_pence":{bad}}}"#)).unwrap_err();
            assert!(err.is_data(), "{bad}: {err}");
        }
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let err = serde_json::from_str::<PermitRequest>(
            r#"{"permit_type":"care","registration":"AB12CDE","colour":"red"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }
}
