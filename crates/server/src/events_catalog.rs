//! The events' catalog over the API: the responsibility list (categories with their
//! deadlines, handling level and department), the departments, and the communities' grid
//! admission lists (准入清单) — exported as workbooks in their import columns, imported
//! from .xlsx or .csv all or nothing with every bad row listed, and one category edited
//! at a time.

use std::collections::HashSet;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use linli_core::events::category::{
    parse_admissions, parse_categories, parse_departments, CategoryDef, HandlingLevel,
    ADMISSION_COLUMNS, CATEGORY_COLUMNS, DEPARTMENT_COLUMNS,
};
use linli_core::grid_import::RowError;
use linli_core::{Permission, Problem, Role};
use linli_sheet::{Cell, XlsxWriter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{actor, parse_code, ErrorBody, JsonBody};
use crate::auth::ApiUser;
use crate::error::{AppError, AppResult};
use crate::registry_files::{read_table, xlsx_response};
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/event-catalog/{kind}/export", get(export))
        .route("/api/v1/event-catalog/{kind}/import", post(import))
        .route("/api/v1/event-categories/{code}", put(update_category))
}

/// The three lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Categories,
    Departments,
    Admissions,
}

fn kind(s: &str) -> AppResult<Kind> {
    match s {
        "categories" => Ok(Kind::Categories),
        "departments" => Ok(Kind::Departments),
        "admissions" => Ok(Kind::Admissions),
        _ => Err(AppError::NotFound(String::new())),
    }
}

fn sheet_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("spreadsheet: {e}"))
}

fn hours(minutes: i64) -> Cell {
    if minutes % 60 == 0 {
        Cell::Int(minutes / 60)
    } else {
        Cell::Float(minutes as f64 / 60.0)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CatalogQuery {
    /// For admissions: the community whose list to export or import into scope checks.
    pub community: Option<String>,
    /// The uploaded file's name (its extension says .xlsx or .csv).
    pub name: Option<String>,
}

/// A list as a workbook in its import columns (Chinese headers): the categories (the
/// responsibility list), the departments, or one community's admission list.
#[utoipa::path(get, path = "/api/v1/event-catalog/{kind}/export", tag = "events", security(("bearer" = [])),
    params(("kind" = String, Path, description = "categories, departments or admissions"), CatalogQuery),
    responses((status = 200, description = "an .xlsx workbook"), (status = 403, body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(k): Path<String>,
    Query(q): Query<CatalogQuery>,
) -> AppResult<Response> {
    if !s.user.role.allows(Permission::WorkEvents)
        && !s.user.role.allows(Permission::ManageEventCatalog)
    {
        return Err(AppError::Forbidden);
    }
    let store = &state.store;
    let departments = store.departments().await?;
    let (name, bytes) = match kind(&k)? {
        Kind::Categories => {
            let headers: Vec<&str> = CATEGORY_COLUMNS.iter().map(|(zh, _)| *zh).collect();
            let mut w = XlsxWriter::new("事项责任清单", &headers).map_err(sheet_error)?;
            for c in store.categories().await?.iter().filter(|c| c.active) {
                let dept = c
                    .department_id
                    .and_then(|id| departments.iter().find(|d| d.id == id))
                    .map(|d| d.code.clone())
                    .unwrap_or_default();
                w.push_row(&[
                    Cell::from(c.code.clone()),
                    Cell::from(c.parent.clone().unwrap_or_default()),
                    Cell::from(c.name_zh.clone()),
                    Cell::from(c.name_en.clone()),
                    hours(c.deadline_minutes),
                    hours(c.grace_minutes),
                    Cell::from(level_zh(c.level)),
                    Cell::from(dept),
                    Cell::from(if c.grid_may_close { "是" } else { "否" }),
                ])
                .map_err(sheet_error)?;
            }
            ("事项责任清单.xlsx", w.finish().map_err(sheet_error)?)
        }
        Kind::Departments => {
            let headers: Vec<&str> = DEPARTMENT_COLUMNS.iter().map(|(zh, _)| *zh).collect();
            let mut w = XlsxWriter::new("职能部门", &headers).map_err(sheet_error)?;
            for d in &departments {
                w.push_row(&[
                    Cell::from(d.code.clone()),
                    Cell::from(d.name_zh.clone()),
                    Cell::from(d.name_en.clone()),
                ])
                .map_err(sheet_error)?;
            }
            ("职能部门.xlsx", w.finish().map_err(sheet_error)?)
        }
        Kind::Admissions => {
            let code = q.community.as_deref().ok_or_else(|| {
                AppError::bad_request(
                    Problem::new("required", "registry.required").field("community"),
                )
            })?;
            let community = parse_code(code, "community")?;
            crate::auth::require_view(&s.user, community)?;
            // A community without its own list follows the categories' defaults: export those.
            let list = match store.admission_list(community).await? {
                Some(list) => list,
                None => store
                    .categories()
                    .await?
                    .into_iter()
                    .filter(|c| c.active && c.grid_may_close)
                    .map(|c| c.code)
                    .collect(),
            };
            let headers: Vec<&str> = ADMISSION_COLUMNS.iter().map(|(zh, _)| *zh).collect();
            let mut w = XlsxWriter::new("网格准入清单", &headers).map_err(sheet_error)?;
            for cat in list {
                w.push_row(&[Cell::from(community.to_string()), Cell::from(cat)])
                    .map_err(sheet_error)?;
            }
            ("网格准入清单.xlsx", w.finish().map_err(sheet_error)?)
        }
    };
    Ok(xlsx_response(bytes, name))
}

fn level_zh(l: HandlingLevel) -> &'static str {
    match l {
        HandlingLevel::Grid => "网格",
        HandlingLevel::Community => "社区",
        HandlingLevel::Street => "街道",
        HandlingLevel::Department => "部门",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogImported {
    /// Rows written.
    pub rows: usize,
}

/// Import a list from .xlsx or .csv. Categories and departments are updated by code and new
/// ones added (admins); an admission list replaces the lists of the communities it names
/// (admins, and community staff for communities in their area). The whole file is checked
/// first; with any bad row nothing is written and every bad row is listed (422).
#[utoipa::path(post, path = "/api/v1/event-catalog/{kind}/import", tag = "events", security(("bearer" = [])),
    params(("kind" = String, Path, description = "categories, departments or admissions"), CatalogQuery),
    request_body(content = String, description = "the file's bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = CatalogImported), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(k): Path<String>,
    Query(q): Query<CatalogQuery>,
    body: Bytes,
) -> AppResult<(StatusCode, Json<CatalogImported>)> {
    let user = &s.user;
    let kind = kind(&k)?;
    let may = match kind {
        Kind::Categories | Kind::Departments => user.role.allows(Permission::ManageEventCatalog),
        Kind::Admissions => {
            user.role.allows(Permission::ManageEventCatalog)
                || matches!(user.role, Role::CommunityWorker | Role::Leader)
        }
    };
    if !may {
        return Err(AppError::Forbidden);
    }
    let table = read_table(q.name.as_deref().unwrap_or("upload.xlsx"), &body, lang)?;
    let store = &state.store;
    let who = actor(user, Some(addr));
    let rows = match kind {
        Kind::Departments => {
            let defs = parse_departments(&table).map_err(AppError::Rejected)?;
            store.import_catalog(&who, &defs, &[]).await?;
            defs.len()
        }
        Kind::Categories => {
            let departments: HashSet<String> = store
                .departments()
                .await?
                .into_iter()
                .map(|d| d.code)
                .collect();
            let existing: HashSet<String> = store
                .categories()
                .await?
                .into_iter()
                .map(|c| c.code)
                .collect();
            let defs =
                parse_categories(&table, &departments, &existing).map_err(AppError::Rejected)?;
            store.import_catalog(&who, &[], &defs).await?;
            defs.len()
        }
        Kind::Admissions => {
            let categories: HashSet<String> = store
                .categories()
                .await?
                .into_iter()
                .map(|c| c.code)
                .collect();
            let pairs = parse_admissions(&table, &categories).map_err(AppError::Rejected)?;
            // Every community named must be the caller's to manage.
            let line_of = |i: usize| table.rows.get(i).map_or(0, |r| r.line);
            let outside: Vec<RowError> = pairs
                .iter()
                .enumerate()
                .filter(|(_, (c, _))| !user.scope.contains(*c))
                .map(|(i, (c, _))| {
                    RowError::new(line_of(i), "community", "events.import.community_outside")
                        .arg("value", c)
                })
                .collect();
            if !outside.is_empty() {
                return Err(AppError::Rejected(outside));
            }
            store.import_admissions(&who, &pairs).await?
        }
    };
    Ok((StatusCode::CREATED, Json(CatalogImported { rows })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CategoryUpdate {
    pub name_zh: String,
    pub name_en: Option<String>,
    pub deadline_hours: f64,
    pub grace_hours: f64,
    /// grid, community, street or department.
    pub level: String,
    /// The department's code.
    pub department: Option<String>,
    pub grid_may_close: bool,
}

fn bad(field: &'static str, key: &'static str, value: impl ToString) -> AppError {
    AppError::bad_request(
        Problem::new("bad_category", key)
            .arg("value", value)
            .field(field),
    )
}

/// Edit one category of the responsibility list (admins).
#[utoipa::path(put, path = "/api/v1/event-categories/{code}", tag = "events", security(("bearer" = [])),
    params(("code" = String, Path)), request_body = CategoryUpdate,
    responses((status = 200, body = crate::events_api::CategoryDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_category(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
    JsonBody(b): JsonBody<CategoryUpdate>,
) -> AppResult<Json<crate::events_api::CategoryDto>> {
    if !s.user.role.allows(Permission::ManageEventCatalog) {
        return Err(AppError::Forbidden);
    }
    let minutes = |h: f64, field: &'static str, min: i64| -> AppResult<i64> {
        let m = (h * 60.0).round();
        if h.is_finite()
            && m >= min as f64
            && m <= linli_core::events::category::MAX_DEADLINE_MINUTES as f64
        {
            Ok(m as i64)
        } else {
            Err(bad(field, "events.import.bad_hours", h))
        }
    };
    let name_zh = b.name_zh.trim().to_string();
    if name_zh.is_empty() || name_zh.chars().count() > 60 {
        return Err(bad("name_zh", "events.import.bad_name", &name_zh));
    }
    let def = CategoryDef {
        code: code.clone(),
        parent: None,
        name_en: b
            .name_en
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| name_zh.clone()),
        name_zh,
        deadline_minutes: minutes(b.deadline_hours, "deadline_hours", 1)?,
        grace_minutes: minutes(b.grace_hours, "grace_hours", 0)?,
        level: HandlingLevel::parse(&b.level)
            .ok_or_else(|| bad("level", "events.import.bad_level", &b.level))?,
        department: b
            .department
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty()),
        grid_may_close: b.grid_may_close,
    };
    state
        .store
        .update_category(&actor(&s.user, Some(addr)), &def)
        .await?;
    let list = crate::events_api::category_dtos(&state.store, lang).await?;
    list.into_iter()
        .find(|c| c.code == code)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(String::new()))
}

#[derive(OpenApi)]
#[openapi(
    paths(export, import, update_category),
    components(schemas(CatalogImported, CategoryUpdate))
)]
pub struct CatalogDoc;
