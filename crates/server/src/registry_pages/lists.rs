//! What the lists and selects share: the query strings a list reads (and writes back into
//! its links), paging, how a record's source and place read, and the places, communities and
//! region names the selects and headings offer.

use linli_core::grid::Source;
use linli_core::i18n::{self, Lang};
use linli_core::{Level, RegionCode};
use linli_store::registry::Page;
use linli_store::User;
use serde::Deserialize;
use serde_json::{json, Value};

use super::PAGE_SIZE;
use crate::error::AppResult;
pub(super) use crate::page_kit::{page_number, query_string};
use crate::AppState;

/// A list of buildings, facilities or hubs: the place, the text searched, the facility type
/// and the page (also the link to a new facility of a type).
#[derive(Deserialize, Default)]
pub(super) struct PlainListQuery {
    pub(super) region: Option<String>,
    pub(super) q: Option<String>,
    #[serde(rename = "type")]
    pub(super) type_code: Option<String>,
    pub(super) page: Option<String>,
    pub(super) done: Option<String>,
}

/// A page about one place (the registry home, the link to a new building or hub).
#[derive(Deserialize, Default)]
pub(super) struct RegionQuery {
    pub(super) region: Option<String>,
}

/// A record's page after an action (`?done=saved`).
#[derive(Deserialize, Default)]
pub(super) struct DoneQuery {
    pub(super) done: Option<String>,
}

pub(super) fn page_of(page: i64) -> Page {
    Page {
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    }
}

/// Previous and next links of a list.
pub(super) fn pager(path: &str, pairs: &[(&str, String)], page: i64, total: i64) -> Value {
    crate::page_kit::pager(path, pairs, page, total, PAGE_SIZE)
}

pub(super) fn source_json(lang: Lang, source: Source) -> Value {
    json!({
        "generated": source == Source::Generated,
        "label": i18n::text(lang, &format!("source.{}", source.as_str())),
    })
}

pub(super) fn place_label(building: &str, unit: &str, room: &str) -> String {
    let mut out = building.to_string();
    for part in [unit, room] {
        if !part.trim().is_empty() {
            out.push(' ');
            out.push_str(part.trim());
        }
    }
    out
}

/// The places a select offers: the account's own region and the regions directly below it
/// (grids below a community). Empty for a nation-wide account, which types a code instead.
pub(super) async fn place_options(
    state: &AppState,
    user: &User,
    writable: bool,
) -> AppResult<Vec<Value>> {
    let Some(root) = user.scope.root() else {
        return Ok(Vec::new());
    };
    let mut places: Vec<(RegionCode, String)> = Vec::new();
    let name = state
        .store
        .region(root)
        .await?
        .map(|r| r.name)
        .unwrap_or_default();
    places.push((root, name));
    if root.level() >= Level::Community {
        for g in state.store.grids_under(root).await? {
            places.push((g.code, g.name));
        }
    } else {
        for r in state.store.children(Some(root)).await? {
            places.push((r.region.code, r.region.name));
        }
    }
    Ok(places
        .into_iter()
        .filter(|(c, _)| !writable || c.level() >= Level::Community)
        .map(|(c, n)| json!({"value": c.to_string(), "label": format!("{n}（{c}）")}))
        .collect())
}

/// The communities of the account's area, for the import's select.
pub(super) async fn community_options(state: &AppState, user: &User) -> AppResult<Vec<Value>> {
    let Some(root) = user.scope.root() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(RegionCode, String)> = Vec::new();
    match root.level() {
        Level::Community => {
            if let Some(r) = state.store.region(root).await? {
                out.push((root, r.name));
            }
        }
        Level::Street => {
            for r in state.store.children(Some(root)).await? {
                out.push((r.region.code, r.region.name));
            }
        }
        Level::District => {
            // Two range reads, whatever the number of streets.
            let range = root.range();
            let streets = state.store.regions_at(Level::Street, range).await?;
            for r in state.store.regions_at(Level::Community, range).await? {
                let street = streets
                    .iter()
                    .find(|s| Some(s.code) == r.code.parent())
                    .map(|s| s.name.as_str())
                    .unwrap_or_default();
                out.push((r.code, format!("{street} · {}", r.name)));
            }
        }
        _ => {}
    }
    Ok(out
        .into_iter()
        .map(|(c, n)| json!({"value": c.to_string(), "label": format!("{n}（{c}）")}))
        .collect())
}

pub(super) fn with_current(mut options: Vec<Value>, current: &str) -> Vec<Value> {
    let current = current.trim();
    if !current.is_empty() && !options.iter().any(|o| o["value"] == json!(current)) {
        options.push(json!({"value": current, "label": current}));
    }
    options
}

pub(super) async fn region_name(
    state: &AppState,
    lang: Lang,
    code: Option<RegionCode>,
) -> AppResult<String> {
    Ok(match code {
        None => i18n::text(lang, "level.nation").to_string(),
        Some(c) => state
            .store
            .region(c)
            .await?
            .map(|r| r.name)
            .unwrap_or_else(|| c.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_leave_out_empty_values() {
        assert_eq!(query_string(&[("region", String::new())]), "");
        assert_eq!(
            query_string(&[
                ("region", "330102001051".into()),
                ("tag", "age80".into()),
                ("q", "张 三".into())
            ]),
            "?region=330102001051&tag=age80&q=%E5%BC%A0+%E4%B8%89"
        );
        let p = pager("/x", &[("q", "a".into())], 2, 120);
        assert_eq!(p["prev"], json!("/x?q=a"));
        assert_eq!(p["next"], json!("/x?q=a&page=3"));
        assert_eq!(p["pages"], json!(3));
    }
}
