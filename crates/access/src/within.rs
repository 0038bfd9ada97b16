//! Which origins lie within walking reach of a point: the count of facilities of a type
//! within a radius of each origin, and the reach of a candidate site.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::graph::Graph;
use crate::search::{seeds, Search};
use crate::snap::{At, Snap};

/// The origins hung on the nodes they are reached through, built once for many searches.
pub struct Origins {
    /// `(node, origin, metres from the node to the origin)`, sorted by node.
    hung: Vec<(u32, u32, f64)>,
    /// `first[v]..first[v + 1]` index `hung` for node `v`.
    first: Vec<u32>,
    /// Origins on an edge, by edge, with their distance from its end `a`.
    on_edge: HashMap<u32, Vec<(u32, f64)>>,
    count: usize,
}

impl Origins {
    pub fn new(graph: &Graph, origins: &[Option<Snap>]) -> Origins {
        let mut hung = Vec::with_capacity(origins.len() * 2);
        let mut on_edge: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
        for (i, o) in origins.iter().enumerate() {
            let Some(o) = o else { continue };
            let i = i as u32;
            match o.at {
                At::Node(v) => hung.push((v, i, 0.0)),
                At::Edge { edge, from_a } => {
                    let e = &graph.edges[edge as usize];
                    hung.push((e.a, i, from_a));
                    hung.push((e.b, i, e.meters - from_a));
                    on_edge.entry(edge).or_default().push((i, from_a));
                }
            }
        }
        hung.sort_by_key(|h| h.0);
        let mut first = vec![0u32; graph.node_count() + 1];
        for h in &hung {
            first[h.0 as usize + 1] += 1;
        }
        for v in 0..graph.node_count() {
            first[v + 1] += first[v];
        }
        Origins {
            hung,
            first,
            on_edge,
            count: origins.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each origin within `radius_m` of `source`, once, with its distance, into
    /// `scratch.found`.
    pub fn within(&self, graph: &Graph, scratch: &mut Scratch, source: &Snap, radius_m: f64) {
        scratch.begin();
        scratch.search.run(graph, seeds(graph, source), radius_m);
        for i in 0..scratch.search.reached().len() {
            let v = scratch.search.reached()[i];
            let base = scratch.search.to_node(v);
            let range = self.first[v as usize] as usize..self.first[v as usize + 1] as usize;
            for &(_, o, extra) in &self.hung[range] {
                scratch.note(o, base + extra, radius_m);
            }
        }
        if let At::Edge { edge, from_a } = source.at {
            for &(o, s) in self.on_edge.get(&edge).into_iter().flatten() {
                scratch.note(o, (s - from_a).abs(), radius_m);
            }
        }
    }
}

/// What one thread reuses from search to search.
pub struct Scratch {
    search: Search,
    mark: u32,
    seen: Vec<u32>,
    meters: Vec<f64>,
    /// The origins found by the last [`Origins::within`], with their distances.
    pub found: Vec<(u32, f64)>,
    slot: Vec<u32>,
}

impl Scratch {
    pub fn new(graph: &Graph, origins: &Origins) -> Scratch {
        Scratch {
            search: Search::new(graph),
            mark: 0,
            seen: vec![0; origins.len()],
            meters: vec![f64::INFINITY; origins.len()],
            found: Vec::new(),
            slot: vec![0; origins.len()],
        }
    }

    fn begin(&mut self) {
        self.found.clear();
        self.mark = self.mark.wrapping_add(1);
        if self.mark == 0 {
            self.seen.fill(0);
            self.mark = 1;
        }
    }

    fn note(&mut self, origin: u32, meters: f64, radius_m: f64) {
        if meters > radius_m {
            return;
        }
        let o = origin as usize;
        if self.seen[o] != self.mark {
            self.seen[o] = self.mark;
            self.meters[o] = meters;
            self.slot[o] = self.found.len() as u32;
            self.found.push((origin, meters));
        } else if meters < self.meters[o] {
            self.meters[o] = meters;
            self.found[self.slot[o] as usize].1 = meters;
        }
    }
}

/// For each origin, how many of `facilities` lie within `radius_m` walking metres.
pub fn count_within(
    graph: &Graph,
    origins: &Origins,
    facilities: &[Snap],
    radius_m: f64,
) -> Vec<u32> {
    let n = origins.len();
    facilities
        .par_iter()
        .fold(
            || (Scratch::new(graph, origins), vec![0u32; n]),
            |(mut scratch, mut counts), f| {
                origins.within(graph, &mut scratch, f, radius_m);
                for &(o, _) in &scratch.found {
                    counts[o as usize] += 1;
                }
                (scratch, counts)
            },
        )
        .map(|(_, counts)| counts)
        .reduce(
            || vec![0u32; n],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}
