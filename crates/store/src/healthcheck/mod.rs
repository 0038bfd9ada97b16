//! The community health check (社区体检): the inputs linli keeps for it (staffing figures,
//! weights), a run over a region ([`run`]), and the latest results ([`read`]).

mod demo;
pub mod read;
pub mod run;
pub mod siting;

use linli_core::healthcheck::{default_weights, Weight, FIGURES};
use linli_core::{Level, Problem, RegionCode};
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

pub use read::{HealthcheckView, RunRow};
pub use run::{HealthcheckProgress, NetworkInput, RunReport};
pub use siting::{Proposal, MAX_SITES};

impl Store {
    /// Sets a community's staffing figures (`community_workers`, `elderly_care_staff`,
    /// `infant_care_places`); `None` removes one. All or nothing.
    pub async fn set_community_figures(
        &self,
        actor: &Actor,
        community: RegionCode,
        figures: &[(String, Option<f64>)],
    ) -> Result<()> {
        if community.level() != Level::Community {
            return Err(StoreError::Invalid(
                Problem::new("not_a_community", "hc.not_a_community").arg("code", community),
            ));
        }
        for (name, value) in figures {
            if !FIGURES.contains(&name.as_str()) {
                return Err(StoreError::Invalid(
                    Problem::new("unknown_figure", "hc.unknown_figure")
                        .arg("value", name)
                        .arg("options", FIGURES.join("、"))
                        .field("figure"),
                ));
            }
            if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(StoreError::Invalid(
                    Problem::new("bad_figure", "hc.bad_figure")
                        .arg("value", value.unwrap_or(0.0))
                        .field("value"),
                ));
            }
        }
        if self.region(community).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let entry = Entry {
            target: Some(community.to_string()),
            region_key: Some(community.key()),
            after: Some(json!(figures)),
            ..Entry::new("healthcheck.figures")
        };
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for (name, value) in figures {
                match value {
                    Some(v) => {
                        sqlx::query(
                            "INSERT INTO community_figures (community_key, figure, value, updated_at, updated_by) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (community_key, figure) DO UPDATE SET \
                             value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        )
                        .bind(community.key())
                        .bind(name)
                        .bind(v)
                        .bind(now)
                        .bind(&actor.username)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM community_figures WHERE community_key = $1 AND figure = $2")
                            .bind(community.key())
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The staffing figures of the communities in a key range: (community key, figure, value).
    pub async fn community_figures(&self, code: RegionCode) -> Result<Vec<(i64, String, f64)>> {
        let range = code.range();
        Ok(on_read!(self, p => {
            sqlx::query_as::<_, (i64, String, f64)>(
                "SELECT community_key, figure, value FROM community_figures \
                 WHERE community_key >= $1 AND community_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        }))
    }

    /// The weights in force: the built-in ones with the stored overrides applied.
    pub async fn healthcheck_weights(&self) -> Result<Vec<Weight>> {
        let stored: Vec<(String, f64, Option<f64>)> = on_read!(self, p => {
            sqlx::query_as("SELECT indicator, weight, target FROM healthcheck_weights")
                .fetch_all(p)
                .await?
        });
        let mut weights = default_weights();
        for w in &mut weights {
            if let Some((_, weight, target)) = stored.iter().find(|s| s.0 == w.indicator) {
                w.weight = *weight;
                if w.target.is_some() && target.is_some() {
                    w.target = *target;
                }
            }
        }
        Ok(weights)
    }

    /// Changes weights (and targets of ratios). Every indicator must be a known one, every
    /// weight zero or more, every target above zero, and at least one weight above zero.
    pub async fn set_healthcheck_weights(
        &self,
        actor: &Actor,
        changes: &[Weight],
    ) -> Result<Vec<Weight>> {
        let mut next = self.healthcheck_weights().await?;
        for c in changes {
            let Some(w) = next.iter_mut().find(|w| w.indicator == c.indicator) else {
                return Err(StoreError::Invalid(
                    Problem::new("unknown_indicator", "hc.unknown_indicator")
                        .arg("value", &c.indicator)
                        .field("indicator"),
                ));
            };
            if !c.weight.is_finite() || c.weight < 0.0 {
                return Err(StoreError::Invalid(
                    Problem::new("bad_weight", "hc.bad_weight")
                        .arg("value", c.weight)
                        .field("weight"),
                ));
            }
            if let Some(t) = c.target {
                if w.target.is_none() || !t.is_finite() || t <= 0.0 {
                    return Err(StoreError::Invalid(
                        Problem::new("bad_target", "hc.bad_target")
                            .arg("indicator", &c.indicator)
                            .arg("value", t)
                            .field("target"),
                    ));
                }
                w.target = Some(t);
            }
            w.weight = c.weight;
        }
        if next.iter().all(|w| w.weight == 0.0) {
            return Err(StoreError::Invalid(
                Problem::new("all_weights_zero", "hc.all_weights_zero").field("weight"),
            ));
        }
        let entry = Entry {
            target: Some("healthcheck_weights".into()),
            after: Some(json!(next
                .iter()
                .map(|w| (&w.indicator, w.weight, w.target))
                .collect::<Vec<_>>())),
            ..Entry::new("healthcheck.weights")
        };
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for w in &next {
                sqlx::query(
                    "INSERT INTO healthcheck_weights (indicator, weight, target, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (indicator) DO UPDATE SET weight = excluded.weight, target = excluded.target, \
                     updated_at = excluded.updated_at",
                )
                .bind(&w.indicator)
                .bind(w.weight)
                .bind(w.target)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        Ok(next)
    }
}
