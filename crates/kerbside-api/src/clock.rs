//! The clock every rule's "now" comes from. Business rules never read the time themselves:
//! the server and the app hold a [`SharedClock`] and pass `clock.now()` down.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock lock poisoned") = at;
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock poisoned") += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock poisoned")
    }
}

/// A clock that starts at a chosen instant and then ticks with real time: what `--clock`
/// gives a demo, so sessions and payments still age naturally.
#[derive(Debug)]
pub struct OffsetClock {
    started_at: DateTime<Utc>,
    started: Instant,
}

impl OffsetClock {
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Self {
            started_at: at,
            started: Instant::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed =
            Duration::from_std(self.started.elapsed()).unwrap_or_else(|_| Duration::zero());
        self.started_at + elapsed
    }
}

/// Parses a `--clock` value (RFC 3339, e.g. `2027-03-01T09:00:00Z`).
pub fn parse_clock_setting(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{value}' is not an RFC 3339 time such as 2027-03-01T09:00:00Z ({e})")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_only_moves_when_told() {
        let start = parse_clock_setting("2027-03-01T09:00:00Z").unwrap();
        let clock = FixedClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::days(2));
        assert_eq!(clock.now(), start + Duration::days(2));
    }

    #[test]
    fn an_offset_clock_starts_at_the_set_time_and_ticks_forward() {
        let start = parse_clock_setting("2027-03-01T09:00:00Z").unwrap();
        let clock = OffsetClock::starting_at(start);
        let first = clock.now();
        assert!(first >= start && first < start + Duration::seconds(5));
        assert!(clock.now() >= first);
    }

    #[test]
    fn a_clock_setting_that_is_not_rfc3339_is_refused_with_an_example() {
        let err = parse_clock_setting("next tuesday").unwrap_err();
        assert!(err.contains("2027-03-01T09:00:00Z"), "{err}");
    }
}
