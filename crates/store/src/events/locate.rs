//! Locating a report: point → micro-grid → grid → community, by the boundaries people drew
//! or imported, else by the nearest registered building, all within the district whose
//! boundary holds the point. A point outside every district boundary linli has is refused.
//!
//! A batch of reports is located together: the buildings near any of its points are read
//! at once, then each point is placed on its own.
//!
//! Boundaries are parsed once and kept in a [`ShapeCache`] keyed by region and its
//! `updated_at`, so an edited boundary is re-read and an unchanged one never is. The boxes
//! of all boundaries (which to test a point against) are kept too, read again once older than
//! a second or when this process changed a boundary, so that a report costs no boundary
//! query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use linli_core::geo::{cells_around, haversine_m, MultiPolygon, Position};
use linli_core::region::{KeyRange, Level, RegionCode, KEY_END};
use linli_core::Problem;

use crate::fresh::Fresh;
use crate::{on_read, Result, Store, StoreError};

/// Parsed boundaries by (table, level, key), with the `updated_at` they were parsed at.
type Shapes = HashMap<(u8, i64, i64), (i64, Arc<MultiPolygon>)>;

#[derive(Default, Debug)]
pub struct ShapeCache {
    shapes: Mutex<Shapes>,
    outlines: Fresh<Outlines>,
}

/// The boxes of every boundary a point may be located by.
#[derive(Debug, Default)]
struct Outlines {
    /// Districts, streets and communities (the map layers).
    admin: Vec<Candidate>,
    /// Grids and micro-grids with a drawn boundary.
    grids: Vec<Candidate>,
    /// Whether any district boundary is known: a point in none of them is then outside.
    districts: bool,
}

/// Where a boundary is kept: the map layers (districts, streets, communities) or the grids.
const MAP_LAYER: u8 = 0;
const GRID: u8 = 1;

/// How far from a point a building may be and still say where the point is: two cells,
/// about 400 m.
const BUILDING_RINGS: i64 = 2;
const BUILDING_MAX_M: f64 = 400.0;

/// (level, key, updated_at, min_lon, min_lat, max_lon, max_lat)
type Candidate = (i64, i64, i64, f64, f64, f64, f64);

fn bbox_holds(c: &Candidate, p: Position) -> bool {
    c.3 <= p[0] && p[0] <= c.5 && c.4 <= p[1] && p[1] <= c.6
}

fn code_of(level: i64, key: i64) -> Option<RegionCode> {
    i16::try_from(level)
        .ok()
        .and_then(Level::from_number)
        .and_then(|l| RegionCode::from_key(key, l))
}

impl Store {
    /// Drops the boxes of the boundaries kept in memory, after this process changed one.
    pub(crate) fn forget_boundaries(&self) {
        self.shapes.outlines.forget();
    }

    /// The boxes of all boundaries, from memory while fresh (see [`Fresh`]).
    async fn outlines(&self) -> Result<Arc<Outlines>> {
        self.shapes
            .outlines
            .get_or_read(|| async {
                let (admin, grids): (Vec<Candidate>, Vec<Candidate>) = on_read!(self, pool => {
                    let admin = sqlx::query_as(
                        "SELECT CAST(level AS BIGINT), key, updated_at, min_lon, min_lat, max_lon, max_lat FROM map_layers \
                         WHERE kind = 'boundary' AND level BETWEEN 3 AND 5",
                    )
                    .fetch_all(pool)
                    .await?;
                    let grids = sqlx::query_as(
                        "SELECT CAST(level AS BIGINT), key, updated_at, min_lon, min_lat, max_lon, max_lat FROM grid_details \
                         WHERE boundary IS NOT NULL",
                    )
                    .fetch_all(pool)
                    .await?;
                    (admin, grids)
                });
                Ok(Outlines {
                    districts: admin.iter().any(|c: &Candidate| c.0 == 3),
                    admin,
                    grids,
                })
            })
            .await
    }

    /// The shape of a boundary, from the cache or parsed from the database.
    async fn shape(
        &self,
        table: u8,
        level: i64,
        key: i64,
        updated_at: i64,
    ) -> Result<Option<Arc<MultiPolygon>>> {
        if let Ok(cache) = self.shapes.shapes.lock() {
            if let Some((at, shape)) = cache.get(&(table, level, key)) {
                if *at == updated_at {
                    return Ok(Some(shape.clone()));
                }
            }
        }
        let data: Option<Option<String>> = on_read!(self, p => {
            let sql = if table == MAP_LAYER {
                "SELECT data FROM map_layers WHERE level = $1 AND key = $2 AND kind = 'boundary'"
            } else {
                "SELECT boundary FROM grid_details WHERE level = $1 AND key = $2"
            };
            sqlx::query_scalar(sql).bind(level).bind(key).fetch_optional(p).await?
        });
        let Some(Some(text)) = data else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("boundary of {level}/{key}: {e}")))?;
        let shape = Arc::new(MultiPolygon::from_geojson(&value).map_err(|e| {
            StoreError::Corrupt(format!("boundary of {level}/{key}: {}", e.path()))
        })?);
        if let Ok(mut cache) = self.shapes.shapes.lock() {
            cache.insert((table, level, key), (updated_at, shape.clone()));
        }
        Ok(Some(shape))
    }

    /// The deepest of `candidates` whose boundary holds `p`.
    async fn deepest_holding(
        &self,
        table: u8,
        candidates: impl Iterator<Item = &Candidate>,
        p: Position,
    ) -> Result<Option<RegionCode>> {
        let mut best: Option<RegionCode> = None;
        for c in candidates.filter(|c| bbox_holds(c, p)) {
            let Some(code) = code_of(c.0, c.1) else {
                continue;
            };
            if best.is_some_and(|b| b.level() >= code.level()) {
                continue;
            }
            if let Some(shape) = self.shape(table, c.0, c.1, c.2).await? {
                if shape.contains(p) {
                    best = Some(code);
                }
            }
        }
        Ok(best)
    }

    /// The region a point lies in (see the module documentation).
    pub async fn locate_point(&self, p: Position) -> Result<RegionCode> {
        self.locate_points(&[p])
            .await?
            .pop()
            .unwrap_or_else(|| Err(outside(p)))
    }

    /// The region each point lies in, read for all of them at once: the boundaries from
    /// memory, the buildings near any of the points in one query, then each point on its
    /// own. The outer `Err` is a database failure; an inner one says why that point has no
    /// place.
    pub(crate) async fn locate_points(
        &self,
        points: &[Position],
    ) -> Result<Vec<Result<RegionCode>>> {
        if points.is_empty() {
            return Ok(Vec::new());
        }
        let outlines = self.outlines().await?;
        let mut admin_regions = Vec::with_capacity(points.len());
        for &p in points {
            admin_regions.push(
                self.deepest_holding(MAP_LAYER, outlines.admin.iter(), p)
                    .await?,
            );
        }
        let ranges: Vec<KeyRange> = admin_regions
            .iter()
            .map(|a| {
                a.map_or(
                    KeyRange {
                        start: 0,
                        end: KEY_END,
                    },
                    |r| linli_core::events::unit::ancestor_at(r, Level::District).range(),
                )
            })
            .collect();
        let mut out: Vec<Option<Result<RegionCode>>> = Vec::with_capacity(points.len());
        for (i, &p) in points.iter().enumerate() {
            if admin_regions[i].is_none() && outlines.districts {
                out.push(Some(Err(outside(p))));
                continue;
            }
            let range = ranges[i];
            let in_range = outlines
                .grids
                .iter()
                .filter(|c| range.start <= c.1 && c.1 < range.end);
            out.push(self.deepest_holding(GRID, in_range, p).await?.map(Ok));
        }

        // The rest by the nearest registered building.
        let mut cells: Vec<i64> = points
            .iter()
            .zip(&out)
            .filter(|(_, o)| o.is_none())
            .flat_map(|(p, _)| cells_around(*p, BUILDING_RINGS))
            .collect();
        cells.sort_unstable();
        cells.dedup();
        let near: Vec<(i64, i64, f64, f64)> = if cells.is_empty() {
            Vec::new()
        } else {
            on_read!(self, pool => {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "SELECT region_key, region_level, lon, lat FROM buildings WHERE cell IN (",
                );
                let mut sep = q.separated(", ");
                for c in &cells {
                    sep.push_bind(*c);
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await?
            })
        };
        Ok(points
            .iter()
            .zip(out)
            .enumerate()
            .map(|(i, (&p, found))| {
                found.unwrap_or_else(|| {
                    let range = ranges[i];
                    let nearest = near
                        .iter()
                        .filter(|(k, ..)| range.start <= *k && *k < range.end)
                        .map(|(k, l, lon, lat)| (haversine_m(p, [*lon, *lat]), *k, *l))
                        .filter(|(d, _, _)| *d <= BUILDING_MAX_M)
                        .min_by(|a, b| a.0.total_cmp(&b.0));
                    let admin_region = admin_regions[i];
                    if let Some(code) = nearest.and_then(|(_, k, l)| code_of(l, k)) {
                        // The building's own region may be finer than what drew boundaries;
                        // an admin boundary deeper than the building's region wins.
                        return Ok(match admin_region {
                            Some(a) if a.level() > code.level() => a,
                            _ => code,
                        });
                    }
                    admin_region.ok_or_else(|| {
                        StoreError::Invalid(
                            Problem::new("event_unlocated", "events.unlocated")
                                .arg("lon", p[0])
                                .arg("lat", p[1])
                                .field("lon"),
                        )
                    })
                })
            })
            .collect())
    }
}

fn outside(p: Position) -> StoreError {
    StoreError::Invalid(
        Problem::new("event_outside_district", "events.outside_district")
            .arg("lon", p[0])
            .arg("lat", p[1])
            .field("lon"),
    )
}
