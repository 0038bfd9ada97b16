//! The demo district: 上城区 (330102) from the real national divisions, with grids and
//! micro-grids generated at the size practice 000 reports for it (1,361 grids and 9,201
//! micro-grids over its 203 communities), its real boundary, and demo accounts.
//!
//! At a `scale` above 0 it also fills the registry (人、房、设施): buildings, households,
//! residents, facilities and hubs, generated at that fraction of the real district (see
//! [`crate::demo_registry`]).
//!
//! Generation is seeded, so every run builds the same district. Generated rows carry
//! `source = generated`, and the pages say so.

use linli_core::geo::MultiPolygon;
use linli_core::grid::{GridKind, Source, StaffMember, StaffRole};
use linli_core::{Level, RegionCode, Role, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::audit::{write_entry, Actor, Entry};
use crate::demo_registry::{check_scale, RegistryDemoReport};
use crate::divisions::Progress;
use crate::grids::{insert_grids, GridInput};
use crate::maps::LayerKind;
use crate::regions::level_number;
use crate::{on_write, NewUser, Result, Store, StoreError};

pub const DISTRICT: &str = "330102";
pub const GRIDS: usize = 1_361;
pub const MICRO_GRIDS: usize = 9_201;
const SEED: u64 = 330_102;

const BOUNDARY: &str = include_str!("../data/330102_shangcheng.wgs84.geojson");
pub const BOUNDARY_ATTRIBUTION: &str =
    "上城区界 © cnmaps (BSD-3) / ChinaAdminDivisonSHP (MIT), 2021";
pub const ROADS_ATTRIBUTION: &str = "道路 © OpenStreetMap contributors (ODbL)";

/// A demo account: username, display name, role, scope, and a clerk's department code.
pub struct DemoAccount {
    pub username: &'static str,
    pub display_name: &'static str,
    pub role: Role,
    pub scope: &'static str,
    pub department: Option<&'static str>,
}

pub const ACCOUNTS: [DemoAccount; 7] = [
    DemoAccount {
        username: "admin",
        display_name: "上城区管理员",
        role: Role::Admin,
        scope: "330102",
        department: None,
    },
    DemoAccount {
        username: "leader",
        display_name: "湖滨街道领导",
        role: Role::Leader,
        scope: "330102003",
        department: None,
    },
    DemoAccount {
        username: "shegong",
        display_name: "社工（清波门社区）",
        role: Role::CommunityWorker,
        scope: "330102001051",
        department: None,
    },
    DemoAccount {
        username: "wangge",
        display_name: "网格员（清波门社区第1网格）",
        role: Role::GridWorker,
        scope: "330102001051001",
        department: None,
    },
    DemoAccount {
        username: "root",
        display_name: "平台管理员（全国）",
        role: Role::Admin,
        scope: "CN",
        department: None,
    },
    DemoAccount {
        username: "jumin",
        display_name: "居民（清波门社区）",
        role: Role::Resident,
        scope: "330102",
        department: None,
    },
    DemoAccount {
        username: "chengguan",
        display_name: "区城管局办事员",
        role: Role::DepartmentClerk,
        scope: "330102",
        department: Some("cgj"),
    },
];

/// What the demo built.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    pub communities: usize,
    pub grids: usize,
    pub micro_grids: usize,
    pub roads: usize,
    /// The scale the registry was generated at (0: no registry).
    pub scale: f64,
    /// The generated registry and the district's figures after it (all zero at scale 0).
    pub registry: RegistryDemoReport,
    /// Generated events in the district (a year of them, made once).
    pub events: i64,
}

/// The built-in boundary of 上城区.
pub(crate) fn district_boundary() -> Result<MultiPolygon> {
    let boundary: serde_json::Value = serde_json::from_str(BOUNDARY)
        .map_err(|e| StoreError::Corrupt(format!("built-in boundary: {e}")))?;
    MultiPolygon::from_geojson(&boundary)
        .map_err(|e| StoreError::Corrupt(format!("built-in boundary: {e}")))
}

/// Forwards a later stage's progress after `done` units of an earlier one, so that one bar
/// covers both.
struct After<'a> {
    inner: &'a dyn Progress,
    done: u64,
}

impl Progress for After<'_> {
    fn start(&self, total: u64) {
        self.inner.start(self.done + total);
    }
    fn advance(&self, rows: u64) {
        self.inner.advance(rows);
    }
}

/// Splits `total` over `weights` in proportion, each share at least 1, the shares summing to
/// `total` exactly (largest remainder).
pub fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let n = weights.len();
    if n == 0 {
        return Vec::new();
    }
    let spare = total.saturating_sub(n) as f64;
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| spare * w / sum).collect();
    let mut shares: Vec<usize> = exact.iter().map(|x| 1 + x.floor() as usize).collect();
    let mut left = total.saturating_sub(shares.iter().sum());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "沈", "蒋",
    "钱", "俞", "汪",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "晓东", "海燕", "志强", "丹", "婷", "斌", "浩",
];

fn person(rng: &mut StdRng) -> String {
    let s = SURNAMES[rng.gen_range(0..SURNAMES.len())];
    let g = GIVEN[rng.gen_range(0..GIVEN.len())];
    format!("{s}{g}")
}

/// "清波门社区居委会" → "清波门社区", "某某村村委会" → "某某村".
pub fn short_name(name: &str) -> &str {
    for suffix in ["居委会", "居民委员会", "村委会", "村民委员会"] {
        if let Some(s) = name.strip_suffix(suffix) {
            if !s.is_empty() {
                return s;
            }
        }
    }
    name
}

fn kind(rng: &mut StdRng) -> GridKind {
    match rng.gen_range(0..100) {
        0..=44 => GridKind::ClosedCompound,
        45..=49 => GridKind::MarketComplex,
        50..=79 => GridKind::OpenAreaByRoads,
        _ => GridKind::LargeEstateByBuildings,
    }
}

impl Store {
    /// Builds the demo district: loads 上城区's divisions if the national tables are not
    /// loaded yet, replaces its generated grids, sets its boundary and (when given) roads,
    /// creates or resets the demo accounts with `password`, and, when `scale` is above 0,
    /// replaces its generated registry with one at `scale` of the real district's size
    /// ([`Store::build_demo_registry`]; needs the keys for personal data). `scale` 0 leaves
    /// the registry as it is.
    pub async fn build_demo(
        &self,
        password: &str,
        scale: f64,
        roads: Option<&[Vec<[f64; 2]>]>,
        progress: &dyn Progress,
    ) -> Result<DemoReport> {
        check_scale(scale, true)?;
        if scale > 0.0 {
            // Fail before anything is written.
            self.keys()?;
        }
        let district =
            RegionCode::parse(DISTRICT).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if self.region(district).await?.is_none() {
            self.load_divisions(DISTRICT, &crate::divisions::Quiet)
                .await?;
        }
        let actor = Actor::system("linli demo");
        let streets = self.children(Some(district)).await?;
        let mut communities = Vec::new();
        for s in &streets {
            // One query per street (14): the communities with their names.
            communities.extend(self.children(Some(s.region.code)).await?);
        }
        let mut rng = StdRng::seed_from_u64(SEED);
        let weights: Vec<f64> = communities
            .iter()
            .map(|_| rng.gen_range(0.5..1.5))
            .collect();
        let grid_counts = apportion(GRIDS, &weights);
        let mut grid_inputs: Vec<(RegionCode, GridInput)> = Vec::with_capacity(GRIDS);
        for (c, n) in communities.iter().zip(&grid_counts) {
            let short = short_name(&c.region.name);
            for i in 1..=*n {
                let code = c
                    .region
                    .code
                    .child(i as u32)
                    .ok_or_else(|| StoreError::Corrupt("too many grids".into()))?;
                let staff = vec![
                    StaffMember {
                        role: StaffRole::GridHead,
                        name: person(&mut rng),
                    },
                    StaffMember {
                        role: StaffRole::FullTimeWorker,
                        name: person(&mut rng),
                    },
                    StaffMember {
                        role: StaffRole::PartTimeWorker,
                        name: person(&mut rng),
                    },
                    StaffMember {
                        role: StaffRole::Instructor,
                        name: person(&mut rng),
                    },
                ];
                grid_inputs.push((
                    code,
                    GridInput {
                        name: format!("{short}第{i}网格"),
                        kind: Some(kind(&mut rng)),
                        staff,
                        boundary: None,
                    },
                ));
            }
        }
        let weights: Vec<f64> = grid_inputs
            .iter()
            .map(|_| rng.gen_range(0.4..1.6))
            .collect();
        let micro_counts = apportion(MICRO_GRIDS, &weights);
        let mut micro_inputs: Vec<(RegionCode, GridInput)> = Vec::with_capacity(MICRO_GRIDS);
        for ((g, _), n) in grid_inputs.iter().zip(&micro_counts) {
            for i in 1..=*n {
                let code = g
                    .child(i as u32)
                    .ok_or_else(|| StoreError::Corrupt("too many micro-grids".into()))?;
                let staff = vec![StaffMember {
                    role: StaffRole::GridHead,
                    name: person(&mut rng),
                }];
                micro_inputs.push((
                    code,
                    GridInput {
                        name: format!("{i}幢"),
                        kind: None,
                        staff,
                        boundary: None,
                    },
                ));
            }
        }
        let items: Vec<(RegionCode, &GridInput, Source)> = grid_inputs
            .iter()
            .chain(micro_inputs.iter())
            .map(|(c, i)| (*c, i, Source::Generated))
            .collect();
        progress.start(items.len() as u64);
        let range = district.range();
        let entry = Entry {
            target: Some(DISTRICT.to_string()),
            region_key: Some(district.key()),
            after: Some(
                serde_json::json!({"grids": grid_inputs.len(), "micro_grids": micro_inputs.len()}),
            ),
            ..Entry::new("demo.build")
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            // Replace the generated grids; grids made by people are kept, and their numbers
            // are not reused.
            sqlx::query("DELETE FROM regions WHERE key >= $1 AND key < $2 AND level >= $3 AND source = 'generated'")
                .bind(range.start)
                .bind(range.end)
                .bind(level_number(Level::Grid))
                .execute(&mut *tx)
                .await?;
            let taken: Vec<i64> = sqlx::query_scalar::<_, i64>(
                "SELECT key FROM regions WHERE key >= $1 AND key < $2 AND level >= $3",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(level_number(Level::Grid))
            .fetch_all(&mut *tx)
            .await?;
            let taken: std::collections::HashSet<i64> = taken.into_iter().collect();
            let free: Vec<(RegionCode, &GridInput, Source)> =
                items.iter().filter(|i| !taken.contains(&i.0.key())).copied().collect();
            for chunk in free.chunks(2_000) {
                insert_grids!(tx, chunk);
                progress.advance(chunk.len() as u64);
            }
            // Grids kept from an earlier build count as done.
            progress.advance((items.len() - free.len()) as u64);
            write_entry!(&mut *tx, &actor, &entry)?;
            tx.commit().await?;
            self.forget_boundaries();
        });
        let boundary = district_boundary()?;
        self.set_layer(
            &actor,
            district,
            LayerKind::Boundary,
            &boundary.to_geojson().to_string(),
            boundary.bbox(),
            BOUNDARY_ATTRIBUTION,
        )
        .await?;
        let mut road_count = 0;
        if let Some(lines) = roads {
            if let Some(bbox) = crate::maps::lines_bbox(lines) {
                road_count = lines.len();
                self.set_layer(
                    &actor,
                    district,
                    LayerKind::Roads,
                    &crate::maps::encode_lines(lines),
                    bbox,
                    ROADS_ATTRIBUTION,
                )
                .await?;
            }
        }
        for a in &ACCOUNTS {
            let scope = Scope::parse(a.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match self.user_by_name(a.username).await? {
                Some(_) => self.set_password(&actor, a.username, password).await?,
                None => {
                    let new = NewUser {
                        username: a.username.to_string(),
                        display_name: a.display_name.to_string(),
                        password: password.to_string(),
                        role: a.role,
                        scope,
                    };
                    let user = self.create_user(&actor, new).await?;
                    if let Some(code) = a.department {
                        let department = self.department_id(code).await?;
                        self.set_user_department(&actor, user.id, department)
                            .await?;
                    }
                }
            }
        }
        let registry = if scale > 0.0 {
            let after = After {
                inner: progress,
                done: items.len() as u64,
            };
            self.build_demo_registry(scale, roads, &after).await?
        } else {
            RegistryDemoReport::default()
        };
        let events = self
            .build_demo_events(district, scale, &crate::divisions::Quiet)
            .await?;
        Ok(DemoReport {
            communities: communities.len(),
            grids: grid_inputs.len(),
            micro_grids: micro_inputs.len(),
            roads: road_count,
            scale,
            registry,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_exact_and_proportional() {
        let shares = apportion(1361, &[1.0; 203]);
        assert_eq!(shares.iter().sum::<usize>(), 1361);
        assert!(shares.iter().all(|&s| s == 6 || s == 7));
        let shares = apportion(10, &[1.0, 3.0]);
        assert_eq!(shares, vec![3, 7]);
        assert_eq!(
            apportion(3, &[1.0, 1.0, 1.0, 1.0]).iter().sum::<usize>(),
            4,
            "at least one each"
        );
    }

    #[test]
    fn community_names_lose_their_committee_suffix() {
        assert_eq!(short_name("清波门社区居委会"), "清波门社区");
        assert_eq!(short_name("金门县"), "金门县");
    }
}
