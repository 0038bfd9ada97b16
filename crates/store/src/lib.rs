//! linli's persistence. One [`Store`] facade over SQLite (the default: a file, WAL, foreign
//! keys on) or PostgreSQL (chosen by a `postgres://` URL), with migrations built into the
//! binary and applied at start, one set per backend.
//!
//! Queries are written once and run on either backend through the [`on_read!`] and
//! [`on_write!`] macros, which expand the same body for each native pool, so both are type
//! checked and neither goes through a lowest-common-denominator driver. SQL that must differ
//! (bulk loading) is written per backend.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod accounts;
pub mod apikeys;
pub mod audit;
mod batch;
pub mod care;
pub mod care_alarms;
pub mod care_console;
pub mod care_dispatch;
pub mod care_figures;
pub mod care_household_rules;
pub mod care_visits;
mod copy_text;
pub mod demo;
pub mod demo_care;
pub mod demo_events;
pub mod demo_registry;
pub mod divisions;
pub mod events;
pub mod fresh;
pub mod grids;
pub mod healthcheck;
pub mod maps;
pub mod password;
pub mod regions;
pub mod registry;
pub mod testing;

pub use accounts::{NewUser, Session, SessionKind, User};
pub use audit::{Actor, AuditRecord};
pub use grids::{Grid, GridInput, ImportReport};
pub use linli_pii::Keyring;
pub use maps::{LayerKind, MapData};
pub use regions::{Region, RegionRow};

use linli_core::Problem;

/// The backend behind a [`Store`].
#[derive(Clone, Debug)]
pub(crate) enum Db {
    /// SQLite allows one writer at a time: writes go through a one-connection pool so they
    /// queue in the application instead of failing with SQLITE_BUSY, reads run in parallel.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs `$body` once per backend with `$p` bound to that backend's pool (for SQLite, the
/// `$pool` one: `read` or `write`) and the type alias `DB` naming its sqlx database type, so
/// one query text is type-checked against both.
macro_rules! on_pool {
    ($store:expr, $pool:ident, $p:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite { $pool: $p, .. } => {
                #[allow(dead_code)]
                type DB = sqlx::Sqlite;
                $body
            }
            $crate::Db::Postgres($p) => {
                #[allow(dead_code)]
                type DB = sqlx::Postgres;
                $body
            }
        }
    };
}

/// [`on_pool!`] with a pool for reading.
macro_rules! on_read {
    ($store:expr, $p:ident => $body:expr) => {
        $crate::on_pool!($store, read, $p => $body)
    };
}

/// [`on_pool!`] with the pool that writes.
macro_rules! on_write {
    ($store:expr, $p:ident => $body:expr) => {
        $crate::on_pool!($store, write, $p => $body)
    };
}
pub(crate) use {on_pool, on_read, on_write};

/// How a read-then-write transaction begins on each backend. SQLite's default (deferred)
/// transaction fails at once with SQLITE_BUSY when it upgrades from reading to writing while
/// another process has written since; `BEGIN IMMEDIATE` takes the write lock first and so
/// waits its turn under the busy timeout. PostgreSQL locks rows, not the database.
pub(crate) trait BeginWrite: sqlx::Database {
    const BEGIN: &'static str;
    /// `$1` new event ids, for a batch written in one statement (a multi-row INSERT's
    /// RETURNING order is not promised, so ids are taken first). Run inside the write
    /// transaction.
    const NEW_EVENT_IDS: &'static str;
    /// What a SELECT ends with to lock its rows for this transaction: nothing on SQLite,
    /// whose one writer holds the database.
    const LOCK_ROWS: &'static str;
    /// The same, passing over rows another transaction holds (work queues).
    const LOCK_ROWS_SKIP_LOCKED: &'static str;
}

impl BeginWrite for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    // The write lock is held from BEGIN IMMEDIATE, so no other writer can take these ids
    // before the transaction ends; AUTOINCREMENT never reuses one, hence sqlite_sequence.
    const NEW_EVENT_IDS: &'static str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
        SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0), \
                   COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)) + i FROM n";
    const LOCK_ROWS: &'static str = "";
    const LOCK_ROWS_SKIP_LOCKED: &'static str = "";
}

impl BeginWrite for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
    const NEW_EVENT_IDS: &'static str =
        "SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, $1)";
    const LOCK_ROWS: &'static str = " FOR UPDATE";
    const LOCK_ROWS_SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    /// The keys for personal data, once [`Store::use_keys`] has checked them.
    pub(crate) keys: Option<std::sync::Arc<linli_pii::Keyring>>,
    /// Parsed boundaries for locating events, shared by the store's clones.
    pub(crate) shapes: std::sync::Arc<events::ShapeCache>,
    /// The events' catalog kept in memory, shared by the store's clones.
    pub(crate) catalog: std::sync::Arc<events::CatalogCache>,
    /// Reports waiting to be filed together (see `events::create`).
    pub(crate) reports: events::ReportQueue,
    /// Session lookups waiting to be answered together.
    pub(crate) sessions: accounts::SessionQueue,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Something the user can fix; nothing was written.
    #[error("{0}")]
    Invalid(Problem),
    /// The thing exists already (a code, a username).
    #[error("{0}")]
    Conflict(Problem),
    #[error("not found")]
    NotFound,
    /// The event state machine refused an action; nothing was written.
    #[error("refused: {0:?}")]
    Refused(linli_core::events::flow::Refusal),
    /// An import with bad rows: every one is listed, nothing was written.
    #[error("import rejected: {} bad rows", .0.len())]
    Rejected(Vec<linli_core::grid_import::RowError>),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Config(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    ///
    /// `sqlite://FILE` (or a plain file path) opens SQLite; `postgres://…` opens PostgreSQL.
    pub async fn connect(url: &str) -> Result<Store> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            let store = Store {
                db: Db::Postgres(pool),
                keys: None,
                shapes: Default::default(),
                catalog: Default::default(),
                reports: Default::default(),
                sessions: Default::default(),
            };
            store.ensure_typology().await?;
            store.ensure_event_catalog().await?;
            return Ok(store);
        }
        let sqlite_url = if url.starts_with("sqlite:") {
            url.to_string()
        } else if url.contains("://") {
            return Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://FILE (the default) or postgres://USER@HOST/DB"
            )));
        } else {
            format!("sqlite://{url}")
        };
        let options = sqlite_options(&sqlite_url)?.create_if_missing(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        let store = Store {
            db: Db::Sqlite { read, write },
            keys: None,
            shapes: Default::default(),
            catalog: Default::default(),
            reports: Default::default(),
            sessions: Default::default(),
        };
        store.ensure_typology().await?;
        store.ensure_event_catalog().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Answers whether the database is reachable, for /healthz.
    pub async fn ping(&self) -> Result<()> {
        on_read!(self, p => {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    /// Connections open and idle, for /metrics.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.db {
            Db::Sqlite { read, write } => (
                read.size() + write.size(),
                read.num_idle() + write.num_idle(),
            ),
            Db::Postgres(p) => (p.size(), p.num_idle()),
        }
    }

    /// A clone for a queue's own task: it shares everything but the queues, so the task
    /// does not keep its queue open after every store handle is gone.
    pub(crate) fn without_queues(&self) -> Store {
        Store {
            reports: Default::default(),
            sessions: Default::default(),
            ..self.clone()
        }
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    pub(crate) async fn meta(&self, name: &str) -> Result<Option<String>> {
        Ok(on_read!(self, p => {
            sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        }))
    }
}

/// The SQLite page cache of each connection, in KiB.
pub(crate) const SQLITE_CACHE_KIB: i64 = 64 * 1024;

/// The connection settings linli uses for SQLite (WAL, synchronous NORMAL, foreign keys on,
/// a 10 s busy timeout, a 64 MiB page cache); public so that the benchmarks open their
/// peers' connections exactly alike.
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}")))
}

/// Milliseconds since 1970 (UTC): how linli stores instants, the same on both backends.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
