//! Events with a history, written in bulk: the demo district's year of events, and the
//! millions the benchmarks measure the figures over. Each event arrives with its final
//! outcome (closed when, rated how, or still open); its row, its flow log and its share of
//! the figures are written together, a chunk per transaction.

use std::collections::HashMap;

use linli_core::events::deadline::{Deadline, Stage};
use linli_core::events::kpi::{bucket, china_day};
use linli_core::events::{State, Unit, HOUR_MS};
use linli_core::geo::{near_cell_of, Position};
use linli_core::region::RegionCode;

use super::stats::{aggregate, upsert_stats, Delta};
use super::unit_columns;
use super::write::Source;
use crate::divisions::Progress;
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

/// One event and how it went.
#[derive(Debug, Clone)]
pub struct GenEvent {
    pub category: String,
    pub description: String,
    pub region: RegionCode,
    pub position: Option<Position>,
    pub building_id: Option<i64>,
    pub created_at: i64,
    /// When it was closed; `None` while open, in `open_state`.
    pub closed_at: Option<i64>,
    pub open_state: State,
    /// The reporter's stars, for a closed event.
    pub rating: Option<u8>,
    pub source: Source,
}

/// Events per transaction.
const CHUNK: usize = 2_000;

/// A category's routing as generation needs it.
struct Route {
    deadline_ms: i64,
    grace_ms: i64,
    level: linli_core::events::HandlingLevel,
    department: Option<i64>,
}

impl Store {
    /// Writes `events` with their figures and (with `flows`) their flow logs. Ids follow the
    /// largest one present.
    pub async fn insert_generated_events(
        &self,
        events: &[GenEvent],
        flows: bool,
        progress: &dyn Progress,
    ) -> Result<usize> {
        let routes: HashMap<String, Route> = self
            .categories()
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.code.clone(),
                    Route {
                        deadline_ms: c.deadline_minutes * 60_000,
                        grace_ms: c.grace_minutes * 60_000,
                        level: c.level,
                        department: c.department_id,
                    },
                )
            })
            .collect();
        for e in events {
            if !routes.contains_key(&e.category) {
                return Err(StoreError::Corrupt(format!(
                    "generated event: category {}",
                    e.category
                )));
            }
        }
        progress.start(events.len() as u64);
        let now = now_ms();
        let mut next_id: i64 = on_read!(self, p => {
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events").fetch_one(p).await?
        });
        for chunk in events.chunks(CHUNK) {
            let mut rows = Vec::with_capacity(chunk.len());
            let mut deltas = Vec::with_capacity(chunk.len() * 3);
            for e in chunk {
                next_id += 1;
                let Some(route) = routes.get(&e.category) else {
                    continue;
                };
                let unit = Unit::first(route.level, route.department, e.region);
                let d = Deadline::new(e.created_at, route.deadline_ms, route.grace_ms);
                let state = if e.closed_at.is_some() {
                    State::Closed
                } else {
                    e.open_state
                };
                // An open event's warnings up to now count as sent; its next one waits.
                let warned = if e.closed_at.is_none() {
                    d.passed(now).map(|s| s.min(Stage::Red))
                } else {
                    None
                };
                let timer = if e.closed_at.is_none() {
                    d.next(warned).map(|(_, at)| at)
                } else {
                    None
                };
                let on_time = e.closed_at.map(|c| c <= d.due);
                rows.push((next_id, e, unit, d, state, warned, timer, on_time));
                deltas.push(Delta {
                    region: Some(e.region),
                    department: unit.department(),
                    category: e.category.clone(),
                    day: china_day(e.created_at),
                    received: 1,
                    ..Default::default()
                });
                if let Some(closed) = e.closed_at {
                    let handling = (closed - e.created_at).max(0);
                    deltas.push(Delta {
                        region: Some(e.region),
                        department: unit.department(),
                        category: e.category.clone(),
                        day: china_day(closed),
                        closed: 1,
                        closed_on_time: i64::from(on_time == Some(true)),
                        handling_ms: handling,
                        bucket: Some(bucket(handling) as i64),
                        rated: i64::from(e.rating.is_some()),
                        satisfied: i64::from(e.rating.is_some_and(|s| s >= 4)),
                        ..Default::default()
                    });
                    deltas.push(Delta {
                        region: Some(e.region),
                        category: e.category.clone(),
                        day: china_day(e.created_at),
                        resolved: 1,
                        ..Default::default()
                    });
                }
            }
            let (counts, hist) = aggregate(deltas.iter().map(Delta::row).collect());
            on_write!(self, p => {
                let mut tx = p.begin().await?;
                for part in rows.chunks(400) {
                    let mut q = sqlx::QueryBuilder::<DB>::new(
                        "INSERT INTO events (id, category_code, description, source, lon, lat, cell, building_id, \
                         region_key, region_level, state, unit_level, unit_key, department_id, created_at, \
                         deadline_start, due_at, promised_at, grace_ms, warned, timer_at, accepted_at, reported_back_at, \
                         closed_at, closed_on_time, rating, rated_at, updated_at) ",
                    );
                    q.push_values(part, |mut b, (id, e, unit, d, state, warned, timer, on_time)| {
                        let (ul, uk, dept) = unit_columns(*unit);
                        let accepted = (*state != State::Pending).then_some(e.created_at + HOUR_MS / 2);
                        let updated = e.closed_at.unwrap_or(accepted.unwrap_or(e.created_at));
                        b.push_bind(*id)
                            .push_bind(e.category.clone())
                            .push_bind(e.description.clone())
                            .push_bind(e.source.as_str())
                            .push_bind(e.position.map(|p| p[0]))
                            .push_bind(e.position.map(|p| p[1]))
                            .push_bind(e.position.map(near_cell_of))
                            .push_bind(e.building_id)
                            .push_bind(e.region.key())
                            .push_bind(i64::from(e.region.level().number()))
                            .push_bind(state.as_str())
                            .push_bind(ul)
                            .push_bind(uk)
                            .push_bind(dept)
                            .push_bind(e.created_at)
                            .push_bind(d.start)
                            .push_bind(d.due)
                            .push_bind(d.due)
                            .push_bind(d.grace_ms)
                            .push_bind(warned.map(Stage::as_str))
                            .push_bind(*timer)
                            .push_bind(accepted)
                            .push_bind(e.closed_at.map(|c| c - 10 * 60_000))
                            .push_bind(e.closed_at)
                            .push_bind(*on_time)
                            .push_bind(e.rating.map(i64::from))
                            .push_bind(e.rating.and(e.closed_at).map(|c| c + HOUR_MS))
                            .push_bind(updated);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                // The flow log: report, and the steps each outcome implies.
                let mut steps: Vec<(i64, i64, &str, Option<&str>, &str)> = Vec::with_capacity(rows.len() * 5);
                for (id, e, _, _, state, _, _, _) in rows.iter().filter(|_| flows) {
                    steps.push((*id, e.created_at, "report", None, "pending"));
                    if *state != State::Pending {
                        steps.push((*id, e.created_at + HOUR_MS / 2, "accept", Some("pending"), "handling"));
                    }
                    if let Some(c) = e.closed_at {
                        steps.push((*id, c - 10 * 60_000, "report_back", Some("handling"), "verifying"));
                        steps.push((*id, c - 60_000, "verify", Some("verifying"), "verified"));
                        steps.push((*id, c, "close", Some("verified"), "closed"));
                        if e.rating.is_some() {
                            steps.push((*id, c + HOUR_MS, "rate", Some("closed"), "closed"));
                        }
                    }
                }
                for part in steps.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::<DB>::new(
                        "INSERT INTO event_flow (event_id, at, actor_name, action, from_state, to_state) ",
                    );
                    q.push_values(part, |mut b, (id, at, action, from, to)| {
                        b.push_bind(*id).push_bind(*at).push_bind("演示数据").push_bind(*action).push_bind(*from).push_bind(*to);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                upsert_stats!(tx, counts, hist);
                tx.commit().await?;
            });
            progress.advance(chunk.len() as u64);
        }
        // Ids were given explicitly: move PostgreSQL's identity past them; and give its
        // planner the statistics of what was just loaded rather than wait for autovacuum.
        if let crate::Db::Postgres(p) = &self.db {
            sqlx::query("SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT MAX(id) FROM events))")
                .execute(p)
                .await?;
            sqlx::query("ANALYZE events, event_flow, event_stats, event_handling_hist")
                .execute(p)
                .await?;
        }
        Ok(events.len())
    }

    /// How many generated events there are (the demo generates them once).
    pub async fn generated_events(&self) -> Result<i64> {
        Ok(on_read!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE source = 'generated'")
                .fetch_one(p)
                .await?
        }))
    }
}
