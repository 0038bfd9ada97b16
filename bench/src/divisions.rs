//! Loading all national divisions: `Store::load_divisions("")` against the database's own
//! bulk loader and a naive row-at-a-time INSERT loop, on the same rows, into the same table
//! (the `regions` table of a freshly migrated linli database).
//!
//! Every run of every case happens in a child process of its own (`linli-bench
//! divisions-case CASE`) and a fresh database, so that its peak RSS is its own and no case
//! finds another's pages in its cache.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_core::RegionCode;
use linli_divisions::{read_table, COUNTS};
use linli_store::divisions::Quiet;
use linli_store::testing::{TestDb, PG_URL_VAR};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection;

use crate::stats::{group, median, ratio};

/// One case of the load benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Case {
    /// Decompressing and parsing the built-in tables only (part of linli's load).
    Decode,
    SqliteLinli,
    SqliteCli,
    SqliteNaive,
    PgLinli,
    PgCopy,
    PgNaive,
}

impl Case {
    fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    fn label(self) -> &'static str {
        match self {
            Case::Decode => "decode the built-in tables only (part of linli's figure)",
            Case::SqliteLinli | Case::PgLinli => "**linli** `Store::load_divisions(\"\")`",
            Case::SqliteCli => "`sqlite3` shell `.import --csv`",
            Case::PgCopy => "`psql -c \"\\copy regions FROM … csv\"`",
            Case::SqliteNaive | Case::PgNaive => {
                "naive: one `INSERT` per row through sqlx, one transaction"
            }
        }
    }
}

/// One run of one case, as the child process reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub seconds: f64,
    pub rows: u64,
    /// Peak resident set, KiB: the child's own VmHWM, or the sqlite3/psql process's maxrss.
    pub peak_rss_kb: u64,
    /// Why the case did not run, if it did not.
    pub skipped: Option<String>,
}

impl CaseResult {
    fn ran(elapsed: Duration, rows: u64, peak_rss_kb: u64) -> CaseResult {
        CaseResult {
            seconds: elapsed.as_secs_f64(),
            rows,
            peak_rss_kb,
            skipped: None,
        }
    }

    fn skipped(why: impl Into<String>) -> CaseResult {
        CaseResult {
            seconds: f64::NAN,
            rows: 0,
            peak_rss_kb: 0,
            skipped: Some(why.into()),
        }
    }
}

/// The number of rows in the national tables.
pub fn total_rows() -> u64 {
    COUNTS.iter().sum::<usize>() as u64
}

/// One division row as linli stores it.
pub struct Row {
    pub level: i32,
    pub key: i64,
    pub name: String,
}

/// The rows `load_divisions("")` writes, decoded the way it decodes them.
pub fn rows() -> Result<Vec<Row>> {
    let mut out = Vec::with_capacity(total_rows() as usize);
    for table in 0..COUNTS.len() {
        for d in read_table(table, "")? {
            let code = RegionCode::parse(&d.code)
                .with_context(|| format!("built-in division {}", d.code))?;
            out.push(Row {
                level: i32::from(code.level().number()),
                key: code.key(),
                name: d.name,
            });
        }
    }
    Ok(out)
}

/// Writes the rows as CSV with a header: level,key,name,source.
pub fn write_csv(path: &Path) -> Result<u64> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["level", "key", "name", "source"])?;
    let mut n = 0;
    for r in rows()? {
        w.write_record([
            r.level.to_string(),
            r.key.to_string(),
            r.name,
            "official".to_string(),
        ])?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// This process's peak resident set (VmHWM), KiB.
pub fn own_peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The largest peak resident set among this process's waited-for children, KiB.
fn children_peak_rss_kb() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) == 0 {
            u64::try_from(usage.ru_maxrss).unwrap_or(0)
        } else {
            0
        }
    }
}

fn sqlite_path(db: &TestDb) -> &str {
    db.url.strip_prefix("sqlite://").unwrap_or(&db.url)
}

/// linli's own SQLite connection settings, so that peers connect exactly alike.
fn sqlite_options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(linli_store::sqlite_options(url)?)
}

/// Rows in `regions`, counted after a load (untimed).
async fn count_regions(url: &str) -> Result<u64> {
    let n: i64 = if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query_scalar("SELECT count(*) FROM regions")
            .fetch_one(&mut c)
            .await?
    } else {
        let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(url)?).await?;
        sqlx::query_scalar("SELECT count(*) FROM regions")
            .fetch_one(&mut c)
            .await?
    };
    Ok(n as u64)
}

async fn check_count(db: &TestDb, case: Case) -> Result<()> {
    let n = count_regions(&db.url).await?;
    if n != total_rows() {
        bail!(
            "{}: regions holds {n} rows after the load, expected {}",
            case.name(),
            total_rows()
        );
    }
    Ok(())
}

/// A fresh database with linli's schema and nothing in it.
async fn fresh(case: Case) -> Result<TestDb> {
    let db = match case {
        Case::PgLinli | Case::PgCopy | Case::PgNaive => TestDb::postgres()
            .await
            .with_context(|| format!("{} needs {PG_URL_VAR} or --pg", case.name()))?,
        _ => TestDb::sqlite(),
    };
    db.open().await.close().await;
    Ok(db)
}

/// Runs an external loader, timing it from spawn to exit.
fn run_tool(mut cmd: Command, stdin: Option<&str>) -> Result<Duration> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().context("stdin")?;
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let elapsed = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.trim().is_empty() {
        bail!("{program} failed ({}): {stderr}", out.status);
    }
    Ok(elapsed)
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One run of one case (in the child process).
pub async fn run_case(case: Case, csv: &Path) -> Result<CaseResult> {
    let total = total_rows();
    match case {
        Case::Decode => {
            let t = Instant::now();
            let rows = rows()?;
            let elapsed = t.elapsed();
            Ok(CaseResult::ran(
                elapsed,
                rows.len() as u64,
                own_peak_rss_kb(),
            ))
        }
        Case::SqliteLinli | Case::PgLinli => {
            let db = fresh(case).await?;
            let store = db.open().await;
            let t = Instant::now();
            let n = store.load_divisions("", &Quiet).await?;
            let elapsed = t.elapsed();
            store.close().await;
            if n != total {
                bail!("load_divisions reported {n} rows, expected {total}");
            }
            check_count(&db, case).await?;
            Ok(CaseResult::ran(elapsed, n, own_peak_rss_kb()))
        }
        Case::SqliteCli => {
            if !installed("sqlite3") {
                return Ok(CaseResult::skipped(
                    "the sqlite3 shell is not installed (apt-get install -y sqlite3)",
                ));
            }
            let db = fresh(case).await?;
            // The same settings linli's connections use; the file is in WAL mode already.
            let script = format!(
                "PRAGMA synchronous = NORMAL;\nPRAGMA cache_size = -65536;\nPRAGMA foreign_keys = ON;\n\
                 .import --csv --skip 1 \"{}\" regions\n",
                csv.display()
            );
            let mut cmd = Command::new("sqlite3");
            cmd.arg("-bail").arg(sqlite_path(&db));
            let elapsed = run_tool(cmd, Some(&script))?;
            check_count(&db, case).await?;
            Ok(CaseResult::ran(elapsed, total, children_peak_rss_kb()))
        }
        Case::PgCopy => {
            if !installed("psql") {
                return Ok(CaseResult::skipped(
                    "psql is not installed (apt-get install -y postgresql-client)",
                ));
            }
            let db = fresh(case).await?;
            let mut cmd = Command::new("psql");
            cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-c"])
                .arg(format!(
                    "\\copy regions (level, key, name, source) FROM '{}' WITH (FORMAT csv, HEADER true)",
                    csv.display()
                ));
            let elapsed = run_tool(cmd, None)?;
            check_count(&db, case).await?;
            Ok(CaseResult::ran(elapsed, total, children_peak_rss_kb()))
        }
        Case::SqliteNaive | Case::PgNaive => {
            let db = fresh(case).await?;
            let rows = rows()?;
            const INSERT: &str =
                "INSERT INTO regions (level, key, name, source) VALUES ($1, $2, $3, 'official')";
            let elapsed = if case == Case::SqliteNaive {
                let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(&db.url)?).await?;
                let t = Instant::now();
                let mut tx = c.begin().await?;
                for r in &rows {
                    sqlx::query(INSERT)
                        .bind(r.level)
                        .bind(r.key)
                        .bind(&r.name)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                let elapsed = t.elapsed();
                c.close().await?;
                elapsed
            } else {
                let mut c = sqlx::PgConnection::connect(&db.url).await?;
                let t = Instant::now();
                let mut tx = c.begin().await?;
                for r in &rows {
                    sqlx::query(INSERT)
                        .bind(r.level)
                        .bind(r.key)
                        .bind(&r.name)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                let elapsed = t.elapsed();
                c.close().await?;
                elapsed
            };
            check_count(&db, case).await?;
            Ok(CaseResult::ran(elapsed, total, own_peak_rss_kb()))
        }
    }
}

/// Runs one case in a child process of this binary.
fn run_child(case: Case, csv: &Path, pg: Option<&str>) -> Result<CaseResult> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("divisions-case")
        .arg(case.name())
        .arg("--csv")
        .arg(csv);
    match pg {
        Some(url) => {
            cmd.arg("--pg").arg(url);
        }
        None => {
            cmd.env_remove(PG_URL_VAR);
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running a divisions-case child")?;
    if !out.status.success() {
        bail!("case {} failed ({})", case.name(), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("case {} printed {text:?}", case.name()))
}

/// The results of the load benchmark.
pub struct Report {
    pub repeat: usize,
    pub pg: bool,
    pub csv_bytes: u64,
    pub results: Vec<(Case, Vec<CaseResult>)>,
}

/// Runs every case `repeat` times, interleaved (linli, its peers, linli, …), each in a child
/// process and a fresh database.
pub fn run(pg: Option<&str>, repeat: usize) -> Result<Report> {
    let dir = tempfile::Builder::new().prefix("linli_bench").tempdir()?;
    let csv = dir.path().join("divisions.csv");
    eprintln!("writing the divisions as CSV for the bulk loaders (untimed) …");
    let n = write_csv(&csv)?;
    if n != total_rows() {
        bail!("wrote {n} CSV rows, expected {}", total_rows());
    }
    let csv_bytes = std::fs::metadata(&csv)?.len();
    let mut cases = vec![
        Case::Decode,
        Case::SqliteLinli,
        Case::SqliteCli,
        Case::SqliteNaive,
    ];
    if pg.is_some() {
        cases.extend([Case::PgLinli, Case::PgCopy, Case::PgNaive]);
    } else {
        eprintln!("no --pg / {PG_URL_VAR}: skipping the PostgreSQL cases");
    }
    let mut results: Vec<(Case, Vec<CaseResult>)> =
        cases.iter().map(|c| (*c, Vec::new())).collect();
    for run in 1..=repeat.max(1) {
        for (case, runs) in results.iter_mut() {
            if runs.first().is_some_and(|r| r.skipped.is_some()) {
                continue;
            }
            let r = run_child(*case, &csv, pg)?;
            match &r.skipped {
                Some(why) => eprintln!("{}: skipped: {why}", case.name()),
                None => eprintln!(
                    "{} run {run}/{repeat}: {:.3} s, peak RSS {} MiB",
                    case.name(),
                    r.seconds,
                    r.peak_rss_kb / 1024
                ),
            }
            runs.push(r);
        }
    }
    Ok(Report {
        repeat,
        pg: pg.is_some(),
        csv_bytes,
        results,
    })
}

impl Report {
    fn runs(&self, case: Case) -> Option<&[CaseResult]> {
        self.results
            .iter()
            .find(|(c, _)| *c == case)
            .map(|(_, r)| r.as_slice())
            .filter(|r| r.iter().all(|x| x.skipped.is_none()) && !r.is_empty())
    }

    fn median_secs(&self, case: Case) -> Option<f64> {
        self.runs(case)
            .map(|r| median(&r.iter().map(|x| x.seconds).collect::<Vec<_>>()))
    }

    fn table(&self, md: &mut String, linli: Case, cases: &[Case]) {
        let base = self.median_secs(linli);
        md.push_str(
            "| case | median s | runs (s) | rows/s | peak RSS | linli ÷ case (time) |\n\
             |---|---:|---|---:|---:|---:|\n",
        );
        for case in cases {
            let all = self
                .results
                .iter()
                .find(|(c, _)| c == case)
                .map(|(_, r)| r.as_slice())
                .unwrap_or(&[]);
            if let Some(why) = all.iter().find_map(|r| r.skipped.as_ref()) {
                md.push_str(&format!("| {} | skipped: {why} | | | | |\n", case.label()));
                continue;
            }
            let Some(runs) = self.runs(*case) else {
                continue;
            };
            let m = self.median_secs(*case).unwrap_or(f64::NAN);
            let list: Vec<String> = runs.iter().map(|r| format!("{:.3}", r.seconds)).collect();
            let rss = runs.iter().map(|r| r.peak_rss_kb).max().unwrap_or(0);
            let rss_of = match case {
                Case::SqliteCli => " (sqlite3)",
                Case::PgCopy => " (psql)",
                _ => "",
            };
            let rate = runs[0].rows as f64 / m;
            let vs = match (case, base) {
                (Case::Decode, _) => "–".to_string(),
                (_, Some(b)) => ratio(b / m),
                _ => "–".into(),
            };
            md.push_str(&format!(
                "| {} | {m:.3} | {} | {} | {} MiB{rss_of} | {vs} |\n",
                case.label(),
                list.join(", "),
                group(rate.round() as u64),
                rss / 1024,
            ));
        }
    }

    fn goal(&self, md: &mut String, case: Case, db: &str, goal: f64) {
        if let Some(m) = self.median_secs(case) {
            let verdict = if m < goal { "**met**" } else { "**not met**" };
            md.push_str(&format!(
                "- {db}: linli loads all {} rows in **{m:.2} s** (median of {}); goal < {goal} s: {verdict}.\n",
                group(total_rows()),
                self.runs(case).map_or(0, |r| r.len()),
            ));
        }
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        md.push_str("## Loading the national divisions (`linli-bench divisions`)\n\n");
        md.push_str(&format!(
            "All {} rows ({} provinces, {} cities, {} districts, {} streets, {} communities), \
             the same rows in every case, into the same table: `regions` (primary key \
             (level, key), index (key, level)) of a freshly migrated, empty linli database. \
             Every run of every case in a fresh database and a fresh child process; {} runs \
             per case, interleaved; the median and every run are shown. A ratio below 1 means \
             linli took less time than the case.\n\n",
            group(total_rows()),
            group(COUNTS[0] as u64),
            group(COUNTS[1] as u64),
            group(COUNTS[2] as u64),
            group(COUNTS[3] as u64),
            group(COUNTS[4] as u64),
            self.repeat,
        ));
        md.push_str("Goals (from the issue):\n\n");
        self.goal(&mut md, Case::SqliteLinli, "SQLite", 3.0);
        if self.pg {
            self.goal(&mut md, Case::PgLinli, "PostgreSQL", 5.0);
        } else {
            md.push_str("- PostgreSQL: not measured (no `--pg` / `LINLI_TEST_PG_URL`).\n");
        }
        md.push_str("\n### SQLite\n\n");
        self.table(
            &mut md,
            Case::SqliteLinli,
            &[
                Case::SqliteLinli,
                Case::SqliteCli,
                Case::SqliteNaive,
                Case::Decode,
            ],
        );
        if self.pg {
            md.push_str("\n### PostgreSQL\n\n");
            self.table(
                &mut md,
                Case::PgLinli,
                &[Case::PgLinli, Case::PgCopy, Case::PgNaive, Case::Decode],
            );
        }
        md.push_str(&format!(
            "\nWhat each case times:\n\n\
             - **linli**: `Store::load_divisions(\"\", &Quiet)` as the CLI calls it: decompressing \
             and parsing the tables built into the binary on a thread of their own, overlapped \
             with one transaction that writes them (a first load into an empty tree: the \
             secondary index dropped, plain multi-row INSERTs of 4,000 rows on SQLite, COPY \
             straight into `regions` on PostgreSQL, the index rebuilt, then ANALYZE; a reload \
             merges with upserts instead), as the first start of linli runs it. Migrations ran before the \
             clock started.\n\
             - **bulk loader**: the database's own tool reading a CSV of the same rows \
             (level,key,name,source; {:.1} MB, written beforehand, untimed), timed from spawn to \
             exit, connection included. `sqlite3` runs with linli's pragmas (WAL, synchronous = \
             NORMAL, cache_size = 64 MiB) and `.import` runs in one transaction; `psql \\copy` \
             streams the file to `COPY regions FROM STDIN` (no upsert: it would fail on a \
             second load, where linli's load updates names). The bulk loaders start from text \
             already decompressed; linli's figure includes the decoding, shown on its own in \
             the *decode* row.\n\
             - **naive**: the rows decoded before the clock starts, then one \
             `INSERT INTO regions … VALUES ($1, $2, $3, 'official')` per row through sqlx \
             (statement prepared once and cached), all in one transaction, with linli's \
             connection settings — what an ORM's save-each-row loop does.\n\
             - Every load is checked afterwards (untimed): `regions` holds exactly {} rows.\n\
             - **Peak RSS**: the child process's VmHWM (which includes the rows decoded in \
             memory and SQLite's page cache) for linli, naive and decode; the `sqlite3` or \
             `psql` process's maxrss for the bulk loaders. The PostgreSQL server's own memory \
             is not counted in any case.\n",
            self.csv_bytes as f64 / 1e6,
            group(total_rows()),
        ));
        md
    }
}
