//! The spreadsheet reader's and writer's entries of the translation table (see
//! [`crate::i18n`]): what is wrong with a file and how to fix it, and the error report's
//! column headers.

use crate::i18n::Entry;

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
