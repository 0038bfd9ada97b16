//! The district's or street's plan (一区一规划): the run's facts, coverage per category for
//! the residents of the assessed communities, the ranking, and the shortfall list (the
//! flagged communities with their failing types).

use axum::response::Response;
use linli_core::i18n::{self, Lang};
use linli_core::RegionCode;
use serde_json::{json, Value};

use super::{coverage_groups, merge, percent, render, Results};
use crate::error::AppResult;
use crate::healthcheck_api::CommunityDto;

pub(super) fn render_page(
    lang: Lang,
    region: RegionCode,
    common: Value,
    results: Option<&Results>,
) -> AppResult<Response> {
    let Some(Results { dto, facts }) = results else {
        return render("healthcheck_plan.html", &common);
    };
    let rows: Vec<Value> = dto.results.iter().map(|c| ranking_row(lang, c)).collect();
    let shortfall: Vec<Value> = dto
        .results
        .iter()
        .filter(|c| c.flagged)
        .map(|c| {
            json!({
                "code": c.code,
                "name": c.name,
                "rank": c.rank,
                "index": index_text(c.index),
                "weak": c.weak.iter().take(SHOWN_WEAK).map(|w| json!({"name": w.type_name, "percent": percent(w.share)})).collect::<Vec<_>>(),
                "more": c.weak.len().saturating_sub(SHOWN_WEAK),
            })
        })
        .collect();
    let ctx = merge(
        common,
        json!({
            "results": {
                "facts": facts,
                "communities": dto.communities,
                "assessed": dto.assessed,
                "ranked": dto.ranked,
                "flagged": dto.flagged,
                "residents": dto.residents,
                "mean_index": index_text(dto.mean_index),
                "coverage": coverage_groups(lang, &dto.coverage),
                "rows": rows,
                "shortfall": shortfall,
                "export": format!("/regions/{region}/healthcheck.xlsx"),
            },
        }),
    );
    render("healthcheck_plan.html", &ctx)
}

/// Weak types named per community on the page, weakest first; the export names them all.
const SHOWN_WEAK: usize = 6;

fn ranking_row(lang: Lang, c: &CommunityDto) -> Value {
    let mut weak = c
        .weak
        .iter()
        .take(SHOWN_WEAK)
        .map(|w| w.type_name.as_str())
        .collect::<Vec<_>>()
        .join(i18n::text(lang, "hp.list_sep"));
    if c.weak.len() > SHOWN_WEAK {
        weak = i18n::format(
            lang,
            "hp.and_more",
            &[("list", &weak), ("n", &c.weak.len().to_string())],
        );
    }
    json!({
        "code": c.code,
        "name": c.name,
        "residents": c.residents,
        "assessed": c.assessed,
        "rank": c.rank,
        "index": index_text(c.index),
        "flagged": c.flagged,
        "weak": weak,
    })
}

/// An index (0–100) with one decimal, or a dash.
pub(super) fn index_text(index: Option<f64>) -> String {
    index.map_or_else(|| "—".to_string(), |x| format!("{x:.1}"))
}
