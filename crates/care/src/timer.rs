//! The alarm timer. Twice a minute it applies the rules that time raises (inactivity, a
//! night exit, a bed left empty, a device offline) to the households that are due, makes
//! events of new alarms, and escalates the events of alarms not acknowledged in time.
//! Readings raise their alarms as they are stored; a poke after such a batch makes their
//! events at once rather than at the next round.

use std::sync::Arc;
use std::time::Duration;

use linli_store::Store;
use tokio::sync::Notify;

use crate::feed::AlarmFeed;

/// How often linli looks for households whose time-driven rules are due.
pub const TICK_EVERY: Duration = Duration::from_secs(30);
/// Alarms made into events per round trip.
const DISPATCH_PAGE: i64 = 200;

/// A handle that wakes the timer; cheap to clone.
#[derive(Clone, Default)]
pub struct Timer(Arc<Notify>);

impl Timer {
    /// New alarms were stored: make their events now.
    pub fn poke(&self) {
        self.0.notify_one();
    }

    /// Runs the timer until the task is dropped or aborted; the alarms it raises are told
    /// to `feed`.
    pub fn spawn(&self, store: Store, feed: AlarmFeed) -> tokio::task::JoinHandle<()> {
        let wake = self.0.clone();
        tokio::spawn(async move {
            if let Err(e) = store.ensure_care_categories().await {
                tracing::error!("care: adding the alarm categories to the catalog: {e}");
            }
            let mut every = tokio::time::interval(TICK_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let full_round = tokio::select! {
                    _ = every.tick() => true,
                    _ = wake.notified() => false,
                };
                if full_round {
                    match store.tick_care_now().await {
                        Ok(t) if !t.raised.is_empty() => {
                            tracing::info!(
                                "care timer: {} alarms raised over {} households due",
                                t.raised.len(),
                                t.households
                            );
                            feed.raised(&t.raised);
                        }
                        Ok(_) => {}
                        // The households stay due: the next round tries again.
                        Err(e) => tracing::error!("care timer: {e}"),
                    }
                }
                if let Err(e) = dispatch_all(&store, &feed).await {
                    tracing::error!("care timer: making events of alarms: {e}");
                }
                if full_round {
                    match store.escalate_unacknowledged(linli_store::now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("care timer: {n} unacknowledged alarms escalated"),
                        Err(e) => tracing::error!("care timer: escalating: {e}"),
                    }
                }
            }
        })
    }
}

/// Makes events of every alarm without one, telling open consoles of each (its event link
/// and acknowledge button appear without the console asking again).
async fn dispatch_all(store: &Store, feed: &AlarmFeed) -> linli_store::Result<()> {
    loop {
        let dealt = store.dispatch_care_alarms_listed(DISPATCH_PAGE).await?;
        for &(id, region_key) in &dealt {
            feed.changed(region_key, id);
        }
        if (dealt.len() as i64) < DISPATCH_PAGE {
            return Ok(());
        }
    }
}
