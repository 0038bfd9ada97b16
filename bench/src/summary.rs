//! Counting the regions below a region, per level: `Store::summary` (one range scan over the
//! (key, level) index) against the classic adjacency list (`code`, `parent_code`, `level`)
//! walked with a recursive CTE, on the same rows in the same database.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_core::{Level, RegionCode};
use linli_store::divisions::Quiet;
use linli_store::testing::TestDb;
use linli_store::{Backend, Store};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Connection;

use crate::stats::{group, median, ratio};

/// The regions measured: None is the whole country.
const REGIONS: [Option<&str>; 6] = [
    None,
    Some("33"),
    Some("3301"),
    Some("330102"),
    Some("330102001"),
    Some("330102001051"),
];

const CTE_BELOW: &str = "WITH RECURSIVE sub(code, level) AS ( \
       SELECT code, level FROM bench_regions_adj WHERE parent_code = $1 \
       UNION ALL \
       SELECT c.code, c.level FROM bench_regions_adj c JOIN sub s ON c.parent_code = s.code) \
     SELECT level, count(*) FROM sub GROUP BY level ORDER BY level";

const CTE_COUNTRY: &str = "WITH RECURSIVE sub(code, level) AS ( \
       SELECT code, level FROM bench_regions_adj WHERE parent_code IS NULL \
       UNION ALL \
       SELECT c.code, c.level FROM bench_regions_adj c JOIN sub s ON c.parent_code = s.code) \
     SELECT level, count(*) FROM sub GROUP BY level ORDER BY level";

const ADJ_DDL: [&str; 2] = [
    "CREATE TABLE bench_regions_adj (code TEXT PRIMARY KEY, parent_code TEXT, level INT)",
    "CREATE INDEX bench_regions_adj_by_parent ON bench_regions_adj (parent_code)",
];

/// The adjacency-list peer: its own pool on the same database, configured like linli's.
enum Peer {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

impl Peer {
    async fn counts(&self, code: Option<&str>) -> Result<Vec<(i32, i64)>> {
        let sql = if code.is_some() {
            CTE_BELOW
        } else {
            CTE_COUNTRY
        };
        Ok(match self {
            Peer::Sqlite(p) => {
                let mut q = sqlx::query_as::<_, (i32, i64)>(sql);
                if let Some(c) = code {
                    q = q.bind(c);
                }
                q.fetch_all(p).await?
            }
            Peer::Pg(p) => {
                let mut q = sqlx::query_as::<_, (i32, i64)>(sql);
                if let Some(c) = code {
                    q = q.bind(c);
                }
                q.fetch_all(p).await?
            }
        })
    }

    /// The query plans of linli's query and of the CTE for one region.
    async fn plans(&self, code: Option<RegionCode>) -> Result<(String, String)> {
        let (start, end, _) = bounds(code);
        // The very statement `Store::summary` runs.
        let (linli_sql, _) = linli_store::regions::summary_sql(code);
        let text = code.map(|c| c.to_string());
        let cte = if code.is_some() {
            CTE_BELOW
        } else {
            CTE_COUNTRY
        };
        Ok(match self {
            Peer::Sqlite(p) => {
                let eqp = |rows: Vec<(i64, i64, i64, String)>| {
                    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
                };
                let a = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {linli_sql}"))
                    .bind(start)
                    .bind(end)
                    .fetch_all(p)
                    .await?;
                let sql = format!("EXPLAIN QUERY PLAN {cte}");
                let mut q = sqlx::query_as(&sql);
                if let Some(t) = &text {
                    q = q.bind(t);
                }
                (eqp(a), eqp(q.fetch_all(p).await?))
            }
            Peer::Pg(p) => {
                let a: Vec<String> =
                    sqlx::query_scalar(&format!("EXPLAIN (COSTS OFF) {linli_sql}"))
                        .bind(start)
                        .bind(end)
                        .fetch_all(p)
                        .await?;
                let sql = format!("EXPLAIN (COSTS OFF) {cte}");
                let mut q = sqlx::query_scalar(&sql);
                if let Some(t) = &text {
                    q = q.bind(t);
                }
                let b: Vec<String> = q.fetch_all(p).await?;
                (a.join("\n"), b.join("\n"))
            }
        })
    }
}

/// The key range and level `Store::summary` binds.
fn bounds(code: Option<RegionCode>) -> (i64, i64, i32) {
    match code {
        Some(c) => (
            c.range().start,
            c.range().end,
            i32::from(c.level().number()),
        ),
        None => (0, linli_core::region::KEY_END, 0),
    }
}

/// linli's own SQLite connection settings, so that peers connect exactly alike.
fn sqlite_options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(linli_store::sqlite_options(url)?)
}

/// One adjacency row per region: (code, parent code, level).
fn adjacency(rows: Vec<(i32, i64)>) -> Result<Vec<(String, Option<String>, i32)>> {
    rows.into_iter()
        .map(|(level, key)| {
            let l = i16::try_from(level)
                .ok()
                .and_then(Level::from_number)
                .with_context(|| format!("level {level}"))?;
            let code = RegionCode::from_key(key, l).with_context(|| format!("key {key}"))?;
            Ok((
                code.to_string(),
                code.parent().map(|p| p.to_string()),
                level,
            ))
        })
        .collect()
}

/// A database with all divisions and the demo district, and the adjacency table beside
/// `regions`, filled from the same rows.
async fn setup(db: &TestDb) -> Result<(Store, Peer, usize)> {
    let store = db.open().await;
    eprintln!("summary: loading all divisions and the demo district …");
    store.load_divisions("", &Quiet).await?;
    store
        .build_demo("bench-only-password", 0.0, None, &Quiet)
        .await?;
    eprintln!("summary: building the adjacency list …");
    let peer = match store.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(&db.url)?).await?;
            let rows: Vec<(i32, i64)> = sqlx::query_as("SELECT level, key FROM regions")
                .fetch_all(&mut c)
                .await?;
            let adj = adjacency(rows)?;
            let mut tx = c.begin().await?;
            for ddl in ADJ_DDL {
                sqlx::query(ddl).execute(&mut *tx).await?;
            }
            // 3 parameters a row, under SQLite's limit of 32,766.
            for chunk in adj.chunks(10_000) {
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO bench_regions_adj (code, parent_code, level) ",
                );
                qb.push_values(chunk, |mut b, (code, parent, level)| {
                    b.push_bind(code).push_bind(parent).push_bind(level);
                });
                qb.build().persistent(false).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            c.close().await?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(sqlite_options(&db.url)?.read_only(true))
                .await?;
            (Peer::Sqlite(pool), adj.len())
        }
        Backend::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .connect(&db.url)
                .await?;
            let rows: Vec<(i32, i64)> = sqlx::query_as("SELECT level, key FROM regions")
                .fetch_all(&pool)
                .await?;
            let adj = adjacency(rows)?;
            let mut tx = pool.begin().await?;
            for ddl in ADJ_DDL {
                sqlx::query(ddl).execute(&mut *tx).await?;
            }
            for chunk in adj.chunks(100_000) {
                let codes: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
                let parents: Vec<Option<&str>> = chunk.iter().map(|r| r.1.as_deref()).collect();
                let levels: Vec<i32> = chunk.iter().map(|r| r.2).collect();
                sqlx::query(
                    "INSERT INTO bench_regions_adj (code, parent_code, level) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[])",
                )
                .bind(codes)
                .bind(parents)
                .bind(levels)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            // What autovacuum does shortly after loads of this size: statistics for the
            // planner, and the visibility map that index-only scans rely on.
            for table in ["regions", "bench_regions_adj"] {
                sqlx::raw_sql(&format!("VACUUM ANALYZE {table}"))
                    .execute(&pool)
                    .await?;
            }
            (Peer::Pg(pool), adj.len())
        }
    };
    let (peer, n) = peer;
    Ok((store, peer, n))
}

/// Per level, the nonzero counts, level as stored (1–7).
fn nonzero(counts: Vec<(i32, i64)>) -> Vec<(i32, i64)> {
    let mut v: Vec<(i32, i64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort();
    v
}

struct Measured {
    label: String,
    code: String,
    below: i64,
    linli_us: f64,
    peer_us: f64,
    calls: usize,
}

struct Side {
    backend: &'static str,
    rows: usize,
    measured: Vec<Measured>,
    plans: Vec<(String, String, String)>,
}

async fn measure(
    backend: &'static str,
    db: &TestDb,
    iterations: usize,
    budget: Duration,
) -> Result<Side> {
    let (store, peer, rows) = setup(db).await?;
    let mut measured = Vec::new();
    let mut plans = Vec::new();
    for text in REGIONS {
        let code = text.map(RegionCode::parse).transpose()?;
        let label = match code {
            None => "whole country".to_string(),
            Some(c) => {
                store
                    .region(c)
                    .await?
                    .with_context(|| format!("region {c} is not in the database"))?
                    .name
            }
        };
        // Warm-up, and the check that both count the same.
        let ours: Vec<(i32, i64)> = store
            .summary(code)
            .await?
            .into_iter()
            .map(|(l, n)| (i32::from(l.number()), n))
            .collect();
        let ours = nonzero(ours);
        let theirs = nonzero(peer.counts(text).await?);
        if ours != theirs {
            bail!(
                "{backend}, region {}: Store::summary counts {ours:?} but the recursive CTE counts {theirs:?}",
                text.unwrap_or("CN")
            );
        }
        let below: i64 = ours.iter().map(|(_, n)| n).sum();
        let mut a = Vec::new();
        let mut b = Vec::new();
        let started = Instant::now();
        for i in 0..iterations.max(1) {
            // Alternate which goes first.
            for turn in 0..2 {
                if (i + turn) % 2 == 0 {
                    let t = Instant::now();
                    std::hint::black_box(store.summary(code).await?);
                    a.push(t.elapsed().as_secs_f64() * 1e6);
                } else {
                    let t = Instant::now();
                    std::hint::black_box(peer.counts(text).await?);
                    b.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            if started.elapsed() > budget && i + 1 >= 5 {
                break;
            }
        }
        let (linli_us, peer_us) = (median(&a), median(&b));
        eprintln!(
            "summary {backend} {}: linli {linli_us:.0} µs, CTE {peer_us:.0} µs ({} calls each)",
            text.unwrap_or("CN"),
            a.len()
        );
        if matches!(text, None | Some("330102") | Some("330102001051")) {
            let (p1, p2) = peer.plans(code).await?;
            plans.push((text.unwrap_or("CN").to_string(), p1, p2));
        }
        measured.push(Measured {
            label,
            code: text.unwrap_or("CN").to_string(),
            below,
            linli_us,
            peer_us,
            calls: a.len(),
        });
    }
    store.close().await;
    match peer {
        Peer::Sqlite(p) => p.close().await,
        Peer::Pg(p) => p.close().await,
    }
    Ok(Side {
        backend,
        rows,
        measured,
        plans,
    })
}

fn us(x: f64) -> String {
    group(x.round() as u64)
}

/// How the summary benchmark runs.
pub struct Options {
    pub iterations: usize,
    pub budget: Duration,
    pub keep_sqlite: Option<PathBuf>,
}

/// Runs the summary benchmark on SQLite and, when `pg`, on PostgreSQL; returns Markdown.
pub async fn run(pg: bool, options: &Options) -> Result<String> {
    let (iterations, budget) = (options.iterations, options.budget);
    let mut sides = Vec::new();
    {
        let db = TestDb::sqlite();
        sides.push(measure("SQLite", &db, iterations, budget).await?);
        if let Some(keep) = &options.keep_sqlite {
            let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(&db.url)?).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut c)
                .await?;
            c.close().await?;
            let path = db.url.strip_prefix("sqlite://").unwrap_or(&db.url);
            std::fs::copy(path, keep)
                .with_context(|| format!("copying {path} to {}", keep.display()))?;
            eprintln!("summary: the SQLite database is kept as {}", keep.display());
        }
    }
    if pg {
        let db = TestDb::postgres()
            .await
            .context("no PostgreSQL server configured")?;
        sides.push(measure("PostgreSQL", &db, iterations, budget).await?);
    }
    let mut md = String::new();
    md.push_str("## Region summaries (`linli-bench summary`)\n\n");
    md.push_str(&format!(
        "Counting the regions of each level below a region. **linli**: `Store::summary(code)`, \
         one count per level over a primary-key range, in one statement. **Peer**: the classic adjacency list, a \
         table `bench_regions_adj (code TEXT PRIMARY KEY, parent_code TEXT, level INT)` with an \
         index on `parent_code`, filled from the very same rows (codes rebuilt with \
         `RegionCode::from_key`), in the same database, counted with `WITH RECURSIVE sub AS \
         (…) SELECT level, count(*) FROM sub GROUP BY level`. The database holds all divisions \
         plus the demo district (`Store::build_demo`: 1,361 grids and 9,201 micro-grids in \
         上城区). Both answer through sqlx pools configured alike (SQLite: 8 read-only \
         connections with linli's pragmas; PostgreSQL: up to 16), both were checked to give \
         identical counts for every region before timing, then called alternately, up to {} \
         times each after one warm-up (fewer for slow regions: a region stops after {:.0} s \
         once it has 5 calls). Medians, in microseconds, from the call to the decoded rows. A \
         ratio below 1 means linli is faster.\n\n",
        iterations,
        budget.as_secs_f64()
    ));
    for side in &sides {
        md.push_str(&format!(
            "### {} ({} regions)\n\n",
            side.backend,
            group(side.rows as u64)
        ));
        md.push_str(
            "| region | code | regions below | linli µs | recursive CTE µs | linli ÷ CTE | calls each |\n\
             |---|---|---:|---:|---:|---:|---:|\n",
        );
        for m in &side.measured {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                m.label,
                m.code,
                group(m.below as u64),
                us(m.linli_us),
                us(m.peer_us),
                ratio(m.linli_us / m.peer_us),
                m.calls
            ));
        }
        md.push('\n');
    }
    md.push_str(
        "SQLite: `ANALYZE` ran once after the divisions load (linli runs it there), before the adjacency table was made. PostgreSQL: \
         `VACUUM ANALYZE` on both tables after loading, as autovacuum would do shortly after \
         a load of this size.\n\n",
    );
    md.push_str("<details><summary>Query plans</summary>\n\n");
    for side in &sides {
        for (code, ours, cte) in &side.plans {
            md.push_str(&format!(
                "{} {code}, linli:\n\n```\n{ours}\n```\n\n{} {code}, recursive CTE:\n\n```\n{cte}\n```\n\n",
                side.backend, side.backend
            ));
        }
    }
    md.push_str("</details>\n");
    Ok(md)
}
