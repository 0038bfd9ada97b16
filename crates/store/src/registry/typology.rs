//! The facility typology in the database: seeded from the built-in table (documented in
//! crates/core/data/FACILITY_TYPES.md) on first start, then edited by admins.

use linli_core::registry::facility::{builtin_types, Category, FacilityType};
use linli_core::Problem;
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

type Raw = (String, String, String, String, i64, i64, String);

fn osm_text(t: &FacilityType) -> String {
    t.osm
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn decode(r: Raw) -> Result<FacilityType> {
    let category = Category::parse(&r.1)
        .ok_or_else(|| StoreError::Corrupt(format!("facility category {}", r.1)))?;
    Ok(FacilityType {
        code: r.0,
        category,
        name_zh: r.2,
        name_en: r.3,
        circle_minutes: u8::try_from(r.4).unwrap_or(15),
        radius_m: u32::try_from(r.5).unwrap_or(1000),
        osm: r
            .6
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

impl Store {
    /// Seeds the typology from the built-in table when the database has none.
    pub async fn ensure_typology(&self) -> Result<()> {
        let n: i64 = on_read!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM facility_types").fetch_one(p).await?
        });
        if n > 0 {
            return Ok(());
        }
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for (i, t) in builtin_types().iter().enumerate() {
                sqlx::query(
                    "INSERT INTO facility_types (code, position, category, name_zh, name_en, circle_minutes, \
                     radius_m, osm_tags, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (code) DO NOTHING",
                )
                .bind(&t.code)
                .bind(i as i64)
                .bind(t.category.as_str())
                .bind(&t.name_zh)
                .bind(&t.name_en)
                .bind(i64::from(t.circle_minutes))
                .bind(i64::from(t.radius_m))
                .bind(osm_text(t))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The typology in its documented order.
    pub async fn facility_types(&self) -> Result<Vec<FacilityType>> {
        let rows: Vec<Raw> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT code, category, name_zh, name_en, circle_minutes, radius_m, osm_tags \
                 FROM facility_types ORDER BY position",
            )
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(decode).collect()
    }

    /// Changes one type's names, life circle, radius and OpenStreetMap tags (the code and
    /// category stay: facilities and the health check refer to them).
    pub async fn update_facility_type(
        &self,
        actor: &Actor,
        t: FacilityType,
    ) -> Result<FacilityType> {
        let types = self.facility_types().await?;
        let Some(before) = types.iter().find(|x| x.code == t.code) else {
            return Err(StoreError::NotFound);
        };
        if ![5, 10, 15].contains(&t.circle_minutes) {
            return Err(StoreError::Invalid(
                Problem::new("bad_circle", "registry.bad_circle").field("circle_minutes"),
            ));
        }
        if !(100..=2000).contains(&t.radius_m) {
            return Err(StoreError::Invalid(
                Problem::new("out_of_range", "registry.out_of_range")
                    .arg("min", 100)
                    .arg("max", 2000)
                    .field("radius_m"),
            ));
        }
        if t.name_zh.trim().is_empty() || t.name_en.trim().is_empty() {
            return Err(StoreError::Invalid(
                Problem::new("required", "registry.required").field("name_zh"),
            ));
        }
        for (k, v) in &t.osm {
            if let Some(other) = types
                .iter()
                .find(|x| x.code != t.code && x.osm.iter().any(|(a, b)| a == k && b == v))
            {
                return Err(StoreError::Invalid(
                    Problem::new("osm_claimed", "registry.osm_claimed")
                        .arg("tag", format!("{k}={v}"))
                        .arg("type", &other.code)
                        .field("osm"),
                ));
            }
        }
        let before_json = json!({"name_zh": before.name_zh, "name_en": before.name_en,
            "circle_minutes": before.circle_minutes, "radius_m": before.radius_m, "osm": osm_text(before)});
        let after_json = json!({"name_zh": t.name_zh, "name_en": t.name_en,
            "circle_minutes": t.circle_minutes, "radius_m": t.radius_m, "osm": osm_text(&t)});
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE facility_types SET name_zh = $1, name_en = $2, circle_minutes = $3, radius_m = $4, \
                 osm_tags = $5, updated_at = $6 WHERE code = $7",
            )
            .bind(t.name_zh.trim())
            .bind(t.name_en.trim())
            .bind(i64::from(t.circle_minutes))
            .bind(i64::from(t.radius_m))
            .bind(osm_text(&t))
            .bind(now_ms())
            .bind(&t.code)
            .execute(&mut *tx)
            .await?;
            let entry = Entry {
                target: Some(format!("facility_type:{}", t.code)),
                before: Some(before_json),
                after: Some(after_json),
                ..Entry::new("facility_type.update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        let types = self.facility_types().await?;
        types
            .into_iter()
            .find(|x| x.code == t.code)
            .ok_or(StoreError::NotFound)
    }
}
