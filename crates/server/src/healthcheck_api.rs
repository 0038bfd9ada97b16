//! The health check over the API: the latest results for a community, street or district;
//! starting a run; a run's progress; staffing figures and weights.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use linli_core::healthcheck::Weight;
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Permission, Problem, RegionCode, Role};
use linli_store::audit::Actor;
use linli_store::healthcheck::{HealthcheckView, NetworkInput, RunRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{parse_code, ErrorBody, JsonBody};
use crate::auth::{require_view, ApiUser};
use crate::error::{AppError, AppResult};
use crate::events_api::rfc3339;
use crate::{AppState, ReqLang};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/regions/{code}/healthcheck",
            get(results).post(start),
        )
        .route("/api/v1/regions/{code}/healthcheck/run", get(progress))
        .route("/api/v1/regions/{code}/healthcheck/siting", get(siting))
        .route("/api/v1/regions/{code}/healthcheck/map", get(map))
        .route(
            "/api/v1/regions/{code}/healthcheck/figures",
            put(set_figures),
        )
        .route("/api/v1/healthcheck/weights", get(weights).put(set_weights))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    pub id: i64,
    /// The region the run covered.
    pub region: String,
    /// running, done or failed.
    pub state: String,
    /// load, network, types, save or done.
    pub stage: String,
    pub stage_name: String,
    pub done: i64,
    pub total: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub started_by: String,
    pub error: Option<String>,
    /// The run's inputs: network, types and radii, weights, counts, medians, timings.
    #[schema(value_type = Object)]
    pub inputs: Value,
}

pub(crate) fn run_dto(r: &RunRow, lang: Lang) -> RunDto {
    let stage_key = format!("hc.stage.{}", r.stage);
    RunDto {
        id: r.id,
        region: r.region.to_string(),
        state: r.state.clone(),
        stage: r.stage.clone(),
        stage_name: if i18n::has(&stage_key) {
            i18n::text(lang, &stage_key).to_string()
        } else {
            r.stage.clone()
        },
        done: r.done,
        total: r.total,
        started_at: rfc3339(r.started_at),
        finished_at: r.finished_at.map(rfc3339),
        started_by: r.started_by.clone(),
        error: r.error.clone(),
        inputs: r.inputs.clone(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageDto {
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    pub category: String,
    pub radius_m: u32,
    /// The share of residents within the radius (0–1).
    pub share: f64,
    pub covered: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorDto {
    pub code: String,
    pub name: String,
    pub value: Option<f64>,
    /// 0–100.
    pub score: Option<f64>,
    /// The median of the communities assessed in the run.
    pub median: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WeakDto {
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    pub share: f64,
    /// The buildings out of the type's reach (with their residents and walking metres, or
    /// null beyond the search's cap or off the network).
    #[schema(value_type = Vec<Object>)]
    pub buildings: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityDto {
    pub code: String,
    pub name: String,
    pub residents: i64,
    pub assessed: bool,
    pub index: Option<f64>,
    pub rank: Option<i64>,
    pub flagged: bool,
    pub coverage: Vec<CoverageDto>,
    pub indicators: Vec<IndicatorDto>,
    pub weak: Vec<WeakDto>,
    #[schema(value_type = Object)]
    pub figures: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthcheckDto {
    pub region: String,
    pub run: RunDto,
    /// How many communities the run ranked.
    pub ranked: i64,
    pub communities: usize,
    pub assessed: usize,
    pub flagged: usize,
    pub residents: i64,
    /// The mean index of the assessed communities here.
    pub mean_index: Option<f64>,
    /// Per type, the share of the assessed communities' residents within reach.
    pub coverage: Vec<CoverageDto>,
    /// The communities, best rank first, unassessed last.
    pub results: Vec<CommunityDto>,
}

fn indicator_name(code: &str, lang: Lang) -> String {
    i18n::text(lang, &format!("hc.{code}")).to_string()
}

pub(crate) async fn dto(
    state: &AppState,
    code: RegionCode,
    view: HealthcheckView,
    lang: Lang,
) -> AppResult<HealthcheckDto> {
    let types = state.store.facility_types().await?;
    let medians: Vec<(String, Option<f64>)> = view.run.inputs["medians"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["indicator"].as_str().unwrap_or("").to_string(),
                        m["median"].as_f64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let type_name = |c: &str| {
        types
            .iter()
            .find(|t| t.code == c)
            .map(|t| t.name(lang).to_string())
            .unwrap_or_else(|| c.to_string())
    };
    let one_community = code.level() == linli_core::Level::Community;
    let mut covered_sum = vec![0u64; types.len()];
    let mut assessed_residents = 0u64;
    let results: Vec<CommunityDto> = view
        .communities
        .iter()
        .map(|c| {
            let d = &c.detail;
            let coverage: Vec<CoverageDto> = d["coverage"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| {
                    let t = types
                        .iter()
                        .find(|t| t.code == x["type"].as_str().unwrap_or(""))?;
                    Some(CoverageDto {
                        type_code: t.code.clone(),
                        type_name: t.name(lang).to_string(),
                        category: t.category.as_str().to_string(),
                        radius_m: t.radius_m,
                        share: x["share"].as_f64().unwrap_or(0.0),
                        covered: x["covered"].as_u64().unwrap_or(0),
                    })
                })
                .collect();
            if c.assessed {
                assessed_residents += c.residents.max(0) as u64;
                for (i, t) in types.iter().enumerate() {
                    covered_sum[i] += coverage
                        .iter()
                        .find(|x| x.type_code == t.code)
                        .map_or(0, |x| x.covered);
                }
            }
            CommunityDto {
                code: c.community.to_string(),
                name: c.name.clone(),
                residents: c.residents,
                assessed: c.assessed,
                index: c.index,
                rank: c.rank,
                flagged: c.flagged,
                coverage,
                indicators: d["indicators"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| {
                        let code = i["code"].as_str().unwrap_or("").to_string();
                        IndicatorDto {
                            name: indicator_name(&code, lang),
                            value: i["value"].as_f64(),
                            score: i["score"].as_f64(),
                            median: medians.iter().find(|m| m.0 == code).and_then(|m| m.1),
                            code,
                        }
                    })
                    .collect(),
                weak: d["weak"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|w| {
                        let t = w["type"].as_str().unwrap_or("").to_string();
                        let buildings = w["buildings"].as_array().cloned().unwrap_or_default();
                        WeakDto {
                            type_name: type_name(&t),
                            type_code: t,
                            share: w["share"].as_f64().unwrap_or(0.0),
                            // A street's or district's answer names the weak types; the
                            // buildings themselves come with a community's.
                            buildings: if one_community { buildings } else { Vec::new() },
                        }
                    })
                    .collect(),
                figures: d["figures"].clone(),
            }
        })
        .collect();
    let indexes: Vec<f64> = view.communities.iter().filter_map(|c| c.index).collect();
    Ok(HealthcheckDto {
        region: code.to_string(),
        run: run_dto(&view.run, lang),
        ranked: view.ranked,
        communities: results.len(),
        assessed: results.iter().filter(|c| c.assessed).count(),
        flagged: results.iter().filter(|c| c.flagged).count(),
        residents: results.iter().map(|c| c.residents).sum(),
        mean_index: (!indexes.is_empty())
            .then(|| indexes.iter().sum::<f64>() / indexes.len() as f64),
        coverage: types
            .iter()
            .zip(&covered_sum)
            .map(|(t, covered)| CoverageDto {
                type_code: t.code.clone(),
                type_name: t.name(lang).to_string(),
                category: t.category.as_str().to_string(),
                radius_m: t.radius_m,
                share: if assessed_residents > 0 {
                    *covered as f64 / assessed_residents as f64
                } else {
                    0.0
                },
                covered: *covered,
            })
            .collect(),
        results,
    })
}

fn check_view(s: &linli_store::Session, code: &str) -> AppResult<RegionCode> {
    if !s.user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    let region = parse_code(code, "code")?;
    require_view(&s.user, region)?;
    Ok(region)
}

/// The latest health-check results covering a community, street or district: per-type
/// coverage, indicators against the district median, index, rank and the shortfall flag.
#[utoipa::path(get, path = "/api/v1/regions/{code}/healthcheck", tag = "healthcheck", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 200, body = HealthcheckDto), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn results(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<HealthcheckDto>> {
    let region = check_view(&s, &code)?;
    let Some(region_row) = state.store.region(region).await? else {
        return Err(AppError::NotFound(region.to_string()));
    };
    match state.store.healthcheck(region).await? {
        Some(view) => Ok(Json(dto(&state, region, view, lang).await?)),
        None => Err(AppError::Problem(
            StatusCode::NOT_FOUND,
            Problem::new("no_healthcheck", "hc.no_run")
                .arg("region", region_row.name)
                .arg("code", region),
        )),
    }
}

/// The latest run of the region or a region above it, in any state: a page polls it for the
/// live progress line.
#[utoipa::path(get, path = "/api/v1/regions/{code}/healthcheck/run", tag = "healthcheck", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 200, body = RunDto), (status = 404, body = ErrorBody)))]
async fn progress(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<RunDto>> {
    let region = check_view(&s, &code)?;
    match state.store.latest_healthcheck_run(region, false).await? {
        Some(run) => Ok(Json(run_dto(&run, lang))),
        None => Err(AppError::NotFound(region.to_string())),
    }
}

/// Starts a run for a district, street or community over the stored roads layer; answers at
/// once (202) while the run goes on. One run at a time per region.
#[utoipa::path(post, path = "/api/v1/regions/{code}/healthcheck", tag = "healthcheck", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 202, body = RunDto), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<(StatusCode, Json<RunDto>)> {
    let run = start_check(&state, &s, &code).await?;
    Ok((StatusCode::ACCEPTED, Json(run_dto(&run, lang))))
}

/// Whether `user` may start health checks: those who plan for a region (administrators,
/// leaders and community workers), within their area.
pub(crate) fn may_start(user: &linli_store::User) -> bool {
    matches!(
        user.role,
        Role::Admin | Role::Leader | Role::CommunityWorker
    )
}

/// A health check covers a district, street or community; any other level is a 400 that
/// says so.
pub(crate) fn require_checked_level(region: RegionCode) -> AppResult<()> {
    if matches!(
        region.level(),
        Level::District | Level::Street | Level::Community
    ) {
        Ok(())
    } else {
        Err(AppError::bad_request(
            Problem::new("not_for_level", "hc.not_for_level")
                .arg("code", region)
                .arg_key("level", region.level().label_key()),
        ))
    }
}

/// Starts a run for `code` in the background (for the API and the pages alike) and returns
/// its row once written.
pub(crate) async fn start_check(
    state: &AppState,
    s: &linli_store::Session,
    code: &str,
) -> AppResult<RunRow> {
    if !may_start(&s.user) {
        return Err(AppError::Forbidden);
    }
    let region = parse_code(code, "code")?;
    require_view(&s.user, region)?;
    require_checked_level(region)?;
    if state.store.region(region).await?.is_none() {
        return Err(AppError::NotFound(region.to_string()));
    }
    let before = state.store.latest_healthcheck_run(region, false).await?;
    if let Some(run) = &before {
        let abandoned = linli_store::now_ms() - run.started_at
            > linli_store::healthcheck::run::ABANDONED_AFTER_MS;
        if run.state == "running" && run.region == region && !abandoned {
            return Err(AppError::Problem(
                StatusCode::CONFLICT,
                Problem::new("healthcheck_running", "hc.already_running").arg("id", run.id),
            ));
        }
    }
    let before = before.map(|r| r.id);
    let store = state.store.clone();
    let actor = Actor {
        user_id: Some(s.user.id),
        username: s.user.username.clone(),
        ip: None,
    };
    tokio::spawn(async move {
        if let Err(e) = store
            .run_healthcheck(
                &actor,
                region,
                NetworkInput::Stored,
                &linli_store::divisions::Quiet,
            )
            .await
        {
            tracing::warn!(%region, error = %e, "health check failed");
        }
    });
    // The run's row is written first thing; wait for it briefly so the answer can name it.
    for _ in 0..50 {
        if let Some(run) = state.store.latest_healthcheck_run(region, false).await? {
            if Some(run.id) != before {
                return Ok(run);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(AppError::Internal(
        "the health check did not start within a second".into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SitingQuery {
    /// The facility type's code, e.g. `elderly_day_care`.
    #[serde(rename = "type")]
    pub type_code: String,
    /// How many sites (1–10, default 3).
    pub k: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteDto {
    pub lon: f64,
    pub lat: f64,
    /// Residents newly within the type's radius, given the sites before it.
    pub residents: u64,
    /// The buildings newly within reach.
    pub buildings: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SitingDto {
    pub community: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    pub radius_m: u32,
    /// Best first: greedy maximum coverage of the residents not yet within reach.
    pub sites: Vec<SiteDto>,
}

/// Where new facilities of a type would bring the most residents of a community within
/// walking reach (greedy maximum coverage over the walking network, from the latest run).
#[utoipa::path(get, path = "/api/v1/regions/{code}/healthcheck/siting", tag = "healthcheck", security(("bearer" = [])),
    params(("code" = String, Path), SitingQuery),
    responses((status = 200, body = SitingDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn siting(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
    Query(q): Query<SitingQuery>,
) -> AppResult<Json<SitingDto>> {
    let region = check_view(&s, &code)?;
    let k = q.k.unwrap_or(3);
    let sites = state
        .store
        .healthcheck_siting(region, &q.type_code, k)
        .await?;
    let types = state.store.facility_types().await?;
    let t = types
        .iter()
        .find(|t| t.code == q.type_code)
        .ok_or_else(|| AppError::NotFound(q.type_code.clone()))?;
    Ok(Json(SitingDto {
        community: region.to_string(),
        type_code: t.code.clone(),
        type_name: t.name(lang).to_string(),
        radius_m: t.radius_m,
        sites: sites
            .into_iter()
            .map(|p| SiteDto {
                lon: p.lon,
                lat: p.lat,
                residents: p.residents,
                buildings: p.buildings,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MapTypeDto {
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    pub category: String,
    pub category_name: String,
    pub radius_m: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthcheckMapDto {
    pub community: String,
    /// The facility types, in the order of `meters`.
    pub types: Vec<MapTypeDto>,
    /// Each building as `[id, lon, lat, residents, placed]`; `placed` is false for a building
    /// too far from any walkable line to be put on the network.
    #[schema(value_type = Vec<Object>)]
    pub buildings: Vec<Value>,
    /// Per type, per building (in `buildings` order): walking metres to the nearest facility
    /// of the type, or null beyond the search's cap or off the network.
    pub meters: Vec<Vec<Option<i64>>>,
}

/// A community's buildings with their walking metres to the nearest facility of each type,
/// from the latest finished run: what the portrait's map colours.
#[utoipa::path(get, path = "/api/v1/regions/{code}/healthcheck/map", tag = "healthcheck", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 200, body = HealthcheckMapDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn map(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
) -> AppResult<Json<HealthcheckMapDto>> {
    let region = check_view(&s, &code)?;
    if region.level() != Level::Community {
        return Err(AppError::bad_request(
            Problem::new("not_a_community", "hc.map_community_only").arg("code", region),
        ));
    }
    let Some(map) = state.store.healthcheck_map(region).await? else {
        return Err(AppError::Problem(
            StatusCode::NOT_FOUND,
            Problem::new("no_healthcheck", "hc.no_map").arg("code", region),
        ));
    };
    let types = state.store.facility_types().await?;
    Ok(Json(HealthcheckMapDto {
        community: region.to_string(),
        types: map["types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|code| {
                let code = code.as_str().unwrap_or("");
                match types.iter().find(|t| t.code == code) {
                    Some(t) => MapTypeDto {
                        type_code: t.code.clone(),
                        type_name: t.name(lang).to_string(),
                        category: t.category.as_str().to_string(),
                        category_name: i18n::text(lang, t.category.label_key()).to_string(),
                        radius_m: t.radius_m,
                    },
                    // A type removed from the typology since the run keeps its code.
                    None => MapTypeDto {
                        type_code: code.to_string(),
                        type_name: code.to_string(),
                        category: String::new(),
                        category_name: String::new(),
                        radius_m: 0,
                    },
                }
            })
            .collect(),
        buildings: map["buildings"].as_array().cloned().unwrap_or_default(),
        meters: map["meters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                row.as_array()
                    .into_iter()
                    .flatten()
                    .map(Value::as_i64)
                    .collect()
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FiguresRequest {
    /// Community workers (社区工作者); null to clear.
    pub community_workers: Option<f64>,
    /// Licensed elderly-care staff (持证养老护理员); null to clear.
    pub elderly_care_staff: Option<f64>,
    /// Infant-care places (婴幼儿托位); null to clear.
    pub infant_care_places: Option<f64>,
}

/// Sets a community's staffing figures, used by the next run.
#[utoipa::path(put, path = "/api/v1/regions/{code}/healthcheck/figures", tag = "healthcheck", security(("bearer" = [])),
    params(("code" = String, Path)), request_body = FiguresRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_figures(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(code): Path<String>,
    JsonBody(b): JsonBody<FiguresRequest>,
) -> AppResult<StatusCode> {
    if !s.user.role.allows(Permission::ManageRegistry) {
        return Err(AppError::Forbidden);
    }
    let region = parse_code(&code, "code")?;
    require_view(&s.user, region)?;
    let actor = Actor {
        user_id: Some(s.user.id),
        username: s.user.username.clone(),
        ip: None,
    };
    let figures = vec![
        ("community_workers".to_string(), b.community_workers),
        ("elderly_care_staff".to_string(), b.elderly_care_staff),
        ("infant_care_places".to_string(), b.infant_care_places),
    ];
    state
        .store
        .set_community_figures(&actor, region, &figures)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WeightDto {
    pub indicator: String,
    #[serde(default)]
    pub name: String,
    pub weight: f64,
    /// The value that scores 100 (ratio indicators only).
    pub target: Option<f64>,
}

fn weight_dtos(ws: &[Weight], lang: Lang) -> Vec<WeightDto> {
    ws.iter()
        .map(|w| WeightDto {
            indicator: w.indicator.clone(),
            name: indicator_name(&w.indicator, lang),
            weight: w.weight,
            target: w.target,
        })
        .collect()
}

/// The index's weights and the ratios' targets in force.
#[utoipa::path(get, path = "/api/v1/healthcheck/weights", tag = "healthcheck", security(("bearer" = [])),
    responses((status = 200, body = Vec<WeightDto>)))]
async fn weights(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
) -> AppResult<Json<Vec<WeightDto>>> {
    if !s.user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    Ok(Json(weight_dtos(
        &state.store.healthcheck_weights().await?,
        lang,
    )))
}

/// Changes weights and targets (those who edit the typology: administrators).
#[utoipa::path(put, path = "/api/v1/healthcheck/weights", tag = "healthcheck", security(("bearer" = [])),
    request_body = Vec<WeightDto>,
    responses((status = 200, body = Vec<WeightDto>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_weights(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiUser(s): ApiUser,
    JsonBody(b): JsonBody<Vec<WeightDto>>,
) -> AppResult<Json<Vec<WeightDto>>> {
    if !s.user.role.allows(Permission::ManageTypology) {
        return Err(AppError::Forbidden);
    }
    let actor = Actor {
        user_id: Some(s.user.id),
        username: s.user.username.clone(),
        ip: None,
    };
    let changes: Vec<Weight> = b
        .into_iter()
        .map(|w| Weight {
            indicator: w.indicator,
            weight: w.weight,
            target: w.target,
        })
        .collect();
    let next = state
        .store
        .set_healthcheck_weights(&actor, &changes)
        .await?;
    Ok(Json(weight_dtos(&next, lang)))
}

#[derive(OpenApi)]
#[openapi(
    paths(results, progress, start, set_figures, weights, set_weights, siting, map),
    components(schemas(HealthcheckDto, RunDto, CommunityDto, CoverageDto, IndicatorDto, WeakDto, FiguresRequest, WeightDto,
        SiteDto, SitingDto, MapTypeDto, HealthcheckMapDto)),
    tags((name = "healthcheck", description = "Community health check (社区体检): walking coverage, indicators, ranking"))
)]
pub struct HealthcheckDoc;
