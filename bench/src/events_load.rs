//! Creating events under load, on PostgreSQL: the measure of the hot write path.
//!
//! - Throughput: 8, then 64, clients POST /api/v1/events (JSON, bearer token) to a real
//!   linli on loopback as fast as answers come, for a fixed time; every 201 counts. Each
//!   report is checked, located (nearest building), routed by the responsibility list,
//!   given its deadline and written with its flow-log row, notification and figures delta
//!   in one transaction (shared with the reports that arrived meanwhile). The peer is the
//!   same database's raw single-row INSERT rate: pgbench with as many clients running a
//!   one-INSERT script of an event-sized row into a table with three indexes, for the same
//!   time. The goal: linli ≥ 0.5 of the raw rate.
//! - Latency: an open-loop generator sends 1,000 requests a second on a fixed schedule (a
//!   late answer does not delay the next request, so queueing shows) for a bounded count;
//!   latency is measured from each request's scheduled moment. The goal: p99 < 50 ms.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_store::divisions::Quiet;
use linli_store::testing::TestDb;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::stats::{group, ratio};

pub struct Options {
    pub seconds: u64,
    /// Each count is a throughput run of linli and one of pgbench.
    pub clients: Vec<usize>,
    pub rate: u64,
    pub requests: u64,
}

const PASSWORD: &str = "bench-pass-123";
const CATEGORIES: [&str; 8] = [
    "env.garbage",
    "noise",
    "dispute.leak",
    "property.service",
    "safety.ebike",
    "muni.streetlight",
    "fire.blocked",
    "build",
];

/// The peer: pgbench's raw INSERT rate into an event-sized table with three indexes.
fn pgbench(url: &str, clients: usize, seconds: u64) -> Result<f64> {
    let setup = "DROP TABLE IF EXISTS bench_events; \
        CREATE TABLE bench_events (id BIGSERIAL PRIMARY KEY, region_key BIGINT NOT NULL, category INT NOT NULL, \
        state INT NOT NULL, lon DOUBLE PRECISION, lat DOUBLE PRECISION, description TEXT NOT NULL, \
        created_at TIMESTAMPTZ NOT NULL, due_at TIMESTAMPTZ NOT NULL); \
        CREATE INDEX ON bench_events (region_key, created_at); CREATE INDEX ON bench_events (state, due_at);";
    let out = std::process::Command::new("psql")
        .args([url, "-qc", setup])
        .output()
        .context("running psql (install postgresql-client)")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        "\\set r random(330102001001000000, 330102014999999999)\n\\set c random(1, 32)\n\
         INSERT INTO bench_events (region_key, category, state, lon, lat, description, created_at, due_at) \
         VALUES (:r, :c, 1, 120.17, 30.25, '楼下垃圾三天没人清运，气味很大，请尽快处理。楼下垃圾三天没人清运。', now(), now() + interval '24 hours');\n",
    )?;
    let out = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .context("running pgbench (install postgresql-contrib or the server package)")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let tps = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .with_context(|| {
            format!(
                "no tps in pgbench's output: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(tps)
}

/// Makes one report's JSON body.
type Body = std::sync::Arc<dyn Fn(&mut rand::rngs::StdRng) -> serde_json::Value + Send + Sync>;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One closed-loop run: `clients` POST reports as fast as answers come for `seconds`; every
/// 201 is checked against the rows stored. Reports per second.
async fn closed_loop(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Body,
    clients: usize,
    seconds: u64,
    url: &str,
) -> Result<f64> {
    eprintln!("throughput: {clients} clients for {seconds} s");
    let before = resident_reports(url).await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for w in 0..clients {
        let (http, base, token, body) = (
            http.clone(),
            base.to_string(),
            token.to_string(),
            body.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut first_error: Option<String> = None;
            while Instant::now() < deadline {
                let r = http
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&token)
                    .json(&body(&mut rng))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => ok += 1,
                    Ok(r) => {
                        failed += 1;
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        first_error.get_or_insert(format!("{status}: {text}"));
                    }
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (ok, failed, first_error)
        }));
    }
    let started = Instant::now();
    let (mut ok, mut failed) = (0, 0);
    let mut first_error = None;
    for w in workers {
        let (o, f, e) = w.await?;
        ok += o;
        failed += f;
        first_error = first_error.or(e);
    }
    let linli_rate = ok as f64 / started.elapsed().as_secs_f64();
    if failed > 0 {
        bail!(
            "{failed} of {} requests failed during the throughput run; the first: {}",
            ok + failed,
            first_error.unwrap_or_default()
        );
    }
    let stored = resident_reports(url).await? - before;
    if stored != ok as i64 {
        bail!("{ok} reports answered 201 but {stored} are stored");
    }
    Ok(linli_rate)
}

/// The residents' reports stored so far.
async fn resident_reports(url: &str) -> Result<i64> {
    let pool = sqlx::PgPool::connect(url).await?;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE source = 'resident'")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(n)
}

pub async fn run(opts: &Options) -> Result<String> {
    let Some(db) = TestDb::postgres().await else {
        bail!("this benchmark runs on PostgreSQL: give --pg URL");
    };
    let mut store = db.open().await;
    store.use_keys(linli_store::Keyring::generate()).await?;
    eprintln!("building the demo district (scale 0.01) for buildings to locate reports by");
    store.build_demo(PASSWORD, 0.01, None, &Quiet).await?;
    let positions: Vec<(f64, f64)> = {
        let sql = "SELECT lon, lat FROM buildings WHERE lon IS NOT NULL ORDER BY id";
        let pool = sqlx::PgPool::connect(&db.url).await?;
        let rows = sqlx::query_as(sql).fetch_all(&pool).await?;
        pool.close().await;
        rows
    };
    let app = linli_server::router(linli_server::AppState::new(
        store.clone(),
        linli_server::Config::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "jumin", "password": PASSWORD}))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    let token = login["token"].as_str().context("no token")?.to_string();
    let body = move |rng: &mut rand::rngs::StdRng| {
        let (lon, lat) = positions[rng.gen_range(0..positions.len())];
        json!({
            "category": CATEGORIES[rng.gen_range(0..CATEGORIES.len())],
            "description": "楼下垃圾三天没人清运，气味很大，请尽快处理。",
            // At the building itself: a point jittered past the district's edge would be
            // (rightly) refused.
            "lon": lon,
            "lat": lat,
        })
    };
    let body: Body = std::sync::Arc::new(body);

    // Throughput, closed loop, then the peer with as many clients.
    let mut throughput = Vec::new();
    for &clients in &opts.clients {
        let linli_rate =
            closed_loop(&http, &base, &token, &body, clients, opts.seconds, &db.url).await?;
        eprintln!("pgbench: {clients} clients for {} s", opts.seconds);
        let raw_rate = pgbench(&db.url, clients, opts.seconds)?;
        throughput.push((clients, linli_rate, raw_rate));
    }

    // Latency, open loop.
    eprintln!("latency: {} requests at {}/s", opts.requests, opts.rate);
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / opts.rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut pending = Vec::with_capacity(opts.requests as usize);
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let open_started = Instant::now();
    for _ in 0..opts.requests {
        tick.tick().await;
        let scheduled = Instant::now();
        let req = http
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(&token)
            .json(&body(&mut rng));
        pending.push(tokio::spawn(async move {
            let ok = matches!(req.send().await, Ok(r) if r.status() == 201);
            (ok, scheduled.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut latencies = Vec::with_capacity(pending.len());
    let mut errors = 0;
    for p in pending {
        let (ok, ms) = p.await?;
        if !ok {
            errors += 1;
        }
        latencies.push(ms);
    }
    let open_secs = open_started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    server.abort();
    store.close().await;

    let mut md = String::new();
    md.push_str("## Creating events under load (PostgreSQL)\n\n");
    md.push_str("| case | figure |\n|---|---|\n");
    for (clients, linli_rate, raw_rate) in &throughput {
        md.push_str(&format!(
            "| linli: POST /api/v1/events, {clients} clients, {s} s | **{lr}** events/s (every 201 checked against the rows) |\n\
             | pgbench: one-INSERT script, event-sized row, 3 indexes, {clients} clients, {s} s | {rr} rows/s |\n\
             | linli ÷ raw INSERT rate, {clients} clients (goal ≥ 0.5) | **{ratio}** |\n",
            s = opts.seconds,
            lr = group(*linli_rate as u64),
            rr = group(*raw_rate as u64),
            ratio = ratio(linli_rate / raw_rate),
        ));
    }
    md.push_str(&format!(
        "| open loop: {req} requests at {rate}/s (took {os:.1} s) | p50 {p50:.1} ms, p99 **{p99:.1} ms** (goal < 50), max {max:.1} ms, {errors} errors |\n\n",
        req = group(opts.requests),
        rate = opts.rate,
        os = open_secs,
        p50 = percentile(&latencies, 0.5),
        p99 = percentile(&latencies, 0.99),
        max = latencies.last().copied().unwrap_or(f64::NAN),
    ));
    Ok(md)
}
