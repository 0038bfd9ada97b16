//! The audit log: who did what, when, to what, with the row before and after. Writes are
//! audited inside the same transaction as the change, so neither exists without the other.

use linli_core::Scope;
use serde::Serialize;
use serde_json::Value;

use crate::{on_read, on_write, Result, Store};

/// Who is acting: an account, or the system (the command line, the demo loader).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub username: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn system(what: &str) -> Actor {
        Actor {
            user_id: None,
            username: what.to_string(),
            ip: None,
        }
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub action: &'static str,
    pub target: Option<String>,
    pub region_key: Option<i64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Entry {
    pub fn new(action: &'static str) -> Entry {
        Entry {
            action,
            target: None,
            region_key: None,
            before: None,
            after: None,
        }
    }
}

/// One entry as read back.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub ip: Option<String>,
}

/// Writes `entry` on `executor` (a transaction, so that it commits with the change).
macro_rules! write_entry {
    ($exec:expr, $actor:expr, $entry:expr) => {{
        let actor: &$crate::audit::Actor = $actor;
        let entry: &$crate::audit::Entry = $entry;
        sqlx::query(
            "INSERT INTO audit_log (at, user_id, username, action, target, region_key, \
             before_json, after_json, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($crate::now_ms())
        .bind(actor.user_id)
        .bind(&actor.username)
        .bind(entry.action)
        .bind(entry.target.as_deref())
        .bind(entry.region_key)
        .bind(entry.before.as_ref().map(|v| v.to_string()))
        .bind(entry.after.as_ref().map(|v| v.to_string()))
        .bind(actor.ip.as_deref())
        .execute($exec)
        .await
    }};
}
pub(crate) use write_entry;

impl Store {
    /// Records an event that changes nothing else (a sign-in, a failed sign-in).
    pub async fn audit(&self, actor: &Actor, entry: Entry) -> Result<()> {
        on_write!(self, p => {
            write_entry!(p, actor, &entry)?;
        });
        Ok(())
    }

    /// Entries about regions in `scope`, newest first, `limit` at most, older than `before_id`
    /// when paging. Entries about no region (account changes by the command line) are shown
    /// to whole-country accounts only.
    pub async fn audit_log(
        &self,
        scope: Scope,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let range = scope.range();
        let nation = scope == Scope::Nation;
        Ok(on_read!(self, p => {
            sqlx::query_as::<_, AuditRecord>(
                "SELECT id, at, user_id, username, action, target, before_json, after_json, ip \
                 FROM audit_log \
                 WHERE ((region_key >= $1 AND region_key < $2) OR ($3 AND region_key IS NULL)) \
                   AND id < $4 \
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(nation)
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(p)
            .await?
        }))
    }
}
