//! A problem the user can fix: a translation key, the values to put in it, and the field it
//! concerns. The store and the server return these; the page, the API and the command line
//! render them in the reader's language.

use crate::i18n::{self, Lang};

/// Marks an argument value as a translation key (see [`Problem::arg_key`]).
const KEY_ARG: &str = "\u{1}key:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine code for API clients, e.g. `duplicate_code`.
    pub code: &'static str,
    /// Translation key of the message.
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
    pub field: Option<&'static str>,
}

impl Problem {
    pub fn new(code: &'static str, key: &'static str) -> Problem {
        Problem {
            code,
            key,
            args: Vec::new(),
            field: None,
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Problem {
        self.args.push((name, value.to_string()));
        self
    }

    pub fn field(mut self, field: &'static str) -> Problem {
        self.field = Some(field);
        self
    }

    /// An argument that is itself a translation key (a state's or an action's name),
    /// rendered in the reader's language.
    pub fn arg_key(mut self, name: &'static str, key: &str) -> Problem {
        self.args.push((name, format!("{KEY_ARG}{key}")));
        self
    }

    pub fn message(&self, lang: Lang) -> String {
        let args: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(k, v)| match v.strip_prefix(KEY_ARG) {
                Some(key) => (*k, i18n::text(lang, key).to_string()),
                None => (*k, v.clone()),
            })
            .collect();
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        i18n::format(lang, self.key, &args)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for Problem {}
