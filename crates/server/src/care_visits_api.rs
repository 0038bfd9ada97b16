//! Care's visits over the API: the visit rules of a region, the key elderly its rules pick
//! from the registry, enrolling them, what is due and overdue, recording visits from the
//! phone, and a household's own alarm rules.
//!
//! Reading needs the registry's view permission and the place in the caller's area;
//! changing needs the registry's manage permission (community and grid workers). An
//! enrolment or a household outside the caller's area is answered as one that does not exist.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use linli_core::care_rules::Rules;
use linli_core::care_visits::{
    check_interval, parse_rules, Concern, EndReason, VisitMode, VisitRule,
};
use linli_core::i18n::{text, Lang};
use linli_core::{Level, Permission, Problem, RegionCode};
use linli_store::care_visits::{Candidate, Due, EffectiveRules, Enrolment, NewVisit, Visit};
use linli_store::registry::Page;
use linli_store::User;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{actor, parse_code, ErrorBody, JsonBody};
use crate::auth::{require_view, ApiUser};
use crate::care_api::asked_range;
use crate::error::{AppError, AppResult};
use crate::events_api::{photo_ref, rfc3339};
use crate::registry_api::today;
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/care/visit-rules", get(get_rules).put(put_rules))
        .route("/api/v1/care/candidates", get(candidates))
        .route("/api/v1/care/enrolments", get(list).post(enrol))
        .route("/api/v1/care/enrolments/bulk", post(enrol_all))
        .route("/api/v1/care/enrolments/{id}", get(one).patch(replan))
        .route("/api/v1/care/enrolments/{id}/end", post(end))
        .route(
            "/api/v1/care/enrolments/{id}/visits",
            get(visits).post(record),
        )
        .route(
            "/api/v1/care/enrolments/{id}/visits/{visit}/photos/{photo}",
            get(visit_photo),
        )
        .route(
            "/api/v1/care/households/{id}/rules",
            get(household_rules).put(set_household_rules),
        )
}

// ---------------------------------------------------------------------------------------
// Access

/// `region` parsed and in the caller's area, for one who may change the registry there.
pub(crate) fn managed_region(user: &User, region: &str) -> AppResult<RegionCode> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let code = parse_code(region, "region")?;
    require_view(user, code)?;
    Ok(code)
}

/// `region` parsed and in the caller's area, for one who may read the registry there.
pub(crate) fn viewed_region(user: &User, region: &str) -> AppResult<RegionCode> {
    if !user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    let code = parse_code(region, "region")?;
    require_view(user, code)?;
    Ok(code)
}

fn enrolment_not_found(id: i64) -> AppError {
    AppError::NotFound(format!("care enrolment {id}"))
}

/// Enrolment `id` if it lies in the caller's area.
pub(crate) async fn visible_enrolment(
    state: &AppState,
    user: &User,
    id: i64,
) -> AppResult<Enrolment> {
    if !user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    match state.store.care_enrolment(id, today()).await? {
        Some(e) if user.scope.range().contains(e.region_key) => Ok(e),
        _ => Err(enrolment_not_found(id)),
    }
}

// ---------------------------------------------------------------------------------------
// Visit rules

#[derive(Debug, Deserialize, IntoParams)]
pub struct RegionQuery {
    /// A region code in the caller's area.
    pub region: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VisitRuleDto {
    /// Tag codes (or their Chinese or English names), all of which must hold: assigned tags
    /// such as living_alone, solitary, empty_nest, and at most one of age60 and age80.
    pub tags: Vec<String>,
    pub interval_days: u32,
    /// The rule as people read it, e.g. "独居 + 80岁以上" (in answers only).
    #[serde(default, skip_deserializing)]
    pub label: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitRulesDto {
    /// The region asked about.
    pub region: String,
    /// The region whose rules these are; null: the built-in defaults.
    pub scope: Option<String>,
    /// Whether the region asked about has rules of its own.
    pub own: bool,
    pub rules: Vec<VisitRuleDto>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    /// When rules were just set: how many enrolments got a new plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replanned: Option<usize>,
}

fn rules_dto(region: RegionCode, e: EffectiveRules, lang: Lang) -> VisitRulesDto {
    let labels: Vec<String> = parse_rules(&e.rules)
        .map(|p| p.iter().map(|r| r.label(lang)).collect())
        .unwrap_or_default();
    VisitRulesDto {
        region: region.to_string(),
        scope: e.scope.map(|s| s.to_string()),
        own: e.scope == Some(region),
        rules: e
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| VisitRuleDto {
                tags: r.tags,
                interval_days: r.interval_days,
                label: labels.get(i).cloned().unwrap_or_default(),
            })
            .collect(),
        updated_at: e.updated_at.map(rfc3339),
        updated_by: e.updated_by,
        replanned: None,
    }
}

/// The visit rules in force for a region: its own, else its nearest region's above it that
/// has some, else the built-in defaults.
#[utoipa::path(get, path = "/api/v1/care/visit-rules", tag = "care", security(("bearer" = [])),
    params(RegionQuery), responses((status = 200, body = VisitRulesDto), (status = 403, body = ErrorBody)))]
async fn get_rules(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<RegionQuery>,
) -> AppResult<Json<VisitRulesDto>> {
    let region = viewed_region(&s.user, &q.region)?;
    let rules = state.store.visit_rules(region).await?;
    Ok(Json(rules_dto(region, rules, lang)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RulesBody {
    /// The region's own rules; null: none of its own (it uses those above it).
    pub rules: Option<Vec<VisitRuleDto>>,
}

/// Sets a region's own visit rules (a district, street or community), or removes them with
/// `{"rules": null}`; the enrolments they govern are re-planned at once. Audited.
#[utoipa::path(put, path = "/api/v1/care/visit-rules", tag = "care", security(("bearer" = [])),
    params(RegionQuery), request_body = RulesBody,
    responses((status = 200, body = VisitRulesDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_rules(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Query(q): Query<RegionQuery>,
    JsonBody(b): JsonBody<RulesBody>,
) -> AppResult<Json<VisitRulesDto>> {
    let region = managed_region(&s.user, &q.region)?;
    let rules: Option<Vec<VisitRule>> = b.rules.map(|list| {
        list.into_iter()
            .map(|r| VisitRule {
                tags: r.tags,
                interval_days: r.interval_days,
            })
            .collect()
    });
    let replanned = set_rules(&state, &s.user, addr, region, rules.as_deref()).await?;
    let rules = state.store.visit_rules(region).await?;
    let mut dto = rules_dto(region, rules, lang);
    dto.replanned = Some(replanned);
    Ok(Json(dto))
}

/// Sets `region`'s own rules (or removes them) for one who may manage it there (checked
/// by the caller with [`managed_region`]); returns how many plans changed. Shared with the
/// rules page.
pub(crate) async fn set_rules(
    state: &AppState,
    user: &User,
    addr: SocketAddr,
    region: RegionCode,
    rules: Option<&[VisitRule]>,
) -> AppResult<usize> {
    // A grid follows its community's rules: rules below a community would never apply.
    if region.level().number() > Level::Community.number() {
        return Err(AppError::bad_request(
            Problem::new("care_rules_below_community", "care.rules_below_community")
                .arg("value", region)
                .field("region"),
        ));
    }
    Ok(state
        .store
        .set_visit_rules(&actor(user, Some(addr)), region, rules, today())
        .await?)
}

// ---------------------------------------------------------------------------------------
// Candidates and enrolment

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// A community, or a grid in one, in the caller's area.
    pub region: String,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateDto {
    pub resident_id: i64,
    pub name: String,
    pub age: i64,
    /// Tag codes, derived (age60, age80) and assigned.
    pub tags: Vec<String>,
    pub address: String,
    pub community: String,
    /// The plan the rules give: a visit every this many days.
    pub interval_days: u32,
    /// The rule's tag codes, e.g. age80+living_alone.
    pub rule: String,
}

fn candidate_dto(c: Candidate) -> CandidateDto {
    CandidateDto {
        resident_id: c.resident_id,
        name: c.name,
        age: c.age,
        tags: c.tags.iter().map(|t| t.as_str().to_string()).collect(),
        address: c.address,
        community: c.community.to_string(),
        interval_days: c.interval_days,
        rule: c.rule,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidatePage {
    pub items: Vec<CandidateDto>,
    pub total: i64,
}

/// The residents of a community (or a grid) whom its visit rules pick and who are not
/// enrolled yet, in place and age order.
#[utoipa::path(get, path = "/api/v1/care/candidates", tag = "care", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = CandidatePage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn candidates(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Query(q): Query<PageQuery>,
) -> AppResult<Json<CandidatePage>> {
    let region = viewed_region(&s.user, &q.region)?;
    let page = state
        .store
        .care_candidates(region, today(), Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(CandidatePage {
        items: page.items.into_iter().map(candidate_dto).collect(),
        total: page.total,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentDto {
    pub id: i64,
    pub resident_id: i64,
    pub household_id: i64,
    /// Null when the resident has left the registry.
    pub name: Option<String>,
    pub age: Option<i64>,
    pub tags: Vec<String>,
    /// Masked; reveal it through the registry with a reason.
    pub phone: Option<String>,
    pub address: String,
    pub community: String,
    pub interval_days: u32,
    /// The rule that planned it (tag codes); null when the interval was set by hand.
    pub rule: Option<String>,
    pub enrolled_at: String,
    pub enrolled_by: String,
    pub last_visit_at: Option<String>,
    pub due_at: String,
    /// Whether the next visit is past due now.
    pub overdue: bool,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    pub end_reason_name: Option<String>,
}

fn enrolment_dto(e: Enrolment, lang: Lang) -> EnrolmentDto {
    EnrolmentDto {
        id: e.id,
        resident_id: e.resident_id,
        household_id: e.household_id,
        name: e.name,
        age: e.age,
        tags: e.tags.iter().map(|t| t.as_str().to_string()).collect(),
        phone: e.phone,
        address: e.address,
        community: e.community.to_string(),
        interval_days: e.interval_days,
        rule: e.rule,
        enrolled_at: rfc3339(e.enrolled_at),
        enrolled_by: e.enrolled_by,
        last_visit_at: e.last_visit_at.map(rfc3339),
        due_at: rfc3339(e.due_at),
        overdue: e.ended_at.is_none() && e.due_at < linli_store::now_ms(),
        ended_at: e.ended_at.map(rfc3339),
        end_reason_name: e
            .end_reason
            .as_deref()
            .and_then(EndReason::from_code)
            .map(|r| text(lang, r.text_key()).to_string()),
        end_reason: e.end_reason,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EnrolBody {
    pub resident_id: i64,
    /// A visit every this many days, set by hand; leave it out to plan by the rules.
    pub interval_days: Option<i64>,
}

/// Enrols a resident as key elderly with a visit plan: from the rules of their community,
/// or every `interval_days` by hand. The first visit is due one interval from now. Audited.
#[utoipa::path(post, path = "/api/v1/care/enrolments", tag = "care", security(("bearer" = [])),
    request_body = EnrolBody,
    responses((status = 201, body = EnrolmentDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn enrol(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(b): JsonBody<EnrolBody>,
) -> AppResult<(StatusCode, Json<EnrolmentDto>)> {
    let e = enrol_resident(&state, &s.user, addr, b.resident_id, b.interval_days).await?;
    Ok((StatusCode::CREATED, Json(enrolment_dto(e, lang))))
}

/// Enrols `resident_id` with the API's checks (the manage permission, the resident in the
/// caller's area); shared with the enrol page.
pub(crate) async fn enrol_resident(
    state: &AppState,
    user: &User,
    addr: SocketAddr,
    resident_id: i64,
    interval_days: Option<i64>,
) -> AppResult<Enrolment> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let interval = interval_days
        .map(check_interval)
        .transpose()
        .map_err(AppError::bad_request)?;
    // A resident outside the caller's area is answered as one that does not exist.
    let not_found = || {
        AppError::bad_request(
            Problem::new("care_resident_not_found", "care.resident_not_found")
                .arg("value", resident_id)
                .field("resident_id"),
        )
    };
    match state.store.resident(resident_id, today()).await? {
        Some(r) if user.scope.contains(r.region) => {}
        _ => return Err(not_found()),
    }
    Ok(state
        .store
        .enrol(&actor(user, Some(addr)), resident_id, interval, today())
        .await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkBody {
    /// A community, or a grid in one, in the caller's area.
    pub region: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkDto {
    pub enrolled: usize,
}

/// Enrols every candidate of a community (or a grid) with the plans its rules give, in one
/// transaction. Audited.
#[utoipa::path(post, path = "/api/v1/care/enrolments/bulk", tag = "care", security(("bearer" = [])),
    request_body = BulkBody,
    responses((status = 200, body = BulkDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn enrol_all(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    JsonBody(b): JsonBody<BulkBody>,
) -> AppResult<Json<BulkDto>> {
    let region = managed_region(&s.user, &b.region)?;
    let enrolled = state
        .store
        .enrol_candidates(&actor(&s.user, Some(addr)), region, today())
        .await?;
    Ok(Json(BulkDto { enrolled }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EnrolmentQuery {
    /// A region code in the caller's area (default: the whole area).
    pub region: Option<String>,
    /// overdue, week (due within 7 days, overdue included) or all (default).
    pub due: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentPage {
    pub items: Vec<EnrolmentDto>,
    pub total: i64,
}

/// The people under care in a region, the most urgent visit first.
#[utoipa::path(get, path = "/api/v1/care/enrolments", tag = "care", security(("bearer" = [])),
    params(EnrolmentQuery), responses((status = 200, body = EnrolmentPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Query(q): Query<EnrolmentQuery>,
) -> AppResult<Json<EnrolmentPage>> {
    let range = asked_range(&s.user, q.region.as_deref())?.unwrap_or(s.user.scope.range());
    let due = match q.due.as_deref().map(str::trim).unwrap_or("all") {
        "all" | "" => Due::All,
        "week" => Due::Within(7),
        "overdue" => Due::Overdue,
        other => {
            return Err(AppError::bad_request(
                Problem::new("care_bad_due", "care.bad_due")
                    .arg("value", other)
                    .arg("options", "overdue, week, all")
                    .field("due"),
            ))
        }
    };
    let page = state
        .store
        .care_enrolments(range, due, today(), Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(EnrolmentPage {
        items: page
            .items
            .into_iter()
            .map(|e| enrolment_dto(e, lang))
            .collect(),
        total: page.total,
    }))
}

/// One enrolment, ended or not.
#[utoipa::path(get, path = "/api/v1/care/enrolments/{id}", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The enrolment's id")),
    responses((status = 200, body = EnrolmentDto), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<EnrolmentDto>> {
    let e = visible_enrolment(&state, &s.user, id).await?;
    Ok(Json(enrolment_dto(e, lang)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplanBody {
    /// A visit every this many days, by hand; null: back to the rules' plan.
    pub interval_days: Option<i64>,
}

/// Changes an enrolment's plan: an interval by hand, or back to the rules. The next visit
/// falls due one interval after the last. Audited.
#[utoipa::path(patch, path = "/api/v1/care/enrolments/{id}", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The enrolment's id")), request_body = ReplanBody,
    responses((status = 200, body = EnrolmentDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn replan(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<ReplanBody>,
) -> AppResult<Json<EnrolmentDto>> {
    let e = replan_checked(&state, &s.user, addr, id, b.interval_days).await?;
    Ok(Json(enrolment_dto(e, lang)))
}

/// Sets enrolment `id`'s interval by hand (`Some`) or back to the rules (`None`) with the
/// API's checks (the manage permission, the interval's range, the enrolment in the caller's
/// area); shared with the visit page.
pub(crate) async fn replan_checked(
    state: &AppState,
    user: &User,
    addr: SocketAddr,
    id: i64,
    interval_days: Option<i64>,
) -> AppResult<Enrolment> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let interval = interval_days
        .map(check_interval)
        .transpose()
        .map_err(AppError::bad_request)?;
    visible_enrolment(state, user, id).await?;
    Ok(state
        .store
        .set_enrolment_interval(&actor(user, Some(addr)), id, interval, today())
        .await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EndBody {
    /// moved_away, deceased, declined or no_longer_needed.
    pub reason: String,
}

/// Ends an enrolment; its visits stay on record. Audited.
#[utoipa::path(post, path = "/api/v1/care/enrolments/{id}/end", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The enrolment's id")), request_body = EndBody,
    responses((status = 200, body = EnrolmentDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn end(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<EndBody>,
) -> AppResult<Json<EnrolmentDto>> {
    let e = end_checked(&state, &s.user, addr, id, &b.reason).await?;
    Ok(Json(enrolment_dto(e, lang)))
}

/// Ends enrolment `id` for `reason` with the API's checks; shared with the visit page.
pub(crate) async fn end_checked(
    state: &AppState,
    user: &User,
    addr: SocketAddr,
    id: i64,
    reason: &str,
) -> AppResult<Enrolment> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let reason = EndReason::parse(reason).map_err(AppError::bad_request)?;
    visible_enrolment(state, user, id).await?;
    Ok(state
        .store
        .end_enrolment(&actor(user, Some(addr)), id, reason, today())
        .await?)
}

// ---------------------------------------------------------------------------------------
// Visits

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitDto {
    pub id: i64,
    pub enrolment_id: i64,
    pub visited_at: String,
    pub recorded_at: String,
    pub visitor: String,
    /// home or phone.
    pub mode: String,
    pub mode_name: String,
    pub note: String,
    /// Concern codes: health, safety, living, mood, fraud, housing, other.
    pub concerns: Vec<String>,
    pub concern_names: Vec<String>,
    /// When the visit was due, and whether it was made by then.
    pub due_at: String,
    pub on_time: bool,
    /// Photo references (`<sha256>.<ext>`), served at /api/v1/care/enrolments/{id}/visits/{visit}/photos/{photo}.
    pub photos: Vec<String>,
}

fn visit_dto(v: Visit, lang: Lang) -> VisitDto {
    let name = |key: Option<&'static str>, code: &str| {
        key.map(|k| text(lang, k).to_string())
            .unwrap_or_else(|| code.to_string())
    };
    VisitDto {
        id: v.id,
        enrolment_id: v.enrolment_id,
        visited_at: rfc3339(v.visited_at),
        recorded_at: rfc3339(v.recorded_at),
        mode_name: name(
            VisitMode::parse(&v.mode).ok().map(|m| m.text_key()),
            &v.mode,
        ),
        visitor: v.visitor,
        mode: v.mode,
        note: v.note,
        concern_names: v
            .concerns
            .iter()
            .map(|c| name(Concern::parse(c).ok().map(|c| c.text_key()), c))
            .collect(),
        concerns: v.concerns,
        due_at: rfc3339(v.due_at),
        on_time: v.on_time,
        photos: v.photos,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VisitsQuery {
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitPage {
    pub items: Vec<VisitDto>,
    pub total: i64,
}

/// An enrolment's visits, the latest first.
#[utoipa::path(get, path = "/api/v1/care/enrolments/{id}/visits", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The enrolment's id"), VisitsQuery),
    responses((status = 200, body = VisitPage), (status = 404, body = ErrorBody)))]
async fn visits(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    Query(q): Query<VisitsQuery>,
) -> AppResult<Json<VisitPage>> {
    visible_enrolment(&state, &s.user, id).await?;
    let page = state
        .store
        .care_visits(id, None, Page::new(q.offset, q.limit))
        .await?;
    Ok(Json(VisitPage {
        items: page.items.into_iter().map(|v| visit_dto(v, lang)).collect(),
        total: page.total,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VisitBody {
    /// When the visit took place (RFC 3339); default now. At most 30 days back.
    pub visited_at: Option<String>,
    /// home or phone.
    pub mode: String,
    #[serde(default)]
    pub note: String,
    /// Concern codes: health, safety, living, mood, fraud, housing, other.
    #[serde(default)]
    pub concerns: Vec<String>,
    /// Up to 9 photos from POST /api/v1/photos.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// Records a visit (from the phone: time, note, concerns, photos). It is on time when made
/// by its due moment; the next visit falls due one interval after the latest. Audited.
#[utoipa::path(post, path = "/api/v1/care/enrolments/{id}/visits", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The enrolment's id")), request_body = VisitBody,
    responses((status = 201, body = VisitDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn record(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<VisitBody>,
) -> AppResult<(StatusCode, Json<VisitDto>)> {
    let v = record_checked(&state, &s.user, addr, id, b).await?;
    Ok((StatusCode::CREATED, Json(visit_dto(v, lang))))
}

/// Records a visit with the API's checks (the manage permission, mode, concerns, time,
/// photos, the enrolment in the caller's area); shared with the visit page's form.
pub(crate) async fn record_checked(
    state: &AppState,
    user: &User,
    addr: SocketAddr,
    id: i64,
    b: VisitBody,
) -> AppResult<Visit> {
    if !user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let mode = VisitMode::parse(&b.mode).map_err(AppError::bad_request)?;
    let concerns = Concern::parse_list(&b.concerns).map_err(AppError::bad_request)?;
    let visited_at = match b.visited_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    AppError::bad_request(
                        Problem::new("care_bad_time", "care.bad_time")
                            .arg("value", t)
                            .field("visited_at"),
                    )
                })?
                .timestamp_millis(),
        ),
    };
    if b.photos.len() > linli_core::care_visits::MAX_VISIT_PHOTOS {
        return Err(AppError::bad_request(
            Problem::new("care_too_many_photos", "care.too_many_photos")
                .arg("count", b.photos.len())
                .arg("max", linli_core::care_visits::MAX_VISIT_PHOTOS)
                .field("photos"),
        ));
    }
    let photos = b
        .photos
        .iter()
        .map(|r| photo_ref(state, r))
        .collect::<AppResult<Vec<_>>>()?;
    visible_enrolment(state, user, id).await?;
    Ok(state
        .store
        .record_visit(
            &actor(user, Some(addr)),
            id,
            &NewVisit {
                visited_at,
                mode,
                note: b.note,
                concerns,
                photos,
            },
        )
        .await?)
}

/// One of a visit's photos, for those who may see the enrolment.
#[utoipa::path(get, path = "/api/v1/care/enrolments/{id}/visits/{visit}/photos/{photo}", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path), ("visit" = i64, Path), ("photo" = String, Path, description = "As the visit lists it: <sha256>.<ext>")),
    responses((status = 200, description = "the image", content_type = "image/jpeg"), (status = 404, body = ErrorBody)))]
async fn visit_photo(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((id, visit, photo)): Path<(i64, i64, String)>,
) -> AppResult<Response> {
    visible_enrolment(&state, &s.user, id).await?;
    let not_found = || AppError::NotFound(format!("care visit {visit} photo"));
    let listed = state
        .store
        .care_visits(id, Some(visit), Page::new(None, Some(1)))
        .await?;
    if !listed.items.iter().any(|v| v.photos.contains(&photo)) {
        return Err(not_found());
    }
    let (sha, ext) = photo.split_once('.').ok_or_else(not_found)?;
    let format = match ext {
        "jpg" => linli_photo::Format::Jpeg,
        "png" => linli_photo::Format::Png,
        "webp" => linli_photo::Format::Webp,
        _ => return Err(not_found()),
    };
    let store = state
        .photos
        .as_ref()
        .map_err(|e| AppError::Internal(e.clone()))?;
    let bytes = store
        .read(sha, format)
        .map_err(|e| AppError::Internal(format!("care visit {visit} photo: {e}")))?;
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
// A household's alarm rules

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdRulesDto {
    pub household_id: i64,
    /// False: the defaults apply.
    pub custom: bool,
    /// Every setting of the alarm rules (see the README's Care section).
    #[schema(value_type = Object)]
    pub rules: Rules,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HouseholdRulesBody {
    /// The household's own rules; a setting left out keeps its default. Null: back to the
    /// defaults.
    #[schema(value_type = Option<Object>)]
    pub rules: Option<Rules>,
}

/// A household in the caller's area, or the same answer as for one that does not exist.
async fn visible_household(state: &AppState, user: &User, id: i64) -> AppResult<()> {
    match state.store.household(id).await? {
        Some(h) if user.scope.contains(h.region) => Ok(()),
        _ => Err(AppError::bad_request(
            Problem::new("care_household_not_found", "care.household_not_found")
                .arg("value", id)
                .field("household_id"),
        )),
    }
}

/// A household's alarm rules: its own or the defaults.
#[utoipa::path(get, path = "/api/v1/care/households/{id}/rules", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The household's id")),
    responses((status = 200, body = HouseholdRulesDto), (status = 400, body = ErrorBody)))]
async fn household_rules(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
) -> AppResult<Json<HouseholdRulesDto>> {
    if !s.user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    visible_household(&state, &s.user, id).await?;
    let r = state
        .store
        .care_household_rules(id)
        .await?
        .ok_or(AppError::NotFound(String::new()))?;
    Ok(Json(HouseholdRulesDto {
        household_id: r.household_id,
        custom: r.custom,
        rules: r.rules,
    }))
}

/// Gives a household its own alarm rules, or the defaults again with `{"rules": null}`.
/// They apply from the next reading and the next tick. Audited.
#[utoipa::path(put, path = "/api/v1/care/households/{id}/rules", tag = "care", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The household's id")), request_body = HouseholdRulesBody,
    responses((status = 200, body = HouseholdRulesDto), (status = 400, body = ErrorBody)))]
async fn set_household_rules(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiUser(s): ApiUser,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<HouseholdRulesBody>,
) -> AppResult<Json<HouseholdRulesDto>> {
    if !s.user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    visible_household(&state, &s.user, id).await?;
    let r = state
        .store
        .set_care_household_rules(&actor(&s.user, Some(addr)), id, b.rules.as_ref())
        .await?;
    Ok(Json(HouseholdRulesDto {
        household_id: r.household_id,
        custom: r.custom,
        rules: r.rules,
    }))
}

// ---------------------------------------------------------------------------------------
// The leaders' figures

/// The days the region summary's care figures look back over.
pub const FIGURES_DAYS: i64 = 30;

/// Care in a region: people under care and visits kept, devices online, alarms and how fast
/// they were acknowledged. Counts of alarms and visits are over the last `period_days`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CareFiguresDto {
    pub period_days: i64,
    /// People under care now, and those whose visit is overdue now.
    pub enrolled: i64,
    pub visits_overdue: i64,
    /// Visits made in the period, and those made by their due moment.
    pub visits: i64,
    pub visits_on_time: i64,
    /// Devices registered, and those whose latest reading is at most an hour old.
    pub devices: i64,
    pub devices_online: i64,
    /// Alarms raised in the period by kind (sos, smoke, inactivity …).
    pub alarms_by_kind: std::collections::BTreeMap<String, i64>,
    /// Resolved alarms of the period by outcome (false_alarm, visited_fine …).
    pub alarms_by_outcome: std::collections::BTreeMap<String, i64>,
    pub alarms_unresolved: i64,
    /// Alarms escalated to the community because nobody acknowledged them in time.
    pub alarms_escalated: i64,
    /// Acknowledged alarms, and the minutes from raised to acknowledged (median, 90th
    /// percentile).
    pub acknowledged: i64,
    pub acknowledge_p50_min: Option<f64>,
    pub acknowledge_p90_min: Option<f64>,
}

/// The care figures of `region` for the summary.
pub async fn figures(state: &AppState, region: RegionCode) -> AppResult<CareFiguresDto> {
    let now = linli_store::now_ms();
    let f = state
        .store
        .care_figures(region.range(), now - FIGURES_DAYS * 86_400_000, now)
        .await?;
    Ok(CareFiguresDto {
        period_days: FIGURES_DAYS,
        enrolled: f.enrolled,
        visits_overdue: f.overdue,
        visits: f.visits,
        visits_on_time: f.visits_on_time,
        devices: f.devices,
        devices_online: f.devices_online,
        alarms_by_kind: f.alarms_by_kind,
        alarms_by_outcome: f.alarms_by_outcome,
        alarms_unresolved: f.alarms_unresolved,
        alarms_escalated: f.alarms_escalated,
        acknowledged: f.acknowledged,
        acknowledge_p50_min: f.acknowledge_p50_min,
        acknowledge_p90_min: f.acknowledge_p90_min,
    })
}

#[derive(OpenApi)]
#[openapi(
    paths(
        get_rules,
        put_rules,
        candidates,
        enrol,
        enrol_all,
        list,
        one,
        replan,
        end,
        visits,
        record,
        visit_photo,
        household_rules,
        set_household_rules
    ),
    components(schemas(
        VisitRuleDto,
        VisitRulesDto,
        RulesBody,
        CandidateDto,
        CandidatePage,
        EnrolmentDto,
        EnrolBody,
        BulkBody,
        BulkDto,
        EnrolmentPage,
        ReplanBody,
        EndBody,
        VisitDto,
        VisitPage,
        VisitBody,
        HouseholdRulesDto,
        HouseholdRulesBody,
        CareFiguresDto
    ))
)]
pub struct CareVisitsDoc;
