//! `linli access …` as a user runs it: the real binary on the Helsinki extract, and bad
//! input that must be refused with a clear message and no answer file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn helsinki() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../access/tests/fixtures/helsinki_centre.osm.pbf")
}

fn access(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("access")
        .args(args)
        .output()
        .expect("run linli")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn pois_then_nearest_on_real_osm() {
    let dir = tempfile::tempdir().expect("dir");
    let pois = dir.path().join("pois.csv");
    let o = access(&["pois", "--network", path(&helsinki()), "--out", path(&pois)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = std::fs::read_to_string(&pois).expect("pois");
    assert!(listed.starts_with("id,type,lon,lat,name\n"));
    assert!(listed.lines().any(|l| l.contains(",pharmacy,")), "{listed}");

    // Two origins in the centre (Rautatientori, Senaatintori) and one 20 km out at sea.
    let origins = dir.path().join("origins.csv");
    std::fs::write(
        &origins,
        "id,lon,lat\nstation,24.9432,60.1709\nsenate,24.9525,60.1693\nsea,25.1,60.0\n",
    )
    .expect("write");
    let out = dir.path().join("near.csv");
    let o = access(&[
        "nearest",
        "--network",
        path(&helsinki()),
        "--facilities",
        path(&pois),
        "--origins",
        path(&origins),
        "--max-meters",
        "1000",
        "--out",
        path(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("connected components"), "{err}");
    assert!(
        err.contains("origin sea at 25.1, 60"),
        "the far point is named: {err}"
    );
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&out)
        .expect("answer")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let types: std::collections::HashSet<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert_eq!(rows.len(), 3 * types.len(), "a row per origin per type");
    let metres = |origin: &str, kind: &str| -> Option<f64> {
        let row = rows
            .iter()
            .find(|r| r[0] == origin && r[1] == kind)
            .expect("row");
        row[2].parse().ok()
    };
    let station_pharmacy =
        metres("station", "pharmacy").expect("a pharmacy within 1 km of the station");
    assert!(station_pharmacy > 0.0 && station_pharmacy < 1000.0);
    assert!(
        rows.iter()
            .filter(|r| r[0] == "sea")
            .all(|r| r[2].is_empty()),
        "the far origin has no distances"
    );

    // Snapping to nodes answers too, and never shorter than the cap allows.
    let o = access(&[
        "nearest",
        "--network",
        path(&helsinki()),
        "--facilities",
        path(&pois),
        "--origins",
        path(&origins),
        "--max-meters",
        "300",
        "--snap",
        "node",
        "--out",
        path(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).expect("answer");
    for l in text.lines().skip(1) {
        if let Some(m) = l.rsplit(',').next().and_then(|m| m.parse::<f64>().ok()) {
            assert!(m <= 300.0, "{l}");
        }
    }
}

#[test]
fn bad_input_is_refused_with_where_and_what_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("near.csv");

    let fake = dir.path().join("fake.osm.pbf");
    std::fs::write(&fake, "this is not a pbf").expect("write");
    let o = access(&["graph", "--network", path(&fake), "--out", path(&out)]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is not an OpenStreetMap PBF file"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());

    let unknown = dir.path().join("roads.shp");
    std::fs::write(&unknown, "x").expect("write");
    let o = access(&["graph", "--network", path(&unknown), "--out", path(&out)]);
    assert!(
        stderr(&o).contains("unknown network format; use .osm.pbf, .geojson"),
        "{}",
        stderr(&o)
    );

    let facilities = dir.path().join("f.csv");
    std::fs::write(&facilities, "id,type,lon,lat\nf1,park,24.94,60.17\n").expect("write");
    let origins = dir.path().join("o.csv");
    std::fs::write(
        &origins,
        "id,lon,lat\na,24.94,60.17\nb,24.94,six\nc,240,60.17\n",
    )
    .expect("write");
    let o = access(&[
        "nearest",
        "--network",
        path(&helsinki()),
        "--facilities",
        path(&facilities),
        "--origins",
        path(&origins),
        "--max-meters",
        "500",
        "--out",
        path(&out),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("2 bad rows, nothing was done"), "{err}");
    assert!(
        err.contains("line 3, column lat: \"six\" is not a WGS-84 latitude"),
        "{err}"
    );
    assert!(
        err.contains("line 4, column lon: \"240\" is not a WGS-84 longitude"),
        "{err}"
    );
    assert!(!out.exists(), "no answer file on bad input");

    let o = access(&[
        "nearest",
        "--network",
        path(&helsinki()),
        "--facilities",
        path(&facilities),
        "--origins",
        path(&facilities),
        "--max-meters=-5",
        "--out",
        path(&out),
    ]);
    assert!(
        stderr(&o).contains("--max-meters must be a positive number"),
        "{}",
        stderr(&o)
    );

    let lines = dir.path().join("bad.geojson");
    std::fs::write(
        &lines,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString","coordinates":[[24.9,60.1],[24.9,"x"]]}}]}"#,
    )
    .expect("write");
    let o = access(&["graph", "--network", path(&lines), "--out", path(&out)]);
    assert!(
        stderr(&o).contains("feature 1, position 2"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}
