//! Spreadsheets in and out.
//!
//! Community offices keep their registers in Excel, so linli reads what they have and writes
//! what they can open:
//!
//! - [`read`] turns an uploaded `.xlsx` or `.csv` (UTF-8, UTF-8 with BOM, GBK/GB18030 as Excel
//!   on Chinese Windows saves it, or UTF-16 as Excel's "Unicode text") into a
//!   [`linli_core::table::Table`] of trimmed text cells with the line numbers the user sees;
//! - [`XlsxWriter`] writes large exports row by row in constant memory, every text cell as
//!   text so that ID numbers and phones keep their digits;
//! - [`write_csv`] writes CSV with a BOM so that Excel shows Chinese correctly;
//! - [`error_report`] gives back the rows of a refused import with their reasons, for the user
//!   to correct and import again.
//!
//! [`read`] sets no size limit of its own: the server limits request bodies.

mod read;
mod text;
mod write;

use linli_core::i18n::Lang;

pub use read::read;
pub use write::{error_report, write_csv, Cell, XlsxWriter};

/// Why a file could not be read or written. [`SheetError::message`] says it in the user's
/// language; [`SheetError::code`], [`SheetError::key`] and [`SheetError::args`] are the parts
/// of a `linli_core::Problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetError {
    /// No header row: the file is empty or every row is blank.
    Empty,
    /// An Excel 97-2003 (.xls) file, or a password-protected workbook (both are OLE files).
    OldXls,
    /// A web page given an .xls or .csv name.
    Html { name: String },
    /// A zip file that is not a readable workbook, or a file named .xlsx that is not a zip.
    BadXlsx { name: String, detail: String },
    /// A workbook without a worksheet.
    NoSheet { name: String },
    /// A cell holding a formula error such as `#N/A`, named as Excel names it (e.g. `C7`).
    CellError { cell: String, value: String },
    /// Neither a workbook nor text in a known encoding.
    NotText { name: String },
    /// A CSV line the parser refused.
    Csv { line: usize, detail: String },
    /// More rows than an Excel worksheet holds.
    TooManyRows,
    /// The workbook could not be written.
    Write { detail: String },
}

impl SheetError {
    /// Stable machine code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            SheetError::Empty => "sheet_empty",
            SheetError::OldXls => "sheet_old_xls",
            SheetError::Html { .. } => "sheet_html",
            SheetError::BadXlsx { .. } => "sheet_bad_xlsx",
            SheetError::NoSheet { .. } => "sheet_no_sheet",
            SheetError::CellError { .. } => "sheet_cell_error",
            SheetError::NotText { .. } => "sheet_not_text",
            SheetError::Csv { .. } => "sheet_bad_csv",
            SheetError::TooManyRows => "sheet_too_many_rows",
            SheetError::Write { .. } => "sheet_write_failed",
        }
    }

    /// The translation key of the message (in linli-core's translation table).
    pub fn key(&self) -> &'static str {
        match self {
            SheetError::Empty => "sheet.empty",
            SheetError::OldXls => "sheet.old_xls",
            SheetError::Html { .. } => "sheet.html",
            SheetError::BadXlsx { .. } => "sheet.bad_xlsx",
            SheetError::NoSheet { .. } => "sheet.no_sheet",
            SheetError::CellError { .. } => "sheet.cell_error",
            SheetError::NotText { .. } => "sheet.not_text",
            SheetError::Csv { .. } => "sheet.bad_csv",
            SheetError::TooManyRows => "sheet.too_many_rows",
            SheetError::Write { .. } => "sheet.write_failed",
        }
    }

    /// The values for the message's placeholders.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            SheetError::Empty | SheetError::OldXls | SheetError::TooManyRows => Vec::new(),
            SheetError::Html { name }
            | SheetError::NoSheet { name }
            | SheetError::NotText { name } => vec![("name", name.clone())],
            SheetError::BadXlsx { name, detail } => {
                vec![("name", name.clone()), ("detail", detail.clone())]
            }
            SheetError::CellError { cell, value } => {
                vec![("cell", cell.clone()), ("value", value.clone())]
            }
            SheetError::Csv { line, detail } => {
                vec![("line", line.to_string()), ("detail", detail.clone())]
            }
            SheetError::Write { detail } => vec![("detail", detail.clone())],
        }
    }

    /// The message in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        text::format(lang, self.key(), &self.args())
    }
}

impl std::fmt::Display for SheetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for SheetError {}

impl From<rust_xlsxwriter::XlsxError> for SheetError {
    fn from(e: rust_xlsxwriter::XlsxError) -> SheetError {
        SheetError::Write {
            detail: e.to_string(),
        }
    }
}
