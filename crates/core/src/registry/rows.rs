//! Reading the registry's import tables (residents, households, buildings, facilities) into
//! checked rows.
//!
//! Community offices keep these lists in Excel. A file is read whole and every problem of
//! every row is reported with its line and column, so that one round of corrections
//! suffices; an import writes nothing unless the whole file is sound (DESIGN: imports are
//! all-or-nothing). Checks that need the database (does the building exist, is this person
//! already registered elsewhere) are the store's.
//!
//! The columns of each kind are also the downloadable template: Chinese headers, which is
//! what offices type, while English headers and field codes are accepted too.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::facility::{find_type, FacilityType};
use super::household::{Relation, Tenure};
use super::idcard::{Gender, IdNumber};
use super::phone::Phone;
use super::tags::{parse_tag_list, Tag};
use crate::grid_import::RowError;
use crate::i18n::{self, Lang};
use crate::region::{Level, RegionCode};
use crate::table::{Table, TableRow};
use crate::Problem;

/// The kinds of record a registry import holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Residents,
    Households,
    Buildings,
    Facilities,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [
        RecordKind::Residents,
        RecordKind::Households,
        RecordKind::Buildings,
        RecordKind::Facilities,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Residents => "residents",
            RecordKind::Households => "households",
            RecordKind::Buildings => "buildings",
            RecordKind::Facilities => "facilities",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            RecordKind::Residents => "record.residents",
            RecordKind::Households => "record.households",
            RecordKind::Buildings => "record.buildings",
            RecordKind::Facilities => "record.facilities",
        }
    }

    pub fn parse(s: &str) -> Option<RecordKind> {
        let s = s.trim();
        Self::ALL.into_iter().find(|k| {
            k.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, k.label_key()) == s
                || i18n::text(Lang::En, k.label_key()).eq_ignore_ascii_case(s)
        })
    }
}

/// One column of an import table, and of its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The field code: what errors name (`import.field.{field}` labels it) and an accepted
    /// header.
    pub field: &'static str,
    /// The template's header.
    pub header_zh: &'static str,
    /// Also accepted as a header (any ASCII case).
    pub header_en: &'static str,
    pub required: bool,
    /// A valid value, for the template's example row.
    pub example: &'static str,
}

const fn col(
    field: &'static str,
    header_zh: &'static str,
    header_en: &'static str,
    required: bool,
    example: &'static str,
) -> Column {
    Column {
        field,
        header_zh,
        header_en,
        required,
        example,
    }
}

const RESIDENTS: &[Column] = &[
    col("name", "姓名", "Name", true, "张三"),
    col(
        "id_number",
        "身份证号",
        "ID number",
        true,
        "11010519491231002X",
    ),
    col("phone", "手机号", "Phone", false, "13812345678"),
    col("gender", "性别", "Gender", false, "女"),
    col("birth_date", "出生日期", "Birth date", false, "1949-12-31"),
    col("building", "楼栋", "Building", true, "3幢"),
    col("unit", "单元", "Unit", false, "2单元"),
    col("room", "室号", "Room", true, "301"),
    col("relation", "与户主关系", "Relation", false, "户主"),
    col("tags", "标签", "Tags", false, "独居、党员"),
];

const HOUSEHOLDS: &[Column] = &[
    col("building", "楼栋", "Building", true, "3幢"),
    col("unit", "单元", "Unit", false, "2单元"),
    col("room", "室号", "Room", true, "301"),
    col("tenure", "居住类型", "Tenure", true, "自住"),
    col("size", "人数", "Size", false, "3"),
];

const BUILDINGS: &[Column] = &[
    col("name", "楼栋", "Building", true, "3幢"),
    col(
        "address",
        "地址",
        "Address",
        true,
        "杭州市上城区清波街道河坊街 1 号",
    ),
    col("lon", "经度", "Longitude", false, "120.1694"),
    col("lat", "纬度", "Latitude", false, "30.2431"),
    col("floors", "层数", "Floors", false, "6"),
    col("units", "单元数", "Units", false, "3"),
    col("region", "网格", "Grid", false, "330102001001001"),
];

const FACILITIES: &[Column] = &[
    col("name", "名称", "Name", true, "清波街道社区卫生服务中心"),
    col("type", "类型", "Type", true, "社区卫生服务中心"),
    col(
        "address",
        "地址",
        "Address",
        false,
        "杭州市上城区劳动路 1 号",
    ),
    col("lon", "经度", "Longitude", false, "120.1650"),
    col("lat", "纬度", "Latitude", false, "30.2440"),
    col("floor_area_m2", "建筑面积", "Floor area", false, "1200"),
    col("hub", "所属邻里坊", "Hub", false, "清波邻里坊"),
];

/// The trailing column of an export: the community each row belongs to. An import of any
/// kind accepts it and checks it against the community the file is imported into
/// ([`check_community`]), so that a file exported from one community is not loaded into
/// another by mistake. It names no field of the record, so it is not among [`columns`].
pub const COMMUNITY_COLUMN: Column = col(
    "community",
    "社区代码",
    "Community code",
    false,
    "330102001051",
);

/// The columns of an import of `kind`, in template order.
pub fn columns(kind: RecordKind) -> &'static [Column] {
    match kind {
        RecordKind::Residents => RESIDENTS,
        RecordKind::Households => HOUSEHOLDS,
        RecordKind::Buildings => BUILDINGS,
        RecordKind::Facilities => FACILITIES,
    }
}

/// The downloadable template of `kind`: the Chinese headers, required ones marked with
/// `*` (which the reader ignores), and one example row.
pub fn template(kind: RecordKind) -> Table {
    let cols = columns(kind);
    Table {
        headers: cols
            .iter()
            .map(|c| {
                if c.required {
                    format!("{}*", c.header_zh)
                } else {
                    c.header_zh.to_string()
                }
            })
            .collect(),
        rows: vec![TableRow {
            line: 2,
            cells: cols.iter().map(|c| c.example.to_string()).collect(),
        }],
        lossy: Vec::new(),
    }
}

/// What a table yields: the sound rows, and the errors of the others (row 0: the file as a
/// whole), in line order.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub rows: Vec<T>,
    pub errors: Vec<RowError>,
}

impl<T> Parsed<T> {
    /// All rows, or every error: what an all-or-nothing import needs.
    pub fn into_result(self) -> Result<Vec<T>, Vec<RowError>> {
        if self.errors.is_empty() {
            Ok(self.rows)
        } else {
            Err(self.errors)
        }
    }
}

/// One resident.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidentRow {
    pub line: usize,
    pub name: String,
    pub id: IdNumber,
    pub phone: Option<Phone>,
    /// From the ID number (a gender column must agree with it).
    pub gender: Gender,
    /// From the ID number (a birth date column must agree with it).
    pub birth: NaiveDate,
    pub building: String,
    pub unit: Option<String>,
    pub room: String,
    /// [`Relation::Other`] when the cell is empty: the register has no "unknown".
    pub relation: Relation,
    /// Assigned tags only.
    pub tags: Vec<Tag>,
}

/// One household: a home and who lives there.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdRow {
    pub line: usize,
    pub building: String,
    pub unit: Option<String>,
    pub room: String,
    pub tenure: Tenure,
    pub size: Option<u32>,
}

/// One building.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildingRow {
    pub line: usize,
    pub name: String,
    pub address: String,
    /// WGS-84 [longitude, latitude], as GeoJSON orders them.
    pub location: Option<[f64; 2]>,
    pub floors: Option<u32>,
    pub units: Option<u32>,
    /// The community, grid or micro-grid it belongs to.
    pub region: Option<RegionCode>,
}

/// One facility.
#[derive(Debug, Clone, PartialEq)]
pub struct FacilityRow {
    pub line: usize,
    pub name: String,
    /// The code of its [`FacilityType`].
    pub type_code: String,
    pub address: Option<String>,
    /// WGS-84 [longitude, latitude].
    pub location: Option<[f64; 2]>,
    pub floor_area_m2: Option<f64>,
    /// The name of the neighbourhood hub it belongs to.
    pub hub: Option<String>,
}

/// Longest name (person, building, facility, hub), in characters.
pub const MAX_NAME_CHARS: usize = 50;
/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// Longest unit or room number, in characters.
pub const MAX_ROOM_CHARS: usize = 20;

/// China's extent in WGS-84 (with the South China Sea islands): longitude 73–136 E,
/// latitude 3–54 N. A point outside is a typing slip or swapped columns.
const LON_RANGE: std::ops::RangeInclusive<f64> = 73.0..=136.0;
const LAT_RANGE: std::ops::RangeInclusive<f64> = 3.0..=54.0;

// ---------------------------------------------------------------------------------------------
// Header and cells

/// A header as compared: trimmed, without the `*` that marks a required column in the
/// template, and without a trailing unit in brackets (`建筑面积（㎡）`).
fn header_forms(h: &str) -> [String; 2] {
    let h = h.trim();
    let bare = h.trim_end_matches(['*', '＊']).trim_end();
    let bare = match bare.rfind(['（', '(']) {
        Some(i) if bare.ends_with(['）', ')']) && i > 0 => bare[..i].trim_end(),
        _ => bare,
    };
    [h.to_string(), bare.to_string()]
}

fn header_matches(c: &Column, h: &str) -> bool {
    header_forms(h).iter().any(|f| {
        f == c.header_zh || f.eq_ignore_ascii_case(c.header_en) || f.eq_ignore_ascii_case(c.field)
    })
}

/// Finds each column in the header. Unknown columns are one error listing them all with
/// the expected ones; a column given twice and a missing required column are errors too;
/// all of row 0, the file as a whole.
fn read_header(
    table: &Table,
    cols: &'static [Column],
    errors: &mut Vec<RowError>,
) -> Vec<Option<usize>> {
    let mut at: Vec<Option<usize>> = vec![None; cols.len()];
    let mut community_at: Option<usize> = None;
    let mut unknown = Vec::new();
    for (i, h) in table.headers.iter().enumerate() {
        if h.trim().is_empty() {
            continue;
        }
        match cols.iter().position(|c| header_matches(c, h)) {
            Some(c) => match at[c] {
                Some(j) => errors.push(
                    RowError::new(0, cols[c].field, "rows.duplicate_column")
                        .arg("first", table.headers[j].trim())
                        .arg("second", h.trim()),
                ),
                None => at[c] = Some(i),
            },
            // The export's community column: read by `check_community`, not by the parsers.
            None if header_matches(&COMMUNITY_COLUMN, h) => match community_at {
                Some(j) => errors.push(
                    RowError::new(0, COMMUNITY_COLUMN.field, "rows.duplicate_column")
                        .arg("first", table.headers[j].trim())
                        .arg("second", h.trim()),
                ),
                None => community_at = Some(i),
            },
            None => unknown.push(h.trim().to_string()),
        }
    }
    if !unknown.is_empty() {
        errors.push(
            RowError::new(0, "file", "rows.unknown_columns")
                .arg("columns", unknown.join("、"))
                .arg(
                    "expected",
                    cols.iter()
                        .map(|c| c.header_zh)
                        .collect::<Vec<_>>()
                        .join("、"),
                ),
        );
    }
    for (c, column) in cols.iter().enumerate() {
        if column.required && at[c].is_none() {
            errors.push(RowError::new(0, column.field, "rows.missing_column").arg(
                "column",
                format!("{}（{}）", column.header_zh, column.header_en),
            ));
        }
    }
    at
}

/// One row being read: its cells by field, and the errors found so far.
struct RowReader<'a> {
    table: &'a Table,
    row: &'a TableRow,
    cols: &'static [Column],
    at: &'a [Option<usize>],
    errors: &'a mut Vec<RowError>,
}

impl RowReader<'_> {
    fn line(&self) -> usize {
        self.row.line
    }

    fn index(&self, field: &str) -> Option<usize> {
        let c = self.cols.iter().position(|c| c.field == field)?;
        self.at[c]
    }

    /// The trimmed cell, or `None` when the column is absent (reported in the header).
    fn cell(&self, field: &str) -> Option<&str> {
        self.index(field).map(|i| self.row.cell(i).trim())
    }

    fn err(&mut self, field: &str, key: &'static str) -> &mut RowError {
        self.errors.push(RowError::new(self.row.line, field, key));
        let last = self.errors.len() - 1;
        &mut self.errors[last]
    }

    fn push(&mut self, e: RowError) {
        self.errors.push(e);
    }

    fn problem(&mut self, field: &str, p: &Problem) {
        let mut e = RowError::new(self.row.line, field, p.key);
        for (k, v) in &p.args {
            e = e.arg(k, v);
        }
        self.errors.push(e);
    }

    /// Whether a spreadsheet lost digits of the cell: the reader said so, or it is written
    /// in scientific notation (1.10105E+17), which only a number too long for a cell is.
    fn lossy(&self, field: &str) -> bool {
        let Some(i) = self.index(field) else {
            return false;
        };
        let s = self.row.cell(i).trim();
        self.table.is_lossy(self.row.line, i)
            || (s.contains(['e', 'E']) && s.parse::<f64>().is_ok())
    }

    /// A text cell: `Some(None)` when empty (an error if `required`), `None` after an error.
    fn text(&mut self, field: &str, required: bool, max: usize) -> Option<Option<String>> {
        let Some(s) = self.cell(field) else {
            return if required { None } else { Some(None) };
        };
        let s = s.to_string();
        if s.is_empty() {
            if required {
                self.err(field, "rows.required");
                return None;
            }
            return Some(None);
        }
        if s.chars().count() > max {
            let e = RowError::new(self.line(), field, "rows.too_long").arg("max", max);
            self.push(e);
            return None;
        }
        if s.chars().any(char::is_control) {
            self.err(field, "rows.control_chars");
            return None;
        }
        Some(Some(s))
    }

    fn required_text(&mut self, field: &str, max: usize) -> Option<String> {
        self.text(field, true, max).flatten()
    }

    /// A whole number in `range`; `Some(None)` when empty. Accepts `6.0` (a number cell
    /// read back) and a trailing unit word (`6层`, `3人`).
    fn integer(
        &mut self,
        field: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<Option<u32>> {
        let s = self.cell(field).unwrap_or("");
        if s.is_empty() {
            return Some(None);
        }
        let bare = s.trim_end_matches(['层', '人', '个', '户', '栋']).trim();
        let n = bare.parse::<u32>().ok().or_else(|| {
            bare.parse::<f64>()
                .ok()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
                .map(|f| f as u32)
        });
        match n.filter(|n| range.contains(n)) {
            Some(n) => Some(Some(n)),
            None => {
                let e = RowError::new(self.line(), field, "rows.bad_integer")
                    .arg("value", s)
                    .arg("min", range.start())
                    .arg("max", range.end());
                self.push(e);
                None
            }
        }
    }

    /// A coordinate pair from the `lon` and `lat` columns: both or neither, numbers, inside
    /// China; a pair that fits only the other way round is reported as swapped.
    fn location(&mut self) -> Option<Option<[f64; 2]>> {
        let lon_s = self.cell("lon").unwrap_or("").to_string();
        let lat_s = self.cell("lat").unwrap_or("").to_string();
        match (lon_s.is_empty(), lat_s.is_empty()) {
            (true, true) => return Some(None),
            (true, false) => {
                self.err("lon", "rows.coords_half");
                return None;
            }
            (false, true) => {
                self.err("lat", "rows.coords_half");
                return None;
            }
            (false, false) => {}
        }
        let number = |s: &str| {
            s.trim_end_matches('°')
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
        };
        let (lon, lat) = (number(&lon_s), number(&lat_s));
        if lon.is_none() {
            let e = RowError::new(self.line(), "lon", "rows.bad_number").arg("value", &lon_s);
            self.push(e);
        }
        if lat.is_none() {
            let e = RowError::new(self.line(), "lat", "rows.bad_number").arg("value", &lat_s);
            self.push(e);
        }
        let (lon, lat) = (lon?, lat?);
        let (lon_ok, lat_ok) = (LON_RANGE.contains(&lon), LAT_RANGE.contains(&lat));
        if !lon_ok && !lat_ok && LON_RANGE.contains(&lat) && LAT_RANGE.contains(&lon) {
            let e = RowError::new(self.line(), "lon", "rows.coords_swapped")
                .arg("lon", &lon_s)
                .arg("lat", &lat_s);
            self.push(e);
            return None;
        }
        if !lon_ok {
            let e = RowError::new(self.line(), "lon", "rows.lon_range").arg("value", &lon_s);
            self.push(e);
        }
        if !lat_ok {
            let e = RowError::new(self.line(), "lat", "rows.lat_range").arg("value", &lat_s);
            self.push(e);
        }
        (lon_ok && lat_ok).then_some(Some([lon, lat]))
    }

    /// The place in a building: building (required), unit, room (required).
    fn home(&mut self) -> Option<(String, Option<String>, String)> {
        let building = self.required_text("building", MAX_NAME_CHARS);
        let unit = self.text("unit", false, MAX_ROOM_CHARS);
        let room = self.required_text("room", MAX_ROOM_CHARS);
        Some((building?, unit?, room?))
    }
}

/// Reads every row of `table` with `read`, after the header; rows whose cells are all
/// empty (a spreadsheet's trailing rows) are skipped.
fn read_rows<T>(
    table: &Table,
    kind: RecordKind,
    mut read: impl FnMut(&mut RowReader<'_>) -> Option<T>,
) -> Parsed<T> {
    let cols = columns(kind);
    let mut errors = Vec::new();
    let at = read_header(table, cols, &mut errors);
    let mut rows = Vec::new();
    let mut any = false;
    for row in &table.rows {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        any = true;
        let before = errors.len();
        let mut r = RowReader {
            table,
            row,
            cols,
            at: &at,
            errors: &mut errors,
        };
        let parsed = read(&mut r);
        if let Some(parsed) = parsed {
            if errors.len() == before {
                rows.push(parsed);
            }
        }
    }
    if !any && errors.is_empty() {
        errors.push(RowError::new(0, "file", "rows.no_rows"));
    }
    // Stable: a row's errors keep the order of its columns.
    errors.sort_by_key(|e| e.row);
    Parsed { rows, errors }
}

/// Checks the export's community column, when the file has one, against `community`, the
/// community the file is imported into: a row whose cell names another community is an
/// error, never skipped, since it would register that community's records here. An empty
/// cell (a row typed in after the export) is accepted. Rows whose cells are all empty are
/// skipped, as the parsers skip them.
pub fn check_community(table: &Table, community: RegionCode) -> Vec<RowError> {
    let Some(at) = table
        .headers
        .iter()
        .position(|h| header_matches(&COMMUNITY_COLUMN, h))
    else {
        return Vec::new();
    };
    let target = community.to_string();
    let mut errors = Vec::new();
    for row in &table.rows {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = row.cell(at).trim();
        if cell.is_empty() || cell == target {
            continue;
        }
        if RegionCode::parse(cell).is_ok_and(|c| c == community) {
            continue;
        }
        errors.push(
            RowError::new(
                row.line,
                COMMUNITY_COLUMN.field,
                "registry.row_other_community",
            )
            .arg("code", cell)
            .arg("target", &target),
        );
    }
    errors
}

/// Reads a date as offices write it: `1990-01-31`, `1990/1/31`, `1990.1.31`, `19900131`,
/// `1990年1月31日`; a time after it (`1990-01-31 00:00:00`, from a date cell) is ignored.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let s = s.split([' ', 'T']).next().unwrap_or("");
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
        return NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(4..6)?, n(6..8)?);
    }
    let s = s.trim_end_matches('日');
    let parts: Vec<&str> = s.split(['-', '/', '.', '年', '月']).collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    let digits = |x: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// The Chinese labels of a set of options, for "use one of" messages: the files are written
/// by Chinese offices, so these are the words they will type.
fn zh_options(keys: impl Iterator<Item = &'static str>) -> String {
    keys.map(|k| i18n::text(Lang::Zh, k))
        .collect::<Vec<_>>()
        .join("、")
}

// ---------------------------------------------------------------------------------------------
// The four kinds

/// Reads a residents table. `today` bounds birth dates (an ID number born tomorrow is
/// wrong). The same ID number twice in one file is an error on the later row.
pub fn parse_residents(table: &Table, today: NaiveDate) -> Parsed<ResidentRow> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    read_rows(table, RecordKind::Residents, |r| {
        let name = r.required_text("name", MAX_NAME_CHARS);

        let id = match r.cell("id_number").map(str::to_string) {
            None => None,
            Some(_) if r.lossy("id_number") => {
                r.err("id_number", "rows.lossy_number");
                None
            }
            Some(s) => match IdNumber::parse(&s, today) {
                Ok(id) => Some(id),
                Err(e) => {
                    r.problem("id_number", &e.problem());
                    None
                }
            },
        };

        let phone = match r.cell("phone").map(str::to_string) {
            None => Some(None),
            Some(s) if s.is_empty() => Some(None),
            Some(_) if r.lossy("phone") => {
                r.err("phone", "rows.lossy_number");
                None
            }
            Some(s) => match Phone::parse(&s) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    r.problem("phone", &e.problem());
                    None
                }
            },
        };

        let gender_cell = r.cell("gender").unwrap_or("").to_string();
        let gender = if gender_cell.is_empty() {
            Some(None)
        } else {
            match Gender::parse(&gender_cell) {
                Some(g) => Some(Some(g)),
                None => {
                    r.err("gender", "rows.gender_unknown")
                        .args
                        .push(("value".into(), gender_cell.clone()));
                    None
                }
            }
        };
        if let (Some(Some(g)), Some(id)) = (gender, &id) {
            if g != id.gender() {
                let key = match id.gender() {
                    Gender::Male => "rows.gender_id_male",
                    Gender::Female => "rows.gender_id_female",
                };
                r.err("gender", key)
                    .args
                    .push(("given".into(), gender_cell.clone()));
            }
        }

        let birth_cell = r.cell("birth_date").unwrap_or("").to_string();
        if !birth_cell.is_empty() {
            match parse_date(&birth_cell) {
                None => {
                    r.err("birth_date", "rows.bad_date")
                        .args
                        .push(("value".into(), birth_cell.clone()));
                }
                Some(b) => {
                    if let Some(id) = &id {
                        if b != id.birth_date() {
                            let e = RowError::new(r.line(), "birth_date", "rows.birth_mismatch")
                                .arg("given", b)
                                .arg("from_id", id.birth_date());
                            r.push(e);
                        }
                    }
                }
            }
        }

        let home = r.home();

        let relation = match r.cell("relation").unwrap_or("").to_string() {
            s if s.is_empty() => Some(Relation::Other),
            s => match Relation::parse(&s) {
                Some(rel) => Some(rel),
                None => {
                    let e = RowError::new(r.line(), "relation", "rows.relation_unknown")
                        .arg("value", &s)
                        .arg(
                            "options",
                            zh_options(Relation::ALL.iter().map(|x| x.label_key())),
                        );
                    r.push(e);
                    None
                }
            },
        };

        let tags = match parse_tag_list(r.cell("tags").unwrap_or("")) {
            Ok(t) => Some(t),
            Err(p) => {
                r.problem("tags", &p);
                None
            }
        };

        // A repeated ID number is reported even if the row has other errors: both are to fix.
        if let Some(id) = &id {
            match seen.get(id.as_str()) {
                Some(&first) => {
                    let e = RowError::new(r.line(), "id_number", "rows.duplicate_id")
                        .arg("id", id.masked())
                        .arg("first", first);
                    r.push(e);
                }
                None => {
                    seen.insert(id.as_str().to_string(), r.line());
                }
            }
        }

        let id = id?;
        let (building, unit, room) = home?;
        gender?;
        Some(ResidentRow {
            line: r.line(),
            name: name?,
            gender: id.gender(),
            birth: id.birth_date(),
            id,
            phone: phone?,
            building,
            unit,
            room,
            relation: relation?,
            tags: tags?,
        })
    })
}

/// Reads a households table. The same building, unit and room twice is an error on the
/// later row.
pub fn parse_households(table: &Table) -> Parsed<HouseholdRow> {
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    read_rows(table, RecordKind::Households, |r| {
        let home = r.home();
        let tenure = match r.cell("tenure").map(str::to_string) {
            None => None,
            Some(s) if s.is_empty() => {
                r.err("tenure", "rows.required");
                None
            }
            Some(s) => match Tenure::parse(&s) {
                Some(t) => Some(t),
                None => {
                    let e = RowError::new(r.line(), "tenure", "rows.tenure_unknown")
                        .arg("value", &s)
                        .arg(
                            "options",
                            zh_options(Tenure::ALL.iter().map(|t| t.label_key())),
                        );
                    r.push(e);
                    None
                }
            },
        };
        let size = r.integer("size", 1..=50);
        let (building, unit, room) = home?;
        let key = (
            building.clone(),
            unit.clone().unwrap_or_default(),
            room.clone(),
        );
        match seen.get(&key) {
            Some(&first) => {
                let e = RowError::new(r.line(), "room", "rows.duplicate_room").arg("first", first);
                r.push(e);
            }
            None => {
                seen.insert(key, r.line());
            }
        }
        Some(HouseholdRow {
            line: r.line(),
            building,
            unit,
            room,
            tenure: tenure?,
            size: size?,
        })
    })
}

/// Reads a buildings table. The same building name twice (in the same grid) is an error
/// on the later row.
pub fn parse_buildings(table: &Table) -> Parsed<BuildingRow> {
    let mut seen: HashMap<(String, Option<RegionCode>), usize> = HashMap::new();
    read_rows(table, RecordKind::Buildings, |r| {
        let name = r.required_text("name", MAX_NAME_CHARS);
        let address = r.required_text("address", MAX_ADDRESS_CHARS);
        let location = r.location();
        let floors = r.integer("floors", 1..=200);
        let units = r.integer("units", 1..=100);
        let region = match r.cell("region").map(str::to_string) {
            None => Some(None),
            Some(s) if s.is_empty() => Some(None),
            Some(_) if r.lossy("region") => {
                r.err("region", "rows.lossy_number");
                None
            }
            Some(s) => match RegionCode::parse(&s) {
                Err(e) => {
                    r.problem("region", &e.problem());
                    None
                }
                Ok(code)
                    if matches!(
                        code.level(),
                        Level::Community | Level::Grid | Level::MicroGrid
                    ) =>
                {
                    Some(Some(code))
                }
                Ok(code) => {
                    let e = RowError::new(r.line(), "region", "rows.region_level")
                        .arg("code", code)
                        .arg("digits", code.level().digits());
                    r.push(e);
                    None
                }
            },
        };
        let name = name?;
        let region = region?;
        let key = (name.clone(), region);
        match seen.get(&key) {
            Some(&first) => {
                let e =
                    RowError::new(r.line(), "name", "rows.duplicate_building").arg("first", first);
                r.push(e);
            }
            None => {
                seen.insert(key, r.line());
            }
        }
        Some(BuildingRow {
            line: r.line(),
            name,
            address: address?,
            location: location?,
            floors: floors?,
            units: units?,
            region,
        })
    })
}

/// Reads a facilities table against a typology (the built-in one or a district's own);
/// the type column takes a type's code or Chinese name.
pub fn parse_facilities(table: &Table, types: &[FacilityType]) -> Parsed<FacilityRow> {
    read_rows(table, RecordKind::Facilities, |r| {
        let name = r.required_text("name", MAX_NAME_CHARS);
        let type_code = match r.cell("type").map(str::to_string) {
            None => None,
            Some(s) if s.is_empty() => {
                r.err("type", "rows.required");
                None
            }
            Some(s) => match find_type(types, &s) {
                Some(t) => Some(t.code.clone()),
                None => {
                    let options = types
                        .iter()
                        .map(|t| t.name_zh.as_str())
                        .collect::<Vec<_>>()
                        .join("、");
                    let e = RowError::new(r.line(), "type", "rows.facility_type_unknown")
                        .arg("value", &s)
                        .arg("options", options);
                    r.push(e);
                    None
                }
            },
        };
        let address = r.text("address", false, MAX_ADDRESS_CHARS);
        let location = r.location();
        let area_cell = r.cell("floor_area_m2").unwrap_or("").to_string();
        let floor_area_m2 = if area_cell.is_empty() {
            Some(None)
        } else {
            let bare = area_cell
                .trim_end_matches("平方米")
                .trim_end_matches(['㎡', '²'])
                .trim_end_matches("m2")
                .trim_end_matches('m')
                .trim();
            match bare
                .parse::<f64>()
                .ok()
                .filter(|a| a.is_finite() && *a > 0.0)
            {
                Some(a) => Some(Some(a)),
                None => {
                    let e = RowError::new(r.line(), "floor_area_m2", "rows.bad_area")
                        .arg("value", &area_cell);
                    r.push(e);
                    None
                }
            }
        };
        let hub = r.text("hub", false, MAX_NAME_CHARS);
        Some(FacilityRow {
            line: r.line(),
            name: name?,
            type_code: type_code?,
            address: address?,
            location: location?,
            floor_area_m2: floor_area_m2?,
            hub: hub?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::facility::builtin_types;
    use crate::registry::idcard::compose;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn today() -> NaiveDate {
        date(2024, 6, 1)
    }

    /// A table from CSV-like lines (no quoting): the header is line 1.
    fn table(lines: &[&str]) -> Table {
        let split = |l: &str| {
            l.split(',')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        };
        Table {
            headers: split(lines[0]),
            rows: lines[1..]
                .iter()
                .enumerate()
                .map(|(i, l)| TableRow {
                    line: i + 2,
                    cells: split(l),
                })
                .collect(),
            lossy: Vec::new(),
        }
    }

    fn keys(errors: &[RowError]) -> Vec<(usize, &str, &str)> {
        errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.key))
            .collect()
    }

    /// Every message exists, renders in both languages without a leftover placeholder, and
    /// names its row and its field.
    fn assert_readable(errors: &[RowError]) {
        for e in errors {
            assert!(i18n::has(e.key), "{} is not in the table", e.key);
            for lang in [Lang::Zh, Lang::En] {
                let m = e.message(lang);
                assert!(!m.contains('{'), "unfilled: {m}");
                if e.row > 0 {
                    assert!(m.contains(&e.row.to_string()), "{m}");
                    let label = format!("import.field.{}", e.field);
                    assert!(i18n::has(&label), "no label for {}", e.field);
                    assert!(m.contains(i18n::text(lang, &label)), "{m}");
                }
            }
        }
    }

    fn id(birth: NaiveDate, seq: u16) -> String {
        compose("330102", birth, seq).expect("compose")
    }

    #[test]
    fn templates_parse_as_they_are() {
        let t = template(RecordKind::Residents);
        assert_eq!(t.headers[0], "姓名*");
        let p = parse_residents(&t, today());
        assert_eq!(p.errors, []);
        let r = &p.rows[0];
        assert_eq!(r.name, "张三");
        assert_eq!(r.gender, Gender::Female);
        assert_eq!(r.birth, date(1949, 12, 31));
        assert_eq!(r.relation, Relation::Head);
        assert_eq!(r.tags, [Tag::LivingAlone, Tag::PartyMember]);
        assert_eq!(r.unit.as_deref(), Some("2单元"));
        let p = parse_households(&template(RecordKind::Households));
        assert_eq!(p.errors, []);
        assert_eq!(p.rows[0].tenure, Tenure::Owner);
        assert_eq!(p.rows[0].size, Some(3));
        let p = parse_buildings(&template(RecordKind::Buildings));
        assert_eq!(p.errors, []);
        assert_eq!(p.rows[0].location, Some([120.1694, 30.2431]));
        assert_eq!(
            p.rows[0].region.map(|c| c.to_string()),
            Some("330102001001001".into())
        );
        let p = parse_facilities(&template(RecordKind::Facilities), builtin_types());
        assert_eq!(p.errors, []);
        assert_eq!(p.rows[0].type_code, "health_centre");
        assert_eq!(p.rows[0].floor_area_m2, Some(1200.0));
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::parse(k.as_str()), Some(k));
            assert!(i18n::has(k.label_key()));
            for c in columns(k) {
                assert!(
                    i18n::has(&format!("import.field.{}", c.field)),
                    "{}",
                    c.field
                );
            }
        }
    }

    #[test]
    fn english_headers_and_field_codes() {
        let t = table(&[
            "Name,id_number,PHONE,Building,room,Relation,TAGS",
            &format!(
                "Li Lei,{},+86 138 1234 5678,1,101,spouse,volunteer",
                id(date(1980, 5, 6), 13)
            ),
        ]);
        let p = parse_residents(&t, today());
        assert_eq!(p.errors, []);
        let r = &p.rows[0];
        assert_eq!(r.phone.as_ref().map(|p| p.as_str()), Some("13812345678"));
        assert_eq!(r.gender, Gender::Male);
        assert_eq!(r.unit, None);
        assert_eq!(r.relation, Relation::Spouse);
        assert_eq!(r.tags, [Tag::Volunteer]);
        // Headers with the template's * and a unit in brackets.
        let t = table(&["名称*,类型*,建筑面积（㎡）", "某站,药店,80㎡"]);
        let p = parse_facilities(&t, builtin_types());
        assert_eq!(p.errors, []);
        assert_eq!(p.rows[0].floor_area_m2, Some(80.0));
    }

    #[test]
    fn header_problems_are_row_0() {
        let t = table(&["姓名,身份证号,备注,颜色,name,室号", "张三,x,y,z,w,101"]);
        let p = parse_residents(&t, today());
        assert_eq!(
            keys(&p.errors)[..3],
            [
                (0, "name", "rows.duplicate_column"),
                (0, "file", "rows.unknown_columns"),
                (0, "building", "rows.missing_column"),
            ]
        );
        let m = p.errors[1].message(Lang::Zh);
        assert!(m.contains("备注、颜色") && m.contains("与户主关系"), "{m}");
        assert!(p.rows.is_empty());
        assert_readable(&p.errors);
        let p = parse_households(&table(&["楼栋,室号,居住类型"]));
        assert_eq!(keys(&p.errors), [(0, "file", "rows.no_rows")]);
        let p = parse_households(&table(&["楼栋,室号,居住类型", ",,", " , , "]));
        assert_eq!(keys(&p.errors), [(0, "file", "rows.no_rows")]);
    }

    #[test]
    fn every_resident_problem_of_every_row() {
        let good = id(date(1950, 3, 4), 21); // male
        let long = "长".repeat(MAX_NAME_CHARS + 1);
        let lines = [
            "姓名,身份证号,手机号,性别,出生日期,楼栋,单元,室号,与户主关系,标签".to_string(),
            format!("张三,{good},13812345678,男,1950-03-04,1幢,,101,户主,独居"),
            format!(",{good},1381234567,女,1950/3/5,,,,朋友,富人"),
            format!("{long},110105194912310021,87654321,X,19500230,1幢,,102,,80+"),
            "李四,,,,,1幢,,103,,".to_string(),
            "王五,11010519491231002,,,,1幢,,104,,".to_string(),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let p = parse_residents(&table(&lines), today());
        assert_eq!(
            keys(&p.errors),
            [
                (3, "name", "rows.required"),
                (3, "phone", "phone.mobile_length"),
                (3, "gender", "rows.gender_id_male"),
                (3, "birth_date", "rows.birth_mismatch"),
                (3, "building", "rows.required"),
                (3, "room", "rows.required"),
                (3, "relation", "rows.relation_unknown"),
                (3, "tags", "tags.unknown"),
                (3, "id_number", "rows.duplicate_id"),
                (4, "name", "rows.too_long"),
                (4, "id_number", "id.checksum"),
                (4, "phone", "phone.no_area_code"),
                (4, "gender", "rows.gender_unknown"),
                (4, "birth_date", "rows.bad_date"),
                (4, "tags", "tags.derived"),
                (5, "id_number", "id.empty"),
                (6, "id_number", "id.length"),
            ]
        );
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].line, 2);
        let dup = p.errors[8].message(Lang::Zh);
        assert!(
            dup.contains("第 2 行") && dup.contains("330102********"),
            "{dup}"
        );
        assert!(!dup.contains(&good), "the full ID is never in a message");
        let m = p.errors[3].message(Lang::En);
        assert!(m.contains("1950-03-05") && m.contains("1950-03-04"), "{m}");
        assert_readable(&p.errors);
    }

    #[test]
    fn lossy_numbers_get_their_own_message() {
        let mut t = table(&[
            "姓名,身份证号,手机号,楼栋,室号",
            "张三,110105194912310000,13812345678,1,101",
            "李四,1.10105E+17,1.38123E+10,1,102",
        ]);
        t.lossy = vec![(2, 1)];
        let p = parse_residents(&t, today());
        assert_eq!(
            keys(&p.errors),
            [
                (2, "id_number", "rows.lossy_number"),
                (3, "id_number", "rows.lossy_number"),
                (3, "phone", "rows.lossy_number"),
            ]
        );
        assert!(p.errors[0].message(Lang::En).contains("Excel"));
        assert_readable(&p.errors);
    }

    #[test]
    fn a_missing_id_column_is_reported_once() {
        let p = parse_residents(
            &table(&["姓名,楼栋,室号", "张三,1,101", "李四,1,102"]),
            today(),
        );
        assert_eq!(keys(&p.errors), [(0, "id_number", "rows.missing_column")]);
        assert!(p.rows.is_empty());
    }

    #[test]
    fn households() {
        let p = parse_households(&table(&[
            "楼栋,单元,室号,居住类型,人数",
            "1幢,1单元,101,自有,3人",
            "1幢,1单元,102,出租,",
            "1幢,1单元,101,租住,2",
            "1幢,,101,借住,0",
            "1幢,,,,51",
            "1幢,,103,renter,2.0",
        ]));
        assert_eq!(
            keys(&p.errors),
            [
                (4, "room", "rows.duplicate_room"),
                (5, "tenure", "rows.tenure_unknown"),
                (5, "size", "rows.bad_integer"),
                (6, "room", "rows.required"),
                (6, "tenure", "rows.required"),
                (6, "size", "rows.bad_integer"),
            ]
        );
        assert_eq!(p.rows.len(), 3);
        assert_eq!(p.rows[1].tenure, Tenure::Renter);
        assert_eq!(p.rows[2].size, Some(2));
        assert!(p.errors[0].message(Lang::Zh).contains("第 2 行"));
        assert_readable(&p.errors);
    }

    #[test]
    fn buildings() {
        let p = parse_buildings(&table(&[
            "楼栋,地址,经度,纬度,层数,单元数,网格",
            "1幢,河坊街1号,120.17,30.25,6,2,330102001001",
            "2幢,河坊街2号,30.25,120.17,6,2,",
            "3幢,河坊街3号,120.17,,0,101,330102",
            "4幢,河坊街4号,abc,30.25,7,,33010200100100",
            "5幢,河坊街5号,150,60,7,,1.23457E+14",
            "1幢,,,,,,330102001001",
            "6幢,河坊街6号,120.17°,30.25,,,330102001001001001",
        ]));
        assert_eq!(
            keys(&p.errors),
            [
                (3, "lon", "rows.coords_swapped"),
                (4, "lat", "rows.coords_half"),
                (4, "floors", "rows.bad_integer"),
                (4, "units", "rows.bad_integer"),
                (4, "region", "rows.region_level"),
                (5, "lon", "rows.bad_number"),
                (5, "region", "code.bad_length"),
                (6, "lon", "rows.lon_range"),
                (6, "lat", "rows.lat_range"),
                (6, "region", "rows.lossy_number"),
                (7, "address", "rows.required"),
                (7, "name", "rows.duplicate_building"),
            ]
        );
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1].location, Some([120.17, 30.25]));
        let swapped = p.errors[0].message(Lang::En);
        assert!(swapped.contains("swapped"), "{swapped}");
        assert_readable(&p.errors);
    }

    #[test]
    fn facilities() {
        let p = parse_facilities(
            &table(&[
                "名称,类型,地址,经度,纬度,建筑面积,所属邻里坊",
                "清波药房,药店,,,,,",
                "某站,pharmacy,劳动路,120.16,30.24,0,清波邻里坊",
                "某地,飞机场,,,,-3,",
                ",,,,,12 平方米,",
            ]),
            builtin_types(),
        );
        assert_eq!(
            keys(&p.errors),
            [
                (3, "floor_area_m2", "rows.bad_area"),
                (4, "type", "rows.facility_type_unknown"),
                (4, "floor_area_m2", "rows.bad_area"),
                (5, "name", "rows.required"),
                (5, "type", "rows.required"),
            ]
        );
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].type_code, "pharmacy");
        assert!(
            p.errors[1].message(Lang::Zh).contains("幼儿园"),
            "lists the types"
        );
        assert_readable(&p.errors);
    }

    #[test]
    fn the_community_column_is_accepted_and_checked() {
        let community = RegionCode::parse("330102001051").expect("code");
        // Every kind's parser takes the export's trailing column, in either language.
        let p = parse_households(&table(&[
            "楼栋,单元,室号,居住类型,人数,社区代码",
            "1幢,1单元,101,自住,3,330102001051",
        ]));
        assert_eq!(p.errors, []);
        assert_eq!(p.rows.len(), 1);
        let p = parse_buildings(&table(&[
            "Building,Address,Community code",
            "1幢,河坊街1号,330102001051",
        ]));
        assert_eq!(p.errors, []);
        let p = parse_facilities(
            &table(&["名称,类型,community", "清波药房,药店,330102001052"]),
            builtin_types(),
        );
        assert_eq!(p.errors, [], "the parser leaves the column to the check");
        let p = parse_households(&table(&[
            "楼栋,室号,居住类型,社区代码,Community code",
            "1幢,101,自住,330102001051,330102001051",
        ]));
        assert_eq!(keys(&p.errors), [(0, "community", "rows.duplicate_column")]);
        assert_readable(&p.errors);

        // The check: another community's row is an error naming both, on its own line;
        // an empty cell (a row typed in later) and this community pass.
        let t = table(&[
            "楼栋,单元,室号,居住类型,社区代码",
            "1幢,1单元,101,自住,330102001051",
            "1幢,1单元,102,自住,330102001052",
            "1幢,1单元,103,自住,",
            ",,,,",
            "1幢,1单元,104,自住,别的社区",
        ]);
        let errors = check_community(&t, community);
        assert_eq!(
            keys(&errors),
            [
                (3, "community", "registry.row_other_community"),
                (6, "community", "registry.row_other_community"),
            ]
        );
        let zh = errors[0].message(Lang::Zh);
        assert!(
            zh.contains("第 3 行")
                && zh.contains("该行属于社区 330102001052，不能导入到 330102001051"),
            "{zh}"
        );
        let en = errors[0].message(Lang::En);
        assert!(
            en.contains("330102001052") && en.contains("cannot be imported into 330102001051"),
            "{en}"
        );
        assert_readable(&errors);
        // A file without the column has nothing to check.
        assert_eq!(
            check_community(&table(&["楼栋,室号,居住类型", "1幢,101,自住"]), community),
            []
        );
    }

    #[test]
    fn dates() {
        for s in [
            "1990-01-31",
            "1990/1/31",
            "19900131",
            "1990.1.31",
            "1990年1月31日",
            "1990-01-31 00:00:00",
        ] {
            assert_eq!(parse_date(s), Some(date(1990, 1, 31)), "{s}");
        }
        for s in [
            "",
            "1990-02-30",
            "90-1-31",
            "1990-1",
            "1990-001-01",
            "abcd-ef-gh",
            "１９９０-01-31",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    fn any_table() -> impl Strategy<Value = Table> {
        let cell = proptest::prop_oneof![
            "\\PC{0,12}",
            "[0-9Xx]{15,19}",
            "[0-9.\\-]{0,12}",
            proptest::sample::select(vec![
                "姓名",
                "身份证号",
                "楼栋",
                "室号",
                "名称",
                "类型",
                "经度",
                "纬度",
                "居住类型",
                "11010519491231002X",
                "药店",
                "自住",
                "120.1",
                "30.2",
                "独居、80+",
            ])
            .prop_map(str::to_string),
        ];
        let header = proptest::collection::vec(cell.clone(), 0..8);
        let rows = proptest::collection::vec(proptest::collection::vec(cell, 0..9), 0..5);
        let lossy = proptest::collection::vec((0usize..8, 0usize..9), 0..3);
        (header, rows, lossy).prop_map(|(headers, rows, lossy)| Table {
            headers,
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, cells)| TableRow { line: i + 2, cells })
                .collect(),
            lossy,
        })
    }

    proptest! {
        #[test]
        fn parsers_never_panic(t in any_table()) {
            let r = parse_residents(&t, today());
            let h = parse_households(&t);
            let b = parse_buildings(&t);
            let f = parse_facilities(&t, builtin_types());
            // Every error renders, and sound rows only come from clean files or are counted.
            for e in r.errors.iter().chain(&h.errors).chain(&b.errors).chain(&f.errors) {
                prop_assert!(i18n::has(e.key), "{}", e.key);
                let _ = e.message(Lang::Zh);
            }
        }

        #[test]
        fn parsers_never_panic_on_known_headers(rows in proptest::collection::vec(proptest::collection::vec("\\PC{0,20}", 0..11), 1..4)) {
            for kind in RecordKind::ALL {
                let t = Table {
                    headers: columns(kind).iter().map(|c| c.header_zh.to_string()).collect(),
                    rows: rows.iter().enumerate().map(|(i, c)| TableRow { line: i + 2, cells: c.clone() }).collect(),
                    lossy: vec![],
                };
                let _ = parse_residents(&t, today());
                let _ = parse_households(&t);
                let _ = parse_buildings(&t);
                let _ = parse_facilities(&t, builtin_types());
            }
        }
    }
}
