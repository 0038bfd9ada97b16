//! Bounded multi-source Dijkstra: every node's walking distance to the nearest source, for
//! the nodes within a cap. A search is reused from run to run; only the nodes it touched
//! are reset, so a small search over a large graph stays small.

use crate::graph::Graph;
use crate::snap::{At, Snap};

/// A queue entry as one integer: the metres' bits in the order of `f64::total_cmp`, then the
/// node. Integers compare in one instruction, and ties between equal metres fall to the
/// lower node, so nodes are settled (and first reached) in the very order of the standard
/// binary heap this replaced, whose pops dominated the search.
#[inline]
fn entry(meters: f64, node: u32) -> u128 {
    let bits = meters.to_bits();
    // Negative numbers count down; positive ones sit above them all.
    let ordered = bits ^ (((bits as i64 >> 63) as u64) | (1 << 63));
    (u128::from(ordered) << 32) | u128::from(node)
}

#[inline]
fn meters_of(e: u128) -> f64 {
    let ordered = (e >> 32) as u64;
    let bits = if ordered >> 63 == 1 {
        ordered ^ (1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

/// The entries waiting, in order: buckets by metres (each a slice of the cap), and the
/// bucket being taken in a binary heap. A search never asks for less than it took last, so
/// only the current bucket needs ordering, and it holds a few dozen entries where a single
/// heap over the whole frontier held thousands: its pops dominated the search.
struct Queue {
    /// Bucket `i` holds the entries with `meters * per_meter` in `[i, i + 1)` (the last
    /// bucket anything beyond), each entry stored inverted (`!entry`), since the standard
    /// heap takes the largest first.
    buckets: Vec<Vec<u128>>,
    per_meter: f64,
    /// The bucket in the heap; buckets before it are empty.
    at: usize,
    heap: std::collections::BinaryHeap<u128>,
}

const BUCKETS: usize = 1024;

impl Queue {
    fn new() -> Queue {
        Queue {
            buckets: vec![Vec::new(); BUCKETS],
            per_meter: 0.0,
            at: 0,
            heap: std::collections::BinaryHeap::new(),
        }
    }

    /// An empty queue for entries of at most `cap` metres.
    fn start(&mut self, cap: f64) {
        for b in &mut self.buckets {
            b.clear();
        }
        self.heap.clear();
        self.at = 0;
        // Zero for an infinite cap: everything in one bucket, one heap.
        self.per_meter = BUCKETS as f64 / cap;
    }

    #[inline]
    fn bucket(&self, meters: f64) -> usize {
        // `as` saturates (and takes NaN, from 0 × ∞, to 0): a monotone map onto the buckets.
        ((meters * self.per_meter) as usize).min(BUCKETS - 1)
    }

    #[inline]
    fn push(&mut self, meters: f64, node: u32) {
        let e = entry(meters, node);
        let b = self.bucket(meters);
        if b <= self.at {
            self.heap.push(!e);
        } else {
            self.buckets[b].push(!e);
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<u128> {
        loop {
            if let Some(e) = self.heap.pop() {
                return Some(!e);
            }
            let next = (self.at + 1..BUCKETS).find(|&b| !self.buckets[b].is_empty())?;
            self.at = next;
            // The bucket's entries become the heap (ordered in linear time), and the
            // heap's emptied storage the bucket's, so neither allocates again.
            let bucket = std::mem::take(&mut self.buckets[next]);
            let spare = std::mem::replace(&mut self.heap, bucket.into()).into_vec();
            self.buckets[next] = spare;
        }
    }
}

pub struct Search {
    dist: Vec<f64>,
    touched: Vec<u32>,
    queue: Queue,
}

impl Search {
    pub fn new(graph: &Graph) -> Search {
        Search {
            dist: vec![f64::INFINITY; graph.node_count()],
            touched: Vec::new(),
            queue: Queue::new(),
        }
    }

    /// Distances from the nearest of `seeds` (node, metres already walked) to every node
    /// within `cap` metres; nodes further away keep infinity.
    pub fn run(&mut self, graph: &Graph, seeds: impl IntoIterator<Item = (u32, f64)>, cap: f64) {
        for &v in &self.touched {
            self.dist[v as usize] = f64::INFINITY;
        }
        self.touched.clear();
        self.queue.start(cap);
        for (node, meters) in seeds {
            if meters <= cap && meters < self.dist[node as usize] {
                if self.dist[node as usize].is_infinite() {
                    self.touched.push(node);
                }
                self.dist[node as usize] = meters;
                self.queue.push(meters, node);
            }
        }
        while let Some(e) = self.queue.pop() {
            let (meters, node) = (meters_of(e), e as u32);
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
                    self.queue.push(via, next);
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

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use proptest::prelude::*;

    use super::*;
    use crate::network::Segments;

    /// The search as it was, over the standard binary heap ordered by (metres, node).
    fn reference(graph: &Graph, seeds: &[(u32, f64)], cap: f64) -> (Vec<f64>, Vec<u32>) {
        let mut dist = vec![f64::INFINITY; graph.node_count()];
        let mut touched = Vec::new();
        let mut heap = BinaryHeap::new();
        let key = |m: f64, v: u32| Reverse((entry(m, 0), v));
        for &(node, meters) in seeds {
            if meters <= cap && meters < dist[node as usize] {
                if dist[node as usize].is_infinite() {
                    touched.push(node);
                }
                dist[node as usize] = meters;
                heap.push(key(meters, node));
            }
        }
        while let Some(Reverse((e, node))) = heap.pop() {
            let meters = meters_of(e);
            if meters > dist[node as usize] {
                continue;
            }
            for (next, len) in graph.around(node) {
                let via = meters + len;
                if via <= cap && via < dist[next as usize] {
                    if dist[next as usize].is_infinite() {
                        touched.push(next);
                    }
                    dist[next as usize] = via;
                    heap.push(key(via, next));
                }
            }
        }
        (dist, touched)
    }

    #[test]
    fn entries_order_as_total_cmp_then_node() {
        let values = [
            -1.5,
            -0.0,
            0.0,
            1e-300,
            0.5,
            1.0,
            999.999,
            1000.0,
            f64::INFINITY,
        ];
        for a in values {
            assert_eq!(meters_of(entry(a, 7)).to_bits(), a.to_bits());
            for b in values {
                for (u, v) in [(1, 2), (2, 1), (3, 3)] {
                    let want = a.total_cmp(&b).then(u.cmp(&v));
                    assert_eq!(entry(a, u).cmp(&entry(b, v)), want, "{a} {u} / {b} {v}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The same distances, and the nodes reached in the same order, as the binary heap
        /// gave: lengths in whole metres (and zeros) make many ties.
        #[test]
        fn the_bucket_queue_searches_as_the_heap_did(
            edges in prop::collection::vec((0u32..40, 0u32..40, 0u32..30), 1..120),
            seeds in prop::collection::vec((0u32..40, 0u32..5), 1..6),
            cap in prop_oneof![Just(f64::INFINITY), 0.0..60.0f64, Just(0.0), Just(1e5)],
        ) {
            let g = Graph::from_segments(&Segments {
                positions: (0..40).map(|i| [f64::from(i) * 0.001, 0.0]).collect(),
                segments: edges.iter().map(|&(a, b, m)| (a, b, f64::from(m))).collect(),
                notes: vec![],
                distinct_positions: true,
            });
            let seeds: Vec<(u32, f64)> = seeds
                .iter()
                .filter(|(v, _)| (*v as usize) < g.node_count())
                .map(|&(v, m)| (v, f64::from(m)))
                .collect();
            let mut search = Search::new(&g);
            // Twice, to see that a reused search starts afresh.
            for _ in 0..2 {
                search.run(&g, seeds.iter().copied(), cap);
                let (dist, touched) = reference(&g, &seeds, cap);
                prop_assert_eq!(search.reached(), &touched[..]);
                for v in 0..g.node_count() as u32 {
                    prop_assert_eq!(search.to_node(v).to_bits(), dist[v as usize].to_bits());
                }
            }
        }
    }
}
