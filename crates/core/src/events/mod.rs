//! Events (事件, 工单): what residents, grid patrols, sensors and the hotline report, and the
//! rules that carry each one from report to closure.
//!
//! - [`flow`]: the state machine, a pure function from (facts, action, actor) to the next
//!   facts or a typed refusal. The store keeps the facts and a flow-log row per transition.
//! - [`category`]: the category tree with its deadlines, handling level, responsible
//!   department and whether a grid may close it on the spot (小事不出网格).
//! - [`deadline`]: when a deadline warns (yellow at 75 %), turns red and escalates.
//! - [`unit`]: handling units (grid, community, street 矛调中心, named department) and the
//!   escalation chain between them.

pub mod category;
pub mod deadline;
pub mod flow;
pub mod kpi;
pub mod unit;

#[cfg(test)]
mod flow_tests;

pub use category::{CategoryDef, HandlingLevel};
pub use deadline::{Deadline, Stage};
pub use flow::{Action, Actor, Facts, Refusal, State, Step};
pub use unit::Unit;

/// The radius within which a new report of the same category is shown as a possible
/// duplicate of an open one.
pub const DUPLICATE_RADIUS_M: f64 = 50.0;
/// How far back possible duplicates are looked for.
pub const DUPLICATE_WINDOW_MS: i64 = 7 * DAY_MS;
/// The most possible duplicates shown (the nearest): a hot spot with hundreds of open
/// reports must not make every new report's answer long and slow.
pub const MAX_DUPLICATES_SHOWN: usize = 10;
/// How long after closure the reporter may reopen an event.
pub const REOPEN_WINDOW_MS: i64 = 7 * DAY_MS;
/// At most this many photos per report or feedback.
pub const MAX_PHOTOS: usize = 9;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The reference number shown to a reporter: the event's id under a fixed prefix, so it
/// needs no second unique column and sorts with the id.
pub fn reference(id: i64) -> String {
    format!("SJ{id:08}")
}

/// The id behind a reference number (`SJ00000042`) or a bare id (`42`).
pub fn parse_reference(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s
        .strip_prefix("SJ")
        .or_else(|| s.strip_prefix("sj"))
        .unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&id: &i64| id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip() {
        assert_eq!(reference(42), "SJ00000042");
        assert_eq!(parse_reference("SJ00000042"), Some(42));
        assert_eq!(parse_reference(" 42 "), Some(42));
        assert_eq!(parse_reference("SJ"), None);
        assert_eq!(parse_reference("SJ-1"), None);
        assert_eq!(parse_reference("0"), None);
        assert_eq!(parse_reference("99999999999999999999"), None);
    }
}
