//! The health-check pages (社区体检): `/regions/{code}/healthcheck` is the district's or
//! street's plan (一区一规划: the ranking and the shortfall list, exported to .xlsx) or a
//! community's portrait (一社一画像: the map of its buildings coloured by walking distance,
//! coverage per category, indicators against the district median, weak points and siting).
//! While a run is going on, the page shows its progress line and follows it live.
//!
//! The pages read the same store calls and the same shape as the JSON API
//! (`healthcheck_api::dto`), and check access the same way. Their own templates use the
//! translation table's `hp.*` keys (with the engine's `hc.*` names of indicators and stages).

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Permission, RegionCode};
use linli_store::healthcheck::RunRow;
use linli_store::Session;
use minijinja::Environment;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::parse_code;
use crate::auth::{require_view, PageUser};
use crate::error::{AppError, AppResult};
use crate::healthcheck_api::{self, CoverageDto, HealthcheckDto};
use crate::page_kit::{self, header, merge};
use crate::{AppState, ReqLang};

mod export;
mod plan;
mod portrait;

#[cfg(test)]
mod tests;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/regions/{code}/healthcheck", get(page))
        .route("/regions/{code}/healthcheck/run", post(run))
        .route("/regions/{code}/healthcheck.xlsx", get(export::xlsx))
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../../web/templates/base.html"),
    ),
    (
        "healthcheck_macros.html",
        include_str!("../../../../web/templates/healthcheck_macros.html"),
    ),
    (
        "healthcheck_plan.html",
        include_str!("../../../../web/templates/healthcheck_plan.html"),
    ),
    (
        "healthcheck_portrait.html",
        include_str!("../../../../web/templates/healthcheck_portrait.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| crate::templates::environment(TEMPLATES))
}

fn render(template: &str, ctx: &Value) -> AppResult<Response> {
    page_kit::render(env(), template, ctx)
}

/// The region asked for, when the reader may see health checks and the region: staff who
/// read the registry, within their area (as the API checks it).
fn viewable(s: &Session, code: &str) -> AppResult<RegionCode> {
    if !s.user.role.allows(Permission::ViewRegistry) {
        return Err(AppError::Forbidden);
    }
    let region = parse_code(code, "code")?;
    require_view(&s.user, region)?;
    Ok(region)
}

async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let region = viewable(&s, &code)?;
    // A grid belongs to a community, whose portrait covers it.
    if region.level() > Level::Community {
        if let Some(community) = region
            .ancestors()
            .into_iter()
            .find(|a| a.level() == Level::Community)
        {
            return Ok(Redirect::to(&format!("/regions/{community}/healthcheck")).into_response());
        }
    }
    healthcheck_api::require_checked_level(region)?;
    let Some(row) = state.store.region(region).await? else {
        return Err(AppError::NotFound(region.to_string()));
    };
    let latest = state.store.latest_healthcheck_run(region, false).await?;
    let results = match state.store.healthcheck(region).await? {
        Some(view) => {
            let facts = run_facts(lang, &view.run);
            Some(Results {
                dto: healthcheck_api::dto(&state, region, view, lang).await?,
                facts,
            })
        }
        None => None,
    };
    let crumbs = crumbs(&state, &s, region).await?;
    let common = merge(
        header(lang, &s, &format!("/regions/{region}/healthcheck")),
        json!({
            "region": {
                "code": region.to_string(),
                "name": row.name,
                "level": region.level().as_str(),
                "level_label": i18n::text(lang, region.level().label_key()),
            },
            "crumbs": crumbs,
            "can_start": healthcheck_api::may_start(&s.user),
            "live": latest.as_ref().map(|r| live(lang, region, r)),
            "texts": texts(lang).to_string(),
        }),
    );
    if region.level() == Level::Community {
        portrait::render_page(lang, region, common, results.as_ref())
    } else {
        plan::render_page(lang, region, common, results.as_ref())
    }
}

#[derive(Deserialize)]
struct RunForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// The "run the check" button: starts a run and comes back to the page, which follows it.
async fn run(
    State(state): State<AppState>,
    user: PageUser,
    Path(code): Path<String>,
    Form(form): Form<RunForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let region = viewable(&user.0, &code)?;
    healthcheck_api::start_check(&state, &user.0, &region.to_string()).await?;
    Ok(Redirect::to(&format!("/regions/{region}/healthcheck")).into_response())
}

/// The way up to the region, within the reader's area, each linking to its health check.
async fn crumbs(state: &AppState, s: &Session, region: RegionCode) -> AppResult<Vec<Value>> {
    let mut path: Vec<RegionCode> = region
        .ancestors()
        .into_iter()
        .filter(|a| a.level() >= Level::District && s.user.scope.contains(*a))
        .collect();
    path.push(region);
    Ok(state
        .store
        .regions(&path)
        .await?
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "href": format!("/regions/{}/healthcheck", r.code),
                "current": r.code == region,
            })
        })
        .collect())
}

/// The latest run touching the region, for the progress line: the page follows a running
/// one through the API and reloads when it ends.
fn live(lang: Lang, region: RegionCode, r: &RunRow) -> Value {
    let stage_key = format!("hc.stage.{}", r.stage);
    let stage = if i18n::has(&stage_key) {
        i18n::text(lang, &stage_key).to_string()
    } else {
        r.stage.clone()
    };
    // A run "running" long past any real run's time belongs to a process that stopped: the
    // next run marks it so; meanwhile the page offers the button rather than wait on it.
    let abandoned = r.state == "running"
        && linli_store::now_ms() - r.started_at > linli_store::healthcheck::run::ABANDONED_AFTER_MS;
    json!({
        "id": r.id,
        "state": r.state,
        "running": r.state == "running" && !abandoned,
        "failed": r.state == "failed" || abandoned,
        "error": if abandoned { Some(i18n::text(lang, "hc.abandoned").to_string()) } else { r.error.clone() },
        "line": i18n::format(lang, "hc.running", &[
            ("stage", &stage),
            ("done", &r.done.to_string()),
            ("total", &r.total.to_string()),
        ]),
        "done": r.done,
        "total": r.total,
        "started_at": when(r.started_at),
        "started_by": r.started_by,
        "api": format!("/api/v1/regions/{region}/healthcheck/run"),
    })
}

/// The words the page script needs, from the translation table.
fn texts(lang: Lang) -> Value {
    let keys = [
        "hc.running",
        "hp.progress.done",
        "hp.progress.failed",
        "hp.progress.lost",
        "hp.map.within",
        "hp.map.near",
        "hp.map.far",
        "hp.map.none",
        "hp.map.off",
        "hp.map.sites",
        "hp.map.meters",
        "hp.map.residents",
        "hp.map.unplaced",
        "hp.site.failed",
        "hp.site.none",
        "hp.site.row",
    ];
    let mut out = serde_json::Map::new();
    for k in keys {
        out.insert(k.to_string(), json!(i18n::text(lang, k)));
    }
    Value::Object(out)
}

/// A run's time as the pages show it (China time).
fn when(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

/// A share (0–1) as a percentage with one decimal.
fn percent(share: f64) -> String {
    format!("{:.1}", share * 100.0)
}

/// Coverage bars grouped by category, in the typology's order.
fn coverage_groups(lang: Lang, coverage: &[CoverageDto]) -> Vec<Value> {
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for c in coverage {
        let bar = json!({
            "type": c.type_code,
            "name": c.type_name,
            "radius_m": c.radius_m,
            "share": c.share,
            "percent": percent(c.share),
            "covered": c.covered,
            "low": c.share < linli_core::healthcheck::PASS_SHARE,
        });
        match groups.iter_mut().find(|(cat, _)| *cat == c.category) {
            Some((_, bars)) => bars.push(bar),
            None => groups.push((c.category.clone(), vec![bar])),
        }
    }
    groups
        .into_iter()
        .map(|(cat, bars)| {
            json!({
                "category": cat,
                "name": i18n::text(lang, &format!("facility_category.{cat}")),
                "bars": bars,
            })
        })
        .collect()
}

/// The latest finished run's results as the API gives them, with the facts of the run.
struct Results {
    dto: HealthcheckDto,
    facts: Value,
}

/// What the run read and when, for the page's facts line.
fn run_facts(lang: Lang, run: &RunRow) -> Value {
    let inputs = &run.inputs;
    let network = match inputs["network_file"].as_str() {
        Some(file) => file.to_string(),
        None => i18n::text(lang, "hp.network.stored").to_string(),
    };
    json!({
        "id": run.id,
        "finished_at": run.finished_at.map(when),
        "started_by": run.started_by,
        "network": network,
        "buildings": inputs["buildings"],
        "placed_buildings": inputs["placed_buildings"],
        "facilities": inputs["facilities"],
        "walk_ms": inputs["timings_ms"]["walk"],
    })
}
