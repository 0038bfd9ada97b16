//! Reading events: one by id with its flow log, photos and summons; lists by area, state,
//! unit, reporter, ids and dates, paged; open reports near a point (possible duplicates);
//! notifications; the latest note of many events at once; a report's attributes.

use std::collections::HashMap;

use linli_core::events::{State, Unit, DUPLICATE_RADIUS_M, MAX_DUPLICATES_SHOWN};

use linli_core::geo::{haversine_m, near_cells_around, Position};
use linli_core::region::KeyRange;

use super::{unit_columns, Event, EventRow, EVENT_COLUMNS};
use crate::registry::Page;
use crate::{on_read, Result, Store, StoreError};

/// One row of an event's flow log.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FlowEntry {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Photo {
    pub id: i64,
    pub flow_id: Option<i64>,
    pub sha256: String,
    pub format: String,
    pub bytes: i64,
    pub width: i64,
    pub height: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Summons {
    pub department_id: i64,
    pub state: String,
    pub summoned_at: i64,
    pub due_at: i64,
    pub checked_in_at: Option<i64>,
}

/// A search for open reports near a point: category, point, since when, and which report
/// to leave out.
pub(crate) type NearAsk<'a> = (&'a str, Position, i64, Option<i64>);

/// An open report near another, with its distance in metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearby {
    pub id: i64,
    pub state: State,
    pub description: String,
    pub created_at: i64,
    pub meters: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub at: i64,
    pub event_id: i64,
    pub kind: String,
    pub read_at: Option<i64>,
}

/// Which events a list shows.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// The area (a key range of the region tree).
    pub range: Option<KeyRange>,
    pub states: Vec<State>,
    /// Category codes; any of them.
    pub categories: Vec<String>,
    /// Only these events.
    pub ids: Vec<i64>,
    /// Reported at or after, and at or before, these instants (ms).
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// Only the events in this unit's inbox.
    pub unit: Option<Unit>,
    pub reporter: Option<i64>,
    /// Only those overdue at this moment.
    pub overdue_at: Option<i64>,
}

/// Appends the filter's conditions to a query that already has a WHERE clause.
macro_rules! push_filter {
    ($q:expr, $f:expr) => {{
        let f: &EventFilter = $f;
        if let Some(r) = f.range {
            $q.push(" AND region_key >= ").push_bind(r.start);
            $q.push(" AND region_key < ").push_bind(r.end);
        }
        if !f.states.is_empty() {
            $q.push(" AND state IN (");
            let mut sep = $q.separated(", ");
            for s in &f.states {
                sep.push_bind(s.as_str());
            }
            $q.push(")");
        }
        if !f.categories.is_empty() {
            $q.push(" AND category_code IN (");
            let mut sep = $q.separated(", ");
            for c in &f.categories {
                sep.push_bind(c.clone());
            }
            $q.push(")");
        }
        if !f.ids.is_empty() {
            $q.push(" AND id IN (");
            let mut sep = $q.separated(", ");
            for id in &f.ids {
                sep.push_bind(*id);
            }
            $q.push(")");
        }
        if let Some(from) = f.created_from {
            $q.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(to) = f.created_to {
            $q.push(" AND created_at <= ").push_bind(to);
        }
        if let Some(u) = f.unit {
            let (level, key, dept) = unit_columns(u);
            $q.push(" AND unit_level = ").push_bind(level);
            $q.push(" AND unit_key = ").push_bind(key);
            match dept {
                Some(d) => {
                    $q.push(" AND department_id = ").push_bind(d);
                }
                None => {
                    $q.push(" AND department_id IS NULL");
                }
            }
        }
        if let Some(r) = f.reporter {
            $q.push(" AND reporter_id = ").push_bind(r);
        }
        if let Some(now) = f.overdue_at {
            $q.push(" AND state IN ('pending', 'handling') AND due_at < ")
                .push_bind(now);
        }
    }};
}

impl Store {
    pub async fn event(&self, id: i64) -> Result<Option<Event>> {
        let row: Option<EventRow> = on_read!(self, p => {
            sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        row.map(Event::try_from).transpose()
    }

    /// Events matching `filter`, newest first (overdue lists: most overdue first), with the
    /// number matching.
    pub async fn events(&self, filter: &EventFilter, page: Page) -> Result<(Vec<Event>, i64)> {
        let order = if filter.overdue_at.is_some() {
            " ORDER BY due_at, id"
        } else {
            " ORDER BY id DESC"
        };
        let (rows, total): (Vec<EventRow>, i64) = on_read!(self, p => {
            let mut q = sqlx::QueryBuilder::<DB>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
            push_filter!(q, filter);
            q.push(order);
            q.push(" LIMIT ").push_bind(page.limit);
            q.push(" OFFSET ").push_bind(page.offset);
            let rows = q.build_query_as().fetch_all(p).await?;
            let mut c = sqlx::QueryBuilder::<DB>::new("SELECT COUNT(*) FROM events WHERE 1 = 1");
            push_filter!(c, filter);
            let total: i64 = c.build_query_scalar().fetch_one(p).await?;
            (rows, total)
        });
        Ok((
            rows.into_iter()
                .map(Event::try_from)
                .collect::<Result<_>>()?,
            total,
        ))
    }

    pub async fn event_flow(&self, id: i64) -> Result<Vec<FlowEntry>> {
        Ok(on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, at, actor_id, actor_name, action, from_state, to_state, note, detail \
                 FROM event_flow WHERE event_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        }))
    }

    pub async fn event_photos(&self, id: i64) -> Result<Vec<Photo>> {
        Ok(on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, flow_id, sha256, format, bytes, width, height FROM event_photos \
                 WHERE event_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        }))
    }

    pub async fn event_summons(&self, id: i64) -> Result<Vec<Summons>> {
        Ok(on_read!(self, p => {
            sqlx::query_as(
                "SELECT department_id, state, summoned_at, due_at, checked_in_at FROM event_summons \
                 WHERE event_id = $1 ORDER BY summoned_at, department_id",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        }))
    }

    /// The reports merged into `id`.
    pub async fn merged_into(&self, id: i64) -> Result<Vec<i64>> {
        Ok(on_read!(self, p => {
            sqlx::query_scalar("SELECT id FROM events WHERE merged_into = $1 ORDER BY id")
                .bind(id)
                .fetch_all(p)
                .await?
        }))
    }

    /// The nearest ([`MAX_DUPLICATES_SHOWN`] at most) open reports of `category` within
    /// [`DUPLICATE_RADIUS_M`] of `p` made since `since`, nearest first, leaving out `except`.
    pub async fn nearby_open(
        &self,
        category: &str,
        p: Position,
        since: i64,
        except: Option<i64>,
    ) -> Result<Vec<Nearby>> {
        Ok(self
            .nearby_open_for(&[(category, p, since, except)])
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// [`Store::nearby_open`] for several asks (category, point, since, except) in one query:
    /// the reports of each category in the near cells around its points (about 250 × 270 m).
    pub(crate) async fn nearby_open_for(&self, asks: &[NearAsk<'_>]) -> Result<Vec<Vec<Nearby>>> {
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let mut cells_by_category: HashMap<&str, Vec<i64>> = HashMap::new();
        for (category, p, ..) in asks {
            cells_by_category
                .entry(category)
                .or_default()
                .extend(near_cells_around(*p));
        }
        type Row = (i64, String, String, String, i64, f64, f64);
        let rows: Vec<Row> = on_read!(self, pool => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT id, category_code, state, description, created_at, lon, lat FROM events WHERE (",
            );
            for (i, (category, cells)) in cells_by_category.iter_mut().enumerate() {
                cells.sort_unstable();
                cells.dedup();
                if i > 0 {
                    q.push(" OR ");
                }
                q.push("(category_code = ").push_bind(category.to_string());
                q.push(" AND cell IN (");
                let mut sep = q.separated(", ");
                for c in cells.iter() {
                    sep.push_bind(*c);
                }
                q.push("))");
            }
            // Only what the index (category, cell, …) alone answers: a condition on the
            // state or the time, or an ORDER BY with a LIMIT, let PostgreSQL's generic plan
            // walk the state or time index through every recent event instead. A block's
            // whole history is small (tens of reports a year); old and closed ones are left
            // out below.
            q.push(")");
            q.build_query_as().fetch_all(pool).await?
        });
        Ok(asks
            .iter()
            .map(|(category, p, since, except)| {
                let mut out: Vec<Nearby> = rows
                    .iter()
                    .filter(|r| r.1 == *category && r.4 >= *since && Some(r.0) != *except)
                    .filter_map(|(id, _, state, description, created_at, lon, lat)| {
                        let meters = haversine_m(*p, [*lon, *lat]);
                        let state = State::parse(state).filter(|s| s.is_open())?;
                        (meters <= DUPLICATE_RADIUS_M).then_some(Nearby {
                            id: *id,
                            state,
                            description: description.clone(),
                            created_at: *created_at,
                            meters,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.meters.total_cmp(&b.meters));
                out.truncate(MAX_DUPLICATES_SHOWN);
                out
            })
            .collect())
    }

    /// What the state machine knows of an event, as [`Store::act_on_event`] would read it:
    /// for pages that offer only the actions the caller may take now (try each with
    /// `linli_core::events::flow::apply`). `None` if there is no such event.
    pub async fn event_facts(&self, id: i64) -> Result<Option<linli_core::events::Facts>> {
        let Some(event) = self.event(id).await? else {
            return Ok(None);
        };
        let summons: Vec<(i64, linli_core::events::flow::SummonsState)> = self
            .event_summons(id)
            .await?
            .into_iter()
            .filter_map(|s| {
                linli_core::events::flow::SummonsState::parse(&s.state)
                    .map(|st| (s.department_id, st))
            })
            .collect();
        let community = linli_core::events::unit::ancestor_at(
            event.region,
            linli_core::region::Level::Community,
        );
        let (may_close, department) = on_read!(self, p => {
            let mut c = p.acquire().await?;
            let (chain, cat) = super::catalog::category_chain!(c, &event.category);
            let (grid_default, department) = cat.map_or((false, None), |(_, _, _, d, g, _)| (g, d));
            let may = super::catalog::grid_may_close!(c, community.key(), &chain, grid_default);
            (may, department)
        });
        Ok(Some(event.facts(summons, may_close, department)))
    }

    /// Open and overdue events in `range` at `now`: one pass over the open states of the
    /// `(state, region_key)` index; closed events are never read.
    pub async fn event_counts(&self, range: KeyRange, now: i64) -> Result<(i64, i64)> {
        let (open, overdue): (i64, i64) = on_read!(self, p => {
            sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state IN ('pending', 'handling') AND due_at < $3 \
                 THEN 1 ELSE 0 END), 0) FROM events \
                 WHERE state IN ('pending', 'handling', 'verifying', 'verified') \
                 AND region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(now)
            .fetch_one(p)
            .await?
        });
        Ok((open, overdue))
    }

    /// A person's own notifications, newest first.
    pub async fn user_notifications(&self, user_id: i64, limit: i64) -> Result<Vec<Notification>> {
        Ok(on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, at, event_id, kind, read_at FROM notifications WHERE user_id = $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(user_id)
            .bind(limit)
            .fetch_all(p)
            .await?
        }))
    }

    /// A unit's notifications (reminders, new work), newest first.
    pub async fn unit_notifications(&self, unit: Unit, limit: i64) -> Result<Vec<Notification>> {
        let (level, key, dept) = unit_columns(unit);
        Ok(on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, at, event_id, kind, read_at FROM notifications \
                 WHERE unit_level = $1 AND unit_key = $2 AND department_id IS NOT DISTINCT FROM $3 AND user_id IS NULL \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(level)
            .bind(key)
            .bind(dept)
            .bind(limit)
            .fetch_all(p)
            .await?
        }))
    }

    /// The latest note in the flow log of each of `ids` that has one: one query for a whole
    /// page of requests rather than one per request.
    pub async fn latest_notes(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String)> = on_read!(self, p => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT event_id, note FROM event_flow WHERE note IS NOT NULL AND event_id IN (",
            );
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            q.push(") ORDER BY event_id, id");
            q.build_query_as().fetch_all(p).await?
        });
        // Ordered by flow id within each event, so the last one written wins.
        Ok(rows.into_iter().collect())
    }

    /// The attributes an event came with, if any.
    pub async fn event_attributes(&self, id: i64) -> Result<Option<serde_json::Value>> {
        let text: Option<Option<String>> = on_read!(self, p => {
            sqlx::query_scalar("SELECT attributes FROM events WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        text.flatten()
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("event {id}: attributes: {e}")))
            })
            .transpose()
    }
}
