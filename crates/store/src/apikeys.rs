//! Open311 API keys, and what the Open311 GeoReport v2 endpoints need of the database beyond
//! the events module: the public request list with the spec's filters, the latest note of
//! many events at once, and the attributes a request came with.
//!
//! A key is 32 random bytes in hex, shown once when it is made; only its SHA-256 is stored,
//! so a copy of the database does not hand out working keys. Keys are made from the command
//! line (`linli apikey add --name NAME`), audited like every other write.

use std::collections::HashMap;

use linli_core::events::State;
use linli_core::region::KeyRange;
use linli_core::Problem;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::audit::{write_entry, Actor, Entry};
use crate::events::{Event, EventRow, EVENT_COLUMNS};
use crate::registry::Page;
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

/// The longest name a key may have.
pub const MAX_NAME: usize = 60;

/// An API key as listed (never the key itself: only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub disabled: bool,
}

/// The stored form of a key.
fn key_hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.trim().as_bytes()))
}

fn invalid(p: Problem) -> StoreError {
    StoreError::Invalid(p.field("name"))
}

/// Which events the Open311 request list returns. Empty lists and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    /// Only these events. The spec says this overrides the other search arguments, so
    /// only the jurisdiction (`range`) still applies when it is given.
    pub ids: Vec<i64>,
    /// Category codes (the spec's service_code).
    pub categories: Vec<String>,
    pub states: Vec<State>,
    /// Made at or after this instant (ms).
    pub from: Option<i64>,
    /// Made at or before this instant (ms).
    pub to: Option<i64>,
    /// Lying in this part of the region tree (a jurisdiction).
    pub range: Option<KeyRange>,
}

/// Appends the query's conditions to a query that already has a WHERE clause.
macro_rules! push_request_query {
    ($q:expr, $rq:expr) => {{
        let rq: &RequestQuery = $rq;
        if !rq.ids.is_empty() {
            $q.push(" AND id IN (");
            let mut sep = $q.separated(", ");
            for id in &rq.ids {
                sep.push_bind(*id);
            }
            $q.push(")");
        } else {
            if !rq.categories.is_empty() {
                $q.push(" AND category_code IN (");
                let mut sep = $q.separated(", ");
                for c in &rq.categories {
                    sep.push_bind(c.clone());
                }
                $q.push(")");
            }
            if !rq.states.is_empty() {
                $q.push(" AND state IN (");
                let mut sep = $q.separated(", ");
                for s in &rq.states {
                    sep.push_bind(s.as_str());
                }
                $q.push(")");
            }
            if let Some(from) = rq.from {
                $q.push(" AND created_at >= ").push_bind(from);
            }
            if let Some(to) = rq.to {
                $q.push(" AND created_at <= ").push_bind(to);
            }
        }
        // A jurisdiction is where the list looks, not a search argument: it always applies.
        if let Some(r) = rq.range {
            $q.push(" AND region_key >= ").push_bind(r.start);
            $q.push(" AND region_key < ").push_bind(r.end);
        }
    }};
}

impl Store {
    /// Makes an API key named `name` for an Open311 client; returns its id and the key,
    /// which is not stored and cannot be shown again. Names are unique among enabled keys,
    /// so that the list and the flow log ("Open311: NAME") say which client acted.
    pub async fn create_api_key(&self, actor: &Actor, name: &str) -> Result<(i64, String)> {
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(invalid(Problem::new("required", "registry.required")));
        }
        if name.chars().count() > MAX_NAME {
            return Err(invalid(
                Problem::new("too_long", "registry.too_long").arg("max", MAX_NAME),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid(Problem::new(
                "control_characters",
                "registry.control_characters",
            )));
        }
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let plain = hex::encode(bytes);
        let hash = key_hash(&plain);
        let now = now_ms();
        let id = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM api_keys WHERE name = $1 AND disabled = FALSE",
            )
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(
                    Problem::new("apikey_name_taken", "open311.apikey.name_taken")
                        .arg("name", &name)
                        .field("name"),
                ));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_keys (name, key_hash, created_at, disabled) VALUES ($1, $2, $3, FALSE) RETURNING id",
            )
            .bind(&name)
            .bind(&hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            // The audit entry names the key, never the key or its hash.
            let entry = Entry {
                target: Some(format!("apikey:{id}")),
                after: Some(json!({"id": id, "name": name})),
                ..Entry::new("apikey.create")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            id
        });
        Ok((id, plain))
    }

    /// The enabled key whose value is `plain`, as (id, name).
    pub async fn api_key(&self, plain: &str) -> Result<Option<(i64, String)>> {
        let plain = plain.trim();
        if plain.is_empty() {
            return Ok(None);
        }
        let hash = key_hash(plain);
        Ok(on_read!(self, p => {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT id, name FROM api_keys WHERE key_hash = $1 AND disabled = FALSE",
            )
            .bind(&hash)
            .fetch_optional(p)
            .await?
        }))
    }

    /// Every key, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(on_read!(self, p => {
            sqlx::query_as::<_, ApiKey>(
                "SELECT id, name, created_at, disabled FROM api_keys ORDER BY id",
            )
            .fetch_all(p)
            .await?
        }))
    }

    /// The Open311 request list: events matching `q`, newest first, with the number matching.
    pub async fn open311_requests(
        &self,
        q: &RequestQuery,
        page: Page,
    ) -> Result<(Vec<Event>, i64)> {
        let (rows, total): (Vec<EventRow>, i64) = on_read!(self, p => {
            let mut s = sqlx::QueryBuilder::<DB>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
            push_request_query!(s, q);
            s.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(page.limit);
            s.push(" OFFSET ").push_bind(page.offset);
            let rows = s.build_query_as().fetch_all(p).await?;
            let mut c = sqlx::QueryBuilder::<DB>::new("SELECT COUNT(*) FROM events WHERE 1 = 1");
            push_request_query!(c, q);
            let total: i64 = c.build_query_scalar().fetch_one(p).await?;
            (rows, total)
        });
        Ok((
            rows.into_iter()
                .map(Event::try_from)
                .collect::<Result<_>>()?,
            total,
        ))
    }

    /// The latest note in the flow log of each of `ids` that has one: one query for a whole
    /// page of requests rather than one per request.
    pub async fn latest_notes(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String)> = on_read!(self, p => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT event_id, note FROM event_flow WHERE note IS NOT NULL AND event_id IN (",
            );
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            q.push(") ORDER BY event_id, id");
            q.build_query_as().fetch_all(p).await?
        });
        // Ordered by flow id within each event, so the last one written wins.
        Ok(rows.into_iter().collect())
    }

    /// The attributes an event came with, if any.
    pub async fn event_attributes(&self, id: i64) -> Result<Option<Value>> {
        let text: Option<Option<String>> = on_read!(self, p => {
            sqlx::query_scalar("SELECT attributes FROM events WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        text.flatten()
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("event {id}: attributes: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;

    #[tokio::test]
    async fn keys_are_shown_once_stored_hashed_found_and_audited() {
        for db in TestDb::both().await {
            let store = db.open().await;
            let actor = Actor::system("test");
            let (id, plain) = store
                .create_api_key(&actor, " 市民通 App ")
                .await
                .expect("key");
            assert_eq!(plain.len(), 64, "32 random bytes in hex");
            assert!(plain.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(
                store.api_key(&plain).await.expect("lookup"),
                Some((id, "市民通 App".to_string()))
            );
            assert_eq!(store.api_key("").await.expect("lookup"), None);
            assert_eq!(store.api_key(&"0".repeat(64)).await.expect("lookup"), None);

            // Only the hash is in the database, and the audit log names the key alone.
            let stored: String = on_read!(store, p => {
                sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE id = $1")
                    .bind(id)
                    .fetch_one(p)
                    .await
                    .expect("row")
            });
            assert_ne!(stored, plain);
            assert_eq!(stored, key_hash(&plain));
            let log = store
                .audit_log(linli_core::Scope::Nation, None, 10)
                .await
                .expect("audit");
            let entry = log
                .iter()
                .find(|e| e.action == "apikey.create")
                .expect("audited");
            let after = entry.after_json.clone().unwrap_or_default();
            assert!(after.contains("市民通 App"));
            assert!(!after.contains(&plain) && !after.contains(&stored));

            // Bad names are refused with the field named; a taken name conflicts.
            for (name, code) in [
                ("", "required"),
                ("x\u{7}", "control_characters"),
                (&"长".repeat(MAX_NAME + 1)[..], "too_long"),
            ] {
                match store.create_api_key(&actor, name).await {
                    Err(StoreError::Invalid(p)) => {
                        assert_eq!((p.code, p.field), (code, Some("name")), "{name:?}")
                    }
                    other => panic!("{name:?}: {other:?}"),
                }
            }
            match store.create_api_key(&actor, "市民通 App").await {
                Err(StoreError::Conflict(p)) => assert_eq!(p.code, "apikey_name_taken"),
                other => panic!("a taken name: {other:?}"),
            }
            // A disabled key no longer opens anything.
            on_write!(store, p => {
                sqlx::query("UPDATE api_keys SET disabled = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(p)
                    .await
                    .expect("disable");
            });
            assert_eq!(store.api_key(&plain).await.expect("lookup"), None);
            let keys = store.api_keys().await.expect("list");
            assert_eq!(keys.len(), 1);
            assert!(keys[0].disabled);
            store.close().await;
        }
    }
}
