//! A real Mosquitto for tests and benchmarks: started on a free port in a temporary
//! directory with linli's own broker configuration (`deploy/mosquitto/linli.conf`, only the
//! listener and the paths replaced), its dynamic-security plugin initialised with an
//! administrator, and stopped when dropped.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};

/// Set (as CI does) to make a missing Mosquitto a failure instead of a skip.
pub const REQUIRE_VAR: &str = "LINLI_REQUIRE_MOSQUITTO";
/// linli's broker configuration, as shipped.
pub const SHIPPED_CONF: &str = include_str!("../../../deploy/mosquitto/linli.conf");
/// The administrator the tests' brokers are initialised with.
pub const ADMIN: (&str, &str) = ("linli-admin", "admin-pass-123");

const PLUGIN_PLACES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/lib64/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
];

/// A running broker, its files, and how to reach it.
pub struct TestBroker {
    pub port: u16,
    dir: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

fn find(program: &str, places: &[&str]) -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(program);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    places.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn missing(what: &str) -> Option<TestBroker> {
    if std::env::var(REQUIRE_VAR).is_ok() {
        panic!("{REQUIRE_VAR} is set but {what}: install Mosquitto 2 (.ci/run does)");
    }
    eprintln!("skipping: {what} (install Mosquitto 2, or run .ci/run)");
    None
}

impl TestBroker {
    /// A broker with linli's configuration, or `None` (with a note) when Mosquitto is not
    /// installed, unless [`REQUIRE_VAR`] is set.
    pub fn start() -> Option<TestBroker> {
        let Some(mosquitto) = find("mosquitto", &["/usr/sbin/mosquitto"]) else {
            return missing("mosquitto is not installed");
        };
        let Some(ctrl) = find("mosquitto_ctrl", &[]) else {
            return missing("mosquitto_ctrl is not installed");
        };
        let plugin = std::env::var("LINLI_MOSQUITTO_DYNSEC")
            .ok()
            .map(PathBuf::from)
            .or_else(|| {
                PLUGIN_PLACES
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.is_file())
            });
        let Some(plugin) = plugin else {
            return missing("the dynamic-security plugin is not installed (set LINLI_MOSQUITTO_DYNSEC to its path)");
        };
        let dir = std::env::temp_dir().join(format!(
            "linli_mqtt_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let dynsec = dir.join("dynamic-security.json");
        let init = Command::new(ctrl)
            .arg("dynsec")
            .arg("init")
            .arg(&dynsec)
            .arg(ADMIN.0)
            .arg(ADMIN.1)
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running mosquitto_ctrl dynsec init: {e}"));
        assert!(
            init.status.success(),
            "mosquitto_ctrl dynsec init: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        // Started as root, Mosquitto runs as the user `mosquitto`, which must be able to save
        // the plugin's file and its persistence database here.
        for (path, mode) in [(&dir, 0o777), (&dynsec, 0o666)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("opening {} to the broker: {e}", path.display()));
        }
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, config(port, &plugin, &dynsec, &dir))
            .unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
        let mut broker = TestBroker {
            port,
            dir,
            conf,
            child: None,
        };
        broker.run(&mosquitto);
        Some(broker)
    }

    fn run(&mut self, mosquitto: &Path) {
        let log = std::fs::File::create(self.dir.join("mosquitto.log"))
            .unwrap_or_else(|e| panic!("creating the broker's log: {e}"));
        let child = Command::new(mosquitto)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting mosquitto: {e}"));
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "mosquitto did not listen on {} within 10 s: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// The URL to connect as `user` with `password`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("mqtt://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The URL to connect as the dynamic-security administrator (what linli uses).
    pub fn admin_url(&self) -> String {
        self.url(ADMIN.0, ADMIN.1)
    }

    /// Stops the broker as a service manager would (SIGTERM: it saves its sessions and
    /// queues) and starts it again on the same port with the same files.
    pub fn restart(&mut self) {
        self.stop();
        let mosquitto = find("mosquitto", &["/usr/sbin/mosquitto"]).expect("mosquitto");
        self.run(&mosquitto);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
        // A failed test keeps the broker's files (its log, its plugin file) to look at.
        if std::thread::panicking() {
            eprintln!("the broker's files are kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
}

/// The shipped configuration with this broker's listener and paths.
fn config(port: u16, plugin: &Path, dynsec: &Path, dir: &Path) -> String {
    let replaced = [
        "listener ",
        "plugin ",
        "plugin_opt_config_file ",
        "persistence_location ",
    ];
    let mut out: String = SHIPPED_CONF
        .lines()
        .filter(|l| !replaced.iter().any(|r| l.starts_with(r)))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!(
        "listener {port} 127.0.0.1\nplugin {}\nplugin_opt_config_file {}\npersistence_location {}/\n",
        plugin.display(),
        dynsec.display(),
        dir.display()
    ));
    out
}

/// Connects to the broker on `port` as device `user` and publishes `payloads` to `topic` at
/// QoS 1, returning once the broker has acknowledged each; `Err` with the broker's answer
/// when it refuses the connection or closes it.
pub async fn publish(
    port: u16,
    user: &str,
    password: &str,
    topic: &str,
    payloads: Vec<String>,
) -> Result<(), String> {
    let id = format!("dev-{user}-{}", rand::random::<u32>());
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_credentials(user, password).set_inflight(100);
    let (client, mut events) = AsyncClient::new(o, 100);
    let n = payloads.len();
    let topic = topic.to_string();
    let sender = client.clone();
    tokio::spawn(async move {
        for p in payloads {
            if sender
                .publish(topic.clone(), QoS::AtLeastOnce, false, p)
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut acked = 0;
    let until = Instant::now() + Duration::from_secs(60);
    while acked < n {
        if Instant::now() > until {
            return Err(format!("{user}: {acked} of {n} acknowledged within 60 s"));
        }
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(a)))) if a.code != ConnectReturnCode::Success => {
                return Err(format!("{:?}", a.code));
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer within 10 s".into()),
        }
    }
    let _ = client.disconnect().await;
    Ok(())
}
