//! Readings through a real Mosquitto into both databases: devices provisioned by linli over
//! the dynamic-security control topic, each able to publish only to its own topic; linli's
//! shared, persistent subscription storing every reading once; nothing lost when linli stops
//! mid-stream and the broker restarts.

use std::time::{Duration, Instant};

use linli_care::testing::{publish, TestBroker};
use linli_care::{BrokerConfig, Ingest, ProvisionError, Provisioner};
use linli_core::care::{device_topic, DeviceKind};
use linli_pii::Keyring;
use linli_store::divisions::Quiet;
use linli_store::registry::Page;
use linli_store::testing::TestDb;
use linli_store::{Actor, Store};

fn actor() -> Actor {
    Actor {
        user_id: None,
        username: "shegong".into(),
        ip: None,
    }
}

fn reading(kind: &str, value: &str, seq: i64) -> String {
    let ts = chrono::Utc::now().to_rfc3339();
    format!(r#"{{"ts":"{ts}","kind":"{kind}","value":{value},"seq":{seq}}}"#)
}

/// A demo district of a few hundred households, and one of them.
async fn district(db: &TestDb) -> (Store, i64) {
    let mut s = db.open().await;
    s.use_keys(Keyring::generate()).await.expect("keys");
    s.build_demo("demo-pass-1", 0.001, None, &Quiet)
        .await
        .expect("demo");
    let listing = s
        .households(
            linli_core::RegionCode::parse("330102")
                .expect("code")
                .range(),
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
    let household = listing.items.first().expect("a household").id;
    (s, household)
}

fn config(broker: &TestBroker, client_id: &str) -> BrokerConfig {
    BrokerConfig::from_url(&broker.admin_url(), client_id).expect("broker URL")
}

/// Waits until `done` holds, for at most 30 s.
async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let until = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < until, "waited 30 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn counts(s: &Store, device_id: &str) -> (i64, i64, i64) {
    let all = s
        .care_devices(
            linli_core::RegionCode::parse("330102")
                .expect("code")
                .range(),
            Page::new(None, None),
        )
        .await
        .expect("devices");
    let d = all
        .items
        .iter()
        .find(|d| d.device_id == device_id)
        .expect("the device");
    (d.readings, d.duplicates, d.refused)
}

#[tokio::test]
async fn devices_publish_only_as_themselves_and_every_reading_is_accounted_for() {
    let Some(broker) = TestBroker::start() else {
        return;
    };
    // One linli, restarted on the other database: a process keeps its client id (its
    // session, which holds its share of the shared subscription) across restarts.
    for db in TestDb::both().await {
        let (s, household) = district(&db).await;
        let (_, door_pass) = s
            .register_device(&actor(), "door-1", DeviceKind::Door, household)
            .await
            .expect("register");
        let (_, bed_pass) = s
            .register_device(&actor(), "bed-1", DeviceKind::Bed, household)
            .await
            .expect("register");
        let control = Provisioner::start(&config(&broker, "linli-test")).expect("control");
        control
            .provision_device("door-1", &door_pass)
            .await
            .expect("provision door");
        control
            .provision_device("bed-1", &bed_pass)
            .await
            .expect("provision bed");
        let ingest =
            Ingest::start(s.clone(), &config(&broker, "linli-test"), None).expect("ingest");
        let stats = ingest.stats.clone();
        wait_for("the subscription", || {
            let st = stats.clone();
            async move { st.subscribed.load(std::sync::atomic::Ordering::Relaxed) }
        })
        .await;

        // A wrong credential, and a device that is not provisioned, cannot connect.
        let refused = publish(
            broker.port,
            "bed-1",
            "not-it",
            &device_topic("bed-1"),
            vec![reading("bed", "\"in\"", 1)],
        )
        .await
        .expect_err("a wrong credential");
        assert!(
            refused.contains("NotAuthorized") || refused.contains("BadUserName"),
            "{refused}"
        );
        publish(
            broker.port,
            "ghost",
            "x",
            &device_topic("ghost"),
            vec![reading("door", "true", 1)],
        )
        .await
        .expect_err("an unknown device");

        // door-1 first tries bed-1's topic: the broker drops the message (Mosquitto 2.0
        // acknowledges it, then closes the connection), so it never reaches linli.
        let _ = publish(
            broker.port,
            "door-1",
            &door_pass,
            &device_topic("bed-1"),
            vec![reading("bed", "\"out\"", 7)],
        )
        .await;
        // Then its own: three readings, one of them twice, and one that is not JSON.
        publish(
            broker.port,
            "door-1",
            &door_pass,
            &device_topic("door-1"),
            vec![
                reading("door", "\"open\"", 1),
                reading("door", "\"closed\"", 2),
                reading("door", "\"closed\"", 2),
                "{oops".into(),
                reading("battery", "80", 3),
            ],
        )
        .await
        .expect("door-1 publishes");
        wait_for("door-1's five messages", || {
            let s = s.clone();
            async move {
                let (r, d, f) = counts(&s, "door-1").await;
                r + d + f == 5
            }
        })
        .await;
        assert_eq!(counts(&s, "door-1").await, (3, 1, 1));
        assert_eq!(
            counts(&s, "bed-1").await,
            (0, 0, 0),
            "nothing arrived on bed-1's topic"
        );
        let refusals = s
            .care_refusals(
                Some(
                    linli_core::RegionCode::parse("330102")
                        .expect("code")
                        .range(),
                ),
                Page::new(None, None),
            )
            .await
            .expect("refusals");
        assert_eq!(refusals.items.len(), 1);
        assert_eq!(refusals.items[0].reason, "care_malformed");
        assert_eq!(refusals.items[0].last_payload, "{oops");
        drop(ingest);
        drop(control);
    }
}

#[tokio::test]
async fn nothing_is_lost_when_linli_stops_mid_stream_and_the_broker_restarts() {
    let Some(mut broker) = TestBroker::start() else {
        return;
    };
    let db = TestDb::sqlite();
    let (s, household) = district(&db).await;
    let (_, pass) = s
        .register_device(&actor(), "motion-1", DeviceKind::Motion, household)
        .await
        .expect("register");
    let cfg = config(&broker, "linli-restart");
    Provisioner::start(&cfg)
        .expect("control")
        .provision_device("motion-1", &pass)
        .await
        .expect("provision");
    let ingest = Ingest::start(s.clone(), &cfg, None).expect("ingest");
    let stats = ingest.stats.clone();
    wait_for("the subscription", || {
        let st = stats.clone();
        async move { st.subscribed.load(std::sync::atomic::Ordering::Relaxed) }
    })
    .await;

    const SENT: i64 = 3_000;
    let payloads = |range: std::ops::Range<i64>| -> Vec<String> {
        range
            .map(|seq| reading("motion", if seq % 2 == 0 { "true" } else { "false" }, seq))
            .collect()
    };
    // The first third while linli runs; linli stops (its tasks aborted, nothing more
    // acknowledged) once some are stored.
    publish(
        broker.port,
        "motion-1",
        &pass,
        &device_topic("motion-1"),
        payloads(0..SENT / 3),
    )
    .await
    .expect("publish");
    wait_for("some readings stored", || {
        let s = s.clone();
        async move { counts(&s, "motion-1").await.0 > 0 }
    })
    .await;
    drop(ingest);
    // The rest while linli is away: the broker queues them for linli's session, and keeps
    // them across its own restart.
    publish(
        broker.port,
        "motion-1",
        &pass,
        &device_topic("motion-1"),
        payloads(SENT / 3..SENT),
    )
    .await
    .expect("publish");
    let before = counts(&s, "motion-1").await.0;
    assert!(
        before < SENT,
        "linli was stopped before it had everything ({before})"
    );
    broker.restart();

    let again = Ingest::start(s.clone(), &cfg, None).expect("ingest");
    wait_for("every reading stored", || {
        let s = s.clone();
        async move { counts(&s, "motion-1").await.0 == SENT }
    })
    .await;
    // Stored once each; redelivered ones counted as duplicates, none refused.
    let (stored, _duplicates, refused) = counts(&s, "motion-1").await;
    assert_eq!((stored, refused), (SENT, 0));
    // The broker kept the device's account too: it reconnects after the restart.
    publish(
        broker.port,
        "motion-1",
        &pass,
        &device_topic("motion-1"),
        payloads(SENT..SENT + 1),
    )
    .await
    .expect("the device's account survives the broker's restart");
    wait_for("the reading sent after the restart", || {
        let s = s.clone();
        async move { counts(&s, "motion-1").await.0 == SENT + 1 }
    })
    .await;
    drop(again);
}

#[tokio::test]
async fn a_device_account_follows_its_credential_and_goes_when_removed() {
    let Some(broker) = TestBroker::start() else {
        return;
    };
    let control = Provisioner::start(&config(&broker, "linli-accounts")).expect("control");
    let topic = device_topic("sos-9");
    let one = || vec![reading("sos", "true", 1)];
    control
        .provision_device("sos-9", "first-secret")
        .await
        .expect("provision");
    publish(broker.port, "sos-9", "first-secret", &topic, one())
        .await
        .expect("first credential");
    // A new credential replaces the old one.
    control
        .provision_device("sos-9", "second-secret")
        .await
        .expect("again");
    publish(broker.port, "sos-9", "first-secret", &topic, one())
        .await
        .expect_err("the old credential");
    publish(broker.port, "sos-9", "second-secret", &topic, one())
        .await
        .expect("the new credential");
    // Removed: it cannot connect; removing again is fine.
    control.remove_device("sos-9").await.expect("remove");
    control.remove_device("sos-9").await.expect("remove again");
    publish(broker.port, "sos-9", "second-secret", &topic, one())
        .await
        .expect_err("removed");

    // A user that is not the plugin's administrator cannot provision: the error says what
    // to check.
    control
        .provision_device("dev-user", "dev-pass")
        .await
        .expect("provision");
    let weak =
        BrokerConfig::from_url(&broker.url("dev-user", "dev-pass"), "linli-weak").expect("url");
    let err = Provisioner::start(&weak)
        .expect("control")
        .provision_device("sos-10", "x")
        .await
        .expect_err("not the administrator");
    assert!(matches!(err, ProvisionError::NoAnswer { .. }), "{err}");
    assert!(err.to_string().contains("administrator"), "{err}");
}
