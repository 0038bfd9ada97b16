//! The registry's pages (人、房、设施): lists, records, forms, the workbook import with its
//! live progress line, and the facility typology. Every page reads through the same store
//! calls as the JSON API and checks access the same way: a place outside the account's area
//! answers the no-access page before anything is read, a record outside it 404 — the same
//! answer as a record that does not exist.
//!
//! The pages have their own template environment (base.html and web/templates/registry_*),
//! with the same `t()` function as every other page: the translation table is the only
//! source of interface text (keys `rp.*` in linli-core's `registry_page_text`).
//!
//! This module holds the routes, the template environment, the access checks and the
//! summary cards (the registry home and the region page); each record kind, the import and
//! the typology have their own file, and the pieces their forms and lists share are in
//! `forms` and `lists`.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use axum_extra::extract::Query;
use linli_core::i18n::{self, Lang};
use linli_core::region::KeyRange;
use linli_core::{Permission, Problem, RegionCode};
use linli_store::{Session, User};
use minijinja::Environment;
use serde_json::{json, Value};

use crate::api::parse_code;
use crate::auth::{require_view, PageUser};
use crate::error::{AppError, AppResult};
use crate::page_kit::{self, blank, merge, with_status};
use crate::registry_api::today;
use crate::{AppState, ReqLang};

mod buildings;
mod facilities;
mod forms;
mod households;
mod hubs;
mod import;
mod lists;
mod residents;
mod types;

#[cfg(test)]
mod tests;

pub use import::Jobs;

use buildings::{
    building_page, buildings_page, create_building, delete_building, edit_building, new_building,
    update_building,
};
use facilities::{
    create_facility, delete_facility, edit_facility, facilities_page, facility_page, new_facility,
    update_facility,
};
use households::{
    create_household, delete_household, edit_household, household_page, households_page,
    new_household, update_household,
};
use hubs::{create_hub, delete_hub, edit_hub, hub_page, hubs_page, new_hub, update_hub};
use import::{import_page, import_report, import_status, import_template, start_import};
use lists::{place_options, query_string, region_name, with_current, RegionQuery};
use residents::{
    create_resident, delete_resident, edit_resident, new_resident, resident_page, residents_page,
    reveal, update_resident,
};
use types::{types_page, update_type};

/// Rows per page of every list.
pub const PAGE_SIZE: i64 = 50;
/// The most options a select of buildings or hubs offers.
const MAX_OPTIONS: i64 = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registry", get(home))
        .route(
            "/registry/residents",
            get(residents_page).post(create_resident),
        )
        .route("/registry/residents/new", get(new_resident))
        .route(
            "/registry/residents/{id}",
            get(resident_page).post(update_resident),
        )
        .route("/registry/residents/{id}/edit", get(edit_resident))
        .route("/registry/residents/{id}/delete", post(delete_resident))
        .route("/registry/residents/{id}/reveal", post(reveal))
        .route(
            "/registry/households",
            get(households_page).post(create_household),
        )
        .route("/registry/households/new", get(new_household))
        .route(
            "/registry/households/{id}",
            get(household_page).post(update_household),
        )
        .route("/registry/households/{id}/edit", get(edit_household))
        .route("/registry/households/{id}/delete", post(delete_household))
        .route(
            "/registry/buildings",
            get(buildings_page).post(create_building),
        )
        .route("/registry/buildings/new", get(new_building))
        .route(
            "/registry/buildings/{id}",
            get(building_page).post(update_building),
        )
        .route("/registry/buildings/{id}/edit", get(edit_building))
        .route("/registry/buildings/{id}/delete", post(delete_building))
        .route(
            "/registry/facilities",
            get(facilities_page).post(create_facility),
        )
        .route("/registry/facilities/new", get(new_facility))
        .route(
            "/registry/facilities/{id}",
            get(facility_page).post(update_facility),
        )
        .route("/registry/facilities/{id}/edit", get(edit_facility))
        .route("/registry/facilities/{id}/delete", post(delete_facility))
        .route("/registry/hubs", get(hubs_page).post(create_hub))
        .route("/registry/hubs/new", get(new_hub))
        .route("/registry/hubs/{id}", get(hub_page).post(update_hub))
        .route("/registry/hubs/{id}/edit", get(edit_hub))
        .route("/registry/hubs/{id}/delete", post(delete_hub))
        .route("/registry/import", get(import_page).post(start_import))
        .route("/registry/import/jobs/{id}", get(import_status))
        .route("/registry/import/report/{token}", get(import_report))
        .route("/registry/import/template/{kind}", get(import_template))
        .route("/registry/facility-types", get(types_page))
        .route("/registry/facility-types/{code}", post(update_type))
        .layer(Extension(Jobs::default()))
}

// ---------------------------------------------------------------------------------------
// Templates

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../../web/templates/base.html"),
    ),
    (
        "registry_macros.html",
        include_str!("../../../../web/templates/registry_macros.html"),
    ),
    (
        "registry_cards.html",
        include_str!("../../../../web/templates/registry_cards.html"),
    ),
    (
        "registry_home.html",
        include_str!("../../../../web/templates/registry_home.html"),
    ),
    (
        "registry_residents.html",
        include_str!("../../../../web/templates/registry_residents.html"),
    ),
    (
        "registry_residents_table.html",
        include_str!("../../../../web/templates/registry_residents_table.html"),
    ),
    (
        "registry_resident.html",
        include_str!("../../../../web/templates/registry_resident.html"),
    ),
    (
        "registry_reveal.html",
        include_str!("../../../../web/templates/registry_reveal.html"),
    ),
    (
        "registry_resident_form.html",
        include_str!("../../../../web/templates/registry_resident_form.html"),
    ),
    (
        "registry_households.html",
        include_str!("../../../../web/templates/registry_households.html"),
    ),
    (
        "registry_household.html",
        include_str!("../../../../web/templates/registry_household.html"),
    ),
    (
        "registry_household_form.html",
        include_str!("../../../../web/templates/registry_household_form.html"),
    ),
    (
        "registry_buildings.html",
        include_str!("../../../../web/templates/registry_buildings.html"),
    ),
    (
        "registry_building.html",
        include_str!("../../../../web/templates/registry_building.html"),
    ),
    (
        "registry_building_form.html",
        include_str!("../../../../web/templates/registry_building_form.html"),
    ),
    (
        "registry_facilities.html",
        include_str!("../../../../web/templates/registry_facilities.html"),
    ),
    (
        "registry_facility.html",
        include_str!("../../../../web/templates/registry_facility.html"),
    ),
    (
        "registry_facility_form.html",
        include_str!("../../../../web/templates/registry_facility_form.html"),
    ),
    (
        "registry_hubs.html",
        include_str!("../../../../web/templates/registry_hubs.html"),
    ),
    (
        "registry_hub.html",
        include_str!("../../../../web/templates/registry_hub.html"),
    ),
    (
        "registry_hub_form.html",
        include_str!("../../../../web/templates/registry_hub_form.html"),
    ),
    (
        "registry_import.html",
        include_str!("../../../../web/templates/registry_import.html"),
    ),
    (
        "registry_import_status.html",
        include_str!("../../../../web/templates/registry_import_status.html"),
    ),
    (
        "registry_types.html",
        include_str!("../../../../web/templates/registry_types.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = crate::templates::environment(TEMPLATES);
        env.add_filter("datetime", datetime);
        env
    })
}

/// `ms | datetime`: UTC+8 local time.
fn datetime(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

fn render_string(template: &str, ctx: &Value) -> AppResult<String> {
    page_kit::render_string(env(), template, ctx)
}

fn render(template: &str, ctx: Value) -> AppResult<Response> {
    page_kit::render(env(), template, &ctx)
}

/// What every signed-in page shows in its header, and what the registry's pages may offer.
fn base(lang: Lang, s: &Session, path: &str) -> Value {
    let u = &s.user;
    merge(
        page_kit::header(lang, s, path),
        json!({
            "can_manage": u.role.allows(Permission::ManageRegistry),
            "can_reveal": u.role.allows(Permission::RevealPersonal),
            "errors": {},
        }),
    )
}

fn done_text(lang: Lang, done: Option<&str>) -> Option<String> {
    match done? {
        d @ ("created" | "saved" | "deleted") => {
            Some(i18n::text(lang, &format!("rp.done.{d}")).to_string())
        }
        _ => None,
    }
}

fn is_partial(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

// ---------------------------------------------------------------------------------------
// Access (as the API checks it)

fn require(user: &User, p: Permission) -> AppResult<()> {
    if user.role.allows(p) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The key range a list covers, and the place named (checked against the area first).
fn view_range(user: &User, region: Option<&str>) -> AppResult<(KeyRange, Option<RegionCode>)> {
    require(user, Permission::ViewRegistry)?;
    match blank(region) {
        Some(code) => {
            let code = parse_code(code, "region")?;
            require_view(user, code)?;
            Ok((code.range(), Some(code)))
        }
        None => Ok((user.scope.range(), None)),
    }
}

fn not_found() -> AppError {
    AppError::Problem(
        StatusCode::NOT_FOUND,
        Problem::new("not_found", "rp.not_found"),
    )
}

/// A record in the caller's area, or 404 (the same whether absent or outside).
fn in_area<T>(user: &User, record: Option<T>, region: impl Fn(&T) -> RegionCode) -> AppResult<T> {
    match record {
        Some(r) if user.scope.contains(region(&r)) => Ok(r),
        _ => Err(not_found()),
    }
}

/// The record a write hangs the new one under (the household of a resident, the building of
/// a household): outside the area the no-access page; an unknown one passes, for the store
/// names it as a field error.
fn writable_parent<T>(
    user: &User,
    parent: Option<T>,
    region: impl Fn(&T) -> RegionCode,
) -> AppResult<()> {
    match parent {
        Some(p) if user.scope.contains(region(&p)) => Ok(()),
        Some(_) => Err(AppError::NoAccess(user.scope)),
        None => Ok(()),
    }
}

/// The place a write names, checked against the area (no-access page outside).
fn writable_place(user: &User, code: &str) -> AppResult<Option<RegionCode>> {
    require(user, Permission::ManageRegistry)?;
    match blank(Some(code)) {
        None => Ok(None),
        Some(c) => {
            let code = parse_code(c, "region")?;
            require_view(user, code)?;
            Ok(Some(code))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Summary cards (the registry home and the region page)

/// The summary cards (figure, label key, link) and the 融合型大社区 among them.
async fn cards(state: &AppState, code: Option<RegionCode>) -> AppResult<(Vec<Value>, Vec<Value>)> {
    let s = state.store.registry_summary(code, today()).await?;
    let region = code.map(|c| c.to_string()).unwrap_or_default();
    let list = |path: &str, tag: Option<&str>| {
        let mut pairs = vec![("region", region.clone())];
        if let Some(t) = tag {
            pairs.push(("tag", t.to_string()));
        }
        format!("/registry/{path}{}", query_string(&pairs))
    };
    let party = s.tags.get("party_member").copied().unwrap_or(0);
    let share = format!("{:.1}%", s.renter_share * 100.0);
    let cards = vec![
        json!({"key": "residents", "label": "rp.card.residents", "value": s.residents, "href": list("residents", None)}),
        json!({"key": "households", "label": "rp.card.households", "value": s.households, "href": list("households", None)}),
        json!({"key": "buildings", "label": "rp.card.buildings", "value": s.buildings, "href": list("buildings", None)}),
        json!({"key": "facilities", "label": "rp.card.facilities", "value": s.facilities, "href": list("facilities", None)}),
        json!({"key": "hubs", "label": "rp.card.hubs", "value": s.hubs, "href": list("hubs", None)}),
        json!({"key": "renter_share", "label": "rp.card.renter_share", "value": share, "href": list("residents", Some("renter"))}),
        json!({"key": "age60", "label": "rp.card.age60", "value": s.age60, "href": list("residents", Some("age60"))}),
        json!({"key": "age80", "label": "rp.card.age80", "value": s.age80, "href": list("residents", Some("age80"))}),
        json!({"key": "under3", "label": "rp.card.under3", "value": s.under3, "href": list("residents", Some("under3"))}),
        json!({"key": "key_elderly", "label": "rp.card.key_elderly", "value": s.key_elderly, "href": list("residents", Some("age60"))}),
        json!({"key": "party_members", "label": "rp.card.party_members", "value": party, "href": list("residents", Some("party_member"))}),
    ];
    let codes: Vec<RegionCode> = s
        .large_communities
        .iter()
        .filter_map(|c| RegionCode::parse(c).ok())
        .collect();
    let regions = if codes.is_empty() {
        Vec::new()
    } else {
        state.store.regions(&codes).await?
    };
    let large = codes
        .iter()
        .map(|c| {
            let name = regions
                .iter()
                .find(|r| r.code == *c)
                .map(|r| r.name.clone())
                .unwrap_or_else(|| c.to_string());
            json!({"code": c.to_string(), "name": name})
        })
        .collect();
    Ok((cards, large))
}

/// The registry's summary cards for the region page, rendered; `None` when the account may
/// not read the registry.
pub async fn region_cards(
    state: &AppState,
    lang: Lang,
    user: &User,
    code: RegionCode,
) -> AppResult<Option<String>> {
    if !user.role.allows(Permission::ViewRegistry) || !user.scope.contains(code) {
        return Ok(None);
    }
    let (cards, large) = cards(state, Some(code)).await?;
    let ctx = json!({
        "lang": lang.code(),
        "cards": cards,
        "large": large,
        "region_qs": query_string(&[("region", code.to_string())]),
        "show_link": true,
    });
    Ok(Some(render_string("registry_cards.html", &ctx)?))
}

async fn home(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<RegionQuery>,
) -> AppResult<Response> {
    let (_, place) = view_range(&s.user, q.region.as_deref())?;
    let code = place.or(s.user.scope.root());
    if let Some(c) = code {
        if state.store.region(c).await?.is_none() {
            return Err(AppError::NotFound(c.to_string()));
        }
    }
    let (cards, large) = cards(&state, code).await?;
    let region = code.map(|c| c.to_string()).unwrap_or_default();
    let places = with_current(place_options(&state, &s.user, false).await?, &region);
    let ctx = merge(
        base(lang, &s, "/registry"),
        json!({
            "region": {"code": region, "name": region_name(&state, lang, code).await?},
            "region_qs": query_string(&[("region", region.clone())]),
            "cards": cards,
            "large": large,
            "places": places,
            "can_typology": s.user.role.allows(Permission::ManageTypology),
        }),
    );
    render("registry_home.html", ctx)
}
