//! Readings of many simulated households (six devices each) through Mosquitto, three ways
//! on the same stream in one run: the publisher alone (nobody subscribed: the broker takes
//! and drops), `mosquitto_sub -q 1` draining it (the broker's own limit), and the real
//! `linli serve` storing it with every rule on. Then the alarm latency at a sustainable load:
//! SOS presses at known instants, each timed until its alarm row is in the database.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_care::testing::{TestBroker, ADMIN};
use linli_care::{BrokerConfig, Provisioner};
use linli_core::care::{device_topic, DEVICE_TOPICS};
use linli_store::testing::TestDb;

use crate::care::{
    accounted, add_generator, broker_pid, build_demo, on_raw, payload, publish_all,
    register_devices, Conn, Done, Linli, Options, Raw, GENERATOR,
};
use crate::stats::{group, ratio};

/// The goal rate: the stream is this many readings a second for `--seconds`.
const GOAL_RATE: f64 = 30_000.0;
/// Device accounts provisioned through the dynamic-security plugin to time it, in two halves.
const PROVISIONED: usize = 1_000;

type Stream = Arc<Vec<Vec<(String, String)>>>;

/// A device's reading in round `round`: what a quiet, healthy home sends.
fn reading(kind: &str, round: i64, ts: i64) -> String {
    let (k, v) = match (kind, round % 2) {
        ("sos", 0) => ("battery", "90".to_string()),
        ("sos", _) => ("heartbeat", "null".to_string()),
        ("smoke", 0) => ("smoke", "false".to_string()),
        ("smoke", _) => ("heartbeat", "null".to_string()),
        ("door", 0) => ("door", "\"open\"".to_string()),
        ("door", _) => ("door", "\"closed\"".to_string()),
        ("motion", r) => ("motion", (r == 0).to_string()),
        ("bed", 0) => ("bed", "\"in\"".to_string()),
        ("bed", _) => ("heart_rate", (60 + round % 20).to_string()),
        (_, 0) => ("heart_rate", (62 + round % 15).to_string()),
        (_, _) => ("breath_rate", "15".to_string()),
    };
    payload(k, &v, round, ts)
}

/// Rounds `rounds` of every device, split over `publishers` connections (a device always on
/// the same one, so its readings arrive in order).
fn stream(
    devices: &[(String, &'static str)],
    rounds: std::ops::Range<i64>,
    publishers: usize,
) -> Stream {
    let ts = linli_store::now_ms();
    let mut out = vec![Vec::new(); publishers];
    for round in rounds {
        for (i, (id, kind)) in devices.iter().enumerate() {
            out[i % publishers].push((device_topic(id), reading(kind, round, ts)));
        }
    }
    Arc::new(out)
}

/// Publishes the stream over one connection per part, at most `rate` a second in all when
/// given; returns when every reading is acknowledged by the broker.
async fn publish(port: u16, name: &str, stream: &Stream, rate: Option<f64>) -> Result<Duration> {
    let mut conns = Vec::new();
    for c in 0..stream.len() {
        conns.push(Arc::new(
            Conn::open(port, GENERATOR, &format!("{name}-{c}")).await?,
        ));
    }
    let start = Instant::now();
    let parts = stream.len() as f64;
    let mut tasks = Vec::new();
    for (c, conn) in conns.iter().enumerate() {
        let (conn, stream) = (conn.clone(), stream.clone());
        tasks.push(tokio::spawn(async move {
            publish_all(&conn, &stream[c], rate.map(|r| r / parts)).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let took = start.elapsed();
    for c in conns {
        if let Ok(c) = Arc::try_unwrap(c) {
            c.close().await;
        }
    }
    Ok(took)
}

/// `mosquitto_sub -q 1` draining `total` messages: the time from the first publish to the
/// last message it printed.
async fn peer(port: u16, stream: &Stream, total: u64) -> Result<Duration> {
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            ADMIN.0,
            "-P",
            ADMIN.1,
        ])
        .args([
            "-i",
            "bench-peer",
            "-q",
            "1",
            "-t",
            DEVICE_TOPICS,
            "-C",
            &total.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mosquitto_sub")?;
    let mut out = sub.stdout.take().context("mosquitto_sub's output")?;
    let last = Arc::new(Mutex::new((0u64, None::<Instant>)));
    let seen = last.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            let lines = buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
            s.0 += lines;
            s.1 = Some(Instant::now());
        }
    });
    // mosquitto_sub says nothing once subscribed; a second is plenty on one machine.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    publish(port, "bench-peer-pub", stream, None).await?;
    let until = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = sub.try_wait()? {
            if !status.success() {
                bail!("mosquitto_sub exited with {status}");
            }
            break;
        }
        if Instant::now() > until {
            let _ = sub.kill();
            bail!("mosquitto_sub did not receive {total} messages within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = reader.join();
    let (lines, at) = *last.lock().unwrap_or_else(|e| e.into_inner());
    if lines != total {
        bail!("mosquitto_sub received {lines} of {total} messages");
    }
    Ok(at.map(|t| t - start).unwrap_or_default())
}

/// Waits until linli has processed (stored, or counted as duplicate or refused) `n`
/// readings; the time from `start`, and the most readings seen received but not yet stored
/// (what linli held in memory, unacknowledged).
async fn drained(
    linli: &Linli,
    http: &reqwest::Client,
    n: u64,
    start: Instant,
) -> Result<(Duration, u64)> {
    let until = Instant::now() + Duration::from_secs(1_800);
    let mut backlog = 0;
    loop {
        let (done, received, _) = linli.counters(http).await?;
        backlog = backlog.max(received.saturating_sub(done));
        if done >= n {
            return Ok((start.elapsed(), backlog));
        }
        if Instant::now() > until {
            bail!("linli processed {done} of {n} readings within 30 min");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Times provisioning device accounts through the dynamic-security plugin (what linli does
/// for each device registered with `--mqtt-provision dynsec`), 32 at a time: (accounts, s)
/// for each half.
async fn provisioning(broker: &TestBroker) -> Result<Vec<(usize, f64)>> {
    let config = BrokerConfig::from_url(&broker.admin_url(), "bench-provision")?;
    let control = Provisioner::start(&config)?;
    let mut halves = Vec::new();
    for half in 0..2 {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..32 {
            let control = control.clone();
            tasks.push(tokio::spawn(async move {
                for i in (w..PROVISIONED / 2).step_by(32) {
                    let id = format!("prov-{half}-{i}");
                    control.provision_device(&id, "provision-pass-1").await?;
                }
                Ok::<_, linli_care::ProvisionError>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        halves.push((PROVISIONED / 2, start.elapsed().as_secs_f64()));
    }
    Ok(halves)
}

pub async fn run(opts: &Options) -> Result<Done> {
    let dir = tempfile::tempdir()?;
    let db = if opts.pg {
        TestDb::postgres()
            .await
            .context("--pg is needed for PostgreSQL")?
    } else {
        TestDb::sqlite()
    };
    eprintln!(
        "care load: building the demo district for {} households on {}",
        opts.households, db.url
    );
    let t = Instant::now();
    build_demo(&opts.linli, &db.url, dir.path(), opts.households)?;
    let demo_secs = t.elapsed().as_secs_f64();
    let raw = Raw::open(&db.url).await?;
    let t = Instant::now();
    let devices = register_devices(&raw, opts.households).await?;
    let register_secs = t.elapsed().as_secs_f64();
    let broker = TestBroker::start()
        .context("the care benchmark needs Mosquitto 2 with its dynamic-security plugin")?;
    add_generator(&broker)?;
    eprintln!("care load: timing dynsec provisioning of {PROVISIONED} accounts");
    let provisioned = provisioning(&broker).await?;

    let rounds = ((GOAL_RATE * opts.seconds as f64) / devices.len() as f64)
        .ceil()
        .max(2.0) as i64;
    let total = rounds as u64 * devices.len() as u64;
    let publishers = opts.publishers.max(1);
    let bulk = stream(&devices, 0..rounds, publishers);
    eprintln!(
        "care load: {} readings ({} devices × {rounds} rounds)",
        total,
        devices.len()
    );

    // 1. The publisher alone: nobody subscribes yet (linli has never connected).
    let alone = publish(broker.port, "bench-alone", &bulk, None).await?;
    eprintln!(
        "care load: publisher alone {:.0}/s",
        total as f64 / alone.as_secs_f64()
    );
    // 2. The broker's limit: mosquitto_sub draining the same stream.
    let drained_by_peer = peer(broker.port, &bulk, total).await?;
    eprintln!(
        "care load: mosquitto_sub {:.0}/s",
        total as f64 / drained_by_peer.as_secs_f64()
    );
    // 3. linli storing the same stream with every rule on.
    let http = reqwest::Client::new();
    let mut linli = Linli::start(
        &opts.linli,
        &db.url,
        dir.path(),
        &broker.admin_url(),
        "linli-bench",
    )?;
    linli.wait_subscribed(&http).await?;
    let start = Instant::now();
    let published = publish(broker.port, "bench-linli", &bulk, None).await?;
    let (stored_in, backlog) = drained(&linli, &http, total, start).await?;
    drop(bulk);
    let (linli_rate, peer_rate, alone_rate) = (
        total as f64 / stored_in.as_secs_f64(),
        total as f64 / drained_by_peer.as_secs_f64(),
        total as f64 / alone.as_secs_f64(),
    );
    eprintln!("care load: linli {linli_rate:.0}/s");

    // 4. Alarm latency under a load linli sustains: SOS presses among the readings.
    let offered = GOAL_RATE.min(0.8 * linli_rate);
    let lat_rounds = ((offered * opts.seconds as f64) / devices.len() as f64)
        .ceil()
        .max(1.0) as i64;
    let steady = stream(&devices, rounds..rounds + lat_rounds, publishers);
    let steady_total = lat_rounds as u64 * devices.len() as u64;
    let sos: Vec<&str> = devices
        .iter()
        .filter(|d| d.1 == "sos")
        .map(|d| d.0.as_str())
        .collect();
    let presses = ((opts.seconds * 50) as usize).min(sos.len());
    let every = Duration::from_secs_f64(steady_total as f64 / offered / presses.max(1) as f64);
    let pressed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (seen, watching) = (seen.clone(), watching.clone());
        let raw = Raw::open(&db.url).await?;
        tokio::spawn(async move {
            let mut after = 0i64;
            while watching.load(Ordering::Relaxed) {
                let rows: Vec<(i64, String)> = on_raw!(&raw, p => sqlx::query_as(
                    "SELECT a.id, d.device_id FROM care_alarms a JOIN care_devices d ON d.id = a.device_key \
                     WHERE a.id > $1 AND a.kind = 'sos' ORDER BY a.id"
                ).bind(after).fetch_all(p).await?);
                let now = Instant::now();
                {
                    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                    for (id, device) in rows {
                        after = after.max(id);
                        s.entry(device).or_insert(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            raw.close().await;
            Ok::<_, anyhow::Error>(())
        })
    };
    let presser = {
        let pressed = pressed.clone();
        let ids: Vec<String> = sos.iter().take(presses).map(|s| s.to_string()).collect();
        let conn = Conn::open(broker.port, GENERATOR, "bench-sos").await?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            for id in &ids {
                tick.tick().await;
                let body = payload("sos", "true", 1_000_000_000, linli_store::now_ms());
                pressed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), Instant::now());
                conn.client
                    .publish(
                        device_topic(id),
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        body.into_bytes(),
                    )
                    .await?;
            }
            conn.wait_acked(ids.len() as u64, Duration::from_secs(60))
                .await?;
            conn.close().await;
            Ok::<_, anyhow::Error>(())
        })
    };
    let before = linli.metrics(&http).await?.0;
    let start = Instant::now();
    publish(broker.port, "bench-steady", &steady, Some(offered)).await?;
    presser.await??;
    drained(&linli, &http, before + steady_total + presses as u64, start).await?;
    let until = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap_or_else(|e| e.into_inner()).len() < presses && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watching.store(false, Ordering::Relaxed);
    watcher.await??;
    let mut latencies: Vec<f64> = Vec::new();
    {
        let (pressed, seen) = (
            pressed.lock().unwrap_or_else(|e| e.into_inner()),
            seen.lock().unwrap_or_else(|e| e.into_inner()),
        );
        for (id, at) in pressed.iter() {
            if let Some(s) = seen.get(id) {
                latencies.push(s.duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i]
    };
    let linli_rss = linli.peak_rss_mib();
    let broker_rss = broker_pid().and_then(crate::care::peak_rss_mib);
    linli.stop();
    let (stored, refused) = accounted(&raw).await?;
    let alarms_other: i64 = raw
        .scalar("SELECT COUNT(*) FROM care_alarms WHERE kind <> 'sos'")
        .await?;
    raw.close().await;
    drop(broker);

    let expected = total + steady_total + presses as u64;
    let all_stored = stored as u64 == expected && refused == 0;
    let all_seen = latencies.len() == presses;
    let passed = all_stored && all_seen;
    let load = crate::machine::loadavg();

    let mut md = String::new();
    md.push_str(&format!(
        "## Sustained readings through Mosquitto ({})\n\n",
        if opts.pg { "PostgreSQL" } else { "SQLite" }
    ));
    md.push_str(&format!(
        "{} households of the demo district × 6 devices (SOS button, smoke detector, door contact, \
         motion sensor, bed sensor, vital-sign monitor) = {} devices; the stream is {} rounds of one \
         reading from each = **{} readings** (the goal rate, 30,000/s, for {} s), published at QoS 1 \
         over {publishers} connections from this process (rumqttc, every publish acknowledged), as fast \
         as the broker takes them. The same stream three times in this run: to nobody (the publisher \
         alone), to `mosquitto_sub -q 1` (the broker's own limit), and to `linli serve` (release \
         build, child process, every alarm rule on, its timer running) storing every reading in \
         {}. Each rate is readings over the time from the first publish to the last reading \
         received (`mosquitto_sub`) or stored and acknowledged (linli, from its /metrics). The \
         publisher, Mosquitto, linli and the database share the machine's {} cores.\n\n",
        group(opts.households as u64),
        group(devices.len() as u64),
        rounds,
        group(total),
        opts.seconds,
        if opts.pg { "PostgreSQL" } else { "SQLite" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    ));
    md.push_str("| | readings/s | time | of the broker's rate |\n|---|---:|---:|---:|\n");
    md.push_str(&format!(
        "| publisher alone (no subscriber) | {} | {:.2} s | {} |\n",
        group(alone_rate as u64),
        alone.as_secs_f64(),
        ratio(alone_rate / peer_rate)
    ));
    md.push_str(&format!(
        "| `mosquitto_sub -q 1` (the broker's limit) | {} | {:.2} s | 1 |\n",
        group(peer_rate as u64),
        drained_by_peer.as_secs_f64()
    ));
    md.push_str(&format!(
        "| **linli** (stored, rules applied, acknowledged) | **{}** | {:.2} s | **{}** |\n\n",
        group(linli_rate as u64),
        stored_in.as_secs_f64(),
        ratio(linli_rate / peer_rate)
    ));
    md.push_str(&format!(
        "Goals: ≥ 0.8 of the broker's rate — **{}** ({}); ≥ 30,000 readings/s — **{}**. While linli \
         stored, the publisher had everything acknowledged by the broker in {:.2} s: the broker \
         queued the rest for linli's persistent session.\n\n",
        if linli_rate >= 0.8 * peer_rate { "met" } else { "not met" },
        ratio(linli_rate / peer_rate),
        if linli_rate >= GOAL_RATE { "met" } else { "not met" },
        published.as_secs_f64()
    ));
    md.push_str("### Alarm latency and memory\n\n");
    md.push_str(&format!(
        "Then {} more readings at a steady {} readings/s (0.8 of linli's rate above, at most the goal \
         rate), with {presses} SOS presses among them at even intervals, each from another \
         household's button: from the publish to its alarm row committed (seen by polling the \
         database every 10 ms from another connection, so figures include up to 10 ms of polling).\n\n",
        group(steady_total),
        group(offered as u64)
    ));
    md.push_str("| figure | value |\n|---|---|\n");
    md.push_str(&format!(
        "| SOS alarms seen / pressed | {} / {presses}{} |\n",
        latencies.len(),
        if all_seen {
            ""
        } else {
            " — **some never raised**"
        }
    ));
    md.push_str(&format!(
        "| latency p50 / p99 / max | {:.0} / **{:.0}** / {:.0} ms (goal p99 < 1,000 ms: **{}**) |\n",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        if pct(0.99) < 1000.0 { "met" } else { "not met" }
    ));
    md.push_str(&format!(
        "| peak RSS (VmHWM) of linli / Mosquitto | {} / {} MiB |\n",
        linli_rss
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "–".into()),
        broker_rss
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "–".into()),
    ));
    md.push_str(&format!(
        "| readings stored / refused, of {} sent | {} / {refused}{} |\n",
        group(expected),
        group(stored as u64),
        if all_stored {
            ""
        } else {
            " — **readings missing**"
        }
    ));
    md.push_str(&format!(
        "| other alarms raised (none expected) | {alarms_other} |\n"
    ));
    md.push_str(&format!(
        "| most readings held by linli received but not yet stored (sampled every 20 ms) | {} |\n",
        group(backlog)
    ));
    md.push_str(&format!(
        "| setup: demo district / registering {} devices in one statement per kind | {demo_secs:.0} s / {register_secs:.2} s |\n",
        group(devices.len() as u64)
    ));
    let (first, second) = (provisioned[0], provisioned[1]);
    md.push_str(&format!(
        "| dynsec provisioning (client + role per device, 32 at a time) | first {} accounts {:.1} s ({:.0}/s), next {} {:.1} s ({:.0}/s) |\n",
        first.0,
        first.1,
        first.0 as f64 / first.1,
        second.0,
        second.1,
        second.0 as f64 / second.1
    ));
    md.push_str(&format!(
        "| load average after the run (1, 5, 15 min) | {load} |\n\n"
    ));
    md.push_str(&format!(
        "The simulated devices publish through one generator account whose role may publish to \
         every device's topic (`{DEVICE_TOPICS}`), not through {} accounts of their own: \
         provisioning is timed above instead. linli runs with `--mqtt-provision none`; the devices \
         are registered in linli's store (so their readings are stored, not refused) with one \
         INSERT per kind.\n\n",
        group(devices.len() as u64)
    ));
    Ok(Done {
        markdown: md,
        passed,
    })
}
