//! How an event reads on a page: the names behind its codes (categories, departments,
//! regions — read once per request, whatever the number of rows), its deadline as a badge,
//! its timeline, and the times in China's clock.

use std::collections::HashMap;
use std::sync::Arc;

use linli_core::events::deadline::{Deadline, Stage};
use linli_core::events::flow::Action;
use linli_core::events::{reference, HandlingLevel, Unit};
use linli_core::i18n::{self, Lang};
use linli_core::RegionCode;
use linli_store::events::{Catalog, Event, FlowEntry, Photo};
use serde_json::{json, Value};

use crate::error::AppResult;
use crate::AppState;

/// `ms` as "YYYY-MM-DD HH:MM" in China's time (UTC+8): linli serves Chinese cities.
pub(super) fn time(ms: i64) -> String {
    linli_core::china_time::format(ms, "%Y-%m-%d %H:%M")
}

/// A span as "2 天 3 小时", "4 小时 5 分钟" or "12 分钟".
pub(super) fn duration(lang: Lang, ms: i64) -> String {
    let minutes = (ms.max(0) + 59_999) / 60_000;
    let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let n = |v: i64| v.to_string();
    if d > 0 {
        i18n::format(lang, "ep.dur.days", &[("d", &n(d)), ("h", &n(h))])
    } else if h > 0 {
        i18n::format(lang, "ep.dur.hours", &[("h", &n(h)), ("m", &n(m))])
    } else {
        i18n::format(lang, "ep.dur.minutes", &[("m", &n(m))])
    }
}

/// The first `n` characters of a text on one line.
pub(super) fn excerpt(s: &str, n: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= n {
        flat
    } else {
        let mut out: String = flat.chars().take(n).collect();
        out.push('…');
        out
    }
}

/// The names a page needs, read once per request.
pub(super) struct Names {
    pub(super) lang: Lang,
    /// The categories and departments, from the store's copy in memory.
    pub(super) catalog: Arc<Catalog>,
    regions: HashMap<RegionCode, String>,
}

impl Names {
    /// The catalog, and the names of `codes` (one query however many).
    pub(super) async fn load(
        state: &AppState,
        lang: Lang,
        codes: impl IntoIterator<Item = RegionCode>,
    ) -> AppResult<Names> {
        let mut codes: Vec<RegionCode> = codes.into_iter().collect();
        codes.sort_by_key(|c| (c.level(), c.key()));
        codes.dedup();
        let regions = if codes.is_empty() {
            HashMap::new()
        } else {
            state
                .store
                .regions(&codes)
                .await?
                .into_iter()
                .map(|r| (r.code, r.name))
                .collect()
        };
        Ok(Names {
            lang,
            catalog: state.store.catalog().await?,
            regions,
        })
    }

    /// The region codes an event's row names: where it is and who handles it.
    pub(super) fn codes_of(events: &[Event]) -> Vec<RegionCode> {
        let mut out = Vec::new();
        for e in events {
            out.push(e.region);
            if let Unit::Region(u) = e.unit {
                out.push(u);
            }
        }
        out
    }

    pub(super) fn category(&self, code: &str) -> String {
        self.catalog
            .category(code)
            .map_or_else(|| code.to_string(), |c| c.name(self.lang).to_string())
    }

    /// "Parent · child" for a subcategory.
    pub(super) fn category_path(&self, code: &str) -> String {
        let own = self.category(code);
        match self
            .catalog
            .category(code)
            .and_then(|c| c.parent.as_deref())
        {
            Some(p) => format!("{} · {own}", self.category(p)),
            None => own,
        }
    }

    pub(super) fn department(&self, id: i64) -> (String, String) {
        self.catalog.department(id).map_or_else(
            || (id.to_string(), id.to_string()),
            |d| (d.code.clone(), d.name(self.lang).to_string()),
        )
    }

    pub(super) fn region(&self, code: RegionCode) -> String {
        self.regions
            .get(&code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }

    /// A handling unit: its name, and the level it works at.
    pub(super) fn unit(&self, unit: Unit) -> Value {
        let level = unit.handling_level();
        let name = match unit {
            Unit::Region(c) => self.region(c),
            Unit::Department(d) => self.department(d).1,
        };
        let label = i18n::text(self.lang, level.label_key());
        json!({
            "level": level.as_str(),
            "level_label": label,
            // A street works events through its 矛调中心: say so after its name.
            "name": if level == HandlingLevel::Street { format!("{name} · {label}") } else { name },
        })
    }

    /// One row of a list.
    pub(super) fn row(&self, e: &Event, now: i64) -> Value {
        json!({
            "id": e.id,
            "reference": e.reference(),
            "category": self.category(&e.category),
            "excerpt": excerpt(&e.description, 40),
            "unit": self.unit(e.unit),
            "region": self.region(e.region),
            "state": e.state.as_str(),
            "state_name": i18n::text(self.lang, e.state.label_key()),
            "created": time(e.created_at),
            "due": due(self.lang, e, now),
            "rating": e.rating,
        })
    }

    /// The facts of one event, for its page.
    pub(super) fn facts(&self, e: &Event, now: i64) -> Value {
        merge_rows(
            self.row(e, now),
            json!({
                "category_path": self.category_path(&e.category),
                "description": e.description,
                "source": i18n::text(self.lang, &e.source.label_key()),
                "region_code": e.region.to_string(),
                "address": e.address,
                "building_id": e.building_id,
                "lon": e.lon.map(|v| format!("{v:.6}")),
                "lat": e.lat.map(|v| format!("{v:.6}")),
                "contact_name": e.contact_name,
                "contact_phone": e.contact_phone_masked,
                "escalations": e.escalations,
                "reopened": e.reopened,
                "extension_minutes": e.extension_minutes,
                "closed": e.closed_at.map(time),
                "closed_on_time": e.closed_on_time,
                "rating_comment": e.rating_comment,
                "merged_into": e.merged_into.map(|m| json!({"id": m, "reference": reference(m)})),
                "open": e.state.is_open(),
            }),
        )
    }

    /// The flow log as a timeline, oldest first, each step with its photos.
    pub(super) fn timeline(
        &self,
        event_id: i64,
        flow: &[FlowEntry],
        photos: &[Photo],
    ) -> Vec<Value> {
        let lang = self.lang;
        flow.iter()
            .map(|f| {
                let detail: Option<Value> = f
                    .detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok());
                let state_name = |s: &str| {
                    linli_core::events::State::parse(s)
                        .map(|st| i18n::text(lang, st.label_key()).to_string())
                };
                json!({
                    "at": time(f.at),
                    "actor": f.actor_name,
                    "action": f.action,
                    "action_name": i18n::text(lang, &Action::label_key(&f.action)),
                    "from_state": f.from_state.as_deref().and_then(state_name),
                    "to_state": state_name(&f.to_state),
                    "changed": f.from_state.as_deref() != Some(f.to_state.as_str()),
                    "note": f.note,
                    "detail": detail.as_ref().and_then(|d| self.detail_text(&f.action, d)),
                    "link": detail.as_ref().and_then(|d| detail_link(&f.action, d)),
                    "photos": photo_list(event_id, photos.iter().filter(|p| p.flow_id == Some(f.id))),
                })
            })
            .collect()
    }

    /// What a step's detail says, in words.
    fn detail_text(&self, action: &str, d: &Value) -> Option<String> {
        let lang = self.lang;
        let unit_of = |u: &Value| -> Option<String> {
            if let Some(dep) = u["department_id"].as_i64() {
                return Some(self.department(dep).1);
            }
            let code = RegionCode::parse(u["region"].as_str()?).ok()?;
            self.unit(Unit::Region(code))["name"]
                .as_str()
                .map(str::to_string)
        };
        match action {
            "report" => {
                unit_of(&d["unit"]).map(|u| i18n::format(lang, "ep.flow.routed", &[("unit", &u)]))
            }
            "escalate" | "auto_escalate" | "unacknowledged" => {
                let to = unit_of(&d["to"])?;
                Some(i18n::format(lang, "ep.flow.moved", &[("unit", &to)]))
            }
            "rate" => d["stars"]
                .as_i64()
                .map(|s| i18n::format(lang, "ep.flow.stars", &[("stars", &s.to_string())])),
            "request_extension" => d["minutes"].as_i64().map(|m| {
                i18n::format(
                    lang,
                    "ep.flow.extension",
                    &[("time", &duration(lang, m * 60_000))],
                )
            }),
            "approve_extension" => d["due_at"]
                .as_i64()
                .map(|due| i18n::format(lang, "ep.flow.new_due", &[("due", &time(due))])),
            "whistle" => {
                let names: Vec<String> = d["departments"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_i64)
                    .map(|id| self.department(id).1)
                    .collect();
                Some(i18n::format(
                    lang,
                    "ep.flow.summoned",
                    &[("departments", &names.join("、"))],
                ))
            }
            "summons_overdue" => d["department"].as_i64().map(|id| self.department(id).1),
            _ => None,
        }
    }

    /// Region codes a timeline's details name, to be loaded with the page's names.
    pub(super) fn codes_in_flow(flow: &[FlowEntry]) -> Vec<RegionCode> {
        let mut out = Vec::new();
        for f in flow {
            let Some(d) = f
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            else {
                continue;
            };
            for u in [&d["unit"], &d["to"], &d["from"]] {
                if let Some(c) = u["region"].as_str().and_then(|s| RegionCode::parse(s).ok()) {
                    out.push(c);
                }
            }
        }
        out
    }
}

fn merge_rows(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A merge names the report it went into, and the report merged in names where it came from.
fn detail_link(action: &str, d: &Value) -> Option<Value> {
    let id = match action {
        "merge" => d["into"].as_i64()?,
        "merged_in" => d["from"].as_i64()?,
        _ => return None,
    };
    Some(json!({"id": id, "reference": reference(id)}))
}

/// Photos as thumbnails linking to the full image (the API takes the page's cookie).
pub(super) fn photo_list<'a>(event_id: i64, photos: impl Iterator<Item = &'a Photo>) -> Vec<Value> {
    photos
        .map(|p| {
            json!({
                "id": p.id,
                "url": format!("/api/v1/events/{event_id}/photos/{}", p.id),
                "width": p.width,
                "height": p.height,
            })
        })
        .collect()
}

/// The deadline as a list and a page show it: the due time, and a badge — yellow once 75 %
/// of the allowed time has gone, red once overdue — while the deadline runs.
pub(super) fn due(lang: Lang, e: &Event, now: i64) -> Value {
    let runs = e.state.deadline_runs();
    let d = Deadline {
        start: e.deadline_start,
        due: e.due_at,
        grace_ms: e.grace_ms,
    };
    let status = if !runs {
        "stopped"
    } else if now > e.due_at {
        "red"
    } else if now >= d.at(Stage::Yellow) {
        "yellow"
    } else {
        "ok"
    };
    let left = match status {
        "red" => i18n::format(
            lang,
            "ep.due.over",
            &[("time", &duration(lang, now - e.due_at))],
        ),
        "yellow" | "ok" => i18n::format(
            lang,
            "ep.due.left",
            &[("time", &duration(lang, e.due_at - now))],
        ),
        _ => String::new(),
    };
    json!({
        "at": time(e.due_at),
        "status": status,
        "badge": match status {
            "red" => i18n::text(lang, "ep.due.red"),
            "yellow" => i18n::text(lang, "ep.due.yellow"),
            _ => "",
        },
        "left": left,
    })
}
