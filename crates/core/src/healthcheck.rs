//! The community health check (社区体检), as rules without I/O: the indicators, their
//! default weights and targets, the composite index, the ranking and the shortfall list.
//!
//! Practice 002: Hangzhou checked 1,260 communities against 8 categories and 20 key facility
//! types, ranked them by a composite index and put the bottom 10 % into a shortfall
//! programme (补短板). Here:
//!
//! - **coverage** per category: the mean, over the category's facility types, of the share
//!   of residents (each building weighted by its residents) within the type's walking radius;
//! - **floor area** of the community's facilities per resident, against a target;
//! - **staffing** as practice 002 reports it: community workers per 10,000 residents,
//!   licensed elderly-care staff per 10,000 residents 60 and over, infant-care places per
//!   1,000 residents, each against a target.
//!
//! Each indicator scores 0–100 (a share × 100; a ratio ÷ its target × 100, capped at 100).
//! The index is the weighted mean of the scores of the indicators that have data; an
//! indicator without data (a staffing figure nobody entered) is left out and the weights of
//! the others carry the index, so a missing figure neither sinks nor lifts a community.

use crate::registry::{Category, FacilityType};

/// One indicator's weight in the index and, for a ratio, its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub indicator: String,
    pub weight: f64,
    /// The value that scores 100 (ratios only).
    pub target: Option<f64>,
}

/// The ratio indicators, with their default targets and where those come from.
pub const RATIOS: &[(&str, f64)] = &[
    // 《完整居住社区建设标准（试行）》: a community service station of about 800 m², with
    // elderly, health, childcare and culture rooms, serves 5,000–12,000 residents: about
    // 0.2 m² per resident in all.
    ("floor_area_per_resident", 0.2),
    // The national guidance of 18 community workers per 10,000 urban residents;
    // 上城区 reports 22.4 (practice 002).
    ("community_workers_per_10k", 18.0),
    // Practice 002: licensed elderly-care staff, 22.4 per 10,000 elderly in 上城区.
    ("elderly_care_staff_per_10k_elderly", 22.4),
    // The national target of 4.5 infant-care places per 1,000 residents (2025);
    // 上城区 reports 3.15.
    ("infant_care_places_per_1k", 4.5),
];

/// The staffing figures a community worker enters (they are not in the registry).
pub const FIGURES: &[&str] = &[
    "community_workers",
    "elderly_care_staff",
    "infant_care_places",
];

/// The share of a type's residents within reach below which the type is a weak point.
pub const PASS_SHARE: f64 = 0.8;

/// The share of communities, from the bottom of the ranking, put on the shortfall list.
pub const SHORTFALL_SHARE: f64 = 0.1;

/// The indicator code of a category's coverage.
pub fn coverage_code(c: Category) -> String {
    format!("coverage.{}", c.as_str())
}

/// The default weights: each category's coverage 1, floor area 1, each staffing ratio 1.
pub fn default_weights() -> Vec<Weight> {
    let mut w: Vec<Weight> = Category::ALL
        .iter()
        .map(|c| Weight {
            indicator: coverage_code(*c),
            weight: 1.0,
            target: None,
        })
        .collect();
    w.extend(RATIOS.iter().map(|(code, target)| Weight {
        indicator: (*code).to_string(),
        weight: 1.0,
        target: Some(*target),
    }));
    w
}

/// What is known about one community before scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityInput {
    pub community_key: i64,
    pub residents: u64,
    pub elderly: u64,
    /// Residents of buildings placed on the walking network (the rest have no road near).
    pub placed_residents: u64,
    /// Per facility type (code), the residents within its radius.
    pub covered: Vec<(String, u64)>,
    pub floor_area_m2: f64,
    pub community_workers: Option<f64>,
    pub elderly_care_staff: Option<f64>,
    pub infant_care_places: Option<f64>,
}

/// One indicator of one community.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub code: String,
    /// The share (0–1) or ratio; `None` without data.
    pub value: Option<f64>,
    /// 0–100; `None` without data.
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub community_key: i64,
    /// Whether enough of it lies on the walking network to be assessed (half of its
    /// residents); a community that is not has no index, rank or flag.
    pub assessed: bool,
    /// Per facility type: the share of residents within reach (0–1).
    pub coverage: Vec<(String, f64)>,
    pub indicators: Vec<Indicator>,
    pub index: Option<f64>,
    /// 1 is the best, among the assessed.
    pub rank: Option<u32>,
    /// On the shortfall list (the bottom 10 % of the assessed).
    pub flagged: bool,
    /// The types below [`PASS_SHARE`], weakest first.
    pub weak_types: Vec<String>,
}

/// The share of its residents a community must have on the network to be assessed.
pub const PLACED_SHARE: f64 = 0.5;

fn ratio(numerator: Option<f64>, denominator: u64, per: f64) -> Option<f64> {
    let n = numerator?;
    (denominator > 0).then(|| n / denominator as f64 * per)
}

/// Scores, ranks and flags the communities of one run.
pub fn score(inputs: &[CommunityInput], types: &[FacilityType], weights: &[Weight]) -> Vec<Scored> {
    let mut out: Vec<Scored> = inputs
        .iter()
        .map(|c| score_one(c, types, weights))
        .collect();
    let mut order: Vec<usize> = (0..out.len()).filter(|&i| out[i].index.is_some()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (out[a].index.unwrap_or(0.0), out[b].index.unwrap_or(0.0));
        y.total_cmp(&x)
            .then(out[a].community_key.cmp(&out[b].community_key))
    });
    let flagged = (order.len() as f64 * SHORTFALL_SHARE).ceil() as usize;
    let n = order.len();
    for (rank, &i) in order.iter().enumerate() {
        out[i].rank = Some(rank as u32 + 1);
        out[i].flagged = rank >= n - flagged;
    }
    out
}

fn score_one(c: &CommunityInput, types: &[FacilityType], weights: &[Weight]) -> Scored {
    let assessed =
        c.residents > 0 && c.placed_residents as f64 >= PLACED_SHARE * c.residents as f64;
    let coverage: Vec<(String, f64)> = types
        .iter()
        .map(|t| {
            let covered = c
                .covered
                .iter()
                .find(|(code, _)| *code == t.code)
                .map_or(0, |x| x.1);
            let share = if c.residents > 0 {
                covered as f64 / c.residents as f64
            } else {
                0.0
            };
            (t.code.clone(), share)
        })
        .collect();
    let mut indicators = Vec::new();
    for cat in Category::ALL {
        let shares: Vec<f64> = types
            .iter()
            .zip(&coverage)
            .filter(|(t, _)| t.category == cat)
            .map(|(_, (_, s))| *s)
            .collect();
        let value = (assessed && !shares.is_empty())
            .then(|| shares.iter().sum::<f64>() / shares.len() as f64);
        indicators.push(Indicator {
            code: coverage_code(cat),
            value,
            score: value.map(|v| v * 100.0),
        });
    }
    let values = [
        (c.residents > 0).then(|| c.floor_area_m2 / c.residents as f64),
        ratio(c.community_workers, c.residents, 10_000.0),
        ratio(c.elderly_care_staff, c.elderly, 10_000.0),
        ratio(c.infant_care_places, c.residents, 1_000.0),
    ];
    for ((code, default_target), value) in RATIOS.iter().zip(values) {
        let target = weights
            .iter()
            .find(|w| w.indicator == *code)
            .and_then(|w| w.target)
            .unwrap_or(*default_target);
        indicators.push(Indicator {
            code: (*code).to_string(),
            value,
            score: value.map(|v| {
                if target > 0.0 {
                    (v / target).min(1.0) * 100.0
                } else {
                    100.0
                }
            }),
        });
    }
    let (mut sum, mut total) = (0.0, 0.0);
    for i in &indicators {
        let w = weights
            .iter()
            .find(|w| w.indicator == i.code)
            .map_or(0.0, |w| w.weight);
        if let Some(s) = i.score {
            sum += w * s;
            total += w;
        }
    }
    let index = (assessed && total > 0.0).then(|| sum / total);
    let mut weak: Vec<(String, f64)> = if assessed {
        coverage
            .iter()
            .filter(|(_, s)| *s < PASS_SHARE)
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    weak.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    Scored {
        community_key: c.community_key,
        assessed,
        coverage,
        indicators,
        index,
        rank: None,
        flagged: false,
        weak_types: weak.into_iter().map(|(t, _)| t).collect(),
    }
}

/// The median of each indicator over the assessed communities that have it, by code.
pub fn medians(scored: &[Scored]) -> Vec<(String, Option<f64>)> {
    let Some(first) = scored.first() else {
        return Vec::new();
    };
    first
        .indicators
        .iter()
        .enumerate()
        .map(|(i, ind)| {
            let mut v: Vec<f64> = scored
                .iter()
                .filter(|s| s.assessed)
                .filter_map(|s| s.indicators.get(i).and_then(|x| x.value))
                .collect();
            v.sort_by(f64::total_cmp);
            let m = match v.len() {
                0 => None,
                n if n % 2 == 1 => Some(v[n / 2]),
                n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
            };
            (ind.code.clone(), m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtin_types;

    fn community(key: i64, covered_share: f64, workers: Option<f64>) -> CommunityInput {
        let residents = 10_000;
        CommunityInput {
            community_key: key,
            residents,
            elderly: 2_500,
            placed_residents: residents,
            covered: builtin_types()
                .iter()
                .map(|t| (t.code.clone(), (covered_share * residents as f64) as u64))
                .collect(),
            floor_area_m2: 1_000.0,
            community_workers: workers,
            elderly_care_staff: Some(5.6),
            infant_care_places: Some(45.0),
        }
    }

    #[test]
    fn index_rank_and_shortfall() {
        let types = builtin_types();
        let weights = default_weights();
        let inputs: Vec<CommunityInput> = (0..20)
            .map(|i| community(i, 0.05 * i as f64, Some(18.0)))
            .collect();
        let s = score(&inputs, types, &weights);
        // Community 19: coverage 0.95 in every category (8 × 95), floor area 0.1 m² of 0.2
        // (50), 18 workers per 10,000 (100), 22.4 staff per 10,000 elderly (100), 4.5
        // places per 1,000 (100): (760 + 350) / 12.
        let top = &s[19];
        assert_eq!(top.rank, Some(1));
        assert!(
            (top.index.unwrap_or(0.0) - 1110.0 / 12.0).abs() < 1e-9,
            "{:?}",
            top.index
        );
        // The bottom 10 % of 20: two communities, 0 and 1.
        let flagged: Vec<i64> = s
            .iter()
            .filter(|x| x.flagged)
            .map(|x| x.community_key)
            .collect();
        assert_eq!(flagged, vec![0, 1]);
        assert_eq!(s[0].rank, Some(20));
        assert_eq!(
            s[0].weak_types.len(),
            types.len(),
            "nothing reached: every type is weak"
        );
        assert!(top.weak_types.is_empty());
        let m = medians(&s);
        let governance = m
            .iter()
            .find(|(c, _)| c == "coverage.governance")
            .and_then(|x| x.1);
        assert!(
            (governance.unwrap_or(0.0) - 0.475).abs() < 1e-9,
            "{governance:?}"
        );
    }

    #[test]
    fn a_missing_figure_is_left_out_not_zero() {
        let types = builtin_types();
        let weights = default_weights();
        let with = score(&[community(1, 0.5, Some(18.0))], types, &weights);
        let without = score(&[community(1, 0.5, None)], types, &weights);
        let w = without[0]
            .indicators
            .iter()
            .find(|i| i.code == "community_workers_per_10k");
        assert_eq!(w.and_then(|i| i.score), None);
        // With: (8 × 50 + 50 + 3 × 100) / 12; without: (8 × 50 + 50 + 2 × 100) / 11.
        assert!((with[0].index.unwrap_or(0.0) - 750.0 / 12.0).abs() < 1e-9);
        assert!((without[0].index.unwrap_or(0.0) - 650.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn a_community_off_the_network_is_not_ranked() {
        let mut c = community(1, 0.9, Some(18.0));
        c.placed_residents = 4_000;
        let s = score(
            &[c, community(2, 0.1, Some(18.0))],
            builtin_types(),
            &default_weights(),
        );
        assert!(!s[0].assessed && s[0].index.is_none() && s[0].rank.is_none() && !s[0].flagged);
        assert_eq!(s[1].rank, Some(1));
        assert!(
            s[1].flagged,
            "the one assessed community is its own bottom 10 %"
        );
    }
}
