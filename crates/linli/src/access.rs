//! `linli access …`: the accessibility engine on files, to hold against other tools.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use linli_access::network;
use linli_access::output::{write_graph_csv, write_nearest_csv};
use linli_access::places::nearest_for_places;
use linli_access::points::{read_facilities, read_origins, Place};
use linli_access::pois::read_pois;
use linli_access::{Components, Graph, SnapMode};
use linli_core::registry::builtin_types;

#[derive(Subcommand)]
pub enum AccessCommand {
    /// The walking distance from each origin to the nearest facility of each type.
    Nearest {
        /// The walking network: .osm.pbf, .geojson (lines) or .csv (as `access graph` writes).
        #[arg(long)]
        network: PathBuf,
        /// Facilities: CSV with columns id,type,lon,lat.
        #[arg(long)]
        facilities: PathBuf,
        /// Origins (buildings): CSV with columns id,lon,lat.
        #[arg(long)]
        origins: PathBuf,
        /// The cap: facilities further than this many metres are not looked for.
        #[arg(long)]
        max_meters: f64,
        /// Join points to the nearest node (as pandana and pgRouting do) or to the nearest
        /// position on an edge.
        #[arg(long, value_enum, default_value_t = Snap::Edge)]
        snap: Snap,
        /// A point further than this many metres from any walkable line is left out, with
        /// a warning (its distances are empty).
        #[arg(long, default_value_t = 500.0)]
        max_snap_meters: f64,
        /// Walking speed for the minutes shown in the summary, in metres per minute.
        #[arg(long, default_value_t = 80.0)]
        speed: f64,
        /// The answer: CSV origin_id,type,meters (meters empty beyond the cap).
        #[arg(long)]
        out: PathBuf,
    },
    /// Export the walking graph built from a network file.
    Graph {
        #[arg(long)]
        network: PathBuf,
        /// CSV from_lon,from_lat,to_lon,to_lat,meters, each edge once.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the facilities an OpenStreetMap file holds, by linli's facility types.
    Pois {
        #[arg(long)]
        network: PathBuf,
        /// CSV id,type,lon,lat,name.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Snap {
    Node,
    Edge,
}

pub fn run(command: AccessCommand) -> Result<()> {
    match command {
        AccessCommand::Nearest {
            network,
            facilities,
            origins,
            max_meters,
            snap,
            max_snap_meters,
            speed,
            out,
        } => {
            anyhow::ensure!(
                max_meters.is_finite() && max_meters > 0.0,
                "--max-meters must be a positive number of metres, not {max_meters}"
            );
            anyhow::ensure!(
                max_snap_meters.is_finite() && max_snap_meters >= 0.0,
                "--max-snap-meters must be zero or more metres, not {max_snap_meters}"
            );
            anyhow::ensure!(
                speed.is_finite() && speed > 0.0,
                "--speed must be a positive number of metres per minute, not {speed}"
            );
            // The points are read while the graph is: joining the graph's positions takes
            // one core, and reading the points can have the other.
            let (points, graph) = std::thread::scope(|s| {
                // The origins only once the facilities are known good, as before.
                let points = s.spawn(|| {
                    let facilities = read_facilities(&facilities)?;
                    let origins = read_origins(&origins)?;
                    Ok::<_, linli_access::AccessError>((facilities, origins))
                });
                let graph = read_graph(&network);
                let points = points
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (points, graph)
            });
            let (facilities, origins) = points?;
            let (graph, read) = graph?;
            say_what_it_holds(&network, &graph, &read);
            let started = Instant::now();
            let mode = match snap {
                Snap::Node => SnapMode::Node,
                Snap::Edge => SnapMode::Edge,
            };
            let answer = nearest_for_places(
                &graph,
                mode,
                &origins,
                &facilities,
                max_meters,
                max_snap_meters,
            );
            let took = started.elapsed();
            warn_far("origin", &origins, &answer.far_origins, max_snap_meters);
            warn_far(
                "facility",
                &facilities,
                &answer.far_facilities,
                max_snap_meters,
            );
            let ids: Vec<&str> = origins.iter().map(|o| o.id.as_str()).collect();
            write_atomically(&out, |w| {
                write_nearest_csv(&ids, &answer.types, &answer.meters, w).map_err(csv::Error::from)
            })?;
            eprintln!(
                "{} origins × {} types ({} facilities) in {:.3} s; wrote {}",
                origins.len(),
                answer.types.len(),
                facilities.len(),
                took.as_secs_f64(),
                out.display()
            );
            for (t, kind) in answer.types.iter().enumerate() {
                // One pass, summing as `Iterator::sum` does (from −0).
                let (reached, sum) = answer.meters[t]
                    .iter()
                    .flatten()
                    .fold((0usize, -0.0), |(n, sum), m| (n + 1, sum + m));
                let mean = sum / reached.max(1) as f64;
                eprintln!(
                    "  {kind}: {reached} of {} origins within {max_meters} m ({:.0} %), mean {:.0} m ≈ {:.1} min at {speed} m/min",
                    origins.len(),
                    100.0 * reached as f64 / origins.len().max(1) as f64,
                    mean,
                    mean / speed
                );
            }
            Ok(())
        }
        AccessCommand::Graph { network, out } => {
            let graph = load(&network)?;
            write_atomically(&out, |w| write_graph_csv(&graph, w))?;
            eprintln!("wrote {} edges to {}", graph.edges.len(), out.display());
            Ok(())
        }
        AccessCommand::Pois { network, out } => {
            let found = read_pois(&network, builtin_types())?;
            write_atomically(&out, |w| {
                let mut w = csv::Writer::from_writer(w);
                w.write_record(["id", "type", "lon", "lat", "name"])?;
                for p in &found.pois {
                    w.write_record([
                        p.id.as_str(),
                        &p.kind,
                        &p.lon.to_string(),
                        &p.lat.to_string(),
                        &p.name,
                    ])?;
                }
                w.flush()?;
                Ok(())
            })?;
            let mut by_type: Vec<(&str, usize)> = Vec::new();
            for p in &found.pois {
                match by_type.iter_mut().find(|(k, _)| *k == p.kind) {
                    Some(entry) => entry.1 += 1,
                    None => by_type.push((&p.kind, 1)),
                }
            }
            by_type.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let list: Vec<String> = by_type.iter().map(|(k, n)| format!("{k} {n}")).collect();
            eprintln!(
                "wrote {} facilities to {}: {}",
                found.pois.len(),
                out.display(),
                list.join(", ")
            );
            if found.relations_left_out > 0 {
                eprintln!(
                    "  {} facilities mapped as relations (multipolygons) are not listed: only nodes and ways are placed",
                    found.relations_left_out
                );
            }
            Ok(())
        }
    }
}

/// Reads a network and says what it holds.
fn load(path: &Path) -> Result<Graph> {
    let (graph, read) = read_graph(path)?;
    say_what_it_holds(path, &graph, &read);
    Ok(graph)
}

/// How reading a network went, to tell once the command knows it goes on.
struct Read {
    components: Components,
    notes: Vec<String>,
    seconds: f64,
}

fn read_graph(path: &Path) -> Result<(Graph, Read)> {
    let started = Instant::now();
    let segments = network::read(path)?;
    let graph = Graph::from_segments(&segments);
    let read = Read {
        components: graph.components(),
        notes: segments.notes,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((graph, read))
}

fn say_what_it_holds(path: &Path, graph: &Graph, read: &Read) {
    let components = &read.components;
    let largest = components.sizes.first().copied().unwrap_or(0);
    eprintln!(
        "{}: {} nodes, {} edges, {:.1} km; {} connected components, the largest with {:.1} % of the nodes; read in {:.3} s",
        path.display(),
        graph.node_count(),
        graph.edges.len(),
        graph.total_meters() / 1000.0,
        components.count(),
        100.0 * largest as f64 / graph.node_count().max(1) as f64,
        read.seconds
    );
    for note in &read.notes {
        eprintln!("  note: {note}");
    }
}

fn warn_far(what: &str, places: &[Place], far: &[(usize, f64)], max_snap: f64) {
    const SHOWN: usize = 20;
    if far.is_empty() {
        return;
    }
    eprintln!(
        "warning: {} {what} points lie more than {max_snap} m from any walkable line and were left out (their distances are empty):",
        far.len()
    );
    for (i, meters) in far.iter().take(SHOWN) {
        let p = &places[*i];
        eprintln!(
            "  {what} {} at {}, {}: {:.0} m from the network",
            p.id, p.lon, p.lat, meters
        );
    }
    if far.len() > SHOWN {
        eprintln!("  … and {} more", far.len() - SHOWN);
    }
}

/// Writes `path` whole or not at all: to a temporary file beside it, renamed when done.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> csv::Result<()>,
) -> Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = path.with_file_name(name);
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut w = BufWriter::new(file);
    let written = write(&mut w)
        .map_err(anyhow::Error::from)
        .and_then(|()| w.flush().map_err(anyhow::Error::from));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context(format!("writing {}", path.display())));
    }
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
