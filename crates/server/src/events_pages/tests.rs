//! The templates against the translation table. The pages themselves are tested over HTTP
//! in crates/server/tests/events_pages.rs.

use super::*;
use linli_core::i18n;

/// Every template compiles, and every key a template asks `t()` for is in the table.
#[test]
fn templates_compile_and_their_keys_exist() {
    crate::templates::assert_translated(env(), TEMPLATES, "ep.");
}

/// Keys the Rust side builds from parts exist for every part.
#[test]
fn composed_keys_exist() {
    for s in ["waiting", "overdue", "checked_in"] {
        assert!(i18n::has(&format!("ep.summons.{s}")), "ep.summons.{s}");
    }
    for a in linli_core::events::flow::Action::USER_ACTIONS {
        assert!(
            i18n::has(&format!("events.action.{a}")),
            "events.action.{a}"
        );
    }
}

/// Every `ep.*` key the Rust side names is in the table.
#[test]
fn keys_named_in_the_code_exist() {
    let sources = [
        include_str!("mod.rs"),
        include_str!("view.rs"),
        include_str!("inbox.rs"),
        include_str!("detail.rs"),
        include_str!("resident.rs"),
        include_str!("report.rs"),
        include_str!("dashboard.rs"),
        include_str!("photos.rs"),
    ];
    for source in sources {
        for part in source.split("\"ep.").skip(1) {
            let key = format!("ep.{}", part.split('"').next().unwrap_or(""));
            // Composed keys (`ep.summons.{state}`) are checked in `composed_keys_exist`.
            if key.ends_with('.') || key.contains('{') {
                continue;
            }
            assert!(i18n::has(&key), "no translation for {key}");
        }
    }
}
