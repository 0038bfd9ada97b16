//! The devices page at `/care/devices`: the area's devices with their counts, the form that
//! registers one (its credential shown on the answer, once), a reset of a device's
//! credential, what devices sent that was refused, and linli's connection to the broker.
//! Registering and resetting run the API's own checks (`care_api::register_device`,
//! `reset_device`); a refusal re-renders the page with the reason beside the form.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use linli_core::care::DeviceKind;
use linli_core::care_rules::Rules;
use linli_core::i18n::{self, Lang};
use linli_core::{Permission, Role};
use linli_store::registry::Page;
use linli_store::Session;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check, render, PAGE_SIZE};
use crate::auth::PageUser;
use crate::care_api::{refusal_dto, register_device, reset_device, DeviceBody, RegisteredDto};
use crate::care_broker_api::broker_status;
use crate::error::{AppError, AppResult};
use crate::page_kit::{blank, header, merge, page_number, pager, with_status};
use crate::{AppState, ReqLang};

/// Refusals the page lists (the latest first); the API pages through the rest.
const REFUSALS_SHOWN: i64 = 50;

#[derive(Deserialize, Default)]
pub(super) struct DevicesQuery {
    page: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct RegisterForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    household_id: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ResetForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

fn time(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

/// What the page shows besides the list: a new credential, or a form's refusal.
#[derive(Default)]
struct Outcome<'a> {
    credential: Option<RegisteredDto>,
    error: Option<String>,
    form: Option<&'a RegisterForm>,
}

async fn context(
    state: &AppState,
    lang: Lang,
    s: &Session,
    page: i64,
    outcome: Outcome<'_>,
) -> AppResult<Value> {
    let user = &s.user;
    let range = user.scope.range();
    let listing = state
        .store
        .care_devices(
            range,
            Page::new(Some((page - 1) * PAGE_SIZE), Some(PAGE_SIZE)),
        )
        .await?;
    let ids: Vec<i64> = listing.items.iter().map(|d| d.household_id).collect();
    let places = state.store.household_places(&ids).await?;
    let now = linli_store::now_ms();
    // A device silent for longer than the rules' default is shown offline; households with
    // rules of their own are judged by the timer, which raises the offline alarm.
    let stale_ms = i64::from(Rules::default().offline_min) * 60_000;
    let can_manage = user.role.allows(Permission::ManageRegistry);
    let devices: Vec<Value> = listing
        .items
        .iter()
        .map(|d| {
            let place = places.get(&d.household_id).map(|p| {
                [p.building.as_str(), p.unit.as_str(), p.room.as_str()]
                    .into_iter()
                    .filter(|s| !s.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            let kind_name = DeviceKind::parse(&d.kind)
                .map(|k| i18n::text(lang, k.name_key()).to_string())
                .unwrap_or_else(|_| d.kind.clone());
            json!({
                "device_id": d.device_id,
                "kind": d.kind,
                "kind_name": kind_name,
                "household_id": d.household_id,
                "place": place,
                "last_seen": d.last_seen_at.map(time),
                "offline": d.last_seen_at.is_some_and(|t| now - t > stale_ms),
                "battery": d.battery.map(|b| format!("{b:.0}%")),
                "low_battery": d.battery.is_some_and(|b| b < 20.0),
                "readings": d.readings,
                "duplicates": d.duplicates,
                "refused": d.refused,
                "reset_confirm": i18n::format(lang, "cp.device.reset_confirm", &[("id", &d.device_id)]),
            })
        })
        .collect();
    // The area's refusals; an administrator also sees what unregistered ids sent.
    let mut refusals = state
        .store
        .care_refusals(Some(range), Page::new(None, Some(REFUSALS_SHOWN)))
        .await?;
    if user.role == Role::Admin {
        let unknown = state
            .store
            .care_refusals(None, Page::new(None, Some(REFUSALS_SHOWN)))
            .await?;
        refusals.total += unknown.total;
        refusals.items.extend(unknown.items);
    }
    let refusals: Vec<Value> = refusals
        .items
        .iter()
        .map(|r| {
            let dto = refusal_dto(r, lang);
            json!({
                "device_id": dto.device_id,
                "reason": dto.reason,
                "message": dto.last_message,
                "count": dto.count,
                "last": time(r.last_at),
                "payload": dto.last_payload,
            })
        })
        .collect();
    let broker = broker_status(state);
    let kinds: Vec<Value> = DeviceKind::ALL
        .iter()
        .map(|k| json!({"value": k.code(), "label": i18n::text(lang, k.name_key())}))
        .collect();
    let credential = outcome.credential.map(|c| {
        json!({
            "device_id": c.device.device_id,
            "credential": c.credential,
            "topic": c.mqtt.topic,
            "http_url": c.http_url,
            "account": c.mqtt.account,
            "account_name": i18n::text(lang, &format!("cp.mqtt.{}", c.mqtt.account)),
            "problem": c.mqtt.problem,
        })
    });
    let form = outcome
        .form
        .map(|f| json!({"device_id": f.device_id, "kind": f.kind, "household_id": f.household_id}));
    Ok(merge(
        header(lang, s, "/care/devices"),
        json!({
            "devices": devices,
            "total": listing.total,
            "pager": pager("/care/devices", &[], page, listing.total, PAGE_SIZE),
            "can_manage": can_manage,
            "kinds": kinds,
            "credential": credential,
            "error": outcome.error,
            "form": form,
            "refusals": refusals,
            "broker": broker,
        }),
    ))
}

pub(super) async fn page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<DevicesQuery>,
) -> AppResult<Response> {
    if let Some(away) = check(&s)? {
        return Ok(away);
    }
    let page = page_number(q.page.as_deref());
    let ctx = context(&state, lang, &s, page, Outcome::default()).await?;
    render("care_devices.html", ctx)
}

/// The page again with `result`: the credential shown once, or the refusal beside the form
/// (with what was typed, and the refusal's status).
async fn answer(
    state: &AppState,
    lang: Lang,
    s: &Session,
    result: AppResult<RegisteredDto>,
    form: Option<&RegisterForm>,
) -> AppResult<Response> {
    match result {
        Ok(made) => {
            let outcome = Outcome {
                credential: Some(made),
                ..Outcome::default()
            };
            render(
                "care_devices.html",
                context(state, lang, s, 1, outcome).await?,
            )
        }
        Err(e @ (AppError::Problem(..) | AppError::NotFound(_))) => {
            let status = e.status();
            let outcome = Outcome {
                error: Some(e.message(lang)),
                form,
                ..Outcome::default()
            };
            let page = render(
                "care_devices.html",
                context(state, lang, s, 1, outcome).await?,
            )?;
            Ok(with_status(status, page))
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn register(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Form(form): Form<RegisterForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    let result = match blank(Some(form.household_id.as_str())).map(str::parse::<i64>) {
        Some(Ok(household_id)) => {
            let body = DeviceBody {
                device_id: form.device_id.trim().to_string(),
                kind: form.kind.trim().to_string(),
                household_id,
            };
            register_device(&state, lang, &s.user, addr, &body).await
        }
        _ => Err(AppError::bad_request(
            linli_core::Problem::new("care_bad_household", "cp.register.bad_household")
                .field("household_id"),
        )),
    };
    answer(&state, lang, s, result, Some(&form)).await
}

pub(super) async fn reset(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(device_id): Path<String>,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    if let Some(away) = check(s)? {
        return Ok(away);
    }
    let result = reset_device(&state, lang, &s.user, addr, &device_id).await;
    answer(&state, lang, s, result, None).await
}
