//! Care's visits over HTTP on both databases: a community worker sets the community's visit
//! rules and enrols key elderly from the registry's tags; the grid worker enrols their grid
//! and records a visit from the phone with a photo; plans change by hand and back; a
//! household gets its own alarm rules; the leader reads the figures.

mod common;

use common::{on_each_backend, App};
use linli_core::registry::idcard::check_character;
use serde_json::{json, Value};

const COMMUNITY: &str = "330102001051";
const GRID: &str = "330102001051001";
const STREET: &str = "330102001";

/// A valid ID number for someone born on `birth` (yyyymmdd), sequence `seq`.
fn id_number(birth: &str, seq: u32) -> String {
    let first = format!("330102{birth}{seq:03}");
    let bytes: [u8; 17] = first.as_bytes().try_into().expect("17 digits");
    format!("{first}{}", check_character(&bytes))
}

/// Registers two elderly people living alone in a household of the grid, as the community
/// worker does in the registry; returns the household.
async fn elderly_in_grid(app: &App, token: &str) -> i64 {
    let r = app
        .get(token, &format!("/api/v1/households?region={GRID}&limit=1"))
        .await;
    r.status(200);
    let household = r.json()["items"][0]["id"]
        .as_i64()
        .expect("a household in the grid");
    for (name, birth, seq) in [("王大爷", "19400105", 11), ("李奶奶", "19550720", 12)] {
        app.post(
            token,
            "/api/v1/residents",
            &json!({"household_id": household, "name": name, "id_number": id_number(birth, seq),
                    "relation": "其他", "tags": ["独居"]}),
        )
        .await
        .status(201);
    }
    household
}

async fn upload_png(app: &App, token: &str) -> String {
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../photo/tests/fixtures/text_exif.png"
    ))
    .expect("fixture");
    let r = app
        .with(
            "POST /api/v1/photos",
            app.client()
                .post(app.url("/api/v1/photos"))
                .bearer_auth(token)
                .body(png),
        )
        .await;
    r.status(201);
    r.json()["photo"].as_str().expect("photo").to_string()
}

fn ids(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn key_elderly_are_enrolled_visited_and_counted() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let wangge = app.token("wangge").await;
        // The demo's leader works for another street: the figures are read as root.
        let leader = app.token("leader").await;
        let root = app.token("root").await;
        let jumin = app.token("jumin").await;

        elderly_in_grid(&app, &shegong).await;

        // The built-in rules until the community sets its own.
        let rules = app
            .get(&shegong, &format!("/api/v1/care/visit-rules?region={COMMUNITY}"))
            .await;
        rules.status(200);
        let rules = rules.json();
        assert_eq!((rules["scope"].clone(), rules["own"].clone()), (Value::Null, json!(false)));
        assert_eq!(rules["rules"][0]["tags"], json!(["living_alone", "age80"]));
        assert_eq!(rules["rules"][0]["label"], "80岁以上 + 独居");
        app.get(&jumin, &format!("/api/v1/care/visit-rules?region={COMMUNITY}"))
            .await
            .error(403, "forbidden", None);

        // Setting rules: not for a grid, not bad ones, not outside one's area.
        let own = json!({"rules": [{"tags": ["独居", "60+"], "interval_days": 3}, {"tags": ["empty_nest", "age60"], "interval_days": 30}]});
        app.put(&shegong, &format!("/api/v1/care/visit-rules?region={GRID}"), &own)
            .await
            .error(400, "care_rules_below_community", Some("region"));
        let bad = json!({"rules": [{"tags": ["living_alone"], "interval_days": 400}]});
        let e = app
            .put(&shegong, &format!("/api/v1/care/visit-rules?region={COMMUNITY}"), &bad)
            .await
            .error(400, "care_bad_visit_rule", Some("rules"));
        assert!(e["message"].as_str().expect("message").contains("第 1 条"), "{e}");
        app.put(&wangge, &format!("/api/v1/care/visit-rules?region={COMMUNITY}"), &own)
            .await
            .status(403);
        let set = app
            .put(&shegong, &format!("/api/v1/care/visit-rules?region={COMMUNITY}"), &own)
            .await;
        set.status(200);
        let set = set.json();
        assert_eq!((set["scope"].clone(), set["own"].clone()), (json!(COMMUNITY), json!(true)));
        assert_eq!(set["rules"][0]["tags"], json!(["独居", "60+"]), "kept as written");
        assert_eq!(set["rules"][0]["label"], "60岁以上 + 独居");
        assert_eq!(set["updated_by"], "shegong");
        let grid_rules = app
            .get(&wangge, &format!("/api/v1/care/visit-rules?region={GRID}"))
            .await
            .json();
        assert_eq!((grid_rules["scope"].clone(), grid_rules["own"].clone()), (json!(COMMUNITY), json!(false)));

        // Candidates: the community's people the rules pick; a street is refused.
        let candidates = app
            .get(&shegong, &format!("/api/v1/care/candidates?region={COMMUNITY}&limit=200"))
            .await;
        candidates.status(200);
        let candidates = candidates.json();
        let total = candidates["total"].as_i64().expect("total");
        assert!(total > 0, "{candidates}");
        let first = &candidates["items"][0];
        assert!([3, 30].contains(&first["interval_days"].as_i64().expect("interval")));
        app.get(&root, &format!("/api/v1/care/candidates?region={STREET}"))
            .await
            .error(400, "care_region_not_community", Some("region"));

        // One by the community worker; the grid worker's grid in one go.
        let resident = first["resident_id"].as_i64().expect("resident");
        app.post(&shegong, "/api/v1/care/enrolments", &json!({"resident_id": resident, "interval_days": 0}))
            .await
            .error(400, "care_bad_interval", Some("interval_days"));
        app.post(&leader, "/api/v1/care/enrolments", &json!({"resident_id": resident}))
            .await
            .error(403, "forbidden", None);
        let one = app
            .post(&shegong, "/api/v1/care/enrolments", &json!({"resident_id": resident}))
            .await;
        one.status(201);
        let one = one.json();
        assert_eq!(one["interval_days"], first["interval_days"]);
        assert_eq!(one["rule"], first["rule"]);
        assert_eq!(one["overdue"], false);
        let enrolment = one["id"].as_i64().expect("id");
        app.post(&shegong, "/api/v1/care/enrolments", &json!({"resident_id": resident}))
            .await
            .error(409, "care_already_enrolled", Some("resident_id"));
        let in_grid = app
            .get(&wangge, &format!("/api/v1/care/candidates?region={GRID}&limit=200"))
            .await
            .json()["total"]
            .as_i64()
            .expect("total");
        let bulk = app
            .post(&wangge, "/api/v1/care/enrolments/bulk", &json!({"region": GRID}))
            .await;
        bulk.status(200);
        assert_eq!(bulk.json()["enrolled"].as_i64(), Some(in_grid));
        let listed = app
            .get(&shegong, &format!("/api/v1/care/enrolments?region={COMMUNITY}&limit=200"))
            .await
            .json();
        let enrolled = listed["total"].as_i64().expect("total");
        assert!(enrolled >= 1 && enrolled <= total, "{enrolled} of {total}");
        app.get(&shegong, "/api/v1/care/enrolments?due=soon")
            .await
            .error(400, "care_bad_due", Some("due"));
        let week = app.get(&shegong, "/api/v1/care/enrolments?due=week&limit=200").await.json();
        let weekly = listed["items"].as_array().expect("items").iter().filter(|e| e["interval_days"] == 3).count();
        assert_eq!(week["total"].as_i64(), Some(weekly as i64));

        // A visit from the phone, with a photo and a concern; bad ones change nothing.
        let photo = upload_png(&app, &wangge).await;
        let visits_url = format!("/api/v1/care/enrolments/{enrolment}/visits");
        for (body, code, field) in [
            (json!({"mode": "letter"}), "care_bad_visit_mode", "mode"),
            (json!({"mode": "home", "concerns": ["lonely"]}), "care_bad_concern", "concerns"),
            (json!({"mode": "home", "visited_at": "yesterday"}), "care_bad_time", "visited_at"),
            (json!({"mode": "home", "visited_at": "2099-01-01T08:00:00+08:00"}), "care_visit_in_future", "visited_at"),
            (json!({"mode": "home", "photos": ["0000.png"]}), "unknown_photo", "photos"),
        ] {
            app.post(&wangge, &visits_url, &body).await.error(400, code, Some(field));
        }
        app.post(&leader, &visits_url, &json!({"mode": "home"})).await.error(403, "forbidden", None);
        let v = app
            .post(
                &wangge,
                &visits_url,
                &json!({"mode": "home", "note": "血压偏高，已提醒按时服药", "concerns": ["health"], "photos": [photo]}),
            )
            .await;
        v.status(201);
        let v = v.json();
        assert_eq!((v["on_time"].clone(), v["visitor"].clone(), v["mode_name"].clone()), (json!(true), json!("wangge"), json!("上门")));
        assert_eq!(v["concern_names"], json!(["健康"]));
        let photo_url = format!("{visits_url}/{}/photos/{photo}", v["id"]);
        let image = app.get(&root, &photo_url).await;
        image.status(200);
        assert_eq!(image.header("content-type"), Some("image/png"));
        app.get(&root, &format!("{visits_url}/{}/photos/{}.png", v["id"], "f".repeat(64)))
            .await
            .status(404);
        let history = app.get(&root, &visits_url).await.json();
        assert_eq!(ids(&history), vec![v["id"].as_i64().expect("id")]);
        let after = app.get(&shegong, &format!("/api/v1/care/enrolments/{enrolment}")).await.json();
        assert!(after["last_visit_at"].is_string());
        app.get(&jumin, &visits_url).await.status(403);
        app.get(&wangge, "/api/v1/care/enrolments/999999").await.status(404);

        // The plan by hand and back to the rules.
        let by_hand = app
            .send(reqwest::Method::PATCH, &format!("/api/v1/care/enrolments/{enrolment}"), Some(&shegong), Some(&json!({"interval_days": 10})))
            .await;
        by_hand.status(200);
        assert_eq!((by_hand.json()["interval_days"].clone(), by_hand.json()["rule"].clone()), (json!(10), Value::Null));
        let back = app
            .send(reqwest::Method::PATCH, &format!("/api/v1/care/enrolments/{enrolment}"), Some(&shegong), Some(&json!({"interval_days": null})))
            .await;
        back.status(200);
        assert_eq!(back.json()["interval_days"], first["interval_days"]);

        // A household's own alarm rules: a setting left out keeps its default.
        let household = one["household_id"].as_i64().expect("household");
        let rules_url = format!("/api/v1/care/households/{household}/rules");
        let r = app.get(&wangge, &rules_url).await.json();
        assert_eq!((r["custom"].clone(), r["rules"]["inactivity_default_min"].clone()), (json!(false), json!(720)));
        app.put(&shegong, &rules_url, &json!({"rules": {"night_exit_min": 1}}))
            .await
            .error(400, "care_bad_rule", Some("night_exit_min"));
        let r = app.put(&shegong, &rules_url, &json!({"rules": {"inactivity_default_min": 300}})).await;
        r.status(200);
        let r = r.json();
        assert_eq!((r["custom"].clone(), r["rules"]["inactivity_default_min"].clone(), r["rules"]["night_exit_min"].clone()), (json!(true), json!(300), json!(30)));
        let r = app.put(&shegong, &rules_url, &json!({"rules": null})).await.json();
        assert_eq!(r["custom"], false);
        app.put(&shegong, "/api/v1/care/households/999999/rules", &json!({"rules": null}))
            .await
            .error(400, "care_household_not_found", Some("household_id"));

        // The figures for the community, as leaders read them.
        let summary = app.get(&root, &format!("/api/v1/regions/{COMMUNITY}/summary")).await.json();
        let care = &summary["care"];
        assert_eq!(care["period_days"], 30);
        assert_eq!(care["enrolled"].as_i64(), Some(enrolled), "{summary}");
        assert_eq!((care["visits"].as_i64(), care["visits_on_time"].as_i64(), care["visits_overdue"].as_i64()), (Some(1), Some(1), Some(0)));

        // The end, with a reason; no more visits.
        let end_url = format!("/api/v1/care/enrolments/{enrolment}/end");
        app.post(&shegong, &end_url, &json!({"reason": "bored"}))
            .await
            .error(400, "care_bad_end_reason", Some("reason"));
        let ended = app.post(&shegong, &end_url, &json!({"reason": "declined"})).await;
        ended.status(200);
        assert_eq!(ended.json()["end_reason_name"], "本人拒绝");
        app.post(&wangge, &visits_url, &json!({"mode": "phone"}))
            .await
            .error(400, "care_enrolment_ended", Some("id"));

        let doc = app
            .send(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
            .await
            .json();
        for path in [
            "/api/v1/care/visit-rules",
            "/api/v1/care/candidates",
            "/api/v1/care/enrolments",
            "/api/v1/care/enrolments/{id}/visits",
            "/api/v1/care/households/{id}/rules",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} documented");
        }
        app
    })
    .await;
}
