//! The `linli` command as a user runs it: real binary, real SQLite file.

use std::process::{Command, Output};

fn linli(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("--database")
        .arg(db)
        .args(args)
        .env("LINLI_LOG", "warn")
        .output()
        .expect("run linli")
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
