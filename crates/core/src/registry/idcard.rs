//! Resident ID numbers (居民身份证号码), GB 11643-1999.
//!
//! An ID number is 18 characters: a 6-digit address code, the birth date as YYYYMMDD, a
//! 3-digit sequence whose last digit is odd for men and even for women, and a check
//! character (ISO 7064 MOD 11-2, `0`–`9` or `X`). Community offices type them by hand and
//! paste them from spreadsheets, so [`IdNumber::parse`] forgives the forms such copies take
//! (full-width digits, a lowercase x, spaces) and, when a number is wrong, says exactly how:
//! a grid worker with the card in hand can fix a wrong digit, but not "invalid ID".

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::i18n::Lang;
use crate::Problem;

/// Sex as the ID number records it (its 17th digit), the only source the registry trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub const ALL: [Gender; 2] = [Gender::Male, Gender::Female];

    /// The stored code: `male` or `female`.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    /// Accepts what spreadsheets hold: 男 / 女, M / F, male / female (any case), and the
    /// stored code; so an office's own table imports as it is.
    pub fn parse(s: &str) -> Option<Gender> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "男" | "男性" | "m" | "male" => Some(Gender::Male),
            "女" | "女性" | "f" | "female" => Some(Gender::Female),
            _ => None,
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Gender::Male => "gender.male",
            Gender::Female => "gender.female",
        }
    }
}

/// The province codes (first two digits of the address code) that GB/T 2260 assigns:
/// the mainland provinces, 71 Taiwan, 81 Hong Kong, 82 Macao, and 83, which residence
/// permits for Taiwan residents use.
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

/// Whether `code` is a province part of an address code.
pub fn is_province(code: u8) -> bool {
    PROVINCES.contains(&code)
}

/// ISO 7064 MOD 11-2 weights: 2^(17-i) mod 11 for positions 1 to 17.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character (18th) that the first 17 digits of an ID number call for.
///
/// `first17` holds ASCII digits (`b'0'`–`b'9'`), as `s.as_bytes()` gives them. A byte that
/// is not a digit counts as its distance from `'0'` modulo 10, so the function never panics;
/// its result for such input means nothing.
pub fn check_character(first17: &[u8; 17]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, w)| u32::from(b.wrapping_sub(b'0') % 10) * w)
        .sum();
    // Index by `sum mod 11`; the table is the standard's.
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    CHECK[(sum % 11) as usize]
}

/// A valid ID number. Its `Debug` form is masked, so that a log line never holds a full one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber {
    text: String,
    birth: NaiveDate,
    gender: Gender,
}

/// Why a text is not an ID number; each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Nothing was given.
    Empty,
    /// Not 18 characters (the count given). Old 15-digit numbers must be converted.
    Length(usize),
    /// A character that is not a digit at this 1-based position (`X` only ends a number).
    BadChar { position: usize, found: char },
    /// The address code's province part is not a province.
    Province { address: String, province: String },
    /// The 8 birth digits are not a date, e.g. `19900230`.
    BadDate(String),
    /// The birth date is after today.
    FutureDate(NaiveDate),
    /// The birth date is before 1900-01-01.
    TooOld(NaiveDate),
    /// The check character is not the one the first 17 digits call for.
    Checksum { expected: char, found: char },
}

impl IdError {
    /// Stable machine code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Empty => "id_empty",
            IdError::Length(_) => "id_length",
            IdError::BadChar { .. } => "id_bad_char",
            IdError::Province { .. } => "id_province",
            IdError::BadDate(_) => "id_bad_date",
            IdError::FutureDate(_) => "id_future_date",
            IdError::TooOld(_) => "id_too_old",
            IdError::Checksum { .. } => "id_checksum",
        }
    }

    /// Translation key of the message.
    pub fn key(&self) -> &'static str {
        match self {
            IdError::Empty => "id.empty",
            IdError::Length(_) => "id.length",
            IdError::BadChar { .. } => "id.bad_char",
            IdError::Province { .. } => "id.province",
            IdError::BadDate(_) => "id.bad_date",
            IdError::FutureDate(_) => "id.future_date",
            IdError::TooOld(_) => "id.too_old",
            IdError::Checksum { .. } => "id.checksum",
        }
    }

    /// The values the message names. None of them is the whole number, which may be a
    /// real person's: messages are logged and shown to people who may not see it.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            IdError::Empty => vec![],
            IdError::Length(n) => vec![("count", n.to_string())],
            IdError::BadChar { position, found } => {
                vec![
                    ("position", position.to_string()),
                    ("found", found.to_string()),
                ]
            }
            IdError::Province { address, province } => {
                vec![("address", address.clone()), ("province", province.clone())]
            }
            IdError::BadDate(digits) => vec![("digits", digits.clone())],
            IdError::FutureDate(d) | IdError::TooOld(d) => vec![("date", d.to_string())],
            IdError::Checksum { expected, found } => {
                vec![
                    ("expected", expected.to_string()),
                    ("found", found.to_string()),
                ]
            }
        }
    }

    /// The error as a problem with the field `id_number`, for pages, the API and imports.
    pub fn problem(&self) -> Problem {
        let mut p = Problem::new(self.code(), self.key()).field("id_number");
        p.args = self.args();
        p
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem().message(Lang::En))
    }
}

impl std::error::Error for IdError {}

/// Folds the forms a copied number takes into plain ASCII: full-width digits and letters
/// (from a Chinese input method), a lowercase x, and whitespace anywhere (numbers are often
/// written in groups, `330102 19900101 1234`).
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            'x' | 'ｘ' | 'Ｘ' => 'X',
            _ => c,
        })
        .collect()
}

impl IdNumber {
    /// Reads an ID number, checking everything the number itself can tell: its form, its
    /// province, its birth date (a real date, not after `today`, not before 1900) and its
    /// check character. `today` is a parameter so that the rule is testable and the
    /// server's clock decides.
    pub fn parse(s: &str, today: NaiveDate) -> Result<IdNumber, IdError> {
        let text = normalize(s);
        if text.is_empty() {
            return Err(IdError::Empty);
        }
        let count = text.chars().count();
        if count != 18 {
            return Err(IdError::Length(count));
        }
        for (i, c) in text.chars().enumerate() {
            let ok = c.is_ascii_digit() || (c == 'X' && i == 17);
            if !ok {
                return Err(IdError::BadChar {
                    position: i + 1,
                    found: c,
                });
            }
        }
        // All ASCII from here on: byte slicing is character slicing.
        let bytes = text.as_bytes();
        let province = &text[..2];
        if !province.parse::<u8>().is_ok_and(is_province) {
            return Err(IdError::Province {
                address: text[..6].to_string(),
                province: province.to_string(),
            });
        }
        let digits = &text[6..14];
        let num = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(0);
        let birth = i32::try_from(num(6..10))
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, num(10..12), num(12..14)))
            .ok_or_else(|| IdError::BadDate(digits.to_string()))?;
        if birth > today {
            return Err(IdError::FutureDate(birth));
        }
        if birth < earliest_birth() {
            return Err(IdError::TooOld(birth));
        }
        let mut first17 = [0u8; 17];
        first17.copy_from_slice(&bytes[..17]);
        let expected = check_character(&first17);
        let found = char::from(bytes[17]);
        if expected != found {
            return Err(IdError::Checksum { expected, found });
        }
        let gender = if (bytes[16] - b'0') % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        };
        Ok(IdNumber {
            text,
            birth,
            gender,
        })
    }

    /// The 18 characters, with an uppercase `X`: the form that is stored, hashed and compared.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    pub fn gender(&self) -> Gender {
        self.gender
    }

    /// The 6-digit address code where the number was first issued.
    pub fn address_code(&self) -> &str {
        &self.text[..6]
    }

    /// The form shown on screen (PIPL): the address code and the last four, the birth date
    /// hidden, e.g. `330102********1234`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.text[..6], &self.text[14..])
    }
}

/// The earliest birth date accepted: nobody born before 1900 holds a current ID card, and a
/// year like 1090 is a typing slip.
fn earliest_birth() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl fmt::Display for IdNumber {
    /// Masked, like `Debug`: the full number is only ever asked for by name, with `as_str`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Builds a valid ID number's text from its parts, computing the check character; for
/// tests and demo data. Returns `None` if the parts are not digits of the right lengths.
pub fn compose(address: &str, birth: NaiveDate, sequence: u16) -> Option<String> {
    if address.len() != 6 || !address.bytes().all(|b| b.is_ascii_digit()) || sequence > 999 {
        return None;
    }
    let year = birth.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let first = format!(
        "{address}{year:04}{:02}{:02}{sequence:03}",
        birth.month(),
        birth.day()
    );
    let bytes: &[u8; 17] = first.as_bytes().try_into().ok()?;
    let check = check_character(bytes);
    Some(format!("{first}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn today() -> NaiveDate {
        date(2024, 6, 1)
    }

    fn err(s: &str) -> IdError {
        match IdNumber::parse(s, today()) {
            Ok(id) => panic!("{s} parsed as {id:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_standard_sample_is_valid() {
        let id = IdNumber::parse("11010519491231002X", today()).expect("valid");
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(id.address_code(), "110105");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
        assert_eq!(id.to_string(), "110105********002X");
    }

    #[test]
    fn check_characters_by_hand() {
        assert_eq!(check_character(b"11010519491231002"), 'X');
        // 330102 1990-03-07 011: weighted sum 194, 194 mod 11 = 7 -> '5'.
        assert_eq!(check_character(b"33010219900307011"), '5');
        let s = compose("330102", date(1990, 3, 7), 11).expect("compose");
        assert_eq!(s, "330102199003070115");
        let id = IdNumber::parse(&s, today()).expect("valid");
        assert_eq!(id.gender(), Gender::Male);
        assert_eq!(id.masked(), "330102********0115");
    }

    #[test]
    fn forgiving_forms() {
        let forms = [
            " 11010519491231002x ",
            "110105 19491231 002X",
            "１１０１０５１９４９１２３１００２Ｘ",
            "110105\u{3000}19491231002ｘ",
        ];
        for f in forms {
            let id = IdNumber::parse(f, today()).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(id.as_str(), "11010519491231002X");
        }
    }

    #[test]
    fn every_error_kind() {
        assert_eq!(err(""), IdError::Empty);
        assert_eq!(err("   "), IdError::Empty);
        assert_eq!(err("110105491231002"), IdError::Length(15));
        assert_eq!(err("1101051949123100"), IdError::Length(16));
        assert_eq!(
            err("11010519491231002XX"),
            IdError::Length(19),
            "too long is a length error"
        );
        assert_eq!(
            err("1101051949123100X2"),
            IdError::BadChar {
                position: 17,
                found: 'X'
            }
        );
        assert_eq!(
            err("110105194912310O2X"),
            IdError::BadChar {
                position: 16,
                found: 'O'
            }
        );
        assert_eq!(
            err("99010519491231002X"),
            IdError::Province {
                address: "990105".into(),
                province: "99".into()
            }
        );
        assert_eq!(
            err("110105199002300012"),
            IdError::BadDate("19900230".into())
        );
        assert_eq!(
            err("110105199013010012"),
            IdError::BadDate("19901301".into())
        );
        let future = compose("330102", date(2024, 6, 2), 1).expect("compose");
        assert_eq!(err(&future), IdError::FutureDate(date(2024, 6, 2)));
        let old = compose("330102", date(1899, 12, 31), 1).expect("compose");
        assert_eq!(err(&old), IdError::TooOld(date(1899, 12, 31)));
        assert_eq!(
            err("110105194912310021"),
            IdError::Checksum {
                expected: 'X',
                found: '1'
            }
        );
    }

    #[test]
    fn every_province_group_and_its_edges() {
        for p in PROVINCES {
            let s = compose(&format!("{p}0101"), date(1980, 1, 1), 1).expect("compose");
            assert!(IdNumber::parse(&s, today()).is_ok(), "{s}");
        }
        for p in [
            10, 16, 20, 24, 30, 38, 40, 47, 49, 55, 60, 66, 70, 72, 80, 84, 90,
        ] {
            let s = compose(&format!("{p}0101"), date(1980, 1, 1), 1).expect("compose");
            assert!(matches!(err(&s), IdError::Province { .. }), "{s}");
        }
    }

    #[test]
    fn today_and_1900_are_accepted() {
        let s = compose("330102", today(), 2).expect("compose");
        assert!(IdNumber::parse(&s, today()).is_ok());
        let s = compose("330102", date(1900, 1, 1), 2).expect("compose");
        assert!(IdNumber::parse(&s, today()).is_ok());
        let s = compose("330102", date(2000, 2, 29), 2).expect("compose");
        assert!(IdNumber::parse(&s, today()).is_ok(), "leap day");
        let s = "330102190002290021";
        assert_eq!(
            err(s),
            IdError::BadDate("19000229".into()),
            "1900 was no leap year"
        );
    }

    #[test]
    fn messages_in_both_languages_name_what_to_fix() {
        let cases = [
            (err(""), "身份证号", "ID number"),
            (err("110105491231002"), "15", "15"),
            (err("1101051949123100X2"), "17", "17"),
            (err("99010519491231002X"), "99", "99"),
            (err("110105199002300012"), "19900230", "19900230"),
            (err("110105194912310021"), "X", "X"),
        ];
        for (e, zh, en) in cases {
            let p = e.problem();
            assert_eq!(p.field, Some("id_number"));
            assert!(crate::i18n::has(p.key), "{}", p.key);
            let (mz, me) = (p.message(Lang::Zh), p.message(Lang::En));
            assert!(mz.contains(zh), "{mz}");
            assert!(me.contains(en), "{me}");
            assert!(!mz.contains('{') && !me.contains('{'), "{mz} / {me}");
            assert_eq!(e.to_string(), me);
        }
        assert_eq!(err("110105194912310021").problem().code, "id_checksum");
    }

    #[test]
    fn gender_words() {
        for (s, g) in [
            ("男", Gender::Male),
            ("女", Gender::Female),
            ("M", Gender::Male),
            ("f", Gender::Female),
            ("Male", Gender::Male),
            (" FEMALE ", Gender::Female),
            ("male", Gender::Male),
        ] {
            assert_eq!(Gender::parse(s), Some(g), "{s}");
        }
        assert_eq!(Gender::parse("x"), None);
        assert_eq!(Gender::parse(""), None);
        for g in Gender::ALL {
            assert_eq!(Gender::parse(g.as_str()), Some(g));
            assert!(crate::i18n::has(g.label_key()));
        }
    }

    fn valid_id() -> impl Strategy<Value = (String, NaiveDate, Gender)> {
        (
            proptest::sample::select(PROVINCES),
            0u32..10_000,
            0i64..(365 * 124),
            0u16..1000,
        )
            .prop_map(|(p, rest, days, seq)| {
                let birth = date(1900, 1, 1) + chrono::Duration::days(days);
                let address = format!("{p:02}{rest:04}");
                let text = compose(&address, birth, seq).expect("compose");
                let gender = if seq % 2 == 1 {
                    Gender::Male
                } else {
                    Gender::Female
                };
                (text, birth, gender)
            })
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = IdNumber::parse(&s, today());
        }

        #[test]
        fn never_panics_on_near_ids(s in "[0-9xX０-９ ]{15,20}") {
            let _ = IdNumber::parse(&s, today());
        }

        #[test]
        fn valid_ids_round_trip((text, birth, gender) in valid_id()) {
            let id = IdNumber::parse(&text, today()).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(id.as_str(), text.as_str());
            prop_assert_eq!(id.birth_date(), birth);
            prop_assert_eq!(id.gender(), gender);
            prop_assert_eq!(id.masked().len(), 18);
            // Lowercase x and spaces read back the same.
            let spaced = format!("{} {}", &text[..6], text[6..].to_lowercase());
            prop_assert_eq!(IdNumber::parse(&spaced, today()).map(|i| i.as_str().to_string()), Ok(text));
        }

        #[test]
        fn any_one_changed_digit_fails((text, _, _) in valid_id(), pos in 0usize..18, delta in 1u8..10) {
            let mut bytes = text.into_bytes();
            let c = bytes[pos];
            bytes[pos] = if c == b'X' {
                b'0' + delta
            } else {
                b'0' + (c - b'0' + delta) % 10
            };
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(IdNumber::parse(&changed, today()).is_err(), "{} still parses", changed);
        }
    }
}
