//! Registry figures for a region: residents, households, buildings, facilities, renters,
//! age bands, tagged groups, and the 融合型大社区 classification.
//!
//! For a community or anything above it, the figures add up the per-community rows of
//! `registry_stats` and `registry_counts`, which every write recomputes for the communities
//! it touched ([`refresh_stats!`]). Age bands stay exact without a daily job: residents are
//! counted there by birth year, so a band is whole years from the table plus the one
//! boundary year counted live from the birth index. Below a community (a grid, a
//! micro-grid) the figures are counted live: a few thousand rows at most.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use linli_core::region::KeyRange;
use linli_core::registry::{date_key, BirthBound, Tag};
use linli_core::{Level, RegionCode};
use serde::Serialize;

use crate::{on_read, Result, Store};

/// Practice 003: a 融合型大社区 has at least 3,000 households or 10,000 residents, and
/// renters are at least half of its residents.
pub const LARGE_HOUSEHOLDS: i64 = 3_000;
pub const LARGE_RESIDENTS: i64 = 10_000;
pub const LARGE_RENTER_SHARE: f64 = 0.5;

/// Whether a community is a 融合型大社区 by practice 003's rule.
pub fn is_large_community(households: i64, residents: i64, renters: i64) -> bool {
    (households >= LARGE_HOUSEHOLDS || residents >= LARGE_RESIDENTS)
        && residents > 0
        && renters as f64 / residents as f64 >= LARGE_RENTER_SHARE
}

/// The bits of the tags that make an older person "alone" for the key-elderly count.
pub fn lonely_mask() -> i64 {
    Tag::LivingAlone.bit() | Tag::Solitary.bit() | Tag::EmptyNest.bit()
}

/// The registry's figures for one region.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RegistrySummary {
    pub residents: i64,
    pub households: i64,
    pub buildings: i64,
    pub facilities: i64,
    pub hubs: i64,
    pub renters: i64,
    /// Renters' share of residents, 0–1 (0 when there are no residents).
    pub renter_share: f64,
    pub age60: i64,
    pub age80: i64,
    pub under3: i64,
    pub under18: i64,
    /// 重点老人: 80 or over, or 60 or over and living alone, solitary or empty-nest.
    pub key_elderly: i64,
    /// Residents carrying each assigned tag, by tag code.
    pub tags: BTreeMap<String, i64>,
    /// The 融合型大社区 in the region (the region itself when it is one).
    pub large_communities: Vec<String>,
}

/// Recomputes the per-community figures of `$community_key` on `$tx`: one grouped pass
/// over the community's residents and a handful of counts over its other records, all
/// bounded by its key range.
macro_rules! refresh_stats {
    ($tx:expr, $community_key:expr) => {{
        let community_key: i64 = $community_key;
        let range = $crate::registry::stats::community_range(community_key);
        sqlx::query("DELETE FROM registry_stats WHERE community_key = $1")
            .bind(community_key)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "INSERT INTO registry_stats (community_key, birth_year, residents, renters, lonely) \
             SELECT $1, birth / 10000, COUNT(*), CAST(SUM(renter) AS BIGINT), \
                    CAST(SUM(CASE WHEN (flags & $2) <> 0 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM residents WHERE region_key >= $3 AND region_key < $4 GROUP BY birth / 10000",
        )
        .bind(community_key)
        .bind($crate::registry::stats::lonely_mask())
        .bind(range.start)
        .bind(range.end)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("DELETE FROM registry_counts WHERE community_key = $1")
            .bind(community_key)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "INSERT INTO registry_counts (community_key, name, n) \
             SELECT $1, 'households', COUNT(*) FROM households WHERE region_key >= $2 AND region_key < $3 \
             UNION ALL SELECT $1, 'renter_households', COUNT(*) FROM households \
                 WHERE region_key >= $2 AND region_key < $3 AND tenure = 'renter' \
             UNION ALL SELECT $1, 'buildings', COUNT(*) FROM buildings WHERE region_key >= $2 AND region_key < $3 \
             UNION ALL SELECT $1, 'facilities', COUNT(*) FROM facilities WHERE region_key >= $2 AND region_key < $3 \
             UNION ALL SELECT $1, 'hubs', COUNT(*) FROM hubs WHERE region_key >= $2 AND region_key < $3 \
             UNION ALL SELECT $1, 'tag:' || tag, COUNT(*) FROM resident_tags \
                 WHERE region_key >= $2 AND region_key < $3 GROUP BY tag",
        )
        .bind(community_key)
        .bind(range.start)
        .bind(range.end)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use refresh_stats;

/// The key range of the community whose key is `community_key`.
pub(crate) fn community_range(community_key: i64) -> KeyRange {
    RegionCode::from_key(community_key, Level::Community)
        .map(|c| c.range())
        .unwrap_or(KeyRange {
            start: community_key,
            end: community_key + 1,
        })
}

/// The first day of `d`'s year, as a date key.
fn year_start(d: NaiveDate) -> i32 {
    d.year() * 10_000 + 101
}

/// An age band split for counting: whole birth years on one side of `year` from
/// `registry_stats`, and the days `live_from..=live_to` (date keys) of the boundary year
/// from the residents themselves.
struct Band {
    /// Whole years before (`older`) or after the boundary year.
    older: bool,
    year: i64,
    live_from: i32,
    live_to: i32,
}

impl Band {
    /// A band that counts nobody (a tag without a birth bound).
    const EMPTY: Band = Band {
        older: false,
        year: i64::MAX,
        live_from: 1,
        live_to: 0,
    };

    fn of(bound: BirthBound) -> Band {
        match bound {
            BirthBound::OnOrBefore(d) => Band {
                older: true,
                year: i64::from(d.year()),
                live_from: year_start(d),
                live_to: date_key(d),
            },
            BirthBound::After(d) => Band {
                older: false,
                year: i64::from(d.year()),
                live_from: date_key(d) + 1,
                live_to: d.year() * 10_000 + 1231,
            },
        }
    }

    /// The whole-years condition on `registry_stats`, its year bound as parameter `$n`.
    fn years_sql(&self, n: usize) -> String {
        if self.older {
            format!("birth_year < ${n}")
        } else {
            format!("birth_year > ${n}")
        }
    }
}

impl Store {
    /// The registry's figures for `code` (the whole country for `None`), as of `today`.
    pub async fn registry_summary(
        &self,
        code: Option<RegionCode>,
        today: NaiveDate,
    ) -> Result<RegistrySummary> {
        let range = code
            .map(|c| c.range())
            .unwrap_or(linli_core::Scope::Nation.range());
        let live = matches!(
            code.map(|c| c.level()),
            Some(Level::Grid | Level::MicroGrid)
        );
        if live {
            self.summary_live(range, today).await
        } else {
            self.summary_from_stats(range, today).await
        }
    }

    async fn summary_from_stats(
        &self,
        range: KeyRange,
        today: NaiveDate,
    ) -> Result<RegistrySummary> {
        let bands = [Tag::Age60, Tag::Age80, Tag::Under3, Tag::Under18]
            .map(|t| t.birth_bound(today).map(Band::of).unwrap_or(Band::EMPTY));
        // One pass over the community rows of `registry_stats`: per community, residents
        // and renters (for the totals and the classification), and each band's whole
        // birth years with the lonely among them.
        let mut sums = String::new();
        for (i, band) in bands.iter().enumerate() {
            let years = band.years_sql(3 + i);
            sums.push_str(&format!(
                ", CAST(COALESCE(SUM(CASE WHEN {years} THEN residents ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN {years} THEN lonely ELSE 0 END), 0) AS BIGINT)"
            ));
        }
        let sql = format!(
            "SELECT community_key, CAST(SUM(residents) AS BIGINT), CAST(SUM(renters) AS BIGINT){sums} \
             FROM registry_stats WHERE community_key >= $1 AND community_key < $2 \
             GROUP BY community_key"
        );
        let communities: Vec<Vec<i64>> = on_read!(self, p => {
            use sqlx::Row;
            let rows = sqlx::query(&sql)
                .bind(range.start)
                .bind(range.end)
                .bind(bands[0].year)
                .bind(bands[1].year)
                .bind(bands[2].year)
                .bind(bands[3].year)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| (0..3 + 2 * bands.len()).map(|i| r.try_get::<i64, _>(i)).collect())
                .collect::<std::result::Result<_, _>>()?
        });
        let counts: Vec<(i64, String, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT community_key, name, n FROM registry_counts \
                 WHERE community_key >= $1 AND community_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        });
        let mut s = RegistrySummary::default();
        let mut households_of: BTreeMap<i64, i64> = BTreeMap::new();
        for (community, name, n) in &counts {
            match name.as_str() {
                "households" => {
                    s.households += n;
                    households_of.insert(*community, *n);
                }
                "buildings" => s.buildings += n,
                "facilities" => s.facilities += n,
                "hubs" => s.hubs += n,
                other => {
                    if let Some(tag) = other.strip_prefix("tag:") {
                        *s.tags.entry(tag.to_string()).or_default() += n;
                    }
                }
            }
        }
        // Per band: (residents, lonely), whole years first.
        let mut born = [(0i64, 0i64); 4];
        for row in &communities {
            let (community, residents, renters) = (row[0], row[1], row[2]);
            s.residents += residents;
            s.renters += renters;
            for (i, b) in born.iter_mut().enumerate() {
                b.0 += row[3 + 2 * i];
                b.1 += row[4 + 2 * i];
            }
            let households = households_of.get(&community).copied().unwrap_or(0);
            if is_large_community(households, residents, renters) {
                if let Some(code) = RegionCode::from_key(community, Level::Community) {
                    s.large_communities.push(code.to_string());
                }
            }
        }
        s.renter_share = share(s.renters, s.residents);
        // Then each band's boundary year, counted live.
        for (b, band) in born.iter_mut().zip(&bands) {
            let (n, lonely) = self.born_in(range, band).await?;
            b.0 += n;
            b.1 += lonely;
        }
        let [(age60, lonely60), (age80, lonely80), (under3, _), (under18, _)] = born;
        s.age60 = age60;
        s.age80 = age80;
        s.under3 = under3;
        s.under18 = under18;
        s.key_elderly = age80 + lonely60 - lonely80;
        Ok(s)
    }

    /// Residents (and the lonely among them) in `range` born in a band's boundary year on
    /// its side of the bound: an index-only range of the birth index (birth, region, flags).
    async fn born_in(&self, range: KeyRange, band: &Band) -> Result<(i64, i64)> {
        if band.live_from > band.live_to {
            return Ok((0, 0));
        }
        let edge: (i64, i64) = on_read!(self, p => {
            sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN (flags & $1) <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM residents WHERE birth >= $2 AND birth <= $3 AND region_key >= $4 AND region_key < $5",
            )
            .bind(lonely_mask())
            .bind(i64::from(band.live_from))
            .bind(i64::from(band.live_to))
            .bind(range.start)
            .bind(range.end)
            .fetch_one(p)
            .await?
        });
        Ok(edge)
    }

    /// The figures for a grid or micro-grid, counted from its rows.
    async fn summary_live(&self, range: KeyRange, today: NaiveDate) -> Result<RegistrySummary> {
        let bound = |t: Tag| match t.birth_bound(today) {
            Some(BirthBound::OnOrBefore(d)) | Some(BirthBound::After(d)) => i64::from(date_key(d)),
            None => 0,
        };
        let mut tag_sums = String::new();
        for tag in Tag::ASSIGNED {
            tag_sums.push_str(&format!(
                ", CAST(COALESCE(SUM(CASE WHEN (flags & {}) <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT)",
                tag.bit()
            ));
        }
        let mask = lonely_mask();
        let sql = format!(
            "SELECT COUNT(*), \
             CAST(COALESCE(SUM(renter), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN birth <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN birth <= $2 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN birth > $3 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN birth > $4 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN birth <= $2 OR (birth <= $1 AND (flags & {mask}) <> 0) THEN 1 ELSE 0 END), 0) AS BIGINT) \
             {tag_sums} \
             FROM residents WHERE region_key >= $5 AND region_key < $6"
        );
        let row: Vec<i64> = on_read!(self, p => {
            use sqlx::Row;
            let r = sqlx::query(&sql)
                .bind(bound(Tag::Age60))
                .bind(bound(Tag::Age80))
                .bind(bound(Tag::Under3))
                .bind(bound(Tag::Under18))
                .bind(range.start)
                .bind(range.end)
                .fetch_one(p)
                .await?;
            (0..7 + Tag::ASSIGNED.len())
                .map(|i| r.try_get::<i64, _>(i))
                .collect::<std::result::Result<Vec<i64>, _>>()?
        });
        let counts: Vec<(String, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT 'households', COUNT(*) FROM households WHERE region_key >= $1 AND region_key < $2 \
                 UNION ALL SELECT 'buildings', COUNT(*) FROM buildings WHERE region_key >= $1 AND region_key < $2 \
                 UNION ALL SELECT 'facilities', COUNT(*) FROM facilities WHERE region_key >= $1 AND region_key < $2 \
                 UNION ALL SELECT 'hubs', COUNT(*) FROM hubs WHERE region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        });
        let count = |name: &str| {
            counts
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| *c)
                .unwrap_or(0)
        };
        let mut s = RegistrySummary {
            residents: row[0],
            renters: row[1],
            age60: row[2],
            age80: row[3],
            under3: row[4],
            under18: row[5],
            key_elderly: row[6],
            households: count("households"),
            buildings: count("buildings"),
            facilities: count("facilities"),
            hubs: count("hubs"),
            ..RegistrySummary::default()
        };
        for (i, tag) in Tag::ASSIGNED.iter().enumerate() {
            let n = row[7 + i];
            if n > 0 {
                s.tags.insert(tag.as_str().to_string(), n);
            }
        }
        s.renter_share = share(s.renters, s.residents);
        Ok(s)
    }
}

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
