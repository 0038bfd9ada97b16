//! The registry (人、房、设施): buildings, households, residents, facilities and hubs.
//!
//! Every record carries `region_key`, the key of the most specific region it lies in, and
//! `community_key`, its community's: a list "in my grid" is one key range, and the
//! per-community rules (no resident in another community's household, the 融合型大社区
//! classification) read one column. Personal identifiers go through the [`Keyring`]: stored
//! encrypted, found by keyed hash, shown masked.

use std::sync::Arc;

use linli_core::{Level, Problem, RegionCode};
use linli_pii::Keyring;
use serde::Serialize;

use crate::{on_write, Result, Store, StoreError};

pub mod buildings;
pub mod facilities;
pub mod households;
pub mod hubs;
pub mod import;
pub mod residents;
pub mod rotation;
pub mod stats;
pub mod typology;

pub use buildings::{Building, BuildingInput};
pub use facilities::{Facility, FacilityInput};
pub use households::{Household, HouseholdInput};
pub use hubs::{Hub, HubInput};
pub use residents::{PersonalField, Resident, ResidentFilter, ResidentInput};
pub use stats::RegistrySummary;

/// Rows per page when the caller does not say; and the most one page may hold.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

/// A page of a list: the rows and how many match in all.
#[derive(Debug, Clone, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// Which page of a list: `offset` rows skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    /// A page from the caller's numbers, clamped to what the store serves.
    pub fn new(offset: Option<i64>, limit: Option<i64>) -> Page {
        Page {
            offset: offset.unwrap_or(0).max(0),
            limit: limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
        }
    }

    /// Everything, for exports.
    pub fn all() -> Page {
        Page {
            offset: 0,
            limit: i64::MAX,
        }
    }
}

/// Where a record lies: its community and the most specific region (community, grid or
/// micro-grid) it was placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub community: RegionCode,
    pub region: RegionCode,
}

impl Place {
    /// The place of a stored record, from its region key and level.
    pub(crate) fn from_stored(region_key: i64, region_level: i64) -> Result<Place> {
        let level = i16::try_from(region_level)
            .ok()
            .and_then(Level::from_number)
            .ok_or_else(|| StoreError::Corrupt(format!("place level {region_level}")))?;
        let region = RegionCode::from_key(region_key, level)
            .ok_or_else(|| StoreError::Corrupt(format!("place key {region_key}")))?;
        let community = community_of(region)
            .ok_or_else(|| StoreError::Corrupt(format!("place {region} has no community")))?;
        Ok(Place { community, region })
    }
}

/// The community (level 5) a region at the community level or below belongs to.
pub fn community_of(code: RegionCode) -> Option<RegionCode> {
    match code.level() {
        Level::Community => Some(code),
        Level::Grid | Level::MicroGrid => code
            .ancestors()
            .into_iter()
            .find(|a| a.level() == Level::Community),
        _ => None,
    }
}

/// The longest text accepted in a name or address field, in characters.
pub const MAX_NAME: usize = 50;
pub const MAX_ADDRESS: usize = 120;

/// Checks a required short text: present, not too long, no control characters.
pub(crate) fn check_text(
    value: &str,
    field: &'static str,
    max: usize,
    required: bool,
) -> std::result::Result<(), Problem> {
    let v = value.trim();
    if v.is_empty() {
        if required {
            return Err(Problem::new("required", "registry.required").field(field));
        }
        return Ok(());
    }
    if v.chars().count() > max {
        return Err(Problem::new("too_long", "registry.too_long")
            .arg("max", max)
            .field(field));
    }
    if v.chars().any(char::is_control) {
        return Err(Problem::new("control_characters", "registry.control_characters").field(field));
    }
    Ok(())
}

/// Checks an optional WGS-84 position: both or neither, inside China's bounds.
pub(crate) fn check_position(
    lon: Option<f64>,
    lat: Option<f64>,
) -> std::result::Result<(), Problem> {
    match (lon, lat) {
        (None, None) => Ok(()),
        (Some(lon), Some(lat)) => {
            let inside = |lon: f64, lat: f64| {
                lon.is_finite()
                    && lat.is_finite()
                    && (73.0..=136.0).contains(&lon)
                    && (3.0..=54.0).contains(&lat)
            };
            if inside(lon, lat) {
                Ok(())
            } else if inside(lat, lon) {
                Err(Problem::new("position_swapped", "registry.position_swapped").field("lon"))
            } else {
                Err(
                    Problem::new("position_outside", "registry.position_outside")
                        .arg("lon", lon)
                        .arg("lat", lat)
                        .field("lon"),
                )
            }
        }
        _ => Err(Problem::new("position_half", "registry.position_half").field("lat")),
    }
}

impl Store {
    /// Gives the store the keys for personal data. The lookup key's fingerprint is kept in
    /// the database the first time; a different key later is refused, since every lookup
    /// and every uniqueness check on ID numbers would silently stop matching.
    pub async fn use_keys(&mut self, keys: Keyring) -> Result<()> {
        let fingerprint = keys.fingerprint();
        match self.meta("pii_fingerprint").await? {
            Some(stored) if stored != fingerprint => {
                return Err(StoreError::Config(format!(
                    "the personal-data lookup key does not match the one this database was \
                     written with (fingerprint {stored}, configured {fingerprint}); configure \
                     the original keys (LINLI_PII_KEYS or the key file)"
                )));
            }
            Some(_) => {}
            None => {
                on_write!(self, p => {
                    sqlx::query("INSERT INTO meta (name, value) VALUES ('pii_fingerprint', $1)")
                        .bind(&fingerprint)
                        .execute(p)
                        .await?;
                });
            }
        }
        self.keys = Some(Arc::new(keys));
        Ok(())
    }

    /// The keys, or a configuration error saying how to provide them.
    pub(crate) fn keys(&self) -> Result<Arc<Keyring>> {
        self.keys.clone().ok_or_else(|| {
            StoreError::Config(
                "no keys for personal data are configured: set LINLI_PII_KEYS or give a key file"
                    .to_string(),
            )
        })
    }

    /// Resolves a place given by a user: it must exist and lie at the community level or
    /// below.
    pub async fn place(&self, code: RegionCode) -> Result<Place> {
        let Some(community) = community_of(code) else {
            return Err(StoreError::Invalid(
                Problem::new("place_level", "registry.place_level")
                    .arg("code", code)
                    .field("region"),
            ));
        };
        if self.region(code).await?.is_none() {
            return Err(StoreError::Invalid(
                Problem::new("unknown_region", "registry.unknown_region")
                    .arg("code", code)
                    .field("region"),
            ));
        }
        Ok(Place {
            community,
            region: code,
        })
    }
}
