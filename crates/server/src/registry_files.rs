//! Registry files: the workbook import (any of the four kinds, .xlsx or .csv), the export
//! of a filtered resident list to .xlsx, the downloadable templates and error reports.
//! Shared by the API, the pages and the command line.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use linli_core::grid_import::RowError;
use linli_core::i18n::{self, Lang};
use linli_core::registry::facility::FacilityType;
use linli_core::registry::rows::{self, RecordKind};
use linli_core::table::Table;
use linli_core::{Problem, RegionCode};
use linli_sheet::{Cell, XlsxWriter};
use linli_store::divisions::Progress;
use linli_store::registry::import::ImportOutcome;
use linli_store::registry::{Page, ResidentFilter};
use linli_store::{Actor, Store, StoreError};
use serde_json::json;

use crate::error::{AppError, AppResult};
use crate::registry_api::today;

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An .xlsx download.
pub fn xlsx_response(bytes: Vec<u8>, file_name: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        file_name.replace('"', ""),
        url::form_urlencoded::byte_serialize(file_name.as_bytes()).collect::<String>()
    );
    (
        [
            (header::CONTENT_TYPE, XLSX.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

fn sheet_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("spreadsheet: {e}"))
}

/// Reads a file into a table, or a 400 saying what is wrong with it.
pub fn read_table(name: &str, bytes: &[u8], lang: Lang) -> AppResult<Table> {
    linli_sheet::read(name, bytes).map_err(|e| {
        AppError::bad_request(
            Problem::new("bad_file", "registry.bad_file")
                .arg("detail", e.message(lang))
                .field("file"),
        )
    })
}

/// Reads, parses, checks and (when every row is sound) imports a file into `community`.
pub async fn import_table(
    store: &Store,
    actor: &Actor,
    kind: RecordKind,
    community: RegionCode,
    name: &str,
    table: &Table,
    progress: &dyn Progress,
) -> Result<ImportOutcome, StoreError> {
    match kind {
        RecordKind::Residents => {
            let p = rows::parse_residents(table, today());
            store
                .import_residents(actor, community, name, p.rows, p.errors, progress)
                .await
        }
        RecordKind::Households => {
            let p = rows::parse_households(table);
            store
                .import_households(actor, community, name, p.rows, p.errors, progress)
                .await
        }
        RecordKind::Buildings => {
            let p = rows::parse_buildings(table);
            store
                .import_buildings(actor, community, name, p.rows, p.errors, progress)
                .await
        }
        RecordKind::Facilities => {
            let types: Vec<FacilityType> = store.facility_types().await?;
            let p = rows::parse_facilities(table, &types);
            store
                .import_facilities(actor, community, name, p.rows, p.errors, progress)
                .await
        }
    }
}

/// [`import_table`] from a file's bytes.
pub async fn import(
    store: &Store,
    actor: &Actor,
    kind: RecordKind,
    community: RegionCode,
    name: &str,
    bytes: &[u8],
    progress: &dyn Progress,
) -> AppResult<ImportOutcome> {
    let table = read_table(name, bytes, Lang::Zh)?;
    Ok(import_table(store, actor, kind, community, name, &table, progress).await?)
}

/// The error report of a rejected import: the file's rows with a reason column, so the
/// user fixes them where they are and imports again.
pub fn error_report(table: &Table, errors: &[RowError], lang: Lang) -> AppResult<Vec<u8>> {
    let mut by_line: Vec<(usize, String)> = Vec::new();
    for e in errors {
        by_line.push((e.row, e.message(lang)));
    }
    linli_sheet::error_report(table, &by_line).map_err(sheet_error)
}

/// The import template of a kind: its headers and one example row.
pub fn template(kind: RecordKind) -> AppResult<Vec<u8>> {
    let columns = rows::columns(kind);
    let headers: Vec<&str> = columns.iter().map(|c| c.header_zh).collect();
    let mut w = XlsxWriter::new(kind.as_str(), &headers).map_err(sheet_error)?;
    let example: Vec<Cell> = columns
        .iter()
        .map(|c| Cell::Text(c.example.to_string()))
        .collect();
    w.push_row(&example).map_err(sheet_error)?;
    w.finish().map_err(sheet_error)
}

/// Rows per page read while exporting.
const EXPORT_PAGE: i64 = 5_000;

/// The residents matching `filter` as an .xlsx workbook, identifiers masked. The export
/// itself is audited: who, when, which filter, how many rows.
pub async fn export_residents(
    store: &Store,
    actor: &Actor,
    filter: &ResidentFilter,
    lang: Lang,
) -> AppResult<Vec<u8>> {
    let headers_keys = [
        "registry.col.name",
        "registry.col.gender",
        "registry.col.birth_date",
        "registry.col.age",
        "registry.col.id_number",
        "registry.col.phone",
        "registry.col.building",
        "registry.col.unit",
        "registry.col.room",
        "registry.col.relation",
        "registry.col.tags",
        "registry.col.region",
    ];
    let headers: Vec<&str> = headers_keys.iter().map(|k| i18n::text(lang, k)).collect();
    let mut w = XlsxWriter::new("residents", &headers).map_err(sheet_error)?;
    let today = today();
    let mut offset = 0;
    let mut count = 0i64;
    loop {
        let page = store
            .residents(
                filter,
                Page {
                    offset,
                    limit: EXPORT_PAGE,
                },
                today,
            )
            .await?;
        for r in &page.items {
            let tags: Vec<&str> = r
                .tags
                .iter()
                .map(|t| i18n::text(lang, t.tag.label_key()))
                .collect();
            w.push_row(&[
                Cell::Text(r.name.clone()),
                Cell::Text(i18n::text(lang, r.gender.label_key()).to_string()),
                Cell::Text(r.birth.to_string()),
                Cell::Int(r.age),
                Cell::Text(r.id_number.clone()),
                Cell::Text(r.phone.clone().unwrap_or_default()),
                Cell::Text(r.building.clone()),
                Cell::Text(r.unit.clone()),
                Cell::Text(r.room.clone()),
                Cell::Text(i18n::text(lang, r.relation.label_key()).to_string()),
                Cell::Text(tags.join("、")),
                Cell::Text(r.region.to_string()),
            ])
            .map_err(sheet_error)?;
        }
        count += page.items.len() as i64;
        offset += EXPORT_PAGE;
        if (page.items.len() as i64) < EXPORT_PAGE {
            break;
        }
    }
    let bytes = w.finish().map_err(sheet_error)?;
    let region_key = filter.range.start;
    store
        .audit(
            actor,
            linli_store::audit::Entry {
                target: Some("residents.xlsx".into()),
                region_key: Some(region_key),
                after: Some(json!({
                    "rows": count,
                    "tags": filter.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                    "q": filter.q.is_some(),
                    "masked": true,
                })),
                ..linli_store::audit::Entry::new("residents.export")
            },
        )
        .await?;
    Ok(bytes)
}
