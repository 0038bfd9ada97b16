//! The facilities' pages: the list (by type or text), a facility's record with its type's
//! walking circle and its hub, and the forms that register, edit and delete a facility.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Form, Query};
use linli_core::grid::Source;
use linli_core::i18n::{self, Lang};
use linli_core::registry::facility::{Category, FacilityType};
use linli_core::{Permission, Problem, RegionCode};
use linli_store::registry::{Facility, FacilityInput, Page};
use linli_store::{Session, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{
    default_place, errors_json, fmt_num, form_problem, opt_f64, opt_i64, opt_int, opt_num,
    writable_places, CsrfForm, FormPage,
};
use super::lists::{
    page_number, page_of, pager, place_options, query_string, region_name, source_json,
    with_current, DoneQuery, PlainListQuery,
};
use super::{
    base, blank, done_text, in_area, merge, render, require, view_range, with_status,
    writable_place, MAX_OPTIONS,
};
use crate::api::actor;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

/// The typology as grouped select options: the 8 categories, their types by name.
fn type_groups(lang: Lang, types: &[FacilityType]) -> Vec<Value> {
    Category::ALL
        .iter()
        .map(|c| {
            json!({
                "label": i18n::text(lang, c.label_key()),
                "options": types.iter().filter(|t| t.category == *c).map(|t| json!({"value": t.code, "label": t.name(lang)})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn type_name(lang: Lang, types: &[FacilityType], code: &str) -> String {
    types
        .iter()
        .find(|t| t.code == code)
        .map(|t| t.name(lang).to_string())
        .unwrap_or_else(|| code.to_string())
}

pub(super) fn facility_row(lang: Lang, types: &[FacilityType], f: &Facility) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "type": f.type_code,
        "type_name": type_name(lang, types, &f.type_code),
        "category": types.iter().find(|t| t.code == f.type_code).map(|t| i18n::text(lang, t.category.label_key())),
        "address": f.address,
        "lon": f.lon,
        "lat": f.lat,
        "area": f.floor_area_m2.map(fmt_num),
        "hub_id": f.hub_id,
        "region": f.region.to_string(),
        "source": source_json(lang, f.source),
    })
}

pub(super) async fn facilities_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<PlainListQuery>,
) -> AppResult<Response> {
    let (range, _) = view_range(&s.user, q.region.as_deref())?;
    let text = blank(q.q.as_deref()).map(str::to_string);
    let type_code = blank(q.type_code.as_deref()).map(str::to_string);
    let page = page_number(q.page.as_deref());
    let types = state.store.facility_types().await?;
    let listing = state
        .store
        .facilities(range, type_code.as_deref(), text.as_deref(), page_of(page))
        .await?;
    let region = blank(q.region.as_deref()).unwrap_or("").to_string();
    let pairs: Vec<(&str, String)> = vec![
        ("region", region.clone()),
        ("type", type_code.clone().unwrap_or_default()),
        ("q", text.clone().unwrap_or_default()),
    ];
    let ctx = merge(
        base(
            lang,
            &s,
            &format!("/registry/facilities{}", query_string(&pairs)),
        ),
        json!({
            "rows": listing.items.iter().map(|f| facility_row(lang, &types, f)).collect::<Vec<_>>(),
            "pager": pager("/registry/facilities", &pairs, page, listing.total),
            "export": format!("/api/v1/facilities/export{}", query_string(&pairs)),
            "filter": {"region": region, "type": type_code.unwrap_or_default(), "q": text.unwrap_or_default()},
            "places": with_current(place_options(&state, &s.user, false).await?, &region),
            "type_groups": type_groups(lang, &types),
            "region_qs": query_string(&[("region", region.clone())]),
            "done": done_text(lang, q.done.as_deref()),
        }),
    );
    render("registry_facilities.html", ctx)
}

async fn find_facility(state: &AppState, user: &User, id: i64) -> AppResult<Facility> {
    require(user, Permission::ViewRegistry)?;
    in_area(user, state.store.facility(id).await?, |f| f.region)
}

async fn facility_detail(
    state: &AppState,
    lang: Lang,
    s: &Session,
    f: &Facility,
    done: Option<&str>,
    error: Option<String>,
) -> AppResult<Response> {
    let types = state.store.facility_types().await?;
    let hub = match f.hub_id {
        Some(h) => state
            .store
            .hub(h)
            .await?
            .map(|h| json!({"id": h.id, "name": h.name})),
        None => None,
    };
    let t = types
        .iter()
        .find(|t| t.code == f.type_code)
        .map(|t| json!({"circle": t.circle_minutes, "radius": t.radius_m}));
    let ctx = merge(
        base(lang, s, &format!("/registry/facilities/{}", f.id)),
        json!({
            "f": facility_row(lang, &types, f),
            "type_info": t,
            "hub": hub,
            "community": {"code": f.community.to_string(), "name": region_name(state, lang, Some(f.community)).await?},
            "done": done_text(lang, done),
            "error": error,
        }),
    );
    render("registry_facility.html", ctx)
}

pub(super) async fn facility_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let f = find_facility(&state, &s.user, id).await?;
    facility_detail(&state, lang, &s, &f, q.done.as_deref(), None).await
}

#[derive(Deserialize, Default)]
pub(super) struct FacilityForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(rename = "type", default)]
    type_code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    floor_area_m2: String,
    #[serde(default)]
    hub_id: String,
}

const FACILITY_FIELDS: &[&str] = &[
    "region",
    "type",
    "name",
    "address",
    "lon",
    "lat",
    "floor_area_m2",
    "hub_id",
];

impl FacilityForm {
    fn json(&self) -> Value {
        json!({"region": self.region, "type": self.type_code, "name": self.name, "address": self.address, "lon": self.lon, "lat": self.lat, "floor_area_m2": self.floor_area_m2, "hub_id": self.hub_id})
    }

    fn input(&self, region: Option<RegionCode>) -> AppResult<FacilityInput> {
        Ok(FacilityInput {
            region,
            type_code: self.type_code.trim().to_string(),
            name: self.name.clone(),
            address: self.address.clone(),
            lon: opt_f64(&self.lon, "lon")?,
            lat: opt_f64(&self.lat, "lat")?,
            floor_area_m2: opt_f64(&self.floor_area_m2, "floor_area_m2")?,
            hub_id: opt_i64(&self.hub_id, "hub_id")?,
        })
    }
}

async fn facility_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &FacilityForm,
    page: FormPage,
    problems: &[Problem],
) -> AppResult<Response> {
    let types = state.store.facility_types().await?;
    let places = writable_places(state, &s.user, &form.region).await?;
    let hubs = state
        .store
        .hubs(
            s.user.scope.range(),
            None,
            Page {
                offset: 0,
                limit: MAX_OPTIONS,
            },
        )
        .await?;
    let hubs: Vec<Value> = hubs
        .items
        .iter()
        .map(|h| json!({"value": h.id.to_string(), "label": h.name}))
        .collect();
    let ctx = merge(
        page.context(lang, s, form.json()),
        json!({
            "places": places,
            "type_groups": type_groups(lang, &types),
            "hubs": with_current(hubs, &form.hub_id),
            "errors": errors_json(lang, problems, FACILITY_FIELDS),
        }),
    );
    render("registry_facility_form.html", ctx)
}

pub(super) async fn new_facility(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<PlainListQuery>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let form = FacilityForm {
        region: default_place(&s.user, q.region.as_deref()),
        type_code: blank(q.type_code.as_deref()).unwrap_or("").to_string(),
        ..FacilityForm::default()
    };
    facility_form(
        &state,
        lang,
        &s,
        &form,
        FormPage::new_record(
            lang,
            "rp.facility.new",
            "/registry/facilities",
            "/registry/facilities".into(),
        ),
        &[],
    )
    .await
}

pub(super) async fn create_facility(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<FacilityForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let result = async {
        let region = writable_place(&s.user, &form.region)?;
        let input = form.input(region)?;
        Ok::<_, AppError>(
            state
                .store
                .create_facility(&actor(&s.user, Some(addr)), input, Source::Manual)
                .await?,
        )
    }
    .await;
    match result {
        Ok(f) => Ok(
            Redirect::to(&format!("/registry/facilities/{}?done=created", f.id)).into_response(),
        ),
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let res = facility_form(
                &state,
                lang,
                s,
                &form,
                FormPage::new_record(
                    lang,
                    "rp.facility.new",
                    "/registry/facilities",
                    "/registry/facilities".into(),
                ),
                &[p],
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

fn facility_edit_page(lang: Lang, f: &Facility) -> FormPage {
    FormPage::edit(lang, &f.name, format!("/registry/facilities/{}", f.id))
}

pub(super) async fn edit_facility(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let f = find_facility(&state, &s.user, id).await?;
    let form = FacilityForm {
        csrf: String::new(),
        region: f.region.to_string(),
        type_code: f.type_code.clone(),
        name: f.name.clone(),
        address: f.address.clone(),
        lon: opt_num(f.lon),
        lat: opt_num(f.lat),
        floor_area_m2: opt_num(f.floor_area_m2),
        hub_id: opt_int(f.hub_id),
    };
    facility_form(&state, lang, &s, &form, facility_edit_page(lang, &f), &[]).await
}

pub(super) async fn update_facility(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<FacilityForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let f = find_facility(&state, &s.user, id).await?;
    let result = async {
        let region = writable_place(&s.user, &form.region)?;
        let input = form.input(region)?;
        Ok::<_, AppError>(
            state
                .store
                .update_facility(&actor(&s.user, Some(addr)), id, input)
                .await?,
        )
    }
    .await;
    match result {
        Ok(f) => {
            Ok(Redirect::to(&format!("/registry/facilities/{}?done=saved", f.id)).into_response())
        }
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let problems = [p];
            let res = facility_form(
                &state,
                lang,
                s,
                &form,
                facility_edit_page(lang, &f),
                &problems,
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

pub(super) async fn delete_facility(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    find_facility(&state, &s.user, id).await?;
    state
        .store
        .delete_facility(&actor(&s.user, Some(addr)), id)
        .await?;
    Ok(Redirect::to("/registry/facilities?done=deleted").into_response())
}
