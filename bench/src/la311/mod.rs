//! `linli-bench la311`: real Los Angeles 311 tickets (MyLA311, ../shared/data/tickets)
//! replayed into linli at `speed` times real time — arrival times, category mix and closing
//! times as recorded, locations mapped into 上城区 by rank — through the store's real paths
//! (locating, routing, the state machine, the deadline scheduler, the figures). It then
//! checks that none was lost (events per category against the source) and that the leaders'
//! figures (`Store::event_kpis`) equal those computed from the CSV rows in plain Rust.
//!
//! - `source`: reading the CSV files; `mapping`: categories, sources and places;
//! - `replay`: the virtual clock and the store calls; `expected`: the figures to expect and
//!   the comparison; `peek`: the few plain-SQL reads; `report`: the Markdown.

mod expected;
mod mapping;
mod peek;
mod replay;
mod report;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_core::events::kpi::china_day;
use linli_core::region::{Level, RegionCode};
use linli_store::divisions::Quiet;
use linli_store::events::KpiScope;
use linli_store::testing::TestDb;
use linli_store::{Keyring, Store};

use expected::Input;
use mapping::{Building, Community, Place};
use peek::Peek;
use replay::{Plan, Replayer};
use source::{FileRead, Outcome, Ticket};

/// The files in time order.
pub const DEFAULT_FILES: &str =
    "MyLA311_Service_Request_Data_2017_Subset.csv,2018_mini.csv,requests.csv";

/// The demo's scale. The demo gives every community of 上城区 a building at any scale
/// (checked at run time: a community without one stops the run), but below about 0.01 each
/// has exactly one, so that ranking communities by buildings means nothing and a council's
/// locations all fall on one point. At 0.05 the district has 640 buildings with a position,
/// 1 to 7 a community, built in a few seconds.
pub const DEFAULT_SCALE: f64 = 0.05;

const DISTRICT: &str = "330102";
const PASSWORD: &str = "la311-replay-123";

pub struct Options {
    pub data: PathBuf,
    pub files: Vec<String>,
    pub speed: f64,
    pub tail_minutes: f64,
    pub scale: f64,
    pub pg: bool,
}

/// The report, and whether every check passed.
pub struct Finished {
    pub markdown: String,
    pub passed: bool,
}

/// A China-time day, for people.
pub fn day_label(day: i64) -> String {
    linli_core::events::kpi::date_of(day).to_string()
}

/// A China-time moment, for people.
pub fn china_time(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

/// The demo district's communities ranked by number of buildings (most first, ties by
/// code), each with its buildings by id.
async fn ranked_communities(store: &Store, peek: &Peek, scale: f64) -> Result<Vec<Community>> {
    let district = RegionCode::parse(DISTRICT)?;
    let names: HashMap<RegionCode, String> = store
        .regions_at(Level::Community, district.range())
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    let mut buildings: HashMap<RegionCode, Vec<Building>> = HashMap::new();
    for (id, community, key, level, lon, lat) in peek.buildings(district.range()).await? {
        let code = RegionCode::from_key(community, Level::Community);
        let region = i16::try_from(level)
            .ok()
            .and_then(Level::from_number)
            .and_then(|l| RegionCode::from_key(key, l));
        let (Some(code), Some(region)) = (code, region) else {
            bail!("building {id}: region {key} at level {level} is not a region code");
        };
        buildings.entry(code).or_default().push(Building {
            id,
            region,
            lon,
            lat,
        });
    }
    let mut out = Vec::with_capacity(names.len());
    for (code, name) in names {
        let Some(b) = buildings.remove(&code).filter(|b| !b.is_empty()) else {
            bail!("community {code} {name} has no building at demo scale {scale}: raise --scale");
        };
        out.push(Community {
            code,
            name,
            buildings: b,
        });
    }
    out.sort_by(|a, b| {
        b.buildings
            .len()
            .cmp(&a.buildings.len())
            .then(a.code.cmp(&b.code))
    });
    if out.is_empty() {
        bail!("the demo district has no communities");
    }
    Ok(out)
}

/// The allowed time (ms) and the Chinese name of each category used, from the catalogue.
async fn category_times(
    store: &Store,
    codes: impl Iterator<Item = &'static str>,
) -> Result<(HashMap<&'static str, i64>, BTreeMap<String, String>)> {
    let catalog = store.catalog().await?;
    let mut allowed = HashMap::new();
    let mut names = BTreeMap::new();
    for code in codes {
        if allowed.contains_key(code) {
            continue;
        }
        let Some(c) = catalog.category(code).filter(|c| c.active) else {
            bail!("category {code} is not in linli's catalogue (or not active)");
        };
        allowed.insert(code, c.deadline_minutes * 60_000);
        names.insert(code.to_string(), c.name_zh.clone());
    }
    Ok((allowed, names))
}

/// A fresh database with the demo district: regions, grids, accounts and a registry at
/// `scale` — but none of the demo's generated events, so that every event is a ticket.
async fn open_district(opts: &Options) -> Result<(TestDb, Store)> {
    let db = if opts.pg {
        TestDb::postgres()
            .await
            .context("--pg URL is needed for PostgreSQL")?
    } else {
        TestDb::sqlite()
    };
    let mut store = db.open().await;
    store.use_keys(Keyring::generate()).await?;
    store.build_demo(PASSWORD, 0.0, None, &Quiet).await?;
    store.build_demo_registry(opts.scale, None, &Quiet).await?;
    Ok((db, store))
}

/// Per file, the plans of its tickets (`places` holds one place per ticket, files in order).
fn plans<'a>(files: &'a [FileRead], places: &'a [Place]) -> Vec<Vec<Plan<'a>>> {
    let mut offset = 0;
    files
        .iter()
        .map(|f| {
            let plans = f
                .tickets
                .iter()
                .zip(&places[offset..])
                .map(|(t, place)| Plan {
                    ticket: t,
                    place,
                    category: mapping::category_for(&t.request_type).0,
                    source: mapping::source_for(&t.request_source),
                })
                .collect();
            offset += f.tickets.len();
            plans
        })
        .collect()
}

/// The China-time days `[from, to)` that hold every creation and ending of the replay.
fn period(tickets: &[&Ticket]) -> (i64, i64) {
    let first = tickets.iter().map(|t| t.created_ms).min().unwrap_or(0);
    let last = tickets
        .iter()
        .map(|t| match t.outcome() {
            Outcome::Close(at) | Outcome::Withdraw(at) => at,
            Outcome::Open => t.created_ms,
        })
        .max()
        .unwrap_or(0);
    (china_day(first), china_day(last) + 1)
}

fn read_files(opts: &Options) -> Result<Vec<FileRead>> {
    opts.files
        .iter()
        .enumerate()
        .map(|(i, name)| source::read_file(&opts.data, name.trim(), i))
        .collect()
}

/// What replaying all files did.
struct Replayed {
    runs: Vec<replay::FileRun>,
    failures: Vec<String>,
    located_elsewhere: usize,
    wall_s: f64,
}

/// Replays the files one after another on one database.
async fn replay_files(
    replayer: &mut Replayer<'_>,
    files: &[FileRead],
    per_file: &[Vec<Plan<'_>>],
) -> Result<Replayed> {
    let started = Instant::now();
    let mut runs = Vec::new();
    for (f, plans) in files.iter().zip(per_file) {
        eprintln!(
            "replaying {} ({} tickets) at {}×",
            f.name,
            plans.len(),
            replayer.speed
        );
        runs.push(replayer.run_file(&f.name, plans).await?);
    }
    Ok(Replayed {
        runs,
        failures: std::mem::take(&mut replayer.failures),
        located_elsewhere: replayer.located_elsewhere,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

pub async fn run(opts: &Options) -> Result<Finished> {
    if !opts.speed.is_finite() || opts.speed <= 0.0 || opts.files.is_empty() {
        bail!("--speed must be above 0 and --files must name at least one file");
    }
    let started = Instant::now();
    let files = read_files(opts)?;
    let tickets: Vec<&Ticket> = files.iter().flat_map(|f| &f.tickets).collect();
    eprintln!("read {} tickets from {} files", tickets.len(), files.len());

    let (db, store) = open_district(opts).await?;
    let backend = store.backend();
    let setup_s = started.elapsed().as_secs_f64();
    eprintln!("{backend:?}: demo district built in {setup_s:.0} s");
    let (admin, _) = store
        .user_by_name("admin")
        .await?
        .context("the demo's district admin is missing")?;
    let peek = Peek::connect(&store, &db.url).await?;
    let communities = ranked_communities(&store, &peek, opts.scale).await?;
    let placement = mapping::place_all(&tickets, &communities);
    let categories = tickets
        .iter()
        .map(|t| mapping::category_for(&t.request_type).0);
    let (allowed, names) = category_times(&store, categories).await?;

    let per_file = plans(&files, &placement.places);
    let mut replayer = Replayer {
        store: &store,
        admin: &admin,
        peek: &peek,
        speed: opts.speed,
        tail: Duration::from_secs_f64(opts.tail_minutes.max(0.0) * 60.0),
        failures: Vec::new(),
        located_elsewhere: 0,
    };
    let replayed = replay_files(&mut replayer, &files, &per_file).await?;

    // linli's figures over every day the replay touched, and the source's.
    let (from, to) = period(&tickets);
    let now = replayed.runs.iter().map(|r| r.last_ms).max().unwrap_or(0);
    let district = KpiScope::Region(RegionCode::parse(DISTRICT)?);
    store.fold_event_stats().await?;
    let kpis = store.event_kpis(district, from, to, now).await?;
    let inputs: Vec<Input> = per_file
        .iter()
        .flatten()
        .map(|p| Input {
            ticket: p.ticket,
            category: p.category,
            allowed_ms: allowed[p.category],
        })
        .collect();
    let expected = expected::expected(&inputs);
    let (kpi_table, kpi_ok) = expected::compare(&expected, &kpis, &names);
    let stored = peek.events_by_category().await?;
    let stages = peek.stages_fired().await?;
    let escalations = peek.escalations().await?;
    peek.close().await;
    store.close().await;
    drop(db);

    let facts = report::Facts {
        opts,
        backend: format!("{backend:?}"),
        files: &files,
        runs: &replayed.runs,
        tickets: &tickets,
        communities: &communities,
        placement: &placement,
        names: &names,
        expected: &expected,
        stored: &stored,
        stages: &stages,
        escalations,
        failures: &replayed.failures,
        located_elsewhere: replayed.located_elsewhere,
        period: (from, to),
        kpi_table: &kpi_table,
        kpi_ok,
        setup_s,
        replay_s: replayed.wall_s,
        total_s: started.elapsed().as_secs_f64(),
    };
    Ok(report::markdown(&facts))
}
