//! Tests of the event state machine: the whole life of an event, each refusal, and two
//! properties over random sequences of actions by random actors.

use proptest::prelude::*;

use crate::events::deadline::Stage;
use crate::events::flow::{
    apply, Action, Actor, DeadlineChange, Facts, Refusal, State, SummonsState,
};
use crate::events::unit::Unit;
use crate::events::{DAY_MS, HOUR_MS};
use crate::region::{RegionCode, Scope};
use crate::role::Role;

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("test code")
}

const MICRO: &str = "330102001001001002";
const GRID: &str = "330102001001001";
const COMMUNITY: &str = "330102001001";
const STREET: &str = "330102001";
const DISTRICT: &str = "330102";
const RESIDENT: i64 = 100;

fn user(id: i64, role: Role, scope: &str) -> Actor {
    Actor::User {
        id,
        role,
        scope: Scope::Region(code(scope)),
        department: None,
    }
}

fn clerk(id: i64, department: i64) -> Actor {
    Actor::User {
        id,
        role: Role::DepartmentClerk,
        scope: Scope::Region(code(DISTRICT)),
        department: Some(department),
    }
}

fn fresh() -> Facts {
    Facts {
        state: State::Pending,
        region: code(MICRO),
        unit: Unit::Region(code(GRID)),
        reporter: Some(RESIDENT),
        extension_pending: None,
        closed_at: None,
        rated: false,
        summons: Vec::new(),
        grid_may_close: false,
        escalation_department: Some(7),
    }
}

fn step(f: &Facts, a: Action, who: &Actor) -> Facts {
    match apply(f, &a, who, 0) {
        Ok(s) => s.facts,
        Err(r) => panic!("{} by {who:?} refused: {r:?}", a.name()),
    }
}

#[test]
fn a_report_is_accepted_handled_verified_closed_rated() {
    let grid = user(1, Role::GridWorker, GRID);
    let community = user(2, Role::CommunityWorker, COMMUNITY);
    let reporter = user(RESIDENT, Role::Resident, COMMUNITY);
    let mut f = fresh();
    f = step(&f, Action::Accept, &grid);
    assert_eq!(f.state, State::Handling);
    f = step(&f, Action::ReportBack, &grid);
    assert_eq!(f.state, State::Verifying);
    assert_eq!(
        apply(&f, &Action::Verify, &grid, 0),
        Err(Refusal::NotSupervisor),
        "a handler never verifies their own work"
    );
    f = step(&f, Action::Verify, &community);
    f = step(&f, Action::Close, &community);
    assert_eq!(f.state, State::Closed);
    assert_eq!(
        apply(&f, &Action::Rate { stars: 6 }, &reporter, 0),
        Err(Refusal::BadStars)
    );
    f = step(&f, Action::Rate { stars: 2 }, &reporter);
    assert!(f.rated);
    assert_eq!(
        apply(&f, &Action::Rate { stars: 5 }, &reporter, 0),
        Err(Refusal::AlreadyRated)
    );
    // Not fixed: reopened within seven days, back in the grid's inbox with fresh time.
    let reopened = apply(&f, &Action::Reopen, &reporter, 6 * DAY_MS).expect("reopen");
    assert_eq!(reopened.facts.state, State::Pending);
    assert_eq!(reopened.facts.unit, Unit::Region(code(GRID)));
    assert_eq!(reopened.deadline, DeadlineChange::Restart);
    assert!(!reopened.facts.rated, "the next closure is rated anew");
    assert_eq!(
        apply(&f, &Action::Reopen, &reporter, 8 * DAY_MS),
        Err(Refusal::ReopenExpired)
    );
}

#[test]
fn escalation_climbs_to_the_department_and_stops() {
    let grid = user(1, Role::GridWorker, GRID);
    let community = user(2, Role::CommunityWorker, COMMUNITY);
    let street = user(3, Role::Leader, STREET);
    let mut f = fresh();
    f = step(&f, Action::Escalate { department: None }, &grid);
    assert_eq!(f.unit, Unit::Region(code(COMMUNITY)));
    assert_eq!(
        apply(&f, &Action::Accept, &grid, 0),
        Err(Refusal::NotHandler)
    );
    f = step(&f, Action::Escalate { department: None }, &community);
    assert_eq!(f.unit, Unit::Region(code(STREET)));
    let mut no_dept = f.clone();
    no_dept.escalation_department = None;
    assert_eq!(
        apply(&no_dept, &Action::Escalate { department: None }, &street, 0),
        Err(Refusal::NoDepartment)
    );
    f = step(&f, Action::Escalate { department: None }, &street);
    assert_eq!(f.unit, Unit::Department(7));
    let other_clerk = clerk(9, 8);
    assert_eq!(
        apply(&f, &Action::Accept, &other_clerk, 0),
        Err(Refusal::NotHandler)
    );
    let our_clerk = clerk(10, 7);
    f = step(&f, Action::Accept, &our_clerk);
    assert_eq!(
        apply(
            &f,
            &Action::Escalate {
                department: Some(3)
            },
            &our_clerk,
            0
        ),
        Err(Refusal::TopOfChain)
    );
    // The district verifies a department's work.
    f = step(&f, Action::ReportBack, &our_clerk);
    assert_eq!(
        apply(&f, &Action::Verify, &street, 0),
        Err(Refusal::NotSupervisor)
    );
    f = step(&f, Action::Verify, &user(4, Role::Leader, DISTRICT));
    assert_eq!(f.state, State::Verified);
}

#[test]
fn the_grid_closes_on_the_spot_only_what_the_admission_list_allows() {
    let grid = user(1, Role::GridWorker, GRID);
    let f = fresh();
    assert_eq!(
        apply(&f, &Action::CloseOnSpot, &grid, 5),
        Err(Refusal::NotAdmitted)
    );
    let mut admitted = fresh();
    admitted.grid_may_close = true;
    let s = apply(&admitted, &Action::CloseOnSpot, &grid, 5).expect("close on spot");
    assert_eq!(s.facts.state, State::Closed);
    assert_eq!(s.facts.closed_at, Some(5));
    let mut at_community = admitted.clone();
    at_community.unit = Unit::Region(code(COMMUNITY));
    let community = user(2, Role::CommunityWorker, COMMUNITY);
    assert_eq!(
        apply(&at_community, &Action::CloseOnSpot, &community, 0),
        Err(Refusal::NotAtGrid)
    );
}

#[test]
fn extensions_are_asked_by_the_handler_and_decided_above() {
    let grid = user(1, Role::GridWorker, GRID);
    let community = user(2, Role::CommunityWorker, COMMUNITY);
    let f = step(&fresh(), Action::Accept, &grid);
    assert_eq!(
        apply(&f, &Action::RequestExtension { minutes: 0 }, &grid, 0),
        Err(Refusal::BadExtension)
    );
    let asked = step(&f, Action::RequestExtension { minutes: 24 * 60 }, &grid);
    assert_eq!(
        apply(&asked, &Action::RequestExtension { minutes: 60 }, &grid, 0),
        Err(Refusal::ExtensionPending)
    );
    assert_eq!(
        apply(&asked, &Action::ApproveExtension, &grid, 0),
        Err(Refusal::NotSupervisor)
    );
    let approved = apply(&asked, &Action::ApproveExtension, &community, 0).expect("approve");
    assert_eq!(approved.deadline, DeadlineChange::Extend(24 * 60));
    assert_eq!(approved.facts.extension_pending, None);
    assert_eq!(
        apply(&approved.facts, &Action::DenyExtension, &community, 0),
        Err(Refusal::NoExtensionPending)
    );
}

#[test]
fn a_whistle_summons_departments_that_must_check_in() {
    let grid = user(1, Role::GridWorker, GRID);
    let community = user(2, Role::CommunityWorker, COMMUNITY);
    let f = fresh();
    assert_eq!(
        apply(
            &f,
            &Action::Whistle {
                departments: vec![]
            },
            &grid,
            0
        ),
        Err(Refusal::NoDepartments)
    );
    let mut at_community = f.clone();
    at_community.unit = Unit::Region(code(COMMUNITY));
    assert_eq!(
        apply(
            &at_community,
            &Action::Whistle {
                departments: vec![3]
            },
            &community,
            0
        ),
        Err(Refusal::NotHandler),
        "the whistle is the grid worker's"
    );
    let f = step(
        &f,
        Action::Whistle {
            departments: vec![3, 4],
        },
        &grid,
    );
    assert_eq!(
        f.summons,
        vec![(3, SummonsState::Waiting), (4, SummonsState::Waiting)]
    );
    assert_eq!(
        apply(&f, &Action::CheckIn, &clerk(9, 5), 0),
        Err(Refusal::NotSummoned)
    );
    let f = step(&f, Action::CheckIn, &clerk(9, 3));
    assert_eq!(
        apply(
            &f,
            &Action::SummonsOverdue { department: 3 },
            &Actor::System,
            0
        ),
        Err(Refusal::NotSummoned),
        "a department that checked in is not overdue"
    );
    let f = step(&f, Action::SummonsOverdue { department: 4 }, &Actor::System);
    assert_eq!(f.summons[1], (4, SummonsState::Overdue));
    let f = step(&f, Action::CheckIn, &clerk(9, 4));
    assert_eq!(
        f.summons[1],
        (4, SummonsState::CheckedIn),
        "a late check-in counts"
    );
}

#[test]
fn the_scheduler_escalates_overdue_events_and_people_cannot() {
    let grid = user(1, Role::GridWorker, GRID);
    let f = fresh();
    assert_eq!(
        apply(&f, &Action::Deadline(Stage::Escalate), &grid, 0),
        Err(Refusal::SystemOnly)
    );
    assert_eq!(
        apply(&f, &Action::Accept, &Actor::System, 0),
        Err(Refusal::RoleMayNot)
    );
    let s = apply(&f, &Action::Deadline(Stage::Escalate), &Actor::System, 0).expect("escalate");
    assert_eq!(s.facts.unit, Unit::Region(code(COMMUNITY)));
    assert_eq!(s.deadline, DeadlineChange::Restart);
    let yellow = apply(&f, &Action::Deadline(Stage::Yellow), &Actor::System, 0).expect("warn");
    assert_eq!(yellow.facts, f);
    // At the top there is no one above: the event stays, red.
    let mut top = f.clone();
    top.unit = Unit::Department(7);
    let s = apply(&top, &Action::Deadline(Stage::Escalate), &Actor::System, 0).expect("top");
    assert_eq!(s.facts.unit, Unit::Department(7));
    assert_eq!(s.deadline, DeadlineChange::Keep);
}

#[test]
fn an_alarm_not_acknowledged_sends_its_waiting_event_up_and_only_then() {
    let grid = user(1, Role::GridWorker, GRID);
    let f = fresh();
    assert_eq!(
        apply(&f, &Action::Unacknowledged, &grid, 0),
        Err(Refusal::SystemOnly)
    );
    let s = apply(&f, &Action::Unacknowledged, &Actor::System, 0).expect("escalate");
    assert_eq!(s.facts.unit, Unit::Region(code(COMMUNITY)));
    assert_eq!(s.facts.state, State::Pending);
    assert_eq!(s.deadline, DeadlineChange::Restart);
    // Accepted in time: nothing to escalate.
    let accepted = step(&f, Action::Accept, &grid);
    assert!(matches!(
        apply(&accepted, &Action::Unacknowledged, &Actor::System, 0),
        Err(Refusal::WrongState { .. })
    ));
}

#[test]
fn residents_act_only_on_their_own_reports() {
    let reporter = user(RESIDENT, Role::Resident, DISTRICT);
    let neighbour = user(RESIDENT + 1, Role::Resident, COMMUNITY);
    let f = fresh();
    assert_eq!(
        apply(&f, &Action::Withdraw, &neighbour, 0),
        Err(Refusal::RoleMayNot)
    );
    assert_eq!(
        apply(&f, &Action::Accept, &reporter, 0),
        Err(Refusal::RoleMayNot)
    );
    let w = step(&f, Action::Withdraw, &reporter);
    assert_eq!(w.state, State::Withdrawn);
    let operator = user(5, Role::Operator, COMMUNITY);
    assert_eq!(
        apply(&f, &Action::Comment, &operator, 0),
        Err(Refusal::RoleMayNot)
    );
}

// ---------------------------------------------------------------------------------------
// Properties

/// A cast around one event in grid 330102001001001: its handlers and supervisors at every
/// level, clerks, the reporter, strangers in a neighbouring grid, community and street.
fn cast() -> Vec<Actor> {
    vec![
        user(1, Role::GridWorker, GRID),
        user(2, Role::CommunityWorker, COMMUNITY),
        user(3, Role::Leader, STREET),
        user(4, Role::Leader, DISTRICT),
        user(5, Role::Admin, DISTRICT),
        clerk(6, 7),
        clerk(7, 8),
        user(RESIDENT, Role::Resident, COMMUNITY),
        user(101, Role::Resident, COMMUNITY),
        user(20, Role::GridWorker, "330102001001002"),
        user(21, Role::CommunityWorker, "330102001002"),
        user(22, Role::Leader, "330102002"),
        user(23, Role::Admin, "330103"),
        Actor::User {
            id: 24,
            role: Role::DepartmentClerk,
            scope: Scope::Region(code("330103")),
            department: Some(7),
        },
        Actor::System,
    ]
}

fn any_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Accept),
        Just(Action::ReportBack),
        Just(Action::Verify),
        Just(Action::Reject),
        Just(Action::Close),
        Just(Action::CloseOnSpot),
        (0i64..3000).prop_map(|minutes| Action::RequestExtension { minutes }),
        Just(Action::ApproveExtension),
        Just(Action::DenyExtension),
        proptest::option::of(7i64..9).prop_map(|department| Action::Escalate { department }),
        proptest::collection::vec(7i64..9, 0..3)
            .prop_map(|departments| Action::Whistle { departments }),
        Just(Action::CheckIn),
        Just(Action::Withdraw),
        (0u8..7).prop_map(|stars| Action::Rate { stars }),
        Just(Action::Reopen),
        (1i64..5).prop_map(|into| Action::Merge { into }),
        Just(Action::Comment),
        prop_oneof![Just(Stage::Yellow), Just(Stage::Red), Just(Stage::Escalate)]
            .prop_map(Action::Deadline),
        (7i64..9).prop_map(|department| Action::SummonsOverdue { department }),
        Just(Action::Unacknowledged),
    ]
}

fn outsider(actor: &Actor, facts: &Facts) -> bool {
    match actor {
        Actor::User { id, scope, .. } => {
            !scope.contains(facts.region) && facts.reporter != Some(*id)
        }
        Actor::System => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Over any sequence of attempts by anyone, an event is closed only by a supervisor's
    /// close after a verification of the latest report-back, or by a grid's on-spot
    /// closure that the admission list allows.
    #[test]
    fn nothing_is_closed_without_verification(
        admitted in any::<bool>(),
        moves in proptest::collection::vec((any_action(), 0usize..15, 0i64..(10 * DAY_MS)), 1..60),
    ) {
        let cast = cast();
        let mut f = fresh();
        f.grid_may_close = admitted;
        let mut now = 0;
        let mut verified = false;
        for (action, who, dt) in moves {
            now += dt / 10 + HOUR_MS;
            let actor = &cast[who % cast.len()];
            let Ok(s) = apply(&f, &action, actor, now) else { continue };
            match action {
                Action::Verify => verified = true,
                Action::Reject | Action::ReportBack | Action::Reopen => verified = false,
                _ => {}
            }
            if s.facts.state == State::Closed && f.state != State::Closed {
                let on_spot = action == Action::CloseOnSpot && admitted;
                prop_assert!(
                    on_spot || (action == Action::Close && verified),
                    "closed by {} without verification", action.name()
                );
            }
            f = s.facts;
        }
    }

    /// Staff outside the event's region — and residents other than its reporter — are
    /// refused every action, in every state, whatever the unit.
    #[test]
    fn no_one_outside_the_region_acts(
        action in any_action(),
        who in 0usize..15,
        state in prop_oneof![
            Just(State::Pending), Just(State::Handling), Just(State::Verifying),
            Just(State::Verified), Just(State::Closed), Just(State::Merged), Just(State::Withdrawn)
        ],
        unit in prop_oneof![
            Just(Unit::Region(code(GRID))), Just(Unit::Region(code(COMMUNITY))),
            Just(Unit::Region(code(STREET))), Just(Unit::Department(7))
        ],
        summoned in any::<bool>(),
    ) {
        let cast = cast();
        let actor = &cast[who];
        let mut f = fresh();
        f.state = state;
        f.unit = unit;
        f.grid_may_close = true;
        f.closed_at = (state == State::Closed).then_some(0);
        if summoned {
            f.summons = vec![(7, SummonsState::Waiting), (8, SummonsState::Overdue)];
        }
        let result = apply(&f, &action, actor, HOUR_MS);
        if outsider(actor, &f) {
            prop_assert!(result.is_err(), "{} by {:?} allowed", action.name(), actor);
        }
        let is_resident = matches!(actor, Actor::User { role: Role::Resident, .. });
        if is_resident && matches!(actor, Actor::User { id, .. } if *id != RESIDENT) {
            prop_assert!(result.is_err(), "a stranger's {} allowed", action.name());
        }
    }
}

#[test]
fn a_refusal_names_the_state_and_the_action_in_the_readers_language() {
    let r = Refusal::WrongState {
        action: "verify",
        state: State::Pending,
    };
    let p = r.problem();
    assert_eq!(p.code, "event_wrong_state");
    assert_eq!(
        p.message(crate::i18n::Lang::Zh),
        "这件事当前为“待受理”，不能“核查通过”。"
    );
    assert_eq!(
        p.message(crate::i18n::Lang::En),
        "The event is “Pending”; it cannot be “Verify” now."
    );
}

#[test]
fn the_promised_time_moves_with_extensions_and_reopenings_but_not_escalations() {
    let grid = user(1, Role::GridWorker, GRID);
    let community = user(2, Role::CommunityWorker, COMMUNITY);
    let allowed = DAY_MS;
    let promised = allowed;
    // An escalation restarts the working deadline, and leaves the promise where it was.
    let escalate = Action::Escalate { department: None };
    let s = apply(&fresh(), &escalate, &grid, 2 * DAY_MS).expect("escalate");
    assert_eq!(s.deadline, DeadlineChange::Restart);
    assert_eq!(
        s.deadline
            .promised(&escalate, promised, 2 * DAY_MS, allowed),
        promised
    );
    // So does the scheduler's escalation of an overdue event.
    let fired = Action::Deadline(Stage::Escalate);
    let s = apply(&fresh(), &fired, &Actor::System, 2 * DAY_MS).expect("fire");
    assert_eq!(s.deadline, DeadlineChange::Restart);
    assert_eq!(
        s.deadline.promised(&fired, promised, 2 * DAY_MS, allowed),
        promised
    );
    // An approved extension moves it by the minutes granted.
    let mut f = step(&fresh(), Action::RequestExtension { minutes: 90 }, &grid);
    let s = apply(&f, &Action::ApproveExtension, &community, HOUR_MS).expect("approve");
    let moved = s
        .deadline
        .promised(&Action::ApproveExtension, promised, HOUR_MS, allowed);
    assert_eq!(moved, promised + 90 * 60_000);
    // A reopening is a new round: the full time from the moment it reopened.
    let admitted = Facts {
        grid_may_close: true,
        ..fresh()
    };
    f = step(&admitted, Action::CloseOnSpot, &grid);
    let reporter = user(RESIDENT, Role::Resident, COMMUNITY);
    let s = apply(&f, &Action::Reopen, &reporter, 3 * HOUR_MS).expect("reopen");
    assert_eq!(
        s.deadline
            .promised(&Action::Reopen, promised, 3 * HOUR_MS, allowed),
        3 * HOUR_MS + allowed
    );
    // Everything else keeps it.
    let s = apply(&fresh(), &Action::Accept, &grid, HOUR_MS).expect("accept");
    assert_eq!(
        s.deadline
            .promised(&Action::Accept, promised, HOUR_MS, allowed),
        promised
    );
}
