//! Reading: .xlsx through calamine's streaming cell reader, CSV through the csv crate after
//! decoding whatever encoding Excel or WPS saved it in.

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{
    open_workbook_from_rs, DataRef, ExcelDateTime, ExcelDateTimeType, Reader, SheetType,
    SheetVisible, Xlsx, XlsxError,
};
use encoding_rs::{GB18030, UTF_16BE, UTF_16LE};
use linli_core::table::{Table, TableRow};

use crate::SheetError;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The start of an OLE compound file: Excel 97-2003 workbooks and encrypted workbooks.
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0";

/// Reads a spreadsheet into a [`Table`] of trimmed text.
///
/// The format is chosen by content: a zip file is read as an .xlsx workbook (its first visible
/// worksheet), an OLE file (Excel 97-2003 .xls, or a password-protected workbook) is refused
/// with a message asking for .xlsx, and anything else is read as delimited text (comma, tab or
/// semicolon, whichever the header line has most of) in UTF-8, GBK/GB18030 or UTF-16 with BOM.
/// The extension matters only when the content does not decide: a file named .xlsx that is not
/// a zip is reported as a damaged workbook.
///
/// The header is the first row with any value; rows with no value are skipped. A worksheet
/// row has a cell for every header column and more when it has values further right; a CSV row
/// has the fields the line has, so a short row stays visible as short. Lines are numbered as
/// the user sees them: the Excel row number, or the CSV line where the record starts. Columns
/// start at the leftmost column holding a value.
///
/// Cells become text: numbers as Excel shows them, to 15 significant digits, without exponent
/// or trailing ".0" ("42", "3.5", "0.3" for 0.30000000000000004), dates as
/// `YYYY-MM-DD` (with ` HH:MM:SS` when there is a time), times as `HH:MM:SS`, booleans as
/// `TRUE`/`FALSE`. A number of 16 or more digits (an ID number typed into a numeric cell,
/// which Excel keeps to 15 significant digits) is written out as its integer digits and listed
/// in [`Table::lossy`]. A formula error (`#N/A`, …) refuses the file, naming the cell.
///
/// There is no size limit here: the server limits request bodies.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Table, SheetError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SheetError::Empty);
    }
    if bytes.starts_with(ZIP_MAGIC) {
        return read_xlsx(file_name, bytes);
    }
    if bytes.starts_with(OLE_MAGIC) {
        return Err(SheetError::OldXls);
    }
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(ext.as_str(), "xlsx" | "xlsm" | "xltx" | "xltm") {
        return Err(SheetError::BadXlsx {
            name: file_name.to_string(),
            detail: "not a zip container".into(),
        });
    }
    let text = decode(file_name, bytes)?;
    let start: String = text
        .trim_start()
        .chars()
        .take(200)
        .collect::<String>()
        .to_ascii_lowercase();
    if start.starts_with("<?xml") && start.contains("progid=\"excel.sheet\"") {
        // Excel 2003 XML spreadsheet, which some systems export under an .xls name.
        return Err(SheetError::OldXls);
    }
    if ["<!doctype html", "<html", "<table", "<meta", "<?xml"]
        .iter()
        .any(|p| start.starts_with(p))
    {
        return Err(SheetError::Html {
            name: file_name.to_string(),
        });
    }
    read_delimited(&text)
}

/// Decodes text: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of
/// GBK, what Excel on Chinese Windows uses for CSV).
fn decode<'a>(file_name: &str, bytes: &'a [u8]) -> Result<Cow<'a, str>, SheetError> {
    let not_text = || SheetError::NotText {
        name: file_name.to_string(),
    };
    let text: Cow<str> = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Cow::Borrowed(std::str::from_utf8(rest).map_err(|_| not_text())?)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        UTF_16LE
            .decode_without_bom_handling_and_without_replacement(rest)
            .ok_or_else(not_text)?
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        UTF_16BE
            .decode_without_bom_handling_and_without_replacement(rest)
            .ok_or_else(not_text)?
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        Cow::Borrowed(text)
    } else {
        GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or_else(not_text)?
    };
    if text.contains('\0') {
        return Err(not_text());
    }
    Ok(text)
}

/// The delimiter the header line uses most: tab, comma or semicolon (in that order on a tie;
/// comma when there is none).
fn sniff_delimiter(text: &str) -> u8 {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            '\t' if !quoted => counts[1] += 1,
            ';' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    if counts == [0, 0, 0] {
        return b',';
    }
    // On a tie, tab wins (a tab-separated header may well hold a comma), then comma.
    let best = [1, 0, 2]
        .into_iter()
        .fold(1, |best, i| if counts[i] > counts[best] { i } else { best });
    [b',', b'\t', b';'][best]
}

fn read_delimited(text: &str) -> Result<Table, SheetError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut table = Table::default();
    let mut have_header = false;
    // The csv crate's own line count skips blank lines; count physical lines from the byte
    // offsets instead.
    let mut lines = LineCounter::new(text);
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(SheetError::Csv {
                    line: e.position().map_or(0, |p| lines.line_at(p.byte())),
                    detail: e.to_string(),
                })
            }
        }
        // Spreadsheets often end with rows of empty cells.
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if have_header {
            let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
            table.rows.push(TableRow { line, cells });
        } else {
            table.headers = cells;
            have_header = true;
        }
    }
    if !have_header {
        return Err(SheetError::Empty);
    }
    Ok(table)
}

/// Physical line numbers of record starts, asked in increasing order. A line ends at `\n`, at
/// `\r\n`, or at a lone `\r` (old Mac Excel).
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The line of the record at `byte`. The csv crate may point at the line break (or blank
    /// lines) before the record, so those are skipped first: a record never starts with a
    /// line break (a quoted value starts with its quote).
    fn line_at(&mut self, byte: u64) -> usize {
        let text = self.text;
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
        while matches!(text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        while self.pos < start {
            match text[self.pos] {
                b'\n' => self.line += 1,
                b'\r' if text.get(self.pos + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            self.pos += 1;
        }
        self.line
    }
}

fn read_xlsx(file_name: &str, bytes: &[u8]) -> Result<Table, SheetError> {
    let bad = |e: XlsxError| match e {
        XlsxError::Password => SheetError::OldXls,
        e => SheetError::BadXlsx {
            name: file_name.to_string(),
            detail: e.to_string(),
        },
    };
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).map_err(bad)?;
    let sheets = workbook.sheets_metadata();
    let is_worksheet = |s: &&calamine::Sheet| matches!(s.typ, SheetType::WorkSheet);
    let sheet = sheets
        .iter()
        .filter(is_worksheet)
        .find(|s| matches!(s.visible, SheetVisible::Visible))
        .or_else(|| sheets.iter().find(is_worksheet))
        .map(|s| s.name.clone())
        .ok_or_else(|| SheetError::NoSheet {
            name: file_name.to_string(),
        })?;

    // Stream the cells rather than asking for a dense range: one stray value far down and to
    // the right must not allocate rows × columns cells.
    let mut reader = workbook.worksheet_cells_reader(&sheet).map_err(bad)?;
    let mut cells: Vec<(u32, u32, String, bool)> = Vec::new();
    while let Some(cell) = reader.next_cell().map_err(bad)? {
        let (row, col) = cell.get_position();
        match cell_text(cell.get_value()) {
            Ok((text, lossy)) if !text.is_empty() => cells.push((row, col, text, lossy)),
            Ok(_) => {}
            Err(value) => {
                return Err(SheetError::CellError {
                    cell: cell_name(row, col),
                    value,
                })
            }
        }
    }
    drop(reader);
    if !cells.is_sorted_by_key(|c| (c.0, c.1)) {
        cells.sort_by_key(|c| (c.0, c.1));
    }
    let Some(first_col) = cells.iter().map(|c| c.1).min() else {
        return Err(SheetError::Empty);
    };

    let mut table = Table::default();
    let mut current: Option<(u32, Vec<String>)> = None;
    let mut lossy = Vec::new();
    for (row, col, text, is_lossy) in cells {
        if current.as_ref().is_some_and(|(r, _)| *r != row) {
            push_row(&mut table, current.take());
        }
        let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
        let j = (col - first_col) as usize;
        if values.len() <= j {
            values.resize(j + 1, String::new());
        }
        values[j] = text;
        if is_lossy {
            lossy.push((row as usize + 1, j));
        }
    }
    push_row(&mut table, current);
    // A worksheet row has every column of the header, so no row looks short.
    let width = table.headers.len();
    for row in &mut table.rows {
        if row.cells.len() < width {
            row.cells.resize(width, String::new());
        }
    }
    // Only data cells count as lossy, not a number in the header.
    let data_lines: std::collections::HashSet<usize> = table.rows.iter().map(|r| r.line).collect();
    table.lossy = lossy
        .into_iter()
        .filter(|(line, _)| data_lines.contains(line))
        .collect();
    Ok(table)
}

/// Adds a row read from a worksheet: the first becomes the header.
fn push_row(table: &mut Table, row: Option<(u32, Vec<String>)>) {
    let Some((row, cells)) = row else { return };
    if table.headers.is_empty() {
        table.headers = cells;
    } else {
        table.rows.push(TableRow {
            line: row as usize + 1,
            cells,
        });
    }
}

/// A cell's text and whether it is a number that lost digits, or the text of its error.
fn cell_text(value: &DataRef<'_>) -> Result<(String, bool), String> {
    Ok(match value {
        DataRef::Empty => (String::new(), false),
        DataRef::String(s) => (s.trim().to_string(), false),
        DataRef::SharedString(s) => (s.trim().to_string(), false),
        DataRef::Int(i) => (i.to_string(), false),
        DataRef::Float(f) => float_text(*f),
        DataRef::Bool(b) => ((if *b { "TRUE" } else { "FALSE" }).to_string(), false),
        DataRef::DateTime(dt) => (datetime_text(dt), false),
        DataRef::DateTimeIso(s) => (iso_text(s), false),
        DataRef::DurationIso(s) => (s.trim().to_string(), false),
        DataRef::Error(e) => return Err(e.to_string()),
    })
}

/// A number as Excel shows it: to 15 significant digits (all Excel keeps of a typed number,
/// though formula results are stored with 17, e.g. 0.30000000000000004 for 0.3), in its
/// shortest decimal form, never in exponent form. From 10^15 up a spreadsheet cannot have
/// kept every digit typed, so those are lossy, and shown as integers.
fn float_text(f: f64) -> (String, bool) {
    if !f.is_finite() {
        return (f.to_string(), false);
    }
    let f: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    if f.abs() >= 1e15 {
        return (format!("{}", f.trunc()), true);
    }
    if f == 0.0 {
        return ("0".to_string(), false);
    }
    (format!("{f}"), false)
}

fn datetime_text(dt: &ExcelDateTime) -> String {
    let value = dt.as_f64();
    if dt.is_duration() {
        let total = (value * 86_400.0).round() as i64;
        let sign = if total < 0 { "-" } else { "" };
        let t = total.unsigned_abs();
        return format!("{sign}{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
    }
    // calamine does not say which epoch the workbook uses; an equal value built with the
    // 1900 epoch tells.
    let is_1904 = *dt != ExcelDateTime::new(value, ExcelDateTimeType::DateTime, false);
    let rounded = ExcelDateTime::new(
        (value * 86_400.0).round() / 86_400.0,
        ExcelDateTimeType::DateTime,
        is_1904,
    );
    let (y, mo, d, h, mi, s, _) = rounded.to_ymd_hms_milli();
    if (0.0..1.0).contains(&value) {
        format!("{h:02}:{mi:02}:{s:02}")
    } else if (h, mi, s) == (0, 0, 0) {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }
}

/// An ISO 8601 date-time as the other dates are shown.
fn iso_text(s: &str) -> String {
    let s = s.trim();
    match s.split_once('T') {
        Some((date, time)) => {
            let time = time.trim_end_matches('Z');
            let time = time.split('.').next().unwrap_or(time);
            if time.trim_start_matches(['0', ':']).is_empty() {
                date.to_string()
            } else {
                format!("{date} {time}")
            }
        }
        None => s.to_string(),
    }
}

/// A cell's name as Excel shows it: column letters and 1-based row ("C7").
pub(crate) fn cell_name(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = col as u64 + 1;
    while n > 0 {
        let r = ((n - 1) % 26) as u8;
        letters.push(b'A' + r);
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!(
        "{}{}",
        String::from_utf8(letters).expect("ASCII"),
        row as u64 + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(6, 2), "C7");
        assert_eq!(cell_name(0, 25), "Z1");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(1_048_575, 16_383), "XFD1048576");
    }

    #[test]
    fn floats() {
        assert_eq!(float_text(42.0), ("42".into(), false));
        assert_eq!(float_text(-0.0), ("0".into(), false));
        assert_eq!(float_text(3.5), ("3.5".into(), false));
        assert_eq!(float_text(0.1), ("0.1".into(), false));
        assert_eq!(float_text(1e-7), ("0.0000001".into(), false));
        assert_eq!(float_text(13800138000.0), ("13800138000".into(), false));
        assert_eq!(
            float_text(999_999_999_999_999.0),
            ("999999999999999".into(), false)
        );
        assert_eq!(
            float_text(3.30102199001011e17),
            ("330102199001011000".into(), true)
        );
        // Written by a program with all 17 digits: shown as Excel shows it.
        assert_eq!(
            float_text(330102199001011234.0),
            ("330102199001011000".into(), true)
        );
        assert_eq!(float_text(0.1 + 0.2), ("0.3".into(), false));
        assert_eq!(float_text(1234.5678), ("1234.5678".into(), false));
        assert_eq!(float_text(-2.5e-10), ("-0.00000000025".into(), false));
    }

    #[test]
    fn iso() {
        assert_eq!(iso_text("2024-03-01T00:00:00"), "2024-03-01");
        assert_eq!(iso_text("2024-03-01T08:30:00.000Z"), "2024-03-01 08:30:00");
        assert_eq!(iso_text("2024-03-01"), "2024-03-01");
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_delimiter("a,b,c\n1;2"), b',');
        assert_eq!(sniff_delimiter("\n\na\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("a;b;\"c,d,e\""), b';');
        assert_eq!(sniff_delimiter("just one"), b',');
        assert_eq!(sniff_delimiter("名称\t地址, 门牌"), b'\t');
    }
}
