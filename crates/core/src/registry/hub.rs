//! Neighbourhood hubs (幸福邻里坊, practice 000; 邻里中心, practice 004): the community's
//! own service spaces, their form, their size and the functions they must hold.
//!
//! Practice 000 builds hubs in three forms with floor-area rules:
//! - 集聚式 (clustered): one large main building covering every function, at least 1,500 m²;
//! - 分散式 (distributed): one main building of at least 500 m² plus neighbouring
//!   auxiliary facilities;
//! - 嵌入式 (embedded): several single-function buildings, each at least 50 m².
//!
//! Functions follow one of two models: Shangcheng's "3+X" (party services, public services,
//! convenience services, plus X such as neighbourhood services; practice 000) or Quangang's
//! "1+6+X" (party building leading six services: childcare, elderly care, medical care,
//! food, leisure, affairs; plus X; practice 004).

use crate::i18n::{self, Lang};
use crate::Problem;

/// The three forms of a hub (practice 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HubKind {
    /// 集聚式: one main building of at least 1,500 m² covering every function.
    Clustered,
    /// 分散式: one main building of at least 500 m² and auxiliary facilities near it.
    Distributed,
    /// 嵌入式: single-function rooms of at least 50 m² each.
    Embedded,
}

impl HubKind {
    pub const ALL: [HubKind; 3] = [HubKind::Clustered, HubKind::Distributed, HubKind::Embedded];

    pub fn as_str(self) -> &'static str {
        match self {
            HubKind::Clustered => "clustered",
            HubKind::Distributed => "distributed",
            HubKind::Embedded => "embedded",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            HubKind::Clustered => "hub_kind.clustered",
            HubKind::Distributed => "hub_kind.distributed",
            HubKind::Embedded => "hub_kind.embedded",
        }
    }

    /// Accepts the code, the Chinese label with or without 式 (集聚式, 集聚) and the
    /// English label.
    pub fn parse(s: &str) -> Option<HubKind> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Self::ALL.into_iter().find(|k| {
            let zh = i18n::text(Lang::Zh, k.label_key());
            k.as_str().eq_ignore_ascii_case(s)
                || zh == s
                || zh.strip_suffix('式') == Some(s)
                || i18n::text(Lang::En, k.label_key()).eq_ignore_ascii_case(s)
        })
    }

    /// The least floor area of the main building (clustered, distributed) or of each room
    /// (embedded), in m².
    pub fn min_area_m2(self) -> f64 {
        match self {
            HubKind::Clustered => 1500.0,
            HubKind::Distributed => 500.0,
            HubKind::Embedded => 50.0,
        }
    }

    /// The roles of the spaces a hub of this kind is made of.
    pub fn roles(self) -> &'static [SpaceRole] {
        match self {
            HubKind::Clustered => &[SpaceRole::Main],
            HubKind::Distributed => &[SpaceRole::Main, SpaceRole::Satellite],
            HubKind::Embedded => &[SpaceRole::Room],
        }
    }
}

/// What a space is to its hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpaceRole {
    /// 主体建筑: the main building.
    Main,
    /// 辅助设施: an auxiliary facility near the main building (distributed hubs).
    Satellite,
    /// 功能用房: a single-function building or room (embedded hubs).
    Room,
}

impl SpaceRole {
    pub const ALL: [SpaceRole; 3] = [SpaceRole::Main, SpaceRole::Satellite, SpaceRole::Room];

    pub fn as_str(self) -> &'static str {
        match self {
            SpaceRole::Main => "main",
            SpaceRole::Satellite => "satellite",
            SpaceRole::Room => "room",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            SpaceRole::Main => "space_role.main",
            SpaceRole::Satellite => "space_role.satellite",
            SpaceRole::Room => "space_role.room",
        }
    }

    /// Accepts the code or the Chinese or English label.
    pub fn parse(s: &str) -> Option<SpaceRole> {
        let s = s.trim();
        Self::ALL.into_iter().find(|r| {
            r.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, r.label_key()) == s
                || i18n::text(Lang::En, r.label_key()).eq_ignore_ascii_case(s)
        })
    }
}

/// One space of a hub.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSpace {
    pub role: SpaceRole,
    pub name: String,
    /// Floor area in m².
    pub area_m2: f64,
    /// What the space is for; required of an embedded hub's rooms, each of which has one.
    pub function: Option<String>,
}

/// Formats an area for a message: whole numbers without decimals (420), others with up to
/// two (62.5).
fn area(a: f64) -> String {
    if a.fract() == 0.0 && a.abs() < 1e15 {
        format!("{a:.0}")
    } else {
        let s = format!("{a:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn problem(code: &'static str, key: &'static str) -> Problem {
    Problem::new(code, key).field("spaces")
}

/// Checks a hub's spaces against the rules of its kind. Every broken rule is its own
/// problem naming the space and the figures, so that one reading of the list says all there
/// is to fix:
/// - every space has a name and a finite area above 0;
/// - only the roles of the kind ([`HubKind::roles`]);
/// - clustered and distributed: exactly one main building, of at least 1,500 m² and 500 m²;
/// - distributed: at least one auxiliary facility;
/// - embedded: at least one room; each at least 50 m² and with its function.
pub fn validate_hub(kind: HubKind, spaces: &[HubSpace]) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    if spaces.is_empty() {
        return Err(vec![problem("hub_no_spaces", "hub_rule.no_spaces")]);
    }
    for (i, s) in spaces.iter().enumerate() {
        let name = s.name.trim();
        if name.is_empty() {
            problems
                .push(problem("hub_space_no_name", "hub_rule.space_no_name").arg("index", i + 1));
        }
        let shown = if name.is_empty() {
            format!("#{}", i + 1)
        } else {
            name.to_string()
        };
        let area_ok = s.area_m2.is_finite() && s.area_m2 > 0.0;
        if !area_ok {
            problems.push(
                problem("hub_bad_area", "hub_rule.bad_area")
                    .arg("name", &shown)
                    .arg("area", s.area_m2),
            );
        }
        if !kind.roles().contains(&s.role) {
            let key = match kind {
                HubKind::Clustered => "hub_rule.clustered_extra",
                HubKind::Distributed => "hub_rule.distributed_room",
                HubKind::Embedded => "hub_rule.embedded_not_room",
            };
            problems.push(problem("hub_wrong_role", key).arg("name", &shown));
            continue;
        }
        // The role fits the kind (checked above): a main building, or an embedded room,
        // has the kind's least area; auxiliary facilities have none.
        if s.role != SpaceRole::Satellite && area_ok && s.area_m2 < kind.min_area_m2() {
            let key = match kind {
                HubKind::Clustered => "hub_rule.clustered_too_small",
                HubKind::Distributed => "hub_rule.distributed_too_small",
                HubKind::Embedded => "hub_rule.room_too_small",
            };
            problems.push(
                problem("hub_too_small", key)
                    .arg("name", &shown)
                    .arg("area", area(s.area_m2))
                    .arg("min", area(kind.min_area_m2())),
            );
        }
        if s.role == SpaceRole::Room && s.function.as_deref().is_none_or(|f| f.trim().is_empty()) {
            problems.push(
                problem("hub_room_no_function", "hub_rule.room_no_function").arg("name", &shown),
            );
        }
    }
    let count = |role| spaces.iter().filter(|s| s.role == role).count();
    match kind {
        HubKind::Clustered | HubKind::Distributed => {
            let mains: Vec<&str> = spaces
                .iter()
                .filter(|s| s.role == SpaceRole::Main)
                .map(|s| s.name.trim())
                .collect();
            if mains.is_empty() {
                problems.push(problem("hub_no_main", "hub_rule.no_main"));
            } else if mains.len() > 1 {
                problems.push(
                    problem("hub_many_main", "hub_rule.many_main")
                        .arg("count", mains.len())
                        .arg("names", mains.join("、")),
                );
            }
            if kind == HubKind::Distributed && count(SpaceRole::Satellite) == 0 {
                problems.push(problem(
                    "hub_no_satellite",
                    "hub_rule.distributed_no_satellite",
                ));
            }
        }
        HubKind::Embedded => {
            if count(SpaceRole::Room) == 0 {
                problems.push(problem("hub_no_room", "hub_rule.embedded_no_room"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A hub function: the core services of the two models and the suggested X.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HubFunction {
    /// 党群服务 (3+X)
    PartyServices,
    /// 公共服务 (3+X)
    PublicServices,
    /// 便利服务 (3+X)
    ConvenienceServices,
    /// 邻里服务: the X that practice 000 names.
    NeighbourhoodServices,
    /// 党建引领 (the 1 of 1+6+X)
    PartyBuilding,
    /// 幼有所育
    Childcare,
    /// 老有所养
    ElderlyCare,
    /// 病有所医
    Medical,
    /// 食有所安
    Food,
    /// 居有所乐
    Leisure,
    /// 事有所办
    Affairs,
}

impl HubFunction {
    pub const ALL: [HubFunction; 11] = [
        HubFunction::PartyServices,
        HubFunction::PublicServices,
        HubFunction::ConvenienceServices,
        HubFunction::NeighbourhoodServices,
        HubFunction::PartyBuilding,
        HubFunction::Childcare,
        HubFunction::ElderlyCare,
        HubFunction::Medical,
        HubFunction::Food,
        HubFunction::Leisure,
        HubFunction::Affairs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HubFunction::PartyServices => "party_services",
            HubFunction::PublicServices => "public_services",
            HubFunction::ConvenienceServices => "convenience_services",
            HubFunction::NeighbourhoodServices => "neighbourhood_services",
            HubFunction::PartyBuilding => "party_building",
            HubFunction::Childcare => "childcare",
            HubFunction::ElderlyCare => "elderly_care",
            HubFunction::Medical => "medical",
            HubFunction::Food => "food",
            HubFunction::Leisure => "leisure",
            HubFunction::Affairs => "affairs",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            HubFunction::PartyServices => "hub_function.party_services",
            HubFunction::PublicServices => "hub_function.public_services",
            HubFunction::ConvenienceServices => "hub_function.convenience_services",
            HubFunction::NeighbourhoodServices => "hub_function.neighbourhood_services",
            HubFunction::PartyBuilding => "hub_function.party_building",
            HubFunction::Childcare => "hub_function.childcare",
            HubFunction::ElderlyCare => "hub_function.elderly_care",
            HubFunction::Medical => "hub_function.medical",
            HubFunction::Food => "hub_function.food",
            HubFunction::Leisure => "hub_function.leisure",
            HubFunction::Affairs => "hub_function.affairs",
        }
    }

    /// Accepts the code or the Chinese or English label.
    pub fn parse(s: &str) -> Option<HubFunction> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Self::ALL.into_iter().find(|f| {
            f.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, f.label_key()) == s
                || i18n::text(Lang::En, f.label_key()).eq_ignore_ascii_case(s)
        })
    }
}

/// The function model a hub follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HubModel {
    /// 3+X (practice 000, Shangcheng).
    ThreePlusX,
    /// 1+6+X (practice 004, Quangang).
    OnePlusSixPlusX,
}

impl HubModel {
    pub const ALL: [HubModel; 2] = [HubModel::ThreePlusX, HubModel::OnePlusSixPlusX];

    pub fn as_str(self) -> &'static str {
        match self {
            HubModel::ThreePlusX => "3+x",
            HubModel::OnePlusSixPlusX => "1+6+x",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            HubModel::ThreePlusX => "hub_model.three_plus_x",
            HubModel::OnePlusSixPlusX => "hub_model.one_plus_six_plus_x",
        }
    }

    /// Accepts `3+X`, `1+6+X` (any case, full-width plus too) and the labels.
    pub fn parse(s: &str) -> Option<HubModel> {
        let s: String = s
            .trim()
            .chars()
            .map(|c| if c == '＋' { '+' } else { c })
            .filter(|c| !c.is_whitespace())
            .collect();
        Self::ALL.into_iter().find(|m| {
            m.as_str().eq_ignore_ascii_case(&s)
                || i18n::text(Lang::Zh, m.label_key()) == s
                || i18n::text(Lang::En, m.label_key()).eq_ignore_ascii_case(&s)
        })
    }

    /// The functions every hub of the model must have.
    pub fn core(self) -> &'static [HubFunction] {
        match self {
            HubModel::ThreePlusX => &[
                HubFunction::PartyServices,
                HubFunction::PublicServices,
                HubFunction::ConvenienceServices,
            ],
            HubModel::OnePlusSixPlusX => &[
                HubFunction::PartyBuilding,
                HubFunction::Childcare,
                HubFunction::ElderlyCare,
                HubFunction::Medical,
                HubFunction::Food,
                HubFunction::Leisure,
                HubFunction::Affairs,
            ],
        }
    }

    /// The X functions the practice names as examples, offered first in a form.
    pub fn suggested_x(self) -> &'static [HubFunction] {
        match self {
            HubModel::ThreePlusX => &[HubFunction::NeighbourhoodServices],
            HubModel::OnePlusSixPlusX => &[],
        }
    }
}

/// Longest X function name accepted, in characters.
pub const MAX_FUNCTION_CHARS: usize = 30;

/// Checks a hub's list of functions against its model: every core function present (one
/// problem naming all that are missing), and every other entry, an X function, non-empty
/// and at most 30 characters. Core functions may be written by code or label.
pub fn check_functions(model: HubModel, functions: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut present = Vec::new();
    for f in functions {
        let name = f.trim();
        if let Some(known) = HubFunction::parse(name) {
            present.push(known);
        } else if name.is_empty() {
            problems.push(
                Problem::new("hub_function_empty", "hub_rule.function_empty").field("functions"),
            );
        } else if name.chars().count() > MAX_FUNCTION_CHARS {
            problems.push(
                Problem::new("hub_function_too_long", "hub_rule.function_too_long")
                    .arg("function", name)
                    .arg("max", MAX_FUNCTION_CHARS)
                    .field("functions"),
            );
        }
    }
    let missing: Vec<&str> = model
        .core()
        .iter()
        .filter(|f| !present.contains(f))
        .map(|f| i18n::text(Lang::Zh, f.label_key()))
        .collect();
    if !missing.is_empty() {
        problems.insert(
            0,
            Problem::new("hub_missing_functions", "hub_rule.missing_functions")
                .arg("model", i18n::text(Lang::Zh, model.label_key()))
                .arg("missing", missing.join("、"))
                .field("functions"),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(role: SpaceRole, name: &str, area_m2: f64, function: Option<&str>) -> HubSpace {
        HubSpace {
            role,
            name: name.to_string(),
            area_m2,
            function: function.map(str::to_string),
        }
    }

    fn keys(r: Result<(), Vec<Problem>>) -> Vec<&'static str> {
        r.err().unwrap_or_default().iter().map(|p| p.key).collect()
    }

    fn messages(r: Result<(), Vec<Problem>>, lang: Lang) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .iter()
            .map(|p| p.message(lang))
            .collect()
    }

    #[test]
    fn kinds_parse() {
        for k in HubKind::ALL {
            assert_eq!(HubKind::parse(k.as_str()), Some(k));
            assert_eq!(HubKind::parse(i18n::text(Lang::Zh, k.label_key())), Some(k));
            assert_eq!(HubKind::parse(i18n::text(Lang::En, k.label_key())), Some(k));
        }
        assert_eq!(HubKind::parse("集聚式"), Some(HubKind::Clustered));
        assert_eq!(HubKind::parse("分散"), Some(HubKind::Distributed));
        assert_eq!(HubKind::parse(" 嵌入式 "), Some(HubKind::Embedded));
        assert_eq!(HubKind::parse("式"), None);
        assert_eq!(HubKind::parse(""), None);
        for r in SpaceRole::ALL {
            assert_eq!(
                SpaceRole::parse(i18n::text(Lang::Zh, r.label_key())),
                Some(r)
            );
        }
        for m in HubModel::ALL {
            assert_eq!(HubModel::parse(m.as_str()), Some(m));
            assert!(i18n::has(m.label_key()));
        }
        assert_eq!(
            HubModel::parse("1 ＋ 6 + X"),
            Some(HubModel::OnePlusSixPlusX)
        );
        for f in HubFunction::ALL {
            assert_eq!(
                HubFunction::parse(i18n::text(Lang::Zh, f.label_key())),
                Some(f)
            );
            assert_eq!(HubFunction::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn valid_hubs() {
        let clustered = [space(SpaceRole::Main, "青荷苑邻里坊", 1500.0, None)];
        assert_eq!(validate_hub(HubKind::Clustered, &clustered), Ok(()));
        let distributed = [
            space(SpaceRole::Main, "红梅邻里中心", 620.0, None),
            space(SpaceRole::Satellite, "老年食堂", 80.0, Some("助餐")),
        ];
        assert_eq!(validate_hub(HubKind::Distributed, &distributed), Ok(()));
        let embedded = [
            space(SpaceRole::Room, "小书房", 50.0, Some("阅读")),
            space(SpaceRole::Room, "小修理", 62.5, Some("维修")),
        ];
        assert_eq!(validate_hub(HubKind::Embedded, &embedded), Ok(()));
    }

    #[test]
    fn clustered_rules() {
        let r = validate_hub(
            HubKind::Clustered,
            &[space(SpaceRole::Main, "XX", 1200.0, None)],
        );
        assert_eq!(keys(r.clone()), ["hub_rule.clustered_too_small"]);
        assert_eq!(
            messages(r, Lang::Zh),
            ["主体建筑“XX”面积 1200 ㎡，集聚式要求不少于 1500 ㎡。"]
        );
        let r = validate_hub(
            HubKind::Clustered,
            &[
                space(SpaceRole::Main, "A", 1600.0, None),
                space(SpaceRole::Main, "B", 1600.0, None),
                space(SpaceRole::Satellite, "C", 100.0, None),
            ],
        );
        assert_eq!(
            keys(r.clone()),
            ["hub_rule.clustered_extra", "hub_rule.many_main"]
        );
        assert!(messages(r, Lang::En)[1].contains("A、B"));
        let r = validate_hub(
            HubKind::Clustered,
            &[space(SpaceRole::Room, "R", 60.0, Some("x"))],
        );
        assert_eq!(keys(r), ["hub_rule.clustered_extra", "hub_rule.no_main"]);
    }

    #[test]
    fn distributed_rules() {
        let r = validate_hub(
            HubKind::Distributed,
            &[space(SpaceRole::Main, "XX", 420.0, None)],
        );
        assert_eq!(
            keys(r.clone()),
            [
                "hub_rule.distributed_too_small",
                "hub_rule.distributed_no_satellite"
            ]
        );
        assert_eq!(
            messages(r, Lang::Zh)[0],
            "主体建筑“XX”面积 420 ㎡，分散式要求不少于 500 ㎡。"
        );
        let r = validate_hub(
            HubKind::Distributed,
            &[
                space(SpaceRole::Satellite, "S", 40.0, None),
                space(SpaceRole::Room, "R", 40.0, None),
            ],
        );
        assert_eq!(keys(r), ["hub_rule.distributed_room", "hub_rule.no_main"]);
    }

    #[test]
    fn embedded_rules() {
        let r = validate_hub(
            HubKind::Embedded,
            &[
                space(SpaceRole::Room, "小剧场", 45.5, Some("演出")),
                space(SpaceRole::Room, "小饭桌", 60.0, None),
                space(SpaceRole::Room, "", 60.0, Some(" ")),
                space(SpaceRole::Main, "楼", 900.0, None),
            ],
        );
        assert_eq!(
            keys(r.clone()),
            [
                "hub_rule.room_too_small",
                "hub_rule.room_no_function",
                "hub_rule.space_no_name",
                "hub_rule.room_no_function",
                "hub_rule.embedded_not_room",
            ]
        );
        let m = messages(r, Lang::Zh);
        assert!(
            m[0].contains("小剧场") && m[0].contains("45.5") && m[0].contains("50"),
            "{}",
            m[0]
        );
        assert!(m[3].contains("#3"), "{}", m[3]);
        let r = validate_hub(
            HubKind::Embedded,
            &[space(SpaceRole::Main, "楼", 900.0, None)],
        );
        assert_eq!(
            keys(r),
            ["hub_rule.embedded_not_room", "hub_rule.embedded_no_room"]
        );
    }

    #[test]
    fn areas_must_be_finite_and_positive() {
        for a in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let r = validate_hub(
                HubKind::Distributed,
                &[
                    space(SpaceRole::Main, "M", a, None),
                    space(SpaceRole::Satellite, "S", 10.0, None),
                ],
            );
            assert_eq!(keys(r), ["hub_rule.bad_area"], "{a}");
        }
        assert_eq!(
            keys(validate_hub(HubKind::Embedded, &[])),
            ["hub_rule.no_spaces"]
        );
    }

    #[test]
    fn functions() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_functions(
            HubModel::ThreePlusX,
            &list(&[
                "党群服务",
                "public_services",
                "便利服务",
                "邻里服务",
                "共享厅"
            ])
        )
        .is_empty());
        let p = check_functions(HubModel::ThreePlusX, &list(&["党群服务"]));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "hub_rule.missing_functions");
        let m = p[0].message(Lang::Zh);
        assert!(m.contains("公共服务、便利服务") && m.contains("3+X"), "{m}");
        let six = list(&[
            "党建引领",
            "幼有所育",
            "老有所养",
            "病有所医",
            "食有所安",
            "居有所乐",
            "事有所办",
        ]);
        assert!(check_functions(HubModel::OnePlusSixPlusX, &six).is_empty());
        let p = check_functions(
            HubModel::OnePlusSixPlusX,
            &list(&["党建引领", "", &"长".repeat(31), "乡村振兴馆"]),
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "hub_rule.missing_functions",
                "hub_rule.function_empty",
                "hub_rule.function_too_long"
            ]
        );
        assert!(p[0].message(Lang::En).contains("幼有所育"));
        for p in &p {
            assert!(i18n::has(p.key));
            assert!(!p.message(Lang::En).contains('{'));
        }
    }
}
