//! The alarm rules over 28 real days of a person living alone (van Kasteren house A, read
//! from ../shared/data/sensors, not part of this repository): no inactivity alarm for its
//! nights or its days and weekends away, and anomalies injected into it (all events cut
//! after a daytime moment at home; the front door at 3 a.m. with no return) each caught
//! within the rule's window. The front door is the household's door contact; every other
//! sensor (cupboards, inner doors, the toilet flush) stands for indoor activity.

use std::path::PathBuf;

use linli_core::care::{DeviceKind, Reading, ReadingKind};
use linli_core::care_kasteren::{cut_points, events, hour, FILE, FRONT_DOOR};
use linli_core::care_rules::{AlarmKind, Change, Household, Rules};
use linli_core::china_time;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// How often the engine is ticked between readings (what linli's timer does).
const TICK: i64 = MINUTE;

fn data() -> Option<String> {
    let base = std::env::var("LINLI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = base.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipping: {} ({e}); set LINLI_SHARED_DATA", path.display());
            None
        }
    }
}

/// Replays `events` up to `until` through the rules, ticking every minute, and returns what
/// was raised with when.
fn replay(events: &[(i64, u32)], until: i64) -> Vec<(i64, AlarmKind, i64)> {
    let rules = Rules::default();
    let mut h = Household::default();
    let mut raised = Vec::new();
    let mut keep = |changes: Vec<Change>| {
        for c in changes {
            if let Change::Raised {
                kind, at, since, ..
            } = c
            {
                raised.push((at, kind, since));
            }
        }
    };
    let Some(&(first, _)) = events.first() else {
        return raised;
    };
    let mut clock = first;
    for (seq, &(t, sensor)) in events.iter().enumerate() {
        while clock + TICK <= t {
            clock += TICK;
            keep(h.tick(&rules, clock));
        }
        let (device, kind, reading) = if sensor == FRONT_DOOR {
            (1, DeviceKind::Door, ReadingKind::Door)
        } else {
            (2, DeviceKind::Motion, ReadingKind::Motion)
        };
        let r = Reading {
            seq: seq as i64,
            ts_ms: t,
            kind: reading,
            value: Some(1.0),
        };
        keep(h.observe(&rules, device, kind, &r));
    }
    while clock + TICK <= until {
        clock += TICK;
        keep(h.tick(&rules, clock));
    }
    raised
}

#[test]
fn four_weeks_of_a_life_raise_no_false_alarm() {
    let Some(text) = data() else {
        return;
    };
    let events = events(&text);
    assert!(events.len() > 2_000, "{} events", events.len());
    let last = events.last().map(|e| e.0).unwrap_or_default();
    let raised = replay(&events, last);
    for (at, kind, since) in &raised {
        eprintln!(
            "{kind:?} at {} (since {})",
            china_time::rfc3339(*at),
            china_time::rfc3339(*since)
        );
    }
    assert!(raised.is_empty(), "{} false alarms", raised.len());
}

#[test]
fn a_stop_at_home_and_a_night_exit_are_caught_within_the_window() {
    let Some(text) = data() else {
        return;
    };
    let events = events(&text);
    let start = events[0].0 + 8 * 24 * HOUR;
    let cuts = cut_points(&events);
    assert!(cuts.len() >= 5, "{} cut points", cuts.len());
    let mut delays = Vec::new();
    for &(t, i) in &cuts {
        for quiet_hours in [6, 12, 24] {
            let raised = replay(&events[..=i], t + quiet_hours * HOUR);
            let caught = raised
                .iter()
                .find(|(at, kind, _)| *kind == AlarmKind::Inactivity && *at > t);
            let Some((at, _, _)) = caught else {
                panic!(
                    "nothing after {} for {quiet_hours} h was not caught: {raised:?}",
                    china_time::rfc3339(t)
                );
            };
            delays.push((at - t) / MINUTE);
        }
    }
    delays.sort_unstable();
    eprintln!("detection delays (min): {delays:?}");

    // The front door at 3 a.m. on a night at home, and nothing after it.
    let night = events
        .iter()
        .position(|&(t, _)| t >= start && hour(t) >= 22)
        .expect("an evening");
    let mut cut: Vec<(i64, u32)> = events[..=night].to_vec();
    let three = {
        let t = cut[night].0;
        let day_start = t - (t + china_time::OFFSET_MS).rem_euclid(24 * HOUR);
        day_start + 27 * HOUR
    };
    cut.push((three, FRONT_DOOR));
    let raised = replay(&cut, three + 2 * HOUR);
    let exit = raised
        .iter()
        .find(|(_, kind, _)| *kind == AlarmKind::NightExit)
        .expect("the night exit is caught");
    assert!(
        exit.0 - three <= 31 * MINUTE,
        "{} min",
        (exit.0 - three) / MINUTE
    );
}
