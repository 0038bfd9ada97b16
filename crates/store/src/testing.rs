//! Throwaway databases for tests and benchmarks: a temporary SQLite file, or a fresh
//! PostgreSQL database created on the server named by `LINLI_TEST_PG_URL` and dropped
//! afterwards. Every storage test runs on both, against the real engines.

use std::path::PathBuf;

use crate::Store;

/// The variable naming a PostgreSQL server for tests, e.g. `postgres://postgres@127.0.0.1/postgres`.
pub const PG_URL_VAR: &str = "LINLI_TEST_PG_URL";
/// Set (as CI does) to make a missing PostgreSQL a failure instead of a skip.
pub const REQUIRE_PG_VAR: &str = "LINLI_REQUIRE_PG";

/// A database that exists for as long as this value.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database { server: String, name: String },
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), rand::random::<u64>())
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("linli_test"));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create a temporary directory {}: {e}", dir.display());
        }
        let path = dir.join("test.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            cleanup: Cleanup::File(dir),
        }
    }

    /// A fresh database on the test server; `None` (with a note on stderr) when no server is
    /// configured, unless [`REQUIRE_PG_VAR`] is set.
    pub async fn postgres() -> Option<TestDb> {
        let server = match std::env::var(PG_URL_VAR) {
            Ok(s) if !s.is_empty() => s,
            _ => {
                if std::env::var(REQUIRE_PG_VAR).is_ok() {
                    panic!("{REQUIRE_PG_VAR} is set but {PG_URL_VAR} is not: PostgreSQL tests cannot run");
                }
                eprintln!("skipping the PostgreSQL half: set {PG_URL_VAR}=postgres://USER@HOST/DB (.ci/run does)");
                return None;
            }
        };
        let name = unique("linli_test");
        let mut conn = connect_server(&server).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let url = with_database(&server, &name);
        Some(TestDb {
            url,
            cleanup: Cleanup::Database { server, name },
        })
    }

    /// Both backends: SQLite always, PostgreSQL when configured.
    pub async fn both() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite()];
        v.extend(TestDb::postgres().await);
        v
    }

    pub async fn open(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }
}

async fn connect_server(server: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("connecting to {server} ({PG_URL_VAR}): {e}"))
}

/// `server` with its database name replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { server, name } => {
                // Drop runs outside any async context: use a short-lived runtime of its own.
                let (server, name) = (server.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        let mut conn = connect_server(&server).await;
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    });
                })
                .join();
            }
        }
    }
}

/// A square road grid for tests: a north–south and an east–west line every `step` degrees
/// over the box, each with a vertex every `vertex` degrees, so that lines meet at shared
/// vertices and join into one walking network.
pub fn road_grid(
    (west, east): (f64, f64),
    (south, north): (f64, f64),
    step: f64,
    vertex: f64,
) -> Vec<Vec<[f64; 2]>> {
    let n = |a: f64, b: f64, s: f64| ((b - a) / s).round() as usize;
    let mut lines: Vec<Vec<[f64; 2]>> = Vec::new();
    for i in 0..=n(west, east, step) {
        let lon = west + i as f64 * step;
        lines.push(
            (0..=n(south, north, vertex))
                .map(|j| [lon, south + j as f64 * vertex])
                .collect(),
        );
    }
    for i in 0..=n(south, north, step) {
        let lat = south + i as f64 * step;
        lines.push(
            (0..=n(west, east, vertex))
                .map(|j| [west + j as f64 * vertex, lat])
                .collect(),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_replaced() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
