//! Region codes and the one integer key space of the region tree.
//!
//! National statistical division codes nest by digits: province 2, city 4, district 6,
//! street 9, community 12. linli extends them with grids (community + 3 digits, 15) and
//! micro-grids (grid + 3 digits, 18). Right-padded with zeros to 18 digits, a code becomes
//! an integer key, and every subtree becomes one half-open integer range: rollups are range
//! scans, and "may this account see that row" is a range test.
//!
//! A few official codes end in an all-zero segment (东莞市 441900 sits under city 4419,
//! 金门县 350527000 under district 350527): their key equals their parent's. Keys are
//! therefore unique only together with the level; ranges still nest, which is all the
//! access check and the rollups need.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of decimal digits in a full key.
pub const KEY_DIGITS: u32 = 18;

/// One past the largest key: the exclusive end of the whole country's range.
pub const KEY_END: i64 = 1_000_000_000_000_000_000;

/// A level of the region tree, from province (1) to micro-grid (7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Province,
    City,
    District,
    Street,
    Community,
    Grid,
    MicroGrid,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::Province,
        Level::City,
        Level::District,
        Level::Street,
        Level::Community,
        Level::Grid,
        Level::MicroGrid,
    ];

    /// Levels as stored in the database: 1 (province) to 7 (micro-grid).
    pub fn number(self) -> i16 {
        self as i16 + 1
    }

    pub fn from_number(n: i16) -> Option<Level> {
        usize::try_from(n - 1)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// Number of digits in a code of this level.
    pub fn digits(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::District => 6,
            Level::Street => 9,
            Level::Community => 12,
            Level::Grid => 15,
            Level::MicroGrid => 18,
        }
    }

    pub fn from_digits(len: usize) -> Option<Level> {
        Self::ALL.into_iter().find(|l| l.digits() == len)
    }

    pub fn parent(self) -> Option<Level> {
        Level::from_number(self.number() - 1)
    }

    pub fn child(self) -> Option<Level> {
        Level::from_number(self.number() + 1)
    }

    /// The stable machine name, as used in the API (`province` … `micro_grid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::District => "district",
            Level::Street => "street",
            Level::Community => "community",
            Level::Grid => "grid",
            Level::MicroGrid => "micro_grid",
        }
    }

    /// The translation key of the level's name (省, 街道, 网格 …).
    pub fn label_key(self) -> &'static str {
        match self {
            Level::Province => "level.province",
            Level::City => "level.city",
            Level::District => "level.district",
            Level::Street => "level.street",
            Level::Community => "level.community",
            Level::Grid => "level.grid",
            Level::MicroGrid => "level.micro_grid",
        }
    }

    /// The translation key of the level's plural, for list headings.
    pub fn plural_key(self) -> &'static str {
        match self {
            Level::Province => "level.plural.province",
            Level::City => "level.plural.city",
            Level::District => "level.plural.district",
            Level::Street => "level.plural.street",
            Level::Community => "level.plural.community",
            Level::Grid => "level.plural.grid",
            Level::MicroGrid => "level.plural.micro_grid",
        }
    }

    /// Whether rows of this level come from the national division tables (and are
    /// therefore not created or deleted by users).
    pub fn is_official(self) -> bool {
        self <= Level::Community
    }
}

/// A parsed, valid region code of any level.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode {
    key: i64,
    level: Level,
}

/// Why a string is not a region code. Each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("region code is empty; give 2 to 18 digits, e.g. 330102")]
    Empty,
    #[error(
        "region code {0:?} has a character that is not a digit at position {1}; use digits only"
    )]
    NotDigits(String, usize),
    #[error("region code {0:?} has {1} digits; a code has 2, 4, 6, 9, 12, 15 or 18 digits")]
    BadLength(String, usize),
    #[error("region code {0:?} ends in {1:?}; a grid or micro-grid number runs from 001 to 999")]
    ZeroSegment(String, String),
}

impl RegionCodeError {
    /// The same error as a translatable problem (API code `bad_code`), for the reader's
    /// language.
    pub fn problem(&self) -> crate::Problem {
        let p = |key| crate::Problem::new("bad_code", key);
        match self {
            RegionCodeError::Empty => p("code.empty"),
            RegionCodeError::NotDigits(c, pos) => {
                p("code.not_digits").arg("code", c).arg("position", pos)
            }
            RegionCodeError::BadLength(c, n) => {
                p("code.bad_length").arg("code", c).arg("digits", n)
            }
            RegionCodeError::ZeroSegment(c, seg) => {
                p("code.zero_segment").arg("code", c).arg("segment", seg)
            }
        }
    }
}

impl RegionCode {
    /// Parses a code. Official levels may end in an all-zero segment (the national tables
    /// use them); grids and micro-grids may not, since users choose those numbers.
    pub fn parse(s: &str) -> Result<RegionCode, RegionCodeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(RegionCodeError::Empty);
        }
        if let Some(pos) = s.bytes().position(|b| !b.is_ascii_digit()) {
            return Err(RegionCodeError::NotDigits(s.to_string(), pos + 1));
        }
        let level = Level::from_digits(s.len())
            .ok_or(RegionCodeError::BadLength(s.to_string(), s.len()))?;
        if !level.is_official() {
            let segment = &s[s.len() - 3..];
            if segment == "000" {
                return Err(RegionCodeError::ZeroSegment(
                    s.to_string(),
                    segment.to_string(),
                ));
            }
        }
        // At most 18 ASCII digits: always fits an i64.
        let digits: i64 = s
            .parse()
            .map_err(|_| RegionCodeError::NotDigits(s.to_string(), 1))?;
        let key = digits * pow10(KEY_DIGITS - s.len() as u32);
        Ok(RegionCode { key, level })
    }

    /// Rebuilds a code from its stored key and level. Returns `None` if the key has digits
    /// below the level's length (which no stored row should).
    pub fn from_key(key: i64, level: Level) -> Option<RegionCode> {
        if !(0..KEY_END).contains(&key) || key % pow10(KEY_DIGITS - level.digits() as u32) != 0 {
            return None;
        }
        Some(RegionCode { key, level })
    }

    pub fn level(self) -> Level {
        self.level
    }

    /// The right-padded 18-digit key.
    pub fn key(self) -> i64 {
        self.key
    }

    /// The half-open key range `[start, end)` of this region's subtree, itself included.
    pub fn range(self) -> KeyRange {
        let width = pow10(KEY_DIGITS - self.level.digits() as u32);
        KeyRange {
            start: self.key,
            end: self.key + width,
        }
    }

    pub fn parent(self) -> Option<RegionCode> {
        let level = self.level.parent()?;
        let width = pow10(KEY_DIGITS - level.digits() as u32);
        Some(RegionCode {
            key: self.key - self.key % width,
            level,
        })
    }

    /// Ancestors from the province down to the parent.
    pub fn ancestors(self) -> Vec<RegionCode> {
        let mut out = Vec::with_capacity(self.level.number() as usize);
        let mut cur = self.parent();
        while let Some(c) = cur {
            out.push(c);
            cur = c.parent();
        }
        out.reverse();
        out
    }

    /// The code of this region's child with the given number (1-based), e.g. grid 3 of a
    /// community. `None` if this level has no children or the number does not fit.
    pub fn child(self, number: u32) -> Option<RegionCode> {
        let level = self.level.child()?;
        let seg = level.digits() - self.level.digits();
        if number == 0 || u64::from(number) >= 10u64.pow(seg as u32) {
            return None;
        }
        let key = self.key + i64::from(number) * pow10(KEY_DIGITS - level.digits() as u32);
        Some(RegionCode { key, level })
    }

    /// The last segment as a number: a grid's number within its community.
    pub fn number(self) -> u32 {
        let width = pow10(KEY_DIGITS - self.level.digits() as u32);
        let seg = match self.level.parent() {
            Some(p) => self.level.digits() - p.digits(),
            None => self.level.digits(),
        };
        ((self.key / width) % pow10(seg as u32)) as u32
    }

    /// Whether `other` lies in this region's subtree (itself included).
    pub fn contains(self, other: RegionCode) -> bool {
        other.level >= self.level && self.range().contains(other.key)
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.level.digits();
        let value = self.key / pow10(KEY_DIGITS - digits as u32);
        write!(f, "{value:0digits$}")
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({self})")
    }
}

impl FromStr for RegionCode {
    type Err = RegionCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegionCode::parse(s)
    }
}

impl Serialize for RegionCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RegionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A half-open range of keys `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    pub start: i64,
    pub end: i64,
}

impl KeyRange {
    pub fn contains(self, key: i64) -> bool {
        self.start <= key && key < self.end
    }

    pub fn overlaps(self, other: KeyRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Where an account may look and act: the whole country, or one region's subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Nation,
    Region(RegionCode),
}

impl Scope {
    /// The word that stands for the whole country on the command line and in the database.
    pub const NATION: &'static str = "CN";

    pub fn parse(s: &str) -> Result<Scope, RegionCodeError> {
        if s.trim().eq_ignore_ascii_case(Self::NATION) {
            Ok(Scope::Nation)
        } else {
            RegionCode::parse(s).map(Scope::Region)
        }
    }

    pub fn range(self) -> KeyRange {
        match self {
            Scope::Nation => KeyRange {
                start: 0,
                end: KEY_END,
            },
            Scope::Region(c) => c.range(),
        }
    }

    /// The access check: one range test (and a level test, since a region's own key is
    /// shared with all-zero-segment descendants of its parent's level).
    pub fn contains(self, code: RegionCode) -> bool {
        match self {
            Scope::Nation => true,
            Scope::Region(root) => root.contains(code),
        }
    }

    /// Whether `code` lies strictly below the scope's root: what an account may change.
    pub fn contains_strictly(self, code: RegionCode) -> bool {
        match self {
            Scope::Nation => true,
            Scope::Region(root) => root != code && root.contains(code),
        }
    }

    pub fn root(self) -> Option<RegionCode> {
        match self {
            Scope::Nation => None,
            Scope::Region(c) => Some(c),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Nation => f.write_str(Self::NATION),
            Scope::Region(c) => c.fmt(f),
        }
    }
}

const fn pow10(exp: u32) -> i64 {
    10i64.pow(exp)
}

/// The name to show for a region. The national tables name a municipality's urban
/// districts "市辖区" and its counties "县"; alone these say nothing, so they are shown with
/// the parent's name ("北京市 · 市辖区").
pub fn display_name(name: &str, parent_name: Option<&str>) -> String {
    match (name, parent_name) {
        ("市辖区" | "县", Some(parent)) => format!("{parent} · {name}"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).expect("valid code")
    }

    #[test]
    fn parses_every_level_and_pads_to_eighteen_digits() {
        let cases = [
            ("33", Level::Province, 330_000_000_000_000_000),
            ("3301", Level::City, 330_100_000_000_000_000),
            ("330102", Level::District, 330_102_000_000_000_000),
            ("330102001", Level::Street, 330_102_001_000_000_000),
            ("330102001001", Level::Community, 330_102_001_001_000_000),
            ("330102001001002", Level::Grid, 330_102_001_001_002_000),
            (
                "330102001001002003",
                Level::MicroGrid,
                330_102_001_001_002_003,
            ),
        ];
        for (s, level, key) in cases {
            let c = code(s);
            assert_eq!(c.level(), level, "{s}");
            assert_eq!(c.key(), key, "{s}");
            assert_eq!(c.to_string(), s);
            assert_eq!(RegionCode::from_key(key, level), Some(c));
        }
    }

    #[test]
    fn bad_codes_say_what_is_wrong() {
        assert_eq!(RegionCode::parse(""), Err(RegionCodeError::Empty));
        assert_eq!(
            RegionCode::parse("33a1"),
            Err(RegionCodeError::NotDigits("33a1".into(), 3))
        );
        assert_eq!(
            RegionCode::parse("3301021"),
            Err(RegionCodeError::BadLength("3301021".into(), 7))
        );
        assert_eq!(
            RegionCode::parse("330102001001000"),
            Err(RegionCodeError::ZeroSegment(
                "330102001001000".into(),
                "000".into()
            ))
        );
        let msg = RegionCode::parse("3301021").unwrap_err().to_string();
        assert!(msg.contains("2, 4, 6, 9, 12, 15 or 18"), "{msg}");
        let zh = RegionCode::parse("3301021")
            .unwrap_err()
            .problem()
            .message(crate::i18n::Lang::Zh);
        assert!(
            zh.contains("7 位") && zh.contains("2、4、6、9、12、15 或 18"),
            "{zh}"
        );
        // Official levels keep their all-zero segments: 东莞市 441900, 金门县 350527000.
        assert_eq!(code("441900").parent(), Some(code("4419")));
        assert_eq!(code("441900").key(), code("4419").key());
        assert!(code("4419").contains(code("441900")));
        assert!(!code("441900").contains(code("4419")));
    }

    #[test]
    fn parents_ancestors_children_and_numbers() {
        let g = code("330102001001002");
        assert_eq!(g.parent(), Some(code("330102001001")));
        assert_eq!(code("33").parent(), None);
        let anc: Vec<String> = g.ancestors().iter().map(|c| c.to_string()).collect();
        assert_eq!(anc, ["33", "3301", "330102", "330102001", "330102001001"]);
        assert_eq!(code("330102001001").child(7), Some(code("330102001001007")));
        assert_eq!(code("330102001001").child(1000), None);
        assert_eq!(code("330102001001").child(0), None);
        assert_eq!(code("330102001001002003").child(1), None);
        assert_eq!(g.number(), 2);
        assert_eq!(code("330102001").number(), 1);
        assert_eq!(code("33").number(), 33);
    }

    #[test]
    fn scope_checks_are_range_tests() {
        let street = Scope::parse("330102001").unwrap();
        assert!(street.contains(code("330102001")));
        assert!(street.contains(code("330102001001002")));
        assert!(!street.contains(code("330102003001")));
        assert!(!street.contains(code("330102")));
        assert!(!street.contains_strictly(code("330102001")));
        assert!(street.contains_strictly(code("330102001001")));
        assert!(Scope::parse("cn").unwrap().contains(code("11")));
        assert_eq!(Scope::Nation.range().end, KEY_END);
    }

    #[test]
    fn municipal_placeholders_are_named_with_their_parent() {
        assert_eq!(display_name("市辖区", Some("北京市")), "北京市 · 市辖区");
        assert_eq!(display_name("上城区", Some("杭州市")), "上城区");
        assert_eq!(display_name("市辖区", None), "市辖区");
    }

    /// A random chain of codes from a province down to a micro-grid: each segment drawn from
    /// its full range (official segments may be zero, user segments may not).
    fn chain() -> impl Strategy<Value = Vec<RegionCode>> {
        (
            10u32..100,
            0u32..100,
            0u32..100,
            0u32..1000,
            0u32..1000,
            1u32..1000,
            1u32..1000,
        )
            .prop_map(|(p, c, d, s, m, g, u)| {
                let text = format!("{p:02}{c:02}{d:02}{s:03}{m:03}{g:03}{u:03}");
                [2, 4, 6, 9, 12, 15, 18]
                    .iter()
                    .map(|&n| RegionCode::parse(&text[..n]).expect("generated code parses"))
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn every_descendant_lies_in_its_ancestors_ranges(codes in chain()) {
            for (i, anc) in codes.iter().enumerate() {
                for desc in &codes[i..] {
                    prop_assert!(anc.range().contains(desc.key()));
                    prop_assert!(anc.contains(*desc));
                }
                if i > 0 {
                    prop_assert_eq!(anc.parent(), Some(codes[i - 1]));
                    prop_assert!(!anc.contains(codes[i - 1]));
                }
                prop_assert_eq!(RegionCode::parse(&anc.to_string()), Ok(*anc));
            }
        }

        #[test]
        fn siblings_ranges_are_disjoint(codes in chain(), a in 1u32..1000, b in 1u32..1000) {
            for parent in &codes[..codes.len() - 1] {
                let seg = parent.level().child().map(|l| l.digits() - parent.level().digits());
                let limit = 10u32.pow(seg.unwrap_or(0) as u32);
                let (x, y) = (a % limit, b % limit);
                if x == y || x == 0 || y == 0 { continue; }
                let (cx, cy) = (parent.child(x).unwrap(), parent.child(y).unwrap());
                prop_assert!(!cx.range().overlaps(cy.range()));
                prop_assert!(parent.range().start <= cx.range().start && cx.range().end <= parent.range().end);
            }
        }
    }
}
