//! The arithmetic of the leaders' figures: China-time days, the day and month spans a
//! period is cut into, the handling-time histogram and its percentiles, and the rates.
//!
//! Figures are kept per region (and department), category and span: a calendar month for
//! the whole months inside a period, single days for its ragged edges, so a year's figures
//! for a district read about 12 + 60 rows per category instead of every event.

use chrono::{Datelike, NaiveDate};

use crate::china_time::OFFSET_MS as CHINA_MS;
use crate::events::DAY_MS;

/// Days since 1970-01-01 in China time.
pub fn china_day(ms: i64) -> i64 {
    (ms + CHINA_MS).div_euclid(DAY_MS)
}

/// The first instant (ms) of a China-time day.
pub fn day_start_ms(day: i64) -> i64 {
    day * DAY_MS - CHINA_MS
}

pub fn day_of(date: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days()
}

pub fn date_of(day: i64) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    epoch + chrono::Duration::days(day)
}

/// The first day of the month holding `day`.
pub fn month_start(day: i64) -> i64 {
    let d = date_of(day);
    day_of(d.with_day(1).unwrap_or(d))
}

/// The first day of the month after the one holding `day`.
pub fn next_month(day: i64) -> i64 {
    let d = date_of(day);
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).map_or(day + 31, day_of)
}

/// How a period is read: whole months, and the single days outside them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cover {
    /// First days of the whole months inside the period.
    pub months: Vec<i64>,
    /// Half-open runs of days `[start, end)` not covered by a whole month.
    pub days: Vec<(i64, i64)>,
}

/// Cuts the days `[from, to)` into whole months and ragged edges.
pub fn cover(from: i64, to: i64) -> Cover {
    let mut c = Cover::default();
    if to <= from {
        return c;
    }
    let first_whole = if month_start(from) == from {
        from
    } else {
        next_month(from)
    };
    if first_whole >= to {
        c.days.push((from, to));
        return c;
    }
    if from < first_whole {
        c.days.push((from, first_whole));
    }
    let mut m = first_whole;
    while next_month(m) <= to {
        c.months.push(m);
        m = next_month(m);
    }
    if m < to {
        c.days.push((m, to));
    }
    c
}

/// Handling-time histogram buckets: bucket 0 is under 5 minutes; bucket `i` ≥ 1 holds
/// `[5·2^((i−1)/3), 5·2^(i/3))` minutes, so a bucket is 26 % wide and the last one (47)
/// holds everything from about 227 days on.
pub const BUCKETS: usize = 48;
const FIRST_MINUTES: f64 = 5.0;

/// The lower bound of a bucket, in ms.
pub fn bucket_floor_ms(b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        FIRST_MINUTES * 60_000.0 * 2f64.powf((b as f64 - 1.0) / 3.0)
    }
}

pub fn bucket(handling_ms: i64) -> usize {
    let minutes = handling_ms.max(0) as f64 / 60_000.0;
    if minutes < FIRST_MINUTES {
        return 0;
    }
    let i = ((minutes / FIRST_MINUTES).log2() * 3.0).floor() as usize + 1;
    i.min(BUCKETS - 1)
}

/// The `q` quantile (0–1) of a histogram, interpolated geometrically inside its bucket;
/// `None` for an empty one. Off from the exact figure by at most the bucket's width (26 %),
/// and in practice by a few percent.
pub fn percentile_ms(hist: &[i64; BUCKETS], q: f64) -> Option<f64> {
    let total: i64 = hist.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut seen = 0.0;
    for (b, &n) in hist.iter().enumerate() {
        if n <= 0 {
            continue;
        }
        let next = seen + n as f64;
        if next >= rank {
            let within = ((rank - seen) / n as f64).clamp(0.0, 1.0);
            let lo = bucket_floor_ms(b);
            let hi = bucket_floor_ms(b + 1);
            return Some(if b == 0 {
                hi * within
            } else {
                lo * (hi / lo).powf(within)
            });
        }
        seen = next;
    }
    Some(bucket_floor_ms(BUCKETS - 1))
}

/// A share as a percentage with one decimal, `None` when nothing was counted.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_turn_over_at_beijing_midnight() {
        // 2026-11-23 16:00 UTC is 2026-11-24 00:00 in Beijing.
        let utc = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(16, 0, 0))
            .expect("time")
            .and_utc()
            .timestamp_millis();
        assert_eq!(date_of(china_day(utc)).to_string(), "2026-11-24");
        assert_eq!(date_of(china_day(utc - 1)).to_string(), "2026-11-23");
        assert_eq!(day_start_ms(china_day(utc)), utc);
    }

    #[test]
    fn a_period_is_whole_months_and_edge_days() {
        let d = |s: &str| day_of(s.parse().expect("date"));
        let c = cover(d("2026-01-15"), d("2026-04-10"));
        assert_eq!(c.months, vec![d("2026-02-01"), d("2026-03-01")]);
        assert_eq!(
            c.days,
            vec![
                (d("2026-01-15"), d("2026-02-01")),
                (d("2026-04-01"), d("2026-04-10"))
            ]
        );
        let c = cover(d("2026-01-01"), d("2027-01-01"));
        assert_eq!(c.months.len(), 12);
        assert!(c.days.is_empty());
        let c = cover(d("2026-03-03"), d("2026-03-09"));
        assert!(c.months.is_empty());
        assert_eq!(c.days, vec![(d("2026-03-03"), d("2026-03-09"))]);
        assert_eq!(
            cover(d("2026-12-10"), d("2027-01-01")).days,
            vec![(d("2026-12-10"), d("2027-01-01"))]
        );
        assert_eq!(cover(5, 5), Cover::default());
    }

    #[test]
    fn the_histogram_percentile_is_close_to_the_exact_one() {
        // Handling times from 10 minutes to about 10 days, spread log-uniformly.
        let times: Vec<i64> = (0..1000)
            .map(|i| (10.0 * 60_000.0 * 1440f64.powf(i as f64 / 999.0)) as i64)
            .collect();
        let mut hist = [0i64; BUCKETS];
        for t in &times {
            hist[bucket(*t)] += 1;
        }
        let exact = times[899] as f64;
        let approx = percentile_ms(&hist, 0.9).expect("p90");
        assert!((approx / exact - 1.0).abs() < 0.05, "{approx} vs {exact}");
        assert_eq!(percentile_ms(&[0; BUCKETS], 0.9), None);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(5 * 60_000), 1);
        assert_eq!(bucket(i64::MAX), BUCKETS - 1);
        for b in 1..BUCKETS - 1 {
            let mid = (bucket_floor_ms(b) * 1.1) as i64;
            assert_eq!(bucket(mid), b);
        }
        assert_eq!(rate(1, 3), Some(33.3));
        assert_eq!(rate(0, 0), None);
    }
}
