//! The `linli` command: serve the platform, build the demo district, import data, add accounts.

mod access;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use linli_core::geo::{parse_lines, MultiPolygon};
use linli_core::i18n::Lang;
use linli_core::registry::rows::RecordKind;
use linli_core::{grid_import, RegionCode, Role, Scope};
use linli_store::divisions::Progress;
use linli_store::{Actor, Keyring, LayerKind, NewUser, Store, StoreError};

/// linli (邻里): community governance and neighbourhood services.
///
/// One binary serves a whole district: the region tree from province to micro-grid, accounts
/// scoped to regions, grids, maps that work offline. SQLite by default; PostgreSQL by URL.
#[derive(Parser)]
#[command(name = "linli", version, about, long_about, propagate_version = true)]
struct Cli {
    /// Database URL: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "LINLI_DATABASE_URL",
        default_value = "sqlite://linli.db"
    )]
    database: String,

    /// The key file for personal data (ID numbers and phones are stored encrypted under
    /// it): created, readable by its owner only, on first start. Back it up: without it the
    /// identifiers cannot be read. LINLI_PII_KEYS, when set, holds the keys themselves and
    /// wins over the file.
    #[arg(
        long,
        global = true,
        env = "LINLI_PII_KEY_FILE",
        default_value = "linli.keys"
    )]
    key_file: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web pages and the API.
    Serve(ServeArgs),
    /// Build the demo district 上城区 (330102), print its accounts, and serve it.
    Demo(DemoArgs),
    /// Import data into the database.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Keys for personal data: generate, add, rotate.
    #[command(subcommand)]
    Pii(PiiCommand),
    /// API keys for Open311 GeoReport v2 clients (/open311/v2/).
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Walking accessibility on files: nearest facilities, the walking graph, OSM facilities.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Run the community health check (社区体检) for a district, street or community and
    /// store its results: walking coverage per facility type, indicators, index, ranking,
    /// the bottom 10 % flagged.
    Healthcheck {
        /// The region: a district (6 digits), street (9) or community (12), e.g. 330102.
        #[arg(long)]
        region: String,
        /// The walking network: an OSM PBF, GeoJSON lines or graph CSV file. Without it, the
        /// roads map layer imported for the region or a region above it.
        #[arg(long)]
        network: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Make a key for an Open311 client. It is printed once: only its hash is stored.
    Add {
        /// Who the key is for (shown in the list and in each request's flow log), e.g. the
        /// app's name.
        #[arg(long)]
        name: String,
    },
    /// List the keys (names and dates; the keys themselves cannot be shown again).
    List,
}

#[derive(Subcommand)]
enum PiiCommand {
    /// Print a new keyring (an encryption key and a lookup key) for LINLI_PII_KEYS or a key
    /// file.
    Keygen,
    /// Add a new encryption key to the key file and make it current: new writes use it,
    /// old rows stay readable with the old key until `linli pii rotate`.
    AddKey,
    /// Re-encrypt every stored identifier under the current key. Afterwards older keys can
    /// be removed from the key file.
    Rotate,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LINLI_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Mark cookies Secure (when linli is served over HTTPS behind a proxy).
    #[arg(long, env = "LINLI_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Where event photos are kept (created if missing).
    #[arg(long, env = "LINLI_PHOTO_DIR", default_value = "linli-photos")]
    photos: std::path::PathBuf,
    /// The MQTT broker devices publish to, as mqtt://USER:PASSWORD@HOST:1883 (mqtts:// for
    /// TLS). Without one, devices send readings over HTTP only.
    #[arg(long = "mqtt", env = "LINLI_MQTT_URL")]
    mqtt: Option<String>,
    /// PEM file of the CA that signed the broker's certificate (mqtts://); the system's
    /// roots otherwise.
    #[arg(long, env = "LINLI_MQTT_CA")]
    mqtt_ca: Option<PathBuf>,
    /// Names this process's persistent session on the broker: keep it across restarts, and
    /// give each linli process sharing the broker its own [default: linli-HOSTNAME].
    #[arg(long, env = "LINLI_MQTT_CLIENT_ID")]
    mqtt_client_id: Option<String>,
    /// How devices' accounts get onto the broker: dynsec (linli makes them in Mosquitto's
    /// dynamic-security plugin; its user must be the plugin's administrator) or none (the
    /// broker asks linli, as EMQX's HTTP authentication does).
    #[arg(long, env = "LINLI_MQTT_PROVISION", default_value = "dynsec", value_parser = ["dynsec", "none"])]
    mqtt_provision: String,
    /// A secret the broker's HTTP authentication (EMQX) must send in the header
    /// x-linli-hook-secret; without it POST /api/v1/care/broker/authenticate and /authorize
    /// answer anyone.
    #[arg(long, env = "LINLI_BROKER_HOOK_SECRET", hide_env_values = true)]
    broker_hook_secret: Option<String>,
}

impl ServeArgs {
    /// The broker configuration these arguments name, if any.
    fn broker(&self) -> Result<Option<linli_care::BrokerConfig>> {
        let Some(url) = self.mqtt.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let client_id = self
            .mqtt_client_id
            .clone()
            .unwrap_or_else(default_client_id);
        let mut config = linli_care::BrokerConfig::from_url(url, &client_id)?;
        config.ca_file = self.mqtt_ca.clone();
        config.provision = linli_care::Provision::parse(&self.mqtt_provision)
            .context("--mqtt-provision is dynsec or none")?;
        Ok(Some(config))
    }
}

/// `linli-` and this machine's name, kept to the characters a client id may have.
fn default_client_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(50)
        .collect();
    if host.is_empty() {
        "linli-1".to_string()
    } else {
        format!("linli-{host}")
    }
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Password of every demo account.
    #[arg(long, env = "LINLI_DEMO_PASSWORD", default_value = "linli-demo")]
    password: String,
    /// Road network for the demo map (GeoJSON lines, WGS-84). Defaults to
    /// ../shared/data/geo/hangzhou/roads_central.wgs84.geojson when that exists.
    #[arg(long)]
    roads: Option<PathBuf>,
    /// Build the demo and exit without serving.
    #[arg(long)]
    no_serve: bool,
    /// Size of the generated registry (residents, households, buildings) as a fraction of
    /// the real district's 1.32 million residents: above 0, at most 1 (0.1 = 132,000).
    #[arg(long, env = "LINLI_DEMO_SCALE", default_value_t = 0.1, value_parser = parse_scale)]
    scale: f64,
}

/// A demo scale: a number above 0 and at most 1.
fn parse_scale(s: &str) -> std::result::Result<f64, String> {
    let scale: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number: give a fraction such as 0.1"))?;
    linli_store::demo_registry::check_scale(scale, false)
        .map(|_| scale)
        .map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Load (or refresh) the national division tables built into linli: 31 provinces down to
    /// 620,573 communities. Runs by itself on first start.
    Divisions,
    /// Import grids and micro-grids from a CSV or GeoJSON file, all or nothing.
    ///
    /// CSV columns (English or Chinese headers): code/代码, name/名称, kind/设置类型,
    /// staff/网格力量 ("网格长:张三;专职网格员:李四"), boundary/边界 (GeoJSON).
    /// GeoJSON: a FeatureCollection of Polygon/MultiPolygon features with the same properties.
    Grids {
        /// The file (.csv, .geojson or .json).
        file: PathBuf,
    },
    /// Import residents from a workbook (.xlsx or .csv, Chinese headers as in the template
    /// the web page offers): all or nothing, every bad row listed.
    Residents(RegistryImport),
    /// Import households (楼栋, 单元, 室号, 居住类型, 人数).
    Households(RegistryImport),
    /// Import buildings (楼栋, 地址, 经度, 纬度, 层数, 单元数, 网格).
    Buildings(RegistryImport),
    /// Import facilities (名称, 类型, 地址, 经度, 纬度, 建筑面积, 所属邻里坊).
    Facilities(RegistryImport),
    /// Import a map layer of a region: its boundary (GeoJSON polygons) or roads (GeoJSON lines).
    Map {
        /// The region the layer belongs to, e.g. 330102.
        #[arg(long)]
        region: String,
        #[arg(long, value_enum)]
        kind: MapKind,
        /// Who to credit for the data, shown on the map.
        #[arg(long, default_value = "© OpenStreetMap contributors (ODbL)")]
        attribution: String,
        file: PathBuf,
    },
}

#[derive(Args)]
struct RegistryImport {
    /// The community the file is for (a 12-digit code, e.g. 330102001051).
    #[arg(long)]
    community: String,
    /// The file (.xlsx or .csv).
    file: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum MapKind {
    Boundary,
    Roads,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account scoped to a region.
    Add {
        #[arg(long)]
        username: String,
        /// At least 8 characters.
        #[arg(long, env = "LINLI_NEW_PASSWORD")]
        password: String,
        /// admin, leader, community_worker, grid_worker, department_clerk, operator or resident.
        #[arg(long)]
        role: String,
        /// The region the account works in (a code such as 330102), or CN for the whole country.
        #[arg(long)]
        region: String,
        /// The name shown on pages (defaults to the username).
        #[arg(long)]
        name: Option<String>,
    },
    /// List accounts.
    List,
}

/// A progress bar on the terminal for long loads.
struct Bar(ProgressBar);

impl Bar {
    fn new(what: &str) -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:12} [{bar:40.cyan/blue}] {pos:>7}/{len:7} {per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
}

impl linli_store::healthcheck::HealthcheckProgress for Bar {
    fn stage(&self, key: &'static str, total: u64) {
        self.0
            .set_message(linli_core::i18n::text(Lang::En, key).to_string());
        self.0.set_position(0);
        self.0.set_length(total);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish();
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        // The accessibility commands are plain computation, timed against other tools from
        // outside: they start no async runtime and no logging.
        Command::Access(command) => access::run(command),
        _ => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
                )
                .with_writer(std::io::stderr)
                .init();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(run(cli)))
        }
    };
    if let Err(e) = result {
        eprintln!("error: {}", describe(&e));
        std::process::exit(1);
    }
}

/// A whole error chain, with a store problem in English and a hint where one helps.
fn describe(e: &anyhow::Error) -> String {
    if let Some(StoreError::Rejected(rows)) = e.downcast_ref::<StoreError>() {
        let mut out = format!("{e}; nothing was written. Fix these rows and import again:");
        for r in rows {
            out.push_str(&format!("\n  {}", r.message(Lang::En)));
        }
        return out;
    }
    format!("{e:#}")
}

async fn open(url: &str) -> Result<Store> {
    let store = Store::connect(url)
        .await
        .with_context(|| format!("opening the database {url}"))?;
    Ok(store)
}

/// Opens the database with the keys for personal data: LINLI_PII_KEYS if set, else the
/// key file, created on first start (with a warning to back it up).
async fn open_with_keys(url: &str, key_file: &Path) -> Result<Store> {
    let mut store = open(url).await?;
    let env = std::env::var(linli_pii::ENV_VAR).ok();
    let (keys, source) = Keyring::load(env.as_deref(), key_file, true)
        .map_err(|e| anyhow!("loading the keys for personal data: {e}"))?;
    if let linli_pii::KeySource::Created(path) = &source {
        eprintln!(
            "Created the key file {} for personal data. Back it up: without it no ID number or phone stored here can be read.",
            path.display()
        );
    }
    store.use_keys(keys).await?;
    Ok(store)
}

/// Loads the national divisions on first start.
async fn ensure_divisions(store: &Store) -> Result<()> {
    if !store.divisions_loaded().await? {
        eprintln!("First start: loading the national division tables …");
        load_divisions(store).await?;
    }
    Ok(())
}

async fn load_divisions(store: &Store) -> Result<()> {
    let started = Instant::now();
    let n = {
        let bar = Bar::new("divisions");
        store.load_divisions("", &bar).await?
    };
    eprintln!(
        "Loaded {n} divisions in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let store = open_with_keys(&cli.database, &cli.key_file).await?;
            ensure_divisions(&store).await?;
            serve(store, args).await
        }
        Command::Demo(args) => demo(&cli.database, &cli.key_file, args).await,
        Command::Access(command) => access::run(command),
        Command::Healthcheck { region, network } => {
            healthcheck(&cli.database, &cli.key_file, &region, network.as_deref()).await
        }
        Command::Import(ImportCommand::Residents(a)) => {
            import_registry(&cli.database, &cli.key_file, RecordKind::Residents, &a).await
        }
        Command::Import(ImportCommand::Households(a)) => {
            import_registry(&cli.database, &cli.key_file, RecordKind::Households, &a).await
        }
        Command::Import(ImportCommand::Buildings(a)) => {
            import_registry(&cli.database, &cli.key_file, RecordKind::Buildings, &a).await
        }
        Command::Import(ImportCommand::Facilities(a)) => {
            import_registry(&cli.database, &cli.key_file, RecordKind::Facilities, &a).await
        }
        Command::Pii(PiiCommand::Keygen) => {
            print!("{}", Keyring::generate().to_text());
            Ok(())
        }
        Command::Pii(PiiCommand::AddKey) => add_key(&cli.key_file),
        Command::Pii(PiiCommand::Rotate) => {
            let store = open_with_keys(&cli.database, &cli.key_file).await?;
            let bar = Bar::new("rotate");
            let n = store
                .rotate_keys(&Actor::system("linli pii rotate"), &bar)
                .await?;
            drop(bar);
            println!("Re-encrypted {n} residents under the current key.");
            Ok(())
        }
        Command::Import(ImportCommand::Divisions) => {
            let store = open(&cli.database).await?;
            load_divisions(&store).await
        }
        Command::Import(ImportCommand::Grids { file }) => {
            let store = open(&cli.database).await?;
            ensure_divisions(&store).await?;
            import_grids(&store, &file).await
        }
        Command::Import(ImportCommand::Map {
            region,
            kind,
            attribution,
            file,
        }) => {
            let store = open(&cli.database).await?;
            ensure_divisions(&store).await?;
            import_map(&store, &region, kind, &attribution, &file).await
        }
        Command::User(UserCommand::Add {
            username,
            password,
            role,
            region,
            name,
        }) => {
            let store = open(&cli.database).await?;
            ensure_divisions(&store).await?;
            let role = Role::parse(&role).ok_or_else(|| {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                anyhow!("unknown role {role:?}; use one of: {}", all.join(", "))
            })?;
            let scope = Scope::parse(&region)
                .map_err(|e| anyhow!("--region: {e}; or CN for the whole country"))?;
            let new = NewUser {
                display_name: name.unwrap_or_else(|| username.clone()),
                username,
                password,
                role,
                scope,
            };
            let user = store
                .create_user(&Actor::system("linli user add"), new)
                .await?;
            println!(
                "Created {} ({}, {}).",
                user.username,
                user.role.as_str(),
                user.scope
            );
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Add { name }) => {
            let store = open(&cli.database).await?;
            let (id, key) = store
                .create_api_key(&Actor::system("linli apikey add"), &name)
                .await
                .map_err(|e| match e {
                    StoreError::Invalid(p) | StoreError::Conflict(p) => {
                        anyhow!("--name: {}", p.message(Lang::En))
                    }
                    other => other.into(),
                })?;
            println!("Created API key {id} for {}:", name.trim());
            println!("{key}");
            println!("This key is shown only once: copy it now. Only its hash is stored.");
            println!("Open311 clients send it as api_key when they POST /open311/v2/requests.json (or .xml).");
            Ok(())
        }
        Command::Apikey(ApikeyCommand::List) => {
            let store = open(&cli.database).await?;
            let keys = store.api_keys().await?;
            if keys.is_empty() {
                println!("No API keys yet; make one with: linli apikey add --name NAME");
            }
            for k in keys {
                println!(
                    "{:<6} {:<30} {:<26} {}",
                    k.id,
                    k.name,
                    linli_server::events_api::rfc3339(k.created_at),
                    if k.disabled { "disabled" } else { "enabled" }
                );
            }
            Ok(())
        }
        Command::User(UserCommand::List) => {
            let store = open(&cli.database).await?;
            for u in store.users().await? {
                println!(
                    "{:<20} {:<18} {:<20} {}",
                    u.username,
                    u.role.as_str(),
                    u.scope,
                    u.display_name
                );
            }
            Ok(())
        }
    }
}

async fn serve(store: Store, args: ServeArgs) -> Result<()> {
    let config = linli_server::Config {
        secure_cookies: args.secure_cookies,
        photo_dir: Some(args.photos.clone()),
        mqtt: args.broker()?,
        broker_hook_secret: args.broker_hook_secret.clone().filter(|s| !s.is_empty()),
    };
    linli_server::serve(store, config, args.listen)
        .await
        .with_context(|| format!("serving on {}", args.listen))
}

fn default_roads() -> Option<PathBuf> {
    let candidates = [
        std::env::var("LINLI_SHARED_DATA").ok().map(PathBuf::from),
        Some(PathBuf::from("../shared/data")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("geo/hangzhou/roads_central.wgs84.geojson"))
        .find(|p| p.exists())
}

fn read_lines(path: &Path) -> Result<Vec<Vec<[f64; 2]>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    parse_lines(&value).map_err(|e| anyhow!("{}: {}", path.display(), e.message(Lang::En)))
}

async fn demo(database: &str, key_file: &Path, args: DemoArgs) -> Result<()> {
    let store = open_with_keys(database, key_file).await?;
    ensure_divisions(&store).await?;
    let roads_path = args.roads.clone().or_else(default_roads);
    let roads = match &roads_path {
        Some(p) => Some(read_lines(p)?),
        None => {
            eprintln!("No road network found (../shared/data/geo/hangzhou); the demo map shows the boundary only. Pass --roads FILE to add one.");
            None
        }
    };
    let started = Instant::now();
    let report = {
        let bar = Bar::new("demo");
        store
            .build_demo(&args.password, args.scale, roads.as_deref(), &bar)
            .await?
    };
    let r = &report.registry;
    let share = |n: i64| 100.0 * n as f64 / r.residents.max(1) as f64;
    eprintln!(
        "Built 上城区: {} communities, {} grids, {} micro-grids (generated), {} road lines; \
         registry at scale {}: {} residents in {} households, {} buildings, {} facilities, {} hubs \
         (60+ {:.1} %, 80+ {:.1} %, key elderly {}, renters {:.1} %, 融合型大社区 {}); in {:.1} s.",
        report.communities,
        report.grids,
        report.micro_grids,
        report.roads,
        report.scale,
        r.residents,
        r.households,
        r.buildings,
        r.facilities,
        r.hubs,
        share(r.age60),
        share(r.age80),
        r.key_elderly,
        share(r.renters),
        r.large_communities,
        started.elapsed().as_secs_f64()
    );
    {
        let district = RegionCode::parse("330102").map_err(|e| anyhow!("{e}"))?;
        let care = store.build_demo_care(district).await?;
        eprintln!(
            "Care: {} key elderly enrolled by the built-in visit rules, {} visits over the last two months.",
            care.enrolled, care.visits
        );
    }
    if roads.is_some() {
        let district = RegionCode::parse("330102").map_err(|e| anyhow!("{e}"))?;
        store.generate_demo_figures(district).await?;
        let bar = Bar::new("health check");
        let hc = store
            .run_healthcheck(
                &Actor::system("linli demo"),
                district,
                linli_store::healthcheck::NetworkInput::Stored,
                &bar,
            )
            .await?;
        drop(bar);
        eprintln!(
            "Health check of 上城区 over the roads: {} of {} communities assessed (the roads cover the western and central streets), {} on the shortfall list; walking took {} ms.",
            hc.assessed, hc.communities, hc.flagged, hc.walk_ms
        );
    }
    println!();
    println!("Demo accounts (password: {}):", args.password);
    for a in &linli_store::demo::ACCOUNTS {
        println!(
            "  {:<8} {:<18} {:<16} {}",
            a.username,
            a.role.as_str(),
            a.scope,
            a.display_name
        );
    }
    println!();
    if args.no_serve {
        return Ok(());
    }
    println!("Open http://{} and sign in as admin.", args.serve.listen);
    serve(store, args.serve).await
}

async fn import_grids(store: &Store, file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // Bad rows of the file and database problems of the good ones are reported together.
    let parsed = grid_import::read_file(&name, &bytes);
    let rows = parsed.rows;
    let bar = Bar::new("grids");
    bar.start(rows.len() as u64);
    let report = store
        .import_grids(
            &Actor::system("linli import grids"),
            Scope::Nation,
            &rows,
            &name,
            parsed.errors,
        )
        .await?;
    bar.advance(rows.len() as u64);
    drop(bar);
    println!(
        "Imported {} grids and {} micro-grids from {}.",
        report.grids,
        report.micro_grids,
        file.display()
    );
    Ok(())
}

async fn import_map(
    store: &Store,
    region: &str,
    kind: MapKind,
    attribution: &str,
    file: &Path,
) -> Result<()> {
    let code = RegionCode::parse(region).map_err(|e| anyhow!("--region: {e}"))?;
    let actor = Actor::system("linli import map");
    match kind {
        MapKind::Boundary => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let mp = MultiPolygon::from_geojson(&value)
                .map_err(|e| anyhow!("{}: {}", file.display(), e.message(Lang::En)))?;
            store
                .set_layer(
                    &actor,
                    code,
                    LayerKind::Boundary,
                    &mp.to_geojson().to_string(),
                    mp.bbox(),
                    attribution,
                )
                .await?;
            println!("Set the boundary of {code}.");
        }
        MapKind::Roads => {
            let lines = read_lines(file)?;
            let bbox = linli_store::maps::lines_bbox(&lines)
                .ok_or_else(|| anyhow!("{} has no lines", file.display()))?;
            store
                .set_layer(
                    &actor,
                    code,
                    LayerKind::Roads,
                    &linli_store::maps::encode_lines(&lines),
                    bbox,
                    attribution,
                )
                .await?;
            println!("Set {} road lines for {code}.", lines.len());
        }
    }
    Ok(())
}

/// Imports a registry workbook into one community, with a progress bar.
async fn import_registry(
    database: &str,
    key_file: &Path,
    kind: RecordKind,
    args: &RegistryImport,
) -> Result<()> {
    let community = RegionCode::parse(&args.community).map_err(|e| anyhow!("--community: {e}"))?;
    let store = open_with_keys(database, key_file).await?;
    ensure_divisions(&store).await?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let started = Instant::now();
    let table = linli_server::registry_files::read_table(&name, &bytes, Lang::En)
        .map_err(|e| anyhow!("{}: {}", args.file.display(), e.message(Lang::En)))?;
    let outcome = {
        let bar = Bar::new(kind.as_str());
        linli_server::registry_files::import_table(
            &store,
            &Actor::system(&format!("linli import {}", kind.as_str())),
            kind,
            community,
            &name,
            &table,
            &bar,
        )
        .await?
    };
    println!(
        "Imported {} (created {}, updated {}, households created {}) from {} in {:.1} s.",
        kind.as_str(),
        outcome.created,
        outcome.updated,
        outcome.households_created,
        args.file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Adds a fresh encryption key to the key file and makes it current.
fn add_key(key_file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading the key file {}", key_file.display()))?;
    let keys = Keyring::parse(&text).map_err(|e| anyhow!("{}: {e}", key_file.display()))?;
    let next = keys.key_ids().into_iter().max().unwrap_or(0) + 1;
    let fresh = Keyring::generate();
    let line = fresh
        .to_text()
        .lines()
        .find_map(|l| l.trim().strip_prefix("key1:").map(str::to_string))
        .ok_or_else(|| anyhow!("generating a key failed"))?;
    let updated = format!(
        "{}\nkey{next}:{line}\ncurrent:{next}\n",
        strip_current(&text).trim_end()
    );
    let check =
        Keyring::parse(&updated).map_err(|e| anyhow!("the new key file would not parse: {e}"))?;
    let tmp = key_file.with_extension("keys.tmp");
    std::fs::write(&tmp, &updated).with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, key_file).with_context(|| format!("replacing {}", key_file.display()))?;
    println!(
        "Added key {next} to {} and made it current (keys held: {:?}). Run `linli pii rotate` to re-encrypt the stored identifiers under it.",
        key_file.display(),
        check.key_ids()
    );
    Ok(())
}

/// The key file's text without a `current:` line (the new key becomes current).
fn strip_current(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("current"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn healthcheck(
    database: &str,
    key_file: &Path,
    region: &str,
    network: Option<&Path>,
) -> Result<()> {
    let code = RegionCode::parse(region).map_err(|e| anyhow!("--region {region}: {e}"))?;
    let store = open_with_keys(database, key_file).await?;
    ensure_divisions(&store).await?;
    let input = match network {
        Some(path) => linli_store::healthcheck::NetworkInput::File(path),
        None => linli_store::healthcheck::NetworkInput::Stored,
    };
    let started = Instant::now();
    let report = {
        let bar = Bar::new("health check");
        store
            .run_healthcheck(&Actor::system("linli healthcheck"), code, input, &bar)
            .await
            .map_err(|e| match e {
                StoreError::Invalid(p) => anyhow!(p.message(Lang::En)),
                StoreError::NotFound => anyhow!("{code} is not a region in this database"),
                other => anyhow!(other),
            })?
    };
    eprintln!(
        "Health check {} of {code}: {} communities, {} assessed, {} on the shortfall list; {} of {} buildings on the walking network, {} facilities, {} types.",
        report.run_id,
        report.communities,
        report.assessed,
        report.flagged,
        report.placed_buildings,
        report.buildings,
        report.facilities,
        report.types
    );
    eprintln!(
        "Took {:.2} s: reading {} ms, network {} ms, walking {} ms, saving {} ms.",
        started.elapsed().as_secs_f64(),
        report.load_ms,
        report.network_ms,
        report.walk_ms,
        report.save_ms
    );
    Ok(())
}
