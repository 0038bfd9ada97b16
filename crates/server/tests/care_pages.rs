//! The care pages over HTTP against the demo district, on both databases, signed in as a
//! browser is (cookie session, CSRF token in every form): who may open them, registering a
//! device with its credential shown once, the console listing an alarm from an SOS press
//! with its event, acknowledging and resolving it from the page (as the script does, and as
//! a plain form does), refusals that say why, and the devices page's counts.
//!
//! Demo accounts: jumin (resident), wangge (grid 330102001051001), shegong (community
//! 330102001051), chengguan (clerk), leader (湖滨街道 330102003).

mod common;

use common::{on_each_backend, App, Resp};
use serde_json::{json, Value};

const GRID: &str = "330102001051001";

async fn post_form(
    app: &App,
    browser: &reqwest::Client,
    path: &str,
    pairs: &[(&str, &str)],
    script: bool,
) -> Resp {
    let mut req = browser.post(app.url(path)).form(pairs);
    if script {
        req = req.header("x-linli-fragment", "1");
    }
    app.with(&format!("POST {path}"), req).await
}

/// The CSRF token of a signed-in browser, from a page's meta tag.
async fn csrf(app: &App, browser: &reqwest::Client) -> String {
    let p = app.page(browser, "/care").await;
    p.status(200);
    p.meta_csrf()
}

fn location(r: &Resp) -> String {
    r.header("location").unwrap_or("").to_string()
}

/// A household of the grid worker's grid.
async fn household_in_grid(app: &App, token: &str) -> i64 {
    let r = app
        .get(token, &format!("/api/v1/households?region={GRID}&limit=5"))
        .await;
    r.status(200);
    r.json()["items"][0]["id"]
        .as_i64()
        .expect("a household in the grid")
}

/// The credential a devices page shows.
fn credential_on(page: &Resp) -> String {
    common::between(&page.text, "id=\"credential-value\">", "</code>")
        .unwrap_or_else(|| panic!("{}: no credential shown", page.what))
}

/// POSTs one SOS press as device `id`.
async fn press(app: &App, id: &str, credential: &str, seq: i64) -> Resp {
    let body =
        json!({"ts": chrono::Utc::now().to_rfc3339(), "kind": "sos", "value": true, "seq": seq});
    let req = app
        .client()
        .post(app.url("/api/v1/care/readings"))
        .basic_auth(id, Some(credential))
        .json(&body);
    app.with(&format!("readings from {id}"), req).await
}

#[tokio::test]
async fn the_care_pages_answer_the_right_people() {
    on_each_backend(|app| async move {
        let (jumin, _) = app.browser_sign_in("jumin").await;
        let r = app.page(&jumin, "/care").await;
        r.status(303);
        assert_eq!(location(&r), "/m/events", "a resident has the phone pages");
        let (clerk, _) = app.browser_sign_in("chengguan").await;
        app.page(&clerk, "/care").await.status(403);
        app.page(&clerk, "/care/devices").await.status(403);
        let regions = app.page(&clerk, "/regions").await;
        assert!(
            !regions.text.contains("id=\"nav-care\""),
            "no link for a clerk"
        );

        let (wangge, _) = app.browser_sign_in("wangge").await;
        let console = app.page(&wangge, "/care").await;
        console.status(200);
        assert!(
            console.text.contains("id=\"nav-care\""),
            "the navigation links to 关爱"
        );
        assert!(
            console.text.contains("当前没有待处置的告警"),
            "the empty state"
        );
        assert!(console.text.contains("data-live=\"on\""));
        assert!(console.text.contains("/static/care.js"));
        let resolved = app.page(&wangge, "/care?tab=resolved").await;
        resolved.status(200);
        assert!(resolved.text.contains("还没有已处置的告警"));
        assert!(
            resolved.text.contains("data-live=\"off\""),
            "only the work to do is live"
        );
        let devices = app.page(&wangge, "/care/devices").await;
        devices.status(200);
        assert!(devices.text.contains("id=\"devices-empty\""));
        assert!(
            devices.text.contains("id=\"broker-none\""),
            "no broker: HTTP only"
        );
        assert!(devices.text.contains("id=\"register-form\""));
        // English for those who ask for it.
        let en = app
            .with(
                "GET /care in English",
                wangge.get(app.url("/care")).header("accept-language", "en"),
            )
            .await;
        en.status(200);
        assert!(en.text.contains("Alarm console") && en.text.contains("No open alarms."));
        let en = app
            .with(
                "GET /care/devices in English",
                wangge
                    .get(app.url("/care/devices"))
                    .header("accept-language", "en"),
            )
            .await;
        assert!(en.text.contains("Register a device"));
        // A region outside the area is refused before anything is read.
        app.page(&wangge, "/care?tab=active&region=330105")
            .await
            .status(403);
        // Signed out: to the sign-in page.
        let anon = common::browser();
        let r = app.page(&anon, "/care").await;
        r.status(303);
        assert!(
            location(&r).starts_with("/login?next=%2Fcare"),
            "{}",
            location(&r)
        );
        let js = app.page(&anon, "/static/care.js").await;
        js.status(200);
        // Served with its content's tag: a browser holding it gets 304.
        let etag = js.header("etag").expect("an ETag").to_string();
        let again = app
            .with(
                "GET /static/care.js again",
                anon.get(app.url("/static/care.js"))
                    .header("if-none-match", &etag),
            )
            .await;
        again.status(304);
        app
    })
    .await;
}

#[tokio::test]
async fn an_sos_press_is_acknowledged_and_resolved_from_the_console() {
    on_each_backend(|app| async move {
        let wangge_t = app.token("wangge").await;
        let household = household_in_grid(&app, &wangge_t).await;
        let (shegong, _) = app.browser_sign_in("shegong").await;
        let shegong_csrf = csrf(&app, &shegong).await;

        // Registering through the page shows the credential, once.
        let h = household.to_string();
        let made = post_form(
            &app,
            &shegong,
            "/care/devices",
            &[
                ("_csrf", &shegong_csrf),
                ("device_id", "sos-page-1"),
                ("kind", "sos"),
                ("household_id", &h),
            ],
            false,
        )
        .await;
        made.status(200);
        let credential = credential_on(&made);
        assert_eq!(credential.len(), 64, "{credential}");
        assert!(made.text.contains("data-account=\"no_broker\""));
        assert!(made.text.contains("id=\"copy-credential\""));
        let again = app.page(&shegong, "/care/devices").await;
        again.status(200);
        assert!(!again.text.contains(&credential), "shown once only");
        assert!(again.text.contains("data-device=\"sos-page-1\""));
        // Refusals beside the form, with what was typed.
        let taken = post_form(
            &app,
            &shegong,
            "/care/devices",
            &[
                ("_csrf", &shegong_csrf),
                ("device_id", "sos-page-1"),
                ("kind", "sos"),
                ("household_id", &h),
            ],
            false,
        )
        .await;
        taken.status(409);
        assert!(
            taken.text.contains("id=\"register-error\""),
            "{}",
            taken.text
        );
        assert!(taken.text.contains("已登记"));
        let bad = post_form(
            &app,
            &shegong,
            "/care/devices",
            &[
                ("_csrf", &shegong_csrf),
                ("device_id", "sos-page-2"),
                ("kind", "sos"),
                ("household_id", "abc"),
            ],
            false,
        )
        .await;
        bad.status(400);
        assert!(bad.text.contains("户编号应为数字"));
        assert!(
            bad.text.contains("value=\"sos-page-2\""),
            "what was typed stays"
        );
        post_form(
            &app,
            &shegong,
            "/care/devices",
            &[
                ("_csrf", "wrong"),
                ("device_id", "sos-page-3"),
                ("kind", "sos"),
                ("household_id", &h),
            ],
            false,
        )
        .await
        .status(403);

        // An SOS press becomes an alarm, then an event (the timer does this under `serve`).
        press(&app, "sos-page-1", &credential, 1).await.status(200);
        let (wangge, _) = app.browser_sign_in("wangge").await;
        let console = app.page(&wangge, "/care").await;
        console.status(200);
        assert!(console.text.contains("cp-sev-critical"), "a critical alarm");
        assert!(console.text.contains("正在生成事件"), "not an event yet");
        assert!(!console.text.contains("id=\"ack-"), "nothing to accept yet");
        app.store.dispatch_care_alarms(10).await.expect("dispatch");
        let alarms = app.get(&wangge_t, "/api/v1/care/alarms").await.json();
        let alarm: &Value = &alarms["items"][0];
        let id = alarm["id"].as_i64().expect("alarm id");
        let event_id = alarm["event_id"].as_i64().expect("its event");
        let console = app.page(&wangge, "/care").await;
        assert!(console.text.contains(&format!("id=\"alarm-{id}\"")));
        assert!(
            console
                .text
                .contains(&format!("href=\"/events/{event_id}\"")),
            "the event link"
        );
        assert!(console.text.contains("一键呼叫"), "the kind");
        assert!(
            console.text.contains(&format!("id=\"ack-{id}\"")),
            "acknowledge offered"
        );
        let rows = app.page(&wangge, "/care?partial=rows").await;
        rows.status(200);
        assert_eq!(rows.header("x-linli-total"), Some("1"));
        assert!(!rows.text.contains("<html"), "only the rows");

        // The community worker is not the handler: the script is told why, in Chinese.
        let refused = post_form(
            &app,
            &shegong,
            &format!("/care/alarms/{id}/acknowledge"),
            &[("_csrf", &shegong_csrf)],
            true,
        )
        .await;
        assert!(
            refused.text.len() > 4 && !refused.text.contains('<'),
            "a message: {}",
            refused.text
        );
        assert_eq!(refused.code / 100, 4, "{}", refused.text);
        // A wrong CSRF token is also told to the script in words, and changes nothing.
        let forged = post_form(
            &app,
            &shegong,
            &format!("/care/alarms/{id}/acknowledge"),
            &[("_csrf", "forged")],
            true,
        )
        .await;
        forged.status(403);
        assert!(!forged.text.contains('<'), "a message: {}", forged.text);

        // The grid worker acknowledges with a plain form, then resolves as the script does.
        let wangge_csrf = csrf(&app, &wangge).await;
        let acked = post_form(
            &app,
            &wangge,
            &format!("/care/alarms/{id}/acknowledge"),
            &[("_csrf", &wangge_csrf)],
            false,
        )
        .await;
        acked.status(303);
        assert_eq!(location(&acked), "/care?done=acknowledge");
        let shown = app.page(&wangge, "/care?done=acknowledge").await;
        assert!(shown.text.contains("已签收告警"));
        assert!(
            shown.text.contains(&format!("id=\"resolve-{id}\"")),
            "resolve offered"
        );
        let twice = post_form(
            &app,
            &wangge,
            &format!("/care/alarms/{id}/acknowledge"),
            &[("_csrf", &wangge_csrf)],
            true,
        )
        .await;
        twice.status(409);
        assert!(twice.text.contains("不能再签收"), "{}", twice.text);
        let bad_outcome = post_form(
            &app,
            &wangge,
            &format!("/care/alarms/{id}/resolve"),
            &[("_csrf", &wangge_csrf), ("outcome", "gone_fishing")],
            true,
        )
        .await;
        bad_outcome.status(400);
        let resolved = post_form(
            &app,
            &wangge,
            &format!("/care/alarms/{id}/resolve"),
            &[
                ("_csrf", &wangge_csrf),
                ("outcome", "visited_fine"),
                ("note", "老人误按"),
            ],
            true,
        )
        .await;
        resolved.status(200);
        assert!(
            resolved.text.starts_with("\n<li") || resolved.text.trim_start().starts_with("<li"),
            "the new row"
        );
        assert!(resolved.text.contains("data-state=\"resolved\""));
        assert!(resolved.text.contains("已上门，平安"));
        let event = app
            .get(&wangge_t, &format!("/api/v1/events/{event_id}"))
            .await;
        assert_eq!(event.json()["event"]["state"], "verifying", "reported back");
        let active = app.page(&wangge, "/care").await;
        assert!(
            !active.text.contains(&format!("id=\"alarm-{id}\"")),
            "no longer to do"
        );
        let done = app.page(&wangge, "/care?tab=resolved").await;
        assert!(
            done.text.contains(&format!("id=\"alarm-{id}\"")),
            "under 已处置"
        );

        // Someone outside the area sees no such alarm.
        let (leader, _) = app.browser_sign_in("leader").await;
        app.page(&leader, &format!("/care/alarms/{id}/row"))
            .await
            .status(404);
        let row = app.page(&wangge, &format!("/care/alarms/{id}/row")).await;
        row.status(200);

        // The devices page counts the press; a reset shows a new credential, the old stops.
        let devices = app.page(&shegong, "/care/devices").await;
        let line = common::between(&devices.text, "data-device=\"sos-page-1\"", "</tr>")
            .expect("the device's row");
        assert!(line.contains("data-count=\"readings\">1<"), "{line}");
        let reset = post_form(
            &app,
            &shegong,
            "/care/devices/sos-page-1/credential",
            &[("_csrf", &shegong_csrf)],
            false,
        )
        .await;
        reset.status(200);
        let fresh = credential_on(&reset);
        assert_ne!(fresh, credential);
        press(&app, "sos-page-1", &credential, 2).await.status(401);
        let devices = app.page(&shegong, "/care/devices").await;
        assert!(
            devices.text.contains("care_wrong_credential"),
            "the refusal is listed"
        );
        app
    })
    .await;
}
