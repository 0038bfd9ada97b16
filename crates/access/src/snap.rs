//! Putting points on the network: to the nearest node (as pandana and pgRouting do), or to
//! the nearest position on an edge, found in an R-tree over the edges.

use std::sync::OnceLock;

use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;

use crate::fasthash::{map_with_capacity, position_key, FastMap};
use crate::geo::{haversine_m, Plane};
use crate::graph::Graph;

/// Where a point joins the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    Node(u32),
    /// On edge `edge` (an index into [`Graph::edges`]), `from_a` metres along it from its
    /// end `a`.
    Edge {
        edge: u32,
        from_a: f64,
    },
}

/// A point joined to the network, with how far it lies from it (metres, straight).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    pub at: At,
    pub off_network_m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapMode {
    Node,
    #[default]
    Edge,
}

/// The nearest-neighbour index over the graph for one snapping mode.
pub struct Snapper<'g> {
    graph: &'g Graph,
    plane: Plane,
    index: Index,
}

enum Index {
    Nodes {
        /// The node at each position: a point placed exactly on a node (as points taken
        /// from the graph itself are) is found here, at a fraction of the tree's cost.
        exact: FastMap<(u64, u64), u32>,
        /// Built on the first point off every node.
        tree: OnceLock<RTree<GeomWithData<[f64; 2], u32>>>,
    },
    Edges(RTree<GeomWithData<Line<[f64; 2]>, u32>>),
}

impl<'g> Snapper<'g> {
    pub fn new(graph: &'g Graph, mode: SnapMode) -> Snapper<'g> {
        let mean_lat = if graph.positions.is_empty() {
            0.0
        } else {
            graph.positions.iter().map(|p| p[1]).sum::<f64>() / graph.positions.len() as f64
        };
        let plane = Plane::around(mean_lat);
        let index = match mode {
            SnapMode::Node => {
                let mut exact = map_with_capacity(graph.positions.len());
                for (i, p) in graph.positions.iter().enumerate() {
                    // The graph's positions are distinct; were they not, the first would do.
                    exact.entry(position_key(*p)).or_insert(i as u32);
                }
                Index::Nodes {
                    exact,
                    tree: OnceLock::new(),
                }
            }
            SnapMode::Edge => Index::Edges(RTree::bulk_load(
                graph
                    .edges
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let a = plane.project(graph.positions[e.a as usize]);
                        let b = plane.project(graph.positions[e.b as usize]);
                        GeomWithData::new(Line::new(a, b), i as u32)
                    })
                    .collect(),
            )),
        };
        Snapper {
            graph,
            plane,
            index,
        }
    }

    /// The point's place on the network; `None` only for an empty network.
    pub fn snap(&self, lon: f64, lat: f64) -> Option<Snap> {
        let p = self.plane.project([lon, lat]);
        match &self.index {
            Index::Nodes { exact, tree } => {
                if let Some(&node) = exact.get(&position_key([lon, lat])) {
                    return Some(Snap {
                        at: At::Node(node),
                        off_network_m: 0.0,
                    });
                }
                let tree = tree.get_or_init(|| {
                    RTree::bulk_load(
                        self.graph
                            .positions
                            .iter()
                            .enumerate()
                            .map(|(i, p)| GeomWithData::new(self.plane.project(*p), i as u32))
                            .collect(),
                    )
                });
                let hit = tree.nearest_neighbor(p)?;
                let node = hit.data;
                Some(Snap {
                    at: At::Node(node),
                    off_network_m: haversine_m([lon, lat], self.graph.positions[node as usize]),
                })
            }
            Index::Edges(tree) => {
                let hit = tree.nearest_neighbor(p)?;
                let edge = &self.graph.edges[hit.data as usize];
                let (a, b) = (hit.geom().from, hit.geom().to);
                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                let len2 = dx * dx + dy * dy;
                let t = if len2 > 0.0 {
                    (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (pa, pb) = (
                    self.graph.positions[edge.a as usize],
                    self.graph.positions[edge.b as usize],
                );
                let on = [pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])];
                Some(Snap {
                    at: At::Edge {
                        edge: hit.data,
                        from_a: t * edge.meters,
                    },
                    off_network_m: haversine_m([lon, lat], on),
                })
            }
        }
    }
}
