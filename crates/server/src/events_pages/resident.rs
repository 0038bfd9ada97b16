//! The reporter's phone pages: `/m/events` (my reports, newest first, with the latest news
//! on them) and `/m/events/{id}` (the timeline; rating with stars and a comment after
//! closure, reopening within 7 days, withdrawing while pending — each offered only when the
//! state machine allows it). Residents land here after signing in.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use linli_core::i18n;
use linli_core::Permission;
use linli_store::events::EventFilter;
use linli_store::registry::Page;
use serde::Deserialize;
use serde_json::{json, Value};

use super::detail::{act_on, context, visible, ActForm, Outcome, PageQuery, View};
use super::view::{time, Names};
use super::{base, event_id, merge, page_number, pager, render, PAGE_SIZE};
use crate::auth::PageUser;
use crate::error::AppResult;
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    page: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let user = &s.user;
    let now = linli_store::now_ms();
    let page = page_number(q.page.as_deref());
    let filter = EventFilter {
        reporter: Some(user.id),
        ..Default::default()
    };
    let (events, total) = state
        .store
        .events(
            &filter,
            Page::new(Some((page - 1) * PAGE_SIZE), Some(PAGE_SIZE)),
        )
        .await?;
    let names = Names::load(&state, lang, Names::codes_of(&events)).await?;
    let news: Vec<Value> = state
        .store
        .user_notifications(user.id, 5)
        .await?
        .into_iter()
        .map(|n| {
            let r = linli_core::events::reference(n.event_id);
            json!({
                "at": time(n.at),
                "event_id": n.event_id,
                "text": i18n::format(lang, &format!("events.notice.{}", n.kind), &[("reference", &r)]),
            })
        })
        .collect();
    let ctx = merge(
        base(lang, &s, "/m/events"),
        json!({
            "rows": events.iter().map(|e| names.row(e, now)).collect::<Vec<_>>(),
            "pager": pager("/m/events", &[], page, total),
            "news": news,
        }),
    );
    render("events_m_list.html", ctx)
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
    // Staff who may see someone else's report read it on the staff page.
    if found.0.reporter_id != Some(s.user.id) && s.user.role.allows(Permission::WorkEvents) {
        return Ok(Redirect::to(&format!("/events/{id}")).into_response());
    }
    let ctx = context(
        &state,
        lang,
        &s,
        found,
        View::Phone,
        &Outcome::default(),
        &q,
    )
    .await?;
    render("events_m_event.html", ctx)
}

pub(super) async fn act(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> AppResult<Response> {
    act_on(&state, lang, &user, &id, form, View::Phone).await
}
