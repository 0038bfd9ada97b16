//! The demo district's registry (人、房、设施): buildings, households, residents, facilities
//! and neighbourhood hubs for 上城区, generated at a chosen `scale` of the real district.
//!
//! # Proportions
//! At scale 1 the district has the 1,320,000 residents practice 000 reports (常住人口 132 万)
//! in about 550,000 households (Hangzhou's household size of about 2.4), spread over the 203
//! communities of the national divisions with weights that follow each community's number
//! of micro-grids (as the grids themselves do). Households are drawn from a small set of
//! kinds (a young single, a couple, parents with one or two children, three generations, an
//! older person alone, an older couple, an older parent with an adult child; renters alone,
//! sharing, or as a family) whose mix is tuned to an ageing inner-city district: about 26 %
//! of residents 60 and over, about 4.3 % 80 and over, about 2.5 % under 3 (births have fallen
//! since 2017) and 14 % under 18; the western old-town streets older than the eastern ones.
//! The key elderly (80 and over, or 60 and over and living alone, 孤寡 or 空巢) come to about
//! 68,000, practice 000's figure for the 独居、高龄 elderly under care. Assigned tags come in
//! plausible shares: 独居 exactly for the older people living alone (孤寡 a few of them), 空巢
//! for a few older couples, 残疾 about 2 %, 低保 about 1 %, 党员 about 8 % of adults, 志愿者
//! about 5 % of adults, 退役军人 about 1 %, 重点关注 about 0.5 %; every member of a rented
//! household carries 租户 (and the unrelated ones the relation 租客), nobody in an owned one
//! does.
//!
//! Renters are 10–35 % of a community's residents, except in eight large communities of the
//! eastern streets (彭埠, 九堡, 笕桥, 丁兰, 四季青), which get 11,000–15,000 residents with
//! 55–68 % renters: at scale 1 they are 融合型大社区 by practice 003's rule (3,000
//! households or 10,000 residents, renters at least half). The rule's thresholds are
//! absolute, so at smaller scales these communities shrink below them and the district
//! usually shows none; that is expected.
//!
//! # Scale
//! People, households and buildings are a sample of `scale` of the district: at the default
//! 0.1 about 132,000 residents in about 1,000 buildings, every community keeping at least one
//! building and one resident. Facilities and hubs are not sampled: their numbers per
//! community follow the community's full-size population (every community has its
//! community service station; a kindergarten per 5,000 residents; about 1,100 bus stops in
//! all, as OpenStreetMap has in 上城区), since they are the supply the health check measures
//! the sampled buildings against. Per-resident rates of facilities are therefore `1/scale`
//! times too generous below scale 1.
//!
//! # Identifiers
//! ID numbers are valid GB 11643 numbers built with [`compose`]: the address code is 330102
//! for most owners (330104 and 330103, the old 江干 and 下城 codes, or another Zhejiang
//! county for some), mostly other Zhejiang counties for renters; the birth date is the
//! resident's and the sequence's parity the gender. Sequences count up per address code,
//! birth date and gender, so no number repeats in the district; a number that someone
//! entered by hand already takes a sequence from a second, disjoint range instead. Mobile
//! numbers are valid and distinct, given to most adults, some teenagers and no young child.
//!
//! # Positions: synthetic
//! No street or community polygons exist in any free source (data/geo/SOURCES.md), so the
//! positions are made up, honestly: the district boundary (crates/store/data) is split into
//! 14 street zones, each the part of the boundary nearest to an approximate centre of the
//! real street (湖滨, 清波, 小营, 紫阳, 南星, 望江 in the west by the lake; 采荷, 凯旋, 四季青,
//! 闸弄口 in the centre; 彭埠, 笕桥, 丁兰, 九堡 in the east and north-east); each zone is split
//! into its communities' cells by a seeded k-means over random points of the zone. A housing
//! estate is put where the road network passed in `roads` (OpenStreetMap, central Hangzhou:
//! it covers the western and central streets) runs through the community's cell, its
//! buildings 15–40 m beside the road lines; cells without roads get estates at random points
//! inside the boundary. Facilities stand near buildings, bus stops by the road; below scale 1,
//! where a community has only a sample of its buildings, most of its facilities stand
//! elsewhere in its cell instead, by a road where it has one, so that they do not all crowd
//! round the few buildings. Every point lies inside the district boundary; none is a real
//! address.
//!
//! # Writing
//! Rows are generated as typed rows on a blocking thread, one community ahead of the
//! writer, and written through the same per-community import path as real workbooks
//! ([`Store::import_buildings_as`] and its siblings, with [`Source::Generated`]): the same
//! validation, encryption and per-community figures. Rebuilding first deletes the
//! district's generated registry rows (people's own rows stay, and so do generated homes
//! somebody has since put a person into).

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate};
use linli_core::geo::{BBox, MultiPolygon};
use linli_core::grid::Source;
use linli_core::registry::hub::{HubKind, HubModel, HubSpace, SpaceRole};
use linli_core::registry::idcard::{compose, IdNumber};
use linli_core::registry::rows::{BuildingRow, FacilityRow, HouseholdRow, ResidentRow};
use linli_core::registry::{Phone, Relation, Tag, Tenure};
use linli_core::{Level, RegionCode};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::demo::{apportion, district_boundary, short_name, DISTRICT};
use crate::divisions::{Progress, Quiet};
use crate::regions::level_number;
use crate::registry::stats::refresh_stats;
use crate::registry::{community_of, HubInput};
use crate::{on_read, on_write, Result, Store, StoreError};

/// Residents of 上城区 at scale 1 (practice 000: 常住人口 132 万).
pub const RESIDENTS: usize = 1_320_000;
/// The 独居、高龄 elderly under care in practice 000, which the key-elderly figure aims at.
pub const KEY_ELDERLY: usize = 68_000;
const SEED: u64 = 0x0033_0102_0002;
/// Random points of the district used to draw the street and community cells.
const POOL: usize = 12_000;
/// Metres per degree at 上城区's latitude (30.25° N).
const M_PER_DEG_LON: f64 = 96_200.0;
const M_PER_DEG_LAT: f64 = 110_900.0;

/// Approximate centres (WGS-84) of the real streets, used only to split the boundary into
/// street zones: a zone is the part of the district nearer to its centre than to any other.
const STREET_CENTRES: [(&str, f64, f64); 14] = [
    ("330102001", 120.163, 30.241), // 清波
    ("330102003", 120.166, 30.258), // 湖滨
    ("330102004", 120.178, 30.263), // 小营
    ("330102008", 120.160, 30.222), // 南星
    ("330102009", 120.176, 30.240), // 紫阳
    ("330102010", 120.190, 30.238), // 望江
    ("330102011", 120.195, 30.273), // 凯旋
    ("330102012", 120.198, 30.260), // 采荷
    ("330102013", 120.192, 30.289), // 闸弄口
    ("330102014", 120.212, 30.252), // 四季青
    ("330102015", 120.235, 30.285), // 彭埠
    ("330102016", 120.210, 30.318), // 笕桥
    ("330102017", 120.215, 30.355), // 丁兰
    ("330102018", 120.268, 30.300), // 九堡
];

/// The old town by the lake: older residents, six-storey walk-ups.
const WEST: [&str; 6] = [
    "330102001",
    "330102003",
    "330102004",
    "330102008",
    "330102009",
    "330102010",
];
/// The former 江干 east: younger, high-rises, most renters.
const EAST: [&str; 4] = ["330102015", "330102016", "330102017", "330102018"];
/// The large mixed communities (融合型大社区) at scale 1: how many, and from which streets
/// (in turn).
const LARGE: usize = 8;
const LARGE_STREETS: [&str; 8] = [
    "330102015",
    "330102018",
    "330102016",
    "330102015",
    "330102018",
    "330102016",
    "330102017",
    "330102014",
];

/// What the registry demo built, and the district's figures afterwards.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RegistryDemoReport {
    pub buildings: usize,
    pub households: usize,
    pub residents: usize,
    pub facilities: usize,
    pub hubs: usize,
    /// Figures of the whole district (generated and people's own rows) as of today.
    pub renters: i64,
    pub age60: i64,
    pub age80: i64,
    pub under3: i64,
    pub under18: i64,
    pub key_elderly: i64,
    /// The 融合型大社区 of the district (practice 003's rule).
    pub large_communities: usize,
}

/// Checks a demo scale: a finite number in (0, 1], or 0 where `allow_zero` (no registry).
pub fn check_scale(scale: f64, allow_zero: bool) -> Result<()> {
    let ok = scale.is_finite() && scale <= 1.0 && (scale > 0.0 || (allow_zero && scale == 0.0));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "the demo scale must be a number above 0 and at most 1 (1 = the real district's \
             1.32 million residents, 0.1 = 132,000), not {scale}"
        )))
    }
}

/// China standard time's date: what the registry's age figures are counted against.
fn today() -> NaiveDate {
    (chrono::Utc::now() + Duration::hours(8)).date_naive()
}

// ---------------------------------------------------------------------------------------------
// Geometry

type Point = [f64; 2];

fn dist2(a: Point, b: Point) -> f64 {
    let dx = (a[0] - b[0]) * M_PER_DEG_LON;
    let dy = (a[1] - b[1]) * M_PER_DEG_LAT;
    dx * dx + dy * dy
}

/// `p` moved `east` and `north` metres.
fn shift(p: Point, east: f64, north: f64) -> Point {
    [p[0] + east / M_PER_DEG_LON, p[1] + north / M_PER_DEG_LAT]
}

/// A vertex of a road line in a community's cell, with the line's direction there (a unit
/// vector in metres, east and north).
#[derive(Debug, Clone, Copy)]
struct RoadPoint {
    at: Point,
    dir: [f64; 2],
}

/// A ring's edges sorted into latitude bands, for a quick even–odd test.
struct BandedRing {
    min_lat: f64,
    band: f64,
    bands: Vec<Vec<(Point, Point)>>,
}

const BANDS: usize = 256;

impl BandedRing {
    fn new(ring: &[Point]) -> BandedRing {
        let min_lat = ring.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
        let max_lat = ring.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
        let band = ((max_lat - min_lat) / BANDS as f64).max(1e-12);
        let mut r = BandedRing {
            min_lat,
            band,
            bands: vec![Vec::new(); BANDS],
        };
        let Some(&last) = ring.last() else {
            return r;
        };
        let mut prev = last;
        for &cur in ring {
            let lo = r.index(prev[1].min(cur[1]));
            let hi = r.index(prev[1].max(cur[1]));
            for b in &mut r.bands[lo..=hi] {
                b.push((prev, cur));
            }
            prev = cur;
        }
        r
    }

    fn index(&self, lat: f64) -> usize {
        (((lat - self.min_lat) / self.band).floor().max(0.0) as usize).min(BANDS - 1)
    }

    /// The even–odd test of `linli_core::geo` (a ray towards +longitude, half-open in
    /// latitude), over the edges of the point's band only: an edge the ray can cross spans
    /// the point's latitude, so it is in that band.
    fn contains(&self, p: Point) -> bool {
        let [x, y] = p;
        let mut inside = false;
        for &(a, b) in &self.bands[self.index(y)] {
            if (a[1] > y) != (b[1] > y) {
                let x_cross = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                if x < x_cross {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

/// Where things go: per community (in plan order) random points of its cell, and the road
/// vertices in it.
struct Layout {
    boundary: MultiPolygon,
    bbox: BBox,
    /// Each polygon's exterior and holes, banded.
    rings: Vec<(BandedRing, Vec<BandedRing>)>,
    pool: Vec<Vec<Point>>,
    roads: Vec<Vec<RoadPoint>>,
}

impl Layout {
    /// Whether `p` is inside the district. Strictly inside by the same ray test as
    /// [`MultiPolygon::contains`], which also counts points on the boundary: inside here is
    /// inside there.
    fn inside(&self, p: Point) -> bool {
        self.bbox.contains(p)
            && self
                .rings
                .iter()
                .any(|(ext, holes)| ext.contains(p) && !holes.iter().any(|h| h.contains(p)))
    }

    /// Splits the boundary into street zones and community cells (`streets`: each street's
    /// code and the plan indices of its communities) and sorts the road vertices into them.
    fn new(
        boundary: MultiPolygon,
        streets: &[(RegionCode, Vec<usize>)],
        communities: usize,
        roads: Option<&[Vec<[f64; 2]>]>,
        rng: &mut StdRng,
    ) -> Layout {
        let bbox = boundary.bbox();
        let rings = boundary
            .0
            .iter()
            .map(|p| {
                (
                    BandedRing::new(&p.exterior),
                    p.holes.iter().map(|h| BandedRing::new(h)).collect(),
                )
            })
            .collect();
        let mut layout = Layout {
            boundary,
            bbox,
            rings,
            pool: vec![Vec::new(); communities],
            roads: vec![Vec::new(); communities],
        };
        let mut points = Vec::with_capacity(POOL);
        let mut attempts = 0;
        while points.len() < POOL && attempts < POOL * 20 {
            attempts += 1;
            let p = [
                rng.gen_range(bbox.min_lon..=bbox.max_lon),
                rng.gen_range(bbox.min_lat..=bbox.max_lat),
            ];
            if layout.inside(p) {
                points.push(p);
            }
        }
        if points.is_empty() {
            points.push(layout.boundary.centroid().unwrap_or([120.2, 30.27]));
        }
        // Street zones: nearest centre.
        let seeds: Vec<Point> = streets
            .iter()
            .map(|(code, _)| {
                let code = code.to_string();
                STREET_CENTRES
                    .iter()
                    .find(|(c, _, _)| *c == code)
                    .map(|(_, lon, lat)| [*lon, *lat])
                    .unwrap_or_else(|| points[rng.gen_range(0..points.len())])
            })
            .collect();
        let nearest = |p: Point, among: &[Point]| -> usize {
            let mut best = 0;
            let mut best_d = f64::INFINITY;
            for (i, s) in among.iter().enumerate() {
                let d = dist2(p, *s);
                if d < best_d {
                    best_d = d;
                    best = i;
                }
            }
            best
        };
        let mut zone_points: Vec<Vec<Point>> = vec![Vec::new(); streets.len()];
        for p in &points {
            zone_points[nearest(*p, &seeds)].push(*p);
        }
        // Community cells: k-means over the zone's points.
        let mut centres: Vec<Vec<Point>> = Vec::with_capacity(streets.len());
        for (s, (_, members)) in streets.iter().enumerate() {
            let k = members.len();
            if k == 0 {
                centres.push(Vec::new());
                continue;
            }
            let mut pts = zone_points[s].clone();
            if pts.is_empty() {
                // A zone with no sample point: the nearest points of the district.
                let mut all = points.clone();
                all.sort_by(|a, b| dist2(*a, seeds[s]).total_cmp(&dist2(*b, seeds[s])));
                all.truncate(k.max(8));
                pts = all;
            }
            let mut c: Vec<Point> = (0..k).map(|_| pts[rng.gen_range(0..pts.len())]).collect();
            for _ in 0..8 {
                let mut sum = vec![[0.0, 0.0, 0.0]; k];
                for p in &pts {
                    let i = nearest(*p, &c);
                    sum[i][0] += p[0];
                    sum[i][1] += p[1];
                    sum[i][2] += 1.0;
                }
                for (i, acc) in sum.iter().enumerate() {
                    if acc[2] > 0.0 {
                        c[i] = [acc[0] / acc[2], acc[1] / acc[2]];
                    }
                }
            }
            for p in &pts {
                layout.pool[members[nearest(*p, &c)]].push(*p);
            }
            // A cell left without points gets the zone point nearest its centre.
            for (i, &m) in members.iter().enumerate() {
                if layout.pool[m].is_empty() {
                    let j = nearest(c[i], &pts);
                    layout.pool[m].push(pts[j]);
                }
            }
            centres.push(c);
        }
        if let Some(lines) = roads {
            for line in lines {
                for i in 0..line.len() {
                    let p = line[i];
                    if !layout.inside(p) {
                        continue;
                    }
                    let a = line[i.saturating_sub(1)];
                    let b = line[(i + 1).min(line.len() - 1)];
                    let dx = (b[0] - a[0]) * M_PER_DEG_LON;
                    let dy = (b[1] - a[1]) * M_PER_DEG_LAT;
                    let len = (dx * dx + dy * dy).sqrt();
                    if len < 1e-6 {
                        continue;
                    }
                    let s = nearest(p, &seeds);
                    if centres[s].is_empty() {
                        continue;
                    }
                    let m = streets[s].1[nearest(p, &centres[s])];
                    layout.roads[m].push(RoadPoint {
                        at: p,
                        dir: [dx / len, dy / len],
                    });
                }
            }
        }
        layout
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: what each community gets

/// Facility types: how many per community (a fixed number plus a rate per 10,000 residents
/// of the full-size community) and their floor area in m² (none for open spaces and stops).
struct FacilitySpec {
    code: &'static str,
    per_community: f64,
    per_10k: f64,
    area: Option<(f64, f64)>,
}

const fn spec(
    code: &'static str,
    per_community: f64,
    per_10k: f64,
    area: Option<(f64, f64)>,
) -> FacilitySpec {
    FacilitySpec {
        code,
        per_community,
        per_10k,
        area,
    }
}

/// The 20 types of crates/core/data/FACILITY_TYPES.md. Rates: GB 50180-2018's siting
/// (a kindergarten per about 5,000 residents, primary schools per 10–15,000), practice 000
/// (every community a service station, an elderly day-care centre and a culture room;
/// 3.15 childcare places per 1,000 residents, about 40 a nursery) and OpenStreetMap's 1,112
/// bus stops in 上城区.
const FACILITIES: [FacilitySpec; 20] = [
    spec("community_service", 1.0, 0.0, Some((300.0, 900.0))),
    spec("police", 0.0, 0.5, Some((150.0, 1500.0))),
    spec("childcare", 0.0, 0.8, Some((150.0, 600.0))),
    spec("kindergarten", 0.0, 2.0, Some((1500.0, 4500.0))),
    spec("primary_school", 0.0, 0.6, Some((8000.0, 22000.0))),
    spec("middle_school", 0.0, 0.3, Some((12000.0, 30000.0))),
    spec("elderly_day_care", 1.0, 0.0, Some((200.0, 800.0))),
    spec("nursing_home", 0.0, 0.25, Some((2000.0, 12000.0))),
    spec("health_station", 0.0, 1.0, Some((150.0, 450.0))),
    spec("health_centre", 0.0, 0.12, Some((2500.0, 9000.0))),
    spec("pharmacy", 0.0, 4.0, Some((50.0, 220.0))),
    spec("culture_station", 1.0, 0.0, Some((100.0, 400.0))),
    spec("culture_centre", 0.0, 0.15, Some((1200.0, 6000.0))),
    spec("convenience", 0.0, 10.0, Some((30.0, 160.0))),
    spec("market", 0.0, 1.0, Some((600.0, 3500.0))),
    spec("fitness", 0.0, 3.0, Some((80.0, 800.0))),
    spec("sports_ground", 0.0, 0.5, Some((1500.0, 9000.0))),
    spec("park", 0.0, 2.0, None),
    spec("canteen", 0.0, 1.2, Some((120.0, 450.0))),
    spec("bus_stop", 0.0, 8.4, None),
];

/// Facility types whose first one in a hub's community belongs to the hub.
const HUB_TYPES: [&str; 5] = [
    "community_service",
    "elderly_day_care",
    "culture_station",
    "canteen",
    "childcare",
];

/// Where a community lies, which sets its buildings and its age mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    West,
    Centre,
    East,
}

/// One community's share of the district.
struct CommunityPlan {
    code: RegionCode,
    /// Short name (清波门社区).
    name: String,
    street_name: String,
    zone: Zone,
    /// Residents at scale 1, and at the scale built.
    full_size: f64,
    residents: usize,
    renter_share: f64,
    micro_grids: Vec<RegionCode>,
    taken_buildings: HashSet<String>,
    taken_hubs: HashSet<String>,
    hub: Option<HubKind>,
    /// Facilities of each type, by the database's type codes.
    facilities: Vec<(String, usize)>,
}

/// The street's zone.
fn zone_of(street: RegionCode) -> Zone {
    let s = street.to_string();
    if WEST.contains(&s.as_str()) {
        Zone::West
    } else if EAST.contains(&s.as_str()) {
        Zone::East
    } else {
        Zone::Centre
    }
}

/// Fills in each community's share: its size at scale 1 (the eight large mixed communities
/// 11,000–15,000, the others by their micro-grids) and at `scale`, its renters, its
/// facilities of each of `types`, and the hubs (about one community in five, at least one
/// per street, the three kinds in turn); every street gets every facility type.
fn plan(
    plans: &mut [CommunityPlan],
    street_members: &[(RegionCode, Vec<usize>)],
    types: &[String],
    scale: f64,
) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let n = plans.len();
    let mut large: HashSet<usize> = HashSet::new();
    for (k, street) in LARGE_STREETS.iter().enumerate().take(LARGE) {
        let Some((_, members)) = street_members
            .iter()
            .find(|(c, _)| c.to_string() == *street)
        else {
            continue;
        };
        let free: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| !large.contains(m))
            .collect();
        if !free.is_empty() {
            large.insert(free[(k * 7 + 3) % free.len()]);
        }
    }
    let mut weights: Vec<f64> = vec![0.0; n];
    for (i, p) in plans.iter_mut().enumerate() {
        let w = p.micro_grids.len().max(1) as f64 * rng.gen_range(0.85..1.15);
        if large.contains(&i) {
            p.full_size = rng.gen_range(11_000.0..15_000.0);
        } else {
            weights[i] = w;
        }
    }
    let rest = RESIDENTS as f64 - plans.iter().map(|p| p.full_size).sum::<f64>();
    let weight_sum: f64 = weights.iter().sum::<f64>().max(1.0);
    for (i, p) in plans.iter_mut().enumerate() {
        if !large.contains(&i) {
            p.full_size = rest * weights[i] / weight_sum;
        }
    }
    let full: Vec<f64> = plans.iter().map(|p| p.full_size).collect();
    let total = ((RESIDENTS as f64) * scale).round() as usize;
    let sizes = apportion(total.max(n), &full);
    for (i, p) in plans.iter_mut().enumerate() {
        p.residents = sizes[i];
        p.renter_share = if large.contains(&i) {
            rng.gen_range(0.55..0.68)
        } else {
            match p.zone {
                Zone::West => rng.gen_range(0.10..0.20),
                Zone::Centre => rng.gen_range(0.12..0.26),
                Zone::East => rng.gen_range(0.16..0.32),
            }
        };
        p.facilities = types
            .iter()
            .map(|t| {
                let (fixed, rate) = FACILITIES
                    .iter()
                    .find(|s| s.code == t.as_str())
                    .map(|s| (s.per_community, s.per_10k))
                    .unwrap_or((0.0, 1.0));
                let e = fixed + rate * p.full_size / 10_000.0;
                let k = e.floor() as usize + usize::from(rng.gen_bool(e.fract()));
                (t.clone(), k)
            })
            .collect();
    }
    for (s, (_, members)) in street_members.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let biggest = *members
            .iter()
            .max_by(|a, b| plans[**a].full_size.total_cmp(&plans[**b].full_size))
            .unwrap_or(&members[0]);
        for t in 0..types.len() {
            if members.iter().all(|m| plans[*m].facilities[t].1 == 0) {
                plans[biggest].facilities[t].1 = 1;
            }
        }
        let hubs = (members.len() as f64 / 5.0).round().max(1.0) as usize;
        let mut order = members.clone();
        order.shuffle(&mut rng);
        for (j, m) in order.iter().take(hubs).enumerate() {
            plans[*m].hub = Some(HubKind::ALL[(s + j) % 3]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generation

/// A community's rows, ready for the import path.
struct Batch {
    index: usize,
    buildings: Vec<BuildingRow>,
    households: Vec<HouseholdRow>,
    residents: Vec<ResidentRow>,
    facilities: Vec<FacilityRow>,
    hubs: Vec<HubInput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Couple,
    OneChild,
    TwoChildren,
    ThreeGenerations,
    ElderAlone,
    ElderCouple,
    ElderWithChild,
    ElderCoupleWithChild,
    RenterSingle,
    RenterShared,
    RenterFamily,
}

/// Owners' households: kind, weight, whether it is an older people's household (weighted by
/// the zone's age factor).
const OWNER_KINDS: [(Kind, f64, bool); 9] = [
    (Kind::Single, 0.10, false),
    (Kind::Couple, 0.12, false),
    (Kind::OneChild, 0.19, false),
    (Kind::TwoChildren, 0.06, false),
    (Kind::ThreeGenerations, 0.10, false),
    (Kind::ElderAlone, 0.03, true),
    (Kind::ElderCouple, 0.28, true),
    (Kind::ElderWithChild, 0.05, true),
    (Kind::ElderCoupleWithChild, 0.035, true),
];
const RENTER_KINDS: [(Kind, f64); 3] = [
    (Kind::RenterSingle, 0.40),
    (Kind::RenterShared, 0.25),
    (Kind::RenterFamily, 0.35),
];
/// Mean sizes of owners' and renters' households, to turn a share of renting residents into
/// a share of renting households.
const OWNER_SIZE: f64 = 2.55;
const RENTER_SIZE: f64 = 1.95;

/// How much more common older people's households are in a zone.
fn elder_factor(zone: Zone) -> f64 {
    match zone {
        Zone::West => 1.35,
        Zone::Centre => 1.1,
        Zone::East => 0.85,
    }
}

/// One person of a household being generated.
struct Member {
    age: f64,
    male: bool,
    relation: Relation,
    surname: &'static str,
    tags: Vec<Tag>,
}

const SURNAMES: &[&str] = &[
    "王", "陈", "张", "李", "徐", "吴", "周", "朱", "沈", "杨", "黄", "金", "胡", "孙", "俞", "钱",
    "方", "赵", "刘", "章", "郑", "何", "叶", "许", "蒋", "汪", "姚", "潘", "林", "余", "陆", "高",
    "袁", "傅", "董", "施", "蔡", "程", "丁", "邵", "范", "夏", "马", "韩", "楼", "严", "应", "毛",
    "郭", "罗", "宋", "唐", "谢", "冯", "曹", "邱", "虞", "鲍", "翁", "戴",
];
const MALE_CHARS: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "斌", "浩", "建", "国", "华", "志",
    "文", "俊", "宇", "辉", "鹏", "飞", "峰", "林", "亮", "东", "海", "波", "晨", "阳", "子", "睿",
    "博", "轩", "泽", "昊", "铭", "立", "荣", "庆", "德", "忠", "平", "成", "永", "卫", "良", "一",
];
const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "丹", "燕", "玲", "萍", "红", "英", "秀",
    "兰", "梅", "琳", "雪", "颖", "佳", "欣", "怡", "悦", "雨", "涵", "诗", "思", "梦", "琪", "晶",
    "慧", "倩", "月", "珍", "凤", "美", "素", "云", "小", "春", "惠", "洁", "蓉", "一", "若", "彤",
];
const ESTATE_STEMS: &[&str] = &[
    "青荷", "景芳", "红梅", "明月", "金秋", "翠苑", "兰庭", "春晓", "和睦", "锦绣", "枫华", "丽景",
    "紫金", "东方", "江南", "新城", "钱塘", "映月", "云栖", "水岸", "星河", "华庭", "怡景", "观澜",
    "桂花", "海棠", "玉兰", "听涛", "望湖", "东坡", "凤起", "庆春", "新塘", "景湖", "桃源", "杨柳",
    "樱花", "清泰", "南肖", "近江", "三堡", "五福", "六和", "七彩", "百合", "秋涛", "始版", "常青",
    "同心", "安居", "福田", "长睦", "复兴", "城东", "江锦", "沁园", "芳满", "绿洲", "晴川", "银都",
    "金色", "嘉禾", "九和", "丁桥", "笕新", "采荷", "万安", "严家", "杨公", "里仁",
];
const ESTATE_SUFFIXES: &[&str] = &[
    "苑", "园", "小区", "花园", "公寓", "新村", "家园", "府", "里", "坊", "雅苑", "嘉园",
];
/// Address codes of Zhejiang counties for ID numbers issued outside 上城区.
const ZHEJIANG: &[&str] = &[
    "330105", "330106", "330108", "330109", "330110", "330122", "330127", "330182", "330203",
    "330212", "330281", "330282", "330302", "330381", "330382", "330402", "330481", "330502",
    "330522", "330602", "330681", "330683", "330702", "330782", "330783", "330802", "330881",
    "330902", "331002", "331081", "331082", "331102", "331121",
];
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185", "186",
    "187", "188", "189", "191", "198", "199",
];
/// The eight basic services of practice 000's 幸福邻里坊, as X functions and embedded rooms.
const HUB_SERVICES: [(&str, &str); 8] = [
    ("托育", "托育室"),
    ("颐养", "颐养驿站"),
    ("健身", "百姓健身房"),
    ("康复", "康复室"),
    ("小饭桌", "邻里食堂"),
    ("小修理", "便民维修室"),
    ("小剧场", "邻里剧场"),
    ("小书房", "邻里书房"),
];

/// A value between `lo` and `hi` with its peak at `mode`.
fn triangular(rng: &mut StdRng, lo: f64, hi: f64, mode: f64) -> f64 {
    let u: f64 = rng.gen();
    let f = (mode - lo) / (hi - lo);
    if u < f {
        lo + ((hi - lo) * (mode - lo) * u).sqrt()
    } else {
        hi - ((hi - lo) * (hi - mode) * (1.0 - u)).sqrt()
    }
}

/// An older person's age in [lo, hi): fewer the older, as survival has it.
fn elder_age(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    loop {
        let a = rng.gen_range(lo..hi);
        let keep = match a {
            a if a < 70.0 => 1.0,
            a if a < 75.0 => 0.85,
            a if a < 80.0 => 0.6,
            a if a < 85.0 => 0.30,
            a if a < 90.0 => 0.15,
            a if a < 95.0 => 0.06,
            _ => 0.015,
        };
        if rng.gen::<f64>() < keep {
            return a;
        }
    }
}

/// A child's age for a parent of `parent`.
fn child_age(rng: &mut StdRng, parent: f64) -> f64 {
    let c = parent - rng.gen_range(24.0..36.0);
    let c = if c < 0.0 {
        // A young parent's child: any age the parent allows, the older ones likelier.
        let top = (parent - 23.0).max(0.1);
        rng.gen_range(0.0..top).max(rng.gen_range(0.0..top))
    } else {
        c
    };
    // Births have fallen since 2017: the youngest cohorts are smaller.
    if c < 3.0 && parent > 27.0 && rng.gen_bool(0.15) {
        rng.gen_range(3.0..(parent - 23.0).min(17.0))
    } else {
        c
    }
}

fn pick<T: Copy>(rng: &mut StdRng, table: &[(T, f64)]) -> T {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut r = rng.gen::<f64>() * total;
    for (t, w) in table {
        r -= w;
        if r <= 0.0 {
            return *t;
        }
    }
    table[table.len() - 1].0
}

fn surname(rng: &mut StdRng) -> &'static str {
    SURNAMES[rng.gen_range(0..SURNAMES.len())]
}

fn given_name(rng: &mut StdRng, male: bool) -> String {
    let chars = if male { MALE_CHARS } else { FEMALE_CHARS };
    let mut s = chars[rng.gen_range(0..chars.len())].to_string();
    if rng.gen_bool(0.7) {
        s.push_str(chars[rng.gen_range(0..chars.len())]);
    }
    s
}

/// The members of a household of `kind`.
fn members(rng: &mut StdRng, kind: Kind) -> Vec<Member> {
    let person = |age: f64, male: bool, relation: Relation, surname: &'static str| Member {
        age: age.clamp(0.01, 104.0),
        male,
        relation,
        surname,
        tags: Vec::new(),
    };
    let near = |rng: &mut StdRng, a: f64, by: f64, min: f64| (a + rng.gen_range(-by..by)).max(min);
    let head_male = |rng: &mut StdRng| rng.gen_bool(0.68);
    // A couple: head first; the father's surname for children.
    let couple = |rng: &mut StdRng, a: f64, b: f64, rel: Relation| {
        let male = head_male(rng);
        let (s1, s2) = (surname(rng), surname(rng));
        let father = if male { s1 } else { s2 };
        (
            vec![
                person(a, male, rel, s1),
                person(b, !male, Relation::Spouse, s2),
            ],
            father,
            s1,
        )
    };
    let child_surname = |rng: &mut StdRng, father: &'static str| {
        if rng.gen_bool(0.9) {
            father
        } else {
            surname(rng)
        }
    };
    match kind {
        Kind::Single => {
            let male = rng.gen_bool(0.55);
            vec![person(
                triangular(rng, 22.0, 59.0, 28.0),
                male,
                Relation::Head,
                surname(rng),
            )]
        }
        Kind::Couple => {
            let a = triangular(rng, 23.0, 59.0, 30.0);
            let b = near(rng, a, 4.0, 21.0);
            couple(rng, a, b, Relation::Head).0
        }
        Kind::OneChild | Kind::TwoChildren => {
            let a = triangular(rng, 25.0, 60.0, 44.0);
            let b = near(rng, a, 4.0, 22.0);
            let (mut m, father, _) = couple(rng, a, b, Relation::Head);
            let n = if kind == Kind::OneChild { 1 } else { 2 };
            for _ in 0..n {
                let age = child_age(rng, a.min(b));
                let s = child_surname(rng, father);
                m.push(person(age, rng.gen_bool(0.52), Relation::Child, s));
            }
            m
        }
        Kind::ThreeGenerations => {
            let g = elder_age(rng, 56.0, 92.0);
            let p = (g - rng.gen_range(24.0..34.0)).max(22.0);
            let q = near(rng, p, 4.0, 21.0);
            let (mut m, father, head_surname) = couple(rng, p, q, Relation::Head);
            let grandfather = rng.gen_bool(0.5);
            let gs = if grandfather {
                head_surname
            } else {
                surname(rng)
            };
            m.push(person(g, grandfather, Relation::Parent, gs));
            if rng.gen_bool(0.5) {
                let g2 = near(rng, g, 4.0, 50.0);
                let s = if grandfather {
                    surname(rng)
                } else {
                    head_surname
                };
                m.push(person(g2, !grandfather, Relation::Parent, s));
            }
            let c = child_age(rng, p.min(q));
            let s = child_surname(rng, father);
            m.push(person(c, rng.gen_bool(0.52), Relation::Child, s));
            if rng.gen_bool(0.2) {
                let c2 = child_age(rng, p.min(q));
                let s = child_surname(rng, father);
                m.push(person(c2, rng.gen_bool(0.52), Relation::Child, s));
            }
            m
        }
        Kind::ElderAlone => {
            let age = if rng.gen_bool(0.3) {
                elder_age(rng, 60.0, 101.0)
            } else {
                elder_age(rng, 78.0, 101.0)
            };
            let mut p = person(age, rng.gen_bool(0.35), Relation::Head, surname(rng));
            p.tags.push(Tag::LivingAlone);
            if rng.gen_bool(0.06) {
                p.tags.push(Tag::Solitary);
            }
            vec![p]
        }
        Kind::ElderCouple => {
            let a = elder_age(rng, 60.0, 96.0);
            let b = near(rng, a, 5.0, 60.0);
            let (mut m, _, _) = couple(rng, a, b, Relation::Head);
            if rng.gen_bool(0.025) {
                for p in &mut m {
                    p.tags.push(Tag::EmptyNest);
                }
            }
            m
        }
        Kind::ElderWithChild => {
            let e = elder_age(rng, 72.0, 101.0);
            let male = rng.gen_bool(0.35);
            let s = surname(rng);
            let c = e - rng.gen_range(22.0..34.0);
            let cs = if male { s } else { surname(rng) };
            vec![
                person(e, male, Relation::Head, s),
                person(c, rng.gen_bool(0.5), Relation::Child, cs),
            ]
        }
        Kind::ElderCoupleWithChild => {
            let a = elder_age(rng, 65.0, 96.0);
            let b = near(rng, a, 4.0, 60.0);
            let (mut m, father, _) = couple(rng, a, b, Relation::Head);
            let c = a.min(b) - rng.gen_range(24.0..34.0);
            m.push(person(c, rng.gen_bool(0.5), Relation::Child, father));
            m
        }
        Kind::RenterSingle => {
            let mut p = person(
                triangular(rng, 19.0, 50.0, 26.0),
                rng.gen_bool(0.55),
                Relation::Tenant,
                surname(rng),
            );
            p.tags.push(Tag::Renter);
            vec![p]
        }
        Kind::RenterShared => {
            let n = [2, 2, 3, 3, 4][rng.gen_range(0..5)];
            let male = rng.gen_bool(0.55);
            (0..n)
                .map(|_| {
                    let mut p = person(
                        triangular(rng, 19.0, 40.0, 25.0),
                        if rng.gen_bool(0.8) { male } else { !male },
                        Relation::Tenant,
                        surname(rng),
                    );
                    p.tags.push(Tag::Renter);
                    p
                })
                .collect()
        }
        Kind::RenterFamily => {
            let a = triangular(rng, 24.0, 48.0, 32.0);
            let b = near(rng, a, 4.0, 21.0);
            let (mut m, father, _) = couple(rng, a, b, Relation::Head);
            let n = [0, 1, 1, 1, 2][rng.gen_range(0..5)];
            for _ in 0..n {
                let mut age = child_age(rng, a.min(b));
                if age > 17.0 {
                    age = rng.gen_range(3.0..17.0);
                }
                let s = child_surname(rng, father);
                m.push(person(age, rng.gen_bool(0.52), Relation::Child, s));
            }
            for p in &mut m {
                p.tags.push(Tag::Renter);
            }
            m
        }
    }
}

/// The tags a community worker would have set on someone of `age`, beyond those of the
/// household kind.
fn assign_tags(rng: &mut StdRng, m: &mut Member) {
    let a = m.age;
    let chance = |rng: &mut StdRng, p: f64| rng.gen_bool(p.clamp(0.0, 1.0));
    if chance(rng, if a >= 60.0 { 0.04 } else { 0.013 }) {
        m.tags.push(Tag::Disabled);
    }
    if chance(rng, 0.009) {
        m.tags.push(Tag::LowIncome);
    }
    if a >= 18.0 && chance(rng, if a >= 60.0 { 0.11 } else { 0.065 }) {
        m.tags.push(Tag::PartyMember);
    }
    if (18.0..=75.0).contains(&a) && chance(rng, if a >= 55.0 { 0.09 } else { 0.045 }) {
        m.tags.push(Tag::Volunteer);
    }
    if a >= 20.0 && chance(rng, if m.male { 0.018 } else { 0.002 }) {
        m.tags.push(Tag::Veteran);
    }
    let fragile = m
        .tags
        .iter()
        .any(|t| matches!(t, Tag::LivingAlone | Tag::Disabled | Tag::LowIncome));
    if chance(rng, if fragile { 0.05 } else { 0.003 }) {
        m.tags.push(Tag::Watch);
    }
}

/// The household-level chance of renting that gives `share` of residents renting.
fn renting_chance(share: f64) -> f64 {
    let s = share.clamp(0.0, 0.95);
    s * OWNER_SIZE / (RENTER_SIZE * (1.0 - s) + s * OWNER_SIZE)
}

/// A building's shape.
struct Shape {
    floors: u32,
    units: u32,
    per_landing: u32,
}

fn shape(rng: &mut StdRng, zone: Zone) -> Shape {
    let walk_up = match zone {
        Zone::West => 0.8,
        Zone::Centre => 0.5,
        Zone::East => 0.3,
    };
    if rng.gen_bool(walk_up) {
        Shape {
            floors: rng.gen_range(6..=7),
            units: rng.gen_range(2..=4),
            per_landing: 2,
        }
    } else {
        let floors = match zone {
            Zone::West => rng.gen_range(11..=18),
            Zone::Centre => rng.gen_range(11..=26),
            Zone::East => rng.gen_range(11..=33),
        };
        Shape {
            floors,
            units: rng.gen_range(1..=2),
            per_landing: rng.gen_range(2..=4),
        }
    }
}

/// What a generator keeps across communities: the ID sequences used and the next phone.
struct Identity {
    today: NaiveDate,
    /// Next sequence counter per (address code index, birth date, male).
    sequences: HashMap<(u8, i32, bool), u16>,
    phones: u64,
}

/// Generator sequences stay below 400; the retry range ([`reissue`]) starts at 600.
const SEQUENCE_PAIRS: u16 = 200;

/// All address codes an ID number may use: 上城区's current and the two it absorbed, then
/// other counties.
fn address_code(i: u8) -> &'static str {
    match i {
        0 => "330102",
        1 => "330104",
        2 => "330103",
        n => ZHEJIANG[(n as usize - 3) % ZHEJIANG.len()],
    }
}
const ADDRESS_CODES: u8 = 3 + ZHEJIANG.len() as u8;

impl Identity {
    /// A birth date that makes someone exactly `age` (whole years) today: up to a year
    /// before the day `age` years ago.
    fn birth(&self, age: f64) -> NaiveDate {
        let years = age.max(0.0).floor() as i32;
        let year = self.today.year() - years;
        let anniversary = NaiveDate::from_ymd_opt(year, self.today.month(), self.today.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .unwrap_or(self.today);
        let into = ((age - age.floor()) * 364.0) as i64;
        anniversary - Duration::days(1 + into.clamp(0, 363))
    }

    fn id_number(
        &mut self,
        rng: &mut StdRng,
        renter: bool,
        birth: NaiveDate,
        male: bool,
    ) -> Result<IdNumber, String> {
        let r: f64 = rng.gen();
        let first: u8 = if renter {
            if r < 0.12 {
                0
            } else {
                3 + rng.gen_range(0..ZHEJIANG.len() as u8)
            }
        } else if r < 0.76 {
            0
        } else if r < 0.86 {
            1
        } else if r < 0.90 {
            2
        } else {
            3 + rng.gen_range(0..ZHEJIANG.len() as u8)
        };
        let date = linli_core::registry::date_key(birth);
        for step in 0..ADDRESS_CODES {
            let code = (first + step) % ADDRESS_CODES;
            let k = self.sequences.entry((code, date, male)).or_insert(0);
            if *k >= SEQUENCE_PAIRS {
                continue;
            }
            let seq = *k * 2 + u16::from(male);
            *k += 1;
            let text = compose(address_code(code), birth, seq)
                .ok_or_else(|| format!("cannot compose an ID number for {birth}"))?;
            return IdNumber::parse(&text, self.today).map_err(|e| e.to_string());
        }
        Err(format!("no ID sequence left for {birth}"))
    }

    fn phone(&mut self, rng: &mut StdRng) -> Option<Phone> {
        let prefix = MOBILE_PREFIXES[rng.gen_range(0..MOBILE_PREFIXES.len())];
        // A permutation of 0..10^8 (7,919,113 is coprime to 10^8): distinct for every count.
        let n = (self.phones.wrapping_mul(7_919_113) + 12_345_678) % 100_000_000;
        self.phones += 1;
        Phone::parse(&format!("{prefix}{n:08}")).ok()
    }
}

/// Everything the generating thread needs.
struct Generator {
    layout: Layout,
    ids: Identity,
}

impl Generator {
    /// A point for an estate or a building near `anchor`: beside a road of the community
    /// when it has roads, else around the anchor; always inside the boundary.
    fn beside_road(&self, rng: &mut StdRng, roads: &[RoadPoint], near: &[usize]) -> Option<Point> {
        for _ in 0..8 {
            let r = roads[near[rng.gen_range(0..near.len())]];
            let side = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let d = rng.gen_range(15.0..40.0);
            let along = rng.gen_range(-15.0..15.0);
            // The normal of (e, n) is (-n, e).
            let p = shift(
                r.at,
                -r.dir[1] * side * d + r.dir[0] * along,
                r.dir[0] * side * d + r.dir[1] * along,
            );
            if self.layout.inside(p) {
                return Some(p);
            }
        }
        None
    }

    fn around(&self, rng: &mut StdRng, anchor: Point, min: f64, max: f64) -> Point {
        for _ in 0..8 {
            let r = rng.gen_range(min..max);
            let t = rng.gen_range(0.0..std::f64::consts::TAU);
            let p = shift(anchor, r * t.cos(), r * t.sin());
            if self.layout.inside(p) {
                return p;
            }
        }
        anchor
    }

    fn community(&mut self, index: usize, plan: &CommunityPlan) -> Result<Batch, String> {
        let mut rng = StdRng::seed_from_u64(SEED ^ plan.code.key() as u64);
        let line = |i: usize| i + 2;

        // Households and their members.
        let owner_table: Vec<(Kind, f64)> = OWNER_KINDS
            .iter()
            .map(|&(k, w, old)| (k, if old { w * elder_factor(plan.zone) } else { w }))
            .collect();
        let renting = renting_chance(plan.renter_share);
        let mut homes: Vec<(bool, Vec<Member>)> = Vec::new();
        let mut left = plan.residents;
        while left > 0 {
            let renter = rng.gen_bool(renting);
            let kind = if renter {
                pick(&mut rng, &RENTER_KINDS)
            } else {
                pick(&mut rng, &owner_table)
            };
            let mut m = members(&mut rng, kind);
            m.truncate(left);
            left -= m.len();
            homes.push((renter, m));
        }

        // Buildings: estates of several buildings until their rooms hold every household.
        let roads = &self.layout.roads[index];
        let pool = &self.layout.pool[index];
        let mut taken = plan.taken_buildings.clone();
        let mut estates: HashSet<String> = HashSet::new();
        struct Planned {
            name: String,
            at: Point,
            shape: Shape,
            rooms: usize,
        }
        let mut planned: Vec<Planned> = Vec::new();
        let mut capacity = 0usize;
        while capacity < homes.len() || planned.is_empty() {
            let mut estate = String::new();
            for _ in 0..50 {
                let stem = ESTATE_STEMS[rng.gen_range(0..ESTATE_STEMS.len())];
                let suffix = ESTATE_SUFFIXES[rng.gen_range(0..ESTATE_SUFFIXES.len())];
                estate = format!("{stem}{suffix}");
                if !estates.contains(&estate) {
                    break;
                }
            }
            estates.insert(estate.clone());
            // Where the estate is: by a road of the cell, or at a point of the cell.
            let near: Vec<usize> = if roads.is_empty() {
                Vec::new()
            } else {
                let a = roads[rng.gen_range(0..roads.len())].at;
                let mut order: Vec<usize> = (0..roads.len()).collect();
                order.sort_by(|&i, &j| dist2(roads[i].at, a).total_cmp(&dist2(roads[j].at, a)));
                order.truncate(12);
                order
            };
            let anchor = pool[rng.gen_range(0..pool.len())];
            let count = rng.gen_range(3..=12);
            let mut number = 1;
            for _ in 0..count {
                if capacity >= homes.len() && !planned.is_empty() {
                    break;
                }
                let mut name = format!("{estate}{number}幢");
                while taken.contains(&name) {
                    number += 1;
                    name = format!("{estate}{number}幢");
                }
                number += 1;
                taken.insert(name.clone());
                let at = if near.is_empty() {
                    None
                } else {
                    self.beside_road(&mut rng, roads, &near)
                }
                .unwrap_or_else(|| self.around(&mut rng, anchor, 20.0, 150.0));
                let s = shape(&mut rng, plan.zone);
                let rooms_all = (s.floors * s.units * s.per_landing) as usize;
                let rooms = ((rooms_all as f64) * rng.gen_range(0.8..0.95)).ceil() as usize;
                capacity += rooms;
                planned.push(Planned {
                    name,
                    at,
                    shape: s,
                    rooms,
                });
            }
        }
        let m = plan.micro_grids.len();
        let nb = planned.len();
        let mut buildings = Vec::with_capacity(nb);
        for (i, b) in planned.iter().enumerate() {
            buildings.push(BuildingRow {
                line: line(i),
                name: b.name.clone(),
                address: format!("杭州市上城区{}{}", plan.street_name, b.name),
                location: Some(b.at),
                floors: Some(b.shape.floors),
                units: Some(b.shape.units),
                region: if m == 0 {
                    None
                } else {
                    Some(plan.micro_grids[i * m / nb])
                },
            });
        }

        // Rooms for the households, building by building.
        let mut households = Vec::with_capacity(homes.len());
        let mut residents = Vec::with_capacity(plan.residents);
        let mut next_home = 0;
        for b in &planned {
            if next_home >= homes.len() {
                break;
            }
            let mut rooms: Vec<(u32, u32, u32)> = Vec::with_capacity(b.rooms);
            for u in 1..=b.shape.units {
                for f in 1..=b.shape.floors {
                    for j in 1..=b.shape.per_landing {
                        rooms.push((u, f, j));
                    }
                }
            }
            let take = b.rooms.min(homes.len() - next_home);
            let (chosen, _) = rooms.partial_shuffle(&mut rng, take);
            let mut chosen = chosen.to_vec();
            chosen.sort_unstable();
            for (u, f, j) in chosen {
                let (renter, people) = &mut homes[next_home];
                next_home += 1;
                let unit = format!("{u}单元");
                let room = format!("{f}{j:02}");
                households.push(HouseholdRow {
                    line: line(households.len()),
                    building: b.name.clone(),
                    unit: Some(unit.clone()),
                    room: room.clone(),
                    tenure: if *renter {
                        Tenure::Renter
                    } else {
                        Tenure::Owner
                    },
                    size: Some(people.len() as u32),
                });
                for p in people.iter_mut() {
                    assign_tags(&mut rng, p);
                    let birth = self.ids.birth(p.age);
                    let id = self.ids.id_number(&mut rng, *renter, birth, p.male)?;
                    let phone_chance = match p.age {
                        a if a < 12.0 => 0.0,
                        a if a < 18.0 => 0.5,
                        a if a < 80.0 => 0.97,
                        _ => 0.6,
                    };
                    let phone = if rng.gen_bool(phone_chance) {
                        self.ids.phone(&mut rng)
                    } else {
                        None
                    };
                    let mut tags = std::mem::take(&mut p.tags);
                    tags.sort();
                    tags.dedup();
                    residents.push(ResidentRow {
                        line: line(residents.len()),
                        name: format!("{}{}", p.surname, given_name(&mut rng, p.male)),
                        gender: id.gender(),
                        birth: id.birth_date(),
                        id,
                        phone,
                        building: b.name.clone(),
                        unit: Some(unit.clone()),
                        room: room.clone(),
                        relation: p.relation,
                        tags,
                    });
                }
            }
        }

        // The hub, named so as not to clash with one people made.
        let mut hubs = Vec::new();
        let mut hub_name = None;
        if let Some(kind) = plan.hub {
            let base = format!("{}幸福邻里坊", plan.name);
            let mut name = base.clone();
            let mut n = 2;
            while plan.taken_hubs.contains(&name) {
                name = format!("{base}{n}");
                n += 1;
            }
            let at = self.around(&mut rng, planned[0].at, 30.0, 80.0);
            hubs.push(hub_input(&mut rng, plan, kind, &name, at));
            hub_name = Some(name);
        }

        // Facilities: the full-size community's, so at a small scale only some stand by the
        // sampled buildings and the rest elsewhere in the cell (by a road when it has
        // roads); bus stops by the road.
        let mut facilities = Vec::new();
        let mut attached: HashSet<String> = HashSet::new();
        let by_building = (planned.len() as f64 / 20.0).min(1.0);
        for (code, count) in &plan.facilities {
            let spec = FACILITIES.iter().find(|s| s.code == code.as_str());
            for n in 1..=*count {
                let b = &planned[rng.gen_range(0..planned.len())];
                let near_building = code != "bus_stop" && rng.gen_bool(by_building);
                let at = if near_building {
                    self.around(&mut rng, b.at, 25.0, 90.0)
                } else if !roads.is_empty() {
                    let r = roads[rng.gen_range(0..roads.len())];
                    let side = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                    let d = if code == "bus_stop" {
                        rng.gen_range(6.0..12.0)
                    } else {
                        rng.gen_range(20.0..60.0)
                    };
                    let p = shift(r.at, -r.dir[1] * side * d, r.dir[0] * side * d);
                    if self.layout.inside(p) {
                        p
                    } else {
                        r.at
                    }
                } else {
                    let anchor = pool[rng.gen_range(0..pool.len())];
                    self.around(&mut rng, anchor, 10.0, 100.0)
                };
                let address = if near_building {
                    format!("杭州市上城区{}{}旁", plan.street_name, b.name)
                } else {
                    format!("杭州市上城区{}{}", plan.street_name, plan.name)
                };
                let area = match spec.and_then(|s| s.area) {
                    Some((lo, hi)) => Some((rng.gen_range(lo..hi) / 10.0).round() * 10.0),
                    None if spec.is_none() => Some((rng.gen_range(100.0..500.0_f64)).round()),
                    None => None,
                };
                let stem = ESTATE_STEMS[rng.gen_range(0..ESTATE_STEMS.len())];
                let estate = b
                    .name
                    .trim_end_matches(|c: char| c.is_ascii_digit() || c == '幢');
                let name = facility_name(code, plan, estate, stem, n, *count);
                let hub = match &hub_name {
                    Some(h)
                        if HUB_TYPES.contains(&code.as_str()) && attached.insert(code.clone()) =>
                    {
                        Some(h.clone())
                    }
                    _ => None,
                };
                facilities.push(FacilityRow {
                    line: line(facilities.len()),
                    name,
                    type_code: code.clone(),
                    address: Some(address),
                    location: Some(at),
                    floor_area_m2: area,
                    hub,
                });
            }
        }
        Ok(Batch {
            index,
            buildings,
            households,
            residents,
            facilities,
            hubs,
        })
    }
}

/// A facility's name: the community's for its own services, an estate's or a place word's
/// for the rest, numbered when there are several.
fn facility_name(
    code: &str,
    plan: &CommunityPlan,
    estate: &str,
    stem: &str,
    n: usize,
    count: usize,
) -> String {
    let c = &plan.name;
    let street = plan.street_name.trim_end_matches("街道");
    let numbered = |s: String| {
        if count > 1 {
            format!("{s}{n}号")
        } else {
            s
        }
    };
    let name = match code {
        "community_service" => numbered(format!("{c}综合服务站")),
        "police" => format!("{street}派出所{stem}警务室"),
        "childcare" => format!("{estate}婴幼儿照护驿站"),
        "kindergarten" => format!("杭州市{stem}幼儿园"),
        "primary_school" => format!("杭州市{stem}小学"),
        "middle_school" => format!("杭州市{stem}中学"),
        "elderly_day_care" => numbered(format!("{c}居家养老服务照料中心")),
        "nursing_home" => format!("{stem}颐养院"),
        "health_station" => numbered(format!("{c}卫生服务站")),
        "health_centre" => format!("{street}街道{stem}社区卫生服务中心"),
        "pharmacy" => format!("{stem}大药房{estate}店"),
        "culture_station" => numbered(format!("{c}文化家园")),
        "culture_centre" => format!("{street}街道{stem}文化活动中心"),
        "convenience" => format!("{estate}{stem}便利店"),
        "market" => format!("{stem}农贸市场"),
        "fitness" => format!("{estate}百姓健身点"),
        "sports_ground" => format!("{stem}全民健身运动场"),
        "park" => format!("{stem}口袋公园"),
        "canteen" => numbered(format!("{c}邻里食堂")),
        "bus_stop" => format!("{estate}公交站"),
        other => format!("{stem}{other}"),
    };
    name.chars()
        .take(linli_core::registry::rows::MAX_NAME_CHARS)
        .collect()
}

/// A hub of `kind` following Shangcheng's 3+X model with some of the eight basic services.
fn hub_input(
    rng: &mut StdRng,
    plan: &CommunityPlan,
    kind: HubKind,
    name: &str,
    at: Point,
) -> HubInput {
    let mut services: Vec<(&str, &str)> = HUB_SERVICES.to_vec();
    services.shuffle(rng);
    let x = rng.gen_range(2..=4);
    let mut functions: Vec<String> = HubModel::ThreePlusX
        .core()
        .iter()
        .chain(HubModel::ThreePlusX.suggested_x())
        .map(|f| f.as_str().to_string())
        .collect();
    functions.extend(services[..x].iter().map(|(f, _)| f.to_string()));
    let round = |a: f64| (a / 10.0).round() * 10.0;
    let spaces = match kind {
        HubKind::Clustered => vec![HubSpace {
            role: SpaceRole::Main,
            name: "邻里中心综合楼".into(),
            area_m2: round(rng.gen_range(1600.0..3200.0)),
            function: None,
        }],
        HubKind::Distributed => {
            let mut v = vec![HubSpace {
                role: SpaceRole::Main,
                name: "邻里坊主楼".into(),
                area_m2: round(rng.gen_range(520.0..1200.0)),
                function: None,
            }];
            for (f, room) in &services[..x.min(3)] {
                v.push(HubSpace {
                    role: SpaceRole::Satellite,
                    name: room.to_string(),
                    area_m2: round(rng.gen_range(60.0..300.0)),
                    function: Some(f.to_string()),
                });
            }
            v
        }
        HubKind::Embedded => services[..x + 1]
            .iter()
            .map(|(f, room)| HubSpace {
                role: SpaceRole::Room,
                name: room.to_string(),
                area_m2: round(rng.gen_range(60.0..200.0)),
                function: Some(f.to_string()),
            })
            .collect(),
    };
    HubInput {
        region: Some(plan.code),
        name: name.to_string(),
        kind,
        model: HubModel::ThreePlusX,
        functions,
        address: format!("杭州市上城区{}{}", plan.street_name, plan.name),
        lon: Some(at[0]),
        lat: Some(at[1]),
        spaces,
    }
}

/// Names by community key, as read from the database.
type Named = Vec<(i64, String)>;

/// Forwards only the advances of one stage.
struct Advance<'a>(&'a dyn Progress);

impl Progress for Advance<'_> {
    fn advance(&self, rows: u64) {
        self.0.advance(rows);
    }
}

/// The sequence range for ID numbers that clashed with someone already registered:
/// counting down from 999, disjoint from the generator's (below 400).
fn reissue(
    taken: &mut HashMap<(String, i32, bool), u16>,
    row: &mut ResidentRow,
    today: NaiveDate,
) -> Result<()> {
    let code = row.id.address_code().to_string();
    let birth = row.birth;
    let male = row.gender == linli_core::registry::Gender::Male;
    let k = taken
        .entry((code.clone(), linli_core::registry::date_key(birth), male))
        .or_insert(499);
    if *k < 300 {
        return Err(StoreError::Corrupt(format!(
            "no spare ID sequence for {birth}"
        )));
    }
    let seq = *k * 2 + u16::from(male);
    *k -= 1;
    let text = compose(&code, birth, seq)
        .ok_or_else(|| StoreError::Corrupt("cannot compose an ID number".into()))?;
    row.id = IdNumber::parse(&text, today).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(())
}

impl Store {
    /// Replaces the demo district's generated registry with one at `scale` (0 < scale ≤ 1)
    /// of the real district: see the [module documentation](self) for what is generated and
    /// how. `roads` (WGS-84 lines) place buildings along real streets where they reach.
    /// Needs the keys for personal data and the demo's grids ([`Store::build_demo`] calls
    /// this at its end).
    pub async fn build_demo_registry(
        &self,
        scale: f64,
        roads: Option<&[Vec<[f64; 2]>]>,
        progress: &dyn Progress,
    ) -> Result<RegistryDemoReport> {
        check_scale(scale, false)?;
        self.keys()?;
        // SQLite: a resident touches a page of each of its hashed indexes wherever it falls,
        // so every community's import rewrites thousands of pages; checkpointing the WAL
        // every 1,000 pages (the default) would copy each of them back at once. Checkpoint
        // rarely while the demo loads, then once, and go back to the default.
        if let crate::Db::Sqlite { write, .. } = &self.db {
            sqlx::query("PRAGMA wal_autocheckpoint = 50000")
                .execute(write)
                .await?;
        }
        let built = match self.fill_demo_registry(scale, roads, progress).await {
            Ok(report) => self.settle_registry().await.map(|()| report),
            Err(e) => Err(e),
        };
        if let crate::Db::Sqlite { write, .. } = &self.db {
            let restored: std::result::Result<(), sqlx::Error> = async {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(write)
                    .await?;
                sqlx::query("PRAGMA wal_autocheckpoint = 1000")
                    .execute(write)
                    .await?;
                Ok(())
            }
            .await;
            // The build's own error, if any, is the one to report.
            let report = built?;
            restored?;
            return Ok(report);
        }
        built
    }

    async fn fill_demo_registry(
        &self,
        scale: f64,
        roads: Option<&[Vec<[f64; 2]>]>,
        progress: &dyn Progress,
    ) -> Result<RegistryDemoReport> {
        let district =
            RegionCode::parse(DISTRICT).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let actor = Actor::system("linli demo");
        let streets = self.children(Some(district)).await?;
        let mut communities = Vec::new();
        let mut street_members: Vec<(RegionCode, Vec<usize>)> = Vec::new();
        for s in &streets {
            let list = self.children(Some(s.region.code)).await?;
            let first = communities.len();
            street_members.push((s.region.code, (first..first + list.len()).collect()));
            for c in list {
                communities.push((c, s.region.name.clone(), s.region.code));
            }
        }
        if communities.is_empty() {
            return Err(StoreError::Config(
                "the demo district has no communities: build the demo first".into(),
            ));
        }
        let codes: Vec<RegionCode> = communities.iter().map(|c| c.0.region.code).collect();
        self.delete_generated_registry(district, &codes).await?;

        // What is there: micro-grids, and the names people's buildings and hubs use.
        let range = district.range();
        let (grid_keys, building_names, hub_names): (Vec<i64>, Named, Named) = on_read!(self, p => {
            let g = sqlx::query_scalar(
                "SELECT key FROM regions WHERE key >= $1 AND key < $2 AND level = $3 ORDER BY key",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(level_number(Level::MicroGrid))
            .fetch_all(p)
            .await?;
            let b = sqlx::query_as(
                "SELECT community_key, name FROM buildings WHERE region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?;
            let h = sqlx::query_as(
                "SELECT community_key, name FROM hubs WHERE region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?;
            (g, b, h)
        });
        let index_of: HashMap<RegionCode, usize> =
            codes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut micro: Vec<Vec<RegionCode>> = vec![Vec::new(); codes.len()];
        for key in grid_keys {
            let Some(code) = RegionCode::from_key(key, Level::MicroGrid) else {
                continue;
            };
            if let Some(&i) = community_of(code).and_then(|c| index_of.get(&c)) {
                micro[i].push(code);
            }
        }
        let mut taken_buildings: Vec<HashSet<String>> = vec![HashSet::new(); codes.len()];
        for (key, name) in building_names {
            if let Some(&i) =
                RegionCode::from_key(key, Level::Community).and_then(|c| index_of.get(&c))
            {
                taken_buildings[i].insert(name);
            }
        }
        let mut taken_hubs: Vec<HashSet<String>> = vec![HashSet::new(); codes.len()];
        for (key, name) in hub_names {
            if let Some(&i) =
                RegionCode::from_key(key, Level::Community).and_then(|c| index_of.get(&c))
            {
                taken_hubs[i].insert(name);
            }
        }
        let types: Vec<String> = self
            .facility_types()
            .await?
            .into_iter()
            .map(|t| t.code)
            .collect();

        let mut plans: Vec<CommunityPlan> = communities
            .iter()
            .enumerate()
            .map(|(i, (row, street_name, street))| CommunityPlan {
                code: row.region.code,
                name: short_name(&row.region.name).to_string(),
                street_name: street_name.clone(),
                zone: zone_of(*street),
                full_size: 0.0,
                residents: 0,
                renter_share: 0.0,
                micro_grids: std::mem::take(&mut micro[i]),
                taken_buildings: std::mem::take(&mut taken_buildings[i]),
                taken_hubs: std::mem::take(&mut taken_hubs[i]),
                hub: None,
                facilities: Vec::new(),
            })
            .collect();
        plan(&mut plans, &street_members, &types, scale);

        let total_residents: usize = plans.iter().map(|p| p.residents).sum();
        let boundary = district_boundary()?;
        let roads_owned: Option<Vec<Vec<[f64; 2]>>> = roads.map(|r| r.to_vec());
        let today = today();
        let count = plans.len();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch, String>>(2);
        let plans = std::sync::Arc::new(plans);
        let generating = {
            let plans = plans.clone();
            tokio::task::spawn_blocking(move || {
                let mut layout_rng = StdRng::seed_from_u64(SEED ^ 0x5eed);
                let layout = Layout::new(
                    boundary,
                    &street_members,
                    count,
                    roads_owned.as_deref(),
                    &mut layout_rng,
                );
                let mut g = Generator {
                    layout,
                    ids: Identity {
                        today,
                        sequences: HashMap::new(),
                        phones: 0,
                    },
                };
                for (i, plan) in plans.iter().enumerate() {
                    if tx.blocking_send(g.community(i, plan)).is_err() {
                        return;
                    }
                }
            })
        };

        progress.start(total_residents as u64);
        let file = format!("linli demo (generated, scale {scale})");
        let mut report = RegistryDemoReport::default();
        let mut reissued: HashMap<(String, i32, bool), u16> = HashMap::new();
        // Time spent waiting for the generator and in each import, for the debug log.
        let mut spent = [std::time::Duration::ZERO; 6];
        let mut clock = std::time::Instant::now();
        let mut lap = |slot: usize, spent: &mut [std::time::Duration; 6]| {
            let now = std::time::Instant::now();
            spent[slot] += now - clock;
            clock = now;
        };
        while let Some(batch) = rx.recv().await {
            lap(0, &mut spent);
            let batch = batch.map_err(StoreError::Corrupt)?;
            let code = plans[batch.index].code;
            report.buildings += batch.buildings.len();
            report.households += batch.households.len();
            report.facilities += batch.facilities.len();
            report.hubs += batch.hubs.len();
            report.residents += batch.residents.len();
            self.import_buildings_as(
                &actor,
                code,
                &file,
                batch.buildings,
                Vec::new(),
                Source::Generated,
                &Quiet,
            )
            .await?;
            lap(1, &mut spent);
            self.import_households_as(
                &actor,
                code,
                &file,
                batch.households,
                Vec::new(),
                Source::Generated,
                &Quiet,
            )
            .await?;
            lap(2, &mut spent);
            for hub in batch.hubs {
                self.create_hub(&actor, hub, Source::Generated).await?;
            }
            lap(3, &mut spent);
            self.import_facilities_as(
                &actor,
                code,
                &file,
                batch.facilities,
                Vec::new(),
                Source::Generated,
                &Quiet,
            )
            .await?;
            lap(4, &mut spent);
            let mut rows = batch.residents;
            for attempt in 0.. {
                match self
                    .import_residents_as(
                        &actor,
                        code,
                        &file,
                        rows.clone(),
                        Vec::new(),
                        Source::Generated,
                        &Advance(progress),
                    )
                    .await
                {
                    Ok(_) => break,
                    Err(StoreError::Rejected(errors))
                        if attempt < 3 && errors.iter().all(|e| e.field == "id_number") =>
                    {
                        // Someone registered by hand holds one of these numbers: give ours
                        // another.
                        let lines: HashSet<usize> = errors.iter().map(|e| e.row).collect();
                        tracing::debug!(
                            "demo registry: {} ID numbers taken by hand, re-issued",
                            lines.len()
                        );
                        for r in rows.iter_mut().filter(|r| lines.contains(&r.line)) {
                            reissue(&mut reissued, r, today)?;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            lap(5, &mut spent);
        }
        tracing::debug!(
            "demo registry: waiting {:?}, buildings {:?}, households {:?}, hubs {:?}, facilities {:?}, residents {:?}",
            spent[0], spent[1], spent[2], spent[3], spent[4], spent[5]
        );
        generating
            .await
            .map_err(|e| StoreError::Config(format!("demo generation failed: {e}")))?;
        let summary = self.registry_summary(Some(district), today).await?;
        report.renters = summary.renters;
        report.age60 = summary.age60;
        report.age80 = summary.age80;
        report.under3 = summary.under3;
        report.under18 = summary.under18;
        report.key_elderly = summary.key_elderly;
        report.large_communities = summary.large_communities.len();
        Ok(report)
    }

    /// Deletes the district's generated registry rows (residents, then the households and
    /// buildings nobody else lives in, facilities, hubs) and recomputes the communities'
    /// figures, in one transaction. Rows people entered or imported stay.
    async fn delete_generated_registry(
        &self,
        district: RegionCode,
        communities: &[RegionCode],
    ) -> Result<()> {
        let range = district.range();
        let actor = Actor::system("linli demo");
        let generated = Source::Generated.as_str();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let mut deleted: Vec<u64> = Vec::new();
            for sql in [
                "DELETE FROM resident_tags WHERE resident_id IN \
                 (SELECT id FROM residents WHERE region_key >= $1 AND region_key < $2 AND source = $3)",
                "DELETE FROM residents WHERE region_key >= $1 AND region_key < $2 AND source = $3",
                "DELETE FROM households WHERE region_key >= $1 AND region_key < $2 AND source = $3 \
                 AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.household_id = households.id)",
                "DELETE FROM buildings WHERE region_key >= $1 AND region_key < $2 AND source = $3 \
                 AND NOT EXISTS (SELECT 1 FROM households h WHERE h.building_id = buildings.id)",
                "DELETE FROM facilities WHERE region_key >= $1 AND region_key < $2 AND source = $3",
                "UPDATE facilities SET hub_id = NULL WHERE hub_id IN \
                 (SELECT id FROM hubs WHERE region_key >= $1 AND region_key < $2 AND source = $3)",
                "DELETE FROM hub_spaces WHERE hub_id IN \
                 (SELECT id FROM hubs WHERE region_key >= $1 AND region_key < $2 AND source = $3)",
                "DELETE FROM hubs WHERE region_key >= $1 AND region_key < $2 AND source = $3",
            ] {
                let done = sqlx::query(sql)
                    .bind(range.start)
                    .bind(range.end)
                    .bind(generated)
                    .execute(&mut *tx)
                    .await?;
                deleted.push(done.rows_affected());
            }
            if deleted.iter().any(|n| *n > 0) {
                for c in communities {
                    refresh_stats!(tx, c.key());
                }
                let entry = Entry {
                    target: Some(DISTRICT.to_string()),
                    region_key: Some(district.key()),
                    before: Some(json!({
                        "residents": deleted[1],
                        "households": deleted[2],
                        "buildings": deleted[3],
                        "facilities": deleted[4],
                        "hubs": deleted[7],
                    })),
                    ..Entry::new("demo.registry_delete")
                };
                write_entry!(&mut *tx, &actor, &entry)?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::registry::age_on;

    /// Generates the whole district without a database: 上城区's 14 streets with their real
    /// numbers of communities, each with a few dozen micro-grids.
    fn generate(scale: f64) -> Vec<Batch> {
        const PER_STREET: [usize; 14] = [5, 6, 12, 8, 12, 11, 15, 16, 17, 11, 21, 20, 26, 23];
        let boundary = district_boundary().expect("boundary");
        let mut rng = StdRng::seed_from_u64(1);
        let mut streets = Vec::new();
        let mut plans = Vec::new();
        for (s, (code, _, _)) in STREET_CENTRES.iter().enumerate() {
            let street = RegionCode::parse(code).expect("street");
            let first = plans.len();
            streets.push((street, (first..first + PER_STREET[s]).collect::<Vec<_>>()));
            for j in 0..PER_STREET[s] {
                let community = street.child(j as u32 + 1).expect("community");
                let grid = community.child(1).expect("grid");
                plans.push(CommunityPlan {
                    code: community,
                    name: format!("测试{j}社区"),
                    street_name: "测试街道".into(),
                    zone: zone_of(street),
                    full_size: 0.0,
                    residents: 0,
                    renter_share: 0.0,
                    micro_grids: (1..rng.gen_range(20..70))
                        .map(|k| grid.child(k).expect("micro-grid"))
                        .collect(),
                    taken_buildings: HashSet::new(),
                    taken_hubs: HashSet::new(),
                    hub: None,
                    facilities: Vec::new(),
                });
            }
        }
        let types: Vec<String> = FACILITIES.iter().map(|f| f.code.to_string()).collect();
        plan(&mut plans, &streets, &types, scale);
        let layout = Layout::new(boundary, &streets, plans.len(), None, &mut rng);
        let mut g = Generator {
            layout,
            ids: Identity {
                today: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
                sequences: HashMap::new(),
                phones: 0,
            },
        };
        plans
            .iter()
            .enumerate()
            .map(|(i, p)| g.community(i, p).expect("generates"))
            .collect()
    }

    #[test]
    fn generated_rows_are_consistent() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let batches = generate(0.02);
        let mut ids = HashSet::new();
        let mut phones = HashSet::new();
        for b in &batches {
            assert!(!b.buildings.is_empty() && !b.residents.is_empty());
            let tenure: HashMap<(String, String), Tenure> = b
                .households
                .iter()
                .map(|h| {
                    (
                        (
                            h.building.clone(),
                            h.room.clone() + h.unit.as_deref().unwrap_or(""),
                        ),
                        h.tenure,
                    )
                })
                .collect();
            assert_eq!(tenure.len(), b.households.len(), "rooms are distinct");
            for r in &b.residents {
                assert!(
                    ids.insert(r.id.as_str().to_string()),
                    "ID numbers are unique"
                );
                let parsed = IdNumber::parse(r.id.as_str(), today).expect("valid");
                assert_eq!(parsed.birth_date(), r.birth);
                assert_eq!(parsed.gender(), r.gender);
                if let Some(p) = &r.phone {
                    assert!(phones.insert(p.as_str().to_string()), "phones are distinct");
                    assert!(age_on(r.birth, today) >= 12);
                }
                let t = tenure[&(
                    r.building.clone(),
                    r.room.clone() + r.unit.as_deref().unwrap_or(""),
                )];
                let renting = r.relation == Relation::Tenant || r.tags.contains(&Tag::Renter);
                assert_eq!(renting, t == Tenure::Renter, "tenure and tags agree");
                assert_eq!(r.tags.contains(&Tag::Renter), t == Tenure::Renter);
                if r.tags.contains(&Tag::LivingAlone) {
                    assert!(age_on(r.birth, today) >= 59);
                }
            }
            for h in &b.hubs {
                assert!(crate::registry::hubs::validate(h).is_ok(), "{h:?}");
            }
            for f in &b.facilities {
                assert!(f.name.chars().count() <= 50);
            }
        }
    }

    /// The district's mix at scale 1 (slow in a debug build): `cargo test -p linli-store
    /// --release demo_registry::tests::mix -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn mix() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let batches = generate(1.0);
        let (mut n, mut h, mut u3, mut u18, mut a60, mut a80, mut key, mut renters, mut adults) =
            (0usize, 0usize, 0, 0, 0, 0, 0, 0, 0);
        let mut tags: HashMap<Tag, usize> = HashMap::new();
        let mut buildings = 0;
        for b in &batches {
            h += b.households.len();
            buildings += b.buildings.len();
            for r in &b.residents {
                n += 1;
                let a = age_on(r.birth, today);
                u3 += usize::from(a < 3);
                u18 += usize::from(a < 18);
                a60 += usize::from(a >= 60);
                a80 += usize::from(a >= 80);
                adults += usize::from(a >= 18);
                let lonely = r
                    .tags
                    .iter()
                    .any(|t| matches!(t, Tag::LivingAlone | Tag::Solitary | Tag::EmptyNest));
                key += usize::from(a >= 80 || (a >= 60 && lonely));
                renters += usize::from(r.tags.contains(&Tag::Renter));
                for t in &r.tags {
                    *tags.entry(*t).or_default() += 1;
                }
            }
        }
        let pct = |x: usize| 100.0 * x as f64 / n as f64;
        eprintln!(
            "residents {n}, households {h} (size {:.2}), buildings {buildings}; under 3 {:.2} %, under 18 {:.2} %, 60+ {:.2} %, 80+ {:.2} %, key elderly {key} ({:.2} %), renters {:.1} %",
            n as f64 / h as f64,
            pct(u3),
            pct(u18),
            pct(a60),
            pct(a80),
            pct(key),
            pct(renters)
        );
        let mut t: Vec<_> = tags.into_iter().collect();
        t.sort();
        for (tag, c) in t {
            eprintln!(
                "  {:<14} {c:>7} {:.2} % of all, {:.2} % of adults",
                tag.as_str(),
                pct(c),
                100.0 * c as f64 / adults as f64
            );
        }
    }
}
