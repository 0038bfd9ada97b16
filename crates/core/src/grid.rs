//! Grids (网格) and micro-grids (微网格): how a grid was drawn and who staffs it.
//!
//! Practice 003 sets grids by four rules: a closed compound is its own grid, a market
//! complex is its own grid, an open residential area is split by roads, a large estate is
//! split by rows of buildings. Practice 000 staffs each grid with a grid head, a full-time and
//! a part-time grid worker and a cadre as grid instructor.

use serde::{Deserialize, Serialize};

/// The setting rule a grid was drawn by (practice 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridKind {
    /// 封闭式小区独立设网格
    ClosedCompound,
    /// 市场综合体独立设网格
    MarketComplex,
    /// 开放式居住区按道路分割设网格
    OpenAreaByRoads,
    /// 大体量居住区按联排和楼栋分割设网格
    LargeEstateByBuildings,
}

impl GridKind {
    pub const ALL: [GridKind; 4] = [
        GridKind::ClosedCompound,
        GridKind::MarketComplex,
        GridKind::OpenAreaByRoads,
        GridKind::LargeEstateByBuildings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GridKind::ClosedCompound => "closed_compound",
            GridKind::MarketComplex => "market_complex",
            GridKind::OpenAreaByRoads => "open_area_by_roads",
            GridKind::LargeEstateByBuildings => "large_estate_by_buildings",
        }
    }

    /// Accepts the machine name or the Chinese or English label, so that a community's own
    /// spreadsheet can be imported as it is.
    pub fn parse(s: &str) -> Option<GridKind> {
        let s = s.trim();
        Self::ALL.into_iter().find(|k| {
            let zh = crate::i18n::text(crate::i18n::Lang::Zh, k.label_key());
            // "开放式居住区（按道路分割）" is also accepted as just "开放式居住区".
            let zh_short = zh.split('（').next().unwrap_or(zh);
            k.as_str() == s
                || zh == s
                || zh_short == s
                || crate::i18n::text(crate::i18n::Lang::En, k.label_key()).eq_ignore_ascii_case(s)
        })
    }

    pub fn label_key(self) -> &'static str {
        match self {
            GridKind::ClosedCompound => "grid_kind.closed_compound",
            GridKind::MarketComplex => "grid_kind.market_complex",
            GridKind::OpenAreaByRoads => "grid_kind.open_area_by_roads",
            GridKind::LargeEstateByBuildings => "grid_kind.large_estate_by_buildings",
        }
    }
}

/// A role on a grid's staff team (practice 000: 1 网格长, 1 专职网格员 + 1 兼职网格员, 1 包联干部
/// as 网格指导员).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// 网格长
    GridHead,
    /// 专职网格员
    FullTimeWorker,
    /// 兼职网格员
    PartTimeWorker,
    /// 网格指导员
    Instructor,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] = [
        StaffRole::GridHead,
        StaffRole::FullTimeWorker,
        StaffRole::PartTimeWorker,
        StaffRole::Instructor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::GridHead => "grid_head",
            StaffRole::FullTimeWorker => "full_time_worker",
            StaffRole::PartTimeWorker => "part_time_worker",
            StaffRole::Instructor => "instructor",
        }
    }

    pub fn parse(s: &str) -> Option<StaffRole> {
        let s = s.trim();
        Self::ALL.into_iter().find(|k| {
            k.as_str() == s
                || crate::i18n::text(crate::i18n::Lang::Zh, k.label_key()) == s
                || crate::i18n::text(crate::i18n::Lang::En, k.label_key()).eq_ignore_ascii_case(s)
        })
    }

    pub fn label_key(self) -> &'static str {
        match self {
            StaffRole::GridHead => "staff_role.grid_head",
            StaffRole::FullTimeWorker => "staff_role.full_time_worker",
            StaffRole::PartTimeWorker => "staff_role.part_time_worker",
            StaffRole::Instructor => "staff_role.instructor",
        }
    }
}

/// One member of a grid's staff team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub role: StaffRole,
    pub name: String,
}

/// Where a row came from: the national tables, a person, an import, or the demo generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Official,
    Manual,
    Imported,
    Generated,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Official => "official",
            Source::Manual => "manual",
            Source::Imported => "imported",
            Source::Generated => "generated",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        [
            Source::Official,
            Source::Manual,
            Source::Imported,
            Source::Generated,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_names_and_labels() {
        for k in GridKind::ALL {
            assert_eq!(GridKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            GridKind::parse("封闭式小区"),
            Some(GridKind::ClosedCompound)
        );
        assert_eq!(GridKind::parse("市场综合体"), Some(GridKind::MarketComplex));
        assert_eq!(
            GridKind::parse("开放式居住区"),
            Some(GridKind::OpenAreaByRoads)
        );
        assert_eq!(GridKind::parse("bogus"), None);
        assert_eq!(StaffRole::parse("网格长"), Some(StaffRole::GridHead));
        assert_eq!(
            StaffRole::parse("兼职网格员"),
            Some(StaffRole::PartTimeWorker)
        );
    }
}
