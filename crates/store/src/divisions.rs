//! Loading the national division tables into the region tree.
//!
//! On SQLite the rows go in as multi-row upserts inside one transaction; on PostgreSQL they
//! are streamed with COPY into a staging table and merged. Either way the load is
//! all-or-nothing, re-runnable (names are updated, rows never duplicated), and reports
//! progress row by row.

use linli_core::{Level, RegionCode};
use linli_divisions::{read_table, DivisionsError, COUNTS};

use crate::{now_ms, on_write, Result, Store, StoreError};

/// Rows per multi-row INSERT on SQLite: 3 parameters each, well under SQLite's limit of 32,766.
const SQLITE_CHUNK: usize = 4_000;

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

fn collect(prefix: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::with_capacity(if prefix.is_empty() {
        COUNTS.iter().sum()
    } else {
        256
    });
    for table in 0..COUNTS.len() {
        for d in read_table(table, prefix)
            .map_err(|e: DivisionsError| StoreError::Corrupt(e.to_string()))?
        {
            let code = RegionCode::parse(&d.code)
                .map_err(|e| StoreError::Corrupt(format!("built-in division {}: {e}", d.code)))?;
            if !code.level().is_official() || code.level() > Level::Community {
                return Err(StoreError::Corrupt(format!(
                    "built-in division {} is not a division",
                    d.code
                )));
            }
            rows.push(Row {
                level: i32::from(code.level().number()),
                key: code.key(),
                name: d.name,
            });
        }
    }
    Ok(rows)
}

/// Escapes a value for PostgreSQL's COPY text format.
fn copy_escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
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
        let rows = collect(prefix)?;
        let total = rows.len() as u64;
        progress.start(total);
        let stamp = now_ms().to_string();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            tx.load(&rows, progress).await?;
            sqlx::query(
                "INSERT INTO meta (name, value) VALUES ('divisions_loaded_at', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(&stamp)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(total)
    }
}

/// The bulk load, written per backend.
trait LoadRows {
    async fn load(&mut self, rows: &[Row], progress: &dyn Progress) -> Result<()>;
}

impl LoadRows for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn load(&mut self, rows: &[Row], progress: &dyn Progress) -> Result<()> {
        for chunk in rows.chunks(SQLITE_CHUNK) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO regions (level, key, name, source) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.level)
                    .push_bind(r.key)
                    .push_bind(&r.name)
                    .push("'official'");
            });
            qb.push(
                " ON CONFLICT (level, key) DO UPDATE SET name = excluded.name \
                  WHERE regions.name <> excluded.name",
            );
            qb.build().persistent(false).execute(&mut **self).await?;
            progress.advance(chunk.len() as u64);
        }
        Ok(())
    }
}

impl LoadRows for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn load(&mut self, rows: &[Row], progress: &dyn Progress) -> Result<()> {
        sqlx::query(
            "CREATE TEMP TABLE division_staging (level INTEGER, key BIGINT, name TEXT) ON COMMIT DROP",
        )
        .execute(&mut **self)
        .await?;
        let mut copy = self
            .copy_in_raw("COPY division_staging (level, key, name) FROM STDIN")
            .await?;
        let mut buf = String::with_capacity(1 << 20);
        for chunk in rows.chunks(20_000) {
            buf.clear();
            for r in chunk {
                buf.push_str(&r.level.to_string());
                buf.push('\t');
                buf.push_str(&r.key.to_string());
                buf.push('\t');
                copy_escape(&r.name, &mut buf);
                buf.push('\n');
            }
            copy.send(buf.as_bytes()).await?;
            progress.advance(chunk.len() as u64);
        }
        copy.finish().await?;
        sqlx::query(
            "INSERT INTO regions (level, key, name, source) \
             SELECT level, key, name, 'official' FROM division_staging ORDER BY level, key \
             ON CONFLICT (level, key) DO UPDATE SET name = excluded.name \
             WHERE regions.name <> excluded.name",
        )
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_values_are_escaped() {
        let mut s = String::new();
        super::copy_escape("a\tb\\c\nd", &mut s);
        assert_eq!(s, "a\\tb\\\\c\\nd");
    }
}
