//! Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) at `/open311/v2/`, on top of
//! the events store: an Open311 *service* is an event category, a *service request* is an
//! event, its *token* is the event's reference number (SJ…).
//!
//! - `GET discovery.{json,xml}`, `GET services.{json,xml}`, `GET services/{code}.{json,xml}`
//!   (the service definition with its attributes), `GET requests.{json,xml}` (filtered by
//!   service_request_id, service_code, start_date/end_date, status; paged by page and
//!   page_size), `GET requests/{id}.{json,xml}`, `GET tokens/{token}.{json,xml}`.
//! - `POST requests.{json,xml}`, form-encoded, with an API key made by
//!   `linli apikey add --name NAME`.
//!
//! Reading is public, as the spec has it, so a request list shows what is safe to show:
//! never the reporter's name or phone; and for reports that did not come in through Open311
//! (residents' own reports in linli, patrols, the hotline) neither the description, the
//! address, the building nor the handlers' notes, and the place only to about 100 m.
//!
//! Errors follow the spec: `[{"code": 400, "description": "…"}]`, or
//! `<errors><error><code/><description/></error></errors>` in XML, in the caller's language
//! (Accept-Language, or `?locale=en`). A parameter the endpoint does not take, or a value it
//! cannot use, is an error saying what to fix, never silently dropped.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset};
use linli_core::events::{parse_reference, reference, Unit, DAY_MS};
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Problem, RegionCode, Scope};
use linli_store::events::{By, Category, Department, Event, EventFilter, NewEvent, Source};
use linli_store::registry::Page;
use linli_store::StoreError;
use serde_json::{Map, Value};

use crate::events_api::rfc3339;
use crate::AppState;

/// What the discovery document names as the specification served.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// When what this endpoint offers last changed (the discovery document's changeset).
const CHANGESET: &str = "2026-11-24T00:00:00+08:00";
/// The spec's default and largest page: "the first 1000 requests".
pub const MAX_PAGE_SIZE: i64 = 1000;
/// The longest date range a request list may span, and its default: the last 90 days.
pub const MAX_SPAN_DAYS: i64 = 90;
/// The longest first or last name kept.
const MAX_NAME: usize = 40;

/// Parameters every GET endpoint takes.
const COMMON: &[&str] = &["jurisdiction_id", "api_key", "locale"];
/// The request list's own parameters.
const LIST: &[&str] = &[
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "page",
    "page_size",
];
/// What POST requests takes besides COMMON and `attribute[CODE]`.
const POST: &[&str] = &[
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{file}", get(top_get).post(top_post))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        // The community's swagger.json writes the single request's path in the singular.
        .route("/open311/v2/request/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
}

// ---------------------------------------------------------------------------------------
// Formats and documents

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// A value of a response, rendered as JSON or as the spec's XML from the same tree so that
/// both formats always carry the same values.
#[derive(Debug, Clone)]
enum V {
    Text(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Null,
    /// A list: a JSON array, in XML an element holding one child element per item.
    List(&'static str, Vec<V>),
    /// A record: a JSON object, in XML an element with one child element per field.
    Rec(Vec<(&'static str, V)>),
}

fn text(s: impl Into<String>) -> V {
    V::Text(s.into())
}

fn opt_text(s: Option<String>) -> V {
    s.map_or(V::Null, V::Text)
}

fn opt_num(n: Option<f64>) -> V {
    n.map_or(V::Null, V::Num)
}

impl V {
    fn json(&self) -> Value {
        match self {
            V::Text(s) => Value::String(s.clone()),
            V::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            V::Int(n) => Value::from(*n),
            V::Bool(b) => Value::Bool(*b),
            V::Null => Value::Null,
            V::List(_, items) => Value::Array(items.iter().map(V::json).collect()),
            V::Rec(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), v.json()))
                    .collect(),
            ),
        }
    }

    fn xml(&self, name: &str, out: &mut String) {
        let open = |out: &mut String| {
            out.push('<');
            out.push_str(name);
            out.push('>');
        };
        let close = |out: &mut String| {
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        };
        match self {
            V::Null => {
                out.push('<');
                out.push_str(name);
                out.push_str("/>");
            }
            V::Num(n) if !n.is_finite() => V::Null.xml(name, out),
            V::Text(s) => {
                open(out);
                escape_xml(s, out);
                close(out);
            }
            V::Num(n) => {
                open(out);
                out.push_str(&n.to_string());
                close(out);
            }
            V::Int(n) => {
                open(out);
                out.push_str(&n.to_string());
                close(out);
            }
            V::Bool(b) => {
                open(out);
                out.push_str(if *b { "true" } else { "false" });
                close(out);
            }
            V::List(child, items) => {
                open(out);
                for item in items {
                    item.xml(child, out);
                }
                close(out);
            }
            V::Rec(fields) => {
                open(out);
                for (k, v) in fields {
                    v.xml(k, out);
                }
                close(out);
            }
        }
    }
}

/// Escapes text for an XML element. Characters XML 1.0 cannot carry at all (most control
/// characters; the store refuses them, but old rows or a region's name might hold one)
/// become U+FFFD rather than making the whole document unreadable.
fn escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t'
            | '\n'
            | '\r'
            | '\u{20}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FFFD}'
            | '\u{10000}'.. => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// A whole response body: in XML the root element's name and its content.
struct Doc {
    root: &'static str,
    body: V,
}

/// A successful answer, with the number of matching requests for a list.
struct Reply {
    doc: Doc,
    total: Option<i64>,
}

impl Reply {
    fn new(root: &'static str, body: V) -> Reply {
        Reply {
            doc: Doc { root, body },
            total: None,
        }
    }
}

fn render(fmt: Format, status: StatusCode, doc: &Doc) -> Response {
    let body = match fmt {
        Format::Json => doc.body.json().to_string(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            doc.body.xml(doc.root, &mut out);
            out.push('\n');
            out
        }
    };
    let mut res = (status, [(header::CONTENT_TYPE, fmt.content_type())], body).into_response();
    // Reading is public by the spec, so browser-based clients may read too; no cookie or
    // credential is ever taken from a browser here.
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

fn finish(fmt: Format, out: Result<Reply, Fail>) -> Response {
    match out {
        Ok(reply) => {
            let mut res = render(fmt, StatusCode::OK, &reply.doc);
            if let Some(total) = reply.total {
                if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
                    res.headers_mut().insert("x-total-count", v);
                }
            }
            res
        }
        Err(f) => render(fmt, f.status, &f.doc()),
    }
}

// ---------------------------------------------------------------------------------------
// Errors

/// An error in the spec's format: one status, one or more descriptions (all that is wrong
/// with the input at once, where they can be found together).
#[derive(Debug)]
struct Fail {
    status: StatusCode,
    descriptions: Vec<String>,
}

impl Fail {
    fn new(status: StatusCode, description: String) -> Fail {
        Fail {
            status,
            descriptions: vec![description],
        }
    }

    fn bad(description: String) -> Fail {
        Fail::new(StatusCode::BAD_REQUEST, description)
    }

    fn doc(&self) -> Doc {
        let code = i64::from(self.status.as_u16());
        Doc {
            root: "errors",
            body: V::List(
                "error",
                self.descriptions
                    .iter()
                    .map(|d| V::Rec(vec![("code", V::Int(code)), ("description", text(d))]))
                    .collect(),
            ),
        }
    }
}

fn t(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    i18n::format(lang, key, args)
}

/// "Parameter X: message".
fn param_msg(lang: Lang, param: &str, message: &str) -> String {
    t(
        lang,
        "open311.error.param",
        &[("param", param), ("message", message)],
    )
}

/// The Open311 parameter behind a field the store names.
fn open311_param(field: &str) -> &str {
    match field {
        "category" => "service_code",
        "lon" => "lat/long",
        "building_id" => "address_id",
        "address" => "address_string",
        "contact_name" => "first_name/last_name",
        "contact_phone" => "phone",
        other => other,
    }
}

fn problem_msg(lang: Lang, p: &Problem) -> String {
    let message = p.message(lang);
    match p.field {
        Some(f) => param_msg(lang, open311_param(f), &message),
        None => message,
    }
}

fn internal(lang: Lang, what: &str, e: impl std::fmt::Display) -> Fail {
    tracing::error!("open311: {what}: {e}");
    Fail::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        t(lang, "open311.error.internal", &[]),
    )
}

/// A store error as the spec's error, with the store's message in the caller's language.
fn store_fail(lang: Lang, e: StoreError) -> Fail {
    match e {
        StoreError::Invalid(p) => Fail::bad(problem_msg(lang, &p)),
        StoreError::Conflict(p) => Fail::new(StatusCode::CONFLICT, problem_msg(lang, &p)),
        StoreError::Refused(r) => Fail::new(StatusCode::FORBIDDEN, r.problem().message(lang)),
        other => internal(lang, "store", other),
    }
}

// ---------------------------------------------------------------------------------------
// Parameters

/// The parameters of a call: the query string's, then (for a POST) the form body's.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: Option<&str>, body: &[u8]) -> Params {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            v.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        v.extend(url::form_urlencoded::parse(body).into_owned());
        Params(v)
    }

    /// Refuses parameters the endpoint does not take, naming those it does.
    fn check(&self, lang: Lang, allowed: &[&[&str]], attributes: bool) -> Result<(), Fail> {
        let known = |name: &str| {
            allowed.iter().any(|a| a.contains(&name))
                || (attributes && name.starts_with("attribute["))
        };
        let mut unknown: Vec<&str> = Vec::new();
        for (name, _) in &self.0 {
            if !known(name) && !unknown.contains(&name.as_str()) {
                unknown.push(name);
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        let mut names: Vec<&str> = allowed.iter().flat_map(|a| a.iter().copied()).collect();
        if attributes {
            names.push("attribute[CODE]");
        }
        let names = names.join(", ");
        Err(Fail {
            status: StatusCode::BAD_REQUEST,
            descriptions: unknown
                .iter()
                .map(|p| {
                    t(
                        lang,
                        "open311.error.unknown_param",
                        &[("param", p), ("params", &names)],
                    )
                })
                .collect(),
        })
    }

    /// A single-valued parameter, trimmed; empty counts as not given. The same value twice
    /// (in the query and the body, say) is fine; two different values are an error.
    fn one(&self, lang: Lang, name: &str) -> Result<Option<String>, Fail> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.0 {
            let v = v.trim();
            if k != name || v.is_empty() {
                continue;
            }
            match found {
                Some(f) if f != v => {
                    return Err(Fail::bad(t(
                        lang,
                        "open311.error.repeated_param",
                        &[("param", name)],
                    )))
                }
                _ => found = Some(v),
            }
        }
        Ok(found.map(str::to_string))
    }
}

/// The caller's language: `locale` if given, else the Accept-Language header (or the
/// language cookie of linli's pages), else Chinese.
fn lang_of(headers: &HeaderMap, params: &Params) -> Result<Lang, Fail> {
    let from_header = crate::request_lang(headers);
    match params.one(from_header, "locale")? {
        None => Ok(from_header),
        Some(l) => Lang::parse(&l)
            .ok_or_else(|| Fail::bad(t(from_header, "open311.error.bad_locale", &[("value", &l)]))),
    }
}

/// Splits `services.json` into the name and the format. The name may hold dots itself
/// (service codes such as `env.garbage`), so the format is what follows the last one.
fn split_file(lang: Lang, file: &str) -> Result<(String, Format), Fail> {
    let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
    let fmt = match ext.to_ascii_lowercase().as_str() {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => {
            return Err(Fail::new(
                StatusCode::NOT_FOUND,
                t(lang, "open311.error.unknown_format", &[("format", ext)]),
            ))
        }
    };
    Ok((stem.to_string(), fmt))
}

/// An instant in ISO 8601 with its zone. A `+` in a query string that was not encoded
/// arrives as a space (`2025-03-01T08:00:00 08:00`); that is read as the `+` it was.
fn parse_instant(s: &str) -> Option<DateTime<FixedOffset>> {
    let parse = |x: &str| {
        DateTime::parse_from_rfc3339(x)
            .ok()
            .or_else(|| DateTime::parse_from_str(x, "%Y-%m-%dT%H:%M:%S%.f%#z").ok())
            .or_else(|| DateTime::parse_from_str(x, "%Y-%m-%dT%H:%M%#z").ok())
    };
    let s = s.trim();
    parse(s).or_else(|| {
        let i = s.rfind(' ')?;
        if i <= 10 || !s[..i].contains('T') {
            return None;
        }
        parse(&format!("{}+{}", &s[..i], &s[i + 1..]))
    })
}

/// An instant as people read it in China: `2025-03-01 08:00`.
fn local_minute(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

/// Checks the `api_key` of a read: not needed, but one that is given must be valid.
async fn optional_key(state: &AppState, lang: Lang, params: &Params) -> Result<(), Fail> {
    if let Some(k) = params.one(lang, "api_key")? {
        let found = state
            .store
            .api_key(&k)
            .await
            .map_err(|e| store_fail(lang, e))?;
        if found.is_none() {
            return Err(Fail::new(
                StatusCode::FORBIDDEN,
                t(lang, "open311.error.api_key_unknown", &[]),
            ));
        }
    }
    Ok(())
}

/// The `jurisdiction_id`, if given: linli uses region codes as jurisdictions, so a
/// deployment serving several districts can be asked about one (330102) or any region in
/// them. Not needed when a deployment serves one district.
async fn jurisdiction(
    state: &AppState,
    lang: Lang,
    params: &Params,
) -> Result<Option<RegionCode>, Fail> {
    let Some(j) = params.one(lang, "jurisdiction_id")? else {
        return Ok(None);
    };
    let unknown = || {
        Fail::new(
            StatusCode::NOT_FOUND,
            t(lang, "open311.error.unknown_jurisdiction", &[("value", &j)]),
        )
    };
    let code = RegionCode::parse(&j).map_err(|_| unknown())?;
    match state.store.region(code).await {
        Ok(Some(_)) => Ok(Some(code)),
        Ok(None) => Err(unknown()),
        Err(e) => Err(store_fail(lang, e)),
    }
}

/// The checks every read makes first.
async fn read_checks(
    state: &AppState,
    lang: Lang,
    params: &Params,
    own: &[&str],
) -> Result<Option<RegionCode>, Fail> {
    params.check(lang, &[COMMON, own], false)?;
    optional_key(state, lang, params).await?;
    jurisdiction(state, lang, params).await
}

// ---------------------------------------------------------------------------------------
// Service definitions: the attributes some services ask for

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datatype {
    String,
    Number,
    Datetime,
    Single,
    Multi,
}

impl Datatype {
    fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Single => "singlevaluelist",
            Datatype::Multi => "multivaluelist",
        }
    }
}

/// One attribute of a service definition. Its texts are in the translation table under
/// `key` (the question), `key.type` (the datatype description) and `key.CHOICE`.
#[derive(Debug)]
struct AttrDef {
    code: &'static str,
    datatype: Datatype,
    required: bool,
    key: &'static str,
    choices: &'static [&'static str],
    /// Number attributes: the whole numbers allowed.
    range: (i64, i64),
    /// String attributes: the most characters.
    max_chars: usize,
}

const TIME_OF_DAY: AttrDef = AttrDef {
    code: "time_of_day",
    datatype: Datatype::Single,
    required: true,
    key: "open311.attr.time_of_day",
    choices: &["day", "night"],
    range: (0, 0),
    max_chars: 0,
};
const OBSERVED_AT: AttrDef = AttrDef {
    code: "observed_at",
    datatype: Datatype::Datetime,
    required: false,
    key: "open311.attr.observed_at",
    choices: &[],
    range: (0, 0),
    max_chars: 0,
};
const FLOOR: AttrDef = AttrDef {
    code: "floor",
    datatype: Datatype::Number,
    required: false,
    key: "open311.attr.floor",
    choices: &[],
    range: (-5, 200),
    max_chars: 0,
};
const BUILDING_NO: AttrDef = AttrDef {
    code: "building_no",
    datatype: Datatype::String,
    required: true,
    key: "open311.attr.building_no",
    choices: &[],
    range: (0, 0),
    max_chars: 40,
};
const PEOPLE_TRAPPED: AttrDef = AttrDef {
    code: "people_trapped",
    datatype: Datatype::Single,
    required: true,
    key: "open311.attr.people_trapped",
    choices: &["yes", "no"],
    range: (0, 0),
    max_chars: 0,
};
const GARBAGE_KIND: AttrDef = AttrDef {
    code: "garbage_kind",
    datatype: Datatype::Multi,
    required: false,
    key: "open311.attr.garbage_kind",
    choices: &["household", "bulky", "renovation", "recyclable"],
    range: (0, 0),
    max_chars: 0,
};

/// The attributes a service asks for: what its handlers need and a free description
/// rarely says. Services not named here have none (`metadata` false).
fn attributes_of(code: &str) -> &'static [AttrDef] {
    match code {
        // Night-time noise is handled under stricter rules (22:00–6:00).
        "noise" | "noise.business" => &[TIME_OF_DAY],
        "noise.construction" => &[TIME_OF_DAY, OBSERVED_AT],
        "dispute.leak" => &[FLOOR],
        // A lift with someone inside is an emergency for the lift's maintainer.
        "property.lift" => &[BUILDING_NO, PEOPLE_TRAPPED],
        "env.garbage" => &[GARBAGE_KIND],
        _ => &[],
    }
}

fn attribute_rec(lang: Lang, order: usize, a: &AttrDef) -> V {
    V::Rec(vec![
        ("variable", V::Bool(true)),
        ("code", text(a.code)),
        ("datatype", text(a.datatype.as_str())),
        ("required", V::Bool(a.required)),
        (
            "datatype_description",
            text(i18n::text(lang, &format!("{}.type", a.key))),
        ),
        ("order", V::Int(order as i64 + 1)),
        ("description", text(i18n::text(lang, a.key))),
        (
            "values",
            V::List(
                "value",
                a.choices
                    .iter()
                    .map(|c| {
                        V::Rec(vec![
                            ("key", text(*c)),
                            ("name", text(i18n::text(lang, &format!("{}.{c}", a.key)))),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

/// The code inside `attribute[CODE]` or `attribute[CODE][]` (how forms send each value of
/// a multivaluelist).
fn attribute_code(name: &str) -> Option<&str> {
    let inner = name.strip_prefix("attribute[")?;
    let inner = inner.strip_suffix("[]").unwrap_or(inner);
    let code = inner.strip_suffix(']')?;
    (!code.is_empty() && !code.contains(['[', ']'])).then_some(code)
}

/// Checks the `attribute[…]` values against the service's definition; every problem is
/// reported at once. The result is what is stored: list keys, whole numbers, instants in
/// China's time, text.
fn check_attributes(
    lang: Lang,
    service: &str,
    params: &Params,
) -> Result<Map<String, Value>, Vec<String>> {
    let defs = attributes_of(service);
    let mut errors: Vec<String> = Vec::new();
    let mut given: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in &params.0 {
        if !name.starts_with("attribute[") {
            continue;
        }
        let Some(code) = attribute_code(name) else {
            errors.push(t(lang, "open311.attr.bad_name", &[("param", name)]));
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue; // an empty form field: not given
        }
        match given.iter_mut().find(|(c, _)| *c == code) {
            Some((_, values)) => values.push(value),
            None => given.push((code, vec![value])),
        }
    }
    let mut out = Map::new();
    for (code, values) in &given {
        let Some(def) = defs.iter().find(|d| d.code == *code) else {
            errors.push(if defs.is_empty() {
                t(
                    lang,
                    "open311.attr.none",
                    &[("service", service), ("code", code)],
                )
            } else {
                let codes: Vec<&str> = defs.iter().map(|d| d.code).collect();
                t(
                    lang,
                    "open311.attr.unknown",
                    &[
                        ("service", service),
                        ("code", code),
                        ("codes", &codes.join(", ")),
                    ],
                )
            });
            continue;
        };
        let args = |value: &str| vec![("code", def.code.to_string()), ("value", value.to_string())];
        let msg = |key: &str, extra: Vec<(&str, String)>| {
            let args: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t(lang, key, &args)
        };
        if def.datatype == Datatype::Multi {
            let mut keys: Vec<Value> = Vec::new();
            for v in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
                if v.is_empty() {
                    continue;
                }
                if !def.choices.contains(&v) {
                    let mut a = args(v);
                    a.push(("keys", def.choices.join(", ")));
                    errors.push(msg("open311.attr.bad_value", a));
                } else if !keys.iter().any(|k| k == v) {
                    keys.push(Value::from(v));
                }
            }
            if !keys.is_empty() {
                out.insert(def.code.into(), Value::Array(keys));
            }
            continue;
        }
        if values.iter().any(|v| v != &values[0]) {
            errors.push(msg("open311.attr.one_value", args("")));
            continue;
        }
        let v = values[0];
        match def.datatype {
            Datatype::Single => {
                if def.choices.contains(&v) {
                    out.insert(def.code.into(), Value::from(v));
                } else {
                    let mut a = args(v);
                    a.push(("keys", def.choices.join(", ")));
                    errors.push(msg("open311.attr.bad_value", a));
                }
            }
            Datatype::Number => {
                let (min, max) = def.range;
                // "3" and "3.0" are the third floor; "3.5" and "三" are not floors.
                let n = v
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.fract() == 0.0 && (min as f64..=max as f64).contains(n));
                match n {
                    Some(n) => {
                        out.insert(def.code.into(), Value::from(n as i64));
                    }
                    None => {
                        let mut a = args(v);
                        a.push(("min", min.to_string()));
                        a.push(("max", max.to_string()));
                        errors.push(msg("open311.attr.not_integer", a));
                    }
                }
            }
            Datatype::Datetime => match parse_instant(v) {
                Some(at) if at.timestamp_millis() > linli_store::now_ms() + 5 * 60_000 => {
                    errors.push(msg("open311.attr.future", args(v)))
                }
                Some(at) => {
                    out.insert(def.code.into(), Value::from(rfc3339(at.timestamp_millis())));
                }
                None => errors.push(msg("open311.attr.bad_datetime", args(v))),
            },
            Datatype::String => {
                if v.chars().count() > def.max_chars || v.chars().any(char::is_control) {
                    let mut a = args(v);
                    a.push(("max", def.max_chars.to_string()));
                    errors.push(msg("open311.attr.too_long", a));
                } else {
                    out.insert(def.code.into(), Value::from(v));
                }
            }
            Datatype::Multi => {}
        }
    }
    for def in defs.iter().filter(|d| d.required) {
        let mentioned = given.iter().any(|(c, _)| *c == def.code);
        if !out.contains_key(def.code) && !mentioned {
            errors.push(t(
                lang,
                "open311.attr.required",
                &[("code", def.code), ("question", i18n::text(lang, def.key))],
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------
// GET endpoints at the top: discovery, services, requests; and POST requests

async fn top_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let header_lang = crate::request_lang(&headers);
    let (stem, fmt) = match split_file(header_lang, &file) {
        Ok(x) => x,
        Err(f) => return finish(Format::Json, Err(f)),
    };
    let params = Params::new(query.as_deref(), &[]);
    let lang = match lang_of(&headers, &params) {
        Ok(l) => l,
        Err(f) => return finish(fmt, Err(f)),
    };
    let out = match stem.as_str() {
        "discovery" => discovery(&state, &headers, lang, &params).await,
        "services" => services(&state, lang, &params).await,
        "requests" => list_requests(&state, lang, &params).await,
        _ => Err(unknown_endpoint(lang, &file)),
    };
    finish(fmt, out)
}

fn unknown_endpoint(lang: Lang, file: &str) -> Fail {
    Fail::new(
        StatusCode::NOT_FOUND,
        t(
            lang,
            "open311.error.unknown_endpoint",
            &[("path", &format!("/open311/v2/{file}"))],
        ),
    )
}

async fn top_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let header_lang = crate::request_lang(&headers);
    let (stem, fmt) = match split_file(header_lang, &file) {
        Ok(x) => x,
        Err(f) => return finish(Format::Json, Err(f)),
    };
    if stem != "requests" {
        let f = if matches!(stem.as_str(), "discovery" | "services") {
            Fail::new(
                StatusCode::METHOD_NOT_ALLOWED,
                t(
                    header_lang,
                    "open311.error.get_only",
                    &[("path", &format!("/open311/v2/{file}"))],
                ),
            )
        } else {
            unknown_endpoint(header_lang, &file)
        };
        return finish(fmt, Err(f));
    }
    // The spec's POST is a form. A JSON or multipart body would be read as nothing at all,
    // so it is refused rather than answered with "service_code is required".
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_form = content_type.split(';').next().is_some_and(|m| {
        m.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !body.is_empty() && !is_form {
        let shown = if content_type.is_empty() {
            "(none)"
        } else {
            content_type
        };
        return finish(
            fmt,
            Err(Fail::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                t(
                    header_lang,
                    "open311.error.form_only",
                    &[("content_type", shown)],
                ),
            )),
        );
    }
    let params = Params::new(query.as_deref(), &body);
    let lang = match lang_of(&headers, &params) {
        Ok(l) => l,
        Err(f) => return finish(fmt, Err(f)),
    };
    finish(fmt, create_request(&state, lang, &params).await)
}

/// The discovery document: where the endpoint is and what it speaks. The address is built
/// from the request's Host, so it is right behind whatever name linli is reached by.
async fn discovery(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    params: &Params,
) -> Result<Reply, Fail> {
    read_checks(state, lang, params, &[]).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        })
        .ok_or_else(|| Fail::bad(t(lang, "open311.error.no_host", &[])))?;
    let https = state.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let scheme = if https { "https" } else { "http" };
    let endpoint = V::Rec(vec![
        ("specification", text(SPECIFICATION)),
        ("url", text(format!("{scheme}://{host}/open311/v2"))),
        ("changeset", text(CHANGESET)),
        ("type", text("production")),
        (
            "formats",
            V::List("format", vec![text("text/xml"), text("application/json")]),
        ),
    ]);
    Ok(Reply::new(
        "discovery",
        V::Rec(vec![
            ("changeset", text(CHANGESET)),
            ("contact", text(t(lang, "open311.discovery.contact", &[]))),
            (
                "key_service",
                text(t(lang, "open311.discovery.key_service", &[])),
            ),
            ("endpoints", V::List("endpoint", vec![endpoint])),
        ]),
    ))
}

/// Hours as people write them: 24, 0.5.
fn hours(minutes: i64) -> String {
    if minutes % 60 == 0 {
        (minutes / 60).to_string()
    } else {
        format!("{:.1}", minutes as f64 / 60.0)
    }
}

fn service_rec(lang: Lang, c: &Category, all: &[Category]) -> V {
    let parent = c
        .parent
        .as_ref()
        .and_then(|p| all.iter().find(|x| &x.code == p));
    let mut keywords: Vec<&str> = Vec::new();
    if let Some(p) = parent {
        keywords.push(p.name(lang));
    }
    keywords.push(c.name(lang));
    keywords.push(&c.code);
    V::Rec(vec![
        ("service_code", text(&c.code)),
        ("service_name", text(c.name(lang))),
        (
            "description",
            text(t(
                lang,
                "open311.service.description",
                &[
                    ("level", i18n::text(lang, c.level.label_key())),
                    ("hours", &hours(c.deadline_minutes)),
                ],
            )),
        ),
        ("metadata", V::Bool(!attributes_of(&c.code).is_empty())),
        ("type", text("realtime")),
        ("keywords", text(keywords.join(", "))),
        // A top-level category is its own group, so that every service has one.
        ("group", text(parent.map_or(c.name(lang), |p| p.name(lang)))),
    ])
}

/// One service per active category, in the catalog's order.
async fn services(state: &AppState, lang: Lang, params: &Params) -> Result<Reply, Fail> {
    read_checks(state, lang, params, &[]).await?;
    let all = state
        .store
        .categories()
        .await
        .map_err(|e| store_fail(lang, e))?;
    let list = all
        .iter()
        .filter(|c| c.active)
        .map(|c| service_rec(lang, c, &all))
        .collect();
    Ok(Reply::new("services", V::List("service", list)))
}

async fn service_definition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let header_lang = crate::request_lang(&headers);
    let (code, fmt) = match split_file(header_lang, &file) {
        Ok(x) => x,
        Err(f) => return finish(Format::Json, Err(f)),
    };
    let params = Params::new(query.as_deref(), &[]);
    let out: Result<Reply, Fail> = async {
        let lang = lang_of(&headers, &params)?;
        read_checks(&state, lang, &params, &[]).await?;
        let category = state
            .store
            .category(&code)
            .await
            .map_err(|e| store_fail(lang, e))?;
        let Some(c) = category.filter(|c| c.active) else {
            return Err(Fail::new(
                StatusCode::NOT_FOUND,
                t(lang, "open311.error.unknown_service", &[("value", &code)]),
            ));
        };
        let attributes = attributes_of(&c.code)
            .iter()
            .enumerate()
            .map(|(i, a)| attribute_rec(lang, i, a))
            .collect();
        Ok(Reply::new(
            "service_definition",
            V::Rec(vec![
                ("service_code", text(&c.code)),
                ("attributes", V::List("attribute", attributes)),
            ]),
        ))
    }
    .await;
    finish(fmt, out)
}

// ---------------------------------------------------------------------------------------
// Requests as Open311 shows them

/// The names a page of requests needs, read once per call.
struct Names {
    lang: Lang,
    categories: Vec<Category>,
    departments: Vec<Department>,
    regions: HashMap<RegionCode, String>,
    notes: HashMap<i64, String>,
}

impl Names {
    async fn load(state: &AppState, lang: Lang, events: &[Event]) -> Result<Names, Fail> {
        let store = &state.store;
        let fail = |e| store_fail(lang, e);
        let mut codes: Vec<RegionCode> = events.iter().filter_map(|e| e.unit.region()).collect();
        codes.sort_by_key(|c| (c.level().number(), c.key()));
        codes.dedup();
        let regions = store
            .regions(&codes)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect();
        // Notes are the handlers' own words: shown only on requests filed through Open311.
        let public: Vec<i64> = events.iter().filter(|e| public(e)).map(|e| e.id).collect();
        Ok(Names {
            lang,
            categories: store.categories().await.map_err(fail)?,
            departments: store.departments().await.map_err(fail)?,
            regions,
            notes: store.latest_notes(&public).await.map_err(fail)?,
        })
    }

    fn service_name(&self, code: &str) -> String {
        self.categories
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_string(), |c| c.name(self.lang).to_string())
    }

    /// The unit handling it: a grid's or community's name, a street's 矛调中心, a
    /// department's name.
    fn agency(&self, unit: Unit) -> String {
        match unit {
            Unit::Region(code) => {
                let name = self
                    .regions
                    .get(&code)
                    .cloned()
                    .unwrap_or_else(|| code.to_string());
                if code.level() == Level::Street {
                    t(self.lang, "open311.agency.street", &[("name", &name)])
                } else {
                    name
                }
            }
            Unit::Department(d) => self
                .departments
                .iter()
                .find(|x| x.id == d)
                .map_or_else(|| d.to_string(), |x| x.name(self.lang).to_string()),
        }
    }

    fn status_notes(&self, e: &Event) -> String {
        if let Some(into) = e.merged_into {
            return t(
                self.lang,
                "open311.status.merged",
                &[("token", &reference(into))],
            );
        }
        let state = i18n::text(self.lang, e.state.label_key());
        match self.notes.get(&e.id) {
            Some(note) if public(e) => {
                let sep = if self.lang == Lang::Zh { "：" } else { ": " };
                format!("{state}{sep}{note}")
            }
            _ => state.to_string(),
        }
    }

    fn request(&self, e: &Event) -> V {
        let open = public(e);
        // About 100 m: enough to see where problems are, not whose door it was.
        let place = |x: Option<f64>| {
            if open {
                x
            } else {
                x.map(|v| (v * 1000.0).round() / 1000.0)
            }
        };
        let updated = if e.state.is_open() {
            e.updated_at
        } else {
            e.closed_at.unwrap_or(e.updated_at)
        };
        V::Rec(vec![
            ("service_request_id", text(e.id.to_string())),
            ("status", text(e.state.open311_status())),
            ("status_notes", text(self.status_notes(e))),
            ("service_name", text(self.service_name(&e.category))),
            ("service_code", text(&e.category)),
            (
                "description",
                if open { text(&e.description) } else { V::Null },
            ),
            ("agency_responsible", text(self.agency(e.unit))),
            ("service_notice", V::Null),
            ("requested_datetime", text(rfc3339(e.created_at))),
            ("updated_datetime", text(rfc3339(updated))),
            ("expected_datetime", text(rfc3339(e.due_at))),
            (
                "address",
                if open {
                    opt_text(e.address.clone())
                } else {
                    V::Null
                },
            ),
            (
                "address_id",
                if open {
                    opt_text(e.building_id.map(|b| b.to_string()))
                } else {
                    V::Null
                },
            ),
            ("lat", opt_num(place(e.lat))),
            ("long", opt_num(place(e.lon))),
        ])
    }
}

/// Whether a request's own words and exact place are public: those filed through Open311,
/// whose convention is that reports are public. Residents reporting in linli's own pages
/// were promised that only they and the staff see their reports.
fn public(e: &Event) -> bool {
    e.source == Source::Open311
}

async fn requests_doc(state: &AppState, lang: Lang, events: &[Event]) -> Result<V, Fail> {
    let names = Names::load(state, lang, events).await?;
    Ok(V::List(
        "request",
        events.iter().map(|e| names.request(e)).collect(),
    ))
}

fn comma_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// A page number or size: a whole number from 1 to `max`.
fn page_param(lang: Lang, params: &Params, name: &str, max: i64) -> Result<Option<i64>, Fail> {
    let Some(v) = params.one(lang, name)? else {
        return Ok(None);
    };
    v.parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .map(Some)
        .ok_or_else(|| {
            Fail::bad(t(
                lang,
                "open311.error.bad_page",
                &[("param", name), ("max", &max.to_string()), ("value", &v)],
            ))
        })
}

/// The request list. With service_request_id, exactly those (the spec: it "overrides all
/// other arguments"); otherwise by service code, status and the date range (by default
/// the last 90 days), newest first, a page at a time.
async fn list_requests(state: &AppState, lang: Lang, params: &Params) -> Result<Reply, Fail> {
    let jurisdiction = read_checks(state, lang, params, LIST).await?;
    let mut errors: Vec<String> = Vec::new();
    let mut q = EventFilter {
        range: jurisdiction.map(RegionCode::range),
        ..Default::default()
    };

    if let Some(ids) = params.one(lang, "service_request_id")? {
        for part in comma_list(&ids) {
            match parse_reference(part) {
                Some(id) if !q.ids.contains(&id) => q.ids.push(id),
                Some(_) => {}
                None => errors.push(t(lang, "open311.error.bad_request_id", &[("value", part)])),
            }
        }
        if q.ids.len() as i64 > MAX_PAGE_SIZE {
            errors.push(t(
                lang,
                "open311.error.too_many_ids",
                &[
                    ("max", &MAX_PAGE_SIZE.to_string()),
                    ("count", &q.ids.len().to_string()),
                ],
            ));
        }
    }
    if let Some(codes) = params.one(lang, "service_code")? {
        let known = state
            .store
            .categories()
            .await
            .map_err(|e| store_fail(lang, e))?;
        for code in comma_list(&codes) {
            if known.iter().any(|c| c.code == code) {
                q.categories.push(code.to_string());
            } else {
                errors.push(param_msg(
                    lang,
                    "service_code",
                    &t(lang, "open311.error.unknown_service", &[("value", code)]),
                ));
            }
        }
    }
    if let Some(status) = params.one(lang, "status")? {
        for s in comma_list(&status) {
            let open = match s.to_ascii_lowercase().as_str() {
                "open" => true,
                "closed" => false,
                _ => {
                    errors.push(t(lang, "open311.error.bad_status", &[("value", s)]));
                    continue;
                }
            };
            for st in linli_core::events::State::ALL {
                if st.is_open() == open && !q.states.contains(&st) {
                    q.states.push(st);
                }
            }
        }
    }
    let mut date = |name: &str| -> Result<Option<i64>, Fail> {
        let Some(v) = params.one(lang, name)? else {
            return Ok(None);
        };
        match parse_instant(&v) {
            Some(d) => Ok(Some(d.timestamp_millis())),
            None => {
                errors.push(param_msg(
                    lang,
                    name,
                    &t(lang, "open311.error.bad_date", &[("value", &v)]),
                ));
                Ok(None)
            }
        }
    };
    let start = date("start_date")?;
    let end = date("end_date")?;
    let span = MAX_SPAN_DAYS * DAY_MS;
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s.saturating_add(span)),
        (None, Some(e)) => (e.saturating_sub(span), e),
        (None, None) => {
            let now = linli_store::now_ms();
            (now - span, now)
        }
    };
    if from > to {
        errors.push(t(
            lang,
            "open311.error.date_order",
            &[("start", &rfc3339(from)), ("end", &rfc3339(to))],
        ));
    } else if to - from > span {
        let days = (to - from) as f64 / DAY_MS as f64;
        errors.push(t(
            lang,
            "open311.error.date_span",
            &[
                ("days", &MAX_SPAN_DAYS.to_string()),
                ("span", &format!("{days:.1}")),
            ],
        ));
    }
    q.created_from = Some(from);
    q.created_to = Some(to);
    let page = page_param(lang, params, "page", i64::from(i32::MAX))?.unwrap_or(1);
    let size = page_param(lang, params, "page_size", MAX_PAGE_SIZE)?.unwrap_or(MAX_PAGE_SIZE);
    if !errors.is_empty() {
        return Err(Fail {
            status: StatusCode::BAD_REQUEST,
            descriptions: errors,
        });
    }
    if !q.ids.is_empty() {
        // The spec: service_request_id "overrides all other arguments" (the jurisdiction
        // is where the list looks, not an argument, so it stays).
        q = EventFilter {
            ids: q.ids,
            range: q.range,
            ..Default::default()
        };
    }
    let (events, total) = state
        .store
        .events(
            &q,
            Page {
                offset: (page - 1).saturating_mul(size),
                limit: size,
            },
        )
        .await
        .map_err(|e| store_fail(lang, e))?;
    let mut reply = Reply::new(
        "service_requests",
        requests_doc(state, lang, &events).await?,
    );
    reply.total = Some(total);
    Ok(reply)
}

/// The event a path names by id or reference number, or the spec's 404.
async fn event_named(
    state: &AppState,
    lang: Lang,
    name: &str,
    missing_key: &str,
    jurisdiction: Option<RegionCode>,
) -> Result<Event, Fail> {
    let not_found = || {
        Fail::new(
            StatusCode::NOT_FOUND,
            t(lang, missing_key, &[("value", name)]),
        )
    };
    let id = parse_reference(name).ok_or_else(not_found)?;
    let e = state
        .store
        .event(id)
        .await
        .map_err(|e| store_fail(lang, e))?
        .ok_or_else(not_found)?;
    // A request outside the jurisdiction asked for is, for that jurisdiction, not there.
    if jurisdiction.is_some_and(|j| !Scope::Region(j).contains(e.region)) {
        return Err(not_found());
    }
    Ok(e)
}

/// What the two one-request reads share: the answer's format from the file name, the
/// language, the read checks, and the request the name gives (`missing`: the error's key
/// when there is none). A file name without a format answers in JSON.
async fn named_request(
    state: &AppState,
    headers: &HeaderMap,
    file: &str,
    query: Option<&str>,
    missing: &'static str,
) -> (Format, Result<(Lang, Event), Fail>) {
    let (name, fmt) = match split_file(crate::request_lang(headers), file) {
        Ok(x) => x,
        Err(f) => return (Format::Json, Err(f)),
    };
    let params = Params::new(query, &[]);
    let found = async {
        let lang = lang_of(headers, &params)?;
        let jurisdiction = read_checks(state, lang, &params, &[]).await?;
        let e = event_named(state, lang, &name, missing, jurisdiction).await?;
        Ok((lang, e))
    }
    .await;
    (fmt, found)
}

/// One request, as a one-element list (the spec's shape).
async fn one_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (fmt, found) = named_request(
        &state,
        &headers,
        &file,
        query.as_deref(),
        "open311.error.request_not_found",
    )
    .await;
    let out = async {
        let (lang, e) = found?;
        Ok(Reply::new(
            "service_requests",
            requests_doc(&state, lang, std::slice::from_ref(&e)).await?,
        ))
    }
    .await;
    finish(fmt, out)
}

/// The request behind a token (the reference number given when it was filed).
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (fmt, found) = named_request(
        &state,
        &headers,
        &file,
        query.as_deref(),
        "open311.error.token_not_found",
    )
    .await;
    let out = found.map(|(_, e)| {
        Reply::new(
            "service_requests",
            V::List(
                "request",
                vec![V::Rec(vec![
                    ("service_request_id", text(e.id.to_string())),
                    ("token", text(e.reference())),
                ])],
            ),
        )
    });
    finish(fmt, out)
}

// ---------------------------------------------------------------------------------------
// Filing a request

/// A name from Open311's first and last name: family name first and no space when either
/// is written in Chinese characters (张 + 三 → 张三), "First Last" otherwise.
fn contact_name(first: Option<String>, last: Option<String>) -> Option<String> {
    let cjk = |s: &str| {
        s.chars()
            .any(|c| matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}'))
    };
    match (first, last) {
        (None, None) => None,
        (Some(n), None) | (None, Some(n)) => Some(n),
        (Some(f), Some(l)) if cjk(&f) || cjk(&l) => Some(format!("{l}{f}")),
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
    }
}

fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn web_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Files a request: checks the key, then everything else at once (service, attributes,
/// place, contact), then lets the store locate, route and store it as an event reported by
/// this key's client.
async fn create_request(state: &AppState, lang: Lang, params: &Params) -> Result<Reply, Fail> {
    let store = &state.store;
    let fail = |e| store_fail(lang, e);
    // The key first: without a valid one nothing else is looked at.
    let key = params.one(lang, "api_key")?.ok_or_else(|| {
        Fail::new(
            StatusCode::FORBIDDEN,
            t(lang, "open311.error.api_key_missing", &[]),
        )
    })?;
    let (key_id, key_name) = store.api_key(&key).await.map_err(fail)?.ok_or_else(|| {
        Fail::new(
            StatusCode::FORBIDDEN,
            t(lang, "open311.error.api_key_unknown", &[]),
        )
    })?;
    params.check(lang, &[COMMON, POST], true)?;
    let jurisdiction = jurisdiction(state, lang, params).await?;

    let mut errors: Vec<String> = Vec::new();
    let required = |param: &str| {
        param_msg(
            lang,
            param,
            &Problem::new("required", "registry.required").message(lang),
        )
    };
    let category = match params.one(lang, "service_code")? {
        None => {
            errors.push(required("service_code"));
            None
        }
        Some(code) => match store.category(&code).await.map_err(fail)? {
            Some(c) if c.active => Some(c),
            _ => {
                errors.push(param_msg(
                    lang,
                    "service_code",
                    &t(lang, "open311.error.unknown_service", &[("value", &code)]),
                ));
                None
            }
        },
    };
    let attributes = match &category {
        Some(c) => check_attributes(lang, &c.code, params).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            Map::new()
        }),
        None => Map::new(),
    };

    // Where: a point, or a registered building. An address string alone cannot be placed
    // in a grid, so it is refused with what would work.
    let number = |param: &str, v: &str, errors: &mut Vec<String>| -> Option<f64> {
        let n = v.parse::<f64>().ok().filter(|n| n.is_finite());
        if n.is_none() {
            errors.push(param_msg(
                lang,
                param,
                &t(lang, "open311.error.not_number", &[("value", v)]),
            ));
        }
        n
    };
    let lat = params.one(lang, "lat")?;
    let long = params.one(lang, "long")?;
    let address_id = params.one(lang, "address_id")?;
    let address = params.one(lang, "address_string")?;
    let position = match (&lat, &long) {
        (Some(a), Some(o)) => {
            let a = number("lat", a, &mut errors);
            let o = number("long", o, &mut errors);
            a.zip(o).map(|(a, o)| [o, a])
        }
        (None, None) => None,
        _ => {
            errors.push(t(lang, "open311.error.half_position", &[]));
            None
        }
    };
    let building = address_id.as_deref().and_then(|v| {
        let id = v.parse::<i64>().ok().filter(|&n| n > 0);
        if id.is_none() {
            errors.push(param_msg(
                lang,
                "address_id",
                &t(lang, "open311.error.bad_address_id", &[("value", v)]),
            ));
        }
        id
    });
    match (lat.is_some() || long.is_some(), address_id.is_some()) {
        (true, true) => errors.push(t(lang, "open311.error.location_twice", &[])),
        (false, false) if address.is_some() => {
            errors.push(t(lang, "open311.error.address_only", &[]))
        }
        (false, false) => errors.push(t(lang, "open311.error.location_required", &[])),
        _ => {}
    }

    // Who: a name and a phone are kept (the phone encrypted); the rest is said not kept.
    let mut notices: Vec<String> = Vec::new();
    let name_part = |param: &str, errors: &mut Vec<String>| -> Result<Option<String>, Fail> {
        let v = params.one(lang, param)?;
        if let Some(n) = &v {
            if n.chars().count() > MAX_NAME {
                errors.push(param_msg(
                    lang,
                    param,
                    &t(
                        lang,
                        "open311.error.too_long",
                        &[("max", &MAX_NAME.to_string())],
                    ),
                ));
            }
        }
        Ok(v)
    };
    let first = name_part("first_name", &mut errors)?;
    let last = name_part("last_name", &mut errors)?;
    if let Some(email) = params.one(lang, "email")? {
        if plausible_email(&email) {
            notices.push(t(lang, "open311.notice.email_not_kept", &[]));
        } else {
            errors.push(param_msg(
                lang,
                "email",
                &t(lang, "open311.error.bad_email", &[("value", &email)]),
            ));
        }
    }
    if let Some(media) = params.one(lang, "media_url")? {
        if web_url(&media) {
            notices.push(t(lang, "open311.notice.media_not_fetched", &[]));
        } else {
            errors.push(param_msg(
                lang,
                "media_url",
                &t(lang, "open311.error.bad_media_url", &[("value", &media)]),
            ));
        }
    }
    if params.one(lang, "device_id")?.is_some() || params.one(lang, "account_id")?.is_some() {
        notices.push(t(lang, "open311.notice.device_not_kept", &[]));
    }
    let description = params.one(lang, "description")?;
    if description.is_none() {
        errors.push(required("description"));
    }
    let phone = params.one(lang, "phone")?;
    if !errors.is_empty() {
        return Err(Fail {
            status: StatusCode::BAD_REQUEST,
            descriptions: errors,
        });
    }
    let Some(category) = category else {
        return Err(Fail::bad(required("service_code")));
    };

    // A jurisdiction named by the client must hold the place, checked before anything is
    // written.
    if let Some(j) = jurisdiction {
        let region = match (position, building) {
            (Some(p), _) => Some(store.locate_point(p).await.map_err(fail)?),
            (None, Some(b)) => store.building(b).await.map_err(fail)?.map(|b| b.region),
            (None, None) => None,
        };
        if region.is_some_and(|r| !Scope::Region(j).contains(r)) {
            return Err(Fail::bad(t(
                lang,
                "open311.error.outside_jurisdiction",
                &[("jurisdiction", &j.to_string())],
            )));
        }
    }

    let created = store
        .create_event(
            By::ApiKey {
                id: key_id,
                name: &key_name,
            },
            NewEvent {
                category: category.code.clone(),
                description: description.unwrap_or_default(),
                position,
                building_id: building,
                address,
                contact_name: contact_name(first, last),
                contact_phone: phone,
                // Written with the event in its one transaction.
                attributes: (!attributes.is_empty()).then_some(Value::Object(attributes)),
                ..Default::default()
            },
        )
        .await
        .map_err(fail)?;
    let event = created.event;
    let names = Names::load(state, lang, std::slice::from_ref(&event)).await?;
    let mut notice = vec![t(
        lang,
        "open311.notice.received",
        &[
            ("token", &event.reference()),
            ("agency", &names.agency(event.unit)),
            ("due", &local_minute(event.due_at)),
        ],
    )];
    if !created.duplicates.is_empty() {
        notice.push(t(
            lang,
            "open311.notice.duplicates",
            &[("count", &created.duplicates.len().to_string())],
        ));
    }
    notice.extend(notices);
    let sep = if lang == Lang::Zh { "" } else { " " };
    Ok(Reply::new(
        "service_requests",
        V::List(
            "request",
            vec![V::Rec(vec![
                ("service_request_id", text(event.id.to_string())),
                ("token", text(event.reference())),
                ("service_notice", text(notice.join(sep))),
                ("account_id", V::Null),
            ])],
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_and_replaces_what_xml_cannot_carry() {
        let mut out = String::new();
        V::Rec(vec![
            ("a", text("<&>\"' 你好\u{1}")),
            ("b", V::Null),
            (
                "c",
                V::List("x", vec![V::Int(1), V::Num(2.5), V::Bool(true)]),
            ),
        ])
        .xml("r", &mut out);
        assert_eq!(
            out,
            "<r><a>&lt;&amp;&gt;&quot;&apos; 你好\u{FFFD}</a><b/><c><x>1</x><x>2.5</x><x>true</x></c></r>"
        );
    }

    #[test]
    fn instants_need_a_zone_and_survive_an_unencoded_plus() {
        for ok in [
            "2025-03-01T08:00:00+08:00",
            "2025-03-01T00:00:00Z",
            "2025-03-01T00:00:00.123Z",
            "2025-03-01T08:00+08:00",
            "2025-03-01T08:00:00 08:00",
            "2025-03-01T08:00:00+0800",
        ] {
            let at = parse_instant(ok).unwrap_or_else(|| panic!("{ok}"));
            assert_eq!(at.timestamp() / 60, 1_740_787_200 / 60, "{ok}");
        }
        for bad in ["2025-03-01T08:00:00", "2025-03-01", "yesterday", ""] {
            assert!(parse_instant(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn attribute_names_and_contact_names() {
        assert_eq!(attribute_code("attribute[floor]"), Some("floor"));
        assert_eq!(attribute_code("attribute[kind][]"), Some("kind"));
        assert_eq!(attribute_code("attribute[]"), None);
        assert_eq!(attribute_code("attribute[a[b]]"), None);
        assert_eq!(
            contact_name(Some("三".into()), Some("张".into())),
            Some("张三".into())
        );
        assert_eq!(
            contact_name(Some("Ada".into()), Some("Lovelace".into())),
            Some("Ada Lovelace".into())
        );
        assert!(
            plausible_email("a@b.cn") && !plausible_email("a@b") && !plausible_email("a b@c.cn")
        );
    }

    #[test]
    fn every_attribute_text_is_in_the_table() {
        for code in [
            "noise",
            "noise.construction",
            "dispute.leak",
            "property.lift",
            "env.garbage",
        ] {
            for a in attributes_of(code) {
                assert!(i18n::has(a.key), "{}", a.key);
                assert!(i18n::has(&format!("{}.type", a.key)), "{}.type", a.key);
                for c in a.choices {
                    assert!(i18n::has(&format!("{}.{c}", a.key)), "{}.{c}", a.key);
                }
            }
        }
    }
}
