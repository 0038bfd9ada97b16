//! Event figures at scale: a district holding a year of events at Hangzhou's scale
//! (2.8 million by default), and the leaders' figures for the district, a street and a
//! community over a year and over 30 days, on SQLite and PostgreSQL. The goal:
//! < 100 ms per region. The peer computes the same figures with plain SQL over the events
//! table (counts by range and period, and the exact 90th percentile by ORDER BY … OFFSET);
//! both must agree on every count, and the percentiles within a bucket's width (26 %),
//! or the benchmark fails.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use linli_core::events::kpi::{self, day_start_ms};
use linli_core::region::{Level, RegionCode};
use linli_store::demo_events::{plan_year, Place};
use linli_store::divisions::{Progress, Quiet};
use linli_store::events::{KpiRow, KpiScope};
use linli_store::testing::TestDb;
use linli_store::{Backend, Store};

use crate::stats::{group, median, ratio};

pub struct Options {
    pub events: usize,
    pub iterations: usize,
    pub skip_sqlite: bool,
}

const DISTRICT: &str = "330102";
const STREET: &str = "330102001";
const COMMUNITY: &str = "330102001051";

/// Prints loading progress every 10 %.
struct Dots {
    total: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
}

impl Progress for Dots {
    fn start(&self, total: u64) {
        self.total
            .store(total, std::sync::atomic::Ordering::Relaxed);
    }
    fn advance(&self, rows: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.total.load(Relaxed).max(1);
        let before = self.done.fetch_add(rows, Relaxed);
        let after = before + rows;
        if before * 10 / total != after * 10 / total {
            eprintln!("  … {}%", after * 100 / total);
        }
    }
}

/// The peer: the same counts straight from the events table.
async fn plain(
    store: &Store,
    url: &str,
    region: RegionCode,
    from: i64,
    to: i64,
) -> Result<(KpiRow, Option<f64>)> {
    let range = region.range();
    let (a, b) = (day_start_ms(from), day_start_ms(to));
    let received_sql = "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN state IN ('merged', 'withdrawn') THEN 1 ELSE 0 END), 0) AS BIGINT), \
        CAST(COALESCE(SUM(CASE WHEN state = 'closed' THEN 1 ELSE 0 END), 0) AS BIGINT) \
        FROM events WHERE region_key >= $1 AND region_key < $2 AND created_at >= $3 AND created_at < $4";
    let closed_sql = "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN closed_on_time THEN 1 ELSE 0 END), 0) AS BIGINT), \
        CAST(COALESCE(SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
        CAST(COALESCE(SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END), 0) AS BIGINT), \
        CAST(COALESCE(SUM(closed_at - created_at), 0) AS BIGINT) \
        FROM events WHERE region_key >= $1 AND region_key < $2 AND closed_at >= $3 AND closed_at < $4 AND state = 'closed'";
    let p90_sql =
        "SELECT closed_at - created_at FROM events WHERE region_key >= $1 AND region_key < $2 \
        AND closed_at >= $3 AND closed_at < $4 AND state = 'closed' ORDER BY 1 LIMIT 1 OFFSET $5";
    let mut row = KpiRow::total(&[]);
    let p90;
    macro_rules! run {
        ($pool:expr) => {{
            let (n, dropped, resolved): (i64, i64, i64) = sqlx::query_as(received_sql)
                .bind(range.start)
                .bind(range.end)
                .bind(a)
                .bind(b)
                .fetch_one($pool)
                .await?;
            let (closed, on_time, rated, satisfied, ms): (i64, i64, i64, i64, i64) =
                sqlx::query_as(closed_sql)
                    .bind(range.start)
                    .bind(range.end)
                    .bind(a)
                    .bind(b)
                    .fetch_one($pool)
                    .await?;
            row.received = n;
            row.dropped = dropped;
            row.resolved = resolved;
            row.closed = closed;
            row.closed_on_time = on_time;
            row.rated = rated;
            row.satisfied = satisfied;
            row.handling_ms = ms;
            // The exact 90th percentile by the same rank the histogram interpolates to.
            let rank = ((closed as f64 * 0.9).ceil() as i64 - 1).max(0);
            p90 = if closed == 0 {
                None
            } else {
                let v: Option<i64> = sqlx::query_scalar(p90_sql)
                    .bind(range.start)
                    .bind(range.end)
                    .bind(a)
                    .bind(b)
                    .bind(rank)
                    .fetch_optional($pool)
                    .await?;
                v.map(|x| x as f64)
            };
        }};
    }
    match store.backend() {
        Backend::Sqlite => {
            let pool =
                sqlx::SqlitePool::connect_with(linli_store::sqlite_options(url)?.read_only(true))
                    .await?;
            run!(&pool);
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await?;
            run!(&pool);
            pool.close().await;
        }
    }
    Ok((row, p90))
}

fn same(ours: &KpiRow, theirs: &KpiRow) -> bool {
    (
        ours.received,
        ours.dropped,
        ours.resolved,
        ours.closed,
        ours.closed_on_time,
        ours.rated,
        ours.satisfied,
        ours.handling_ms,
    ) == (
        theirs.received,
        theirs.dropped,
        theirs.resolved,
        theirs.closed,
        theirs.closed_on_time,
        theirs.rated,
        theirs.satisfied,
        theirs.handling_ms,
    )
}

pub async fn run(with_pg: bool, opts: &Options) -> Result<String> {
    let mut md = String::new();
    md.push_str(&format!(
        "## Event figures over a year of {} events\n\n\
         linli: `Store::event_kpis` (day and month counters per region, read for the period's whole months and edge days, plus the \
         histogram) — plain SQL: the same counts over the events table, and the exact p90 by ORDER BY … OFFSET. \
         Medians of {} calls after a warm-up; \"agree\": every count equal and p90 within 26 %.\n\n",
        group(opts.events as u64),
        opts.iterations
    ));
    let mut dbs = if opts.skip_sqlite {
        Vec::new()
    } else {
        vec![TestDb::sqlite()]
    };
    if with_pg {
        dbs.extend(TestDb::postgres().await);
    }
    for db in dbs {
        let store = db.open().await;
        let backend = store.backend();
        store
            .load_divisions(DISTRICT, &Quiet)
            .await
            .context("divisions")?;
        let district = RegionCode::parse(DISTRICT)?;
        let communities: Vec<Place> = store
            .regions_at(Level::Community, district.range())
            .await?
            .into_iter()
            .map(|r| Place {
                region: r.code,
                position: None,
                name: r.name,
            })
            .collect();
        let categories = store.categories().await?;
        let now = linli_store::now_ms();
        let events = plan_year(&communities, opts.events, &categories, now, 0x5eed);
        eprintln!("{backend:?}: loading {} events", events.len());
        let started = Instant::now();
        let progress = Dots {
            total: 0.into(),
            done: 0.into(),
        };
        store
            .insert_generated_events(&events, false, &progress)
            .await?;
        let load_secs = started.elapsed().as_secs_f64();
        drop(events);
        md.push_str(&format!(
            "### {backend:?}\n\nLoaded in {load_secs:.1} s ({} events/s, figures included).\n\n\
             | region | period | linli ms | plain SQL ms | linli ÷ plain | received | closed | on time % | p90 h (linli / exact) | agree |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
            group((opts.events as f64 / load_secs) as u64)
        ));
        let today = kpi::china_day(now);
        for code in [DISTRICT, STREET, COMMUNITY] {
            let region = RegionCode::parse(code)?;
            for (label, from) in [("365 days", today - 364), ("30 days", today - 29)] {
                let to = today + 1;
                let scope = KpiScope::Region(region);
                store.event_kpis(scope, from, to, now).await?;
                let mut ours_ms = Vec::new();
                let mut rows = Vec::new();
                for _ in 0..opts.iterations {
                    let t = Instant::now();
                    rows = store.event_kpis(scope, from, to, now).await?;
                    ours_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                let ours = KpiRow::total(&rows);
                let our_p90 = kpi::percentile_ms(&ours.hist, 0.9);
                plain(&store, &db.url, region, from, to).await?;
                let mut theirs_ms = Vec::new();
                let mut theirs = (KpiRow::total(&[]), None);
                for _ in 0..opts.iterations.min(5) {
                    let t = Instant::now();
                    theirs = plain(&store, &db.url, region, from, to).await?;
                    theirs_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                let p90_ok = match (our_p90, theirs.1) {
                    (Some(a), Some(b)) => (a / b - 1.0).abs() <= 0.26,
                    (None, None) => true,
                    _ => false,
                };
                let agree = same(&ours, &theirs.0) && p90_ok;
                let (ours_med, theirs_med) = (median(&ours_ms), median(&theirs_ms));
                md.push_str(&format!(
                    "| {code} | {label} | {ours_med:.1} | {theirs_med:.1} | {} | {} | {} | {} | {} / {} | {} |\n",
                    ratio(ours_med / theirs_med),
                    group(ours.received as u64),
                    group(ours.closed as u64),
                    kpi::rate(ours.closed_on_time, ours.closed).map_or("–".into(), |r| format!("{r:.1}")),
                    our_p90.map_or("–".into(), |v| format!("{:.1}", v / 3_600_000.0)),
                    theirs.1.map_or("–".into(), |v| format!("{:.1}", v / 3_600_000.0)),
                    if agree { "yes" } else { "**no**" }
                ));
                if !agree {
                    store.close().await;
                    bail!("{backend:?} {code} {label}: linli's figures differ from plain SQL: {ours:?} vs {:?}", theirs);
                }
            }
        }
        md.push('\n');
        store.close().await;
    }
    Ok(md)
}
