//! The events API over HTTP against the demo district, on both databases: a resident's
//! report with a photo carried to a rated closure by the grid and the community; who sees
//! what; refusals and bad input with their messages; the whistle and a clerk's check-in.
//!
//! Demo accounts: jumin (resident), wangge (grid 330102001051001), shegong (community
//! 330102001051), chengguan (clerk of 城管局 cgj), leader (湖滨街道 330102003).

mod common;

use common::{on_each_backend, App};
use serde_json::{json, Value};

const GRID: &str = "330102001051001";
/// A spot inside 上城区 by 清波门, where the test registers its own building.
const SPOT: [f64; 2] = [120.1640, 30.2420];

async fn building(app: &App, token: &str) -> i64 {
    let r = app
        .post(
            token,
            "/api/v1/buildings",
            &json!({"region": GRID, "name": "事件测试楼", "address": "清波街", "lon": SPOT[0], "lat": SPOT[1]}),
        )
        .await;
    r.status(201);
    r.json()["id"].as_i64().expect("building id")
}

async fn upload(app: &App, token: &str, bytes: Vec<u8>) -> common::Resp {
    app.with(
        "POST /api/v1/photos",
        app.client()
            .post(app.url("/api/v1/photos"))
            .bearer_auth(token)
            .body(bytes),
    )
    .await
}

fn actions(detail: &Value) -> Vec<String> {
    detail["flow"]
        .as_array()
        .expect("flow")
        .iter()
        .map(|f| f["action"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn act(app: &App, token: &str, id: i64, body: Value) -> common::Resp {
    app.post(token, &format!("/api/v1/events/{id}/actions"), &body)
        .await
}

#[tokio::test]
async fn a_residents_report_with_a_photo_goes_to_a_rated_closure() {
    on_each_backend(|app| async move {
        let jumin = app.token("jumin").await;
        let wangge = app.token("wangge").await;
        let shegong = app.token("shegong").await;
        let leader = app.token("leader").await;
        let building_id = building(&app, &shegong).await;
        // The demo's generated year of events may reach this community: measure changes.
        let summary_path = "/api/v1/regions/330102001051/summary";
        let kpi_path = "/api/v1/regions/330102001051/events/kpis";
        let open_before = app.get(&shegong, summary_path).await.json()["events"]["open"]
            .as_i64()
            .expect("open count");
        let k0 = app.get(&shegong, kpi_path).await.json()["totals"].clone();
        let count = |k: &Value, f: &str| k[f].as_i64().unwrap_or(0);

        // The photo's text chunks (where a phone may write a place) are gone once stored.
        let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../photo/tests/fixtures/text_exif.png"))
            .expect("fixture");
        assert!(png.windows(4).any(|w| w == b"tEXt"), "the fixture carries text");
        let up = upload(&app, &jumin, png).await;
        up.status(201);
        let photo = up.json()["photo"].as_str().expect("photo ref").to_string();

        let r = app
            .post(
                &jumin,
                "/api/v1/events",
                &json!({"category": "env.garbage", "description": "楼下垃圾三天没人清运", "building_id": building_id, "photos": [photo]}),
            )
            .await;
        r.status(201);
        let created = r.json();
        let id = created["event"]["id"].as_i64().expect("id");
        assert_eq!(created["event"]["reference"], format!("SJ{id:08}"));
        assert_eq!(created["event"]["region"], GRID);
        assert_eq!(created["event"]["unit"]["level"], "grid");
        assert_eq!(created["event"]["unit"]["region"], GRID);
        assert_eq!(created["event"]["state_name"], "待受理");
        assert!(created["event"]["due_at"].as_str().expect("due").ends_with("+08:00"));

        // The region's figures count it open.
        let summary = app.get(&shegong, summary_path).await.json();
        assert_eq!(summary["events"]["open"], open_before + 1);

        // The grid sees it in its inbox; a leader of another street does not see it at all.
        let inbox = app.get(&wangge, "/api/v1/events?inbox=true&state=open").await;
        inbox.status(200);
        assert!(inbox.json()["items"].as_array().expect("items").iter().any(|e| e["id"] == id));
        app.get(&leader, &format!("/api/v1/events/{id}")).await.status(404);
        let mine = app.get(&jumin, "/api/v1/events").await.json();
        assert_eq!(mine["total"], 1, "a resident lists only their own reports");

        // Who may not, may not; what cannot happen now, cannot.
        let r = act(&app, &jumin, id, json!({"action": "accept"})).await;
        r.status(403);
        assert_eq!(r.json()["error"]["code"], "event_role_may_not");
        let r = act(&app, &wangge, id, json!({"action": "verify"})).await;
        r.status(409);
        assert_eq!(r.json()["error"]["message"], "这件事当前为“待受理”，不能“核查通过”。");
        let r = act(&app, &wangge, id, json!({"action": "fly"})).await;
        r.status(400);
        assert_eq!(r.json()["error"]["field"], "action");

        act(&app, &wangge, id, json!({"action": "accept"})).await.status(200);
        act(&app, &wangge, id, json!({"action": "report_back", "note": "已清运"})).await.status(200);
        act(&app, &shegong, id, json!({"action": "verify"})).await.status(200);
        act(&app, &shegong, id, json!({"action": "close"})).await.status(200);
        let r = act(&app, &jumin, id, json!({"action": "rate", "stars": 5, "comment": "很及时"})).await;
        r.status(200);
        let detail = r.json();
        assert_eq!(actions(&detail), ["report", "accept", "report_back", "verify", "close", "rate"]);
        assert_eq!(detail["event"]["rating"], 5);
        assert_eq!(detail["event"]["closed_on_time"], true);
        assert_eq!(detail["flow"][2]["note"], "已清运");

        // The photo is served to those who may see the event, without its metadata.
        let photo_id = detail["flow"][0]["photos"][0].as_i64().expect("photo on the report");
        let got = app
            .client()
            .get(app.url(&format!("/api/v1/events/{id}/photos/{photo_id}")))
            .bearer_auth(&wangge)
            .send()
            .await
            .expect("photo");
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/png");
        let bytes = got.bytes().await.expect("bytes");
        assert!(!bytes.windows(4).any(|w| w == b"tEXt" || w == b"eXIf"));
        app.get(&leader, &format!("/api/v1/events/{id}/photos/{photo_id}")).await.status(404);

        let summary = app.get(&shegong, summary_path).await.json();
        assert_eq!(summary["events"]["open"], open_before, "closed events are not open");

        // The leaders' figures count it: received, closed on time, resolved, satisfied.
        let k = app.get(&shegong, kpi_path).await;
        k.status(200);
        let k = k.json();
        let t = &k["totals"];
        for (field, more) in [("received", 1), ("closed", 1), ("closed_on_time", 1), ("resolved", 1), ("rated", 1), ("satisfied", 1)] {
            assert_eq!(count(t, field), count(&k0, field) + more, "{field}");
        }
        assert!(t["on_time_rate"].as_f64().is_some_and(|r| r > 0.0));
        assert!(t["p90_hours"].as_f64().is_some());
        let garbage = k["by_category"]
            .as_array()
            .expect("by category")
            .iter()
            .find(|c| c["category"] == "env.garbage")
            .cloned()
            .expect("a rubbish row");
        assert_eq!(garbage["category_name"], "垃圾堆放、清运不及时");
        let r = app.get(&shegong, "/api/v1/regions/330102001051/events/kpis?from=2026-13-01").await;
        r.status(400);
        assert_eq!(r.json()["error"]["field"], "from");
        let r = app.get(&shegong, "/api/v1/regions/330102001051/events/kpis?from=2026-05-01&to=2026-04-01").await;
        r.status(400);
        app.get(&jumin, "/api/v1/regions/330102001051/events/kpis").await.status(403);
        app.get(&shegong, "/api/v1/regions/330102003050/events/kpis").await.status(403);
        let summary = app.get(&jumin, "/api/v1/regions/330102001051/summary").await;
        assert_ne!(summary.code, 200, "residents read no region figures");

        // The reporter was told of each step.
        let notes = app.get(&jumin, "/api/v1/notifications").await.json();
        assert!(notes.as_array().expect("notes").iter().filter(|n| n["kind"] == "update").count() >= 4);
        app
    })
    .await;
}

#[tokio::test]
async fn bad_reports_are_refused_with_what_to_fix_and_change_nothing() {
    on_each_backend(|app| async move {
        let jumin = app.token("jumin").await;
        let before = app.get(&jumin, "/api/v1/events").await.json()["total"].clone();
        for (body, code, field) in [
            (json!({"category": "nope", "description": "x", "lon": SPOT[0], "lat": SPOT[1]}), "unknown_category", "category"),
            (json!({"category": "env.garbage", "description": "x"}), "location_required", "lon"),
            (json!({"category": "env.garbage", "description": "x", "lon": 116.4, "lat": 39.9}), "event_outside_district", "lon"),
            (json!({"category": "env.garbage", "description": "x", "lon": SPOT[0]}), "position_half", "lat"),
            (json!({"category": "env.garbage", "description": "", "lon": SPOT[0], "lat": SPOT[1]}), "required", "description"),
            (json!({"category": "env.garbage", "description": "x", "lon": SPOT[0], "lat": SPOT[1], "photos": ["00.jpg"]}), "unknown_photo", "photos"),
        ] {
            let r = app.post(&jumin, "/api/v1/events", &body).await;
            r.status(400);
            let e = r.json();
            assert_eq!(e["error"]["code"], code, "{body}");
            assert_eq!(e["error"]["field"], field, "{body}");
            assert!(!e["error"]["message"].as_str().unwrap_or("").is_empty());
        }
        let r = app
            .send(reqwest::Method::POST, "/api/v1/events", Some(&jumin), None)
            .await;
        r.status(400);
        // Photos that are not photos, or of a kind not accepted.
        let pdf = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../photo/tests/fixtures/tiny.pdf")).expect("pdf");
        let r = upload(&app, &jumin, pdf).await;
        r.status(400);
        assert_eq!(r.json()["error"]["code"], "photo_not_image");
        let gif = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../photo/tests/fixtures/image.gif")).expect("gif");
        let r = upload(&app, &jumin, gif).await;
        r.status(400);
        assert!(r.json()["error"]["message"].as_str().expect("message").contains("GIF"));
        let r = upload(&app, &jumin, vec![0xFF; 11 * 1024 * 1024]).await;
        r.status(413);
        assert_eq!(app.get(&jumin, "/api/v1/events").await.json()["total"], before);
        app
    })
    .await;
}

#[tokio::test]
async fn a_whistle_summons_a_department_whose_clerk_checks_in() {
    on_each_backend(|app| async move {
        let wangge = app.token("wangge").await;
        let shegong = app.token("shegong").await;
        let clerk = app.token("chengguan").await;
        let building_id = building(&app, &shegong).await;
        let r = app
            .post(&wangge, "/api/v1/events", &json!({"category": "build", "description": "楼顶违建", "building_id": building_id}))
            .await;
        r.status(201);
        let e = r.json()["event"].clone();
        let id = e["id"].as_i64().expect("id");
        assert_eq!(e["source"], "patrol");
        assert_eq!(e["unit"]["level"], "community", "违章搭建 is the community's by the list");
        // The clerk cannot see it until summoned.
        app.get(&clerk, &format!("/api/v1/events/{id}")).await.status(404);
        let r = act(&app, &shegong, id, json!({"action": "whistle", "departments": ["cgj"]})).await;
        r.status(403);
        assert_eq!(r.json()["error"]["code"], "event_not_handler", "the whistle is the grid's");
        // A fire lane is the grid's own: its grid worker blows the whistle.
        let g = app
            .post(&wangge, "/api/v1/events", &json!({"category": "fire.blocked", "description": "消防通道被占", "building_id": building_id}))
            .await;
        g.status(201);
        let gid = g.json()["event"]["id"].as_i64().expect("id");
        let r = act(&app, &wangge, gid, json!({"action": "whistle", "departments": ["cgj", "xf"], "check_in_minutes": 30, "note": "需城管、消防到场"})).await;
        r.status(200);
        assert_eq!(r.json()["summons"].as_array().expect("summons").len(), 2);
        let seen = app.get(&clerk, &format!("/api/v1/events/{gid}")).await;
        seen.status(200);
        let r = act(&app, &clerk, gid, json!({"action": "check_in"})).await;
        r.status(200);
        let summons = r.json()["summons"].clone();
        assert!(summons.as_array().expect("summons").iter().any(|s| s["department"] == "cgj" && s["state"] == "checked_in"));
        let notes = app.get(&clerk, "/api/v1/notifications").await.json();
        assert!(notes.as_array().expect("notes").iter().any(|n| n["kind"] == "summons" && n["event_id"] == gid));
        let bad = act(&app, &wangge, gid, json!({"action": "whistle", "departments": ["nope"]})).await;
        bad.status(400);
        assert_eq!(bad.json()["error"]["field"], "department");
        app
    })
    .await;
}

#[tokio::test]
async fn the_categories_and_the_api_document_are_served() {
    on_each_backend(|app| async move {
        let jumin = app.token("jumin").await;
        let cats = app.get(&jumin, "/api/v1/event-categories").await.json();
        let fire = cats
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["code"] == "fire.blocked")
            .cloned()
            .expect("fire lane");
        assert_eq!(fire["name"], "消防通道堵塞");
        assert_eq!(fire["deadline_hours"], 12.0);
        assert_eq!(fire["department"], "xf");
        let deps = app.get(&jumin, "/api/v1/departments").await.json();
        assert_eq!(deps.as_array().expect("departments").len(), 10);
        let doc = app
            .send(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
            .await
            .json();
        for path in [
            "/api/v1/events",
            "/api/v1/events/{id}",
            "/api/v1/events/{id}/actions",
            "/api/v1/photos",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} documented");
        }
        app
    })
    .await;
}

async fn upload_file(app: &App, token: &str, path: &str, bytes: Vec<u8>) -> common::Resp {
    app.with(
        &format!("POST {path}"),
        app.client()
            .post(app.url(path))
            .bearer_auth(token)
            .body(bytes),
    )
    .await
}

#[tokio::test]
async fn the_responsibility_and_admission_lists_export_and_import() {
    on_each_backend(|app| async move {
        let admin = app.token("admin").await;
        let shegong = app.token("shegong").await;
        let wangge = app.token("wangge").await;

        // Exports are workbooks in the import's columns.
        let x = app
            .client()
            .get(app.url("/api/v1/event-catalog/categories/export"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("export");
        assert_eq!(x.status(), 200);
        let bytes = x.bytes().await.expect("bytes");
        let table = linli_sheet::read("list.xlsx", &bytes).expect("a workbook");
        assert_eq!(table.headers[0], "事项代码");
        assert_eq!(table.rows.len(), linli_core::events::category::default_categories().len());

        // A bad list is refused whole with every bad row named.
        let bad = "事项代码,事项名称,办理时限（小时）,处置层级,责任部门代码\nfire.blocked,消防通道堵塞,6,网格,xf\nnew.one,新事项,abc,楼栋,nope\n";
        let r = upload_file(&app, &admin, "/api/v1/event-catalog/categories/import?name=list.csv", bad.as_bytes().to_vec()).await;
        r.status(422);
        let rows = r.json()["error"]["rows"].as_array().expect("rows").len();
        assert_eq!(rows, 3, "hours, level and department of line 3");
        let cats = app.get(&admin, "/api/v1/event-categories").await.json();
        let fire = cats.as_array().expect("list").iter().find(|c| c["code"] == "fire.blocked").cloned().expect("fire");
        assert_eq!(fire["deadline_hours"], 12.0, "nothing written");

        // Only admins change the list; then the new deadline applies to new reports.
        let good = "事项代码,事项名称,办理时限（小时）,处置层级,责任部门代码,网格可自办\nfire.blocked,消防通道堵塞,6,网格,xf,是\n";
        upload_file(&app, &shegong, "/api/v1/event-catalog/categories/import?name=list.csv", good.as_bytes().to_vec()).await.status(403);
        let r = upload_file(&app, &admin, "/api/v1/event-catalog/categories/import?name=list.csv", good.as_bytes().to_vec()).await;
        r.status(201);
        assert_eq!(r.json()["rows"], 1);
        let r = app
            .put(&admin, "/api/v1/event-categories/noise", &json!({"name_zh": "噪音扰民", "deadline_hours": 8, "grace_hours": 4, "level": "grid", "department": "sthj", "grid_may_close": true}))
            .await;
        r.status(200);
        assert_eq!(r.json()["deadline_hours"], 8.0);
        let r = app
            .put(&admin, "/api/v1/event-categories/noise", &json!({"name_zh": "噪音扰民", "deadline_hours": 8, "grace_hours": 4, "level": "department", "grid_may_close": true}))
            .await;
        r.status(400);
        assert_eq!(r.json()["error"]["field"], "department");

        // The community adopts its own admission list: fire lanes are no longer the grid's
        // to close on the spot.
        let list = "社区代码,事项代码\n330102001051,noise\n";
        let r = upload_file(&app, &shegong, "/api/v1/event-catalog/admissions/import?name=a.csv", list.as_bytes().to_vec()).await;
        r.status(201);
        let outside = "社区代码,事项代码\n330102003050,noise\n";
        let r = upload_file(&app, &shegong, "/api/v1/event-catalog/admissions/import?name=a.csv", outside.as_bytes().to_vec()).await;
        r.status(422);
        assert_eq!(r.json()["error"]["rows"][0]["field"], "community");
        let building_id = building(&app, &shegong).await;
        let r = app
            .post(&wangge, "/api/v1/events", &json!({"category": "fire.blocked", "description": "通道堵塞", "building_id": building_id, "close_on_spot": true}))
            .await;
        r.status(409);
        assert_eq!(r.json()["error"]["code"], "event_not_admitted");
        let r = app
            .post(&wangge, "/api/v1/events", &json!({"category": "noise", "description": "夜间装修", "building_id": building_id, "close_on_spot": true, "note": "已劝停"}))
            .await;
        r.status(201);
        assert_eq!(r.json()["event"]["state"], "closed");
        assert!(r.json()["event"]["due_at"].as_str().is_some());
        app
    })
    .await;
}
