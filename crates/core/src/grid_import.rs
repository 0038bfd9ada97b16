//! Reading a community's grid file (CSV or GeoJSON) into checked rows, all or nothing.
//!
//! The file is read completely and every problem is reported, each with the row a person can
//! find: in a CSV the line number as Excel shows it (the header is line 1), in GeoJSON the
//! 1-based feature number. Only a file without a single problem yields rows, so an import
//! never writes half a file. Checks that need the database (does the parent exist, is the
//! code free, is the boundary inside the district) are the store's.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::geo::{self, GeoError, MultiPolygon};
use crate::grid::{GridKind, StaffMember, StaffRole};
use crate::i18n::{self, Lang};
use crate::region::{Level, RegionCode, RegionCodeError};

/// Longest grid name accepted, in characters: long enough for "清波街道清河坊社区第十二网格".
pub const MAX_NAME_CHARS: usize = 50;

/// One valid row of an import file.
#[derive(Debug, Clone, PartialEq)]
pub struct GridRow {
    /// The CSV line number, or the 1-based feature number in GeoJSON.
    pub row: usize,
    pub code: RegionCode,
    pub name: String,
    pub kind: Option<GridKind>,
    pub staff: Vec<StaffMember>,
    pub boundary: Option<MultiPolygon>,
}

/// One problem in an import file: where (`row`, `field`) and what (an i18n key and its
/// arguments). Row 0 is the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub row: usize,
    /// The field concerned: `code`, `name`, `kind`, `staff`, `boundary`; `properties.code` …
    /// and `geometry` in GeoJSON; `file` for row 0; or an unknown column's own name.
    pub field: String,
    pub key: &'static str,
    pub args: Vec<(String, String)>,
}

impl RowError {
    pub fn new(row: usize, field: impl Into<String>, key: &'static str) -> RowError {
        RowError {
            row,
            field: field.into(),
            key,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &str, value: impl ToString) -> RowError {
        self.args.push((name.to_string(), value.to_string()));
        self
    }

    fn from_geo(row: usize, field: &str, e: &GeoError) -> RowError {
        RowError {
            row,
            field: field.to_string(),
            key: e.key,
            args: e
                .args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// Whether this error is about a GeoJSON feature, so that it says "feature 3" rather
    /// than "row 3".
    fn is_feature(&self) -> bool {
        self.field == "geometry" || self.field == "feature" || self.field.starts_with("properties")
    }

    /// The full message: where, then what, e.g. "第 3 行，代码：…".
    pub fn message(&self, lang: Lang) -> String {
        let args: Vec<(&str, &str)> = self
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let detail = i18n::format(lang, self.key, &args);
        // `properties.code` is labelled as `code` is: the reader cares what, not the JSON path.
        let last = self.field.rsplit('.').next().unwrap_or(&self.field);
        let label_key = format!("import.field.{last}");
        let field = if i18n::has(&label_key) {
            i18n::text(lang, &label_key)
        } else {
            self.field.as_str()
        };
        // Row 0 is the file as a whole: "File: …".
        let wrapper = if self.row == 0 {
            "import.at_file"
        } else if self.is_feature() {
            "import.at_feature"
        } else {
            "error.row"
        };
        let row = self.row.to_string();
        // `detail` last: text from the file inside it must not be taken for a placeholder.
        i18n::format(
            lang,
            wrapper,
            &[("row", &row), ("field", field), ("detail", &detail)],
        )
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for RowError {}

/// Everything read from a file: the sound rows and the errors of the others, so that the
/// database checks of the sound rows can be reported together with the file's own errors.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub rows: Vec<GridRow>,
    pub errors: Vec<RowError>,
}

impl Parsed {
    fn failed(errors: Vec<RowError>) -> Parsed {
        Parsed {
            rows: Vec::new(),
            errors,
        }
    }

    pub fn into_result(self) -> Result<Vec<GridRow>, Vec<RowError>> {
        if self.errors.is_empty() {
            Ok(self.rows)
        } else {
            Err(self.errors)
        }
    }
}

/// Whether a file name is read as GeoJSON (else CSV); decides how rows are named in errors.
pub fn is_geojson(name: &str) -> bool {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    ext == "geojson" || ext == "json"
}

/// Reads a file by its extension: `.csv`, or `.geojson` / `.json`.
pub fn read_file(name: &str, bytes: &[u8]) -> Parsed {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => read_csv(bytes),
        "geojson" | "json" => read_geojson(bytes),
        _ => Parsed::failed(vec![
            RowError::new(0, "file", "import.unsupported_file").arg("name", name)
        ]),
    }
}

/// Reads a file by its extension: all rows, or every error.
pub fn parse_file(name: &str, bytes: &[u8]) -> Result<Vec<GridRow>, Vec<RowError>> {
    read_file(name, bytes).into_result()
}

/// Reads a CSV grid file: all rows, or every error.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<GridRow>, Vec<RowError>> {
    read_csv(bytes).into_result()
}

/// Reads a GeoJSON grid file: all rows, or every error.
pub fn parse_geojson(bytes: &[u8]) -> Result<Vec<GridRow>, Vec<RowError>> {
    read_geojson(bytes).into_result()
}

// ---------------------------------------------------------------------------------------------
// Columns

/// The columns of a grid file, in English or Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Code,
    Name,
    Kind,
    Staff,
    Boundary,
}

const COLUMNS: [Column; 5] = [
    Column::Code,
    Column::Name,
    Column::Kind,
    Column::Staff,
    Column::Boundary,
];

impl Column {
    fn field(self) -> &'static str {
        match self {
            Column::Code => "code",
            Column::Name => "name",
            Column::Kind => "kind",
            Column::Staff => "staff",
            Column::Boundary => "boundary",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::Code => &["code", "代码", "编码"],
            Column::Name => &["name", "名称"],
            Column::Kind => &["kind", "设置类型", "类型"],
            Column::Staff => &["staff", "网格力量"],
            Column::Boundary => &["boundary", "边界"],
        }
    }

    fn required(self) -> bool {
        matches!(self, Column::Code | Column::Name)
    }

    fn from_name(s: &str) -> Option<Column> {
        let s = s.trim();
        COLUMNS
            .into_iter()
            .find(|c| c.aliases().iter().any(|a| a.eq_ignore_ascii_case(s)))
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn accepted_columns() -> String {
    COLUMNS
        .iter()
        .map(|c| c.aliases().join("/"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Field checks shared by both formats. Each pushes its errors and returns `None` on failure.

/// Where a field sits, for error messages: the row and the field's name in this format.
struct At<'a> {
    row: usize,
    field: &'a str,
}

impl At<'_> {
    fn err(&self, key: &'static str) -> RowError {
        RowError::new(self.row, self.field, key)
    }
}

fn check_code(at: &At<'_>, s: &str, errors: &mut Vec<RowError>) -> Option<RegionCode> {
    let s = s.trim();
    // Excel shows a long number as 3.30102E+14 and saves it so in CSV: the digits are gone,
    // and only the user can put them back, so say what happened.
    if s.contains(['e', 'E']) && s.parse::<f64>().is_ok() {
        errors.push(at.err("import.code_scientific").arg("code", s));
        return None;
    }
    let code = match RegionCode::parse(s) {
        Ok(c) => c,
        Err(e) => {
            errors.push(match e {
                RegionCodeError::Empty => at.err("import.code_required"),
                RegionCodeError::NotDigits(c, pos) => at
                    .err("import.code_not_digits")
                    .arg("code", c)
                    .arg("position", pos),
                RegionCodeError::BadLength(c, n) => at
                    .err("import.code_bad_length")
                    .arg("code", c)
                    .arg("digits", n),
                RegionCodeError::ZeroSegment(c, _) => {
                    at.err("import.code_zero_segment").arg("code", c)
                }
            });
            return None;
        }
    };
    if !matches!(code.level(), Level::Grid | Level::MicroGrid) {
        errors.push(
            at.err("import.code_not_grid")
                .arg("code", code)
                .arg("digits", code.level().digits()),
        );
        return None;
    }
    Some(code)
}

fn check_name(at: &At<'_>, s: &str, errors: &mut Vec<RowError>) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        errors.push(at.err("error.name_required"));
        return None;
    }
    if s.chars().count() > MAX_NAME_CHARS {
        errors.push(at.err("error.name_too_long").arg("max", MAX_NAME_CHARS));
        return None;
    }
    Some(s.to_string())
}

/// The Chinese labels of a set of options, for "use one of" messages: the files are written
/// by Chinese communities, so these are the words they will type.
fn zh_options(keys: impl Iterator<Item = &'static str>) -> String {
    keys.map(|k| i18n::text(Lang::Zh, k))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `Some(None)` for an empty cell, `None` after an error.
fn check_kind(at: &At<'_>, s: &str, errors: &mut Vec<RowError>) -> Option<Option<GridKind>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(None);
    }
    match GridKind::parse(s) {
        Some(k) => Some(Some(k)),
        None => {
            errors.push(at.err("error.bad_kind").arg("value", s).arg(
                "options",
                zh_options(GridKind::ALL.iter().map(|k| k.label_key())),
            ));
            None
        }
    }
}

fn staff_member(
    at: &At<'_>,
    role: &str,
    name: &str,
    entry: &str,
    errors: &mut Vec<RowError>,
) -> Option<StaffMember> {
    let (role_text, name) = (role.trim(), name.trim());
    let role = StaffRole::parse(role_text);
    if role.is_none() {
        errors.push(at.err("import.staff_bad_role").arg("role", role_text).arg(
            "options",
            zh_options(StaffRole::ALL.iter().map(|r| r.label_key())),
        ));
    }
    if name.is_empty() {
        errors.push(at.err("import.staff_no_name").arg("entry", entry));
        return None;
    }
    Some(StaffMember {
        role: role?,
        name: name.to_string(),
    })
}

/// Staff written as text: `网格长:张三;专职网格员:李四`. Entries are separated by `;` or `；`
/// (or a line break, which Alt+Enter puts in an Excel cell); role and name by `:` or `：`.
fn check_staff_text(at: &At<'_>, s: &str, errors: &mut Vec<RowError>) -> Option<Vec<StaffMember>> {
    let before = errors.len();
    let mut out = Vec::new();
    for entry in s
        .split([';', '；', '\n', '\r'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        match entry.split_once([':', '：']) {
            Some((role, name)) => out.extend(staff_member(at, role, name, entry, errors)),
            None => errors.push(at.err("import.staff_no_separator").arg("entry", entry)),
        }
    }
    (errors.len() == before).then_some(out)
}

/// Staff in GeoJSON: the text form, or an array of `{"role": …, "name": …}`.
fn check_staff_json(
    at: &At<'_>,
    v: &Value,
    errors: &mut Vec<RowError>,
) -> Option<Vec<StaffMember>> {
    let items = match v {
        Value::Null => return Some(Vec::new()),
        Value::String(s) => return check_staff_text(at, s, errors),
        Value::Array(items) => items,
        other => {
            errors.push(
                at.err("import.staff_not_list")
                    .arg("found", geo::quote(other)),
            );
            return None;
        }
    };
    let before = errors.len();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.is_object() {
            // A missing role or name is checked as an empty one, so it is reported as in the
            // text form.
            let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
            out.extend(staff_member(
                at,
                text("role"),
                text("name"),
                &geo::quote(item),
                errors,
            ));
        } else {
            errors.push(
                at.err("import.staff_bad_item")
                    .arg("index", i + 1)
                    .arg("found", geo::quote(item)),
            );
        }
    }
    (errors.len() == before).then_some(out)
}

/// A boundary cell: GeoJSON text.
fn check_boundary_text(
    at: &At<'_>,
    s: &str,
    errors: &mut Vec<RowError>,
) -> Option<Option<MultiPolygon>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(None);
    }
    let v: Value = match serde_json::from_str(s) {
        Ok(v) => v,
        Err(e) => {
            errors.push(json_error(at.row, at.field, &e));
            return None;
        }
    };
    match MultiPolygon::from_geojson(&v) {
        Ok(m) => Some(Some(m)),
        Err(e) => {
            errors.push(RowError::from_geo(at.row, at.field, &e));
            None
        }
    }
}

fn json_error(row: usize, field: &str, e: &serde_json::Error) -> RowError {
    let key = match e.classify() {
        serde_json::error::Category::Eof => "import.json_eof",
        _ => "import.bad_json",
    };
    RowError::new(row, field, key)
        .arg("line", e.line())
        .arg("column", e.column())
}

/// Reports codes given twice (naming both rows) and orders rows parents first.
fn finish(
    mut rows: Vec<GridRow>,
    codes: &[(usize, RegionCode, &str)],
    duplicate_key: &'static str,
    mut errors: Vec<RowError>,
) -> Parsed {
    let mut first: HashMap<RegionCode, usize> = HashMap::new();
    for &(row, code, field) in codes {
        match first.get(&code) {
            Some(&earlier) => errors.push(
                RowError::new(row, field, duplicate_key)
                    .arg("code", code)
                    .arg("first", earlier),
            ),
            None => {
                first.insert(code, row);
            }
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(RowError::new(0, "file", "import.no_rows"));
    }
    if !errors.is_empty() {
        // Stable: the errors of one row keep the order of its columns.
        errors.sort_by_key(|e| e.row);
    }
    // Grids before micro-grids, so that a micro-grid's parent from the same file is written
    // first whatever the file's order; the file's order otherwise.
    rows.sort_by_key(|r| (r.code.level(), r.row));
    Parsed { rows, errors }
}

// ---------------------------------------------------------------------------------------------
// CSV

/// Reads a CSV grid file (UTF-8, with or without the BOM Excel writes).
pub fn read_csv(bytes: &[u8]) -> Parsed {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Most often a GBK file from an older Excel: say which line and how to re-save.
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            return Parsed::failed(vec![
                RowError::new(0, "file", "import.not_utf8").arg("line", line)
            ]);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Flexible, so that a short row is ours to report, with the columns it lacks.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());

    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut codes: Vec<(usize, RegionCode, &str)> = Vec::new();
    // Header: the label of each column as written, and where each known column sits.
    let mut header: Option<Vec<String>> = None;
    let mut at_index: [Option<usize>; 5] = [None; 5];
    let mut lines = LineCounter {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
    };

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
            lines.line_at(usize::try_from(p.byte()).unwrap_or(usize::MAX))
        });
        let Some(names) = &header else {
            let names: Vec<String> = record.iter().map(|h| h.trim().to_string()).collect();
            read_header(line, &names, &mut at_index, &mut errors);
            header = Some(names);
            continue;
        };
        // Spreadsheets often end with rows of empty cells; they are not grids.
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let before = errors.len();
        check_width(line, names, &record, &mut errors);
        let cell = |c: Column| at_index[c.index()].and_then(|i| record.get(i));
        let at = |c: Column| At {
            row: line,
            field: c.field(),
        };

        let code = cell(Column::Code).and_then(|s| check_code(&at(Column::Code), s, &mut errors));
        let name = cell(Column::Name).and_then(|s| check_name(&at(Column::Name), s, &mut errors));
        let kind = cell(Column::Kind).map_or(Some(None), |s| {
            check_kind(&at(Column::Kind), s, &mut errors)
        });
        let staff = cell(Column::Staff).map_or(Some(Vec::new()), |s| {
            check_staff_text(&at(Column::Staff), s, &mut errors)
        });
        let boundary = cell(Column::Boundary).map_or(Some(None), |s| {
            check_boundary_text(&at(Column::Boundary), s, &mut errors)
        });

        if let Some(code) = code {
            codes.push((line, code, Column::Code.field()));
        }
        if let (Some(code), Some(name), Some(kind), Some(staff), Some(boundary)) =
            (code, name, kind, staff, boundary)
        {
            if errors.len() == before {
                rows.push(GridRow {
                    row: line,
                    code,
                    name,
                    kind,
                    staff,
                    boundary,
                });
            }
        }
    }
    if header.is_none() {
        return Parsed::failed(vec![RowError::new(0, "file", "import.empty_file")]);
    }
    finish(rows, &codes, "import.duplicate_row", errors)
}

/// Line numbers as a spreadsheet shows them. The csv crate's own record positions count
/// lines off by one after a CRLF or a blank line, so lines are counted here from the byte
/// offset, moving forward only (records come in order), which keeps a large file linear.
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl LineCounter<'_> {
    /// The line of the record whose bytes start at `byte`. The csv crate may point at the
    /// line break before the record, so breaks are skipped first: a record's own text never
    /// starts with one (a quoted value starts with the quote).
    fn line_at(&mut self, byte: usize) -> usize {
        let text = self.text;
        let mut start = byte.min(text.len());
        while matches!(text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.pos {
            // A break is LF, CRLF (counted at its LF) or a lone CR (old Mac Excel).
            self.line += (self.pos..start)
                .filter(|&i| match text[i] {
                    b'\n' => true,
                    b'\r' => text.get(i + 1) != Some(&b'\n'),
                    _ => false,
                })
                .count();
            self.pos = start;
        }
        self.line
    }
}

fn read_header(
    line: usize,
    names: &[String],
    at_index: &mut [Option<usize>; 5],
    errors: &mut Vec<RowError>,
) {
    for (i, name) in names.iter().enumerate() {
        // An unnamed column is ignored unless a row puts something in it (see check_width).
        if name.is_empty() {
            continue;
        }
        match Column::from_name(name) {
            Some(c) => match at_index[c.index()] {
                Some(j) => errors.push(
                    RowError::new(line, c.field(), "import.duplicate_column")
                        .arg("first", &names[j])
                        .arg("second", name),
                ),
                None => at_index[c.index()] = Some(i),
            },
            None => errors.push(
                RowError::new(line, name.as_str(), "import.unknown_column")
                    .arg("column", name)
                    .arg("accepted", accepted_columns()),
            ),
        }
    }
    for c in COLUMNS.into_iter().filter(|c| c.required()) {
        if at_index[c.index()].is_none() {
            errors.push(
                RowError::new(line, c.field(), "import.missing_column")
                    .arg("aliases", c.aliases().join("/")),
            );
        }
    }
}

/// A row with fewer fields than the header lacks columns; one with more usually has a comma
/// in an unquoted value (boundary GeoJSON is full of them); a value under an unnamed header
/// would be silently lost.
fn check_width(
    line: usize,
    names: &[String],
    record: &csv::StringRecord,
    errors: &mut Vec<RowError>,
) {
    let width = names.len();
    if record.len() < width {
        let missing: Vec<&String> = names[record.len()..]
            .iter()
            .filter(|n| !n.is_empty())
            .collect();
        if let Some(first) = missing.first() {
            let field: &str = Column::from_name(first).map_or(first.as_str(), |c| c.field());
            errors.push(
                RowError::new(line, field, "import.missing_fields")
                    .arg("count", record.len())
                    .arg("expected", width)
                    .arg(
                        "columns",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
            );
        }
    }
    if record.iter().skip(width).any(|f| !f.trim().is_empty()) {
        errors.push(
            RowError::new(line, "row", "import.too_many_fields")
                .arg("count", record.len())
                .arg("expected", width),
        );
    }
    for (i, _) in names.iter().enumerate().filter(|(_, n)| n.is_empty()) {
        if record.get(i).is_some_and(|f| !f.trim().is_empty()) {
            errors.push(RowError::new(line, "row", "import.unnamed_column").arg("column", i + 1));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GeoJSON

/// Reads a GeoJSON FeatureCollection: one feature per grid, the attributes in `properties`
/// (the same names as the CSV columns), the boundary as the geometry (required).
pub fn read_geojson(bytes: &[u8]) -> Parsed {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Parsed::failed(vec![json_error(0, "file", &e)]),
    };
    let not_fc = |found: String| {
        vec![RowError::new(0, "file", "import.not_feature_collection").arg("found", found)]
    };
    let Some(o) = v.as_object() else {
        return Parsed::failed(not_fc(geo::quote(&v)));
    };
    match o.get("type") {
        Some(Value::String(t)) if t == "FeatureCollection" => {}
        Some(Value::String(t)) => return Parsed::failed(not_fc(t.clone())),
        _ => return Parsed::failed(not_fc(geo::quote(&v))),
    }
    let features = match o.get("features") {
        Some(Value::Array(f)) => f,
        _ => return Parsed::failed(not_fc(geo::quote(&v))),
    };

    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut codes: Vec<(usize, RegionCode, &str)> = Vec::new();
    for (i, feature) in features.iter().enumerate() {
        let row = i + 1;
        let before = errors.len();
        let Some(fo) = feature.as_object() else {
            errors.push(
                RowError::new(row, "feature", "import.not_feature")
                    .arg("found", geo::quote(feature)),
            );
            continue;
        };
        match fo.get("type") {
            Some(Value::String(t)) if t == "Feature" => {}
            other => {
                let found = other.map_or_else(|| geo::quote(feature), geo::quote);
                errors
                    .push(RowError::new(row, "feature", "import.not_feature").arg("found", found));
                continue;
            }
        }
        let empty = Map::new();
        let props = match fo.get("properties") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(other) => {
                errors.push(
                    RowError::new(row, "properties", "import.properties_not_object")
                        .arg("found", geo::quote(other)),
                );
                &empty
            }
        };
        let fields = feature_fields(row, props, &mut errors);
        let get = |c: Column| fields[c.index()].unwrap_or(&Value::Null);
        let field_names = COLUMNS.map(|c| format!("properties.{}", c.field()));
        let at = |c: Column| At {
            row,
            field: &field_names[c.index()],
        };

        let code = match get(Column::Code) {
            Value::Null => {
                errors.push(at(Column::Code).err("import.code_required"));
                None
            }
            Value::String(s) => check_code(&at(Column::Code), s, &mut errors),
            // GIS tools often store codes as numbers; an integer keeps every digit.
            Value::Number(n) if n.as_u64().is_some() => {
                check_code(&at(Column::Code), &n.to_string(), &mut errors)
            }
            other => {
                errors.push(
                    at(Column::Code)
                        .err("import.code_not_text")
                        .arg("value", geo::quote(other)),
                );
                None
            }
        };
        let name = match get(Column::Name) {
            Value::Null => {
                errors.push(at(Column::Name).err("error.name_required"));
                None
            }
            Value::String(s) => check_name(&at(Column::Name), s, &mut errors),
            Value::Number(n) => check_name(&at(Column::Name), &n.to_string(), &mut errors),
            other => {
                errors.push(
                    at(Column::Name)
                        .err("import.not_text")
                        .arg("found", geo::quote(other)),
                );
                None
            }
        };
        let kind = match get(Column::Kind) {
            Value::Null => Some(None),
            Value::String(s) => check_kind(&at(Column::Kind), s, &mut errors),
            other => {
                errors.push(
                    at(Column::Kind)
                        .err("import.not_text")
                        .arg("found", geo::quote(other)),
                );
                None
            }
        };
        let staff = check_staff_json(&at(Column::Staff), get(Column::Staff), &mut errors);
        let boundary = match fo.get("geometry") {
            None | Some(Value::Null) => {
                errors.push(RowError::new(row, "geometry", "import.geometry_required"));
                None
            }
            Some(g) => match MultiPolygon::from_geojson_at(g, "geometry") {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.push(RowError::from_geo(row, "geometry", &e));
                    None
                }
            },
        };

        if let Some(code) = code {
            codes.push((row, code, "properties.code"));
        }
        if let (Some(code), Some(name), Some(kind), Some(staff), Some(boundary)) =
            (code, name, kind, staff, boundary)
        {
            if errors.len() == before {
                rows.push(GridRow {
                    row,
                    code,
                    name,
                    kind,
                    staff,
                    boundary: Some(boundary),
                });
            }
        }
    }
    finish(rows, &codes, "import.duplicate_feature", errors)
}

/// Finds the known properties under any of their names. Other properties are ignored: GIS
/// tools add their own (OBJECTID, Shape_Area …) and a file should not have to be cleaned of
/// them. The geometry is the boundary, so a `boundary` property is ignored too.
fn feature_fields<'a>(
    row: usize,
    props: &'a Map<String, Value>,
    errors: &mut Vec<RowError>,
) -> [Option<&'a Value>; 5] {
    let mut found: [Option<(&'a str, &'a Value)>; 5] = [None; 5];
    for (k, v) in props {
        let Some(c) = Column::from_name(k).filter(|c| *c != Column::Boundary) else {
            continue;
        };
        match found[c.index()] {
            Some((first, _)) => errors.push(
                RowError::new(
                    row,
                    format!("properties.{}", c.field()),
                    "import.duplicate_column",
                )
                .arg("first", first)
                .arg("second", k),
            ),
            None => found[c.index()] = Some((k, v)),
        }
    }
    found.map(|f| f.map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[120.17,30.25],[120.171,30.25],[120.171,30.251],[120.17,30.25]]]}"#;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).expect("valid code")
    }

    fn csv_errors(text: &str) -> Vec<RowError> {
        match parse_csv(text.as_bytes()) {
            Ok(rows) => panic!("expected errors, got {rows:?}"),
            Err(e) => e,
        }
    }

    fn geojson_errors(text: &str) -> Vec<RowError> {
        match parse_geojson(text.as_bytes()) {
            Ok(rows) => panic!("expected errors, got {rows:?}"),
            Err(e) => e,
        }
    }

    fn keys(errors: &[RowError]) -> Vec<(usize, &str, &str)> {
        errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.key))
            .collect()
    }

    /// Every message exists in the table, renders in both languages without a leftover
    /// placeholder, and names its row.
    fn assert_readable(errors: &[RowError]) {
        for e in errors {
            assert!(i18n::has(e.key), "{} is not in the table", e.key);
            for lang in [Lang::Zh, Lang::En] {
                let m = e.message(lang);
                assert!(!m.trim().is_empty());
                assert!(
                    !m.contains('{') || e.args.iter().any(|(_, v)| v.contains('{')),
                    "unfilled: {m}"
                );
                if e.row > 0 {
                    assert!(
                        m.contains(&e.row.to_string()),
                        "{lang:?} lacks the row: {m}"
                    );
                }
            }
        }
    }

    #[test]
    fn good_csv_with_chinese_headers_and_bom() {
        let boundary = SQUARE.replace('"', "\"\"");
        let text = format!(
            "\u{feff}代码,名称,设置类型,网格力量,边界\r\n\
             330102001001001001,清河坊一号楼,,,\r\n\
             330102001001001,清河坊网格,封闭式小区,网格长:张三；专职网格员：李四;,\"{boundary}\"\r\n\
             ,,,,\r\n\
             330102001001002,河坊街网格,市场综合体,,\r\n"
        );
        let rows = parse_csv(text.as_bytes()).expect("valid file");
        let summary: Vec<(usize, String)> =
            rows.iter().map(|r| (r.row, r.code.to_string())).collect();
        assert_eq!(
            summary,
            [
                (3, "330102001001001".to_string()),
                (5, "330102001001002".to_string()),
                (2, "330102001001001001".to_string()),
            ],
            "grids first, then micro-grids; rows are line numbers"
        );
        let g = &rows[0];
        assert_eq!(g.name, "清河坊网格");
        assert_eq!(g.kind, Some(GridKind::ClosedCompound));
        assert_eq!(
            g.staff,
            [
                StaffMember {
                    role: StaffRole::GridHead,
                    name: "张三".into()
                },
                StaffMember {
                    role: StaffRole::FullTimeWorker,
                    name: "李四".into()
                },
            ]
        );
        assert!(g
            .boundary
            .as_ref()
            .is_some_and(|b| b.contains([120.1705, 30.2502])));
        assert_eq!(rows[2].kind, None);
        assert_eq!(rows[2].boundary, None);
    }

    #[test]
    fn row_numbers_are_lines_whatever_the_line_endings() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = [
                "code,name",
                "",
                "330102001001001,\"two\nlines\"",
                "",
                "",
                "bad,B",
                "",
            ]
            .join(eol);
            let e = csv_errors(&text);
            assert_eq!(keys(&e), [(7, "code", "import.code_not_digits")], "{eol:?}");
        }
    }

    #[test]
    fn english_headers_any_case_and_file_dispatch() {
        let text = "Code,NAME,kind,staff\n330102001001003,G3,closed_compound,grid_head:Zhang\n";
        let rows = parse_file("grids.CSV", text.as_bytes()).expect("valid");
        assert_eq!(rows[0].code, code("330102001001003"));
        assert_eq!(rows[0].staff[0].role, StaffRole::GridHead);
        let e = parse_file("grids.xlsx", b"").unwrap_err();
        assert_eq!(keys(&e), [(0, "file", "import.unsupported_file")]);
        assert!(e[0].message(Lang::Zh).contains("grids.xlsx"));
        assert_readable(&e);
    }

    #[test]
    fn header_problems() {
        let e = csv_errors("代码,code,备注,名称\n330102001001001,x,y,z\n");
        assert_eq!(
            keys(&e),
            [
                (1, "code", "import.duplicate_column"),
                (1, "备注", "import.unknown_column")
            ]
        );
        assert!(
            e[1].message(Lang::Zh).contains("编码"),
            "lists accepted columns"
        );
        let e = csv_errors("代码,类型\n330102001001001,\n");
        assert_eq!(keys(&e), [(1, "name", "import.missing_column")]);
        assert_eq!(keys(&csv_errors("")), [(0, "file", "import.empty_file")]);
        assert_eq!(
            keys(&csv_errors("\u{feff}code,name\r\n")),
            [(0, "file", "import.no_rows")]
        );
        // 清 in GBK, as an older Excel saves it.
        let e = parse_csv(b"code,name\n330102001001001,\xC7\xE5\n").unwrap_err();
        assert_eq!(keys(&e), [(0, "file", "import.not_utf8")]);
        assert!(e[0].message(Lang::En).contains("line 2"), "{}", e[0]);
        assert_readable(&e);
    }

    #[test]
    fn row_missing_a_column_and_row_with_extra_fields() {
        let e = csv_errors("code,name,kind,staff\n330102001001001,G1\n330102001001002,G2,,,\n330102001001003,G3,,,{\"a\"}\n");
        assert_eq!(
            keys(&e),
            [
                (2, "kind", "import.missing_fields"),
                (4, "row", "import.too_many_fields")
            ]
        );
        let m = e[0].message(Lang::En);
        assert!(m.contains("Row 2") && m.contains("kind, staff"), "{m}");
        assert!(
            e[1].message(Lang::Zh).contains("双引号"),
            "hints at quoting"
        );
        let e = csv_errors("code,name,\n330102001001001,G1,lost\n");
        assert_eq!(keys(&e), [(2, "row", "import.unnamed_column")]);
        assert_readable(&e);
    }

    #[test]
    fn bad_codes_names_kinds_and_staff_all_reported() {
        let long = "长".repeat(MAX_NAME_CHARS + 1);
        let text = format!(
            "code,name,kind,staff\n\
             33010200100100a,G,,\n\
             3301020010010,G,,\n\
             330102001001,G,,\n\
             330102001001000,G,,\n\
             3.30102E+14,G,,\n\
             ,G,,\n\
             330102001001001, ,,\n\
             330102001001002,{long},,\n\
             330102001001003,G,公园,\n\
             330102001001004,G,,网格长张三;站长:王五;网格长:\n"
        );
        let e = csv_errors(&text);
        assert_eq!(
            keys(&e),
            [
                (2, "code", "import.code_not_digits"),
                (3, "code", "import.code_bad_length"),
                (4, "code", "import.code_not_grid"),
                (5, "code", "import.code_zero_segment"),
                (6, "code", "import.code_scientific"),
                (7, "code", "import.code_required"),
                (8, "name", "error.name_required"),
                (9, "name", "error.name_too_long"),
                (10, "kind", "error.bad_kind"),
                (11, "staff", "import.staff_no_separator"),
                (11, "staff", "import.staff_bad_role"),
                (11, "staff", "import.staff_no_name"),
            ]
        );
        let kind = e[8].message(Lang::En);
        assert!(
            kind.contains("封闭式小区") && kind.contains("Row 10"),
            "{kind}"
        );
        assert!(
            e[10].message(Lang::Zh).contains("网格指导员"),
            "lists the roles"
        );
        assert_readable(&e);
    }

    #[test]
    fn bad_boundary_in_csv_says_where() {
        let text = "code,name,boundary\n\
            330102001001001,G,\"{\"\"type\"\":\"\"Point\"\",\"\"coordinates\"\":[1,2]}\"\n\
            330102001001002,G,\"{\"\"type\"\":\"\"Polygon\"\",\"\"coordinates\"\":[[[0,0],[1,0],[1,1],[0,1]]]}\"\n\
            330102001001003,G,\"{\"\"type\"\":\"\"Polygon\"\"\"\n";
        let e = csv_errors(text);
        assert_eq!(
            keys(&e),
            [
                (2, "boundary", "geo.need_polygon"),
                (3, "boundary", "geo.ring_not_closed"),
                (4, "boundary", "import.json_eof"),
            ]
        );
        assert!(
            e[1].message(Lang::En).contains("coordinates[0]"),
            "{}",
            e[1]
        );
        assert_readable(&e);
    }

    #[test]
    fn duplicate_codes_name_both_rows() {
        let e = csv_errors("code,name\n330102001001001,A\n330102001001002,B\n330102001001001,C\n");
        assert_eq!(keys(&e), [(4, "code", "import.duplicate_row")]);
        let m = e[0].message(Lang::Zh);
        assert!(m.contains("第 4 行") && m.contains("第 2 行"), "{m}");
        assert_readable(&e);
    }

    fn feature(props: Value, geometry: Value) -> Value {
        serde_json::json!({"type": "Feature", "properties": props, "geometry": geometry})
    }

    fn collection(features: Vec<Value>) -> String {
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
    }

    #[test]
    fn good_geojson_any_order_and_staff_forms() {
        let square: Value = serde_json::from_str(SQUARE).expect("json");
        let text = collection(vec![
            feature(
                serde_json::json!({"代码": "330102001001001001", "名称": "一号楼", "OBJECTID": 7}),
                square.clone(),
            ),
            feature(
                serde_json::json!({"code": 330102001001001u64, "name": "清河坊网格", "kind": "封闭式小区",
                    "staff": [{"role": "网格长", "name": "张三"}, {"role": "instructor", "name": "Li"}]}),
                square.clone(),
            ),
            feature(
                serde_json::json!({"code": "330102001001002", "name": "G2", "staff": "兼职网格员:王五"}),
                square,
            ),
        ]);
        let rows = parse_geojson(text.as_bytes()).expect("valid");
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 3, 1]);
        assert_eq!(rows[0].staff.len(), 2);
        assert_eq!(rows[0].staff[1].role, StaffRole::Instructor);
        assert_eq!(rows[1].staff[0].role, StaffRole::PartTimeWorker);
        assert!(rows.iter().all(|r| r.boundary.is_some()));
    }

    #[test]
    fn malformed_geojson_reports_line_and_column() {
        let e = geojson_errors("{\n  \"type\": \"FeatureCollection\",\n  \"features\": [,]\n}");
        assert_eq!(keys(&e), [(0, "file", "import.bad_json")]);
        assert!(e[0].message(Lang::En).contains("line 3"), "{}", e[0]);
        let e = geojson_errors("{\"type\": \"FeatureCollection\", \"features\": [");
        assert_eq!(keys(&e), [(0, "file", "import.json_eof")]);
        let e = geojson_errors(r#"{"type": "Feature"}"#);
        assert_eq!(keys(&e), [(0, "file", "import.not_feature_collection")]);
        let e = geojson_errors(r#"{"type": "FeatureCollection", "features": []}"#);
        assert_eq!(keys(&e), [(0, "file", "import.no_rows")]);
        assert_readable(&e);
    }

    #[test]
    fn geojson_feature_problems_all_reported() {
        let square: Value = serde_json::from_str(SQUARE).expect("json");
        let text = collection(vec![
            feature(
                serde_json::json!({"code": "330102001001001", "name": "G1"}),
                serde_json::json!({"type": "Point", "coordinates": [120.17, 30.25]}),
            ),
            feature(
                serde_json::json!({"code": "330102001001002", "name": "G2"}),
                Value::Null,
            ),
            feature(
                serde_json::json!({"code": 3.30102e14, "name": ["x"], "kind": 3}),
                square.clone(),
            ),
            feature(
                serde_json::json!({"code": "330102001001001", "名称": "dup", "name": "dup", "staff": [{"role": "网格长"}, 5]}),
                square.clone(),
            ),
            serde_json::json!({"type": "Polygon"}),
            feature(
                serde_json::json!({"code": "330102001001005", "name": "G5", "staff": 5}),
                square,
            ),
        ]);
        let e = geojson_errors(&text);
        assert_eq!(
            keys(&e),
            [
                (1, "geometry", "geo.need_polygon"),
                (2, "geometry", "import.geometry_required"),
                (3, "properties.code", "import.code_not_text"),
                (3, "properties.name", "import.not_text"),
                (3, "properties.kind", "import.not_text"),
                (4, "properties.name", "import.duplicate_column"),
                (4, "properties.staff", "import.staff_no_name"),
                (4, "properties.staff", "import.staff_bad_item"),
                (4, "properties.code", "import.duplicate_feature"),
                (5, "feature", "import.not_feature"),
                (6, "properties.staff", "import.staff_not_list"),
            ]
        );
        let m = e[0].message(Lang::Zh);
        assert!(m.contains("第 1 个要素") && m.contains("Point"), "{m}");
        assert!(e[8].message(Lang::En).contains("feature 1"), "{}", e[8]);
        assert_readable(&e);
    }
}
