//! Mainland phone numbers: mobiles and landlines, in the forms people write them.
//!
//! A phone is personal information (PIPL): it is stored encrypted and found by a keyed hash
//! of its normalized form, so one number must have exactly one normalized form however it
//! was typed (`+86 138-1234-5678` and `13812345678` are the same person). The parser also
//! tells apart the ways a number is wrong, since "invalid phone" helps nobody fix it.

use std::fmt;

use crate::i18n::Lang;
use crate::Problem;

/// Whether a number rings a mobile or a fixed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhoneKind {
    Mobile,
    Landline,
}

impl PhoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Mobile => "mobile",
            PhoneKind::Landline => "landline",
        }
    }
}

/// A valid mainland phone number in its normalized form: a mobile as 11 digits
/// (`13812345678`), a landline as area code, dash, number and an optional dash and extension
/// (`0571-87654321`, `010-12345678-123`). Its `Debug` form is masked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    text: String,
    kind: PhoneKind,
}

/// Why a text is not a phone number; each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    /// Nothing was given.
    Empty,
    /// A character that has no place in a phone number, at this 1-based position.
    BadChar { position: usize, found: char },
    /// Starts like a mobile but has this many digits instead of 11.
    MobileLength(usize),
    /// 11 digits starting with 1, but not 13–19 (the digits given).
    MobilePrefix(String),
    /// A fixed-line number without its area code (this many digits).
    NoAreaCode(usize),
    /// After the area code, this many digits instead of 7 or 8.
    LandlineLength { area: String, digits: usize },
    /// The local number starts with 0: most often the trunk 0 typed twice (`0571-0571…`).
    BadLocal(String),
    /// An extension that is not 1 to 6 digits.
    BadExtension(String),
    /// Neither a mobile nor a landline (e.g. a 400 service number or a foreign number).
    Unrecognized,
}

impl PhoneError {
    /// Stable machine code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "phone_empty",
            PhoneError::BadChar { .. } => "phone_bad_char",
            PhoneError::MobileLength(_) => "phone_mobile_length",
            PhoneError::MobilePrefix(_) => "phone_mobile_prefix",
            PhoneError::NoAreaCode(_) => "phone_no_area_code",
            PhoneError::LandlineLength { .. } => "phone_landline_length",
            PhoneError::BadLocal(_) => "phone_bad_local",
            PhoneError::BadExtension(_) => "phone_bad_extension",
            PhoneError::Unrecognized => "phone_unrecognized",
        }
    }

    /// Translation key of the message.
    pub fn key(&self) -> &'static str {
        match self {
            PhoneError::Empty => "phone.empty",
            PhoneError::BadChar { .. } => "phone.bad_char",
            PhoneError::MobileLength(_) => "phone.mobile_length",
            PhoneError::MobilePrefix(_) => "phone.mobile_prefix",
            PhoneError::NoAreaCode(_) => "phone.no_area_code",
            PhoneError::LandlineLength { .. } => "phone.landline_length",
            PhoneError::BadLocal(_) => "phone.bad_local",
            PhoneError::BadExtension(_) => "phone.bad_extension",
            PhoneError::Unrecognized => "phone.unrecognized",
        }
    }

    /// The values the message names; never the whole number.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            PhoneError::Empty | PhoneError::Unrecognized => vec![],
            PhoneError::BadChar { position, found } => {
                vec![
                    ("position", position.to_string()),
                    ("found", found.to_string()),
                ]
            }
            PhoneError::MobileLength(n) | PhoneError::NoAreaCode(n) => {
                vec![("count", n.to_string())]
            }
            PhoneError::MobilePrefix(p) => vec![("prefix", p.clone())],
            PhoneError::LandlineLength { area, digits } => {
                vec![("area", area.clone()), ("count", digits.to_string())]
            }
            PhoneError::BadLocal(first) => vec![("first", first.clone())],
            PhoneError::BadExtension(ext) => vec![("extension", ext.clone())],
        }
    }

    /// The error as a problem with the field `phone`.
    pub fn problem(&self) -> Problem {
        let mut p = Problem::new(self.code(), self.key()).field("phone");
        p.args = self.args();
        p
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem().message(Lang::En))
    }
}

impl std::error::Error for PhoneError {}

/// Longest extension accepted, in digits.
const MAX_EXTENSION: usize = 6;

/// Full-width forms from a Chinese input method, and the dashes word processors put in,
/// folded to ASCII.
fn fold(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '＋' => '+',
        '－' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '﹣' => '-',
        '（' => '(',
        '）' => ')',
        _ => c,
    }
}

impl Phone {
    /// Reads a mainland mobile or landline.
    ///
    /// Mobiles: 11 digits starting 13–19, optionally after `+86`, `86` or `0086`.
    /// Landlines: an area code (`0` and 2 or 3 digits: `010` and `02x` are the short ones,
    /// by the national numbering plan), then 7 or 8 digits, then optionally an extension
    /// after `-` or `转`; with or without the dash, the area code in brackets or not.
    /// Spaces and dashes may sit anywhere.
    pub fn parse(s: &str) -> Result<Phone, PhoneError> {
        let folded: Vec<char> = s.trim().chars().map(fold).collect();
        if folded.is_empty() {
            return Err(PhoneError::Empty);
        }
        for (i, &c) in folded.iter().enumerate() {
            let ok = c.is_ascii_digit()
                || matches!(c, '-' | ' ' | '(' | ')' | '转')
                || c.is_whitespace()
                || (c == '+' && i == 0);
            if !ok {
                return Err(PhoneError::BadChar {
                    position: i + 1,
                    found: c,
                });
            }
        }
        // An extension after 转 ("0571-87654321转123").
        let (main, mut ext): (Vec<char>, Option<String>) =
            match folded.iter().position(|&c| c == '转') {
                Some(i) => {
                    let ext: String = folded[i + 1..]
                        .iter()
                        .filter(|c| !c.is_whitespace() && **c != '-')
                        .collect();
                    (folded[..i].to_vec(), Some(ext))
                }
                None => (folded, None),
            };
        let international = main.first() == Some(&'+');
        // Dash-separated groups of digits, spaces and brackets dropped.
        let groups: Vec<String> = main
            .iter()
            .filter(|c| c.is_ascii_digit() || **c == '-')
            .collect::<String>()
            .split('-')
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        let mut digits: String = groups.concat();
        if digits.is_empty() {
            return Err(PhoneError::Unrecognized);
        }

        // Country code. With a plus or 0086 the trunk 0 of a landline is dropped
        // (+86 571 8765 4321); a bare 86 is taken as the country code only before a mobile.
        let mut had_country = false;
        if international {
            match digits.strip_prefix("86") {
                Some(rest) => {
                    digits = rest.to_string();
                    had_country = true;
                }
                None => return Err(PhoneError::Unrecognized),
            }
        } else if digits.len() > 11 && digits.starts_with("0086") {
            digits = digits[4..].to_string();
            had_country = true;
        } else if digits.len() == 13 && digits.starts_with("861") {
            digits = digits[2..].to_string();
        }
        let mut groups = groups;
        if had_country {
            // The country code is gone from the digits; take it off the first group too.
            if let Some(first) = groups.first_mut() {
                let rest = first
                    .strip_prefix("0086")
                    .or_else(|| first.strip_prefix("86"))
                    .map(str::to_string);
                if let Some(rest) = rest {
                    *first = rest;
                }
            }
            groups.retain(|g| !g.is_empty());
            if !digits.starts_with('1') && !digits.starts_with('0') {
                digits.insert(0, '0');
            }
        }

        if digits.starts_with('1') {
            if ext.is_some() {
                return Err(PhoneError::Unrecognized);
            }
            if digits.len() != 11 {
                return Err(PhoneError::MobileLength(digits.len()));
            }
            if !matches!(digits.as_bytes()[1], b'3'..=b'9') {
                return Err(PhoneError::MobilePrefix(digits[..2].to_string()));
            }
            return Ok(Phone {
                text: digits,
                kind: PhoneKind::Mobile,
            });
        }
        if !digits.starts_with('0') {
            return if (7..=8).contains(&digits.len()) {
                Err(PhoneError::NoAreaCode(digits.len()))
            } else {
                Err(PhoneError::Unrecognized)
            };
        }

        // A landline. A last dash group is an extension when the digits before it already
        // make a whole number (010-12345678-123); otherwise the dashes only group digits.
        if ext.is_none() && groups.len() >= 2 {
            let last = groups.len() - 1;
            let before: String = groups[..last].concat();
            let before = if had_country && !before.starts_with('0') {
                format!("0{before}")
            } else {
                before
            };
            if split_landline(&before).is_ok_and(|(_, local)| (7..=8).contains(&local.len())) {
                ext = Some(groups[last].clone());
                digits = before;
            }
        }
        let (area, local) = split_landline(&digits)?;
        if !(7..=8).contains(&local.len()) {
            return Err(PhoneError::LandlineLength {
                area: area.to_string(),
                digits: local.len(),
            });
        }
        if local.starts_with('0') {
            return Err(PhoneError::BadLocal(local[..1].to_string()));
        }
        let mut text = format!("{area}-{local}");
        if let Some(ext) = ext {
            if ext.is_empty()
                || ext.len() > MAX_EXTENSION
                || !ext.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(PhoneError::BadExtension(ext));
            }
            text.push('-');
            text.push_str(&ext);
        }
        Ok(Phone {
            text,
            kind: PhoneKind::Landline,
        })
    }

    /// The normalized form: what is stored, hashed and dialled.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> PhoneKind {
        self.kind
    }

    /// The form shown on screen: a mobile as `138****5678`, a landline as `0571-****4321`
    /// (the area code, then all but the last four digits hidden; the extension left out).
    pub fn masked(&self) -> String {
        match self.kind {
            PhoneKind::Mobile => format!("{}****{}", &self.text[..3], &self.text[7..]),
            PhoneKind::Landline => {
                let mut parts = self.text.split('-');
                let area = parts.next().unwrap_or("");
                let local = parts.next().unwrap_or("");
                let keep = local.len().saturating_sub(4);
                format!("{area}-{}{}", "*".repeat(keep), &local[keep..])
            }
        }
    }
}

/// Splits a landline's digits (starting with 0) into area code and local number, by the
/// numbering plan: 010 and 020–029 are three digits with the 0, every other area code four.
fn split_landline(digits: &str) -> Result<(&str, &str), PhoneError> {
    let area_len = if digits.starts_with("01") || digits.starts_with("02") {
        3
    } else {
        4
    };
    if digits.len() <= area_len {
        return Err(PhoneError::LandlineLength {
            area: digits.to_string(),
            digits: 0,
        });
    }
    Ok(digits.split_at(area_len))
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    /// Masked, like `Debug`; the full number is asked for by name, with `as_str`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> Phone {
        Phone::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> PhoneError {
        match Phone::parse(s) {
            Ok(p) => panic!("{s} parsed as {}", p.as_str()),
            Err(e) => e,
        }
    }

    #[test]
    fn mobiles_in_every_form() {
        for s in [
            "13812345678",
            " 138 1234 5678 ",
            "138-1234-5678",
            "+86 13812345678",
            "+86-138-1234-5678",
            "8613812345678",
            "008613812345678",
            "0086 138 1234 5678",
            "１３８１２３４５６７８",
            "＋８６ １３８１２３４５６７８",
        ] {
            let p = ok(s);
            assert_eq!(p.as_str(), "13812345678", "{s}");
            assert_eq!(p.kind(), PhoneKind::Mobile);
            assert_eq!(p.masked(), "138****5678");
        }
        assert_eq!(ok("19912345678").as_str(), "19912345678");
    }

    #[test]
    fn landlines_in_every_form() {
        for (s, norm) in [
            ("0571-87654321", "0571-87654321"),
            ("057187654321", "0571-87654321"),
            ("0571 8765 4321", "0571-87654321"),
            ("(0571)87654321", "0571-87654321"),
            ("（0571）8765-4321", "0571-87654321"),
            ("+86 571 87654321", "0571-87654321"),
            ("0086-571-87654321", "0571-87654321"),
            ("010-12345678-123", "010-12345678-123"),
            ("01012345678", "010-12345678"),
            ("021-6123456", "021-6123456"),
            ("0571-87654321转8001", "0571-87654321-8001"),
            ("0571 87654321 转 8001", "0571-87654321-8001"),
            ("057187654321-12", "0571-87654321-12"),
            ("+8657187654321-123", "0571-87654321-123"),
            ("+86-571-87654321-123", "0571-87654321-123"),
            ("0898-6612345", "0898-6612345"),
        ] {
            let p = ok(s);
            assert_eq!(p.as_str(), norm, "{s}");
            assert_eq!(p.kind(), PhoneKind::Landline);
        }
        assert_eq!(ok("0571-87654321").masked(), "0571-****4321");
        assert_eq!(ok("010-12345678-123").masked(), "010-****5678");
        assert_eq!(ok("021-6123456").masked(), "021-***3456");
    }

    #[test]
    fn every_error_kind() {
        assert_eq!(err(""), PhoneError::Empty);
        assert_eq!(err("  "), PhoneError::Empty);
        assert_eq!(
            err("138a2345678"),
            PhoneError::BadChar {
                position: 4,
                found: 'a'
            }
        );
        assert_eq!(
            err("138+12345678"),
            PhoneError::BadChar {
                position: 4,
                found: '+'
            }
        );
        assert_eq!(err("1381234567"), PhoneError::MobileLength(10));
        assert_eq!(err("138123456789"), PhoneError::MobileLength(12));
        assert_eq!(err("12812345678"), PhoneError::MobilePrefix("12".into()));
        assert_eq!(err("87654321"), PhoneError::NoAreaCode(8));
        assert_eq!(err("8765432"), PhoneError::NoAreaCode(7));
        assert_eq!(
            err("0571-876543"),
            PhoneError::LandlineLength {
                area: "0571".into(),
                digits: 6
            }
        );
        assert_eq!(
            err("0571-876543219"),
            PhoneError::LandlineLength {
                area: "0571".into(),
                digits: 9
            }
        );
        assert_eq!(err("0571-07654321"), PhoneError::BadLocal("0".into()));
        assert_eq!(
            err("0571-87654321转12345678"),
            PhoneError::BadExtension("12345678".into())
        );
        assert_eq!(
            err("0571-87654321转"),
            PhoneError::BadExtension(String::new())
        );
        assert_eq!(err("4008123123"), PhoneError::Unrecognized);
        assert_eq!(err("+1 2025550123"), PhoneError::Unrecognized);
        assert_eq!(err("---"), PhoneError::Unrecognized);
    }

    #[test]
    fn messages_render() {
        for s in [
            "",
            "138a2345678",
            "1381234567",
            "12812345678",
            "87654321",
            "0571-876543",
            "0571-07654321",
            "0571-87654321转",
            "4008123123",
        ] {
            let p = err(s).problem();
            assert_eq!(p.field, Some("phone"));
            assert!(crate::i18n::has(p.key), "{}", p.key);
            for lang in [Lang::Zh, Lang::En] {
                let m = p.message(lang);
                assert!(!m.contains('{'), "{m}");
            }
        }
        assert!(err("1381234567").problem().message(Lang::Zh).contains("10"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = Phone::parse(&s);
        }

        #[test]
        fn never_panics_on_phone_like(s in "[0-9+\\- ()转８６＋]{0,24}") {
            if let Ok(p) = Phone::parse(&s) {
                // The normalized form is a fixed point.
                prop_assert_eq!(Phone::parse(p.as_str()).map(|q| q.as_str().to_string()), Ok(p.as_str().to_string()));
                let _ = p.masked();
            }
        }

        #[test]
        fn mobiles_round_trip(second in 3u8..10, rest in "[0-9]{9}") {
            let s = format!("1{second}{rest}");
            let p = Phone::parse(&format!("+86 {} {} {}", &s[..3], &s[3..7], &s[7..])).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(p.as_str(), s.as_str());
        }
    }
}
