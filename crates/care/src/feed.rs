//! News of alarms for the live console: where alarms were raised, and which one a person
//! acknowledged or resolved. A notice carries no alarm, only where to look, so that each
//! console reads what its own user may see.

use linli_store::care_alarms::Raised;
use tokio::sync::broadcast;

/// Notices kept for a console that falls behind; one further behind reads afresh.
const BACKLOG: usize = 1_024;

/// Something changed in the alarms of the place `region_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmNotice {
    /// New alarms were raised there.
    Raised { region_key: i64 },
    /// This alarm was acknowledged or resolved.
    Changed { region_key: i64, id: i64 },
}

impl AlarmNotice {
    pub fn region_key(self) -> i64 {
        match self {
            AlarmNotice::Raised { region_key } | AlarmNotice::Changed { region_key, .. } => {
                region_key
            }
        }
    }
}

/// The feed every console listens to; cheap to clone.
#[derive(Clone)]
pub struct AlarmFeed(broadcast::Sender<AlarmNotice>);

impl Default for AlarmFeed {
    fn default() -> AlarmFeed {
        AlarmFeed(broadcast::channel(BACKLOG).0)
    }
}

impl AlarmFeed {
    /// Tells the consoles where `raised` alarms are (once per place).
    pub fn raised(&self, raised: &[Raised]) {
        let mut places: Vec<i64> = raised.iter().map(|r| r.region_key).collect();
        places.sort_unstable();
        places.dedup();
        for region_key in places {
            // No console listening is not an error.
            let _ = self.0.send(AlarmNotice::Raised { region_key });
        }
    }

    /// Tells the consoles that alarm `id` (in `region_key`) was acknowledged or resolved.
    pub fn changed(&self, region_key: i64, id: i64) {
        let _ = self.0.send(AlarmNotice::Changed { region_key, id });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AlarmNotice> {
        self.0.subscribe()
    }
}
