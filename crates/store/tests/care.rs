//! Care devices and readings against both databases: a device registered with its own
//! credential, readings stored once each, and everything refused counted with its reason.

use linli_core::care::DeviceKind;
use linli_core::care_rules::{AlarmKind, Severity};
use linli_core::RegionCode;
use linli_pii::Keyring;
use linli_store::care::DeviceAuth;
use linli_store::divisions::Quiet;
use linli_store::registry::Page;
use linli_store::testing::TestDb;
use linli_store::{Actor, Store, StoreError};

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

/// A small demo district on `db`.
async fn demo(db: &TestDb) -> Store {
    let mut s = db.open().await;
    s.use_keys(Keyring::generate()).await.expect("keys");
    eprintln!("backend: {:?}", s.backend());
    s.build_demo("demo-pass-1", 0.001, None, &Quiet)
        .await
        .expect("demo");
    s
}

/// A household of the demo district and its community.
async fn a_household(s: &Store) -> (i64, RegionCode) {
    let listing = s
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
    let h = listing.items.first().expect("a household");
    (h.id, h.community)
}

fn reading(kind: &str, value: &str, seq: i64) -> Vec<u8> {
    reading_at(kind, value, seq, linli_store::now_ms())
}

#[tokio::test]
async fn readings_are_stored_once_and_refusals_counted_with_their_reasons() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let (household, community) = a_household(&s).await;

        // Registration: the credential is shown once, and the device is listed with its
        // community; the same id again, a bad id or an unknown household change nothing.
        let (door, credential) = s
            .register_device(&actor(), "door-0001", DeviceKind::Door, household)
            .await
            .expect("register");
        assert_eq!(credential.len(), 64, "32 random bytes in hex");
        assert_eq!(door.community, community.to_string());
        assert_eq!(door.kind, "door");
        for (id, h, expected) in [
            ("door-0001", household, "care_device_taken"),
            ("door/0002", household, "care_bad_device_id"),
            ("door-0003", 999_999_999, "care_household_not_found"),
        ] {
            let refused = s
                .register_device(&actor(), id, DeviceKind::Door, h)
                .await
                .expect_err(id);
            let code = match refused {
                StoreError::Invalid(p) | StoreError::Conflict(p) => p.code,
                other => panic!("{id}: {other}"),
            };
            assert_eq!(code, expected, "{id}");
        }
        let listed = s
            .care_devices(community.range(), Page::new(None, None))
            .await
            .expect("devices");
        assert_eq!(listed.total, 1);
        assert_eq!(listed.items[0].device_id, "door-0001");

        // Authentication: the right credential, a wrong one, an unknown device.
        let auth: DeviceAuth = s
            .authenticate_device("door-0001", &credential, b"")
            .await
            .expect("auth")
            .expect("the right credential");
        assert_eq!(auth.kind, DeviceKind::Door);
        assert_eq!(auth.community, community);
        let wrong = s
            .authenticate_device("door-0001", "not-the-credential", b"{}")
            .await
            .expect("auth")
            .expect_err("a wrong credential");
        assert_eq!(wrong.code, "care_wrong_credential");
        let unknown = s
            .authenticate_device("nobody-1", &credential, b"{\"kind\":\"door\"}")
            .await
            .expect("auth")
            .expect_err("an unknown device");
        assert_eq!(unknown.code, "care_unknown_device");

        // A batch: two readings, one sent twice, and three refused for three reasons.
        let batch = [
            reading("door", "\"open\"", 1),
            reading("door", "\"closed\"", 2),
            reading("door", "\"closed\"", 2),
            reading("battery", "64", 3),
            reading("smoke", "true", 4),
            b"{not json".to_vec(),
            reading("door", "\"ajar\"", 5),
        ];
        let payloads: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let done = s
            .ingest_readings("door-0001", auth, &payloads)
            .await
            .expect("ingest");
        assert_eq!(done.stored, 3, "open, closed, battery");
        assert_eq!(done.duplicates, 1);
        let refused: Vec<(usize, &str)> = done.refused.iter().map(|(i, p)| (*i, p.code)).collect();
        assert_eq!(
            refused,
            vec![
                (4, "care_kind_not_sent"),
                (5, "care_malformed"),
                (6, "care_bad_value")
            ]
        );
        // The same batch again: all duplicates, the refusals counted twice.
        let again = s
            .ingest_readings("door-0001", auth, &payloads)
            .await
            .expect("ingest");
        assert_eq!((again.stored, again.duplicates), (0, 4));

        let listed = s
            .care_devices(community.range(), Page::new(None, None))
            .await
            .expect("devices");
        let d = &listed.items[0];
        assert_eq!((d.readings, d.duplicates, d.refused), (3, 5, 6));
        assert_eq!(d.battery, Some(64.0));
        assert!(d.last_seen_at.is_some());

        // A battery level delivered late (its time before the latest seen) is stored as a
        // reading but does not replace the newer level.
        let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        let late = format!(r#"{{"ts":"{hour_ago}","kind":"battery","value":90,"seq":50}}"#);
        let done = s
            .ingest_readings("door-0001", auth, &[late.as_bytes()])
            .await
            .expect("ingest");
        assert_eq!(done.stored, 1);
        let d = &s
            .care_devices(community.range(), Page::new(None, None))
            .await
            .expect("devices")
            .items[0];
        assert_eq!((d.readings, d.battery), (4, Some(64.0)));

        // The operator sees every refusal by device and reason, with the latest sample.
        let counted = s
            .care_refusals(Some(community.range()), Page::new(None, None))
            .await
            .expect("refusals")
            .items;
        let mut by_reason: Vec<(String, i64)> = counted
            .iter()
            .map(|r| (r.reason.clone(), r.count))
            .collect();
        by_reason.sort();
        assert_eq!(
            by_reason,
            vec![
                ("care_bad_value".to_string(), 2),
                ("care_kind_not_sent".to_string(), 2),
                ("care_malformed".to_string(), 2),
                ("care_wrong_credential".to_string(), 1),
            ]
        );
        let malformed = counted
            .iter()
            .find(|r| r.reason == "care_malformed")
            .expect("malformed");
        assert_eq!(malformed.last_payload, "{not json");
        assert!(malformed.last_message["zh"]
            .as_str()
            .is_some_and(|m| m.contains("JSON")));
        assert_eq!(
            malformed.community.as_deref(),
            Some(community.to_string().as_str())
        );
        // An id nobody registered is counted apart, in no region.
        let strangers = s
            .care_refusals(None, Page::new(None, None))
            .await
            .expect("refusals")
            .items;
        assert_eq!(strangers.len(), 1);
        assert_eq!(strangers[0].device_id, "nobody-1");
        assert_eq!(strangers[0].reason, "care_unknown_device");
        assert_eq!(strangers[0].community, None);
    }
}

#[tokio::test]
async fn a_broker_batch_of_many_devices_is_written_at_once_and_accounted_for() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let (household, community) = a_household(&s).await;
        s.register_device(&actor(), "door-a", DeviceKind::Door, household)
            .await
            .expect("register");
        s.register_device(&actor(), "bed-a", DeviceKind::Bed, household)
            .await
            .expect("register");

        // Two devices interleaved, a reading repeated inside the batch, one refused as
        // malformed, and an id nobody registered.
        let batch: Vec<(&str, Vec<u8>)> = vec![
            ("door-a", reading("door", "\"open\"", 1)),
            ("bed-a", reading("bed", "\"in\"", 1)),
            ("door-a", reading("door", "\"closed\"", 2)),
            ("door-a", reading("door", "\"closed\"", 2)),
            ("bed-a", reading("heart_rate", "62", 2)),
            ("bed-a", b"[1,2]".to_vec()),
            ("ghost-9", reading("door", "\"open\"", 1)),
            ("door-a", reading("battery", "71", 3)),
        ];
        let sent: Vec<(&str, &[u8])> = batch.iter().map(|(d, p)| (*d, p.as_slice())).collect();
        let done = s.ingest_batch(&sent).await.expect("ingest");
        let stored: Vec<(i64, i64)> = done.stored.iter().map(|(d, r)| (d.key, r.seq)).collect();
        assert_eq!(stored.len(), 5, "{stored:?}");
        assert_eq!((done.duplicates, done.refused), (1, 2));
        assert!(done.stored.iter().all(|(d, _)| d.community == community));
        // Every payload is accounted for.
        assert_eq!(
            done.stored.len() as u64 + done.duplicates + done.refused,
            sent.len() as u64
        );

        // Redelivered whole (a broker resends what was not acknowledged): nothing new.
        let again = s.ingest_batch(&sent).await.expect("ingest");
        assert!(again.stored.is_empty());
        assert_eq!((again.duplicates, again.refused), (6, 2));

        let listed = s
            .care_devices(community.range(), Page::new(None, None))
            .await
            .expect("devices")
            .items;
        let counts: Vec<(&str, i64, i64, i64, Option<f64>)> = listed
            .iter()
            .map(|d| {
                (
                    d.device_id.as_str(),
                    d.readings,
                    d.duplicates,
                    d.refused,
                    d.battery,
                )
            })
            .collect();
        assert!(
            counts.contains(&("door-a", 3, 5, 0, Some(71.0))),
            "{counts:?}"
        );
        assert!(counts.contains(&("bed-a", 2, 2, 2, None)), "{counts:?}");
        let strangers = s
            .care_refusals(None, Page::new(None, None))
            .await
            .expect("refusals")
            .items;
        assert_eq!(strangers.len(), 1);
        assert_eq!(
            (strangers[0].device_id.as_str(), strangers[0].count),
            ("ghost-9", 2)
        );
    }
}

/// A reading at `ts` (ms).
fn reading_at(kind: &str, value: &str, seq: i64, ts: i64) -> Vec<u8> {
    let ts = chrono::DateTime::from_timestamp_millis(ts)
        .expect("time")
        .to_rfc3339();
    format!(r#"{{"ts":"{ts}","kind":"{kind}","value":{value},"seq":{seq}}}"#).into_bytes()
}

#[tokio::test]
async fn readings_raise_alarms_in_their_transaction_and_time_raises_the_rest() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let (household, community) = a_household(&s).await;
        for (id, kind) in [("sos-a", DeviceKind::Sos), ("motion-a", DeviceKind::Motion)] {
            s.register_device(&actor(), id, kind, household)
                .await
                .expect("register");
        }
        let now = linli_store::now_ms();
        let minute = 60_000;

        // An SOS press raises a critical alarm with the batch that stores it; pressed again
        // while open, nothing more.
        let press = reading_at("sos", "true", 1, now - 5 * minute);
        let again = reading_at("sos", "true", 2, now - 4 * minute);
        let moved = reading_at("motion", "true", 1, now - 3 * minute);
        let sent: Vec<(&str, &[u8])> =
            vec![("sos-a", &press), ("sos-a", &again), ("motion-a", &moved)];
        let done = s.ingest_batch(&sent).await.expect("ingest");
        let kinds: Vec<_> = done.alarms.iter().map(|a| (a.kind, a.severity)).collect();
        assert_eq!(kinds, vec![(AlarmKind::Sos, Severity::Critical)]);
        // Redelivered: stored already, so the rules do not see it twice.
        let redelivered = s.ingest_batch(&sent).await.expect("ingest");
        assert!(redelivered.alarms.is_empty());

        // Nothing due yet; 12 awake hours after the last movement the timer raises
        // inactivity (the household has no learned normal: the default applies). The
        // sleeping window's hours do not count, so look a full day on.
        let early = s.tick_care(now, 100).await.expect("tick");
        assert!(early.raised.is_empty());
        let later = s
            .tick_care(now + 24 * 60 * minute, 100)
            .await
            .expect("tick");
        assert_eq!(later.households, 1);
        let kinds: Vec<_> = later.raised.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AlarmKind::Inactivity]);
        // Not due again at once: the same tick finds nobody.
        let same = s
            .tick_care(now + 24 * 60 * minute, 100)
            .await
            .expect("tick");
        assert_eq!(same.households, 0);

        // Listed for the community, the latest first; movement clears the inactivity's
        // condition (the alarm stays open for a person to close).
        let moved_again = reading_at("motion", "true", 2, now - minute);
        s.ingest_batch(&[("motion-a", moved_again.as_slice())])
            .await
            .expect("ingest");
        let listed = s
            .care_alarms(community.range(), Some("open"), Page::new(None, None))
            .await
            .expect("alarms");
        assert_eq!(listed.total, 2);
        let by_kind: Vec<(&str, &str, bool)> = listed
            .items
            .iter()
            .map(|a| {
                (
                    a.kind.as_str(),
                    a.device_id.as_str(),
                    a.cleared_at.is_some(),
                )
            })
            .collect();
        assert_eq!(
            by_kind,
            vec![("inactivity", "motion-a", true), ("sos", "sos-a", false)]
        );
        let none = s
            .care_alarms(community.range(), Some("resolved"), Page::new(None, None))
            .await
            .expect("alarms");
        assert_eq!(none.total, 0);
    }
}

/// Runs one statement on the test database directly: a state no store call makes.
async fn exec(db: &TestDb, sql: &str) {
    if db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
        sqlx::query(sql).execute(&pool).await.expect(sql);
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
        sqlx::query(sql).execute(&pool).await.expect(sql);
        pool.close().await;
    }
}

#[tokio::test]
async fn an_alarm_that_cannot_become_an_event_keeps_why_and_holds_up_no_other() {
    for db in TestDb::both().await {
        let s = demo(&db).await;
        let (household, community) = a_household(&s).await;
        for (id, kind) in [("sos-b", DeviceKind::Sos), ("smoke-b", DeviceKind::Smoke)] {
            s.register_device(&actor(), id, kind, household)
                .await
                .expect("register");
        }
        // The emergency category is switched off, so the press cannot be filed.
        exec(
            &db,
            "UPDATE event_categories SET active = FALSE WHERE code = 'elderly.alarm'",
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await; // the catalog's freshness
        let press = reading("sos", "true", 1);
        s.ingest_batch(&[("sos-b", press.as_slice())])
            .await
            .expect("ingest");
        assert_eq!(s.dispatch_care_alarms(10).await.expect("dispatch"), 1);
        // Switched on again, a later alarm is filed; the first is not tried again.
        exec(
            &db,
            "UPDATE event_categories SET active = TRUE WHERE code = 'elderly.alarm'",
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let smoke = reading("smoke", "true", 1);
        s.ingest_batch(&[("smoke-b", smoke.as_slice())])
            .await
            .expect("ingest");
        assert_eq!(s.dispatch_care_alarms(10).await.expect("dispatch"), 1);
        assert_eq!(s.dispatch_care_alarms(10).await.expect("dispatch"), 0);
        let listed = s
            .care_alarms(community.range(), None, Page::new(None, None))
            .await
            .expect("alarms")
            .items;
        let sos = listed.iter().find(|a| a.kind == "sos").expect("the press");
        assert_eq!(sos.event_id, None);
        assert!(
            sos.dispatch_problem
                .as_deref()
                .is_some_and(|p| p.contains("elderly.alarm")),
            "{sos:?}"
        );
        let smoke = listed
            .iter()
            .find(|a| a.kind == "smoke")
            .expect("the smoke");
        assert!(
            smoke.event_id.is_some() && smoke.dispatch_problem.is_none(),
            "{smoke:?}"
        );
    }
}
