//! Care's figures for leaders, per region: people under care and visits kept on time,
//! devices online, alarms by kind and outcome, and how fast alarms were acknowledged. Each
//! figure is one key-range query over an index that starts with the place.

use std::collections::BTreeMap;

use linli_core::region::KeyRange;

use crate::{on_read, Result, Store};

/// A device is online when its latest reading is at most this old: the default offline rule.
pub const ONLINE_WINDOW_MS: i64 = 60 * 60 * 1000;

/// The care figures of a region over a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CareFigures {
    /// People under care now.
    pub enrolled: i64,
    /// Of them, those whose visit is overdue now.
    pub overdue: i64,
    /// Visits made in the period, and those made by their due moment.
    pub visits: i64,
    pub visits_on_time: i64,
    pub devices: i64,
    /// Devices whose latest reading is within [`ONLINE_WINDOW_MS`].
    pub devices_online: i64,
    /// Alarms raised in the period, by kind code.
    pub alarms_by_kind: BTreeMap<String, i64>,
    /// Of them, the resolved ones by outcome code.
    pub alarms_by_outcome: BTreeMap<String, i64>,
    /// Of them, the ones not resolved yet.
    pub alarms_unresolved: i64,
    /// Of them, the ones escalated to the community for want of an acknowledgement.
    pub alarms_escalated: i64,
    /// Minutes from raised to acknowledged, over the acknowledged alarms of the period.
    pub acknowledged: i64,
    pub acknowledge_p50_min: Option<f64>,
    pub acknowledge_p90_min: Option<f64>,
}

/// Two counts of one query.
type Counts = (i64, i64);
/// What the figures' queries return: enrolments, visits, devices, alarms by kind and by
/// outcome, unresolved and escalated alarms, and the acknowledgement waits sorted.
type Raw = (
    Counts,
    Counts,
    Counts,
    Vec<(String, i64)>,
    Vec<(String, i64)>,
    Counts,
    Vec<i64>,
);

/// The `q` quantile (nearest rank) of sorted values.
fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl Store {
    /// The care figures of `range` (a region's keys) for the period from `since` to `now`.
    pub async fn care_figures(&self, range: KeyRange, since: i64, now: i64) -> Result<CareFigures> {
        let (enrolment, visits, devices, by_kind, by_outcome, alarms, waits): Raw = on_read!(self, p => {
            let enrolment: Counts = sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_at < $3 THEN 1 ELSE 0 END), 0) FROM care_enrolments \
                 WHERE region_key >= $1 AND region_key < $2 AND ended_at IS NULL",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(now)
            .fetch_one(p)
            .await?;
            let visits: Counts = sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN on_time <> 0 THEN 1 ELSE 0 END), 0) FROM care_visits \
                 WHERE region_key >= $1 AND region_key < $2 AND visited_at >= $3",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(since)
            .fetch_one(p)
            .await?;
            let devices: Counts = sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_seen_at >= $3 THEN 1 ELSE 0 END), 0) FROM care_devices \
                 WHERE region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(now - ONLINE_WINDOW_MS)
            .fetch_one(p)
            .await?;
            let in_period = "region_key >= $1 AND region_key < $2 AND raised_at >= $3";
            let by_kind = sqlx::query_as(&format!(
                "SELECT kind, COUNT(*) FROM care_alarms WHERE {in_period} GROUP BY kind"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(since)
            .fetch_all(p)
            .await?;
            let by_outcome = sqlx::query_as(&format!(
                "SELECT outcome, COUNT(*) FROM care_alarms WHERE {in_period} AND outcome IS NOT NULL GROUP BY outcome"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(since)
            .fetch_all(p)
            .await?;
            let alarms: Counts = sqlx::query_as(&format!(
                "SELECT COALESCE(SUM(CASE WHEN state <> 'resolved' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN escalated_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM care_alarms WHERE {in_period}"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(since)
            .fetch_one(p)
            .await?;
            // Only the waits, sorted by the database: a period's acknowledged alarms are a few
            // thousand numbers at most.
            let waits = sqlx::query_scalar(&format!(
                "SELECT acknowledged_at - raised_at AS wait FROM care_alarms \
                 WHERE {in_period} AND acknowledged_at IS NOT NULL ORDER BY wait"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(since)
            .fetch_all(p)
            .await?;
            (enrolment, visits, devices, by_kind, by_outcome, alarms, waits)
        });
        let minutes = |ms: i64| (ms as f64 / 60_000.0 * 10.0).round() / 10.0;
        Ok(CareFigures {
            enrolled: enrolment.0,
            overdue: enrolment.1,
            visits: visits.0,
            visits_on_time: visits.1,
            devices: devices.0,
            devices_online: devices.1,
            alarms_by_kind: by_kind.into_iter().collect(),
            alarms_by_outcome: by_outcome.into_iter().collect(),
            alarms_unresolved: alarms.0,
            alarms_escalated: alarms.1,
            acknowledged: waits.len() as i64,
            acknowledge_p50_min: quantile(&waits, 0.5).map(minutes),
            acknowledge_p90_min: quantile(&waits, 0.9).map(minutes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(quantile(&v, 0.5), Some(5));
        assert_eq!(quantile(&v, 0.9), Some(9));
        assert_eq!(quantile(&[7], 0.9), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
