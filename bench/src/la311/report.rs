//! The replay's Markdown report.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::expected::Figures;
use super::mapping::{self, Community, Place, Placement};
use super::replay::FileRun;
use super::source::{FileRead, Outcome, Ticket};
use super::{china_time, Finished, Options};
use crate::stats::group;

/// Everything the report tells.
pub struct Facts<'a> {
    pub opts: &'a Options,
    pub backend: String,
    pub files: &'a [FileRead],
    pub runs: &'a [FileRun],
    pub tickets: &'a [&'a Ticket],
    pub communities: &'a [Community],
    pub placement: &'a Placement,
    pub names: &'a BTreeMap<String, String>,
    pub expected: &'a BTreeMap<String, Figures>,
    pub stored: &'a [(String, i64)],
    pub stages: &'a [(String, i64)],
    /// (events escalated at least once, escalations in all)
    pub escalations: (i64, i64),
    pub failures: &'a [String],
    pub located_elsewhere: usize,
    pub period: (i64, i64),
    pub kpi_table: &'a str,
    pub kpi_ok: bool,
    pub setup_s: f64,
    pub replay_s: f64,
    pub total_s: f64,
}

fn n(v: usize) -> String {
    group(v as u64)
}

fn pct(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

/// The value at rank ⌈q·n⌉ of an ascending copy.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

fn setup(f: &Facts) -> String {
    let o = f.opts;
    let sizes = f.communities.iter().map(|c| c.buildings.len());
    let buildings: usize = sizes.clone().sum();
    let (least, most) = (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0));
    format!(
        "{} · data `{}` · files {} · speed {}× · tail {} wall min · demo scale {} \
         ({} communities, {} buildings with a position, {least} to {most} a community; \
         built in {:.0} s)\n\n",
        f.backend,
        o.data
            .canonicalize()
            .unwrap_or_else(|_| o.data.clone())
            .display(),
        o.files.join(", "),
        o.speed,
        o.tail_minutes,
        o.scale,
        f.communities.len(),
        n(buildings),
        f.setup_s
    )
}

fn files(f: &Facts) -> String {
    let mut md = String::from(
        "## Rows read\n\n\
         | file | rows | replayed | rejected | closed < created | closed | cancelled | left open | first created | last created | last closing |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for file in f.files {
        let count =
            |want: fn(&Outcome) -> bool| file.tickets.iter().filter(|t| want(&t.outcome())).count();
        let flagged = file.tickets.iter().filter(|t| t.flagged()).count();
        let created = file.tickets.iter().map(|t| t.created_ms);
        let ends = file.tickets.iter().filter_map(|t| match t.outcome() {
            Outcome::Close(at) | Outcome::Withdraw(at) => Some(at),
            Outcome::Open => None,
        });
        let show = |v: Option<i64>| v.map_or("–".to_string(), china_time);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            file.name,
            n(file.rows),
            n(file.tickets.len()),
            file.rejected.len(),
            flagged,
            n(count(|o| matches!(o, Outcome::Close(_)))),
            n(count(|o| matches!(o, Outcome::Withdraw(_)))),
            n(count(|o| matches!(o, Outcome::Open))),
            show(created.clone().min()),
            show(created.max()),
            show(ends.max()),
        );
    }
    md.push_str(
        "\nStatus rule: Closed and Referred Out with a ClosedDate are closed at it; Cancelled is \
         withdrawn by its reporter at it; any other status, or no ClosedDate, stays open. Times \
         are Los Angeles clock readings taken as China-time readings.\n\n",
    );
    md
}

fn flagged(f: &Facts) -> String {
    let mut md = String::from(
        "## Flagged rows\n\nClosed before created in the source: created, and closed at the \
         moment of creation (handling time 0); the expected figures follow the same rule.\n\n",
    );
    let mut any = false;
    for file in f.files {
        for t in file.tickets.iter().filter(|t| t.flagged()) {
            any = true;
            let closed = t.closed_ms.map_or("–".into(), china_time);
            let _ = writeln!(
                md,
                "- {} line {}: SR {} ({}, {}): created {}, closed {}",
                file.name,
                t.line,
                t.sr,
                t.request_type,
                t.status,
                china_time(t.created_ms),
                closed
            );
        }
    }
    if !any {
        md.push_str("None.\n");
    }
    md.push_str("\nRejected (unparseable times or records), not replayed:\n\n");
    let rejected: Vec<String> = f
        .files
        .iter()
        .flat_map(|file| {
            file.rejected
                .iter()
                .map(move |r| format!("- {} line {}: {}\n", file.name, r.line, r.reason))
        })
        .collect();
    md.push_str(&if rejected.is_empty() {
        "None.\n".to_string()
    } else {
        rejected.concat()
    });
    md.push('\n');
    md
}

fn categories(f: &Facts) -> String {
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for t in f.tickets {
        *by_type.entry(t.request_type.as_str()).or_default() += 1;
    }
    let total = f.tickets.len();
    let mut md = String::from(
        "## Categories\n\n| LA311 request type | tickets | linli category |\n|---|---|---|\n",
    );
    for (la, code) in mapping::CATEGORY_MAP {
        let name = f.names.get(code).map_or("", String::as_str);
        let count = by_type.get(la).copied().unwrap_or(0);
        let _ = writeln!(md, "| {la} | {} | {code} {name} |", n(count));
    }
    for (la, count) in by_type
        .iter()
        .filter(|(la, _)| !mapping::category_for(la).1)
    {
        let _ = writeln!(
            md,
            "| {} (unknown) | {} | {} |",
            if la.is_empty() { "(empty)" } else { la },
            n(*count),
            mapping::UNKNOWN_CATEGORY
        );
    }
    let unknown: usize = by_type
        .iter()
        .filter(|(la, _)| !mapping::category_for(la).1)
        .map(|(_, c)| c)
        .sum();
    let _ = write!(
        md,
        "\nUnknown request types: {} tickets, filed as `{}`.\n\n| linli category | tickets | share |\n|---|---|---|\n",
        n(unknown),
        mapping::UNKNOWN_CATEGORY
    );
    for (code, fig) in f.expected {
        let name = f.names.get(code).map_or("", String::as_str);
        let r = fig.received as usize;
        let _ = writeln!(md, "| {code} {name} | {} | {} |", n(r), pct(r, total));
    }
    let mut sources: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for t in f.tickets {
        let linli = mapping::source_for(&t.request_source).as_str();
        *sources
            .entry((t.request_source.clone(), linli))
            .or_default() += 1;
    }
    md.push_str("\n| LA311 request source | tickets | linli source |\n|---|---|---|\n");
    for ((la, linli), count) in sources {
        let _ = writeln!(md, "| {la} | {} | {linli} |", n(count));
    }
    md.push('\n');
    md
}

fn places(f: &Facts) -> String {
    let p = f.placement;
    let (mut at_building, mut council_region, mut fallback) = (0, 0, 0);
    for place in &p.places {
        match place {
            Place::Building(_) => at_building += 1,
            Place::CouncilRegion(_) => council_region += 1,
            Place::Fallback(_) => fallback += 1,
        }
    }
    let mut md = format!(
        "## Places\n\n{} neighbourhood councils ranked by tickets onto {} communities ranked by \
         buildings{}. Reported at a building's position (located by linli): {}; no location, so \
         the council's community named as the region: {}; no council, so the first community \
         named: {}. Located by linli in another region than the building's: {}.\n\n\
         | rank | council | tickets | community | buildings | distinct locations |\n|---|---|---|---|---|---|\n",
        p.councils.len(),
        f.communities.len(),
        if p.councils.len() > f.communities.len() { " (wrapping around)" } else { "" },
        n(at_building),
        n(council_region),
        n(fallback),
        f.located_elsewhere
    );
    let mut locations: HashMap<&str, std::collections::HashSet<(i64, i64)>> = HashMap::new();
    for t in f.tickets {
        if let (Some(c), Some((lon, lat))) = (&t.council, t.location) {
            let key = ((lon * 1e4).round() as i64, (lat * 1e4).round() as i64);
            locations.entry(c.as_str()).or_default().insert(key);
        }
    }
    for (rank, (council, tickets, ci)) in p.councils.iter().enumerate().take(10) {
        let c = &f.communities[*ci];
        let _ = writeln!(
            md,
            "| {} | {council} | {} | {} {} | {} | {} |",
            rank + 1,
            n(*tickets),
            c.code,
            c.name,
            c.buildings.len(),
            locations.get(council.as_str()).map_or(0, |s| s.len())
        );
    }
    if p.councils.len() > 10 {
        let _ = writeln!(md, "| … | {} more | | | | |", p.councils.len() - 10);
    }
    md.push('\n');
    md
}

fn replay(f: &Facts) -> String {
    let mut md = String::from(
        "## Replay\n\nLag: how late each creation returned against its scheduled wall moment.\n\n\
         | file | virtual span | tickets | arrivals/s scheduled | achieved | lag p50 ms | p99 ms | max ms | sweeps | stages fired | real time until | ended fast | wall s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in f.runs {
        let arrival_span_s = (r.last_create_ms - r.first_ms) as f64 / f.opts.speed / 1000.0;
        let scheduled = r.created as f64 / arrival_span_s.max(1e-9);
        let achieved = r.created as f64 / r.arrivals_wall_s.max(1e-9);
        let _ = writeln!(
            md,
            "| {} | {} → {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.0} |",
            r.name,
            china_time(r.first_ms),
            china_time(r.last_ms),
            n(r.created),
            scheduled,
            achieved,
            quantile(&r.lags_ms, 0.5),
            quantile(&r.lags_ms, 0.99),
            quantile(&r.lags_ms, 1.0),
            n(r.sweeps),
            n(r.stages),
            r.fast_from.map_or("the end".into(), china_time),
            n(r.fast_endings),
            r.wall_s
        );
    }
    let stages: Vec<String> = f
        .stages
        .iter()
        .map(|(a, c)| format!("{a} {}", group(*c as u64)))
        .collect();
    let _ = write!(
        md,
        "\nAfter the last arrival of a file the replay kept time for at most {} wall minutes, then \
         applied the remaining closings as fast as possible, each at its own virtual moment and in \
         order, sweeping the scheduler at every 5-minute mark where a stage was due (\"real time \
         until\" and \"ended fast\"). Files run one after another, each its own period: the \
         virtual clock restarts at each file's first ticket.\n\n\
         Deadline stages fired (flow log): {}. Events escalated at least once: {}; escalations in \
         all: {}.\n\n",
        f.opts.tail_minutes,
        if stages.is_empty() { "none".into() } else { stages.join(", ") },
        group(f.escalations.0 as u64),
        group(f.escalations.1 as u64),
    );
    md
}

/// Events stored per category against tickets read; `true` when equal everywhere.
fn lost(f: &Facts) -> (String, bool) {
    let mut md = String::from(
        "## None lost\n\n| category | tickets | events stored | |\n|---|---|---|---|\n",
    );
    let stored: BTreeMap<&str, i64> = f.stored.iter().map(|(c, k)| (c.as_str(), *k)).collect();
    let mut codes: Vec<&str> = f.expected.keys().map(String::as_str).collect();
    codes.extend(stored.keys().filter(|c| !f.expected.contains_key(**c)));
    let mut ok = true;
    for code in codes {
        let want = f.expected.get(code).map_or(0, |e| e.received);
        let got = stored.get(code).copied().unwrap_or(0);
        ok &= want == got;
        let _ = writeln!(
            md,
            "| {code} | {} | {} | {} |",
            group(want as u64),
            group(got as u64),
            if want == got { "✓" } else { "✗" }
        );
    }
    if !f.failures.is_empty() {
        ok = false;
        let _ = writeln!(md, "\nTickets that failed ({}):\n", f.failures.len());
        for line in f.failures.iter().take(50) {
            let _ = writeln!(md, "- {line}");
        }
    }
    md.push('\n');
    (md, ok)
}

pub fn markdown(f: &Facts) -> Finished {
    let (lost_md, lost_ok) = lost(f);
    let passed = lost_ok && f.kpi_ok;
    let mut md = setup(f);
    md.push_str(&files(f));
    md.push_str(&flagged(f));
    md.push_str(&categories(f));
    md.push_str(&places(f));
    md.push_str(&replay(f));
    md.push_str(&lost_md);
    let _ = write!(
        md,
        "## Figures against the source\n\n`Store::event_kpis` for 上城区 (330102), China-time days \
         {} to {} (every creation and closing of the replay), against the same figures computed \
         from the CSV rows.\n\n{}\n",
        super::day_label(f.period.0),
        super::day_label(f.period.1 - 1),
        f.kpi_table
    );
    let _ = write!(
        md,
        "## Verdict\n\n{} — none lost: {}; figures: {}. Wall time {:.0} s (demo {:.0} s, replay {:.0} s). \
         Load average at the end (1, 5, 15 min): {}.\n",
        if passed { "**PASS**" } else { "**FAIL**" },
        if lost_ok { "yes" } else { "**no**" },
        if f.kpi_ok { "all agree" } else { "**some differ**" },
        f.total_s,
        f.setup_s,
        f.replay_s,
        crate::machine::loadavg()
    );
    Finished {
        markdown: md,
        passed,
    }
}
