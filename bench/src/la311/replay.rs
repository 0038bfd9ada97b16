//! The replay's driver: one file's tickets as a timeline of creations and endings (closing
//! or cancellation) on a virtual clock that runs `speed` times faster than the wall clock
//! from the file's first ticket. Every step happens at its own virtual timestamp however
//! late the driver is, so the database ends up the same at any speed; only the lag differs.
//!
//! The deadline scheduler is swept at every 5-minute mark of virtual time. After the last
//! arrival the replay goes on in real time for at most `tail` of wall time, then applies the
//! remaining endings as fast as it can — still each at its own timestamp and in order, and
//! sweeping at exactly the marks where a deadline stage is due in between (marks with
//! nothing due would fire nothing), so the outcome is the same as sweeping every mark.

use std::time::{Duration, Instant};

use anyhow::Result;
use linli_core::events::flow::Action;
use linli_core::events::State;
use linli_store::events::{ActionInput, By, NewEvent, Source};
use linli_store::{Store, User};

use super::expected::{sweep_at_or_after, SWEEP_MS};
use super::mapping::Place;
use super::peek::Peek;
use super::source::{Outcome, Ticket};

/// One ticket, ready to replay.
pub struct Plan<'a> {
    pub ticket: &'a Ticket,
    pub place: &'a Place,
    pub category: &'static str,
    pub source: Source,
}

/// Creations before endings at the same moment: a flagged ticket is closed at the moment
/// it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Create,
    End,
}

/// What one file's replay did.
#[derive(Debug, Clone, Default)]
pub struct FileRun {
    pub name: String,
    pub created: usize,
    pub closed: usize,
    pub withdrawn: usize,
    /// Endings applied after the tail, as fast as possible.
    pub fast_endings: usize,
    /// The virtual moment the replay stopped keeping time, if it did.
    pub fast_from: Option<i64>,
    pub first_ms: i64,
    pub last_create_ms: i64,
    pub last_ms: i64,
    /// How late each creation returned against its scheduled wall moment, in ms.
    pub lags_ms: Vec<f64>,
    /// Wall seconds from the first to the last creation's return.
    pub arrivals_wall_s: f64,
    pub wall_s: f64,
    pub sweeps: usize,
    pub stages: usize,
}

/// Virtual time → wall moments.
struct Clock {
    wall0: Instant,
    t0: i64,
    speed: f64,
}

impl Clock {
    fn wall(&self, t: i64) -> Instant {
        let secs = (t - self.t0).max(0) as f64 / self.speed / 1000.0;
        self.wall0 + Duration::from_secs_f64(secs)
    }

    async fn wait(&self, t: i64) {
        tokio::time::sleep_until(self.wall(t).into()).await;
    }
}

pub struct Replayer<'a> {
    pub store: &'a Store,
    pub admin: &'a User,
    pub peek: &'a Peek,
    pub speed: f64,
    pub tail: Duration,
    /// Every ticket that could not be created or ended, with its file and line.
    pub failures: Vec<String>,
    /// Reports at a building that linli located in another region than the building's.
    pub located_elsewhere: usize,
}

/// The steps of a file in time order.
fn timeline(plans: &[Plan]) -> Vec<(i64, Kind, usize)> {
    let mut steps = Vec::with_capacity(plans.len() * 2);
    for (i, p) in plans.iter().enumerate() {
        steps.push((p.ticket.created_ms, Kind::Create, i));
        match p.ticket.outcome() {
            Outcome::Close(at) | Outcome::Withdraw(at) => steps.push((at, Kind::End, i)),
            Outcome::Open => {}
        }
    }
    steps.sort();
    steps
}

fn describe(t: &Ticket) -> String {
    format!(
        "MyLA311 {} · {} · {} ({})",
        t.sr, t.request_type, t.status, t.request_source
    )
}

impl Replayer<'_> {
    /// Replays one file's tickets.
    pub async fn run_file(&mut self, name: &str, plans: &[Plan<'_>]) -> Result<FileRun> {
        let steps = timeline(plans);
        let mut run = FileRun {
            name: name.to_string(),
            ..FileRun::default()
        };
        let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
            return Ok(run);
        };
        let last_create = steps.iter().rposition(|s| s.1 == Kind::Create);
        (run.first_ms, run.last_ms) = (first.0, last.0);
        let started = Instant::now();
        let clock = Clock {
            wall0: started,
            t0: first.0,
            speed: self.speed,
        };
        let mut ids: Vec<Option<i64>> = vec![None; plans.len()];
        let mut next_mark = sweep_at_or_after(first.0);
        let mut tail_end: Option<Instant> = None;
        for (n, &(t, kind, i)) in steps.iter().enumerate() {
            next_mark = self
                .sweeps_before(t, next_mark, &clock, tail_end, &mut run)
                .await?;
            if run.fast_from.is_none() {
                if tail_end.is_some_and(|end| clock.wall(t) > end) {
                    run.fast_from = Some(t);
                } else {
                    clock.wait(t).await;
                }
            }
            match kind {
                Kind::Create => {
                    ids[i] = self.create(name, &plans[i], t).await;
                    run.created += 1;
                    run.lags_ms.push(
                        Instant::now()
                            .saturating_duration_since(clock.wall(t))
                            .as_secs_f64()
                            * 1000.0,
                    );
                    if Some(n) == last_create {
                        run.last_create_ms = t;
                        run.arrivals_wall_s = started.elapsed().as_secs_f64();
                        tail_end = Some(Instant::now() + self.tail);
                    }
                }
                Kind::End => self.end(name, &plans[i], ids[i], t, &mut run).await,
            }
            progress(name, n + 1, steps.len(), t, &run);
        }
        run.wall_s = started.elapsed().as_secs_f64();
        Ok(run)
    }

    /// Sweeps at the marks before `t`: each at its wall moment while keeping time, else
    /// only those where a stage is due. Returns the next mark not swept.
    async fn sweeps_before(
        &mut self,
        t: i64,
        mut next: i64,
        clock: &Clock,
        tail_end: Option<Instant>,
        run: &mut FileRun,
    ) -> Result<i64> {
        while run.fast_from.is_none() && next < t {
            if tail_end.is_some_and(|end| clock.wall(next) > end) {
                run.fast_from = Some(next);
                break;
            }
            clock.wait(next).await;
            self.sweep(next, run).await?;
            next += SWEEP_MS;
        }
        while run.fast_from.is_some() {
            // Everything due up to the last mark swept has fired: look past it only.
            let Some(timer) = self.peek.next_timer(next - SWEEP_MS).await? else {
                break;
            };
            let mark = sweep_at_or_after(timer).max(next);
            if mark >= t {
                break;
            }
            self.sweep(mark, run).await?;
            next = mark + SWEEP_MS;
        }
        Ok(next)
    }

    async fn sweep(&self, at: i64, run: &mut FileRun) -> Result<()> {
        let fired = self.store.fire_due(at).await?;
        run.sweeps += 1;
        run.stages += fired.stages;
        Ok(())
    }

    /// Files a ticket as the district admin; `None` (and a failure listed) if refused.
    async fn create(&mut self, name: &str, plan: &Plan<'_>, t: i64) -> Option<i64> {
        let (position, region) = match plan.place {
            Place::Building(b) => (Some([b.lon, b.lat]), None),
            Place::CouncilRegion(c) | Place::Fallback(c) => (None, Some(*c)),
        };
        let new = NewEvent {
            category: plan.category.to_string(),
            description: describe(plan.ticket),
            source: Some(plan.source),
            position,
            region,
            ..NewEvent::default()
        };
        match self
            .store
            .create_event_at(By::User(self.admin), new, t)
            .await
        {
            Ok(created) => {
                if created.event.region != plan.place.region() {
                    self.located_elsewhere += 1;
                }
                Some(created.event.id)
            }
            Err(e) => {
                self.fail(name, plan.ticket, &format!("not created: {e}"));
                None
            }
        }
    }

    /// Closes or withdraws a ticket as the source did.
    async fn end(
        &mut self,
        name: &str,
        plan: &Plan<'_>,
        id: Option<i64>,
        t: i64,
        run: &mut FileRun,
    ) {
        // A ticket that could not be created is listed already.
        let Some(id) = id else { return };
        let result = match plan.ticket.outcome() {
            Outcome::Close(_) => self.close(id, t).await.map(|()| run.closed += 1),
            Outcome::Withdraw(_) => self
                .act(id, Action::Withdraw, t)
                .await
                .map(|_| run.withdrawn += 1),
            Outcome::Open => Ok(()),
        };
        if run.fast_from.is_some() {
            run.fast_endings += 1;
        }
        if let Err(e) = result {
            self.fail(name, plan.ticket, &e);
        }
    }

    async fn act(&self, id: i64, action: Action, t: i64) -> Result<State, String> {
        let name = action.name();
        self.store
            .act_on_event_at(By::User(self.admin), id, action, ActionInput::default(), t)
            .await
            .map(|ev| ev.state)
            .map_err(|e| format!("event {id}: {name}: {e}"))
    }

    /// Walks an event to 已结案 through the state machine, whatever unit escalation left it
    /// with: the district admin may act as handler and as supervisor anywhere in 上城区.
    async fn close(&self, id: i64, t: i64) -> Result<(), String> {
        let mut state = match self.store.event(id).await {
            Ok(Some(ev)) => ev.state,
            Ok(None) => return Err(format!("event {id} not found")),
            Err(e) => return Err(format!("event {id}: {e}")),
        };
        // Accept, report back, verify, close: four steps at most.
        for _ in 0..4 {
            let action = match state {
                State::Pending => Action::Accept,
                State::Handling => Action::ReportBack,
                State::Verifying => Action::Verify,
                State::Verified => Action::Close,
                State::Closed => return Ok(()),
                other => return Err(format!("event {id}: cannot close from {}", other.as_str())),
            };
            state = self.act(id, action, t).await?;
        }
        match state {
            State::Closed => Ok(()),
            other => Err(format!(
                "event {id}: still {} after closing",
                other.as_str()
            )),
        }
    }

    fn fail(&mut self, name: &str, t: &Ticket, what: &str) {
        self.failures
            .push(format!("{name}: line {}: SR {}: {what}", t.line, t.sr));
    }
}

/// A line on stderr at every 10 % of a file's steps.
fn progress(name: &str, done: usize, total: usize, t: i64, run: &FileRun) {
    if done * 10 / total == (done - 1) * 10 / total {
        return;
    }
    let lag = run.lags_ms.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "  {name}: {}% at {} (created {}, closed {}, withdrawn {}, stages fired {}, max lag {:.0} ms{})",
        done * 100 / total,
        super::china_time(t),
        run.created,
        run.closed,
        run.withdrawn,
        run.stages,
        lag,
        if run.fast_from.is_some() { ", catching up" } else { "" }
    );
}
