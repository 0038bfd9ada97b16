//! The demo district's year of events: about 18,000 a month at full size (practice 001's
//! figure for one district), scaled like the registry, at the registered buildings, in a
//! plausible mix of categories, arriving by day and hour as people report, and handled in
//! times drawn around each category's deadline with a long tail (a few percent take more
//! than a week, as real tickets do). The most recent are still open, some of them overdue.
//! Every event is marked generated; the demo writes them once.

use linli_core::events::{State, DAY_MS, HOUR_MS};
use linli_core::region::{Level, RegionCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::divisions::Progress;
use crate::events::{GenEvent, Source};
use crate::{now_ms, on_read, Result, Store};

/// Events a month in the whole district (practice 001).
pub const EVENTS_PER_MONTH: f64 = 18_000.0;
const SEED: u64 = 0x0033_0102_0005;

/// Categories and their shares of reports.
const MIX: [(&str, f64); 20] = [
    ("env.garbage", 14.0),
    ("env.dumping", 5.0),
    ("env.graffiti", 5.0),
    ("muni.streetlight", 4.0),
    ("muni.road", 4.0),
    ("muni.water", 3.0),
    ("green.tree", 3.0),
    ("build", 4.0),
    ("noise", 5.0),
    ("noise.construction", 4.0),
    ("dispute.leak", 6.0),
    ("dispute.parking", 5.0),
    ("property.lift", 4.0),
    ("property.service", 7.0),
    ("safety.ebike", 6.0),
    ("fire.blocked", 4.0),
    ("elderly.help", 3.0),
    ("market.vendor", 4.0),
    ("other", 3.0),
    ("green.damage", 2.0),
];

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    let v: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Where events happen: a region, perhaps a position, and a name for the description.
#[derive(Debug, Clone)]
pub struct Place {
    pub region: RegionCode,
    pub position: Option<[f64; 2]>,
    pub name: String,
}

/// A year of `count` events before `now` at `places`: the demo's and the benchmarks' shape
/// (see the module documentation). Deterministic for a seed.
pub fn plan_year(
    places: &[Place],
    count: usize,
    categories: &[crate::events::Category],
    now: i64,
    seed: u64,
) -> Vec<GenEvent> {
    let mut events = Vec::with_capacity(count);
    if places.is_empty() {
        return events;
    }
    let deadline = |code: &str| {
        categories
            .iter()
            .find(|c| c.code == code)
            .map_or(72 * HOUR_MS, |c| c.deadline_minutes * 60_000)
    };
    let name = |code: &str| {
        categories
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_string(), |c| c.name_zh.clone())
    };
    let total_weight: f64 = MIX.iter().map(|(_, w)| w).sum();
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..count {
        let place = &places[rng.gen_range(0..places.len())];
        let mut pick = rng.gen_range(0.0..total_weight);
        let mut category = MIX[0].0;
        for (c, w) in MIX {
            if pick < w {
                category = c;
                break;
            }
            pick -= w;
        }
        // Reports come in the day (07–22 h, China time), somewhat fewer at weekends.
        let mut day_ago = rng.gen_range(0..365i64);
        let weekday = (now / DAY_MS - day_ago + 4).rem_euclid(7);
        if weekday >= 5 && rng.gen_bool(0.3) {
            day_ago = rng.gen_range(0..365);
        }
        let hour = rng.gen_range(7.0..22.0f64);
        let midnight = (now + 8 * HOUR_MS).div_euclid(DAY_MS) * DAY_MS - 8 * HOUR_MS;
        let created_at = midnight - day_ago * DAY_MS + (hour * HOUR_MS as f64) as i64;
        if created_at >= now {
            continue;
        }
        // Handling time: log-normal around 40 % of the deadline; about one in eight runs late.
        let allowed = deadline(category) as f64;
        let handling =
            (allowed * 0.4 * (0.85 * normal(&mut rng)).exp()).max(10.0 * 60_000.0) as i64;
        let closed_at = Some(created_at + handling).filter(|c| *c < now);
        let rating = closed_at.and_then(|_| {
            rng.gen_bool(0.7).then(|| match rng.gen_range(0..100) {
                0..=59 => 5,
                60..=84 => 4,
                85..=92 => 3,
                93..=96 => 2,
                _ => 1,
            })
        });
        let open_state = if now - created_at > HOUR_MS / 2 {
            State::Handling
        } else {
            State::Pending
        };
        let position = place.position.map(|[lon, lat]| {
            [
                lon + rng.gen_range(-0.0003..0.0003),
                lat + rng.gen_range(-0.0003..0.0003),
            ]
        });
        events.push(GenEvent {
            category: category.to_string(),
            description: format!("{}附近：{}", place.name, name(category)),
            region: place.region,
            position,
            // Not linked by id: a rebuilt demo replaces its generated buildings.
            building_id: None,
            created_at,
            closed_at,
            open_state,
            rating,
            source: Source::Generated,
        });
    }
    events
}

impl Store {
    /// Generates the demo's events once; returns how many exist afterwards.
    pub async fn build_demo_events(
        &self,
        district: RegionCode,
        scale: f64,
        progress: &dyn Progress,
    ) -> Result<i64> {
        let existing = self.generated_events().await?;
        if existing > 0 || scale <= 0.0 {
            return Ok(existing);
        }
        let range = district.range();
        let buildings: Vec<(i64, i64, i64, f64, f64, String)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, region_key, region_level, lon, lat, name FROM buildings \
                 WHERE region_key >= $1 AND region_key < $2 AND lon IS NOT NULL AND lat IS NOT NULL ORDER BY id",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        });
        if buildings.is_empty() {
            return Ok(0);
        }
        let places: Vec<Place> = buildings
            .into_iter()
            .filter_map(|(_, key, level, lon, lat, name)| {
                let region = i16::try_from(level)
                    .ok()
                    .and_then(Level::from_number)
                    .and_then(|l| RegionCode::from_key(key, l))?;
                Some(Place {
                    region,
                    position: Some([lon, lat]),
                    name,
                })
            })
            .collect();
        let count = (EVENTS_PER_MONTH * 12.0 * scale).round() as usize;
        let categories = self.categories().await?;
        let mut events = plan_year(&places, count, &categories, now_ms(), SEED);
        events.sort_by_key(|e| e.created_at);
        self.insert_generated_events(&events, true, progress)
            .await?;
        self.generated_events().await
    }
}
