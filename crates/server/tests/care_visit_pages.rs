//! The care visit pages over HTTP on both databases, signed in as a browser is (cookie
//! session, CSRF token in every form): who may open which page; the community worker
//! enrols from the enrol page (one, then all); the grid worker records a visit through the
//! phone form with a concern and a photo and finds it in the history; a bad visit comes back
//! with its message and what was typed, recording nothing; the rules page saves a region's
//! own rules, refuses a bad one by its number, and goes back to the rules above; the region
//! page shows the care figures; English.

mod common;

use common::{on_each_backend, App, Resp};
use linli_core::registry::idcard::check_character;
use serde_json::json;

const COMMUNITY: &str = "330102001051";
const GRID: &str = "330102001051001";
/// The leader's street (the demo's 湖滨街道), which has no care data.
const LEADER_STREET: &str = "330102003";

fn id_number(birth: &str, seq: u32) -> String {
    let first = format!("330102{birth}{seq:03}");
    let bytes: [u8; 17] = first.as_bytes().try_into().expect("17 digits");
    format!("{first}{}", check_character(&bytes))
}

/// Two elderly people living alone in a household of the grid (born 1940 and 1941).
async fn elderly_in_grid(app: &App, token: &str) {
    let r = app
        .get(token, &format!("/api/v1/households?region={GRID}&limit=1"))
        .await;
    r.status(200);
    let household = r.json()["items"][0]["id"].as_i64().expect("a household");
    for (name, birth, seq) in [("赵爷爷", "19400105", 21), ("钱奶奶", "19410720", 22)] {
        app.post(
            token,
            "/api/v1/residents",
            &json!({"household_id": household, "name": name, "id_number": id_number(birth, seq),
                    "relation": "其他", "tags": ["独居"]}),
        )
        .await
        .status(201);
    }
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

fn location(r: &Resp) -> String {
    r.header("location").unwrap_or("").to_string()
}

/// The id of the enrolment of `name` in the visits list of `page`.
fn enrolment_of(page: &Resp, name: &str) -> i64 {
    let at = page
        .text
        .find(&format!(">{name}</a>"))
        .unwrap_or_else(|| panic!("{}: {name} is not listed", page.what));
    let before = &page.text[..at];
    let href = before.rfind("href=\"/care/visits/").expect("a link");
    before[href + "href=\"/care/visits/".len()..]
        .split('"')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("an enrolment id")
}

#[tokio::test]
async fn the_visit_pages_answer_the_right_people() {
    on_each_backend(|app| async move {
        let (jumin, _) = app.browser_sign_in("jumin").await;
        let r = app.page(&jumin, "/care/visits").await;
        r.status(303);
        assert_eq!(location(&r), "/m/events");
        let (clerk, _) = app.browser_sign_in("chengguan").await;
        for path in [
            "/care/visits",
            "/care/visits/enrol",
            "/care/visits/rules",
            "/care/visits/1",
        ] {
            app.page(&clerk, path).await.status(403);
        }
        let (wangge, _) = app.browser_sign_in("wangge").await;
        let list = app.page(&wangge, "/care/visits").await;
        list.status(200);
        assert!(list.text.contains("id=\"nav-visits\""), "in the navigation");
        assert!(
            list.text.contains("id=\"sub-visits\""),
            "in the sub-navigation"
        );
        assert!(list.text.contains("id=\"visits-empty\""), "the empty state");
        let overdue = app.page(&wangge, "/care/visits?tab=overdue").await;
        assert!(overdue.text.contains("没有逾期未探访的老人"));
        // Outside the area: refused before anything is read.
        app.page(&wangge, "/care/visits?region=330105")
            .await
            .status(403);
        app.page(&wangge, "/care/visits/enrol?region=330105")
            .await
            .status(403);
        // An enrolment that does not exist, or a number that is not one.
        app.page(&wangge, "/care/visits/999999").await.status(404);
        app.page(&wangge, "/care/visits/abc").await.status(404);
        // The grid's rules are its community's: no editor for a grid.
        let rules = app.page(&wangge, "/care/visits/rules").await;
        rules.status(200);
        assert!(rules.text.contains("id=\"rules-below\""));
        assert!(!rules.text.contains("id=\"rules-form\""));
        assert!(rules.text.contains("系统默认规则"), "{}", rules.text);
        // Above a community the enrol page asks for one.
        let (leader, _) = app.browser_sign_in("leader").await;
        let street = app
            .page(
                &leader,
                &format!("/care/visits/enrol?region={LEADER_STREET}"),
            )
            .await;
        street.status(200);
        assert!(street.text.contains("id=\"choose-community\""));
        let leader_rules = app.page(&leader, "/care/visits/rules").await;
        leader_rules.status(200);
        assert!(
            !leader_rules.text.contains("id=\"rules-form\""),
            "a leader reads the rules"
        );
        // English.
        let en = app
            .with(
                "GET /care/visits in English",
                wangge
                    .get(app.url("/care/visits"))
                    .header("accept-language", "en"),
            )
            .await;
        en.status(200);
        assert!(en.text.contains("Care visits") && en.text.contains("Nobody in this area"));
        let anon = common::browser();
        app.page(&anon, "/care/visits").await.status(303);
        app
    })
    .await;
}

#[tokio::test]
async fn enrol_record_a_visit_with_a_photo_and_read_the_figures() {
    on_each_backend(|app| async move {
        let shegong_t = app.token("shegong").await;
        elderly_in_grid(&app, &shegong_t).await;
        let (shegong, _) = app.browser_sign_in("shegong").await;
        let enrol = app
            .page(&shegong, &format!("/care/visits/enrol?region={COMMUNITY}"))
            .await;
        enrol.status(200);
        let csrf = enrol.meta_csrf();
        assert!(enrol.text.contains("赵爷爷") && enrol.text.contains("钱奶奶"));
        assert!(enrol.text.contains("每7天"), "the planned interval");
        assert!(
            enrol.text.contains("规则：") && enrol.text.contains("80岁以上"),
            "the rule's label"
        );
        // One, by its button.
        let zhao = common::between(&enrol.text, "data-resident=\"", "\"")
            .expect("a candidate")
            .to_string();
        let done = post_form(
            &app,
            &shegong,
            "/care/visits/enrol",
            &[
                ("_csrf", &csrf),
                ("region", COMMUNITY),
                ("resident_id", &zhao),
            ],
        )
        .await;
        done.status(303);
        let after = app.page(&shegong, &location(&done)).await;
        assert!(after.text.contains("已纳入 1 人"), "{}", after.text);
        // The rest at once, with their number.
        let all = post_form(
            &app,
            &shegong,
            "/care/visits/enrol",
            &[("_csrf", &csrf), ("region", COMMUNITY)],
        )
        .await;
        all.status(303);
        let after = app.page(&shegong, &location(&all)).await;
        assert!(after.text.contains("id=\"enrol-done\""));
        assert!(
            after.text.contains("id=\"candidates-empty\""),
            "nobody left"
        );
        // A grid worker may not enrol for a community outside their grid.
        let (wangge, _) = app.browser_sign_in("wangge").await;
        let list = app.page(&wangge, "/care/visits").await;
        list.status(200);
        let wcsrf = list.meta_csrf();
        let id = enrolment_of(&list, "钱奶奶");
        assert!(list.text.contains("每7天") || list.text.contains("每14天"));
        assert!(list.text.contains("尚未探访"));
        assert!(list.text.contains("还有"), "days left");

        // A bad visit: its message, what was typed kept, nothing recorded.
        let path = format!("/care/visits/{id}");
        let bad = post_form(
            &app,
            &wangge,
            &path,
            &[
                ("_csrf", &wcsrf),
                ("visited_at", "2020-01-01T09:00"),
                ("mode", "home"),
                ("note", "血压偏高"),
                ("concerns", "health"),
            ],
        )
        .await;
        bad.status(400);
        assert!(bad.text.contains("id=\"visit-error\""), "{}", bad.text);
        assert!(bad.text.contains("血压偏高"), "the note stays");
        assert!(
            bad.text.contains("value=\"health\" checked"),
            "the concern stays"
        );
        assert!(
            bad.text.contains("id=\"history-empty\""),
            "nothing recorded"
        );

        // A good one, with a photo uploaded as the page's script does.
        let png = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../photo/tests/fixtures/text_exif.png"
        ))
        .expect("fixture");
        let up = app
            .with(
                "POST /api/v1/photos from the page",
                wangge
                    .post(app.url("/api/v1/photos"))
                    .header("x-csrf-token", &wcsrf)
                    .body(png),
            )
            .await;
        up.status(201);
        let photo = up.json()["photo"].as_str().expect("photo").to_string();
        let ok = post_form(
            &app,
            &wangge,
            &path,
            &[
                ("_csrf", &wcsrf),
                ("visited_at", ""),
                ("mode", "home"),
                ("note", "精神不错，提醒按时吃药"),
                ("concerns", "health"),
                ("concerns", "fraud"),
                ("photos", &photo),
            ],
        )
        .await;
        ok.status(303);
        let person = app.page(&wangge, &path).await;
        person.status(200);
        assert!(
            person.text.contains("id=\"visit-recorded\"") || location(&ok).contains("recorded")
        );
        let shown = app.page(&wangge, &location(&ok)).await;
        assert!(shown.text.contains("探访已记录"));
        assert!(person.text.contains("精神不错，提醒按时吃药"));
        assert!(person.text.contains("防诈") && person.text.contains("健康"));
        assert!(person.text.contains("按时"));
        let src = common::between(&person.text, "<img src=\"", "\"").expect("a thumbnail");
        let img = app.page(&wangge, &common::unescape_html(&src)).await;
        img.status(200);
        assert_eq!(img.header("content-type"), Some("image/png"));

        // The plan by hand and back to the rules; a bad interval is said.
        let bad = post_form(
            &app,
            &shegong,
            &format!("{path}/plan"),
            &[("_csrf", &csrf), ("interval_days", "abc"), ("plan", "hand")],
        )
        .await;
        bad.status(400);
        assert!(bad.text.contains("id=\"plan-error\""));
        let hand = post_form(
            &app,
            &shegong,
            &format!("{path}/plan"),
            &[("_csrf", &csrf), ("interval_days", "3"), ("plan", "hand")],
        )
        .await;
        hand.status(303);
        let p = app.page(&shegong, &path).await;
        assert!(p.text.contains("每3天") && p.text.contains("手动设定"));
        post_form(
            &app,
            &shegong,
            &format!("{path}/plan"),
            &[("_csrf", &csrf), ("interval_days", "3"), ("plan", "rules")],
        )
        .await
        .status(303);
        let p = app.page(&shegong, &path).await;
        assert!(p.text.contains("按规则"), "back to the rules");

        // The region page's care block.
        let region = app.page(&shegong, &format!("/regions/{COMMUNITY}")).await;
        region.status(200);
        assert!(region.text.contains("id=\"care-figures\""));
        assert!(region.text.contains("data-key=\"enrolled\""));
        assert!(!region.text.contains("id=\"care-figures-empty\""));
        let (leader, _) = app.browser_sign_in("leader").await;
        let empty = app
            .page(&leader, &format!("/regions/{LEADER_STREET}"))
            .await;
        empty.status(200);
        assert!(empty.text.contains("尚无关爱数据"), "{}", empty.page_text());
        let (clerk, _) = app.browser_sign_in("chengguan").await;
        let clerk_region = app.page(&clerk, &format!("/regions/{COMMUNITY}")).await;
        if clerk_region.code == 200 {
            assert!(!clerk_region.text.contains("id=\"care-figures\""));
        }

        // Ending the enrolment, after the confirmation the script asks.
        post_form(
            &app,
            &shegong,
            &format!("{path}/end"),
            &[("_csrf", &csrf), ("reason", "moved_away")],
        )
        .await
        .status(303);
        let p = app.page(&shegong, &path).await;
        assert!(p.text.contains("id=\"enrolment-ended\"") && p.text.contains("已迁出"));
        assert!(
            !p.text.contains("id=\"visit-form\""),
            "no visits after the end"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_rules_page_saves_refuses_and_goes_back() {
    on_each_backend(|app| async move {
        let (shegong, _) = app.browser_sign_in("shegong").await;
        let page = app
            .page(&shegong, &format!("/care/visits/rules?region={COMMUNITY}"))
            .await;
        page.status(200);
        let csrf = page.meta_csrf();
        assert!(page.text.contains("id=\"rules-form\""));
        assert!(page.text.contains("data-own=\"no\""));
        // The second rule has no tags: refused, by its number, with the rows kept.
        let bad = post_form(
            &app,
            &shegong,
            "/care/visits/rules",
            &[
                ("_csrf", &csrf),
                ("region", COMMUNITY),
                ("action", "save"),
                ("r0.tag", "living_alone"),
                ("r0.age", "age60"),
                ("r0.days", "5"),
                ("r1.age", ""),
                ("r1.days", "9"),
            ],
        )
        .await;
        bad.status(400);
        assert!(bad.text.contains("id=\"rules-error\""), "{}", bad.text);
        assert!(bad.page_text().contains('2'), "names the rule");
        assert!(bad.text.contains("value=\"9\""), "what was typed stays");
        let ok = post_form(
            &app,
            &shegong,
            "/care/visits/rules",
            &[
                ("_csrf", &csrf),
                ("region", COMMUNITY),
                ("action", "save"),
                ("r0.tag", "living_alone"),
                ("r0.age", "age60"),
                ("r0.days", "5"),
                ("r1.days", ""),
            ],
        )
        .await;
        ok.status(303);
        let saved = app.page(&shegong, &location(&ok)).await;
        assert!(saved.text.contains("id=\"rules-saved\""));
        assert!(saved.text.contains("data-own=\"yes\""));
        assert!(saved.text.contains("本区域自定规则"));
        assert!(saved.text.contains("每5天"));
        // A grid under it now inherits them.
        let (wangge, _) = app.browser_sign_in("wangge").await;
        let grid = app.page(&wangge, "/care/visits/rules").await;
        assert!(grid.page_text().contains("沿用"), "inherited");
        // Back to the rules above.
        let back = post_form(
            &app,
            &shegong,
            "/care/visits/rules",
            &[
                ("_csrf", &csrf),
                ("region", COMMUNITY),
                ("action", "inherit"),
            ],
        )
        .await;
        back.status(303);
        let p = app.page(&shegong, &location(&back)).await;
        assert!(p.text.contains("data-own=\"no\""));
        // A grid worker may not save a community's rules; a forged token is refused.
        let wcsrf = grid.meta_csrf();
        post_form(
            &app,
            &wangge,
            "/care/visits/rules",
            &[
                ("_csrf", &wcsrf),
                ("region", COMMUNITY),
                ("action", "inherit"),
            ],
        )
        .await
        .status(403);
        post_form(
            &app,
            &shegong,
            "/care/visits/rules",
            &[
                ("_csrf", "forged"),
                ("region", COMMUNITY),
                ("action", "inherit"),
            ],
        )
        .await
        .status(403);
        app
    })
    .await;
}
