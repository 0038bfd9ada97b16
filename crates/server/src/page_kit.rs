//! What every family of pages (the region pages, the registry's, the events') shares:
//! rendering a template, the signed-in header, merging contexts, reading optional form
//! fields, query strings and the pager of a list.

use std::sync::OnceLock;

use axum::http::{header as http_header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use linli_core::i18n::Lang;
use linli_store::Session;
use minijinja::Environment;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// `template` of `env` rendered with `ctx`.
pub(crate) fn render_string(env: &Environment, template: &str, ctx: &Value) -> AppResult<String> {
    env.get_template(template)
        .and_then(|t| t.render(minijinja::Value::from_serialize(ctx)))
        .map_err(|e| AppError::Internal(format!("template {template}: {e:#}")))
}

/// `template` of `env` rendered with `ctx`, as an HTML answer.
pub(crate) fn render(env: &Environment, template: &str, ctx: &Value) -> AppResult<Response> {
    Ok(Html(render_string(env, template, ctx)?).into_response())
}

pub(crate) fn with_status(status: StatusCode, mut res: Response) -> Response {
    *res.status_mut() = status;
    res
}

/// What every signed-in page shows in its header.
pub(crate) fn header(lang: Lang, s: &Session, path: &str) -> Value {
    json!({
        "lang": lang.code(),
        "html_lang": lang.html(),
        "other_lang": if lang == Lang::Zh { "en" } else { "zh" },
        "path": path,
        "csrf": s.csrf,
        "user": crate::pages::user_view(lang, &s.user),
    })
}

/// `a` with the keys of `b` added (or replaced).
pub(crate) fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A form or query field, trimmed; `None` when absent or blank.
pub(crate) fn blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A query string from pairs, leaving out empty values; "" or "?a=1&b=2".
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if !v.trim().is_empty() {
            ser.append_pair(k, v.trim());
            any = true;
        }
    }
    if any {
        format!("?{}", ser.finish())
    } else {
        String::new()
    }
}

/// The page a list is asked for: 1 when absent or not a number, at most 100,000 (so that
/// the offset stays far from overflowing).
pub(crate) fn page_number(p: Option<&str>) -> i64 {
    blank(p)
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000)
}

/// Previous and next links of a list of `total` rows, `page_size` to a page.
pub(crate) fn pager(
    path: &str,
    pairs: &[(&str, String)],
    page: i64,
    total: i64,
    page_size: i64,
) -> Value {
    let pages = ((total + page_size - 1) / page_size).max(1);
    let link = |n: i64| {
        let mut p = pairs.to_vec();
        if n > 1 {
            p.push(("page", n.to_string()));
        }
        format!("{path}{}", query_string(&p))
    };
    json!({
        "total": total,
        "page": page,
        "pages": pages,
        "prev": (page > 1).then(|| link(page - 1)),
        "next": (page < pages).then(|| link(page + 1)),
    })
}

/// A page family's own scripts and stylesheets, built into the binary: each served with an
/// ETag of its content (computed once) and revalidated hourly.
pub(crate) struct Assets {
    /// (MIME type, body) of each asset.
    pub files: &'static [(&'static str, &'static [u8])],
    pub etags: OnceLock<Vec<String>>,
}

impl Assets {
    pub(crate) const fn new(files: &'static [(&'static str, &'static [u8])]) -> Assets {
        Assets {
            files,
            etags: OnceLock::new(),
        }
    }

    /// Asset `i`, or 304 when the browser holds it already.
    pub(crate) fn serve(&self, headers: &HeaderMap, i: usize) -> Response {
        let etags = self.etags.get_or_init(|| {
            self.files
                .iter()
                .map(|(_, body)| format!("\"{}\"", &hex::encode(Sha256::digest(body))[..16]))
                .collect()
        });
        let (mime, body) = self.files[i];
        let etag = etags[i].clone();
        if headers
            .get(http_header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(etag.as_str())
        {
            return (StatusCode::NOT_MODIFIED, [(http_header::ETAG, etag)]).into_response();
        }
        (
            [
                (http_header::CONTENT_TYPE, mime.to_string()),
                (http_header::ETAG, etag),
                (
                    http_header::CACHE_CONTROL,
                    "public, max-age=3600, must-revalidate".to_string(),
                ),
            ],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_links_keep_the_filters_and_number_the_pages() {
        let p = pager(
            "/events",
            &[("state", "open".into()), ("q", " ".into())],
            2,
            61,
            30,
        );
        assert_eq!(p["pages"], 3);
        assert_eq!(p["prev"], "/events?state=open");
        assert_eq!(p["next"], "/events?state=open&page=3");
        let only = pager("/events", &[], 1, 0, 30);
        assert_eq!(only["pages"], 1);
        assert!(only["prev"].is_null() && only["next"].is_null());
    }

    #[test]
    fn page_numbers_from_outside_stay_in_range() {
        assert_eq!(page_number(None), 1);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("-4")), 1);
        assert_eq!(page_number(Some("9999999999")), 100_000);
        assert_eq!(page_number(Some(" 7 ")), 7);
    }
}
