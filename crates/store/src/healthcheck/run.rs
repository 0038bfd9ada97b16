//! One health-check run over a region: read the buildings (weighted by their residents), the
//! facilities and the walking network; walk from every building to the nearest facility of
//! every type; score, rank and flag the communities (linli_core::healthcheck); store the
//! results with the run's time and inputs.
//!
//! Facilities are read for the whole district around the region, so that a community at a
//! street's edge is served by the school just across it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use linli_access::nearest::nearest_by_type_observed;
use linli_access::network::{self, Segments};
use linli_access::{Graph, Snap, SnapMode, Snapper};
use linli_core::healthcheck::{medians, score, CommunityInput, Scored};
use linli_core::registry::FacilityType;
use linli_core::{Level, Problem, RegionCode};
use serde_json::{json, Value};

use crate::audit::Actor;
use crate::regions::level_number;
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

/// Where the walking network comes from.
#[derive(Debug, Clone, Copy)]
pub enum NetworkInput<'a> {
    /// An OSM PBF, GeoJSON lines or graph CSV file.
    File(&'a Path),
    /// The nearest roads map layer at or above the region.
    Stored,
}

/// Progress of a run, for a bar: stages in order, each with its total.
pub trait HealthcheckProgress: Sync {
    fn stage(&self, _key: &'static str, _total: u64) {}
    fn advance(&self, _n: u64) {}
}

impl HealthcheckProgress for crate::divisions::Quiet {}

/// A point further than this from any walkable line is not placed on the network.
pub(crate) const MAX_SNAP_M: f64 = 500.0;

/// A run still running this long after it began is taken for abandoned (its process
/// stopped): a whole district takes seconds.
pub const ABANDONED_AFTER_MS: i64 = 30 * 60 * 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub run_id: i64,
    pub communities: usize,
    pub assessed: usize,
    pub flagged: usize,
    pub buildings: usize,
    pub placed_buildings: usize,
    pub facilities: usize,
    pub types: usize,
    /// Milliseconds: reading, building the network, walking, saving.
    pub load_ms: u64,
    pub network_ms: u64,
    pub walk_ms: u64,
    pub save_ms: u64,
}

struct Building {
    id: i64,
    community: i64,
    name: String,
    position: Option<[f64; 2]>,
    residents: u64,
}

struct Facility {
    community: i64,
    type_code: String,
    position: Option<[f64; 2]>,
    floor_area_m2: Option<f64>,
}

/// What the walk found, per building and type.
struct Walked {
    /// `[type][building]`.
    meters: Vec<Vec<Option<f64>>>,
    placed: Vec<bool>,
    nodes: usize,
    edges: usize,
    components: usize,
    placed_facilities: usize,
    network_ms: u64,
    walk_ms: u64,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

impl Store {
    /// Runs the health check for a district, street or community and stores its results.
    pub async fn run_healthcheck(
        &self,
        actor: &Actor,
        region: RegionCode,
        network: NetworkInput<'_>,
        progress: &dyn HealthcheckProgress,
    ) -> Result<RunReport> {
        if !matches!(
            region.level(),
            Level::District | Level::Street | Level::Community
        ) {
            return Err(StoreError::Invalid(
                Problem::new("not_for_level", "hc.not_for_level")
                    .arg("code", region)
                    .arg_key("level", region.level().label_key()),
            ));
        }
        if self.region(region).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let network_label = match network {
            NetworkInput::File(p) => format!("file {}", p.display()),
            NetworkInput::Stored => "roads map layer".to_string(),
        };
        let run_id = self.start_run(actor, region, &network_label).await?;
        match self
            .run_inner(run_id, region, network, &network_label, progress)
            .await
        {
            Ok(report) => Ok(report),
            Err(e) => {
                let message = match &e {
                    StoreError::Invalid(p) => p.message(linli_core::i18n::Lang::Zh),
                    other => other.to_string(),
                };
                self.finish_run_failed(run_id, &message).await?;
                Err(e)
            }
        }
    }

    async fn start_run(&self, actor: &Actor, region: RegionCode, network: &str) -> Result<i64> {
        let now = now_ms();
        Ok(on_write!(self, p => {
            // A run still "running" long after it began belongs to a process that stopped
            // (runs take seconds): say so, so that nobody waits on it.
            sqlx::query(
                "UPDATE healthcheck_runs SET state = 'failed', finished_at = $1, error = $2 \
                 WHERE state = 'running' AND region_level = $3 AND region_key = $4 AND started_at < $5",
            )
            .bind(now)
            .bind(linli_core::i18n::text(linli_core::i18n::Lang::Zh, "hc.abandoned"))
            .bind(level_number(region.level()))
            .bind(region.key())
            .bind(now - ABANDONED_AFTER_MS)
            .execute(p)
            .await?;
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO healthcheck_runs (region_key, region_level, state, stage, started_at, started_by, inputs) \
                 VALUES ($1, $2, 'running', 'load', $3, $4, $5) RETURNING id",
            )
            .bind(region.key())
            .bind(level_number(region.level()))
            .bind(now)
            .bind(&actor.username)
            .bind(json!({"network": network}).to_string())
            .fetch_one(p)
            .await?
        }))
    }

    async fn set_stage(&self, run_id: i64, stage: &str, done: u64, total: u64) -> Result<()> {
        on_write!(self, p => {
            sqlx::query("UPDATE healthcheck_runs SET stage = $1, done = $2, total = $3 WHERE id = $4")
                .bind(stage)
                .bind(done as i64)
                .bind(total as i64)
                .bind(run_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn finish_run_failed(&self, run_id: i64, error: &str) -> Result<()> {
        on_write!(self, p => {
            sqlx::query("UPDATE healthcheck_runs SET state = 'failed', error = $1, finished_at = $2 WHERE id = $3")
                .bind(error)
                .bind(now_ms())
                .bind(run_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn run_inner(
        &self,
        run_id: i64,
        region: RegionCode,
        network: NetworkInput<'_>,
        network_label: &str,
        progress: &dyn HealthcheckProgress,
    ) -> Result<RunReport> {
        let started = Instant::now();
        progress.stage("hc.stage.load", 1);
        let district = std::iter::once(region)
            .chain(region.ancestors())
            .find(|c| c.level() == Level::District)
            .unwrap_or(region);
        let types = self.facility_types().await?;
        let weights = self.healthcheck_weights().await?;
        let communities = self.communities_in(region).await?;
        let buildings = self.buildings_with_residents(region).await?;
        let facilities = self.facilities_in(district).await?;
        let elderly = self.elderly_by_community(region).await?;
        let figures = self.community_figures(region).await?;
        progress.advance(1);
        let load_ms = ms(started);

        self.set_stage(run_id, "network", 0, 1).await?;
        progress.stage("hc.stage.network", 1);
        let file = match network {
            NetworkInput::File(path) => Some(path),
            NetworkInput::Stored => None,
        };
        let segments = self.walking_segments(region, file).await?;
        progress.advance(1);

        self.set_stage(run_id, "types", 0, types.len() as u64)
            .await?;
        progress.stage("hc.stage.types", types.len() as u64);
        let done = Arc::new(AtomicU64::new(0));
        let (walked, shown) = {
            let positions: Vec<Option<[f64; 2]>> = buildings.iter().map(|b| b.position).collect();
            let by_type: Vec<Vec<Option<[f64; 2]>>> = types
                .iter()
                .map(|t| {
                    facilities
                        .iter()
                        .filter(|f| f.type_code == t.code)
                        .map(|f| f.position)
                        .collect()
                })
                .collect();
            let cap = types
                .iter()
                .map(|t| f64::from(t.radius_m))
                .fold(0.0, f64::max);
            let counter = Arc::clone(&done);
            let walk = tokio::task::spawn_blocking(move || {
                walk(&segments, &positions, &by_type, cap, &counter)
            });
            // The run's row shows the count of types done while the walk goes on.
            let mut ticker = tokio::time::interval(std::time::Duration::from_millis(250));
            tokio::pin!(walk);
            let mut shown = 0;
            loop {
                tokio::select! {
                    result = &mut walk => break (result.map_err(|e| StoreError::Config(format!("the walk stopped: {e}")))?, shown),
                    _ = ticker.tick() => {
                        let now = done.load(Ordering::Relaxed);
                        if now > shown {
                            progress.advance(now - shown);
                            shown = now;
                            self.set_stage(run_id, "types", now, types.len() as u64).await?;
                        }
                    }
                }
            }
        };
        progress.advance(done.load(Ordering::Relaxed).saturating_sub(shown));

        let save_started = Instant::now();
        self.set_stage(run_id, "save", 0, 1).await?;
        progress.stage("hc.stage.save", 1);
        let inputs = summarise(
            &communities,
            &buildings,
            &facilities,
            &walked,
            &types,
            &elderly,
            &figures,
        );
        let scored = score(&inputs, &types, &weights);
        let medians = medians(&scored);
        let rows = result_rows(&communities, &buildings, &walked, &types, &inputs, &scored);
        let report = RunReport {
            run_id,
            communities: communities.len(),
            assessed: scored.iter().filter(|s| s.assessed).count(),
            flagged: scored.iter().filter(|s| s.flagged).count(),
            buildings: buildings.len(),
            placed_buildings: walked.placed.iter().filter(|p| **p).count(),
            facilities: facilities.len(),
            types: types.len(),
            load_ms,
            network_ms: walked.network_ms,
            walk_ms: walked.walk_ms,
            save_ms: 0,
        };
        let run_inputs = json!({
            "network": network_label,
            "network_file": match network {
                NetworkInput::File(p) => Some(p.display().to_string()),
                NetworkInput::Stored => None,
            },
            "nodes": walked.nodes,
            "edges": walked.edges,
            "components": walked.components,
            "types": types.iter().map(|t| json!({"code": t.code, "radius_m": t.radius_m})).collect::<Vec<_>>(),
            "weights": weights.iter().map(|w| json!({"indicator": w.indicator, "weight": w.weight, "target": w.target})).collect::<Vec<_>>(),
            "buildings": report.buildings,
            "placed_buildings": report.placed_buildings,
            "facilities": report.facilities,
            "placed_facilities": walked.placed_facilities,
            "max_snap_m": MAX_SNAP_M,
            "medians": medians.iter().map(|(c, m)| json!({"indicator": c, "median": m})).collect::<Vec<_>>(),
            "timings_ms": {"load": load_ms, "network": walked.network_ms, "walk": walked.walk_ms},
        });
        self.save_results(run_id, &rows, &run_inputs).await?;
        progress.advance(1);
        Ok(RunReport {
            save_ms: ms(save_started),
            ..report
        })
    }

    /// The walking network's segments: read from `file` (off the async threads), or made
    /// from the roads map layer of the region or the nearest region above it. A run and the
    /// siting that follows it read the network this one way.
    pub(crate) async fn walking_segments(
        &self,
        region: RegionCode,
        file: Option<&Path>,
    ) -> Result<Segments> {
        match file {
            Some(path) => {
                let path = path.to_path_buf();
                tokio::task::spawn_blocking(move || network::read(&path))
                    .await
                    .map_err(|e| StoreError::Config(format!("the network reader stopped: {e}")))?
                    .map_err(|e| {
                        StoreError::Invalid(
                            Problem::new("bad_network", "hc.bad_network").arg("error", e),
                        )
                    })
            }
            None => match self.roads_at_or_above(region).await? {
                Some(lines) if !lines.is_empty() => Ok(network::from_lines(&lines)),
                _ => Err(StoreError::Invalid(Problem::new(
                    "no_network",
                    "hc.no_network",
                ))),
            },
        }
    }

    async fn communities_in(&self, region: RegionCode) -> Result<Vec<(i64, String)>> {
        let range = region.range();
        Ok(on_read!(self, p => {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT key, name FROM regions WHERE level = $1 AND key >= $2 AND key < $3 ORDER BY key",
            )
            .bind(level_number(Level::Community))
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        }))
    }

    /// The buildings of the region with the number of residents registered in each: a
    /// range scan of the households, each counting its residents in the covering
    /// household index, grouped by building. The unary plus keeps SQLite from reading every
    /// household in building order (the unique index) to skip the sort: the range is the
    /// cheaper path at every level, and twice as fast for a district as walking the
    /// residents' range and looking up each one's household.
    async fn buildings_with_residents(&self, region: RegionCode) -> Result<Vec<Building>> {
        let range = region.range();
        let (rows, counts) = on_read!(self, p => {
            let rows = sqlx::query_as::<_, (i64, i64, String, Option<f64>, Option<f64>)>(
                "SELECT id, community_key, name, lon, lat FROM buildings \
                 WHERE region_key >= $1 AND region_key < $2 ORDER BY id",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?;
            let counts = sqlx::query_as::<_, (i64, i64)>(
                "SELECT +h.building_id, COUNT(*) FROM households h JOIN residents r ON r.household_id = h.id \
                 WHERE h.region_key >= $1 AND h.region_key < $2 GROUP BY +h.building_id",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?;
            (rows, counts)
        });
        let counts: HashMap<i64, i64> = counts.into_iter().collect();
        Ok(rows
            .into_iter()
            .map(|(id, community, name, lon, lat)| Building {
                id,
                community,
                name,
                position: lon.zip(lat).map(|(lon, lat)| [lon, lat]),
                residents: counts.get(&id).copied().unwrap_or(0).max(0) as u64,
            })
            .collect())
    }

    async fn facilities_in(&self, region: RegionCode) -> Result<Vec<Facility>> {
        let range = region.range();
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, (i64, String, Option<f64>, Option<f64>, Option<f64>)>(
                "SELECT community_key, type_code, lon, lat, floor_area_m2 FROM facilities \
                 WHERE region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(community, type_code, lon, lat, floor_area_m2)| Facility {
                community,
                type_code,
                position: lon.zip(lat).map(|(lon, lat)| [lon, lat]),
                floor_area_m2,
            })
            .collect())
    }

    /// Residents 60 and over per community, from the per-community figures by birth year (a
    /// person born in the boundary year counts as 60).
    async fn elderly_by_community(&self, region: RegionCode) -> Result<HashMap<i64, u64>> {
        let range = region.range();
        let year: i64 = linli_core::china_time::format(now_ms(), "%Y")
            .parse()
            .unwrap_or(1970);
        let born_by = year - 60;
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT community_key, CAST(SUM(residents) AS BIGINT) FROM registry_stats \
                 WHERE community_key >= $1 AND community_key < $2 AND birth_year <= $3 GROUP BY community_key",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(born_by)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(k, n)| (k, n.max(0) as u64))
            .collect())
    }

    async fn save_results(&self, run_id: i64, rows: &[ResultRow], inputs: &Value) -> Result<()> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in rows.chunks(200) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO healthcheck_results (run_id, community_key, residents, assessed, idx, rank, flagged, detail, map) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(run_id)
                        .push_bind(r.community)
                        .push_bind(r.residents as i64)
                        .push_bind(r.assessed)
                        .push_bind(r.index)
                        .push_bind(r.rank.map(i64::from))
                        .push_bind(r.flagged)
                        .push_bind(r.detail.to_string())
                        .push_bind(r.map.to_string());
                });
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE healthcheck_runs SET state = 'done', stage = 'done', done = total, finished_at = $1, inputs = $2 WHERE id = $3",
            )
            .bind(now_ms())
            .bind(inputs.to_string())
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Builds the network and walks from every building to the nearest facility of each type.
fn walk(
    segments: &Segments,
    buildings: &[Option<[f64; 2]>],
    facilities_by_type: &[Vec<Option<[f64; 2]>>],
    cap_m: f64,
    done: &AtomicU64,
) -> Walked {
    let started = Instant::now();
    let graph = Graph::from_segments(segments);
    let components = graph.components().count();
    let snapper = Snapper::new(&graph, SnapMode::Edge);
    let place = |p: &Option<[f64; 2]>| -> Option<Snap> {
        let [lon, lat] = (*p)?;
        snapper
            .snap(lon, lat)
            .filter(|s| s.off_network_m <= MAX_SNAP_M)
    };
    let origins: Vec<Option<Snap>> = {
        use rayon::prelude::*;
        buildings.par_iter().map(place).collect()
    };
    let mut placed_facilities = 0;
    let by_type: Vec<Vec<Snap>> = facilities_by_type
        .iter()
        .map(|fs| {
            let snaps: Vec<Snap> = fs.iter().filter_map(place).collect();
            placed_facilities += snaps.len();
            snaps
        })
        .collect();
    let network_ms = ms(started);
    let walk_started = Instant::now();
    let meters = nearest_by_type_observed(&graph, &origins, &by_type, cap_m, &|| {
        done.fetch_add(1, Ordering::Relaxed);
    });
    Walked {
        meters,
        placed: origins.iter().map(Option::is_some).collect(),
        nodes: graph.node_count(),
        edges: graph.edges.len(),
        components,
        placed_facilities,
        network_ms,
        walk_ms: ms(walk_started),
    }
}

/// Per community: residents, those placed on the network, those within each type's radius,
/// facility floor area, staffing figures.
fn summarise(
    communities: &[(i64, String)],
    buildings: &[Building],
    facilities: &[Facility],
    walked: &Walked,
    types: &[FacilityType],
    elderly: &HashMap<i64, u64>,
    figures: &[(i64, String, f64)],
) -> Vec<CommunityInput> {
    let at: HashMap<i64, usize> = communities
        .iter()
        .enumerate()
        .map(|(i, c)| (c.0, i))
        .collect();
    let mut inputs: Vec<CommunityInput> = communities
        .iter()
        .map(|(key, _)| {
            let figure = |name: &str| {
                figures
                    .iter()
                    .find(|f| f.0 == *key && f.1 == name)
                    .map(|f| f.2)
            };
            CommunityInput {
                community_key: *key,
                residents: 0,
                elderly: elderly.get(key).copied().unwrap_or(0),
                placed_residents: 0,
                covered: types.iter().map(|t| (t.code.clone(), 0)).collect(),
                floor_area_m2: 0.0,
                community_workers: figure("community_workers"),
                elderly_care_staff: figure("elderly_care_staff"),
                infant_care_places: figure("infant_care_places"),
            }
        })
        .collect();
    for (b, building) in buildings.iter().enumerate() {
        let Some(&c) = at.get(&building.community) else {
            continue;
        };
        let input = &mut inputs[c];
        input.residents += building.residents;
        if walked.placed[b] {
            input.placed_residents += building.residents;
        }
        for (t, kind) in types.iter().enumerate() {
            if walked.meters[t][b].is_some_and(|m| m <= f64::from(kind.radius_m)) {
                input.covered[t].1 += building.residents;
            }
        }
    }
    for f in facilities {
        if let (Some(&c), Some(area)) = (at.get(&f.community), f.floor_area_m2) {
            inputs[c].floor_area_m2 += area;
        }
    }
    inputs
}

pub(crate) struct ResultRow {
    community: i64,
    residents: u64,
    assessed: bool,
    index: Option<f64>,
    rank: Option<u32>,
    flagged: bool,
    detail: Value,
    map: Value,
}

fn round(x: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (x * k).round() / k
}

/// The stored rows: the detail (coverage, indicators, weak types with the buildings out of
/// their reach) and the map (each building and its walking metres per type).
fn result_rows(
    communities: &[(i64, String)],
    buildings: &[Building],
    walked: &Walked,
    types: &[FacilityType],
    inputs: &[CommunityInput],
    scored: &[Scored],
) -> Vec<ResultRow> {
    let mut of_community: HashMap<i64, Vec<usize>> = HashMap::new();
    for (b, building) in buildings.iter().enumerate() {
        of_community.entry(building.community).or_default().push(b);
    }
    communities
        .iter()
        .zip(inputs.iter().zip(scored))
        .map(|((key, _), (input, s))| {
            let mine = of_community.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let metres = |t: usize, b: usize| walked.meters[t][b].map(|m| m.round() as i64);
            let weak: Vec<Value> = s
                .weak_types
                .iter()
                .filter_map(|code| {
                    let t = types.iter().position(|x| &x.code == code)?;
                    let share = s.coverage[t].1;
                    let out_of_reach: Vec<Value> = mine
                        .iter()
                        .filter(|&&b| !walked.meters[t][b].is_some_and(|m| m <= f64::from(types[t].radius_m)))
                        .map(|&b| {
                            json!({"id": buildings[b].id, "name": buildings[b].name,
                                   "residents": buildings[b].residents, "meters": metres(t, b),
                                   "placed": walked.placed[b]})
                        })
                        .collect();
                    Some(json!({"type": code, "share": round(share, 4), "buildings": out_of_reach}))
                })
                .collect();
            let detail = json!({
                "elderly": input.elderly,
                "placed_residents": input.placed_residents,
                "floor_area_m2": round(input.floor_area_m2, 1),
                "figures": {
                    "community_workers": input.community_workers,
                    "elderly_care_staff": input.elderly_care_staff,
                    "infant_care_places": input.infant_care_places,
                },
                "coverage": s.coverage.iter().zip(&input.covered).map(|((code, share), (_, covered))| {
                    json!({"type": code, "share": round(*share, 4), "covered": covered})
                }).collect::<Vec<_>>(),
                "indicators": s.indicators.iter().map(|i| {
                    json!({"code": i.code, "value": i.value.map(|v| round(v, 4)), "score": i.score.map(|v| round(v, 2))})
                }).collect::<Vec<_>>(),
                "weak": weak,
            });
            let map = json!({
                "types": types.iter().map(|t| &t.code).collect::<Vec<_>>(),
                "buildings": mine.iter().map(|&b| {
                    let p = buildings[b].position.unwrap_or([0.0, 0.0]);
                    json!([buildings[b].id, round(p[0], 6), round(p[1], 6), buildings[b].residents, walked.placed[b]])
                }).collect::<Vec<_>>(),
                "meters": (0..types.len()).map(|t| mine.iter().map(|&b| metres(t, b)).collect::<Vec<_>>()).collect::<Vec<_>>(),
            });
            ResultRow {
                community: *key,
                residents: input.residents,
                assessed: s.assessed,
                index: s.index.map(|x| round(x, 2)),
                rank: s.rank,
                flagged: s.flagged,
                detail,
                map,
            }
        })
        .collect()
}
