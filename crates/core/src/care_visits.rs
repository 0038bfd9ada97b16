//! Visit plans for key elderly (重点老人): the rules that say how often a person is visited
//! from their registry tags ("独居 80+ weekly, 空巢 60+ monthly"), what a visit records, and
//! why an enrolment ends. Pure data and checks: the store keeps them, the server shows them.
//!
//! A rule is a set of tags that must all hold (assigned ones such as 独居 and at most one age
//! tag) and an interval in days. A person matching several rules is visited as often as the
//! most frequent of them asks: the rules only ever add care.

use serde::{Deserialize, Serialize};

use crate::registry::tags::Tag;
use crate::Problem;

/// The most rules one region may have: a list a person can read at a glance.
pub const MAX_RULES: usize = 20;
/// The longest interval between visits, days.
pub const MAX_INTERVAL_DAYS: u32 = 366;
/// The longest visit note, characters.
pub const MAX_NOTE: usize = 2000;
/// The most photos a visit may carry.
pub const MAX_VISIT_PHOTOS: usize = 9;
/// How far back a visit may be recorded: a grid worker writes up last week's round, not last
/// year's.
pub const MAX_VISIT_AGE_DAYS: i64 = 30;

/// One visit rule: everyone with all of `tags` is visited every `interval_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRule {
    /// Tag codes, such as `living_alone` and `age80`.
    pub tags: Vec<String>,
    pub interval_days: u32,
}

/// A rule with its tags parsed: what matching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRule {
    pub tags: Vec<Tag>,
    pub interval_days: u32,
}

impl ParsedRule {
    /// The assigned tags' bits, all of which a person must carry.
    pub fn mask(&self) -> i64 {
        Tag::bits(&self.tags)
    }

    /// The age tag (60+ or 80+), if the rule has one.
    pub fn age(&self) -> Option<Tag> {
        self.tags.iter().copied().find(|t| t.is_derived())
    }

    /// The rule's name as people read it, e.g. "独居 + 80岁以上".
    pub fn label(&self, lang: crate::i18n::Lang) -> String {
        self.tags
            .iter()
            .map(|t| crate::i18n::text(lang, t.label_key()))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// The stable code of the rule's tags, e.g. `living_alone+age80`, kept with an enrolment
    /// to say which rule planned it.
    pub fn code(&self) -> String {
        self.tags
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// The rules a district starts with: the practice's examples, made a little finer so that
/// the oldest and the most alone are seen most often. Together they pick exactly the
/// registry's key elderly (重点老人): 80 or over, or 60 or over and living alone, solitary
/// or empty-nest.
pub fn default_rules() -> Vec<VisitRule> {
    let rule = |tags: &[&str], interval_days| VisitRule {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        interval_days,
    };
    vec![
        rule(&["living_alone", "age80"], 7),
        rule(&["solitary", "age60"], 7),
        rule(&["living_alone", "age60"], 14),
        rule(&["empty_nest", "age80"], 14),
        rule(&["empty_nest", "age60"], 30),
        // 高龄: everyone 80 or over is key elderly (the registry counts them so), visited
        // at least monthly.
        rule(&["age80"], 30),
    ]
}

fn bad_rule(index: usize, key: &'static str) -> Problem {
    Problem::new("care_bad_visit_rule", key)
        .arg("rule", index + 1)
        .field("rules")
}

/// Checks a list of rules and parses their tags; the first problem names the rule (from 1).
pub fn parse_rules(rules: &[VisitRule]) -> Result<Vec<ParsedRule>, Problem> {
    if rules.len() > MAX_RULES {
        return Err(
            Problem::new("care_too_many_visit_rules", "care.visit_rule.too_many")
                .arg("count", rules.len())
                .arg("max", MAX_RULES)
                .field("rules"),
        );
    }
    let mut out: Vec<ParsedRule> = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let mut tags = Vec::with_capacity(r.tags.len());
        for t in &r.tags {
            let tag = Tag::parse(t).ok_or_else(|| {
                bad_rule(i, "care.visit_rule.unknown_tag")
                    .arg("value", t)
                    .arg(
                        "options",
                        Tag::ALL
                            .iter()
                            .filter(|t| !matches!(t, Tag::Under3 | Tag::Under18))
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
            })?;
            if matches!(tag, Tag::Under3 | Tag::Under18) {
                return Err(bad_rule(i, "care.visit_rule.child_tag").arg("value", tag.as_str()));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.is_empty() {
            return Err(bad_rule(i, "care.visit_rule.no_tags"));
        }
        if tags.iter().filter(|t| t.is_derived()).count() > 1 {
            return Err(bad_rule(i, "care.visit_rule.two_ages"));
        }
        if !(1..=MAX_INTERVAL_DAYS).contains(&r.interval_days) {
            return Err(bad_rule(i, "care.visit_rule.bad_interval")
                .arg("value", r.interval_days)
                .arg("max", MAX_INTERVAL_DAYS));
        }
        tags.sort();
        if out.iter().any(|o| o.tags == tags) {
            return Err(bad_rule(i, "care.visit_rule.duplicate"));
        }
        out.push(ParsedRule {
            tags,
            interval_days: r.interval_days,
        });
    }
    Ok(out)
}

/// The rule that plans a person with `tags` (derived and assigned): the most frequent of
/// those whose tags all hold, or none.
pub fn plan_for<'a>(rules: &'a [ParsedRule], tags: &[Tag]) -> Option<&'a ParsedRule> {
    rules
        .iter()
        .filter(|r| r.tags.iter().all(|t| tags.contains(t)))
        .min_by_key(|r| r.interval_days)
}

/// How a visit was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VisitMode {
    /// 上门: at home.
    Home,
    /// 电话: by phone.
    Phone,
}

impl VisitMode {
    pub const ALL: [VisitMode; 2] = [VisitMode::Home, VisitMode::Phone];

    pub fn code(self) -> &'static str {
        match self {
            VisitMode::Home => "home",
            VisitMode::Phone => "phone",
        }
    }

    pub fn text_key(self) -> &'static str {
        match self {
            VisitMode::Home => "care.visit_mode.home",
            VisitMode::Phone => "care.visit_mode.phone",
        }
    }

    pub fn parse(s: &str) -> Result<VisitMode, Problem> {
        Self::ALL
            .into_iter()
            .find(|m| m.code() == s.trim())
            .ok_or_else(|| {
                options_problem(
                    "care_bad_visit_mode",
                    "care.bad_visit_mode",
                    "mode",
                    s,
                    Self::ALL.map(|m| m.code()),
                )
            })
    }
}

/// What a visitor found that needs following up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concern {
    /// 健康: unwell, not taking medicine.
    Health,
    /// 安全: gas, electricity, falls.
    Safety,
    /// 生活: food, cleaning, money.
    Living,
    /// 情绪: lonely, low.
    Mood,
    /// 防诈: a call or visitor that looks like fraud.
    Fraud,
    /// 住房: the home needs repair.
    Housing,
    Other,
}

impl Concern {
    pub const ALL: [Concern; 7] = [
        Concern::Health,
        Concern::Safety,
        Concern::Living,
        Concern::Mood,
        Concern::Fraud,
        Concern::Housing,
        Concern::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Concern::Health => "health",
            Concern::Safety => "safety",
            Concern::Living => "living",
            Concern::Mood => "mood",
            Concern::Fraud => "fraud",
            Concern::Housing => "housing",
            Concern::Other => "other",
        }
    }

    pub fn text_key(self) -> &'static str {
        match self {
            Concern::Health => "care.concern.health",
            Concern::Safety => "care.concern.safety",
            Concern::Living => "care.concern.living",
            Concern::Mood => "care.concern.mood",
            Concern::Fraud => "care.concern.fraud",
            Concern::Housing => "care.concern.housing",
            Concern::Other => "care.concern.other",
        }
    }

    pub fn parse(s: &str) -> Result<Concern, Problem> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == s.trim())
            .ok_or_else(|| {
                options_problem(
                    "care_bad_concern",
                    "care.bad_concern",
                    "concerns",
                    s,
                    Self::ALL.map(|c| c.code()),
                )
            })
    }

    /// A list of codes, deduplicated and in a stable order.
    pub fn parse_list(codes: &[String]) -> Result<Vec<Concern>, Problem> {
        let mut out = codes
            .iter()
            .map(|c| Concern::parse(c))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Why a person's enrolment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    MovedAway,
    Deceased,
    /// 本人拒绝: the person does not want the visits.
    Declined,
    /// 不再需要: family moved in, say.
    NoLongerNeeded,
    /// The person was removed from the registry (never chosen: the registry does it).
    Removed,
}

impl EndReason {
    pub const ALL: [EndReason; 4] = [
        EndReason::MovedAway,
        EndReason::Deceased,
        EndReason::Declined,
        EndReason::NoLongerNeeded,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EndReason::MovedAway => "moved_away",
            EndReason::Deceased => "deceased",
            EndReason::Declined => "declined",
            EndReason::NoLongerNeeded => "no_longer_needed",
            EndReason::Removed => "removed_from_registry",
        }
    }

    pub fn text_key(self) -> &'static str {
        match self {
            EndReason::MovedAway => "care.end.moved_away",
            EndReason::Deceased => "care.end.deceased",
            EndReason::Declined => "care.end.declined",
            EndReason::NoLongerNeeded => "care.end.no_longer_needed",
            EndReason::Removed => "care.end.removed_from_registry",
        }
    }

    /// The reason stored as `code`, if it is one.
    pub fn from_code(code: &str) -> Option<EndReason> {
        Self::ALL
            .into_iter()
            .chain([EndReason::Removed])
            .find(|r| r.code() == code)
    }

    /// A reason a person may give (not [`EndReason::Removed`]).
    pub fn parse(s: &str) -> Result<EndReason, Problem> {
        Self::ALL
            .into_iter()
            .find(|r| r.code() == s.trim())
            .ok_or_else(|| {
                options_problem(
                    "care_bad_end_reason",
                    "care.bad_end_reason",
                    "reason",
                    s,
                    Self::ALL.map(|r| r.code()),
                )
            })
    }
}

fn options_problem<const N: usize>(
    code: &'static str,
    key: &'static str,
    field: &'static str,
    value: &str,
    options: [&str; N],
) -> Problem {
    Problem::new(code, key)
        .arg("value", value.trim())
        .arg("options", options.join(", "))
        .field(field)
}

/// Checks an interval set by hand.
pub fn check_interval(days: i64) -> Result<u32, Problem> {
    u32::try_from(days)
        .ok()
        .filter(|d| (1..=MAX_INTERVAL_DAYS).contains(d))
        .ok_or_else(|| {
            Problem::new("care_bad_interval", "care.bad_interval")
                .arg("value", days)
                .arg("max", MAX_INTERVAL_DAYS)
                .field("interval_days")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(tags: &[&str], interval_days: u32) -> VisitRule {
        VisitRule {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            interval_days,
        }
    }

    #[test]
    fn the_defaults_parse_and_the_most_frequent_match_wins() {
        let rules = parse_rules(&default_rules()).expect("defaults");
        let alone_85 = [Tag::Age60, Tag::Age80, Tag::LivingAlone];
        assert_eq!(
            plan_for(&rules, &alone_85).map(|r| r.interval_days),
            Some(7)
        );
        let alone_70 = [Tag::Age60, Tag::LivingAlone];
        assert_eq!(
            plan_for(&rules, &alone_70).map(|r| r.interval_days),
            Some(14)
        );
        let nest_65 = [Tag::Age60, Tag::EmptyNest];
        let r = plan_for(&rules, &nest_65).expect("empty nest 60+");
        assert_eq!(
            (r.interval_days, r.code().as_str()),
            (30, "age60+empty_nest")
        );
        // Living alone at 50 is not elderly care; 80 with family is visited monthly.
        assert!(plan_for(&rules, &[Tag::LivingAlone]).is_none());
        assert!(plan_for(&rules, &[Tag::Age60]).is_none());
        let old = plan_for(&rules, &[Tag::Age60, Tag::Age80]).expect("80+");
        assert_eq!((old.interval_days, old.code().as_str()), (30, "age80"));
    }

    #[test]
    fn tags_are_read_in_any_of_their_names() {
        let rules = parse_rules(&[rule(&["独居", "80+"], 3)]).expect("Chinese names");
        assert_eq!(rules[0].tags, vec![Tag::Age80, Tag::LivingAlone]);
        assert_eq!(rules[0].mask(), Tag::LivingAlone.bit());
        assert_eq!(rules[0].age(), Some(Tag::Age80));
    }

    #[test]
    fn bad_rules_say_which_and_why() {
        let cases: [(Vec<VisitRule>, &str); 6] = [
            (vec![rule(&["rich"], 7)], "care.visit_rule.unknown_tag"),
            (vec![rule(&[], 7)], "care.visit_rule.no_tags"),
            (
                vec![rule(&["age60", "age80"], 7)],
                "care.visit_rule.two_ages",
            ),
            (vec![rule(&["under18"], 7)], "care.visit_rule.child_tag"),
            (vec![rule(&["watch"], 0)], "care.visit_rule.bad_interval"),
            (
                vec![rule(&["watch"], 7), rule(&["重点关注"], 3)],
                "care.visit_rule.duplicate",
            ),
        ];
        for (rules, key) in cases {
            let e = parse_rules(&rules).expect_err(key);
            assert_eq!(e.key, key);
            assert_eq!(e.field, Some("rules"));
        }
        let e = parse_rules(&[rule(&["watch"], 7), rule(&["rich"], 7)]).expect_err("second");
        assert!(
            e.message(crate::i18n::Lang::En).contains("2"),
            "{}",
            e.message(crate::i18n::Lang::En)
        );
        let many: Vec<VisitRule> = (0..=MAX_RULES)
            .map(|i| rule(&["watch"], i as u32 + 1))
            .collect();
        assert_eq!(
            parse_rules(&many).expect_err("too many").key,
            "care.visit_rule.too_many"
        );
    }

    #[test]
    fn codes_round_trip() {
        for m in VisitMode::ALL {
            assert_eq!(VisitMode::parse(m.code()), Ok(m));
        }
        for r in EndReason::ALL {
            assert_eq!(EndReason::parse(r.code()), Ok(r));
        }
        let list = Concern::parse_list(&["mood".into(), "health".into(), "mood".into()]);
        assert_eq!(list, Ok(vec![Concern::Health, Concern::Mood]));
        assert_eq!(
            Concern::parse("lonely").expect_err("unknown").field,
            Some("concerns")
        );
        assert_eq!(
            check_interval(0).expect_err("zero").field,
            Some("interval_days")
        );
        assert_eq!(check_interval(30), Ok(30));
    }
}
