//! Killing linli in the middle of a load (SIGKILL: no shutdown, no flush) and starting it
//! again: every report that was answered 201 must be stored, none twice, and the deadlines
//! of reports made before the kill must still fire after the restart — each stage once.
//!
//! It runs the real `linli` binary (built with `cargo build --release -p linli`) on a fresh
//! database: SQLite by default, PostgreSQL with --pg.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_store::testing::TestDb;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

pub struct Options {
    pub linli: PathBuf,
    pub pg: bool,
    pub load_secs: u64,
    pub clients: usize,
}

const PASSWORD: &str = "crash-pass-123";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn serve(linli: &Path, db: &str, dir: &Path, port: u16) -> Result<Child> {
    Command::new(linli)
        .args(["--database", db, "--key-file"])
        .arg(dir.join("keys"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--photos",
        ])
        .arg(dir.join("photos"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", linli.display()))
}

async fn wait_up(http: &reqwest::Client, base: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("linli did not answer /healthz within 60 s")
}

async fn token(http: &reqwest::Client, base: &str, user: &str) -> Result<String> {
    let v: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["token"].as_str().context("no token")?.to_string())
}

pub async fn run(opts: &Options) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let db = if opts.pg {
        TestDb::postgres()
            .await
            .context("--pg is needed for PostgreSQL")?
    } else {
        TestDb::sqlite()
    };
    let url = db.url.clone();
    eprintln!("building the demo district on {url}");
    let status = Command::new(&opts.linli)
        .args(["--database", &url, "--key-file"])
        .arg(dir.path().join("keys"))
        .args([
            "demo",
            "--no-serve",
            "--scale",
            "0.01",
            "--password",
            PASSWORD,
        ])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("linli demo failed");
    }
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = serve(&opts.linli, &url, dir.path(), port)?;
    wait_up(&http, &base).await?;

    // A category with a one-minute deadline, so that its stages fall due after the restart.
    let admin = token(&http, &base, "admin").await?;
    let list = "事项代码,事项名称,办理时限（小时）,超时宽限（小时）,处置层级,责任部门代码\nbench.fast,压测快速事项,0.02,0,网格,cgj\n";
    let r = http
        .post(format!(
            "{base}/api/v1/event-catalog/categories/import?name=fast.csv"
        ))
        .bearer_auth(&admin)
        .body(list)
        .send()
        .await?;
    if r.status() != 201 {
        bail!("importing the fast category: {}", r.text().await?);
    }
    let resident = token(&http, &base, "jumin").await?;
    let spot = (120.1640, 30.2420);
    let fast: Value = http
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(&resident)
        .json(&json!({"category": "bench.fast", "description": "压测：一分钟时限", "lon": spot.0, "lat": spot.1}))
        .send()
        .await?
        .json()
        .await?;
    let fast_id = fast["event"]["id"].as_i64().context("the fast event")?;
    let fast_made = Instant::now();

    // The load, with the kill in the middle of it.
    let stop = Instant::now() + Duration::from_secs(opts.load_secs);
    let mut workers = Vec::new();
    for w in 0..opts.clients {
        let (http, base, token) = (http.clone(), base.clone(), resident.clone());
        workers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut ok: Vec<i64> = Vec::new();
            let mut failed = 0u64;
            while Instant::now() < stop {
                let body = json!({"category": "env.garbage", "description": format!("压测 {w}"),
                    "lon": spot.0 + rng.gen_range(-0.002..0.002), "lat": spot.1 + rng.gen_range(-0.002..0.002)});
                match http.post(format!("{base}/api/v1/events")).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status() == 201 => match r.json::<Value>().await {
                        Ok(v) => ok.extend(v["event"]["id"].as_i64()),
                        Err(_) => failed += 1,
                    },
                    _ => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(opts.load_secs / 2)).await;
    child.kill().context("SIGKILL")?;
    let _ = child.wait();
    let killed_at = Instant::now();
    eprintln!("killed linli with SIGKILL in the middle of the load");
    let mut answered = Vec::new();
    let mut failed = 0;
    for w in workers {
        let (ok, f) = w.await?;
        answered.extend(ok);
        failed += f;
    }

    // Stay down until the fast event's yellow warning (45 s) has fallen due: the restarted
    // scheduler must fire what came due while nothing ran.
    let due_while_down = fast_made + Duration::from_secs(50);
    if let Some(wait) = due_while_down.checked_duration_since(Instant::now()) {
        tokio::time::sleep(wait).await;
    }

    // Restart and check.
    let mut child = serve(&opts.linli, &url, dir.path(), port)?;
    wait_up(&http, &base).await?;
    let down_secs = killed_at.elapsed().as_secs_f64();
    let store = db.open().await;
    let mut missing = 0;
    for id in &answered {
        if store.event(*id).await?.is_none() {
            missing += 1;
        }
    }
    let mut sorted = answered.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let duplicates = answered.len() - sorted.len();
    // The fast event's stages fall due about a minute after it was made; the restarted
    // scheduler must fire each once.
    let until = Instant::now() + Duration::from_secs(120);
    let mut stages = Vec::new();
    while Instant::now() < until {
        stages = store
            .event_flow(fast_id)
            .await?
            .into_iter()
            .map(|f| f.action)
            .filter(|a| a.starts_with("warn_") || a == "auto_escalate")
            .collect();
        if stages.iter().any(|a| a == "auto_escalate") {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    child.kill().ok();
    let _ = child.wait();
    store.close().await;
    let expected = ["warn_yellow", "warn_red", "auto_escalate"];
    let stages_ok = stages.len() == 3
        && expected
            .iter()
            .all(|s| stages.iter().filter(|a| a == s).count() == 1);
    let md = format!(
        "## Killed during load ({})\n\n| figure | value |\n|---|---|\n\
         | reports answered 201 (before the kill) | {} |\n\
         | of those, missing after the restart | **{missing}** |\n\
         | ids answered twice | {duplicates} |\n\
         | requests that failed while linli was down | {failed} |\n\
         | down (SIGKILL to answering again, kept down past a due warning) | {down_secs:.0} s |\n\
         | deadline stages fired after the restart, each once | {} |\n\n",
        if opts.pg { "PostgreSQL" } else { "SQLite" },
        answered.len(),
        if stages_ok {
            format!("yes ({})", stages.join(", "))
        } else {
            format!("**no**: {stages:?}")
        },
    );
    if missing > 0 || duplicates > 0 || !stages_ok {
        print!("{md}");
        bail!("the crash benchmark failed: {missing} missing, {duplicates} duplicated, stages {stages:?}");
    }
    Ok(md)
}
