//! Property tests over wide random input, through the crate's public API only.
//!
//! Registrations: any text at all (control characters, emoji, combining marks, every kind of
//! Unicode whitespace, strings of tens of thousands of characters) never panics, and a refusal
//! always carries a reason a resident can act on; every UK format round-trips through its
//! canonical form. Dates: every instant and day from 1900 to 2200 — leap days, century years
//! that are not leap years, and the days Europe/London changes its clocks — never panics, a
//! term always ends after it starts and the renewal follows on the next day, and renewal opens
//! exactly 30 days before expiry. Pension age, refunds and permit status hold over the same
//! range.
//!
//! Case counts are raised above proptest's default of 256 where a case is cheap (`CASES`).

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, TimeZone, Utc, Weekday};
use kerbside_rules::{
    check_action, check_renewal, format_uk_date, permit_status, quote_refund, renewal_opens_on,
    uk_local_date, Money, PensionAgeSchedule, PermitAction, PermitState, PermitStatus, Postcode,
    RefundPolicy, Registration, RegistrationError, RegistrationFormat, RenewalError, Term,
    RENEWAL_WINDOW_DAYS,
};
use proptest::prelude::*;

/// Cases for cheap properties (proptest's default is 256).
const CASES: u32 = 10_000;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ registrations: any text

/// Characters a phone keyboard, a paste or a broken client might send.
fn awkward_char() -> impl Strategy<Value = char> {
    prop_oneof![
        any::<char>(),
        // ASCII and C1 control characters, NUL and DEL included.
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        (0x7Fu32..0xA0).prop_map(|c| char::from_u32(c).unwrap()),
        proptest::sample::select(vec![
            '😀',
            '🚗',
            '🇬',
            '🇧',
            '\u{200D}',
            '\u{FE0F}',
            '\u{0301}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{00A0}',
            '\u{2003}',
            '\u{3000}',
            '\u{0085}',
            '\u{2028}',
            'Ａ',
            '１',
            'ß',
            'İ',
            'ı',
            'Ⅻ',
            '٣',
            '\u{1D400}',
            '\u{10FFFF}',
        ]),
        // Plate characters, so refusals also come from deep inside the parser.
        proptest::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
                .chars()
                .collect::<Vec<_>>()
        ),
    ]
}

fn any_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(awkward_char(), 0..max).prop_map(String::from_iter)
}

/// What every refusal must be: a sentence, naming what is wrong.
fn assert_reasoned(input: &str, error: &RegistrationError) -> Result<(), TestCaseError> {
    let reason = error.to_string();
    prop_assert!(reason.len() > 20, "{input:?}: {reason:?}");
    prop_assert!(reason.ends_with('.'), "{input:?}: {reason:?}");
    match error {
        RegistrationError::InvalidCharacter { character } => {
            prop_assert!(input.contains(*character));
            prop_assert!(!character.is_ascii_alphanumeric() && !character.is_whitespace());
            prop_assert!(reason.contains(*character));
        }
        RegistrationError::TooLong { length } => {
            prop_assert!(*length > 7);
            prop_assert!(reason.contains(&length.to_string()));
        }
        RegistrationError::Empty => prop_assert!(input.chars().all(char::is_whitespace)),
        _ => {}
    }
    Ok(())
}

/// What every acceptance must be: a short upper-case plate that round-trips.
fn assert_plate(input: &str, r: &Registration) -> Result<(), TestCaseError> {
    prop_assert!((1..=7).contains(&r.as_str().len()), "{input:?}");
    prop_assert!(r
        .as_str()
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    let again = Registration::parse(&r.to_string());
    prop_assert_eq!(again.as_ref(), Ok(r));
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_short_text_gets_a_plate_or_a_reason_and_never_a_panic(input in any_text(24)) {
        match Registration::parse(&input) {
            Ok(r) => assert_plate(&input, &r)?,
            Err(e) => assert_reasoned(&input, &e)?,
        }
    }

    #[test]
    fn emoji_and_control_characters_in_a_plate_are_named(
        plate in valid_plate(), at in 0usize..8, bad in proptest::sample::select(vec!['😀', '🚗', '\u{0}', '\u{7}', '\u{1B}', '\u{7F}', '\u{9B}', '-', '.', '\u{202E}'])
    ) {
        let mut typed: Vec<char> = plate.0.chars().collect();
        typed.insert(at.min(typed.len()), bad);
        let typed: String = typed.into_iter().collect();
        prop_assert_eq!(
            Registration::parse(&typed),
            Err(RegistrationError::InvalidCharacter { character: bad })
        );
    }

    #[test]
    fn any_kind_of_unicode_whitespace_between_characters_is_ignored(
        plate in valid_plate(),
        spaces in proptest::collection::vec(
            (0usize..8, proptest::sample::select(vec![' ', '\t', '\n', '\r', '\u{A0}', '\u{2003}', '\u{3000}', '\u{85}', '\u{2028}'])),
            0..6,
        )
    ) {
        let mut typed: Vec<char> = plate.0.to_lowercase().chars().collect();
        for (at, space) in spaces {
            typed.insert(at.min(typed.len()), space);
        }
        let typed: String = typed.into_iter().collect();
        let parsed = Registration::parse(&typed).unwrap();
        prop_assert_eq!(parsed.as_str(), plate.0.as_str());
    }
}

proptest! {
    // Long inputs cost more per case.
    #![proptest_config(config(512))]

    #[test]
    fn very_long_text_is_refused_with_a_reason_without_a_panic(input in any_text(20_000), pad in 0usize..50_000) {
        let long = format!("{input}{}", "A".repeat(pad));
        match Registration::parse(&long) {
            Ok(r) => assert_plate(&long, &r)?,
            Err(e) => assert_reasoned(&long, &e)?,
        }
    }

    #[test]
    fn postcodes_from_any_text_never_panic_and_refusals_quote_at_most_20_characters(input in any_text(200)) {
        match Postcode::parse(&input) {
            Ok(p) => {
                let shown = p.to_string();
                prop_assert!(shown.len() <= 8 && shown.is_ascii());
                prop_assert_eq!(Postcode::parse(&shown).unwrap(), p);
            }
            Err(e) => {
                let reason = e.to_string();
                prop_assert!(reason.ends_with('.'), "{reason:?}");
                prop_assert!(reason.chars().count() < 200, "{reason:?}");
            }
        }
    }
}

// --------------------------------------------------------- registrations: every UK format

/// A plate as typed in capitals without spaces, and the format it is in.
#[derive(Debug, Clone)]
struct Plate(String, RegistrationFormat);

fn letters(n: std::ops::RangeInclusive<usize>, alphabet: &'static str) -> BoxedStrategy<String> {
    proptest::collection::vec(
        proptest::sample::select(alphabet.chars().collect::<Vec<_>>()),
        n,
    )
    .prop_map(String::from_iter)
    .boxed()
}

fn digits(n: std::ops::RangeInclusive<usize>) -> BoxedStrategy<String> {
    letters(n, "0123456789")
}

const ALL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Letters without I and Z: dateless plates that are not Northern Irish.
const NOT_NI: &str = "ABCDEFGHJKLMNOPQRSTUVWXY";

/// Either order of a letter run and a digit run.
fn either_order(letters: String, digits: String, digits_first: bool) -> String {
    if digits_first {
        format!("{digits}{letters}")
    } else {
        format!("{letters}{digits}")
    }
}

fn valid_plate() -> impl Strategy<Value = Plate> {
    use RegistrationFormat::*;
    let current = (
        letters(2..=2, "ABCDEFGHJKLMNOPRSTUVWXY"),
        (2u32..=99).prop_filter("never issued", |n| *n != 50),
        letters(3..=3, "ABCDEFGHJKLMNOPRSTUVWXYZ"),
    )
        .prop_map(|(a, n, r)| Plate(format!("{a}{n:02}{r}"), Current));
    let prefix = (
        letters(1..=1, "ABCDEFGHJKLMNPRSTVWXY"),
        digits(1..=3),
        letters(3..=3, ALL),
    )
        .prop_map(|(y, n, r)| Plate(format!("{y}{n}{r}"), Prefix));
    let suffix = (letters(3..=3, ALL), digits(1..=3), letters(1..=1, ALL))
        .prop_map(|(a, n, y)| Plate(format!("{a}{n}{y}"), Suffix));
    let dateless_short = (letters(1..=2, NOT_NI), digits(1..=4), any::<bool>())
        .prop_map(|(l, n, d)| Plate(either_order(l, n, d), Dateless));
    let dateless_three = (letters(3..=3, ALL), digits(1..=3), any::<bool>())
        .prop_filter("not a Northern Ireland code", |(l, _, _)| {
            !l[1..].contains(['I', 'Z'])
        })
        .prop_map(|(l, n, d)| Plate(either_order(l, n, d), Dateless));
    let northern_ireland_three = (
        letters(1..=1, ALL),
        letters(2..=2, ALL),
        digits(1..=4),
        any::<bool>(),
    )
        .prop_filter("county code has I or Z", |(_, c, _, _)| {
            c.contains(['I', 'Z'])
        })
        .prop_map(|(a, c, n, d)| Plate(either_order(format!("{a}{c}"), n, d), NorthernIreland));
    let northern_ireland_two = (letters(2..=2, ALL), digits(1..=4), any::<bool>())
        .prop_filter("has I or Z", |(l, _, _)| l.contains(['I', 'Z']))
        .prop_map(|(l, n, d)| Plate(either_order(l, n, d), NorthernIreland));
    prop_oneof![
        current,
        prefix,
        suffix,
        dateless_short,
        dateless_three,
        northern_ireland_three,
        northern_ireland_two
    ]
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn every_format_round_trips_through_its_canonical_form(plate in valid_plate()) {
        let r = Registration::parse(&plate.0).unwrap_or_else(|e| panic!("{plate:?}: {e}"));
        prop_assert_eq!(r.format(), plate.1, "{:?}", plate);
        prop_assert_eq!(r.as_str(), plate.0.as_str());
        let shown = r.to_string();
        prop_assert_eq!(&shown, &r.canonical());
        prop_assert_eq!(shown.matches(' ').count(), 1, "{}", shown);
        prop_assert_eq!(Registration::parse(&shown), Ok(r.clone()));
        // And through JSON, as it travels between the app and the council.
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(serde_json::from_str::<Registration>(&json).unwrap(), r);
    }
}

// ------------------------------------------------------------------------------- dates

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const FIRST: (i32, u32, u32) = (1900, 1, 1);
const LAST: (i32, u32, u32) = (2200, 12, 31);

/// Any day from 1 January 1900 to 31 December 2200.
fn any_day() -> impl Strategy<Value = NaiveDate> {
    let first = date(FIRST.0, FIRST.1, FIRST.2);
    let span = (date(LAST.0, LAST.1, LAST.2) - first).num_days();
    prop_oneof![
        (0..=span).prop_map(move |n| first + Duration::days(n)),
        // Leap days, and the ends of February in century years.
        (1900i32..=2200).prop_filter_map("not a leap year", |y| NaiveDate::from_ymd_opt(y, 2, 29)),
        (19i32..=22).prop_map(|c| date(c * 100, 2, 28)),
        // Ends of months.
        (1900i32..=2200, 1u32..=12).prop_map(|(y, m)| {
            let next = if m == 12 {
                date(y + 1, 1, 1)
            } else {
                date(y, m + 1, 1)
            };
            next - Days::new(1)
        }),
    ]
}

/// Any instant from the start of 1900 to the end of 2200 (UTC).
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let first = Utc
        .with_ymd_and_hms(1900, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let last = Utc
        .with_ymd_and_hms(2200, 12, 31, 23, 59, 59)
        .unwrap()
        .timestamp();
    (first..=last).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut day = date(year, month + 1, 1) - Days::new(1);
    while day.weekday() != Weekday::Sun {
        day = day - Days::new(1);
    }
    day
}

fn utc(day: NaiveDate, minute_of_day: i64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap()) + Duration::minutes(minute_of_day)
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn the_uk_date_of_any_instant_is_its_utc_date_or_the_next(at in any_instant()) {
        // London is on GMT, BST (+1) or, in the 1940s, double summer time (+2): the UK date
        // is never behind the UTC date and at most one day ahead.
        let uk = uk_local_date(at);
        let utc_day = at.date_naive();
        prop_assert!(uk == utc_day || uk == utc_day + Days::new(1), "{at}: {uk}");
    }

    #[test]
    fn the_uk_date_never_goes_backwards(at in any_instant(), later_by in 0i64..=3 * 3600) {
        // Not even when the clocks go back in October: they do so at 02:00, never past midnight.
        let after = at + Duration::seconds(later_by);
        prop_assert!(uk_local_date(at) <= uk_local_date(after), "{at} → {after}");
    }

    #[test]
    fn on_the_days_the_clocks_change_the_uk_date_follows_the_eu_rule(
        year in 1996i32..=2200, minute in 0i64..1440, spring in any::<bool>()
    ) {
        // Since 1996 (when the UK's autumn change moved to the EU's day): BST from 01:00 UTC on
        // the last Sunday of March to 01:00 UTC on the last Sunday of October. A purchase at 23:30 UTC on the spring day is already the next
        // day in London; at 00:30 UTC on the autumn day it is still BST (01:30 local).
        let day = last_sunday(year, if spring { 3 } else { 10 });
        let at = utc(day, minute);
        let bst = if spring { minute >= 60 } else { minute < 60 };
        let expected = if bst && minute >= 23 * 60 { day + Days::new(1) } else { day };
        prop_assert_eq!(uk_local_date(at), expected, "{}", at);
        // The evening before the autumn change is still summer time.
        if !spring {
            let evening = utc(day - Days::new(1), 23 * 60 + minute % 60);
            prop_assert_eq!(uk_local_date(evening), day);
        }
    }

    #[test]
    fn a_term_ends_after_it_starts_and_its_renewal_follows_the_next_day(
        start in any_day(), months in 1u32..=36
    ) {
        let term = Term::starting(start, months);
        prop_assert!(term.expires_on > term.starts_on);
        prop_assert!(term.contains(start) && term.contains(term.expires_on));
        prop_assert!(term.days() >= 28 * i64::from(months));
        prop_assert!(term.days() <= 31 * i64::from(months) + 1);
        let next = term.next(months);
        prop_assert_eq!(next.starts_on, term.expires_on + Days::new(1));
        prop_assert!(next.expires_on > next.starts_on);
        // A 12-month term covers a year to the day: same day next year, the day before.
        if months == 12 && !(start.month() == 2 && start.day() == 29) {
            prop_assert_eq!(term.expires_on, date(start.year() + 1, start.month(), start.day()) - Days::new(1));
        }
    }

    #[test]
    fn renewal_opens_exactly_30_days_before_expiry_and_closes_after_the_last_day(
        start in any_day(), months in 1u32..=36, offset in -800i64..=800
    ) {
        let term = Term::starting(start, months);
        let opens_on = renewal_opens_on(term.expires_on);
        prop_assert_eq!((term.expires_on - opens_on).num_days(), RENEWAL_WINDOW_DAYS);
        prop_assert_eq!(RENEWAL_WINDOW_DAYS, 30);
        let today = term.expires_on + Duration::days(offset);
        match check_renewal(&term, months, today) {
            Ok(next) => {
                prop_assert!(opens_on <= today && today <= term.expires_on);
                prop_assert_eq!(next, term.next(months));
            }
            Err(RenewalError::NotYetOpen { opens_on: said }) => {
                prop_assert!(today < opens_on);
                prop_assert_eq!(said, opens_on);
                let reason = RenewalError::NotYetOpen { opens_on: said }.to_string();
                prop_assert_eq!(reason, format!("Renewal opens on {}.", format_uk_date(opens_on)));
            }
            Err(RenewalError::AlreadyExpired { expired_on }) => {
                prop_assert!(today > term.expires_on);
                prop_assert_eq!(expired_on, term.expires_on);
            }
        }
    }

    #[test]
    fn uk_dates_are_written_so_they_read_back(day in any_day()) {
        let written = format_uk_date(day);
        prop_assert!(!written.starts_with('0'));
        prop_assert_eq!(NaiveDate::parse_from_str(&written, "%d %B %Y").unwrap(), day);
    }

    #[test]
    fn state_pension_age_is_65_to_68_and_once_reached_stays_reached(
        born in any_day(), later_by in 0i64..=4000, then in any_day()
    ) {
        let schedule = PensionAgeSchedule::uk();
        let reached = schedule.pension_age_reached_on(born);
        let years = (reached.year() - born.year()) - i32::from((reached.month(), reached.day()) < (born.month(), born.day()));
        prop_assert!((65..=68).contains(&years), "born {born}: reached {reached}");
        if schedule.is_over_pension_age(born, then) {
            prop_assert!(schedule.is_over_pension_age(born, then + Duration::days(later_by)));
        }
        prop_assert!(!schedule.is_over_pension_age(born, reached - Days::new(1)));
        prop_assert!(schedule.is_over_pension_age(born, reached));
    }

    #[test]
    fn a_permit_has_exactly_one_status_on_any_day(
        start in any_day(), months in 1u32..=36, offset in -1200i64..=1200, renewed in any::<bool>(),
        state in proptest::sample::select(vec![PermitState::AwaitingPayment, PermitState::Active, PermitState::PaymentFailed, PermitState::Cancelled])
    ) {
        let term = Term::starting(start, months);
        let today = start + Duration::days(offset);
        let status = permit_status(state, &term, today, renewed);
        let expected = match state {
            PermitState::AwaitingPayment => PermitStatus::AwaitingPayment,
            PermitState::PaymentFailed => PermitStatus::PaymentFailed,
            PermitState::Cancelled => PermitStatus::Cancelled,
            PermitState::Active if today < term.starts_on => PermitStatus::Upcoming,
            PermitState::Active if term.contains(today) => PermitStatus::Active,
            PermitState::Active if renewed => PermitStatus::SupersededByRenewal,
            PermitState::Active => PermitStatus::Expired,
        };
        prop_assert_eq!(status, expected);
        // Only a live permit may be renewed, and only live or upcoming ones changed or cancelled;
        // a refusal says why.
        let renew = check_action(status, PermitAction::Renew);
        prop_assert_eq!(renew.is_ok(), status == PermitStatus::Active);
        if let Err(refused) = renew {
            prop_assert!(refused.to_string().starts_with("This permit is "));
        }
        prop_assert_eq!(
            check_action(status, PermitAction::Cancel).is_ok(),
            matches!(status, PermitStatus::Active | PermitStatus::Upcoming)
        );
    }

    #[test]
    fn a_refund_is_between_nothing_and_what_was_paid_on_any_day(
        start in any_day(), months in 1u32..=36, offset in -800i64..=1200, paid in 0i64..=1_000_000,
        fee in 0i64..=10_000, minimum in 0u32..=12, kind in 0u8..5
    ) {
        let policy = match kind {
            0 => RefundPolicy::NonRefundable,
            1 => RefundPolicy::WholeMonthsLessFee { fee: Money(fee) },
            2 => RefundPolicy::DailyProRataRoundedDownToPound,
            3 => RefundPolicy::ProRataLessFeeOrNothing { fee: Money(fee) },
            _ => RefundPolicy::ProRataLessFeeAboveMinimumMonths { fee: Money(fee), minimum_full_months: minimum },
        };
        let term = Term::starting(start, months);
        let cancel_on = start + Duration::days(offset);
        let refund = quote_refund(&policy, Money(paid), &term, cancel_on);
        prop_assert!(refund >= Money::ZERO && refund <= Money(paid), "{refund:?}");
        // After the last day there is nothing left to refund.
        if cancel_on > term.expires_on {
            prop_assert_eq!(refund, Money::ZERO);
        }
    }
}

#[test]
fn summer_time_continues_after_2099_where_the_time_zone_table_ends() {
    // chrono-tz's Europe/London table stops with 2099; the rule carries on.
    let midsummer_night = Utc.with_ymd_and_hms(2150, 6, 30, 23, 30, 0).unwrap();
    assert_eq!(uk_local_date(midsummer_night), date(2150, 7, 1));
    let winter_night = Utc.with_ymd_and_hms(2150, 12, 30, 23, 30, 0).unwrap();
    assert_eq!(uk_local_date(winter_night), date(2150, 12, 30));
    // Both sides of the year the table ends.
    for year in [2099, 2100] {
        let night = Utc.with_ymd_and_hms(year, 7, 1, 23, 30, 0).unwrap();
        assert_eq!(uk_local_date(night), date(year, 7, 2), "{year}");
    }
}

#[test]
fn century_years_that_are_not_leap_years_have_no_29_february() {
    for year in [1900, 2100, 2200] {
        assert!(NaiveDate::from_ymd_opt(year, 2, 29).is_none(), "{year}");
        let term = Term::starting(date(year, 2, 28), 12);
        assert_eq!(term.expires_on, date(year + 1, 2, 27));
    }
    // 2000 was one: bought on its 29 February, a permit ends on 28 February 2001 and the
    // renewal starts on 1 March.
    let term = Term::starting(date(2000, 2, 29), 12);
    assert_eq!(term.expires_on, date(2001, 2, 28));
    assert_eq!(term.next(12).starts_on, date(2001, 3, 1));
}
