//! The visit rules page at `/care/visits/rules?region=CODE`: the rules in force and where
//! they come from (built in, the region's own, or inherited from a region above), and for
//! those who manage a district, street or community an editor of its own rules (rows of tags,
//! an age and an interval), saved through the API's own call; or the region's own rules
//! removed so that those above apply. A refused list comes back as typed with the store's
//! message, which names the rule.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use linli_core::care_visits::{parse_rules, VisitRule, MAX_RULES};
use linli_core::i18n::{self, Lang};
use linli_core::registry::tags::Tag;
use linli_core::{Level, Permission, Problem, RegionCode, Scope};
use linli_store::Session;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check, render};
use crate::auth::PageUser;
use crate::care_visits_api::{managed_region, set_rules, viewed_region};
use crate::error::{AppError, AppResult};
use crate::page_kit::{blank, header, merge, query_string, with_status};
use crate::{AppState, ReqLang};

/// Empty rows the editor offers below the rules, for adding without the script.
const SPARE_ROWS: usize = 2;

#[derive(Deserialize, Default)]
pub(super) struct RulesQuery {
    region: Option<String>,
    replanned: Option<String>,
}

/// One row of the editor, as typed.
#[derive(Default, Clone)]
struct Row {
    tags: Vec<String>,
    age: String,
    days: String,
}

impl Row {
    fn of(rule: &VisitRule) -> Row {
        let mut row = Row {
            days: rule.interval_days.to_string(),
            ..Row::default()
        };
        for t in &rule.tags {
            match Tag::parse(t) {
                Some(tag @ (Tag::Age60 | Tag::Age80)) => row.age = tag.as_str().to_string(),
                Some(tag) => row.tags.push(tag.as_str().to_string()),
                None => row.tags.push(t.clone()),
            }
        }
        row
    }

    fn is_blank(&self) -> bool {
        self.tags.is_empty() && self.age.trim().is_empty() && self.days.trim().is_empty()
    }

    /// The rule the row says; a days field that is not a number becomes 0, which the
    /// rules' own check refuses with the rule's number.
    fn rule(&self) -> VisitRule {
        let mut tags = self.tags.clone();
        if let Some(age) = blank(Some(&self.age)) {
            tags.push(age.to_string());
        }
        VisitRule {
            tags,
            interval_days: self.days.trim().parse().unwrap_or(0),
        }
    }

    fn view(&self) -> Value {
        json!({"tags": self.tags, "age": self.age, "days": self.days})
    }
}

fn region_of(s: &Session, asked: Option<&str>) -> AppResult<RegionCode> {
    match blank(asked) {
        Some(code) => viewed_region(&s.user, code),
        None => match s.user.scope {
            Scope::Region(code) => Ok(code),
            Scope::Nation => Err(AppError::bad_request(
                Problem::new("care_choose_region", "cp.enrol.choose").field("region"),
            )),
        },
    }
}

async fn context(
    state: &AppState,
    lang: Lang,
    s: &Session,
    region: RegionCode,
    typed: Option<Vec<Row>>,
    error: Option<String>,
    replanned: Option<String>,
) -> AppResult<Value> {
    let rules = state.store.visit_rules(region).await?;
    let own = rules.scope == Some(region);
    let source = match rules.scope {
        None => i18n::text(lang, "cp.rules.builtin").to_string(),
        Some(c) if c == region => i18n::text(lang, "cp.rules.own").to_string(),
        Some(c) => {
            let name = state
                .store
                .region(c)
                .await?
                .map(|r| r.name)
                .unwrap_or_else(|| c.to_string());
            i18n::format(lang, "cp.rules.inherited", &[("name", &name)])
        }
    };
    let in_force: Vec<Value> = match parse_rules(&rules.rules) {
        Ok(parsed) => parsed
            .iter()
            .map(|r| {
                json!({
                    "label": r.label(lang),
                    "interval": i18n::format(lang, "cp.visits.every", &[("n", &r.interval_days.to_string())]),
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let editable = region.level().number() <= Level::Community.number()
        && s.user.role.allows(Permission::ManageRegistry);
    // The editor starts from the rules in force, so that a region adapts what it inherits.
    let mut rows = typed.unwrap_or_else(|| rules.rules.iter().map(Row::of).collect());
    let spare = SPARE_ROWS.min(MAX_RULES.saturating_sub(rows.len()));
    rows.extend(std::iter::repeat_n(Row::default(), spare));
    let tag_options: Vec<Value> = Tag::ASSIGNED
        .iter()
        .map(|t| json!({"value": t.as_str(), "label": i18n::text(lang, t.label_key())}))
        .collect();
    let ages = [
        ("", "cp.rules.age_any"),
        ("age60", "tag.age60"),
        ("age80", "tag.age80"),
    ]
    .iter()
    .map(|(v, k)| json!({"value": v, "label": i18n::text(lang, k)}))
    .collect::<Vec<_>>();
    let name = state
        .store
        .region(region)
        .await?
        .map(|r| r.name)
        .unwrap_or_else(|| region.to_string());
    Ok(merge(
        header(lang, s, "/care/visits/rules"),
        json!({
            "region": region.to_string(),
            "region_name": name,
            "own": own,
            "source": source,
            "in_force": in_force,
            "updated": rules.updated_at.map(|t| i18n::format(lang, "cp.rules.updated", &[
                ("time", &super::visits::time(t)),
                ("who", rules.updated_by.as_deref().unwrap_or("")),
            ])),
            "editable": editable,
            "below_community": region.level().number() > Level::Community.number(),
            "rows": rows.iter().map(Row::view).collect::<Vec<_>>(),
            "tag_options": tag_options,
            "ages": ages,
            "error": error,
            "replanned": replanned.map(|n| i18n::format(lang, "cp.rules.saved", &[("count", &n)])),
            "max_rules": MAX_RULES,
        }),
    ))
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<RulesQuery>,
) -> AppResult<Response> {
    if let Some(away) = check(&s)? {
        return Ok(away);
    }
    let region = region_of(&s, q.region.as_deref())?;
    let replanned = blank(q.replanned.as_deref())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string);
    let ctx = context(&state, lang, &s, region, None, None, replanned).await?;
    render("care_rules.html", ctx)
}

/// The editor's fields: `region`, `action` (save or inherit) and per row `r{i}.tag`
/// (repeated), `r{i}.age` and `r{i}.days`. Read by hand since rows are numbered.
pub(super) async fn save(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    body: Bytes,
) -> AppResult<Response> {
    let mut csrf = String::new();
    let mut region = String::new();
    let mut action = String::new();
    let mut rows: Vec<Row> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "_csrf" => csrf = v.into_owned(),
            "region" => region = v.into_owned(),
            "action" => action = v.into_owned(),
            key => {
                let Some((i, field)) = key
                    .strip_prefix('r')
                    .and_then(|k| k.split_once('.'))
                    .and_then(|(i, f)| i.parse::<usize>().ok().map(|i| (i, f)))
                else {
                    continue;
                };
                // Rows beyond the limit (and a little) are not kept: the check below
                // refuses the list by its count anyway.
                if i > MAX_RULES * 2 {
                    continue;
                }
                if rows.len() <= i {
                    rows.resize(i + 1, Row::default());
                }
                match field {
                    "tag" if !v.trim().is_empty() => rows[i].tags.push(v.into_owned()),
                    "age" => rows[i].age = v.into_owned(),
                    "days" => rows[i].days = v.into_owned(),
                    _ => {}
                }
            }
        }
    }
    user.check_csrf(&csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    let code = managed_region(&s.user, region.trim())?;
    rows.retain(|r| !r.is_blank());
    let result = if action == "inherit" {
        set_rules(&state, &s.user, addr, code, None).await
    } else {
        let rules: Vec<VisitRule> = rows.iter().map(Row::rule).collect();
        set_rules(&state, &s.user, addr, code, Some(&rules)).await
    };
    match result {
        Ok(n) => Ok(Redirect::to(&format!(
            "/care/visits/rules{}",
            query_string(&[("region", code.to_string()), ("replanned", n.to_string())])
        ))
        .into_response()),
        Err(e @ AppError::Problem(..)) => {
            let status = e.status();
            let ctx = context(
                &state,
                lang,
                s,
                code,
                Some(rows),
                Some(e.message(lang)),
                None,
            )
            .await?;
            Ok(with_status(status, render("care_rules.html", ctx)?))
        }
        Err(e) => Err(e),
    }
}
