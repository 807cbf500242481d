//! Refund policies as data, covering the shapes UK councils publish.

use crate::{anniversary, Money, Term};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RefundPolicy {
    /// Nothing is refunded.
    NonRefundable,
    /// The price of each whole unused calendar month, less a fee (Haringey).
    WholeMonthsLessFee { fee: Money },
    /// The unused days' share of the price, rounded down to the pound (Hammersmith & Fulham).
    DailyProRataRoundedDownToPound,
    /// The unused days' share less a fee; nothing when that share is not above the fee
    /// (Kensington & Chelsea).
    ProRataLessFeeOrNothing { fee: Money },
    /// The unused days' share less a fee, only when more than `minimum_full_months` whole
    /// months remain (Watford).
    ProRataLessFeeAboveMinimumMonths {
        fee: Money,
        minimum_full_months: u32,
    },
}

impl RefundPolicy {
    pub fn fee(&self) -> Option<Money> {
        match self {
            RefundPolicy::WholeMonthsLessFee { fee }
            | RefundPolicy::ProRataLessFeeOrNothing { fee }
            | RefundPolicy::ProRataLessFeeAboveMinimumMonths { fee, .. } => Some(*fee),
            RefundPolicy::NonRefundable | RefundPolicy::DailyProRataRoundedDownToPound => None,
        }
    }

    /// The policy in plain English, for the cancel screen.
    pub fn describe(&self) -> String {
        match self {
            RefundPolicy::NonRefundable => "This permit is not refundable.".into(),
            RefundPolicy::WholeMonthsLessFee { fee } => format!(
                "You get back the price of each whole month left, less a {fee} fee."
            ),
            RefundPolicy::DailyProRataRoundedDownToPound => {
                "You get back the price of the days left after today, rounded down to the pound."
                    .into()
            }
            RefundPolicy::ProRataLessFeeOrNothing { fee } => format!(
                "You get back the price of the days left after today, less a {fee} fee; nothing if that is {fee} or less."
            ),
            RefundPolicy::ProRataLessFeeAboveMinimumMonths {
                fee,
                minimum_full_months,
            } => format!(
                "If more than {minimum_full_months} whole months are left, you get back the price of the days left after today, less a {fee} fee; otherwise nothing."
            ),
        }
    }
}

/// The first day not yet used when cancelling on `cancel_on` (the cancel day counts as used).
fn first_unused_day(term: &Term, cancel_on: NaiveDate) -> NaiveDate {
    if cancel_on < term.starts_on {
        term.starts_on
    } else {
        cancel_on + Days::new(1)
    }
}

fn unused_days(term: &Term, cancel_on: NaiveDate) -> i64 {
    let from = first_unused_day(term, cancel_on);
    ((term.expires_on - from).num_days() + 1).max(0)
}

/// Whole calendar months from `from` that end on or before the term's last day.
fn whole_months_from(from: NaiveDate, term: &Term) -> u32 {
    let end = term.expires_on + Days::new(1);
    let mut months = 0;
    while anniversary(from, months + 1) <= end {
        months += 1;
    }
    months
}

fn pro_rata(paid: Money, term: &Term, cancel_on: NaiveDate) -> Money {
    let days = term.days().max(1);
    Money(paid.pence() * unused_days(term, cancel_on) / days)
}

/// The refund for cancelling on `cancel_on`, never negative and never more than was paid.
pub fn quote_refund(
    policy: &RefundPolicy,
    paid: Money,
    term: &Term,
    cancel_on: NaiveDate,
) -> Money {
    let refund = match policy {
        RefundPolicy::NonRefundable => Money::ZERO,
        RefundPolicy::WholeMonthsLessFee { fee } => {
            let total = whole_months_from(term.starts_on, term).max(1) as i64;
            let unused = whole_months_from(first_unused_day(term, cancel_on), term) as i64;
            Money(paid.pence() * unused / total - fee.pence())
        }
        RefundPolicy::DailyProRataRoundedDownToPound => {
            let p = pro_rata(paid, term, cancel_on).pence();
            Money(p - p % 100)
        }
        RefundPolicy::ProRataLessFeeOrNothing { fee } => {
            Money(pro_rata(paid, term, cancel_on).pence() - fee.pence())
        }
        RefundPolicy::ProRataLessFeeAboveMinimumMonths {
            fee,
            minimum_full_months,
        } => {
            let left = whole_months_from(first_unused_day(term, cancel_on), term);
            if left > *minimum_full_months {
                Money(pro_rata(paid, term, cancel_on).pence() - fee.pence())
            } else {
                Money::ZERO
            }
        }
    };
    refund.clamp(Money::ZERO, paid.max(Money::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn year_from_1_april_2027() -> Term {
        Term::starting(d(2027, 4, 1), 12) // 1 Apr 2027 – 31 Mar 2028, 366 days (leap year)
    }

    #[test]
    fn non_refundable_permits_refund_nothing() {
        let t = year_from_1_april_2027();
        assert_eq!(
            quote_refund(&RefundPolicy::NonRefundable, Money(4000), &t, d(2027, 4, 1)),
            Money::ZERO
        );
    }

    #[test]
    fn daily_pro_rata_counts_the_days_after_today_and_rounds_down_to_the_pound() {
        let t = year_from_1_april_2027();
        assert_eq!(t.days(), 366);
        // Cancelled on 30 Sept 2027: 1 Oct 2027 – 31 Mar 2028 = 183 days unused.
        // £40 × 183 / 366 = £20.00 exactly.
        let p = RefundPolicy::DailyProRataRoundedDownToPound;
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2027, 9, 30)),
            Money(2000)
        );
        // Cancelled on 1 Oct: 182 days → £19.89 → £19.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2027, 10, 1)),
            Money(1900)
        );
        // On the last day nothing is left.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2028, 3, 31)),
            Money::ZERO
        );
        // Before the term starts, everything is refunded.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2027, 3, 20)),
            Money(4000)
        );
    }

    #[test]
    fn whole_months_less_fee_refunds_only_complete_unused_months() {
        let t = year_from_1_april_2027();
        let p = RefundPolicy::WholeMonthsLessFee {
            fee: Money::from_pounds(25),
        };
        // Cancel 31 Aug: Sep..Mar = 7 whole months → £120 × 7/12 = £70 − £25 = £45.
        assert_eq!(
            quote_refund(&p, Money(12000), &t, d(2027, 8, 31)),
            Money(4500)
        );
        // Cancel 1 Sep: from 2 Sep, 6 whole months fit → £60 − £25 = £35.
        assert_eq!(
            quote_refund(&p, Money(12000), &t, d(2027, 9, 1)),
            Money(3500)
        );
        // Cancel in the last month: nothing, never negative.
        assert_eq!(
            quote_refund(&p, Money(12000), &t, d(2028, 3, 10)),
            Money::ZERO
        );
    }

    #[test]
    fn pro_rata_less_fee_refunds_nothing_when_below_the_fee() {
        let t = year_from_1_april_2027();
        let p = RefundPolicy::ProRataLessFeeOrNothing {
            fee: Money::from_pounds(11),
        };
        // 183 days of £40 = £20.00 − £11 = £9.00.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2027, 9, 30)),
            Money(900)
        );
        // 30 days ≈ £3.27, below the fee: nothing.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2028, 3, 1)),
            Money::ZERO
        );
    }

    #[test]
    fn pro_rata_less_fee_needs_more_than_the_minimum_whole_months_left() {
        let t = year_from_1_april_2027();
        let p = RefundPolicy::ProRataLessFeeAboveMinimumMonths {
            fee: Money::from_pounds(10),
            minimum_full_months: 3,
        };
        // Cancel 30 Nov: Dec..Mar = 4 whole months > 3 → 122 days: £40×122/366 = £13.33 − £10.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2027, 11, 30)),
            Money(333)
        );
        // Cancel 31 Dec: exactly 3 whole months left → nothing.
        assert_eq!(
            quote_refund(&p, Money(4000), &t, d(2027, 12, 31)),
            Money::ZERO
        );
    }

    #[test]
    fn policies_read_from_toml_with_a_kind_tag() {
        #[derive(Deserialize)]
        struct W {
            p: RefundPolicy,
        }
        let w: W = toml::from_str(r#"p = { kind = "whole_months_less_fee", fee = 2500 }"#).unwrap();
        assert_eq!(w.p, RefundPolicy::WholeMonthsLessFee { fee: Money(2500) });
        assert!(RefundPolicy::WholeMonthsLessFee { fee: Money(2500) }
            .describe()
            .contains("£25.00"));
    }

    fn any_policy() -> impl Strategy<Value = RefundPolicy> {
        prop_oneof![
            Just(RefundPolicy::NonRefundable),
            Just(RefundPolicy::DailyProRataRoundedDownToPound),
            (0i64..5000).prop_map(|f| RefundPolicy::WholeMonthsLessFee { fee: Money(f) }),
            (0i64..5000).prop_map(|f| RefundPolicy::ProRataLessFeeOrNothing { fee: Money(f) }),
            (0i64..5000, 0u32..12).prop_map(|(f, m)| {
                RefundPolicy::ProRataLessFeeAboveMinimumMonths {
                    fee: Money(f),
                    minimum_full_months: m,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn a_refund_is_never_negative_nor_more_than_was_paid(
            policy in any_policy(), paid in 0i64..100_000, start in 0i64..3000, offset in -60i64..430
        ) {
            let term = Term::starting(d(2026, 1, 1) + chrono::Duration::days(start), 12);
            let cancel_on = term.starts_on + chrono::Duration::days(offset);
            let r = quote_refund(&policy, Money(paid), &term, cancel_on);
            prop_assert!(r >= Money::ZERO && r <= Money(paid));
        }

        #[test]
        fn cancelling_later_never_refunds_more(
            policy in any_policy(), paid in 0i64..100_000, a in 0i64..366, gap in 0i64..366
        ) {
            let term = Term::starting(d(2027, 4, 1), 12);
            let early = term.starts_on + chrono::Duration::days(a);
            let late = early + chrono::Duration::days(gap);
            prop_assert!(quote_refund(&policy, Money(paid), &term, late) <= quote_refund(&policy, Money(paid), &term, early));
        }
    }
}
