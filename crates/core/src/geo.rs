//! Small, dependency-free geometry on WGS-84 longitude/latitude: reading GeoJSON polygons and
//! lines strictly, point-in-polygon, bounding boxes and centroids.
//!
//! Grids are a few hundred metres across and districts a few kilometres, so planar formulas on
//! degrees are accurate enough for "is this vertex inside its district" and "where to put the
//! label"; nothing here measures distances or areas in metres.
//!
//! Errors say where (a JSON path such as `features[2].geometry.coordinates[0][3]`) and how to
//! fix it, as an i18n key plus arguments so that the server can show them in either language.

use std::fmt;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::i18n::{self, Lang};

/// A WGS-84 position: `[longitude, latitude]`, the GeoJSON order.
pub type Position = [f64; 2];

/// Points this close to a boundary (in degrees, about 0.1 mm) count as on it, so that a grid
/// drawn along its district's edge is not rejected for floating-point noise.
pub const BOUNDARY_TOLERANCE: f64 = 1e-9;

/// How many characters of an offending JSON value an error message quotes: enough to recognise
/// it, short enough that a whole coordinate array does not flood the page.
const QUOTE_CHARS: usize = 40;

/// A polygon: one exterior ring and any number of holes. Rings are closed (first position ==
/// last) when read from GeoJSON; the algorithms here also accept open rings.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    pub exterior: Vec<Position>,
    pub holes: Vec<Vec<Position>>,
}

/// A set of polygons: the one shape every boundary (district, grid) is stored as.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiPolygon(pub Vec<Polygon>);

/// An axis-aligned bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

/// Why a GeoJSON value is not the geometry wanted. `args` always holds `path`, the place in
/// the document (`GeoJSON` for the top level); the message in [`i18n::TABLES`] says how to fix
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeoError {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl GeoError {
    fn new(key: &'static str, path: &str) -> GeoError {
        // An empty path is the top level; name it so the message still reads as a sentence.
        let path = if path.is_empty() { "GeoJSON" } else { path };
        GeoError {
            key,
            args: vec![("path", path.to_string())],
        }
    }

    fn arg(mut self, name: &'static str, value: impl ToString) -> GeoError {
        self.args.push((name, value.to_string()));
        self
    }

    /// Where in the document the problem is.
    pub fn path(&self) -> &str {
        self.args
            .iter()
            .find(|(k, _)| *k == "path")
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn message(&self, lang: Lang) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        i18n::format(lang, self.key, &args)
    }
}

impl fmt::Display for GeoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for GeoError {}

// ---------------------------------------------------------------------------------------------
// Reading GeoJSON

/// The type names a polygon reader accepts, quoted in "unknown type" messages.
const POLYGON_TYPES: &str = "Polygon, MultiPolygon, Feature, FeatureCollection";
const LINE_TYPES: &str = "LineString, MultiLineString, Feature, FeatureCollection";

/// What a reader is collecting; decides which geometry types are wanted and which are errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Polygons,
    Lines,
}

impl Want {
    fn types(self) -> &'static str {
        match self {
            Want::Polygons => POLYGON_TYPES,
            Want::Lines => LINE_TYPES,
        }
    }
}

/// Where geometry is allowed: a FeatureCollection may hold Features, a Feature a geometry, and
/// nothing nests further (RFC 7946 has no collection of collections).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    Top,
    InCollection,
    InFeature,
}

/// Collected output of one reader.
enum Sink<'a> {
    Polygons(&'a mut Vec<Polygon>),
    Lines(&'a mut Vec<Vec<Position>>),
}

impl Sink<'_> {
    fn want(&self) -> Want {
        match self {
            Sink::Polygons(_) => Want::Polygons,
            Sink::Lines(_) => Want::Lines,
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A short quotation of a JSON value for a message.
pub(crate) fn quote(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= QUOTE_CHARS {
        s
    } else {
        let mut short: String = s.chars().take(QUOTE_CHARS).collect();
        short.push('…');
        short
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, GeoError> {
    v.as_object()
        .ok_or_else(|| GeoError::new("geo.not_object", path).arg("found", quote(v)))
}

fn array<'a>(o: &'a Map<String, Value>, path: &str, field: &str) -> Result<&'a [Value], GeoError> {
    let p = child(path, field);
    match o.get(field) {
        None => Err(GeoError::new("geo.missing_field", path).arg("field", field)),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(GeoError::new("geo.not_array", &p).arg("found", quote(v))),
    }
}

fn type_name<'a>(o: &'a Map<String, Value>, path: &str, want: Want) -> Result<&'a str, GeoError> {
    match o.get("type") {
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(GeoError::new("geo.unknown_type", path)
            .arg("found", quote(v))
            .arg("expected", want.types())),
        None => Err(GeoError::new("geo.missing_type", path).arg("expected", want.types())),
    }
}

fn collect(v: &Value, path: &str, depth: Depth, sink: &mut Sink<'_>) -> Result<(), GeoError> {
    let o = object(v, path)?;
    let want = sink.want();
    let ty = type_name(o, path, want)?;
    match ty {
        "FeatureCollection" if depth == Depth::Top => {
            let features = array(o, path, "features")?;
            let fpath = child(path, "features");
            for (i, f) in features.iter().enumerate() {
                let p = index(&fpath, i);
                let fo = object(f, &p)?;
                // Members of a collection must be Features (RFC 7946 § 3.3); a bare geometry
                // there is a sign of a hand-edited file, better caught than guessed at.
                match type_name(fo, &p, want)? {
                    "Feature" => collect(f, &p, Depth::InCollection, sink)?,
                    other => {
                        return Err(GeoError::new("geo.unknown_type", &p)
                            .arg("found", other)
                            .arg("expected", "Feature"))
                    }
                }
            }
            Ok(())
        }
        "Feature" if depth != Depth::InFeature => match o.get("geometry") {
            None => Err(GeoError::new("geo.missing_field", path).arg("field", "geometry")),
            Some(Value::Null) => Err(GeoError::new("geo.null_geometry", path)),
            Some(g) => collect(g, &child(path, "geometry"), Depth::InFeature, sink),
        },
        "Polygon" | "MultiPolygon" | "LineString" | "MultiLineString" => {
            let is_polygon = ty.ends_with("Polygon");
            match (sink, is_polygon) {
                (Sink::Polygons(out), true) => read_polygons(o, path, ty == "MultiPolygon", out),
                (Sink::Lines(out), false) => read_lines(o, path, ty == "MultiLineString", out),
                (Sink::Polygons(_), false) => {
                    Err(GeoError::new("geo.need_polygon", path).arg("found", ty))
                }
                (Sink::Lines(_), true) => {
                    Err(GeoError::new("geo.need_line", path).arg("found", ty))
                }
            }
        }
        "Point" | "MultiPoint" | "GeometryCollection" => Err(match want {
            Want::Polygons => GeoError::new("geo.need_polygon", path).arg("found", ty),
            Want::Lines => GeoError::new("geo.need_line", path).arg("found", ty),
        }),
        // A Feature inside a Feature, a collection inside a collection, or a made-up name.
        other => Err(GeoError::new("geo.unknown_type", path)
            .arg("found", other)
            .arg(
                "expected",
                match depth {
                    Depth::Top => want.types(),
                    Depth::InCollection | Depth::InFeature => match want {
                        Want::Polygons => "Polygon, MultiPolygon",
                        Want::Lines => "LineString, MultiLineString",
                    },
                },
            )),
    }
}

fn read_polygons(
    o: &Map<String, Value>,
    path: &str,
    multi: bool,
    out: &mut Vec<Polygon>,
) -> Result<(), GeoError> {
    let coords = array(o, path, "coordinates")?;
    let cpath = child(path, "coordinates");
    if multi {
        for (i, p) in coords.iter().enumerate() {
            let ppath = index(&cpath, i);
            let rings = p
                .as_array()
                .ok_or_else(|| GeoError::new("geo.not_array", &ppath).arg("found", quote(p)))?;
            out.push(read_polygon(rings, &ppath)?);
        }
    } else {
        out.push(read_polygon(coords, &cpath)?);
    }
    Ok(())
}

fn read_polygon(rings: &[Value], path: &str) -> Result<Polygon, GeoError> {
    let (first, rest) = rings
        .split_first()
        .ok_or_else(|| GeoError::new("geo.no_rings", path))?;
    let exterior = read_ring(first, &index(path, 0))?;
    let holes = rest
        .iter()
        .enumerate()
        .map(|(i, r)| read_ring(r, &index(path, i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon { exterior, holes })
}

fn read_ring(v: &Value, path: &str) -> Result<Vec<Position>, GeoError> {
    let ring = read_positions(v, path)?;
    if ring.len() < 4 {
        return Err(GeoError::new("geo.ring_too_short", path).arg("count", ring.len()));
    }
    // RFC 7946 requires the closing position to be identical, not merely close; the same text
    // parses to the same f64, so exact comparison is right here.
    match (ring.first(), ring.last()) {
        (Some(first), Some(last)) if first != last => {
            Err(GeoError::new("geo.ring_not_closed", path)
                .arg("first", format!("[{}, {}]", first[0], first[1])))
        }
        _ => Ok(ring),
    }
}

fn read_lines(
    o: &Map<String, Value>,
    path: &str,
    multi: bool,
    out: &mut Vec<Vec<Position>>,
) -> Result<(), GeoError> {
    let coords = array(o, path, "coordinates")?;
    let cpath = child(path, "coordinates");
    if multi {
        for (i, l) in coords.iter().enumerate() {
            out.push(read_line(l, &index(&cpath, i))?);
        }
    } else {
        out.push(read_line_items(coords, &cpath)?);
    }
    Ok(())
}

fn read_line(v: &Value, path: &str) -> Result<Vec<Position>, GeoError> {
    let items = v
        .as_array()
        .ok_or_else(|| GeoError::new("geo.not_array", path).arg("found", quote(v)))?;
    read_line_items(items, path)
}

fn read_line_items(items: &[Value], path: &str) -> Result<Vec<Position>, GeoError> {
    let line = positions(items, path)?;
    if line.len() < 2 {
        return Err(GeoError::new("geo.line_too_short", path).arg("count", line.len()));
    }
    Ok(line)
}

fn read_positions(v: &Value, path: &str) -> Result<Vec<Position>, GeoError> {
    let items = v
        .as_array()
        .ok_or_else(|| GeoError::new("geo.not_array", path).arg("found", quote(v)))?;
    positions(items, path)
}

fn positions(items: &[Value], path: &str) -> Result<Vec<Position>, GeoError> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| position(p, path, i))
        .collect()
}

/// One position: two numbers, or three (the altitude, which is dropped).
fn position(v: &Value, ring_path: &str, i: usize) -> Result<Position, GeoError> {
    let bad = || GeoError::new("geo.bad_position", &index(ring_path, i)).arg("found", quote(v));
    let items = v.as_array().ok_or_else(bad)?;
    if !(2..=3).contains(&items.len()) {
        return Err(bad());
    }
    let mut nums = [0.0; 3];
    for (n, item) in nums.iter_mut().zip(items) {
        *n = item.as_f64().ok_or_else(bad)?;
    }
    let [lon, lat, _] = nums;
    if !(-180.0..=180.0).contains(&lon) {
        return Err(GeoError::new("geo.lon_out_of_range", &index(ring_path, i)).arg("value", lon));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(GeoError::new("geo.lat_out_of_range", &index(ring_path, i)).arg("value", lat));
    }
    Ok([lon, lat])
}

/// Reads road lines: LineString or MultiLineString geometries, Features holding one, or a
/// FeatureCollection of them. Each line is returned separately (a MultiLineString gives one
/// per part).
pub fn parse_lines(v: &Value) -> Result<Vec<Vec<Position>>, GeoError> {
    let mut out = Vec::new();
    collect(v, "", Depth::Top, &mut Sink::Lines(&mut out))?;
    if out.is_empty() {
        return Err(GeoError::new("geo.no_lines", ""));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Geometry

impl BBox {
    /// The box around `points`; `None` if there are none.
    pub fn of<'a>(points: impl IntoIterator<Item = &'a Position>) -> Option<BBox> {
        let mut it = points.into_iter();
        let first = it.next()?;
        let mut b = BBox {
            min_lon: first[0],
            min_lat: first[1],
            max_lon: first[0],
            max_lat: first[1],
        };
        for p in it {
            b.min_lon = b.min_lon.min(p[0]);
            b.min_lat = b.min_lat.min(p[1]);
            b.max_lon = b.max_lon.max(p[0]);
            b.max_lat = b.max_lat.max(p[1]);
        }
        Some(b)
    }

    /// Whether `p` lies in the box or within [`BOUNDARY_TOLERANCE`] of it.
    pub fn contains(&self, p: Position) -> bool {
        p[0] >= self.min_lon - BOUNDARY_TOLERANCE
            && p[0] <= self.max_lon + BOUNDARY_TOLERANCE
            && p[1] >= self.min_lat - BOUNDARY_TOLERANCE
            && p[1] <= self.max_lat + BOUNDARY_TOLERANCE
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox {
            min_lon: self.min_lon.min(other.min_lon),
            min_lat: self.min_lat.min(other.min_lat),
            max_lon: self.max_lon.max(other.max_lon),
            max_lat: self.max_lat.max(other.max_lat),
        }
    }
}

impl Polygon {
    fn rings(&self) -> impl Iterator<Item = &Vec<Position>> {
        std::iter::once(&self.exterior).chain(&self.holes)
    }

    /// Whether `p` is inside: within the exterior and outside every hole. A point on any ring
    /// (within [`BOUNDARY_TOLERANCE`]) counts as inside, hole edges included, since the
    /// boundary belongs to the polygon.
    pub fn contains(&self, p: Position) -> bool {
        if self.rings().any(|r| on_ring(r, p)) {
            return true;
        }
        ring_contains(&self.exterior, p) && !self.holes.iter().any(|h| ring_contains(h, p))
    }
}

/// Even–odd ray casting towards +longitude. Works for open and closed rings: a closing edge
/// from a position to itself never crosses the ray.
fn ring_contains(ring: &[Position], p: Position) -> bool {
    let [x, y] = p;
    let mut inside = false;
    let mut prev = match ring.last() {
        Some(&q) => q,
        None => return false,
    };
    for &cur in ring {
        let (a, b) = (prev, cur);
        // Half-open test on latitude so a ray through a vertex counts that vertex once.
        if (a[1] > y) != (b[1] > y) {
            let x_cross = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if x < x_cross {
                inside = !inside;
            }
        }
        prev = cur;
    }
    inside
}

fn on_ring(ring: &[Position], p: Position) -> bool {
    let Some(&last) = ring.last() else {
        return false;
    };
    let mut prev = last;
    ring.iter().any(|&cur| {
        let near = segment_distance(prev, cur, p) <= BOUNDARY_TOLERANCE;
        prev = cur;
        near
    })
}

/// Planar distance in degrees from `p` to the segment `a`–`b`.
fn segment_distance(a: Position, b: Position, p: Position) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a[0] + t * dx, a[1] + t * dy);
    (p[0] - cx).hypot(p[1] - cy)
}

/// Signed area (twice) and first moments (six times) of a ring, relative to `origin`. Shifting
/// to a nearby origin keeps the shoelace sums from cancelling at longitudes around 120°.
fn ring_moments(ring: &[Position], origin: Position) -> (f64, f64, f64) {
    let (mut a2, mut mx, mut my) = (0.0, 0.0, 0.0);
    let Some(&last) = ring.last() else {
        return (0.0, 0.0, 0.0);
    };
    let mut prev = [last[0] - origin[0], last[1] - origin[1]];
    for q in ring {
        let cur = [q[0] - origin[0], q[1] - origin[1]];
        let cross = prev[0] * cur[1] - cur[0] * prev[1];
        a2 += cross;
        mx += (prev[0] + cur[0]) * cross;
        my += (prev[1] + cur[1]) * cross;
        prev = cur;
    }
    (a2, mx, my)
}

impl MultiPolygon {
    /// Reads a Polygon or MultiPolygon geometry, a Feature holding one, or a FeatureCollection
    /// whose features are all polygons (merged into one MultiPolygon). Strict: anything that is
    /// not a valid closed polygon is an error saying where.
    pub fn from_geojson(v: &Value) -> Result<MultiPolygon, GeoError> {
        Self::from_geojson_at(v, "")
    }

    /// As [`MultiPolygon::from_geojson`], with error paths starting at `path` (the importer
    /// passes `geometry` so that the path reads from the feature).
    pub(crate) fn from_geojson_at(v: &Value, path: &str) -> Result<MultiPolygon, GeoError> {
        let mut out = Vec::new();
        collect(v, path, Depth::Top, &mut Sink::Polygons(&mut out))?;
        if out.is_empty() {
            return Err(GeoError::new("geo.no_polygons", path));
        }
        Ok(MultiPolygon(out))
    }

    /// A GeoJSON MultiPolygon geometry.
    pub fn to_geojson(&self) -> Value {
        let polygons: Vec<Value> = self
            .0
            .iter()
            .map(|p| {
                p.rings()
                    .map(|r| r.iter().map(|q| json!([q[0], q[1]])).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
                    .into()
            })
            .collect();
        json!({ "type": "MultiPolygon", "coordinates": polygons })
    }

    fn vertices(&self) -> impl Iterator<Item = &Position> {
        self.0.iter().flat_map(|p| p.rings()).flatten()
    }

    /// The bounding box. An empty MultiPolygon (which [`MultiPolygon::from_geojson`] never
    /// returns) gives the inverted box from +∞ to −∞: it contains nothing, and its union with
    /// any box is that box.
    pub fn bbox(&self) -> BBox {
        BBox::of(self.vertices()).unwrap_or(BBox {
            min_lon: f64::INFINITY,
            min_lat: f64::INFINITY,
            max_lon: f64::NEG_INFINITY,
            max_lat: f64::NEG_INFINITY,
        })
    }

    /// Whether `p` lies in any of the polygons; points on a boundary count as inside.
    pub fn contains(&self, p: Position) -> bool {
        self.0.iter().any(|poly| poly.contains(p))
    }

    /// The first vertex of `self` that is not inside `container`, with its index counted over
    /// all positions in order (polygon by polygon, exterior then holes, closing positions
    /// included). Used to reject a grid drawn outside its district.
    ///
    /// Only vertices are tested: an edge of a grid could still cut across a concave notch of
    /// the district. For grids, whose edges are short next to a district's, the vertex test
    /// catches the mistakes people make (a wrong district, swapped coordinates) cheaply.
    pub fn first_vertex_outside(&self, container: &MultiPolygon) -> Option<(usize, Position)> {
        let bbox = container.bbox();
        self.vertices()
            .enumerate()
            .find(|(_, &p)| !(bbox.contains(p) && container.contains(p)))
            .map(|(i, &p)| (i, p))
    }

    /// The area-weighted centroid (planar on degrees, holes subtracted). Falls back to the
    /// mean of the vertices when the area is zero (a degenerate, flat polygon); `None` if
    /// there are no vertices at all.
    pub fn centroid(&self) -> Option<Position> {
        let origin = *self.vertices().next()?;
        let (mut area, mut mx, mut my) = (0.0, 0.0, 0.0);
        for poly in &self.0 {
            for (i, ring) in poly.rings().enumerate() {
                let (a2, rx, ry) = ring_moments(ring, origin);
                // Orientation varies between files (the 上城区 boundary is clockwise), so
                // weigh each ring by its absolute area: exteriors add, holes subtract.
                let sign = if i == 0 { 1.0 } else { -1.0 } * a2.signum();
                area += sign * a2 / 2.0;
                mx += sign * rx / 6.0;
                my += sign * ry / 6.0;
            }
        }
        if area.abs() > f64::EPSILON * f64::EPSILON {
            return Some([origin[0] + mx / area, origin[1] + my / area]);
        }
        let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for p in self.vertices() {
            n += 1.0;
            sx += p[0];
            sy += p[1];
        }
        Some([sx / n, sy / n])
    }
}

impl From<Polygon> for MultiPolygon {
    fn from(p: Polygon) -> MultiPolygon {
        MultiPolygon(vec![p])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Position> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    /// A 10 × 10 square with a 2 × 2 hole in the middle.
    fn holed() -> MultiPolygon {
        MultiPolygon(vec![Polygon {
            exterior: square(0.0, 0.0, 10.0, 10.0),
            holes: vec![square(4.0, 4.0, 6.0, 6.0)],
        }])
    }

    fn err(v: Value) -> GeoError {
        match MultiPolygon::from_geojson(&v) {
            Ok(m) => panic!("expected an error for {v}, got {m:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn point_in_square_hole_and_edges() {
        let m = holed();
        assert!(m.contains([1.0, 1.0]));
        assert!(!m.contains([11.0, 1.0]));
        assert!(!m.contains([-0.5, 5.0]));
        assert!(!m.contains([5.0, 5.0]), "inside the hole");
        // Edges and corners count as inside, hole edges too, within the tolerance.
        assert!(m.contains([0.0, 5.0]));
        assert!(m.contains([10.0, 10.0]));
        assert!(m.contains([5.0, 10.0 + 1e-10]));
        assert!(!m.contains([5.0, 10.0 + 1e-6]));
        assert!(m.contains([4.0, 5.0]));
        assert!(m.contains([5.0, 6.0]));
        // A ray through a vertex must not be counted twice.
        let diamond = MultiPolygon(vec![Polygon {
            exterior: vec![
                [0.0, -1.0],
                [1.0, 0.0],
                [0.0, 1.0],
                [-1.0, 0.0],
                [0.0, -1.0],
            ],
            holes: vec![],
        }]);
        assert!(diamond.contains([-0.5, 0.0]));
        assert!(!diamond.contains([-1.5, 0.0]));
    }

    #[test]
    fn multipolygon_contains_either_part_and_reports_outside_vertices() {
        let m = MultiPolygon(vec![
            Polygon {
                exterior: square(0.0, 0.0, 1.0, 1.0),
                holes: vec![],
            },
            Polygon {
                exterior: square(5.0, 5.0, 6.0, 6.0),
                holes: vec![],
            },
        ]);
        assert!(m.contains([0.5, 0.5]) && m.contains([5.5, 5.5]));
        assert!(!m.contains([3.0, 3.0]));

        let inner = MultiPolygon::from(Polygon {
            exterior: square(1.0, 1.0, 2.0, 2.0),
            holes: vec![],
        });
        assert_eq!(inner.first_vertex_outside(&holed()), None);
        let crossing = MultiPolygon::from(Polygon {
            exterior: square(8.0, 8.0, 12.0, 9.0),
            holes: vec![],
        });
        assert_eq!(
            crossing.first_vertex_outside(&holed()),
            Some((1, [12.0, 8.0]))
        );
        // A vertex in the container's hole is outside it.
        let in_hole = MultiPolygon::from(Polygon {
            exterior: square(1.0, 1.0, 5.0, 5.0),
            holes: vec![],
        });
        assert_eq!(
            in_hole.first_vertex_outside(&holed()),
            Some((2, [5.0, 5.0]))
        );
    }

    #[test]
    fn bbox_centroid_and_round_trip() {
        let m = holed();
        assert_eq!(
            m.bbox(),
            BBox {
                min_lon: 0.0,
                min_lat: 0.0,
                max_lon: 10.0,
                max_lat: 10.0
            }
        );
        let c = m.centroid().expect("centroid");
        assert!(
            (c[0] - 5.0).abs() < 1e-12 && (c[1] - 5.0).abs() < 1e-12,
            "{c:?}"
        );
        // Area weighting: a big square and a small one far away.
        let two = MultiPolygon(vec![
            Polygon {
                exterior: square(0.0, 0.0, 3.0, 3.0),
                holes: vec![],
            },
            Polygon {
                exterior: square(10.0, 0.0, 11.0, 1.0),
                holes: vec![],
            },
        ]);
        let c = two.centroid().expect("centroid");
        assert!((c[0] - (9.0 * 1.5 + 10.5) / 10.0).abs() < 1e-12, "{c:?}");
        // Clockwise rings give the same answer.
        let mut cw = holed();
        cw.0[0].exterior.reverse();
        let c = cw.centroid().expect("centroid");
        assert!(
            (c[0] - 5.0).abs() < 1e-12 && (c[1] - 5.0).abs() < 1e-12,
            "{c:?}"
        );
        assert_eq!(MultiPolygon(vec![]).centroid(), None);
        assert!(!MultiPolygon(vec![]).bbox().contains([0.0, 0.0]));

        let back = MultiPolygon::from_geojson(&m.to_geojson()).expect("round trip");
        assert_eq!(back, m);
        assert_eq!(m.to_geojson()["type"], "MultiPolygon");
    }

    #[test]
    fn accepts_every_polygon_container() {
        let ring = json!([[0, 0], [1, 0], [1, 1, 12.5], [0, 0]]);
        let poly = json!({"type": "Polygon", "coordinates": [ring]});
        let multi = json!({"type": "MultiPolygon", "coordinates": [[ring], [ring]]});
        let feature = json!({"type": "Feature", "properties": null, "geometry": poly});
        let fc = json!({"type": "FeatureCollection", "features": [feature, {"type": "Feature", "geometry": multi}]});
        assert_eq!(MultiPolygon::from_geojson(&poly).map(|m| m.0.len()), Ok(1));
        assert_eq!(MultiPolygon::from_geojson(&multi).map(|m| m.0.len()), Ok(2));
        assert_eq!(
            MultiPolygon::from_geojson(&feature).map(|m| m.0.len()),
            Ok(1)
        );
        assert_eq!(MultiPolygon::from_geojson(&fc).map(|m| m.0.len()), Ok(3));
    }

    #[test]
    fn every_error_says_where_and_what() {
        let ring = json!([[0, 0], [1, 0], [1, 1], [0, 0]]);
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!([1, 2]), "geo.not_object", "GeoJSON"),
            (json!({"coordinates": []}), "geo.missing_type", "GeoJSON"),
            (json!({"type": 7}), "geo.unknown_type", "GeoJSON"),
            (
                json!({"type": "Polygn", "coordinates": []}),
                "geo.unknown_type",
                "GeoJSON",
            ),
            (
                json!({"type": "Point", "coordinates": [1, 2]}),
                "geo.need_polygon",
                "GeoJSON",
            ),
            (
                json!({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}),
                "geo.need_polygon",
                "GeoJSON",
            ),
            (json!({"type": "Polygon"}), "geo.missing_field", "GeoJSON"),
            (
                json!({"type": "Polygon", "coordinates": 5}),
                "geo.not_array",
                "coordinates",
            ),
            (
                json!({"type": "Polygon", "coordinates": []}),
                "geo.no_rings",
                "coordinates",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0]]]}),
                "geo.bad_position",
                "coordinates[0][3]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, "1"], [0, 0]]]}),
                "geo.bad_position",
                "coordinates[0][2]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1, 2, 3], [0, 0]]]}),
                "geo.bad_position",
                "coordinates[0][2]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]}),
                "geo.lon_out_of_range",
                "coordinates[0][1]",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[30, 120], [31, 120], [31, 121], [30, 120]]]]}),
                "geo.lat_out_of_range",
                "coordinates[1][0][0]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
                "geo.ring_too_short",
                "coordinates[0]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [ring, [[0, 0], [1, 0], [1, 1], [0, 1]]]}),
                "geo.ring_not_closed",
                "coordinates[1]",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "geo.no_polygons",
                "GeoJSON",
            ),
            (
                json!({"type": "FeatureCollection", "features": []}),
                "geo.no_polygons",
                "GeoJSON",
            ),
            (
                json!({"type": "FeatureCollection"}),
                "geo.missing_field",
                "GeoJSON",
            ),
            (
                json!({"type": "FeatureCollection", "features": [{"type": "Polygon", "coordinates": [ring]}]}),
                "geo.unknown_type",
                "features[0]",
            ),
            (json!({"type": "Feature"}), "geo.missing_field", "GeoJSON"),
            (
                json!({"type": "Feature", "geometry": null}),
                "geo.null_geometry",
                "GeoJSON",
            ),
            (
                json!({"type": "Feature", "geometry": {"type": "Feature", "geometry": null}}),
                "geo.unknown_type",
                "geometry",
            ),
            (
                json!({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}]}),
                "geo.need_polygon",
                "features[0].geometry",
            ),
        ];
        for (v, key, path) in cases {
            let e = err(v.clone());
            assert_eq!((e.key, e.path()), (key, path), "{v}");
            assert!(i18n::has(e.key), "{} is not in the table", e.key);
            for lang in [Lang::Zh, Lang::En] {
                let m = e.message(lang);
                assert!(m.contains(path), "{lang:?} {m}");
                assert!(!m.contains('{'), "unfilled placeholder: {m}");
            }
        }
        let e = err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}));
        assert!(e.to_string().contains("[0, 0]"), "{e}");
        assert!(
            e.message(Lang::Zh).contains("首"),
            "{}",
            e.message(Lang::Zh)
        );
    }

    #[test]
    fn lines_parse_and_reject_polygons() {
        let fc = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3], [4, 4]]]}},
        ]});
        let lines = parse_lines(&fc).expect("lines");
        assert_eq!(lines.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 3]);
        let e = parse_lines(&json!({"type": "Polygon", "coordinates": []})).unwrap_err();
        assert_eq!(e.key, "geo.need_line");
        let e = parse_lines(&json!({"type": "LineString", "coordinates": [[0, 0]]})).unwrap_err();
        assert_eq!((e.key, e.path()), ("geo.line_too_short", "coordinates"));
        let e = parse_lines(&json!({"type": "MultiLineString", "coordinates": []})).unwrap_err();
        assert_eq!(e.key, "geo.no_lines");
        let e = parse_lines(&json!({"type": "Polygn"})).unwrap_err();
        assert!(e.message(Lang::En).contains("LineString"), "{e}");
    }

    const SHANGCHENG: &str = include_str!("../tests/data/330102_shangcheng.wgs84.geojson");

    #[test]
    fn real_shangcheng_boundary() {
        let v: Value = serde_json::from_str(SHANGCHENG).expect("fixture is JSON");
        let m = MultiPolygon::from_geojson(&v).expect("fixture is a valid boundary");
        let b = m.bbox();
        // The bbox measured from the file: 120.1324–120.2910 E, 30.1951–30.3960 N.
        assert!(
            (b.min_lon - 120.1323606).abs() < 1e-9 && (b.max_lat - 30.3959651).abs() < 1e-9,
            "{b:?}"
        );
        // 清波/湖滨, on West Lake's east shore; the old 江干 part in the north-east.
        assert!(m.contains([120.17, 30.25]));
        assert!(m.contains([120.165, 30.25]));
        assert!(m.contains([120.25, 30.30]));
        // The lake itself (西湖区) and a point west of it lie inside the bbox but outside.
        assert!(b.contains([120.15, 30.25]) && !m.contains([120.15, 30.25]));
        assert!(b.contains([120.14, 30.30]) && !m.contains([120.14, 30.30]));
        assert!(!m.contains([120.30, 30.30]));
        let c = m.centroid().expect("centroid");
        assert!(m.contains(c), "{c:?}");
        assert!(
            (c[0] - 120.2145).abs() < 1e-3 && (c[1] - 30.2913).abs() < 1e-3,
            "{c:?}"
        );
        // Every vertex of the district lies on its own boundary.
        assert_eq!(m.first_vertex_outside(&m), None);
        let grid = MultiPolygon::from(Polygon {
            exterior: vec![
                [120.169, 30.249],
                [120.171, 30.249],
                [120.171, 30.251],
                [120.15, 30.25],
                [120.169, 30.249],
            ],
            holes: vec![],
        });
        assert_eq!(grid.first_vertex_outside(&m), Some((3, [120.15, 30.25])));
    }

    #[test]
    fn real_hangzhou_roads_parse() {
        let path = "/work/shared/data/geo/hangzhou/roads_central.wgs84.geojson";
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipped: {path} is absent");
            return;
        };
        let v: Value = serde_json::from_str(&text).expect("roads file is JSON");
        let lines = parse_lines(&v).expect("roads parse");
        let features = v["features"].as_array().map_or(0, Vec::len);
        assert_eq!(features, 7614);
        assert!(lines.len() >= features, "{} lines", lines.len());
        let b = BBox::of(lines.iter().flatten()).expect("bbox");
        assert!(
            (b.min_lon - 120.097).abs() < 1e-3 && (b.max_lat - 30.283).abs() < 1e-3,
            "{b:?}"
        );
    }
}

/// Mean Earth radius in metres (IUGG), for [`haversine_m`].
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The great-circle distance between two WGS-84 positions, in metres.
pub fn haversine_m(a: Position, b: Position) -> f64 {
    let (lon1, lat1) = (a[0].to_radians(), a[1].to_radians());
    let (lon2, lat2) = (b[0].to_radians(), b[1].to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The side of a proximity cell in degrees: about 220 m north–south, 190 m east–west at
/// Hangzhou's latitude.
pub const CELL_DEGREES: f64 = 0.002;

/// A position's proximity cell, computed exactly as the databases' generated `cell` columns
/// do (the migrations spell out the same formula), so that "near" is an indexed IN list.
pub fn cell_of(p: Position) -> i64 {
    grid_cell(p, CELL_DEGREES, 100_000, 0)[0]
}

/// The cells within `rings` cells of a position's own (1: the 3 × 3 block around it), which
/// hold every point within [`CELL_DEGREES`] × `rings` of it.
pub fn cells_around(p: Position, rings: i64) -> Vec<i64> {
    grid_cell(p, CELL_DEGREES, 100_000, rings)
}

/// The finer cell of an event, for finding open reports within 50 m: 0.0008° is about 89 m
/// north–south and, anywhere in China (south of 55° N), more than 50 m east–west, so a
/// point's 3 × 3 block holds every point within 50 m while covering a sixth of the area the
/// 200 m cells would. Migration 0007 spells out the same formula.
pub const NEAR_CELL_DEGREES: f64 = 0.0008;

/// An event's near cell (see [`NEAR_CELL_DEGREES`]).
pub fn near_cell_of(p: Position) -> i64 {
    grid_cell(p, NEAR_CELL_DEGREES, 1_000_000, 0)[0]
}

/// The 3 × 3 block of near cells around a position.
pub fn near_cells_around(p: Position) -> Vec<i64> {
    grid_cell(p, NEAR_CELL_DEGREES, 1_000_000, 1)
}

/// The cells of a grid of `degrees` within `rings` of `p`'s own, each numbered
/// `x * stride + y` (`stride` above the largest `y`).
fn grid_cell(p: Position, degrees: f64, stride: i64, rings: i64) -> Vec<i64> {
    let x = ((p[0] + 180.0) / degrees) as i64;
    let y = ((p[1] + 90.0) / degrees) as i64;
    let mut out = Vec::with_capacity(((2 * rings + 1) * (2 * rings + 1)) as usize);
    for dx in -rings..=rings {
        for dy in -rings..=rings {
            out.push((x + dx) * stride + (y + dy));
        }
    }
    out
}

#[cfg(test)]
mod distance_tests {
    use super::*;

    #[test]
    fn haversine_and_cells_agree_with_known_figures() {
        // One thousandth of a degree of latitude is about 111 m everywhere.
        let d = haversine_m([120.17, 30.25], [120.17, 30.251]);
        assert!((d - 111.2).abs() < 0.5, "{d}");
        assert_eq!(haversine_m([120.0, 30.0], [120.0, 30.0]), 0.0);
        let p = [120.1712, 30.2591];
        assert!(cells_around(p, 1).contains(&cell_of(p)));
        assert_eq!(cells_around(p, 1).len(), 9);
        // A point 50 m away in any direction is in the 3 × 3 block.
        for (dx, dy) in [
            (0.0005, 0.0),
            (-0.0005, 0.0),
            (0.0, 0.00045),
            (0.0, -0.00045),
        ] {
            assert!(cells_around(p, 1).contains(&cell_of([p[0] + dx, p[1] + dy])));
        }
    }

    #[test]
    fn every_point_within_50_m_is_in_the_near_block_from_the_south_to_the_north_of_china() {
        for lat in [18.2, 30.25, 45.75, 53.4] {
            let p = [120.1712, lat];
            let block = near_cells_around(p);
            assert_eq!(block.len(), 9);
            assert!(block.contains(&near_cell_of(p)));
            // 50 m in eight directions, as degrees at this latitude.
            let dlat = 50.0 / 111_195.0;
            let dlon = dlat / lat.to_radians().cos();
            for (fx, fy) in [
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.0, 1.0),
                (0.0, -1.0),
                (0.7, 0.7),
                (-0.7, 0.7),
                (0.7, -0.7),
                (-0.7, -0.7),
            ] {
                let q = [p[0] + fx * dlon, p[1] + fy * dlat];
                assert!(haversine_m(p, q) <= 50.5);
                assert!(block.contains(&near_cell_of(q)), "{q:?} at latitude {lat}");
            }
        }
        // A point 200 m away is not: the block is fine enough to leave most of a hot spot out.
        let p = [120.1712, 30.25];
        assert!(!near_cells_around(p).contains(&near_cell_of([p[0], p[1] + 0.0018])));
    }
}
