//! The engine on real OpenStreetMap data (central Helsinki, tests/fixtures), checked
//! against a plain Dijkstra written here, over the graph as exported to CSV.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use linli_access::network::{read, read_graph_csv};
use linli_access::output::write_graph_csv;
use linli_access::places::nearest_for_places;
use linli_access::points::Place;
use linli_access::pois::read_pois;
use linli_access::within::{count_within, Origins};
use linli_access::{At, Graph, SnapMode, Snapper};
use linli_core::registry::builtin_types;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn helsinki() -> Graph {
    Graph::from_segments(&read(&fixture("helsinki_centre.osm.pbf")).expect("the fixture reads"))
}

/// The exported graph, read back by this test's own code: nodes by their position text.
struct Reference {
    adjacency: Vec<Vec<(usize, f64)>>,
    node_of: HashMap<String, usize>,
}

fn key(p: [f64; 2]) -> String {
    format!("{},{}", p[0], p[1])
}

impl Reference {
    fn from_csv(text: &str) -> Reference {
        let mut r = Reference {
            adjacency: Vec::new(),
            node_of: HashMap::new(),
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let a = r.node(format!("{},{}", f[0], f[1]));
            let b = r.node(format!("{},{}", f[2], f[3]));
            let m: f64 = f[4].parse().expect("metres");
            r.adjacency[a].push((b, m));
            r.adjacency[b].push((a, m));
        }
        r
    }

    fn node(&mut self, k: String) -> usize {
        let next = self.adjacency.len();
        let id = *self.node_of.entry(k).or_insert(next);
        if id == next {
            self.adjacency.push(Vec::new());
        }
        id
    }

    /// Plain single-source Dijkstra from several start nodes with starting distances.
    fn dijkstra(&self, starts: &[(usize, f64)]) -> Vec<f64> {
        #[derive(PartialEq)]
        struct E(f64, usize);
        impl Eq for E {}
        impl PartialOrd for E {
            fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for E {
            fn cmp(&self, o: &Self) -> Ordering {
                o.0.total_cmp(&self.0)
            }
        }
        let mut dist = vec![f64::INFINITY; self.adjacency.len()];
        let mut heap = BinaryHeap::new();
        for &(s, d) in starts {
            if d < dist[s] {
                dist[s] = d;
                heap.push(E(d, s));
            }
        }
        while let Some(E(d, v)) = heap.pop() {
            if d > dist[v] {
                continue;
            }
            for &(w, m) in &self.adjacency[v] {
                if d + m < dist[w] {
                    dist[w] = d + m;
                    heap.push(E(d + m, w));
                }
            }
        }
        dist
    }
}

/// Deterministic points over the fixture's extent (a small linear congruential generator).
fn points(n: usize, graph: &Graph, seed: u64) -> Vec<Place> {
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in &graph.positions {
        for i in 0..2 {
            lo[i] = lo[i].min(p[i]);
            hi[i] = hi[i].max(p[i]);
        }
    }
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| Place {
            id: format!("o{i}"),
            kind: None,
            lon: lo[0] + next() * (hi[0] - lo[0]),
            lat: lo[1] + next() * (hi[1] - lo[1]),
        })
        .collect()
}

fn facilities() -> Vec<Place> {
    read_pois(&fixture("helsinki_centre.osm.pbf"), builtin_types())
        .expect("pois")
        .pois
        .into_iter()
        .map(|p| Place {
            id: p.id,
            kind: Some(p.kind),
            lon: p.lon,
            lat: p.lat,
        })
        .collect()
}

#[test]
fn reads_the_walkable_network() {
    let g = helsinki();
    assert!(g.node_count() > 3_000, "{} nodes", g.node_count());
    assert!(g.edges.len() > g.node_count() / 2);
    let km = g.total_meters() / 1000.0;
    assert!((30.0..400.0).contains(&km), "{km} km of walkable ways");
    let c = g.components();
    assert!(c.count() >= 1);
    assert!(
        c.sizes[0] as f64 > 0.8 * g.node_count() as f64,
        "{:?}",
        &c.sizes[..3.min(c.count())]
    );
    assert_eq!(c.sizes.iter().sum::<usize>(), g.node_count());
}

#[test]
fn the_exported_graph_reads_back_the_same() {
    let g = helsinki();
    let mut csv = Vec::new();
    write_graph_csv(&g, &mut csv).expect("write");
    let back = Graph::from_segments(&read_graph_csv(Path::new("g.csv"), &csv).expect("read back"));
    assert_eq!(back.node_count(), g.node_count());
    assert_eq!(back.edges.len(), g.edges.len());
    assert!((back.total_meters() - g.total_meters()).abs() < 0.0005 * g.edges.len() as f64);
}

#[test]
fn the_pois_are_the_typology_s() {
    let pois = read_pois(&fixture("helsinki_centre.osm.pbf"), builtin_types()).expect("pois");
    let count = |kind: &str| pois.pois.iter().filter(|p| p.kind == kind).count();
    // SOURCES.md counts amenity=pharmacy 6, library 7 (culture_centre with arts centres),
    // playgrounds and parks, on nodes and ways alike.
    assert!(count("pharmacy") >= 6, "{}", count("pharmacy"));
    assert!(count("culture_centre") >= 7, "{}", count("culture_centre"));
    assert!(count("park") >= 5);
    assert!(pois
        .pois
        .iter()
        .all(|p| p.id.starts_with("node/") || p.id.starts_with("way/")));
    assert!(
        pois.pois.iter().any(|p| p.id.starts_with("way/")),
        "areas are placed at their centre"
    );
}

/// Where a point enters the reference graph: (node, metres to it), and its edge and place
/// along it when snapped to an edge.
type Entry = (Vec<(usize, f64)>, Option<(u32, f64)>);

fn check_nearest(mode: SnapMode) {
    let g = helsinki();
    let mut csv = Vec::new();
    write_graph_csv(&g, &mut csv).expect("write");
    let reference = Reference::from_csv(std::str::from_utf8(&csv).expect("utf-8"));
    let origins = points(250, &g, 7);
    let facilities = facilities();
    let cap = 800.0;
    let answer = nearest_for_places(&g, mode, &origins, &facilities, cap, 500.0);
    assert!(answer.types.len() >= 8, "{:?}", answer.types);

    let snapper = Snapper::new(&g, mode);
    let node = |v: u32| reference.node_of[&key(g.positions[v as usize])];
    let entries = |p: &Place| -> Entry {
        let s = snapper.snap(p.lon, p.lat).expect("snapped");
        match s.at {
            At::Node(v) => (vec![(node(v), 0.0)], None),
            At::Edge { edge, from_a } => {
                let e = g.edges[edge as usize];
                (
                    vec![(node(e.a), from_a), (node(e.b), e.meters - from_a)],
                    Some((edge, from_a)),
                )
            }
        }
    };
    let mut compared = 0;
    let mut within_cap = 0;
    for (o, origin) in origins.iter().enumerate() {
        let (starts, on_edge) = entries(origin);
        let dist = reference.dijkstra(&starts);
        for (t, kind) in answer.types.iter().enumerate() {
            let mut best = f64::INFINITY;
            for f in facilities
                .iter()
                .filter(|f| f.kind.as_deref() == Some(kind))
            {
                let (ends, f_edge) = entries(f);
                for (v, extra) in ends {
                    best = best.min(dist[v] + extra);
                }
                if let (Some((e1, s1)), Some((e2, s2))) = (on_edge, f_edge) {
                    if e1 == e2 {
                        best = best.min((s1 - s2).abs());
                    }
                }
            }
            let ours = answer.meters[t][o];
            if (best - cap).abs() < 1.0 {
                continue; // too close to the cap to say which side the rounding falls
            }
            compared += 1;
            match ours {
                Some(m) => {
                    within_cap += 1;
                    assert!(
                        (m - best).abs() < 1.0,
                        "origin {o}, {kind}: ours {m}, plain Dijkstra {best}"
                    );
                }
                None => assert!(
                    best > cap,
                    "origin {o}, {kind}: ours none, plain Dijkstra {best}"
                ),
            }
        }
    }
    assert!(
        compared > 2_000 && within_cap > 500,
        "{compared} compared, {within_cap} within the cap"
    );
}

#[test]
fn nearest_matches_plain_dijkstra_snapping_to_nodes() {
    check_nearest(SnapMode::Node);
}

#[test]
fn nearest_matches_plain_dijkstra_snapping_to_edges() {
    check_nearest(SnapMode::Edge);
}

#[test]
fn snapping_finds_the_nearest_node_and_edge() {
    let g = helsinki();
    let plane_lat = g.positions.iter().map(|p| p[1]).sum::<f64>() / g.node_count() as f64;
    let k = 6_371_008.8 * std::f64::consts::PI / 180.0;
    let xy = |p: [f64; 2]| [p[0] * k * plane_lat.to_radians().cos(), p[1] * k];
    let nodes = Snapper::new(&g, SnapMode::Node);
    let edges = Snapper::new(&g, SnapMode::Edge);
    for p in points(100, &g, 11) {
        let q = xy([p.lon, p.lat]);
        let brute_node = g
            .positions
            .iter()
            .map(|n| {
                let a = xy(*n);
                ((a[0] - q[0]).powi(2) + (a[1] - q[1]).powi(2)).sqrt()
            })
            .fold(f64::INFINITY, f64::min);
        let brute_edge = g
            .edges
            .iter()
            .map(|e| {
                let (a, b) = (xy(g.positions[e.a as usize]), xy(g.positions[e.b as usize]));
                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                let t = (((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / (dx * dx + dy * dy))
                    .clamp(0.0, 1.0);
                ((a[0] + t * dx - q[0]).powi(2) + (a[1] + t * dy - q[1]).powi(2)).sqrt()
            })
            .fold(f64::INFINITY, f64::min);
        let n = nodes.snap(p.lon, p.lat).expect("node");
        let e = edges.snap(p.lon, p.lat).expect("edge");
        assert!(
            (n.off_network_m - brute_node).abs() < 0.1,
            "{} vs {brute_node}",
            n.off_network_m
        );
        assert!(
            (e.off_network_m - brute_edge).abs() < 0.1,
            "{} vs {brute_edge}",
            e.off_network_m
        );
        assert!(e.off_network_m <= n.off_network_m + 1e-6);
    }
}

#[test]
fn counts_within_a_radius_match_plain_dijkstra() {
    let g = helsinki();
    let mut csv = Vec::new();
    write_graph_csv(&g, &mut csv).expect("write");
    let reference = Reference::from_csv(std::str::from_utf8(&csv).expect("utf-8"));
    let snapper = Snapper::new(&g, SnapMode::Node);
    let origins = points(200, &g, 3);
    let origin_snaps: Vec<_> = origins.iter().map(|p| snapper.snap(p.lon, p.lat)).collect();
    let shops: Vec<_> = facilities()
        .iter()
        .filter(|f| {
            matches!(
                f.kind.as_deref(),
                Some("convenience" | "market" | "pharmacy")
            )
        })
        .map(|f| snapper.snap(f.lon, f.lat).expect("snap"))
        .collect();
    assert!(shops.len() >= 10, "{}", shops.len());
    let radius = 400.0;
    let counts = count_within(&g, &Origins::new(&g, &origin_snaps), &shops, radius);
    let node_of = |s: &linli_access::Snap| match s.at {
        At::Node(v) => reference.node_of[&key(g.positions[v as usize])],
        At::Edge { .. } => unreachable!("snapped to nodes"),
    };
    let mut some = 0;
    for (o, s) in origin_snaps.iter().enumerate() {
        let dist = reference.dijkstra(&[(node_of(s.as_ref().expect("snap")), 0.0)]);
        let ds: Vec<f64> = shops.iter().map(|f| dist[node_of(f)]).collect();
        if ds.iter().any(|d| (d - radius).abs() < 0.01) {
            continue;
        }
        let expected = ds.iter().filter(|d| **d <= radius).count() as u32;
        assert_eq!(counts[o], expected, "origin {o}");
        some += u32::from(expected > 0);
    }
    assert!(some > 20, "{some} origins have a shop within {radius} m");
}
