//! Writing: .xlsx exports row by row in constant memory, CSV with a BOM, and error reports.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use linli_core::table::Table;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

use crate::text::zh;
use crate::SheetError;

/// Rows in an Excel worksheet.
const MAX_ROWS: u32 = 1_048_576;
/// Columns in an Excel worksheet.
const MAX_COLS: usize = 16_384;
/// Column widths, in characters of the default font.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 50;
/// Excel keeps 15 significant digits of a number; integers from here on are written as text.
const EXACT_LIMIT: u64 = 1_000_000_000_000_000;

/// One cell of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Always written as text, so ID numbers, phones and codes keep every digit.
    Text(String),
    /// A number; one of 16 or more digits is written as text, which Excel would round.
    Int(i64),
    /// A number; NaN and infinities are written as text.
    Float(f64),
    Empty,
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<i64> for Cell {
    fn from(i: i64) -> Cell {
        Cell::Int(i)
    }
}

impl From<f64> for Cell {
    fn from(f: f64) -> Cell {
        Cell::Float(f)
    }
}

/// An .xlsx export written row by row: a bold, frozen header row, every column formatted as
/// text, widths fitted to the content. Rows go to a temporary file as they are pushed
/// (rust_xlsxwriter's constant-memory mode, in the system's temporary directory), so a
/// million-row export holds one row in memory, plus the finished file.
pub struct XlsxWriter {
    workbook: Workbook,
    sheet: Worksheet,
    next_row: u32,
    widths: Vec<usize>,
    text: Format,
    int: Format,
    float: Format,
}

impl XlsxWriter {
    /// A workbook with one worksheet named `sheet_name` (characters Excel forbids in a sheet
    /// name are replaced by `_`, and it is cut to 31 characters) and the header row.
    pub fn new(sheet_name: &str, headers: &[&str]) -> Result<XlsxWriter, SheetError> {
        let mut workbook = Workbook::new();
        let (sheet, widths) = start_sheet(&mut workbook, sheet_name, headers)?;
        Ok(XlsxWriter {
            workbook,
            sheet,
            next_row: 1,
            widths,
            // Excel's built-in number formats: 49 is Text ("@"), 1 is "0".
            text: Format::new().set_num_format_index(49),
            int: Format::new().set_num_format_index(1),
            // Not the default format, which would take the column's text format.
            float: Format::new().set_num_format("General"),
        })
    }

    /// Ends the current worksheet and starts another, named and headed like the first;
    /// the rows pushed from now on go to it.
    pub fn add_sheet(&mut self, sheet_name: &str, headers: &[&str]) -> Result<(), SheetError> {
        let (sheet, widths) = start_sheet(&mut self.workbook, sheet_name, headers)?;
        let done = std::mem::replace(&mut self.sheet, sheet);
        let done_widths = std::mem::replace(&mut self.widths, widths);
        self.workbook
            .push_worksheet(fit_widths(done, &done_widths)?);
        self.next_row = 1;
        Ok(())
    }

    /// Writes the next row. Rows may be shorter or longer than the header.
    pub fn push_row(&mut self, cells: &[Cell]) -> Result<(), SheetError> {
        if self.next_row >= MAX_ROWS {
            return Err(SheetError::TooManyRows);
        }
        if cells.len() > MAX_COLS {
            return Err(too_many_columns(cells.len()));
        }
        if self.widths.len() < cells.len() {
            self.widths.resize(cells.len(), 0);
        }
        let row = self.next_row;
        for (j, cell) in cells.iter().enumerate() {
            let col = j as u16;
            let shown: Cow<str> = match cell {
                Cell::Empty => continue,
                Cell::Text(s) if s.is_empty() => continue,
                Cell::Text(s) => {
                    self.sheet
                        .write_string_with_format(row, col, s, &self.text)?;
                    Cow::Borrowed(s)
                }
                Cell::Int(i) => {
                    let s = i.to_string();
                    if i.unsigned_abs() < EXACT_LIMIT {
                        self.sheet
                            .write_number_with_format(row, col, *i as f64, &self.int)?;
                    } else {
                        self.sheet
                            .write_string_with_format(row, col, &s, &self.text)?;
                    }
                    Cow::Owned(s)
                }
                Cell::Float(f) => {
                    let s = f.to_string();
                    if f.is_finite() {
                        self.sheet
                            .write_number_with_format(row, col, *f, &self.float)?;
                    } else {
                        self.sheet
                            .write_string_with_format(row, col, &s, &self.text)?;
                    }
                    Cow::Owned(s)
                }
            };
            let w = display_width(&shown);
            if w > self.widths[j] {
                self.widths[j] = w;
            }
        }
        self.next_row += 1;
        Ok(())
    }

    /// The number of data rows pushed so far.
    pub fn rows(&self) -> usize {
        (self.next_row - 1) as usize
    }

    /// The finished .xlsx file.
    pub fn finish(self) -> Result<Vec<u8>, SheetError> {
        let XlsxWriter {
            mut workbook,
            sheet,
            widths,
            ..
        } = self;
        workbook.push_worksheet(fit_widths(sheet, &widths)?);
        Ok(workbook.save_to_buffer()?)
    }
}

/// A new worksheet of `workbook` (constant memory, every column formatted as text) with its
/// bold, frozen header row; and the widths of its columns so far.
fn start_sheet(
    workbook: &mut Workbook,
    sheet_name: &str,
    headers: &[&str],
) -> Result<(Worksheet, Vec<usize>), SheetError> {
    if headers.len() > MAX_COLS {
        return Err(too_many_columns(headers.len()));
    }
    let mut sheet = workbook.new_worksheet_with_constant_memory()?;
    sheet.set_name(safe_sheet_name(sheet_name))?;
    let text = Format::new().set_num_format_index(49);
    let header = Format::new().set_bold().set_num_format_index(49);
    for col in 0..headers.len() {
        sheet.set_column_format(col as u16, &text)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let mut widths = Vec::with_capacity(headers.len());
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *h, &header)?;
        // Bold text is a little wider.
        widths.push(display_width(h) + 1);
    }
    Ok((sheet, widths))
}

/// `sheet` with its columns as wide as their content, within bounds.
fn fit_widths(mut sheet: Worksheet, widths: &[usize]) -> Result<Worksheet, SheetError> {
    for (col, w) in widths.iter().enumerate() {
        let width = (w + 2).clamp(MIN_WIDTH, MAX_WIDTH);
        sheet.set_column_width(col as u16, width as f64)?;
    }
    Ok(sheet)
}

fn too_many_columns(n: usize) -> SheetError {
    SheetError::Write {
        detail: format!("{n} columns; an Excel worksheet holds {MAX_COLS}"),
    }
}

/// A sheet name Excel accepts: no `[]:*?/\`, no apostrophe at either end, 1 to 31 characters.
fn safe_sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(31)
        .collect();
    let cleaned = cleaned.trim_matches('\'').trim();
    if cleaned.is_empty() {
        "Sheet1".to_string()
    } else {
        cleaned.to_string()
    }
}

/// The width of text in columns of the default font: wide (CJK, full-width) characters count
/// two; for text on several lines, the longest line.
fn display_width(s: &str) -> usize {
    s.lines()
        .map(|line| line.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum())
        .max()
        .unwrap_or(0)
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

/// CSV for Excel: UTF-8 with a BOM (without one, Excel on Chinese Windows reads it as GBK),
/// CRLF line ends, fields quoted where needed.
///
/// A field that Excel would run as a formula (starting with `=`, `+`, `-` or `@` and not a
/// plain number) is written with a leading `'`, so an exported value cannot become a formula
/// in the reader's Excel ("CSV injection").
///
/// Excel turns long digit strings in a CSV into numbers and keeps 15 digits: exports holding
/// ID numbers belong in .xlsx ([`XlsxWriter`]), where they are text.
pub fn write_csv<R, C>(headers: &[&str], rows: R) -> Vec<u8>
where
    R: IntoIterator,
    R::Item: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut out = Vec::from(&b"\xEF\xBB\xBF"[..]);
    {
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        let fail = "writing to memory";
        for h in headers {
            writer.write_field(csv_safe(h).as_bytes()).expect(fail);
        }
        // An empty iterator ends the record.
        writer
            .write_record(std::iter::empty::<&[u8]>())
            .expect(fail);
        for row in rows {
            for field in row {
                writer
                    .write_field(csv_safe(field.as_ref()).as_bytes())
                    .expect(fail);
            }
            writer
                .write_record(std::iter::empty::<&[u8]>())
                .expect(fail);
        }
        writer.flush().expect(fail);
    }
    out
}

fn csv_safe(s: &str) -> Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && s.trim().parse::<f64>().is_err() {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The rows of a refused import, for the user to correct and import again: an .xlsx with
/// "行号" (the line in the original file) and "错误原因" (every reason for that line, joined
/// with "；") in the first two columns, then the row as it was read under its original header.
/// Lines not among the table's rows (e.g. 0 for the whole file) get a row of their own with
/// only the number and the reasons. Rows come in line order.
pub fn error_report(table: &Table, errors: &[(usize, String)]) -> Result<Vec<u8>, SheetError> {
    let mut reasons: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (line, reason) in errors {
        reasons.entry(*line).or_default().push(reason);
    }
    let rows: HashMap<usize, &linli_core::table::TableRow> =
        table.rows.iter().map(|r| (r.line, r)).collect();
    let mut headers = vec![zh("sheet.report.line"), zh("sheet.report.reason")];
    headers.extend(table.headers.iter().map(String::as_str));
    let mut writer = XlsxWriter::new(zh("sheet.report.sheet"), &headers)?;
    for (line, why) in reasons {
        let mut cells = vec![Cell::Int(line as i64), Cell::Text(why.join("；"))];
        if let Some(row) = rows.get(&line) {
            cells.extend(row.cells.iter().map(|c| Cell::Text(c.clone())));
        }
        writer.push_row(&cells)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("身份证号"), 8);
        assert_eq!(display_width("ＡＢ1"), 5);
        assert_eq!(display_width("一\nabcdef"), 6);
    }

    #[test]
    fn sheet_names() {
        assert_eq!(safe_sheet_name("a/b:c"), "a_b_c");
        assert_eq!(safe_sheet_name("'x'"), "x");
        assert_eq!(safe_sheet_name(""), "Sheet1");
        assert_eq!(safe_sheet_name(&"名".repeat(40)).chars().count(), 31);
    }

    #[test]
    fn csv_injection_guard() {
        assert_eq!(csv_safe("=1+2"), "'=1+2");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("+86 138"), "'+86 138");
        assert_eq!(csv_safe("-5"), "-5");
        assert_eq!(csv_safe("+3.5"), "+3.5");
        assert_eq!(csv_safe("张三"), "张三");
    }
}
