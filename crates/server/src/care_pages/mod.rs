//! The care pages (关爱): the alarm console at `/care`, where a worker sees the open alarms
//! of their area as they come (server-sent events from `/api/v1/care/alarms/stream`),
//! acknowledges and resolves them; and the devices page at `/care/devices`, where devices
//! are registered (their credential shown once), their credentials reset, and what they
//! sent that was refused is read beside the broker's state.
//!
//! The pages read and act through the same store calls and checks as the care API
//! (`care_api`, `care_alarms_api`), and tell the live consoles what changed the same way.
//! They work without their script (plain forms, a reload for news); the script adds the live
//! list and acts without leaving the page, by asking for the one row it needs re-rendered
//! here, so that every word still comes from the translation table (keys `cp.*` in
//! linli-core's `care_page_text`, and care's own `care.*`).

use std::sync::OnceLock;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use linli_core::Permission;
use linli_store::User;
use minijinja::Environment;
use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::page_kit;
use crate::AppState;

mod console;
mod devices;
mod enrol;
mod figures;
mod rules;
mod visits;

pub use figures::region_block;

#[cfg(test)]
mod tests;

/// Rows per page of the lists.
pub const PAGE_SIZE: i64 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/care", get(console::page))
        .route("/care/alarms/{id}/row", get(console::row))
        .route("/care/alarms/{id}/acknowledge", post(console::acknowledge))
        .route("/care/alarms/{id}/resolve", post(console::resolve))
        .route("/care/devices", get(devices::page).post(devices::register))
        .route("/care/devices/{device_id}/credential", post(devices::reset))
        .route("/care/visits", get(visits::list))
        .route("/care/visits/enrol", get(enrol::page).post(enrol::enrol))
        .route("/care/visits/rules", get(rules::page).post(rules::save))
        .route("/care/visits/{id}", get(visits::one).post(visits::record))
        .route("/care/visits/{id}/plan", post(visits::plan))
        .route("/care/visits/{id}/end", post(visits::end))
        .route(
            "/static/care.js",
            get(|h: HeaderMap| async move { ASSETS.serve(&h, 0) }),
        )
        .route(
            "/static/care.css",
            get(|h: HeaderMap| async move { ASSETS.serve(&h, 1) }),
        )
}

// ---------------------------------------------------------------------------------------
// The pages' own script and stylesheet (same ETag and cache policy as the events pages').

static ASSETS: page_kit::Assets = page_kit::Assets::new(&[
    (
        "text/javascript; charset=utf-8",
        include_bytes!("../../../../web/static/care.js"),
    ),
    (
        "text/css; charset=utf-8",
        include_bytes!("../../../../web/static/care.css"),
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
        "care_console.html",
        include_str!("../../../../web/templates/care_console.html"),
    ),
    (
        "care_rows.html",
        include_str!("../../../../web/templates/care_rows.html"),
    ),
    (
        "care_devices.html",
        include_str!("../../../../web/templates/care_devices.html"),
    ),
    (
        "care_subnav.html",
        include_str!("../../../../web/templates/care_subnav.html"),
    ),
    (
        "care_visits.html",
        include_str!("../../../../web/templates/care_visits.html"),
    ),
    (
        "care_visit.html",
        include_str!("../../../../web/templates/care_visit.html"),
    ),
    (
        "care_enrol.html",
        include_str!("../../../../web/templates/care_enrol.html"),
    ),
    (
        "care_rules.html",
        include_str!("../../../../web/templates/care_rules.html"),
    ),
    (
        "care_region.html",
        include_str!("../../../../web/templates/care_region.html"),
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

/// Those who read the registry see the care pages (as `care_api::asked_range` lets them
/// read the lists).
fn require_care(user: &User) -> AppResult<()> {
    if user.role.allows(Permission::ViewRegistry) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Residents have their own pages; everyone else needs to read the registry.
fn check(s: &linli_store::Session) -> AppResult<Option<Response>> {
    if s.user.role == linli_core::Role::Resident {
        return Ok(Some(
            axum::response::Redirect::to("/m/events").into_response(),
        ));
    }
    require_care(&s.user)?;
    Ok(None)
}

/// Whether a request comes from the page's script, which wants a fragment or a short
/// message back rather than a whole page or a redirect.
fn from_script(headers: &HeaderMap) -> bool {
    headers.get("x-linli-fragment").is_some()
}
