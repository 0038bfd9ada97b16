//! The latest health-check results for a region, and the state of a run.

use linli_core::{Level, RegionCode};
use serde_json::Value;

use crate::regions::level_number;
use crate::{on_read, Result, Store, StoreError};

/// A run: its region, state, progress and inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub region: RegionCode,
    pub state: String,
    pub stage: String,
    pub done: i64,
    pub total: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub started_by: String,
    pub inputs: Value,
    pub error: Option<String>,
}

/// One community's stored result.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityResult {
    pub community: RegionCode,
    pub name: String,
    pub residents: i64,
    pub assessed: bool,
    pub index: Option<f64>,
    pub rank: Option<i64>,
    pub flagged: bool,
    pub detail: Value,
}

/// The latest finished run covering a region, with the results of the communities in it.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthcheckView {
    pub run: RunRow,
    /// The communities inside the asked region, by rank (unranked last).
    pub communities: Vec<CommunityResult>,
    /// How many communities the run ranked (the "of" in "rank 3 of 120").
    pub ranked: i64,
}

type RawRun = (
    i64,
    i64,
    i32,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
);

fn run_row(r: RawRun) -> Result<RunRow> {
    let level = Level::from_number(r.2 as i16)
        .ok_or_else(|| StoreError::Corrupt(format!("run {}: level {}", r.0, r.2)))?;
    let region = RegionCode::from_key(r.1, level)
        .ok_or_else(|| StoreError::Corrupt(format!("run {}: key {}", r.0, r.1)))?;
    Ok(RunRow {
        id: r.0,
        region,
        state: r.3,
        stage: r.4,
        done: r.5,
        total: r.6,
        started_at: r.7,
        finished_at: r.8,
        started_by: r.9,
        inputs: serde_json::from_str(&r.10).unwrap_or(Value::Null),
        error: r.11,
    })
}

const RUN_COLUMNS: &str =
    "id, region_key, CAST(region_level AS INTEGER), state, stage, done, total, started_at, finished_at, started_by, inputs, error";

impl Store {
    pub async fn healthcheck_run(&self, id: i64) -> Result<Option<RunRow>> {
        let raw: Option<RawRun> = on_read!(self, p => {
            sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM healthcheck_runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        raw.map(run_row).transpose()
    }

    /// The latest run (in any state) of the region itself or a region above it: what the
    /// page shows while a run goes on.
    pub async fn latest_healthcheck_run(
        &self,
        code: RegionCode,
        done_only: bool,
    ) -> Result<Option<RunRow>> {
        let mut path = code.ancestors();
        path.push(code);
        let raw: Option<RawRun> = on_read!(self, p => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(format!("SELECT {RUN_COLUMNS} FROM healthcheck_runs WHERE ("));
            for (i, c) in path.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(region_level = ").push_bind(level_number(c.level())).push(" AND region_key = ").push_bind(c.key()).push(")");
            }
            qb.push(")");
            if done_only {
                qb.push(" AND state = 'done'");
            }
            qb.push(" ORDER BY id DESC LIMIT 1");
            qb.build_query_as().fetch_optional(p).await?
        });
        raw.map(run_row).transpose()
    }

    /// The latest finished results covering `code`; `None` when no run has finished.
    pub async fn healthcheck(&self, code: RegionCode) -> Result<Option<HealthcheckView>> {
        let Some(run) = self.latest_healthcheck_run(code, true).await? else {
            return Ok(None);
        };
        let range = code.range();
        let (rows, ranked) = on_read!(self, p => {
            let rows = sqlx::query_as::<_, (i64, String, i64, bool, Option<f64>, Option<i64>, bool, String)>(
                "SELECT h.community_key, COALESCE(r.name, ''), h.residents, h.assessed, h.idx, h.rank, h.flagged, h.detail \
                 FROM healthcheck_results h LEFT JOIN regions r ON r.level = $4 AND r.key = h.community_key \
                 WHERE h.run_id = $1 AND h.community_key >= $2 AND h.community_key < $3",
            )
            .bind(run.id)
            .bind(range.start)
            .bind(range.end)
            .bind(level_number(Level::Community))
            .fetch_all(p)
            .await?;
            let ranked = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM healthcheck_results WHERE run_id = $1 AND rank IS NOT NULL",
            )
            .bind(run.id)
            .fetch_one(p)
            .await?;
            (rows, ranked)
        });
        let mut communities = Vec::with_capacity(rows.len());
        for (key, name, residents, assessed, index, rank, flagged, detail) in rows {
            let community = RegionCode::from_key(key, Level::Community).ok_or_else(|| {
                StoreError::Corrupt(format!("health check {}: community key {key}", run.id))
            })?;
            communities.push(CommunityResult {
                community,
                name,
                residents,
                assessed,
                index,
                rank,
                flagged,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("health check {}: {e}", run.id)))?,
            });
        }
        communities.sort_by_key(|c| (c.rank.is_none(), c.rank, c.community.key()));
        Ok(Some(HealthcheckView {
            run,
            communities,
            ranked,
        }))
    }

    /// A community's map from the latest finished run: its buildings and their walking
    /// metres per type.
    pub async fn healthcheck_map(&self, community: RegionCode) -> Result<Option<Value>> {
        let Some(run) = self.latest_healthcheck_run(community, true).await? else {
            return Ok(None);
        };
        let map: Option<String> = on_read!(self, p => {
            sqlx::query_scalar("SELECT map FROM healthcheck_results WHERE run_id = $1 AND community_key = $2")
                .bind(run.id)
                .bind(community.key())
                .fetch_optional(p)
                .await?
        });
        map.map(|m| {
            serde_json::from_str(&m)
                .map_err(|e| StoreError::Corrupt(format!("health check map: {e}")))
        })
        .transpose()
    }
}
