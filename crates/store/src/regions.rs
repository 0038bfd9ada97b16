//! Reading the region tree. Every subtree query is a range over the key, filtered by level:
//! no recursion, no closure table.

use linli_core::grid::Source;
use linli_core::region::{display_name, KeyRange};
use linli_core::{Level, RegionCode, Scope};
use serde::Serialize;

use crate::{on_read, Result, Store, StoreError};

/// A region as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    pub code: RegionCode,
    pub name: String,
    pub source: Source,
}

impl Region {
    pub fn level(&self) -> Level {
        self.code.level()
    }

    /// The name to show, given the parent's name (see [`display_name`]).
    pub fn display_name(&self, parent: Option<&str>) -> String {
        display_name(&self.name, parent)
    }
}

/// A region with the number of regions directly below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionRow {
    pub region: Region,
    pub child_count: i64,
}

pub(crate) type RawRegion = (i32, i64, String, String);

pub(crate) fn decode(row: RawRegion) -> Result<Region> {
    let (level, key, name, source) = row;
    let level = i16::try_from(level)
        .ok()
        .and_then(Level::from_number)
        .ok_or_else(|| StoreError::Corrupt(format!("region level {level}")))?;
    let code = RegionCode::from_key(key, level)
        .ok_or_else(|| StoreError::Corrupt(format!("region key {key} at level {level:?}")))?;
    let source = Source::parse(&source)
        .ok_or_else(|| StoreError::Corrupt(format!("region source {source:?}")))?;
    Ok(Region { code, name, source })
}

pub(crate) fn level_number(level: Level) -> i32 {
    i32::from(level.number())
}

/// The statement behind [`Store::summary`] (binding the subtree's key range as `$1`, `$2`)
/// and the levels it counts: public so that the benchmark explains the very same query.
pub fn summary_sql(code: Option<RegionCode>) -> (String, Vec<Level>) {
    let below = code.map(|c| c.level());
    let levels: Vec<Level> = Level::ALL
        .into_iter()
        .filter(|l| below.is_none_or(|b| *l > b))
        .collect();
    // The level numbers are our own constants, so they are written into the SQL.
    let sql = levels
        .iter()
        .map(|l| {
            let n = level_number(*l);
            format!(
                "SELECT {n}, count(*) FROM regions WHERE level = {n} AND key >= $1 AND key < $2"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    (sql, levels)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

impl Store {
    pub async fn region(&self, code: RegionCode) -> Result<Option<Region>> {
        let row = on_read!(self, p => {
            sqlx::query_as::<_, RawRegion>(
                "SELECT level, key, name, source FROM regions WHERE level = $1 AND key = $2",
            )
            .bind(level_number(code.level()))
            .bind(code.key())
            .fetch_optional(p)
            .await?
        });
        row.map(decode).transpose()
    }

    /// The regions with these codes, in the order given, skipping any that do not exist.
    /// One query however many codes (ancestors for breadcrumbs, search results' paths).
    pub async fn regions(&self, codes: &[RegionCode]) -> Result<Vec<Region>> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_read!(self, p => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "SELECT level, key, name, source FROM regions WHERE ",
            );
            for (i, c) in codes.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(level = ")
                    .push_bind(level_number(c.level()))
                    .push(" AND key = ")
                    .push_bind(c.key())
                    .push(")");
            }
            qb.build_query_as::<RawRegion>().fetch_all(p).await?
        });
        let mut found: Vec<Region> = rows.into_iter().map(decode).collect::<Result<_>>()?;
        found.sort_by_key(|r| codes.iter().position(|c| *c == r.code));
        Ok(found)
    }

    /// The regions of `level` within `range`, in code order: one range of the primary key
    /// however many parents they have (every community of a district, say).
    pub async fn regions_at(&self, level: Level, range: KeyRange) -> Result<Vec<Region>> {
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, RawRegion>(
                "SELECT level, key, name, source FROM regions WHERE level = $1 AND key >= $2 AND key < $3 ORDER BY key",
            )
            .bind(level_number(level))
            .bind(range.start)
            .bind(range.end)
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(decode).collect()
    }

    /// The regions directly below `parent` (the provinces for `None`), each with its own
    /// number of children, in code order.
    pub async fn children(&self, parent: Option<RegionCode>) -> Result<Vec<RegionRow>> {
        let (level, range) = match parent {
            Some(p) => match p.level().child() {
                Some(l) => (l, p.range()),
                None => return Ok(Vec::new()),
            },
            None => (Level::Province, Scope::Nation.range()),
        };
        let child_width = 10i64.pow(18 - level.digits() as u32);
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, (i32, i64, String, String, i64)>(
                "SELECT c.level, c.key, c.name, c.source, \
                    (SELECT count(*) FROM regions g \
                      WHERE g.level = $4 AND g.key >= c.key AND g.key < c.key + $5) \
                 FROM regions c WHERE c.level = $1 AND c.key >= $2 AND c.key < $3 \
                 ORDER BY c.key",
            )
            .bind(level_number(level))
            .bind(range.start)
            .bind(range.end)
            .bind(level_number(level) + 1)
            .bind(child_width)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(l, k, n, s, count)| {
                Ok(RegionRow {
                    region: decode((l, k, n, s))?,
                    child_count: count,
                })
            })
            .collect()
    }

    /// How many regions lie directly below `code`.
    pub async fn child_count(&self, code: RegionCode) -> Result<i64> {
        let Some(level) = code.level().child() else {
            return Ok(0);
        };
        let range = code.range();
        Ok(on_read!(self, p => {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM regions WHERE level = $1 AND key >= $2 AND key < $3",
            )
            .bind(level_number(level))
            .bind(range.start)
            .bind(range.end)
            .fetch_one(p)
            .await?
        }))
    }

    /// Number of regions of each level strictly below `code` (the whole country for `None`):
    /// one statement, one primary-key range count per level.
    pub async fn summary(&self, code: Option<RegionCode>) -> Result<Vec<(Level, i64)>> {
        let (sql, levels) = summary_sql(code);
        if levels.is_empty() {
            return Ok(Vec::new());
        }
        let range = code.map(|c| c.range()).unwrap_or(Scope::Nation.range());
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, (i32, i64)>(&sql).bind(range.start).bind(range.end).fetch_all(p).await?
        });
        Ok(levels
            .into_iter()
            .map(|l| {
                (
                    l,
                    rows.iter()
                        .find(|(n, _)| *n == level_number(l))
                        .map(|(_, c)| *c)
                        .unwrap_or(0),
                )
            })
            .collect())
    }

    /// Regions in `scope` whose name contains `q`, in code order (so a street comes before its
    /// communities), at most `limit`. The scan is bounded by the scope's key range.
    pub async fn search(&self, scope: Scope, q: &str, limit: i64) -> Result<Vec<Region>> {
        let q = q.trim();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let range = scope.range();
        let min_level = scope.root().map(|c| level_number(c.level())).unwrap_or(1);
        let rows = on_read!(self, p => {
            sqlx::query_as::<_, RawRegion>(
                "SELECT level, key, name, source FROM regions \
                 WHERE key >= $1 AND key < $2 AND level >= $3 AND name LIKE $4 ESCAPE '\\' \
                 ORDER BY key, level LIMIT $5",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(min_level)
            .bind(like_escape(q))
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(decode).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_escape("清波"), "%清波%");
        assert_eq!(super::like_escape("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
