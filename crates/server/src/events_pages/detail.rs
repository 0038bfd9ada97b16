//! One event's page, for staff (`/events/{id}`) and for its reporter on the phone
//! (`/m/events/{id}`, see `resident`): the facts, photos, the timeline, summons, merged
//! reports and possible duplicates, and a form for each action the reader may take now.
//!
//! The forms offered are exactly those `flow::apply` accepts for this reader over the
//! event's current facts (`Store::event_facts`), tried with a representative payload (an
//! hour's extension, the first department). A posted form goes through
//! `Store::act_on_event`, which decides again on fresh facts; a refusal re-renders the page
//! with the message beside the form, and changes nothing.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use linli_core::events::flow::{self, Action, Actor, Facts, Refusal};
use linli_core::events::{reference, Unit, DUPLICATE_WINDOW_MS};
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Permission, Problem};
use linli_store::events::{ActionInput, By, Event, Summons};
use linli_store::{Session, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::view::{excerpt, photo_list, time, Names};
use super::{base, blank, event_id, merge, not_found, photos, render, with_status};
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

/// Which page shows the event.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Staff,
    Phone,
}

impl View {
    fn path(self, id: i64) -> String {
        match self {
            View::Staff => format!("/events/{id}"),
            View::Phone => format!("/m/events/{id}"),
        }
    }
}

/// The actions in the order the page offers them; the first few are each role's main step.
const ORDER: [&str; 16] = [
    "accept",
    "report_back",
    "verify",
    "close",
    "check_in",
    "close_on_spot",
    "reject",
    "approve_extension",
    "deny_extension",
    "request_extension",
    "escalate",
    "whistle",
    "rate",
    "reopen",
    "withdraw",
    "comment",
];
const PRIMARY: [&str; 6] = [
    "accept",
    "report_back",
    "verify",
    "close",
    "check_in",
    "rate",
];
/// What a reporter does on the phone page.
const REPORTERS: [&str; 4] = ["rate", "reopen", "withdraw", "comment"];
/// Actions that cannot be undone ask first.
const CONFIRM: [&str; 3] = ["withdraw", "close", "close_on_spot"];

pub(super) fn actor(u: &User) -> Actor {
    Actor::User {
        id: u.id,
        role: u.role,
        scope: u.scope,
        department: u.department,
    }
}

/// An event the reader may see, with its summons; else the not-found page.
pub(super) async fn visible(
    state: &AppState,
    user: &User,
    id: i64,
) -> AppResult<(Event, Vec<Summons>)> {
    let event = state.store.event(id).await?.ok_or_else(not_found)?;
    let summons = state.store.event_summons(id).await?;
    if crate::events_api::can_see(user, &event, &summons) {
        Ok((event, summons))
    } else {
        Err(not_found())
    }
}

fn label(lang: Lang, name: &str) -> String {
    i18n::text(lang, &Action::label_key(name)).to_string()
}

/// The forms for the actions `user` may take now, in [`ORDER`].
fn offers(facts: &Facts, user: &User, now: i64, names: &Names, view: View) -> Vec<Value> {
    let lang = names.lang;
    let actor = actor(user);
    let ok = |a: &Action| flow::apply(facts, a, &actor, now).is_ok();
    let first_department = names.catalog.departments.first().map(|d| d.id);
    let department_options = |selected: Option<i64>| -> Vec<Value> {
        names
            .catalog
            .departments
            .iter()
            .map(|d| json!({"value": d.code, "label": d.name(lang), "selected": Some(d.id) == selected}))
            .collect()
    };
    let from_street = matches!(facts.unit, Unit::Region(u) if u.level() == Level::Street);
    let mut out = Vec::new();
    for name in ORDER {
        if view == View::Phone && !REPORTERS.contains(&name) {
            continue;
        }
        let mut form = json!({
            "name": name,
            "label": label(lang, name),
            "primary": PRIMARY.contains(&name),
            "confirm": CONFIRM.contains(&name).then(|| i18n::format(lang, "ep.confirm", &[("action", &label(lang, name))])),
            "note": name != "rate",
        });
        let allowed = match name {
            "escalate" => {
                match flow::apply(facts, &Action::Escalate { department: None }, &actor, now) {
                    Ok(_) => {
                        if from_street {
                            form["department"] = json!({"required": false, "options": department_options(facts.escalation_department)});
                        }
                        true
                    }
                    // From a street the list names no department: the handler picks one.
                    Err(Refusal::NoDepartment) => {
                        let may = first_department.is_some_and(|d| {
                            ok(&Action::Escalate {
                                department: Some(d),
                            })
                        });
                        form["department"] =
                            json!({"required": true, "options": department_options(None)});
                        may
                    }
                    Err(_) => false,
                }
            }
            "whistle" => {
                form["departments"] = json!(department_options(None));
                form["check_in"] = json!(linli_store::events::DEFAULT_CHECK_IN_MINUTES);
                first_department.is_some_and(|d| {
                    ok(&Action::Whistle {
                        departments: vec![d],
                    })
                })
            }
            "request_extension" => {
                form["minutes"] = json!(true);
                ok(&Action::RequestExtension { minutes: 60 })
            }
            "rate" => {
                form["stars"] = json!(true);
                ok(&Action::Rate { stars: 5 })
            }
            "report_back" | "close_on_spot" => {
                form["photos"] = json!(true);
                simple(name).is_some_and(|a| ok(&a))
            }
            other => simple(other).is_some_and(|a| ok(&a)),
        };
        if allowed {
            if name == "comment" && view == View::Phone {
                form["label"] = json!(i18n::text(lang, "ep.m.add_note"));
            }
            if name == "approve_extension" || name == "deny_extension" {
                if let Some(m) = facts.extension_pending {
                    form["hint"] = json!(i18n::format(
                        lang,
                        "ep.extension_asked",
                        &[("time", &super::view::duration(lang, m * 60_000))]
                    ));
                }
            }
            out.push(form);
        }
    }
    out
}

/// The actions that carry nothing the rules judge.
fn simple(name: &str) -> Option<Action> {
    Some(match name {
        "accept" => Action::Accept,
        "report_back" => Action::ReportBack,
        "verify" => Action::Verify,
        "reject" => Action::Reject,
        "close" => Action::Close,
        "close_on_spot" => Action::CloseOnSpot,
        "approve_extension" => Action::ApproveExtension,
        "deny_extension" => Action::DenyExtension,
        "check_in" => Action::CheckIn,
        "withdraw" => Action::Withdraw,
        "reopen" => Action::Reopen,
        "comment" => Action::Comment,
        _ => return None,
    })
}

/// What a refused form gets back: the message beside the form, and what was typed.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) action: String,
    pub(super) message: Option<String>,
    pub(super) note: String,
    pub(super) comment: String,
}

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    done: Option<String>,
    filed: Option<String>,
}

/// The page's context: everything about the event, and the forms.
pub(super) async fn context(
    state: &AppState,
    lang: Lang,
    s: &Session,
    (event, summons): (Event, Vec<Summons>),
    view: View,
    outcome: &Outcome,
    q: &PageQuery,
) -> AppResult<Value> {
    let store = &state.store;
    let now = linli_store::now_ms();
    let id = event.id;
    let flow = store.event_flow(id).await?;
    let photos = store.event_photos(id).await?;
    let merged = store.merged_into(id).await?;
    let facts = store.event_facts(id).await?.ok_or_else(not_found)?;
    let duplicates = match (event.lon, event.lat, event.state.is_open()) {
        (Some(lon), Some(lat), true) => {
            store
                .nearby_open(
                    &event.category,
                    [lon, lat],
                    now - DUPLICATE_WINDOW_MS,
                    Some(id),
                )
                .await?
        }
        _ => Vec::new(),
    };
    let mut codes = Names::codes_of(std::slice::from_ref(&event));
    codes.extend(Names::codes_in_flow(&flow));
    let names = Names::load(state, lang, codes).await?;
    let user = &s.user;
    let offers = offers(&facts, user, now, &names, view);
    let may_merge = view == View::Staff
        && flow::apply(&facts, &Action::Merge { into: 0 }, &actor(user), now).is_ok();
    let mut offered: Vec<&str> = offers.iter().filter_map(|o| o["name"].as_str()).collect();
    if may_merge && !duplicates.is_empty() {
        offered.push("merge");
    }
    // A refusal of a form no longer offered (the page was stale) shows above the forms.
    let general_error = outcome
        .message
        .clone()
        .filter(|_| !offered.contains(&outcome.action.as_str()));
    let done = blank(q.done.as_deref())
        .filter(|d| flow::Action::USER_ACTIONS.contains(d))
        .map(|d| i18n::format(lang, "ep.done", &[("action", &label(lang, d))]));
    let summons: Vec<Value> = summons
        .iter()
        .map(|x| {
            json!({
                "department": names.department(x.department_id).1,
                "state": x.state,
                "state_name": i18n::text(lang, &format!("ep.summons.{}", x.state)),
                "due": time(x.due_at),
                "checked_in": x.checked_in_at.map(time),
            })
        })
        .collect();
    let ctx = json!({
        "view": if view == View::Staff { "staff" } else { "phone" },
        "event": names.facts(&event, now),
        "photos": photo_list(id, photos.iter()),
        "steps": names.timeline(id, &flow, &photos),
        "summons": summons,
        "merged": merged.iter().map(|m| json!({"id": m, "reference": reference(*m)})).collect::<Vec<_>>(),
        "duplicates": duplicates.iter().map(|d| json!({
            "id": d.id,
            "reference": reference(d.id),
            "state_name": i18n::text(lang, d.state.label_key()),
            "excerpt": excerpt(&d.description, 40),
            "created": time(d.created_at),
            "meters": format!("{:.0}", d.meters),
        })).collect::<Vec<_>>(),
        "may_merge": may_merge,
        "offers": offers,
        "outcome": {
            "action": outcome.action,
            "message": outcome.message,
            "note": outcome.note,
            "comment": outcome.comment,
        },
        "general_error": general_error,
        "done": done,
        "filed": blank(q.filed.as_deref()).is_some(),
        "is_reporter": event.reporter_id == Some(user.id),
        "act": format!("{}/act", view.path(id)),
    });
    Ok(merge(base(lang, s, &view.path(id)), ctx))
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let id = event_id(&id)?;
    let found = visible(&state, &s.user, id).await?;
    // A reporter who does not work events reads their report on the phone page.
    if !s.user.role.allows(Permission::WorkEvents) {
        return Ok(Redirect::to(&View::Phone.path(id)).into_response());
    }
    let ctx = context(
        &state,
        lang,
        &s,
        found,
        View::Staff,
        &Outcome::default(),
        &q,
    )
    .await?;
    render("events_event.html", ctx)
}

/// A posted action form. Everything arrives as text, so that a bad value gets the page's
/// own message rather than a bare rejection.
#[derive(Deserialize, Default)]
pub(super) struct ActForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    departments: Vec<String>,
    #[serde(default)]
    check_in_minutes: String,
    #[serde(default)]
    stars: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    into: String,
    #[serde(default)]
    photos: Vec<String>,
}

fn required(field: &'static str, key: &'static str) -> AppError {
    AppError::bad_request(Problem::new("required", key).field(field))
}

fn integer(s: &str, field: &'static str, key: &'static str) -> AppResult<Option<i64>> {
    match blank(Some(s)) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            AppError::bad_request(
                Problem::new("bad_number", "ep.bad_number")
                    .arg("value", v)
                    .field(field),
            )
        }),
    }
    .and_then(|n| match n {
        None if !key.is_empty() => Err(required(field, key)),
        other => Ok(other),
    })
}

fn department_id(names: &Names, code: &str) -> AppResult<i64> {
    crate::events_api::department_by_code(&names.catalog.departments, code)
}

/// The action a form names, with its payload.
fn parse_action(f: &ActForm, names: &Names) -> AppResult<Action> {
    let name = f.action.trim();
    if let Some(a) = simple(name) {
        return Ok(a);
    }
    Ok(match name {
        "request_extension" => Action::RequestExtension {
            minutes: integer(&f.minutes, "minutes", "ep.need.minutes")?.unwrap_or_default(),
        },
        "escalate" => Action::Escalate {
            department: blank(Some(&f.department))
                .map(|d| department_id(names, d))
                .transpose()?,
        },
        "whistle" => Action::Whistle {
            departments: f
                .departments
                .iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| department_id(names, d))
                .collect::<AppResult<_>>()?,
        },
        "rate" => {
            let stars = integer(&f.stars, "stars", "ep.need.stars")?.unwrap_or_default();
            Action::Rate {
                // Out of range stays out of range, for the rules to refuse with their words.
                stars: u8::try_from(stars.clamp(0, 255)).unwrap_or(0),
            }
        }
        "merge" => Action::Merge {
            into: linli_core::events::parse_reference(&f.into)
                .ok_or_else(|| required("into", "ep.need.into"))?,
        },
        other => {
            return Err(AppError::bad_request(
                Problem::new("bad_action", "events.bad_action")
                    .arg("value", other)
                    .arg("actions", Action::USER_ACTIONS.join(", "))
                    .field("action"),
            ))
        }
    })
}

/// Handles a posted action form for either page.
pub(super) async fn act_on(
    state: &AppState,
    lang: Lang,
    user: &PageUser,
    raw_id: &str,
    form: ActForm,
    view: View,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    let id = event_id(raw_id)?;
    visible(state, &s.user, id).await?;
    let result = async {
        let names = Names::load(state, lang, []).await?;
        let action = parse_action(&form, &names)?;
        let photos = photos::refs(state, &form.photos)?;
        let input = ActionInput {
            note: blank(Some(&form.note)).map(str::to_string),
            comment: blank(Some(&form.comment)).map(str::to_string),
            photos,
            check_in_minutes: integer(&form.check_in_minutes, "check_in_minutes", "")?,
        };
        Ok::<_, AppError>(
            state
                .store
                .act_on_event(By::User(&s.user), id, action, input)
                .await?,
        )
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}?done={}#timeline",
            view.path(id),
            form.action.trim()
        ))
        .into_response()),
        Err(AppError::Problem(status, p)) if status != StatusCode::NOT_FOUND => {
            let outcome = Outcome {
                action: form.action.trim().to_string(),
                message: Some(p.message(lang)),
                note: form.note.clone(),
                comment: form.comment.clone(),
            };
            // Nothing changed: show the event as it is, with the message beside the form.
            let found = visible(state, &s.user, id).await?;
            let ctx = context(state, lang, s, found, view, &outcome, &PageQuery::default()).await?;
            let template = match view {
                View::Staff => "events_event.html",
                View::Phone => "events_m_event.html",
            };
            Ok(with_status(status, render(template, ctx)?))
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn act(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> AppResult<Response> {
    act_on(&state, lang, &user, &id, form, View::Staff).await
}
