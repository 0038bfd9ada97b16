//! Reading a walking network: OpenStreetMap PBF, GeoJSON lines, or the graph CSV that
//! `linli access graph` writes. Each reader yields [`Segments`]: positions and the straight
//! pieces between them, joined where lines share an OSM node or a GeoJSON vertex.

use std::collections::HashMap;
use std::path::Path;

use osmpbf::{Element, ElementReader};
use serde_json::Value;

use crate::error::{io, AccessError, Problem, Result};
use crate::geo::{haversine_m, valid_position};
use crate::walkable::walkable;

/// The raw network: positions (WGS-84 lon, lat) and undirected segments between them, with
/// their lengths in metres.
#[derive(Debug, Default, Clone)]
pub struct Segments {
    pub positions: Vec<[f64; 2]>,
    pub segments: Vec<(u32, u32, f64)>,
    /// What the reader left out, for the report (`12 ways reference nodes missing from the
    /// file`).
    pub notes: Vec<String>,
}

/// The formats a network can come in, told by the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pbf,
    GeoJson,
    GraphCsv,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".pbf") {
            Some(Format::Pbf)
        } else if name.ends_with(".geojson") || name.ends_with(".json") {
            Some(Format::GeoJson)
        } else if name.ends_with(".csv") {
            Some(Format::GraphCsv)
        } else {
            None
        }
    }
}

/// Reads a network file of any supported format.
pub fn read(path: &Path) -> Result<Segments> {
    let segments = match Format::of(path) {
        Some(Format::Pbf) => read_pbf(path)?,
        Some(Format::GeoJson) => {
            let text = std::fs::read(path).map_err(io(path))?;
            read_geojson(path, &text)?
        }
        Some(Format::GraphCsv) => {
            let text = std::fs::read(path).map_err(io(path))?;
            read_graph_csv(path, &text)?
        }
        None => {
            return Err(AccessError::UnknownFormat {
                path: path.to_path_buf(),
            })
        }
    };
    if segments.segments.is_empty() {
        return Err(AccessError::EmptyNetwork {
            path: path.to_path_buf(),
        });
    }
    Ok(segments)
}

fn not_pbf(path: &Path) -> impl Fn(osmpbf::Error) -> AccessError + '_ {
    move |e| AccessError::NotPbf {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Two passes: the walkable ways first (which nodes they need), then those nodes' positions.
/// A PBF lists nodes before ways, but reading twice keeps memory to the nodes that matter.
pub fn read_pbf(path: &Path) -> Result<Segments> {
    let mut index: HashMap<i64, u32> = HashMap::new();
    let mut ways: Vec<Vec<u32>> = Vec::new();
    ElementReader::from_path(path)
        .map_err(not_pbf(path))?
        .for_each(|element| {
            if let Element::Way(way) = element {
                if walkable(way.tags()) {
                    let refs = way
                        .refs()
                        .map(|id| {
                            let next = index.len() as u32;
                            *index.entry(id).or_insert(next)
                        })
                        .collect();
                    ways.push(refs);
                }
            }
        })
        .map_err(not_pbf(path))?;

    let mut positions = vec![[f64::NAN; 2]; index.len()];
    ElementReader::from_path(path)
        .map_err(not_pbf(path))?
        .for_each(|element| {
            let (id, lon, lat) = match element {
                Element::Node(n) => (n.id(), n.lon(), n.lat()),
                Element::DenseNode(n) => (n.id(), n.lon(), n.lat()),
                _ => return,
            };
            if let Some(&i) = index.get(&id) {
                positions[i as usize] = [lon, lat];
            }
        })
        .map_err(not_pbf(path))?;

    let mut out = Segments {
        positions,
        ..Segments::default()
    };
    let mut cut = 0usize;
    for way in &ways {
        let mut broken = false;
        for pair in way.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (pa, pb) = (out.positions[a as usize], out.positions[b as usize]);
            if !valid_position(pa[0], pa[1]) || !valid_position(pb[0], pb[1]) {
                broken = true;
                continue;
            }
            out.segments.push((a, b, haversine_m(pa, pb)));
        }
        cut += usize::from(broken);
    }
    if cut > 0 {
        out.notes.push(format!(
            "{cut} walkable ways reference nodes missing from the file (an extract cut at its edge); their pieces with both ends present are kept"
        ));
    }
    Ok(out)
}

/// Lines of a GeoJSON FeatureCollection, Feature or bare geometry (LineString,
/// MultiLineString, GeometryCollection); every line is walkable. Other geometries are left
/// out and counted. A bad coordinate is an error naming its feature and position.
pub fn read_geojson(path: &Path, bytes: &[u8]) -> Result<Segments> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| AccessError::NotGeoJson {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut reader = GeoJsonLines::default();
    match root.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            let features = root
                .get("features")
                .and_then(Value::as_array)
                .ok_or_else(|| AccessError::NotGeoJson {
                    path: path.to_path_buf(),
                    detail: "a FeatureCollection without a \"features\" array".into(),
                })?;
            for (i, f) in features.iter().enumerate() {
                reader.geometry(i + 1, f.get("geometry").unwrap_or(&Value::Null));
            }
        }
        Some("Feature") => reader.geometry(1, root.get("geometry").unwrap_or(&Value::Null)),
        Some(_) => reader.geometry(1, &root),
        None => {
            return Err(AccessError::NotGeoJson {
                path: path.to_path_buf(),
                detail: "the top level has no \"type\"".into(),
            })
        }
    }
    if !reader.problems.is_empty() {
        return Err(AccessError::BadRows {
            path: path.to_path_buf(),
            problems: reader.problems,
        });
    }
    let mut out = reader.joiner.out;
    if reader.not_lines > 0 {
        out.notes.push(format!(
            "{} features are not lines (points or polygons) and were left out",
            reader.not_lines
        ));
    }
    Ok(out)
}

/// Builds segments from positions, one vertex per distinct position (exact coordinates).
#[derive(Default)]
struct Joiner {
    out: Segments,
    vertices: HashMap<(u64, u64), u32>,
}

impl Joiner {
    fn vertex(&mut self, p: [f64; 2]) -> u32 {
        let next = self.out.positions.len() as u32;
        let v = *self
            .vertices
            .entry((p[0].to_bits(), p[1].to_bits()))
            .or_insert(next);
        if v == next {
            self.out.positions.push(p);
        }
        v
    }

    fn segment(&mut self, a: u32, b: u32, meters: f64) {
        self.out.segments.push((a, b, meters));
    }

    fn haversine(&self, a: u32, b: u32) -> f64 {
        haversine_m(
            self.out.positions[a as usize],
            self.out.positions[b as usize],
        )
    }
}

/// Lines already in memory (a map layer's roads), every one walkable; positions that are
/// not real longitudes and latitudes break the line there.
pub fn from_lines(lines: &[Vec<[f64; 2]>]) -> Segments {
    let mut j = Joiner::default();
    for line in lines {
        let mut previous: Option<u32> = None;
        for p in line {
            if !valid_position(p[0], p[1]) {
                previous = None;
                continue;
            }
            let v = j.vertex(*p);
            if let Some(u) = previous {
                let m = j.haversine(u, v);
                j.segment(u, v, m);
            }
            previous = Some(v);
        }
    }
    j.out
}

#[derive(Default)]
struct GeoJsonLines {
    joiner: Joiner,
    problems: Vec<Problem>,
    not_lines: usize,
}

impl GeoJsonLines {
    fn geometry(&mut self, feature: usize, g: &Value) {
        let coordinates = g.get("coordinates");
        match g.get("type").and_then(Value::as_str) {
            Some("LineString") => self.line(feature, coordinates),
            Some("MultiLineString") => match coordinates.and_then(Value::as_array) {
                Some(lines) => lines.iter().for_each(|l| self.line(feature, Some(l))),
                None => self.problem(feature, "a MultiLineString without an array of lines"),
            },
            Some("GeometryCollection") => {
                for sub in g
                    .get("geometries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.geometry(feature, sub);
                }
            }
            _ => self.not_lines += 1,
        }
    }

    fn line(&mut self, feature: usize, coordinates: Option<&Value>) {
        let Some(points) = coordinates.and_then(Value::as_array) else {
            return self.problem(feature, "a line whose coordinates are not an array");
        };
        let mut previous: Option<u32> = None;
        for (j, p) in points.iter().enumerate() {
            let xy = p
                .as_array()
                .and_then(|a| Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?]));
            let Some([lon, lat]) = xy.filter(|[lon, lat]| valid_position(*lon, *lat)) else {
                self.problems.push(Problem {
                    at: format!("feature {feature}, position {}", j + 1),
                    what: format!(
                        "{p} is not a [longitude, latitude] pair in degrees (longitude −180…180, latitude −90…90)"
                    ),
                });
                previous = None;
                continue;
            };
            let v = self.joiner.vertex([lon, lat]);
            if let Some(u) = previous {
                let m = self.joiner.haversine(u, v);
                self.joiner.segment(u, v, m);
            }
            previous = Some(v);
        }
    }

    fn problem(&mut self, feature: usize, what: &str) {
        self.problems.push(Problem {
            at: format!("feature {feature}"),
            what: what.into(),
        });
    }
}

/// The columns of the graph CSV, in order.
pub const GRAPH_COLUMNS: [&str; 5] = ["from_lon", "from_lat", "to_lon", "to_lat", "meters"];

/// The graph CSV that `linli access graph` writes; the lengths are taken as written, so
/// every tool reading it walks the very same graph.
pub fn read_graph_csv(path: &Path, bytes: &[u8]) -> Result<Segments> {
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let header = rows
        .headers()
        .map_err(|e| AccessError::NotCsv {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?
        .clone();
    if header.iter().map(str::trim).ne(GRAPH_COLUMNS) {
        return Err(AccessError::BadHeader {
            path: path.to_path_buf(),
            expected: GRAPH_COLUMNS.join(","),
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut joiner = Joiner::default();
    let mut problems = Vec::new();
    for (i, row) in rows.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem {
                    at: format!("line {line}"),
                    what: e.to_string(),
                });
                continue;
            }
        };
        let mut v = [0f64; 5];
        let mut ok = true;
        for (c, name) in GRAPH_COLUMNS.iter().enumerate() {
            match row
                .get(c)
                .map(str::trim)
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(x) if x.is_finite() => v[c] = x,
                _ => {
                    ok = false;
                    problems.push(Problem {
                        at: format!("line {line}, column {name}"),
                        what: format!("{:?} is not a number", row.get(c).unwrap_or("")),
                    });
                }
            }
        }
        if !ok {
            continue;
        }
        let ends = [[v[0], v[1]], [v[2], v[3]]];
        if ends.iter().any(|p| !valid_position(p[0], p[1])) || v[4] < 0.0 {
            problems.push(Problem {
                at: format!("line {line}"),
                what: "positions must be longitude −180…180 and latitude −90…90, and meters not negative".into(),
            });
            continue;
        }
        let [a, b] = ends.map(|p| joiner.vertex(p));
        joiner.segment(a, b, v[4]);
    }
    if !problems.is_empty() {
        return Err(AccessError::BadRows {
            path: path.to_path_buf(),
            problems,
        });
    }
    Ok(joiner.out)
}
