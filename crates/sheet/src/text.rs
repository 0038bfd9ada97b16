//! The user-facing text of this crate, in the shape of a slice of the translation table
//! (`linli_core::i18n::TABLES`): key, Chinese, English, with `{name}` placeholders. It lives
//! here until it moves into `linli-core` beside the other slices; [`SheetError::key`] and
//! [`SheetError::args`] already name these entries.
//!
//! [`SheetError::key`]: crate::SheetError::key
//! [`SheetError::args`]: crate::SheetError::args

use linli_core::i18n::{Entry, Lang};

pub static TABLE: &[Entry] = &[
    (
        "sheet.empty",
        "文件是空的：没有找到表头行。",
        "The file is empty: it has no header row.",
    ),
    (
        "sheet.old_xls",
        "这是旧版 Excel 97-2003 工作簿（.xls），或设置了打开密码的 Excel 文件，无法直接读取。请用 Excel 或 WPS 打开，“另存为”Excel 工作簿（.xlsx）后再导入；如设有密码，请先取消密码。",
        "This is an old Excel 97-2003 workbook (.xls), or a password-protected Excel file, which cannot be read. Open it in Excel or WPS, “Save as” Excel Workbook (.xlsx) and import that; remove any password first.",
    ),
    (
        "sheet.html",
        "文件 {name} 的内容其实是网页（HTML），不是表格文件，常见于其他系统导出的“Excel”。请用 Excel 打开，另存为 Excel 工作簿（.xlsx）后再导入。",
        "The file {name} is really a web page (HTML), not a spreadsheet, as some systems export as “Excel”. Open it in Excel, save it as Excel Workbook (.xlsx) and import that.",
    ),
    (
        "sheet.bad_xlsx",
        "无法读取 {name}：文件已损坏，或不是 Excel 工作簿（{detail}）。请用 Excel 或 WPS 打开确认，另存为 .xlsx 或 CSV 后再导入。",
        "{name} cannot be read: it is damaged or not an Excel workbook ({detail}). Open it in Excel or WPS to check, save it as .xlsx or CSV and import that.",
    ),
    (
        "sheet.no_sheet",
        "{name} 里没有工作表。",
        "{name} has no worksheet.",
    ),
    (
        "sheet.cell_error",
        "单元格 {cell} 的值是公式错误 {value}，不是数据。请改正公式，或把它换成实际的值后再导入。",
        "Cell {cell} holds the formula error {value}, not a value. Correct the formula or replace it by the value, then import again.",
    ),
    (
        "sheet.not_text",
        "无法识别 {name}：它既不是 Excel 工作簿（.xlsx），也不是 UTF-8 或 GBK 编码的 CSV 文本。请另存为 .xlsx 或 CSV 后再导入。",
        "{name} is not recognised: it is neither an Excel workbook (.xlsx) nor CSV text in UTF-8 or GBK. Save it as .xlsx or CSV and import that.",
    ),
    (
        "sheet.bad_csv",
        "CSV 第 {line} 行无法解析：{detail}。",
        "Line {line} of the CSV cannot be parsed: {detail}.",
    ),
    (
        "sheet.too_many_rows",
        "数据超过 Excel 的行数上限（每个工作表 1,048,576 行）。请缩小范围，分批导出。",
        "The data is more than an Excel worksheet holds (1,048,576 rows). Narrow the selection and export in parts.",
    ),
    (
        "sheet.write_failed",
        "生成 Excel 文件失败：{detail}。",
        "The Excel file could not be made: {detail}.",
    ),
    // Column headers of the error report (see `error_report`).
    ("sheet.report.line", "行号", "Line"),
    ("sheet.report.reason", "错误原因", "Reason"),
    ("sheet.report.sheet", "错误行", "Errors"),
];

/// The text for `key` in `lang` with `{name}` placeholders filled, as
/// `linli_core::i18n::format` does.
pub(crate) fn format(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let (zh, en) = TABLE
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, zh, en)| (zh, en))
        .unwrap_or((key, key));
    let mut out = match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
    .to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The Chinese text for `key` (for headers written into files, which are Chinese).
pub(crate) fn zh(key: &str) -> &'static str {
    TABLE
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, zh, _)| zh)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_unique_and_placeholders_match() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in TABLE {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(k.starts_with("sheet."));
            let holes = |s: &str| {
                let mut v: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(h, _)| h.to_string()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(holes(zh), holes(en), "{k}: placeholders differ");
        }
    }
}
