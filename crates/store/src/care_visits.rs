//! Care's visits: key elderly enrolled from the registry's tags, each with a visit plan from
//! the rules of their community (`linli_core::care_visits`), the visits grid workers record,
//! and what is due and overdue.
//!
//! Rules belong to a region; a community uses its own, else the nearest region's above it
//! that has some, else the built-in defaults. The rule book is small (one row per region that
//! set rules) and is read whole, so that finding a community's rules costs no query per
//! person. An enrolment keeps its interval and when the next visit is due; changing the
//! rules re-plans the enrolments they govern in the same transaction.

use chrono::NaiveDate;
use linli_core::care_visits::{
    self, default_rules, parse_rules, plan_for, Concern, EndReason, ParsedRule, VisitMode,
    VisitRule,
};
use linli_core::region::KeyRange;
use linli_core::registry::tags::{age_on, date_from_key, date_key, derived_tags, BirthBound, Tag};
use linli_core::{Level, Problem, RegionCode};
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::events::PhotoRef;
use crate::registry::{Listing, Page};
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

const DAY_MS: i64 = 86_400_000;
/// How far ahead of linli's clock a visit's time may be (a phone's clock runs fast).
const VISIT_AHEAD_MS: i64 = 5 * 60 * 1000;

/// The rules in force for a region, and where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveRules {
    /// The region whose rules these are; `None`: the built-in defaults.
    pub scope: Option<RegionCode>,
    pub rules: Vec<VisitRule>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// Every region's own rules, parsed: a community's are those of its nearest region that has
/// some.
struct RuleBook {
    scoped: Vec<(RegionCode, Vec<ParsedRule>, EffectiveRules)>,
    defaults: Vec<ParsedRule>,
}

impl RuleBook {
    fn for_region(&self, region: RegionCode) -> (&[ParsedRule], EffectiveRules) {
        match self
            .scoped
            .iter()
            .filter(|(scope, _, _)| scope.contains(region))
            .max_by_key(|(scope, _, _)| scope.level().number())
        {
            Some((_, parsed, effective)) => (parsed, effective.clone()),
            None => (
                &self.defaults,
                EffectiveRules {
                    scope: None,
                    rules: default_rules(),
                    updated_at: None,
                    updated_by: None,
                },
            ),
        }
    }
}

/// A resident matching a visit rule and not enrolled yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub resident_id: i64,
    pub name: String,
    pub age: i64,
    pub tags: Vec<Tag>,
    pub address: String,
    pub community: RegionCode,
    pub interval_days: u32,
    /// The planning rule's tag codes.
    pub rule: String,
}

/// A person under care, with their plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    pub id: i64,
    pub resident_id: i64,
    pub household_id: i64,
    /// `None` when the resident has left the registry.
    pub name: Option<String>,
    pub age: Option<i64>,
    pub tags: Vec<Tag>,
    /// Masked, e.g. 138****5678.
    pub phone: Option<String>,
    pub address: String,
    pub community: RegionCode,
    pub region_key: i64,
    pub interval_days: u32,
    /// The planning rule's tag codes; `None` when the interval was set by hand.
    pub rule: Option<String>,
    pub enrolled_at: i64,
    pub enrolled_by: String,
    pub last_visit_at: Option<i64>,
    pub due_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

/// A visit as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub id: i64,
    pub enrolment_id: i64,
    pub visited_at: i64,
    pub recorded_at: i64,
    pub visitor: String,
    pub mode: String,
    pub note: String,
    pub concerns: Vec<String>,
    pub due_at: i64,
    pub on_time: bool,
    pub photos: Vec<String>,
}

/// What a visitor records.
#[derive(Debug, Clone)]
pub struct NewVisit {
    /// When it took place, ms; `None`: now.
    pub visited_at: Option<i64>,
    pub mode: VisitMode,
    pub note: String,
    pub concerns: Vec<Concern>,
    pub photos: Vec<PhotoRef>,
}

/// Which enrolments to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    All,
    /// Due within this many days from now, overdue included.
    Within(i64),
    Overdue,
}

/// An enrolment's plan as a visit finds it: community, place, interval, last visit, due,
/// ended.
type PlanState = (i64, i64, i64, Option<i64>, i64, Option<i64>);

/// One row of an enrolment query (see [`ENROLMENT_COLUMNS`]).
#[derive(sqlx::FromRow)]
struct EnrolmentRow {
    id: i64,
    resident_id: i64,
    household_id: i64,
    community_key: i64,
    region_key: i64,
    interval_days: i64,
    rule: Option<String>,
    enrolled_at: i64,
    enrolled_by: String,
    last_visit_at: Option<i64>,
    due_at: i64,
    ended_at: Option<i64>,
    end_reason: Option<String>,
    name: Option<String>,
    birth: Option<i64>,
    flags: Option<i64>,
    phone_masked: Option<String>,
    building: Option<String>,
    unit: Option<String>,
    room: Option<String>,
}

/// The person and the home are joined, not copied: the registry stays the one record.
const ENROLMENT_COLUMNS: &str =
    "e.id, e.resident_id, e.household_id, e.community_key, e.region_key, \
     e.interval_days, e.rule, e.enrolled_at, e.enrolled_by, e.last_visit_at, e.due_at, e.ended_at, \
     e.end_reason, r.name, r.birth, r.flags, r.phone_masked, b.name AS building, h.unit, h.room";
const ENROLMENT_FROM: &str = "care_enrolments e LEFT JOIN residents r ON r.id = e.resident_id \
     LEFT JOIN households h ON h.id = e.household_id LEFT JOIN buildings b ON b.id = h.building_id";

fn address(building: Option<&str>, unit: Option<&str>, room: Option<&str>) -> String {
    [building, unit, room]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn community(key: i64) -> Result<RegionCode> {
    RegionCode::from_key(key, Level::Community)
        .ok_or_else(|| StoreError::Corrupt(format!("care community key {key}")))
}

/// A person's tags (derived from the birth key and assigned from the flags) on `today`.
fn tags_of(birth: i64, flags: i64, today: NaiveDate) -> (Option<i64>, Vec<Tag>) {
    let Some(birth) = i32::try_from(birth).ok().and_then(date_from_key) else {
        return (None, Tag::from_bits(flags));
    };
    let mut tags = derived_tags(birth, today);
    tags.extend(Tag::from_bits(flags));
    (Some(i64::from(age_on(birth, today))), tags)
}

fn enrolment(r: EnrolmentRow, today: NaiveDate) -> Result<Enrolment> {
    let (age, tags) = match (r.birth, r.flags) {
        (Some(b), Some(f)) => tags_of(b, f, today),
        _ => (None, Vec::new()),
    };
    Ok(Enrolment {
        id: r.id,
        resident_id: r.resident_id,
        household_id: r.household_id,
        name: r.name,
        age,
        tags,
        phone: r.phone_masked,
        address: address(r.building.as_deref(), r.unit.as_deref(), r.room.as_deref()),
        community: community(r.community_key)?,
        region_key: r.region_key,
        interval_days: u32::try_from(r.interval_days).unwrap_or(care_visits::MAX_INTERVAL_DAYS),
        rule: r.rule,
        enrolled_at: r.enrolled_at,
        enrolled_by: r.enrolled_by,
        last_visit_at: r.last_visit_at,
        due_at: r.due_at,
        ended_at: r.ended_at,
        end_reason: r.end_reason,
    })
}

fn invalid(p: Problem) -> StoreError {
    StoreError::Invalid(p)
}

fn enrolment_not_found(id: i64) -> StoreError {
    invalid(
        Problem::new("care_enrolment_not_found", "care.enrolment_not_found")
            .arg("value", id)
            .field("id"),
    )
}

/// The community a range of the region tree lies in, for rules and candidates: a community
/// or a grid below one.
pub fn community_of(region: RegionCode) -> Option<RegionCode> {
    region
        .ancestors()
        .into_iter()
        .chain([region])
        .find(|r| r.level() == Level::Community)
}

/// The residents of `range` matching any of `rules` and not enrolled, as SQL over the
/// birth-and-flags index: each rule is a birth bound and a bit mask.
fn push_candidate_filter<'a, DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    range: KeyRange,
    rules: &[ParsedRule],
    today: NaiveDate,
) where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE r.region_key >= ").push_bind(range.start);
    qb.push(" AND r.region_key < ").push_bind(range.end);
    qb.push(" AND (");
    for (i, rule) in rules.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        // Visit rules carry only the old-age tags, whose bound is "born on or before".
        let bound = rule
            .age()
            .and_then(|t| t.birth_bound(today))
            .and_then(|b| match b {
                BirthBound::OnOrBefore(d) => Some(i64::from(date_key(d))),
                BirthBound::After(_) => None,
            });
        qb.push("(");
        match bound {
            Some(b) => {
                qb.push("r.birth <= ").push_bind(b);
            }
            None => {
                qb.push("1 = 1");
            }
        }
        let mask = rule.mask();
        if mask != 0 {
            qb.push(" AND (r.flags & ")
                .push_bind(mask)
                .push(") = ")
                .push_bind(mask);
        }
        qb.push(")");
    }
    if rules.is_empty() {
        qb.push("1 = 0");
    }
    qb.push(") AND NOT EXISTS (SELECT 1 FROM care_enrolments e WHERE e.resident_id = r.id AND e.ended_at IS NULL)");
}

impl Store {
    async fn rule_book(&self) -> Result<RuleBook> {
        let rows: Vec<BookRow> = on_read!(self, p => {
            sqlx::query_as(BOOK_SQL).fetch_all(p).await?
        });
        book_of(rows)
    }

    /// The visit rules in force for `region` and where they come from.
    pub async fn visit_rules(&self, region: RegionCode) -> Result<EffectiveRules> {
        Ok(self.rule_book().await?.for_region(region).1)
    }

    /// Sets `region`'s own visit rules (`None`: none of its own, so it uses those above it)
    /// and re-plans the enrolments they now govern; returns how many changed. Audited.
    pub async fn set_visit_rules(
        &self,
        actor: &Actor,
        region: RegionCode,
        rules: Option<&[VisitRule]>,
        today: NaiveDate,
    ) -> Result<usize> {
        if let Some(rules) = rules {
            parse_rules(rules).map_err(invalid)?;
        }
        let now = now_ms();
        let level = i64::from(region.level().number());
        let before = self.visit_rules(region).await?;
        let changed = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            match rules {
                Some(rules) => {
                    let text = serde_json::to_string(rules)
                        .map_err(|e| StoreError::Corrupt(format!("visit rules: {e}")))?;
                    sqlx::query(
                        "INSERT INTO care_visit_rules (scope_level, scope_key, rules, updated_at, updated_by) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope_level, scope_key) DO UPDATE SET \
                         rules = excluded.rules, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    )
                    .bind(level)
                    .bind(region.key())
                    .bind(text)
                    .bind(now)
                    .bind(&actor.username)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM care_visit_rules WHERE scope_level = $1 AND scope_key = $2")
                        .bind(level)
                        .bind(region.key())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            // The book as it now stands, read in the transaction that changed it.
            let rows: Vec<BookRow> = sqlx::query_as(BOOK_SQL).fetch_all(&mut *tx).await?;
            let book = book_of(rows)?;
            // The enrolments planned by rules in the region: people whose tags or rules changed
            // get a new interval; one no rule matches any longer keeps its interval, by hand.
            let range = region.range();
            type PlanRow = (i64, i64, i64, Option<String>, Option<i64>, i64, Option<i64>, Option<i64>);
            let planned: Vec<PlanRow> = sqlx::query_as(
                "SELECT e.id, e.community_key, e.interval_days, e.rule, e.last_visit_at, e.enrolled_at, r.birth, r.flags \
                 FROM care_enrolments e LEFT JOIN residents r ON r.id = e.resident_id \
                 WHERE e.region_key >= $1 AND e.region_key < $2 AND e.ended_at IS NULL AND e.rule IS NOT NULL",
            )
            .bind(range.start)
            .bind(range.end)
            .fetch_all(&mut *tx)
            .await?;
            let mut changed = 0usize;
            for (id, community_key, interval, rule, last_visit, enrolled_at, birth, flags) in planned {
                let (Some(birth), Some(flags)) = (birth, flags) else { continue };
                let (_, tags) = tags_of(birth, flags, today);
                let rules = book.for_region(community(community_key)?).0;
                let (new_interval, new_rule) = match plan_for(rules, &tags) {
                    Some(r) => (i64::from(r.interval_days), Some(r.code())),
                    None => (interval, None),
                };
                if new_interval == interval && new_rule == rule {
                    continue;
                }
                sqlx::query("UPDATE care_enrolments SET interval_days = $1, rule = $2, due_at = $3 WHERE id = $4")
                    .bind(new_interval)
                    .bind(new_rule)
                    .bind(last_visit.unwrap_or(enrolled_at) + new_interval * DAY_MS)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                changed += 1;
            }
            let entry = Entry {
                target: Some(format!("care_visit_rules:{region}")),
                region_key: Some(region.key()),
                before: Some(json!({"scope": before.scope.map(|s| s.to_string()), "rules": before.rules})),
                after: Some(json!({"rules": rules, "replanned": changed})),
                ..Entry::new("care.visit_rules.set")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            changed
        });
        Ok(changed)
    }

    /// A page of the residents of `region` (a community or a grid in one) whom its rules
    /// would have visited and who are not enrolled, in place and age order, with the total.
    pub async fn care_candidates(
        &self,
        region: RegionCode,
        today: NaiveDate,
        page: Page,
    ) -> Result<Listing<Candidate>> {
        let community_code = community_of(region).ok_or_else(|| not_community(region))?;
        let book = self.rule_book().await?;
        let rules = book.for_region(community_code).0.to_vec();
        type Row = (i64, String, i64, i64, String, String, String, i64);
        let range = region.range();
        let (rows, total): (Vec<Row>, i64) = on_read!(self, p => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "SELECT r.id, r.name, r.birth, r.flags, b.name, h.unit, h.room, r.community_key FROM residents r \
                 JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id",
            );
            push_candidate_filter(&mut qb, range, &rules, today);
            qb.push(" ORDER BY r.region_key, r.birth, r.id LIMIT ").push_bind(page.limit);
            qb.push(" OFFSET ").push_bind(page.offset);
            let rows = qb.build_query_as().fetch_all(p).await?;
            let mut qb = sqlx::QueryBuilder::<DB>::new("SELECT COUNT(*) FROM residents r");
            push_candidate_filter(&mut qb, range, &rules, today);
            let total: i64 = qb.build_query_scalar().fetch_one(p).await?;
            (rows, total)
        });
        let mut items = Vec::with_capacity(rows.len());
        for (resident_id, name, birth, flags, building, unit, room, community_key) in rows {
            let (age, tags) = tags_of(birth, flags, today);
            // The SQL chose by the same rules: a row always has a plan.
            let Some(plan) = plan_for(&rules, &tags) else {
                continue;
            };
            items.push(Candidate {
                resident_id,
                name,
                age: age.unwrap_or_default(),
                address: address(Some(&building), Some(&unit), Some(&room)),
                community: community(community_key)?,
                interval_days: plan.interval_days,
                rule: plan.code(),
                tags,
            });
        }
        Ok(Listing { items, total })
    }

    /// Enrols resident `resident_id` with the plan of their community's rules, or every
    /// `interval_days` when given; the first visit is due one interval from now. Audited.
    pub async fn enrol(
        &self,
        actor: &Actor,
        resident_id: i64,
        interval_days: Option<u32>,
        today: NaiveDate,
    ) -> Result<Enrolment> {
        let book = self.rule_book().await?;
        let id = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            let person: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT household_id, community_key, region_key, birth, flags FROM residents WHERE id = $1",
            )
            .bind(resident_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((household_id, community_key, region_key, birth, flags)) = person else {
                return Err(invalid(
                    Problem::new("care_resident_not_found", "care.resident_not_found")
                        .arg("value", resident_id)
                        .field("resident_id"),
                ));
            };
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM care_enrolments WHERE resident_id = $1 AND ended_at IS NULL",
            )
            .bind(resident_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(existing) = existing {
                return Err(already_enrolled(existing));
            }
            let (_, tags) = tags_of(birth, flags, today);
            let (interval, rule) = match interval_days {
                Some(d) => (d, None),
                None => match plan_for(book.for_region(community(community_key)?).0, &tags) {
                    Some(r) => (r.interval_days, Some(r.code())),
                    None => {
                        return Err(invalid(
                            Problem::new("care_no_visit_rule", "care.no_visit_rule")
                                .arg("tags", tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
                                .field("interval_days"),
                        ))
                    }
                },
            };
            let now = now_ms();
            let inserted: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
                "INSERT INTO care_enrolments (resident_id, household_id, community_key, region_key, interval_days, \
                 rule, enrolled_at, enrolled_by, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(resident_id)
            .bind(household_id)
            .bind(community_key)
            .bind(region_key)
            .bind(i64::from(interval))
            .bind(&rule)
            .bind(now)
            .bind(&actor.username)
            .bind(now + i64::from(interval) * DAY_MS)
            .fetch_one(&mut *tx)
            .await;
            let id = match inserted {
                Ok(id) => id,
                // Another enrolment of the same person won the race since the check above.
                Err(e) if is_unique_violation(&e) => return Err(already_enrolled("—")),
                Err(e) => return Err(e.into()),
            };
            let entry = Entry {
                target: Some(format!("care_enrolment:{id}")),
                region_key: Some(region_key),
                after: Some(json!({"resident_id": resident_id, "interval_days": interval, "rule": rule})),
                ..Entry::new("care.enrol")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            id
        });
        self.care_enrolment(id, today)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Enrols every candidate of `region` (a community or a grid in one) with their rules'
    /// plans, in one transaction; returns how many.
    pub async fn enrol_candidates(
        &self,
        actor: &Actor,
        region: RegionCode,
        today: NaiveDate,
    ) -> Result<usize> {
        let community_code = community_of(region).ok_or_else(|| not_community(region))?;
        let rules = self
            .rule_book()
            .await?
            .for_region(community_code)
            .0
            .to_vec();
        let range = region.range();
        let now = now_ms();
        let n = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            type Row = (i64, i64, i64, i64, i64, i64);
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "SELECT r.id, r.household_id, r.community_key, r.region_key, r.birth, r.flags FROM residents r",
            );
            push_candidate_filter(&mut qb, range, &rules, today);
            let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await?;
            let plans: Vec<(Row, u32, String)> = rows
                .into_iter()
                .filter_map(|row| {
                    let (_, tags) = tags_of(row.4, row.5, today);
                    plan_for(&rules, &tags).map(|r| (row, r.interval_days, r.code()))
                })
                .collect();
            for chunk in plans.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO care_enrolments (resident_id, household_id, community_key, region_key, interval_days, \
                     rule, enrolled_at, enrolled_by, due_at) ",
                );
                qb.push_values(chunk, |mut b, (row, interval, rule)| {
                    b.push_bind(row.0)
                        .push_bind(row.1)
                        .push_bind(row.2)
                        .push_bind(row.3)
                        .push_bind(i64::from(*interval))
                        .push_bind(rule.clone())
                        .push_bind(now)
                        .push_bind(actor.username.clone())
                        .push_bind(now + i64::from(*interval) * DAY_MS);
                });
                qb.build().execute(&mut *tx).await?;
            }
            let entry = Entry {
                target: Some(format!("care_enrolments:{region}")),
                region_key: Some(region.key()),
                after: Some(json!({"enrolled": plans.len()})),
                ..Entry::new("care.enrol_candidates")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            plans.len()
        });
        Ok(n)
    }

    /// One enrolment, ended or not.
    pub async fn care_enrolment(&self, id: i64, today: NaiveDate) -> Result<Option<Enrolment>> {
        let row: Option<EnrolmentRow> = on_read!(self, p => {
            sqlx::query_as(&format!("SELECT {ENROLMENT_COLUMNS} FROM {ENROLMENT_FROM} WHERE e.id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        row.map(|r| enrolment(r, today)).transpose()
    }

    /// A page of the active enrolments of `range` that are `due`, the most urgent first,
    /// with the total.
    pub async fn care_enrolments(
        &self,
        range: KeyRange,
        due: Due,
        today: NaiveDate,
        page: Page,
    ) -> Result<Listing<Enrolment>> {
        let now = now_ms();
        let before = match due {
            Due::All => i64::MAX,
            Due::Within(days) => now.saturating_add(days.saturating_mul(DAY_MS)),
            Due::Overdue => now,
        };
        let filter =
            "e.region_key >= $1 AND e.region_key < $2 AND e.ended_at IS NULL AND e.due_at < $3";
        let (rows, total): (Vec<EnrolmentRow>, i64) = on_read!(self, p => {
            let rows = sqlx::query_as(&format!(
                "SELECT {ENROLMENT_COLUMNS} FROM {ENROLMENT_FROM} WHERE {filter} ORDER BY e.due_at, e.id LIMIT $4 OFFSET $5"
            ))
            .bind(range.start)
            .bind(range.end)
            .bind(before)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM care_enrolments e WHERE {filter}"))
                .bind(range.start)
                .bind(range.end)
                .bind(before)
                .fetch_one(p)
                .await?;
            (rows, total)
        });
        let items = rows
            .into_iter()
            .map(|r| enrolment(r, today))
            .collect::<Result<_>>()?;
        Ok(Listing { items, total })
    }

    /// Sets an enrolment's interval by hand (`Some`), or back to its rules' plan (`None`);
    /// the next visit falls due one interval after the last. Audited.
    pub async fn set_enrolment_interval(
        &self,
        actor: &Actor,
        id: i64,
        interval_days: Option<u32>,
        today: NaiveDate,
    ) -> Result<Enrolment> {
        let current = self
            .care_enrolment(id, today)
            .await?
            .filter(|e| e.ended_at.is_none())
            .ok_or_else(|| enrolment_not_found(id))?;
        let (interval, rule) = match interval_days {
            Some(d) => (d, None),
            None => {
                let book = self.rule_book().await?;
                match plan_for(book.for_region(current.community).0, &current.tags) {
                    Some(r) => (r.interval_days, Some(r.code())),
                    None => {
                        return Err(invalid(
                            Problem::new("care_no_visit_rule", "care.no_visit_rule")
                                .arg(
                                    "tags",
                                    current
                                        .tags
                                        .iter()
                                        .map(|t| t.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                )
                                .field("interval_days"),
                        ))
                    }
                }
            }
        };
        let since = current.last_visit_at.unwrap_or(current.enrolled_at);
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE care_enrolments SET interval_days = $1, rule = $2, due_at = $3 WHERE id = $4 AND ended_at IS NULL")
                .bind(i64::from(interval))
                .bind(&rule)
                .bind(since + i64::from(interval) * DAY_MS)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let entry = Entry {
                target: Some(format!("care_enrolment:{id}")),
                region_key: Some(current.region_key),
                before: Some(json!({"interval_days": current.interval_days, "rule": current.rule})),
                after: Some(json!({"interval_days": interval, "rule": rule})),
                ..Entry::new("care.enrolment.interval")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        self.care_enrolment(id, today)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Ends an enrolment for `reason`; its visits stay on record. Audited.
    pub async fn end_enrolment(
        &self,
        actor: &Actor,
        id: i64,
        reason: EndReason,
        today: NaiveDate,
    ) -> Result<Enrolment> {
        let now = now_ms();
        let region_key: Option<i64> = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let region_key: Option<i64> = sqlx::query_scalar(
                "UPDATE care_enrolments SET ended_at = $1, ended_by = $2, end_reason = $3 \
                 WHERE id = $4 AND ended_at IS NULL RETURNING region_key",
            )
            .bind(now)
            .bind(&actor.username)
            .bind(reason.code())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if region_key.is_some() {
                let entry = Entry {
                    target: Some(format!("care_enrolment:{id}")),
                    region_key,
                    after: Some(json!({"ended": reason.code()})),
                    ..Entry::new("care.enrolment.end")
                };
                write_entry!(&mut *tx, actor, &entry)?;
            }
            tx.commit().await?;
            region_key
        });
        if region_key.is_none() {
            return Err(enrolment_not_found(id));
        }
        self.care_enrolment(id, today)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Records a visit to enrolment `id`: on time when made by its due moment; the next
    /// visit falls due one interval after the latest visit. Audited.
    pub async fn record_visit(&self, actor: &Actor, id: i64, v: &NewVisit) -> Result<Visit> {
        let now = now_ms();
        let at = v.visited_at.unwrap_or(now);
        let when = || linli_core::china_time::rfc3339(at);
        if at > now + VISIT_AHEAD_MS {
            return Err(invalid(
                Problem::new("care_visit_in_future", "care.visit_in_future")
                    .arg("value", when())
                    .field("visited_at"),
            ));
        }
        if at < now - care_visits::MAX_VISIT_AGE_DAYS * DAY_MS {
            return Err(invalid(
                Problem::new("care_visit_too_old", "care.visit_too_old")
                    .arg("value", when())
                    .arg("days", care_visits::MAX_VISIT_AGE_DAYS)
                    .field("visited_at"),
            ));
        }
        let note = v.note.trim();
        let chars = note.chars().count();
        if chars > care_visits::MAX_NOTE {
            return Err(invalid(
                Problem::new("care_note_too_long", "care.note_too_long")
                    .arg("count", chars)
                    .arg("max", care_visits::MAX_NOTE)
                    .field("note"),
            ));
        }
        if v.photos.len() > care_visits::MAX_VISIT_PHOTOS {
            return Err(invalid(
                Problem::new("care_too_many_photos", "care.too_many_photos")
                    .arg("count", v.photos.len())
                    .arg("max", care_visits::MAX_VISIT_PHOTOS)
                    .field("photos"),
            ));
        }
        let mut concerns = v.concerns.clone();
        concerns.sort();
        concerns.dedup();
        let concerns = concerns
            .iter()
            .map(|c| c.code())
            .collect::<Vec<_>>()
            .join(",");
        let visit_id = on_write!(self, p => {
            let mut tx = p.begin_with(<DB as crate::BeginWrite>::BEGIN).await?;
            let found: Option<PlanState> = sqlx::query_as(&format!(
                "SELECT community_key, region_key, interval_days, last_visit_at, due_at, ended_at \
                 FROM care_enrolments WHERE id = $1{}",
                <DB as crate::BeginWrite>::LOCK_ROWS
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((community_key, region_key, interval, last_visit, due_at, ended_at)) = found else {
                return Err(enrolment_not_found(id));
            };
            if ended_at.is_some() {
                return Err(invalid(
                    Problem::new("care_enrolment_ended", "care.enrolment_ended").arg("value", id).field("id"),
                ));
            }
            // A visit written up late, older than the latest, does not move the plan; it is
            // on time against the plan as it stands.
            let on_time = at <= due_at;
            let visit_id: i64 = sqlx::query_scalar(
                "INSERT INTO care_visits (enrolment_id, community_key, region_key, visited_at, recorded_at, visitor, \
                 mode, note, concerns, due_at, on_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(id)
            .bind(community_key)
            .bind(region_key)
            .bind(at)
            .bind(now)
            .bind(&actor.username)
            .bind(v.mode.code())
            .bind(note)
            .bind(&concerns)
            .bind(due_at)
            .bind(i64::from(on_time))
            .fetch_one(&mut *tx)
            .await?;
            if last_visit.is_none_or(|l| at > l) {
                sqlx::query("UPDATE care_enrolments SET last_visit_at = $1, due_at = $2 WHERE id = $3")
                    .bind(at)
                    .bind(at + interval * DAY_MS)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if !v.photos.is_empty() {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO care_visit_photos (visit_id, sha256, format, bytes, width, height) ",
                );
                qb.push_values(&v.photos, |mut b, ph| {
                    b.push_bind(visit_id)
                        .push_bind(ph.sha256.clone())
                        .push_bind(ph.format.clone())
                        .push_bind(ph.bytes)
                        .push_bind(ph.width)
                        .push_bind(ph.height);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            let entry = Entry {
                target: Some(format!("care_enrolment:{id}")),
                region_key: Some(region_key),
                after: Some(json!({"visit": visit_id, "mode": v.mode.code(), "visited_at": at, "on_time": on_time, "concerns": concerns})),
                ..Entry::new("care.visit.record")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            visit_id
        });
        let visits = self
            .care_visits(id, Some(visit_id), Page::new(None, Some(1)))
            .await?;
        visits.items.into_iter().next().ok_or(StoreError::NotFound)
    }

    /// A page of enrolment `id`'s visits, the latest first (or only visit `only`).
    pub async fn care_visits(
        &self,
        id: i64,
        only: Option<i64>,
        page: Page,
    ) -> Result<Listing<Visit>> {
        type Row = (i64, i64, i64, String, String, String, String, i64, i64);
        type PhotoRow = (i64, String, String);
        let filter = "enrolment_id = $1 AND ($2 IS NULL OR id = $2)";
        let (rows, total, photos): (Vec<Row>, i64, Vec<PhotoRow>) = on_read!(self, p => {
            let rows: Vec<Row> = sqlx::query_as(&format!(
                "SELECT id, visited_at, recorded_at, visitor, mode, note, concerns, due_at, on_time FROM care_visits \
                 WHERE {filter} ORDER BY visited_at DESC, id DESC LIMIT $3 OFFSET $4"
            ))
            .bind(id)
            .bind(only)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(p)
            .await?;
            let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM care_visits WHERE {filter}"))
                .bind(id)
                .bind(only)
                .fetch_one(p)
                .await?;
            // The page's photos in one query.
            let mut photos: Vec<PhotoRow> = Vec::new();
            if !rows.is_empty() {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "SELECT visit_id, sha256, format FROM care_visit_photos WHERE visit_id IN (",
                );
                let mut list = qb.separated(", ");
                for r in &rows {
                    list.push_bind(r.0);
                }
                qb.push(") ORDER BY visit_id, sha256");
                photos = qb.build_query_as().fetch_all(p).await?;
            }
            (rows, total, photos)
        });
        let items = rows
            .into_iter()
            .map(
                |(
                    visit_id,
                    visited_at,
                    recorded_at,
                    visitor,
                    mode,
                    note,
                    concerns,
                    due_at,
                    on_time,
                )| Visit {
                    id: visit_id,
                    enrolment_id: id,
                    visited_at,
                    recorded_at,
                    visitor,
                    mode,
                    note,
                    concerns: concerns
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect(),
                    due_at,
                    on_time: on_time != 0,
                    photos: photos
                        .iter()
                        .filter(|ph| ph.0 == visit_id)
                        .map(|ph| format!("{}.{}", ph.1, photo_ext(&ph.2)))
                        .collect(),
                },
            )
            .collect();
        Ok(Listing { items, total })
    }
}

/// The file extension of a stored photo's format, as photo references write it.
fn photo_ext(format: &str) -> &str {
    match format {
        "jpeg" => "jpg",
        other => other,
    }
}

fn already_enrolled(enrolment: impl ToString) -> StoreError {
    StoreError::Conflict(
        Problem::new("care_already_enrolled", "care.already_enrolled")
            .arg("value", enrolment)
            .field("resident_id"),
    )
}

fn not_community(region: RegionCode) -> StoreError {
    invalid(
        Problem::new("care_region_not_community", "care.region_not_community")
            .arg("value", region)
            .arg_key("level", region.level().label_key())
            .field("region"),
    )
}

/// A row of the rule book: the region (level, key), its rules, when and by whom set.
type BookRow = (i64, i64, String, i64, String);
const BOOK_SQL: &str =
    "SELECT scope_level, scope_key, rules, updated_at, updated_by FROM care_visit_rules";

/// The rule book from its rows.
fn book_of(rows: Vec<BookRow>) -> Result<RuleBook> {
    let mut scoped = Vec::with_capacity(rows.len());
    for (level, key, rules, updated_at, updated_by) in rows {
        let scope = i16::try_from(level)
            .ok()
            .and_then(Level::from_number)
            .and_then(|l| RegionCode::from_key(key, l))
            .ok_or_else(|| StoreError::Corrupt(format!("care visit rules scope {level}/{key}")))?;
        let list: Vec<VisitRule> = serde_json::from_str(&rules)
            .map_err(|e| StoreError::Corrupt(format!("care visit rules of {scope}: {e}")))?;
        let parsed = parse_rules(&list)
            .map_err(|e| StoreError::Corrupt(format!("care visit rules of {scope}: {}", e.key)))?;
        let effective = EffectiveRules {
            scope: Some(scope),
            rules: list,
            updated_at: Some(updated_at),
            updated_by: Some(updated_by),
        };
        scoped.push((scope, parsed, effective));
    }
    let defaults = parse_rules(&default_rules())
        .map_err(|e| StoreError::Corrupt(format!("the built-in visit rules: {}", e.key)))?;
    Ok(RuleBook { scoped, defaults })
}
