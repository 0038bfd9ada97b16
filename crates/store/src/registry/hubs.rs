//! Neighbourhood hubs (幸福邻里坊): their type, spaces and functions, checked against the
//! floor-area rules of practice 000 before anything is written.

use linli_core::grid::Source;
use linli_core::region::KeyRange;
use linli_core::registry::hub::{
    check_functions, validate_hub, HubKind, HubModel, HubSpace, SpaceRole,
};
use linli_core::{Problem, RegionCode};
use serde_json::{json, Value};

use super::buildings::like_pattern;
use super::stats::refresh_stats;
use super::{check_position, check_text, Listing, Page, Place, MAX_ADDRESS, MAX_NAME};
use crate::audit::{write_entry, Actor, Entry};
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

/// What a user gives for a hub.
#[derive(Debug, Clone, PartialEq)]
pub struct HubInput {
    pub region: Option<RegionCode>,
    pub name: String,
    pub kind: HubKind,
    pub model: HubModel,
    pub functions: Vec<String>,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub spaces: Vec<HubSpace>,
}

/// A hub as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Hub {
    pub id: i64,
    pub community: RegionCode,
    pub region: RegionCode,
    pub name: String,
    pub kind: HubKind,
    pub model: HubModel,
    pub functions: Vec<String>,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub spaces: Vec<HubSpace>,
    /// Total floor area of its spaces, m².
    pub area_m2: f64,
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
    String,
    String,
    Option<f64>,
    Option<f64>,
    String,
    i64,
);
type RawSpace = (i64, String, String, f64, Option<String>);

const COLUMNS: &str = "id, region_key, region_level, name, kind, model, functions, address, lon, lat, source, updated_at";

/// Every problem with a hub at once: the fields, the floor-area rules, the functions.
pub fn validate(input: &HubInput) -> std::result::Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    if input.region.is_none() {
        problems.push(Problem::new("required", "registry.required").field("region"));
    }
    if let Err(p) = check_text(&input.name, "name", MAX_NAME, true) {
        problems.push(p);
    }
    if let Err(p) = check_text(&input.address, "address", MAX_ADDRESS, true) {
        problems.push(p);
    }
    if let Err(p) = check_position(input.lon, input.lat) {
        problems.push(p);
    }
    if let Err(mut ps) = validate_hub(input.kind, &input.spaces) {
        problems.append(&mut ps);
    }
    problems.extend(check_functions(input.model, &input.functions));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn hub_json(input: &HubInput) -> Value {
    json!({
        "region": input.region.map(|r| r.to_string()),
        "name": input.name.trim(),
        "kind": input.kind.as_str(),
        "model": input.model.as_str(),
        "functions": input.functions,
        "address": input.address.trim(),
        "spaces": input.spaces.iter().map(|s| json!({"role": s.role.as_str(), "name": s.name, "area_m2": s.area_m2, "function": s.function})).collect::<Vec<_>>(),
    })
}

/// The first problem as the store's error (the page and the API show all of them through
/// [`validate`] first).
fn invalid(mut problems: Vec<Problem>) -> StoreError {
    StoreError::Invalid(problems.remove(0))
}

impl Store {
    pub async fn hub(&self, id: i64) -> Result<Option<Hub>> {
        let sql = format!("SELECT {COLUMNS} FROM hubs WHERE id = $1");
        let (row, spaces): (Option<Raw>, Vec<RawSpace>) = on_read!(self, p => {
            let row = sqlx::query_as(&sql).bind(id).fetch_optional(p).await?;
            let spaces = sqlx::query_as(
                "SELECT hub_id, role, name, area_m2, function FROM hub_spaces WHERE hub_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            (row, spaces)
        });
        row.map(|r| decode(r, &spaces)).transpose()
    }

    /// Hubs in `range` whose name contains `q`.
    pub async fn hubs(&self, range: KeyRange, q: Option<&str>, page: Page) -> Result<Listing<Hub>> {
        let pattern = q.map(like_pattern);
        let filter =
            "region_key >= $1 AND region_key < $2 AND ($3 IS NULL OR name LIKE $3 ESCAPE '\\')";
        let sql = format!(
            "SELECT {COLUMNS} FROM hubs WHERE {filter} ORDER BY region_key, id LIMIT $4 OFFSET $5"
        );
        let count_sql = format!("SELECT COUNT(*) FROM hubs WHERE {filter}");
        let (rows, total, spaces): (Vec<Raw>, i64, Vec<RawSpace>) = on_read!(self, p => {
            let rows: Vec<Raw> = sqlx::query_as(&sql)
                .bind(range.start).bind(range.end).bind(pattern.as_deref())
                .bind(page.limit).bind(page.offset)
                .fetch_all(p).await?;
            let total = sqlx::query_scalar(&count_sql)
                .bind(range.start).bind(range.end).bind(pattern.as_deref())
                .fetch_one(p).await?;
            // The page's spaces in one query.
            let first = rows.iter().map(|r| r.0).min().unwrap_or(0);
            let last = rows.iter().map(|r| r.0).max().unwrap_or(-1);
            let spaces = sqlx::query_as(
                "SELECT hub_id, role, name, area_m2, function FROM hub_spaces \
                 WHERE hub_id >= $1 AND hub_id <= $2 ORDER BY hub_id, position",
            )
            .bind(first).bind(last)
            .fetch_all(p).await?;
            (rows, total, spaces)
        });
        Ok(Listing {
            items: rows
                .into_iter()
                .map(|r| decode(r, &spaces))
                .collect::<Result<_>>()?,
            total,
        })
    }

    pub async fn create_hub(&self, actor: &Actor, input: HubInput, source: Source) -> Result<Hub> {
        validate(&input).map_err(invalid)?;
        let place = self
            .place(input.region.ok_or(StoreError::NotFound)?)
            .await?;
        let after = hub_json(&input);
        let now = now_ms();
        let id: i64 = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO hubs (community_key, region_key, region_level, name, kind, model, functions, address, \
                 lon, lat, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
            )
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(i64::from(place.region.level().number()))
            .bind(input.name.trim())
            .bind(input.kind.as_str())
            .bind(input.model.as_str())
            .bind(Value::from(input.functions.clone()).to_string())
            .bind(input.address.trim())
            .bind(input.lon)
            .bind(input.lat)
            .bind(source.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate_hub(&input.name) } else { e.into() })?;
            for (i, s) in input.spaces.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO hub_spaces (hub_id, position, role, name, area_m2, function) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id).bind(i as i64).bind(s.role.as_str()).bind(s.name.trim()).bind(s.area_m2)
                .bind(s.function.as_deref())
                .execute(&mut *tx).await?;
            }
            let entry = Entry {
                target: Some(format!("hub:{id}")),
                region_key: Some(place.region.key()),
                after: Some(after),
                ..Entry::new("hub.create")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            tx.commit().await?;
            id
        });
        self.hub(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn update_hub(&self, actor: &Actor, id: i64, input: HubInput) -> Result<Hub> {
        validate(&input).map_err(invalid)?;
        let before = self.hub(id).await?.ok_or(StoreError::NotFound)?;
        let place = self
            .place(input.region.ok_or(StoreError::NotFound)?)
            .await?;
        let before_json = hub_json(&HubInput {
            region: Some(before.region),
            name: before.name.clone(),
            kind: before.kind,
            model: before.model,
            functions: before.functions.clone(),
            address: before.address.clone(),
            lon: before.lon,
            lat: before.lat,
            spaces: before.spaces.clone(),
        });
        let after = hub_json(&input);
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE hubs SET community_key = $1, region_key = $2, region_level = $3, name = $4, kind = $5, \
                 model = $6, functions = $7, address = $8, lon = $9, lat = $10, updated_at = $11 WHERE id = $12",
            )
            .bind(place.community.key())
            .bind(place.region.key())
            .bind(i64::from(place.region.level().number()))
            .bind(input.name.trim())
            .bind(input.kind.as_str())
            .bind(input.model.as_str())
            .bind(Value::from(input.functions.clone()).to_string())
            .bind(input.address.trim())
            .bind(input.lon)
            .bind(input.lat)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate_hub(&input.name) } else { StoreError::from(e) })?;
            sqlx::query("DELETE FROM hub_spaces WHERE hub_id = $1").bind(id).execute(&mut *tx).await?;
            for (i, s) in input.spaces.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO hub_spaces (hub_id, position, role, name, area_m2, function) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id).bind(i as i64).bind(s.role.as_str()).bind(s.name.trim()).bind(s.area_m2)
                .bind(s.function.as_deref())
                .execute(&mut *tx).await?;
            }
            let entry = Entry {
                target: Some(format!("hub:{id}")),
                region_key: Some(place.region.key()),
                before: Some(before_json),
                after: Some(after),
                ..Entry::new("hub.update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, place.community.key());
            if before.community != place.community {
                refresh_stats!(tx, before.community.key());
            }
            tx.commit().await?;
        });
        self.hub(id).await?.ok_or(StoreError::NotFound)
    }

    /// Deletes a hub; its facilities stay, no longer attached to it.
    pub async fn delete_hub(&self, actor: &Actor, id: i64) -> Result<()> {
        let before = self.hub(id).await?.ok_or(StoreError::NotFound)?;
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE facilities SET hub_id = NULL WHERE hub_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM hubs WHERE id = $1").bind(id).execute(&mut *tx).await?;
            let entry = Entry {
                target: Some(format!("hub:{id}")),
                region_key: Some(before.region.key()),
                before: Some(json!({"name": before.name, "kind": before.kind.as_str()})),
                ..Entry::new("hub.delete")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, before.community.key());
            tx.commit().await?;
        });
        Ok(())
    }
}

fn duplicate_hub(name: &str) -> StoreError {
    StoreError::Conflict(
        Problem::new("duplicate_hub", "registry.duplicate_hub")
            .arg("name", name.trim())
            .field("name"),
    )
}

fn decode(r: Raw, spaces: &[RawSpace]) -> Result<Hub> {
    let place = Place::from_stored(r.1, r.2)?;
    let spaces: Vec<HubSpace> = spaces
        .iter()
        .filter(|s| s.0 == r.0)
        .map(|s| {
            Ok(HubSpace {
                role: SpaceRole::parse(&s.1)
                    .ok_or_else(|| StoreError::Corrupt(format!("hub space role {}", s.1)))?,
                name: s.2.clone(),
                area_m2: s.3,
                function: s.4.clone(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Hub {
        id: r.0,
        community: place.community,
        region: place.region,
        name: r.3,
        kind: HubKind::parse(&r.4)
            .ok_or_else(|| StoreError::Corrupt(format!("hub kind {}", r.4)))?,
        model: HubModel::parse(&r.5)
            .ok_or_else(|| StoreError::Corrupt(format!("hub model {}", r.5)))?,
        functions: serde_json::from_str(&r.6)
            .map_err(|e| StoreError::Corrupt(format!("hub functions: {e}")))?,
        address: r.7,
        lon: r.8,
        lat: r.9,
        area_m2: spaces.iter().map(|s| s.area_m2).sum(),
        spaces,
        source: Source::parse(&r.10)
            .ok_or_else(|| StoreError::Corrupt(format!("hub source {}", r.10)))?,
        updated_at: r.11,
    })
}
