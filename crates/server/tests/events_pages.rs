//! The event pages over HTTP against the demo district, on both databases, signed in as a
//! browser is (cookie session, CSRF token in every form): who may open which page, the
//! action forms offered exactly as the state machine allows, refusals that change nothing
//! and say why beside the form, CSRF, the report forms, the phone pages from report to
//! rating, and the language switch.
//!
//! Demo accounts: jumin (resident), wangge (grid 330102001051001), shegong (community
//! 330102001051), chengguan (clerk of 城管局 cgj), leader (湖滨街道 330102003).

mod common;

use common::{on_each_backend, App, Resp};
use linli_core::{Role, Scope};
use serde_json::{json, Value};

const GRID: &str = "330102001051001";
const COMMUNITY: &str = "330102001051";
/// A spot inside 上城区 by 清波门, where the test registers its own building.
const SPOT: [f64; 2] = [120.1640, 30.2420];

async fn building(app: &App, token: &str) -> i64 {
    let r = app
        .post(
            token,
            "/api/v1/buildings",
            &json!({"region": GRID, "name": "页面测试楼", "address": "清波街", "lon": SPOT[0], "lat": SPOT[1]}),
        )
        .await;
    r.status(201);
    r.json()["id"].as_i64().expect("building id")
}

async fn post_form(
    app: &App,
    browser: &reqwest::Client,
    path: &str,
    pairs: &[(&str, &str)],
) -> Resp {
    app.with(
        &format!("POST {path}"),
        browser.post(app.url(path)).form(pairs),
    )
    .await
}

/// The CSRF token of a signed-in browser, from a page's meta tag.
async fn csrf(app: &App, browser: &reqwest::Client) -> String {
    let p = app.page(browser, "/m/events").await;
    p.status(200);
    p.meta_csrf()
}

async fn state_of(app: &App, token: &str, id: i64) -> Value {
    let r = app.get(token, &format!("/api/v1/events/{id}")).await;
    r.status(200);
    r.json()["event"]["state"].clone()
}

/// Whether the page offers the form of `action`.
fn offers(page: &Resp, action: &str) -> bool {
    page.text.contains(&format!("id=\"act-{action}\""))
}

fn location(r: &Resp) -> String {
    r.header("location").unwrap_or("").to_string()
}

/// The event id in the address a report form sends its author to (`{page}{id}?filed=1`).
fn filed_id(to: &str, page: &str) -> i64 {
    to.strip_prefix(page)
        .and_then(|rest| rest.strip_suffix("?filed=1"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a filed report's page: {to}"))
}

#[tokio::test]
async fn pages_answer_the_right_people_and_offer_only_the_allowed_actions() {
    on_each_backend(|app| async move {
        let shegong_t = app.token("shegong").await;
        let jumin_t = app.token("jumin").await;
        let building_id = building(&app, &shegong_t).await;

        let (jumin, login) = app.browser_sign_in("jumin").await;
        // A resident lands on their own reports.
        assert_eq!(location(&login), "/regions");
        let home = app.page(&jumin, "/regions").await;
        home.status(303);
        assert_eq!(location(&home), "/m/events");
        let token = csrf(&app, &jumin).await;

        // The phone form files the report and goes to its page with the reference.
        let form = app.page(&jumin, "/m/report").await;
        form.status(200);
        assert!(
            form.text.contains("capture=\"environment\""),
            "the camera opens from the form"
        );
        assert!(
            form.text.contains("id=\"nav-my-reports\""),
            "residents see 我的上报"
        );
        assert!(!form.text.contains("id=\"nav-events\""));
        // A report without a place is refused beside the field, with the text kept.
        let bad = post_form(
            &app,
            &jumin,
            "/m/report",
            &[
                ("_csrf", &token),
                ("category", "env.garbage"),
                ("description", "楼下垃圾没清运"),
            ],
        )
        .await;
        bad.status(400);
        assert!(bad.text.contains("id=\"e-lon\""), "{}", bad.text);
        assert!(bad
            .page_text()
            .contains("请在地图上选择位置，或选择所在楼栋。"));
        assert!(
            bad.text.contains("楼下垃圾没清运"),
            "what was typed is kept"
        );
        let bid = building_id.to_string();
        let r = post_form(
            &app,
            &jumin,
            "/m/report",
            &[
                ("_csrf", &token),
                ("category", "env.garbage"),
                ("description", "楼下垃圾三天没人清运"),
                ("building_id", &bid),
            ],
        )
        .await;
        r.status(303);
        let to = location(&r);
        assert!(
            to.starts_with("/m/events/") && to.ends_with("?filed=1"),
            "{to}"
        );
        let id = filed_id(&to, "/m/events/");
        let reference = format!("SJ{id:08}");
        let filed = app.page(&jumin, &to).await;
        filed.status(200);
        assert!(
            filed
                .text
                .contains(&format!("id=\"filed-reference\">{reference}<")),
            "{}",
            filed.text
        );
        assert!(
            offers(&filed, "withdraw"),
            "a pending report may be withdrawn"
        );
        assert!(!offers(&filed, "rate") && !offers(&filed, "reopen") && !offers(&filed, "accept"));
        let mine = app.page(&jumin, "/m/events").await;
        mine.status(200);
        assert!(mine.text.contains(&reference));
        // Staff pages send a resident to theirs; figures are not for residents.
        let r = app.page(&jumin, "/events").await;
        r.status(303);
        assert_eq!(location(&r), "/m/events");
        app.page(&jumin, &format!("/events/{id}")).await.status(303);
        assert_eq!(state_of(&app, &jumin_t, id).await, "pending");

        // Another resident does not see it, as if it did not exist.
        app.store
            .create_user(
                &linli_store::Actor {
                    user_id: None,
                    username: "test".into(),
                    ip: None,
                },
                linli_store::NewUser {
                    username: "linju".into(),
                    display_name: "邻居".into(),
                    password: common::PASSWORD.into(),
                    role: Role::Resident,
                    scope: Scope::parse("330102").expect("scope"),
                },
            )
            .await
            .expect("second resident");
        let (linju, _) = app.browser_sign_in("linju").await;
        app.page(&linju, &format!("/m/events/{id}"))
            .await
            .status(404);
        let none = app.page(&linju, "/m/events").await;
        none.status(200);
        assert!(none.text.contains("id=\"my-events-empty\""));

        // The grid sees it in its inbox and may accept it; the community may not.
        let (wangge, _) = app.browser_sign_in("wangge").await;
        let inbox = app.page(&wangge, "/events").await;
        inbox.status(200);
        assert!(
            inbox.text.contains(&format!("data-id=\"{id}\"")),
            "in the grid's inbox"
        );
        assert!(inbox.text.contains("id=\"nav-events\""));
        for tab in ["area", "overdue"] {
            app.page(&wangge, &format!("/events?tab={tab}"))
                .await
                .status(200);
        }
        let area = app
            .page(
                &wangge,
                "/events?tab=area&state=pending&category=env.garbage",
            )
            .await;
        area.status(200);
        assert!(area.text.contains(&format!("data-id=\"{id}\"")));
        let w = app.page(&wangge, &format!("/events/{id}")).await;
        w.status(200);
        assert!(offers(&w, "accept"), "wangge may accept");
        assert!(!offers(&w, "verify") && !offers(&w, "close"));
        let (shegong, _) = app.browser_sign_in("shegong").await;
        let s = app.page(&shegong, &format!("/events/{id}")).await;
        s.status(200);
        assert!(!offers(&s, "accept"), "shegong is not the handler");
        assert!(
            s.text.contains("页面测试楼"),
            "the building names the place"
        );

        // Outside the area, or nothing at all: the same 404.
        let (leader, _) = app.browser_sign_in("leader").await;
        app.page(&leader, &format!("/events/{id}"))
            .await
            .status(404);
        app.page(&leader, "/events/99999999").await.status(404);
        app.page(&leader, "/events/not-a-number").await.status(404);
        let (clerk, _) = app.browser_sign_in("chengguan").await;
        app.page(&clerk, &format!("/events/{id}")).await.status(404);
        app.page(&clerk, "/events").await.status(200);
        app.page(&clerk, "/events/new").await.status(403);
        app.page(&clerk, "/events/dashboard").await.status(200);
        app.page(&clerk, "/events/dashboard?department=xf")
            .await
            .status(403);

        // A refused form changes nothing and says why beside the form.
        let sc = app.page(&shegong, "/m/events").await.meta_csrf();
        let r = post_form(
            &app,
            &shegong,
            &format!("/events/{id}/act"),
            &[("_csrf", &sc), ("action", "accept"), ("note", "我来受理")],
        )
        .await;
        r.status(403);
        assert!(
            r.page_text().contains("只有承办单位可以这样做。"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("id=\"action-error\""),
            "shown above the forms, since accept is not offered"
        );
        assert_eq!(state_of(&app, &jumin_t, id).await, "pending");
        // So does a form without its CSRF token, or with another session's.
        let wc = app.page(&wangge, "/m/events").await.meta_csrf();
        post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[("action", "accept")],
        )
        .await
        .status(403);
        post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[("_csrf", &sc), ("action", "accept")],
        )
        .await
        .status(403);
        assert_eq!(state_of(&app, &jumin_t, id).await, "pending");
        // A state the action does not fit: the message names both.
        let r = post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[
                ("_csrf", &wc),
                ("action", "report_back"),
                ("note", "已清运"),
            ],
        )
        .await;
        r.status(409);
        assert!(
            r.page_text()
                .contains("这件事当前为“待受理”，不能“办结反馈”。"),
            "{}",
            r.text
        );

        // The grid accepts and reports back with a photo; the community verifies and closes.
        let r = post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[("_csrf", &wc), ("action", "accept")],
        )
        .await;
        r.status(303);
        assert_eq!(location(&r), format!("/events/{id}?done=accept#timeline"));
        assert_eq!(state_of(&app, &jumin_t, id).await, "handling");
        let w = app
            .page(&wangge, &format!("/events/{id}?done=accept"))
            .await;
        assert!(w.text.contains("id=\"done\""));
        assert!(
            offers(&w, "report_back")
                && offers(&w, "request_extension")
                && offers(&w, "escalate")
                && offers(&w, "whistle")
        );
        assert!(!offers(&w, "accept"));
        // A bad value in an offered form: the message beside that form, the note kept.
        let r = post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[
                ("_csrf", &wc),
                ("action", "request_extension"),
                ("minutes", "0"),
                ("note", "需要协调物业"),
            ],
        )
        .await;
        r.status(400);
        assert!(
            r.text.contains("id=\"error-request_extension\""),
            "{}",
            r.text
        );
        assert!(r.text.contains("需要协调物业"), "the note typed is kept");
        let r = post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[
                ("_csrf", &wc),
                ("action", "request_extension"),
                ("minutes", "soon"),
            ],
        )
        .await;
        r.status(400);
        assert!(r.page_text().contains("“soon”不是整数。"));
        assert_eq!(
            app.get(&jumin_t, &format!("/api/v1/events/{id}"))
                .await
                .json()["event"]["extension_minutes"],
            Value::Null
        );
        let jpeg = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../photo/tests/fixtures/orient1_progressive.jpg"
        ))
        .expect("fixture");
        let up = app
            .with(
                "POST /api/v1/photos (cookie)",
                wangge
                    .post(app.url("/api/v1/photos"))
                    .header("x-csrf-token", &wc)
                    .body(jpeg),
            )
            .await;
        up.status(201);
        let photo = up.json()["photo"].as_str().expect("photo").to_string();
        let r = post_form(
            &app,
            &wangge,
            &format!("/events/{id}/act"),
            &[
                ("_csrf", &wc),
                ("action", "report_back"),
                ("note", "已清运完毕"),
                ("photos", &photo),
            ],
        )
        .await;
        r.status(303);
        let s = app.page(&shegong, &format!("/events/{id}")).await;
        assert!(
            offers(&s, "verify") && offers(&s, "reject"),
            "the level above checks"
        );
        assert!(
            s.page_text()
                .contains(&format!("/api/v1/events/{id}/photos/")),
            "the step's photo is shown"
        );
        assert!(s.text.contains("已清运完毕"), "{}", s.text);
        let w = app.page(&wangge, &format!("/events/{id}")).await;
        assert!(
            !offers(&w, "verify"),
            "the handler does not verify their own work"
        );
        post_form(
            &app,
            &shegong,
            &format!("/events/{id}/act"),
            &[("_csrf", &sc), ("action", "verify")],
        )
        .await
        .status(303);
        post_form(
            &app,
            &shegong,
            &format!("/events/{id}/act"),
            &[("_csrf", &sc), ("action", "close")],
        )
        .await
        .status(303);
        assert_eq!(state_of(&app, &jumin_t, id).await, "closed");

        // The reporter rates it (once) and could reopen it.
        let j = app.page(&jumin, &format!("/m/events/{id}")).await;
        assert!(offers(&j, "rate") && offers(&j, "reopen") && !offers(&j, "withdraw"));
        let r = post_form(
            &app,
            &jumin,
            &format!("/m/events/{id}/act"),
            &[
                ("_csrf", &token),
                ("action", "rate"),
                ("stars", "5"),
                ("comment", "很及时"),
            ],
        )
        .await;
        r.status(303);
        assert_eq!(location(&r), format!("/m/events/{id}?done=rate#timeline"));
        let j = app.page(&jumin, &format!("/m/events/{id}")).await;
        assert!(j.text.contains("id=\"event-rating\""));
        assert!(j.text.contains("很及时"));
        assert!(!offers(&j, "rate"), "rated once");
        let r = post_form(
            &app,
            &jumin,
            &format!("/m/events/{id}/act"),
            &[("_csrf", &token), ("action", "rate"), ("stars", "1")],
        )
        .await;
        r.status(409);
        assert!(r.page_text().contains("这件事已经评价过了。"));
        let detail = app
            .get(&jumin_t, &format!("/api/v1/events/{id}"))
            .await
            .json();
        assert_eq!(
            detail["event"]["rating"], 5,
            "the refused second rating changed nothing"
        );

        // A second report is withdrawn from the phone while pending.
        let r = post_form(
            &app,
            &jumin,
            "/m/report",
            &[
                ("_csrf", &token),
                ("category", "env.garbage"),
                ("description", "再报一次"),
                ("building_id", &bid),
            ],
        )
        .await;
        r.status(303);
        let to = location(&r);
        let id2 = filed_id(&to, "/m/events/");
        let again = app.page(&jumin, &to).await;
        assert!(again.text.contains("id=\"filed-reference\""));
        let r = post_form(
            &app,
            &jumin,
            &format!("/m/events/{id2}/act"),
            &[
                ("_csrf", &token),
                ("action", "withdraw"),
                ("note", "已自行解决"),
            ],
        )
        .await;
        r.status(303);
        assert_eq!(state_of(&app, &jumin_t, id2).await, "withdrawn");
        app
    })
    .await;
}

#[tokio::test]
async fn staff_report_figures_and_the_language_switch() {
    on_each_backend(|app| async move {
        let shegong_t = app.token("shegong").await;
        let building_id = building(&app, &shegong_t).await.to_string();
        let (wangge, _) = app.browser_sign_in("wangge").await;
        let token = app.page(&wangge, "/events").await.meta_csrf();

        // The staff form: the categories grouped, the grid's buildings, on-spot closure.
        let form = app.page(&wangge, "/events/new").await;
        form.status(200);
        assert!(
            form.text.contains("<optgroup label=\"环境卫生\">"),
            "categories grouped by parent"
        );
        assert!(
            form.text.contains("name=\"close_on_spot\""),
            "a grid worker may close on the spot"
        );
        assert!(
            form.text
                .contains(&format!("<option value=\"{building_id}\"")),
            "the grid's buildings"
        );
        let bad = post_form(
            &app,
            &wangge,
            "/events/new",
            &[
                ("_csrf", &token),
                ("category", "env.garbage"),
                ("description", ""),
                ("building_id", &building_id),
            ],
        )
        .await;
        bad.status(400);
        assert!(bad.text.contains("id=\"e-description\""));
        let r = post_form(
            &app,
            &wangge,
            "/events/new",
            &[
                ("_csrf", &token),
                ("category", "env.garbage"),
                ("description", "巡查发现垃圾堆放"),
                ("building_id", &building_id),
                ("source", "patrol"),
            ],
        )
        .await;
        r.status(303);
        let to = location(&r);
        assert!(
            to.starts_with("/events/") && to.ends_with("?filed=1"),
            "{to}"
        );
        let page = app.page(&wangge, &to).await;
        page.status(200);
        assert!(page.text.contains("id=\"filed\""));
        // A second report of the same problem at the same spot sees the first as a duplicate,
        // and its handler may merge it.
        let r = post_form(
            &app,
            &wangge,
            "/events/new",
            &[
                ("_csrf", &token),
                ("category", "env.garbage"),
                ("description", "同一堆垃圾"),
                ("building_id", &building_id),
            ],
        )
        .await;
        r.status(303);
        let second = app.page(&wangge, &location(&r)).await;
        assert!(second.text.contains("id=\"duplicates\""), "{}", second.text);
        assert!(
            second.text.contains("name=\"into\""),
            "the handler may merge"
        );
        // Closed on the spot when the admission list allows (noise is the grid's own).
        let r = post_form(
            &app,
            &wangge,
            "/events/new",
            &[
                ("_csrf", &token),
                ("category", "noise"),
                ("description", "夜间装修噪音"),
                ("building_id", &building_id),
                ("close_on_spot", "1"),
                ("note", "已劝停"),
            ],
        )
        .await;
        r.status(303);
        let spot = app.page(&wangge, &location(&r)).await;
        assert!(spot.text.contains("data-state=\"closed\""), "{}", spot.text);
        // Without the token, nothing is filed.
        post_form(
            &app,
            &wangge,
            "/events/new",
            &[
                ("category", "env.garbage"),
                ("description", "x"),
                ("building_id", &building_id),
            ],
        )
        .await
        .status(403);

        // The figures: cards, the API the script refreshes from, the regions below.
        let (shegong, _) = app.browser_sign_in("shegong").await;
        let d = app
            .page(
                &shegong,
                &format!("/events/dashboard?region={COMMUNITY}&refresh=2"),
            )
            .await;
        d.status(200);
        for key in [
            "received",
            "on_time_rate",
            "resolution_rate",
            "satisfaction_rate",
            "mean_hours",
            "p90_hours",
            "overdue_now",
        ] {
            assert!(
                d.text.contains(&format!("data-kpi=\"{key}\"")),
                "card {key}"
            );
        }
        assert!(
            d.page_text().contains(&format!(
                "data-api=\"/api/v1/regions/{COMMUNITY}/events/kpis?"
            )),
            "{}",
            d.text
        );
        assert!(d.text.contains("data-refresh=\"2\""));
        assert!(
            d.text.contains(&format!("data-code=\"{GRID}\"")),
            "the grids below to drill into"
        );
        app.page(&shegong, "/events/dashboard?region=330102003050")
            .await
            .status(403);
        app.page(
            &shegong,
            "/events/dashboard?region=330102001051&from=2026-13-01",
        )
        .await
        .status(400);
        let (leader, _) = app.browser_sign_in("leader").await;
        let d = app.page(&leader, "/events/dashboard").await;
        d.status(200);
        assert!(
            d.text.contains("data-code=\"330102003"),
            "a street's communities"
        );

        // Every new page switches to English, with no key left untranslated.
        let sw = app.page(&wangge, "/lang/en?next=/events").await;
        sw.status(303);
        let id = filed_id(&to, "/events/").to_string();
        for path in [
            "/events",
            "/events?tab=area",
            "/events?tab=overdue",
            "/events/new",
            "/events/dashboard",
            &format!("/events/{id}"),
            "/m/events",
            "/m/report",
        ] {
            let p = app.page(&wangge, path).await;
            p.status(200);
            assert!(p.text.contains("<html lang=\"en\">"), "{path} in English");
            assert!(
                !p.text.contains(">ep.") && !p.text.contains("\"ep."),
                "{path}: an untranslated key: {}",
                p.text
            );
        }
        let p = app.page(&wangge, "/events").await;
        assert!(p.text.contains("To do") && p.text.contains("Whole area"));
        let (jumin, _) = app.browser_sign_in("jumin").await;
        app.page(&jumin, "/lang/en?next=/m/report")
            .await
            .status(303);
        let p = app.page(&jumin, "/m/report").await;
        assert!(p.text.contains("Report a problem"));
        app
    })
    .await;
}
