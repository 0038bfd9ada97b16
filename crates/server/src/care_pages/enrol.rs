//! The enrol page at `/care/visits/enrol?region=CODE`: the residents of a community (or a
//! grid in one) whom the visit rules pick and who are not under care yet, each with the plan
//! the rules give, enrolled one at a time or all at once. Above a community there is no list
//! (the store plans by community), so the page asks to choose one.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Permission, RegionCode};
use linli_store::registry::Page;
use linli_store::Session;
use serde::Deserialize;
use serde_json::{json, Value};

use super::visits::{rule_label, tag_names};
use super::{check, render, PAGE_SIZE};
use crate::auth::PageUser;
use crate::care_visits_api::{enrol_resident, managed_region, viewed_region};
use crate::error::{AppError, AppResult};
use crate::page_kit::{blank, header, merge, page_number, pager, query_string, with_status};
use crate::registry_api::today;
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct EnrolQuery {
    region: Option<String>,
    page: Option<String>,
    /// After enrolling: how many (all) or that one was (one).
    enrolled: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct EnrolForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region: String,
    /// One resident; absent: every candidate of the region.
    #[serde(default)]
    resident_id: String,
}

/// The region the page is about: the one asked for, else the caller's own area.
fn region_of(s: &Session, asked: Option<&str>) -> AppResult<RegionCode> {
    match blank(asked) {
        Some(code) => viewed_region(&s.user, code),
        None => match s.user.scope {
            linli_core::Scope::Region(code) => Ok(code),
            linli_core::Scope::Nation => Err(AppError::bad_request(
                linli_core::Problem::new("care_choose_region", "cp.enrol.choose").field("region"),
            )),
        },
    }
}

async fn context(
    state: &AppState,
    lang: Lang,
    s: &Session,
    region: RegionCode,
    page: i64,
    done: Option<String>,
    error: Option<String>,
) -> AppResult<Value> {
    let name = state
        .store
        .region(region)
        .await?
        .map(|r| r.name)
        .unwrap_or_else(|| region.to_string());
    let plannable =
        (Level::Community.number()..=Level::Grid.number()).contains(&region.level().number());
    let (rows, total) = if plannable {
        let listing = state
            .store
            .care_candidates(
                region,
                today(),
                Page::new(Some((page - 1) * PAGE_SIZE), Some(PAGE_SIZE)),
            )
            .await?;
        let rows: Vec<Value> = listing
            .items
            .iter()
            .map(|c| {
                json!({
                    "resident_id": c.resident_id,
                    "name": c.name,
                    "age": c.age,
                    "tags": tag_names(lang, &c.tags),
                    "address": c.address,
                    "interval": i18n::format(lang, "cp.visits.every", &[("n", &c.interval_days.to_string())]),
                    "rule": rule_label(lang, &c.rule),
                })
            })
            .collect();
        (rows, listing.total)
    } else {
        (Vec::new(), 0)
    };
    let code = region.to_string();
    Ok(merge(
        header(lang, s, "/care/visits/enrol"),
        json!({
            "region": code,
            "region_name": name,
            "plannable": plannable,
            "rows": rows,
            "total": total,
            "can_manage": s.user.role.allows(Permission::ManageRegistry),
            "done": done,
            "error": error,
            "region_qs": query_string(&[("region", code.clone())]),
            "pager": pager("/care/visits/enrol", &[("region", code)], page, total, PAGE_SIZE),
        }),
    ))
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<EnrolQuery>,
) -> AppResult<Response> {
    if let Some(away) = check(&s)? {
        return Ok(away);
    }
    let region = region_of(&s, q.region.as_deref())?;
    let done = blank(q.enrolled.as_deref()).map(|n| {
        if n == "one" {
            i18n::text(lang, "cp.enrol.done_one").to_string()
        } else {
            i18n::format(lang, "cp.enrol.done_all", &[("count", n)])
        }
    });
    let page = page_number(q.page.as_deref());
    let ctx = context(&state, lang, &s, region, page, done, None).await?;
    render("care_enrol.html", ctx)
}

pub(super) async fn enrol(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<EnrolForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    let region = managed_region(&s.user, form.region.trim())?;
    let result = match blank(Some(&form.resident_id)) {
        Some(raw) => match raw.parse::<i64>() {
            Ok(id) => enrol_resident(&state, &s.user, addr, id, None)
                .await
                .map(|_| "one".to_string()),
            Err(_) => Err(AppError::NotFound(format!("resident {raw}"))),
        },
        None => state
            .store
            .enrol_candidates(&crate::api::actor(&s.user, Some(addr)), region, today())
            .await
            .map(|n| n.to_string())
            .map_err(AppError::from),
    };
    match result {
        Ok(done) => Ok(Redirect::to(&format!(
            "/care/visits/enrol{}",
            query_string(&[("region", region.to_string()), ("enrolled", done)])
        ))
        .into_response()),
        Err(e @ AppError::Problem(..)) => {
            let status = e.status();
            let ctx = context(&state, lang, s, region, 1, None, Some(e.message(lang))).await?;
            Ok(with_status(status, render("care_enrol.html", ctx)?))
        }
        Err(e) => Err(e),
    }
}
