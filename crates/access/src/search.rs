//! Bounded multi-source Dijkstra: every node's walking distance to the nearest source, for
//! the nodes within a cap. A search is reused from run to run; only the nodes it touched
//! are reset, so a small search over a large graph stays small.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::graph::Graph;
use crate::snap::{At, Snap};

#[derive(Clone, Copy)]
struct Entry {
    meters: f64,
    node: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that the standard max-heap pops the nearest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .meters
            .total_cmp(&self.meters)
            .then_with(|| other.node.cmp(&self.node))
    }
}

pub struct Search {
    dist: Vec<f64>,
    touched: Vec<u32>,
    heap: BinaryHeap<Entry>,
}

impl Search {
    pub fn new(graph: &Graph) -> Search {
        Search {
            dist: vec![f64::INFINITY; graph.node_count()],
            touched: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// Distances from the nearest of `seeds` (node, metres already walked) to every node
    /// within `cap` metres; nodes further away keep infinity.
    pub fn run(&mut self, graph: &Graph, seeds: impl IntoIterator<Item = (u32, f64)>, cap: f64) {
        for &v in &self.touched {
            self.dist[v as usize] = f64::INFINITY;
        }
        self.touched.clear();
        self.heap.clear();
        for (node, meters) in seeds {
            if meters <= cap && meters < self.dist[node as usize] {
                if self.dist[node as usize].is_infinite() {
                    self.touched.push(node);
                }
                self.dist[node as usize] = meters;
                self.heap.push(Entry { meters, node });
            }
        }
        while let Some(Entry { meters, node }) = self.heap.pop() {
            if meters > self.dist[node as usize] {
                continue;
            }
            for (next, len) in graph.around(node) {
                let via = meters + len;
                let slot = &mut self.dist[next as usize];
                if via <= cap && via < *slot {
                    if slot.is_infinite() {
                        self.touched.push(next);
                    }
                    *slot = via;
                    self.heap.push(Entry {
                        meters: via,
                        node: next,
                    });
                }
            }
        }
    }

    /// The distance found to node `v` (infinity when beyond the cap).
    #[inline]
    pub fn to_node(&self, v: u32) -> f64 {
        self.dist[v as usize]
    }

    /// The nodes the last run reached.
    pub fn reached(&self) -> &[u32] {
        &self.touched
    }

    /// The distance found to a point on the network, through either end of its edge (not
    /// counting a source on the same edge: see [`along_same_edge`]).
    pub fn to_point(&self, graph: &Graph, at: At) -> f64 {
        match at {
            At::Node(v) => self.to_node(v),
            At::Edge { edge, from_a } => {
                let e = &graph.edges[edge as usize];
                (self.to_node(e.a) + from_a).min(self.to_node(e.b) + (e.meters - from_a))
            }
        }
    }
}

/// Where a search starting at a snapped point begins: its node, or both ends of its edge
/// with the distances to them.
pub fn seeds(graph: &Graph, snap: &Snap) -> impl Iterator<Item = (u32, f64)> {
    let pair = match snap.at {
        At::Node(v) => [(v, 0.0), (v, 0.0)],
        At::Edge { edge, from_a } => {
            let e = &graph.edges[edge as usize];
            [(e.a, from_a), (e.b, e.meters - from_a)]
        }
    };
    pair.into_iter()
}

/// The direct distance between two points on the same edge, if they are.
pub fn along_same_edge(a: At, b: At) -> Option<f64> {
    match (a, b) {
        (
            At::Edge {
                edge: e1,
                from_a: s1,
            },
            At::Edge {
                edge: e2,
                from_a: s2,
            },
        ) if e1 == e2 => Some((s1 - s2).abs()),
        _ => None,
    }
}
