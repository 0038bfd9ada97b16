//! Open311 API keys.
//!
//! A key is 32 random bytes in hex, shown once when it is made; only its SHA-256 is stored,
//! so a copy of the database does not hand out working keys. Keys are made from the command
//! line (`linli apikey add --name NAME`), audited like every other write.

use linli_core::Problem;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{write_entry, Actor, Entry};
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
