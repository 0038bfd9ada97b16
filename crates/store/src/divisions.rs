//! Loading the national division tables into the region tree.
//!
//! The tables are decoded on a blocking thread and streamed in chunks to the loader, so
//! decoding overlaps writing and the whole country is never held in memory twice.
//!
//! A first load into an empty tree takes the fast path: the secondary index is dropped, rows
//! go in as plain multi-row INSERTs (SQLite) or COPY straight into the table (PostgreSQL), the
//! index is rebuilt once, and the planner's statistics are refreshed. A reload merges: names
//! are updated and rows are never duplicated. Either way the load is one transaction, all or
//! nothing, and reports progress.

use linli_core::RegionCode;
use linli_divisions::{read_table, COUNTS};
use tokio::sync::mpsc;

use crate::{now_ms, on_write, Result, Store, StoreError};

/// Rows per chunk handed from the decoder to the loader.
const CHUNK: usize = 4_000;

/// Where a load stands, for progress bars.
pub trait Progress: Sync {
    fn start(&self, _total: u64) {}
    fn advance(&self, _rows: u64) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

/// One division row ready for the database.
struct Row {
    level: i32,
    key: i64,
    name: String,
}

/// Whether the load can skip merging because the tree is empty.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fresh,
    Merge,
}

/// Decodes the built-in tables (the rows of codes starting with `prefix`, and their
/// ancestors) into chunks, on the calling (blocking) thread.
fn decode(prefix: &str, tx: mpsc::Sender<Result<Vec<Row>>>) {
    for table in 0..COUNTS.len() {
        let rows = match read_table(table, prefix) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = tx.blocking_send(Err(StoreError::Corrupt(e.to_string())));
                return;
            }
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        for d in rows {
            let code = match RegionCode::parse(&d.code) {
                Ok(c) if c.level().is_official() => c,
                other => {
                    let why = other
                        .map(|c| format!("level {:?}", c.level()))
                        .unwrap_or_else(|e| e.to_string());
                    let _ = tx.blocking_send(Err(StoreError::Corrupt(format!(
                        "built-in division {}: {why}",
                        d.code
                    ))));
                    return;
                }
            };
            chunk.push(Row {
                level: i32::from(code.level().number()),
                key: code.key(),
                name: d.name,
            });
            // A full chunk goes to the loader; if the loader stopped (an error), stop too.
            if chunk.len() == CHUNK
                && tx
                    .blocking_send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))))
                    .is_err()
            {
                return;
            }
        }
        if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
            return;
        }
    }
}

impl Store {
    /// Whether the national tables have been loaded.
    pub async fn divisions_loaded(&self) -> Result<bool> {
        Ok(self.meta("divisions_loaded_at").await?.is_some())
    }

    /// Loads the built-in divisions whose code starts with `prefix` (all of them for "";
    /// a district's code for a small test database, which brings its ancestors along).
    /// Returns the number of rows loaded.
    pub async fn load_divisions(&self, prefix: &str, progress: &dyn Progress) -> Result<u64> {
        let total: u64 = if prefix.is_empty() {
            COUNTS.iter().sum::<usize>() as u64
        } else {
            0
        };
        progress.start(total);
        let (tx, mut rx) = mpsc::channel::<Result<Vec<Row>>>(8);
        let owned_prefix = prefix.to_string();
        let decoder = tokio::task::spawn_blocking(move || decode(&owned_prefix, tx));
        let stamp = now_ms().to_string();
        let loaded = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let empty = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM (SELECT 1 FROM regions LIMIT 1) AS any_row")
                .fetch_one(&mut *tx)
                .await?
                == 0;
            let mode = if empty { Mode::Fresh } else { Mode::Merge };
            let loaded = tx.load(mode, &mut rx, progress).await?;
            sqlx::query(
                "INSERT INTO meta (name, value) VALUES ('divisions_loaded_at', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(&stamp)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            // Fresh statistics let the planner pick the primary key for range counts.
            sqlx::query("ANALYZE regions").execute(p).await?;
            loaded
        });
        decoder
            .await
            .map_err(|e| StoreError::Corrupt(format!("decoding the divisions: {e}")))?;
        Ok(loaded)
    }
}

/// The bulk load, written per backend.
trait LoadRows {
    async fn load(
        &mut self,
        mode: Mode,
        rx: &mut mpsc::Receiver<Result<Vec<Row>>>,
        progress: &dyn Progress,
    ) -> Result<u64>;
}

impl LoadRows for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn load(
        &mut self,
        mode: Mode,
        rx: &mut mpsc::Receiver<Result<Vec<Row>>>,
        progress: &dyn Progress,
    ) -> Result<u64> {
        if mode == Mode::Fresh {
            sqlx::query("DROP INDEX IF EXISTS regions_by_key")
                .execute(&mut **self)
                .await?;
        }
        let mut loaded = 0;
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk?;
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO regions (level, key, name, source) ",
            );
            qb.push_values(&chunk, |mut b, r| {
                b.push_bind(r.level)
                    .push_bind(r.key)
                    .push_bind(&r.name)
                    .push("'official'");
            });
            if mode == Mode::Merge {
                qb.push(
                    " ON CONFLICT (level, key) DO UPDATE SET name = excluded.name \
                      WHERE regions.name <> excluded.name",
                );
            }
            // Full chunks share one statement text: keep it prepared.
            qb.build()
                .persistent(chunk.len() == CHUNK)
                .execute(&mut **self)
                .await?;
            loaded += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        if mode == Mode::Fresh {
            sqlx::query("CREATE INDEX regions_by_key ON regions (key, level)")
                .execute(&mut **self)
                .await?;
        }
        Ok(loaded)
    }
}

impl LoadRows for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn load(
        &mut self,
        mode: Mode,
        rx: &mut mpsc::Receiver<Result<Vec<Row>>>,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let target = match mode {
            Mode::Fresh => {
                sqlx::query("DROP INDEX IF EXISTS regions_by_key")
                    .execute(&mut **self)
                    .await?;
                "regions"
            }
            Mode::Merge => {
                sqlx::query(
                    "CREATE TEMP TABLE division_staging (level INTEGER, key BIGINT, name TEXT) ON COMMIT DROP",
                )
                .execute(&mut **self)
                .await?;
                "division_staging"
            }
        };
        let statement = if mode == Mode::Fresh {
            "COPY regions (level, key, name, source) FROM STDIN".to_string()
        } else {
            format!("COPY {target} (level, key, name) FROM STDIN")
        };
        let mut copy = self.copy_in_raw(&statement).await?;
        let mut buf = String::with_capacity(1 << 20);
        let mut loaded = 0;
        while let Some(chunk) = rx.recv().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = copy.abort("decoding failed").await;
                    return Err(e);
                }
            };
            buf.clear();
            for r in &chunk {
                buf.push_str(&r.level.to_string());
                buf.push('\t');
                buf.push_str(&r.key.to_string());
                buf.push('\t');
                crate::copy_text::escape(&r.name, &mut buf);
                if mode == Mode::Fresh {
                    buf.push_str("\tofficial");
                }
                buf.push('\n');
            }
            copy.send(buf.as_bytes()).await?;
            loaded += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        copy.finish().await?;
        match mode {
            Mode::Fresh => {
                sqlx::query("CREATE INDEX regions_by_key ON regions (key, level)")
                    .execute(&mut **self)
                    .await?;
            }
            Mode::Merge => {
                sqlx::query(
                    "INSERT INTO regions (level, key, name, source) \
                     SELECT level, key, name, 'official' FROM division_staging \
                     ON CONFLICT (level, key) DO UPDATE SET name = excluded.name \
                     WHERE regions.name <> excluded.name",
                )
                .execute(&mut **self)
                .await?;
            }
        }
        Ok(loaded)
    }
}
