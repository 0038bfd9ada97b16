//! Care (关爱): household devices with their own credentials, the readings they send
//! (stored once each), and everything refused, counted per device and reason.
//!
//! A device's credential is 32 random bytes in hex, shown once at registration; only its
//! SHA-256 is kept, as for API keys. Every payload a device sends ends as a stored reading,
//! a duplicate of one (the same seq again), or a refusal counted with its reason: nothing is
//! dropped without a trace.

use std::collections::{BTreeMap, HashMap, HashSet};

use linli_core::care::{self, DeviceKind, Reading};
use linli_core::i18n::Lang;
use linli_core::region::KeyRange;
use linli_core::{Level, Problem, RegionCode};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{write_entry, Actor, Entry};
use crate::care_alarms::{self, Raised};
use crate::registry::{Listing, Page};
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

/// The bytes of a refused payload kept as its sample.
const SAMPLE_BYTES: usize = 512;
/// Readings per INSERT statement (6 parameters each, under SQLite's limit).
const READINGS_PER_STATEMENT: usize = 1_000;
/// Devices' counters per UPDATE statement (7 parameters each).
const COUNTERS_PER_STATEMENT: usize = 2_000;

/// A registered device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    /// The row's key, which readings refer to.
    #[serde(skip)]
    pub key: i64,
    pub device_id: String,
    pub kind: String,
    pub household_id: i64,
    /// The household's community.
    pub community: String,
    /// The household's place, for access checks.
    #[serde(skip)]
    pub region_key: i64,
    pub created_at: i64,
    pub created_by: String,
    /// The latest reading's own time (ms), if any came.
    pub last_seen_at: Option<i64>,
    pub battery: Option<f64>,
    pub readings: i64,
    pub duplicates: i64,
    pub refused: i64,
}

/// A device that proved who it is: what ingestion needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceAuth {
    pub key: i64,
    pub household_id: i64,
    pub kind: DeviceKind,
    pub community: RegionCode,
    /// The household's place, for range queries.
    pub region_key: i64,
}

/// What became of a batch of payloads from one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ingested {
    pub stored: u64,
    /// Readings whose (device, seq) was stored before: sent again, kept once.
    pub duplicates: u64,
    /// Each refused payload's place in the batch and why.
    pub refused: Vec<(usize, Problem)>,
    /// The alarms the readings raised.
    pub alarms: Vec<Raised>,
}

/// What became of a batch that came through the broker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchOutcome {
    /// Readings whose (device, seq) was stored before, or earlier in the same batch.
    pub duplicates: u64,
    /// Payloads refused, each counted with its reason under the id it claimed.
    pub refused: u64,
    /// The readings stored now, each with its device, in the order they were sent.
    pub stored: Vec<(DeviceAuth, Reading)>,
    /// The alarms the readings raised.
    pub alarms: Vec<Raised>,
}

/// A parsed batch, ready to write.
#[derive(Default)]
struct Batch<'a> {
    accepted: Vec<(DeviceAuth, Reading)>,
    /// (claimed id, its community and place, its row's key if registered, why, what it sent)
    refused: Vec<Refused<'a>>,
}

/// A claimed device id and, when it is registered, its community and place.
type Claimant<'a> = (&'a str, Option<(i64, i64)>);

type Refused<'a> = (
    &'a str,
    Option<(i64, i64)>,
    Option<i64>,
    &'a Problem,
    &'a [u8],
);

/// What a batch's write did.
struct Written {
    duplicates: u64,
    stored: Vec<(DeviceAuth, Reading)>,
    alarms: Vec<Raised>,
}

/// One device's share of a batch, for its row's counters.
struct DeviceCounters {
    key: i64,
    stored: i64,
    duplicates: i64,
    refused: i64,
    last_seen: Option<i64>,
    /// The latest battery level sent, with its time.
    battery: Option<(f64, i64)>,
}

/// A batch's counters per device, and its refusals per claimed id and place.
struct Counters<'a> {
    rows: Vec<DeviceCounters>,
    duplicates: u64,
    refusals: BTreeMap<Claimant<'a>, ByReason<'a>>,
}

impl<'a> Counters<'a> {
    fn of(batch: &Batch<'a>, stored: &[(DeviceAuth, Reading)]) -> Counters<'a> {
        let mut rows: HashMap<i64, DeviceCounters> = HashMap::new();
        for (d, r) in &batch.accepted {
            let c = counters_for(&mut rows, d.key);
            c.duplicates += 1;
            c.last_seen = c.last_seen.max(Some(r.ts_ms));
            if let (care::ReadingKind::Battery, Some(v)) = (r.kind, r.value) {
                if c.battery.is_none_or(|(_, at)| at <= r.ts_ms) {
                    c.battery = Some((v, r.ts_ms));
                }
            }
        }
        for (d, _) in stored {
            let c = counters_for(&mut rows, d.key);
            c.stored += 1;
            c.duplicates -= 1;
        }
        let mut refusals: BTreeMap<_, ByReason<'a>> = BTreeMap::new();
        for (id, place, key, problem, payload) in &batch.refused {
            if let Some(key) = key {
                counters_for(&mut rows, *key).refused += 1;
            }
            count_reason(refusals.entry((*id, *place)).or_default(), problem, payload);
        }
        let duplicates = (batch.accepted.len() - stored.len()) as u64;
        let mut rows: Vec<DeviceCounters> = rows.into_values().collect();
        // Rows updated in key order, so that concurrent batches lock them in one order.
        rows.sort_unstable_by_key(|c| c.key);
        Counters {
            rows,
            duplicates,
            refusals,
        }
    }
}

fn counters_for(rows: &mut HashMap<i64, DeviceCounters>, key: i64) -> &mut DeviceCounters {
    rows.entry(key).or_insert(DeviceCounters {
        key,
        stored: 0,
        duplicates: 0,
        refused: 0,
        last_seen: None,
        battery: None,
    })
}

/// A device's ingestion facts from its row, or why the row is not one.
fn device_auth(
    device_id: &str,
    key: i64,
    household_id: i64,
    kind: &str,
    community_key: i64,
    region_key: i64,
) -> Result<DeviceAuth> {
    let kind = DeviceKind::parse(kind)
        .map_err(|_| StoreError::Corrupt(format!("care device {device_id}: kind {kind}")))?;
    let community = RegionCode::from_key(community_key, Level::Community).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "care device {device_id}: community key {community_key}"
        ))
    })?;
    Ok(DeviceAuth {
        key,
        household_id,
        kind,
        community,
        region_key,
    })
}

/// Refusals of one claimed device id for one reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusalCount {
    pub device_id: String,
    pub reason: String,
    /// The device's community, when the id is registered.
    pub community: Option<String>,
    pub count: i64,
    pub first_at: i64,
    pub last_at: i64,
    /// The latest refusal's message, in Chinese and English.
    pub last_message: serde_json::Value,
    pub last_payload: String,
}

/// A community's code from its key (empty if the key is not one: it always is).
fn community_name(key: i64) -> String {
    RegionCode::from_key(key, Level::Community)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

/// A device credential: 32 random bytes in hex.
fn new_credential() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn secret_hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.trim().as_bytes()))
}

/// The sample kept of a refused payload: its first bytes, as text.
fn sample(payload: &[u8]) -> String {
    let cut = payload.len().min(SAMPLE_BYTES);
    String::from_utf8_lossy(&payload[..cut]).into_owned()
}

fn messages(p: &Problem) -> String {
    json!({"zh": p.message(Lang::Zh), "en": p.message(Lang::En)}).to_string()
}

/// A `care_devices` row as [`DEVICE_COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    device_id: String,
    kind: String,
    household_id: i64,
    community_key: i64,
    region_key: i64,
    created_at: i64,
    created_by: String,
    last_seen_at: Option<i64>,
    battery: Option<f64>,
    readings: i64,
    duplicates: i64,
    refused: i64,
}

const DEVICE_COLUMNS: &str =
    "id, device_id, kind, household_id, community_key, region_key, created_at, created_by, \
     last_seen_at, battery, readings, duplicates, refused";

fn device(row: DeviceRow) -> Device {
    Device {
        key: row.id,
        device_id: row.device_id,
        kind: row.kind,
        household_id: row.household_id,
        community: community_name(row.community_key),
        region_key: row.region_key,
        created_at: row.created_at,
        created_by: row.created_by,
        last_seen_at: row.last_seen_at,
        battery: row.battery,
        readings: row.readings,
        duplicates: row.duplicates,
        refused: row.refused,
    }
}

/// Refusals grouped by reason: how many, and the latest with its payload.
type ByReason<'a> = BTreeMap<&'static str, (i64, &'a Problem, &'a [u8])>;

fn by_reason<'a>(refusals: impl IntoIterator<Item = (&'a Problem, &'a [u8])>) -> ByReason<'a> {
    let mut grouped = ByReason::new();
    for (p, payload) in refusals {
        count_reason(&mut grouped, p, payload);
    }
    grouped
}

/// Counts one refusal under its reason, keeping it as the latest.
fn count_reason<'a>(grouped: &mut ByReason<'a>, p: &'a Problem, payload: &'a [u8]) {
    let entry = grouped.entry(p.code).or_insert((0, p, payload));
    entry.0 += 1;
    (entry.1, entry.2) = (p, payload);
}

/// Adds refusals of `$device_id` (registered in the community and place `$place`, or not at
/// all) to their counts on `$tx`, one row per reason with the latest kept as the sample.
macro_rules! count_refusals_on {
    ($tx:expr, $device_id:expr, $place:expr, $by_reason:expr) => {{
        let place: Option<(i64, i64)> = $place;
        let now = now_ms();
        let id: String = $device_id.chars().take(care::MAX_DEVICE_ID * 2).collect();
        for (reason, (n, problem, payload)) in $by_reason {
            sqlx::query(
                "INSERT INTO care_refusals (device_id, reason, community_key, region_key, n, first_at, last_at, last_message, last_payload) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) \
                 ON CONFLICT (device_id, reason) DO UPDATE SET n = care_refusals.n + excluded.n, \
                 last_at = excluded.last_at, last_message = excluded.last_message, \
                 last_payload = excluded.last_payload, \
                 community_key = COALESCE(excluded.community_key, care_refusals.community_key), \
                 region_key = COALESCE(excluded.region_key, care_refusals.region_key)",
            )
            .bind(&id)
            .bind(*reason)
            .bind(place.map(|p| p.0))
            .bind(place.map(|p| p.1))
            .bind(*n)
            .bind(now)
            .bind(messages(problem))
            .bind(sample(payload))
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

impl Store {
    /// Registers a device of `kind` in household `household_id`; returns it with its
    /// credential, which is not stored and cannot be shown again. Audited.
    pub async fn register_device(
        &self,
        actor: &Actor,
        device_id: &str,
        kind: DeviceKind,
        household_id: i64,
    ) -> Result<(Device, String)> {
        let device_id = device_id.trim();
        care::check_device_id(device_id).map_err(StoreError::Invalid)?;
        let plain = new_credential();
        let hash = secret_hash(&plain);
        let now = now_ms();
        let row = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            let place: Option<(i64, i64)> = sqlx::query_as(
                "SELECT community_key, region_key FROM households WHERE id = $1",
            )
            .bind(household_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((community_key, region_key)) = place else {
                return Err(StoreError::Invalid(
                    Problem::new("care_household_not_found", "care.household_not_found")
                        .arg("value", household_id)
                        .field("household_id"),
                ));
            };
            let row: DeviceRow = sqlx::query_as(&format!(
                "INSERT INTO care_devices (device_id, kind, household_id, community_key, region_key, \
                 secret_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 RETURNING {DEVICE_COLUMNS}"
            ))
            .bind(device_id)
            .bind(kind.code())
            .bind(household_id)
            .bind(community_key)
            .bind(region_key)
            .bind(&hash)
            .bind(now)
            .bind(&actor.username)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(
                        Problem::new("care_device_taken", "care.device_taken")
                            .arg("value", device_id)
                            .field("device_id"),
                    )
                } else {
                    StoreError::from(e)
                }
            })?;
            // The audit entry names the device, never its credential or the hash.
            let entry = Entry {
                target: Some(format!("care_device:{device_id}")),
                after: Some(json!({"device_id": device_id, "kind": kind.code(), "household_id": household_id})),
                ..Entry::new("care.device.register")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            row
        });
        Ok((device(row), plain))
    }

    /// The device registered as `device_id`, if any.
    pub async fn care_device(&self, device_id: &str) -> Result<Option<Device>> {
        let row: Option<DeviceRow> = on_read!(self, p => {
            sqlx::query_as(&format!("SELECT {DEVICE_COLUMNS} FROM care_devices WHERE device_id = $1"))
                .bind(device_id.trim())
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(device))
    }

    /// Gives device `device_id` a new credential (the old one stops working) and returns it;
    /// it is not stored and cannot be shown again. Audited.
    pub async fn reset_device_credential(
        &self,
        actor: &Actor,
        device_id: &str,
    ) -> Result<(Device, String)> {
        let device_id = device_id.trim();
        let plain = new_credential();
        let row: Option<DeviceRow> = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let row: Option<DeviceRow> = sqlx::query_as(&format!(
                "UPDATE care_devices SET secret_hash = $1 WHERE device_id = $2 RETURNING {DEVICE_COLUMNS}"
            ))
            .bind(secret_hash(&plain))
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
            if row.is_some() {
                let entry = Entry {
                    target: Some(format!("care_device:{device_id}")),
                    ..Entry::new("care.device.reset_credential")
                };
                write_entry!(&mut *tx, actor, &entry)?;
            }
            tx.commit().await?;
            row
        });
        let row = row.ok_or_else(|| {
            StoreError::Invalid(
                Problem::new("care_unknown_device", "care.unknown_device")
                    .arg("value", device_id)
                    .field("device_id"),
            )
        })?;
        Ok((device(row), plain))
    }

    /// The device `device_id` if `credential` is its own; otherwise why not (unknown device,
    /// wrong credential), which is counted as a refusal of that id.
    pub async fn authenticate_device(
        &self,
        device_id: &str,
        credential: &str,
        payload: &[u8],
    ) -> Result<std::result::Result<DeviceAuth, Problem>> {
        let found: Option<(i64, String, i64, i64, String, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, kind, community_key, region_key, secret_hash, household_id FROM care_devices WHERE device_id = $1",
            )
            .bind(device_id)
            .fetch_optional(p)
            .await?
        });
        let refusal = match &found {
            None => {
                Problem::new("care_unknown_device", "care.unknown_device").arg("value", device_id)
            }
            Some((key, kind, community_key, region_key, hash, household_id))
                if *hash == secret_hash(credential) =>
            {
                return Ok(Ok(device_auth(
                    device_id,
                    *key,
                    *household_id,
                    kind,
                    *community_key,
                    *region_key,
                )?));
            }
            Some(_) => Problem::new("care_wrong_credential", "care.wrong_credential")
                .arg("value", device_id),
        };
        let place = found.map(|f| (f.2, f.3));
        self.count_refusals(device_id, place, &[(&refusal, payload)])
            .await?;
        Ok(Err(refusal))
    }

    /// Reads and stores `payloads` from an authenticated device in one transaction: each a
    /// stored reading, a duplicate, or a refusal counted with its reason.
    pub async fn ingest_readings(
        &self,
        device_id: &str,
        device: DeviceAuth,
        payloads: &[&[u8]],
    ) -> Result<Ingested> {
        let now = now_ms();
        let mut batch = Batch::default();
        let mut refused = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            match care::parse_reading(device.kind, payload, now) {
                Ok(r) => batch.accepted.push((device, r)),
                Err(p) => refused.push((i, p)),
            }
        }
        let place = Some((device.community.key(), device.region_key));
        batch.refused = refused
            .iter()
            .map(|(i, p)| (device_id, place, Some(device.key), p, payloads[*i]))
            .collect();
        let written = self.write_batch(&batch, now).await?;
        Ok(Ingested {
            stored: written.stored.len() as u64,
            duplicates: written.duplicates,
            refused,
            alarms: written.alarms,
        })
    }

    /// Reads and stores what devices sent through the broker, each payload with the device
    /// id its topic names, in one transaction: every payload ends as a stored reading, a
    /// duplicate of one, or a refusal counted with its reason (an id that is not registered
    /// is one); the alarm rules see the readings stored now in the same transaction.
    /// Returns the counts, the readings stored now and the alarms they raised.
    pub async fn ingest_batch(&self, sent: &[(&str, &[u8])]) -> Result<BatchOutcome> {
        let now = now_ms();
        let devices = self.devices_by_id(sent.iter().map(|s| s.0)).await?;
        let mut batch = Batch::default();
        // Each refused payload's place in `sent`, why, and its device if registered.
        let mut problems: Vec<(usize, Problem, Option<DeviceAuth>)> = Vec::new();
        for (i, (id, payload)) in sent.iter().enumerate() {
            match devices.get(*id) {
                None => problems.push((
                    i,
                    Problem::new("care_unknown_device", "care.unknown_device").arg("value", *id),
                    None,
                )),
                Some(d) => match care::parse_reading(d.kind, payload, now) {
                    Ok(r) => batch.accepted.push((*d, r)),
                    Err(p) => problems.push((i, p, Some(*d))),
                },
            }
        }
        batch.refused = problems
            .iter()
            .map(|(i, p, d)| {
                let (id, payload) = sent[*i];
                let place = d.map(|d| (d.community.key(), d.region_key));
                (id, place, d.map(|d| d.key), p, payload)
            })
            .collect();
        let written = self.write_batch(&batch, now).await?;
        Ok(BatchOutcome {
            duplicates: written.duplicates,
            refused: batch.refused.len() as u64,
            stored: written.stored,
            alarms: written.alarms,
        })
    }

    /// The registered devices among `ids`, by id, in one query per thousand ids.
    async fn devices_by_id<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<&'a str, DeviceAuth>> {
        let mut wanted: Vec<&str> = ids.collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(1_000) {
            let rows: Vec<(i64, String, i64, String, i64, i64)> = on_read!(self, p => {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "SELECT id, device_id, household_id, kind, community_key, region_key FROM care_devices WHERE device_id IN (",
                );
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().persistent(false).fetch_all(p).await?
            });
            for (key, id, household_id, kind, community_key, region_key) in rows {
                // The map is keyed by the caller's strings; the chunk is sorted.
                if let Ok(at) = chunk.binary_search(&id.as_str()) {
                    let auth =
                        device_auth(&id, key, household_id, &kind, community_key, region_key)?;
                    found.insert(chunk[at], auth);
                }
            }
        }
        Ok(found)
    }

    /// Writes a parsed batch in one transaction: the readings (each (device, seq) once), the
    /// devices' counters, and the refusals that the counters include.
    async fn write_batch(&self, batch: &Batch<'_>, now: i64) -> Result<Written> {
        let mut stored: Vec<(DeviceAuth, Reading)> = Vec::with_capacity(batch.accepted.len());
        let (counters, alarms) = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            let mut inserted: HashSet<(i64, i64)> = HashSet::with_capacity(batch.accepted.len());
            for chunk in batch.accepted.chunks(READINGS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO care_readings (device_key, seq, ts, kind, value, received_at) ",
                );
                qb.push_values(chunk, |mut b, (d, r)| {
                    b.push_bind(d.key)
                        .push_bind(r.seq)
                        .push_bind(r.ts_ms)
                        .push_bind(r.kind.code())
                        .push_bind(r.value)
                        .push_bind(now);
                });
                qb.push(" ON CONFLICT (device_key, seq) DO NOTHING RETURNING device_key, seq");
                let rows: Vec<(i64, i64)> = qb.build_query_as().persistent(false).fetch_all(&mut *tx).await?;
                inserted.extend(rows);
            }
            // A (device, seq) sent twice in one batch is inserted once: the first is kept.
            for (d, r) in &batch.accepted {
                if inserted.remove(&(d.key, r.seq)) {
                    stored.push((*d, *r));
                }
            }
            let counters = Counters::of(batch, &stored);
            for chunk in counters.rows.chunks(COUNTERS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "UPDATE care_devices SET readings = readings + v.column2, \
                     duplicates = duplicates + v.column3, refused = refused + v.column4, \
                     last_seen_at = CASE WHEN v.column5 IS NOT NULL AND (last_seen_at IS NULL OR last_seen_at < v.column5) \
                     THEN v.column5 ELSE last_seen_at END, \
                     battery = CASE WHEN v.column6 IS NOT NULL AND (last_seen_at IS NULL OR v.column7 >= last_seen_at) \
                     THEN v.column6 ELSE battery END FROM (",
                );
                // A battery level older than what the device sent before (a late delivery)
                // does not replace the newer one; SET reads the row as it was.
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(c.key)
                        .push_bind(c.stored)
                        .push_bind(c.duplicates)
                        .push_bind(c.refused)
                        .push_bind(c.last_seen)
                        .push_bind(c.battery.map(|b| b.0))
                        .push_bind(c.battery.map(|b| b.1));
                });
                qb.push(") AS v WHERE care_devices.id = v.column1");
                qb.build().persistent(false).execute(&mut *tx).await?;
            }
            // The refusals go in the same transaction as the counters that include them.
            for ((device_id, place), grouped) in &counters.refusals {
                count_refusals_on!(tx, device_id, *place, grouped);
            }
            // And the rules see exactly the readings stored now, in the same transaction.
            let groups = care_alarms::by_household(&stored);
            let loaded = care_alarms::load_households_on!(tx, groups.keys().copied().collect());
            let watched = care_alarms::observe(groups, loaded);
            let alarms = care_alarms::write_watched_on!(tx, &watched, now);
            tx.commit().await?;
            (counters, alarms)
        });
        Ok(Written {
            duplicates: counters.duplicates,
            stored,
            alarms,
        })
    }

    /// Counts refusals of `device_id` (registered in the community and place `place`, or
    /// not at all), one row per reason, the latest of each kept as the sample.
    pub async fn count_refusals(
        &self,
        device_id: &str,
        place: Option<(i64, i64)>,
        refusals: &[(&Problem, &[u8])],
    ) -> Result<()> {
        if refusals.is_empty() {
            return Ok(());
        }
        let grouped = by_reason(refusals.iter().copied());
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            count_refusals_on!(tx, device_id, place, &grouped);
            tx.commit().await?;
        });
        Ok(())
    }

    /// A page of the devices registered in `range` (a region's keys), in place order (the
    /// index's), with the total.
    pub async fn care_devices(&self, range: KeyRange, page: Page) -> Result<Listing<Device>> {
        let (rows, total): (Vec<DeviceRow>, i64) = on_read!(self, p => {
            let rows = sqlx::query_as(&format!(
                "SELECT {DEVICE_COLUMNS} FROM care_devices WHERE region_key >= $1 AND region_key < $2 \
                 ORDER BY region_key, id LIMIT $3 OFFSET $4"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(
                "SELECT COUNT(*) FROM care_devices WHERE region_key >= $1 AND region_key < $2",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_one(p)
            .await?;
            (rows, total)
        });
        Ok(Listing {
            items: rows.into_iter().map(device).collect(),
            total,
        })
    }

    /// A page of the refusals counted for devices in `range` (a region's keys), or for ids
    /// that are not registered (`None`: what unknown senders tried), most recent first, with
    /// the total.
    pub async fn care_refusals(
        &self,
        range: Option<KeyRange>,
        page: Page,
    ) -> Result<Listing<RefusalCount>> {
        type Row = (String, String, Option<i64>, i64, i64, i64, String, String);
        const COLUMNS: &str =
            "device_id, reason, community_key, n, first_at, last_at, last_message, last_payload";
        // Unregistered ids have no place: the bounds are still bound, only compared with each
        // other, so that both queries take the same parameters.
        let (place, range) = match range {
            Some(r) => ("region_key >= $1 AND region_key < $2", r),
            None => (
                "region_key IS NULL AND $1 <= $2",
                KeyRange { start: 0, end: 0 },
            ),
        };
        let (rows, total): (Vec<Row>, i64) = on_read!(self, p => {
            let rows = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM care_refusals WHERE {place} ORDER BY last_at DESC LIMIT $3 OFFSET $4"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM care_refusals WHERE {place}"))
                .bind(range.start)
                .bind(range.end)
                .fetch_one(p)
                .await?;
            (rows, total)
        });
        let items = rows
            .into_iter()
            .map(
                |(
                    device_id,
                    reason,
                    community_key,
                    count,
                    first_at,
                    last_at,
                    message,
                    last_payload,
                )| RefusalCount {
                    device_id,
                    reason,
                    community: community_key.map(community_name),
                    count,
                    first_at,
                    last_at,
                    last_message: serde_json::from_str(&message).unwrap_or(serde_json::Value::Null),
                    last_payload,
                },
            )
            .collect();
        Ok(Listing { items, total })
    }
}
