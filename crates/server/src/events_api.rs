//! The events' JSON API: report, list, read with the flow log, act, photos, notifications,
//! and the category list; plus the deadline scheduler that runs beside the server.
//!
//! Who sees an event: its reporter; staff whose area holds it; the clerks of the department
//! that handles it or was summoned to it. Anyone else gets 404, the same as for an event
//! that does not exist.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use linli_core::events::category::HandlingLevel;
use linli_core::events::flow::Action;
use linli_core::events::kpi;
use linli_core::events::{State as EventState, Unit};
use linli_core::i18n::{self, Lang};
use linli_core::{Permission, Problem, Role};
use linli_store::events::{
    ActionInput, By, Event, EventFilter, KpiScope, NewEvent, PhotoRef, Source,
};
use linli_store::registry::Page;
use linli_store::{Store, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{parse_code, ErrorBody, JsonBody};
use crate::auth::{require_view, ApiUser};
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(list_events).post(create_event))
        .route("/api/v1/events/{id}", get(get_event))
        .route("/api/v1/events/{id}/actions", post(act))
        .route("/api/v1/events/{id}/photos/{photo}", get(photo))
        .route("/api/v1/photos", post(upload_photo))
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/event-categories", get(categories))
        .route("/api/v1/departments", get(departments))
        .route("/api/v1/regions/{code}/events/kpis", get(kpis))
        .merge(crate::events_catalog::routes())
}

/// Sweeps for due deadline stages and summons every few seconds, from the start: after a
/// restart whatever fell due while linli was down fires at once (and, the store being the
/// judge of what is due, never twice).
pub fn spawn_scheduler(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.fire_due(linli_store::now_ms()).await {
                Ok(f) if f.stages + f.summons > 0 => {
                    tracing::info!(stages = f.stages, summons = f.summons, "deadlines fired")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("firing deadlines: {e}"),
            }
            // The figures' counters catch up with the writes since the last sweep.
            if let Err(e) = store.fold_event_stats().await {
                tracing::warn!("folding event figures: {e}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Views

/// An instant as RFC 3339 in China's time (UTC+8).
pub fn rfc3339(ms: i64) -> String {
    linli_core::china_time::rfc3339(ms)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDto {
    /// grid, community, street or department.
    pub level: String,
    /// The region's code, for a grid, community or street.
    pub region: Option<String>,
    /// The department's code, for a department.
    pub department: Option<String>,
    /// The unit's name in the caller's language.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventDto {
    pub id: i64,
    /// The reference number given to the reporter, e.g. SJ00000042.
    pub reference: String,
    pub category: String,
    pub category_name: String,
    pub description: String,
    /// resident, patrol, hotline, sensor, open311 or generated.
    pub source: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub building_id: Option<i64>,
    /// The most specific region it lies in.
    pub region: String,
    /// pending, handling, verifying, verified, closed, merged or withdrawn.
    pub state: String,
    pub state_name: String,
    pub unit: UnitDto,
    pub reporter_id: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub created_at: String,
    /// The current handler's deadline; an escalation gives the new unit its full time.
    pub due_at: String,
    /// The time promised at the report (承诺办结时间): moved by approved extensions and
    /// reopenings, not by escalations. `closed_on_time` compares the closing with it.
    pub promised_at: String,
    /// Whether it is past its due time and still the handler's to do.
    pub overdue: bool,
    /// The last deadline warning sent: yellow, red or escalate.
    pub warned: Option<String>,
    /// Minutes of extra time asked for and not yet decided.
    pub extension_minutes: Option<i64>,
    pub escalations: i64,
    pub reopened: i64,
    pub closed_at: Option<String>,
    pub closed_on_time: Option<bool>,
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub merged_into: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventDto>,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDto {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub action_name: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// Ids of the photos that came with this step.
    pub photos: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummonsDto {
    pub department: String,
    pub department_name: String,
    /// waiting, overdue or checked_in.
    pub state: String,
    pub due_at: String,
    pub checked_in_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyDto {
    pub id: i64,
    pub reference: String,
    pub state: String,
    pub description: String,
    pub created_at: String,
    pub meters: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    pub event: EventDto,
    /// Every transition, oldest first.
    pub flow: Vec<FlowDto>,
    pub summons: Vec<SummonsDto>,
    /// Reports merged into this one.
    pub merged: Vec<i64>,
    /// Open reports of the same category within 50 m from the last 7 days.
    pub possible_duplicates: Vec<NearbyDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDto {
    pub event: EventDto,
    /// Open reports of the same category within 50 m from the last 7 days: perhaps the
    /// same problem, already being handled.
    pub possible_duplicates: Vec<NearbyDto>,
}

/// A department by its code, or the error naming the unknown code.
pub(crate) fn department_by_code(
    departments: &[linli_store::events::Department],
    code: &str,
) -> AppResult<i64> {
    departments
        .iter()
        .find(|d| d.code == code.trim())
        .map(|d| d.id)
        .ok_or_else(|| {
            AppError::bad_request(
                Problem::new("unknown_department", "events.import.unknown_department")
                    .arg("value", code)
                    .field("department"),
            )
        })
}

/// The names the views need, read once per request.
struct Names {
    catalog: std::sync::Arc<linli_store::events::Catalog>,
    lang: Lang,
}

impl Names {
    async fn load(store: &Store, lang: Lang) -> AppResult<Names> {
        Ok(Names {
            catalog: store.catalog().await?,
            lang,
        })
    }

    fn category(&self, code: &str) -> String {
        self.catalog
            .category(code)
            .map_or_else(|| code.to_string(), |c| c.name(self.lang).to_string())
    }

    fn department(&self, id: i64) -> (String, String) {
        self.catalog.department(id).map_or_else(
            || (id.to_string(), id.to_string()),
            |d| (d.code.clone(), d.name(self.lang).to_string()),
        )
    }

    fn department_id(&self, code: &str) -> AppResult<i64> {
        department_by_code(&self.catalog.departments, code)
    }

    fn unit(&self, unit: Unit) -> UnitDto {
        let level = unit.handling_level();
        match unit {
            Unit::Region(c) => UnitDto {
                level: level.as_str().into(),
                region: Some(c.to_string()),
                department: None,
                name: format!("{} {c}", i18n::text(self.lang, level.label_key())),
            },
            Unit::Department(d) => {
                let (code, name) = self.department(d);
                UnitDto {
                    level: HandlingLevel::Department.as_str().into(),
                    region: None,
                    department: Some(code),
                    name,
                }
            }
        }
    }

    fn event(&self, e: &Event, now: i64) -> EventDto {
        EventDto {
            id: e.id,
            reference: e.reference(),
            category: e.category.clone(),
            category_name: self.category(&e.category),
            description: e.description.clone(),
            source: e.source.as_str().into(),
            lon: e.lon,
            lat: e.lat,
            address: e.address.clone(),
            building_id: e.building_id,
            region: e.region.to_string(),
            state: e.state.as_str().into(),
            state_name: i18n::text(self.lang, e.state.label_key()).into(),
            unit: self.unit(e.unit),
            reporter_id: e.reporter_id,
            contact_name: e.contact_name.clone(),
            contact_phone: e.contact_phone_masked.clone(),
            created_at: rfc3339(e.created_at),
            due_at: rfc3339(e.due_at),
            promised_at: rfc3339(e.promised_at),
            overdue: e.overdue(now),
            warned: e.warned.map(|w| w.as_str().to_string()),
            extension_minutes: e.extension_minutes,
            escalations: e.escalations,
            reopened: e.reopened,
            closed_at: e.closed_at.map(rfc3339),
            closed_on_time: e.closed_on_time,
            rating: e.rating,
            rating_comment: e.rating_comment.clone(),
            merged_into: e.merged_into,
        }
    }

    fn nearby(&self, n: &linli_store::events::Nearby) -> NearbyDto {
        NearbyDto {
            id: n.id,
            reference: linli_core::events::reference(n.id),
            state: n.state.as_str().into(),
            description: n.description.clone(),
            created_at: rfc3339(n.created_at),
            meters: (n.meters * 10.0).round() / 10.0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Access

/// Whether `user` may see `event` (see the module documentation), given the event's
/// summons. The pages decide by the same function.
pub(crate) fn can_see(
    user: &User,
    event: &Event,
    summons: &[linli_store::events::Summons],
) -> bool {
    if event.reporter_id == Some(user.id) {
        return true;
    }
    if !user.role.allows(Permission::WorkEvents) {
        return false;
    }
    if user.role == Role::DepartmentClerk {
        let Some(d) = user.department else {
            return false;
        };
        return user.scope.contains(event.region)
            && (event.unit == Unit::Department(d) || summons.iter().any(|s| s.department_id == d));
    }
    user.scope.contains(event.region)
}

/// An event the caller may see, or 404.
async fn visible(
    state: &AppState,
    user: &User,
    id: i64,
) -> AppResult<(Event, Vec<linli_store::events::Summons>)> {
    let not_found = || AppError::NotFound(String::new());
    let event = state.store.event(id).await?.ok_or_else(not_found)?;
    let summons = state.store.event_summons(id).await?;
    if can_see(user, &event, &summons) {
        Ok((event, summons))
    } else {
        Err(not_found())
    }
}

// ---------------------------------------------------------------------------------------
// Photos

/// A stored photo's reference as the API and the forms pass it: `<sha256>.<ext>`.
pub(crate) fn photo_ref(state: &AppState, r: &str) -> AppResult<PhotoRef> {
    let bad = || {
        AppError::bad_request(
            Problem::new("unknown_photo", "events.unknown_photo")
                .arg("value", r)
                .field("photos"),
        )
    };
    let (sha, ext) = r.trim().split_once('.').ok_or_else(bad)?;
    // Only a hex digest names a stored file: nothing else reaches the photo store's paths.
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let format = match ext {
        "jpg" | "jpeg" => linli_photo::Format::Jpeg,
        "png" => linli_photo::Format::Png,
        "webp" => linli_photo::Format::Webp,
        _ => return Err(bad()),
    };
    let photos = state
        .photos
        .as_ref()
        .map_err(|e| AppError::Internal(e.clone()))?;
    let bytes = photos.read(sha, format).map_err(|_| bad())?;
    let clean = linli_photo::clean(&bytes, &linli_photo::Limits::default()).map_err(|_| bad())?;
    Ok(PhotoRef {
        sha256: sha.to_string(),
        format: format.as_str().to_string(),
        bytes: bytes.len() as i64,
        width: i64::from(clean.width),
        height: i64::from(clean.height),
    })
}

fn photo_refs(state: &AppState, refs: &[String]) -> AppResult<Vec<PhotoRef>> {
    refs.iter().map(|r| photo_ref(state, r)).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedPhoto {
    /// Pass this in a report's or an action's `photos`.
    pub photo: String,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// Upload one photo (the file's bytes as the body): JPEG, PNG or WebP up to 10 MiB. Its
/// metadata (Exif with the place it was taken, camera, XMP, comments) is removed before it
/// is stored; only the orientation is kept.
#[utoipa::path(post, path = "/api/v1/photos", tag = "events", security(("bearer" = [])),
    request_body(content = String, description = "the image's bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = UploadedPhoto), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn upload_photo(
    State(state): State<AppState>,
    ApiUser(_s): ApiUser,
    body: Bytes,
) -> AppResult<(StatusCode, Json<UploadedPhoto>)> {
    let limits = linli_photo::Limits::default();
    let clean = linli_photo::clean(&body, &limits).map_err(photo_problem)?;
    let photos = state
        .photos
        .as_ref()
        .map_err(|e| AppError::Internal(e.clone()))?;
    let stored = photos
        .put(&clean)
        .map_err(|e| AppError::Internal(format!("storing a photo: {e}")))?;
    Ok((
        StatusCode::CREATED,
        Json(UploadedPhoto {
            photo: format!("{}.{}", stored.sha256, stored.format.ext()),
            format: stored.format.as_str().into(),
            width: stored.width,
            height: stored.height,
            bytes: stored.bytes,
        }),
    ))
}

fn photo_problem(e: linli_photo::PhotoError) -> AppError {
    use linli_photo::PhotoError::*;
    let key = match &e {
        Empty => "events.photo.empty",
        TooLarge { .. } => "events.photo.too_large",
        NotAnImage => "events.photo.not_image",
        Unsupported { .. } => "events.photo.unsupported",
        Corrupt { .. } => "events.photo.corrupt",
        TooManyPixels { .. } => "events.photo.too_many_pixels",
    };
    let status = if matches!(e, TooLarge { .. }) {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut p = Problem::new(e.code(), key).field("photo");
    p = match e {
        TooLarge { size, max } => p
            .arg("size_mb", format!("{:.1}", size as f64 / 1048576.0))
            .arg("max_mb", max / 1048576),
        Unsupported { format } => p.arg("format", format),
        Corrupt { detail } => p.arg("detail", detail),
        TooManyPixels { width, height, max } => p
            .arg("width", width)
            .arg("height", height)
            .arg("max_mp", max / 1_000_000),
        _ => p,
    };
    AppError::Problem(status, p)
}

/// One of an event's photos, for those who may see the event.
#[utoipa::path(get, path = "/api/v1/events/{id}/photos/{photo}", tag = "events", security(("bearer" = [])),
    params(("id" = i64, Path), ("photo" = i64, Path)),
    responses((status = 200, description = "the image", content_type = "image/jpeg"), (status = 404, body = ErrorBody)))]
async fn photo(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((id, photo)): Path<(i64, i64)>,
) -> AppResult<Response> {
    visible(&state, &s.user, id).await?;
    let photos = state.store.event_photos(id).await?;
    let p = photos
        .iter()
        .find(|p| p.id == photo)
        .ok_or_else(|| AppError::NotFound(String::new()))?;
    let format = linli_photo::Format::parse(&p.format)
        .ok_or_else(|| AppError::Internal(format!("photo {photo}: format")))?;
    let store = state
        .photos
        .as_ref()
        .map_err(|e| AppError::Internal(e.clone()))?;
    let bytes = store
        .read(&p.sha256, format)
        .map_err(|e| AppError::Internal(format!("photo {photo}: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, format.mime()),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        bytes,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------
// Reports

#[derive(Debug, Deserialize, ToSchema)]
pub struct EventCreate {
    /// A category code from GET /api/v1/event-categories.
    pub category: String,
    pub description: String,
    /// Where, picked on the map (WGS-84)…
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// …or a registered building…
    pub building_id: Option<i64>,
    /// …or (staff taking a call) a region code.
    pub region: Option<String>,
    pub address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    /// Up to 9 photos from POST /api/v1/photos.
    #[serde(default)]
    pub photos: Vec<String>,
    /// A grid worker closes it at once, as the community's admission list allows.
    #[serde(default)]
    pub close_on_spot: bool,
    pub note: Option<String>,
    /// resident, patrol or hotline; by default from the reporter's role.
    pub source: Option<String>,
}

/// Report a problem. It is located, routed by the responsibility list into the handling
/// unit's inbox with the category's deadline, and answered with its reference number and
/// any open reports of the same problem nearby.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", security(("bearer" = [])), request_body = EventCreate,
    responses((status = 201, body = CreatedDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_event(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    JsonBody(b): JsonBody<EventCreate>,
) -> AppResult<(StatusCode, Json<CreatedDto>)> {
    let position = match (b.lon, b.lat) {
        (Some(lon), Some(lat)) => Some([lon, lat]),
        (None, None) => None,
        _ => {
            return Err(AppError::bad_request(
                Problem::new("position_half", "registry.position_half").field("lat"),
            ))
        }
    };
    let region = b
        .region
        .as_deref()
        .map(|r| parse_code(r, "region"))
        .transpose()?;
    let source = match b.source.as_deref() {
        None => None,
        Some(x) => match Source::parse(x) {
            Some(src @ (Source::Resident | Source::Patrol | Source::Hotline)) => Some(src),
            _ => {
                return Err(AppError::bad_request(
                    Problem::new("bad_source", "events.bad_source")
                        .arg("value", x)
                        .field("source"),
                ))
            }
        },
    };
    let photos = photo_refs(&state, &b.photos)?;
    let created = state
        .store
        .create_event(
            By::User(&s.user),
            NewEvent {
                category: b.category,
                description: b.description,
                source,
                position,
                building_id: b.building_id,
                region,
                address: b.address,
                contact_name: b.contact_name,
                contact_phone: b.contact_phone,
                photos,
                close_on_spot: b.close_on_spot,
                note: b.note,
                attributes: None,
            },
        )
        .await?;
    let names = Names::load(&state.store, lang).await?;
    let now = linli_store::now_ms();
    Ok((
        StatusCode::CREATED,
        Json(CreatedDto {
            event: names.event(&created.event, now),
            possible_duplicates: created.duplicates.iter().map(|n| names.nearby(n)).collect(),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventQuery {
    /// A region code in your area (default: your whole area).
    pub region: Option<String>,
    /// pending, handling, verifying, verified, closed, merged, withdrawn; several separated
    /// by commas; `open` for the first four.
    pub state: Option<String>,
    pub category: Option<String>,
    /// Only your unit's inbox (your grid, community or street; a clerk's department).
    pub inbox: Option<bool>,
    /// Only those overdue now, most overdue first.
    pub overdue: Option<bool>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

fn parse_states(s: Option<&str>) -> AppResult<Vec<EventState>> {
    let mut out = Vec::new();
    for part in s
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part == "open" {
            out.extend(EventState::ALL.into_iter().filter(|s| s.is_open()));
            continue;
        }
        out.push(EventState::parse(part).ok_or_else(|| {
            AppError::bad_request(
                Problem::new("bad_state", "events.bad_state")
                    .arg("value", part)
                    .field("state"),
            )
        })?);
    }
    Ok(out)
}

/// Events: residents see their own reports; clerks their department's; staff those in
/// their area (or one region of it), filtered by state, category, inbox or overdue.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])), params(EventQuery),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<EventQuery>,
) -> AppResult<Json<EventPage>> {
    let user = &s.user;
    let now = linli_store::now_ms();
    let mut filter = EventFilter {
        states: parse_states(q.state.as_deref())?,
        categories: q
            .category
            .clone()
            .filter(|c| !c.trim().is_empty())
            .into_iter()
            .collect(),
        overdue_at: q.overdue.unwrap_or(false).then_some(now),
        ..Default::default()
    };
    if !user.role.allows(Permission::WorkEvents) {
        filter.reporter = Some(user.id);
    } else if user.role == Role::DepartmentClerk {
        let d = user.department.ok_or(AppError::Forbidden)?;
        filter.unit = Some(Unit::Department(d));
        filter.range = Some(user.scope.range());
    } else {
        filter.range = Some(
            match q.region.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                Some(code) => {
                    let code = parse_code(code, "region")?;
                    require_view(user, code)?;
                    code.range()
                }
                None => user.scope.range(),
            },
        );
        if q.inbox.unwrap_or(false) {
            let root = user.scope.root().ok_or(AppError::Forbidden)?;
            filter.unit = Some(Unit::Region(root));
        }
    }
    let (events, total) = state
        .store
        .events(&filter, Page::new(q.offset, q.limit))
        .await?;
    let names = Names::load(&state.store, lang).await?;
    Ok(Json(EventPage {
        items: events.iter().map(|e| names.event(e, now)).collect(),
        total,
    }))
}

/// One event with its flow log, summons, merged reports and possible duplicates.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = EventDetail), (status = 404, body = ErrorBody)))]
async fn get_event(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<EventDetail>> {
    let (event, summons) = visible(&state, &s.user, id).await?;
    Ok(Json(detail(&state, lang, event, summons).await?))
}

async fn detail(
    state: &AppState,
    lang: Lang,
    event: Event,
    summons: Vec<linli_store::events::Summons>,
) -> AppResult<EventDetail> {
    let store = &state.store;
    let names = Names::load(store, lang).await?;
    let now = linli_store::now_ms();
    let photos = store.event_photos(event.id).await?;
    let flow = store
        .event_flow(event.id)
        .await?
        .into_iter()
        .map(|f| FlowDto {
            at: rfc3339(f.at),
            actor: f.actor_name,
            action_name: i18n::text(lang, &Action::label_key(&f.action)).to_string(),
            action: f.action,
            from_state: f.from_state,
            to_state: f.to_state,
            note: f.note,
            detail: f.detail.and_then(|d| serde_json::from_str(&d).ok()),
            photos: photos
                .iter()
                .filter(|p| p.flow_id == Some(f.id))
                .map(|p| p.id)
                .collect(),
        })
        .collect();
    let summons = summons
        .iter()
        .map(|x| {
            let (department, department_name) = names.department(x.department_id);
            SummonsDto {
                department,
                department_name,
                state: x.state.clone(),
                due_at: rfc3339(x.due_at),
                checked_in_at: x.checked_in_at.map(rfc3339),
            }
        })
        .collect();
    let possible_duplicates = match (event.lon, event.lat, event.state.is_open()) {
        (Some(lon), Some(lat), true) => store
            .nearby_open(
                &event.category,
                [lon, lat],
                now - linli_core::events::DUPLICATE_WINDOW_MS,
                Some(event.id),
            )
            .await?
            .iter()
            .map(|n| names.nearby(n))
            .collect(),
        _ => Vec::new(),
    };
    Ok(EventDetail {
        merged: store.merged_into(event.id).await?,
        event: names.event(&event, now),
        flow,
        summons,
        possible_duplicates,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ActionRequest {
    /// accept, report_back, verify, reject, close, close_on_spot, request_extension,
    /// approve_extension, deny_extension, escalate, whistle, check_in, withdraw, rate,
    /// reopen, merge or comment.
    pub action: String,
    pub note: Option<String>,
    /// rate: 1–5.
    pub stars: Option<u8>,
    /// rate: what the reporter thinks of the outcome.
    pub comment: Option<String>,
    /// request_extension: how many more minutes.
    pub minutes: Option<i64>,
    /// escalate: the department to send it to from a street (default: the category's).
    pub department: Option<String>,
    /// whistle: the departments summoned, by code.
    #[serde(default)]
    pub departments: Vec<String>,
    /// whistle: minutes they have to check in (default 120).
    pub check_in_minutes: Option<i64>,
    /// merge: the event this one duplicates.
    pub into: Option<i64>,
    /// report_back and others: photos from POST /api/v1/photos.
    #[serde(default)]
    pub photos: Vec<String>,
}

fn required(field: &'static str) -> AppError {
    AppError::bad_request(Problem::new("required", "registry.required").field(field))
}

fn parse_action(b: &ActionRequest, names: &Names) -> AppResult<Action> {
    Ok(match b.action.trim() {
        "accept" => Action::Accept,
        "report_back" => Action::ReportBack,
        "verify" => Action::Verify,
        "reject" => Action::Reject,
        "close" => Action::Close,
        "close_on_spot" => Action::CloseOnSpot,
        "request_extension" => Action::RequestExtension {
            minutes: b.minutes.ok_or_else(|| required("minutes"))?,
        },
        "approve_extension" => Action::ApproveExtension,
        "deny_extension" => Action::DenyExtension,
        "escalate" => Action::Escalate {
            department: b
                .department
                .as_deref()
                .map(|d| names.department_id(d))
                .transpose()?,
        },
        "whistle" => Action::Whistle {
            departments: b
                .departments
                .iter()
                .map(|d| names.department_id(d))
                .collect::<AppResult<_>>()?,
        },
        "check_in" => Action::CheckIn,
        "withdraw" => Action::Withdraw,
        "rate" => Action::Rate {
            stars: b.stars.ok_or_else(|| required("stars"))?,
        },
        "reopen" => Action::Reopen,
        "merge" => Action::Merge {
            into: b.into.ok_or_else(|| required("into"))?,
        },
        "comment" => Action::Comment,
        other => {
            return Err(AppError::bad_request(
                Problem::new("bad_action", "events.bad_action")
                    .arg("value", other)
                    .arg("actions", Action::USER_ACTIONS.join(", "))
                    .field("action"),
            ))
        }
    })
}

/// Act on an event. The state machine decides whether this caller may do this now; a
/// refusal (403: not yours to do; 409: not possible in this state) changes nothing.
#[utoipa::path(post, path = "/api/v1/events/{id}/actions", tag = "events", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ActionRequest,
    responses((status = 200, body = EventDetail), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn act(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<ActionRequest>,
) -> AppResult<Json<EventDetail>> {
    visible(&state, &s.user, id).await?;
    let names = Names::load(&state.store, lang).await?;
    let action = parse_action(&b, &names)?;
    let input = ActionInput {
        note: b.note,
        comment: b.comment,
        photos: photo_refs(&state, &b.photos)?,
        check_in_minutes: b.check_in_minutes,
    };
    let event = state
        .store
        .act_on_event(By::User(&s.user), id, action, input)
        .await?;
    let summons = state.store.event_summons(id).await?;
    Ok(Json(detail(&state, lang, event, summons).await?))
}

// ---------------------------------------------------------------------------------------
// Notifications and the catalog

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    pub at: String,
    pub event_id: i64,
    pub reference: String,
    /// new, assigned, update, yellow, red, verify, extension_requested, summons, …
    pub kind: String,
    pub message: String,
    /// Sent to you (true) or to your unit's inbox.
    pub personal: bool,
}

/// What you should look at: updates on your reports, and your unit's reminders and new work.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = [NotificationDto])))]
async fn notifications(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
) -> AppResult<Json<Vec<NotificationDto>>> {
    let user = &s.user;
    let mut items: Vec<(bool, linli_store::events::Notification)> = state
        .store
        .user_notifications(user.id, 50)
        .await?
        .into_iter()
        .map(|n| (true, n))
        .collect();
    let unit = match (user.role, user.department, user.scope.root()) {
        (Role::DepartmentClerk, Some(d), _) => Some(Unit::Department(d)),
        (r, _, Some(root)) if r.allows(Permission::WorkEvents) && r != Role::DepartmentClerk => {
            Some(Unit::Region(root))
        }
        _ => None,
    };
    if let Some(u) = unit {
        items.extend(
            state
                .store
                .unit_notifications(u, 50)
                .await?
                .into_iter()
                .map(|n| (false, n)),
        );
    }
    items.sort_by(|a, b| b.1.at.cmp(&a.1.at).then(b.1.id.cmp(&a.1.id)));
    items.truncate(50);
    Ok(Json(
        items
            .into_iter()
            .map(|(personal, n)| NotificationDto {
                at: rfc3339(n.at),
                event_id: n.event_id,
                reference: linli_core::events::reference(n.event_id),
                message: i18n::format(
                    lang,
                    &format!("events.notice.{}", n.kind),
                    &[("reference", &linli_core::events::reference(n.event_id))],
                ),
                kind: n.kind,
                personal,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryDto {
    pub code: String,
    pub parent: Option<String>,
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub deadline_hours: f64,
    pub grace_hours: f64,
    /// grid, community, street or department: who first handles it.
    pub level: String,
    /// The department that takes it above the street.
    pub department: Option<String>,
    /// Whether grids may close it on the spot (a community's own admission list decides
    /// for that community).
    pub grid_may_close: bool,
}

/// The event categories (the responsibility list), parents before their children.
#[utoipa::path(get, path = "/api/v1/event-categories", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = [CategoryDto])))]
async fn categories(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(_s): ApiUser,
) -> AppResult<Json<Vec<CategoryDto>>> {
    Ok(Json(category_dtos(&state.store, lang).await?))
}

/// The active categories as the API shows them.
pub async fn category_dtos(store: &Store, lang: Lang) -> AppResult<Vec<CategoryDto>> {
    let names = Names::load(store, lang).await?;
    Ok(names
        .catalog
        .categories
        .iter()
        .filter(|c| c.active)
        .map(|c| CategoryDto {
            code: c.code.clone(),
            parent: c.parent.clone(),
            name: c.name(lang).to_string(),
            name_zh: c.name_zh.clone(),
            name_en: c.name_en.clone(),
            deadline_hours: c.deadline_minutes as f64 / 60.0,
            grace_hours: c.grace_minutes as f64 / 60.0,
            level: c.level.as_str().into(),
            department: c.department_id.map(|d| names.department(d).0),
            grid_may_close: c.grid_may_close,
        })
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentDto {
    pub code: String,
    pub name: String,
}

/// The district departments events can be routed, escalated or summoned to.
#[utoipa::path(get, path = "/api/v1/departments", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = [DepartmentDto])))]
async fn departments(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(_s): ApiUser,
) -> AppResult<Json<Vec<DepartmentDto>>> {
    Ok(Json(
        state
            .store
            .departments()
            .await?
            .iter()
            .map(|d| DepartmentDto {
                code: d.code.clone(),
                name: d.name(lang).to_string(),
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------
// Figures

#[derive(Debug, Deserialize, IntoParams)]
pub struct KpiQuery {
    /// The first day, YYYY-MM-DD (China time); default 29 days before `to`.
    pub from: Option<String>,
    /// The last day, included; default today.
    pub to: Option<String>,
    /// A department's code: its own intake and closures instead of the region's.
    pub department: Option<String>,
}

/// The figures of a region or department over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Figures {
    /// Reports received in the period.
    pub received: i64,
    /// Of those, merged into another report or withdrawn.
    pub dropped: i64,
    /// Closed in the period.
    pub closed: i64,
    pub closed_on_time: i64,
    /// 按期办结率: closed on time among closed, %.
    pub on_time_rate: Option<f64>,
    /// Received in the period and closed by now.
    pub resolved: i64,
    /// 解决率: resolved among received (less dropped), %.
    pub resolution_rate: Option<f64>,
    pub rated: i64,
    pub satisfied: i64,
    /// 满意率: 4 or 5 stars among rated, %.
    pub satisfaction_rate: Option<f64>,
    /// Mean and 90th-percentile time from report to closure, in hours (the percentile
    /// from a histogram with 26 %-wide buckets, interpolated).
    pub mean_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    /// Overdue now (whatever the period).
    pub overdue_now: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryFigures {
    pub category: String,
    pub category_name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KpiDto {
    pub region: String,
    pub department: Option<String>,
    pub from: String,
    pub to: String,
    pub totals: Figures,
    /// Every category with any figure, most received first.
    pub by_category: Vec<CategoryFigures>,
    /// The most overdue open events, worst first (at most 10).
    pub worst_overdue: Vec<EventDto>,
}

pub(crate) fn figures(r: &linli_store::events::KpiRow) -> Figures {
    let round = |h: f64| (h * 10.0).round() / 10.0;
    Figures {
        received: r.received,
        dropped: r.dropped,
        closed: r.closed,
        closed_on_time: r.closed_on_time,
        on_time_rate: kpi::rate(r.closed_on_time, r.closed),
        resolved: r.resolved,
        resolution_rate: kpi::rate(r.resolved, r.received - r.dropped),
        rated: r.rated,
        satisfied: r.satisfied,
        satisfaction_rate: kpi::rate(r.satisfied, r.rated),
        mean_hours: (r.closed > 0)
            .then(|| round(r.handling_ms as f64 / r.closed as f64 / 3_600_000.0)),
        p90_hours: kpi::percentile_ms(&r.hist, 0.9).map(|ms| round(ms / 3_600_000.0)),
        overdue_now: r.overdue_now,
    }
}

/// The period of the figures in China days, `to` included, from the query's dates: by
/// default the 30 days to today; never backwards nor longer than three years.
pub(crate) fn kpi_period(from: Option<&str>, to: Option<&str>, now: i64) -> AppResult<(i64, i64)> {
    use crate::page_kit::blank;
    let to = blank(to)
        .map(|t| parse_day(t, "to"))
        .transpose()?
        .unwrap_or(kpi::china_day(now));
    let from = blank(from)
        .map(|f| parse_day(f, "from"))
        .transpose()?
        .unwrap_or(to - 29);
    if from > to || to - from > 3 * 366 {
        return Err(AppError::bad_request(
            Problem::new("bad_period", "events.bad_period").field("from"),
        ));
    }
    Ok((from, to))
}

/// The figures of a region, or of one department's work in it, over a period.
pub(crate) struct KpiReading {
    /// By category.
    pub rows: Vec<linli_store::events::KpiRow>,
    pub total: linli_store::events::KpiRow,
    /// The ten most overdue open events, worst first.
    pub worst: Vec<Event>,
}

/// Reads [`KpiReading`] for the API and the leaders' page alike.
pub(crate) async fn read_kpis(
    store: &Store,
    region: linli_core::RegionCode,
    department: Option<i64>,
    (from, to): (i64, i64),
    now: i64,
) -> AppResult<KpiReading> {
    let scope = match department {
        Some(d) => KpiScope::Department(d),
        None => KpiScope::Region(region),
    };
    let rows = store.event_kpis(scope, from, to + 1, now).await?;
    let total = linli_store::events::KpiRow::total(&rows);
    let filter = EventFilter {
        range: Some(region.range()),
        unit: department.map(Unit::Department),
        overdue_at: Some(now),
        ..Default::default()
    };
    let (worst, _) = store.events(&filter, Page::new(Some(0), Some(10))).await?;
    Ok(KpiReading { rows, total, worst })
}

fn parse_day(s: &str, field: &'static str) -> AppResult<i64> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(kpi::day_of)
        .map_err(|_| {
            AppError::bad_request(
                Problem::new("bad_date", "registry.bad_date")
                    .arg("value", s)
                    .field(field),
            )
        })
}

/// 按期办结率, 解决率, 满意率, mean and 90th-percentile handling time and events overdue now,
/// in total and by category, for a region (or a department) over a period; with the worst
/// overdue events.
#[utoipa::path(get, path = "/api/v1/regions/{code}/events/kpis", tag = "events", security(("bearer" = [])),
    params(("code" = String, Path), KpiQuery),
    responses((status = 200, body = KpiDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn kpis(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
    Query(q): Query<KpiQuery>,
) -> AppResult<Json<KpiDto>> {
    let user = &s.user;
    if !user.role.allows(Permission::WorkEvents) {
        return Err(AppError::Forbidden);
    }
    let region = parse_code(&code, "code")?;
    require_view(user, region)?;
    let now = linli_store::now_ms();
    let period = kpi_period(q.from.as_deref(), q.to.as_deref(), now)?;
    let names = Names::load(&state.store, lang).await?;
    let department = q
        .department
        .as_deref()
        .map(|d| names.department_id(d))
        .transpose()?;
    if user.role == Role::DepartmentClerk && department != user.department {
        return Err(AppError::Forbidden);
    }
    let KpiReading { rows, total, worst } =
        read_kpis(&state.store, region, department, period, now).await?;
    Ok(Json(KpiDto {
        region: region.to_string(),
        department: q.department.clone(),
        from: kpi::date_of(period.0).to_string(),
        to: kpi::date_of(period.1).to_string(),
        totals: figures(&total),
        by_category: rows
            .iter()
            .map(|r| CategoryFigures {
                category: r.category.clone(),
                category_name: names.category(&r.category),
                figures: figures(r),
            })
            .collect(),
        worst_overdue: worst.iter().map(|e| names.event(e, now)).collect(),
    }))
}

#[derive(OpenApi)]
#[openapi(
    paths(create_event, list_events, get_event, act, upload_photo, photo, notifications, categories, departments, kpis),
    components(schemas(EventDto, EventPage, UnitDto, FlowDto, SummonsDto, NearbyDto, EventDetail, CreatedDto, EventCreate,
        ActionRequest, UploadedPhoto, NotificationDto, CategoryDto, DepartmentDto, Figures, CategoryFigures, KpiDto)),
    tags((name = "events", description = "Events (事件): report, route, act, deadlines"))
)]
pub struct EventsDoc;
