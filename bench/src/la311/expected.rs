//! The figures the replay must produce, computed from the parsed CSV rows in plain Rust,
//! and their comparison with what linli reports (`Store::event_kpis`).
//!
//! "Closed on time" is linli's rule (README, Deadlines): closed within the time promised at
//! the report, the category's allowed time, which escalations do not move (the replay asks
//! for no extensions and reopens nothing).

use std::collections::BTreeMap;

use linli_core::events::kpi::{self, BUCKETS};
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

/// One category's figures over the replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub received: i64,
    pub dropped: i64,
    pub closed: i64,
    pub on_time: i64,
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

/// A ticket as the expectation needs it: its category code and that category's allowed
/// time (ms).
pub struct Input<'a> {
    pub ticket: &'a Ticket,
    pub category: &'a str,
    pub allowed_ms: i64,
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
                f.on_time += i64::from(at <= created + i.allowed_ms);
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
    let row = format!(
        "| {label} | {} | {} / {} {} | {p90} | {} |\n",
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
         histograms equal bucket by bucket.\n\n\
         | category | received | dropped | closed | closed on time | resolved | mean h | p90 h | histogram |\n\
         |---|---|---|---|---|---|---|---|---|\n",
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

    #[test]
    fn sweeps_fall_on_five_minute_marks() {
        assert_eq!(sweep_at_or_after(0), 0);
        assert_eq!(sweep_at_or_after(1), SWEEP_MS);
        assert_eq!(sweep_at_or_after(SWEEP_MS), SWEEP_MS);
        assert_eq!(sweep_at_or_after(-1), 0);
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
