//! A community's portrait (一社一画像): its index and rank, the map of its buildings coloured
//! by walking distance to a chosen type (drawn by healthcheck.js from the map APIs),
//! coverage per category, its indicators against the district median, its weak points with
//! the buildings out of reach, and siting for a weak type.

use axum::response::Response;
use linli_core::healthcheck::PASS_SHARE;
use linli_core::i18n::{self, Lang};
use linli_core::RegionCode;
use serde_json::{json, Value};

use super::plan::index_text;
use super::{coverage_groups, merge, percent, render, Results};
use crate::error::AppResult;
use crate::healthcheck_api::{CommunityDto, IndicatorDto};

/// Buildings listed under a weak type on the page; the export has them all.
const LISTED_BUILDINGS: usize = 12;

pub(super) fn render_page(
    lang: Lang,
    region: RegionCode,
    common: Value,
    results: Option<&Results>,
) -> AppResult<Response> {
    let Some((Results { dto, facts }, c)) =
        results.and_then(|r| r.dto.results.first().map(|c| (r, c)))
    else {
        return render("healthcheck_portrait.html", &common);
    };
    // The type the map and the siting form start on: the weakest type, else the one with the
    // least coverage.
    let focus = c.weak.first().map(|w| w.type_code.clone()).or_else(|| {
        c.coverage
            .iter()
            .min_by(|a, b| a.share.total_cmp(&b.share))
            .map(|x| x.type_code.clone())
    });
    let max_sites = linli_store::healthcheck::MAX_SITES;
    let figures = linli_core::healthcheck::FIGURES
        .iter()
        .map(|f| {
            json!({
                "name": i18n::text(lang, &format!("hc.figure.{f}")),
                "value": c.figures[f].as_f64().map_or_else(|| "—".to_string(), |v| format!("{v}")),
            })
        })
        .collect::<Vec<_>>();
    let ctx = merge(
        common,
        json!({
            "results": {
                "facts": facts,
                "ranked": dto.ranked,
                "community": {
                    "residents": c.residents,
                    "assessed": c.assessed,
                    "index": index_text(c.index),
                    "rank": c.rank,
                    "flagged": c.flagged,
                },
                "coverage": coverage_groups(lang, &c.coverage),
                "indicators": c.indicators.iter().map(|i| indicator_row(lang, i)).collect::<Vec<_>>(),
                "weak": weak_points(lang, c),
                "figures": figures,
                "types": c.coverage.iter().map(|x| json!({
                    "code": x.type_code,
                    "name": x.type_name,
                    "radius_m": x.radius_m,
                    "percent": percent(x.share),
                    "covered": x.covered,
                    "selected": Some(&x.type_code) == focus.as_ref(),
                })).collect::<Vec<_>>(),
                "ks": (1..=max_sites).map(|k| json!({"k": k, "selected": k == 3})).collect::<Vec<_>>(),
                "map_api": format!("/api/v1/regions/{region}/map"),
                "hc_map_api": format!("/api/v1/regions/{region}/healthcheck/map"),
                "siting_api": format!("/api/v1/regions/{region}/healthcheck/siting"),
                "pass_percent": percent(PASS_SHARE),
            },
        }),
    );
    render("healthcheck_portrait.html", &ctx)
}

/// An indicator with its value as it reads (a share in per cent, a ratio with two
/// decimals), its score, and where it stands against the district median.
fn indicator_row(lang: Lang, i: &IndicatorDto) -> Value {
    let share = i.code.starts_with("coverage.");
    let show = |v: Option<f64>| match v {
        None => i18n::text(lang, "hc.no_data").to_string(),
        Some(x) if share => format!("{}%", percent(x)),
        Some(x) => format!("{x:.2}"),
    };
    let standing = match (i.value, i.median) {
        (Some(v), Some(m)) if v > m + 1e-9 => "above",
        (Some(v), Some(m)) if v < m - 1e-9 => "below",
        (Some(_), Some(_)) => "even",
        _ => "none",
    };
    json!({
        "code": i.code,
        "name": i.name,
        "value": show(i.value),
        "median": show(i.median),
        "score": i.score.map(|s| format!("{s:.0}")),
        "score_width": i.score.map_or(0.0, |s| s.clamp(0.0, 100.0)),
        "standing": standing,
        "standing_text": i18n::text(lang, &format!("hp.standing.{standing}")),
    })
}

/// The weak types, weakest first, each with the buildings out of its reach (most residents
/// first) and how many residents they hold.
fn weak_points(lang: Lang, c: &CommunityDto) -> Vec<Value> {
    c.weak
        .iter()
        .map(|w| {
            let mut buildings: Vec<&Value> = w.buildings.iter().collect();
            buildings.sort_by_key(|b| std::cmp::Reverse(b["residents"].as_i64().unwrap_or(0)));
            let residents: i64 = buildings
                .iter()
                .map(|b| b["residents"].as_i64().unwrap_or(0))
                .sum();
            let listed: Vec<Value> = buildings
                .iter()
                .take(LISTED_BUILDINGS)
                .map(|b| {
                    let distance = match (b["placed"].as_bool(), b["meters"].as_i64()) {
                        (_, Some(m)) => i18n::format(lang, "hp.meters", &[("m", &m.to_string())]),
                        (Some(false), None) => i18n::text(lang, "hp.map.unplaced").to_string(),
                        _ => i18n::text(lang, "hp.map.none").to_string(),
                    };
                    json!({
                        "id": b["id"],
                        "name": b["name"],
                        "residents": b["residents"],
                        "distance": distance,
                    })
                })
                .collect();
            json!({
                "type": w.type_code,
                "name": w.type_name,
                "percent": percent(w.share),
                "buildings": listed,
                "count": buildings.len(),
                "more": buildings.len().saturating_sub(LISTED_BUILDINGS),
                "residents": residents,
            })
        })
        .collect()
}
