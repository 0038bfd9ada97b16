//! Creating events and acting on them. Each is one transaction: the event row (an action's
//! update is guarded by the row's version, so two writers never both win and the loser
//! retries on fresh facts), a flow-log row, photos, summons and notifications.

use linli_core::events::deadline::{Deadline, Stage};
use linli_core::events::flow::{
    apply, Action, Actor as FlowActor, DeadlineChange, Refusal, SummonsState,
};
use linli_core::events::{HandlingLevel, State, Unit, MAX_PHOTOS};
use linli_core::geo::Position;
use linli_core::region::{Level, RegionCode};
use linli_core::Problem;
use serde_json::{json, Value};

use super::catalog::{category_chain, grid_may_close};
use super::stats::{write_deltas, Delta};
use super::{unit_columns, Event, EventRow, Nearby, EVENT_COLUMNS};
use crate::accounts::User;
use crate::{now_ms, on_write, Result, Store, StoreError};
use linli_core::events::kpi::{bucket, china_day};

/// Where a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A resident, from the phone pages.
    Resident,
    /// A grid worker's patrol (巡查).
    Patrol,
    /// The 12345 hotline, typed in by staff.
    Hotline,
    /// An elderly-care sensor alarm.
    Sensor,
    /// An Open311 client with an API key.
    Open311,
    /// Made by the demo or a benchmark.
    Generated,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Resident,
        Source::Patrol,
        Source::Hotline,
        Source::Sensor,
        Source::Open311,
        Source::Generated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Resident => "resident",
            Source::Patrol => "patrol",
            Source::Hotline => "hotline",
            Source::Sensor => "sensor",
            Source::Open311 => "open311",
            Source::Generated => "generated",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Self::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    pub fn label_key(self) -> String {
        format!("events.source.{}", self.as_str())
    }
}

/// Who acts on an event: an account, an Open311 client, or the scheduler.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    User(&'a User),
    /// An Open311 client, by its API key's id and name.
    ApiKey {
        id: i64,
        name: &'a str,
    },
    /// The deadline scheduler.
    System,
}

impl By<'_> {
    pub(super) fn flow_actor(&self) -> FlowActor {
        match self {
            By::User(u) => FlowActor::User {
                id: u.id,
                role: u.role,
                scope: u.scope,
                department: u.department,
            },
            By::ApiKey { .. } | By::System => FlowActor::System,
        }
    }

    pub(super) fn id(&self) -> Option<i64> {
        match self {
            By::User(u) => Some(u.id),
            _ => None,
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            By::User(u) => u.display_name.clone(),
            By::ApiKey { name, .. } => format!("Open311: {name}"),
            By::System => "system".to_string(),
        }
    }
}

/// A photo already checked, cleaned and stored (see the `linli-photo` crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoRef {
    pub sha256: String,
    pub format: String,
    pub bytes: i64,
    pub width: i64,
    pub height: i64,
}

/// A new report.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub category: String,
    pub description: String,
    pub source: Option<Source>,
    /// Picked on the map (WGS-84 longitude, latitude).
    pub position: Option<Position>,
    /// Or taken from a registered building.
    pub building_id: Option<i64>,
    /// Or, for staff only (a hotline call), named directly.
    pub region: Option<RegionCode>,
    pub address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub photos: Vec<PhotoRef>,
    /// A grid worker closes it at once (小事不出网格), with this note.
    pub close_on_spot: bool,
    pub note: Option<String>,
    /// Answers to the category's questions (Open311 service attributes), checked by the
    /// caller, kept as JSON with the event.
    pub attributes: Option<serde_json::Value>,
}

/// A created event and the open reports of the same category near it.
#[derive(Debug, Clone)]
pub struct Created {
    pub event: Event,
    pub duplicates: Vec<Nearby>,
}

/// What comes with an action besides the action itself.
#[derive(Debug, Clone, Default)]
pub struct ActionInput {
    pub note: Option<String>,
    /// A rating's comment.
    pub comment: Option<String>,
    pub photos: Vec<PhotoRef>,
    /// For a whistle: minutes the summoned departments have to check in.
    pub check_in_minutes: Option<i64>,
}

/// How long a summoned department has to check in when the whistle names no time.
pub const DEFAULT_CHECK_IN_MINUTES: i64 = 120;
/// The longest description or note.
pub const MAX_TEXT: usize = 2000;

pub(super) fn invalid(code: &'static str, key: &'static str, field: &'static str) -> StoreError {
    StoreError::Invalid(Problem::new(code, key).field(field))
}

/// Trims and checks a free text: length and no control characters but line breaks.
pub(super) fn clean_text(
    v: Option<&str>,
    field: &'static str,
    required: bool,
) -> Result<Option<String>> {
    let t = v.map(str::trim).unwrap_or("");
    if t.is_empty() {
        return if required {
            Err(invalid("required", "registry.required", field))
        } else {
            Ok(None)
        };
    }
    if t.chars().count() > MAX_TEXT {
        return Err(StoreError::Invalid(
            Problem::new("too_long", "registry.too_long")
                .arg("max", MAX_TEXT)
                .field(field),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid(
            "control_characters",
            "registry.control_characters",
            field,
        ));
    }
    Ok(Some(t.to_string()))
}

pub(super) fn check_photos(photos: &[PhotoRef]) -> Result<()> {
    if photos.len() > MAX_PHOTOS {
        return Err(StoreError::Invalid(
            Problem::new("too_many_photos", "events.too_many_photos")
                .arg("max", MAX_PHOTOS)
                .field("photos"),
        ));
    }
    Ok(())
}

fn refused(r: Refusal) -> StoreError {
    StoreError::Refused(r)
}

/// The region that supervises `unit`, for notifications to "the level above".
fn supervisor_of(unit: Unit, region: RegionCode) -> (i64, i64) {
    let above = match unit {
        Unit::Region(u) => match u.level() {
            Level::Grid | Level::MicroGrid => {
                linli_core::events::unit::ancestor_at(u, Level::Community)
            }
            _ => u.parent().unwrap_or(u),
        },
        Unit::Department(_) => linli_core::events::unit::ancestor_at(region, Level::District),
    };
    (i64::from(above.level().number()), above.key())
}

/// Writes the flow-log row for a transition and returns its id.
macro_rules! write_flow {
    ($tx:expr, $event:expr, $at:expr, $by:expr, $action:expr, $from:expr, $to:expr, $note:expr, $detail:expr) => {{
        let detail: Option<Value> = $detail;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO event_flow (event_id, at, actor_id, actor_name, action, from_state, to_state, note, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind($event)
        .bind($at)
        .bind($by.id())
        .bind($by.name())
        .bind($action)
        .bind($from)
        .bind($to)
        .bind($note)
        .bind(detail.map(|d| d.to_string()))
        .fetch_one(&mut *$tx)
        .await?;
        id
    }};
}

macro_rules! write_photos {
    ($tx:expr, $event:expr, $flow:expr, $photos:expr, $at:expr) => {{
        for ph in $photos {
            sqlx::query(
                "INSERT INTO event_photos (event_id, flow_id, sha256, format, bytes, width, height, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind($event)
            .bind($flow)
            .bind(&ph.sha256)
            .bind(&ph.format)
            .bind(ph.bytes)
            .bind(ph.width)
            .bind(ph.height)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// A notification for a unit's inbox (`unit` as stored: level, key, department).
macro_rules! notify_unit {
    ($tx:expr, $cols:expr, $event:expr, $kind:expr, $at:expr) => {{
        let (level, key, dept): (i64, i64, Option<i64>) = $cols;
        sqlx::query(
            "INSERT INTO notifications (at, unit_level, unit_key, department_id, event_id, kind) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($at)
        .bind(level)
        .bind(key)
        .bind(dept)
        .bind($event)
        .bind($kind)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// An update for everyone who reported the event or a report merged into it.
macro_rules! notify_reporters {
    ($tx:expr, $event:expr, $kind:expr, $at:expr) => {{
        sqlx::query(
            // Two arms, each on its own index: as one OR, PostgreSQL scanned the table.
            "INSERT INTO notifications (at, user_id, event_id, kind) \
             SELECT $1, reporter_id, $2, $3 FROM events WHERE id = $2 AND reporter_id IS NOT NULL \
             UNION ALL \
             SELECT $1, reporter_id, $2, $3 FROM events WHERE merged_into = $2 AND reporter_id IS NOT NULL",
        )
        .bind($at)
        .bind($event)
        .bind($kind)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Saves the mutable columns of `$ev` if its version is still `$ev.version`; the number of
/// rows changed (0: someone else changed it first).
macro_rules! save_event {
    ($tx:expr, $ev:expr) => {{
        let ev: &Event = $ev;
        let (unit_level, unit_key, dept) = unit_columns(ev.unit);
        sqlx::query(
            "UPDATE events SET state = $3, unit_level = $4, unit_key = $5, department_id = $6, \
             deadline_start = $7, due_at = $8, grace_ms = $9, warned = $10, timer_at = $11, \
             extension_minutes = $12, escalations = $13, reopened = $14, accepted_at = $15, \
             reported_back_at = $16, closed_at = $17, closed_on_time = $18, rating = $19, \
             rating_comment = $20, rated_at = $21, merged_into = $22, updated_at = $23, \
             promised_at = $24, \
             version = version + 1 \
             WHERE id = $1 AND version = $2",
        )
        .bind(ev.id)
        .bind(ev.version)
        .bind(ev.state.as_str())
        .bind(unit_level)
        .bind(unit_key)
        .bind(dept)
        .bind(ev.deadline_start)
        .bind(ev.due_at)
        .bind(ev.grace_ms)
        .bind(ev.warned.map(Stage::as_str))
        .bind(ev.timer_at)
        .bind(ev.extension_minutes)
        .bind(ev.escalations)
        .bind(ev.reopened)
        .bind(ev.accepted_at)
        .bind(ev.reported_back_at)
        .bind(ev.closed_at)
        .bind(ev.closed_on_time)
        .bind(ev.rating)
        .bind(ev.rating_comment.as_deref())
        .bind(ev.rated_at)
        .bind(ev.merged_into)
        .bind(ev.updated_at)
        .bind(ev.promised_at)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    }};
}

/// The deadline after a step, as the event's columns: start, due, warned and the next timer.
fn next_deadline(ev: &mut Event, change: DeadlineChange, now: i64, allowed_ms: i64, grace_ms: i64) {
    let current = Deadline {
        start: ev.deadline_start,
        due: ev.due_at,
        grace_ms: ev.grace_ms,
    };
    let set_timer = |ev: &mut Event, d: Deadline, warned: Option<Stage>| {
        ev.deadline_start = d.start;
        ev.due_at = d.due;
        ev.grace_ms = d.grace_ms;
        ev.warned = warned;
        ev.timer_at = d.next(warned).map(|(_, at)| at);
    };
    match change {
        DeadlineChange::Keep => {}
        DeadlineChange::Restart => set_timer(ev, Deadline::new(now, allowed_ms, grace_ms), None),
        DeadlineChange::Extend(minutes) => {
            let d = current.extend(minutes.saturating_mul(60_000));
            // Stages already behind the new due time stay fired; any moved later fire again.
            set_timer(ev, d, d.passed(now).min(ev.warned));
        }
        DeadlineChange::Stop => ev.timer_at = None,
        DeadlineChange::Resume => set_timer(ev, current, ev.warned),
    }
}

/// What a closure adds to the figures: closed (on the day closed, with its handling time)
/// and resolved (on the day received).
pub(super) fn closure_deltas(ev: &Event) -> Vec<Delta> {
    let Some(closed_at) = ev.closed_at else {
        return Vec::new();
    };
    let handling = (closed_at - ev.created_at).max(0);
    vec![
        Delta {
            region: Some(ev.region),
            department: ev.unit.department(),
            category: ev.category.clone(),
            day: china_day(closed_at),
            closed: 1,
            closed_on_time: i64::from(ev.closed_on_time == Some(true)),
            handling_ms: handling,
            bucket: Some(bucket(handling) as i64),
            ..Default::default()
        },
        Delta {
            region: Some(ev.region),
            category: ev.category.clone(),
            day: china_day(ev.created_at),
            resolved: 1,
            ..Default::default()
        },
    ]
}

/// What a rating adds, on the day the event was closed.
fn rating_delta(ev: &Event, stars: i64) -> Delta {
    Delta {
        region: Some(ev.region),
        department: ev.unit.department(),
        category: ev.category.clone(),
        day: china_day(ev.closed_at.unwrap_or(ev.updated_at)),
        rated: 1,
        satisfied: i64::from(stars >= 4),
        ..Default::default()
    }
}

/// The figures' changes between an event before and after a step.
fn step_deltas(before: &Event, ev: &Event, action: &Action, now: i64) -> Vec<Delta> {
    let mut out = Vec::new();
    if ev.state == State::Closed && before.state != State::Closed {
        out.extend(closure_deltas(ev));
    }
    if before.state == State::Closed && ev.state != State::Closed {
        out.extend(closure_deltas(before).into_iter().map(Delta::negated));
        if let Some(stars) = before.rating {
            out.push(rating_delta(before, stars).negated());
        }
    }
    if let Action::Rate { stars } = action {
        out.push(rating_delta(ev, i64::from(*stars)));
    }
    if matches!(ev.state, State::Merged | State::Withdrawn) && before.state != ev.state {
        out.push(Delta {
            region: Some(ev.region),
            category: ev.category.clone(),
            day: china_day(ev.created_at),
            dropped: 1,
            ..Default::default()
        });
    }
    if let (true, Unit::Department(d)) = (ev.unit != before.unit, ev.unit) {
        // A department's intake: what reached its inbox in the period.
        out.push(Delta {
            department: Some(d),
            category: ev.category.clone(),
            day: china_day(now),
            received: 1,
            ..Default::default()
        });
    }
    out
}

impl Store {
    /// Applies a person's (or the scheduler's) action to an event through the state
    /// machine, and stores the outcome with its flow-log row. A refusal changes nothing.
    pub async fn act_on_event(
        &self,
        by: By<'_>,
        id: i64,
        action: Action,
        input: ActionInput,
    ) -> Result<Event> {
        self.act_on_event_at(by, id, action, input, now_ms()).await
    }

    /// [`Store::act_on_event`] at a given moment: the scheduler fires what is due at the
    /// moment it swept for, and tests run the clock forward.
    pub async fn act_on_event_at(
        &self,
        by: By<'_>,
        id: i64,
        action: Action,
        input: ActionInput,
        now: i64,
    ) -> Result<Event> {
        let input = ActionInput {
            note: clean_text(input.note.as_deref(), "note", false)?,
            comment: clean_text(input.comment.as_deref(), "comment", false)?,
            ..input
        };
        check_photos(&input.photos)?;
        if let Some(m) = input.check_in_minutes {
            if !(1..=7 * 24 * 60).contains(&m) {
                return Err(StoreError::Invalid(
                    Problem::new("bad_check_in", "events.bad_check_in").field("check_in_minutes"),
                ));
            }
        }
        if let Action::Whistle { departments } = &action {
            let catalog = self.catalog().await?;
            for d in departments {
                if catalog.department(*d).is_none() {
                    return Err(StoreError::Invalid(
                        Problem::new("unknown_department", "events.import.unknown_department")
                            .arg("value", d)
                            .field("departments"),
                    ));
                }
            }
        }
        // Two writers may race for one event: the loser re-reads and decides again.
        for _ in 0..5 {
            if let Some(ev) = self.try_act(by, id, &action, &input, now).await? {
                return Ok(ev);
            }
        }
        Err(StoreError::Conflict(Problem::new(
            "event_busy",
            "events.busy",
        )))
    }

    /// One attempt of [`Store::act_on_event`]: `None` when the event changed underneath.
    async fn try_act(
        &self,
        by: By<'_>,
        id: i64,
        action: &Action,
        input: &ActionInput,
        now: i64,
    ) -> Result<Option<Event>> {
        let note = input.note.as_deref();
        let comment = input.comment.as_deref();
        let out = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            let row: Option<EventRow> = sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Err(StoreError::NotFound) };
            let before = Event::try_from(row)?;
            let summons: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT department_id, state, due_at FROM event_summons WHERE event_id = $1 ORDER BY summoned_at, department_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            // The scheduler's actions count only if, read inside this transaction, they are
            // still due: that is what keeps a stage from firing twice.
            let not_due = || refused(Refusal::WrongState { action: action.name(), state: before.state });
            match action {
                Action::Deadline(stage) => {
                    let d = Deadline { start: before.deadline_start, due: before.due_at, grace_ms: before.grace_ms };
                    let next = d.next(before.warned).map(|(s, _)| s);
                    if !(before.timer_at.is_some_and(|t| t <= now) && next == Some(*stage)) {
                        return Err(not_due());
                    }
                }
                Action::SummonsOverdue { department }
                    if !summons.iter().any(|(d, s, due)| d == department && s == "waiting" && *due <= now) =>
                {
                    return Err(not_due());
                }
                _ => {}
            }
            let summons: Vec<(i64, SummonsState)> = summons
                .into_iter()
                .filter_map(|(d, s, _)| SummonsState::parse(&s).map(|s| (d, s)))
                .collect();
            let (chain, cat) = category_chain!(tx, &before.category);
            let Some((deadline_minutes, grace_minutes, _, escalation_department, grid_default, _)) = cat else {
                return Err(StoreError::Corrupt(format!("event {id}: category {}", before.category)));
            };
            let may_close = if *action == Action::CloseOnSpot {
                let community = linli_core::events::unit::ancestor_at(before.region, Level::Community);
                grid_may_close!(tx, community.key(), &chain, grid_default)
            } else {
                false
            };
            let mut merge_target_state = String::new();
            if let Action::Merge { into } = action {
                if *into == id {
                    return Err(refused(Refusal::MergeIntoSelf));
                }
                let target: Option<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT category_code, state, region_key, region_level FROM events WHERE id = $1",
                )
                .bind(*into)
                .fetch_optional(&mut *tx)
                .await?;
                let ok = target.is_some_and(|(cat, state, key, level)| {
                    merge_target_state = state.clone();
                    let open = State::parse(&state).is_some_and(State::is_open);
                    let visible = i16::try_from(level)
                        .ok()
                        .and_then(Level::from_number)
                        .and_then(|l| RegionCode::from_key(key, l))
                        .is_some_and(|r| match by {
                            By::User(u) => u.scope.contains(r),
                            _ => true,
                        });
                    cat == before.category && open && visible
                });
                if !ok {
                    return Err(refused(Refusal::MergeIntoSelf));
                }
            }
            let facts = before.facts(summons.clone(), may_close, escalation_department);
            let step = apply(&facts, action, &by.flow_actor(), now).map_err(refused)?;

            let mut ev = before.clone();
            ev.state = step.facts.state;
            ev.unit = step.facts.unit;
            ev.extension_minutes = step.facts.extension_pending;
            ev.closed_at = step.facts.closed_at;
            ev.updated_at = now;
            let allowed_ms = deadline_minutes.saturating_mul(60_000);
            next_deadline(&mut ev, step.deadline, now, allowed_ms, grace_minutes.saturating_mul(60_000));
            ev.promised_at = step.deadline.promised(action, ev.promised_at, now, allowed_ms);
            let mut detail: Option<Value> = None;
            match action {
                Action::Accept => ev.accepted_at = Some(now),
                Action::ReportBack => ev.reported_back_at = Some(now),
                Action::Close | Action::CloseOnSpot => ev.closed_on_time = Some(now <= ev.promised_at),
                Action::Rate { stars } => {
                    ev.rating = Some(i64::from(*stars));
                    ev.rating_comment = comment.map(str::to_string);
                    ev.rated_at = Some(now);
                    detail = Some(json!({"stars": stars}));
                }
                Action::Reopen => {
                    ev.reopened += 1;
                    ev.closed_on_time = None;
                    ev.rating = None;
                    ev.rating_comment = None;
                    ev.rated_at = None;
                    ev.accepted_at = None;
                    ev.reported_back_at = None;
                }
                Action::Merge { into } => {
                    ev.merged_into = Some(*into);
                    detail = Some(json!({"into": into}));
                }
                Action::RequestExtension { minutes } => detail = Some(json!({"minutes": minutes})),
                Action::ApproveExtension => {
                    detail = Some(json!({"minutes": before.extension_minutes, "due_at": ev.due_at}))
                }
                Action::Whistle { departments } => detail = Some(json!({"departments": departments})),
                Action::SummonsOverdue { department } => detail = Some(json!({"department": department})),
                Action::Deadline(stage) if step.deadline == DeadlineChange::Keep => {
                    // The stage fired; the next one waits (none after the last).
                    ev.warned = Some(*stage);
                    let d = Deadline { start: ev.deadline_start, due: ev.due_at, grace_ms: ev.grace_ms };
                    ev.timer_at = d.next(Some(*stage)).map(|(_, at)| at);
                }
                _ => {}
            }
            if ev.unit != before.unit {
                ev.escalations += 1;
                ev.accepted_at = None;
                detail = Some(json!({"from": unit_detail(before.unit), "to": unit_detail(ev.unit)}));
            }
            if save_event!(tx, &ev) == 0 {
                // Changed since we read it; let the caller try again on fresh facts.
                return Ok(None);
            }
            ev.version += 1;
            write_deltas!(tx, &step_deltas(&before, &ev, action, now));
            let flow = write_flow!(tx, id, now, by, action.name(), Some(before.state.as_str()), ev.state.as_str(), note, detail);
            write_photos!(tx, id, flow, &input.photos, now);

            // Summons rows follow the facts.
            for (dept, state) in &step.facts.summons {
                let was = summons.iter().find(|(d, _)| d == dept).map(|(_, s)| *s);
                if was == Some(*state) {
                    continue;
                }
                let due = now + input.check_in_minutes.unwrap_or(DEFAULT_CHECK_IN_MINUTES) * 60_000;
                sqlx::query(
                    "INSERT INTO event_summons (event_id, department_id, state, summoned_at, due_at, checked_in_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (event_id, department_id) DO UPDATE SET state = excluded.state, \
                     summoned_at = CASE WHEN excluded.state = 'waiting' THEN excluded.summoned_at ELSE event_summons.summoned_at END, \
                     due_at = CASE WHEN excluded.state = 'waiting' THEN excluded.due_at ELSE event_summons.due_at END, \
                     checked_in_at = excluded.checked_in_at",
                )
                .bind(id)
                .bind(*dept)
                .bind(state.as_str())
                .bind(now)
                .bind(due)
                .bind((*state == SummonsState::CheckedIn).then_some(now))
                .execute(&mut *tx)
                .await?;
                if *state == SummonsState::Waiting {
                    notify_unit!(tx, unit_columns(Unit::Department(*dept)), id, "summons", now);
                }
                if *state == SummonsState::Overdue {
                    let (l, k) = supervisor_of(before.unit, before.region);
                    notify_unit!(tx, (l, k, None), id, "summons_overdue", now);
                }
            }

            // Who should look now.
            let cols = unit_columns(ev.unit);
            match action {
                _ if ev.unit != before.unit => notify_unit!(tx, cols, id, "assigned", now),
                Action::Reopen => notify_unit!(tx, cols, id, "reopened", now),
                Action::Reject => notify_unit!(tx, cols, id, "rejected", now),
                Action::Deadline(Stage::Yellow) => notify_unit!(tx, cols, id, "yellow", now),
                Action::Deadline(_) => notify_unit!(tx, cols, id, "red", now),
                Action::ApproveExtension | Action::DenyExtension => notify_unit!(tx, cols, id, "extension_decided", now),
                Action::RequestExtension { .. } => {
                    let (l, k) = supervisor_of(ev.unit, ev.region);
                    notify_unit!(tx, (l, k, None), id, "extension_requested", now)
                }
                Action::ReportBack => {
                    let (l, k) = supervisor_of(ev.unit, ev.region);
                    notify_unit!(tx, (l, k, None), id, "verify", now)
                }
                _ => {}
            }
            if let Action::Merge { into } = action {
                let target_state = merge_target_state.as_str();
                write_flow!(tx, *into, now, by, "merged_in", Some(target_state), target_state, note, Some(json!({"from": id})));
                // The merged report's reporter now follows the surviving one.
                notify_reporters!(tx, *into, "merged", now);
            }
            if ev.state != before.state {
                notify_reporters!(tx, id, "update", now);
            }
            tx.commit().await?;
            Some(ev)
        });
        Ok(out)
    }
}

/// A unit as the flow log's detail records it.
pub(super) fn unit_detail(unit: Unit) -> Value {
    match unit {
        Unit::Region(c) => {
            json!({"level": HandlingLevel::as_str(unit.handling_level()), "region": c.to_string()})
        }
        Unit::Department(d) => json!({"level": "department", "department_id": d}),
    }
}
