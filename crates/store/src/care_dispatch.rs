//! Care's alarms as events: each alarm becomes an event (the events' machinery: routing by
//! place into the grid worker's inbox, deadlines, the flow log) in the category of its
//! severity; one not acknowledged in time (critical: 15 minutes) has its event escalated to
//! the community; a person acknowledges it (accepting the event) and resolves it with an
//! outcome (reporting back on the event, which the community then verifies and closes).
//!
//! An alarm is written with the readings that raised it, and becomes an event just after,
//! by [`Store::dispatch_care_alarms`]: an alarm whose event was not made (linli stopped in
//! between) is picked up by the next call, since the alarms without one are indexed.

use linli_core::events::flow::Action;
use linli_core::Problem;
use serde_json::json;

use crate::accounts::User;
use crate::audit::{write_entry, Actor, Entry};
use crate::events::{ActionInput, By, NewEvent, Source};
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

/// The event categories of care alarms (all under 养老服务 `elderly`), by severity.
pub const CATEGORY_CRITICAL: &str = "elderly.alarm";
pub const CATEGORY_WARNING: &str = "elderly.alarm_check";
pub const CATEGORY_INFO: &str = "elderly.device";

/// What an alarm's handler found: the outcomes a resolution may give.
pub const OUTCOMES: [&str; 5] = [
    "false_alarm",
    "visited_fine",
    "helped_at_home",
    "sent_to_hospital",
    "device_fixed",
];

fn category_of(severity: &str) -> &'static str {
    match severity {
        "critical" => CATEGORY_CRITICAL,
        "warning" => CATEGORY_WARNING,
        _ => CATEGORY_INFO,
    }
}

/// How long an alarm of `severity` may wait for acknowledgement before its event is
/// escalated; info alarms wait for the event's own deadline.
pub fn acknowledge_within_ms(severity: &str) -> Option<i64> {
    match severity {
        "critical" => Some(15 * 60_000),
        "warning" => Some(60 * 60_000),
        _ => None,
    }
}

/// An alarm waiting to become an event: id, building, kind, severity, device id, since.
type Undispatched = (i64, i64, String, String, String, i64, i64);

impl Store {
    /// Adds the care categories to a catalog that lacks them (a database made before care
    /// existed), with their parent; categories already there are left as they are.
    pub async fn ensure_care_categories(&self) -> Result<()> {
        self.ensure_event_catalog().await?;
        let wanted = [CATEGORY_CRITICAL, CATEGORY_WARNING, CATEGORY_INFO];
        let defaults = linli_core::events::category::default_categories();
        let mut defs: Vec<&linli_core::events::category::CategoryDef> = Vec::new();
        for code in wanted {
            if let Some(d) = defaults.iter().find(|d| d.code == code) {
                if let Some(parent) = d
                    .parent
                    .as_deref()
                    .and_then(|p| defaults.iter().find(|x| x.code == p))
                {
                    if !defs.iter().any(|x| x.code == parent.code) {
                        defs.push(parent);
                    }
                }
                defs.push(d);
            }
        }
        let now = now_ms();
        let mut added = 0u64;
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for d in &defs {
                let department: Option<i64> = match &d.department {
                    Some(code) => sqlx::query_scalar("SELECT id FROM departments WHERE code = $1")
                        .bind(code)
                        .fetch_optional(&mut *tx)
                        .await?,
                    None => None,
                };
                added += sqlx::query(
                    "INSERT INTO event_categories (code, parent_code, position, name_zh, name_en, \
                     deadline_minutes, grace_minutes, level, department_id, grid_may_close, active, updated_at) \
                     VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM event_categories), \
                     $3, $4, $5, $6, $7, $8, $9, TRUE, $10) ON CONFLICT (code) DO NOTHING",
                )
                .bind(&d.code)
                .bind(d.parent.as_deref())
                .bind(&d.name_zh)
                .bind(&d.name_en)
                .bind(d.deadline_minutes)
                .bind(d.grace_minutes)
                .bind(d.level.as_str())
                .bind(department)
                .bind(d.grid_may_close)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
        });
        if added > 0 {
            self.forget_catalog();
        }
        Ok(())
    }

    /// Makes events of up to `limit` alarms that have none, oldest first; returns how many
    /// it dealt with (an alarm that cannot be filed keeps why, and is passed over after).
    pub async fn dispatch_care_alarms(&self, limit: i64) -> Result<usize> {
        Ok(self.dispatch_care_alarms_listed(limit).await?.len())
    }

    /// [`Store::dispatch_care_alarms`], returning each alarm dealt with as (id, place), so
    /// that open consoles can show its event at once.
    pub async fn dispatch_care_alarms_listed(&self, limit: i64) -> Result<Vec<(i64, i64)>> {
        let rows: Vec<Undispatched> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT a.id, h.building_id, a.kind, a.severity, d.device_id, a.since, a.region_key \
                 FROM care_alarms a JOIN households h ON h.id = a.household_id \
                 JOIN care_devices d ON d.id = a.device_key \
                 WHERE a.event_id IS NULL AND a.dispatch_problem IS NULL ORDER BY a.id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        let mut made = Vec::with_capacity(rows.len());
        for (id, building, kind, severity, device_id, since, region_key) in rows {
            let name_zh = linli_core::care_rules::AlarmKind::parse(&kind)
                .map(|k| linli_core::i18n::text(linli_core::i18n::Lang::Zh, k.text_key()))
                .unwrap_or(kind.as_str())
                .to_string();
            let new = NewEvent {
                category: category_of(&severity).to_string(),
                description: format!(
                    "{name_zh}：设备 {device_id}，自 {} 起（告警 {id}）",
                    linli_core::china_time::format(since, "%m-%d %H:%M")
                ),
                source: Some(Source::Sensor),
                position: None,
                building_id: Some(building),
                region: None,
                address: None,
                contact_name: None,
                contact_phone: None,
                photos: Vec::new(),
                close_on_spot: false,
                note: None,
                attributes: Some(json!({"care_alarm": id, "kind": kind, "device_id": device_id})),
            };
            let (event_id, problem) = match self.create_event(By::System, new).await {
                Ok(created) => (Some(created.event.id), None),
                // This alarm cannot be filed (a problem of its own, not of the database):
                // it keeps the reason and the others go on.
                Err(StoreError::Invalid(p) | StoreError::Conflict(p)) => {
                    tracing::warn!("care alarm {id} cannot become an event: {}", p.code);
                    (None, Some(p.message(linli_core::i18n::Lang::Zh)))
                }
                Err(e) => return Err(e),
            };
            on_write!(self, p => {
                sqlx::query(
                    "UPDATE care_alarms SET event_id = $1, dispatch_problem = $2 WHERE id = $3 AND event_id IS NULL",
                )
                .bind(event_id)
                .bind(&problem)
                .bind(id)
                .execute(p)
                .await?;
            });
            made.push((id, region_key));
        }
        Ok(made)
    }

    /// Escalates the event of every alarm still not acknowledged past its severity's time
    /// (to the level above the grid: the community); returns how many.
    pub async fn escalate_unacknowledged(&self, now: i64) -> Result<usize> {
        let oldest_due = now - 15 * 60_000;
        let rows: Vec<(i64, i64, String, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, event_id, severity, raised_at FROM care_alarms \
                 WHERE state = 'open' AND escalated_at IS NULL AND raised_at <= $1 AND event_id IS NOT NULL \
                 AND severity <> 'info' \
                 ORDER BY raised_at LIMIT 500",
            )
            .bind(oldest_due)
            .fetch_all(p)
            .await?
        });
        let mut escalated = 0;
        for (id, event_id, severity, raised_at) in rows {
            let Some(within) = acknowledge_within_ms(&severity) else {
                continue;
            };
            if raised_at + within > now {
                continue;
            }
            // An event already past its inbox (accepted, closed) is not escalated; the
            // alarm is marked all the same, so that it is not tried again.
            let acted = self
                .act_on_event_at(
                    By::System,
                    event_id,
                    Action::Unacknowledged,
                    ActionInput::default(),
                    now,
                )
                .await;
            match acted {
                Ok(_) => escalated += 1,
                Err(StoreError::Refused(_) | StoreError::Invalid(_) | StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            on_write!(self, p => {
                sqlx::query("UPDATE care_alarms SET escalated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(p)
                    .await?;
            });
        }
        Ok(escalated)
    }

    /// `user` acknowledges alarm `id`: its event is accepted in their name (so only its
    /// handler may), and the alarm is acknowledged. Audited.
    pub async fn acknowledge_care_alarm(
        &self,
        user: &User,
        ip: Option<String>,
        id: i64,
    ) -> Result<()> {
        let (event_id, state) = self.alarm_event(id).await?;
        if state != "open" {
            return Err(StoreError::Conflict(
                Problem::new("care_alarm_not_open", "care.alarm_not_open").arg("value", state),
            ));
        }
        self.act_on_event(
            By::User(user),
            event_id,
            Action::Accept,
            ActionInput::default(),
        )
        .await?;
        let entry = Entry {
            target: Some(format!("care_alarm:{id}")),
            ..Entry::new("care.alarm.acknowledge")
        };
        self.move_alarm(user, ip, id, "open", "acknowledged", None, &entry)
            .await
    }

    /// `user` resolves alarm `id` with `outcome` (one of [`OUTCOMES`]) and a note: the
    /// handler reports back on its event, which the community then verifies. Audited.
    pub async fn resolve_care_alarm(
        &self,
        user: &User,
        ip: Option<String>,
        id: i64,
        outcome: &str,
        note: Option<&str>,
    ) -> Result<()> {
        if !OUTCOMES.contains(&outcome) {
            return Err(StoreError::Invalid(
                Problem::new("care_bad_outcome", "care.bad_outcome")
                    .arg("value", outcome.to_string())
                    .arg("options", OUTCOMES.join(", "))
                    .field("outcome"),
            ));
        }
        let (event_id, state) = self.alarm_event(id).await?;
        if state != "acknowledged" {
            return Err(StoreError::Conflict(
                Problem::new("care_alarm_not_acknowledged", "care.alarm_not_acknowledged")
                    .arg("value", state),
            ));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        let report = format!(
            "{outcome}{}",
            note.map(|n| format!("：{n}")).unwrap_or_default()
        );
        let input = ActionInput {
            note: Some(report),
            ..ActionInput::default()
        };
        self.act_on_event(By::User(user), event_id, Action::ReportBack, input)
            .await?;
        let entry = Entry {
            target: Some(format!("care_alarm:{id}")),
            after: Some(json!({"outcome": outcome, "note": note})),
            ..Entry::new("care.alarm.resolve")
        };
        self.move_alarm(
            user,
            ip,
            id,
            "acknowledged",
            "resolved",
            Some(outcome),
            &entry,
        )
        .await?;
        // The rule may raise it again once its condition comes back.
        self.forget_open_alarm(id).await
    }

    /// Moves alarm `id` from state `from` to `to` (acknowledged or resolved) in `user`'s
    /// name, with the audit `entry`, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn move_alarm(
        &self,
        user: &User,
        ip: Option<String>,
        id: i64,
        from: &str,
        to: &str,
        outcome: Option<&str>,
        entry: &Entry,
    ) -> Result<()> {
        let (at, by) = match to {
            "acknowledged" => ("acknowledged_at", "acknowledged_by"),
            _ => ("resolved_at", "resolved_by"),
        };
        let actor = Actor {
            user_id: Some(user.id),
            username: user.username.clone(),
            ip,
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&format!(
                "UPDATE care_alarms SET state = $1, {at} = $2, {by} = $3, outcome = COALESCE($4, outcome) \
                 WHERE id = $5 AND state = $6"
            ))
            .bind(to)
            .bind(now_ms())
            .bind(&user.username)
            .bind(outcome)
            .bind(id)
            .bind(from)
            .execute(&mut *tx)
            .await?;
            write_entry!(&mut *tx, &actor, entry)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Alarm `id`'s event and state; an alarm not yet an event cannot be acted on.
    async fn alarm_event(&self, id: i64) -> Result<(i64, String)> {
        let row: Option<(Option<i64>, String)> = on_read!(self, p => {
            sqlx::query_as("SELECT event_id, state FROM care_alarms WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        match row {
            None => Err(StoreError::NotFound),
            Some((None, _)) => Err(StoreError::Conflict(Problem::new(
                "care_alarm_not_dispatched",
                "care.alarm_not_dispatched",
            ))),
            Some((Some(event), state)) => Ok((event, state)),
        }
    }
}
