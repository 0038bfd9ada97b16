//! Siting: where new facilities of a type would bring the most people within reach. Greedy
//! maximum coverage over candidate nodes, each candidate's reach found once by a bounded
//! search; the greedy loop re-scores lazily (a candidate's gain only shrinks as others are
//! chosen, so one whose stale score still tops the queue is the true best).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::graph::Graph;
use crate::snap::{At, Snap};
use crate::within::{Origins, Scratch};

/// A chosen site: a node of the network, and whom it newly brings within reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub node: u32,
    pub position: [f64; 2],
    /// The weight (residents) newly within reach, given the sites chosen before it.
    pub gain: f64,
    /// The origins newly within reach.
    pub origins: Vec<u32>,
}

struct Scored {
    gain: f64,
    candidate: usize,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    /// Highest gain first; between equal gains the lower candidate index, so that the
    /// answer does not depend on the order of evaluation.
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain
            .total_cmp(&other.gain)
            .then_with(|| other.candidate.cmp(&self.candidate))
    }
}

/// Up to `k` sites among `candidates` (nodes) that bring the most weight within `radius_m`,
/// counting only origins not `covered` already. Stops early when no candidate adds anything.
pub fn best_sites(
    graph: &Graph,
    origins: &Origins,
    weights: &[f64],
    covered: &[bool],
    candidates: &[u32],
    radius_m: f64,
    k: usize,
) -> Vec<Site> {
    let reach: Vec<Vec<u32>> = candidates
        .par_iter()
        .map_init(
            || Scratch::new(graph, origins),
            |scratch, &node| {
                let source = Snap {
                    at: At::Node(node),
                    off_network_m: 0.0,
                };
                origins.within(graph, scratch, &source, radius_m);
                scratch
                    .found
                    .iter()
                    .map(|&(o, _)| o)
                    .filter(|&o| !covered[o as usize])
                    .collect()
            },
        )
        .collect();
    let mut now_covered = covered.to_vec();
    let gain_of = |c: usize, now_covered: &[bool]| -> f64 {
        reach[c]
            .iter()
            .filter(|&&o| !now_covered[o as usize])
            .map(|&o| weights[o as usize])
            .sum()
    };
    let mut queue: BinaryHeap<Scored> = (0..candidates.len())
        .map(|c| Scored {
            gain: gain_of(c, &now_covered),
            candidate: c,
        })
        .collect();
    let mut sites = Vec::new();
    while sites.len() < k {
        let Some(top) = queue.pop() else { break };
        let fresh = gain_of(top.candidate, &now_covered);
        if fresh <= 0.0 {
            if top.gain <= 0.0 {
                break;
            }
            continue;
        }
        let rescored = Scored {
            gain: fresh,
            candidate: top.candidate,
        };
        if queue.peek().is_some_and(|next| rescored < *next) {
            queue.push(rescored);
            continue;
        }
        let newly: Vec<u32> = reach[top.candidate]
            .iter()
            .copied()
            .filter(|&o| !now_covered[o as usize])
            .collect();
        for &o in &newly {
            now_covered[o as usize] = true;
        }
        let node = candidates[top.candidate];
        sites.push(Site {
            node,
            position: graph.positions[node as usize],
            gain: fresh,
            origins: newly,
        });
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Segments;

    /// A straight street of 11 nodes 100 m apart, houses at every node.
    fn street() -> (Graph, Vec<Option<Snap>>) {
        let positions: Vec<[f64; 2]> = (0..11).map(|i| [i as f64 * 0.001, 0.0]).collect();
        let segments = (0..10).map(|i| (i, i + 1, 100.0)).collect();
        let g = Graph::from_segments(&Segments {
            positions,
            segments,
            notes: vec![],
            distinct_positions: false,
        });
        let origins = (0..11)
            .map(|v| {
                Some(Snap {
                    at: At::Node(v),
                    off_network_m: 0.0,
                })
            })
            .collect();
        (g, origins)
    }

    #[test]
    fn greedy_picks_the_sites_that_add_most() {
        let (g, snaps) = street();
        let origins = Origins::new(&g, &snaps);
        // Heavier houses at the west end; the house at node 10 is already served.
        let weights: Vec<f64> = (0..11).map(|i| if i < 3 { 100.0 } else { 10.0 }).collect();
        let mut covered = vec![false; 11];
        covered[10] = true;
        let candidates: Vec<u32> = (0..11).collect();
        let sites = best_sites(&g, &origins, &weights, &covered, &candidates, 150.0, 5);
        // Radius 150 m reaches the node and its two neighbours. First: node 1 (0, 1, 2: 300).
        assert_eq!(sites[0].node, 1);
        assert_eq!(sites[0].gain, 300.0);
        assert_eq!(sites[0].origins, vec![1, 0, 2]);
        // Then three houses of 10 at a time: nodes 4 (3, 4, 5) and 7 (6, 7, 8), the lowest
        // index among equals; then the house at 9 alone, from node 8, the lowest of 8, 9, 10.
        let rest: Vec<(u32, f64)> = sites[1..].iter().map(|s| (s.node, s.gain)).collect();
        assert_eq!(
            rest,
            vec![(4, 30.0), (7, 30.0), (8, 10.0)],
            "then it stops: nothing left to add"
        );
    }
}
