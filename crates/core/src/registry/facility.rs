//! The facility typology of the community health check (社区体检, practice 002): Hangzhou's
//! 8 categories of services and its 20 key facility types, each with the life circle it
//! belongs to, the walking distance it must be within, and the OpenStreetMap tags that
//! identify it in imported map data.
//!
//! The table is data, not code (`data/facility_types.csv`, documented with its sources in
//! `data/FACILITY_TYPES.md`): a district may adapt it to its own planning rules by uploading
//! an edited copy, which [`parse_types_csv`] checks row by row.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::grid_import::RowError;
use crate::i18n::{self, Lang};

/// The 8 categories of community services (治理、教育、养老、卫生、文化、商业、体育、便民).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Governance,
    Education,
    Elderly,
    Health,
    Culture,
    Commerce,
    Sport,
    Convenience,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Governance,
        Category::Education,
        Category::Elderly,
        Category::Health,
        Category::Culture,
        Category::Commerce,
        Category::Sport,
        Category::Convenience,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Governance => "governance",
            Category::Education => "education",
            Category::Elderly => "elderly",
            Category::Health => "health",
            Category::Culture => "culture",
            Category::Commerce => "commerce",
            Category::Sport => "sport",
            Category::Convenience => "convenience",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Category::Governance => "facility_category.governance",
            Category::Education => "facility_category.education",
            Category::Elderly => "facility_category.elderly",
            Category::Health => "facility_category.health",
            Category::Culture => "facility_category.culture",
            Category::Commerce => "facility_category.commerce",
            Category::Sport => "facility_category.sport",
            Category::Convenience => "facility_category.convenience",
        }
    }

    /// Accepts the code or the Chinese or English label.
    pub fn parse(s: &str) -> Option<Category> {
        let s = s.trim();
        Self::ALL.into_iter().find(|c| {
            c.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, c.label_key()) == s
                || i18n::text(Lang::En, c.label_key()).eq_ignore_ascii_case(s)
        })
    }
}

/// Keys that say what kind of place a feature is (`amenity=school`). A tag of any other
/// key qualifies or refines one of these, and is more specific; see [`tag_rank`].
pub const KIND_KEYS: &[&str] = &[
    "amenity",
    "shop",
    "leisure",
    "highway",
    "healthcare",
    "public_transport",
    "office",
    "craft",
    "tourism",
    "sport",
    "building",
    "landuse",
    "man_made",
    "emergency",
    "railway",
    "club",
];

/// How specific an OpenStreetMap tag is, from its key:
/// 1. a kind (`amenity=school`, `shop=supermarket`): the key is one of [`KIND_KEYS`];
/// 2. a qualifier, whose key has a colon (`isced:level=2`, `social_facility:for=senior`):
///    it narrows a kind down (what level of school, whom a facility serves);
/// 3. a refinement, another plain key (`social_facility=nursing_home`,
///    `community_centre=youth_centre`): it names the exact kind within a generic one.
///
/// So a school with `isced:level=2` is a middle school, not the primary school that a bare
/// `amenity=school` is taken for; and a social facility for seniors is a nursing home when
/// it says `social_facility=nursing_home`, a day-care centre otherwise.
pub fn tag_rank(key: &str) -> u8 {
    if KIND_KEYS.contains(&key) {
        1
    } else if key.contains(':') {
        2
    } else {
        3
    }
}

/// Whether a feature's value for a key holds `value`: equal, or one of the values the OSM
/// way lists several (`isced:level=1;2`).
fn value_holds(feature_value: &str, value: &str) -> bool {
    feature_value.split(';').any(|v| v.trim() == value)
}

/// A facility type of the health check.
#[derive(Debug, Clone, PartialEq)]
pub struct FacilityType {
    /// Stable code, e.g. `kindergarten`: lower-case letters, digits and `_`.
    pub code: String,
    pub category: Category,
    /// The Chinese name; alternatives are separated by `/` (`菜市场/生鲜超市`), each of
    /// which [`find_type`] accepts.
    pub name_zh: String,
    pub name_en: String,
    /// The life circle (5, 10 or 15 minutes' walk) the facility is planned for.
    pub circle_minutes: u8,
    /// The walking distance, in metres, within which a home counts as served.
    pub radius_m: u32,
    /// The OpenStreetMap tags (key, value) that identify the type, each claimed by one type
    /// only; see [`match_osm`].
    pub osm: Vec<(String, String)>,
}

impl FacilityType {
    /// The name in `lang`.
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.name_zh,
            Lang::En => &self.name_en,
        }
    }
}

/// The life circles of GB 50180-2018.
pub const CIRCLES: [u8; 3] = [5, 10, 15];

/// The range of radii accepted, in metres: below 100 m nobody is served; beyond 2 km it is
/// no longer a walk.
pub const RADIUS_RANGE: std::ops::RangeInclusive<u32> = 100..=2000;

const BUILTIN_CSV: &str = include_str!("../../data/facility_types.csv");

/// The built-in typology (practice 002's 20 key facility types), parsed once.
pub fn builtin_types() -> &'static [FacilityType] {
    static TYPES: OnceLock<Vec<FacilityType>> = OnceLock::new();
    TYPES.get_or_init(|| match parse_types_csv(BUILTIN_CSV) {
        Ok(types) => types,
        // The file is part of the source and a test parses it: this is a build defect.
        Err(errors) => panic!("data/facility_types.csv is invalid: {errors:?}"),
    })
}

/// The type whose code (any ASCII case), Chinese name, one of the Chinese name's `/`
/// alternatives, or English name (any ASCII case) is `s`.
pub fn find_type<'a>(types: &'a [FacilityType], s: &str) -> Option<&'a FacilityType> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    types.iter().find(|t| {
        t.code.eq_ignore_ascii_case(s)
            || t.name_zh == s
            || t.name_zh.split('/').any(|n| n.trim() == s)
            || t.name_en.eq_ignore_ascii_case(s)
    })
}

/// The facility type an OpenStreetMap feature with `tags` is, if any. Each type's tags are
/// matched against the feature's; the most specific matched tag ([`tag_rank`]) decides, and
/// between equally specific ones the type listed first. A feature none of whose tags is
/// claimed is not a facility of the health check.
pub fn match_osm<'a>(types: &'a [FacilityType], tags: &[(&str, &str)]) -> Option<&'a FacilityType> {
    let mut best: Option<(u8, &FacilityType)> = None;
    for t in types {
        for (k, v) in &t.osm {
            let matched = tags
                .iter()
                .any(|(fk, fv)| fk.trim() == k && value_holds(fv, v));
            let rank = tag_rank(k);
            if matched && best.is_none_or(|(b, _)| rank > b) {
                best = Some((rank, t));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// Reads one `key=value`; `None` if it is not that.
fn parse_tag(s: &str) -> Option<(String, String)> {
    let (k, v) = s.split_once('=')?;
    let (k, v) = (k.trim(), v.trim());
    let bad_key = k.is_empty() || k.chars().any(|c| c.is_whitespace() || c == '=');
    if bad_key || v.is_empty() || v.contains('=') {
        return None;
    }
    Some((k.to_string(), v.to_string()))
}

// ---------------------------------------------------------------------------------------------
// The CSV table

/// The columns of the typology table, with the Chinese headers also accepted.
const COLUMNS: [(&str, &str); 7] = [
    ("code", "代码"),
    ("category", "类别"),
    ("name_zh", "中文名称"),
    ("name_en", "英文名称"),
    ("circle_minutes", "生活圈"),
    ("radius_m", "服务半径"),
    ("osm_tags", "OSM标签"),
];

/// Columns that may be left out of an edited table.
const OPTIONAL: [&str; 1] = ["osm_tags"];

const MAX_CODE_CHARS: usize = 40;
const MAX_NAME_CHARS: usize = 50;

/// The 1-based line of the record whose bytes start at `byte`: spreadsheets number lines
/// so. The csv crate may point at the line break before a record, so breaks are skipped.
fn line_at(text: &str, byte: usize) -> usize {
    let bytes = text.as_bytes();
    let mut start = byte.min(bytes.len());
    while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    1 + bytes[..start]
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// Reads an uploaded typology table (columns `code,category,name_zh,name_en,
/// circle_minutes,radius_m,osm_tags`; `osm_tags` is `key=value` tags separated by `;`).
/// Every problem is reported with its line and column: an unknown category, a circle other
/// than 5, 10 or 15 minutes, a radius outside 100–2000 m, a code given twice, an OSM tag
/// claimed by two types.
pub fn parse_types_csv(text: &str) -> Result<Vec<FacilityType>, Vec<RowError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let mut types = Vec::new();
    let mut at: [Option<usize>; 7] = [None; 7];
    let mut header_seen = false;
    let mut codes: HashMap<String, usize> = HashMap::new();
    let mut claimed: HashMap<(String, String), (usize, String)> = HashMap::new();

    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError::new(0, "file", "import.csv_error").arg("line", line));
                break;
            }
        };
        let line = record.position().map_or(0, |p| {
            line_at(text, usize::try_from(p.byte()).unwrap_or(usize::MAX))
        });
        if !header_seen {
            header_seen = true;
            read_header(&record, &mut at, &mut errors);
            continue;
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let cell = |i: usize| at[i].and_then(|c| record.get(c)).unwrap_or("").trim();
        let before = errors.len();
        let err = |field: &str, key: &'static str| RowError::new(line, field, key);

        // A column missing from the header was reported there, not again on every row.
        let has = |i: usize| at[i].is_some();
        let code = cell(0);
        if !has(0) {
            // Reported in the header.
        } else if code.is_empty() {
            errors.push(err("code", "rows.required"));
        } else if code.chars().count() > MAX_CODE_CHARS
            || !code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            errors.push(err("code", "typology.bad_code").arg("value", code));
        } else if let Some(&first) = codes.get(code) {
            errors.push(
                err("code", "typology.duplicate_code")
                    .arg("code", code)
                    .arg("first", first),
            );
        } else {
            codes.insert(code.to_string(), line);
        }

        let category = Category::parse(cell(1));
        if category.is_none() && has(1) {
            errors.push(if cell(1).is_empty() {
                err("category", "rows.required")
            } else {
                err("category", "typology.unknown_category")
                    .arg("value", cell(1))
                    .arg("options", category_options())
            });
        }

        for (i, field) in [(2, "name_zh"), (3, "name_en")] {
            let name = cell(i);
            if !has(i) {
                // Reported in the header.
            } else if name.is_empty() {
                errors.push(err(field, "rows.required"));
            } else if name.chars().count() > MAX_NAME_CHARS {
                errors.push(err(field, "rows.too_long").arg("max", MAX_NAME_CHARS));
            } else if name.chars().any(char::is_control) {
                errors.push(err(field, "rows.control_chars"));
            }
        }

        let circle = cell(4).parse::<u8>().ok().filter(|c| CIRCLES.contains(c));
        if circle.is_none() && has(4) {
            errors.push(err("circle_minutes", "typology.bad_circle").arg("value", cell(4)));
        }
        let radius = cell(5)
            .parse::<u32>()
            .ok()
            .filter(|r| RADIUS_RANGE.contains(r));
        if radius.is_none() && has(5) {
            errors.push(
                err("radius_m", "typology.bad_radius")
                    .arg("value", cell(5))
                    .arg("min", RADIUS_RANGE.start())
                    .arg("max", RADIUS_RANGE.end()),
            );
        }

        let mut osm: Vec<(String, String)> = Vec::new();
        for part in cell(6).split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some(tag) = parse_tag(part) else {
                errors.push(err("osm_tags", "typology.bad_osm").arg("value", part));
                continue;
            };
            if osm.contains(&tag) {
                continue;
            }
            match claimed.get(&tag) {
                Some((first, other)) if *other != code => errors.push(
                    err("osm_tags", "typology.duplicate_osm")
                        .arg("tag", format!("{}={}", tag.0, tag.1))
                        .arg("code", other)
                        .arg("first", first),
                ),
                _ => {
                    claimed.insert(tag.clone(), (line, code.to_string()));
                }
            }
            osm.push(tag);
        }

        if let (Some(category), Some(circle_minutes), Some(radius_m)) = (category, circle, radius) {
            if errors.len() == before {
                types.push(FacilityType {
                    code: code.to_string(),
                    category,
                    name_zh: cell(2).to_string(),
                    name_en: cell(3).to_string(),
                    circle_minutes,
                    radius_m,
                    osm,
                });
            }
        }
    }
    if !header_seen {
        errors.push(RowError::new(0, "file", "typology.empty_file"));
    } else if types.is_empty() && errors.is_empty() {
        errors.push(RowError::new(0, "file", "rows.no_rows"));
    }
    if errors.is_empty() {
        Ok(types)
    } else {
        errors.sort_by_key(|e| e.row);
        Err(errors)
    }
}

fn category_options() -> String {
    Category::ALL
        .iter()
        .map(|c| format!("{}（{}）", i18n::text(Lang::Zh, c.label_key()), c.as_str()))
        .collect::<Vec<_>>()
        .join("、")
}

fn read_header(
    record: &csv::StringRecord,
    at: &mut [Option<usize>; 7],
    errors: &mut Vec<RowError>,
) {
    let mut unknown = Vec::new();
    for (i, name) in record.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        match COLUMNS
            .iter()
            .position(|(en, zh)| en.eq_ignore_ascii_case(name) || *zh == name)
        {
            Some(c) if at[c].is_none() => at[c] = Some(i),
            Some(c) => errors.push(
                RowError::new(0, COLUMNS[c].0, "rows.duplicate_column")
                    .arg("first", record.get(at[c].unwrap_or(0)).unwrap_or(""))
                    .arg("second", name),
            ),
            None => unknown.push(name.to_string()),
        }
    }
    if !unknown.is_empty() {
        errors.push(
            RowError::new(0, "file", "rows.unknown_columns")
                .arg("columns", unknown.join("、"))
                .arg(
                    "expected",
                    COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join(", "),
                ),
        );
    }
    for (c, (en, zh)) in COLUMNS.iter().enumerate() {
        if at[c].is_none() && !OPTIONAL.contains(en) {
            errors.push(
                RowError::new(0, *en, "rows.missing_column").arg("column", format!("{zh}（{en}）")),
            );
        }
    }
}

/// The table as CSV, in the form [`parse_types_csv`] reads: what an administrator
/// downloads, edits and uploads again.
pub fn types_csv(types: &[FacilityType]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    // Writing to a Vec cannot fail; a failed row would only be missing from the download.
    let _ = w.write_record(&header);
    for t in types {
        let osm = t
            .osm
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let _ = w.write_record([
            t.code.as_str(),
            t.category.as_str(),
            &t.name_zh,
            &t.name_en,
            &t.circle_minutes.to_string(),
            &t.radius_m.to_string(),
            &osm,
        ]);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(errors: &[RowError]) -> Vec<(usize, &str, &str)> {
        errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.key))
            .collect()
    }

    fn code_of(tags: &[(&str, &str)]) -> Option<&'static str> {
        match_osm(builtin_types(), tags).map(|t| t.code.as_str())
    }

    #[test]
    fn builtin_table_has_20_types_in_8_categories() {
        let types = builtin_types();
        assert_eq!(types.len(), 20);
        for c in Category::ALL {
            assert!(types.iter().any(|t| t.category == c), "{c:?} has no type");
            assert!(i18n::has(c.label_key()));
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(
                Category::parse(i18n::text(Lang::Zh, c.label_key())),
                Some(c)
            );
        }
        for t in types {
            // GB 50180-2018: 5 min 300 m, 10 min 500 m, 15 min 800–1000 m.
            let ok = match t.circle_minutes {
                5 => t.radius_m == 300,
                10 => t.radius_m == 500,
                15 => (800..=1000).contains(&t.radius_m),
                _ => false,
            };
            assert!(ok, "{} {} {}", t.code, t.circle_minutes, t.radius_m);
            assert_eq!(find_type(types, &t.code).map(|f| &f.code), Some(&t.code));
            assert_eq!(find_type(types, &t.name_zh).map(|f| &f.code), Some(&t.code));
            assert_eq!(t.name(Lang::En), t.name_en);
        }
        assert_eq!(
            find_type(types, "派出所").map(|t| t.code.as_str()),
            Some("police")
        );
        assert_eq!(
            find_type(types, "菜市场").map(|t| t.code.as_str()),
            Some("market")
        );
        assert_eq!(
            find_type(types, "KINDERGARTEN").map(|t| t.code.as_str()),
            Some("kindergarten")
        );
        assert_eq!(
            find_type(types, "Bus stop").map(|t| t.code.as_str()),
            Some("bus_stop")
        );
        assert!(find_type(types, "飞机场").is_none());
        assert!(find_type(types, "").is_none());
    }

    #[test]
    fn required_osm_tags_are_all_mapped() {
        let required = [
            ("amenity", "school"),
            ("amenity", "kindergarten"),
            ("amenity", "childcare"),
            ("amenity", "clinic"),
            ("amenity", "doctors"),
            ("amenity", "hospital"),
            ("amenity", "pharmacy"),
            ("amenity", "library"),
            ("amenity", "community_centre"),
            ("amenity", "nursing_home"),
            ("amenity", "marketplace"),
            ("amenity", "police"),
            ("amenity", "arts_centre"),
            ("shop", "supermarket"),
            ("shop", "convenience"),
            ("shop", "greengrocer"),
            ("leisure", "park"),
            ("leisure", "playground"),
            ("leisure", "garden"),
            ("leisure", "fitness_centre"),
            ("leisure", "fitness_station"),
            ("leisure", "sports_centre"),
            ("leisure", "pitch"),
            ("highway", "bus_stop"),
        ];
        for tag in required {
            assert!(code_of(&[tag]).is_some(), "{tag:?} is not mapped");
        }
    }

    #[test]
    fn the_most_specific_tag_wins() {
        let sf = ("amenity", "social_facility");
        let senior = ("social_facility:for", "senior");
        assert_eq!(
            code_of(&[sf]),
            None,
            "a bare social facility is not counted"
        );
        assert_eq!(
            code_of(&[sf, ("social_facility", "nursing_home")]),
            Some("nursing_home")
        );
        assert_eq!(
            code_of(&[sf, ("social_facility", "nursing_home"), senior]),
            Some("nursing_home"),
            "the refinement beats the qualifier"
        );
        assert_eq!(
            code_of(&[sf, ("social_facility", "assisted_living"), senior]),
            Some("nursing_home")
        );
        assert_eq!(
            code_of(&[sf, ("social_facility", "day_care"), senior]),
            Some("elderly_day_care")
        );
        assert_eq!(code_of(&[sf, senior]), Some("elderly_day_care"));
        assert_eq!(
            code_of(&[("amenity", "nursing_home")]),
            Some("nursing_home")
        );
        assert_eq!(code_of(&[("amenity", "school")]), Some("primary_school"));
        assert_eq!(
            code_of(&[("amenity", "school"), ("isced:level", "2")]),
            Some("middle_school")
        );
        assert_eq!(
            code_of(&[("amenity", "school"), ("isced:level", "2;3")]),
            Some("middle_school"),
            "multi-valued tags"
        );
        assert_eq!(
            code_of(&[("amenity", "school"), ("isced:level", "1;2")]),
            Some("primary_school"),
            "a nine-year school: the type listed first"
        );
        assert_eq!(
            code_of(&[
                ("amenity", "community_centre"),
                ("community_centre", "youth_centre")
            ]),
            Some("culture_station")
        );
        assert_eq!(
            code_of(&[("amenity", "community_centre")]),
            Some("community_service")
        );
        assert_eq!(
            code_of(&[("highway", "bus_stop"), ("public_transport", "platform")]),
            Some("bus_stop")
        );
        assert_eq!(code_of(&[("public_transport", "platform")]), None);
        assert_eq!(code_of(&[("amenity", "bench")]), None);
        assert_eq!(code_of(&[]), None);
        assert_eq!(
            (
                tag_rank("amenity"),
                tag_rank("isced:level"),
                tag_rank("social_facility")
            ),
            (1, 2, 3)
        );
    }

    #[test]
    fn no_tag_is_claimed_twice() {
        let mut seen = std::collections::HashSet::new();
        for t in builtin_types() {
            for tag in &t.osm {
                assert!(seen.insert(tag.clone()), "{tag:?} claimed twice");
            }
        }
    }

    #[test]
    fn the_table_round_trips_through_csv() {
        let text = types_csv(builtin_types());
        let again = parse_types_csv(&text).expect("valid");
        assert_eq!(again, builtin_types());
    }

    const HEADER: &str = "code,category,name_zh,name_en,circle_minutes,radius_m,osm_tags\n";

    #[test]
    fn every_row_problem_is_reported() {
        let text = format!(
            "{HEADER}\
             a,governance,甲,A,5,300,amenity=police\n\
             b,farming,乙,B,7,99,amenity=police\n\
             a,health,丙,C,15,2001,amenity\n\
             Bad-Code,sport,,D,10,500,leisure=park;sport\n\
             e,卫生,戊,E,10,abc,\n"
        );
        let e = parse_types_csv(&text).unwrap_err();
        assert_eq!(
            keys(&e),
            [
                (3, "category", "typology.unknown_category"),
                (3, "circle_minutes", "typology.bad_circle"),
                (3, "radius_m", "typology.bad_radius"),
                (3, "osm_tags", "typology.duplicate_osm"),
                (4, "code", "typology.duplicate_code"),
                (4, "radius_m", "typology.bad_radius"),
                (4, "osm_tags", "typology.bad_osm"),
                (5, "code", "typology.bad_code"),
                (5, "name_zh", "rows.required"),
                (5, "osm_tags", "typology.bad_osm"),
                (6, "radius_m", "typology.bad_radius"),
            ]
        );
        let m = e[3].message(Lang::Zh);
        assert!(m.contains("amenity=police") && m.contains("第 2 行"), "{m}");
        let m = e[4].message(Lang::En);
        assert!(m.contains("Row 4") && m.contains("row 2"), "{m}");
        for err in &e {
            assert!(i18n::has(err.key), "{}", err.key);
            for lang in [Lang::Zh, Lang::En] {
                assert!(!err.message(lang).contains('{'), "{}", err.message(lang));
            }
        }
    }

    #[test]
    fn header_problems() {
        let e = parse_types_csv("code,类别,name_zh,colour\nx,health,X,X\n").unwrap_err();
        assert_eq!(
            keys(&e),
            [
                (0, "file", "rows.unknown_columns"),
                (0, "name_en", "rows.missing_column"),
                (0, "circle_minutes", "rows.missing_column"),
                (0, "radius_m", "rows.missing_column"),
            ]
        );
        assert!(e[0].message(Lang::Zh).contains("colour"));
        assert_eq!(
            keys(&parse_types_csv("").unwrap_err()),
            [(0, "file", "typology.empty_file")]
        );
        assert_eq!(
            keys(&parse_types_csv(HEADER).unwrap_err()),
            [(0, "file", "rows.no_rows")]
        );
        // Without osm_tags, with Chinese headers, a BOM and CRLF.
        let ok = parse_types_csv(
            "\u{feff}代码,类别,中文名称,英文名称,生活圈,服务半径\r\nx,卫生,某,Some,10,600\r\n",
        )
        .expect("valid");
        assert_eq!(ok[0].category, Category::Health);
        assert!(ok[0].osm.is_empty());
    }

    #[test]
    fn lines_count_like_a_spreadsheet() {
        let text = format!("{HEADER}\r\n\r\na,governance,甲,A,5,300,\r\nb,x,乙,B,5,300,\r\n");
        let e = parse_types_csv(&text).unwrap_err();
        assert_eq!(keys(&e), [(5, "category", "typology.unknown_category")]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse_types_csv(&s);
            let _ = parse_types_csv(&format!("{HEADER}{s}"));
        }
    }
}
