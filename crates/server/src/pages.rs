//! Server-rendered pages. Each handler checks access exactly as the API does (the same
//! `require_*` functions), gathers what the page shows in a fixed number of queries, and
//! renders a template in the reader's language.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use linli_core::grid::{GridKind, Source, StaffRole};
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Permission, RegionCode, Scope};
use linli_store::{Grid, Session, SessionKind};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{
    self, grid_input, parse_code, require_manage_below, visible_region, GridFields, StaffDto,
};
use crate::auth::{self, require_manage, PageUser};
use crate::error::{AppError, AppResult};
use crate::page_kit::merge;
use crate::{AppState, ReqLang, LANG_COOKIE};

const FLASH_COOKIE: &str = "linli_flash";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/regions") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/lang/{lang}", get(switch_lang))
        .route("/regions", get(home))
        .route("/regions/{code}", get(region_page))
        .route("/regions/{code}/map", get(map_page))
        .route("/regions/{code}/grids", post(create_grid))
        .route("/regions/{code}/grids/new", get(new_grid_form))
        .route(
            "/regions/{code}/grids/import",
            get(import_form).post(import_grids),
        )
        .route("/grids/{code}", post(update_grid))
        .route("/grids/{code}/edit", get(edit_grid_form))
        .route("/grids/{code}/delete", post(delete_grid))
        .route("/search", get(search))
        .route("/docs", get(docs))
        .route("/audit", get(audit))
}

// ---------------------------------------------------------------------------------------
// Rendering

fn render(state: &AppState, template: &str, ctx: Value) -> Response {
    match state
        .templates
        .render(template, minijinja::Value::from_serialize(&ctx))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => AppError::Internal(format!("template {template}: {e:#}")).into_response(),
    }
}

/// What every signed-in page shows in its header, with the message left by the last action.
fn base(lang: Lang, session: &Session, path: &str, flash: Option<String>) -> Value {
    merge(
        crate::page_kit::header(lang, session, path),
        json!({ "flash": flash }),
    )
}

/// The signed-in account as every page's header shows it (name, role, area, and which
/// sections of the navigation it gets): one function, so that every page family agrees.
pub fn user_view(lang: Lang, u: &linli_store::User) -> Value {
    json!({
        "username": u.username,
        "display_name": u.display_name,
        "role": i18n::text(lang, u.role.label_key()),
        "scope": u.scope.to_string(),
        "is_admin": u.role.allows(Permission::ManageAccounts),
        "sees_registry": u.role.allows(Permission::ViewRegistry),
        "sees_events": u.role.allows(Permission::WorkEvents),
        // The care pages list devices and alarms of households: for those who read the
        // registry, as the care API allows.
        "sees_care": u.role.allows(Permission::ViewRegistry),
        "is_resident": u.role == linli_core::Role::Resident,
    })
}

/// Reads and clears the one-shot message left by the previous action.
fn take_flash(jar: CookieJar, lang: Lang) -> (CookieJar, Option<String>) {
    let Some(c) = jar.get(FLASH_COOKIE) else {
        return (jar, None);
    };
    let value: Option<(String, String)> = serde_json::from_str(c.value()).ok();
    let jar = jar.remove(Cookie::build(FLASH_COOKIE).path("/"));
    let text = value
        .filter(|(k, _)| k.starts_with("grid.") && i18n::has(k))
        .map(|(k, name)| i18n::format(lang, &k, &[("name", &name), ("count", &name)]));
    (jar, text)
}

fn set_flash(jar: CookieJar, key: &str, value: &str) -> CookieJar {
    let v = serde_json::to_string(&(key, value)).unwrap_or_default();
    jar.add(
        Cookie::build((FLASH_COOKIE, v))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .build(),
    )
}

/// The error page, rendered by the error middleware.
pub fn error_page(state: &AppState, lang: Lang, err: &AppError) -> Response {
    let ctx = json!({
        "lang": lang.code(),
        "html_lang": lang.html(),
        "other_lang": if lang == Lang::Zh { "en" } else { "zh" },
        "path": "/regions",
        "status": err.status().as_u16(),
        "title": err.title(lang),
        "message": err.message(lang),
        "no_access": matches!(err, AppError::NoAccess(_) | AppError::Forbidden),
        "sign_in": matches!(err, AppError::Unauthenticated | AppError::Csrf),
        "rows": match err {
            AppError::Rejected(rows) => rows.iter().map(|r| r.message(lang)).collect::<Vec<_>>(),
            _ => Vec::new(),
        },
    });
    match state
        .templates
        .render("error.html", minijinja::Value::from_serialize(&ctx))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("error page: {e:#}");
            err.message(lang).into_response()
        }
    }
}

/// Only local paths are followed after sign-in or a language switch.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/regions".to_string(),
    }
}

fn level_label(lang: Lang, level: Level) -> &'static str {
    i18n::text(lang, level.label_key())
}

fn level_plural(lang: Lang, level: Level) -> &'static str {
    i18n::text(lang, level.plural_key())
}

// ---------------------------------------------------------------------------------------
// Sign-in, sign-out, language

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    login_page(&state, lang, jar, q.next.as_deref(), None, "")
}

fn login_page(
    state: &AppState,
    lang: Lang,
    jar: CookieJar,
    next: Option<&str>,
    error: Option<String>,
    username: &str,
) -> Response {
    let csrf = auth::random_token();
    let jar = jar.add(
        Cookie::build((auth::LOGIN_CSRF_COOKIE, csrf.clone()))
            .path("/login")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(state.config.secure_cookies)
            .build(),
    );
    let ctx = json!({
        "lang": lang.code(), "html_lang": lang.html(), "other_lang": if lang == Lang::Zh { "en" } else { "zh" },
        "path": "/login", "csrf": csrf, "next": safe_next(next), "error": error, "username": username,
    });
    (jar, render(state, "login.html", ctx)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    // Defaulted: a form without the token is refused as a CSRF failure (403), not as a
    // malformed form.
    #[serde(rename = "_csrf", default)]
    csrf: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = jar
        .get(auth::LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if expected.is_empty() || !auth::same_secret(&expected, &form.csrf) {
        return login_page(
            &state,
            lang,
            jar,
            form.next.as_deref(),
            Some(i18n::text(lang, "error.csrf").into()),
            &form.username,
        );
    }
    match auth::check_password(
        &state,
        &form.username,
        &form.password,
        &addr.ip().to_string(),
    )
    .await
    {
        Ok(user) => match auth::start_session(&state, &user, SessionKind::Cookie).await {
            Ok((token, _)) => {
                let jar = jar
                    .remove(Cookie::build(auth::LOGIN_CSRF_COOKIE).path("/login"))
                    .add(auth::session_cookie(token, state.config.secure_cookies));
                (jar, Redirect::to(&safe_next(form.next.as_deref()))).into_response()
            }
            Err(e) => e.into_response(),
        },
        Err(e @ (AppError::Problem(..) | AppError::Throttled { .. })) => {
            let status = e.status();
            let mut res = login_page(
                &state,
                lang,
                jar,
                form.next.as_deref(),
                Some(e.message(lang)),
                &form.username,
            );
            *res.status_mut() = status;
            res
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    // Defaulted: a form without the token is refused as a CSRF failure (403), not as a
    // malformed form.
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    user: PageUser,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    if let Some(c) = jar.get(auth::SESSION_COOKIE) {
        state
            .store
            .delete_session(&auth::token_hash(c.value()))
            .await?;
    }
    let jar = jar.remove(Cookie::build(auth::SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}

async fn switch_lang(
    State(state): State<AppState>,
    Path(lang): Path<String>,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = Lang::parse(&lang).unwrap_or_default();
    let jar = jar.add(
        Cookie::build((LANG_COOKIE, lang.code()))
            .path("/")
            .same_site(SameSite::Lax)
            .secure(state.config.secure_cookies)
            .max_age(time::Duration::days(365))
            .build(),
    );
    (jar, Redirect::to(&safe_next(q.next.as_deref()))).into_response()
}

// ---------------------------------------------------------------------------------------
// Regions

async fn home(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    jar: CookieJar,
    PageUser(s): PageUser,
) -> AppResult<Response> {
    // Residents land on their own reports (the phone pages in events_pages).
    if s.user.role == linli_core::Role::Resident {
        return Ok(Redirect::to("/m/events").into_response());
    }
    if !s.user.role.allows(Permission::ViewRegions) {
        return Err(AppError::Forbidden);
    }
    if let Some(root) = s.user.scope.root() {
        return Ok(Redirect::to(&format!("/regions/{root}")).into_response());
    }
    let provinces = state.store.children(None).await?;
    let summary = state.store.summary(None).await?;
    let (jar, flash) = take_flash(jar, lang);
    let children: Vec<Value> = provinces
        .iter()
        .map(|r| json!({"code": r.region.code.to_string(), "name": r.region.name, "display_name": r.region.name, "child_count": r.child_count, "generated": false}))
        .collect();
    let ctx = merge(
        base(lang, &s, "/regions", flash),
        json!({
            "region": {"name": i18n::text(lang, "level.nation"), "code": Scope::NATION, "level_label": i18n::text(lang, "level.nation"), "is_nation": true},
            "breadcrumbs": [],
            "children": children,
            "child_label": level_plural(lang, Level::Province),
            "summary": summary.iter().map(|(l, n)| json!({"level": l.as_str(), "label": level_plural(lang, *l), "count": n})).collect::<Vec<_>>(),
        }),
    );
    Ok((jar, render(&state, "region.html", ctx)).into_response())
}

fn grid_json(lang: Lang, g: &Grid, can_manage: bool) -> Value {
    json!({
        "code": g.code.to_string(),
        "name": g.name,
        "display_name": g.name,
        "child_count": g.child_count,
        "kind": g.kind.map(|k| i18n::text(lang, k.label_key())),
        "staff": g.staff.iter().map(|s| json!({"role": i18n::text(lang, s.role.label_key()), "name": s.name})).collect::<Vec<_>>(),
        "has_boundary": g.boundary.is_some(),
        "generated": g.source == Source::Generated,
        "source": i18n::text(lang, &format!("source.{}", g.source.as_str())),
        "can_manage": can_manage,
    })
}

async fn region_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    jar: CookieJar,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let (code, region) = visible_region(&state, &s.user, &code).await?;
    let ancestors = api::ancestors(&state, code).await?;
    let parent_name = ancestors.last().map(|a| a.name.clone());
    let summary = state.store.summary(Some(code)).await?;
    let user = &s.user;
    // A community lists its grids, a grid its micro-grids, with kind and staff; above that,
    // the plain children with their counts.
    let (children, grid_children): (Vec<Value>, bool) = if code.level() >= Level::Community {
        let grids = state.store.grids_under(code).await?;
        (
            grids
                .iter()
                .map(|g| grid_json(lang, g, auth::can_manage(user, g.code)))
                .collect(),
            true,
        )
    } else {
        let rows = state.store.children(Some(code)).await?;
        (
            rows.iter()
                .map(|r| json!({"code": r.region.code.to_string(), "name": r.region.name, "display_name": r.region.display_name(Some(&region.name)), "child_count": r.child_count, "generated": r.region.source == Source::Generated}))
                .collect(),
            false,
        )
    };
    let this_grid = if code.level() >= Level::Grid {
        state.store.grid(code).await?
    } else {
        None
    };
    let mut crumbs: Vec<Value> = Vec::new();
    if user.scope == Scope::Nation {
        crumbs.push(
            json!({"code": "", "name": i18n::text(lang, "level.nation"), "href": "/regions"}),
        );
    }
    let mut parent: Option<&str> = None;
    for a in &ancestors {
        let href = user
            .scope
            .contains(a.code)
            .then(|| format!("/regions/{}", a.code));
        crumbs.push(
            json!({"code": a.code.to_string(), "name": a.display_name(parent), "href": href}),
        );
        parent = Some(&a.name);
    }
    let child_level = code.level().child();
    let can_add =
        child_level.is_some_and(|l| l >= Level::Grid) && require_manage_below(user, code).is_ok();
    let any_generated = children.iter().any(|c| c["generated"] == json!(true))
        || region.source == Source::Generated;
    let registry_cards = crate::registry_pages::region_cards(&state, lang, user, code).await?;
    let care_block = crate::care_pages::region_block(&state, lang, user, code).await?;
    let (jar, flash) = take_flash(jar, lang);
    let ctx = merge(
        base(lang, &s, &format!("/regions/{code}"), flash),
        json!({
            "region": {
                "code": code.to_string(),
                "name": region.name,
                "display_name": region.display_name(parent_name.as_deref()),
                "level": code.level().as_str(),
                "level_label": level_label(lang, code.level()),
                "source": i18n::text(lang, &format!("source.{}", region.source.as_str())),
                "is_nation": false,
            },
            "grid": this_grid.as_ref().map(|g| grid_json(lang, g, auth::can_manage(user, code))),
            "breadcrumbs": crumbs,
            "children": children,
            "grid_children": grid_children,
            "child_label": child_level.map(|l| level_plural(lang, l)),
            "child_level": child_level.map(|l| l.as_str()),
            "summary": summary.iter().map(|(l, n)| json!({"level": l.as_str(), "label": level_plural(lang, *l), "count": n})).collect::<Vec<_>>(),
            "can_add": can_add,
            "any_generated": any_generated,
            "registry_cards": registry_cards,
            "care_block": care_block,
            // The health check covers districts, streets and communities (a grid's is its
            // community's portrait).
            "healthcheck_link": (user.role.allows(Permission::ViewRegistry) && code.level() >= Level::District)
                .then(|| format!("/regions/{code}/healthcheck")),
        }),
    );
    Ok((jar, render(&state, "region.html", ctx)).into_response())
}

async fn map_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let (code, region) = visible_region(&state, &s.user, &code).await?;
    let ctx = merge(
        base(lang, &s, &format!("/regions/{code}/map"), None),
        json!({"region": {"code": code.to_string(), "name": region.name}}),
    );
    Ok(render(&state, "map.html", ctx))
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    headers: HeaderMap,
    PageUser(s): PageUser,
    Query(q): Query<SearchForm>,
) -> AppResult<Response> {
    if !s.user.role.allows(Permission::ViewRegions) {
        return Err(AppError::Forbidden);
    }
    let items = if q.q.trim().is_empty() {
        Vec::new()
    } else {
        api::search_items(&state, &s.user, &q.q, 100).await?
    };
    let results: Vec<Value> = items
        .iter()
        .map(|i| json!({"code": i.region.code, "name": i.region.display_name, "level": level_label(lang, Level::from_digits(i.region.code.len()).unwrap_or(Level::Province)), "path": i.path}))
        .collect();
    // htmx asks for the results alone as the user types.
    let partial = headers.contains_key("hx-request");
    let ctx = merge(
        base(lang, &s, "/search", None),
        json!({"q": q.q.trim(), "results": results, "partial": partial}),
    );
    Ok(render(
        &state,
        if partial {
            "search_results.html"
        } else {
            "search.html"
        },
        ctx,
    ))
}

// ---------------------------------------------------------------------------------------
// Grids

#[derive(Deserialize)]
struct GridForm {
    // Defaulted: a form without the token is refused as a CSRF failure (403), not as a
    // malformed form.
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    staff: String,
    #[serde(default)]
    boundary: String,
}

impl GridForm {
    /// The form's fields as the API takes them, with staff lines "role,name" and the
    /// boundary as GeoJSON text.
    fn fields(&self) -> AppResult<GridFields> {
        let mut staff = Vec::new();
        for (i, line) in self
            .staff
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let parts: Vec<&str> = line
                .splitn(2, [',', '，', ':', '：'])
                .map(str::trim)
                .collect();
            match parts.as_slice() {
                [role, name] if !name.is_empty() => staff.push(StaffDto {
                    role: role.to_string(),
                    name: name.to_string(),
                }),
                _ => {
                    return Err(AppError::bad_request(
                        linli_core::Problem::new("bad_staff", "error.bad_staff")
                            .arg("line", i + 1)
                            .arg("detail", line)
                            .field("staff"),
                    ))
                }
            }
        }
        let boundary = if self.boundary.trim().is_empty() {
            None
        } else {
            Some(serde_json::from_str::<Value>(&self.boundary).map_err(|e| {
                AppError::bad_request(
                    linli_core::Problem::new("bad_geojson", "error.bad_geojson")
                        .arg("detail", e)
                        .field("boundary"),
                )
            })?)
        };
        Ok(GridFields {
            name: self.name.clone(),
            kind: Some(self.kind.clone()),
            staff,
            boundary,
        })
    }
}

fn grid_form_ctx(lang: Lang, form: &GridForm) -> Value {
    json!({
        "kinds": GridKind::ALL.iter().map(|k| json!({"value": k.as_str(), "label": i18n::text(lang, k.label_key()), "selected": form.kind == k.as_str()})).collect::<Vec<_>>(),
        "staff_roles": StaffRole::ALL.iter().map(|r| i18n::text(lang, r.label_key())).collect::<Vec<_>>(),
        "form": {"number": form.number, "name": form.name, "staff": form.staff, "boundary": form.boundary},
    })
}

fn empty_form() -> GridForm {
    GridForm {
        csrf: String::new(),
        number: String::new(),
        name: String::new(),
        kind: String::new(),
        staff: String::new(),
        boundary: String::new(),
    }
}

async fn new_grid_form(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let parent = parse_code(&code, "code")?;
    require_manage_below(&s.user, parent)?;
    show_new_form(&state, lang, &s, parent, &empty_form(), None).await
}

async fn show_new_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    parent: RegionCode,
    form: &GridForm,
    error: Option<(String, Option<&str>)>,
) -> AppResult<Response> {
    let region = state
        .store
        .region(parent)
        .await?
        .ok_or_else(|| AppError::NotFound(parent.to_string()))?;
    let Some(level) = parent.level().child().filter(|l| *l >= Level::Grid) else {
        return Err(AppError::bad_request(
            linli_core::Problem::new("bad_level", "error.bad_level").arg("code", parent),
        ));
    };
    let ctx = merge(
        merge(
            base(lang, s, &format!("/regions/{parent}/grids/new"), None),
            grid_form_ctx(lang, form),
        ),
        json!({
            "parent": {"code": parent.to_string(), "name": region.name},
            "title": i18n::text(lang, if level == Level::Grid { "grid.new" } else { "grid.new_micro" }),
            "action": format!("/regions/{parent}/grids"),
            "is_new": true,
            "is_micro": level == Level::MicroGrid,
            "error": error.as_ref().map(|e| e.0.clone()),
            "error_field": error.and_then(|e| e.1),
        }),
    );
    Ok(render(state, "grid_form.html", ctx))
}

fn form_error(lang: Lang, e: &AppError) -> Option<(String, Option<&'static str>)> {
    match e {
        AppError::Problem(..) => Some((e.message(lang), e.field())),
        _ => None,
    }
}

async fn create_grid(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    user: PageUser,
    Path(code): Path<String>,
    Form(form): Form<GridForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    let parent = parse_code(&code, "code")?;
    require_manage_below(&s.user, parent)?;
    let result = async {
        let number = match form.number.trim() {
            "" => None,
            n => Some(n.parse::<u32>().map_err(|_| {
                AppError::bad_request(
                    linli_core::Problem::new("bad_number", "error.bad_number")
                        .arg("number", n)
                        .field("number"),
                )
            })?),
        };
        let input = grid_input(lang, form.fields()?)?;
        Ok::<_, AppError>(
            state
                .store
                .create_grid(
                    &api::actor(&s.user, Some(addr)),
                    parent,
                    number,
                    input,
                    Source::Manual,
                )
                .await?,
        )
    }
    .await;
    match result {
        Ok(grid) => {
            let jar = set_flash(jar, "grid.created", &grid.name);
            Ok((jar, Redirect::to(&format!("/regions/{parent}"))).into_response())
        }
        Err(e) => match form_error(lang, &e) {
            Some(err) => {
                let mut res = show_new_form(&state, lang, s, parent, &form, Some(err)).await?;
                *res.status_mut() = e.status();
                Ok(res)
            }
            None => Err(e),
        },
    }
}

fn staff_text(lang: Lang, g: &Grid) -> String {
    g.staff
        .iter()
        .map(|m| format!("{},{}", i18n::text(lang, m.role.label_key()), m.name))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn edit_grid_form(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let code = parse_code(&code, "code")?;
    require_manage(&s.user, code)?;
    let grid = state
        .store
        .grid(code)
        .await?
        .ok_or_else(|| AppError::NotFound(code.to_string()))?;
    let form = GridForm {
        csrf: String::new(),
        number: code.number().to_string(),
        name: grid.name.clone(),
        kind: grid
            .kind
            .map(|k| k.as_str().to_string())
            .unwrap_or_default(),
        staff: staff_text(lang, &grid),
        boundary: grid
            .boundary
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_default(),
    };
    show_edit_form(&state, lang, &s, code, &form, None)
}

fn show_edit_form(
    state: &AppState,
    lang: Lang,
    s: &Session,
    code: RegionCode,
    form: &GridForm,
    error: Option<(String, Option<&str>)>,
) -> AppResult<Response> {
    let ctx = merge(
        merge(
            base(lang, s, &format!("/grids/{code}/edit"), None),
            grid_form_ctx(lang, form),
        ),
        json!({
            "parent": {"code": code.parent().map(|p| p.to_string())},
            "code": code.to_string(),
            "title": format!("{} · {}", i18n::text(lang, "grid.edit"), form.name),
            "action": format!("/grids/{code}"),
            "is_new": false,
            "is_micro": code.level() == Level::MicroGrid,
            "error": error.as_ref().map(|e| e.0.clone()),
            "error_field": error.and_then(|e| e.1),
        }),
    );
    Ok(render(state, "grid_form.html", ctx))
}

async fn update_grid(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    user: PageUser,
    Path(code): Path<String>,
    Form(form): Form<GridForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    let code = parse_code(&code, "code")?;
    require_manage(&s.user, code)?;
    let result = async {
        let input = grid_input(lang, form.fields()?)?;
        state
            .store
            .update_grid(&api::actor(&s.user, Some(addr)), code, input)
            .await
            .map_err(|e| api::named(e, code))
    }
    .await;
    match result {
        Ok(grid) => {
            let jar = set_flash(jar, "grid.updated", &grid.name);
            let back = code
                .parent()
                .map(|p| format!("/regions/{p}"))
                .unwrap_or_else(|| "/regions".into());
            Ok((jar, Redirect::to(&back)).into_response())
        }
        Err(e) => match form_error(lang, &e) {
            Some(err) => {
                let mut res = show_edit_form(&state, lang, s, code, &form, Some(err))?;
                *res.status_mut() = e.status();
                Ok(res)
            }
            None => Err(e),
        },
    }
}

async fn delete_grid(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    user: PageUser,
    Path(code): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    let code = parse_code(&code, "code")?;
    require_manage(&s.user, code)?;
    let grid = state
        .store
        .grid(code)
        .await?
        .ok_or_else(|| AppError::NotFound(code.to_string()))?;
    state
        .store
        .delete_grid(&api::actor(&s.user, Some(addr)), code)
        .await?;
    let jar = set_flash(jar, "grid.deleted", &grid.name);
    let back = code
        .parent()
        .map(|p| format!("/regions/{p}"))
        .unwrap_or_else(|| "/regions".into());
    Ok((jar, Redirect::to(&back)).into_response())
}

async fn import_form(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let parent = parse_code(&code, "code")?;
    require_manage_below(&s.user, parent)?;
    show_import(&state, lang, &s, parent, Vec::new(), None).await
}

async fn show_import(
    state: &AppState,
    lang: Lang,
    s: &Session,
    parent: RegionCode,
    errors: Vec<String>,
    done: Option<String>,
) -> AppResult<Response> {
    let region = state
        .store
        .region(parent)
        .await?
        .ok_or_else(|| AppError::NotFound(parent.to_string()))?;
    let ctx = merge(
        base(lang, s, &format!("/regions/{parent}/grids/import"), None),
        json!({"parent": {"code": parent.to_string(), "name": region.name}, "errors": errors, "done": done}),
    );
    Ok(render(state, "grid_import.html", ctx))
}

async fn import_grids(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: PageUser,
    Path(code): Path<String>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let s = &user.0;
    let parent = parse_code(&code, "code")?;
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        AppError::bad_request(
            linli_core::Problem::new("bad_upload", "error.bad_request").arg("detail", e),
        )
    })? {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or("upload.csv").to_string();
                let bytes = field.bytes().await.map_err(|e| {
                    AppError::bad_request(
                        linli_core::Problem::new("bad_upload", "error.bad_request")
                            .arg("detail", e),
                    )
                })?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    user.check_csrf(&csrf)?;
    require_manage_below(&s.user, parent)?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        let msg = i18n::format(
            lang,
            "error.bad_request",
            &[("detail", i18n::text(lang, "grid.import_file"))],
        );
        return show_import(&state, lang, s, parent, vec![msg], None).await;
    };
    match api::import_file(
        &state,
        &api::actor(&s.user, Some(addr)),
        &s.user,
        &name,
        &bytes,
    )
    .await
    {
        Ok(r) => {
            let done = i18n::format(
                lang,
                "grid.imported",
                &[("count", &(r.grids + r.micro_grids).to_string())],
            );
            show_import(&state, lang, s, parent, Vec::new(), Some(done)).await
        }
        Err(AppError::Rejected(rows)) => {
            let mut res = show_import(
                &state,
                lang,
                s,
                parent,
                rows.iter().map(|r| r.message(lang)).collect(),
                None,
            )
            .await?;
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
        Err(e @ AppError::Problem(..)) => {
            let mut res = show_import(&state, lang, s, parent, vec![e.message(lang)], None).await?;
            *res.status_mut() = e.status();
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// Docs and audit

async fn docs(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
) -> Response {
    let doc: Value = serde_json::from_str(&state.openapi).unwrap_or(Value::Null);
    let mut ops: Vec<Value> = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for (method, op) in item {
                    ops.push(json!({
                        "method": method.to_uppercase(),
                        "path": path,
                        "tag": op["tags"][0],
                        "summary": op["summary"],
                        "description": op["description"],
                        "params": op["parameters"].as_array().cloned().unwrap_or_default().iter()
                            .map(|p| json!({"name": p["name"], "in": p["in"], "required": p["required"], "description": p["description"]})).collect::<Vec<_>>(),
                        "responses": op["responses"].as_object().map(|r| r.iter().map(|(code, v)| json!({"status": code, "description": v["description"]})).collect::<Vec<_>>()).unwrap_or_default(),
                        "body": op["requestBody"]["content"].as_object().and_then(|c| c.values().next()).map(|c| c["schema"]["$ref"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_string()),
                    }));
                }
            }
        }
    }
    ops.sort_by(|a, b| {
        a["tag"]
            .to_string()
            .cmp(&b["tag"].to_string())
            .then(a["path"].to_string().cmp(&b["path"].to_string()))
    });
    let schemas = doc["components"]["schemas"].as_object().map(|m| {
        m.iter()
            .map(|(name, s)| {
                json!({"name": name, "fields": s["properties"].as_object().map(|p| p.iter().map(|(f, v)| json!({"name": f, "type": v["type"], "description": v["description"]})).collect::<Vec<_>>()).unwrap_or_default()})
            })
            .collect::<Vec<_>>()
    });
    let ctx = merge(
        base(lang, &s, "/docs", None),
        json!({"ops": ops, "schemas": schemas, "version": doc["info"]["version"]}),
    );
    render(&state, "docs.html", ctx)
}

#[derive(Deserialize)]
struct AuditPageQuery {
    before: Option<i64>,
}

async fn audit(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<AuditPageQuery>,
) -> AppResult<Response> {
    if !s.user.role.allows(Permission::ManageAccounts) {
        return Err(AppError::Forbidden);
    }
    let limit = 100;
    let rows = state.store.audit_log(s.user.scope, q.before, limit).await?;
    let next = if rows.len() as i64 == limit {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let ctx = merge(
        base(lang, &s, "/audit", None),
        json!({"rows": rows, "next_before": next}),
    );
    Ok(render(&state, "audit.html", ctx))
}
