//! The deadline scheduler's store side. Due work is found by one index range scan
//! (`events_timer`, `event_summons_due`); each stage is fired through the state machine in
//! its own transaction that also moves the event's timer on, guarded by the row's version.
//! A stage is fired only if, inside that transaction, it is still the next one and due, so
//! after a restart every overdue stage fires and, with any number of linli processes on one
//! database, none fires twice.

use linli_core::events::deadline::Deadline;
use linli_core::events::flow::Action;

use super::write::{ActionInput, By};
use crate::{on_read, Result, Store, StoreError};

/// What one sweep fired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    pub stages: usize,
    pub summons: usize,
}

/// Rows claimed per scan.
const BATCH: i64 = 200;

impl Store {
    /// Fires every deadline stage and every summons check-in that is due at `now`.
    pub async fn fire_due(&self, now: i64) -> Result<Fired> {
        let mut fired = Fired::default();
        loop {
            let due: Vec<(i64, i64, Option<String>, i64, i64, i64)> = on_read!(self, p => {
                sqlx::query_as(
                    "SELECT id, timer_at, warned, deadline_start, due_at, grace_ms FROM events \
                     WHERE timer_at <= $1 ORDER BY timer_at LIMIT $2",
                )
                .bind(now)
                .bind(BATCH)
                .fetch_all(p)
                .await?
            });
            let mut progressed = false;
            for (id, _, warned, start, due_at, grace_ms) in due {
                let warned = warned.as_deref().and_then(linli_core::events::Stage::parse);
                let deadline = Deadline {
                    start,
                    due: due_at,
                    grace_ms,
                };
                let Some((stage, _)) = deadline.next(warned) else {
                    continue;
                };
                match self
                    .act_on_event_at(
                        By::System,
                        id,
                        Action::Deadline(stage),
                        ActionInput::default(),
                        now,
                    )
                    .await
                {
                    Ok(_) => {
                        fired.stages += 1;
                        progressed = true;
                    }
                    // Someone else fired it or the event moved on: nothing is due any more.
                    Err(StoreError::Refused(_)) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            // Firing a stage moves the event's timer to the next one, which may be due too
            // (after an outage, red and the escalation together): scan again until a scan
            // fires nothing. Each stage fires once, so this ends.
            if !progressed {
                break;
            }
        }
        let summons: Vec<(i64, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT event_id, department_id FROM event_summons WHERE state = 'waiting' AND due_at <= $1 \
                 ORDER BY due_at",
            )
            .bind(now)
            .fetch_all(p)
            .await?
        });
        for (event, department) in summons {
            match self
                .act_on_event_at(
                    By::System,
                    event,
                    Action::SummonsOverdue { department },
                    ActionInput::default(),
                    now,
                )
                .await
            {
                Ok(_) => fired.summons += 1,
                Err(StoreError::Refused(_)) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(fired)
    }
}
