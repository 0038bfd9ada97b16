//! The health check on the demo district against both databases: a run over a road grid,
//! its ranking and shortfall list, results that add up to the buildings on its map, staffing
//! figures and weights that move the index, and runs that cannot be done refused plainly.

use linli_core::healthcheck::{Weight, SHORTFALL_SHARE};
use linli_core::RegionCode;
use linli_pii::Keyring;
use linli_store::divisions::Quiet;
use linli_store::healthcheck::NetworkInput;
use linli_store::testing::TestDb;
use linli_store::{Actor, StoreError};

const SCALE: f64 = 0.002;

/// A road grid over the western and central streets, a line every 0.002°, a vertex every
/// 0.0005°.
fn roads() -> Vec<Vec<[f64; 2]>> {
    linli_store::testing::road_grid((120.155, 120.215), (30.215, 30.285), 0.002, 0.0005)
}

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("code")
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        username: "planner".into(),
        ip: None,
    }
}

#[tokio::test]
async fn a_district_run_ranks_flags_and_adds_up() {
    for db in TestDb::both().await {
        let mut s = db.open().await;
        s.use_keys(Keyring::generate()).await.expect("keys");
        eprintln!("backend: {:?}", s.backend());
        s.build_demo("demo-pass-1", SCALE, Some(&roads()), &Quiet)
            .await
            .expect("demo");
        let district = code("330102");

        assert!(
            s.healthcheck(district).await.expect("read").is_none(),
            "no run yet"
        );
        let report = s
            .run_healthcheck(&actor(), district, NetworkInput::Stored, &Quiet)
            .await
            .expect("run");
        assert_eq!(report.communities, 203, "every community of the district");
        assert_eq!(report.types, 20);
        assert!(
            report.assessed >= 20,
            "communities on the road grid: {}",
            report.assessed
        );
        assert!(
            report.assessed < report.communities,
            "the eastern streets have no roads here"
        );
        let expected_flagged = (report.assessed as f64 * SHORTFALL_SHARE).ceil() as usize;
        assert_eq!(report.flagged, expected_flagged);

        let view = s
            .healthcheck(district)
            .await
            .expect("read")
            .expect("results");
        assert_eq!(view.run.id, report.run_id);
        assert_eq!(view.run.state, "done");
        assert_eq!(view.ranked as usize, report.assessed);
        assert_eq!(view.communities.len(), 203);
        // By rank, 1 first; the flagged are the last ranks; the unassessed come last, unranked.
        let ranks: Vec<i64> = view.communities.iter().filter_map(|c| c.rank).collect();
        assert_eq!(ranks, (1..=report.assessed as i64).collect::<Vec<_>>());
        let indexes: Vec<f64> = view.communities.iter().filter_map(|c| c.index).collect();
        assert!(indexes.windows(2).all(|w| w[0] >= w[1]), "ranked by index");
        for c in &view.communities {
            let last = c
                .rank
                .is_some_and(|r| r > (report.assessed - expected_flagged) as i64);
            assert_eq!(c.flagged, last, "{}", c.community);
            assert_eq!(c.assessed, c.rank.is_some());
        }

        // The residents counted building by building are the registry's own figures, for
        // the district and for its first communities.
        let today = chrono::Local::now().date_naive();
        let registered = s
            .registry_summary(Some(district), today)
            .await
            .expect("summary");
        let counted: i64 = view.communities.iter().map(|c| c.residents).sum();
        assert_eq!(counted, registered.residents);
        for c in view.communities.iter().take(5) {
            let registered = s
                .registry_summary(Some(c.community), today)
                .await
                .expect("summary");
            assert_eq!(c.residents, registered.residents, "{}", c.community);
        }

        // A ranked community's coverage adds up from its map: the residents of the buildings
        // within each type's radius.
        let top = &view.communities[0];
        let map = s
            .healthcheck_map(top.community)
            .await
            .expect("map")
            .expect("a map");
        let types = s.facility_types().await.expect("types");
        let buildings = map["buildings"].as_array().expect("buildings");
        assert!(!buildings.is_empty());
        for (t, kind) in types.iter().enumerate() {
            let covered: u64 = buildings
                .iter()
                .zip(map["meters"][t].as_array().expect("meters"))
                .filter(|(_, m)| {
                    m.as_i64()
                        .is_some_and(|m| m as f64 <= f64::from(kind.radius_m) + 0.5)
                })
                .map(|(b, _)| b[3].as_u64().unwrap_or(0))
                .sum();
            let stored = top.detail["coverage"][t]["covered"]
                .as_u64()
                .expect("covered");
            assert_eq!(stored, covered, "{} {}", top.community, kind.code);
        }
        let residents: u64 = buildings.iter().map(|b| b[3].as_u64().unwrap_or(0)).sum();
        assert_eq!(residents as i64, top.residents);

        // A street's view holds only its communities, ranked within the district.
        let street = top.community.parent().expect("street");
        let street_view = s.healthcheck(street).await.expect("read").expect("results");
        assert!(street_view
            .communities
            .iter()
            .all(|c| street.range().contains(c.community.key())));
        assert_eq!(street_view.ranked, view.ranked);

        // Staffing figures enter the index: a community with none entered lacks those three
        // indicators; with 50 workers per its residents it gains one.
        let bottom = view
            .communities
            .iter()
            .rfind(|c| c.assessed)
            .expect("a ranked one");
        let workers = (bottom.residents as f64 * 30.0 / 10_000.0).ceil();
        s.set_community_figures(
            &actor(),
            bottom.community,
            &[("community_workers".into(), Some(workers))],
        )
        .await
        .expect("figures");
        let bad = s
            .set_community_figures(&actor(), bottom.community, &[("cooks".into(), Some(3.0))])
            .await
            .expect_err("unknown figure");
        assert!(
            matches!(bad, StoreError::Invalid(ref p) if p.code == "unknown_figure"),
            "{bad:?}"
        );
        let bad = s
            .set_community_figures(
                &actor(),
                district,
                &[("community_workers".into(), Some(3.0))],
            )
            .await
            .expect_err("not a community");
        assert!(matches!(bad, StoreError::Invalid(ref p) if p.code == "not_a_community"));

        // Weights: everything on elderly coverage alone.
        let zero: Vec<Weight> = s
            .healthcheck_weights()
            .await
            .expect("weights")
            .into_iter()
            .map(|w| Weight {
                weight: if w.indicator == "coverage.elderly" {
                    1.0
                } else {
                    0.0
                },
                ..w
            })
            .collect();
        s.set_healthcheck_weights(&actor(), &zero)
            .await
            .expect("weights");
        let all_zero: Vec<Weight> = zero
            .iter()
            .map(|w| Weight {
                weight: 0.0,
                ..w.clone()
            })
            .collect();
        assert!(
            s.set_healthcheck_weights(&actor(), &all_zero)
                .await
                .is_err(),
            "all zero is refused"
        );
        let again = s
            .run_healthcheck(&actor(), district, NetworkInput::Stored, &Quiet)
            .await
            .expect("second run");
        assert!(again.run_id > report.run_id);
        let latest = s
            .healthcheck(bottom.community)
            .await
            .expect("read")
            .expect("results");
        assert_eq!(latest.run.id, again.run_id, "the latest run is shown");
        let one = &latest.communities[0];
        let workers_indicator = one.detail["indicators"]
            .as_array()
            .expect("indicators")
            .iter()
            .find(|i| i["code"] == "community_workers_per_10k")
            .expect("indicator");
        assert!(workers_indicator["value"].as_f64().unwrap_or(0.0) >= 30.0);
        let elderly = one.detail["indicators"]
            .as_array()
            .expect("indicators")
            .iter()
            .find(|i| i["code"] == "coverage.elderly")
            .and_then(|i| i["score"].as_f64())
            .expect("elderly score");
        assert!(
            (one.index.expect("index") - elderly).abs() < 0.01,
            "the index is the elderly coverage alone now"
        );
    }
}

#[tokio::test]
async fn runs_that_cannot_be_done_say_why() {
    for db in TestDb::both().await {
        let mut s = db.open().await;
        s.use_keys(Keyring::generate()).await.expect("keys");
        s.build_demo("demo-pass-1", SCALE, None, &Quiet)
            .await
            .expect("demo without roads");
        let district = code("330102");
        let e = s
            .run_healthcheck(&actor(), district, NetworkInput::Stored, &Quiet)
            .await
            .expect_err("no roads");
        assert!(
            matches!(e, StoreError::Invalid(ref p) if p.code == "no_network"),
            "{e:?}"
        );
        let run = s
            .latest_healthcheck_run(district, false)
            .await
            .expect("run")
            .expect("a failed run");
        assert_eq!(run.state, "failed");
        assert!(
            run.error.as_deref().unwrap_or("").contains("路网"),
            "{:?}",
            run.error
        );
        assert!(
            s.healthcheck(district).await.expect("read").is_none(),
            "a failed run shows no results"
        );

        // A run left "running" by a process that stopped an hour ago is marked abandoned by
        // the next run, which then goes ahead.
        let sql = "UPDATE healthcheck_runs SET state = 'running', error = NULL, finished_at = NULL, started_at = started_at - 3600000";
        if db.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
            sqlx::query(sql).execute(&pool).await.expect("age the run");
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            sqlx::query(sql).execute(&pool).await.expect("age the run");
            pool.close().await;
        }
        let stale = run.id;
        let _ = s
            .run_healthcheck(&actor(), district, NetworkInput::Stored, &Quiet)
            .await;
        let old = s
            .healthcheck_run(stale)
            .await
            .expect("read")
            .expect("the old run");
        assert_eq!(old.state, "failed");
        assert!(
            old.error.as_deref().unwrap_or("").contains("中断"),
            "{:?}",
            old.error
        );

        let grid = s.children(Some(code("330102001051"))).await.expect("grids");
        if let Some(g) = grid.first() {
            let e = s
                .run_healthcheck(&actor(), g.region.code, NetworkInput::Stored, &Quiet)
                .await
                .expect_err("a grid");
            assert!(
                matches!(e, StoreError::Invalid(ref p) if p.code == "not_for_level"),
                "{e:?}"
            );
        }
        let bad_file = std::env::temp_dir().join("linli-not-a-network.osm.pbf");
        std::fs::write(&bad_file, "no").expect("write");
        let e = s
            .run_healthcheck(&actor(), district, NetworkInput::File(&bad_file), &Quiet)
            .await
            .expect_err("a bad file");
        assert!(
            matches!(e, StoreError::Invalid(ref p) if p.code == "bad_network"),
            "{e:?}"
        );
    }
}
