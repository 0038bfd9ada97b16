//! The `linli` command as a user runs it: real binary, real SQLite file.

use std::process::{Command, Output};

/// Runs linli on the SQLite file `db`, with its key file beside it (never in the working
/// directory).
fn linli(db: &str, args: &[&str]) -> Output {
    let keys = format!("{}.keys", db.trim_start_matches("sqlite://"));
    Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("--database")
        .arg(db)
        .arg("--key-file")
        .arg(keys)
        .args(args)
        .env("LINLI_LOG", "warn")
        .env_remove("LINLI_PII_KEYS")
        .output()
        .expect("run linli")
}

/// A valid ID number for someone born on `birth` (yyyymmdd), sequence `seq`.
fn id_number(birth: &str, seq: u32) -> String {
    let first = format!("330102{birth}{seq:03}");
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first
        .bytes()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first}{check}")
}

#[test]
fn registry_imports_and_key_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("reg.db").display());
    let o = linli(
        &db,
        &[
            "demo",
            "--no-serve",
            "--scale",
            "0.001",
            "--password",
            "cli-pass-123",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        dir.path().join("reg.db.keys").exists(),
        "the key file is created beside the database"
    );
    let buildings = dir.path().join("b.csv");
    std::fs::write(&buildings, "楼栋,地址,层数\n命令行1幢,劳动路1号,6\n").unwrap();
    let o = linli(
        &db,
        &[
            "import",
            "buildings",
            "--community",
            "330102001051",
            buildings.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let good = id_number("19400105", 11);
    let mut bad = id_number("19500105", 13);
    bad.pop();
    bad.push(if bad.ends_with('0') { '1' } else { '0' });
    let residents = dir.path().join("r.csv");
    std::fs::write(
        &residents,
        format!("姓名,身份证号,楼栋,室号\n甲,{good},命令行1幢,101\n乙,{bad},命令行1幢,102\n"),
    )
    .unwrap();
    let o = linli(
        &db,
        &[
            "import",
            "residents",
            "--community",
            "330102001051",
            residents.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("Row 3") && out.contains("nothing was written"),
        "{out}"
    );
    std::fs::write(
        &residents,
        format!("姓名,身份证号,楼栋,室号\n甲,{good},命令行1幢,101\n"),
    )
    .unwrap();
    let o = linli(
        &db,
        &[
            "import",
            "residents",
            "--community",
            "330102001051",
            residents.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("created 1"), "{}", text(&o));
    // Rotation: a new current key, then every identifier sealed again under it.
    let o = linli(&db, &["pii", "add-key"]);
    assert!(
        o.status.success() && text(&o).contains("Added key 2"),
        "{}",
        text(&o)
    );
    let o = linli(&db, &["pii", "rotate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("Re-encrypted 0 "), "{}", text(&o));
    let o = linli(&db, &["pii", "rotate"]);
    assert!(
        text(&o).contains("Re-encrypted 0 "),
        "nothing left: {}",
        text(&o)
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_lists_every_command() {
    let o = Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("--help")
        .output()
        .expect("run linli");
    let out = text(&o);
    assert!(o.status.success());
    for cmd in ["serve", "demo", "import", "user"] {
        assert!(out.contains(cmd), "--help lacks {cmd}: {out}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(["import", "--help"])
        .output()
        .expect("run linli");
    assert!(text(&o).contains("divisions") && text(&o).contains("grids"));
}

#[test]
fn demo_accounts_grids_and_bad_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());

    let o = linli(
        &db,
        &[
            "demo",
            "--no-serve",
            "--password",
            "cli-pass-123",
            "--roads",
            "/nonexistent/roads.geojson",
        ],
    );
    assert!(!o.status.success(), "a missing roads file is an error");
    assert!(
        text(&o).contains("/nonexistent/roads.geojson"),
        "{}",
        text(&o)
    );

    let o = linli(&db, &["demo", "--no-serve", "--password", "cli-pass-123"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("1361 grids") && out.contains("9201 micro-grids"),
        "{out}"
    );
    assert!(
        out.contains("admin") && out.contains("wangge") && out.contains("cli-pass-123"),
        "{out}"
    );

    // Accounts: a good one, then each kind of mistake with a message that says how to fix it.
    let o = linli(
        &db,
        &[
            "user",
            "add",
            "--username",
            "li",
            "--password",
            "long-enough",
            "--role",
            "grid_worker",
            "--region",
            "330102001051002",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = linli(
        &db,
        &[
            "user",
            "add",
            "--username",
            "li2",
            "--password",
            "long-enough",
            "--role",
            "boss",
            "--region",
            "330102",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unknown role") && text(&o).contains("grid_worker"),
        "{}",
        text(&o)
    );
    let o = linli(
        &db,
        &[
            "user",
            "add",
            "--username",
            "li3",
            "--password",
            "long-enough",
            "--role",
            "leader",
            "--region",
            "33010",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("2, 4, 6, 9, 12, 15 or 18"),
        "{}",
        text(&o)
    );
    let o = linli(
        &db,
        &[
            "user",
            "add",
            "--username",
            "li",
            "--password",
            "long-enough",
            "--role",
            "leader",
            "--region",
            "330102",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("taken"), "{}", text(&o));
    let o = linli(&db, &["user", "list"]);
    let listed = text(&o);
    assert!(
        listed.contains("li ") && !listed.contains("li2") && !listed.contains("li3"),
        "{listed}"
    );

    // A grid file with a bad row writes nothing and names the row.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "code,name,kind\n330102001051900,好网格,封闭式小区\n330102001051901,,封闭式小区\n330102001051902,坏类型,城堡\n").expect("write csv");
    let o = linli(&db, &["import", "grids", bad.to_str().expect("path")]);
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(
        msg.contains("nothing was written") && msg.contains("Row 3") && msg.contains("Row 4"),
        "{msg}"
    );
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "code,name,kind\n330102001051900,好网格,封闭式小区\n")
        .expect("write csv");
    let o = linli(&db, &["import", "grids", good.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Imported 1 grids"), "{}", text(&o));
    // Importing the same file again is refused: the code is taken.
    let o = linli(&db, &["import", "grids", good.to_str().expect("path")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("330102001051900"), "{}", text(&o));

    let o = linli("mysql://x", &["user", "list"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("sqlite://"), "{}", text(&o));
}
