//! The staff list at `/events`, in three tabs: 待办 (the reader's unit's open events: a
//! grid's, community's or street's inbox, a clerk's department's), 辖区全部 (everything in
//! the area, or one region of it, by state and category), and 超期 (overdue now, most overdue
//! first). Each is one paged store read plus its count; names come from one read of the
//! catalog and one of the regions the page shows.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Query;
use linli_core::events::{State as EventState, Unit};
use linli_core::i18n::{self, Lang};
use linli_core::{Level, RegionCode, Role};
use linli_store::events::EventFilter;
use linli_store::registry::Page;
use linli_store::User;
use serde::Deserialize;
use serde_json::{json, Value};

use super::view::{time, Names};
use super::{base, blank, merge, page_number, pager, query_string, render, require_staff};
use crate::api::parse_code;
use crate::auth::{require_view, PageUser};
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    tab: Option<String>,
    region: Option<String>,
    state: Option<String>,
    category: Option<String>,
    page: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Inbox,
    Area,
    Overdue,
}

impl Tab {
    fn parse(s: Option<&str>) -> Tab {
        match blank(s) {
            Some("area") => Tab::Area,
            Some("overdue") => Tab::Overdue,
            _ => Tab::Inbox,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Tab::Inbox => "inbox",
            Tab::Area => "area",
            Tab::Overdue => "overdue",
        }
    }
}

/// The unit whose inbox the reader works: a clerk's department, else the region the
/// account is scoped to (none for a nation-wide account).
pub(super) fn own_unit(user: &User) -> AppResult<Option<Unit>> {
    if user.role == Role::DepartmentClerk {
        return user
            .department
            .map(|d| Some(Unit::Department(d)))
            .ok_or(AppError::Forbidden);
    }
    Ok(user.scope.root().map(Unit::Region))
}

/// The states a filter names: `open` (the default), `all`, or one state.
fn states_of(s: Option<&str>) -> (String, Vec<EventState>) {
    match blank(s) {
        Some("all") => ("all".into(), Vec::new()),
        Some(x) => match EventState::parse(x) {
            Some(st) => (st.as_str().into(), vec![st]),
            None => open_states(),
        },
        None => open_states(),
    }
}

fn open_states() -> (String, Vec<EventState>) {
    (
        "open".into(),
        EventState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .collect(),
    )
}

/// The account's own region and those directly below it, for the area's select.
async fn places(state: &AppState, lang: Lang, user: &User) -> AppResult<Vec<Value>> {
    let Some(root) = user.scope.root() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(RegionCode, String)> = Vec::new();
    if let Some(r) = state.store.region(root).await? {
        out.push((root, r.name));
    }
    if root.level() < Level::MicroGrid {
        for r in state.store.children(Some(root)).await? {
            out.push((r.region.code, r.region.name));
        }
    }
    Ok(out
        .into_iter()
        .map(|(c, n)| {
            json!({"value": c.to_string(), "label": format!("{n} · {}", i18n::text(lang, c.level().label_key()))})
        })
        .collect())
}

/// Categories for a select, grouped under their parents.
pub(super) fn category_groups(names: &Names) -> Vec<Value> {
    let active: Vec<_> = names
        .catalog
        .categories
        .iter()
        .filter(|c| c.active)
        .collect();
    active
        .iter()
        .filter(|c| c.parent.is_none())
        .map(|p| {
            let mut options = vec![json!({"value": p.code, "label": p.name(names.lang)})];
            options.extend(
                active
                    .iter()
                    .filter(|c| c.parent.as_deref() == Some(p.code.as_str()))
                    .map(|c| json!({"value": c.code, "label": c.name(names.lang)})),
            );
            json!({"label": p.name(names.lang), "options": options})
        })
        .collect()
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let user = &s.user;
    if user.role == Role::Resident {
        return Ok(Redirect::to("/m/events").into_response());
    }
    require_staff(user)?;
    let tab = Tab::parse(q.tab.as_deref());
    let unit = own_unit(user)?;
    let clerk = user.role == Role::DepartmentClerk;
    let now = linli_store::now_ms();

    // The place an area list covers, checked against the account's area first.
    let place = match blank(q.region.as_deref()) {
        Some(code) if tab == Tab::Area && !clerk => {
            let code = parse_code(code, "region")?;
            require_view(user, code)?;
            Some(code)
        }
        _ => None,
    };
    let range = place.map_or(user.scope.range(), |c| c.range());
    let (state_value, states) = states_of(q.state.as_deref());
    let category = blank(q.category.as_deref()).map(str::to_string);
    let mut filter = EventFilter {
        range: Some(range),
        ..Default::default()
    };
    match tab {
        Tab::Inbox => {
            filter.unit = unit;
            filter.states = open_states().1;
        }
        Tab::Area => {
            if clerk {
                filter.unit = unit;
            }
            filter.states = states;
            filter.categories = category.clone().into_iter().collect();
        }
        Tab::Overdue => {
            if clerk {
                filter.unit = unit;
            }
            filter.overdue_at = Some(now);
        }
    }
    let page = page_number(q.page.as_deref());
    // A nation-wide account has no inbox of its own: nothing to read.
    let (events, total) = if tab == Tab::Inbox && unit.is_none() {
        (Vec::new(), 0)
    } else {
        state
            .store
            .events(
                &filter,
                Page::new(Some((page - 1) * super::PAGE_SIZE), Some(super::PAGE_SIZE)),
            )
            .await?
    };
    // The area's open and overdue counts for the tabs: one pass over the open states.
    let (open, overdue) = if clerk {
        (None, None)
    } else {
        let (o, d) = state.store.event_counts(user.scope.range(), now).await?;
        (Some(o), Some(d))
    };

    let mut codes = Names::codes_of(&events);
    if let Some(Unit::Region(u)) = unit {
        codes.push(u);
    }
    let names = Names::load(&state, lang, codes).await?;
    let rows: Vec<Value> = events.iter().map(|e| names.row(e, now)).collect();

    // The unit's latest reminders and new work (for a clerk, the summons among them).
    let notices: Vec<Value> = match unit {
        Some(u) => state
            .store
            .unit_notifications(u, 8)
            .await?
            .into_iter()
            .map(|n| {
                let r = linli_core::events::reference(n.event_id);
                json!({
                    "at": time(n.at),
                    "event_id": n.event_id,
                    "kind": n.kind,
                    "text": i18n::format(lang, &format!("events.notice.{}", n.kind), &[("reference", &r)]),
                })
            })
            .collect(),
        None => Vec::new(),
    };

    let mut pairs: Vec<(&str, String)> = vec![("tab", tab.as_str().into())];
    if tab == Tab::Area {
        pairs.push(("region", place.map(|c| c.to_string()).unwrap_or_default()));
        pairs.push(("state", state_value.clone()));
        pairs.push(("category", category.clone().unwrap_or_default()));
    }
    let state_options: Vec<Value> =
        std::iter::once(json!({"value": "open", "label": i18n::text(lang, "ep.filter.open")}))
            .chain(std::iter::once(
                json!({"value": "all", "label": i18n::text(lang, "ep.filter.all_states")}),
            ))
            .chain(
                EventState::ALL.into_iter().map(
                    |st| json!({"value": st.as_str(), "label": i18n::text(lang, st.label_key())}),
                ),
            )
            .collect();
    let ctx = merge(
        base(lang, &s, &format!("/events{}", query_string(&pairs))),
        json!({
            "tab": tab.as_str(),
            "unit": unit.map(|u| names.unit(u)),
            "clerk": clerk,
            "rows": rows,
            "pager": pager("/events", &pairs, page, total),
            "counts": {"open": open, "overdue": overdue},
            "filter": {
                "region": place.map(|c| c.to_string()).unwrap_or_default(),
                "state": state_value,
                "category": category.unwrap_or_default(),
            },
            "places": if clerk { Vec::new() } else { places(&state, lang, user).await? },
            "state_options": state_options,
            "category_groups": category_groups(&names),
            "notices": notices,
            "can_report": user.role != Role::DepartmentClerk,
            "has_dashboard": true,
        }),
    );
    render("events_list.html", ctx)
}
