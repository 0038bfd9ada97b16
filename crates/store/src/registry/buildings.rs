//! Buildings (楼栋): where households live, placed in a community, grid or micro-grid.

use linli_core::grid::Source;
use linli_core::region::KeyRange;
use linli_core::{Problem, RegionCode};
use serde_json::{json, Value};

use super::stats::refresh_stats;
use super::{check_position, check_text, Listing, Page, Place, MAX_ADDRESS, MAX_NAME};
use crate::audit::{write_entry, Actor, Entry};
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

/// What a user gives for a building.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildingInput {
    /// The community, grid or micro-grid it stands in.
    pub region: Option<RegionCode>,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floors: Option<i64>,
    pub units: Option<i64>,
}

/// A building as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    pub id: i64,
    pub community: RegionCode,
    pub region: RegionCode,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub floors: Option<i64>,
    pub units: Option<i64>,
    pub source: Source,
    pub households: i64,
    pub updated_at: i64,
}

/// One chunk of a keyset read (an export walking a whole district in place order): the
/// rows, and the cursor to pass for the next chunk, `None` once the read has reached the end.
/// Shared by the keyset reads of every kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Chunk<T, C> {
    /// The chunk of rows read with `limit`, each with its cursor (its ORDER BY key): a full
    /// chunk may have more after it, a short one is the last.
    pub(crate) fn of(items: Vec<(T, C)>, limit: i64) -> Chunk<T, C> {
        let full = i64::try_from(items.len()).unwrap_or(i64::MAX) >= limit;
        let mut next = None;
        let mut rows = Vec::with_capacity(items.len());
        for (item, key) in items {
            next = Some(key);
            rows.push(item);
        }
        Chunk {
            items: rows,
            next: if full { next } else { None },
        }
    }
}

/// Where a keyset read of buildings resumes: the ORDER BY key `(region_key, id)` of the
/// last row read, which the `buildings_by_region` index serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildingCursor {
    region_key: i64,
    id: i64,
}

/// The rows of a list or a keyset read of buildings: in `range`, name or address like `$3`.
const FILTER: &str = "b.region_key >= $1 AND b.region_key < $2 \
                      AND ($3 IS NULL OR b.name LIKE $3 ESCAPE '\\' OR b.address LIKE $3 ESCAPE '\\')";

pub(crate) const COLUMNS: &str =
    "b.id, b.region_key, b.region_level, b.name, b.address, b.lon, b.lat, b.floors, \
     b.units, b.source, b.updated_at, \
     (SELECT COUNT(*) FROM households h WHERE h.building_id = b.id)";

type Raw = (
    i64,
    i64,
    i64,
    String,
    String,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    i64,
);

fn decode(r: Raw) -> Result<Building> {
    let place = Place::from_stored(r.1, r.2)?;
    Ok(Building {
        id: r.0,
        community: place.community,
        region: place.region,
        name: r.3,
        address: r.4,
        lon: r.5,
        lat: r.6,
        floors: r.7,
        units: r.8,
        source: Source::parse(&r.9)
            .ok_or_else(|| StoreError::Corrupt(format!("building source {}", r.9)))?,
        households: r.11,
        updated_at: r.10,
    })
}

/// Checks the fields of a building; each problem names its field.
pub fn validate(input: &BuildingInput) -> std::result::Result<(), Problem> {
    if input.region.is_none() {
        return Err(Problem::new("required", "registry.required").field("region"));
    }
    check_text(&input.name, "name", MAX_NAME, true)?;
    check_text(&input.address, "address", MAX_ADDRESS, true)?;
    check_position(input.lon, input.lat)?;
    if let Some(f) = input.floors {
        if !(1..=200).contains(&f) {
            return Err(Problem::new("out_of_range", "registry.out_of_range")
                .arg("min", 1)
                .arg("max", 200)
                .field("floors"));
        }
    }
    if let Some(u) = input.units {
        if !(1..=100).contains(&u) {
            return Err(Problem::new("out_of_range", "registry.out_of_range")
                .arg("min", 1)
                .arg("max", 100)
                .field("units"));
        }
    }
    Ok(())
}

fn building_json(place: &Place, input: &BuildingInput) -> Value {
    json!({
        "region": place.region.to_string(),
        "name": input.name.trim(),
        "address": input.address.trim(),
        "lon": input.lon, "lat": input.lat,
        "floors": input.floors, "units": input.units,
    })
}

fn duplicate_name(name: &str) -> StoreError {
    StoreError::Conflict(
        Problem::new("duplicate_building", "registry.duplicate_building")
            .arg("name", name.trim())
            .field("name"),
    )
}

impl Store {
    pub async fn building(&self, id: i64) -> Result<Option<Building>> {
        let sql = format!("SELECT {COLUMNS} FROM buildings b WHERE b.id = $1");
        let row: Option<Raw> = on_read!(self, p => {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        row.map(decode).transpose()
    }

    /// Buildings in `range` whose name or address contains `q`, in place order.
    pub async fn buildings(
        &self,
        range: KeyRange,
        q: Option<&str>,
        page: Page,
    ) -> Result<Listing<Building>> {
        let pattern = q.map(like_pattern);
        let sql = format!(
            "SELECT {COLUMNS} FROM buildings b WHERE {FILTER} ORDER BY b.region_key, b.id LIMIT $4 OFFSET $5"
        );
        let count_sql = format!("SELECT COUNT(*) FROM buildings b WHERE {FILTER}");
        let (rows, total): (Vec<Raw>, i64) = on_read!(self, p => {
            let rows = sqlx::query_as(&sql)
                .bind(range.start).bind(range.end).bind(pattern.as_deref())
                .bind(page.limit).bind(page.offset)
                .fetch_all(p).await?;
            let total = sqlx::query_scalar(&count_sql)
                .bind(range.start).bind(range.end).bind(pattern.as_deref())
                .fetch_one(p).await?;
            (rows, total)
        });
        Ok(Listing {
            items: rows.into_iter().map(decode).collect::<Result<_>>()?,
            total,
        })
    }

    /// The buildings [`Store::buildings`] lists, at most `limit` of them, after `after` in
    /// `(region_key, id)` order. An export reads a whole district this way, chunk by chunk:
    /// each chunk continues along the place index where the last one stopped, with no
    /// OFFSET to skip over and no COUNT, so the whole read is linear in the rows.
    pub async fn buildings_after(
        &self,
        range: KeyRange,
        q: Option<&str>,
        after: Option<BuildingCursor>,
        limit: i64,
    ) -> Result<Chunk<Building, BuildingCursor>> {
        let limit = limit.max(1);
        let pattern = q.map(like_pattern);
        // The cursor's clause only when there is a cursor: the first chunk is the plain
        // range read. A row-value comparison reads the same on SQLite and PostgreSQL.
        let cursor = if after.is_some() {
            " AND (b.region_key, b.id) > ($5, $6)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM buildings b WHERE {FILTER}{cursor} ORDER BY b.region_key, b.id LIMIT $4"
        );
        let rows: Vec<Raw> = on_read!(self, p => {
            let mut query = sqlx::query_as(&sql)
                .bind(range.start).bind(range.end).bind(pattern.as_deref()).bind(limit);
            if let Some(c) = after {
                query = query.bind(c.region_key).bind(c.id);
            }
            query.fetch_all(p).await?
        });
        let items = rows
            .into_iter()
            .map(|r| {
                let key = BuildingCursor {
                    region_key: r.1,
                    id: r.0,
                };
                decode(r).map(|b| (b, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Chunk::of(items, limit))
    }

    /// Registers a building.
    pub async fn create_building(
        &self,
        actor: &Actor,
        input: BuildingInput,
        source: Source,
    ) -> Result<Building> {
        validate(&input).map_err(StoreError::Invalid)?;
        let place = self
            .place(input.region.ok_or(StoreError::NotFound)?)
            .await?;
        let after = building_json(&place, &input);
        let now = now_ms();
        let id: i64 = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO buildings (community_key, region_key, region_level, name, address, lon, lat, \
                 floors, units, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
            )
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(i64::from(place.region.level().number()))
            .bind(input.name.trim())
            .bind(input.address.trim())
            .bind(input.lon)
            .bind(input.lat)
            .bind(input.floors)
            .bind(input.units)
            .bind(source.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate_name(&input.name) } else { e.into() })?;
            let entry = Entry {
                target: Some(format!("building:{id}")),
                region_key: Some(place.region.key()),
                after: Some(after),
                ..Entry::new("building.create")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            tx.commit().await?;
            id
        });
        self.building(id).await?.ok_or(StoreError::NotFound)
    }

    /// Changes a building. Moving it to another grid or micro-grid of the same community
    /// moves its households and residents with it; moving it to another community is
    /// refused, since its residents would change community without being re-registered.
    pub async fn update_building(
        &self,
        actor: &Actor,
        id: i64,
        input: BuildingInput,
    ) -> Result<Building> {
        validate(&input).map_err(StoreError::Invalid)?;
        let before = self.building(id).await?.ok_or(StoreError::NotFound)?;
        let place = self
            .place(input.region.ok_or(StoreError::NotFound)?)
            .await?;
        if place.community != before.community && before.households > 0 {
            return Err(StoreError::Invalid(
                Problem::new(
                    "building_other_community",
                    "registry.building_other_community",
                )
                .arg("count", before.households)
                .field("region"),
            ));
        }
        let before_json = building_json(
            &Place {
                community: before.community,
                region: before.region,
            },
            &BuildingInput {
                region: Some(before.region),
                name: before.name.clone(),
                address: before.address.clone(),
                lon: before.lon,
                lat: before.lat,
                floors: before.floors,
                units: before.units,
            },
        );
        let after = building_json(&place, &input);
        let now = now_ms();
        let source = if before.source == Source::Generated {
            Source::Manual
        } else {
            before.source
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE buildings SET community_key = $1, region_key = $2, region_level = $3, name = $4, \
                 address = $5, lon = $6, lat = $7, floors = $8, units = $9, source = $10, updated_at = $11 \
                 WHERE id = $12",
            )
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(i64::from(place.region.level().number()))
            .bind(input.name.trim())
            .bind(input.address.trim())
            .bind(input.lon)
            .bind(input.lat)
            .bind(input.floors)
            .bind(input.units)
            .bind(source.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate_name(&input.name) } else { StoreError::from(e) })?;
            if place.region != before.region {
                sqlx::query("UPDATE households SET region_key = $1, community_key = $2 WHERE building_id = $3")
                    .bind(place.region.key()).bind(place.community.key()).bind(id)
                    .execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE residents SET region_key = $1, community_key = $2 \
                     WHERE household_id IN (SELECT id FROM households WHERE building_id = $3)",
                )
                .bind(place.region.key()).bind(place.community.key()).bind(id)
                .execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE resident_tags SET region_key = $1 WHERE resident_id IN \
                     (SELECT r.id FROM residents r JOIN households h ON h.id = r.household_id WHERE h.building_id = $2)",
                )
                .bind(place.region.key()).bind(id)
                .execute(&mut *tx).await?;
            }
            let entry = Entry {
                target: Some(format!("building:{id}")),
                region_key: Some(place.region.key()),
                before: Some(before_json),
                after: Some(after),
                ..Entry::new("building.update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            if before.community != place.community {
                refresh_stats!(tx, before.community.key());
            }
            tx.commit().await?;
        });
        self.building(id).await?.ok_or(StoreError::NotFound)
    }

    /// Deletes a building with no households; one with households is refused, saying how
    /// many, so that nobody's registration disappears with a click.
    pub async fn delete_building(&self, actor: &Actor, id: i64) -> Result<()> {
        let before = self.building(id).await?.ok_or(StoreError::NotFound)?;
        if before.households > 0 {
            return Err(StoreError::Invalid(
                Problem::new(
                    "building_has_households",
                    "registry.building_has_households",
                )
                .arg("count", before.households)
                .field("id"),
            ));
        }
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM buildings WHERE id = $1").bind(id).execute(&mut *tx).await?;
            let entry = Entry {
                target: Some(format!("building:{id}")),
                region_key: Some(before.region.key()),
                before: Some(json!({"name": before.name, "address": before.address, "region": before.region.to_string()})),
                ..Entry::new("building.delete")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, before.community.key());
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A LIKE pattern matching `q` anywhere, with LIKE's own characters escaped.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.trim().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
