//! Events (事件, 工单) in the database: the catalog (departments, categories, admission
//! lists), locating a report, creating and routing it, applying actions through the core
//! state machine, the deadline scheduler, and the reads behind inboxes and timelines.
//!
//! Every change to an event is one transaction: the event row (guarded by its version, so
//! two writers never both win), its flow-log row, photos, summons and notifications.

mod batch_write;
mod catalog;
mod create;
mod generate;
mod locate;
mod read;
pub(crate) mod stats;
mod timers;
mod write;

pub use catalog::CatalogImport;
pub use catalog::{Catalog, CatalogCache, Category, Department};
pub(crate) use create::ReportQueue;
pub use generate::GenEvent;
pub use locate::ShapeCache;
pub use read::{EventFilter, FlowEntry, Nearby, Notification, Photo, Summons};
pub use stats::{KpiRow, KpiScope};
pub use timers::Fired;
pub use write::{ActionInput, By, Created, NewEvent, PhotoRef, Source, DEFAULT_CHECK_IN_MINUTES};

use linli_core::events::flow::{Facts, SummonsState};
use linli_core::events::{Stage, State, Unit};
use linli_core::region::{Level, RegionCode};

use crate::{Result, StoreError};

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub category: String,
    pub description: String,
    pub source: Source,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub building_id: Option<i64>,
    pub region: RegionCode,
    pub state: State,
    pub unit: Unit,
    pub reporter_id: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_phone_masked: Option<String>,
    pub created_at: i64,
    pub deadline_start: i64,
    pub due_at: i64,
    /// The time promised at the report (承诺办结时间), which closing on time is measured
    /// against: moved by approved extensions and reopenings, not by escalations
    /// ([`DeadlineChange::promised`](linli_core::events::flow::DeadlineChange::promised)).
    pub promised_at: i64,
    pub grace_ms: i64,
    pub warned: Option<Stage>,
    pub timer_at: Option<i64>,
    pub extension_minutes: Option<i64>,
    pub escalations: i64,
    pub reopened: i64,
    pub accepted_at: Option<i64>,
    pub reported_back_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_on_time: Option<bool>,
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<i64>,
    pub merged_into: Option<i64>,
    pub version: i64,
    pub updated_at: i64,
}

/// The columns of [`EventRow`], in its order.
pub(crate) const EVENT_COLUMNS: &str = "id, category_code, description, source, lon, lat, address, \
    building_id, region_key, region_level, state, unit_level, unit_key, department_id, reporter_id, \
    contact_name, contact_phone_masked, created_at, deadline_start, due_at, promised_at, grace_ms, \
    warned, timer_at, extension_minutes, escalations, reopened, accepted_at, reported_back_at, closed_at, \
    closed_on_time, rating, rating_comment, rated_at, merged_into, version, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    category_code: String,
    description: String,
    source: String,
    lon: Option<f64>,
    lat: Option<f64>,
    address: Option<String>,
    building_id: Option<i64>,
    region_key: i64,
    region_level: i64,
    state: String,
    unit_level: i64,
    unit_key: i64,
    department_id: Option<i64>,
    reporter_id: Option<i64>,
    contact_name: Option<String>,
    contact_phone_masked: Option<String>,
    created_at: i64,
    deadline_start: i64,
    due_at: i64,
    promised_at: i64,
    grace_ms: i64,
    warned: Option<String>,
    timer_at: Option<i64>,
    extension_minutes: Option<i64>,
    escalations: i64,
    reopened: i64,
    accepted_at: Option<i64>,
    reported_back_at: Option<i64>,
    closed_at: Option<i64>,
    closed_on_time: Option<bool>,
    rating: Option<i64>,
    rating_comment: Option<String>,
    rated_at: Option<i64>,
    merged_into: Option<i64>,
    version: i64,
    updated_at: i64,
}

fn corrupt(id: i64, what: &str) -> StoreError {
    StoreError::Corrupt(format!("event {id}: {what}"))
}

fn level(n: i64) -> Option<Level> {
    i16::try_from(n).ok().and_then(Level::from_number)
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Event> {
        let id = r.id;
        let region = level(r.region_level)
            .and_then(|l| RegionCode::from_key(r.region_key, l))
            .ok_or_else(|| corrupt(id, "region"))?;
        let unit = match (level(r.unit_level), r.department_id) {
            (Some(Level::District), Some(d)) => Unit::Department(d),
            (Some(l), None) => Unit::Region(
                RegionCode::from_key(r.unit_key, l).ok_or_else(|| corrupt(id, "unit"))?,
            ),
            _ => return Err(corrupt(id, "unit")),
        };
        Ok(Event {
            id,
            category: r.category_code,
            description: r.description,
            source: Source::parse(&r.source).ok_or_else(|| corrupt(id, "source"))?,
            lon: r.lon,
            lat: r.lat,
            address: r.address,
            building_id: r.building_id,
            region,
            state: State::parse(&r.state).ok_or_else(|| corrupt(id, "state"))?,
            unit,
            reporter_id: r.reporter_id,
            contact_name: r.contact_name,
            contact_phone_masked: r.contact_phone_masked,
            created_at: r.created_at,
            deadline_start: r.deadline_start,
            due_at: r.due_at,
            promised_at: r.promised_at,
            grace_ms: r.grace_ms,
            warned: match r.warned.as_deref() {
                None => None,
                Some(s) => Some(Stage::parse(s).ok_or_else(|| corrupt(id, "warned"))?),
            },
            timer_at: r.timer_at,
            extension_minutes: r.extension_minutes,
            escalations: r.escalations,
            reopened: r.reopened,
            accepted_at: r.accepted_at,
            reported_back_at: r.reported_back_at,
            closed_at: r.closed_at,
            closed_on_time: r.closed_on_time,
            rating: r.rating,
            rating_comment: r.rating_comment,
            rated_at: r.rated_at,
            merged_into: r.merged_into,
            version: r.version,
            updated_at: r.updated_at,
        })
    }
}

impl Event {
    /// What the state machine needs, given what only the catalog and summons rows know.
    pub(crate) fn facts(
        &self,
        summons: Vec<(i64, SummonsState)>,
        grid_may_close: bool,
        escalation_department: Option<i64>,
    ) -> Facts {
        Facts {
            state: self.state,
            region: self.region,
            unit: self.unit,
            reporter: self.reporter_id,
            extension_pending: self.extension_minutes,
            closed_at: self.closed_at,
            rated: self.rating.is_some(),
            summons,
            grid_may_close,
            escalation_department,
        }
    }

    pub fn reference(&self) -> String {
        linli_core::events::reference(self.id)
    }

    /// Overdue at `now`: still the handler's to do, and past its due time.
    pub fn overdue(&self, now: i64) -> bool {
        self.state.deadline_runs() && now > self.due_at
    }
}

/// The unit's three stored columns: level, region key (0 for a department), department.
pub(crate) fn unit_columns(unit: Unit) -> (i64, i64, Option<i64>) {
    match unit {
        Unit::Region(c) => (i64::from(c.level().number()), c.key(), None),
        Unit::Department(d) => (i64::from(Level::District.number()), 0, Some(d)),
    }
}
