//! The residents' pages: the list (filtered by tag, text, household or building, with its
//! table alone for htmx), a resident's record with the identifiers masked and the audited
//! reveal, and the forms that register, edit and delete a resident.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Form, Query};
use chrono::NaiveDate;
use linli_core::grid::Source;
use linli_core::i18n::{self, Lang};
use linli_core::registry::{Gender, Relation, Tag};
use linli_core::{Permission, Problem};
use linli_store::registry::{self as reg, PersonalField, Resident, ResidentFilter, ResidentInput};
use linli_store::{Session, StoreError, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{
    bad, errors_json, form_problem, id_param, opt_int, opt_string, CsrfForm, FormPage,
};
use super::lists::{
    page_number, page_of, pager, place_label, place_options, query_string, region_name,
    source_json, with_current, DoneQuery,
};
use super::{
    base, blank, done_text, in_area, is_partial, merge, render, require, view_range, with_status,
    writable_parent,
};
use crate::api::actor;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::registry_api::today;
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct ResidentListQuery {
    region: Option<String>,
    #[serde(default)]
    tag: Vec<String>,
    q: Option<String>,
    page: Option<String>,
    household: Option<String>,
    building: Option<String>,
    done: Option<String>,
}

fn tag_json(lang: Lang, m: &reg::residents::TagMark) -> Value {
    json!({
        "tag": m.tag.as_str(),
        "label": i18n::text(lang, m.tag.label_key()),
        "derived": m.derived,
        "set_by": m.set_by,
        "set_at": m.set_at,
    })
}

pub(super) fn resident_row(lang: Lang, r: &Resident) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "gender": i18n::text(lang, r.gender.label_key()),
        "age": r.age,
        "birth": r.birth.to_string(),
        "id_number": r.id_number,
        "phone": r.phone,
        "place": place_label(&r.building, &r.unit, &r.room),
        "household_id": r.household_id,
        "building_id": r.building_id,
        "region": r.region.to_string(),
        "relation": i18n::text(lang, r.relation.label_key()),
        "tags": r.tags.iter().map(|m| tag_json(lang, m)).collect::<Vec<_>>(),
        "source": source_json(lang, r.source),
    })
}

pub(super) async fn residents_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    headers: HeaderMap,
    PageUser(s): PageUser,
    Query(q): Query<ResidentListQuery>,
) -> AppResult<Response> {
    let (range, _) = view_range(&s.user, q.region.as_deref())?;
    let mut tags: Vec<Tag> = Vec::new();
    for t in q
        .tag
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let tag = Tag::parse(t).ok_or_else(|| bad("registry.bad_tag", "tag", t))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let text = blank(q.q.as_deref()).map(str::to_string);
    let household = id_param(q.household.as_deref());
    let building = id_param(q.building.as_deref());
    let page = page_number(q.page.as_deref());
    let filter = ResidentFilter {
        range,
        tags: tags.clone(),
        q: text.clone(),
        household_id: household,
        building_id: building,
    };
    let listing = state
        .store
        .residents(&filter, page_of(page), today())
        .await?;
    let region = blank(q.region.as_deref()).unwrap_or("").to_string();
    let mut pairs: Vec<(&str, String)> = vec![("region", region.clone())];
    for t in &tags {
        pairs.push(("tag", t.as_str().to_string()));
    }
    pairs.push(("q", text.clone().unwrap_or_default()));
    pairs.push(("household", opt_int(household)));
    pairs.push(("building", opt_int(building)));
    let mut export: Vec<(&str, String)> = vec![("region", region.clone())];
    for t in &tags {
        export.push(("tag", t.as_str().to_string()));
    }
    export.push(("q", text.clone().unwrap_or_default()));
    export.push(("household_id", opt_int(household)));
    export.push(("building_id", opt_int(building)));
    let filtered = !tags.is_empty() || text.is_some() || household.is_some() || building.is_some();
    let table = json!({
        "rows": listing.items.iter().map(|r| resident_row(lang, r)).collect::<Vec<_>>(),
        "pager": pager("/registry/residents", &pairs, page, listing.total),
        "export": format!("/api/v1/residents/export{}", query_string(&export)),
        "filtered": filtered,
        "new_href": household.map(|h| format!("/registry/residents/new?household={h}")),
    });
    let mut ctx = merge(
        base(
            lang,
            &s,
            &format!("/registry/residents{}", query_string(&pairs)),
        ),
        json!({"table": table}),
    );
    if is_partial(&headers) {
        return render("registry_residents_table.html", ctx);
    }
    let tag_options: Vec<Value> = Tag::ALL
        .iter()
        .map(|t| {
            json!({
                "value": t.as_str(),
                "label": i18n::text(lang, t.label_key()),
                "derived": t.is_derived(),
                "checked": tags.contains(t),
            })
        })
        .collect();
    ctx = merge(
        ctx,
        json!({
            "filter": {"region": region, "q": text.unwrap_or_default(), "household": opt_int(household), "building": opt_int(building)},
            "places": with_current(place_options(&state, &s.user, false).await?, &region),
            "tag_options": tag_options,
            "region_qs": query_string(&[("region", region.clone())]),
            "done": done_text(lang, q.done.as_deref()),
        }),
    );
    render("registry_residents.html", ctx)
}

/// One identifier of the detail page, masked, and the form that reveals it.
fn identifier(
    lang: Lang,
    r: &Resident,
    field: PersonalField,
    value: Option<Option<String>>,
    error: Option<String>,
    reason: &str,
) -> Value {
    let (label, masked) = match field {
        PersonalField::IdNumber => ("registry.col.id_number", Some(r.id_number.clone())),
        PersonalField::Phone => ("registry.col.phone", r.phone.clone()),
    };
    json!({
        "field": field.as_str(),
        "label": i18n::text(lang, label),
        "masked": masked,
        "revealed": value.is_some(),
        "value": value.flatten(),
        "error": error,
        "reason": reason,
        "resident": r.id,
    })
}

async fn resident_detail(
    state: &AppState,
    lang: Lang,
    s: &Session,
    r: &Resident,
    done: Option<&str>,
    error: Option<String>,
    identifiers: Vec<Value>,
) -> AppResult<Response> {
    let household = state.store.household(r.household_id).await?;
    let community = region_name(state, lang, Some(r.community)).await?;
    let ctx = merge(
        base(lang, s, &format!("/registry/residents/{}", r.id)),
        json!({
            "r": resident_row(lang, r),
            "community": {"code": r.community.to_string(), "name": community},
            "household": household.map(|h| json!({"id": h.id, "tenure": i18n::text(lang, h.tenure.label_key())})),
            "identifiers": identifiers,
            "renter": r.renter,
            "updated_at": r.updated_at,
            "done": done_text(lang, done),
            "error": error,
        }),
    );
    render("registry_resident.html", ctx)
}

async fn find_resident(state: &AppState, user: &User, id: i64) -> AppResult<Resident> {
    require(user, Permission::ViewRegistry)?;
    in_area(user, state.store.resident(id, today()).await?, |r| r.region)
}

pub(super) async fn resident_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let r = find_resident(&state, &s.user, id).await?;
    let ids = vec![
        identifier(lang, &r, PersonalField::IdNumber, None, None, ""),
        identifier(lang, &r, PersonalField::Phone, None, None, ""),
    ];
    resident_detail(&state, lang, &s, &r, q.done.as_deref(), None, ids).await
}

#[derive(Deserialize)]
pub(super) struct RevealForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    reason: String,
}

/// Shows one identifier in full after the reason is given: the store writes the audit entry
/// before it decrypts. With htmx only the identifier's block is answered.
pub(super) async fn reveal(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<RevealForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::RevealPersonal)?;
    let field = PersonalField::parse(&form.field)
        .ok_or_else(|| bad("registry.bad_reveal_field", "field", &form.field))?;
    let r = find_resident(&state, &s.user, id).await?;
    let (value, error, status) = match state
        .store
        .reveal_resident(&actor(&s.user, Some(addr)), id, field, &form.reason)
        .await
    {
        Ok(v) => (Some(v), None, StatusCode::OK),
        Err(StoreError::Invalid(p)) => (None, Some(p.message(lang)), StatusCode::BAD_REQUEST),
        Err(e) => return Err(e.into()),
    };
    let item = identifier(lang, &r, field, value, error.clone(), &form.reason);
    if is_partial(&headers) {
        // htmx swaps 2xx answers only: the inline error comes with 200.
        let ctx = merge(base(lang, s, ""), json!({"item": item}));
        return render("registry_reveal.html", ctx);
    }
    let mut ids = Vec::new();
    for f in [PersonalField::IdNumber, PersonalField::Phone] {
        if f == field {
            ids.push(item.clone());
        } else {
            ids.push(identifier(lang, &r, f, None, None, ""));
        }
    }
    let res = resident_detail(&state, lang, s, &r, None, None, ids).await?;
    Ok(with_status(status, res))
}

#[derive(Deserialize, Default)]
pub(super) struct ResidentForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    household_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    clear_phone: Option<String>,
    #[serde(default)]
    gender: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    tags: Vec<String>,
}

const RESIDENT_FIELDS: &[&str] = &[
    "household_id",
    "name",
    "id_number",
    "phone",
    "gender",
    "birth_date",
    "relation",
    "tags",
];

impl ResidentForm {
    fn json(&self) -> Value {
        json!({
            "household_id": self.household_id,
            "name": self.name,
            // Identifiers are never sent back in full: typed again, or left as they are.
            "id_number": "",
            "phone": "",
            "gender": self.gender,
            "birth_date": self.birth_date,
            "relation": self.relation,
            "tags": self.tags,
        })
    }

    fn input(&self) -> AppResult<ResidentInput> {
        let household_id = blank(Some(&self.household_id))
            .ok_or_else(|| {
                AppError::bad_request(
                    Problem::new("required", "registry.required").field("household_id"),
                )
            })?
            .parse::<i64>()
            .map_err(|_| bad("rp.bad_integer", "household_id", &self.household_id))?;
        let gender = match blank(Some(&self.gender)) {
            None => None,
            Some(g) => {
                Some(Gender::parse(g).ok_or_else(|| bad("registry.bad_gender", "gender", g))?)
            }
        };
        let birth = match blank(Some(&self.birth_date)) {
            None => None,
            Some(d) => Some(
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| bad("registry.bad_date", "birth_date", d))?,
            ),
        };
        let relation = match blank(Some(&self.relation)) {
            None => Relation::Other,
            Some(r) => {
                Relation::parse(r).ok_or_else(|| bad("registry.bad_relation", "relation", r))?
            }
        };
        let mut tags = Vec::new();
        for t in self.tags.iter().filter(|t| !t.trim().is_empty()) {
            let tag = Tag::parse(t).ok_or_else(|| bad("registry.bad_tag", "tags", t))?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(ResidentInput {
            household_id,
            name: self.name.clone(),
            id_number: self.id_number.trim().to_string(),
            phone: opt_string(&self.phone),
            gender,
            birth,
            relation,
            tags,
        })
    }
}

async fn resident_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    current: Option<&Resident>,
    form: &ResidentForm,
    page: FormPage,
    problems: &[Problem],
) -> AppResult<Response> {
    let household = match id_param(Some(&form.household_id)) {
        Some(h) => state
            .store
            .household(h)
            .await?
            .filter(|h| s.user.scope.contains(h.region))
            .map(|h| json!({"id": h.id, "place": place_label(&h.building, &h.unit, &h.room)})),
        None => None,
    };
    let ctx = merge(
        page.context(lang, s, form.json()),
        json!({
            "household": household,
            "current": current.map(|r| json!({"id_number": r.id_number, "phone": r.phone})),
            "genders": Gender::ALL.iter().map(|g| json!({"value": g.as_str(), "label": i18n::text(lang, g.label_key())})).collect::<Vec<_>>(),
            "relations": Relation::ALL.iter().map(|r| json!({"value": r.as_str(), "label": i18n::text(lang, r.label_key())})).collect::<Vec<_>>(),
            "tag_options": Tag::ASSIGNED.iter().map(|t| json!({"value": t.as_str(), "label": i18n::text(lang, t.label_key()), "checked": form.tags.iter().any(|x| Tag::parse(x) == Some(*t))})).collect::<Vec<_>>(),
            "errors": errors_json(lang, problems, RESIDENT_FIELDS),
        }),
    );
    render("registry_resident_form.html", ctx)
}

#[derive(Deserialize, Default)]
pub(super) struct NewResidentQuery {
    household: Option<String>,
}

pub(super) async fn new_resident(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<NewResidentQuery>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let mut form = ResidentForm::default();
    if let Some(h) = id_param(q.household.as_deref()) {
        let h = in_area(&s.user, state.store.household(h).await?, |h| h.region)?;
        form.household_id = h.id.to_string();
    }
    let back = new_back(&form);
    resident_form(
        &state,
        lang,
        &s,
        None,
        &form,
        FormPage::new_record(lang, "rp.resident.new", "/registry/residents", back),
        &[],
    )
    .await
}

/// Where a new resident's form leads back to: the household it is for, else the list.
fn new_back(form: &ResidentForm) -> String {
    match id_param(Some(&form.household_id)) {
        Some(h) => format!("/registry/households/{h}"),
        None => "/registry/residents".to_string(),
    }
}

/// A write puts a resident into a household of the caller's area only (the store names an
/// unknown household as a field error).
async fn household_in_area(state: &AppState, user: &User, id: i64) -> AppResult<()> {
    writable_parent(user, state.store.household(id).await?, |h| h.region)
}

pub(super) async fn create_resident(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<ResidentForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let result = async {
        let input = form.input()?;
        household_in_area(&state, &s.user, input.household_id).await?;
        Ok::<_, AppError>(
            state
                .store
                .create_resident(&actor(&s.user, Some(addr)), input, Source::Manual, today())
                .await?,
        )
    }
    .await;
    match result {
        Ok(r) => {
            Ok(Redirect::to(&format!("/registry/residents/{}?done=created", r.id)).into_response())
        }
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let back = new_back(&form);
            let res = resident_form(
                &state,
                lang,
                s,
                None,
                &form,
                FormPage::new_record(lang, "rp.resident.new", "/registry/residents", back),
                &[p],
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

pub(super) async fn edit_resident(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let r = find_resident(&state, &s.user, id).await?;
    let form = ResidentForm {
        household_id: r.household_id.to_string(),
        name: r.name.clone(),
        gender: r.gender.as_str().to_string(),
        birth_date: r.birth.to_string(),
        relation: r.relation.as_str().to_string(),
        tags: r
            .tags
            .iter()
            .filter(|m| !m.derived)
            .map(|m| m.tag.as_str().to_string())
            .collect(),
        ..ResidentForm::default()
    };
    resident_form(&state, lang, &s, Some(&r), &form, edit_page(lang, &r), &[]).await
}

fn edit_page(lang: Lang, r: &Resident) -> FormPage {
    FormPage::edit(lang, &r.name, format!("/registry/residents/{}", r.id))
}

pub(super) async fn update_resident(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<ResidentForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let r = find_resident(&state, &s.user, id).await?;
    let who = actor(&s.user, Some(addr));
    let result = async {
        let mut input = form.input()?;
        household_in_area(&state, &s.user, input.household_id).await?;
        // Identifiers left empty stay as they are: the store keeps them encrypted, so the
        // old value is read through the audited reveal, with the edit as its reason.
        let keep = i18n::text(Lang::Zh, "rp.keep_reason");
        let may_reveal = s.user.role.allows(Permission::RevealPersonal);
        if input.id_number.is_empty() {
            if !may_reveal {
                return Err(AppError::bad_request(
                    Problem::new("required", "registry.required").field("id_number"),
                ));
            }
            input.id_number = state
                .store
                .reveal_resident(&who, id, PersonalField::IdNumber, keep)
                .await?
                .unwrap_or_default();
        }
        if form.clear_phone.is_some() {
            input.phone = None;
        } else if input.phone.is_none() && r.phone.is_some() {
            if !may_reveal {
                return Err(AppError::bad_request(
                    Problem::new("required", "registry.required").field("phone"),
                ));
            }
            input.phone = state
                .store
                .reveal_resident(&who, id, PersonalField::Phone, keep)
                .await?;
        }
        Ok::<_, AppError>(
            state
                .store
                .update_resident(&who, id, input, today())
                .await?,
        )
    }
    .await;
    match result {
        Ok(r) => {
            Ok(Redirect::to(&format!("/registry/residents/{}?done=saved", r.id)).into_response())
        }
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let problems = [p];
            let res = resident_form(
                &state,
                lang,
                s,
                Some(&r),
                &form,
                edit_page(lang, &r),
                &problems,
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}

pub(super) async fn delete_resident(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageRegistry)?;
    let r = find_resident(&state, &s.user, id).await?;
    state
        .store
        .delete_resident(&actor(&s.user, Some(addr)), id, today())
        .await?;
    Ok(Redirect::to(&format!(
        "/registry/households/{}?done=deleted",
        r.household_id
    ))
    .into_response())
}
