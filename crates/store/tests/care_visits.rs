//! Care's visits against both databases: key elderly enrolled from the registry's tags with
//! plans from their community's rules, visits on time and overdue, rules changed and the
//! plans following, a household's own alarm rules, and the leaders' figures.

use chrono::NaiveDate;
use linli_core::care::DeviceKind;
use linli_core::care_rules::Rules;
use linli_core::care_visits::{plan_for, Concern, EndReason, VisitMode, VisitRule};
use linli_core::registry::tags::Tag;
use linli_core::RegionCode;
use linli_pii::Keyring;
use linli_store::care_visits::{Due, NewVisit};
use linli_store::divisions::Quiet;
use linli_store::registry::{Page, ResidentFilter};
use linli_store::testing::TestDb;
use linli_store::{now_ms, Actor, Store, StoreError};

const DAY: i64 = 86_400_000;

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("code")
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        username: "shegong".into(),
        ip: None,
    }
}

fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

async fn demo(db: &TestDb) -> Store {
    let mut s = db.open().await;
    s.use_keys(Keyring::generate()).await.expect("keys");
    eprintln!("backend: {:?}", s.backend());
    s.build_demo("demo-pass-1", 0.001, None, &Quiet)
        .await
        .expect("demo");
    s
}

fn all() -> Page {
    Page {
        offset: 0,
        limit: 500,
    }
}

fn filter(region: RegionCode, tags: Vec<Tag>) -> ResidentFilter {
    ResidentFilter {
        range: region.range(),
        tags,
        q: None,
        household_id: None,
        building_id: None,
    }
}

fn invalid_code(e: StoreError) -> &'static str {
    match e {
        StoreError::Invalid(p) | StoreError::Conflict(p) => p.code,
        other => panic!("expected a problem, got {other:?}"),
    }
}

fn visit(at: Option<i64>) -> NewVisit {
    NewVisit {
        visited_at: at,
        mode: VisitMode::Home,
        note: "精神很好，药按时吃".into(),
        concerns: vec![],
        photos: vec![],
    }
}

#[tokio::test]
async fn key_elderly_are_enrolled_from_their_tags_and_visits_keep_the_plan() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let day = today();
        // A community with elderly people living alone: the demo tags some.
        let alone = s
            .residents(
                &filter(code("330102"), vec![Tag::LivingAlone, Tag::Age60]),
                all(),
                day,
            )
            .await
            .expect("residents");
        let first = alone
            .items
            .first()
            .expect("someone 60+ living alone in the demo");
        let community = first.community;

        // The built-in rules apply: every candidate matches one, with that rule's plan, and
        // every 60+ resident living alone in the community is among them.
        let rules = s.visit_rules(community).await.expect("rules");
        assert_eq!(rules.scope, None, "no region has rules of its own yet");
        let parsed = linli_core::care_visits::parse_rules(&rules.rules).expect("parse");
        let candidates = s
            .care_candidates(community, day, all())
            .await
            .expect("candidates");
        assert!(candidates.total > 0);
        assert_eq!(candidates.total as usize, candidates.items.len());
        for c in &candidates.items {
            let plan = plan_for(&parsed, &c.tags).expect("a candidate has a plan");
            assert_eq!(
                (plan.interval_days, plan.code()),
                (c.interval_days, c.rule.clone())
            );
            assert_eq!(c.community, community);
        }
        let in_community = s
            .residents(
                &filter(community, vec![Tag::LivingAlone, Tag::Age60]),
                all(),
                day,
            )
            .await
            .expect("residents");
        for r in &in_community.items {
            assert!(
                candidates.items.iter().any(|c| c.resident_id == r.id),
                "{} missing",
                r.name
            );
        }
        // A street is not where enrolment happens.
        let street = code(&community.to_string()[..9]);
        assert_eq!(
            invalid_code(
                s.care_candidates(street, day, all())
                    .await
                    .expect_err("street")
            ),
            "care_region_not_community"
        );

        // One by one: the plan comes from the rules; twice is refused; someone no rule
        // matches needs an interval by hand.
        let one = s.enrol(&actor(), first.id, None, day).await.expect("enrol");
        assert!(one.rule.is_some(), "planned by a rule");
        assert_eq!(one.name.as_deref(), Some(first.name.as_str()));
        assert!((one.due_at - one.enrolled_at - i64::from(one.interval_days) * DAY).abs() < 1000);
        let again = s
            .enrol(&actor(), first.id, None, day)
            .await
            .expect_err("twice");
        assert_eq!(invalid_code(again), "care_already_enrolled");
        // Someone of the community no rule matches (younger, or not alone).
        let everyone = s
            .residents(&filter(community, vec![]), all(), day)
            .await
            .expect("residents");
        let child = everyone
            .items
            .iter()
            .find(|r| !candidates.items.iter().any(|c| c.resident_id == r.id))
            .expect("someone no rule matches");
        assert_eq!(
            invalid_code(
                s.enrol(&actor(), child.id, None, day)
                    .await
                    .expect_err("no rule")
            ),
            "care_no_visit_rule"
        );
        assert_eq!(
            invalid_code(
                s.enrol(&actor(), 999_999_999, None, day)
                    .await
                    .expect_err("nobody")
            ),
            "care_resident_not_found"
        );
        let by_hand = s
            .enrol(&actor(), child.id, Some(1), day)
            .await
            .expect("by hand");
        assert_eq!((by_hand.interval_days, by_hand.rule.clone()), (1, None));

        // The rest of the candidates in one go.
        let n = s
            .enrol_candidates(&actor(), community, day)
            .await
            .expect("bulk");
        assert_eq!(n as i64, candidates.total - 1);
        assert_eq!(
            s.care_candidates(community, day, all())
                .await
                .expect("none left")
                .total,
            0
        );
        let listed = s
            .care_enrolments(community.range(), Due::All, day, all())
            .await
            .expect("list");
        assert_eq!(listed.total, candidates.total + 1);
        let weekly = listed.items.iter().filter(|e| e.interval_days <= 7).count() as i64;
        let within = s
            .care_enrolments(community.range(), Due::Within(7), day, all())
            .await
            .expect("week");
        assert_eq!(within.total, weekly);
        assert!(
            within.items.windows(2).all(|w| w[0].due_at <= w[1].due_at),
            "most urgent first"
        );
        assert_eq!(
            s.care_enrolments(community.range(), Due::Overdue, day, all())
                .await
                .expect("o")
                .total,
            0
        );

        // Visits: the first, two days ago, on time, moves the plan: a one-day interval is
        // now overdue; the next, today, is late; one written up later for yesterday does
        // not move the plan back.
        let now = now_ms();
        let v1 = s
            .record_visit(&actor(), by_hand.id, &visit(Some(now - 2 * DAY)))
            .await
            .expect("v1");
        assert!(v1.on_time);
        let e = s
            .care_enrolment(by_hand.id, day)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(
            (e.last_visit_at, e.due_at),
            (Some(now - 2 * DAY), now - DAY)
        );
        let overdue = s
            .care_enrolments(community.range(), Due::Overdue, day, all())
            .await
            .expect("o");
        assert_eq!(
            overdue.items.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![by_hand.id]
        );
        let mut phoned = visit(None);
        phoned.mode = VisitMode::Phone;
        phoned.concerns = vec![Concern::Fraud, Concern::Health];
        let v2 = s
            .record_visit(&actor(), by_hand.id, &phoned)
            .await
            .expect("v2");
        assert!(!v2.on_time, "a day late");
        assert_eq!(
            (v2.mode.as_str(), v2.concerns.clone()),
            ("phone", vec!["health".to_string(), "fraud".to_string()])
        );
        let v3 = s
            .record_visit(&actor(), by_hand.id, &visit(Some(now - DAY)))
            .await
            .expect("v3");
        let e = s
            .care_enrolment(by_hand.id, day)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(
            e.last_visit_at,
            Some(v2.visited_at),
            "the latest visit sets the plan"
        );
        assert_eq!(v3.due_at, e.due_at);
        let history = s
            .care_visits(by_hand.id, None, all())
            .await
            .expect("history");
        assert_eq!(
            history.items.iter().map(|v| v.id).collect::<Vec<_>>(),
            vec![v2.id, v3.id, v1.id]
        );

        // Bad visits change nothing.
        for (v, expected) in [
            (visit(Some(now + DAY)), "care_visit_in_future"),
            (visit(Some(now - 40 * DAY)), "care_visit_too_old"),
            (
                NewVisit {
                    note: "长".repeat(2001),
                    ..visit(None)
                },
                "care_note_too_long",
            ),
        ] {
            assert_eq!(
                invalid_code(
                    s.record_visit(&actor(), by_hand.id, &v)
                        .await
                        .expect_err(expected)
                ),
                expected
            );
        }
        assert_eq!(
            invalid_code(
                s.record_visit(&actor(), 999_999_999, &visit(None))
                    .await
                    .expect_err("none")
            ),
            "care_enrolment_not_found"
        );
        assert_eq!(
            s.care_visits(by_hand.id, None, all())
                .await
                .expect("history")
                .total,
            3
        );

        // Figures: everyone enrolled, one overdue, three visits of which two on time.
        let f = s
            .care_figures(community.range(), now - 30 * DAY, now_ms())
            .await
            .expect("figures");
        assert_eq!(
            (f.enrolled, f.overdue, f.visits, f.visits_on_time),
            (listed.total, 0, 3, 2)
        );

        // The community's own rules: everyone 60+ living alone every 3 days. The plans they
        // govern change at once; bad rules change nothing.
        let own = vec![VisitRule {
            tags: vec!["living_alone".into(), "age60".into()],
            interval_days: 3,
        }];
        let bad = vec![VisitRule {
            tags: vec!["age60".into(), "age80".into()],
            interval_days: 3,
        }];
        assert_eq!(
            invalid_code(
                s.set_visit_rules(&actor(), community, Some(&bad), day)
                    .await
                    .expect_err("bad")
            ),
            "care_bad_visit_rule"
        );
        let replanned = s
            .set_visit_rules(&actor(), community, Some(&own), day)
            .await
            .expect("set");
        assert!(replanned > 0);
        let rules = s.visit_rules(community).await.expect("rules");
        assert_eq!(
            (rules.scope, rules.rules.clone()),
            (Some(community), own.clone())
        );
        let e = s
            .care_enrolment(one.id, day)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(
            (e.interval_days, e.rule.as_deref()),
            (3, Some("age60+living_alone"))
        );
        // A grid of the community follows its community's rules; the district does not.
        assert_eq!(
            s.visit_rules(code("330102")).await.expect("district").scope,
            None
        );
        s.set_visit_rules(&actor(), community, None, day)
            .await
            .expect("back to the defaults");
        let e = s
            .care_enrolment(one.id, day)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(
            e.interval_days, one.interval_days,
            "the built-in plan again"
        );

        // Back to the rules by hand, and the end: nothing more can be recorded, the visits stay.
        let e = s
            .set_enrolment_interval(&actor(), one.id, Some(2), day)
            .await
            .expect("by hand");
        assert_eq!((e.interval_days, e.rule.clone()), (2, None));
        let e = s
            .set_enrolment_interval(&actor(), one.id, None, day)
            .await
            .expect("rules");
        assert_eq!(e.interval_days, one.interval_days);
        let ended = s
            .end_enrolment(&actor(), by_hand.id, EndReason::MovedAway, day)
            .await
            .expect("end");
        assert_eq!(ended.end_reason.as_deref(), Some("moved_away"));
        assert_eq!(
            invalid_code(
                s.record_visit(&actor(), by_hand.id, &visit(None))
                    .await
                    .expect_err("ended")
            ),
            "care_enrolment_ended"
        );
        assert_eq!(
            s.care_visits(by_hand.id, None, all())
                .await
                .expect("kept")
                .total,
            3
        );
        assert!(
            s.enrol(&actor(), child.id, Some(5), day).await.is_ok(),
            "enrolled again after the end"
        );

        // A resident removed from the registry leaves care with the reason.
        s.delete_resident(&actor(), first.id, day)
            .await
            .expect("delete");
        let e = s
            .care_enrolment(one.id, day)
            .await
            .expect("read")
            .expect("kept");
        assert_eq!(
            (e.end_reason.as_deref(), e.name.clone()),
            (Some("removed_from_registry"), None)
        );

        // The audit log has each step.
        let audit = s
            .audit_log(linli_core::Scope::Nation, None, 500)
            .await
            .expect("audit");
        for action in [
            "care.enrol",
            "care.enrol_candidates",
            "care.visit.record",
            "care.visit_rules.set",
            "care.enrolment.interval",
            "care.enrolment.end",
        ] {
            assert!(audit.iter().any(|a| a.action == action), "{action} audited");
        }
    }
}

#[tokio::test]
async fn a_household_has_its_own_alarm_rules_and_the_figures_count_alarms_and_devices() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let households = s
            .households(
                code("330102").range(),
                None,
                None,
                None,
                Page {
                    offset: 0,
                    limit: 1,
                },
            )
            .await
            .expect("households");
        let h = households.items.first().expect("a household").clone();

        let r = s
            .care_household_rules(h.id)
            .await
            .expect("read")
            .expect("there");
        assert!(!r.custom);
        assert_eq!(r.rules, Rules::default());
        assert!(s
            .care_household_rules(999_999_999)
            .await
            .expect("read")
            .is_none());
        let own = Rules {
            inactivity_default_min: 5 * 60,
            vitals_in_a_row: 5,
            ..Rules::default()
        };
        let mut bad = own.clone();
        bad.night_exit_min = 1;
        let e = s
            .set_care_household_rules(&actor(), h.id, Some(&bad))
            .await
            .expect_err("bad");
        assert_eq!(invalid_code(e), "care_bad_rule");
        assert!(
            !s.care_household_rules(h.id)
                .await
                .expect("read")
                .expect("there")
                .custom,
            "unchanged"
        );
        let set = s
            .set_care_household_rules(&actor(), h.id, Some(&own))
            .await
            .expect("set");
        assert!(set.custom);
        assert_eq!(
            s.care_household_rules(h.id)
                .await
                .expect("read")
                .expect("there")
                .rules,
            own
        );
        assert_eq!(
            invalid_code(
                s.set_care_household_rules(&actor(), 999_999_999, Some(&own))
                    .await
                    .expect_err("none")
            ),
            "care_household_not_found"
        );

        // A press with the household's own rules still raises an alarm; the figures count it,
        // the device online, and one offline that never sent anything.
        let (sos, _) = s
            .register_device(&actor(), "sos-fig", DeviceKind::Sos, h.id)
            .await
            .expect("sos");
        s.register_device(&actor(), "smoke-fig", DeviceKind::Smoke, h.id)
            .await
            .expect("smoke");
        let ts = chrono::DateTime::from_timestamp_millis(now_ms())
            .expect("now")
            .to_rfc3339();
        let press = format!(r#"{{"ts":"{ts}","kind":"sos","value":1,"seq":1}}"#);
        let out = s
            .ingest_batch(&[(sos.device_id.as_str(), press.as_bytes())])
            .await
            .expect("ingest");
        assert_eq!(out.alarms.len(), 1);
        let f = s
            .care_figures(h.region.range(), now_ms() - DAY, now_ms())
            .await
            .expect("figures");
        assert_eq!((f.devices, f.devices_online), (2, 1));
        assert_eq!(f.alarms_by_kind.get("sos"), Some(&1));
        assert_eq!(
            (f.alarms_unresolved, f.acknowledged, f.acknowledge_p50_min),
            (1, 0, None)
        );

        s.set_care_household_rules(&actor(), h.id, None)
            .await
            .expect("defaults");
        assert!(
            !s.care_household_rules(h.id)
                .await
                .expect("read")
                .expect("there")
                .custom
        );
    }
}

#[tokio::test]
async fn the_demo_enrols_its_key_elderly_with_two_months_of_visits_and_rebuilds_cleanly() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let district = code("330102");
        let first = s.build_demo_care(district).await.expect("demo care");
        assert!(
            first.enrolled > 0 && first.visits > first.enrolled,
            "{first:?}"
        );
        let day = today();
        let listed = s
            .care_enrolments(district.range(), Due::All, day, all())
            .await
            .expect("list");
        assert_eq!(listed.total, first.enrolled as i64);
        let now = now_ms();
        let f = s
            .care_figures(district.range(), now - 30 * DAY, now)
            .await
            .expect("figures");
        assert!(f.overdue > 0 && f.overdue < f.enrolled, "{f:?}");
        assert!(f.visits_on_time > 0 && f.visits_on_time < f.visits, "{f:?}");
        // Each plan follows its latest visit.
        for e in &listed.items {
            let latest = s
                .care_visits(
                    e.id,
                    None,
                    Page {
                        offset: 0,
                        limit: 1,
                    },
                )
                .await
                .expect("visits");
            let last = latest.items.first().map(|v| v.visited_at);
            assert_eq!(e.last_visit_at, last);
            assert_eq!(
                e.due_at,
                last.unwrap_or(e.enrolled_at) + i64::from(e.interval_days) * DAY
            );
        }
        // A rebuild replaces the demo's care, the same again.
        let again = s.build_demo_care(district).await.expect("again");
        assert_eq!(again, first);
        assert_eq!(
            s.care_enrolments(district.range(), Due::All, day, all())
                .await
                .expect("list")
                .total,
            first.enrolled as i64
        );
    }
}
