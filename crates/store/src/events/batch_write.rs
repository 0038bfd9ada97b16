//! Writing a batch of located and routed reports: the events with their ids, the flow log,
//! photos, figures and inbox notifications.
//!
//! On PostgreSQL one statement writes it all: every table's rows go as arrays, and a chain
//! of data-modifying `WITH` queries takes the ids and inserts them. A batch then costs one
//! round trip and one commit however many reports it holds. The chain lives in the function
//! `linli_file_reports` (migration 0010, which says why: its plan is kept); a change to what
//! a batch writes is a new migration replacing that function, and the binds below in the
//! same order. On SQLite, where a statement costs no round trip, one transaction of
//! multi-row INSERTs.

use std::collections::HashMap;

use linli_core::events::kpi::china_day;
use linli_core::events::State;
use serde_json::json;

use super::create::{Reporter, Routed};
use super::stats::{write_deltas, Delta};
use super::unit_columns;
use super::write::{closure_deltas, unit_detail, PhotoRef};
use crate::{Db, Result, Store, StoreError};

/// A flow-log row of a new report: its filing, and its closing for one closed on the spot.
struct FlowRow {
    /// The report's place in the batch.
    report: usize,
    action: &'static str,
    from: Option<&'static str>,
    to: &'static str,
    note: Option<String>,
    detail: Option<String>,
    at: i64,
    actor_id: Option<i64>,
    actor_name: String,
}

/// Everything a batch writes besides the events themselves.
struct Rows<'a> {
    /// Every filing first, then the closings on the spot, so that within an event the
    /// filing comes first.
    flows: Vec<FlowRow>,
    /// (report, photo, at): the photos sent with the report, on its filing's flow row.
    photos: Vec<(usize, &'a PhotoRef, i64)>,
    deltas: Vec<Delta>,
    /// The reports that go into an inbox (all but those closed on the spot).
    inboxes: Vec<usize>,
}

fn rows<'a>(batch: &[Routed<'a>]) -> Rows<'a> {
    let mut flows = Vec::with_capacity(batch.len());
    for (i, r) in batch.iter().enumerate() {
        let by = r.report.reporter.by();
        let detail = json!({"unit": unit_detail(r.event.unit), "source": r.event.source.as_str()});
        flows.push(FlowRow {
            report: i,
            action: "report",
            from: None,
            to: State::Pending.as_str(),
            note: None,
            detail: Some(detail.to_string()),
            at: r.report.now,
            actor_id: by.id(),
            actor_name: by.name(),
        });
    }
    for (i, r) in batch.iter().enumerate().filter(|(_, r)| r.closing) {
        let by = r.report.reporter.by();
        flows.push(FlowRow {
            report: i,
            action: "close_on_spot",
            from: Some(State::Pending.as_str()),
            to: State::Closed.as_str(),
            note: r.report.note.clone(),
            detail: None,
            at: r.report.now,
            actor_id: by.id(),
            actor_name: by.name(),
        });
    }
    let photos = batch
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.report.photos.iter().map(move |ph| (i, ph, r.report.now)))
        .collect();
    let mut deltas = Vec::with_capacity(batch.len());
    for r in batch {
        deltas.push(Delta {
            region: Some(r.event.region),
            department: r.event.unit.department(),
            category: r.event.category.clone(),
            day: china_day(r.event.created_at),
            received: 1,
            ..Default::default()
        });
        if r.closing {
            deltas.extend(closure_deltas(&r.event));
        }
    }
    let inboxes = (0..batch.len()).filter(|i| !batch[*i].closing).collect();
    Rows {
        flows,
        photos,
        deltas,
        inboxes,
    }
}

/// The Open311 key a report came with.
fn api_key_of(r: &Routed<'_>) -> Option<i64> {
    match r.report.reporter {
        Reporter::ApiKey { id, .. } => Some(id),
        _ => None,
    }
}

/// A batch's position as the 1-based ordinal the PostgreSQL statement joins on.
fn ordinal(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1)
}

/// The PostgreSQL statement: the function of migration 0010, which holds the `WITH` chain.
const PG_WRITE: &str = "SELECT * FROM linli_file_reports($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
    $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, \
    $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, \
    $51, $52, $53, $54, $55, $56, $57, $58, $59, $60, $61, $62, $63, $64, $65)";

/// Binds one column of a batch as an array.
fn column<T, F: Fn(&Routed<'_>) -> T>(batch: &[Routed<'_>], f: F) -> Vec<T> {
    batch.iter().map(f).collect()
}

impl Store {
    /// Writes a batch of routed reports at once (see the module documentation); the new
    /// events' ids in batch order. Nothing of it is written if any of it fails.
    pub(super) async fn write_reports(&self, batch: &[Routed<'_>]) -> Result<Vec<i64>> {
        let ids = match &self.db {
            Db::Postgres(pool) => write_on_postgres(pool, batch).await?,
            Db::Sqlite { write, .. } => write_on_sqlite(write, batch).await?,
        };
        if ids.len() != batch.len() {
            return Err(StoreError::Corrupt(format!(
                "asked for {} event ids, got {}",
                batch.len(),
                ids.len()
            )));
        }
        Ok(ids)
    }
}

async fn write_on_postgres(pool: &sqlx::PgPool, batch: &[Routed<'_>]) -> Result<Vec<i64>> {
    let rows = rows(batch);
    let units: Vec<(i64, i64, Option<i64>)> = column(batch, |r| unit_columns(r.event.unit));
    let inbox_units: Vec<(i64, i64, Option<i64>)> =
        rows.inboxes.iter().map(|i| units[*i]).collect();
    let d = &rows.deltas;
    let ids: Vec<i64> = sqlx::query_scalar(PG_WRITE)
        .bind(i64::try_from(batch.len()).unwrap_or(i64::MAX))
        .bind(column(batch, |r| r.event.category.clone()))
        .bind(column(batch, |r| r.event.description.clone()))
        .bind(column(batch, |r| r.event.source.as_str().to_string()))
        .bind(column(batch, |r| r.event.lon))
        .bind(column(batch, |r| r.event.lat))
        .bind(column(batch, |r| r.cell))
        .bind(column(batch, |r| r.event.address.clone()))
        .bind(column(batch, |r| r.event.building_id))
        .bind(column(batch, |r| r.event.region.key()))
        .bind(column(batch, |r| {
            i64::from(r.event.region.level().number())
        }))
        .bind(column(batch, |r| r.event.state.as_str().to_string()))
        .bind(units.iter().map(|u| u.0).collect::<Vec<_>>())
        .bind(units.iter().map(|u| u.1).collect::<Vec<_>>())
        .bind(units.iter().map(|u| u.2).collect::<Vec<_>>())
        .bind(column(batch, |r| r.event.reporter_id))
        .bind(column(batch, |r| r.event.contact_name.clone()))
        .bind(column(batch, |r| r.event.contact_phone_masked.clone()))
        .bind(column(batch, |r| {
            r.report.phone.as_ref().map(|p| p.0.clone())
        }))
        .bind(column(batch, api_key_of))
        .bind(column(batch, |r| r.event.created_at))
        .bind(column(batch, |r| r.event.deadline_start))
        .bind(column(batch, |r| r.event.due_at))
        .bind(column(batch, |r| r.event.promised_at))
        .bind(column(batch, |r| r.event.grace_ms))
        .bind(column(batch, |r| r.event.timer_at))
        .bind(column(batch, |r| r.event.closed_at))
        .bind(column(batch, |r| r.event.closed_on_time))
        .bind(column(batch, |r| r.event.updated_at))
        .bind(column(batch, |r| {
            r.report.attributes.as_ref().map(|a| a.to_string())
        }))
        .bind(
            rows.flows
                .iter()
                .map(|f| ordinal(f.report))
                .collect::<Vec<_>>(),
        )
        .bind(rows.flows.iter().map(|f| f.at).collect::<Vec<_>>())
        .bind(rows.flows.iter().map(|f| f.actor_id).collect::<Vec<_>>())
        .bind(
            rows.flows
                .iter()
                .map(|f| f.actor_name.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.flows
                .iter()
                .map(|f| f.action.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.flows
                .iter()
                .map(|f| f.from.map(str::to_string))
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.flows
                .iter()
                .map(|f| f.to.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.flows
                .iter()
                .map(|f| f.note.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.flows
                .iter()
                .map(|f| f.detail.clone())
                .collect::<Vec<_>>(),
        )
        .bind(rows.photos.iter().map(|p| ordinal(p.0)).collect::<Vec<_>>())
        .bind(
            rows.photos
                .iter()
                .map(|p| p.1.sha256.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.photos
                .iter()
                .map(|p| p.1.format.clone())
                .collect::<Vec<_>>(),
        )
        .bind(rows.photos.iter().map(|p| p.1.bytes).collect::<Vec<_>>())
        .bind(rows.photos.iter().map(|p| p.1.width).collect::<Vec<_>>())
        .bind(rows.photos.iter().map(|p| p.1.height).collect::<Vec<_>>())
        .bind(rows.photos.iter().map(|p| p.2).collect::<Vec<_>>())
        .bind(
            d.iter()
                .map(|d| d.region.map(|r| r.key()))
                .collect::<Vec<_>>(),
        )
        .bind(
            d.iter()
                .map(|d| d.region.map(|r| i64::from(r.level().number())))
                .collect::<Vec<_>>(),
        )
        .bind(d.iter().map(|d| d.department).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.category.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.day).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.received).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.dropped).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.closed).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.closed_on_time).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.resolved).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.rated).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.satisfied).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.handling_ms).collect::<Vec<_>>())
        .bind(d.iter().map(|d| d.bucket).collect::<Vec<_>>())
        .bind(rows.inboxes.iter().map(|i| ordinal(*i)).collect::<Vec<_>>())
        .bind(
            rows.inboxes
                .iter()
                .map(|i| batch[*i].report.now)
                .collect::<Vec<_>>(),
        )
        .bind(inbox_units.iter().map(|u| u.0).collect::<Vec<_>>())
        .bind(inbox_units.iter().map(|u| u.1).collect::<Vec<_>>())
        .bind(inbox_units.iter().map(|u| u.2).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(ids)
}

async fn write_on_sqlite(pool: &sqlx::SqlitePool, batch: &[Routed<'_>]) -> Result<Vec<i64>> {
    type DB = sqlx::Sqlite;
    let rows = rows(batch);
    let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    let mut tx = pool.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
    let ids: Vec<i64> = sqlx::query_scalar(<DB as crate::BeginWrite>::NEW_EVENT_IDS)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
    if ids.len() != batch.len() {
        return Ok(ids);
    }

    let mut q = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO events (id, category_code, description, source, lon, lat, cell, address, building_id, \
         region_key, region_level, state, unit_level, unit_key, department_id, reporter_id, contact_name, \
         contact_phone_masked, contact_phone_cipher, open311_key_id, created_at, deadline_start, due_at, \
         promised_at, grace_ms, timer_at, closed_at, closed_on_time, updated_at, attributes) ",
    );
    q.push_values(batch.iter().zip(&ids), |mut b, (r, id)| {
        let e = &r.event;
        let (unit_level, unit_key, dept) = unit_columns(e.unit);
        b.push_bind(*id)
            .push_bind(e.category.clone())
            .push_bind(e.description.clone())
            .push_bind(e.source.as_str())
            .push_bind(e.lon)
            .push_bind(e.lat)
            .push_bind(r.cell)
            .push_bind(e.address.clone())
            .push_bind(e.building_id)
            .push_bind(e.region.key())
            .push_bind(i64::from(e.region.level().number()))
            .push_bind(e.state.as_str())
            .push_bind(unit_level)
            .push_bind(unit_key)
            .push_bind(dept)
            .push_bind(e.reporter_id)
            .push_bind(e.contact_name.clone())
            .push_bind(e.contact_phone_masked.clone())
            .push_bind(r.report.phone.as_ref().map(|p| p.0.clone()))
            .push_bind(api_key_of(r))
            .push_bind(e.created_at)
            .push_bind(e.deadline_start)
            .push_bind(e.due_at)
            .push_bind(e.promised_at)
            .push_bind(e.grace_ms)
            .push_bind(e.timer_at)
            .push_bind(e.closed_at)
            .push_bind(e.closed_on_time)
            .push_bind(e.updated_at)
            .push_bind(r.report.attributes.as_ref().map(|a| a.to_string()));
    });
    q.build().execute(&mut *tx).await?;

    let mut q = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO event_flow (event_id, at, actor_id, actor_name, action, from_state, to_state, note, detail) ",
    );
    q.push_values(&rows.flows, |mut b, f| {
        b.push_bind(ids[f.report])
            .push_bind(f.at)
            .push_bind(f.actor_id)
            .push_bind(f.actor_name.clone())
            .push_bind(f.action)
            .push_bind(f.from)
            .push_bind(f.to)
            .push_bind(f.note.clone())
            .push_bind(f.detail.clone());
    });
    q.push(" RETURNING id, event_id, action");
    let flow_ids: Vec<(i64, i64, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
    let filing: HashMap<i64, i64> = flow_ids
        .into_iter()
        .filter(|(_, _, action)| action == "report")
        .map(|(flow, event, _)| (event, flow))
        .collect();

    if !rows.photos.is_empty() {
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO event_photos (event_id, flow_id, sha256, format, bytes, width, height, created_at) ",
        );
        q.push_values(&rows.photos, |mut b, (i, ph, at)| {
            let event = ids[*i];
            b.push_bind(event)
                .push_bind(filing.get(&event).copied())
                .push_bind(ph.sha256.clone())
                .push_bind(ph.format.clone())
                .push_bind(ph.bytes)
                .push_bind(ph.width)
                .push_bind(ph.height)
                .push_bind(*at);
        });
        q.build().execute(&mut *tx).await?;
    }

    write_deltas!(tx, &rows.deltas);

    if !rows.inboxes.is_empty() {
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO notifications (at, unit_level, unit_key, department_id, event_id, kind) ",
        );
        q.push_values(&rows.inboxes, |mut b, i| {
            let r = &batch[*i];
            let (level, key, dept) = unit_columns(r.event.unit);
            b.push_bind(r.report.now)
                .push_bind(level)
                .push_bind(key)
                .push_bind(dept)
                .push_bind(ids[*i])
                .push_bind("new");
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}
