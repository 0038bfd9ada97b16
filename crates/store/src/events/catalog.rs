//! The events' catalog: departments, the category tree (the responsibility list) and the
//! grids' admission lists. Seeded from the built-in defaults the first time; edited by
//! admins or replaced by an imported workbook, every change audited.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use linli_core::events::category::{
    default_categories, default_departments, CategoryDef, DepartmentDef, HandlingLevel,
};
use linli_core::region::RegionCode;
use linli_core::Problem;
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub code: String,
    pub parent: Option<String>,
    pub position: i64,
    pub name_zh: String,
    pub name_en: String,
    pub deadline_minutes: i64,
    pub grace_minutes: i64,
    pub level: HandlingLevel,
    pub department_id: Option<i64>,
    pub grid_may_close: bool,
    pub active: bool,
}

type CategoryRow = (
    String,
    Option<String>,
    i64,
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    bool,
    bool,
);

const CATEGORY_COLUMNS: &str = "code, parent_code, position, name_zh, name_en, deadline_minutes, \
     grace_minutes, level, department_id, grid_may_close, active";

fn decode_category(r: CategoryRow) -> Result<Category> {
    let level = HandlingLevel::parse(&r.7)
        .ok_or_else(|| StoreError::Corrupt(format!("category {}: level {:?}", r.0, r.7)))?;
    Ok(Category {
        code: r.0,
        parent: r.1,
        position: r.2,
        name_zh: r.3,
        name_en: r.4,
        deadline_minutes: r.5,
        grace_minutes: r.6,
        level,
        department_id: r.8,
        grid_may_close: r.9,
        active: r.10,
    })
}

impl Category {
    pub fn name(&self, lang: linli_core::i18n::Lang) -> &str {
        match lang {
            linli_core::i18n::Lang::Zh => &self.name_zh,
            linli_core::i18n::Lang::En => &self.name_en,
        }
    }
}

impl Department {
    pub fn name(&self, lang: linli_core::i18n::Lang) -> &str {
        match lang {
            linli_core::i18n::Lang::Zh => &self.name_zh,
            linli_core::i18n::Lang::En => &self.name_en,
        }
    }
}

/// The whole catalog at one moment, as the hot paths (creating an event, naming categories
/// and departments in answers) read it.
#[derive(Debug, Default)]
pub struct Catalog {
    /// In list order (parents before their children).
    pub categories: Vec<Category>,
    /// By code.
    pub departments: Vec<Department>,
    category_index: HashMap<String, usize>,
}

impl Catalog {
    fn new(categories: Vec<Category>, departments: Vec<Department>) -> Catalog {
        let category_index = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i))
            .collect();
        Catalog {
            categories,
            departments,
            category_index,
        }
    }

    pub fn category(&self, code: &str) -> Option<&Category> {
        self.category_index.get(code).map(|&i| &self.categories[i])
    }

    pub fn department(&self, id: i64) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }
}

/// The catalog kept in memory, shared by a store's clones: changes made through this
/// process are seen at once, another process's within [`crate::fresh::FRESH_FOR`].
pub type CatalogCache = crate::fresh::Fresh<Catalog>;

/// Inserts or updates departments by code inside `tx`; returns code → id.
macro_rules! upsert_departments {
    ($tx:expr, $defs:expr, $now:expr) => {{
        let mut ids: HashMap<String, i64> = HashMap::new();
        for d in $defs {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO departments (code, name_zh, name_en, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, \
                 name_en = excluded.name_en, updated_at = excluded.updated_at RETURNING id",
            )
            .bind(&d.code)
            .bind(&d.name_zh)
            .bind(&d.name_en)
            .bind($now)
            .fetch_one(&mut *$tx)
            .await?;
            ids.insert(d.code.clone(), id);
        }
        ids
    }};
}

/// Inserts or updates categories by code inside `tx`, parents first so the foreign key
/// holds; `positions` continue after `start`.
macro_rules! upsert_categories {
    ($tx:expr, $defs:expr, $dept_ids:expr, $start:expr, $now:expr) => {{
        let defs: &[CategoryDef] = $defs;
        let mut ordered: Vec<&CategoryDef> = Vec::with_capacity(defs.len());
        let mut placed: HashSet<&str> = HashSet::new();
        let in_file: HashSet<&str> = defs.iter().map(|d| d.code.as_str()).collect();
        while ordered.len() < defs.len() {
            let before = ordered.len();
            for d in defs {
                let ready = d
                    .parent
                    .as_deref()
                    .is_none_or(|p| placed.contains(p) || !in_file.contains(p));
                if !placed.contains(d.code.as_str()) && ready {
                    placed.insert(d.code.as_str());
                    ordered.push(d);
                }
            }
            if ordered.len() == before {
                break; // a loop; refused by the parser before it gets here
            }
        }
        for (i, d) in ordered.into_iter().enumerate() {
            let dept: Option<i64> = d.department.as_ref().and_then(|c| $dept_ids.get(c).copied());
            sqlx::query(
                "INSERT INTO event_categories (code, parent_code, position, name_zh, name_en, \
                 deadline_minutes, grace_minutes, level, department_id, grid_may_close, active, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, $11) \
                 ON CONFLICT (code) DO UPDATE SET parent_code = excluded.parent_code, \
                 name_zh = excluded.name_zh, name_en = excluded.name_en, \
                 deadline_minutes = excluded.deadline_minutes, grace_minutes = excluded.grace_minutes, \
                 level = excluded.level, department_id = excluded.department_id, \
                 grid_may_close = excluded.grid_may_close, active = TRUE, updated_at = excluded.updated_at",
            )
            .bind(&d.code)
            .bind(d.parent.as_deref())
            .bind($start + i as i64)
            .bind(&d.name_zh)
            .bind(&d.name_en)
            .bind(d.deadline_minutes)
            .bind(d.grace_minutes)
            .bind(d.level.as_str())
            .bind(dept)
            .bind(d.grid_may_close)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// What an imported responsibility list changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogImport {
    pub departments: usize,
    pub categories: usize,
}

impl Store {
    /// Seeds the built-in departments and categories into an empty catalog.
    pub async fn ensure_event_catalog(&self) -> Result<()> {
        let n: i64 = on_read!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM event_categories").fetch_one(p).await?
        });
        if n > 0 {
            return Ok(());
        }
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let ids = upsert_departments!(tx, default_departments(), now);
            upsert_categories!(tx, default_categories(), ids, 0i64, now);
            tx.commit().await?;
        });
        self.forget_catalog();
        Ok(())
    }

    /// The catalog, from memory while fresh (see [`CatalogCache`]).
    pub async fn catalog(&self) -> Result<Arc<Catalog>> {
        self.catalog
            .get_or_read(|| async {
                Ok(Catalog::new(
                    self.categories().await?,
                    self.departments().await?,
                ))
            })
            .await
    }

    /// Drops the catalog kept in memory after this process changed it.
    pub(crate) fn forget_catalog(&self) {
        self.catalog.forget();
    }

    pub async fn departments(&self) -> Result<Vec<Department>> {
        let rows: Vec<(i64, String, String, String)> = on_read!(self, p => {
            sqlx::query_as("SELECT id, code, name_zh, name_en FROM departments ORDER BY code")
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, code, name_zh, name_en)| Department {
                id,
                code,
                name_zh,
                name_en,
            })
            .collect())
    }

    /// The category tree in list order (parents before their children).
    pub async fn categories(&self) -> Result<Vec<Category>> {
        let rows: Vec<CategoryRow> = on_read!(self, p => {
            sqlx::query_as(&format!("SELECT {CATEGORY_COLUMNS} FROM event_categories ORDER BY position, code"))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(decode_category).collect()
    }

    pub async fn category(&self, code: &str) -> Result<Option<Category>> {
        let row: Option<CategoryRow> = on_read!(self, p => {
            sqlx::query_as(&format!("SELECT {CATEGORY_COLUMNS} FROM event_categories WHERE code = $1"))
                .bind(code)
                .fetch_optional(p)
                .await?
        });
        row.map(decode_category).transpose()
    }

    /// Replaces or extends the responsibility list: departments and categories are updated
    /// by code, new ones added; nothing is deleted (events keep their category). All or
    /// nothing, audited.
    pub async fn import_catalog(
        &self,
        actor: &Actor,
        departments: &[DepartmentDef],
        categories: &[CategoryDef],
    ) -> Result<CatalogImport> {
        let now = now_ms();
        let before = self.categories().await?.len();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let mut ids = upsert_departments!(tx, departments, now);
            let known: Vec<(String, i64)> = sqlx::query_as("SELECT code, id FROM departments")
                .fetch_all(&mut *tx)
                .await?;
            for (code, id) in known {
                ids.entry(code).or_insert(id);
            }
            let start = i64::try_from(before).unwrap_or(0);
            upsert_categories!(tx, categories, ids, start, now);
            let entry = Entry {
                target: Some("event_categories".into()),
                after: Some(json!({"departments": departments.len(), "categories": categories.len()})),
                ..Entry::new("events.catalog_import")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        self.forget_catalog();
        Ok(CatalogImport {
            departments: departments.len(),
            categories: categories.len(),
        })
    }

    /// Edits one category's deadline, grace, level, department and grid default.
    pub async fn update_category(&self, actor: &Actor, def: &CategoryDef) -> Result<Category> {
        let Some(before) = self.category(&def.code).await? else {
            return Err(StoreError::NotFound);
        };
        let department_id = match &def.department {
            None => None,
            Some(code) => Some(self.department_id(code).await?.ok_or_else(|| {
                StoreError::Invalid(
                    Problem::new("unknown_department", "events.import.unknown_department")
                        .arg("value", code)
                        .field("department"),
                )
            })?),
        };
        if def.level == HandlingLevel::Department && department_id.is_none() {
            return Err(StoreError::Invalid(
                Problem::new("department_required", "events.import.department_required")
                    .field("department"),
            ));
        }
        let now = now_ms();
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE event_categories SET name_zh = $2, name_en = $3, deadline_minutes = $4, \
                 grace_minutes = $5, level = $6, department_id = $7, grid_may_close = $8, updated_at = $9 \
                 WHERE code = $1",
            )
            .bind(&def.code)
            .bind(&def.name_zh)
            .bind(&def.name_en)
            .bind(def.deadline_minutes)
            .bind(def.grace_minutes)
            .bind(def.level.as_str())
            .bind(department_id)
            .bind(def.grid_may_close)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let entry = Entry {
                target: Some(format!("event_category:{}", def.code)),
                before: Some(json!({"deadline_minutes": before.deadline_minutes, "grace_minutes": before.grace_minutes,
                    "level": before.level.as_str(), "department_id": before.department_id, "grid_may_close": before.grid_may_close})),
                after: Some(json!({"deadline_minutes": def.deadline_minutes, "grace_minutes": def.grace_minutes,
                    "level": def.level.as_str(), "department_id": department_id, "grid_may_close": def.grid_may_close})),
                ..Entry::new("events.category_update")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        self.forget_catalog();
        self.category(&def.code).await?.ok_or(StoreError::NotFound)
    }

    pub async fn department_id(&self, code: &str) -> Result<Option<i64>> {
        Ok(on_read!(self, p => {
            sqlx::query_scalar("SELECT id FROM departments WHERE code = $1")
                .bind(code.trim())
                .fetch_optional(p)
                .await?
        }))
    }

    /// Makes an account a clerk of a department (or of none).
    pub async fn set_user_department(
        &self,
        actor: &Actor,
        user_id: i64,
        department: Option<i64>,
    ) -> Result<()> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE users SET department_id = $2 WHERE id = $1")
                .bind(user_id)
                .bind(department)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let entry = Entry {
                target: Some(format!("user:{user_id}")),
                after: Some(json!({"department_id": department})),
                ..Entry::new("user.department")
            };
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces the admission lists of the communities named in `rows` (each community's
    /// rows are its whole list). Communities not named keep theirs.
    pub async fn import_admissions(
        &self,
        actor: &Actor,
        rows: &[(RegionCode, String)],
    ) -> Result<usize> {
        let now = now_ms();
        let mut by_community: Vec<(RegionCode, Vec<&str>)> = Vec::new();
        for (c, cat) in rows {
            match by_community.iter_mut().find(|(k, _)| k == c) {
                Some((_, v)) => v.push(cat),
                None => by_community.push((*c, vec![cat])),
            }
        }
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            for (community, cats) in &by_community {
                let exists: Option<i64> = sqlx::query_scalar("SELECT key FROM regions WHERE level = 5 AND key = $1")
                    .bind(community.key())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::Invalid(
                        Problem::new("unknown_community", "events.import.bad_community")
                            .arg("value", community)
                            .field("community"),
                    ));
                }
                sqlx::query("DELETE FROM admissions WHERE community_key = $1")
                    .bind(community.key())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO admission_lists (community_key, updated_at, updated_by) VALUES ($1, $2, $3) \
                     ON CONFLICT (community_key) DO UPDATE SET updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(community.key())
                .bind(now)
                .bind(actor.user_id)
                .execute(&mut *tx)
                .await?;
                for cat in cats {
                    sqlx::query("INSERT INTO admissions (community_key, category_code) VALUES ($1, $2)")
                        .bind(community.key())
                        .bind(*cat)
                        .execute(&mut *tx)
                        .await?;
                }
                let entry = Entry {
                    target: Some(format!("admission_list:{community}")),
                    region_key: Some(community.key()),
                    after: Some(json!({"categories": cats})),
                    ..Entry::new("events.admission_import")
                };
                write_entry!(&mut *tx, actor, &entry)?;
            }
            tx.commit().await?;
        });
        Ok(by_community.len())
    }

    /// A community's admission list, if it has its own.
    pub async fn admission_list(&self, community: RegionCode) -> Result<Option<Vec<String>>> {
        let has: Option<i64> = on_read!(self, p => {
            sqlx::query_scalar("SELECT community_key FROM admission_lists WHERE community_key = $1")
                .bind(community.key())
                .fetch_optional(p)
                .await?
        });
        if has.is_none() {
            return Ok(None);
        }
        let cats: Vec<String> = on_read!(self, p => {
            sqlx::query_scalar("SELECT category_code FROM admissions WHERE community_key = $1 ORDER BY category_code")
                .bind(community.key())
                .fetch_all(p)
                .await?
        });
        Ok(Some(cats))
    }
}

/// Whether the grids of `community` may close `category` (given with its ancestors, nearest
/// first) on the spot: by the community's own list when it has one, else by the category's
/// default. A list entry covers the category's subcategories.
macro_rules! grid_may_close {
    ($exec:expr, $community_key:expr, $chain:expr, $default:expr) => {{
        let chain: &[String] = $chain;
        let listed: Option<i64> = sqlx::query_scalar(
            "SELECT community_key FROM admission_lists WHERE community_key = $1",
        )
        .bind($community_key)
        .fetch_optional(&mut *$exec)
        .await?;
        if listed.is_none() {
            $default
        } else {
            let mut found = false;
            for code in chain {
                let hit: Option<String> = sqlx::query_scalar(
                    "SELECT category_code FROM admissions WHERE community_key = $1 AND category_code = $2",
                )
                .bind($community_key)
                .bind(code)
                .fetch_optional(&mut *$exec)
                .await?;
                if hit.is_some() {
                    found = true;
                    break;
                }
            }
            found
        }
    }};
}
pub(crate) use grid_may_close;

/// A category and its ancestors' codes (nearest first), read inside `exec`.
macro_rules! category_chain {
    ($exec:expr, $code:expr) => {{
        let mut chain: Vec<String> = Vec::new();
        let mut first: Option<(i64, i64, String, Option<i64>, bool, bool)> = None;
        let mut next: Option<String> = Some($code.to_string());
        while let Some(code) = next.take() {
            if chain.len() > 16 || chain.contains(&code) {
                break;
            }
            let row: Option<(Option<String>, i64, i64, String, Option<i64>, bool, bool)> = sqlx::query_as(
                "SELECT parent_code, deadline_minutes, grace_minutes, level, department_id, grid_may_close, active \
                 FROM event_categories WHERE code = $1",
            )
            .bind(&code)
            .fetch_optional(&mut *$exec)
            .await?;
            let Some((parent, deadline, grace, level, dept, grid, active)) = row else { break };
            if first.is_none() {
                first = Some((deadline, grace, level, dept, grid, active));
            }
            chain.push(code);
            next = parent;
        }
        (chain, first)
    }};
}
pub(crate) use category_chain;
