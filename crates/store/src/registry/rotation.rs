//! Key rotation: every identifier not sealed under the keyring's current key is opened with
//! its old key and sealed again under the current one, a batch per transaction, so a
//! rotation can be interrupted and resumed. The lookup key does not change (the keyed
//! hashes stay valid), so nothing else is touched.

use serde_json::json;

use crate::audit::{Actor, Entry};
use crate::divisions::Progress;
use crate::{on_read, on_write, Result, Store, StoreError};

const BATCH: i64 = 2_000;

impl Store {
    /// Re-encrypts every resident's identifiers under the current key; returns how many
    /// rows changed.
    pub async fn rotate_keys(&self, actor: &Actor, progress: &dyn Progress) -> Result<u64> {
        let keys = self.keys()?;
        let total: i64 = on_read!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM residents").fetch_one(p).await?
        });
        progress.start(u64::try_from(total).unwrap_or(0));
        let mut after_id = 0i64;
        let mut changed = 0u64;
        loop {
            let rows: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = on_read!(self, p => {
                sqlx::query_as(
                    "SELECT id, id_cipher, phone_cipher FROM residents WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after_id)
                .bind(BATCH)
                .fetch_all(p)
                .await?
            });
            let Some(last) = rows.last() else { break };
            after_id = last.0;
            let mut updates = Vec::new();
            for (id, id_cipher, phone_cipher) in &rows {
                let id_stale = keys.needs_rotation(id_cipher);
                let phone_stale = phone_cipher
                    .as_deref()
                    .is_some_and(|b| keys.needs_rotation(b));
                if !id_stale && !phone_stale {
                    continue;
                }
                let fail =
                    |e: linli_pii::PiiError| StoreError::Corrupt(format!("resident {id}: {e}"));
                let new_id = if id_stale {
                    keys.reencrypt_for("id_number", id_cipher).map_err(fail)?
                } else {
                    id_cipher.clone()
                };
                let new_phone = match phone_cipher {
                    Some(b) if phone_stale => Some(keys.reencrypt_for("phone", b).map_err(fail)?),
                    other => other.clone(),
                };
                updates.push((*id, new_id, new_phone));
            }
            if !updates.is_empty() {
                on_write!(self, p => {
                    let mut tx = p.begin().await?;
                    for (id, c, ph) in &updates {
                        sqlx::query("UPDATE residents SET id_cipher = $1, phone_cipher = $2 WHERE id = $3")
                            .bind(c.as_slice())
                            .bind(ph.as_deref())
                            .bind(*id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                });
                changed += updates.len() as u64;
            }
            progress.advance(rows.len() as u64);
        }
        self.audit(
            actor,
            Entry {
                after: Some(json!({"reencrypted": changed})),
                ..Entry::new("pii.rotate")
            },
        )
        .await?;
        Ok(changed)
    }
}
