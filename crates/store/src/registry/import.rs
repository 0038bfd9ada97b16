//! Imports of a community's workbooks: residents, households, buildings, facilities.
//!
//! The whole file is checked first — the parser's own errors together with the ones only
//! the database can see (an unknown building, an ID number registered already) — and every
//! bad row is reported with its line and field. Only a clean file is written, in one
//! transaction with one audit entry, and the community's figures are recomputed at the end.

use std::collections::{HashMap, HashSet};

use linli_core::grid::Source;
use linli_core::grid_import::RowError;
use linli_core::registry::rows::{BuildingRow, FacilityRow, HouseholdRow, ResidentRow};
use linli_core::registry::{date_key, Relation, Tag, Tenure};
use linli_core::{Level, RegionCode};
use serde::Serialize;
use serde_json::json;

use super::stats::refresh_stats;
use crate::audit::{write_entry, Actor, Entry};
use crate::copy_text::CopyText;
use crate::divisions::Progress;
use crate::{now_ms, on_read, on_write, Db, Result, Store, StoreError};

/// Rows per multi-row INSERT: under SQLite's 32,766 bound parameters for the widest table.
const CHUNK: usize = 1_000;

/// What an import wrote.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: usize,
    pub updated: usize,
    /// Households a residents import created for rooms not registered before.
    pub households_created: usize,
}

/// The community an import is for: it must exist and be a community.
async fn community(store: &Store, code: RegionCode) -> Result<RegionCode> {
    if code.level() != Level::Community {
        return Err(StoreError::Invalid(
            linli_core::Problem::new("not_community", "registry.import_needs_community")
                .arg("code", code)
                .field("community"),
        ));
    }
    store.place(code).await.map(|p| p.community)
}

/// A community's buildings by name: (id, region key).
async fn buildings_by_name(
    store: &Store,
    community: RegionCode,
) -> Result<HashMap<String, (i64, i64)>> {
    let rows: Vec<(i64, String, i64)> = on_read!(store, p => {
        sqlx::query_as("SELECT id, name, region_key FROM buildings WHERE community_key = $1")
            .bind(community.key())
            .fetch_all(p)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, name, key)| (name, (id, key)))
        .collect())
}

/// A community's households by (building id, unit, room): (id, tenure).
async fn households_by_room(
    store: &Store,
    community: RegionCode,
) -> Result<HashMap<(i64, String, String), (i64, Tenure)>> {
    let range = community.range();
    let rows: Vec<(i64, i64, String, String, String)> = on_read!(store, p => {
        sqlx::query_as(
            "SELECT id, building_id, unit, room, tenure FROM households WHERE region_key >= $1 AND region_key < $2",
        )
        .bind(range.start)
        .bind(range.end)
        .fetch_all(p)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, b, unit, room, tenure)| {
            (
                (b, unit, room),
                (id, Tenure::parse(&tenure).unwrap_or(Tenure::Owner)),
            )
        })
        .collect())
}

/// A row's unit: empty when not given, as the households table keeps it.
fn unit_of(unit: &Option<String>) -> String {
    unit.as_deref().map(str::trim).unwrap_or("").to_string()
}

fn reject(mut errors: Vec<RowError>) -> StoreError {
    errors.sort_by(|a, b| a.row.cmp(&b.row).then_with(|| a.field.cmp(&b.field)));
    StoreError::Rejected(errors)
}

/// One resident ready for the database: identifiers encrypted, place resolved.
struct ResidentRecord {
    household: HouseholdRef,
    region_key: i64,
    name: String,
    gender: &'static str,
    birth: i64,
    relation: Relation,
    id_cipher: Vec<u8>,
    id_lookup: Vec<u8>,
    id_masked: String,
    phone_cipher: Option<Vec<u8>>,
    phone_lookup: Option<Vec<u8>>,
    phone_masked: Option<String>,
    flags: i64,
    renter: bool,
}

/// A room to register as a household: building id, region key, unit, room, tenure.
type NewRoom = (i64, i64, String, String, Tenure);

/// A household a resident goes into: registered already, or the n-th new one.
#[derive(Clone, Copy)]
enum HouseholdRef {
    Existing(i64),
    New(usize),
}

impl Store {
    /// Imports residents into `community`. Rooms not registered yet become households
    /// (rented when the row's relation is 租客 or it carries the 租户 tag).
    pub async fn import_residents(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<ResidentRow>,
        errors: Vec<RowError>,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        self.import_residents_as(
            actor,
            community_code,
            file_name,
            rows,
            errors,
            Source::Imported,
            progress,
        )
        .await
    }

    /// [`Store::import_residents`] with the rows recorded as coming from `source`: the demo
    /// district passes [`Source::Generated`], so that rebuilding it replaces only its own rows.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_residents_as(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<ResidentRow>,
        mut errors: Vec<RowError>,
        source: Source,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let keys = self.keys()?;
        let community = community(self, community_code).await?;
        let buildings = buildings_by_name(self, community).await?;
        let households = households_by_room(self, community).await?;

        // Place every row, gathering new rooms.
        let mut new_rooms: Vec<NewRoom> = Vec::new();
        let mut new_room_index: HashMap<(i64, String, String), usize> = HashMap::new();
        let mut placed: Vec<(usize, HouseholdRef, i64, Tenure)> = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let Some(&(building_id, region_key)) = buildings.get(r.building.trim()) else {
                errors.push(
                    RowError::new(r.line, "building", "registry.unknown_building")
                        .arg("building", r.building.trim()),
                );
                continue;
            };
            let key = (building_id, unit_of(&r.unit), r.room.trim().to_string());
            if let Some(&(id, tenure)) = households.get(&key) {
                placed.push((i, HouseholdRef::Existing(id), region_key, tenure));
            } else {
                let tenure = if r.relation == Relation::Tenant || r.tags.contains(&Tag::Renter) {
                    Tenure::Renter
                } else {
                    Tenure::Owner
                };
                let n = *new_room_index.entry(key.clone()).or_insert_with(|| {
                    new_rooms.push((
                        building_id,
                        region_key,
                        key.1.clone(),
                        key.2.clone(),
                        tenure,
                    ));
                    new_rooms.len() - 1
                });
                placed.push((i, HouseholdRef::New(n), region_key, new_rooms[n].4));
            }
        }

        // ID numbers registered already, anywhere.
        let lookups: Vec<Vec<u8>> = rows
            .iter()
            .map(|r| keys.lookup("id_number", r.id.as_str()).to_vec())
            .collect();
        let mut registered: HashMap<Vec<u8>, i64> = HashMap::new();
        for chunk in lookups.chunks(CHUNK) {
            let found: Vec<(Vec<u8>, i64)> = on_read!(self, p => {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "SELECT id_lookup, community_key FROM residents WHERE id_lookup IN (",
                );
                let mut sep = qb.separated(", ");
                for l in chunk {
                    sep.push_bind(l.as_slice());
                }
                qb.push(")");
                qb.build_query_as().persistent(false).fetch_all(p).await?
            });
            registered.extend(found);
        }
        if !registered.is_empty() {
            let mut names: HashMap<i64, String> = HashMap::new();
            for (r, l) in rows.iter().zip(&lookups) {
                if let Some(&c) = registered.get(l) {
                    let name = match names.get(&c) {
                        Some(n) => n.clone(),
                        None => {
                            let n = match RegionCode::from_key(c, Level::Community) {
                                Some(code) if code == community => String::new(),
                                Some(code) => {
                                    self.region(code).await?.map(|x| x.name).unwrap_or_default()
                                }
                                None => String::new(),
                            };
                            names.insert(c, n.clone());
                            n
                        }
                    };
                    let e = if name.is_empty() {
                        RowError::new(r.line, "id_number", "registry.id_registered")
                    } else {
                        RowError::new(r.line, "id_number", "registry.id_registered_in")
                            .arg("community", name)
                    };
                    errors.push(e);
                }
            }
        }
        if !errors.is_empty() {
            return Err(reject(errors));
        }

        // Encrypt off the async workers: two AES-GCM seals per row.
        progress.start(rows.len() as u64);
        let records: Vec<ResidentRecord> = {
            let keys = keys.clone();
            tokio::task::spawn_blocking(move || {
                placed
                    .into_iter()
                    .zip(lookups)
                    .map(|((i, household, region_key, tenure), id_lookup)| {
                        let r = &rows[i];
                        let flags = r.tags.iter().fold(0, |a, t| a | t.bit());
                        ResidentRecord {
                            household,
                            region_key,
                            name: r.name.trim().to_string(),
                            gender: r.gender.as_str(),
                            birth: i64::from(date_key(r.birth)),
                            relation: r.relation,
                            id_cipher: keys.encrypt_for("id_number", r.id.as_str()),
                            id_lookup,
                            id_masked: r.id.masked(),
                            phone_cipher: r
                                .phone
                                .as_ref()
                                .map(|p| keys.encrypt_for("phone", p.as_str())),
                            phone_lookup: r
                                .phone
                                .as_ref()
                                .map(|p| keys.lookup("phone", p.as_str()).to_vec()),
                            phone_masked: r.phone.as_ref().map(|p| p.masked()),
                            flags,
                            renter: tenure == Tenure::Renter || r.tags.contains(&Tag::Renter),
                        }
                    })
                    .collect()
            })
            .await
            .map_err(|e| StoreError::Config(format!("encryption task failed: {e}")))?
        };

        let now = now_ms();
        let community_key = community.key();
        let outcome = ImportOutcome {
            created: records.len(),
            updated: 0,
            households_created: new_rooms.len(),
        };
        let entry = Entry {
            target: Some(format!("import:{file_name}")),
            region_key: Some(community_key),
            after: Some(
                json!({"kind": "residents", "file": file_name, "residents": records.len(), "households_created": new_rooms.len()}),
            ),
            ..Entry::new("residents.import")
        };
        let username = actor.username.clone();
        // The assigned tags some row carries: only those get a pass over the new rows.
        let tagged: Vec<Tag> = {
            let all = records.iter().fold(0, |a, r| a | r.flags);
            Tag::ASSIGNED
                .into_iter()
                .filter(|t| all & t.bit() != 0)
                .collect()
        };
        let range = community.range();
        let new_rooms = &new_rooms;
        let records = &records;
        // Everything after the rows are in, the same on both backends: tag rows from the
        // flags just written, the audit entry, the community's figures, the commit.
        macro_rules! finish {
            ($tx:ident, $db:ty, $before:expr) => {{
                if !tagged.is_empty() {
                    // One pass over the new rows for all the tags they carry. (On
                    // PostgreSQL a concurrent import's rows may lie above the mark too;
                    // they carry their own tag rows already, which the conflict clause
                    // leaves alone.)
                    let mut qb = sqlx::QueryBuilder::<$db>::new("WITH t (tag, bit) AS (");
                    qb.push_values(&tagged, |mut b, t| {
                        b.push_bind(t.as_str()).push_bind(t.bit());
                    });
                    qb.push(
                        ") INSERT INTO resident_tags (resident_id, tag, region_key, birth, set_by, set_at) \
                         SELECT r.id, t.tag, r.region_key, r.birth, ",
                    )
                    .push_bind(username.as_str())
                    .push(", ")
                    .push_bind(now)
                    .push(" FROM residents r JOIN t ON (r.flags & t.bit) <> 0 WHERE r.id > ")
                    .push_bind($before)
                    .push(" AND r.region_key >= ")
                    .push_bind(range.start)
                    .push(" AND r.region_key < ")
                    .push_bind(range.end)
                    .push(" ON CONFLICT DO NOTHING");
                    qb.build().persistent(false).execute(&mut *$tx).await?;
                }
                write_entry!(&mut *$tx, actor, &entry)?;
                refresh_stats!($tx, community_key);
                $tx.commit().await?;
            }};
        }
        match &self.db {
            Db::Sqlite { write, .. } => {
                // A million rows touch more index pages than the everyday cache holds;
                // with a larger one for the import they are not written out and read back
                // mid-transaction. Set back afterwards, whatever happened.
                sqlx::query(&format!("PRAGMA cache_size = -{BULK_CACHE_KIB}"))
                    .execute(write)
                    .await?;
                let written = async {
                    let mut tx = write.begin().await?;
                    // Residents are found again by id above this mark to write their tags:
                    // no RETURNING rows to stream back (each returned row is a hand-off
                    // between threads, which dominated the import).
                    let before: i64 =
                        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM residents")
                            .fetch_one(&mut *tx)
                            .await?;
                    // SQLite has one writer: the ids above the current maximum are free (a
                    // concurrent writer from another process would fail the insert, not mix).
                    let max: i64 =
                        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM households")
                            .fetch_one(&mut *tx)
                            .await?;
                    let new_ids: Vec<i64> = (max + 1..=max + new_rooms.len() as i64).collect();
                    // Into a table smaller than the import, building the secondary indexes
                    // afterwards (sorted, bottom-up) beats inserting a million random keys
                    // one by one. The ids above are a free estimate of the rows there.
                    let households_rebuilt = if new_rooms.len() as i64 > max {
                        drop_indexes(&mut tx, "households").await?
                    } else {
                        Vec::new()
                    };
                    insert_households_sqlite(
                        &mut tx,
                        &new_ids,
                        new_rooms,
                        community_key,
                        source,
                        now,
                    )
                    .await?;
                    create_indexes(&mut tx, &households_rebuilt).await?;
                    let residents_rebuilt = if records.len() as i64 > before {
                        drop_indexes(&mut tx, "residents").await?
                    } else {
                        Vec::new()
                    };
                    insert_residents_sqlite(
                        &mut tx,
                        records,
                        &new_ids,
                        community_key,
                        source,
                        now,
                        progress,
                    )
                    .await?;
                    create_indexes(&mut tx, &residents_rebuilt).await?;
                    finish!(tx, sqlx::Sqlite, before);
                    Ok::<(), StoreError>(())
                }
                .await;
                sqlx::query(&format!("PRAGMA cache_size = -{}", crate::SQLITE_CACHE_KIB))
                    .execute(write)
                    .await?;
                written?;
            }
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                let before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM residents")
                    .fetch_one(&mut *tx)
                    .await?;
                // Household ids reserved up front, so that residents can name them directly.
                let new_ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('households', 'id')) FROM generate_series(1, $1)",
                )
                .bind(new_rooms.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
                copy_households(&mut tx, &new_ids, new_rooms, community_key, source, now).await?;
                copy_residents(
                    &mut tx,
                    records,
                    &new_ids,
                    community_key,
                    source,
                    now,
                    progress,
                )
                .await?;
                finish!(tx, sqlx::Postgres, before);
            }
        }
        if records.len() >= SETTLE_ROWS {
            self.settle_registry().await?;
        }
        Ok(outcome)
    }

    /// Imports households into `community`: a room registered already has its tenure and
    /// size updated (and its residents' renter mark with them); a new one is created.
    pub async fn import_households(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<HouseholdRow>,
        errors: Vec<RowError>,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        self.import_households_as(
            actor,
            community_code,
            file_name,
            rows,
            errors,
            Source::Imported,
            progress,
        )
        .await
    }

    /// [`Store::import_households`] with the rows recorded as coming from `source`: the demo
    /// district passes [`Source::Generated`], so that rebuilding it replaces only its own rows.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_households_as(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<HouseholdRow>,
        mut errors: Vec<RowError>,
        source: Source,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let community = community(self, community_code).await?;
        let buildings = buildings_by_name(self, community).await?;
        let households = households_by_room(self, community).await?;
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        for r in &rows {
            let Some(&(building_id, region_key)) = buildings.get(r.building.trim()) else {
                errors.push(
                    RowError::new(r.line, "building", "registry.unknown_building")
                        .arg("building", r.building.trim()),
                );
                continue;
            };
            let key = (building_id, unit_of(&r.unit), r.room.trim().to_string());
            match households.get(&key) {
                Some(&(id, _)) => updates.push((id, r)),
                None => creates.push((building_id, region_key, r)),
            }
        }
        if !errors.is_empty() {
            return Err(reject(errors));
        }
        progress.start(rows.len() as u64);
        let now = now_ms();
        let community_key = community.key();
        let outcome = ImportOutcome {
            created: creates.len(),
            updated: updates.len(),
            households_created: 0,
        };
        let entry = update_entry("households.import", file_name, community_key, &outcome);
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in creates.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO households (building_id, community_key, region_key, unit, room, tenure, size, source, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (building_id, region_key, r)| {
                    b.push_bind(*building_id).push_bind(community_key).push_bind(*region_key)
                        .push_bind(unit_of(&r.unit)).push_bind(r.room.trim()).push_bind(r.tenure.as_str())
                        .push_bind(r.size.map(i64::from)).push_bind(source.as_str()).push_bind(now).push_bind(now);
                });
                qb.build().persistent(false).execute(&mut *tx).await?;
                progress.advance(chunk.len() as u64);
            }
            for (id, r) in &updates {
                sqlx::query("UPDATE households SET tenure = $1, size = $2, updated_at = $3 WHERE id = $4")
                    .bind(r.tenure.as_str()).bind(r.size.map(i64::from)).bind(now).bind(*id)
                    .execute(&mut *tx).await?;
                super::households::sync_renters!(tx, *id);
                progress.advance(1);
            }
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, community_key);
            tx.commit().await?;
        });
        Ok(outcome)
    }

    /// Imports buildings into `community`: a name registered already has its details
    /// updated; a new one is created. A row's grid must lie in the community.
    pub async fn import_buildings(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<BuildingRow>,
        errors: Vec<RowError>,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        self.import_buildings_as(
            actor,
            community_code,
            file_name,
            rows,
            errors,
            Source::Imported,
            progress,
        )
        .await
    }

    /// [`Store::import_buildings`] with the rows recorded as coming from `source`: the demo
    /// district passes [`Source::Generated`], so that rebuilding it replaces only its own rows.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_buildings_as(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<BuildingRow>,
        mut errors: Vec<RowError>,
        source: Source,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let community = community(self, community_code).await?;
        let existing = buildings_by_name(self, community).await?;
        // Grids named in the file must exist and lie in this community.
        let wanted: HashSet<RegionCode> = rows.iter().filter_map(|r| r.region).collect();
        let wanted: Vec<RegionCode> = wanted.into_iter().collect();
        let known: HashSet<RegionCode> = self
            .regions(&wanted)
            .await?
            .into_iter()
            .map(|r| r.code)
            .collect();
        for r in &rows {
            if let Some(code) = r.region {
                if !community.contains(code)
                    || code.level() == Level::Community && code != community
                {
                    errors.push(
                        RowError::new(r.line, "region", "registry.region_other_community")
                            .arg("code", code),
                    );
                } else if !known.contains(&code) {
                    errors.push(
                        RowError::new(r.line, "region", "registry.unknown_region")
                            .arg("code", code),
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(reject(errors));
        }
        progress.start(rows.len() as u64);
        let now = now_ms();
        let community_key = community.key();
        let (updates, creates): (Vec<&BuildingRow>, Vec<&BuildingRow>) = rows
            .iter()
            .partition(|r| existing.contains_key(r.name.trim()));
        let outcome = ImportOutcome {
            created: creates.len(),
            updated: updates.len(),
            households_created: 0,
        };
        let entry = update_entry("buildings.import", file_name, community_key, &outcome);
        let place = |r: &BuildingRow| r.region.unwrap_or(community);
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in creates.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO buildings (community_key, region_key, region_level, name, address, lon, lat, floors, units, \
                     source, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    let region = place(r);
                    b.push_bind(community_key).push_bind(region.key())
                        .push_bind(i64::from(region.level().number()))
                        .push_bind(r.name.trim()).push_bind(r.address.trim())
                        .push_bind(r.location.map(|l| l[0])).push_bind(r.location.map(|l| l[1]))
                        .push_bind(r.floors.map(i64::from)).push_bind(r.units.map(i64::from)).push_bind(source.as_str())
                        .push_bind(now).push_bind(now);
                });
                qb.build().persistent(false).execute(&mut *tx).await?;
                progress.advance(chunk.len() as u64);
            }
            for r in &updates {
                let Some(&(id, old_key)) = existing.get(r.name.trim()) else { continue };
                let region = place(r);
                sqlx::query(
                    "UPDATE buildings SET region_key = $1, region_level = $2, address = $3, lon = $4, lat = $5, \
                     floors = $6, units = $7, updated_at = $8 WHERE id = $9",
                )
                .bind(region.key()).bind(i64::from(region.level().number())).bind(r.address.trim())
                .bind(r.location.map(|l| l[0])).bind(r.location.map(|l| l[1]))
                .bind(r.floors.map(i64::from)).bind(r.units.map(i64::from)).bind(now).bind(id)
                .execute(&mut *tx).await?;
                if old_key != region.key() {
                    sqlx::query("UPDATE households SET region_key = $1 WHERE building_id = $2")
                        .bind(region.key()).bind(id).execute(&mut *tx).await?;
                    sqlx::query("UPDATE residents SET region_key = $1 WHERE household_id IN (SELECT id FROM households WHERE building_id = $2)")
                        .bind(region.key()).bind(id).execute(&mut *tx).await?;
                    sqlx::query(
                        "UPDATE resident_tags SET region_key = $1 WHERE resident_id IN \
                         (SELECT r.id FROM residents r JOIN households h ON h.id = r.household_id WHERE h.building_id = $2)",
                    )
                    .bind(region.key()).bind(id).execute(&mut *tx).await?;
                }
                progress.advance(1);
            }
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, community_key);
            tx.commit().await?;
        });
        Ok(outcome)
    }

    /// Imports facilities into `community`; a row's hub, when named, must be one of the
    /// community's hubs.
    pub async fn import_facilities(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<FacilityRow>,
        errors: Vec<RowError>,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        self.import_facilities_as(
            actor,
            community_code,
            file_name,
            rows,
            errors,
            Source::Imported,
            progress,
        )
        .await
    }

    /// [`Store::import_facilities`] with the rows recorded as coming from `source`: the demo
    /// district passes [`Source::Generated`], so that rebuilding it replaces only its own rows.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_facilities_as(
        &self,
        actor: &Actor,
        community_code: RegionCode,
        file_name: &str,
        rows: Vec<FacilityRow>,
        mut errors: Vec<RowError>,
        source: Source,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let community = community(self, community_code).await?;
        let hubs: Vec<(i64, String)> = on_read!(self, p => {
            sqlx::query_as("SELECT id, name FROM hubs WHERE community_key = $1")
                .bind(community.key())
                .fetch_all(p)
                .await?
        });
        let hub_ids: HashMap<&str, i64> = hubs.iter().map(|(id, n)| (n.as_str(), *id)).collect();
        let mut hub_of = Vec::with_capacity(rows.len());
        for r in &rows {
            match r.hub.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
                None => hub_of.push(None),
                Some(h) => match hub_ids.get(h) {
                    Some(id) => hub_of.push(Some(*id)),
                    None => {
                        errors.push(
                            RowError::new(r.line, "hub", "registry.unknown_hub_name").arg("hub", h),
                        );
                        hub_of.push(None);
                    }
                },
            }
        }
        if !errors.is_empty() {
            return Err(reject(errors));
        }
        // A row with the type, name and address of a facility registered already updates
        // it (location, floor area, hub), so that an exported list edited and imported
        // again changes what was edited and duplicates nothing; any other row is new.
        let existing: Vec<(i64, String, String, String)> = on_read!(self, p => {
            sqlx::query_as("SELECT id, type_code, name, address FROM facilities WHERE community_key = $1")
                .bind(community.key())
                .fetch_all(p)
                .await?
        });
        let registered: HashMap<(&str, &str, &str), i64> = existing
            .iter()
            .map(|(id, t, n, a)| ((t.as_str(), n.as_str(), a.as_str()), *id))
            .collect();
        let mut creates: Vec<(&FacilityRow, Option<i64>)> = Vec::new();
        let mut updates: Vec<(i64, &FacilityRow, Option<i64>)> = Vec::new();
        for (r, hub) in rows.iter().zip(hub_of) {
            let key = (
                r.type_code.as_str(),
                r.name.trim(),
                r.address.as_deref().unwrap_or("").trim(),
            );
            match registered.get(&key) {
                Some(&id) => updates.push((id, r, hub)),
                None => creates.push((r, hub)),
            }
        }
        progress.start(rows.len() as u64);
        let now = now_ms();
        let community_key = community.key();
        let outcome = ImportOutcome {
            created: creates.len(),
            updated: updates.len(),
            households_created: 0,
        };
        let entry = update_entry("facilities.import", file_name, community_key, &outcome);
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in creates.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO facilities (community_key, region_key, region_level, type_code, name, address, lon, lat, \
                     floor_area_m2, hub_id, source, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (r, hub)| {
                    b.push_bind(community_key).push_bind(community_key)
                        .push_bind(i64::from(Level::Community.number()))
                        .push_bind(r.type_code.as_str()).push_bind(r.name.trim())
                        .push_bind(r.address.as_deref().unwrap_or("").trim())
                        .push_bind(r.location.map(|l| l[0])).push_bind(r.location.map(|l| l[1])).push_bind(r.floor_area_m2).push_bind(*hub)
                        .push_bind(source.as_str()).push_bind(now).push_bind(now);
                });
                qb.build().persistent(false).execute(&mut *tx).await?;
                progress.advance(chunk.len() as u64);
            }
            for (id, r, hub) in &updates {
                sqlx::query(
                    "UPDATE facilities SET lon = $1, lat = $2, floor_area_m2 = $3, hub_id = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(r.location.map(|l| l[0]))
                .bind(r.location.map(|l| l[1]))
                .bind(r.floor_area_m2)
                .bind(*hub)
                .bind(now)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
                progress.advance(1);
            }
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, community_key);
            tx.commit().await?;
        });
        Ok(outcome)
    }
}

/// The audit entry (`{kind}.import`) of an import that creates and updates records.
fn update_entry(
    action: &'static str,
    file_name: &str,
    community_key: i64,
    outcome: &ImportOutcome,
) -> Entry {
    let kind = action.trim_end_matches(".import");
    Entry {
        target: Some(format!("import:{file_name}")),
        region_key: Some(community_key),
        after: Some(
            json!({"kind": kind, "file": file_name, "created": outcome.created, "updated": outcome.updated}),
        ),
        ..Entry::new(action)
    }
}

/// Residents written at once from which the planner's view is refreshed at the end.
const SETTLE_ROWS: usize = 10_000;

impl Store {
    /// After a bulk load, on PostgreSQL: fresh planner statistics, and the visibility map
    /// that index-only scans need (the region summary counts the age bands' boundary years
    /// from the birth index alone). Autovacuum gets there in its own time; until it does,
    /// a district summary asked for right after a load takes a hundred times longer (the
    /// planner, still counting a few rows, walks the place index of the whole district).
    /// SQLite needs nothing: its planner picks the same indexes without statistics.
    pub(crate) async fn settle_registry(&self) -> Result<()> {
        if let Db::Postgres(p) = &self.db {
            // VACUUM runs outside a transaction block: the simple query protocol.
            sqlx::raw_sql("VACUUM (ANALYZE) residents, resident_tags, households")
                .execute(p)
                .await?;
        }
        Ok(())
    }
}

/// The SQLite page cache (KiB) while a resident import writes: enough for the indexes of a
/// million new rows to stay in memory until the commit.
const BULK_CACHE_KIB: i64 = 512 * 1024;

/// Bytes of COPY text sent to PostgreSQL at a time.
const COPY_BATCH: usize = 1 << 20;

/// The id of the household a resident goes into, given the ids reserved for new ones.
fn household_id(h: HouseholdRef, new_ids: &[i64]) -> i64 {
    match h {
        HouseholdRef::Existing(id) => id,
        HouseholdRef::New(n) => new_ids[n],
    }
}

/// Drops the secondary indexes of `table` that were created by name (not those behind a
/// UNIQUE or PRIMARY KEY constraint, which checks need while rows go in) and returns their
/// definitions, as SQLite keeps them, for [`create_indexes`]. Inside the import's
/// transaction: readers keep seeing the indexes until the commit, and a failure puts them
/// back with everything else.
async fn drop_indexes(tx: &mut sqlx::SqliteConnection, table: &str) -> Result<Vec<String>> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))
            .execute(&mut *tx)
            .await?;
    }
    Ok(indexes.into_iter().map(|(_, sql)| sql).collect())
}

async fn create_indexes(tx: &mut sqlx::SqliteConnection, definitions: &[String]) -> Result<()> {
    for sql in definitions {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_households_sqlite(
    tx: &mut sqlx::SqliteConnection,
    new_ids: &[i64],
    new_rooms: &[NewRoom],
    community_key: i64,
    source: Source,
    now: i64,
) -> Result<()> {
    let rooms: Vec<(i64, &NewRoom)> = new_ids.iter().copied().zip(new_rooms).collect();
    for chunk in rooms.chunks(CHUNK) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO households (id, building_id, community_key, region_key, unit, room, tenure, size, source, created_at, updated_at) ",
        );
        qb.push_values(
            chunk,
            |mut b, (id, (building_id, region_key, unit, room, tenure))| {
                b.push_bind(*id)
                    .push_bind(*building_id)
                    .push_bind(community_key)
                    .push_bind(*region_key)
                    .push_bind(unit.as_str())
                    .push_bind(room.as_str())
                    .push_bind(tenure.as_str())
                    .push_bind(None::<i64>)
                    .push_bind(source.as_str())
                    .push_bind(now)
                    .push_bind(now);
            },
        );
        qb.build().persistent(false).execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_residents_sqlite(
    tx: &mut sqlx::SqliteConnection,
    records: &[ResidentRecord],
    new_ids: &[i64],
    community_key: i64,
    source: Source,
    now: i64,
    progress: &dyn Progress,
) -> Result<()> {
    for chunk in records.chunks(CHUNK) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO residents (household_id, community_key, region_key, name, gender, birth, relation, \
             id_cipher, id_lookup, id_masked, phone_cipher, phone_lookup, phone_masked, flags, renter, \
             source, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(household_id(r.household, new_ids))
                .push_bind(community_key)
                .push_bind(r.region_key)
                .push_bind(r.name.as_str())
                .push_bind(r.gender)
                .push_bind(r.birth)
                .push_bind(r.relation.as_str())
                .push_bind(r.id_cipher.as_slice())
                .push_bind(r.id_lookup.as_slice())
                .push_bind(r.id_masked.as_str())
                .push_bind(r.phone_cipher.as_deref())
                .push_bind(r.phone_lookup.as_deref())
                .push_bind(r.phone_masked.as_deref())
                .push_bind(r.flags)
                .push_bind(i64::from(r.renter))
                .push_bind(source.as_str())
                .push_bind(now)
                .push_bind(now);
        });
        qb.build().persistent(false).execute(&mut *tx).await?;
        progress.advance(chunk.len() as u64);
    }
    Ok(())
}

/// Streams `rows` into `statement` (a COPY … FROM STDIN) in batches of [`COPY_BATCH`]
/// bytes, calling `line` to write each row and `sent` after each batch.
async fn copy_in<T>(
    tx: &mut sqlx::PgConnection,
    statement: &str,
    rows: impl Iterator<Item = T>,
    mut line: impl FnMut(&mut CopyText, T),
    mut sent: impl FnMut(u64),
) -> Result<()> {
    let mut copy = tx.copy_in_raw(statement).await?;
    let mut buf = CopyText::with_capacity(COPY_BATCH + 4096);
    let mut in_buf = 0u64;
    for row in rows {
        line(&mut buf, row);
        buf.end_row();
        in_buf += 1;
        if buf.len() >= COPY_BATCH {
            if let Err(e) = copy.send(buf.as_bytes()).await {
                let _ = copy.abort("linli: sending rows failed").await;
                return Err(e.into());
            }
            sent(in_buf);
            buf.clear();
            in_buf = 0;
        }
    }
    if buf.len() > 0 {
        if let Err(e) = copy.send(buf.as_bytes()).await {
            let _ = copy.abort("linli: sending rows failed").await;
            return Err(e.into());
        }
        sent(in_buf);
    }
    copy.finish().await?;
    Ok(())
}

async fn copy_households(
    tx: &mut sqlx::PgConnection,
    new_ids: &[i64],
    new_rooms: &[NewRoom],
    community_key: i64,
    source: Source,
    now: i64,
) -> Result<()> {
    copy_in(
        tx,
        "COPY households (id, building_id, community_key, region_key, unit, room, tenure, size, source, created_at, updated_at) FROM STDIN",
        new_ids.iter().zip(new_rooms),
        |c, (id, (building_id, region_key, unit, room, tenure))| {
            c.int(*id)
                .int(*building_id)
                .int(community_key)
                .int(*region_key)
                .text(unit)
                .text(room)
                .text(tenure.as_str())
                .null()
                .text(source.as_str())
                .int(now)
                .int(now);
        },
        |_| {},
    )
    .await
}

async fn copy_residents(
    tx: &mut sqlx::PgConnection,
    records: &[ResidentRecord],
    new_ids: &[i64],
    community_key: i64,
    source: Source,
    now: i64,
    progress: &dyn Progress,
) -> Result<()> {
    copy_in(
        tx,
        "COPY residents (household_id, community_key, region_key, name, gender, birth, relation, \
         id_cipher, id_lookup, id_masked, phone_cipher, phone_lookup, phone_masked, flags, renter, \
         source, created_at, updated_at) FROM STDIN",
        records.iter(),
        |c, r| {
            c.int(household_id(r.household, new_ids))
                .int(community_key)
                .int(r.region_key)
                .text(&r.name)
                .text(r.gender)
                .int(r.birth)
                .text(r.relation.as_str())
                .bytes(&r.id_cipher)
                .bytes(&r.id_lookup)
                .text(&r.id_masked)
                .opt_bytes(r.phone_cipher.as_deref())
                .opt_bytes(r.phone_lookup.as_deref())
                .opt_text(r.phone_masked.as_deref())
                .int(r.flags)
                .int(i64::from(r.renter))
                .text(source.as_str())
                .int(now)
                .int(now);
        },
        |n| progress.advance(n),
    )
    .await
}

#[cfg(test)]
mod tests {
    use linli_core::registry::rows::parse_residents;
    use linli_core::table::{Table, TableRow};

    use super::*;
    use crate::registry::BuildingInput;
    use crate::testing::TestDb;

    /// The index definitions on the residents and households tables.
    async fn index_sql(store: &Store) -> Vec<String> {
        let Db::Sqlite { read, .. } = &store.db else {
            panic!("a SQLite store")
        };
        sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('residents', 'households') \
             AND sql IS NOT NULL ORDER BY name",
        )
        .fetch_all(read)
        .await
        .expect("index list")
    }

    /// An import larger than the table drops its secondary indexes for the load: they are
    /// all back afterwards, alike, and queries that need them still answer.
    #[tokio::test]
    async fn a_bulk_import_into_a_small_table_rebuilds_its_indexes() {
        let db = TestDb::sqlite();
        let mut store = db.open().await;
        store
            .load_divisions("330102", &crate::divisions::Quiet)
            .await
            .expect("divisions");
        store
            .use_keys(linli_pii::Keyring::generate())
            .await
            .expect("keys");
        let community = RegionCode::parse("330102001051").expect("code");
        let actor = Actor::system("test");
        store
            .create_building(
                &actor,
                BuildingInput {
                    region: Some(community),
                    name: "1幢".into(),
                    address: "劳动路1号".into(),
                    ..Default::default()
                },
                Source::Manual,
            )
            .await
            .expect("building");
        let before = index_sql(&store).await;
        assert!(before.len() >= 4, "{before:?}");
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let start = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).expect("date");
        let rows: Vec<TableRow> = (0..300)
            .map(|i| {
                let birth = start + chrono::Duration::days(i * 37);
                let id = linli_core::registry::idcard::compose("330102", birth, 10)
                    .expect("an ID number");
                TableRow {
                    line: i as usize + 2,
                    cells: vec![
                        format!("居民{i}"),
                        id,
                        "1幢".into(),
                        format!("{}", 101 + i),
                        if i % 3 == 0 { "独居" } else { "" }.into(),
                    ],
                }
            })
            .collect();
        let table = Table {
            headers: ["姓名", "身份证号", "楼栋", "室号", "标签"]
                .map(String::from)
                .to_vec(),
            rows,
            lossy: Vec::new(),
        };
        let parsed = parse_residents(&table, today);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let out = store
            .import_residents(
                &actor,
                community,
                "t.csv",
                parsed.rows,
                parsed.errors,
                &crate::divisions::Quiet,
            )
            .await
            .expect("import");
        assert_eq!((out.created, out.households_created), (300, 300));
        assert_eq!(index_sql(&store).await, before);
        let summary = store
            .registry_summary(Some(community), today)
            .await
            .expect("summary");
        assert_eq!((summary.residents, summary.households), (300, 300));
        assert_eq!(summary.tags.get("living_alone"), Some(&100));
        store.close().await;
    }
}
