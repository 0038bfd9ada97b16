//! The registry at full size.
//!
//! - Import: 1,000,000 resident rows from .xlsx and from .csv, through the same path as
//!   `linli import residents` (read the file, parse and validate every row, check every ID
//!   number against the database, encrypt ID numbers and phones, insert in one
//!   transaction), each into a fresh database. The goal: < 60 s each. The peer is the
//!   database's plain load of the same rows as text, without validation or encryption
//!   (multi-row INSERTs of the CSV's cells into a bare table through the same pool): what the
//!   checks and the encryption cost on top of just storing the file.
//! - Queries on the full-size demo (scale 1: about 1.32 million residents): "80+ living alone
//!   in 上城区" (first page and total) and the region summary of the district, a street and a
//!   community, against the same answers computed by a plain scan of the residents table
//!   (no tag index, no per-community figures). Both must agree, or the benchmark fails.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use linli_core::registry::idcard::compose;
use linli_core::registry::rows::parse_residents;
use linli_core::registry::{date_key, BirthBound, Tag};
use linli_core::RegionCode;
use linli_store::divisions::Quiet;
use linli_store::registry::{BuildingInput, Page, ResidentFilter};
use linli_store::testing::TestDb;
use linli_store::{Actor, Keyring, Store};

use crate::stats::{group, median, ratio};

const COMMUNITY: &str = "330102001051";
const BUILDINGS: usize = 400;
const HEADERS: [&str; 8] = [
    "姓名",
    "身份证号",
    "手机号",
    "楼栋",
    "单元",
    "室号",
    "与户主关系",
    "标签",
];

fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// `n` resident rows: valid, distinct ID numbers; phones for most; a few tags.
fn rows(n: usize) -> Vec<[String; 8]> {
    let surnames = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
    let given = [
        "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
    ];
    let start = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or_default();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // 1,000 sequence numbers per birth date: distinct numbers for any n up to 34 million.
        let birth = start + chrono::Duration::days((i / 1000) as i64 % 34_000);
        let id = compose("330102", birth, (i % 1000) as u16).unwrap_or_default();
        let phone = if i % 10 < 8 {
            format!("13{:09}", i)
        } else {
            String::new()
        };
        let tag = match i % 20 {
            0 => "独居",
            1 => "党员",
            2 => "空巢",
            _ => "",
        };
        let building = format!("{}幢", i % BUILDINGS + 1);
        let unit = format!("{}", i % 4 + 1);
        let room = format!("{}", 101 + (i / BUILDINGS) % 2400);
        out.push([
            format!(
                "{}{}{}",
                surnames[i % 10],
                given[i % 12],
                given[(i / 12) % 12]
            ),
            id,
            phone,
            building,
            unit,
            room,
            if i % 3 == 0 { "户主" } else { "配偶" }.to_string(),
            tag.to_string(),
        ]);
    }
    out
}

fn write_csv(path: &std::path::Path, rows: &[[String; 8]]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "{}", HEADERS.join(","))?;
    for r in rows {
        writeln!(w, "{}", r.join(","))?;
    }
    w.flush()?;
    Ok(())
}

fn write_xlsx(path: &std::path::Path, rows: &[[String; 8]]) -> Result<()> {
    let mut w = linli_sheet::XlsxWriter::new("居民", &HEADERS)?;
    for r in rows {
        let cells: Vec<linli_sheet::Cell> = r
            .iter()
            .map(|c| linli_sheet::Cell::Text(c.clone()))
            .collect();
        w.push_row(&cells)?;
    }
    std::fs::write(path, w.finish()?)?;
    Ok(())
}

/// A fresh database with 上城区 and the community's buildings.
async fn prepared(db: &TestDb) -> Result<Store> {
    let mut store = db.open().await;
    store.load_divisions("330102", &Quiet).await?;
    store.use_keys(Keyring::generate()).await?;
    let community = RegionCode::parse(COMMUNITY)?;
    let actor = Actor::system("bench");
    for b in 1..=BUILDINGS {
        store
            .create_building(
                &actor,
                BuildingInput {
                    region: Some(community),
                    name: format!("{b}幢"),
                    address: format!("劳动路{b}号"),
                    ..Default::default()
                },
                linli_core::grid::Source::Manual,
            )
            .await?;
    }
    Ok(store)
}

/// One timed import of `path` into a fresh database: seconds and the rows written.
async fn import_once(db: &TestDb, path: &std::path::Path) -> Result<(f64, usize)> {
    let store = prepared(db).await?;
    let bytes = std::fs::read(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let started = Instant::now();
    let table = linli_sheet::read(&name, &bytes)?;
    let parsed = parse_residents(&table, today());
    if !parsed.errors.is_empty() {
        bail!(
            "{} rows of the generated file are bad, e.g. {}",
            parsed.errors.len(),
            parsed.errors[0]
        );
    }
    drop(table);
    eprintln!(
        "  read and parsed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let community = RegionCode::parse(COMMUNITY)?;
    let outcome = store
        .import_residents(
            &Actor::system("bench"),
            community,
            &name,
            parsed.rows,
            parsed.errors,
            &Quiet,
        )
        .await?;
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    Ok((secs, outcome.created))
}

/// Options of the registry benchmark.
pub struct Options {
    pub rows: usize,
    pub iterations: usize,
    pub skip_import: bool,
    pub skip_queries: bool,
    /// Demo scale for the query half (1 = full size).
    pub scale: f64,
}

/// Runs both halves; returns the Markdown report.
pub async fn run(pg: bool, opts: &Options) -> Result<String> {
    let mut md = String::from("## Registry\n\n");
    if !opts.skip_import {
        md.push_str(&import_report(pg, opts).await?);
    }
    if !opts.skip_queries {
        md.push_str(&query_report(pg, opts).await?);
    }
    Ok(md)
}

async fn databases(pg: bool) -> Result<Vec<(String, TestDb)>> {
    let mut out = vec![("SQLite".to_string(), TestDb::sqlite())];
    if pg {
        out.push((
            "PostgreSQL".to_string(),
            TestDb::postgres().await.context("PostgreSQL server")?,
        ));
    }
    Ok(out)
}

async fn import_report(pg: bool, opts: &Options) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let rows = rows(opts.rows);
    let csv = dir.path().join("residents.csv");
    let xlsx = dir.path().join("residents.xlsx");
    write_csv(&csv, &rows)?;
    write_xlsx(&xlsx, &rows)?;
    eprintln!(
        "generated {} rows as CSV ({} MiB) and XLSX ({} MiB) in {:.1} s",
        group(opts.rows as u64),
        std::fs::metadata(&csv)?.len() / (1 << 20),
        std::fs::metadata(&xlsx)?.len() / (1 << 20),
        started.elapsed().as_secs_f64()
    );
    let mut md = format!(
        "### Import of {} residents (goal < 60 s each)\n\nRead, parse and validate every row (GB 11643 checksum, dates, phones, tags, duplicates), \
         look up every ID number in the database, encrypt ID numbers and phones (AES-256-GCM) and hash them (HMAC-SHA256), \
         insert in one transaction, recompute the community's figures. Peer: the same cells inserted as plain text into a bare table.\n\n\
         | database | file | linli (s) | rows/s | plain text insert (s) | linli ÷ plain |\n|---|---|---:|---:|---:|---:|\n",
        group(opts.rows as u64)
    );
    for (name, _) in databases(pg).await? {
        let plain = {
            let db = fresh(&name).await?;
            let secs = plain_load_peer(&db, &rows).await?;
            drop(db);
            secs
        };
        for file in [&xlsx, &csv] {
            let db = fresh(&name).await?;
            let (secs, n) = import_once(&db, file).await?;
            if n != opts.rows {
                bail!("{name}: imported {n} rows, not {}", opts.rows);
            }
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            eprintln!("{name} {ext}: {secs:.1} s");
            md.push_str(&format!(
                "| {name} | .{ext} | {secs:.1} | {} | {plain:.1} | {} |\n",
                group((n as f64 / secs) as u64),
                ratio(secs / plain)
            ));
        }
    }
    md.push('\n');
    Ok(md)
}

async fn fresh(name: &str) -> Result<TestDb> {
    if name == "SQLite" {
        Ok(TestDb::sqlite())
    } else {
        TestDb::postgres().await.context("PostgreSQL server")
    }
}

/// The plain-text peer on `db`'s own engine.
async fn plain_load_peer(db: &TestDb, rows: &[[String; 8]]) -> Result<f64> {
    let ddl = "CREATE TABLE bench_plain (name TEXT, id_number TEXT, phone TEXT, building TEXT, unit TEXT, room TEXT, relation TEXT, tags TEXT)";
    macro_rules! load {
        ($pool:expr, $db:ty) => {{
            let pool = $pool;
            sqlx::query(ddl).execute(&pool).await?;
            let started = Instant::now();
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(1000) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO bench_plain ");
                qb.push_values(chunk, |mut b, r| {
                    for c in r {
                        b.push_bind(c.as_str());
                    }
                });
                qb.build().persistent(false).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            let secs = started.elapsed().as_secs_f64();
            pool.close().await;
            secs
        }};
    }
    // Create the file or database first, as linli would.
    Store::connect(&db.url).await?.close().await;
    Ok(if db.url.starts_with("sqlite:") {
        load!(
            sqlx::SqlitePool::connect_with(linli_store::sqlite_options(&db.url)?).await?,
            sqlx::Sqlite
        )
    } else {
        load!(sqlx::PgPool::connect(&db.url).await?, sqlx::Postgres)
    })
}

/// Times `f` `n` times after one warm-up; the median in milliseconds.
async fn time_ms<F, Fut, T>(n: usize, mut f: F) -> Result<(f64, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut last = f().await?;
    let mut times = Vec::with_capacity(n);
    let budget = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        last = f().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if i >= 4 && budget.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    Ok((median(&times), last))
}

async fn query_report(pg: bool, opts: &Options) -> Result<String> {
    let mut md = format!(
        "### Queries on the demo at scale {} (goal < 100 ms)\n\nMedians of up to {} calls after a warm-up. Peer: the same answer from a plain scan of the residents table \
         (no tag index, no per-community figures); both must agree.\n\n\
         | database | query | linli (ms) | plain scan (ms) | linli ÷ scan |\n|---|---|---:|---:|---:|\n",
        opts.scale, opts.iterations
    );
    for (name, db) in databases(pg).await? {
        let mut store = db.open().await;
        store.use_keys(Keyring::generate()).await?;
        let started = Instant::now();
        let report = store
            .build_demo("bench-pass-123", opts.scale, None, &Quiet)
            .await?;
        eprintln!(
            "{name}: demo at scale {} built in {:.0} s: {report:?}",
            opts.scale,
            started.elapsed().as_secs_f64()
        );
        let today = today();
        let district = RegionCode::parse("330102")?;
        // "80+ living alone in 上城区": the first page and the total.
        let filter = ResidentFilter {
            range: district.range(),
            tags: vec![Tag::Age80, Tag::LivingAlone],
            q: None,
            household_id: None,
            building_id: None,
        };
        let (ms, listing) = time_ms(opts.iterations, || {
            let store = store.clone();
            let filter = filter.clone();
            async move {
                Ok(store
                    .residents(&filter, Page::new(None, None), today)
                    .await?)
            }
        })
        .await?;
        let c80 = match Tag::Age80.birth_bound(today) {
            Some(BirthBound::OnOrBefore(d)) => i64::from(date_key(d)),
            _ => bail!("80+ has an upper birth bound"),
        };
        let scan_sql = format!(
            "SELECT COUNT(*) FROM residents WHERE region_key >= {} AND region_key < {} AND birth <= {c80} AND (flags & {}) <> 0",
            district.range().start,
            district.range().end,
            Tag::LivingAlone.bit()
        );
        let (scan_ms, total) =
            time_ms(opts.iterations, || scalar(&db.url, scan_sql.clone())).await?;
        if total != listing.total {
            bail!(
                "{name}: linli counts {} 80+ living alone, the scan {total}",
                listing.total
            );
        }
        md.push_str(&format!(
            "| {name} | 80+ living alone in 上城区 ({} found; page of 50 + total) | {ms:.1} | {scan_ms:.1} | {} |\n",
            group(total as u64),
            ratio(ms / scan_ms)
        ));
        for code in ["330102", "330102001", COMMUNITY] {
            let region = RegionCode::parse(code)?;
            let (ms, figures) = time_ms(opts.iterations, || {
                let store = store.clone();
                async move { Ok(store.registry_summary(Some(region), today).await?) }
            })
            .await?;
            let range = region.range();
            let c60 = match Tag::Age60.birth_bound(today) {
                Some(BirthBound::OnOrBefore(d)) => i64::from(date_key(d)),
                _ => bail!("60+ has an upper birth bound"),
            };
            let sql = format!(
                "SELECT COUNT(*), CAST(COALESCE(SUM(renter), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN birth <= {c80} THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN birth <= {c60} THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM residents WHERE region_key >= {} AND region_key < {}",
                range.start, range.end
            );
            let (scan_ms, scanned) =
                time_ms(opts.iterations, || four(&db.url, sql.clone())).await?;
            let linli = (
                figures.residents,
                figures.renters,
                figures.age80,
                figures.age60,
            );
            if scanned != linli {
                bail!("{name} {code}: linli's (residents, renters, 80+, 60+) {linli:?}, the scan's {scanned:?}");
            }
            let residents = figures.residents;
            md.push_str(&format!(
                "| {name} | region summary of {code} ({} residents) | {ms:.1} | {scan_ms:.1} | {} |\n",
                group(residents as u64),
                ratio(ms / scan_ms)
            ));
        }
        store.close().await;
    }
    md.push('\n');
    Ok(md)
}

/// A scalar from the peer's plain connection.
async fn scalar(url: &str, sql: String) -> Result<i64> {
    Ok(row(url, sql).await?.0)
}

/// Four figures from the peer's plain connection.
async fn four(url: &str, sql: String) -> Result<(i64, i64, i64, i64)> {
    row(url, sql).await
}

/// One row of up to four integers (missing columns read as 0) from a plain pool of the
/// peer's own, kept across calls.
async fn row(url: &str, sql: String) -> Result<(i64, i64, i64, i64)> {
    fn take<R: sqlx::Row>(r: &R) -> (i64, i64, i64, i64)
    where
        usize: sqlx::ColumnIndex<R>,
        i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    {
        let get = |i: usize| r.try_get::<i64, _>(i).unwrap_or(0);
        (get(0), get(1), get(2), get(3))
    }
    use std::sync::OnceLock;
    static SQLITE: OnceLock<tokio::sync::Mutex<Option<(String, sqlx::SqlitePool)>>> =
        OnceLock::new();
    static PG: OnceLock<tokio::sync::Mutex<Option<(String, sqlx::PgPool)>>> = OnceLock::new();
    if url.starts_with("sqlite:") {
        let mut guard = SQLITE
            .get_or_init(|| tokio::sync::Mutex::new(None))
            .lock()
            .await;
        if guard.as_ref().map(|(u, _)| u != url).unwrap_or(true) {
            let pool =
                sqlx::SqlitePool::connect_with(linli_store::sqlite_options(url)?.read_only(true))
                    .await?;
            *guard = Some((url.to_string(), pool));
        }
        let pool = &guard.as_ref().context("pool")?.1;
        Ok(take(&sqlx::query(&sql).fetch_one(pool).await?))
    } else {
        let mut guard = PG
            .get_or_init(|| tokio::sync::Mutex::new(None))
            .lock()
            .await;
        if guard.as_ref().map(|(u, _)| u != url).unwrap_or(true) {
            let pool = sqlx::PgPool::connect(url).await?;
            *guard = Some((url.to_string(), pool));
        }
        let pool = &guard.as_ref().context("pool")?.1;
        Ok(take(&sqlx::query(&sql).fetch_one(pool).await?))
    }
}
