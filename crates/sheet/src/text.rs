//! This crate's user-facing text lives in the one translation table, in linli-core's
//! `sheet_text` slice; these helpers look it up.

use linli_core::i18n::{self, Lang};

/// The text for `key` in `lang` with `{name}` placeholders filled.
pub(crate) fn format(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    i18n::format(lang, key, &args)
}

/// The Chinese text for `key` (for headers written into files, which are Chinese).
pub(crate) fn zh(key: &str) -> &str {
    i18n::text(Lang::Zh, key)
}
