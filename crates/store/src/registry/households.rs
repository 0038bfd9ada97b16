//! Households (户): a room of a building, owned or rented, with its registered size.

use linli_core::grid::Source;
use linli_core::region::KeyRange;
use linli_core::registry::{Tag, Tenure};
use linli_core::{Problem, RegionCode};
use serde_json::{json, Value};
use sqlx::{FromRow, Row};

use super::buildings::{like_pattern, Chunk};
use super::stats::refresh_stats;
use super::{check_text, Listing, Page, Place, MAX_NAME};
use crate::audit::{write_entry, Actor, Entry};
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

/// What a user gives for a household.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdInput {
    pub building_id: i64,
    pub unit: String,
    pub room: String,
    pub tenure: Tenure,
    pub size: Option<i64>,
}

/// A household as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    pub id: i64,
    pub building_id: i64,
    pub building: String,
    pub community: RegionCode,
    pub region: RegionCode,
    pub unit: String,
    pub room: String,
    pub tenure: Tenure,
    pub size: Option<i64>,
    /// Residents registered in it.
    pub residents: i64,
    pub source: Source,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "h.id, h.building_id, b.name, b.region_key, b.region_level, h.unit, h.room, h.tenure, h.size, \
     h.source, h.updated_at, (SELECT COUNT(*) FROM residents r WHERE r.household_id = h.id)";

type Raw = (
    i64,
    i64,
    String,
    i64,
    i64,
    String,
    String,
    String,
    Option<i64>,
    String,
    i64,
    i64,
);

/// The rows of a list or a keyset read of households: in `range`, of building `$3`, of
/// tenure `$4`, building, unit or room like `$5`.
const FILTER: &str = "h.region_key >= $1 AND h.region_key < $2 \
     AND ($3 IS NULL OR h.building_id = $3) AND ($4 IS NULL OR h.tenure = $4) \
     AND ($5 IS NULL OR b.name LIKE $5 ESCAPE '\\' OR h.room LIKE $5 ESCAPE '\\' OR h.unit LIKE $5 ESCAPE '\\')";

/// Where a keyset read of households resumes: the ORDER BY key `(region_key, id)` of the
/// last row read, which the `households_by_region` index serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HouseholdCursor {
    region_key: i64,
    id: i64,
}

fn decode(r: Raw) -> Result<Household> {
    let place = Place::from_stored(r.3, r.4)?;
    Ok(Household {
        id: r.0,
        building_id: r.1,
        building: r.2,
        community: place.community,
        region: place.region,
        unit: r.5,
        room: r.6,
        tenure: Tenure::parse(&r.7)
            .ok_or_else(|| StoreError::Corrupt(format!("household tenure {}", r.7)))?,
        size: r.8,
        residents: r.11,
        source: Source::parse(&r.9)
            .ok_or_else(|| StoreError::Corrupt(format!("household source {}", r.9)))?,
        updated_at: r.10,
    })
}

/// Checks the fields of a household; each problem names its field.
pub fn validate(input: &HouseholdInput) -> std::result::Result<(), Problem> {
    check_text(&input.unit, "unit", MAX_NAME, false)?;
    check_text(&input.room, "room", MAX_NAME, true)?;
    if let Some(s) = input.size {
        if !(1..=50).contains(&s) {
            return Err(Problem::new("out_of_range", "registry.out_of_range")
                .arg("min", 1)
                .arg("max", 50)
                .field("size"));
        }
    }
    Ok(())
}

fn household_json(input: &HouseholdInput) -> Value {
    json!({
        "building_id": input.building_id,
        "unit": input.unit.trim(),
        "room": input.room.trim(),
        "tenure": input.tenure.as_str(),
        "size": input.size,
    })
}

fn duplicate_room(input: &HouseholdInput) -> StoreError {
    StoreError::Conflict(
        Problem::new("duplicate_household", "registry.duplicate_household")
            .arg("unit", input.unit.trim())
            .arg("room", input.room.trim())
            .field("room"),
    )
}

/// Sets `renter` on a household's residents from its tenure and their own 租户 tag.
macro_rules! sync_renters {
    ($tx:expr, $household_id:expr) => {
        sqlx::query(
            "UPDATE residents SET renter = CASE WHEN (flags & $1) <> 0 \
               OR (SELECT tenure FROM households WHERE id = $2) = 'renter' THEN 1 ELSE 0 END \
             WHERE household_id = $2",
        )
        .bind(linli_core::registry::Tag::Renter.bit())
        .bind($household_id)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use sync_renters;

impl Store {
    pub async fn household(&self, id: i64) -> Result<Option<Household>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM households h JOIN buildings b ON b.id = h.building_id WHERE h.id = $1"
        );
        let row: Option<Raw> = on_read!(self, p => {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        row.map(decode).transpose()
    }

    /// Households in `range`, of one building if given, rented or owned if given, whose
    /// building name, unit or room contains `q`; in place order.
    pub async fn households(
        &self,
        range: KeyRange,
        building_id: Option<i64>,
        tenure: Option<Tenure>,
        q: Option<&str>,
        page: Page,
    ) -> Result<Listing<Household>> {
        let pattern = q.map(like_pattern);
        let sql = format!(
            "SELECT {COLUMNS} FROM households h JOIN buildings b ON b.id = h.building_id \
             WHERE {FILTER} ORDER BY h.region_key, h.building_id, h.unit, h.room LIMIT $6 OFFSET $7"
        );
        let count_sql = format!(
            "SELECT COUNT(*) FROM households h JOIN buildings b ON b.id = h.building_id WHERE {FILTER}"
        );
        let tenure = tenure.map(|t| t.as_str());
        let (rows, total): (Vec<Raw>, i64) = on_read!(self, p => {
            let rows = sqlx::query_as(&sql)
                .bind(range.start).bind(range.end).bind(building_id).bind(tenure)
                .bind(pattern.as_deref()).bind(page.limit).bind(page.offset)
                .fetch_all(p).await?;
            let total = sqlx::query_scalar(&count_sql)
                .bind(range.start).bind(range.end).bind(building_id).bind(tenure)
                .bind(pattern.as_deref())
                .fetch_one(p).await?;
            (rows, total)
        });
        Ok(Listing {
            items: rows.into_iter().map(decode).collect::<Result<_>>()?,
            total,
        })
    }

    /// The households [`Store::households`] lists, at most `limit` of them, after `after`
    /// in `(region_key, id)` order (the index's order rather than the list's by building and
    /// room, which no index serves). An export reads a whole district this way, chunk by
    /// chunk, with no OFFSET to skip over and no COUNT, so the whole read is linear.
    pub async fn households_after(
        &self,
        range: KeyRange,
        building_id: Option<i64>,
        tenure: Option<Tenure>,
        q: Option<&str>,
        after: Option<HouseholdCursor>,
        limit: i64,
    ) -> Result<Chunk<Household, HouseholdCursor>> {
        let limit = limit.max(1);
        let pattern = q.map(like_pattern);
        // The cursor's clause only when there is a cursor: the first chunk is the plain
        // range read. A row-value comparison reads the same on SQLite and PostgreSQL.
        let cursor = if after.is_some() {
            " AND (h.region_key, h.id) > ($7, $8)"
        } else {
            ""
        };
        // The key is selected as such: the place in COLUMNS is the building's.
        let sql = format!(
            "SELECT {COLUMNS}, h.region_key FROM households h JOIN buildings b ON b.id = h.building_id \
             WHERE {FILTER}{cursor} ORDER BY h.region_key, h.id LIMIT $6"
        );
        let tenure = tenure.map(|t| t.as_str());
        let rows: Vec<(Raw, i64)> = on_read!(self, p => {
            let mut query = sqlx::query(&sql)
                .bind(range.start).bind(range.end).bind(building_id).bind(tenure)
                .bind(pattern.as_deref()).bind(limit);
            if let Some(c) = after {
                query = query.bind(c.region_key).bind(c.id);
            }
            let rows = query.fetch_all(p).await?;
            rows.iter()
                .map(|row| Ok((Raw::from_row(row)?, row.try_get::<i64, _>(12)?)))
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?
        });
        let items = rows
            .into_iter()
            .map(|(r, region_key)| {
                let key = HouseholdCursor {
                    region_key,
                    id: r.0,
                };
                decode(r).map(|h| (h, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Chunk::of(items, limit))
    }

    async fn building_place(&self, building_id: i64) -> Result<Place> {
        let b = self.building(building_id).await?.ok_or_else(|| {
            StoreError::Invalid(
                Problem::new("unknown_building", "registry.unknown_building_id")
                    .arg("id", building_id)
                    .field("building_id"),
            )
        })?;
        Ok(Place {
            community: b.community,
            region: b.region,
        })
    }

    pub async fn create_household(
        &self,
        actor: &Actor,
        input: HouseholdInput,
        source: Source,
    ) -> Result<Household> {
        validate(&input).map_err(StoreError::Invalid)?;
        let place = self.building_place(input.building_id).await?;
        let after = household_json(&input);
        let now = now_ms();
        let id: i64 = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO households (building_id, community_key, region_key, unit, room, tenure, size, \
                 source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(input.building_id)
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(input.unit.trim())
            .bind(input.room.trim())
            .bind(input.tenure.as_str())
            .bind(input.size)
            .bind(source.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate_room(&input) } else { e.into() })?;
            let entry = Entry {
                target: Some(format!("household:{id}")),
                region_key: Some(place.region.key()),
                after: Some(after),
                ..Entry::new("household.create")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            tx.commit().await?;
            id
        });
        self.household(id).await?.ok_or(StoreError::NotFound)
    }

    /// Changes a household. It may move to another building of the same community only.
    pub async fn update_household(
        &self,
        actor: &Actor,
        id: i64,
        input: HouseholdInput,
    ) -> Result<Household> {
        validate(&input).map_err(StoreError::Invalid)?;
        let before = self.household(id).await?.ok_or(StoreError::NotFound)?;
        let place = self.building_place(input.building_id).await?;
        if place.community != before.community {
            return Err(StoreError::Invalid(
                Problem::new("other_community", "registry.household_other_community")
                    .field("building_id"),
            ));
        }
        let before_json = household_json(&HouseholdInput {
            building_id: before.building_id,
            unit: before.unit.clone(),
            room: before.room.clone(),
            tenure: before.tenure,
            size: before.size,
        });
        let after = household_json(&input);
        let now = now_ms();
        let source = if before.source == Source::Generated {
            Source::Manual
        } else {
            before.source
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE households SET building_id = $1, region_key = $2, unit = $3, room = $4, tenure = $5, \
                 size = $6, source = $7, updated_at = $8 WHERE id = $9",
            )
            .bind(input.building_id)
            .bind(place.region.key())
            .bind(input.unit.trim())
            .bind(input.room.trim())
            .bind(input.tenure.as_str())
            .bind(input.size)
            .bind(source.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate_room(&input) } else { StoreError::from(e) })?;
            sqlx::query("UPDATE residents SET region_key = $1 WHERE household_id = $2")
                .bind(place.region.key()).bind(id).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE resident_tags SET region_key = $1 WHERE resident_id IN \
                 (SELECT id FROM residents WHERE household_id = $2)",
            )
            .bind(place.region.key()).bind(id).execute(&mut *tx).await?;
            sync_renters!(tx, id);
            let entry = Entry {
                target: Some(format!("household:{id}")),
                region_key: Some(place.region.key()),
                before: Some(before_json),
                after: Some(after),
                ..Entry::new("household.update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            tx.commit().await?;
        });
        self.household(id).await?.ok_or(StoreError::NotFound)
    }

    /// Deletes an empty household; one with residents is refused, saying how many.
    pub async fn delete_household(&self, actor: &Actor, id: i64) -> Result<()> {
        let before = self.household(id).await?.ok_or(StoreError::NotFound)?;
        if before.residents > 0 {
            return Err(StoreError::Invalid(
                Problem::new(
                    "household_has_residents",
                    "registry.household_has_residents",
                )
                .arg("count", before.residents)
                .field("id"),
            ));
        }
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM households WHERE id = $1").bind(id).execute(&mut *tx).await?;
            let entry = Entry {
                target: Some(format!("household:{id}")),
                region_key: Some(before.region.key()),
                before: Some(json!({"building": before.building, "unit": before.unit, "room": before.room})),
                ..Entry::new("household.delete")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, before.community.key());
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Whether a resident with these tags in a household of this tenure counts as a renter.
pub fn is_renter(tenure: Tenure, tags: &[Tag]) -> bool {
    tenure == Tenure::Renter || tags.contains(&Tag::Renter)
}
