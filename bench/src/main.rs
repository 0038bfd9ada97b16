//! linli's benchmarks, each side by side with its peer on the same rows in the same run:
//!
//! - `divisions`: loading all 665,276 national divisions with `Store::load_divisions`,
//!   against the database's own bulk loader (`sqlite3 .import`, `psql \copy`) and a naive
//!   row-at-a-time INSERT loop, every case in a fresh database and a child process of its own
//!   (so that its peak RSS is its own);
//! - `summary`: `Store::summary` (one key-range scan) against the classic adjacency list
//!   counted with a recursive CTE;
//! - `all`: both, as one Markdown report, also written to bench/RESULTS.md;
//! - `care`: readings through a real Mosquitto: 28 real days of a person living alone
//!   replayed with anomalies injected, the sustained rate against `mosquitto_sub`, alarm
//!   latency, and nothing lost across a SIGKILL and a broker restart (bench/RESULTS-care.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod care;
mod care_load;
mod care_lost;
mod care_replay;
mod divisions;
mod events;
mod events_crash;
mod events_load;
mod la311;
mod machine;
mod registry;
mod stats;
mod summary;

#[derive(Parser)]
#[command(
    name = "linli-bench",
    about = "linli's benchmarks, side by side with their peers, on SQLite and PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load all national divisions into fresh databases: linli, the database's own bulk
    /// loader, and a naive INSERT loop.
    Divisions {
        #[command(flatten)]
        pg: PgArg,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Count the regions below a region: linli's key-range scan against an adjacency list
    /// walked with a recursive CTE.
    Summary {
        #[command(flatten)]
        pg: PgArg,
        #[command(flatten)]
        summary: SummaryArgs,
    },
    /// The registry at full size: importing 1,000,000 residents from .xlsx and .csv, and the
    /// tag query and region summaries on the full-size demo, against plain peers.
    Registry {
        #[command(flatten)]
        pg: PgArg,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Event figures over a year of events at Hangzhou's scale, against plain SQL over the
    /// events table.
    Events {
        #[command(flatten)]
        pg: PgArg,
        /// Events generated over the year.
        #[arg(long, default_value_t = 2_800_000)]
        events: usize,
        /// Timed calls per query (after one warm-up); the median is reported.
        #[arg(long, default_value_t = 9)]
        iterations: usize,
        /// Skip the SQLite half (its load of a year takes about 20 minutes): PostgreSQL only.
        #[arg(long, requires = "url")]
        skip_sqlite: bool,
        /// Also write the report to bench/RESULTS-events.md.
        #[arg(long)]
        write: bool,
    },
    /// Creating events under load on PostgreSQL: throughput against pgbench's raw INSERT
    /// rate, and p99 latency at a fixed request rate.
    EventsLoad {
        #[command(flatten)]
        pg: PgArg,
        /// Seconds of each throughput run (linli's and pgbench's).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Concurrent clients of each throughput run, several separated by commas: each
        /// count runs linli and pgbench side by side.
        #[arg(long, value_delimiter = ',', default_value = "8,64")]
        clients: Vec<usize>,
        /// Requests a second of the open-loop latency run.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Requests in the latency run.
        #[arg(long, default_value_t = 10_000)]
        requests: u64,
    },
    /// SIGKILL the real linli in the middle of a load of reports, start it again, and check
    /// that every report answered 201 is stored and that deadlines still fire, once.
    EventsCrash {
        #[command(flatten)]
        pg: PgArg,
        /// The linli binary (build it with `cargo build --release -p linli`).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/linli"))]
        linli: PathBuf,
        /// Seconds of load; the kill comes half-way.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Replay the real Los Angeles 311 tickets (../shared/data/tickets) into a fresh demo
    /// district at `speed` times real time, and check that none is lost and that the event
    /// figures equal those computed from the source.
    La311 {
        #[command(flatten)]
        pg: PgArg,
        /// The MyLA311 directory.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/tickets/la_myla311"))]
        data: PathBuf,
        /// The files to replay, one after another, as a comma list.
        #[arg(long, value_delimiter = ',', default_value = la311::DEFAULT_FILES)]
        files: Vec<String>,
        /// Virtual time runs this many times faster than wall time.
        #[arg(long, default_value_t = 100.0)]
        speed: f64,
        /// Wall minutes to keep time after a file's last arrival before applying the
        /// remaining closings as fast as possible.
        #[arg(long, default_value_t = 10.0)]
        tail_minutes: f64,
        /// The demo's scale (buildings to map the tickets' locations onto).
        #[arg(long, default_value_t = la311::DEFAULT_SCALE)]
        scale: f64,
        /// Also write the report to bench/RESULTS-la311.md.
        #[arg(long)]
        write: bool,
    },
    /// Care through a real Mosquitto: the van Kasteren replay (false alarms, detection
    /// delays), readings from simulated households against `mosquitto_sub` draining the same
    /// stream, SOS alarm latency, memory, and nothing lost across a SIGKILL of linli and a
    /// broker restart.
    Care {
        #[command(flatten)]
        pg: PgArg,
        /// Simulated households, six devices each.
        #[arg(long, default_value_t = 10_000)]
        households: usize,
        /// The load's stream is the goal rate (30,000 readings/s) for this many seconds; the
        /// latency run lasts about as long.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Publishing connections of the load generator.
        #[arg(long, default_value_t = 4)]
        publishers: usize,
        /// The shared data directory (the van Kasteren recording is under sensors/).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))]
        data: PathBuf,
        /// The linli binary (build it with `cargo build --release -p linli`).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/linli"))]
        linli: PathBuf,
        #[arg(long)]
        skip_replay: bool,
        #[arg(long)]
        skip_load: bool,
        #[arg(long)]
        skip_lost: bool,
        /// Also write the report to bench/RESULTS-care.md.
        #[arg(long)]
        write: bool,
    },
    /// Both benchmarks, as one Markdown report on stdout and in bench/RESULTS.md.
    All {
        #[command(flatten)]
        pg: PgArg,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        summary: SummaryArgs,
        /// Print the report only; do not write bench/RESULTS.md.
        #[arg(long)]
        no_write: bool,
    },
    /// Write the divisions as the CSV the bulk loaders read (level,key,name,source), to
    /// reproduce a peer by hand.
    DivisionsCsv { path: PathBuf },
    /// One run of one load case (used by `divisions`, which runs every case in a child
    /// process of its own); prints the result as one JSON line.
    #[command(hide = true)]
    DivisionsCase {
        case: divisions::Case,
        /// The divisions as CSV (level,key,name,source), for the bulk-loader peers.
        #[arg(long)]
        csv: PathBuf,
        #[command(flatten)]
        pg: PgArg,
    },
}

#[derive(clap::Args, Clone)]
struct PgArg {
    /// A PostgreSQL server (trust or password in the URL); each case gets a fresh database
    /// on it, dropped afterwards. Without it, the PostgreSQL half is skipped.
    #[arg(long = "pg", env = linli_store::testing::PG_URL_VAR)]
    url: Option<String>,
}

#[derive(clap::Args, Clone)]
struct LoadArgs {
    /// Runs of each load case; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(clap::Args, Clone)]
struct RegistryArgs {
    /// Resident rows imported from each file.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Timed calls per query (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 25)]
    iterations: usize,
    /// The demo's scale for the queries (1: about 1.32 million residents).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    #[arg(long)]
    skip_import: bool,
    #[arg(long)]
    skip_queries: bool,
    /// Also write the report to bench/RESULTS-registry.md.
    #[arg(long)]
    write: bool,
}

#[derive(clap::Args, Clone)]
struct SummaryArgs {
    /// Timed calls per region and method (after one untimed warm-up); the median is reported.
    #[arg(long, default_value_t = 25)]
    iterations: usize,
    /// Stop a region's calls early once this many seconds are spent on it (after at least 5).
    #[arg(long, default_value_t = 20.0)]
    budget_secs: f64,
    /// Copy the SQLite database measured (all divisions, the demo district and the adjacency
    /// table) to this file afterwards, to inspect it with the sqlite3 shell.
    #[arg(long)]
    keep_sqlite: Option<PathBuf>,
}

impl SummaryArgs {
    fn options(&self) -> summary::Options {
        summary::Options {
            iterations: self.iterations,
            budget: Duration::from_secs_f64(self.budget_secs),
            keep_sqlite: self.keep_sqlite.clone(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pg = match &cli.command {
        Command::Divisions { pg, .. }
        | Command::Summary { pg, .. }
        | Command::All { pg, .. }
        | Command::Registry { pg, .. }
        | Command::Events { pg, .. }
        | Command::EventsLoad { pg, .. }
        | Command::EventsCrash { pg, .. }
        | Command::La311 { pg, .. }
        | Command::Care { pg, .. }
        | Command::DivisionsCase { pg, .. } => pg.url.clone().filter(|u| !u.is_empty()),
        Command::DivisionsCsv { .. } => None,
    };
    // TestDb reads the server from this variable; set it before any thread starts.
    match &pg {
        Some(url) => std::env::set_var(linli_store::testing::PG_URL_VAR, url),
        None => std::env::remove_var(linli_store::testing::PG_URL_VAR),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match cli.command {
        Command::DivisionsCase { case, csv, .. } => {
            let result = rt.block_on(divisions::run_case(case, &csv))?;
            println!("{}", serde_json::to_string(&result)?);
        }
        Command::DivisionsCsv { path } => {
            let n = divisions::write_csv(&path)?;
            eprintln!("{n} rows written to {}", path.display());
        }
        Command::Divisions { load, .. } => {
            let machine = rt.block_on(machine::describe("divisions", pg.as_deref()));
            let report = divisions::run(pg.as_deref(), load.repeat)?;
            print!("{machine}\n{}", report.markdown());
        }
        Command::Summary { summary, .. } => {
            let machine = rt.block_on(machine::describe("summary", pg.as_deref()));
            let md = rt.block_on(summary::run(pg.is_some(), &summary.options()))?;
            print!("{machine}\n{md}");
        }
        Command::Registry { registry, .. } => {
            let machine = rt.block_on(machine::describe("registry", pg.as_deref()));
            let opts = registry::Options {
                rows: registry.rows,
                iterations: registry.iterations,
                skip_import: registry.skip_import,
                skip_queries: registry.skip_queries,
                scale: registry.scale,
            };
            let md = rt.block_on(registry::run(pg.is_some(), &opts))?;
            let report = format!("# linli registry benchmark\n\n{machine}\n{md}");
            print!("{report}");
            if registry.write {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS-registry.md");
                std::fs::write(path, &report).with_context(|| format!("writing {path}"))?;
                eprintln!("written to {path}");
            }
        }
        Command::Events {
            events,
            iterations,
            skip_sqlite,
            write,
            ..
        } => {
            let machine = rt.block_on(machine::describe("events", pg.as_deref()));
            let opts = events::Options {
                events,
                iterations,
                skip_sqlite,
            };
            let md = rt.block_on(events::run(pg.is_some(), &opts))?;
            let report = format!("# linli event figures benchmark\n\n{machine}\n{md}");
            print!("{report}");
            if write {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS-events.md");
                std::fs::write(path, &report).with_context(|| format!("writing {path}"))?;
                eprintln!("written to {path}");
            }
        }
        Command::EventsLoad {
            seconds,
            clients,
            rate,
            requests,
            ..
        } => {
            let machine = rt.block_on(machine::describe("events-load", pg.as_deref()));
            let opts = events_load::Options {
                seconds,
                clients,
                rate,
                requests,
            };
            let md = rt.block_on(events_load::run(&opts))?;
            print!("# linli event creation under load\n\n{machine}\n{md}");
        }
        Command::EventsCrash {
            linli,
            seconds,
            clients,
            ..
        } => {
            let mut md = String::new();
            for on_pg in [false, true] {
                if on_pg && pg.is_none() {
                    continue;
                }
                let opts = events_crash::Options {
                    linli: linli.clone(),
                    pg: on_pg,
                    load_secs: seconds,
                    clients,
                };
                md.push_str(&rt.block_on(events_crash::run(&opts))?);
            }
            print!("# linli killed during load\n\n{md}");
        }
        Command::La311 {
            data,
            files,
            speed,
            tail_minutes,
            scale,
            write,
            ..
        } => {
            let machine = rt.block_on(machine::describe("la311", pg.as_deref()));
            let opts = la311::Options {
                data,
                files,
                speed,
                tail_minutes,
                scale,
                pg: pg.is_some(),
            };
            let done = rt.block_on(la311::run(&opts))?;
            let report = format!(
                "# linli replaying Los Angeles 311 tickets\n\n{machine}\n{}",
                done.markdown
            );
            print!("{report}");
            if write {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS-la311.md");
                std::fs::write(path, &report).with_context(|| format!("writing {path}"))?;
                eprintln!("written to {path}");
            }
            if !done.passed {
                anyhow::bail!("the replay failed its checks (see the report)");
            }
        }
        Command::Care {
            households,
            seconds,
            publishers,
            data,
            linli,
            skip_replay,
            skip_load,
            skip_lost,
            write,
            ..
        } => {
            let machine = rt.block_on(machine::describe("care", pg.as_deref()));
            let opts = care::Options {
                households,
                seconds,
                data,
                linli,
                pg: pg.is_some(),
                publishers,
                skip_replay,
                skip_load,
                skip_lost,
            };
            let done = rt.block_on(care::run(&opts))?;
            let report = format!("# linli care benchmark\n\n{machine}\n{}", done.markdown);
            print!("{report}");
            if write {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS-care.md");
                std::fs::write(path, &report).with_context(|| format!("writing {path}"))?;
                eprintln!("written to {path}");
            }
            if !done.passed {
                anyhow::bail!("the care benchmark failed its checks (see the report)");
            }
        }
        Command::All {
            load,
            summary,
            no_write,
            ..
        } => {
            let machine = rt.block_on(machine::describe("all", pg.as_deref()));
            let loads = divisions::run(pg.as_deref(), load.repeat)?;
            let summaries = rt.block_on(summary::run(pg.is_some(), &summary.options()))?;
            let mut md = String::new();
            md.push_str("# linli benchmark results\n\n");
            md.push_str(&machine);
            md.push('\n');
            md.push_str(&loads.markdown());
            md.push('\n');
            md.push_str(&summaries);
            md.push_str(&format!(
                "\nLoad average at the end of the run (1, 5, 15 min): {}.\n",
                machine::loadavg()
            ));
            print!("{md}");
            if !no_write {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md");
                std::fs::write(path, &md).with_context(|| format!("writing {path}"))?;
                eprintln!("written to {path}");
            }
        }
    }
    Ok(())
}
