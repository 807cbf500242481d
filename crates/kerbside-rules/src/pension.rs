//! UK State Pension age by date of birth (Pensions Acts 1995, 2007, 2011 and 2014), kept as a
//! table so a change in the law is a change of data, not of logic.

use crate::dates::anniversary;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// People born within these dates (inclusive; `None` = open-ended) reach State Pension age at
/// `years` and `months`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PensionAgeBand {
    pub born_on_or_after: Option<NaiveDate>,
    pub born_on_or_before: Option<NaiveDate>,
    pub years: u32,
    pub months: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PensionAgeSchedule {
    pub bands: Vec<PensionAgeBand>,
}

/// (born on or after, born on or before, years, months) as (y, m, d) triples.
type Row = (Option<(i32, u32, u32)>, Option<(i32, u32, u32)>, u32, u32);

const UK_SCHEDULE: &[Row] = &[
    // Simplification: everyone born before 6 October 1954 reached State Pension age before
    // 2020, so the exact (earlier, sex-dependent) age no longer decides any purchase.
    (None, Some((1954, 10, 5)), 65, 0),
    (Some((1954, 10, 6)), Some((1960, 4, 5)), 66, 0),
    (Some((1960, 4, 6)), Some((1960, 5, 5)), 66, 1),
    (Some((1960, 5, 6)), Some((1960, 6, 5)), 66, 2),
    (Some((1960, 6, 6)), Some((1960, 7, 5)), 66, 3),
    (Some((1960, 7, 6)), Some((1960, 8, 5)), 66, 4),
    (Some((1960, 8, 6)), Some((1960, 9, 5)), 66, 5),
    (Some((1960, 9, 6)), Some((1960, 10, 5)), 66, 6),
    (Some((1960, 10, 6)), Some((1960, 11, 5)), 66, 7),
    (Some((1960, 11, 6)), Some((1960, 12, 5)), 66, 8),
    (Some((1960, 12, 6)), Some((1961, 1, 5)), 66, 9),
    (Some((1961, 1, 6)), Some((1961, 2, 5)), 66, 10),
    (Some((1961, 2, 6)), Some((1961, 3, 5)), 66, 11),
    (Some((1961, 3, 6)), Some((1977, 4, 5)), 67, 0),
    // Legislated (Pensions Act 2007), subject to review.
    (Some((1977, 4, 6)), None, 68, 0),
];

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date in the schedule table")
}

impl PensionAgeSchedule {
    /// The schedule in force in 2026.
    pub fn uk() -> PensionAgeSchedule {
        PensionAgeSchedule {
            bands: UK_SCHEDULE
                .iter()
                .map(|&(after, before, years, months)| PensionAgeBand {
                    born_on_or_after: after.map(date),
                    born_on_or_before: before.map(date),
                    years,
                    months,
                })
                .collect(),
        }
    }

    fn band_for(&self, date_of_birth: NaiveDate) -> Option<&PensionAgeBand> {
        self.bands.iter().find(|b| {
            b.born_on_or_after.is_none_or(|a| a <= date_of_birth)
                && b.born_on_or_before.is_none_or(|z| date_of_birth <= z)
        })
    }

    /// The day someone born on `date_of_birth` reaches State Pension age.
    pub fn pension_age_reached_on(&self, date_of_birth: NaiveDate) -> NaiveDate {
        let (years, months) = self
            .band_for(date_of_birth)
            .or(self.bands.last())
            .map(|b| (b.years, b.months))
            .unwrap_or((68, 0));
        anniversary(date_of_birth, years * 12 + months)
    }

    /// True from the day State Pension age is reached.
    pub fn is_over_pension_age(&self, date_of_birth: NaiveDate, on: NaiveDate) -> bool {
        on >= self.pension_age_reached_on(date_of_birth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn people_born_before_october_1954_are_over_pension_age_today() {
        let s = PensionAgeSchedule::uk();
        assert!(s.is_over_pension_age(d(1950, 1, 1), d(2026, 11, 24)));
        assert!(s.is_over_pension_age(d(1954, 10, 5), d(2026, 11, 24)));
    }

    #[test]
    fn people_born_from_october_1954_to_april_1960_reach_it_at_66() {
        let s = PensionAgeSchedule::uk();
        assert_eq!(s.pension_age_reached_on(d(1954, 10, 6)), d(2020, 10, 6));
        assert_eq!(s.pension_age_reached_on(d(1958, 3, 14)), d(2024, 3, 14));
        assert_eq!(s.pension_age_reached_on(d(1960, 4, 5)), d(2026, 4, 5));
    }

    #[test]
    fn each_birth_month_band_from_april_1960_adds_one_month() {
        let s = PensionAgeSchedule::uk();
        // 6 April – 5 May 1960: 66 years 1 month.
        assert_eq!(s.pension_age_reached_on(d(1960, 4, 6)), d(2026, 5, 6));
        assert_eq!(s.pension_age_reached_on(d(1960, 5, 5)), d(2026, 6, 5));
        // 6 May – 5 June 1960: 66 years 2 months.
        assert_eq!(s.pension_age_reached_on(d(1960, 5, 6)), d(2026, 7, 6));
        // 6 February – 5 March 1961: 66 years 11 months.
        assert_eq!(s.pension_age_reached_on(d(1961, 3, 5)), d(2028, 2, 5));
    }

    #[test]
    fn people_born_from_march_1961_reach_it_at_67_and_from_april_1977_at_68() {
        let s = PensionAgeSchedule::uk();
        assert_eq!(s.pension_age_reached_on(d(1961, 3, 6)), d(2028, 3, 6));
        assert_eq!(s.pension_age_reached_on(d(1961, 4, 6)), d(2028, 4, 6));
        assert_eq!(s.pension_age_reached_on(d(1977, 4, 5)), d(2044, 4, 5));
        assert_eq!(s.pension_age_reached_on(d(1977, 4, 6)), d(2045, 4, 6));
    }

    #[test]
    fn the_day_pension_age_is_reached_counts_as_over_it() {
        let s = PensionAgeSchedule::uk();
        let dob = d(1961, 4, 6);
        assert!(!s.is_over_pension_age(dob, d(2028, 4, 5)));
        assert!(s.is_over_pension_age(dob, d(2028, 4, 6)));
    }

    #[test]
    fn a_29_february_birthday_reaches_pension_age_on_1_march_in_a_common_year() {
        let s = PensionAgeSchedule::uk();
        assert_eq!(s.pension_age_reached_on(d(1964, 2, 29)), d(2031, 3, 1));
    }

    #[test]
    fn the_bands_cover_every_birth_date_without_overlap() {
        let s = PensionAgeSchedule::uk();
        for w in s.bands.windows(2) {
            let end = w[0].born_on_or_before.unwrap();
            assert_eq!(w[1].born_on_or_after, end.succ_opt());
        }
        assert!(s.bands[0].born_on_or_after.is_none());
        assert!(s.bands.last().unwrap().born_on_or_before.is_none());
    }

    proptest! {
        #[test]
        fn pension_age_never_comes_earlier_for_someone_born_later(a in 0i64..40000, gap in 0i64..4000) {
            let s = PensionAgeSchedule::uk();
            let first = d(1930, 1, 1) + chrono::Duration::days(a);
            let later = first + chrono::Duration::days(gap);
            prop_assert!(s.pension_age_reached_on(later) >= s.pension_age_reached_on(first));
        }
    }
}
