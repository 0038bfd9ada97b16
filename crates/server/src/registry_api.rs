//! The registry's JSON API: residents, households, buildings, facilities, hubs and the
//! facility typology; imports, exports, templates and the audited reveal.
//!
//! A list names its place with `region` (the caller's own area when omitted) and is checked
//! against the caller's area before anything is read. A record fetched by id answers 404
//! alike whether it does not exist or lies outside the area.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::Query as MultiQuery;
use chrono::NaiveDate;
use linli_core::grid::Source;
use linli_core::i18n::{self, Lang};
use linli_core::region::KeyRange;
use linli_core::registry::facility::FacilityType;
use linli_core::registry::hub::{HubKind, HubModel, HubSpace, SpaceRole};
use linli_core::registry::rows::RecordKind;
use linli_core::registry::{Gender, Relation, Tag, Tenure};
use linli_core::{Permission, Problem, RegionCode};
use linli_store::divisions::Quiet;
use linli_store::registry::{
    self as reg, Building, BuildingInput, Facility, FacilityInput, Household, HouseholdInput, Hub,
    HubInput, Page, PersonalField, Resident, ResidentFilter, ResidentInput,
};
use linli_store::User;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{actor, parse_code, ErrorBody, JsonBody};
use crate::auth::{require_view, ApiUser};
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/residents",
            get(list_residents).post(create_resident),
        )
        .route("/api/v1/residents/export", get(export_residents))
        .route(
            "/api/v1/residents/{id}",
            get(get_resident)
                .put(update_resident)
                .delete(delete_resident),
        )
        .route("/api/v1/residents/{id}/reveal", post(reveal_resident))
        .route(
            "/api/v1/households",
            get(list_households).post(create_household),
        )
        .route("/api/v1/households/export", get(export_households))
        .route(
            "/api/v1/households/{id}",
            get(get_household)
                .put(update_household)
                .delete(delete_household),
        )
        .route(
            "/api/v1/buildings",
            get(list_buildings).post(create_building),
        )
        .route("/api/v1/buildings/export", get(export_buildings))
        .route(
            "/api/v1/buildings/{id}",
            get(get_building)
                .put(update_building)
                .delete(delete_building),
        )
        .route(
            "/api/v1/facilities",
            get(list_facilities).post(create_facility),
        )
        .route("/api/v1/facilities/export", get(export_facilities))
        .route(
            "/api/v1/facilities/{id}",
            get(get_facility)
                .put(update_facility)
                .delete(delete_facility),
        )
        .route("/api/v1/hubs", get(list_hubs).post(create_hub))
        .route(
            "/api/v1/hubs/{id}",
            get(get_hub).put(update_hub).delete(delete_hub),
        )
        .route("/api/v1/facility-types", get(list_types))
        .route(
            "/api/v1/facility-types/{code}",
            axum::routing::put(update_type),
        )
        .route("/api/v1/registry/{kind}/import", post(import))
        .route("/api/v1/registry/{kind}/template", get(template))
}

/// Today in China (UTC+8): ages and age tags turn over at Beijing midnight, whatever the
/// server's own time zone.
pub fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

// ---------------------------------------------------------------------------------------
// Access

/// The key range a list covers: `region` if given (checked against the caller's area),
/// else the caller's whole area.
fn list_range(user: &User, region: Option<&str>) -> AppResult<KeyRange> {
    if !user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    match region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(code) => {
            let code = parse_code(code, "region")?;
            require_view(user, code)?;
            Ok(code.range())
        }
        None => Ok(user.scope.range()),
    }
}

/// A record in the caller's area, or 404 (the same whether absent or outside).
fn in_area<T>(user: &User, record: Option<T>, region: impl Fn(&T) -> RegionCode) -> AppResult<T> {
    match record {
        Some(r) if user.scope.contains(region(&r)) => Ok(r),
        _ => Err(AppError::NotFound(String::new())),
    }
}

fn require(user: &User, p: Permission) -> AppResult<()> {
    if user.role.allows(p) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Checks that a place given in a write lies in the caller's area.
fn writable_place(user: &User, code: Option<&str>) -> AppResult<Option<RegionCode>> {
    require(user, Permission::ManageRegistry)?;
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => {
            let code = parse_code(c, "region")?;
            require_view(user, code)?;
            Ok(Some(code))
        }
    }
}

fn bad(code: &'static str, key: &'static str, field: &'static str, value: &str) -> AppError {
    AppError::bad_request(Problem::new(code, key).arg("value", value).field(field))
}

// ---------------------------------------------------------------------------------------
// Shapes

#[derive(Debug, Serialize, ToSchema)]
pub struct TagDto {
    /// age60, age80, under3, under18 (derived from the birth date) or an assigned tag code.
    pub tag: String,
    pub label: String,
    pub derived: bool,
    pub set_by: Option<String>,
    /// Milliseconds since 1970, UTC.
    pub set_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResidentDto {
    pub id: i64,
    pub household_id: i64,
    pub building_id: i64,
    pub building: String,
    pub unit: String,
    pub room: String,
    pub community: String,
    pub region: String,
    pub name: String,
    /// male or female.
    pub gender: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    pub age: i64,
    /// head, spouse, child, parent, grandchild, sibling, tenant or other.
    pub relation: String,
    /// Masked: 330102********1234. Reveal with POST …/reveal.
    pub id_number: String,
    /// Masked: 138****5678.
    pub phone: Option<String>,
    pub tags: Vec<TagDto>,
    pub renter: bool,
    /// manual, imported or generated (demo data).
    pub source: String,
    pub updated_at: i64,
}

fn resident_dto(r: &Resident, lang: Lang) -> ResidentDto {
    ResidentDto {
        id: r.id,
        household_id: r.household_id,
        building_id: r.building_id,
        building: r.building.clone(),
        unit: r.unit.clone(),
        room: r.room.clone(),
        community: r.community.to_string(),
        region: r.region.to_string(),
        name: r.name.clone(),
        gender: r.gender.as_str().into(),
        birth_date: r.birth.to_string(),
        age: r.age,
        relation: r.relation.as_str().into(),
        id_number: r.id_number.clone(),
        phone: r.phone.clone(),
        tags: r
            .tags
            .iter()
            .map(|t| TagDto {
                tag: t.tag.as_str().into(),
                label: i18n::text(lang, t.tag.label_key()).into(),
                derived: t.derived,
                set_by: t.set_by.clone(),
                set_at: t.set_at,
            })
            .collect(),
        renter: r.renter,
        source: r.source.as_str().into(),
        updated_at: r.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResidentPage {
    pub items: Vec<ResidentDto>,
    pub total: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResidentBody {
    pub household_id: i64,
    pub name: String,
    /// 18 characters (GB 11643-1999).
    pub id_number: String,
    pub phone: Option<String>,
    /// Optional; must agree with the ID number.
    pub gender: Option<String>,
    /// Optional (YYYY-MM-DD); must agree with the ID number.
    pub birth_date: Option<String>,
    pub relation: Option<String>,
    /// Assigned tag codes (living_alone, solitary, empty_nest, disabled, low_income,
    /// party_member, volunteer, renter, veteran, watch) or their Chinese names.
    #[serde(default)]
    pub tags: Vec<String>,
}

fn resident_input(b: ResidentBody) -> AppResult<ResidentInput> {
    let gender = match b.gender.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        None => None,
        Some(g) => Some(
            Gender::parse(g)
                .ok_or_else(|| bad("bad_gender", "registry.bad_gender", "gender", g))?,
        ),
    };
    let birth = match b
        .birth_date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => Some(
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| bad("bad_date", "registry.bad_date", "birth_date", d))?,
        ),
    };
    let relation = match b
        .relation
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        None => Relation::Other,
        Some(r) => Relation::parse(r)
            .ok_or_else(|| bad("bad_relation", "registry.bad_relation", "relation", r))?,
    };
    let mut tags = Vec::new();
    for t in &b.tags {
        let tag = Tag::parse(t).ok_or_else(|| bad("bad_tag", "registry.bad_tag", "tags", t))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(ResidentInput {
        household_id: b.household_id,
        name: b.name,
        id_number: b.id_number,
        phone: b.phone,
        gender,
        birth,
        relation,
        tags,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResidentQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
    /// Repeatable; all must hold: age60, age80, under3, under18, living_alone, … (Chinese
    /// names accepted).
    #[serde(default)]
    pub tag: Vec<String>,
    /// A name fragment, or a whole ID number or phone.
    pub q: Option<String>,
    pub household_id: Option<i64>,
    pub building_id: Option<i64>,
    pub offset: Option<i64>,
    /// Default 50, at most 500.
    pub limit: Option<i64>,
}

fn resident_filter(user: &User, q: &ResidentQuery) -> AppResult<ResidentFilter> {
    let range = list_range(user, q.region.as_deref())?;
    let mut tags = Vec::new();
    for t in q
        .tag
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        tags.push(Tag::parse(t).ok_or_else(|| bad("bad_tag", "registry.bad_tag", "tag", t))?);
    }
    Ok(ResidentFilter {
        range,
        tags,
        q: q.q.clone(),
        household_id: q.household_id,
        building_id: q.building_id,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevealBody {
    /// id_number or phone.
    pub field: String,
    /// Why it must be seen in full: kept in the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevealResult {
    pub field: String,
    /// The value in full; null when the resident has none (no phone).
    pub value: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdDto {
    pub id: i64,
    pub building_id: i64,
    pub building: String,
    pub community: String,
    pub region: String,
    pub unit: String,
    pub room: String,
    /// owner or renter.
    pub tenure: String,
    pub size: Option<i64>,
    pub residents: i64,
    pub source: String,
    pub updated_at: i64,
}

fn household_dto(h: &Household) -> HouseholdDto {
    HouseholdDto {
        id: h.id,
        building_id: h.building_id,
        building: h.building.clone(),
        community: h.community.to_string(),
        region: h.region.to_string(),
        unit: h.unit.clone(),
        room: h.room.clone(),
        tenure: h.tenure.as_str().into(),
        size: h.size,
        residents: h.residents,
        source: h.source.as_str().into(),
        updated_at: h.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdPage {
    pub items: Vec<HouseholdDto>,
    pub total: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HouseholdBody {
    pub building_id: i64,
    #[serde(default)]
    pub unit: String,
    pub room: String,
    /// owner or renter (自有 / 租住 accepted).
    pub tenure: String,
    pub size: Option<i64>,
}

fn household_input(b: HouseholdBody) -> AppResult<HouseholdInput> {
    let tenure = Tenure::parse(&b.tenure)
        .ok_or_else(|| bad("bad_tenure", "registry.bad_tenure", "tenure", &b.tenure))?;
    Ok(HouseholdInput {
        building_id: b.building_id,
        unit: b.unit,
        room: b.room,
        tenure,
        size: b.size,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HouseholdQuery {
    pub region: Option<String>,
    pub building_id: Option<i64>,
    /// owner or renter.
    pub tenure: Option<String>,
    pub q: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// The filters of a households export: the list's, without paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct HouseholdExportQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
    pub building_id: Option<i64>,
    /// owner or renter.
    pub tenure: Option<String>,
    pub q: Option<String>,
}

/// A tenure given as a filter: none when blank.
fn tenure_filter(t: Option<&str>) -> AppResult<Option<Tenure>> {
    match t.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Ok(Some(Tenure::parse(t).ok_or_else(|| {
            bad("bad_tenure", "registry.bad_tenure", "tenure", t)
        })?)),
    }
}

/// A text filter of an export: none when blank.
fn text_filter(q: Option<&str>) -> Option<String> {
    q.map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuildingDto {
    pub id: i64,
    pub community: String,
    pub region: String,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floors: Option<i64>,
    pub units: Option<i64>,
    pub households: i64,
    pub source: String,
    pub updated_at: i64,
}

fn building_dto(b: &Building) -> BuildingDto {
    BuildingDto {
        id: b.id,
        community: b.community.to_string(),
        region: b.region.to_string(),
        name: b.name.clone(),
        address: b.address.clone(),
        lon: b.lon,
        lat: b.lat,
        floors: b.floors,
        units: b.units,
        households: b.households,
        source: b.source.as_str().into(),
        updated_at: b.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuildingPage {
    pub items: Vec<BuildingDto>,
    pub total: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BuildingBody {
    /// The community, grid or micro-grid it stands in.
    pub region: String,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floors: Option<i64>,
    pub units: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PlainQuery {
    pub region: Option<String>,
    pub q: Option<String>,
    /// Facilities only: a facility type code.
    #[serde(rename = "type")]
    pub type_code: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// The filters of a buildings export: the list's, without paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BuildingExportQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
    /// A fragment of the name or address.
    pub q: Option<String>,
}

/// The filters of a facilities export: the list's, without paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FacilityExportQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
    /// A fragment of the name or address.
    pub q: Option<String>,
    /// A facility type code.
    #[serde(rename = "type")]
    pub type_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FacilityDto {
    pub id: i64,
    pub community: String,
    pub region: String,
    /// A facility type code (see /api/v1/facility-types).
    #[serde(rename = "type")]
    pub type_code: String,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floor_area_m2: Option<f64>,
    pub hub_id: Option<i64>,
    pub source: String,
    pub updated_at: i64,
}

fn facility_dto(f: &Facility) -> FacilityDto {
    FacilityDto {
        id: f.id,
        community: f.community.to_string(),
        region: f.region.to_string(),
        type_code: f.type_code.clone(),
        name: f.name.clone(),
        address: f.address.clone(),
        lon: f.lon,
        lat: f.lat,
        floor_area_m2: f.floor_area_m2,
        hub_id: f.hub_id,
        source: f.source.as_str().into(),
        updated_at: f.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FacilityPage {
    pub items: Vec<FacilityDto>,
    pub total: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FacilityBody {
    pub region: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub name: String,
    #[serde(default)]
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floor_area_m2: Option<f64>,
    pub hub_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SpaceDto {
    /// main, satellite or room.
    pub role: String,
    pub name: String,
    pub area_m2: f64,
    pub function: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HubDto {
    pub id: i64,
    pub community: String,
    pub region: String,
    pub name: String,
    /// clustered (集聚式), distributed (分散式) or embedded (嵌入式).
    pub kind: String,
    /// 3+x or 1+6+x.
    pub model: String,
    pub functions: Vec<String>,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub spaces: Vec<SpaceDto>,
    pub area_m2: f64,
    pub source: String,
    pub updated_at: i64,
}

fn hub_dto(h: &Hub) -> HubDto {
    HubDto {
        id: h.id,
        community: h.community.to_string(),
        region: h.region.to_string(),
        name: h.name.clone(),
        kind: h.kind.as_str().into(),
        model: h.model.as_str().into(),
        functions: h.functions.clone(),
        address: h.address.clone(),
        lon: h.lon,
        lat: h.lat,
        spaces: h
            .spaces
            .iter()
            .map(|s| SpaceDto {
                role: s.role.as_str().into(),
                name: s.name.clone(),
                area_m2: s.area_m2,
                function: s.function.clone(),
            })
            .collect(),
        area_m2: h.area_m2,
        source: h.source.as_str().into(),
        updated_at: h.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HubPage {
    pub items: Vec<HubDto>,
    pub total: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HubBody {
    pub region: String,
    pub name: String,
    pub kind: String,
    pub model: String,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub spaces: Vec<SpaceDto>,
}

/// Every problem of a hub at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct HubProblems {
    pub error: HubProblemList,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HubProblemList {
    pub code: String,
    pub message: String,
    pub problems: Vec<crate::api::ErrorDetail>,
}

fn hub_input(b: HubBody, region: Option<RegionCode>) -> AppResult<HubInput> {
    let kind = HubKind::parse(&b.kind)
        .ok_or_else(|| bad("bad_kind", "registry.bad_hub_kind", "kind", &b.kind))?;
    let model = HubModel::parse(&b.model)
        .ok_or_else(|| bad("bad_model", "registry.bad_hub_model", "model", &b.model))?;
    let mut spaces = Vec::with_capacity(b.spaces.len());
    for s in b.spaces {
        let role = SpaceRole::parse(&s.role)
            .ok_or_else(|| bad("bad_role", "registry.bad_space_role", "spaces", &s.role))?;
        spaces.push(HubSpace {
            role,
            name: s.name,
            area_m2: s.area_m2,
            function: s.function,
        });
    }
    Ok(HubInput {
        region,
        name: b.name,
        kind,
        model,
        functions: b.functions,
        address: b.address,
        lon: b.lon,
        lat: b.lat,
        spaces,
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FacilityTypeDto {
    pub code: String,
    /// governance, education, elderly, health, culture, commerce, sport or convenience.
    pub category: String,
    pub name_zh: String,
    pub name_en: String,
    /// The life circle: 5, 10 or 15 minutes' walk (GB 50180-2018).
    pub circle_minutes: u8,
    /// The walking radius in metres.
    pub radius_m: u32,
    /// OpenStreetMap tags mapped to this type, as key=value.
    pub osm: Vec<String>,
}

fn type_dto(t: &FacilityType) -> FacilityTypeDto {
    FacilityTypeDto {
        code: t.code.clone(),
        category: t.category.as_str().into(),
        name_zh: t.name_zh.clone(),
        name_en: t.name_en.clone(),
        circle_minutes: t.circle_minutes,
        radius_m: t.radius_m,
        osm: t.osm.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FacilityTypeList {
    pub items: Vec<FacilityTypeDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportParams {
    /// The community the file is for.
    pub community: String,
    /// The file's name (its extension tells .csv from .xlsx when the content does not).
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportDone {
    pub created: usize,
    pub updated: usize,
    pub households_created: usize,
}

// ---------------------------------------------------------------------------------------
// Residents

/// Residents in a place, with tags that must all hold and a text to find; ordered by place,
/// then age (oldest first). ID numbers and phones are masked.
#[utoipa::path(get, path = "/api/v1/residents", tag = "registry", security(("bearer" = [])), params(ResidentQuery),
    responses((status = 200, body = ResidentPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_residents(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    MultiQuery(q): MultiQuery<ResidentQuery>,
) -> AppResult<Json<ResidentPage>> {
    let filter = resident_filter(&s.user, &q)?;
    let page = state
        .store
        .residents(&filter, Page::new(q.offset, q.limit), today())
        .await?;
    Ok(Json(ResidentPage {
        items: page.items.iter().map(|r| resident_dto(r, lang)).collect(),
        total: page.total,
    }))
}

/// One resident, masked, with who set each tag and when.
#[utoipa::path(get, path = "/api/v1/residents/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = ResidentDto), (status = 404, body = ErrorBody)))]
async fn get_resident(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<ResidentDto>> {
    require(&s.user, Permission::ViewRegistry)?;
    let r = in_area(&s.user, state.store.resident(id, today()).await?, |r| {
        r.region
    })?;
    Ok(Json(resident_dto(&r, lang)))
}

/// The household a write puts a resident into must be in the caller's area.
async fn household_in_area(state: &AppState, user: &User, id: i64) -> AppResult<()> {
    match state.store.household(id).await? {
        Some(h) if user.scope.contains(h.region) => Ok(()),
        Some(_) => Err(AppError::NoAccess(user.scope)),
        None => Ok(()), // the store names the unknown household as a field error
    }
}

/// Register a resident.
#[utoipa::path(post, path = "/api/v1/residents", tag = "registry", security(("bearer" = [])), request_body = ResidentBody,
    responses((status = 201, body = ResidentDto), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "ID number registered already")))]
async fn create_resident(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    JsonBody(body): JsonBody<ResidentBody>,
) -> AppResult<(StatusCode, Json<ResidentDto>)> {
    require(&s.user, Permission::ManageRegistry)?;
    let input = resident_input(body)?;
    household_in_area(&state, &s.user, input.household_id).await?;
    let r = state
        .store
        .create_resident(&actor(&s.user, Some(addr)), input, Source::Manual, today())
        .await?;
    Ok((StatusCode::CREATED, Json(resident_dto(&r, lang))))
}

/// Change a resident.
#[utoipa::path(put, path = "/api/v1/residents/{id}", tag = "registry", security(("bearer" = [])), request_body = ResidentBody,
    params(("id" = i64, Path)), responses((status = 200, body = ResidentDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_resident(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ResidentBody>,
) -> AppResult<Json<ResidentDto>> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.resident(id, today()).await?, |r| {
        r.region
    })?;
    let input = resident_input(body)?;
    household_in_area(&state, &s.user, input.household_id).await?;
    let r = state
        .store
        .update_resident(&actor(&s.user, Some(addr)), id, input, today())
        .await?;
    Ok(Json(resident_dto(&r, lang)))
}

/// Delete a resident (moved away, deceased): audited with what was there.
#[utoipa::path(delete, path = "/api/v1/residents/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_resident(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.resident(id, today()).await?, |r| {
        r.region
    })?;
    state
        .store
        .delete_resident(&actor(&s.user, Some(addr)), id, today())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// See one ID number or phone in full. The reason is required and kept, with who and
/// when, in the audit log before the value is returned.
#[utoipa::path(post, path = "/api/v1/residents/{id}/reveal", tag = "registry", security(("bearer" = [])), request_body = RevealBody,
    params(("id" = i64, Path)), responses((status = 200, body = RevealResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn reveal_resident(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<RevealBody>,
) -> AppResult<Json<RevealResult>> {
    require(&s.user, Permission::RevealPersonal)?;
    let field = PersonalField::parse(&body.field).ok_or_else(|| {
        bad(
            "bad_field",
            "registry.bad_reveal_field",
            "field",
            &body.field,
        )
    })?;
    in_area(&s.user, state.store.resident(id, today()).await?, |r| {
        r.region
    })?;
    let value = state
        .store
        .reveal_resident(&actor(&s.user, Some(addr)), id, field, &body.reason)
        .await?;
    Ok(Json(RevealResult {
        field: field.as_str().into(),
        value,
    }))
}

/// The filtered list as an .xlsx workbook (identifiers masked); the export is audited.
#[utoipa::path(get, path = "/api/v1/residents/export", tag = "registry", security(("bearer" = [])), params(ResidentQuery),
    responses((status = 200, description = "an .xlsx workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
async fn export_residents(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    MultiQuery(q): MultiQuery<ResidentQuery>,
) -> AppResult<Response> {
    let filter = resident_filter(&s.user, &q)?;
    let bytes = crate::registry_files::export_residents(
        &state.store,
        &actor(&s.user, Some(addr)),
        &filter,
        lang,
    )
    .await?;
    Ok(crate::registry_files::xlsx_response(
        bytes,
        "residents.xlsx",
    ))
}

// ---------------------------------------------------------------------------------------
// Households

#[utoipa::path(get, path = "/api/v1/households", tag = "registry", security(("bearer" = [])), params(HouseholdQuery),
    responses((status = 200, body = HouseholdPage), (status = 403, body = ErrorBody)))]
async fn list_households(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<HouseholdQuery>,
) -> AppResult<Json<HouseholdPage>> {
    let range = list_range(&s.user, q.region.as_deref())?;
    let tenure = tenure_filter(q.tenure.as_deref())?;
    let page = state
        .store
        .households(
            range,
            q.building_id,
            tenure,
            q.q.as_deref(),
            Page::new(q.offset, q.limit),
        )
        .await?;
    Ok(Json(HouseholdPage {
        items: page.items.iter().map(household_dto).collect(),
        total: page.total,
    }))
}

/// The filtered households as an .xlsx workbook in the import's columns (headers in the
/// caller's language) plus each row's community code: edited, the file imports again into
/// that community. The export is audited.
#[utoipa::path(get, path = "/api/v1/households/export", tag = "registry", security(("bearer" = [])), params(HouseholdExportQuery),
    responses((status = 200, description = "an .xlsx workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_households(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<HouseholdExportQuery>,
) -> AppResult<Response> {
    let filter = crate::registry_files::HouseholdFilter {
        range: list_range(&s.user, q.region.as_deref())?,
        building_id: q.building_id,
        tenure: tenure_filter(q.tenure.as_deref())?,
        q: text_filter(q.q.as_deref()),
    };
    let bytes = crate::registry_files::export_households(
        &state.store,
        &actor(&s.user, Some(addr)),
        &filter,
        lang,
    )
    .await?;
    Ok(crate::registry_files::xlsx_response(
        bytes,
        "households.xlsx",
    ))
}

#[utoipa::path(get, path = "/api/v1/households/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = HouseholdDto), (status = 404, body = ErrorBody)))]
async fn get_household(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<HouseholdDto>> {
    require(&s.user, Permission::ViewRegistry)?;
    let h = in_area(&s.user, state.store.household(id).await?, |h| h.region)?;
    Ok(Json(household_dto(&h)))
}

async fn building_in_area(state: &AppState, user: &User, id: i64) -> AppResult<()> {
    match state.store.building(id).await? {
        Some(b) if user.scope.contains(b.region) => Ok(()),
        Some(_) => Err(AppError::NoAccess(user.scope)),
        None => Ok(()),
    }
}

#[utoipa::path(post, path = "/api/v1/households", tag = "registry", security(("bearer" = [])), request_body = HouseholdBody,
    responses((status = 201, body = HouseholdDto), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_household(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(body): JsonBody<HouseholdBody>,
) -> AppResult<(StatusCode, Json<HouseholdDto>)> {
    require(&s.user, Permission::ManageRegistry)?;
    let input = household_input(body)?;
    building_in_area(&state, &s.user, input.building_id).await?;
    let h = state
        .store
        .create_household(&actor(&s.user, Some(addr)), input, Source::Manual)
        .await?;
    Ok((StatusCode::CREATED, Json(household_dto(&h))))
}

#[utoipa::path(put, path = "/api/v1/households/{id}", tag = "registry", security(("bearer" = [])), request_body = HouseholdBody,
    params(("id" = i64, Path)), responses((status = 200, body = HouseholdDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_household(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<HouseholdBody>,
) -> AppResult<Json<HouseholdDto>> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.household(id).await?, |h| h.region)?;
    let input = household_input(body)?;
    building_in_area(&state, &s.user, input.building_id).await?;
    let h = state
        .store
        .update_household(&actor(&s.user, Some(addr)), id, input)
        .await?;
    Ok(Json(household_dto(&h)))
}

#[utoipa::path(delete, path = "/api/v1/households/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 400, body = ErrorBody, description = "residents still registered"), (status = 404, body = ErrorBody)))]
async fn delete_household(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.household(id).await?, |h| h.region)?;
    state
        .store
        .delete_household(&actor(&s.user, Some(addr)), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Buildings

#[utoipa::path(get, path = "/api/v1/buildings", tag = "registry", security(("bearer" = [])), params(PlainQuery),
    responses((status = 200, body = BuildingPage), (status = 403, body = ErrorBody)))]
async fn list_buildings(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<PlainQuery>,
) -> AppResult<Json<BuildingPage>> {
    let range = list_range(&s.user, q.region.as_deref())?;
    let page = state
        .store
        .buildings(range, q.q.as_deref(), Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(BuildingPage {
        items: page.items.iter().map(building_dto).collect(),
        total: page.total,
    }))
}

/// The filtered buildings as an .xlsx workbook in the import's columns (headers in the
/// caller's language) plus each row's community code: edited, the file imports again into
/// that community. The export is audited.
#[utoipa::path(get, path = "/api/v1/buildings/export", tag = "registry", security(("bearer" = [])), params(BuildingExportQuery),
    responses((status = 200, description = "an .xlsx workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_buildings(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<BuildingExportQuery>,
) -> AppResult<Response> {
    let filter = crate::registry_files::BuildingFilter {
        range: list_range(&s.user, q.region.as_deref())?,
        q: text_filter(q.q.as_deref()),
    };
    let bytes = crate::registry_files::export_buildings(
        &state.store,
        &actor(&s.user, Some(addr)),
        &filter,
        lang,
    )
    .await?;
    Ok(crate::registry_files::xlsx_response(
        bytes,
        "buildings.xlsx",
    ))
}

#[utoipa::path(get, path = "/api/v1/buildings/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = BuildingDto), (status = 404, body = ErrorBody)))]
async fn get_building(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<BuildingDto>> {
    require(&s.user, Permission::ViewRegistry)?;
    let b = in_area(&s.user, state.store.building(id).await?, |b| b.region)?;
    Ok(Json(building_dto(&b)))
}

fn building_input(b: BuildingBody, region: Option<RegionCode>) -> BuildingInput {
    BuildingInput {
        region,
        name: b.name,
        address: b.address,
        lon: b.lon,
        lat: b.lat,
        floors: b.floors,
        units: b.units,
    }
}

#[utoipa::path(post, path = "/api/v1/buildings", tag = "registry", security(("bearer" = [])), request_body = BuildingBody,
    responses((status = 201, body = BuildingDto), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_building(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(body): JsonBody<BuildingBody>,
) -> AppResult<(StatusCode, Json<BuildingDto>)> {
    let region = writable_place(&s.user, Some(&body.region))?;
    let b = state
        .store
        .create_building(
            &actor(&s.user, Some(addr)),
            building_input(body, region),
            Source::Manual,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(building_dto(&b))))
}

#[utoipa::path(put, path = "/api/v1/buildings/{id}", tag = "registry", security(("bearer" = [])), request_body = BuildingBody,
    params(("id" = i64, Path)), responses((status = 200, body = BuildingDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_building(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<BuildingBody>,
) -> AppResult<Json<BuildingDto>> {
    let region = writable_place(&s.user, Some(&body.region))?;
    in_area(&s.user, state.store.building(id).await?, |b| b.region)?;
    let b = state
        .store
        .update_building(
            &actor(&s.user, Some(addr)),
            id,
            building_input(body, region),
        )
        .await?;
    Ok(Json(building_dto(&b)))
}

#[utoipa::path(delete, path = "/api/v1/buildings/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 400, body = ErrorBody, description = "households still registered"), (status = 404, body = ErrorBody)))]
async fn delete_building(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.building(id).await?, |b| b.region)?;
    state
        .store
        .delete_building(&actor(&s.user, Some(addr)), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Facilities

#[utoipa::path(get, path = "/api/v1/facilities", tag = "registry", security(("bearer" = [])), params(PlainQuery),
    responses((status = 200, body = FacilityPage), (status = 403, body = ErrorBody)))]
async fn list_facilities(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<PlainQuery>,
) -> AppResult<Json<FacilityPage>> {
    let range = list_range(&s.user, q.region.as_deref())?;
    let page = state
        .store
        .facilities(
            range,
            q.type_code.as_deref(),
            q.q.as_deref(),
            Page::new(q.offset, q.limit),
        )
        .await?;
    Ok(Json(FacilityPage {
        items: page.items.iter().map(facility_dto).collect(),
        total: page.total,
    }))
}

/// The filtered facilities as an .xlsx workbook in the import's columns (headers in the
/// caller's language; the type by its name, or its code where a name is ambiguous) plus
/// each row's community code. The export is audited.
#[utoipa::path(get, path = "/api/v1/facilities/export", tag = "registry", security(("bearer" = [])), params(FacilityExportQuery),
    responses((status = 200, description = "an .xlsx workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_facilities(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<FacilityExportQuery>,
) -> AppResult<Response> {
    let filter = crate::registry_files::FacilityFilter {
        range: list_range(&s.user, q.region.as_deref())?,
        type_code: text_filter(q.type_code.as_deref()),
        q: text_filter(q.q.as_deref()),
    };
    let bytes = crate::registry_files::export_facilities(
        &state.store,
        &actor(&s.user, Some(addr)),
        &filter,
        lang,
    )
    .await?;
    Ok(crate::registry_files::xlsx_response(
        bytes,
        "facilities.xlsx",
    ))
}

#[utoipa::path(get, path = "/api/v1/facilities/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = FacilityDto), (status = 404, body = ErrorBody)))]
async fn get_facility(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<FacilityDto>> {
    require(&s.user, Permission::ViewRegistry)?;
    let f = in_area(&s.user, state.store.facility(id).await?, |f| f.region)?;
    Ok(Json(facility_dto(&f)))
}

fn facility_input(b: FacilityBody, region: Option<RegionCode>) -> FacilityInput {
    FacilityInput {
        region,
        type_code: b.type_code,
        name: b.name,
        address: b.address,
        lon: b.lon,
        lat: b.lat,
        floor_area_m2: b.floor_area_m2,
        hub_id: b.hub_id,
    }
}

#[utoipa::path(post, path = "/api/v1/facilities", tag = "registry", security(("bearer" = [])), request_body = FacilityBody,
    responses((status = 201, body = FacilityDto), (status = 400, body = ErrorBody)))]
async fn create_facility(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(body): JsonBody<FacilityBody>,
) -> AppResult<(StatusCode, Json<FacilityDto>)> {
    let region = writable_place(&s.user, Some(&body.region))?;
    let f = state
        .store
        .create_facility(
            &actor(&s.user, Some(addr)),
            facility_input(body, region),
            Source::Manual,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(facility_dto(&f))))
}

#[utoipa::path(put, path = "/api/v1/facilities/{id}", tag = "registry", security(("bearer" = [])), request_body = FacilityBody,
    params(("id" = i64, Path)), responses((status = 200, body = FacilityDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_facility(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<FacilityBody>,
) -> AppResult<Json<FacilityDto>> {
    let region = writable_place(&s.user, Some(&body.region))?;
    in_area(&s.user, state.store.facility(id).await?, |f| f.region)?;
    let f = state
        .store
        .update_facility(
            &actor(&s.user, Some(addr)),
            id,
            facility_input(body, region),
        )
        .await?;
    Ok(Json(facility_dto(&f)))
}

#[utoipa::path(delete, path = "/api/v1/facilities/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_facility(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.facility(id).await?, |f| f.region)?;
    state
        .store
        .delete_facility(&actor(&s.user, Some(addr)), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Hubs

#[utoipa::path(get, path = "/api/v1/hubs", tag = "registry", security(("bearer" = [])), params(PlainQuery),
    responses((status = 200, body = HubPage), (status = 403, body = ErrorBody)))]
async fn list_hubs(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<PlainQuery>,
) -> AppResult<Json<HubPage>> {
    let range = list_range(&s.user, q.region.as_deref())?;
    let page = state
        .store
        .hubs(range, q.q.as_deref(), Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(HubPage {
        items: page.items.iter().map(hub_dto).collect(),
        total: page.total,
    }))
}

#[utoipa::path(get, path = "/api/v1/hubs/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = HubDto), (status = 404, body = ErrorBody)))]
async fn get_hub(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<HubDto>> {
    require(&s.user, Permission::ViewRegistry)?;
    let h = in_area(&s.user, state.store.hub(id).await?, |h| h.region)?;
    Ok(Json(hub_dto(&h)))
}

/// A hub's problems, all of them, as one 400 answer.
fn hub_problems(lang: Lang, problems: Vec<Problem>) -> Response {
    let body = HubProblems {
        error: HubProblemList {
            code: "invalid_hub".into(),
            message: problems
                .iter()
                .map(|p| p.message(lang))
                .collect::<Vec<_>>()
                .join(" "),
            problems: problems
                .iter()
                .map(|p| crate::api::ErrorDetail {
                    code: p.code.into(),
                    message: p.message(lang),
                    field: p.field.map(str::to_string),
                })
                .collect(),
        },
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Register a hub. Every problem with its floor areas and functions is reported at once.
#[utoipa::path(post, path = "/api/v1/hubs", tag = "registry", security(("bearer" = [])), request_body = HubBody,
    responses((status = 201, body = HubDto), (status = 400, body = HubProblems)))]
async fn create_hub(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    JsonBody(body): JsonBody<HubBody>,
) -> AppResult<Response> {
    let region = writable_place(&s.user, Some(&body.region))?;
    let input = hub_input(body, region)?;
    if let Err(problems) = reg::hubs::validate(&input) {
        return Ok(hub_problems(lang, problems));
    }
    let h = state
        .store
        .create_hub(&actor(&s.user, Some(addr)), input, Source::Manual)
        .await?;
    Ok((StatusCode::CREATED, Json(hub_dto(&h))).into_response())
}

#[utoipa::path(put, path = "/api/v1/hubs/{id}", tag = "registry", security(("bearer" = [])), request_body = HubBody,
    params(("id" = i64, Path)), responses((status = 200, body = HubDto), (status = 400, body = HubProblems), (status = 404, body = ErrorBody)))]
async fn update_hub(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<HubBody>,
) -> AppResult<Response> {
    let region = writable_place(&s.user, Some(&body.region))?;
    in_area(&s.user, state.store.hub(id).await?, |h| h.region)?;
    let input = hub_input(body, region)?;
    if let Err(problems) = reg::hubs::validate(&input) {
        return Ok(hub_problems(lang, problems));
    }
    let h = state
        .store
        .update_hub(&actor(&s.user, Some(addr)), id, input)
        .await?;
    Ok(Json(hub_dto(&h)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/hubs/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_hub(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    require(&s.user, Permission::ManageRegistry)?;
    in_area(&s.user, state.store.hub(id).await?, |h| h.region)?;
    state
        .store
        .delete_hub(&actor(&s.user, Some(addr)), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Typology

/// The facility typology: 8 categories, 20 key types, life circles and walking radii after
/// GB 50180-2018, and the OpenStreetMap tags mapped to each.
#[utoipa::path(get, path = "/api/v1/facility-types", tag = "registry", security(("bearer" = [])),
    responses((status = 200, body = FacilityTypeList)))]
async fn list_types(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
) -> AppResult<Json<FacilityTypeList>> {
    require(&s.user, Permission::ViewRegistry)?;
    let types = state.store.facility_types().await?;
    Ok(Json(FacilityTypeList {
        items: types.iter().map(type_dto).collect(),
    }))
}

/// Change a type's names, life circle, radius and OpenStreetMap tags (administrators).
#[utoipa::path(put, path = "/api/v1/facility-types/{code}", tag = "registry", security(("bearer" = [])), request_body = FacilityTypeDto,
    params(("code" = String, Path)), responses((status = 200, body = FacilityTypeDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn update_type(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<FacilityTypeDto>,
) -> AppResult<Json<FacilityTypeDto>> {
    require(&s.user, Permission::ManageTypology)?;
    let types = state.store.facility_types().await?;
    let Some(current) = types.iter().find(|t| t.code == code) else {
        return Err(AppError::NotFound(code));
    };
    let mut osm = Vec::new();
    for tag in &body.osm {
        let Some((k, v)) = tag
            .split_once('=')
            .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
        else {
            return Err(bad("bad_osm_tag", "registry.bad_osm_tag", "osm", tag));
        };
        osm.push((k.trim().to_string(), v.trim().to_string()));
    }
    let t = FacilityType {
        code: current.code.clone(),
        category: current.category,
        name_zh: body.name_zh,
        name_en: body.name_en,
        circle_minutes: body.circle_minutes,
        radius_m: body.radius_m,
        osm,
    };
    let t = state
        .store
        .update_facility_type(&actor(&s.user, Some(addr)), t)
        .await?;
    Ok(Json(type_dto(&t)))
}

// ---------------------------------------------------------------------------------------
// Imports and templates

fn record_kind(kind: &str) -> AppResult<RecordKind> {
    RecordKind::parse(kind).ok_or_else(|| AppError::NotFound(kind.to_string()))
}

/// Import a workbook (.xlsx or .csv) of residents, households, buildings or facilities
/// into one community. The whole file is checked first; with any bad row nothing is
/// written and every bad row is listed (422).
#[utoipa::path(post, path = "/api/v1/registry/{kind}/import", tag = "registry", security(("bearer" = [])), params(ImportParams,
    ("kind" = String, Path, description = "residents, households, buildings or facilities")),
    request_body(content = String, description = "the file's bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = ImportDone), (status = 422, body = ErrorBody, description = "bad rows: error.rows lists each")))]
async fn import(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(kind): Path<String>,
    Query(q): Query<ImportParams>,
    body: Bytes,
) -> AppResult<(StatusCode, Json<ImportDone>)> {
    let kind = record_kind(&kind)?;
    let community = writable_place(&s.user, Some(&q.community))?.ok_or(AppError::Forbidden)?;
    let name = q.name.clone().unwrap_or_else(|| "upload.xlsx".to_string());
    let outcome = crate::registry_files::import(
        &state.store,
        &actor(&s.user, Some(addr)),
        kind,
        community,
        &name,
        &body,
        &Quiet,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportDone {
            created: outcome.created,
            updated: outcome.updated,
            households_created: outcome.households_created,
        }),
    ))
}

/// The import template for a kind of record: an .xlsx with the Chinese headers and one
/// example row.
#[utoipa::path(get, path = "/api/v1/registry/{kind}/template", tag = "registry", security(("bearer" = [])),
    params(("kind" = String, Path, description = "residents, households, buildings or facilities")),
    responses((status = 200, description = "an .xlsx workbook")))]
async fn template(ApiUser(_s): ApiUser, Path(kind): Path<String>) -> AppResult<Response> {
    let kind = record_kind(&kind)?;
    let bytes = crate::registry_files::template(kind)?;
    Ok(crate::registry_files::xlsx_response(
        bytes,
        &format!("{}-template.xlsx", kind.as_str()),
    ))
}

#[derive(OpenApi)]
#[openapi(
    paths(list_residents, get_resident, create_resident, update_resident, delete_resident, reveal_resident, export_residents,
        list_households, get_household, create_household, update_household, delete_household, export_households,
        list_buildings, get_building, create_building, update_building, delete_building, export_buildings,
        list_facilities, get_facility, create_facility, update_facility, delete_facility, export_facilities,
        list_hubs, get_hub, create_hub, update_hub, delete_hub, list_types, update_type, import, template),
    components(schemas(TagDto, ResidentDto, ResidentPage, ResidentBody, RevealBody, RevealResult, HouseholdDto, HouseholdPage,
        HouseholdBody, BuildingDto, BuildingPage, BuildingBody, FacilityDto, FacilityPage, FacilityBody, SpaceDto, HubDto,
        HubPage, HubBody, HubProblems, HubProblemList, FacilityTypeDto, FacilityTypeList, ImportDone)),
    tags((name = "registry", description = "People, houses and facilities (人、房、设施)"))
)]
pub struct RegistryDoc;
