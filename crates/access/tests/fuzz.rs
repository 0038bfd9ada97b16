//! The readers never panic, whatever they are given: random bytes, and random mutations and
//! truncations of a real PBF, of GeoJSON and of CSV. They answer a network or a clear error.

use std::io::Write;
use std::path::Path;

use linli_access::network::{read, read_geojson, read_graph_csv, read_graph_csv_checked, Segments};
use linli_access::points::{parse, parse_checked};
use linli_access::pois::read_pois;
use linli_core::registry::builtin_types;
use proptest::prelude::*;

fn kouvola() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kouvola.osm.pbf"))
            .expect("fixture")
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            8 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            1 => any::<usize>().prop_map(Edit::Truncate),
        ],
        1..6,
    )
}

fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for e in edits {
        if bytes.is_empty() {
            break;
        }
        match *e {
            Edit::Set(i, b) => {
                let n = bytes.len();
                bytes[i % n] = b;
            }
            Edit::Truncate(i) => bytes.truncate(i % bytes.len()),
        }
    }
    bytes
}

fn as_pbf_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".osm.pbf")
        .tempfile()
        .expect("temp file");
    f.write_all(bytes).expect("write");
    f
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|x| json!(x)),
        (-200.0..200.0f64).prop_map(|x| json!(x)),
        prop_oneof![
            Just("LineString"),
            Just("MultiLineString"),
            Just("Feature"),
            Just("FeatureCollection"),
            Just("GeometryCollection"),
            Just("Point")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type"),
                        Just("coordinates"),
                        Just("geometry"),
                        Just("features"),
                        Just("geometries")
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_pbf_never_panics(edits in edits()) {
        let f = as_pbf_file(&apply(kouvola(), &edits));
        let _ = read(f.path());
        let _ = read_pois(f.path(), builtin_types());
    }

    #[test]
    fn random_bytes_are_not_a_pbf(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let f = as_pbf_file(&bytes);
        prop_assert!(read(f.path()).is_err());
        prop_assert!(read_pois(f.path(), builtin_types()).is_err());
    }
}

/// An empty file (proptest's smallest case above) is refused by both readers.
#[test]
fn an_empty_file_is_not_a_pbf() {
    let f = as_pbf_file(&[]);
    assert!(read(f.path()).is_err());
    assert!(read_pois(f.path(), builtin_types()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_json_reads_or_is_refused(v in json_value()) {
        let text = serde_json::to_vec(&v).expect("json");
        if let Ok(s) = read_geojson(Path::new("x.geojson"), &text) {
            for &(a, b, m) in &s.segments {
                prop_assert!((a as usize) < s.positions.len() && (b as usize) < s.positions.len());
                prop_assert!(m.is_finite() && m >= 0.0);
            }
        }
    }

    #[test]
    fn mutated_geojson_never_panics(edits in edits()) {
        let base = br#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString","coordinates":[[120.1,30.2],[120.11,30.21],[120.12,30.2]]}},{"type":"Feature","geometry":{"type":"MultiLineString","coordinates":[[[120.11,30.21],[120.13,30.22]]]}}]}"#;
        let _ = read_geojson(Path::new("x.geojson"), &apply(base, &edits));
    }

    #[test]
    fn any_csv_reads_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..512), header in 0..3usize) {
        let head: &[u8] = [&b"id,lon,lat\n"[..], b"id,type,lon,lat\n", b"from_lon,from_lat,to_lon,to_lat,meters\n"][header];
        let text = [head, &bytes].concat();
        if let Ok(points) = parse(Path::new("p.csv"), &text, header == 1) {
            for p in points {
                prop_assert!(p.lon.is_finite() && p.lat.is_finite());
            }
        }
        let _ = read_graph_csv(Path::new("g.csv"), &text);
    }
}

/// Edits from bytes that matter to a CSV reader: separators, line ends, quotes, blanks,
/// the characters of numbers, a byte-order mark's first byte and a CJK character's.
fn csv_edits() -> impl Strategy<Value = Vec<Edit>> {
    let byte = prop::sample::select(&b",\n\r\" \t0123456789.-+eEnix\xef\xe4\x0b"[..]);
    prop::collection::vec(
        prop_oneof![
            8 => (any::<usize>(), byte).prop_map(|(i, b)| Edit::Set(i, b)),
            1 => any::<usize>().prop_map(Edit::Truncate),
        ],
        1..4,
    )
}

fn same_segments(a: &Segments, b: &Segments) -> bool {
    let bits = |p: &[[f64; 2]]| -> Vec<[u64; 2]> {
        p.iter().map(|p| [p[0].to_bits(), p[1].to_bits()]).collect()
    };
    let segs = |s: &Segments| -> Vec<(u32, u32, u64)> {
        s.segments
            .iter()
            .map(|&(a, b, m)| (a, b, m.to_bits()))
            .collect()
    };
    bits(&a.positions) == bits(&b.positions)
        && segs(a) == segs(b)
        && a.notes == b.notes
        && a.distinct_positions == b.distinct_positions
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The quick readers of plain files answer what the CSV reader answers, or leave it
    /// to the CSV reader.
    #[test]
    fn plain_csv_reads_as_the_csv_reader_does(edits in csv_edits(), crlf in any::<bool>()) {
        let graph = "from_lon,from_lat,to_lon,to_lat,meters\n24.9,60.1,24.91,60.11,12.5\n24.91,60.11,-8.611385700000001,41.149924500000004,0\n 24.9 ,60.1,24.92,60.12,7e1\n24.92,60.12,24.9,60.1,3.25\n";
        let origins = "id,lon,lat\no1,24.9,60.1\n 社区 ,24.91,60.11\no3,-8.611385700000001,41.149924500000004\n";
        let facilities = "lat,type,id,lon,extra\n60.1,park,f1,24.9,x\n60.11,school,f2,24.91\n";
        for (k, base) in [graph, origins, facilities].into_iter().enumerate() {
            let base = if crlf { base.replace('\n', "\r\n") } else { base.to_string() };
            let text = apply(base.as_bytes(), &edits);
            let path = Path::new("x.csv");
            if k == 0 {
                match (read_graph_csv(path, &text), read_graph_csv_checked(path, &text)) {
                    (Ok(a), Ok(b)) => prop_assert!(same_segments(&a, &b), "{:?}", String::from_utf8_lossy(&text)),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{:?}: {:?} against {:?}", String::from_utf8_lossy(&text), a.is_ok(), b.is_ok()),
                }
            } else {
                match (parse(path, &text, k == 2), parse_checked(path, &text, k == 2)) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{:?}: {:?} against {:?}", String::from_utf8_lossy(&text), a, b),
                }
            }
        }
    }
}
