//! Care's alarms over the API: what the rules raised in a region, by state.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use linli_care::feed::AlarmNotice;
use linli_core::care_rules::AlarmKind;
use linli_core::i18n::{text, Lang};
use linli_core::region::KeyRange;
use linli_core::Problem;
use linli_store::care_alarms::{Alarm, ALARM_STATES};
use linli_store::registry::Page;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{ErrorBody, JsonBody};
use crate::auth::ApiUser;
use crate::care_api::asked_range;
use crate::error::{AppError, AppResult};
use crate::events_api::rfc3339;
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/care/alarms", get(list))
        .route("/api/v1/care/alarms/stream", get(stream))
        .route("/api/v1/care/alarms/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/care/alarms/{id}/resolve", post(resolve))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlarmQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
    /// open, acknowledged or resolved (default: all).
    pub state: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmDto {
    pub id: i64,
    pub household_id: i64,
    pub device_id: String,
    /// sos, smoke, gas, inactivity, night_exit, bed_exit, vitals, offline or low_battery.
    pub kind: String,
    pub kind_name: String,
    /// critical, warning or info.
    pub severity: String,
    /// open, acknowledged or resolved.
    pub state: String,
    pub community: String,
    /// When the condition began (the last activity, the press).
    pub since: String,
    pub raised_at: String,
    /// When the condition ended (the device said so), if it has.
    pub cleared_at: Option<String>,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    /// false_alarm, visited_fine, helped_at_home, sent_to_hospital or device_fixed.
    pub outcome: Option<String>,
    pub outcome_name: Option<String>,
    /// The event it became, in the household's grid worker's inbox.
    pub event_id: Option<i64>,
    /// Why it could not become an event (in Chinese), if it could not.
    pub dispatch_problem: Option<String>,
}

fn alarm_dto(a: &Alarm, lang: Lang) -> AlarmDto {
    AlarmDto {
        id: a.id,
        household_id: a.household_id,
        device_id: a.device_id.clone(),
        kind: a.kind.clone(),
        kind_name: AlarmKind::parse(&a.kind)
            .map(|k| text(lang, k.text_key()).to_string())
            .unwrap_or_else(|| a.kind.clone()),
        severity: a.severity.clone(),
        state: a.state.clone(),
        community: linli_core::RegionCode::from_key(a.community_key, linli_core::Level::Community)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        since: rfc3339(a.since),
        raised_at: rfc3339(a.raised_at),
        cleared_at: a.cleared_at.map(rfc3339),
        acknowledged_at: a.acknowledged_at.map(rfc3339),
        acknowledged_by: a.acknowledged_by.clone(),
        resolved_at: a.resolved_at.map(rfc3339),
        resolved_by: a.resolved_by.clone(),
        outcome: a.outcome.clone(),
        outcome_name: a
            .outcome
            .as_ref()
            .map(|o| text(lang, &format!("care.outcome.{o}")).to_string()),
        event_id: a.event_id,
        dispatch_problem: a.dispatch_problem.clone(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmPage {
    pub items: Vec<AlarmDto>,
    pub total: i64,
}

#[utoipa::path(get, path = "/api/v1/care/alarms", tag = "care", security(("bearer" = [])),
    params(AlarmQuery),
    responses((status = 200, body = AlarmPage, description = "The latest first"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<AlarmQuery>,
) -> AppResult<Json<AlarmPage>> {
    let range = asked_range(&s.user, q.region.as_deref())?.unwrap_or(s.user.scope.range());
    let wanted = q.state.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(w) = wanted {
        if !ALARM_STATES.contains(&w) {
            return Err(AppError::bad_request(
                Problem::new("care_bad_alarm_state", "care.bad_alarm_state")
                    .arg("value", w.to_string())
                    .arg("options", ALARM_STATES.join(", "))
                    .field("state"),
            ));
        }
    }
    let page = state
        .store
        .care_alarms(range, wanted, Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(AlarmPage {
        items: page.items.iter().map(|a| alarm_dto(a, lang)).collect(),
        total: page.total,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
}

/// One open console: what it may see, what it has shown, what it has yet to send.
struct Console {
    state: AppState,
    notices: tokio::sync::broadcast::Receiver<AlarmNotice>,
    /// linli is shutting down: the stream ends.
    stopping: tokio::sync::watch::Receiver<bool>,
    range: KeyRange,
    lang: Lang,
    /// The latest alarm sent (new alarms are those after it).
    last: i64,
    queue: VecDeque<SseEvent>,
}

impl Console {
    fn alarm(&self, a: &Alarm) -> SseEvent {
        let data = serde_json::to_string(&alarm_dto(a, self.lang)).unwrap_or_default();
        SseEvent::default()
            .event("alarm")
            .id(a.id.to_string())
            .data(data)
    }

    /// Queues the alarms raised in the console's area since the last one sent.
    async fn catch_up(&mut self) {
        match self
            .state
            .store
            .care_alarms_after(self.range, self.last, 200)
            .await
        {
            Ok(new) => {
                for a in &new {
                    self.last = self.last.max(a.id);
                    let e = self.alarm(a);
                    self.queue.push_back(e);
                }
            }
            // The next notice reads again from the same place: nothing is skipped.
            Err(e) => tracing::warn!("alarm console: reading new alarms: {e}"),
        }
    }

    /// The console's next event, or `None` when linli is stopping.
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Console)> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some((Ok(e), self));
            }
            let notice = tokio::select! {
                n = self.notices.recv() => n,
                _ = self.stopping.wait_for(|s| *s) => return None,
            };
            match notice {
                Ok(n) if !self.range.contains(n.region_key()) => {}
                Ok(AlarmNotice::Changed { id, .. }) => {
                    match self.state.store.care_alarm(id).await {
                        Ok(Some(a)) => {
                            let e = self.alarm(&a);
                            self.queue.push_back(e);
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!("alarm console: reading alarm {id}: {e}"),
                    }
                }
                Ok(AlarmNotice::Raised { .. }) => self.catch_up().await,
                // Too far behind: changes may have been missed, so the page reloads its list.
                Err(RecvError::Lagged(_)) => {
                    self.queue
                        .push_back(SseEvent::default().event("resync").data("{}"));
                    self.catch_up().await;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/care/alarms/stream", tag = "care", security(("bearer" = [])),
    params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `alarm` (an AlarmDto as JSON) for each alarm raised, acknowledged or resolved in the area from now on; `resync` when the console fell behind and should reload its list"),
        (status = 403, body = ErrorBody)))]
async fn stream(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<StreamQuery>,
) -> AppResult<Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>>> {
    let range = asked_range(&s.user, q.region.as_deref())?.unwrap_or(s.user.scope.range());
    // Subscribed before reading where to start, so that nothing raised in between is lost.
    let notices = state.care_feed.subscribe();
    let last = state.store.latest_care_alarm_id().await?;
    let console = Console {
        stopping: state.stopping.subscribe(),
        state,
        notices,
        range,
        lang,
        last,
        queue: VecDeque::new(),
    };
    Ok(Sse::new(futures::stream::unfold(console, Console::next)).keep_alive(KeepAlive::default()))
}

/// Alarm `id` if it lies in the caller's area; otherwise as if it did not exist.
pub(crate) async fn alarm_in_area(
    state: &AppState,
    user: &linli_store::User,
    id: i64,
) -> AppResult<Alarm> {
    match state.store.care_alarm(id).await? {
        Some(a) if user.scope.range().contains(a.region_key) => Ok(a),
        _ => Err(AppError::NotFound(format!("alarm {id}"))),
    }
}

#[utoipa::path(post, path = "/api/v1/care/alarms/{id}/acknowledge", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The alarm's id")),
    responses((status = 200, body = AlarmDto, description = "Acknowledged: its event is accepted in the caller's name"),
        (status = 403, body = ErrorBody, description = "Not the handler of its event"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not open, or not yet an event")))]
async fn acknowledge(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<AlarmDto>> {
    alarm_in_area(&state, &s.user, id).await?;
    state
        .store
        .acknowledge_care_alarm(&s.user, Some(addr.ip().to_string()), id)
        .await?;
    let a = alarm_in_area(&state, &s.user, id).await?;
    state.care_feed.changed(a.region_key, a.id);
    Ok(Json(alarm_dto(&a, lang)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveBody {
    /// false_alarm, visited_fine, helped_at_home, sent_to_hospital or device_fixed.
    pub outcome: String,
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/care/alarms/{id}/resolve", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The alarm's id")), request_body = ResolveBody,
    responses((status = 200, body = AlarmDto, description = "Resolved: its event is reported back for the community to verify"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not acknowledged")))]
async fn resolve(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<ResolveBody>,
) -> AppResult<Json<AlarmDto>> {
    alarm_in_area(&state, &s.user, id).await?;
    state
        .store
        .resolve_care_alarm(
            &s.user,
            Some(addr.ip().to_string()),
            id,
            b.outcome.trim(),
            b.note.as_deref(),
        )
        .await?;
    let a = alarm_in_area(&state, &s.user, id).await?;
    state.care_feed.changed(a.region_key, a.id);
    Ok(Json(alarm_dto(&a, lang)))
}

#[derive(OpenApi)]
#[openapi(
    paths(list, stream, acknowledge, resolve),
    components(schemas(AlarmDto, AlarmPage, ResolveBody))
)]
pub struct CareAlarmsDoc;
