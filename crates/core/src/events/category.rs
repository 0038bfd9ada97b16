//! Event categories and the two lists that route them.
//!
//! A category says how long handling may take (the deadline), how long past it an event
//! waits before it escalates by itself (the grace), at which level it is first handled and
//! which district department takes it when it climbs above the street. Together these rows
//! are the 属地管理 responsibility list (practice 003). Whether a grid may close an event of
//! the category on the spot is the category's default; a community's own 准入清单 (the
//! admission list behind 小事不出网格), when it has one, decides instead.
//!
//! The built-in set (`data/event_categories.csv`, `data/departments.csv`) is a sensible
//! Chinese default; districts edit it or import their own list from a workbook, which
//! [`parse_categories`] checks row by row.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::grid_import::RowError;
use crate::region::{Level, RegionCode};
use crate::table::{Table, TableRow};

/// Where an event of a category is first handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HandlingLevel {
    Grid,
    Community,
    Street,
    Department,
}

impl HandlingLevel {
    pub const ALL: [HandlingLevel; 4] = [
        HandlingLevel::Grid,
        HandlingLevel::Community,
        HandlingLevel::Street,
        HandlingLevel::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HandlingLevel::Grid => "grid",
            HandlingLevel::Community => "community",
            HandlingLevel::Street => "street",
            HandlingLevel::Department => "department",
        }
    }

    /// English or Chinese, as people write it in a workbook.
    pub fn parse(s: &str) -> Option<HandlingLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grid" | "网格" => Some(HandlingLevel::Grid),
            "community" | "社区" => Some(HandlingLevel::Community),
            "street" | "街道" | "矛调中心" | "街道矛调中心" => {
                Some(HandlingLevel::Street)
            }
            "department" | "部门" | "职能部门" => Some(HandlingLevel::Department),
            _ => None,
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            HandlingLevel::Grid => "events.level.grid",
            HandlingLevel::Community => "events.level.community",
            HandlingLevel::Street => "events.level.street",
            HandlingLevel::Department => "events.level.department",
        }
    }
}

/// One row of the responsibility list.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryDef {
    pub code: String,
    pub parent: Option<String>,
    pub name_zh: String,
    pub name_en: String,
    pub deadline_minutes: i64,
    pub grace_minutes: i64,
    pub level: HandlingLevel,
    /// The department (by code) that takes the category above the street.
    pub department: Option<String>,
    pub grid_may_close: bool,
}

/// A district department (职能部门).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentDef {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

/// The longest deadline a category may have: a year.
pub const MAX_DEADLINE_MINUTES: i64 = 365 * 24 * 60;

/// The built-in departments.
pub fn default_departments() -> &'static [DepartmentDef] {
    static DEFAULTS: OnceLock<Vec<DepartmentDef>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let table = csv_table(include_str!("../../data/departments.csv"));
        parse_departments(&table).unwrap_or_default()
    })
}

/// The built-in categories (checked by a test to parse without a single bad row).
pub fn default_categories() -> &'static [CategoryDef] {
    static DEFAULTS: OnceLock<Vec<CategoryDef>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let table = csv_table(include_str!("../../data/event_categories.csv"));
        let departments: HashSet<String> = default_departments()
            .iter()
            .map(|d| d.code.clone())
            .collect();
        parse_categories(&table, &departments, &HashSet::new()).unwrap_or_default()
    })
}

/// A CSV text read into a [`Table`] (the built-in lists; uploaded files go through the
/// `linli-sheet` crate, which also reads .xlsx and GBK).
pub fn csv_table(text: &str) -> Table {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table::default();
    for (i, record) in reader.records().enumerate() {
        let Ok(record) = record else { break };
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if i == 0 {
            table.headers = cells;
        } else {
            table.rows.push(TableRow { line: i + 1, cells });
        }
    }
    table
}

/// The headers of the responsibility list, Chinese and English.
pub const CATEGORY_COLUMNS: [(&str, &str); 9] = [
    ("事项代码", "code"),
    ("上级事项代码", "parent"),
    ("事项名称", "name_zh"),
    ("英文名称", "name_en"),
    ("办理时限（小时）", "deadline_hours"),
    ("超时宽限（小时）", "grace_hours"),
    ("处置层级", "level"),
    ("责任部门代码", "department"),
    ("网格可自办", "grid_may_close"),
];

pub const DEPARTMENT_COLUMNS: [(&str, &str); 3] = [
    ("部门代码", "code"),
    ("部门名称", "name_zh"),
    ("英文名称", "name_en"),
];

pub const ADMISSION_COLUMNS: [(&str, &str); 2] =
    [("社区代码", "community"), ("事项代码", "category")];

/// Column positions for `columns`, by either name; a missing required column is a row-0
/// error naming it.
fn locate(
    table: &Table,
    columns: &'static [(&'static str, &'static str)],
    required: &[&str],
    errors: &mut Vec<RowError>,
) -> HashMap<&'static str, usize> {
    let mut at = HashMap::new();
    for (zh, en) in columns {
        // Spreadsheets are typed with half-width brackets as often as full-width ones.
        let half_width = zh.replace('（', "(").replace('）', ")");
        match table.column(&[zh, en, &half_width]) {
            Some(i) => {
                at.insert(*en, i);
            }
            None if required.contains(en) => {
                errors.push(RowError::new(0, *en, "events.import.missing_column").arg("column", zh))
            }
            None => {}
        }
    }
    at
}

fn valid_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn parse_yes_no(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "是" | "yes" | "y" | "true" | "1" | "可" => Some(true),
        "否" | "no" | "n" | "false" | "0" | "" | "不可" => Some(false),
        _ => None,
    }
}

/// Hours as people write them (`24`, `0.25`, `1.5`) to whole minutes.
fn parse_hours(s: &str) -> Option<i64> {
    let h: f64 = s.trim().parse().ok()?;
    if !h.is_finite() || h < 0.0 {
        return None;
    }
    let minutes = (h * 60.0).round();
    (minutes <= MAX_DEADLINE_MINUTES as f64).then_some(minutes as i64)
}

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 60 && !s.chars().any(char::is_control)
}

/// Checks a responsibility list. `departments` are the department codes that exist (or
/// arrive in the same import); `existing` the category codes already stored, which a row
/// may name as its parent. Every bad row is reported; nothing is returned unless all are good.
pub fn parse_categories(
    table: &Table,
    departments: &HashSet<String>,
    existing: &HashSet<String>,
) -> Result<Vec<CategoryDef>, Vec<RowError>> {
    let mut errors = Vec::new();
    let at = locate(
        table,
        &CATEGORY_COLUMNS,
        &["code", "name_zh", "deadline_hours", "level"],
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    let in_file: HashSet<&str> = at
        .get("code")
        .map(|&c| table.rows.iter().map(|r| r.cell(c)).collect())
        .unwrap_or_default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for row in &table.rows {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |name: &str| at.get(name).map(|&i| row.cell(i).trim()).unwrap_or("");
        let line = row.line;
        let before = errors.len();
        let code = cell("code").to_string();
        if !valid_code(&code) {
            errors.push(RowError::new(line, "code", "events.import.bad_code").arg("value", &code));
        } else if let Some(first) = seen.insert(code.clone(), line) {
            errors.push(
                RowError::new(line, "code", "events.import.duplicate_code")
                    .arg("value", &code)
                    .arg("line", first),
            );
        }
        let parent = Some(cell("parent").to_string()).filter(|p| !p.is_empty());
        if let Some(p) = &parent {
            if p == &code {
                errors.push(RowError::new(line, "parent", "events.import.parent_self"));
            } else if !in_file.contains(p.as_str()) && !existing.contains(p) {
                errors.push(
                    RowError::new(line, "parent", "events.import.unknown_parent").arg("value", p),
                );
            }
        }
        let name_zh = cell("name_zh").to_string();
        if !name_ok(&name_zh) {
            errors.push(RowError::new(line, "name_zh", "events.import.bad_name"));
        }
        let name_en = match cell("name_en") {
            "" => name_zh.clone(),
            s if name_ok(s) => s.to_string(),
            _ => {
                errors.push(RowError::new(line, "name_en", "events.import.bad_name"));
                String::new()
            }
        };
        let deadline = parse_hours(cell("deadline_hours")).filter(|&m| m > 0);
        if deadline.is_none() {
            errors.push(
                RowError::new(line, "deadline_hours", "events.import.bad_hours")
                    .arg("value", cell("deadline_hours")),
            );
        }
        let grace = match cell("grace_hours") {
            "" => deadline.map(|d| d / 2),
            s => parse_hours(s),
        };
        if grace.is_none() && deadline.is_some() {
            errors.push(
                RowError::new(line, "grace_hours", "events.import.bad_hours")
                    .arg("value", cell("grace_hours")),
            );
        }
        let level = HandlingLevel::parse(cell("level"));
        if level.is_none() {
            errors.push(
                RowError::new(line, "level", "events.import.bad_level").arg("value", cell("level")),
            );
        }
        let department = Some(cell("department").to_string()).filter(|d| !d.is_empty());
        match &department {
            Some(d) if !departments.contains(d) => errors.push(
                RowError::new(line, "department", "events.import.unknown_department")
                    .arg("value", d),
            ),
            None if level == Some(HandlingLevel::Department) => errors.push(RowError::new(
                line,
                "department",
                "events.import.department_required",
            )),
            _ => {}
        }
        let grid_may_close = parse_yes_no(cell("grid_may_close"));
        if grid_may_close.is_none() {
            errors.push(
                RowError::new(line, "grid_may_close", "events.import.bad_yes_no")
                    .arg("value", cell("grid_may_close")),
            );
        }
        if errors.len() > before {
            continue;
        }
        if let (Some(deadline_minutes), Some(grace_minutes), Some(level), Some(grid_may_close)) =
            (deadline, grace, level, grid_may_close)
        {
            out.push(CategoryDef {
                code,
                parent,
                name_zh,
                name_en,
                deadline_minutes,
                grace_minutes,
                level,
                department,
                grid_may_close,
            });
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(RowError::new(0, "file", "events.import.empty"));
    }
    // A parent chain that loops would make the tree endless.
    if errors.is_empty() {
        let parents: HashMap<&str, &str> = out
            .iter()
            .filter_map(|c| c.parent.as_deref().map(|p| (c.code.as_str(), p)))
            .collect();
        for (c, line) in out.iter().zip(table.rows.iter().map(|r| r.line)) {
            let mut cur = c.code.as_str();
            for _ in 0..=out.len() {
                match parents.get(cur) {
                    Some(p) if *p == c.code => {
                        errors.push(
                            RowError::new(line, "parent", "events.import.parent_loop")
                                .arg("value", &c.code),
                        );
                        break;
                    }
                    Some(p) => cur = p,
                    None => break,
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Checks a list of departments.
pub fn parse_departments(table: &Table) -> Result<Vec<DepartmentDef>, Vec<RowError>> {
    let mut errors = Vec::new();
    let at = locate(
        table,
        &DEPARTMENT_COLUMNS,
        &["code", "name_zh"],
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for row in &table.rows {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |name: &str| at.get(name).map(|&i| row.cell(i).trim()).unwrap_or("");
        let before = errors.len();
        let code = cell("code").to_string();
        if !valid_code(&code) {
            errors.push(
                RowError::new(row.line, "code", "events.import.bad_code").arg("value", &code),
            );
        } else if let Some(first) = seen.insert(code.clone(), row.line) {
            errors.push(
                RowError::new(row.line, "code", "events.import.duplicate_code")
                    .arg("value", &code)
                    .arg("line", first),
            );
        }
        let name_zh = cell("name_zh").to_string();
        if !name_ok(&name_zh) {
            errors.push(RowError::new(row.line, "name_zh", "events.import.bad_name"));
        }
        let name_en = Some(cell("name_en").to_string())
            .filter(|n| name_ok(n))
            .unwrap_or_else(|| name_zh.clone());
        if errors.len() == before {
            out.push(DepartmentDef {
                code,
                name_zh,
                name_en,
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Checks a grid admission list (准入清单): rows of (community code, category code), each a
/// category the community's grids may close on the spot. `categories` are the codes that
/// exist. Returns the pairs, grouped by community in file order.
pub fn parse_admissions(
    table: &Table,
    categories: &HashSet<String>,
) -> Result<Vec<(RegionCode, String)>, Vec<RowError>> {
    let mut errors = Vec::new();
    let at = locate(
        table,
        &ADMISSION_COLUMNS,
        &["community", "category"],
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for row in &table.rows {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |name: &str| at.get(name).map(|&i| row.cell(i).trim()).unwrap_or("");
        let community = match RegionCode::parse(cell("community")) {
            Ok(c) if c.level() == Level::Community => Some(c),
            _ => {
                errors.push(
                    RowError::new(row.line, "community", "events.import.bad_community")
                        .arg("value", cell("community")),
                );
                None
            }
        };
        let category = cell("category").to_string();
        if !categories.contains(&category) {
            errors.push(
                RowError::new(row.line, "category", "events.import.unknown_category")
                    .arg("value", &category),
            );
            continue;
        }
        if let Some(c) = community {
            if seen.insert((c, category.clone())) {
                out.push((c, category));
            }
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(RowError::new(0, "file", "events.import.empty"));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_lists_parse_whole() {
        let table = csv_table(include_str!("../../data/event_categories.csv"));
        let departments: HashSet<String> = default_departments()
            .iter()
            .map(|d| d.code.clone())
            .collect();
        assert_eq!(departments.len(), 10);
        let parsed = parse_categories(&table, &departments, &HashSet::new());
        let cats = parsed.expect("built-in categories parse");
        assert_eq!(cats.len(), table.rows.len());
        assert_eq!(default_categories().len(), cats.len());
        for name in [
            "环境卫生",
            "市政设施",
            "园林绿化",
            "违章搭建",
            "噪音扰民",
            "邻里纠纷",
            "物业管理",
            "安全隐患",
            "消防通道",
            "养老服务",
            "其他",
        ] {
            assert!(
                cats.iter().any(|c| c.name_zh == name && c.parent.is_none()),
                "{name}"
            );
        }
        let fire = cats
            .iter()
            .find(|c| c.code == "fire.blocked")
            .expect("fire lane");
        assert_eq!(fire.deadline_minutes, 12 * 60);
        assert!(fire.grid_may_close);
    }

    fn table(lines: &[&str]) -> Table {
        csv_table(&lines.join("\n"))
    }

    #[test]
    fn every_bad_row_of_a_responsibility_list_is_named() {
        let deps: HashSet<String> = ["cgj".to_string()].into();
        let t = table(&[
            "事项代码,上级事项代码,事项名称,办理时限（小时）,处置层级,责任部门代码,网格可自办",
            "a,,甲,24,网格,cgj,是",
            "a,,甲二,24,网格,,否",
            "b,zz,乙,0,部门,,也许",
            "C!,,丙,abc,楼栋,nope,否",
        ]);
        let errs = parse_categories(&t, &deps, &HashSet::new()).expect_err("bad rows");
        let got: Vec<(usize, &str, &str)> = errs
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.key))
            .collect();
        assert!(got.contains(&(3, "code", "events.import.duplicate_code")));
        assert!(got.contains(&(4, "parent", "events.import.unknown_parent")));
        assert!(got.contains(&(4, "deadline_hours", "events.import.bad_hours")));
        assert!(got.contains(&(4, "department", "events.import.department_required")));
        assert!(got.contains(&(4, "grid_may_close", "events.import.bad_yes_no")));
        assert!(got.contains(&(5, "code", "events.import.bad_code")));
        assert!(got.contains(&(5, "level", "events.import.bad_level")));
        assert!(got.contains(&(5, "department", "events.import.unknown_department")));
    }

    #[test]
    fn a_missing_column_and_a_parent_loop_are_refused() {
        let t = table(&["事项代码,事项名称", "a,甲"]);
        let errs = parse_categories(&t, &HashSet::new(), &HashSet::new()).expect_err("columns");
        assert!(errs
            .iter()
            .all(|e| e.row == 0 && e.key == "events.import.missing_column"));
        let t = table(&[
            "code,parent,name_zh,deadline_hours,level",
            "a,b,甲,1,grid",
            "b,a,乙,1,grid",
        ]);
        let errs = parse_categories(&t, &HashSet::new(), &HashSet::new()).expect_err("loop");
        assert!(errs.iter().any(|e| e.key == "events.import.parent_loop"));
    }

    #[test]
    fn admission_lists_name_communities_and_known_categories() {
        let cats: HashSet<String> = ["fire".to_string(), "noise".to_string()].into();
        let t = table(&[
            "社区代码,事项代码",
            "330102001001,fire",
            "330102001001,fire",
            "330102001,noise",
            "330102001002,x",
        ]);
        let errs = parse_admissions(&t, &cats).expect_err("bad rows");
        assert_eq!(errs.len(), 2);
        let t = table(&[
            "社区代码,事项代码",
            "330102001001,fire",
            "330102001001,fire",
        ]);
        let ok = parse_admissions(&t, &cats).expect("good list");
        assert_eq!(ok.len(), 1, "a repeated row counts once");
    }
}
