use linli_core::i18n::Lang;
use linli_core::table::TableRow;
use linli_sheet::{error_report, read, Cell, SheetError, XlsxWriter};
use proptest::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

fn row(line: usize, cells: &[&str]) -> TableRow {
    TableRow {
        line,
        cells: cells.iter().map(|c| c.to_string()).collect(),
    }
}

#[test]
fn own_writer_round_trip() {
    let mut w = XlsxWriter::new("居民", &["姓名", "身份证号", "电话", "年龄", "面积"]).unwrap();
    w.push_row(&[
        Cell::Text("  张三 ".into()),
        Cell::Text("330102199001011234".into()),
        Cell::Text("13800138000".into()),
        Cell::Int(34),
        Cell::Float(89.5),
    ])
    .unwrap();
    w.push_row(&[Cell::Empty, Cell::Empty]).unwrap(); // an empty row: skipped on reading
    w.push_row(&[
        Cell::Text("李四".into()),
        Cell::Text("11010519491231002X".into()),
        Cell::Empty,
        Cell::Int(1_234_567_890_123_456_789),
        Cell::Float(f64::NAN),
    ])
    .unwrap();
    w.push_row(&[Cell::Text("王五".into())]).unwrap();
    assert_eq!(w.rows(), 4);
    let bytes = w.finish().unwrap();

    let t = read("export.xlsx", &bytes).unwrap();
    assert_eq!(t.headers, ["姓名", "身份证号", "电话", "年龄", "面积"]);
    assert_eq!(
        t.rows,
        vec![
            row(
                2,
                &["张三", "330102199001011234", "13800138000", "34", "89.5"]
            ),
            row(
                4,
                &[
                    "李四",
                    "11010519491231002X",
                    "",
                    "1234567890123456789",
                    "NaN"
                ]
            ),
            row(5, &["王五", "", "", "", ""]),
        ]
    );
    assert!(
        t.lossy.is_empty(),
        "text cells keep their digits: {:?}",
        t.lossy
    );
    // Content decides, not the name.
    assert_eq!(read("export.csv", &bytes).unwrap(), t);
}

#[test]
fn text_with_line_breaks_and_tabs_survives() {
    let mut w = XlsxWriter::new("s", &["备注"]).unwrap();
    w.push_row(&[Cell::Text("第一行\n第二行\t完".into())])
        .unwrap();
    w.push_row(&[Cell::Text("<&> \"quoted\" '".into())])
        .unwrap();
    let t = read("a.xlsx", &w.finish().unwrap()).unwrap();
    assert_eq!(t.rows[0].cells, ["第一行\n第二行\t完"]);
    assert_eq!(t.rows[1].cells, ["<&> \"quoted\" '"]);
}

/// A workbook as someone would make it by hand in Excel: a title above the header, numbers,
/// dates, an ID number typed into a numeric cell, blank rows, a boolean.
#[test]
fn hand_made_workbook() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let time = Format::new().set_num_format("hh:mm");
    // Row 1 empty; the header on row 3, starting in column B (row 2 is blank too).
    ws.write_string(2, 1, "姓名").unwrap();
    ws.write_string(2, 2, "身份证号").unwrap();
    ws.write_string(2, 3, "出生日期").unwrap();
    ws.write_string(2, 4, "登记时间").unwrap();
    ws.write_string(2, 5, "人数").unwrap();
    ws.write_string(2, 6, "面积").unwrap();
    ws.write_string(2, 7, "党员").unwrap();
    ws.write_string(2, 8, "到岗").unwrap();
    // Row 4: values.
    ws.write_string(3, 1, " 张三 ").unwrap();
    ws.write_number(3, 2, 330102199001011234.0).unwrap();
    ws.write_datetime_with_format(3, 3, ExcelDateTime::from_ymd(1990, 1, 1).unwrap(), &date)
        .unwrap();
    ws.write_datetime_with_format(
        3,
        4,
        ExcelDateTime::parse_from_str("2024-03-05 14:30:15").unwrap(),
        &datetime,
    )
    .unwrap();
    ws.write_number(3, 5, 3.0).unwrap();
    ws.write_number(3, 6, 0.1).unwrap();
    ws.write_boolean(3, 7, true).unwrap();
    ws.write_number_with_format(3, 8, 0.375, &time).unwrap();
    // Rows 5 and 6: blank, then a row holding only spaces.
    ws.write_string(5, 1, "   ").unwrap();
    // Row 7: a datetime at midnight is a date; a 15-digit number is exact.
    ws.write_string(6, 1, "李四").unwrap();
    ws.write_number(6, 2, 123456789012345.0).unwrap();
    ws.write_datetime_with_format(
        6,
        4,
        ExcelDateTime::from_ymd(2024, 12, 31).unwrap(),
        &datetime,
    )
    .unwrap();
    ws.write_number(6, 5, -12.0).unwrap();
    ws.write_number(6, 6, 1234.5678).unwrap();
    let bytes = wb.save_to_buffer().unwrap();

    let t = read("登记表.xlsx", &bytes).unwrap();
    assert_eq!(
        t.headers,
        [
            "姓名",
            "身份证号",
            "出生日期",
            "登记时间",
            "人数",
            "面积",
            "党员",
            "到岗"
        ]
    );
    assert_eq!(
        t.rows,
        vec![
            row(
                4,
                &[
                    "张三",
                    "330102199001011000",
                    "1990-01-01",
                    "2024-03-05 14:30:15",
                    "3",
                    "0.1",
                    "TRUE",
                    "09:00:00"
                ]
            ),
            row(
                7,
                &[
                    "李四",
                    "123456789012345",
                    "",
                    "2024-12-31",
                    "-12",
                    "1234.5678",
                    "",
                    ""
                ]
            ),
        ]
    );
    // The ID number typed into a numeric cell lost its last digits: flagged, by line and column.
    assert_eq!(t.lossy, vec![(4, 1)]);
    assert!(t.is_lossy(4, 1));
    assert_eq!(t.column(&["身份证号"]), Some(1));
}

#[test]
fn first_visible_worksheet_is_read() {
    let mut wb = Workbook::new();
    let hidden = wb.add_worksheet();
    hidden.set_name("说明").unwrap();
    hidden.write_string(0, 0, "hidden notes").unwrap();
    hidden.set_hidden(true);
    let ws = wb.add_worksheet();
    ws.set_name("数据").unwrap();
    ws.write_string(0, 0, "名称").unwrap();
    ws.write_string(1, 0, "一号楼").unwrap();
    ws.set_active(true);
    let t = read("b.xlsx", &wb.save_to_buffer().unwrap()).unwrap();
    assert_eq!(t.headers, ["名称"]);
    assert_eq!(t.rows, vec![row(2, &["一号楼"])]);
}

#[test]
fn formula_error_names_the_cell() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "a").unwrap();
    ws.write_string(0, 2, "c").unwrap();
    ws.write_formula(
        6,
        2,
        rust_xlsxwriter::Formula::new("=NA()").set_result("#N/A"),
    )
    .unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let e = read("f.xlsx", &bytes).unwrap_err();
    assert_eq!(
        e,
        SheetError::CellError {
            cell: "C7".into(),
            value: "#N/A".into()
        }
    );
    assert!(
        e.message(Lang::Zh).contains("单元格 C7"),
        "{}",
        e.message(Lang::Zh)
    );
    assert!(e.message(Lang::En).contains("Cell C7"));
}

#[test]
fn a_far_away_stray_cell_is_cheap() {
    // A dense read of this sheet would be 16,384 × 1,048,576 cells.
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "名称").unwrap();
    ws.write_string(1, 0, "x").unwrap();
    ws.write_string(1_048_575, 16_383, "stray").unwrap();
    let t = read("s.xlsx", &wb.save_to_buffer().unwrap()).unwrap();
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.rows[1].line, 1_048_576);
    assert_eq!(t.rows[1].cell(16_383), "stray");
}

#[test]
fn empty_workbook_and_header_only() {
    let mut wb = Workbook::new();
    wb.add_worksheet();
    let e = read("e.xlsx", &wb.save_to_buffer().unwrap()).unwrap_err();
    assert_eq!(e, SheetError::Empty);

    let w = XlsxWriter::new("s", &["a", "b"]).unwrap();
    let t = read("h.xlsx", &w.finish().unwrap()).unwrap();
    assert_eq!(t.headers, ["a", "b"]);
    assert!(t.rows.is_empty());
}

#[test]
fn old_xls_and_garbage_are_refused_clearly() {
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.extend(std::iter::repeat_n(0u8, 600));
    for name in ["old.xls", "old.xlsx", "old.csv"] {
        let e = read(name, &ole).unwrap_err();
        assert_eq!(e, SheetError::OldXls);
        assert!(e.message(Lang::Zh).contains(".xlsx"));
    }

    let e = read("junk.xlsx", b"this is not a workbook at all").unwrap_err();
    assert!(matches!(e, SheetError::BadXlsx { .. }), "{e:?}");
    assert!(e.message(Lang::Zh).contains("junk.xlsx"));

    // A zip that is not a workbook.
    let mut zip = b"PK\x03\x04".to_vec();
    zip.extend_from_slice(&[7u8; 100]);
    let e = read("junk.xlsx", &zip).unwrap_err();
    assert!(matches!(e, SheetError::BadXlsx { .. }), "{e:?}");

    // A web page saved as .xls, as some systems export.
    let e = read(
        "导出.xls",
        "<html><table><tr><td>姓名</td></tr></table></html>".as_bytes(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        SheetError::Html {
            name: "导出.xls".into()
        }
    );

    // Binary noise.
    let noise: Vec<u8> = (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let e = read("noise.csv", &noise).unwrap_err();
    assert!(matches!(e, SheetError::NotText { .. }), "{e:?}");

    assert_eq!(read("empty.xlsx", b"").unwrap_err(), SheetError::Empty);
    assert_eq!(read("empty.csv", b" \r\n").unwrap_err(), SheetError::Empty);
}

#[test]
fn error_report_lists_bad_rows_with_reasons() {
    let table = linli_core::table::Table {
        headers: vec!["姓名".into(), "身份证号".into()],
        rows: vec![
            row(2, &["张三", "330102199001011234"]),
            row(3, &["李四", "123"]),
            row(5, &["", "330102199001011235", "extra"]),
        ],
        lossy: vec![],
    };
    let errors = vec![
        (5, "缺少姓名".to_string()),
        (3, "身份证号应为 18 位".to_string()),
        (5, "身份证号校验位不对".to_string()),
        (0, "文件缺少“电话”列".to_string()),
    ];
    let bytes = error_report(&table, &errors).unwrap();
    let t = read("report.xlsx", &bytes).unwrap();
    assert_eq!(t.headers, ["行号", "错误原因", "姓名", "身份证号"]);
    assert_eq!(
        t.rows,
        vec![
            row(2, &["0", "文件缺少“电话”列", "", ""]),
            row(3, &["3", "身份证号应为 18 位", "李四", "123"]),
            row(
                4,
                &[
                    "5",
                    "缺少姓名；身份证号校验位不对",
                    "",
                    "330102199001011235",
                    "extra"
                ]
            ),
        ]
    );
    // The report reads back as the original columns, so the user can fix it and import it.
    assert_eq!(t.column(&["身份证号"]), Some(3));
}

#[test]
fn too_many_rows_is_refused() {
    let mut w = XlsxWriter::new("s", &["n"]).unwrap();
    // Jump to the last row cheaply by pushing empty rows.
    for _ in 1..1_048_576 {
        w.push_row(&[]).unwrap();
    }
    assert_eq!(w.push_row(&[Cell::Int(1)]), Err(SheetError::TooManyRows));
}

/// 100,000 rows through XlsxWriter and back. Prints the time taken; run with --release and
/// --nocapture to see a meaningful figure.
#[test]
fn hundred_thousand_rows_round_trip() {
    let n = 100_000usize;
    let t0 = std::time::Instant::now();
    let mut w = XlsxWriter::new(
        "居民",
        &["序号", "姓名", "身份证号", "电话", "地址", "面积"],
    )
    .unwrap();
    for i in 0..n {
        w.push_row(&[
            Cell::Int(i as i64 + 1),
            Cell::Text(format!("居民{i}")),
            Cell::Text(format!("3301021990{:08}", i)),
            Cell::Text(format!("138{:08}", i)),
            Cell::Text(format!("清波街道{}号楼{}单元", i % 50, i % 7)),
            Cell::Float(50.0 + (i % 100) as f64 / 4.0),
        ])
        .unwrap();
    }
    let bytes = w.finish().unwrap();
    let written = t0.elapsed();
    let t1 = std::time::Instant::now();
    let t = read("big.xlsx", &bytes).unwrap();
    let read_time = t1.elapsed();
    println!(
        "{n} rows × 6 columns: write {written:?}, read {read_time:?}, file {} KiB",
        bytes.len() / 1024
    );
    assert_eq!(t.rows.len(), n);
    assert_eq!(
        t.rows[0].cells,
        [
            "1",
            "居民0",
            "330102199000000000",
            "13800000000",
            "清波街道0号楼0单元",
            "50"
        ]
    );
    let last = &t.rows[n - 1];
    assert_eq!(last.line, n + 1);
    assert_eq!(last.cell(2), "330102199000099999");
    assert_eq!(last.cell(5), "74.75");
    assert_eq!(t.rows[12_345].cell(1), "居民12345");
    assert!(t.lossy.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn read_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048), xlsx in any::<bool>()) {
        let name = if xlsx { "f.xlsx" } else { "f.csv" };
        let _ = read(name, &bytes);
    }

    #[test]
    fn read_never_panics_on_zip_like_input(tail in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend(tail);
        let _ = read("f.xlsx", &bytes);
    }

    #[test]
    fn read_never_panics_on_damaged_workbooks(cut in 0usize..4000, flip in 0usize..4000, bit in 0u8..8) {
        let mut w = XlsxWriter::new("s", &["a", "b"]).unwrap();
        w.push_row(&[Cell::Text("x".into()), Cell::Int(1)]).unwrap();
        let mut bytes = w.finish().unwrap();
        if !bytes.is_empty() {
            let i = flip % bytes.len();
            bytes[i] ^= 1 << bit;
        }
        bytes.truncate(bytes.len().saturating_sub(cut % 200));
        let _ = read("f.xlsx", &bytes);
    }

    #[test]
    fn text_cells_round_trip(cells in prop::collection::vec("[^\\x00-\\x1f]{0,40}", 1..6)) {
        let headers: Vec<String> = (0..cells.len()).map(|i| format!("h{i}")).collect();
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut w = XlsxWriter::new("s", &header_refs).unwrap();
        let row_cells: Vec<Cell> = cells.iter().map(|c| Cell::Text(c.clone())).collect();
        w.push_row(&row_cells).unwrap();
        let t = read("p.xlsx", &w.finish().unwrap()).unwrap();
        let expected: Vec<String> = cells.iter().map(|c| c.trim().to_string()).collect();
        if expected.iter().all(|c| c.is_empty()) {
            prop_assert!(t.rows.is_empty());
        } else {
            prop_assert_eq!(&t.rows[0].cells, &expected);
        }
    }
}

#[test]
fn a_second_sheet_keeps_its_own_header_and_rows() {
    use calamine::{Reader, Xlsx};
    let mut w = XlsxWriter::new("排名", &["排名", "社区"]).unwrap();
    w.push_row(&[Cell::Int(1), Cell::from("清波社区")]).unwrap();
    w.add_sheet("短板清单", &["社区", "设施", "建筑"]).unwrap();
    assert_eq!(w.rows(), 0, "the count starts again on the new sheet");
    w.push_row(&[
        Cell::from("清波社区"),
        Cell::from("药店"),
        Cell::from("1幢"),
    ])
    .unwrap();
    w.push_row(&[
        Cell::from("清波社区"),
        Cell::from("药店"),
        Cell::from("2幢"),
    ])
    .unwrap();
    let bytes = w.finish().unwrap();

    // The first sheet is what `read` takes.
    let first = read("plan.xlsx", &bytes).unwrap();
    assert_eq!(first.headers, ["排名", "社区"]);
    assert_eq!(first.rows, vec![row(2, &["1", "清波社区"])]);

    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), ["排名", "短板清单"]);
    let second = book.worksheet_range("短板清单").unwrap();
    let rows: Vec<Vec<String>> = second
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["社区", "设施", "建筑"],
            vec!["清波社区", "药店", "1幢"],
            vec!["清波社区", "药店", "2幢"],
        ]
    );
}
