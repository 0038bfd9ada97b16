//! Deadlines and the warnings they drive: yellow when 75 % of the allowed time has gone,
//! red when it is over, and an automatic escalation when it is over by more than the
//! category's grace. The store keeps the next of these moments on the event, indexed, so
//! a scheduler finds what is due with one range scan and fires each stage exactly once.

/// The warning stages, in the order they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Yellow,
    Red,
    Escalate,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Yellow, Stage::Red, Stage::Escalate];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Yellow => "yellow",
            Stage::Red => "red",
            Stage::Escalate => "escalate",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One running deadline, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When the allowed time started: the report, the latest escalation or reopening.
    pub start: i64,
    pub due: i64,
    pub grace_ms: i64,
}

impl Deadline {
    pub fn new(start: i64, allowed_ms: i64, grace_ms: i64) -> Deadline {
        Deadline {
            start,
            due: start.saturating_add(allowed_ms.max(0)),
            grace_ms: grace_ms.max(0),
        }
    }

    /// When a stage fires.
    pub fn at(self, stage: Stage) -> i64 {
        match stage {
            Stage::Yellow => self.start + (self.due - self.start) / 4 * 3,
            Stage::Red => self.due,
            Stage::Escalate => self.due.saturating_add(self.grace_ms),
        }
    }

    /// The first stage that has not fired yet after `fired` (none fired: `None`), with the
    /// moment it is due. A stage already past when the deadline is set (an extension that
    /// still leaves the event overdue) is simply due at once.
    pub fn next(self, fired: Option<Stage>) -> Option<(Stage, i64)> {
        Stage::ALL
            .into_iter()
            .find(|s| fired.is_none_or(|f| *s > f))
            .map(|s| (s, self.at(s)))
    }

    /// The last stage that is already due at `now`: what a freshly set deadline counts as
    /// fired, so that warnings for a past moment are not sent late. `None` when none is.
    pub fn passed(self, now: i64) -> Option<Stage> {
        Stage::ALL.into_iter().rev().find(|s| self.at(*s) <= now)
    }

    /// Moves the due time by an approved extension; the yellow mark moves with it.
    pub fn extend(self, extra_ms: i64) -> Deadline {
        Deadline {
            due: self.due.saturating_add(extra_ms.max(0)),
            ..self
        }
    }

    /// The share of the allowed time used at `now` (1.0 = due).
    pub fn used(self, now: i64) -> f64 {
        let allowed = (self.due - self.start).max(1) as f64;
        (now - self.start) as f64 / allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::HOUR_MS;

    #[test]
    fn stages_fire_at_three_quarters_at_due_and_after_grace() {
        let d = Deadline::new(0, 24 * HOUR_MS, 12 * HOUR_MS);
        assert_eq!(d.at(Stage::Yellow), 18 * HOUR_MS);
        assert_eq!(d.at(Stage::Red), 24 * HOUR_MS);
        assert_eq!(d.at(Stage::Escalate), 36 * HOUR_MS);
        assert_eq!(d.next(None), Some((Stage::Yellow, 18 * HOUR_MS)));
        assert_eq!(
            d.next(Some(Stage::Yellow)),
            Some((Stage::Red, 24 * HOUR_MS))
        );
        assert_eq!(d.next(Some(Stage::Escalate)), None);
        assert_eq!(d.passed(17 * HOUR_MS), None);
        assert_eq!(d.passed(25 * HOUR_MS), Some(Stage::Red));
        let e = d.extend(24 * HOUR_MS);
        assert_eq!(e.at(Stage::Red), 48 * HOUR_MS);
        assert_eq!(e.at(Stage::Yellow), 36 * HOUR_MS);
        assert!((d.used(12 * HOUR_MS) - 0.5).abs() < 1e-9);
    }
}
