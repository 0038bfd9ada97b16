use linli_core::table::TableRow;
use linli_sheet::{read, write_csv, SheetError};

fn row(line: usize, cells: &[&str]) -> TableRow {
    TableRow {
        line,
        cells: cells.iter().map(|c| c.to_string()).collect(),
    }
}

const TEXT: &str =
    "姓名,身份证号,电话\n张三, 330102199001011234 ,13800138000\n\n李四,11010519491231002X\n";

fn expected() -> Vec<TableRow> {
    vec![
        row(2, &["张三", "330102199001011234", "13800138000"]),
        // A short row stays short: cell() gives "" for the missing phone.
        row(4, &["李四", "11010519491231002X"]),
    ]
}

#[test]
fn utf8() {
    let t = read("a.csv", TEXT.as_bytes()).unwrap();
    assert_eq!(t.headers, ["姓名", "身份证号", "电话"]);
    assert_eq!(t.rows, expected());
    assert_eq!(t.rows[1].cell(2), "");
    assert!(t.lossy.is_empty());
}

#[test]
fn utf8_with_bom() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(TEXT.as_bytes());
    let t = read("a.csv", &bytes).unwrap();
    assert_eq!(t.headers, ["姓名", "身份证号", "电话"]);
    assert_eq!(t.rows, expected());
}

#[test]
fn gbk_as_excel_saves_it() {
    let text = TEXT.replace('\n', "\r\n");
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "really GBK, not UTF-8"
    );
    let t = read("登记.csv", &bytes).unwrap();
    assert_eq!(t.headers, ["姓名", "身份证号", "电话"]);
    assert_eq!(t.rows, expected());
    // GB18030's own characters (beyond GBK) too.
    let (bytes, _, _) = encoding_rs::GB18030.encode("名称\n𠀀街道\n");
    assert_eq!(
        read("x.csv", &bytes).unwrap().rows,
        vec![row(2, &["𠀀街道"])]
    );
}

#[test]
fn utf16_unicode_text() {
    // Excel's "Unicode text" export: UTF-16LE with a BOM, tab-delimited.
    let text = "姓名\t电话\r\n张三\t13800138000\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let t = read("a.txt", &bytes).unwrap();
    assert_eq!(t.headers, ["姓名", "电话"]);
    assert_eq!(t.rows, vec![row(2, &["张三", "13800138000"])]);
}

#[test]
fn tab_and_semicolon_delimited() {
    let t = read(
        "a.tsv",
        "名称\t地址, 门牌\n一号楼\t清波街道, 1号\n".as_bytes(),
    )
    .unwrap();
    assert_eq!(t.headers, ["名称", "地址, 门牌"]);
    assert_eq!(t.rows, vec![row(2, &["一号楼", "清波街道, 1号"])]);

    let t = read("a.csv", "a;b;c\n1,5;2;3\n".as_bytes()).unwrap();
    assert_eq!(t.headers, ["a", "b", "c"]);
    assert_eq!(t.rows, vec![row(2, &["1,5", "2", "3"])]);
}

#[test]
fn quoted_commas_and_newlines_keep_line_numbers() {
    let text = "名称,备注,电话\n\
                \"一号楼\",\"东侧, 靠河\",1\n\
                二号楼,\"第一行\n第二行\",2\n\
                三号楼,\"说 \"\"你好\"\"\",3\n";
    let t = read("q.csv", text.as_bytes()).unwrap();
    assert_eq!(
        t.rows,
        vec![
            row(2, &["一号楼", "东侧, 靠河", "1"]),
            row(3, &["二号楼", "第一行\n第二行", "2"]),
            // The record before spans lines 3 and 4.
            row(5, &["三号楼", "说 \"你好\"", "3"]),
        ]
    );
}

#[test]
fn blank_lines_before_header_count() {
    let t = read("b.csv", b"\n,,\nname,code\n\nx,1\n,,\n").unwrap();
    assert_eq!(t.headers, ["name", "code"]);
    assert_eq!(t.rows, vec![row(5, &["x", "1"])]);
}

#[test]
fn a_file_named_xls_holding_text_is_read_as_text() {
    // Some systems export tab-separated text under an .xls name.
    let t = read("导出.xls", "名称\t代码\n一号楼\t001\n".as_bytes()).unwrap();
    assert_eq!(t.rows, vec![row(2, &["一号楼", "001"])]);
}

#[test]
fn header_only() {
    let t = read("h.csv", "a,b\n".as_bytes()).unwrap();
    assert_eq!(t.headers, ["a", "b"]);
    assert!(t.rows.is_empty());
    assert_eq!(
        read("h.csv", b"\xEF\xBB\xBF").unwrap_err(),
        SheetError::Empty
    );
}

#[test]
fn write_csv_has_bom_and_reads_back() {
    let rows = vec![
        vec![
            "张三".to_string(),
            "东侧, 靠河".to_string(),
            "=HYPERLINK(\"x\")".to_string(),
        ],
        vec![
            "李四".to_string(),
            "第一行\n第二行".to_string(),
            "-5".to_string(),
        ],
    ];
    let bytes = write_csv(&["姓名", "备注", "值"], &rows);
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.starts_with("姓名,备注,值\r\n"), "{text}");
    let t = read("out.csv", &bytes).unwrap();
    assert_eq!(t.headers, ["姓名", "备注", "值"]);
    assert_eq!(
        t.rows,
        vec![
            row(2, &["张三", "东侧, 靠河", "'=HYPERLINK(\"x\")"]),
            row(3, &["李四", "第一行\n第二行", "-5"]),
        ]
    );
    // Any rows of anything string-like.
    let bytes = write_csv(&["a"], [["x"], ["y"]]);
    assert_eq!(&bytes[3..], b"a\r\nx\r\ny\r\n");
}
