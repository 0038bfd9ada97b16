//! Care over HTTP on both databases: a community worker registers a household's device and
//! gets its credential once; the device posts readings with Basic authentication; every
//! reading is stored once, or refused with its reason and counted, and the operator sees it.

mod common;

use std::time::{Duration, Instant};

use common::{on_each_backend, App};
use linli_care::testing::{publish, TestBroker};
use linli_store::testing::TestDb;
use serde_json::{json, Value};

const COMMUNITY: &str = "330102001051";

/// A household of `region` as `token` lists it.
async fn household_in(app: &App, token: &str, region: &str) -> Value {
    let r = app
        .get(
            token,
            &format!("/api/v1/households?region={region}&limit=50"),
        )
        .await;
    r.status(200);
    r.json()["items"][0].clone()
}

fn reading(kind: &str, value: Value, seq: i64) -> Value {
    json!({"ts": chrono::Utc::now().to_rfc3339(), "kind": kind, "value": value, "seq": seq})
}

/// POSTs readings as a device with Basic credentials.
async fn send(app: &App, id: &str, password: &str, body: &Value) -> common::Resp {
    let req = app
        .client()
        .post(app.url("/api/v1/care/readings"))
        .basic_auth(id, Some(password))
        .json(body);
    app.with(&format!("readings from {id}"), req).await
}

#[tokio::test]
async fn devices_send_readings_and_nothing_is_lost() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let root = app.token("root").await;
        let jumin = app.token("jumin").await;
        let mine = household_in(&app, &shegong, COMMUNITY).await;
        let household = mine["id"].as_i64().expect("household id");
        // A household of another community, outside the community worker's area.
        let district = app
            .get(&root, "/api/v1/households?region=330102&limit=200")
            .await
            .json();
        let elsewhere = district["items"]
            .as_array()
            .expect("households")
            .iter()
            .find(|h| h["community"] != COMMUNITY)
            .and_then(|h| h["id"].as_i64())
            .expect("a household elsewhere");

        // Registration.
        let body = json!({"device_id": "door-0001", "kind": "door", "household_id": household});
        let r = app.post(&shegong, "/api/v1/care/devices", &body).await;
        r.status(201);
        let made = r.json();
        let credential = made["credential"].as_str().expect("credential").to_string();
        assert_eq!(credential.len(), 64);
        assert_eq!(made["mqtt"]["username"], "door-0001");
        assert_eq!(made["mqtt"]["password"], credential.as_str());
        assert_eq!(made["mqtt"]["topic"], "linli/v1/devices/door-0001/events");
        assert_eq!(
            made["mqtt"]["account"], "no_broker",
            "this linli has no broker"
        );
        assert_eq!(made["device"]["community"], COMMUNITY);
        assert_eq!(made["device"]["kind_name"], "门磁");
        app.post(&jumin, "/api/v1/care/devices", &body)
            .await
            .error(403, "forbidden", None);
        app.post(&shegong, "/api/v1/care/devices", &body)
            .await
            .error(409, "care_device_taken", Some("device_id"));
        let outside = json!({"device_id": "door-0002", "kind": "door", "household_id": elsewhere});
        app.post(&shegong, "/api/v1/care/devices", &outside)
            .await
            .error(400, "care_household_not_found", Some("household_id"));
        let bad_kind =
            json!({"device_id": "door-0003", "kind": "window", "household_id": household});
        app.post(&shegong, "/api/v1/care/devices", &bad_kind)
            .await
            .error(400, "care_unknown_device_kind", Some("kind"));
        let listed = app
            .get(
                &shegong,
                &format!("/api/v1/care/devices?region={COMMUNITY}"),
            )
            .await;
        listed.status(200);
        assert_eq!(listed.json()["total"], 1, "only the device registered");

        // Readings: one, then a batch with a reading sent again and two refused.
        let r = send(
            &app,
            "door-0001",
            &credential,
            &reading("door", json!("open"), 1),
        )
        .await;
        r.status(200);
        assert_eq!(
            r.json(),
            json!({"stored": 1, "duplicates": 0, "refused": []})
        );
        let batch = json!([
            reading("door", json!("closed"), 2),
            reading("door", json!("open"), 1),
            reading("battery", json!(71), 3),
            reading("gas", json!(true), 4),
            {"ts": "1999-01-01T00:00:00Z", "kind": "door", "value": "open", "seq": 5},
        ]);
        let r = send(&app, "door-0001", &credential, &batch).await;
        r.status(200);
        let done = r.json();
        assert_eq!(
            (done["stored"].as_u64(), done["duplicates"].as_u64()),
            (Some(2), Some(1))
        );
        let refused: Vec<(u64, &str)> = done["refused"]
            .as_array()
            .expect("refused")
            .iter()
            .map(|x| {
                (
                    x["index"].as_u64().unwrap_or(99),
                    x["code"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            refused,
            vec![(3, "care_kind_not_sent"), (4, "care_past_time")]
        );
        assert!(done["refused"][1]["message"]
            .as_str()
            .unwrap_or("")
            .contains("时钟"));
        // Every reading refused: 422, each with its reason; a body that is not JSON too.
        let r = send(
            &app,
            "door-0001",
            &credential,
            &reading("door", json!("ajar"), 6),
        )
        .await;
        r.status(422);
        assert_eq!(r.json()["refused"][0]["code"], "care_bad_value");
        let req = app
            .client()
            .post(app.url("/api/v1/care/readings"))
            .basic_auth("door-0001", Some(&credential))
            .body("{not json");
        let r = app.with("not JSON", req).await;
        r.status(422);
        assert_eq!(r.json()["refused"][0]["code"], "care_malformed");
        // Too many at once: refused whole, and counted.
        let many: Vec<Value> = (0..1001)
            .map(|i| reading("door", json!("open"), 100 + i))
            .collect();
        send(&app, "door-0001", &credential, &Value::Array(many))
            .await
            .error(413, "care_batch_too_large", None);

        // Who may send: a wrong credential, an unknown device, no credentials at all.
        let r = send(
            &app,
            "door-0001",
            "wrong",
            &reading("door", json!("open"), 7),
        )
        .await;
        r.error(401, "care_wrong_credential", None);
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic")));
        send(
            &app,
            "nobody-9",
            &credential,
            &reading("door", json!("open"), 1),
        )
        .await
        .error(401, "care_unknown_device", None);
        let req = app
            .client()
            .post(app.url("/api/v1/care/readings"))
            .json(&reading("door", json!("open"), 8));
        app.with("no credentials", req)
            .await
            .error(401, "care_no_credentials", None);

        // Nothing lost: what the device sent is stored, a duplicate, or refused and counted.
        let listed = app
            .get(
                &shegong,
                &format!("/api/v1/care/devices?region={COMMUNITY}"),
            )
            .await;
        let d = listed.json()["items"][0].clone();
        assert_eq!(d["readings"], 3);
        assert_eq!(d["duplicates"], 1);
        assert_eq!(d["refused"], 4, "gas, 1999, ajar, not JSON");
        assert_eq!(d["battery"], 71.0);
        assert!(d["last_seen_at"].is_string());

        let r = app
            .get(
                &shegong,
                &format!("/api/v1/care/refusals?region={COMMUNITY}"),
            )
            .await;
        r.status(200);
        let mut reasons: Vec<(String, i64)> = r.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|x| {
                (
                    x["reason"].as_str().unwrap_or("").to_string(),
                    x["count"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        reasons.sort();
        let expected: Vec<(String, i64)> = [
            ("care_bad_value", 1),
            ("care_batch_too_large", 1),
            ("care_kind_not_sent", 1),
            ("care_malformed", 1),
            ("care_past_time", 1),
            ("care_wrong_credential", 1),
        ]
        .iter()
        .map(|(r, n)| (r.to_string(), *n))
        .collect();
        assert_eq!(reasons, expected);
        // The unknown id belongs to no area: the administrator sees it, the worker does not.
        let strangers = app.get(&root, "/api/v1/care/refusals").await;
        strangers.status(200);
        assert_eq!(strangers.json()["items"][0]["device_id"], "nobody-9");
        let theirs = app.get(&shegong, "/api/v1/care/refusals").await.json();
        assert!(theirs["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|x| x["device_id"] == "door-0001"));

        // The OpenAPI document describes all of it.
        let doc = app.get(&root, "/api/v1/openapi.json").await.json();
        for (path, method) in [
            ("/api/v1/care/devices", "post"),
            ("/api/v1/care/devices", "get"),
            ("/api/v1/care/readings", "post"),
            ("/api/v1/care/refusals", "get"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        app
    })
    .await;
}

/// Waits until `path` (as `token`) answers JSON for which `done` holds, for at most 30 s.
async fn wait_for(app: &App, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let v = app.get(token, path).await.json();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < until, "waited 30 s on {path}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_device_registered_over_the_api_publishes_through_the_broker() {
    let Some(broker) = TestBroker::start() else {
        return;
    };
    for db in TestDb::both().await {
        let mut config = linli_care::BrokerConfig::from_url(&broker.admin_url(), "linli-api-test")
            .expect("broker URL");
        config.provision = linli_care::Provision::Dynsec;
        let app = App::start_with(
            db,
            linli_server::Config {
                mqtt: Some(config),
                ..Default::default()
            },
        )
        .await;
        let shegong = app.token("shegong").await;
        let household = household_in(&app, &shegong, COMMUNITY).await["id"]
            .as_i64()
            .expect("household id");
        wait_for(&app, &shegong, "/api/v1/care/broker", |v| {
            v["subscribed"] == true
        })
        .await;

        // Registered over the API, the device has its account on the broker at once.
        let body = json!({"device_id": "sos-0001", "kind": "sos", "household_id": household});
        let made = app.post(&shegong, "/api/v1/care/devices", &body).await;
        made.status(201);
        let made = made.json();
        assert_eq!(made["mqtt"]["account"], "provisioned", "{made}");
        let first = made["credential"].as_str().expect("credential").to_string();
        let topic = made["mqtt"]["topic"].as_str().expect("topic").to_string();
        let press = |seq: i64| vec![reading("sos", json!(true), seq).to_string()];
        publish(broker.port, "sos-0001", &first, &topic, press(1))
            .await
            .expect("the device publishes with its credential");
        let listed = wait_for(&app, &shegong, "/api/v1/care/devices", |v| {
            v["items"][0]["readings"] == 1
        })
        .await;
        assert_eq!(listed["items"][0]["device_id"], "sos-0001");
        // The press raised a critical alarm in the transaction that stored it.
        let alarms = app
            .get(&shegong, "/api/v1/care/alarms?state=open")
            .await
            .json();
        assert_eq!(alarms["total"], 1, "{alarms}");
        assert_eq!(alarms["items"][0]["kind"], "sos");
        assert_eq!(alarms["items"][0]["severity"], "critical");
        let status = app.get(&shegong, "/api/v1/care/broker").await.json();
        assert_eq!(status["connected"], true);
        assert_eq!(status["provisions_accounts"], true);
        assert!(status["stored"].as_u64() >= Some(1), "{status}");
        assert!(
            !status["url"]
                .as_str()
                .unwrap_or_default()
                .contains("admin-pass"),
            "{status}"
        );

        // A new credential: the old one stops working on the broker too.
        let reset = app
            .post(
                &shegong,
                "/api/v1/care/devices/sos-0001/credential",
                &json!({}),
            )
            .await;
        reset.status(200);
        let reset = reset.json();
        assert_eq!(reset["mqtt"]["account"], "provisioned");
        let second = reset["credential"]
            .as_str()
            .expect("credential")
            .to_string();
        assert_ne!(first, second);
        publish(broker.port, "sos-0001", &first, &topic, press(2))
            .await
            .expect_err("the old credential");
        publish(broker.port, "sos-0001", &second, &topic, press(2))
            .await
            .expect("the new credential");
        wait_for(&app, &shegong, "/api/v1/care/devices", |v| {
            v["items"][0]["readings"] == 2
        })
        .await;
        app.post(
            &shegong,
            "/api/v1/care/devices/nobody-1/credential",
            &json!({}),
        )
        .await
        .error(400, "care_unknown_device", Some("device_id"));

        // The calls a broker like EMQX makes to ask linli about devices.
        for (user, password, expected) in [
            ("sos-0001", second.as_str(), "allow"),
            ("sos-0001", first.as_str(), "deny"),
            ("linli-admin", "whatever", "ignore"),
        ] {
            let v = app
                .send(
                    reqwest::Method::POST,
                    "/api/v1/care/broker/authenticate",
                    None,
                    Some(&json!({"username": user, "password": password, "clientid": "c1"})),
                )
                .await
                .json();
            assert_eq!(v["result"], expected, "{user}");
            assert_eq!(v["is_superuser"], false);
        }
        for (user, topic, action, expected) in [
            (
                "sos-0001",
                "linli/v1/devices/sos-0001/events",
                "publish",
                "allow",
            ),
            (
                "sos-0001",
                "linli/v1/devices/door-9/events",
                "publish",
                "deny",
            ),
            (
                "sos-0001",
                "linli/v1/devices/sos-0001/events",
                "subscribe",
                "deny",
            ),
            (
                "linli-admin",
                "$share/linli/linli/v1/devices/+/events",
                "subscribe",
                "ignore",
            ),
        ] {
            let v = app
                .send(
                    reqwest::Method::POST,
                    "/api/v1/care/broker/authorize",
                    None,
                    Some(&json!({"username": user, "topic": topic, "action": action})),
                )
                .await
                .json();
            assert_eq!(v["result"], expected, "{user} {action} {topic}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn readings_over_http_raise_alarms_that_the_area_lists() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let jumin = app.token("jumin").await;
        let household = household_in(&app, &shegong, COMMUNITY).await["id"]
            .as_i64()
            .expect("household id");
        let body = json!({"device_id": "smoke-0001", "kind": "smoke", "household_id": household});
        let made = app.post(&shegong, "/api/v1/care/devices", &body).await;
        made.status(201);
        let credential = made.json()["credential"]
            .as_str()
            .expect("credential")
            .to_string();
        let empty = app.get(&shegong, "/api/v1/care/alarms").await;
        empty.status(200);
        assert_eq!(empty.json()["total"], 0);

        // Smoke, then clear: one critical alarm whose condition has ended, still open for
        // a person to close.
        let r = send(
            &app,
            "smoke-0001",
            &credential,
            &json!([
                reading("smoke", json!(true), 1),
                reading("smoke", json!(false), 2)
            ]),
        )
        .await;
        r.status(200);
        let open = app
            .get(&shegong, "/api/v1/care/alarms?state=open")
            .await
            .json();
        assert_eq!(open["total"], 1, "{open}");
        let a = &open["items"][0];
        assert_eq!(
            (a["kind"].as_str(), a["severity"].as_str()),
            (Some("smoke"), Some("critical"))
        );
        assert_eq!(a["kind_name"], "烟雾报警");
        assert_eq!(a["community"], COMMUNITY);
        assert!(a["cleared_at"].is_string(), "{a}");
        let resolved = app
            .get(&shegong, "/api/v1/care/alarms?state=resolved")
            .await
            .json();
        assert_eq!(resolved["total"], 0);

        // A state that is not one, a resident, a region outside the area.
        app.get(&shegong, "/api/v1/care/alarms?state=closed")
            .await
            .error(400, "care_bad_alarm_state", Some("state"));
        app.get(&jumin, "/api/v1/care/alarms")
            .await
            .error(403, "forbidden", None);
        app.get(&shegong, "/api/v1/care/alarms?region=330105")
            .await
            .error(403, "no_access", None);
        app
    })
    .await;
}

/// The grid worker's grid, inside the community worker's community.
const GRID: &str = "330102001051001";

/// Registers device `id` of `kind` (as the community worker) in a household of the grid
/// worker's grid; returns its credential.
async fn device_in_grid(app: &App, shegong: &str, wangge: &str, id: &str, kind: &str) -> String {
    let household = household_in(app, wangge, GRID).await["id"]
        .as_i64()
        .expect("a household in the grid");
    let body = json!({"device_id": id, "kind": kind, "household_id": household});
    let made = app.post(shegong, "/api/v1/care/devices", &body).await;
    made.status(201);
    made.json()["credential"]
        .as_str()
        .expect("credential")
        .to_string()
}

/// Event `id` as `token` reads it.
async fn event_of(app: &App, token: &str, id: i64) -> Value {
    let r = app.get(token, &format!("/api/v1/events/{id}")).await;
    r.status(200);
    r.json()["event"].clone()
}

#[tokio::test]
async fn an_alarm_becomes_the_grid_worker_s_event_and_is_acknowledged_resolved_or_escalated() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let wangge = app.token("wangge").await;
        let credential = device_in_grid(&app, &shegong, &wangge, "smoke-0002", "smoke").await;
        send(
            &app,
            "smoke-0002",
            &credential,
            &reading("smoke", json!(true), 1),
        )
        .await
        .status(200);

        // The alarm becomes an event in the grid's inbox (the timer does this under `serve`).
        assert_eq!(
            app.store.dispatch_care_alarms(10).await.expect("dispatch"),
            1
        );
        assert_eq!(
            app.store.dispatch_care_alarms(10).await.expect("dispatch"),
            0,
            "once"
        );
        let alarm = app.get(&wangge, "/api/v1/care/alarms").await.json()["items"][0].clone();
        let id = alarm["id"].as_i64().expect("alarm id");
        let event_id = alarm["event_id"].as_i64().expect("its event");
        let event = event_of(&app, &wangge, event_id).await;
        assert_eq!(event["category"], "elderly.alarm");
        assert_eq!(event["source"], "sensor");
        assert_eq!(event["state"], "pending");
        assert_eq!(event["unit"]["region"], GRID, "{event}");

        // The community worker is not the handler; the grid worker acknowledges, once.
        let r = app
            .post(
                &shegong,
                &format!("/api/v1/care/alarms/{id}/acknowledge"),
                &json!({}),
            )
            .await;
        assert_eq!(
            r.json()["error"]["code"],
            "event_not_handler",
            "{}",
            r.json()
        );
        let acked = app
            .post(
                &wangge,
                &format!("/api/v1/care/alarms/{id}/acknowledge"),
                &json!({}),
            )
            .await;
        acked.status(200);
        assert_eq!(acked.json()["state"], "acknowledged");
        assert_eq!(acked.json()["acknowledged_by"], "wangge");
        app.post(
            &wangge,
            &format!("/api/v1/care/alarms/{id}/acknowledge"),
            &json!({}),
        )
        .await
        .error(409, "care_alarm_not_open", None);
        let event = event_of(&app, &wangge, event_id).await;
        assert_eq!(event["state"], "handling");

        // Resolved with an outcome: the event is reported back for the community to verify.
        app.post(
            &wangge,
            &format!("/api/v1/care/alarms/{id}/resolve"),
            &json!({"outcome": "fine"}),
        )
        .await
        .error(400, "care_bad_outcome", Some("outcome"));
        let done = app
            .post(
                &wangge,
                &format!("/api/v1/care/alarms/{id}/resolve"),
                &json!({"outcome": "visited_fine", "note": "烧水壶干烧，已关火"}),
            )
            .await;
        done.status(200);
        assert_eq!(done.json()["state"], "resolved");
        assert_eq!(done.json()["outcome_name"], "已上门，平安");
        let event = event_of(&app, &wangge, event_id).await;
        assert_eq!(event["state"], "verifying");
        app.post(
            &wangge,
            "/api/v1/care/alarms/999999/resolve",
            &json!({"outcome": "false_alarm"}),
        )
        .await
        .error(404, "not_found", None);

        // Smoke again: the rule raises anew; nobody acknowledges it within 15 minutes, so
        // its event goes up to the community.
        send(
            &app,
            "smoke-0002",
            &credential,
            &reading("smoke", json!(true), 2),
        )
        .await
        .status(200);
        assert_eq!(
            app.store.dispatch_care_alarms(10).await.expect("dispatch"),
            1
        );
        let later = linli_store::now_ms() + 16 * 60_000;
        assert_eq!(
            app.store
                .escalate_unacknowledged(later)
                .await
                .expect("escalate"),
            1
        );
        assert_eq!(
            app.store
                .escalate_unacknowledged(later)
                .await
                .expect("escalate"),
            0,
            "once"
        );
        let second = app
            .get(&shegong, "/api/v1/care/alarms?state=open")
            .await
            .json()["items"][0]
            .clone();
        let event = event_of(
            &app,
            &shegong,
            second["event_id"].as_i64().expect("its event"),
        )
        .await;
        assert_eq!(event["unit"]["region"], COMMUNITY, "{event}");
        assert_eq!(event["state"], "pending");

        // The leaders' figures: two smoke alarms, one resolved as visited and fine, one
        // escalated and open; one acknowledged, within a minute.
        let root = app.token("root").await;
        let summary = app
            .get(&root, &format!("/api/v1/regions/{COMMUNITY}/summary"))
            .await
            .json();
        let care = &summary["care"];
        assert_eq!(care["alarms_by_kind"], json!({"smoke": 2}), "{summary}");
        assert_eq!(care["alarms_by_outcome"], json!({"visited_fine": 1}));
        assert_eq!(
            (
                care["alarms_unresolved"].as_i64(),
                care["alarms_escalated"].as_i64()
            ),
            (Some(1), Some(1))
        );
        assert_eq!(care["acknowledged"], 1);
        let p50 = care["acknowledge_p50_min"].as_f64().expect("a median");
        assert!((0.0..1.0).contains(&p50), "{p50}");
        assert_eq!(
            (care["devices"].as_i64(), care["devices_online"].as_i64()),
            (Some(1), Some(1))
        );
        app
    })
    .await;
}

/// Reads a server-sent-event stream until its text holds `wanted`, for at most `secs`;
/// returns what it read.
async fn read_until(resp: &mut reqwest::Response, wanted: &[&str], secs: u64) -> String {
    let mut text = String::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !wanted.iter().all(|w| text.contains(w)) {
        match tokio::time::timeout_at(until, resp.chunk()).await {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            _ => break,
        }
    }
    text
}

#[tokio::test]
async fn the_alarm_console_streams_what_happens_in_its_area_only() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let wangge = app.token("wangge").await;
        let root = app.token("root").await;
        let credential = device_in_grid(&app, &shegong, &wangge, "sos-0009", "sos").await;

        let open = |token: String, query: &'static str| {
            let req = app
                .client()
                .get(app.url(&format!("/api/v1/care/alarms/stream{query}")))
                .bearer_auth(token);
            async move { req.send().await.expect("the stream opens") }
        };
        let mut mine = open(shegong.clone(), "").await;
        assert_eq!(mine.status(), 200);
        assert!(mine
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream")));
        let mut elsewhere = open(root.clone(), "?region=330105").await;
        assert_eq!(elsewhere.status(), 200);

        // A press: the community's console shows it at once, as an alarm in its own words.
        send(
            &app,
            "sos-0009",
            &credential,
            &reading("sos", json!(true), 1),
        )
        .await
        .status(200);
        let text = read_until(&mut mine, &["event: alarm", "\"kind\":\"sos\""], 10).await;
        assert!(text.contains("\"state\":\"open\""), "{text}");
        assert!(text.contains("\"kind_name\":\"一键呼叫\""), "{text}");

        // Acknowledged by the grid worker: the console shows the change.
        app.store.dispatch_care_alarms(10).await.expect("dispatch");
        let id = app.get(&wangge, "/api/v1/care/alarms").await.json()["items"][0]["id"]
            .as_i64()
            .expect("alarm id");
        app.post(
            &wangge,
            &format!("/api/v1/care/alarms/{id}/acknowledge"),
            &json!({}),
        )
        .await
        .status(200);
        let text = read_until(&mut mine, &["\"state\":\"acknowledged\""], 10).await;
        assert!(text.contains("\"acknowledged_by\":\"wangge\""), "{text}");

        // Another district's console saw none of it.
        let other = read_until(&mut elsewhere, &["event: alarm"], 1).await;
        assert!(!other.contains("event: alarm"), "{other}");
        // And a resident has no console.
        let jumin = app.token("jumin").await;
        let refused = open(jumin, "").await;
        assert_eq!(refused.status(), 403);
        app
    })
    .await;
}

#[tokio::test]
async fn the_broker_hooks_want_the_shared_secret_when_one_is_set() {
    for db in TestDb::both().await {
        let app = App::start_with(
            db,
            linli_server::Config {
                broker_hook_secret: Some("hook-secret-1".into()),
                ..Default::default()
            },
        )
        .await;
        let body =
            json!({"username": "sos-0001", "password": "x", "topic": "t", "action": "publish"});
        for path in [
            "/api/v1/care/broker/authenticate",
            "/api/v1/care/broker/authorize",
        ] {
            for secret in [None, Some("wrong")] {
                let mut req = app.client().post(app.url(path)).json(&body);
                if let Some(s) = secret {
                    req = req.header("x-linli-hook-secret", s);
                }
                let e = app
                    .with(&format!("{path} with {secret:?}"), req)
                    .await
                    .error(401, "care_hook_secret", None);
                assert!(e["message"]
                    .as_str()
                    .expect("message")
                    .contains("x-linli-hook-secret"));
            }
            let req = app
                .client()
                .post(app.url(path))
                .header("x-linli-hook-secret", "hook-secret-1")
                .json(&body);
            let v = app.with(path, req).await;
            v.status(200);
            assert_eq!(v.json()["result"], "ignore", "not a registered device");
        }
        app.stop().await;
    }
}
