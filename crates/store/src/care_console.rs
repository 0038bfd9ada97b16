//! What the care pages read beyond the API's lists: the console's alarms in the order a
//! worker takes them (the most severe first, then the latest), and where households are, so
//! that a page names an address rather than a number.

use std::collections::HashMap;

use linli_core::region::KeyRange;

use crate::care_alarms::{Alarm, ALARM_COLUMNS};
use crate::registry::{Listing, Page};
use crate::{on_read, Result, Store};

/// Which alarms a console lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleTab {
    /// Open and acknowledged: the work still to do.
    Active,
    Resolved,
}

/// Where a household is, as a page names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdPlace {
    pub building: String,
    pub address: String,
    pub unit: String,
    pub room: String,
}

/// Ids per statement when looking households up.
const IDS_PER_STATEMENT: usize = 500;

impl Store {
    /// A page of the alarms in `range` on a console's `tab`, with the total: active ones by
    /// severity (critical first), then the latest first; resolved ones the latest resolved
    /// first.
    pub async fn care_console_alarms(
        &self,
        range: KeyRange,
        tab: ConsoleTab,
        page: Page,
    ) -> Result<Listing<Alarm>> {
        let (filter, order) = match tab {
            ConsoleTab::Active => (
                "a.state IN ('open', 'acknowledged')",
                "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, \
                 a.raised_at DESC, a.id DESC",
            ),
            ConsoleTab::Resolved => ("a.state = 'resolved'", "a.resolved_at DESC, a.id DESC"),
        };
        let (items, total): (Vec<Alarm>, i64) = on_read!(self, p => {
            let items = sqlx::query_as(&format!(
                "SELECT {ALARM_COLUMNS} FROM care_alarms a JOIN care_devices d ON d.id = a.device_key \
                 WHERE a.region_key >= $1 AND a.region_key < $2 AND {filter} \
                 ORDER BY {order} LIMIT $3 OFFSET $4"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM care_alarms a WHERE a.region_key >= $1 AND a.region_key < $2 AND {filter}"
            ))
            .bind(range.start)
            .bind(range.end)
            .fetch_one(p)
            .await?;
            (items, total)
        });
        Ok(Listing { items, total })
    }

    /// Where the households `ids` are (those that exist), by id.
    pub async fn household_places(&self, ids: &[i64]) -> Result<HashMap<i64, HouseholdPlace>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT h.id, b.name, b.address, h.unit, h.room FROM households h \
                 JOIN buildings b ON b.id = h.building_id WHERE h.id IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(i64, String, String, String, String)> = on_read!(self, p => {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await?
            });
            for (id, building, address, unit, room) in rows {
                out.insert(
                    id,
                    HouseholdPlace {
                        building,
                        address,
                        unit,
                        room,
                    },
                );
            }
        }
        Ok(out)
    }
}
