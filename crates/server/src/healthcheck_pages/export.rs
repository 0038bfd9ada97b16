//! The plan as an .xlsx workbook: the ranking with every type's coverage (sheet one), and
//! the shortfall list with each flagged community's buildings out of reach of its failing
//! types (sheet two), for the district's or street's planners to work from.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use linli_core::i18n;
use linli_core::Problem;
use linli_sheet::{Cell, XlsxWriter};
use serde_json::Value;

use super::plan::index_text;
use super::viewable;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::healthcheck_api;
use crate::registry_files::{sheet_error, xlsx_response};
use crate::{AppState, ReqLang};

pub(super) async fn xlsx(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let region = viewable(&s, &code)?;
    healthcheck_api::require_checked_level(region)?;
    let Some(row) = state.store.region(region).await? else {
        return Err(AppError::NotFound(region.to_string()));
    };
    let Some(view) = state.store.healthcheck(region).await? else {
        return Err(AppError::Problem(
            StatusCode::NOT_FOUND,
            Problem::new("no_healthcheck", "hc.no_run")
                .arg("region", &row.name)
                .arg("code", region),
        ));
    };
    // The buildings out of reach are in the stored detail; the API's shape leaves them out
    // above a community.
    let out_of_reach: Vec<Vec<(String, Vec<Value>)>> = view
        .communities
        .iter()
        .map(|c| {
            c.detail["weak"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| {
                    (
                        w["type"].as_str().unwrap_or("").to_string(),
                        w["buildings"].as_array().cloned().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .collect();
    let finished = view
        .run
        .finished_at
        .map(|ms| linli_core::china_time::format(ms, "%Y-%m-%d"))
        .unwrap_or_default();
    let dto = healthcheck_api::dto(&state, region, view, lang).await?;
    let t = |k: &'static str| i18n::text(lang, k);

    let mut headers: Vec<String> = [
        "hp.col.rank",
        "hp.col.code",
        "hp.col.community",
        "hp.col.residents",
        "hp.col.index",
        "hp.col.flagged",
        "hp.col.weak",
    ]
    .iter()
    .map(|k| t(k).to_string())
    .collect();
    headers.extend(dto.coverage.iter().map(|c| {
        i18n::format(
            lang,
            "hp.col.coverage_of",
            &[("type", &c.type_name), ("m", &c.radius_m.to_string())],
        )
    }));
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut w = XlsxWriter::new(t("hp.sheet.ranking"), &header_refs).map_err(sheet_error)?;
    for c in &dto.results {
        let mut cells = vec![
            c.rank.map_or(Cell::Empty, Cell::Int),
            Cell::from(c.code.clone()),
            Cell::from(c.name.clone()),
            Cell::Int(c.residents),
            c.index.map_or_else(
                || Cell::from(t("hc.not_assessed")),
                |x| Cell::Float((x * 10.0).round() / 10.0),
            ),
            Cell::from(t(if c.flagged { "hp.yes" } else { "hp.no" })),
            Cell::from(
                c.weak
                    .iter()
                    .map(|w| w.type_name.as_str())
                    .collect::<Vec<_>>()
                    .join(t("hp.list_sep")),
            ),
        ];
        for all in &dto.coverage {
            cells.push(
                c.coverage
                    .iter()
                    .find(|x| x.type_code == all.type_code)
                    .filter(|_| c.assessed)
                    .map_or(Cell::Empty, |x| {
                        Cell::Float((x.share * 1000.0).round() / 10.0)
                    }),
            );
        }
        w.push_row(&cells).map_err(sheet_error)?;
    }

    let shortfall_headers: Vec<&str> = [
        "hp.col.code",
        "hp.col.community",
        "hp.col.rank",
        "hp.col.index",
        "hp.col.type",
        "hp.col.share",
        "hp.col.building_id",
        "hp.col.building",
        "hp.col.residents",
        "hp.col.meters",
    ]
    .iter()
    .map(|k| t(k))
    .collect();
    w.add_sheet(t("hp.sheet.shortfall"), &shortfall_headers)
        .map_err(sheet_error)?;
    for (c, weak) in dto.results.iter().zip(&out_of_reach) {
        if !c.flagged {
            continue;
        }
        for (type_code, buildings) in weak {
            let ty = c.weak.iter().find(|x| &x.type_code == type_code);
            let type_name = ty.map_or(type_code.as_str(), |x| x.type_name.as_str());
            let share = ty.map_or(0.0, |x| x.share);
            for b in buildings {
                w.push_row(&[
                    Cell::from(c.code.clone()),
                    Cell::from(c.name.clone()),
                    c.rank.map_or(Cell::Empty, Cell::Int),
                    Cell::from(index_text(c.index)),
                    Cell::from(type_name),
                    Cell::Float((share * 1000.0).round() / 10.0),
                    b["id"].as_i64().map_or(Cell::Empty, Cell::Int),
                    Cell::from(b["name"].as_str().unwrap_or("")),
                    b["residents"].as_i64().map_or(Cell::Empty, Cell::Int),
                    match (b["placed"].as_bool(), b["meters"].as_i64()) {
                        (_, Some(m)) => Cell::Int(m),
                        (Some(false), None) => Cell::from(t("hp.map.unplaced")),
                        _ => Cell::from(t("hp.map.none")),
                    },
                ])
                .map_err(sheet_error)?;
            }
        }
    }
    let bytes = w.finish().map_err(sheet_error)?;
    let file = i18n::format(
        lang,
        "hp.export.file",
        &[("region", &row.name), ("date", &finished)],
    );
    Ok(xlsx_response(bytes, &format!("{file}.xlsx")))
}
