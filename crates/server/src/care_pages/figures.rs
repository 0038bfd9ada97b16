//! The care block of the region page: people under care and visits kept, devices online,
//! the alarms of the last 30 days by kind and by outcome, and how fast they were
//! acknowledged, from the same figures the region summary API gives
//! (`care_visits_api::figures`).

use linli_core::care_rules::AlarmKind;
use linli_core::i18n::{self, Lang};
use linli_core::{Permission, RegionCode};
use linli_store::User;
use serde_json::json;

use super::env;
use crate::care_visits_api::figures;
use crate::error::AppResult;
use crate::page_kit::{query_string, render_string};
use crate::AppState;

fn minutes(lang: Lang, m: Option<f64>) -> String {
    m.map(|m| i18n::format(lang, "cp.fig.minutes", &[("n", &format!("{m:.0}"))]))
        .unwrap_or_else(|| "—".to_string())
}

/// The block rendered; `None` when the account may not read the registry there.
pub async fn region_block(
    state: &AppState,
    lang: Lang,
    user: &User,
    code: RegionCode,
) -> AppResult<Option<String>> {
    if !user.role.allows(Permission::ViewRegistry) || !user.scope.contains(code) {
        return Ok(None);
    }
    let f = figures(state, code).await?;
    let empty = f.enrolled == 0 && f.visits == 0 && f.devices == 0 && f.alarms_by_kind.is_empty();
    let on_time = (f.visits > 0)
        .then(|| format!("{:.0}%", f.visits_on_time as f64 * 100.0 / f.visits as f64));
    let kinds: Vec<_> = f
        .alarms_by_kind
        .iter()
        .map(|(k, n)| {
            let name = AlarmKind::parse(k)
                .map(|k| i18n::text(lang, k.text_key()).to_string())
                .unwrap_or_else(|| k.clone());
            json!({"code": k, "name": name, "count": n})
        })
        .collect();
    let outcomes: Vec<_> = f
        .alarms_by_outcome
        .iter()
        .map(|(o, n)| {
            let key = format!("care.outcome.{o}");
            let name = if i18n::has(&key) {
                i18n::text(lang, &key).to_string()
            } else {
                o.clone()
            };
            json!({"code": o, "name": name, "count": n})
        })
        .collect();
    let ctx = json!({
        "lang": lang.code(),
        "empty": empty,
        "days": f.period_days,
        "enrolled": f.enrolled,
        "overdue": f.visits_overdue,
        "visits": f.visits,
        "on_time": on_time,
        "devices": f.devices,
        "online": f.devices_online,
        "kinds": kinds,
        "outcomes": outcomes,
        "unresolved": f.alarms_unresolved,
        "escalated": f.alarms_escalated,
        "ack_p50": minutes(lang, f.acknowledge_p50_min),
        "ack_p90": minutes(lang, f.acknowledge_p90_min),
        "region_qs": query_string(&[("region", code.to_string())]),
    });
    Ok(Some(render_string(env(), "care_region.html", &ctx)?))
}
