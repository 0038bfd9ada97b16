//! Accounts and sessions. Passwords are Argon2id hashes (see [`crate::password`]); session
//! tokens are stored only as SHA-256 hashes, so the database alone cannot sign anyone in.

use linli_core::{Problem, Role, Scope};
use serde::Serialize;
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::batch::Batcher;
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[serde(serialize_with = "ser_role")]
    pub role: Role,
    #[serde(serialize_with = "ser_scope")]
    pub scope: Scope,
    pub disabled: bool,
    /// The department a clerk works for (see [`Store::set_user_department`]).
    pub department: Option<i64>,
}

fn ser_role<S: serde::Serializer>(r: &Role, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

fn ser_scope<S: serde::Serializer>(r: &Scope, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(r)
}

pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser session: an HttpOnly cookie, with a CSRF token for forms.
    Cookie,
    /// An API bearer token.
    Bearer,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            SessionKind::Cookie => "cookie",
            SessionKind::Bearer => "bearer",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub kind: SessionKind,
    pub csrf: String,
    pub expires_at: i64,
}

type RawUser = (i64, String, String, String, String, bool, Option<i64>);

/// The most session lookups one query answers.
const MAX_SESSION_BATCH: usize = 256;

/// Session lookups waiting to be answered together, started on first use.
pub(crate) type SessionQueue =
    std::sync::Arc<std::sync::OnceLock<Batcher<String, Result<Option<Session>>>>>;

fn decode_user(row: RawUser) -> Result<User> {
    let (id, username, display_name, role, scope, disabled, department) = row;
    let role = Role::parse(&role)
        .ok_or_else(|| StoreError::Corrupt(format!("user {username}: role {role:?}")))?;
    let scope = Scope::parse(&scope)
        .map_err(|e| StoreError::Corrupt(format!("user {username}: scope {scope:?}: {e}")))?;
    Ok(User {
        id,
        username,
        display_name,
        role,
        scope,
        disabled,
        department,
    })
}

/// Checks a new account's fields; every problem names the field.
pub fn validate_new_user(new: &NewUser) -> Result<(), Problem> {
    let u = new.username.trim();
    let ok_chars = u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if u.is_empty() || u.len() > 64 || !ok_chars {
        return Err(Problem::new("bad_username", "error.bad_username").field("username"));
    }
    if new.password.chars().count() < crate::password::MIN_LENGTH {
        return Err(Problem::new("weak_password", "error.weak_password")
            .arg("min", crate::password::MIN_LENGTH)
            .field("password"));
    }
    Ok(())
}

impl Store {
    /// Creates an account. The username must be free; the region, if any, must exist.
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        validate_new_user(&new).map_err(StoreError::Invalid)?;
        if let Scope::Region(code) = new.scope {
            if self.region(code).await?.is_none() {
                return Err(StoreError::Invalid(
                    Problem::new("unknown_region", "error.unknown_parent")
                        .arg("code", code)
                        .field("region"),
                ));
            }
        }
        let hash = crate::password::hash(&new.password).map_err(StoreError::Config)?;
        let username = new.username.trim().to_string();
        let region_key = new.scope.root().map(|c| c.key());
        let after = json!({"username": username, "display_name": new.display_name, "role": new.role.as_str(), "scope": new.scope.to_string()});
        let id = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let id = sqlx::query_scalar::<_, i64>(
                "INSERT INTO users (username, display_name, password_hash, role, scope, disabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&username)
            .bind(&new.display_name)
            .bind(&hash)
            .bind(new.role.as_str())
            .bind(new.scope.to_string())
            .bind(false)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(
                        Problem::new("username_taken", "error.username_taken").arg("username", &username).field("username"),
                    )
                } else {
                    e.into()
                }
            })?;
            let entry = Entry { target: Some(format!("user:{username}")), region_key, after: Some(after), ..Entry::new("user.create") };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            id
        });
        Ok(User {
            id,
            username,
            display_name: new.display_name,
            role: new.role,
            scope: new.scope,
            disabled: false,
            department: None,
        })
    }

    /// Sets an existing account's password (and re-enables it): the demo uses this so that
    /// `linli demo --password P` works on a database that already has the demo accounts.
    pub async fn set_password(&self, actor: &Actor, username: &str, password: &str) -> Result<()> {
        if password.chars().count() < crate::password::MIN_LENGTH {
            return Err(StoreError::Invalid(
                Problem::new("weak_password", "error.weak_password")
                    .arg("min", crate::password::MIN_LENGTH)
                    .field("password"),
            ));
        }
        let hash = crate::password::hash(password).map_err(StoreError::Config)?;
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE users SET password_hash = $1, disabled = $2 WHERE username = $3")
                .bind(&hash)
                .bind(false)
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let entry = Entry { target: Some(format!("user:{username}")), ..Entry::new("user.set_password") };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        let row = on_read!(self, p => {
            sqlx::query_as::<_, (i64, String, String, String, String, bool, Option<i64>, String)>(
                "SELECT id, username, display_name, role, scope, disabled, department_id, password_hash \
                 FROM users WHERE username = $1",
            )
            .bind(username.trim())
            .fetch_optional(p)
            .await?
        });
        row.map(|(id, u, d, r, s, dis, dep, hash)| {
            Ok((decode_user((id, u, d, r, s, dis, dep))?, hash))
        })
        .transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, RawUser>(
                "SELECT id, username, display_name, role, scope, disabled, department_id FROM users ORDER BY username",
            )
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(decode_user).collect()
    }

    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        kind: SessionKind,
        csrf: &str,
        ttl_ms: i64,
    ) -> Result<()> {
        let now = now_ms();
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, kind, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(kind.as_str())
            .bind(csrf)
            .bind(now)
            .bind(now + ttl_ms)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The live session with this token hash, with its account; `None` if unknown, expired
    /// or the account is disabled. One indexed lookup, shared with the lookups asked at the
    /// same moment (every API request asks one; under load one query serves many).
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let queue = self.sessions.get_or_init(|| {
            let reader = self.without_queues();
            Batcher::spawn(MAX_SESSION_BATCH, 2, move |hashes: Vec<String>| {
                let reader = reader.clone();
                async move {
                    match reader.sessions_by_hash(&hashes).await {
                        Ok(found) => found.into_iter().map(Ok).collect(),
                        // Each asks again alone so that each gets its own error.
                        Err(_) => {
                            let mut out = Vec::with_capacity(hashes.len());
                            for h in &hashes {
                                out.push(
                                    reader
                                        .sessions_by_hash(std::slice::from_ref(h))
                                        .await
                                        .map(|mut one| one.pop().flatten()),
                                );
                            }
                            out
                        }
                    }
                }
            })
        });
        queue.call(token_hash.to_string()).await.unwrap_or_else(|| {
            Err(StoreError::Config(
                "the session queue has stopped: linli is shutting down".into(),
            ))
        })
    }

    /// The live session of each token hash, in order.
    async fn sessions_by_hash(&self, hashes: &[String]) -> Result<Vec<Option<Session>>> {
        type Row = (
            String,
            i64,
            String,
            String,
            String,
            String,
            bool,
            Option<i64>,
            String,
            String,
            i64,
        );
        let rows: Vec<Row> = on_read!(self, p => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT s.token_hash, u.id, u.username, u.display_name, u.role, u.scope, u.disabled, u.department_id, \
                        s.kind, s.csrf, s.expires_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.expires_at > ",
            );
            q.push_bind(now_ms()).push(" AND s.token_hash IN (");
            let mut sep = q.separated(", ");
            for h in hashes {
                sep.push_bind(h.clone());
            }
            q.push(")");
            q.build_query_as().fetch_all(p).await?
        });
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for (hash, id, u, d, r, s, dis, dep, kind, csrf, expires_at) in rows {
            let user = decode_user((id, u, d, r, s, dis, dep))?;
            if user.disabled {
                continue;
            }
            let kind = if kind == "bearer" {
                SessionKind::Bearer
            } else {
                SessionKind::Cookie
            };
            found.insert(
                hash,
                Session {
                    user,
                    kind,
                    csrf,
                    expires_at,
                },
            );
        }
        Ok(hashes.iter().map(|h| found.get(h).cloned()).collect())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        on_write!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(p).await?;
        });
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_sessions(&self) -> Result<u64> {
        Ok(on_write!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now_ms()).execute(p).await?.rows_affected()
        }))
    }
}
