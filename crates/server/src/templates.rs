//! The page templates (web/templates), built into the binary and compiled once at start.
//! Templates call `t("key")` (or `t("key", name=value)`) for every word they show: the
//! translation table in linli-core is the only source of interface text.

use linli_core::i18n::{self, Lang};
use minijinja::value::Kwargs;
use minijinja::{Environment, State, Value};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../web/templates/base.html"),
    ),
    (
        "login.html",
        include_str!("../../../web/templates/login.html"),
    ),
    (
        "region.html",
        include_str!("../../../web/templates/region.html"),
    ),
    (
        "search.html",
        include_str!("../../../web/templates/search.html"),
    ),
    (
        "search_results.html",
        include_str!("../../../web/templates/search_results.html"),
    ),
    (
        "grid_form.html",
        include_str!("../../../web/templates/grid_form.html"),
    ),
    (
        "grid_import.html",
        include_str!("../../../web/templates/grid_import.html"),
    ),
    ("map.html", include_str!("../../../web/templates/map.html")),
    (
        "docs.html",
        include_str!("../../../web/templates/docs.html"),
    ),
    (
        "audit.html",
        include_str!("../../../web/templates/audit.html"),
    ),
    (
        "error.html",
        include_str!("../../../web/templates/error.html"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

fn lang_of(state: &State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default()
}

/// `t("key", name=value, …)`: the text for the page's language, placeholders filled.
fn t(state: &State, key: &str, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let lang = lang_of(state);
    let mut args: Vec<(String, String)> = Vec::new();
    for name in kwargs.args() {
        let v: Value = kwargs.get(name)?;
        args.push((name.to_string(), v.to_string()));
    }
    let refs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(i18n::format(lang, key, &refs))
}

/// `ms | datetime`: an instant (milliseconds since 1970) as local-looking UTC+8 time, since
/// linli serves Chinese cities.
fn datetime(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M:%S")
}

/// A template environment holding `templates` and the `t()` function every page uses; each
/// page family (these pages, the registry's, the events') builds its own from its files.
pub(crate) fn environment(templates: &[(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in templates {
        // Templates are part of the binary: a broken one is a build defect, caught by the
        // tests that render every page.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("template {name}: {e}");
        }
    }
    env.add_function("t", t);
    env
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = environment(TEMPLATES);
        env.add_filter("datetime", datetime);
        Templates { env }
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// Test helper: every template of a family compiles in `env`, and every key it asks `t()`
/// for, or writes out as a `"{prefix}…"` string, is in the translation table.
#[cfg(test)]
pub(crate) fn assert_translated(env: &Environment, templates: &[(&str, &str)], prefix: &str) {
    for (name, source) in templates {
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
        for part in source.split(&format!("\"{prefix}")).skip(1) {
            let key = format!("{prefix}{}", part.split('"').next().unwrap_or(""));
            assert!(i18n::has(&key), "{name}: no translation for {key}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_region_pages_templates_compile_and_their_keys_exist() {
        let env = super::environment(super::TEMPLATES);
        super::assert_translated(&env, super::TEMPLATES, "pages.");
    }
}
