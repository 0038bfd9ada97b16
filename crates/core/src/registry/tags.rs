//! Resident tags: who needs a visit, a call or a place in a count.
//!
//! Two kinds. Age tags (60+, 80+, under 3, under 18) are derived from the birth date and are
//! never stored: stored, they would go stale the day a person has a birthday. Instead a
//! query asks for birth dates on one side of a bound ([`Tag::birth_bound`]), which is always
//! today's truth. The other tags (living alone, low income, party member …) are assigned by
//! a community worker and stored as bits of one integer ([`Tag::bit`]), so that "every
//! 80+ resident living alone" is one indexed range and one bitwise test.
//!
//! Ages follow the common rule for people born on 29 February: in a year without one,
//! their birthday is 1 March. Born 1964-02-29, a person turns 60 on 2024-02-29 and 61 on
//! 2025-03-01.

use chrono::{Datelike, NaiveDate};

use crate::i18n::{self, Lang};
use crate::Problem;

/// A resident tag. See the module documentation for derived and assigned tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// 60 and over (老年人).
    Age60,
    /// 80 and over (高龄).
    Age80,
    /// Under 3 (婴幼儿), for childcare places.
    Under3,
    /// Under 18 (未成年).
    Under18,
    /// 独居: lives alone.
    LivingAlone,
    /// 孤寡: elderly without spouse or children.
    Solitary,
    /// 空巢: elderly whose children live elsewhere.
    EmptyNest,
    /// 残疾: holds a disability certificate.
    Disabled,
    /// 低保: receives the minimum living allowance.
    LowIncome,
    /// 党员: Party member.
    PartyMember,
    /// 志愿者: registered volunteer.
    Volunteer,
    /// 租户: lives in a rented home.
    Renter,
    /// 退役军人: veteran.
    Veteran,
    /// 重点关注: on the community's watch list.
    Watch,
}

/// Which birth dates carry a derived tag on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthBound {
    /// Born on or before this date (60+, 80+).
    OnOrBefore(NaiveDate),
    /// Born after this date (under 3, under 18).
    After(NaiveDate),
}

impl BirthBound {
    /// Whether someone born on `birth` is inside the bound.
    pub fn contains(self, birth: NaiveDate) -> bool {
        match self {
            BirthBound::OnOrBefore(d) => birth <= d,
            BirthBound::After(d) => birth > d,
        }
    }
}

impl Tag {
    pub const ALL: [Tag; 14] = [
        Tag::Age60,
        Tag::Age80,
        Tag::Under3,
        Tag::Under18,
        Tag::LivingAlone,
        Tag::Solitary,
        Tag::EmptyNest,
        Tag::Disabled,
        Tag::LowIncome,
        Tag::PartyMember,
        Tag::Volunteer,
        Tag::Renter,
        Tag::Veteran,
        Tag::Watch,
    ];

    /// The tags that follow from the birth date.
    pub const DERIVED: [Tag; 4] = [Tag::Age60, Tag::Age80, Tag::Under3, Tag::Under18];

    /// The tags a community worker sets, in bit order.
    pub const ASSIGNED: [Tag; 10] = [
        Tag::LivingAlone,
        Tag::Solitary,
        Tag::EmptyNest,
        Tag::Disabled,
        Tag::LowIncome,
        Tag::PartyMember,
        Tag::Volunteer,
        Tag::Renter,
        Tag::Veteran,
        Tag::Watch,
    ];

    /// The stable code, as the API and exports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Age60 => "age60",
            Tag::Age80 => "age80",
            Tag::Under3 => "under3",
            Tag::Under18 => "under18",
            Tag::LivingAlone => "living_alone",
            Tag::Solitary => "solitary",
            Tag::EmptyNest => "empty_nest",
            Tag::Disabled => "disabled",
            Tag::LowIncome => "low_income",
            Tag::PartyMember => "party_member",
            Tag::Volunteer => "volunteer",
            Tag::Renter => "renter",
            Tag::Veteran => "veteran",
            Tag::Watch => "watch",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Tag::Age60 => "tag.age60",
            Tag::Age80 => "tag.age80",
            Tag::Under3 => "tag.under3",
            Tag::Under18 => "tag.under18",
            Tag::LivingAlone => "tag.living_alone",
            Tag::Solitary => "tag.solitary",
            Tag::EmptyNest => "tag.empty_nest",
            Tag::Disabled => "tag.disabled",
            Tag::LowIncome => "tag.low_income",
            Tag::PartyMember => "tag.party_member",
            Tag::Volunteer => "tag.volunteer",
            Tag::Renter => "tag.renter",
            Tag::Veteran => "tag.veteran",
            Tag::Watch => "tag.watch",
        }
    }

    /// Other words offices write for the same tag, beside the code and the two labels.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Tag::Age60 => &["60+", "60岁+", "老年人"],
            Tag::Age80 => &["80+", "80岁+", "高龄", "高龄老人"],
            Tag::Under3 => &["婴幼儿", "0-3岁", "三岁以下"],
            Tag::Under18 => &["未成年人", "18岁以下"],
            Tag::LivingAlone => &["独居老人"],
            Tag::Solitary => &["孤寡老人"],
            Tag::EmptyNest => &["空巢老人"],
            Tag::Disabled => &["残疾人", "残障"],
            Tag::LowIncome => &["低保户"],
            Tag::PartyMember => &["中共党员"],
            Tag::Volunteer => &[],
            Tag::Renter => &["租客", "租住"],
            Tag::Veteran => &["退伍军人"],
            Tag::Watch => &["重点人员"],
        }
    }

    /// Accepts the code, the Chinese or English label (any ASCII case) and a few common
    /// synonyms (独居老人, 高龄, 低保户 …), so that an office's own column imports as it is.
    pub fn parse(s: &str) -> Option<Tag> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Self::ALL.into_iter().find(|t| {
            t.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, t.label_key()) == s
                || i18n::text(Lang::En, t.label_key()).eq_ignore_ascii_case(s)
                || t.aliases().iter().any(|a| a.eq_ignore_ascii_case(s))
        })
    }

    pub fn is_derived(self) -> bool {
        Self::DERIVED.contains(&self)
    }

    /// The tag's bit in the stored mask: 1<<0 to 1<<9 for the assigned tags, in
    /// [`Tag::ASSIGNED`] order. Derived tags are never stored and have no bit (0), so that
    /// OR-ing a list of tags never sets one.
    pub fn bit(self) -> i64 {
        Self::ASSIGNED
            .iter()
            .position(|&t| t == self)
            .map_or(0, |i| 1i64 << i)
    }

    /// The mask of a list of tags (derived tags contribute nothing).
    pub fn bits(tags: &[Tag]) -> i64 {
        tags.iter().fold(0, |acc, t| acc | t.bit())
    }

    /// The assigned tags whose bits are set, in [`Tag::ASSIGNED`] order; bits no tag owns
    /// are ignored.
    pub fn from_bits(bits: i64) -> Vec<Tag> {
        Self::ASSIGNED
            .into_iter()
            .filter(|t| bits & t.bit() != 0)
            .collect()
    }

    /// For a derived tag, the birth dates that carry it on `today`; `None` for assigned tags.
    pub fn birth_bound(self, today: NaiveDate) -> Option<BirthBound> {
        match self {
            Tag::Age60 => Some(BirthBound::OnOrBefore(latest_birth_for_age(today, 60))),
            Tag::Age80 => Some(BirthBound::OnOrBefore(latest_birth_for_age(today, 80))),
            Tag::Under3 => Some(BirthBound::After(latest_birth_for_age(today, 3))),
            Tag::Under18 => Some(BirthBound::After(latest_birth_for_age(today, 18))),
            _ => None,
        }
    }
}

/// The latest birth date of someone who is at least `years` old on `today`: the same day
/// `years` years earlier, or 28 February when that is a 29 February that did not exist.
///
/// This is exact under the 1 March rule: born on 29 February of that year, a person's
/// birthday in a non-leap `today.year()` is 1 March, after a `today` of 28 February; and a
/// `today` of 29 February `years` years after a non-leap year is after the birthday
/// (28 February) of everyone born up to 28 February.
fn latest_birth_for_age(today: NaiveDate, years: i32) -> NaiveDate {
    let year = today.year() - years;
    NaiveDate::from_ymd_opt(year, today.month(), today.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
        .unwrap_or(NaiveDate::MIN)
}

/// Age in whole years on `today`, with birthdays of 29 February kept on 1 March in years
/// without one. Negative if `birth` is after `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    let birthday = NaiveDate::from_ymd_opt(today.year(), birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(today.year(), 3, 1));
    if birthday.is_some_and(|b| today < b) {
        age -= 1;
    }
    age
}

/// The derived tags of someone born on `birth`, on `today`: someone of 85 is both 60+ and
/// 80+, a child of 2 both under 3 and under 18. Nobody not yet born has any.
pub fn derived_tags(birth: NaiveDate, today: NaiveDate) -> Vec<Tag> {
    if birth > today {
        return Vec::new();
    }
    Tag::DERIVED
        .into_iter()
        .filter(|t| t.birth_bound(today).is_some_and(|b| b.contains(birth)))
        .collect()
}

/// A date as the store keeps it: the integer yyyymmdd, which sorts as dates do and reads
/// as one in a database console. (Years beyond 214,747, which no person has, saturate.)
pub fn date_key(d: NaiveDate) -> i32 {
    d.year()
        .saturating_mul(10_000)
        .saturating_add(d.month() as i32 * 100 + d.day() as i32)
}

/// The date of a stored yyyymmdd key; `None` if it is not one.
pub fn date_from_key(key: i32) -> Option<NaiveDate> {
    if key < 0 {
        return None;
    }
    let (year, month, day) = (key / 10_000, (key / 100 % 100) as u32, (key % 100) as u32);
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The separators people put between tags in one cell besides whitespace: Chinese and
/// ASCII commas and semicolons, 、, slashes.
fn is_separator(c: char) -> bool {
    matches!(c, '、' | ',' | '，' | ';' | '；' | '/' | '／' | '|')
}

/// The words of a tag cell. Whitespace separates tags too (`独居 党员`, or the line break
/// Alt+Enter puts in an Excel cell), except inside a label that has a space of its own
/// (`Living alone`), which is kept whole.
fn words(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in s
        .split(is_separator)
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if Tag::parse(piece).is_some() {
            out.push(piece);
        } else {
            out.extend(piece.split_whitespace());
        }
    }
    out
}

/// Reads a cell of assigned tags, e.g. `独居、党员`. The result is deduplicated and in
/// [`Tag::ALL`] order. Unknown words are one problem naming all of them and the choices;
/// age tags are refused, since they follow from the birth date and a hand-set one would
/// contradict it tomorrow.
pub fn parse_tag_list(s: &str) -> Result<Vec<Tag>, Problem> {
    let mut tags = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    let mut derived: Vec<&str> = Vec::new();
    for word in words(s) {
        match Tag::parse(word) {
            Some(t) if t.is_derived() => derived.push(word),
            Some(t) => tags.push(t),
            None => unknown.push(word),
        }
    }
    if !unknown.is_empty() {
        let options = Tag::ASSIGNED
            .iter()
            .map(|t| i18n::text(Lang::Zh, t.label_key()))
            .collect::<Vec<_>>()
            .join("、");
        return Err(Problem::new("tag_unknown", "tags.unknown")
            .arg("value", unknown.join("、"))
            .arg("options", options)
            .field("tags"));
    }
    if !derived.is_empty() {
        return Err(Problem::new("tag_derived", "tags.derived")
            .arg("value", derived.join("、"))
            .field("tags"));
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn codes_labels_and_parse() {
        for t in Tag::ALL {
            assert_eq!(Tag::parse(t.as_str()), Some(t));
            assert_eq!(Tag::parse(&t.as_str().to_uppercase()), Some(t));
            let zh = i18n::text(Lang::Zh, t.label_key());
            let en = i18n::text(Lang::En, t.label_key());
            assert!(i18n::has(t.label_key()), "{}", t.label_key());
            assert_eq!(Tag::parse(zh), Some(t), "{zh}");
            assert_eq!(Tag::parse(en), Some(t), "{en}");
            assert_eq!(Tag::parse(&en.to_lowercase()), Some(t), "{en}");
            assert_eq!(t.is_derived(), Tag::DERIVED.contains(&t));
        }
        for (s, t) in [
            ("独居", Tag::LivingAlone),
            ("60+", Tag::Age60),
            ("80+", Tag::Age80),
            ("3岁以下", Tag::Under3),
            ("未成年", Tag::Under18),
            ("独居老人", Tag::LivingAlone),
            ("低保户", Tag::LowIncome),
            ("高龄", Tag::Age80),
        ] {
            assert_eq!(Tag::parse(s), Some(t), "{s}");
        }
        assert_eq!(Tag::parse("富人"), None);
        assert_eq!(Tag::parse(""), None);
        assert_eq!(Tag::ALL.len(), Tag::DERIVED.len() + Tag::ASSIGNED.len());
    }

    #[test]
    fn bits_are_distinct_and_round_trip() {
        let mut seen = 0i64;
        for (i, t) in Tag::ASSIGNED.into_iter().enumerate() {
            assert_eq!(t.bit(), 1 << i);
            assert_eq!(seen & t.bit(), 0);
            seen |= t.bit();
        }
        assert_eq!(seen, 0b11_1111_1111);
        for t in Tag::DERIVED {
            assert_eq!(t.bit(), 0);
        }
        assert_eq!(Tag::from_bits(seen), Tag::ASSIGNED.to_vec());
        assert_eq!(Tag::from_bits(0), Vec::<Tag>::new());
        assert_eq!(
            Tag::from_bits(-1),
            Tag::ASSIGNED.to_vec(),
            "stray bits ignored"
        );
        let some = [Tag::Watch, Tag::LivingAlone, Tag::Age80];
        assert_eq!(Tag::bits(&some), 1 | 1 << 9);
        assert_eq!(
            Tag::from_bits(Tag::bits(&some)),
            [Tag::LivingAlone, Tag::Watch]
        );
    }

    #[test]
    fn leap_day_births() {
        let b = date(1964, 2, 29);
        let age60 = |today| Tag::Age60.birth_bound(today).is_some_and(|x| x.contains(b));
        assert!(!age60(date(2024, 2, 28)));
        assert!(age60(date(2024, 2, 29)), "60 on the leap day itself");
        assert_eq!(age_on(b, date(2024, 2, 28)), 59);
        assert_eq!(age_on(b, date(2024, 2, 29)), 60);
        assert_eq!(age_on(b, date(2025, 2, 28)), 60);
        assert_eq!(age_on(b, date(2025, 3, 1)), 61, "birthday on 1 March");
        assert!(!derived_tags(b, date(2024, 2, 28)).contains(&Tag::Age60));
        let b2 = date(1965, 2, 28);
        assert!(derived_tags(b2, date(2025, 2, 28)).contains(&Tag::Age60));
        assert!(!derived_tags(b2, date(2025, 2, 27)).contains(&Tag::Age60));
        // Born 2021-02-28 or 2021-03-01; today 2024-02-29: 3 years after a non-leap year.
        assert_eq!(
            Tag::Under3.birth_bound(date(2024, 2, 29)),
            Some(BirthBound::After(date(2021, 2, 28)))
        );
        assert_eq!(age_on(date(2021, 2, 28), date(2024, 2, 29)), 3);
        assert_eq!(age_on(date(2021, 3, 1), date(2024, 2, 29)), 2);
        // A leap-day birth under 3 until its third birthday on 1 March.
        let b = date(2020, 2, 29);
        assert!(derived_tags(b, date(2023, 2, 28)).contains(&Tag::Under3));
        assert!(!derived_tags(b, date(2023, 3, 1)).contains(&Tag::Under3));
    }

    #[test]
    fn bounds_and_tags() {
        let today = date(2024, 6, 1);
        assert_eq!(
            Tag::Age60.birth_bound(today),
            Some(BirthBound::OnOrBefore(date(1964, 6, 1)))
        );
        assert_eq!(
            Tag::Age80.birth_bound(today),
            Some(BirthBound::OnOrBefore(date(1944, 6, 1)))
        );
        assert_eq!(
            Tag::Under3.birth_bound(today),
            Some(BirthBound::After(date(2021, 6, 1)))
        );
        assert_eq!(
            Tag::Under18.birth_bound(today),
            Some(BirthBound::After(date(2006, 6, 1)))
        );
        assert_eq!(Tag::Watch.birth_bound(today), None);
        assert_eq!(
            derived_tags(date(1939, 1, 1), today),
            [Tag::Age60, Tag::Age80]
        );
        assert_eq!(derived_tags(date(1964, 6, 1), today), [Tag::Age60]);
        assert_eq!(derived_tags(date(1964, 6, 2), today), []);
        assert_eq!(
            derived_tags(date(2022, 1, 1), today),
            [Tag::Under3, Tag::Under18]
        );
        assert_eq!(derived_tags(date(2021, 6, 1), today), [Tag::Under18]);
        assert_eq!(derived_tags(date(2025, 1, 1), today), []);
    }

    #[test]
    fn date_keys() {
        assert_eq!(date_key(date(1949, 12, 31)), 19491231);
        assert_eq!(date_from_key(19491231), Some(date(1949, 12, 31)));
        assert_eq!(date_from_key(19900230), None);
        assert_eq!(date_from_key(-1), None);
        assert_eq!(date_from_key(0), None);
        assert!(date_key(date(1999, 12, 31)) < date_key(date(2000, 1, 1)));
        assert_eq!(
            date_key(NaiveDate::MAX),
            i32::MAX,
            "saturates, never panics"
        );
    }

    #[test]
    fn tag_lists() {
        assert_eq!(
            parse_tag_list("党员、独居，党员; volunteer/Renter\n低保户、Living alone"),
            Ok(vec![
                Tag::LivingAlone,
                Tag::LowIncome,
                Tag::PartyMember,
                Tag::Volunteer,
                Tag::Renter
            ])
        );
        assert_eq!(parse_tag_list(""), Ok(vec![]));
        assert_eq!(parse_tag_list(" 、 ,"), Ok(vec![]));
        let e = parse_tag_list("独居、富人、VIP").unwrap_err();
        assert_eq!(
            (e.code, e.key, e.field),
            ("tag_unknown", "tags.unknown", Some("tags"))
        );
        let m = e.message(Lang::Zh);
        assert!(m.contains("富人、VIP") && m.contains("空巢"), "{m}");
        let e = parse_tag_list("独居 80+").unwrap_err();
        assert_eq!(e.key, "tags.derived");
        assert!(e.message(Lang::En).contains("80+"), "{e}");
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (0i64..(365 * 200)).prop_map(|d| date(1900, 1, 1) + chrono::Duration::days(d))
    }

    proptest! {
        #[test]
        fn bounds_agree_with_age((birth, today) in (any_date(), any_date()).prop_map(|(a, b)| (a.min(b), a.max(b)))) {
            let age = age_on(birth, today);
            let has = |t: Tag| derived_tags(birth, today).contains(&t);
            prop_assert_eq!(has(Tag::Age60), age >= 60);
            prop_assert_eq!(has(Tag::Age80), age >= 80);
            prop_assert_eq!(has(Tag::Under3), age < 3);
            prop_assert_eq!(has(Tag::Under18), age < 18);
        }

        #[test]
        fn bounds_agree_with_age_around_leap_days(
            by in 1896i32..2020,
            bd in 0usize..3,
            delta in proptest::sample::select(vec![0, 1, 2, 3, 4, 17, 18, 19, 59, 60, 61, 79, 80, 81, 104]),
            td in 0usize..3,
        ) {
            let ty = by + delta;
            // 28 Feb, 29 Feb (or 28 Feb again when there is none) and 1 Mar.
            let around = |y: i32, i: usize| {
                NaiveDate::from_ymd_opt(y, [2, 2, 3][i], [28, 29, 1][i]).unwrap_or_else(|| date(y, 2, 28))
            };
            let (a, b) = (around(by, bd), around(ty, td));
            let (birth, today) = (a.min(b), a.max(b));
            let age = age_on(birth, today);
            let has = |t: Tag| derived_tags(birth, today).contains(&t);
            prop_assert_eq!(has(Tag::Age60), age >= 60);
            prop_assert_eq!(has(Tag::Age80), age >= 80);
            prop_assert_eq!(has(Tag::Under3), age < 3);
            prop_assert_eq!(has(Tag::Under18), age < 18);
        }

        #[test]
        fn date_keys_round_trip(d in any_date()) {
            prop_assert_eq!(date_from_key(date_key(d)), Some(d));
        }

        #[test]
        fn tag_lists_never_panic(s in "\\PC{0,40}") {
            let _ = parse_tag_list(&s);
        }

        #[test]
        fn tag_lists_of_labels_parse(picks in proptest::collection::vec(0usize..10, 0..8), sep in "[、,，;；/ ]") {
            let words: Vec<&str> = picks.iter().map(|&i| i18n::text(Lang::Zh, Tag::ASSIGNED[i].label_key())).collect();
            let parsed = parse_tag_list(&words.join(&sep)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut want: Vec<Tag> = picks.iter().map(|&i| Tag::ASSIGNED[i]).collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(parsed, want);
        }
    }
}
