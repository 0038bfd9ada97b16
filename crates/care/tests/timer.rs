//! The alarm timer on both databases: poked after a press is stored, it makes the alarm's
//! event and tells open consoles which alarm changed, so that the acknowledge button can
//! appear without the console asking again.

use std::time::Duration;

use linli_care::feed::{AlarmFeed, AlarmNotice};
use linli_care::timer::Timer;
use linli_core::care::DeviceKind;
use linli_pii::Keyring;
use linli_store::divisions::Quiet;
use linli_store::registry::Page;
use linli_store::testing::TestDb;
use linli_store::Actor;

#[tokio::test]
async fn a_poke_files_the_alarm_and_the_console_hears_of_it() {
    for db in TestDb::both().await {
        let mut s = db.open().await;
        s.use_keys(Keyring::generate()).await.expect("keys");
        s.build_demo("demo-pass-1", 0.001, None, &Quiet)
            .await
            .expect("demo");
        let district = linli_core::RegionCode::parse("330102").expect("code");
        let h = s
            .households(
                district.range(),
                None,
                None,
                None,
                Page {
                    offset: 0,
                    limit: 1,
                },
            )
            .await
            .expect("households")
            .items
            .into_iter()
            .next()
            .expect("a household");
        let actor = Actor {
            user_id: None,
            username: "shegong".into(),
            ip: None,
        };
        let (sos, _) = s
            .register_device(&actor, "sos-timer", DeviceKind::Sos, h.id)
            .await
            .expect("register");
        let ts = chrono::Utc::now().to_rfc3339();
        let press = format!(r#"{{"ts":"{ts}","kind":"sos","value":true,"seq":1}}"#);
        let out = s
            .ingest_batch(&[(sos.device_id.as_str(), press.as_bytes())])
            .await
            .expect("ingest");
        assert_eq!(out.alarms.len(), 1);

        let feed = AlarmFeed::default();
        let mut heard = feed.subscribe();
        let timer = Timer::default();
        let task = timer.spawn(s.clone(), feed.clone());
        timer.poke();
        let notice = tokio::time::timeout(Duration::from_secs(20), heard.recv())
            .await
            .expect("a notice within 20 s")
            .expect("the feed is open");
        let AlarmNotice::Changed { region_key, id } = notice else {
            panic!("expected the alarm's change, got {notice:?}");
        };
        assert_eq!(region_key, h.region.key());
        let alarm = s.care_alarm(id).await.expect("read").expect("the alarm");
        assert!(
            alarm.event_id.is_some(),
            "its event is made before the notice"
        );
        task.abort();
    }
}
