//! Reading a walking network: OpenStreetMap PBF, GeoJSON lines, or the graph CSV that
//! `linli access graph` writes. Each reader yields [`Segments`]: positions and the straight
//! pieces between them, joined where lines share an OSM node or a GeoJSON vertex.

use std::path::Path;

use osmpbf::{Element, ElementReader};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::{io, AccessError, Problem, Result};
use crate::fasthash::{map_with_capacity, position_key, FastMap};
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
    /// Whether no two positions are the same place (exact coordinates), as when the reader
    /// joined its lines by position: then building the graph need not join them again.
    pub distinct_positions: bool,
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

/// Refuses a file that does not begin as the PBF format requires: a 4-byte header length,
/// then a BlobHeader whose first field (type, a 9-byte string) is "OSMHeader". osmpbf's
/// reader takes a file too short for a block, an empty one included, for a PBF without
/// blocks.
pub(crate) fn check_pbf_start(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 15];
    let opens = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head[4..6] == [0x0a, 0x09] && &head[6..15] == b"OSMHeader");
    if opens {
        Ok(())
    } else {
        Err(AccessError::NotPbf {
            path: path.to_path_buf(),
            detail: "it does not begin with an OSMHeader block".into(),
        })
    }
}

/// Two passes: the walkable ways first (which nodes they need), then those nodes' positions.
/// A PBF lists nodes before ways, but reading twice keeps memory to the nodes that matter.
pub fn read_pbf(path: &Path) -> Result<Segments> {
    check_pbf_start(path)?;
    let mut index: FastMap<i64, u32> = FastMap::default();
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
struct Joiner {
    out: Segments,
    vertices: FastMap<(u64, u64), u32>,
}

impl Default for Joiner {
    fn default() -> Joiner {
        Joiner::with_capacity(0)
    }
}

impl Joiner {
    /// A joiner for about `segments` segments (a network has about as many positions).
    fn with_capacity(segments: usize) -> Joiner {
        Joiner {
            out: Segments {
                positions: Vec::with_capacity(segments),
                segments: Vec::with_capacity(segments),
                notes: Vec::new(),
                distinct_positions: true,
            },
            vertices: map_with_capacity(segments),
        }
    }

    #[inline]
    fn vertex(&mut self, p: [f64; 2]) -> u32 {
        let next = self.out.positions.len() as u32;
        let v = *self.vertices.entry(position_key(p)).or_insert(next);
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
    match plain_graph_rows(bytes) {
        Some(chunks) => {
            let mut joiner = Joiner::with_capacity(chunks.iter().map(Vec::len).sum());
            for row in chunks.iter().flatten() {
                let a = joiner.vertex([row[0], row[1]]);
                let b = joiner.vertex([row[2], row[3]]);
                joiner.segment(a, b, row[4]);
            }
            Ok(joiner.out)
        }
        None => read_graph_csv_checked(path, bytes),
    }
}

/// The rows of a graph CSV as plain as `linli access graph` writes it (the header, then five
/// unquoted numbers a line, all valid), parsed in parallel chunks; `None` at the first thing
/// out of the ordinary, for [`read_graph_csv_checked`] to read the file again and say
/// exactly what is wrong. A city's graph is hundreds of thousands of rows, and reading them
/// through the CSV reader's records took longer than searching it.
fn plain_graph_rows(bytes: &[u8]) -> Option<Vec<Vec<[f64; 5]>>> {
    let header_end = bytes.iter().position(|&b| b == b'\n')?;
    let header = bytes[..header_end]
        .strip_suffix(b"\r")
        .unwrap_or(&bytes[..header_end]);
    let mut names = header.split(|&b| b == b',').map(trim_blanks);
    if !GRAPH_COLUMNS
        .iter()
        .all(|c| names.next() == Some(c.as_bytes()))
        || names.next().is_some()
    {
        return None;
    }
    line_chunks(&bytes[header_end + 1..])
        .par_iter()
        .map(|chunk| {
            let mut rows = Vec::with_capacity(chunk.len() / 48 + 1);
            let mut at = 0;
            while at < chunk.len() {
                let mut v = [0f64; 5];
                for (c, x) in v.iter_mut().enumerate() {
                    (*x, at) = number_at(chunk, at)?;
                    if c < 4 {
                        at = expect(chunk, at, b',')?;
                    }
                }
                at = line_end(chunk, at)?;
                let valid = valid_position(v[0], v[1]) && valid_position(v[2], v[3]) && v[4] >= 0.0;
                if !valid {
                    return None;
                }
                rows.push(v);
            }
            Some(rows)
        })
        .collect()
}

/// `bytes` cut into pieces of whole lines for parsing in parallel, each without its final
/// line break (and none empty: a file's final line break ends the last piece).
pub(crate) fn line_chunks(bytes: &[u8]) -> Vec<&[u8]> {
    const CHUNK: usize = 1 << 17;
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut chunks = Vec::with_capacity(bytes.len() / CHUNK + 1);
    let mut rest = bytes;
    while !rest.is_empty() {
        let cut = match rest
            .get(CHUNK..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            Some(i) => CHUNK + i,
            None => rest.len(),
        };
        chunks.push(&rest[..cut]);
        rest = rest.get(cut + 1..).unwrap_or_default();
    }
    chunks
}

#[inline]
fn blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A cell without the spaces and tabs around it.
#[inline]
pub(crate) fn trim_blanks(cell: &[u8]) -> &[u8] {
    let start = cell.iter().position(|&b| !blank(b)).unwrap_or(cell.len());
    let end = cell
        .iter()
        .rposition(|&b| !blank(b))
        .map_or(start, |e| e + 1);
    &cell[start..end]
}

#[inline]
fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|&b| blank(b)) {
        at += 1;
    }
    at
}

/// A finite number starting at `at` (after blanks), with where the blanks after it end.
/// The value is what `str::parse::<f64>` gives: both round correctly.
#[inline]
pub(crate) fn number_at(bytes: &[u8], at: usize) -> Option<(f64, usize)> {
    let at = skip_blanks(bytes, at);
    let (x, used) = fast_float2::parse_partial::<f64, _>(bytes.get(at..)?).ok()?;
    (used > 0 && x.is_finite()).then(|| (x, skip_blanks(bytes, at + used)))
}

/// Past the byte `want` at `at`.
#[inline]
pub(crate) fn expect(bytes: &[u8], at: usize, want: u8) -> Option<usize> {
    (bytes.get(at) == Some(&want)).then_some(at + 1)
}

/// Past the end of a line at `at`: a line feed, a CRLF, or the end of the piece (whose line
/// feed [`line_chunks`] took off, leaving a CRLF's carriage return).
#[inline]
pub(crate) fn line_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at) {
        None => Some(at),
        Some(b'\n') => Some(at + 1),
        Some(b'\r') if matches!(bytes.get(at + 1), None | Some(b'\n')) => Some(at + 2),
        _ => None,
    }
}

/// [`read_graph_csv`] through the CSV reader, row by row, reporting every bad row.
pub fn read_graph_csv_checked(path: &Path, bytes: &[u8]) -> Result<Segments> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_files_take_the_quick_way() {
        let text = "from_lon,from_lat,to_lon,to_lat,meters\r\n24.9,60.1,24.91,60.11,12.5\r\n 24.91 ,60.11,-8.611385700000001,41.149924500000004,0\r\n";
        let rows = plain_graph_rows(text.as_bytes()).expect("plain");
        assert_eq!(
            rows.concat(),
            vec![
                [24.9, 60.1, 24.91, 60.11, 12.5],
                [24.91, 60.11, -8.611385700000001, 41.149924500000004, 0.0]
            ]
        );
        for odd in [
            "from_lon,from_lat,to_lon,to_lat,meters\n1,2,3,4,\"5\"\n",
            "from_lon,from_lat,to_lon,to_lat,meters\n1,2,3,4,5\n\n1,2,3,4,5\n",
            "from_lon,from_lat,to_lon,to_lat,meters\n1,2,3,4,5,6\n",
            "from_lon,from_lat,to_lon,to_lat,meters\n1,2,3,4,-5\n",
            "from_lon,from_lat,to_lon,to_lat,meters\n1,95,3,4,5\n",
            "from_lon,from_lat,to_lon,to_lat,meters\n1,2,3,4,5\r6,7,8,9,1\n",
            "from_lon,from_lat,to_lon,to_lat\n1,2,3,4\n",
        ] {
            assert!(plain_graph_rows(odd.as_bytes()).is_none(), "{odd:?}");
        }
        // A chunk boundary falls on a line boundary, whatever the file's size.
        let row = "120.123456789,30.1234567,120.1234,30.12345678901234,123.456\n";
        let big = format!("{}\n{}", GRAPH_COLUMNS.join(","), row.repeat(9000));
        let rows = plain_graph_rows(big.as_bytes()).expect("plain");
        assert!(rows.len() > 1);
        assert_eq!(rows.iter().map(Vec::len).sum::<usize>(), 9000);
    }
}
