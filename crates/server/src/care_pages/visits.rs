//! The visit pages: the area's people under care at `/care/visits` (the most urgent first,
//! tabs overdue / this week / all), and one person at `/care/visits/{id}` with the plan, the
//! visits made, the record-a-visit form built for a grid worker's phone, and for those who
//! manage the registry the plan by hand or by the rules and the end of the enrolment.
//! Every write goes through the same checks as the API (`care_visits_api`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use linli_core::care_visits::{Concern, EndReason, VisitMode};
use linli_core::i18n::{self, Lang};
use linli_core::registry::tags::Tag;
use linli_core::{Permission, Problem};
use linli_store::care_visits::{Due, Enrolment, Visit};
use linli_store::registry::Page;
use linli_store::Session;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check, render, PAGE_SIZE};
use crate::auth::PageUser;
use crate::care_api::asked_range;
use crate::care_visits_api::{
    end_checked, record_checked, replan_checked, visible_enrolment, VisitBody,
};
use crate::error::{AppError, AppResult};
use crate::page_kit::{blank, header, merge, page_number, pager, with_status};
use crate::registry_api::today;
use crate::{AppState, ReqLang};

const DAY_MS: i64 = 86_400_000;

pub(super) fn time(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

fn date(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d")
}

/// Tag labels of a person, in the table's words.
pub(super) fn tag_names(lang: Lang, tags: &[Tag]) -> Vec<String> {
    tags.iter()
        .map(|t| i18n::text(lang, t.label_key()).to_string())
        .collect()
}

/// A rule's code (`living_alone+age80`) as people read it ("独居 + 80岁以上").
pub(super) fn rule_label(lang: Lang, code: &str) -> String {
    code.split('+')
        .map(|t| {
            Tag::parse(t)
                .map(|t| i18n::text(lang, t.label_key()).to_string())
                .unwrap_or_else(|| t.to_string())
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// How the due moment reads: overdue by n days (a red badge) or n days left.
fn due_view(lang: Lang, due_at: i64, now: i64) -> Value {
    if due_at < now {
        let days = (now - due_at) / DAY_MS;
        json!({"overdue": true, "text": i18n::format(lang, "cp.visits.overdue_days", &[("n", &days.to_string())])})
    } else {
        let days = (due_at - now + DAY_MS - 1) / DAY_MS;
        json!({"overdue": false, "text": i18n::format(lang, "cp.visits.days_left", &[("n", &days.to_string())])})
    }
}

fn enrolment_view(lang: Lang, e: &Enrolment, now: i64) -> Value {
    json!({
        "id": e.id,
        "name": e.name.clone().unwrap_or_else(|| i18n::text(lang, "cp.visits.left_registry").to_string()),
        "age": e.age,
        "tags": tag_names(lang, &e.tags),
        "address": e.address,
        "phone": e.phone,
        "household_id": e.household_id,
        "resident_id": e.resident_id,
        "interval": i18n::format(lang, "cp.visits.every", &[("n", &e.interval_days.to_string())]),
        "interval_days": e.interval_days,
        "rule": e.rule.as_deref().map(|r| rule_label(lang, r)),
        "last_visit": e.last_visit_at.map(time),
        "due": date(e.due_at),
        "due_state": due_view(lang, e.due_at, now),
        "enrolled": i18n::format(lang, "cp.visit.enrolled", &[("time", &date(e.enrolled_at)), ("who", &e.enrolled_by)]),
        "ended": e.ended_at.map(|t| i18n::format(lang, "cp.visit.ended", &[
            ("time", &date(t)),
            ("reason", &e.end_reason.as_deref().and_then(EndReason::from_code).map(|r| i18n::text(lang, r.text_key()).to_string()).unwrap_or_default()),
        ])),
    })
}

// ---------------------------------------------------------------------------------------
// The list

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    tab: Option<String>,
    region: Option<String>,
    page: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    if let Some(away) = check(&s)? {
        return Ok(away);
    }
    let region = blank(q.region.as_deref()).map(str::to_string);
    let range = asked_range(&s.user, region.as_deref())?.unwrap_or(s.user.scope.range());
    let (tab, due) = match q.tab.as_deref().map(str::trim) {
        Some("overdue") => ("overdue", Due::Overdue),
        Some("week") => ("week", Due::Within(7)),
        _ => ("all", Due::All),
    };
    let page = page_number(q.page.as_deref());
    let listing = state
        .store
        .care_enrolments(
            range,
            due,
            today(),
            Page::new(Some((page - 1) * PAGE_SIZE), Some(PAGE_SIZE)),
        )
        .await?;
    let now = linli_store::now_ms();
    let rows: Vec<Value> = listing
        .items
        .iter()
        .map(|e| enrolment_view(lang, e, now))
        .collect();
    let region_qs = region.clone().unwrap_or_default();
    let tabs: Vec<Value> = ["overdue", "week", "all"]
        .iter()
        .map(|t| {
            json!({
                "name": t,
                "label": i18n::text(lang, &format!("cp.visits.tab.{t}")),
                "href": format!("/care/visits{}", crate::page_kit::query_string(&[("tab", t.to_string()), ("region", region_qs.clone())])),
                "current": *t == tab,
            })
        })
        .collect();
    let can_manage = s.user.role.allows(Permission::ManageRegistry);
    let ctx = merge(
        header(lang, &s, "/care/visits"),
        json!({
            "rows": rows,
            "total": listing.total,
            "tab": tab,
            "tabs": tabs,
            "region": region,
            "region_qs": crate::page_kit::query_string(&[("region", region_qs.clone())]),
            "can_manage": can_manage,
            "pager": pager("/care/visits", &[("tab", tab.to_string()), ("region", region_qs)], page, listing.total, PAGE_SIZE),
        }),
    );
    render("care_visits.html", ctx)
}

// ---------------------------------------------------------------------------------------
// One person

#[derive(Deserialize, Default)]
pub(super) struct OneQuery {
    page: Option<String>,
    /// Set by the redirect after a visit was recorded, to say so.
    recorded: Option<String>,
}

/// The record-a-visit form as posted (and shown back after a refusal).
#[derive(Deserialize, Default)]
pub(super) struct VisitForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    visited_at: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    concerns: Vec<String>,
    #[serde(default)]
    photos: Vec<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct PlanForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    interval_days: String,
    /// "hand" (the interval typed) or "rules" (back to the rules' plan).
    #[serde(default)]
    plan: String,
}

#[derive(Deserialize, Default)]
pub(super) struct EndForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// A refusal of one of the page's forms: which form, the message and the field it names.
#[derive(Default)]
struct Refusal<'a> {
    form: &'static str,
    message: String,
    field: Option<&'static str>,
    visit: Option<&'a VisitForm>,
    interval: Option<String>,
}

fn visit_view(lang: Lang, v: &Visit) -> Value {
    let mode = VisitMode::parse(&v.mode)
        .map(|m| i18n::text(lang, m.text_key()).to_string())
        .unwrap_or_else(|_| v.mode.clone());
    let concerns: Vec<String> = v
        .concerns
        .iter()
        .map(|c| {
            Concern::parse(c)
                .map(|c| i18n::text(lang, c.text_key()).to_string())
                .unwrap_or_else(|_| c.clone())
        })
        .collect();
    let photos: Vec<String> = v
        .photos
        .iter()
        .map(|p| {
            format!(
                "/api/v1/care/enrolments/{}/visits/{}/photos/{p}",
                v.enrolment_id, v.id
            )
        })
        .collect();
    json!({
        "id": v.id,
        "time": time(v.visited_at),
        "mode": v.mode,
        "mode_name": mode,
        "visitor": v.visitor,
        "note": v.note,
        "concerns": concerns,
        "on_time": v.on_time,
        "photos": photos,
    })
}

/// The China-time minute of `ms` as a `datetime-local` field wants it.
fn local_input(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%dT%H:%M")
}

async fn one_context(
    state: &AppState,
    lang: Lang,
    s: &Session,
    e: &Enrolment,
    page: i64,
    refusal: Refusal<'_>,
) -> AppResult<Value> {
    let now = linli_store::now_ms();
    let visits = state
        .store
        .care_visits(
            e.id,
            None,
            Page::new(Some((page - 1) * PAGE_SIZE), Some(PAGE_SIZE)),
        )
        .await?;
    let can_manage = s.user.role.allows(Permission::ManageRegistry);
    let form = match refusal.visit {
        Some(f) => json!({
            "visited_at": f.visited_at,
            "mode": f.mode,
            "note": f.note,
            "concerns": f.concerns,
            "photos": f.photos.iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>(),
        }),
        None => {
            json!({"visited_at": local_input(now), "mode": "home", "note": "", "concerns": [], "photos": []})
        }
    };
    let modes: Vec<Value> = VisitMode::ALL
        .iter()
        .map(|m| json!({"value": m.code(), "label": i18n::text(lang, m.text_key())}))
        .collect();
    let concerns: Vec<Value> = Concern::ALL
        .iter()
        .map(|c| json!({"value": c.code(), "label": i18n::text(lang, c.text_key())}))
        .collect();
    let reasons: Vec<Value> = EndReason::ALL
        .iter()
        .map(|r| json!({"value": r.code(), "label": i18n::text(lang, r.text_key())}))
        .collect();
    let path = format!("/care/visits/{}", e.id);
    let errors = json!({
        "form": refusal.form,
        "message": refusal.message,
        "field": refusal.field,
    });
    let name = e.name.clone().unwrap_or_default();
    Ok(merge(
        header(lang, s, &path),
        json!({
            "e": enrolment_view(lang, e, now),
            "active": e.ended_at.is_none(),
            "visits": visits.items.iter().map(|v| visit_view(lang, v)).collect::<Vec<_>>(),
            "visits_total": visits.total,
            "pager": pager(&path, &[], page, visits.total, PAGE_SIZE),
            "can_manage": can_manage,
            "form": form,
            "modes": modes,
            "concern_options": concerns,
            "reasons": reasons,
            "errors": errors,
            "interval_typed": refusal.interval.unwrap_or_else(|| e.interval_days.to_string()),
            "end_confirm": i18n::format(lang, "cp.visit.end_confirm", &[("name", &name)]),
        }),
    ))
}

fn parse_id(raw: &str) -> AppResult<i64> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("care enrolment {raw}")))
}

pub(super) async fn one(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<String>,
    Query(q): Query<OneQuery>,
) -> AppResult<Response> {
    if let Some(away) = check(&s)? {
        return Ok(away);
    }
    let id = parse_id(&id)?;
    let e = visible_enrolment(&state, &s.user, id).await?;
    let page = page_number(q.page.as_deref());
    let mut ctx = one_context(&state, lang, &s, &e, page, Refusal::default()).await?;
    ctx["recorded"] = json!(q.recorded.is_some());
    render("care_visit.html", ctx)
}

/// After a refusal: the page again with the message beside its form and what was typed.
async fn refused(
    state: &AppState,
    lang: Lang,
    s: &Session,
    id: i64,
    e: AppError,
    mut refusal: Refusal<'_>,
) -> AppResult<Response> {
    if !matches!(e, AppError::Problem(..)) {
        return Err(e);
    }
    let status = e.status();
    refusal.message = e.message(lang);
    refusal.field = e.field();
    let en = visible_enrolment(state, &s.user, id).await?;
    let page = render(
        "care_visit.html",
        one_context(state, lang, s, &en, 1, refusal).await?,
    )?;
    Ok(with_status(status, page))
}

/// A `datetime-local` value (China time, no offset) as the API's RFC 3339; anything else is
/// passed on for the API's check to refuse in words.
fn visit_time(raw: &str) -> Option<String> {
    let raw = blank(Some(raw))?;
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, f) {
            return Some(format!("{}+08:00", t.format("%Y-%m-%dT%H:%M:%S")));
        }
    }
    Some(raw.to_string())
}

pub(super) async fn record(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<VisitForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    let id = parse_id(&id)?;
    let body = VisitBody {
        visited_at: visit_time(&form.visited_at),
        mode: form.mode.trim().to_string(),
        note: form.note.trim().to_string(),
        concerns: form.concerns.clone(),
        photos: form
            .photos
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
    };
    match record_checked(&state, &s.user, addr, id, body).await {
        Ok(_) => Ok(Redirect::to(&format!("/care/visits/{id}?recorded=1#visits")).into_response()),
        Err(e) => {
            let refusal = Refusal {
                form: "visit",
                visit: Some(&form),
                ..Refusal::default()
            };
            refused(&state, lang, s, id, e, refusal).await
        }
    }
}

pub(super) async fn plan(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<PlanForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    if !s.user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let id = parse_id(&id)?;
    let result = async {
        let interval = if form.plan == "rules" {
            None
        } else {
            // The page's field is text: say so when it is not a number.
            let raw = form.interval_days.trim();
            Some(raw.parse::<i64>().map_err(|_| {
                AppError::bad_request(
                    Problem::new("care_bad_interval", "cp.visit.bad_interval")
                        .arg("value", raw)
                        .field("interval_days"),
                )
            })?)
        };
        replan_checked(&state, &s.user, addr, id, interval).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/care/visits/{id}")).into_response()),
        Err(e) => {
            let refusal = Refusal {
                form: "plan",
                interval: Some(form.interval_days.clone()),
                ..Refusal::default()
            };
            refused(&state, lang, s, id, e, refusal).await
        }
    }
}

pub(super) async fn end(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<EndForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    if !s.user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let id = parse_id(&id)?;
    let result = end_checked(&state, &s.user, addr, id, &form.reason).await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/care/visits/{id}")).into_response()),
        Err(e) => {
            let refusal = Refusal {
                form: "end",
                ..Refusal::default()
            };
            refused(&state, lang, s, id, e, refusal).await
        }
    }
}
