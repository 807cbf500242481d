//! UK vehicle registration numbers: parsed once at the edge, stored normalised
//! (`AB12CDE`), shown with canonical spacing (`AB12 CDE`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest registration, without spaces.
const MAX_LENGTH: usize = 7;

/// A registration number known to be in one of the UK formats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Registration {
    normalised: String,
    format: RegistrationFormat,
}

/// The format a registration was recognised as; it decides where the space goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationFormat {
    /// `AB12 CDE`, issued since September 2001.
    Current,
    /// `A123 BCD`, 1983–2001.
    Prefix,
    /// `ABC 123D`, 1963–1983.
    Suffix,
    /// `AB 1234`, `1234 AB`, `ABC 123`, `123 ABC`.
    Dateless,
    /// `AIZ 1234`, and the older `IA 1234` / `1234 IA`.
    NorthernIreland,
}

/// Why a registration was refused, in words a resident can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("Enter the vehicle registration number.")]
    Empty,
    #[error("A registration number has at most 7 letters and numbers; this one has {length}.")]
    TooLong { length: usize },
    #[error(
        "A registration number contains only letters and numbers, not \u{201c}{character}\u{201d}."
    )]
    InvalidCharacter { character: char },
    #[error("The first two letters of a registration like AB12 CDE never include I, Q or Z; check \u{201c}{letters}\u{201d}.")]
    CurrentFormatAreaLetters { letters: String },
    #[error("The last three letters of a registration like AB12 CDE never include I or Q; check \u{201c}{letters}\u{201d}.")]
    CurrentFormatRandomLetters { letters: String },
    #[error("No registration was issued with the numbers {digits} after the first two letters; check the number plate.")]
    AgeIdentifierNeverIssued { digits: String },
    #[error("The first letter of a registration like A123 BCD is never I, O, Q, U or Z; check \u{201c}{letter}\u{201d}.")]
    PrefixYearLetter { letter: char },
    #[error(
        "Enter the registration number as it appears on the number plate, for example AB12 CDE."
    )]
    NotAUkRegistration,
}

impl Registration {
    /// Parses what a resident typed: case and spaces do not matter.
    pub fn parse(input: &str) -> Result<Registration, RegistrationError> {
        let mut normalised = String::with_capacity(MAX_LENGTH);
        for c in input.chars().filter(|c| !c.is_whitespace()) {
            if c.is_ascii_alphanumeric() {
                normalised.push(c.to_ascii_uppercase());
            } else {
                return Err(RegistrationError::InvalidCharacter { character: c });
            }
        }
        if normalised.is_empty() {
            return Err(RegistrationError::Empty);
        }
        if normalised.len() > MAX_LENGTH {
            return Err(RegistrationError::TooLong {
                length: normalised.len(),
            });
        }
        let format = classify(&normalised)?;
        Ok(Registration { normalised, format })
    }

    /// Upper case without spaces: the stored form.
    pub fn as_str(&self) -> &str {
        &self.normalised
    }

    pub fn format(&self) -> RegistrationFormat {
        self.format
    }

    /// As printed on the plate: `AB12 CDE`, `A123 BCD`, `ABC 123D`, `AB 1234`.
    pub fn canonical(&self) -> String {
        let s = &self.normalised;
        let split = match self.format {
            RegistrationFormat::Current => 4,
            RegistrationFormat::Prefix => s.len() - 3,
            RegistrationFormat::Suffix => 3,
            RegistrationFormat::Dateless | RegistrationFormat::NorthernIreland => {
                let first_is_letter = s.as_bytes()[0].is_ascii_alphabetic();
                s.bytes()
                    .position(|b| b.is_ascii_alphabetic() != first_is_letter)
                    .unwrap_or(s.len())
            }
        };
        format!("{} {}", &s[..split], &s[split..])
    }
}

impl fmt::Display for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl TryFrom<String> for Registration {
    type Error = RegistrationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Registration::parse(&value)
    }
}

impl From<Registration> for String {
    fn from(value: Registration) -> String {
        value.canonical()
    }
}

/// Splits into runs of letters (`L`) and digits (`D`), e.g. `AB12CDE` → LL DD LLL.
fn shape(s: &str) -> Vec<(bool, &str)> {
    let mut runs = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_alphabetic() != bytes[start].is_ascii_alphabetic()
        {
            runs.push((bytes[start].is_ascii_alphabetic(), &s[start..i]));
            start = i;
        }
    }
    runs
}

fn classify(s: &str) -> Result<RegistrationFormat, RegistrationError> {
    let runs = shape(s);
    let lens: Vec<(bool, usize)> = runs.iter().map(|(l, r)| (*l, r.len())).collect();
    match lens.as_slice() {
        [(true, 2), (false, 2), (true, 3)] => {
            let (area, age, random) = (runs[0].1, runs[1].1, runs[2].1);
            if area.contains(['I', 'Q', 'Z']) {
                return Err(RegistrationError::CurrentFormatAreaLetters {
                    letters: area.to_string(),
                });
            }
            if random.contains(['I', 'Q']) {
                return Err(RegistrationError::CurrentFormatRandomLetters {
                    letters: random.to_string(),
                });
            }
            if matches!(age, "00" | "01" | "50") {
                return Err(RegistrationError::AgeIdentifierNeverIssued {
                    digits: age.to_string(),
                });
            }
            Ok(RegistrationFormat::Current)
        }
        [(true, 1), (false, 1..=3), (true, 3)] => {
            let year = runs[0].1.chars().next().unwrap_or('A');
            if matches!(year, 'I' | 'O' | 'Q' | 'U' | 'Z') {
                return Err(RegistrationError::PrefixYearLetter { letter: year });
            }
            Ok(RegistrationFormat::Prefix)
        }
        [(true, 3), (false, 1..=3), (true, 1)] => Ok(RegistrationFormat::Suffix),
        [(true, 3), (false, 1..=4)] | [(false, 1..=4), (true, 3)]
            if is_northern_ireland_code(letters_of(&runs)) =>
        {
            Ok(RegistrationFormat::NorthernIreland)
        }
        [(true, 2), (false, 1..=4)] | [(false, 1..=4), (true, 2)]
            if letters_of(&runs).contains(['I', 'Z']) =>
        {
            Ok(RegistrationFormat::NorthernIreland)
        }
        [(true, 1..=2), (false, 1..=4)]
        | [(false, 1..=4), (true, 1..=2)]
        | [(true, 3), (false, 1..=3)]
        | [(false, 1..=3), (true, 3)] => Ok(RegistrationFormat::Dateless),
        _ => Err(RegistrationError::NotAUkRegistration),
    }
}

fn letters_of<'a>(runs: &[(bool, &'a str)]) -> &'a str {
    runs.iter().find(|(l, _)| *l).map(|(_, r)| *r).unwrap_or("")
}

/// Northern Ireland county codes are the last two of three letters and contain I or Z.
fn is_northern_ireland_code(letters: &str) -> bool {
    letters.len() == 3 && letters[1..].contains(['I', 'Z'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical(input: &str) -> String {
        Registration::parse(input).unwrap().canonical()
    }

    #[test]
    fn current_format_is_normalised_and_spaced_after_the_age_identifier() {
        let r = Registration::parse("  ab12 cde ").unwrap();
        assert_eq!(r.as_str(), "AB12CDE");
        assert_eq!(r.canonical(), "AB12 CDE");
        assert_eq!(r.format(), RegistrationFormat::Current);
        assert_eq!(canonical("a b 1 2 c d e"), "AB12 CDE");
        assert_eq!(canonical("LM68XYZ"), "LM68 XYZ");
    }

    #[test]
    fn every_historic_format_is_accepted_with_its_canonical_spacing() {
        let cases = [
            ("A123BCD", "A123 BCD", RegistrationFormat::Prefix),
            ("P1ABC", "P1 ABC", RegistrationFormat::Prefix),
            ("ABC123D", "ABC 123D", RegistrationFormat::Suffix),
            ("ABC1D", "ABC 1D", RegistrationFormat::Suffix),
            ("A1", "A 1", RegistrationFormat::Dateless),
            ("AB1234", "AB 1234", RegistrationFormat::Dateless),
            ("1234AB", "1234 AB", RegistrationFormat::Dateless),
            ("ABC123", "ABC 123", RegistrationFormat::Dateless),
            ("123ABC", "123 ABC", RegistrationFormat::Dateless),
            ("AIZ1234", "AIZ 1234", RegistrationFormat::NorthernIreland),
            ("LAZ999", "LAZ 999", RegistrationFormat::NorthernIreland),
            ("IA1234", "IA 1234", RegistrationFormat::NorthernIreland),
            ("1234IA", "1234 IA", RegistrationFormat::NorthernIreland),
        ];
        for (input, expected, format) in cases {
            let r = Registration::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.canonical(), expected, "{input}");
            assert_eq!(r.format(), format, "{input}");
        }
    }

    #[test]
    fn an_unlikely_age_on_a_private_plate_is_still_accepted() {
        // 99 would be September 2049: private plates break the age link, and we never guess.
        assert!(Registration::parse("AB99 CDE").is_ok());
        assert!(Registration::parse("AB76 CDE").is_ok());
    }

    #[test]
    fn empty_and_blank_input_asks_for_a_registration() {
        assert_eq!(Registration::parse(""), Err(RegistrationError::Empty));
        assert_eq!(Registration::parse("  \t "), Err(RegistrationError::Empty));
    }

    #[test]
    fn too_many_characters_says_how_many() {
        let err = Registration::parse("AB12 CDEF").unwrap_err();
        assert_eq!(err, RegistrationError::TooLong { length: 8 });
        assert!(err.to_string().contains("at most 7"));
    }

    #[test]
    fn punctuation_is_named_in_the_reason() {
        let err = Registration::parse("AB12-CDE").unwrap_err();
        assert_eq!(err, RegistrationError::InvalidCharacter { character: '-' });
        assert!(err.to_string().contains('-'));
    }

    #[test]
    fn current_format_letters_that_are_never_issued_are_explained() {
        assert!(matches!(
            Registration::parse("IB12CDE"),
            Err(RegistrationError::CurrentFormatAreaLetters { .. })
        ));
        assert!(matches!(
            Registration::parse("AZ12CDE"),
            Err(RegistrationError::CurrentFormatAreaLetters { .. })
        ));
        assert!(matches!(
            Registration::parse("AB12CQE"),
            Err(RegistrationError::CurrentFormatRandomLetters { .. })
        ));
        // Z is allowed among the random letters.
        assert!(Registration::parse("AB12CDZ").is_ok());
    }

    #[test]
    fn age_identifiers_never_issued_are_refused() {
        for digits in ["00", "01", "50"] {
            let err = Registration::parse(&format!("AB{digits}CDE")).unwrap_err();
            assert_eq!(
                err,
                RegistrationError::AgeIdentifierNeverIssued {
                    digits: digits.into()
                }
            );
        }
        assert!(Registration::parse("AB51CDE").is_ok());
        assert!(Registration::parse("AB02CDE").is_ok());
    }

    #[test]
    fn prefix_year_letters_never_issued_are_refused() {
        for letter in ['I', 'O', 'Q', 'U', 'Z'] {
            assert_eq!(
                Registration::parse(&format!("{letter}123ABC")),
                Err(RegistrationError::PrefixYearLetter { letter })
            );
        }
    }

    #[test]
    fn shapes_that_are_no_uk_format_are_refused_with_an_example() {
        for input in ["ABCD", "1234", "AB12CD", "A1B2C3", "ABCD123", "12345AB"] {
            let err = Registration::parse(input).unwrap_err();
            assert_eq!(err, RegistrationError::NotAUkRegistration, "{input}");
            assert!(err.to_string().contains("AB12 CDE"));
        }
    }

    #[test]
    fn serde_writes_the_canonical_form_and_reads_through_the_parser() {
        let r = Registration::parse("ab12cde").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"AB12 CDE\"");
        let back: Registration = serde_json::from_str("\"ab12 cde\"").unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Registration>("\"AB00CDE\"").is_err());
    }

    fn letters(n: usize, alphabet: &'static str) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(alphabet.as_bytes().to_vec()), n)
            .prop_map(|v| String::from_utf8(v).unwrap())
    }

    fn valid_registration() -> impl Strategy<Value = String> {
        const AREA: &str = "ABCDEFGHJKLMNOPRSTUVWXY";
        const RANDOM: &str = "ABCDEFGHJKLMNOPRSTUVWXYZ";
        const YEAR: &str = "ABCDEFGHJKLMNPRSTVWXY";
        prop_oneof![
            (letters(2, AREA), 2u32..=99, letters(3, RANDOM))
                .prop_filter("never issued", |(_, d, _)| *d != 50)
                .prop_map(|(a, d, r)| format!("{a}{d:02}{r}")),
            (letters(1, YEAR), 1u32..=999, letters(3, RANDOM))
                .prop_map(|(y, d, r)| format!("{y}{d}{r}")),
            (letters(3, RANDOM), 1u32..=999, letters(1, YEAR))
                .prop_map(|(a, d, y)| format!("{a}{d}{y}")),
        ]
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_any_input(input in "\\PC{0,12}") {
            let _ = Registration::parse(&input);
        }

        #[test]
        fn canonical_forms_round_trip(reg in valid_registration()) {
            let parsed = Registration::parse(&reg).unwrap();
            let again = Registration::parse(&parsed.canonical()).unwrap();
            prop_assert_eq!(&again, &parsed);
            prop_assert_eq!(again.as_str(), reg.as_str());
            prop_assert_eq!(parsed.canonical().matches(' ').count(), 1);
        }

        #[test]
        fn case_and_spacing_never_change_the_result(reg in valid_registration(), spaces in proptest::collection::vec(0usize..8, 0..4)) {
            let mut typed: String = reg.to_lowercase();
            for at in spaces { typed.insert(at.min(typed.len()), ' '); }
            let parsed = Registration::parse(&typed).unwrap();
            prop_assert_eq!(parsed.as_str(), reg.as_str());
        }

        #[test]
        fn accepted_registrations_are_short_and_alphanumeric(input in "[A-Za-z0-9 ]{0,10}") {
            if let Ok(r) = Registration::parse(&input) {
                prop_assert!(r.as_str().len() <= 7);
                prop_assert!(r.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            }
        }
    }
}
