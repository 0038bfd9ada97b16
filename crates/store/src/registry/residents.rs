//! Residents (居民): people registered in a household, with their encrypted identifiers and
//! their tags.
//!
//! Lists are built for the questions community staff ask — "80+ living alone in my grid",
//! "renters in this building", "under 3 in the community" — and each is driven by an index:
//! a list with an assigned tag walks `resident_tags (tag, region_key, birth)`, one without
//! walks the residents' place or birth index. Age tags are bounds on the birth date computed
//! for today, so they are always current and never stored.

use chrono::NaiveDate;
use linli_core::grid::Source;
use linli_core::region::KeyRange;
use linli_core::registry::{
    age_on, date_from_key, date_key, derived_tags, BirthBound, Gender, IdNumber, Phone, Relation,
    Tag,
};
use linli_core::{Problem, RegionCode};
use serde_json::{json, Value};
use sqlx::{FromRow, Row};

use super::buildings::{like_pattern, Chunk};
use super::households::{is_renter, Household};
use super::stats::refresh_stats;
use super::{check_text, Listing, Page, Place, MAX_NAME};
use crate::audit::{write_entry, Actor, Entry};
use crate::{is_unique_violation, now_ms, on_read, on_write, Result, Store, StoreError};

/// What a user gives for a resident. The ID number and phone arrive in clear and are
/// validated, encrypted and hashed here; nothing else sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidentInput {
    pub household_id: i64,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    /// Optional: when given it must agree with the ID number.
    pub gender: Option<Gender>,
    /// Optional: when given it must agree with the ID number.
    pub birth: Option<NaiveDate>,
    pub relation: Relation,
    /// Assigned tags; age tags are derived and refused here.
    pub tags: Vec<Tag>,
}

/// A tag on a resident: derived ones carry no setter.
#[derive(Debug, Clone, PartialEq)]
pub struct TagMark {
    pub tag: Tag,
    pub derived: bool,
    pub set_by: Option<String>,
    pub set_at: Option<i64>,
}

/// A resident as shown: identifiers masked.
#[derive(Debug, Clone, PartialEq)]
pub struct Resident {
    pub id: i64,
    pub household_id: i64,
    pub building_id: i64,
    pub building: String,
    pub unit: String,
    pub room: String,
    pub community: RegionCode,
    pub region: RegionCode,
    pub name: String,
    pub gender: Gender,
    pub birth: NaiveDate,
    pub age: i64,
    pub relation: Relation,
    /// Masked, e.g. 330102********1234.
    pub id_number: String,
    /// Masked, e.g. 138****5678.
    pub phone: Option<String>,
    pub tags: Vec<TagMark>,
    pub renter: bool,
    pub source: Source,
    pub updated_at: i64,
}

/// Which identifier to reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalField {
    IdNumber,
    Phone,
}

impl PersonalField {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalField::IdNumber => "id_number",
            PersonalField::Phone => "phone",
        }
    }

    pub fn parse(s: &str) -> Option<PersonalField> {
        match s.trim() {
            "id_number" => Some(PersonalField::IdNumber),
            "phone" => Some(PersonalField::Phone),
            _ => None,
        }
    }
}

/// What to list: a place, tags that must all hold, a text to find.
#[derive(Debug, Clone)]
pub struct ResidentFilter {
    pub range: KeyRange,
    pub tags: Vec<Tag>,
    /// A name fragment, or a whole ID number or phone (found by keyed hash).
    pub q: Option<String>,
    pub household_id: Option<i64>,
    pub building_id: Option<i64>,
}

/// Where a keyset read of residents resumes: the ORDER BY key (place, birth, id) of the
/// last row read, from whichever index drives the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentCursor {
    region_key: i64,
    birth: i64,
    id: i64,
}

/// A residents filter as query text and values. Its parameters are `$1`–`$10`, bound by
/// [`bind_filter!`]; the caller numbers its own from `$11`.
struct ResidentSql {
    from: &'static str,
    building_join: &'static str,
    filter_sql: String,
    /// The query for the total, over the same parameters.
    count_sql: String,
    /// The ORDER BY key: the driving index's place, birth and id columns.
    order: [&'static str; 3],
    tag0: &'static str,
    on_or_before: Option<i64>,
    after: Option<i64>,
    rest_mask: i64,
    q_bytes: Option<Vec<u8>>,
    q_text: Option<String>,
}

/// Binds `$1`–`$10` of a [`ResidentSql`] to a query.
macro_rules! bind_filter {
    ($q:expr, $s:expr, $filter:expr) => {
        $q.bind($s.tag0)
            .bind($filter.range.start)
            .bind($filter.range.end)
            .bind($s.on_or_before)
            .bind($s.after)
            .bind($s.rest_mask)
            .bind($filter.household_id)
            .bind($filter.building_id)
            .bind($s.q_bytes.as_deref())
            .bind($s.q_text.as_deref())
    };
}

const COLUMNS: &str = "r.id, r.household_id, h.building_id, b.name AS building, h.unit, h.room, b.region_key, \
     b.region_level, r.name, r.gender, r.birth, r.relation, r.id_masked, r.phone_masked, r.flags, r.renter, r.source, \
     r.updated_at";

/// One row of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct Raw {
    id: i64,
    household_id: i64,
    building_id: i64,
    building: String,
    unit: String,
    room: String,
    region_key: i64,
    region_level: i64,
    name: String,
    gender: String,
    birth: i64,
    relation: String,
    id_masked: String,
    phone_masked: Option<String>,
    flags: i64,
    renter: i64,
    source: String,
    updated_at: i64,
}

fn decode(r: Raw, today: NaiveDate) -> Result<Resident> {
    let place = Place::from_stored(r.region_key, r.region_level)?;
    let birth = i32::try_from(r.birth)
        .ok()
        .and_then(date_from_key)
        .ok_or_else(|| StoreError::Corrupt(format!("resident birth {}", r.birth)))?;
    let mut tags: Vec<TagMark> = derived_tags(birth, today)
        .into_iter()
        .map(|tag| TagMark {
            tag,
            derived: true,
            set_by: None,
            set_at: None,
        })
        .collect();
    tags.extend(Tag::from_bits(r.flags).into_iter().map(|tag| TagMark {
        tag,
        derived: false,
        set_by: None,
        set_at: None,
    }));
    Ok(Resident {
        id: r.id,
        household_id: r.household_id,
        building_id: r.building_id,
        building: r.building,
        unit: r.unit,
        room: r.room,
        community: place.community,
        region: place.region,
        name: r.name,
        gender: Gender::parse(&r.gender)
            .ok_or_else(|| StoreError::Corrupt(format!("resident gender {}", r.gender)))?,
        birth,
        age: i64::from(age_on(birth, today)),
        relation: Relation::parse(&r.relation).unwrap_or(Relation::Other),
        id_number: r.id_masked,
        phone: r.phone_masked,
        tags,
        renter: r.renter != 0,
        source: Source::parse(&r.source)
            .ok_or_else(|| StoreError::Corrupt(format!("resident source {}", r.source)))?,
        updated_at: r.updated_at,
    })
}

/// A resident's fields checked and their identifiers parsed.
pub(crate) struct Checked {
    pub id: IdNumber,
    pub phone: Option<Phone>,
    pub gender: Gender,
    pub birth: NaiveDate,
}

/// Checks a resident's fields: every problem names its field.
pub(crate) fn check(
    input: &ResidentInput,
    today: NaiveDate,
) -> std::result::Result<Checked, Problem> {
    check_text(&input.name, "name", MAX_NAME, true)?;
    let id = IdNumber::parse(&input.id_number, today).map_err(|e| e.problem())?;
    let phone = match input.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(Phone::parse(p).map_err(|e| e.problem())?),
    };
    if let Some(g) = input.gender {
        if g != id.gender() {
            return Err(Problem::new("gender_mismatch", "registry.gender_mismatch").field("gender"));
        }
    }
    if let Some(b) = input.birth {
        if b != id.birth_date() {
            return Err(Problem::new("birth_mismatch", "registry.birth_mismatch")
                .arg("birth", id.birth_date())
                .field("birth_date"));
        }
    }
    if let Some(t) = input.tags.iter().find(|t| t.is_derived()) {
        return Err(Problem::new("derived_tag", "registry.derived_tag")
            .arg("tag", t.as_str())
            .field("tags"));
    }
    Ok(Checked {
        gender: id.gender(),
        birth: id.birth_date(),
        id,
        phone,
    })
}

fn flags_of(tags: &[Tag]) -> i64 {
    tags.iter().fold(0, |acc, t| acc | t.bit())
}

fn resident_json(input: &ResidentInput, c: &Checked) -> Value {
    // The audit log holds what anyone reading it may see: identifiers masked.
    json!({
        "household_id": input.household_id,
        "name": input.name.trim(),
        "id_number": c.id.masked(),
        "phone": c.phone.as_ref().map(|p| p.masked()),
        "gender": c.gender.as_str(),
        "birth": c.birth.to_string(),
        "relation": input.relation.as_str(),
        "tags": input.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
    })
}

impl Store {
    /// One resident, masked, with who set each tag and when.
    pub async fn resident(&self, id: i64, today: NaiveDate) -> Result<Option<Resident>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id \
             JOIN buildings b ON b.id = h.building_id WHERE r.id = $1"
        );
        let (row, marks): (Option<Raw>, Vec<(String, String, i64)>) = on_read!(self, p => {
            let row = sqlx::query_as(&sql).bind(id).fetch_optional(p).await?;
            let marks = sqlx::query_as(
                "SELECT tag, set_by, set_at FROM resident_tags WHERE resident_id = $1",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            (row, marks)
        });
        let Some(row) = row else { return Ok(None) };
        let mut r = decode(row, today)?;
        for m in r.tags.iter_mut().filter(|m| !m.derived) {
            if let Some((_, by, at)) = marks.iter().find(|(t, _, _)| t == m.tag.as_str()) {
                m.set_by = Some(by.clone());
                m.set_at = Some(*at);
            }
        }
        Ok(Some(r))
    }

    /// The query text and the values of a residents filter, shared by the paged list and
    /// the keyset read.
    fn resident_sql(&self, filter: &ResidentFilter, today: NaiveDate) -> Result<ResidentSql> {
        let keys = if filter.q.is_some() {
            Some(self.keys()?)
        } else {
            None
        };
        let mut assigned: Vec<Tag> = filter
            .tags
            .iter()
            .copied()
            .filter(|t| !t.is_derived())
            .collect();
        assigned.dedup();
        let mut after: Option<i64> = None;
        let mut on_or_before: Option<i64> = None;
        for t in filter.tags.iter().filter(|t| t.is_derived()) {
            match t.birth_bound(today) {
                Some(BirthBound::OnOrBefore(d)) => {
                    let k = i64::from(date_key(d));
                    on_or_before = Some(on_or_before.map_or(k, |o: i64| o.min(k)));
                }
                Some(BirthBound::After(d)) => {
                    let k = i64::from(date_key(d));
                    after = Some(after.map_or(k, |a: i64| a.max(k)));
                }
                None => {}
            }
        }
        // The query text: driven by the first assigned tag's index when there is one.
        let (from, place, birth, order) = match assigned.first() {
            Some(_) => (
                "resident_tags t JOIN residents r ON r.id = t.resident_id",
                "t.tag = $1 AND t.region_key >= $2 AND t.region_key < $3",
                "t.birth",
                ["t.region_key", "t.birth", "t.resident_id"],
            ),
            None => (
                "residents r",
                "$1 = $1 AND r.region_key >= $2 AND r.region_key < $3",
                "r.birth",
                ["r.region_key", "r.birth", "r.id"],
            ),
        };
        let rest_mask = flags_of(assigned.get(1..).unwrap_or(&[]));
        let mut filter_sql = format!(
            "{place} AND ($4 IS NULL OR {birth} <= $4) AND ($5 IS NULL OR {birth} > $5) \
             AND (r.flags & $6) = $6 AND ($7 IS NULL OR r.household_id = $7)"
        );
        let mut building_join = "";
        if filter.building_id.is_some() {
            building_join = " JOIN households hb ON hb.id = r.household_id";
            filter_sql.push_str(" AND hb.building_id = $8");
        } else {
            filter_sql.push_str(" AND $8 IS NULL");
        }
        // Text: a whole ID number or phone is found by its keyed hash, anything else by name.
        let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let mut q_bytes: Option<Vec<u8>> = None;
        let mut q_text: Option<String> = None;
        if let (Some(q), Some(keys)) = (q, keys.as_ref()) {
            if let Ok(id) = IdNumber::parse(q, today) {
                q_bytes = Some(keys.lookup("id_number", id.as_str()).to_vec());
                filter_sql.push_str(" AND r.id_lookup = $9 AND $10 IS NULL");
            } else if let Ok(phone) = Phone::parse(q) {
                q_bytes = Some(keys.lookup("phone", phone.as_str()).to_vec());
                filter_sql.push_str(" AND r.phone_lookup = $9 AND $10 IS NULL");
            } else {
                q_text = Some(like_pattern(q));
                filter_sql.push_str(" AND $9 IS NULL AND r.name LIKE $10 ESCAPE '\\'");
            }
        } else {
            filter_sql.push_str(" AND $9 IS NULL AND $10 IS NULL");
        }
        // With one assigned tag and nothing that needs the resident's own row, the total
        // is an index-only count over the tag index (tag, region, birth) instead of a join
        // to the residents table per match. `$6` (the other tags' mask) is 0 then.
        let count_sql = if assigned.len() == 1
            && filter.household_id.is_none()
            && filter.building_id.is_none()
            && q.is_none()
        {
            format!(
                "SELECT COUNT(*) FROM resident_tags t WHERE {place} AND ($4 IS NULL OR t.birth <= $4) \
                 AND ($5 IS NULL OR t.birth > $5) AND $6 = 0 AND $7 IS NULL AND $8 IS NULL \
                 AND $9 IS NULL AND $10 IS NULL"
            )
        } else {
            format!("SELECT COUNT(*) FROM {from}{building_join} WHERE {filter_sql}")
        };
        Ok(ResidentSql {
            from,
            building_join,
            filter_sql,
            count_sql,
            order,
            tag0: assigned.first().map(|t| t.as_str()).unwrap_or(""),
            on_or_before,
            after,
            rest_mask,
            q_bytes,
            q_text,
        })
    }

    /// Residents matching `filter`, a page of them, ordered by place then age (oldest
    /// first), and how many match in all.
    pub async fn residents(
        &self,
        filter: &ResidentFilter,
        page: Page,
        today: NaiveDate,
    ) -> Result<Listing<Resident>> {
        let s = self.resident_sql(filter, today)?;
        let ResidentSql {
            from,
            building_join,
            filter_sql,
            ..
        } = &s;
        let order = s.order.join(", ");
        let sql = format!(
            "SELECT {COLUMNS} FROM {from}{building_join} JOIN households h ON h.id = r.household_id \
             JOIN buildings b ON b.id = h.building_id WHERE {filter_sql} ORDER BY {order} LIMIT $11 OFFSET $12"
        );
        let count_sql = &s.count_sql;
        let (rows, total): (Vec<Raw>, i64) = on_read!(self, p => {
            let rows = bind_filter!(sqlx::query_as(&sql), s, filter)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(p)
                .await?;
            let total = bind_filter!(sqlx::query_scalar(count_sql), s, filter).fetch_one(p).await?;
            (rows, total)
        });
        Ok(Listing {
            items: rows
                .into_iter()
                .map(|r| decode(r, today))
                .collect::<Result<_>>()?,
            total,
        })
    }

    /// The residents [`Store::residents`] lists, in the same order, at most `limit` of
    /// them, after `after`. An export reads a whole district this way, chunk by chunk: each
    /// chunk continues along the driving index (place and birth, or the tag's) where the
    /// last one stopped, with no OFFSET to skip over and no COUNT, so the whole read is
    /// linear.
    pub async fn residents_after(
        &self,
        filter: &ResidentFilter,
        after: Option<ResidentCursor>,
        limit: i64,
        today: NaiveDate,
    ) -> Result<Chunk<Resident, ResidentCursor>> {
        let limit = limit.max(1);
        let s = self.resident_sql(filter, today)?;
        let ResidentSql {
            from,
            building_join,
            filter_sql,
            ..
        } = &s;
        let [k_region, k_birth, k_id] = s.order;
        // The cursor's clause only when there is a cursor: the first chunk is the plain
        // filtered read. A row-value comparison reads the same on SQLite and PostgreSQL.
        let cursor = if after.is_some() {
            format!(" AND ({k_region}, {k_birth}, {k_id}) > ($12, $13, $14)")
        } else {
            String::new()
        };
        // The key is selected as such: the place in COLUMNS is the building's.
        let sql = format!(
            "SELECT {COLUMNS}, {k_region} AS k_region, {k_birth} AS k_birth, {k_id} AS k_id \
             FROM {from}{building_join} JOIN households h ON h.id = r.household_id \
             JOIN buildings b ON b.id = h.building_id WHERE {filter_sql}{cursor} \
             ORDER BY {k_region}, {k_birth}, {k_id} LIMIT $11"
        );
        let rows: Vec<(Raw, ResidentCursor)> = on_read!(self, p => {
            let mut query = bind_filter!(sqlx::query(&sql), s, filter).bind(limit);
            if let Some(c) = after {
                query = query.bind(c.region_key).bind(c.birth).bind(c.id);
            }
            let rows = query.fetch_all(p).await?;
            rows.iter()
                .map(|row| {
                    let key = ResidentCursor {
                        region_key: row.try_get("k_region")?,
                        birth: row.try_get("k_birth")?,
                        id: row.try_get("k_id")?,
                    };
                    Ok((Raw::from_row(row)?, key))
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?
        });
        let items = rows
            .into_iter()
            .map(|(r, key)| decode(r, today).map(|r| (r, key)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Chunk::of(items, limit))
    }

    /// Registers a resident in a household. The ID number must not be registered anywhere
    /// in the database (one district: one person, one record).
    pub async fn create_resident(
        &self,
        actor: &Actor,
        input: ResidentInput,
        source: Source,
        today: NaiveDate,
    ) -> Result<Resident> {
        let keys = self.keys()?;
        let c = check(&input, today).map_err(StoreError::Invalid)?;
        let household = self.household_for(input.household_id).await?;
        let id_lookup = keys.lookup("id_number", c.id.as_str()).to_vec();
        self.refuse_registered(&id_lookup, None).await?;
        let id_cipher = keys.encrypt_for("id_number", c.id.as_str());
        let phone_cipher = c
            .phone
            .as_ref()
            .map(|p| keys.encrypt_for("phone", p.as_str()));
        let phone_lookup = c
            .phone
            .as_ref()
            .map(|p| keys.lookup("phone", p.as_str()).to_vec());
        let flags = flags_of(&input.tags);
        let renter = i64::from(is_renter(household.tenure, &input.tags));
        let after = resident_json(&input, &c);
        let now = now_ms();
        let birth = i64::from(date_key(c.birth));
        let id: i64 = on_write!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO residents (household_id, community_key, region_key, name, gender, birth, relation, \
                 id_cipher, id_lookup, id_masked, phone_cipher, phone_lookup, phone_masked, flags, renter, \
                 source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) RETURNING id",
            )
            .bind(household.id)
            .bind(household.community.key())
            .bind(household.region.key())
            .bind(input.name.trim())
            .bind(c.gender.as_str())
            .bind(birth)
            .bind(input.relation.as_str())
            .bind(&id_cipher)
            .bind(&id_lookup)
            .bind(c.id.masked())
            .bind(phone_cipher.as_deref())
            .bind(phone_lookup.as_deref())
            .bind(c.phone.as_ref().map(|p| p.masked()))
            .bind(flags)
            .bind(renter)
            .bind(source.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { already_registered() } else { e.into() })?;
            for tag in &input.tags {
                sqlx::query(
                    "INSERT INTO resident_tags (resident_id, tag, region_key, birth, set_by, set_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id).bind(tag.as_str()).bind(household.region.key()).bind(birth)
                .bind(&actor.username).bind(now)
                .execute(&mut *tx).await?;
            }
            let entry = Entry {
                target: Some(format!("resident:{id}")),
                region_key: Some(household.region.key()),
                after: Some(after),
                ..Entry::new("resident.create")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, household.community.key());
            tx.commit().await?;
            id
        });
        self.resident(id, today).await?.ok_or(StoreError::NotFound)
    }

    /// Changes a resident. A tag kept keeps its setter and time; a new one records the
    /// actor. Moving to a household of another community is refused.
    pub async fn update_resident(
        &self,
        actor: &Actor,
        id: i64,
        input: ResidentInput,
        today: NaiveDate,
    ) -> Result<Resident> {
        let keys = self.keys()?;
        let c = check(&input, today).map_err(StoreError::Invalid)?;
        let before = self
            .resident(id, today)
            .await?
            .ok_or(StoreError::NotFound)?;
        let household = self.household_for(input.household_id).await?;
        if household.community != before.community {
            return Err(StoreError::Invalid(
                Problem::new("other_community", "registry.resident_other_community")
                    .arg("community", household.community)
                    .field("household_id"),
            ));
        }
        let id_lookup = keys.lookup("id_number", c.id.as_str()).to_vec();
        self.refuse_registered(&id_lookup, Some(id)).await?;
        let id_cipher = keys.encrypt_for("id_number", c.id.as_str());
        let phone_cipher = c
            .phone
            .as_ref()
            .map(|p| keys.encrypt_for("phone", p.as_str()));
        let phone_lookup = c
            .phone
            .as_ref()
            .map(|p| keys.lookup("phone", p.as_str()).to_vec());
        let flags = flags_of(&input.tags);
        let renter = i64::from(is_renter(household.tenure, &input.tags));
        let before_json = json!({
            "household_id": before.household_id, "name": before.name, "id_number": before.id_number,
            "phone": before.phone, "relation": before.relation.as_str(),
            "tags": before.tags.iter().filter(|t| !t.derived).map(|t| t.tag.as_str()).collect::<Vec<_>>(),
        });
        let after = resident_json(&input, &c);
        let now = now_ms();
        let birth = i64::from(date_key(c.birth));
        let kept: Vec<&str> = before
            .tags
            .iter()
            .filter(|t| !t.derived && input.tags.contains(&t.tag))
            .map(|t| t.tag.as_str())
            .collect();
        let source = if before.source == Source::Generated {
            Source::Manual
        } else {
            before.source
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE residents SET household_id = $1, region_key = $2, name = $3, gender = $4, birth = $5, \
                 relation = $6, id_cipher = $7, id_lookup = $8, id_masked = $9, phone_cipher = $10, \
                 phone_lookup = $11, phone_masked = $12, flags = $13, renter = $14, source = $15, updated_at = $16 \
                 WHERE id = $17",
            )
            .bind(household.id)
            .bind(household.region.key())
            .bind(input.name.trim())
            .bind(c.gender.as_str())
            .bind(birth)
            .bind(input.relation.as_str())
            .bind(&id_cipher)
            .bind(&id_lookup)
            .bind(c.id.masked())
            .bind(phone_cipher.as_deref())
            .bind(phone_lookup.as_deref())
            .bind(c.phone.as_ref().map(|p| p.masked()))
            .bind(flags)
            .bind(renter)
            .bind(source.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { already_registered() } else { StoreError::from(e) })?;
            // Tags no longer held go; kept ones follow the resident's place and birth.
            let all: Vec<&str> = Tag::ASSIGNED.iter().map(|t| t.as_str()).collect();
            for tag in all {
                let wanted = input.tags.iter().any(|t| t.as_str() == tag);
                if !wanted {
                    sqlx::query("DELETE FROM resident_tags WHERE resident_id = $1 AND tag = $2")
                        .bind(id).bind(tag).execute(&mut *tx).await?;
                } else if kept.contains(&tag) {
                    sqlx::query("UPDATE resident_tags SET region_key = $1, birth = $2 WHERE resident_id = $3 AND tag = $4")
                        .bind(household.region.key()).bind(birth).bind(id).bind(tag)
                        .execute(&mut *tx).await?;
                } else {
                    sqlx::query(
                        "INSERT INTO resident_tags (resident_id, tag, region_key, birth, set_by, set_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(id).bind(tag).bind(household.region.key()).bind(birth)
                    .bind(&actor.username).bind(now)
                    .execute(&mut *tx).await?;
                }
            }
            let entry = Entry {
                target: Some(format!("resident:{id}")),
                region_key: Some(household.region.key()),
                before: Some(before_json),
                after: Some(after),
                ..Entry::new("resident.update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, household.community.key());
            tx.commit().await?;
        });
        self.resident(id, today).await?.ok_or(StoreError::NotFound)
    }

    pub async fn delete_resident(&self, actor: &Actor, id: i64, today: NaiveDate) -> Result<()> {
        let before = self
            .resident(id, today)
            .await?
            .ok_or(StoreError::NotFound)?;
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM residents WHERE id = $1").bind(id).execute(&mut *tx).await?;
            // Care's enrolment ends with the record; its visits stay.
            sqlx::query(
                "UPDATE care_enrolments SET ended_at = $1, ended_by = $2, end_reason = $3 \
                 WHERE resident_id = $4 AND ended_at IS NULL",
            )
            .bind(now_ms())
            .bind(&actor.username)
            .bind(linli_core::care_visits::EndReason::Removed.code())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let entry = Entry {
                target: Some(format!("resident:{id}")),
                region_key: Some(before.region.key()),
                before: Some(json!({"name": before.name, "id_number": before.id_number, "household_id": before.household_id})),
                ..Entry::new("resident.delete")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            refresh_stats!(tx, before.community.key());
            tx.commit().await?;
        });
        Ok(())
    }

    /// Shows one identifier in full. The reason is required, and the audit entry (who,
    /// when, which field, why) is written before the value is decrypted: no entry, no
    /// value.
    pub async fn reveal_resident(
        &self,
        actor: &Actor,
        id: i64,
        field: PersonalField,
        reason: &str,
    ) -> Result<Option<String>> {
        let keys = self.keys()?;
        let reason = reason.trim();
        if reason.chars().count() < 2 {
            return Err(StoreError::Invalid(
                Problem::new("reason_required", "registry.reveal_reason_required").field("reason"),
            ));
        }
        check_text(reason, "reason", 200, true).map_err(StoreError::Invalid)?;
        let row: Option<(i64, Vec<u8>, Option<Vec<u8>>)> = on_read!(self, p => {
            sqlx::query_as("SELECT region_key, id_cipher, phone_cipher FROM residents WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        let Some((region_key, id_cipher, phone_cipher)) = row else {
            return Err(StoreError::NotFound);
        };
        let blob = match field {
            PersonalField::IdNumber => Some(id_cipher),
            PersonalField::Phone => phone_cipher,
        };
        let entry = Entry {
            target: Some(format!("resident:{id}")),
            region_key: Some(region_key),
            after: Some(json!({"field": field.as_str(), "reason": reason})),
            ..Entry::new("resident.reveal")
        };
        self.audit(actor, entry).await?;
        blob.map(|b| {
            keys.decrypt_for(field.as_str(), &b)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    /// The household a resident is put into, or a problem naming the field.
    async fn household_for(&self, id: i64) -> Result<Household> {
        self.household(id).await?.ok_or_else(|| {
            StoreError::Invalid(
                Problem::new("unknown_household", "registry.unknown_household")
                    .arg("id", id)
                    .field("household_id"),
            )
        })
    }

    /// Refuses an ID number already registered to someone other than `except`, saying in
    /// which community (and nothing more about that person).
    async fn refuse_registered(&self, lookup: &[u8], except: Option<i64>) -> Result<()> {
        let found: Option<(i64, i64)> = on_read!(self, p => {
            sqlx::query_as("SELECT id, community_key FROM residents WHERE id_lookup = $1")
                .bind(lookup)
                .fetch_optional(p)
                .await?
        });
        match found {
            Some((other, community)) if Some(other) != except => {
                let name = match RegionCode::from_key(community, linli_core::Level::Community) {
                    Some(code) => self
                        .region(code)
                        .await?
                        .map(|r| r.name)
                        .unwrap_or_else(|| code.to_string()),
                    None => community.to_string(),
                };
                Err(StoreError::Conflict(
                    Problem::new("id_registered", "registry.id_registered_in")
                        .arg("community", name)
                        .field("id_number"),
                ))
            }
            _ => Ok(()),
        }
    }
}

fn already_registered() -> StoreError {
    StoreError::Conflict(Problem::new("id_registered", "registry.id_registered").field("id_number"))
}
