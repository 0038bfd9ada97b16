//! Facilities (设施) of the health-check typology, optionally part of a hub.

use linli_core::grid::Source;
use linli_core::region::KeyRange;
use linli_core::{Problem, RegionCode};
use serde_json::{json, Value};

use super::buildings::{like_pattern, Chunk};
use super::stats::refresh_stats;
use super::{check_position, check_text, Listing, Page, Place, MAX_ADDRESS, MAX_NAME};
use crate::audit::{write_entry, Actor, Entry};
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

/// What a user gives for a facility.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FacilityInput {
    pub region: Option<RegionCode>,
    pub type_code: String,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floor_area_m2: Option<f64>,
    pub hub_id: Option<i64>,
}

/// A facility as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Facility {
    pub id: i64,
    pub community: RegionCode,
    pub region: RegionCode,
    pub type_code: String,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floor_area_m2: Option<f64>,
    pub hub_id: Option<i64>,
    pub source: Source,
    pub updated_at: i64,
}

type Raw = (
    i64,
    i64,
    i64,
    String,
    String,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    String,
    i64,
);

const COLUMNS: &str = "id, region_key, region_level, type_code, name, address, lon, lat, floor_area_m2, hub_id, source, updated_at";

/// The rows of a list or a keyset read of facilities: in `range`, of type `$3`, name or
/// address like `$4`.
const FILTER: &str = "region_key >= $1 AND region_key < $2 AND ($3 IS NULL OR type_code = $3) \
     AND ($4 IS NULL OR name LIKE $4 ESCAPE '\\' OR address LIKE $4 ESCAPE '\\')";

/// Where a keyset read of facilities resumes: the ORDER BY key `(region_key, type_code, id)`
/// of the last row read, the list's order, which the `facilities_by_region` index serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityCursor {
    region_key: i64,
    type_code: String,
    id: i64,
}

fn decode(r: Raw) -> Result<Facility> {
    let place = Place::from_stored(r.1, r.2)?;
    Ok(Facility {
        id: r.0,
        community: place.community,
        region: place.region,
        type_code: r.3,
        name: r.4,
        address: r.5,
        lon: r.6,
        lat: r.7,
        floor_area_m2: r.8,
        hub_id: r.9,
        source: Source::parse(&r.10)
            .ok_or_else(|| StoreError::Corrupt(format!("facility source {}", r.10)))?,
        updated_at: r.11,
    })
}

/// Checks the fields that need no database; each problem names its field.
pub fn validate(input: &FacilityInput) -> std::result::Result<(), Problem> {
    if input.region.is_none() {
        return Err(Problem::new("required", "registry.required").field("region"));
    }
    check_text(&input.name, "name", MAX_NAME, true)?;
    check_text(&input.address, "address", MAX_ADDRESS, false)?;
    check_position(input.lon, input.lat)?;
    if let Some(a) = input.floor_area_m2 {
        if !a.is_finite() || a <= 0.0 || a > 1_000_000.0 {
            return Err(Problem::new("bad_area", "registry.bad_area").field("floor_area_m2"));
        }
    }
    Ok(())
}

fn facility_json(input: &FacilityInput) -> Value {
    json!({
        "region": input.region.map(|r| r.to_string()),
        "type": input.type_code, "name": input.name.trim(), "address": input.address.trim(),
        "lon": input.lon, "lat": input.lat, "floor_area_m2": input.floor_area_m2, "hub_id": input.hub_id,
    })
}

impl Store {
    pub async fn facility(&self, id: i64) -> Result<Option<Facility>> {
        let sql = format!("SELECT {COLUMNS} FROM facilities WHERE id = $1");
        let row: Option<Raw> = on_read!(self, p => {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        row.map(decode).transpose()
    }

    /// Facilities in `range`, of one type if given, whose name or address contains `q`.
    pub async fn facilities(
        &self,
        range: KeyRange,
        type_code: Option<&str>,
        q: Option<&str>,
        page: Page,
    ) -> Result<Listing<Facility>> {
        let pattern = q.map(like_pattern);
        let sql = format!(
            "SELECT {COLUMNS} FROM facilities WHERE {FILTER} ORDER BY region_key, type_code, id LIMIT $5 OFFSET $6"
        );
        let count_sql = format!("SELECT COUNT(*) FROM facilities WHERE {FILTER}");
        let (rows, total): (Vec<Raw>, i64) = on_read!(self, p => {
            let rows = sqlx::query_as(&sql)
                .bind(range.start).bind(range.end).bind(type_code).bind(pattern.as_deref())
                .bind(page.limit).bind(page.offset)
                .fetch_all(p).await?;
            let total = sqlx::query_scalar(&count_sql)
                .bind(range.start).bind(range.end).bind(type_code).bind(pattern.as_deref())
                .fetch_one(p).await?;
            (rows, total)
        });
        Ok(Listing {
            items: rows.into_iter().map(decode).collect::<Result<_>>()?,
            total,
        })
    }

    /// The facilities [`Store::facilities`] lists, at most `limit` of them, after `after` in
    /// the list's `(region_key, type_code, id)` order. An export reads a whole district this
    /// way, chunk by chunk, with no OFFSET to skip over and no COUNT, so the whole read is
    /// linear.
    pub async fn facilities_after(
        &self,
        range: KeyRange,
        type_code: Option<&str>,
        q: Option<&str>,
        after: Option<&FacilityCursor>,
        limit: i64,
    ) -> Result<Chunk<Facility, FacilityCursor>> {
        let limit = limit.max(1);
        let pattern = q.map(like_pattern);
        // The cursor's clause only when there is a cursor: the first chunk is the plain
        // range read. A row-value comparison reads the same on SQLite and PostgreSQL.
        let cursor = if after.is_some() {
            " AND (region_key, type_code, id) > ($6, $7, $8)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM facilities WHERE {FILTER}{cursor} ORDER BY region_key, type_code, id LIMIT $5"
        );
        let rows: Vec<Raw> = on_read!(self, p => {
            let mut query = sqlx::query_as(&sql)
                .bind(range.start).bind(range.end).bind(type_code).bind(pattern.as_deref())
                .bind(limit);
            if let Some(c) = after {
                query = query.bind(c.region_key).bind(c.type_code.as_str()).bind(c.id);
            }
            query.fetch_all(p).await?
        });
        let items = rows
            .into_iter()
            .map(|r| {
                let key = FacilityCursor {
                    region_key: r.1,
                    type_code: r.3.clone(),
                    id: r.0,
                };
                decode(r).map(|f| (f, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Chunk::of(items, limit))
    }

    /// The checks that need the database: the type exists, the hub is in the same
    /// community.
    async fn check_facility(&self, input: &FacilityInput, place: &Place) -> Result<()> {
        let types = self.facility_types().await?;
        if !types.iter().any(|t| t.code == input.type_code) {
            return Err(StoreError::Invalid(
                Problem::new("unknown_type", "registry.unknown_facility_type")
                    .arg("type", &input.type_code)
                    .field("type"),
            ));
        }
        if let Some(hub_id) = input.hub_id {
            match self.hub(hub_id).await? {
                Some(h) if h.community == place.community => {}
                Some(_) => {
                    return Err(StoreError::Invalid(
                        Problem::new("hub_other_community", "registry.hub_other_community")
                            .field("hub_id"),
                    ))
                }
                None => {
                    return Err(StoreError::Invalid(
                        Problem::new("unknown_hub", "registry.unknown_hub")
                            .arg("id", hub_id)
                            .field("hub_id"),
                    ))
                }
            }
        }
        Ok(())
    }

    pub async fn create_facility(
        &self,
        actor: &Actor,
        input: FacilityInput,
        source: Source,
    ) -> Result<Facility> {
        validate(&input).map_err(StoreError::Invalid)?;
        let place = self
            .place(input.region.ok_or(StoreError::NotFound)?)
            .await?;
        self.check_facility(&input, &place).await?;
        let after = facility_json(&input);
        let now = now_ms();
        let id: i64 = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO facilities (community_key, region_key, region_level, type_code, name, address, lon, lat, \
                 floor_area_m2, hub_id, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
            )
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(i64::from(place.region.level().number()))
            .bind(&input.type_code)
            .bind(input.name.trim())
            .bind(input.address.trim())
            .bind(input.lon)
            .bind(input.lat)
            .bind(input.floor_area_m2)
            .bind(input.hub_id)
            .bind(source.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let entry = Entry {
                target: Some(format!("facility:{id}")),
                region_key: Some(place.region.key()),
                after: Some(after),
                ..Entry::new("facility.create")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            tx.commit().await?;
            id
        });
        self.facility(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn update_facility(
        &self,
        actor: &Actor,
        id: i64,
        input: FacilityInput,
    ) -> Result<Facility> {
        validate(&input).map_err(StoreError::Invalid)?;
        let before = self.facility(id).await?.ok_or(StoreError::NotFound)?;
        let place = self
            .place(input.region.ok_or(StoreError::NotFound)?)
            .await?;
        self.check_facility(&input, &place).await?;
        let before_json = facility_json(&FacilityInput {
            region: Some(before.region),
            type_code: before.type_code.clone(),
            name: before.name.clone(),
            address: before.address.clone(),
            lon: before.lon,
            lat: before.lat,
            floor_area_m2: before.floor_area_m2,
            hub_id: before.hub_id,
        });
        let after = facility_json(&input);
        let source = if before.source == Source::Generated {
            Source::Manual
        } else {
            before.source
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE facilities SET community_key = $1, region_key = $2, region_level = $3, type_code = $4, \
                 name = $5, address = $6, lon = $7, lat = $8, floor_area_m2 = $9, hub_id = $10, source = $11, \
                 updated_at = $12 WHERE id = $13",
            )
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(i64::from(place.region.level().number()))
            .bind(&input.type_code)
            .bind(input.name.trim())
            .bind(input.address.trim())
            .bind(input.lon)
            .bind(input.lat)
            .bind(input.floor_area_m2)
            .bind(input.hub_id)
            .bind(source.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let entry = Entry {
                target: Some(format!("facility:{id}")),
                region_key: Some(place.region.key()),
                before: Some(before_json),
                after: Some(after),
                ..Entry::new("facility.update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            if before.community != place.community {
                refresh_stats!(tx, before.community.key());
            }
            tx.commit().await?;
        });
        self.facility(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn delete_facility(&self, actor: &Actor, id: i64) -> Result<()> {
        let before = self.facility(id).await?.ok_or(StoreError::NotFound)?;
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM facilities WHERE id = $1").bind(id).execute(&mut *tx).await?;
            let entry = Entry {
                target: Some(format!("facility:{id}")),
                region_key: Some(before.region.key()),
                before: Some(json!({"name": before.name, "type": before.type_code})),
                ..Entry::new("facility.delete")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, before.community.key());
            tx.commit().await?;
        });
        Ok(())
    }
}
