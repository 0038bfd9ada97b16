//! The care benchmark (issue 7), three parts in one run, each through a real Mosquitto
//! started with linli's own broker configuration (`deploy/mosquitto/linli.conf`):
//!
//! - [`care_replay`]: 28 real days of a person living alone (van Kasteren house A) replayed at
//!   high speed through the broker into linli's ingestion, with anomalies injected, the alarm
//!   timer driven in the recording's time: false alarms and detection delays;
//! - [`care_load`]: readings of many simulated households (6 devices each) through the broker
//!   into the real `linli serve`, against `mosquitto_sub` draining the same stream (the
//!   broker's own limit) and the publisher alone; SOS alarm latency; memory;
//! - [`care_lost`]: every reading accounted for (stored, or refused with a reason) across a
//!   SIGKILL of linli mid-stream and a restart of the broker.
//!
//! [`care_replay`]: crate::care_replay
//! [`care_load`]: crate::care_load
//! [`care_lost`]: crate::care_lost

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_care::testing::{TestBroker, ADMIN};
use linli_core::care::DEVICE_TOPICS;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

pub struct Options {
    pub households: usize,
    pub seconds: u64,
    pub data: PathBuf,
    pub linli: PathBuf,
    pub pg: bool,
    pub publishers: usize,
    pub skip_replay: bool,
    pub skip_load: bool,
    pub skip_lost: bool,
}

/// A report and whether every correctness check passed.
pub struct Done {
    pub markdown: String,
    pub passed: bool,
}

/// The load generators' account on the broker: one role that may publish to every device's
/// topic, instead of one account per simulated device (see [`add_generator`]).
pub const GENERATOR: (&str, &str) = ("bench-generator", "generator-pass-123");

/// Gives the generator account the right to publish to every device's topic, through the
/// dynamic-security plugin's own command-line tool. Provisioning 60,000 device accounts one
/// by one would take far longer than the benchmark (see the provisioning figure measured in
/// [`crate::care_load`]); what linli ingests does not depend on which account sent it.
pub fn add_generator(broker: &TestBroker) -> Result<()> {
    let (user, pass) = GENERATOR;
    let port = broker.port.to_string();
    let steps: [&[&str]; 4] = [
        &["createRole", user],
        &[
            "addRoleACL",
            user,
            "publishClientSend",
            DEVICE_TOPICS,
            "allow",
        ],
        &["createClient", user, "-p", pass],
        &["addClientRole", user, user],
    ];
    for step in steps {
        let out = Command::new("mosquitto_ctrl")
            .args(["-h", "127.0.0.1", "-p", &port, "-u", ADMIN.0, "-P", ADMIN.1])
            .arg("dynsec")
            .args(step)
            .output()
            .context("running mosquitto_ctrl")?;
        if !out.status.success() {
            bail!(
                "mosquitto_ctrl dynsec {}: {}{}",
                step.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// A raw connection to the database linli writes, for what the benchmark reads (counts,
/// alarms) and the few rows it sets up itself.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

/// Runs `$body` with `$p` bound to the pool of either database.
macro_rules! on_raw {
    ($raw:expr, $p:ident => $body:expr) => {
        match $raw {
            $crate::care::Raw::Sqlite($p) => $body,
            $crate::care::Raw::Pg($p) => $body,
        }
    };
}
pub(crate) use on_raw;

impl Raw {
    pub async fn open(url: &str) -> Result<Raw> {
        Ok(if url.starts_with("sqlite:") {
            Raw::Sqlite(sqlx::SqlitePool::connect_with(linli_store::sqlite_options(url)?).await?)
        } else {
            Raw::Pg(sqlx::PgPool::connect(url).await?)
        })
    }

    pub async fn scalar(&self, sql: &str) -> Result<i64> {
        Ok(on_raw!(self, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await?))
    }

    pub async fn close(self) {
        on_raw!(self, p => p.close().await)
    }
}

/// The readings linli stored and the payloads it refused (with a reason), from the database.
pub async fn accounted(raw: &Raw) -> Result<(i64, i64)> {
    let stored = raw.scalar("SELECT COUNT(*) FROM care_readings").await?;
    let refused = raw
        .scalar("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM care_refusals")
        .await?;
    Ok((stored, refused))
}

/// A publisher's connection: QoS 1 publishes, each acknowledged by the broker before the
/// publisher counts it sent (Mosquitto's `mosquitto_pub -l` drops what is in flight when its
/// input ends: NOTES.md).
pub struct Conn {
    pub client: AsyncClient,
    pub acked: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Conn {
    pub async fn open(port: u16, (user, pass): (&str, &str), id: &str) -> Result<Conn> {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_credentials(user, pass)
            .set_inflight(1_000)
            .set_keep_alive(Duration::from_secs(60))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, events) = AsyncClient::new(o, 4_096);
        let acked = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(drive(events, acked.clone(), ready_tx));
        match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => bail!("{id}: {e}"),
            _ => bail!("{id}: no CONNACK within 10 s"),
        }
        Ok(Conn {
            client,
            acked,
            task,
        })
    }

    /// Waits until `n` publishes are acknowledged (at most `within`).
    pub async fn wait_acked(&self, n: u64, within: Duration) -> Result<()> {
        let until = Instant::now() + within;
        while self.acked.load(Ordering::Relaxed) < n {
            if self.task.is_finished() {
                bail!(
                    "the publisher's connection ended with {} of {n} acknowledged",
                    self.acked.load(Ordering::Relaxed)
                );
            }
            if Instant::now() > until {
                bail!(
                    "{} of {n} publishes acknowledged within {within:?}",
                    self.acked.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

async fn drive(
    mut events: EventLoop,
    acked: Arc<AtomicU64>,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
) -> Result<()> {
    let mut ready = Some(ready);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(a))) => {
                let ok = a.code == rumqttc::ConnectReturnCode::Success;
                if let Some(r) = ready.take() {
                    let _ = r.send(if ok {
                        Ok(())
                    } else {
                        Err(format!("{:?}", a.code))
                    });
                }
                if !ok {
                    bail!("refused: {:?}", a.code);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(e.to_string()));
                }
                bail!("publisher connection: {e}");
            }
        }
    }
}

/// Publishes `payloads` (topic, payload) on `conn` at QoS 1, at most `rate` a second when
/// given, and returns once the broker has acknowledged all of them.
pub async fn publish_all(
    conn: &Conn,
    payloads: &[(String, String)],
    rate: Option<f64>,
) -> Result<()> {
    let start = Instant::now();
    let before = conn.acked.load(Ordering::Relaxed);
    for (i, (topic, payload)) in payloads.iter().enumerate() {
        if let (Some(rate), 0) = (rate, i % 32) {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        conn.client
            .publish(
                topic.as_str(),
                QoS::AtLeastOnce,
                false,
                payload.clone().into_bytes(),
            )
            .await
            .context("publishing")?;
    }
    conn.wait_acked(before + payloads.len() as u64, Duration::from_secs(600))
        .await
}

/// The peak resident memory (VmHWM) of process `pid`, in MiB, if it still runs.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The pid of the Mosquitto that [`TestBroker`] started for this process (its files are in a
/// directory named after this process's id).
pub fn broker_pid() -> Option<u32> {
    let mark = format!("linli_mqtt_{}_", std::process::id());
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        // mosquitto -c DIR/mosquitto.conf, not mosquitto_sub or mosquitto_ctrl.
        if cmd.contains("mosquitto\0-c\0") && cmd.contains(&mark) {
            return Some(pid);
        }
    }
    None
}

/// The real `linli serve` as a child process, ingesting from the broker with a fixed client
/// id (its persistent session), its HTTP port for /metrics.
pub struct Linli {
    pub child: Child,
    pub base: String,
}

impl Linli {
    pub fn start(
        linli: &Path,
        db: &str,
        dir: &Path,
        mqtt_url: &str,
        client_id: &str,
    ) -> Result<Linli> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("linli.log"))?;
        let child = Command::new(linli)
            .args(["--database", db, "--key-file"])
            .arg(dir.join("keys"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--photos",
            ])
            .arg(dir.join("photos"))
            .args([
                "--mqtt",
                mqtt_url,
                "--mqtt-client-id",
                client_id,
                "--mqtt-provision",
                "none",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", linli.display()))?;
        Ok(Linli {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// linli's ingestion counters from /metrics: (processed = stored + duplicates +
    /// refused + stray, connected and subscribed).
    pub async fn metrics(&self, http: &reqwest::Client) -> Result<(u64, bool)> {
        let (processed, _, up) = self.counters(http).await?;
        Ok((processed, up))
    }

    /// (processed, received, connected and subscribed) from /metrics.
    pub async fn counters(&self, http: &reqwest::Client) -> Result<(u64, u64, bool)> {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        let mut processed = 0;
        let mut received = 0;
        let mut up = false;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("linli_care_mqtt_messages_total{outcome=\"") {
                let (outcome, n) = rest.split_once("\"} ").unwrap_or(("", "0"));
                let n = n.trim().parse::<u64>().unwrap_or(0);
                if outcome == "received" {
                    received = n;
                } else {
                    processed += n;
                }
            } else if let Some(v) = line.strip_prefix("linli_care_mqtt_connected ") {
                up = v.trim() == "1";
            }
        }
        Ok((processed, received, up))
    }

    /// Waits until linli answers and is subscribed to the broker.
    pub async fn wait_subscribed(&mut self, http: &reqwest::Client) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("linli exited ({status}) before subscribing: see its log");
            }
            if let Ok((_, true)) = self.metrics(http).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("linli did not subscribe to the broker within 120 s")
    }

    pub fn peak_rss_mib(&self) -> Option<f64> {
        peak_rss_mib(self.child.id())
    }

    /// SIGKILL: no shutdown, nothing flushed or acknowledged.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as a service manager stops it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

impl Drop for Linli {
    /// A benchmark that fails half-way leaves no linli behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the demo district with about `households` households through the linli binary
/// (which writes the key file `linli serve` needs), on `db`.
pub fn build_demo(linli: &Path, db: &str, dir: &Path, households: usize) -> Result<()> {
    // The full district has about 550,000 households; a little more than asked for.
    let scale = (households as f64 * 1.15 / 550_000.0).clamp(0.001, 1.0);
    let status = Command::new(linli)
        .args(["--database", db, "--key-file"])
        .arg(dir.join("keys"))
        .args([
            "demo",
            "--no-serve",
            "--scale",
            &scale.to_string(),
            "--password",
            "care-bench-1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {} demo", linli.display()))?;
    if !status.success() {
        bail!("linli demo --scale {scale} failed");
    }
    Ok(())
}

/// The six devices of each household in the load: one of every kind a home has, but gas.
pub const KINDS: [&str; 6] = ["sos", "smoke", "door", "motion", "bed", "vitals"];

/// Registers the six devices of each of the first `households` households in linli's store,
/// in one statement per kind (the per-device API writes an audit entry for each, and its
/// credential is not needed: the generator account publishes). Returns (device id, kind) of
/// every device, household by household.
pub async fn register_devices(raw: &Raw, households: usize) -> Result<Vec<(String, &'static str)>> {
    let have = raw.scalar("SELECT COUNT(*) FROM households").await?;
    if (have as usize) < households {
        bail!("the demo has {have} households, fewer than the {households} asked for");
    }
    let now = linli_store::now_ms();
    for kind in KINDS {
        let sql = format!(
            "INSERT INTO care_devices (device_id, kind, household_id, community_key, region_key, \
             secret_hash, created_at, created_by) \
             SELECT 'h' || CAST(id AS TEXT) || '-{kind}', '{kind}', id, community_key, region_key, \
             'not-a-credential', {now}, 'linli-bench' FROM \
             (SELECT id, community_key, region_key FROM households ORDER BY id LIMIT {households}) AS h"
        );
        on_raw!(raw, p => sqlx::query(&sql).execute(p).await.map(|_| ())?);
    }
    let rows: Vec<(String, String)> = on_raw!(raw, p => sqlx::query_as(
        "SELECT device_id, kind FROM care_devices ORDER BY household_id, id"
    ).fetch_all(p).await?);
    Ok(rows
        .into_iter()
        .map(|(id, kind)| {
            let k = KINDS.iter().find(|k| **k == kind).copied().unwrap_or("sos");
            (id, k)
        })
        .collect())
}

/// A device's reading as JSON, at `ts_ms`.
pub fn payload(kind: &str, value: &str, seq: i64, ts_ms: i64) -> String {
    let ts = linli_core::china_time::rfc3339(ts_ms);
    format!(r#"{{"ts":"{ts}","kind":"{kind}","value":{value},"seq":{seq}}}"#)
}

/// Runs every part and puts the report together.
pub async fn run(opts: &Options) -> Result<Done> {
    let mut md = String::new();
    let mut passed = true;
    if !opts.skip_replay {
        let done = crate::care_replay::run(opts).await?;
        md.push_str(&done.markdown);
        passed &= done.passed;
    }
    if !opts.skip_load {
        let done = crate::care_load::run(opts).await?;
        md.push_str(&done.markdown);
        passed &= done.passed;
    }
    if !opts.skip_lost {
        let done = crate::care_lost::run(opts).await?;
        md.push_str(&done.markdown);
        passed &= done.passed;
    }
    md.push_str(&format!(
        "\nLoad average at the end of the run (1, 5, 15 min): {}.\n",
        crate::machine::loadavg()
    ));
    Ok(Done {
        markdown: md,
        passed,
    })
}
