//! The buildings' pages: the list, a building's record with its households, and the forms
//! that register, edit and delete a building.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Form, Query};
use linli_core::grid::Source;
use linli_core::i18n::Lang;
use linli_core::{Permission, Problem, RegionCode};
use linli_store::registry::{Building, BuildingInput, Page};
use linli_store::{Session, StoreError, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{
    default_place, errors_json, form_problem, opt_f64, opt_i64, opt_int, opt_num, writable_places,
    CsrfForm, FormPage,
};
use super::households::household_row;
use super::lists::{
    page_number, page_of, pager, place_options, query_string, region_name, source_json,
    with_current, DoneQuery, PlainListQuery, RegionQuery,
};
use super::{
    base, blank, done_text, in_area, merge, render, require, view_range, with_status,
    writable_place, MAX_OPTIONS,
};
use crate::api::actor;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

fn building_row(lang: Lang, b: &Building) -> Value {
    json!({
        "id": b.id,
        "name": b.name,
        "address": b.address,
        "lon": b.lon,
        "lat": b.lat,
        "floors": b.floors,
        "units": b.units,
        "households": b.households,
        "region": b.region.to_string(),
        "source": source_json(lang, b.source),
    })
}

pub(super) async fn buildings_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<PlainListQuery>,
) -> AppResult<Response> {
    let (range, _) = view_range(&s.user, q.region.as_deref())?;
    let text = blank(q.q.as_deref()).map(str::to_string);
    let page = page_number(q.page.as_deref());
    let listing = state
        .store
        .buildings(range, text.as_deref(), page_of(page))
        .await?;
    let region = blank(q.region.as_deref()).unwrap_or("").to_string();
    let pairs: Vec<(&str, String)> = vec![
        ("region", region.clone()),
        ("q", text.clone().unwrap_or_default()),
    ];
    let ctx = merge(
        base(
            lang,
            &s,
            &format!("/registry/buildings{}", query_string(&pairs)),
        ),
        json!({
            "rows": listing.items.iter().map(|b| building_row(lang, b)).collect::<Vec<_>>(),
            "pager": pager("/registry/buildings", &pairs, page, listing.total),
            "export": format!("/api/v1/buildings/export{}", query_string(&pairs)),
            "filter": {"region": region, "q": text.unwrap_or_default()},
            "places": with_current(place_options(&state, &s.user, false).await?, &region),
            "region_qs": query_string(&[("region", region.clone())]),
            "done": done_text(lang, q.done.as_deref()),
        }),
    );
    render("registry_buildings.html", ctx)
}

async fn find_building(state: &AppState, user: &User, id: i64) -> AppResult<Building> {
    require(user, Permission::ViewRegistry)?;
    in_area(user, state.store.building(id).await?, |b| b.region)
}

async fn building_detail(
    state: &AppState,
    lang: Lang,
    s: &Session,
    b: &Building,
    done: Option<&str>,
    error: Option<String>,
) -> AppResult<Response> {
    let households = state
        .store
        .households(
            b.community.range(),
            Some(b.id),
            None,
            None,
            Page {
                offset: 0,
                limit: MAX_OPTIONS,
            },
        )
        .await?;
    let ctx = merge(
        base(lang, s, &format!("/registry/buildings/{}", b.id)),
        json!({
            "b": building_row(lang, b),
            "community": {"code": b.community.to_string(), "name": region_name(state, lang, Some(b.community)).await?},
            "households": households.items.iter().map(|h| household_row(lang, h)).collect::<Vec<_>>(),
            "households_total": households.total,
            "done": done_text(lang, done),
            "error": error,
        }),
    );
    render("registry_building.html", ctx)
}

pub(super) async fn building_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let b = find_building(&state, &s.user, id).await?;
    building_detail(&state, lang, &s, &b, q.done.as_deref(), None).await
}

#[derive(Deserialize, Default)]
pub(super) struct BuildingForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    floors: String,
    #[serde(default)]
    units: String,
}

const BUILDING_FIELDS: &[&str] = &["region", "name", "address", "lon", "lat", "floors", "units"];

impl BuildingForm {
    fn json(&self) -> Value {
        json!({"region": self.region, "name": self.name, "address": self.address, "lon": self.lon, "lat": self.lat, "floors": self.floors, "units": self.units})
    }

    fn input(&self, region: Option<RegionCode>) -> AppResult<BuildingInput> {
        Ok(BuildingInput {
            region,
            name: self.name.clone(),
            address: self.address.clone(),
            lon: opt_f64(&self.lon, "lon")?,
            lat: opt_f64(&self.lat, "lat")?,
            floors: opt_i64(&self.floors, "floors")?,
            units: opt_i64(&self.units, "units")?,
        })
    }
}

async fn building_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &BuildingForm,
    page: FormPage,
    problems: &[Problem],
) -> AppResult<Response> {
    let places = writable_places(state, &s.user, &form.region).await?;
    let ctx = merge(
        page.context(lang, s, form.json()),
        json!({
            "places": places,
            "errors": errors_json(lang, problems, BUILDING_FIELDS),
        }),
    );
    render("registry_building_form.html", ctx)
}

pub(super) async fn new_building(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<RegionQuery>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let form = BuildingForm {
        region: default_place(&s.user, q.region.as_deref()),
        ..BuildingForm::default()
    };
    building_form(
        &state,
        lang,
        &s,
        &form,
        FormPage::new_record(
            lang,
            "rp.building.new",
            "/registry/buildings",
            "/registry/buildings".into(),
        ),
        &[],
    )
    .await
}

pub(super) async fn create_building(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<BuildingForm>,
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
                .create_building(&actor(&s.user, Some(addr)), input, Source::Manual)
                .await?,
        )
    }
    .await;
    match result {
        Ok(b) => {
            Ok(Redirect::to(&format!("/registry/buildings/{}?done=created", b.id)).into_response())
        }
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let res = building_form(
                &state,
                lang,
                s,
                &form,
                FormPage::new_record(
                    lang,
                    "rp.building.new",
                    "/registry/buildings",
                    "/registry/buildings".into(),
                ),
                &[p],
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

fn building_edit_page(lang: Lang, b: &Building) -> FormPage {
    FormPage::edit(lang, &b.name, format!("/registry/buildings/{}", b.id))
}

pub(super) async fn edit_building(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let b = find_building(&state, &s.user, id).await?;
    let form = BuildingForm {
        csrf: String::new(),
        region: b.region.to_string(),
        name: b.name.clone(),
        address: b.address.clone(),
        lon: opt_num(b.lon),
        lat: opt_num(b.lat),
        floors: opt_int(b.floors),
        units: opt_int(b.units),
    };
    building_form(&state, lang, &s, &form, building_edit_page(lang, &b), &[]).await
}

pub(super) async fn update_building(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<BuildingForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let b = find_building(&state, &s.user, id).await?;
    let result = async {
        let region = writable_place(&s.user, &form.region)?;
        let input = form.input(region)?;
        Ok::<_, AppError>(
            state
                .store
                .update_building(&actor(&s.user, Some(addr)), id, input)
                .await?,
        )
    }
    .await;
    match result {
        Ok(b) => {
            Ok(Redirect::to(&format!("/registry/buildings/{}?done=saved", b.id)).into_response())
        }
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let problems = [p];
            let res = building_form(
                &state,
                lang,
                s,
                &form,
                building_edit_page(lang, &b),
                &problems,
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

pub(super) async fn delete_building(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let b = find_building(&state, &s.user, id).await?;
    match state
        .store
        .delete_building(&actor(&s.user, Some(addr)), id)
        .await
    {
        Ok(()) => Ok(Redirect::to("/registry/buildings?done=deleted").into_response()),
        Err(StoreError::Invalid(p) | StoreError::Conflict(p)) => {
            let res = building_detail(&state, lang, s, &b, None, Some(p.message(lang))).await?;
            Ok(with_status(StatusCode::BAD_REQUEST, res))
        }
        Err(e) => Err(e.into()),
    }
}
