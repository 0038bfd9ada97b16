//! Staffing figures for the demo district's communities, generated (and labelled so in the
//! audit log and in `updated_by`): community workers near 上城区's 22.4 per 10,000
//! residents, licensed elderly-care staff near 22.4 per 10,000 elderly, infant-care places
//! near 3.15 per 1,000 residents (practice 002), each community drawn from a spread around
//! those rates so that the ranking has something to rank.

use linli_core::{Level, RegionCode};

use crate::audit::Actor;
use crate::regions::level_number;
use crate::{on_read, Result, Store};

/// A number in [0, 1) from a community's key: the same figures on every rebuild.
fn unit(key: i64, salt: u64) -> f64 {
    let mut z = (key as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Store {
    /// Writes generated staffing figures for every community of `district` that has
    /// residents; answers how many communities got them.
    pub async fn generate_demo_figures(&self, district: RegionCode) -> Result<usize> {
        let range = district.range();
        let year: i64 = linli_core::china_time::format(crate::now_ms(), "%Y")
            .parse()
            .unwrap_or(1970);
        let rows: Vec<(i64, i64, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT r.key, \
                        CAST(COALESCE(SUM(s.residents), 0) AS BIGINT), \
                        CAST(COALESCE(SUM(CASE WHEN s.birth_year <= $3 THEN s.residents ELSE 0 END), 0) AS BIGINT) \
                 FROM regions r LEFT JOIN registry_stats s ON s.community_key = r.key \
                 WHERE r.level = $4 AND r.key >= $1 AND r.key < $2 GROUP BY r.key",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(year - 60)
            .bind(level_number(Level::Community))
            .fetch_all(p)
            .await?
        });
        let actor = Actor::system("linli demo (generated)");
        let mut written = 0;
        for (key, residents, elderly) in rows {
            let Some(community) = RegionCode::from_key(key, Level::Community) else {
                continue;
            };
            if residents <= 0 {
                continue;
            }
            let (r, e) = (residents as f64, elderly as f64);
            let figures = [
                (
                    "community_workers",
                    (r * (12.0 + 22.0 * unit(key, 1)) / 10_000.0).round(),
                ),
                (
                    "elderly_care_staff",
                    (e * (10.0 + 25.0 * unit(key, 2)) / 10_000.0).round(),
                ),
                (
                    "infant_care_places",
                    (r * (1.0 + 4.5 * unit(key, 3)) / 1_000.0).round(),
                ),
            ];
            let figures: Vec<(String, Option<f64>)> = figures
                .iter()
                .map(|(n, v)| ((*n).to_string(), Some(*v)))
                .collect();
            self.set_community_figures(&actor, community, &figures)
                .await?;
            written += 1;
        }
        Ok(written)
    }
}
