//! A permit's stored state, the status a resident sees on a given day, and which actions each
//! status allows.

use crate::Term;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What the council has recorded. Dates turn an active permit into upcoming, live or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitState {
    AwaitingPayment,
    Active,
    PaymentFailed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitEvent {
    PaymentSucceeded,
    PaymentFailed,
    Cancel,
}

/// An action this permit's status does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This permit is {from}, so it cannot be {action}.")]
pub struct IllegalTransition {
    pub from: String,
    pub action: String,
}

impl PermitState {
    fn describe(self) -> &'static str {
        match self {
            PermitState::AwaitingPayment => "awaiting payment",
            PermitState::Active => "active",
            PermitState::PaymentFailed => "unpaid (the payment failed)",
            PermitState::Cancelled => "cancelled",
        }
    }

    pub fn apply(self, event: PermitEvent) -> Result<PermitState, IllegalTransition> {
        use PermitEvent as E;
        use PermitState as S;
        match (self, event) {
            (S::AwaitingPayment, E::PaymentSucceeded) => Ok(S::Active),
            (S::AwaitingPayment, E::PaymentFailed) => Ok(S::PaymentFailed),
            (S::AwaitingPayment, E::Cancel) | (S::Active, E::Cancel) => Ok(S::Cancelled),
            (from, event) => Err(IllegalTransition {
                from: from.describe().into(),
                action: match event {
                    E::PaymentSucceeded => "paid for again",
                    E::PaymentFailed => "marked as unpaid",
                    E::Cancel => "cancelled",
                }
                .into(),
            }),
        }
    }
}

/// What a resident sees on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
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

impl PermitStatus {
    pub fn label(self) -> &'static str {
        match self {
            PermitStatus::AwaitingPayment => "Awaiting payment",
            PermitStatus::PaymentFailed => "Payment failed",
            PermitStatus::Upcoming => "Starts later",
            PermitStatus::Active => "Live",
            PermitStatus::Expired => "Expired",
            PermitStatus::SupersededByRenewal => "Renewed",
            PermitStatus::Cancelled => "Cancelled",
        }
    }

    fn in_words(self) -> &'static str {
        match self {
            PermitStatus::AwaitingPayment => "awaiting payment",
            PermitStatus::PaymentFailed => "unpaid (the payment failed)",
            PermitStatus::Upcoming => "not started yet",
            PermitStatus::Active => "live",
            PermitStatus::Expired => "expired",
            PermitStatus::SupersededByRenewal => "expired and already renewed",
            PermitStatus::Cancelled => "cancelled",
        }
    }
}

/// The status on `today`. `renewed` says whether a paid renewal follows this term.
pub fn permit_status(
    state: PermitState,
    term: &Term,
    today: NaiveDate,
    renewed: bool,
) -> PermitStatus {
    match state {
        PermitState::AwaitingPayment => PermitStatus::AwaitingPayment,
        PermitState::PaymentFailed => PermitStatus::PaymentFailed,
        PermitState::Cancelled => PermitStatus::Cancelled,
        PermitState::Active if today < term.starts_on => PermitStatus::Upcoming,
        PermitState::Active if today <= term.expires_on => PermitStatus::Active,
        PermitState::Active if renewed => PermitStatus::SupersededByRenewal,
        PermitState::Active => PermitStatus::Expired,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitAction {
    EditRegistration,
    Renew,
    Cancel,
}

impl PermitAction {
    fn past_tense(self) -> &'static str {
        match self {
            PermitAction::EditRegistration => "changed to another vehicle",
            PermitAction::Renew => "renewed",
            PermitAction::Cancel => "cancelled",
        }
    }
}

/// Whether a status allows an action (renewal's dates are checked by `check_renewal`).
pub fn check_action(status: PermitStatus, action: PermitAction) -> Result<(), IllegalTransition> {
    let allowed = match action {
        PermitAction::EditRegistration | PermitAction::Cancel => {
            matches!(status, PermitStatus::Active | PermitStatus::Upcoming)
        }
        PermitAction::Renew => status == PermitStatus::Active,
    };
    if allowed {
        Ok(())
    } else {
        Err(IllegalTransition {
            from: status.in_words().into(),
            action: action.past_tense().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const ALL_STATUSES: [PermitStatus; 7] = [
        PermitStatus::AwaitingPayment,
        PermitStatus::PaymentFailed,
        PermitStatus::Upcoming,
        PermitStatus::Active,
        PermitStatus::Expired,
        PermitStatus::SupersededByRenewal,
        PermitStatus::Cancelled,
    ];

    #[test]
    fn only_a_successful_payment_makes_a_permit_active() {
        assert_eq!(
            PermitState::AwaitingPayment.apply(PermitEvent::PaymentSucceeded),
            Ok(PermitState::Active)
        );
        assert_eq!(
            PermitState::AwaitingPayment.apply(PermitEvent::PaymentFailed),
            Ok(PermitState::PaymentFailed)
        );
        assert!(PermitState::PaymentFailed
            .apply(PermitEvent::PaymentSucceeded)
            .is_err());
        assert!(PermitState::Cancelled
            .apply(PermitEvent::PaymentSucceeded)
            .is_err());
        assert!(PermitState::Active
            .apply(PermitEvent::PaymentSucceeded)
            .is_err());
    }

    #[test]
    fn a_cancelled_permit_stays_cancelled() {
        assert_eq!(
            PermitState::Active.apply(PermitEvent::Cancel),
            Ok(PermitState::Cancelled)
        );
        let err = PermitState::Cancelled
            .apply(PermitEvent::Cancel)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "This permit is cancelled, so it cannot be cancelled."
        );
    }

    #[test]
    fn an_active_permit_is_live_only_inside_its_term() {
        let t = Term::starting(d(2027, 1, 10), 12);
        let s = |today| permit_status(PermitState::Active, &t, today, false);
        assert_eq!(s(d(2027, 1, 9)), PermitStatus::Upcoming);
        assert_eq!(s(d(2027, 1, 10)), PermitStatus::Active);
        assert_eq!(s(t.expires_on), PermitStatus::Active);
        assert_eq!(s(t.expires_on.succ_opt().unwrap()), PermitStatus::Expired);
        assert_eq!(
            permit_status(PermitState::Active, &t, d(2028, 2, 1), true),
            PermitStatus::SupersededByRenewal
        );
        assert_eq!(PermitStatus::Active.label(), "Live");
    }

    #[test]
    fn a_permit_awaiting_payment_is_never_shown_as_live() {
        let t = Term::starting(d(2027, 1, 10), 12);
        assert_eq!(
            permit_status(PermitState::AwaitingPayment, &t, d(2027, 2, 1), false),
            PermitStatus::AwaitingPayment
        );
    }

    #[test]
    fn edit_and_cancel_need_a_live_or_upcoming_permit_and_renew_a_live_one() {
        for status in ALL_STATUSES {
            let live = status == PermitStatus::Active;
            let current = live || status == PermitStatus::Upcoming;
            assert_eq!(
                check_action(status, PermitAction::EditRegistration).is_ok(),
                current
            );
            assert_eq!(check_action(status, PermitAction::Cancel).is_ok(), current);
            assert_eq!(check_action(status, PermitAction::Renew).is_ok(), live);
        }
        assert_eq!(
            check_action(PermitStatus::Cancelled, PermitAction::Renew)
                .unwrap_err()
                .to_string(),
            "This permit is cancelled, so it cannot be renewed."
        );
    }
}
