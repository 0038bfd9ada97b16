//! The alarm timer: the rules that time raises (inactivity, a night exit, a bed left empty,
//! a device offline) are applied to the households that are due, twice a minute. Readings
//! raise theirs as they are stored; this is for the silence between them.

use std::time::Duration;

use linli_store::Store;

/// How often linli looks for households whose time-driven rules are due.
pub const TICK_EVERY: Duration = Duration::from_secs(30);

/// Runs the timer until the task is dropped or aborted.
pub fn spawn_timer(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match store.tick_care_now().await {
                Ok(t) if !t.raised.is_empty() => tracing::info!(
                    "care timer: {} alarms raised over {} households due",
                    t.raised.len(),
                    t.households
                ),
                Ok(_) => {}
                // The households stay due: the next tick tries again.
                Err(e) => tracing::error!("care timer: {e}"),
            }
        }
    })
}
