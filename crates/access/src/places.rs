//! From points read from files to answers: snap, group facilities by type, search.

use rayon::prelude::*;

use crate::graph::Graph;
use crate::nearest::nearest_by_type;
use crate::points::Place;
use crate::snap::{Snap, SnapMode, Snapper};

/// The nearest distances for places read from files, with what could not be placed.
#[derive(Debug, Clone, PartialEq)]
pub struct NearestAnswer {
    /// The facility types, in the order they first appear among the facilities.
    pub types: Vec<String>,
    /// `[type][origin]`: metres, or `None` beyond the cap or for an origin not placed.
    pub meters: Vec<Vec<Option<f64>>>,
    /// Origins (indexes) further than `max_snap_m` from any road, with that distance.
    pub far_origins: Vec<(usize, f64)>,
    /// Facilities (indexes) likewise; they are left out of the search.
    pub far_facilities: Vec<(usize, f64)>,
}

/// Snaps places (in parallel), leaving out (and listing) those further than `max_snap_m`
/// from the network.
pub fn snap_all(
    snapper: &Snapper,
    places: &[Place],
    max_snap_m: f64,
) -> (Vec<Option<Snap>>, Vec<(usize, f64)>) {
    let found: Vec<Option<Snap>> = places
        .par_iter()
        .map(|p| snapper.snap(p.lon, p.lat))
        .collect();
    let far: Vec<(usize, f64)> = found
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.filter(|s| s.off_network_m > max_snap_m)
                .map(|s| (i, s.off_network_m))
        })
        .collect();
    let snaps = found
        .into_iter()
        .map(|s| s.filter(|s| s.off_network_m <= max_snap_m))
        .collect();
    (snaps, far)
}

pub fn nearest_for_places(
    graph: &Graph,
    mode: SnapMode,
    origins: &[Place],
    facilities: &[Place],
    cap_m: f64,
    max_snap_m: f64,
) -> NearestAnswer {
    let snapper = Snapper::new(graph, mode);
    let (origin_snaps, far_origins) = snap_all(&snapper, origins, max_snap_m);
    let (facility_snaps, far_facilities) = snap_all(&snapper, facilities, max_snap_m);
    let mut types: Vec<String> = Vec::new();
    let mut by_type: Vec<Vec<Snap>> = Vec::new();
    for (place, snap) in facilities.iter().zip(&facility_snaps) {
        let kind = place.kind.clone().unwrap_or_default();
        let t = match types.iter().position(|k| *k == kind) {
            Some(t) => t,
            None => {
                types.push(kind);
                by_type.push(Vec::new());
                types.len() - 1
            }
        };
        if let Some(s) = snap {
            by_type[t].push(*s);
        }
    }
    let meters = nearest_by_type(graph, &origin_snaps, &by_type, cap_m);
    NearestAnswer {
        types,
        meters,
        far_origins,
        far_facilities,
    }
}
