//! The households' pages: the list (by building, tenure or text), a household's record with
//! its residents, and the forms that register, edit and delete a household.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Form, Query};
use linli_core::grid::Source;
use linli_core::i18n::{self, Lang};
use linli_core::region::KeyRange;
use linli_core::registry::Tenure;
use linli_core::{Permission, Problem};
use linli_store::registry::{Household, HouseholdInput, Page, ResidentFilter};
use linli_store::{Session, StoreError, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{
    bad, errors_json, form_problem, id_param, opt_i64, opt_int, CsrfForm, FormPage,
};
use super::lists::{
    page_number, page_of, pager, place_label, place_options, query_string, region_name,
    source_json, with_current, DoneQuery,
};
use super::residents::resident_row;
use super::{
    base, blank, done_text, in_area, merge, render, require, view_range, with_status,
    writable_parent, MAX_OPTIONS,
};
use crate::api::actor;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::registry_api::today;
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct HouseholdListQuery {
    region: Option<String>,
    building: Option<String>,
    tenure: Option<String>,
    q: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

pub(super) fn household_row(lang: Lang, h: &Household) -> Value {
    json!({
        "id": h.id,
        "building": h.building,
        "building_id": h.building_id,
        "unit": h.unit,
        "room": h.room,
        "place": place_label(&h.building, &h.unit, &h.room),
        "tenure": i18n::text(lang, h.tenure.label_key()),
        "size": h.size,
        "residents": h.residents,
        "region": h.region.to_string(),
        "source": source_json(lang, h.source),
    })
}

fn tenure_options(lang: Lang) -> Vec<Value> {
    Tenure::ALL
        .iter()
        .map(|t| json!({"value": t.as_str(), "label": i18n::text(lang, t.label_key())}))
        .collect()
}

async fn building_options(state: &AppState, range: KeyRange) -> AppResult<Vec<Value>> {
    let list = state
        .store
        .buildings(
            range,
            None,
            Page {
                offset: 0,
                limit: MAX_OPTIONS,
            },
        )
        .await?;
    Ok(list
        .items
        .iter()
        .map(|b| json!({"value": b.id.to_string(), "label": b.name}))
        .collect())
}

pub(super) async fn households_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<HouseholdListQuery>,
) -> AppResult<Response> {
    let (range, _) = view_range(&s.user, q.region.as_deref())?;
    let tenure = match blank(q.tenure.as_deref()) {
        None => None,
        Some(t) => Some(Tenure::parse(t).ok_or_else(|| bad("registry.bad_tenure", "tenure", t))?),
    };
    let building = id_param(q.building.as_deref());
    let text = blank(q.q.as_deref()).map(str::to_string);
    let page = page_number(q.page.as_deref());
    let listing = state
        .store
        .households(range, building, tenure, text.as_deref(), page_of(page))
        .await?;
    let region = blank(q.region.as_deref()).unwrap_or("").to_string();
    let pairs: Vec<(&str, String)> = vec![
        ("region", region.clone()),
        ("building", opt_int(building)),
        (
            "tenure",
            tenure.map(|t| t.as_str().to_string()).unwrap_or_default(),
        ),
        ("q", text.clone().unwrap_or_default()),
    ];
    // The export takes the list's filters under the API's names.
    let export: Vec<(&str, String)> = vec![
        ("region", region.clone()),
        ("building_id", opt_int(building)),
        (
            "tenure",
            tenure.map(|t| t.as_str().to_string()).unwrap_or_default(),
        ),
        ("q", text.clone().unwrap_or_default()),
    ];
    let ctx = merge(
        base(
            lang,
            &s,
            &format!("/registry/households{}", query_string(&pairs)),
        ),
        json!({
            "rows": listing.items.iter().map(|h| household_row(lang, h)).collect::<Vec<_>>(),
            "pager": pager("/registry/households", &pairs, page, listing.total),
            "export": format!("/api/v1/households/export{}", query_string(&export)),
            "filter": {"region": region, "building": opt_int(building), "tenure": tenure.map(|t| t.as_str()).unwrap_or(""), "q": text.unwrap_or_default()},
            "places": with_current(place_options(&state, &s.user, false).await?, &region),
            "buildings": building_options(&state, range).await?,
            "tenures": tenure_options(lang),
            "region_qs": query_string(&[("region", region.clone())]),
            "done": done_text(lang, q.done.as_deref()),
        }),
    );
    render("registry_households.html", ctx)
}

async fn find_household(state: &AppState, user: &User, id: i64) -> AppResult<Household> {
    require(user, Permission::ViewRegistry)?;
    in_area(user, state.store.household(id).await?, |h| h.region)
}

async fn household_detail(
    state: &AppState,
    lang: Lang,
    s: &Session,
    h: &Household,
    done: Option<&str>,
    error: Option<String>,
) -> AppResult<Response> {
    let residents = state
        .store
        .residents(
            &ResidentFilter {
                range: h.community.range(),
                tags: Vec::new(),
                q: None,
                household_id: Some(h.id),
                building_id: None,
            },
            Page {
                offset: 0,
                limit: MAX_OPTIONS,
            },
            today(),
        )
        .await?;
    let ctx = merge(
        base(lang, s, &format!("/registry/households/{}", h.id)),
        json!({
            "h": household_row(lang, h),
            "community": {"code": h.community.to_string(), "name": region_name(state, lang, Some(h.community)).await?},
            "residents": residents.items.iter().map(|r| resident_row(lang, r)).collect::<Vec<_>>(),
            "done": done_text(lang, done),
            "error": error,
        }),
    );
    render("registry_household.html", ctx)
}

pub(super) async fn household_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let h = find_household(&state, &s.user, id).await?;
    household_detail(&state, lang, &s, &h, q.done.as_deref(), None).await
}

#[derive(Deserialize, Default)]
pub(super) struct HouseholdForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    building_id: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    room: String,
    #[serde(default)]
    tenure: String,
    #[serde(default)]
    size: String,
}

const HOUSEHOLD_FIELDS: &[&str] = &["building_id", "unit", "room", "tenure", "size"];

impl HouseholdForm {
    fn json(&self) -> Value {
        json!({"building_id": self.building_id, "unit": self.unit, "room": self.room, "tenure": self.tenure, "size": self.size})
    }

    fn input(&self) -> AppResult<HouseholdInput> {
        let building_id = blank(Some(&self.building_id))
            .ok_or_else(|| {
                AppError::bad_request(
                    Problem::new("required", "registry.required").field("building_id"),
                )
            })?
            .parse::<i64>()
            .map_err(|_| bad("rp.bad_integer", "building_id", &self.building_id))?;
        let tenure = Tenure::parse(&self.tenure)
            .ok_or_else(|| bad("registry.bad_tenure", "tenure", &self.tenure))?;
        Ok(HouseholdInput {
            building_id,
            unit: self.unit.trim().to_string(),
            room: self.room.trim().to_string(),
            tenure,
            size: opt_i64(&self.size, "size")?,
        })
    }
}

async fn household_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &HouseholdForm,
    page: FormPage,
    problems: &[Problem],
) -> AppResult<Response> {
    // The buildings of the community the form is about, else of the account's area.
    let range = match id_param(Some(&form.building_id)) {
        Some(b) => match state.store.building(b).await? {
            Some(b) if s.user.scope.contains(b.region) => b.community.range(),
            _ => s.user.scope.range(),
        },
        None => s.user.scope.range(),
    };
    let buildings = with_current(building_options(state, range).await?, &form.building_id);
    let ctx = merge(
        page.context(lang, s, form.json()),
        json!({
            "buildings": buildings,
            "tenures": tenure_options(lang),
            "errors": errors_json(lang, problems, HOUSEHOLD_FIELDS),
        }),
    );
    render("registry_household_form.html", ctx)
}

#[derive(Deserialize, Default)]
pub(super) struct NewHouseholdQuery {
    building: Option<String>,
}

pub(super) async fn new_household(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<NewHouseholdQuery>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let mut form = HouseholdForm {
        tenure: Tenure::Owner.as_str().into(),
        ..HouseholdForm::default()
    };
    let mut back = "/registry/households".to_string();
    if let Some(b) = id_param(q.building.as_deref()) {
        let b = in_area(&s.user, state.store.building(b).await?, |b| b.region)?;
        form.building_id = b.id.to_string();
        back = format!("/registry/buildings/{}", b.id);
    }
    household_form(
        &state,
        lang,
        &s,
        &form,
        FormPage::new_record(lang, "rp.household.new", "/registry/households", back),
        &[],
    )
    .await
}

/// A write puts a household into a building of the caller's area only (the store names an
/// unknown building as a field error).
async fn building_in_area(state: &AppState, user: &User, id: i64) -> AppResult<()> {
    writable_parent(user, state.store.building(id).await?, |b| b.region)
}

pub(super) async fn create_household(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<HouseholdForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let result = async {
        let input = form.input()?;
        building_in_area(&state, &s.user, input.building_id).await?;
        Ok::<_, AppError>(
            state
                .store
                .create_household(&actor(&s.user, Some(addr)), input, Source::Manual)
                .await?,
        )
    }
    .await;
    match result {
        Ok(h) => Ok(
            Redirect::to(&format!("/registry/households/{}?done=created", h.id)).into_response(),
        ),
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let res = household_form(
                &state,
                lang,
                s,
                &form,
                FormPage::new_record(
                    lang,
                    "rp.household.new",
                    "/registry/households",
                    "/registry/households".into(),
                ),
                &[p],
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

fn household_edit_page(lang: Lang, h: &Household) -> FormPage {
    FormPage::edit(
        lang,
        &place_label(&h.building, &h.unit, &h.room),
        format!("/registry/households/{}", h.id),
    )
}

pub(super) async fn edit_household(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let h = find_household(&state, &s.user, id).await?;
    let form = HouseholdForm {
        csrf: String::new(),
        building_id: h.building_id.to_string(),
        unit: h.unit.clone(),
        room: h.room.clone(),
        tenure: h.tenure.as_str().into(),
        size: opt_int(h.size),
    };
    household_form(&state, lang, &s, &form, household_edit_page(lang, &h), &[]).await
}

pub(super) async fn update_household(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<HouseholdForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let h = find_household(&state, &s.user, id).await?;
    let result = async {
        let input = form.input()?;
        building_in_area(&state, &s.user, input.building_id).await?;
        Ok::<_, AppError>(
            state
                .store
                .update_household(&actor(&s.user, Some(addr)), id, input)
                .await?,
        )
    }
    .await;
    match result {
        Ok(h) => {
            Ok(Redirect::to(&format!("/registry/households/{}?done=saved", h.id)).into_response())
        }
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let problems = [p];
            let res = household_form(
                &state,
                lang,
                s,
                &form,
                household_edit_page(lang, &h),
                &problems,
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

pub(super) async fn delete_household(
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
    let h = find_household(&state, &s.user, id).await?;
    match state
        .store
        .delete_household(&actor(&s.user, Some(addr)), id)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!(
            "/registry/buildings/{}?done=deleted",
            h.building_id
        ))
        .into_response()),
        Err(StoreError::Invalid(p) | StoreError::Conflict(p)) => {
            let res = household_detail(&state, lang, s, &h, None, Some(p.message(lang))).await?;
            Ok(with_status(StatusCode::BAD_REQUEST, res))
        }
        Err(e) => Err(e.into()),
    }
}
