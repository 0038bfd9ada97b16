//! The facility typology page: the types by category with their walking circles and OSM
//! tags, and the form that edits one type.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Form, Query};
use linli_core::i18n::{self, Lang};
use linli_core::registry::facility::{Category, FacilityType};
use linli_core::{Permission, Problem};
use linli_store::Session;
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{bad, errors_json, form_problem};
use super::lists::DoneQuery;
use super::{base, done_text, merge, not_found, render, require, with_status};
use crate::api::actor;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

#[derive(Deserialize, Default)]
pub(super) struct TypeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    circle_minutes: String,
    #[serde(default)]
    radius_m: String,
    #[serde(default)]
    osm: String,
}

const TYPE_FIELDS: &[&str] = &["name_zh", "name_en", "circle_minutes", "radius_m", "osm"];

async fn types_view(
    state: &AppState,
    lang: Lang,
    s: &Session,
    edited: Option<(&str, &TypeForm, &[Problem])>,
    done: Option<&str>,
) -> AppResult<Response> {
    require(&s.user, Permission::ViewRegistry)?;
    let types = state.store.facility_types().await?;
    let groups: Vec<Value> = Category::ALL
        .iter()
        .map(|c| {
            let items: Vec<Value> = types
                .iter()
                .filter(|t| t.category == *c)
                .map(|t| {
                    let osm: Vec<String> = t.osm.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let mut form = json!({
                        "name_zh": t.name_zh, "name_en": t.name_en,
                        "circle_minutes": t.circle_minutes.to_string(), "radius_m": t.radius_m.to_string(),
                        "osm": osm.join("\n"),
                    });
                    let mut errors = json!({});
                    let mut open = false;
                    if let Some((code, f, problems)) = edited {
                        if code == t.code {
                            form = json!({"name_zh": f.name_zh, "name_en": f.name_en, "circle_minutes": f.circle_minutes, "radius_m": f.radius_m, "osm": f.osm});
                            errors = errors_json(lang, problems, TYPE_FIELDS);
                            open = !problems.is_empty();
                        }
                    }
                    json!({
                        "code": t.code,
                        "name": t.name(lang),
                        "name_zh": t.name_zh,
                        "name_en": t.name_en,
                        "circle": t.circle_minutes,
                        "radius": t.radius_m,
                        "osm": osm,
                        "form": form,
                        "errors": errors,
                        "open": open,
                    })
                })
                .collect();
            json!({"code": c.as_str(), "label": i18n::text(lang, c.label_key()), "types": items})
        })
        .collect();
    let ctx = merge(
        base(lang, s, "/registry/facility-types"),
        json!({
            "groups": groups,
            "count": types.len(),
            "can_edit": s.user.role.allows(Permission::ManageTypology),
            "circles": [5, 10, 15],
            "done": done_text(lang, done),
        }),
    );
    render("registry_types.html", ctx)
}

pub(super) async fn types_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    types_view(&state, lang, &s, None, q.done.as_deref()).await
}

fn parse_osm(text: &str) -> AppResult<Vec<(String, String)>> {
    let mut osm = Vec::new();
    for tag in text
        .split(['\n', ';', '；'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let Some((k, v)) = tag
            .split_once('=')
            .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
        else {
            return Err(bad("registry.bad_osm_tag", "osm", tag));
        };
        osm.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(osm)
}

pub(super) async fn update_type(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(code): Path<String>,
    Form(form): Form<TypeForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require(&s.user, Permission::ManageTypology)?;
    let types = state.store.facility_types().await?;
    let Some(current) = types.iter().find(|t| t.code == code) else {
        return Err(not_found());
    };
    let result = async {
        let circle_minutes = form.circle_minutes.trim().parse::<u8>().map_err(|_| {
            bad(
                "registry.bad_circle",
                "circle_minutes",
                &form.circle_minutes,
            )
        })?;
        let radius_m = form
            .radius_m
            .trim()
            .parse::<u32>()
            .map_err(|_| bad("rp.bad_integer", "radius_m", &form.radius_m))?;
        let t = FacilityType {
            code: current.code.clone(),
            category: current.category,
            name_zh: form.name_zh.trim().to_string(),
            name_en: form.name_en.trim().to_string(),
            circle_minutes,
            radius_m,
            osm: parse_osm(&form.osm)?,
        };
        Ok::<_, AppError>(
            state
                .store
                .update_facility_type(&actor(&s.user, Some(addr)), t)
                .await?,
        )
    }
    .await;
    match result {
        Ok(t) => Ok(Redirect::to(&format!(
            "/registry/facility-types?done=saved#type-{}",
            t.code
        ))
        .into_response()),
        Err(e) => {
            let (status, p) = form_problem(e)?;
            let problems = [p];
            let res = types_view(
                &state,
                lang,
                s,
                Some((code.as_str(), &form, &problems[..])),
                None,
            )
            .await?;
            Ok(with_status(status, res))
        }
    }
}
