//! The templates against the translation table. The pages themselves are tested over HTTP
//! in crates/server/tests/events_pages.rs.

use super::*;
use linli_core::i18n;

/// Every template compiles, and every key a template asks `t()` for is in the table.
#[test]
fn templates_compile_and_their_keys_exist() {
    let env = env();
    for (name, source) in TEMPLATES {
        assert!(env.get_template(name).is_ok(), "{name} does not compile");
        let bytes = source.as_bytes();
        for (at, _) in source.match_indices("t(") {
            // `t(` itself, not the end of `select(` or `list(`.
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let rest = &source[at + 2..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let Some((key, _)) = rest[1..].split_once(quote) else {
                continue;
            };
            assert!(i18n::has(key), "{name}: no translation for {key}");
        }
        for part in source.split("\"ep.").skip(1) {
            let key = format!("ep.{}", part.split('"').next().unwrap_or(""));
            assert!(i18n::has(&key), "{name}: no translation for {key}");
        }
    }
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
