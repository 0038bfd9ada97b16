//! The storage suite: every test runs against a temporary SQLite file and, when
//! LINLI_TEST_PG_URL is set (as .ci/run sets it), a throwaway PostgreSQL database.

use linli_core::geo::MultiPolygon;
use linli_core::grid::{GridKind, Source, StaffMember, StaffRole};
use linli_core::grid_import;
use linli_core::{Level, RegionCode, Role, Scope};
use linli_store::divisions::Quiet;
use linli_store::testing::TestDb;
use linli_store::{Actor, GridInput, LayerKind, NewUser, SessionKind, Store, StoreError};
use serde_json::json;

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("valid code")
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        username: "tester".into(),
        ip: Some("127.0.0.1".into()),
    }
}

/// A small square around (lon, lat), as a GeoJSON polygon.
fn square(lon: f64, lat: f64, half: f64) -> MultiPolygon {
    let v = json!({"type": "Polygon", "coordinates": [[
        [lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half], [lon - half, lat - half]
    ]]});
    MultiPolygon::from_geojson(&v).expect("square parses")
}

/// Runs `f` on each backend with 上城区 (and its ancestors) loaded.
async fn on_each<F, Fut>(f: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDb::both().await {
        let store = db.open().await;
        store
            .load_divisions("330102", &Quiet)
            .await
            .expect("load 上城区");
        eprintln!("backend: {:?}", store.backend());
        f(store.clone()).await;
        store.close().await;
    }
}

#[tokio::test]
async fn divisions_load_nest_and_reload_without_duplicates() {
    on_each(|s| async move {
        let summary = s.summary(Some(code("330102"))).await.unwrap();
        let get = |l: Level| summary.iter().find(|(x, _)| *x == l).map(|(_, n)| *n);
        assert_eq!(get(Level::Street), Some(14));
        assert_eq!(get(Level::Community), Some(203));
        assert_eq!(get(Level::Grid), Some(0));
        assert_eq!(get(Level::District), None, "only levels below are counted");
        // Ancestors came along, and the path is one query.
        let path = s.regions(&code("330102001051").ancestors()).await.unwrap();
        let names: Vec<&str> = path.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["浙江省", "杭州市", "上城区", "清波街道"]);
        // Loading again changes nothing.
        s.load_divisions("330102", &Quiet).await.unwrap();
        assert_eq!(s.summary(Some(code("330102"))).await.unwrap(), summary);
        assert!(s.divisions_loaded().await.unwrap());
        let streets = s.children(Some(code("330102"))).await.unwrap();
        assert_eq!(streets.len(), 14);
        assert_eq!(streets[0].region.name, "清波街道");
        assert_eq!(streets[0].child_count, 5, "清波街道 has 5 communities");
        assert_eq!(s.child_count(code("330102001")).await.unwrap(), 5);
        assert!(s.region(code("330102999")).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn zero_segment_codes_and_municipal_placeholders() {
    on_each(|s| async move {
        // 东莞市 (4419) has its districts under 441900, whose key equals the city's.
        s.load_divisions("4419", &Quiet).await.unwrap();
        s.load_divisions("1101", &Quiet).await.unwrap();
        let city = s.region(code("4419")).await.unwrap().expect("东莞市");
        let district = s.region(code("441900")).await.unwrap().expect("441900");
        assert_eq!(city.code.key(), district.code.key());
        assert_ne!(city.level(), district.level());
        let sum = s.summary(Some(code("4419"))).await.unwrap();
        assert_eq!(
            sum.iter().find(|(l, _)| *l == Level::District).map(|x| x.1),
            Some(1)
        );
        let dsum = s.summary(Some(code("441900"))).await.unwrap();
        assert!(
            dsum.iter().all(|(l, _)| *l > Level::District),
            "the city is not counted under its district"
        );
        let beijing = s.children(Some(code("11"))).await.unwrap();
        assert_eq!(beijing[0].region.name, "市辖区");
        assert_eq!(
            beijing[0].region.display_name(Some("北京市")),
            "北京市 · 市辖区"
        );
        // Search below a zero-segment district does not leak the city.
        let found = s
            .search(Scope::Region(code("441900")), "东莞", 10)
            .await
            .unwrap();
        assert!(found.iter().all(|r| r.level() > Level::City), "{found:?}");
    })
    .await;
}

#[tokio::test]
async fn search_is_bounded_by_scope_and_ordered_by_code() {
    on_each(|s| async move {
        let all = s.search(Scope::Nation, "清波", 10).await.unwrap();
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"清波街道"), "{names:?}");
        assert!(names.contains(&"清波门社区"), "{names:?}");
        let hubin = s
            .search(Scope::Region(code("330102003")), "清波", 10)
            .await
            .unwrap();
        assert!(hubin.is_empty(), "{hubin:?}");
        // LIKE wildcards are literal.
        assert!(s.search(Scope::Nation, "%", 10).await.unwrap().is_empty());
        assert!(s.search(Scope::Nation, "_", 10).await.unwrap().is_empty());
        assert_eq!(
            s.search(Scope::Nation, "社区", 3).await.unwrap().len(),
            3,
            "limit"
        );
    })
    .await;
}

#[tokio::test]
async fn grids_are_created_edited_deleted_and_audited() {
    on_each(|s| async move {
        let community = code("330102001051");
        let input = GridInput {
            name: "第1网格".into(),
            kind: Some(GridKind::ClosedCompound),
            staff: vec![
                StaffMember {
                    role: StaffRole::GridHead,
                    name: "张三".into(),
                },
                StaffMember {
                    role: StaffRole::FullTimeWorker,
                    name: "李四".into(),
                },
            ],
            boundary: Some(square(120.165, 30.25, 0.001)),
        };
        let g = s
            .create_grid(&actor(), community, None, input.clone(), Source::Manual)
            .await
            .unwrap();
        assert_eq!(g.code, code("330102001051001"), "first free number");
        assert_eq!(g.kind, Some(GridKind::ClosedCompound));
        assert_eq!(g.staff.len(), 2);
        assert!(g.boundary.is_some());
        // A duplicate number is refused and writes nothing.
        let dup = s
            .create_grid(&actor(), community, Some(1), input.clone(), Source::Manual)
            .await;
        assert!(
            matches!(&dup, Err(StoreError::Conflict(p)) if p.code == "duplicate_code"),
            "{dup:?}"
        );
        // Grids only below communities, micro-grids only below grids.
        let street = s
            .create_grid(
                &actor(),
                code("330102001"),
                None,
                input.clone(),
                Source::Manual,
            )
            .await;
        assert!(
            matches!(&street, Err(StoreError::Invalid(p)) if p.code == "bad_level"),
            "{street:?}"
        );
        let unknown = s
            .create_grid(
                &actor(),
                code("330102001999"),
                None,
                input.clone(),
                Source::Manual,
            )
            .await;
        assert!(
            matches!(&unknown, Err(StoreError::Invalid(p)) if p.code == "unknown_parent"),
            "{unknown:?}"
        );
        let empty = GridInput {
            name: "  ".into(),
            ..input.clone()
        };
        let bad = s
            .create_grid(&actor(), community, None, empty, Source::Manual)
            .await;
        assert!(
            matches!(&bad, Err(StoreError::Invalid(p)) if p.field == Some("name")),
            "{bad:?}"
        );
        // Micro-grids, then an edit.
        let micro_input = GridInput {
            name: "1幢".into(),
            ..GridInput::default()
        };
        let m = s
            .create_grid(&actor(), g.code, None, micro_input, Source::Manual)
            .await
            .unwrap();
        assert_eq!(m.code, code("330102001051001001"));
        let edited = GridInput {
            name: "滨江网格".into(),
            kind: Some(GridKind::OpenAreaByRoads),
            staff: vec![],
            boundary: None,
        };
        let g2 = s.update_grid(&actor(), g.code, edited).await.unwrap();
        assert_eq!(
            (
                g2.name.as_str(),
                g2.kind,
                g2.staff.len(),
                g2.boundary.is_none()
            ),
            ("滨江网格", Some(GridKind::OpenAreaByRoads), 0, true)
        );
        assert_eq!(g2.child_count, 1);
        let listed = s.grids_under(community).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            s.summary(Some(community)).await.unwrap(),
            vec![(Level::Grid, 1), (Level::MicroGrid, 1)]
        );
        // Delete takes the micro-grid along.
        assert_eq!(s.delete_grid(&actor(), g.code).await.unwrap(), 2);
        assert!(s.grid(m.code).await.unwrap().is_none());
        assert_eq!(
            s.summary(Some(community)).await.unwrap(),
            vec![(Level::Grid, 0), (Level::MicroGrid, 0)]
        );
        // The audit log has each write with its before and after.
        let log = s
            .audit_log(Scope::Region(community), None, 50)
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["grid.delete", "grid.update", "grid.create", "grid.create"]
        );
        let update = &log[1];
        assert!(update
            .before_json
            .as_deref()
            .unwrap_or("")
            .contains("第1网格"));
        assert!(update
            .after_json
            .as_deref()
            .unwrap_or("")
            .contains("滨江网格"));
        assert_eq!(update.username.as_deref(), Some("tester"));
        // Another community's log does not show these.
        assert!(s
            .audit_log(Scope::Region(code("330102001052")), None, 50)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn boundaries_must_lie_inside_the_district() {
    on_each(|s| async move {
        let boundary = s.boundary_layer(code("330102")).await.unwrap();
        assert!(boundary.is_none());
        let district = square(120.2, 30.27, 0.05);
        s.set_layer(
            &actor(),
            code("330102"),
            LayerKind::Boundary,
            &district.to_geojson().to_string(),
            district.bbox(),
            "test",
        )
        .await
        .unwrap();
        let inside = GridInput {
            name: "内".into(),
            boundary: Some(square(120.2, 30.27, 0.001)),
            ..GridInput::default()
        };
        s.create_grid(&actor(), code("330102001051"), None, inside, Source::Manual)
            .await
            .unwrap();
        let outside = GridInput {
            name: "外".into(),
            boundary: Some(square(121.5, 31.2, 0.001)),
            ..GridInput::default()
        };
        let err = s
            .create_grid(
                &actor(),
                code("330102001051"),
                None,
                outside,
                Source::Manual,
            )
            .await;
        match err {
            Err(StoreError::Invalid(p)) => {
                assert_eq!(p.code, "outside_district");
                assert!(
                    p.message(linli_core::i18n::Lang::En).contains("上城区"),
                    "{p}"
                );
            }
            other => panic!("expected outside_district, got {other:?}"),
        }
        assert_eq!(
            s.grids_under(code("330102001051")).await.unwrap().len(),
            1,
            "nothing written"
        );
        let map = s
            .map_data(code("330102001051"), "清波门社区")
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&map.json).expect("map JSON parses");
        assert_eq!(v["grids"].as_array().map(|a| a.len()), Some(1));
        assert_eq!(v["grids"][0]["name"], "内");
        assert_eq!(v["boundary"]["type"], "MultiPolygon");
        assert_eq!(v["attribution"], json!(["test"]));
    })
    .await;
}

#[tokio::test]
async fn imports_are_all_or_nothing_with_every_bad_row() {
    on_each(|s| async move {
        let good = "代码,名称,设置类型,网格力量\n330102001051001,一网格,封闭式小区,网格长:张三\n330102001051001001,1幢,,\n330102001051002,二网格,市场综合体,\n";
        let rows = grid_import::parse_csv(good.as_bytes()).expect("parses");
        let report = s.import_grids(&actor(), Scope::Region(code("330102001051")), &rows, "good.csv", Vec::new()).await.unwrap();
        assert_eq!((report.grids, report.micro_grids), (2, 1));
        let listed = s.grids_under(code("330102001051")).await.unwrap();
        assert_eq!(listed.iter().map(|g| g.source).collect::<Vec<_>>(), [Source::Imported, Source::Imported]);
        // A file with a duplicate, an unknown parent and a row outside the area: nothing of it is written.
        let bad = "code,name\n330102001051003,三网格\n330102001051001,重复\n330102001059001,无上级\n330102003050001,越界\n";
        let rows = grid_import::parse_csv(bad.as_bytes()).expect("parses");
        let err = s.import_grids(&actor(), Scope::Region(code("330102001")), &rows, "bad.csv", Vec::new()).await;
        let Err(StoreError::Rejected(errors)) = err else { panic!("expected rejection, got {err:?}") };
        let rows_named: Vec<usize> = errors.iter().map(|e| e.row).collect();
        assert_eq!(rows_named, [3, 4, 5], "{errors:?}");
        assert!(errors.iter().all(|e| e.field == "code"));
        assert!(s.grid(code("330102001051003")).await.unwrap().is_none(), "the good row of a bad file is not written");
    })
    .await;
}

#[tokio::test]
async fn accounts_sessions_and_passwords() {
    on_each(|s| async move {
        let new = |u: &str, p: &str| NewUser {
            username: u.into(),
            display_name: "测试".into(),
            password: p.into(),
            role: Role::GridWorker,
            scope: Scope::Region(code("330102001051")),
        };
        let u = s
            .create_user(&actor(), new("alice", "long enough"))
            .await
            .unwrap();
        let dup = s.create_user(&actor(), new("alice", "long enough")).await;
        assert!(
            matches!(&dup, Err(StoreError::Conflict(p)) if p.code == "username_taken"),
            "{dup:?}"
        );
        let weak = s.create_user(&actor(), new("bob", "short")).await;
        assert!(
            matches!(&weak, Err(StoreError::Invalid(p)) if p.field == Some("password")),
            "{weak:?}"
        );
        let bad_name = s
            .create_user(&actor(), new("bad name", "long enough"))
            .await;
        assert!(
            matches!(&bad_name, Err(StoreError::Invalid(p)) if p.field == Some("username")),
            "{bad_name:?}"
        );
        let nowhere = NewUser {
            scope: Scope::Region(code("330102001099")),
            ..new("carol", "long enough")
        };
        assert!(matches!(
            s.create_user(&actor(), nowhere).await,
            Err(StoreError::Invalid(_))
        ));
        let (found, hash) = s.user_by_name("alice").await.unwrap().expect("alice");
        assert_eq!(found, u);
        assert!(linli_store::password::verify("long enough", &hash));
        s.create_session(u.id, "hash-1", SessionKind::Bearer, "csrf-1", 60_000)
            .await
            .unwrap();
        let session = s.session("hash-1").await.unwrap().expect("live session");
        assert_eq!(
            (
                session.user.username.as_str(),
                session.kind,
                session.csrf.as_str()
            ),
            ("alice", SessionKind::Bearer, "csrf-1")
        );
        s.create_session(u.id, "hash-2", SessionKind::Cookie, "csrf-2", -1)
            .await
            .unwrap();
        assert!(s.session("hash-2").await.unwrap().is_none(), "expired");
        assert_eq!(s.purge_sessions().await.unwrap(), 1);
        s.delete_session("hash-1").await.unwrap();
        assert!(s.session("hash-1").await.unwrap().is_none());
        s.set_password(&actor(), "alice", "another long one")
            .await
            .unwrap();
        let (_, hash) = s.user_by_name("alice").await.unwrap().expect("alice");
        assert!(linli_store::password::verify("another long one", &hash));
        assert!(matches!(
            s.set_password(&actor(), "nobody", "long enough").await,
            Err(StoreError::NotFound)
        ));
        let log = s.audit_log(Scope::Nation, None, 10).await.unwrap();
        assert!(log
            .iter()
            .any(|r| r.action == "user.create" && r.target.as_deref() == Some("user:alice")));
        assert!(
            log.iter().all(|r| !r
                .after_json
                .as_deref()
                .unwrap_or("")
                .contains("long enough")),
            "no password in the log"
        );
    })
    .await;
}

#[tokio::test]
async fn the_demo_is_deterministic_and_keeps_peoples_grids() {
    on_each(|s| async move {
        let mine = GridInput {
            name: "手工网格".into(),
            ..GridInput::default()
        };
        s.create_grid(
            &actor(),
            code("330102001052"),
            Some(900),
            mine,
            Source::Manual,
        )
        .await
        .unwrap();
        let r = s
            .build_demo("demo-pass-1", 0.0, None, &Quiet)
            .await
            .unwrap();
        assert_eq!((r.communities, r.grids, r.micro_grids), (203, 1361, 9201));
        let first = s.grids_under(code("330102001051")).await.unwrap();
        s.build_demo("demo-pass-2", 0.0, None, &Quiet)
            .await
            .unwrap();
        let again = s.grids_under(code("330102001051")).await.unwrap();
        let names = |v: &[linli_store::Grid]| {
            v.iter()
                .map(|g| (g.code, g.name.clone(), g.kind, g.staff.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&first), names(&again), "seeded");
        assert!(first.iter().all(|g| g.source == Source::Generated));
        let sum = s.summary(Some(code("330102"))).await.unwrap();
        assert_eq!(
            sum.iter().find(|(l, _)| *l == Level::Grid).map(|x| x.1),
            Some(1362),
            "1,361 generated + 1 by hand"
        );
        assert_eq!(
            sum.iter()
                .find(|(l, _)| *l == Level::MicroGrid)
                .map(|x| x.1),
            Some(9201)
        );
        assert_eq!(
            s.grid(code("330102001052900"))
                .await
                .unwrap()
                .map(|g| g.name),
            Some("手工网格".into())
        );
        let (admin, hash) = s.user_by_name("admin").await.unwrap().expect("demo admin");
        assert_eq!(
            (admin.role, admin.scope),
            (Role::Admin, Scope::Region(code("330102")))
        );
        assert!(
            linli_store::password::verify("demo-pass-2", &hash),
            "password reset by the second run"
        );
        let boundary = s
            .boundary_layer(code("330102"))
            .await
            .unwrap()
            .expect("built-in boundary");
        assert!(boundary.contains([120.17, 30.25]));
    })
    .await;
}

/// The whole country: every row of the built-in tables arrives, on both backends.
#[tokio::test]
async fn the_whole_country_loads() {
    for db in TestDb::both().await {
        let s = db.open().await;
        let n = s.load_divisions("", &Quiet).await.unwrap();
        assert_eq!(n, 665_276);
        let sum = s.summary(None).await.unwrap();
        let counts: Vec<i64> = sum.iter().map(|(_, n)| *n).take(5).collect();
        assert_eq!(
            counts,
            [31, 342, 2_978, 41_352, 620_573],
            "{:?}",
            s.backend()
        );
        assert_eq!(s.children(None).await.unwrap().len(), 31);
        s.close().await;
    }
}

#[tokio::test]
async fn bad_database_urls_say_what_to_use() {
    let err = Store::connect("mysql://root@localhost/x")
        .await
        .expect_err("unsupported");
    assert!(
        err.to_string().contains("sqlite://") && err.to_string().contains("postgres://"),
        "{err}"
    );
}
