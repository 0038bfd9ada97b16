//! A household's own alarm rules: read, set, or put back to the defaults. The rules live in
//! `care_households` beside the rule engine's state, so a change takes effect for the next
//! reading and the next tick, and the household's next due moment is worked out again with
//! the new rules in the same transaction.

use linli_core::care_rules::{Household, Rules};
use linli_core::Problem;
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::{now_ms, on_read, on_write, BeginWrite, Result, Store, StoreError};

/// A household's alarm rules and whether they are its own.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdRules {
    pub household_id: i64,
    pub rules: Rules,
    /// False: the defaults.
    pub custom: bool,
}

fn household_not_found(id: i64) -> StoreError {
    StoreError::Invalid(
        Problem::new("care_household_not_found", "care.household_not_found")
            .arg("value", id)
            .field("household_id"),
    )
}

fn rules_of(household_id: i64, stored: Option<String>) -> HouseholdRules {
    match stored.map(|r| serde_json::from_str::<Rules>(&r)) {
        Some(Ok(rules)) => HouseholdRules {
            household_id,
            rules,
            custom: true,
        },
        // Unreadable rules are applied as the defaults (see `Watched::from_row`): say so.
        _ => HouseholdRules {
            household_id,
            rules: Rules::default(),
            custom: false,
        },
    }
}

impl Store {
    /// The alarm rules of household `id`: its own or the defaults. `None` when there is no
    /// such household.
    pub async fn care_household_rules(&self, id: i64) -> Result<Option<HouseholdRules>> {
        let row: Option<(i64, Option<String>)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT h.id, c.rules FROM households h LEFT JOIN care_households c ON c.household_id = h.id \
                 WHERE h.id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(id, rules)| rules_of(id, rules)))
    }

    /// Gives household `id` its own rules (`Some`, checked first) or the defaults (`None`).
    /// Audited with the rules before and after.
    pub async fn set_care_household_rules(
        &self,
        actor: &Actor,
        id: i64,
        rules: Option<&Rules>,
    ) -> Result<HouseholdRules> {
        if let Some(r) = rules {
            r.check().map_err(StoreError::Invalid)?;
        }
        let text = rules
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("alarm rules: {e}")))?;
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin_with(<DB as BeginWrite>::BEGIN).await?;
            let place: Option<(i64, i64)> =
                sqlx::query_as("SELECT community_key, region_key FROM households WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((community_key, region_key)) = place else {
                return Err(household_not_found(id));
            };
            let current: Option<(Option<String>, String)> = sqlx::query_as(&format!(
                "SELECT rules, state FROM care_households WHERE household_id = $1{}",
                <DB as BeginWrite>::LOCK_ROWS
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let (before, state) = match current {
                Some((rules, state)) => (rules, serde_json::from_str::<Household>(&state).unwrap_or_default()),
                None => (None, Household::default()),
            };
            let effective = rules.cloned().unwrap_or_default();
            let due = state.next_due(&effective, now);
            let state_text = serde_json::to_string(&state)
                .map_err(|e| StoreError::Corrupt(format!("care household state: {e}")))?;
            sqlx::query(
                "INSERT INTO care_households (household_id, community_key, region_key, rules, state, due_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (household_id) DO UPDATE SET \
                 rules = excluded.rules, due_at = excluded.due_at, updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(community_key)
            .bind(region_key)
            .bind(&text)
            .bind(state_text)
            .bind(due)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let parse = |t: &Option<String>| {
                t.as_deref()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            };
            let entry = Entry {
                target: Some(format!("household:{id}")),
                region_key: Some(region_key),
                before: Some(json!({"rules": parse(&before)})),
                after: Some(json!({"rules": parse(&text)})),
                ..Entry::new("care.household_rules.set")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        Ok(rules_of(id, text))
    }
}
