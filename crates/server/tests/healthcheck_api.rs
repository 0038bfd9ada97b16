//! The health check over HTTP on both databases: no results before a run; a run started by
//! the API and followed to the end; the district's ranking and a community's own view with
//! its weak points; staffing figures and weights with their refusals.

mod common;

use common::{on_each_backend, App};
use linli_core::RegionCode;
use linli_store::{Actor, LayerKind};
use serde_json::json;

const DISTRICT: &str = "330102";
const COMMUNITY: &str = "330102001051";

/// A road grid over the whole district's box, so that every demo building has a road near.
async fn lay_roads(app: &App) {
    let lines = linli_store::testing::road_grid((120.08, 120.34), (30.19, 30.37), 0.004, 0.001);
    let bbox = linli_store::maps::lines_bbox(&lines).expect("bbox");
    app.store
        .set_layer(
            &Actor::system("test"),
            RegionCode::parse(DISTRICT).expect("code"),
            LayerKind::Roads,
            &linli_store::maps::encode_lines(&lines),
            bbox,
            "test grid",
        )
        .await
        .expect("roads layer");
}

#[tokio::test]
async fn a_run_from_the_api_ranks_the_district() {
    on_each_backend(|app| async move {
        let root = app.token("root").await;
        let shegong = app.token("shegong").await;
        let wangge = app.token("wangge").await;
        let path = format!("/api/v1/regions/{DISTRICT}/healthcheck");

        let none = app.get(&root, &path).await;
        let e = none.error(404, "no_healthcheck", None);
        assert!(
            e["message"]
                .as_str()
                .unwrap_or("")
                .contains("尚未开展社区体检"),
            "{e}"
        );

        // No roads yet: the run fails and says why.
        let r = app.post(&root, &path, &json!({})).await;
        r.status(202);
        let run = wait(&app, &root, DISTRICT).await;
        assert_eq!(run["state"], "failed");
        assert!(
            run["error"].as_str().unwrap_or("").contains("路网"),
            "{run}"
        );

        lay_roads(&app).await;
        app.post(&wangge, &path, &json!({}))
            .await
            .error(403, "forbidden", None);
        app.post(&shegong, &path, &json!({}))
            .await
            .error(403, "no_access", None);
        app.post(
            &root,
            "/api/v1/regions/330102001051001/healthcheck",
            &json!({}),
        )
        .await
        .error(400, "not_for_level", None);
        let started = app.post(&root, &path, &json!({})).await;
        started.status(202);
        assert_eq!(started.json()["state"], "running");
        let run = wait(&app, &root, DISTRICT).await;
        assert_eq!(run["state"], "done", "{run}");

        let r = app.get(&root, &path).await;
        r.status(200);
        let v = r.json();
        assert_eq!(v["communities"], 203);
        let assessed = v["assessed"].as_u64().expect("assessed");
        assert!(
            assessed > 150,
            "the road grid covers the district: {assessed}"
        );
        assert_eq!(
            v["flagged"].as_u64(),
            Some((assessed as f64 * 0.1).ceil() as u64)
        );
        assert_eq!(v["coverage"].as_array().map(Vec::len), Some(20));
        let results = v["results"].as_array().expect("results");
        assert_eq!(results[0]["rank"], 1);
        assert!(results[0]["indicators"][0]["name"]
            .as_str()
            .unwrap_or("")
            .contains("覆盖"));
        assert!(
            results
                .iter()
                .all(|c| c["weak"].as_array().is_some_and(|w| w
                    .iter()
                    .all(|x| x["buildings"].as_array().is_some_and(Vec::is_empty)))),
            "a district's answer names weak types without listing buildings"
        );

        // The community worker sees their own community, with the buildings out of reach.
        let mine = app
            .get(
                &shegong,
                &format!("/api/v1/regions/{COMMUNITY}/healthcheck"),
            )
            .await;
        mine.status(200);
        let mine = mine.json();
        assert_eq!(mine["results"].as_array().map(Vec::len), Some(1));
        let c = &mine["results"][0];
        assert_eq!(c["code"], COMMUNITY);
        for w in c["weak"].as_array().expect("weak") {
            assert!(w["share"].as_f64().unwrap_or(1.0) < 0.8);
            let out = w["buildings"].as_array().expect("buildings");
            assert!(
                !out.is_empty(),
                "a weak type has buildings out of reach: {w}"
            );
        }
        app.get(&shegong, &path).await.error(403, "no_access", None);

        // Siting for the community's least-covered type: best first, each site adding only
        // residents not yet within reach, none more than the type leaves out.
        let (kind, left_out) = c["coverage"]
            .as_array()
            .expect("coverage")
            .iter()
            .map(|x| {
                (
                    x["type"].as_str().unwrap_or("").to_string(),
                    c["residents"].as_u64().unwrap_or(0) - x["covered"].as_u64().unwrap_or(0),
                )
            })
            .max_by_key(|x| x.1)
            .expect("a type");
        let siting = format!("/api/v1/regions/{COMMUNITY}/healthcheck/siting");
        let r = app
            .get(&shegong, &format!("{siting}?type={kind}&k=3"))
            .await;
        r.status(200);
        let sites = r.json()["sites"].as_array().cloned().expect("sites");
        if left_out > 0 {
            assert!(
                !sites.is_empty(),
                "{kind}: {left_out} residents out of reach, yet no site"
            );
            let gains: Vec<u64> = sites
                .iter()
                .map(|x| x["residents"].as_u64().unwrap_or(0))
                .collect();
            assert!(
                gains.windows(2).all(|w| w[0] >= w[1]),
                "best first: {gains:?}"
            );
            assert!(
                gains.iter().sum::<u64>() <= left_out,
                "{gains:?} of {left_out}"
            );
            let mut seen = std::collections::HashSet::new();
            for x in &sites {
                for b in x["buildings"].as_array().expect("buildings") {
                    assert!(seen.insert(b.as_i64()), "a building counted by two sites");
                }
            }
        }
        app.get(&shegong, &format!("{siting}?type={kind}&k=50"))
            .await
            .error(400, "bad_k", Some("k"));
        app.get(&shegong, &format!("{siting}?type=casino"))
            .await
            .error(400, "unknown_type", Some("type"));

        // Figures: entered for the next run; a negative count is refused.
        let figures = format!("/api/v1/regions/{COMMUNITY}/healthcheck/figures");
        app.put(
            &shegong,
            &figures,
            &json!({"community_workers": 12, "elderly_care_staff": 3, "infant_care_places": null}),
        )
        .await
        .status(204);
        app.put(&shegong, &figures, &json!({"community_workers": -1}))
            .await
            .error(400, "bad_figure", Some("value"));

        // Weights: read by all staff, changed by administrators only.
        let w = app.get(&shegong, "/api/v1/healthcheck/weights").await;
        w.status(200);
        assert_eq!(w.json().as_array().map(Vec::len), Some(12));
        app.put(
            &shegong,
            "/api/v1/healthcheck/weights",
            &json!([{"indicator": "coverage.health", "weight": 2}]),
        )
        .await
        .error(403, "forbidden", None);
        app.put(
            &root,
            "/api/v1/healthcheck/weights",
            &json!([{"indicator": "coverage.health", "weight": 2, "target": 5}]),
        )
        .await
        .error(400, "bad_target", Some("target"));
        let changed = app
            .put(
                &root,
                "/api/v1/healthcheck/weights",
                &json!([{"indicator": "coverage.health", "weight": 2}]),
            )
            .await;
        changed.status(200);
        assert!(changed
            .json()
            .as_array()
            .expect("weights")
            .iter()
            .any(|w| w["indicator"] == "coverage.health" && w["weight"] == 2.0));
        app
    })
    .await;
}

/// Polls the run's progress until it is no longer running (at most 60 s).
async fn wait(app: &App, token: &str, code: &str) -> serde_json::Value {
    for _ in 0..600 {
        let r = app
            .get(token, &format!("/api/v1/regions/{code}/healthcheck/run"))
            .await;
        r.status(200);
        let run = r.json();
        if run["state"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the health check of {code} did not finish within 60 s");
}

/// The pages over HTTP: the run started from the plan page's button and followed; the
/// district's plan with the ranking and the shortfall list as the API has them; a community's
/// portrait; the map API the portrait draws from; the .xlsx export against the API; and the
/// refusals (a resident, a city, a district's map).
#[tokio::test]
async fn the_plan_the_portrait_and_the_export_agree_with_the_api() {
    on_each_backend(|app| async move {
        lay_roads(&app).await;
        let root = app.token("root").await;
        let (admin, _) = app.browser_sign_in("admin").await;
        let plan_path = format!("/regions/{DISTRICT}/healthcheck");

        // Before any run: the empty state and the button.
        let empty = app.page(&admin, &plan_path).await;
        empty.status(200);
        assert!(empty.text.contains("id=\"hc-empty\""), "{}", empty.text);
        let csrf = empty.hidden_input("_csrf");

        // A form post without the token is refused and starts nothing.
        app.with(
            "POST run without csrf",
            admin
                .post(app.url(&format!("{plan_path}/run")))
                .form(&[("_csrf", "nope")]),
        )
        .await
        .status(403);
        app.get(
            &root,
            &format!("/api/v1/regions/{DISTRICT}/healthcheck/run"),
        )
        .await
        .status(404);

        let started = app
            .with(
                "POST run",
                admin
                    .post(app.url(&format!("{plan_path}/run")))
                    .form(&[("_csrf", csrf.as_str())]),
            )
            .await;
        started.status(303);
        assert_eq!(started.header("location"), Some(plan_path.as_str()));
        let run = wait(&app, &root, DISTRICT).await;
        assert_eq!(run["state"], "done", "{run}");
        assert_eq!(run["started_by"], "admin");

        let api = app
            .get(&root, &format!("/api/v1/regions/{DISTRICT}/healthcheck"))
            .await
            .json();
        let results = api["results"].as_array().expect("results");

        // The plan: the ranking in the API's order, the flagged ones on the shortfall list.
        let plan = app.page(&admin, &plan_path).await;
        plan.status(200);
        let ranking = common::between(&plan.text, "id=\"hc-ranking\"", "</table>")
            .expect("the ranking table");
        let codes_in_page: Vec<String> = ranking
            .split("<tr data-code=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap_or("").to_string())
            .collect();
        let codes_in_api: Vec<String> = results
            .iter()
            .map(|c| c["code"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(codes_in_page, codes_in_api);
        let shortfall = common::between(&plan.text, "id=\"hc-shortfall\"", "</table>")
            .expect("the shortfall table");
        let flagged: Vec<&serde_json::Value> =
            results.iter().filter(|c| c["flagged"] == true).collect();
        assert!(!flagged.is_empty());
        assert_eq!(shortfall.matches("<tr data-code=").count(), flagged.len());
        for c in &flagged {
            assert!(shortfall.contains(c["code"].as_str().unwrap_or("?")));
        }
        let text = plan.page_text();
        assert!(text.contains(&format!(
            "<span class=\"n\" data-n=\"flagged\">{}</span>",
            api["flagged"]
        )));
        assert!(
            !plan.text.contains("id=\"hc-progress\""),
            "no run is going on"
        );

        // The portrait of the worst-ranked community: its rank, its weak types.
        let worst = flagged.last().expect("a flagged community");
        let code = worst["code"].as_str().expect("code");
        let portrait = app
            .page(&admin, &format!("/regions/{code}/healthcheck"))
            .await;
        portrait.status(200);
        let text = portrait.page_text();
        assert!(text.contains("一社一画像"));
        assert!(text.contains(&format!("{} / {}", worst["rank"], api["ranked"])));
        assert!(text.contains("id=\"hc-flagged\""));
        for w in worst["weak"].as_array().expect("weak") {
            assert!(
                text.contains(&format!(
                    "data-type=\"{}\"",
                    w["type"].as_str().unwrap_or("?")
                )),
                "the weak type {} is listed",
                w["type"]
            );
        }

        // The map API: every building of the community, per type its walking metres, and
        // the residents within each radius are the coverage the API reports.
        let view = app
            .get(&root, &format!("/api/v1/regions/{code}/healthcheck"))
            .await
            .json();
        let map = app
            .get(&root, &format!("/api/v1/regions/{code}/healthcheck/map"))
            .await;
        map.status(200);
        let map = map.json();
        let buildings = map["buildings"].as_array().expect("buildings");
        for (t, ty) in map["types"].as_array().expect("types").iter().enumerate() {
            let radius = ty["radius_m"].as_f64().expect("radius");
            let within: u64 = buildings
                .iter()
                .zip(map["meters"][t].as_array().expect("meters"))
                .filter(|(_, m)| m.as_f64().is_some_and(|m| m <= radius + 0.5))
                .map(|(b, _)| b[3].as_u64().unwrap_or(0))
                .sum();
            let covered = view["results"][0]["coverage"]
                .as_array()
                .expect("coverage")
                .iter()
                .find(|x| x["type"] == ty["type"])
                .and_then(|x| x["covered"].as_u64())
                .expect("the type's coverage");
            assert_eq!(within, covered, "{}", ty["type"]);
        }
        app.get(
            &root,
            &format!("/api/v1/regions/{DISTRICT}/healthcheck/map"),
        )
        .await
        .error(400, "not_a_community", None);

        // The export: the ranking as the API has it; the shortfall list with every building
        // out of reach of the flagged communities' weak types.
        let res = admin
            .get(app.url(&format!("{plan_path}.xlsx")))
            .send()
            .await
            .expect("export");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        );
        let bytes = res.bytes().await.expect("bytes").to_vec();
        let ranking = linli_sheet::read("plan.xlsx", &bytes).expect("an .xlsx file");
        assert_eq!(ranking.headers[0], "排名");
        assert_eq!(ranking.headers.len(), 7 + 20);
        assert_eq!(ranking.rows.len(), results.len());
        for (row, c) in ranking.rows.iter().zip(results) {
            assert_eq!(row.cells[1], c["code"].as_str().unwrap_or("?"));
            assert_eq!(
                row.cells[0],
                c["rank"]
                    .as_i64()
                    .map(|r| r.to_string())
                    .unwrap_or_default()
            );
        }
        let mut out_of_reach = 0;
        for c in &flagged {
            let one = app
                .get(
                    &root,
                    &format!(
                        "/api/v1/regions/{}/healthcheck",
                        c["code"].as_str().unwrap_or("?")
                    ),
                )
                .await
                .json();
            for w in one["results"][0]["weak"].as_array().expect("weak") {
                out_of_reach += w["buildings"].as_array().map_or(0, Vec::len);
            }
        }
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("xlsx");
        assert_eq!(book.sheet_names(), ["社区排名", "补短板清单"]);
        let list = book
            .worksheet_range("补短板清单")
            .expect("the second sheet");
        assert_eq!(list.rows().count(), 1 + out_of_reach);

        // A grid's health check is its community's portrait; a city has none; residents
        // see none.
        let grid = app
            .page(&admin, &format!("/regions/{COMMUNITY}001/healthcheck"))
            .await;
        grid.status(303);
        assert_eq!(
            grid.header("location"),
            Some(format!("/regions/{COMMUNITY}/healthcheck").as_str())
        );
        app.page(&admin, "/regions/330100/healthcheck")
            .await
            .status(403);
        let (jumin, _) = app.browser_sign_in("jumin").await;
        app.page(&jumin, &plan_path).await.status(403);

        // A run left "running" an hour ago by a process that stopped: the page does not wait
        // on it, says so, and offers the button again.
        let sql = "UPDATE healthcheck_runs SET state = 'running', finished_at = NULL, started_at = started_at - 3600000";
        if app.db_url().starts_with("postgres") {
            let pool = sqlx::PgPool::connect(app.db_url()).await.expect("pg");
            sqlx::query(sql).execute(&pool).await.expect("age the runs");
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(app.db_url()).await.expect("sqlite");
            sqlx::query(sql).execute(&pool).await.expect("age the runs");
            pool.close().await;
        }
        let stale = app.page(&admin, &plan_path).await;
        stale.status(200);
        assert!(!stale.text.contains("id=\"hc-progress\""), "no progress line for a dead run");
        assert!(stale.page_text().contains("中断"), "{}", stale.text);
        assert!(stale.text.contains("id=\"hc-start\""));
        app
    })
    .await;
}
