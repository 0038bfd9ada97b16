//! What the record forms share: reading typed values (numbers, identifiers, optional
//! text) with the problem a bad one names, showing stored values back, the problems next to
//! their fields, the page around a form, and the places a write may name.

use axum::http::StatusCode;
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Problem};
use linli_store::{Session, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::lists::{place_options, with_current};
use super::{base, blank, merge};
use crate::error::{AppError, AppResult};
use crate::AppState;

pub(super) fn opt_string(s: &str) -> Option<String> {
    blank(Some(s)).map(str::to_string)
}

pub(super) fn bad(key: &'static str, field: &'static str, value: &str) -> AppError {
    AppError::bad_request(
        Problem::new("invalid", key)
            .arg("value", value)
            .field(field),
    )
}

pub(super) fn opt_f64(s: &str, field: &'static str) -> AppResult<Option<f64>> {
    match blank(Some(s)) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| bad("rp.bad_number", field, v)),
    }
}

pub(super) fn opt_i64(s: &str, field: &'static str) -> AppResult<Option<i64>> {
    match blank(Some(s)) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad("rp.bad_integer", field, v)),
    }
}

pub(super) fn id_param(s: Option<&str>) -> Option<i64> {
    blank(s).and_then(|v| v.parse().ok())
}

/// Messages by field: `{"name": ["…"], "general": ["…"]}`; problems about a field the form
/// does not have go under `general`.
pub(super) fn errors_json(lang: Lang, problems: &[Problem], fields: &[&str]) -> Value {
    let mut map: serde_json::Map<String, Value> = serde_json::Map::new();
    for p in problems {
        let key = p
            .field
            .filter(|f| fields.contains(f))
            .unwrap_or("general")
            .to_string();
        let entry = map.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!(p.message(lang)));
        }
    }
    Value::Object(map)
}

/// The problem in a failed write that the form shows next to its field; anything else is
/// an error page.
pub(super) fn form_problem(e: AppError) -> Result<(StatusCode, Problem), AppError> {
    match e {
        AppError::Problem(status, p) if status != StatusCode::NOT_FOUND => Ok((status, p)),
        other => Err(other),
    }
}

pub(super) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

pub(super) fn opt_num(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_default()
}

pub(super) fn opt_int(x: Option<i64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// What a record's form page says around the form.
pub(super) struct FormPage {
    pub(super) title: String,
    pub(super) action: String,
    pub(super) back: String,
    pub(super) is_new: bool,
}

impl FormPage {
    /// The page of a new record: its title from the table, the form posted to `action`.
    pub(super) fn new_record(lang: Lang, title_key: &str, action: &str, back: String) -> Self {
        FormPage {
            title: i18n::text(lang, title_key).to_string(),
            action: action.into(),
            back,
            is_new: true,
        }
    }

    /// The page that edits the record at `path` (the form posts back to it), titled by its
    /// name.
    pub(super) fn edit(lang: Lang, name: &str, path: String) -> Self {
        FormPage {
            title: format!("{} · {}", i18n::text(lang, "rp.edit"), name),
            action: path.clone(),
            back: path,
            is_new: false,
        }
    }

    /// The context every form page starts from: the header, the page and what was typed.
    pub(super) fn context(&self, lang: Lang, s: &Session, form: Value) -> Value {
        merge(
            base(lang, s, &self.action),
            json!({
                "title": self.title,
                "action": self.action,
                "back": self.back,
                "is_new": self.is_new,
                "form": form,
            }),
        )
    }
}

/// A form that carries nothing but its CSRF token (the delete buttons).
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    pub(super) csrf: String,
}

/// The places a write may name, for a form's select, with the one typed in kept; empty for
/// a nation-wide account, which types a code instead.
pub(super) async fn writable_places(
    state: &AppState,
    user: &User,
    current: &str,
) -> AppResult<Vec<Value>> {
    let places = place_options(state, user, true).await?;
    Ok(if places.is_empty() {
        places
    } else {
        with_current(places, current)
    })
}

/// The place a new record's form starts with: the one the link names, else the account's
/// own community or grid.
pub(super) fn default_place(user: &User, region: Option<&str>) -> String {
    blank(region)
        .map(str::to_string)
        .or_else(|| {
            user.scope
                .root()
                .filter(|r| r.level() >= Level::Community)
                .map(|r| r.to_string())
        })
        .unwrap_or_default()
}
