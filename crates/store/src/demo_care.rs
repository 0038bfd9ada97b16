//! The demo district's care: every resident the built-in visit rules pick is enrolled, as
//! two months ago, and visited since then roughly on plan — most on time, some late, and
//! about one in six let slip so that the overdue list has people on it. Written in bulk
//! (a demo of a tenth of the district holds thousands of visits); rebuilt each time the
//! demo is, since the registry it refers to is.

use linli_core::care_visits::{Concern, VisitMode};
use linli_core::region::{Level, RegionCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::audit::Actor;
use crate::{now_ms, on_read, on_write, Result, Store};

const DAY_MS: i64 = 86_400_000;
const SEED: u64 = 0x0033_0102_0007;
/// Who the demo's enrolments and visits are by, so that a rebuild finds them.
pub const DEMO_ACTOR: &str = "linli demo";
/// How long ago the demo's people were enrolled.
const ENROLLED_DAYS_AGO: i64 = 60;

const NOTES: [&str; 6] = [
    "精神状态良好，饮食正常",
    "血压偏高，已提醒按时服药",
    "家中整洁，子女每周来电",
    "反映楼道灯不亮，已转物业",
    "电话问候，老人说一切都好",
    "提醒不要接听陌生来电，讲解防诈知识",
];

/// What the demo's care holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoCareReport {
    pub enrolled: usize,
    pub visits: usize,
}

/// One generated visit: enrolment, (community, place), time, recorded, on time, due, mode,
/// note, concerns.
type GenVisit = (
    i64,
    (i64, i64),
    i64,
    i64,
    bool,
    i64,
    VisitMode,
    &'static str,
    String,
);
/// A person under care as the generator sees them: enrolment, (community, place), interval.
type Person = (i64, (i64, i64), i64);

impl Store {
    /// Enrols the candidates of every community of `district` and writes their visits of
    /// the last two months. Replaces what an earlier demo wrote.
    pub async fn build_demo_care(&self, district: RegionCode) -> Result<DemoCareReport> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "DELETE FROM care_visits WHERE enrolment_id IN (SELECT id FROM care_enrolments WHERE enrolled_by = $1)",
            )
            .bind(DEMO_ACTOR)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM care_enrolments WHERE enrolled_by = $1")
                .bind(DEMO_ACTOR)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        let actor = Actor::system(DEMO_ACTOR);
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        let range = district.range();
        let communities: Vec<i64> = on_read!(self, p => {
            sqlx::query_scalar(
                "SELECT DISTINCT community_key FROM residents WHERE region_key >= $1 AND region_key < $2 ORDER BY community_key",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        });
        let mut enrolled = 0;
        for key in communities {
            if let Some(c) = RegionCode::from_key(key, Level::Community) {
                enrolled += self.enrol_candidates(&actor, c, today).await?;
            }
        }
        let now = now_ms();
        let since = now - ENROLLED_DAYS_AGO * DAY_MS;
        // Two months ago, as if the office had started then.
        let rows: Vec<(i64, i64, i64, i64)> = on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE care_enrolments SET enrolled_at = $1, due_at = $1 + interval_days * 86400000 WHERE enrolled_by = $2",
            )
            .bind(since)
            .bind(DEMO_ACTOR)
            .execute(&mut *tx)
            .await?;
            let people = sqlx::query_as(
                "SELECT id, community_key, region_key, interval_days FROM care_enrolments WHERE enrolled_by = $1 ORDER BY id",
            )
            .bind(DEMO_ACTOR)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            people
        });
        let people: Vec<Person> = rows
            .into_iter()
            .map(|(id, c, r, i)| (id, (c, r), i))
            .collect();
        let visits = plan_visits(&people, since, now);
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in visits.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO care_visits (enrolment_id, community_key, region_key, visited_at, recorded_at, visitor, \
                     mode, note, concerns, due_at, on_time) ",
                );
                qb.push_values(chunk, |mut b, v| {
                    b.push_bind(v.0)
                        .push_bind(v.1 .0)
                        .push_bind(v.1 .1)
                        .push_bind(v.2)
                        .push_bind(v.3)
                        .push_bind(DEMO_ACTOR)
                        .push_bind(v.6.code())
                        .push_bind(v.7)
                        .push_bind(v.8.clone())
                        .push_bind(v.5)
                        .push_bind(i64::from(v.4));
                });
                qb.build().execute(&mut *tx).await?;
            }
            // Each plan follows its latest visit.
            sqlx::query(
                "UPDATE care_enrolments SET last_visit_at = (SELECT MAX(v.visited_at) FROM care_visits v \
                 WHERE v.enrolment_id = care_enrolments.id) WHERE enrolled_by = $1",
            )
            .bind(DEMO_ACTOR)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE care_enrolments SET due_at = COALESCE(last_visit_at, enrolled_at) + interval_days * 86400000 \
                 WHERE enrolled_by = $1",
            )
            .bind(DEMO_ACTOR)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(DemoCareReport {
            enrolled,
            visits: visits.len(),
        })
    }
}

/// Each person's visits from `since` to `now`: at each due moment give or take, a few days
/// late now and then; one in six stops being visited part-way.
fn plan_visits(people: &[Person], since: i64, now: i64) -> Vec<GenVisit> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut out = Vec::new();
    for &(id, region_key, interval) in people {
        let interval_ms = interval * DAY_MS;
        let slips_at = if rng.gen_bool(1.0 / 6.0) {
            since + rng.gen_range(0..(now - since))
        } else {
            now
        };
        let mut due = since + interval_ms;
        loop {
            let late = rng.gen_bool(0.12);
            let offset = if late {
                rng.gen_range(DAY_MS / 2..3 * DAY_MS)
            } else {
                -rng.gen_range(0..(interval_ms / 3).max(DAY_MS / 4))
            };
            let at = (due + offset).max(since + DAY_MS / 4);
            if at > now || at > slips_at {
                break;
            }
            let mode = if rng.gen_bool(0.7) {
                VisitMode::Home
            } else {
                VisitMode::Phone
            };
            let note = NOTES[rng.gen_range(0..NOTES.len())];
            let concerns = if rng.gen_bool(0.1) {
                Concern::ALL[rng.gen_range(0..Concern::ALL.len())]
                    .code()
                    .to_string()
            } else {
                String::new()
            };
            let recorded = (at + rng.gen_range(0..2 * 3_600_000)).min(now);
            out.push((
                id,
                region_key,
                at,
                recorded,
                at <= due,
                due,
                mode,
                note,
                concerns,
            ));
            due = at + interval_ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_follow_the_plan_mostly_on_time_and_some_slip() {
        let now = 100 * DAY_MS;
        let since = now - ENROLLED_DAYS_AGO * DAY_MS;
        let people: Vec<Person> = (0..600)
            .map(|i| (i, (1, 1), [7, 14, 30][i as usize % 3]))
            .collect();
        let visits = plan_visits(&people, since, now);
        let on_time = visits.iter().filter(|v| v.4).count() as f64 / visits.len() as f64;
        assert!((0.8..0.95).contains(&on_time), "{on_time}");
        assert!(visits
            .iter()
            .all(|v| v.2 >= since && v.2 <= now && v.3 >= v.2));
        // Someone weekly is visited about eight times in two months, unless they slipped.
        let weekly = visits.iter().filter(|v| v.0 == 0).count();
        assert!(weekly <= 9, "{weekly}");
        let latest = |id: i64| visits.iter().filter(|v| v.0 == id).map(|v| v.2).max();
        let overdue = people
            .iter()
            .filter(|p| latest(p.0).unwrap_or(since) + p.2 * DAY_MS < now)
            .count();
        assert!(overdue > 30 && overdue < 200, "{overdue} overdue");
    }
}
