//! The walking distance from every origin to the nearest facility of each type, up to a cap:
//! one bounded multi-source search per type, the types in parallel.

use std::collections::HashMap;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::graph::Graph;
use crate::search::{seeds, Search};
use crate::snap::{At, Snap};

/// For each type (in the order given) and each origin (in the order given), the metres to the
/// nearest facility of that type, or `None` when none lies within the cap or the origin could
/// not be placed on the network.
pub fn nearest_by_type(
    graph: &Graph,
    origins: &[Option<Snap>],
    facilities_by_type: &[Vec<Snap>],
    cap_m: f64,
) -> Vec<Vec<Option<f64>>> {
    nearest_by_type_observed(graph, origins, facilities_by_type, cap_m, &|| {})
}

/// [`nearest_by_type`], calling `type_done` as each type is finished (from any thread), for
/// a progress bar.
pub fn nearest_by_type_observed(
    graph: &Graph,
    origins: &[Option<Snap>],
    facilities_by_type: &[Vec<Snap>],
    cap_m: f64,
    type_done: &(dyn Fn() + Sync),
) -> Vec<Vec<Option<f64>>> {
    // One search per thread, reused from type to type: `map_init` would make one per piece
    // of work rayon splits off, each with distances for the whole graph to allocate and fill.
    let spare: Mutex<Vec<Search>> = Mutex::new(Vec::new());
    facilities_by_type
        .par_iter()
        .map(|facilities| {
            let mut search = spare
                .lock()
                .ok()
                .and_then(|mut s| s.pop())
                .unwrap_or_else(|| Search::new(graph));
            let answer = nearest_one_type(graph, &mut search, origins, facilities, cap_m);
            if let Ok(mut s) = spare.lock() {
                s.push(search);
            }
            type_done();
            answer
        })
        .collect()
}

fn nearest_one_type(
    graph: &Graph,
    search: &mut Search,
    origins: &[Option<Snap>],
    facilities: &[Snap],
    cap_m: f64,
) -> Vec<Option<f64>> {
    search.run(
        graph,
        facilities.iter().flat_map(|f| seeds(graph, f)),
        cap_m,
    );
    // Facilities on an edge, by edge: an origin on the same edge may reach one directly,
    // without passing either end.
    let mut on_edge: HashMap<u32, Vec<f64>> = HashMap::new();
    for f in facilities {
        if let At::Edge { edge, from_a } = f.at {
            on_edge.entry(edge).or_default().push(from_a);
        }
    }
    origins
        .iter()
        .map(|o| {
            let o = o.as_ref()?;
            let mut best = search.to_point(graph, o.at);
            if let At::Edge { edge, from_a } = o.at {
                for f in on_edge.get(&edge).into_iter().flatten() {
                    best = best.min((from_a - f).abs());
                }
            }
            (best <= cap_m).then_some(best)
        })
        .collect()
}
