//! What the UI is given: permits with their status recomputed for today by the rules crate
//! (so a cached permit shown offline still says the right thing), and the app's state.

use chrono::{DateTime, NaiveDate, Utc};
use kerbside_api::types::Permit;
use kerbside_rules::{
    check_action, check_renewal, format_uk_date, permit_status, renewal_opens_on, PermitAction,
    PermitState, PermitStatus, PermitType, Term,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The carer's switch: care permits, visitor permits, or all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum PermitFilter {
    #[default]
    All,
    Care,
    Visitor,
}

impl PermitFilter {
    pub fn code(self) -> &'static str {
        match self {
            PermitFilter::All => "all",
            PermitFilter::Care => "care",
            PermitFilter::Visitor => "visitor",
        }
    }

    pub fn from_code(code: &str) -> PermitFilter {
        match code {
            "care" => PermitFilter::Care,
            "visitor" => PermitFilter::Visitor,
            _ => PermitFilter::All,
        }
    }

    pub fn admits(self, permit_type: PermitType) -> bool {
        match self {
            PermitFilter::All => true,
            PermitFilter::Care => permit_type == PermitType::Care,
            PermitFilter::Visitor => permit_type != PermitType::Care,
        }
    }
}

/// A permit as a card: the council's record plus what it means today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PermitCard {
    pub permit: Permit,
    pub status: PermitStatus,
    pub status_label: String,
    /// Live: days of cover left including today; starts later: the term's length; else 0.
    pub days_left: i64,
    pub renewal_open: bool,
    /// E.g. "Renewal opens on 4 March 2027", "Renewal open until 3 April 2027", "Renewed".
    pub renewal_note: Option<String>,
    pub can_edit_registration: bool,
    pub can_renew: bool,
    pub can_cancel: bool,
    /// Awaiting payment and the council's payment page (`permit.open_payment`) can still be
    /// used: "Continue to payment" (`continue_payment`). False once its deadline has passed.
    pub can_pay: bool,
}

/// The status on `today` by the rules, for a permit last seen at `permit.as_of`. Only the
/// date-driven statuses move; payment and cancellation states come from the council.
pub fn status_on(permit: &Permit, today: NaiveDate) -> PermitStatus {
    let term = Term {
        starts_on: permit.starts_on,
        expires_on: permit.expires_on,
    };
    match permit.status {
        PermitStatus::Upcoming
        | PermitStatus::Active
        | PermitStatus::Expired
        | PermitStatus::SupersededByRenewal => permit_status(
            PermitState::Active,
            &term,
            today,
            permit.renewed_by.is_some(),
        ),
        other => other,
    }
}

/// The card for `permit` on `today`; `now` (the same moment) judges the payment deadline.
pub fn card(permit: Permit, today: NaiveDate, now: DateTime<Utc>, term_months: u32) -> PermitCard {
    let status = status_on(&permit, today);
    let can_pay = status == PermitStatus::AwaitingPayment
        && permit
            .open_payment
            .as_ref()
            .is_some_and(|link| link.expires_at > now);
    let term = Term {
        starts_on: permit.starts_on,
        expires_on: permit.expires_on,
    };
    let renewed = permit.renewed_by.is_some();
    let live = status == PermitStatus::Active;
    let renewal_open = live && !renewed && check_renewal(&term, term_months, today).is_ok();
    let renewal_note = if renewed
        && matches!(
            status,
            PermitStatus::Active | PermitStatus::SupersededByRenewal
        ) {
        Some("Renewed: the next permit follows on".to_string())
    } else if live && renewal_open {
        Some(format!(
            "Renewal open until {}",
            format_uk_date(permit.expires_on)
        ))
    } else if live {
        Some(format!(
            "Renewal opens on {}",
            format_uk_date(renewal_opens_on(permit.expires_on))
        ))
    } else {
        None
    };
    let days_left = match status {
        PermitStatus::Active => (permit.expires_on - today).num_days() + 1,
        PermitStatus::Upcoming => term.days(),
        _ => 0,
    };
    PermitCard {
        status_label: status.label().to_string(),
        days_left,
        renewal_open,
        renewal_note,
        can_edit_registration: check_action(status, PermitAction::EditRegistration).is_ok(),
        can_renew: renewal_open && check_action(status, PermitAction::Renew).is_ok(),
        can_cancel: check_action(status, PermitAction::Cancel).is_ok(),
        can_pay,
        status,
        permit,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PermitsView {
    pub permits: Vec<PermitCard>,
    /// How many permits the filter hides.
    pub hidden_by_filter: u32,
    pub filter: PermitFilter,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub today: NaiveDate,
}

/// Everything the UI needs to draw its frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppSnapshot {
    pub council_url: String,
    /// True when the council is the built-in demo running inside the app.
    pub embedded_council: bool,
    pub signed_in_email: Option<String>,
    /// `None` until the council has been tried; then whether the last call reached it.
    pub online: Option<bool>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub today: NaiveDate,
    /// True when a demo/test clock was set at start-up.
    pub clock_is_set: bool,
    pub now: DateTime<Utc>,
    pub permit_filter: PermitFilter,
    /// Demo sign-in details, shown only for the embedded demo council.
    pub demo_email: Option<String>,
    pub demo_password: Option<String>,
}

/// The first screen's data: the frame, and the cached permits when signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppStart {
    pub snapshot: AppSnapshot,
    pub permits: Option<PermitsView>,
}

/// "Your data": what is stored where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DataSummary {
    pub data_folder: String,
    pub cache_file: String,
    pub cached_permits: u32,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub keyring_service: String,
    pub signed_in: bool,
    pub council_url: String,
    pub embedded_council: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kerbside_api::types::{PaymentLink, PostalAddress, ZoneView};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn permit(status: PermitStatus, starts: NaiveDate, expires: NaiveDate) -> Permit {
        Permit {
            id: "p1".into(),
            reference: "KB-1".into(),
            permit_type: PermitType::AnnualVisitor,
            permit_type_label: "Annual Visitor Permit".into(),
            registration: "AB12 CDE".into(),
            address: PostalAddress {
                line1: "12".into(),
                street: "Hazel Street".into(),
                town: "Leicester".into(),
                postcode: "LE2 7JN".into(),
            },
            zone: ZoneView {
                code: "B".into(),
                name: "Hazel Street".into(),
            },
            starts_on: starts,
            expires_on: expires,
            status,
            status_label: status.label().into(),
            renewal_opens_on: renewal_opens_on(expires),
            renewal_open: false,
            renewed_by: None,
            renewal_of: None,
            price_pence: 4000,
            refund_pence: None,
            history: vec![],
            as_of: DateTime::<Utc>::default(),
            open_payment: None,
        }
    }

    /// Noon UTC on `day`, for the payment deadline.
    fn noon(day: NaiveDate) -> DateTime<Utc> {
        day.and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    #[test]
    fn a_cached_live_permit_says_when_renewal_opens_until_the_window_opens() {
        let p = permit(PermitStatus::Active, d(2026, 4, 4), d(2027, 4, 3));
        let before = card(p.clone(), d(2027, 3, 3), noon(d(2027, 3, 3)), 12);
        assert_eq!(
            before.renewal_note.as_deref(),
            Some("Renewal opens on 4 March 2027")
        );
        assert!(!before.can_renew);
        assert_eq!(before.days_left, 32);
        let inside = card(p, d(2027, 3, 4), noon(d(2027, 3, 4)), 12);
        assert!(inside.renewal_open && inside.can_renew);
        assert_eq!(
            inside.renewal_note.as_deref(),
            Some("Renewal open until 3 April 2027")
        );
    }

    #[test]
    fn a_permit_cached_as_live_shows_expired_once_its_term_is_over() {
        let p = permit(PermitStatus::Active, d(2026, 4, 4), d(2027, 4, 3));
        let c = card(p, d(2027, 4, 4), noon(d(2027, 4, 4)), 12);
        assert_eq!(c.status, PermitStatus::Expired);
        assert_eq!(c.days_left, 0);
        assert!(!c.can_cancel && !c.can_edit_registration && !c.can_renew);
    }

    #[test]
    fn a_permit_awaiting_payment_is_never_shown_live_and_offers_no_actions() {
        let p = permit(PermitStatus::AwaitingPayment, d(2026, 4, 4), d(2027, 4, 3));
        let c = card(p, d(2026, 5, 1), noon(d(2026, 5, 1)), 12);
        assert_eq!(c.status_label, "Awaiting payment");
        assert!(!c.can_cancel && !c.can_edit_registration && !c.can_renew);
        assert!(!c.can_pay, "the council gave no payment page");
    }

    #[test]
    fn a_permit_awaiting_payment_offers_its_payment_page_until_the_deadline() {
        let mut p = permit(PermitStatus::AwaitingPayment, d(2026, 4, 4), d(2027, 4, 3));
        let deadline = noon(d(2026, 5, 1));
        p.open_payment = Some(PaymentLink {
            payment_id: "pay1".into(),
            next_url: "http://127.0.0.1:1/pay/pay1/token".into(),
            expires_at: deadline,
        });
        let before = card(
            p.clone(),
            d(2026, 5, 1),
            deadline - chrono::Duration::seconds(1),
            12,
        );
        assert!(before.can_pay);
        assert!(!before.can_cancel && !before.can_edit_registration && !before.can_renew);
        let after = card(p.clone(), d(2026, 5, 1), deadline, 12);
        assert!(!after.can_pay, "the council fails it at the deadline");
        p.status = PermitStatus::Active;
        assert!(!card(p, d(2026, 5, 1), noon(d(2026, 4, 4)), 12).can_pay);
    }

    #[test]
    fn the_carer_switch_separates_care_from_visitor_permits() {
        assert!(PermitFilter::Care.admits(PermitType::Care));
        assert!(!PermitFilter::Care.admits(PermitType::AnnualVisitor));
        assert!(PermitFilter::Visitor.admits(PermitType::OverStatePensionAge));
        assert!(!PermitFilter::Visitor.admits(PermitType::Care));
        for f in [PermitFilter::All, PermitFilter::Care, PermitFilter::Visitor] {
            assert_eq!(PermitFilter::from_code(f.code()), f);
        }
    }
}
