//! The event state machine: [`apply`] takes what is known of an event ([`Facts`]), an
//! [`Action`] and the [`Actor`] attempting it, and returns the next facts or a typed
//! [`Refusal`]. It does no I/O, so every rule is tested here, including by property tests.
//!
//! ```text
//!  report ──▶ pending ──accept──▶ handling ──report_back──▶ verifying ──verify──▶ verified ──close──▶ closed
//!               │  ▲                 │  ▲                       │                                   │  │
//!               │  └────escalate─────┘  └──────────reject───────┘                      rate (once) ◀┘  │
//!               ├─ withdraw (reporter) ─▶ withdrawn                                                    │
//!               ├─ merge ─▶ merged          close_on_spot (grid, admission list) ─▶ closed             │
//!               └──────────────────────────────◀── reopen (reporter, within 7 days) ◀──────────────────┘
//! ```
//!
//! Who may act:
//! - the **handler**: the staff whose area is exactly the handling unit's region (a grid
//!   worker for a grid, a community worker for a community, street staff for its 矛调中心),
//!   or a clerk of the handling department;
//! - the **supervisor**: staff whose area strictly contains the handling unit (for a
//!   department, district-level staff). Verification, closure and extensions are theirs;
//! - the **reporter**, for withdrawing, rating and reopening;
//! - an **admin** stands in as handler or supervisor anywhere in their area;
//! - the **system** (the deadline scheduler) for warnings and automatic escalation.
//!
//! Staff outside the event's region never act on it, and nothing reaches `closed` without
//! a verification or an on-spot closure that the community's admission list allows.

use crate::events::deadline::Stage;
use crate::events::unit::Unit;
use crate::events::{HandlingLevel, REOPEN_WINDOW_MS};
use crate::problem::Problem;
use crate::region::{Level, RegionCode, Scope};
use crate::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// In the handling unit's inbox, not yet accepted (待受理).
    Pending,
    /// Accepted and being worked on (办理中).
    Handling,
    /// The handler reported back; waiting for the level above to check (待核查).
    Verifying,
    /// Checked by the level above; waiting to be closed (待结案).
    Verified,
    /// Closed (已结案).
    Closed,
    /// Merged into another report of the same problem (已合并).
    Merged,
    /// Withdrawn by its reporter (已撤回).
    Withdrawn,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Pending,
        State::Handling,
        State::Verifying,
        State::Verified,
        State::Closed,
        State::Merged,
        State::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Handling => "handling",
            State::Verifying => "verifying",
            State::Verified => "verified",
            State::Closed => "closed",
            State::Merged => "merged",
            State::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Self::ALL.into_iter().find(|st| st.as_str() == s.trim())
    }

    pub fn label_key(self) -> &'static str {
        match self {
            State::Pending => "events.state.pending",
            State::Handling => "events.state.handling",
            State::Verifying => "events.state.verifying",
            State::Verified => "events.state.verified",
            State::Closed => "events.state.closed",
            State::Merged => "events.state.merged",
            State::Withdrawn => "events.state.withdrawn",
        }
    }

    /// Not yet finished: counted as open in figures and in Open311.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::Pending | State::Handling | State::Verifying | State::Verified
        )
    }

    /// The handler's deadline runs only while the event is theirs to work on.
    pub fn deadline_runs(self) -> bool {
        matches!(self, State::Pending | State::Handling)
    }

    /// Open311 knows only `open` and `closed`.
    pub fn open311_status(self) -> &'static str {
        if self.is_open() {
            "open"
        } else {
            "closed"
        }
    }
}

/// Who attempts an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The deadline scheduler.
    System,
    User {
        id: i64,
        role: Role,
        scope: Scope,
        /// The department a clerk works for.
        department: Option<i64>,
    },
}

/// Where a summoned department stands (吹哨、报到).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SummonsState {
    Waiting,
    /// The check-in deadline passed; the summons went up a level. A late check-in counts.
    Overdue,
    CheckedIn,
}

impl SummonsState {
    pub fn as_str(self) -> &'static str {
        match self {
            SummonsState::Waiting => "waiting",
            SummonsState::Overdue => "overdue",
            SummonsState::CheckedIn => "checked_in",
        }
    }

    pub fn parse(s: &str) -> Option<SummonsState> {
        [
            SummonsState::Waiting,
            SummonsState::Overdue,
            SummonsState::CheckedIn,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// What the rules need to know of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub state: State,
    /// The most specific region the event lies in.
    pub region: RegionCode,
    pub unit: Unit,
    /// The account that reported it, if any (hotline and Open311 reports may have none).
    pub reporter: Option<i64>,
    /// Minutes of extra time asked for and not yet decided.
    pub extension_pending: Option<i64>,
    pub closed_at: Option<i64>,
    pub rated: bool,
    /// Summoned departments by id.
    pub summons: Vec<(i64, SummonsState)>,
    /// Whether the community's admission list lets its grids close this category.
    pub grid_may_close: bool,
    /// The department that takes the category above the street.
    pub escalation_department: Option<i64>,
}

/// What an actor asks to do. Payloads that the rules do not judge (notes, photos, a rating's
/// comment) travel beside the action, not in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    ReportBack,
    Verify,
    Reject,
    Close,
    CloseOnSpot,
    RequestExtension {
        minutes: i64,
    },
    ApproveExtension,
    DenyExtension,
    Escalate {
        department: Option<i64>,
    },
    Whistle {
        departments: Vec<i64>,
    },
    CheckIn,
    Withdraw,
    Rate {
        stars: u8,
    },
    Reopen,
    Merge {
        into: i64,
    },
    Comment,
    /// The scheduler: a deadline stage is due.
    Deadline(Stage),
    /// The scheduler: a summoned department did not check in in time.
    SummonsOverdue {
        department: i64,
    },
    /// The care timer: the alarm behind this event was not acknowledged in time, so the
    /// event goes to the level above while still waiting in the inbox.
    Unacknowledged,
}

/// The longest extension one request may ask for: 30 days.
pub const MAX_EXTENSION_MINUTES: i64 = 30 * 24 * 60;

impl Action {
    /// The action's name in the API and the flow log.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::ReportBack => "report_back",
            Action::Verify => "verify",
            Action::Reject => "reject",
            Action::Close => "close",
            Action::CloseOnSpot => "close_on_spot",
            Action::RequestExtension { .. } => "request_extension",
            Action::ApproveExtension => "approve_extension",
            Action::DenyExtension => "deny_extension",
            Action::Escalate { .. } => "escalate",
            Action::Whistle { .. } => "whistle",
            Action::CheckIn => "check_in",
            Action::Withdraw => "withdraw",
            Action::Rate { .. } => "rate",
            Action::Reopen => "reopen",
            Action::Merge { .. } => "merge",
            Action::Comment => "comment",
            Action::Deadline(Stage::Yellow) => "warn_yellow",
            Action::Deadline(Stage::Red) => "warn_red",
            Action::Deadline(Stage::Escalate) => "auto_escalate",
            Action::SummonsOverdue { .. } => "summons_overdue",
            Action::Unacknowledged => "unacknowledged",
        }
    }

    /// The names a person may send; the scheduler's own actions are not among them.
    pub const USER_ACTIONS: [&'static str; 17] = [
        "accept",
        "report_back",
        "verify",
        "reject",
        "close",
        "close_on_spot",
        "request_extension",
        "approve_extension",
        "deny_extension",
        "escalate",
        "whistle",
        "check_in",
        "withdraw",
        "rate",
        "reopen",
        "merge",
        "comment",
    ];

    pub fn label_key(name: &str) -> String {
        format!("events.action.{name}")
    }
}

/// What the store must do with the deadline after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineChange {
    Keep,
    /// A new unit or a reopening: the category's full time again, from now.
    Restart,
    /// Add these minutes to the due time.
    Extend(i64),
    /// Out of the handler's hands (reported back, closed, merged, withdrawn).
    Stop,
    /// Back in the handler's hands with the time that was left (a failed verification).
    Resume,
}

impl DeadlineChange {
    /// The promised time (承诺办结时间) after a step: what 按期办结率 measures a closing
    /// against. It is the category's allowed time from the report, moved by approved
    /// extensions and set anew by a reopening (a new round of handling), but not by an
    /// escalation. An escalation gives the new unit its full working time (the `Deadline`),
    /// and measuring the closing against that would count an event that went overdue, was
    /// escalated and was then closed as closed on time.
    pub fn promised(self, action: &Action, promised: i64, now: i64, allowed_ms: i64) -> i64 {
        match (self, action) {
            (DeadlineChange::Extend(minutes), _) => {
                promised.saturating_add(minutes.saturating_mul(60_000))
            }
            (DeadlineChange::Restart, Action::Reopen) => now.saturating_add(allowed_ms.max(0)),
            _ => promised,
        }
    }
}

/// The outcome of an allowed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub facts: Facts,
    pub deadline: DeadlineChange,
}

/// Why an action was refused. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The actor's area does not include the event.
    OutsideArea,
    /// The action is not possible in the event's current state.
    WrongState {
        action: &'static str,
        state: State,
    },
    NotHandler,
    NotSupervisor,
    NotReporter,
    /// The role never does this (an operator handling events, a resident verifying).
    RoleMayNot,
    ReopenExpired,
    AlreadyRated,
    BadStars,
    BadExtension,
    ExtensionPending,
    NoExtensionPending,
    /// Only a grid closes on the spot.
    NotAtGrid,
    /// The community's admission list does not let grids close this category.
    NotAdmitted,
    /// Escalating above the street needs a department and the list names none.
    NoDepartment,
    /// A department is the top of the chain.
    TopOfChain,
    NoDepartments,
    NotSummoned,
    MergeIntoSelf,
    /// Warnings and automatic escalation belong to the scheduler.
    SystemOnly,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::OutsideArea => "event_outside_area",
            Refusal::WrongState { .. } => "event_wrong_state",
            Refusal::NotHandler => "event_not_handler",
            Refusal::NotSupervisor => "event_not_supervisor",
            Refusal::NotReporter => "event_not_reporter",
            Refusal::RoleMayNot => "event_role_may_not",
            Refusal::ReopenExpired => "event_reopen_expired",
            Refusal::AlreadyRated => "event_already_rated",
            Refusal::BadStars => "event_bad_stars",
            Refusal::BadExtension => "event_bad_extension",
            Refusal::ExtensionPending => "event_extension_pending",
            Refusal::NoExtensionPending => "event_no_extension_pending",
            Refusal::NotAtGrid => "event_not_at_grid",
            Refusal::NotAdmitted => "event_not_admitted",
            Refusal::NoDepartment => "event_no_department",
            Refusal::TopOfChain => "event_top_of_chain",
            Refusal::NoDepartments => "event_no_departments",
            Refusal::NotSummoned => "event_not_summoned",
            Refusal::MergeIntoSelf => "event_merge_into_self",
            Refusal::SystemOnly => "event_system_only",
        }
    }

    pub fn problem(&self) -> Problem {
        let p = Problem::new(self.code(), refusal_key(self));
        match self {
            Refusal::WrongState { action, state } => p
                .arg_key("action", &Action::label_key(action))
                .arg_key("state", state.label_key()),
            Refusal::BadExtension => p.arg("max", MAX_EXTENSION_MINUTES / 60),
            Refusal::ReopenExpired => p.arg("days", REOPEN_WINDOW_MS / crate::events::DAY_MS),
            _ => p,
        }
    }
}

fn refusal_key(r: &Refusal) -> &'static str {
    match r {
        Refusal::OutsideArea => "events.refusal.outside_area",
        Refusal::WrongState { .. } => "events.refusal.wrong_state",
        Refusal::NotHandler => "events.refusal.not_handler",
        Refusal::NotSupervisor => "events.refusal.not_supervisor",
        Refusal::NotReporter => "events.refusal.not_reporter",
        Refusal::RoleMayNot => "events.refusal.role_may_not",
        Refusal::ReopenExpired => "events.refusal.reopen_expired",
        Refusal::AlreadyRated => "events.refusal.already_rated",
        Refusal::BadStars => "events.refusal.bad_stars",
        Refusal::BadExtension => "events.refusal.bad_extension",
        Refusal::ExtensionPending => "events.refusal.extension_pending",
        Refusal::NoExtensionPending => "events.refusal.no_extension_pending",
        Refusal::NotAtGrid => "events.refusal.not_at_grid",
        Refusal::NotAdmitted => "events.refusal.not_admitted",
        Refusal::NoDepartment => "events.refusal.no_department",
        Refusal::TopOfChain => "events.refusal.top_of_chain",
        Refusal::NoDepartments => "events.refusal.no_departments",
        Refusal::NotSummoned => "events.refusal.not_summoned",
        Refusal::MergeIntoSelf => "events.refusal.merge_into_self",
        Refusal::SystemOnly => "events.refusal.system_only",
    }
}

/// Staff who work events: everyone but residents and service operators.
fn works_events(role: Role) -> bool {
    !matches!(role, Role::Resident | Role::Operator)
}

/// Whether the actor handles `unit` (see the module documentation).
pub fn is_handler(actor: &Actor, unit: Unit) -> bool {
    let Actor::User {
        role,
        scope,
        department,
        ..
    } = actor
    else {
        return false;
    };
    match (role, unit) {
        (Role::Admin, Unit::Region(u)) => scope.contains(u),
        (Role::Admin, Unit::Department(_)) => true,
        (Role::GridWorker | Role::CommunityWorker | Role::Leader, Unit::Region(u)) => {
            *scope == Scope::Region(u)
        }
        (Role::DepartmentClerk, Unit::Department(d)) => *department == Some(d),
        _ => false,
    }
}

/// Whether the actor is the level above `unit` (see the module documentation).
pub fn is_supervisor(actor: &Actor, unit: Unit) -> bool {
    let Actor::User { role, scope, .. } = actor else {
        return false;
    };
    if !matches!(role, Role::Admin | Role::Leader | Role::CommunityWorker) {
        return false;
    }
    match unit {
        Unit::Region(u) => scope.contains_strictly(u),
        Unit::Department(_) => scope.root().is_none_or(|r| r.level() <= Level::District),
    }
}

fn is_reporter(actor: &Actor, facts: &Facts) -> bool {
    matches!(actor, Actor::User { id, .. } if facts.reporter == Some(*id))
}

/// Applies `action` by `actor` at `now` (milliseconds) to `facts`.
pub fn apply(facts: &Facts, action: &Action, actor: &Actor, now: i64) -> Result<Step, Refusal> {
    let system_action = matches!(
        action,
        Action::Deadline(_) | Action::SummonsOverdue { .. } | Action::Unacknowledged
    );
    match actor {
        Actor::System if !system_action => return Err(Refusal::RoleMayNot),
        Actor::System => {}
        Actor::User { .. } if system_action => return Err(Refusal::SystemOnly),
        Actor::User { role, scope, .. } => {
            // The reporter acts on their own report wherever they live; everyone else only
            // within their area. Residents and operators only ever act as reporters.
            let reporter = is_reporter(actor, facts);
            if !reporter && !scope.contains(facts.region) {
                return Err(Refusal::OutsideArea);
            }
            let reporters_own = matches!(
                action,
                Action::Withdraw | Action::Rate { .. } | Action::Reopen | Action::Comment
            );
            let may = works_events(*role) || (reporter && reporters_own);
            if !may {
                return Err(Refusal::RoleMayNot);
            }
        }
    }

    let state = facts.state;
    let wrong = || Refusal::WrongState {
        action: action.name(),
        state,
    };
    let mut next = facts.clone();
    let mut deadline = DeadlineChange::Keep;
    let handler = is_handler(actor, facts.unit);
    let supervisor = is_supervisor(actor, facts.unit);
    let need = |ok: bool, refusal: Refusal| if ok { Ok(()) } else { Err(refusal) };

    match action {
        Action::Accept => {
            need(state == State::Pending, wrong())?;
            need(handler, Refusal::NotHandler)?;
            next.state = State::Handling;
        }
        Action::ReportBack => {
            need(state == State::Handling, wrong())?;
            need(handler, Refusal::NotHandler)?;
            next.state = State::Verifying;
            next.extension_pending = None;
            deadline = DeadlineChange::Stop;
        }
        Action::Verify | Action::Reject => {
            need(state == State::Verifying, wrong())?;
            need(supervisor, Refusal::NotSupervisor)?;
            if *action == Action::Verify {
                next.state = State::Verified;
            } else {
                next.state = State::Handling;
                deadline = DeadlineChange::Resume;
            }
        }
        Action::Close => {
            need(state == State::Verified, wrong())?;
            need(supervisor, Refusal::NotSupervisor)?;
            next.state = State::Closed;
            next.closed_at = Some(now);
        }
        Action::CloseOnSpot => {
            need(state.deadline_runs(), wrong())?;
            let at_grid = matches!(facts.unit, Unit::Region(u) if u.level() >= Level::Grid);
            need(at_grid, Refusal::NotAtGrid)?;
            need(handler, Refusal::NotHandler)?;
            need(facts.grid_may_close, Refusal::NotAdmitted)?;
            next.state = State::Closed;
            next.closed_at = Some(now);
            next.extension_pending = None;
            deadline = DeadlineChange::Stop;
        }
        Action::RequestExtension { minutes } => {
            need(state.deadline_runs(), wrong())?;
            need(handler, Refusal::NotHandler)?;
            need(
                (1..=MAX_EXTENSION_MINUTES).contains(minutes),
                Refusal::BadExtension,
            )?;
            need(facts.extension_pending.is_none(), Refusal::ExtensionPending)?;
            next.extension_pending = Some(*minutes);
        }
        Action::ApproveExtension | Action::DenyExtension => {
            need(state.deadline_runs(), wrong())?;
            need(supervisor, Refusal::NotSupervisor)?;
            let Some(minutes) = facts.extension_pending else {
                return Err(Refusal::NoExtensionPending);
            };
            next.extension_pending = None;
            if *action == Action::ApproveExtension {
                deadline = DeadlineChange::Extend(minutes);
            }
        }
        Action::Escalate { department } => {
            need(state.deadline_runs(), wrong())?;
            need(handler, Refusal::NotHandler)?;
            next.unit = escalate(facts, *department)?;
            next.state = State::Pending;
            next.extension_pending = None;
            deadline = DeadlineChange::Restart;
        }
        Action::Whistle { departments } => {
            need(state.deadline_runs(), wrong())?;
            let grid_worker = matches!(
                actor,
                Actor::User {
                    role: Role::GridWorker | Role::Admin,
                    ..
                }
            );
            need(handler && grid_worker, Refusal::NotHandler)?;
            need(!departments.is_empty(), Refusal::NoDepartments)?;
            for d in departments {
                match next.summons.iter_mut().find(|(id, _)| id == d) {
                    // Summoned again after a check-in or an overdue summons: wait anew.
                    Some((_, s)) => *s = SummonsState::Waiting,
                    None => next.summons.push((*d, SummonsState::Waiting)),
                }
            }
        }
        Action::CheckIn => {
            need(state.is_open(), wrong())?;
            let Actor::User {
                role: Role::DepartmentClerk,
                department: Some(d),
                ..
            } = actor
            else {
                return Err(Refusal::NotSummoned);
            };
            let Some(slot) = next
                .summons
                .iter_mut()
                .find(|(id, s)| id == d && *s != SummonsState::CheckedIn)
            else {
                return Err(Refusal::NotSummoned);
            };
            slot.1 = SummonsState::CheckedIn;
        }
        Action::Withdraw => {
            need(is_reporter(actor, facts), Refusal::NotReporter)?;
            need(state == State::Pending, wrong())?;
            next.state = State::Withdrawn;
            next.extension_pending = None;
            deadline = DeadlineChange::Stop;
        }
        Action::Rate { stars } => {
            need(is_reporter(actor, facts), Refusal::NotReporter)?;
            need(state == State::Closed, wrong())?;
            need((1..=5).contains(stars), Refusal::BadStars)?;
            need(!facts.rated, Refusal::AlreadyRated)?;
            next.rated = true;
        }
        Action::Reopen => {
            need(is_reporter(actor, facts), Refusal::NotReporter)?;
            need(state == State::Closed, wrong())?;
            let closed = facts.closed_at.unwrap_or(now);
            need(now - closed <= REOPEN_WINDOW_MS, Refusal::ReopenExpired)?;
            next.state = State::Pending;
            next.closed_at = None;
            next.rated = false;
            deadline = DeadlineChange::Restart;
        }
        Action::Merge { into } => {
            need(state.deadline_runs(), wrong())?;
            need(handler, Refusal::NotHandler)?;
            // That `into` is another open report of the same problem is the store's check.
            let _ = into;
            next.state = State::Merged;
            next.extension_pending = None;
            deadline = DeadlineChange::Stop;
        }
        Action::Comment => {
            need(state != State::Merged, wrong())?;
        }
        Action::Deadline(stage) => {
            need(state.deadline_runs(), wrong())?;
            if *stage == Stage::Escalate {
                // At the top of the chain the warning stays red: there is no one above.
                if let Ok(unit) = escalate(facts, None) {
                    next.unit = unit;
                    next.state = State::Pending;
                    next.extension_pending = None;
                    deadline = DeadlineChange::Restart;
                }
            }
        }
        Action::Unacknowledged => {
            need(state == State::Pending, wrong())?;
            // At the top of the chain it stays where it is: there is no one above.
            if let Ok(unit) = escalate(facts, None) {
                next.unit = unit;
                next.extension_pending = None;
                deadline = DeadlineChange::Restart;
            }
        }
        Action::SummonsOverdue { department } => {
            need(state.is_open(), wrong())?;
            let Some(slot) = next
                .summons
                .iter_mut()
                .find(|(id, s)| id == department && *s == SummonsState::Waiting)
            else {
                return Err(Refusal::NotSummoned);
            };
            slot.1 = SummonsState::Overdue;
        }
    }
    Ok(Step {
        facts: next,
        deadline,
    })
}

fn escalate(facts: &Facts, department: Option<i64>) -> Result<Unit, Refusal> {
    if matches!(facts.unit, Unit::Department(_)) {
        return Err(Refusal::TopOfChain);
    }
    facts
        .unit
        .next_up(department.or(facts.escalation_department))
        .ok_or(if facts.unit.handling_level() == HandlingLevel::Street {
            Refusal::NoDepartment
        } else {
            Refusal::TopOfChain
        })
}
