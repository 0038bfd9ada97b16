//! From Los Angeles to 上城区: request types to linli categories, request sources to
//! linli sources, and places by rank — the i-th busiest neighbourhood council to the i-th
//! community by number of buildings, and within a council the j-th busiest location to the
//! j-th building of that community.

use std::collections::HashMap;

use linli_core::region::RegionCode;
use linli_store::events::Source;

use super::source::Ticket;

/// LA311 RequestType → linli category code (crates/core/data/event_categories.csv). Chosen by
/// what the Los Angeles crews do for each type:
/// - bulky items are a pickup of household rubbish left out → 垃圾堆放、清运不及时;
/// - metal, household appliances and electronic waste are pickups of recyclables with no
///   category of their own → the sanitation parent 环境卫生;
/// - graffiti → 小广告、乱涂乱画; illegal dumping → 乱倒垃圾; dead animals → 动物尸体;
/// - streetlights → 路灯损坏; water waste (a running pipe, a broken sprinkler) → 供水排水故障;
/// - homeless encampments have no category in the catalogue (rough sleeping falls to 民政's
///   relief service, not an event category) → 其他, as is "Other".
///
/// Anything else (e.g. "Feedback") is unknown: it goes to `other` and is counted apart.
pub const CATEGORY_MAP: [(&str, &str); 11] = [
    ("Bulky Items", "env.garbage"),
    ("Metal/Household Appliances", "env"),
    ("Electronic Waste", "env"),
    ("Graffiti Removal", "env.graffiti"),
    ("Illegal Dumping Pickup", "env.dumping"),
    ("Dead Animal Removal", "env.animal"),
    ("Single Streetlight Issue", "muni.streetlight"),
    ("Multiple Streetlight Issue", "muni.streetlight"),
    ("Report Water Waste", "muni.water"),
    ("Homeless Encampment", "other"),
    ("Other", "other"),
];

/// Where unknown request types go.
pub const UNKNOWN_CATEGORY: &str = "other";

/// The linli category of a request type, and whether the type was in the table.
pub fn category_for(request_type: &str) -> (&'static str, bool) {
    CATEGORY_MAP
        .iter()
        .find(|(la, _)| la.eq_ignore_ascii_case(request_type.trim()))
        .map_or((UNKNOWN_CATEGORY, false), |(_, code)| (*code, true))
}

/// LA311 RequestSource → linli source: calls are the hotline, the app and the web form are
/// residents; everything else (a crew's own report, e-mail, a council office) was typed in
/// by staff, as the hotline's are.
pub fn source_for(request_source: &str) -> Source {
    match request_source.trim().to_ascii_lowercase().as_str() {
        "call" => Source::Hotline,
        "mobile app" | "self service" => Source::Resident,
        _ => Source::Hotline,
    }
}

/// A registered building of the demo district.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    pub id: i64,
    /// The building's own region (usually a micro-grid).
    pub region: RegionCode,
    pub lon: f64,
    pub lat: f64,
}

/// A community with its buildings, ordered by id.
#[derive(Debug, Clone)]
pub struct Community {
    pub code: RegionCode,
    pub name: String,
    pub buildings: Vec<Building>,
}

/// Where a ticket is reported in linli.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// At a building's position (the locating path runs).
    Building(Building),
    /// Its council's community named as the region: the ticket had no location.
    CouncilRegion(RegionCode),
    /// The first community named as the region: the ticket had no council.
    Fallback(RegionCode),
}

impl Place {
    /// The region the place lies in, as far as the replay knows it.
    pub fn region(&self) -> RegionCode {
        match self {
            Place::Building(b) => b.region,
            Place::CouncilRegion(c) | Place::Fallback(c) => *c,
        }
    }
}

/// A location rounded to 4 decimals (about 10 m), as an integer pair for hashing.
fn location_key((lon, lat): (f64, f64)) -> (i64, i64) {
    ((lon * 1e4).round() as i64, (lat * 1e4).round() as i64)
}

/// Keys by descending count, ties by key, so that the ranking is reproducible.
fn rank<K: Ord + Clone>(counts: HashMap<K, usize>) -> Vec<(K, usize)> {
    let mut v: Vec<(K, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The places of all tickets, and the council ranking for the report.
pub struct Placement {
    /// One per ticket, in the order given.
    pub places: Vec<Place>,
    /// (council, tickets, community index) by rank.
    pub councils: Vec<(String, usize, usize)>,
}

/// Maps every ticket to a place (see the module documentation). `communities` must be
/// ranked already and every one must have a building.
pub fn place_all(tickets: &[&Ticket], communities: &[Community]) -> Placement {
    let mut by_council: HashMap<String, usize> = HashMap::new();
    for t in tickets {
        if let Some(c) = &t.council {
            *by_council.entry(c.clone()).or_default() += 1;
        }
    }
    let councils: Vec<(String, usize, usize)> = rank(by_council)
        .into_iter()
        .enumerate()
        .map(|(i, (c, n))| (c, n, i % communities.len()))
        .collect();
    let community_of: HashMap<&str, usize> =
        councils.iter().map(|(c, _, i)| (c.as_str(), *i)).collect();

    // Within each council, its locations by rank.
    let mut locations: HashMap<&str, HashMap<(i64, i64), usize>> = HashMap::new();
    for t in tickets {
        if let (Some(c), Some(p)) = (&t.council, t.location) {
            *locations
                .entry(c.as_str())
                .or_default()
                .entry(location_key(p))
                .or_default() += 1;
        }
    }
    let building_of: HashMap<(&str, (i64, i64)), usize> = locations
        .into_iter()
        .flat_map(|(c, counts)| {
            rank(counts)
                .into_iter()
                .enumerate()
                .map(move |(j, (k, _))| ((c, k), j))
        })
        .collect();

    let places = tickets
        .iter()
        .map(|t| {
            let Some(council) = t.council.as_deref() else {
                return Place::Fallback(communities[0].code);
            };
            let community = &communities[community_of[council]];
            match t.location {
                Some(p) => {
                    let j = building_of[&(council, location_key(p))];
                    Place::Building(community.buildings[j % community.buildings.len()].clone())
                }
                None => Place::CouncilRegion(community.code),
            }
        })
        .collect();
    Placement { places, councils }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).expect("test code")
    }

    fn ticket(council: Option<&str>, location: Option<(f64, f64)>) -> Ticket {
        Ticket {
            file: 0,
            line: 2,
            sr: "1".into(),
            request_type: "Bulky Items".into(),
            status: "Closed".into(),
            request_source: "Call".into(),
            created_ms: 0,
            closed_ms: None,
            council: council.map(str::to_string),
            location,
        }
    }

    fn community(c: &str, ids: &[i64]) -> Community {
        Community {
            code: code(c),
            name: c.into(),
            buildings: ids
                .iter()
                .map(|id| Building {
                    id: *id,
                    region: code(&format!("{c}001")),
                    lon: 120.0,
                    lat: 30.0,
                })
                .collect(),
        }
    }

    #[test]
    fn categories_and_sources() {
        assert_eq!(category_for("Bulky Items"), ("env.garbage", true));
        assert_eq!(category_for(" graffiti removal "), ("env.graffiti", true));
        assert_eq!(category_for("Feedback"), ("other", false));
        assert_eq!(source_for("Call"), Source::Hotline);
        assert_eq!(source_for("Self Service"), Source::Resident);
        assert_eq!(source_for("Driver Self Report"), Source::Hotline);
    }

    #[test]
    fn councils_and_locations_map_by_rank() {
        let a = (-118.1, 34.1);
        let b = (-118.2, 34.2);
        let tickets = [
            ticket(Some("SMALL"), Some(a)),
            ticket(Some("BIG"), Some(b)),
            ticket(Some("BIG"), Some(a)),
            ticket(Some("BIG"), Some(a)),
            ticket(Some("BIG"), None),
            ticket(None, Some(a)),
        ];
        let refs: Vec<&Ticket> = tickets.iter().collect();
        let communities = [
            community("330102001001", &[10, 11]),
            community("330102001002", &[20]),
        ];
        let p = place_all(&refs, &communities);
        assert_eq!(p.councils[0], ("BIG".to_string(), 4, 0));
        assert_eq!(p.councils[1], ("SMALL".to_string(), 1, 1));
        let ids: Vec<Option<i64>> = p
            .places
            .iter()
            .map(|pl| match pl {
                Place::Building(b) => Some(b.id),
                _ => None,
            })
            .collect();
        // BIG's busiest location (a, twice) → its community's first building; b → the second.
        assert_eq!(
            ids,
            vec![Some(20), Some(11), Some(10), Some(10), None, None]
        );
        assert_eq!(p.places[4], Place::CouncilRegion(code("330102001001")));
        assert_eq!(p.places[5], Place::Fallback(code("330102001001")));
    }
}
