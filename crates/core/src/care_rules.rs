//! Care's alarm rules, as data a household may change, and the state machine that applies
//! them to one household's readings in time order. It reads no clock: every change is due to
//! a reading or to [`Household::tick`] with a time, so a replay of old readings raises the
//! alarms it would have raised then, and the state, serialised, survives a restart.
//!
//! The rules:
//! - **immediate**: an SOS press, smoke, gas: critical at once;
//! - **inactivity** (反向报警): no door or motion activity for longer than this household's
//!   normal for that time of day, learned from its own gaps (the default until enough days
//!   are seen); not while the person is away (the front door was the last activity, nothing
//!   indoors since), and the sleeping window's hours do not count unless the bed is empty;
//! - **night exit**: the front door at night and nothing indoors within a set time;
//! - **bed exit**: out of bed in the sleeping window and not back within a set time;
//! - **vitals**: heart or breath rate out of range for N readings in a row;
//! - **offline**: a device that sends heartbeats silent for longer than a set time;
//! - **low battery**.
//!
//! The front door is the household's door contact (门磁); indoor activity is motion (红外).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::care::{DeviceKind, Reading, ReadingKind};
use crate::china_time::OFFSET_MS;
use crate::Problem;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;
/// Weeks of gaps kept for the learned normal.
const WEEKS: usize = 4;

/// How urgent an alarm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Acknowledge within 15 minutes.
    Critical,
    Warning,
    Info,
}

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Sos,
    Smoke,
    Gas,
    Inactivity,
    NightExit,
    BedExit,
    Vitals,
    Offline,
    LowBattery,
}

impl AlarmKind {
    /// The translation table's key of the alarm's name.
    pub fn text_key(self) -> &'static str {
        match self {
            AlarmKind::Sos => "care.alarm.sos",
            AlarmKind::Smoke => "care.alarm.smoke",
            AlarmKind::Gas => "care.alarm.gas",
            AlarmKind::Inactivity => "care.alarm.inactivity",
            AlarmKind::NightExit => "care.alarm.night_exit",
            AlarmKind::BedExit => "care.alarm.bed_exit",
            AlarmKind::Vitals => "care.alarm.vitals",
            AlarmKind::Offline => "care.alarm.offline",
            AlarmKind::LowBattery => "care.alarm.low_battery",
        }
    }

    pub const ALL: [AlarmKind; 9] = [
        AlarmKind::Sos,
        AlarmKind::Smoke,
        AlarmKind::Gas,
        AlarmKind::Inactivity,
        AlarmKind::NightExit,
        AlarmKind::BedExit,
        AlarmKind::Vitals,
        AlarmKind::Offline,
        AlarmKind::LowBattery,
    ];

    pub fn parse(code: &str) -> Option<AlarmKind> {
        AlarmKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            AlarmKind::Sos => "sos",
            AlarmKind::Smoke => "smoke",
            AlarmKind::Gas => "gas",
            AlarmKind::Inactivity => "inactivity",
            AlarmKind::NightExit => "night_exit",
            AlarmKind::BedExit => "bed_exit",
            AlarmKind::Vitals => "vitals",
            AlarmKind::Offline => "offline",
            AlarmKind::LowBattery => "low_battery",
        }
    }
}

/// A window of the day in China's time, minutes from midnight; it may wrap midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayWindow {
    pub start_min: u32,
    pub end_min: u32,
}

impl DayWindow {
    fn contains(self, ms: i64) -> bool {
        let m = minute_of_day(ms);
        if self.start_min <= self.end_min {
            (self.start_min..self.end_min).contains(&m)
        } else {
            m >= self.start_min || m < self.end_min
        }
    }

    /// How much of `[from, to)` lies in the window, in ms.
    fn overlap(self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let local_from = from + OFFSET_MS;
        let local_to = to + OFFSET_MS;
        let (s, e) = (
            i64::from(self.start_min) * MINUTE,
            i64::from(self.end_min) * MINUTE,
        );
        // Each day's window, from the day before `from` (a window that wraps midnight starts
        // the evening before).
        let mut total = 0;
        let mut day = local_from.div_euclid(DAY) - 1;
        while day * DAY < local_to {
            let (a, b) = if s <= e {
                (day * DAY + s, day * DAY + e)
            } else {
                (day * DAY + s, (day + 1) * DAY + e)
            };
            total += (b.min(local_to) - a.max(local_from)).max(0);
            day += 1;
        }
        total
    }
}

fn minute_of_day(ms: i64) -> u32 {
    ((ms + OFFSET_MS).rem_euclid(DAY) / MINUTE) as u32
}

fn hour_of_day(ms: i64) -> usize {
    (minute_of_day(ms) / 60) as usize
}

/// A household's rules. Every field has a default; a community worker may change them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// Inactivity allowed until enough days are learned, minutes.
    pub inactivity_default_min: u32,
    /// Days of readings before the learned normal replaces the default.
    pub learn_days: u32,
    /// The learned normal for an hour is the longest gap seen starting in it, times this.
    pub learned_margin: f64,
    /// The learned normal is never shorter than this, minutes.
    pub inactivity_floor_min: u32,
    /// When the person sleeps: its hours do not count as inactivity (unless the bed is empty).
    pub sleep: DayWindow,
    /// The front door opened in this window with nothing indoors afterwards is a night exit.
    pub night: DayWindow,
    /// Minutes after a night-time front door without indoor activity before the alarm.
    pub night_exit_min: u32,
    /// Minutes out of bed in the sleeping window before the alarm.
    pub bed_exit_min: u32,
    pub heart_rate: (f64, f64),
    pub breath_rate: (f64, f64),
    /// Readings out of range in a row before the alarm (and in range to clear it).
    pub vitals_in_a_row: u32,
    /// Minutes of silence from a device before it is offline.
    pub offline_min: u32,
    /// Battery per cent below which the alarm is raised, and at or above which it clears.
    pub battery_low: f64,
    pub battery_ok: f64,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            inactivity_default_min: 12 * 60,
            learn_days: 7,
            learned_margin: 1.25,
            inactivity_floor_min: 2 * 60,
            sleep: DayWindow {
                start_min: 22 * 60,
                end_min: 7 * 60,
            },
            night: DayWindow {
                start_min: 0,
                end_min: 5 * 60,
            },
            night_exit_min: 30,
            bed_exit_min: 30,
            heart_rate: (40.0, 130.0),
            breath_rate: (8.0, 30.0),
            vitals_in_a_row: 3,
            offline_min: 60,
            battery_low: 20.0,
            battery_ok: 30.0,
        }
    }
}

impl Rules {
    /// Whether the rules make sense; the first field that does not, said how to fix.
    pub fn check(&self) -> Result<(), Problem> {
        let bad = |field: &'static str, expected: &str| {
            Err(Problem::new("care_bad_rule", "care.bad_rule")
                .arg("field", field)
                .arg("expected", expected.to_string())
                .field(field))
        };
        let day = 24 * 60;
        if !(60..=7 * day).contains(&self.inactivity_default_min) {
            return bad("inactivity_default_min", "60–10080");
        }
        if !(1..=60).contains(&self.learn_days) {
            return bad("learn_days", "1–60");
        }
        if !(1.0..=5.0).contains(&self.learned_margin) {
            return bad("learned_margin", "1–5");
        }
        if !(15..=self.inactivity_default_min).contains(&self.inactivity_floor_min) {
            return bad("inactivity_floor_min", "15 to inactivity_default_min");
        }
        for (field, w) in [("sleep", self.sleep), ("night", self.night)] {
            if w.start_min >= day || w.end_min >= day || w.start_min == w.end_min {
                return bad(field, "start_min and end_min 0–1439, not equal");
            }
        }
        for (field, m) in [
            ("night_exit_min", self.night_exit_min),
            ("bed_exit_min", self.bed_exit_min),
        ] {
            if !(5..=240).contains(&m) {
                return bad(field, "5–240");
            }
        }
        for (field, (lo, hi), max) in [
            ("heart_rate", self.heart_rate, 300.0),
            ("breath_rate", self.breath_rate, 100.0),
        ] {
            if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi && hi <= max) {
                return bad(field, "[low, high] with 0 ≤ low < high");
            }
        }
        if !(1..=20).contains(&self.vitals_in_a_row) {
            return bad("vitals_in_a_row", "1–20");
        }
        if !(5..=7 * day).contains(&self.offline_min) {
            return bad("offline_min", "5–10080");
        }
        let battery_fine = (0.0..=100.0).contains(&self.battery_low)
            && (self.battery_low..=100.0).contains(&self.battery_ok);
        if !battery_fine {
            return bad("battery_low", "0 ≤ battery_low ≤ battery_ok ≤ 100");
        }
        Ok(())
    }
}

/// An alarm raised or cleared.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `since` is when the condition began (the last activity, the door, the press).
    Raised {
        kind: AlarmKind,
        severity: Severity,
        device: i64,
        at: i64,
        since: i64,
    },
    /// The condition is over (the handler still closes the alarm with its outcome).
    Cleared {
        kind: AlarmKind,
        device: i64,
        at: i64,
    },
}

/// The longest awake-time gaps between activities, per hour of the day they began, per
/// week: the household's own normal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Learned {
    /// Minutes, per week (by week number since 1970) and hour.
    weeks: Vec<(i64, [u32; 24])>,
    /// The first activity seen.
    first: Option<i64>,
}

impl Learned {
    fn record(&mut self, began: i64, minutes: u32) {
        let week = began.div_euclid(7 * DAY);
        if !self.weeks.iter().any(|(w, _)| *w == week) {
            self.weeks.push((week, [0; 24]));
            self.weeks.sort_by_key(|(w, _)| *w);
            if self.weeks.len() > WEEKS {
                self.weeks.remove(0);
            }
        }
        if let Some((_, hours)) = self.weeks.iter_mut().find(|(w, _)| *w == week) {
            let h = &mut hours[hour_of_day(began)];
            *h = (*h).max(minutes);
        }
    }

    /// The inactivity allowed after an activity at `began`, at `now`, in awake minutes.
    fn allowed(&self, rules: &Rules, began: i64, now: i64) -> u32 {
        let enough = self
            .first
            .is_some_and(|f| now - f >= i64::from(rules.learn_days) * DAY);
        if !enough {
            return rules.inactivity_default_min;
        }
        let h = hour_of_day(began);
        let longest = self
            .weeks
            .iter()
            .map(|(_, hours)| hours[h])
            .max()
            .unwrap_or(0);
        ((f64::from(longest) * rules.learned_margin).round() as u32).max(rules.inactivity_floor_min)
    }
}

/// What one device last said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct DeviceSeen {
    last: i64,
    /// Whether it sends heartbeats: only such a device can be told offline (a door contact
    /// that only speaks when the door moves is not offline for being quiet).
    beats: bool,
    /// Out-of-range (positive) or in-range (negative) readings in a row, for vitals.
    run: i32,
}

/// The alarms raised and not cleared: (kind, device, when raised). A list, not a map, so
/// that it is JSON as it is (a map's keys would have to be strings); a household has few.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct OpenAlarms(Vec<(AlarmKind, i64, i64)>);

impl OpenAlarms {
    fn contains(&self, kind: AlarmKind, device: i64) -> bool {
        self.0.iter().any(|(k, d, _)| *k == kind && *d == device)
    }

    /// Removes the alarm; whether it was open.
    fn remove(&mut self, kind: AlarmKind, device: i64) -> bool {
        let before = self.0.len();
        self.0.retain(|(k, d, _)| !(*k == kind && *d == device));
        self.0.len() != before
    }
}

/// One household's rule state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Household {
    /// The latest door or motion activity, and its device.
    last_activity: Option<(i64, i64)>,
    /// Whether the latest activity was the front door (the person may have gone out).
    door_last: bool,
    /// When the bed was left, if it is empty now.
    bed_out_since: Option<(i64, i64)>,
    /// The latest reading time per device.
    devices: BTreeMap<i64, DeviceSeen>,
    learned: Learned,
    /// The alarms raised and not cleared, per (kind, device).
    open: OpenAlarms,
}

impl Household {
    /// Applies a reading from device `device` (of `kind`), in time order.
    pub fn observe(
        &mut self,
        rules: &Rules,
        device: i64,
        kind: DeviceKind,
        r: &Reading,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        let seen = self.devices.entry(device).or_default();
        seen.last = seen.last.max(r.ts_ms);
        seen.beats |= r.kind == ReadingKind::Heartbeat;
        self.clear(AlarmKind::Offline, device, r.ts_ms, &mut out);
        let on = r.value.is_some_and(|v| v >= 0.5);
        match r.kind {
            ReadingKind::Sos if on => self.raise(
                AlarmKind::Sos,
                Severity::Critical,
                device,
                r.ts_ms,
                r.ts_ms,
                &mut out,
            ),
            ReadingKind::Smoke | ReadingKind::Gas => {
                let alarm = if r.kind == ReadingKind::Smoke {
                    AlarmKind::Smoke
                } else {
                    AlarmKind::Gas
                };
                if on {
                    self.raise(
                        alarm,
                        Severity::Critical,
                        device,
                        r.ts_ms,
                        r.ts_ms,
                        &mut out,
                    );
                } else {
                    self.clear(alarm, device, r.ts_ms, &mut out);
                }
            }
            ReadingKind::Door | ReadingKind::Motion => {
                self.activity(rules, device, kind, r.ts_ms, &mut out)
            }
            ReadingKind::Bed => {
                if on {
                    self.bed_out_since = None;
                    self.clear(AlarmKind::BedExit, device, r.ts_ms, &mut out);
                } else if self.bed_out_since.is_none() {
                    self.bed_out_since = Some((r.ts_ms, device));
                }
            }
            ReadingKind::HeartRate | ReadingKind::BreathRate => {
                let (lo, hi) = if r.kind == ReadingKind::HeartRate {
                    rules.heart_rate
                } else {
                    rules.breath_rate
                };
                let out_of_range = r.value.is_some_and(|v| v < lo || v > hi);
                let n = rules.vitals_in_a_row as i32;
                let seen = self.devices.entry(device).or_default();
                seen.run = match (out_of_range, seen.run) {
                    (true, run) if run > 0 => run + 1,
                    (true, _) => 1,
                    (false, run) if run < 0 => run - 1,
                    (false, _) => -1,
                };
                let run = seen.run;
                if run >= n {
                    self.raise(
                        AlarmKind::Vitals,
                        Severity::Critical,
                        device,
                        r.ts_ms,
                        r.ts_ms,
                        &mut out,
                    );
                } else if run <= -n {
                    self.clear(AlarmKind::Vitals, device, r.ts_ms, &mut out);
                }
            }
            ReadingKind::Battery => match r.value {
                Some(v) if v < rules.battery_low => self.raise(
                    AlarmKind::LowBattery,
                    Severity::Info,
                    device,
                    r.ts_ms,
                    r.ts_ms,
                    &mut out,
                ),
                Some(v) if v >= rules.battery_ok => {
                    self.clear(AlarmKind::LowBattery, device, r.ts_ms, &mut out)
                }
                _ => {}
            },
            ReadingKind::Sos | ReadingKind::Heartbeat => {}
        }
        out
    }

    /// A door or motion event: the household is active; the gap it ends is learned.
    fn activity(
        &mut self,
        rules: &Rules,
        device: i64,
        kind: DeviceKind,
        at: i64,
        out: &mut Vec<Change>,
    ) {
        let indoor = kind != DeviceKind::Door;
        if let Some((prev, _)) = self.last_activity {
            // Gaps while away are not the household's normal at home.
            if at > prev && !self.door_last {
                let awake = awake_ms(rules, prev, at, false);
                self.learned
                    .record(awake_from(rules, prev), (awake / MINUTE) as u32);
            }
        }
        self.learned.first.get_or_insert(at);
        if self.last_activity.is_none_or(|(prev, _)| at >= prev) {
            self.last_activity = Some((at, device));
            self.door_last = !indoor;
        }
        if indoor {
            for kind in [AlarmKind::Inactivity, AlarmKind::NightExit] {
                let raised: Vec<i64> = self
                    .open
                    .0
                    .iter()
                    .filter(|(k, _, _)| *k == kind)
                    .map(|(_, d, _)| *d)
                    .collect();
                for d in raised {
                    self.clear(kind, d, at, out);
                }
            }
        }
    }

    /// Applies the passing of time up to `now`: inactivity, night exit, bed exit, offline.
    pub fn tick(&mut self, rules: &Rules, now: i64) -> Vec<Change> {
        let mut out = Vec::new();
        if let Some((last, device)) = self.last_activity {
            let bed_empty = self.bed_out_since.is_some();
            if self.door_last {
                let waited = now - last >= i64::from(rules.night_exit_min) * MINUTE;
                if rules.night.contains(last) && waited {
                    self.raise(
                        AlarmKind::NightExit,
                        Severity::Critical,
                        device,
                        now,
                        last,
                        &mut out,
                    );
                }
            } else {
                let allowed =
                    i64::from(self.learned.allowed(rules, awake_from(rules, last), now)) * MINUTE;
                if awake_ms(rules, last, now, bed_empty) > allowed {
                    self.raise(
                        AlarmKind::Inactivity,
                        Severity::Critical,
                        device,
                        now,
                        last,
                        &mut out,
                    );
                }
            }
        }
        if let Some((since, device)) = self.bed_out_since {
            if rules.sleep.contains(since) && now - since >= i64::from(rules.bed_exit_min) * MINUTE
            {
                self.raise(
                    AlarmKind::BedExit,
                    Severity::Warning,
                    device,
                    now,
                    since,
                    &mut out,
                );
            }
        }
        let silent: Vec<(i64, i64)> = self
            .devices
            .iter()
            .filter(|(_, s)| s.beats && now - s.last > i64::from(rules.offline_min) * MINUTE)
            .map(|(d, s)| (*d, s.last))
            .collect();
        for (device, last) in silent {
            self.raise(
                AlarmKind::Offline,
                Severity::Warning,
                device,
                now,
                last,
                &mut out,
            );
        }
        out
    }

    /// The earliest time after `now` at which [`Household::tick`] could raise an alarm, or
    /// `None` when none can come from time alone: linli ticks the household then, not every
    /// minute. The time is never late (awake time runs no faster than the clock); ticking
    /// early only finds nothing and asks again. An overdue condition is due `now`.
    pub fn next_due(&self, rules: &Rules, now: i64) -> Option<i64> {
        let open = |kind, device| self.open.contains(kind, device);
        // When a condition holds from `t` on (`>=` in `tick`), or just after it (`>`).
        let from = |t: i64| t.max(now);
        let after = |t: i64| (t + 1).max(now);
        let mut due: Vec<i64> = Vec::new();
        if let Some((last, device)) = self.last_activity {
            if self.door_last {
                if rules.night.contains(last) && !open(AlarmKind::NightExit, device) {
                    due.push(from(last + i64::from(rules.night_exit_min) * MINUTE));
                }
            } else if !open(AlarmKind::Inactivity, device) {
                let allowed =
                    i64::from(self.learned.allowed(rules, awake_from(rules, last), now)) * MINUTE;
                let awake = awake_ms(rules, last, now, self.bed_out_since.is_some());
                due.push(after(now + (allowed - awake).max(0)));
            }
        }
        if let Some((since, device)) = self.bed_out_since {
            if rules.sleep.contains(since) && !open(AlarmKind::BedExit, device) {
                due.push(from(since + i64::from(rules.bed_exit_min) * MINUTE));
            }
        }
        for (device, seen) in &self.devices {
            if seen.beats && !open(AlarmKind::Offline, *device) {
                due.push(after(seen.last + i64::from(rules.offline_min) * MINUTE));
            }
        }
        due.into_iter().min()
    }

    fn raise(
        &mut self,
        kind: AlarmKind,
        severity: Severity,
        device: i64,
        at: i64,
        since: i64,
        out: &mut Vec<Change>,
    ) {
        if self.open.contains(kind, device) {
            return;
        }
        self.open.0.push((kind, device, at));
        out.push(Change::Raised {
            kind,
            severity,
            device,
            at,
            since,
        });
    }

    fn clear(&mut self, kind: AlarmKind, device: i64, at: i64, out: &mut Vec<Change>) {
        if self.open.remove(kind, device) {
            out.push(Change::Cleared { kind, device, at });
        }
    }

    /// A handler closed the alarm: the rule may raise it again.
    pub fn resolved(&mut self, kind: AlarmKind, device: i64) {
        self.open.remove(kind, device);
    }

    /// The alarms raised and not cleared.
    pub fn open(&self) -> impl Iterator<Item = (AlarmKind, i64)> + '_ {
        self.open.0.iter().map(|(k, d, _)| (*k, *d))
    }
}

/// When the awake time after an activity at `at` begins: at once, or when the sleeping
/// window ends if it falls inside it. A gap is learned under that hour, so that "up at 6,
/// back to bed, up again at 9:30" teaches the morning's normal, not 6 o'clock's.
fn awake_from(rules: &Rules, at: i64) -> i64 {
    if !rules.sleep.contains(at) {
        return at;
    }
    let local = at + OFFSET_MS;
    let day = local.div_euclid(DAY) * DAY;
    let end = i64::from(rules.sleep.end_min) * MINUTE;
    let next_end = if local - day < end {
        day + end
    } else {
        day + DAY + end
    };
    next_end - OFFSET_MS
}

/// The time from `from` to `to` that counts as awake: all of it when the bed is empty,
/// else all but the sleeping window's hours.
fn awake_ms(rules: &Rules, from: i64, to: i64, bed_empty: bool) -> i64 {
    let all = (to - from).max(0);
    if bed_empty {
        all
    } else {
        all - rules.sleep.overlap(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 00:00 in China, a Monday.
    const MONDAY: i64 = 1_795_363_200_000;
    const HOUR: i64 = 60 * MINUTE;
    const DOOR: i64 = 1;
    const MOTION: i64 = 2;
    const BED: i64 = 3;

    fn at(day: i64, hour: i64, minute: i64) -> i64 {
        MONDAY + day * DAY + hour * HOUR + minute * MINUTE
    }

    fn reading(kind: ReadingKind, value: Option<f64>, ts_ms: i64) -> Reading {
        Reading {
            seq: ts_ms,
            ts_ms,
            kind,
            value,
        }
    }

    fn motion(h: &mut Household, rules: &Rules, t: i64) -> Vec<Change> {
        h.observe(
            rules,
            MOTION,
            DeviceKind::Motion,
            &reading(ReadingKind::Motion, Some(1.0), t),
        )
    }

    fn door(h: &mut Household, rules: &Rules, t: i64) -> Vec<Change> {
        h.observe(
            rules,
            DOOR,
            DeviceKind::Door,
            &reading(ReadingKind::Door, Some(1.0), t),
        )
    }

    fn raised(changes: &[Change]) -> Vec<AlarmKind> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Raised { kind, .. } => Some(*kind),
                Change::Cleared { .. } => None,
            })
            .collect()
    }

    /// Ticks every `step` minutes from `from` to `to`, collecting what is raised.
    fn run(
        h: &mut Household,
        rules: &Rules,
        from: i64,
        to: i64,
        step: i64,
    ) -> Vec<(i64, AlarmKind)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            for k in raised(&h.tick(rules, t)) {
                out.push((t, k));
            }
            t += step * MINUTE;
        }
        out
    }

    #[test]
    fn the_monday_constant_is_midnight_in_china() {
        assert_eq!(minute_of_day(MONDAY), 0);
        assert_eq!(hour_of_day(at(0, 9, 30)), 9);
    }

    #[test]
    fn the_default_rules_are_sound_and_bad_ones_say_which_field() {
        assert_eq!(Rules::default().check(), Ok(()));
        let bad = Rules {
            heart_rate: (130.0, 40.0),
            ..Rules::default()
        };
        assert_eq!(bad.check().expect_err("reversed").field, Some("heart_rate"));
        let bad = Rules {
            battery_ok: 10.0,
            ..Rules::default()
        };
        assert_eq!(
            bad.check().expect_err("ok below low").field,
            Some("battery_low")
        );
        let bad = Rules {
            sleep: DayWindow {
                start_min: 1440,
                end_min: 60,
            },
            ..Rules::default()
        };
        assert_eq!(
            bad.check().expect_err("no such minute").field,
            Some("sleep")
        );
    }

    #[test]
    fn a_window_counts_its_hours_across_midnight() {
        let sleep = Rules::default().sleep; // 22:00–07:00
        assert!(sleep.contains(at(0, 23, 0)) && sleep.contains(at(0, 6, 59)));
        assert!(!sleep.contains(at(0, 7, 0)) && !sleep.contains(at(0, 21, 59)));
        assert_eq!(sleep.overlap(at(0, 20, 0), at(1, 9, 0)), 9 * HOUR);
        assert_eq!(sleep.overlap(at(0, 23, 0), at(1, 1, 0)), 2 * HOUR);
        assert_eq!(sleep.overlap(at(0, 8, 0), at(0, 20, 0)), 0);
        assert_eq!(sleep.overlap(at(0, 0, 0), at(3, 0, 0)), 27 * HOUR);
    }

    #[test]
    fn sos_smoke_and_gas_are_critical_at_once_and_raised_once() {
        let rules = Rules::default();
        let mut h = Household::default();
        let t = at(0, 10, 0);
        let sos = |h: &mut Household, t| {
            h.observe(
                &rules,
                7,
                DeviceKind::Sos,
                &reading(ReadingKind::Sos, Some(1.0), t),
            )
        };
        let first = sos(&mut h, t);
        assert!(matches!(
            first[..],
            [Change::Raised {
                kind: AlarmKind::Sos,
                severity: Severity::Critical,
                ..
            }]
        ));
        assert!(
            sos(&mut h, t + MINUTE).is_empty(),
            "pressed again while open"
        );
        h.resolved(AlarmKind::Sos, 7);
        assert_eq!(raised(&sos(&mut h, t + 2 * MINUTE)), vec![AlarmKind::Sos]);
        let smoke = |h: &mut Household, v, t| {
            h.observe(
                &rules,
                8,
                DeviceKind::Smoke,
                &reading(ReadingKind::Smoke, Some(v), t),
            )
        };
        assert_eq!(raised(&smoke(&mut h, 1.0, t)), vec![AlarmKind::Smoke]);
        assert!(matches!(
            smoke(&mut h, 0.0, t + MINUTE)[..],
            [Change::Cleared {
                kind: AlarmKind::Smoke,
                ..
            }]
        ));
    }

    #[test]
    fn a_quiet_day_at_home_raises_inactivity_after_the_default_but_a_night_does_not() {
        let rules = Rules::default();
        let mut h = Household::default();
        // Active until 22:30, asleep, up at 7:00: the night's hours do not count.
        motion(&mut h, &rules, at(0, 22, 30));
        assert!(run(&mut h, &rules, at(0, 22, 31), at(1, 7, 0), 10).is_empty());
        // Active at 9:00, then nothing: 12 awake hours later (21:00) the alarm.
        motion(&mut h, &rules, at(1, 9, 0));
        let raised = run(&mut h, &rules, at(1, 9, 1), at(1, 23, 0), 5);
        assert_eq!(raised, vec![(at(1, 21, 1), AlarmKind::Inactivity)]);
        // Activity clears it.
        let cleared = motion(&mut h, &rules, at(1, 23, 10));
        assert!(matches!(
            cleared[..],
            [Change::Cleared {
                kind: AlarmKind::Inactivity,
                ..
            }]
        ));
    }

    #[test]
    fn away_from_home_is_not_inactivity_and_a_night_exit_is_caught() {
        let rules = Rules::default();
        let mut h = Household::default();
        // Out of the front door on Friday evening, back on Sunday: no alarm.
        motion(&mut h, &rules, at(4, 17, 50));
        door(&mut h, &rules, at(4, 18, 0));
        assert!(run(&mut h, &rules, at(4, 18, 1), at(6, 17, 0), 10).is_empty());
        door(&mut h, &rules, at(6, 17, 0));
        motion(&mut h, &rules, at(6, 17, 2));
        // The front door at 3 a.m., nothing indoors afterwards: a night exit 30 min on.
        motion(&mut h, &rules, at(6, 22, 0));
        door(&mut h, &rules, at(7, 3, 0));
        let raised = run(&mut h, &rules, at(7, 3, 1), at(7, 5, 0), 1);
        assert_eq!(raised, vec![(at(7, 3, 30), AlarmKind::NightExit)]);
        // Back indoors: cleared.
        assert!(matches!(
            motion(&mut h, &rules, at(7, 5, 0))[..],
            [Change::Cleared {
                kind: AlarmKind::NightExit,
                ..
            }]
        ));
    }

    #[test]
    fn the_learned_normal_replaces_the_default_after_a_week() {
        let rules = Rules::default();
        let mut h = Household::default();
        // Eight days of a routine: active every 30 min from 7:00 to 22:00.
        for day in 0..8 {
            let mut t = at(day, 7, 0);
            while t <= at(day, 22, 0) {
                motion(&mut h, &rules, t);
                t += 30 * MINUTE;
            }
        }
        // At 10:00 on day 8, then quiet: the normal for 10:00 is 30 min, so the floor (2 h)
        // applies, not 12 h.
        motion(&mut h, &rules, at(8, 10, 0));
        let raised = run(&mut h, &rules, at(8, 10, 1), at(8, 13, 0), 5);
        assert_eq!(raised, vec![(at(8, 12, 1), AlarmKind::Inactivity)]);
    }

    #[test]
    fn a_late_morning_is_learned_as_the_morning_s_normal() {
        let rules = Rules::default();
        let mut h = Household::default();
        // A week of: up at 6 (the toilet), back to bed, up for the day at 9:30.
        for day in 0..8 {
            motion(&mut h, &rules, at(day, 6, 0));
            let mut t = at(day, 9, 30);
            while t <= at(day, 21, 30) {
                motion(&mut h, &rules, t);
                t += 30 * MINUTE;
            }
        }
        // Awake time starts at 7:00, the sleeping window's end: 2.5 h learned for 7 o'clock,
        // so 9:45 is within the normal (the 2 h floor alone would have raised at 9:00) …
        motion(&mut h, &rules, at(8, 6, 0));
        assert!(run(&mut h, &rules, at(8, 6, 1), at(8, 9, 45), 1).is_empty());
        // … and a morning far longer than that is not.
        let raised = run(&mut h, &rules, at(8, 9, 46), at(8, 12, 0), 1);
        assert_eq!(
            raised.iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![AlarmKind::Inactivity]
        );
        // 2.5 h × the margin 1.25 = 188 awake minutes from 7:00.
        assert_eq!(raised[0].0, at(8, 10, 9));
    }

    #[test]
    fn an_empty_bed_at_night_counts_and_raises_bed_exit() {
        let rules = Rules::default();
        let mut h = Household::default();
        motion(&mut h, &rules, at(0, 22, 0));
        let bed = |h: &mut Household, v, t| {
            h.observe(
                &rules,
                BED,
                DeviceKind::Bed,
                &reading(ReadingKind::Bed, Some(v), t),
            )
        };
        bed(&mut h, 1.0, at(0, 22, 30));
        bed(&mut h, 0.0, at(1, 2, 0));
        let raised = run(&mut h, &rules, at(1, 2, 1), at(1, 3, 0), 1);
        assert_eq!(raised, vec![(at(1, 2, 30), AlarmKind::BedExit)]);
        assert!(matches!(
            bed(&mut h, 1.0, at(1, 3, 0))[..],
            [Change::Cleared {
                kind: AlarmKind::BedExit,
                ..
            }]
        ));
    }

    #[test]
    fn vitals_out_of_range_n_times_in_a_row_then_back() {
        let rules = Rules::default();
        let mut h = Household::default();
        let hr = |h: &mut Household, v, t| {
            h.observe(
                &rules,
                9,
                DeviceKind::Vitals,
                &reading(ReadingKind::HeartRate, Some(v), t),
            )
        };
        let t = at(0, 12, 0);
        assert!(hr(&mut h, 150.0, t).is_empty());
        assert!(hr(&mut h, 150.0, t + MINUTE).is_empty());
        assert!(
            hr(&mut h, 70.0, t + 2 * MINUTE).is_empty(),
            "the run is broken"
        );
        for i in 3..5 {
            assert!(hr(&mut h, 35.0, t + i * MINUTE).is_empty());
        }
        assert_eq!(
            raised(&hr(&mut h, 35.0, t + 5 * MINUTE)),
            vec![AlarmKind::Vitals]
        );
        hr(&mut h, 70.0, t + 6 * MINUTE);
        hr(&mut h, 70.0, t + 7 * MINUTE);
        assert!(matches!(
            hr(&mut h, 70.0, t + 8 * MINUTE)[..],
            [Change::Cleared {
                kind: AlarmKind::Vitals,
                ..
            }]
        ));
    }

    #[test]
    fn a_silent_device_goes_offline_and_a_low_battery_is_told() {
        let rules = Rules::default();
        let mut h = Household::default();
        let t = at(0, 12, 0);
        let beat = |h: &mut Household, t| {
            h.observe(
                &rules,
                8,
                DeviceKind::Smoke,
                &reading(ReadingKind::Heartbeat, None, t),
            )
        };
        beat(&mut h, t);
        assert_eq!(
            run(&mut h, &rules, t, t + 61 * MINUTE, 1),
            vec![(t + 61 * MINUTE, AlarmKind::Offline)]
        );
        assert!(matches!(
            beat(&mut h, t + 70 * MINUTE)[..],
            [Change::Cleared {
                kind: AlarmKind::Offline,
                ..
            }]
        ));
        let battery = |h: &mut Household, v, t| {
            h.observe(
                &rules,
                8,
                DeviceKind::Smoke,
                &reading(ReadingKind::Battery, Some(v), t),
            )
        };
        assert_eq!(
            raised(&battery(&mut h, 15.0, t + 71 * MINUTE)),
            vec![AlarmKind::LowBattery]
        );
        assert!(
            battery(&mut h, 25.0, t + 72 * MINUTE).is_empty(),
            "between low and ok: unchanged"
        );
        assert!(matches!(
            battery(&mut h, 90.0, t + 73 * MINUTE)[..],
            [Change::Cleared {
                kind: AlarmKind::LowBattery,
                ..
            }]
        ));
    }

    #[test]
    fn ticking_when_due_raises_what_ticking_every_minute_raises() {
        let rules = Rules::default();
        let script = |h: &mut Household| {
            motion(h, &rules, at(0, 9, 0));
            h.observe(
                &rules,
                8,
                DeviceKind::Smoke,
                &reading(ReadingKind::Heartbeat, None, at(0, 9, 0)),
            );
            motion(h, &rules, at(0, 22, 0));
            door(h, &rules, at(1, 3, 0));
        };
        let mut every = Household::default();
        script(&mut every);
        let expected = run(&mut every, &rules, at(1, 3, 0), at(2, 3, 0), 1);
        assert!(!expected.is_empty());
        let mut lazy = Household::default();
        script(&mut lazy);
        let mut got = Vec::new();
        let mut now = at(1, 3, 0);
        while let Some(due) = lazy.next_due(&rules, now) {
            if due > at(2, 3, 0) {
                break;
            }
            // linli's timer runs each minute: the tick falls on the next whole minute.
            now = due.div_euclid(MINUTE) * MINUTE + if due % MINUTE == 0 { 0 } else { MINUTE };
            for k in raised(&lazy.tick(&rules, now)) {
                got.push((now, k));
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn the_state_survives_a_restart() {
        let rules = Rules::default();
        let mut h = Household::default();
        motion(&mut h, &rules, at(0, 9, 0));
        // With an alarm open, a device that beats, and a learned gap.
        h.observe(
            &rules,
            7,
            DeviceKind::Sos,
            &reading(ReadingKind::Sos, Some(1.0), at(0, 9, 1)),
        );
        h.observe(
            &rules,
            8,
            DeviceKind::Smoke,
            &reading(ReadingKind::Heartbeat, None, at(0, 9, 2)),
        );
        motion(&mut h, &rules, at(0, 9, 0));
        assert_eq!(h.open().collect::<Vec<_>>(), vec![(AlarmKind::Sos, 7)]);
        let saved = serde_json::to_string(&h).expect("serialise");
        let mut back: Household = serde_json::from_str(&saved).expect("deserialise");
        assert_eq!(back, h);
        let raised = run(&mut back, &rules, at(0, 21, 0), at(0, 21, 10), 5);
        // The smoke detector's heartbeat was remembered too.
        assert_eq!(
            raised,
            vec![
                (at(0, 21, 0), AlarmKind::Offline),
                (at(0, 21, 5), AlarmKind::Inactivity)
            ]
        );
    }
}
