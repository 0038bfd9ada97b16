//! The figures the replay must produce, computed from the parsed CSV rows in plain Rust,
//! and their comparison with what linli reports (`Store::event_kpis`).
//!
//! "Closed on time" follows linli's documented deadline rule (README, Deadlines): the due
//! time is the category's allowed time from the report, and an automatic escalation (fired
//! by the scheduler's sweep once the due time plus the grace has passed) gives the next unit
//! the full time again from the sweep's moment. The strict reading, closed within the
//! allowed time of the report whatever happened, is computed beside it for the report: the
//! gap between the two is what escalations add to 按期办结率.

use std::collections::BTreeMap;

use linli_core::events::kpi::{self, BUCKETS};
use linli_core::events::HandlingLevel;
use linli_store::events::KpiRow;

use super::source::{Outcome, Ticket};

/// The replay sweeps for due deadline stages at every multiple of this many ms of virtual
/// time (see `replay`), so an escalation happens at the first multiple at or after it is due.
pub const SWEEP_MS: i64 = 5 * 60_000;

/// The first sweep moment at or after `t`.
pub fn sweep_at_or_after(t: i64) -> i64 {
    t.div_euclid(SWEEP_MS) * SWEEP_MS
        + if t.rem_euclid(SWEEP_MS) == 0 {
            0
        } else {
            SWEEP_MS
        }
}

/// What the replay needs of a category from the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub allowed_ms: i64,
    pub grace_ms: i64,
    pub level: HandlingLevel,
    /// Whether escalation can go past the street to a department.
    pub has_department: bool,
}

/// Handling units bottom to top: grid 0, community 1, street 2, department 3.
fn first_unit(rules: &Rules, located_in_grid: bool) -> u8 {
    match rules.level {
        // A ticket located no finer than a community has no grid to go to.
        HandlingLevel::Grid if located_in_grid => 0,
        HandlingLevel::Grid | HandlingLevel::Community => 1,
        HandlingLevel::Street => 2,
        HandlingLevel::Department if rules.has_department => 3,
        HandlingLevel::Department => 2,
    }
}

fn top_unit(rules: &Rules) -> u8 {
    if rules.has_department {
        3
    } else {
        2
    }
}

/// The due time in force when a ticket created at `created` is closed at `closed`, after
/// the automatic escalations that fell due before it (a closing and a sweep at the same
/// moment: the closing goes first).
pub fn due_in_force(created: i64, closed: i64, rules: &Rules, located_in_grid: bool) -> i64 {
    let mut unit = first_unit(rules, located_in_grid);
    let mut start = created;
    loop {
        let due = start + rules.allowed_ms;
        let escalated_at = sweep_at_or_after(due + rules.grace_ms);
        if closed <= escalated_at || unit >= top_unit(rules) {
            return due;
        }
        unit += 1;
        start = escalated_at;
    }
}

/// One category's figures over the replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub received: i64,
    pub dropped: i64,
    pub closed: i64,
    pub on_time: i64,
    /// Closed within the allowed time of the report, escalations or not (report only).
    pub on_time_strict: i64,
    pub resolved: i64,
    pub handling_ms: i64,
    pub durations: Vec<i64>,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        self.received += o.received;
        self.dropped += o.dropped;
        self.closed += o.closed;
        self.on_time += o.on_time;
        self.on_time_strict += o.on_time_strict;
        self.resolved += o.resolved;
        self.handling_ms += o.handling_ms;
        self.durations.extend_from_slice(&o.durations);
    }

    /// The exact 90th percentile: the value at rank ⌈0.9·n⌉ in ascending order.
    pub fn p90_ms(&self) -> Option<i64> {
        let mut v = self.durations.clone();
        v.sort_unstable();
        let n = v.len();
        (n > 0).then(|| v[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1])
    }

    pub fn hist(&self) -> [i64; BUCKETS] {
        let mut h = [0; BUCKETS];
        for d in &self.durations {
            h[kpi::bucket(*d)] += 1;
        }
        h
    }
}

/// A ticket as the expectation needs it: its category code, rules and whether it was
/// located in a grid.
pub struct Input<'a> {
    pub ticket: &'a Ticket,
    pub category: &'a str,
    pub rules: Rules,
    pub located_in_grid: bool,
}

/// The expected figures by category code.
pub fn expected(inputs: &[Input]) -> BTreeMap<String, Figures> {
    let mut out: BTreeMap<String, Figures> = BTreeMap::new();
    for i in inputs {
        let f = out.entry(i.category.to_string()).or_default();
        let created = i.ticket.created_ms;
        f.received += 1;
        match i.ticket.outcome() {
            Outcome::Open => {}
            Outcome::Withdraw(_) => f.dropped += 1,
            Outcome::Close(at) => {
                f.closed += 1;
                f.resolved += 1;
                f.handling_ms += at - created;
                f.durations.push(at - created);
                let due = due_in_force(created, at, &i.rules, i.located_in_grid);
                f.on_time += i64::from(at <= due);
                f.on_time_strict += i64::from(at <= created + i.rules.allowed_ms);
            }
        }
    }
    out
}

/// The bucket linli's interpolated 90th percentile lies in: the one where the histogram's
/// running count first reaches 90 % of the total, provided the value does lie within that
/// bucket's edges (the interpolation may land exactly on the upper edge).
fn p90_bucket(hist: &[i64; BUCKETS], value: f64) -> Option<usize> {
    let total: i64 = hist.iter().sum();
    let rank = 0.9 * total as f64;
    let mut seen = 0.0;
    for (b, &n) in hist.iter().enumerate() {
        if n <= 0 {
            continue;
        }
        seen += n as f64;
        if seen >= rank {
            let (lo, hi) = (kpi::bucket_floor_ms(b), kpi::bucket_floor_ms(b + 1));
            let inside = value >= lo - 1e-3 && (value <= hi + 1e-3 || b == BUCKETS - 1);
            return inside.then_some(b);
        }
    }
    None
}

fn hours(ms: f64) -> f64 {
    ms / 3_600_000.0
}

/// One cell: "source / linli ✓|✗".
fn cell(source: i64, linli: i64, ok: &mut bool) -> String {
    let same = source == linli;
    *ok &= same;
    format!(
        "{} / {} {}",
        crate::stats::group(source.max(0) as u64),
        crate::stats::group(linli.max(0) as u64),
        mark(same)
    )
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

/// One table row comparing a category (or the total); returns the row and whether it agrees.
fn compare_row(label: &str, src: &Figures, linli: &KpiRow) -> (String, bool) {
    let mut ok = true;
    let counts = [
        cell(src.received, linli.received, &mut ok),
        cell(src.dropped, linli.dropped, &mut ok),
        cell(src.closed, linli.closed, &mut ok),
        cell(src.on_time, linli.closed_on_time, &mut ok),
        cell(src.resolved, linli.resolved, &mut ok),
    ];
    let mean = |ms: i64, n: i64| (n > 0).then(|| hours(ms as f64 / n as f64));
    let (m_src, m_linli) = (
        mean(src.handling_ms, src.closed),
        mean(linli.handling_ms, linli.closed),
    );
    let mean_ok = match (m_src, m_linli) {
        (Some(a), Some(b)) => (a - b).abs() <= 0.01,
        (None, None) => true,
        _ => false,
    };
    let show = |v: Option<f64>| v.map_or("–".to_string(), |h| format!("{h:.2}"));
    let p_src = src.p90_ms();
    let p_linli = kpi::percentile_ms(&linli.hist, 0.9);
    let b_linli = p_linli.and_then(|v| p90_bucket(&linli.hist, v));
    let p90_ok = match (p_src, b_linli) {
        (Some(a), Some(b)) => kpi::bucket(a) == b,
        (None, None) => p_linli.is_none(),
        _ => false,
    };
    let hist_ok = src.hist() == linli.hist;
    ok &= mean_ok && p90_ok && hist_ok;
    let p90 = format!(
        "{} / {} (bucket {} / {}) {}",
        show(p_src.map(|v| hours(v as f64))),
        show(p_linli.map(hours)),
        p_src.map_or("–".into(), |v| kpi::bucket(v).to_string()),
        b_linli.map_or("–".into(), |b| b.to_string()),
        mark(p90_ok)
    );
    let strict = kpi::rate(src.on_time_strict, src.closed).map_or("–".to_string(), |r| {
        let n = crate::stats::group(src.on_time_strict.max(0) as u64);
        format!("{n} ({r:.1} %)")
    });
    let row = format!(
        "| {label} | {} | {} / {} {} | {p90} | {} | {strict} |\n",
        counts.join(" | "),
        show(m_src),
        show(m_linli),
        mark(mean_ok),
        mark(hist_ok),
    );
    (row, ok)
}

/// The comparison table, by category and in total; `true` when every figure agrees.
pub fn compare(
    expected: &BTreeMap<String, Figures>,
    linli: &[KpiRow],
    names: &BTreeMap<String, String>,
) -> (String, bool) {
    let mut md = String::from(
        "Each cell: source / linli. Counts must be equal; mean hours within 0.01 h; linli's p90 \
         (interpolated in its 48-bucket histogram) in the same bucket as the exact p90; the \
         histograms equal bucket by bucket. The last column (source only) is the strict \
         reading of on time, closed within the category's time of the report whatever \
         escalations happened.\n\n\
         | category | received | dropped | closed | closed on time | resolved | mean h | p90 h | histogram | on time, strict |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut all_ok = true;
    let mut total_src = Figures::default();
    let empty = KpiRow::total(&[]);
    let mut codes: Vec<&String> = expected.keys().collect();
    // A category linli counts and the source does not must show up too.
    for r in linli {
        if !expected.contains_key(&r.category) && !codes.contains(&&r.category) {
            codes.push(&r.category);
        }
    }
    let none = Figures::default();
    for code in codes {
        let src = expected.get(code).unwrap_or(&none);
        let ours = linli.iter().find(|r| &r.category == code).unwrap_or(&empty);
        let label = names
            .get(code)
            .map_or(code.clone(), |n| format!("{code} {n}"));
        let (row, ok) = compare_row(&label, src, ours);
        md.push_str(&row);
        all_ok &= ok;
        total_src.add(src);
    }
    let (row, ok) = compare_row("**total**", &total_src, &KpiRow::total(linli));
    md.push_str(&row);
    all_ok &= ok;
    (md, all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn rules(level: HandlingLevel, dept: bool) -> Rules {
        Rules {
            allowed_ms: 24 * H,
            grace_ms: 12 * H,
            level,
            has_department: dept,
        }
    }

    #[test]
    fn sweeps_fall_on_five_minute_marks() {
        assert_eq!(sweep_at_or_after(0), 0);
        assert_eq!(sweep_at_or_after(1), SWEEP_MS);
        assert_eq!(sweep_at_or_after(SWEEP_MS), SWEEP_MS);
        assert_eq!(sweep_at_or_after(-1), 0);
    }

    #[test]
    fn escalations_restart_the_deadline_up_to_the_top() {
        let r = rules(HandlingLevel::Grid, true);
        // Closed before the first escalation: the first due time.
        assert_eq!(due_in_force(0, 30 * H, &r, true), 24 * H);
        // Escalated at 36 h (grid → community): due 60 h.
        assert_eq!(due_in_force(0, 50 * H, &r, true), 60 * H);
        // Community → street at 72 h (due 96 h), street → department at 108 h (due 132 h),
        // and no further.
        assert_eq!(due_in_force(0, 100 * H, &r, true), 96 * H);
        assert_eq!(due_in_force(0, 130 * H, &r, true), 132 * H);
        assert_eq!(due_in_force(0, 1000 * H, &r, true), 132 * H);
        // Located only at a community: one step fewer.
        assert_eq!(due_in_force(0, 1000 * H, &r, false), 96 * H);
        // No department: the street is the top.
        let r = rules(HandlingLevel::Community, false);
        assert_eq!(due_in_force(0, 1000 * H, &r, true), 60 * H);
        // A closing at the very sweep moment of the escalation comes first.
        let r = rules(HandlingLevel::Grid, true);
        assert_eq!(due_in_force(0, 36 * H, &r, true), 24 * H);
        assert_eq!(due_in_force(0, 36 * H + 1, &r, true), 60 * H);
        // Due off a mark: the escalation waits for the next sweep, and so does the restart.
        assert_eq!(due_in_force(1, 36 * H + 2, &r, true), 24 * H + 1);
        assert_eq!(
            due_in_force(1, 37 * H, &r, true),
            36 * H + SWEEP_MS + 24 * H
        );
    }

    #[test]
    fn the_p90_bucket_is_where_the_running_count_reaches_90_percent() {
        let mut h = [0; BUCKETS];
        h[3] = 9;
        h[10] = 1;
        // Rank 9 of 10 falls on the last event of bucket 3: its upper edge counts as inside.
        assert_eq!(p90_bucket(&h, kpi::bucket_floor_ms(4)), Some(3));
        assert_eq!(p90_bucket(&h, kpi::bucket_floor_ms(3) * 1.1), Some(3));
        // A value outside the bucket is a disagreement.
        assert_eq!(p90_bucket(&h, kpi::bucket_floor_ms(10)), None);
        assert_eq!(p90_bucket(&[0; BUCKETS], 0.0), None);
    }

    #[test]
    fn p90_is_the_ceil_rank() {
        let f = Figures {
            durations: (1..=10).collect(),
            ..Figures::default()
        };
        assert_eq!(f.p90_ms(), Some(9));
        assert_eq!(Figures::default().p90_ms(), None);
    }
}
