//! The alarm console at `/care`: two tabs, the work still to do (open and acknowledged
//! alarms, the most severe first, then the latest) and the resolved alarms (the latest
//! first), each one paged store read plus its count and one read of the households' places.
//!
//! The script keeps the first page live: each `alarm` of the stream asks `row` for that
//! alarm's row, rendered here exactly as the page renders it; `resync` (and every
//! reconnection) asks for the list again with `partial=rows`. Acknowledging and resolving
//! post to this page's own routes, which run the API's store calls and tell the other
//! consoles; the script gets the new row back, or the reason in the reader's language.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use linli_core::care_rules::AlarmKind;
use linli_core::i18n::{self, Lang};
use linli_core::{Permission, Role};
use linli_store::care_alarms::Alarm;
use linli_store::care_console::{ConsoleTab, HouseholdPlace};
use linli_store::care_dispatch::OUTCOMES;
use linli_store::registry::Page;
use linli_store::User;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{from_script, render, require_care, PAGE_SIZE};
use crate::auth::PageUser;
use crate::care_alarms_api::alarm_in_area;
use crate::care_api::asked_range;
use crate::error::{AppError, AppResult};
use crate::page_kit::{blank, header, merge, page_number, pager, query_string};
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct ConsoleQuery {
    tab: Option<String>,
    region: Option<String>,
    page: Option<String>,
    /// `rows`: only the list, for the script.
    partial: Option<String>,
    /// The action just done, for its message.
    done: Option<String>,
}

fn tab_of(s: Option<&str>) -> ConsoleTab {
    match blank(s) {
        Some("resolved") => ConsoleTab::Resolved,
        _ => ConsoleTab::Active,
    }
}

fn tab_name(tab: ConsoleTab) -> &'static str {
    match tab {
        ConsoleTab::Active => "active",
        ConsoleTab::Resolved => "resolved",
    }
}

fn time(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M:%S")
}

/// How long ago `ms` was, as "12 分钟" or "2 小时 5 分".
pub(super) fn age(lang: Lang, ms: i64) -> String {
    let s = (ms.max(0) / 1000).to_string();
    let minutes = ms.max(0) / 60_000;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if minutes < 1 {
        i18n::format(lang, "cp.age.seconds", &[("n", &s)])
    } else if minutes < 60 {
        i18n::format(lang, "cp.age.minutes", &[("n", &m.to_string())])
    } else if minutes < 1440 {
        i18n::format(
            lang,
            "cp.age.hours",
            &[("h", &(minutes / 60).to_string()), ("m", &m.to_string())],
        )
    } else {
        i18n::format(
            lang,
            "cp.age.days",
            &[("d", &d.to_string()), ("h", &h.to_string())],
        )
    }
}

/// A household's place in words: building, unit and room, and the address.
fn place_of(lang: Lang, id: i64, place: Option<&HouseholdPlace>) -> (String, String) {
    match place {
        Some(p) => {
            let name = [p.building.as_str(), p.unit.as_str(), p.room.as_str()]
                .into_iter()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (name, p.address.clone())
        }
        None => (
            i18n::format(lang, "cp.alarm.household", &[("id", &id.to_string())]),
            String::new(),
        ),
    }
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        _ => 2,
    }
}

/// One alarm as the console shows it, with the actions `user` is offered on it. Which
/// actions succeed is decided by the store on fresh facts when posted (only the handler of
/// the alarm's event may); the console offers them to everyone who works events, so that a
/// community worker can act once an alarm is escalated to the community.
fn alarm_row(
    lang: Lang,
    user: &User,
    a: &Alarm,
    place: Option<&HouseholdPlace>,
    now: i64,
) -> Value {
    let (place, address) = place_of(lang, a.household_id, place);
    let works = user.role.allows(Permission::WorkEvents);
    let kind = AlarmKind::parse(&a.kind)
        .map(|k| i18n::text(lang, k.text_key()).to_string())
        .unwrap_or_else(|| a.kind.clone());
    let by = |who: &Option<String>| who.clone().unwrap_or_default();
    json!({
        "id": a.id,
        "kind": a.kind,
        "kind_name": kind,
        "severity": a.severity,
        "severity_name": i18n::text(lang, &format!("cp.severity.{}", a.severity)),
        "rank": severity_rank(&a.severity),
        "state": a.state,
        "state_name": i18n::text(lang, &format!("cp.state.{}", a.state)),
        "household_id": a.household_id,
        "place": place,
        "address": address,
        "device_id": a.device_id,
        "raised_at": a.raised_at,
        "raised": time(a.raised_at),
        "age": age(lang, now - a.raised_at),
        "cleared": a.cleared_at.map(time),
        "acknowledged": a.acknowledged_at.map(|t| i18n::format(lang, "cp.alarm.acknowledged", &[("who", &by(&a.acknowledged_by)), ("time", &time(t))])),
        "resolved": a.resolved_at.map(|t| {
            let outcome = a.outcome.as_deref().map(|o| i18n::text(lang, &format!("care.outcome.{o}")).to_string()).unwrap_or_default();
            i18n::format(lang, "cp.alarm.resolved", &[("who", &by(&a.resolved_by)), ("time", &time(t)), ("outcome", &outcome)])
        }),
        "event_id": a.event_id,
        "event_reference": a.event_id.map(linli_core::events::reference),
        "dispatch_problem": a.dispatch_problem,
        "can_acknowledge": works && a.state == "open" && a.event_id.is_some(),
        "can_resolve": works && a.state == "acknowledged",
    })
}

/// The outcomes a resolution may give, for the select.
fn outcomes(lang: Lang) -> Vec<Value> {
    OUTCOMES
        .iter()
        .map(|o| json!({"value": o, "label": i18n::text(lang, &format!("care.outcome.{o}"))}))
        .collect()
}

/// Rows for `alarms`, with one read of their households' places.
async fn rows(
    state: &AppState,
    lang: Lang,
    user: &User,
    alarms: &[Alarm],
) -> AppResult<Vec<Value>> {
    let ids: Vec<i64> = alarms.iter().map(|a| a.household_id).collect();
    let places = state.store.household_places(&ids).await?;
    let now = linli_store::now_ms();
    Ok(alarms
        .iter()
        .map(|a| alarm_row(lang, user, a, places.get(&a.household_id), now))
        .collect())
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<ConsoleQuery>,
) -> AppResult<Response> {
    let user = &s.user;
    if user.role == Role::Resident {
        return Ok(Redirect::to("/m/events").into_response());
    }
    require_care(user)?;
    let region = blank(q.region.as_deref()).map(str::to_string);
    let range = asked_range(user, region.as_deref())?.unwrap_or(user.scope.range());
    let tab = tab_of(q.tab.as_deref());
    let page = page_number(q.page.as_deref());
    let listing = state
        .store
        .care_console_alarms(
            range,
            tab,
            Page::new(Some((page - 1) * PAGE_SIZE), Some(PAGE_SIZE)),
        )
        .await?;
    let rows = rows(&state, lang, user, &listing.items).await?;
    let mut pairs: Vec<(&str, String)> = vec![("tab", tab_name(tab).into())];
    pairs.push(("region", region.clone().unwrap_or_default()));
    let done = blank(q.done.as_deref())
        .filter(|d| ["acknowledge", "resolve"].contains(d))
        .map(|d| i18n::text(lang, &format!("cp.act.done_{d}")).to_string());
    let ctx = merge(
        header(lang, &s, &format!("/care{}", query_string(&pairs))),
        json!({
            "flash": done,
            "tab": tab_name(tab),
            "rows": rows,
            "total": listing.total,
            "pager": pager("/care", &pairs, page, listing.total, PAGE_SIZE),
            // Only the first page of the work to do takes new alarms live.
            "live": tab == ConsoleTab::Active && page == 1,
            "stream": format!("/api/v1/care/alarms/stream{}", query_string(&[("region", region.clone().unwrap_or_default())])),
            "rows_url": format!("/care{}", query_string(&[("tab", tab_name(tab).into()), ("region", region.unwrap_or_default()), ("partial", "rows".into())])),
            "outcomes": outcomes(lang),
            "can_devices": true,
        }),
    );
    if q.partial.as_deref() == Some("rows") {
        // The script shows the count beside the list it replaces.
        let mut res = render("care_rows.html", ctx)?;
        if let Ok(v) = axum::http::HeaderValue::from_str(&listing.total.to_string()) {
            res.headers_mut().insert("x-linli-total", v);
        }
        return Ok(res);
    }
    render("care_console.html", ctx)
}

/// The answer for an alarm the reader may not see, the same as for one that does not exist.
fn not_found() -> AppError {
    AppError::Problem(
        StatusCode::NOT_FOUND,
        linli_core::Problem::new("not_found", "cp.not_found"),
    )
}

/// Alarm `id` if `user` may see it.
async fn visible(state: &AppState, user: &User, id: i64) -> AppResult<Alarm> {
    require_care(user)?;
    match alarm_in_area(state, user, id).await {
        Err(AppError::NotFound(_)) => Err(not_found()),
        other => other,
    }
}

/// One alarm's row, as the console renders it (for the script's live updates).
async fn one_row(
    state: &AppState,
    lang: Lang,
    s: &linli_store::Session,
    id: i64,
) -> AppResult<Response> {
    let a = visible(state, &s.user, id).await?;
    let rows = rows(state, lang, &s.user, std::slice::from_ref(&a)).await?;
    let ctx = merge(
        header(lang, s, "/care"),
        json!({"rows": rows, "outcomes": outcomes(lang)}),
    );
    render("care_rows.html", ctx)
}

pub(super) async fn row(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    one_row(&state, lang, &s, id).await
}

#[derive(Deserialize)]
pub(super) struct ActForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// Runs `action` on alarm `id` and tells the consoles; answers the script with the new row
/// (or the reason, as text, with the error's status), a browser without it with the
/// console again.
#[allow(clippy::too_many_arguments)]
async fn act(
    state: AppState,
    lang: Lang,
    user: PageUser,
    addr: SocketAddr,
    headers: HeaderMap,
    id: i64,
    form: ActForm,
    action: &str,
) -> AppResult<Response> {
    let s = &user.0;
    let script = from_script(&headers);
    let done = async {
        user.check_csrf(&form.csrf)?;
        visible(&state, &s.user, id).await?;
        let ip = Some(addr.ip().to_string());
        match action {
            "acknowledge" => state.store.acknowledge_care_alarm(&s.user, ip, id).await?,
            _ => {
                state
                    .store
                    .resolve_care_alarm(
                        &s.user,
                        ip,
                        id,
                        form.outcome.trim(),
                        blank(Some(form.note.as_str())),
                    )
                    .await?
            }
        }
        let a = visible(&state, &s.user, id).await?;
        state.care_feed.changed(a.region_key, a.id);
        Ok::<_, AppError>(())
    }
    .await;
    match done {
        Ok(()) if script => one_row(&state, lang, s, id).await,
        Ok(()) => Ok(Redirect::to(&format!("/care?done={action}")).into_response()),
        Err(e) if script => Ok((e.status(), e.message(lang)).into_response()),
        Err(e) => Err(e),
    }
}

pub(super) async fn acknowledge(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<ActForm>,
) -> AppResult<Response> {
    act(state, lang, user, addr, headers, id, form, "acknowledge").await
}

pub(super) async fn resolve(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<ActForm>,
) -> AppResult<Response> {
    act(state, lang, user, addr, headers, id, form, "resolve").await
}
