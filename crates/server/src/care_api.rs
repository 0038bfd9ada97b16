//! Care over the API: registering household devices (each with its own credential), the
//! readings devices send over HTTP, and the operator's view of devices and of everything
//! refused.
//!
//! A device authenticates with HTTP Basic, its id as the user name and its credential as the
//! password: the same pair it uses as its MQTT username and password.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use linli_core::care::{device_topic, DeviceKind};
use linli_core::i18n::Lang;
use linli_core::region::KeyRange;
use linli_core::{Permission, Problem, Role};
use linli_store::care::{Device, RefusalCount};
use linli_store::registry::Page;
use linli_store::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{actor, parse_code, ErrorBody, JsonBody};
use crate::auth::{require_view, ApiUser};
use crate::error::{AppError, AppResult};
use crate::events_api::rfc3339;
use crate::{AppState, ReqLang};

/// The most readings one HTTP request may carry.
pub const MAX_BATCH: usize = 1_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/care/devices", get(list_devices).post(register))
        .route(
            "/api/v1/care/devices/{device_id}/credential",
            post(reset_credential),
        )
        .route("/api/v1/care/readings", post(readings))
        .route("/api/v1/care/refusals", get(refusals))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDto {
    pub device_id: String,
    /// sos, smoke, gas, door, motion, bed or vitals.
    pub kind: String,
    pub kind_name: String,
    pub household_id: i64,
    /// The household's community.
    pub community: String,
    pub created_at: String,
    pub created_by: String,
    /// The latest reading's own time.
    pub last_seen_at: Option<String>,
    /// The latest battery level sent, per cent.
    pub battery: Option<f64>,
    pub readings: i64,
    /// Readings sent again (the same seq), kept once.
    pub duplicates: i64,
    pub refused: i64,
}

pub(crate) fn device_dto(d: &Device, lang: Lang) -> DeviceDto {
    DeviceDto {
        device_id: d.device_id.clone(),
        kind: d.kind.clone(),
        kind_name: DeviceKind::parse(&d.kind)
            .map(|k| linli_core::i18n::text(lang, k.name_key()).to_string())
            .unwrap_or_else(|_| d.kind.clone()),
        household_id: d.household_id,
        community: d.community.clone(),
        created_at: rfc3339(d.created_at),
        created_by: d.created_by.clone(),
        last_seen_at: d.last_seen_at.map(rfc3339),
        battery: d.battery,
        readings: d.readings,
        duplicates: d.duplicates,
        refused: d.refused,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeviceBody {
    pub device_id: String,
    /// sos, smoke, gas, door, motion, bed or vitals.
    pub kind: String,
    pub household_id: i64,
}

/// How the new device connects. The credential is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredDto {
    pub device: DeviceDto,
    pub credential: String,
    /// MQTT: username (the device id), password (the credential), and the one topic it may
    /// publish to.
    pub mqtt: MqttDto,
    /// HTTP: POST readings here with Basic authentication, the same pair.
    pub http_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MqttDto {
    pub username: String,
    pub password: String,
    pub topic: String,
    /// The device's account on the broker: `provisioned` (linli created it), `broker_asks`
    /// (the broker checks devices with linli, as EMQX's HTTP authentication does), `failed`
    /// (see `problem`; reset the credential to try again) or `no_broker` (linli has no
    /// broker: HTTP only).
    pub account: String,
    pub problem: Option<String>,
}

/// The device's account on the broker, made now if linli provisions accounts.
async fn broker_account(
    state: &AppState,
    device_id: &str,
    credential: &str,
    lang: Lang,
) -> (String, Option<String>) {
    let provisioner = match &state.broker {
        Ok(b) => b.provisioner.as_ref(),
        Err(_) => None,
    };
    match (provisioner, &state.config.mqtt) {
        (Some(p), _) => match p.provision_device(device_id, credential).await {
            Ok(()) => ("provisioned".into(), None),
            Err(e) => {
                tracing::warn!("provisioning device {device_id} on the broker: {e}");
                let problem = Problem::new("care_provision_failed", "care.provision_failed")
                    .arg("value", device_id)
                    .arg("detail", e.to_string());
                ("failed".into(), Some(problem.message(lang)))
            }
        },
        (None, Some(_)) => ("broker_asks".into(), None),
        (None, None) => ("no_broker".into(), None),
    }
}

/// The answer for a device and its new credential: shown once, never again.
async fn credentials_dto(
    state: &AppState,
    device: &Device,
    credential: String,
    lang: Lang,
) -> RegisteredDto {
    let (account, problem) = broker_account(state, &device.device_id, &credential, lang).await;
    RegisteredDto {
        device: device_dto(device, lang),
        mqtt: MqttDto {
            username: device.device_id.clone(),
            password: credential.clone(),
            topic: device_topic(&device.device_id),
            account,
            problem,
        },
        credential,
        http_url: "/api/v1/care/readings".into(),
    }
}

#[utoipa::path(post, path = "/api/v1/care/devices", tag = "care", security(("bearer" = [])),
    request_body = DeviceBody,
    responses((status = 201, body = RegisteredDto), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(b): JsonBody<DeviceBody>,
) -> AppResult<(StatusCode, Json<RegisteredDto>)> {
    let made = register_device(&state, lang, &s.user, addr, &b).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// `user` registers device `b`: the checks and the answer of the API, shared with the
/// devices page.
pub(crate) async fn register_device(
    state: &AppState,
    lang: Lang,
    user: &User,
    addr: SocketAddr,
    b: &DeviceBody,
) -> AppResult<RegisteredDto> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let kind = DeviceKind::parse(&b.kind).map_err(AppError::bad_request)?;
    // A household outside the caller's area is answered as one that does not exist.
    match state.store.household(b.household_id).await? {
        Some(h) if user.scope.contains(h.region) => {}
        _ => {
            return Err(AppError::bad_request(
                Problem::new("care_household_not_found", "care.household_not_found")
                    .arg("value", b.household_id)
                    .field("household_id"),
            ))
        }
    }
    let (device, credential) = state
        .store
        .register_device(&actor(user, Some(addr)), &b.device_id, kind, b.household_id)
        .await?;
    Ok(credentials_dto(state, &device, credential, lang).await)
}

#[utoipa::path(post, path = "/api/v1/care/devices/{device_id}/credential", tag = "care", security(("bearer" = [])),
    params(("device_id" = String, Path, description = "The device's id")),
    responses((status = 200, body = RegisteredDto, description = "The new credential (the old one no longer works), shown once"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn reset_credential(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(device_id): Path<String>,
) -> AppResult<Json<RegisteredDto>> {
    Ok(Json(
        reset_device(&state, lang, &s.user, addr, &device_id).await?,
    ))
}

/// `user` gives device `device_id` a new credential: the checks and the answer of the API,
/// shared with the devices page.
pub(crate) async fn reset_device(
    state: &AppState,
    lang: Lang,
    user: &User,
    addr: SocketAddr,
    device_id: &str,
) -> AppResult<RegisteredDto> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    // A device outside the caller's area is answered as one that does not exist.
    match state.store.care_device(device_id).await? {
        Some(d) if user.scope.range().contains(d.region_key) => {}
        _ => {
            return Err(AppError::bad_request(
                Problem::new("care_unknown_device", "care.unknown_device")
                    .arg("value", device_id.trim())
                    .field("device_id"),
            ))
        }
    }
    let (device, credential) = state
        .store
        .reset_device_credential(&actor(user, Some(addr)), device_id)
        .await?;
    Ok(credentials_dto(state, &device, credential, lang).await)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// A region code in the caller's area (default: the whole area). For refusals, leave it
    /// out as an administrator to see ids that are not registered.
    pub region: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// The key range of the `region` a list asks for, checked against the caller's area, or
/// `None` when it asks for none; only for those who read the registry.
pub(crate) fn asked_range(user: &User, region: Option<&str>) -> AppResult<Option<KeyRange>> {
    if !user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    match region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(code) => {
            let code = parse_code(code, "region")?;
            require_view(user, code)?;
            Ok(Some(code.range()))
        }
        None => Ok(None),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    pub items: Vec<DeviceDto>,
    pub total: i64,
}

#[utoipa::path(get, path = "/api/v1/care/devices", tag = "care", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = DevicePage), (status = 403, body = ErrorBody)))]
async fn list_devices(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<DevicePage>> {
    let range = asked_range(&s.user, q.region.as_deref())?.unwrap_or(s.user.scope.range());
    let page = state
        .store
        .care_devices(range, Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(DevicePage {
        items: page.items.iter().map(|d| device_dto(d, lang)).collect(),
        total: page.total,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalDto {
    pub device_id: String,
    /// The reason's code, such as care_bad_value or care_wrong_credential.
    pub reason: String,
    /// The device's community, when the id is registered.
    pub community: Option<String>,
    pub count: i64,
    pub first_at: String,
    pub last_at: String,
    /// The latest refusal's message, in the caller's language.
    pub last_message: String,
    /// The first 512 bytes of the latest refused payload.
    pub last_payload: String,
}

pub(crate) fn refusal_dto(r: &RefusalCount, lang: Lang) -> RefusalDto {
    let key = match lang {
        Lang::Zh => "zh",
        Lang::En => "en",
    };
    RefusalDto {
        device_id: r.device_id.clone(),
        reason: r.reason.clone(),
        community: r.community.clone(),
        count: r.count,
        first_at: rfc3339(r.first_at),
        last_at: rfc3339(r.last_at),
        last_message: r.last_message[key].as_str().unwrap_or_default().to_string(),
        last_payload: r.last_payload.clone(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalPage {
    pub items: Vec<RefusalDto>,
    pub total: i64,
}

#[utoipa::path(get, path = "/api/v1/care/refusals", tag = "care", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = RefusalPage), (status = 403, body = ErrorBody)))]
async fn refusals(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<RefusalPage>> {
    let range = match asked_range(&s.user, q.region.as_deref())? {
        Some(range) => Some(range),
        // What unregistered ids sent belongs to no area: administrators see it.
        None if s.user.role == Role::Admin => None,
        None => Some(s.user.scope.range()),
    };
    let page = state
        .store
        .care_refusals(range, Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(RefusalPage {
        items: page.items.iter().map(|r| refusal_dto(r, lang)).collect(),
        total: page.total,
    }))
}

/// What became of a request's readings.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestedDto {
    pub stored: u64,
    /// Readings whose seq this device sent before: kept once.
    pub duplicates: u64,
    pub refused: Vec<RefusedDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedDto {
    /// The reading's place in the request (0 for a single reading).
    pub index: usize,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

/// The device id and credential of a Basic Authorization header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, credential) = text.split_once(':')?;
    Some((id.to_string(), credential.to_string()))
}

/// A 401 that asks for Basic credentials.
fn unauthorized(problem: Problem, lang: Lang) -> Response {
    let body = serde_json::json!({"error": {"code": problem.code, "message": problem.message(lang), "field": problem.field}});
    let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"linli devices\""),
    );
    res
}

/// The payloads of a request: each element of an array, or the body itself (a reading, or
/// something that is not one, which is then refused and counted like any other).
fn payloads(body: &Bytes) -> Result<Vec<Vec<u8>>, usize> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) if items.len() > MAX_BATCH => Err(items.len()),
        Ok(Value::Array(items)) => Ok(items
            .iter()
            .map(|v| serde_json::to_vec(v).unwrap_or_default())
            .collect()),
        _ => Ok(vec![body.to_vec()]),
    }
}

#[utoipa::path(post, path = "/api/v1/care/readings", tag = "care",
    request_body(content = Object, description = "One reading {\"ts\", \"kind\", \"value\", \"seq\"} or an array of up to 1,000; HTTP Basic with the device id and its credential"),
    responses((status = 200, body = IngestedDto, description = "At least one reading stored or already stored; any refused are listed"),
        (status = 401, body = ErrorBody, description = "No credentials, an unknown device or a wrong credential (counted)"),
        (status = 413, body = ErrorBody, description = "More than 1,000 readings in one request (counted)"),
        (status = 422, body = IngestedDto, description = "Every reading refused, each with its reason (counted)")))]
async fn readings(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let Some((device_id, credential)) = basic_credentials(&headers) else {
        return Ok(unauthorized(
            Problem::new("care_no_credentials", "care.no_credentials"),
            lang,
        ));
    };
    let device = match state
        .store
        .authenticate_device(&device_id, &credential, &body)
        .await?
    {
        Ok(device) => device,
        Err(problem) => return Ok(unauthorized(problem, lang)),
    };
    let payloads = match payloads(&body) {
        Ok(p) => p,
        Err(n) => {
            let problem = Problem::new("care_batch_too_large", "care.batch_too_large")
                .arg("count", n)
                .arg("max", MAX_BATCH);
            state
                .store
                .count_refusals(
                    &device_id,
                    Some((device.community.key(), device.region_key)),
                    &[(&problem, &body)],
                )
                .await?;
            return Err(AppError::Problem(StatusCode::PAYLOAD_TOO_LARGE, problem));
        }
    };
    let slices: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let done = state
        .store
        .ingest_readings(&device_id, device, &slices)
        .await?;
    if !done.alarms.is_empty() {
        state.care_timer.poke();
        state.care_feed.raised(&done.alarms);
    }
    let all_refused = done.stored + done.duplicates == 0;
    let dto = IngestedDto {
        stored: done.stored,
        duplicates: done.duplicates,
        refused: done
            .refused
            .iter()
            .map(|(index, p)| RefusedDto {
                index: *index,
                code: p.code.to_string(),
                message: p.message(lang),
                field: p.field.map(str::to_string),
            })
            .collect(),
    };
    let status = if all_refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(dto)).into_response())
}

#[derive(OpenApi)]
#[openapi(
    paths(register, reset_credential, list_devices, refusals, readings),
    components(schemas(DeviceDto, DeviceBody, RegisteredDto, MqttDto, DevicePage, RefusalDto, RefusalPage,
        IngestedDto, RefusedDto)),
    tags((name = "care", description = "Care (关爱): household devices, their readings, and what was refused"))
)]
pub struct CareDoc;
