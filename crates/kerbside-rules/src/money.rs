use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in pence. Integer pence keep sums and refunds exact.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_pounds(pounds: i64) -> Money {
        Money(pounds * 100)
    }

    pub fn pence(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}£{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_displays_as_pounds_and_pence() {
        assert_eq!(Money::from_pounds(40).to_string(), "£40.00");
        assert_eq!(Money::ZERO.to_string(), "£0.00");
        assert_eq!(Money(205).to_string(), "£2.05");
        assert_eq!(Money(-150).to_string(), "-£1.50");
    }

    #[test]
    fn money_serialises_as_pence() {
        assert_eq!(serde_json::to_string(&Money(4000)).unwrap(), "4000");
        assert_eq!(serde_json::from_str::<Money>("205").unwrap(), Money(205));
    }
}
