//! The few reads the replay makes beside the store, in plain SQL on a connection of its
//! own (as the other benchmarks' peers do): the buildings to map onto, the next deadline
//! timer (to sweep only when something is due while catching up), and the counts that check
//! nothing was lost.

use anyhow::Result;
use linli_core::region::KeyRange;
use linli_store::{Backend, Store};

pub enum Peek {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// (id, community key, region key, region level, lon, lat)
pub type BuildingRow = (i64, i64, i64, i64, f64, f64);

macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match $self {
            Peek::Sqlite($pool) => $body,
            Peek::Postgres($pool) => $body,
        }
    };
}

impl Peek {
    pub async fn connect(store: &Store, url: &str) -> Result<Peek> {
        Ok(match store.backend() {
            Backend::Sqlite => Peek::Sqlite(
                sqlx::SqlitePool::connect_with(linli_store::sqlite_options(url)?.read_only(true))
                    .await?,
            ),
            Backend::Postgres => Peek::Postgres(sqlx::PgPool::connect(url).await?),
        })
    }

    /// Every building with a position in `range`, by id.
    pub async fn buildings(&self, range: KeyRange) -> Result<Vec<BuildingRow>> {
        let sql = "SELECT id, community_key, region_key, CAST(region_level AS BIGINT), lon, lat \
                   FROM buildings WHERE region_key >= $1 AND region_key < $2 \
                   AND lon IS NOT NULL AND lat IS NOT NULL ORDER BY id";
        Ok(on_pool!(self, p => sqlx::query_as(sql)
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?))
    }

    /// The earliest moment after `after` that a deadline stage is due, if any.
    pub async fn next_timer(&self, after: i64) -> Result<Option<i64>> {
        let sql = "SELECT timer_at FROM events WHERE timer_at > $1 ORDER BY timer_at LIMIT 1";
        Ok(on_pool!(self, p => sqlx::query_scalar(sql).bind(after).fetch_optional(p).await?))
    }

    /// Events by category, leaving out generated ones.
    pub async fn events_by_category(&self) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT category_code, COUNT(*) FROM events WHERE source <> 'generated' \
                   GROUP BY category_code ORDER BY category_code";
        Ok(on_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// How often each scheduler action was taken, from the flow log.
    pub async fn stages_fired(&self) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT action, COUNT(*) FROM event_flow \
                   WHERE action IN ('warn_yellow', 'warn_red', 'auto_escalate') \
                   GROUP BY action ORDER BY action";
        Ok(on_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// Events that changed unit by escalation, and escalations in all.
    pub async fn escalations(&self) -> Result<(i64, i64)> {
        let sql = "SELECT CAST(COALESCE(SUM(CASE WHEN escalations > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                   CAST(COALESCE(SUM(escalations), 0) AS BIGINT) FROM events WHERE source <> 'generated'";
        Ok(on_pool!(self, p => sqlx::query_as(sql).fetch_one(p).await?))
    }

    pub async fn close(self) {
        on_pool!(self, p => p.close().await)
    }
}
