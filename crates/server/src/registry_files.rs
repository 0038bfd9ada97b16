//! Registry files: the workbook import (any of the four kinds, .xlsx or .csv), the exports
//! of filtered lists to .xlsx, the downloadable templates and error reports.
//!
//! The exports of households, buildings and facilities are in the import's own columns plus
//! each row's community code, so that a file can be exported, edited and imported again into
//! its community; every export reads the store in keyset chunks and is audited.
//! Shared by the API, the pages and the command line.

use std::collections::HashMap;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use linli_core::grid_import::RowError;
use linli_core::i18n::{self, Lang};
use linli_core::region::KeyRange;
use linli_core::registry::facility::{find_type, FacilityType};
use linli_core::registry::rows::{self, Column, RecordKind};
use linli_core::registry::Tenure;
use linli_core::table::Table;
use linli_core::{Problem, RegionCode};
use linli_sheet::{Cell, XlsxWriter};
use linli_store::divisions::Progress;
use linli_store::registry::import::ImportOutcome;
use linli_store::registry::ResidentFilter;
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

pub(crate) fn sheet_error(e: impl std::fmt::Display) -> AppError {
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
    // An exported file names each row's community: a row of another community is an error
    // like any other, reported with the rest, and the file writes nothing.
    let mut errors = rows::check_community(table, community);
    match kind {
        RecordKind::Residents => {
            let p = rows::parse_residents(table, today());
            errors.extend(p.errors);
            store
                .import_residents(actor, community, name, p.rows, errors, progress)
                .await
        }
        RecordKind::Households => {
            let p = rows::parse_households(table);
            errors.extend(p.errors);
            store
                .import_households(actor, community, name, p.rows, errors, progress)
                .await
        }
        RecordKind::Buildings => {
            let p = rows::parse_buildings(table);
            errors.extend(p.errors);
            store
                .import_buildings(actor, community, name, p.rows, errors, progress)
                .await
        }
        RecordKind::Facilities => {
            let types: Vec<FacilityType> = store.facility_types().await?;
            let p = rows::parse_facilities(table, &types);
            errors.extend(p.errors);
            store
                .import_facilities(actor, community, name, p.rows, errors, progress)
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

/// Rows per chunk read while exporting: one keyset query each.
const EXPORT_CHUNK: i64 = 5_000;

/// What a households export covers: the list's filters.
#[derive(Debug, Clone)]
pub struct HouseholdFilter {
    pub range: KeyRange,
    pub building_id: Option<i64>,
    pub tenure: Option<Tenure>,
    pub q: Option<String>,
}

/// What a buildings export covers: the list's filters.
#[derive(Debug, Clone)]
pub struct BuildingFilter {
    pub range: KeyRange,
    pub q: Option<String>,
}

/// What a facilities export covers: the list's filters.
#[derive(Debug, Clone)]
pub struct FacilityFilter {
    pub range: KeyRange,
    pub type_code: Option<String>,
    pub q: Option<String>,
}

/// The header of a column in `lang`: the import reads either form.
fn header(c: &Column, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => c.header_zh,
        Lang::En => c.header_en,
    }
}

/// The workbook of an export of `kind`: exactly the import's columns, headed in `lang`,
/// then the community column, so that the file can be edited and imported again into
/// the community each row names.
fn record_writer(kind: RecordKind, lang: Lang) -> AppResult<XlsxWriter> {
    let headers: Vec<&str> = rows::columns(kind)
        .iter()
        .chain([&rows::COMMUNITY_COLUMN])
        .map(|c| header(c, lang))
        .collect();
    XlsxWriter::new(kind.as_str(), &headers).map_err(sheet_error)
}

/// One export row: the cell of each import column of `kind` by its field, as the import
/// parses it, then the record's community.
fn record_row(kind: RecordKind, community: RegionCode, cell: impl Fn(&str) -> Cell) -> Vec<Cell> {
    rows::columns(kind)
        .iter()
        .map(|c| cell(c.field))
        .chain([Cell::Text(community.to_string())])
        .collect()
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn int(n: Option<i64>) -> Cell {
    n.map_or(Cell::Empty, Cell::Int)
}

fn float(f: Option<f64>) -> Cell {
    f.map_or(Cell::Empty, Cell::Float)
}

/// A facility type as the import reads it back: its name in `lang` when that name finds
/// this very type, else its code (names are editable, and two types may come to share one).
fn type_cell(types: &[FacilityType], code: &str, lang: Lang) -> String {
    let Some(t) = types.iter().find(|t| t.code == code) else {
        return code.to_string();
    };
    let name = t.name(lang);
    if find_type(types, name).is_some_and(|found| found.code == t.code) {
        name.to_string()
    } else {
        t.code.clone()
    }
}

/// Writes the audit entry of an export: who (the actor), when, which filter, how many rows.
async fn audit_export(
    store: &Store,
    actor: &Actor,
    action: &'static str,
    file: &str,
    range: KeyRange,
    after: serde_json::Value,
) -> AppResult<()> {
    store
        .audit(
            actor,
            linli_store::audit::Entry {
                target: Some(file.into()),
                region_key: Some(range.start),
                after: Some(after),
                ..linli_store::audit::Entry::new(action)
            },
        )
        .await?;
    Ok(())
}

/// The residents matching `filter` as an .xlsx workbook, identifiers masked. The export
/// itself is audited: who, when, which filter, how many rows.
pub async fn export_residents(
    store: &Store,
    actor: &Actor,
    filter: &ResidentFilter,
    lang: Lang,
) -> AppResult<Vec<u8>> {
    export_residents_in_chunks(store, actor, filter, lang, EXPORT_CHUNK).await
}

/// [`export_residents`], reading `chunk` rows at a time.
pub(crate) async fn export_residents_in_chunks(
    store: &Store,
    actor: &Actor,
    filter: &ResidentFilter,
    lang: Lang,
    chunk: i64,
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
    let mut after = None;
    let mut count = 0i64;
    loop {
        let read = store.residents_after(filter, after, chunk, today).await?;
        for r in &read.items {
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
        count += read.items.len() as i64;
        match read.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bytes = w.finish().map_err(sheet_error)?;
    audit_export(
        store,
        actor,
        "residents.export",
        "residents.xlsx",
        filter.range,
        json!({
            "rows": count,
            "tags": filter.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            // Whether there was a text only: it may be a whole ID number or phone.
            "q": filter.q.is_some(),
            "masked": true,
        }),
    )
    .await?;
    Ok(bytes)
}

/// The households matching `filter` as an .xlsx workbook in the import's columns (building,
/// unit, room, tenure, size) and each row's community: edited, it imports again into that
/// community. The export is audited.
pub async fn export_households(
    store: &Store,
    actor: &Actor,
    filter: &HouseholdFilter,
    lang: Lang,
) -> AppResult<Vec<u8>> {
    export_households_in_chunks(store, actor, filter, lang, EXPORT_CHUNK).await
}

/// [`export_households`], reading `chunk` rows at a time.
pub(crate) async fn export_households_in_chunks(
    store: &Store,
    actor: &Actor,
    filter: &HouseholdFilter,
    lang: Lang,
    chunk: i64,
) -> AppResult<Vec<u8>> {
    let kind = RecordKind::Households;
    let mut w = record_writer(kind, lang)?;
    let mut after = None;
    let mut count = 0i64;
    loop {
        let read = store
            .households_after(
                filter.range,
                filter.building_id,
                filter.tenure,
                filter.q.as_deref(),
                after,
                chunk,
            )
            .await?;
        for h in &read.items {
            let row = record_row(kind, h.community, |field| match field {
                "building" => text(&h.building),
                "unit" => text(&h.unit),
                "room" => text(&h.room),
                "tenure" => text(i18n::text(lang, h.tenure.label_key())),
                "size" => int(h.size),
                _ => Cell::Empty,
            });
            w.push_row(&row).map_err(sheet_error)?;
        }
        count += read.items.len() as i64;
        match read.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bytes = w.finish().map_err(sheet_error)?;
    audit_export(
        store,
        actor,
        "households.export",
        "households.xlsx",
        filter.range,
        json!({
            "rows": count,
            "building_id": filter.building_id,
            "tenure": filter.tenure.map(|t| t.as_str()),
            "q": filter.q,
        }),
    )
    .await?;
    Ok(bytes)
}

/// The buildings matching `filter` as an .xlsx workbook in the import's columns (name,
/// address, position, floors, units, grid) and each row's community: edited, it imports
/// again into that community. The export is audited.
pub async fn export_buildings(
    store: &Store,
    actor: &Actor,
    filter: &BuildingFilter,
    lang: Lang,
) -> AppResult<Vec<u8>> {
    export_buildings_in_chunks(store, actor, filter, lang, EXPORT_CHUNK).await
}

/// [`export_buildings`], reading `chunk` rows at a time.
pub(crate) async fn export_buildings_in_chunks(
    store: &Store,
    actor: &Actor,
    filter: &BuildingFilter,
    lang: Lang,
    chunk: i64,
) -> AppResult<Vec<u8>> {
    let kind = RecordKind::Buildings;
    let mut w = record_writer(kind, lang)?;
    let mut after = None;
    let mut count = 0i64;
    loop {
        let read = store
            .buildings_after(filter.range, filter.q.as_deref(), after, chunk)
            .await?;
        for b in &read.items {
            let row = record_row(kind, b.community, |field| match field {
                "name" => text(&b.name),
                "address" => text(&b.address),
                "lon" => float(b.lon),
                "lat" => float(b.lat),
                "floors" => int(b.floors),
                "units" => int(b.units),
                // The community itself when it stands in no grid: the import accepts it.
                "region" => Cell::Text(b.region.to_string()),
                _ => Cell::Empty,
            });
            w.push_row(&row).map_err(sheet_error)?;
        }
        count += read.items.len() as i64;
        match read.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bytes = w.finish().map_err(sheet_error)?;
    audit_export(
        store,
        actor,
        "buildings.export",
        "buildings.xlsx",
        filter.range,
        json!({"rows": count, "q": filter.q}),
    )
    .await?;
    Ok(bytes)
}

/// The facilities matching `filter` as an .xlsx workbook in the import's columns (name,
/// type, address, position, floor area, hub) and each row's community. The export is
/// audited.
pub async fn export_facilities(
    store: &Store,
    actor: &Actor,
    filter: &FacilityFilter,
    lang: Lang,
) -> AppResult<Vec<u8>> {
    export_facilities_in_chunks(store, actor, filter, lang, EXPORT_CHUNK).await
}

/// [`export_facilities`], reading `chunk` rows at a time.
pub(crate) async fn export_facilities_in_chunks(
    store: &Store,
    actor: &Actor,
    filter: &FacilityFilter,
    lang: Lang,
    chunk: i64,
) -> AppResult<Vec<u8>> {
    let kind = RecordKind::Facilities;
    let types = store.facility_types().await?;
    let mut w = record_writer(kind, lang)?;
    // Hubs by id: a community has a handful, and the import names them.
    let mut hubs: HashMap<i64, String> = HashMap::new();
    let mut after = None;
    let mut count = 0i64;
    loop {
        let read = store
            .facilities_after(
                filter.range,
                filter.type_code.as_deref(),
                filter.q.as_deref(),
                after.as_ref(),
                chunk,
            )
            .await?;
        for f in &read.items {
            let hub = match f.hub_id {
                None => None,
                Some(id) => match hubs.get(&id) {
                    Some(name) => Some(name.clone()),
                    None => {
                        let name = store.hub(id).await?.map(|h| h.name).unwrap_or_default();
                        hubs.insert(id, name.clone());
                        Some(name)
                    }
                },
            };
            let row = record_row(kind, f.community, |field| match field {
                "name" => text(&f.name),
                "type" => Cell::Text(type_cell(&types, &f.type_code, lang)),
                "address" => text(&f.address),
                "lon" => float(f.lon),
                "lat" => float(f.lat),
                "floor_area_m2" => float(f.floor_area_m2),
                "hub" => hub.as_deref().map_or(Cell::Empty, text),
                _ => Cell::Empty,
            });
            w.push_row(&row).map_err(sheet_error)?;
        }
        count += read.items.len() as i64;
        match read.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bytes = w.finish().map_err(sheet_error)?;
    audit_export(
        store,
        actor,
        "facilities.export",
        "facilities.xlsx",
        filter.range,
        json!({"rows": count, "type": filter.type_code, "q": filter.q}),
    )
    .await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    //! The exports' keyset reads across chunk boundaries, on both databases: small chunks
    //! give the rows of one big chunk, each once, in the same order.

    use linli_core::grid::Source;
    use linli_core::registry::{check_character, Relation, Tag};
    use linli_store::registry::{
        BuildingInput, FacilityInput, HouseholdInput, Page, ResidentInput,
    };
    use linli_store::testing::TestDb;
    use linli_store::Keyring;

    use super::*;

    const COMMUNITY: &str = "330102001051";
    const GRID: &str = "330102001051001";
    const RECORDS: usize = 7;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).expect("a code")
    }

    fn id_number(birth: &str, seq: usize) -> String {
        let body = format!("330102{birth}{seq:03}");
        let mut first = [0u8; 17];
        first.copy_from_slice(body.as_bytes());
        format!("{body}{}", check_character(&first))
    }

    /// Seven records of each kind, alternately in the community and in its grid, so that
    /// the key order interleaves places and ids; residents in pairs of one birth date and
    /// facilities of two types, so that ties are broken by the id across a boundary.
    async fn seeded(db: &TestDb) -> Store {
        let mut store = db.open().await;
        store.use_keys(Keyring::generate()).await.expect("keys");
        store
            .load_divisions("330102", &linli_store::divisions::Quiet)
            .await
            .expect("上城区");
        let system = Actor::system("test");
        store
            .create_grid(
                &system,
                code(COMMUNITY),
                Some(1),
                linli_store::GridInput {
                    name: "第1网格".into(),
                    ..Default::default()
                },
                Source::Manual,
            )
            .await
            .expect("a grid");
        for i in 0..RECORDS {
            let region = code(if i % 2 == 0 { COMMUNITY } else { GRID });
            let b = store
                .create_building(
                    &system,
                    BuildingInput {
                        region: Some(region),
                        name: format!("{i}幢"),
                        address: format!("河坊街 {i} 号"),
                        floors: Some(i as i64 + 1),
                        ..Default::default()
                    },
                    Source::Manual,
                )
                .await
                .expect("a building");
            let h = store
                .create_household(
                    &system,
                    HouseholdInput {
                        building_id: b.id,
                        unit: "1".into(),
                        room: "101".into(),
                        tenure: Tenure::ALL[i % 2],
                        size: None,
                    },
                    Source::Manual,
                )
                .await
                .expect("a household");
            store
                .create_resident(
                    &system,
                    ResidentInput {
                        household_id: h.id,
                        name: format!("居民{i}"),
                        id_number: id_number(&format!("1940010{}", 1 + i / 2), 11 + 2 * i),
                        phone: None,
                        gender: None,
                        birth: None,
                        relation: Relation::Head,
                        tags: if i % 2 == 1 {
                            vec![Tag::LivingAlone]
                        } else {
                            vec![]
                        },
                    },
                    Source::Manual,
                    today(),
                )
                .await
                .expect("a resident");
            store
                .create_facility(
                    &system,
                    FacilityInput {
                        region: Some(region),
                        type_code: ["pharmacy", "kindergarten"][(i / 2) % 2].into(),
                        name: format!("设施{i}"),
                        ..Default::default()
                    },
                    Source::Manual,
                )
                .await
                .expect("a facility");
        }
        store
    }

    fn rows(bytes: AppResult<Vec<u8>>) -> Vec<Vec<String>> {
        let bytes = bytes.unwrap_or_else(|e| panic!("the export: {e:?}"));
        let t = linli_sheet::read("x.xlsx", &bytes).expect("reads back");
        t.rows
            .iter()
            .map(|r| {
                (0..t.headers.len())
                    .map(|i| r.cell(i).to_string())
                    .collect()
            })
            .collect()
    }

    fn first_cells(rows: &[Vec<String>]) -> Vec<String> {
        rows.iter().map(|r| r[0].clone()).collect()
    }

    #[tokio::test]
    async fn exports_read_every_row_once_across_chunk_boundaries() {
        for db in TestDb::both().await {
            let store = seeded(&db).await;
            let actor = Actor::system("test");
            let range = code(COMMUNITY).range();
            let s = &store;
            let a = &actor;

            let buildings = BuildingFilter { range, q: None };
            let whole = rows(export_buildings_in_chunks(s, a, &buildings, Lang::Zh, 1000).await);
            let listed = s.buildings(range, None, Page::all()).await.expect("list");
            let names: Vec<String> = listed.items.iter().map(|b| b.name.clone()).collect();
            assert_eq!(first_cells(&whole), names, "the list's rows in its order");
            assert_eq!(whole.len(), RECORDS);

            let households = HouseholdFilter {
                range,
                building_id: None,
                tenure: None,
                q: None,
            };
            let whole_h =
                rows(export_households_in_chunks(s, a, &households, Lang::Zh, 1000).await);
            let mut listed: Vec<String> = s
                .households(range, None, None, None, Page::all())
                .await
                .expect("list")
                .items
                .iter()
                .map(|h| h.building.clone())
                .collect();
            let mut exported = first_cells(&whole_h);
            listed.sort();
            exported.sort();
            assert_eq!(exported, listed, "the list's rows, in the index's order");

            let facilities = FacilityFilter {
                range,
                type_code: None,
                q: None,
            };
            let whole_f =
                rows(export_facilities_in_chunks(s, a, &facilities, Lang::Zh, 1000).await);
            let listed = s
                .facilities(range, None, None, Page::all())
                .await
                .expect("list");
            let names: Vec<String> = listed.items.iter().map(|f| f.name.clone()).collect();
            assert_eq!(first_cells(&whole_f), names);

            let everyone = ResidentFilter {
                range,
                tags: vec![],
                q: None,
                household_id: None,
                building_id: None,
            };
            // Driven by the tag index: the living alone.
            let alone = ResidentFilter {
                tags: vec![Tag::LivingAlone],
                ..everyone.clone()
            };
            let mut whole_r = Vec::new();
            for filter in [&everyone, &alone] {
                let w = rows(export_residents_in_chunks(s, a, filter, Lang::Zh, 1000).await);
                let listed = s
                    .residents(filter, Page::all(), today())
                    .await
                    .expect("list");
                let names: Vec<String> = listed.items.iter().map(|r| r.name.clone()).collect();
                assert_eq!(first_cells(&w), names);
                whole_r.push(w);
            }
            assert_eq!(whole_r[0].len(), RECORDS);
            assert_eq!(whole_r[1].len(), 3);

            // Chunks of 1, 2, 3 and 7 rows: boundaries inside a place, between places, on
            // ties of birth and type, and a last chunk that is full.
            for chunk in [1, 2, 3, RECORDS as i64] {
                let b = rows(export_buildings_in_chunks(s, a, &buildings, Lang::Zh, chunk).await);
                assert_eq!(b, whole, "buildings in chunks of {chunk}");
                let h = rows(export_households_in_chunks(s, a, &households, Lang::Zh, chunk).await);
                assert_eq!(h, whole_h, "households in chunks of {chunk}");
                let f = rows(export_facilities_in_chunks(s, a, &facilities, Lang::Zh, chunk).await);
                assert_eq!(f, whole_f, "facilities in chunks of {chunk}");
                for (filter, whole) in [&everyone, &alone].into_iter().zip(&whole_r) {
                    let r = rows(export_residents_in_chunks(s, a, filter, Lang::Zh, chunk).await);
                    assert_eq!(
                        &r, whole,
                        "residents ({:?}) in chunks of {chunk}",
                        filter.tags
                    );
                }
            }

            // The store's side: a full chunk says where to go on; the chunk after the last
            // row is empty and ends the read.
            let first = s
                .buildings_after(range, None, None, RECORDS as i64)
                .await
                .expect("a chunk");
            assert_eq!(first.items.len(), RECORDS);
            assert!(first.next.is_some());
            let second = s
                .buildings_after(range, None, first.next, RECORDS as i64)
                .await
                .expect("a chunk");
            assert!(second.items.is_empty() && second.next.is_none());
            let short = s
                .households_after(range, None, None, None, None, RECORDS as i64 + 1)
                .await
                .expect("a chunk");
            assert_eq!(short.items.len(), RECORDS);
            assert!(short.next.is_none(), "a short chunk is the last");
            // Each export is audited, like any.
            let log = s
                .audit_log(
                    linli_core::Scope::parse("330102").expect("scope"),
                    None,
                    500,
                )
                .await
                .expect("the log");
            for action in [
                "buildings.export",
                "households.export",
                "facilities.export",
                "residents.export",
            ] {
                assert!(log.iter().any(|e| e.action == action), "{action}");
            }
            store.close().await;
        }
    }
}
