//! Addresses, postcodes and the council's street list, which maps an address to its lettered
//! permit zone.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A UK postcode, stored as `LE2 7JN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Postcode(String);

impl Postcode {
    pub fn parse(input: &str) -> Result<Postcode, AddressError> {
        let compact: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if compact.is_empty() {
            return Err(AddressError::Missing {
                field: "postcode".into(),
            });
        }
        let invalid = || AddressError::InvalidPostcode {
            input: input.trim().chars().take(20).collect(),
        };
        if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
            return Err(invalid());
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let i = inward.as_bytes();
        let inward_ok =
            i[0].is_ascii_digit() && i[1].is_ascii_alphabetic() && i[2].is_ascii_alphabetic();
        let pattern: String = outward
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' => 'A',
                b'0'..=b'9' => '9',
                _ => '?',
            })
            .collect();
        let outward_ok = matches!(
            pattern.as_str(),
            "A9" | "A99" | "AA9" | "AA99" | "A9A" | "AA9A"
        );
        if inward_ok && outward_ok {
            Ok(Postcode(format!("{outward} {inward}")))
        } else {
            Err(invalid())
        }
    }

    /// The district part before the space (`LE2`).
    pub fn outward(&self) -> &str {
        self.0.split(' ').next().unwrap_or(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Postcode {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Postcode::parse(&value)
    }
}

impl From<Postcode> for String {
    fn from(value: Postcode) -> String {
        value.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// House number or name.
    pub line1: String,
    pub street: String,
    pub town: String,
    pub postcode: Postcode,
}

fn normalise_words(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Address {
    /// One key per dwelling, so "12 Hazel St." typed twice counts as one household.
    pub fn household_key(&self) -> String {
        format!(
            "{}|{}|{}",
            normalise_words(&self.line1),
            normalise_words(&self.street),
            self.postcode
        )
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}, {}, {}",
            self.line1, self.street, self.town, self.postcode
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreetEntry {
    pub street: String,
    pub outward_code: String,
    pub zone: String,
    pub zone_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreetList {
    pub streets: Vec<StreetEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{street}, {postcode} is not in a permit zone, so permits cannot be bought for it.")]
    NotInAnyZone { street: String, postcode: String },
    #[error("\u{201c}{input}\u{201d} is not a UK postcode; enter it like LE2 7JN.")]
    InvalidPostcode { input: String },
    #[error("Enter the {field} of your address.")]
    Missing { field: String },
}

impl StreetList {
    pub fn from_toml(text: &str) -> Result<StreetList, Error> {
        let list: StreetList =
            toml::from_str(text).map_err(|e| Error::InvalidTariff(e.to_string()))?;
        if list.streets.is_empty() {
            return Err(Error::InvalidTariff("the street list is empty".into()));
        }
        Ok(list)
    }

    /// The demo council's streets (a few in each of Leicester's lettered zones).
    pub fn leicester_demo() -> StreetList {
        StreetList::from_toml(include_str!("../../../tariffs/leicester-streets.toml"))
            .expect("the bundled street list is valid")
    }

    /// The zone an address is in, matched on street name (case and spacing ignored) and
    /// postcode district.
    pub fn zone_for(&self, address: &Address) -> Result<Zone, AddressError> {
        if address.line1.trim().is_empty() {
            return Err(AddressError::Missing {
                field: "house number or name".into(),
            });
        }
        if address.street.trim().is_empty() {
            return Err(AddressError::Missing {
                field: "street".into(),
            });
        }
        let street = normalise_words(&address.street);
        self.streets
            .iter()
            .find(|s| {
                normalise_words(&s.street) == street
                    && s.outward_code
                        .eq_ignore_ascii_case(address.postcode.outward())
            })
            .map(|s| Zone {
                code: s.zone.clone(),
                name: s.zone_name.clone(),
            })
            .ok_or_else(|| AddressError::NotInAnyZone {
                street: format!("{} {}", address.line1.trim(), address.street.trim()),
                postcode: address.postcode.to_string(),
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An address in Leicester, for tests here and in the other rule modules.
    pub(crate) fn address(line1: &str, street: &str, postcode: &str) -> Address {
        Address {
            line1: line1.into(),
            street: street.into(),
            town: "Leicester".into(),
            postcode: Postcode::parse(postcode).unwrap(),
        }
    }

    #[test]
    fn postcodes_are_normalised_with_one_space() {
        assert_eq!(Postcode::parse("le27jn").unwrap().as_str(), "LE2 7JN");
        assert_eq!(Postcode::parse(" LE1  1FZ ").unwrap().as_str(), "LE1 1FZ");
        assert_eq!(Postcode::parse("SW1A 1AA").unwrap().outward(), "SW1A");
        assert_eq!(Postcode::parse("M1 1AE").unwrap().outward(), "M1");
    }

    #[test]
    fn things_that_are_not_postcodes_are_refused_with_an_example() {
        for bad in ["LE2", "12345", "LE2 7J", "LEE2 7JN", "LE2 JJN", "LE2-7JN"] {
            let err = Postcode::parse(bad).unwrap_err();
            assert!(matches!(err, AddressError::InvalidPostcode { .. }), "{bad}");
            assert!(err.to_string().contains("LE2 7JN"));
        }
        assert_eq!(
            Postcode::parse(" "),
            Err(AddressError::Missing {
                field: "postcode".into()
            })
        );
    }

    #[test]
    fn an_address_belongs_to_the_zone_of_its_street_and_district() {
        let streets = StreetList::leicester_demo();
        let zone = streets
            .zone_for(&address("12", "hazel  street", "LE2 7JN"))
            .unwrap();
        assert_eq!(
            zone,
            Zone {
                code: "B".into(),
                name: "Hazel Street".into()
            }
        );
        let zone = streets
            .zone_for(&address("3", "Westcotes Drive", "LE3 0QT"))
            .unwrap();
        assert_eq!(zone.code, "F");
    }

    #[test]
    fn every_demo_zone_from_a_to_f_has_streets() {
        let streets = StreetList::leicester_demo();
        for code in ["A", "B", "C", "D", "E", "F"] {
            assert!(
                streets.streets.iter().any(|s| s.zone == code),
                "zone {code}"
            );
        }
    }

    #[test]
    fn an_address_in_no_zone_cannot_buy_and_is_told_why() {
        let streets = StreetList::leicester_demo();
        let err = streets
            .zone_for(&address("12", "Elm Road", "LE9 9ZZ"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "12 Elm Road, LE9 9ZZ is not in a permit zone, so permits cannot be bought for it."
        );
        // The right street in the wrong district is not in the zone either.
        assert!(streets
            .zone_for(&address("12", "Hazel Street", "LE9 1AA"))
            .is_err());
    }

    #[test]
    fn one_household_however_the_address_is_typed() {
        let a = address("12", "Hazel Street", "LE2 7JN");
        let b = address(" 12 ", "hazel street.", "le27jn");
        assert_eq!(a.household_key(), b.household_key());
        assert_ne!(
            a.household_key(),
            address("14", "Hazel Street", "LE2 7JN").household_key()
        );
    }
}
