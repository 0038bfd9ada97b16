//! The leaders' figures page, `/events/dashboard?region=&from=&to=&department=`: cards for
//! reports received, 按期办结率, 解决率, 满意率, mean and 90th-percentile hours and events
//! overdue now; a bar chart by category (received, closed, overdue) and one of the on-time
//! and satisfaction rates by category; the most overdue events; and the regions below the
//! current one to drill into, within the reader's area.
//!
//! The page is rendered with the figures of the moment (the same store read and arithmetic
//! as `GET /api/v1/regions/{code}/events/kpis`, in the API's shape), and its script then
//! fetches that API every 30 seconds (`refresh=` seconds for tests) and updates the cards,
//! charts and list in place, with the time of the last refresh.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Query;
use linli_core::events::kpi;
use linli_core::i18n::{self, Lang};
use linli_core::{Level, RegionCode, Role};
use linli_store::events::KpiRow;
use serde::Deserialize;
use serde_json::{json, Value};

use super::view::{duration, excerpt, Names};
use super::{base, blank, merge, query_string, render, require_staff};
use crate::api::parse_code;
use crate::auth::{require_view, PageUser};
use crate::error::{AppError, AppResult};
use crate::events_api::{self, rfc3339};
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct DashboardQuery {
    region: Option<String>,
    from: Option<String>,
    to: Option<String>,
    department: Option<String>,
    /// Seconds between refreshes (default 30).
    refresh: Option<String>,
}

const DEFAULT_REFRESH_S: u64 = 30;

/// One row of figures in the API's shape.
fn figures(r: &KpiRow) -> Value {
    serde_json::to_value(events_api::figures(r)).unwrap_or_default()
}

/// The cards: figure key, label key, and how the value reads.
const CARDS: [(&str, &str, &str); 7] = [
    ("received", "ep.kpi.received", "count"),
    ("on_time_rate", "ep.kpi.on_time_rate", "rate"),
    ("resolution_rate", "ep.kpi.resolution_rate", "rate"),
    ("satisfaction_rate", "ep.kpi.satisfaction_rate", "rate"),
    ("mean_hours", "ep.kpi.mean_hours", "hours"),
    ("p90_hours", "ep.kpi.p90_hours", "hours"),
    ("overdue_now", "ep.kpi.overdue_now", "count"),
];

/// A card's value as text; the script formats refreshed values the same way.
fn card_value(lang: Lang, v: &Value, kind: &str) -> String {
    match (kind, v.as_f64()) {
        (_, None) => "—".into(),
        ("rate", Some(x)) => format!("{x:.1}%"),
        ("hours", Some(x)) => {
            i18n::format(lang, "ep.kpi.hours_value", &[("h", &format!("{x:.1}"))])
        }
        (_, Some(x)) => format!("{x:.0}"),
    }
}

/// The time of day in China, to the second: when the figures were last read.
fn clock(ms: i64) -> String {
    linli_core::china_time::format(ms, "%H:%M:%S")
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<DashboardQuery>,
) -> AppResult<Response> {
    let user = &s.user;
    if user.role == Role::Resident {
        return Ok(Redirect::to("/m/events").into_response());
    }
    require_staff(user)?;
    // The place: the one asked for (checked against the area first), else the account's own.
    let code: RegionCode = match blank(q.region.as_deref()) {
        Some(c) => {
            let c = parse_code(c, "region")?;
            require_view(user, c)?;
            c
        }
        None => match user.scope.root() {
            Some(root) => root,
            // A nation-wide account picks a province first.
            None => {
                let first = state.store.children(None).await?;
                let Some(p) = first.first() else {
                    return Err(AppError::NotFound(String::new()));
                };
                return Ok(
                    Redirect::to(&format!("/events/dashboard?region={}", p.region.code))
                        .into_response(),
                );
            }
        },
    };
    let region = state
        .store
        .region(code)
        .await?
        .ok_or_else(|| AppError::NotFound(code.to_string()))?;

    let now = linli_store::now_ms();
    let (from, to) = events_api::kpi_period(q.from.as_deref(), q.to.as_deref(), now)?;
    let names = Names::load(&state, lang, []).await?;
    // A clerk reads their own department's figures, as the API allows.
    let department_code = match (user.role, blank(q.department.as_deref())) {
        (Role::DepartmentClerk, asked) => {
            let own = user
                .department
                .map(|d| names.department(d).0)
                .ok_or(AppError::Forbidden)?;
            if asked.is_some_and(|a| a != own) {
                return Err(AppError::Forbidden);
            }
            Some(own)
        }
        (_, asked) => asked.map(str::to_string),
    };
    let department = department_code
        .as_deref()
        .map(|c| events_api::department_by_code(&names.catalog.departments, c))
        .transpose()?;
    let events_api::KpiReading { rows, total, worst } =
        events_api::read_kpis(&state.store, code, department, (from, to), now).await?;
    let names = Names::load(&state, lang, Names::codes_of(&worst)).await?;
    let totals = figures(&total);
    let kpis = json!({
        "region": code.to_string(),
        "department": department_code,
        "from": kpi::date_of(from).to_string(),
        "to": kpi::date_of(to).to_string(),
        "totals": totals,
        "by_category": rows.iter().map(|r| {
            let mut f = figures(r);
            f["category"] = json!(r.category);
            f["category_name"] = json!(names.category(&r.category));
            f
        }).collect::<Vec<_>>(),
    });
    let worst_rows: Vec<Value> = worst
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "reference": e.reference(),
                "category": names.category(&e.category),
                "excerpt": excerpt(&e.description, 30),
                "unit": names.unit(e.unit)["name"],
                "due_at": rfc3339(e.due_at),
                "over": duration(lang, now - e.due_at),
            })
        })
        .collect();
    let cards: Vec<Value> = CARDS
        .iter()
        .map(|(key, label, kind)| {
            json!({"key": key, "label": label, "kind": kind, "value": card_value(lang, &totals[*key], kind)})
        })
        .collect();

    // The place picker: the way up to the account's own region, and the regions below.
    let keep = |region: String| {
        query_string(&[
            ("region", region),
            ("from", kpi::date_of(from).to_string()),
            ("to", kpi::date_of(to).to_string()),
            ("department", department_code.clone().unwrap_or_default()),
            ("refresh", q.refresh.clone().unwrap_or_default()),
        ])
    };
    let mut path: Vec<RegionCode> = code
        .ancestors()
        .into_iter()
        .filter(|a| user.scope.contains(*a))
        .collect();
    path.push(code);
    let path_names = state.store.regions(&path).await?;
    let crumbs: Vec<Value> = path_names
        .iter()
        .map(|r| json!({"name": r.name, "href": format!("/events/dashboard{}", keep(r.code.to_string())), "current": r.code == code}))
        .collect();
    let children: Vec<Value> = if code.level() < Level::MicroGrid {
        state
            .store
            .children(Some(code))
            .await?
            .iter()
            .map(|r| json!({"name": r.region.name, "code": r.region.code.to_string(), "href": format!("/events/dashboard{}", keep(r.region.code.to_string()))}))
            .collect()
    } else {
        Vec::new()
    };
    let refresh = blank(q.refresh.as_deref())
        .and_then(|r| r.parse::<u64>().ok())
        .unwrap_or(DEFAULT_REFRESH_S)
        .clamp(1, 3600);
    let api = format!(
        "/api/v1/regions/{code}/events/kpis{}",
        query_string(&[
            ("from", kpi::date_of(from).to_string()),
            ("to", kpi::date_of(to).to_string()),
            ("department", department_code.clone().unwrap_or_default()),
        ])
    );
    let texts = json!({
        "received": i18n::text(lang, "ep.chart.received"),
        "closed": i18n::text(lang, "ep.chart.closed"),
        "overdue": i18n::text(lang, "ep.chart.overdue"),
        "on_time_rate": i18n::text(lang, "ep.kpi.on_time_rate"),
        "satisfaction_rate": i18n::text(lang, "ep.kpi.satisfaction_rate"),
        "hours": i18n::text(lang, "ep.kpi.hours_value"),
        "days": i18n::text(lang, "ep.dur.days"),
        "hours_span": i18n::text(lang, "ep.dur.hours"),
        "minutes": i18n::text(lang, "ep.dur.minutes"),
        "empty": i18n::text(lang, "ep.chart.empty"),
        "failed": i18n::text(lang, "ep.dash.refresh_failed"),
    });
    let ctx = merge(
        base(
            lang,
            &s,
            &format!("/events/dashboard{}", keep(code.to_string())),
        ),
        json!({
            "region": {"code": code.to_string(), "name": region.name, "level": i18n::text(lang, code.level().label_key())},
            "period": {"from": kpi::date_of(from).to_string(), "to": kpi::date_of(to).to_string()},
            "department": department_code,
            "departments": names.catalog.departments.iter().map(|d| json!({"value": d.code, "label": d.name(lang)})).collect::<Vec<_>>(),
            "clerk": user.role == Role::DepartmentClerk,
            "cards": cards,
            "worst": worst_rows,
            "kpis": kpis.to_string(),
            "texts": texts.to_string(),
            "api": api,
            "refresh": refresh,
            "refresh_value": q.refresh.clone().unwrap_or_default(),
            "crumbs": crumbs,
            "children": children,
            "child_level": code.level().child().map(|l| i18n::text(lang, l.plural_key())),
            "loaded_at": clock(now),
        }),
    );
    render("events_dashboard.html", ctx)
}
