//! Care's alarms: the rules (`linli_core::care_rules`) applied to each household's readings
//! in the transaction that stores them, the household's rule state kept beside them, and the
//! alarms raised and cleared. Keeping all of it in one transaction means a reading is never
//! stored without the rules having seen it, nor seen twice: a batch that fails is rolled
//! back whole and tried again. Rows are locked while a batch works on them, so linli
//! processes sharing the broker's stream keep one state per household.
//!
//! Time-driven alarms (inactivity, a night exit, a device offline) come from
//! [`Store::tick_care`], which visits only the households whose `due_at` has come.

use std::collections::BTreeMap;

use linli_core::care::Reading;
use linli_core::care_rules::{AlarmKind, Change, Household, Rules, Severity};
use serde::Serialize;

use crate::care::DeviceAuth;
use crate::{now_ms, on_write, BeginWrite, Result, Store};

/// Households per statement (5 parameters each).
const HOUSEHOLDS_PER_STATEMENT: usize = 1_000;
/// An overdue household that a tick left overdue is looked at again this much later, so
/// that the timer never spins.
const RETRY_MS: i64 = 60_000;

/// An alarm raised now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Raised {
    pub household_id: i64,
    /// The household's place.
    pub region_key: i64,
    pub device_key: i64,
    pub kind: AlarmKind,
    pub severity: Severity,
    /// When the condition began.
    pub since: i64,
    pub raised_at: i64,
}

/// A household the rules watch, as loaded (or new), with what the rules did to it.
pub(crate) struct Watched {
    pub household_id: i64,
    pub community_key: i64,
    pub region_key: i64,
    pub rules: Rules,
    pub state: Household,
    pub changes: Vec<Change>,
}

/// A `care_households` row: id, community, place, rules, state.
pub(crate) type HouseholdRow = (i64, i64, i64, Option<String>, String);

impl Watched {
    /// A row as the rules read it. Rules or a state that cannot be read (written by a later
    /// linli, say) are replaced by the defaults, with a warning: the readings must go on.
    pub fn from_row(
        (household_id, community_key, region_key, rules, state): HouseholdRow,
    ) -> Watched {
        let rules = match rules.map(|r| serde_json::from_str::<Rules>(&r)) {
            None => Rules::default(),
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                tracing::warn!("care household {household_id}: its rules cannot be read ({e}); using the defaults");
                Rules::default()
            }
        };
        let state = serde_json::from_str(&state).unwrap_or_else(|e| {
            tracing::warn!("care household {household_id}: its rule state cannot be read ({e}); starting afresh");
            Household::default()
        });
        Watched {
            household_id,
            community_key,
            region_key,
            rules,
            state,
            changes: Vec::new(),
        }
    }

    fn new(household_id: i64, community_key: i64, region_key: i64) -> Watched {
        Watched {
            household_id,
            community_key,
            region_key,
            rules: Rules::default(),
            state: Household::default(),
            changes: Vec::new(),
        }
    }
}

/// The stored readings grouped by household, each group in time order.
pub(crate) fn by_household(
    stored: &[(DeviceAuth, Reading)],
) -> BTreeMap<i64, Vec<(DeviceAuth, Reading)>> {
    let mut groups: BTreeMap<i64, Vec<(DeviceAuth, Reading)>> = BTreeMap::new();
    for (d, r) in stored {
        groups.entry(d.household_id).or_default().push((*d, *r));
    }
    for g in groups.values_mut() {
        g.sort_by_key(|(_, r)| (r.ts_ms, r.seq));
    }
    groups
}

/// Applies each household's readings to its state (`loaded`, or new).
pub(crate) fn observe(
    groups: BTreeMap<i64, Vec<(DeviceAuth, Reading)>>,
    loaded: Vec<HouseholdRow>,
) -> Vec<Watched> {
    let mut by_id: BTreeMap<i64, Watched> = loaded
        .into_iter()
        .map(|row| (row.0, Watched::from_row(row)))
        .collect();
    let mut out = Vec::with_capacity(groups.len());
    for (household_id, readings) in groups {
        let Some(&(first, _)) = readings.first() else {
            continue;
        };
        let mut w = by_id
            .remove(&household_id)
            .unwrap_or_else(|| Watched::new(household_id, first.community.key(), first.region_key));
        for (d, r) in &readings {
            let changes = w.state.observe(&w.rules, d.key, d.kind, r);
            w.changes.extend(changes);
        }
        out.push(w);
    }
    out
}

/// Loads the `care_households` rows of `$ids` on `$tx`, locked for the transaction.
macro_rules! load_households_on {
    ($tx:expr, $ids:expr) => {{
        let ids: Vec<i64> = $ids;
        let mut rows: Vec<$crate::care_alarms::HouseholdRow> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "SELECT household_id, community_key, region_key, rules, state FROM care_households WHERE household_id IN (",
            );
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            qb.push(<DB as $crate::BeginWrite>::LOCK_ROWS);
            let found: Vec<$crate::care_alarms::HouseholdRow> =
                qb.build_query_as().persistent(false).fetch_all(&mut *$tx).await?;
            rows.extend(found);
        }
        rows
    }};
}
pub(crate) use load_households_on;

/// Writes what the rules did to `$watched` on `$tx`: each household's state and when it is
/// next due, the alarms raised, the conditions cleared. Evaluates to the alarms raised.
macro_rules! write_watched_on {
    ($tx:expr, $watched:expr, $now:expr) => {{
        let watched: &[$crate::care_alarms::Watched] = $watched;
        let now: i64 = $now;
        for chunk in watched.chunks($crate::care_alarms::households_per_statement()) {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO care_households (household_id, community_key, region_key, state, due_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, w| {
                b.push_bind(w.household_id)
                    .push_bind(w.community_key)
                    .push_bind(w.region_key)
                    .push_bind($crate::care_alarms::state_json(w))
                    .push_bind($crate::care_alarms::due_after_tick(w, now))
                    .push_bind(now);
            });
            qb.push(
                " ON CONFLICT (household_id) DO UPDATE SET state = excluded.state, \
                 due_at = excluded.due_at, updated_at = excluded.updated_at",
            );
            qb.build().persistent(false).execute(&mut *$tx).await?;
        }
        let raised = $crate::care_alarms::raised_of(watched);
        for chunk in raised.chunks($crate::care_alarms::households_per_statement()) {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO care_alarms (household_id, device_key, community_key, region_key, kind, severity, since, raised_at) ",
            );
            qb.push_values(chunk, |mut b, (r, community_key, region_key)| {
                b.push_bind(r.household_id)
                    .push_bind(r.device_key)
                    .push_bind(*community_key)
                    .push_bind(*region_key)
                    .push_bind(r.kind.code())
                    .push_bind($crate::care_alarms::severity_of(r.severity))
                    .push_bind(r.since)
                    .push_bind(r.raised_at);
            });
            qb.build().persistent(false).execute(&mut *$tx).await?;
        }
        for (household_id, kind, device, at) in $crate::care_alarms::cleared_of(watched) {
            sqlx::query(
                "UPDATE care_alarms SET cleared_at = $1 WHERE household_id = $2 AND kind = $3 \
                 AND device_key = $4 AND cleared_at IS NULL",
            )
            .bind(at)
            .bind(household_id)
            .bind(kind.code())
            .bind(device)
            .execute(&mut *$tx)
            .await?;
        }
        raised.into_iter().map(|(r, _, _)| r).collect::<Vec<$crate::care_alarms::Raised>>()
    }};
}
pub(crate) use write_watched_on;

// Helpers the macros call by path (a macro cannot name a private function of the module it
// is expanded in).
pub(crate) fn households_per_statement() -> usize {
    HOUSEHOLDS_PER_STATEMENT
}

pub(crate) fn state_json(w: &Watched) -> String {
    // The state is plain data (numbers, lists, maps keyed by numbers): it always serialises.
    serde_json::to_string(&w.state).unwrap_or_else(|e| {
        tracing::error!(
            "care household {}: its rule state does not serialise: {e}",
            w.household_id
        );
        "{}".to_string()
    })
}

/// When the timer should next look at this household: what the rules say, but not at once
/// if it is overdue still (a tick has just looked).
pub(crate) fn due_after_tick(w: &Watched, now: i64) -> Option<i64> {
    w.state
        .next_due(&w.rules, now)
        .map(|due| if due <= now { now + RETRY_MS } else { due })
}

pub(crate) fn severity_of(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The alarms `watched` raised, each with its household's community and place.
pub(crate) fn raised_of(watched: &[Watched]) -> Vec<(Raised, i64, i64)> {
    let mut out = Vec::new();
    for w in watched {
        for c in &w.changes {
            if let Change::Raised {
                kind,
                severity,
                device,
                at,
                since,
            } = c
            {
                let raised = Raised {
                    household_id: w.household_id,
                    region_key: w.region_key,
                    device_key: *device,
                    kind: *kind,
                    severity: *severity,
                    since: *since,
                    raised_at: *at,
                };
                out.push((raised, w.community_key, w.region_key));
            }
        }
    }
    out
}

pub(crate) fn cleared_of(watched: &[Watched]) -> Vec<(i64, AlarmKind, i64, i64)> {
    watched
        .iter()
        .flat_map(|w| {
            w.changes.iter().filter_map(move |c| match c {
                Change::Cleared { kind, device, at } => Some((w.household_id, *kind, *device, *at)),
                Change::Raised { .. } => None,
            })
        })
        .collect()
}

/// What a visit of the timer did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ticked {
    /// Households looked at.
    pub households: usize,
    pub raised: Vec<Raised>,
}

impl Store {
    /// Applies the passing of time up to `now` to at most `limit` households that are due,
    /// in one transaction: the alarms it raises, each household's state and next due time.
    /// Call again while it returns `limit` households.
    pub async fn tick_care(&self, now: i64, limit: i64) -> Result<Ticked> {
        let (households, raised) = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as BeginWrite>::BEGIN).await?;
            let rows: Vec<HouseholdRow> = sqlx::query_as(&format!(
                "SELECT household_id, community_key, region_key, rules, state FROM care_households \
                 WHERE due_at <= $1 ORDER BY due_at LIMIT $2{}",
                <DB as BeginWrite>::LOCK_ROWS_SKIP_LOCKED
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            let mut watched: Vec<Watched> = rows.into_iter().map(Watched::from_row).collect();
            for w in &mut watched {
                let changes = w.state.tick(&w.rules, now);
                w.changes.extend(changes);
            }
            let raised = write_watched_on!(tx, &watched, now);
            tx.commit().await?;
            (watched.len(), raised)
        });
        Ok(Ticked { households, raised })
    }

    /// Runs [`Store::tick_care`] at the current time until no household is due.
    pub async fn tick_care_now(&self) -> Result<Ticked> {
        const PAGE: i64 = 500;
        let now = now_ms();
        let mut all = Ticked::default();
        loop {
            let t = self.tick_care(now, PAGE).await?;
            all.households += t.households;
            all.raised.extend(t.raised);
            if (t.households as i64) < PAGE {
                return Ok(all);
            }
        }
    }
}

/// An alarm as listed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Alarm {
    pub id: i64,
    pub household_id: i64,
    pub device_id: String,
    pub kind: String,
    pub severity: String,
    /// open, acknowledged or resolved.
    pub state: String,
    #[serde(skip)]
    pub community_key: i64,
    #[serde(skip)]
    pub region_key: i64,
    /// When the condition began.
    pub since: i64,
    pub raised_at: i64,
    /// When the condition ended (the device said so), if it has.
    pub cleared_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub outcome: Option<String>,
    /// The event it became.
    pub event_id: Option<i64>,
    /// Why it could not become an event, if it could not.
    pub dispatch_problem: Option<String>,
}

/// The alarm states a list may ask for.
pub const ALARM_STATES: [&str; 3] = ["open", "acknowledged", "resolved"];

/// The columns of [`Alarm`], over `care_alarms a JOIN care_devices d`.
pub(crate) const ALARM_COLUMNS: &str =
    "a.id, a.household_id, d.device_id, a.kind, a.severity, a.state, a.community_key, \
     a.region_key, a.since, a.raised_at, a.cleared_at, a.acknowledged_at, a.acknowledged_by, \
     a.resolved_at, a.resolved_by, a.outcome, a.event_id, a.dispatch_problem";

impl Store {
    /// Alarm `id`, if it exists.
    pub async fn care_alarm(&self, id: i64) -> Result<Option<Alarm>> {
        Ok(crate::on_read!(self, p => {
            sqlx::query_as(&format!(
                "SELECT {ALARM_COLUMNS} FROM care_alarms a JOIN care_devices d ON d.id = a.device_key WHERE a.id = $1"
            ))
            .bind(id)
            .fetch_optional(p)
            .await?
        }))
    }

    /// The alarms raised in `range` after alarm `after` (by id), oldest first, at most
    /// `limit`: what a live console has not shown yet.
    pub async fn care_alarms_after(
        &self,
        range: linli_core::region::KeyRange,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Alarm>> {
        Ok(crate::on_read!(self, p => {
            sqlx::query_as(&format!(
                "SELECT {ALARM_COLUMNS} FROM care_alarms a JOIN care_devices d ON d.id = a.device_key \
                 WHERE a.id > $1 AND a.region_key >= $2 AND a.region_key < $3 ORDER BY a.id LIMIT $4"
            ))
            .bind(after)
            .bind(range.start)
            .bind(range.end)
            .bind(limit)
            .fetch_all(p)
            .await?
        }))
    }

    /// The latest alarm's id (0 before any): where a live console starts.
    pub async fn latest_care_alarm_id(&self) -> Result<i64> {
        Ok(crate::on_read!(self, p => {
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM care_alarms")
                .fetch_one(p)
                .await?
        }))
    }

    /// A page of the alarms raised in `range` (a region's keys), in `state` if given, the
    /// latest first, with the total.
    pub async fn care_alarms(
        &self,
        range: linli_core::region::KeyRange,
        state: Option<&str>,
        page: crate::registry::Page,
    ) -> Result<crate::registry::Listing<Alarm>> {
        // Every state, or one: the bound is compared either way so that both queries take
        // the same parameters.
        let (filter, state) = match state {
            Some(s) => ("a.state = $3", s),
            None => ("$3 = $3", ""),
        };
        let (items, total): (Vec<Alarm>, i64) = crate::on_read!(self, p => {
            let items = sqlx::query_as(&format!(
                "SELECT {ALARM_COLUMNS} FROM care_alarms a JOIN care_devices d ON d.id = a.device_key \
                 WHERE a.region_key >= $1 AND a.region_key < $2 AND {filter} \
                 ORDER BY a.raised_at DESC, a.id DESC LIMIT $4 OFFSET $5"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(state)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM care_alarms a WHERE a.region_key >= $1 AND a.region_key < $2 AND {filter}"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(state)
            .fetch_one(p)
            .await?;
            (items, total)
        });
        Ok(crate::registry::Listing { items, total })
    }
}

impl Store {
    /// Takes resolved alarm `id` off its household's open alarms, so that its rule may raise
    /// it again when its condition comes back (another press, smoke again).
    pub(crate) async fn forget_open_alarm(&self, id: i64) -> Result<()> {
        on_write!(self, p => {
            let mut tx = p.begin_with(<DB as BeginWrite>::BEGIN).await?;
            let alarm: Option<(i64, String, i64)> = sqlx::query_as(
                "SELECT household_id, kind, device_key FROM care_alarms WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((household_id, kind, device)) = alarm {
                let rows = load_households_on!(tx, vec![household_id]);
                let mut watched: Vec<Watched> = rows.into_iter().map(Watched::from_row).collect();
                if let (Some(w), Some(kind)) = (watched.first_mut(), AlarmKind::parse(&kind)) {
                    w.state.resolved(kind, device);
                }
                // Taking an alarm off raises nothing.
                let _ = write_watched_on!(tx, &watched, now_ms());
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
