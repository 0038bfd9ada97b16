//! linli and the MQTT broker over the API: the state of ingestion for the operator, and the
//! two calls a broker that asks linli about devices makes (EMQX's HTTP authentication and
//! authorisation): may this device connect with this credential, and may it publish here.
//!
//! The answers follow EMQX 5's HTTP sources: `allow`, `deny`, or `ignore` for a user that is
//! not a device (linli's own account, an operator's), which EMQX then asks its next source
//! about.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use linli_core::care::device_topic;
use linli_core::{Permission, Problem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{OpenApi, ToSchema};

use crate::api::{ErrorBody, JsonBody};
use crate::auth::ApiUser;
use crate::error::{AppError, AppResult};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/care/broker", get(status))
        .route("/api/v1/care/broker/authenticate", post(authenticate))
        .route("/api/v1/care/broker/authorize", post(authorize))
}

/// linli's connection to the broker and what it has ingested since it started.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerStatus {
    /// The broker's URL without its password; none when linli has no broker (HTTP only).
    pub url: Option<String>,
    /// Whether linli creates devices' accounts on the broker (Mosquitto's dynamic security).
    pub provisions_accounts: bool,
    pub connected: bool,
    pub subscribed: bool,
    /// The latest connection problem, if linli is not connected.
    pub problem: Option<String>,
    pub received: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub refused: u64,
    pub batches: u64,
    /// Batches that could not be written at once and were written again (none lost).
    pub write_retries: u64,
}

#[utoipa::path(get, path = "/api/v1/care/broker", tag = "care", security(("bearer" = [])),
    responses((status = 200, body = BrokerStatus), (status = 403, body = ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
) -> AppResult<Json<BrokerStatus>> {
    if !s.user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    Ok(Json(broker_status(&state)))
}

/// linli's connection to the broker now (for the API and the devices page).
pub(crate) fn broker_status(state: &AppState) -> BrokerStatus {
    let broker = state.broker.as_ref().ok();
    let stats = broker
        .and_then(|b| b.ingest.as_ref())
        .map(|i| i.stats.clone());
    let n = |f: fn(&linli_care::IngestStats) -> &std::sync::atomic::AtomicU64| {
        stats.as_ref().map_or(0, |s| f(s).load(Ordering::Relaxed))
    };
    BrokerStatus {
        url: state.config.mqtt.as_ref().map(|c| c.display_url()),
        provisions_accounts: broker.is_some_and(|b| b.provisioner.is_some()),
        connected: stats
            .as_ref()
            .is_some_and(|s| s.connected.load(Ordering::Relaxed)),
        subscribed: stats
            .as_ref()
            .is_some_and(|s| s.subscribed.load(Ordering::Relaxed)),
        problem: match &state.broker {
            Err(e) => Some(e.clone()),
            Ok(_) => stats.as_ref().and_then(|s| s.problem()),
        },
        received: n(|s| &s.received),
        stored: n(|s| &s.stored),
        duplicates: n(|s| &s.duplicates),
        refused: n(|s| &s.refused),
        batches: n(|s| &s.batches),
        write_retries: n(|s| &s.write_retries),
    }
}

/// What EMQX sends to authenticate a connecting client.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthenticateBody {
    pub username: String,
    #[serde(default)]
    pub password: String,
}

/// What EMQX sends to authorise a client's publish or subscribe.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthorizeBody {
    pub username: String,
    pub topic: String,
    /// publish or subscribe.
    pub action: String,
}

/// allow, deny, or ignore (not a device: the broker asks its next source).
#[derive(Debug, Serialize, ToSchema)]
pub struct Verdict {
    pub result: &'static str,
    /// Devices are never superusers.
    pub is_superuser: bool,
}

fn verdict(result: &'static str) -> Json<Verdict> {
    Json(Verdict {
        result,
        is_superuser: false,
    })
}

/// The header a broker's HTTP hooks carry the shared secret in.
pub const HOOK_SECRET_HEADER: &str = "x-linli-hook-secret";

/// Checks the broker's shared secret, when linli has one: the hooks tell a registered device
/// from an unknown name, which nobody else should learn.
fn check_hook_secret(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    let Some(expected) = state.config.broker_hook_secret.as_deref() else {
        return Ok(());
    };
    let sent = headers
        .get(HOOK_SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Digests of equal length, compared whole: the time taken says nothing of the secret.
    let digest = |s: &str| Sha256::digest(s.as_bytes());
    let (a, b) = (digest(sent), digest(expected));
    let same = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0;
    if same {
        Ok(())
    } else {
        Err(AppError::Problem(
            StatusCode::UNAUTHORIZED,
            Problem::new("care_hook_secret", "care.hook_secret").arg("header", HOOK_SECRET_HEADER),
        ))
    }
}

#[utoipa::path(post, path = "/api/v1/care/broker/authenticate", tag = "care",
    request_body = AuthenticateBody,
    responses((status = 200, body = Verdict, description = "allow: the device's own credential (a wrong one is counted as a refusal); ignore: not a device"), (status = 401, body = ErrorBody, description = "the shared secret (x-linli-hook-secret) is missing or wrong")))]
async fn authenticate(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<AuthenticateBody>,
) -> AppResult<Json<Verdict>> {
    check_hook_secret(&state, &headers)?;
    // Only a registered device is linli's to judge; its wrong credential is counted.
    if state.store.care_device(&b.username).await?.is_none() {
        return Ok(verdict("ignore"));
    }
    let judged = state
        .store
        .authenticate_device(&b.username, &b.password, b"(MQTT connect)")
        .await?;
    Ok(verdict(if judged.is_ok() { "allow" } else { "deny" }))
}

#[utoipa::path(post, path = "/api/v1/care/broker/authorize", tag = "care",
    request_body = AuthorizeBody,
    responses((status = 200, body = Verdict, description = "allow: a device publishing to its own topic; deny: anything else a device tries; ignore: not a device"), (status = 401, body = ErrorBody, description = "the shared secret (x-linli-hook-secret) is missing or wrong")))]
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<AuthorizeBody>,
) -> AppResult<Json<Verdict>> {
    check_hook_secret(&state, &headers)?;
    if state.store.care_device(&b.username).await?.is_none() {
        return Ok(verdict("ignore"));
    }
    let own = b.action == "publish" && b.topic == device_topic(b.username.trim());
    Ok(verdict(if own { "allow" } else { "deny" }))
}

#[derive(OpenApi)]
#[openapi(
    paths(status, authenticate, authorize),
    components(schemas(BrokerStatus, AuthenticateBody, AuthorizeBody, Verdict))
)]
pub struct CareBrokerDoc;
