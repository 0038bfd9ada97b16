//! The templates and the script's words against the translation table. The pages
//! themselves are tested over HTTP in crates/server/tests/healthcheck_api.rs and in a real
//! browser in tests/e2e/healthcheck.test.mjs.

use super::*;

/// Every template compiles, and every key a template asks `t()` for is in the table.
#[test]
fn templates_compile_and_their_keys_exist() {
    crate::templates::assert_translated(env(), TEMPLATES, "hp.");
}

/// Every `hp.*` key the Rust side names, and every one the script asks for, is in the table.
#[test]
fn keys_named_in_the_code_exist() {
    let sources = [
        include_str!("mod.rs"),
        include_str!("plan.rs"),
        include_str!("portrait.rs"),
        include_str!("export.rs"),
    ];
    for source in sources {
        for part in source.split("\"hp.").skip(1) {
            let key = format!("hp.{}", part.split('"').next().unwrap_or(""));
            // Composed keys (`hp.standing.{standing}`) are checked below.
            if key.ends_with('.') || key.contains('{') {
                continue;
            }
            assert!(i18n::has(&key), "no translation for {key}");
        }
    }
    for s in ["above", "below", "even", "none"] {
        assert!(i18n::has(&format!("hp.standing.{s}")), "hp.standing.{s}");
    }
    // The script's words come through `texts()`; every key it names must be sent.
    let script = include_str!("../../../../web/static/healthcheck.js");
    let sent = texts(Lang::Zh);
    for part in script.split("text('").skip(1) {
        let key = part.split('\'').next().unwrap_or("");
        if key.ends_with('.') {
            // hp.map. + band: checked below.
            continue;
        }
        assert!(
            sent.get(key).is_some(),
            "healthcheck.js asks for {key}, which texts() does not send"
        );
    }
    for band in ["within", "near", "far", "none", "off"] {
        assert!(
            sent.get(format!("hp.map.{band}")).is_some(),
            "hp.map.{band}"
        );
    }
}
