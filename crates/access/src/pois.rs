//! The facilities an OpenStreetMap file holds, by the health check's typology: nodes by
//! their position, ways (buildings, areas) by the mean of their nodes. Relations
//! (multipolygons) are counted but not placed.

use std::collections::HashMap;
use std::path::Path;

use linli_core::registry::{match_osm, FacilityType};
use osmpbf::{Element, ElementReader};

use crate::error::{AccessError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Poi {
    /// `node/123` or `way/456`, as OpenStreetMap names its elements.
    pub id: String,
    pub kind: String,
    pub lon: f64,
    pub lat: f64,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pois {
    pub pois: Vec<Poi>,
    /// Relations whose tags are a facility type's but which are not placed.
    pub relations_left_out: usize,
}

fn matched<'t, 'a>(
    types: &'t [FacilityType],
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<(&'t FacilityType, String)> {
    let tags: Vec<(&str, &str)> = tags.collect();
    let t = match_osm(types, &tags)?;
    let name = tags
        .iter()
        .find(|(k, _)| *k == "name:zh")
        .or_else(|| tags.iter().find(|(k, _)| *k == "name"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    Some((t, name))
}

pub fn read_pois(path: &Path, types: &[FacilityType]) -> Result<Pois> {
    let not_pbf = |e: osmpbf::Error| AccessError::NotPbf {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    crate::network::check_pbf_start(path)?;
    let mut out = Pois::default();
    let mut ways: Vec<(i64, String, String, Vec<i64>)> = Vec::new();
    ElementReader::from_path(path)
        .map_err(not_pbf)?
        .for_each(|element| match element {
            Element::Node(n) => {
                if let Some((t, name)) = matched(types, n.tags()) {
                    out.pois.push(Poi {
                        id: format!("node/{}", n.id()),
                        kind: t.code.clone(),
                        lon: n.lon(),
                        lat: n.lat(),
                        name,
                    });
                }
            }
            Element::DenseNode(n) => {
                if let Some((t, name)) = matched(types, n.tags()) {
                    out.pois.push(Poi {
                        id: format!("node/{}", n.id()),
                        kind: t.code.clone(),
                        lon: n.lon(),
                        lat: n.lat(),
                        name,
                    });
                }
            }
            Element::Way(w) => {
                if let Some((t, name)) = matched(types, w.tags()) {
                    ways.push((w.id(), t.code.clone(), name, w.refs().collect()));
                }
            }
            Element::Relation(r) => {
                if matched(types, r.tags()).is_some() {
                    out.relations_left_out += 1;
                }
            }
        })
        .map_err(not_pbf)?;

    if !ways.is_empty() {
        let mut wanted: HashMap<i64, Option<[f64; 2]>> = ways
            .iter()
            .flat_map(|w| w.3.iter().map(|&id| (id, None)))
            .collect();
        ElementReader::from_path(path)
            .map_err(not_pbf)?
            .for_each(|element| {
                let (id, p) = match element {
                    Element::Node(n) => (n.id(), [n.lon(), n.lat()]),
                    Element::DenseNode(n) => (n.id(), [n.lon(), n.lat()]),
                    _ => return,
                };
                if let Some(slot) = wanted.get_mut(&id) {
                    *slot = Some(p);
                }
            })
            .map_err(not_pbf)?;
        for (id, kind, name, mut refs) in ways {
            // A closed way repeats its first node at the end: count it once.
            if refs.len() > 1 && refs.first() == refs.last() {
                refs.pop();
            }
            let known: Vec<[f64; 2]> = refs
                .iter()
                .filter_map(|r| wanted.get(r).copied().flatten())
                .collect();
            if known.is_empty() {
                continue;
            }
            let n = known.len() as f64;
            out.pois.push(Poi {
                id: format!("way/{id}"),
                kind,
                lon: known.iter().map(|p| p[0]).sum::<f64>() / n,
                lat: known.iter().map(|p| p[1]).sum::<f64>() / n,
                name,
            });
        }
    }
    Ok(out)
}
