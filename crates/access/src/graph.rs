//! The walking graph in compressed sparse row form: for each node, its neighbours and the
//! lengths to them in two flat arrays, so that a search touches memory in order.

use std::collections::HashMap;

use crate::network::Segments;

/// One undirected edge between two nodes, `a < b`, with its length in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub meters: f64,
}

#[derive(Debug, Clone)]
pub struct Graph {
    /// Node positions, WGS-84 (lon, lat).
    pub positions: Vec<[f64; 2]>,
    /// Each undirected edge once.
    pub edges: Vec<Edge>,
    /// `neighbours[first[v]..first[v + 1]]` are `v`'s neighbours, `lengths` alike.
    first: Vec<u32>,
    neighbours: Vec<u32>,
    lengths: Vec<f64>,
}

/// How the network falls apart into pieces that cannot reach each other on foot.
#[derive(Debug, Clone, PartialEq)]
pub struct Components {
    /// Node counts of the pieces, largest first.
    pub sizes: Vec<usize>,
    /// For each node, its piece (an index into `sizes`).
    pub of_node: Vec<u32>,
}

impl Components {
    pub fn count(&self) -> usize {
        self.sizes.len()
    }
}

impl Graph {
    /// Builds the graph from raw segments: positions used by no segment are dropped, raw
    /// positions at the very same place are one node (OpenStreetMap has such duplicates,
    /// and any tool reading the exported graph joins them), a segment from a node to itself
    /// is dropped, and of several segments between the same
    /// two nodes the shortest is kept (so that every tool that reads the exported graph,
    /// whether it keeps the first or the last of a pair, walks the same one).
    pub fn from_segments(raw: &Segments) -> Graph {
        let mut renumber = vec![u32::MAX; raw.positions.len()];
        let mut at_place: HashMap<(u64, u64), u32> = HashMap::new();
        let mut positions = Vec::new();
        let mut node = |v: u32| -> u32 {
            let slot = &mut renumber[v as usize];
            if *slot == u32::MAX {
                let p = raw.positions[v as usize];
                let next = positions.len() as u32;
                *slot = *at_place
                    .entry((p[0].to_bits(), p[1].to_bits()))
                    .or_insert(next);
                if *slot == next {
                    positions.push(p);
                }
            }
            *slot
        };
        let mut shortest: HashMap<(u32, u32), usize> = HashMap::with_capacity(raw.segments.len());
        let mut edges: Vec<Edge> = Vec::with_capacity(raw.segments.len());
        for &(u, v, meters) in &raw.segments {
            if u == v {
                continue;
            }
            let (u, v) = (node(u), node(v));
            if u == v {
                continue;
            }
            let (a, b) = (u.min(v), u.max(v));
            match shortest.get(&(a, b)) {
                Some(&i) => {
                    if meters < edges[i].meters {
                        edges[i].meters = meters;
                    }
                }
                None => {
                    shortest.insert((a, b), edges.len());
                    edges.push(Edge { a, b, meters });
                }
            }
        }
        Graph::from_edges(positions, edges)
    }

    fn from_edges(positions: Vec<[f64; 2]>, edges: Vec<Edge>) -> Graph {
        let n = positions.len();
        let mut degree = vec![0u32; n + 1];
        for e in &edges {
            degree[e.a as usize] += 1;
            degree[e.b as usize] += 1;
        }
        let mut first = Vec::with_capacity(n + 1);
        let mut sum = 0u32;
        for d in &degree[..n] {
            first.push(sum);
            sum += d;
        }
        first.push(sum);
        let mut fill: Vec<u32> = first[..n].to_vec();
        let mut neighbours = vec![0u32; sum as usize];
        let mut lengths = vec![0f64; sum as usize];
        for e in &edges {
            for (from, to) in [(e.a, e.b), (e.b, e.a)] {
                let slot = fill[from as usize] as usize;
                neighbours[slot] = to;
                lengths[slot] = e.meters;
                fill[from as usize] += 1;
            }
        }
        Graph {
            positions,
            edges,
            first,
            neighbours,
            lengths,
        }
    }

    pub fn node_count(&self) -> usize {
        self.positions.len()
    }

    /// The neighbours of `v` with the lengths to them.
    #[inline]
    pub fn around(&self, v: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        let range = self.first[v as usize] as usize..self.first[v as usize + 1] as usize;
        self.neighbours[range.clone()]
            .iter()
            .copied()
            .zip(self.lengths[range].iter().copied())
    }

    /// The total length of the network in metres.
    pub fn total_meters(&self) -> f64 {
        self.edges.iter().map(|e| e.meters).sum()
    }

    /// The connected components (union-find over the edges).
    pub fn components(&self) -> Components {
        let n = self.node_count();
        let mut parent: Vec<u32> = (0..n as u32).collect();
        fn root(parent: &mut [u32], mut v: u32) -> u32 {
            while parent[v as usize] != v {
                let up = parent[parent[v as usize] as usize];
                parent[v as usize] = up;
                v = up;
            }
            v
        }
        for e in &self.edges {
            let (ra, rb) = (root(&mut parent, e.a), root(&mut parent, e.b));
            if ra != rb {
                parent[ra.max(rb) as usize] = ra.min(rb);
            }
        }
        let mut size_of_root: HashMap<u32, usize> = HashMap::new();
        let roots: Vec<u32> = (0..n as u32).map(|v| root(&mut parent, v)).collect();
        for &r in &roots {
            *size_of_root.entry(r).or_default() += 1;
        }
        let mut by_size: Vec<(u32, usize)> = size_of_root.into_iter().collect();
        by_size.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut rank = HashMap::with_capacity(by_size.len());
        for (i, (r, _)) in by_size.iter().enumerate() {
            rank.insert(*r, i as u32);
        }
        Components {
            sizes: by_size.iter().map(|(_, s)| *s).collect(),
            of_node: roots.iter().map(|r| rank[r]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Segments {
        // 0 — 1
        // |   |     and a separate piece 4 — 5; a loop 0→0 and a longer duplicate 0—1.
        // 3 — 2
        Segments {
            positions: vec![
                [0.0, 0.0],
                [1.0, 0.0],
                [1.0, 1.0],
                [0.0, 1.0],
                [5.0, 5.0],
                [6.0, 5.0],
                [9.0, 9.0],
            ],
            segments: vec![
                (0, 1, 10.0),
                (1, 2, 10.0),
                (2, 3, 10.0),
                (3, 0, 10.0),
                (0, 0, 1.0),
                (1, 0, 12.0),
                (4, 5, 3.0),
            ],
            notes: vec![],
        }
    }

    #[test]
    fn builds_csr_without_loops_duplicates_or_unused_positions() {
        let g = Graph::from_segments(&square());
        assert_eq!(g.node_count(), 6, "the unused position is dropped");
        assert_eq!(g.edges.len(), 5);
        let mut around0: Vec<(u32, f64)> = g.around(0).collect();
        around0.sort_by_key(|x| x.0);
        assert_eq!(
            around0,
            vec![(1, 10.0), (3, 10.0)],
            "the shorter of the duplicates"
        );
        assert_eq!(g.total_meters(), 43.0);
        let c = g.components();
        assert_eq!(c.sizes, vec![4, 2]);
        assert_eq!(c.of_node[0], c.of_node[2]);
        assert_ne!(c.of_node[0], c.of_node[4]);
    }
}
