//! Permit dates: UK local calendar days, terms that never lose a day, and the renewal window.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// Permit dates are the council's calendar days.
pub const UK_TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::London;

/// Renewal opens this many days before the expiry date.
pub const RENEWAL_WINDOW_DAYS: i64 = 30;

/// The UK calendar date at an instant (a permit bought at 00:30 BST belongs to that day).
pub fn uk_local_date(now: DateTime<Utc>) -> NaiveDate {
    if now.year() >= 2100 {
        // chrono-tz's Europe/London table ends with 2099 and would keep GMT all year after
        // it; the law in force (Summer Time Order 2002) is applied directly instead.
        let offset = if british_summer_time_by_rule(now) {
            1
        } else {
            0
        };
        return (now + Duration::hours(offset)).date_naive();
    }
    now.with_timezone(&UK_TIME_ZONE).date_naive()
}

/// BST runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
/// October.
fn british_summer_time_by_rule(now: DateTime<Utc>) -> bool {
    let change = |month: u32| {
        let mut day = NaiveDate::from_ymd_opt(now.year(), month + 1, 1)
            .expect("April or November 1st exists")
            - Days::new(1);
        while day.weekday() != Weekday::Sun {
            day = day - Days::new(1);
        }
        day.and_hms_opt(1, 0, 0).expect("01:00 exists").and_utc()
    };
    change(3) <= now && now < change(10)
}

/// The same day `months` later; when that day does not exist (29 February in a common year,
/// the 31st of a short month) the first day of the following month, so a term never loses a day.
pub fn anniversary(date: NaiveDate, months: u32) -> NaiveDate {
    let target_month_start = date
        .with_day(1)
        .and_then(|d| d.checked_add_months(Months::new(months)))
        .expect("date within chrono's range");
    match target_month_start.with_day(date.day()) {
        Some(same_day) => same_day,
        None => target_month_start
            .checked_add_months(Months::new(1))
            .expect("date within chrono's range"),
    }
}

/// A permit's period: both days inclusive. `expires_on` is the last day it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Term {
    pub starts_on: NaiveDate,
    pub expires_on: NaiveDate,
}

impl Term {
    /// A term of `months` starting on `starts_on`: it ends the day before the anniversary.
    /// Bought 29 Feb 2028 for 12 months → expires 28 Feb 2029, the renewal starts 1 Mar 2029.
    pub fn starting(starts_on: NaiveDate, months: u32) -> Term {
        let expires_on = anniversary(starts_on, months) - Days::new(1);
        Term {
            starts_on,
            expires_on,
        }
    }

    /// The renewal term: from the day after this one ends, so cover is continuous.
    pub fn next(&self, months: u32) -> Term {
        Term::starting(self.expires_on + Days::new(1), months)
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts_on <= date && date <= self.expires_on
    }

    /// Number of days in the term, counting both ends.
    pub fn days(&self) -> i64 {
        (self.expires_on - self.starts_on).num_days() + 1
    }
}

/// The first day a permit expiring on `expires_on` may be renewed.
pub fn renewal_opens_on(expires_on: NaiveDate) -> NaiveDate {
    expires_on - Days::new(RENEWAL_WINDOW_DAYS as u64)
}

/// Why a permit cannot be renewed today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenewalError {
    #[error("Renewal opens on {}.", format_uk_date(*opens_on))]
    NotYetOpen { opens_on: NaiveDate },
    #[error("This permit expired on {}; buy a new one.", format_uk_date(*expired_on))]
    AlreadyExpired { expired_on: NaiveDate },
}

/// The next term if `today` is inside the renewal window (from 30 days before expiry up to
/// and including the expiry day).
pub fn check_renewal(term: &Term, months: u32, today: NaiveDate) -> Result<Term, RenewalError> {
    let opens_on = renewal_opens_on(term.expires_on);
    if today < opens_on {
        Err(RenewalError::NotYetOpen { opens_on })
    } else if today > term.expires_on {
        Err(RenewalError::AlreadyExpired {
            expired_on: term.expires_on,
        })
    } else {
        Ok(term.next(months))
    }
}

/// "4 March 2027": the way UK letters write dates.
pub fn format_uk_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_term_ends_the_day_before_its_anniversary() {
        let t = Term::starting(d(2026, 11, 24), 12);
        assert_eq!(t.expires_on, d(2027, 11, 23));
        assert_eq!(t.days(), 365);
        assert!(t.contains(d(2027, 11, 23)));
        assert!(!t.contains(d(2027, 11, 24)));
    }

    #[test]
    fn a_permit_bought_on_29_february_expires_on_28_february_and_renews_from_1_march() {
        let t = Term::starting(d(2028, 2, 29), 12);
        assert_eq!(t.expires_on, d(2029, 2, 28));
        assert_eq!(t.next(12).starts_on, d(2029, 3, 1));
        assert_eq!(t.days(), 366);
    }

    #[test]
    fn anniversaries_of_missing_days_move_to_the_first_of_the_next_month() {
        assert_eq!(anniversary(d(2027, 1, 31), 1), d(2027, 3, 1));
        assert_eq!(anniversary(d(2028, 2, 29), 12), d(2029, 3, 1));
        assert_eq!(anniversary(d(2028, 2, 29), 48), d(2032, 2, 29));
        assert_eq!(anniversary(d(2027, 3, 15), 12), d(2028, 3, 15));
    }

    #[test]
    fn renewal_opens_thirty_days_before_expiry() {
        assert_eq!(renewal_opens_on(d(2027, 4, 3)), d(2027, 3, 4));
    }

    #[test]
    fn renewal_is_refused_the_day_before_the_window_and_allowed_on_its_first_day() {
        let t = Term {
            starts_on: d(2026, 4, 4),
            expires_on: d(2027, 4, 3),
        };
        let err = check_renewal(&t, 12, d(2027, 3, 3)).unwrap_err();
        assert_eq!(err.to_string(), "Renewal opens on 4 March 2027.");
        let next = check_renewal(&t, 12, d(2027, 3, 4)).unwrap();
        assert_eq!(next.starts_on, d(2027, 4, 4));
        assert_eq!(next.expires_on, d(2028, 4, 3));
    }

    #[test]
    fn renewal_is_allowed_on_the_expiry_day_and_refused_after_it() {
        let t = Term::starting(d(2026, 4, 4), 12);
        assert!(check_renewal(&t, 12, d(2027, 4, 3)).is_ok());
        let err = check_renewal(&t, 12, d(2027, 4, 4)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "This permit expired on 3 April 2027; buy a new one."
        );
    }

    #[test]
    fn the_uk_date_follows_british_summer_time() {
        // 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
        let late = Utc.with_ymd_and_hms(2027, 6, 30, 23, 30, 0).unwrap();
        assert_eq!(uk_local_date(late), d(2027, 7, 1));
        // In winter London is on UTC.
        let winter = Utc.with_ymd_and_hms(2027, 1, 15, 23, 30, 0).unwrap();
        assert_eq!(uk_local_date(winter), d(2027, 1, 15));
    }

    #[test]
    fn uk_dates_are_written_without_leading_zeros() {
        assert_eq!(format_uk_date(d(2027, 3, 4)), "4 March 2027");
        assert_eq!(format_uk_date(d(2027, 12, 25)), "25 December 2027");
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (1950i32..2200, 1u32..=366).prop_map(|(y, o)| {
            NaiveDate::from_yo_opt(y, o).unwrap_or_else(|| NaiveDate::from_yo_opt(y, 365).unwrap())
        })
    }

    proptest! {
        #[test]
        fn renewals_follow_on_without_gap_or_overlap(start in any_date(), months in 1u32..=36) {
            let t = Term::starting(start, months);
            let n = t.next(months);
            prop_assert_eq!(n.starts_on, t.expires_on + Days::new(1));
            prop_assert!(t.days() >= 28 * months as i64);
            prop_assert!(t.days() <= 31 * months as i64 + 1);
        }

        #[test]
        fn renewal_is_possible_exactly_inside_the_window(start in any_date(), offset in -400i64..400) {
            let t = Term::starting(start, 12);
            let today = t.expires_on + chrono::Duration::days(offset);
            let open = (-RENEWAL_WINDOW_DAYS..=0).contains(&offset);
            prop_assert_eq!(check_renewal(&t, 12, today).is_ok(), open);
        }

        #[test]
        fn an_anniversary_is_never_before_the_same_day_n_months_on(start in any_date(), months in 0u32..=120) {
            let a = anniversary(start, months);
            prop_assert!(a >= start);
            prop_assert!(a.day() == start.day() || a.day() == 1);
        }
    }
}
