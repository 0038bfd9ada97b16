//! The hubs' pages (邻里坊 and their spaces): the list, a hub's record with its facilities,
//! and the forms that register, edit and delete a hub, which show every problem of a hub at
//! once.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Form, Query};
use linli_core::grid::Source;
use linli_core::i18n::{self, Lang};
use linli_core::registry::hub::{HubFunction, HubKind, HubModel, HubSpace, SpaceRole};
use linli_core::{Permission, Problem, RegionCode};
use linli_store::registry::{self as reg, Hub, HubInput, Page};
use linli_store::{Session, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::facilities::facility_row;
use super::forms::{
    default_place, errors_json, fmt_num, form_problem, opt_f64, opt_num, opt_string,
    writable_places, CsrfForm, FormPage,
};
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

fn function_label(lang: Lang, f: &str) -> String {
    match HubFunction::parse(f) {
        Some(known) => i18n::text(lang, known.label_key()).to_string(),
        None => f.to_string(),
    }
}

fn hub_row(lang: Lang, h: &Hub) -> Value {
    json!({
        "id": h.id,
        "name": h.name,
        "kind": i18n::text(lang, h.kind.label_key()),
        "model": i18n::text(lang, h.model.label_key()),
        "functions": h.functions.iter().map(|f| function_label(lang, f)).collect::<Vec<_>>(),
        "address": h.address,
        "lon": h.lon,
        "lat": h.lat,
        "spaces": h.spaces.iter().map(|s| json!({
            "role": i18n::text(lang, s.role.label_key()),
            "name": s.name,
            "area": fmt_num(s.area_m2),
            "function": s.function.as_deref().map(|f| function_label(lang, f)),
        })).collect::<Vec<_>>(),
        "area": fmt_num(h.area_m2),
        "region": h.region.to_string(),
        "source": source_json(lang, h.source),
    })
}

pub(super) async fn hubs_page(
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
        .hubs(range, text.as_deref(), page_of(page))
        .await?;
    let region = blank(q.region.as_deref()).unwrap_or("").to_string();
    let pairs: Vec<(&str, String)> = vec![
        ("region", region.clone()),
        ("q", text.clone().unwrap_or_default()),
    ];
    let ctx = merge(
        base(lang, &s, &format!("/registry/hubs{}", query_string(&pairs))),
        json!({
            "rows": listing.items.iter().map(|h| hub_row(lang, h)).collect::<Vec<_>>(),
            "pager": pager("/registry/hubs", &pairs, page, listing.total),
            "filter": {"region": region, "q": text.unwrap_or_default()},
            "places": with_current(place_options(&state, &s.user, false).await?, &region),
            "region_qs": query_string(&[("region", region.clone())]),
            "done": done_text(lang, q.done.as_deref()),
        }),
    );
    render("registry_hubs.html", ctx)
}

async fn find_hub(state: &AppState, user: &User, id: i64) -> AppResult<Hub> {
    require(user, Permission::ViewRegistry)?;
    in_area(user, state.store.hub(id).await?, |h| h.region)
}

pub(super) async fn hub_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let h = find_hub(&state, &s.user, id).await?;
    let types = state.store.facility_types().await?;
    let facilities = state
        .store
        .facilities(
            h.community.range(),
            None,
            None,
            Page {
                offset: 0,
                limit: MAX_OPTIONS,
            },
        )
        .await?;
    let ctx = merge(
        base(lang, &s, &format!("/registry/hubs/{id}")),
        json!({
            "h": hub_row(lang, &h),
            "community": {"code": h.community.to_string(), "name": region_name(&state, lang, Some(h.community)).await?},
            "facilities": facilities.items.iter().filter(|f| f.hub_id == Some(h.id)).map(|f| facility_row(lang, &types, f)).collect::<Vec<_>>(),
            "done": done_text(lang, q.done.as_deref()),
        }),
    );
    render("registry_hub.html", ctx)
}

#[derive(Deserialize, Default)]
pub(super) struct HubForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    functions: Vec<String>,
    #[serde(default)]
    extra_functions: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    space_role: Vec<String>,
    #[serde(default)]
    space_name: Vec<String>,
    #[serde(default)]
    space_area: Vec<String>,
    #[serde(default)]
    space_function: Vec<String>,
}

const HUB_FIELDS: &[&str] = &[
    "region",
    "name",
    "kind",
    "model",
    "functions",
    "address",
    "lon",
    "lat",
    "spaces",
];

/// Blank space rows the hub form offers beyond the ones filled in.
const SPARE_SPACES: usize = 3;

impl HubForm {
    fn spaces(&self) -> Vec<(String, String, String, String)> {
        let n = self
            .space_name
            .len()
            .max(self.space_area.len())
            .max(self.space_role.len());
        let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
        (0..n)
            .map(|i| {
                (
                    at(&self.space_role, i),
                    at(&self.space_name, i),
                    at(&self.space_area, i),
                    at(&self.space_function, i),
                )
            })
            .filter(|(_, name, area, function)| {
                !(name.trim().is_empty() && area.trim().is_empty() && function.trim().is_empty())
            })
            .collect()
    }

    fn json(&self) -> Value {
        let mut spaces: Vec<Value> = self
            .spaces()
            .into_iter()
            .map(|(role, name, area, function)| {
                json!({"role": role, "name": name, "area": area, "function": function})
            })
            .collect();
        for _ in 0..SPARE_SPACES {
            spaces.push(json!({"role": "", "name": "", "area": "", "function": ""}));
        }
        json!({
            "region": self.region, "name": self.name, "kind": self.kind, "model": self.model,
            "functions": self.functions, "extra_functions": self.extra_functions,
            "address": self.address, "lon": self.lon, "lat": self.lat, "spaces": spaces,
        })
    }

    /// The input and every problem the form can see; the floor-area and function rules
    /// come from the store's own check, all at once.
    fn input(&self, region: Option<RegionCode>) -> Result<HubInput, Vec<Problem>> {
        let mut problems = Vec::new();
        let kind = HubKind::parse(&self.kind);
        if kind.is_none() {
            problems.push(
                Problem::new("bad_kind", "registry.bad_hub_kind")
                    .arg("value", &self.kind)
                    .field("kind"),
            );
        }
        let model = HubModel::parse(&self.model);
        if model.is_none() {
            problems.push(
                Problem::new("bad_model", "registry.bad_hub_model")
                    .arg("value", &self.model)
                    .field("model"),
            );
        }
        let mut spaces = Vec::new();
        for (i, (role, name, area, function)) in self.spaces().into_iter().enumerate() {
            let area_m2 = match area.trim().parse::<f64>() {
                Ok(a) => a,
                Err(_) => {
                    problems.push(
                        Problem::new("bad_area", "rp.hub.bad_space_area")
                            .arg("index", i + 1)
                            .arg("value", area.trim())
                            .field("spaces"),
                    );
                    continue;
                }
            };
            let Some(role) = SpaceRole::parse(&role) else {
                problems.push(
                    Problem::new("bad_role", "registry.bad_space_role")
                        .arg("value", &role)
                        .field("spaces"),
                );
                continue;
            };
            spaces.push(HubSpace {
                role,
                name: name.trim().to_string(),
                area_m2,
                function: opt_string(&function),
            });
        }
        let mut functions: Vec<String> = self
            .functions
            .iter()
            .filter(|f| !f.trim().is_empty())
            .cloned()
            .collect();
        for f in self
            .extra_functions
            .split([',', '，', '、', ';', '；', '\n'])
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            if !functions.iter().any(|x| x == f) {
                functions.push(f.to_string());
            }
        }
        let lon = opt_f64(&self.lon, "lon");
        let lat = opt_f64(&self.lat, "lat");
        for e in [&lon, &lat] {
            if let Err(AppError::Problem(_, p)) = e {
                problems.push(p.clone());
            }
        }
        let (Some(kind), Some(model)) = (kind, model) else {
            return Err(problems);
        };
        let input = HubInput {
            region,
            name: self.name.clone(),
            kind,
            model,
            functions,
            address: self.address.clone(),
            lon: lon.ok().flatten(),
            lat: lat.ok().flatten(),
            spaces,
        };
        if let Err(mut more) = reg::hubs::validate(&input) {
            problems.append(&mut more);
        }
        if problems.is_empty() {
            Ok(input)
        } else {
            Err(problems)
        }
    }
}

async fn hub_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &HubForm,
    page: FormPage,
    problems: &[Problem],
) -> AppResult<Response> {
    let places = writable_places(state, &s.user, &form.region).await?;
    let ctx = merge(
        page.context(lang, s, form.json()),
        json!({
            "places": places,
            "kinds": HubKind::ALL.iter().map(|k| json!({"value": k.as_str(), "label": i18n::text(lang, k.label_key())})).collect::<Vec<_>>(),
            "models": HubModel::ALL.iter().map(|m| json!({"value": m.as_str(), "label": i18n::text(lang, m.label_key())})).collect::<Vec<_>>(),
            "roles": SpaceRole::ALL.iter().map(|r| json!({"value": r.as_str(), "label": i18n::text(lang, r.label_key())})).collect::<Vec<_>>(),
            "function_options": HubFunction::ALL.iter().map(|f| json!({
                "value": f.as_str(),
                "label": i18n::text(lang, f.label_key()),
                "checked": form.functions.iter().any(|x| HubFunction::parse(x) == Some(*f)),
            })).collect::<Vec<_>>(),
            "errors": errors_json(lang, problems, HUB_FIELDS),
        }),
    );
    render("registry_hub_form.html", ctx)
}

pub(super) async fn new_hub(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<RegionQuery>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let form = HubForm {
        region: default_place(&s.user, q.region.as_deref()),
        kind: HubKind::Clustered.as_str().into(),
        model: HubModel::ThreePlusX.as_str().into(),
        ..HubForm::default()
    };
    hub_form(
        &state,
        lang,
        &s,
        &form,
        FormPage::new_record(
            lang,
            "rp.hub.new",
            "/registry/hubs",
            "/registry/hubs".into(),
        ),
        &[],
    )
    .await
}

/// The problems of a hub write: the form's own, or the one the store or the access check
/// names; anything else is an error page.
fn hub_failure(e: AppError) -> Result<(StatusCode, Vec<Problem>), AppError> {
    form_problem(e).map(|(s, p)| (s, vec![p]))
}

/// The input of a hub write, or the form again with its problems: a place outside the area
/// or the form's own (all at once).
async fn hub_input(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &HubForm,
    page: impl Fn() -> FormPage,
) -> AppResult<Result<HubInput, Response>> {
    let region = match writable_place(&s.user, &form.region) {
        Ok(r) => r,
        Err(e) => {
            let (status, problems) = hub_failure(e)?;
            let res = hub_form(state, lang, s, form, page(), &problems).await?;
            return Ok(Err(with_status(status, res)));
        }
    };
    match form.input(region) {
        Ok(i) => Ok(Ok(i)),
        Err(problems) => {
            let res = hub_form(state, lang, s, form, page(), &problems).await?;
            Ok(Err(with_status(StatusCode::BAD_REQUEST, res)))
        }
    }
}

pub(super) async fn create_hub(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<HubForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let page = || {
        FormPage::new_record(
            lang,
            "rp.hub.new",
            "/registry/hubs",
            "/registry/hubs".into(),
        )
    };
    let input = match hub_input(&state, lang, s, &form, page).await? {
        Ok(i) => i,
        Err(res) => return Ok(res),
    };
    match state
        .store
        .create_hub(&actor(&s.user, Some(addr)), input, Source::Manual)
        .await
    {
        Ok(h) => Ok(Redirect::to(&format!("/registry/hubs/{}?done=created", h.id)).into_response()),
        Err(e) => {
            let (status, problems) = hub_failure(e.into())?;
            let res = hub_form(&state, lang, s, &form, page(), &problems).await?;
            Ok(with_status(status, res))
        }
    }
}

fn hub_form_of(h: &Hub) -> HubForm {
    HubForm {
        csrf: String::new(),
        region: h.region.to_string(),
        name: h.name.clone(),
        kind: h.kind.as_str().into(),
        model: h.model.as_str().into(),
        functions: h
            .functions
            .iter()
            .filter_map(|f| HubFunction::parse(f).map(|k| k.as_str().to_string()))
            .collect(),
        extra_functions: h
            .functions
            .iter()
            .filter(|f| HubFunction::parse(f).is_none())
            .cloned()
            .collect::<Vec<_>>()
            .join("、"),
        address: h.address.clone(),
        lon: opt_num(h.lon),
        lat: opt_num(h.lat),
        space_role: h.spaces.iter().map(|s| s.role.as_str().into()).collect(),
        space_name: h.spaces.iter().map(|s| s.name.clone()).collect(),
        space_area: h.spaces.iter().map(|s| fmt_num(s.area_m2)).collect(),
        space_function: h
            .spaces
            .iter()
            .map(|s| s.function.clone().unwrap_or_default())
            .collect(),
    }
}

pub(super) async fn edit_hub(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let h = find_hub(&state, &s.user, id).await?;
    hub_form(
        &state,
        lang,
        &s,
        &hub_form_of(&h),
        FormPage::edit(lang, &h.name, format!("/registry/hubs/{id}")),
        &[],
    )
    .await
}

pub(super) async fn update_hub(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<HubForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let h = find_hub(&state, &s.user, id).await?;
    let page = || FormPage::edit(lang, &h.name, format!("/registry/hubs/{id}"));
    let input = match hub_input(&state, lang, s, &form, page).await? {
        Ok(i) => i,
        Err(res) => return Ok(res),
    };
    match state
        .store
        .update_hub(&actor(&s.user, Some(addr)), id, input)
        .await
    {
        Ok(h) => Ok(Redirect::to(&format!("/registry/hubs/{}?done=saved", h.id)).into_response()),
        Err(e) => {
            let (status, problems) = hub_failure(e.into())?;
            let res = hub_form(&state, lang, s, &form, page(), &problems).await?;
            Ok(with_status(status, res))
        }
    }
}

pub(super) async fn delete_hub(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    find_hub(&state, &s.user, id).await?;
    state
        .store
        .delete_hub(&actor(&s.user, Some(addr)), id)
        .await?;
    Ok(Redirect::to("/registry/hubs?done=deleted").into_response())
}
