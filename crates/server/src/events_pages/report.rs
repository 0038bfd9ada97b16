//! Reporting: the staff form at `/events/new` (a patrol or a hotline call: category,
//! description, a building, a point or a region, contact, on-spot closure for grid workers)
//! and the residents' phone form at `/m/report` (category, description, their building or a
//! tap on the district's map, photos from the camera). Both file through
//! `Store::create_event`, as the API does, and go on to the new event's page, which shows its
//! reference number and any open reports of the same problem nearby. A refused report comes
//! back with each message beside its field and everything typed kept.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use linli_core::i18n::{self, Lang};
use linli_core::{Level, Problem, RegionCode, Role};
use linli_store::events::{By, EventFilter, NewEvent, Source};
use linli_store::registry::Page;
use linli_store::{Session, User};
use serde::Deserialize;
use serde_json::{json, Value};

use super::inbox::category_groups;
use super::view::Names;
use super::{base, blank, merge, photos, render, require_staff, with_status};
use crate::api::parse_code;
use crate::auth::PageUser;
use crate::error::{AppError, AppResult};
use crate::{AppState, ReqLang};

/// The most buildings a select offers; above that the form asks for the number.
const MAX_BUILDINGS: i64 = 500;

/// The report form as posted (and shown back after a refusal). Everything is text, so a
/// bad value gets the page's own message.
#[derive(Deserialize, Default, Clone)]
pub(super) struct ReportForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    building_id: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    close_on_spot: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    photos: Vec<String>,
}

impl ReportForm {
    fn shown(&self) -> Value {
        json!({
            "category": self.category,
            "description": self.description,
            "building_id": self.building_id,
            "lon": self.lon,
            "lat": self.lat,
            "region": self.region,
            "address": self.address,
            "contact_name": self.contact_name,
            "contact_phone": self.contact_phone,
            "source": self.source,
            "close_on_spot": !self.close_on_spot.is_empty(),
            "note": self.note,
            "photos": self.photos.iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>(),
        })
    }
}

fn bad(key: &'static str, field: &'static str, value: &str) -> AppError {
    AppError::bad_request(
        Problem::new("invalid", key)
            .arg("value", value)
            .field(field),
    )
}

fn number(s: &str, field: &'static str) -> AppResult<Option<f64>> {
    match blank(Some(s)) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| bad("ep.bad_decimal", field, v)),
    }
}

/// The report the form describes, as the store takes it.
fn new_event(state: &AppState, f: &ReportForm, staff: bool) -> AppResult<NewEvent> {
    let building_id = match blank(Some(&f.building_id)) {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| bad("ep.bad_number", "building_id", v))?,
        ),
    };
    let position = match (number(&f.lon, "lon")?, number(&f.lat, "lat")?) {
        (Some(lon), Some(lat)) => Some([lon, lat]),
        (None, None) => None,
        _ => {
            return Err(AppError::bad_request(
                Problem::new("position_half", "registry.position_half").field("lat"),
            ))
        }
    };
    let region = match blank(Some(&f.region)).filter(|_| staff) {
        None => None,
        Some(r) => Some(parse_code(r, "region")?),
    };
    let source = match blank(Some(&f.source)).filter(|_| staff) {
        None => None,
        Some(x) => match Source::parse(x) {
            Some(s @ (Source::Patrol | Source::Hotline)) => Some(s),
            _ => return Err(bad("events.bad_source", "source", x)),
        },
    };
    let opt = |s: &str| blank(Some(s)).map(str::to_string);
    Ok(NewEvent {
        category: f.category.trim().to_string(),
        description: f.description.clone(),
        source,
        position,
        building_id,
        region,
        address: opt(&f.address),
        contact_name: opt(&f.contact_name).filter(|_| staff),
        contact_phone: opt(&f.contact_phone).filter(|_| staff),
        photos: photos::refs(state, &f.photos)?,
        close_on_spot: staff && !f.close_on_spot.is_empty(),
        note: opt(&f.note).filter(|_| staff),
        attributes: None,
    })
}

/// The messages of a refused report by field; those about no field of the form go above it.
fn errors(lang: Lang, p: &Problem) -> Value {
    const FIELDS: [&str; 10] = [
        "category",
        "description",
        "building_id",
        "lon",
        "lat",
        "region",
        "address",
        "contact_name",
        "contact_phone",
        "photos",
    ];
    let field = p.field.filter(|f| FIELDS.contains(f)).unwrap_or("general");
    json!({ field: p.message(lang) })
}

/// The buildings of the reader's area for the staff form's select, or `None` when there are
/// too many to list (the form then asks for the number).
async fn building_options(state: &AppState, user: &User) -> AppResult<Option<Vec<Value>>> {
    let listing = state
        .store
        .buildings(
            user.scope.range(),
            None,
            Page {
                offset: 0,
                limit: MAX_BUILDINGS + 1,
            },
        )
        .await?;
    if listing.total > MAX_BUILDINGS {
        return Ok(None);
    }
    Ok(Some(
        listing
            .items
            .iter()
            .map(|b| json!({"value": b.id.to_string(), "label": format!("{} · {}", b.name, b.address)}))
            .collect(),
    ))
}

async fn staff_page(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &ReportForm,
    errors: Value,
) -> AppResult<Response> {
    let user = &s.user;
    let names = Names::load(state, lang, []).await?;
    let ctx = merge(
        base(lang, s, "/events/new"),
        json!({
            "form": form.shown(),
            "errors": errors,
            "category_groups": category_groups(&names),
            "buildings": building_options(state, user).await?,
            "grid_worker": user.role == Role::GridWorker || user.role == Role::Admin,
            "sources": [
                {"value": "patrol", "label": i18n::text(lang, "events.source.patrol")},
                {"value": "hotline", "label": i18n::text(lang, "events.source.hotline")},
            ],
        }),
    );
    render("events_new.html", ctx)
}

fn require_reporting_staff(user: &User) -> AppResult<()> {
    require_staff(user)?;
    if user.role == Role::DepartmentClerk {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

pub(super) async fn staff_form(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
) -> AppResult<Response> {
    if s.user.role == Role::Resident {
        return Ok(Redirect::to("/m/report").into_response());
    }
    require_reporting_staff(&s.user)?;
    staff_page(&state, lang, &s, &ReportForm::default(), json!({})).await
}

pub(super) async fn staff_create(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    user: PageUser,
    Form(form): Form<ReportForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    require_reporting_staff(&s.user)?;
    match file(&state, &s.user, &form, true).await {
        Ok(id) => Ok(Redirect::to(&format!("/events/{id}?filed=1")).into_response()),
        Err(AppError::Problem(status, p)) => Ok(with_status(
            status,
            staff_page(&state, lang, s, &form, errors(lang, &p)).await?,
        )),
        Err(e) => Err(e),
    }
}

async fn file(state: &AppState, user: &User, form: &ReportForm, staff: bool) -> AppResult<i64> {
    let new = new_event(state, form, staff)?;
    let created = state.store.create_event(By::User(user), new).await?;
    Ok(created.event.id)
}

// ---------------------------------------------------------------------------------------
// The residents' phone form

/// The building of the reader's latest report that named one: "my building" when linli
/// has nothing else tying an account to a home.
async fn my_building(state: &AppState, user: &User) -> AppResult<Option<Value>> {
    let filter = EventFilter {
        reporter: Some(user.id),
        ..Default::default()
    };
    let (events, _) = state
        .store
        .events(&filter, Page::new(Some(0), Some(20)))
        .await?;
    let Some(id) = events.iter().find_map(|e| e.building_id) else {
        return Ok(None);
    };
    Ok(state
        .store
        .building(id)
        .await?
        .map(|b| json!({"id": b.id.to_string(), "label": format!("{} · {}", b.name, b.address)})))
}

async fn resident_page(
    state: &AppState,
    lang: Lang,
    s: &Session,
    form: &ReportForm,
    errors: Value,
) -> AppResult<Response> {
    let names = Names::load(state, lang, []).await?;
    let mine = my_building(state, &s.user).await?;
    let mut shown = form.shown();
    // First visit: start from "my building" when there is one.
    if form.csrf.is_empty() && form.building_id.is_empty() {
        if let Some(b) = &mine {
            shown["building_id"] = b["id"].clone();
        }
    }
    let ctx = merge(
        base(lang, s, "/m/report"),
        json!({
            "form": shown,
            "errors": errors,
            "category_groups": category_groups(&names),
            "my_building": mine,
        }),
    );
    render("events_m_report.html", ctx)
}

pub(super) async fn resident_form(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
) -> AppResult<Response> {
    resident_page(&state, lang, &s, &ReportForm::default(), json!({})).await
}

pub(super) async fn resident_create(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    user: PageUser,
    Form(form): Form<ReportForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let s = &user.0;
    match file(&state, &s.user, &form, false).await {
        Ok(id) => Ok(Redirect::to(&format!("/m/events/{id}?filed=1")).into_response()),
        Err(AppError::Problem(status, p)) => Ok(with_status(
            status,
            resident_page(&state, lang, s, &form, errors(lang, &p)).await?,
        )),
        Err(e) => Err(e),
    }
}

/// The district the reader lives or works in, for the map: the boundary and roads to tap a
/// place on. Residents may not read the regions API, so the form's map is served here; the
/// grid polygons are left out (a phone does not need them to pick a point).
pub(super) async fn map_json(
    State(state): State<AppState>,
    PageUser(s): PageUser,
) -> AppResult<Response> {
    let Some(root) = s.user.scope.root() else {
        return Err(super::not_found());
    };
    let code: RegionCode = if root.level() >= Level::District {
        linli_core::events::unit::ancestor_at(root, Level::District)
    } else {
        root
    };
    let name = state
        .store
        .region(code)
        .await?
        .map(|r| r.name)
        .unwrap_or_else(|| code.to_string());
    let data = state.store.map_data(code, &name).await?;
    let mut v: Value = serde_json::from_str(&data.json)
        .map_err(|e| AppError::Internal(format!("map of {code}: {e}")))?;
    v["grids"] = json!([]);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "private, max-age=600"),
        ],
        v.to_string(),
    )
        .into_response())
}
