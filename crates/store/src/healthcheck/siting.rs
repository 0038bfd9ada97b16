//! Siting for a community's weak type: the places on the walking network where a new
//! facility would bring the most residents not yet within reach (linli_access::siting).
//! Computed on request from the latest run's map and the same network the run walked.

use std::path::Path;

use linli_access::network;
use linli_access::siting::best_sites;
use linli_access::within::Origins;
use linli_access::{Graph, Snap, SnapMode, Snapper};
use linli_core::{Level, Problem, RegionCode};

use super::run::MAX_SNAP_M;
use crate::{Result, Store, StoreError};

/// One proposed site.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub lon: f64,
    pub lat: f64,
    /// Residents newly within reach, given the sites proposed before it.
    pub residents: u64,
    /// The buildings newly within reach.
    pub buildings: Vec<i64>,
}

/// The greatest number of sites one request proposes.
pub const MAX_SITES: usize = 10;

impl Store {
    pub async fn healthcheck_siting(
        &self,
        community: RegionCode,
        type_code: &str,
        k: usize,
    ) -> Result<Vec<Proposal>> {
        if community.level() != Level::Community {
            return Err(StoreError::Invalid(
                Problem::new("not_a_community", "hc.not_a_community").arg("code", community),
            ));
        }
        if !(1..=MAX_SITES).contains(&k) {
            return Err(StoreError::Invalid(
                Problem::new("bad_k", "hc.bad_k")
                    .arg("value", k)
                    .arg("max", MAX_SITES)
                    .field("k"),
            ));
        }
        let types = self.facility_types().await?;
        let Some(t) = types.iter().position(|t| t.code == type_code) else {
            return Err(StoreError::Invalid(
                Problem::new("unknown_type", "hc.unknown_type")
                    .arg("value", type_code)
                    .field("type"),
            ));
        };
        let radius = f64::from(types[t].radius_m);
        let (Some(run), Some(map)) = (
            self.latest_healthcheck_run(community, true).await?,
            self.healthcheck_map(community).await?,
        ) else {
            return Err(StoreError::NotFound);
        };
        let segments = self
            .walking_segments(
                community,
                run.inputs["network_file"].as_str().map(Path::new),
            )
            .await?;
        // The map's type order is the run's; find this type in it.
        let t_in_map = map["types"]
            .as_array()
            .and_then(|a| a.iter().position(|c| c.as_str() == Some(type_code)))
            .unwrap_or(t);
        let buildings: Vec<(i64, [f64; 2], u64, Option<f64>)> = map["buildings"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, b)| {
                let meters = map["meters"][t_in_map][i].as_f64();
                (
                    b[0].as_i64().unwrap_or(0),
                    [b[1].as_f64().unwrap_or(0.0), b[2].as_f64().unwrap_or(0.0)],
                    b[3].as_u64().unwrap_or(0),
                    meters,
                )
            })
            .collect();
        let proposals =
            tokio::task::spawn_blocking(move || propose(&segments, &buildings, radius, k))
                .await
                .map_err(|e| StoreError::Config(format!("siting stopped: {e}")))?;
        Ok(proposals)
    }
}

fn propose(
    segments: &network::Segments,
    buildings: &[(i64, [f64; 2], u64, Option<f64>)],
    radius: f64,
    k: usize,
) -> Vec<Proposal> {
    let graph = Graph::from_segments(segments);
    let snapper = Snapper::new(&graph, SnapMode::Edge);
    let snaps: Vec<Option<Snap>> = buildings
        .iter()
        .map(|b| {
            snapper
                .snap(b.1[0], b.1[1])
                .filter(|s| s.off_network_m <= MAX_SNAP_M)
        })
        .collect();
    let origins = Origins::new(&graph, &snaps);
    let weights: Vec<f64> = buildings.iter().map(|b| b.2 as f64).collect();
    let covered: Vec<bool> = buildings
        .iter()
        .map(|b| b.3.is_some_and(|m| m <= radius))
        .collect();
    // Candidates: the network's nodes around the buildings not yet served, within the radius.
    let uncovered: Vec<[f64; 2]> = buildings
        .iter()
        .zip(&covered)
        .filter(|(_, c)| !**c)
        .map(|(b, _)| b.1)
        .collect();
    if uncovered.is_empty() {
        return Vec::new();
    }
    let lat_span = radius / 111_000.0;
    let lon_span = lat_span / uncovered[0][1].to_radians().cos().max(0.1);
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in &uncovered {
        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
    }
    let candidates: Vec<u32> = graph
        .positions
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p[0] >= lo[0] - lon_span
                && p[0] <= hi[0] + lon_span
                && p[1] >= lo[1] - lat_span
                && p[1] <= hi[1] + lat_span
        })
        .map(|(i, _)| i as u32)
        .collect();
    best_sites(&graph, &origins, &weights, &covered, &candidates, radius, k)
        .into_iter()
        .map(|s| Proposal {
            lon: s.position[0],
            lat: s.position[1],
            residents: s.gain.round() as u64,
            buildings: s.origins.iter().map(|&o| buildings[o as usize].0).collect(),
        })
        .collect()
}
