//! The JSON API under /api/v1 and its OpenAPI document.
//!
//! Every route that names a region checks the caller's area before it looks anything up, so a
//! region outside the area answers 403 whether or not it exists.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use linli_core::geo::MultiPolygon;
use linli_core::grid::{GridKind, Source, StaffMember, StaffRole};
use linli_core::i18n::{self, Lang};
use linli_core::{grid_import, Level, Permission, Problem, RegionCode};
use linli_store::{Actor, Grid, GridInput, Region, RegionRow, SessionKind, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{self, require_manage, require_view, ApiUser};
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/regions", get(roots))
        .route("/api/v1/regions/search", get(search))
        .route("/api/v1/regions/{code}", get(region))
        .route("/api/v1/regions/{code}/children", get(children))
        .route("/api/v1/regions/{code}/summary", get(summary))
        .route("/api/v1/regions/{code}/map", get(map))
        .route("/api/v1/grids", post(create_grid))
        .route("/api/v1/grids/import", post(import_grids))
        .route(
            "/api/v1/grids/{code}",
            get(get_grid).put(update_grid).delete(delete_grid),
        )
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(api_not_found)
}

async fn api_not_found() -> AppError {
    AppError::Problem(
        StatusCode::NOT_FOUND,
        Problem::new("no_route", "error.no_route"),
    )
}

// ---------------------------------------------------------------------------------------
// Shapes

/// A region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDto {
    /// 2 to 18 digits.
    pub code: String,
    /// The official name.
    pub name: String,
    /// The name to show (municipal placeholders such as 市辖区 get their parent's name).
    pub display_name: String,
    /// province, city, district, street, community, grid or micro_grid.
    pub level: String,
    pub parent_code: Option<String>,
    /// Regions directly below (absent in search results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_count: Option<i64>,
    /// official, manual, imported or generated.
    pub source: String,
}

impl RegionDto {
    fn new(r: &Region, parent_name: Option<&str>, child_count: Option<i64>) -> RegionDto {
        RegionDto {
            code: r.code.to_string(),
            name: r.name.clone(),
            display_name: r.display_name(parent_name),
            level: r.level().as_str().to_string(),
            parent_code: r.code.parent().map(|p| p.to_string()),
            child_count,
            source: r.source.as_str().to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionRef {
    pub code: String,
    pub name: String,
}

/// A region with the path above it and, for grids, their details.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDetail {
    #[serde(flatten)]
    pub region: RegionDto,
    /// From the province down to the parent.
    pub ancestors: Vec<RegionRef>,
    pub grid: Option<GridDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionList {
    pub items: Vec<RegionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchItem {
    #[serde(flatten)]
    pub region: RegionDto,
    /// The names above, "浙江省 / 杭州市 / 上城区".
    pub path: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub items: Vec<SearchItem>,
}

/// Counts of the regions below one region, by level.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryDto {
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cities: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub districts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streets: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communities: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grids: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub micro_grids: Option<i64>,
    /// The registry's figures (people, houses, facilities), for accounts that may read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryFigures>,
    /// Open and overdue events, for accounts that work events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventFigures>,
    /// Care of key elderly (关爱), for accounts that may read the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub care: Option<crate::care_visits_api::CareFiguresDto>,
}

/// Events in a region now.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventFigures {
    /// Not yet closed, merged or withdrawn.
    pub open: i64,
    /// Still the handler's to do and past the due time.
    pub overdue: i64,
}

/// The registry's figures for a region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryFigures {
    pub residents: i64,
    pub households: i64,
    pub buildings: i64,
    pub facilities: i64,
    pub hubs: i64,
    pub renters: i64,
    /// Renters' share of residents, 0–1.
    pub renter_share: f64,
    pub age60: i64,
    pub age80: i64,
    pub under3: i64,
    pub under18: i64,
    /// 80 or over, or 60 or over living alone, solitary or empty-nest (重点老人).
    pub key_elderly: i64,
    pub party_members: i64,
    /// Residents per assigned tag code.
    pub tags: BTreeMap<String, i64>,
    /// Communities here classified 融合型大社区 (≥ 3,000 households or ≥ 10,000
    /// residents, with renters ≥ 50 %).
    pub large_communities: Vec<String>,
}

impl From<linli_store::registry::RegistrySummary> for RegistryFigures {
    fn from(s: linli_store::registry::RegistrySummary) -> RegistryFigures {
        RegistryFigures {
            residents: s.residents,
            households: s.households,
            buildings: s.buildings,
            facilities: s.facilities,
            hubs: s.hubs,
            renters: s.renters,
            renter_share: s.renter_share,
            age60: s.age60,
            age80: s.age80,
            under3: s.under3,
            under18: s.under18,
            key_elderly: s.key_elderly,
            party_members: s.tags.get("party_member").copied().unwrap_or(0),
            tags: s.tags,
            large_communities: s.large_communities,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffDto {
    /// grid_head (网格长), full_time_worker (专职网格员), part_time_worker (兼职网格员) or
    /// instructor (网格指导员); the Chinese names are accepted too.
    pub role: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GridDto {
    pub code: String,
    pub name: String,
    /// closed_compound, market_complex, open_area_by_roads or large_estate_by_buildings.
    pub kind: Option<String>,
    pub staff: Vec<StaffDto>,
    /// GeoJSON MultiPolygon (WGS-84).
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
    pub source: String,
    pub child_count: i64,
}

impl From<&Grid> for GridDto {
    fn from(g: &Grid) -> GridDto {
        GridDto {
            code: g.code.to_string(),
            name: g.name.clone(),
            kind: g.kind.map(|k| k.as_str().to_string()),
            staff: g
                .staff
                .iter()
                .map(|s| StaffDto {
                    role: s.role.as_str().into(),
                    name: s.name.clone(),
                })
                .collect(),
            boundary: g.boundary.clone(),
            source: g.source.as_str().into(),
            child_count: g.child_count,
        }
    }
}

/// A new grid (below a community) or micro-grid (below a grid).
#[derive(Debug, Deserialize, ToSchema)]
pub struct GridCreate {
    /// The community (for a grid) or grid (for a micro-grid).
    pub parent: String,
    /// 1–999: the code's last three digits. Omit to take the next free number.
    pub number: Option<u32>,
    #[serde(flatten)]
    pub fields: GridFields,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GridFields {
    pub name: String,
    pub kind: Option<String>,
    #[serde(default)]
    pub staff: Vec<StaffDto>,
    /// GeoJSON Polygon or MultiPolygon (WGS-84), inside the district.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub username: String,
    pub display_name: String,
    pub role: String,
    /// "CN" for the whole country, or a region code.
    pub scope: String,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> UserDto {
        UserDto {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().into(),
            scope: u.scope.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub user: UserDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub grids: usize,
    pub micro_grids: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: i64,
    /// Milliseconds since 1970, UTC.
    pub at: i64,
    pub username: Option<String>,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// The error body of every failing call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine code: no_access, not_found, bad_code, duplicate_code, …
    pub code: String,
    /// What went wrong and how to fix it, in the caller's language (Accept-Language).
    pub message: String,
    /// The request field at fault, if any.
    pub field: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Part of a name, e.g. 清波.
    pub q: String,
    /// At most this many results (default 50, at most 200).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// csv or geojson (default: from `name`'s extension).
    pub format: Option<String>,
    /// The file's name, for the audit log and to tell the format.
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only entries older than this id (for paging).
    pub before: Option<i64>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A JSON body whose rejection is a proper API error.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(AppError::bad_request(
                Problem::new("bad_json", "error.bad_request").arg("detail", rejection_text(&e)),
            )),
        }
    }
}

fn rejection_text(e: &JsonRejection) -> String {
    e.body_text()
}

pub fn parse_code(s: &str, field: &'static str) -> AppResult<RegionCode> {
    RegionCode::parse(s).map_err(|e| AppError::bad_request(e.problem().field(field)))
}

pub fn actor(user: &User, ip: Option<SocketAddr>) -> Actor {
    Actor {
        user_id: Some(user.id),
        username: user.username.clone(),
        ip: ip.map(|a| a.ip().to_string()),
    }
}

fn kind_options(lang: Lang) -> String {
    GridKind::ALL
        .iter()
        .map(|k| i18n::text(lang, k.label_key()))
        .collect::<Vec<_>>()
        .join("、")
}

/// Turns the fields of a request into a store input, with a clear error for each bad one.
pub fn grid_input(lang: Lang, f: GridFields) -> AppResult<GridInput> {
    let kind = match f.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(GridKind::parse(k).ok_or_else(|| {
            AppError::bad_request(
                Problem::new("bad_kind", "error.bad_kind")
                    .arg("value", k)
                    .arg("options", kind_options(lang))
                    .field("kind"),
            )
        })?),
    };
    let mut staff = Vec::with_capacity(f.staff.len());
    for (i, s) in f.staff.iter().enumerate() {
        let role = StaffRole::parse(&s.role).ok_or_else(|| {
            AppError::bad_request(
                Problem::new("bad_staff", "error.bad_staff")
                    .arg("line", i + 1)
                    .arg("detail", &s.role)
                    .field("staff"),
            )
        })?;
        staff.push(StaffMember {
            role,
            name: s.name.trim().to_string(),
        });
    }
    let boundary = match f.boundary {
        None | Some(Value::Null) => None,
        Some(v) => Some(MultiPolygon::from_geojson(&v).map_err(|e| {
            AppError::bad_request(
                Problem::new("bad_geojson", "error.bad_geojson")
                    .arg("detail", e.message(lang))
                    .field("boundary"),
            )
        })?),
    };
    Ok(GridInput {
        name: f.name,
        kind,
        staff,
        boundary,
    })
}

/// Parses a region code from a path, checks the caller may see it (before any lookup, so
/// the answer outside the area is the same whether or not it exists), and fetches it.
pub async fn visible_region(
    state: &AppState,
    user: &User,
    code: &str,
) -> AppResult<(RegionCode, Region)> {
    let code = parse_code(code, "code")?;
    require_view(user, code)?;
    let region = state
        .store
        .region(code)
        .await?
        .ok_or_else(|| AppError::NotFound(code.to_string()))?;
    Ok((code, region))
}

/// The regions above `code`, in one query.
pub async fn ancestors(state: &AppState, code: RegionCode) -> AppResult<Vec<Region>> {
    Ok(state.store.regions(&code.ancestors()).await?)
}

fn summary_dto(code: String, name: String, counts: &[(Level, i64)]) -> SummaryDto {
    let get = |l: Level| counts.iter().find(|(x, _)| *x == l).map(|(_, n)| *n);
    SummaryDto {
        code,
        name,
        cities: get(Level::City),
        districts: get(Level::District),
        streets: get(Level::Street),
        communities: get(Level::Community),
        grids: get(Level::Grid),
        micro_grids: get(Level::MicroGrid),
        registry: None,
        events: None,
        care: None,
    }
}

fn rows_to_dtos(rows: &[RegionRow], parent_name: Option<&str>) -> Vec<RegionDto> {
    rows.iter()
        .map(|r| RegionDto::new(&r.region, parent_name, Some(r.child_count)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Handlers

/// Sign in and get a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody, description = "wrong username or password"),
              (status = 429, body = ErrorBody, description = "too many failed attempts")))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    let user = auth::check_password(
        &state,
        &body.username,
        &body.password,
        &addr.ip().to_string(),
    )
    .await?;
    let (token, _) = auth::start_session(&state, &user, SessionKind::Bearer).await?;
    Ok(Json(LoginResponse {
        token,
        expires_in: auth::TOKEN_TTL.as_secs(),
        user: UserDto::from(&user),
    }))
}

/// Revoke the token (or cookie session) this request carries.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    _user: ApiUser,
) -> AppResult<StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| {
            axum_extra::extract::CookieJar::from_headers(&headers)
                .get(auth::SESSION_COOKIE)
                .map(|c| c.value().to_string())
        });
    if let Some(t) = token {
        state
            .store
            .delete_session(&auth::token_hash(t.trim()))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody)))]
async fn me(ApiUser(s): ApiUser) -> Json<UserDto> {
    Json(UserDto::from(&s.user))
}

/// The top of the tree the caller may open: the provinces for a whole-country account,
/// otherwise the account's own region.
#[utoipa::path(get, path = "/api/v1/regions", tag = "regions", security(("bearer" = [])),
    responses((status = 200, body = RegionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn roots(State(state): State<AppState>, ApiUser(s): ApiUser) -> AppResult<Json<RegionList>> {
    if !s.user.role.allows(Permission::ViewRegions) {
        return Err(AppError::Forbidden);
    }
    let items = match s.user.scope.root() {
        None => rows_to_dtos(&state.store.children(None).await?, None),
        Some(code) => {
            let region = state
                .store
                .region(code)
                .await?
                .ok_or_else(|| AppError::NotFound(code.to_string()))?;
            let parent = match code.parent() {
                Some(p) => state.store.region(p).await?,
                None => None,
            };
            let count = state.store.child_count(code).await?;
            vec![RegionDto::new(
                &region,
                parent.as_ref().map(|p| p.name.as_str()),
                Some(count),
            )]
        }
    };
    Ok(Json(RegionList { items }))
}

/// One region, with its ancestors and, for a grid or micro-grid, its details.
#[utoipa::path(get, path = "/api/v1/regions/{code}", tag = "regions", security(("bearer" = [])),
    params(("code" = String, Path, description = "Region code, 2 to 18 digits")),
    responses((status = 200, body = RegionDetail), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn region(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<RegionDetail>> {
    let (code, region) = visible_region(&state, &s.user, &code).await?;
    let ancestors = ancestors(&state, code).await?;
    let parent_name = ancestors.last().map(|a| a.name.as_str());
    let grid = if code.level() >= Level::Grid {
        state.store.grid(code).await?
    } else {
        None
    };
    let child_count = match &grid {
        Some(g) => g.child_count,
        None => state.store.child_count(code).await?,
    };
    Ok(Json(RegionDetail {
        region: RegionDto::new(&region, parent_name, Some(child_count)),
        ancestors: ancestors
            .iter()
            .map(|a| RegionRef {
                code: a.code.to_string(),
                name: a.name.clone(),
            })
            .collect(),
        grid: grid.as_ref().map(GridDto::from),
    }))
}

/// The regions directly below: a community's are its grids, a grid's its micro-grids.
#[utoipa::path(get, path = "/api/v1/regions/{code}/children", tag = "regions", security(("bearer" = [])),
    params(("code" = String, Path, description = "Region code")),
    responses((status = 200, body = RegionList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn children(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<RegionList>> {
    let (code, region) = visible_region(&state, &s.user, &code).await?;
    let rows = state.store.children(Some(code)).await?;
    Ok(Json(RegionList {
        items: rows_to_dtos(&rows, Some(&region.name)),
    }))
}

/// How many streets, communities, grids and micro-grids lie below: one range scan.
#[utoipa::path(get, path = "/api/v1/regions/{code}/summary", tag = "regions", security(("bearer" = [])),
    params(("code" = String, Path, description = "Region code")),
    responses((status = 200, body = SummaryDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn summary(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<SummaryDto>> {
    let (code, region) = visible_region(&state, &s.user, &code).await?;
    let counts = state.store.summary(Some(code)).await?;
    let mut dto = summary_dto(code.to_string(), region.name, &counts);
    if s.user.role.allows(Permission::ViewRegistry) {
        let figures = state
            .store
            .registry_summary(Some(code), crate::registry_api::today())
            .await?;
        dto.registry = Some(figures.into());
        dto.care = Some(crate::care_visits_api::figures(&state, code).await?);
    }
    if s.user.role.allows(Permission::WorkEvents) {
        let (open, overdue) = state
            .store
            .event_counts(code.range(), linli_store::now_ms())
            .await?;
        dto.events = Some(EventFigures { open, overdue });
    }
    Ok(Json(dto))
}

/// Regions in the caller's area whose name contains `q`, streets before their communities.
#[utoipa::path(get, path = "/api/v1/regions/search", tag = "regions", security(("bearer" = [])),
    params(SearchQuery), responses((status = 200, body = SearchResult), (status = 400, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<SearchQuery>,
) -> AppResult<Json<SearchResult>> {
    if !s.user.role.allows(Permission::ViewRegions) {
        return Err(AppError::Forbidden);
    }
    if q.q.trim().is_empty() {
        return Err(AppError::bad_request(
            Problem::new("empty_query", "search.too_short").field("q"),
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let items = search_items(&state, &s.user, &q.q, limit).await?;
    Ok(Json(SearchResult { items }))
}

/// Search results with the names above each: two queries however many results.
pub async fn search_items(
    state: &AppState,
    user: &User,
    q: &str,
    limit: i64,
) -> AppResult<Vec<SearchItem>> {
    let found = state.store.search(user.scope, q, limit).await?;
    let mut above: Vec<RegionCode> = found.iter().flat_map(|r| r.code.ancestors()).collect();
    above.sort();
    above.dedup();
    let names: BTreeMap<RegionCode, String> = state
        .store
        .regions(&above)
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    Ok(found
        .iter()
        .map(|r| {
            let path: Vec<&str> = r
                .code
                .ancestors()
                .iter()
                .filter_map(|a| names.get(a).map(String::as_str))
                .collect();
            let parent = r
                .code
                .parent()
                .and_then(|p| names.get(&p))
                .map(String::as_str);
            SearchItem {
                region: RegionDto::new(r, parent, None),
                path: path.join(" / "),
            }
        })
        .collect())
}

/// The data to draw a region's map offline: boundary, roads, grid polygons.
#[utoipa::path(get, path = "/api/v1/regions/{code}/map", tag = "regions", security(("bearer" = [])),
    params(("code" = String, Path, description = "Region code")),
    responses((status = 200, description = "region, bbox, boundary (GeoJSON), roads (polylines), grids, attribution"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn map(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let (code, region) = visible_region(&state, &s.user, &code).await?;
    let data = state.store.map_data(code, &region.name).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        data.json,
    )
        .into_response())
}

/// One grid or micro-grid.
#[utoipa::path(get, path = "/api/v1/grids/{code}", tag = "grids", security(("bearer" = [])),
    params(("code" = String, Path, description = "Grid (15 digits) or micro-grid (18 digits) code")),
    responses((status = 200, body = GridDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_grid(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<GridDto>> {
    let code = parse_code(&code, "code")?;
    require_view(&s.user, code)?;
    grid_level(code)?;
    let grid = state
        .store
        .grid(code)
        .await?
        .ok_or_else(|| AppError::NotFound(code.to_string()))?;
    Ok(Json(GridDto::from(&grid)))
}

/// Create a grid in a community, or a micro-grid in a grid.
#[utoipa::path(post, path = "/api/v1/grids", tag = "grids", security(("bearer" = [])), request_body = GridCreate,
    responses((status = 201, body = GridDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_grid(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(body): JsonBody<GridCreate>,
) -> AppResult<(StatusCode, Json<GridDto>)> {
    let parent = parse_code(&body.parent, "parent")?;
    require_manage_below(&s.user, parent)?;
    let input = grid_input(lang, body.fields)?;
    let grid = state
        .store
        .create_grid(
            &actor(&s.user, Some(addr)),
            parent,
            body.number,
            input,
            Source::Manual,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(GridDto::from(&grid))))
}

/// Refuses a grid route for a code above the grid levels (404: there is no such grid).
fn grid_level(code: RegionCode) -> AppResult<()> {
    if code.level() < Level::Grid {
        return Err(AppError::Problem(
            StatusCode::NOT_FOUND,
            Problem::new("not_a_grid", "error.not_a_grid")
                .arg("code", code)
                .field("code"),
        ));
    }
    Ok(())
}

/// A store error, with "not found" naming the code that was asked for.
pub fn named(e: linli_store::StoreError, code: RegionCode) -> AppError {
    match e {
        linli_store::StoreError::NotFound => AppError::NotFound(code.to_string()),
        other => other.into(),
    }
}

/// May `user` create grids directly below `parent`?
pub fn require_manage_below(user: &User, parent: RegionCode) -> AppResult<()> {
    require_view(user, parent)?;
    if !user.role.allows(Permission::ManageGrids) {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

/// Change a grid's name, kind, staff and boundary.
#[utoipa::path(put, path = "/api/v1/grids/{code}", tag = "grids", security(("bearer" = [])), request_body = GridFields,
    params(("code" = String, Path, description = "Grid or micro-grid code")),
    responses((status = 200, body = GridDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_grid(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<GridFields>,
) -> AppResult<Json<GridDto>> {
    let code = parse_code(&code, "code")?;
    require_manage(&s.user, code)?;
    grid_level(code)?;
    let input = grid_input(lang, body)?;
    let grid = state
        .store
        .update_grid(&actor(&s.user, Some(addr)), code, input)
        .await
        .map_err(|e| named(e, code))?;
    Ok(Json(GridDto::from(&grid)))
}

/// Delete a grid and its micro-grids.
#[utoipa::path(delete, path = "/api/v1/grids/{code}", tag = "grids", security(("bearer" = [])),
    params(("code" = String, Path, description = "Grid or micro-grid code")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_grid(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<StatusCode> {
    let code = parse_code(&code, "code")?;
    require_manage(&s.user, code)?;
    grid_level(code)?;
    state
        .store
        .delete_grid(&actor(&s.user, Some(addr)), code)
        .await
        .map_err(|e| named(e, code))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import grids from a CSV or GeoJSON file (the request body). All or nothing: a file with
/// any bad row writes nothing and answers 422 with every bad row.
#[utoipa::path(post, path = "/api/v1/grids/import", tag = "grids", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "CSV (code,name,kind,staff,boundary) or GeoJSON FeatureCollection"),
    responses((status = 201, body = ImportResult), (status = 422, body = ErrorBody, description = "bad rows, each listed under error.rows"),
              (status = 403, body = ErrorBody)))]
async fn import_grids(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> AppResult<(StatusCode, Json<ImportResult>)> {
    if !s.user.role.allows(Permission::ManageGrids) {
        return Err(AppError::Forbidden);
    }
    let name = q
        .name
        .clone()
        .unwrap_or_else(|| format!("upload.{}", q.format.as_deref().unwrap_or("csv")));
    let file_name = match q.format.as_deref() {
        Some(f) if !name.to_lowercase().ends_with(&format!(".{f}")) => format!("{name}.{f}"),
        _ => name.clone(),
    };
    let report = import_file(
        &state,
        &actor(&s.user, Some(addr)),
        &s.user,
        &file_name,
        &body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// Parses and imports a grid file for `user`: shared by the API and the import page.
pub async fn import_file(
    state: &AppState,
    actor: &Actor,
    user: &User,
    name: &str,
    bytes: &[u8],
) -> AppResult<ImportResult> {
    // The file's own errors and the database checks of its sound rows are reported together.
    let parsed = grid_import::read_file(name, bytes);
    let report = state
        .store
        .import_grids(actor, user.scope, &parsed.rows, name, parsed.errors)
        .await?;
    Ok(ImportResult {
        grids: report.grids,
        micro_grids: report.micro_grids,
    })
}

/// The audit log of the caller's area, newest first (administrators only).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    if !s.user.role.allows(Permission::ManageAccounts) {
        return Err(AppError::Forbidden);
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = state.store.audit_log(s.user.scope, q.before, limit).await?;
    let next_before = if rows.len() as i64 == limit {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let parse = |s: &Option<String>| s.as_deref().and_then(|t| serde_json::from_str(t).ok());
    Ok(Json(AuditPage {
        items: rows
            .iter()
            .map(|r| AuditItem {
                id: r.id,
                at: r.at,
                username: r.username.clone(),
                action: r.action.clone(),
                target: r.target.clone(),
                before: parse(&r.before_json),
                after: parse(&r.after_json),
                ip: r.ip.clone(),
            })
            .collect(),
        next_before,
    }))
}

async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "linli API", description = "邻里 community governance platform: regions, grids, accounts."),
    paths(login, logout, me, roots, region, children, summary, search, map, get_grid, create_grid, update_grid, delete_grid, import_grids, audit),
    components(schemas(RegionDto, RegionRef, RegionDetail, RegionList, SearchItem, SearchResult, SummaryDto, RegistryFigures, EventFigures, StaffDto, GridDto,
        GridCreate, GridFields, LoginRequest, LoginResponse, UserDto, ImportResult, AuditItem, AuditPage, ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Sign in and out"), (name = "regions", description = "The region tree"),
         (name = "grids", description = "Grids and micro-grids"), (name = "audit", description = "Who did what"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, rendered once at start.
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::registry_api::RegistryDoc::openapi());
    doc.merge(crate::events_api::EventsDoc::openapi());
    doc.merge(crate::events_catalog::CatalogDoc::openapi());
    doc.merge(crate::healthcheck_api::HealthcheckDoc::openapi());
    doc.merge(crate::care_api::CareDoc::openapi());
    doc.merge(crate::care_broker_api::CareBrokerDoc::openapi());
    doc.merge(crate::care_alarms_api::CareAlarmsDoc::openapi());
    doc.merge(crate::care_visits_api::CareVisitsDoc::openapi());
    doc.to_pretty_json().unwrap_or_else(|_| "{}".to_string())
}
