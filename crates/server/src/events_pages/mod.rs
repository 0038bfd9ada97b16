//! The event pages (事件): the staff inboxes and the event page with the forms for exactly
//! the actions the state machine allows the reader now, the staff report form, the
//! residents' phone pages under `/m/` (report, my reports, one report with rating and
//! reopening), and the leaders' figures page whose cards and charts refresh themselves from
//! the figures API.
//!
//! Every page reads through the same store calls as the JSON API (`events_api`) and checks
//! access the same way: an event the reader may not see answers 404, exactly like one that
//! does not exist; a region outside the reader's area answers the no-access page before
//! anything is read. Which action forms a page shows is decided by `flow::apply` over
//! `Store::event_facts`, the same function the store runs when the form is posted, so a
//! button is offered only when pressing it would succeed.
//!
//! The pages have their own template environment (base.html and web/templates/events_*),
//! with the same `t()` function as every other page: the translation table is the only
//! source of interface text (keys `ep.*` in linli-core's `events_page_text`, plus the
//! events' own `events.*` names of states, actions and refusals).

use std::sync::OnceLock;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use linli_core::{Permission, Problem};
use linli_store::User;
use minijinja::Environment;
use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::page_kit::{self, blank, header as base, merge, page_number, query_string, with_status};
use crate::AppState;

mod dashboard;
mod detail;
mod inbox;
mod photos;
mod report;
mod resident;
mod view;

#[cfg(test)]
mod tests;

/// Rows per page of the lists.
pub const PAGE_SIZE: i64 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(inbox::page))
        .route(
            "/events/new",
            get(report::staff_form).post(report::staff_create),
        )
        .route("/events/dashboard", get(dashboard::page))
        .route("/events/{id}", get(detail::page))
        .route("/events/{id}/act", post(detail::act))
        .route("/m", get(|| async { Redirect::to("/m/events") }))
        .route(
            "/m/report",
            get(report::resident_form).post(report::resident_create),
        )
        .route("/m/events", get(resident::list))
        .route("/m/events/{id}", get(resident::page))
        .route("/m/events/{id}/act", post(resident::act))
        .route("/m/map.json", get(report::map_json))
        .route(
            "/static/events.js",
            get(|h: HeaderMap| async move { ASSETS.serve(&h, 0) }),
        )
        .route(
            "/static/events.css",
            get(|h: HeaderMap| async move { ASSETS.serve(&h, 1) }),
        )
}

// ---------------------------------------------------------------------------------------
// The pages' own script and stylesheet (served here rather than in assets.rs, which belongs
// to the shell; same ETag and cache policy).

static ASSETS: page_kit::Assets = page_kit::Assets::new(&[
    (
        "text/javascript; charset=utf-8",
        include_bytes!("../../../../web/static/events.js"),
    ),
    (
        "text/css; charset=utf-8",
        include_bytes!("../../../../web/static/events.css"),
    ),
]);

// ---------------------------------------------------------------------------------------
// Templates

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../../web/templates/base.html"),
    ),
    (
        "events_macros.html",
        include_str!("../../../../web/templates/events_macros.html"),
    ),
    (
        "events_list.html",
        include_str!("../../../../web/templates/events_list.html"),
    ),
    (
        "events_event.html",
        include_str!("../../../../web/templates/events_event.html"),
    ),
    (
        "events_new.html",
        include_str!("../../../../web/templates/events_new.html"),
    ),
    (
        "events_dashboard.html",
        include_str!("../../../../web/templates/events_dashboard.html"),
    ),
    (
        "events_m_report.html",
        include_str!("../../../../web/templates/events_m_report.html"),
    ),
    (
        "events_m_list.html",
        include_str!("../../../../web/templates/events_m_list.html"),
    ),
    (
        "events_m_event.html",
        include_str!("../../../../web/templates/events_m_event.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| crate::templates::environment(TEMPLATES))
}

fn render(template: &str, ctx: Value) -> AppResult<Response> {
    page_kit::render(env(), template, &ctx)
}

// ---------------------------------------------------------------------------------------
// Access (as the API checks it)

/// Staff who work events; residents are sent to their own pages by the callers.
fn require_staff(user: &User) -> AppResult<()> {
    if user.role.allows(Permission::WorkEvents) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The answer for an event the reader may not see, the same as for one that does not exist.
fn not_found() -> AppError {
    AppError::Problem(
        StatusCode::NOT_FOUND,
        Problem::new("not_found", "ep.not_found"),
    )
}

/// An event id from the path; anything else is an event that does not exist.
fn event_id(raw: &str) -> AppResult<i64> {
    linli_core::events::parse_reference(raw).ok_or_else(not_found)
}

/// Previous and next links of a list.
fn pager(path: &str, pairs: &[(&str, String)], page: i64, total: i64) -> Value {
    page_kit::pager(path, pairs, page, total, PAGE_SIZE)
}
