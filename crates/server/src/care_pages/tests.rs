//! The templates against the translation table. The pages themselves are tested over HTTP
//! in crates/server/tests/care_pages.rs.

use super::*;
use linli_core::i18n::{self, Lang};

/// Every template compiles, and every key a template asks `t()` for is in the table.
#[test]
fn templates_compile_and_their_keys_exist() {
    crate::templates::assert_translated(env(), TEMPLATES, "cp.");
}

/// Keys the Rust side builds from parts exist for every part.
#[test]
fn composed_keys_exist() {
    for s in ["critical", "warning", "info"] {
        assert!(i18n::has(&format!("cp.severity.{s}")), "cp.severity.{s}");
    }
    for s in linli_store::care_alarms::ALARM_STATES {
        assert!(i18n::has(&format!("cp.state.{s}")), "cp.state.{s}");
    }
    for o in linli_store::care_dispatch::OUTCOMES {
        assert!(i18n::has(&format!("care.outcome.{o}")), "care.outcome.{o}");
    }
    for a in ["provisioned", "broker_asks", "failed", "no_broker"] {
        assert!(i18n::has(&format!("cp.mqtt.{a}")), "cp.mqtt.{a}");
    }
    for t in ["overdue", "week", "all"] {
        assert!(
            i18n::has(&format!("cp.visits.tab.{t}")),
            "cp.visits.tab.{t}"
        );
    }
    for d in ["acknowledge", "resolve"] {
        assert!(i18n::has(&format!("cp.act.done_{d}")), "cp.act.done_{d}");
    }
}

/// Every `cp.*` key the Rust side names is in the table.
#[test]
fn keys_named_in_the_code_exist() {
    for source in [
        include_str!("mod.rs"),
        include_str!("console.rs"),
        include_str!("devices.rs"),
        include_str!("visits.rs"),
        include_str!("enrol.rs"),
        include_str!("rules.rs"),
        include_str!("figures.rs"),
    ] {
        for part in source.split("\"cp.").skip(1) {
            let key = format!("cp.{}", part.split('"').next().unwrap_or(""));
            if key.ends_with('.') || key.contains('{') {
                continue;
            }
            assert!(i18n::has(&key), "no translation for {key}");
        }
    }
}

#[test]
fn ages_read_naturally() {
    assert_eq!(console::age(Lang::Zh, 12_000), "12 秒");
    assert_eq!(console::age(Lang::Zh, 5 * 60_000), "5 分钟");
    assert_eq!(console::age(Lang::En, 125 * 60_000), "2 h 5 min");
    assert_eq!(
        console::age(Lang::Zh, (26 * 60 + 3) * 60_000),
        "1 天 2 小时"
    );
    assert_eq!(console::age(Lang::Zh, -5), "0 秒", "a clock a little ahead");
}
