//! The leaders' event figures (see migration 0006): deltas appended by every event write,
//! folded into day and month counters per region and department, and read back for any
//! period with the handling-time histogram behind the percentiles.

use std::collections::HashMap;

use linli_core::events::kpi::{self, Cover, BUCKETS};
use linli_core::events::unit::ancestor_at;
use linli_core::region::{KeyRange, Level, RegionCode};

use crate::{on_read, on_write, Result, Store};

/// One change to the figures, as an event write records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Delta {
    pub region: Option<RegionCode>,
    pub department: Option<i64>,
    pub category: String,
    pub day: i64,
    pub received: i64,
    pub dropped: i64,
    pub closed: i64,
    pub closed_on_time: i64,
    pub resolved: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub handling_ms: i64,
    pub bucket: Option<i64>,
}

impl Delta {
    /// The same change undone (a reopening undoes its closure).
    pub fn negated(mut self) -> Delta {
        for v in [
            &mut self.received,
            &mut self.dropped,
            &mut self.closed,
            &mut self.closed_on_time,
            &mut self.resolved,
            &mut self.rated,
            &mut self.satisfied,
            &mut self.handling_ms,
        ] {
            *v = -*v;
        }
        self
    }
}

/// Appends `deltas` inside the event write's transaction: one INSERT for them all.
macro_rules! write_deltas {
    ($tx:expr, $deltas:expr) => {{
        let deltas: &[$crate::events::stats::Delta] = $deltas;
        if !deltas.is_empty() {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO event_stat_deltas (region_key, region_level, department_id, category_code, day, \
                 received, dropped, closed, closed_on_time, resolved, rated, satisfied, handling_ms, bucket) ",
            );
            q.push_values(deltas, |mut b, d| {
                b.push_bind(d.region.map(|r| r.key()))
                    .push_bind(d.region.map(|r| i64::from(r.level().number())))
                    .push_bind(d.department)
                    .push_bind(d.category.clone())
                    .push_bind(d.day)
                    .push_bind(d.received)
                    .push_bind(d.dropped)
                    .push_bind(d.closed)
                    .push_bind(d.closed_on_time)
                    .push_bind(d.resolved)
                    .push_bind(d.rated)
                    .push_bind(d.satisfied)
                    .push_bind(d.handling_ms)
                    .push_bind(d.bucket);
            });
            q.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use write_deltas;

/// Whose figures: a region (and everything in it) or a department.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiScope {
    Region(RegionCode),
    Department(i64),
}

impl KpiScope {
    fn columns(self) -> (i64, i64) {
        match self {
            KpiScope::Region(r) => (i64::from(r.level().number()), r.key()),
            KpiScope::Department(d) => (0, d),
        }
    }
}

/// One category's figures over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    pub category: String,
    pub received: i64,
    pub dropped: i64,
    pub closed: i64,
    pub closed_on_time: i64,
    pub resolved: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub handling_ms: i64,
    pub hist: [i64; BUCKETS],
    /// Overdue at the moment asked (not bound to the period).
    pub overdue_now: i64,
}

impl KpiRow {
    fn new(category: String) -> KpiRow {
        KpiRow {
            category,
            received: 0,
            dropped: 0,
            closed: 0,
            closed_on_time: 0,
            resolved: 0,
            rated: 0,
            satisfied: 0,
            handling_ms: 0,
            hist: [0; BUCKETS],
            overdue_now: 0,
        }
    }

    /// Adds another row's counts (for totals over categories).
    pub fn add(&mut self, o: &KpiRow) {
        self.received += o.received;
        self.dropped += o.dropped;
        self.closed += o.closed;
        self.closed_on_time += o.closed_on_time;
        self.resolved += o.resolved;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.handling_ms += o.handling_ms;
        self.overdue_now += o.overdue_now;
        for (a, b) in self.hist.iter_mut().zip(o.hist.iter()) {
            *a += b;
        }
    }

    pub fn total(rows: &[KpiRow]) -> KpiRow {
        let mut t = KpiRow::new(String::new());
        for r in rows {
            t.add(r);
        }
        t
    }
}

pub(crate) type DeltaRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
);

/// A category's summed counters, in the columns' order.
type StatSums = (String, i64, i64, i64, i64, i64, i64, i64, i64);

/// (scope kind, scope key, span, start day, category)
pub(crate) type StatKey = (i64, i64, i64, i64, String);
/// A counter row's key and its eight sums, in the columns' order.
pub(crate) type StatCounts = (StatKey, [i64; 8]);
/// A histogram cell: key and bucket, and its count.
pub(crate) type StatBucket = ((StatKey, i64), i64);

/// Deltas folded per transaction.
const FOLD_BATCH: i64 = 20_000;
/// Rows per upsert statement (under both databases' bind-parameter limits).
pub(crate) const UPSERT_ROWS: usize = 500;

fn scopes(region: Option<(i64, i64)>, department: Option<i64>) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    if let Some(code) = region.and_then(|(key, level)| {
        i16::try_from(level)
            .ok()
            .and_then(Level::from_number)
            .and_then(|l| RegionCode::from_key(key, l))
    }) {
        for level in Level::ALL
            .into_iter()
            .filter(|l| *l >= Level::District && *l <= code.level())
        {
            let a = ancestor_at(code, level);
            out.push((i64::from(a.level().number()), a.key()));
        }
    }
    if let Some(d) = department {
        out.push((0, d));
    }
    out
}

/// Sums deltas per scope, span and category, and the histogram per bucket.
pub(crate) fn aggregate(rows: Vec<DeltaRow>) -> (Vec<StatCounts>, Vec<StatBucket>) {
    let mut counts: HashMap<StatKey, [i64; 8]> = HashMap::new();
    let mut hist: HashMap<(StatKey, i64), i64> = HashMap::new();
    for r in rows {
        let (
            rk,
            rl,
            dept,
            cat,
            day,
            rec,
            drop,
            closed,
            on_time,
            resolved,
            rated,
            satisfied,
            ms,
            bucket,
        ) = r;
        let values = [rec, drop, closed, on_time, resolved, rated, satisfied, ms];
        for (kind, key) in scopes(rk.zip(rl), dept) {
            for (span, start) in [(1, day), (2, kpi::month_start(day))] {
                let k = (kind, key, span, start, cat.clone());
                let slot = counts.entry(k.clone()).or_insert([0; 8]);
                for (s, v) in slot.iter_mut().zip(values) {
                    *s += v;
                }
                if let Some(b) = bucket {
                    *hist.entry((k, b)).or_insert(0) += closed;
                }
            }
        }
    }
    (
        counts.into_iter().collect(),
        hist.into_iter().filter(|(_, n)| *n != 0).collect(),
    )
}

impl Delta {
    /// The row shape the fold reads.
    pub(crate) fn row(&self) -> DeltaRow {
        (
            self.region.map(|r| r.key()),
            self.region.map(|r| i64::from(r.level().number())),
            self.department,
            self.category.clone(),
            self.day,
            self.received,
            self.dropped,
            self.closed,
            self.closed_on_time,
            self.resolved,
            self.rated,
            self.satisfied,
            self.handling_ms,
            self.bucket,
        )
    }
}

/// Adds aggregated counts and histogram entries to the counters inside `tx`.
macro_rules! upsert_stats {
    ($tx:expr, $counts:expr, $hist:expr) => {{
        let counts: Vec<$crate::events::stats::StatCounts> = $counts;
        let hist: Vec<$crate::events::stats::StatBucket> = $hist;
        for chunk in counts.chunks($crate::events::stats::UPSERT_ROWS) {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO event_stats (scope_kind, scope_key, span, start_day, category_code, received, \
                 dropped, closed, closed_on_time, resolved, rated, satisfied, handling_ms) ",
            );
            q.push_values(chunk, |mut b, ((kind, key, span, start, cat), v)| {
                b.push_bind(*kind).push_bind(*key).push_bind(*span).push_bind(*start).push_bind(cat.clone());
                for x in v {
                    b.push_bind(*x);
                }
            });
            q.push(
                " ON CONFLICT (scope_kind, scope_key, span, start_day, category_code) DO UPDATE SET \
                 received = event_stats.received + excluded.received, \
                 dropped = event_stats.dropped + excluded.dropped, \
                 closed = event_stats.closed + excluded.closed, \
                 closed_on_time = event_stats.closed_on_time + excluded.closed_on_time, \
                 resolved = event_stats.resolved + excluded.resolved, \
                 rated = event_stats.rated + excluded.rated, \
                 satisfied = event_stats.satisfied + excluded.satisfied, \
                 handling_ms = event_stats.handling_ms + excluded.handling_ms",
            );
            q.build().execute(&mut *$tx).await?;
        }
        for chunk in hist.chunks($crate::events::stats::UPSERT_ROWS) {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO event_handling_hist (scope_kind, scope_key, span, start_day, category_code, bucket, n) ",
            );
            q.push_values(chunk, |mut b, (((kind, key, span, start, cat), bucket), n)| {
                b.push_bind(*kind)
                    .push_bind(*key)
                    .push_bind(*span)
                    .push_bind(*start)
                    .push_bind(cat.clone())
                    .push_bind(*bucket)
                    .push_bind(*n);
            });
            q.push(
                " ON CONFLICT (scope_kind, scope_key, span, start_day, category_code, bucket) \
                 DO UPDATE SET n = event_handling_hist.n + excluded.n",
            );
            q.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use upsert_stats;

impl Store {
    /// Folds every pending delta into the counters; returns how many were folded. Safe to
    /// run in several processes at once: each transaction deletes the deltas it folds, and
    /// a delta deleted by another is not returned to it.
    pub async fn fold_event_stats(&self) -> Result<usize> {
        let mut folded = 0;
        loop {
            let n = on_write!(self, p => {
                let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
                let rows: Vec<DeltaRow> = sqlx::query_as(
                    "DELETE FROM event_stat_deltas WHERE id IN \
                     (SELECT id FROM event_stat_deltas ORDER BY id LIMIT $1) \
                     RETURNING region_key, region_level, department_id, category_code, day, received, dropped, \
                     closed, closed_on_time, resolved, rated, satisfied, handling_ms, bucket",
                )
                .bind(FOLD_BATCH)
                .fetch_all(&mut *tx)
                .await?;
                let n = rows.len();
                let (counts, hist) = aggregate(rows);
                upsert_stats!(tx, counts, hist);
                tx.commit().await?;
                n
            });
            folded += n;
            if (n as i64) < FOLD_BATCH {
                return Ok(folded);
            }
        }
    }

    /// The figures of `scope` for the China-time days `[from_day, to_day)`, by category,
    /// with the events overdue at `now`. Folds pending deltas first, so they are current.
    pub async fn event_kpis(
        &self,
        scope: KpiScope,
        from_day: i64,
        to_day: i64,
        now: i64,
    ) -> Result<Vec<KpiRow>> {
        self.fold_event_stats().await?;
        let (kind, key) = scope.columns();
        let cover = kpi::cover(from_day, to_day);
        let mut rows: HashMap<String, KpiRow> = HashMap::new();
        if !cover.months.is_empty() || !cover.days.is_empty() {
            let (stats, hist): (Vec<StatSums>, Vec<(String, i64, i64)>) = on_read!(self, p => {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "SELECT category_code, CAST(SUM(received) AS BIGINT), CAST(SUM(dropped) AS BIGINT), \
                     CAST(SUM(closed) AS BIGINT), CAST(SUM(closed_on_time) AS BIGINT), CAST(SUM(resolved) AS BIGINT), \
                     CAST(SUM(rated) AS BIGINT), CAST(SUM(satisfied) AS BIGINT), CAST(SUM(handling_ms) AS BIGINT) FROM (",
                );
                push_cover(
                    &mut q,
                    "SELECT category_code, received, dropped, closed, closed_on_time, resolved, rated, satisfied, \
                     handling_ms FROM event_stats",
                    kind,
                    key,
                    &cover,
                );
                q.push(") AS covered GROUP BY category_code");
                let stats = q.build_query_as().fetch_all(p).await?;
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "SELECT category_code, bucket, CAST(SUM(n) AS BIGINT) FROM (",
                );
                push_cover(
                    &mut q,
                    "SELECT category_code, bucket, n FROM event_handling_hist",
                    kind,
                    key,
                    &cover,
                );
                q.push(") AS covered GROUP BY category_code, bucket");
                let hist = q.build_query_as().fetch_all(p).await?;
                (stats, hist)
            });
            for (cat, rec, drop, closed, on_time, resolved, rated, satisfied, ms) in stats {
                let r = rows.entry(cat.clone()).or_insert_with(|| KpiRow::new(cat));
                r.received = rec;
                r.dropped = drop;
                r.closed = closed;
                r.closed_on_time = on_time;
                r.resolved = resolved;
                r.rated = rated;
                r.satisfied = satisfied;
                r.handling_ms = ms;
            }
            for (cat, bucket, n) in hist {
                if let Some(slot) = usize::try_from(bucket).ok().filter(|b| *b < BUCKETS) {
                    rows.entry(cat.clone())
                        .or_insert_with(|| KpiRow::new(cat))
                        .hist[slot] += n;
                }
            }
        }
        for (cat, n) in self.overdue_by_category(scope, now).await? {
            rows.entry(cat.clone())
                .or_insert_with(|| KpiRow::new(cat))
                .overdue_now = n;
        }
        let mut out: Vec<KpiRow> = rows.into_values().collect();
        out.sort_by(|a, b| {
            b.received
                .cmp(&a.received)
                .then(a.category.cmp(&b.category))
        });
        Ok(out)
    }

    /// Events overdue at `now` in a scope, by category: read from the open states only.
    async fn overdue_by_category(&self, scope: KpiScope, now: i64) -> Result<Vec<(String, i64)>> {
        Ok(on_read!(self, p => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT category_code, COUNT(*) FROM events WHERE state IN ('pending', 'handling') AND due_at < ",
            );
            q.push_bind(now);
            match scope {
                KpiScope::Region(r) => {
                    let range: KeyRange = r.range();
                    q.push(" AND region_key >= ").push_bind(range.start);
                    q.push(" AND region_key < ").push_bind(range.end);
                }
                KpiScope::Department(d) => {
                    q.push(" AND department_id = ").push_bind(d);
                }
            }
            q.push(" GROUP BY category_code");
            q.build_query_as().fetch_all(p).await?
        }))
    }
}

/// The rows of a scope for a period's cover: one `select` per whole-month list and per run
/// of edge days, joined by UNION ALL, so that each is a plain range of the primary key
/// whatever the planner thinks of the table's statistics (an OR of ranges is not, on
/// PostgreSQL right after a bulk load).
fn push_cover<'a, DB: sqlx::Database>(
    q: &mut sqlx::QueryBuilder<'a, DB>,
    select: &str,
    kind: i64,
    key: i64,
    cover: &Cover,
) where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut first = true;
    let mut part = |q: &mut sqlx::QueryBuilder<'a, DB>| {
        if !first {
            q.push(" UNION ALL ");
        }
        first = false;
        q.push(select);
        q.push(" WHERE scope_kind = ").push_bind(kind);
        q.push(" AND scope_key = ").push_bind(key);
    };
    if !cover.months.is_empty() {
        part(q);
        q.push(" AND span = 2 AND start_day IN (");
        let mut sep = q.separated(", ");
        for m in &cover.months {
            sep.push_bind(*m);
        }
        q.push(")");
    }
    for (a, b) in &cover.days {
        part(q);
        q.push(" AND span = 1 AND start_day >= ").push_bind(*a);
        q.push(" AND start_day < ").push_bind(*b);
    }
}
