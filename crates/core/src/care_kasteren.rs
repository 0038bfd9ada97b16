//! The van Kasteren house A recording (28 days of a person living alone, read from
//! `../shared/data/sensors`, not part of this repository) as the care rules see it, shared by
//! the rules' test and the care benchmark so that both replay the same events and inject the
//! same anomalies. The front door is the household's door contact; every other sensor
//! (cupboards, inner doors, the toilet flush) stands for indoor activity.

use chrono::NaiveDateTime;

use crate::china_time;

/// The front door's sensor id in the recording.
pub const FRONT_DOOR: u32 = 12;
/// The recording's file, under the shared data directory.
pub const FILE: &str = "sensors/kasteren_houseA/kasterenSenseData.txt";

const HOUR: i64 = 3_600_000;

/// (time, sensor) of every sensor change: each row of the recording is an interval, ON at
/// its start and OFF at its end, both activity. Rows that cannot be read are skipped (the
/// file has a header).
pub fn events(text: &str) -> Vec<(i64, u32)> {
    let time = |s: &str| {
        NaiveDateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S")
            .map(china_time::from_reading)
            .ok()
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [start, end, id, _] = cols[..] else {
            continue;
        };
        let (Some(start), Some(end), Ok(id)) = (time(start), time(end), id.trim().parse::<u32>())
        else {
            continue;
        };
        out.push((start, id));
        out.push((end, id));
    }
    out.sort();
    out
}

/// The hour of the day (China's time) of `ms`.
pub fn hour(ms: i64) -> u32 {
    china_time::format(ms, "%H").parse().unwrap_or(0)
}

/// Where to cut all events to inject a stop at home: from day 8 on (the normal learned), the
/// first indoor event between 10:00 and 16:00 of each day when the person is at home (the
/// next event is not the front door). Each is (time, index in `events`).
pub fn cut_points(events: &[(i64, u32)]) -> Vec<(i64, usize)> {
    let Some(&(first, _)) = events.first() else {
        return Vec::new();
    };
    let start = first + 8 * 24 * HOUR;
    let mut cuts: Vec<(i64, usize)> = Vec::new();
    for (i, w) in events.windows(2).enumerate() {
        let ((t, s), (_, next)) = (w[0], w[1]);
        let fresh_day = cuts.last().is_none_or(|&(c, _)| t - c > 20 * HOUR);
        if t >= start
            && hour(t) >= 10
            && hour(t) < 16
            && s != FRONT_DOOR
            && next != FRONT_DOOR
            && fresh_day
        {
            cuts.push((t, i));
        }
    }
    cuts
}

/// 3 a.m. of each night from day 8 on when the person is at home then (the latest event
/// before it is indoors, and the night is within the recording): where a night exit is
/// injected.
pub fn night_exits(events: &[(i64, u32)]) -> Vec<i64> {
    let (Some(&(first, _)), Some(&(last, _))) = (events.first(), events.last()) else {
        return Vec::new();
    };
    let day = 24 * HOUR;
    let local_midnight = |t: i64| t - (t + china_time::OFFSET_MS).rem_euclid(day);
    let mut out = Vec::new();
    let mut three = local_midnight(first + 8 * day) + 3 * HOUR;
    while three < last {
        let before = events.partition_point(|&(t, _)| t < three);
        if before > 0 && events[before - 1].1 != FRONT_DOOR {
            out.push(three);
        }
        three += day;
    }
    out
}
