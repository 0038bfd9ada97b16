//! The demo district's generated registry against both databases: its size and mix at a
//! small scale, figures that agree with the rows, valid identifiers, every facility type,
//! hubs in every street, positions inside the district and along the roads given, and a
//! rebuild that replaces the generated rows while keeping people's own.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use linli_core::geo::MultiPolygon;
use linli_core::grid::Source;
use linli_core::registry::hub::HubKind;
use linli_core::registry::{Gender, IdNumber, Tag, Tenure};
use linli_core::{Level, RegionCode};
use linli_pii::Keyring;
use linli_store::divisions::Quiet;
use linli_store::registry::{BuildingInput, Page, PersonalField, ResidentFilter, ResidentInput};
use linli_store::testing::TestDb;
use linli_store::{Actor, Store};

const DISTRICT: &str = "330102";
const SCALE: f64 = 0.01;
const BOUNDARY: &str = include_str!("../data/330102_shangcheng.wgs84.geojson");

/// A regular road grid over the western and central streets: north–south lines every
/// 0.002° of longitude, east–west lines every 0.002° of latitude, a vertex every 0.0005°.
const ROADS_LON: (f64, f64) = (120.155, 120.215);
const ROADS_LAT: (f64, f64) = (30.215, 30.285);
const STEP: f64 = 0.002;
const VERTEX: f64 = 0.0005;

fn roads() -> Vec<Vec<[f64; 2]>> {
    let mut lines = Vec::new();
    let n_lon = ((ROADS_LON.1 - ROADS_LON.0) / STEP).round() as usize;
    let n_lat = ((ROADS_LAT.1 - ROADS_LAT.0) / STEP).round() as usize;
    let v_lat = ((ROADS_LAT.1 - ROADS_LAT.0) / VERTEX).round() as usize;
    let v_lon = ((ROADS_LON.1 - ROADS_LON.0) / VERTEX).round() as usize;
    for i in 0..=n_lon {
        let lon = ROADS_LON.0 + i as f64 * STEP;
        lines.push(
            (0..=v_lat)
                .map(|j| [lon, ROADS_LAT.0 + j as f64 * VERTEX])
                .collect(),
        );
    }
    for i in 0..=n_lat {
        let lat = ROADS_LAT.0 + i as f64 * STEP;
        lines.push(
            (0..=v_lon)
                .map(|j| [ROADS_LON.0 + j as f64 * VERTEX, lat])
                .collect(),
        );
    }
    lines
}

/// Metres from `p` to the nearest vertex of [`roads`].
fn to_road_vertex(p: [f64; 2]) -> f64 {
    let snap = |x: f64, o: f64, step: f64| o + ((x - o) / step).round() * step;
    let metres = |a: [f64; 2], b: [f64; 2]| {
        (((a[0] - b[0]) * 96_200.0).powi(2) + ((a[1] - b[1]) * 110_900.0).powi(2)).sqrt()
    };
    let on_meridian = [
        snap(p[0], ROADS_LON.0, STEP),
        snap(p[1], ROADS_LAT.0, VERTEX),
    ];
    let on_parallel = [
        snap(p[0], ROADS_LON.0, VERTEX),
        snap(p[1], ROADS_LAT.0, STEP),
    ];
    metres(p, on_meridian).min(metres(p, on_parallel))
}

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("valid code")
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        username: "shegong".into(),
        ip: None,
    }
}

fn today() -> NaiveDate {
    (chrono::Utc::now() + Duration::hours(8)).date_naive()
}

fn everyone() -> ResidentFilter {
    ResidentFilter {
        range: code(DISTRICT).range(),
        tags: Vec::new(),
        q: None,
        household_id: None,
        building_id: None,
    }
}

async fn count_tagged(s: &Store, tags: Vec<Tag>) -> i64 {
    s.residents(
        &ResidentFilter { tags, ..everyone() },
        Page::new(None, Some(1)),
        today(),
    )
    .await
    .expect("residents")
    .total
}

#[tokio::test]
async fn the_demo_registry_is_sized_valid_and_rebuilt_without_duplicates() {
    let boundary = MultiPolygon::from_geojson(&serde_json::from_str(BOUNDARY).expect("json"))
        .expect("boundary");
    let roads = roads();
    for db in TestDb::both().await {
        let mut s = db.open().await;
        s.use_keys(Keyring::generate()).await.expect("keys");
        eprintln!("backend: {:?}", s.backend());
        let report = s
            .build_demo("demo-pass-1", SCALE, Some(&roads), &Quiet)
            .await
            .expect("demo");
        let r = &report.registry;
        let district = code(DISTRICT);
        let range = district.range();

        // A year of events at practice 001's rate, scaled, with plausible figures.
        let expected = (18_000.0 * 12.0 * SCALE) as i64;
        assert!(
            (expected * 9 / 10..=expected).contains(&report.events),
            "events {}",
            report.events
        );
        let now = linli_store::now_ms();
        let day = linli_core::events::kpi::china_day(now);
        let rows = s
            .event_kpis(
                linli_store::events::KpiScope::Region(district),
                day - 366,
                day + 1,
                now,
            )
            .await
            .expect("figures");
        let t = linli_store::events::KpiRow::total(&rows);
        assert_eq!(t.received, report.events);
        assert!(
            t.closed * 100 > t.received * 95,
            "closed {} of {}",
            t.closed,
            t.received
        );
        let on_time = t.closed_on_time as f64 / t.closed as f64;
        assert!((0.75..0.98).contains(&on_time), "on time {on_time}");
        let satisfied = t.satisfied as f64 / t.rated as f64;
        assert!((0.75..0.95).contains(&satisfied), "satisfied {satisfied}");
        assert!(linli_core::events::kpi::percentile_ms(&t.hist, 0.9).is_some());
        assert!(rows.len() >= 15, "categories {}", rows.len());

        // Size: 1.32 million × 0.01, exactly apportioned.
        assert!(
            (12_540..=13_860).contains(&r.residents),
            "residents {}",
            r.residents
        );
        let size = r.residents as f64 / r.households as f64;
        assert!((2.0..2.9).contains(&size), "household size {size}");

        // The district's figures agree with the rows.
        let sum = s
            .registry_summary(Some(district), today())
            .await
            .expect("summary");
        let residents = s
            .residents(&everyone(), Page::new(None, Some(1)), today())
            .await
            .expect("residents")
            .total;
        let buildings = s
            .buildings(range, None, Page::new(None, Some(1)))
            .await
            .expect("buildings")
            .total;
        let households = s
            .households(range, None, None, None, Page::new(None, Some(1)))
            .await
            .expect("households")
            .total;
        let rented = s
            .households(
                range,
                None,
                Some(Tenure::Renter),
                None,
                Page::new(None, Some(1)),
            )
            .await
            .expect("households")
            .total;
        let facilities = s
            .facilities(range, None, None, Page::new(None, Some(1)))
            .await
            .expect("facilities")
            .total;
        let hubs = s.hubs(range, None, Page::all()).await.expect("hubs");
        assert_eq!(sum.residents, residents);
        assert_eq!(sum.residents as usize, r.residents);
        assert_eq!(sum.buildings, buildings);
        assert_eq!(sum.buildings as usize, r.buildings);
        assert_eq!(sum.households, households);
        assert_eq!(sum.households as usize, r.households);
        assert_eq!(sum.facilities, facilities);
        assert_eq!(sum.facilities as usize, r.facilities);
        assert_eq!(sum.hubs, hubs.total);
        assert_eq!(sum.hubs as usize, r.hubs);
        assert_eq!(sum.age60, count_tagged(&s, vec![Tag::Age60]).await);
        assert_eq!(sum.age80, count_tagged(&s, vec![Tag::Age80]).await);
        assert_eq!(sum.under3, count_tagged(&s, vec![Tag::Under3]).await);
        assert_eq!(sum.under18, count_tagged(&s, vec![Tag::Under18]).await);
        // Every renting household's people carry 租户, and nobody else does.
        let tagged_renters = count_tagged(&s, vec![Tag::Renter]).await;
        assert_eq!(sum.renters, tagged_renters);
        assert_eq!(sum.tags.get("renter").copied(), Some(tagged_renters));
        let alone = count_tagged(&s, vec![Tag::LivingAlone, Tag::Age60]).await;
        assert_eq!(alone, sum.tags["living_alone"], "独居 only among the old");
        let lonely_60_not_80: i64 = {
            let mut ids = HashSet::new();
            for t in [Tag::LivingAlone, Tag::Solitary, Tag::EmptyNest] {
                let l = s
                    .residents(
                        &ResidentFilter {
                            tags: vec![t, Tag::Age60],
                            ..everyone()
                        },
                        Page::all(),
                        today(),
                    )
                    .await
                    .expect("lonely");
                for x in l.items {
                    if x.age < 80 {
                        ids.insert(x.id);
                    }
                }
            }
            ids.len() as i64
        };
        assert_eq!(sum.key_elderly, sum.age80 + lonely_60_not_80);
        assert!(rented > 0 && rented < households);

        // Proportions, loosely at this small scale.
        let share = |n: i64| n as f64 / sum.residents as f64;
        assert!(
            (0.22..0.31).contains(&share(sum.age60)),
            "60+ {}",
            share(sum.age60)
        );
        assert!(
            (0.03..0.06).contains(&share(sum.age80)),
            "80+ {}",
            share(sum.age80)
        );
        assert!((0.015..0.035).contains(&share(sum.under3)), "under 3");
        assert!((0.11..0.18).contains(&share(sum.under18)), "under 18");
        assert!(
            (0.15..0.40).contains(&sum.renter_share),
            "renters {}",
            sum.renter_share
        );
        let key = sum.key_elderly as f64 / sum.residents as f64;
        assert!((0.04..0.065).contains(&key), "key elderly {key}");
        for (tag, lo, hi) in [
            ("disabled", 0.01, 0.03),
            ("party_member", 0.04, 0.09),
            ("volunteer", 0.025, 0.065),
            ("low_income", 0.003, 0.02),
        ] {
            let x = share(sum.tags.get(tag).copied().unwrap_or(0));
            assert!((lo..hi).contains(&x), "{tag} {x}");
        }
        assert!(
            sum.large_communities.is_empty(),
            "below scale 1 no community reaches 融合型 size"
        );

        // Every community has buildings and residents.
        let mut communities = Vec::new();
        for street in s.children(Some(district)).await.expect("streets") {
            for c in s
                .children(Some(street.region.code))
                .await
                .expect("communities")
            {
                communities.push((street.region.code, c.region.code));
            }
        }
        assert_eq!(communities.len(), 203);
        for (_, c) in &communities {
            let f = s
                .registry_summary(Some(*c), today())
                .await
                .expect("summary");
            assert!(
                f.residents > 0 && f.buildings > 0 && f.households > 0,
                "{c}: {f:?}"
            );
            assert!(
                f.facilities >= 3,
                "{c} has its service station, day care, culture room"
            );
        }

        // All the types of the typology.
        for t in s.facility_types().await.expect("types") {
            let n = s
                .facilities(range, Some(&t.code), None, Page::new(None, Some(1)))
                .await
                .expect("facilities")
                .total;
            assert!(n > 0, "no {}", t.code);
        }
        let service = s
            .facilities(
                range,
                Some("community_service"),
                None,
                Page::new(None, Some(1)),
            )
            .await
            .expect("service stations")
            .total;
        assert_eq!(service, 203, "one service station per community");

        // Hubs: every street has one, of all three kinds, valid, generated.
        let streets: HashSet<RegionCode> = hubs
            .items
            .iter()
            .filter_map(|h| h.community.parent())
            .collect();
        assert_eq!(streets.len(), 14);
        let kinds: HashSet<HubKind> = hubs.items.iter().map(|h| h.kind).collect();
        assert_eq!(kinds.len(), 3);
        for h in &hubs.items {
            assert_eq!(h.source, Source::Generated);
            assert!(linli_core::registry::validate_hub(h.kind, &h.spaces).is_ok());
        }

        // Buildings: inside the district, in a micro-grid, and beside the roads given.
        let all = s
            .buildings(range, None, Page::all())
            .await
            .expect("buildings");
        let mut in_box = 0;
        let mut by_road = 0;
        for b in &all.items {
            let p = [b.lon.expect("lon"), b.lat.expect("lat")];
            assert!(
                boundary.contains(p),
                "{} at {p:?} is outside 上城区",
                b.name
            );
            assert_eq!(b.region.level(), Level::MicroGrid, "{}", b.name);
            assert!(b.name.ends_with('幢'));
            assert!((6..=33).contains(&b.floors.expect("floors")));
            assert!((1..=4).contains(&b.units.expect("units")));
            assert_eq!(b.source, Source::Generated);
            let inside_roads = (ROADS_LON.0 + 0.003..ROADS_LON.1 - 0.003).contains(&p[0])
                && (ROADS_LAT.0 + 0.003..ROADS_LAT.1 - 0.003).contains(&p[1]);
            if inside_roads {
                in_box += 1;
                if to_road_vertex(p) <= 45.0 {
                    by_road += 1;
                }
            }
        }
        assert!(in_box > 50, "the road grid covers the western streets");
        assert!(
            by_road as f64 >= 0.9 * in_box as f64,
            "{by_road} of {in_box} buildings among the roads lie beside one"
        );

        // Identifiers: every masked number is a 上城区 or Zhejiang one whose sequence parity
        // is the gender; a sample revealed in full parses, with the right birth and gender.
        let people = s
            .residents(&everyone(), Page::all(), today())
            .await
            .expect("all residents");
        assert_eq!(people.items.len() as i64, residents);
        let mut addresses: HashMap<String, usize> = HashMap::new();
        for p in &people.items {
            let m = &p.id_number;
            assert_eq!(m.chars().count(), 18, "{m}");
            assert!(m.starts_with("33"), "{m}");
            *addresses.entry(m[..6].to_string()).or_default() += 1;
            let parity = m.as_bytes()[16] - b'0';
            assert_eq!(parity % 2 == 1, p.gender == Gender::Male, "{m}");
            assert_eq!(p.source, Source::Generated);
            if p.age < 12 {
                assert!(p.phone.is_none(), "no phone for a young child");
            }
            let renting = p.tags.iter().any(|t| t.tag == Tag::Renter);
            assert_eq!(p.renter, renting);
        }
        assert!(addresses["330102"] > people.items.len() / 2);
        assert!(addresses.len() > 5, "some from other counties");
        let step = people.items.len() / 25;
        for p in people.items.iter().step_by(step.max(1)) {
            let full = s
                .reveal_resident(&actor(), p.id, PersonalField::IdNumber, "演示数据核验")
                .await
                .expect("reveal")
                .expect("an ID number");
            let id = IdNumber::parse(&full, today()).expect("a valid ID number");
            assert_eq!(id.birth_date(), p.birth);
            assert_eq!(id.gender(), p.gender);
            assert_eq!(id.masked(), p.id_number);
        }

        // People's own rows: a building, and a person who moved into a generated home and
        // holds the ID number the generator gives someone else (whom we delete).
        let (_, c) = communities[0];
        let grid = s
            .grids_under(c)
            .await
            .expect("grids")
            .first()
            .expect("a grid")
            .code;
        s.create_building(
            &actor(),
            BuildingInput {
                region: Some(grid),
                name: "手工登记1幢".into(),
                address: "杭州市上城区手工登记1幢".into(),
                lon: Some(120.165),
                lat: Some(30.24),
                floors: Some(6),
                units: Some(2),
            },
            Source::Manual,
        )
        .await
        .expect("manual building");
        let victim = people
            .items
            .iter()
            .find(|p| p.community == c && p.age >= 30)
            .expect("an adult in the first community");
        let victim_id = s
            .reveal_resident(&actor(), victim.id, PersonalField::IdNumber, "演示数据核验")
            .await
            .expect("reveal")
            .expect("an ID number");
        s.delete_resident(&actor(), victim.id, today())
            .await
            .expect("delete");
        let mine = s
            .create_resident(
                &actor(),
                ResidentInput {
                    household_id: victim.household_id,
                    name: "新住户".into(),
                    id_number: victim_id.clone(),
                    phone: None,
                    gender: None,
                    birth: None,
                    relation: linli_core::registry::Relation::Other,
                    tags: Vec::new(),
                },
                Source::Manual,
                today(),
            )
            .await
            .expect("a person of our own");

        // Rebuild: the same generated registry, nothing doubled, our rows kept.
        let again = s
            .build_demo("demo-pass-2", SCALE, Some(&roads), &Quiet)
            .await
            .expect("rebuild");
        assert_eq!(again.registry.residents, r.residents);
        assert_eq!(again.registry.buildings, r.buildings);
        assert_eq!(again.registry.facilities, r.facilities);
        assert_eq!(again.registry.hubs, r.hubs);
        assert_eq!(again.events, report.events, "events are generated once");
        let after = s
            .registry_summary(Some(district), today())
            .await
            .expect("summary");
        assert_eq!(
            after.residents as usize,
            r.residents + 1,
            "generated + ours"
        );
        assert_eq!(
            after.buildings as usize,
            r.buildings + 2,
            "generated + ours + the generated one our person lives in"
        );
        assert_eq!(after.households as usize, r.households + 1);
        assert_eq!(after.facilities as usize, r.facilities);
        assert_eq!(after.hubs as usize, r.hubs);
        let kept = s
            .resident(mine.id, today())
            .await
            .expect("resident")
            .expect("kept");
        assert_eq!(kept.source, Source::Manual);
        let holder = s
            .residents(
                &ResidentFilter {
                    q: Some(victim_id.clone()),
                    ..everyone()
                },
                Page::all(),
                today(),
            )
            .await
            .expect("by ID number");
        assert_eq!(holder.total, 1, "the number stays ours alone");
        assert_eq!(holder.items[0].id, mine.id);
        let manual = s
            .buildings(range, Some("手工登记"), Page::all())
            .await
            .expect("buildings");
        assert_eq!(manual.total, 1);
        // The figures of every community still agree with its rows.
        for (_, c) in communities.iter().take(20) {
            let f = s
                .registry_summary(Some(*c), today())
                .await
                .expect("summary");
            let n = s
                .residents(
                    &ResidentFilter {
                        range: c.range(),
                        ..everyone()
                    },
                    Page::new(None, Some(1)),
                    today(),
                )
                .await
                .expect("residents")
                .total;
            assert_eq!(f.residents, n, "{c}");
        }
        s.close().await;
    }
}

#[tokio::test]
async fn the_scale_is_checked_before_anything_is_written() {
    let db = TestDb::sqlite();
    let s = db.open().await;
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = s.build_demo("pw", bad, None, &Quiet).await;
        assert!(e.is_err(), "{bad}");
    }
    // Without the keys for personal data, a registry cannot be written.
    let e = s.build_demo("pw", 0.01, None, &Quiet).await;
    assert!(
        matches!(e, Err(linli_store::StoreError::Config(_))),
        "{e:?}"
    );
    assert!(s.region(code(DISTRICT)).await.expect("region").is_none());
    s.close().await;
}
