//! What the figures were measured on.

use std::process::Command;

use sqlx::Connection;

/// The first line of a command's stdout, if it ran.
fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn cpu_model() -> String {
    read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn memory_gib() -> String {
    read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into())
}

fn os_name() -> String {
    read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The file system holding `path`: the mount with the longest matching mount point.
fn filesystem_of(path: &std::path::Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = read("/proc/mounts");
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        if path.starts_with(f[1]) && best.as_ref().is_none_or(|(n, _)| f[1].len() > *n) {
            best = Some((f[1].len(), format!("{} on {} ({})", f[0], f[1], f[2])));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| "unknown".into())
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQLite library linked into linli (through sqlx).
pub async fn sqlite_library_version() -> String {
    async {
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
        sqlx::query_scalar::<_, String>("select sqlite_version()")
            .fetch_one(&mut c)
            .await
    }
    .await
    .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// The `sqlite3` command-line shell's version, if installed.
pub fn sqlite_cli_version() -> Option<String> {
    command_line("sqlite3", &["--version"])
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
}

async fn postgres_settings(url: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    let mut out = Vec::new();
    for name in [
        "server_version",
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "fsync",
        "synchronous_commit",
        "wal_level",
    ] {
        let v: String = sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(&mut c)
            .await?;
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// A Markdown section describing the machine, the software and the build.
pub async fn describe(command: &str, pg: Option<&str>) -> String {
    let mut md = String::new();
    md.push_str("## Machine and software\n\n");
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    md.push_str(&format!(
        "Figures from **one run** of `linli-bench {command}` on {now}. Absolute figures vary from \
         machine to machine and run to run; the ratios compare cases measured side by side in \
         that one run, on the same rows.\n\n"
    ));
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let profile = if cfg!(debug_assertions) {
        "debug (figures are not representative: build with --release)"
    } else {
        "release (workspace [profile.release]: codegen-units = 4)"
    };
    let rustc = command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".into());
    let git = command_line(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
    .map(|rev| {
        let dirty = command_line(
            "git",
            &["-C", env!("CARGO_MANIFEST_DIR"), "status", "--porcelain"],
        )
        .is_some();
        if dirty {
            format!("{rev} (with uncommitted changes)")
        } else {
            rev
        }
    });
    let rows = [
        ("CPU", format!("{} × {}", cores, cpu_model())),
        ("nproc", cores.clone()),
        ("memory", memory_gib()),
        ("kernel (`uname -r`)", kernel),
        ("OS", os_name()),
        (
            "temporary files",
            format!(
                "{} — {}",
                std::env::temp_dir().display(),
                filesystem_of(&std::env::temp_dir())
            ),
        ),
        (
            "load average at the start (1, 5, 15 min)",
            format!(
                "{} (the machine is shared: other builds or tests may run alongside)",
                loadavg()
            ),
        ),
        ("build profile", profile.to_string()),
        ("rustc", rustc),
        ("linli commit", git.unwrap_or_else(|| "unknown".into())),
        (
            "SQLite in linli (`select sqlite_version()`)",
            sqlite_library_version().await,
        ),
        (
            "`sqlite3` shell",
            sqlite_cli_version().unwrap_or_else(|| "not installed".into()),
        ),
    ];
    md.push_str("| | |\n|---|---|\n");
    for (k, v) in rows {
        md.push_str(&format!("| {k} | {v} |\n"));
    }
    match pg {
        None => md.push_str("| PostgreSQL | not measured (no `--pg` / `LINLI_TEST_PG_URL`) |\n"),
        Some(url) => match postgres_settings(url).await {
            Ok(settings) => {
                let psql = command_line("psql", &["--version"])
                    .unwrap_or_else(|| "psql not installed".into());
                let server = settings
                    .iter()
                    .find(|(k, _)| k == "server_version")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                md.push_str(&format!(
                    "| PostgreSQL server | {server}, on this machine, over TCP to 127.0.0.1 |\n"
                ));
                md.push_str(&format!("| PostgreSQL client | {psql} |\n"));
                let rest: Vec<String> = settings
                    .iter()
                    .filter(|(k, _)| k != "server_version")
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                md.push_str(&format!("| PostgreSQL settings | {} |\n", rest.join(", ")));
            }
            Err(e) => md.push_str(&format!("| PostgreSQL | unreachable: {e} |\n")),
        },
    }
    md
}
