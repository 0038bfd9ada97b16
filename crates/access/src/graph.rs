//! The walking graph in compressed sparse row form: for each node, its neighbours and the
//! lengths to them in two flat arrays, so that a search touches memory in order.

use crate::fasthash::{map_with_capacity, position_key, FastMap};
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
    /// `arcs[first[v]..first[v + 1]]` lead from `v` to its neighbours: each neighbour with
    /// the length to it side by side, so that a search reads one cache line, not two.
    first: Vec<u32>,
    arcs: Vec<Arc>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Arc {
    to: u32,
    meters: f64,
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

/// Of several edges between the same two nodes, keeps the first, with the least length of
/// them all; the others are removed, the order of the rest kept. The edges are grouped by
/// their end `a` (a stable counting sort), and within a group a node's mark tells whether
/// its pair was seen: arrays in place of a hash map over the pairs, which cost as much as
/// reading the file.
fn keep_shortest_of_pairs(edges: &mut Vec<Edge>, nodes: usize) {
    let mut start = vec![0u32; nodes + 1];
    for e in edges.iter() {
        start[e.a as usize + 1] += 1;
    }
    for v in 0..nodes {
        start[v + 1] += start[v];
    }
    let mut by_a = vec![0u32; edges.len()];
    let mut fill = start.clone();
    for (i, e) in edges.iter().enumerate() {
        by_a[fill[e.a as usize] as usize] = i as u32;
        fill[e.a as usize] += 1;
    }
    // seen[b]: the first edge (index + 1) from the group's `a` to `b`; groups reset their own.
    let mut seen = vec![0u32; nodes];
    let mut duplicate = vec![false; edges.len()];
    let mut any = false;
    for a in 0..nodes {
        let group = &by_a[start[a] as usize..start[a + 1] as usize];
        for &i in group {
            let b = edges[i as usize].b as usize;
            match seen[b] {
                0 => seen[b] = i + 1,
                first => {
                    let meters = edges[i as usize].meters;
                    let kept = &mut edges[first as usize - 1];
                    if meters < kept.meters {
                        kept.meters = meters;
                    }
                    duplicate[i as usize] = true;
                    any = true;
                }
            }
        }
        for &i in group {
            seen[edges[i as usize].b as usize] = 0;
        }
    }
    if any {
        let mut i = 0;
        edges.retain(|_| {
            i += 1;
            !duplicate[i - 1]
        });
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
        // Positions the reader already joined need no second join by place.
        let mut at_place: Option<FastMap<(u64, u64), u32>> =
            (!raw.distinct_positions).then(|| map_with_capacity(raw.positions.len()));
        let mut positions = Vec::with_capacity(raw.positions.len());
        let mut node = |v: u32| -> u32 {
            let slot = &mut renumber[v as usize];
            if *slot == u32::MAX {
                let p = raw.positions[v as usize];
                let next = positions.len() as u32;
                *slot = match &mut at_place {
                    Some(at_place) => *at_place.entry(position_key(p)).or_insert(next),
                    None => next,
                };
                if *slot == next {
                    positions.push(p);
                }
            }
            *slot
        };
        let mut edges: Vec<Edge> = Vec::with_capacity(raw.segments.len());
        for &(u, v, meters) in &raw.segments {
            if u == v {
                continue;
            }
            let (u, v) = (node(u), node(v));
            if u == v {
                continue;
            }
            edges.push(Edge {
                a: u.min(v),
                b: u.max(v),
                meters,
            });
        }
        keep_shortest_of_pairs(&mut edges, positions.len());
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
        let mut arcs = vec![Arc::default(); sum as usize];
        for e in &edges {
            for (from, to) in [(e.a, e.b), (e.b, e.a)] {
                let slot = fill[from as usize] as usize;
                arcs[slot] = Arc {
                    to,
                    meters: e.meters,
                };
                fill[from as usize] += 1;
            }
        }
        Graph {
            positions,
            edges,
            first,
            arcs,
        }
    }

    pub fn node_count(&self) -> usize {
        self.positions.len()
    }

    /// The neighbours of `v` with the lengths to them.
    #[inline]
    pub fn around(&self, v: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        let range = self.first[v as usize] as usize..self.first[v as usize + 1] as usize;
        self.arcs[range].iter().map(|a| (a.to, a.meters))
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
        // Counted and ranked in arrays indexed by root: a root is a node.
        let roots: Vec<u32> = (0..n as u32).map(|v| root(&mut parent, v)).collect();
        let mut size_of_root = vec![0usize; n];
        for &r in &roots {
            size_of_root[r as usize] += 1;
        }
        let mut by_size: Vec<(u32, usize)> = (0..n as u32)
            .zip(size_of_root)
            .filter(|(_, s)| *s > 0)
            .collect();
        by_size.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut rank = vec![0u32; n];
        for (i, (r, _)) in by_size.iter().enumerate() {
            rank[*r as usize] = i as u32;
        }
        Components {
            sizes: by_size.iter().map(|(_, s)| *s).collect(),
            of_node: roots.iter().map(|r| rank[*r as usize]).collect(),
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
            distinct_positions: false,
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

    /// The graph as it was built before: pairs joined through a hash map.
    fn reference_edges(raw: &Segments) -> Vec<(u32, u32, u64)> {
        let g = Graph::from_segments(&Segments {
            distinct_positions: false,
            ..raw.clone()
        });
        let mut shortest = std::collections::HashMap::new();
        let mut edges: Vec<(u32, u32, f64)> = Vec::new();
        let mut renumber = std::collections::HashMap::new();
        let mut node = |v: u32| {
            let p = raw.positions[v as usize];
            let next = renumber.len() as u32;
            *renumber
                .entry((p[0].to_bits(), p[1].to_bits()))
                .or_insert(next)
        };
        for &(u, v, m) in &raw.segments {
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
                    let e: &mut (u32, u32, f64) = &mut edges[i];
                    if m < e.2 {
                        e.2 = m;
                    }
                }
                None => {
                    shortest.insert((a, b), edges.len());
                    edges.push((a, b, m));
                }
            }
        }
        assert_eq!(g.node_count(), renumber.len());
        edges.iter().map(|&(a, b, m)| (a, b, m.to_bits())).collect()
    }

    proptest::proptest! {
        #[test]
        fn pairs_join_as_through_a_hash_map(
            segments in proptest::collection::vec((0u32..12, 0u32..12, 0u32..9), 0..60),
            places in proptest::collection::vec(0u32..9, 12),
        ) {
            // Twelve positions on nine places: some stand on others.
            let raw = Segments {
                positions: places.iter().map(|&p| [f64::from(p), 1.0]).collect(),
                segments: segments.iter().map(|&(a, b, m)| (a, b, f64::from(m) / 4.0)).collect(),
                notes: vec![],
                distinct_positions: false,
            };
            let g = Graph::from_segments(&raw);
            let edges: Vec<(u32, u32, u64)> =
                g.edges.iter().map(|e| (e.a, e.b, e.meters.to_bits())).collect();
            proptest::prop_assert_eq!(edges, reference_edges(&raw));
        }
    }
}
